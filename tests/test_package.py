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
    code = "import odfm, odfm.cli, odfm.synth; print(odfm.__file__)"
    out = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip().startswith(str(target))
    res = subprocess.run(['odfm', 'synth', '--help'], cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert '--ids' in res.stdout and '--layout' in res.stdout

def test_synth_cli_bad_arguments(tmp_path):
    "Zero identities and a non-empty output folder are refused in one clear line, and nothing is overwritten."
    res = subprocess.run(['odfm', 'synth', '--out', str(tmp_path/'a'), '--ids', '0'], capture_output=True, text=True)
    assert res.returncode != 0 and 'ids must be at least 2' in res.stderr and 'Traceback' not in res.stderr
    (tmp_path/'b').mkdir(); (tmp_path/'b'/'keep.txt').write_text('mine')
    res = subprocess.run(['odfm', 'synth', '--out', str(tmp_path/'b'), '--ids', '4'], capture_output=True, text=True)
    assert res.returncode != 0 and 'Traceback' not in res.stderr
    assert [p.name for p in (tmp_path/'b').iterdir()] == ['keep.txt'] and (tmp_path/'b'/'keep.txt').read_text() == 'mine'

def test_synth_cli_writes_veri_layout(tmp_path):
    out = tmp_path/'veri'
    subprocess.run(['odfm', 'synth', '--out', str(out), '--ids', '6'], check=True, capture_output=True)
    for name in ['image_train', 'image_query', 'image_test', 'name_train.txt', 'name_query.txt', 'name_test.txt',
                 'train_label.xml', 'test_label.xml']: assert (out/name).exists(), name
