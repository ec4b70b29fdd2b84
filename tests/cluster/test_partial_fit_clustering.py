"""partial_fit of DECClustering and DMAEClustering: the optimizer carries over between calls.

The clustering phase's optimizer (DEC's SGD momentum, DMAE's Adam moments) is built by the
first ``partial_fit`` call and continued by the later ones, as the ``partial_fit`` contract
says; a ``fit`` starts its own, a fresh start after partial_fit calls does not reuse the
old network's, and pickling drops it (the next call builds a new one).
"""

import pickle

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from skdeepclust import DECClustering, DMAEClustering

X, Y = make_blobs(300, n_features=4, centers=3, cluster_std=0.6, random_state=0)
X = X.astype(np.float32)
CHUNKS = np.array_split(np.random.RandomState(0).permutation(len(X)), 3)


def _make(name):
    if name == "DECClustering":  # 4 features: "auto" clusters them directly
        return DECClustering(3, n_init=2, random_state=0)
    return DMAEClustering(3, random_state=0)


def _state_steps(optimizer):
    """Per parameter: the momentum buffer (SGD) or the step count (Adam)."""
    out = []
    for state in optimizer.state.values():
        if "step" in state:
            out.append(float(state["step"]))
        else:
            out.append(state["momentum_buffer"].clone())
    return out


@pytest.mark.parametrize("name", ["DECClustering", "DMAEClustering"])
def test_partial_fit_continues_one_optimizer(name):
    est = _make(name)
    est.partial_fit(X[CHUNKS[0]])
    optimizer = est._optimizer
    assert optimizer is not None and optimizer.state  # trained: state exists
    before = _state_steps(optimizer)
    est.partial_fit(X[CHUNKS[1]])
    assert est._optimizer is optimizer  # the same optimizer, its state moved on
    after = _state_steps(optimizer)
    for a, b in zip(before, after):
        if isinstance(a, float):
            assert b > a
        else:
            assert not np.allclose(a.numpy(), b.numpy())
    # its parameters are the trained model's
    ids = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert ids <= {id(p) for p in est.module_.parameters()}
    est.partial_fit(X[CHUNKS[2]])
    assert adjusted_rand_score(Y, est.predict(X)) > 0.95


@pytest.mark.parametrize("name", ["DECClustering", "DMAEClustering"])
def test_fit_after_partial_fit_starts_a_new_optimizer(name):
    est = _make(name)
    est.partial_fit(X[CHUNKS[0]])
    old = est._optimizer
    est.set_params(max_epochs=2).fit(X)  # a fresh start: new network, no stale state
    assert est.__dict__.get("_optimizer") is None
    n_fit = est.n_iter_
    est.partial_fit(X[CHUNKS[1]])  # continues the fitted model with a new optimizer
    assert est._optimizer is not old
    ids = {id(p) for group in est._optimizer.param_groups for p in group["params"]}
    assert ids <= {id(p) for p in est.module_.parameters()}
    assert est.n_iter_ == n_fit + 1


@pytest.mark.parametrize("name", ["DECClustering", "DMAEClustering"])
def test_partial_fit_after_unpickling_builds_a_new_optimizer(name):
    est = _make(name)
    est.partial_fit(X[CHUNKS[0]])
    loaded = pickle.loads(pickle.dumps(est))
    assert "_optimizer" not in loaded.__dict__
    loaded.partial_fit(X[CHUNKS[1]])
    assert loaded._optimizer is not None and loaded.n_iter_ == 2
    np.testing.assert_array_equal(loaded.labels_, loaded.predict(X[CHUNKS[1]]))


def test_dmae_given_centres_are_in_the_code_space():
    # The recipe for a stream passes centres computed on the autoencoder's codes as
    # ``init``: they are read in the space of ``cluster_centers_`` (the codes), not in the
    # normalised codes the mixture sees (``normalize_codes``).
    from skdeepclust import AutoEncoder

    ae = AutoEncoder(n_components=2, hidden_layer_sizes=(8,), max_epochs=5, tol=None,
                     batch_size=32, random_state=0).fit(X)
    codes = ae.transform(X)
    centres = np.stack([codes[Y == k].mean(0) for k in range(3)])
    est = DMAEClustering(3, autoencoder=ae, init=centres, mixture_epochs=0, max_epochs=0,
                         random_state=0).fit(X)
    assert est.code_scale_ != pytest.approx(1.0, abs=0.05)  # the case that matters
    np.testing.assert_allclose(est.cluster_centers_, centres, rtol=1e-5, atol=1e-6)
    assert adjusted_rand_score(Y, est.predict(X)) > 0.95
