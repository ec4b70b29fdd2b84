"""DisentanglingFlow's "auto" learning rate and whole minibatches of pairs (issues 18, 20)."""

import warnings

import numpy as np
import pytest

from skdeepclust.datasets import make_factor_levels
from skdeepclust.flow import DisentanglingFlow
from skdeepclust.flow._disentangling import _df_learning_rate


def _wide_factor_data(n_train, n_features=200):
    """Two factors of levels plus 3 nuisance dimensions seen through a random linear map
    into ``n_features`` dimensions, with noise: strongly correlated wide data."""
    Z, F = make_factor_levels(n_train + 400, n_levels=(4, 5), n_nuisance=3, random_state=0)
    W = np.random.RandomState(1).normal(size=(Z.shape[1], n_features)) / np.sqrt(Z.shape[1])
    X = Z @ W + 0.1 * np.random.RandomState(2).normal(size=(len(Z), n_features))
    return X[:n_train], F[:n_train], X[n_train:]


@pytest.mark.parametrize(
    ("n_features", "hidden", "expected"),
    [
        (2, "auto", 0.01),  # fan-in 8: the full 0.01
        (32, "auto", 0.01),  # fan-in 128: the last width at 0.01
        (64, "auto", 0.005),  # fan-in 256
        (200, "auto", 0.0016),  # fan-in 800
        (784, "auto", 0.01 * 128 / 3136),
        (200, (32,), 0.01),  # fan-in 100 (the coupling reads 100 features): 0.01
        (200, (32, 512), 0.0025),
    ],
)
def test_auto_learning_rate_resolves_to_the_documented_value(n_features, hidden, expected):
    X = np.random.RandomState(0).normal(size=(40, n_features))
    y = np.arange(40) % 4
    flow = DisentanglingFlow(hidden_layer_sizes=hidden, max_epochs=0, device="cpu",
                             random_state=0).fit(X, y)
    assert flow.learning_rate == "auto"
    assert flow._learning_rate == pytest.approx(expected, rel=1e-12)
    assert flow._optimizer.param_groups[0]["lr"] == pytest.approx(expected, rel=1e-12)
    # the rule depends on the features only: a partial_fit chunk of 10 rows resolves the same
    chunked = DisentanglingFlow(hidden_layer_sizes=hidden, device="cpu", random_state=0)
    chunked.partial_fit(X[:10], y[:10])
    assert chunked._learning_rate == flow._learning_rate


def test_auto_learning_rate_helper_uses_the_builder_width_for_none():
    assert _df_learning_rate(200, None) == _df_learning_rate(200, (800,)) == pytest.approx(0.0016)


def test_explicit_learning_rate_is_respected():
    X, F, _ = _wide_factor_data(100)
    flow = DisentanglingFlow(learning_rate=0.02, max_epochs=1, device="cpu",
                             random_state=0).fit(X, F)
    assert flow._learning_rate == 0.02
    assert flow._optimizer.param_groups[0]["lr"] == 0.02
    # set_params between partial_fit calls takes effect (resolved again on resume, and
    # every group of the kept optimizer, ActNorm's included, steps at the new rate)
    inc = DisentanglingFlow(device="cpu", random_state=0).partial_fit(X, F)
    assert {g["lr"] for g in inc._optimizer.param_groups} != {0.003}
    optimizer = inc._optimizer
    inc.set_params(learning_rate=0.003).partial_fit(X, F)
    assert inc._learning_rate == 0.003
    assert inc._optimizer is optimizer  # the moments carry on
    assert [g["lr"] for g in inc._optimizer.param_groups] == [0.003, 0.003]
    # and back to "auto": the two resolved rates again
    inc.set_params(learning_rate="auto").partial_fit(X, F)
    assert [g["lr"] for g in inc._optimizer.param_groups] == [
        inc._learning_rate, inc._actnorm_learning_rate]


def test_defaults_train_wide_data_without_divergence():
    # 200 correlated features: at "auto" (0.0016) five epochs raise the held-out
    # log-likelihood far above the untrained flow's, with a falling loss and no warning
    # of a broken density; the former fixed 0.01 stays at the untrained level
    X, F, X_te = _wide_factor_data(400)
    start = DisentanglingFlow(max_epochs=0, device="cpu", random_state=0).fit(X, F)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        flow = DisentanglingFlow(max_epochs=5, device="cpu", random_state=0).fit(X, F)
    fixed = DisentanglingFlow(max_epochs=5, learning_rate=0.01, device="cpu",
                              random_state=0).fit(X, F)
    curve = np.asarray(flow.loss_curve_)
    assert np.all(np.isfinite(curve)) and np.all(np.diff(curve) < 0)
    assert np.isfinite(flow.score_samples(X_te)).all()
    assert flow.score(X_te) > start.score(X_te) + 50
    assert flow.score(X_te) > fixed.score(X_te) + 50


@pytest.mark.parametrize(
    ("pairs", "sizes"),
    [(None, [64, 36]), (100, [64, 36]), (150, [64, 64]), (170, [64, 64, 42]), (10, [64]),
     (64, [64])],
)
def test_no_step_draws_fewer_than_half_a_minibatch_of_pairs(pairs, sizes):
    # 100 rows, batch 64: a last minibatch of fewer than 32 pairs is left out, and an
    # epoch has at least one full minibatch (pairs are drawn afresh for every step)
    X, F, _ = _wide_factor_data(100, n_features=4)
    drawn = []
    flow = DisentanglingFlow(pairs_per_epoch=pairs, max_epochs=1, device="cpu", random_state=0)
    original = DisentanglingFlow._pair_loss

    def spy(self, x_a, x_b, similarity):
        drawn.append(x_a.shape[0])
        return original(self, x_a, x_b, similarity)

    flow._pair_loss = spy.__get__(flow)
    flow.fit(X, F)
    assert drawn == sizes
    drawn.clear()
    flow.partial_fit(X[:30], F[:30])  # 30 rows: one full minibatch
    assert drawn == ([64] if pairs is None else sizes)


def test_partial_fit_keeps_a_bounded_uniform_reservoir_of_earlier_rows(monkeypatch):
    import skdeepclust.flow._disentangling as module

    monkeypatch.setattr(module, "_PAIR_POOL_ROWS", 60)
    X, F = make_factor_levels(600, random_state=0)
    X = X + np.arange(600)[:, None] * 1e-3  # every row distinct, its index recoverable
    weights = np.ones(600)
    weights[::7] = 0.0  # zero-weight rows never enter the reservoir
    flow = DisentanglingFlow(device="cpu", random_state=0)
    for rows in np.array_split(np.arange(600), 20):
        flow.partial_fit(X[rows], F[rows], sample_weight=weights[rows])
    P_x, P_y, P_w = flow._pair_pool
    assert P_x.shape == (60, 4) and P_y.shape == (60, 2) and np.all(P_w == 1.0)
    assert flow._pair_pool_seen == int((weights > 0).sum())
    index = np.array([np.flatnonzero(np.all(X == r, axis=1))[0] for r in P_x])
    assert len(set(index)) == 60 and np.all(weights[index] > 0)
    np.testing.assert_array_equal(P_y, F[index])
    # a uniform sample of the stream, not its last rows: both halves are represented
    assert 15 <= np.sum(index < 300) <= 45
    # a fit starts anew
    flow.fit(X[:100], F[:100])
    assert not hasattr(flow, "_pair_pool")


def test_partial_fit_draws_pairs_from_the_call_and_the_reservoir(monkeypatch):
    import skdeepclust.flow._disentangling as module

    drawn = []
    original = module.make_factor_pairs

    def spy(factors, n_pairs, correlations=0.9, *, weights=None, generator=None):
        drawn.append(factors.shape[0])
        return original(factors, n_pairs, correlations, weights=weights, generator=generator)

    monkeypatch.setattr(module, "make_factor_pairs", spy)
    X, F = make_factor_levels(300, random_state=0)
    flow = DisentanglingFlow(device="cpu", random_state=0)
    flow.partial_fit(X[:100], F[:100])  # two steps (64 + 36 pairs) on the first 100 rows
    flow.partial_fit(X[100:200], F[100:200])  # two steps on 100 new + 100 earlier rows
    assert drawn == [100, 100, 200, 200]
    drawn.clear()
    flow.set_params(max_epochs=1).fit(X, F)  # fit draws from its own rows only
    assert set(drawn) == {300}
