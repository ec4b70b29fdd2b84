"""Hyper-parameter search in parallel: joblib processes and a dask.distributed cluster.

Every estimator must pickle cheaply and give the same results wherever it runs, so a
search gives the same best parameters sequentially, with ``n_jobs`` and on a cluster.
"""

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdeepclust.representation import AutoEncoder

FAST = dict(device="cpu", random_state=0, max_epochs=3, batch_size=32)


@pytest.fixture(scope="module")
def data(digits):
    X, y = digits
    return X[:240].astype(np.float64), y[:240]


def _ae_search(n_jobs):
    pipe = make_pipeline(StandardScaler(), AutoEncoder(2, hidden_layer_sizes=(8,), **FAST))
    grid = {"autoencoder__n_components": [2, 6], "autoencoder__learning_rate": [1e-3, 1e-2]}
    return GridSearchCV(pipe, grid, cv=2, n_jobs=n_jobs)


def test_grid_search_with_joblib_processes_matches_sequential(data):
    X, _ = data
    seq = _ae_search(1).fit(X)
    par = _ae_search(2).fit(X)
    assert seq.best_params_ == par.best_params_
    np.testing.assert_allclose(
        seq.cv_results_["mean_test_score"], par.cv_results_["mean_test_score"], rtol=1e-6
    )


def test_grid_search_on_a_dask_local_cluster_matches_sequential(data):
    distributed = pytest.importorskip("distributed")
    import joblib

    X, _ = data
    seq = _ae_search(1).fit(X)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, distributed.Client(cluster):
        with joblib.parallel_config(backend="dask"):
            dist = _ae_search(-1).fit(X)
    assert seq.best_params_ == dist.best_params_
    np.testing.assert_allclose(
        seq.cv_results_["mean_test_score"], dist.cv_results_["mean_test_score"], rtol=1e-6
    )
