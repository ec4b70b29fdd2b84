"""Tests for DEC: the torch head (nn.dec) and the DECClustering estimator."""

import math
import pickle
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from skdeepclust.nn.dec import (
    DECClusterHead,
    dec_kl_divergence,
    student_t_log_assignment,
    target_distribution,
)

# ---------------------------------------------------------------------------------------
# The head, against a hand-computed example
# ---------------------------------------------------------------------------------------
# Centres (0, 0) and (2, 0), alpha = 1. Kernel (1 + d^2)^-1:
#   z = (0, 0): d^2 = 0, 4  -> 1, 1/5   -> q = (5/6, 1/6)
#   z = (2, 0): d^2 = 4, 0  -> 1/5, 1   -> q = (1/6, 5/6)
#   z = (1, 0): d^2 = 1, 1  -> 1/2, 1/2 -> q = (1/2, 1/2)
#   z = (0, 1): d^2 = 1, 5  -> 1/2, 1/6 -> q = (3/4, 1/4)
# Soft frequencies f = column sums of Q:
#   f_0 = 5/6 + 1/6 + 1/2 + 3/4 = 9/4,  f_1 = 1/6 + 5/6 + 1/2 + 1/4 = 7/4
CENTERS = [[0.0, 0.0], [2.0, 0.0]]
Z = [[0.0, 0.0], [2.0, 0.0], [1.0, 0.0], [0.0, 1.0]]
Q_HAND = [[5 / 6, 1 / 6], [1 / 6, 5 / 6], [1 / 2, 1 / 2], [3 / 4, 1 / 4]]
F_HAND = [9 / 4, 7 / 4]


def _p_hand():
    rows = []
    for q0, q1 in Q_HAND:
        w0, w1 = q0**2 / F_HAND[0], q1**2 / F_HAND[1]
        rows.append([w0 / (w0 + w1), w1 / (w0 + w1)])
    return rows


def _kl_hand(p, q):
    return sum(pi * math.log(pi / qi) for pr, qr in zip(p, q) for pi, qi in zip(pr, qr)) / len(p)


def _head(dtype=torch.float64):
    head = DECClusterHead(n_clusters=2, n_features=2, alpha=1.0, dtype=dtype)
    head.reset_cluster_centers(torch.tensor(CENTERS, dtype=dtype))
    return head


def test_soft_assignment_matches_hand_computation():
    head = _head()
    q = head.cluster(torch.tensor(Z, dtype=torch.float64), soft=True)
    np.testing.assert_allclose(q.detach().numpy(), Q_HAND, rtol=1e-12)


def test_target_distribution_matches_hand_computation():
    p = target_distribution(torch.tensor(Q_HAND, dtype=torch.float64))
    p_hand = _p_hand()
    np.testing.assert_allclose(p.numpy(), p_hand, rtol=1e-12)
    # The third point is equidistant, but cluster 1 is smaller (f_1 < f_0): P favours it.
    assert p_hand[2][1] > 0.5
    np.testing.assert_allclose(p.sum(1).numpy(), 1.0, rtol=1e-12)


def test_kl_loss_matches_hand_computation_and_torch():
    head = _head()
    z = torch.tensor(Z, dtype=torch.float64)
    p_hand = _p_hand()
    expected = _kl_hand(p_hand, Q_HAND)
    # target from the batch itself (pyagc's update_target=True)
    assert head(z).item() == pytest.approx(expected, rel=1e-12)
    # explicit target
    assert head(z, torch.tensor(p_hand, dtype=torch.float64)).item() == pytest.approx(
        expected, rel=1e-12
    )
    # same value as torch's kl_div(log q, p, batchmean)
    log_q = torch.log(torch.tensor(Q_HAND, dtype=torch.float64))
    ref = torch.nn.functional.kl_div(log_q, torch.tensor(p_hand, dtype=torch.float64),
                                     reduction="batchmean")
    assert ref.item() == pytest.approx(expected, rel=1e-12)


def test_kl_reductions_and_zero_targets():
    p = torch.tensor([[1.0, 0.0], [0.5, 0.5]], dtype=torch.float64)
    log_q = torch.log(torch.tensor([[0.5, 0.5], [0.25, 0.75]], dtype=torch.float64))
    per = dec_kl_divergence(p, log_q, reduction="none")
    np.testing.assert_allclose(
        per.numpy(), [math.log(2), 0.5 * math.log(2) + 0.5 * math.log(0.5 / 0.75)], rtol=1e-12
    )
    assert dec_kl_divergence(p, log_q, "sum").item() == pytest.approx(per.sum().item())
    assert dec_kl_divergence(p, log_q).item() == pytest.approx(per.mean().item())
    with pytest.raises(ValueError, match="batchmean"):
        dec_kl_divergence(p, log_q, "mean")


def test_general_alpha_matches_formula():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(7, 3, generator=g, dtype=torch.float64)
    mu = torch.randn(4, 3, generator=g, dtype=torch.float64)
    for alpha in (0.5, 1.0, 3.0):
        d2 = ((z[:, None] - mu[None]) ** 2).sum(-1)
        k = (1 + d2 / alpha) ** (-(alpha + 1) / 2)
        q_ref = k / k.sum(1, keepdim=True)
        q = student_t_log_assignment(z, mu, alpha).exp()
        np.testing.assert_allclose(q.numpy(), q_ref.numpy(), rtol=1e-12)


def test_hard_labels_are_nearest_centre_and_argmax_q():
    g = torch.Generator().manual_seed(1)
    head = DECClusterHead(5, 4)
    head.reset_cluster_centers(generator=g)
    z = torch.randn(50, 4, generator=g)
    labels = head.cluster(z)
    assert labels.dtype == torch.int64
    assert torch.equal(labels, head.cluster(z, soft=True).argmax(1))
    assert torch.equal(labels, torch.cdist(z, head.cluster_centers).argmin(1))
    assert torch.equal(head.predict(z), labels)


def test_far_away_points_give_finite_assignments():
    head = DECClusterHead(3, 2, dtype=torch.float32)
    head.reset_cluster_centers(torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
    z = torch.full((4, 2), 1e6)
    q = head.cluster(z, soft=True)
    assert torch.isfinite(q).all()
    np.testing.assert_allclose(q.sum(1).detach().numpy(), 1.0, rtol=1e-6)
    assert torch.isfinite(head(z))


def test_head_trains_on_a_raw_tensor():
    # Two blobs in a raw 2-D "embedding"; centres start off-centre and move to the blobs.
    g = torch.Generator().manual_seed(0)
    z = torch.cat([torch.randn(100, 2, generator=g) * 0.3 + torch.tensor([-3.0, 0.0]),
                   torch.randn(100, 2, generator=g) * 0.3 + torch.tensor([3.0, 0.0])])
    head = DECClusterHead(2, 2)
    head.reset_cluster_centers(torch.tensor([[-1.0, 1.0], [1.0, -1.0]]))
    opt = torch.optim.SGD(head.parameters(), lr=1.0)
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = head(z)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    centers = head.cluster_centers.detach()
    order = centers[:, 0].argsort()
    np.testing.assert_allclose(centers[order].numpy(), [[-3, 0], [3, 0]], atol=0.3)
    labels = head.cluster(z)
    assert (labels[:100] == labels[0]).all() and (labels[100:] == labels[100]).all()
    assert labels[0] != labels[100]


def test_gradients_reach_centres_and_embedding():
    head = _head()
    z = torch.tensor(Z, dtype=torch.float64, requires_grad=True)
    head(z).backward()
    assert head.cluster_centers.grad is not None and head.cluster_centers.grad.abs().sum() > 0
    assert z.grad is not None and z.grad.abs().sum() > 0


def test_head_state_dict_pickle_and_repr():
    head = _head()
    clone = DECClusterHead(2, 2, dtype=torch.float64)
    clone.load_state_dict(head.state_dict())
    assert torch.equal(clone.cluster_centers, head.cluster_centers)
    again = pickle.loads(pickle.dumps(head))
    assert torch.equal(again.cluster_centers, head.cluster_centers)
    assert "n_clusters=2, n_features=2, alpha=1.0" in repr(head)


def test_reset_cluster_centers_seeded_and_shape_checked():
    a, b = DECClusterHead(3, 4), DECClusterHead(3, 4)
    a.reset_cluster_centers(generator=torch.Generator().manual_seed(5))
    b.reset_cluster_centers(generator=torch.Generator().manual_seed(5))
    assert torch.equal(a.cluster_centers, b.cluster_centers)
    with pytest.raises(AssertionError, match="shape"):
        a.reset_cluster_centers(torch.zeros(2, 4))


# ---------------------------------------------------------------------------------------
# The estimator
# ---------------------------------------------------------------------------------------
import warnings  # noqa: E402

from sklearn.base import clone  # noqa: E402
from sklearn.cluster import KMeans  # noqa: E402
from sklearn.datasets import make_blobs  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.frozen import FrozenEstimator  # noqa: E402
from sklearn.metrics import adjusted_rand_score  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402

from skdeepclust.cluster import DECClustering  # noqa: E402
from skdeepclust.cluster import _dec, _nested_autoencoder  # noqa: E402
from skdeepclust.metrics import cluster_accuracy  # noqa: E402
from skdeepclust.representation import AutoEncoder  # noqa: E402


def _small_ae(**kw):
    params = dict(n_components=2, hidden_layer_sizes=(16,), max_epochs=30, batch_size=32,
                  tol=None, device="cpu", random_state=0)
    params.update(kw)
    return AutoEncoder(**params)


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(400, n_features=10, centers=4, cluster_std=0.6, random_state=3)
    return X.astype(np.float32), y


@pytest.fixture(scope="module")
def blobs_ae(blobs):
    return _small_ae().fit(blobs[0])


@pytest.mark.parametrize("kind", ["dec", "idec", "passthrough"])
def test_recovers_well_separated_blobs_exactly(blobs, kind):
    X, y = blobs
    kw = {"dec": {}, "idec": {"reconstruction_weight": 1.0},
          "passthrough": {"autoencoder": "passthrough"}}[kind]
    kw.setdefault("autoencoder", _small_ae())
    dec = DECClustering(4, max_epochs=20, device="cpu", random_state=0, **kw)
    labels = dec.fit_predict(X)
    assert adjusted_rand_score(y, labels) == 1.0
    assert np.array_equal(labels, dec.labels_)
    assert np.array_equal(dec.predict(X), labels)
    q = dec.predict_proba(X)
    assert q.shape == (400, 4) and q.dtype == np.float32
    np.testing.assert_allclose(q.sum(1), 1.0, rtol=1e-5)
    assert np.array_equal(q.argmax(1), labels)
    n_comp = 10 if kind == "passthrough" else 2
    assert dec.cluster_centers_.shape == (4, n_comp)
    assert dec.transform(X).shape == (400, n_comp)
    assert dec.get_feature_names_out().tolist() == [
        f"decclustering{i}" for i in range(n_comp)
    ]
    assert (dec.module_.decoder is not None) == (kind == "idec")
    assert dec.score(X) <= 0


def test_digits_at_the_defaults_well_above_kmeans(digits):
    X, y = digits
    # one of the n_restarts="auto" fits (5 here; the medoid rule: test_restarts.py)
    dec = DECClustering(10, n_restarts=1, device="cpu", random_state=0).fit(X)
    acc = cluster_accuracy(y, dec.labels_)
    km = cluster_accuracy(y, KMeans(10, n_init=20, random_state=0).fit_predict(X))
    assert km < 0.80
    # one fit: 0.871 at seed 0; over 45 seeds 0.866 +- 0.028 (worst 0.735)
    assert acc >= 0.84, acc
    assert dec.converged_
    assert dec.autoencoder_.n_components == 5 and dec._batch_size == 64


@pytest.fixture
def target_shapes(monkeypatch):
    """The shapes of the soft assignments each target computation of a fit receives."""
    seen = []
    target = _dec._target_distribution

    def spy(q, sample_weight=None, **kwargs):
        seen.append(q.shape)
        return target(q, sample_weight, **kwargs)

    monkeypatch.setattr(_dec, "_target_distribution", spy)
    return seen


def test_target_is_refreshed_on_the_full_data_every_update_interval(blobs, blobs_ae,
                                                                    target_shapes):
    X, _ = blobs
    seen = target_shapes
    # 400 rows at batch 50: 8 steps per epoch; 3 epochs = 24 steps; refresh at 0, 5, ..., 20
    dec = DECClustering(4, autoencoder=blobs_ae, batch_size=50, update_interval=5, tol=0.0,
                        max_epochs=3, device="cpu", random_state=0).fit(X)
    assert seen == [(400, 4)] * 5
    assert dec.n_iter_ == 3 and not dec.converged_ and len(dec.loss_curve_) == 3
    seen.clear()
    # "auto": half an epoch (4 steps)
    DECClustering(4, autoencoder=blobs_ae, batch_size=50, tol=0.0, max_epochs=1,
                  device="cpu", random_state=0).fit(X)
    assert seen == [(400, 4)] * 2


def _count_full_passes(monkeypatch):
    calls = []
    batched = DECClustering._batched

    def spy(self, module, X, *args, **kwargs):
        calls.append(X.shape[0])
        return batched(self, module, X, *args, **kwargs)

    monkeypatch.setattr(DECClustering, "_batched", spy)
    return calls


def test_epoch_target_needs_one_pass_and_equals_the_full_data_target(blobs, blobs_ae,
                                                                      monkeypatch):
    X, y = blobs
    passes = _count_full_passes(monkeypatch)
    params = dict(autoencoder=blobs_ae, batch_size=50, tol=0.0, max_epochs=3, device="cpu",
                  random_state=0)
    # with a vanishing learning rate the network does not move: the target made from the
    # steps' own assignments is then the full-data target, and so is every loss
    frozen = dict(params, learning_rate=1e-30)
    full = DECClustering(4, update_interval=8, **frozen).fit(X)
    n_full = len(passes)  # the start's and the labels' passes, and 3 refreshes
    passes.clear()
    reused = DECClustering(4, update_interval="epoch", **frozen).fit(X)
    assert len(passes) == n_full - 2  # the first target only
    np.testing.assert_allclose(reused.loss_curve_, full.loss_curve_, rtol=1e-5)
    passes.clear()
    dec = DECClustering(4, update_interval="epoch", **params).fit(X)
    assert len(passes) == n_full - 2 and dec.n_iter_ == 3
    # the tol rule runs at each epoch's end on the labels the steps saw
    dec = DECClustering(4, autoencoder=blobs_ae, update_interval="epoch", tol=0.01,
                        max_epochs=50, device="cpu", random_state=0).fit(X)
    assert dec.converged_ and dec.n_iter_ == 1
    assert adjusted_rand_score(y, dec.labels_) > 0.95  # one epoch of DEC drift on blobs


@pytest.mark.parametrize("n, weight, decoder, expected, mode, lr, alpha, tol", [
    (6000, 0.0, True, None, "epoch", 0.01, 1.0, 1e-3),  # DEC from 5 000 rows: epoch target
    (4999, 0.0, True, 10, "half", 0.01, 1.0, 1e-3),  # smaller: half an epoch (20 steps of 256)
    (6000, 1.0, True, 12, "half", 1e-4, 1.0, 1e-3),  # IDEC: half an epoch (24 steps)
    # small IDEC: minibatch targets, Adam 3e-3, a heavy-tailed kernel, a looser tol
    (4999, 1.0, True, None, "batch", 3e-3, 0.1, 2e-3),
    # passed-through features: nothing to rebuild
    (4999, 1.0, False, 10, "half", 1e-3, 1.0, 1e-3),
])
def test_auto_update_interval(n, weight, decoder, expected, mode, lr, alpha, tol):
    dec = DECClustering(4, reconstruction_weight=weight)
    dec._batch_size, dec._sample_weight = 256, None
    dec.module_ = SimpleNamespace(decoder=object() if decoder else None)
    assert dec._update_mode(n) == mode
    assert dec._update_interval(n) == expected
    assert dec._optimizer_settings(n)[1] == lr
    assert dec._alpha(n, dec.module_.decoder) == alpha
    assert dec._tol(n) == tol
    assert DECClustering(4, reconstruction_weight=weight, alpha=2.0)._alpha(n, object()) == 2.0
    dec.set_params(tol=0.0)
    assert dec._tol(n) == 0.0  # an explicit value, 0 included, is kept


def test_auto_alpha_reaches_the_fitted_kernel(blobs, blobs_ae):
    # "auto" is resolved in fit into the head's kernel; the parameter stays "auto"
    X, _ = blobs
    params = dict(autoencoder=blobs_ae, max_epochs=1, device="cpu", random_state=0)
    idec = DECClustering(4, reconstruction_weight=1.0, **params).fit(X)
    dec = DECClustering(4, **params).fit(X)
    assert idec.alpha == "auto" and idec.module_.head.alpha == 0.1
    assert dec.module_.head.alpha == 1.0


def test_epoch_target_with_weights_refreshes_on_the_full_data(blobs, blobs_ae, monkeypatch):
    # weighted draws leave rows out of an epoch: one full-data refresh per epoch instead
    X, y = blobs
    passes = _count_full_passes(monkeypatch)
    dec = DECClustering(4, autoencoder=blobs_ae, batch_size=50, update_interval="epoch",
                        tol=0.0, max_epochs=2, device="cpu", random_state=0)
    dec.fit(X)
    n_reused = len(passes)
    passes.clear()
    dec.fit(X, sample_weight=np.where(y == 0, 0.0, 1.0))
    assert len(passes) == n_reused + 1  # a refresh at the start of each of 2 epochs
    assert dec.n_iter_ == 2 and np.isfinite(dec.loss_curve_).all()


def test_batch_target_uses_only_minibatches(blobs, blobs_ae, target_shapes):
    X, y = blobs
    seen = target_shapes
    # 400 rows at batch 64: 6 full batches + 16 rows per epoch, never a full-data pass
    dec = DECClustering(4, autoencoder=blobs_ae, batch_size=64, update_interval="batch",
                        optimizer="adam", learning_rate=1e-4, tol=0.0, max_epochs=2, device="cpu",
                        random_state=0).fit(X)
    assert seen == ([(64, 4)] * 6 + [(16, 4)]) * 2
    assert dec.n_iter_ == 2 and not dec.converged_
    assert adjusted_rand_score(y, dec.labels_) == 1.0
    # the tol rule runs once per epoch on the labels of the epoch's minibatches
    dec = DECClustering(4, autoencoder=blobs_ae, batch_size=64, update_interval="batch",
                        tol=0.01, max_epochs=50, device="cpu", random_state=0).fit(X)
    assert dec.converged_ and dec.n_iter_ == 1


def test_batch_target_digits_accuracy(digits):
    X, y = digits
    dec = DECClustering(10, update_interval="batch", n_restarts=1, device="cpu",
                        random_state=0).fit(X)
    acc = cluster_accuracy(y, dec.labels_)
    # 0.873 here; k-means on X: < 0.80; the default full-data target: 0.874
    assert acc >= 0.84, acc
    assert dec.converged_


def test_stops_when_labels_stop_changing(blobs, blobs_ae):
    X, _ = blobs
    dec = DECClustering(4, autoencoder=blobs_ae, batch_size=50, update_interval=4,
                        tol=0.01, max_epochs=50, device="cpu", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        dec.fit(X)
    assert dec.converged_
    assert dec.n_iter_ == 1  # labels are stable from the start on separated blobs
    dec = DECClustering(4, autoencoder=blobs_ae, tol=0.0, max_epochs=2, device="cpu",
                        random_state=0)
    dec.fit(X)  # tol=0 disables the rule without a warning
    assert not dec.converged_ and dec.n_iter_ == 2


def test_max_epochs_zero_keeps_kmeans_centres(blobs, blobs_ae):
    X, _ = blobs
    dec = DECClustering(4, autoencoder=blobs_ae, max_epochs=0, device="cpu",
                        random_state=0).fit(X)
    km = KMeans(4, n_init=20, random_state=np.random.RandomState(0).randint(2**31 - 1))
    Z = blobs_ae.transform(X)
    # same partition as k-means on the pretrained embedding
    assert adjusted_rand_score(KMeans(4, n_init=20, random_state=0).fit_predict(Z),
                               dec.labels_) == 1.0
    assert dec.n_iter_ == 0 and dec.loss_curve_ == []
    del km


def test_fitted_autoencoder_is_reused_not_modified(blobs, blobs_ae):
    X, _ = blobs
    before = {k: v.clone() for k, v in blobs_ae.module_.state_dict().items()}
    dec = DECClustering(4, autoencoder=blobs_ae, reconstruction_weight=1.0, max_epochs=3,
                        learning_rate=1e-2, tol=0.0, device="cpu", random_state=0).fit(X)
    for k, v in blobs_ae.module_.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert dec.autoencoder_ is not blobs_ae
    np.testing.assert_array_equal(dec.autoencoder_.transform(X), blobs_ae.transform(X))
    assert not np.allclose(dec.transform(X), blobs_ae.transform(X))  # encoder fine-tuned


def test_unfitted_autoencoder_is_cloned_and_seeded(blobs):
    X, _ = blobs
    ae = _small_ae(random_state=None, max_epochs=3)
    a = DECClustering(4, autoencoder=ae, max_epochs=1, device="cpu", random_state=1).fit(X)
    b = DECClustering(4, autoencoder=ae, max_epochs=1, device="cpu", random_state=1).fit(X)
    assert not hasattr(ae, "module_")  # the parameter was not fitted
    assert a.autoencoder_.random_state is not None
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)


def test_frozen_autoencoder_survives_clone_and_grid_search(blobs, blobs_ae):
    X, y = blobs
    frozen = FrozenEstimator(blobs_ae)
    dec = DECClustering(4, autoencoder=frozen, max_epochs=1, device="cpu", random_state=0)
    fitted = clone(dec).fit(X)
    np.testing.assert_array_equal(fitted.autoencoder_.transform(X), blobs_ae.transform(X))
    search = GridSearchCV(dec, {"alpha": [0.5, 1.0]}, cv=2).fit(X)
    assert search.best_estimator_.autoencoder_.n_iter_ == blobs_ae.n_iter_


def test_default_autoencoder_is_scaled_to_the_data():
    small = _nested_autoencoder.default_autoencoder(1_797, 64)
    assert small.hidden_layer_sizes == (256, 256) and small.n_components == 5
    assert (small.batch_size, small.max_epochs, small.learning_rate) == (64, 59, 3e-3)
    mnist = _nested_autoencoder.default_autoencoder(70_000, 784)
    assert mnist.hidden_layer_sizes == (500, 500, 2000) and mnist.n_components == 10
    assert (mnist.batch_size, mnist.max_epochs, mnist.learning_rate) == (256, 26, 5e-4)
    mid = _nested_autoencoder.default_autoencoder(8_000, 784)
    assert all(s < m for s, m in zip(mid.hidden_layer_sizes, mnist.hidden_layer_sizes))
    assert _nested_autoencoder.default_autoencoder(100, 3).n_components == 3


@pytest.mark.parametrize("n, expected", [(10, 32), (400, 32), (1_797, 64), (4_000, 128),
                                         (10_000, 256), (70_000, 256)])
def test_auto_batch_size(n, expected):
    assert _nested_autoencoder.auto_batch_size(n) == expected


def test_auto_batch_size_is_resolved_privately(blobs, blobs_ae):
    dec = DECClustering(4, autoencoder=blobs_ae, max_epochs=1, device="cpu",
                        random_state=0).fit(blobs[0])
    assert dec.batch_size == "auto" and dec._batch_size == 32


@pytest.mark.parametrize("params, expected", [
    ({}, ("sgd", 0.01)),  # DEC: the paper's SGD
    # IDEC: Adam, 3e-3 on small data with an autoencoder (its minibatch targets)
    ({"reconstruction_weight": 1.0}, ("adam", 3e-3)),
    ({"reconstruction_weight": 1.0, "update_interval": 4}, ("adam", 3e-3)),
    ({"optimizer": "adam"}, ("adam", 1e-3)),
    ({"optimizer": "sgd", "learning_rate": 0.1}, ("sgd", 0.1)),
    ({"reconstruction_weight": 1.0, "optimizer": "sgd"}, ("sgd", 0.01)),
    ({"learning_rate": 0.05}, ("sgd", 0.05)),
])
def test_auto_optimizer_and_learning_rate(blobs, blobs_ae, monkeypatch, params, expected):
    X, _ = blobs
    built = []
    make = _dec.make_optimizer

    def spy(name, params_, **kwargs):
        built.append((name, kwargs["learning_rate"]))
        return make(name, params_, **kwargs)

    monkeypatch.setattr(_dec, "make_optimizer", spy)
    DECClustering(4, autoencoder=blobs_ae, max_epochs=1, device="cpu", random_state=0,
                  **params).fit(X)
    assert built == [expected]


def test_init_array_and_random(blobs, blobs_ae):
    X, y = blobs
    Z = blobs_ae.transform(X)
    centers = np.stack([Z[y == k].mean(0) for k in range(4)])
    dec = DECClustering(4, autoencoder=blobs_ae, init=centers, max_epochs=0, device="cpu",
                        random_state=0).fit(X)
    np.testing.assert_allclose(dec.cluster_centers_, centers, rtol=1e-6)
    assert np.array_equal(dec.labels_, y)
    with pytest.raises(ValueError, match=r"\(n_clusters, n_components\) = \(4, 2\)"):
        DECClustering(4, autoencoder=blobs_ae, init=centers[:, :1], device="cpu").fit(X)
    dec = DECClustering(4, autoencoder=blobs_ae, init="random", max_epochs=2, device="cpu",
                        random_state=0).fit(X)
    assert dec.cluster_centers_.shape == (4, 2)


def test_bad_input_gives_clear_errors(blobs):
    X, _ = blobs
    with pytest.raises(ValueError, match="n_samples=3 should be >= n_clusters=4"):
        DECClustering(4, autoencoder="passthrough", device="cpu").fit(X[:3])
    with pytest.raises(ValueError, match="n_clusters"):
        DECClustering(0, device="cpu").fit(X)
    with pytest.raises(ValueError, match="'init' parameter"):
        DECClustering(4, init="kmeans++", device="cpu").fit(X)
    with pytest.raises(ValueError, match="'optimizer' parameter"):
        DECClustering(4, optimizer="lbfgs", device="cpu").fit(X)
    with pytest.raises(ValueError, match="'learning_rate' parameter"):
        DECClustering(4, learning_rate="fast", device="cpu").fit(X)
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        DECClustering(4, device="cpu").fit(bad)
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        DECClustering(4, device="cpu").fit(bad)
    with pytest.raises(ValueError, match="passthrough"):
        DECClustering(4, autoencoder="passthrough", reconstruction_weight=1.0,
                      device="cpu").fit(X)
    with pytest.raises(TypeError, match="AutoEncoder"):
        DECClustering(4, autoencoder=KMeans(2), device="cpu").fit(X)
    ae = _small_ae(max_epochs=1).fit(X[:, :5])
    with pytest.raises(ValueError, match="expects 5 features"):
        DECClustering(4, autoencoder=ae, device="cpu").fit(X)


def test_collapsed_cluster_warns(blobs):
    X, _ = blobs
    # 5 centres for 4 blobs, one of them far from every point: it ends empty.
    centers = np.vstack([KMeans(4, n_init=5, random_state=0).fit(X).cluster_centers_,
                         np.full((1, X.shape[1]), 1e3)])
    with pytest.warns(ConvergenceWarning, match="1 of n_clusters=5 clusters are empty"):
        DECClustering(5, autoencoder="passthrough", init=centers, max_epochs=0,
                      device="cpu").fit(X)


def test_unscaled_input_gives_finite_results():
    X = np.random.RandomState(0).normal(100, 1, size=(60, 4))
    dec = DECClustering(3, autoencoder=_small_ae(max_epochs=2, batch_size=16), max_epochs=2,
                        device="cpu", random_state=0).fit(X)
    assert np.isfinite(dec.predict_proba(X)).all()
    assert np.isfinite(dec.transform(X)).all()


@pytest.mark.usefixtures("compute_in_input_dtype")
def test_pickle_round_trip_and_dtypes(blobs, blobs_ae):
    X, _ = blobs
    dec = DECClustering(4, autoencoder=blobs_ae, max_epochs=2, device="cpu",
                        random_state=0).fit(X)
    again = pickle.loads(pickle.dumps(dec))
    np.testing.assert_array_equal(again.predict_proba(X), dec.predict_proba(X))
    assert dec.predict_proba(X.astype(np.float64)).dtype == np.float64
    dec64 = DECClustering(4, autoencoder=blobs_ae, max_epochs=2, device="cpu",
                          random_state=0).fit(X.astype(np.float64))
    assert dec64.module_.head.cluster_centers.dtype == torch.float64
    np.testing.assert_allclose(dec64.predict_proba(X), dec.predict_proba(X), atol=1e-4)
    assert np.array_equal(dec64.labels_, dec.labels_)


@pytest.mark.parametrize(("params", "expected"), [
    ({}, _dec.SMALL_CODE_EMBEDDING_SCALE),  # the small-data autoencoder DEC pretrains
    ({"reconstruction_weight": 1.0}, 1.0),  # IDEC: 1
    ({"autoencoder": "passthrough"}, 1.0),  # the features themselves
    ({"autoencoder": "user"}, 1.0),  # the user's own network
    ({"embedding_scale": 3.0, "autoencoder": "user"}, 3.0),  # an explicit value is kept
    ({"embedding_scale": 3.0, "autoencoder": "passthrough"}, 3.0),
])
def test_auto_embedding_scale(params, expected):
    # the Student's t kernel sees the initial embedding with a mean per-dimension
    # spread of the resolved embedding_scale
    X, _ = make_blobs(64, n_features=32, centers=3, random_state=0)
    X = (X / np.abs(X).max()).astype(np.float32)
    params = dict(params)
    if params.get("autoencoder") == "user":
        params["autoencoder"] = _small_ae(max_epochs=5)
    dec = DECClustering(3, n_restarts=1, max_epochs=0, device="cpu", random_state=0,
                        **params).fit(X)
    assert dec.get_params()["embedding_scale"] == params.get("embedding_scale", "auto")
    Z = dec.transform(X)  # max_epochs=0: the initial embedding
    spread = float(dec.module_.scale) * Z.std(axis=0).mean()
    assert spread == pytest.approx(expected, rel=1e-4)


def test_embedding_scale_none_uses_the_raw_embedding(blobs, blobs_ae):
    X, _ = blobs
    dec = DECClustering(4, autoencoder=blobs_ae, embedding_scale=None, max_epochs=0,
                        device="cpu", random_state=0).fit(X)
    assert float(dec.module_.scale) == 1.0


def test_auto_learning_rate_of_adam_is_smaller_on_large_data():
    idec = DECClustering(reconstruction_weight=1.0)
    idec.module_ = SimpleNamespace(decoder=None)  # passed-through features
    assert idec._optimizer_settings(70_000) == ("adam", 1e-4)
    assert idec._optimizer_settings(1_797) == ("adam", 1e-3)
    idec.module_ = SimpleNamespace(decoder=object())  # an autoencoder to rebuild through
    assert idec._optimizer_settings(1_797) == ("adam", 3e-3)
    assert DECClustering()._optimizer_settings(70_000) == ("sgd", 0.01)


def test_auto_autoencoder_passes_few_features_through():
    from sklearn.datasets import load_wine
    from sklearn.preprocessing import StandardScaler

    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    dec = DECClustering(3, max_epochs=5, device="cpu", random_state=0).fit(X)
    assert dec.autoencoder == "auto" and dec.autoencoder_ is None  # DEC on X itself
    assert cluster_accuracy(y, dec.labels_) > 0.93  # KMeans: 0.966
    # IDEC too: the features reconstruct themselves, the reconstruction term is zero
    idec = DECClustering(3, reconstruction_weight=1.0, device="cpu", random_state=0).fit(X)
    assert idec.autoencoder_ is None and idec.n_restarts_ == 1
    km = KMeans(3, n_init=10, random_state=0).fit_predict(X)
    assert cluster_accuracy(y, idec.labels_) >= cluster_accuracy(y, km)
    # an autoencoder given to IDEC is pretrained and its decoder kept
    idec = DECClustering(3, reconstruction_weight=1.0, max_epochs=1, device="cpu",
                         random_state=0)
    monkey = _nested_autoencoder.default_autoencoder(*X.shape, max_epochs=1)
    idec.set_params(autoencoder=monkey).fit(X)
    assert isinstance(idec.autoencoder_, AutoEncoder)
