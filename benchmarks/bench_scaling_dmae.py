"""DMAE kernels before / after the matrix-product forms (issue 19), one thread.

For each dimension ``d`` (``n`` rows, ``K`` centres) and each of four computations

- ``euclidean_old``: the former broadcast kernel, an ``(n, K, d)`` tensor;
- ``euclidean_new``: :func:`skdeepclust.nn.dissimilarities.euclidean` (matrix products);
- ``mahalanobis_old``: the former Mahalanobis DMAE head step: broadcast pairwise kernel,
  the per-sample precision ``einsum("nk,kij->nij")`` and the row-wise ``(n, d, d)`` loss;
- ``mahalanobis_new``: :class:`DissimilarityMixtureAutoencoder` forward + loss today,

the script measures forward + backward seconds per sample (best of ``--repeats``, old and
new interleaved in one process so that both see the same load) and the peak extra memory of one forward + backward: the rise of the process's peak resident set
(``ru_maxrss``) over its value after the inputs and parameters exist, each computation in
a fresh subprocess. The old formulas are copied here as the reference, so one run gives
both sides. Where the old Mahalanobis step would not fit (``n * d * d`` floats several
times over), it runs on ``--old-rows-cap`` rows and the record says so.

Run from the repository root::

    OMP_NUM_THREADS=1 python benchmarks/bench_scaling_dmae.py --out benchmarks/results/dmae_kernels.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

VARIANTS = ("euclidean_old", "euclidean_new", "mahalanobis_old", "mahalanobis_new")


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux


def _old_euclidean(X, C):
    from skdeepclust.nn.dissimilarities import _safe_root

    return _safe_root(((X[:, None] - C[None]) ** 2).sum(-1), 2.0)


def _old_mahalanobis_step(head, x):
    import torch

    P = head.precisions()
    diff = x[:, None] - head.centers[None]
    D = torch.einsum("...i,...ij,...j->...", diff, P[None], diff)
    logits = -head.alpha * D + head.log_mixing_weights()
    log_s = torch.log_softmax(logits, dim=-1)
    s = log_s.exp()
    centroids = s @ head.centers
    log_mixing = torch.logsumexp(log_s + head.log_mixing_weights(), dim=-1)
    prec_tilde = torch.einsum("nk,kij->nij", s, P)
    r = x - centroids
    rec = torch.einsum("...i,...ij,...j->...", r, prec_tilde, r)
    return (rec - log_mixing / head.alpha).mean()


def _new_mahalanobis_step(head, x):
    return head.loss(x).mean()


def _make_step(variant: str, n: int, d: int, k: int):
    import torch

    from skdeepclust.nn import dissimilarities as dis
    from skdeepclust.nn.dmae import DissimilarityMixtureAutoencoder

    torch.manual_seed(0)
    x = torch.randn(n, d)
    if variant.startswith("euclidean"):
        C = torch.randn(k, d, requires_grad=True)
        W = torch.rand(n, k)
        f = _old_euclidean if variant == "euclidean_old" else dis.euclidean

        def step(rows=n):
            (f(x[:rows], C) * W[:rows]).sum().backward()
            C.grad = None

        return step
    head = DissimilarityMixtureAutoencoder(k, d, alpha=1.0, dissimilarity="mahalanobis")
    with torch.no_grad():
        head.covariance_raw.normal_(std=0.1)
    f = _old_mahalanobis_step if variant == "mahalanobis_old" else _new_mahalanobis_step

    def step(rows=n):
        f(head, x[:rows]).backward()
        head.zero_grad(set_to_none=True)

    return step


def _child_memory(variant: str, n: int, d: int, k: int) -> dict:
    import torch

    torch.set_num_threads(1)
    step = _make_step(variant, n, d, k)
    step(8)  # library and autograd start-up outside the measurement
    base = _maxrss_mb()
    step()
    return {"peak_extra_mb": _maxrss_mb() - base, "rows": n}


def _child_time(old: str, new: str, n_old: int, n: int, d: int, k: int, repeats: int) -> dict:
    """Old and new interleaved in one process, best of ``repeats`` each (shared CPU)."""
    import torch

    torch.set_num_threads(1)
    steps = {old: (_make_step(old, n_old, d, k), n_old), new: (_make_step(new, n, d, k), n)}
    best = dict.fromkeys(steps, float("inf"))
    for step, _ in steps.values():
        step()
    for _ in range(repeats):
        for name, (step, rows) in steps.items():
            t0 = time.perf_counter()
            step()
            best[name] = min(best[name], (time.perf_counter() - t0) / rows)
    return best


def _run_child(args: list, env: dict) -> dict:
    cmd = [sys.executable, __file__, "--child", *map(str, args)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[32, 64, 128, 256, 784])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--old-rows-cap", type=int, default=250,
                        help="rows for the old Mahalanobis step at d = 784 (n*d*d floats)")
    parser.add_argument("--out", default="benchmarks/results/dmae_kernels.json")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "memory":
            variant, n, d, k = rest
            print(json.dumps(_child_memory(variant, int(n), int(d), int(k))))
        else:
            old, new, n_old, n, d, k, repeats = rest
            print(json.dumps(_child_time(old, new, *map(int, (n_old, n, d, k, repeats)))))
        return

    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    records = []
    for d in args.dims:
        row = {"d": d, "n": args.n, "K": args.k}
        for family in ("euclidean", "mahalanobis"):
            old, new = f"{family}_old", f"{family}_new"
            n_old = args.n
            if old == "mahalanobis_old" and d > 256:
                n_old = min(args.n, args.old_rows_cap)
            times = _run_child(["time", old, new, n_old, args.n, d, args.k, args.repeats], env)
            for variant, n in ((old, n_old), (new, args.n)):
                rec = _run_child(["memory", variant, n, d, args.k], env)
                rec["seconds_per_sample"] = times[variant]
                if n != args.n:
                    rec["note"] = f"run on {n} rows (the (n, d, d) tensors of {args.n} rows: GBs)"
                    rec["peak_extra_mb_scaled_to_n"] = rec["peak_extra_mb"] * args.n / n
                row[variant] = rec
        e_old, e_new = row["euclidean_old"], row["euclidean_new"]
        m_old, m_new = row["mahalanobis_old"], row["mahalanobis_new"]
        row["euclidean_time_ratio"] = e_old["seconds_per_sample"] / e_new["seconds_per_sample"]
        row["mahalanobis_time_ratio"] = m_old["seconds_per_sample"] / m_new["seconds_per_sample"]
        m_old_peak = m_old.get("peak_extra_mb_scaled_to_n", m_old["peak_extra_mb"])
        row["mahalanobis_peak_mb_old_over_new"] = [m_old_peak, m_new["peak_extra_mb"]]
        row["euclidean_peak_mb_old_over_new"] = [e_old["peak_extra_mb"], e_new["peak_extra_mb"]]
        records.append(row)
        print(
            f"d={d:4d}  euclidean {e_old['seconds_per_sample'] * 1e6:7.2f} -> "
            f"{e_new['seconds_per_sample'] * 1e6:6.2f} us/sample ({row['euclidean_time_ratio']:.1f}x), "
            f"peak {e_old['peak_extra_mb']:.0f} -> {e_new['peak_extra_mb']:.0f} MB | "
            f"mahalanobis {m_old['seconds_per_sample'] * 1e6:7.2f} -> "
            f"{m_new['seconds_per_sample'] * 1e6:6.2f} us/sample "
            f"({row['mahalanobis_time_ratio']:.1f}x), peak {m_old_peak:.0f} -> "
            f"{m_new['peak_extra_mb']:.0f} MB",
            flush=True,
        )
    result = {
        "benchmark": "bench_scaling_dmae",
        "command": "OMP_NUM_THREADS=1 python benchmarks/bench_scaling_dmae.py",
        "dtype": "float32",
        "threads": 1,
        "timing": "forward + backward, best of repeats, seconds per sample, old and new interleaved in one process",
        "memory": "rise of ru_maxrss during one forward + backward, fresh process per entry",
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpus": os.cpu_count()},
        "repeats": args.repeats,
        "records": records,
    }
    if args.out:
        os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
        with open(args.out, "w") as fh:
            json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
