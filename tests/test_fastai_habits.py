"""fastai habits on `reid_learner` (issue 18): each test is a thing a fastai user does first with a `Learner`.

All run on a tiny synthetic VeRi-776 (4 training vehicles, 32 px, batch 8) and an untrained ResNet-18.
"""
import subprocess, sys, textwrap
import matplotlib.pyplot as plt
import pytest, torch
from fastai.callback.core import Callback
from fastai.losses import LabelSmoothingCrossEntropyFlat
from fastai.metrics import error_rate
from fastai.optimizer import Adam, Optimizer
from fastai.torch_core import TensorCategory, TensorImage
from odfm.synth import make_veri
from odfm.datasets import load_dataset, add_labels
from odfm.data import reid_dls, split_holdout
from odfm.model import ReidNet
from odfm.learner import reid_learner, StepLR

TINY_VERI = "make_veri(root, n_ids=6, train_per_id=4, gallery_per_id=2, query_per_id=1, size=32)"


@pytest.fixture(scope='module')
def records(tmp_path_factory):
    "Training and held-out records of a tiny synthetic VeRi-776"
    root = tmp_path_factory.mktemp('habits')/'veri'
    eval(TINY_VERI)
    return split_holdout(add_labels(load_dataset(root).train))


@pytest.fixture
def dls(records): return reid_dls(*records[:1], size=32, bs=8, valid_df=records[1], num_workers=0, seed=0)


def learner(dls, tmp_path, **kwargs):
    torch.manual_seed(0)
    return reid_learner(dls, ReidNet(dls.c, arch='resnet18', attention='none', verbose=False), path=tmp_path, **kwargs)


def rates(learn): return [h['lr'] for h in learn.opt.hypers]


@pytest.fixture
def fastai_star():
    "What `from fastai.vision.all import *` puts in a user's namespace (pytest would collect its `test_*` names at module level)"
    ns = {}
    exec('from fastai.vision.all import *', ns)
    yield ns
    plt.close('all')


def run_fresh(code):
    "Run `code` in a fresh interpreter, so that nothing this test session imported helps it"
    out = subprocess.run([sys.executable, '-W', 'ignore', '-c', textwrap.dedent(code)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip().splitlines()[-1]


def test_schedulers_need_no_import():
    "lr_find, fit_one_cycle, fine_tune exist once odfm.learner is imported, without fastai.callback.schedule"
    assert run_fresh("""
        import odfm.learner
        from fastai.learner import Learner
        print([hasattr(Learner, m) for m in ('lr_find', 'fit_one_cycle', 'fine_tune')])""") == '[True, True, True]'


def test_lr_find(dls, tmp_path):
    learn = learner(dls, tmp_path)
    before = [p.detach().clone() for p in learn.model.parameters()]
    suggestion = learn.lr_find(num_it=6, show_plot=False)
    lrs = learn.recorder.lrs
    assert len(lrs) >= 6 and all(b > a for a, b in zip(lrs, lrs[1:]))
    assert 0 < suggestion.valley < 10
    assert not learn.step_lr.active
    assert all(torch.equal(a, b) for a, b in zip(before, learn.model.parameters()))  # weights put back


def test_fit_one_cycle(dls, tmp_path):
    learn = learner(dls, tmp_path)
    learn.fit_one_cycle(2, lr_max=1e-3)
    assert not learn.step_lr.active
    assert learn.recorder.lrs[0] == pytest.approx(1e-3 / 25)
    assert 1e-3 / 2 < learn.recorder.lrs[1] < 1e-3                 # halfway: past the peak (at a quarter), annealing
    learn.fit(1)                                                   # a plain fit afterwards follows the recipe
    assert learn.step_lr.active and rates(learn) == pytest.approx([0.01, 0.02])


def test_fine_tune(dls, tmp_path):
    frozen = []
    class BodyFrozen(Callback):
        def before_fit(self): frozen.append(not any(p.requires_grad for p in self.model.body.parameters() if p.ndim > 1))
    learn = learner(dls, tmp_path)
    learn.fine_tune(1, cbs=BodyFrozen())
    assert frozen == [True, False]     # the classifier alone first, then everything
    assert not learn.step_lr.active


def test_targets_carry_vocab(dls, records):
    x, y = dls.one_batch()
    assert type(x) is TensorImage and type(y) is TensorCategory
    trn = records[0]
    assert [dls.vocab[l] for l in trn.label] == trn.vid.tolist()
    assert dls.valid_ds.vocab is dls.train_ds.vocab


def test_show_batch_one_figure():
    "One grid of titled images without importing fastai's vision module first"
    got = run_fresh(f"""
        import tempfile, sys
        from pathlib import Path
        import matplotlib; matplotlib.use('Agg')
        import matplotlib.pyplot as plt
        from odfm.synth import make_veri
        from odfm.datasets import load_dataset
        from odfm.data import reid_dls
        root = Path(tempfile.mkdtemp())/'veri'
        {TINY_VERI}
        reid_dls(load_dataset(root).train, size=32, bs=8, num_workers=0).show_batch(max_n=6)
        titles = [ax.get_title() for ax in plt.gcf().axes if ax.has_data()]
        print(len(plt.get_fignums()), len(titles), all(t.startswith('vid ') for t in titles), 'fastai.vision.all' in sys.modules)""")
    assert got == '1 6 True False'


def test_show_results(dls, tmp_path, fastai_star):
    learn = learner(dls, tmp_path)
    learn.fit(1)
    n = len(plt.get_fignums())
    learn.show_results(max_n=4)
    assert len(plt.get_fignums()) == n + 1
    vids = {f'vid {v}' for v in dls.vocab}
    titles = [ax.get_title().split('\n') for ax in plt.gcf().axes if ax.has_data()]
    assert len(titles) == 4 and all(len(t) == 2 and set(t) <= vids for t in titles)   # truth, prediction


def test_interpretation(dls, tmp_path, fastai_star):
    learn = learner(dls, tmp_path)
    learn.fit(1)
    interp = fastai_star['ClassificationInterpretation'].from_learner(learn)
    assert list(interp.vocab) == list(dls.vocab)
    assert interp.confusion_matrix().shape == (dls.c, dls.c)
    assert all(a in dls.vocab and p in dls.vocab for a, p, _ in interp.most_confused())
    n = len(plt.get_fignums())
    interp.plot_top_losses(3)
    assert len(plt.get_fignums()) == n + 1
    titles = [ax.get_title() for ax in plt.gcf().axes if ax.has_data()]
    assert len(titles) == 3 and all(t.split(' / ')[0].count('vid ') == 2 for t in titles)


def test_overrides(dls, tmp_path):
    mine = StepLR((0.001, 0.002), step=1)
    learn = learner(dls, tmp_path, loss_func=LabelSmoothingCrossEntropyFlat(), opt_func=Adam, metrics=error_rate, cbs=mine)
    learn.fit(1)
    assert type(learn.loss_func) is LabelSmoothingCrossEntropyFlat
    assert type(learn.opt) is Optimizer and learn.opt_func is Adam
    assert learn.metrics.attrgot('name') == ['error_rate']
    assert [cb for cb in learn.cbs if isinstance(cb, StepLR)] == [mine]
    assert rates(learn) == pytest.approx([0.001, 0.002])        # the caller's schedule, unscaled by a plain fit
    plain = learner(dls, tmp_path)
    assert type(plain.loss_func).__name__ == 'CrossEntropyLossFlat' and plain.metrics.attrgot('name') == ['accuracy']


def test_fit_lr_honoured(dls, tmp_path):
    learn = learner(dls, tmp_path)
    learn.fit(1, lr=1e-5)
    assert rates(learn) == pytest.approx([1e-5, 2e-5])             # scaled: the body at lr, the classifier at twice it
    assert learn.recorder.lrs == pytest.approx([2e-5] * len(learn.recorder.lrs))
    learn.fit(1, lr=slice(1e-4, 1e-3))
    assert rates(learn) == pytest.approx([1e-4, 1e-3])             # one rate per group: replaced
    learn.fit(1)
    assert rates(learn) == pytest.approx([0.01, 0.02])             # a plain fit: the paper's rates
