"""GMMRepresentation: per-row ("lazy") Adam on the representations against dense Adam.

Dense Adam over the whole representation matrix makes every minibatch step cost O(n_samples)
(the gradient of ``z[idx]`` is a dense n x latent tensor and the fused Adam touches every
row), so an epoch costs O(n_samples^2 / batch_size). The per-row Adam
(:class:`skdeepclust.nn.dgd.RowAdam`, the default) reads and moves only the minibatch's rows.

Measured in one process, old and new interleaved, on one torch thread: the wall time of the
training loop of a fit (``train_loop``, the initialisation excluded) divided by its number of
minibatch steps, on synthetic 50-D Gaussian blobs; and the representation update alone
(dense fused Adam over n x latent against ``RowAdam`` on one minibatch). Run from the
repository root::

    OMP_NUM_THREADS=1 python benchmarks/bench_dgd_sparse.py --out benchmarks/results/dgd_sparse.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np
import torch

import skdeepclust.representation._dgd_training as dgd_module
from skdeepclust.nn.dgd import RowAdam
from skdeepclust.representation import GMMRepresentation


def blobs(n: int, d: int, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(k, d))
    return (centres[rng.integers(k, size=n)] + rng.normal(size=(n, d))).astype(np.float32)


def timed_fit(X: np.ndarray, lazy: bool, epochs: int) -> tuple[float, int]:
    """Seconds spent in train_loop and the number of minibatch steps."""
    spent = {}
    original = dgd_module.train_loop

    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        result = original(*args, **kwargs)
        spent["s"] = time.perf_counter() - t0
        spent["epochs"] = result.n_iter
        return result

    model = GMMRepresentation(10, max_epochs=epochs, tol=None, device="cpu", random_state=0)
    model._lazy_representations = lazy
    dgd_module.train_loop = wrapper
    try:
        model.fit(X)
    finally:
        dgd_module.train_loop = original
    steps = spent["epochs"] * -(-X.shape[0] // model._batch_size)
    return spent["s"], steps


def update_only(n: int, dim: int, batch: int, repeats: int) -> dict:
    """Seconds per representation update: dense fused Adam against RowAdam."""
    g = torch.Generator().manual_seed(0)
    z_dense = torch.nn.Parameter(torch.randn(n, dim, generator=g))
    dense = torch.optim.Adam([z_dense], lr=1e-2, betas=(0.5, 0.7), fused=True)
    z_rows = torch.randn(n, dim, generator=g)
    rows = RowAdam(z_rows, 1e-2, (0.5, 0.7))
    out = {"dense": [], "lazy": []}
    for _ in range(repeats):
        idx = torch.randperm(n, generator=g)[:batch]
        grad = torch.randn(batch, dim, generator=g)
        t0 = time.perf_counter()
        for _ in range(50):  # what the fit does: the dense grad of z[idx], then Adam
            z_dense.grad = torch.zeros_like(z_dense).index_put_((idx,), grad, accumulate=True)
            dense.step()
        out["dense"].append((time.perf_counter() - t0) / 50)
        t0 = time.perf_counter()
        for _ in range(50):
            rows.step(idx, grad)
        out["lazy"].append((time.perf_counter() - t0) / 50)
    return {k: statistics.median(v) for k, v in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/dgd_sparse.json")
    parser.add_argument("--sizes", default="5000,70000")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    d, latent, batch = 50, 10, 128
    results = {"settings": {"n_features": d, "latent_dim": latent, "batch_size": batch,
                            "n_components": 10, "threads": 1, "repeats": args.repeats,
                            "torch": torch.__version__, "machine": platform.machine()},
               "sizes": {}}
    for n in (int(s) for s in args.sizes.split(",")):
        X = blobs(n, d, 10, seed=0)
        epochs = max(1, 1000 * batch // n)  # about 1000 steps (at least one epoch)
        per_step = {"dense": [], "lazy": []}
        for _ in range(args.repeats):  # interleaved: the CPU is shared
            for name, lazy in (("dense", False), ("lazy", True)):
                seconds, steps = timed_fit(X, lazy, epochs)
                per_step[name].append(seconds / steps)
        fit = {k: statistics.median(v) for k, v in per_step.items()}
        upd = update_only(n, latent, batch, repeats=5)
        results["sizes"][str(n)] = {
            "epochs": epochs,
            "fit_step_ms": {k: 1e3 * v for k, v in fit.items()},
            "fit_step_ms_all": {k: [1e3 * x for x in v] for k, v in per_step.items()},
            "fit_step_speedup": fit["dense"] / fit["lazy"],
            "update_ms": {k: 1e3 * v for k, v in upd.items()},
            "update_speedup": upd["dense"] / upd["lazy"],
        }
        print(n, json.dumps(results["sizes"][str(n)]), flush=True)
    sizes = list(results["sizes"].values())
    if len(sizes) > 1:
        results["lazy_step_ratio_largest_to_smallest"] = (
            sizes[-1]["fit_step_ms"]["lazy"] / sizes[0]["fit_step_ms"]["lazy"])
        results["dense_step_ratio_largest_to_smallest"] = (
            sizes[-1]["fit_step_ms"]["dense"] / sizes[0]["fit_step_ms"]["dense"])
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
