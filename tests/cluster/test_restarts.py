"""DECClustering's ``n_restarts``: complete fits from their own seeds, the medoid kept."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from skdeepclust import AutoEncoder, DECClustering
from skdeepclust._torch import seed_from
from skdeepclust.cluster._restarts import AUTO_RESTARTS, medoid_index


def test_medoid_index_picks_the_labeling_the_others_agree_with():
    a = np.repeat([0, 1, 2], 10)
    b = a.copy()
    b[:3] = 1  # close to a
    c = np.repeat([0, 1], 15)  # the odd one
    index, mean = medoid_index([c, a, b])
    assert index == 1
    assert mean.shape == (3,)
    assert mean[1] > mean[2] > mean[0]
    assert medoid_index([a]) == (0, np.ones(1))


@pytest.mark.parametrize(("kwargs", "shape", "expected"), [
    ({}, (1797, 64), AUTO_RESTARTS),                  # pretrains its default autoencoder
    ({"autoencoder": None}, (1797, 16), AUTO_RESTARTS),
    ({"reconstruction_weight": 1.0}, (500, 64), AUTO_RESTARTS),  # IDEC
    ({}, (3000, 384), 1),                             # over 2**18 values: one fit
    ({"reconstruction_weight": 1.0}, (500, 8), 1),  # IDEC on the features themselves
    ({}, (500, 8), 1),                                # few features: DEC on X itself
    ({}, (20_000, 784), 1),                           # large data: one pretraining
    ({"autoencoder": AutoEncoder(3)}, (500, 64), 1),  # the user's own network
    ({"autoencoder": "passthrough"}, (500, 64), 1),
    ({"n_restarts": 3}, (500, 8), 3),
])
def test_auto_restarts_rule(kwargs, shape, expected):
    assert DECClustering(4, **kwargs)._resolve_restarts(np.zeros(shape)) == expected


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(240, n_features=6, centers=4, cluster_std=1.5, random_state=3)
    return X.astype(np.float32), y


def _dec(**kw):
    ae = AutoEncoder(2, hidden_layer_sizes=(16,), max_epochs=10, tol=None, device="cpu")
    return DECClustering(4, autoencoder=ae, device="cpu", **{"max_epochs": 5, **kw})


def test_restarts_keep_the_medoid_fit(blobs):
    X, _ = blobs
    model = _dec(n_restarts=3, random_state=0).fit(X)
    assert model.n_restarts_ == 3
    assert model.restart_agreement_.shape == (3,)
    best = int(np.argmax(model.restart_agreement_))
    # the kept model is the fit of the medoid's seed, run on its own
    seed = [seed_from(r) for r in [check_random_state(0)] for _ in range(3)][best]
    alone = _dec(n_restarts=1, random_state=seed).fit(X)
    np.testing.assert_array_equal(model.labels_, alone.labels_)
    np.testing.assert_allclose(model.cluster_centers_, alone.cluster_centers_)
    assert model.n_iter_ == alone.n_iter_
    np.testing.assert_array_equal(model.predict(X), model.labels_)
    # the user's estimator keeps its parameters
    assert model.get_params()["random_state"] == 0
    assert model.get_params()["n_restarts"] == 3


def test_restarts_are_reproducible_and_clone_cleanly(blobs):
    X, _ = blobs
    a = _dec(n_restarts=2, random_state=1).fit(X)
    b = clone(a).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(a.restart_agreement_, b.restart_agreement_)


def test_single_fit_reports_one_restart(blobs):
    X, _ = blobs
    model = _dec(n_restarts=1, random_state=0).fit(X)
    assert model.n_restarts_ == 1
    np.testing.assert_array_equal(model.restart_agreement_, [1.0])


def test_kept_fits_warnings_are_emitted_once(blobs):
    X, _ = blobs
    ae = AutoEncoder(2, hidden_layer_sizes=(16,), max_epochs=2, tol=1e-4, device="cpu")
    with warnings.catch_warnings(record=True) as log:
        warnings.simplefilter("always")
        DECClustering(4, autoencoder=ae, n_restarts=3, max_epochs=5, device="cpu",
                      random_state=0).fit(X)
    unconverged = [w for w in log if issubclass(w.category, ConvergenceWarning)]
    assert len(unconverged) == 1  # each pretraining stopped early; the kept one says so
    assert "AutoEncoder" in str(unconverged[0].message)
    assert unconverged[0].filename == __file__  # it points at the user's call


def test_warm_start_continues_the_kept_model(blobs):
    X, _ = blobs
    model = _dec(n_restarts=2, random_state=0, tol=0.0, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X)
        first = model.n_iter_
        model.fit(X)  # continues: no new restarts
    assert model.n_iter_ == first + 5
    assert model.n_restarts_ == 2


def test_invalid_n_restarts_is_refused(blobs):
    X, _ = blobs
    for bad in (0, -1, "many", 1.5):
        with pytest.raises(ValueError, match="n_restarts"):
            _dec(n_restarts=bad).fit(X)
