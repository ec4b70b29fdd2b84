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
- ``dgd``: the ACC of the fitted ``GMMRepresentation`` with Gaussian components
  (``degrees_of_freedom=None``, the defaults before Student-t components) and
  ``latent_dim`` / ``covariance_type`` overridden.

``--part laws`` measures the fix, Student-t components:

- ``em_laws``: on each panel set (breast cancer, wine, digits, anisotropic and
  unequal-variance blobs, 384-D embeddings), on the initial representations
  ``GMMRepresentation`` builds (the first ``min(10, d)`` principal components, scaled), the
  mean log-likelihood and ARI of the EM start (most likely of 20 starts) for Gaussian
  components and for Student-t components with 2, 3, 5, 10 and 30 degrees of freedom, and
  the law ``degrees_of_freedom="auto"`` keeps (the more likely of Gaussian and t(5));
- ``dgd_laws``: the fitted ``GMMRepresentation(n_components=2)`` on breast cancer with
  ``degrees_of_freedom`` None, 3, 5, 10 and "auto".

``--part forced`` fits ``GMMRepresentation(degrees_of_freedom=5)`` (t components whatever
the likelihood says) on the panel sets of ``--datasets``, one JSON line per fit (ACC,
NMI, ARI), to compare with the defaults' rows of ``bench_defaults.py``.

Run from the repository root::

    OMP_NUM_THREADS=1 python benchmarks/study_gmmrep_breast_cancer.py \\
        --out benchmarks/results/study_gmmrep_breast_cancer.json
    OMP_NUM_THREADS=1 python benchmarks/study_gmmrep_breast_cancer.py --part laws \\
        --out benchmarks/results/study_gmmrep_student.json
    OMP_NUM_THREADS=1 python benchmarks/study_gmmrep_breast_cancer.py --part forced \\
        --datasets digits --seeds 0 1 2 3 4 5 6 7 8 9 10 11 \\
        --out benchmarks/results/study_gmmrep_forced_t5.jsonl
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

#: The study of the Gaussian mixture: every config with Gaussian components.
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
#: --part laws: the component laws compared (None: Gaussian).
EM_LAWS = [None, 2.0, 3.0, 5.0, 10.0, 30.0]
DGD_LAWS = [None, 3.0, 5.0, 10.0, "auto"]
LAW_SETS = ["breast_cancer", "wine", "digits", "aniso_blobs", "varied_blobs", "emb384"]


def laws(seeds: list[int]) -> dict:
    """The EM start's likelihood and ARI per component law, and the DGD per law."""
    from _panel import PANEL
    from scipy.special import logsumexp

    from skdeepclust.representation import GMMRepresentation
    from skdeepclust.representation._dgd import _AUTO_DOF
    from skdeepclust.representation._dgd_init import (
        em_mixture,
        mixture_log_joint,
        pca_scores,
        scale_to_softball,
    )

    out = {"em_laws": [], "dgd_laws": []}
    for name in LAW_SETS:
        X, y = PANEL[name]()
        k = len(np.unique(y))
        for seed in seeds:
            rng = np.random.RandomState(seed)
            Z = pca_scores(X, min(10, X.shape[1]), False, rng)
            scale_to_softball(Z, 2.0)
            row = {"dataset": name, "seed": seed}
            for law in EM_LAWS:
                means, covs, weights, labels, _ = em_mixture(
                    Z, k, "full", np.random.RandomState(seed), (law,))
                log_lik = logsumexp(mixture_log_joint(Z, means, covs, weights, "full", law), 1)
                key = "gaussian" if law is None else f"t{law:g}"
                row[key] = {"loglik": float(log_lik.mean()),
                            "ari": scores(y, labels)["ari"]}
            auto = max([None, _AUTO_DOF], key=lambda law: row[
                "gaussian" if law is None else f"t{law:g}"]["loglik"])
            row["auto"] = "gaussian" if auto is None else f"t{auto:g}"
            out["em_laws"].append(row)
            print(json.dumps(row), flush=True)
    X, y = PANEL["breast_cancer"]()
    for law in DGD_LAWS:
        for seed in seeds:
            est = GMMRepresentation(n_components=2, degrees_of_freedom=law,
                                    random_state=seed).fit(X)
            row = {"degrees_of_freedom": law, "seed": seed,
                   "degrees_of_freedom_": est.degrees_of_freedom_,
                   **scores(y, est.labels_)}
            out["dgd_laws"].append(row)
            print(json.dumps(row), flush=True)
    return out


def best_gmm(S, k, cov, starts=5):
    best = None
    for s in range(starts):
        gm = GaussianMixture(k, covariance_type=cov, random_state=s).fit(S)
        if best is None or gm.lower_bound_ > best.lower_bound_:
            best = gm
    return best


def forced(datasets: list[str], seeds: list[int], out: str | None) -> None:
    """GMMRepresentation with t(5) components forced, one JSON line per fit."""
    from _panel import PANEL

    from skdeepclust.representation import GMMRepresentation

    for name in datasets:
        X, y = PANEL[name]()
        for seed in seeds:
            est = GMMRepresentation(n_components=len(np.unique(y)), degrees_of_freedom=5.0,
                                    random_state=seed).fit(X)
            row = {"dataset": name, "degrees_of_freedom": 5.0, "seed": seed,
                   **scores(y, est.labels_)}
            print(json.dumps(row), flush=True)
            if out:
                with open(out, "a") as fh:
                    fh.write(json.dumps(row) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--out", default=None)
    parser.add_argument("--part", choices=["gaussian", "laws", "forced"], default="gaussian",
                        help="the study of the Gaussian mixture, of the component laws, or "
                        "t(5) components forced")
    parser.add_argument("--datasets", nargs="*", default=LAW_SETS, help="--part forced")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    if args.part == "forced":
        forced(args.datasets, args.seeds, args.out)
        return
    if args.part == "laws":
        out = laws(args.seeds)
        if args.out:
            with open(args.out, "w") as fh:
                json.dump(out, fh, indent=1)
        return
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
            est = GMMRepresentation(n_components=2, degrees_of_freedom=None,
                                    random_state=seed, **cfg).fit(X)
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
