"""Several complete fits from their own seeds, keeping the one that agrees most with the rest.

A deep clusterer's accuracy on a small data set depends mostly on its pretraining seed:
on 8x8 digits one ``DECClustering`` fit scores anywhere between 0.73 and 0.89, and no
unsupervised criterion of one fit (its loss or DEC's own objective, the silhouette of its
codes) tells the good seeds from the poor ones (the fits with the most confident soft
assignments are as often the poor ones). Agreement between fits does: a partition that several
independent fits reproduce is rarely the odd poor one. :class:`MedoidRestartsMixin` runs
``n_restarts`` complete fits and keeps the *medoid*, the fit whose labels have the highest
mean adjusted Rand index with the others' (the rule, and the measurements behind it, are in
"How the defaults were chosen" in the user guide).
"""

from __future__ import annotations

import warnings
from numbers import Integral
from typing import ClassVar

import numpy as np
from sklearn.base import clone
from sklearn.metrics import adjusted_rand_score
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _num_features, _num_samples

from .._interrupt import _fit_scope
from .._torch import seed_from
from .._training import user_stacklevel

__all__ = ["MedoidRestartsMixin", "medoid_index"]

#: The number of fits ``n_restarts="auto"`` runs where restarts apply.
AUTO_RESTARTS = 5


def medoid_index(labelings) -> tuple[int, np.ndarray]:
    """Index of the labeling with the highest mean adjusted Rand index with the others.

    Returns ``(index, mean_ari)`` where ``mean_ari[i]`` is labeling ``i``'s mean ARI with
    every other labeling. Ties go to the first (the earliest fit).
    """
    n = len(labelings)
    if n == 1:
        return 0, np.ones(1)
    ari = np.eye(n)
    for i in range(n):
        for j in range(i + 1, n):
            ari[i, j] = ari[j, i] = adjusted_rand_score(labelings[i], labelings[j])
    mean = (ari.sum(axis=1) - 1.0) / (n - 1)
    return int(np.argmax(mean)), mean


class MedoidRestartsMixin:
    """``n_restarts`` complete fits from their own seeds; the medoid's model is kept.

    For a :class:`~skdeepclust.base.TorchEstimator` clusterer with an ``n_restarts``
    parameter (``int`` or ``"auto"``). A family says when ``"auto"`` restarts through
    :meth:`_auto_restarts`. Only a fresh ``fit`` restarts: a warm start or a
    ``partial_fit`` continues the one model. Fitted attributes added: ``n_restarts_`` (the
    fits run) and ``restart_agreement_`` (each fit's mean adjusted Rand index with the
    others; the kept fit has the largest).
    """

    _restart_constraints: ClassVar[dict] = {
        "n_restarts": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
    }

    def _auto_restarts(self, n_samples: int, n_features: int) -> int:
        """The number of fits ``n_restarts="auto"`` runs on data of this shape."""
        return 1

    def _resolve_restarts(self, X) -> int:
        if self.n_restarts != "auto":
            return int(self.n_restarts)
        try:
            n_samples, n_features = _num_samples(X), _num_features(X)
        except (TypeError, ValueError):  # not a 2-D array-like: the fit will say so
            return 1
        return self._auto_restarts(int(n_samples), int(n_features))

    def _fit_template(self, X, y, *, partial: bool, sample_weight=None):
        resume = self._resumes(partial)
        n = 1 if partial or resume else self._resolve_restarts(X)
        if n == 1:
            super()._fit_template(X, y, partial=partial, sample_weight=sample_weight)
            if not partial and not resume:
                self.n_restarts_, self.restart_agreement_ = 1, np.ones(1)
            return self
        return self._fit_restarts(X, y, n, sample_weight)

    def _fit_restarts(self, X, y, n: int, sample_weight):
        rng = check_random_state(self.random_state)
        seeds = [seed_from(rng) for _ in range(n)]
        fits, caught = [], []
        scope = _fit_scope.get()
        for i, seed in enumerate(seeds):
            if self.verbose:
                print(f"[{type(self).__name__}] fit {i + 1} of {n} (seed {seed})", flush=True)
            candidate = clone(self).set_params(n_restarts=1, random_state=seed)
            with warnings.catch_warnings(record=True) as log:
                warnings.simplefilter("always")
                candidate.fit(X, y, sample_weight=sample_weight)
            interrupted = scope is not None and scope.interrupted
            if interrupted and fits:  # Ctrl-C: keep the fits that completed
                break
            fits.append(candidate)
            caught.append(log)
            if interrupted:
                break
        best, agreement = medoid_index([f.labels_ for f in fits])
        params = self.get_params(deep=False)
        for name, value in vars(fits[best]).items():
            if name not in params:
                setattr(self, name, value)
        self.n_restarts_ = len(fits)
        self.restart_agreement_ = agreement
        level = user_stacklevel()
        for record in caught[best]:  # the kept fit's warnings, once
            warnings.warn(record.message, record.category, stacklevel=level)
        return self
