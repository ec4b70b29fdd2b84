"""sample_weight: rows drawn in proportion to their weights, weighted starts and targets."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from skdeepclust import AutoEncoder, DECClustering, DMAEClustering, NormalizingFlow
from skdeepclust._training import train_loop
from skdeepclust.neural_network import DBM, DBN, RBM, RBMClassifier
from skdeepclust.nn.dec import target_distribution
from skdeepclust.representation import GMMRepresentation


def _blobs(n=300, seed=0):
    X, y = make_blobs(n, 4, centers=[[0, 0, 0, 0], [6, 6, 0, 0], [0, 6, 6, 6]],
                      cluster_std=0.6, random_state=seed)
    return X.astype(np.float32), y


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def test_the_loop_draws_rows_in_proportion_and_never_a_zero_weight():
    w = np.array([0.0, 1.0, 3.0, 0.0])
    seen = []
    g = torch.Generator().manual_seed(0)

    def step(idx):
        seen.extend(idx.tolist())
        return torch.zeros(())

    train_loop(step, n_samples=4, batch_size=2, max_epochs=2000, generator=g,
               sample_weight=w)
    counts = np.bincount(seen, minlength=4)
    assert counts[0] == counts[3] == 0
    assert len(seen) == 2 * 2000  # an epoch: as many draws as rows with a weight
    assert counts[2] / counts[1] == pytest.approx(3.0, rel=0.05)


def test_weighted_target_equals_repeated_rows():
    q = torch.softmax(torch.randn(6, 3, generator=torch.Generator().manual_seed(0)), 1)
    repeated = target_distribution(torch.cat([q, q[:2]]))
    weighted = target_distribution(q, torch.tensor([2.0, 2.0, 1, 1, 1, 1]))
    torch.testing.assert_close(weighted, repeated[:6])


@pytest.mark.parametrize("make", [
    lambda: AutoEncoder(n_components=2, max_epochs=3),
    lambda: DECClustering(3, max_epochs=3),
    lambda: DMAEClustering(3, max_epochs=3),
    lambda: NormalizingFlow(max_epochs=3),
    lambda: GMMRepresentation(3, max_epochs=3),
])
def test_equal_weights_are_the_unweighted_fit(make):
    X, _ = _blobs()
    plain = _quiet(make().set_params(random_state=0).fit, X)
    equal = _quiet(make().set_params(random_state=0).fit, X, sample_weight=np.full(len(X), 2.5))
    assert plain.loss_curve_ == equal.loss_curve_


@pytest.mark.parametrize("make", [lambda: DECClustering(2, random_state=0),
                                  lambda: DMAEClustering(2, random_state=0)])
def test_zero_weight_leaves_a_cluster_out(make):
    X, y = _blobs()
    w = (y != 2).astype(float)  # the third blob is left out
    est = _quiet(make().fit, X, sample_weight=w)
    kept = y != 2
    assert adjusted_rand_score(y[kept], est.predict(X[kept])) == 1.0
    # unweighted, two clusters cannot split the first two blobs and keep the third
    plain = _quiet(make().fit, X)
    assert adjusted_rand_score(y[kept], plain.predict(X[kept])) < 1.0


def test_a_flow_weighted_to_one_mode_learns_that_mode():
    rng = np.random.RandomState(0)
    a = rng.normal(size=(600, 2)) + [-4, 0]
    b = rng.normal(size=(600, 2)) + [4, 0]
    X = np.vstack([a, b]).astype(np.float32)
    w = np.r_[np.ones(600), np.zeros(600)]
    flow = _quiet(NormalizingFlow(max_epochs=40, random_state=0).fit, X, sample_weight=w)
    # the left-out mode is far less likely than the weighted one
    assert flow.score(a) - flow.score(b) > 5.0
    exact = -np.log(2 * np.pi) - 1.0
    assert flow.score(a) > exact - 0.3


def test_integer_weights_act_as_repeated_rows_for_the_classifier():
    X, y = _blobs(n=240)
    Xb = (X > 2).astype(np.float32)
    w = np.where(y == 0, 3.0, 1.0)
    repeated = np.r_[np.arange(len(y)), np.flatnonzero(y == 0), np.flatnonzero(y == 0)]
    kw = dict(n_components=8, max_epochs=30, random_state=0)
    weighted = _quiet(RBMClassifier(**kw).fit, Xb, y, sample_weight=w)
    copied = _quiet(RBMClassifier(**kw).fit, Xb[repeated], y[repeated])
    # the class prior the models learned: class 0 about 3/5 of the mass in both
    p_w = weighted.predict_proba(Xb).mean(0)
    p_c = copied.predict_proba(Xb).mean(0)
    np.testing.assert_allclose(p_w, p_c, atol=0.08)


@pytest.mark.parametrize("make", [lambda: RBM(n_components=4, max_epochs=2),
                                  lambda: DBM(n_components=(4, 3), max_epochs=2),
                                  lambda: DBN(hidden_layer_sizes=(4, 3), max_epochs=2)])
def test_the_energy_models_take_weights(make):
    Xb = (np.random.RandomState(0).uniform(size=(60, 6)) < 0.4).astype(np.float32)
    w = np.r_[np.zeros(20), np.ones(40)]
    est = _quiet(make().set_params(random_state=0).fit, Xb, sample_weight=w)
    assert np.isfinite(est.loss_curve_).all()


@pytest.mark.parametrize("bad, match", [
    (-np.ones(300), "Negative"), (np.ones(5), "shape"), (np.zeros(300), "non-zero"),
])
def test_bad_weights_are_refused(bad, match):
    X, _ = _blobs()
    with pytest.raises(ValueError, match=match):
        AutoEncoder(max_epochs=1).fit(X, sample_weight=bad)
