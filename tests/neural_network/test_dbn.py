"""Behaviour of neural_network.DBN."""

import pickle

import numpy as np
import pytest

from skdeepclust.datasets import make_bars_and_stripes
from skdeepclust.neural_network import DBN, RBM

FAST = dict(device="cpu", random_state=0, batch_size=20, learning_rate=0.05)


@pytest.fixture(scope="module")
def bars():
    return make_bars_and_stripes(300, length=4, random_state=0)


def test_greedy_stack_matches_manual_stacking(bars):
    dbn = DBN(hidden_layer_sizes=(10, 4), max_epochs=4, **FAST).fit(bars)
    assert [r.n_components for r in dbn.rbms_] == [10, 4]
    assert dbn.rbms_[0].visible == "binary" and not dbn.rbms_[0].allow_probabilities
    assert dbn.rbms_[1].allow_probabilities  # the upper layer reads hidden means
    H1 = dbn.rbms_[0].transform(bars)
    np.testing.assert_allclose(dbn.transform(bars), dbn.rbms_[1].transform(H1))
    # the second layer is an RBM fitted on the first layer's means with its own seed
    second = RBM(4, allow_probabilities=True, max_epochs=4, device="cpu", batch_size=20,
                 learning_rate=0.05, random_state=dbn.rbms_[1].random_state).fit(H1)
    np.testing.assert_allclose(second.components_, dbn.rbms_[1].components_)
    assert dbn.n_iter_ == 8 and len(dbn.loss_curve_) == 8
    assert dbn.get_feature_names_out().tolist() == [f"dbn{i}" for i in range(4)]


def test_reconstruction_and_samples(bars):
    dbn = DBN(hidden_layer_sizes=(16, 8), max_epochs=30, **FAST).fit(bars)
    rec = dbn.reconstruct(bars)
    assert rec.shape == bars.shape and ((rec > 0.5) == bars).mean() > 0.85
    np.testing.assert_allclose(rec, dbn.inverse_transform(dbn.transform(bars)))
    samples = dbn.sample(50, k=100, random_state=0)
    assert samples.shape == (50, 16) and samples.min() >= 0 and samples.max() <= 1
    np.testing.assert_array_equal(samples, dbn.sample(50, k=100, random_state=0))
    copy = pickle.loads(pickle.dumps(dbn))
    np.testing.assert_array_equal(copy.transform(bars), dbn.transform(bars))


def test_rbm_params_per_layer(bars):
    dbn = DBN(hidden_layer_sizes=(6, 3), max_epochs=1,
              rbm_params=[{"method": "cd"}, {"method": "exact", "centered": False}],
              **FAST).fit(bars)
    assert [r.method for r in dbn.rbms_] == ["cd", "exact"]
    assert not dbn.rbms_[1].centered
    with pytest.raises(ValueError, match="one per layer"):
        DBN(hidden_layer_sizes=(6, 3), rbm_params=[{}], **FAST).fit(bars)
    with pytest.raises(ValueError, match="invalid keys"):
        DBN(hidden_layer_sizes=(6,), rbm_params={"n_components": 3}, **FAST).fit(bars)
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        DBN(hidden_layer_sizes=(), **FAST).fit(bars)


def test_gaussian_first_layer_and_dtype():
    X = np.random.RandomState(0).randn(100, 5).astype(np.float32)
    dbn = DBN(hidden_layer_sizes=(4, 2), visible="gaussian", max_epochs=2, **FAST).fit(X)
    assert dbn.transform(X).dtype == np.float32
    assert dbn.inverse_transform(dbn.transform(X)).shape == (100, 5)


def test_gaussian_dbn_on_digits_with_constant_columns():
    from sklearn.datasets import load_digits

    X = load_digits().data[:300] / 16.0
    dbn = DBN(hidden_layer_sizes=(16, 4), visible="gaussian", max_epochs=3, device="cpu",
              random_state=0).fit(X)
    assert np.all(np.isfinite(dbn.transform(X)))
    assert np.all(np.isfinite(dbn.sample(3, k=5)))
    assert dbn.n_iter_ == 6 and not dbn.converged_


def test_unconverged_layers_warn_under_the_dbn_name(bars):
    from sklearn.exceptions import ConvergenceWarning

    with pytest.warns(ConvergenceWarning) as record:
        DBN(hidden_layer_sizes=(6, 3), max_epochs=2, tol=0.0, n_iter_no_change=5,
            **FAST).fit(bars)
    messages = [str(w.message) for w in record if w.category is ConvergenceWarning]
    assert [m.split(" stopped")[0] for m in messages] == ["DBN (layer 1 of 2)",
                                                           "DBN (layer 2 of 2)"]
    assert all("max_epochs=2" in m for m in messages)


def test_feature_names_out_need_a_fit():
    from sklearn.exceptions import NotFittedError

    X = (np.random.RandomState(0).rand(40, 6) > 0.5).astype(float)
    dbn = DBN(hidden_layer_sizes=(4, 3), max_epochs=1, random_state=0, device="cpu")
    with pytest.raises(NotFittedError):
        dbn.get_feature_names_out()
    dbn.fit(X)
    dbn.set_params(hidden_layer_sizes=(4, 2))
    assert list(dbn.get_feature_names_out()) == [f"dbn{i}" for i in range(3)]


def test_partial_fit_trains_every_layer_per_chunk():
    from sklearn.datasets import load_digits

    X = (load_digits().data > 7).astype(np.float32)
    dbn = DBN(hidden_layer_sizes=(32, 8), random_state=0)
    chunks = np.array_split(X, 10)
    dbn.partial_fit(chunks[0])
    start = float(np.mean(dbn.rbms_[0].reconstruction_error(X)))
    for _ in range(3):
        for chunk in chunks:
            dbn.partial_fit(chunk)
    assert dbn.n_iter_ == 31 and len(dbn.loss_curve_) == 31
    assert [r.n_iter_ for r in dbn.rbms_] == [31, 31]
    # the bottom layer learned the whole stream: its reconstruction of all rows improved
    assert float(np.mean(dbn.rbms_[0].reconstruction_error(X))) < 0.8 * start
    assert dbn.transform(X).shape == (len(X), 8)
    with pytest.raises(ValueError, match="features"):
        dbn.partial_fit(X[:, :10])


def test_warm_start_trains_every_layer_on():
    from sklearn.datasets import load_digits

    X = (load_digits().data > 7).astype(np.float32)
    dbn = DBN(hidden_layer_sizes=(16, 8), max_epochs=3, warm_start=True, random_state=0)
    dbn.fit(X)
    first = [r.components_.copy() for r in dbn.rbms_]
    assert dbn.n_iter_ == 6
    dbn.set_params(max_epochs=0).fit(X)  # no epoch: the fitted layers exactly
    for before, rbm in zip(first, dbn.rbms_):
        np.testing.assert_array_equal(before, rbm.components_)
    dbn.set_params(max_epochs=2).fit(X)
    assert dbn.n_iter_ == 10 and len(dbn.loss_curve_) == 10
    assert not np.array_equal(first[0], dbn.rbms_[0].components_)
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        dbn.set_params(hidden_layer_sizes=(16, 4)).fit(X)
