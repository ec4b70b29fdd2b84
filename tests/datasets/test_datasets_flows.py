"""Tests of the synthetic factor data sets of the flow models."""

import numpy as np
import pytest

from skdeepclust.datasets import make_factor_levels


def test_make_factor_levels_shapes_levels_and_reproducibility():
    X, F = make_factor_levels(3000, n_levels=(3, 5), n_nuisance=3, random_state=0)
    assert X.shape == (3000, 5) and F.shape == (3000, 2)
    assert sorted(np.unique(F[:, 0])) == [0, 1, 2]
    assert sorted(np.unique(F[:, 1])) == [0, 1, 2, 3, 4]
    # levels are equally likely and the two factors independent
    assert np.bincount(F[:, 0].astype(int)).min() > 900
    assert abs(np.corrcoef(F.T)[0, 1]) < 0.05
    X2, F2 = make_factor_levels(3000, n_levels=(3, 5), n_nuisance=3, random_state=0)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(F, F2)


def test_make_factor_levels_mixes_every_factor_into_several_features():
    X, F = make_factor_levels(4000, random_state=1)
    corr = np.abs(np.corrcoef(np.column_stack([X, F]).T)[:4, 4:])
    # no single feature carries a factor alone, yet the features jointly determine it
    assert corr.max() < 0.95
    for j in range(2):
        A = np.column_stack([X, X**2, np.ones(len(X))])
        fit = A @ np.linalg.lstsq(A, F[:, j], rcond=None)[0]
        assert 1 - np.var(F[:, j] - fit) / np.var(F[:, j]) > 0.8


def test_make_factor_levels_bad_levels():
    with pytest.raises(ValueError, match="n_levels must be a sequence of ints >= 2"):
        make_factor_levels(10, n_levels=(1, 3))
    with pytest.raises(ValueError, match="n_levels"):
        make_factor_levels(10, n_levels=())
