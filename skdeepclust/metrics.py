"""Metrics for unsupervised models: Hungarian cluster accuracy, scorers, sparsity, Amari
distance and the ICA log-likelihood."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix
from sklearn.utils.validation import check_array, column_or_1d

__all__ = [
    "amari_distance",
    "ari_scorer",
    "assignment_sparsity",
    "cluster_accuracy",
    "cluster_accuracy_scorer",
    "ica_log_likelihood",
    "make_cluster_scorer",
    "nmi_scorer",
]


def cluster_accuracy(y_true, y_pred, *, return_mapping: bool = False):
    """Unsupervised clustering accuracy with the best one-to-one label matching.

    The predicted clusters are matched to the classes by the Hungarian algorithm
    (:func:`scipy.optimize.linear_sum_assignment`) on the contingency table, and the
    accuracy is the fraction of samples whose cluster is matched to their class. When the
    number of clusters differs from the number of classes the table is rectangular: the
    extra clusters (or classes) stay unmatched and their samples count as errors, so the
    score is at most ``min(k, c) / ...`` of the data, never inflated.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Ground-truth class labels (any hashable values).
    y_pred : array-like of shape (n_samples,)
        Cluster labels (any hashable values).
    return_mapping : bool, default=False
        Also return the dict ``{cluster: class}`` of the matching.

    Returns
    -------
    accuracy : float
        In [0, 1].
    mapping : dict
        Only when ``return_mapping=True``.

    Examples
    --------
    >>> from skdeepclust.metrics import cluster_accuracy
    >>> cluster_accuracy([0, 0, 1, 1, 2], [1, 1, 0, 0, 0])
    0.8
    """
    y_true = column_or_1d(y_true)
    y_pred = column_or_1d(y_pred)
    if y_true.shape[0] != y_pred.shape[0]:
        raise ValueError(
            f"y_true and y_pred have different lengths: {y_true.shape[0]} != {y_pred.shape[0]}."
        )
    if y_true.shape[0] == 0:
        raise ValueError("cluster_accuracy needs at least one sample; got empty arrays.")
    classes, true_idx = np.unique(y_true, return_inverse=True)
    clusters, pred_idx = np.unique(y_pred, return_inverse=True)
    table = contingency_matrix(true_idx, pred_idx)  # (n_classes, n_clusters)
    rows, cols = linear_sum_assignment(table, maximize=True)
    accuracy = float(table[rows, cols].sum()) / y_true.shape[0]
    if return_mapping:
        return accuracy, {clusters[c].item(): classes[r].item() for r, c in zip(rows, cols)}
    return accuracy


def make_cluster_scorer(score_func: Callable, **kwargs) -> Callable:
    """Turn a ``score_func(y_true, y_pred)`` into a scorer for ``GridSearchCV(scoring=...)``.

    The scorer calls ``estimator.predict(X)`` (the fitted clusterer assigns the held-out
    fold) and compares the labels with ``y``.

    Parameters
    ----------
    score_func : callable
        E.g. :func:`cluster_accuracy`, :func:`sklearn.metrics.normalized_mutual_info_score`.
    **kwargs
        Passed to ``score_func``.

    Returns
    -------
    scorer : callable ``scorer(estimator, X, y) -> float``
    """

    def scorer(estimator, X, y):
        if y is None:
            raise ValueError(
                "A cluster scorer compares clusters with known labels: pass y to fit/search."
            )
        return float(score_func(y, estimator.predict(X), **kwargs))

    name = getattr(score_func, "__name__", "score")
    scorer.__name__ = f"{name}_scorer"
    scorer.__doc__ = (
        f"Scorer comparing ``estimator.predict(X)`` with ``y`` by ``{name}``.\n\n"
        "Use it as ``GridSearchCV(clusterer, grid, scoring=...)`` and pass the known labels as\n"
        "``y`` to ``fit``; higher is better.\n\n"
        "Parameters\n----------\nestimator : fitted clusterer with ``predict``\n"
        "X : array-like of shape (n_samples, n_features)\ny : array-like of shape (n_samples,)\n"
        "\nReturns\n-------\nscore : float\n"
    )
    return scorer


#: ``GridSearchCV(clusterer, grid, scoring=cluster_accuracy_scorer)`` with labels passed as y.
cluster_accuracy_scorer = make_cluster_scorer(cluster_accuracy)
nmi_scorer = make_cluster_scorer(normalized_mutual_info_score)
ari_scorer = make_cluster_scorer(adjusted_rand_score)


def assignment_sparsity(proba, threshold: float = 1e-7) -> np.ndarray:
    """Number of clusters each sample is softly assigned to (dmae's ``zero_norm``).

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_clusters)
        Soft assignments, e.g. ``DMAEClustering.predict_proba(X)``.
    threshold : float, default=1e-7
        An assignment counts when it is above ``threshold``.

    Returns
    -------
    counts : ndarray of shape (n_samples,)
        1 means a hard assignment; ``n_clusters`` means no sparsity at all.

    Examples
    --------
    >>> from skdeepclust.metrics import assignment_sparsity
    >>> assignment_sparsity([[1.0, 0.0], [0.5, 0.5]]).tolist()
    [1, 2]
    """
    proba = check_array(proba, dtype=np.float64)
    return (proba > threshold).sum(axis=1)


def amari_distance(A, B, *, normalize: bool = False) -> float:
    """Amari distance between two mixing (or unmixing) matrices.

    With :math:`P = A^{-1} B` and :math:`|p_{ij}|` its absolute entries,

    .. math::
        d = \\frac{1}{2N}\\Big[\\sum_i\\Big(\\frac{\\sum_j |p_{ij}|}{\\max_j |p_{ij}|} - 1\\Big)
          + \\sum_j\\Big(\\frac{\\sum_i |p_{ij}|}{\\max_i |p_{ij}|} - 1\\Big)\\Big],

    which is 0 exactly when ``B`` equals ``A`` up to a scaled permutation of its columns,
    and at most :math:`N - 1` (PyDeep's version 1, Bach & Jordan). ``normalize=True``
    divides by :math:`N - 1` (Teh et al.), giving a value in [0, 1].

    Parameters
    ----------
    A, B : array-like of shape (N, N)
    normalize : bool, default=False

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepclust.metrics import amari_distance
    >>> A = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> round(amari_distance(A, A[:, ::-1] * 3), 12)
    0.0
    """
    A = check_array(A, dtype=np.float64)
    B = check_array(B, dtype=np.float64)
    if A.shape != B.shape or A.shape[0] != A.shape[1]:
        raise ValueError(
            f"amari_distance needs two square matrices of the same shape; got {A.shape} "
            f"and {B.shape}."
        )
    n = A.shape[0]
    P = np.abs(np.linalg.solve(A, B))
    rows = (P.sum(axis=1) / P.max(axis=1) - 1.0).sum()
    cols = (P.sum(axis=0) / P.max(axis=0) - 1.0).sum()
    d = float((rows + cols) / (2.0 * n))
    if normalize:
        d = d / (n - 1) if n > 1 else 0.0
    return d


def ica_log_likelihood(W, X, *, per_sample: bool = False):
    """Log-likelihood of data under an ICA model with logistic (``sech^2``) sources.

    For an unmixing matrix ``W`` (rows are the filters ``w_i``, e.g. FastICA's
    ``components_`` on whitened data) the sources ``s = W x`` are modelled as independent
    with density :math:`p(s) = \\tfrac{1}{2}\\operatorname{sech}^2(s)` (the density that
    goes with FastICA's ``logcosh`` contrast), so

    .. math::
        \\log p(x) = \\sum_i \\log\\big(\\tfrac{1}{2}\\operatorname{sech}^2(w_i^\\top x)\\big)
                   + \\log|\\det W|,

    the quantity PyDeep's ``ICA.log_likelihood`` reports, comparable with an RBM's
    ``score_samples`` on the same (whitened) data.

    Parameters
    ----------
    W : array-like of shape (n_features, n_features)
        Unmixing matrix.
    X : array-like of shape (n_samples, n_features)
    per_sample : bool, default=False
        Return the log-density of every row instead of the mean.

    Returns
    -------
    float or ndarray of shape (n_samples,)
        Mean log-likelihood in nats (or one value per sample).

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepclust.metrics import ica_log_likelihood
    >>> round(ica_log_likelihood(np.eye(2), np.zeros((1, 2))), 6)  # 2 * log(1/2)
    -1.386294
    """
    W = check_array(W, dtype=np.float64)
    X = check_array(X, dtype=np.float64)
    if W.shape[0] != W.shape[1]:
        raise ValueError(f"W should be a square unmixing matrix; got shape {W.shape}.")
    if X.shape[1] != W.shape[1]:
        raise ValueError(
            f"X has {X.shape[1]} features but W expects {W.shape[1]}."
        )
    sign, logdet = np.linalg.slogdet(W)
    if sign == 0:
        raise ValueError("W is singular: its log-determinant is -inf.")
    S = X @ W.T
    # log(sech^2(s) / 2) = log 2 - 2 log(e^s + e^-s), computed without overflow
    ll = (np.log(2.0) - 2.0 * np.logaddexp(S, -S)).sum(axis=1) + logdet
    return ll if per_sample else float(ll.mean())
