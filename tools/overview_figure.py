"""Draw nbs/images/overview.png, the README's picture, from a finished run on the synthetic benchmark (`odfm quickstart`'s):
`python tools/overview_figure.py [RUN_DIR [OUT]]`. The figure is `odfm.overview.plot_overview` (`nbs/10_pipeline.ipynb`):
four look-alike training images, the phase-1 model's impact map over their true cues, the occluded copies of phase 3."""
import sys
from pathlib import Path
from odfm.core import load_json
from odfm.checkpoint import load_model
from odfm.pipeline import RunDir, config_from_dict, read_data, train_valid, mining_phase, synth_root
from odfm.overview import plot_overview

run_dir = Path(sys.argv[1] if len(sys.argv) > 1 else 'odfm-quickstart')
out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(__file__).resolve().parents[1]/'nbs'/'images'/'overview.png'
res = load_json(next(run_dir.glob('phase3-*/metrics.json')))  # a finished run: its settings and data keys
run = RunDir(run_dir, config_from_dict(res['config']), res['keys'])
train, _ = train_valid(read_data(run), run.cfg)
table, occ = mining_phase(run, load_model(run.stage('phase1')/'model.pth'), train)  # read back from the run's cache
fig = plot_overview(synth_root(run), table, occ, size=run.cfg.size)
out.parent.mkdir(parents=True, exist_ok=True); fig.savefig(out); print(out)
