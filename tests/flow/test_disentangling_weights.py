"""Sample weights of DisentanglingFlow: pairs drawn as if the rows were repeated."""

import numpy as np
import pytest
import torch

from skdeepclust.datasets import make_factor_levels
from skdeepclust.flow import DisentanglingFlow
from skdeepclust.nn.flows import make_factor_pairs


def _pair_frequencies(a, b, owner, n):
    """Joint frequency table of (original row of a, original row of b)."""
    table = np.zeros((n, n))
    np.add.at(table, (owner[a.numpy()], owner[b.numpy()]), 1.0)
    return table / table.sum()


@pytest.mark.parametrize("rho", [0.9, 0.5])
def test_integer_weights_draw_the_pairs_of_repeated_rows(rho):
    rng = np.random.default_rng(0)
    y = np.column_stack([rng.integers(0, 3, 8), rng.normal(size=8)])
    weights = np.array([2, 0, 1, 3, 1, 0, 4, 1])
    repeated = np.repeat(np.arange(8), weights)  # the original row of each copy
    n_pairs = 200_000
    g = torch.Generator().manual_seed(0)
    a_w, b_w, sim_w = make_factor_pairs(torch.as_tensor(y), n_pairs, rho,
                                        weights=torch.as_tensor(weights), generator=g)
    a_r, b_r, sim_r = make_factor_pairs(torch.as_tensor(y[repeated]), n_pairs, rho,
                                        generator=torch.Generator().manual_seed(1))
    weighted = _pair_frequencies(a_w, b_w, np.arange(8), 8)
    copies = _pair_frequencies(a_r, b_r, repeated, 8)
    assert weighted[[1, 5]].sum() == 0 and weighted[:, [1, 5]].sum() == 0  # zero weight: never drawn
    np.testing.assert_allclose(weighted, copies, atol=0.004)
    # the first members follow the weights
    np.testing.assert_allclose(weighted.sum(1), weights / weights.sum(), atol=0.004)
    assert torch.equal(sim_w.sum(0) > 0, sim_r.sum(0) > 0)


def test_pair_weights_are_checked():
    y = torch.zeros(4, 1)
    with pytest.raises(ValueError, match="non-negative"):
        make_factor_pairs(y, 10, weights=torch.tensor([1.0, -1.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="4 non-negative"):
        make_factor_pairs(y, 10, weights=torch.ones(3))


def _factor_r2(flow, X, y):
    """R^2 of each factor from its own code block (least squares)."""
    blocks = flow.transform_factors(X)[1:]
    scores = []
    for k, Z in enumerate(blocks):
        A = np.column_stack([Z, np.ones(len(Z))])
        coef, *_ = np.linalg.lstsq(A, y[:, k], rcond=None)
        resid = y[:, k] - A @ coef
        scores.append(1 - resid.var() / y[:, k].var())
    return np.array(scores)


def test_zero_weight_rows_take_no_part():
    X, y = make_factor_levels(1000, random_state=0)
    rng = np.random.default_rng(0)
    # half of the rows carry factor values scrambled at random, with weight 0
    bad = rng.random(len(X)) < 0.5
    y_bad = y.copy()
    y_bad[bad] = rng.permutation(y[bad])
    params = {"max_epochs": 20, "random_state": 0}
    weights = (~bad).astype(float)
    weighted = DisentanglingFlow(**params).fit(X, y_bad, sample_weight=weights)
    scrambled = DisentanglingFlow(**params).fit(X, y_bad)
    clean = DisentanglingFlow(**params).fit(X[~bad], y[~bad])
    r2_weighted, r2_clean = _factor_r2(weighted, X, y), _factor_r2(clean, X, y)
    r2_scrambled = _factor_r2(scrambled, X, y)
    assert np.all(r2_weighted > 0.95) and np.all(r2_weighted > r2_clean - 0.03)
    assert r2_weighted.min() > r2_scrambled.min() + 0.05  # the scrambled rows do harm


def test_equal_weights_are_the_unweighted_fit():
    X, y = make_factor_levels(200, random_state=1)
    a = DisentanglingFlow(max_epochs=2, random_state=0).fit(X, y)
    b = DisentanglingFlow(max_epochs=2, random_state=0).fit(X, y, sample_weight=np.full(200, 3.0))
    np.testing.assert_array_equal(a.transform(X), b.transform(X))


def test_fit_pairs_zero_weight_pairs_take_no_part():
    X, y = make_factor_levels(1000, random_state=2)
    g = torch.Generator().manual_seed(0)
    a, b, sim = make_factor_pairs(torch.as_tensor(y, dtype=torch.float64), 2000, 0.9, generator=g)
    a, b, sim = a.numpy(), b.numpy(), sim[:, 1:].numpy()
    # a second half of pairs with the similarity on the wrong factor, weighted 0
    wrong = np.concatenate([np.zeros(1000, bool), np.ones(1000, bool)])
    sim_bad = sim.copy()
    sim_bad[wrong] = sim[wrong][:, ::-1]
    params = {"max_epochs": 20, "random_state": 0}
    weighted = DisentanglingFlow(**params).fit_pairs(X[a], X[b], sim_bad,
                                                     sample_weight=(~wrong).astype(float))
    mixed = DisentanglingFlow(**params).fit_pairs(X[a], X[b], sim_bad)
    r2_weighted, r2_mixed = _factor_r2(weighted, X, y), _factor_r2(mixed, X, y)
    assert np.all(r2_weighted > 0.9)
    assert r2_weighted.min() > r2_mixed.min() + 0.05
    with pytest.raises(ValueError, match="sample_weight"):
        DisentanglingFlow(max_epochs=1).fit_pairs(X[a], X[b], sim_bad, sample_weight=np.ones(3))
