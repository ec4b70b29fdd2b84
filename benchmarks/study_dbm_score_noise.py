"""How precise is the DBM score of ``bench_partial_fit.py``, and is partial_fit below fit?

Issue 20, DBM on MNIST-10k (``n_components=(16, 16)``, 10 epochs, binary MNIST-10k, the
bench's two routes: ``fit``, and ``partial_fit`` at ``learning_rate="auto"`` over the
bench's 10 fixed chunks for 10 passes). For every seed both models are scored on the
training rows, each minus the independent-Bernoulli baseline (the bench's score):

- ``bound``: ``est.score(X)``, what the bench reads: the mean-field lower bound (50
  sweeps) minus ``log_partition_``; ``method`` says how log Z was computed (with 16 units
  in the odd layer it is "exact": 2**16 states, no sampling noise);
- ``bound_ais``: the same bound with log Z from AIS at the estimator's lazy settings (100
  chains, 10 000 temperatures), one value per AIS seed: what the score would read, and
  how much it would move, if log Z were estimated;
- ``exact_ll``: the exact mean log-likelihood, log p(v) with the 2**16 states of the first
  hidden layer enumerated and the second summed out (no bound slack, no sampling).

Run from the repository root (one thread)::

    OMP_NUM_THREADS=1 python benchmarks/study_dbm_score_noise.py --seeds 0 1 2 3 4 5 6 7 \
        --out benchmarks/results/study_dbm_score_noise.jsonl

More seeds, the bench's score only (``--bound-only``: it equals the exact log-likelihood
to 0.001 nats on seeds 0-7)::

    OMP_NUM_THREADS=1 python benchmarks/study_dbm_score_noise.py --bound-only \
        --seeds 8 9 10 11 12 13 14 15 16 17 18 19 \
        --out benchmarks/results/study_dbm_score_noise.jsonl

The paired statistics of the report::

    python benchmarks/study_dbm_score_noise.py \
        --summary benchmarks/results/study_dbm_score_noise.jsonl
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import append_jsonl
from study_dbm_partial_fit import _baseline, _data  # the same rows and baseline


def exact_log_likelihood(module, V, rows=250):
    """log p(v) of each row of a binary DBM with two hidden layers (float64 module):
    the first hidden layer's 2**n states enumerated, the second summed out, minus the
    exact log Z."""
    import torch

    from skdeepclust.nn import dbm as _dbm
    from skdeepclust.nn.partition import _binary_codes

    if module.n_layers != 3 or module.gaussian:
        raise ValueError("binary visibles and two hidden layers only")
    kw = module._kw()
    n1 = module.sizes[1]
    mu0, mu1, mu2 = module.offsets
    b0, b1, b2 = module.biases
    W0, W1 = module.weights
    with torch.no_grad():
        H = _binary_codes(0, 2**n1, n1, kw["dtype"], kw["device"]) - mu1  # (S, n1)
        a2 = b2 + H @ W1  # (S, n2)
        const = H @ b1 + (torch.nn.functional.softplus(a2) - mu2 * a2).sum(1)  # (S,)
        out = []
        for start in range(0, V.shape[0], rows):
            c = V[start:start + rows].to(kw["dtype"]) - mu0
            s = c @ W0  # (B, n1)
            out.append(c @ b0 + torch.logsumexp(s @ H.T + const, 1))
        log_z = _dbm.log_partition_exact(module)
        return (torch.cat(out) - log_z).numpy()


def _scores(est, X, base, ais_seeds, exact_ll=True):
    import torch

    module = est._float64_module()
    bound = est.score(X) - base
    method, lz = est.log_partition_method_, est.log_partition_
    if not exact_ll:
        return {"bound": round(bound, 3), "method": method, "log_z": round(lz, 3)}
    start = time.process_time()
    ll = float(np.mean(exact_log_likelihood(module, torch.as_tensor(X)))) - base
    ll_cpu = time.process_time() - start
    ais, ais_cpu = [], 0.0
    for r in ais_seeds:
        start = time.process_time()
        lz_ais = est.log_partition("ais", n_chains=100, n_betas=10000, random_state=r)
        ais_cpu += time.process_time() - start
        ais.append(round(bound + lz - lz_ais, 3))
    est.log_partition("exact")
    return {"bound": round(bound, 3), "method": method, "log_z": round(lz, 3),
            "bound_ais": ais, "exact_ll": round(ll, 3),
            "bound_gap": round(ll - bound, 3), "exact_ll_cpu_s": round(ll_cpu, 1),
            "ais_cpu_s_each": round(ais_cpu / max(1, len(ais_seeds)), 1)}


def run(seed, ais_seeds, passes=10, exact_ll=True):
    from skdeepclust.neural_network import DBM

    X = _data()
    base = _baseline(X)

    def make():
        return DBM(n_components=(16, 16), max_epochs=passes, random_state=seed)

    start = time.process_time()
    full = make().fit(X)
    fit_cpu = time.process_time() - start
    start = time.process_time()
    inc = make()
    chunks = np.array_split(np.random.RandomState(seed).permutation(len(X)), 10)
    for _ in range(passes):
        for c in chunks:
            inc.partial_fit(X[c])
    inc_cpu = time.process_time() - start
    f = _scores(full, X, base, ais_seeds, exact_ll)
    p = _scores(inc, X, base, ais_seeds, exact_ll)
    ratios = {"ratio_bound": round(p["bound"] / f["bound"], 4)}
    if exact_ll:
        ratios["ratio_exact_ll"] = round(p["exact_ll"] / f["exact_ll"], 4)
    return {"seed": seed, "fit": f, "partial_fit": p, **ratios,
            "fit_cpu_s": round(fit_cpu, 1), "partial_fit_cpu_s": round(inc_cpu, 1)}


def summary(path):
    """Paired statistics of the results file (seeds in file order, the first row of each)."""
    import json

    rows, seen = [], set()
    with open(path) as fh:
        lines = fh.readlines()
    for line in lines:
        r = json.loads(line)
        if r["seed"] not in seen:
            seen.add(r["seed"])
            rows.append(r)
    f = np.array([r["fit"]["bound"] for r in rows])
    p = np.array([r["partial_fit"]["bound"] for r in rows])
    d, ratio = p - f, p / f
    n = len(rows)
    print(f"{n} seeds; fit mean {f.mean():.2f} sd {f.std(ddof=1):.2f}; partial_fit mean "
          f"{p.mean():.2f} sd {p.std(ddof=1):.2f}; partial_fit - fit {d.mean():.2f} "
          f"(sd {d.std(ddof=1):.2f}, se {d.std(ddof=1) / np.sqrt(n):.2f}); partial_fit higher "
          f"on {(d > 0).sum()}/{n}; ratio mean {ratio.mean():.3f} median "
          f"{np.median(ratio):.3f} min {ratio.min():.3f} max {ratio.max():.3f}, < 0.95 on "
          f"{(ratio < 0.95).sum()}/{n}")
    pairs = f[None, :] / f[:, None]
    off = ~np.eye(n, dtype=bool)
    print(f"fit(seed b) / fit(seed a), a != b: < 0.95 in {(pairs[off] < 0.95).mean():.3f} "
          f"of pairs (min {pairs[off].min():.3f}); partial_fit(b) / fit(a), all pairs: < 0.95 "
          f"in {((p[None, :] / f[:, None]) < 0.95).mean():.3f}")
    ais = [a - r[k]["bound"] for r in rows for k in ("fit", "partial_fit")
           for a in r[k].get("bound_ais", [])]
    gaps = [r[k]["bound_gap"] for r in rows for k in ("fit", "partial_fit")
            if "bound_gap" in r[k]]
    if ais:
        print(f"AIS (100 chains, 10 000 temperatures) minus exact: mean {np.mean(ais):.3f} "
              f"sd {np.std(ais, ddof=1):.3f} max |.| {np.max(np.abs(ais)):.3f} "
              f"({len(ais)} runs); exact log-likelihood minus bound: max "
              f"{max(gaps):.3f} ({len(gaps)} models)")
    lz = np.array([r["partial_fit"]["log_z"] for r in rows])
    print(f"log Z: fit {min(r['fit']['log_z'] for r in rows):.1f}-"
          f"{max(r['fit']['log_z'] for r in rows):.1f}, partial_fit {lz.min():.1f}-"
          f"{lz.max():.1f}; corr(partial_fit log Z, score) {np.corrcoef(lz, p)[0, 1]:.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--ais-seeds", type=int, nargs="*", default=[0, 1])
    parser.add_argument("--bound-only", action="store_true",
                        help="only the bench's score (no AIS, no exact log-likelihood)")
    parser.add_argument("--out", default=None, help="JSON lines to append to")
    parser.add_argument("--summary", default=None,
                        help="print the paired statistics of this results file and exit")
    args = parser.parse_args()
    if args.summary:
        summary(args.summary)
        return
    import json

    import torch

    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seed in args.seeds:
            row = run(seed, [] if args.bound_only else args.ais_seeds,
                      exact_ll=not args.bound_only)
            print(json.dumps(row), flush=True)
            append_jsonl(args.out, {"command": " ".join(sys.argv), **row})


if __name__ == "__main__":
    main()
