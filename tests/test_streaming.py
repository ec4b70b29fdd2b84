"""Streamed data: block-wise training rows, memory-mapped and dask input, dask outputs."""

import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from skdeepclust import AutoEncoder, DECClustering, DMAEClustering, NormalizingFlow
from skdeepclust._data import StreamedRows, epoch_order, streams, validate_streamed
from skdeepclust.neural_network import RBMClassifier

da = pytest.importorskip("dask.array")


def _blobs(n=300, d=5, seed=0):
    X, y = make_blobs(n, d, centers=3, cluster_std=0.7, random_state=seed)
    return X.astype(np.float32), y


# ----------------------------------------------------------------- the row source
def test_epoch_order_visits_every_row_once_block_by_block():
    g = torch.Generator().manual_seed(0)
    order = epoch_order(103, 10, g, torch.device("cpu"))
    assert sorted(order.tolist()) == list(range(103))
    # consecutive runs of 10 (3 for the last block) share one block
    blocks = (order // 10).tolist()
    runs = [blocks[0]]
    for b in blocks[1:]:
        if b != runs[-1]:
            runs.append(b)
    assert sorted(runs) == list(range(11))  # each block visited in one run
    assert epoch_order(50, None, g, torch.device("cpu")).sort().values.tolist() == list(range(50))


def test_streamed_rows_index_like_the_tensor(tmp_path):
    X = np.random.RandomState(0).normal(size=(95, 4)).astype(np.float64)
    path = tmp_path / "x.npy"
    np.save(path, X)
    mm = np.load(path, mmap_mode="r")
    rows = StreamedRows(mm, device=torch.device("cpu"), dtype=torch.float32, block_rows=20)
    full = torch.as_tensor(X, dtype=torch.float32)
    within = torch.tensor([41, 40, 59, 45])
    assert torch.equal(rows[within], full[within])
    assert rows._start == 40  # the block of rows 40-59 was loaded
    across = torch.tensor([90, 3, 3, 57])
    assert torch.equal(rows.index_select(0, across), full[across])
    assert torch.equal(rows[10:30], full[10:30])
    assert rows.shape == (95, 4) and len(rows) == 95


def test_a_copy_of_a_memory_map_is_in_memory(tmp_path):
    """``mm[:n].copy()`` keeps numpy's memmap class without a mapping: it is fitted like
    any in-memory array (one tensor), while the map and its slices and views stream."""
    X, _ = _blobs(120)
    np.save(tmp_path / "x.npy", X)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    assert streams(mm) and streams(mm[10:50]) and streams(np.asarray(mm))
    copy = mm[:100].copy()
    assert isinstance(copy, np.memmap) and not streams(copy) and not streams(mm * 1)
    params = {"max_epochs": 2, "tol": None, "n_init": 1, "device": "cpu", "random_state": 0}
    a = DMAEClustering(3, autoencoder=None, **params).fit(copy)
    b = DMAEClustering(3, autoencoder=None, **params).fit(np.array(copy))
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)


def test_a_block_with_nan_names_its_rows(tmp_path):
    X = np.ones((50, 3), dtype=np.float32)
    X[33, 1] = np.nan
    rows = StreamedRows(da.from_array(X, chunks=(10, 3)), device=torch.device("cpu"),
                        dtype=torch.float32, block_rows=10)
    assert torch.equal(rows[torch.tensor([1, 2])], torch.ones(2, 3))
    with pytest.raises(ValueError, match="rows 30-39"):
        rows[torch.tensor([31, 32])]


def test_validation_without_a_pass_over_the_values():
    class Est:
        pass

    est = Est()
    X = da.zeros((20, 3), chunks=(5, 3))
    assert streams(X) and not streams(np.zeros((2, 2)))
    validate_streamed(est, X, reset=True)
    assert est.n_features_in_ == 3
    with pytest.raises(ValueError, match="3 features"):
        validate_streamed(est, da.zeros((4, 2)), reset=False)
    with pytest.raises(ValueError, match="2D"):
        validate_streamed(est, da.zeros(4), reset=True)
    with pytest.raises(TypeError, match="numeric"):
        validate_streamed(est, da.from_array(np.array([["a"]], dtype=object), chunks=1),
                          reset=True)


# ----------------------------------------------------------------- dask outputs
@pytest.fixture(scope="module")
def fitted():
    X, y = _blobs()
    dec = DECClustering(3, max_epochs=2, random_state=0, device="cpu").fit(X)
    ae = AutoEncoder(n_components=2, max_epochs=2, random_state=0, device="cpu").fit(X)
    flow = NormalizingFlow(max_epochs=2, random_state=0, device="cpu").fit(X[:, :2])
    Xb = (X > 0).astype(np.float32)
    rbmc = RBMClassifier(n_components=4, max_epochs=2, random_state=0, device="cpu").fit(Xb, y)
    return X, Xb, dec, ae, flow, rbmc


@pytest.mark.parametrize("which, method", [
    ("dec", "predict"), ("dec", "predict_proba"), ("dec", "transform"),
    ("ae", "transform"), ("flow", "score_samples"), ("rbmc", "predict_proba"),
    ("rbmc", "predict"),
])
def test_dask_input_gives_a_dask_output_block_by_block(fitted, which, method):
    X, Xb, dec, ae, flow, rbmc = fitted
    est = {"dec": dec, "ae": ae, "flow": flow, "rbmc": rbmc}[which]
    data = {"flow": X[:, :2], "rbmc": Xb}.get(which, X)
    lazy = da.from_array(data, chunks=(70, data.shape[1]))
    out = getattr(est, method)(lazy)
    assert isinstance(out, da.Array)
    assert out.chunks[0] == lazy.chunks[0]
    expected = getattr(est, method)(data)
    # float32 products may round differently in blocks of another size
    np.testing.assert_allclose(out.compute(), expected, rtol=1e-5, atol=1e-6)


def test_dask_output_holds_the_estimator_in_one_task(fitted, monkeypatch):
    # a distributed scheduler serialises each task on its own: the estimator must be
    # one key that the blocks' tasks depend on, not part of every block's task
    cloudpickle = pytest.importorskip("cloudpickle")
    from skdeepclust.base import TorchEstimator

    X, _, dec, _, _, _ = fitted
    pickled = []
    original = TorchEstimator.__getstate__

    def counting(self):
        pickled.append(type(self).__name__)
        return original(self)

    monkeypatch.setattr(TorchEstimator, "__getstate__", counting)
    out = dec.predict(da.from_array(X, chunks=(50, X.shape[1])))  # 6 blocks
    for task in dict(out.__dask_graph__()).values():
        cloudpickle.dumps(task)
    assert pickled.count("DECClustering") == 1
    np.testing.assert_array_equal(out.compute(), dec.predict(X))


def test_dask_inverse_transform(fitted):
    X, _, _, ae, _, _ = fitted
    codes = ae.transform(X)
    out = ae.inverse_transform(da.from_array(codes, chunks=(100, 2)))
    np.testing.assert_allclose(out.compute(), ae.inverse_transform(codes), rtol=1e-5,
                               atol=1e-6)


# ----------------------------------------------------------------- streamed fits
@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 64 rows: several blocks even on test-sized data."""
    import skdeepclust._data as data

    monkeypatch.setattr(data, "BLOCK_BYTES", 64 * 5 * 4)


def _never_whole(monkeypatch, n):
    """Fail if a fit moves all n rows to the device at once (the in-memory path)."""
    from skdeepclust.base import TorchEstimator

    original = TorchEstimator._to_tensor

    def guarded(self, X):
        assert X.shape[0] < n, "the whole training set was copied to the device"
        return original(self, X)

    monkeypatch.setattr(TorchEstimator, "_to_tensor", guarded)


@pytest.mark.parametrize("make", [
    lambda: DECClustering(3, random_state=0, device="cpu"),
    lambda: DMAEClustering(3, random_state=0, device="cpu"),
])
@pytest.mark.parametrize("source", ["memmap", "dask"])
def test_clustering_streams_its_training_data(tmp_path, monkeypatch, small_blocks, make,
                                              source):
    X, y = _blobs(n=900, d=5)
    if source == "memmap":
        np.save(tmp_path / "x.npy", X)
        data = np.load(tmp_path / "x.npy", mmap_mode="r")
    else:
        data = da.from_array(X, chunks=(64, 5))
    _never_whole(monkeypatch, len(X))
    est = make().fit(data)
    assert adjusted_rand_score(y, est.labels_) > 0.95
    assert adjusted_rand_score(y, est.predict(X)) > 0.95


def test_autoencoder_and_flow_stream_their_training_data(tmp_path, monkeypatch,
                                                         small_blocks):
    X, _ = _blobs(n=900, d=5)
    np.save(tmp_path / "x.npy", X)
    data = np.load(tmp_path / "x.npy", mmap_mode="r")
    # a standard normal base: one epoch from a mixture base would already score the mixture
    one_epoch = NormalizingFlow(max_epochs=1, base="normal", random_state=0).fit(X).score(X)
    _never_whole(monkeypatch, len(X))
    ae = AutoEncoder(n_components=2, max_epochs=30, tol=None, random_state=0).fit(data)
    assert ae.loss_curve_[-1] < 0.3 * ae.loss_curve_[0]
    flow = NormalizingFlow(max_epochs=30, base="normal", random_state=0,
                           early_stopping=True).fit(data)
    assert len(flow.validation_scores_) == flow.n_iter_  # the last rows validated
    assert flow.score(X) > one_epoch


def test_nan_in_a_streamed_block_names_its_rows(small_blocks):
    X, _ = _blobs(n=400, d=5)
    X[300, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity.*256"):
        AutoEncoder(max_epochs=1, random_state=0).fit(da.from_array(X, chunks=(64, 5)))
