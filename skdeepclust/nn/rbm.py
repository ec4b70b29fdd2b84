r"""Centered restricted Boltzmann machines with binary, Gaussian, rectified and softmax units.

One :class:`RBM` module covers every unit combination of PyDeep's model zoo (binary-binary,
Gaussian-binary with fixed or learned :math:`\sigma`, noisy rectified units on either side,
softmax label units appended to the visible layer). The energy of the centered model with
visible offsets :math:`\mu`, hidden offsets :math:`\lambda` is

.. math::

    E(x, h) = E_v(x) - (h - \lambda)^\top c - s(x)^\top W (h - \lambda),

with :math:`E_v(x) = -(x - \mu)^\top b` and :math:`s(x) = x - \mu` for binary, rectified and
label units, and :math:`E_v(x) = \tfrac12 \lVert (x - \mu - b) / \sigma \rVert^2`,
:math:`s(x) = (x - \mu) / \sigma^2` for Gaussian units. Setting both offsets to zero gives
the ordinary ("normal") RBM.

Every conditional, the free energy and the Gibbs step take an inverse temperature ``beta``
(a float or a tensor broadcastable against the states' leading dimensions). The tempered
model is the geometric mixture :math:`p_\beta \propto p_{\text{base}}^{1 - \beta}
p^{\beta}` with a base model of independent visible units (binary: bias
``base_bias``; Gaussian: ``base_mean``/``base_std``) and uniform binary hiddens, whose log
partition function :meth:`RBM.base_log_partition` is known in closed form. This is what
annealed importance sampling and parallel tempering anneal along.

:class:`RBMUpdater` applies the centered (P)CD / PT update with momentum, weight decay,
sparsity, gradient-norm restriction and the exponential-moving-average offset update.

References
----------
Melchior, Fischer & Wiskott, "How to Center Deep Boltzmann Machines", JMLR 17 (2016).
Hinton, "Training products of experts by minimizing contrastive divergence", Neural
Computation 14 (2002). Nair & Hinton, "Rectified linear units improve restricted Boltzmann
machines", ICML 2010.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["HIDDEN_UNITS", "OFFSET_TYPES", "RBM", "VISIBLE_UNITS", "RBMUpdater"]

VISIBLE_UNITS = ("binary", "gaussian", "rectified")
HIDDEN_UNITS = ("binary", "rectified")
# First letter: visible offsets, second: hidden offsets. D = data mean, M = model mean,
# A = average of both, 0 = zero.
OFFSET_TYPES = tuple(a + b for a in "ADM0" for b in "ADM0")

_LOG_2PI = math.log(2.0 * math.pi)
#: The fused sparse update forms the weight update V^T H with an embedding bag per visible
#: unit from this many rows of V = [minibatch; chains] on, below with one dense addmm_
#: (crossover measured on 784-500 binary MNIST, one CPU thread: dense is faster at 32 rows,
#: the bags at 64; a sparse CSR addmm_ was slower than either).
_EMB_OUTER_ROWS = 48
#: Up to this many rows of [minibatch; chains] the ranks of the ones in their columns come
#: from a cumsum over rows; beyond, over a transposed copy (a strided cumsum over 2000 rows
#: took 38 ms, the copy + contiguous cumsum 10 ms; at 200 rows 0.34 vs 0.5 ms).
_CUMSUM_ROWS = 256
#: Gaussian visibles: a feature whose standard deviation is at most this many machine
#: epsilons of its mean's magnitude (or below ``tiny ** 0.25`` of the dtype) is constant.
_CONSTANT_EPS = 100.0
#: Gaussian visibles: the sigma of a constant feature is this fraction of the median
#: standard deviation of the other features (1 when every feature is constant).
_CONSTANT_SIGMA = 1e-3
#: Gaussian visibles: a learned sigma never goes below this fraction of its feature's
#: standard deviation in the training data (nor above ``_SIGMA_MAX`` times it).
_SIGMA_FLOOR = 0.05
_SIGMA_MAX = 100.0
#: Learned sigma: the largest change of log(sigma) in one update (a factor of e**0.1).
_LOG_SIGMA_STEP = 0.1
#: The sparse fused step runs numba kernels (``skdeepclust.nn._rbm_kernels``) on the CPU
#: when numba imports; False forces the pure-torch kernels.
_USE_NUMBA = True
_KERNELS = None  # the kernels module once imported; False when numba is unavailable
_NUMBA_DTYPES = (torch.float32, torch.float64)
#: From this many chains on, the numba step computes the chains' negative visible input
#: h W^T as sums of rows of a contiguous copy of W^T over the ones of the sampled hiddens
#: (the copy is refreshed in the weight update's pass over W); below, as a dense mm.
#: Measured on 784-500 binary MNIST, one thread, centered PCD fit, CPU ms per update dense
#: / sums: 3.11 / 3.58 at 40 chains, 6.70 / 6.93 at 100, 12.71 / 12.65 at 200, 24.45 /
#: 23.48 at 400, 61.6 / 59.1 at 1000 (alone, the product takes 1.99 / 1.42 ms at 100 rows
#: and 19.3 / 14.3 ms at 1000, but the copy, the extra pass for [dlam; lam; loss rows] and
#: the second 1.5 MB matrix in cache eat most of it).
_BAG_NEG_MIN_CHAINS = 256


def _words(X: np.ndarray) -> np.ndarray:
    """A C-contiguous bool matrix as uint64 words (8 columns each) when its rows split into
    whole words, else an empty (n_rows, 0) view: the numba CSR builds skip zero words."""
    if X.shape[1] % 8 == 0:
        return X.view(np.uint64)
    return np.empty((X.shape[0], 0), np.uint64)


def _numba_kernels():
    """The numba kernels module, imported on first use (numba's import costs ~0.3 s), or None."""
    global _KERNELS
    if _KERNELS is None:
        try:
            from . import _rbm_kernels
        except Exception:  # noqa: BLE001 - numba missing or broken: the torch kernels run
            _KERNELS = False
        else:
            _KERNELS = _rbm_kernels
    return _KERNELS or None


def _uniform(shape, generator, dtype, device) -> Tensor:
    return torch.rand(shape, generator=generator, dtype=dtype, device=device)


def _bernoulli(p: Tensor, generator: torch.Generator | None) -> Tensor:
    return (_uniform(p.shape, generator, p.dtype, p.device) < p).to(p.dtype)


def _nrelu_std(a: Tensor) -> Tensor:
    return torch.sigmoid(a).sqrt()


def _nrelu_mean(a: Tensor) -> Tensor:
    """E[max(0, a + s N(0, 1))] with s = sqrt(sigmoid(a)), the noisy ReLU's mean."""
    s = _nrelu_std(a)
    z = a / s
    mean = a * torch.special.ndtr(z) + s * torch.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return torch.clamp(mean, min=0.0)  # cancellation can leave tiny negatives for a << 0


def _nrelu_sample(a: Tensor, generator: torch.Generator | None) -> Tensor:
    noise = torch.randn(a.shape, generator=generator, dtype=a.dtype, device=a.device)
    return torch.clamp(a + _nrelu_std(a) * noise, min=0.0)


def constant_features(mean: Tensor, std: Tensor) -> Tensor:
    """Which features are constant (bool mask): a standard deviation at most 100 machine
    epsilons of the mean's magnitude (rounding noise of a constant column) or below
    ``tiny ** 0.25`` of the dtype (whose square's inverse would overflow)."""
    info = torch.finfo(std.dtype)
    return std <= torch.clamp(_CONSTANT_EPS * info.eps * mean.abs(), min=info.tiny ** 0.25)


def _reduce_beta(beta):
    """``beta`` as used against per-sample reductions (drop the trailing unit axis)."""
    if isinstance(beta, Tensor) and beta.ndim > 0:
        return beta.squeeze(-1)
    return beta


class RBM(nn.Module):
    r"""Centered restricted Boltzmann machine (pure torch).

    Parameters
    ----------
    n_visible : int
        Number of data visible units.
    n_hidden : int
        Number of hidden units.
    visible : {"binary", "gaussian", "rectified"}, default="binary"
        Type of the data visible units.
    hidden : {"binary", "rectified"}, default="binary"
        Type of the hidden units.
    n_labels : int, default=0
        Number of softmax label units appended after the data visible units (label RBM).
    learn_sigma : bool, default=False
        Gaussian visibles only: whether :math:`\sigma` is trained.
    dtype, device : torch dtype and device of the parameters.

    Attributes
    ----------
    weight : Parameter of shape (n_visible + n_labels, n_hidden)
    visible_bias : Parameter of shape (n_visible + n_labels,)
    hidden_bias : Parameter of shape (n_hidden,)
    sigma : Parameter of shape (n_visible,) or None
        Standard deviation of Gaussian visibles.
    visible_offset, hidden_offset : buffers
        Centering offsets :math:`\mu` and :math:`\lambda`.
    base_bias : buffer of shape (n_visible,)
        Binary/rectified visibles: logits of the independent base model used by AIS and
        parallel tempering.
    base_mean, base_std : buffers of shape (n_visible,)
        Gaussian visibles: the independent Gaussian base model.
    feature_scale : buffer of shape (n_visible,)
        Gaussian visibles: the training data's standard deviation of each feature (0 for a
        constant feature, 1 without data). The initial weights are drawn in these units;
        :class:`RBMUpdater` freezes the constant features.
    sigma_min, sigma_max : buffers of shape (n_visible,)
        Gaussian visibles: the range a learned sigma is kept in.

    Examples
    --------
    >>> import torch
    >>> rbm = RBM(6, 3, dtype=torch.float64)
    >>> rbm.initialize(generator=torch.Generator().manual_seed(0))
    RBM(n_visible=6, n_hidden=3, visible='binary', hidden='binary', n_labels=0, learn_sigma=False)
    >>> rbm.free_energy(torch.ones(2, 6)).shape
    torch.Size([2])
    """

    def __init__(
        self,
        n_visible: int,
        n_hidden: int,
        *,
        visible: str = "binary",
        hidden: str = "binary",
        n_labels: int = 0,
        learn_sigma: bool = False,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        assert visible in VISIBLE_UNITS, f"'visible' should be one of {VISIBLE_UNITS}."
        assert hidden in HIDDEN_UNITS, f"'hidden' should be one of {HIDDEN_UNITS}."
        assert n_visible >= 1 and n_hidden >= 1 and n_labels >= 0
        self.n_visible = int(n_visible)
        self.n_hidden = int(n_hidden)
        self.n_labels = int(n_labels)
        self.visible = visible
        self.hidden = hidden
        self.learn_sigma = bool(learn_sigma) and visible == "gaussian"
        kw = {"dtype": dtype, "device": device}
        d = self.n_visible + self.n_labels
        self.weight = nn.Parameter(torch.zeros(d, self.n_hidden, **kw))
        self.visible_bias = nn.Parameter(torch.zeros(d, **kw))
        self.hidden_bias = nn.Parameter(torch.zeros(self.n_hidden, **kw))
        if visible == "gaussian":
            self.sigma = nn.Parameter(torch.ones(self.n_visible, **kw),
                                      requires_grad=self.learn_sigma)
            self.register_buffer("base_mean", torch.zeros(self.n_visible, **kw))
            self.register_buffer("base_std", torch.ones(self.n_visible, **kw))
            self.register_buffer("feature_scale", torch.ones(self.n_visible, **kw))
            self.register_buffer("sigma_min", torch.full((self.n_visible,), _SIGMA_FLOOR, **kw))
            self.register_buffer("sigma_max", torch.full((self.n_visible,), _SIGMA_MAX, **kw))
        else:
            self.register_parameter("sigma", None)
            self.register_buffer("base_bias", torch.zeros(self.n_visible, **kw))
        self.register_buffer("visible_offset", torch.zeros(d, **kw))
        self.register_buffer("hidden_offset", torch.zeros(self.n_hidden, **kw))

    def extra_repr(self) -> str:
        return (f"n_visible={self.n_visible}, n_hidden={self.n_hidden}, "
                f"visible={self.visible!r}, hidden={self.hidden!r}, n_labels={self.n_labels}, "
                f"learn_sigma={self.learn_sigma}")

    # ------------------------------------------------------------------ properties
    @property
    def gaussian(self) -> bool:
        return self.visible == "gaussian"

    @property
    def tractable(self) -> bool:
        """Whether free energies (hence likelihoods, AIS, PT) are available."""
        return self.hidden == "binary" and self.visible != "rectified"

    def _check_tractable(self, what: str) -> None:
        if self.hidden != "binary" or self.visible == "rectified":
            raise NotImplementedError(
                f"{what} is not available for an RBM with visible={self.visible!r} and "
                f"hidden={self.hidden!r}: rectified units have no tractable marginal. "
                "Use binary or Gaussian visibles and binary hiddens.")

    def _check_no_labels(self, what: str) -> None:
        if self.n_labels:
            raise NotImplementedError(
                f"{what} is not available for a label RBM (n_labels={self.n_labels}).")

    # ------------------------------------------------------------------ initialisation
    @torch.no_grad()
    def initialize(
        self,
        data: Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
        weight_scale: float | str = "auto",
        centered: bool = True,
        sigma: float | str = "auto",
        labels: Tensor | None = None,
    ) -> RBM:
        """PyDeep's 'AUTO' initialisation from (optional) training data.

        ``weight_scale="auto"`` draws W ~ U(+-4 sqrt(6 / (d + H))) (divided by 4 for
        Gaussian visibles); a float draws W ~ N(0, weight_scale^2). Gaussian visibles: the
        rows of W are then multiplied by the data's standard deviation of their feature
        (the draw is in standardised units; without data, by 1). Visible offsets are
        the data mean (0.5 without data) and hidden offsets 0.5 when ``centered``, zero
        otherwise. The visible bias makes p(x | h = offset) match the data mean; the hidden
        bias is zero. Gaussian sigma is the data std when ``sigma="auto"``. The base model
        used by AIS and parallel tempering gets the data mean (and std).
        ``labels`` is a one-hot (n, n_labels) tensor for label RBMs.

        Gaussian visibles: a constant feature (see :func:`constant_features`) gets zero
        weights, which :class:`RBMUpdater` keeps at zero, and a sigma of ``1e-3`` times the
        median standard deviation of the other features (1e-3 when all are constant): its
        density is a narrow Gaussian at the constant, finite everywhere. ``feature_scale``
        records each feature's standard deviation, ``sigma_min`` / ``sigma_max`` the range
        of a learned sigma (0.05 and 100 times it).
        """
        d, nh = self.n_visible + self.n_labels, self.n_hidden
        dtype, device = self.weight.dtype, self.weight.device
        if weight_scale == "auto":
            bound = 4.0 * math.sqrt(6.0 / (d + nh))
            if self.gaussian:
                bound /= 4.0
            w = (2.0 * _uniform((d, nh), generator, dtype, device) - 1.0) * bound
        else:
            w = float(weight_scale) * torch.randn(
                (d, nh), generator=generator, dtype=dtype, device=device)
        self.weight.copy_(w)
        nx = self.n_visible
        if data is not None:
            mean = data.mean(0)
            # the std is only used by Gaussian units (a 20000x784 std costs 0.1 s)
            std = (data.std(0, unbiased=False) if self.gaussian and data.shape[0] > 1
                   else torch.zeros_like(mean) if self.gaussian else torch.ones_like(mean))
        else:
            mean = torch.full((nx,), 0.0 if self.gaussian else 0.5, dtype=dtype, device=device)
            std = torch.ones(nx, dtype=dtype, device=device)
        if self.n_labels:
            if labels is not None:
                lmean = labels.to(dtype).mean(0)
            else:
                lmean = torch.full((self.n_labels,), 1.0 / self.n_labels,
                                   dtype=dtype, device=device)
        self.visible_offset.zero_()
        self.hidden_offset.zero_()
        if centered:
            self.visible_offset[:nx] = mean
            if self.n_labels:
                self.visible_offset[nx:] = lmean
            self.hidden_offset.fill_(0.5)
        if self.gaussian:
            const = constant_features(mean, std)
            varying = std[~const]
            ref = float(varying.median()) if varying.numel() else 1.0
            floor = _CONSTANT_SIGMA * ref
            std = torch.where(const, torch.zeros_like(std), std)
            self.feature_scale.copy_(std)
            # the initial weights in standardised units (the scale the updates work in)
            self.weight[:nx].mul_(std.unsqueeze(1))
            safe = torch.where(const, torch.full_like(std, floor), std)
            s = safe if sigma == "auto" else torch.full_like(std, float(sigma))
            self.sigma_min.copy_(torch.where(const, torch.full_like(std, floor),
                                             _SIGMA_FLOOR * std))
            self.sigma_max.copy_(torch.where(const, torch.full_like(std, floor),
                                             _SIGMA_MAX * std))
            if sigma == "auto":
                self.sigma.copy_(s)
            else:  # an explicit sigma is kept, the learned range stretched to include it
                self.sigma.copy_(s)
                self.sigma_min.copy_(torch.minimum(self.sigma_min, s))
                self.sigma_max.copy_(torch.maximum(self.sigma_max, s))
            self.visible_bias[:nx] = mean - self.visible_offset[:nx]
            self.base_mean.copy_(mean)
            self.base_std.copy_(safe)
        else:
            p = torch.clamp(mean, 1e-3, 1.0 - 1e-3)
            logit = torch.log(p) - torch.log1p(-p)
            self.visible_bias[:nx] = logit if self.visible == "binary" else 0.0
            if self.visible == "binary":
                self.base_bias.copy_(logit)
        if self.n_labels:
            self.visible_bias[nx:] = torch.log(torch.clamp(lmean, min=1e-3))
        self.hidden_bias.zero_()
        return self

    # ------------------------------------------------------------------ activations
    def _inv_var(self) -> Tensor | None:
        if not self.gaussian:
            return None
        iv = 1.0 / (self.sigma * self.sigma)
        if self.n_labels:
            iv = torch.cat([iv, iv.new_ones(self.n_labels)])
        return iv

    def interaction_input(self, v: Tensor) -> Tensor:
        """s(v): the centered (and, for Gaussian units, variance-scaled) visible input."""
        s = v - self.visible_offset
        iv = self._inv_var()
        return s if iv is None else s * iv

    def hidden_activation(self, v: Tensor, beta=None) -> Tensor:
        """Hidden pre-activation ``beta * (c + s(v) W)``."""
        a = self.hidden_bias + self.interaction_input(v) @ self.weight
        return a if beta is None else beta * a

    def visible_activation(self, h: Tensor) -> Tensor:
        """Visible pre-activation ``b + W (h - lambda)`` (all visible units, labels included)."""
        return self.visible_bias + (h - self.hidden_offset) @ self.weight.T

    def prob_h(self, v: Tensor, beta=None) -> Tensor:
        """p(h = 1 | v) for binary hiddens, E[h | v] for rectified ones."""
        a = self.hidden_activation(v, beta)
        return torch.sigmoid(a) if self.hidden == "binary" else _nrelu_mean(a)

    def sample_h(self, v: Tensor, beta=None, generator=None, *, return_prob: bool = False):
        """Draw h ~ p(h | v) (optionally also returning the mean)."""
        a = self.hidden_activation(v, beta)
        if self.hidden == "binary":
            p = torch.sigmoid(a)
            h = _bernoulli(p, generator)
        else:
            p = _nrelu_mean(a) if return_prob else None
            h = _nrelu_sample(a, generator)
        return (h, p) if return_prob else h

    def _gaussian_params(self, a_x: Tensor, beta) -> tuple[Tensor, Tensor]:
        mean = self.visible_offset[: self.n_visible] + a_x
        if beta is None:
            return mean, self.sigma.expand_as(mean)
        var, var0 = self.sigma * self.sigma, self.base_std * self.base_std
        precision = beta / var + (1.0 - beta) / var0
        mean = (beta * mean / var + (1.0 - beta) * self.base_mean / var0) / precision
        return mean, precision.rsqrt().expand_as(mean)

    def _visible_mean_and_act(self, h: Tensor, beta):
        a = self.visible_activation(h)
        nx = self.n_visible
        a_x = a[..., :nx] if self.n_labels else a
        if self.visible == "binary":
            logits = a_x if beta is None else beta * a_x + (1.0 - beta) * self.base_bias
            mean = torch.sigmoid(logits)
        elif self.visible == "gaussian":
            mean, _ = self._gaussian_params(a_x, beta)
            logits = a_x
        else:
            logits = a_x if beta is None else beta * a_x
            mean = _nrelu_mean(logits)
        if self.n_labels:
            a_y = a[..., nx:] if beta is None else beta * a[..., nx:]
            mean = torch.cat([mean, torch.softmax(a_y, -1)], -1)
        return mean, logits, a

    def prob_v(self, h: Tensor, beta=None) -> Tensor:
        """E[v | h]: probabilities (binary, labels), means (Gaussian, rectified)."""
        return self._visible_mean_and_act(h, beta)[0]

    def sample_v(self, h: Tensor, beta=None, generator=None, *, return_prob: bool = False):
        """Draw v ~ p(v | h) (optionally also returning E[v | h])."""
        mean, logits, _ = self._visible_mean_and_act(h, beta)
        nx = self.n_visible
        mx = mean[..., :nx] if self.n_labels else mean
        if self.visible == "binary":
            x = _bernoulli(mx, generator)
        elif self.visible == "gaussian":
            m, s = self._gaussian_params(logits, beta)
            x = m + s * torch.randn(m.shape, generator=generator, dtype=m.dtype, device=m.device)
        else:
            x = _nrelu_sample(logits, generator)
        if self.n_labels:
            p_y = mean[..., nx:]
            # inverse-CDF draw (torch.multinomial raises on a NaN row: this lets the NaN
            # reach the training loop's check, which names the parameter that blew up)
            cdf = p_y.cumsum(-1)
            u = _uniform((*p_y.shape[:-1], 1), generator, p_y.dtype, p_y.device)
            idx = (cdf < u * cdf[..., -1:]).sum(-1).clamp_(max=self.n_labels - 1)
            y = torch.nn.functional.one_hot(idx, self.n_labels).to(x.dtype)
            x = torch.cat([x, y], -1)
        return (x, mean) if return_prob else x

    def gibbs(self, v: Tensor, k: int = 1, beta=None, generator=None, *,
              return_prob: bool = False):
        """Run ``k`` steps of block Gibbs sampling v -> h -> v.

        With ``return_prob=True`` the last step returns E[v | h] instead of a state.
        """
        for step in range(k):
            h = self.sample_h(v, beta, generator)
            if return_prob and step == k - 1:
                return self.prob_v(h, beta)
            v = self.sample_v(h, beta, generator)
        return v

    # ------------------------------------------------------------------ energies
    def _visible_term(self, v: Tensor) -> Tensor:
        """-E_v(v): the visible part of the negative energy, per sample."""
        nx = self.n_visible
        c = v - self.visible_offset
        if self.gaussian:
            z = (c[..., :nx] - self.visible_bias[:nx]) / self.sigma
            out = -0.5 * (z * z).sum(-1)
            if self.n_labels:
                out = out + (c[..., nx:] * self.visible_bias[nx:]).sum(-1)
            return out
        return (c * self.visible_bias).sum(-1)

    def _base_term(self, v: Tensor) -> Tensor:
        """Unnormalised log density of the base model (data visibles only)."""
        if self.gaussian:
            z = (v - self.base_mean) / self.base_std
            return -0.5 * (z * z).sum(-1)
        return (v * self.base_bias).sum(-1)

    def energy(self, v: Tensor, h: Tensor) -> Tensor:
        """E(v, h) at beta = 1, per sample."""
        hc = h - self.hidden_offset
        inter = ((self.interaction_input(v) @ self.weight) * hc).sum(-1)
        return -(self._visible_term(v) + (hc * self.hidden_bias).sum(-1) + inter)

    def log_unnormalized_visible(self, v: Tensor, beta=None) -> Tensor:
        """log p*_beta(v) = -F_beta(v): hidden units summed out, per sample.

        For beta != None this is the geometric mixture with the base model:
        ``beta * (-E_v) + (1 - beta) * base + sum_j [-beta lambda_j a_j + softplus(beta a_j)]``.
        """
        self._check_tractable("The free energy")
        a = self.hidden_activation(v)
        lam = self.hidden_offset
        if beta is None:
            return self._visible_term(v) + (torch.nn.functional.softplus(a) - lam * a).sum(-1)
        self._check_no_labels("Tempering (beta)")
        ba = beta * a
        hid = (torch.nn.functional.softplus(ba) - lam * ba).sum(-1)
        b = _reduce_beta(beta)
        return b * self._visible_term(v) + (1.0 - b) * self._base_term(v) + hid

    def free_energy(self, v: Tensor, beta=None) -> Tensor:
        """F_beta(v) = -log p*_beta(v)."""
        return -self.log_unnormalized_visible(v, beta)

    def log_unnormalized_hidden(self, h: Tensor) -> Tensor:
        """log p*(h) at beta = 1 with the visible units summed/integrated out, per sample."""
        if self.visible == "rectified":
            raise NotImplementedError(
                "log p*(h) is not available for rectified visibles (no tractable marginal).")
        hc = h - self.hidden_offset
        a = self.visible_activation(h)
        nx = self.n_visible
        out = (hc * self.hidden_bias).sum(-1)
        mu = self.visible_offset
        if self.gaussian:
            ax, b, s = a[..., :nx], self.visible_bias[:nx], self.sigma
            out = out + (0.5 * (ax * ax - b * b) / (s * s)).sum(-1)
            out = out + 0.5 * nx * _LOG_2PI + torch.log(s).sum()
        else:
            ax = a[..., :nx]
            out = out + (torch.nn.functional.softplus(ax) - mu[:nx] * ax).sum(-1)
        if self.n_labels:
            ay = a[..., nx:]
            out = out + torch.logsumexp(ay, -1) - (mu[nx:] * ay).sum(-1)
        return out

    def base_log_partition(self) -> Tensor:
        """log Z of the beta = 0 model (independent visibles, uniform binary hiddens)."""
        self._check_tractable("The base model")
        self._check_no_labels("The base model")
        hid = self.n_hidden * math.log(2.0)
        if self.gaussian:
            return hid + 0.5 * self.n_visible * _LOG_2PI + torch.log(self.base_std).sum()
        return hid + torch.nn.functional.softplus(self.base_bias).sum()

    def sample_base(self, n: int, generator=None) -> Tensor:
        """Exact samples of the visible units of the beta = 0 base model."""
        kw = {"dtype": self.weight.dtype, "device": self.weight.device}
        if self.gaussian:
            eps = torch.randn((n, self.n_visible), generator=generator, **kw)
            return self.base_mean + self.base_std * eps
        p = torch.sigmoid(self.base_bias).expand(n, self.n_visible)
        return _bernoulli(p.contiguous(), generator)

    def label_log_proba(self, x: Tensor) -> Tensor:
        """log p(y | x) for a label RBM, by clamping x and summing out h, shape (n, n_labels)."""
        if not self.n_labels:
            raise NotImplementedError("label_log_proba needs n_labels > 0.")
        self._check_tractable("p(y | x)")
        nx = self.n_visible
        mu = self.visible_offset
        a0 = self.hidden_bias + self.interaction_input(
            torch.cat([x, mu[nx:].expand(*x.shape[:-1], self.n_labels)], -1)) @ self.weight
        # a(x, e_y) = a0 + (e_y - mu_y) W_y for every class y: shape (..., n_labels, n_hidden)
        eye = torch.eye(self.n_labels, dtype=x.dtype, device=x.device)
        a = a0.unsqueeze(-2) + (eye - mu[nx:]) @ self.weight[nx:]
        lam = self.hidden_offset
        hid = (torch.nn.functional.softplus(a) - lam * a).sum(-1)
        lab = ((eye - mu[nx:]) * self.visible_bias[nx:]).sum(-1)
        return torch.log_softmax(hid + lab, -1)

    # ------------------------------------------------------------------ learning
    def gradient_statistics(self, v: Tensor, h: Tensor) -> dict[str, Tensor]:
        """-dE/dtheta summed over the batch, for states v and hidden means/states h.

        Keys: ``weight``, ``visible_bias``, ``hidden_bias`` and ``sigma`` (when learned).
        The (P)CD gradient is the difference of these statistics on data and model samples.
        """
        s = self.interaction_input(v)
        hc = h - self.hidden_offset
        g = {"weight": s.T @ hc, "hidden_bias": hc.sum(0)}
        c = v - self.visible_offset
        if self.gaussian:
            nx = self.n_visible
            var = self.sigma * self.sigma
            gb = (c[:, :nx] - self.visible_bias[:nx]) / var
            gb = gb.sum(0)
            if self.n_labels:
                gb = torch.cat([gb, c[:, nx:].sum(0)])
            g["visible_bias"] = gb
            if self.learn_sigma:
                r = c[:, :nx] - self.visible_bias[:nx]
                wh = hc @ self.weight[:nx].T
                g["sigma"] = ((r * r - 2.0 * c[:, :nx] * wh) / (var * self.sigma)).sum(0)
        else:
            g["visible_bias"] = c.sum(0)
        return g

    def gradient_difference(self, v_pos: Tensor, h_pos: Tensor, v_neg: Tensor,
                            h_neg: Tensor) -> dict[str, Tensor]:
        """Mean statistics on (v_pos, h_pos) minus mean statistics on (v_neg, h_neg).

        Equal to ``gradient_statistics(v_pos, h_pos) / n_pos - gradient_statistics(v_neg,
        h_neg) / n_neg`` with the weight term computed by one fused matrix product.
        """
        n_pos, n_neg = v_pos.shape[0], v_neg.shape[0]
        s = self.interaction_input(torch.cat([v_pos, v_neg]))
        hc = torch.cat([(h_pos - self.hidden_offset) / n_pos,
                        (h_neg - self.hidden_offset) / (-n_neg)])
        g = {"weight": s.T @ hc, "hidden_bias": hc.sum(0)}
        if self.gaussian:
            nx = self.n_visible
            c = torch.cat([v_pos, v_neg]) - self.visible_offset
            w = torch.cat([c.new_full((n_pos, 1), 1.0 / n_pos),
                           c.new_full((n_neg, 1), -1.0 / n_neg)])
            var = self.sigma * self.sigma
            gb = ((c[:, :nx] - self.visible_bias[:nx]) * w).sum(0) / var
            if self.n_labels:
                gb = torch.cat([gb, (c[:, nx:] * w).sum(0)])
            g["visible_bias"] = gb
            if self.learn_sigma:
                r = c[:, :nx] - self.visible_bias[:nx]
                wh = (hc * torch.where(w > 0, n_pos, -n_neg)) @ self.weight[:nx].T
                g["sigma"] = (((r * r - 2.0 * c[:, :nx] * wh) * w).sum(0)) / (var * self.sigma)
        else:
            g["visible_bias"] = v_pos.mean(0) - v_neg.mean(0)
        return g

    @torch.no_grad()
    def update_offsets(self, new_visible: Tensor | None, new_hidden: Tensor | None,
                       rate_visible: float, rate_hidden: float) -> None:
        """Move the offsets towards new values and reparameterise the biases.

        The model distribution is unchanged: ``b += W (lambda' - lambda)`` and
        ``c += s(mu' - mu) W`` (for Gaussian visibles also ``b -= mu' - mu``).
        ``update_offsets(0, 0, 1, 1)`` turns a centered RBM into a normal one.
        """
        if new_hidden is not None and rate_hidden:
            target = (1.0 - rate_hidden) * self.hidden_offset + rate_hidden * new_hidden
            delta = target - self.hidden_offset
            self.visible_bias += self.weight @ delta
            self.hidden_offset.copy_(target)
        if new_visible is not None and rate_visible:
            target = (1.0 - rate_visible) * self.visible_offset + rate_visible * new_visible
            delta = target - self.visible_offset
            iv = self._inv_var()
            self.hidden_bias += (delta if iv is None else delta * iv) @ self.weight
            if self.gaussian:
                nx = self.n_visible
                self.visible_bias[:nx] -= delta[:nx]
            self.visible_offset.copy_(target)


class RBMUpdater:
    r"""Momentum update of an :class:`RBM` from positive and negative samples.

    ``delta <- momentum * delta + lr * (<grad>_data - <grad>_model) / batch`` with L1/L2
    weight decay, a hidden-bias sparsity term, an optional norm restriction of the weight
    update and the centering offsets moved by exponential moving averages (offset type
    ``"DD"``: data means; ``"M"`` model means, ``"A"`` their average, ``"0"`` zero).

    Parameters
    ----------
    model : RBM
    learning_rate : float or dict
        A float, or per-parameter rates with keys ``weight``, ``visible_bias``,
        ``hidden_bias`` and ``sigma`` (missing keys take ``weight``'s rate).
    momentum, l1, l2 : float
    sparsity_target : float or None and sparsity_weight : float
    max_norm : float or None and max_norm_axis : {"cols", "rows", "mat"}
        Restriction of the norm of the weight update (per hidden unit for ``"cols"``).
    offset_type : str, two letters of ``ADM0``
    offset_rate : (float, float)
        Moving-average rates of the visible and hidden offsets; (0, 0) keeps them fixed.
    use_hidden_states : bool
        Use sampled hidden states instead of probabilities in the statistics.
    gradient_offsets : (Tensor, Tensor) or None, default=None
        PyDeep's ``use_centered_gradient``: the model stays a normal RBM (its own offsets
        must be zero) and these visible and hidden offsets :math:`(\mu, \lambda)`, moved
        in place by the offset rule, center the gradient instead (see
        :meth:`center_gradient`). Without momentum, weight decay, norm restriction or a
        learned sigma this is the same update as a centered model's, expressed in the
        normal parameters (those act on the normal parameters, as in PyDeep). None (the
        default) centers through the model's offsets.
    """

    def __init__(self, model: RBM, *, learning_rate=0.01, momentum: float = 0.0,
                 l1: float = 0.0, l2: float = 0.0, sparsity_target: float | None = None,
                 sparsity_weight: float = 0.0, max_norm: float | None = None,
                 max_norm_axis: str = "cols", offset_type: str = "DD",
                 offset_rate: tuple[float, float] = (0.01, 0.01),
                 use_hidden_states: bool = False,
                 gradient_offsets: tuple[Tensor, Tensor] | None = None) -> None:
        assert offset_type in OFFSET_TYPES, f"'offset_type' should be one of {OFFSET_TYPES}."
        assert max_norm_axis in ("cols", "rows", "mat")
        if gradient_offsets is not None:
            assert not (model.visible_offset.any() or model.hidden_offset.any()), (
                "gradient_offsets needs a normal RBM (zero model offsets)")
        self.gradient_offsets = gradient_offsets
        self.model = model
        names = ["weight", "visible_bias", "hidden_bias"] + (["sigma"] if model.learn_sigma else [])
        if isinstance(learning_rate, dict):
            base = learning_rate.get("weight", 0.01)
            self.learning_rate = {n: float(learning_rate.get(n, base)) for n in names}
        else:
            self.learning_rate = {n: float(learning_rate) for n in names}
        self.momentum = float(momentum)
        self.l1, self.l2 = float(l1), float(l2)
        self.sparsity_target = sparsity_target
        self.sparsity_weight = float(sparsity_weight)
        self.max_norm = max_norm
        self.max_norm_axis = max_norm_axis
        self.offset_type = offset_type
        self.offset_rate = (float(offset_rate[0]), float(offset_rate[1]))
        self.use_hidden_states = bool(use_hidden_states)
        self.velocity: dict[str, Tensor] = {}
        #: p(h | v_neg) of the last :meth:`step` (before its parameter update).
        self.negative_hidden_prob: Tensor | None = None

    def __getstate__(self) -> dict:
        # The numba work buffers are NumPy views of torch tensors and of each other, which
        # copies and pickles would not keep: they are rebuilt on the next step.
        state = self.__dict__.copy()
        state.pop("_nb_buffers", None)
        return state

    @staticmethod
    def _offset_target(kind: str, data_mean: Tensor, model_mean: Tensor) -> Tensor:
        if kind == "D":
            return data_mean
        if kind == "M":
            return model_mean
        if kind == "A":
            return 0.5 * (data_mean + model_mean)
        return torch.zeros_like(data_mean)

    def _hidden(self, v: Tensor, generator) -> tuple[Tensor, Tensor]:
        m = self.model
        if self.use_hidden_states:
            h, p = m.sample_h(v, generator=generator, return_prob=True)
            return h, p
        p = m.prob_h(v)
        return p, p

    @torch.no_grad()
    def step(self, v_pos: Tensor, v_neg: Tensor, generator=None) -> Tensor:
        """One update from data ``v_pos`` and model samples ``v_neg``.

        Returns E[h | v_pos], the hidden means on the data (for monitoring), computed
        before the update.
        """
        m = self.model
        h_pos, p_pos = self._hidden(v_pos, generator)
        h_neg, p_neg = self._hidden(v_neg, generator)
        self.negative_hidden_prob = p_neg
        rv, rh = self.offset_rate
        if rv or rh:
            tv, th = self.offset_type
            new_v = self._offset_target(tv, v_pos.mean(0), v_neg.mean(0)) if rv else None
            new_h = self._offset_target(th, h_pos.mean(0), h_neg.mean(0)) if rh else None
            self.move_offsets(new_v, new_h)
        grads = m.gradient_difference(v_pos, h_pos, v_neg, h_neg)
        if self.gradient_offsets is not None:
            grads = self.center_gradient(grads)
        self.apply(grads, hidden_mean=p_pos.mean(0))
        return p_pos

    @torch.no_grad()
    def move_offsets(self, new_visible: Tensor | None, new_hidden: Tensor | None) -> None:
        """Move the centering offsets towards new values at ``offset_rate``: the model's
        (reparameterising its biases), or ``gradient_offsets`` when given."""
        rv, rh = self.offset_rate
        if self.gradient_offsets is None:
            self.model.update_offsets(new_visible, new_hidden, rv, rh)
            return
        mu, lam = self.gradient_offsets
        if new_visible is not None and rv:
            mu.mul_(1.0 - rv).add_(new_visible, alpha=rv)
        if new_hidden is not None and rh:
            lam.mul_(1.0 - rh).add_(new_hidden, alpha=rh)

    def center_gradient(self, grads: dict[str, Tensor]) -> dict[str, Tensor]:
        r"""PyDeep's centered gradient of a normal RBM at ``gradient_offsets`` (in place).

        With the normal model's gradient :math:`(\nabla W, \nabla b, \nabla c)` and
        :math:`s(\mu)` the offset as the weights see it (:math:`\mu / \sigma^2` for
        Gaussian units):

        .. math::
            \nabla_c W = \nabla W - s(\mu) \nabla c^\top - \nabla b\, \lambda^\top,
            \quad \nabla_c b = \nabla b - \nabla_c W \lambda,
            \quad \nabla_c c = \nabla c - \mu^\top \nabla_c W,

        the step of the centered model's parameters mapped into the normal ones
        (:math:`\mu` without the :math:`1 / \sigma^2`: :meth:`apply` multiplies the
        weight step of a Gaussian unit by :math:`\sigma^2`). A learned sigma keeps its
        normal-model gradient.
        """
        m = self.model
        mu, lam = self.gradient_offsets
        s_mu = m.interaction_input(mu)  # zero model offsets: mu, or mu / sigma^2
        gw = grads["weight"]
        gw.sub_(torch.outer(s_mu, grads["hidden_bias"])).sub_(
            torch.outer(grads["visible_bias"], lam))
        grads["visible_bias"].sub_(gw @ lam)
        grads["hidden_bias"].sub_(mu @ gw)
        return grads

    # ------------------------------------------------------------------ fused binary step
    @property
    def fused_supported(self) -> bool:
        """Whether :meth:`fused_step` applies: binary-binary RBM, no labels, no L1, no
        norm restriction, hidden probabilities in the statistics, offsets of type D or 0,
        centering through the model's offsets."""
        m = self.model
        return (m.visible == "binary" and m.hidden == "binary" and not m.n_labels
                and not self.l1 and self.max_norm is None and not self.use_hidden_states
                and set(self.offset_type) <= set("D0") and self.gradient_offsets is None)

    def _fused_buffers(self, B: int, n_ch: int, n_loss: int, sparse: bool, W: Tensor) -> dict:
        key = (B, n_ch, n_loss, sparse, W.dtype, W.device, W.data_ptr())
        cache = self.__dict__.setdefault("_buffers", {})
        if key in cache:
            return cache[key]
        nv, nh = W.shape
        n_all = B + n_ch
        kw = {"dtype": W.dtype, "device": W.device}
        long = {"dtype": torch.long, "device": W.device}
        wB = torch.full((n_all,), 1.0 / B, **kw)
        Hv = torch.empty((1 + n_ch + n_loss, nh), **kw)  # rows: dlam, chains - lam, loss rows
        Av = torch.empty((1 + n_ch + n_loss, nv), **kw)
        emb = sparse and n_all >= _EMB_OUTER_ROWS
        Hc = torch.empty((n_all, nh), **kw)
        buf = {"wB": wB, "wB_pos": wB[:B], "wn": torch.full((n_ch,), 1.0 / n_ch, **kw),
               "vmean": torch.empty(nv, **kw), "pmean": torch.empty(nh, **kw),
               "Hv": Hv, "dlam": Hv[0], "Hv_ch": Hv[1:1 + n_ch], "Hv_loss": Hv[1 + n_ch:],
               "Av": Av, "db": Av[0], "Av_rest": Av[1:], "pv_ch": Av[1:1 + n_ch],
               "pv_loss": Av[1 + n_ch:], "WT": W.T,
               "Uh": torch.empty((n_ch, nh), **kw), "Hc": Hc, "Hc_pos": Hc[:B],
               "Hc_neg": Hc[B:n_all], "HcT": Hc[:n_all].T, "emb": emb,
               "dl": torch.empty((n_loss, nv), **kw)}
        buf["dl_flat"] = buf["dl"].view(-1)
        if sparse:
            both = torch.empty((n_all, nv), dtype=torch.bool, device=W.device)
            off_pos = torch.zeros(B + 1, **long)
            off_neg = torch.zeros(n_ch + 1, **long)
            crow = torch.zeros(nv + 1, **long)
            buf.update(dmu=torch.empty(nv, **kw), muW=torch.empty(nh, **kw),
                       dc=torch.empty(nh, **kw), cw=torch.empty(nh, **kw), off_pos=off_pos,
                       off_pos_end=off_pos[1:], off_neg=off_neg, off_neg_end=off_neg[1:],
                       crow=crow,
                       crow_end=crow[1:], both=both, both_pos=both[:B], v_loss=both[:n_loss],
                       both_neg=both[B:n_all], Uv=torch.empty((n_ch, nv), **kw))
            if emb:
                buf["gcB"] = torch.empty(nh, **kw)
                if n_all > _CUMSUM_ROWS:  # the column-wise cumsum on a transposed copy
                    buf["both_T"] = torch.empty((nv, n_all), dtype=torch.bool, device=W.device)
            else:  # one dense addmm_ of ([v_pos; v_neg] - mu)^T Hc
                S = torch.empty((n_all, nv), **kw)
                buf.update(S=S, S_T=S.T, nmu=torch.empty(nv, **kw))
        else:
            S = torch.empty((1 + B + n_ch, nv), **kw)  # rows: dmu, v_pos - mu, v_neg - mu
            A = torch.empty((1 + B, nh), **kw)
            buf.update(S=S, dmu=S[0], S_pos=S[1:1 + B], S_neg=S[1 + B:], S_A=S[:1 + B],
                       S_T=S[1:].T, A=A, dc=A[0], A_rest=A[1:])
        cache.clear()  # at most the full and the last (smaller) batch shapes alive
        cache[key] = buf
        return buf

    @torch.no_grad()
    def fused_step(self, v_pos: Tensor | None, chain_prob: Tensor | None, generator=None, *,
                   k: int = 1, sparse: Tensor | None = None, n_loss: int = 0):
        """One CD-k / PCD-k update of a binary-binary RBM with the matrix products fused.

        Same update as :meth:`step` fed by :meth:`RBM.gibbs` (CD) or
        :class:`~skdeepclust.nn.sampling.PersistentGibbsSampler` (PCD) — same random
        draws, same result up to rounding — rearranged for speed: the offset moves
        ``dmu W`` and ``W dlambda`` ride along as extra rows of the positive and negative
        matrix products (sparse: ``dmu W`` from the positive bags and one ``mu W``), the
        reconstruction error of the first ``n_loss`` rows rides along the negative visible
        product, the weight update is applied in place (no gradient tensor), means are
        matrix-vector products and the work tensors are reused between calls. With
        ``sparse`` (the positive batch as a bool tensor, binary data only) the products
        with binary visible states use embedding bags: ``(v - mu) W = v W - mu W`` (a bag
        of rows of W per sample), several times cheaper on MNIST-like data (13 % ones),
        and from ``_EMB_OUTER_ROWS`` rows of minibatch + chains on
        ``(v - mu)^T H = v^T H - mu (1^T H)`` (a bag of rows of H per visible unit; below,
        one dense ``addmm_``).

        With ``sparse`` on the CPU (float32 or float64) the step runs numba kernels
        (:mod:`skdeepclust.nn._rbm_kernels`: no index tensors, three kernel calls around
        the random draws and the dense negative visible product), compiled on first use and
        cached on disk; without numba (or with ``_USE_NUMBA = False``) the torch kernels
        above run. Both make the same draws as the generic path. The numba kernels write
        the parameters through NumPy views (their version counters do not move).

        Parameters
        ----------
        v_pos : Tensor of shape (B, n_visible) or None
            The minibatch (not used, and may be None, when ``sparse`` is given).
        chain_prob : Tensor of shape (n_chains, n_hidden) or None
            p(h = 1 | chains) of the persistent chains (PCD); None starts the chains at
            the minibatch (CD: its hidden probabilities).
        generator : torch.Generator or None
        k : int, default=1
            Gibbs steps.
        sparse : bool Tensor of shape (B, n_visible) or None
            The binary minibatch as bools (``v_pos != 0``): use the sparse kernels.
        n_loss : int, default=0
            Rows of the minibatch whose one-step mean-field reconstruction error is
            returned (0: the loss is None).

        Returns
        -------
        v_neg : Tensor of shape (n_chains, n_visible)
            The chains' new states.
        p_neg : Tensor of shape (n_chains, n_hidden)
            p(h = 1 | v_neg) before this update's parameter step (the next PCD step draws
            its first hidden states from it, as :meth:`step` + the sampler do).
        loss : Tensor (0-dim) or None
        """
        m = self.model
        W, b, c = m.weight, m.visible_bias, m.hidden_bias
        if (sparse is not None and _USE_NUMBA and W.device.type == "cpu"
                and W.dtype in _NUMBA_DTYPES):
            kernels = _numba_kernels()
            if kernels is not None:
                return self._numba_step(kernels, sparse, chain_prob, generator, k, n_loss)
        mu, lam = m.visible_offset, m.hidden_offset
        sp = sparse is not None
        B, nv = (sparse if sp else v_pos).shape
        n_ch = B if chain_prob is None else chain_prob.shape[0]
        n_loss = min(int(n_loss), B)
        buf = self._fused_buffers(B, n_ch, n_loss, sp, W)
        rv, rh = self.offset_rate
        tv, th = self.offset_type
        moving = bool(rv or rh)
        F = torch.nn.functional
        n_all = B + n_ch

        # ---- positive phase, with the visible offset move dmu and its dmu W
        # vbar = vscale * <v_pos>: the column sums (sparse) or means (dense)
        if sp:
            both, both_pos = buf["both"], buf["both_pos"]
            both_pos.copy_(sparse)
            vbar, vscale = torch.sum(both_pos, 0, dtype=W.dtype, out=buf["vmean"]), B
            v_loss = buf["v_loss"]  # the loss rows below read them as 0 / 1
        else:
            vbar, vscale = torch.mv(v_pos.t(), buf["wB_pos"], out=buf["vmean"]), 1
            v_loss = v_pos[:n_loss]
        dmu = buf["dmu"]
        if tv == "D":  # rv (<v_pos> - mu)
            torch.sub(vbar, mu, alpha=vscale, out=dmu).mul_(rv / vscale)
        else:
            torch.mul(mu, -rv, out=dmu)
        if sp:
            muW = torch.mv(buf["WT"], mu, out=buf["muW"])
            cw = torch.sub(c, muW, out=buf["cw"])  # hidden input = v W + cw, move-invariant
            nz_pos = both_pos.nonzero()
            torch.cumsum(torch.bincount(nz_pos[:, 0], minlength=B), 0, out=buf["off_pos_end"])
            vW = F.embedding_bag(nz_pos[:, 1], W, buf["off_pos"], mode="sum",
                                 include_last_offset=True)
            dc = buf["dc"]  # dmu W = rv (<v_pos W> - mu W), no second pass over W
            if tv == "D":
                torch.addmv(muW, vW.t(), buf["wB_pos"], beta=-rv, alpha=rv, out=dc)
            else:
                torch.mul(muW, -rv, out=dc)
            p_pos = vW.add_(cw).sigmoid_()
        else:
            torch.sub(v_pos, mu, out=buf["S_pos"])
            torch.mm(buf["S_A"], W, out=buf["A"])
            dc = buf["dc"]
            p_pos = buf["A_rest"].add_(c).sigmoid_()
        dlam = buf["dlam"]
        if th == "D":  # rh (<p_pos> - lam) in one op
            torch.addmv(lam, p_pos.t(), buf["wB_pos"], beta=-rh, alpha=rh, out=dlam)
        else:
            torch.mul(lam, -rh, out=dlam)

        # ---- negative phase: the chains' first hidden draw, then the visible one
        hp = p_pos if chain_prob is None else chain_prob
        u = torch.rand(hp.shape, generator=generator, out=buf["Uh"]).lt_(hp)
        torch.sub(u, lam, out=buf["Hv_ch"])
        if n_loss:
            torch.sub(p_pos[:n_loss], lam, out=buf["Hv_loss"])
        torch.mm(buf["Hv"], buf["WT"], out=buf["Av"])
        db = buf["db"]
        buf["Av_rest"].add_(b).sigmoid_()  # p(v = 1 | h): chains' rows, then loss rows
        pv_ch = buf["pv_ch"]
        if sp:
            u = torch.rand((n_ch, nv), generator=generator, out=buf["Uv"])
            neg_bool = torch.lt(u, pv_ch, out=buf["both_neg"])
            v_neg = neg_bool.to(W.dtype)
        else:
            v_neg = torch.rand((n_ch, nv), generator=generator, dtype=W.dtype,
                               device=W.device).lt_(pv_ch)
        loss = None
        if n_loss:  # mean squared reconstruction error of the first n_loss rows
            d = buf["dl_flat"]
            torch.add(buf["pv_loss"], v_loss, alpha=-1.0, out=buf["dl"])
            loss = torch.dot(d, d).div_(d.shape[0])
        if moving:  # the offsets move; the model's distribution does not
            b.add_(db)
            lam.add_(dlam)
            c.add_(dc)
            mu.add_(dmu)
        for _ in range(int(k) - 1):
            v_neg = m.sample_v(m.sample_h(v_neg, None, generator), None, generator)
            if sp:
                torch.ne(v_neg, 0, out=neg_bool)

        # ---- negative hidden probabilities and the statistics (new offsets)
        if sp:
            nz_neg = neg_bool.nonzero()
            torch.cumsum(torch.bincount(nz_neg[:, 0], minlength=n_ch), 0,
                         out=buf["off_neg_end"])
            p_neg = F.embedding_bag(nz_neg[:, 1], W, buf["off_neg"], mode="sum",
                                    include_last_offset=True).add_(cw).sigmoid_()
        else:
            if moving:
                buf["S_pos"].sub_(dmu)
            torch.sub(v_neg, mu, out=buf["S_neg"])
            p_neg = torch.addmm(c, buf["S_neg"], W).sigmoid_()
        torch.sub(p_pos, lam, out=buf["Hc_pos"])
        torch.sub(lam, p_neg, out=buf["Hc_neg"])
        if n_ch != B:
            buf["Hc_neg"].mul_(B / n_ch)
        gc = torch.mv(buf["HcT"], buf["wB"])  # <h - lam>_data - <h - lam>_model
        gb = torch.addmv(vbar, v_neg.t(), buf["wn"], beta=1.0 / vscale, alpha=-1.0)

        # ---- weights: W += lr (<(v - mu)(h - lam)>_data - <.>_model), in place
        rate = self.learning_rate["weight"]
        if rate:
            Hc = buf["Hc"]
            if sp and buf["emb"]:
                # V^T Hc (V = [v_pos; v_neg] binary) by an embedding bag per visible unit
                # over the visible-major (transposed CSR) order of the ones of V, then the
                # rank one -mu (B gc)^T. The rank of each one in its column is read off
                # the column-wise cumulative sum (no sort, no transposed nonzero).
                rows = torch.cat([nz_pos[:, 0], nz_neg[:, 0].add_(B)])
                cols = torch.cat([nz_pos[:, 1], nz_neg[:, 1]])
                crow = buf["crow"]
                if n_all <= _CUMSUM_ROWS:
                    C = both.cumsum(0, dtype=torch.int32)
                    torch.cumsum(C[-1], 0, out=buf["crow_end"])
                    flat = torch.add(cols, rows, alpha=nv)
                else:  # a long strided cumsum over rows is cache-bound: transpose first
                    C = buf["both_T"].copy_(both.t()).cumsum(1, dtype=torch.int32)
                    torch.cumsum(C[:, -1], 0, out=buf["crow_end"])
                    flat = torch.add(rows, cols, alpha=n_all)
                at = crow.take(cols).add_(C.view(-1).take(flat))
                rows_t = torch.empty_like(rows).index_copy_(0, at.sub_(1), rows)
                upd = F.embedding_bag(rows_t, Hc, crow, mode="sum", include_last_offset=True)
                upd.addr_(mu, torch.mul(gc, B, out=buf["gcB"]), alpha=-1.0)
                lhs = rhs = None
            elif sp:  # [v_pos; v_neg] - mu as floats, one dense addmm_
                nmu = torch.neg(mu, out=buf["nmu"])
                torch.add(nmu, both, out=buf["S"])
                lhs, rhs = buf["S_T"], Hc
            else:
                lhs, rhs = buf["S_T"], Hc
            if self.momentum:
                vel = self.velocity.get("weight")
                if vel is None:
                    vel = self.velocity["weight"] = torch.zeros_like(W)
                else:
                    vel.mul_(self.momentum)
                if self.l2:
                    vel.add_(W, alpha=-rate * self.l2)
                if lhs is None:
                    vel.add_(upd, alpha=rate / B)
                else:
                    vel.addmm_(lhs, rhs, alpha=rate / B)
                W.add_(vel)
            else:
                if self.l2:
                    W.mul_(1.0 - rate * self.l2)
                if lhs is None:
                    W.add_(upd, alpha=rate / B)
                else:
                    W.addmm_(lhs, rhs, alpha=rate / B)
        pmean = None  # <p_pos>, for the sparsity term only
        if self.sparsity_weight and self.sparsity_target is not None:
            pmean = torch.mv(p_pos.T, buf["wB_pos"], out=buf["pmean"])
        self.apply({"visible_bias": gb, "hidden_bias": gc}, hidden_mean=pmean)
        self.negative_hidden_prob = p_neg
        return v_neg, p_neg, loss

    @torch.no_grad()
    def binary_hidden_prob(self, v: Tensor, sparse: bool = True) -> Tensor:
        """p(h = 1 | v) for binary states ``v`` (e.g. the chains' first states).

        With ``sparse`` and the numba kernels available (CPU, float32 / float64) as sums of
        the rows of W over the ones of each row (the numba path of :meth:`fused_step`);
        otherwise :meth:`RBM.prob_h`. Equal up to rounding.
        """
        m = self.model
        W = m.weight
        if not (sparse and _USE_NUMBA and W.device.type == "cpu" and W.dtype in _NUMBA_DTYPES
                and v.dtype == W.dtype and v.ndim == 2):
            return m.prob_h(v)
        K = _numba_kernels()
        if K is None:
            return m.prob_h(v)
        Wn = W.detach().numpy()
        nv, nh = Wn.shape
        X = (v != 0).contiguous().numpy()
        cw = (m.hidden_bias - m.visible_offset @ W).contiguous().numpy()
        out = torch.empty((v.shape[0], nh), dtype=W.dtype)
        ptr = np.zeros(X.shape[0] + 1, np.int64)
        idx = np.zeros(max(X.size, 1), np.int32 if X.size < 2**31 else np.int64)
        ib = np.zeros(max(nv, nh), np.int32)
        K._csr(X, _words(X), ptr, idx, np.zeros(nv, Wn.dtype))
        K._bag_sigmoid(out.numpy(), Wn, cw, ptr, idx, ib, ib.view(np.float32),
                       Wn.dtype == np.float32)
        return out

    def _numba_buffers(self, B: int, n_ch: int, n_loss: int, params: tuple) -> dict:
        # params: W, b, c, mu, lam; their NumPy views live in the buffer (the views keep
        # the storage alive, so equal data pointers mean the same storage)
        W = params[0]
        key = (B, n_ch, n_loss, W.dtype, *(p.data_ptr() for p in params))
        cache = self.__dict__.setdefault("_nb_buffers", {})
        if key in cache:
            return cache[key]
        nv, nh = W.shape
        kw = {"dtype": W.dtype}
        n_all = B + n_ch
        # rows of Hv: [dlam; h_chains - lam; p_loss - lam], or with bag_neg [dlam; lam;
        # p_loss - lam] (Av: those rows times W^T, then the chains' rows by the kernel)
        bag_neg = n_ch >= _BAG_NEG_MIN_CHAINS
        n_hv = 2 + n_loss if bag_neg else 1 + n_ch + n_loss
        t = {"Uh": torch.empty((n_ch, nh), **kw), "Uv": torch.empty((n_ch, nv), **kw),
             "Hv": torch.empty((n_hv, nh), **kw),
             "Av": torch.empty((1 + n_ch + n_loss + bag_neg, nv), **kw)}
        t["Av_d"] = t["Av"][:n_hv]
        buf = {"t": t, **{k: v.numpy() for k, v in t.items()},
               "params": tuple(p.detach().numpy() for p in params), "bag_neg": bag_neg,
               "WT": np.zeros((nh, nv) if bag_neg else (1, 1), t["Uh"].numpy().dtype),
               "hptr": np.zeros(n_ch + 1, np.int64),
               "hidx": np.zeros(n_ch * nh if bag_neg else 1, np.int32)}
        i32 = np.int32 if n_all * nv < 2**31 else np.int64
        dt = t["Uh"].numpy().dtype
        buf.update(
            ptr=np.zeros(B + 1, np.int64), idx=np.zeros(B * nv, i32),
            nptr=np.zeros(n_ch + 1, np.int64), nidx=np.zeros(n_ch * nv, i32),
            cptr=np.zeros(nv + 1, np.int64), crows=np.zeros(n_all * nv, i32),
            vbar=np.zeros(nv, dt), dmu=np.zeros(nv, dt), acc=np.zeros(max(nv, nh), dt),
            muW=np.zeros(nh, dt), cw=np.zeros(nh, dt), dc=np.zeros(nh, dt),
            dlam=np.zeros(nh, dt), pmean=np.zeros(nh, dt), gc=np.zeros(nh, dt),
            p_pos=np.zeros((B, nh), dt), Hc=np.zeros((n_all, nh), dt),
            neg=np.zeros((n_ch, nv), np.bool_), none=np.zeros(1, dt), gb=np.zeros(nv, dt),
            ib=np.zeros(max(nv, nh), np.int32))
        buf["fb"] = buf["ib"].view(np.float32)
        buf["negw"] = _words(buf["neg"])
        buf["fast"] = dt == np.float32
        cache.clear()  # at most the full and the last (smaller) batch shapes alive
        cache[key] = buf
        return buf

    def _numba_step(self, K, sparse: Tensor, chain_prob: Tensor | None, generator, k: int,
                    n_loss: int):
        """:meth:`fused_step` (sparse, CPU) by the numba kernels of ``_rbm_kernels``."""
        m = self.model
        W = m.weight
        B, nv = sparse.shape
        nh = W.shape[1]
        n_ch = B if chain_prob is None else chain_prob.shape[0]
        n_loss = min(int(n_loss), B)
        mu_t = m.visible_offset
        buf = self._numba_buffers(B, n_ch, n_loss, (W, m.visible_bias, m.hidden_bias, mu_t,
                                                    m.hidden_offset))
        Wn, b, c, mu, lam = buf["params"]
        dt = Wn.dtype.type
        one = dt(1.0)
        X = sparse.contiguous().numpy()
        rv, rh = self.offset_rate
        tv, th = self.offset_type
        t = buf["t"]
        # the same draws as the generic path: the chains' hidden states, then visible ones
        torch.rand((n_ch, nh), generator=generator, out=t["Uh"])
        torch.rand((n_ch, nv), generator=generator, out=t["Uv"])
        p_pos = buf["p_pos"]
        hp = p_pos if chain_prob is None else np.ascontiguousarray(chain_prob.detach().numpy())
        ib, fb, fast = buf["ib"], buf["fb"], buf["fast"]
        # mu W from the last update's pass over W, unless a torch op changed W or mu since
        # (in-place torch ops bump a tensor's version; the kernels' numpy writes do not)
        have_muW = buf.get("muW_version") == (W._version, mu_t._version)
        bag_neg, WT = buf["bag_neg"], buf["WT"]
        if bag_neg and buf.get("WT_version") != W._version:  # the copy W^T is stale
            np.copyto(WT, Wn.T)
        K.positive(X, _words(X), Wn, c, mu, lam, hp, buf["Uh"], dt(rv), dt(rh), tv == "D",
                   th == "D", one, dt(1.0 / B), fast, have_muW, buf["ptr"], buf["idx"],
                   buf["vbar"], buf["dmu"], buf["muW"], buf["cw"], buf["dc"], buf["dlam"], p_pos,
                   buf["pmean"], buf["Hv"], n_loss, ib, fb, bag_neg, buf["hptr"], buf["hidx"])
        # dense: the sampled hiddens are ~50 % ones (with bag_neg only [dlam; lam; loss rows])
        torch.mm(t["Hv"], W.T, out=t["Av_d"])
        v_neg = torch.empty((n_ch, nv), dtype=W.dtype)
        neg = buf["neg"]
        loss = K.negative_visible(buf["Av"], b, buf["Uv"], X, neg, v_neg.numpy(), n_loss, one,
                                  fast, bool(rv or rh), lam, buf["dlam"], c, buf["dc"], mu,
                                  buf["dmu"], ib, fb, bag_neg, WT, buf["hptr"], buf["hidx"])
        for _ in range(int(k) - 1):
            v_neg = m.sample_v(m.sample_h(v_neg, None, generator), None, generator)
        if k > 1:
            np.not_equal(v_neg.numpy(), 0, out=neg)
        lr = self.learning_rate
        mom = self.momentum
        vel = [buf["none"].reshape(1, 1), buf["none"], buf["none"]]
        if mom:
            for i, (name, p) in enumerate((("weight", W), ("visible_bias", m.visible_bias),
                                           ("hidden_bias", m.hidden_bias))):
                v = self.velocity.get(name)
                if v is None:  # as a zero velocity: the same first step as apply()
                    v = self.velocity[name] = torch.zeros_like(p)
                vel[i] = v.numpy()
        sw = self.sparsity_weight if self.sparsity_target is not None else 0.0
        st = self.sparsity_target if self.sparsity_target is not None else 0.0
        p_neg = torch.empty((n_ch, nh), dtype=W.dtype)
        K.update(X, neg, buf["negw"], buf["ptr"], buf["idx"], buf["nptr"], buf["nidx"],
                 buf["cptr"], buf["crows"], Wn, buf["cw"], p_pos, p_neg.numpy(), lam, mu, b, c,
                 buf["vbar"], buf["Hc"], buf["gc"], buf["gb"], buf["acc"], one, dt(1.0 / B),
                 dt(1.0 / n_ch), dt(B), fast, dt(lr["weight"]), dt(lr["visible_bias"]),
                 dt(lr["hidden_bias"]), dt(mom), dt(self.l2), vel[0], vel[1], vel[2], dt(sw),
                 dt(st), buf["pmean"], ib, fb, buf["muW"], bag_neg, WT)
        # buf["muW"] is now mu W of the new weights (unless the weights did not move);
        # WT is W^T (rewritten in the pass over W, or W did not move)
        buf["muW_version"] = (W._version, mu_t._version) if lr["weight"] else None
        buf["WT_version"] = W._version if bag_neg else None
        self.negative_hidden_prob = p_neg
        out = torch.tensor(loss, dtype=W.dtype) if n_loss else None
        return v_neg, p_neg, out

    @torch.no_grad()
    def apply(self, grads: dict[str, Tensor], hidden_mean: Tensor | None = None) -> None:
        """Momentum ascent along ``grads`` (a log-likelihood gradient estimate).

        The tensors in ``grads`` are consumed (modified in place).

        Gaussian visibles: the steps of each feature's weights and bias are multiplied by
        its variance ``sigma**2`` (the natural-gradient scaling of a Gaussian's mean: with
        sigma at the data's standard deviation this is the update on standardised data, so
        the learning rate means the same at any scale; a shrinking learned sigma does not
        inflate the steps), constant features (``feature_scale == 0``) stay frozen, and a
        learned sigma moves in log space,
        ``sigma *= exp(rate * sigma * dL/dsigma)`` (at most ``e**0.1`` per update), kept
        in ``[sigma_min, sigma_max]``.
        """
        m = self.model
        nx = m.n_visible
        scale2 = None
        if m.gaussian:  # sigma^2: the inverse Fisher information of a Gaussian's mean
            scale2 = torch.where(m.feature_scale > 0, m.sigma * m.sigma, 0.0)
        for name, g in grads.items():
            rate = self.learning_rate.get(name)
            if rate is None:
                continue
            param = getattr(m, name)
            if name == "sigma":
                self._apply_log_sigma(g, rate)
                continue
            if name == "weight":
                if self.l1:
                    g = g.sub_(torch.sign(param), alpha=self.l1)
                if self.l2:
                    g = g.sub_(param, alpha=self.l2)
            if (name == "hidden_bias" and self.sparsity_weight and hidden_mean is not None
                    and self.sparsity_target is not None):
                g = g.add_(self.sparsity_target - hidden_mean, alpha=self.sparsity_weight)
            if scale2 is not None and name == "weight":
                g[:nx].mul_(scale2.unsqueeze(1))
            elif scale2 is not None and name == "visible_bias":
                g[:nx].mul_(scale2)
            restrict = name == "weight" and self.max_norm is not None
            if not self.momentum and not restrict:
                param.add_(g, alpha=rate)  # plain SGD: one pass over the parameter
                continue
            vel = self.velocity.get(name) if self.momentum else None
            step = g.mul_(rate) if vel is None else vel.mul_(self.momentum).add_(g, alpha=rate)
            if restrict:
                step = _restrict_norm(step, float(self.max_norm), self.max_norm_axis)
            if self.momentum:
                self.velocity[name] = step
            param.add_(step)

    def _apply_log_sigma(self, g: Tensor, rate: float) -> None:
        """Ascent on log(sigma) (gradient ``sigma * dL/dsigma``: scale-free), clipped to
        ``_LOG_SIGMA_STEP`` per update and kept in ``[sigma_min, sigma_max]``."""
        m = self.model
        sigma = m.sigma
        g = g.mul_(sigma)
        if self.momentum:
            vel = self.velocity.get("log_sigma")
            step = g.mul_(rate) if vel is None else vel.mul_(self.momentum).add_(g, alpha=rate)
            self.velocity["log_sigma"] = step
        else:
            step = g.mul_(rate)
        step = step.clamp(-_LOG_SIGMA_STEP, _LOG_SIGMA_STEP)  # NaN stays NaN: caught later
        sigma.mul_(step.exp_()).clamp_(min=m.sigma_min, max=m.sigma_max)


def _restrict_norm(w: Tensor, max_norm: float, axis: str) -> Tensor:
    if axis == "mat":
        norm = torch.linalg.vector_norm(w)
    else:
        norm = torch.linalg.vector_norm(w, dim=0 if axis == "cols" else 1, keepdim=True)
    return w * torch.clamp(max_norm / torch.clamp(norm, min=1e-300), max=1.0)

