"""The defaults panel: every estimator at its defaults next to scikit-learn's first choice.

Clustering section: each clusterer is built with only ``n_clusters`` / ``n_components``
and ``random_state`` and compared with ``KMeans(n_init=10)``, a full-covariance
``GaussianMixture`` and ``PCA + GaussianMixture`` on the data panel of ``_panel.py``, seed
by seed. Each fit appends one JSON line to ``--out`` (so an interrupted run keeps what it
measured); ``--report`` turns one or more such files into the markdown table of
``benchmarks/README.md`` (mean ± sd and worst seed of ACC / NMI / ARI, fit time as a ratio
to KMeans' on the same data set, warnings raised).

Density section: ``--section density`` hands the remaining arguments to
``_defaults_density.py`` (flows against GaussianMixture and KernelDensity).

Examples (from the repository root)::

    python benchmarks/bench_defaults.py --datasets digits --estimators kmeans dec \\
        --seeds 0 1 2 3 4 --out benchmarks/results/defaults_clustering.jsonl
    python benchmarks/bench_defaults.py --report benchmarks/results/defaults_clustering.jsonl
    python benchmarks/bench_defaults.py --section density --datasets moons
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import scores  # noqa: E402
from _panel import PANEL  # noqa: E402


def _kmeans(k, seed):
    from sklearn.cluster import KMeans

    return KMeans(k, n_init=10, random_state=seed)


def _gmm(k, seed):
    from sklearn.mixture import GaussianMixture

    return GaussianMixture(k, covariance_type="full", random_state=seed)


def _pca_gmm(k, seed):
    from sklearn.decomposition import PCA
    from sklearn.mixture import GaussianMixture
    from sklearn.pipeline import make_pipeline

    class PCAGMM:  # the pipeline has no fit_predict: predict after fit
        def __init__(self):
            self.pipe = make_pipeline(PCA(10, random_state=seed),
                                      GaussianMixture(k, covariance_type="full",
                                                      random_state=seed))

        def fit(self, X):
            if X.shape[1] <= 10:
                self.pipe.steps[0] = ("passthrough", "passthrough")
            self.pipe.fit(X)
            self.labels_ = self.pipe.predict(X)
            return self

    return PCAGMM()


def _dec(k, seed):
    from skdeepclust.cluster import DECClustering

    return DECClustering(k, random_state=seed)


def _idec(k, seed):
    from skdeepclust.cluster import DECClustering

    return DECClustering(k, reconstruction_weight=1.0, random_state=seed)


def _dmae(k, seed):  # the defaults: deep from 32 features on, shallow below
    from skdeepclust.cluster import DMAEClustering

    return DMAEClustering(k, random_state=seed)


def _dmae_shallow(k, seed):
    from skdeepclust.cluster import DMAEClustering

    return DMAEClustering(k, autoencoder=None, random_state=seed)


def _dmae_mahalanobis(k, seed):  # the shallow covariance variant
    from skdeepclust.cluster import DMAEClustering

    return DMAEClustering(k, dissimilarity="mahalanobis", autoencoder=None, random_state=seed)


def _gmmrep(k, seed):
    from skdeepclust.representation import GMMRepresentation

    return GMMRepresentation(n_components=k, random_state=seed)


#: name -> (factory(n_clusters, seed), kind); "baseline" rows are scikit-learn's.
ESTIMATORS = {
    "kmeans": (_kmeans, "baseline"),
    "gmm": (_gmm, "baseline"),
    "pca_gmm": (_pca_gmm, "baseline"),
    "dec": (_dec, "model"),
    "idec": (_idec, "model"),
    "dmae": (_dmae, "model"),
    "dmae_shallow": (_dmae_shallow, "model"),
    "dmae_mahalanobis": (_dmae_mahalanobis, "model"),
    "gmmrep": (_gmmrep, "model"),
}


def run_one(dataset: str, name: str, seed: int, X, y) -> dict:
    k = len(np.unique(y))
    est = ESTIMATORS[name][0](k, seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        cpu = time.process_time()
        est.fit(X)
        seconds = time.perf_counter() - start
        cpu = time.process_time() - cpu
    labels = np.asarray(est.labels_ if hasattr(est, "labels_") else est.predict(X))
    row = {"dataset": dataset, "estimator": name, "seed": seed, "n_samples": X.shape[0],
           "n_features": X.shape[1], "n_clusters": k, **scores(y, labels),
           "seconds": seconds, "cpu_seconds": cpu,
           "largest_cluster": float(np.bincount(labels).max() / labels.size),
           "warnings": sorted({f"{w.category.__name__}: {str(w.message)[:160]}"
                               for w in caught if not issubclass(w.category,
                                                                 DeprecationWarning)})}
    if hasattr(est, "predict") and hasattr(est, "module_"):
        row["labels_equal_predict"] = float(np.mean(est.predict(X) == labels))
    return row


def report(paths: list[str]) -> str:
    rows = [json.loads(line) for p in paths for line in Path(p).read_text().splitlines()
            if line.strip()]
    latest = {(r["dataset"], r["estimator"], r["seed"]): r for r in rows}  # reruns win
    by = defaultdict(list)
    for r in latest.values():
        by[(r["dataset"], r["estimator"])].append(r)
    kmeans_time = {d: np.mean([r["seconds"] for r in rs])
                   for (d, e), rs in by.items() if e == "kmeans"}
    order = {n: i for i, n in enumerate(ESTIMATORS)}
    lines = ["| data | estimator | seeds | ACC mean ± sd (worst) | NMI mean (worst) | "
             "ARI mean ± sd (worst) | fit time / KMeans | warned |",
             "|---|---|---|---|---|---|---|---|"]
    datasets = [d for d in PANEL if any(k[0] == d for k in by)]
    for d in datasets:
        for e in sorted({k[1] for k in by if k[0] == d}, key=lambda n: order.get(n, 99)):
            rs = by[(d, e)]
            acc = np.array([r["acc"] for r in rs])
            nmi = np.array([r["nmi"] for r in rs])
            ari = np.array([r["ari"] for r in rs])
            t = np.mean([r["seconds"] for r in rs])
            ratio = f"{t / kmeans_time[d]:.0f}×" if d in kmeans_time else "—"
            warned = sum(bool(r["warnings"]) for r in rs)
            lines.append(
                f"| {d} | {e} | {len(rs)} | {acc.mean():.3f} ± {acc.std():.3f} "
                f"({acc.min():.3f}) | {nmi.mean():.3f} ({nmi.min():.3f}) | "
                f"{ari.mean():.3f} ± {ari.std():.3f} ({ari.min():.3f}) | {ratio} | "
                f"{warned}/{len(rs)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--section", choices=["clustering", "density"], default="clustering")
    parser.add_argument("--datasets", nargs="*", default=None,
                        help=f"panel data sets (default: all but mnist70k): {list(PANEL)}")
    parser.add_argument("--estimators", nargs="*", default=list(ESTIMATORS),
                        choices=list(ESTIMATORS))
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's)")
    parser.add_argument("--out", default=None, help="JSON lines file to append rows to")
    parser.add_argument("--report", nargs="*", default=None,
                        help="print the markdown table of these JSON lines files and exit")
    args, rest = parser.parse_known_args(argv)
    if args.section == "density":
        from _defaults_density import main as density_main

        forwarded = list(rest)
        if args.datasets:
            forwarded += ["--datasets", *args.datasets]
        if args.out:
            forwarded += ["--out", args.out]
        return density_main(forwarded + ["--seeds", *map(str, args.seeds)])
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.report is not None:
        print(report(args.report))
        return 0
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    datasets = args.datasets or [d for d in PANEL if d != "mnist70k"]
    out = Path(args.out) if args.out else None
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
    for d in datasets:
        X, y = PANEL[d]()
        for name in args.estimators:
            for seed in args.seeds:
                row = run_one(d, name, seed, X, y)
                print(f"{d:14s} {name:17s} seed {seed}  ACC {row['acc']:.3f}  "
                      f"NMI {row['nmi']:.3f}  ARI {row['ari']:.3f}  {row['seconds']:7.1f} s"
                      + (f"  [{len(row['warnings'])} warning(s)]" if row["warnings"] else ""),
                      flush=True)
                if out:
                    with out.open("a") as f:
                        f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
