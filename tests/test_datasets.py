"Package-level checks of dataset roots and loaders, through the installed `odfm` API: bad roots, relative roots, read-only."
import os, pytest
from pathlib import Path
from PIL import Image
from odfm.datasets import add_labels
from odfm.loading import load_dataset
from odfm.image_checks import dataset_cli
from odfm.data import reid_dls, test_dl

def _folder_root(root, n_ids=4, per_id=3):
    "A folder-per-identity root of small JPEGs"
    for k in range(n_ids):
        for j in range(per_id):
            p = root/f'{k:04d}'/f'{j}.jpg'
            p.parent.mkdir(parents=True, exist_ok=True)
            Image.new('RGB', (20, 20), (40*k, 100, 200)).save(p)
    return root

def _snapshot(root): return sorted((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in root.rglob('*'))

def test_missing_root_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match='does not exist'): load_dataset(tmp_path/'nowhere')

def test_unknown_layout_prints_expected_trees(tmp_path):
    (tmp_path/'notes.txt').write_text('hello')
    with pytest.raises(FileNotFoundError) as e: load_dataset(tmp_path)
    assert 'name_train.txt' in str(e.value) and 'train_test_split' in str(e.value) and 'Expected one of these layouts' in str(e.value)

def test_relative_root_gives_absolute_paths_and_writes_nothing(tmp_path, monkeypatch):
    root = _folder_root(tmp_path/'mine')
    before = _snapshot(root)
    monkeypatch.chdir(tmp_path)
    ds = load_dataset('mine', test_frac=0.5)
    assert all(Path(p).is_absolute() for p in ds.train.path)
    assert len(ds.train) == 6 and len(ds.gallery) == 2 and len(ds.query) == 4
    dataset_cli('mine', verify=True)
    assert _snapshot(root) == before

def test_loaders_end_to_end(tmp_path):
    ds = load_dataset(_folder_root(tmp_path), test_frac=0.5)
    xb, yb = reid_dls(add_labels(ds.train), size=(16, 8), bs=4, num_workers=0).one_batch()
    assert tuple(xb.shape) == (4, 3, 16, 8) and yb.max() < 2
    ys = [int(y) for _, yb in test_dl(ds.query, 16, bs=3, num_workers=0) for y in yb]
    assert ys == ds.query.vid.tolist()

def test_synthetic_veri_root_reads_as_veri776(tmp_path):
    "The generator's VeRi-776 layout through the real reader: counts, ids, cameras, query ids within the gallery's."
    import pandas as pd
    from odfm.synth_layouts import make_veri
    from odfm.datasets import VeRi776
    root = make_veri(tmp_path/'veri', n_ids=10, train_per_id=4, gallery_per_id=3, query_per_id=2, size=32, n_cams=4)
    before = _snapshot(root)
    ds = load_dataset(root)
    assert isinstance(ds, VeRi776)
    meta = pd.read_csv(root/'odfm_meta'/'images.csv')
    for split in ('train', 'query', 'gallery'):
        df, m = getattr(ds, split), meta[meta.split == split]
        assert len(df) == len(m) and sorted(df.vid.unique()) == sorted(m.vid.unique())
        assert sorted(df.camid.unique()) == sorted(m.cam.unique())
    assert set(ds.query.vid) <= set(ds.gallery.vid) and not set(ds.train.vid) & set(ds.gallery.vid)
    assert _snapshot(root) == before

def test_synthetic_vehicleid_root_one_gallery_image_per_id(tmp_path):
    from odfm.synth_layouts import make_vehicleid
    root = make_vehicleid(tmp_path/'vid', n_ids=10, images_per_id=4, size=32)
    a, b = load_dataset(root, seed=1), load_dataset(root, seed=1)
    assert (a.gallery.vid.value_counts() == 1).all() and set(a.gallery.vid) == set(a.query.vid)
    assert a.gallery.path.tolist() == b.gallery.path.tolist()  # reproducible by seed
    assert (a.query.camid == -1).all()

def test_bad_images_of_a_vehicleid_root_name_their_list_lines(tmp_path):
    "VehicleID lists name images without their extension: a bad one is still traced to its line"
    from odfm.synth_layouts import tiny_vehicleid
    from odfm.loading import check_trainable
    root = tiny_vehicleid(tmp_path/'vid')
    lst = root/'train_test_split'/'train_list.txt'
    name = lst.read_text().splitlines()[4].split()[0]
    (root/'image'/f'{name}.jpg').write_bytes(b'not a jpeg')
    ds = check_trainable(load_dataset(root))
    bad = ds.bad_images(progress=False)
    assert bad[['split', 'line', 'problem']].values.tolist() == [['train', 5, 'is not an image (no known image format)']]
    assert bad.list_file[0] == str(lst)

def test_csv_errors_count_lines_as_an_editor_does(tmp_path):
    "Blank lines count: the error names the line an editor shows"
    root = _folder_root(tmp_path/'imgs', n_ids=2, per_id=2)
    (tmp_path/'r.csv').write_text(f'path,vid\n\n{root}/0000/0.jpg,1\n\n\n{root}/0000/1.jpg,x1\n')
    with pytest.raises(ValueError, match=r"r.csv line 6: vid 'x1' is not a whole number"): load_dataset(tmp_path/'r.csv')

def test_images_decode_as_they_display(tmp_path):
    "The loaders' decode (with JPEG draft): a phone photo stored sideways with an EXIF orientation equals its upright copy; a 16-bit grey PNG is not white"
    import numpy as np
    from odfm.data import decode_resized
    photo = Image.fromarray(np.kron(np.random.default_rng(0).integers(0, 255, (4, 6, 3), dtype=np.uint8), np.ones((40, 40, 1), np.uint8)))
    photo.save(tmp_path/'upright.jpg', quality=95)
    exif = Image.Exif(); exif[0x0112] = 6   # viewers turn it a quarter right
    photo.transpose(Image.Transpose.ROTATE_90).save(tmp_path/'phone.jpg', quality=95, exif=exif)
    a, b = (decode_resized(tmp_path/f'{n}.jpg', (32, 48)).float() for n in ('upright', 'phone'))
    assert a.shape == b.shape == (3, 32, 48) and (a - b).abs().mean() < 3
    ramp = np.linspace(0, 65535, 32 * 48).reshape(32, 48).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path/'grey16.png')
    g = decode_resized(tmp_path/'grey16.png', (32, 48))
    assert (g[0].numpy().astype(int) - (ramp >> 8)).__abs__().max() <= 1 and g.float().mean() < 160
