"""Hostile but ordinary input, through the `odfm` command as a user runs it.

Each case ends in a non-zero exit with one line on stderr (no traceback) naming the file, line or setting at fault,
or in the correct result. Data: the tests' tiny synthetic benchmark (10 identities, 32 px), one epoch per phase,
no worker processes. Every dataset root the suite hands to a command is snapshotted: nothing is written inside it.
The full table of settings goes through `odfm.cli.main` in this process (a process per setting would cost seconds
each for imports alone); the cases the issue names run as separate processes."""
import json, os, shutil, signal, subprocess, sys, time
from pathlib import Path
import pandas as pd, pytest
from PIL import Image
from odfm.synth import tiny_veri, tiny_vehicleid

tiny = ['--size', '32', '--bs', '8', '--epochs1', '1', '--epochs3', '1', '--d', '16', '--stride', '16', '--num-workers', '0']

def odfm(*args, timeout=300, **kw):
    "`python -m odfm.cli ARGS`, as a user runs it"
    return subprocess.run([sys.executable, '-m', 'odfm.cli', *map(str, args)], capture_output=True, text=True, timeout=timeout, **kw)

def refused(res, *words):
    "Check `res` failed with one line on stderr, no traceback, holding each of `words`; that line"
    err = res.stderr.strip()
    assert res.returncode != 0, f"expected a refusal, got exit 0:\n{res.stdout[-2000:]}"
    assert 'Traceback' not in err and len(err.splitlines()) == 1, err[-3000:]
    for w in map(str, words): assert w in err, f"{w!r} not in {err!r}"
    return err

def snapshot(root): return sorted((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in Path(root).rglob('*'))

@pytest.fixture(scope='module')
def data(tmp_path_factory):
    "A folder holding the tiny VeRi-776 and VehicleID roots; copy them before breaking them"
    d = tmp_path_factory.mktemp('faults')
    tiny_veri(d/'veri'); tiny_vehicleid(d/'vid')
    return d

def copy(src, dst): return Path(shutil.copytree(src, dst, symlinks=True))

def train_names(root): return (root/'name_train.txt').read_text().split()

# ---- bad images

@pytest.fixture(scope='module')
def broken(data):
    "A VeRi-776 root with a truncated JPEG (train line 3), a zero-byte one (train line 7) and a text file (gallery line 2)"
    root = copy(data/'veri', data/'broken')
    tr, te = train_names(root), (root/'name_test.txt').read_text().split()
    jpg = (root/'image_train'/tr[2]).read_bytes(); (root/'image_train'/tr[2]).write_bytes(jpg[:len(jpg)//2])
    (root/'image_train'/tr[6]).write_bytes(b'')
    (root/'image_test'/te[1]).write_text('this is not an image\n')
    return root

def test_verify_names_every_bad_image_with_list_and_line(broken):
    before = snapshot(broken)
    res = odfm('dataset', broken, '--verify')
    tr = train_names(broken)
    refused(res, '3 of 56 VeRi-776 images cannot be read', f"{broken/'name_train.txt'} line 3: image {broken/'image_train'/tr[2]} is truncated",
            f"{broken/'name_train.txt'} line 7: image {broken/'image_train'/tr[6]} is empty (0 bytes)",
            f"{broken/'name_test.txt'} line 2: image", 'is not an image')
    assert 'unreadable images:' in res.stdout
    assert snapshot(broken) == before

def test_run_stops_before_phase1_naming_the_bad_images(broken, tmp_path):
    refused(odfm('run', '--root', broken, '--run-dir', tmp_path/'run', *tiny), '3 of 56 images cannot be read', 'name_train.txt line 3',
            'is truncated', '--skip-bad-images')
    assert not list((tmp_path/'run').glob('phase1-*')), 'training started'

def test_skip_bad_images_runs_to_the_end_and_lists_them(broken, tmp_path):
    "VeRi-776 layout end to end, the bad images left out and recorded in the run folder"
    before = snapshot(broken)
    res = odfm('run', '--root', broken, '--run-dir', tmp_path/'run', *tiny, '--skip-bad-images')
    assert res.returncode == 0, res.stderr[-3000:]
    skipped = pd.read_csv(tmp_path/'run'/'skipped_images.csv')
    assert skipped[['split', 'line']].values.tolist() == [['train', 3], ['train', 7], ['gallery', 2]]
    assert '3 unreadable images left out' in res.stderr
    metrics = json.loads(next((tmp_path/'run').glob('phase3-*/metrics.json')).read_text())
    assert set(metrics['metrics']['odfm']) == {'query', 'query_occluded', 'query_clean'}
    assert next((tmp_path/'run').glob('phase3-*/figures/cmc.png')).exists()
    assert snapshot(broken) == before

def test_a_bad_image_at_load_time_is_named_from_a_worker_process(broken):
    "The data loader itself names the file, in a worker process too (one line, not the worker's traceback)"
    from odfm.datasets import load_dataset, UnreadableImage
    from odfm.data import reid_dls
    ds = load_dataset(broken)
    bad = str(broken/'image_train'/train_names(broken)[2])
    with pytest.raises(UnreadableImage) as e: [b for b in reid_dls(ds.train, size=32, bs=4, num_workers=2).train]
    assert str(e.value) in (f"image {bad} is truncated", f"image {broken/'image_train'/train_names(broken)[6]} is empty (0 bytes)")

# ---- lists and CSVs

def test_csv_ids_must_be_whole_numbers(data, tmp_path):
    "`abc` as a process; `3.5` and an empty cell through the console script's entry point, in this process"
    from odfm.cli import main
    imgs = sorted((data/'veri'/'image_train').iterdir())[:4]
    for vid in ('abc', '3.5', ''):
        csv = tmp_path/f'recs{len(vid)}.csv'
        csv.write_text('path,vid,split\n' + ''.join(f'{p},{7 if i != 2 else vid},train\n' for i, p in enumerate(imgs)))
        words = f"{csv} line 4: vid {vid!r} is not a whole number"
        if vid == 'abc': refused(odfm('dataset', csv), words); continue
        with pytest.raises(SystemExit) as e: main(['dataset', str(csv)])
        assert words in str(e.value.code) and '\n' not in str(e.value.code)

def test_repeated_list_lines_are_read_once_with_a_warning(data, tmp_path):
    root = copy(data/'veri', tmp_path/'veri')
    names = train_names(root)
    (root/'name_train.txt').write_text('\r\n'.join(names + names[:2]) + '\r\n', newline='')
    res = odfm('dataset', root)
    assert res.returncode == 0, res.stderr
    assert f"{root/'name_train.txt'}: 2 repeated lines read once (line 37 repeats line 1)" in res.stderr
    assert res.stdout.splitlines()[2].split() == ['train', '36', '6', '3']

def test_csv_repeated_rows_warn_and_an_image_with_two_ids_is_refused(data, tmp_path):
    imgs = sorted((data/'veri'/'image_train').iterdir())[:3]
    rows = [f'{p},{7 + i},train\n' for i, p in enumerate(imgs)]
    (tmp_path/'rep.csv').write_text('path,vid,split\n' + ''.join(rows + rows[:1]))
    res = odfm('dataset', tmp_path/'rep.csv')
    assert res.returncode == 0 and "rep.csv: 1 repeated line read once (line 5 repeats line 2)" in res.stderr
    assert res.stdout.splitlines()[2].split() == ['train', '3', '3', '0']
    (tmp_path/'two.csv').write_text('path,vid\n' + ''.join(f'{p},{7 + i}\n' for i, p in enumerate(imgs)) + f'{imgs[0]},9\n')
    refused(odfm('dataset', tmp_path/'two.csv'), f"two.csv line 5: {imgs[0]} was already listed on line 2 differently")

def test_vehicleid_image_listed_with_two_ids_is_refused(data, tmp_path):
    root = copy(data/'vid', tmp_path/'vid')
    lst = root/'train_test_split'/'train_list.txt'
    first = lst.read_text().splitlines()[0].split()
    lst.write_text(lst.read_text() + f'{first[0]} {int(first[1]) + 1000}\n')
    refused(odfm('dataset', root), f"{lst} line 25: {first[0]} was already listed on line 1 differently")

# ---- files that are not files

def test_fifo_is_rejected_never_opened(data, tmp_path):
    root = copy(data/'veri', tmp_path/'veri')
    name = (root/'name_test.txt').read_text().split()[3]
    (root/'image_test'/name).unlink(); os.mkfifo(root/'image_test'/name)
    res = odfm('dataset', root, '--verify', timeout=120)  # opening the FIFO would hang: the timeout fails the test
    refused(res, f"{root/'name_test.txt'} line 4: image {root/'image_test'/name} is a FIFO (named pipe), not an image file")

def test_folder_named_jpg_in_an_identity_folder_is_rejected(tmp_path):
    for k in range(4):
        for j in range(3): (tmp_path/'own'/f'{k:04d}').mkdir(parents=True, exist_ok=True); Image.new('RGB', (8, 8)).save(tmp_path/'own'/f'{k:04d}'/f'{j}.jpg')
    (tmp_path/'own'/'0002'/'x.jpg').mkdir()
    refused(odfm('dataset', tmp_path/'own'), f"{tmp_path/'own'/'0002'/'x.jpg'} is a folder, not an image file")

# ---- outputs inside the dataset root

def test_run_dir_inside_the_dataset_root_is_refused(data):
    root, before = data/'veri', snapshot(data/'veri')
    refused(odfm('run', '--root', root, '--run-dir', root/'runs', *tiny), f"--run-dir {root/'runs'} lies inside the dataset root")
    assert snapshot(root) == before

def test_evaluate_out_inside_the_dataset_root_is_refused(data, tmp_path):
    from odfm.model import ReidNet, save_model
    ck = save_model(ReidNet(6, arch='resnet18', attention='none', verbose=False), tmp_path/'m.pth')
    root, before = data/'veri', snapshot(data/'veri')
    refused(odfm('evaluate', ck, root, '--size', '32', '--out', root/'metrics.json'), f"--out {root/'metrics.json'} lies inside the dataset root")
    assert snapshot(root) == before

# ---- settings

issue_settings = [(['--step', '0'], '--step must be a whole number >= 1, got 0'), (['--k', '-1'], '--k must be a whole number >= 1, got -1'),
                  (['--dropout', '1.5'], '--dropout must be a number in [0, 1), got 1.5'), (['--holdout', '-1'], '--holdout must be a whole number >= 0, got -1')]

@pytest.mark.parametrize('args,words', issue_settings[:2])
def test_bad_setting_refused_before_any_folder(data, tmp_path, args, words):
    refused(odfm('run', '--root', data/'veri', '--run-dir', tmp_path/'run', *tiny, *args), words)
    assert not (tmp_path/'run').exists()

every_setting = issue_settings + [
    (['--size', '16'], '--size must be a whole number >= 32'), (['--bs', '1'], '--bs must be a whole number >= 2'),
    (['--lr-body', '0'], '--lr-body must be a number > 0'), (['--lr-head', 'nan'], '--lr-head must be a number > 0'),
    (['--epochs1', '0'], '--epochs1 must be'), (['--epochs3', '-2'], '--epochs3 must be'),
    (['--d', '40'], '--d must be at most --size (32)'), (['--stride', '0'], '--stride must be a whole number >= 1'),
    (['--stride', '33'], '--stride must be at most --size (32)'), (['--num-workers', '-1'], '--num-workers must be'),
    (['--seed', '-1'], '--seed must be a whole number in [0, 2**32)'), (['--arch', 'vgg16'], '--arch must be one of resnet18'),
    (['--attention', 'everywhere'], '--attention must be one of block, stage, none'), (['--sampling', 'random'], '--sampling must be one of'),
    (['--phase3-init', 'phase2'], '--phase3-init must be one of phase1, scratch'), (['--weights', 'no/such.pth'], '--weights must be'),
    (['--vehicleid-size', '0'], '--vehicleid-size must be'), (['--synth-ids', '2'], '--synth-ids must be a whole number >= 3'),
    (['--bs', '64'], '--bs 64 is more than the 30 training images')]

@pytest.mark.parametrize('cmd', ['run', 'train', 'mine'])
def test_every_setting_is_checked_before_any_folder(data, tmp_path, cmd):
    "Through the console script's own entry point, in this process: each bad value ends in one line naming it"
    from odfm.cli import main
    for args, words in every_setting:
        with pytest.raises(SystemExit) as e: main([cmd, '--root', str(data/'veri'), '--run-dir', str(tmp_path/'run'), *tiny, *args])
        msg = str(e.value.code)
        assert msg.startswith(f'odfm {cmd}: error: ') and words in msg and '\n' not in msg, (args, msg)
        assert not (tmp_path/'run').exists(), args

def test_one_identity_dataset_refused_before_training(tmp_path):
    for j in range(6): (tmp_path/'one'/'0001').mkdir(parents=True, exist_ok=True); Image.new('RGB', (32, 32), (9*j, 80, 200)).save(tmp_path/'one'/'0001'/f'{j}.jpg')
    refused(odfm('run', '--root', tmp_path/'one', '--run-dir', tmp_path/'run', *tiny), 'has 1 training identity: training a classifier needs at least 2')
    assert not (tmp_path/'run').exists()

# ---- one process per run folder

def test_second_process_on_a_run_folder_is_refused_naming_the_holder(data, tmp_path):
    "Another process holds the run folder: `odfm run` on it stops at once naming it; once that holder is killed, the folder is free"
    run = tmp_path/'run'
    hold = f"import time\nfrom odfm.core import RunLock\nwith RunLock({str(run)!r}):\n    print('held', flush=True); time.sleep(300)"
    holder = subprocess.Popen([sys.executable, '-c', hold, 'holder-of-the-folder'], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'held'
        refused(odfm('run', '--root', data/'veri', '--run-dir', run, *tiny), f"{run} is in use by pid {holder.pid}", 'holder-of-the-folder')
        assert not list(run.glob('phase1-*'))
    finally:
        holder.send_signal(signal.SIGKILL); holder.wait()
    from odfm.core import RunLock
    with RunLock(run): pass  # a lock left by a killed process never blocks

# ---- the VehicleID layout end to end

def test_run_on_a_vehicleid_root_saves_metrics_and_figures(data, tmp_path):
    before = snapshot(data/'vid')
    res = odfm('run', '--root', data/'vid', '--run-dir', tmp_path/'run', *tiny)
    assert res.returncode == 0, res.stderr[-3000:]
    metrics = json.loads(next((tmp_path/'run').glob('phase3-*/metrics.json')).read_text())
    assert set(metrics['metrics']) == {'phase1', 'odfm'} and metrics['metrics']['odfm']['vehicleid']['n_draws'] == 10
    assert next((tmp_path/'run').glob('phase3-*/figures/cmc.png')).exists()
    assert 'vehicleid' in res.stdout and 'metrics:' in res.stdout
    assert snapshot(data/'vid') == before
