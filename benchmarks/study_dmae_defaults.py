"""Why DMAEClustering at its defaults falls behind KMeans(n_init=10) on a panel data set.

Shallow part (``--part shallow``): for each data set and seed, the panel's
``KMeans(n_init=10, random_state=seed)`` (ARI, inertia) next to the shallow DMAE's start
(``max_epochs=0``: its KMeans start) and its end, with the DMAE objective on the whole
training data at both (``-score``), epochs run, ``kept_start_`` and the resolved
``alpha``. ``--params`` sets DMAEClustering parameters (JSON), e.g. ``'{"alpha": 100}'``
for the former default.

Codes part (``--part codes``): ARI of ``KMeans(n_init=10)`` on the codes of the default
autoencoder of the deep model (``_nested_autoencoder.default_autoencoder``) for several
code sizes, next to KMeans on ``X``: how much cluster structure the pretraining keeps.

Examples (from the repository root)::

    python benchmarks/study_dmae_defaults.py --part shallow --datasets digits emb384 \\
        --seeds 0 1 2 3 4 --out benchmarks/results/dmae_defaults_study.jsonl
    python benchmarks/study_dmae_defaults.py --part shallow --datasets emb384 \\
        --params '{"alpha": 100}' --out benchmarks/results/dmae_defaults_study.jsonl
    python benchmarks/study_dmae_defaults.py --part codes --datasets emb384 --seeds 0 \\
        --code-sizes 5 10 16 --out benchmarks/results/dmae_defaults_study.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import scores
from _panel import PANEL


def _inertia(X, labels) -> float:
    return float(sum(((X[labels == k] - X[labels == k].mean(0)) ** 2).sum()
                     for k in np.unique(labels)))


def shallow(dataset, seed, X, y, params) -> dict:
    from sklearn.cluster import KMeans

    from skdeepclust.cluster import DMAEClustering

    k = len(np.unique(y))
    km = KMeans(k, n_init=10, random_state=seed).fit(X)
    kw = {"autoencoder": None, "random_state": seed, **params}
    start = DMAEClustering(k, **{**kw, "max_epochs": 0}).fit(X)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        end = DMAEClustering(k, **kw).fit(X)
    return {
        "part": "shallow", "dataset": dataset, "seed": seed, "params": params,
        "kmeans_acc": scores(y, km.labels_)["acc"],
        "kmeans_ari": scores(y, km.labels_)["ari"], "kmeans_inertia": float(km.inertia_),
        "start_acc": scores(y, start.labels_)["acc"],
        "start_ari": scores(y, start.labels_)["ari"],
        "start_inertia": _inertia(X, start.labels_), "start_loss": -start.score(X),
        "end_acc": scores(y, end.labels_)["acc"],
        "end_ari": scores(y, end.labels_)["ari"], "end_inertia": _inertia(X, end.labels_),
        "end_loss": -end.score(X), "n_iter": end.n_iter_, "converged": end.converged_,
        "kept_start": end.kept_start_, "alpha": end._alpha,
        "warnings": sorted({str(w.message)[:120] for w in caught}),
    }


def codes(dataset, seed, X, y, sizes) -> list[dict]:
    from sklearn.cluster import KMeans

    from skdeepclust.cluster._nested_autoencoder import default_autoencoder

    k = len(np.unique(y))
    rows = []
    on_x = scores(y, KMeans(k, n_init=10, random_state=seed).fit_predict(X))["ari"]
    for size in sizes:
        ae = default_autoencoder(*X.shape, random_state=seed, n_components=size).fit(X)
        labels = KMeans(k, n_init=10, random_state=seed).fit_predict(ae.transform(X))
        rows.append({"part": "codes", "dataset": dataset, "seed": seed, "n_components": size,
                     "kmeans_on_codes_ari": scores(y, labels)["ari"], "kmeans_on_X_ari": on_x})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["shallow", "codes"], default="shallow")
    parser.add_argument("--datasets", nargs="*", default=["digits", "emb384"])
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--params", default="{}", help="DMAEClustering parameters (JSON)")
    parser.add_argument("--code-sizes", nargs="*", type=int, default=[5, 10, 16])
    parser.add_argument("--out", default=None, help="JSON lines file to append rows to")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    for d in args.datasets:
        X, y = PANEL[d]()
        for seed in args.seeds:
            if args.part == "shallow":
                rows = [shallow(d, seed, X, y, json.loads(args.params))]
            else:
                rows = codes(d, seed, X, y, args.code_sizes)
            for row in rows:
                print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v)
                                  for k, v in row.items()}), flush=True)
                if args.out:
                    with open(args.out, "a") as f:
                        f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
