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

Two more sections, each its own run (``--section``):

- ``loop``: a shallow ``DMAEClustering`` epoch (batch 256, K centres, Adam, given centres
  and identity precisions so that the start costs nothing) against a bare torch loop that
  does the same matrix products with plain autograd and ``torch.optim.Adam``: for
  ``"euclidean"`` the distances ``|x|^2 - 2 x.c + |c|^2``, for ``"mahalanobis"`` the
  precisions from the same parametrisation (``Sigma_k = c C_k C_k^T + eps I``, Cholesky,
  its inverse, unit determinant) and the quadratic forms ``(x - m_k) P_k (x - m_k)`` as
  batched products.
  The estimator's CPU seconds per epoch are the difference of fits of ``E`` and ``1``
  epochs; the bare loop's the time of ``E - 1`` epochs; interleaved in one process.
- ``inference``: ``predict`` and ``score`` of a fitted shallow Mahalanobis model (a
  KMeans start with the partition's precisions, no training epoch) on ``n`` rows: CPU
  seconds per row and the peak resident set above X during the call (``VmHWM`` reset
  before it), each ``n`` in a fresh process, next to the fit's own start (KMeans,
  precisions from the partition).

- ``step``: CPU seconds of one Mahalanobis training step (batch ``--batch`` rows of
  MNIST, or synthetic rows with ``--data synthetic``; forward, backward and Adam) of the
  head today, of the package at ``--old-root`` (a checkout of an earlier commit, e.g. a
  ``git worktree``, imported under another name in the same process) and of a bare
  plain-autograd step with the precision parametrised by its Cholesky factor
  (``P_k = L_k L_k^T``, quadratic forms ``|L_k^T (x - m_k)|^2``, log-determinant
  ``2 sum_j log L_k[j, j]``): no ``d x d`` product,
  factorisation or inverse per step, but no covariance floor either, so a lower bound
  rather than the same model. Unit determinant and ``volume`` alike; best of
  ``--repeats``, interleaved. ``--profile`` adds, for each of those steps, its heaviest
  operators by self CPU time (``torch.profiler``, two steps after the timed ones), so
  that the ``d x d x d`` products, factorisations and inverses of a step can be counted.
  ``--data mnist`` needs ``--dims 784``; smaller ``d`` run on synthetic rows.

``--data mnist`` makes the ``loop`` section run on the first ``--n`` MNIST images
(pixels in [0, 1], the class means as the given centres) instead of synthetic blobs, and
``--old-root`` adds the estimator of that checkout to it (same process, interleaved).

Run from the repository root::

    OMP_NUM_THREADS=1 python benchmarks/bench_scaling_dmae.py --out benchmarks/results/dmae_kernels.json
    OMP_NUM_THREADS=1 python benchmarks/bench_scaling_dmae.py --section loop --dims 784 \
        --n 5000 --out benchmarks/results/dmae_loop_d784.json
    OMP_NUM_THREADS=1 python benchmarks/bench_scaling_dmae.py --section inference --dims 784 \
        --rows 5000 20000 --out benchmarks/results/dmae_inference_d784.json
    git worktree add --detach <temporary>/old <earlier commit>
    OMP_NUM_THREADS=1 python benchmarks/bench_scaling_dmae.py --section step --dims 784 \
        --old-root <temporary>/old --out benchmarks/results/dmae_step_d784.json
    OMP_NUM_THREADS=1 python benchmarks/bench_scaling_dmae.py --section loop --dims 784 \
        --dissimilarities mahalanobis --data mnist --n 10000 --old-root <temporary>/old \
        --out benchmarks/results/dmae_loop_mnist10k.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

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


# ------------------------------------------------------------------ section "loop"
def _synthetic(n: int, d: int, k: int, seed: int = 0):
    """MNIST-shaped blobs in [0, 1]^d, float32, and the true centres."""
    import numpy as np

    rng = np.random.default_rng(seed)
    centres = rng.uniform(0.1, 0.9, size=(k, d)).astype(np.float32)
    y = rng.integers(k, size=n)
    X = np.clip(centres[y] + rng.normal(0, 0.1, (n, d)).astype(np.float32), 0, 1)
    return X.astype(np.float32), centres


def _bare_epoch_factory(X, centres, dissimilarity: str, alpha: float, batch: int, lr: float):
    """One epoch of the DMAE loss with plain torch ops and ``torch.optim.Adam``."""
    import torch

    n, d = X.shape
    k = centres.shape[0]
    x_all = torch.as_tensor(X)
    variance = float(x_all.var(0, unbiased=False).mean())
    floor = 1e-2 * variance
    C = torch.nn.Parameter(torch.as_tensor(centres).clone())
    logits = torch.nn.Parameter(torch.zeros(k))
    params = [C, logits]
    raw = None
    if dissimilarity == "mahalanobis":
        raw = torch.nn.Parameter(torch.zeros(k, d, d))
        params.append(raw)
    opt = torch.optim.Adam(params, lr=lr)
    eye = torch.eye(d)
    gen = torch.Generator().manual_seed(0)

    def precisions():
        F = raw.tril(-1) + torch.diag_embed(raw.diagonal(dim1=-2, dim2=-1).exp())
        chol = torch.linalg.cholesky(variance * (F @ F.transpose(-1, -2)) + floor * eye)
        vol = (2 * chol.diagonal(dim1=-2, dim2=-1).log().mean(-1)).exp()
        return torch.cholesky_inverse(chol) * vol[:, None, None]

    def loss(x):
        log_pi = torch.log_softmax(logits, 0)
        if raw is None:
            D = ((x * x).sum(1, keepdim=True) - 2 * x @ C.T + (C * C).sum(1)).clamp_min(0)
            D = D.clamp_min(1e-12).sqrt()
        else:
            P = precisions()
            V = x.unsqueeze(0) - C.unsqueeze(1)  # (K, n, d)
            D = (torch.bmm(V, P) * V).sum(-1).T
        log_s = torch.log_softmax(-alpha * D + log_pi, -1)
        s = log_s.exp()
        r = x - s @ C
        if raw is None:
            rec = (r * r).sum(1).clamp_min(1e-12).sqrt()
        else:
            rP = torch.matmul(r.unsqueeze(0), P)  # (K, n, d)
            rec = (s.T * (rP * r.unsqueeze(0)).sum(-1)).sum(0)
        return (rec - torch.logsumexp(log_s + log_pi, -1) / alpha).mean()

    def epoch():
        order = torch.randperm(n, generator=gen)
        for start in range(0, n, batch):
            opt.zero_grad(set_to_none=True)
            loss(x_all[order[start : start + batch]]).backward()
            opt.step()

    return epoch


def _child_loop(dissimilarity: str, n: int, d: int, k: int, epochs: int,
                data: str = "synthetic", old_root: str = "-") -> dict:
    import warnings

    import torch

    from skdeepclust.cluster import DMAEClustering

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    X, centres = _rows(data, n, d, k)
    alpha, batch, lr = 100.0, 256, 1e-2
    old_cls = None if old_root == "-" else _import_root(old_root).cluster.DMAEClustering

    def ours(e, cls=DMAEClustering):
        est = cls(
            k, dissimilarity=dissimilarity, alpha=alpha, autoencoder=None, init=centres,
            precision_init="identity", batch_size=batch, learning_rate=lr, max_epochs=e,
            tol=None, device="cpu", random_state=0,
        )
        c0 = time.process_time()
        est.fit(X)
        return time.process_time() - c0

    bare = _bare_epoch_factory(X, centres, dissimilarity, alpha, batch, lr)
    ours(1)  # warm-up
    if old_cls is not None:
        ours(1, old_cls)
    bare_runs, ours_runs, old_runs = [], [], []
    for _ in range(2):  # interleaved: all see the same load
        c0 = time.process_time()
        for _ in range(epochs - 1):
            bare()
        bare_runs.append((time.process_time() - c0) / (epochs - 1))
        ours_runs.append((ours(epochs) - ours(1)) / (epochs - 1))
        if old_cls is not None:
            old_runs.append((ours(epochs, old_cls) - ours(1, old_cls)) / (epochs - 1))
    ours_s, bare_s = min(ours_runs), min(bare_runs)
    record = {"dissimilarity": dissimilarity, "data": data, "n": n, "d": d, "K": k,
              "batch_size": batch, "ours_cpu_s_per_epoch": ours_s,
              "bare_cpu_s_per_epoch": bare_s, "ours_over_bare": ours_s / bare_s,
              "ours_us_per_sample_epoch": ours_s / n * 1e6,
              "ours_cpu_s_per_epoch_runs": ours_runs, "bare_cpu_s_per_epoch_runs": bare_runs,
              "today_commit": _commit(os.getcwd())}
    if old_runs:
        record.update(old_cpu_s_per_epoch=min(old_runs), old_cpu_s_per_epoch_runs=old_runs,
                      old_over_ours=min(old_runs) / ours_s,
                      old_over_bare=min(old_runs) / bare_s, old_commit=_commit(old_root))
    return record


def _import_root(root: str, alias: str = "skdeepclust_old"):
    """The package of the checkout at ``root`` imported as ``alias`` (same process)."""
    import importlib
    import importlib.util

    if alias in sys.modules:
        return sys.modules[alias]
    spec = importlib.util.spec_from_file_location(
        alias, os.path.join(root, "skdeepclust", "__init__.py"),
        submodule_search_locations=[os.path.join(root, "skdeepclust")])
    module = importlib.util.module_from_spec(spec)
    sys.modules[alias] = module
    spec.loader.exec_module(module)
    return module


def _rows(data: str, n: int, d: int, k: int):
    """``(X, centres)``: the first ``n`` MNIST images and their class means, or blobs."""
    import numpy as np

    if data == "synthetic":
        return _synthetic(n, d, k)
    from _panel import mnist10k, mnist70k

    X, y = (mnist10k() if n <= 10_000 else mnist70k())
    X, y = X[:n], y[:n]
    if d != X.shape[1]:
        raise ValueError(f"--data mnist has {X.shape[1]} features, not {d}")
    centres = np.stack([X[y == c].mean(0) for c in range(k)]).astype(np.float32)
    return np.ascontiguousarray(X), centres


def _factor_step_factory(x, centres, variance: float, volume: bool, lr: float):
    """A bare training step with P_k = L_k L_k^T (Cholesky-factor parametrisation)."""
    import torch

    k, d = centres.shape
    C = torch.nn.Parameter(torch.as_tensor(centres).clone())
    logits = torch.nn.Parameter(torch.zeros(k))
    raw = torch.nn.Parameter(torch.zeros(k, d, d))
    opt = torch.optim.Adam([C, logits, raw], lr=lr)
    mask = torch.ones(d, d).tril_(-1)
    alpha = 100.0

    def step():
        opt.zero_grad(set_to_none=True)
        log_diag = raw.diagonal(dim1=-2, dim2=-1)
        L = raw * mask + torch.diag_embed(log_diag.exp())
        if volume:
            scale = torch.full((k,), 1.0 / variance)
            volumes = -2 * log_diag.sum(-1)  # -log det(c P_k)
        else:  # unit determinant
            scale = torch.exp(-2 * log_diag.mean(-1))
            volumes = torch.zeros(k)
        Z = torch.matmul(x - C.unsqueeze(1), L)  # (K, n, d)
        D = (Z * Z).sum(-1).T * scale + volumes
        log_pi = torch.log_softmax(logits, 0)
        log_s = torch.log_softmax(-alpha * D + log_pi, -1)
        s = log_s.exp()
        R = torch.matmul(x - s @ C, L)  # (K, n, d)
        rec = (s * ((R * R).sum(-1).T * scale + volumes)).sum(1)
        (rec - torch.logsumexp(log_s + log_pi, -1) / alpha).mean().backward()
        opt.step()

    return step


def _profile_steps(steps: dict, calls: int = 2, top: int = 12) -> dict:
    """Per step, the ``top`` operators of each step by self CPU time (torch.profiler): the
    milliseconds and calls per step of each, and the step's total."""
    import torch

    out = {}
    for name, step in steps.items():
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            for _ in range(calls):
                step()
        events = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
        out[name] = {
            "total_self_cpu_ms_per_step": sum(e.self_cpu_time_total for e in events)
            / calls / 1e3,
            "top_ops": [{"op": e.key, "self_cpu_ms_per_step": e.self_cpu_time_total / calls / 1e3,
                         "calls_per_step": e.count / calls} for e in events[:top]],
        }
    return out


def _child_step(data: str, old_root: str, n: int, d: int, k: int, batch: int,
                repeats: int, profile: bool = False) -> dict:
    import torch

    torch.set_num_threads(1)
    X, centres = _rows(data, n, d, k)
    x = torch.as_tensor(X[:batch])
    variance = float(torch.as_tensor(X).var(0, unbiased=False).mean())
    import skdeepclust.nn.dmae

    packages = {"today": skdeepclust}
    if old_root != "-":
        packages["old"] = _import_root(old_root)
    record = {"data": data, "n_rows_for_variance": n, "d": d, "K": k, "batch_size": batch,
              "old_root_commit": _commit(old_root) if old_root != "-" else None,
              "today_commit": _commit(str(Path(skdeepclust.__file__).parents[1]))}
    for volume in (False, True):
        steps = {}
        for name, package in packages.items():
            torch.manual_seed(0)
            head = package.nn.dmae.DissimilarityMixtureAutoencoder(
                k, d, alpha=100.0, dissimilarity="mahalanobis", volume=volume,
                covariance_floor=1e-2 * variance, covariance_scale=variance)
            with torch.no_grad():
                head.centers.copy_(torch.as_tensor(centres))
            opt = torch.optim.Adam(head.parameters(), lr=1e-2)

            def step(head=head, opt=opt):
                opt.zero_grad(set_to_none=True)
                head.loss(x).mean().backward()
                opt.step()

            steps[name] = step
        steps["bare_cholesky_factor"] = _factor_step_factory(x, centres, variance, volume, 1e-2)
        best = {name: float("inf") for name in steps}
        for step in steps.values():  # warm-up
            step()
        for _ in range(repeats):
            for name, step in steps.items():
                c0 = time.process_time()
                step()
                best[name] = min(best[name], time.process_time() - c0)
        key = "volume" if volume else "unit_determinant"
        record[key] = {f"{name}_cpu_s_per_step": t for name, t in best.items()}
        if "old" in best:
            record[key]["old_over_today"] = best["old"] / best["today"]
        record[key]["today_over_bare_cholesky_factor"] = (
            best["today"] / best["bare_cholesky_factor"])
        if profile:
            record[key]["profile"] = _profile_steps(steps)
    return record


def _commit(root: str) -> str | None:
    try:
        return subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


# ------------------------------------------------------------- section "inference"
def _status_mb(field: str) -> float:
    text = Path("/proc/self/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE).group(1)) / 1024.0


def _reset_peak() -> None:
    """Return freed heap pages to the system (so that a call's temporaries show in the
    resident set instead of reusing pages the process already holds), then reset the peak."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:  # not glibc
        pass
    Path("/proc/self/clear_refs").write_text("5")


def _child_inference(n: int, d: int, k: int) -> dict:
    import warnings

    import torch

    from skdeepclust.cluster import DMAEClustering

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    X, _ = _synthetic(n, d, k)

    def make():
        return DMAEClustering(k, dissimilarity="mahalanobis", autoencoder=None, n_init=1,
                              max_epochs=0, tol=None, device="cpu", random_state=0)

    make().fit(X[:300])  # libraries loaded
    record = {"n": n, "d": d, "K": k, "x_mb": X.nbytes / 2**20}
    _reset_peak()
    base = _status_mb("VmRSS")
    c0 = time.process_time()
    est = make().fit(X)  # KMeans start, precisions of its partition, labels_ pass
    record["fit_start_cpu_s"] = time.process_time() - c0
    record["fit_start_peak_above_x_mb"] = _status_mb("VmHWM") - base
    for name in ("predict", "score"):
        method = getattr(est, name)
        method(X[:300])
        _reset_peak()
        base = _status_mb("VmRSS")
        c0 = time.process_time()
        method(X)
        record[f"{name}_cpu_us_per_row"] = (time.process_time() - c0) / n * 1e6
        record[f"{name}_peak_above_x_mb"] = _status_mb("VmHWM") - base
    record["target_mb"] = 0.5 * record["x_mb"] + 300.0
    return record


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
    parser.add_argument("--section", choices=["kernels", "loop", "inference", "step"],
                        default="kernels")
    parser.add_argument("--dissimilarities", nargs="+", default=["euclidean", "mahalanobis"],
                        help="section loop: the dissimilarities")
    parser.add_argument("--epochs", type=int, default=2,
                        help="section loop: the long fit's epochs (per-epoch = E vs 1)")
    parser.add_argument("--rows", type=int, nargs="+", default=[5000, 20000],
                        help="section inference: the row counts")
    parser.add_argument("--data", choices=["synthetic", "mnist"], default="synthetic",
                        help="sections loop and step: synthetic blobs or MNIST rows")
    parser.add_argument("--old-root", default="-",
                        help="sections loop and step: a checkout of an earlier commit, "
                             "imported in the same process for an old-vs-new comparison")
    parser.add_argument("--batch", type=int, default=256, help="section step: rows a step")
    parser.add_argument("--profile", action="store_true",
                        help="section step: also record each step's heaviest operators "
                             "(torch.profiler, self CPU time)")
    parser.add_argument("--label", default=None, help="tag stored with the results")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "loop":
            dissimilarity, n, d, k, epochs, data, old_root = rest
            print(json.dumps(_child_loop(dissimilarity, *map(int, (n, d, k, epochs)),
                                         data, old_root)))
        elif kind == "step":
            data, old_root, n, d, k, batch, repeats, profile = rest
            print(json.dumps(_child_step(data, old_root, *map(int, (n, d, k, batch, repeats)),
                                         profile=profile == "1")))
        elif kind == "inference":
            print(json.dumps(_child_inference(*map(int, rest))))
        elif kind == "memory":
            variant, n, d, k = rest
            print(json.dumps(_child_memory(variant, int(n), int(d), int(k))))
        else:
            old, new, n_old, n, d, k, repeats = rest
            print(json.dumps(_child_time(old, new, *map(int, (n_old, n, d, k, repeats)))))
        return

    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    if args.section != "kernels":
        _other_section(args, env)
        return
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


def _other_section(args, env: dict) -> None:
    records = []
    for d in args.dims:
        if args.section == "loop":
            for dissimilarity in args.dissimilarities:
                rec = _run_child(["loop", dissimilarity, args.n, d, args.k, args.epochs,
                                  args.data, args.old_root], env)
                print(f"loop d={d} {dissimilarity:12s} ours {rec['ours_cpu_s_per_epoch']:.3f} s"
                      f" / bare {rec['bare_cpu_s_per_epoch']:.3f} s per epoch = "
                      f"{rec['ours_over_bare']:.2f}x"
                      + (f"; old {rec['old_cpu_s_per_epoch']:.3f} s = "
                         f"{rec['old_over_ours']:.2f}x ours" if "old_over_ours" in rec else ""),
                      flush=True)
                records.append(rec)
        elif args.section == "step":
            rec = _run_child(["step", args.data, args.old_root, args.n, d, args.k, args.batch,
                              args.repeats, int(args.profile)], env)
            times = {key: {name: value for name, value in v.items() if name != "profile"}
                     for key, v in rec.items() if isinstance(v, dict)}
            print(f"step d={d}: {json.dumps(times)}", flush=True)
            records.append(rec)
        else:
            for n in args.rows:
                rec = _run_child(["inference", n, d, args.k], env)
                print(f"inference d={d} n={n}: " + ", ".join(
                    f"{key} {value:.4g}" for key, value in rec.items()
                    if key not in ("n", "d", "K")), flush=True)
                records.append(rec)
    argv = list(sys.argv)
    if "--old-root" in argv[:-1]:  # a temporary checkout outside the repository
        argv[argv.index("--old-root") + 1] = "<old checkout>"
    result = {
        "benchmark": f"bench_scaling_dmae --section {args.section}",
        "label": args.label,
        "command": "OMP_NUM_THREADS=1 python " + " ".join(argv),
        "dtype": "float32",
        "threads": 1,
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpus": os.cpu_count()},
        "records": records,
    }
    if args.out:
        os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
        with open(args.out, "w") as fh:
            json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
