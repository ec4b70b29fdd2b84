"""Study: why ``GMMRepresentation(n_components=2)`` at its defaults fails on breast_cancer.

Issue 17: on the standardised breast_cancer panel set (569 x 30, 2 classes) the default
``GMMRepresentation`` scores ACC ~0.70 while KMeans scores 0.907. Its defaults resolve to
``latent_dim=10`` (``min(10, d)``), ``covariance_type="full"`` (284 rows per component
>= 55 parameters of a 10-D covariance) and a mixture started by EM on the first 10
principal components. This script measures, one torch thread:

- ``em``: the ACC of scikit-learn's GaussianMixture (most likely of 5 starts) on the
  first ``m`` principal components, per covariance type (the DGD's mixture start);
- ``split``: the anatomy of the most likely 2-component mixture on 10 PCs, full and
  spherical: weights, log-determinants, mean difference, cosine of the mean difference
  with the class-mean difference, the component x class table; plus per-PC kurtosis and
  class separation;
- ``crossover``: per number of PCs ``m``, the average log-likelihood and ACC of the
  full-covariance EM optimum reached from the class partition (means, covariances and
  weights of the two classes) and of the most likely one of 5 starts: where the second
  is higher and is not the class split, maximum likelihood prefers another partition;
- ``kurtosis``: excess kurtosis of the first 10 PCs of each standardised tabular panel set;
- ``dgd``: the ACC of the fitted ``GMMRepresentation`` with ``latent_dim`` /
  ``covariance_type`` overridden.

Run from the repository root::

    OMP_NUM_THREADS=1 python benchmarks/study_gmmrep_breast_cancer.py \\
        --out benchmarks/results/study_gmmrep_breast_cancer.json
"""

from __future__ import annotations

import argparse
import json
import warnings

import numpy as np
import torch
from _common import scores
from _panel import breast_cancer, wine
from scipy.stats import kurtosis
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture

DGD_CONFIGS = [
    {},
    {"latent_dim": 1},
    {"latent_dim": 2},
    {"latent_dim": 3},
    {"latent_dim": 5},
    {"covariance_type": "spherical"},
    {"covariance_type": "diag"},
    {"latent_dim": 30, "covariance_type": "full"},
]


def best_gmm(S, k, cov, starts=5):
    best = None
    for s in range(starts):
        gm = GaussianMixture(k, covariance_type=cov, random_state=s).fit(S)
        if best is None or gm.lower_bound_ > best.lower_bound_:
            best = gm
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    X, y = breast_cancer()
    X64 = X.astype(np.float64)
    pca = PCA(30).fit(X64)
    S = pca.transform(X64)
    out = {"explained_variance_ratio": pca.explained_variance_ratio_[:12].round(4).tolist(),
           "em": [], "split": {}, "dgd": []}
    for m in (1, 2, 3, 5, 7, 10, 30):
        for cov in ("full", "diag", "spherical"):
            gm = best_gmm(S[:, :m], 2, cov)
            out["em"].append({"n_pcs": m, "covariance": cov,
                              "acc": scores(y, gm.predict(S[:, :m]))["acc"]})
    S10 = S[:, :10]
    class_dir = S10[y == 0].mean(0) - S10[y == 1].mean(0)
    for cov in ("full", "spherical"):
        gm = best_gmm(S10, 2, cov)
        lab = gm.predict(S10)
        diff = gm.means_[0] - gm.means_[1]
        covs = gm.covariances_
        logdet = ([float(np.linalg.slogdet(c)[1]) for c in covs] if cov == "full"
                  else (10 * np.log(covs)).tolist())
        out["split"][cov] = {
            "acc": scores(y, lab)["acc"], "weights": gm.weights_.round(3).tolist(),
            "logdet": np.round(logdet, 2).tolist(),
            "mean_diff": diff.round(2).tolist(),
            "cos_class_direction": float(abs(diff @ class_dir)
                                         / np.linalg.norm(diff) / np.linalg.norm(class_dir)),
            "component_by_class": [[int(((lab == a) & (y == b)).sum()) for b in (0, 1)]
                                   for a in (0, 1)],
            "avg_loglik": float(gm.score(S10)),
        }
        if cov == "full":
            out["split"][cov]["variances"] = np.diagonal(covs, axis1=1, axis2=2).round(2).tolist()
    out["crossover"] = []
    for m in range(1, 11):
        Sm = S[:, :m]
        means = np.array([Sm[y == c].mean(0) for c in (0, 1)])
        covs = np.array([np.atleast_2d(np.cov(Sm[y == c].T, bias=True)) for c in (0, 1)])
        w = np.bincount(y) / y.size
        from_class = GaussianMixture(2, covariance_type="full", weights_init=w,
                                     means_init=means,
                                     precisions_init=np.linalg.inv(covs)).fit(Sm)
        free = best_gmm(Sm, 2, "full")
        out["crossover"].append({
            "n_pcs": m, "from_class_loglik": float(from_class.score(Sm)),
            "from_class_acc": scores(y, from_class.predict(Sm))["acc"],
            "best_loglik": float(free.score(Sm)),
            "best_acc": scores(y, free.predict(Sm))["acc"]})
    out["kurtosis"] = {
        name: kurtosis(PCA(10).fit_transform(data.astype(np.float64)), axis=0)
        .round(2).tolist()
        for name, data in [("breast_cancer", X), ("wine", wine()[0]),
                           ("digits", load_digits().data)]}
    out["pc_kurtosis"] = kurtosis(S10, axis=0).round(2).tolist()
    out["pc_class_separation"] = (np.abs(class_dir) / S10.std(0)).round(2).tolist()
    from skdeepclust.representation import GMMRepresentation

    for cfg in DGD_CONFIGS:
        for seed in args.seeds:
            est = GMMRepresentation(n_components=2, random_state=seed, **cfg).fit(X)
            row = {"params": cfg, "seed": seed, "latent_dim": est._latent_dim,
                   "covariance_type": est._covariance_type, **scores(y, est.predict(X))}
            out["dgd"].append(row)
            print(json.dumps(row), flush=True)
    print(json.dumps({k: v for k, v in out.items() if k != "dgd"}, indent=1))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
