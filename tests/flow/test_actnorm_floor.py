"""ActNorm's scale floor: a feature (nearly) constant in the initialising rows cannot get
a huge gain, so rows where it varies keep a finite, sensible likelihood."""

import warnings

import numpy as np
import pytest
import torch
from scipy import stats

from skdeepclust.flow import DisentanglingFlow, NormalizingFlow
from skdeepclust.nn.flows import ActNorm


def _rms(std):
    return float(np.sqrt(np.mean(np.square(std))))


def test_constant_column_gets_the_floor_not_a_huge_gain():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 4, generator=g, dtype=torch.float64) * torch.tensor(
        [1.0, 2.0, 0.5, 0.0], dtype=torch.float64)
    x[:, 3] += 0.7 + 1e-6 * torch.rand(300, generator=g, dtype=torch.float64)  # near-constant
    layer = ActNorm(4).double()
    layer.initialize(x)
    std = x.std(0, unbiased=False).numpy()
    floor = 0.3 * _rms(std)
    np.testing.assert_allclose(layer.scale.detach().numpy(), [*std[:3], floor], rtol=1e-10)
    np.testing.assert_allclose(layer.loc.detach().numpy(), x.mean(0).numpy(), rtol=1e-10)
    assert float(layer.log_gain.detach().max()) <= np.log(1 / floor) + 1e-10
    # the floor's own gain: 1 / 0.3 times that of a feature at the overall spread
    assert float(layer.log_gain[3]) == pytest.approx(np.log(1 / (0.3 * _rms(std))))


def test_floor_zero_and_all_constant_rows():
    x = torch.cat([torch.randn(50, 2), torch.full((50, 1), 3.0)], 1)
    layer = ActNorm(3, scale_floor=0.0)
    layer.initialize(x)
    assert float(layer.log_gain[2]) == 0  # a constant feature keeps a unit scale
    torch.testing.assert_close(layer.scale[:2], x[:, :2].std(0, unbiased=False))
    const = ActNorm(3)
    const.initialize(torch.full((20, 3), -1.0))
    torch.testing.assert_close(const.scale, torch.ones(3))  # nothing to take a floor from
    torch.testing.assert_close(const.loc, torch.full((3,), -1.0))


def _data_with_a_rare_column(n, seed, rare_rows):
    """Two correlated Gaussian features and a third that is dequantisation noise
    (U(0, 1/256)) except in ``rare_rows``, where it is 0.8 (a pixel inked in a few images)."""
    rng = np.random.RandomState(seed)
    xy = rng.multivariate_normal([0, 0], [[1.0, 0.8], [0.8, 1.0]], size=n)
    c = rng.uniform(0, 1 / 256, n)
    c[rare_rows] = 0.8
    return np.column_stack([xy, c])


def test_rare_column_keeps_held_out_scores_close_to_its_own_density():
    """A column that is dequantisation noise except in one training row: held-out rows
    score finitely, between the 2-D flow plus that column's Gaussian (its training mean
    and spread) and the 2-D flow plus the noise's own uniform density."""
    X = _data_with_a_rare_column(600, 0, [7])
    X_test = _data_with_a_rare_column(1000, 1, [3, 500])
    # a standard normal base and no noise keep the test fast (the mixture base and the
    # noise are fitted by cross-validation)
    params = {"n_stages": 2, "hidden_layer_sizes": (16,), "max_epochs": 20,
              "learning_rate": 1e-2, "batch_size": 100, "base": "normal", "noise": 0.0,
              "early_stopping": False, "tol": None, "device": "cpu", "random_state": 0}
    flow = NormalizingFlow(**params).fit(X)
    assert np.isfinite(flow.score(X))
    scores = flow.score_samples(X_test)
    assert np.isfinite(scores).all()
    flow_2d = NormalizingFlow(**params).fit(X[:, :2]).score_samples(X_test[:, :2])
    column = stats.norm(X[:, 2].mean(), X[:, 2].std()).logpdf(X_test[:, 2])
    plain = np.setdiff1d(np.arange(len(X_test)), [3, 500])  # the column is noise there
    assert (flow_2d + column)[plain].mean() - 0.5 < scores[plain].mean()
    assert scores[plain].mean() < flow_2d[plain].mean() + np.log(256) + 0.5
    # the rare rows: no worse than the 2-D flow and that column's Gaussian
    assert (scores[[3, 500]] > (flow_2d + column)[[3, 500]]).all()


@pytest.mark.parametrize("cls", [NormalizingFlow, DisentanglingFlow])
def test_partial_fit_with_a_column_constant_in_the_first_chunk(cls):
    """The first chunk (ActNorm's initialising rows) never sees the column vary; later
    chunks do: partial_fit stays near independent Gaussians instead of diverging (without
    the floor: -2352 and -2483 nats per row against their -1.94)."""
    n = 1200
    rare = np.arange(200, n, 50)  # none in the first chunk
    X = _data_with_a_rare_column(n, 0, rare)
    y = X[:, :1] + 0.1 * np.random.RandomState(1).normal(size=(n, 1))
    args = (X, y) if cls is DisentanglingFlow else (X,)
    # a standard normal base: the default mixture base of a 3-feature flow is fitted to
    # the first chunk's codes, where the column is constant, and has its own floor
    extra = {"base": "normal"} if cls is NormalizingFlow else {}
    inc = cls(n_stages=2, hidden_layer_sizes=(16,), learning_rate=3e-3, batch_size=100,
              device="cpu", random_state=0, **extra)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no broken-model warning
        for _ in range(3):
            for rows in np.array_split(np.arange(n), 6):
                inc.partial_fit(*(a[rows] for a in args))
    scores = inc.score_samples(X)
    assert np.isfinite(scores).all()
    gauss = stats.norm(X.mean(0), X.std(0)).logpdf(X).sum(1).mean()
    assert scores.mean() > gauss - 3
    assert scores[rare].mean() > -500


def test_broken_disentangling_flow_warns():
    X = _data_with_a_rare_column(400, 0, [5])
    y = X[:, :1]
    flow = DisentanglingFlow(n_stages=1, hidden_layer_sizes=(8,), max_epochs=1,
                             device="cpu", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        flow.fit(X, y)  # a sound fit: no warning
    actnorm = next(m for m in flow.module_.modules() if isinstance(m, ActNorm))
    with torch.no_grad():
        actnorm.weight[1, 2] += 12.0  # the rare column's gain times e^12
    X_t = torch.as_tensor(X, dtype=actnorm.weight.dtype)
    with pytest.warns(RuntimeWarning, match="model is broken"):
        flow._check_density(X_t)
    with torch.no_grad():
        actnorm.weight[1, 2] = float("inf")
    with pytest.warns(RuntimeWarning, match="model is broken"):
        flow._check_density(X_t)


def test_broken_normalizing_flow_warns():
    """The shared density check (``_BaseFlow._check_density``) runs after every
    NormalizingFlow fit: silent on a sound fit, a warning on a broken model."""
    X = _data_with_a_rare_column(400, 0, [5])
    flow = NormalizingFlow(n_stages=1, hidden_layer_sizes=(8,), max_epochs=1, base="normal",
                           tol=None, device="cpu", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        flow.fit(X)  # a sound fit: no warning
    actnorm = next(m for m in flow.module_.modules() if isinstance(m, ActNorm))
    X_t = torch.as_tensor(X, dtype=actnorm.weight.dtype)
    with torch.no_grad():
        actnorm.weight[1, 2] += 12.0  # the rare column's gain times e^12
    with pytest.warns(RuntimeWarning, match="NormalizingFlow: .* the model is broken"):
        flow._check_density(X_t)
    with torch.no_grad():
        actnorm.weight[1, 2] = float("nan")
    with pytest.warns(RuntimeWarning, match="model is broken"):
        flow._check_density(X_t)
