"Package-level tests: configuration, README, the installed package and its console script."
import subprocess, sys, tomllib
from pathlib import Path
import pytest

root = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(root/'tools'))

def test_single_config():
    "pyproject.toml is the only configuration: nbdev 3 refuses a settings.ini."
    assert not (root/'settings.ini').exists()
    cfg = tomllib.loads((root/'pyproject.toml').read_text())
    assert 'nbdev' in cfg['tool'] and cfg['project']['scripts']['odfm'] == 'odfm.cli:main'

def test_readme_matches_index():
    from readme import render_readme
    assert (root/'README.md').read_text() == render_readme(), 'README.md is stale: run `python tools/readme.py`'

def test_notebooks_and_modules_in_step(tmp_path):
    "Exporting the notebooks again reproduces `odfm/` exactly."
    before = {p.name: p.read_text() for p in (root/'odfm').glob('*.py')}
    subprocess.run(['nbdev-export'], cwd=root, check=True, capture_output=True)
    after = {p.name: p.read_text() for p in (root/'odfm').glob('*.py')}
    assert before == after, 'odfm/ differs from the notebooks: run `nbdev-export` and commit'

def test_console_script_help():
    out = subprocess.run(['odfm', '--help'], capture_output=True, text=True, check=True).stdout
    assert 'usage: odfm COMMAND' in out

def test_unknown_command_fails_cleanly():
    res = subprocess.run(['odfm', 'frobnicate'], capture_output=True, text=True)
    assert res.returncode != 0 and 'unknown command' in res.stderr and 'Traceback' not in res.stderr

def test_installed_package_outside_repo(tmp_path):
    "A non-editable install (`pip install .`) carries every module and the console script."
    target = tmp_path/'site'
    subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--no-deps', '--no-build-isolation', '--target', str(target), str(root)],
                   check=True, capture_output=True)
    env = {'PYTHONPATH': str(target), 'PATH': f"{target/'bin'}:{Path(sys.executable).parent}"}
    code = "import odfm, odfm.cli; print(odfm.__file__)"
    out = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip().startswith(str(target))
    res = subprocess.run(['odfm', '--help'], cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert 'commands:' in res.stdout
