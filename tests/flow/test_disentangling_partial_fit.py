"""DisentanglingFlow's ActNorm layers train at the fan-in-1 rate, so that partial_fit
recovers from a first chunk that initialised them badly (issue 20)."""

import pickle
import warnings

import numpy as np
import pytest

from skdeepclust.datasets import make_factor_levels
from skdeepclust.flow import DisentanglingFlow
from skdeepclust.flow._base import _BaseFlow
from skdeepclust.flow._disentangling import _df_actnorm_learning_rate, _df_learning_rate
from skdeepclust.nn.flows import ActNorm


def _wide_factor_data(n_train, n_features=200, n_test=400):
    """Two factors of levels plus 3 nuisance dimensions seen through a random linear map
    into ``n_features`` dimensions, with noise."""
    Z, F = make_factor_levels(n_train + n_test, n_levels=(4, 5), n_nuisance=3,
                              random_state=0)
    W = np.random.RandomState(1).normal(size=(Z.shape[1], n_features)) / np.sqrt(Z.shape[1])
    X = Z @ W + 0.1 * np.random.RandomState(2).normal(size=(len(Z), n_features))
    return X[:n_train], F[:n_train], X[n_train:]


def _actnorm_params(flow):
    return [p for m in flow.module_.modules() if isinstance(m, ActNorm) for p in m.parameters()]


def test_auto_puts_actnorm_in_its_own_group_at_the_fan_in_one_rate():
    X, F, _ = _wide_factor_data(64)
    flow = DisentanglingFlow(max_epochs=0, device="cpu", random_state=0).fit(X, F)
    groups = flow._optimizer.param_groups
    assert len(groups) == 2
    assert groups[0]["lr"] == flow._learning_rate == pytest.approx(_df_learning_rate(200, None))
    assert groups[1]["lr"] == flow._actnorm_learning_rate == _df_actnorm_learning_rate() == 0.01
    actnorm = {id(p) for p in _actnorm_params(flow)}
    assert {id(p) for p in groups[1]["params"]} == actnorm and len(actnorm) == 3
    # every parameter is trained, once
    in_groups = [id(p) for g in groups for p in g["params"]]
    assert sorted(in_groups) == sorted(id(p) for p in flow.module_.parameters())


def test_explicit_learning_rate_applies_to_every_group():
    X, F, _ = _wide_factor_data(64)
    flow = DisentanglingFlow(learning_rate=0.003, max_epochs=0, device="cpu",
                             random_state=0).fit(X, F)
    assert [g["lr"] for g in flow._optimizer.param_groups] == [0.003, 0.003]
    # no ActNorm layers: one group
    plain = DisentanglingFlow(actnorm=False, max_epochs=0, device="cpu",
                              random_state=0).fit(X, F)
    assert len(plain._optimizer.param_groups) == 1


def test_first_step_moves_actnorm_by_its_rate_and_couplings_by_theirs():
    # Adam's first step moves every weight by its group's rate (times the gradient's sign)
    X, F, _ = _wide_factor_data(64)
    flow = DisentanglingFlow(max_epochs=0, device="cpu", random_state=0).fit(X, F)
    before = {id(p): p.detach().clone() for p in flow.module_.parameters()}
    flow.partial_fit(X, F)  # 64 rows: one minibatch of 64 pairs, one step
    assert flow.n_iter_ == 1
    moves = {id(p): float((p.detach() - before[id(p)]).abs().max())
             for p in flow.module_.parameters()}
    actnorm = {id(p) for p in _actnorm_params(flow)}
    assert max(moves[i] for i in actnorm) == pytest.approx(0.01, rel=1e-3)
    others = [m for i, m in moves.items() if i not in actnorm]
    assert max(others) == pytest.approx(flow._learning_rate, rel=1e-3)


def test_groups_survive_pickling_and_partial_fit_continues():
    X, F, _ = _wide_factor_data(128)
    flow = DisentanglingFlow(device="cpu", random_state=0).partial_fit(X, F)
    again = pickle.loads(pickle.dumps(flow)).partial_fit(X, F)
    assert [g["lr"] for g in again._optimizer.param_groups] == [
        flow._learning_rate, 0.01]
    assert again.n_iter_ == 2


def _wide_first_chunk_gap(monkeypatch, shared: bool):
    """Mean log-determinant per feature of ``fit`` (4 epochs) less that of partial_fit
    over 10 chunks (4 passes) whose first chunk has 3 times the spread of the others (the
    ActNorm layers start with gains 3x too small), and partial_fit's held-out score."""
    if shared:  # every parameter at the couplings' rate, as before the ActNorm group
        monkeypatch.setattr(DisentanglingFlow, "_make_optimizer", _BaseFlow._make_optimizer)
    X, F, X_te = _wide_factor_data(2560)
    chunks = np.array_split(np.arange(len(X)), 10)
    X_stream = X.copy()
    X_stream[chunks[0]] = X.mean(0) + 3 * (X[chunks[0]] - X.mean(0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        fit = DisentanglingFlow(max_epochs=4, device="cpu", random_state=0).fit(X, F)
        inc = DisentanglingFlow(device="cpu", random_state=0)
        for _ in range(4):
            for rows in chunks:
                inc.partial_fit(X_stream[rows], F[rows])
    # additive couplings and reflections keep volumes: the log-det is the ActNorm gains'
    gap = (fit.log_det_jacobian(X[:1]) - inc.log_det_jacobian(X[:1]))[0] / X.shape[1]
    return gap, inc.score(X_te)


def test_partial_fit_recovers_from_a_wide_first_chunk(monkeypatch):
    # at 200 features the couplings' rate is 1.6e-3: over partial_fit's 160 steps the
    # ActNorm gains could move by 0.26 at most at that rate, and the first chunk put them
    # log(3) = 1.1 too low; at their own rate (0.01) they close most of the gap
    gap, score = _wide_first_chunk_gap(monkeypatch, shared=False)
    with monkeypatch.context() as m:
        gap_shared, score_shared = _wide_first_chunk_gap(m, shared=True)
    assert 0 < gap < 0.6
    assert gap_shared > 0.9
    assert score > score_shared + 150
