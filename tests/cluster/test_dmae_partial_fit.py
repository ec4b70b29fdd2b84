"""DMAEClustering.partial_fit's warm-up (the deep model): the autoencoder pretrained over
the stream, the mixture started on a sample of the codes of a whole pass.

The first calls count the first pass (default autoencoder), pretrain the autoencoder by
its own ``partial_fit`` for its ``max_epochs`` passes, embed one more pass for the start of
the mixture, then cluster; ``fit``, the shallow model and a fitted autoencoder are
untouched by it.
"""

import pickle

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from skdeepclust import DMAEClustering
from skdeepclust.cluster._nested_autoencoder import default_autoencoder
from skdeepclust.representation import AutoEncoder

X, Y = make_blobs(600, n_features=32, centers=3, cluster_std=1.0, random_state=0)
X = ((X - X.min()) / (X.max() - X.min())).astype(np.float32)
CHUNKS = np.array_split(np.random.RandomState(0).permutation(len(X)), 3)
EPOCHS = 4


def _ae():
    return AutoEncoder(n_components=2, hidden_layer_sizes=(16,), max_epochs=EPOCHS, tol=None,
                       batch_size=32, learning_rate=3e-3, random_state=0)


def _dmae(**kw):
    return DMAEClustering(3, autoencoder=_ae(), max_epochs=3, mixture_epochs=2,
                          random_state=0, **kw)


def _pass(est, order=(0, 1, 2)):
    for i in order:
        est.partial_fit(X[CHUNKS[i]])
    return est


def test_warmup_switches_after_the_pretraining_passes_and_reaches_fit():
    est = _dmae()
    phases = [_pass(est).stream_phase_ for _ in range(EPOCHS + 1)]
    # a given autoencoder trains from the first call: EPOCHS passes, then one embedding
    assert phases == ["pretraining"] * EPOCHS + ["clustering"]
    assert est.n_iter_ == 0 and est.autoencoder_.n_iter_ == EPOCHS * len(CHUNKS)
    assert est.labels_.shape == (len(CHUNKS[2]),) and len(est.mixture_loss_curve_) == 2
    # the centres live in the scaled code space: cluster_centers_ in the code space
    codes = est.embed(X)
    assert est.code_scale_ == pytest.approx(float(np.sqrt(codes.var(0).mean())), rel=0.2)
    assert np.abs(est.cluster_centers_).max() <= 2 * np.abs(codes).max()
    for _ in range(3):
        _pass(est)
    assert est.n_iter_ == 9
    fit = _dmae().fit(X)
    ari_fit = adjusted_rand_score(Y, fit.predict(X))
    assert ari_fit > 0.95 and adjusted_rand_score(Y, est.predict(X)) > 0.95


def test_default_autoencoder_is_sized_by_the_counted_first_pass():
    est = DMAEClustering(3, random_state=0)
    _pass(est)
    assert est.stream_phase_ == "survey"
    warm = est._warmup
    assert warm.autoencoder is None and warm.first_pass_rows == len(X)
    # a provisional model predicts (k-means on the sample of the first pass, shallow)
    assert adjusted_rand_score(Y, est.predict(X)) > 0.9
    assert est.cluster_centers_.shape == (3, 32)
    est.partial_fit(X[CHUNKS[1]])  # a chunk comes back, in another order: pass counted
    assert est.stream_phase_ == "pretraining" and warm.rows_per_pass == len(X)
    expected = default_autoencoder(len(X), X.shape[1])
    assert warm.autoencoder.max_epochs == expected.max_epochs
    assert warm.rows_pretrained == len(CHUNKS[1])
    assert est.embed(X[:5]).shape == (5, expected.n_components)
    assert est.predict_proba(X[:5]).shape == (5, 3)
    with pytest.raises(ValueError, match="features"):
        est.partial_fit(X[:10, :8])


def test_fit_discards_a_warmup_and_is_unchanged():
    fresh = _dmae().fit(X)
    est = _dmae()
    est.partial_fit(X[CHUNKS[0]])
    est.fit(X)
    assert not hasattr(est, "stream_phase_")
    np.testing.assert_array_equal(est.cluster_centers_, fresh.cluster_centers_)
    np.testing.assert_array_equal(est.labels_, fresh.labels_)


def test_warmup_survives_pickling():
    est = _pass(_dmae())
    est = pickle.loads(pickle.dumps(est))
    assert est.predict(X[:5]).shape == (5,)
    for _ in range(EPOCHS):
        _pass(est)
    assert est.stream_phase_ == "clustering"
    _pass(est)
    assert est.n_iter_ == 3


@pytest.mark.parametrize("case", ["shallow", "auto_few_features", "fitted"])
def test_no_warmup_without_an_autoencoder_to_pretrain(case):
    data = X[:, :8] if case == "auto_few_features" else X
    ae = {"shallow": None, "auto_few_features": "auto", "fitted": _ae().fit(X)}[case]
    est = DMAEClustering(3, autoencoder=ae, max_epochs=3, random_state=0)
    est.partial_fit(data[CHUNKS[0]])
    assert not hasattr(est, "stream_phase_") and est.n_iter_ == 1


def test_code_scale_pools_the_chunks():
    # the inference scale of normalize_codes is the spread of the codes of the stream,
    # not of the last chunk alone (small chunks of 2-d codes: a noisy spread)
    ae = _ae().fit(X)
    est = DMAEClustering(3, autoencoder=ae, learning_rate=1e-7, random_state=0)
    chunks = np.array_split(np.random.RandomState(1).permutation(len(X)), 12)
    scales = []
    for _ in range(2):
        for rows in chunks:
            est.partial_fit(X[rows])
            scales.append(est.code_scale_)
    codes = est.embed(X)
    whole = float(np.sqrt(codes.var(0).mean()))
    assert est.code_scale_ == pytest.approx(whole, rel=0.05)
    assert np.ptp(scales[len(chunks):]) < 0.05 * whole
