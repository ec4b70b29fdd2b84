"""Behaviour of neural_network.RBM and RBMClassifier."""

import itertools
import pickle
import warnings

import numpy as np
import pytest
from scipy.special import expit
from sklearn.datasets import load_digits, make_blobs
from sklearn.decomposition import FastICA
from sklearn.preprocessing import StandardScaler

from skdeepclust.datasets import make_bars_and_stripes, make_laplace_mixture_2d
from skdeepclust.metrics import amari_distance
from skdeepclust.neural_network import RBM, RBMClassifier
from skdeepclust.preprocessing import ZCA

FAST = dict(device="cpu", random_state=0, batch_size=20, learning_rate=0.05)


@pytest.fixture(scope="module")
def bars():
    return make_bars_and_stripes(400, length=3, random_state=0)


@pytest.mark.parametrize("method,extra", [
    ("cd", {}), ("pcd", {}), ("pt", {"n_chains": 10}), ("ipt", {}), ("exact", {}),
])
def test_training_raises_the_exact_log_likelihood(bars, method, extra):
    params = dict(n_components=6, method=method, **FAST, **extra)
    start = RBM(max_epochs=0, **params).fit(bars)
    assert start.log_partition_method_ == "exact"
    trained = RBM(max_epochs=15, **params).fit(bars)
    ll0, ll1 = start.score(bars), trained.score(bars)
    assert ll1 > ll0 + 1.0, (ll0, ll1)
    # the data have 14 distinct images: the entropy bound is log(1/14) (up to weighting)
    assert ll1 < -np.log(14) + 0.5
    assert len(trained.loss_curve_) == trained.n_iter_ == 15
    assert trained.loss_curve_[-1] < trained.loss_curve_[0]


def test_tempering_trains_as_well_as_the_exact_gradient(bars):
    # pooled PT (one ladder) and IPT (20 // 3 = 6 independent ladders) at 4 temperatures
    exact = RBM(n_components=6, method="exact", max_epochs=15, **FAST).fit(bars).score(bars)
    for method in ("pt", "ipt"):
        rbm = RBM(n_components=6, method=method, n_temperatures=4, max_epochs=15,
                  **FAST).fit(bars)
        assert rbm._sampler.n_ladders == (6 if method == "ipt" else 1)
        assert rbm._sampler.auxiliary.shape[:2] == (3, 6 if method == "ipt" else 7)
        assert abs(rbm.score(bars) - exact) < 0.1, (method, rbm.score(bars), exact)


def test_centered_and_normal_rbm(bars):
    centered = RBM(n_components=6, max_epochs=5, **FAST).fit(bars)
    normal = RBM(n_components=6, max_epochs=5, centered=False, **FAST).fit(bars)
    assert np.allclose(normal.visible_offset_, 0) and np.allclose(normal.hidden_offset_, 0)
    assert np.allclose(centered.hidden_offset_, 0.5, atol=0.2)
    assert not np.allclose(centered.visible_offset_, 0)
    assert np.isfinite(normal.score(bars))


@pytest.mark.usefixtures("compute_in_input_dtype")
def test_sklearn_convention_of_the_weights(bars):
    rbm = RBM(n_components=5, max_epochs=3, **FAST).fit(bars)
    assert rbm.components_.shape == (5, 9)
    H = expit(bars @ rbm.components_.T + rbm.intercept_hidden_)
    np.testing.assert_allclose(rbm.transform(bars), H, rtol=1e-10, atol=1e-12)
    V = expit(H @ rbm.components_ + rbm.intercept_visible_)
    np.testing.assert_allclose(rbm.inverse_transform(H), V, rtol=1e-10, atol=1e-12)


@pytest.mark.usefixtures("compute_in_input_dtype")
def test_gaussian_weights_convention():
    X = np.random.RandomState(0).randn(200, 3) * [1.0, 2.0, 0.5] + 3.0
    rbm = RBM(n_components=4, visible="gaussian", learn_sigma=True, max_epochs=3,
              **FAST).fit(X)
    H = expit((X / rbm.sigma_**2) @ rbm.components_.T + rbm.intercept_hidden_)
    np.testing.assert_allclose(rbm.transform(X), H, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(rbm.inverse_transform(H), H @ rbm.components_
                               + rbm.intercept_visible_, rtol=1e-9, atol=1e-10)


def test_score_samples_is_a_normalised_density(bars):
    rbm = RBM(n_components=5, max_epochs=3, **FAST).fit(bars)
    states = np.array(list(itertools.product([0.0, 1.0], repeat=9)))
    total = np.exp(rbm.score_samples(states)).sum()
    assert total == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_allclose(rbm.score_samples(bars[:7]),
                               -rbm.free_energy(bars[:7]) - rbm.log_partition_)


def test_gaussian_rbm_recovers_the_mixing_directions():
    X, A = make_laplace_mixture_2d(20000, mean=1.0, scale=1.0, random_state=42)
    zca = ZCA().fit(X)
    Xw = zca.transform(X)
    A_white = zca.whitening_.T @ A
    rbm = RBM(4, visible="gaussian", learn_sigma=True, centered=False, init_sigma=1.0,
              method="cd", init_hidden_bias=-2.6, batch_size=500, max_epochs=20,
              learning_rate={"weight": 1.0, "visible_bias": 0.0, "hidden_bias": 1.0,
                             "sigma": 0.1}, device="cpu", random_state=0).fit(Xw)
    W = rbm.components_.T
    distances = [amari_distance(A_white, W[:, list(p)])
                 for p in itertools.combinations(range(4), 2)]
    assert min(distances) < 0.05
    assert rbm.log_partition_method_ == "exact"
    # the GB-RBM is as good a density model as ICA (PyDeep: -2.7362 vs -2.7358)
    ica = FastICA(whiten=False, random_state=0, max_iter=500).fit(Xw)
    Wu = ica.components_
    ica_ll = np.mean(np.log(0.5 / np.cosh(Xw @ Wu.T) ** 2).sum(1)) + np.log(
        abs(np.linalg.det(Wu)))
    assert rbm.score(Xw) > ica_ll - 0.1


def test_log_partition_methods_agree(monkeypatch):
    from skdeepclust.neural_network import _rbm_likelihood

    monkeypatch.setattr(RBM, "_lazy_ais", {"n_chains": 100, "n_betas": 1000, "k": 1})
    monkeypatch.setattr(_rbm_likelihood, "EXACT_AUTO_COST", 2**10)  # as if the model were large
    X = np.random.RandomState(0).randn(300, 2)
    rbm = RBM(8, visible="gaussian", max_epochs=2, **FAST).fit(X)
    assert rbm.log_partition_ is None  # too many states for an automatic exact value
    ll = rbm.score_samples(X[:5])  # lazily estimates log Z by AIS and stores it
    assert rbm.log_partition_method_ == "ais"
    ais_lz, (lo, hi) = rbm.log_partition_, rbm.log_partition_bounds_
    assert lo <= ais_lz <= hi
    np.testing.assert_allclose(ll, -rbm.free_energy(X[:5]) - ais_lz)
    exact = rbm.log_partition("exact")
    assert rbm.log_partition_method_ == "exact" and rbm.log_partition_bounds_ == (exact, exact)
    assert abs(ais_lz - exact) < 0.05
    rev = rbm.log_partition("reverse_ais", n_betas=1000, X=X[:100], random_state=0)
    assert abs(rev - exact) < 0.05
    with pytest.raises(ValueError, match="valid options"):
        rbm.log_partition("bogus")


def test_exact_partition_of_a_large_layer_is_refused():
    X = make_bars_and_stripes(50, length=7, random_state=0)  # 49 visible units
    rbm = RBM(40, max_epochs=1, **FAST).fit(X)
    assert rbm.log_partition_ is None
    with pytest.raises(ValueError, match=r"2\*\*40 states.*method='ais'"):
        rbm.log_partition("exact")


@pytest.mark.parametrize("kw", [{"hidden": "rectified"}, {"visible": "rectified"}])
def test_rectified_units_have_no_likelihood(bars, kw):
    rbm = RBM(4, max_epochs=3, **FAST, **kw).fit(bars)
    assert rbm.log_partition_ is None
    assert (rbm.transform(bars) >= 0).all()
    assert rbm.reconstruction_error(bars).shape == (400,)
    with pytest.raises(ValueError, match="rectified"):
        rbm.log_partition("ais")
    with pytest.raises(ValueError, match="tractable"):
        rbm.score_samples(bars)


def test_binary_visible_layer_rejects_non_binary_data():
    X = np.random.RandomState(0).rand(30, 4)
    with pytest.raises(ValueError, match="binary X.*allow_probabilities=True"):
        RBM(3, max_epochs=1, **FAST).fit(X)
    RBM(3, max_epochs=1, allow_probabilities=True, **FAST).fit(X)
    with pytest.raises(ValueError, match=r"X in \[0, 1\]"):
        RBM(3, max_epochs=1, allow_probabilities=True, **FAST).fit(X + 1)
    with pytest.raises(ValueError, match="X >= 0"):
        RBM(3, max_epochs=1, visible="rectified", **FAST).fit(X - 1)


@pytest.mark.parametrize("params,match", [
    (dict(method="exact", n_components=30, visible="gaussian"), "at most 20"),
    (dict(method="pt", hidden="rectified"), "parallel tempering"),
    (dict(method="exact", offset_type="DM", n_components=3), "offset_type"),
    (dict(method="cd", n_chains=5), "n_chains"),
    (dict(learning_rate={"weights": 0.1}), "valid keys"),
])
def test_invalid_combinations(params, match):
    X = np.random.RandomState(0).randn(30, 4)
    params = {"visible": "gaussian", **params}
    with pytest.raises(ValueError, match=match):
        RBM(**{**FAST, **params}).fit(X)


def test_same_seed_same_model_and_pickle_round_trip(bars):
    a = RBM(n_components=5, max_epochs=3, **FAST).fit(bars)
    b = RBM(n_components=5, max_epochs=3, **FAST).fit(bars)
    np.testing.assert_array_equal(a.components_, b.components_)
    c = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(c.score_samples(bars), a.score_samples(bars))
    assert "_sampler" not in c.__dict__ and "_updater" not in c.__dict__
    c.partial_fit(bars)  # rebuilds momentum and chains
    assert c.n_iter_ == 4 and len(c.loss_curve_) == 4


def test_partial_fit_leaves_the_exact_log_partition_to_the_first_score(bars, monkeypatch):
    """issue 20: a partial_fit call costs its training only; the exact log Z of the model
    as it stands is computed by the first read (score_samples or log_partition_)."""
    from skdeepclust.nn import partition

    calls = []
    exact = partition.log_partition_exact
    monkeypatch.setattr(partition, "log_partition_exact",
                        lambda m, **kw: calls.append(1) or exact(m, **kw))
    rbm = RBM(n_components=5, **FAST)
    for _ in range(3):
        rbm.partial_fit(bars)
    assert calls == []
    scores = rbm.score_samples(bars[:7])
    assert len(calls) == 1 and rbm.log_partition_method_ == "exact"
    lz = rbm.log_partition("exact")
    assert rbm.log_partition_ == lz and rbm.log_partition_bounds_ == (lz, lz)
    np.testing.assert_allclose(scores, -rbm.free_energy(bars[:7]) - lz, rtol=1e-12)
    rbm.partial_fit(bars)  # the stored value belongs to the old model: pending again
    assert len(calls) == 2
    lz2 = rbm.log_partition_
    assert len(calls) == 3 and lz2 != lz
    assert rbm.score(bars) == pytest.approx(np.mean(-rbm.free_energy(bars) - lz2), rel=1e-12)
    c = pickle.loads(pickle.dumps(rbm.partial_fit(bars)))  # pending survives pickling
    assert c.log_partition_ == pytest.approx(c.log_partition("exact"), rel=1e-12)


def test_partial_fit_continues(bars):
    rbm = RBM(n_components=5, **FAST)
    for _ in range(3):
        rbm.partial_fit(bars)
    assert rbm.n_iter_ == 3 and rbm.log_partition_method_ == "exact"
    full = RBM(n_components=5, max_epochs=3, **FAST).fit(bars)
    np.testing.assert_allclose(rbm.loss_curve_[0], full.loss_curve_[0])
    # each call uses the current hyper-parameters (a learning-rate schedule)
    weights = rbm.components_.copy()
    rbm.set_params(learning_rate={"weight": 0.0})
    rbm.partial_fit(bars)
    np.testing.assert_array_equal(rbm.components_, weights)
    rbm.set_params(learning_rate=0.05)
    rbm.partial_fit(bars)
    assert not np.array_equal(rbm.components_, weights)


def test_float32_is_preserved(bars):
    rbm = RBM(n_components=5, max_epochs=2, **FAST).fit(bars.astype(np.float32))
    assert rbm.components_.dtype == np.float32
    assert rbm.transform(bars.astype(np.float32)).dtype == np.float32
    assert rbm.score_samples(bars.astype(np.float32)).dtype == np.float32
    ll32 = rbm.score_samples(bars.astype(np.float32))
    ll64 = rbm.score_samples(bars)
    np.testing.assert_allclose(ll32, ll64, rtol=1e-5)


def test_gibbs_and_sample(bars):
    rbm = RBM(n_components=8, max_epochs=30, **{**FAST, "learning_rate": 0.1}).fit(bars)
    g1 = rbm.gibbs(bars[:5], k=2, random_state=1)
    np.testing.assert_array_equal(g1, rbm.gibbs(bars[:5], k=2, random_state=1))
    assert set(np.unique(g1)) <= {0.0, 1.0}
    assert not np.array_equal(rbm.gibbs(bars, k=3), rbm.gibbs(bars, k=3))  # own stream moves
    for method in ("gibbs", "pt", "exact"):
        s = rbm.sample(200, k=50, method=method, random_state=0)
        assert s.shape == (200, 9) and set(np.unique(s)) <= {0.0, 1.0}
        # most samples are bars or stripes (the model learnt the data)
        complete = {tuple(r) for r in make_bars_and_stripes(length=3)}
        assert np.mean([tuple(r) in complete for r in s]) > 0.25, method
    with pytest.raises(ValueError, match="valid options"):
        rbm.sample(2, method="bogus")


def test_reconstruction_error_and_inverse_transform(bars):
    rbm = RBM(n_components=6, max_epochs=15, **FAST).fit(bars)
    err = rbm.reconstruction_error(bars)
    np.testing.assert_allclose(
        err, ((rbm.inverse_transform(rbm.transform(bars)) - bars) ** 2).mean(1))
    assert err.mean() < 0.15
    with pytest.raises(ValueError, match="n_components=6"):
        rbm.inverse_transform(np.zeros((2, 3)))


def test_rbm_classifier_on_digits():
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0 > 0.5).astype(np.float64)
    clf = RBMClassifier(n_components=64, max_epochs=8, **FAST).fit(X[:1200], y[:1200])
    proba = clf.predict_proba(X[1200:])
    np.testing.assert_allclose(proba.sum(1), 1.0)
    assert clf.score(X[1200:], y[1200:]) > 0.8
    assert clf.components_.shape == (64, 64 + 10)
    np.testing.assert_array_equal(clf.classes_, np.arange(10))


def test_gaussian_rbm_classifier_and_partial_fit():
    X, y = make_blobs(300, centers=3, n_features=4, random_state=0)
    X = StandardScaler().fit_transform(X)
    labels = np.array(["a", "b", "c"])[y]
    clf = RBMClassifier(8, visible="gaussian", method="cd", max_epochs=20, **FAST)
    assert clf.fit(X, labels).score(X, labels) > 0.9
    assert set(clf.predict(X)) <= {"a", "b", "c"}
    inc = RBMClassifier(8, visible="gaussian", method="cd", **FAST)
    with pytest.raises(ValueError, match="classes must be passed"):
        inc.partial_fit(X, labels)
    inc.partial_fit(X[:150], labels[:150], classes=["a", "b", "c"])
    inc.partial_fit(X[150:], labels[150:])
    assert inc.n_iter_ == 2
    with pytest.raises(ValueError, match="not in classes"):
        inc.partial_fit(X[:3], ["z", "a", "b"])


def test_divergence_names_the_epoch():
    from skdeepclust.exceptions import TrainingDivergedError

    X = np.random.RandomState(0).randn(100, 5).astype(np.float32)
    with pytest.raises(TrainingDivergedError, match="RBM diverged.*epoch 1.*learning_rate"):
        RBM(4, visible="gaussian", max_epochs=5, **{**FAST, "learning_rate": 1e30}).fit(X)


# ---------------------------------------------------------------- numerical safety
def _digits16():
    return load_digits().data[:600] / 16.0  # constant columns (0, 32, 39, ...)


def _finite_params(est):
    return all(bool(np.isfinite(p.detach().numpy()).all()) for p in est.module_.parameters())


@pytest.mark.parametrize("learn_sigma", [False, True])
def test_gaussian_rbm_on_digits_at_the_default_learning_rate(learn_sigma):
    X = _digits16()
    rbm = RBM(16, visible="gaussian", learn_sigma=learn_sigma, max_epochs=4, device="cpu",
              random_state=0).fit(X)
    assert _finite_params(rbm)
    const = X.std(0) == 0
    assert const.sum() >= 3
    assert np.all(rbm.components_[:, const] == 0)  # constant features keep zero weights
    assert np.all(np.isfinite(rbm.score_samples(X[:20])))
    s = rbm.sigma_[~const] / X.std(0)[~const]
    assert s.min() >= 0.05 - 1e-9 and s.max() <= 100 + 1e-9
    assert rbm.loss_curve_[-1] < rbm.loss_curve_[0]


@pytest.mark.usefixtures("compute_in_input_dtype")
def test_gaussian_rbm_is_scale_equivariant():
    X = np.random.RandomState(0).randn(120, 4) * [1.0, 3.0, 0.2, 1.0]
    kw = dict(n_components=3, visible="gaussian", learn_sigma=True, max_epochs=3, **FAST)
    a = RBM(**kw).fit(X)
    b = RBM(**kw).fit(1000.0 * X + 7.0)
    np.testing.assert_allclose(a.transform(X), b.transform(1000.0 * X + 7.0), atol=1e-8)
    np.testing.assert_allclose(1000.0 * a.sigma_, b.sigma_, rtol=1e-8)
    # log-likelihoods differ by the Jacobian of the rescaling, 4 log(1000) per sample
    np.testing.assert_allclose(a.score_samples(X) - 4 * np.log(1000.0),
                               b.score_samples(1000.0 * X + 7.0), atol=1e-6)


@pytest.mark.usefixtures("compute_in_input_dtype")
@pytest.mark.parametrize("name,X", [
    ("constant column", np.c_[np.random.RandomState(0).randn(60, 3), np.full(60, 3.0)]),
    ("single distinct row", np.tile([[0.5, -1.0, 2.0]], (60, 1))),
    ("1e30", np.random.RandomState(0).randn(60, 3) * 1e30),
    ("subnormal", np.random.RandomState(0).randn(60, 3) * 1e-310),
])
def test_gaussian_bad_input_gives_finite_models(name, X):
    rbm = RBM(3, visible="gaussian", learn_sigma=True, max_epochs=3, **FAST).fit(X)
    assert _finite_params(rbm)
    assert np.all(np.isfinite(rbm.score_samples(X[:5])))
    assert np.all(np.isfinite(rbm.sample(3, k=5)))
    if name == "single distinct row":  # every feature constant: N(x0, (1e-3)^2) per feature
        expected = 3 * (-0.5 * np.log(2 * np.pi) - np.log(1e-3))
        np.testing.assert_allclose(rbm.score_samples(X[:2]), expected, rtol=1e-9)


def test_gaussian_refuses_float64_values_that_overflow_the_float32_computation():
    X = np.random.RandomState(0).randn(60, 3) * 1e30  # float64, computed in float32
    with pytest.raises(ValueError, match=r"too large for gaussian visible units in float32.*"
                                         r"compute_dtype='float64'"):
        RBM(3, visible="gaussian", max_epochs=1, **FAST).fit(X)


def test_gaussian_refuses_values_that_overflow_float32():
    X = (np.random.RandomState(0).randn(50, 3) * 1e20).astype(np.float32)
    with pytest.raises(ValueError, match="too large for gaussian visible units in float32"):
        RBM(3, visible="gaussian", max_epochs=1, **FAST).fit(X)


@pytest.mark.usefixtures("compute_in_input_dtype")
@pytest.mark.parametrize("cls", [RBM, RBMClassifier])
def test_divergence_names_the_parameter(cls):
    from skdeepclust.exceptions import TrainingDivergedError

    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X[:300])
    est = cls(16, visible="gaussian", max_epochs=3, **{**FAST, "learning_rate": 1e6})
    with pytest.raises(TrainingDivergedError, match=r"diverged.*parameter '\w+'"):
        est.fit(X, y[:300]) if cls is RBMClassifier else est.fit(X)


def test_gaussian_classifier_on_standardised_digits_at_its_defaults():
    X, y = load_digits(return_X_y=True)
    sc = StandardScaler().fit(X[:1300])
    clf = RBMClassifier(visible="gaussian", device="cpu", random_state=0)
    clf.fit(sc.transform(X[:1300]), y[:1300])
    assert _finite_params(clf)
    assert clf._learn_sigma and clf._learning_rate == pytest.approx({
        "weight": 0.05, "visible_bias": 0.05, "hidden_bias": 0.05, "sigma": 0.005})
    # computed in float32 (the default): 0.893 / 0.889 / 0.901 on seeds 0-2, in float64
    # 0.901 / 0.907 / 0.905; with a fixed sigma about 0.85
    assert clf.score(sc.transform(X[1300:]), y[1300:]) > 0.88
    assert clf.learn_sigma == "auto" and clf.learning_rate == "auto"  # params untouched


@pytest.mark.parametrize("kw,learned,rates", [
    (dict(), False, (0.01, 0.01, 0.01, 0.001)),
    (dict(visible="gaussian"), False, (0.01, 0.01, 0.01, 0.001)),
    (dict(visible="gaussian", learn_sigma=True), True, (0.01, 0.01, 0.01, 0.001)),
    (dict(visible="gaussian", learn_sigma=True, learning_rate=0.1), True,
     (0.1, 0.1, 0.1, 0.01)),
    (dict(visible="gaussian", learn_sigma=True, learning_rate={"hidden_bias": 0.2}), True,
     (0.01, 0.01, 0.2, 0.001)),
    (dict(visible="gaussian", learn_sigma=True, learning_rate={"weight": 1.0, "sigma": 0.3}),
     True, (1.0, 1.0, 1.0, 0.3)),
    (dict(learn_sigma=True), False, (0.01, 0.01, 0.01, 0.001)),  # binary: no sigma
])
def test_auto_learning_rate_and_learn_sigma(kw, learned, rates):
    X = np.random.RandomState(0).rand(40, 4).round()
    rbm = RBM(2, max_epochs=1, device="cpu", random_state=0, **kw).fit(X)
    assert rbm._learn_sigma is learned and rbm.module_.learn_sigma is learned
    assert rbm._n_updates == 1  # 40 rows in one batch of 100, one epoch
    rbm._n_updates = 30000  # PyDeep's MNIST budget: "auto" is 0.01
    resolved = rbm._resolve_learning_rate()
    assert tuple(resolved[k] for k in ("weight", "visible_bias", "hidden_bias",
                                       "sigma")) == pytest.approx(rates)


@pytest.mark.parametrize("updates,learned,rate", [
    (30000, False, 0.01), (120000, False, 0.01), (700, False, 0.01 * np.sqrt(30000 / 700)),
    (100, False, 0.1), (700, True, 0.05), (7500, True, 0.02)])
def test_auto_learning_rate_scales_with_the_updates(updates, learned, rate):
    rbm = RBM(visible="gaussian" if learned else "binary", learn_sigma=learned)
    rbm._learn_sigma, rbm._n_updates = learned, updates
    assert rbm._resolve_learning_rate()["weight"] == pytest.approx(rate)


def test_auto_learning_rate_is_the_resolved_float(bars):
    a = RBM(6, max_epochs=3, device="cpu", random_state=0, batch_size=20).fit(bars)
    assert a._n_updates == 60 and a._learning_rate["weight"] == pytest.approx(0.1)  # 400 rows
    b = RBM(6, max_epochs=3, device="cpu", random_state=0, batch_size=20,
            learning_rate=0.1, learn_sigma=False).fit(bars)
    np.testing.assert_array_equal(a.components_, b.components_)


# ---------------------------------------------------------------- convergence
def test_unconverged_fit_warns_and_converged_fit_does_not(bars):
    from sklearn.exceptions import ConvergenceWarning

    with pytest.warns(ConvergenceWarning,
                      match=r"RBM \(training\) stopped at max_epochs=2 before the "
                            r"reconstruction error improved by less than tol=0.0001"):
        rbm = RBM(4, max_epochs=2, tol=1e-4, **FAST).fit(bars)
    assert rbm.n_iter_ == 2 and not rbm.converged_
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        rbm = RBM(4, max_epochs=200, tol=1.0, n_iter_no_change=2, **FAST).fit(bars)
        assert rbm.converged_ and rbm.n_iter_ == 3  # the first epoch, then 2 without gain
        RBM(4, max_epochs=2, **FAST).fit(bars)  # tol=None: a fixed budget, no warning


def test_ais_progress_bar(capsys):
    X = make_bars_and_stripes(100, length=5, random_state=0)  # 25 visible, 30 hidden: AIS
    rbm = RBM(30, max_epochs=1, verbose=1, **FAST).fit(X)
    assert rbm.log_partition_ is None
    capsys.readouterr()
    rbm._lazy_ais = {"n_chains": 10, "n_betas": 50, "k": 1}
    assert np.all(np.isfinite(rbm.score_samples(X[:3])))
    assert "AIS (log Z)" in capsys.readouterr().err


@pytest.fixture
def float64_compute():
    """Exact comparisons need float64 modules: compute in the input's dtype (float64)
    where the package has a compute-precision setting."""
    import skdeepclust

    context = getattr(skdeepclust, "config_context", None)
    if context is None:
        yield
        return
    with context(compute_dtype="input"):
        yield


def _set_parameters(rbm, W, b, c, mu=None, lam=None):
    import torch

    m = rbm.module_
    with torch.no_grad():
        m.weight.copy_(torch.as_tensor(np.asarray(W, dtype=float).T))
        m.visible_bias.copy_(torch.as_tensor(np.asarray(b, dtype=float)))
        m.hidden_bias.copy_(torch.as_tensor(np.asarray(c, dtype=float)))
        m.visible_offset.copy_(torch.as_tensor(np.zeros(3) if mu is None else mu))
        m.hidden_offset.copy_(torch.as_tensor(np.zeros(2) if lam is None else lam))
    rbm.log_partition("exact")
    return rbm


def test_energy_by_hand_on_a_3x2_model(float64_compute):
    X3 = np.array([[0, 0, 0], [1, 0, 1], [1, 1, 0], [0, 1, 1]], dtype=float)
    rbm = RBM(n_components=2, max_epochs=0, centered=False, device="cpu").fit(X3)
    W = [[1.0, 0.5, 0.0], [-1.0, 2.0, -0.5]]  # (n_components, n_features)
    _set_parameters(rbm, W, [0.1, -0.2, 0.3], [0.5, -1.0])
    # E(x, h) = -x.b - h.c - h W x
    # x = (1, 0, 1), h = (1, 1): -(0.1 + 0.3) - (0.5 - 1) - (1 + 0 + (-1 - 0.5)) = 0.6
    # x = (0, 1, 1), h = (0, 1): -(-0.2 + 0.3) - (-1) - (2 - 0.5) = -0.6
    # x = (0, 0, 0), h = (1, 0): -0.5
    E = rbm.energy([[1, 0, 1], [0, 1, 1], [0, 0, 0]], [[1, 1], [0, 1], [1, 0]])
    np.testing.assert_allclose(E, [0.6, -0.6, -0.5], atol=1e-12)
    # centered: E = -(x - mu).b - (h - lam).c - (h - lam) W (x - mu)
    mu, lam = np.array([0.5, 0.25, 0.0]), np.array([0.5, 0.5])
    _set_parameters(rbm, W, [0.1, -0.2, 0.3], [0.5, -1.0], mu, lam)
    # x = (1, 0, 1), h = (1, 1): x - mu = (0.5, -0.25, 1), h - lam = (0.5, 0.5)
    # -(0.05 + 0.05 + 0.3) - (0.25 - 0.5) - (0.5 * (0.5 - 0.125 + 0) + 0.5 * (-0.5 - 0.5 - 0.5))
    # = -0.4 + 0.25 - (0.1875 - 0.75) = 0.4125
    assert rbm.energy([[1, 0, 1]], [[1, 1]])[0] == pytest.approx(0.4125, abs=1e-12)
    # the energy, the free energy and log Z are one model
    states_x = np.array(list(itertools.product([0.0, 1.0], repeat=3)))
    states_h = np.array(list(itertools.product([0.0, 1.0], repeat=2)))
    XX, HH = np.repeat(states_x, 4, axis=0), np.tile(states_h, (8, 1))
    neg = -rbm.energy(XX, HH).reshape(8, 4)
    from scipy.special import logsumexp

    np.testing.assert_allclose(logsumexp(neg, axis=1), -rbm.free_energy(states_x),
                               atol=1e-12)
    assert logsumexp(neg) == pytest.approx(rbm.log_partition_, abs=1e-12)
    with pytest.raises(ValueError, match="H should have shape"):
        rbm.energy(states_x, states_h)


def test_gaussian_energy_is_the_density_energy(float64_compute):
    X = np.random.RandomState(0).randn(50, 3)
    rbm = RBM(n_components=2, visible="gaussian", max_epochs=2, **FAST).fit(X)
    H = (np.random.RandomState(1).rand(50, 2) < 0.5).astype(float)
    s, W = rbm.sigma_, rbm.components_
    # uncentered form: 1/2 ||(x - b)/s||^2 - h.c - h W (x / s^2), up to one constant
    ref = (0.5 * (((X - rbm.intercept_visible_) / s) ** 2).sum(1)
           - H @ rbm.intercept_hidden_ - ((X / s**2) @ W.T * H).sum(1))
    diff = rbm.energy(X, H) - ref
    np.testing.assert_allclose(diff, diff[0], atol=1e-9)


@pytest.mark.parametrize("kw", [{"method": "cd"}, {"method": "pcd"}, {"method": "exact"},
                                {"method": "pcd", "visible": "gaussian"}])
def test_use_centered_gradient_is_the_centered_fit_of_a_normal_rbm(bars, kw, float64_compute):
    X = bars if kw.get("visible") != "gaussian" else np.random.RandomState(0).randn(200, 9)
    params = dict(n_components=4, max_epochs=4, **FAST, **kw)
    ref = RBM(**params).fit(X)
    rbm = RBM(use_centered_gradient=True, **params).fit(X)
    assert not rbm.visible_offset_.any() and not rbm.hidden_offset_.any()
    assert ref.hidden_offset_.any()
    for name in ("components_", "intercept_hidden_", "intercept_visible_"):
        np.testing.assert_allclose(getattr(rbm, name), getattr(ref, name), rtol=1e-8,
                                   atol=1e-10, err_msg=name)
    assert rbm.score(X) == pytest.approx(ref.score(X), abs=1e-8)
    # the offsets live in the (pickled) estimator: partial_fit goes on centering
    again = pickle.loads(pickle.dumps(rbm)).partial_fit(X)
    ref = pickle.loads(pickle.dumps(ref)).partial_fit(X)
    np.testing.assert_allclose(again.components_, ref.components_, rtol=1e-7, atol=1e-9)


def test_init_visible_bias(float64_compute):
    X = np.zeros((10, 3))
    X[:5, 0] = 1.0
    X[:, 1] = 1.0  # mean 1: clipped to 0.999
    data = RBM(n_components=2, max_epochs=0, device="cpu").fit(X)
    b = data.module_.visible_bias.detach().numpy()
    np.testing.assert_allclose(b, [0.0, np.log(0.999 / 0.001), np.log(0.001 / 0.999)],
                               atol=1e-12)
    assert RBM(n_components=2, max_epochs=0, init_visible_bias="data_mean",
               device="cpu").fit(X).module_.visible_bias.detach().numpy() == pytest.approx(b)
    given = RBM(n_components=2, max_epochs=0, init_visible_bias=[1.0, 2.0, 3.0],
                device="cpu").fit(X)
    np.testing.assert_array_equal(given.module_.visible_bias.detach().numpy(), [1, 2, 3])
    zero = RBM(n_components=2, max_epochs=0, init_visible_bias=0.0, device="cpu").fit(X)
    np.testing.assert_array_equal(zero.module_.visible_bias.detach().numpy(), 0.0)
    G = np.random.RandomState(0).randn(30, 3) + [1.0, 2.0, 3.0]
    gauss = RBM(n_components=2, visible="gaussian", centered=False, max_epochs=0,
                device="cpu").fit(G)
    np.testing.assert_allclose(gauss.module_.visible_bias.detach().numpy(), G.mean(0))
    with pytest.raises(ValueError, match="init_visible_bias has shape"):
        RBM(n_components=2, max_epochs=0, init_visible_bias=[1.0, 2.0]).fit(X)


def test_feature_names_out_need_a_fit(bars):
    from sklearn.exceptions import NotFittedError

    rbm = RBM(n_components=4, max_epochs=1, **FAST)
    with pytest.raises(NotFittedError):
        rbm.get_feature_names_out()
    rbm.fit(bars).set_params(n_components=7)  # without a refit the names follow the model
    assert list(rbm.get_feature_names_out()) == [f"rbm{i}" for i in range(4)]


def test_temperatures_to_bracket_by_hand():
    from skdeepclust.neural_network._rbm_likelihood import temperatures_to_bracket

    # relative standard error r = 3: log-variance log(1 + 100 * 9) against log(1 + 100 / 9)
    need = temperatures_to_bracket(0.0, np.log(10.0), n_chains=100, n_betas=1000)
    assert need == int(np.ceil(1000 * np.log(901.0) / np.log(1 + 100 / 9)))  # 2 728
    assert temperatures_to_bracket(0.0, 1e-3, 100, 50) == 100  # at least doubled
    assert temperatures_to_bracket(0.0, np.inf, 100, 50) == 500


def test_ais_that_does_not_bracket_warns_how_many_temperatures_to_add(bars, monkeypatch):
    from sklearn.exceptions import ConvergenceWarning

    from skdeepclust.nn import partition

    rbm = RBM(n_components=4, max_epochs=2, **FAST).fit(bars)
    real = partition.annealed_importance_sampling

    def unbracketed(*args, **kwargs):  # what a 784-500 seed gives: lower bound -inf
        est = real(*args, **kwargs)
        return partition.PartitionEstimate(est.log_z, -np.inf, est.log_z + np.log(4.0))

    monkeypatch.setattr(partition, "annealed_importance_sampling", unbracketed)
    with pytest.warns(ConvergenceWarning, match=r"did not bracket.*Add about \d+ temperatures"):
        rbm.log_partition("ais", n_betas=100, n_chains=100, random_state=0)
    assert rbm.log_partition_bounds_[0] == -np.inf
