"`odfm ablation` through the console-script machinery of odfm.cli: options parsed from docments, clean errors."
import pandas as pd, pytest
from odfm import cli

@pytest.fixture
def with_ablation(monkeypatch):
    monkeypatch.setitem(cli.commands, 'ablation', 'odfm.ablation:ablation_cli')

def test_quick_two_arms_one_seed(with_ablation, tmp_path):
    cli.main(['ablation', '--run-dir', str(tmp_path), '--quick', '--seeds', '0', '--arms', 'ODFM,random erasing'])
    df = pd.read_csv(tmp_path/'ablation'/'results.csv')
    assert set(df.arm) == {'ODFM', 'phase 1 only', 'random erasing'} and set(df.seed) == {0}
    assert df[['mAP', 'R1', 'R5']].ge(0).all().all() and df[['mAP', 'R1', 'R5']].le(100).all().all()
    assert df[df.arm != 'phase 1 only'].passes.nunique() == 1

def test_unknown_arm_is_one_clean_line(with_ablation, tmp_path, capsys):
    with pytest.raises(SystemExit) as e: cli.main(['ablation', '--run-dir', str(tmp_path), '--quick', '--arms', 'dropout'])
    assert 'unknown arm' in str(e.value) and not list(tmp_path.glob('phase1-*'))
