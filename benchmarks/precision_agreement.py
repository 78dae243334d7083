"""Does bf16 change what a trained model mines and how it ranks? One trained phase-1 checkpoint, fp32 against bf16.

    python benchmarks/precision_agreement.py PHASE1_MODEL ROOT [--size 64] [--d 16] [--images 64]

PHASE1_MODEL is a run's `phase1-*/model.pth`, ROOT the synthetic benchmark it was trained on (in the run's `data/`).
Mining: the impact tables of the first `--images` training images, mined in fp32 and under bf16 autocast, compared
image by image: Spearman's rank correlation of p̃ over the candidate squares, how often the highest-impact square is
the same, and the largest |Δp̄|. Embedding: the query and gallery features in both precisions, and the mAP and rank-1
each gives (the features' cosine agreement besides). bf16 is emulated where the CPU has no bf16 instructions: the
numbers are what a machine with them computes, only slower here.
"""
import argparse, tempfile
import numpy as np, torch
from scipy.stats import spearmanr
from odfm.checkpoint import load_model
from odfm.datasets import add_labels
from odfm.loading import load_dataset
from odfm.occlusion import impact_arrays
from odfm.mining import mine_impacts
from odfm.data import test_dl
from odfm.evaluate import embed
from odfm.ranking import feature_metrics

p = argparse.ArgumentParser()
p.add_argument('model'); p.add_argument('root')
p.add_argument('--size', type=int, default=64); p.add_argument('--d', type=int, default=16)
p.add_argument('--images', type=int, default=64)
a = p.parse_args()
model, ds = load_model(a.model).eval(), load_dataset(a.root)
train = add_labels(ds.train).iloc[:a.images].reset_index(drop=True)

def tables(amp): return impact_arrays(mine_impacts(model, train, tempfile.mkdtemp(), size=a.size, d=a.d, amp=amp, progress=False), 'p_tilde', 'p_bar')
(t32, b32, _), (t16, b16, _) = tables(False), tables(True)
rho = [spearmanr(x, y).statistic for x, y in zip(t32.numpy(), t16.numpy()) if x.std() > 0 and y.std() > 0]
print(f"mining, {len(train)} training images × {t32.shape[1]} squares, fp32 vs bf16:")
print(f"  Spearman of p̃ per image: median {np.median(rho):.3f}, min {np.min(rho):.3f} ({len(rho)} images with some impact)")
print(f"  same highest-impact square: {(t32.argmax(1) == t16.argmax(1)).float().mean():.1%};  max |Δp̄| {float((b32 - b16).abs().max()):.4f}")

def feats(df, bf16): return embed(model, test_dl(df, size=a.size, bs=64), bf16=bf16)
res = {}
for bf16 in (False, True):
    q, g = feats(ds.query, bf16), feats(ds.gallery, bf16)
    m = feature_metrics(q, g, ds.query.vid.values, ds.gallery.vid.values, ds.query.camid.values, ds.gallery.camid.values)
    res[bf16] = (q, g, m)
cos = torch.nn.functional.cosine_similarity(torch.as_tensor(res[False][0]).float(), torch.as_tensor(res[True][0]).float())
print(f"embedding, {len(ds.query)} queries, {len(ds.gallery)} gallery images:")
for bf16, name in ((False, 'fp32'), (True, 'bf16')): print(f"  {name}: mAP {100 * res[bf16][2].mAP:.2f}, rank-1 {100 * res[bf16][2].rank(1):.2f}")
print(f"  query features, cosine fp32 vs bf16: min {float(cos.min()):.4f}, median {float(cos.median()):.4f}")
