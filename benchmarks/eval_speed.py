"""End-to-end speed of odfm's evaluator (`feature_metrics`: features in, VeRi-776 metrics out) on a VeRi-sized problem.

    python benchmarks/eval_speed.py [--n-query 1678] [--n-gallery 11579] [--dim 2048] [--save benchmarks/results/eval_speed]

The problem has VeRi-776's shape: 1,678 queries x 11,579 gallery images, 2048-d float32 features, 200 identities,
20 cameras; features are an identity centre plus noise, so true matches are closer (mAP near 50 %).
Timed in one run, every route going from the same features to CMC, mAP and mINP:
  1. `odfm.evaluate.feature_metrics`, end to end (distances included), best of --repeat;
  2. torchreid's route: its distance matrix (torch, squared Euclidean), then its NumPy evaluator, a loop over
     queries (`eval_market1501`, reproduced below with fast-reid's mINP), on ALL queries (not extrapolated);
  3. a NumPy distance matrix ranked by the fastest evaluator this Python can import: fast-reid's compiled Cython
     `evaluate_cy` (the `fastreid` package, or its `rank_cy` module built in place and put on PYTHONPATH),
     torchreid's Cython one, and odfm's own `veri_metrics` on the matrix; each is timed, the fastest counts.
Exactness: the per-query loop runs on odfm's own distance matrix (`euclidean_dist`, the very distances
`feature_metrics` ranks), so the two must agree to 1e-6 in mAP, every CMC rank and mINP: the script asserts it.
Routes with other distances (NumPy's, torch's) are reported with their differences, which come from rounding.
With --save PREFIX it writes PREFIX.txt (this output) and PREFIX.json (the numbers, the machine and its load).
"""
import argparse, datetime, io, json, os, platform, resource, sys, time
from contextlib import redirect_stdout
import numpy as np
import torch
from odfm.evaluate import euclidean_dist, feature_metrics, veri_metrics


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


def cython_rankers():
    "(name, evaluate) for each compiled evaluator importable here: fast-reid's, then torchreid's"
    found = []
    for name, mod in [("fast-reid's Cython evaluate_cy", 'fastreid.evaluation.rank_cylib.rank_cy'),
                      ("fast-reid's Cython evaluate_cy (rank_cy built in place)", 'rank_cy'),
                      ("torchreid's Cython evaluate_cy", 'torchreid.reid.metrics.rank_cylib.rank_cy'),
                      ("torchreid's Cython evaluate_cy", 'torchreid.metrics.rank_cylib.rank_cy')]:
        try: fn = __import__(mod, fromlist=['evaluate_cy']).evaluate_cy
        except Exception: continue
        def run(d, qv, gv, qc, gc, fn=fn):
            cmc, ap, inp = fn(d, qv, gv, qc, gc, 50)
            return np.asarray(cmc, dtype=np.float64), float(np.mean(ap)), float(np.mean(inp))
        found.append((name, run))
    return found


def odfm_ranker(d, qv, gv, qc, gc):
    m = veri_metrics(d, qv, gv, qc, gc)
    return m.cmc, m.mAP, m.mINP


def timed(f, repeat=1):
    "Best wall time of `repeat` calls of `f`, and its last result"
    best = float('inf')
    for _ in range(repeat):
        t = time.perf_counter(); r = f(); best = min(best, time.perf_counter() - t)
    return best, r


def gaps(a, b):
    "Largest |difference| in mAP, CMC (all ranks) and mINP between two (cmc, mAP, mINP) triples"
    return dict(mAP=abs(a[1] - b[1]), CMC=float(np.abs(np.asarray(a[0]) - np.asarray(b[0])).max()), mINP=abs(a[2] - b[2]))


def fmt(g): return ', '.join(f"{k} {v:.1e}" for k, v in g.items())


def machine():
    "What the numbers were measured on"
    cpu = next((l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), platform.processor()) \
        if os.path.exists('/proc/cpuinfo') else platform.processor()
    return dict(cpu=cpu, cpus=os.cpu_count(), torch_threads=torch.get_num_threads(), numpy=np.__version__, torch=torch.__version__,
                python=platform.python_version(), omp_num_threads=os.environ.get('OMP_NUM_THREADS'),
                date=datetime.datetime.now().isoformat(timespec='seconds'))


def run(a):
    res = dict(machine=machine(), load_before=os.getloadavg())
    print(f"problem: {a.n_query} queries x {a.n_gallery} gallery, {a.dim}-d, {a.n_ids} ids, {a.n_cams} cameras")
    print(f"machine: {res['machine']['cpu']}, {res['machine']['cpus']} CPUs, torch threads {res['machine']['torch_threads']}, "
          f"numpy {np.__version__}, torch {torch.__version__}; load average before {res['load_before'][0]:.2f}")
    qf, gf, qv, gv, qc, gc = veri_problem(a.n_query, a.n_gallery, a.dim, a.n_ids, a.n_cams)

    t_fm, fm = timed(lambda: feature_metrics(qf, gf, qv, gv, qc, gc), a.repeat)
    ours = (fm.cmc, fm.mAP, fm.mINP)
    print(f"\n{fm}\n")
    print(f"1. odfm feature_metrics, end to end (best of {a.repeat}):                 {t_fm:7.3f} s")

    t_tdist, _ = timed(lambda: torchreid_distance(qf, gf), a.repeat)
    d = euclidean_dist(qf, gf).numpy()  # the distances feature_metrics ranks, for an exact comparison
    t_loop, loop = timed(lambda: torchreid_loop(d, qv, gv, qc, gc))
    t_tr = t_tdist + t_loop
    g_loop = gaps(ours, loop)
    assert all(v <= 1e-6 for v in g_loop.values()), g_loop
    print(f"2. torchreid: distance matrix {t_tdist:.3f} s + per-query NumPy loop {t_loop:.3f} s (all queries) = {t_tr:7.3f} s")
    print(f"   agreement with feature_metrics on the same distances: {fmt(g_loop)}")

    t_np, dn = timed(lambda: numpy_distance(qf.numpy(), gf.numpy()), a.repeat)
    rankers = cython_rankers() + [("odfm's veri_metrics on the matrix", odfm_ranker)]
    print(f"3. NumPy distance matrix: {t_np:.3f} s, then each ranking this Python can import:")
    ranked = []
    for name, f in rankers:
        t_r, r = timed(lambda: f(dn, qv, gv, qc, gc), a.repeat)
        ranked.append(dict(name=name, seconds=t_r, total=t_np + t_r, gaps=gaps(ours, r)))
        print(f"   {name}: {t_r:.3f} s -> {t_np + t_r:.3f} s in all; differences from feature_metrics "
              f"(NumPy's rounding of the distances): {fmt(ranked[-1]['gaps'])}")
    best = min(ranked, key=lambda r: r['total'])
    same = veri_metrics(d, qv, gv, qc, gc)
    assert np.array_equal(same.first, fm.first) and np.allclose(same.ap, fm.ap, rtol=0, atol=1e-12)
    print(f"   (veri_metrics on odfm's own distance matrix equals feature_metrics exactly: same first hits, AP to 1e-12)")

    print(f"\nfeature_metrics end to end: {t_fm:.3f} s")
    print(f"  vs torchreid's distances + per-query loop: {t_tr:.3f} s -> {t_tr / t_fm:.1f}x faster (goal >= 20x)")
    print(f"  vs NumPy distances + the fastest ranking found ({best['name']}): {best['total']:.3f} s -> "
          f"{best['total'] / t_fm:.2f}x faster (goal > 1x)")
    print(f"  exact: mAP, CMC and mINP equal the per-query loop's to {max(g_loop.values()):.1e} (limit 1e-6)")
    res.update(problem=vars(a), feature_metrics=dict(seconds=t_fm, **fm.to_dict()),
               torchreid=dict(distance_seconds=t_tdist, loop_seconds=t_loop, total=t_tr, gaps=g_loop),
               numpy_distance_seconds=t_np, rankers=ranked, fastest=best['name'],
               speedup_vs_torchreid=t_tr / t_fm, speedup_vs_fastest=best['total'] / t_fm,
               max_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10, load_after=os.getloadavg())
    print(f"load average after: {res['load_after'][0]:.2f} (1 min), {res['load_after'][1]:.2f} (5 min); "
          f"process max RSS {res['max_rss_mib']:.0f} MiB")
    return res


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--n-query', type=int, default=1678); p.add_argument('--n-gallery', type=int, default=11579)
    p.add_argument('--dim', type=int, default=2048); p.add_argument('--n-ids', type=int, default=200)
    p.add_argument('--n-cams', type=int, default=20); p.add_argument('--repeat', type=int, default=3)
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
