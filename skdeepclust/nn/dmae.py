r"""Dissimilarity mixture encoder / autoencoder heads, the DMAE loss and initializers.

A dissimilarity mixture (DM) head holds ``K`` centres :math:`\theta_k`, mixing weights
:math:`\pi_k` and, for dissimilarities that use one (``"mahalanobis"``), a precision
matrix :math:`P_k` per centre. It computes

- the soft assignments (DM encoder)
  :math:`s_{ik} = \mathrm{softmax}_k(-\alpha D(x_i, \theta_k) + \log \pi_k)`;
- the soft-assigned centroid :math:`\tilde\mu_i = \sum_k s_{ik} \theta_k`, mixing
  coefficient :math:`\tilde\pi_i = \sum_k s_{ik} \pi_k` and precision
  :math:`\tilde P_i = \sum_k s_{ik} P_k` (DM autoencoder);
- the DMAE loss :math:`\ell_i = d(x_i, \tilde\mu_i; \tilde P_i) - \log(\tilde\pi_i)/\alpha`
  (for the Kullback–Leibler dissimilarity there is no :math:`\pi` term, as in the source).

Two deliberate departures from the ``dmae`` source, both documented on the classes:

- mixing weights are a softmax of free logits, so they stay positive and sum to one.
  The source used unnormalised mixers (``log|pi|`` in one layer, ``log relu(pi)`` in the
  others); with those, the :math:`-\log\tilde\pi/\alpha` term decreases without bound as
  the mixers grow, and a mixer that crosses zero kills its cluster at ``log 0``;
- precision matrices are inverse covariances :math:`P_k = \Sigma_k^{-1}` with
  :math:`\Sigma_k = C_k C_k^\top + \epsilon I` (``C_k`` lower triangular with a
  positive diagonal, :math:`\epsilon` = ``covariance_floor``) and, by default, unit
  determinant (the Gustafson–Kessel constraint). The DMAE loss has no log-determinant
  term, so an unconstrained precision shrinks to zero and every distance with it; under
  ``det P_k = 1`` the loss is minimised by the volume-normalised inverse covariance of
  each cluster, which keeps the cluster's shape and orientation. The floor bounds the
  precision in directions where the data has (almost) no variance: without it a cluster
  could put all its precision there and absorb every sample. ``normalize_precision=False``
  (and a zero floor) restores the source's behaviour.

References
----------
.. [1] J. S. Lara and F. A. González, "Dissimilarity Mixture Autoencoder for Deep
   Clustering", arXiv:2006.08177, 2020.
.. [2] D. E. Gustafson and W. C. Kessel, "Fuzzy clustering with a fuzzy covariance
   matrix", IEEE CDC, 1978.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor, nn

from .dissimilarities import DissimilarityFunction, _quad_block, get_dissimilarity

__all__ = [
    "DMOutput",
    "DissimilarityMixtureAutoencoder",
    "DissimilarityMixtureEncoder",
    "dmae_loss",
    "plus_plus_init",
    "precision_factor_from_partition",
]


class DMOutput(NamedTuple):
    """What a :class:`DissimilarityMixtureAutoencoder` returns for a batch.

    Attributes
    ----------
    assignments : Tensor of shape (n, K)
        Soft assignments :math:`s_{ik}`.
    log_assignments : Tensor of shape (n, K)
        Their logarithm, computed stably (``log_softmax``).
    centroids : Tensor of shape (n, d)
        Soft-assigned centroids :math:`\\tilde\\mu_i`.
    log_mixing : Tensor of shape (n,)
        :math:`\\log \\tilde\\pi_i`, the log of the soft-assigned mixing coefficient.
    component_precisions : Tensor of shape (K, d, d) or None
        The precision matrices :math:`P_k` of the centres (``None`` without precisions).
        The loss mixes them per sample without building :attr:`precisions`.
    component_volumes : Tensor of shape (K,) or None
        The log-volume terms :math:`\\log\\det(\\Sigma_k / c)` that a head with
        ``volume=True`` adds to each centre's dissimilarity (``None`` otherwise); the
        loss mixes them with the assignments.
    reconstruction : Tensor of shape (n,) or None
        The row-wise term :math:`(x_i - \\tilde\\mu_i)^\\top \\tilde P_i (x_i -
        \\tilde\\mu_i)` of the loss when the head computed it with the assignments (the
        built-in ``"mahalanobis"`` on a training minibatch, whose backward pass then
        needs no ``d x d`` gradient of the precisions); ``None`` otherwise, and
        :func:`dmae_loss` computes it.
    """

    assignments: Tensor
    log_assignments: Tensor
    centroids: Tensor
    log_mixing: Tensor
    component_precisions: Tensor | None
    component_volumes: Tensor | None = None
    reconstruction: Tensor | None = None

    @property
    def precisions(self) -> Tensor | None:
        """Soft-assigned precisions :math:`\\tilde P_i = \\sum_k s_{ik} P_k`, shape ``(n, d, d)``.

        Built on demand (``n * d * d`` numbers; the loss never needs it); ``None`` without
        precisions.
        """
        if self.component_precisions is None:
            return None
        return torch.einsum("nk,kij->nij", self.assignments, self.component_precisions)


def _covariance_factor(raw: Tensor) -> Tensor:
    """The lower triangular factor ``C`` of ``raw``: its strict lower triangle, and the
    exponential of its diagonal."""
    return raw.tril(-1) + torch.diag_embed(raw.diagonal(dim1=-2, dim2=-1).exp())


#: Width of the column panels of the products with a lower triangular factor: each
#: panel skips the factor's zero rows (and the result's upper triangle), so that ``F F^T``
#: and ``tril(H F)`` cost about a quarter and two fifths of the dense product at
#: ``d = 784``, in one matrix product per panel.
_TRI_BLOCK = 128


def _lower_gram(F: Tensor) -> Tensor:
    """``F F^T`` (both triangles) for a lower triangular ``F`` of shape ``(K, d, d)``."""
    d = F.shape[-1]
    if d <= _TRI_BLOCK:
        return F @ F.transpose(-1, -2)
    out = F.new_empty(F.shape)
    for j0 in range(0, d, _TRI_BLOCK):
        j1 = min(j0 + _TRI_BLOCK, d)
        # rows j0: of columns j0:j1; row j of F is zero after column j
        torch.matmul(F[..., j0:, :j1], F[..., j0:j1, :j1].transpose(-1, -2),
                     out=out[..., j0:, j0:j1])
        out[..., j0:j1, j1:] = out[..., j1:, j0:j1].transpose(-1, -2)
    return out


def _tril_times_lower(H: Tensor, T: Tensor) -> Tensor:
    """``tril(H @ T)`` for a square ``H`` and a lower triangular ``T``, ``(K, d, d)``."""
    d = T.shape[-1]
    if d <= _TRI_BLOCK:
        return (H @ T).tril_()
    out = H.new_empty(H.shape)
    for j0 in range(0, d, _TRI_BLOCK):
        j1 = min(j0 + _TRI_BLOCK, d)
        # rows j0: of columns j0:j1; column j of T is zero above row j
        torch.matmul(H[..., j0:, j0:], T[..., j0:, j0:j1], out=out[..., j0:, j0:j1])
        out[..., j0:j1, j0:j1].tril_()
        out[..., :j0, j0:j1] = 0
    return out


def _precision_forward(raw: Tensor, scale: Tensor, floor: Tensor, normalize: bool):
    """``(C, P, log det Sigma, v)``: the forward pass of :class:`_Precisions`."""
    # in place where possible: each (K, d, d) temporary is K * d * d numbers
    factor = raw.tril(-1)
    factor.diagonal(dim1=-2, dim2=-1).copy_(raw.diagonal(dim1=-2, dim2=-1).exp())
    d = raw.shape[-1]
    cov = _lower_gram(factor).mul_(scale)
    cov.diagonal(dim1=-2, dim2=-1).add_(floor)
    chol = torch.linalg.cholesky(cov)
    del cov
    log_det = 2 * chol.diagonal(dim1=-2, dim2=-1).log().sum(-1)
    if normalize:
        volume = (log_det / d).exp()
    else:
        volume = torch.ones(raw.shape[0], dtype=raw.dtype, device=raw.device)
    precision = torch.cholesky_inverse(chol)
    del chol
    precision.mul_(volume[:, None, None])
    # exactly symmetric on the CPU (torch mirrors the triangle LAPACK computes); elsewhere
    # it is checked
    if precision.device.type != "cpu" and not torch.equal(precision, precision.mT):
        precision = 0.5 * (precision + precision.transpose(-1, -2))
    return factor, precision, log_det, volume


def _factor_gradient(sym: Tensor, factor: Tensor, coef: Tensor) -> Tensor:
    r"""The gradient of ``raw`` from a ``(K, d, d)`` matrix ``sym`` and per-centre
    factors ``coef`` such that :math:`\partial L / \partial C = \mathrm{coef}\cdot
    \mathrm{sym}\, C` (:math:`c\,(H + H^\top) C` for :math:`H = \partial L / \partial
    \Sigma`): its lower triangle only (``raw``'s strict lower triangle enters ``C`` as
    is, its diagonal through exp), by blocks that skip the zero triangle of ``C``."""
    grad_raw = _tril_times_lower(sym, factor)
    grad_raw.mul_(coef[:, None, None])
    grad_raw.diagonal(dim1=-2, dim2=-1).mul_(factor.diagonal(dim1=-2, dim2=-1))
    return grad_raw


class _Precisions(torch.autograd.Function):
    r"""``raw -> (P, log det Sigma)``: :math:`P_k = v_k \Sigma_k^{-1}` with :math:`\Sigma_k =
    c\, C_k C_k^\top + \epsilon I` and :math:`v_k = \det(\Sigma_k)^{1/d}` (``normalize``,
    else 1), and :math:`\log\det\Sigma_k` from the same Cholesky factorisation (the
    log-volume term of ``volume=True`` needs no factorisation of its own).

    The backward pass is the closed form: with :math:`G = \partial L / \partial P` and
    :math:`g = \partial L / \partial \log\det\Sigma`,
    :math:`\partial L / \partial \Sigma = ((\langle G, P\rangle / d + g) P - P G P) / v`
    (the :math:`\langle G, P\rangle` term only when normalised) and :math:`\partial L /
    \partial C = c\,(H + H^\top) C` for :math:`H = \partial L / \partial \Sigma`. It
    costs two ``d x d`` products per centre (:math:`P G P`) and the lower triangle of
    :math:`(H + H^\top) C` (blocks that skip the zero triangle of ``C``), and keeps only
    ``C`` and ``P`` between the passes, where autograd through the Cholesky factorisation
    and its inverse keeps several ``(K, d, d)`` intermediates and costs several times more.
    Training on a minibatch uses :class:`_MinibatchForms` instead, which never forms
    ``G``.
    """

    @staticmethod
    def forward(ctx, raw: Tensor, scale: Tensor, floor: Tensor, normalize: bool):
        ctx.set_materialize_grads(False)  # None, not zeros, for an output without gradient
        factor, precision, log_det, volume = _precision_forward(raw, scale, floor, normalize)
        ctx.normalize = bool(normalize)
        ctx.save_for_backward(factor, precision, volume, scale)
        return precision, log_det

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor | None, grad_log_det: Tensor | None):
        factor, precision, volume, scale = ctx.saved_tensors
        d = factor.shape[-1]
        # dL/dSigma = ((<G, P> / d + g) P - P G P) / v
        if grad is not None:
            h = torch.bmm(precision, torch.bmm(grad, precision)).neg_()
        else:
            h = torch.zeros_like(precision)
        coef = None
        if ctx.normalize and grad is not None:
            coef = (grad * precision).sum(dim=(-2, -1)) / d
        if grad_log_det is not None:
            coef = grad_log_det if coef is None else coef + grad_log_det
        if coef is not None:
            h.addcmul_(coef[:, None, None], precision)  # fused: no (K, d, d) temporary
        sym = h + h.transpose(-1, -2)
        del h
        grad_raw = _factor_gradient(sym, factor, scale / volume)
        return grad_raw, None, None, None


def _backward_once(ctx, name: str) -> None:
    """The training nodes hand gradients over through a ledger and reuse their saved
    products in place: a second backward pass (``retain_graph=True``) would be wrong, so
    it raises."""
    if getattr(ctx, "spent", False):
        raise RuntimeError(
            f"{name}'s backward pass can run once per forward pass (the Mahalanobis "
            "training node reuses its buffers): for a second backward pass, compute the "
            "loss again instead of using retain_graph=True."
        )
    ctx.spent = True


class _MinibatchForms(torch.autograd.Function):
    r"""``(raw, X, M) -> (P, log det Sigma, D)`` for a training minibatch: the precisions
    of :class:`_Precisions` and the quadratic forms :math:`D_{ik} = (x_i - m_k)^\top P_k
    (x_i - m_k)` in one node, so that the backward pass never forms :math:`\partial L /
    \partial P` (a ``(K, d, d)`` tensor that would cost ``4 d^3`` per centre to carry
    to the factor).

    One ``(n + K, d) x (d, d)`` product per centre serves every quadratic form of the
    step: :math:`[A_k; B_k] = [X - m_k; M - m_k] P_k`, so that :math:`P_k (x_i - m_k) =
    A_{k,i}` here and :math:`P_k (x_i - \tilde\mu_i) = A_{k,i} - \sum_j s_{ij} B_{k,j}`
    (the rows of ``S`` sum to one) in the loss's row-wise term (:class:`_MixtureForms`,
    which reads ``A`` and ``B`` from ``ledger`` and hands its gradient back through it).
    Each centre's rows are centred on it: the difference :math:`x_i - m_k` is formed
    before the product, as a product of :math:`x_i` minus one of :math:`m_k` would lose
    float32 digits along a sharp precision's directions.

    The gradient of :math:`P_k` from both is :math:`G_k = \sum_i g_{ik} u_{ik}
    u_{ik}^\top` (rank ``2n``), and with :math:`w_{ik} = P_k u_{ik} = A_{k,i} -
    \sum_j c_{ikj} B_{k,j}`, :math:`P G P = \sum_i g_{ik} w_{ik} w_{ik}^\top = \sum_i
    e_{ik} A_{k,i}^\top - \sum_j (\sum_i c_{ikj} e_{ik}) B_{k,j}^\top` with :math:`e_{ik}
    = \sum g_{ik} w_{ik}` over both terms: one ``(d, n + K) x (n + K, d)`` product per
    centre; :math:`\langle G, P\rangle = \sum g_{ik} u_{ik}^\top P_k u_{ik}`. The
    gradient of the factor, :math:`2c\, S C / v` for the symmetric :math:`S = (\langle G,
    P\rangle/d + g_{\log\det}) P - P G P`, is then the lower triangle of one product
    with the triangular ``C`` (:func:`_tril_times_lower`). A dense gradient of ``P``
    from any other use is added with ``d x d`` products.
    """

    @staticmethod
    def forward(ctx, raw, scale, floor, normalize: bool, X, M, ledger: dict):
        ctx.set_materialize_grads(False)  # None, not zeros, for an output without gradient
        factor, precision, log_det, volume = _precision_forward(raw, scale, floor, normalize)
        n = X.shape[0]
        V = torch.cat([X, M]).unsqueeze(0) - M.unsqueeze(1)  # (K, n + K, d)
        AB = torch.bmm(V, precision)  # [A_k; B_k]
        A, B = AB[:, :n], AB[:, n:]
        Q = (V[:, :n] * A).sum(-1)  # (K, n)
        del V
        ledger.update(A=A, B=B, entries=[])
        ctx.normalize = bool(normalize)
        ctx.ledger = ledger
        ctx.save_for_backward(factor, precision, volume, scale, AB, Q)
        return precision, log_det, Q.T

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_precision, grad_log_det, grad_D):
        _backward_once(ctx, "DissimilarityMixtureEncoder")
        factor, precision, volume, scale, AB, Q = ctx.saved_tensors
        K, n, d = AB.shape[0], AB.shape[1] - AB.shape[0], AB.shape[-1]
        A = AB[:, :n]
        entries = ctx.ledger.pop("entries", [])
        ctx.ledger.clear()
        coef = torch.zeros(K, dtype=factor.dtype, device=factor.device)
        grad_X = grad_M = None
        # rows :n: e_ik; rows n + j: -sum_i c_ikj e_ik, so that P G P = E^T [A; B]
        E = torch.zeros_like(AB) if (grad_D is not None or entries) else None
        if grad_D is not None:
            g = grad_D.T  # (K, n)
            torch.mul(A, g.unsqueeze(-1), out=E[:, :n])  # g_ik P_k (x_i - m_k)
            gw_sum = E[:, :n].sum(1)  # (K, d)
            if ctx.normalize:
                coef += (g * Q).sum(-1) / d
            if ctx.needs_input_grad[4]:
                grad_X = 2.0 * E[:, :n].sum(0)
            if ctx.needs_input_grad[5]:
                grad_M = -2.0 * gw_sum
        for hw, assign, h, q in entries:  # hw = h_ik P_k (x_i - mu_i): (K, n, d)
            E[:, :n].add_(hw)
            E[:, n:].sub_(torch.matmul(assign.T, hw))  # sum_i s_ij h_ik w_ik
            if ctx.normalize:
                coef += (h * q).sum(-1) / d
        del entries
        if grad_precision is not None and ctx.normalize:
            coef += (grad_precision * precision).sum(dim=(-2, -1)) / d
        if grad_log_det is not None:
            coef += grad_log_det
        # Hv = v dL/dSigma = coef P - P G P (symmetric up to rounding), in one buffer
        Hv = precision * coef[:, None, None]
        if E is not None:
            Hv.baddbmm_(E.transpose(1, 2), AB, alpha=-1.0)
            del E
        if grad_precision is not None:  # dense, from outside the head's loss
            sym = 0.5 * (grad_precision + grad_precision.transpose(-1, -2))
            Hv.baddbmm_(precision, torch.bmm(sym, precision), alpha=-1.0)
            del sym
        # dL/dC = c (H + H^T) C = 2c H C for the symmetric H = Hv / v
        grad_raw = _factor_gradient(Hv, factor, 2.0 * scale / volume)
        return grad_raw, None, None, None, grad_X, grad_M, None


class _MixtureForms(torch.autograd.Function):
    r""":math:`R_{ik} = u_i^\top P_k u_i` with :math:`u_i = x_i - \sum_j s_{ij} m_j`,
    shape ``(n, K)``, from the products of the :class:`_MinibatchForms` that made ``P``
    (``ledger``: :math:`P_k u_i = A_{k,i} - \sum_j s_{ij} B_{k,j}`, no ``d x d``
    product here). The backward pass gives ``X``, ``S`` and ``M`` their gradients and
    hands the gradient of ``P`` to that node as :math:`(h_{ik} P_k u_i, S, h, R)` through
    ``ledger`` (no dense ``(K, d, d)`` gradient); ``precision`` is an input only so that
    this node's backward pass runs first."""

    @staticmethod
    def forward(ctx, X, S, M, precision, ledger: dict):
        A, B = ledger["A"], ledger["B"]
        U = X - S @ M  # (n, d)
        W = A - torch.matmul(S, B)  # (K, n, d): P_k (x_i - m_k - sum_j s_ij (m_j - m_k))
        R = (W * U).sum(-1)  # (K, n)
        ctx.ledger = ledger
        ctx.save_for_backward(S, M, W, R)
        return R.T

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_R):
        _backward_once(ctx, "DissimilarityMixtureEncoder")
        S, M, W, R = ctx.saved_tensors
        h = grad_R.T  # (K, n)
        hw = W.mul_(h.unsqueeze(-1))  # W is not needed again
        ctx.ledger.setdefault("entries", []).append((hw, S, h, R))
        grad_U = 2.0 * hw.sum(0)  # (n, d)
        grad_X = grad_U if ctx.needs_input_grad[0] else None
        grad_S = -(grad_U @ M.T) if ctx.needs_input_grad[1] else None
        grad_M = -(S.T @ grad_U) if ctx.needs_input_grad[2] else None
        return grad_X, grad_S, grad_M, None, None


class DissimilarityMixtureEncoder(nn.Module):
    r"""DM encoder: soft assignments of points to centres under any dissimilarity.

    :math:`s_{ik} = \mathrm{softmax}_k(-\alpha D(x_i, \theta_k) + \log \pi_k)`. As
    ``alpha`` grows the assignment becomes hard (nearest centre), as in k-means.

    Parameters
    ----------
    n_clusters : int
        Number of centres ``K``.
    n_features : int
        Dimension ``d`` of the points.
    alpha : float, default=1.0
        Softmax inverse temperature (sparsity of the assignments).
    dissimilarity : str, callable or DissimilarityFunction, default="euclidean"
        See :func:`skdeepclust.nn.dissimilarities.get_dissimilarity`.
    dissimilarity_params : dict, default=None
        Keyword parameters of the dissimilarity (``p``, ``interval``, ``normalization``,
        ``eps``).
    learn_centers, learn_mixing, learn_precision : bool, default=True
        Which parameters receive gradients. (The source's non-covariance layers default
        to fixed mixers; here the mixing weights are normalised, see the module notes.)
    normalize_precision : bool, default=True
        Constrain every precision matrix to unit determinant (see the module notes).
        Ignored with ``volume=True``.
    volume : bool, default=False
        Let every precision matrix keep its determinant and add the log-volume
        :math:`\log\det(\Sigma_k / c) = -\log\det(c P_k)` (``c`` =
        ``covariance_scale``) to each centre's dissimilarity: the log-determinant term
        of a Gaussian's negative log-density, so that under hard assignments the DMAE
        loss is the classification likelihood of a Gaussian mixture whose clusters have
        their own size (volume) as well as shape. The term stops the precisions from
        shrinking to zero as the unit determinant does otherwise; the covariance floor
        bounds them from above. Needs a dissimilarity with precisions.
    covariance_floor : float, default=0.0
        :math:`\epsilon` added to the diagonal of every covariance (in squared units of
        the data) before it is inverted.
    covariance_scale : float, default=1.0
        The unit of the covariance factor: :math:`\Sigma_k = c\, C_k C_k^\top +
        \epsilon I` with :math:`c` = ``covariance_scale`` (in squared units of the data,
        e.g. the average feature variance). It makes ``covariance_raw`` dimensionless, so
        that one learning rate moves the precisions alike whatever the scale of the data.
    dtype, device : optional
        Where the parameters live.

    Attributes
    ----------
    centers : Parameter of shape (K, d)
        Centres, initialised uniformly in ``[-1, 1)`` as in the source (from the global
        torch RNG: build the module under ``torch.random.fork_rng``).
    mixing_logits : Parameter of shape (K,)
        ``log_softmax(mixing_logits)`` are the log mixing weights; zeros = uniform.
    covariance_raw : Parameter of shape (K, d, d) or None
        Strict lower triangle and log-diagonal of the covariance factor ``C_k`` (in units
        of ``sqrt(covariance_scale)``); only when the dissimilarity needs precisions.
        Zeros = identity.
    """

    volume: bool = False  # modules pickled before the parameter existed

    def __init__(
        self,
        n_clusters: int,
        n_features: int,
        *,
        alpha: float = 1.0,
        dissimilarity: str | Callable[..., Tensor] | DissimilarityFunction = "euclidean",
        dissimilarity_params: dict | None = None,
        learn_centers: bool = True,
        learn_mixing: bool = True,
        learn_precision: bool = True,
        normalize_precision: bool = True,
        volume: bool = False,
        covariance_floor: float = 0.0,
        covariance_scale: float = 1.0,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        self.n_clusters = int(n_clusters)
        self.n_features = int(n_features)
        self.dissimilarity = get_dissimilarity(dissimilarity, **(dissimilarity_params or {}))
        self.volume = bool(volume)
        if self.volume and not self.dissimilarity.needs_precision:
            raise ValueError(
                f"volume=True needs a dissimilarity with precision matrices; "
                f"{self.dissimilarity.name!r} has none."
            )
        self.normalize_precision = bool(normalize_precision) and not self.volume
        factory = {"dtype": dtype, "device": device}
        self.register_buffer("alpha", torch.tensor(float(alpha), **factory))
        self.register_buffer("covariance_floor", torch.tensor(float(covariance_floor), **factory))
        if not covariance_scale > 0:
            raise ValueError(f"covariance_scale should be > 0, got {covariance_scale}.")
        self.register_buffer("covariance_scale", torch.tensor(float(covariance_scale), **factory))
        self.centers = nn.Parameter(
            torch.empty(self.n_clusters, self.n_features, **factory).uniform_(-1.0, 1.0),
            requires_grad=learn_centers,
        )
        self.mixing_logits = nn.Parameter(
            torch.zeros(self.n_clusters, **factory), requires_grad=learn_mixing
        )
        if self.dissimilarity.needs_precision:
            self.covariance_raw = nn.Parameter(
                torch.zeros(self.n_clusters, self.n_features, self.n_features, **factory),
                requires_grad=learn_precision,
            )
        else:
            self.register_parameter("covariance_raw", None)

    # ---------------------------------------------------------------- parameters
    @property
    def has_precision(self) -> bool:
        """Whether the centres carry precision matrices."""
        return self.covariance_raw is not None

    def log_mixing_weights(self) -> Tensor:
        """Log mixing weights :math:`\\log \\pi_k`, shape ``(K,)``; they sum to one."""
        return torch.log_softmax(self.mixing_logits, dim=0)

    def mixing_weights(self) -> Tensor:
        """Mixing weights :math:`\\pi_k`, shape ``(K,)``."""
        return torch.softmax(self.mixing_logits, dim=0)

    def _covariance_cholesky(self) -> Tensor:
        """Cholesky factors of :math:`c\\, C_k C_k^\\top + \\epsilon I`, shape ``(K, d, d)``."""
        factor = _covariance_factor(self.covariance_raw)
        cov = self.covariance_scale * (factor @ factor.transpose(-1, -2))
        eye = torch.eye(self.n_features, dtype=cov.dtype, device=cov.device)
        return torch.linalg.cholesky(cov + self.covariance_floor * eye)

    def _volume(self, chol: Tensor) -> Tensor:
        """:math:`\\det(\\Sigma_k)^{1/d}` from its Cholesky factors, shape ``(K, 1, 1)``."""
        log_diag = chol.diagonal(dim1=-2, dim2=-1).log()
        return (2 * log_diag.mean(-1)).exp()[:, None, None]

    def precisions(self) -> Tensor | None:
        """Precision matrices :math:`P_k`, shape ``(K, d, d)`` (unit determinant by default).

        Symmetric. Their cost (a few ``d x d`` matrix products and a Cholesky factorisation
        per centre) does not depend on the batch; the gradient is computed in closed form
        (:class:`_Precisions`), so training keeps no ``(K, d, d)`` intermediates but the
        factor and the result. Without autograd (inference, ``torch.no_grad``), the result
        is reused until a parameter or buffer it depends on changes, so that chunked
        inference computes it once; the module then holds two ``(K, d, d)`` tensors more
        (the result, and a copy of the parameter it was computed from).
        """
        if self.covariance_raw is None:
            return None
        return self._precisions_and_log_det()[0]

    def _precisions_and_log_det(self) -> tuple[Tensor, Tensor]:
        """:meth:`precisions` and :math:`\\log\\det\\Sigma_k` (shape ``(K,)``) from one
        Cholesky factorisation; cached like :meth:`precisions` without autograd."""
        raw = self.covariance_raw
        args = (raw, self.covariance_scale, self.covariance_floor)
        if torch.is_grad_enabled():
            if raw.requires_grad:
                return _Precisions.apply(*args, self.normalize_precision)
            with torch.no_grad():
                return _Precisions.apply(*args, self.normalize_precision)
        # no autograd (inference, evaluation passes): reuse the last result while the
        # parameters hold the same values. Compared by value against a copy: optimizers
        # update parameters in place without always bumping their version counter.
        key = (
            self.normalize_precision,
            torch.is_inference_mode_enabled(),
            float(self.covariance_scale),
            float(self.covariance_floor),
        )
        cached = self.__dict__.get("_precision_cache")
        if (
            cached is not None
            and cached[0] == key
            and cached[1].dtype == raw.dtype
            and cached[1].device == raw.device
            and torch.equal(cached[1], raw)
        ):
            return cached[2]
        result = _Precisions.apply(*args, self.normalize_precision)
        self.__dict__["_precision_cache"] = (key, raw.detach().clone(), result)
        return result

    def __getstate__(self):
        state = super().__getstate__()
        state = dict(state)
        state.pop("_precision_cache", None)  # derived; never pickled
        return state

    def covariances(self) -> Tensor | None:
        """Covariance matrices :math:`P_k^{-1}`, shape ``(K, d, d)``."""
        if self.covariance_raw is None:
            return None
        chol = self._covariance_cholesky()
        cov = chol @ chol.transpose(-1, -2)
        if self.normalize_precision:
            cov = cov / self._volume(chol)
        return cov

    @torch.no_grad()
    def set_covariances(self, covariance: Tensor) -> None:
        """Set the covariances (symmetric positive definite, shape ``(K, d, d)``).

        The floor is subtracted first (eigenvalues below it are kept at 1e-6 of it). With
        ``normalize_precision`` the determinant is normalised away, so only the shape of
        each matrix is kept.
        """
        self._set_each(covariance, lambda c: c)

    @torch.no_grad()
    def set_precisions(self, precision: Tensor) -> None:
        """Set the precision matrices (symmetric positive definite, shape ``(K, d, d)``)."""
        self._set_each(precision, torch.linalg.inv)

    @torch.no_grad()
    def set_precision_factor(self, factor: Tensor) -> None:
        """Set the precisions from factors ``L_k`` with :math:`P_k = L_k L_k^\\top`.

        The ``dmae`` initializers (:func:`precision_factor_from_partition`, identity) give
        such Cholesky factors of inverse covariances.
        """
        self._set_each(factor, lambda f: torch.linalg.inv(f @ f.T))

    def _set_each(self, matrices: Tensor, to_covariance: Callable[[Tensor], Tensor]) -> None:
        """``covariance_raw[k]`` from ``to_covariance(matrices[k])`` in float64, one centre
        at a time (``d x d`` temporaries, not ``(K, d, d)``)."""
        if self.covariance_raw is None:
            raise ValueError(f"The {self.dissimilarity.name!r} dissimilarity has no precision.")
        device = self.covariance_raw.device
        for k in range(self.n_clusters):
            # in float64: after the floor is subtracted the matrix can be too
            # ill-conditioned for a float32 Cholesky (measured on MNIST autoencoder codes)
            matrix = matrices[k].to(device=device, dtype=torch.float64)
            self.covariance_raw[k].copy_(self._raw_from_covariance(to_covariance(matrix)))

    def _raw_from_covariance(self, covariance: Tensor) -> Tensor:
        covariance = 0.5 * (covariance + covariance.T)
        floor = float(self.covariance_floor)
        if floor > 0:
            values, vectors = torch.linalg.eigh(covariance)
            values = (values - floor).clamp_min(1e-6 * floor)
            covariance = (vectors * values) @ vectors.T
            covariance = 0.5 * (covariance + covariance.T)
        factor = torch.linalg.cholesky(covariance / float(self.covariance_scale))
        return factor.tril(-1) + torch.diag(factor.diagonal().log())

    def log_volumes(self, precision: Tensor | None = None) -> Tensor | None:
        """The log-volume terms :math:`-\\log\\det(c P_k)`, shape ``(K,)``, that
        ``volume=True`` adds to the dissimilarities (``None`` without that term).

        ``precision`` (the result of :meth:`precisions`) saves recomputing it; the
        gradient flows through it.
        """
        if not self.volume:
            return None
        if precision is None:  # from the factorisation behind the precisions
            return self._log_volumes(self._precisions_and_log_det()[1])
        chol = torch.linalg.cholesky(precision)
        log_det = 2 * chol.diagonal(dim1=-2, dim2=-1).log().sum(-1)
        return -(log_det + self.n_features * self.covariance_scale.log())

    def _log_volumes(self, log_det_cov: Tensor) -> Tensor | None:
        """:meth:`log_volumes` from :math:`\\log\\det\\Sigma_k`: :math:`\\log\\det P_k =
        -\\log\\det\\Sigma_k` (0 under the unit determinant)."""
        if not self.volume:
            return None
        log_det = torch.zeros_like(log_det_cov) if self.normalize_precision else -log_det_cov
        return -(log_det + self.n_features * self.covariance_scale.log())

    # ---------------------------------------------------------------- forward
    def dissimilarities(
        self,
        x: Tensor,
        precision: Tensor | None = None,
        volumes: Tensor | None = None,
        *,
        with_volume: bool = True,
    ) -> Tensor:
        """Dissimilarities ``D(x_i, theta_k)`` to every centre, shape ``(n, K)``.

        ``precision`` (the result of :meth:`precisions`) and ``volumes`` (of
        :meth:`log_volumes`) save recomputing them. With ``volume=True`` the
        log-volume of each centre is added unless ``with_volume=False``.
        """
        if precision is None and self.has_precision:
            precision, log_det = self._precisions_and_log_det()
            if volumes is None:
                volumes = self._log_volumes(log_det)
        d = self.dissimilarity.pairwise(x, self.centers, precision)
        if self.volume and with_volume:
            d = d + (self.log_volumes(precision) if volumes is None else volumes)
        return d

    def logits(
        self, x: Tensor, precision: Tensor | None = None, volumes: Tensor | None = None
    ) -> Tensor:
        """Assignment logits :math:`-\\alpha D + \\log\\pi`, shape ``(n, K)``."""
        d = self.dissimilarities(x, precision, volumes)
        return -self.alpha * d + self.log_mixing_weights()

    def forward(self, x: Tensor) -> Tensor:
        """Soft assignments :math:`s_{ik}`, shape ``(n, K)``; rows sum to one."""
        return torch.softmax(self.logits(x), dim=-1)

    def extra_repr(self) -> str:
        return (
            f"n_clusters={self.n_clusters}, n_features={self.n_features}, "
            f"alpha={float(self.alpha):g}, dissimilarity={self.dissimilarity!r}"
            + (", volume=True" if self.volume else "")
        )


class DissimilarityMixtureAutoencoder(DissimilarityMixtureEncoder):
    r"""DM autoencoder: the DM encoder plus the soft-assigned reconstruction.

    ``forward`` returns a :class:`DMOutput` with the soft assignments, the soft-assigned
    centroid :math:`\tilde\mu_i = \sum_k s_{ik}\theta_k`, :math:`\log\tilde\pi_i` and, with
    precisions, the precision matrices :math:`P_k` from which
    :math:`\tilde P_i = \sum_k s_{ik} P_k` is mixed (``DMOutput.precisions`` builds it on
    demand; the loss does not). :meth:`loss` is the per-sample DMAE loss. Parameters are
    those of :class:`DissimilarityMixtureEncoder`.

    Examples
    --------
    >>> import torch
    >>> from skdeepclust.nn.dmae import DissimilarityMixtureAutoencoder
    >>> _ = torch.manual_seed(0)
    >>> head = DissimilarityMixtureAutoencoder(2, 2, alpha=10.0)
    >>> with torch.no_grad():
    ...     _ = head.centers.copy_(torch.tensor([[0.0, 0.0], [5.0, 5.0]]))
    ...     out = head(torch.tensor([[0.1, 0.0], [5.0, 4.9]]))
    >>> out.assignments.argmax(1).tolist()
    [0, 1]
    >>> out.centroids.round(decimals=3)
    tensor([[0., 0.],
            [5., 5.]])
    """

    def forward(self, x: Tensor) -> DMOutput:  # type: ignore[override]
        if self._minibatch_forms(x):
            return self._forward_minibatch(x)
        precision = volumes = None
        if self.has_precision:  # once: the logits and the loss share them
            precision, log_det = self._precisions_and_log_det()
            volumes = self._log_volumes(log_det)
        logits = self.logits(x, precision, volumes)
        log_s = torch.log_softmax(logits, dim=-1)
        s = log_s.exp()
        centroids = s @ self.centers
        log_mixing = torch.logsumexp(log_s + self.log_mixing_weights(), dim=-1)
        return DMOutput(s, log_s, centroids, log_mixing, precision, volumes)

    def _minibatch_forms(self, x: Tensor) -> bool:
        """Whether :meth:`forward` trains the built-in Mahalanobis head on a minibatch
        (:class:`_MinibatchForms`): autograd on, the precisions learned, and the
        ``(K, n, d)`` products of the batch within one block of the quadratic forms."""
        raw = self.covariance_raw
        return (
            raw is not None
            and raw.requires_grad
            and torch.is_grad_enabled()
            and self.dissimilarity._func is None
            and self.dissimilarity.name == "mahalanobis"
            and x.dim() == 2
            and x.dtype == raw.dtype
            and self.centers.dtype == raw.dtype
            and self.n_clusters <= _quad_block(x.shape[0], x.shape[1], x.element_size())
        )

    def _forward_minibatch(self, x: Tensor) -> DMOutput:
        self.__dict__.pop("_precision_cache", None)  # stale once the step updates raw
        ledger: dict = {}
        precision, log_det, d = _MinibatchForms.apply(
            self.covariance_raw, self.covariance_scale, self.covariance_floor,
            self.normalize_precision, x, self.centers, ledger)
        volumes = self._log_volumes(log_det)
        if volumes is not None:
            d = d + volumes
        log_pi = self.log_mixing_weights()
        log_s = torch.log_softmax(-self.alpha * d + log_pi, dim=-1)
        s = log_s.exp()
        centroids = s @ self.centers
        log_mixing = torch.logsumexp(log_s + log_pi, dim=-1)
        forms = _MixtureForms.apply(x, s, self.centers, precision, ledger)
        rec = (s * forms).sum(-1)
        return DMOutput(s, log_s, centroids, log_mixing, precision, volumes, rec)

    def loss(self, x: Tensor, output: DMOutput | None = None) -> Tensor:
        """Per-sample DMAE loss, shape ``(n,)`` (see :func:`dmae_loss`)."""
        if output is None:
            output = self(x)
        return dmae_loss(x, output, self.dissimilarity, self.alpha)


def dmae_loss(
    x: Tensor,
    output: DMOutput,
    dissimilarity: DissimilarityFunction,
    alpha: Tensor | float,
) -> Tensor:
    r"""Per-sample DMAE loss :math:`d(x_i, \tilde\mu_i; \tilde P_i) - \log(\tilde\pi_i)/\alpha`.

    With log-volume terms :math:`v_k` (``output.component_volumes``, a head with
    ``volume=True``) the loss adds their soft-assigned mean :math:`\sum_k s_{ik} v_k`.

    For ``"kullback_leibler"`` the mixing term is dropped, as in the source:
    :math:`\ell_i = \sum_j P_{ij}\log P_{ij} - P_{ij}\log \tilde Q_{ij}` with
    :math:`\tilde Q = \mathrm{norm}(\tilde\mu)`.

    Parameters
    ----------
    x : Tensor of shape (n, d)
    output : DMOutput
        The head's output for ``x``.
    dissimilarity : DissimilarityFunction
    alpha : float or Tensor

    Returns
    -------
    loss : Tensor of shape (n,)
        Average it (or sum it) over the batch.
    """
    if output.reconstruction is not None:
        rec = output.reconstruction
    elif output.component_precisions is None:
        rec = dissimilarity.rowwise(x, output.centroids)
    else:  # no per-sample (n, d, d) precision
        rec = dissimilarity.mixture_rowwise(
            x, output.centroids, output.assignments, output.component_precisions
        )
    if output.component_volumes is not None:
        rec = rec + output.assignments @ output.component_volumes
    if dissimilarity.name == "kullback_leibler":
        return rec
    return rec - output.log_mixing / alpha


#: Bytes of one float64 chunk of rows of :func:`precision_factor_from_partition`.
_STATS_CHUNK_BYTES = 8 * 2**20


# ------------------------------------------------------------------------------------
# initializers (torch parts; the KMeans fit itself lives in the estimator)
# ------------------------------------------------------------------------------------
@torch.no_grad()
def plus_plus_init(
    X: Tensor,
    n_clusters: int,
    dissimilarity: DissimilarityFunction | Callable[[Tensor, Tensor], Tensor],
    n_iter: int = 100,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Dissimilarity-aware seeding of ``n_clusters`` centres among the rows of ``X``.

    The ``dmae`` "InitPlusPlus" procedure, which works with any dissimilarity (it is not
    the D²-sampling of k-means++). Start from ``n_clusters`` distinct random rows; then,
    ``n_iter`` times, draw a random row as a candidate and

    - if it is farther from its nearest centre than the two closest centres are from each
      other, it replaces whichever of those two centres is nearer to it;
    - otherwise, if it is farther from its second-nearest centre than its nearest centre
      is from that centre's own nearest neighbour, it replaces its nearest centre.

    Each swap spreads the centres out. Precision-based dissimilarities are evaluated with
    identity precisions.

    Parameters
    ----------
    X : Tensor of shape (n, d)
    n_clusters : int
        ``<= n``.
    dissimilarity : DissimilarityFunction or callable
        Pairwise ``f(A, B) -> (len(A), len(B))``.
    n_iter : int, default=100
    generator : torch.Generator, optional
        Source of every random draw.

    Returns
    -------
    centers : Tensor of shape (n_clusters, d)
        Rows of ``X`` (a copy).
    """
    n, d = X.shape
    if n_clusters > n:
        raise ValueError(f"n_samples={n} should be >= n_clusters={n_clusters}.")
    if isinstance(dissimilarity, DissimilarityFunction):
        eye = None
        if dissimilarity.needs_precision:
            eye = torch.eye(d, dtype=X.dtype, device=X.device)

        def pairwise(a: Tensor, b: Tensor) -> Tensor:
            prec = None if eye is None else eye.expand(b.shape[0], d, d)
            return dissimilarity.pairwise(a, b, prec)

    else:
        pairwise = dissimilarity
    draw_on = generator.device if generator is not None else torch.device("cpu")
    perm = torch.randperm(n, generator=generator, device=draw_on).to(X.device)
    centers = X[perm[:n_clusters]].clone()
    if n_clusters < 2:
        return centers
    candidates = torch.randint(n, (n_iter,), generator=generator, device=draw_on).tolist()
    inf = torch.tensor(float("inf"), dtype=X.dtype, device=X.device)
    for idx in candidates:
        between = pairwise(centers, centers)
        between.fill_diagonal_(inf)
        candidate = X[idx : idx + 1]
        to_centers = pairwise(candidate, centers).reshape(-1)
        nearest = int(torch.argmin(to_centers))
        closest_pair = divmod(int(torch.argmin(between)), n_clusters)
        if to_centers[nearest] > between.min():
            pair = torch.tensor(closest_pair, device=X.device)
            to_pair = pairwise(candidate, centers[pair]).reshape(-1)
            centers[closest_pair[int(torch.argmin(to_pair))]] = candidate[0]
        else:
            others = to_centers.clone()
            others[nearest] = inf
            if others.min() > between[nearest].min():
                centers[nearest] = candidate[0]
    return centers


@torch.no_grad()
def precision_factor_from_partition(
    X: Tensor, labels: Tensor, n_clusters: int, reg_covar: float = 1e-6
) -> Tensor:
    """Cholesky factors of the inverse covariance of every cluster of a partition.

    The ``dmae`` "InitKMeansCov" initializer: ``L_k = cholesky(inv(cov(X[labels == k])))``.
    ``reg_covar`` times the average feature variance of ``X`` is added to every diagonal
    so that small or flat clusters stay invertible; a cluster with fewer than two points
    uses the covariance of all of ``X``.

    The statistics are accumulated in float64 (the inverse of a flat cluster's covariance
    needs it) over chunks of rows, in two passes (means and variances, then one cluster's
    centred scatter matrix at a time), so the extra memory is a few ``d x d`` matrices
    and one chunk, not a float64 copy of ``X``.

    Parameters
    ----------
    X : Tensor of shape (n, d)
    labels : Tensor of shape (n,)
        Integers in ``[0, n_clusters)``.
    n_clusters : int
    reg_covar : float, default=1e-6

    Returns
    -------
    factor : Tensor of shape (n_clusters, d, d)
        Lower triangular with a positive diagonal; ``L L^T`` is the precision matrix.
    """
    n, d = X.shape
    dtype, f64 = X.dtype, torch.float64
    labels = torch.as_tensor(labels, device=X.device).long()
    eye = torch.eye(d, dtype=f64, device=X.device)
    order = torch.argsort(labels, stable=True)
    counts = torch.bincount(labels, minlength=n_clusters).tolist()
    bounds = [0]
    for c in counts:
        bounds.append(bounds[-1] + c)
    chunk = max(1, _STATS_CHUNK_BYTES // (8 * d))

    def rows(k: int):  # the rows of cluster k, in float64 chunks
        for s in range(bounds[k], bounds[k + 1], chunk):
            yield X[order[s : min(s + chunk, bounds[k + 1])]].to(f64)

    # pass 1: per-cluster means, and the total variance (sum of squares about the means
    # plus the between-cluster part), which sets the ridge
    means = torch.zeros(n_clusters, d, dtype=f64, device=X.device)
    within = torch.zeros(d, dtype=f64, device=X.device)
    for k in range(n_clusters):
        for part in rows(k):
            means[k] += part.sum(0)
        means[k] /= max(counts[k], 1)
        for part in rows(k):
            within += ((part - means[k]) ** 2).sum(0)
    weights = torch.tensor(counts, dtype=f64, device=X.device)[:, None]
    mean = (means * weights).sum(0) / n
    total = within + (weights * (means - mean) ** 2).sum(0)
    scale = total.mean() / (n - 1) if n > 1 else torch.ones((), dtype=f64)
    scale = scale.clamp_min(torch.finfo(dtype).tiny)
    ridge = (reg_covar * scale + torch.finfo(dtype).eps) * eye

    overall = None  # the covariance of all of X, only for clusters under two points
    factors = torch.empty(n_clusters, d, d, dtype=dtype, device=X.device)
    for k in range(n_clusters):  # pass 2: one d x d scatter matrix at a time
        if counts[k] >= 2:
            cov = torch.zeros(d, d, dtype=f64, device=X.device)
            for part in rows(k):
                part -= means[k]
                cov.addmm_(part.T, part)
            cov /= counts[k] - 1
        else:
            if overall is None:
                overall = _overall_covariance(X, mean, chunk) if n > 1 else eye.clone()
            cov = overall
        precision = torch.cholesky_inverse(torch.linalg.cholesky(cov + ridge))
        del cov
        precision = 0.5 * (precision + precision.T)
        factors[k] = torch.linalg.cholesky(precision).to(dtype)
    return factors


def _overall_covariance(X: Tensor, mean: Tensor, chunk: int) -> Tensor:
    """The covariance of the rows of ``X`` about ``mean``, in float64 chunks."""
    n, d = X.shape
    cov = torch.zeros(d, d, dtype=torch.float64, device=X.device)
    for s in range(0, n, chunk):
        part = X[s : s + chunk].to(torch.float64) - mean
        cov.addmm_(part.T, part)
    return cov / (n - 1)
