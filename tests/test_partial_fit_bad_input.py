"""Bad chunks in a ``partial_fit`` stream (issue 20): a chunk with another number of
features, a NaN or an infinity, or non-numeric values raises a ValueError that says what
is wrong with that chunk (``X``, the argument of the failing call) and leaves the model as
the earlier chunks made it, so that the stream can go on with the next good chunk. A
numeric chunk of another dtype is converted: float64 or int64 values train the model as
the same values in float32 do."""

import copy
import pickle
import warnings

import numpy as np
import pytest
import torch

from skdeepclust import (
    AutoEncoder,
    DECClustering,
    DisentanglingFlow,
    DMAEClustering,
    NormalizingFlow,
)
from skdeepclust.base import _modules_of
from skdeepclust.neural_network import DBM, DBN, RBM, RBMClassifier

_RNG = np.random.RandomState(0)
X_UNIT = _RNG.rand(60, 6).astype(np.float32)
X_BIN = (X_UNIT > 0.5).astype(np.float32)
X_WIDE = _RNG.rand(60, 40).astype(np.float32)  # DEC / DMAE pretrain an autoencoder
Y = np.arange(60) % 3

#: name: (estimator, data, what partial_fit takes besides X)
CASES = {
    "AutoEncoder": (lambda: AutoEncoder(n_components=2, hidden_layer_sizes=(4,)), X_UNIT, None),
    "DECClustering": (lambda: DECClustering(2, autoencoder="passthrough"), X_UNIT, None),
    "DECClustering warm-up": (lambda: DECClustering(2), X_WIDE, None),
    "DMAEClustering": (lambda: DMAEClustering(2), X_UNIT, None),
    "DMAEClustering warm-up": (
        lambda: DMAEClustering(
            2, autoencoder=AutoEncoder(n_components=2, hidden_layer_sizes=(8,), max_epochs=2)
        ),
        X_WIDE,
        None,
    ),
    "NormalizingFlow": (
        lambda: NormalizingFlow(hidden_layer_sizes=(8,), base="normal"),
        X_UNIT,
        None,
    ),
    "DisentanglingFlow": (lambda: DisentanglingFlow(hidden_layer_sizes=(8,)), X_UNIT, "factors"),
    "RBM": (lambda: RBM(n_components=3), X_BIN, None),
    "RBMClassifier": (lambda: RBMClassifier(n_components=3), X_BIN, "classes"),
    "DBM": (lambda: DBM(n_components=(3, 3)), X_BIN, None),
    "DBN": (lambda: DBN(hidden_layer_sizes=(3, 3)), X_BIN, None),
}

#: a bad second chunk, and the words its error must hold
BAD = {
    "features": (lambda X: X[:, :-1], r"X has \d+ features, but \w+ is expecting \d+"),
    "nan": (lambda X: _with(X, np.nan), "Input X contains NaN"),
    "infinity": (lambda X: _with(X, np.inf), "Input X contains infinity"),
    "strings": (lambda X: _with(X.astype(object), "a"), "needs numeric input"),
}


def _with(X, value):
    X = X.copy()
    X[3, 2] = value
    return X


def _partial_fit(est, name, X, rows):
    extra = CASES[name][2]
    if extra == "classes":
        return est.partial_fit(X, Y[rows], classes=np.unique(Y))
    if extra == "factors":
        return est.partial_fit(X, Y[rows].astype(np.float64))
    return est.partial_fit(X)


def _state(est):
    warmup = getattr(est, "_warmup", None)  # DEC / DMAE: the autoencoder it pretrains
    pretrained = getattr(warmup, "autoencoder", None)
    modules = _modules_of(est) + (_modules_of(pretrained) if pretrained else [])
    return {
        "n_iter_": getattr(est, "n_iter_", None),
        "stream_phase_": getattr(est, "stream_phase_", None),
        "rows_pretrained": getattr(warmup, "rows_pretrained", None),
        "tensors": [t.detach().clone() for m in modules for t in [*m.parameters(), *m.buffers()]],
        "rbms_": [pickle.dumps(r.components_) for r in getattr(est, "rbms_", [])],
    }


@pytest.fixture(scope="module", params=list(CASES))
def started(request):
    """Each estimator after ``partial_fit`` on the first chunk (rows 0-29)."""
    name = request.param
    make, X, _ = CASES[name]
    est = make().set_params(max_epochs=1, device="cpu", random_state=0)
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _partial_fit(est, name, X[:30], slice(0, 30))
        if name.endswith("warm-up"):  # a pass counting the rows, then pretraining
            _partial_fit(est, name, X[30:], slice(30, 60))
            _partial_fit(est, name, X[:30], slice(0, 30))
            assert est.stream_phase_ == "pretraining"
    assert _state(est)["tensors"] or _state(est)["rbms_"]  # something to compare
    return name, est


@pytest.mark.parametrize("bad", list(BAD))
def test_a_bad_chunk_raises_and_leaves_the_model_as_it_was(started, bad):
    name, first = started
    est = copy.deepcopy(first)
    X = CASES[name][1]
    corrupt, message = BAD[bad]
    before = _state(est)
    with pytest.raises(ValueError, match=message):
        _partial_fit(est, name, corrupt(X[30:]), slice(30, 60))
    after = _state(est)
    assert after["n_iter_"] == before["n_iter_"]
    assert after["stream_phase_"] == before["stream_phase_"]
    assert after["rows_pretrained"] == before["rows_pretrained"]
    assert after["rbms_"] == before["rbms_"]
    assert len(after["tensors"]) == len(before["tensors"])
    for a, b in zip(after["tensors"], before["tensors"]):
        assert torch.equal(a, b)
    # the stream goes on: the next good chunk trains one more epoch
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _partial_fit(est, name, X[30:], slice(30, 60))
    if name.endswith("warm-up"):  # its 30 rows pretrain the autoencoder
        assert _state(est)["rows_pretrained"] == before["rows_pretrained"] + 30
    else:
        assert est.n_iter_ == before["n_iter_"] + 1


@pytest.mark.parametrize(
    "name,dtype", [("AutoEncoder", np.float64), ("RBM", np.int64), ("DBN", np.float64)]
)
def test_a_numeric_chunk_of_another_dtype_trains_as_float32(name, dtype):
    make, X, _ = CASES[name]
    models = []
    for second in (X[30:], X[30:].astype(dtype)):
        est = make().set_params(max_epochs=1, device="cpu", random_state=0)
        est.partial_fit(X[:30])
        est.partial_fit(second)
        models.append(est)
    a, b = ([t for m in _modules_of(est) for t in m.parameters()] for est in models)
    if name == "DBN":
        a, b = ([r.components_ for r in est.rbms_] for est in models)
    assert len(a) == len(b) > 0
    for p, q in zip(a, b):
        np.testing.assert_array_equal(
            np.asarray(p.detach() if torch.is_tensor(p) else p),
            np.asarray(q.detach() if torch.is_tensor(q) else q),
        )
