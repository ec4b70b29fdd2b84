"""Behaviour of neural_network.DBM and its torch module skdeepclust.nn.dbm."""

import itertools
import math
import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from skdeepclust.datasets import make_bars_and_stripes
from skdeepclust.neural_network import DBM
from skdeepclust.nn import dbm as D
from skdeepclust.nn.partition import log_partition_exact as rbm_log_partition_exact
from skdeepclust.nn.rbm import RBM as RBMModule

FAST = {"device": "cpu", "random_state": 0}
#: A small data set gets few updates: a larger start and rate than PyDeep's MNIST recipe
#: (0.01, 0.01) move the DBM off its symmetric start within a second of training.
SMALL = dict(learning_rate=0.1, init_weights=0.3, **FAST)


def _codes(n):
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)), dtype=torch.float64)


def _random_module(sizes, visible="binary", seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    m = D.DBM(sizes, visible=visible, dtype=torch.float64)
    if visible == "binary":
        data = torch.bernoulli(torch.full((50, sizes[0]), 0.3), generator=g).double()
    else:
        data = torch.randn(50, sizes[0], generator=g, dtype=torch.float64) * 1.5 + 1.0
    m.initialize(data, generator=g, weight_scale=scale)
    with torch.no_grad():
        for b in m.biases[1:]:
            b.add_(torch.randn(b.shape, generator=g, dtype=b.dtype))
    return m


def _brute_force_log_z(m):
    """logsumexp of -E over every joint binary state (all layers enumerated)."""
    states = _codes(sum(m.sizes))
    parts = list(torch.split(states, list(m.sizes), dim=1))
    return float(torch.logsumexp(m.negative_energy(parts), 0))


@pytest.mark.parametrize("sizes", [(4, 3, 2), (3, 2, 3, 2), (2, 3, 2, 2, 1)])
def test_exact_log_partition_matches_brute_force(sizes):
    m = _random_module(sizes)
    with torch.no_grad():
        assert float(D.log_partition_exact(m)) == pytest.approx(_brute_force_log_z(m), abs=1e-10)


def test_exact_log_partition_equals_the_bipartite_rbm():
    """A DBM is an RBM between its even layers (visible) and its odd ones (hidden), with
    block weights: the RBM module's own enumeration gives the same log Z."""
    m = _random_module((5, 4, 3, 2))
    n0, n1, n2, n3 = m.sizes
    rbm = RBMModule(n0 + n2, n1 + n3, dtype=torch.float64)
    with torch.no_grad():
        W = torch.zeros(n0 + n2, n1 + n3, dtype=torch.float64)
        W[:n0, :n1] = m.weights[0]
        W[n0:, :n1] = m.weights[1].T
        W[n0:, n1:] = m.weights[2]
        rbm.weight.copy_(W)
        rbm.visible_bias.copy_(torch.cat([m.biases[0], m.biases[2]]))
        rbm.hidden_bias.copy_(torch.cat([m.biases[1], m.biases[3]]))
        rbm.visible_offset.copy_(torch.cat([m.offsets[0], m.offsets[2]]))
        rbm.hidden_offset.copy_(torch.cat([m.offsets[1], m.offsets[3]]))
        assert float(D.log_partition_exact(m)) == pytest.approx(
            float(rbm_log_partition_exact(rbm)), abs=1e-10)


def test_exact_log_partition_gaussian_visible_by_quadrature():
    m = _random_module((2, 3, 2), visible="gaussian", scale=0.7)
    xs = torch.linspace(-14.0, 16.0, 301, dtype=torch.float64)
    dx = float(xs[1] - xs[0])
    gx, gy = torch.meshgrid(xs, xs, indexing="ij")
    pts = torch.stack([gx.flatten(), gy.flatten()], 1)
    n = pts.shape[0]
    with torch.no_grad():
        vals = [torch.logsumexp(m.negative_energy([pts, h1.expand(n, 3), h2.expand(n, 2)]), 0)
                for h1 in _codes(3) for h2 in _codes(2)]
        quad = float(torch.logsumexp(torch.stack(vals), 0)) + 2 * math.log(dx)
        assert float(D.log_partition_exact(m)) == pytest.approx(quad, abs=1e-6)


@pytest.mark.parametrize("visible", ["binary", "gaussian"])
def test_offsets_reparameterise_without_changing_the_distribution(visible):
    m = _random_module((3, 2, 2), visible=visible)
    states = [torch.randn(8, 3, dtype=torch.float64), _codes(2)[[0, 1, 2, 3, 0, 1, 2, 3]],
              _codes(2)[[0, 0, 1, 1, 2, 2, 3, 3]]]
    if visible == "binary":
        states[0] = (states[0] > 0).double()
    with torch.no_grad():
        before = m.negative_energy(states)
        g = torch.Generator().manual_seed(1)
        m.update_offsets([torch.rand(n, generator=g, dtype=torch.float64) for n in m.sizes], 0.7)
        after = m.negative_energy(states)
    diff = (after - before).numpy()
    np.testing.assert_allclose(diff, diff[0], atol=1e-12)  # a constant shift only


def test_lower_bound_below_the_exact_log_likelihood():
    m = _random_module((4, 3, 2), scale=0.8)
    V = _codes(4)
    with torch.no_grad():
        lz = D.log_partition_exact(m)
        joint = [torch.logsumexp(m.negative_energy(
            [v.expand(4, 4), h1.expand(4, 3), _codes(2)]), 0) for v in V for h1 in _codes(3)]
        exact = torch.logsumexp(torch.stack(joint).view(16, 8), 1) - lz
        bound = [m.lower_bound(V, n_iter=n) - lz for n in (1, 3, 50)]
    for b in bound:
        assert bool((b <= exact + 1e-12).all())
    # mean-field sweeps are block coordinate ascent: the bound never falls
    assert bool((bound[1] >= bound[0] - 1e-12).all()) and bool((bound[2] >= bound[1] - 1e-12).all())
    assert float((exact - bound[2]).max()) < 0.2


def test_compose_pretrained_gives_each_unit_its_pretraining_input():
    g = torch.Generator().manual_seed(0)
    sizes = (5, 4, 3, 2)
    rbms = []
    for i in range(3):
        r = _random_module(sizes[i:i + 2], seed=i)
        rbms.append(r)
    dbm = D.compose_pretrained(rbms)
    x = [torch.bernoulli(torch.full((6, n), 0.5), generator=g).double() for n in sizes]
    with torch.no_grad():
        # visible: the bottom RBM's down pass (factor 1)
        torch.testing.assert_close(dbm.activation(0, x), rbms[0].activation(0, [None, x[1]]))
        # top: the top RBM's up pass (factor 1)
        torch.testing.assert_close(dbm.activation(3, x), rbms[2].activation(1, [x[2], None]))
        # middle layers: half the up input of the RBM below plus half the down input of
        # the RBM above, with their doubled factors
        for layer in (1, 2):
            below, above = rbms[layer - 1], rbms[layer]
            up, _ = D.pretrain_factors(layer - 1, 3)
            _, down = D.pretrain_factors(layer, 3)
            want = 0.5 * (below.activation(1, [x[layer - 1], None], up=up)
                          + above.activation(0, [None, x[layer + 1]], down=down))
            torch.testing.assert_close(dbm.activation(layer, x), want)
    assert D.pretrain_factors(0, 2) == (2.0, 1.0) and D.pretrain_factors(1, 2) == (1.0, 2.0)


@pytest.fixture(scope="module")
def prototypes():
    """Binary 12-pixel data: 4 prototypes with 5 % flipped pixels."""
    rng = np.random.RandomState(0)
    protos = rng.rand(4, 12) < 0.5
    X = protos[rng.randint(4, size=600)]
    return (X ^ (rng.rand(*X.shape) < 0.05)).astype(np.float64)


def test_ais_matches_exact_on_a_12_8_4_model(prototypes):
    dbm = DBM(n_components=(8, 4), max_epochs=20, **SMALL).fit(prototypes)
    assert dbm.log_partition_method_ == "exact"
    exact = dbm.log_partition_
    est = dbm.log_partition("ais", n_chains=100, n_betas=3000, random_state=0)
    assert abs(est - exact) < 0.1  # measured: 0.0007 on this seed
    lo, hi = dbm.log_partition_bounds_
    assert lo <= est <= hi and hi - lo < 0.2
    # the bound has learnt the data: -4.00 (entropy of the data: -3.77), -6.95 at the start
    fresh = DBM(n_components=(8, 4), max_epochs=0, **FAST).fit(prototypes)
    assert dbm.score(prototypes) > fresh.score(prototypes) + 2.5


def test_learns_bars_and_samples_them():
    X = make_bars_and_stripes(400, length=3, random_state=0)
    dbm = DBM(n_components=(12, 6), max_epochs=40, **SMALL).fit(X)
    assert dbm.score(X) > -4.2  # measured -3.91; optimum log(1/14) = -2.64
    S = dbm.sample(200, k=200, random_state=0)
    assert S.shape == (200, 9) and S.min() >= 0 and S.max() <= 1
    np.testing.assert_array_equal(S, dbm.sample(200, k=200, random_state=0))
    valid = {tuple(r) for r in make_bars_and_stripes(2000, length=3, random_state=1)}
    share = np.mean([tuple((s > 0.5).astype(float)) in valid for s in S])
    assert share > 0.5  # measured 0.6 (16 of 512 patterns are valid)
    H = dbm.transform_layers(X)
    assert [h.shape for h in H] == [(400, 12), (400, 6)]
    np.testing.assert_allclose(H[-1], dbm.transform(X))


def test_pretraining_then_joint_training(prototypes):
    dbm = DBM(n_components=(8, 4), pretrain_epochs=10, max_epochs=5, learning_rate=0.1,
              **FAST).fit(prototypes)
    assert len(dbm.pretrain_loss_curve_) == 20 and len(dbm.loss_curve_) == 5
    assert dbm.pretrain_loss_curve_[9] < dbm.pretrain_loss_curve_[0]
    # the composed (pretrained only) model is already far better than its random start
    # (measured -5.50 against -6.95)
    only = DBM(n_components=(8, 4), pretrain_epochs=10, max_epochs=0, learning_rate=0.1,
               **FAST).fit(prototypes)
    fresh = DBM(n_components=(8, 4), max_epochs=0, **FAST).fit(prototypes)
    assert only.score(prototypes) > fresh.score(prototypes) + 1.0
    uncentered = DBM(n_components=(8, 4), pretrain_epochs=5, max_epochs=5, centered=False,
                     learning_rate=0.1, **FAST).fit(prototypes)
    assert all(np.all(o == 0) for o in uncentered.offsets_)
    assert np.isfinite(uncentered.score(prototypes))


def test_bad_input_is_refused(prototypes):
    with pytest.raises(ValueError, match="at least two hidden layers"):
        DBM(n_components=(5,), **FAST).fit(prototypes)
    with pytest.raises(ValueError, match="hidden layers must be binary"):
        DBM(n_components=(5, 3), hidden="rectified", **FAST).fit(prototypes)
    with pytest.raises(ValueError, match="visible"):
        DBM(n_components=(5, 3), visible="rectified", **FAST).fit(prototypes)
    with pytest.raises(ValueError, match="needs binary X"):
        DBM(n_components=(5, 3), **FAST).fit(prototypes * 0.5 + 0.1)
    with pytest.raises(ValueError, match="positive ints"):
        DBM(n_components=(5, 0), **FAST).fit(prototypes)
    dbm = DBM(n_components=(3, 2), max_epochs=1, **FAST).fit(prototypes)
    with pytest.raises(ValueError, match="valid options"):
        dbm.log_partition("reverse")
    with pytest.raises(ValueError, match="2\\*\\*26 states"):
        D.log_partition_exact(D.DBM((4, 20, 3, 6)))


def test_ais_that_does_not_bracket_warns_with_the_temperatures_to_add(prototypes):
    dbm = DBM(n_components=(8, 4), max_epochs=20, **SMALL).fit(prototypes)
    with torch.no_grad():  # a sharp model: far from AIS's base, hard with few temperatures
        for w in dbm.module_.weights:
            w.mul_(4.0)
    exact = dbm.log_partition("exact")
    with pytest.warns(ConvergenceWarning, match=r"Add about \d+ temperatures") as record:
        dbm.log_partition("ais", n_chains=100, n_betas=5, random_state=0)
    assert dbm.log_partition_bounds_[0] == -np.inf
    need = int(str(record[0].message).split("n_betas=")[2].split(")")[0])
    assert need > 10  # measured 82
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # the advice is enough
        est = dbm.log_partition("ais", n_chains=100, n_betas=need, random_state=0)
    assert np.isfinite(dbm.log_partition_bounds_[0]) and abs(est - exact) < 1.0


def test_determinism_dtype_pickle_and_clone(prototypes):
    a = DBM(n_components=(6, 3), max_epochs=3, **FAST).fit(prototypes)
    b = clone(a).fit(prototypes)
    np.testing.assert_array_equal(a.transform(prototypes), b.transform(prototypes))
    # float32: the same start; the Gibbs draws then differ (uniforms of another precision)
    X32 = prototypes.astype(np.float32)
    c0 = DBM(n_components=(6, 3), max_epochs=0, **FAST).fit(X32)
    a0 = DBM(n_components=(6, 3), max_epochs=0, **FAST).fit(prototypes)
    H = c0.transform(X32)
    assert H.dtype == np.float32
    np.testing.assert_allclose(H, a0.transform(prototypes), atol=1e-6)
    c = DBM(n_components=(6, 3), max_epochs=3, **SMALL).fit(X32)
    a3 = DBM(n_components=(6, 3), max_epochs=3, **SMALL).fit(prototypes)
    assert abs(c.score(X32) - a3.score(prototypes)) < 0.1  # measured 0.013 (seeds 0-2)
    copy = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(copy.transform(prototypes), a.transform(prototypes))
    np.testing.assert_array_equal(copy.score_samples(prototypes), a.score_samples(prototypes))
    assert a.get_feature_names_out().tolist() == ["dbm0", "dbm1", "dbm2"]
    assert [w.shape for w in a.coefs_] == [(12, 6), (6, 3)]


def test_gaussian_visible_on_digits_with_constant_columns():
    from sklearn.datasets import load_digits

    X = load_digits().data[:300] / 16.0
    dbm = DBM(n_components=(10, 4), visible="gaussian", max_epochs=3, **FAST).fit(X)
    assert dbm.log_partition_method_ == "exact"
    assert np.all(np.isfinite(dbm.score_samples(X))) and np.all(np.isfinite(dbm.transform(X)))
    assert np.all(np.isfinite(dbm.sample(3, k=5)))
    est = dbm.log_partition("ais", n_chains=50, n_betas=1000, random_state=0)
    exact = dbm.log_partition("exact")
    assert abs(est - exact) < 0.5


def test_unconverged_training_warns(prototypes):
    with pytest.warns(ConvergenceWarning, match=r"DBM \(training\) stopped at max_epochs=2"):
        dbm = DBM(n_components=(4, 2), max_epochs=2, tol=0.0, n_iter_no_change=5,
                  **FAST).fit(prototypes)
    assert dbm.n_iter_ == 2 and not dbm.converged_


def test_exact_log_partition_is_computed_when_first_read(prototypes, monkeypatch):
    """partial_fit and fit leave the exact log Z pending: no call enumerates states until
    a score (or log_partition_) reads it, and the value read is the eager one."""
    calls = []
    exact = D.log_partition_exact
    monkeypatch.setattr(D, "log_partition_exact",
                        lambda m, **kw: calls.append(1) or exact(m, **kw))
    dbm = DBM(n_components=(6, 3), **SMALL)
    for _ in range(3):
        dbm.partial_fit(prototypes[:200])
    assert calls == []
    scores = dbm.score_samples(prototypes[:7])
    assert len(calls) == 1 and dbm.log_partition_method_ == "exact"
    lz = dbm.log_partition("exact")  # eager: the same value
    assert len(calls) == 2 and dbm.log_partition_ == lz
    assert dbm.log_partition_bounds_ == (lz, lz)
    np.testing.assert_array_equal(dbm.score_samples(prototypes[:7]), scores)
    assert len(calls) == 2  # stored: not computed again
    dbm.partial_fit(prototypes[200:400])  # the stored value is the old model's: pending
    assert len(calls) == 2
    lz2 = dbm.log_partition_
    assert len(calls) == 3 and lz2 != lz
    with torch.no_grad():
        assert lz2 == pytest.approx(float(exact(dbm._float64_module())), rel=1e-12)
    c = pickle.loads(pickle.dumps(dbm.partial_fit(prototypes)))  # pending survives pickling
    assert c.log_partition_ == pytest.approx(c.log_partition("exact"), rel=1e-12)
    full = DBM(n_components=(6, 3), max_epochs=2, **SMALL).fit(prototypes)
    assert len(calls) == 5  # fit: pending too
    assert full.score(prototypes) == pytest.approx(
        np.mean(full.score_samples(prototypes)), rel=1e-12)
    assert full.log_partition_method_ == "exact" and len(calls) == 6


def test_auto_rate_of_a_stream_does_not_depend_on_the_chunk_size(prototypes):
    """learning_rate="auto" in partial_fit: the rate of max_epochs calls like the first, then, once the
    stream has made more updates, the rate of a fit of as many updates; so a stream ends
    at fit's rate whatever its chunks, and max_epochs calls on all of X keep fit's rate."""
    X = prototypes[:200]
    kw = dict(n_components=(4, 2), batch_size=1, max_epochs=2, **FAST)
    fit_rate = DBM(**kw).fit(X)._learning_rate  # 400 updates
    assert fit_rate == pytest.approx(0.01 * math.sqrt(30000 / 400))
    for n_chunks in (4, 1):
        dbm = DBM(**kw)
        for _ in range(2):
            for c in np.array_split(X, n_chunks):
                dbm.partial_fit(c)
                # planned: 2 calls like the first (chunks of 50: 0.1 within the clip),
                # then the rate of a fit of as many updates as made
                updates = max(2 * len(c), dbm._updates_done)
                assert dbm._learning_rate == pytest.approx(
                    min(0.1, 0.01 * math.sqrt(30000 / updates)))
                assert dbm._updater.learning_rate == dbm._learning_rate  # the rate used
        assert dbm._updates_done == 400
        assert dbm._learning_rate == pytest.approx(fit_rate)
    fixed = DBM(**{**kw, "learning_rate": 0.03}).partial_fit(X[:20]).partial_fit(X[:20])
    assert fixed._updater.learning_rate == 0.03
