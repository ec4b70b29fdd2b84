"""The Mahalanobis DMAE head at scale: closed-form precision gradients, the quadratic
forms by matrix products, chunk-independent inference and the partition initializer."""

import numpy as np
import pytest
import torch

from skdeepclust.nn import dissimilarities as dis
from skdeepclust.nn import dmae as dm
from skdeepclust.nn.dmae import DissimilarityMixtureAutoencoder, precision_factor_from_partition


def _head(K=3, d=5, normalize=True, floor=0.3, scale=1.7, seed=0):
    torch.manual_seed(seed)
    head = DissimilarityMixtureAutoencoder(
        K,
        d,
        alpha=2.0,
        dissimilarity="mahalanobis",
        normalize_precision=normalize,
        covariance_floor=floor,
        covariance_scale=scale,
        dtype=torch.float64,
    )
    with torch.no_grad():
        head.covariance_raw.normal_(std=0.5)
        head.centers.normal_()
        head.mixing_logits.normal_()
    return head


def _autograd_precisions(head):
    """The precision map written with plain autograd ops (the reference)."""
    raw = head.covariance_raw
    factor = raw.tril(-1) + torch.diag_embed(raw.diagonal(dim1=-2, dim2=-1).exp())
    cov = head.covariance_scale * (factor @ factor.transpose(-1, -2))
    eye = torch.eye(raw.shape[-1], dtype=raw.dtype)
    chol = torch.linalg.cholesky(cov + head.covariance_floor * eye)
    precision = torch.cholesky_inverse(chol)
    if head.normalize_precision:
        precision = (
            precision * (2 * chol.diagonal(dim1=-2, dim2=-1).log().mean(-1)).exp()[:, None, None]
        )
    return precision


def _explicit_loss(head, x, P, volumes=None, weights=None):
    """The head's loss summed over the rows ``x`` (weighted by ``weights`` if given),
    written out per sample with the ``(n, d, d)`` mixed precisions of ``P``
    (``(K, d, d)``) and, with ``volume=True``, the log-volume terms ``volumes`` (``(K,)``)
    added to each dissimilarity."""
    diff = x[:, None] - head.centers[None]  # (n, K, d)
    D = torch.einsum("nki,kij,nkj->nk", diff, P, diff)
    if volumes is not None:
        D = D + volumes
    log_pi = torch.log_softmax(head.mixing_logits, 0)
    log_s = torch.log_softmax(-head.alpha * D + log_pi, -1)
    s = log_s.exp()
    r = x - s @ head.centers
    mixed = torch.einsum("nk,kij->nij", s, P)  # per sample
    rec = torch.einsum("ni,nij,nj->n", r, mixed, r)
    if volumes is not None:
        rec = rec + s @ volumes
    per_sample = rec - torch.logsumexp(log_s + log_pi, -1) / head.alpha
    return per_sample.sum() if weights is None else (per_sample * weights).sum()


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("floor", [0.0, 0.3])
def test_closed_form_precision_gradient_equals_autograd(normalize, floor):
    head = _head(normalize=normalize, floor=floor)
    weights = torch.randn(3, 5, 5, dtype=torch.float64)  # not symmetric on purpose
    got = head.precisions()
    ref = _autograd_precisions(head)
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(got, got.transpose(-1, -2), rtol=0, atol=0)
    (g,) = torch.autograd.grad((got * weights).sum(), head.covariance_raw)
    (r,) = torch.autograd.grad((ref * weights).sum(), head.covariance_raw)
    torch.testing.assert_close(g, r, rtol=1e-10, atol=1e-12)
    if normalize:  # unit determinant
        torch.testing.assert_close(torch.linalg.det(got), torch.ones(3, dtype=got.dtype))


def test_loss_and_gradients_equal_a_direct_per_sample_computation():
    """The DMAE loss through the matrix-product path against the per-sample formula with
    the (n, d, d) mixed precisions, values and every parameter's gradient."""
    head = _head(K=4, d=6)
    x = torch.randn(30, 6, dtype=torch.float64)
    loss = head.loss(x).sum()
    grads = torch.autograd.grad(loss, [head.centers, head.mixing_logits, head.covariance_raw])

    ref = _explicit_loss(head, x, _autograd_precisions(head))
    refs = torch.autograd.grad(ref, [head.centers, head.mixing_logits, head.covariance_raw])
    torch.testing.assert_close(loss, ref, rtol=1e-12, atol=1e-12)
    for g, r_ in zip(grads, refs):
        torch.testing.assert_close(g, r_, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("floor", [0.0, 0.3])
def test_volume_loss_and_gradients_equal_autograd_of_the_log_determinant(floor):
    """volume=True takes log det(Sigma_k) from the factorisation behind the precisions,
    with its gradient in closed form: the loss and every gradient equal plain autograd
    through torch.logdet of the explicit precisions (and log_volumes given them)."""
    head = _head(K=4, d=6, floor=floor)
    head.volume, head.normalize_precision = True, False
    x = torch.randn(30, 6, dtype=torch.float64)
    params = [head.centers, head.mixing_logits, head.covariance_raw]
    loss = head.loss(x).sum()
    grads = torch.autograd.grad(loss, params)

    P = _autograd_precisions(head)
    volumes = -(torch.logdet(P) + 6 * torch.log(head.covariance_scale))
    torch.testing.assert_close(head.log_volumes(P), volumes, rtol=1e-12, atol=1e-12)
    ref = _explicit_loss(head, x, P, volumes)
    refs = torch.autograd.grad(ref, params)
    torch.testing.assert_close(loss, ref, rtol=1e-12, atol=1e-12)
    for g, r_ in zip(grads, refs):
        torch.testing.assert_close(g, r_, rtol=1e-9, atol=1e-11)
    with torch.no_grad():  # the cached inference path gives the same volumes
        torch.testing.assert_close(head.log_volumes(), volumes.detach(), rtol=1e-12, atol=0)


@pytest.mark.parametrize("volume", [False, True])
def test_minibatch_forms_gradients_with_inputs_and_a_dense_precision_gradient(volume):
    """The training node (precisions and quadratic forms together, the loss's row-wise
    term handing over rank-n gradients): the gradients of the inputs (the deep model's
    codes), of every parameter, and a dense gradient of P from another use of it, all
    equal plain autograd of the explicit form."""
    head = _head(K=3, d=5)
    head.volume, head.normalize_precision = volume, not volume
    x = torch.randn(12, 5, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(3, 5, 5, dtype=torch.float64)
    params = [x, head.centers, head.mixing_logits, head.covariance_raw]
    out = head(x)
    assert out.reconstruction is not None  # the minibatch node ran
    got = head.loss(x, out).sum() + (out.component_precisions * weights).sum()
    grads = torch.autograd.grad(got, params)

    P = _autograd_precisions(head)
    volumes = -(torch.logdet(P) + 5 * torch.log(head.covariance_scale)) if volume else None
    ref = _explicit_loss(head, x, P, volumes) + (P * weights).sum()
    refs = torch.autograd.grad(ref, params)
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)
    for g, r_ in zip(grads, refs):
        torch.testing.assert_close(g, r_, rtol=1e-9, atol=1e-11)
    with torch.no_grad():  # inference: the general path, the same values
        again = head(x)
        assert again.reconstruction is None
        torch.testing.assert_close(head.loss(x, again), head.loss(x, out).detach())


def test_minibatch_node_refuses_a_second_backward_pass():
    """retain_graph=True would run the node's backward again on buffers the first pass
    consumed (wrong gradients): it raises, and a loss computed again gives the same
    gradients as the first pass."""
    head = _head(K=3, d=5)
    x = torch.randn(12, 5, dtype=torch.float64)
    loss = head.loss(x).sum()
    loss.backward(retain_graph=True)
    first = head.covariance_raw.grad.clone()
    with pytest.raises(RuntimeError, match="backward pass can run once per forward pass"):
        loss.backward()
    head.zero_grad()
    head.loss(x).sum().backward()
    torch.testing.assert_close(head.covariance_raw.grad, first, rtol=1e-12, atol=0)


@pytest.mark.parametrize("block", [1, 2, 3, 4])
def test_panel_triangular_products_equal_the_dense_ones(monkeypatch, block):
    """The products by column panels that skip a factor's zero triangle (sizes that are
    and are not multiples of the panel) equal the dense products."""
    monkeypatch.setattr(dm, "_TRI_BLOCK", block)
    g = torch.Generator().manual_seed(block)
    tol = {"rtol": 1e-12, "atol": 1e-12}
    for d in (1, 2, 5, 8, 11):
        T = torch.randn(3, d, d, dtype=torch.float64, generator=g).tril()
        H = torch.randn(3, d, d, dtype=torch.float64, generator=g)
        torch.testing.assert_close(dm._lower_gram(T), T @ T.transpose(-1, -2), **tol)
        torch.testing.assert_close(dm._tril_times_lower(H, T), (H @ T).tril(), **tol)


@pytest.mark.parametrize("K", [1, 2, 5])
@pytest.mark.parametrize("mode", ["unit_determinant", "free", "volume"])
@pytest.mark.parametrize("floor", [0.0, 0.3])
def test_minibatch_training_node_equals_the_explicit_weighted_loss(monkeypatch, K, mode, floor):
    """The training node (one product X P_k per centre for both quadratic forms, the
    gradient of the factor through blocked triangular products) against the explicit
    per-sample loss with plain autograd through the Cholesky factorisation and the
    inverse, with sample weights and data far from the origin: the same loss and the same
    gradients of the inputs and of every parameter."""
    monkeypatch.setattr(dm, "_TRI_BLOCK", 2)  # d = 7: four panels, the last of one column
    d = 7
    head = _head(K=K, d=d, floor=floor, seed=K)
    head.volume = mode == "volume"
    head.normalize_precision = mode == "unit_determinant"
    with torch.no_grad():
        head.centers.add_(30.0)
    g = torch.Generator().manual_seed(K)
    x = (30.0 + torch.randn(11, d, dtype=torch.float64, generator=g)).requires_grad_(True)
    weights = torch.rand(11, dtype=torch.float64, generator=g)
    params = [x, head.centers, head.mixing_logits, head.covariance_raw]
    out = head(x)
    assert out.reconstruction is not None  # the training node ran
    got = (head.loss(x, out) * weights).sum()
    grads = torch.autograd.grad(got, params)

    P = _autograd_precisions(head)
    volumes = -(torch.logdet(P) + d * torch.log(head.covariance_scale)) if head.volume else None
    ref = _explicit_loss(head, x, P, volumes, weights)
    refs = torch.autograd.grad(ref, params)
    torch.testing.assert_close(got, ref, rtol=1e-11, atol=1e-11)
    for g_, r_ in zip(grads, refs):
        torch.testing.assert_close(g_, r_, rtol=1e-8, atol=1e-9)
    assert grads[3].abs().sum() > 0 and torch.equal(grads[3], grads[3].tril())


def test_training_forms_in_float32_keep_the_digits_of_a_sharp_precision():
    """float32, a precision of 1e6 across two centres 100 apart along that direction:
    the training node forms x - m_k before its products (a product of x minus one of
    m_k, about the centres' mean, lost three digits here), so its assignments and
    row-wise term match the float64 evaluation."""
    head = DissimilarityMixtureAutoencoder(
        2, 2, alpha=1.0, dissimilarity="mahalanobis", normalize_precision=False
    )
    with torch.no_grad():
        head.centers.copy_(torch.tensor([[0.0, 0.0], [0.0, 100.0]]))
        head.set_covariances(torch.diag(torch.tensor([1.0, 1e-6])).expand(2, 2, 2))
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 2, generator=g) * torch.tensor([1.0, 1e-3])
    x[32:, 1] += 100.0
    out = head(x)
    assert out.reconstruction is not None  # the training node ran
    ref = DissimilarityMixtureAutoencoder(
        2, 2, alpha=1.0, dissimilarity="mahalanobis", normalize_precision=False,
        dtype=torch.float64,
    )
    ref.load_state_dict({k: v.double() for k, v in head.state_dict().items()})
    with torch.no_grad():
        expected = ref(x.double())
        rec = ref.loss(x.double(), expected) + expected.log_mixing / ref.alpha
    torch.testing.assert_close(out.log_assignments.double(), expected.log_assignments,
                               rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(out.reconstruction.double(), rec, rtol=1e-5, atol=1e-5)


def test_quadratic_forms_kept_products_equal_recomputed(monkeypatch):
    """A minibatch keeps P(x - m) for the backward pass; blocks of centres recompute it:
    the same gradients."""
    rng = np.random.RandomState(0)
    X = torch.from_numpy(rng.randn(20, 5))
    M = torch.from_numpy(rng.randn(4, 5))
    A = torch.from_numpy(rng.randn(4, 5, 5))
    P = A @ A.transpose(-1, -2) + torch.eye(5)
    W = torch.from_numpy(rng.randn(20, 4))

    def grads():
        ts = [t.clone().requires_grad_(True) for t in (X, M, P)]
        (dis._quadratic_forms(*ts) * W).sum().backward()
        return [t.grad for t in ts]

    kept = grads()
    monkeypatch.setattr(dis, "_QUAD_BLOCK_BYTES", 1)  # one centre per block, recomputed
    for g, r in zip(kept, grads()):
        torch.testing.assert_close(g, r, rtol=1e-12, atol=1e-12)


def test_inference_reuses_precisions_until_a_parameter_changes():
    head = _head()
    x = torch.randn(7, 5, dtype=torch.float64)
    with torch.inference_mode():
        first = head.precisions()
        assert head.precisions() is first  # chunked inference: computed once
        before = head.logits(x)
    with torch.no_grad():  # an update that does not bump the version counter
        head.covariance_raw.data.mul_(1.1)
    with torch.inference_mode():
        second = head.precisions()
        assert second is not first
        torch.testing.assert_close(second, _autograd_precisions(head).detach())
        assert not torch.allclose(head.logits(x), before)
    with torch.no_grad():  # evaluation passes without autograd reuse it too
        third = head.precisions()
        assert head.precisions() is third and not third.is_inference()
    state = head.__getstate__()
    assert "_precision_cache" not in state  # derived: never pickled
    # training mode with grad: never the cache
    assert head.precisions().requires_grad


def test_chunked_inference_equals_unchunked(monkeypatch):
    """Logits, assignments and the loss of a batch do not depend on how many rows or
    centres are processed at once."""
    head = _head(K=5, d=8)
    x = torch.randn(50, 8, dtype=torch.float64)
    with torch.inference_mode():
        whole_logits = head.logits(x)
        whole_loss = head.loss(x)
        parts = [head.loss(x[s : s + 7]) for s in range(0, 50, 7)]
        monkeypatch.setattr(dis, "_QUAD_BLOCK_BYTES", 1)
        blocked_logits = head.logits(x)
        blocked_loss = head.loss(x)
    torch.testing.assert_close(torch.cat(parts), whole_loss, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(blocked_logits, whole_logits, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(blocked_loss, whole_loss, rtol=1e-12, atol=1e-12)


def _reference_partition_factors(X, labels, K, reg_covar=1e-6):
    """The former initializer: a float64 copy of X, one covariance per cluster."""
    X64 = X.to(torch.float64)
    d = X.shape[1]
    eye = torch.eye(d, dtype=torch.float64)

    def cov(p):
        c = p - p.mean(0, keepdim=True)
        return c.T @ c / max(p.shape[0] - 1, 1)

    overall = cov(X64)
    ridge = (reg_covar * overall.diagonal().mean() + torch.finfo(X.dtype).eps) * eye
    out = []
    for k in range(K):
        members = X64[labels == k]
        c = cov(members) if members.shape[0] >= 2 else overall
        P = torch.cholesky_inverse(torch.linalg.cholesky(c + ridge))
        out.append(torch.linalg.cholesky(0.5 * (P + P.T)))
    return torch.stack(out).to(X.dtype)


def test_partition_factors_in_chunks_equal_the_float64_copy(monkeypatch):
    rng = np.random.RandomState(1)
    X = torch.from_numpy((rng.randn(300, 4) @ rng.randn(4, 4) + 50).astype(np.float32))
    labels = torch.from_numpy(rng.randint(3, size=300))
    labels[:1] = 3  # a cluster of one point: the overall covariance
    ref = _reference_partition_factors(X, labels, 4)
    monkeypatch.setattr(dm, "_STATS_CHUNK_BYTES", 8 * 4 * 7)  # chunks of 7 rows
    got = precision_factor_from_partition(X, labels, 4)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6)


def test_setters_per_centre_round_trip():
    head = _head(floor=0.0)
    rng = np.random.RandomState(2)
    A = torch.from_numpy(rng.randn(3, 5, 5))
    S = A @ A.transpose(-1, -2) + torch.eye(5)
    head.normalize_precision = False
    head.set_covariances(S)
    torch.testing.assert_close(head.covariances(), S, rtol=1e-10, atol=1e-10)
    head.set_precisions(torch.linalg.inv(S))
    torch.testing.assert_close(head.covariances(), S, rtol=1e-10, atol=1e-10)
    L = torch.linalg.cholesky(torch.linalg.inv(S))
    head.set_precision_factor(L)
    torch.testing.assert_close(head.precisions(), L @ L.transpose(-1, -2), rtol=1e-9, atol=1e-9)


def test_log_volume_term_against_a_hand_computation():
    """volume=True: D_ik = (x-θ_k)' P_k (x-θ_k) - log det(c P_k), with P_k = Σ_k^{-1}
    keeping its determinant, and the DMAE loss adds Σ_k s_ik (-log det(c P_k))."""
    c = 2.0
    head = DissimilarityMixtureAutoencoder(
        2,
        2,
        alpha=3.0,
        dissimilarity="mahalanobis",
        volume=True,
        covariance_scale=c,
        dtype=torch.float64,
    )
    cov = torch.tensor([[[4.0, 1.0], [1.0, 2.0]], [[0.25, 0.0], [0.0, 1.0]]], dtype=torch.float64)
    with torch.no_grad():
        head.set_covariances(cov)
        head.centers.copy_(torch.tensor([[0.0, 0.0], [3.0, 1.0]]))
    x = torch.tensor([[1.0, -1.0], [2.5, 1.5], [0.0, 4.0]], dtype=torch.float64)
    # by hand: det(Σ_0) = 7, det(Σ_1) = 0.25, so -log det(c P_k) = log(det Σ_k / c^2)
    expected_volumes = torch.tensor([np.log(7.0 / 4.0), np.log(0.25 / 4.0)], dtype=torch.float64)
    torch.testing.assert_close(head.log_volumes(), expected_volumes)
    P = torch.linalg.inv(cov)
    torch.testing.assert_close(head.precisions(), P)  # the determinant is kept
    diff = x[:, None, :] - head.centers[None]
    q = torch.einsum("nki,kij,nkj->nk", diff, P, diff)
    D = head.dissimilarities(x)
    torch.testing.assert_close(D, q + expected_volumes)
    torch.testing.assert_close(head.dissimilarities(x, with_volume=False), q)
    out = head(x)
    s = torch.softmax(-3.0 * D + head.log_mixing_weights(), dim=1)
    torch.testing.assert_close(out.assignments, s)
    # the loss: mixed quadratic form about the soft centroid, mixed volumes, mixing term
    r = x - s @ head.centers
    mixed = torch.einsum("nk,kij->nij", s, P)
    rec = torch.einsum("ni,nij,nj->n", r, mixed, r) + s @ expected_volumes
    torch.testing.assert_close(head.loss(x, out), rec - out.log_mixing / 3.0)
    # the gradient flows into the covariance parameters through the volumes
    head.zero_grad()
    head.log_volumes().sum().backward()
    assert head.covariance_raw.grad.abs().sum() > 0


def test_volume_needs_a_dissimilarity_with_precisions():
    with pytest.raises(ValueError, match="volume=True needs a dissimilarity"):
        DissimilarityMixtureAutoencoder(2, 2, dissimilarity="euclidean", volume=True)
    head = DissimilarityMixtureAutoencoder(2, 2, dissimilarity="mahalanobis")
    assert head.log_volumes() is None and head(torch.zeros(1, 2)).component_volumes is None
