"""DECClustering.partial_fit's warm-up: the autoencoder pretrained over the stream.

The first calls count the first pass (default autoencoder), pretrain the autoencoder by
its own ``partial_fit`` for its ``max_epochs`` passes, embed one more pass for the k-means
start, then cluster; ``fit`` is untouched by it.
"""

import pickle

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from skdeepclust import DECClustering
from skdeepclust.cluster._nested_autoencoder import default_autoencoder
from skdeepclust.cluster._streamed_pretraining import _Reservoir, chunk_fingerprint
from skdeepclust.representation import AutoEncoder

X, Y = make_blobs(300, n_features=32, centers=3, cluster_std=1.0, random_state=0)
X = ((X - X.min()) / (X.max() - X.min())).astype(np.float32)
CHUNKS = np.array_split(np.random.RandomState(0).permutation(len(X)), 3)
EPOCHS = 4


def _ae():
    return AutoEncoder(n_components=2, hidden_layer_sizes=(16,), max_epochs=EPOCHS, tol=None,
                       batch_size=32, learning_rate=3e-3, random_state=0)


def _pass(est, order=(0, 1, 2)):
    for i in order:
        est.partial_fit(X[CHUNKS[i]])
    return est


def test_warmup_switches_after_the_pretraining_passes_and_reaches_fit():
    est = DECClustering(3, autoencoder=_ae(), max_epochs=5, random_state=0)
    phases = [_pass(est).stream_phase_ for _ in range(EPOCHS + 1)]
    # a given autoencoder trains from the first call: EPOCHS passes, then one embedding
    assert phases == ["pretraining"] * EPOCHS + ["clustering"]
    assert est.n_iter_ == 0 and est.autoencoder_.n_iter_ == EPOCHS * len(CHUNKS)
    assert est.labels_.shape == (len(CHUNKS[2]),)
    for _ in range(5):
        _pass(est)
    assert est.n_iter_ == 15
    fit = DECClustering(3, autoencoder=_ae(), max_epochs=5, random_state=0).fit(X)
    ari_fit = adjusted_rand_score(Y, fit.predict(X))
    assert ari_fit > 0.95 and adjusted_rand_score(Y, est.predict(X)) > 0.95


def test_default_autoencoder_is_sized_by_the_counted_first_pass():
    est = DECClustering(3, random_state=0)
    _pass(est)
    assert est.stream_phase_ == "survey"
    warm = est._warmup
    assert warm.autoencoder is None and warm.first_pass_rows == len(X)
    # a provisional model predicts (k-means on the sample of the first pass)
    assert adjusted_rand_score(Y, est.predict(X)) > 0.9
    assert est.cluster_centers_.shape == (3, 32)
    est.partial_fit(X[CHUNKS[1]])  # a chunk comes back, in another order: pass counted
    assert est.stream_phase_ == "pretraining" and warm.rows_per_pass == len(X)
    expected = default_autoencoder(len(X), X.shape[1])
    assert warm.autoencoder.max_epochs == expected.max_epochs
    assert warm.autoencoder.batch_size == expected.batch_size
    assert warm.rows_pretrained == len(CHUNKS[1])
    assert est.transform(X[:5]).shape == (5, expected.n_components)
    with pytest.raises(ValueError, match="features"):
        est.partial_fit(X[:10, :8])


def test_fit_discards_a_warmup_and_is_unchanged():
    fresh = DECClustering(3, autoencoder=_ae(), max_epochs=3, random_state=0).fit(X)
    est = DECClustering(3, autoencoder=_ae(), max_epochs=3, random_state=0)
    est.partial_fit(X[CHUNKS[0]])
    est.fit(X)
    assert not hasattr(est, "stream_phase_")
    np.testing.assert_array_equal(est.cluster_centers_, fresh.cluster_centers_)
    np.testing.assert_array_equal(est.labels_, fresh.labels_)


def test_warmup_survives_pickling():
    est = _pass(DECClustering(3, autoencoder=_ae(), max_epochs=5, random_state=0))
    est = pickle.loads(pickle.dumps(est))
    for _ in range(EPOCHS):
        _pass(est)
    assert est.stream_phase_ == "clustering"


@pytest.mark.parametrize("case", ["passthrough", "fitted"])
def test_no_warmup_without_an_autoencoder_to_pretrain(case):
    ae = "passthrough" if case == "passthrough" else _ae().fit(X)
    est = DECClustering(3, autoencoder=ae, max_epochs=5, random_state=0)
    est.partial_fit(X[CHUNKS[0]])
    assert not hasattr(est, "stream_phase_") and est.n_iter_ == 1


def test_reservoir_and_fingerprint():
    res = _Reservoir(100, seed=0)
    for s in range(0, 10_000, 300):
        res.add(np.arange(s, min(s + 300, 10_000))[:, None])
    sample = res.sample()[:, 0]
    assert sample.shape == (100,) and len(set(sample)) == 100
    assert 3_000 < sample.mean() < 7_000  # uniform over the stream, not its head
    assert chunk_fingerprint(X[:10]) == chunk_fingerprint(X[:10].copy())
    assert chunk_fingerprint(X[:10]) != chunk_fingerprint(X[1:11])


def test_a_stream_that_never_repeats_ends_its_count(monkeypatch):
    from skdeepclust.cluster import _streamed_pretraining

    monkeypatch.setattr(_streamed_pretraining, "SURVEY_MAX_ROWS", 200)
    est = DECClustering(3, random_state=0)
    est.partial_fit(X[CHUNKS[0]])
    assert est.stream_phase_ == "survey"
    est.partial_fit(X[CHUNKS[1]])  # 200 new rows: the pass is taken as counted
    assert est.stream_phase_ == "pretraining" and est._warmup.rows_per_pass == 200
    assert est._warmup.autoencoder.max_epochs == default_autoencoder(200, 32).max_epochs
