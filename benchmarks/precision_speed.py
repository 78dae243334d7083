"""Training steps, mining and embedding in each precision, through odfm against a plain PyTorch loop, in one run.

    python benchmarks/precision_speed.py [--arch resnet18] [--size 64] [--bs 32] [--steps 8] [--rounds 3]
                                         [--mine-images 8] [--routes train,mine,embed]

The same ReidNet, SGD recipe and in-memory batches for both; each round times every (route, precision) once, in
turn, so that load from other processes hits all alike; the medians and the ratios odfm / plain are printed with
the CPU's flags and the precision `auto` picks on this machine. bf16 is timed even where it is not native (odfm's
commands refuse it there, `odfm.model.resolve_precision`) to show why: emulated bf16 is slower than fp32.
  - train: `reid_learner(...).fit` over a fastai `DataLoaders` of tensors, with `odfm.learner.Autocast` for bf16 (its
    validation pass skipped: the plain loop has none),
    against a loop of forward, cross-entropy, backward and SGD step under the same autocast and memory format;
  - mine: `odfm.mining.mine_impacts` (images from memory, a fresh cache folder each time) against a loop that occludes
    each image under every candidate square and takes the true-class softmax, under the same autocast;
  - embed: `odfm.evaluate.embed` against `model(x)` under `torch.inference_mode` and the same autocast.
"""
import argparse, platform, statistics, tempfile, time
import pandas as pd, torch, torch.nn.functional as F
from torch.utils.data import TensorDataset
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from fastai.callback.core import Callback, CancelValidException
from odfm.model import ReidNet, cpu_flags, bf16_cpu_flags, resolve_precision, precision_context
from odfm.learner import reid_learner, Autocast
from odfm.evaluate import embed
from odfm.occlusion import candidate_boxes
from odfm.mining import mine_impacts

p = argparse.ArgumentParser()
p.add_argument('--arch', default='resnet18'); p.add_argument('--size', type=int, default=64)
p.add_argument('--bs', type=int, default=32); p.add_argument('--steps', type=int, default=8)
p.add_argument('--rounds', type=int, default=3); p.add_argument('--mine-images', type=int, default=8)
p.add_argument('--d', type=int, default=None); p.add_argument('--routes', default='train,mine,embed'); p.add_argument('--classes', type=int, default=100)
a = p.parse_args()
torch.manual_seed(0)
x = torch.randn(a.bs * a.steps, 3, a.size, a.size); y = torch.randint(0, a.classes, (len(x),))

def net(precision):
    torch.manual_seed(0); m = ReidNet(a.classes, a.arch, 'none', verbose=False)
    return m.to(memory_format=torch.channels_last if precision == 'bf16' else torch.contiguous_format)

def fmt(t, precision): return t.contiguous(memory_format=torch.channels_last) if precision == 'bf16' else t

def plain_train(precision):
    m = net(precision).train(); opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    t = time.perf_counter()
    for i in range(a.steps):
        xb, yb = fmt(x[i*a.bs:(i+1)*a.bs], precision), y[i*a.bs:(i+1)*a.bs]
        with precision_context(precision, 'cpu'): loss = F.cross_entropy(m(xb).float(), yb)
        opt.zero_grad(); loss.backward(); opt.step()
    return time.perf_counter() - t

class NoValidation(Callback):
    "Skip the validation pass after the epoch: the plain loop has none"
    def before_validate(self): raise CancelValidException()

def odfm_train(precision):
    dl = DataLoader(TensorDataset(x, y), bs=a.bs, shuffle=False, drop_last=True)
    dls = DataLoaders(dl, DataLoader(TensorDataset(x[:a.bs], y[:a.bs]), bs=a.bs), device='cpu')
    learn = reid_learner(dls, net(precision), cbs=[Autocast(precision), NoValidation()], metrics=[])
    learn.recorder.train_metrics = False
    with learn.no_bar(), learn.no_logging():
        t = time.perf_counter(); learn.fit(1); return time.perf_counter() - t

def plain_embed(precision):
    m = net(precision).eval(); t = time.perf_counter()
    with torch.inference_mode(), precision_context(precision, 'cpu'):
        for i in range(a.steps): m(fmt(x[i*a.bs:(i+1)*a.bs], precision)).float()
    return time.perf_counter() - t

def odfm_embed(precision):
    m = net(precision); dl = DataLoader(TensorDataset(x), bs=a.bs, shuffle=False)
    t = time.perf_counter(); embed(m, dl, bf16=precision == 'bf16'); return time.perf_counter() - t

d = a.d or a.size // 4; boxes = candidate_boxes(a.size, a.size, d, d // 2, d // 2)  # the quickstart's window at 64 px
mine_x, mine_y = x[:a.mine_images], y[:a.mine_images]

def plain_mine(precision):
    m = net(precision).eval(); t = time.perf_counter()
    with torch.inference_mode(), precision_context(precision, 'cpu'):
        for xi, yi in zip(mine_x, mine_y):
            xs = xi[None].repeat(len(boxes) + 1, 1, 1, 1)
            for j, (x0, y0, x1, y1) in enumerate(boxes.tolist()): xs[j + 1, :, y0:y1, x0:x1] = 0
            m.classify(fmt(xs, precision)).float().softmax(-1)[:, yi]
    return time.perf_counter() - t

def odfm_mine(precision):
    m = net(precision).eval(); recs = pd.DataFrame(dict(path=[str(i) for i in range(a.mine_images)], label=mine_y.tolist()))
    t = time.perf_counter()
    mine_impacts(m, recs, tempfile.mkdtemp(), size=a.size, d=d, load_fn=lambda path, size: mine_x[int(path)],
                 amp=precision == 'bf16', progress=False)
    return time.perf_counter() - t

routes = {r: f for r, f in dict(train=(plain_train, odfm_train), mine=(plain_mine, odfm_mine), embed=(plain_embed, odfm_embed)).items()
          if r in a.routes.split(',')}
n_images = dict(train=a.bs * a.steps, mine=a.mine_images * (len(boxes) + 1), embed=a.bs * a.steps)  # forward passes a timing
times = {(r, w, pr): [] for r in routes for w in ('plain', 'odfm') for pr in ('fp32', 'bf16')}
for route, (pl, od) in routes.items():  # a warm-up of each
    for pr in ('fp32', 'bf16'): pl(pr); od(pr)
for _ in range(a.rounds):
    for route, (pl, od) in routes.items():
        for pr in ('fp32', 'bf16'):
            times[route, 'plain', pr].append(pl(pr)); times[route, 'odfm', pr].append(od(pr))

flags = cpu_flags()
print(f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
print(f"CPU bf16 instructions: {sorted(set(bf16_cpu_flags) & flags) or 'none'}; avx512f: {'avx512f' in flags}; avx2: {'avx2' in flags}")
print(f"--precision auto picks: {resolve_precision('auto', 'cpu')}")
print(f"{a.arch} {a.size}px, batch {a.bs}, {a.steps} steps a timing, median of {a.rounds} rounds (images/s):")
med = {k: statistics.median(v) for k, v in times.items()}
for route in routes:
    for pr in ('fp32', 'bf16'):
        ip = n_images[route] / med[route, 'plain', pr]; io = n_images[route] / med[route, 'odfm', pr]
        print(f"  {route:5s} {pr}: plain {ip:7.1f}  odfm {io:7.1f}  odfm/plain {io/ip:.2f}   bf16/fp32 (plain) {med[route, 'plain', 'fp32'] / med[route, 'plain', pr]:.2f}")
