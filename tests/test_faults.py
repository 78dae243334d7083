"""Hostile but ordinary input, through the `odfm` command as a user runs it.

Each case ends in a non-zero exit with one line on stderr (no traceback) naming the file, line or setting at fault,
or in the correct result. Data: the tests' tiny synthetic benchmark (10 identities, 32 px), one epoch per phase,
no worker processes. Every dataset root the suite hands to a command is snapshotted: nothing is written inside it.
The full table of settings goes through `odfm.cli.main` in this process (a process per setting would cost seconds
each for imports alone); the cases the issue names run as separate processes."""
import json, os, re, shutil, signal, subprocess, sys, time
from pathlib import Path
import pandas as pd, pytest
from PIL import Image
from odfm.synth_layouts import tiny_veri, tiny_vehicleid

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
    from odfm.loading import load_dataset
    from odfm.image_checks import UnreadableImage
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
    from odfm.model import ReidNet
    from odfm.checkpoint import save_model
    ck = save_model(ReidNet(6, arch='resnet18', attention='none', verbose=False), tmp_path/'m.pth')
    root, before = data/'veri', snapshot(data/'veri')
    refused(odfm('evaluate', ck, root, '--size', '32', '--out', root/'metrics.json'), f"--out {root/'metrics.json'} lies inside the dataset root")
    refused(odfm('evaluate', ck, root, '--size', '32', '--out', ck), f'--out {ck} is the checkpoint {ck}')
    assert ck.read_bytes()[:2] == b'PK'   # still the checkpoint (a zip), not JSON
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

# ---- identities

def test_identity_folders_that_are_one_number_are_refused(tmp_path):
    "0001 and 1 would be one vehicle, merged silently: refused, naming the root and both folders"
    for name in ('0001', '1', '0002', '0003'):
        for j in range(3): (tmp_path/'own'/name).mkdir(parents=True, exist_ok=True); Image.new('RGB', (8, 8), (j, 9, 9)).save(tmp_path/'own'/name/f'{j}.jpg')
    refused(odfm('dataset', tmp_path/'own'), f"{tmp_path/'own'}: identity folders '0001' and '1' are both vehicle id 1")

def test_ids_of_twenty_digits_end_in_one_line(data, tmp_path):
    "No OverflowError: the folder, or the CSV and its line, named"
    from odfm.cli import main
    big = '12345678901234567890'
    for name in (big, '0002', '0003', '0004'):
        for j in range(3): (tmp_path/'own'/name).mkdir(parents=True, exist_ok=True); Image.new('RGB', (8, 8), (j, 9, 9)).save(tmp_path/'own'/name/f'{j}.jpg')
    imgs = sorted((data/'veri'/'image_train').iterdir())[:4]
    (tmp_path/'big.csv').write_text('path,vid\n' + ''.join(f'{p},{big if i == 2 else 7}\n' for i, p in enumerate(imgs)))
    for root, words in ((tmp_path/'own', f'identity folder {big} is too large'), (tmp_path/'big.csv', f'big.csv line 4: vid {big} is too large')):
        with pytest.raises(SystemExit) as e: main(['dataset', str(root)])
        assert words in str(e.value.code) and '\n' not in str(e.value.code), e.value.code

# ---- checkpoints from someone else

def test_hostile_checkpoints_are_named_before_use(data, tmp_path):
    "Each edit of a good checkpoint: one line naming the file and the entry, before memory is spent or the network reached"
    import torch
    from odfm.cli import main
    from odfm.model import ReidNet
    from odfm.checkpoint import save_model
    good = torch.load(save_model(ReidNet(6, arch='resnet18', attention='block', verbose=False), tmp_path/'good.pth', size=32), weights_only=True)
    img = sorted((data/'veri'/'image_query').iterdir())[0]
    edits = [('huge', lambda c: c['meta'].update(size=[100_000, 100_000]), 'its meta size is [100000, 100000]'),
             ('red0', lambda c: c['config'].update(reduction=0), 'its config reduction is 0'),
             ('neg', lambda c: c['config'].update(n_classes=-1), 'its config n_classes is -1'),
             ('garbage', lambda c: c.update(meta='garbage'), "its meta is 'garbage'"),
             ('mean2', lambda c: c['meta'].update(mean=[0.5, 0.5]), 'its meta mean is [0.5, 0.5]')]
    for name, edit, words in edits:
        c = torch.load(tmp_path/'good.pth', weights_only=True); edit(c); torch.save(c, tmp_path/f'{name}.pth')
        with pytest.raises(SystemExit) as e: main(['embed', str(tmp_path/f'{name}.pth'), str(img), '--out', str(tmp_path/'f.npz'), '--device', 'cpu'])
        assert f"{tmp_path/name}.pth: cannot be read ({words}" in str(e.value.code) and '\n' not in str(e.value.code), e.value.code
    refused(odfm('embed', tmp_path/'huge.pth', img, '--out', tmp_path/'f.npz'), 'huge.pth: cannot be read (its meta size')
    c = dict(good); c['config'] = dict(good['config'], weights='imagenet'); torch.save(c, tmp_path/'imagenet.pth')
    env = dict(os.environ, https_proxy='http://127.0.0.1:9', http_proxy='http://127.0.0.1:9')   # no network to reach
    res = odfm('embed', tmp_path/'imagenet.pth', img, '--out', tmp_path/'f.npz', '--device', 'cpu', env=env)
    assert res.returncode == 0 and 'ImageNet' not in res.stderr, res.stderr[-2000:]

# ---- the environment

def read_only(folder):
    "A command prefix that runs with `folder` read-only (chmod for a user, a read-only bind mount for root); skips the test when neither works"
    if os.geteuid() != 0:
        for p in [folder, *Path(folder).rglob('*')]: p.chmod(p.stat().st_mode & ~0o222)
        return []
    pre = ['unshare', '-rm', 'sh', '-c', 'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" "$0" && exec "$@"', str(folder)]
    if subprocess.run([*pre, 'true'], capture_output=True).returncode: pytest.skip('cannot make a read-only folder here (root without unshare)')
    return pre

def test_read_only_run_folder_is_one_line(data, tmp_path):
    "A finished run copied to read-only media, and a new run under a read-only folder: one line naming the folder"
    res = odfm('run', '--root', data/'veri', '--run-dir', tmp_path/'ro'/'done', *tiny)
    assert res.returncode == 0, res.stderr[-3000:]
    pre = read_only(tmp_path/'ro')
    for run in (tmp_path/'ro'/'done', tmp_path/'ro'/'new'):
        res = subprocess.run([*pre, sys.executable, '-m', 'odfm.cli', 'run', '--root', str(data/'veri'), '--run-dir', str(run), *tiny],
                             capture_output=True, text=True, timeout=300)
        refused(res, f'run folder {run} cannot be written')

def test_world_size_that_is_not_a_number_is_named(data):
    refused(odfm('dataset', data/'veri', env=dict(os.environ, WORLD_SIZE='abc')), "WORLD_SIZE='abc' is not a number of processes")

def test_ctrl_c_stops_quietly_and_a_rerun_resumes(data, tmp_path):
    "SIGINT in phase 1: exit 130, one line, no traceback; the same command then finishes the run"
    args = [sys.executable, '-m', 'odfm.cli', 'run', '--root', str(data/'veri'), '--run-dir', str(tmp_path/'run'), *tiny[:4], '--epochs1', '40', *tiny[6:]]
    # Ctrl-C at a terminal: SIGINT at its default, even where this test runs as a background job (which ignores it)
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    for _ in range(600):   # wait until phase 1 has finished an epoch
        if list((tmp_path/'run').glob('phase1-*/history.csv')) or proc.poll() is not None: break
        time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    assert 'Traceback' not in err and err.strip().splitlines() == ['odfm run: interrupted; run the same command again to resume'], err[-3000:]
    res = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert next((tmp_path/'run').glob('phase3-*/metrics.json')).exists()

# ---- progress in logs

def test_progress_through_a_pipe_is_one_plain_line_per_epoch_or_step(data, tmp_path):
    "`odfm run ... | cat`: no redraws; fastai's table (a header and one line per epoch) and one line per finished step"
    res = subprocess.run(f"{sys.executable} -m odfm.cli run --root {data/'veri'} --run-dir {tmp_path/'run'} {' '.join(tiny[:4])} --epochs1 2 {' '.join(tiny[6:])} | cat",
                         shell=True, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    out = res.stdout
    assert '\r' not in out and '█' not in out and '|---' not in out, out[:2000]
    epochs = [l for l in out.splitlines() if l.split()[:1] in (['0'], ['1']) and l.split()[-1].count(':') == 1]
    assert len(epochs) == 2 + 1 and sum(l.split()[0] == 'epoch' for l in out.splitlines()) == 2, out   # phase 1: 2 epochs, phase 3: 1
    from odfm.model import ReidNet
    from odfm.checkpoint import save_model
    ck = save_model(ReidNet(6, arch='resnet18', attention='none', verbose=False), tmp_path/'m.pth', size=32)
    res = subprocess.run(f"{sys.executable} -m odfm.cli embed {ck} {data/'veri'} --out {tmp_path/'f.npz'} --bs 4 --device cpu | cat",
                         shell=True, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and '\r' not in res.stdout and '█' not in res.stdout, res.stdout + res.stderr[-2000:]
    assert re.fullmatch(r'embed: 5/5 in \d\d:\d\d', res.stdout.splitlines()[0]), res.stdout   # 20 images, batches of 4: one line, when done

def test_progress_in_a_terminal_keeps_its_bars(data, tmp_path):
    import pty
    img = sorted((data/'veri'/'image_query').iterdir())[0]
    from odfm.model import ReidNet
    from odfm.checkpoint import save_model
    ck = save_model(ReidNet(6, arch='resnet18', attention='none', verbose=False), tmp_path/'m.pth', size=32)
    main_fd, tty = pty.openpty()
    proc = subprocess.Popen([sys.executable, '-m', 'odfm.cli', 'embed', str(ck), str(img), '--out', str(tmp_path/'f.npz'), '--device', 'cpu'],
                            stdout=tty, stderr=subprocess.PIPE)
    os.close(tty); chunks = []
    while True:
        try: b = os.read(main_fd, 4096)
        except OSError: break
        if not b: break
        chunks.append(b)
    proc.wait(timeout=120); os.close(main_fd)
    out = b''.join(chunks).decode(errors='replace')
    assert proc.returncode == 0 and '\r' in out and '100.00% [1/1' in out, out
