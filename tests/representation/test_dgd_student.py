"""GMMRepresentation's Student-t components: the EM start, the law chosen by held-out likelihood."""

import warnings

import numpy as np
import pytest
from scipy import stats
from sklearn.datasets import load_breast_cancer, load_digits, make_blobs
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import StandardScaler

from skdeepclust.representation import GMMRepresentation, _dgd_init
from skdeepclust.representation._dgd_init import (
    choose_law,
    em_mixture,
    mixture_log_joint,
    t_mixture_em,
)


def _t_clusters(n=300, nu=3.0, seed=0):
    """Two heavy-tailed (t, nu degrees of freedom) clusters in 4-D, 8 apart on axis 0."""
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], n)
    scale = np.sqrt(nu / rng.chisquare(nu, size=2 * n))[:, None]
    X = rng.standard_normal((2 * n, 4)) * scale
    X[:, 0] += 8.0 * y
    return X, y


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])
@pytest.mark.parametrize("nu", [None, 3.0])
def test_mixture_log_joint_matches_scipy(covariance_type, nu):
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((40, 3))
    means = rng.standard_normal((2, 3))
    weights = np.array([0.3, 0.7])
    full = np.array([np.diag([1.0, 2.0, 0.5]) + 0.3, np.diag([0.4, 1.0, 3.0])])
    if covariance_type == "full":
        covs = dense = full
    elif covariance_type == "diag":
        covs = np.array([[1.0, 2.0, 0.5], [0.4, 1.0, 3.0]])
        dense = np.array([np.diag(c) for c in covs])
    else:
        covs = np.array([0.7, 2.0])
        dense = np.array([c * np.eye(3) for c in covs])
    law = [stats.multivariate_normal(means[k], dense[k]) if nu is None
           else stats.multivariate_t(means[k], dense[k], df=nu) for k in range(2)]
    expected = np.stack([np.log(weights[k]) + law[k].logpdf(Z) for k in range(2)], 1)
    got = mixture_log_joint(Z, means, covs, weights, covariance_type, nu)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])
def test_t_mixture_em_recovers_heavy_tailed_clusters(covariance_type):
    X, y = _t_clusters()
    means, scale, weights = t_mixture_em(X, 2, covariance_type, 5.0, 1e-6, seed=0)
    labels = mixture_log_joint(X, means, scale, weights, covariance_type, 5.0).argmax(1)
    assert adjusted_rand_score(y, labels) > 0.9
    assert np.allclose(np.sort(means[:, 0]), [0.0, 8.0], atol=0.3)
    assert weights.sum() == pytest.approx(1.0)


def test_em_start_keeps_the_law_that_predicts_held_out_rows_better():
    # Gaussian clusters: the Gaussian mixture; t clusters: the t mixture
    X, _ = make_blobs(400, n_features=3, centers=3, random_state=0)
    rng = np.random.RandomState(0)
    assert em_mixture(X, 3, "full", rng, (None, 5.0))[4] is None
    X, y = _t_clusters()
    *_, labels, law = em_mixture(X, 2, "full", rng, (None, 5.0))
    assert law == 5.0 and labels.shape == (600,)
    assert adjusted_rand_score(y, labels) > 0.9


def _most_likely_score(Z, k, law):
    reg = 1e-6 * np.var(Z)
    _, (_, score) = _dgd_init._most_likely(Z, k, "full", law, reg,
                                           np.random.RandomState(0), 3)
    return score


def test_law_is_chosen_out_of_sample_not_in_sample():
    # The digits' first ten principal components: 10 full covariances (65 parameters
    # each) from about 180 rows per component. The Gaussian mixture fits these rows
    # better, the t mixture predicts the rows it was not fitted on better: the held-out
    # choice takes t.
    Z = PCA(10, random_state=0).fit_transform(load_digits().data / 16.0)
    assert _most_likely_score(Z, 10, None) > _most_likely_score(Z, 10, 5.0)
    reg = 1e-6 * np.var(Z)
    assert choose_law(Z, 10, "full", (None, 5.0), reg, np.random.RandomState(0)) == 5.0


def test_law_is_chosen_in_sample_when_halves_are_too_small(monkeypatch):
    fitted = []
    real = _dgd_init._fit_law

    def spy(sample, *args):
        fitted.append(sample.shape[0])
        return real(sample, *args)

    monkeypatch.setattr(_dgd_init, "_fit_law", spy)
    X, _ = make_blobs(10, n_features=2, centers=3, random_state=0)
    rng = np.random.RandomState(0)
    assert choose_law(X, 3, "full", (None, 5.0), 1e-6, rng) is _dgd_init._TOO_FEW_ROWS
    assert fitted == []
    em_mixture(X, 3, "full", rng, (None, 5.0))
    # both laws from every start on all 10 rows
    assert fitted == [10] * (2 * _dgd_init._EM_STARTS)


def test_em_start_runs_on_a_sample_of_large_data(monkeypatch):
    fitted_rows = []
    real = _dgd_init.t_mixture_em

    def spy(Z, *args, **kwargs):
        fitted_rows.append(Z.shape[0])
        return real(Z, *args, **kwargs)

    monkeypatch.setattr(_dgd_init, "_EM_MAX_ROWS", 150)
    monkeypatch.setattr(_dgd_init, "_EM_LABEL_CHUNK", 64)
    monkeypatch.setattr(_dgd_init, "t_mixture_em", spy)
    X, y = _t_clusters()
    *_, labels, law = em_mixture(X, 2, "full", np.random.RandomState(0), (5.0,))
    assert set(fitted_rows) == {150} and law == 5.0
    # every row labelled by the sample's mixture, in chunks
    assert labels.shape == (600,) and adjusted_rand_score(y, labels) > 0.9


def _breast_cancer():
    data = load_breast_cancer()
    return StandardScaler().fit_transform(data.data), data.target


def test_defaults_split_breast_cancer_by_class_not_by_spread():
    # The most likely Gaussian mixture on its heavy-tailed principal components is a
    # tight core inside a wide halo (ARI about 0.14); the t mixture predicts held-out rows
    # better there (and is also the more likely in-sample), so "auto" takes it, and the classes come out (ARI about 0.8; KMeans 0.66).
    X, y = _breast_cancer()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = GMMRepresentation(2, device="cpu", random_state=0).fit(X)
        gaussian = GMMRepresentation(2, degrees_of_freedom=None, device="cpu",
                                     random_state=0).fit(X)
    assert model.degrees_of_freedom_ == 5.0
    assert model.module_.prior.degrees_of_freedom == 5.0
    assert adjusted_rand_score(y, model.labels_) > 0.75
    assert gaussian.degrees_of_freedom_ is None
    assert adjusted_rand_score(y, gaussian.labels_) < 0.3


def test_auto_keeps_gaussian_components_on_gaussian_clusters():
    # (at 300 rows, about 1 in 8 random halvings of these clusters prefers t)
    X, y = make_blobs(600, n_features=4, centers=3, random_state=1)
    model = GMMRepresentation(3, hidden_layer_sizes=(16,), max_epochs=2, tol=None,
                              device="cpu", random_state=0).fit(X)
    assert model.degrees_of_freedom_ is None and model.degrees_of_freedom == "auto"
    assert model.module_.prior.degrees_of_freedom is None
    assert adjusted_rand_score(y, model.labels_) > 0.95


def test_explicit_degrees_of_freedom_and_the_fitted_model():
    X, y = _t_clusters(150)
    model = GMMRepresentation(2, degrees_of_freedom=3.0, hidden_layer_sizes=(16,),
                              max_epochs=3, tol=None, transform_epochs=3,
                              device="cpu", random_state=0).fit(X)
    assert model.degrees_of_freedom_ == 3.0
    assert adjusted_rand_score(y, model.labels_) > 0.8
    assert np.isfinite(model.score_samples(X[:5])).all()
    X_new, components = model.sample(20)
    assert X_new.shape == (20, 4) and components.shape == (20,)
    refit = GMMRepresentation(**model.get_params()).fit(X)
    np.testing.assert_array_equal(refit.labels_, model.labels_)


def test_supervised_auto_is_gaussian():
    X, y = _t_clusters(100)
    model = GMMRepresentation(n_components_per_class=1, hidden_layer_sizes=(8,),
                              max_epochs=1, tol=None, device="cpu", random_state=0)
    assert model.fit(X, y).degrees_of_freedom_ is None


@pytest.mark.parametrize("value", [0, -1.0, "student"])
def test_invalid_degrees_of_freedom(value):
    X, _ = _t_clusters(50)
    with pytest.raises(ValueError, match="degrees_of_freedom"):
        GMMRepresentation(2, degrees_of_freedom=value, max_epochs=1).fit(X)
