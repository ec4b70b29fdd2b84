"""Metrics: Hungarian accuracy, scorers, sparsity and the Amari distance."""

import itertools

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.model_selection import GridSearchCV

from skdeepclust.metrics import (
    amari_distance,
    assignment_sparsity,
    cluster_accuracy,
    cluster_accuracy_scorer,
    nmi_scorer,
)


def _brute_force_accuracy(y_true, y_pred):
    classes, clusters = np.unique(y_true), np.unique(y_pred)
    best = 0
    k = max(len(classes), len(clusters))
    padded = list(classes) + [None] * (k - len(classes))
    for perm in itertools.permutations(padded, len(clusters)):
        mapping = dict(zip(clusters, perm))
        best = max(best, np.mean([mapping[p] == t for t, p in zip(y_true, y_pred)]))
    return best


@pytest.mark.parametrize("n_classes, n_clusters", [(3, 3), (3, 5), (5, 3), (4, 1)])
def test_cluster_accuracy_matches_brute_force(n_classes, n_clusters):
    rng = np.random.RandomState(n_classes * 10 + n_clusters)
    y_true = rng.randint(n_classes, size=40)
    y_pred = rng.randint(n_clusters, size=40)
    assert cluster_accuracy(y_true, y_pred) == pytest.approx(_brute_force_accuracy(y_true, y_pred))


def test_cluster_accuracy_is_permutation_invariant_and_handles_strings():
    y = np.array([0, 0, 1, 1, 2, 2])
    assert cluster_accuracy(y, (y + 1) % 3) == 1.0
    acc, mapping = cluster_accuracy(["a", "a", "b"], [7, 7, 3], return_mapping=True)
    assert acc == 1.0 and mapping == {7: "a", 3: "b"}
    # more clusters than classes: the extra cluster's samples count as errors
    assert cluster_accuracy([0, 0, 0, 1], [0, 0, 2, 1]) == 0.75


def test_cluster_accuracy_errors():
    with pytest.raises(ValueError, match="different lengths"):
        cluster_accuracy([0, 1], [0])
    with pytest.raises(ValueError, match="at least one sample"):
        cluster_accuracy([], [])


def test_scorer_works_in_grid_search():
    X, y = make_blobs(300, centers=4, cluster_std=0.5, random_state=0)
    search = GridSearchCV(KMeans(n_init=3, random_state=0), {"n_clusters": [2, 4, 6]},
                          scoring=cluster_accuracy_scorer, cv=3).fit(X, y)
    assert search.best_params_ == {"n_clusters": 4}
    assert search.best_score_ > 0.9
    assert nmi_scorer(search.best_estimator_, X, y) > 0.9
    with pytest.raises(ValueError, match="pass y"):
        cluster_accuracy_scorer(search.best_estimator_, X, None)


def test_assignment_sparsity_counts_active_clusters():
    S = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.2, 0.3, 0.5], [1 - 1e-9, 1e-9, 0]])
    np.testing.assert_array_equal(assignment_sparsity(S), [1, 2, 3, 1])
    np.testing.assert_array_equal(assignment_sparsity(S, threshold=0.25), [1, 2, 2, 1])


def test_amari_distance_zero_for_scaled_permutations_and_maximal_for_mixing():
    rng = np.random.RandomState(0)
    A = rng.randn(4, 4)
    P = np.eye(4)[[2, 0, 3, 1]] * np.array([1.0, -2.0, 0.5, 3.0])
    assert amari_distance(A, A @ P) == pytest.approx(0.0, abs=1e-12)
    # B = A @ ones: every source mixed equally -> the maximum N - 1
    assert amari_distance(np.eye(3), np.ones((3, 3)) + 1e-12 * np.eye(3)) == pytest.approx(2.0)
    assert amari_distance(np.eye(3), np.ones((3, 3)) + 1e-12 * np.eye(3), normalize=True) == (
        pytest.approx(1.0)
    )
    # hand computed 2x2: P = [[1, .5], [0, 1]] -> rows (1.5-1)+(1-1), cols (1-1)+(1.5-1) -> 1/4
    assert amari_distance(np.eye(2), np.array([[1.0, 0.5], [0.0, 1.0]])) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="square"):
        amari_distance(np.eye(2), np.eye(3))


def test_ica_log_likelihood_is_a_normalised_density_and_matches_a_hand_value():
    from scipy import integrate

    from skdeepclust.metrics import ica_log_likelihood

    # at the origin each source contributes log(1/2 sech^2(0)) = log(1/2)
    assert ica_log_likelihood(np.eye(3), np.zeros((4, 3))) == pytest.approx(3 * np.log(0.5))
    # one hand-computed point with a non-trivial W
    W = np.array([[2.0, 0.5], [-0.3, 1.0]])
    x = np.array([[0.4, -1.2]])
    s = W @ x[0]
    expected = np.sum(np.log(0.5 / np.cosh(s) ** 2)) + np.log(abs(np.linalg.det(W)))
    assert ica_log_likelihood(W, x) == pytest.approx(expected, rel=1e-12)
    # the density integrates to one (the log|det W| term is the change of variables)
    grid = np.linspace(-15, 15, 1201)
    a, b = np.meshgrid(grid, grid, indexing="ij")
    density = np.exp(ica_log_likelihood(W, np.c_[a.ravel(), b.ravel()], per_sample=True))
    value = integrate.trapezoid(integrate.trapezoid(density.reshape(a.shape), grid), grid)
    assert value == pytest.approx(1.0, abs=1e-4)
    # large sources do not overflow
    ll = ica_log_likelihood(np.eye(2), np.full((2, 2), 800.0), per_sample=True)
    assert ll.shape == (2,) and np.all(np.isfinite(ll))


def test_ica_log_likelihood_errors():
    from skdeepclust.metrics import ica_log_likelihood

    with pytest.raises(ValueError, match="square"):
        ica_log_likelihood(np.ones((2, 3)), np.ones((4, 3)))
    with pytest.raises(ValueError, match="features"):
        ica_log_likelihood(np.eye(2), np.ones((4, 3)))
    with pytest.raises(ValueError, match="singular"):
        ica_log_likelihood(np.ones((2, 2)), np.ones((4, 2)))
