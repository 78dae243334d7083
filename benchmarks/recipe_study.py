"""Which tricks of the strong ReID recipe carry over to a small from-scratch model, and how much the budget matters.

Each row adds a trick to the row above (the shape of the published ablation of the "bag of tricks" baseline), and
trains a phase-1 model (no attention, resnet18 from scratch, 64 px, the 100-identity synthetic benchmark) for every
seed; each model is then scored on the benchmark's clean and occluded queries. Resumable: finished runs are read
back from the run folder, and the table is rewritten after each run.

    python benchmarks/recipe_study.py                                  # 3 seeds, 24 epochs, every row
    python benchmarks/recipe_study.py --seeds 0 --rows paper-8,paper   # a subset
Writes `<out>/recipe_study.csv` (one row per arm and seed) and prints mean ± std over seeds, in %.
"""
import argparse, time
from pathlib import Path
import pandas as pd
from odfm.core import RunLock, atomic_write
from odfm.pipeline import ODFMConfig, open_run, run_data, train_valid, train_phase
from odfm.synth_validity import retrieval_stats

def rows(epochs:int):
    "The arms, each adding a trick to the one before (settings of `ODFMConfig`)"
    paper = dict(recipe='paper', attention='none', epochs1=epochs)
    pk = paper | dict(sampler_p=8, sampler_k=4, triplet=1.0)
    bn = pk | dict(bnneck=True, dropout=0.0)
    ls = bn | dict(label_smoothing=0.1)
    strong = dict(recipe='strong', attention='none', epochs1=epochs, sampler_p=8, sampler_k=4, warmup=max(1, epochs // 12), milestones=())
    return {'paper-8': paper | dict(epochs1=8), 'paper': paper, '+sampler+triplet': pk, '+bnneck': bn, '+label smoothing': ls,
            'strong (Adam, warmup, last stride 1, RE)': strong}

def measure(name:str, settings:dict, seed:int, run_dir:Path)->dict:
    "Train (or reuse) one arm's phase-1 model for `seed` and score it"
    cfg = ODFMConfig(seed=seed, **settings)
    run, ds = open_run(cfg, run_dir, evaluate=True)
    with RunLock(run.path):
        ds = run_data(run, ds)
        t = time.perf_counter()
        model = train_phase(cfg, run.make('phase1'), *train_valid(ds, cfg), cfg.epochs1)
        secs = time.perf_counter() - t
        stats = retrieval_stats(model, ds, cfg)
    keep = ['mAP_query_clean', 'R1_query_clean', 'mAP_query_occluded', 'mAP_query_occluded_clean', 'mAP_query', 'mAP_hist']
    return dict(arm=name, seed=seed, epochs=cfg.epochs1, train_seconds=round(secs, 1), **{k: stats[k] for k in keep})

def summary(df:pd.DataFrame)->pd.DataFrame:
    "Mean ± std over seeds (%), with the occlusion cost in points and as a share of the clean twins' mAP"
    df = df.assign(cost=df.mAP_query_occluded_clean - df.mAP_query_occluded)
    df = df.assign(cost_share=df.cost / df.mAP_query_occluded_clean)
    cols = ['mAP_query_clean', 'R1_query_clean', 'mAP_query_occluded', 'cost', 'cost_share']
    agg = df.groupby('arm', sort=False)[cols].agg(lambda x: f'{100 * x.mean():.1f} ± {100 * x.std():.1f}')
    return agg.assign(seeds=df.groupby('arm', sort=False).seed.nunique())

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--run-dir', default='runs/recipes'); p.add_argument('--out', default='benchmarks/results')
    p.add_argument('--seeds', default='0,1,2'); p.add_argument('--epochs', type=int, default=24)
    p.add_argument('--rows', default=None, help='comma-separated arm names (default: all)')
    a = p.parse_args()
    arms = rows(a.epochs)
    names, part = [], ''
    for piece in (a.rows.split(',') if a.rows else []):  # arm names hold commas: join pieces until they name an arm
        part = f'{part},{piece}' if part else piece
        if part in arms: names.append(part); part = ''
    if part: raise SystemExit(f"unknown row {part!r}; the rows are: {'; '.join(arms)}")
    names = names or list(arms)
    out = Path(a.out)/'recipe_study.csv'
    done = pd.read_csv(out) if out.exists() else pd.DataFrame(columns=['arm', 'seed'])
    res = [r for r in done.to_dict('records')]
    for seed in [int(s) for s in a.seeds.split(',')]:
        for name in names:
            if ((done.arm == name) & (done.seed == seed)).any(): continue
            res.append(measure(name, arms[name], seed, Path(a.run_dir)))
            atomic_write(out, lambda f: pd.DataFrame(res).to_csv(f, index=False), 'w')
            print(summary(pd.DataFrame(res)).to_string(), flush=True)
    print(summary(pd.DataFrame(res)).to_string())
