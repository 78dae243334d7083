"Resume points, checkpoints and mining caches as separate processes meet them: `kill -9` at any moment, then a rerun; files planted to run code."
import os, pickle, subprocess, sys
from pathlib import Path
import pandas as pd, pytest, torch

# One training process: the tiny learner of `odfm.core`, 4 epochs through `fit_resumable`, killed with SIGKILL at
# `kill` = (epoch, batch) in the middle of an epoch, or (epoch, 'logged') after the epoch is logged but before its
# resume point is written, or (epoch, 'saved') right after its resume point. It writes the final weights to final.pth.
TRAIN = r'''
import os, random, signal, sys
from pathlib import Path
import numpy as np, torch
from fastcore.basics import noop
from fastai.callback.core import Callback
from fastai.callback.progress import CSVLogger
from odfm.core import save_torch
from odfm.data import tiny_dls, TinyReid, tiny_splitter
from odfm.learner import reid_learner
from odfm.resume import fit_resumable

folder, kill = Path(sys.argv[1]), eval(sys.argv[2])
class Kill(Callback):
    order = {'logged': 55, 'saved': 99}.get(kill and kill[1], 0)
    def after_batch(self):
        if self.training and (self.epoch, self.iter) == kill: os.kill(os.getpid(), signal.SIGKILL)
    def after_epoch(self):
        if (self.epoch, self.order and kill[1]) == kill: os.kill(os.getpid(), signal.SIGKILL)

torch.manual_seed(0); random.seed(0); np.random.seed(0)
learn = reid_learner(tiny_dls(), TinyReid(), step=2, splitter=tiny_splitter, path=folder,
                     cbs=[CSVLogger(append=True)] + ([Kill()] if kill else []))
learn.remove_cb(learn.progress); learn.logger = noop
fit_resumable(learn, 4, folder/'resume.pth', name='phase1')
save_torch(learn.model.state_dict(), folder/'final.pth')
'''

def train(folder, kill=None):
    "Run the training process in `folder`; True when it was killed"
    folder.mkdir(exist_ok=True)
    r = subprocess.run([sys.executable, '-c', TRAIN, str(folder), repr(kill)], capture_output=True, text=True)
    if r.returncode not in (0, -9): pytest.fail(r.stderr[-3000:])
    return r.returncode == -9

def history(folder): return pd.read_csv(folder/'history.csv').drop(columns='time')

@pytest.fixture
def straight(tmp_path_factory):
    folder = tmp_path_factory.mktemp('straight')
    assert not train(folder)
    return folder

def test_kill_9_then_rerun_is_bit_identical(straight, tmp_path):
    # killed before the first resume point, right after a resume point, mid-epoch, and between an epoch's log row and its resume point
    for kill in [(0, 'logged'), (1, 'saved'), (2, 3), (2, 'logged')]: assert train(tmp_path, kill), f'{kill} did not kill the process'
    assert not train(tmp_path)
    ref, got = torch.load(straight/'final.pth'), torch.load(tmp_path/'final.pth')
    assert ref.keys() == got.keys()
    for k in ref: assert torch.equal(ref[k], got[k]), k
    pd.testing.assert_frame_equal(history(tmp_path), history(straight), check_exact=True)  # one row per epoch, no empty rows
    assert sorted(p.name for p in tmp_path.iterdir()) == ['final.pth', 'history.csv', 'resume.pth']  # nothing set aside, no temp files

class Plant:
    "Unpickling this creates the folder `marker`: a stand-in for any code"
    def __init__(self, marker): self.marker = str(marker)
    def __reduce__(self): return (os.makedirs, (self.marker,))

def test_no_loader_runs_a_planted_pickle(tmp_path):
    from odfm.core import DamagedFile
    from odfm.data import tiny_dls, TinyReid, tiny_splitter
    from odfm.learner import reid_learner
    from odfm.model import ReidNet
    from odfm.checkpoint import save_model, load_model, checkpoint_meta, read_checkpoint
    from odfm.resume import load_resume_state, fit_resumable, read_resume_point
    from odfm.mining import load_impacts, cached_impacts, mine_impacts
    marker = tmp_path/'pwned'
    def plant(path, raw=False):
        if raw: path.write_bytes(pickle.dumps(Plant(marker), protocol=2))
        else: plant_ = Plant(marker); torch.save({'format': 'odfm.ReidNet', 'state_dict': plant_, 'model': plant_, 'p': plant_}, path)
        return path
    torch.load(plant(tmp_path/'live.pth'), weights_only=False); assert marker.exists(); marker.rmdir()  # the plant is live
    for raw in (False, True):
        p = plant(tmp_path/f'model{raw}.pth', raw)
        for load in (read_checkpoint, checkpoint_meta, load_model, lambda p: ReidNet(3, 'resnet18', weights=p)):
            with pytest.raises(DamagedFile, match='cannot be read'): load(p)
        learn = reid_learner(tiny_dls(), TinyReid(), splitter=tiny_splitter)
        for load in (read_resume_point, lambda p: load_resume_state(learn, p)):
            with pytest.raises(DamagedFile, match='cannot be read'): load(plant(tmp_path/f'resume{raw}.pth', raw))
        with pytest.warns(UserWarning, match='was damaged'):
            learn.remove_cb(learn.progress); fit_resumable(learn, 1, plant(tmp_path/f'resume{raw}.pth', raw))
    # a finished mining folder with each of its files planted in turn
    from PIL import Image
    recs = []
    for i in range(4):
        Image.new('RGB', (16, 16), (60 * i, 0, 0)).save(tmp_path/f'{i}.png')
        recs.append(dict(path=str(tmp_path/f'{i}.png'), vid=i, label=i % 2))
    recs = pd.DataFrame(recs)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 2))
    mine = lambda: mine_impacts(net, recs, tmp_path/'cache', size=16, progress=False)
    first = mine()
    folder = next((tmp_path/'cache').glob('impacts-*'))
    for name in ('impacts.pt', 'meta.json', 'records.json'):
        mine()
        plant(folder/name, raw=name.endswith('.json'))
        with pytest.raises(DamagedFile, match=f'{name}: cannot be read'): load_impacts(folder)
        with pytest.warns(UserWarning): assert cached_impacts(folder, recs) is None
        pd.testing.assert_frame_equal(mine(), first)
    assert not marker.exists()


# `odfm run` itself, killed with SIGKILL inside a chosen phase: `KILLER` wraps `Learner.fit` so that the fit of `phase`
# kills its process at `at` (as `TRAIN` above), then calls the `odfm` command's own entry point.
KILLER = r'''
import os, signal, sys
from fastai.learner import Learner
from fastai.callback.core import Callback
phase, kill, argv = sys.argv[1], eval(sys.argv[2]), sys.argv[3:]
class Kill(Callback):
    order = {'logged': 55, 'saved': 99}.get(kill[1], 0)
    def after_batch(self):
        if self.training and (self.epoch, self.iter) == kill: os.kill(os.getpid(), signal.SIGKILL)
    def after_epoch(self):
        if (self.epoch, self.order and kill[1]) == kill: os.kill(os.getpid(), signal.SIGKILL)
fit = Learner.fit
def killing_fit(self, *args, cbs=None, **kwargs):
    if any(getattr(cb, 'phase', None) == phase for cb in cbs or []): cbs = [*cbs, Kill()]
    return fit(self, *args, cbs=cbs, **kwargs)
Learner.fit = killing_fit
from odfm.cli import main
main(argv)
'''

@pytest.fixture(scope='module')
def tiny_root(tmp_path_factory):
    from odfm.synth_layouts import tiny_veri
    return tiny_veri(tmp_path_factory.mktemp('data')/'veri', n_ids=8)

def odfm_run(root, run_dir, *extra, epochs=(1, 3)):
    "`odfm run`'s arguments on the tiny root: `epochs` of phases 1 and 3"
    return ['run', '--run-dir', str(run_dir), '--root', str(root), '--size', '32', '--bs', '8', '--epochs1', str(epochs[0]),
            '--epochs3', str(epochs[1]), '--d', '16', '--stride', '8', *extra]

def killed(phase, kill, argv):
    "Run `odfm` with `argv`, killed in `phase` at `kill`; True when it was killed"
    r = subprocess.run([sys.executable, '-c', KILLER, phase, repr(kill), *argv], capture_output=True, text=True)
    if r.returncode not in (0, -9): pytest.fail(r.stderr[-3000:])
    return r.returncode == -9

def finished(run):
    "The final weights and training logs of a finished run, by file"
    out = {p.relative_to(run).as_posix(): torch.load(p, weights_only=True)['state_dict'] for p in run.glob('*/model.pth')}
    return out | {p.relative_to(run).as_posix(): history(p.parent) for p in run.glob('*/history.csv')}

def same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], pd.DataFrame): pd.testing.assert_frame_equal(a[k], b[k], check_exact=True)
        else: assert all(torch.equal(a[k][n], b[k][n]) for n in a[k]), k

kills = [(0, 'logged'), (1, 'saved'), (2, 1), (2, 'logged')]  # before any resume point, right after one, mid-epoch, between log and resume point

@pytest.mark.parametrize('extra', [[], ['--sampling', 'uniform'], ['--sampling', 'topk', '--k', '2'], ['--random-erasing', '0.5'],
                                   ['--sampler-p', '2', '--sampler-k', '4'], ['--redraw', '--sampling', 'uniform'], ['--remine-every', '1'],
                                   ['--sampling', 'cutout', '--erasing3', '0.5'], ['--schedule', 'cosine']], ids=' '.join)
def test_odfm_run_killed_in_phase3_resumes_bit_for_bit(tiny_root, tmp_path, extra):
    straight, resumed = tmp_path/'straight', tmp_path/'resumed'
    assert not killed('none', (0, 0), odfm_run(tiny_root, straight, *extra))
    for kill in kills: assert killed('phase3', kill, odfm_run(tiny_root, resumed, *extra)), kill
    assert not killed('none', (0, 0), odfm_run(tiny_root, resumed, *extra))
    same(finished(straight), finished(resumed))

def test_odfm_run_killed_in_phase1_resumes_bit_for_bit(tiny_root, tmp_path):
    straight, resumed = tmp_path/'straight', tmp_path/'resumed'
    run = lambda folder: odfm_run(tiny_root, folder, epochs=(3, 1))
    assert not killed('none', (0, 0), run(straight))
    for kill in kills: assert killed('phase1', kill, run(resumed)), kill
    assert not killed('none', (0, 0), run(resumed))
    same(finished(straight), finished(resumed))
