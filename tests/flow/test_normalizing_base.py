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
    _, Z = _spiral(900, 0)  # 3 folds of 300 rows, 5 folds of 180
    _RecordingMixture.log = []
    monkeypatch.setattr(sklearn.mixture, "GaussianMixture", _RecordingMixture)
    members = _select_mixture(Z, np.random.RandomState(0))
    chosen = members[0].get_params()
    structure = (chosen["n_components"], chosen["covariance_type"])
    assert all((m.n_components, m.covariance_type, m.reg_covar)
               == (*structure, chosen["reg_covar"]) for m in members)
    folds, reg_folds = _normalizing._NF_BASE_FOLDS, _normalizing._NF_BASE_REG_FOLDS
    assert folds != reg_folds
    # the structure search: the coarse grid on every candidate, `folds` folds
    coarse = {reg for k, cov, reg, n_held, _ in _RecordingMixture.log
              if n_held == len(Z) // folds}
    assert coarse == set(_normalizing._NF_BASE_REG_COVAR)
    # then every value of the fine grid at the chosen structure, on `reg_folds` folds of
    # the rows, and the chosen one has the best mean held-out score
    scores = {}
    for k, cov, reg, n_held, value in _RecordingMixture.log:
        if n_held == len(Z) // reg_folds:
            assert (k, cov) == structure
            scores.setdefault(reg, []).append(value)
    assert set(scores) == set(_normalizing._NF_BASE_REG_COVAR_FINE)
    assert all(len(v) == reg_folds for v in scores.values())
    means = {reg: np.mean(v) for reg, v in scores.items()}
    assert chosen["reg_covar"] == max(means, key=means.get)



@pytest.mark.parametrize("n", [25, 60])
def test_too_few_rows_for_two_candidates_keep_the_normal_base(n):
    _, Z = _spiral(n, 0)
    result = _select_mixture(Z, np.random.RandomState(0))
    assert (result is None) == (n < 30)
