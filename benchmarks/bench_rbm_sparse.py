"""RBM on sparse binary bag-of-words vs scikit-learn's BernoulliRBM on the same CSR matrix.

A synthetic bag-of-words (20,000 x 5,000, 1% non-zeros, Zipf word popularity: the generator
of ``bench_autoencoder.py --sparse``, binarised) is fitted by

* ``rbm_csr``: our :class:`~skdeepclust.neural_network.RBM` on the CSR matrix (minibatches
  densified one at a time, the binary fused update on its sparse kernels);
* ``rbm_dense``: the same RBM on the densified array (the same model bit for bit: what the
  sparse input saves is memory);
* ``bernoulli_rbm_csr``: :class:`sklearn.neural_network.BernoulliRBM` on the CSR matrix
  (its products with the data are sparse, its negative phase dense);

with the same hidden units, batch size, epochs and learning rate, one thread each
(``OMP_NUM_THREADS=1`` and ``torch.set_num_threads(1)``), our RBM with its defaults
otherwise (centered PCD-1). Each fit runs in a fresh subprocess, so that the peak resident
memory is its own. Throughput is training rows per CPU second (``n * epochs / fit CPU s``;
wall-clock seconds are recorded too); the ratio to BernoulliRBM is taken per seed in the
same run. ``--dtypes float32 float64``: the CSR matrix in float32 (both libraries compute
in float32) and in float64 (what ``CountVectorizer`` counts become: BernoulliRBM computes in
float64, our RBM in its float32 compute dtype). ``--batch-sizes``: the ratio at other batch
sizes (CSR fits only). The mean-field reconstruction error of 500 training rows,
``sigmoid(sigmoid(x W^T + c) W + b)`` from each model's ``components_`` and intercepts, shows
that both trained.

    OMP_NUM_THREADS=1 python benchmarks/bench_rbm_sparse.py \
        --json benchmarks/results/rbm_sparse.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Timer, mean_sd, print_table, save_json
from bench_autoencoder import make_bow

MODES = {"rbm_csr": "RBM, CSR X", "rbm_dense": "RBM, dense X",
         "bernoulli_rbm_csr": "sklearn BernoulliRBM, CSR X"}


def make_binary_bow(n: int, d: int, density: float, dtype, seed: int = 0):
    """The bag-of-words of ``bench_autoencoder.make_bow``, every count set to 1."""
    X = make_bow(n, d, density, seed).astype(dtype)
    X.data[:] = 1
    return X


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _reconstruction_error(model, X) -> float:
    """Mean squared error of one mean-field reconstruction (uncentered parameters)."""
    from scipy.special import expit

    W = np.asarray(model.components_, dtype=np.float64)
    h = expit(X @ W.T + model.intercept_hidden_)
    r = expit(h @ W + model.intercept_visible_)
    return float(np.mean((r - X) ** 2))


def _child(args) -> None:
    """One fit in this process; prints a JSON line."""
    import torch

    torch.set_num_threads(1)
    X = make_binary_bow(args.n, args.d, args.density, np.dtype(args.dtype))
    density = X.nnz / (X.shape[0] * X.shape[1])
    sample = X[:500].toarray().astype(np.float64)
    if args.child == "rbm_dense":
        X = X.toarray()
    if args.child.startswith("bernoulli"):
        from sklearn.neural_network import BernoulliRBM

        model = BernoulliRBM(args.components, learning_rate=args.learning_rate,
                             batch_size=args.batch_size, n_iter=args.epochs,
                             random_state=args.seed)
    else:
        from skdeepclust.neural_network import RBM

        # warm-up: numba loads (or compiles) the sparse kernels on the first update
        RBM(4, max_epochs=1, device="cpu").fit(X[:200])
        model = RBM(args.components, learning_rate=args.learning_rate,
                    batch_size=args.batch_size, max_epochs=args.epochs, device="cpu",
                    random_state=args.seed)
    before = _peak_mib()
    with Timer() as fit:
        model.fit(X)
    after = _peak_mib()
    rows = args.n * args.epochs
    print(json.dumps({
        "mode": args.child, "dtype": args.dtype, "batch_size": args.batch_size,
        "seed": args.seed, "fit_s": fit.seconds, "fit_cpu_s": fit.cpu_seconds,
        "rows_per_cpu_s": rows / fit.cpu_seconds, "rows_per_s": rows / fit.seconds,
        "peak_mib_before_fit": before, "peak_mib_after_fit": after,
        "reconstruction_mse": _reconstruction_error(model, sample), "density": density}))


def _run(args, mode: str, dtype: str, batch_size: int, seed: int) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--seed", str(seed), "--dtype", dtype,
           "--batch-size", str(batch_size)]
    for name in ("n", "d", "density", "epochs", "components", "learning_rate"):
        cmd += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "NUMBA_NUM_THREADS": "1"}
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    result = json.loads(out.strip().splitlines()[-1])
    print(result, flush=True)
    return result


def _ratios(raw, dtype: str, batch_size: int) -> list[float]:
    """Our RBM's throughput on CSR over BernoulliRBM's, per seed."""
    def cpu(mode):
        return {x["seed"]: x["rows_per_cpu_s"] for x in raw
                if (x["mode"], x["dtype"], x["batch_size"]) == (mode, dtype, batch_size)}
    ours, theirs = cpu("rbm_csr"), cpu("bernoulli_rbm_csr")
    return [ours[s] / theirs[s] for s in sorted(ours) if s in theirs]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=20_000)
    p.add_argument("--d", type=int, default=5_000)
    p.add_argument("--density", type=float, default=0.01)
    p.add_argument("--components", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--batch-sizes", type=int, nargs="*", default=[20, 50, 200],
                   help="further batch sizes timed on CSR (ours and BernoulliRBM)")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--learning-rate", type=float, default=0.05)
    p.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--json")
    p.add_argument("--child", choices=list(MODES), help=argparse.SUPPRESS)
    p.add_argument("--dtype", default="float32", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return _child(args)

    raw = []
    for seed in range(args.seeds):
        for dtype in args.dtypes:
            for mode in MODES:
                raw.append(_run(args, mode, dtype, args.batch_size, seed))
            for batch in args.batch_sizes:
                for mode in ("rbm_csr", "bernoulli_rbm_csr"):
                    raw.append(_run(args, mode, dtype, batch, seed))
    rows, ratios = [], {}
    for dtype in args.dtypes:
        for batch in [args.batch_size, *args.batch_sizes]:
            for mode, label in MODES.items():
                r = [x for x in raw
                     if (x["mode"], x["dtype"], x["batch_size"]) == (mode, dtype, batch)]
                if not r:
                    continue
                before = np.mean([x["peak_mib_before_fit"] for x in r])
                after = np.mean([x["peak_mib_after_fit"] for x in r])
                rows.append({"model, input": label, "dtype": dtype, "batch": batch,
                             "rows / CPU s": mean_sd([x["rows_per_cpu_s"] for x in r]),
                             "fit s": mean_sd([x["fit_s"] for x in r]),
                             "peak MiB with data": f"{before:.0f}",
                             "fit's extra MiB": f"{after - before:.0f}",
                             "recon. MSE": f"{np.mean([x['reconstruction_mse'] for x in r]):.5f}"})
            ratios[f"{dtype}/batch_{batch}"] = _ratios(raw, dtype, batch)
    print(f"\nbinary bag-of-words {args.n} x {args.d}, density {raw[0]['density']:.4f}, "
          f"{args.components} hidden units, {args.epochs} epochs, learning rate "
          f"{args.learning_rate}, one thread, {args.seeds} seeds\n")
    print_table(rows, ["model, input", "dtype", "batch", "rows / CPU s", "fit s",
                       "peak MiB with data", "fit's extra MiB", "recon. MSE"])
    print("\nthroughput (rows per CPU second), RBM on CSR / BernoulliRBM on CSR, per seed:")
    for key, r in ratios.items():
        print(f"  {key}: {', '.join(f'{x:.2f}' for x in r)} (mean {np.mean(r):.2f}x)")
    save_json(args.json, {"args": vars(args), "raw": raw,
                          "rbm_csr_over_bernoulli_rbm_throughput": ratios})


if __name__ == "__main__":
    main()
