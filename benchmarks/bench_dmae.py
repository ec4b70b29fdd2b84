"""DMAE: skdeepclust's DMAEClustering next to KMeans, GaussianMixture and DECClustering.

Two parts, each printing one table of ACC (Hungarian), NMI (arithmetic), ARI and fit
seconds, mean ± sd over the seeds, all methods run side by side in this process:

``shallow``
    DMAEClustering on the data itself (Euclidean, alpha=100, and Mahalanobis, alpha=10;
    both from KMeans centres, Adam with learning rate 1e-3, batch 64) against
    ``KMeans(n_init=10)`` and ``GaussianMixture(covariance_type="full", n_init=3)`` on
    scikit-learn's digits (/16) and three synthetic sets (Gaussian blobs, scikit-learn's
    anisotropic blobs, blobs of unequal variance).

``deep``
    Equal budget on MNIST (first 10k images by default, /255): for every seed one
    autoencoder d-500-500-2000-10 is pretrained and shared by AE+KMeans, DECClustering and
    DMAEClustering, which then get the same number of clustering epochs, optimizer
    (Adam) and batch size; each uses its own default learning rate (DEC 1e-4, deep DMAE
    1e-5) and initialisation (both KMeans with ``n_init=20``; DMAE then fits its mixture
    alone on the 10-dimensional codes for ``mixture_epochs``, a few CPU seconds). DMAE is
    the covariance variant (``--dissimilarity mahalanobis --alpha 10`` by default). ``--augment N`` adds N randomly shifted and
    rotated copies of every image to the training set of the pretraining and of both
    clustering phases (the DMAE replication trained with rotation/shift augmentation);
    the scores are always on the original images.

``defaults``
    Every estimator constructed with only ``n_clusters`` and ``random_state``, next to
    ``KMeans(n_clusters, n_init=10, random_state=seed)``, on the data panel of
    ``_panel.py``: shallow ``DMAEClustering(K)`` (Euclidean) and
    ``DMAEClustering(K, dissimilarity="mahalanobis")`` on every set with structure
    (Mahalanobis skips the 384-D embeddings), and the deep
    ``DMAEClustering(K, autoencoder="auto")`` on digits (``--deep-data``). The table has
    mean ± sd and the worst seed of ACC / NMI / ARI, the fit time as a ratio to KMeans'
    (same process), the seeds at or above KMeans' ACC and the warnings raised. For the
    deep model it also scores KMeans on the pretrained codes (``AE+KMeans``, the
    autoencoder's share of the result).

Examples
--------
Defaults panel, 5 seeds (a few minutes on one thread)::

    nice -n 10 python benchmarks/bench_dmae.py --part defaults \\
        --json benchmarks/results/dmae_defaults.json

Quick run (digits only, one seed, about a minute)::

    nice -n 10 python benchmarks/bench_dmae.py --quick

Shallow part, 5 seeds::

    nice -n 10 python benchmarks/bench_dmae.py --part shallow --seeds 0 1 2 3 4

Deep part on MNIST-10k at equal budget, reusing pretrained autoencoders from a cache
folder, the Euclidean DMAE without the mixture epochs::

    nice -n 10 python benchmarks/bench_dmae.py --part deep --data mnist10k --seeds 0 \\
        --pretrain-epochs 20 --clustering-epochs 20 --ae-cache ae_cache \\
        --dissimilarity euclidean --alpha 100 --dmae-params '{"mixture_epochs": 0}'

Deep part on MNIST-10k at equal budget, 3 seeds::

    nice -n 10 python benchmarks/bench_dmae.py --part deep --data mnist10k --seeds 0 1 2 \\
        --pretrain-epochs 20 --clustering-epochs 20
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits, make_blobs
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import scores  # noqa: E402

from skdeepclust.cluster import DMAEClustering  # noqa: E402
from skdeepclust.representation import AutoEncoder  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MNIST = ROOT.parent / "shared" / "data" / "mnist.npz"
HIDDEN = (500, 500, 2000)




def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


# ------------------------------------------------------------------------------ shallow
SHALLOW_DATA = ("digits", "blobs", "aniso", "aniso-resampled", "varied")
ANISO = [[0.6, -0.6], [-0.4, 0.8]]


def shallow_dataset(name: str, seed: int):
    """``(X, y)``; only ``aniso-resampled`` depends on ``seed``."""
    if name == "digits":
        X, y = load_digits(return_X_y=True)
        return X / 16.0, y
    if name == "blobs":
        X, y = make_blobs(1500, centers=5, cluster_std=1.5, random_state=0)
    elif name == "aniso":  # scikit-learn's anisotropic blobs (the clustering comparison demo)
        X, y = make_blobs(1500, random_state=170)
        X = X @ ANISO
    elif name == "aniso-resampled":  # same centres and skew, new samples for every seed
        _, _, centers = make_blobs(1500, random_state=170, return_centers=True)
        X, y = make_blobs(1500, centers=centers, random_state=seed)
        X = X @ ANISO
    else:
        X, y = make_blobs(1500, cluster_std=[1.0, 2.5, 0.5], random_state=170)
    return StandardScaler().fit_transform(X), y


def shallow_methods(k: int, seed: int, epochs: int) -> dict:
    common = dict(learning_rate=1e-3, batch_size=64, max_epochs=epochs, tol=None,
                  device="cpu", random_state=seed)
    return {
        "KMeans(n_init=10)": lambda: KMeans(k, n_init=10, random_state=seed),
        "GaussianMixture(full, n_init=3)": lambda: GaussianMixture(
            k, covariance_type="full", n_init=3, random_state=seed),
        "DMAE euclidean": lambda: DMAEClustering(k, alpha=100.0, **common),
        "DMAE mahalanobis": lambda: DMAEClustering(k, dissimilarity="mahalanobis",
                                                   alpha=10.0, **common),
    }


def run_shallow(args) -> dict:
    results: dict = {}
    for data in args.shallow_data:
        for seed in args.seeds:
            X, y = shallow_dataset(data, seed)
            k = len(np.unique(y))
            for name, make in shallow_methods(k, seed, args.shallow_epochs).items():
                labels, seconds = timed(lambda: make().fit_predict(X))
                row = {**scores(y, labels), "fit_s": seconds, "seed": seed}
                results.setdefault((data, name), []).append(row)
                print(f"  {data:7s} seed {seed} {name:32s} acc={row['acc']:.3f} "
                      f"ari={row['ari']:.3f} {seconds:.2f}s", flush=True)
    return results


# --------------------------------------------------------------------------------- deep
def load_deep(name: str, path: Path):
    if name == "digits":
        X, y = load_digits(return_X_y=True)
        return (X / 16.0).astype(np.float32), y
    n = {"mnist10k": 10_000, "mnist70k": 70_000}[name]
    with np.load(path) as data:
        return (data["X"][:n] / 255.0).astype(np.float32), data["y"][:n]


def augment(X: np.ndarray, copies: int, seed: int) -> np.ndarray:
    """``copies`` randomly shifted (±2 px) and rotated (±0.3 rad) copies of square images."""
    from scipy.ndimage import rotate, shift

    if copies == 0:
        return X
    side = int(round(np.sqrt(X.shape[1])))
    rng = np.random.RandomState(seed)
    images = X.reshape(-1, side, side)
    out = [X]
    for _ in range(copies):
        batch = np.empty_like(images)
        for i, img in enumerate(images):
            img = rotate(img, np.degrees(rng.uniform(-0.3, 0.3)), reshape=False, order=1)
            batch[i] = shift(img, rng.uniform(-2, 2, size=2), order=1)
        out.append(np.clip(batch, 0, 1).reshape(len(X), -1))
    return np.concatenate(out).astype(X.dtype)


def pretrained(args, X, seed: int, hidden):
    """The augmented training set and the pretrained autoencoder of ``seed``.

    With ``--ae-cache DIR`` both are stored there with their (wall, CPU) seconds and
    reused by later runs with the same data, augmentation and pretraining settings.
    """
    import pickle

    key = (f"{args.data}_aug{args.augment}_s{seed}_e{args.pretrain_epochs}"
           f"_lr{args.pretrain_lr:g}_b{args.batch_size}")
    path = args.ae_cache / f"ae_{key}.pkl" if args.ae_cache else None
    if path is not None and path.is_file():
        with open(path, "rb") as f:
            cached = pickle.load(f)
        print(f"  seed {seed}: pretrained autoencoder from {path}", flush=True)
        return cached["X_train"], cached["ae"], cached["wall_s"], cached["cpu_s"]
    start, cpu = time.perf_counter(), time.process_time()
    X_train = augment(X, args.augment, seed)
    ae = AutoEncoder(n_components=10, hidden_layer_sizes=hidden, optimizer="adam",
                     learning_rate=args.pretrain_lr, batch_size=args.batch_size,
                     max_epochs=args.pretrain_epochs, tol=None, device="cpu",
                     random_state=seed).fit(X_train)
    wall_s, cpu_s = time.perf_counter() - start, time.process_time() - cpu
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            pickle.dump({"X_train": X_train, "ae": ae, "wall_s": wall_s, "cpu_s": cpu_s}, f)
    return X_train, ae, wall_s, cpu_s


def run_deep(args) -> dict:
    from skdeepclust.cluster import DECClustering

    X, y = load_deep(args.data, args.mnist)
    k = len(np.unique(y))
    hidden = HIDDEN if args.data != "digits" else (256, 256)
    dmae_extra = json.loads(args.dmae_params)
    dmae_name = (f"DMAEClustering({args.dissimilarity}, alpha={args.alpha:g})"
                 + "".join(f", {k_}={v}" for k_, v in dmae_extra.items()))
    results: dict = {}
    for seed in args.seeds:
        X_train, ae, pre_s, pre_cpu = pretrained(args, X, seed, hidden)
        start, cpu = time.perf_counter(), time.process_time()
        labels = KMeans(k, n_init=20, random_state=seed).fit_predict(ae.transform(X))
        rows = {"AE+KMeans": {**scores(y, labels), "cluster_s": time.perf_counter() - start,
                              "cluster_cpu_s": time.process_time() - cpu}}
        budget = dict(learning_rate=args.clustering_lr, batch_size=args.batch_size,
                      max_epochs=args.clustering_epochs, device="cpu", random_state=seed)
        models = {}
        if not args.no_dec:
            models["DECClustering"] = DECClustering(k, autoencoder=ae, tol=0.0, optimizer="adam",
                                                    **budget)
        # DMAE keeps its own learning rate ("auto": 1e-5 when deep) unless --dmae-params
        # sets one; epochs, optimizer and batch are DEC's
        dmae_budget = {key: v for key, v in budget.items() if key != "learning_rate"}
        models[dmae_name] = DMAEClustering(
            k, autoencoder=ae, **{"dissimilarity": args.dissimilarity, "alpha": args.alpha,
                                  "tol": None, "n_init": 20, **dmae_budget, **dmae_extra})
        for name, model in models.items():
            start, cpu = time.perf_counter(), time.process_time()
            model.fit(X_train)
            rows[name] = {"cluster_s": time.perf_counter() - start,
                          "cluster_cpu_s": time.process_time() - cpu}
            labels = model.predict(X)
            rows[name].update(scores(y, labels), largest_cluster=float(
                np.bincount(labels, minlength=k).max() / len(labels)))
        for name, row in rows.items():
            row.update(pretrain_s=pre_s, pretrain_cpu_s=pre_cpu,
                       fit_s=pre_s + row["cluster_s"], seed=seed)
            results.setdefault((args.data + (f"+aug{args.augment}" if args.augment else ""),
                                name), []).append(row)
            print(f"  seed {seed} {name:30s} acc={row['acc']:.3f} nmi={row['nmi']:.3f} "
                  f"ari={row['ari']:.3f} pretrain {row['pretrain_s']:.0f}s "
                  f"({row['pretrain_cpu_s']:.0f} cpu) cluster {row['cluster_s']:.0f}s "
                  f"({row['cluster_cpu_s']:.0f} cpu)", flush=True)
    return results


# ----------------------------------------------------------------------------- defaults
DEFAULTS_SHALLOW = ("digits", "wine", "breast_cancer", "aniso_blobs", "varied_blobs", "emb384")


def _fit_scored(make, X, y):
    """Fit ``make()`` on ``X``; its scores, fit seconds, estimator and warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = make()
        start = time.perf_counter()
        est.fit(X)
        seconds = time.perf_counter() - start
    labels = est.labels_
    row = {**scores(y, labels), "fit_s": seconds,
           "largest_cluster": float(np.bincount(labels).max() / len(labels)),
           "warnings": [str(w.message) for w in caught]}
    return row, est


def run_defaults(args) -> dict:
    """Every DMAE default next to KMeans(n_init=10) on the panel, per seed."""
    from _panel import PANEL

    results: dict = {}
    jobs = [(name, "shallow") for name in args.defaults_data]
    jobs += [(name, "deep") for name in args.deep_data]
    for data, kind in jobs:
        X, y = PANEL[data]()
        k = len(np.unique(y))
        for seed in args.seeds:
            methods = {"KMeans(n_init=10)": lambda: KMeans(k, n_init=10, random_state=seed)}
            if kind == "shallow":
                methods["DMAE"] = lambda: DMAEClustering(k, random_state=seed)
                if X.shape[1] <= 64:
                    methods["DMAE mahalanobis"] = lambda: DMAEClustering(
                        k, dissimilarity="mahalanobis", random_state=seed)
            else:
                methods["DMAE deep (autoencoder='auto')"] = lambda: DMAEClustering(
                    k, autoencoder="auto", random_state=seed)
            rows = {}
            for name, make in methods.items():
                rows[name], est = _fit_scored(make, X, y)
                if kind == "deep" and name != "KMeans(n_init=10)":
                    codes = est.autoencoder_.transform(X)
                    ae_km = KMeans(k, n_init=10, random_state=seed).fit(codes)
                    rows["AE+KMeans (its codes)"] = {**scores(y, ae_km.labels_),
                                                     "fit_s": float("nan"), "warnings": []}
            km = rows["KMeans(n_init=10)"]
            for name, row in rows.items():
                row.update(seed=seed, kmeans_acc=km["acc"],
                           time_ratio=row["fit_s"] / km["fit_s"])
                results.setdefault((data, name), []).append(row)
                print(f"  {data:13s} seed {seed} {name:32s} acc={row['acc']:.3f} "
                      f"nmi={row['nmi']:.3f} ari={row['ari']:.3f} {row['fit_s']:6.2f}s "
                      f"(x{row['time_ratio']:.1f} KMeans) warnings={len(row['warnings'])}",
                      flush=True)
    return results


def summarize_defaults(results: dict) -> str:
    lines = [f"{'data':13s} {'method':32s} " + " ".join(
        f"{c + ' mean±sd (worst)':>24s}" for c in ("ACC", "NMI", "ARI"))
        + f" {'time/KMeans':>12s} {'ACC>=KM':>8s} {'warned':>6s}"]
    for (data, name), runs in results.items():
        cells = []
        for c in ("acc", "nmi", "ari"):
            v = np.array([r[c] for r in runs])
            cells.append(f"{v.mean():.3f} ± {v.std():.3f} ({v.min():.3f})")
        ratio = np.array([r["time_ratio"] for r in runs])
        wins = sum(r["acc"] >= r["kmeans_acc"] for r in runs)
        warned = sum(bool(r["warnings"]) for r in runs)
        lines.append(f"{data:13s} {name:32s} " + " ".join(f"{c:>24s}" for c in cells)
                     + f" {np.nanmean(ratio):12.1f} {wins:>5d}/{len(runs)} {warned:>6d}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------- main
def summarize(results: dict) -> str:
    cols = ["acc", "nmi", "ari", "fit_s"]
    lines = [f"{'data':12s} {'method':34s} " + " ".join(f"{c:>15s}" for c in cols)]
    for (data, name), runs in results.items():
        cells = []
        for c in cols:
            vals = np.array([r[c] for r in runs])
            fmt = "{:9.1f} ±{:4.1f}" if c.endswith("_s") else "{:9.3f} ±{:.3f}"
            cells.append(fmt.format(vals.mean(), vals.std()))
        lines.append(f"{data:12s} {name:34s} " + " ".join(cells) + f"  (n={len(runs)})")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", default="both",
                        choices=["shallow", "deep", "both", "defaults"])
    parser.add_argument("--defaults-data", nargs="*", default=list(DEFAULTS_SHALLOW),
                        help="panel sets of the shallow models in --part defaults")
    parser.add_argument("--deep-data", nargs="*", default=["digits"],
                        help="panel sets of the deep model in --part defaults")
    parser.add_argument("--data", default="mnist10k", choices=["digits", "mnist10k", "mnist70k"],
                        help="data of the deep part")
    parser.add_argument("--mnist", type=Path, default=Path(os.environ.get(
        "SKDEEPCLUST_MNIST", DEFAULT_MNIST)), help="path to mnist.npz (keys X, y)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--shallow-data", nargs="+", default=list(SHALLOW_DATA),
                        choices=SHALLOW_DATA, help="data sets of the shallow part")
    parser.add_argument("--shallow-epochs", type=int, default=50)
    parser.add_argument("--pretrain-epochs", type=int, default=50)
    parser.add_argument("--clustering-epochs", type=int, default=50)
    parser.add_argument("--pretrain-lr", type=float, default=1e-3)
    parser.add_argument("--clustering-lr", type=float, default=1e-4,
                        help="DEC's learning rate (DMAE uses its default unless "
                        "--dmae-params sets learning_rate)")
    parser.add_argument("--alpha", type=float, default=10.0, help="alpha of the deep DMAE")
    parser.add_argument("--dissimilarity", default="mahalanobis",
                        help="dissimilarity of the deep DMAE")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--augment", type=int, default=0,
                        help="shifted/rotated copies of every image added for training")
    parser.add_argument("--ae-cache", type=Path, default=None,
                        help="folder to store / reuse the pretrained autoencoders")
    parser.add_argument("--dmae-params", default="{}",
                        help="extra DMAEClustering parameters as JSON, e.g. "
                        "'{\"reconstruction_weight\": 0.1}'")
    parser.add_argument("--no-dec", action="store_true", help="skip DECClustering")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1 is fastest on a shared 2-core machine)")
    parser.add_argument("--quick", action="store_true",
                        help="one seed; shallow on digits; deep on digits, 10+10 epochs")
    parser.add_argument("--json", type=Path, help="write every run's figures here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)  # BLAS/OpenMP of numpy, KMeans and GaussianMixture too
    if args.quick:
        args.seeds, args.data, args.shallow_data = args.seeds[:1], "digits", ["digits"]
        args.shallow_epochs, args.pretrain_epochs, args.clustering_epochs = 20, 10, 10
    print(f"seeds {args.seeds}, torch threads {torch.get_num_threads()}", flush=True)
    results: dict = {}
    if args.part == "defaults":
        results = run_defaults(args)
        print()
        print(summarize_defaults(results))
    if args.part in ("shallow", "both"):
        print(f"shallow: {args.shallow_epochs} epochs", flush=True)
        results.update(run_shallow(args))
    if args.part in ("deep", "both"):
        if args.data != "digits" and not args.mnist.is_file():
            warnings.warn(f"no MNIST file at {args.mnist}; skipping the deep part")
        else:
            print(f"deep: {args.data}, pretrain {args.pretrain_epochs} + clustering "
                  f"{args.clustering_epochs} epochs, batch {args.batch_size}, augment "
                  f"{args.augment}", flush=True)
            results.update(run_deep(args))
    if args.part != "defaults":
        print()
        print(summarize(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        # paths relative to the repository (no machine's absolute paths in the results)
        payload = {"args": {k: os.path.relpath(v, ROOT) if isinstance(v, Path) else v
                            for k, v in vars(args).items()},
                   "results": {f"{d} | {n}": runs for (d, n), runs in results.items()}}
        args.json.write_text(json.dumps(payload, indent=1))


if __name__ == "__main__":
    main()
