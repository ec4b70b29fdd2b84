"""GMMRepresentation's class labels: encoding y for the supervised mixture (-1: unlabelled)."""

from __future__ import annotations

import numpy as np
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_consistent_length, column_or_1d

from ..nn.mixture import UNLABELLED


def unlabelled_mask(y: np.ndarray) -> np.ndarray:
    """Rows marked unlabelled (-1); labels that are not numbers are never unlabelled."""
    if y.dtype.kind in "iuf":
        return y == UNLABELLED
    return np.zeros(y.shape, dtype=bool)


def _as_labels(y, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    y = column_or_1d(y, warn=True)
    check_consistent_length(np.empty(n_samples), y)
    return y, unlabelled_mask(y)


def _class_codes(y: np.ndarray, unlabelled: np.ndarray, classes: np.ndarray) -> np.ndarray:
    codes = np.full(y.shape[0], UNLABELLED, dtype=np.int64)
    codes[~unlabelled] = np.searchsorted(classes, y[~unlabelled])
    return codes


def encode_fit_labels(y, n_samples: int, n_components_per_class: int):
    """Classes and class indices of y at fit time (-1 for unlabelled rows).

    Returns ``(classes, codes)``; raises when y is missing, has no labelled row or a
    class with fewer labelled rows than ``n_components_per_class``.
    """
    if y is None:
        raise ValueError(
            "n_components_per_class is set, so fit needs class labels y (use -1 for "
            "unlabelled samples), or set n_components_per_class=None to cluster "
            "without labels."
        )
    y, unlabelled = _as_labels(y, n_samples)
    check_classification_targets(y)
    classes = np.unique(y[~unlabelled])
    if classes.size == 0:
        raise ValueError("y has no labelled sample (every label is -1).")
    codes = _class_codes(y, unlabelled, classes)
    counts = np.bincount(codes[~unlabelled], minlength=classes.size)
    m = n_components_per_class
    if counts.min() < m:
        bad = classes[np.argmin(counts)]
        raise ValueError(
            f"class {bad!r} has {counts.min()} labelled sample(s), fewer than "
            f"n_components_per_class={m}."
        )
    return classes, codes


def encode_labels(y, n_samples: int, classes: np.ndarray) -> np.ndarray:
    """Class indices of y after fit (-1 for unlabelled rows); unseen classes are an error."""
    y, unlabelled = _as_labels(y, n_samples)
    seen = np.isin(y, classes) | unlabelled
    if not seen.all():
        unseen = np.unique(y[~seen])
        raise ValueError(
            f"y contains labels not seen in fit: {unseen.tolist()}; the fitted classes_ "
            f"are {classes.tolist()} (-1 marks an unlabelled sample)."
        )
    return _class_codes(y, unlabelled, classes)
