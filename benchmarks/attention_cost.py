"""What CBAM costs a ResNet: parameters, and forward time with and without attention, measured in one run.

For each backbone it times three networks built from the same weights: no attention, odfm's CBAM in every residual
block (the paper's placement), and a straightforward CBAM (eq. 6 written plainly, with the block's usual in-place
residual add) that computes the same function. Timings are interleaved: each round times one pass of every network,
in a rotating order, and an overhead is the median over rounds of the ratio of times within a round, so a burst of
load on a shared machine, which lasts seconds, falls on the passes it is compared with. The ratio of the fastest
passes is printed beside it as a second estimate; medians of the times themselves are the ms columns.

    python benchmarks/attention_cost.py                       # CPU: 2 threads, fp32, batch 8, 256x256, inference
    python benchmarks/attention_cost.py --channels-last       # same in channels_last memory format
    python benchmarks/attention_cost.py --threads 1 --clock cpu   # CPU time of one thread: steadier on a busy machine
    python benchmarks/attention_cost.py --mode train --archs resnet18
    python benchmarks/attention_cost.py --device cuda --dtype bf16 --bs 256 --channels-last
"""
import argparse, statistics, time
import torch, torch.nn.functional as F
from odfm.attention import CBAM
from odfm.model import ReidNet

class NaiveCBAM(CBAM):
    "CBAM as eq. 6 reads: new tensors for F' and F'', then the residual added in place as torchvision's blocks do"
    def forward(self, x, residual=None):
        mlp = self.ca.mlp
        mc = torch.sigmoid(mlp(F.adaptive_avg_pool2d(x, 1).flatten(1)) + mlp(F.adaptive_max_pool2d(x, 1).flatten(1)))
        x1 = x * mc[:, :, None, None]
        ms = self.sa(x1)
        out = x1 * ms
        if residual is not None: out += residual
        return out

def naive_copy(model):
    "A copy of `model` whose CBAM modules run the straightforward code (same parameters)"
    m = ReidNet(**model.config)
    m.load_state_dict(model.state_dict())
    for mod in m.modules():
        if isinstance(mod, CBAM): mod.__class__ = NaiveCBAM
    return m

def n_params(model): return sum(p.numel() for p in model.body.parameters())

def sync(device):
    if device == 'cuda': torch.cuda.synchronize()

def step_fn(model, x, mode):
    "One timed unit of work: an inference forward pass, or a training forward + backward"
    if mode == 'infer':
        def f():
            with torch.inference_mode(): model(x)
        return f
    y = torch.randint(0, model.config['n_classes'], (x.shape[0],), device=x.device)
    def f():
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x).float(), y).backward()
    return f

def time_interleaved(fns, reps, device, clock=time.perf_counter):
    "Seconds of each function per round: `reps` rounds, each timing every function once, in a rotating order"
    for f in fns.values(): f(); sync(device)
    names, ts = list(fns), {k: [] for k in fns}
    for r in range(reps):
        for k in names[r % len(names):] + names[:r % len(names)]:
            sync(device); t = clock(); fns[k](); sync(device)
            ts[k].append(clock() - t)
    return ts

def overheads(ts, base='none'):
    "Per variant: median over rounds of (its time / the base's time in the same round) - 1, and the same for the fastest passes"
    paired = {k: statistics.median(a / b for a, b in zip(v, ts[base])) - 1 for k, v in ts.items() if k != base}
    fastest = {k: min(v) / min(ts[base]) - 1 for k, v in ts.items() if k != base}
    return paired, fastest

def build(arch, args):
    "The three networks of one backbone, same weights, on the device, in the right mode and format"
    torch.manual_seed(0)
    nets = dict(none=ReidNet(100, arch, 'none'), cbam=ReidNet(100, arch, 'block'))
    if args.naive: nets['naive'] = naive_copy(nets['cbam'])
    dtype = dict(fp32=torch.float32, bf16=torch.bfloat16)[args.dtype]
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    for k, m in nets.items():
        nets[k] = m.to(args.device, dtype, memory_format=fmt).train(args.mode == 'train')
    x = torch.randn(args.bs, 3, args.size, args.size, device=args.device, dtype=dtype).contiguous(memory_format=fmt)
    return nets, x

def check_same(nets, x):
    "The naive copy must compute what odfm's CBAM computes"
    if 'naive' not in nets: return
    with torch.inference_mode():
        a, b = nets['cbam'].eval().features(x).float(), nets['naive'].eval().features(x).float()
    tol = 1e-3 if x.dtype == torch.float32 else 5e-2
    assert torch.allclose(a, b, rtol=tol, atol=tol), f'naive and odfm CBAM differ by {(a - b).abs().max():.2e}'

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--archs', nargs='+', default=['resnet18', 'resnet34', 'resnet50'])
    p.add_argument('--reps', type=int, default=11, help='rounds; each times one pass of every network')
    p.add_argument('--bs', type=int, default=8)
    p.add_argument('--size', type=int, default=256)
    p.add_argument('--threads', type=int, default=2, help='torch.set_num_threads on CPU')
    p.add_argument('--device', default='cpu')
    p.add_argument('--dtype', default='fp32', choices=['fp32', 'bf16'])
    p.add_argument('--mode', default='infer', choices=['infer', 'train'])
    p.add_argument('--channels-last', action='store_true')
    p.add_argument('--no-naive', dest='naive', action='store_false', help='skip the straightforward CBAM')
    p.add_argument('--clock', default='wall', choices=['wall', 'cpu'],
                   help="'cpu' times this process's CPU time: robust to other loads on a shared machine, with --threads 1")
    args = p.parse_args()
    if args.device == 'cpu': torch.set_num_threads(args.threads)
    where = f"{args.device}{' ' + str(args.threads) + ' threads' if args.device == 'cpu' else ''}"
    print(f"{args.mode}, {where}, {args.dtype}, batch {args.bs}, {args.size}x{args.size}, "
          f"{'channels_last' if args.channels_last else 'contiguous'}, {args.clock} clock, {args.reps} rounds")
    print(f"{'arch':9} {'params':>8} {'+CBAM':>7} {'none ms':>8} {'CBAM ms':>8} {'naive ms':>8}   time overhead of CBAM, naive")
    overhead = {}
    clock = time.process_time if args.clock == 'cpu' else time.perf_counter
    for arch in args.archs:
        nets, x = build(arch, args)
        check_same(nets, x)
        for m in nets.values(): m.train(args.mode == 'train')
        ts = time_interleaved({k: step_fn(m, x, args.mode) for k, m in nets.items()}, args.reps, args.device, clock)
        med = {k: 1e3 * statistics.median(v) for k, v in ts.items()}
        paired, fastest = overheads(ts)
        overhead[arch] = paired['cbam'], fastest['cbam']
        print(f"{arch:9} {n_params(nets['none']) / 1e6:7.2f}M {n_params(nets['cbam']) / n_params(nets['none']) - 1:+7.1%} "
              f"{med['none']:8.1f} {med['cbam']:8.1f} {med.get('naive', float('nan')):8.1f}   "
              + ', '.join(f"{paired[k]:+.1%}" for k in paired) + '   (fastest passes: ' + ', '.join(f"{fastest[k]:+.1%}" for k in fastest) + ')', flush=True)
    if 'resnet50' in overhead:
        paired, fastest = overhead['resnet50']
        target = f"{'within' if paired <= 0.15 else 'ABOVE'} the 15% forward-time target; " if args.mode == 'infer' else ''
        print(f"resnet50 CBAM {args.mode} time overhead: {paired:+.1%} ({target}fastest passes {fastest:+.1%})")

if __name__ == '__main__': main()
