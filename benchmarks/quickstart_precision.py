"""The quickstart end to end in fp32 and in bf16, seed by seed, in one run: wall time and metrics of both models.

    python benchmarks/quickstart_precision.py [--seeds 0,1,2] [--run-dir runs/quickstart-precision] [--out benchmarks/results/quickstart_precision.csv]

Each seed runs `odfm quickstart --seed S` (benchmark generation, phase 1, mining, phase 3, evaluation of both models)
once with `precision='fp32'` and once with `precision='bf16'`, in alternating order from seed to seed so that a
burst of load from other processes does not fall on one precision only. Each (seed, precision) gets its own run
folder, so nothing is shared between the two but the generated benchmark's settings. A row per finished run is
appended to --out (CSV); a re-run skips the rows already there. Progress is logged as plain lines (`odfm.cli.plain_progress`). bf16 needs a device that computes in it natively
(`odfm.model.native_bf16`): elsewhere the script stops with the reason.
"""
import argparse, os, platform, time
from pathlib import Path
import pandas as pd, torch
from odfm.model import cpu_flags, bf16_cpu_flags, native_bf16
from odfm.pipeline import ODFMConfig, quickstart_settings, run_odfm
from odfm.cli import plain_progress

p = argparse.ArgumentParser()
p.add_argument('--seeds', default='0,1,2'); p.add_argument('--run-dir', default='runs/quickstart-precision')
p.add_argument('--out', default='benchmarks/results/quickstart_precision.csv')
a = p.parse_args()
if not native_bf16('cpu'): raise SystemExit(f"this CPU has none of {', '.join(bf16_cpu_flags)}: bf16 would be emulated, nothing to compare")
out = Path(a.out)
done = pd.read_csv(out) if out.exists() else pd.DataFrame(columns=['seed', 'precision'])
print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
      f"bf16 flags: {sorted(set(bf16_cpu_flags) & cpu_flags())}, load {os.getloadavg()[0]:.2f}", flush=True)
for i, s in enumerate(int(s) for s in a.seeds.split(',')):
    for prec in (('fp32', 'bf16') if i % 2 == 0 else ('bf16', 'fp32')):
        if ((done.seed == s) & (done.precision == prec)).any(): continue
        load0, t = os.getloadavg()[0], time.perf_counter()
        with plain_progress(): res = run_odfm(ODFMConfig(**quickstart_settings, seed=s, precision=prec), Path(a.run_dir)/f'{prec}-{s}')
        row = dict(seed=s, precision=prec, wall_s=round(time.perf_counter() - t, 1), load_before=round(load0, 2),
                   load_after=round(os.getloadavg()[0], 2))
        for m in ('phase1', 'odfm'):
            for q in ('query_clean', 'query_occluded'):
                row[f'{m}_{q.split("_")[1]}_mAP'] = round(100 * res['metrics'][m][q]['mAP'], 2)
        print(row, flush=True)
        pd.DataFrame([row]).to_csv(out, mode='a', header=not out.exists(), index=False)
        done = pd.read_csv(out)
