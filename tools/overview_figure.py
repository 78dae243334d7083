"""Draw nbs/images/overview.png, the README's picture, from a finished quickstart run: `python tools/overview_figure.py RUN_DIR`.

Row 1: training images of one type+colour group (identities told apart only by small cues).
Row 2: the phase-1 model's impact map over training images, with the true cue boxes.
Row 3: the occluded copies sampled by impact for phase 3.
"""
import sys
from pathlib import Path
import numpy as np, pandas as pd, matplotlib.pyplot as plt, matplotlib.patches as mpatches, torch
from odfm.pipeline import ODFMConfig, RunDir
from odfm.occlusion import impact_map
from odfm.mining import load_impacts
from odfm.visualize import image_array, overlay
from odfm.data import imagenet_stats

run = RunDir(sys.argv[1] if len(sys.argv) > 1 else 'odfm-quickstart', ODFMConfig())
root = run.data/'synth-veri-100-0'
table = load_impacts(next(run.stage('mining').glob('impacts-*')))
ids = pd.read_csv(root/'odfm_meta'/'identities.csv')
details = pd.read_csv(root/'odfm_meta'/'details.csv')
group = ids[ids.split == 'train'].groupby('group').vid.apply(list).loc[lambda s: s.map(len) >= 4].iloc[0][:4]
paths = [table[table.vid == v].path.iloc[0] for v in group]

fig, axs = plt.subplots(3, 4, figsize=(6.4, 5), dpi=80)
for j, p in enumerate(paths):
    rows = table[table.path == p]
    boxes = torch.tensor(np.stack(rows.box.values))
    hmap = impact_map(torch.tensor(rows.p_tilde.values, dtype=torch.float32), boxes, 64, 64)
    img = image_array(p)
    axs[0, j].imshow(img)
    axs[1, j].imshow(overlay(img, hmap, alpha=0.45))
    scale = img.shape[1] / 128
    for _, d in details[details.image == f'image_train/{Path(p).name}'].iterrows():
        axs[1, j].add_patch(mpatches.Rectangle((d.x0 * scale, d.y0 * scale), (d.x1 - d.x0) * scale, (d.y1 - d.y0) * scale, fill=False, ec='white', lw=1.2))
    b = np.array(rows.box.iloc[int(rows.p_bar.values.argmax())]) * img.shape[1] / 64
    occluded = img.copy(); occluded[int(b[1]):int(b[3]), int(b[0]):int(b[2])] = np.array(imagenet_stats[0])
    axs[2, j].imshow(occluded)
for ax in axs.flat: ax.axis('off')
for i, t in enumerate(['1. train (same type and colour)', '2. impact of occluding each square (white: true cues)', '3. retrain on occluded copies']):
    fig.text(0.01, 0.995 - i * 0.333, t, fontsize=9, weight='bold', va='top')
fig.tight_layout(rect=(0, 0, 1, 0.965), h_pad=2.2)
out = Path(__file__).resolve().parents[1]/'nbs'/'images'/'overview.png'
out.parent.mkdir(exist_ok=True); fig.savefig(out); print(out)
