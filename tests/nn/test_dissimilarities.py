"""Tests for skdeepclust.nn.dissimilarities against numpy / scipy references."""

import itertools
import pickle

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist
from scipy.special import softmax

from skdeepclust.nn import dissimilarities as dis
from skdeepclust.nn.dissimilarities import (
    DISSIMILARITIES,
    KL_NORMALIZATIONS,
    get_dissimilarity,
)

RNG = np.random.RandomState(0)
X_NP = RNG.randn(7, 4)
Y_NP = RNG.randn(3, 4)
X = torch.from_numpy(X_NP)
Y = torch.from_numpy(Y_NP)


def _spd(rng, k, d):
    A = rng.randn(k, d, d)
    return A @ A.transpose(0, 2, 1) + d * np.eye(d)


@pytest.mark.parametrize(
    "func, metric, kwargs",
    [
        (dis.euclidean, "euclidean", {}),
        (dis.cosine, "cosine", {}),
        (dis.correlation, "correlation", {}),
        (dis.manhattan, "cityblock", {}),
        (dis.chebyshev, "chebyshev", {}),
        (dis.minkowski, "minkowski", {"p": 0.5}),
        (dis.minkowski, "minkowski", {"p": 1.5}),
        (dis.minkowski, "minkowski", {"p": 3.0}),
    ],
)
def test_matches_scipy_cdist(func, metric, kwargs):
    expected = cdist(X_NP, Y_NP, metric=metric, **kwargs)
    got = func(X, Y, **kwargs)
    assert got.shape == (7, 3)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12, atol=1e-12)


def test_mahalanobis_matches_scipy_squared():
    precision = _spd(RNG, 3, 4)
    expected = np.stack(
        [cdist(X_NP, Y_NP[k : k + 1], "mahalanobis", VI=precision[k])[:, 0] ** 2 for k in range(3)],
        axis=1,
    )
    got = dis.mahalanobis(X, Y, torch.from_numpy(precision))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10)


def test_mahalanobis_identity_is_squared_euclidean():
    eye = torch.eye(4, dtype=torch.float64).expand(3, 4, 4)
    np.testing.assert_allclose(
        dis.mahalanobis(X, Y, eye).numpy(), cdist(X_NP, Y_NP, "sqeuclidean"), rtol=1e-12
    )


def test_minkowski_special_orders():
    np.testing.assert_allclose(dis.minkowski(X, Y, p=2), dis.euclidean(X, Y), rtol=1e-12)
    np.testing.assert_allclose(dis.minkowski(X, Y, p=1), dis.manhattan(X, Y), rtol=1e-12)
    np.testing.assert_allclose(
        dis.minkowski(X, Y, p=float("inf")), dis.chebyshev(X, Y), rtol=1e-12
    )


def _toroidal_reference(A, B, period):
    """Brute force over every shift delta in {-1, 0, 1}^d, as the dmae source does."""
    d = A.shape[1]
    best = np.full((A.shape[0], B.shape[0]), np.inf)
    for delta in itertools.product((-1, 0, 1), repeat=d):
        shift = np.asarray(delta) * period
        diff = A[:, None, :] - B[None, :, :] + shift
        best = np.minimum(best, (diff**2).sum(-1))
    return best


@pytest.mark.parametrize("d", [1, 2, 3])
def test_toroidal_matches_brute_force_any_dimension(d):
    rng = np.random.RandomState(d)
    period = rng.uniform(1.0, 3.0, size=d)
    A = rng.uniform(0, 1, size=(9, d)) * period
    B = rng.uniform(0, 1, size=(4, d)) * period
    got = dis.toroidal_euclidean(torch.from_numpy(A), torch.from_numpy(B), period)
    np.testing.assert_allclose(got.numpy(), _toroidal_reference(A, B, period), rtol=1e-12)


def test_toroidal_across_the_wrap_around():
    period = 2 * np.pi
    a = torch.tensor([[0.1, np.pi]], dtype=torch.float64)
    b = torch.tensor([[period - 0.1, np.pi], [np.pi, np.pi]], dtype=torch.float64)
    got = dis.toroidal_euclidean(a, b, period)
    # 0.1 and 2*pi - 0.1 are 0.2 apart across the seam, not 2*pi - 0.2
    np.testing.assert_allclose(got.numpy(), [[0.2**2, (np.pi - 0.1) ** 2]], rtol=1e-12)
    # plain squared euclidean sees them far apart
    assert dis.mahalanobis(a, b[:1], torch.eye(2, dtype=torch.float64)[None]).item() > 30
    # scalar interval == one period per feature
    np.testing.assert_allclose(got, dis.toroidal_euclidean(a, b, [period, period]))


def _kl_reference(P, Q):
    return (P[:, None, :] * (np.log(P[:, None, :]) - np.log(Q[None, :, :]))).sum(-1)


_NORMALIZATION_REFS = {
    "softmax_abs": lambda t, e: softmax(np.abs(t) + e, axis=1),
    "softmax_relu": lambda t, e: softmax(np.maximum(t, 0) + e, axis=1),
    "squared_sum": lambda t, e: (t**2 + e) / (t**2 + e).sum(1, keepdims=True),
    "abs_sum": lambda t, e: (np.abs(t) + e) / (np.abs(t) + e).sum(1, keepdims=True),
    "relu_sum": lambda t, e: (np.maximum(t, 0) + e)
    / (np.maximum(t, 0) + e).sum(1, keepdims=True),
    "identity": lambda t, e: (t + e) / (t + e).sum(1, keepdims=True),
}


@pytest.mark.parametrize("normalization", sorted(KL_NORMALIZATIONS))
def test_kullback_leibler_every_normalization(normalization):
    assert set(_NORMALIZATION_REFS) == set(KL_NORMALIZATIONS)
    A, B = np.abs(X_NP), np.abs(Y_NP)  # "identity" needs positive logits
    ref = _NORMALIZATION_REFS[normalization]
    P, Q = ref(A, 0.01), ref(B, 0.01)
    np.testing.assert_allclose(P.sum(1), 1.0)
    got = dis.kullback_leibler(torch.from_numpy(A), torch.from_numpy(B), normalization, 0.01)
    np.testing.assert_allclose(got.numpy(), _kl_reference(P, Q), rtol=1e-10, atol=1e-14)
    # KL(P || P) = 0 and KL >= 0
    self_kl = dis.kullback_leibler(torch.from_numpy(A), torch.from_numpy(A), normalization, 0.01)
    np.testing.assert_allclose(np.diag(self_kl.numpy()), 0.0, atol=1e-12)
    assert (got.numpy() >= -1e-12).all()


def test_kullback_leibler_callable_normalization():
    def l1(t, eps):
        return (t.abs() + eps) / (t.abs() + eps).sum(-1, keepdim=True)

    np.testing.assert_allclose(
        dis.kullback_leibler(X, Y, l1, 0.1), dis.kullback_leibler(X, Y, "abs_sum", 0.1)
    )


@pytest.mark.parametrize("name", sorted(DISSIMILARITIES))
def test_rowwise_is_the_diagonal_of_pairwise(name):
    d = get_dissimilarity(name, p=3.0, interval=[1.0, 2.0, 3.0, 4.0])
    Z = torch.from_numpy(RNG.randn(7, 4))
    precision = torch.from_numpy(_spd(RNG, 7, 4)) if d.needs_precision else None
    rows = d.rowwise(X, Z, precision)
    full = d.pairwise(X, Z, precision)
    assert rows.shape == (7,)
    np.testing.assert_allclose(rows.numpy(), full.diagonal().numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", sorted(DISSIMILARITIES))
def test_batch_invariant_and_dtype_preserving(name):
    d = get_dissimilarity(name)
    precision = torch.eye(4).expand(3, 4, 4) if d.needs_precision else None
    X32, Y32 = X.float(), Y.float()
    full = d.pairwise(X32, Y32, precision)
    assert full.dtype == torch.float32
    # each row is computed independently: a sub-batch gives bit-identical rows
    torch.testing.assert_close(d.pairwise(X32[2:5], Y32, precision), full[2:5], rtol=0, atol=0)


@pytest.mark.parametrize(
    "name, params",
    [("euclidean", {}), ("minkowski", {"p": 0.5}), ("minkowski", {"p": 3.0}), ("cosine", {})],
)
def test_finite_gradient_at_zero_distance(name, params):
    d = get_dissimilarity(name, **params)
    x = torch.tensor([[1.0, 2.0]], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([[1.0, 2.0], [0.0, 0.0]], dtype=torch.float64, requires_grad=True)
    d.pairwise(x, y).sum().backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(y.grad).all()
    assert d.pairwise(x, y)[0, 0].item() == pytest.approx(0.0, abs=1e-12)


def test_user_callable_and_precision_detection():
    def sqeuclid(A, B):
        return ((A[:, None] - B[None]) ** 2).sum(-1)

    def scaled(A, B, precision):
        return dis.mahalanobis(A, B, precision)

    d = get_dissimilarity(sqeuclid)
    assert not d.needs_precision and d.name == "sqeuclid"
    np.testing.assert_allclose(d.pairwise(X, Y), cdist(X_NP, Y_NP, "sqeuclidean"))
    Z = torch.from_numpy(RNG.randn(600, 4))
    Xb = torch.from_numpy(RNG.randn(600, 4))
    np.testing.assert_allclose(d.rowwise(Xb, Z), ((Xb - Z) ** 2).sum(1), rtol=1e-12)
    dp = get_dissimilarity(scaled)
    assert dp.needs_precision
    eye = torch.eye(4, dtype=torch.float64).expand(3, 4, 4)
    np.testing.assert_allclose(dp.pairwise(X, Y, eye), d.pairwise(X, Y), rtol=1e-12)
    # a module-level callable pickles with the resolved function
    assert pickle.loads(pickle.dumps(get_dissimilarity("minkowski", p=3))).params == {"p": 3.0}


def test_clear_errors():
    with pytest.raises(ValueError, match="Unknown dissimilarity 'euclid'.*'chebyshev'"):
        get_dissimilarity("euclid")
    for p in (0, -1.5):
        with pytest.raises(ValueError, match=r"p=.* should be > 0"):
            get_dissimilarity("minkowski", p=p)
        with pytest.raises(ValueError, match="should be > 0"):
            dis.minkowski(X, Y, p=p)
    with pytest.raises(ValueError, match=r"one period per feature \(length 4\)"):
        dis.toroidal_euclidean(X, Y, [1.0, 2.0])
    with pytest.raises(ValueError, match=r"one period per feature \(length 4\)"):
        get_dissimilarity("toroidal_euclidean", interval=[1.0, 2.0, 3.0]).pairwise(X, Y)
    with pytest.raises(ValueError, match="should be > 0"):
        dis.toroidal_euclidean(X, Y, 0.0)
    with pytest.raises(ValueError, match="Unknown KL normalization 'softmax'.*'abs_sum'"):
        get_dissimilarity("kullback_leibler", normalization="softmax")
    with pytest.raises(ValueError, match="needs a precision"):
        get_dissimilarity("mahalanobis").pairwise(X, Y)


def test_repr_and_parameter_filtering():
    d = get_dissimilarity("euclidean", p=3.0, interval=2.0)
    assert d.params == {} and repr(d) == "DissimilarityFunction('euclidean')"
    k = get_dissimilarity("kullback_leibler", normalization="identity", eps=0.1, p=2)
    assert k.params == {"normalization": "identity", "eps": 0.1}


# ------------------------------------------------- matrix-product forms (issue 19)
def _broadcast_euclidean(A, B):  # the former (n, K, d) kernel, safe gradient at 0
    return dis._euclidean_kernel(A[:, None], B[None])


def _broadcast_mahalanobis(A, B, P):
    diff = A[:, None] - B[None]
    return torch.einsum("nki,kij,nkj->nk", diff, P, diff)


def test_euclidean_matmul_form_matches_broadcast_incl_points_on_centres():
    rng = np.random.RandomState(3)
    A = torch.from_numpy(rng.randn(60, 17) * 3 + 5)
    B = torch.from_numpy(rng.randn(6, 17) * 3 + 5)
    A[:6] = B  # points equal to a centre
    A.requires_grad_(True)
    B.requires_grad_(True)
    got = dis.euclidean(A, B)
    ref = _broadcast_euclidean(A.detach(), B.detach())
    torch.testing.assert_close(got, ref, rtol=1e-6, atol=1e-6)
    off = ref > 0.1
    torch.testing.assert_close(got[off], ref[off], rtol=1e-10, atol=0)
    # finite gradients everywhere, equal to the broadcast form's away from zero distance
    w = torch.from_numpy(rng.rand(60, 6)) * off
    (got * w).sum().backward()
    Ar, Br = A.detach().clone().requires_grad_(True), B.detach().clone().requires_grad_(True)
    (_broadcast_euclidean(Ar, Br) * w).sum().backward()
    assert torch.isfinite(A.grad).all() and torch.isfinite(B.grad).all()
    torch.testing.assert_close(A.grad, Ar.grad, rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(B.grad, Br.grad, rtol=1e-6, atol=1e-8)


def test_mahalanobis_matmul_form_values_and_gradients_match_broadcast():
    rng = np.random.RandomState(4)
    A = torch.from_numpy(rng.randn(40, 5)).requires_grad_(True)
    B = torch.from_numpy(rng.randn(4, 5)).requires_grad_(True)
    # a non-symmetric precision: the quadratic form only sees its symmetric part
    P = torch.from_numpy(_spd(rng, 4, 5) + 0.3 * rng.randn(4, 5, 5)).requires_grad_(True)
    got = dis.mahalanobis(A, B, P)
    Ar, Br, Pr = (t.detach().clone().requires_grad_(True) for t in (A, B, P))
    ref = _broadcast_mahalanobis(Ar, Br, Pr)
    torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-12)
    w = torch.from_numpy(rng.randn(40, 4))
    (got * w).sum().backward()
    (ref * w).sum().backward()
    for g, r in ((A.grad, Ar.grad), (B.grad, Br.grad), (P.grad, Pr.grad)):
        torch.testing.assert_close(g, r, rtol=1e-10, atol=1e-12)


def test_mahalanobis_blocks_of_centres_give_the_same_values(monkeypatch):
    rng = np.random.RandomState(5)
    A = torch.from_numpy(rng.randn(30, 6))
    B = torch.from_numpy(rng.randn(7, 6))
    P = torch.from_numpy(_spd(rng, 7, 6))
    whole = dis.mahalanobis(A, B, P)
    monkeypatch.setattr(dis, "_QUAD_BLOCK_BYTES", 1)  # one centre per block
    Bg = B.clone().requires_grad_(True)
    blocked = dis.mahalanobis(A, Bg, P)
    torch.testing.assert_close(blocked, whole, rtol=1e-12, atol=0)
    assert torch.autograd.gradcheck(
        lambda b: dis.mahalanobis(A[:5], b, P[:3]), (B[:3].clone().requires_grad_(True),)
    )


def test_mixture_rowwise_equals_rowwise_with_mixed_precisions():
    rng = np.random.RandomState(6)
    A = torch.from_numpy(rng.randn(9, 4))
    Z = torch.from_numpy(rng.randn(9, 4))
    W = torch.softmax(torch.from_numpy(rng.randn(9, 3)), -1)
    P = torch.from_numpy(_spd(rng, 3, 4))
    mixed = torch.einsum("nk,kij->nij", W, P)

    def scaled(A, B, precision):  # a user callable: mixed per chunk of rows
        return dis.mahalanobis(A, B, precision)

    for d in (get_dissimilarity("mahalanobis"), get_dissimilarity(scaled)):
        torch.testing.assert_close(
            d.mixture_rowwise(A, Z, W, P, chunk_size=4), d.rowwise(A, Z, mixed), rtol=1e-12, atol=0
        )
