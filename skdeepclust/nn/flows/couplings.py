r"""Coupling layers: additive, affine and rational-quadratic spline.

A coupling splits the features with a mask (see :mod:`.masks`): the ones marked ``True``
pass unchanged and feed a conditioner MLP, whose output parametrises an invertible
elementwise map of the others. The conditioner's last layer starts at zero, so a fresh
coupling is the identity. :data:`COUPLINGS` maps the ``coupling`` names of
:func:`~.build_flow` (and of the flow estimators) to the classes.

References
----------
Dinh, L., Krueger, D. & Bengio, Y. (2015). NICE: Non-linear Independent Components
Estimation. arXiv:1410.8516.
Dinh, L., Sohl-Dickstein, J. & Bengio, S. (2017). Density estimation using Real NVP.
arXiv:1605.08803.
Durkan, C., Bekasov, A., Murray, I. & Papamakarios, G. (2019). Neural Spline Flows.
arXiv:1906.04032.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..autoencoder import MLP
from .layers import FlowLayer, _zero_log_det

__all__ = ["COUPLINGS", "AdditiveCoupling", "AffineCoupling", "SplineCoupling", "soft_clamp"]


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
        :data:`skdeepclust.nn.autoencoder.ACTIVATIONS`).
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
        :data:`skdeepclust.nn.autoencoder.ACTIVATIONS`).
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
    x: Tensor,
    params: Tensor,
    bound: float,
    inverse: bool,
    min_bin: float = 1e-3,
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
    k = torch.searchsorted(knots[..., 1:-1].contiguous(), xin.unsqueeze(-1)).squeeze(-1)
    k = k.clamp(0, n_bins - 1).unsqueeze(-1)
    x_k = cw.gather(-1, k).squeeze(-1)
    w_k = cw.gather(-1, k + 1).squeeze(-1) - x_k
    y_k = ch.gather(-1, k).squeeze(-1)
    h_k = ch.gather(-1, k + 1).squeeze(-1) - y_k
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
