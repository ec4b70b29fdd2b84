"""Time per sample-epoch and peak memory above X for every estimator, as n grows (issue 19).

For each estimator, number of rows ``n`` and width ``d``, one fresh subprocess (one torch
thread) builds synthetic float32 data with cluster structure (10 blobs in ``[0, 1]^d``, MNIST's
range; binary draws for the RBM), written chunk by chunk into one preallocated array so that
making X leaves no temporary behind. It then fits the estimator twice, with ``e1`` and ``e2``
training epochs and everything else equal, and records

- ``us_per_sample_epoch``: ``(cpu(e2) - cpu(e1)) / ((e2 - e1) * n)`` in microseconds, the
  process CPU time (one thread, so CPU time is the single-core work; it is less disturbed
  than the wall clock when other programs share the machine; ``wall_us_per_sample_epoch``
  is beside it). The difference of two fits cancels the costs paid once per fit (k-means or
  PCA initialisation, pretraining of a nested autoencoder, final passes), which are in
  ``fit1_cpu_s``;
- ``peak_above_x_mb``: the peak resident set (``VmHWM``) of the process during both fits,
  minus its resident set just before them, with X already allocated and touched, and the
  libraries loaded and warmed up by a fit on 200 rows. The peak is reset (Linux
  ``/proc/self/clear_refs`` = 5) after X is built, so the generation of X and the warm-up
  do not count. This is the honest figure: every byte the fit adds to what the user holds
  (copies of X, float32/float64 conversions, minibatch and inference temporaries, the
  model and the optimizer state), whatever allocated it (numpy, torch, BLAS, numba). A
  torch allocator counter would miss the numpy copies, tracemalloc would miss torch's.

The targets of issue 19: ``us_per_sample_epoch`` at 280k rows within 1.2x of its value at
5k rows, and ``peak_above_x_mb <= 0.5 * X.nbytes + 300 MB``. ``--report`` prints the
markdown table (the latest record of each configuration).

Run from the repository root::

    OMP_NUM_THREADS=1 python benchmarks/bench_scaling.py --quick      # n = 5k, 20k
    OMP_NUM_THREADS=1 python benchmarks/bench_scaling.py               # n = 5k ... 280k
    OMP_NUM_THREADS=1 python benchmarks/bench_scaling.py --estimators RBM --d 784 --n 5000
    python benchmarks/bench_scaling.py --report

Records are appended to ``benchmarks/results/scaling.jsonl`` (``--out``); ``--label`` tags
them (e.g. "before" / "after" a change) and ``--report --label X`` reads only those.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import reset_peak, status_mb

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "scaling.jsonl"
QUICK_N = (5_000, 20_000)
FULL_N = (5_000, 20_000, 70_000, 280_000)
DIMS = (32, 784)
ESTIMATORS = (
    "AutoEncoder",
    "DECClustering",
    "DMAE-euclidean",
    "DMAE-mahalanobis",
    "DMAE-mahalanobis-volume",
    "GMMRepresentation",
    "RBM",
    "NormalizingFlow",
)
#: Training epochs of the two fits (the per-epoch cost is their difference).
EPOCHS = (1, 3)
N_BLOBS = 10
MB = 2**20


# ----------------------------------------------------------------------------- child side
def make_data(n: int, d: int, dtype: str, binary: bool, seed: int = 0):
    """Blobs in [0, 1]^d (binary draws when ``binary``), made in chunks of 8 192 rows."""
    import numpy as np

    rng = np.random.default_rng(seed)
    centres = rng.uniform(0.1, 0.9, size=(N_BLOBS, d))
    X = np.empty((n, d), dtype=dtype)
    y = rng.integers(N_BLOBS, size=n)
    for start in range(0, n, 8192):
        block = centres[y[start : start + 8192]]
        if binary:
            X[start : start + 8192] = rng.random(block.shape) < block
        else:
            X[start : start + 8192] = np.clip(block + rng.normal(0, 0.1, block.shape), 0, 1)
    return X, y


def make_estimator(name: str, n: int, d: int, epochs: int):
    """The estimator at its defaults, on the CPU, with ``epochs`` training epochs and no
    early stop (so the two fits differ by their epochs only)."""
    import skdeepclust as sdc
    from skdeepclust.cluster._nested_autoencoder import default_autoencoder

    common = {"device": "cpu", "random_state": 0}
    if name == "AutoEncoder":
        return sdc.AutoEncoder(max_epochs=epochs, tol=None, **common)
    if name == "DECClustering":
        # The large-data network at every n (its widths otherwise shrink below 16k rows,
        # which would change the per-sample work), pretrained one epoch (a fixed cost).
        ae = default_autoencoder(max(n, 16_000), d, max_epochs=1)
        return sdc.DECClustering(10, autoencoder=ae, max_epochs=epochs, tol=0.0, **common)
    if name.startswith("DMAE-"):
        # volume="auto" turns the per-cluster volumes on from 20 rows per cluster and
        # feature (6 400 rows at d = 32): a fit then trains twice (a unit-determinant shape
        # stage, then the volume model, each for max_epochs), so the default would compare
        # one training phase at 5k with two at 280k. The volume is pinned so that every n
        # runs the same model: off for "DMAE-mahalanobis", on (both phases, counted as
        # two epochs each) for "DMAE-mahalanobis-volume".
        dissimilarity = name[5:].removesuffix("-volume")
        extra = {"volume": name.endswith("-volume")} if dissimilarity == "mahalanobis" else {}
        return sdc.DMAEClustering(
            10, dissimilarity=dissimilarity, autoencoder=None, max_epochs=epochs, tol=None,
            **extra, **common
        )
    if name == "GMMRepresentation":
        return sdc.GMMRepresentation(10, max_epochs=epochs, tol=0.0, **common)
    if name == "RBM":
        return sdc.RBM(max_epochs=epochs, **common)
    if name == "NormalizingFlow":
        return sdc.NormalizingFlow(max_epochs=epochs, early_stopping=False, **common)
    raise ValueError(f"unknown estimator {name!r}; choose from {ESTIMATORS}")


def run_one(config: dict) -> dict:
    """One configuration, in this (fresh) process."""
    import warnings

    import torch

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")  # unconverged / partition warnings of 1-3 epoch fits
    name, n, d, dtype = config["estimator"], config["n"], config["d"], config["dtype"]
    e1, e2 = config.get("epochs", EPOCHS)
    binary = name == "RBM"

    # Warm-up: loads the libraries and compiles what is compiled lazily (numba kernels).
    Xw, _ = make_data(200, d, dtype, binary, seed=1)
    make_estimator(name, 200, d, 1).fit(Xw)
    del Xw

    X, _ = make_data(n, d, dtype, binary)
    exact_peak = reset_peak()
    base = status_mb("VmRSS")
    times = {}
    extra = {}
    for epochs in (e1, e2):
        est = make_estimator(name, n, d, epochs)
        t0, c0 = time.perf_counter(), time.process_time()
        est.fit(X)
        times[epochs] = (time.perf_counter() - t0, time.process_time() - c0)
        extra = {
            "batch_size": int(
                getattr(est, "_batch_size", None) or est.get_params().get("batch_size", 0) or 0
            ),
            "n_iter": int(getattr(est, "n_iter_", -1)),
            "compute_dtype": str(getattr(est, "_torch_dtype", "")),
        }
        del est
    peak = status_mb("VmHWM")
    phases = 2 if name == "DMAE-mahalanobis-volume" else 1  # epochs run per max_epochs
    per = lambda i: (times[e2][i] - times[e1][i]) / ((e2 - e1) * phases * n) * 1e6
    return {
        **config,
        "epochs": [e1, e2],
        "x_mb": X.nbytes / MB,
        "target_mb": 0.5 * X.nbytes / MB + 300.0,
        "base_rss_mb": base,
        "peak_above_x_mb": peak - base,
        "peak_reset": exact_peak,
        "us_per_sample_epoch": per(1),
        "wall_us_per_sample_epoch": per(0),
        "fit1_cpu_s": times[e1][1],
        "fit2_cpu_s": times[e2][1],
        "fit1_wall_s": times[e1][0],
        "fit2_wall_s": times[e2][0],
        **extra,
    }


# ---------------------------------------------------------------------------- parent side
def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run_configs(configs: list[dict], out: Path, timeout: float) -> None:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
    }
    meta = {
        "commit": _git_commit(),
        "machine": platform.node(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    for config in configs:
        t0 = time.perf_counter()
        cmd = [sys.executable, __file__, "--one", json.dumps(config)]
        try:
            proc = subprocess.run(
                cmd, check=False, capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT
            )
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
            if proc.returncode != 0 or not lines:
                record = {**config, "error": proc.stderr.strip().splitlines()[-1:]}
            else:
                record = json.loads(lines[-1])
        except subprocess.TimeoutExpired:
            record = {**config, "error": f"timeout after {timeout:.0f} s"}
        record.update(
            meta,
            date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            run_s=round(time.perf_counter() - t0, 1),
        )
        with out.open("a") as fh:
            fh.write(json.dumps(record) + "\n")
        _print_record(record)


def _print_record(r: dict) -> None:
    head = f"{r['estimator']:18s} n={r['n']:>7d} d={r['d']:>4d} {r['dtype']:7s}"
    if "error" in r:
        print(head, "ERROR", r["error"], flush=True)
        return
    print(
        f"{head} {r['us_per_sample_epoch']:9.2f} us/sample-epoch  peak above X "
        f"{r['peak_above_x_mb']:8.1f} MB (X {r['x_mb']:.0f} MB, target "
        f"{r['target_mb']:.0f})  [{r['run_s']} s]",
        flush=True,
    )


def report(path: Path, labels: list[str] | None) -> str:
    """Markdown table: the latest record of each configuration (among ``labels``)."""
    latest: dict = {}
    for line in path.read_text().splitlines():
        r = json.loads(line)
        if "error" in r or (labels and r.get("label") not in labels):
            continue
        latest[(r["estimator"], r["d"], r["dtype"], r["n"])] = r
    ns = sorted({k[3] for k in latest})
    groups = sorted(
        {k[:3] for k in latest},
        key=lambda g: (ESTIMATORS.index(g[0]) if g[0] in ESTIMATORS else 99, g[1], g[2]),
    )
    cols = [f"{n // 1000}k" for n in ns]
    lines = [
        "| estimator | d | dtype | "
        + " | ".join(f"µs/sample-epoch {c}" for c in cols)
        + " | largest n / 5k | "
        + " | ".join(f"peak above X {c} (MB)" for c in cols)
        + " | memory target met |",
        "|---" * (5 + 2 * len(cols)) + "|",
    ]
    for g in groups:
        recs = {n: latest.get((*g, n)) for n in ns}
        times = [f"{r['us_per_sample_epoch']:.2f}" if r else "" for r in recs.values()]
        mems = [f"{r['peak_above_x_mb']:.0f}" if r else "" for r in recs.values()]
        done = [n for n in ns if recs[n]]
        ratio = ""
        if recs.get(5_000) and len(done) > 1:
            big = recs[done[-1]]
            ratio = (
                f"{big['us_per_sample_epoch'] / recs[5_000]['us_per_sample_epoch']:.2f}"
                f" ({done[-1] // 1000}k)"
            )
        met = all(r["peak_above_x_mb"] <= r["target_mb"] for r in recs.values() if r)
        lines.append(
            f"| {g[0]} | {g[1]} | {g[2]} | "
            + " | ".join(times)
            + f" | {ratio} | "
            + " | ".join(mems)
            + f" | {'yes' if met else 'no'} |"
        )
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--one", help=argparse.SUPPRESS)
    p.add_argument("--quick", action="store_true", help="n = 5k and 20k only")
    p.add_argument("--n", type=int, nargs="+", help="row counts (overrides --quick)")
    p.add_argument("--d", type=int, nargs="+", default=list(DIMS), help="widths")
    p.add_argument("--estimators", nargs="+", default=list(ESTIMATORS), choices=ESTIMATORS)
    p.add_argument("--dtype", nargs="+", default=["float32"], choices=["float32", "float64"])
    p.add_argument("--epochs", type=int, nargs=2, default=list(EPOCHS), metavar=("E1", "E2"))
    p.add_argument(
        "--label", nargs="+", default=None, help="tag stored with each record (--report: tags read)"
    )
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per configuration")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--report", action="store_true", help="print the markdown table and exit")
    args = p.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(json.loads(args.one))), flush=True)
        return
    if args.report:
        print(report(args.out, args.label))
        return
    ns = args.n or (QUICK_N if args.quick else FULL_N)
    label = " ".join(args.label) if args.label else None
    configs = [
        {"estimator": e, "n": n, "d": d, "dtype": t, "epochs": args.epochs, "label": label}
        for e in args.estimators
        for d in args.d
        for t in args.dtype
        for n in ns
    ]
    run_configs(configs, args.out, args.timeout)


if __name__ == "__main__":
    main()
