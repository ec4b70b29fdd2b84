"""Tests of NormalizingFlow's mixture base selection (``_select_mixture``)."""

from typing import ClassVar

import numpy as np
import pytest
import sklearn.mixture

from skdeepclust.flow import _normalizing
from skdeepclust.flow._normalizing import _select_mixture


def _spiral(n, seed, noise=0.05):
    """A thin noisy two-arm spiral, standardized (the codes an untrained flow gives)."""
    rng = np.random.RandomState(seed)
    t = np.sqrt(rng.uniform(0, 1, n)) * 3 * np.pi
    angle = t + np.pi * rng.randint(2, size=n)
    r = t / (3 * np.pi) * 2.0
    X = np.column_stack([r * np.cos(angle), r * np.sin(angle)]) + rng.normal(0, noise, (n, 2))
    return X, (X - X.mean(0)) / X.std(0)


class _RecordingMixture(sklearn.mixture.GaussianMixture):
    """A GaussianMixture that records every held-out score its CV fold computes."""

    log: ClassVar[list] = []

    def score(self, X, y=None):
        value = super().score(X, y)
        type(self).log.append((self.n_components, self.covariance_type, self.reg_covar,
                               len(X), value))
        return value


def test_reg_covar_is_the_best_cv_score_of_the_fine_grid_at_the_chosen_structure(monkeypatch):
    _, Z = _spiral(900, 0)
    _RecordingMixture.log = []
    monkeypatch.setattr(sklearn.mixture, "GaussianMixture", _RecordingMixture)
    members = _select_mixture(Z, np.random.RandomState(0))
    chosen = members[0].get_params()
    structure = (chosen["n_components"], chosen["covariance_type"])
    assert all((m.n_components, m.covariance_type, m.reg_covar)
               == (*structure, chosen["reg_covar"]) for m in members)
    # every value of both grids was cross-validated at the chosen structure, each on
    # all the folds, and the chosen one has the best mean held-out score
    grid = set(_normalizing._NF_BASE_REG_COVAR_FINE) | set(_normalizing._NF_BASE_REG_COVAR)
    scores = {}
    for k, cov, reg, n_held, value in _RecordingMixture.log:
        if (k, cov) == structure:
            scores.setdefault(reg, []).append((n_held, value))
    assert set(scores) == grid
    folds = _normalizing._NF_BASE_FOLDS
    assert all(len(v) == folds and sum(n for n, _ in v) == len(Z) for v in scores.values())
    means = {reg: np.mean([s for _, s in v]) for reg, v in scores.items()}
    assert chosen["reg_covar"] == max(means, key=means.get)
    # the structure search itself ran on the coarse grid only
    other = {reg for k, cov, reg, *_ in _RecordingMixture.log if (k, cov) != structure}
    assert other == set(_normalizing._NF_BASE_REG_COVAR)


@pytest.mark.parametrize("n", [25, 60])
def test_too_few_rows_for_two_candidates_keep_the_normal_base(n):
    _, Z = _spiral(n, 0)
    result = _select_mixture(Z, np.random.RandomState(0))
    assert (result is None) == (n < 30)
