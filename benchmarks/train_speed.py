"""One fastai training epoch (odfm's `reid_learner` over `reid_dls`) against a plain PyTorch loop, in the same run.

Same model (ReidNet, with and without CBAM in every block), same images, same SGD recipe, same loader workers; the
second of two epochs is timed for each. Images come from the synthetic benchmark (written at 128 px, decoded and
resized by the loaders), repeated so that every timed epoch holds `--n` images. With `--mining`, impact mining is also
timed against plain batched inference of the same model.

    python benchmarks/train_speed.py                          # CPU: resnet18 at 64x64, fp32
    python benchmarks/train_speed.py --paper --mining          # GPU: resnet50 at 256x256, bf16 + channels_last
    python benchmarks/train_speed.py --smoke --mining          # a tiny run that walks the same code

The paper-scale figures of one H100 are in benchmarks/results/gpu_paper_scale_h100.json.
"""
import argparse, json, os, sys, tempfile, time
from pathlib import Path
import pandas as pd, torch
from torch import nn

p = argparse.ArgumentParser()
p.add_argument('--smoke', action='store_true'); p.add_argument('--paper', action='store_true')
p.add_argument('--mining', action='store_true'); p.add_argument('--n', type=int, default=None)
p.add_argument('--workers', type=int, default=None); p.add_argument('--out', default=None)
args = p.parse_args()
dev = 'cuda' if torch.cuda.is_available() and args.paper else 'cpu'
size, arch, n, mine_n, workers = ((64, 'resnet18', 128, 8, 0) if args.smoke else (256, 'resnet50', 6400, 1000, 12) if args.paper
                                  else (64, 'resnet18', 1600, 100, 0))
n, workers = args.n or n, workers if args.workers is None else args.workers
if dev == 'cpu': torch.set_num_threads(os.cpu_count())
torch.backends.cudnn.benchmark = True
torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True

from odfm.synth_layouts import make_veri
from odfm.datasets import add_labels
from odfm.loading import load_dataset
from odfm.data import reid_dls, ReidImages
from odfm.model import ReidNet
from odfm.learner import reid_learner
from odfm.mining import mine_impacts
from fastai.callback.core import Callback
import fastai.callback.channelslast, fastai.callback.fp16  # patch Learner.to_channelslast and .to_bf16

def sync():
    if dev == 'cuda': torch.cuda.synchronize()

t0 = time.perf_counter()
root = Path(tempfile.mkdtemp())/'veri'
make_veri(root, n_ids=100, seed=0)
ds = load_dataset(root)
train = add_labels(ds.train)
reps = -(-n // len(train))
big = pd.concat([train]*reps, ignore_index=True).iloc[:n]
print(f'synthetic set: {len(train)} training images of {train.label.nunique()} ids in {time.perf_counter()-t0:.1f} s; '
      f'an epoch here = {len(big)} images; device {torch.cuda.get_device_name() if dev=="cuda" else "cpu"}', flush=True)
n_classes = train.label.nunique()
results = {}

class EpochTimer(Callback):
    order = 99
    def before_fit(self): self.times = []
    def before_epoch(self): sync(); self.t = time.perf_counter()
    def after_epoch(self): sync(); self.times.append(time.perf_counter() - self.t)

def fastai_epoch(attention):
    torch.manual_seed(0)
    model = ReidNet(n_classes, arch=arch, attention=attention, verbose=False)
    dls = reid_dls(big, size=size, bs=32, num_workers=workers, device=dev, pin_memory=dev == 'cuda', persistent_workers=workers > 0)
    learn = reid_learner(dls, model, cbs=EpochTimer())
    if dev == 'cuda': learn.to_channelslast().to_bf16()
    with learn.no_bar(), learn.no_logging(): learn.fit(2)
    return len(big) / learn.epoch_timer.times[-1]

def plain_epoch(attention):
    torch.manual_seed(0)
    model = ReidNet(n_classes, arch=arch, attention=attention, verbose=False).to(dev)
    if dev == 'cuda': model = model.to(memory_format=torch.channels_last)
    body = [p for n_, p in model.named_parameters() if not n_.startswith('classifier')]
    opt = torch.optim.SGD([dict(params=body, lr=0.01), dict(params=model.classifier.parameters(), lr=0.02)], momentum=0.9, weight_decay=5e-4)
    dl = torch.utils.data.DataLoader(ReidImages(big, size, split_idx=0), batch_size=32, shuffle=True, drop_last=True,
                                     num_workers=workers, pin_memory=dev == 'cuda', persistent_workers=workers > 0)
    loss_fn, times = nn.CrossEntropyLoss(), []
    model.train()
    for epoch in range(2):
        sync(); t = time.perf_counter()
        for x, y in dl:
            x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
            flip = torch.rand(len(x), device=dev) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
            if dev == 'cuda': x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(dev, dtype=torch.bfloat16, enabled=dev == 'cuda'):
                loss = loss_fn(model(x).float(), y)
            opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
        sync(); times.append(time.perf_counter() - t)
    return len(dl) * 32 / times[-1]

for att in ('none', 'block'):
    f, pl = fastai_epoch(att), plain_epoch(att)
    results[f'train_{att}'] = dict(fastai_img_s=round(f, 1), plain_img_s=round(pl, 1), ratio=round(f / pl, 3))
    print(f'train {arch} attention={att}: fastai {f:.0f} img/s, plain loop {pl:.0f} img/s, ratio {f/pl:.3f}', flush=True)
a, b = results['train_block'], results['train_none']
print(f'CBAM training overhead (step time): fastai +{100*(b["fastai_img_s"]/a["fastai_img_s"]-1):.0f} %, '
      f'plain +{100*(b["plain_img_s"]/a["plain_img_s"]-1):.0f} %', flush=True)

if not args.mining:
    print(json.dumps(results))
    if args.out: Path(args.out).write_text(json.dumps(results, indent=1))
    sys.exit()

# Mining: S=49 candidates per image (d=64, stride 32 at 256 px) against plain inference over as many images.
model = ReidNet(n_classes, arch=arch, attention='block', verbose=False).to(dev).eval()
if dev == 'cuda': model = model.to(memory_format=torch.channels_last)
recs = train.iloc[:mine_n].reset_index(drop=True)
d, st = (64, 32) if args.paper else (16, 8)
with tempfile.TemporaryDirectory() as cache:
    sync(); t = time.perf_counter()
    tab = mine_impacts(model, recs, cache, size=(size, size), d=d, sw=st, sh=st, bs=250, amp=dev == 'cuda',
                       num_workers=workers, progress=False)
    sync(); mine_s = len(tab) / (time.perf_counter() - t)
S = len(tab) // len(recs)
x = torch.randn(250, 3, size, size, device=dev)
if dev == 'cuda': x = x.contiguous(memory_format=torch.channels_last)
with torch.inference_mode(), torch.autocast(dev, dtype=torch.bfloat16, enabled=dev == 'cuda'):
    for _ in range(3): model.classify(x)
    sync(); t = time.perf_counter(); m = max(1, len(tab) // 250)
    for _ in range(m): model.classify(x)
    sync(); inf_s = m * 250 / (time.perf_counter() - t)
results['mining'] = dict(candidates_per_image=S, mining_cand_s=round(mine_s, 1), plain_inference_img_s=round(inf_s, 1), ratio=round(mine_s / inf_s, 3))
print(f'mining {len(recs)} images x {S} candidates: {mine_s:.0f} candidates/s; plain inference {inf_s:.0f} img/s; ratio {mine_s/inf_s:.3f}', flush=True)
print(json.dumps(results))
if args.out: Path(args.out).write_text(json.dumps(results, indent=1))
