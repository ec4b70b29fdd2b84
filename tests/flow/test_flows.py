"""Tests of the NormalizingFlow and DisentanglingFlow estimators."""

import pickle
import warnings

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.special import logsumexp
from sklearn.base import clone
from sklearn.datasets import make_moons
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from skdeepclust.datasets import make_arc, make_blob_images
from skdeepclust.flow import DisentanglingFlow, NormalizingFlow
from skdeepclust.nn.flows import make_factor_pairs


def _abs_corr(Z, F):
    """|Pearson correlation| of every column of Z with every column of F."""
    k = Z.shape[1]
    return np.abs(np.corrcoef(np.column_stack([Z, F]).T)[:k, k:])


@pytest.fixture(scope="module")
def factor_data():
    """Two independent factors and a residual, mixed non-linearly into 3 features."""
    rng = np.random.RandomState(0)
    U = rng.randn(1000, 3)
    A = np.linalg.qr(rng.randn(3, 3))[0] * np.array([2.0, 0.5, 1.0])
    X = U @ A.T
    X = X + 0.3 * np.tanh(X[:, ::-1])
    return X, U[:, :2], U[:, 2]


@pytest.fixture(scope="module")
def disentangled(factor_data):
    X, factors, _ = factor_data
    flow = DisentanglingFlow(
        [1, 1, 1], coupling="affine", max_epochs=8, device="cpu", random_state=0
    )
    return flow.fit(X, factors)


# ------------------------------------------------------------------ disentangling
def test_each_factor_block_follows_its_own_factor_only(factor_data, disentangled):
    X, factors, residual = factor_data
    residual_code, f1, f2 = disentangled.transform_factors(X)
    corr = _abs_corr(np.column_stack([residual_code, f1, f2]), np.column_stack([factors, residual]))
    # rows: code blocks (residual, factor 1, factor 2); columns: factor 1, factor 2, residual
    assert corr[1, 0] >= 0.9 and corr[2, 1] >= 0.9, corr
    assert corr[1, 1] <= 0.1 and corr[2, 0] <= 0.1, corr
    assert corr[0, 0] <= 0.1 and corr[0, 1] <= 0.1, corr
    assert corr[0, 2] >= 0.9, corr  # what no factor explains ends up in the residual


def test_disentangling_attributes(disentangled):
    assert disentangled.factor_slices_ == [slice(0, 1), slice(1, 2), slice(2, 3)]
    assert disentangled.dimensions_per_factor_.tolist() == [1, 1, 1]
    np.testing.assert_allclose(disentangled.target_correlations_, [0.9, 0.9])
    assert len(disentangled.loss_curve_) == disentangled.n_iter_ == 8
    assert disentangled.loss_curve_[-1] < disentangled.loss_curve_[0]


def test_fit_pairs_disentangles_given_pairs(factor_data):
    X, factors, _ = factor_data
    g = torch.Generator().manual_seed(0)
    a, b, sim = make_factor_pairs(torch.as_tensor(factors), 8000, 0.9, generator=g)
    flow = DisentanglingFlow([1, 1, 1], coupling="affine", max_epochs=1, batch_size=64,
                             device="cpu", random_state=0)
    flow.fit_pairs(X[a.numpy()], X[b.numpy()], sim[:, 1:].numpy())
    corr = _abs_corr(flow.transform(X)[:, 1:], factors)
    assert corr[0, 0] >= 0.9 and corr[1, 1] >= 0.9, corr
    assert flow.target_correlations_ is None


def test_gyoza_arc_tutorial_reaches_the_reported_loss():
    """Anchor G1: gyoza's tutorial reaches a loss of about -4.3 (2 stages, Adam 0.05,
    25 steps x 10 epochs of 64 pairs, identity-initialised ActNorm)."""
    X, position = make_arc(4096, random_state=953)
    flow = DisentanglingFlow(
        [1, 1], hidden_layer_sizes=(8,), actnorm_data_init=False, learning_rate=0.05,
        batch_size=64, pairs_per_epoch=25 * 64, max_epochs=10, device="cpu", random_state=0,
    ).fit(X, position)
    assert flow.loss_curve_[-1] < -4.0
    _, pos = flow.transform_factors(X)
    assert abs(np.corrcoef(pos[:, 0], position)[0, 1]) > 0.95
    np.testing.assert_allclose(flow.inverse_transform(flow.transform(X)), X, atol=1e-10)


def test_default_factor_layout():
    X = np.random.RandomState(0).randn(40, 6)
    flow = DisentanglingFlow(max_epochs=1, device="cpu", random_state=0)
    flow.fit(X, X[:, :2])
    assert flow.dimensions_per_factor_.tolist() == [2, 2, 2]
    flow.fit(X[:, :5], X[:, :2])
    assert flow.dimensions_per_factor_.tolist() == [1, 2, 2]
    flow.fit(X[:, :2], X[:, :2])
    assert flow.dimensions_per_factor_.tolist() == [0, 1, 1]
    blocks = flow.transform_factors(X[:, :2])
    assert [b.shape[1] for b in blocks] == [0, 1, 1]


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    "dims, message",
    [
        ([1, 1], "sums to 2, but it must sum to n_features=3"),
        ([1, 1, 2], "sums to 4, but it must sum to n_features=3"),
        ([1, 2], "describes 1 factor"),
        ([3], "at least one factor"),
        ([1, 0, 2], "at least one factor"),
    ],
)
def test_bad_dimensions_per_factor(dims, message):
    X = np.random.RandomState(0).randn(20, 3)
    with pytest.raises(ValueError, match=message):
        DisentanglingFlow(dims, device="cpu").fit(X, X[:, :2])


def test_y_with_the_wrong_number_of_rows():
    X = np.random.RandomState(0).randn(20, 3)
    with pytest.raises(ValueError, match="y has 19 rows but X has 20"):
        DisentanglingFlow(device="cpu").fit(X, X[:19, 0])
    with pytest.raises(ValueError, match="requires y"):
        DisentanglingFlow(device="cpu").fit(X, None)


@pytest.mark.parametrize("bad", [1.5, -0.1, np.nan])
def test_similarity_outside_unit_interval(bad):
    X = np.random.RandomState(0).randn(10, 3)
    sim = np.full(10, 0.5)
    sim[3] = bad
    with pytest.raises(ValueError, match=r"similarity must be in \[0, 1\]|NaN"):
        DisentanglingFlow(device="cpu").fit_pairs(X, X[::-1], sim)


def test_fit_pairs_shape_errors():
    X = np.random.RandomState(0).randn(10, 3)
    with pytest.raises(ValueError, match="X_a has 10 rows and X_b has 9"):
        DisentanglingFlow(device="cpu").fit_pairs(X, X[:9], np.ones(10))
    with pytest.raises(ValueError, match="one row per pair"):
        DisentanglingFlow(device="cpu").fit_pairs(X, X, np.ones(9))
    with pytest.raises(ValueError, match="X has 2 features, but"):
        DisentanglingFlow(device="cpu").fit_pairs(X, X[:, :2], np.ones(10))


def test_other_parameter_errors():
    X = np.random.RandomState(0).randn(20, 4)
    with pytest.raises(ValueError, match="one per factor"):
        DisentanglingFlow(target_correlations=[0.9, 0.8, 0.7], device="cpu").fit(X, X[:, :2])
    with pytest.raises(ValueError, match="product is n_features=4"):
        NormalizingFlow(event_shape=(3, 2), device="cpu").fit(X)
    with pytest.raises(ValueError, match="'coupling' parameter"):
        NormalizingFlow(coupling="cubic", device="cpu").fit(X)
    with pytest.raises(ValueError, match="'batch_size' parameter"):
        NormalizingFlow(batch_size="big", device="cpu").fit(X)
    flow = NormalizingFlow(max_epochs=1, tol=None, device="cpu").fit(X)
    with pytest.raises(ValueError, match="X has 3 features, but NormalizingFlow is expecting 4"):
        flow.inverse_transform(X[:, :3])


# ------------------------------------------------------------------ exactness
@pytest.mark.parametrize("dtype, atol", [(np.float32, 1e-4), (np.float64, 1e-10)])
@pytest.mark.parametrize("cls", [NormalizingFlow, DisentanglingFlow])
def test_exact_inverse_and_dtype(cls, dtype, atol):
    X, _ = make_blob_images(300, random_state=0)
    X = X.astype(dtype)
    flow = cls(coupling="affine", event_shape=(8, 8), n_stages=2, max_epochs=2,
               device="cpu", random_state=0)
    flow.fit(X, make_blob_images(300, random_state=0)[1]) if cls is DisentanglingFlow else flow.fit(X)
    Z = flow.transform(X)
    assert Z.dtype == dtype and flow.score_samples(X).dtype == dtype
    assert np.abs(flow.inverse_transform(Z) - X).max() <= atol
    z = np.random.RandomState(1).randn(50, 64).astype(dtype)
    assert np.abs(flow.transform(flow.inverse_transform(z)) - z).max() <= 10 * atol


def test_float32_and_float64_fits_agree():
    X, _ = make_moons(300, noise=0.1, random_state=0)
    kw = dict(n_stages=2, max_epochs=3, device="cpu", random_state=0)
    f64 = NormalizingFlow(**kw).fit(X)
    f32 = NormalizingFlow(**kw).fit(X.astype(np.float32))
    X32 = X.astype(np.float32)
    np.testing.assert_allclose(f32.score_samples(X32), f64.score_samples(X), atol=1e-4)
    np.testing.assert_allclose(f32.transform(X32), f64.transform(X), atol=1e-4)


def test_score_samples_is_code_density_plus_log_det():
    X, _ = make_moons(300, noise=0.1, random_state=0)
    flow = NormalizingFlow(n_stages=2, max_epochs=3, base="normal", device="cpu",
                           random_state=0).fit(X)
    expected = stats.norm.logpdf(flow.transform(X)).sum(1) + flow.log_det_jacobian(X)
    np.testing.assert_allclose(flow.score_samples(X), expected, rtol=1e-10)
    assert flow.score(X) == pytest.approx(np.mean(expected))


def test_density_integrates_to_one():
    X, _ = make_moons(500, noise=0.1, random_state=0)
    flow = NormalizingFlow(n_stages=2, hidden_layer_sizes=(16,), max_epochs=10,
                           device="cpu", random_state=0).fit(X)
    grid = np.linspace(-4, 5, 451)
    xx, yy = np.meshgrid(grid, grid)
    density = np.exp(flow.score_samples(np.column_stack([xx.ravel(), yy.ravel()])))
    assert density.sum() * (grid[1] - grid[0]) ** 2 == pytest.approx(1.0, abs=0.02)


def test_gaussian_data_reaches_the_true_likelihood():
    rng = np.random.RandomState(0)
    cov = np.array([[2.0, 1.2], [1.2, 1.0]])
    X = rng.multivariate_normal([1.0, -2.0], cov, size=3000)
    X_test = rng.multivariate_normal([1.0, -2.0], cov, size=3000)
    true = stats.multivariate_normal([1.0, -2.0], cov).logpdf(X_test).mean()
    flow = NormalizingFlow(n_stages=2, hidden_layer_sizes=(8,), max_epochs=5,
                           learning_rate=3e-3, device="cpu", random_state=0).fit(X)
    assert flow.score(X_test) == pytest.approx(true, abs=0.05)
    samples = flow.sample(3000)
    np.testing.assert_allclose(np.cov(samples.T), cov, atol=0.2)


def test_two_moons_beats_a_gaussian_mixture():
    X, _ = make_moons(2000, noise=0.05, random_state=0)
    X_test, _ = make_moons(2000, noise=0.05, random_state=1)
    flow = NormalizingFlow(n_stages=3, coupling="affine", activation="relu",
                           hidden_layer_sizes=(32, 32), max_epochs=20, batch_size=128,
                           learning_rate=3e-3, early_stopping=False, tol=None, device="cpu",
                           random_state=0).fit(X)
    gmm = GaussianMixture(4, random_state=0).fit(X)
    assert flow.score(X_test) > gmm.score(X_test) + 0.1
    assert np.isfinite(flow.loss_curve_).all()


def test_early_stopping_keeps_the_best_epoch():
    # At a constant rate the first epochs of a fit do not depend on max_epochs, so a fit cut
    # after the best epoch of an early-stopped one holds the parameters of that epoch.
    X, _ = make_moons(300, noise=0.1, random_state=0)
    # (a standard normal base: the untrained flow, also a candidate, is never the best)
    kw = {"n_stages": 2, "early_stopping": True, "n_iter_no_change": 3, "learning_rate": 1e-2,
          "lr_schedule": "constant", "base": "normal", "device": "cpu", "random_state": 0}
    flow = NormalizingFlow(max_epochs=40, **kw).fit(X)
    scores = flow.validation_scores_
    best = int(np.argmax(scores))
    assert flow.converged_ and len(scores) == flow.n_iter_ < 40
    assert best < flow.n_iter_ - 1  # the epochs after the best scored worse
    assert flow.best_validation_score_ == scores[best]

    at_best = NormalizingFlow(max_epochs=best + 1, tol=None, **kw).fit(X)
    assert at_best.validation_scores_ == scores[: best + 1]  # the same first epochs
    kept, wanted = flow.module_.state_dict(), at_best.module_.state_dict()
    assert kept.keys() == wanted.keys()
    for name in kept:
        assert torch.equal(kept[name], wanted[name]), name
    np.testing.assert_array_equal(flow.score_samples(X), at_best.score_samples(X))


# ------------------------------------------------------------------ estimator contract extras
def test_sample_is_reproducible_and_follows_random_state():
    X, _ = make_moons(200, noise=0.1, random_state=0)
    flow = NormalizingFlow(n_stages=1, max_epochs=2, device="cpu", random_state=3).fit(X)
    np.testing.assert_array_equal(flow.sample(5), flow.sample(5))
    np.testing.assert_array_equal(flow.sample(5, random_state=1), flow.sample(5, random_state=1))
    assert not np.array_equal(flow.sample(5, random_state=1), flow.sample(5, random_state=2))
    with pytest.raises(ValueError, match="n_samples=0"):
        flow.sample(0)


def test_same_seed_same_model_and_pickle_round_trip(factor_data):
    X, factors, _ = factor_data
    kw = dict(n_stages=1, max_epochs=2, device="cpu", random_state=0)
    a = DisentanglingFlow(**kw).fit(X, factors)
    b = DisentanglingFlow(**kw).fit(X, factors)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    c = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(c.transform(X), a.transform(X))
    np.testing.assert_array_equal(c.score_samples(X), a.score_samples(X))
    assert c.factor_slices_ == a.factor_slices_
    assert "_optimizer" not in vars(c)
    clone(c).fit(X, factors)


def test_unscaled_input_trains_without_nans():
    X = np.random.RandomState(0).normal(100, 1, size=(200, 4))
    flow = NormalizingFlow(n_stages=2, max_epochs=5, learning_rate=1e-2, device="cpu",
                           random_state=0).fit(X)
    assert np.isfinite(flow.score_samples(X)).all()
    assert np.abs(flow.inverse_transform(flow.transform(X)) - X).max() < 1e-8


# ------------------------------------------------------------------ defaults
def test_auto_values_resolve_into_private_attributes_only():
    X, _ = make_moons(400, noise=0.1, random_state=0)
    flow = NormalizingFlow(max_epochs=2, tol=None, device="cpu", random_state=0)
    before = flow.get_params()
    flow.fit(X)
    assert flow.get_params() == before  # public parameters untouched
    assert before["coupling"] == before["batch_size"] == before["early_stopping"] == "auto"
    assert flow._coupling == "spline" and flow._activation == "relu"
    assert flow._n_stages == 4 and flow._hidden_layer_sizes == (64, 64)
    assert flow._event_shape is None
    assert flow._batch_size == 64 and flow._learning_rate == 3e-3
    assert flow._early_stopping and len(flow.validation_scores_) == 2  # 40 validation rows
    tiny = NormalizingFlow(max_epochs=1, tol=None, device="cpu").fit(X[:40])
    assert not tiny._early_stopping  # 12 validation rows are too few to trust
    assert flow._max_epochs == 2
    assert 0 < flow._noise < 0.2  # half the cross-validated KDE bandwidth (2-D)
    assert flow._base == "mixture" and flow.module_.base is not None  # d <= 16
    flow._resolve_auto(4000, 2)
    assert flow._early_stopping  # a mixture base: held-out stopping keeps it or betters it
    flow.set_params(base="normal")._resolve_auto(4000, 2)
    assert not flow._early_stopping  # many rows in low dimension: all rows train
    flow._resolve_auto(4000, 20)
    assert flow._early_stopping
    # in high dimension: affine couplings with tanh conditioners, one hidden layer
    Xh = np.random.RandomState(0).randn(100, 20)
    high = NormalizingFlow(max_epochs=1, tol=None, device="cpu", random_state=0).fit(Xh)
    assert (high._coupling, high._activation, high._n_stages) == ("affine", "tanh", 4)
    assert high._hidden_layer_sizes == (64,) and high._learning_rate == 1e-3
    assert high._early_stopping and len(high.validation_scores_) == 1  # 30 rows held out
    assert high._noise == 0.0  # no minibatch noise above 16 features
    high.set_params(max_epochs="auto")._resolve_auto(100, 20)
    assert high._max_epochs == 500  # 2 steps per epoch: the epoch cap
    # a square number of features >= 64: an image, checkerboard on the (k, k) grid
    img = NormalizingFlow(max_epochs=1, tol=None, device="cpu", random_state=0)
    img.fit(np.random.RandomState(0).rand(100, 64))
    assert img._event_shape == (8, 8) and img.event_shape == "auto"
    flat = NormalizingFlow(event_shape=None, max_epochs=1, tol=None, device="cpu").fit(Xh[:, :16])
    assert flat._event_shape is None


def test_cosine_schedule_decays_the_rate_to_zero_at_max_epochs():
    X, _ = make_moons(300, noise=0.1, random_state=0)
    flow = NormalizingFlow(n_stages=1, hidden_layer_sizes=(8,), max_epochs=4, tol=None,
                           learning_rate=0.01, device="cpu", random_state=0).fit(X)
    assert flow._optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)
    const = NormalizingFlow(n_stages=1, hidden_layer_sizes=(8,), max_epochs=4, tol=None,
                            learning_rate=0.01, lr_schedule="constant", device="cpu",
                            random_state=0).fit(X)
    assert const._optimizer.param_groups[0]["lr"] == 0.01
    with pytest.raises(ValueError, match="lr_schedule"):
        NormalizingFlow(lr_schedule="linear", device="cpu").fit(X)
    # explicit values win
    own = NormalizingFlow(coupling="affine", hidden_layer_sizes=(8,), batch_size=32,
                          learning_rate=0.01, max_epochs=3, early_stopping=False, tol=None,
                          device="cpu", random_state=0).fit(X)
    assert (own._coupling, own._hidden_layer_sizes, own._batch_size) == ("affine", (8,), 32)
    assert own._learning_rate == 0.01 and own.validation_scores_ is None
    assert own._activation == "tanh"


def test_defaults_beat_a_single_gaussian_on_moons_quickly():
    X, _ = make_moons(600, noise=0.08, random_state=0)
    X_test, _ = make_moons(1000, noise=0.08, random_state=1)
    flow = NormalizingFlow(max_epochs=12, tol=None, device="cpu", random_state=0).fit(X)
    gaussian = GaussianMixture(1, random_state=0).fit(X)
    assert flow.score(X_test) > gaussian.score(X_test) + 0.5
    assert np.abs(flow.inverse_transform(flow.transform(X_test)) - X_test).max() < 1e-8
    # early stopping kept the start (the untrained flow with its mixture base): the best
    # epoch scored above it on the 60 validation rows, by less than 2 standard errors of
    # the per-row gain; the start's mixture was then refitted to every row's codes
    start = NormalizingFlow(max_epochs=0, device="cpu", random_state=0).fit(X)
    assert max(flow.validation_scores_) > start.best_validation_score_
    assert flow.best_validation_score_ == start.best_validation_score_
    np.testing.assert_array_equal(flow.score_samples(X_test), start.score_samples(X_test))
    Z = flow.transform(X)
    members = [GaussianMixture(**p).fit(Z) for p in flow._base_mixture_params]
    log_p = np.stack([m.score_samples(flow.transform(X_test)) for m in members])
    expected = logsumexp(log_p, 0) - np.log(10) + flow.log_det_jacobian(X_test)
    np.testing.assert_allclose(flow.score_samples(X_test), expected, rtol=1e-5, atol=1e-5)


def test_a_gain_counts_when_it_exceeds_two_standard_errors():
    from skdeepclust.flow._normalizing import _significant_gain

    gain = torch.tensor([0.3, -0.1] * 50)  # mean 0.1, sd 0.2: standard error 0.02
    assert _significant_gain(gain, None, 2.0) and not _significant_gain(gain, None, 6.0)
    assert not _significant_gain(gain[:4], None, 2.0)  # sd 0.2 / sqrt(4) = 0.1
    assert _significant_gain(torch.full((3,), 1e-3), None, 2.0)  # no spread
    assert not _significant_gain(-gain, None, 0.0)
    # weights: the effective number of rows (Kish) sets the standard error
    weights = torch.tensor([1.0, 1.0] * 2 + [0.0, 0.0] * 48)
    assert not _significant_gain(gain, weights, 2.0)  # 4 effective rows


def test_stopping_at_max_epochs_warns_with_the_shared_wording():
    X, _ = make_moons(300, noise=0.1, random_state=0)
    with pytest.warns(ConvergenceWarning, match=(
        r"NormalizingFlow \(normalizing flow\) stopped at max_epochs=2 before the "
        r"validation log-likelihood improved by less than tol=0.0001 for "
        r"n_iter_no_change=30 epochs; increase max_epochs")):
        flow = NormalizingFlow(max_epochs=2, device="cpu", random_state=0).fit(X)
    assert flow.n_iter_ == 2 and not flow.converged_
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        NormalizingFlow(max_epochs=2, tol=None, device="cpu", random_state=0).fit(X)
        stopped = NormalizingFlow(max_epochs=50, n_iter_no_change=2, tol=10.0, device="cpu",
                                  random_state=0).fit(X)
    # no epoch beats the first by 10 nats; with the cosine schedule the rule counts from
    # the second half of max_epochs on (epoch 26), so it stops 2 epochs later
    assert stopped.converged_ and stopped.n_iter_ == 27


def test_training_loss_rule_without_early_stopping():
    X, _ = make_moons(300, noise=0.1, random_state=0)
    with pytest.warns(ConvergenceWarning, match="before the training loss improved"):
        flow = NormalizingFlow(max_epochs=2, early_stopping=False, device="cpu",
                               random_state=0).fit(X)
    assert flow.validation_scores_ is None and flow.best_validation_score_ is None


def test_disentangling_defaults_recover_factor_levels():
    from skdeepclust.datasets import make_factor_levels

    X, F = make_factor_levels(1600, random_state=0)
    X_tr, X_te, F_tr, F_te = X[:1000], X[1000:], F[:1000], F[1000:]
    flow = DisentanglingFlow(device="cpu", random_state=0).fit(X_tr, F_tr)
    assert flow.dimensions_per_factor_.tolist() == [2, 1, 1]
    blocks = flow.transform_factors(X_te)

    def r2(block, f):
        A = np.column_stack([block, np.ones(len(block))])
        return 1 - np.var(f - A @ np.linalg.lstsq(A, f, rcond=None)[0]) / np.var(f)

    assert r2(blocks[1], F_te[:, 0]) >= 0.9 and r2(blocks[2], F_te[:, 1]) >= 0.9
    assert r2(blocks[1], F_te[:, 1]) <= 0.1 and r2(blocks[2], F_te[:, 0]) <= 0.1


def test_minibatch_noise_smooths_and_keeps_explicit_values():
    X, _ = make_moons(300, noise=0.05, random_state=0)
    kw = {"n_stages": 2, "hidden_layer_sizes": (32, 32), "max_epochs": 60, "tol": None,
          "base": "normal", "device": "cpu", "random_state": 0}
    none = NormalizingFlow(noise=0, **kw).fit(X)
    wide = NormalizingFlow(noise=0.3, **kw).fit(X)
    assert none._noise == 0.0 and wide._noise == 0.3
    # a wide smoothing lowers the peak density: the training rows score lower
    assert wide.score(X) < none.score(X) - 0.1
    with pytest.raises(ValueError, match="noise"):
        NormalizingFlow(noise=-1.0, device="cpu").fit(X)


def test_the_auto_all_rows_budget_ends_without_a_convergence_warning():
    # from 2 000 rows in low dimension "auto" trains a standard normal base's flow on
    # every row over the whole cosine schedule: its end is the plan; an explicit
    # early_stopping=False still warns (above)
    X, _ = make_moons(2000, noise=0.1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        flow = NormalizingFlow(max_epochs=2, base="normal", device="cpu",
                               random_state=0).fit(X)
    assert flow.validation_scores_ is None and flow.n_iter_ == 2 and not flow.converged_


# ------------------------------------------------------------------ mixture base
def _mixture_logpdf(base, Z):
    """Log-density of the rows of Z under a GaussianMixtureBase, by scipy."""
    weights = base.weights.detach().numpy()
    means = base.loc.detach().numpy()
    covs = base.covariances.detach().numpy()
    return np.log(sum(w * stats.multivariate_normal(m, c).pdf(Z)
                      for w, m, c in zip(weights, means, covs)))


def test_untrained_flow_with_mixture_base_scores_the_selected_mixture():
    X, _ = make_moons(600, noise=0.08, random_state=0)
    X_test, _ = make_moons(500, noise=0.08, random_state=1)
    flow = NormalizingFlow(base="mixture", max_epochs=0, early_stopping=False, tol=None,
                           device="cpu", random_state=0).fit(X)
    base = flow.module_.base
    assert base.n_components > 1  # two curved moons need several Gaussians
    # the mixture chosen on a split of the codes, refitted on all of them from several
    # initialisations and averaged: the untrained flow's density is that average's on
    # the codes times the Jacobian
    Z, Z_test = flow.transform(X), flow.transform(X_test)
    members = [GaussianMixture(**p).fit(Z) for p in flow._base_mixture_params]
    assert len(members) == 10 and len({m.random_state for m in members}) == 10
    log_p = np.stack([m.score_samples(Z_test) for m in members])
    expected = logsumexp(log_p, 0) - np.log(10) + flow.log_det_jacobian(X_test)
    # (float32 codes and mixture parameters: agreement to float32 precision)
    np.testing.assert_allclose(flow.score_samples(X_test), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(flow.score_samples(X_test),
                               _mixture_logpdf(base, Z_test) + flow.log_det_jacobian(X_test),
                               rtol=1e-5, atol=1e-5)


def test_mixture_base_trains_inverts_and_samples():
    X, _ = make_moons(600, noise=0.08, random_state=0)
    X_test, _ = make_moons(1000, noise=0.08, random_state=1)
    kw = {"n_stages": 2, "hidden_layer_sizes": (16, 16), "max_epochs": 8, "tol": None,
          "device": "cpu", "random_state": 0}
    flow = NormalizingFlow(base="mixture", **kw).fit(X)
    normal = NormalizingFlow(base="normal", **kw).fit(X)
    assert normal.module_.base is None and flow.module_.base is not None
    # a short fit from the mixture stays far above one from a single Gaussian
    assert flow.score(X_test) > normal.score(X_test) + 0.2
    expected = _mixture_logpdf(flow.module_.base, flow.transform(X_test))
    np.testing.assert_allclose(flow.score_samples(X_test),
                               expected + flow.log_det_jacobian(X_test), rtol=1e-5, atol=1e-5)
    assert np.abs(flow.inverse_transform(flow.transform(X_test)) - X_test).max() < 1e-8
    samples = flow.sample(4000, random_state=0)
    np.testing.assert_array_equal(samples, flow.sample(4000, random_state=0))
    assert not np.array_equal(samples[:5], flow.sample(5, random_state=1))
    np.testing.assert_allclose(samples.mean(0), X.mean(0), atol=0.1)
    np.testing.assert_allclose(np.cov(samples.T), np.cov(X.T), atol=0.1)
    # samples lie on the moons: they score like held-out data
    assert flow.score(samples) == pytest.approx(flow.score(X_test), abs=0.15)


def test_early_stopping_keeps_the_untrained_mixture_when_training_never_helps():
    X, _ = make_moons(400, noise=0.08, random_state=0)
    kw = {"base": "mixture", "early_stopping": True, "tol": None, "device": "cpu",
          "random_state": 0}
    untrained = NormalizingFlow(max_epochs=0, **kw).fit(X)
    # a rate this high only makes it worse: every epoch scores below the mixture
    worse = NormalizingFlow(max_epochs=3, learning_rate=0.3, lr_schedule="constant",
                            max_grad_norm=1.0, **kw).fit(X)
    assert max(worse.validation_scores_) < untrained.best_validation_score_
    assert worse.best_validation_score_ == untrained.best_validation_score_
    np.testing.assert_array_equal(worse.score_samples(X), untrained.score_samples(X))


def test_mixture_base_survives_warm_start_partial_fit_and_pickle():
    X, _ = make_moons(400, noise=0.08, random_state=0)
    flow = NormalizingFlow(base="mixture", n_stages=1, max_epochs=2, tol=None,
                           early_stopping=False, warm_start=True, device="cpu",
                           random_state=0).fit(X)
    base = flow.module_.base
    before = base.loc.detach().clone()
    flow.fit(X)  # continues: the base is trained on, not selected again
    assert flow.module_.base is base and not torch.equal(base.loc.detach(), before)
    assert any(p is base.loc for g in flow._optimizer.param_groups for p in g["params"])
    copy_ = pickle.loads(pickle.dumps(flow))
    np.testing.assert_array_equal(copy_.score_samples(X), flow.score_samples(X))
    np.testing.assert_array_equal(copy_.sample(5, random_state=0), flow.sample(5, random_state=0))
    streamed = NormalizingFlow(base="mixture", n_stages=1, device="cpu", random_state=0)
    streamed.partial_fit(X[:200])
    first = streamed.module_.base
    streamed.partial_fit(X[200:])
    assert streamed.module_.base is first and np.isfinite(streamed.score_samples(X)).all()


@pytest.mark.parametrize("schedule", ["cosine", "constant", "plateau"])
def test_each_later_call_starts_at_the_current_learning_rate(schedule):
    """partial_fit and a warm-start fit after a fit step at the learning_rate set now, not
    where the last schedule left the optimizer (0 at the end of a cosine decay)."""
    X, _ = make_moons(200, noise=0.1, random_state=0)
    flow = NormalizingFlow(n_stages=1, max_epochs=2, lr_schedule=schedule, tol=None,
                           early_stopping=False, warm_start=True, device="cpu",
                           random_state=0).fit(X)
    optimizer, rates = flow._optimizer, []
    name = "lean_step" if hasattr(optimizer, "lean_step") else "step"  # what train_loop calls
    step = getattr(optimizer, name)

    def recording_step(*args, **kwargs):
        rates.append(optimizer.param_groups[0]["lr"])
        return step(*args, **kwargs)

    setattr(optimizer, name, recording_step)
    before = [p.detach().clone() for p in flow.module_.parameters()]
    flow.set_params(learning_rate=1e-3).partial_fit(X)
    assert flow._optimizer is optimizer and rates[0] == 1e-3
    assert any(not torch.equal(a, p) for a, p in zip(before, flow.module_.parameters()))
    rates.clear()
    flow.set_params(learning_rate=2e-3).fit(X)
    assert flow._optimizer is optimizer and rates[0] == 2e-3


def test_base_auto_and_bad_values():
    X, _ = make_moons(200, noise=0.1, random_state=0)
    flow = NormalizingFlow(max_epochs=1, tol=None, device="cpu", random_state=0)
    flow._resolve_auto(4000, 2)
    assert flow._base == "mixture" and flow.base == "auto"
    flow._resolve_auto(1000, 16)
    assert flow._base == "mixture"
    flow._resolve_auto(1000, 17)
    assert flow._base == "normal"
    flow._resolve_auto(4000, 8)  # many rows in several dimensions: a standard normal
    assert flow._base == "normal" and not flow._early_stopping
    with pytest.raises(ValueError, match="base"):
        NormalizingFlow(base="gmm", device="cpu").fit(X)
    # one row: no mixture can be selected, the base stays a standard normal
    one = NormalizingFlow(base="mixture", max_epochs=1, tol=None, device="cpu",
                          random_state=0).fit(X[:1])
    assert one.module_.base is None and np.isfinite(one.score_samples(X[:1])).all()
