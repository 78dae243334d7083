"""A new user's first steps with a trained model, through the `odfm` command on the CPU: embed a flat folder of
their own JPEGs and a 100-identity synthetic gallery, search the gallery with the photos (a ranked CSV and a picture
per query), with exact and faiss search agreeing, cosine distance and re-ranking; then `odfm evaluate` with them."""
import os, shutil, subprocess, sys
from pathlib import Path
import numpy as np, pandas as pd, torch
import pytest
from odfm.synth_layouts import make_veri
from odfm.model import ReidNet
from odfm.checkpoint import save_model
from odfm.export import load_features
from odfm.search import has_faiss, search
from odfm.evaluate import pairwise_dist
from odfm.cli import main


def odfm(*args, cwd=None):
    "Run `python -m odfm.cli ARGS` on the CPU; the finished process"
    return subprocess.run([sys.executable, '-m', 'odfm.cli', *map(str, args), '--device', 'cpu'], capture_output=True, text=True, cwd=cwd)

def ok(res):
    assert res.returncode == 0, res.stderr[-2000:]
    assert 'Traceback' not in res.stderr and 'Warning' not in res.stderr, res.stderr[-2000:]
    return res

def refused(argv, *words, capsys=None):
    "The in-process entry point ends `argv` with one line holding `words`"
    with pytest.raises(SystemExit) as e: main(argv)
    msg = str(e.value.code)
    assert '\n' not in msg and all(w in msg for w in words), msg


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    "A 100-identity synthetic VeRi-776 root (32 px), a flat folder of 25 JPEGs, a random resnet18 checkpoint"
    tmp = tmp_path_factory.mktemp('embed')
    root = make_veri(tmp/'veri', n_ids=250, train_per_id=1, gallery_per_id=2, query_per_id=1, size=32, n_cams=4)
    photos = tmp/'photos'; photos.mkdir()
    for i, p in enumerate(sorted((root/'image_query').glob('*.jpg'))[:25]): shutil.copy(p, photos/f'photo_{i:02d}.jpg')
    ck = save_model(ReidNet(150, arch='resnet18', verbose=False), tmp/'model.pth', size=32)
    return tmp, root, photos, ck


@pytest.fixture(scope='module')
def embedded(setup):
    "`odfm embed` of the photos and of the dataset root"
    tmp, root, photos, ck = setup
    ok(odfm('embed', ck, photos, '--out', tmp/'photos.npz'))
    res = ok(odfm('embed', ck, root, '--out', tmp/'gallery.npz'))
    assert 'embedded 300 images' in res.stdout
    return tmp/'photos.npz', tmp/'gallery.npz'


def test_embed_writes_features_of_own_images_and_of_a_dataset_root(setup, embedded):
    tmp, root, photos, ck = setup
    f, g = (load_features(p) for p in embedded)
    assert f['features'].shape == (25, 512) and np.isfinite(f['features']).all()
    assert [Path(p).name for p in f['paths']] == [f'photo_{i:02d}.jpg' for i in range(25)]
    assert (f['vid'] == -1).all() and (f['camid'] == -1).all()  # own images: no identities
    assert sorted(set(g['split'])) == ['gallery', 'query']
    assert len(np.unique(g['vid'][g['split'] == 'gallery'])) == 100
    assert str(g['checkpoint']) == str(Path(ck).absolute())


def test_search_writes_a_ranked_csv_and_pictures(setup, embedded):
    tmp, root, photos, ck = setup
    ok(odfm('search', embedded[1], photos, '--top', '10', '--pictures', '5', '--out', tmp/'res'))  # query images, embedded with the gallery's model
    t = pd.read_csv(tmp/'res'/'ranked.csv')
    assert len(t) == 25 * 10 and list(t['rank'][:10]) == list(range(1, 11))
    assert (t.groupby('query').distance.diff().dropna() >= 0).all()
    gallery = set(str(p) for p in (root/'image_test').glob('*.jpg'))
    assert set(t.gallery_path) <= gallery  # the gallery rows of the dataset's features file only
    pics = sorted((tmp/'res'/'ranked').glob('*.png'))
    assert len(pics) == 5 and pics[0].name == '0000_photo_00.png' and pics[0].stat().st_size > 1000  # the first 5 queries'
    f, g = (load_features(p) for p in embedded)
    keep = g['split'] == 'gallery'
    d, i = search(f['features'], g['features'][keep], k=10)  # the same from the features files, in Python
    assert (t.gallery_path.to_numpy() == g['paths'][keep][i].ravel()).all()
    assert np.allclose(t.distance, d.ravel(), atol=1e-4)


@pytest.mark.skipif(not has_faiss(), reason="faiss is not installed: pip install -e '.[dev]' installs faiss-cpu")
def test_faiss_and_exact_search_agree(setup, embedded):
    "The same lists, up to the order of gallery images at equal distances (faiss rounds differently)"
    tmp = setup[0]
    ok(odfm('search', embedded[1], embedded[0], '--top', '20', '--metric', 'cosine', '--backend', 'faiss', '--pictures', '0', '--out', tmp/'faiss'))
    t = pd.read_csv(tmp/'faiss'/'ranked.csv')
    f, g = (load_features(p) for p in embedded)
    keep = g['split'] == 'gallery'
    qf, gf, paths = f['features'], g['features'][keep], g['paths'][keep]
    row = {p: j for j, p in enumerate(paths)}
    for metric, idx in [('cosine', np.array([row[p] for p in t.gallery_path]).reshape(25, 20)),
                        ('euclidean', search(qf, gf, k=20, backend='faiss')[1])]:
        d, i = search(qf, gf, k=20, metric=metric, backend='exact')
        full = pairwise_dist(qf, gf, metric).numpy()
        assert np.allclose(np.take_along_axis(full, idx, 1), d, rtol=0, atol=1e-6)  # faiss's picks sit at the exact ranked distances
        assert (idx == i).mean() > 0.95


def test_cosine_and_reranked_search(setup, embedded):
    tmp = setup[0]
    ok(odfm('search', embedded[1], embedded[1], '--top', '5', '--metric', 'cosine', '--rerank', '--pictures', '2', '--out', tmp/'rr'))
    t = pd.read_csv(tmp/'rr'/'ranked.csv')
    assert len(t) == 100 * 5 and t['match'].dtype == bool  # dataset queries: ids known, matches marked
    assert len(list((tmp/'rr'/'ranked').glob('*.png'))) == 2
    g = load_features(embedded[1])
    q, gal = g['split'] == 'query', g['split'] == 'gallery'
    _, i = search(g['features'][q], g['features'][gal], k=5, metric='cosine', rerank=True)
    assert (t.gallery_path.to_numpy() == g['paths'][gal][i].ravel()).all()
    _, plain = search(g['features'][q], g['features'][gal], k=5)
    assert not (i == plain).all()


def test_evaluate_with_cosine_distance_and_reranking_reports_minp(setup):
    tmp, root, photos, ck = setup
    res = ok(odfm('evaluate', ck, root, '--metric', 'cosine', '--rerank', '--out', tmp/'metrics.json'))
    assert 'mINP' in res.stdout and 'cosine distance, k-reciprocal re-ranking' in res.stdout
    assert 'query_occluded' in res.stdout


def test_mistakes_end_in_one_line(setup, embedded):
    tmp, root, photos, ck = setup
    refused(['search', str(embedded[1]), str(photos), '--out', str(photos/'out'), '--device', 'cpu'], f'lies inside the input folder {photos}')
    refused(['embed', str(ck), str(root), '--out', str(root/'f.npz'), '--device', 'cpu'], 'inside the dataset root')
    refused(['embed', str(ck), str(tmp/'no-such-folder'), '--device', 'cpu'], 'no such image, folder, CSV or dataset root')
    refused(['evaluate', str(ck), str(root), '--size', '64', '--device', 'cpu'], 'asks for 64x64 images', 'trained at 32x32')
    refused(['search', str(embedded[1]), str(embedded[0]), '--metric', 'l1', '--device', 'cpu'], 'metric must be one of')
    refused(['search', str(embedded[0]), str(photos), '--device', 'cpu', '--out', str(tmp/'x'), '--rerank', '--backend', 'faiss'], 're-ranking needs every')


# ---- outputs never replace inputs; features files; links; devices; names

def test_outputs_never_replace_inputs(setup, embedded):
    "Each command refuses, before any work, an --out that is one of its inputs, naming both; nothing is touched"
    tmp, root, photos, ck = setup
    (tmp/'list.csv').write_text('path\nphotos/photo_00.jpg\nphotos/photo_01.jpg\n')
    before = {p: Path(p).read_bytes() for p in (ck, photos/'photo_03.jpg', tmp/'list.csv', embedded[1])}
    refused(['embed', str(ck), str(photos/'photo_00.jpg'), '--out', str(ck), '--device', 'cpu'], f'--out {ck} is the checkpoint {ck}')
    refused(['embed', str(ck), str(photos/'*.jpg'), '--out', str(photos/'photo_03.jpg'), '--device', 'cpu'], f"is an input image {photos/'photo_03.jpg'}")
    refused(['embed', str(ck), str(tmp/'list.csv'), '--out', str(tmp/'list.csv'), '--device', 'cpu'], f"is the input CSV {tmp/'list.csv'}")
    refused(['evaluate', str(ck), str(root), '--out', str(ck), '--device', 'cpu'], f'--out {ck} is the checkpoint')
    refused(['search', str(embedded[1]), str(embedded[0]), '--out', str(embedded[1]), '--device', 'cpu'], f'--out {embedded[1]} is the gallery file')
    (tmp/'exp').mkdir(exist_ok=True); shutil.copy(ck, tmp/'exp'/'model.onnx')
    refused(['export', str(tmp/'exp'/'model.onnx'), str(root), str(tmp/'exp'), '--device', 'cpu'], f"out {tmp/'exp'/'model.onnx'} is the checkpoint")
    res = odfm('embed', ck, photos/'photo_00.jpg', '--out', ck)   # as a process: one line, non-zero exit
    assert res.returncode != 0 and res.stderr.strip().count('\n') == 0 and 'is the checkpoint' in res.stderr, res.stderr[-2000:]
    assert all(Path(p).read_bytes() == b for p, b in before.items())


def test_search_refuses_features_of_two_models(setup, embedded, tmp_path):
    tmp, root, photos, ck = setup
    other = save_model(ReidNet(150, arch='resnet18', verbose=False), tmp_path/'other.pth', size=32)
    ok(odfm('embed', other, photos, '--out', tmp_path/'other.npz'))
    refused(['search', str(embedded[1]), str(tmp_path/'other.npz'), '--out', str(tmp_path/'s'), '--device', 'cpu'],
            f"{tmp_path/'other.npz'} and {embedded[1]} were embedded by different models")
    assert not (tmp_path/'s').exists()


def test_links_and_loops_embed_each_file_once(setup, tmp_path):
    "photos/latest -> 2024 and a link loop: a folder, a ** glob and a * glob each give every file once, so no photo meets itself"
    tmp, root, photos, ck = setup
    (tmp_path/'p'/'2024').mkdir(parents=True)
    for i in range(6): shutil.copy(photos/f'photo_{i:02d}.jpg', tmp_path/'p'/'2024'/f'{i}.jpg')
    (tmp_path/'p'/'latest').symlink_to('2024'); (tmp_path/'p'/'2024'/'up').symlink_to('..')
    for spec in (tmp_path/'p', tmp_path/'p'/'**'/'*.jpg', tmp_path/'p'/'*'/'*.jpg'):
        main(['embed', str(ck), str(spec), '--out', str(tmp_path/'f.npz'), '--device', 'cpu'])
        f = load_features(tmp_path/'f.npz')
        assert len(f['paths']) == 6 and len({Path(p).resolve() for p in f['paths']}) == 6, (spec, f['paths'])
    main(['search', str(tmp_path/'f.npz'), str(tmp_path/'p'/'latest'), '--top', '2', '--pictures', '0', '--out', str(tmp_path/'s'), '--device', 'cpu'])
    t = pd.read_csv(tmp_path/'s'/'ranked.csv')
    assert (t[t['rank'] == 2].distance > 1e-2).all()   # the second nearest is another photo, never a second copy of itself


def test_hand_made_features_files_end_in_one_line(setup, embedded, tmp_path):
    f3, p2 = np.ones((3, 512), np.float32), np.array(['a.jpg', 'b.jpg'])
    for name, arrays, words in [('short', dict(features=f3, paths=p2), 'paths has shape (2,) for 3 feature rows'),
                                ('text', dict(features=np.array([['a', 'b']]), paths=p2[:1]), 'features must be numbers'),
                                ('ids', dict(features=f3[:2], paths=p2, vid=np.array(['x', 'y'])), 'vid must be whole numbers'),
                                ('empty', dict(features=np.zeros((0, 512), np.float32), paths=p2[:0]), 'holds no rows')]:
        np.savez(tmp_path/f'{name}.npz', **arrays)
        for g, q in ((embedded[1], tmp_path/f'{name}.npz'), (tmp_path/f'{name}.npz', embedded[1])):
            refused(['search', str(g), str(q), '--pictures', '2', '--out', str(tmp_path/'s'), '--device', 'cpu'], f'{name}.npz: {words}')


def test_device_and_long_query_names(setup, embedded, tmp_path):
    tmp, root, photos, ck = setup
    refused(['embed', str(ck), str(photos), '--out', str(tmp_path/'f.npz'), '--device', 'gpu'], "--device 'gpu' is not a device")
    if not torch.cuda.is_available():
        for cmd in (['embed', str(ck), str(photos), '--out', str(tmp_path/'f.npz')], ['evaluate', str(ck), str(root)],
                    ['export', str(ck), str(root), str(tmp_path/'x')], ['search', str(embedded[1]), str(photos), '--out', str(tmp_path/'s')]):
            refused(cmd + ['--device', 'cuda'], '--device cuda: this machine has no CUDA device')
    long = tmp_path/'q'/('q' * 243 + '.jpg'); long.parent.mkdir(); shutil.copy(photos/'photo_00.jpg', long)   # a 247-character name
    main(['search', str(embedded[1]), str(long.parent), '--top', '3', '--out', str(tmp_path/'s'), '--device', 'cpu'])
    pics = list((tmp_path/'s'/'ranked').glob('*.png'))
    assert len(pics) == 1 and pics[0].name == '0000_' + 'q' * 100 + '.png'


def test_non_utf8_file_names_are_named(setup, tmp_path):
    tmp, root, photos, ck = setup
    (tmp_path/'p').mkdir(); shutil.copy(photos/'photo_00.jpg', tmp_path/'p'/'ok.jpg')
    shutil.copy(photos/'photo_01.jpg', tmp_path/'p'/os.fsdecode(b'caf\xe9.jpg'))
    refused(['embed', str(ck), str(tmp_path/'p'), '--out', str(tmp_path/'f.npz'), '--device', 'cpu'], f"{tmp_path/'p'}/caf\\xe9.jpg: the name is not valid UTF-8")
    res = odfm('embed', ck, tmp_path/'p', '--out', tmp_path/'f.npz')
    assert res.returncode != 0 and 'caf\\xe9.jpg' in res.stderr and 'Traceback' not in res.stderr, res.stderr[-2000:]
