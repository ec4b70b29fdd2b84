r"""Invertible flow layers, a sequential flow, and the supervised factor loss on pairs.

Every layer maps a flat batch ``x`` of shape ``(batch, n_features)`` to
``(y, log_abs_det)`` where ``log_abs_det`` has shape ``(batch,)`` and holds
:math:`\log|\det \partial y / \partial x|`, and ``layer.inverse(y)`` recovers ``x``
exactly (up to floating point). Layers that need a spatial layout (the checkerboard
mask and permutation) take an ``event_shape`` whose product is ``n_features`` and work
on the row-major flattening of it.

This module is pure PyTorch: it imports neither scikit-learn nor numpy.

References
----------
Dinh, L., Krueger, D. & Bengio, Y. (2015). NICE: Non-linear Independent Components
Estimation. arXiv:1410.8516.
Dinh, L., Sohl-Dickstein, J. & Bengio, S. (2017). Density estimation using Real NVP.
arXiv:1605.08803.
Kingma, D. P. & Dhariwal, P. (2018). Glow: Generative Flow with Invertible 1x1
Convolutions. arXiv:1807.03039.
Meng, C., Song, Y., Song, J. & Ermon, S. (2020). Gaussianization Flows. arXiv:2003.01941.
Esser, P., Rombach, R. & Ommer, B. (2020). A Disentangling Invertible Interpretation
Network for Explaining Latent Representations. arXiv:2004.13166.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch
from torch import Tensor, nn

from ..mlp import MLP

__all__ = [
    "COUPLINGS",
    "MASKS",
    "ActNorm",
    "AdditiveCoupling",
    "AffineCoupling",
    "CheckerboardPermutation",
    "FlowLayer",
    "FlowSequential",
    "HeavisidePermutation",
    "Permutation",
    "Reflection",
    "ShufflePermutation",
    "SplineCoupling",
    "build_flow",
    "checkerboard_mask",
    "heaviside_mask",
    "make_factor_pairs",
    "rope_order",
    "soft_clamp",
    "standard_normal_log_prob",
    "supervised_factor_loss",
]

_LOG_2PI = math.log(2.0 * math.pi)


# --------------------------------------------------------------------------------------
# masks and orders
# --------------------------------------------------------------------------------------
def _as_shape(event_shape: int | Sequence[int]) -> tuple[int, ...]:
    shape = (int(event_shape),) if isinstance(event_shape, int) else tuple(map(int, event_shape))
    assert len(shape) >= 1 and all(s >= 1 for s in shape), f"bad 'event_shape' {shape}."
    return shape


def heaviside_mask(event_shape: int | Sequence[int]) -> Tensor:
    """Heaviside mask on the flattened event: zeros first, then ones (``0001111``).

    Parameters
    ----------
    event_shape : int or sequence of int
        Shape of one sample; the mask is built on its row-major flattening.

    Returns
    -------
    mask : bool Tensor of shape (prod(event_shape),)
        ``False`` for the first ``n // 2`` entries (transformed by a coupling), ``True``
        for the rest (passed through and used as the coupling's condition).
    """
    n = math.prod(_as_shape(event_shape))
    mask = torch.ones(n, dtype=torch.bool)
    mask[: n // 2] = False
    return mask


def checkerboard_mask(event_shape: int | Sequence[int]) -> Tensor:
    """Checkerboard mask: ``True`` where the sum of the multi-index is odd.

    Parameters
    ----------
    event_shape : int or sequence of int
        Shape of one sample, for example ``(8, 8)`` for an 8x8 image.

    Returns
    -------
    mask : bool Tensor of shape (prod(event_shape),)
        Row-major flattening of ``(i_0 + i_1 + ...) % 2 == 1``. For a vector this is
        ``0101...``.
    """
    shape = _as_shape(event_shape)
    grids = torch.meshgrid(*[torch.arange(s) for s in shape], indexing="ij")
    parity = torch.stack(grids).sum(0) % 2
    return parity.reshape(-1).bool()


def rope_order(event_shape: int | Sequence[int]) -> Tensor:
    """Flat indices of a boustrophedon ("rope") walk through a grid.

    The walk runs along the last axis, steps once along the axis before it, runs back,
    and so on recursively, so consecutive cells of the walk are always grid
    neighbours (and have opposite checkerboard colour).

    Parameters
    ----------
    event_shape : int or sequence of int
        Grid shape.

    Returns
    -------
    order : long Tensor of shape (prod(event_shape),)
        Row-major flat index of the k-th cell visited.
    """
    shape = _as_shape(event_shape)
    order = torch.arange(shape[-1])
    inner = shape[-1]
    for size in reversed(shape[:-1]):
        blocks = []
        for i in range(size):
            seq = order if i % 2 == 0 else order.flip(0)
            blocks.append(seq + i * inner)
        order = torch.cat(blocks)
        inner *= size
    return order


MASKS = {"checkerboard": checkerboard_mask, "heaviside": heaviside_mask}


# --------------------------------------------------------------------------------------
# base
# --------------------------------------------------------------------------------------
class FlowLayer(nn.Module):
    """Base class of the invertible layers.

    Subclasses implement ``forward(x) -> (y, log_abs_det)`` and ``inverse(y) -> x``,
    both on tensors of shape ``(batch, n_features)``.
    """

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def inverse(self, y: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


def _zero_log_det(x: Tensor) -> Tensor:
    return x.new_zeros(x.shape[0])


# --------------------------------------------------------------------------------------
# activation normalization
# --------------------------------------------------------------------------------------
class ActNorm(FlowLayer):
    r"""Activation normalization: :math:`y = (x - l) / s` with one ``(l, s)`` per feature.

    Stored as :math:`y = x e^{g} + b` (log-gain :math:`g = -\log s`, bias
    :math:`b = -l / s`, the two rows of one parameter ``weight``), so that :math:`s > 0`
    always and a call costs two tensor ops; :math:`\log|\det J| = \sum_j g_j =
    -\sum_j \log s_j`. It starts as the identity (``l = 0, s = 1``); :meth:`initialize`
    sets ``l`` and ``s`` to the mean and standard deviation of a batch (Glow's
    data-dependent initialisation), so that the output of that batch is standardized.

    Parameters
    ----------
    n_features : int
        Number of features.
    """

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.n_features = int(n_features)
        # one tensor, not two: optimizers pay per parameter tensor
        self.weight = nn.Parameter(torch.zeros(2, self.n_features))

    @property
    def bias(self) -> Tensor:
        """The bias :math:`b = -l / s`."""
        return self.weight[0]

    @property
    def log_gain(self) -> Tensor:
        r"""The log-gain :math:`g = -\log s`."""
        return self.weight[1]

    @property
    def loc(self) -> Tensor:
        """The location :math:`l`."""
        return -self.bias * torch.exp(-self.log_gain)

    @property
    def scale(self) -> Tensor:
        """The scale :math:`s > 0`."""
        return torch.exp(-self.log_gain)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        bias, log_gain = self.weight
        y = torch.addcmul(bias, x, torch.exp(log_gain))
        return y, log_gain.sum().expand(x.shape[0])

    def inverse(self, y: Tensor) -> Tensor:
        bias, log_gain = self.weight
        return (y - bias) * torch.exp(-log_gain)

    @torch.no_grad()
    def initialize(self, x: Tensor) -> None:
        """Set location and scale to the per-feature mean and std of ``x``.

        Features that are constant in ``x`` keep a unit scale.
        """
        mean = x.mean(0)
        std = x.std(0, unbiased=False) if x.shape[0] > 1 else torch.ones_like(mean)
        tiny = torch.finfo(x.dtype).eps ** 0.5
        std = torch.where(std > tiny, std, torch.ones_like(std))
        self.weight[1].copy_(-torch.log(std))
        self.weight[0].copy_(-mean / std)

    def extra_repr(self) -> str:
        return f"n_features={self.n_features}"


# --------------------------------------------------------------------------------------
# couplings
# --------------------------------------------------------------------------------------
class _Constant(nn.Module):
    """Conditioner for a coupling without conditioning inputs: a learned vector."""

    def __init__(self, n_out: int) -> None:
        super().__init__()
        self.value = nn.Parameter(torch.zeros(n_out))

    def forward(self, h: Tensor) -> Tensor:
        return self.value.expand(h.shape[0], -1)


def _conditioner(n_in: int, n_out: int, hidden: Sequence[int], activation: str) -> nn.Module:
    """MLP ``n_in -> hidden... -> n_out`` whose last layer starts at zero (identity coupling)."""
    if n_in == 0:
        return _Constant(n_out)
    mlp = MLP([n_in, *hidden, n_out], activation=activation)
    for linear in mlp.linears[:-1]:
        # torch's default init: random biases spread the ReLU kinks; MLP's zero biases
        # put them all at the origin, which cripples low-dimensional conditioners
        linear.reset_parameters()
    nn.init.zeros_(mlp.linears[-1].weight)
    nn.init.zeros_(mlp.linears[-1].bias)
    return mlp


def soft_clamp(s: Tensor, clamp: float) -> Tensor:
    r"""Smoothly bound log-scales to :math:`(-c, c)`: :math:`c \tanh(s / c)`.

    Close to the identity for :math:`|s| \ll c`; keeps deep affine stacks finite.
    ``clamp <= 0`` or ``inf`` disables it.
    """
    if not clamp or math.isinf(clamp) or clamp <= 0:
        return s
    return clamp * torch.tanh(s / clamp)


class _Coupling(FlowLayer):
    """Shared machinery of the coupling layers.

    ``mask`` is ``True`` for the features that pass unchanged and condition the
    network, ``False`` for those that are transformed.
    """

    n_params: int = 1

    def __init__(
        self,
        mask: Tensor,
        hidden_layer_sizes: Sequence[int] = (64,),
        *,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        mask = torch.as_tensor(mask).reshape(-1).bool()
        pass_idx = torch.nonzero(mask).reshape(-1)
        trans_idx = torch.nonzero(~mask).reshape(-1)
        self.n_features = int(mask.numel())
        self.register_buffer("mask", mask)
        self.register_buffer("pass_idx", pass_idx)
        self.register_buffer("trans_idx", trans_idx)
        self.register_buffer("order", torch.argsort(torch.cat([pass_idx, trans_idx])))
        self.hidden_layer_sizes = tuple(int(h) for h in hidden_layer_sizes)
        self.activation = activation
        n_trans = int(trans_idx.numel())
        self.conditioner = (
            _conditioner(
                int(pass_idx.numel()), self.n_params * n_trans, self.hidden_layer_sizes, activation
            )
            if n_trans
            else None
        )

    def _couple(self, x2: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError  # pragma: no cover

    def _decouple(self, y2: Tensor, params: Tensor) -> Tensor:
        raise NotImplementedError  # pragma: no cover

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if self.conditioner is None:
            return x, _zero_log_det(x)
        x1 = x.index_select(1, self.pass_idx)
        x2 = x.index_select(1, self.trans_idx)
        y2, log_det = self._couple(x2, self.conditioner(x1))
        return torch.cat([x1, y2], 1).index_select(1, self.order), log_det

    def inverse(self, y: Tensor) -> Tensor:
        if self.conditioner is None:
            return y
        y1 = y.index_select(1, self.pass_idx)
        y2 = y.index_select(1, self.trans_idx)
        x2 = self._decouple(y2, self.conditioner(y1))
        return torch.cat([y1, x2], 1).index_select(1, self.order)

    def extra_repr(self) -> str:
        return (
            f"n_features={self.n_features}, n_transformed={self.trans_idx.numel()}, "
            f"hidden_layer_sizes={self.hidden_layer_sizes}"
        )


class AdditiveCoupling(_Coupling):
    r"""Additive (NICE) coupling: :math:`y_2 = x_2 + t(x_1)`, :math:`y_1 = x_1`.

    Volume preserving: :math:`\log|\det J| = 0`. The network ``t`` is an MLP whose last
    layer starts at zero, so a fresh layer is the identity.

    Parameters
    ----------
    mask : bool Tensor of shape (n_features,)
        ``True`` for the conditioning features, ``False`` for the transformed ones
        (see :func:`checkerboard_mask` and :func:`heaviside_mask`).
    hidden_layer_sizes : sequence of int, default=(64,)
        Hidden sizes of the conditioner MLP.
    activation : str, default="relu"
        Hidden activation of the conditioner (a key of
        :data:`skdeepclust.nn.mlp.ACTIVATIONS`).
    """

    def _couple(self, x2: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
        return x2 + params, _zero_log_det(x2)

    def _decouple(self, y2: Tensor, params: Tensor) -> Tensor:
        return y2 - params


class AffineCoupling(_Coupling):
    r"""Affine (Real NVP) coupling: :math:`y_2 = x_2 e^{s(x_1)} + t(x_1)`, :math:`y_1 = x_1`.

    The log-scales go through :func:`soft_clamp`, so that they stay in
    ``(-clamp, clamp)``: :math:`\log|\det J| = \sum s`.

    Parameters
    ----------
    mask : bool Tensor of shape (n_features,)
        ``True`` for the conditioning features, ``False`` for the transformed ones.
    hidden_layer_sizes : sequence of int, default=(64,)
        Hidden sizes of the conditioner MLP (it outputs ``s`` and ``t``).
    activation : str, default="relu"
        Hidden activation of the conditioner (a key of
        :data:`skdeepclust.nn.mlp.ACTIVATIONS`).
    clamp : float, default=2.0
        Bound of the soft clamp on the log-scales; ``inf`` disables it.
    """

    n_params = 2

    def __init__(
        self,
        mask: Tensor,
        hidden_layer_sizes: Sequence[int] = (64,),
        *,
        activation: str = "relu",
        clamp: float = 2.0,
    ) -> None:
        super().__init__(mask, hidden_layer_sizes, activation=activation)
        self.clamp = float(clamp)

    def _scale_shift(self, params: Tensor) -> tuple[Tensor, Tensor]:
        s, t = params.chunk(2, dim=1)
        return soft_clamp(s, self.clamp), t

    def _couple(self, x2: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
        s, t = self._scale_shift(params)
        return torch.addcmul(t, x2, torch.exp(s)), s.sum(1)

    def _decouple(self, y2: Tensor, params: Tensor) -> Tensor:
        s, t = self._scale_shift(params)
        return (y2 - t) * torch.exp(-s)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, clamp={self.clamp}"


def _rq_spline(
    x: Tensor, params: Tensor, bound: float, inverse: bool, min_bin: float = 1e-3,
    min_derivative: float = 1e-2,
) -> tuple[Tensor, Tensor]:
    """Monotone rational-quadratic spline on ``[-bound, bound]``, identity outside.

    ``params`` has shape ``(batch, n, 3 * n_bins - 1)``: unnormalised widths, heights and
    interior derivatives. Returns the output and the elementwise log-derivative (of the
    forward map, at the input; negated for ``inverse``).
    """
    n_bins = (params.shape[-1] + 1) // 3
    w, h, d = params[..., :n_bins], params[..., n_bins : 2 * n_bins], params[..., 2 * n_bins :]
    widths = min_bin + (1 - min_bin * n_bins) * torch.softmax(w, -1)
    heights = min_bin + (1 - min_bin * n_bins) * torch.softmax(h, -1)
    # the shift makes a zero input the derivative 1 (an identity spline)
    derivs = min_derivative + nn.functional.softplus(d + _SOFTPLUS_ONE)
    ones = derivs.new_ones(derivs.shape[:-1] + (1,))
    derivs = torch.cat([ones, derivs, ones], -1)
    pad = (1, 0)
    cw = nn.functional.pad(torch.cumsum(widths, -1), pad) * (2 * bound) - bound
    ch = nn.functional.pad(torch.cumsum(heights, -1), pad) * (2 * bound) - bound
    cw[..., -1] = bound
    ch[..., -1] = bound
    inside = (x > -bound) & (x < bound)
    xin = x.clamp(-bound, bound)
    knots = ch if inverse else cw
    k = (torch.searchsorted(knots[..., 1:-1].contiguous(), xin.unsqueeze(-1)).squeeze(-1))
    k = k.clamp(0, n_bins - 1).unsqueeze(-1)
    x_k = cw.gather(-1, k).squeeze(-1)
    w_k = (cw.gather(-1, k + 1).squeeze(-1) - x_k)
    y_k = ch.gather(-1, k).squeeze(-1)
    h_k = (ch.gather(-1, k + 1).squeeze(-1) - y_k)
    d_k = derivs.gather(-1, k).squeeze(-1)
    d_k1 = derivs.gather(-1, k + 1).squeeze(-1)
    s_k = h_k / w_k
    if inverse:
        dy = xin - y_k
        a = h_k * (s_k - d_k) + dy * (d_k1 + d_k - 2 * s_k)
        b = h_k * d_k - dy * (d_k1 + d_k - 2 * s_k)
        c = -s_k * dy
        disc = (b.pow(2) - 4 * a * c).clamp_min(0)
        theta = ((2 * c) / (-b - torch.sqrt(disc))).clamp(0, 1)
        # one Newton step on g(theta) = y: the closed-form root loses digits in float32
        t1 = theta * (1 - theta)
        denom = s_k + (d_k1 + d_k - 2 * s_k) * t1
        g = h_k * (s_k * theta.pow(2) + d_k * t1) / denom
        dg = h_k * s_k * (d_k1 * theta.pow(2) + 2 * s_k * t1 + d_k * (1 - theta).pow(2))
        theta = (theta - (g - dy) * denom.pow(2) / dg).clamp(0, 1)
        out = theta * w_k + x_k
    else:
        theta = (xin - x_k) / w_k
    t1 = theta * (1 - theta)
    denom = s_k + (d_k1 + d_k - 2 * s_k) * t1
    if not inverse:
        out = y_k + h_k * (s_k * theta.pow(2) + d_k * t1) / denom
    deriv = s_k.pow(2) * (d_k1 * theta.pow(2) + 2 * s_k * t1 + d_k * (1 - theta).pow(2))
    log_d = torch.log(deriv) - 2 * torch.log(denom)
    out = torch.where(inside, out, x)
    log_d = torch.where(inside, log_d, torch.zeros_like(log_d))
    return out, (-log_d if inverse else log_d)


_SOFTPLUS_ONE = math.log(math.expm1(1.0 - 1e-2))


class SplineCoupling(_Coupling):
    r"""Rational-quadratic spline coupling (neural spline flow): :math:`y_2 = g_{\theta(x_1)}(x_2)`.

    Each transformed feature goes through its own monotone rational-quadratic spline of
    ``n_bins`` bins on ``[-bound, bound]`` (identity with slope 1 outside), whose knots
    and slopes the conditioner MLP computes from ``x_1``. Far more flexible per layer than
    an affine coupling in low dimensions (multi-modal conditionals in one layer). The
    conditioner's last layer starts at zero: a fresh layer is the identity.

    Parameters
    ----------
    mask : bool Tensor of shape (n_features,)
        ``True`` for the conditioning features, ``False`` for the transformed ones.
    hidden_layer_sizes : sequence of int, default=(64,)
        Hidden sizes of the conditioner MLP.
    activation : str, default="relu"
        Hidden activation of the conditioner.
    n_bins : int, default=8
        Bins of each spline.
    bound : float, default=4.0
        Half-width of the interval the splines act on (data standardized by ActNorm
        mostly lies inside).

    References
    ----------
    Durkan, Bekasov, Murray & Papamakarios, "Neural Spline Flows", NeurIPS 2019,
    arXiv:1906.04032.
    """

    def __init__(
        self,
        mask: Tensor,
        hidden_layer_sizes: Sequence[int] = (64,),
        *,
        activation: str = "relu",
        n_bins: int = 8,
        bound: float = 4.0,
    ) -> None:
        self.n_params = 3 * int(n_bins) - 1
        super().__init__(mask, hidden_layer_sizes, activation=activation)
        self.n_bins = int(n_bins)
        self.bound = float(bound)

    def _params(self, params: Tensor, n: int) -> Tensor:
        # conditioner output is (batch, n_params * n): one block of n_params per feature
        return params.reshape(params.shape[0], n, self.n_params)

    def _couple(self, x2: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
        y2, log_d = _rq_spline(x2, self._params(params, x2.shape[1]), self.bound, False)
        return y2, log_d.sum(1)

    def _decouple(self, y2: Tensor, params: Tensor) -> Tensor:
        x2, _ = _rq_spline(y2, self._params(params, y2.shape[1]), self.bound, True)
        return x2

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, n_bins={self.n_bins}, bound={self.bound}"


COUPLINGS = {"additive": AdditiveCoupling, "affine": AffineCoupling, "spline": SplineCoupling}


# --------------------------------------------------------------------------------------
# permutations and reflections
# --------------------------------------------------------------------------------------
class Permutation(FlowLayer):
    """Fixed reordering of the features: ``y = x[:, permutation]``; log-det 0.

    Parameters
    ----------
    permutation : long Tensor of shape (n_features,)
        A permutation of ``range(n_features)``.
    """

    def __init__(self, permutation: Tensor) -> None:
        super().__init__()
        permutation = torch.as_tensor(permutation, dtype=torch.long).reshape(-1)
        n = permutation.numel()
        assert torch.equal(permutation.sort().values, torch.arange(n)), "not a permutation."
        self.n_features = int(n)
        self.register_buffer("permutation", permutation)
        self.register_buffer("inverse_permutation", torch.argsort(permutation))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return x.index_select(1, self.permutation), _zero_log_det(x)

    def inverse(self, y: Tensor) -> Tensor:
        return y.index_select(1, self.inverse_permutation)

    def inverted(self) -> Permutation:
        """A new :class:`Permutation` that undoes this one."""
        return Permutation(self.inverse_permutation.clone())

    def extra_repr(self) -> str:
        return f"n_features={self.n_features}"


class ShufflePermutation(Permutation):
    """A random permutation drawn once at construction (seeded by ``generator``).

    Parameters
    ----------
    n_features : int
        Number of features.
    generator : torch.Generator, default=None
        Source of randomness; ``None`` uses torch's global generator.
    """

    def __init__(self, n_features: int, *, generator: torch.Generator | None = None) -> None:
        super().__init__(torch.randperm(int(n_features), generator=generator))


class HeavisidePermutation(Permutation):
    """Swap the two halves: ``[n//2, ..., n-1, 0, ..., n//2 - 1]``.

    With an odd count the middle element moves with the second half. Pairs with
    :func:`heaviside_mask`.

    Parameters
    ----------
    n_features : int
        Number of features.
    """

    def __init__(self, n_features: int) -> None:
        n = int(n_features)
        super().__init__(torch.cat([torch.arange(n // 2, n), torch.arange(0, n // 2)]))


class CheckerboardPermutation(Permutation):
    """Swap neighbouring cells along the rope walk of :func:`rope_order`.

    Each swapped pair has one cell of each checkerboard colour, so this pairs with
    :func:`checkerboard_mask`; with an odd count the last cell of the walk stays.

    Parameters
    ----------
    event_shape : int or sequence of int
        Shape of one sample; ``n_features = prod(event_shape)``.
    """

    def __init__(self, event_shape: int | Sequence[int]) -> None:
        rope = rope_order(event_shape)
        n = rope.numel()
        perm = torch.arange(n)
        m = n - n % 2
        perm[rope[0:m:2]] = rope[1:m:2]
        perm[rope[1:m:2]] = rope[0:m:2]
        super().__init__(perm)


class Reflection(FlowLayer):
    r"""Successive Householder reflections :math:`x \leftarrow x - 2 (v^\top x) v`.

    The normals ``v`` are learned and normalised to unit length on every call; they
    start as normalised draws from :math:`U(-1, 1)`. Each reflection is orthogonal, so
    :math:`\log|\det J| = 0`; the inverse applies the same reflections in reverse order.

    Parameters
    ----------
    n_features : int
        Number of features.
    n_reflections : int, default=1
        Number of reflections.
    generator : torch.Generator, default=None
        Source of randomness for the initial normals; ``None`` uses the global one.
    """

    def __init__(
        self,
        n_features: int,
        n_reflections: int = 1,
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        assert n_reflections >= 1, "'n_reflections' should be >= 1."
        self.n_features = int(n_features)
        normals = torch.rand(int(n_reflections), self.n_features, generator=generator) * 2 - 1
        normals = normals / normals.norm(dim=1, keepdim=True).clamp_min(1e-12)
        self.normals = nn.Parameter(normals)

    def _unit_normals(self) -> Tensor:
        return self.normals / self.normals.norm(dim=1, keepdim=True).clamp_min(1e-12)

    @staticmethod
    def _reflect(x: Tensor, normals: Iterable[Tensor]) -> Tensor:
        for v in normals:
            x = torch.addr(x, x @ v, v, alpha=-2.0)  # x - 2 (x.v) v
        return x

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self._reflect(x, self._unit_normals()), _zero_log_det(x)

    def inverse(self, y: Tensor) -> Tensor:
        return self._reflect(y, self._unit_normals().flip(0))

    def extra_repr(self) -> str:
        return f"n_features={self.n_features}, n_reflections={self.normals.shape[0]}"


# --------------------------------------------------------------------------------------
# sequential flow
# --------------------------------------------------------------------------------------
def standard_normal_log_prob(z: Tensor) -> Tensor:
    """Log-density of a standard normal, summed over features: shape ``(batch,)``."""
    return -0.5 * (z.pow(2).sum(1) + z.shape[1] * _LOG_2PI)


class FlowSequential(FlowLayer):
    """Chain of flow layers; log-dets add up and the inverse runs in reverse order.

    With a standard normal base distribution it is a density model:
    :meth:`log_prob` and :meth:`sample`.

    Parameters
    ----------
    layers : iterable of FlowLayer
        The layers, applied in order by :meth:`forward`.
    n_features : int
        Number of features of the samples.
    """

    def __init__(self, layers: Iterable[FlowLayer], n_features: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.n_features = int(n_features)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        log_dets = []
        for layer in self.layers:
            x, ld = layer(x)
            log_dets.append(ld)
        if not log_dets:
            return x, _zero_log_det(x)
        return x, torch.stack(log_dets).sum(0)

    def inverse(self, y: Tensor) -> Tensor:
        for layer in reversed(self.layers):
            y = layer.inverse(y)
        return y

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact log-density of ``x`` under the flow with a standard normal base."""
        z, log_det = self(x)
        return standard_normal_log_prob(z) + log_det

    def sample(self, n_samples: int, *, generator: torch.Generator | None = None) -> Tensor:
        """Draw ``n_samples`` points: ``inverse(z)`` with ``z ~ N(0, I)``."""
        ref = next(iter(self.parameters()), None)
        dtype = ref.dtype if ref is not None else torch.get_default_dtype()
        device = ref.device if ref is not None else None
        if generator is not None:
            device = generator.device
        z = torch.randn(n_samples, self.n_features, generator=generator, dtype=dtype, device=device)
        return self.inverse(z)

    @torch.no_grad()
    def initialize(self, x: Tensor) -> None:
        """Data-dependent initialisation: run ``x`` through the layers and let every
        :class:`ActNorm` standardize what reaches it."""
        for layer in self.layers:
            if isinstance(layer, (ActNorm, FlowSequential)):
                layer.initialize(x)
            x, _ = layer(x)


def build_flow(
    n_features: int,
    *,
    n_stages: int = 2,
    coupling: str = "additive",
    mask: str = "checkerboard",
    permutation: str = "matching",
    hidden_layer_sizes: Sequence[int] | None = None,
    activation: str = "relu",
    n_reflections: int = 1,
    actnorm: bool = True,
    clamp: float = 2.0,
    event_shape: Sequence[int] | None = None,
    generator: torch.Generator | None = None,
) -> FlowSequential:
    """Build the gyoza-style stack of flow stages.

    Layout: ``[ActNorm]`` then ``n_stages`` times ``[Reflection] -> coupling(mask) ->
    P -> coupling(mask) -> P^-1 -> [ActNorm]``, where ``P`` is the permutation that
    matches the mask (or a fresh random one with ``permutation="shuffle"``), so that the
    second coupling transforms what the first one passed through. The permutation pair
    is folded into the second coupling, ``coupling(mask[P^-1])``: the same function with
    two fewer layers.

    Parameters
    ----------
    n_features : int
        Number of features.
    n_stages : int, default=2
        Number of stages.
    coupling : {"additive", "affine", "spline"}, default="additive"
        Coupling law (:class:`AdditiveCoupling`, :class:`AffineCoupling`,
        :class:`SplineCoupling`).
    mask : {"checkerboard", "heaviside"}, default="checkerboard"
        Which features condition the coupling.
    permutation : {"matching", "shuffle"}, default="matching"
        ``"matching"`` uses :class:`CheckerboardPermutation` or
        :class:`HeavisidePermutation` to match ``mask``.
    hidden_layer_sizes : sequence of int, default=None
        Hidden sizes of each coupling's MLP; ``None`` means ``(4 * n_features,)``.
    activation : str, default="relu"
        Hidden activation of the coupling MLPs (a key of
        :data:`skdeepclust.nn.mlp.ACTIVATIONS`).
    n_reflections : int, default=1
        Householder reflections at the start of each stage; 0 leaves them out (as
        does ``n_features=1``, where a reflection has nothing to learn).
    actnorm : bool, default=True
        Whether to put an :class:`ActNorm` first and at the end of each stage.
    clamp : float, default=2.0
        Soft clamp of affine log-scales.
    event_shape : sequence of int, default=None
        Layout of one sample for the checkerboard; ``None`` means ``(n_features,)``.
    generator : torch.Generator, default=None
        Randomness for shuffles and reflection normals; ``None`` uses the global one
        (the conditioner MLPs always use it, so build under ``torch.random.fork_rng``).

    Returns
    -------
    flow : FlowSequential
    """
    n = int(n_features)
    shape = _as_shape(event_shape if event_shape is not None else n)
    assert math.prod(shape) == n, f"'event_shape' {shape} does not have {n} entries."
    assert coupling in COUPLINGS, f"unknown coupling {coupling!r}."
    assert mask in MASKS, f"unknown mask {mask!r}."
    assert permutation in ("matching", "shuffle"), f"unknown permutation {permutation!r}."
    hidden = tuple(hidden_layer_sizes) if hidden_layer_sizes is not None else (4 * n,)
    w = MASKS[mask](shape)
    kwargs = {"activation": activation}
    if coupling == "affine":
        kwargs["clamp"] = clamp

    layers: list[FlowLayer] = [ActNorm(n)] if actnorm else []
    for _ in range(int(n_stages)):
        if n_reflections and n > 1:  # in 1-D a reflection is a fixed sign flip
            layers.append(Reflection(n, n_reflections, generator=generator))
        if permutation == "shuffle":
            perm = torch.randperm(n, generator=generator)
        elif mask == "checkerboard":
            perm = CheckerboardPermutation(shape).permutation
        else:
            perm = HeavisidePermutation(n).permutation
        # coupling(w) -> P -> coupling(w) -> P^-1 is coupling(w) -> coupling(w[P^-1]):
        # fold the permutation pair into the second mask (two fewer layers per stage)
        layers += [
            COUPLINGS[coupling](w, hidden, **kwargs),
            COUPLINGS[coupling](w[torch.argsort(perm)], hidden, **kwargs),
        ]
        if actnorm:
            layers.append(ActNorm(n))
    return FlowSequential(layers, n)


# --------------------------------------------------------------------------------------
# supervised factor loss and pairs
# --------------------------------------------------------------------------------------
def supervised_factor_loss(
    z_a: Tensor,
    z_b: Tensor,
    log_det_a: Tensor,
    log_det_b: Tensor,
    similarity: Tensor,
    dimensions_per_factor: Sequence[int],
    *,
    eps: float = 1e-6,
) -> Tensor:
    r"""Supervised factor loss of the disentangling flow, averaged over pairs.

    For codes :math:`\tilde z^a = T(x^a)`, :math:`\tilde z^b = T(x^b)` and a
    per-dimension correlation :math:`\sigma_d` (the pair's similarity on the factor
    that owns dimension ``d``, clipped to :math:`(-1 + \epsilon, 1 - \epsilon)`):

    .. math::

        l = \tfrac12 \|\tilde z^a\|^2
            + \tfrac12 \sum_d \Big[\frac{(\tilde z^b_d - \sigma_d \tilde z^a_d)^2}
              {1 - \sigma_d^2} + \log(1 - \sigma_d^2)\Big]
            - \log|T'(x^a)| - \log|T'(x^b)|,

    the negative log-likelihood of the pair under per-dimension bivariate normals with
    correlation :math:`\sigma_d`, minus the constant :math:`D \log 2\pi`.

    Parameters
    ----------
    z_a, z_b : Tensor of shape (batch, n_features)
        Codes of the two members of each pair.
    log_det_a, log_det_b : Tensor of shape (batch,)
        Log-determinants of the flow at ``x_a`` and ``x_b``.
    similarity : Tensor of shape (batch, n_factors)
        Correlation in ``[0, 1]`` of each pair along each factor, the residual factor
        first (usually 0).
    dimensions_per_factor : sequence of int
        Code dimensions owned by each factor, residual first; sums to ``n_features``.
    eps : float, default=1e-6
        Clipping margin of the similarity below 1.

    Returns
    -------
    loss : scalar Tensor
    """
    counts = torch.as_tensor(list(dimensions_per_factor), device=z_a.device)
    assert int(counts.sum()) == z_a.shape[1], "'dimensions_per_factor' must sum to n_features."
    assert similarity.shape == (z_a.shape[0], counts.numel()), "bad 'similarity' shape."
    sigma = torch.repeat_interleave(similarity.to(z_a.dtype), counts, dim=1)
    # clip |sigma| to 1 - eps through 1 - |sigma| itself: exact in float32 too
    gap = (1.0 - sigma.abs()).clamp_min(eps)
    sigma = torch.sign(sigma) * (1.0 - gap)
    var = gap * (2.0 - gap)  # 1 - sigma^2 without cancellation
    cond = (z_b - sigma * z_a).pow(2) / var + torch.log(var)
    nll = 0.5 * z_a.pow(2).sum(1) + 0.5 * cond.sum(1) - log_det_a - log_det_b
    return nll.mean()


def _standardize(y: Tensor) -> Tensor:
    mean = y.mean(0)
    std = y.std(0, unbiased=False) if y.shape[0] > 1 else torch.ones_like(mean)
    std = torch.where(std > 0, std, torch.ones_like(std))
    return (y - mean) / std


def make_factor_pairs(
    factors: Tensor,
    n_pairs: int,
    correlations: float | Sequence[float] | Tensor = 0.9,
    *,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    r"""Draw pairs of samples that share one factor.

    For each pair: draw ``a`` uniformly and a factor ``k`` uniformly; standardize the
    factor values and aim at :math:`y^* = \rho_k y_{a,k} + \sqrt{1 - \rho_k^2}\,\varepsilon`
    with :math:`\varepsilon \sim N(0, 1)`; ``b`` is the sample whose factor ``k`` is
    nearest to :math:`y^*` (ties, as with categorical factors, broken uniformly at
    random). The other factors of ``b`` are left to chance, so the pair's similarity is
    :math:`\rho_k` on factor ``k`` and 0 on the others and on the residual.

    Parameters
    ----------
    factors : Tensor of shape (n_samples, n_factors)
        Factor values of every sample (no residual column).
    n_pairs : int
        Number of pairs.
    correlations : float or sequence of float, default=0.9
        Target correlation :math:`\rho_k` of each factor, in ``[0, 1]``.
    generator : torch.Generator, default=None
        Source of randomness.

    Returns
    -------
    index_a, index_b : long Tensor of shape (n_pairs,)
        Row indices of the two members of each pair.
    similarity : Tensor of shape (n_pairs, n_factors + 1)
        Residual column (zeros) first, then :math:`\rho_k` for the shared factor.
    """
    y = factors.reshape(factors.shape[0], -1)
    n, k = y.shape
    dtype = factors.dtype if factors.is_floating_point() else torch.get_default_dtype()
    y = _standardize(y.to(dtype))
    rho = torch.as_tensor(correlations, dtype=dtype).reshape(-1).expand(k)
    device = y.device
    gdev = generator.device if generator is not None else device  # draw where the generator is
    index_a = torch.randint(n, (n_pairs,), generator=generator, device=gdev)
    which = torch.randint(k, (n_pairs,), generator=generator, device=gdev)
    noise = torch.randn(n_pairs, generator=generator, dtype=dtype, device=gdev)
    u = torch.rand(n_pairs, generator=generator, dtype=dtype, device=gdev)
    index_a, which, noise, u = (t.to(device) for t in (index_a, which, noise, u))
    rho = rho.to(device)

    index_b = torch.empty_like(index_a)
    for f in range(k):
        sel = torch.nonzero(which == f).reshape(-1)
        if sel.numel() == 0:
            continue
        values, order = torch.sort(y[:, f])
        target = rho[f] * y[index_a[sel], f] + torch.sqrt(1 - rho[f] ** 2) * noise[sel]
        pos = torch.searchsorted(values, target)
        left = values[(pos - 1).clamp(0, n - 1)]
        right = values[pos.clamp(0, n - 1)]
        nearest = torch.where((target - left).abs() <= (right - target).abs(), left, right)
        lo = torch.searchsorted(values, nearest, right=False)
        hi = torch.searchsorted(values, nearest, right=True)
        pick = lo + torch.minimum(torch.floor(u[sel] * (hi - lo)).long(), hi - lo - 1)
        index_b[sel] = order[pick]

    similarity = torch.zeros(n_pairs, k + 1, dtype=dtype, device=device)
    similarity[torch.arange(n_pairs, device=device), which + 1] = rho[which].to(dtype)
    return index_a, index_b, similarity
