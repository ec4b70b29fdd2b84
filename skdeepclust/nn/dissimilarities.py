r"""Pairwise dissimilarities :math:`D(X, \Theta)` of shape ``(n, K)`` for mixture models.

Every built-in dissimilarity is written once as a *broadcast kernel* that reduces over the
last axis, so the same formula gives the pairwise matrix ``D(X, Y)`` of shape ``(n, K)``
(``X[:, None]`` against ``Y[None]``) and the row-wise vector ``d(x_i, y_i)`` of shape
``(n,)`` that the DMAE loss needs. The result for one row never depends on the other
rows of the batch, so batched inference gives the same values whatever the batch size.

Two pairwise matrices do not go through the broadcast kernel, which would build an
``(n, K, d)`` tensor: ``euclidean`` uses the matrix-product form
:math:`\lVert x\rVert^2 - 2 x\cdot y + \lVert y\rVert^2` (after shifting both sets by
the mean centre, clamped at zero; equal points can give a distance of the order of
``sqrt(eps)`` times their norm instead of exactly zero), and ``mahalanobis`` computes
:math:`(x - y_k)^\top P_k (x - y_k)` one block of centres at a time, with ``(n, d)``
matrix products against the ``(K, d, d)`` precisions and a backward pass that recomputes
them instead of storing ``(n, K, d)`` intermediates.

The formulas follow the behaviour of the ``dmae`` source (Lara & González, 2020) where
its documentation is wrong:

- ``cosine`` is one *minus* the cosine similarity;
- ``manhattan`` is :math:`\sum_j |x_j - y_j|`;
- ``mahalanobis`` is the *squared* distance :math:`(x-y)^\top P (x-y)` with a precision
  (inverse covariance) matrix :math:`P`;
- ``toroidal_euclidean`` is the *squared* distance on a torus. Unlike the source it works
  in any dimension: the minimum over :math:`\delta \in \{0, \pm 1\}^d` separates into one
  minimum per coordinate, and the wrapped difference :math:`t - L\,\mathrm{round}(t / L)`
  gives it exactly when the points lie inside one period.

``minkowski`` computes :math:`(\sum_j |x_j-y_j|^p)^{1/p}` for every :math:`p > 0` (the
source silently switched to the L1 distance for :math:`p \le 1`); ``p=inf`` is the
Chebyshev distance.

References
----------
.. [1] J. S. Lara and F. A. González, "Dissimilarity Mixture Autoencoder for Deep
   Clustering", arXiv:2006.08177, 2020.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

__all__ = [
    "DISSIMILARITIES",
    "KL_NORMALIZATIONS",
    "KL_POSITIVE_NORMALIZATIONS",
    "PRECISION_DISSIMILARITIES",
    "DissimilarityFunction",
    "chebyshev",
    "correlation",
    "cosine",
    "euclidean",
    "get_dissimilarity",
    "kullback_leibler",
    "mahalanobis",
    "manhattan",
    "minkowski",
    "toroidal_euclidean",
]


# --------------------------------------------------------------------------------------
# numerically safe helpers: exact values, finite gradients at zero distance
# --------------------------------------------------------------------------------------
def _safe_root(s: Tensor, p: float) -> Tensor:
    """``s ** (1 / p)`` for ``s >= 0`` with a zero (not NaN) gradient at ``s == 0``."""
    positive = s > 0
    s_safe = torch.where(positive, s, torch.ones_like(s))
    return torch.where(positive, s_safe ** (1.0 / p), torch.zeros_like(s))


def _safe_abs_pow(t: Tensor, p: float) -> Tensor:
    """``|t| ** p`` with a zero (not NaN) gradient at ``t == 0`` for any ``p > 0``."""
    a = t.abs()
    if p >= 1.0:
        return a**p
    positive = a > 0
    a_safe = torch.where(positive, a, torch.ones_like(a))
    return torch.where(positive, a_safe**p, torch.zeros_like(a))


def _unit(t: Tensor, eps: float = 1e-12) -> Tensor:
    """Rows scaled to unit L2 norm (zero rows stay zero)."""
    return t / t.norm(dim=-1, keepdim=True).clamp_min(eps)


# --------------------------------------------------------------------------------------
# broadcast kernels: a and b broadcast against each other, reduction over the last axis
# --------------------------------------------------------------------------------------
def _euclidean_kernel(a: Tensor, b: Tensor) -> Tensor:
    return _safe_root(((a - b) ** 2).sum(-1), 2.0)


def _cosine_kernel(a: Tensor, b: Tensor) -> Tensor:
    return 1.0 - (_unit(a) * _unit(b)).sum(-1)


def _correlation_kernel(a: Tensor, b: Tensor) -> Tensor:
    return _cosine_kernel(a - a.mean(-1, keepdim=True), b - b.mean(-1, keepdim=True))


def _manhattan_kernel(a: Tensor, b: Tensor) -> Tensor:
    return (a - b).abs().sum(-1)


def _chebyshev_kernel(a: Tensor, b: Tensor) -> Tensor:
    return (a - b).abs().amax(-1)


def _minkowski_kernel(a: Tensor, b: Tensor, p: float = 2.0) -> Tensor:
    if math.isinf(p):
        return _chebyshev_kernel(a, b)
    if p == 1.0:
        return _manhattan_kernel(a, b)
    return _safe_root(_safe_abs_pow(a - b, p).sum(-1), p)


def _mahalanobis_kernel(a: Tensor, b: Tensor, precision: Tensor) -> Tensor:
    diff = a - b
    return torch.einsum("...i,...ij,...j->...", diff, precision, diff)


# --------------------------------------------------------------------------------------
# pairwise matrices through matrix products: never an (n, K, d) or (n, d, d) tensor
# --------------------------------------------------------------------------------------
#: Bytes of temporaries one block of the Mahalanobis quadratic forms may use.
_QUAD_BLOCK_BYTES = 32 * 2**20


def _sq_euclidean_matmul(X: Tensor, Y: Tensor) -> Tensor:
    """Squared Euclidean distances ``(..., n, K)`` by matrix products, clamped at 0."""
    shift = Y.detach().mean(-2, keepdim=True)  # less cancellation far from the origin
    Xs = X - shift
    Ys = Y - shift
    xx = (Xs * Xs).sum(-1, keepdim=True)
    yy = (Ys * Ys).sum(-1).unsqueeze(-2)
    cross = Xs @ Ys.transpose(-1, -2)
    return (xx + yy - 2.0 * cross).clamp_min(0.0)


def _euclidean_pairwise(X: Tensor, Y: Tensor) -> Tensor:
    return _safe_root(_sq_euclidean_matmul(X, Y), 2.0)


def _quad_block(n: int, d: int, itemsize: int) -> int:
    """How many centres one block of quadratic forms handles (two ``(n, d)`` per centre)."""
    return max(1, _QUAD_BLOCK_BYTES // max(1, 2 * n * d * itemsize))


class _QuadraticForms(torch.autograd.Function):
    r""":math:`Q_{ik} = (x_i - m_k)^\top P_k (x_i - m_k)` for symmetric ``P``, shape ``(n, K)``.

    The forward and the backward pass work on blocks of centres, so the largest
    temporary is ``(block, n, d)`` with ``block * n * d`` within ``_QUAD_BLOCK_BYTES``.
    When all centres fit in one block (a training minibatch), the products
    :math:`P_k (x_i - m_k)` of the forward pass are kept for the backward pass; otherwise
    nothing of size ``n * K * d`` is kept (it is recomputed).
    """

    @staticmethod
    def forward(ctx, X: Tensor, M: Tensor, P: Tensor) -> Tensor:
        n, d = X.shape
        K = M.shape[0]
        out = X.new_empty(n, K)
        step = _quad_block(n, d, X.element_size())
        VP = None
        for start in range(0, K, step):
            sl = slice(start, start + step)
            V = X.unsqueeze(0) - M[sl].unsqueeze(1)  # (b, n, d)
            VP = torch.bmm(V, P[sl])
            out[:, sl] = (VP * V).sum(-1).T
        keep = step >= K and any(ctx.needs_input_grad[:2])  # a minibatch: one block
        ctx.save_for_backward(X, M, P, VP if keep else None)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, G: Tensor):
        X, M, P, kept = ctx.saved_tensors
        n, d = X.shape
        K = M.shape[0]
        need_x, need_m, need_p = ctx.needs_input_grad
        grad_X = torch.zeros_like(X) if need_x else None
        grad_M = torch.empty_like(M) if need_m else None
        grad_P = torch.empty_like(P) if need_p else None
        step = K if kept is not None else _quad_block(n, d, X.element_size())
        for start in range(0, K, step):
            sl = slice(start, start + step)
            V = X.unsqueeze(0) - M[sl].unsqueeze(1)  # (b, n, d)
            g = G[:, sl].T.unsqueeze(-1)  # (b, n, 1)
            if need_x or need_m:
                VP = kept if kept is not None else torch.bmm(V, P[sl])
                GW = g * VP  # (b, n, d): g_ik P_k (x_i - m_k)
                if need_x:
                    grad_X += 2.0 * GW.sum(0)
                if need_m:
                    grad_M[sl] = -2.0 * GW.sum(1)
                del GW
            if need_p:
                grad_P[sl] = torch.bmm(V.transpose(1, 2), g * V)
        return grad_X, grad_M, grad_P


def _quadratic_forms(X: Tensor, M: Tensor, precision: Tensor) -> Tensor:
    """``(x_i - m_k)^T P_k (x_i - m_k)``, shape ``(n, K)``, without ``(n, K, d)`` tensors."""
    dtype = torch.promote_types(torch.promote_types(X.dtype, M.dtype), precision.dtype)
    K, d = M.shape
    P = precision
    if not torch.equal(P, P.transpose(-1, -2)):  # same quadratic form, symmetric
        P = 0.5 * (P + P.transpose(-1, -2))
    P = P.expand(K, d, d).to(dtype)
    return _QuadraticForms.apply(X.to(dtype), M.to(dtype), P.contiguous())


def _mahalanobis_pairwise(X: Tensor, Y: Tensor, precision: Tensor) -> Tensor:
    if X.dim() != 2 or Y.dim() != 2 or precision.dim() != 3:
        # batched leading dimensions: the broadcast kernel
        return _pairwise(_mahalanobis_kernel, X, Y, precision=precision.unsqueeze(-4))
    return _quadratic_forms(X, Y, precision)


def _mahalanobis_mixture_rowwise(
    X: Tensor, Y: Tensor, weights: Tensor, precision: Tensor
) -> Tensor:
    r""":math:`(x_i - y_i)^\top (\sum_k w_{ik} P_k) (x_i - y_i)` without the ``(n, d, d)``."""
    diff = X - Y
    zero = diff.new_zeros(precision.shape[0], diff.shape[-1])
    return (weights * _quadratic_forms(diff, zero, precision)).sum(-1)


def _toroidal_kernel(a: Tensor, b: Tensor, interval: Tensor | float = 2.0) -> Tensor:
    period = torch.as_tensor(interval, dtype=a.dtype, device=a.device)
    diff = a - b
    # round() has a zero gradient, so the gradient is the one of the plain difference
    wrapped = diff - period * torch.round(diff / period)
    return (wrapped**2).sum(-1)


def _kl_kernel(
    a: Tensor,
    b: Tensor,
    normalization: str | Callable[[Tensor, float], Tensor] = "softmax_abs",
    eps: float = 1e-3,
) -> Tensor:
    norm = _get_normalization(normalization)
    p = norm(a, eps)
    q = norm(b, eps)
    return (p * (torch.log(p) - torch.log(q))).sum(-1)


# --------------------------------------------------------------------------------------
# KL normalisations (dmae.normalizers): logits -> probability rows
# --------------------------------------------------------------------------------------
def _sum_normalize(t: Tensor) -> Tensor:
    return t / t.sum(-1, keepdim=True)


def _softmax_abs(t: Tensor, eps: float) -> Tensor:
    return torch.softmax(t.abs() + eps, dim=-1)


def _softmax_relu(t: Tensor, eps: float) -> Tensor:
    return torch.softmax(torch.relu(t) + eps, dim=-1)


def _squared_sum(t: Tensor, eps: float) -> Tensor:
    return _sum_normalize(t**2 + eps)


def _abs_sum(t: Tensor, eps: float) -> Tensor:
    return _sum_normalize(t.abs() + eps)


def _relu_sum(t: Tensor, eps: float) -> Tensor:
    return _sum_normalize(torch.relu(t) + eps)


def _identity(t: Tensor, eps: float) -> Tensor:
    return _sum_normalize(t + eps)


#: The six normalisations of ``dmae.normalizers``: ``f(logits, eps) -> probabilities``.
KL_NORMALIZATIONS: dict[str, Callable[[Tensor, float], Tensor]] = {
    "softmax_abs": _softmax_abs,
    "softmax_relu": _softmax_relu,
    "squared_sum": _squared_sum,
    "abs_sum": _abs_sum,
    "relu_sum": _relu_sum,
    "identity": _identity,
}

#: Normalisations that are only probabilities when ``logits + eps > 0``.
KL_POSITIVE_NORMALIZATIONS: frozenset[str] = frozenset({"identity"})


def _get_normalization(
    normalization: str | Callable[[Tensor, float], Tensor],
) -> Callable[[Tensor, float], Tensor]:
    if callable(normalization):
        return normalization
    try:
        return KL_NORMALIZATIONS[normalization]
    except KeyError:
        raise ValueError(
            f"Unknown KL normalization {normalization!r}. "
            f"Valid options are {sorted(KL_NORMALIZATIONS)} or a callable f(X, eps)."
        ) from None


# --------------------------------------------------------------------------------------
# public pairwise functions (n, d) x (K, d) -> (n, K)
# --------------------------------------------------------------------------------------
def _pairwise(kernel: Callable[..., Tensor], X: Tensor, Y: Tensor, **kwargs) -> Tensor:
    return kernel(X.unsqueeze(-2), Y.unsqueeze(-3), **kwargs)


def euclidean(X: Tensor, Y: Tensor) -> Tensor:
    r"""Pairwise Euclidean distance :math:`D_{ik} = \lVert x_i - y_k \rVert_2` (not squared).

    Parameters
    ----------
    X : Tensor of shape (n_samples, n_features)
        Points.
    Y : Tensor of shape (n_clusters, n_features)
        Cluster centres.

    Returns
    -------
    D : Tensor of shape (n_samples, n_clusters)

    Examples
    --------
    >>> import torch
    >>> from skdeepclust.nn.dissimilarities import euclidean
    >>> euclidean(torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0], [0.0, 1.0]]))
    tensor([[5., 1.]])
    """
    return _euclidean_pairwise(X, Y)


def cosine(X: Tensor, Y: Tensor) -> Tensor:
    r"""Pairwise cosine distance :math:`D_{ik} = 1 - \cos(x_i, y_k)`.

    :math:`\cos(x, y) = x \cdot y / (\lVert x \rVert \lVert y \rVert)`.

    A zero vector has distance 1 to everything. See :func:`euclidean` for the shapes.
    """
    return _pairwise(_cosine_kernel, X, Y)


def correlation(X: Tensor, Y: Tensor) -> Tensor:
    r"""Pairwise correlation distance: the cosine distance of row-centred vectors.

    Same definition as ``scipy.spatial.distance.correlation``. See :func:`euclidean` for
    the shapes.
    """
    return _pairwise(_correlation_kernel, X, Y)


def manhattan(X: Tensor, Y: Tensor) -> Tensor:
    r"""Pairwise Manhattan (L1) distance :math:`D_{ik} = \sum_j |x_{ij} - y_{kj}|`.

    See :func:`euclidean` for the shapes.
    """
    return _pairwise(_manhattan_kernel, X, Y)


def chebyshev(X: Tensor, Y: Tensor) -> Tensor:
    r"""Pairwise Chebyshev distance :math:`D_{ik} = \max_j |x_{ij} - y_{kj}|`.

    See :func:`euclidean` for the shapes.
    """
    return _pairwise(_chebyshev_kernel, X, Y)


def minkowski(X: Tensor, Y: Tensor, p: float = 2.0) -> Tensor:
    r"""Pairwise Minkowski distance :math:`D_{ik} = (\sum_j |x_{ij} - y_{kj}|^p)^{1/p}`.

    Parameters
    ----------
    X, Y : Tensor
        See :func:`euclidean`.
    p : float, default=2.0
        Order, ``p > 0``; ``p=inf`` gives :func:`chebyshev`. For ``p < 1`` this is not a
        metric (no triangle inequality) but still a valid dissimilarity.

    Returns
    -------
    D : Tensor of shape (n_samples, n_clusters)
    """
    _check_p(p)
    return _pairwise(_minkowski_kernel, X, Y, p=float(p))


def mahalanobis(X: Tensor, Y: Tensor, precision: Tensor) -> Tensor:
    r"""Pairwise squared Mahalanobis distance :math:`D_{ik} = (x_i - y_k)^\top P_k (x_i - y_k)`.

    Parameters
    ----------
    X, Y : Tensor
        See :func:`euclidean`.
    precision : Tensor of shape (n_clusters, n_features, n_features)
        One precision (inverse covariance) matrix per centre. With identity matrices the
        result is the squared Euclidean distance.

    Returns
    -------
    D : Tensor of shape (n_samples, n_clusters)
    """
    return _mahalanobis_pairwise(X, Y, precision)


def toroidal_euclidean(
    X: Tensor, Y: Tensor, interval: Tensor | float | Sequence[float] = 2.0
) -> Tensor:
    r"""Pairwise squared Euclidean distance on a torus (periodic features), any dimension.

    Coordinate ``j`` is periodic with period ``interval[j]``:
    :math:`D_{ik} = \sum_j \min_{\delta \in \mathbb{Z}} (x_{ij} - y_{kj} + \delta L_j)^2`,
    which equals the ``dmae`` formula (minimum over :math:`\delta \in \{0, \pm1\}^d`)
    whenever the points lie within one period of each other.

    Parameters
    ----------
    X, Y : Tensor
        See :func:`euclidean`.
    interval : float or sequence of float, default=2.0
        Period of each feature (a scalar applies to all features).

    Returns
    -------
    D : Tensor of shape (n_samples, n_clusters)
    """
    return _pairwise(_toroidal_kernel, X, Y, interval=_as_interval(interval, X))


def kullback_leibler(
    X: Tensor,
    Y: Tensor,
    normalization: str | Callable[[Tensor, float], Tensor] = "softmax_abs",
    eps: float = 1e-3,
) -> Tensor:
    r"""Pairwise Kullback–Leibler divergence :math:`D_{ik} = \sum_j P_{ij} \log(P_{ij} / Q_{kj})`.

    ``P = normalization(X, eps)`` and ``Q = normalization(Y, eps)`` turn the rows (logits)
    into probability vectors.

    Parameters
    ----------
    X, Y : Tensor
        See :func:`euclidean`; rows are unnormalised logits.
    normalization : str or callable, default="softmax_abs"
        One of ``KL_NORMALIZATIONS`` (``"softmax_abs"``, ``"softmax_relu"``,
        ``"squared_sum"``, ``"abs_sum"``, ``"relu_sum"``, ``"identity"``) or a callable
        ``f(X, eps)`` returning rows that sum to one. ``"identity"`` needs
        ``X + eps > 0``.
    eps : float, default=1e-3
        Added before normalising, keeps every probability positive.

    Returns
    -------
    D : Tensor of shape (n_samples, n_clusters)
    """
    _get_normalization(normalization)
    return _pairwise(_kl_kernel, X, Y, normalization=normalization, eps=eps)


#: Name -> public pairwise function. A new dissimilarity is one entry here plus a kernel.
DISSIMILARITIES: dict[str, Callable[..., Tensor]] = {
    "euclidean": euclidean,
    "cosine": cosine,
    "correlation": correlation,
    "manhattan": manhattan,
    "minkowski": minkowski,
    "chebyshev": chebyshev,
    "mahalanobis": mahalanobis,
    "toroidal_euclidean": toroidal_euclidean,
    "kullback_leibler": kullback_leibler,
}

#: Dissimilarities whose centres carry a precision matrix (the DMAE "Cov" variant).
PRECISION_DISSIMILARITIES: frozenset[str] = frozenset({"mahalanobis"})

# name -> (broadcast kernel, names of the keyword parameters it takes)
_KERNELS: dict[str, tuple[Callable[..., Tensor], tuple[str, ...]]] = {
    "euclidean": (_euclidean_kernel, ()),
    "cosine": (_cosine_kernel, ()),
    "correlation": (_correlation_kernel, ()),
    "manhattan": (_manhattan_kernel, ()),
    "minkowski": (_minkowski_kernel, ("p",)),
    "chebyshev": (_chebyshev_kernel, ()),
    "mahalanobis": (_mahalanobis_kernel, ()),
    "toroidal_euclidean": (_toroidal_kernel, ("interval",)),
    "kullback_leibler": (_kl_kernel, ("normalization", "eps")),
}


# name -> pairwise (n, d) x (K, d) -> (n, K) function that replaces the broadcast kernel
_PAIRWISE: dict[str, Callable[..., Tensor]] = {
    "euclidean": _euclidean_pairwise,
    "mahalanobis": _mahalanobis_pairwise,
}


def _check_p(p: float) -> None:
    if not p > 0:
        raise ValueError(f"The Minkowski order p={p} should be > 0.")


def _as_interval(interval: Tensor | float | Sequence[float], X: Tensor) -> Tensor:
    period = torch.as_tensor(interval, dtype=X.dtype, device=X.device)
    if period.ndim > 1 or (period.ndim == 1 and period.shape[0] not in (1, X.shape[-1])):
        raise ValueError(
            f"interval should be a scalar or have one period per feature "
            f"(length {X.shape[-1]}), got shape {tuple(period.shape)}."
        )
    if bool((period <= 0).any()):
        raise ValueError(f"Every period in interval should be > 0, got {period.tolist()}.")
    return period


def _takes_precision(func: Callable) -> bool:
    try:
        return "precision" in inspect.signature(func).parameters
    except (TypeError, ValueError):  # builtins without a signature
        return False


class DissimilarityFunction:
    """A resolved dissimilarity: pairwise matrix, row-wise vector and its parameters.

    Use :func:`get_dissimilarity` to build one. Instances are picklable when the wrapped
    user callable is (a module-level function, not a lambda).

    Parameters
    ----------
    name : str or callable
        A key of ``DISSIMILARITIES`` or a callable ``f(X, Y) -> (n, K)``. A callable that
        has a parameter named ``precision`` is called as ``f(X, Y, precision=P)`` with
        ``P`` of shape ``(K, d, d)`` and makes the mixture carry precision matrices.
    **params
        Keyword parameters of the built-in dissimilarity (``p`` for ``"minkowski"``,
        ``interval`` for ``"toroidal_euclidean"``, ``normalization`` and ``eps`` for
        ``"kullback_leibler"``); the others are ignored.

    Attributes
    ----------
    needs_precision : bool
        Whether :meth:`pairwise` and :meth:`rowwise` need a ``precision`` argument.
    """

    def __init__(self, name: str | Callable[..., Tensor], **params) -> None:
        if callable(name):
            self.name = getattr(name, "__name__", "callable")
            self._func = name
            self._kernel = None
            self.params: dict = {}
            self.needs_precision = _takes_precision(name)
            return
        if name not in _KERNELS:
            raise ValueError(
                f"Unknown dissimilarity {name!r}. Valid options are {sorted(_KERNELS)} "
                "or a callable f(X, Y) -> (n_samples, n_clusters)."
            )
        self.name = name
        self._func = None
        self._kernel, names = _KERNELS[name]
        self.params = {k: params[k] for k in names if k in params and params[k] is not None}
        if "p" in self.params:
            self.params["p"] = float(self.params["p"])
            _check_p(self.params["p"])
        if "normalization" in self.params:
            _get_normalization(self.params["normalization"])
        self.needs_precision = name in PRECISION_DISSIMILARITIES

    def _kwargs(self, X: Tensor, precision: Tensor | None, pairwise: bool) -> dict:
        kwargs = dict(self.params)
        if "interval" in kwargs:
            kwargs["interval"] = _as_interval(kwargs["interval"], X)
        if self.needs_precision:
            if precision is None:
                raise ValueError(f"The {self.name!r} dissimilarity needs a precision tensor.")
            kwargs["precision"] = precision.unsqueeze(-4) if pairwise else precision
        return kwargs

    def pairwise(self, X: Tensor, Y: Tensor, precision: Tensor | None = None) -> Tensor:
        """Dissimilarity matrix of shape ``(n, K)`` between rows of ``X`` and ``Y``.

        ``precision`` has shape ``(K, d, d)`` when :attr:`needs_precision`.
        """
        if self._func is not None:
            if self.needs_precision:
                return self._func(X, Y, precision=precision)
            return self._func(X, Y)
        if self.name in _PAIRWISE:  # matrix-product forms, no (n, K, d) tensor
            kwargs = self._kwargs(X, precision, False)
            return _PAIRWISE[self.name](X, Y, **kwargs)
        return self._kernel(X.unsqueeze(-2), Y.unsqueeze(-3), **self._kwargs(X, precision, True))

    def rowwise(
        self, X: Tensor, Y: Tensor, precision: Tensor | None = None, chunk_size: int = 256
    ) -> Tensor:
        """Dissimilarity ``d(x_i, y_i)`` of matching rows, shape ``(n,)``.

        ``precision`` has shape ``(n, d, d)`` when :attr:`needs_precision`. A user callable
        only gives pairwise matrices, so its row-wise value is the diagonal of pairwise
        blocks of ``chunk_size`` rows.
        """
        if self._func is None:
            return self._kernel(X, Y, **self._kwargs(X, precision, False))
        out = []
        for start in range(0, X.shape[0], chunk_size):
            sl = slice(start, start + chunk_size)
            prec = None if precision is None else precision[sl]
            out.append(self.pairwise(X[sl], Y[sl], prec).diagonal())
        return torch.cat(out) if out else X.new_zeros(0)

    def mixture_rowwise(
        self, X: Tensor, Y: Tensor, weights: Tensor, precision: Tensor, chunk_size: int = 256
    ) -> Tensor:
        r"""Row-wise ``d(x_i, y_i)`` under the mixed precision :math:`\sum_k w_{ik} P_k`.

        The same value as :meth:`rowwise` with ``precision=einsum("nk,kij->nij", weights,
        precision)``, without that ``(n, d, d)`` tensor: the built-in ``"mahalanobis"`` is
        linear in the precision, so it is :math:`\sum_k w_{ik} (x_i-y_i)^\top P_k
        (x_i-y_i)`; a user callable gets the mixed precisions of ``chunk_size`` rows at a
        time.

        Parameters
        ----------
        X, Y : Tensor of shape (n, d)
        weights : Tensor of shape (n, K)
        precision : Tensor of shape (K, d, d)
        chunk_size : int, default=256

        Returns
        -------
        Tensor of shape (n,)
        """
        if self._func is None and self.name == "mahalanobis":
            return _mahalanobis_mixture_rowwise(X, Y, weights, precision)
        out = []
        for start in range(0, X.shape[0], chunk_size):
            sl = slice(start, start + chunk_size)
            mixed = torch.einsum("nk,kij->nij", weights[sl], precision)
            out.append(self.rowwise(X[sl], Y[sl], mixed, chunk_size=chunk_size))
        return torch.cat(out) if out else X.new_zeros(0)

    def __call__(self, X: Tensor, Y: Tensor, precision: Tensor | None = None) -> Tensor:
        return self.pairwise(X, Y, precision)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"DissimilarityFunction({self.name!r}{', ' if params else ''}{params})"


def get_dissimilarity(
    dissimilarity: str | Callable[..., Tensor] | DissimilarityFunction, **params
) -> DissimilarityFunction:
    """Resolve a name, a callable or a :class:`DissimilarityFunction` into the latter.

    Parameters
    ----------
    dissimilarity : str, callable or DissimilarityFunction
        A key of ``DISSIMILARITIES`` or a callable ``f(X, Y[, precision]) -> (n, K)``.
    **params
        ``p``, ``interval``, ``normalization``, ``eps``: passed to the built-in
        dissimilarity that uses them, ignored by the others.

    Returns
    -------
    DissimilarityFunction

    Examples
    --------
    >>> import torch
    >>> from skdeepclust.nn.dissimilarities import get_dissimilarity
    >>> d = get_dissimilarity("minkowski", p=1.0)
    >>> d.pairwise(torch.zeros(1, 2), torch.ones(3, 2))
    tensor([[2., 2., 2.]])
    """
    if isinstance(dissimilarity, DissimilarityFunction):
        return dissimilarity
    return DissimilarityFunction(dissimilarity, **params)
