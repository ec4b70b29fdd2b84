"""GMMRepresentation: the optimisers of the representations, cost per step as n grows.

Three ways to step the n free representations with Adam:

- ``dense-all-rows``: torch's Adam over a ``Parameter`` holding every row. Every minibatch
  step costs O(n_samples) (the gradient of ``z[idx]`` is a dense n x latent tensor, the fused
  Adam touches every row), so an epoch costs O(n_samples^2 / batch_size). The default before
  issue 19, and still the default up to 25 344 rows at the defaults (it is then the cheaper);
- ``dense``: the default, :class:`skdeepclust.nn.dgd.RecentRowsAdam` on large data: the same
  steps (a row keeps moving with its momentum after its minibatch) for the rows of the last
  ``window`` steps only, whose later steps are below rounding; O(batch_size) a step;
- ``lazy``: :class:`skdeepclust.nn.dgd.RowAdam`, a per-row Adam that moves only the
  minibatch's rows (other results: it is not the default).

Measured in one process, the modes interleaved, on one torch thread: the wall time of the
training loop of a fit (``train_loop``, the initialisation excluded) divided by its number of
minibatch steps, on synthetic 50-D Gaussian blobs; and the representation update alone (on
one minibatch). Run from the repository root::

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
from skdeepclust.nn.dgd import RecentRowsAdam, RowAdam
from skdeepclust.representation import GMMRepresentation


def blobs(n: int, d: int, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(k, d))
    return (centres[rng.integers(k, size=n)] + rng.normal(size=(n, d))).astype(np.float32)


MODES = ("dense-all-rows", "dense", "lazy")


def timed_fit(X: np.ndarray, mode: str, epochs: int) -> tuple[float, int]:
    """Seconds spent in train_loop and the number of minibatch steps."""
    spent = {}
    original = dgd_module.train_loop
    windows = dgd_module._RECENT_WINDOWS

    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        result = original(*args, **kwargs)
        spent["s"] = time.perf_counter() - t0
        spent["epochs"] = result.n_iter
        return result

    model = GMMRepresentation(10, max_epochs=epochs, tol=None, device="cpu", random_state=0)
    model._lazy_representations = mode == "lazy"
    if mode == "dense-all-rows":  # never RecentRowsAdam
        dgd_module._RECENT_WINDOWS = float("inf")
    dgd_module.train_loop = wrapper
    try:
        model.fit(X)
    finally:
        dgd_module.train_loop = original
        dgd_module._RECENT_WINDOWS = windows
    steps = spent["epochs"] * -(-X.shape[0] // model._batch_size)
    return spent["s"], steps


def update_only(n: int, dim: int, batch: int, repeats: int) -> dict:
    """Seconds per representation update: dense fused Adam, RecentRowsAdam, RowAdam."""
    g = torch.Generator().manual_seed(0)
    z_dense = torch.nn.Parameter(torch.randn(n, dim, generator=g))
    dense = torch.optim.Adam([z_dense], lr=1e-2, betas=(0.5, 0.7), fused=True)
    recent = RecentRowsAdam(torch.randn(n, dim, generator=g), 1e-2, (0.5, 0.7),
                            batch_size=batch)
    rows = RowAdam(torch.randn(n, dim, generator=g), 1e-2, (0.5, 0.7))
    out = {mode: [] for mode in MODES}
    for _ in range(repeats):
        order = torch.randperm(n, generator=g)
        grad = torch.randn(batch, dim, generator=g)
        batches = [order[(i * batch) % (n - batch):][:batch] for i in range(50)]
        t0 = time.perf_counter()
        for idx in batches:  # what the fit did: the dense grad of z[idx], then Adam
            z_dense.grad = torch.zeros_like(z_dense).index_put_((idx,), grad, accumulate=True)
            dense.step()
        out["dense-all-rows"].append((time.perf_counter() - t0) / 50)
        t0 = time.perf_counter()
        for idx in batches:
            recent.step(idx, grad)
        out["dense"].append((time.perf_counter() - t0) / 50)
        t0 = time.perf_counter()
        for idx in batches:
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
        per_step = {mode: [] for mode in MODES}
        for _ in range(args.repeats):  # interleaved: the CPU is shared
            for mode in MODES:
                seconds, steps = timed_fit(X, mode, epochs)
                per_step[mode].append(seconds / steps)
        fit = {k: statistics.median(v) for k, v in per_step.items()}
        upd = update_only(n, latent, batch, repeats=5)
        results["sizes"][str(n)] = {
            "epochs": epochs,
            "fit_step_ms": {k: 1e3 * v for k, v in fit.items()},
            "fit_step_ms_all": {k: [1e3 * x for x in v] for k, v in per_step.items()},
            "fit_step_speedup_vs_all_rows": {
                k: fit["dense-all-rows"] / fit[k] for k in ("dense", "lazy")},
            "update_ms": {k: 1e3 * v for k, v in upd.items()},
        }
        print(n, json.dumps(results["sizes"][str(n)]), flush=True)
    sizes = list(results["sizes"].values())
    if len(sizes) > 1:
        results["step_ratio_largest_to_smallest"] = {
            k: sizes[-1]["fit_step_ms"][k] / sizes[0]["fit_step_ms"][k] for k in MODES}
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
