"""Sharded occlusion mining: 2 processes (gloo, `torchrun`) against 1 process, measured in one run.

Each setting runs `odfm.distributed.mine_distributed` in fresh processes on the same records and network (resnet18,
random init, 64x64 input, d=16 stride 8: S=49 candidates), timed from a barrier before mining to one after the merged
table is written, so process start-up and imports are left out but sharding, merging and saving are in. Settings:
1 process x 1 thread, 1 process x T threads (the same cores used by intra-op threads instead) and 2 processes x
T/2 threads (T = --threads, default 2: this machine's cores). Printed: candidates/s of each and the ratios.

    python benchmarks/distributed_mining.py                  # 48 images
    python benchmarks/distributed_mining.py --n-images 256 --threads 16
"""
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path

def worker(args):
    "One rank: mine the records with the saved network, rank 0 prints seconds and candidates as JSON"
    import pandas as pd, torch
    from odfm.distributed import init_distributed, mine_distributed
    from odfm.checkpoint import load_model
    from fastai.torch_core import distrib_barrier
    rank, world = init_distributed()
    model, records = load_model(Path(args.work)/'model.pth'), pd.read_csv(Path(args.work)/'records.csv')
    distrib_barrier(); t = time.perf_counter()
    tbl = mine_distributed(model, records, Path(args.work)/f'cache-{args.tag}', size=64, d=16, sw=8, bs=args.bs, progress=False)
    distrib_barrier(); secs = time.perf_counter() - t
    if rank == 0: print(json.dumps(dict(seconds=secs, candidates=len(tbl), world=world)))

def launch(work:Path, tag:str, procs:int, threads:int, bs:int):
    "Run the worker in `procs` fresh processes of `threads` threads each; its JSON result"
    env = {**os.environ, 'OMP_NUM_THREADS': str(threads), 'PYTHONPATH': os.pathsep.join([str(Path(__file__).resolve().parents[1]), os.environ.get('PYTHONPATH', '')])}
    me = [str(Path(__file__).resolve()), '--worker', '--work', str(work), '--tag', tag, '--bs', str(bs)]
    cmd = ([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', str(procs)] if procs > 1 else [sys.executable]) + me
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads([l for l in res.stdout.splitlines() if l.startswith('{')][-1])

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--n-images', type=int, default=48)
    p.add_argument('--threads', type=int, default=2, help='cores to use in all (2 processes get half each)')
    p.add_argument('--bs', type=int, default=250, help="mine_impacts' forward batch, in images")
    p.add_argument('--worker', action='store_true'); p.add_argument('--work'); p.add_argument('--tag', default='')
    args = p.parse_args()
    if args.worker: return worker(args)
    import torch
    from odfm.synth_layouts import make_veri
    from odfm.datasets import add_labels
    from odfm.loading import load_dataset
    from odfm.model import ReidNet
    from odfm.checkpoint import save_model
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        make_veri(work/'veri', n_ids=max(4, -(-args.n_images // 6) * 5 // 3), train_per_id=6, gallery_per_id=2, query_per_id=1, size=64)
        train = add_labels(load_dataset(work/'veri').train).iloc[:args.n_images].reset_index(drop=True)
        torch.manual_seed(0)
        save_model(ReidNet(train.label.nunique(), arch='resnet18', verbose=False), work/'model.pth')
        train.to_csv(work/'records.csv', index=False)
        half = max(1, args.threads // 2)
        runs = {f'1 process x 1 thread': launch(work, 'a', 1, 1, args.bs),
                f'1 process x {args.threads} threads': launch(work, 'b', 1, args.threads, args.bs),
                f'2 processes x {half} thread(s)': launch(work, 'c', 2, half, args.bs)}
    print(f"{len(train)} images x {runs['1 process x 1 thread']['candidates'] // len(train)} candidates, resnet18 64x64, CPU")
    rate = {k: r['candidates'] / r['seconds'] for k, r in runs.items()}
    for k, r in runs.items(): print(f"{k:<26} {r['seconds']:6.1f} s  {rate[k]:7.1f} candidates/s")
    one, many, two = rate.values()
    print(f"2 processes / 1 process (1 thread):        {two / one:.2f}x")
    print(f"2 processes / 1 process ({args.threads} threads, same cores): {two / many:.2f}x")

if __name__ == '__main__': main()
