"One pytest case per notebook, run by nbdev's own `test_nb`, honouring the `tst_flags` of pyproject.toml."
import os
import pytest
from nbdev.config import get_config
from nbdev.test import test_nb as run_notebook_tests  # renamed so pytest does not collect it

cfg = get_config()
notebooks = sorted(cfg.nbs_path.glob('[0-9]*.ipynb'))
skip_flags = cfg.tst_flags.split()
# `ODFM_TEST_FLAGS="slow"` runs the slow cells too, as `nbdev-test --flags slow` would.
force_flags = os.environ.get('ODFM_TEST_FLAGS', '').split()

@pytest.mark.parametrize('nb', notebooks, ids=lambda p: p.stem)
def test_notebook(nb):
    ok, secs = run_notebook_tests(nb, skip_flags=skip_flags, force_flags=force_flags, basepath=cfg.config_path)
    assert ok, f'{nb.name} failed: its traceback is printed above'
