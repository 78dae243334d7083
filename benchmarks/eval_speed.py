"""End-to-end speed of odfm's evaluator (`feature_metrics`: features in, VeRi-776 metrics out) on a VeRi-sized problem.

    python benchmarks/eval_speed.py [--n-query 1678] [--n-gallery 11579] [--dim 2048] [--rounds 7] [--save benchmarks/results/eval_speed]

The problem has VeRi-776's shape: 1,678 queries x 11,579 gallery images, 2048-d float32 features, 200 identities,
20 cameras; features are an identity centre plus noise, so true matches are closer (mAP near 50 %).
Timed in one run, interleaved: each of --rounds rounds times every route once, in a rotating order, so a burst of load
from other processes on a shared machine hits all routes alike; the script reports the median and the best wall time
of each route, and the ratios of routes measured in the same round (median, min and max over rounds). It also reports
CPU time (all threads of this process), which other processes disturb less: its ratios are those of the work done,
what the wall-time ratios become when only one core is free:
  1. `odfm.ranking.feature_metrics`, end to end (distances included);
  2. fast-reid's route: a NumPy distance matrix, then fast-reid's compiled Cython evaluator (`evaluate_cy`) on it.
     fast-reid is not a dependency and none of its code is in this repository: the script takes its `rank_cy.pyx`
     from the `fastreid` wheel on PyPI and builds it with Cython in a scratch folder (--scratch, outside the
     repository), or uses `fastreid`/`rank_cy` when they are importable;
  3. the distance matrix alone: `odfm.evaluate.euclidean_dist` beside ONE NumPy matrix product of the same shape
     (q @ g.T, the floor for any exact evaluator), and two other ways of writing it that were measured before choosing:
     the norms folded into one product of augmented matrices, and `torch.addmm` with beta/alpha;
  4. once, not repeated (it takes half a minute): torchreid's route, its distance matrix (torch, squared Euclidean)
     and its NumPy evaluator, a loop over queries (`eval_market1501`, reproduced below with fast-reid's mINP), on ALL queries.
Exactness: `feature_metrics` must equal, on odfm's own distance matrix (`euclidean_dist`, the very distances it ranks),
the per-query loop of route 4 on every query and `odfm.evaluate.reference_metrics` (the notebook's plain-Python
definition) on every --ref-every-th query: the same first hit, and AP, INP, mAP, CMC and mINP to 1e-12. Routes with
NumPy's distances differ by rounding; their differences are printed.
With --save PREFIX it writes PREFIX.txt (this output) and PREFIX.json (every round's times, the machine and its load).
"""
import argparse, datetime, io, json, os, platform, resource, subprocess, sys, time, zipfile
from contextlib import redirect_stdout
from pathlib import Path
import numpy as np
import torch
from odfm.evaluate import euclidean_dist, reference_metrics
from odfm.ranking import feature_metrics, veri_metrics

FASTREID = 'fastreid==1.4.0'


def veri_problem(nq, ng, dim, n_ids, n_cams, seed=0):
    "Features and labels of a random VeRi-like problem: identity centres plus noise"
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(n_ids, dim, generator=g)
    g_vids, q_vids = torch.randint(0, n_ids, (ng,), generator=g), torch.randint(0, n_ids, (nq,), generator=g)
    g_cams, q_cams = torch.randint(0, n_cams, (ng,), generator=g), torch.randint(0, n_cams, (nq,), generator=g)
    signal = 0.28  # identity signal against unit noise: mAP around 50 %, neither trivial nor chance
    gf = signal * centres[g_vids] + torch.randn(ng, dim, generator=g)
    qf = signal * centres[q_vids] + torch.randn(nq, dim, generator=g)
    return qf, gf, q_vids.numpy(), g_vids.numpy(), q_cams.numpy(), g_cams.numpy()


def torchreid_distance(qf, gf):
    "torchreid's `compute_distance_matrix(metric='euclidean')`: squared Euclidean distances, in torch"
    m, n = qf.size(0), gf.size(0)
    d = torch.pow(qf, 2).sum(dim=1, keepdim=True).expand(m, n) + torch.pow(gf, 2).sum(dim=1, keepdim=True).expand(n, m).t()
    return d.addmm_(qf, gf.t(), beta=1, alpha=-2)


def torchreid_loop(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=50):
    "torchreid's NumPy `eval_market1501` (a loop over queries), with fast-reid's mINP; ties in gallery order (stable sort)"
    num_q, num_g = distmat.shape
    indices = np.argsort(distmat, axis=1, kind='stable')
    matches = (g_pids[indices] == q_pids[:, np.newaxis]).astype(np.int32)
    all_cmc, all_AP, all_INP = [], [], []
    for q_idx in range(num_q):
        q_pid, q_camid = q_pids[q_idx], q_camids[q_idx]
        order = indices[q_idx]
        keep = np.invert((g_pids[order] == q_pid) & (g_camids[order] == q_camid))
        raw_cmc = matches[q_idx][keep]
        if not np.any(raw_cmc): continue
        cmc = raw_cmc.cumsum()
        max_pos_idx = np.max(np.where(raw_cmc == 1))
        all_INP.append(cmc[max_pos_idx] / (max_pos_idx + 1.0))
        cmc[cmc > 1] = 1
        all_cmc.append(cmc[:max_rank])
        num_rel = raw_cmc.sum()
        tmp_cmc = raw_cmc.cumsum()
        tmp_cmc = [x / (i + 1.) for i, x in enumerate(tmp_cmc)]
        tmp_cmc = np.asarray(tmp_cmc) * raw_cmc
        all_AP.append(tmp_cmc.sum() / num_rel)
    return np.asarray(all_cmc).astype(np.float64).mean(0), float(np.mean(all_AP)), float(np.mean(all_INP))


def numpy_distance(q, g):
    "A NumPy Euclidean distance matrix, written the plain way"
    d2 = (q ** 2).sum(1)[:, None] + (g ** 2).sum(1)[None] - 2 * (q @ g.T)
    return np.sqrt(np.maximum(d2, 0))


def augmented_distance(q, g):
    "The norms folded into ONE product: [-2q, 1, |q|^2] @ [g, |g|^2, 1].T, then clamp and square root in place"
    qa, ga = np.empty((len(q), q.shape[1] + 2), np.float32), np.empty((len(g), g.shape[1] + 2), np.float32)
    qa[:, :-2], qa[:, -2], qa[:, -1] = q * np.float32(-2), 1, np.einsum('ij,ij->i', q, q)
    ga[:, :-2], ga[:, -2], ga[:, -1] = g, np.einsum('ij,ij->i', g, g), 1
    d = qa @ ga.T
    np.maximum(d, 0, out=d)
    return np.sqrt(d, out=d)


def addmm_distance(qf, gf):
    "torch: the norms as the `input` of `addmm` (beta=1, alpha=-2), then clamp and square root in place"
    d = torch.addmm(qf.pow(2).sum(1, keepdim=True) + gf.pow(2).sum(1), qf, gf.t(), beta=1, alpha=-2)
    return d.clamp_(min=0).sqrt_()


def build_rank_cy(scratch:Path):
    "fast-reid's `rank_cy.pyx` from its PyPI wheel, compiled with Cython in `scratch`; the folder to put on sys.path"
    src = scratch/'rank_cylib'
    if not list(src.glob('rank_cy*.so')):
        src.mkdir(parents=True, exist_ok=True)
        pip = [sys.executable, '-m', 'pip', '-q']
        subprocess.run(pip + ['download', '--no-deps', '-d', str(scratch), FASTREID], check=True)
        whl = next(scratch.glob('fastreid-*.whl'))
        (src/'rank_cy.pyx').write_bytes(zipfile.ZipFile(whl).read('fastreid/evaluation/rank_cylib/rank_cy.pyx'))
        subprocess.run(pip + ['install', '--target', str(scratch/'cython'), 'cython'], check=True)
        setup = ("import sys, numpy as np; sys.path.insert(0, sys.argv[1]); from setuptools import setup, Extension; "
                 "from Cython.Build import cythonize; setup(name='rank_cy', script_args=['build_ext', '--inplace', '-q'], "
                 "ext_modules=cythonize([Extension('rank_cy', ['rank_cy.pyx'], include_dirs=[np.get_include()])], quiet=True))")
        subprocess.run([sys.executable, '-c', setup, str(scratch/'cython')], cwd=src, check=True, capture_output=True)
    return src


def fastreid_ranker(scratch:Path, build:bool=True):
    "(name, evaluate) of fast-reid's compiled evaluator: the installed package's, a `rank_cy` on the path, or one built in `scratch`"
    try: return "fast-reid's Cython evaluate_cy (fastreid package)", _wrap(__import__('fastreid.evaluation.rank_cylib.rank_cy', fromlist=['x']))
    except Exception: pass
    try: return "fast-reid's Cython evaluate_cy (rank_cy on the path)", _wrap(__import__('rank_cy'))
    except Exception: pass
    if not build: return None, None
    try: sys.path.insert(0, str(build_rank_cy(scratch)))
    except Exception as e:
        print(f"could not build fast-reid's evaluator in {scratch}: {e}"); return None, None
    return f"fast-reid's Cython evaluate_cy ({FASTREID}, built in a scratch folder)", _wrap(__import__('rank_cy'))


def _wrap(mod):
    "`mod.evaluate_cy` returning (cmc, mAP, mINP) like the other routes"
    def run(d, qv, gv, qc, gc):
        cmc, ap, inp = mod.evaluate_cy(d, qv, gv, qc, gc, 50)
        return np.asarray(cmc, dtype=np.float64), float(np.mean(ap)), float(np.mean(inp))
    return run


def gaps(a, b):
    "Largest |difference| in mAP, CMC (all ranks) and mINP between two (cmc, mAP, mINP) triples"
    return dict(mAP=abs(a[1] - b[1]), CMC=float(np.abs(np.asarray(a[0]) - np.asarray(b[0])).max()), mINP=abs(a[2] - b[2]))


def fmt(g): return ', '.join(f"{k} {v:.1e}" for k, v in g.items())


def interleaved(routes:dict, rounds:int):
    "Wall and CPU seconds of each route in each round; every round runs every route once, starting one route later than the last"
    names, wall, cpu = list(routes), {n: [] for n in routes}, {n: [] for n in routes}
    for r in range(rounds):
        for n in names[r % len(names):] + names[:r % len(names)]:
            t, c = time.perf_counter(), time.process_time()
            routes[n]()
            wall[n].append(time.perf_counter() - t); cpu[n].append(time.process_time() - c)
    return wall, cpu


def machine():
    "What the numbers were measured on"
    info = open('/proc/cpuinfo').read() if os.path.exists('/proc/cpuinfo') else ''
    cpu = next((l.split(':', 1)[1].strip() for l in info.splitlines() if l.startswith('model name')), platform.processor())
    flags = sorted({f for l in info.splitlines() if l.startswith('flags') for f in l.split(':', 1)[1].split()} &
                   {'avx2', 'avx512f', 'avx512_bf16', 'amx_bf16'})
    return dict(cpu=cpu, cpu_flags=flags, cpus=os.cpu_count(), torch_threads=torch.get_num_threads(), numpy=np.__version__,
                torch=torch.__version__, python=platform.python_version(), omp_num_threads=os.environ.get('OMP_NUM_THREADS'),
                date=datetime.datetime.now().isoformat(timespec='seconds'))


def check_exact(fm, d, qv, gv, qc, gc, every):
    "feature_metrics against reference_metrics (plain Python) on every `every`-th query, on the same distances"
    idx = np.arange(0, len(qv), every)
    rows = [(-1, np.nan, np.nan) if r is None else r for r in reference_metrics(d, qv, gv, qc, gc, queries=idx.tolist())]
    first, ap, inp = map(np.asarray, zip(*rows))
    assert np.array_equal(first, fm.first[idx]), 'first hits differ from reference_metrics'
    g = dict(AP=float(np.nanmax(np.abs(ap - fm.ap[idx]))), INP=float(np.nanmax(np.abs(inp - fm.inp[idx]))))
    assert all(v <= 1e-12 for v in g.values()), g
    return len(idx), g


def run(a):
    res = dict(machine=machine(), load_before=os.getloadavg())
    mc = res['machine']
    print(f"problem: {a.n_query} queries x {a.n_gallery} gallery, {a.dim}-d, {a.n_ids} ids, {a.n_cams} cameras")
    print(f"machine: {mc['cpu']} ({', '.join(mc['cpu_flags'])}), {mc['cpus']} CPUs, torch threads {mc['torch_threads']}, "
          f"numpy {np.__version__}, torch {torch.__version__}, {mc['date'][:10]}; load average before {res['load_before'][0]:.2f}")
    qf, gf, qv, gv, qc, gc = veri_problem(a.n_query, a.n_gallery, a.dim, a.n_ids, a.n_cams)
    q, g = qf.numpy(), gf.numpy()
    fr_name, fr = fastreid_ranker(Path(a.scratch).expanduser(), not a.no_build)
    if fr is None: print("fast-reid's evaluator is not available: its route is skipped")

    fm = feature_metrics(qf, gf, qv, gv, qc, gc)
    ours = (fm.cmc, fm.mAP, fm.mINP)
    print(f"\n{fm}\n")
    d = euclidean_dist(qf, gf).numpy()  # the distances feature_metrics ranks, for an exact comparison
    same = veri_metrics(d, qv, gv, qc, gc)
    assert np.array_equal(same.first, fm.first) and np.array_equal(same.ap, fm.ap) and np.array_equal(same.inp, fm.inp)
    n_ref, g_ref = check_exact(fm, d, qv, gv, qc, gc, a.ref_every)
    print(f"exact: on the same distances, feature_metrics = veri_metrics(euclidean_dist) bit for bit, and = reference_metrics "
          f"(plain Python) on {n_ref} queries: same first hits, AP to {g_ref['AP']:.0e}, INP to {g_ref['INP']:.0e}")

    routes = {'odfm feature_metrics': lambda: feature_metrics(qf, gf, qv, gv, qc, gc),
              'NumPy distance matrix (plain)': lambda: numpy_distance(q, g)}
    dn = numpy_distance(q, g)
    if fr: routes[fr_name] = lambda: fr(dn, qv, gv, qc, gc)
    routes.update({'odfm euclidean_dist': lambda: euclidean_dist(qf, gf), 'one NumPy GEMM q @ g.T': lambda: q @ g.T,
                   'augmented single GEMM + clamp + sqrt': lambda: augmented_distance(q, g),
                   'torch.addmm (beta, alpha) + clamp + sqrt': lambda: addmm_distance(qf, gf)})
    times, cpu_times = interleaved(routes, a.rounds)
    t, c = ({n: np.asarray(v) for n, v in x.items()} for x in (times, cpu_times))
    print(f"\nseconds over {a.rounds} interleaved rounds: wall (median, best), and CPU time of all threads (median):")
    for n, v in t.items(): print(f"  {n:58s} {np.median(v):6.3f}  {v.min():6.3f}   cpu {np.median(c[n]):6.3f}")

    ratios = {}
    def ratio(name, num, den, cnum=None, cden=None):
        r, rc = num / den, (cnum if cnum is not None else num) / (cden if cden is not None else den)
        ratios[name] = dict(median=float(np.median(r)), min=float(r.min()), max=float(r.max()), cpu_median=float(np.median(rc)))
        print(f"  {name:58s} {np.median(r):5.2f}x  (rounds: {r.min():.2f}-{r.max():.2f}; CPU time {np.median(rc):.2f}x)")
    print("\nratios of wall times of routes timed in the same round (median, and the range over rounds; and of CPU times):")
    if fr:
        fr_route = t['NumPy distance matrix (plain)'] + t[fr_name]
        ratio("fast-reid route / odfm end to end (goal >= 2x)", fr_route, t['odfm feature_metrics'],
              c['NumPy distance matrix (plain)'] + c[fr_name], c['odfm feature_metrics'])
        ratio("(odfm distances + fast-reid's evaluator) / odfm end to end", t['odfm euclidean_dist'] + t[fr_name], t['odfm feature_metrics'],
              c['odfm euclidean_dist'] + c[fr_name], c['odfm feature_metrics'])
        g_fr = gaps(ours, fr(dn, qv, gv, qc, gc))
        print(f"  (fast-reid on NumPy's distances differs from feature_metrics by rounding: {fmt(g_fr)})")
    ratio("odfm euclidean_dist / one GEMM (goal ~1x)", t['odfm euclidean_dist'], t['one NumPy GEMM q @ g.T'], c['odfm euclidean_dist'], c['one NumPy GEMM q @ g.T'])
    ratio("augmented single GEMM / one GEMM", t['augmented single GEMM + clamp + sqrt'], t['one NumPy GEMM q @ g.T'], c['augmented single GEMM + clamp + sqrt'], c['one NumPy GEMM q @ g.T'])
    ratio("torch.addmm / one GEMM", t['torch.addmm (beta, alpha) + clamp + sqrt'], t['one NumPy GEMM q @ g.T'], c['torch.addmm (beta, alpha) + clamp + sqrt'], c['one NumPy GEMM q @ g.T'])
    ratio("odfm feature_metrics / one GEMM", t['odfm feature_metrics'], t['one NumPy GEMM q @ g.T'], c['odfm feature_metrics'], c['one NumPy GEMM q @ g.T'])

    t_tdist = time.perf_counter(); torchreid_distance(qf, gf); t_tdist = time.perf_counter() - t_tdist
    t_loop = time.perf_counter(); loop = torchreid_loop(d, qv, gv, qc, gc); t_loop = time.perf_counter() - t_loop
    g_loop = gaps(ours, loop)
    assert all(v <= 1e-12 for v in g_loop.values()), g_loop
    t_fm = float(np.median(t['odfm feature_metrics']))
    print(f"\nonce: torchreid's route, distance matrix {t_tdist:.3f} s + per-query NumPy loop {t_loop:.3f} s (all queries) = "
          f"{t_tdist + t_loop:.3f} s: {(t_tdist + t_loop) / t_fm:.0f}x odfm's median")
    print(f"  the loop on odfm's distances agrees with feature_metrics: {fmt(g_loop)}")
    res.update(problem={k: v for k, v in vars(a).items() if k not in ('scratch', 'save')}, feature_metrics=fm.to_dict(), fastreid=fr_name, times=times, cpu_times=cpu_times,
               ratios=ratios, exact=dict(reference_queries=n_ref, reference_gaps=g_ref, loop_gaps=g_loop),
               torchreid=dict(distance_seconds=t_tdist, loop_seconds=t_loop, total=t_tdist + t_loop),
               max_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10, load_after=os.getloadavg())
    print(f"load average after: {res['load_after'][0]:.2f} (1 min), {res['load_after'][1]:.2f} (5 min); "
          f"process max RSS {res['max_rss_mib']:.0f} MiB")
    return res


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--n-query', type=int, default=1678); p.add_argument('--n-gallery', type=int, default=11579)
    p.add_argument('--dim', type=int, default=2048); p.add_argument('--n-ids', type=int, default=200)
    p.add_argument('--n-cams', type=int, default=20); p.add_argument('--rounds', type=int, default=7)
    p.add_argument('--ref-every', type=int, default=8, help='check reference_metrics on every N-th query')
    p.add_argument('--scratch', default='~/.cache/odfm-bench/fastreid', help="where fast-reid's evaluator is built")
    p.add_argument('--no-build', action='store_true', help="do not build fast-reid's evaluator")
    p.add_argument('--save', help='write PREFIX.txt (the output) and PREFIX.json (the numbers)')
    a = p.parse_args()
    buf = io.StringIO()
    class Tee(io.TextIOBase):
        def write(self, s): sys.__stdout__.write(s); sys.__stdout__.flush(); return buf.write(s)
    with redirect_stdout(Tee()): res = run(a)
    if a.save:
        os.makedirs(os.path.dirname(a.save) or '.', exist_ok=True)
        open(a.save + '.txt', 'w').write(buf.getvalue())
        json.dump(res, open(a.save + '.json', 'w'), indent=1, default=float)


if __name__ == '__main__': main()
