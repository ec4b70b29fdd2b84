"""The tour: ``python -m skdeepclust`` fits every estimator on scikit-learn's digits.

Every model runs at its defaults (its class attribute ``_tour`` names the data and any
setting that differs, shown in the "settings" column) on three quarters of the digits, and
is printed next to the scikit-learn model a user would try first on the same rows: KMeans
for clusterers, a PCA + GaussianMixture for the deep mixture, BernoulliRBM for the RBMs
(its exact log-likelihood, from the enumerated partition function), BernoulliRBM +
LogisticRegression for the RBM classifier, PCA for the autoencoder and a GaussianMixture
for the flow. Clustering scores are on the training rows (``labels_``); log-likelihoods,
accuracies of classifiers and reconstruction errors on the held-out quarter. New
estimators join automatically (``all_estimators()`` plus ``_tour``).
"""

from __future__ import annotations

import argparse
import difflib
import inspect
import sys
import time
import traceback
import warnings

import numpy as np
from scipy.special import logsumexp
from sklearn.base import ClassifierMixin, ClusterMixin
from sklearn.datasets import load_digits
from sklearn.metrics import normalized_mutual_info_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from .metrics import cluster_accuracy
from .utils import all_estimators, keyboard_interrupt

DOCS = "docs/ (user guide and API reference) and examples/ (the gallery)"

#: What ``--help`` says (plain text: the module docstring above is for developers).
DESCRIPTION = """\
Fit every skdeepclust estimator on scikit-learn's digits and print one table.

Each model runs at its defaults on three quarters of the digits (the "settings"
column shows any setting the tour changes) and is printed next to the
scikit-learn model a user would try first on the same rows: KMeans for the
clusterers, PCA + GaussianMixture for the deep mixture, BernoulliRBM for the
RBMs, BernoulliRBM + LogisticRegression for the RBM classifier, PCA for the
autoencoder and a GaussianMixture for the flows.

Clustering scores (ACC, NMI) are measured on the training rows; log-likelihoods,
classifier accuracies and reconstruction errors on the held-out quarter.
The whole tour takes about a minute on one CPU core; --only runs a few models.
"""

EPILOG = """\
examples:
  python -m skdeepclust                           # every estimator
  python -m skdeepclust --only RBM AutoEncoder    # two of them
  python -m skdeepclust --device cuda --no-baselines
"""


def _datasets():
    """Digits in three encodings, split 3:1 (stratified, fixed seed)."""
    digits = load_digits()
    train, test = train_test_split(np.arange(len(digits.target)), test_size=0.25,
                                   stratify=digits.target, random_state=0)
    unit = (digits.data / 16.0).astype(np.float32)
    standard = StandardScaler().fit(digits.data[train]).transform(digits.data)
    data = {
        "unit": unit,
        "binary": (unit > 0.5).astype(np.float32),
        "standard": standard.astype(np.float32),
    }
    return ({k: (v[train], v[test]) for k, v in data.items()},
            (digits.target[train], digits.target[test]))


def _cluster_scores(y: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    return {"ACC": cluster_accuracy(y, labels), "NMI": normalized_mutual_info_score(y, labels)}


def _evaluate(est, X: np.ndarray, y: np.ndarray, X_test: np.ndarray,
              y_test: np.ndarray) -> dict[str, float]:
    """Clustering scores on the training rows, everything else on the held-out rows."""
    out: dict[str, float] = {}
    if isinstance(est, ClusterMixin) or hasattr(est, "labels_"):
        out.update(_cluster_scores(y, est.labels_ if hasattr(est, "labels_") else est.predict(X)))
    if isinstance(est, ClassifierMixin):
        out["ACC"] = float(np.mean(est.predict(X_test) == y_test))
    if hasattr(est, "score_samples") and not isinstance(est, ClassifierMixin):
        out["log-lik"] = float(np.mean(est.score_samples(X_test)))
    if hasattr(est, "inverse_transform") and hasattr(est, "transform"):
        X_rec = est.inverse_transform(est.transform(X_test))
        if X_rec.shape == X_test.shape:
            out["recon MSE"] = float(np.mean((X_rec - X_test) ** 2))
    return out


def _bernoulli_rbm_exact_loglik(rbm, X: np.ndarray) -> float:
    """Mean exact log-likelihood of scikit-learn's BernoulliRBM (hidden units enumerated)."""
    W, b, c = rbm.components_, rbm.intercept_visible_, rbm.intercept_hidden_
    H = ((np.arange(2 ** W.shape[0])[:, None] >> np.arange(W.shape[0])) & 1).astype(float)
    log_z = logsumexp(H @ c + np.logaddexp(0, H @ W + b).sum(axis=1))
    free = X @ b + np.logaddexp(0, X @ W.T + c).sum(axis=1)  # minus the free energy
    return float(np.mean(free) - log_z)


def _baseline(name: str, est, X, y, X_test, y_test) -> tuple[str, dict[str, float]]:
    """The scikit-learn model a user would try first, scored like ``est``."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.mixture import GaussianMixture
    from sklearn.neural_network import BernoulliRBM
    from sklearn.pipeline import make_pipeline

    k = len(np.unique(y))
    if name in ("DECClustering", "DMAEClustering"):
        labels = KMeans(k, n_init=10, random_state=0).fit_predict(X)
        return "KMeans(n_init=10)", _cluster_scores(y, labels)
    if name == "GMMRepresentation":
        labels = make_pipeline(PCA(10, random_state=0),
                               GaussianMixture(k, random_state=0)).fit(X).predict(X)
        return "PCA(10) + GaussianMixture", _cluster_scores(y, labels)
    if name == "RBM" and getattr(est, "n_components", 99) <= 20:
        params = {"n_components": est.n_components, "random_state": 0,
                  "n_iter": est.max_epochs, "batch_size": est.batch_size}
        rbm = BernoulliRBM(**params).fit(X)
        return "BernoulliRBM (same size)", {"log-lik": _bernoulli_rbm_exact_loglik(rbm, X_test)}
    if name == "RBMClassifier":
        pipe = make_pipeline(BernoulliRBM(n_components=est.n_components, random_state=0),
                             LogisticRegression(max_iter=1000)).fit(X, y)
        return "BernoulliRBM + LogisticRegression", {
            "ACC": float(np.mean(pipe.predict(X_test) == y_test))}
    if name == "AutoEncoder":
        pca = PCA(est.n_components, random_state=0).fit(X)
        X_rec = pca.inverse_transform(pca.transform(X_test))
        return f"PCA({est.n_components})", {"recon MSE": float(np.mean((X_rec - X_test) ** 2))}
    if name == "NormalizingFlow":
        gmm = GaussianMixture(10, covariance_type="full", reg_covar=1e-3,
                              random_state=0).fit(X)
        return "GaussianMixture(10)", {"log-lik": float(np.mean(gmm.score_samples(X_test)))}
    return "", {}


def _fmt(value) -> str:
    return "" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)


def _check_names(parser: argparse.ArgumentParser, names: list[str] | None,
                 valid: list[str]) -> None:
    """Exit with status 2 (argparse's usage error) when ``names`` holds an unknown name."""
    unknown = [n for n in names or () if n not in valid]
    if not unknown:
        return
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, valid, n=1) or [
            v for v in valid if v.lower() == name.lower()]
        if close:
            hints.append(f"{name!r}: did you mean {close[0]!r}?")
    parser.error(
        f"unknown estimator name(s) for --only: {', '.join(map(repr, unknown))}. "
        f"Valid names: {', '.join(valid)}." + (" " + " ".join(hints) if hints else "")
    )


def _tour_one(name: str, cls: type, args, data: dict, y, y_test, rows: list) -> bool:
    """Fit and score one estimator (and its baseline) into ``rows``; False if it failed."""
    tour = getattr(cls, "_tour", None)
    if tour is None:
        rows.append((name, "-", "", {}, None, "no _tour settings"))
        return True
    accepted = inspect.signature(cls.__init__).parameters
    params = {k: v for k, v in {"device": args.device, "random_state": 0}.items()
              if k in accepted}
    params.update(tour["params"])
    # the number of clusters is the task, not a setting; anything else is shown
    settings = ", ".join(
        f"{k}={v!r}" for k, v in tour["params"].items()
        if k in accepted and v is not accepted[k].default and v != accepted[k].default
        and k != "n_clusters" and not (k == "n_components" and issubclass(cls, ClusterMixin))
    ) or "defaults"
    X, X_test = data[tour["data"]]
    try:
        est = cls(**params)
        needs_y = est.__sklearn_tags__().target_tags.required
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            start = time.perf_counter()
            est.fit(X, y) if needs_y else est.fit(X)
            seconds = time.perf_counter() - start
        note = "; ".join(sorted({f"{w.category.__name__}: {w.message}" for w in caught
                                 if issubclass(w.category, UserWarning)}))
        rows.append((name, tour["data"], settings, _evaluate(est, X, y, X_test, y_test),
                     seconds, note))
        if not args.no_baselines:
            start = time.perf_counter()
            label, metrics = _baseline(name, est, X, y, X_test, y_test)
            if label:
                rows.append(("  vs " + label, "", "", metrics,
                             time.perf_counter() - start, ""))
    except Exception as exc:  # noqa: BLE001 - one broken model must not hide the others
        traceback.print_exc()
        rows.append((name, tour["data"], settings, {}, None,
                     f"FAILED: {type(exc).__name__}: {exc}"))
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    """Run the tour; returns the exit status (1 when an estimator failed, 130 after Ctrl-C)."""
    parser = argparse.ArgumentParser(
        prog="python -m skdeepclust", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--only", nargs="*", metavar="NAME",
                        help="estimator names to run, e.g. RBM AutoEncoder (default: all)")
    parser.add_argument("--device", default="auto",
                        help="torch device for every estimator: auto (a GPU when there is "
                             "one), cpu, cuda, cuda:1 or mps (default: auto)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads for this run (default 1: the tour's "
                             "models are tiny and gain nothing from more)")
    parser.add_argument("--no-baselines", action="store_true",
                        help="skip the scikit-learn baselines")
    args = parser.parse_args(argv)
    estimators = all_estimators()
    _check_names(parser, args.only, [name for name, _ in estimators])
    import torch

    torch.set_num_threads(args.threads)  # an application setting: the library never does this

    data, (y, y_test) = _datasets()
    print(f"skdeepclust tour on scikit-learn's digits ({len(y)} training and {len(y_test)} "
          "held-out samples, 64 features, 10 classes)\n")
    rows, failed = [], []
    chosen = [(n, c) for n, c in estimators if not args.only or n in args.only]
    interrupted = False
    try:
        # Ctrl-C ends the tour (and prints the rows done) instead of one model's fit
        with keyboard_interrupt("raise"):
            for i, (name, cls) in enumerate(chosen, 1):
                # progress on stderr (the table on stdout stays clean): the first fits of a
                # fresh install can take tens of seconds while numba compiles the RBM kernels
                print(f"[{i}/{len(chosen)}] {name}...", file=sys.stderr, flush=True)
                if not _tour_one(name, cls, args, data, y, y_test, rows):
                    failed.append(name)
    except KeyboardInterrupt:
        interrupted = True
        print("Interrupted (Ctrl-C): the table shows the models done so far.",
              file=sys.stderr)

    columns = ["ACC", "NMI", "log-lik", "recon MSE"]
    header = f"{'estimator':<36}{'data':<10}" + "".join(f"{c:>11}" for c in columns)
    header += f"{'seconds':>10}  settings / note"
    print(header)
    print("-" * len(header))
    for name, kind, settings, metrics, seconds, note in rows:
        line = f"{name:<36}{kind:<10}" + "".join(f"{_fmt(metrics.get(c)):>11}" for c in columns)
        print(line + f"{_fmt(seconds):>10}  {settings}" + (f"  [{note[:160]}]" if note else ""))
    print("\nACC: Hungarian-matched cluster accuracy on the training rows (classifiers: accuracy "
          "on the held-out rows); NMI: arithmetic normalized mutual information (training "
          "rows); log-lik: mean score_samples on the held-out rows (nats); recon MSE: mean "
          "squared error of inverse_transform(transform(X)) on the held-out rows. Indented "
          "rows: the scikit-learn baseline on the same rows.")
    print(f"Learn more: {DOCS}.")
    return 130 if interrupted else 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
