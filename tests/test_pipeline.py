"The pipeline from the command line: a run killed in phase 3 resumes there, and bad input stops it before training."
import subprocess, sys, time
from pathlib import Path
import pytest
from odfm.synth_layouts import tiny_veri

@pytest.fixture(scope='module')
def tiny_root(tmp_path_factory):
    return tiny_veri(tmp_path_factory.mktemp('data')/'veri')

def odfm_run(root, run_dir, *extra):
    return ['odfm', 'run', '--run-dir', str(run_dir), '--root', str(root), '--size', '32', '--bs', '8',
            '--epochs1', '1', '--epochs3', '6', '--d', '16', '--stride', '16', *extra]

def wait_for(pattern, folder, proc, timeout=300):
    t = time.time()
    while time.time() - t < timeout:
        hits = list(Path(folder).glob(pattern))
        if hits: return hits[0]
        if proc.poll() is not None: pytest.fail(f'the run ended before {pattern} appeared')
        time.sleep(0.02)
    pytest.fail(f'{pattern} did not appear in {timeout} s')

def test_killed_in_phase3_resumes_without_redoing_phases_1_2(tiny_root, tmp_path):
    run = tmp_path/'run'
    proc = subprocess.Popen(odfm_run(tiny_root, run), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for('phase3-*/resume.pth', run, proc)
    proc.kill(); proc.wait()
    assert not list(run.glob('phase3-*/metrics.json'))
    p1, mined = next(run.glob('phase1-*/model.pth')), next(run.glob('mining-*/impacts-*/meta.json'))
    stamps = p1.stat().st_mtime_ns, mined.stat().st_mtime_ns
    res = subprocess.run(odfm_run(tiny_root, run), capture_output=True, text=True, check=True)
    assert 'resuming from' in res.stdout and 'of 6' in res.stdout
    assert (p1.stat().st_mtime_ns, mined.stat().st_mtime_ns) == stamps  # phases 1-2 were not redone
    assert next(run.glob('phase3-*/metrics.json')).exists()

@pytest.mark.parametrize('args,words', [
    (['--arch', 'resnet101'], 'resnet101'),
    (['--sampling', 'random'], 'random'),
    (['--d', '99'], '99'),
])
def test_bad_settings_stop_before_training(tiny_root, tmp_path, args, words):
    res = subprocess.run(odfm_run(tiny_root, tmp_path/'run', *args), capture_output=True, text=True)
    assert res.returncode != 0 and words in res.stderr and 'Traceback' not in res.stderr
    assert not (tmp_path/'run').exists()

def test_unknown_config_key_is_refused(tiny_root, tmp_path):
    cfg = tmp_path/'cfg.json'; cfg.write_text('{"epoch1": 3}')
    res = subprocess.run(odfm_run(tiny_root, tmp_path/'run', '--config', str(cfg)), capture_output=True, text=True)
    assert res.returncode != 0 and "did you mean 'epochs1'" in res.stderr

def test_root_of_no_known_layout_is_refused(tmp_path):
    (tmp_path/'junk').mkdir(); (tmp_path/'junk'/'notes.txt').write_text('x')
    res = subprocess.run(odfm_run(tmp_path/'junk', tmp_path/'run'), capture_output=True, text=True)
    assert res.returncode != 0 and 'junk' in res.stderr and 'Traceback' not in res.stderr
    assert [p.name for p in (tmp_path/'junk').iterdir()] == ['notes.txt']

def test_weights_of_another_architecture_are_refused(tiny_root, tmp_path):
    import torch, torchvision
    torch.save(torchvision.models.resnet34().state_dict(), tmp_path/'r34.pth')
    res = subprocess.run(odfm_run(tiny_root, tmp_path/'run', '--arch', 'resnet18', '--weights', str(tmp_path/'r34.pth')),
                         capture_output=True, text=True)
    assert res.returncode != 0 and 'r34.pth' in res.stderr and 'Traceback' not in res.stderr
    assert not list((tmp_path/'run').glob('phase1-*/resume.pth'))  # no epoch was trained

def test_evaluate_refuses_a_file_that_is_no_odfm_checkpoint(tiny_root, tmp_path):
    import torch, torchvision
    torch.save(torchvision.models.resnet18().state_dict(), tmp_path/'tv.pth')
    res = subprocess.run(['odfm', 'evaluate', str(tmp_path/'tv.pth'), str(tiny_root), '--size', '32'], capture_output=True, text=True)
    assert res.returncode != 0 and 'not an odfm ReidNet checkpoint' in res.stderr and 'Traceback' not in res.stderr

def test_evaluate_a_saved_model(tiny_root, tmp_path):
    from odfm.model import ReidNet
    from odfm.checkpoint import save_model
    ck = save_model(ReidNet(5, arch='resnet18', attention='none', verbose=False), tmp_path/'m.pth')
    res = subprocess.run(['odfm', 'evaluate', str(ck), str(tiny_root), '--size', '32', '--out', str(tmp_path/'m.json')],
                         capture_output=True, text=True, check=True)
    assert 'mAP' in res.stdout and (tmp_path/'m.json').exists()
