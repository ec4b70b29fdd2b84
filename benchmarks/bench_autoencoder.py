"""AutoEncoder vs scikit-learn's MLPRegressor fitted as an autoencoder (``fit(X, X)``).

Same architecture (d-h-k-h-d, ReLU everywhere but a linear output), same optimizer (Adam,
lr 1e-3), batch size, epochs and no early stopping or weight decay; both in float32. Reports
train / held-out reconstruction MSE and fit time, and the time ratio, over several seeds.

    python benchmarks/bench_autoencoder.py                 # digits
    python benchmarks/bench_autoencoder.py --data mnist10k # MNIST first 10k (bigger net)

``--sparse`` times instead the same AutoEncoder fit on a synthetic bag-of-words matrix
(20,000 x 5,000, 1% non-zeros, log counts) given as a dense float32 array and as a CSR
matrix: fit time, the process's peak resident memory with the data loaded and what the fit
adds to it, and the final training loss (identical by construction); scikit-learn's
BernoulliRBM (same hidden units, batch and epochs, sparse matrix products) on the CSR matrix
is the reference for speed on sparse data. Each fit runs in a fresh subprocess so that the
peak-memory figures are its own; compare the CPU seconds when other processes share the
cores.

    python benchmarks/bench_autoencoder.py --sparse --json \
        benchmarks/results/autoencoder_sparse_bow.json
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPRegressor

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Timer, mean_sd, mnist_path, print_table, save_json  # noqa: E402

from skdeepclust.datasets import load_mnist  # noqa: E402
from skdeepclust.representation import AutoEncoder  # noqa: E402


def load(name: str):
    if name == "digits":
        X = (load_digits().data / 16).astype(np.float32)
        return X, (64,), 10
    X, _ = load_mnist(mnist_path(), n_samples=10_000)
    return X, (256,), 32


def make_bow(n: int, d: int, density: float, seed: int = 0):
    """Synthetic bag-of-words: Zipf word popularity, log(1 + count) entries, CSR float32."""
    import scipy.sparse as sp

    rng = np.random.RandomState(seed)
    nnz = int(n * d * density)
    popularity = 1.0 / (np.arange(d) + 10.0)
    popularity /= popularity.sum()
    keys = np.empty(0, dtype=np.int64)
    while keys.size < nnz:  # distinct (row, word) pairs until the density is reached
        more = nnz - keys.size
        rows = rng.randint(0, n, more).astype(np.int64)
        keys = np.unique(np.concatenate([keys, rows * d + rng.choice(d, more, p=popularity)]))
    keys = np.sort(rng.choice(keys, nnz, replace=False))
    counts = 1 + rng.poisson(0.5, nnz)
    X = sp.csr_matrix((np.log1p(counts).astype(np.float32), (keys // d, keys % d)),
                      shape=(n, d))
    return X


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _sparse_child(args) -> None:
    """One fit in this process; prints a JSON line."""
    import torch

    torch.set_num_threads(args.threads)
    X = make_bow(args.n, args.d, args.density)
    density = X.nnz / (X.shape[0] * X.shape[1])
    if args.child == "dense":
        X = X.toarray()
    if args.child == "bernoulli_rbm":  # the reference scikit-learn estimator on sparse data
        return _rbm_child(args, X, density)
    ae = AutoEncoder(args.components, hidden_layer_sizes=(), code_activation="sigmoid",
                     max_epochs=args.epochs, batch_size=args.batch_size, learning_rate=1e-3,
                     tol=None, device="cpu", random_state=args.seed)
    # warm-up on a slice: the first optimizer of a process imports torch._dynamo (seconds)
    AutoEncoder(2, hidden_layer_sizes=(), max_epochs=1, device="cpu").fit(X[:64])
    _measure(args, ae, X, density)


def _measure(args, model, X, density) -> None:
    """Fit and transform ``X``; print the times, peak memory and final loss as JSON."""
    before = _peak_mib()
    with Timer() as fit:
        model.fit(X)
    after = _peak_mib()
    with Timer() as transform:
        model.transform(X)
    loss = model.loss_curve_[-1] if hasattr(model, "loss_curve_") else None
    print(json.dumps({"input": args.child, "seed": args.seed, "fit_s": fit.seconds,
                      "fit_cpu_s": fit.cpu_seconds, "transform_s": transform.seconds,
                      "peak_mib_before_fit": before, "peak_mib_after_fit": after,
                      "final_loss": loss, "density": density}))


def _rbm_child(args, X, density) -> None:
    from sklearn.neural_network import BernoulliRBM

    rbm = BernoulliRBM(args.components, learning_rate=0.1, batch_size=args.batch_size,
                       n_iter=args.epochs, random_state=args.seed)
    _measure(args, rbm, X, density)


MODES = {"dense": "AutoEncoder, dense float32 X", "sparse": "AutoEncoder, CSR X",
         "bernoulli_rbm": "sklearn BernoulliRBM, CSR X"}


def run_sparse(args) -> None:
    raw = []
    for seed in range(args.seeds):
        for mode in MODES:
            cmd = [sys.executable, __file__, "--child", mode, "--seed", str(seed)]
            for name in ("n", "d", "density", "epochs", "batch_size", "components", "threads"):
                cmd += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            raw.append(json.loads(out.strip().splitlines()[-1]))
            print(raw[-1], flush=True)
    rows = []
    for mode, label in MODES.items():
        r = [x for x in raw if x["input"] == mode]
        before = np.mean([x["peak_mib_before_fit"] for x in r])
        after = np.mean([x["peak_mib_after_fit"] for x in r])
        loss = None if r[0]["final_loss"] is None else np.mean([x["final_loss"] for x in r])
        rows.append({"model, input": label, "fit s": mean_sd([x["fit_s"] for x in r]),
                     "fit CPU s": mean_sd([x["fit_cpu_s"] for x in r]),
                     "transform s": mean_sd([x["transform_s"] for x in r]),
                     "peak MiB with data": f"{before:.0f}",
                     "fit's extra MiB": f"{after - before:.0f}",
                     "final loss": None if loss is None else f"{loss:.6f}"})
    dense = np.array([x["fit_cpu_s"] for x in raw if x["input"] == "dense"])
    sparse = np.array([x["fit_cpu_s"] for x in raw if x["input"] == "sparse"])
    rbm = np.array([x["fit_cpu_s"] for x in raw if x["input"] == "bernoulli_rbm"])
    print(f"\nbag-of-words {args.n} x {args.d}, density {raw[0]['density']:.4f}, AutoEncoder "
          f"{args.d}-{args.components}-{args.d} (sigmoid code), {args.epochs} epochs, batch "
          f"{args.batch_size}, {args.threads} thread(s), {args.seeds} seeds\n")
    print_table(rows, ["model, input", "fit s", "fit CPU s", "transform s",
                       "peak MiB with data", "fit's extra MiB", "final loss"])
    ratio, ratio_rbm = dense / sparse, rbm / sparse
    print(f"\nfit CPU time, dense / sparse input, per seed: "
          f"{', '.join(f'{x:.2f}' for x in ratio)} (mean {ratio.mean():.2f}x); "
          f"BernoulliRBM / AutoEncoder on CSR: {', '.join(f'{x:.2f}' for x in ratio_rbm)} "
          f"(mean {ratio_rbm.mean():.2f}x)")
    save_json(args.json, {"args": vars(args), "raw": raw, "dense_over_sparse_cpu": ratio.tolist(),
                          "bernoulli_rbm_over_sparse_cpu": ratio_rbm.tolist()})


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data", choices=["digits", "mnist10k"], default="digits")
    p.add_argument("--epochs", type=int, default=None,
                   help="default 100; 2 with --sparse")
    p.add_argument("--batch-size", type=int, default=None,
                   help="default 200; 256 with --sparse")
    p.add_argument("--seeds", type=int, default=None, help="default 3; 2 with --sparse")
    p.add_argument("--json")
    p.add_argument("--sparse", action="store_true",
                   help="dense vs CSR input on a synthetic bag-of-words matrix")
    p.add_argument("--n", type=int, default=20_000)
    p.add_argument("--d", type=int, default=5_000)
    p.add_argument("--density", type=float, default=0.01)
    p.add_argument("--components", type=int, default=100)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--child", choices=list(MODES), help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    sparse_mode = args.sparse or args.child
    for name, full, small in [("epochs", 100, 2), ("batch_size", 200, 256), ("seeds", 3, 2)]:
        if getattr(args, name) is None:
            setattr(args, name, small if sparse_mode else full)
    if args.child:
        return _sparse_child(args)
    if args.sparse:
        return run_sparse(args)

    X, hidden, k = load(args.data)
    X_tr, X_te = train_test_split(X, test_size=0.2, random_state=0)
    arch = (*hidden, k, *hidden[::-1])
    rows, raw = [], {"ours": [], "mlp": []}
    # warm-up: the first optimizer of a process imports torch._dynamo (seconds)
    AutoEncoder(2, hidden_layer_sizes=(4,), max_epochs=1, device="cpu").fit(X_tr[:32])
    for seed in range(args.seeds):
        ae = AutoEncoder(k, hidden_layer_sizes=hidden, activation="relu", code_activation="relu",
                         max_epochs=args.epochs, batch_size=args.batch_size, learning_rate=1e-3,
                         tol=None, device="cpu", random_state=seed)
        with Timer() as t:
            ae.fit(X_tr)
        raw["ours"].append((t.seconds, t.cpu_seconds, _mse(ae.reconstruct(X_tr), X_tr),
                            _mse(ae.reconstruct(X_te), X_te)))
        mlp = MLPRegressor(hidden_layer_sizes=arch, activation="relu", solver="adam", alpha=0.0,
                           batch_size=args.batch_size, learning_rate_init=1e-3,
                           max_iter=args.epochs, tol=0.0, n_iter_no_change=10**9,
                           shuffle=True, random_state=seed)
        with Timer() as t, warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            mlp.fit(X_tr, X_tr)
        raw["mlp"].append((t.seconds, t.cpu_seconds, _mse(mlp.predict(X_tr), X_tr),
                           _mse(mlp.predict(X_te), X_te)))
    for name, label in [("ours", "skdeepclust AutoEncoder"), ("mlp", "sklearn MLPRegressor")]:
        r = np.array(raw[name])
        rows.append({"model": label, "fit s": mean_sd(r[:, 0]), "CPU s": mean_sd(r[:, 1]),
                     "train MSE": f"{r[:, 2].mean():.5f}", "test MSE": f"{r[:, 3].mean():.5f}"})
    ratio = np.array(raw["mlp"])[:, 0] / np.array(raw["ours"])[:, 0]
    cpu_ratio = np.array(raw["mlp"])[:, 1] / np.array(raw["ours"])[:, 1]
    print(f"\n{args.data}: {X_tr.shape[0]} train / {X_te.shape[0]} test, architecture "
          f"{X.shape[1]}-{'-'.join(map(str, arch))}-{X.shape[1]}, {args.epochs} epochs, "
          f"batch {args.batch_size}, {args.seeds} seeds\n")
    print_table(rows, ["model", "fit s", "CPU s", "train MSE", "test MSE"])
    print(f"\nspeed-up (MLPRegressor time / AutoEncoder time, per seed): wall "
          f"{', '.join(f'{x:.2f}' for x in ratio)} (mean {ratio.mean():.2f}x); CPU "
          f"{', '.join(f'{x:.2f}' for x in cpu_ratio)} (mean {cpu_ratio.mean():.2f}x)")
    save_json(args.json, {"args": vars(args), "raw": raw, "speedup": ratio.tolist(),
                          "cpu_speedup": cpu_ratio.tolist()})


def _mse(a, b) -> float:
    return float(np.mean((a - b) ** 2))


if __name__ == "__main__":
    main()
