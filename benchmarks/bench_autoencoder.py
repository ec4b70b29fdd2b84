"""AutoEncoder vs scikit-learn's MLPRegressor fitted as an autoencoder (``fit(X, X)``).

Same architecture (d-h-k-h-d, ReLU everywhere but a linear output), same optimizer (Adam,
lr 1e-3), batch size, epochs and no early stopping or weight decay; both in float32. Reports
train / held-out reconstruction MSE and fit time, and the time ratio, over several seeds.

    python benchmarks/bench_autoencoder.py                 # digits
    python benchmarks/bench_autoencoder.py --data mnist10k # MNIST first 10k (bigger net)
"""

from __future__ import annotations

import argparse
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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data", choices=["digits", "mnist10k"], default="digits")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=200)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--json")
    args = p.parse_args(argv)

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
