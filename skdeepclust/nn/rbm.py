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

Training is not here: :class:`~skdeepclust.nn.rbm_training.RBMUpdater` applies the
centered (P)CD / PT update to an :class:`RBM`, the samplers live in
:mod:`skdeepclust.nn.sampling` and the partition functions in :mod:`skdeepclust.nn.partition`.

References
----------
Melchior, Fischer & Wiskott, "How to Center Deep Boltzmann Machines", JMLR 17 (2016).
Hinton, "Training products of experts by minimizing contrastive divergence", Neural
Computation 14 (2002). Nair & Hinton, "Rectified linear units improve restricted Boltzmann
machines", ICML 2010.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["HIDDEN_UNITS", "OFFSET_TYPES", "RBM", "VISIBLE_UNITS"]

VISIBLE_UNITS = ("binary", "gaussian", "rectified")
HIDDEN_UNITS = ("binary", "rectified")
# First letter: visible offsets, second: hidden offsets. D = data mean, M = model mean,
# A = average of both, 0 = zero.
OFFSET_TYPES = tuple(a + b for a in "ADM0" for b in "ADM0")

_LOG_2PI = math.log(2.0 * math.pi)
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
        :class:`~skdeepclust.nn.rbm_training.RBMUpdater` freezes the constant features.
    sigma_min, sigma_max : buffers of shape (n_visible,)
        Gaussian visibles: the range a learned sigma is kept in.

    Examples
    --------
    >>> import torch
    >>> from skdeepclust.nn.rbm import RBM
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
        weights, which :class:`~skdeepclust.nn.rbm_training.RBMUpdater` keeps at zero,
        and a sigma of ``1e-3`` times the median standard deviation of the other features
        (1e-3 when all are constant): its density is a narrow Gaussian at the constant,
        finite everywhere. ``feature_scale`` records each feature's standard deviation,
        ``sigma_min`` / ``sigma_max`` the range of a learned sigma (0.05 and 100 times it).
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
