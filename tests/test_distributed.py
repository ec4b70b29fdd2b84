"""Hyper-parameter search in parallel: joblib processes and a dask.distributed cluster.

Every estimator must pickle cheaply and give the same results wherever it runs, so a
search gives the same best parameters and the same scores sequentially, with ``n_jobs``
and on a cluster. One local cluster (2 worker processes x 1 thread) serves the module, and
each sequential reference search runs once.
"""

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdeepclust.cluster import DECClustering
from skdeepclust.metrics import cluster_accuracy_scorer
from skdeepclust.representation import AutoEncoder

FAST = dict(device="cpu", random_state=0, max_epochs=3, batch_size=32)


@pytest.fixture(scope="module")
def data(digits):
    X, y = digits
    return X[:240].astype(np.float64), y[:240]


def _warm_up():
    """Import torch, scikit-learn and skdeepclust and run one tiny fit in a fresh worker."""
    AutoEncoder(1, hidden_layer_sizes=(2,), max_epochs=1, device="cpu").fit(np.eye(4))


@pytest.fixture(scope="module")
def dask_client():
    """A dask.distributed LocalCluster started by the test: 2 processes x 1 thread.

    The workers warm up (imports, first fit) in the background while the sequential
    reference search runs in this process.
    """
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        warm_ups = [client.submit(_warm_up, workers=[address], pure=False)  # noqa: F841
                    for address in client.scheduler_info()["workers"]]
        yield client


def _on_dask(search, *args):
    with joblib.parallel_config(backend="dask"):
        return search.fit(*args)


def _assert_same_search(seq, other):
    assert seq.best_params_ == other.best_params_
    for key in seq.cv_results_:
        if key.startswith(("split", "mean_test", "rank_test")):
            np.testing.assert_allclose(
                seq.cv_results_[key], other.cv_results_[key], rtol=1e-6, err_msg=key
            )


# -- AutoEncoder: the default score (minus the reconstruction error) --------------------------
def _ae_search(n_jobs):
    pipe = make_pipeline(StandardScaler(), AutoEncoder(2, hidden_layer_sizes=(8,), **FAST))
    grid = {"autoencoder__n_components": [2, 6], "autoencoder__learning_rate": [1e-3, 1e-2]}
    return GridSearchCV(pipe, grid, cv=2, n_jobs=n_jobs, error_score="raise")


@pytest.fixture(scope="module")
def ae_sequential(data):
    return _ae_search(1).fit(data[0])


def test_grid_search_on_a_dask_local_cluster_matches_sequential(dask_client, data, ae_sequential):
    _assert_same_search(ae_sequential, _on_dask(_ae_search(-1), data[0]))


# -- DEC in a Pipeline, selected by cluster accuracy against the labels ----------------------
def _dec_search(n_jobs):
    dec = DECClustering(
        n_clusters=10,
        autoencoder=AutoEncoder(n_components=5, hidden_layer_sizes=(32,), max_epochs=10,
                                batch_size=32, tol=None, random_state=0),
        n_init=2,
        max_epochs=5,
        batch_size=32,
        optimizer="adam",
        learning_rate=1e-3,
        random_state=0,
        device="cpu",
    )
    grid = {"decclustering__n_clusters": [6, 10],
            "decclustering__reconstruction_weight": [0.0, 0.1]}
    return GridSearchCV(make_pipeline(StandardScaler(), dec), grid, cv=2, n_jobs=n_jobs,
                        scoring=cluster_accuracy_scorer, error_score="raise")


def test_dec_pipeline_grid_search_on_a_dask_local_cluster_matches_sequential(data, dask_client):
    X, y = data
    seq = _dec_search(1).fit(X, y)
    dist = _on_dask(_dec_search(-1), X, y)
    _assert_same_search(seq, dist)
    # the search selects on real cluster accuracies, and picks the true number of digits
    assert seq.best_params_["decclustering__n_clusters"] == 10
    assert seq.best_score_ > 0.5
    # the refitted pipeline is the same model as well
    np.testing.assert_array_equal(seq.predict(X), dist.predict(X))


# -- joblib's own process workers (n_jobs), no dask ------------------------------------------
def test_grid_search_with_joblib_processes_matches_sequential(data, ae_sequential):
    _assert_same_search(ae_sequential, _ae_search(2).fit(data[0]))
