"""warm_start and partial_fit through the template fit of TorchEstimator."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from skdeepclust import (
    AutoEncoder,
    DECClustering,
    DisentanglingFlow,
    DMAEClustering,
    GMMRepresentation,
    NormalizingFlow,
)
from skdeepclust.neural_network import DBM, RBM, RBMClassifier


def _blobs(n=240, d=6, seed=0):
    X, y = make_blobs(n, d, centers=3, cluster_std=0.6, random_state=seed)
    return X.astype(np.float32), y


def _binary(n=120, d=12, seed=0):
    rng = np.random.RandomState(seed)
    return (rng.uniform(size=(n, d)) < np.linspace(0.1, 0.9, d)).astype(np.float32)


X_BLOBS, Y_BLOBS = _blobs()
X_BIN = _binary()
FACTORS = np.c_[X_BLOBS[:, 0] > X_BLOBS[:, 0].mean(), X_BLOBS[:, 1] > 0].astype(float)

# estimator factory, data, target
CASES = {
    "AutoEncoder": (lambda **kw: AutoEncoder(n_components=2, tol=None, **kw), X_BLOBS, None),
    "DECClustering": (lambda **kw: DECClustering(3, tol=0.0, **kw), X_BLOBS, None),
    "DMAEClustering": (lambda **kw: DMAEClustering(3, tol=None, **kw), X_BLOBS, None),
    "NormalizingFlow": (lambda **kw: NormalizingFlow(tol=None, early_stopping=False, **kw),
                        X_BLOBS[:, :2], None),
    "DisentanglingFlow": (lambda **kw: DisentanglingFlow((2, 2, 2), tol=None, **kw),
                          X_BLOBS, FACTORS),
    "RBM": (lambda **kw: RBM(n_components=8, **kw), X_BIN, None),
    "RBMClassifier": (lambda **kw: RBMClassifier(n_components=8, **kw), X_BIN,
                      (X_BIN[:, 0] > 0).astype(int)),
    "DBM": (lambda **kw: DBM(n_components=(6, 4), **kw), X_BIN, None),
    "GMMRepresentation": (lambda **kw: GMMRepresentation(3, tol=None, **kw), X_BLOBS, None),
}


def _parameters(est):
    return {k: v.detach().clone() for k, v in est.module_.state_dict().items()}


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X) if y is None else est.fit(X, y)


@pytest.mark.parametrize("name", CASES)
def test_warm_start_continues_the_fitted_model(name):
    make, X, y = CASES[name]
    est = _fit(make(max_epochs=2, warm_start=True, random_state=0, device="cpu"), X, y)
    first_curve, trained = list(est.loss_curve_), _parameters(est)
    assert est.n_iter_ == 2

    # no epoch: the fitted parameters exactly (a cold fit would start again)
    _fit(est.set_params(max_epochs=0), X, y)
    for key, value in _parameters(est).items():
        assert np.array_equal(value.numpy(), trained[key].numpy()), key
    cold = _fit(make(max_epochs=0, random_state=0, device="cpu"), X, y)
    assert any(not np.array_equal(v.numpy(), trained[k].numpy())
               for k, v in _parameters(cold).items())

    # more epochs: the history accumulates and the parameters move on
    _fit(est.set_params(max_epochs=2), X, y)
    assert est.n_iter_ == 4
    assert est.loss_curve_[:2] == first_curve
    assert len(est.loss_curve_) == 4
    assert any(not np.array_equal(v.numpy(), trained[k].numpy())
               for k, v in _parameters(est).items())


@pytest.mark.parametrize("name", ["AutoEncoder", "NormalizingFlow", "RBM", "DBM"])
def test_warm_start_after_pickling(name):
    """The optimizer state (or the updater) is not pickled: a warm start rebuilds it."""
    make, X, y = CASES[name]
    est = _fit(make(max_epochs=2, warm_start=True, random_state=0, device="cpu"), X, y)
    est = pickle.loads(pickle.dumps(est))
    _fit(est, X, y)
    assert est.n_iter_ == 4
    assert np.isfinite(est.loss_curve_).all()


def test_warm_autoencoder_keeps_training_down():
    est = AutoEncoder(n_components=2, max_epochs=5, tol=None, warm_start=True, random_state=0)
    est.fit(X_BLOBS)
    after_five = est.loss_curve_[-1]
    est.fit(X_BLOBS)
    assert est.loss_curve_[-1] < after_five


def test_gmm_representation_warm_start_needs_the_training_rows():
    est = _fit(GMMRepresentation(3, max_epochs=1, tol=None, warm_start=True,
                                 random_state=0), X_BLOBS, None)
    with pytest.raises(ValueError, match="same X"):
        est.fit(X_BLOBS[:100])


@pytest.mark.parametrize("name", ["DECClustering", "DMAEClustering"])
def test_partial_fit_clusters_a_stream_of_chunks(name):
    X, y = _blobs(n=600, seed=1)
    chunks = np.array_split(np.random.RandomState(0).permutation(len(X)), 6)
    est = (DECClustering(3, random_state=0) if name == "DECClustering"
           else DMAEClustering(3, random_state=0))
    for _ in range(3):
        for rows in chunks:
            est.partial_fit(X[rows])
    assert est.n_iter_ == 18
    assert est.n_features_in_ == X.shape[1]
    assert adjusted_rand_score(y, est.predict(X)) > 0.95
    with pytest.raises(ValueError, match="features"):
        est.partial_fit(X[:10, :4])


def test_flow_partial_fit_learns_a_stream():
    rng = np.random.RandomState(0)
    cov = np.array([[1.0, 0.8], [0.8, 1.0]])
    X = rng.multivariate_normal([1.0, -1.0], cov, size=2000).astype(np.float32)
    test = rng.multivariate_normal([1.0, -1.0], cov, size=500)
    flow = NormalizingFlow(random_state=0, device="cpu")
    flow.partial_fit(X[:500])
    start = flow.score(test)
    for _ in range(4):
        for chunk in np.array_split(X, 4):
            flow.partial_fit(chunk)
    assert flow.n_iter_ == 17
    exact = -np.log(2 * np.pi) - 0.5 * np.log(np.linalg.det(cov)) - 1.0
    assert flow.score(test) > start
    assert flow.score(test) > exact - 0.1


def test_dbm_partial_fit_matches_the_fit_interface():
    dbm = DBM(n_components=(6, 4), random_state=0, device="cpu")
    for chunk in np.array_split(X_BIN, 3):
        dbm.partial_fit(chunk)
    assert dbm.n_iter_ == 3
    assert dbm.transform(X_BIN).shape == (len(X_BIN), 4)
    with pytest.raises(ValueError, match="features"):
        dbm.partial_fit(X_BIN[:, :5])
