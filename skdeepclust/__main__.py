"""The tour: ``python -m skdeepclust`` fits every estimator on scikit-learn's digits.

It prints one table with what each model achieved: cluster accuracy and NMI for
clusterers, mean log-likelihood for density models, reconstruction error for models that
decode, and the fit time. New estimators join automatically (``all_estimators()`` plus the
class attribute ``_tour``).
"""

from __future__ import annotations

import argparse
import inspect
import sys
import time
import traceback

import numpy as np
from sklearn.base import ClassifierMixin, ClusterMixin
from sklearn.datasets import load_digits
from sklearn.metrics import normalized_mutual_info_score
from sklearn.preprocessing import StandardScaler

from .metrics import cluster_accuracy
from .utils import all_estimators

DOCS = "docs/ (user guide and API reference) and examples/ (the gallery)"


def _datasets() -> tuple[dict[str, np.ndarray], np.ndarray]:
    digits = load_digits()
    unit = (digits.data / 16.0).astype(np.float32)
    return {
        "unit": unit,
        "binary": (unit > 0.5).astype(np.float32),
        "standard": StandardScaler().fit_transform(digits.data).astype(np.float32),
    }, digits.target


def _evaluate(est, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
    out: dict[str, float] = {}
    if isinstance(est, ClusterMixin):
        labels = est.labels_ if hasattr(est, "labels_") else est.predict(X)
        out["ACC"] = cluster_accuracy(y, labels)
        out["NMI"] = normalized_mutual_info_score(y, labels)
    if isinstance(est, ClassifierMixin):
        out["ACC"] = float(np.mean(est.predict(X) == y))
    if hasattr(est, "score_samples"):
        out["log-lik"] = float(np.mean(est.score_samples(X)))
    if hasattr(est, "inverse_transform") and hasattr(est, "transform"):
        X_rec = est.inverse_transform(est.transform(X))
        if X_rec.shape == X.shape:
            out["recon MSE"] = float(np.mean((X_rec - X) ** 2))
    return out


def _fmt(value) -> str:
    return "" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m skdeepclust", description=__doc__)
    parser.add_argument("--only", nargs="*", help="estimator names to run (default: all)")
    parser.add_argument("--device", default="auto", help="device for every estimator")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads for this run (default 1: the tour's "
                             "models are tiny and gain nothing from more)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)  # an application setting: the library never does this

    data, y = _datasets()
    print(f"skdeepclust tour on scikit-learn's digits ({len(y)} samples, 64 features, "
          "10 classes)\n")
    rows, failed = [], []
    for name, cls in all_estimators():
        if args.only and name not in args.only:
            continue
        tour = getattr(cls, "_tour", None)
        if tour is None:
            rows.append((name, "-", {}, None, "no _tour settings"))
            continue
        accepted = inspect.signature(cls.__init__).parameters
        params = {k: v for k, v in {"device": args.device, "random_state": 0}.items()
                  if k in accepted}
        params.update(tour["params"])
        X = data[tour["data"]]
        try:
            est = cls(**params)
            needs_y = est.__sklearn_tags__().target_tags.required
            start = time.perf_counter()
            est.fit(X, y) if needs_y else est.fit(X)
            seconds = time.perf_counter() - start
            rows.append((name, tour["data"], _evaluate(est, X, y), seconds, ""))
        except Exception as exc:  # one broken model must not hide the others
            traceback.print_exc()
            failed.append(name)
            rows.append((name, tour["data"], {}, None, f"FAILED: {type(exc).__name__}: {exc}"))

    columns = ["ACC", "NMI", "log-lik", "recon MSE"]
    header = f"{'estimator':<22}{'data':<10}" + "".join(f"{c:>11}" for c in columns)
    header += f"{'seconds':>10}  note"
    print(header)
    print("-" * len(header))
    for name, kind, metrics, seconds, note in rows:
        line = f"{name:<22}{kind:<10}" + "".join(f"{_fmt(metrics.get(c)):>11}" for c in columns)
        print(line + f"{_fmt(seconds):>10}  {note[:80]}")
    print("\nACC: Hungarian-matched cluster accuracy (classifiers: accuracy); NMI: arithmetic "
          "normalized mutual information; log-lik: mean score_samples (nats); recon MSE: mean "
          "squared error of inverse_transform(transform(X)).")
    print(f"Learn more: {DOCS}.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
