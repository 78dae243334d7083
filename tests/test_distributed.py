"""Two CPU processes (gloo) under `torchrun`: data-parallel training, sharded mining, evaluation on rank 0.

One launch of `python -m torch.distributed.run --nproc_per_node 2 -m odfm.cli run ...` on a tiny synthetic set
(resnet18 at 32 px, one epoch per phase) feeds every test below."""
import json, os, subprocess, sys
from pathlib import Path
import pandas as pd, pytest, torch

root = Path(__file__).resolve().parents[1]

@pytest.fixture(scope='module')
def ddp_run(tmp_path_factory):
    "The folders of a 2-process `run` and its settings"
    from odfm.synth_layouts import tiny_veri
    tmp = tmp_path_factory.mktemp('ddp')
    tiny_veri(tmp/'veri')
    # `--d` would be taken by torchrun's own parser as an abbreviation: one-letter settings go in the JSON config
    (tmp/'cfg.json').write_text(json.dumps(dict(d=16, stride=8)))
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONPATH': os.pathsep.join([str(root), os.environ.get('PYTHONPATH', '')])}
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2', '-m', 'odfm.cli', 'run',
           '--run-dir', str(tmp/'run'), '--root', str(tmp/'veri'), '--config', str(tmp/'cfg.json'),
           '--size', '32', '--bs', '4', '--epochs1', '1', '--epochs3', '1']
    res = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    from odfm.pipeline import ODFMConfig, RunDir, read_data
    run = RunDir(tmp/'run', ODFMConfig(root=str(tmp/'veri'), size=32, bs=4, epochs1=1, epochs3=1, d=16, stride=8))
    read_data(run)
    return run, res.stdout

def test_rank0_checkpoint_loads_in_one_process(ddp_run):
    from odfm.checkpoint import load_model
    run, _ = ddp_run
    for phase in ('phase1', 'phase3'):
        model = load_model(run.stage(phase)/'model.pth')
        assert model.features(torch.zeros(2, 3, 32, 32)).shape == (2, model.emb_dim)
        assert not (run.stage(phase)/'resume.pth').exists(), 'a finished phase keeps no resume point'
        assert len(pd.read_csv(run.stage(phase)/'history.csv')) == 1, 'only rank 0 writes the training log'

def test_sharded_mining_equals_one_process(ddp_run, tmp_path):
    from odfm.checkpoint import load_model
    from odfm.mining import mine_impacts, load_impacts
    from odfm.pipeline import read_data, train_valid, mining_settings
    run, cfg = ddp_run[0], ddp_run[0].cfg
    train, _ = train_valid(read_data(run), cfg)
    single = mine_impacts(load_model(run.stage('phase1')/'model.pth'), train, tmp_path, progress=False, **mining_settings(cfg))
    [merged_dir] = list(run.stage('mining').glob('impacts-*'))  # one table: phase 3 read back what the group mined
    [single_dir] = list(tmp_path.glob('impacts-*'))
    assert merged_dir.name == single_dir.name, 'the merged table is cached under the single-process key'
    assert not (merged_dir/'shards').exists()
    pd.testing.assert_frame_equal(load_impacts(merged_dir), single, check_exact=True)

def test_evaluation_on_rank0(ddp_run):
    run, out = ddp_run
    from odfm.pipeline import read_data, train_valid
    res = json.loads(run.metrics.read_text())
    assert set(res['metrics']) == {'phase1', 'odfm'} and res['n_train'] == len(train_valid(read_data(run), run.cfg)[0])
    assert out.count('metrics:') == 1, 'one rank prints the metrics table'
