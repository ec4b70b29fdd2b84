"""GMMRepresentation at single-cell size: negative-binomial counts with known cell types.

Issue 19's target: ``GMMRepresentation`` on 200k cells x 2 000 genes fits on 2 cores in
at most 30 min with a peak memory of at most 2 x X. This script makes such data, fits
``GMMRepresentation(n_components=K, output_distribution="negative_binomial")`` with
everything else at its defaults, and records

- ``fit.wall_s`` / ``fit.cpu_s``: wall-clock and process CPU seconds of ``fit`` (the CPU
  figure is the one to read on a shared machine: wall time under load is not the wall
  time on idle cores; ``loadavg_start`` / ``loadavg_end`` say how loaded it was), split
  into phases: ``start`` (validation, PCA of log1p(X), the EM start of the mixture, the
  decoder's output bias), ``train`` (the training loop; ``per_step_ms`` is it divided by
  its minibatch steps; ``--profile-step`` splits a step's forward and backward into the
  decoder's MLP, the negative-binomial likelihood and the rest) and ``final`` (the rest: the labels of the training rows, the
  fitted attributes);
- ``memory.peak_above_x_mb``: the peak resident set (``VmHWM``) during the fit minus the
  resident set just before it, with X built and touched and the libraries warmed up by a
  small fit; the peak is reset with ``/proc/self/clear_refs`` = 5 (Linux) before the fit,
  as in ``bench_scaling.py``. ``peak_total_over_x`` is the whole peak (X included) over
  ``X.nbytes``: the target reads ``<= 2``;
- ``scores.gmmrep``: ACC / NMI / ARI of ``labels_`` against the known cell types, next to
  ``scores.kmeans_pca``: ``KMeans(K, n_init=10)`` on the first 50 principal components of
  ``log1p`` of the counts normalised to 10 000 per cell (scanpy's ``normalize_total``,
  ``log1p``, ``pca``: what a single-cell user does first), computed chunk by chunk.

The data (seeded, made 4 096 rows at a time into one preallocated float32 array, so that
the generator never holds more than X plus a few chunk-sized temporaries). X is a
**dense float32** array (200 000 x 2 000: 1.6 GB): ``GMMRepresentation`` refuses scipy
sparse input (the TypeError is recorded under ``sparse_input``), so the counts, about
69% zeros here (``data.zero_fraction``), are stored dense.

- ``K`` cell types in ``K / 2`` lineages of two (types of one lineage share their lineage's
  markers: the pairs are the hard part), of unequal sizes (proportions ``exp(-2 i / K)``
  normalised: the largest type about 6 times the smallest);
- a base expression profile over the genes: log-normal gene means (``log mean ~ N(0,
  1.5^2)``), 40% of the genes 20 times lower (near zero);
- markers, up-regulated by a log fold change ``~ |N(1.5, 0.5^2)|`` (about 4.5 fold): 7.5%
  of the genes per lineage, 5% per type (250 of 2 000 marker genes per type);
- library sizes log-normal, ``log L ~ N(log 3 000, 0.5^2)`` (median 3 000 counts);
- counts ``~ NB(mean = L x profile, dispersion r_g)``, ``log r_g ~ N(log 3, 0.8^2)``
  (variance ``mu + mu^2 / r``), drawn as Gamma-Poisson.

Run from the repository root::

    OMP_NUM_THREADS=1 python benchmarks/bench_dgd_singlecell.py --n 2000 --genes 200   # seconds
    OMP_NUM_THREADS=1 python benchmarks/bench_dgd_singlecell.py --n 20000 --threads 1 \\
        --start-diagnosis --out benchmarks/results/dgd_singlecell_20k_1thread.json
    OMP_NUM_THREADS=1 python benchmarks/bench_dgd_singlecell.py --threads 1 \\
        --out benchmarks/results/dgd_singlecell_200k_1thread.json
    OMP_NUM_THREADS=2 python benchmarks/bench_dgd_singlecell.py --threads 2 \\
        --out benchmarks/results/dgd_singlecell_200k_2threads.json   # idle cores: the target

(``dgd_singlecell_*_1thread.json``: before the library-normalised PCA start of commit
9afb411; ``*_libnorm.json``: after it.)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import reset_peak, save_json, scores, status_mb

MB = 2**20
CHUNK = 4096


# ------------------------------------------------------------------------------ the data
def make_types(n_genes: int, n_types: int, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean expression profiles (n_types x n_genes, rows sum to 1), type proportions and
    per-gene dispersions."""
    log_base = rng.normal(0.0, 1.5, n_genes)
    low = rng.random(n_genes) < 0.4
    log_base[low] -= np.log(20.0)  # near-zero genes
    n_lineage = max(1, round(0.075 * n_genes))
    n_type = max(1, round(0.05 * n_genes))
    log_profiles = np.tile(log_base, (n_types, 1))
    for lineage in range(-(-n_types // 2)):
        genes = rng.choice(n_genes, n_lineage, replace=False)
        lfc = np.abs(rng.normal(1.5, 0.5, n_lineage))
        log_profiles[2 * lineage : 2 * lineage + 2, genes] += lfc
    for t in range(n_types):
        genes = rng.choice(n_genes, n_type, replace=False)
        log_profiles[t, genes] += np.abs(rng.normal(1.5, 0.5, n_type))
    profiles = np.exp(log_profiles - log_profiles.max(axis=1, keepdims=True))
    profiles /= profiles.sum(axis=1, keepdims=True)
    weights = np.exp(-2.0 * np.arange(n_types) / n_types)
    weights /= weights.sum()
    dispersion = np.exp(rng.normal(np.log(3.0), 0.8, n_genes))
    return profiles, weights, dispersion


def make_counts(n: int, n_genes: int, n_types: int, seed: int):
    """Counts X (float32, n x n_genes), the cell types y, and a summary of the data."""
    rng = np.random.default_rng(seed)
    profiles, weights, r = make_types(n_genes, n_types, rng)
    y = rng.choice(n_types, size=n, p=weights)
    library = np.exp(rng.normal(np.log(3000.0), 0.5, n))
    X = np.empty((n, n_genes), dtype=np.float32)
    zeros = 0
    for start in range(0, n, CHUNK):
        rows = slice(start, start + CHUNK)
        mu = profiles[y[rows]] * library[rows, None]
        rate = rng.gamma(r, 1.0, size=mu.shape)  # Gamma(r, mu / r) = Gamma(r, 1) * mu / r
        rate *= mu / r
        X[rows] = rng.poisson(rate)
        zeros += int(np.count_nonzero(X[rows] == 0))
    totals = X.sum(axis=1, dtype=np.float64)
    summary = {
        "n": n, "genes": n_genes, "types": n_types, "seed": seed,
        "type_sizes": np.bincount(y, minlength=n_types).tolist(),
        "zero_fraction": zeros / X.size,
        "library_median": float(np.median(totals)),
        "library_p5_p95": [float(np.percentile(totals, 5)), float(np.percentile(totals, 95))],
        "x_mb": X.nbytes / MB, "dtype": str(X.dtype),
    }
    return X, y, summary


# ------------------------------------------------------------------------------ baseline
def log_cp10k(block: np.ndarray, target: float | None = 1e4) -> np.ndarray:
    """scanpy's normalize_total(target_sum=target) then log1p, of a block of rows
    (float64); ``target=None``: log1p of the counts as they are."""
    block = np.array(block, dtype=np.float64)
    if target is not None:
        totals = block.sum(axis=1, keepdims=True)
        block *= target / np.maximum(totals, 1.0)
    return np.log1p(block, out=block)


def pca_log_cp10k(X: np.ndarray, n_components: int, target: float | None = 1e4) -> np.ndarray:
    """PCA scores of log1p(X normalised to ``target`` counts per row), by the covariance
    summed chunk by chunk (no copy of X; the same scores as PCA(n_components) up to
    signs)."""
    n, d = X.shape
    total = np.zeros(d)
    scatter = np.zeros((d, d))
    shift = log_cp10k(X[:CHUNK], target).mean(axis=0)
    for start in range(0, n, CHUNK):
        block = log_cp10k(X[start : start + CHUNK], target) - shift
        total += block.sum(axis=0)
        scatter += block.T @ block
    offset = total / n
    _, vectors = np.linalg.eigh(scatter / n - np.outer(offset, offset))
    components = vectors[:, ::-1][:, :n_components]
    mean = shift + offset
    scores_ = np.empty((n, n_components))
    for start in range(0, n, CHUNK):
        block = log_cp10k(X[start : start + CHUNK], target) - mean
        scores_[start : start + CHUNK] = block @ components
    return scores_


def start_diagnosis(X: np.ndarray, y: np.ndarray, k: int, latent: int, seed: int) -> dict:
    """How well the first ``latent`` principal components separate the types, for two
    transformations of the counts: log1p of the raw counts, and log1p of the counts
    normalised to the median library size. Per transformation: the share of the
    components' variance along the log library size (squared correlation of each
    component with it), and ACC / ARI of KMeans(K, n_init=10) and of the EM mixture that
    starts GMMRepresentation (``em_mixture`` on the scaled components, full covariances,
    Gaussian)."""
    from sklearn.cluster import KMeans

    from skdeepclust.representation._dgd_init import em_mixture, scale_to_softball

    log_lib = np.log(np.maximum(X.sum(axis=1, dtype=np.float64), 1.0))
    median = float(np.median(np.exp(log_lib)))
    out = {}
    for name, target in (("log1p_raw", None), ("log1p_median_normalised", median)):
        Z = pca_log_cp10k(X, latent, target)
        r2 = [float(np.corrcoef(Z[:, j], log_lib)[0, 1] ** 2) for j in range(latent)]
        km = KMeans(k, n_init=10, random_state=seed).fit_predict(Z)
        scale_to_softball(Z, 2.0)
        em = em_mixture(Z, k, "full", np.random.RandomState(seed))[3]
        out[name] = {"r2_with_log_library": r2, "kmeans": scores(y, km), "em": scores(y, em)}
        print(f"{name}: {out[name]}", flush=True)
    return out


def kmeans_baseline(X: np.ndarray, y: np.ndarray, k: int, seed: int) -> dict:
    from sklearn.cluster import KMeans

    t0, c0 = time.perf_counter(), time.process_time()
    codes = pca_log_cp10k(X, min(50, X.shape[1]))
    labels = KMeans(k, n_init=10, random_state=seed).fit_predict(codes)
    return {**scores(y, labels), "wall_s": time.perf_counter() - t0,
            "cpu_s": time.process_time() - c0,
            "method": "KMeans(K, n_init=10) on PCA(50) of log1p(counts / total * 1e4)"}


# ---------------------------------------------------------------------------- the fit
class Phases:
    """Wall and CPU seconds of the fit's start (``_initialize``) and training loop
    (``train_loop``), and the labels of the EM start of the mixture (``em_mixture``: the
    partition training starts from), by wrapping them for the duration of a ``with``
    block."""

    def __init__(self):
        self.times = {}
        self.em_labels = None

    def _em(self, fn):
        def wrapper(*args, **kwargs):
            out = fn(*args, **kwargs)
            self.em_labels = np.asarray(out[3])
            return out
        return wrapper

    def _wrap(self, name, fn):
        def wrapper(*args, **kwargs):
            t0, c0 = time.perf_counter(), time.process_time()
            out = fn(*args, **kwargs)
            self.times[name] = (time.perf_counter() - t0, time.process_time() - c0)
            if name == "train":
                self.result = out
            return out
        return wrapper

    def __enter__(self):
        import skdeepclust.representation._dgd as dgd
        import skdeepclust.representation._dgd_training as training

        self._saved = (training.train_loop, dgd.GMMRepresentation._initialize, dgd.em_mixture)
        training.train_loop = self._wrap("train", training.train_loop)
        dgd.GMMRepresentation._initialize = self._wrap("start", dgd.GMMRepresentation._initialize)
        dgd.em_mixture = self._em(dgd.em_mixture)
        return self

    def __exit__(self, *exc):
        import skdeepclust.representation._dgd as dgd
        import skdeepclust.representation._dgd_training as training

        training.train_loop, dgd.GMMRepresentation._initialize, dgd.em_mixture = self._saved


def profile_step(model, X: np.ndarray, reps: int = 200) -> dict:
    """Milliseconds (wall and CPU) of the parts of one training step's forward and backward
    on a minibatch of the fitted model: the decoder's MLP (its raw output), the
    negative-binomial log-likelihood from that output, and the whole loss (MLP,
    likelihood, mixture prior); the optimizer steps are the rest of ``per_step_ms``."""
    import torch

    decoder = model.module_.decoder
    rows = np.random.default_rng(0).choice(X.shape[0], model._batch_size, replace=False)
    dtype = model._torch_dtype
    x = torch.as_tensor(X[np.sort(rows)], dtype=dtype)
    lib = x.sum(1)
    z = torch.as_tensor(model.embedding_[np.sort(rows)], dtype=dtype).requires_grad_()
    with torch.no_grad():
        raw0 = decoder.net(z)

    def mlp():
        decoder.net(z).sum().backward()

    def likelihood():
        raw = raw0.clone().requires_grad_()
        (-decoder.output.log_prob(raw, x, lib).mean()).backward()

    def loss():
        model.module_.loss(z, x, X.shape[0], lib).backward()

    out = {"batch_size": int(x.shape[0]), "reps": reps}
    for name, fn in (("mlp", mlp), ("nb_likelihood", likelihood), ("whole_loss", loss)):
        fn()
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(reps):
            fn()
        out[f"{name}_ms"] = 1e3 * (time.perf_counter() - t0) / reps
        out[f"{name}_cpu_ms"] = 1e3 * (time.process_time() - c0) / reps
    model.module_.zero_grad(set_to_none=True)
    return out


def sparse_input_check(X: np.ndarray) -> str:
    """What GMMRepresentation says to a scipy CSR matrix (a few rows)."""
    import scipy.sparse as sp

    from skdeepclust.representation import GMMRepresentation

    try:
        GMMRepresentation(2, output_distribution="negative_binomial", max_epochs=1,
                          device="cpu").fit(sp.csr_matrix(X[:64]))
    except (TypeError, ValueError) as exc:
        return f"refused: {type(exc).__name__}: {exc}"
    return "accepted"


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, check=True, cwd=Path(__file__).resolve().parent)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "skdeepclust"],
                               check=False, capture_output=True, text=True,
                               cwd=Path(__file__).resolve().parent).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200_000, help="cells (rows)")
    parser.add_argument("--genes", type=int, default=2_000)
    parser.add_argument("--types", type=int, default=10, help="cell types = n_components")
    parser.add_argument("--seed", type=int, default=0, help="data and random_state")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--init", default="auto", help="GMMRepresentation's init")
    parser.add_argument("--no-baseline", action="store_true", help="skip KMeans on PCA")
    parser.add_argument("--profile-step", action="store_true",
                        help="also time the parts of one training step (forward + backward)")
    parser.add_argument("--start-diagnosis", action="store_true",
                        help="also cluster the PCA start codes of raw / normalised log1p counts")
    parser.add_argument("--out", default=None, help="JSON file (benchmarks/results/...)")
    args = parser.parse_args(argv)

    import torch
    from threadpoolctl import threadpool_limits

    from skdeepclust.representation import GMMRepresentation

    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)
    load_start = os.getloadavg()

    t0 = time.perf_counter()
    X, y, data = make_counts(args.n, args.genes, args.types, args.seed)
    data["make_s"] = time.perf_counter() - t0
    print(f"data: {data}", flush=True)

    # warm-up: libraries loaded, lazy compilation done, before the peak is reset
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        GMMRepresentation(2, output_distribution="negative_binomial", max_epochs=1,
                          device="cpu", random_state=0).fit(X[:200, : min(50, args.genes)])
    sparse = sparse_input_check(X)

    exact_peak = reset_peak()
    base = status_mb("VmRSS")
    model = GMMRepresentation(n_components=args.types, output_distribution="negative_binomial",
                              init=args.init, random_state=args.seed)
    with Phases() as phases, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0, c0 = time.perf_counter(), time.process_time()
        model.fit(X)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = status_mb("VmHWM")
    start_w, start_c = phases.times["start"]
    train_w, train_c = phases.times["train"]
    n_batches = -(-args.n // model._batch_size)
    steps = phases.result.n_iter * n_batches  # epochs run (a stop within an epoch: rare)
    fit = {
        "wall_s": wall, "cpu_s": cpu,
        "phases": {
            "start": {"wall_s": start_w, "cpu_s": start_c},
            "train": {"wall_s": train_w, "cpu_s": train_c, "steps": steps,
                      "per_step_ms": 1e3 * train_w / max(steps, 1),
                      "per_step_cpu_ms": 1e3 * train_c / max(steps, 1)},
            "final": {"wall_s": wall - start_w - train_w, "cpu_s": cpu - start_c - train_c},
        },
        "batch_size": model._batch_size, "max_epochs": model._max_epochs,
        "n_iter": model.n_iter_, "converged": bool(model.converged_),
        "latent_dim": model._latent_dim, "covariance_type": model._covariance_type,
        "degrees_of_freedom": model.degrees_of_freedom_,
        "warnings": sorted({f"{w.category.__name__}: {str(w.message)[:200]}" for w in caught}),
        "loss_first_last": [model.loss_curve_[0], model.loss_curve_[-1]],
    }
    memory = {
        "base_rss_mb": base, "peak_rss_mb": peak, "peak_above_x_mb": peak - base,
        "peak_reset": exact_peak, "x_mb": X.nbytes / MB,
        "peak_total_over_x": peak / (X.nbytes / MB),
        "peak_above_x_over_x": (peak - base) / (X.nbytes / MB),
    }
    print(f"fit: {fit}\nmemory: {memory}", flush=True)
    result = {
        "benchmark": "bench_dgd_singlecell", "commit": _git_commit(),
        "command": "python benchmarks/bench_dgd_singlecell.py " + " ".join(
            sys.argv[1:] if argv is None else argv),
        "estimator": "GMMRepresentation(n_components=K, output_distribution="
                     "'negative_binomial', random_state=seed), other parameters at defaults",
        "threads": args.threads, "data": data, "sparse_input": sparse,
        "fit": fit, "memory": memory,
        "scores": {"gmmrep": scores(y, model.labels_),
                   "em_start": None if phases.em_labels is None else scores(y, phases.em_labels)},
        "cluster_sizes": np.bincount(model.labels_, minlength=args.types).tolist(),
    }
    print(f"gmmrep: {result['scores']['gmmrep']}\nem_start: {result['scores']['em_start']}",
          flush=True)
    if args.profile_step:
        result["profile_step"] = profile_step(model, X)
        print(f"profile_step: {result['profile_step']}", flush=True)
    del model
    if not args.no_baseline:
        result["scores"]["kmeans_pca"] = kmeans_baseline(X, y, args.types, args.seed)
        print(f"kmeans_pca: {result['scores']['kmeans_pca']}", flush=True)
    if args.start_diagnosis:
        result["start_diagnosis"] = start_diagnosis(X, y, args.types, result["fit"]["latent_dim"],
                                                    args.seed)
    result["loadavg_start"] = list(load_start)
    result["loadavg_end"] = list(os.getloadavg())
    save_json(args.out, result)


if __name__ == "__main__":
    main()
