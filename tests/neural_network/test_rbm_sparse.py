"""Sparse (CSR / CSC) input to the RBM family: the same models and predictions as the
dense input, minibatches densified one at a time."""

import numpy as np
import pytest
import scipy.sparse as sp

from skdeepclust._sparse import SparseRows
from skdeepclust.neural_network import DBN, RBM, RBMClassifier
from skdeepclust.neural_network._rbm_base import _BaseRBM

FAST = {"max_epochs": 3, "batch_size": 20, "device": "cpu", "random_state": 0}


@pytest.fixture(scope="module")
def binary():
    """Binary bag-of-words-like rows: 8 % ones, a few columns never on."""
    rng = np.random.RandomState(0)
    X = (rng.rand(200, 40) < 0.08).astype(np.float32)
    X[:, :3] = 0
    return X


@pytest.mark.parametrize("params", [
    {"method": "pcd"},  # the fused update on the sparse kernels
    {"method": "cd", "centered": False},
    {"method": "pt"},
    {"method": "pcd", "allow_probabilities": True},  # the fused update, dense
    {"method": "pcd", "l1": 0.01, "momentum": 0.5},  # the generic step
    {"method": "exact", "n_components": 6},
])
@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparse_fit_equals_dense(binary, params, fmt):
    # binary data: integer column sums give the dense path's means, the minibatches are
    # the same rows, so the same draws give the same model bit for bit
    params = {"n_components": 8, **params}
    dense = RBM(**params, **FAST).fit(binary)
    sparse = RBM(**params, **FAST).fit(sp.csr_matrix(binary).asformat(fmt))
    np.testing.assert_array_equal(sparse.components_, dense.components_)
    np.testing.assert_array_equal(sparse.intercept_visible_, dense.intercept_visible_)
    np.testing.assert_array_equal(sparse.loss_curve_, dense.loss_curve_)
    S = sp.csr_matrix(binary)
    np.testing.assert_array_equal(sparse.transform(S), dense.transform(binary))
    np.testing.assert_array_equal(sparse.score_samples(S.tocsc()),
                                  dense.score_samples(binary))


def test_sparse_predictions_equal_dense(binary):
    rbm = RBM(8, **FAST).fit(binary)
    S = sp.csr_matrix(binary.astype(np.float64))
    X = binary.astype(np.float64)
    np.testing.assert_array_equal(rbm.score_samples(S), rbm.score_samples(X))
    np.testing.assert_array_equal(rbm.free_energy(S), rbm.free_energy(X))
    np.testing.assert_array_equal(rbm.reconstruction_error(S), rbm.reconstruction_error(X))
    np.testing.assert_array_equal(rbm.gibbs(S, random_state=3), rbm.gibbs(X, random_state=3))
    H = rbm.transform(X)
    np.testing.assert_array_equal(rbm.energy(S, H), rbm.energy(X, H))
    assert rbm.transform(S).dtype == np.float64


def test_sparse_gaussian_within_rounding():
    # Gaussian visibles: the column variances come from E[x^2] - E[x]^2 of the stored
    # values (torch computes them from the dense matrix), equal up to float32 rounding
    rng = np.random.RandomState(1)
    X = (rng.rand(200, 10) * (rng.rand(200, 10) < 0.3)).astype(np.float32)
    dense = RBM(6, visible="gaussian", **FAST).fit(X)
    sparse = RBM(6, visible="gaussian", **FAST).fit(sp.csr_matrix(X))
    np.testing.assert_allclose(sparse.sigma_, dense.sigma_, rtol=1e-5)
    np.testing.assert_allclose(sparse.components_, dense.components_, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(sparse.transform(sp.csr_matrix(X)), dense.transform(X),
                               rtol=1e-4, atol=1e-6)


def test_sparse_fit_never_densifies_the_whole_matrix(binary, monkeypatch):
    shapes = []
    select = SparseRows.index_select

    def record(self, dim, rows):
        out = select(self, dim, rows)
        shapes.append(tuple(out.shape))
        return out

    def no_dense_visible(self, X, y):
        if not sp.issparse(X):
            raise AssertionError("the whole training set was made a dense tensor")
        return X

    monkeypatch.setattr(SparseRows, "index_select", record)
    monkeypatch.setattr(_BaseRBM, "_visible", no_dense_visible)
    for params in ({"method": "pcd"}, {"method": "cd", "l1": 0.01}):
        RBM(8, **params, **FAST).fit(sp.csr_matrix(binary))
    assert set(shapes) == {(20, 40)}


def test_partial_fit_on_csr_chunks_equals_dense(binary):
    dense, sparse = RBM(8, **FAST), RBM(8, **FAST)
    for chunk in np.array_split(binary, 4):
        dense.partial_fit(chunk)
        sparse.partial_fit(sp.csr_matrix(chunk))
    np.testing.assert_array_equal(sparse.components_, dense.components_)
    assert sparse.n_iter_ == dense.n_iter_ == 4


def test_classifier_on_csr(binary):
    rng = np.random.RandomState(2)
    y = rng.choice(["a", "b", "c"], binary.shape[0])
    dense = RBMClassifier(8, **FAST).fit(binary, y)
    sparse = RBMClassifier(8, **FAST).fit(sp.csr_matrix(binary), y)
    np.testing.assert_array_equal(sparse.components_, dense.components_)
    S = sp.csc_matrix(binary)
    np.testing.assert_array_equal(sparse.predict_proba(S), dense.predict_proba(binary))
    np.testing.assert_array_equal(sparse.predict(S), dense.predict(binary))
    part = RBMClassifier(8, **FAST).partial_fit(S, y, classes=["a", "b", "c"])
    assert part.predict_log_proba(S).shape == (binary.shape[0], 3)


def test_classifier_learns_from_sparse_words():
    # two topics with disjoint vocabularies: p(y | x) separates them
    rng = np.random.RandomState(3)
    y = rng.randint(0, 2, 400)
    X = np.zeros((400, 60), np.float32)
    for i, label in enumerate(y):
        X[i, rng.choice(30, 4, replace=False) + 30 * label] = 1
    clf = RBMClassifier(16, learning_rate=0.1, max_epochs=10, batch_size=20, device="cpu",
                        random_state=0).fit(sp.csr_matrix(X[:300]), y[:300])
    assert clf.score(sp.csr_matrix(X[300:]), y[300:]) > 0.95


def test_dbn_on_csr(binary):
    dense = DBN((8, 4), **FAST).fit(binary)
    sparse = DBN((8, 4), **FAST).fit(sp.csr_matrix(binary))
    np.testing.assert_array_equal(sparse.transform(sp.csr_matrix(binary)),
                                  dense.transform(binary))


def test_sparse_binary_check_reads_stored_values(binary):
    S = sp.csr_matrix(binary) * 2
    with pytest.raises(ValueError, match="needs binary X"):
        RBM(4, **FAST).fit(S)
    with pytest.raises(ValueError, match="needs X >= 0"):
        RBM(4, visible="rectified", hidden="rectified", **FAST).fit(-S)
    # other formats (COO, LIL...) are converted to CSR by the validation
    coo = RBM(4, **FAST).fit(sp.coo_matrix(binary))
    np.testing.assert_array_equal(coo.components_, RBM(4, **FAST).fit(binary).components_)


def test_sample_weight_and_warm_start_on_csr(binary):
    w = np.random.RandomState(4).randint(0, 3, binary.shape[0])
    S = sp.csr_matrix(binary)
    dense = RBM(8, warm_start=True, **FAST).fit(binary, sample_weight=w).fit(binary)
    sparse = RBM(8, warm_start=True, **FAST).fit(S, sample_weight=w).fit(S)
    np.testing.assert_array_equal(sparse.components_, dense.components_)
    assert sparse.n_iter_ == 6
