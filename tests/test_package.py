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

def test_dev_install_holds_every_extra():
    "`pip install -e '.[dev]'` brings every optional package, so no test of an option is skipped in development"
    extras = tomllib.loads((root/'pyproject.toml').read_text())['project']['optional-dependencies']
    dev = set(extras['dev'])
    assert {p for k, v in extras.items() if k != 'dev' for p in v} <= dev, extras

def test_console_script_help():
    "Each command beside its one-line purpose, as git and pip list theirs"
    from odfm.cli import commands, purposes
    out = subprocess.run(['odfm', '--help'], capture_output=True, text=True, check=True).stdout
    assert 'usage: odfm COMMAND' in out
    rows = {l.split(None, 1)[0]: l.split(None, 1)[1] for l in out.splitlines() if l.startswith('  ')}
    assert rows == purposes and list(rows) == list(commands)

def test_every_flag_says_what_it_does():
    "`--no-onnx` skips the ONNX file; its help no longer describes the opposite"
    out = ' '.join(subprocess.run(['odfm', 'export', '--help'], capture_output=True, text=True, check=True).stdout.split())
    assert '--no-onnx skip model.onnx: write the features files only' in out and '(default: True)' not in out

def test_refresh_outputs_saves_no_progress_bars():
    "A console bar's redraws, as `nbdev-test --save` records them, leave only what a terminal shows once they are gone"
    from refresh_outputs import debar
    fit = ('\u2588\repoch     train_loss  time    \n\u2588\r\rEpoch 1/2 : |----------| 0.00% [0/3 00:00<?]\rEpoch 1/2 : |\u2588\u2588\u2588-------| 33.33% [1/3 00:00<00:00]'
           '\rEpoch 1/2 :           \r\n0         1.958695    00:00     \n')
    assert debar(fit) == 'epoch     train_loss  time    \n0         1.958695    00:00     \n'
    step = '\u2588\r\r |----------| 0.00% [0/1 00:00<?]\r |\u2588\u2588\u2588\u2588\u2588\u2588\u2588\u2588\u2588\u2588| 100.00% [1/1 00:00<00:00]\r          \rembedded 5 images\n\nlast line'
    assert debar(step) == 'embedded 5 images\n\nlast line'

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
