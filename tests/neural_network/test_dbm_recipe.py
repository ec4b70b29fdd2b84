"""The knobs of Salakhutdinov & Hinton's DBM recipe: a decaying learning rate, pretraining
with CD-k, momentum and weight decay, and warm starts that take new hyper-parameters."""

import numpy as np
import pytest
import torch

from skdeepclust.neural_network import DBM
from skdeepclust.nn import dbm as D
from skdeepclust.nn.rbm import _bernoulli

FAST = {"device": "cpu", "random_state": 0}


@pytest.fixture(scope="module")
def prototypes():
    """Binary 12-pixel data: 4 prototypes with 5 % flipped pixels."""
    rng = np.random.RandomState(0)
    protos = rng.rand(4, 12) < 0.5
    X = protos[rng.randint(4, size=600)]
    return (X ^ (rng.rand(*X.shape) < 0.05)).astype(np.float64)


def test_learning_rate_decay_follows_inverse_time_over_warm_starts(prototypes):
    # a normal DBM (fixed zero offsets), one update per epoch: with a huge decay only the
    # first update moves the model, so 3 epochs give the 1-epoch model
    one = dict(n_components=(6, 3), centered=False, batch_size=600, learning_rate=0.1, **FAST)
    first = DBM(max_epochs=1, **one).fit(prototypes)
    decayed = DBM(max_epochs=3, learning_rate_decay=1e12, **one).fit(prototypes)
    for a, b in zip(first.coefs_, decayed.coefs_):
        assert np.abs(a).max() > 0.01
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-7)
    moving = DBM(max_epochs=3, **one).fit(prototypes)
    assert max(np.abs(a - b).max() for a, b in zip(first.coefs_, moving.coefs_)) > 1e-3

    # the epochs count on over warm starts: the last of 4 x 30 updates at 3 + 29 / 30
    dbm = DBM(n_components=(6, 3), batch_size=20, learning_rate=0.1, learning_rate_decay=0.5,
              max_epochs=2, warm_start=True, **FAST).fit(prototypes)
    assert dbm._updater.learning_rate == pytest.approx(0.1 / (1 + 0.5 * (1 + 29 / 30)))
    dbm.fit(prototypes)
    assert dbm.n_iter_ == 4
    assert dbm._updater.learning_rate == pytest.approx(0.1 / (1 + 0.5 * (3 + 29 / 30)))


def test_warm_start_takes_the_new_learning_rate_and_keeps_the_chains(prototypes):
    dbm = DBM(n_components=(6, 3), centered=False, learning_rate=0.1, max_epochs=2,
              warm_start=True, **FAST).fit(prototypes)
    before = [c.copy() for c in dbm.coefs_]
    chains = dbm._updater.chains
    dbm.set_params(learning_rate=1e-12, max_epochs=1).fit(prototypes)
    for a, b in zip(before, dbm.coefs_):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-9)  # the new rate was used
    assert dbm._updater.chains is chains and dbm.n_iter_ == 3  # the same chains ran on
    dbm.set_params(learning_rate=0.1, n_chains=7).fit(prototypes)  # new chains
    assert dbm._updater.chains[0].shape[0] == 7


def test_pretrain_step_cd_k_with_momentum_and_weight_decay_by_hand():
    g = torch.Generator().manual_seed(0)
    rbm = D.DBM((5, 3), dtype=torch.float64)
    rbm.initialize(generator=g, weight_scale=0.5, centered=False)
    with torch.no_grad():
        rbm.biases[1].copy_(torch.tensor([0.3, -0.2, 0.1]))
    v = torch.bernoulli(torch.full((4, 5), 0.4), generator=g).double()
    vel = [torch.randn(p.shape, generator=g, dtype=torch.float64)
           for p in (rbm.weights[0], *rbm.biases)]
    W, b0, b1 = (p.detach().clone() for p in (rbm.weights[0], *rbm.biases))
    up, down, lr, m, l2, k = 2.0, 1.0, 0.05, 0.9, 0.01, 3

    # by hand: k Gibbs sweeps from the data with the same draws, then the momentum step
    gen = torch.Generator().manual_seed(1)
    p_pos = torch.sigmoid(b1 + up * v @ W)
    p_neg = p_pos
    for _ in range(k):
        h = _bernoulli(p_neg, gen)
        x = _bernoulli(torch.sigmoid(b0 + down * h @ W.T), gen)
        p_neg = torch.sigmoid(b1 + up * x @ W)
    grads = [(v.T @ p_pos - x.T @ p_neg) / 4 - l2 * W, v.mean(0) - x.mean(0),
             p_pos.mean(0) - p_neg.mean(0)]
    expected_vel = [m * a + lr * gr for a, gr in zip(vel, grads)]
    expected = [p + dv for p, dv in zip((W, b0, b1), expected_vel)]

    out = D.pretrain_step(rbm, v, up=up, down=down, learning_rate=lr, offset_rate=0.0,
                          generator=torch.Generator().manual_seed(1), k=k, momentum=m,
                          l2=l2, velocity=vel)
    torch.testing.assert_close(out, p_pos, rtol=0, atol=1e-14)
    for got, want in zip((rbm.weights[0], *rbm.biases), expected):
        torch.testing.assert_close(got.detach(), want, rtol=0, atol=1e-14)
    for got, want in zip(vel, expected_vel):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-14)


def test_pretrain_params_per_layer(prototypes):
    params = [{"learning_rate": 0.1, "momentum": 0.5, "l2": 1e-4, "k": 2},
              {"learning_rate": 0.05, "k": 3}]
    dbm = DBM(n_components=(8, 4), pretrain_epochs=8, pretrain_params=params, max_epochs=1,
              learning_rate=0.1, **FAST).fit(prototypes)
    curve = dbm.pretrain_loss_curve_
    assert len(curve) == 16 and curve[7] < 0.5 * curve[0]  # measured 0.055 against 0.205
    assert np.isfinite(dbm.score(prototypes))
    # the default (no momentum, CD-1, same rate) is a different pretraining
    plain = DBM(n_components=(8, 4), pretrain_epochs=8, max_epochs=1, learning_rate=0.1,
                **FAST).fit(prototypes)
    assert not np.allclose(plain.pretrain_loss_curve_, curve)
    with pytest.raises(ValueError, match=r"invalid keys \['lr'\] for layer 0"):
        DBM(pretrain_epochs=1, pretrain_params={"lr": 0.1}, **FAST).fit(prototypes)
    with pytest.raises(ValueError, match="list of 2 dicts"):
        DBM(pretrain_epochs=1, pretrain_params=[{}], **FAST).fit(prototypes)
    with pytest.raises(ValueError, match="int k >= 1"):
        DBM(pretrain_epochs=1, pretrain_params={"k": 0}, **FAST).fit(prototypes)
    with pytest.raises(ValueError, match="momentum < 1"):
        DBM(pretrain_epochs=1, pretrain_params=[{}, {"momentum": 1.0}], **FAST).fit(prototypes)
