"""fastai habits that only a fresh interpreter can check: what `import odfm...` alone gives a fastai user.

Every other habit (lr_find, fit_one_cycle, fine_tune, show_results, the interpretation, the entry points before and
after training) is tested in `nbs/07_learner.ipynb`, where it is taught.
"""
import subprocess, sys, textwrap

TINY_VERI = "tiny_veri(root)"

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


def test_show_batch_one_figure():
    "One grid of titled images without importing fastai's vision module first"
    got = run_fresh(f"""
        import tempfile, sys
        from pathlib import Path
        import matplotlib; matplotlib.use('Agg')
        import matplotlib.pyplot as plt
        from odfm.synth_layouts import tiny_veri
        from odfm.loading import load_dataset
        from odfm.data import reid_dls
        root = Path(tempfile.mkdtemp())/'veri'
        {TINY_VERI}
        reid_dls(load_dataset(root).train, size=32, bs=8, num_workers=0).show_batch(max_n=6)
        titles = [ax.get_title() for ax in plt.gcf().axes if ax.has_data()]
        print(len(plt.get_fignums()), len(titles), all(t.startswith('vid ') for t in titles), 'fastai.vision.all' in sys.modules)""")
    assert got == '1 6 True False'
