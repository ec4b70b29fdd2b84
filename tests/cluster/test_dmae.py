"""Tests for the DMAE torch modules (skdeepclust.nn.dmae) and DMAEClustering."""

import io
import pickle
import warnings

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.special import softmax as np_softmax
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import StandardScaler

from skdeepclust.cluster import DMAEClustering
from skdeepclust.cluster._dmae_learning_rates import learning_rates
from skdeepclust.metrics import assignment_sparsity, cluster_accuracy
from skdeepclust.nn.dissimilarities import get_dissimilarity, mahalanobis
from skdeepclust.nn.dmae import (
    DissimilarityMixtureAutoencoder,
    DissimilarityMixtureEncoder,
    dmae_loss,
    plus_plus_init,
    precision_factor_from_partition,
)
from skdeepclust.representation import AutoEncoder

F64 = torch.float64


def _head(cls=DissimilarityMixtureAutoencoder, seed=0, **kwargs):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return cls(3, 2, dtype=F64, **kwargs)


def _points(n=11, seed=1):
    return torch.from_numpy(np.random.RandomState(seed).randn(n, 2))


# ------------------------------------------------------------------ DM encoder
@pytest.mark.parametrize("name", ["euclidean", "manhattan", "cosine", "mahalanobis"])
def test_encoder_matches_formula(name):
    head = _head(DissimilarityMixtureEncoder, alpha=2.5, dissimilarity=name)
    with torch.no_grad():
        head.mixing_logits.copy_(torch.tensor([0.3, -1.0, 0.5], dtype=F64))
        if head.has_precision:
            head.covariance_raw.normal_(std=0.5)
    x = _points()
    D = head.dissimilarities(x).detach().numpy()
    precision = head.precisions()
    expected_D = get_dissimilarity(name).pairwise(x, head.centers, precision).detach().numpy()
    np.testing.assert_allclose(D, expected_D)
    log_pi = np.log(np_softmax([0.3, -1.0, 0.5]))
    S = head(x).detach().numpy()
    np.testing.assert_allclose(S, np_softmax(-2.5 * D + log_pi, axis=1), rtol=1e-12)
    np.testing.assert_allclose(S.sum(1), 1.0)
    np.testing.assert_allclose(head.mixing_weights().detach().sum().item(), 1.0)


def test_large_alpha_gives_hard_nearest_centre_assignments():
    head = _head(DissimilarityMixtureEncoder, alpha=1e4)
    x = _points(50)
    S = head(x).detach()
    nearest = head.dissimilarities(x).argmin(1)
    assert torch.equal(S.argmax(1), nearest)
    assert (S.max(1).values > 1 - 1e-6).mean(dtype=F64) > 0.9


# ------------------------------------------------------------------ DM autoencoder
@pytest.mark.parametrize("name", ["euclidean", "chebyshev", "mahalanobis", "kullback_leibler"])
def test_autoencoder_outputs_and_loss_match_formulas(name):
    head = _head(alpha=3.0, dissimilarity=name)
    with torch.no_grad():
        head.mixing_logits.copy_(torch.tensor([0.1, 0.7, -0.4], dtype=F64))
        if head.has_precision:
            head.covariance_raw.normal_(std=0.5)
    x = _points()
    out = head(x)
    S = out.assignments.detach().numpy()
    C = head.centers.detach().numpy()
    pi = np_softmax([0.1, 0.7, -0.4])
    np.testing.assert_allclose(np.exp(out.log_assignments.detach().numpy()), S, rtol=1e-12)
    np.testing.assert_allclose(out.centroids.detach().numpy(), S @ C, rtol=1e-12)
    np.testing.assert_allclose(out.log_mixing.detach().numpy(), np.log(S @ pi), rtol=1e-12)
    d = get_dissimilarity(name)
    if head.has_precision:
        P = head.precisions().detach().numpy()
        prec_tilde = np.einsum("nk,kij->nij", S, P)
        np.testing.assert_allclose(out.precisions.detach().numpy(), prec_tilde, rtol=1e-12)
        diff = x.numpy() - S @ C
        rec = np.einsum("ni,nij,nj->n", diff, prec_tilde, diff)
    else:
        assert out.precisions is None
        rec = np.diag(d.pairwise(x, out.centroids).detach().numpy())
    loss = head.loss(x).detach().numpy()
    if name == "kullback_leibler":  # the KL variant has no mixing term
        np.testing.assert_allclose(loss, rec, rtol=1e-10)
    else:
        np.testing.assert_allclose(loss, rec - np.log(S @ pi) / 3.0, rtol=1e-10)
    np.testing.assert_allclose(
        dmae_loss(x, out, head.dissimilarity, 3.0).detach().numpy(), loss, rtol=1e-12
    )


def test_log_mixing_is_stable_for_hard_assignments():
    head = _head(alpha=1e6)
    out = head(_points() * 100)
    assert torch.isfinite(out.log_mixing).all()
    np.testing.assert_allclose(
        out.log_mixing.detach().numpy(),
        logsumexp(out.log_assignments.detach().numpy() + np.log(1 / 3), axis=1),
    )


@pytest.mark.parametrize(
    "name", ["euclidean", "mahalanobis", "kullback_leibler", "toroidal_euclidean"]
)
def test_gradients_reach_every_parameter(name):
    head = _head(alpha=2.0, dissimilarity=name)
    x = _points()
    head.loss(x).mean().backward()
    for pname, param in head.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), pname
        if pname != "mixing_logits" or name != "kullback_leibler":
            assert param.grad.abs().sum() > 0, pname


def test_frozen_parameters_get_no_gradient():
    head = _head(dissimilarity="mahalanobis", learn_mixing=False, learn_precision=False)
    assert [n for n, p in head.named_parameters() if p.requires_grad] == ["centers"]


def test_precision_parametrisation():
    rng = np.random.RandomState(3)
    A = rng.randn(3, 2, 2)
    P = torch.from_numpy(A @ A.transpose(0, 2, 1) + np.eye(2))
    raw = _head(dissimilarity="mahalanobis", normalize_precision=False)
    raw.set_precisions(P)
    np.testing.assert_allclose(raw.precisions().detach(), P, rtol=1e-10)
    np.testing.assert_allclose(raw.covariances().detach(), torch.linalg.inv(P), rtol=1e-10)
    L = torch.linalg.cholesky(P)
    raw.set_precision_factor(L)  # the dmae initializers' Cholesky factors
    np.testing.assert_allclose(raw.precisions().detach(), P, rtol=1e-10)
    unit = _head(dissimilarity="mahalanobis")
    unit.set_precisions(P)
    got = unit.precisions().detach()
    np.testing.assert_allclose(torch.linalg.det(got), 1.0, rtol=1e-10)
    # same shape: P / det(P)^(1/d)
    np.testing.assert_allclose(got, P / torch.linalg.det(P).sqrt()[:, None, None], rtol=1e-10)
    np.testing.assert_allclose(unit.covariances().detach(), torch.linalg.inv(got), rtol=1e-10)
    # zeros = identity, and no precision for a dissimilarity without one
    np.testing.assert_allclose(
        _head(dissimilarity="mahalanobis").precisions().detach(), np.eye(2)[None].repeat(3, 0)
    )
    assert _head().precisions() is None and _head().covariances() is None
    with pytest.raises(ValueError, match="no precision"):
        _head().set_precisions(P)


def test_covariance_floor_bounds_the_precision():
    floor = 0.1
    head = _head(dissimilarity="mahalanobis", normalize_precision=False, covariance_floor=floor)
    S = torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=F64).expand(3, 2, 2)
    head.set_covariances(S)  # represented exactly when S - floor * I is positive definite
    np.testing.assert_allclose(head.covariances().detach(), S, rtol=1e-10)
    with torch.no_grad():  # a degenerate factor: the covariance is the floor itself
        head.covariance_raw.fill_(0.0).diagonal(dim1=-2, dim2=-1).fill_(-30.0)
    np.testing.assert_allclose(head.precisions().detach(), np.eye(2)[None].repeat(3, 0) / floor)
    # with unit determinant, the largest precision eigenvalue stays bounded
    unit = _head(dissimilarity="mahalanobis", covariance_floor=floor)
    with torch.no_grad():
        unit.covariance_raw.zero_()
        unit.covariance_raw[:, 0, 0] = -30.0  # a direction with no variance
        unit.covariance_raw[:, 1, 1] = 1.0
    top = torch.linalg.eigvalsh(unit.precisions().detach()).max()
    assert top.item() == pytest.approx(np.sqrt((np.exp(2.0) + floor) / floor), rel=1e-6)


def test_covariance_scale_is_the_unit_of_the_factor():
    S = torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=F64).expand(3, 2, 2)
    head = _head(dissimilarity="mahalanobis", normalize_precision=False, covariance_scale=4.0,
                 covariance_floor=0.1)
    head.set_covariances(S)
    np.testing.assert_allclose(head.covariances().detach(), S, rtol=1e-10)
    plain = _head(dissimilarity="mahalanobis", normalize_precision=False, covariance_floor=0.1)
    plain.set_covariances(S)
    np.testing.assert_allclose(plain.covariance_raw.detach().tril(-1),  # in units of sqrt(4)
                               2.0 * head.covariance_raw.detach().tril(-1), rtol=1e-10)
    with torch.no_grad():
        head.covariance_raw.zero_()  # zeros: scale * I + floor * I
    np.testing.assert_allclose(head.covariances().detach(), 4.1 * np.eye(2)[None].repeat(3, 0))
    with pytest.raises(ValueError, match="covariance_scale should be > 0"):
        _head(dissimilarity="mahalanobis", covariance_scale=0.0)


def test_state_dict_round_trip_and_repr():
    head = _head(alpha=7.0, dissimilarity="minkowski", dissimilarity_params={"p": 3.0})
    buffer = io.BytesIO()
    torch.save(head.state_dict(), buffer)
    buffer.seek(0)
    other = _head(seed=5, alpha=1.0, dissimilarity="minkowski", dissimilarity_params={"p": 3.0})
    other.load_state_dict(torch.load(buffer, weights_only=True))
    x = _points()
    torch.testing.assert_close(other(x).centroids, head(x).centroids)
    assert float(other.alpha) == 7.0
    assert "alpha=7" in repr(head) and "minkowski" in repr(head)


def test_module_construction_is_deterministic_under_fork_rng():
    torch.testing.assert_close(_head(seed=3).centers, _head(seed=3).centers)
    assert not torch.equal(_head(seed=3).centers, _head(seed=4).centers)


# ------------------------------------------------------------------ initializers
def _blobs(seed=0, n_per=30, centres=((0, 0), (10, 0), (0, 10), (10, 10))):
    rng = np.random.RandomState(seed)
    X = np.concatenate([rng.randn(n_per, 2) * 0.5 + c for c in centres])
    return torch.from_numpy(X)


def test_plus_plus_init_spreads_centres_over_blobs():
    X = _blobs()
    d = get_dissimilarity("euclidean")
    for seed in range(5):
        centers = plus_plus_init(X, 4, d, n_iter=100, generator=torch.Generator().manual_seed(seed))
        # centres are rows of X, one per blob
        assert all((X == c).all(1).any() for c in centers)
        blob = (centers[:, 0] > 5).long() + 2 * (centers[:, 1] > 5).long()
        assert sorted(blob.tolist()) == [0, 1, 2, 3], seed


def test_plus_plus_init_is_reproducible_and_works_with_any_dissimilarity():
    X = _blobs()
    for name in ["manhattan", "cosine", "mahalanobis", "kullback_leibler"]:
        d = get_dissimilarity(name)
        a = plus_plus_init(X, 3, d, n_iter=20, generator=torch.Generator().manual_seed(1))
        b = plus_plus_init(X, 3, d, n_iter=20, generator=torch.Generator().manual_seed(1))
        assert torch.equal(a, b) and a.shape == (3, 2)
    with pytest.raises(ValueError, match="n_samples=2 should be >= n_clusters=3"):
        plus_plus_init(X[:2], 3, get_dissimilarity("euclidean"))


def test_precision_factor_from_partition_is_cholesky_of_inverse_covariance():
    rng = np.random.RandomState(0)
    X = np.concatenate([rng.randn(40, 2) @ [[2, 0], [1, 0.5]], rng.randn(30, 2) + 5])
    labels = np.repeat([0, 1], [40, 30])
    L = precision_factor_from_partition(
        torch.from_numpy(X), torch.from_numpy(labels), 2, reg_covar=0.0
    ).numpy()
    for k in range(2):
        expected = np.linalg.cholesky(np.linalg.inv(np.cov(X[labels == k].T)))
        np.testing.assert_allclose(L[k], expected, rtol=1e-8)
    # an empty cluster falls back to the overall covariance
    L3 = precision_factor_from_partition(torch.from_numpy(X), torch.from_numpy(labels), 3)
    assert torch.isfinite(L3).all()
    np.testing.assert_allclose(L3[2] @ L3[2].T, np.linalg.inv(np.cov(X.T)), rtol=1e-4)


def test_float32_flat_cluster_initialises_with_a_covariance_floor():
    # a cluster flat in 6 of 10 (rotated) directions, float32, floor above its variance
    # there: the floored covariance is too ill-conditioned for a float32 Cholesky (this
    # raised on MNIST autoencoder codes); the initialisation now runs in float64
    rng = np.random.RandomState(0)
    X = rng.randn(300, 10)
    X[:100, 4:] *= 1e-2
    X = torch.from_numpy((3 * X @ np.linalg.qr(rng.randn(10, 10))[0]).astype(np.float32))
    labels = torch.tensor([0] * 100 + [1] * 200)
    floor = 0.01 * float(X.var(0).mean())
    head = DissimilarityMixtureAutoencoder(2, 10, dissimilarity="mahalanobis",
                                           covariance_floor=floor)
    head.set_precision_factor(precision_factor_from_partition(X, labels, 2))
    assert head.covariance_raw.dtype == torch.float32
    cov = head.covariances().detach().double()
    assert torch.isfinite(cov).all() and torch.isfinite(head.precisions().detach()).all()
    # the shape is the floored empirical covariance of each cluster, unit determinant
    for k in range(2):
        emp = torch.cov(X[labels == k].double().T) + floor * torch.eye(10, dtype=torch.float64)
        emp = emp / torch.linalg.det(emp) ** 0.1
        np.testing.assert_allclose(cov[k], emp, rtol=2e-3, atol=2e-3 * float(emp.abs().max()))


def test_unit_determinant_precision_learns_cluster_shape():
    """Minimising the DMAE loss recovers the volume-normalised inverse covariance."""
    rng = np.random.RandomState(0)
    cov = np.array([[3.0, 1.2], [1.2, 1.0]])
    X = torch.from_numpy(rng.multivariate_normal([0, 0], cov, size=500))
    with torch.random.fork_rng():
        torch.manual_seed(0)
        head = DissimilarityMixtureAutoencoder(
            1, 2, alpha=1.0, dissimilarity="mahalanobis", dtype=F64
        )
    with torch.no_grad():
        head.centers.zero_()
    opt = torch.optim.Adam(head.parameters(), lr=0.05)
    for _ in range(200):
        opt.zero_grad()
        head.loss(X).mean().backward()
        opt.step()
    target = np.linalg.inv(np.cov(X.numpy().T))
    target /= np.sqrt(np.linalg.det(target))
    np.testing.assert_allclose(head.precisions().detach().numpy(), target[None], atol=0.02)


# ====================================================================================
# DMAEClustering
# ====================================================================================
FAST = dict(device="cpu", random_state=0)


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(400, centers=4, cluster_std=0.8, random_state=3)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def aniso():
    """scikit-learn's anisotropic blobs: one shared, strongly skewed covariance."""
    X, y = make_blobs(n_samples=600, random_state=170)
    transformation = np.array([[0.6, -0.6], [-0.4, 0.8]])
    return StandardScaler().fit_transform(X @ transformation), y, transformation


@pytest.mark.parametrize("init", ["k-means++", "kmeans"])
def test_shallow_large_alpha_matches_kmeans(blobs, init):
    X, y = blobs
    km = KMeans(4, n_init=10, random_state=0).fit(X)
    dmae = DMAEClustering(4, alpha=1e3, init=init, learning_rate=0.02, batch_size=64,
                          max_epochs=40, **FAST).fit(X)
    assert adjusted_rand_score(km.labels_, dmae.labels_) > 0.99
    assert adjusted_rand_score(y, dmae.labels_) > 0.99
    order = np.argsort(dmae.cluster_centers_[:, 0])
    np.testing.assert_allclose(
        dmae.cluster_centers_[order], km.cluster_centers_[np.argsort(km.cluster_centers_[:, 0])],
        atol=0.1,
    )
    # mixing weights learn the (equal) cluster proportions
    np.testing.assert_allclose(dmae.mixing_weights_, 0.25, atol=0.03)


@pytest.mark.usefixtures("compute_in_input_dtype")
def test_mahalanobis_separates_anisotropic_blobs_kmeans_cannot(aniso):
    X, y, transformation = aniso
    km = KMeans(3, n_init=10, random_state=0).fit(X)
    assert adjusted_rand_score(y, km.labels_) < 0.7
    dmae = DMAEClustering(3, dissimilarity="mahalanobis", alpha=10.0, learning_rate=1e-2,
                          batch_size=64, max_epochs=100, volume=False, **FAST).fit(X)
    assert adjusted_rand_score(y, dmae.labels_) >= 0.95
    P, C = dmae.precisions_, dmae.covariances_
    assert P.shape == C.shape == (3, 2, 2)
    np.testing.assert_allclose(np.linalg.det(P), 1.0, rtol=1e-6)
    np.testing.assert_allclose(P @ C, np.broadcast_to(np.eye(2), (3, 2, 2)), atol=1e-8)
    # every learned covariance has the shape of the true (shared) cluster covariance
    for k in range(3):
        truth = np.cov(X[y == np.bincount(y[dmae.labels_ == k]).argmax()].T)
        truth /= np.sqrt(np.linalg.det(truth))
        np.testing.assert_allclose(C[k], truth, rtol=0.15)
        main_axis = np.linalg.eigh(C[k])[1][:, -1]
        assert abs(main_axis @ np.linalg.eigh(truth)[1][:, -1]) > 0.999
    # transform is the squared Mahalanobis distance to the centres
    expected = mahalanobis(torch.from_numpy(X), torch.from_numpy(dmae.cluster_centers_),
                           torch.from_numpy(P)).numpy()
    np.testing.assert_allclose(dmae.transform(X), expected, rtol=1e-8)


@pytest.mark.usefixtures("compute_in_input_dtype")
def test_predict_proba_predict_transform_and_fit_predict_agree(blobs):
    X, _ = blobs
    dmae = DMAEClustering(4, alpha=5.0, max_epochs=5, **FAST)
    labels = dmae.fit_predict(X)
    np.testing.assert_array_equal(labels, dmae.labels_)
    np.testing.assert_array_equal(labels, dmae.predict(X))
    proba = dmae.predict_proba(X)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    np.testing.assert_array_equal(proba.argmax(1), labels)
    D = dmae.transform(X)
    expected = np.log(dmae.mixing_weights_) - 5.0 * D
    expected = np.exp(expected - expected.max(1, keepdims=True))
    np.testing.assert_allclose(proba, expected / expected.sum(1, keepdims=True), rtol=1e-8)
    np.testing.assert_allclose(
        D, np.linalg.norm(X[:, None] - dmae.cluster_centers_[None], axis=-1), rtol=1e-10
    )
    np.testing.assert_allclose(dmae.embed(X), X)
    np.testing.assert_allclose(dmae.reconstruct(X), proba @ dmae.cluster_centers_, rtol=1e-8)
    # score is minus the mean DMAE loss
    out = dmae.module_(torch.from_numpy(X))
    np.testing.assert_allclose(
        dmae.score(X), -dmae.module_.loss(torch.from_numpy(X), out).mean().item(), rtol=1e-10
    )
    assert not hasattr(dmae, "precisions_") and not hasattr(dmae, "autoencoder_")


def test_alpha_controls_sparsity(blobs):
    X, _ = blobs
    counts = [
        assignment_sparsity(
            DMAEClustering(4, alpha=a, max_epochs=0, **FAST).fit(X).predict_proba(X)
        ).mean()
        for a in (1.0, 10.0, 30.0, 100.0)
    ]
    assert counts[0] == 4.0 and counts[-1] == 1.0  # dense -> hard assignments
    assert counts[0] > counts[1] > counts[2] > counts[3]


def test_fixed_mixing_weights_stay_uniform(blobs):
    X, _ = blobs
    dmae = DMAEClustering(4, learn_mixing=False, max_epochs=3, **FAST).fit(X)
    np.testing.assert_allclose(dmae.mixing_weights_, 0.25)


def test_mixing_weights_learn_unbalanced_proportions():
    X, y = make_blobs([300, 100], centers=[[0, 0], [6, 0]], random_state=0)
    dmae = DMAEClustering(2, alpha=10.0, learning_rate=0.05, batch_size=100, max_epochs=60,
                          **FAST).fit(X)
    assert adjusted_rand_score(y, dmae.labels_) == 1.0
    np.testing.assert_allclose(np.sort(dmae.mixing_weights_), [0.25, 0.75], atol=0.03)


def test_toroidal_blobs_across_the_seam():
    """Two blobs on the circle [0, 1): one straddles the wrap-around at 0 == 1."""
    rng = np.random.RandomState(0)
    centres = np.array([[0.0, 0.5], [0.5, 0.5]])
    y = np.repeat([0, 1], 100)
    X = (centres[y] + 0.05 * rng.randn(200, 2)) % 1.0
    kw = dict(alpha=100.0, init="k-means++", learning_rate=0.01, batch_size=50,
              max_epochs=30, **FAST)
    torus = DMAEClustering(2, dissimilarity="toroidal_euclidean", interval=[1.0, 1.0], **kw)
    assert adjusted_rand_score(y, torus.fit_predict(X)) == 1.0
    # the Euclidean model cuts the seam blob in two
    assert adjusted_rand_score(y, DMAEClustering(2, **kw).fit_predict(X)) < 0.5


def test_kullback_leibler_clusters_distributions():
    rng = np.random.RandomState(0)
    prototypes = np.array([[0.7, 0.1, 0.1, 0.1], [0.1, 0.1, 0.1, 0.7], [0.25] * 4])
    y = np.repeat([0, 1, 2], 60)
    X = np.stack([rng.dirichlet(200 * prototypes[k]) for k in y])
    dmae = DMAEClustering(3, dissimilarity="kullback_leibler", kl_normalization="identity",
                          alpha=50.0, max_epochs=10, **FAST).fit(X)
    assert adjusted_rand_score(y, dmae.labels_) > 0.95
    assert dmae.transform(X).min() > -1e-12  # a divergence


def dot_dissimilarity(X, Y):
    """A user dissimilarity (module level, so the estimator pickles)."""
    return -X @ Y.T


def precision_dissimilarity(X, Y, precision):
    """A user dissimilarity that takes learned precision matrices."""
    return mahalanobis(X, Y, precision)


@pytest.mark.usefixtures("compute_in_input_dtype")
@pytest.mark.parametrize("volume", [False, True])
def test_user_callable_with_precision_learns_precisions(aniso, volume):
    X, _, _ = aniso
    kw = dict(alpha=10.0, volume=volume, learning_rate=1e-2, batch_size=64, max_epochs=5,
              **FAST)
    dmae = DMAEClustering(3, dissimilarity=precision_dissimilarity, **kw).fit(X)
    ref = DMAEClustering(3, dissimilarity="mahalanobis", **kw).fit(X)
    np.testing.assert_allclose(dmae.precisions_, ref.precisions_, rtol=1e-8)
    assert dmae._volume is volume and ref._volume is volume


def test_user_callable_dissimilarity_and_pickle(blobs):
    X, _ = blobs
    dmae = DMAEClustering(4, dissimilarity=dot_dissimilarity, alpha=1.0, max_epochs=2,
                          **FAST).fit(X)
    np.testing.assert_allclose(dmae.transform(X), -X @ dmae.cluster_centers_.T, rtol=1e-10)
    loaded = pickle.loads(pickle.dumps(dmae))
    np.testing.assert_array_equal(loaded.predict_proba(X), dmae.predict_proba(X))


def test_float32_in_float32_out_and_agrees_with_float64(blobs):
    X, _ = blobs
    kw = dict(alpha=10.0, max_epochs=3, **FAST)
    m32 = DMAEClustering(4, **kw).fit(X.astype(np.float32))
    m64 = DMAEClustering(4, **kw).fit(X)
    assert m32.transform(X.astype(np.float32)).dtype == np.float32
    assert m32.predict_proba(X).dtype == np.float64  # output follows the input dtype
    np.testing.assert_allclose(m32.cluster_centers_, m64.cluster_centers_, atol=1e-4)
    assert (m32.labels_ == m64.labels_).mean() > 0.99


@pytest.fixture(scope="module")
def small_digits():
    from sklearn.datasets import load_digits

    data = load_digits()
    return (data.data[:600] / 16.0), data.target[:600]


def _small_ae(**kwargs):
    params = dict(hidden_layer_sizes=(32,), max_epochs=20, learning_rate=3e-3, batch_size=32)
    return AutoEncoder(8, **{**params, **FAST, **kwargs})


@pytest.mark.usefixtures("compute_in_input_dtype")
def test_deep_dmae_pretrains_and_fine_tunes_jointly(small_digits):
    X, y = small_digits
    ae = _small_ae()
    dmae = DMAEClustering(10, autoencoder=ae, alpha=10.0, max_epochs=10, batch_size=64,
                          **FAST).fit(X)
    assert not hasattr(ae, "module_")  # the nested estimator is cloned, not fitted
    assert isinstance(dmae.autoencoder_, AutoEncoder)
    assert len(dmae.pretrain_loss_curve_) == dmae.autoencoder_.n_iter_ > 0
    assert dmae.cluster_centers_.shape == (10, 8) and dmae.embed(X).shape == (600, 8)
    assert dmae.reconstruct(X).shape == X.shape
    assert cluster_accuracy(y, dmae.labels_) > 0.6
    # joint training moved the encoder away from the pretrained one
    pretrained = _small_ae().fit(X)
    assert not np.allclose(dmae.autoencoder_.transform(X), pretrained.transform(X))
    np.testing.assert_allclose(dmae.embed(X), dmae.autoencoder_.transform(X), rtol=1e-6)
    # score = -(clustering_weight * DMAE + reconstruction_weight * reconstruction), where
    # the decoder reconstructs the soft-assigned centroid, as in the DMAE source
    # (the mixture sees the codes divided by code_scale_, the spread of the training codes)
    x = torch.from_numpy(X)
    h = dmae.autoencoder_.module_.encode(x)
    scale = dmae.code_scale_
    assert scale == pytest.approx(float(h.detach().var(0, unbiased=False).mean().sqrt()),
                                  rel=1e-9)
    out = dmae.module_(h / scale)
    x_hat = dmae.autoencoder_.module_.decode(out.centroids * scale)
    np.testing.assert_allclose(dmae.reconstruct(X), x_hat.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(dmae.cluster_centers_, dmae.module_.centers.detach() * scale)
    dist = ((h / scale)[:, None] - dmae.module_.centers[None]).pow(2).sum(-1).sqrt()
    np.testing.assert_allclose(dmae.transform(X), dist.detach().numpy(), rtol=1e-6)
    expected = dmae.module_.loss(h / scale).mean() + ((x_hat - x) ** 2).mean()
    assert dmae.score(X) == pytest.approx(-expected.item(), rel=1e-8)
    code = clone(dmae).set_params(reconstruct_from="code", max_epochs=0).fit(X)
    np.testing.assert_allclose(
        code.reconstruct(X), code.autoencoder_.inverse_transform(code.embed(X)), rtol=1e-6
    )
    # pickles and predicts the same
    loaded = pickle.loads(pickle.dumps(dmae))
    np.testing.assert_array_equal(loaded.predict(X), dmae.predict(X))


@pytest.mark.usefixtures("compute_in_input_dtype")
def test_normalized_codes_make_the_deep_loss_scale_invariant(small_digits):
    X, _ = small_digits
    ae = _small_ae(max_epochs=5).fit(X)
    dmae = DMAEClustering(10, autoencoder=ae, alpha=10.0, max_epochs=0, **FAST).fit(X)
    x = torch.from_numpy(X[:100])
    base = dmae._objective(x, training=True)
    # scaling every code by c (and the decoder's input by 1/c) changes nothing
    enc = dmae.autoencoder_.module_.encoder
    dec = dmae.autoencoder_.module_.decoder
    with torch.no_grad():
        enc[2].weight.mul_(3.0), enc[2].bias.mul_(3.0)
        dec[0].weight.div_(3.0)
    np.testing.assert_allclose(dmae._objective(x, training=True).detach(), base.detach(),
                               rtol=1e-6)
    raw = clone(dmae).set_params(normalize_codes=False).fit(X)
    assert raw.code_scale_ == 1.0
    np.testing.assert_allclose(raw.cluster_centers_, raw.module_.centers.detach().numpy())


@pytest.mark.usefixtures("compute_in_input_dtype")
def test_mixture_epochs_fit_the_mixture_alone_on_the_pretrained_codes(small_digits):
    X, _ = small_digits
    ae = _small_ae(max_epochs=5).fit(X)
    # n_init given: "auto" restarts the shallow model's k-means more than the deep one's
    kw = dict(dissimilarity="mahalanobis", alpha=10.0, max_epochs=0, n_init=10, **FAST)
    init = DMAEClustering(10, autoencoder=ae, mixture_epochs=0, **kw).fit(X)
    mixed = DMAEClustering(10, autoencoder=ae, mixture_epochs=10, **kw).fit(X)
    # the encoder is untouched (max_epochs=0); the mixture moved and fits the codes better
    np.testing.assert_allclose(mixed.embed(X), ae.transform(X), rtol=1e-6)
    assert not np.allclose(mixed.cluster_centers_, init.cluster_centers_)
    assert not np.allclose(mixed.precisions_, init.precisions_)
    H = torch.from_numpy(ae.transform(X)) / mixed.code_scale_
    with torch.no_grad():
        assert mixed.module_.loss(H).mean() < init.module_.loss(H).mean()
    assert init.mixture_loss_curve_ == [] and len(mixed.mixture_loss_curve_) == 10
    # it is the shallow model on the scaled codes, trained at mixture_learning_rate
    shallow = DMAEClustering(10, learning_rate=1e-2, tol=None,
                             **{**kw, "max_epochs": 10}).fit(H.numpy())
    np.testing.assert_allclose(shallow.cluster_centers_, mixed.module_.centers.detach(),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(shallow.labels_, mixed.labels_)
    np.testing.assert_allclose(shallow.loss_curve_, mixed.mixture_loss_curve_, rtol=1e-6)


@pytest.mark.usefixtures("compute_in_input_dtype")
def test_learning_rate_auto_resolves_into_private_attributes(small_digits):
    X, _ = small_digits
    shallow = DMAEClustering(10, autoencoder=None, max_epochs=1, tol=None, **FAST).fit(X)
    assert shallow.learning_rate == "auto" and shallow._learning_rate == 1e-2
    spread = np.sqrt(X.var(0).mean())
    assert shallow._data_spread == pytest.approx(spread, rel=1e-9)
    # centres move at the rate times the spread of X, the dimensionless parameters at it
    rates = learning_rates("auto", 1e-2, shallow._data_spread)
    assert rates == pytest.approx((1e-2 * spread, 1e-2))
    assert learning_rates(3e-3, 3e-3, shallow._data_spread) == (3e-3, 3e-3)  # explicit: all
    given = DMAEClustering(10, autoencoder=None, learning_rate=3e-3, max_epochs=1, tol=None,
                           **FAST).fit(X)
    assert given._learning_rate == 3e-3
    deep = DMAEClustering(10, autoencoder=_small_ae(max_epochs=2), max_epochs=1, tol=None,
                          **FAST).fit(X)
    assert deep.learning_rate == "auto" and deep._learning_rate == 1e-4  # < 5 000 rows
    assert X.shape[0] < 5_000
    assert deep._data_spread == pytest.approx(1.0, rel=1e-6)  # the normalised codes


@pytest.fixture(scope="module")
def overlapping_blobs():
    """Four overlapping isotropic blobs (KMeans ARI 0.79), where soft assignments pull the
    centres of a Euclidean DMAE off the k-means optimum."""
    return make_blobs(n_samples=400, centers=4, cluster_std=1.5, random_state=1)


def test_alpha_auto_is_scale_free_and_no_worse_than_kmeans(overlapping_blobs):
    X, y = overlapping_blobs
    km = adjusted_rand_score(y, KMeans(4, n_init=10, random_state=0).fit(X).labels_)
    fits = [DMAEClustering(4, autoencoder=None, **FAST).fit(X * scale) for scale in (1.0, 1e-2)]
    for dmae, scale in zip(fits, (1.0, 1e-2)):
        assert dmae.alpha == "auto"  # resolved into _alpha, the parameter untouched
        nearest = dmae.transform(X * scale).min(axis=1).mean()
        # 1000 over the mean distance to the nearest centre (the start's: close to the end's)
        assert dmae._alpha * nearest == pytest.approx(1000.0, rel=0.05)
        assert adjusted_rand_score(y, dmae.labels_) >= km
        np.testing.assert_array_equal(dmae.labels_, dmae.predict(X * scale))
    assert fits[1]._alpha == pytest.approx(100 * fits[0]._alpha, rel=1e-4)
    assert adjusted_rand_score(fits[0].labels_, fits[1].labels_) > 0.98
    # the former fixed alpha=100 is soft at this scale and ends below KMeans; on the
    # data divided by 100 it is 100 times softer still
    soft = DMAEClustering(4, autoencoder=None, alpha=100.0, **FAST).fit(X)
    # 0.771-0.788 with scikit-learn 1.9 / numpy 2.4 (by threads), KMeans 0.793, auto 0.799
    assert adjusted_rand_score(y, soft.labels_) < min(km, adjusted_rand_score(y, fits[0].labels_))
    assert soft._alpha == 100.0


def test_alpha_auto_falls_back_when_dissimilarities_are_not_positive(blobs, small_digits):
    X, _ = blobs
    dmae = DMAEClustering(4, dissimilarity=dot_dissimilarity, max_epochs=0, **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the dot product empties clusters: not the point
        assert dmae.fit(X)._alpha == 100.0
    X, _ = small_digits
    deep = DMAEClustering(10, autoencoder=_small_ae(max_epochs=2, tol=None), max_epochs=0,
                          **FAST)
    assert deep.fit(X)._alpha == 100.0  # normalised codes: the replication value


def test_shallow_fit_keeps_its_start_when_training_does_not_lower_the_objective(blobs):
    X, y = blobs
    start = DMAEClustering(4, autoencoder=None, max_epochs=0, **FAST).fit(X)
    # a learning rate far too large throws the centres off the k-means optimum
    wild = DMAEClustering(4, autoencoder=None, learning_rate=5.0, max_epochs=3, tol=None,
                          **FAST).fit(X)
    assert wild.kept_start_ and wild.n_iter_ == 3 and len(wild.loss_curve_) == 3
    np.testing.assert_allclose(wild.cluster_centers_, start.cluster_centers_)
    np.testing.assert_array_equal(wild.labels_, start.labels_)
    assert wild.score(X) == pytest.approx(start.score(X))
    assert adjusted_rand_score(y, wild.labels_) > 0.99
    good = DMAEClustering(4, autoencoder=None, **FAST).fit(X)
    assert good.score(X) >= start.score(X)
    assert not DMAEClustering(4, autoencoder=None, **FAST).partial_fit(X).kept_start_


def test_default_patience_waits_out_the_bump_of_the_mixing_weights():
    """Breast cancer, seed 2: the epoch loss rises for about ten epochs while the mixing
    weights leave uniform. A patience of 10 stops on that bump, next to the k-means start;
    the "auto" patience of 20 waits it out, to a lower objective and a better partition."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    X, y = StandardScaler().fit_transform(data.data).astype(np.float32), data.target
    dmae = DMAEClustering(2, autoencoder=None, random_state=2, device="cpu").fit(X)
    short = clone(dmae).set_params(n_iter_no_change=10).fit(X)
    assert dmae._n_iter_no_change == 20 and dmae.converged_
    assert short.n_iter_ < dmae.n_iter_
    assert dmae.score(X) > short.score(X)
    assert adjusted_rand_score(y, dmae.labels_) > adjusted_rand_score(y, short.labels_)


def test_n_init_auto():
    from skdeepclust.cluster._dmae_init import auto_n_init

    assert auto_n_init("auto", (1797, 64)) == 30
    assert auto_n_init("auto", (70_000, 784)) == 30  # any size: cost grows as training's
    assert auto_n_init("auto", (1797, 10), deep=True) == 10  # the codes
    assert auto_n_init(3, (1797, 64)) == 3
    with pytest.raises(ValueError, match="n_init"):
        DMAEClustering(2, n_init="many").fit(np.random.RandomState(0).normal(size=(20, 2)))


def test_mahalanobis_at_defaults_learns_the_shape_of_small_anisotropic_blobs(aniso):
    X, y, transformation = aniso  # 600 rows: at batch 256, 3 steps an epoch
    assert adjusted_rand_score(y, KMeans(3, n_init=10, random_state=0).fit(X).labels_) < 0.75
    labels = []
    for scale in (1.0, 1e3):  # the centres' rate, the precision factor and alpha follow
        # the scale; tol is in the units of the loss (squared distances in the
        # unit-determinant stage that volume="auto" starts with; the loss with volumes
        # is scale-free)
        dmae = DMAEClustering(3, dissimilarity="mahalanobis", tol=1e-4 * scale**2, **FAST)
        dmae.fit(X * scale)
        assert adjusted_rand_score(y, dmae.labels_) > 0.9
        assert dmae.converged_
        np.testing.assert_array_equal(dmae.labels_, dmae.predict(X * scale))
        labels.append(dmae.labels_)
    assert adjusted_rand_score(labels[0], labels[1]) > 0.98


def test_mahalanobis_default_patience_outlasts_the_precisions_bump():
    """The defaults panel's anisotropic blobs, seed 2: the loss rises for about ten epochs
    while the precisions turn, then falls to the true partition. A patience of 10 stopped
    on the bump (ARI 0.59); the "auto" patience of 20 waits it out. (The unit-determinant
    model: volume="auto" trains it first, as its shape stage.)"""
    X, y = make_blobs(n_samples=1500, centers=3, random_state=170)
    X = (X @ np.array([[0.6, -0.6], [-0.4, 0.8]])).astype(np.float32)
    dmae = DMAEClustering(3, dissimilarity="mahalanobis", volume=False, random_state=2,
                          device="cpu")
    dmae.fit(X)
    assert dmae._n_iter_no_change == 20
    assert adjusted_rand_score(y, dmae.labels_) > 0.99
    assert dmae.converged_
    short = clone(dmae).set_params(n_iter_no_change=10).fit(X)
    assert short.n_iter_ < dmae.n_iter_
    assert max(short.loss_curve_[-10:]) > min(short.loss_curve_)
    # ... and returned its lowest-loss epoch (where the bump stops it, not its top: whether
    # a patience of 10 stops on the bump depends on float32 rounding of the trajectory)
    assert -short.score(X) < min(short.loss_curve_) + 0.005


def test_autoencoder_auto_pretrains_the_default_autoencoder(small_digits, monkeypatch):
    from skdeepclust.cluster import _dmae_deep, _nested_autoencoder

    X, y = small_digits
    calls = []
    recipe = _nested_autoencoder.default_autoencoder

    def short(n_samples, n_features, **overrides):  # the recipe, fewer epochs for a test
        calls.append((n_samples, n_features))
        return recipe(n_samples, n_features, **{"max_epochs": 15, **overrides})

    monkeypatch.setattr(_dmae_deep, "default_autoencoder", short)
    dmae = DMAEClustering(10, autoencoder="auto", max_epochs=2, tol=None, **FAST)
    dmae.fit(X)
    assert dmae.autoencoder == "auto" and dmae.learning_rate == "auto"  # untouched
    assert (600, 64) in calls
    expected = recipe(600, 64)
    ae = dmae.autoencoder_
    assert ae.hidden_layer_sizes == expected.hidden_layer_sizes
    assert ae.activation == expected.activation != "identity"
    assert ae.n_components == expected.n_components == dmae.cluster_centers_.shape[1]
    assert ae.random_state is not None and len(dmae.pretrain_loss_curve_) == 15
    assert dmae._learning_rate == 1e-4  # the deep rate below 5 000 rows
    assert cluster_accuracy(y, dmae.labels_) > 0.6
    np.testing.assert_array_equal(dmae.labels_, dmae.predict(X))
    # the same seed gives the same model
    again = clone(dmae).fit(X)
    np.testing.assert_array_equal(again.labels_, dmae.labels_)


@pytest.mark.parametrize("params", [
    {},
    {"dissimilarity": "mahalanobis"},
    {"dissimilarity": "cosine", "init": "k-means++"},
])
def test_labels_equal_predict_on_the_training_data(blobs, params):
    X, _ = blobs
    dmae = DMAEClustering(4, max_epochs=5, tol=None, **FAST, **params).fit(X)
    np.testing.assert_array_equal(dmae.labels_, dmae.predict(X))
    np.testing.assert_array_equal(dmae.labels_, dmae.predict_proba(X).argmax(1))


def test_deep_labels_equal_predict_on_the_training_data(small_digits):
    X, _ = small_digits
    dmae = DMAEClustering(10, autoencoder=_small_ae(max_epochs=3), max_epochs=2, tol=None,
                          **FAST).fit(X)
    np.testing.assert_array_equal(dmae.labels_, dmae.predict(X))


def test_warns_when_unconverged_or_degenerate(blobs):
    from sklearn.exceptions import ConvergenceWarning

    X, _ = blobs
    with pytest.warns(ConvergenceWarning, match=(
            r"DMAEClustering \(DMAE clustering\) stopped at max_epochs=2 before the loss "
            r"improved by less than tol=0\.0001 for n_iter_no_change=20 epochs; increase "
            r"max_epochs, or set tol=None")):
        DMAEClustering(4, max_epochs=2, **FAST).fit(X)
    # a fixed number of epochs (tol=None) or a converged fit says nothing
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        DMAEClustering(4, max_epochs=2, tol=None, **FAST).fit(X)
        DMAEClustering(4, **FAST).fit(X)
    # two of the four given centres far from every sample: they stay empty
    far = np.array([[0.0, 0.0], [0.5, 0.5], [50.0, 50.0], [-50.0, 50.0]])
    with pytest.warns(ConvergenceWarning, match=(
            r"DMAEClustering \(DMAE clustering\) ended with a degenerate partition: 2 of "
            r"n_clusters=4 clusters are empty \(clusters \[2, 3\]\); check that n_clusters")):
        DMAEClustering(4, init=far, max_epochs=0, **FAST).fit(X)


def test_fitted_autoencoder_skips_pretraining_and_is_not_modified(small_digits):
    X, _ = small_digits
    ae = _small_ae(max_epochs=5).fit(X)
    before = ae.transform(X)
    dmae = DMAEClustering(10, autoencoder=ae, reconstruction_weight=0.0, max_epochs=3,
                          **FAST).fit(X)
    assert dmae.pretrain_loss_curve_ == []
    assert dmae.autoencoder_ is not ae
    np.testing.assert_array_equal(ae.transform(X), before)
    # max_epochs=0: the centres are KMeans' on the pretrained codes
    frozen = DMAEClustering(10, autoencoder=ae, max_epochs=0, mixture_epochs=0, **FAST).fit(X)
    np.testing.assert_allclose(frozen.embed(X), before, rtol=1e-6)
    km = KMeans(10, n_init=10, random_state=0).fit(before)
    assert adjusted_rand_score(km.labels_, frozen.labels_) > 0.8
    # a shallow refit drops the deep attributes
    frozen.set_params(autoencoder=None).fit(X)
    assert not hasattr(frozen, "autoencoder_") and frozen.cluster_centers_.shape == (10, 64)


def test_nested_autoencoder_parameters_are_searchable(small_digits):
    X, y = small_digits
    dmae = DMAEClustering(10, autoencoder=_small_ae(max_epochs=2), max_epochs=1, **FAST)
    assert dmae.get_params()["autoencoder__n_components"] == 8
    search = GridSearchCV(dmae, {"autoencoder__n_components": [4, 6], "alpha": [1.0, 10.0]},
                          cv=2).fit(X[:200])
    assert search.best_estimator_.autoencoder_.n_components in (4, 6)
    assert clone(dmae).autoencoder is not dmae.autoencoder


@pytest.mark.parametrize(
    "params, message",
    [
        ({"dissimilarity": "euclid"}, r"'dissimilarity' parameter .* must be a str among"),
        ({"p": 0.0}, r"'p' parameter"),
        ({"p": -1}, r"'p' parameter"),
        ({"dissimilarity": "toroidal_euclidean", "interval": [1.0, 2.0, 3.0]},
         r"interval should be a scalar or have one period per feature: expected length 2"),
        ({"dissimilarity": "toroidal_euclidean", "interval": [1.0, -2.0]},
         "should be > 0"),
        ({"dissimilarity": "kullback_leibler", "kl_normalization": "identity"},
         r"kl_normalization='identity' needs X \+ kl_eps > 0.*'softmax_abs'"),
        ({"kl_normalization": "softmax"}, r"'kl_normalization' parameter"),
        ({"init": np.zeros((3, 5))}, r"init has shape \(3, 5\); expected"),
        ({"init": "kmeans++"}, r"'init' parameter"),
        ({"dissimilarity": "mahalanobis", "precision_init": -np.ones((2, 2, 2))},
         "symmetric positive-definite"),
        ({"dissimilarity": "mahalanobis", "precision_init": np.ones((2, 3, 3))},
         r"precision_init has shape \(2, 3, 3\); expected \(2, 2, 2\)"),
        ({"n_clusters": 50}, "n_samples=40 should be >= n_clusters=50"),
        ({"autoencoder": "ae"}, r"'autoencoder' parameter"),
    ],
)
def test_clear_errors(params, message):
    X = np.random.RandomState(0).randn(40, 2)
    with pytest.raises(ValueError, match=message):
        DMAEClustering(**{"n_clusters": 2, "max_epochs": 1, **FAST, **params}).fit(X)


def test_autoencoder_must_be_a_skdeepclust_autoencoder():
    X = np.random.RandomState(0).randn(40, 2)
    with pytest.raises(TypeError, match="autoencoder must be 'auto', None or a skdeepclust"):
        DMAEClustering(2, autoencoder=KMeans(), **FAST).fit(X)


def test_frozen_autoencoder_survives_clone(small_digits):
    from sklearn.frozen import FrozenEstimator

    X, _ = small_digits
    ae = _small_ae(max_epochs=3).fit(X)
    dmae = clone(DMAEClustering(10, autoencoder=FrozenEstimator(ae), max_epochs=0, **FAST))
    dmae.fit(X)
    assert dmae.pretrain_loss_curve_ == []
    np.testing.assert_allclose(dmae.embed(X), ae.transform(X), rtol=1e-6)


def test_minkowski_infinite_order_and_fitted_autoencoder_feature_mismatch(small_digits):
    X, _ = small_digits
    m = DMAEClustering(3, dissimilarity="minkowski", p=np.inf, autoencoder=None, max_epochs=1,
                       **FAST).fit(X[:50])
    np.testing.assert_allclose(
        m.transform(X[:50]), np.abs(X[:50, None] - m.cluster_centers_[None]).max(-1)
    )
    ae = _small_ae(max_epochs=1).fit(X[:, :10])
    with pytest.raises(ValueError, match="X has 64 features, but the fitted autoencoder expects"):
        DMAEClustering(3, autoencoder=ae, **FAST).fit(X)
    ae_neg = _small_ae(max_epochs=1)
    with pytest.raises(ValueError, match="code_activation='sigmoid'"):
        DMAEClustering(3, autoencoder=ae_neg, dissimilarity="kullback_leibler",
                       kl_normalization="identity", **FAST).fit(X)


def test_autoencoder_auto_is_shallow_below_32_features(aniso):
    X, y, _ = aniso
    dmae = DMAEClustering(3, max_epochs=2, tol=None, **FAST).fit(X[:200])
    assert dmae.autoencoder == "auto" and not hasattr(dmae, "autoencoder_")
    assert dmae.cluster_centers_.shape == (3, X.shape[1])


def test_epochs_and_tol_auto_resolve_by_depth(small_digits):
    from sklearn.exceptions import ConvergenceWarning

    X, _ = small_digits
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # a fixed budget: no warning
        deep = DMAEClustering(5, autoencoder=_small_ae(max_epochs=1, tol=None), **FAST).fit(X)
    assert (deep.max_epochs, deep.tol) == ("auto", "auto")
    # 600 rows at batch 256: 3 steps an epoch, 240 epochs for the 720 steps of the rule
    assert (deep._max_epochs, deep._tol, deep.n_iter_) == (240, None, 240)
    rule = DMAEClustering(5, batch_size=256, **FAST)
    rule._deep = True
    for rows, epochs in [(3000, 60), (4999, 36), (5000, 20), (70_000, 20)]:
        rule.__dict__["_stream_rows"] = rows  # the rows the rule sees
        rule._resolve_training(X)
        assert rule._max_epochs == epochs  # 720 steps below 5 000 rows, else 20
    shallow = DMAEClustering(5, autoencoder=None, max_epochs=1, **FAST).fit(X)
    assert (shallow._max_epochs, shallow._tol) == (1, 1e-4)


def test_mahalanobis_loss_needs_no_per_sample_precision(monkeypatch):
    """The loss and its gradients equal the (n, d, d) formula, which forward never builds."""
    head = _head(alpha=2.0, dissimilarity="mahalanobis")
    with torch.no_grad():
        head.covariance_raw.normal_(std=0.5)
    x = _points(40)
    calls = []
    real_einsum = torch.einsum

    def spy(eq, *ops):
        calls.append(eq)
        return real_einsum(eq, *ops)

    monkeypatch.setattr(torch, "einsum", spy)
    out = head(x)
    loss = head.loss(x, out)
    assert not any("nij" in eq for eq in calls)
    assert out.component_precisions.shape == (3, 2, 2)
    monkeypatch.setattr(torch, "einsum", real_einsum)
    loss.sum().backward()
    grads = [p.grad.clone() for p in (head.centers, head.covariance_raw, head.mixing_logits)]
    head.zero_grad()
    out = head(x)
    diff = x - out.centroids
    ref = torch.einsum("ni,nij,nj->n", diff, out.precisions, diff) - out.log_mixing / 2.0
    torch.testing.assert_close(loss.detach(), ref.detach(), rtol=1e-12, atol=1e-12)
    ref.sum().backward()
    for g, p in zip(grads, (head.centers, head.covariance_raw, head.mixing_logits), strict=True):
        torch.testing.assert_close(g, p.grad, rtol=1e-10, atol=1e-12)


def test_feature_names_out_need_a_fit():
    X, _ = make_blobs(n_samples=60, centers=3, random_state=0)
    dmae = DMAEClustering(3, max_epochs=2, **FAST)
    with pytest.raises(NotFittedError):
        dmae.get_feature_names_out()
    dmae.fit(X)
    dmae.set_params(n_clusters=5)  # without a refit the names follow the fitted model
    assert list(dmae.get_feature_names_out()) == [f"dmaeclustering{i}" for i in range(3)]


def test_volume_separates_unequal_variance_blobs_the_unit_determinant_merges():
    """Blobs of standard deviation 1, 2.5 and 0.5: with a shared volume (unit-determinant
    precisions) the Mahalanobis model cuts them like k-means; with each cluster's
    log-volume (volume="auto" on 100 rows per cluster and feature) it finds them, and the
    learned covariances have the clusters' sizes."""
    X, y = make_blobs(300, centers=3, cluster_std=[1.0, 2.5, 0.5], random_state=170)
    assert adjusted_rand_score(y, KMeans(3, n_init=10, random_state=0).fit_predict(X)) < 0.75
    shared = DMAEClustering(3, dissimilarity="mahalanobis", volume=False, **FAST).fit(X)
    assert adjusted_rand_score(y, shared.labels_) < 0.8
    np.testing.assert_allclose(np.linalg.det(shared.precisions_), 1.0, rtol=1e-6)
    # random_state=1: with 0 the loss bumps near epoch 110 and whether the bump changes the
    # partition depends on float32 rounding (seeds 1-5 end alike whatever the rounding)
    dmae = DMAEClustering(3, dissimilarity="mahalanobis", **dict(FAST, random_state=1)).fit(X)
    assert dmae._volume is True and dmae.converged_
    assert len(dmae.shape_loss_curve_) > 0  # the unit-determinant stage ran first
    assert adjusted_rand_score(y, dmae.labels_) > 0.93
    np.testing.assert_array_equal(dmae.labels_, dmae.predict(X))
    true_dets = sorted(np.linalg.det(np.cov(X[y == k].T)) for k in range(3))
    np.testing.assert_allclose(np.log(sorted(np.linalg.det(dmae.covariances_))),
                               np.log(true_dets), atol=0.4)


def test_volume_auto_resolution_and_bad_input():
    rng = np.random.RandomState(0)
    few = rng.normal(size=(60, 3))  # 60 < 20 * 2 clusters * 3 features
    kw = dict(max_epochs=2, tol=None, **FAST)
    assert not DMAEClustering(2, dissimilarity="mahalanobis", **kw).fit(few)._volume
    assert DMAEClustering(2, dissimilarity="mahalanobis", volume=True, **kw).fit(few)._volume
    many = rng.normal(size=(240, 3))
    assert DMAEClustering(2, dissimilarity="mahalanobis", **kw).fit(many)._volume
    assert not DMAEClustering(2, **kw).fit(many)._volume  # no precisions
    ae = AutoEncoder(n_components=2, hidden_layer_sizes=(8,), max_epochs=1, tol=None,
                     device="cpu", random_state=0)
    deep = DMAEClustering(2, dissimilarity="mahalanobis", autoencoder=ae, mixture_epochs=1,
                          **kw).fit(many)
    assert not deep._volume  # the encoder could shrink a cluster to gain volume
    with pytest.raises(ValueError, match="volume=True needs a dissimilarity"):
        DMAEClustering(2, volume=True, **kw).fit(many)
    with pytest.raises(ValueError, match="volume"):
        DMAEClustering(2, dissimilarity="mahalanobis", volume="yes", **kw).fit(many)


def test_auto_code_size_grows_with_the_features_in_fit_and_partial_fit():
    """autoencoder="auto" on small data: ceil(n_features / 24) code units in [5, 16]
    (DECClustering's small-data recipe keeps 5), the same in partial_fit's warm-up."""
    from skdeepclust.cluster._dmae_deep import dmae_default_autoencoder

    assert dmae_default_autoencoder(1797, 64).n_components == 5  # 8x8 digits: DEC's
    assert dmae_default_autoencoder(3000, 384).n_components == 16
    assert dmae_default_autoencoder(3000, 2000).n_components == 16
    assert dmae_default_autoencoder(10_000, 784).n_components == 10  # the DEC network
    X = np.random.RandomState(0).uniform(size=(200, 200)).astype(np.float32)
    est = DMAEClustering(3, **FAST)
    assert est._autoencoder_spec(X.shape).n_components == 9
    for chunk in (X[:100], X[100:], X[:100]):  # the survey ends when a chunk comes back
        est.partial_fit(chunk)
    assert est.stream_phase_ == "pretraining"
    assert est._warmup.autoencoder.n_components == 9
    assert est._warmup.autoencoder.random_state is not None  # the estimator's overrides
