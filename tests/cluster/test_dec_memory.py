"""DECClustering's memory at large n: the passes that avoid n-sized temporaries give the
same numbers, a streamed fit keeps no n x K target, a large fit starts from a sample."""

import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs

import skdeepclust._data as data
import skdeepclust.cluster._dec as dec_module
from skdeepclust import config_context
from skdeepclust.cluster import DECClustering
from skdeepclust.metrics import cluster_accuracy
from skdeepclust.nn.dec import _squared_distances, target_distribution


def _blobs(n=900, d=6, seed=0):
    X, y = make_blobs(n, d, centers=3, cluster_std=0.8, random_state=seed)
    return X.astype(np.float32), y


def _dec(**params):
    params = {"max_epochs": 4, **params}
    return DECClustering(3, autoencoder="passthrough", tol=0.0, random_state=0,
                         device="cpu", **params)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_column_std_is_numpys_bit_for_bit(monkeypatch, dtype):
    monkeypatch.setattr(dec_module, "_BLOCK_ROWS", 7)  # many blocks, a ragged last one
    rng = np.random.default_rng(0)
    for n in (1, 6, 7, 50, 1001):
        Z = (rng.normal(size=(n, 4)) * [0.1, 1, 30, 1e3] + [5, -2, 1e4, 0]).astype(dtype)
        np.testing.assert_array_equal(dec_module._column_std(Z),
                                      np.std(Z, axis=0, dtype=np.float64))


def test_nearest_centre_block_by_block(monkeypatch):
    monkeypatch.setattr(dec_module, "_BLOCK_ROWS", 7)
    rng = np.random.default_rng(1)
    Z, centers = rng.normal(size=(100, 3)), rng.normal(size=(5, 3))
    one_pass = ((Z[:, None, :] - centers[None]) ** 2).sum(-1).argmin(1)
    np.testing.assert_array_equal(dec_module._nearest(Z, centers), one_pass)


def test_squared_distances_in_place_without_gradient():
    z = torch.randn(50, 4, requires_grad=True)
    centers = torch.randn(6, 4)
    with_grad = _squared_distances(z, centers)
    with torch.no_grad():
        without = _squared_distances(z, centers)
    assert torch.equal(with_grad.detach(), without)
    with_grad.sum().backward()  # the differences were kept for the gradient
    assert z.grad is not None


def test_target_rows_from_the_full_data_frequencies():
    q = torch.softmax(torch.randn(40, 5, dtype=torch.float64), dim=1)
    w = torch.rand(40, dtype=torch.float64)
    rows = torch.tensor([3, 0, 17, 39])
    for weights in (None, w):
        full = target_distribution(q, weights)
        weighted = q if weights is None else q * weights[:, None]
        part = target_distribution(q[rows], frequency=weighted.sum(dim=0))
        assert torch.equal(part, full[rows])


def test_streamed_fit_keeps_no_full_target_and_matches_the_stored_one(tmp_path, monkeypatch):
    """Streamed rows (several blocks, refreshes in several chunks): every target is a
    minibatch's, recomputed from the snapshot, and the model is the one a stored full
    target gives, up to rounding."""
    X, y = _blobs()
    np.save(tmp_path / "x.npy", X)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    w = np.random.RandomState(0).randint(1, 3, size=len(X)).astype(float)

    sizes = []
    original = dec_module._target_distribution

    def spy(q, *args, **kwargs):
        sizes.append(q.shape[0])
        return original(q, *args, **kwargs)

    monkeypatch.setattr(data, "BLOCK_BYTES", 64 * X.shape[1] * 4)  # 15 blocks
    for weights in (None, w):
        with config_context(working_memory=0.01):  # inference chunks of one minibatch
            monkeypatch.setattr(DECClustering, "_snapshot_streamed_target", False)
            stored = _dec().fit(mapped, sample_weight=weights)
            monkeypatch.setattr(DECClustering, "_snapshot_streamed_target", True)
            monkeypatch.setattr(dec_module, "_target_distribution", spy)
            streamed = _dec().fit(mapped, sample_weight=weights)
            monkeypatch.setattr(dec_module, "_target_distribution", original)
        assert sizes and max(sizes) <= streamed._batch_size < len(X)
        np.testing.assert_array_equal(streamed.labels_, stored.labels_)
        np.testing.assert_allclose(streamed.cluster_centers_, stored.cluster_centers_,
                                   rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(streamed.loss_curve_, stored.loss_curve_, rtol=1e-5)
        assert cluster_accuracy(y, streamed.labels_) == 1.0
        sizes.clear()


def test_large_data_starts_from_a_sample(monkeypatch):
    X, y = _blobs()
    monkeypatch.setattr(dec_module, "INIT_MAX_ROWS", 200)
    seen = []
    kmeans = dec_module.INITS["kmeans"]

    def spy(Z, *args):
        seen.append((Z.shape[0], args[-1] is None or args[-1].shape[0]))
        return kmeans(Z, *args)

    monkeypatch.setitem(dec_module.INITS, "kmeans", spy)
    w = np.random.RandomState(0).randint(1, 3, size=len(X)).astype(float)
    first = _dec().fit(X, sample_weight=w)
    assert seen == [(200, 200)]  # the sample's embedding and weights only
    assert cluster_accuracy(y, first.labels_) == 1.0
    again = _dec().fit(X, sample_weight=w)
    np.testing.assert_array_equal(again.cluster_centers_, first.cluster_centers_)
    max_zero = _dec(max_epochs=0).fit(X)  # the start's labels: every row's nearest centre
    np.testing.assert_array_equal(max_zero.labels_, max_zero.predict(X))
    assert cluster_accuracy(y, max_zero.labels_) == 1.0
