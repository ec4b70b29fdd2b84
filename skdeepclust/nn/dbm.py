r"""Centered deep Boltzmann machine (binary hidden layers, binary or Gaussian visibles).

Layers :math:`x_0` (visible), :math:`x_1, \dots, x_L` (binary hidden) are connected in a
chain. With centering offsets :math:`\mu_l` the energy is

.. math::

    E(x) = E_v(x_0) - \sum_{l \ge 1} (x_l - \mu_l)^\top b_l
           - \sum_{l=0}^{L-1} s_l(x_l)^\top W_l (x_{l+1} - \mu_{l+1}),

with :math:`s_l(x_l) = x_l - \mu_l`, except for Gaussian visibles where
:math:`s_0(x_0) = (x_0 - \mu_0) / \sigma^2` and
:math:`E_v(x_0) = \tfrac12 \lVert (x_0 - \mu_0 - b_0) / \sigma \rVert^2` (binary visibles:
:math:`E_v(x_0) = -(x_0 - \mu_0)^\top b_0`), the conventions of
:class:`~skdeepclust.nn.rbm.RBM`. Zero offsets give the ordinary ("normal") DBM.

The layers split into the even ones (:math:`x_0, x_2, \dots`) and the odd ones; given one
set the other is a product of independent units. That is what everything here uses:

* block Gibbs sampling alternates odd and even layers;
* :func:`log_partition_exact` enumerates every state of the odd (binary) layers and sums
  (or, for Gaussian visibles, integrates) the even layers out analytically;
* :func:`annealed_importance_sampling` runs on the even layers with the odd ones summed
  out, from a base model of independent visibles and uniform hidden units (Salakhutdinov &
  Hinton 2009) to the model;
* :meth:`DBM.mean_field` and :meth:`DBM.lower_bound` give the factorised posterior
  :math:`q(h \mid x)` and the variational bound :math:`\log p(x) \ge E_q[-E(x, h)] + H(q)
  - \log Z`.

:func:`pretrain_step` is one CD-1 update of the layer-wise pretraining RBMs with the
doubled weights of Salakhutdinov & Hinton (2009), :class:`DBMUpdater` the centered PCD
update with a mean-field positive phase (Melchior, Fischer & Wiskott 2016).

References
----------
Salakhutdinov & Hinton, "Deep Boltzmann machines", AISTATS 2009. Salakhutdinov & Hinton,
"An efficient learning procedure for deep Boltzmann machines", Neural Computation 24
(2012). Melchior, Fischer & Wiskott, "How to center deep Boltzmann machines", JMLR 17
(2016).
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import Tensor, nn
from torch.nn.functional import softplus

from .partition import MAX_EXACT_UNITS, PartitionEstimate, _binary_codes, _estimate
from .rbm import _CONSTANT_SIGMA, _bernoulli, constant_features
from .sampling import make_betas

__all__ = [
    "DBM",
    "DBMUpdater",
    "annealed_importance_sampling",
    "compose_pretrained",
    "log_partition_exact",
    "pretrain_factors",
    "pretrain_step",
    "temperatures_to_bracket",
]

_LOG_2PI = math.log(2.0 * math.pi)
_LOG_2 = math.log(2.0)


class DBM(nn.Module):
    r"""Centered deep Boltzmann machine (pure torch).

    Parameters
    ----------
    sizes : sequence of int
        Units of every layer, visible first: ``(n_visible, h_1, ..., h_L)``. A single
        hidden layer (``L = 1``) is an RBM, used for the pretraining layers.
    visible : {"binary", "gaussian"}, default="binary"
        Visible units; hidden units are binary.
    dtype, device : torch dtype and device of the parameters.

    Attributes
    ----------
    weights : ParameterList of L tensors of shape (sizes[l], sizes[l + 1])
    biases : ParameterList of L + 1 tensors of shape (sizes[l],)
    offsets : list of L + 1 buffers (``offset0``, ...)
        Centering offsets :math:`\mu_l`.
    sigma : buffer of shape (n_visible,)
        Gaussian visibles: standard deviations (fixed at the data's).
    base_bias : buffer of shape (n_visible,)
        Binary visibles: logits of the independent base model of AIS.
    base_mean, base_std : buffers of shape (n_visible,)
        Gaussian visibles: the independent Gaussian base model of AIS.
    trainable : buffer of shape (n_visible,)
        Gaussian visibles: 0 for constant features, whose weights stay zero.

    Examples
    --------
    >>> import torch
    >>> from skdeepclust.nn.dbm import DBM
    >>> dbm = DBM((6, 4, 2), dtype=torch.float64)
    >>> dbm = dbm.initialize(generator=torch.Generator().manual_seed(0))
    >>> [m.shape for m in dbm.mean_field(torch.ones(3, 6), 5)]
    [torch.Size([3, 6]), torch.Size([3, 4]), torch.Size([3, 2])]
    """

    def __init__(self, sizes, *, visible: str = "binary", dtype: torch.dtype | None = None,
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        assert visible in ("binary", "gaussian"), "'visible' should be binary or gaussian."
        sizes = tuple(int(s) for s in sizes)
        assert len(sizes) >= 2 and min(sizes) >= 1
        self.sizes = sizes
        self.visible = visible
        kw = {"dtype": dtype, "device": device}
        self.weights = nn.ParameterList(
            [nn.Parameter(torch.zeros(a, b, **kw)) for a, b in itertools.pairwise(sizes)])
        self.biases = nn.ParameterList([nn.Parameter(torch.zeros(n, **kw)) for n in sizes])
        for i, n in enumerate(sizes):
            self.register_buffer(f"offset{i}", torch.zeros(n, **kw))
        nv = sizes[0]
        if self.gaussian:
            self.register_buffer("sigma", torch.ones(nv, **kw))
            self.register_buffer("base_mean", torch.zeros(nv, **kw))
            self.register_buffer("base_std", torch.ones(nv, **kw))
            self.register_buffer("trainable", torch.ones(nv, **kw))
        else:
            self.register_buffer("base_bias", torch.zeros(nv, **kw))

    def extra_repr(self) -> str:
        return f"sizes={self.sizes}, visible={self.visible!r}"

    # ------------------------------------------------------------------ properties
    @property
    def gaussian(self) -> bool:
        return self.visible == "gaussian"

    @property
    def n_layers(self) -> int:
        """Number of layers, the visible one included."""
        return len(self.sizes)

    @property
    def offsets(self) -> list[Tensor]:
        return [getattr(self, f"offset{i}") for i in range(self.n_layers)]

    @property
    def odd_units(self) -> int:
        """Units in the odd layers (what exact enumeration runs over)."""
        return sum(self.sizes[1::2])

    def _kw(self) -> dict:
        w = self.weights[0]
        return {"dtype": w.dtype, "device": w.device}

    # ------------------------------------------------------------------ initialisation
    @torch.no_grad()
    def initialize(self, data: Tensor | None = None, *, generator=None,
                   weight_scale: float = 0.01, centered: bool = True) -> DBM:
        """PyDeep's DBM initialisation from (optional) training data.

        Weights ~ N(0, weight_scale^2) (Gaussian visibles: rows times the feature's
        standard deviation); the uncentered visible bias makes p(x | h = 0) match the data
        mean, hidden biases are zero; then, when ``centered``, the offsets move to the
        data mean (visible) and 0.5 (hidden) with the biases reparameterised so that the
        distribution does not change. Gaussian visibles get sigma = the data's standard
        deviation (constant features: ``1e-3`` times the median of the others, zero
        weights, frozen). The AIS base model gets the data mean (and std).
        """
        kw = self._kw()
        nv = self.sizes[0]
        for W in self.weights:  # drawn in float64: the same start in float32 and float64
            w = torch.randn(W.shape, generator=generator, dtype=torch.float64,
                            device=kw["device"])
            W.copy_(weight_scale * w)
        for b in self.biases:
            b.zero_()
        for mu in self.offsets:
            mu.zero_()
        if data is not None:
            mean = data.mean(0)
            std = (data.std(0, unbiased=False) if self.gaussian and data.shape[0] > 1
                   else torch.zeros_like(mean))
        else:
            mean = torch.full((nv,), 0.0 if self.gaussian else 0.5, **kw)
            std = torch.ones(nv, **kw)
        if self.gaussian:
            const = constant_features(mean, std) if data is not None else torch.zeros_like(
                mean, dtype=torch.bool)
            varying = std[~const]
            floor = _CONSTANT_SIGMA * (float(varying.median()) if varying.numel() else 1.0)
            safe = torch.where(const, torch.full_like(std, floor), std)
            self.sigma.copy_(safe)
            self.trainable.copy_((~const).to(std.dtype))
            self.weights[0].mul_((std * self.trainable).unsqueeze(1))
            self.biases[0].copy_(mean)  # uncentered: E[x | h = 0] = b
            self.base_mean.copy_(mean)
            self.base_std.copy_(safe)
        else:
            p = mean.clamp(1e-3, 1.0 - 1e-3)
            logit = torch.log(p) - torch.log1p(-p)
            self.biases[0].copy_(logit)
            self.base_bias.copy_(logit)
        if centered:
            self.update_offsets([mean] + [torch.full((n,), 0.5, **kw) for n in self.sizes[1:]],
                                1.0)
        return self

    @torch.no_grad()
    def update_offsets(self, targets, rate: float) -> None:
        """Move the offsets ``rate`` of the way to ``targets`` (a list, None entries are
        skipped) and reparameterise the biases: the distribution does not change.

        ``b_{l+1} += s(mu_l' - mu_l) W_l`` and ``b_{l-1} += W_{l-1} (mu_l' - mu_l)``; for
        Gaussian visibles also ``b_0 -= mu_0' - mu_0``. ``update_offsets([0, ...], 1)``
        turns a centered DBM into a normal one.
        """
        if not rate:
            return
        for i, (mu, t) in enumerate(zip(self.offsets, targets)):
            if t is None:
                continue
            delta = rate * (t - mu)
            if i + 1 < self.n_layers:  # the layer above sees s(x_i) W_i
                d = delta / self.sigma**2 if (i == 0 and self.gaussian) else delta
                self.biases[i + 1].add_(d @ self.weights[i])
            if i > 0:  # the layer below sees W_{i-1} (x_i - mu_i)
                self.biases[i - 1].add_(self.weights[i - 1] @ delta)
            if i == 0 and self.gaussian:
                self.biases[0].sub_(delta)
            mu.add_(delta)

    # ------------------------------------------------------------------ conditionals
    def _input(self, i: int, x: Tensor) -> Tensor:
        """s_i(x_i): the centered (Gaussian visibles: variance-scaled) input of layer i."""
        s = x - self.offsets[i]
        return s / self.sigma**2 if (i == 0 and self.gaussian) else s

    def activation(self, i: int, states, *, up: float = 1.0, down: float = 1.0,
                   from_below: Tensor | None = None) -> Tensor:
        """Pre-activation of layer ``i`` given its neighbours in ``states`` (a list of the
        layers' states or means; entry ``i`` is not read).

        ``b_i + up * s_{i-1}(x_{i-1}) W_{i-1} + down * W_i (x_{i+1} - mu_{i+1})``; the
        factors are 1 except in the doubled-weight pretraining RBMs. ``from_below`` is
        ``s_{i-1}(x_{i-1}) W_{i-1}`` when already known (a clamped layer below: mean-field
        sweeps compute it once).
        """
        a = self.biases[i]
        if i > 0:
            if from_below is None:
                from_below = self._input(i - 1, states[i - 1]) @ self.weights[i - 1]
            a = a + up * from_below
        if i + 1 < self.n_layers:
            a = a + down * ((states[i + 1] - self.offsets[i + 1]) @ self.weights[i].T)
        return a

    def _visible_params(self, a: Tensor, beta):
        """Visible mean (binary: probability) at inverse temperature beta, and for
        Gaussian visibles the standard deviation."""
        if not self.gaussian:
            logits = a if beta is None else beta * a + (1.0 - beta) * self.base_bias
            return torch.sigmoid(logits), None
        mean = self.offsets[0] + a
        if beta is None:
            return mean, self.sigma.expand_as(mean)
        var, var0 = self.sigma**2, self.base_std**2
        precision = beta / var + (1.0 - beta) / var0
        mean = (beta * mean / var + (1.0 - beta) * self.base_mean / var0) / precision
        return mean, precision.rsqrt().expand_as(mean)

    def mean(self, i: int, states, beta=None, **factors) -> Tensor:
        """E[x_i | neighbours] at inverse temperature ``beta`` (None: 1)."""
        a = self.activation(i, states, **factors)
        if i == 0:
            return self._visible_params(a, beta)[0]
        return torch.sigmoid(a if beta is None else beta * a)

    def sample(self, i: int, states, beta=None, generator=None, **factors) -> Tensor:
        """Draw x_i ~ p(x_i | neighbours) at inverse temperature ``beta``."""
        a = self.activation(i, states, **factors)
        if i == 0:
            m, s = self._visible_params(a, beta)
            if s is None:
                return _bernoulli(m, generator)
            return m + s * torch.randn(m.shape, generator=generator, dtype=m.dtype,
                                       device=m.device)
        return _bernoulli(torch.sigmoid(a if beta is None else beta * a), generator)

    def gibbs(self, states: list[Tensor], k: int = 1, beta=None, generator=None, *,
              clamp_visible: bool = False) -> list[Tensor]:
        """``k`` block-Gibbs sweeps (odd layers, then even layers) of ``states`` in place.

        The visible layer is not resampled with ``clamp_visible``.
        """
        for _ in range(int(k)):
            for i in range(1, self.n_layers, 2):
                states[i] = self.sample(i, states, beta, generator)
            for i in range(2 if clamp_visible else 0, self.n_layers, 2):
                states[i] = self.sample(i, states, beta, generator)
        return states

    def initial_states(self, n: int, generator=None) -> list[Tensor]:
        """Chain starts: visible base-model samples and uniform binary hidden layers."""
        kw = self._kw()
        states = [self.sample_base(n, generator)]
        for size in self.sizes[1:]:
            states.append(_bernoulli(torch.full((n, size), 0.5, **kw), generator))
        return states

    # ------------------------------------------------------------------ mean field
    def mean_field(self, v: Tensor, n_iter: int, init: list[Tensor] | None = None
                   ) -> list[Tensor]:
        """Factorised posterior q(h | v): the means ``[v, m_1, ..., m_L]``.

        Starts with the hidden means at the offsets (0.5 for a layer whose offsets are
        all zero, i.e. a normal DBM) or at ``init``, then runs ``n_iter`` sweeps of the
        fixed-point equations, odd layers then even layers: block coordinate ascent on
        :meth:`lower_bound`, which never decreases.
        """
        n = v.shape[0]
        if init is None:
            means = [v]
            for mu in self.offsets[1:]:
                start = mu if bool((mu != 0).any()) else torch.full_like(mu, 0.5)
                means.append(start.expand(n, -1))
        else:
            means = [v, *init[1:]]
        # the clamped visible layer's input to layer 1 is the same in every sweep
        bottom = self._input(0, v) @ self.weights[0] if n_iter else None
        for _ in range(int(n_iter)):
            for parity in (1, 2):
                for i in range(parity, self.n_layers, 2):
                    means[i] = torch.sigmoid(self.activation(
                        i, means, from_below=bottom if i == 1 else None))
        return means

    def _visible_term(self, v: Tensor) -> Tensor:
        """-E_v(v) per sample."""
        c = v - self.offsets[0]
        if self.gaussian:
            z = (c - self.biases[0]) / self.sigma
            return -0.5 * (z * z).sum(-1)
        return (c * self.biases[0]).sum(-1)

    def negative_energy(self, states) -> Tensor:
        """-E(x) of full states (or the expectation under a factorised q of means)."""
        out = self._visible_term(states[0])
        for i in range(1, self.n_layers):
            out = out + ((states[i] - self.offsets[i]) * self.biases[i]).sum(-1)
        for i in range(self.n_layers - 1):
            s = self._input(i, states[i]) @ self.weights[i]
            out = out + (s * (states[i + 1] - self.offsets[i + 1])).sum(-1)
        return out

    def lower_bound(self, v: Tensor, means: list[Tensor] | None = None,
                    n_iter: int = 50) -> Tensor:
        """E_q[-E(v, h)] + H(q), per sample: ``log p(v) >= lower_bound(v) - log Z``.

        ``means`` is a mean-field posterior of ``v`` (default ``mean_field(v, n_iter)``).
        """
        if means is None:
            means = self.mean_field(v, n_iter)
        out = self.negative_energy(means)
        for m in means[1:]:
            ent = -(torch.special.xlogy(m, m) + torch.special.xlogy(1.0 - m, 1.0 - m))
            out = out + ent.sum(-1)
        return out

    # ------------------------------------------------------------------ partition
    def _base_term(self, v: Tensor) -> Tensor:
        if self.gaussian:
            z = (v - self.base_mean) / self.base_std
            return -0.5 * (z * z).sum(-1)
        return (v * self.base_bias).sum(-1)

    def base_log_partition(self) -> Tensor:
        """log Z of the beta = 0 model (independent visibles, uniform binary hiddens)."""
        hid = sum(self.sizes[1:]) * _LOG_2
        if self.gaussian:
            return hid + 0.5 * self.sizes[0] * _LOG_2PI + torch.log(self.base_std).sum()
        return hid + softplus(self.base_bias).sum()

    def sample_base(self, n: int, generator=None) -> Tensor:
        """Exact visible samples of the base model."""
        kw = self._kw()
        if self.gaussian:
            eps = torch.randn((n, self.sizes[0]), generator=generator, **kw)
            return self.base_mean + self.base_std * eps
        p = torch.sigmoid(self.base_bias).expand(n, self.sizes[0]).contiguous()
        return _bernoulli(p, generator)

    def log_unnormalized_even(self, states, beta=None) -> Tensor:
        r"""log p*_beta of the even layers with the odd layers summed out, per sample.

        ``beta * T(x) + (1 - beta) * base(x_0) + sum_odd [softplus(beta a) - beta mu a]``
        with ``T`` the even layers' own terms; the odd entries of ``states`` are not read.
        """
        return self._log_even_at(self._even_parts(states, beta is not None), beta)

    def _even_parts(self, states, base: bool = True):
        """What ``log_unnormalized_even`` needs at any beta: the even layers' own terms,
        the base model's term (when ``base``) and the odd layers' activations."""
        own = self._visible_term(states[0])
        for i in range(2, self.n_layers, 2):
            own = own + ((states[i] - self.offsets[i]) * self.biases[i]).sum(-1)
        acts = [self.activation(i, states) for i in range(1, self.n_layers, 2)]
        return own, self._base_term(states[0]) if base else None, acts

    def _log_even_at(self, parts, beta=None) -> Tensor:
        own, base, acts = parts
        b = 1.0 if beta is None else beta
        out = b * own
        if beta is not None:
            out = out + (1.0 - b) * base
        for i, a in zip(range(1, self.n_layers, 2), acts):
            ba = b * a
            out = out + (softplus(ba) - self.offsets[i] * ba).sum(-1)
        return out

    def log_unnormalized_odd(self, states) -> Tensor:
        """log p* of the odd layers with the even layers summed (integrated) out, per
        sample at beta = 1; the even entries of ``states`` are not read."""
        out = 0.0
        for i in range(1, self.n_layers, 2):
            out = out + ((states[i] - self.offsets[i]) * self.biases[i]).sum(-1)
        for i in range(0, self.n_layers, 2):
            a = self.activation(i, states)
            if i == 0 and self.gaussian:
                b, s = self.biases[0], self.sigma
                out = out + (0.5 * (a * a - b * b) / (s * s)).sum(-1)
                out = out + 0.5 * self.sizes[0] * _LOG_2PI + torch.log(s).sum()
            else:
                out = out + (softplus(a) - self.offsets[i] * a).sum(-1)
        return out


def log_partition_exact(model: DBM, *, max_units: int = MAX_EXACT_UNITS) -> Tensor:
    """Exact log Z: every state of the odd (binary) layers, the even ones summed out.

    Refuses (``ValueError``) more than ``2**max_units`` states. The cost is
    ``2**odd_units`` times the layers' activations.
    """
    n = model.odd_units
    if n > max_units:
        raise ValueError(
            f"The exact partition function enumerates all 2**{n} states of the {n} units "
            f"in the odd hidden layers; that is only feasible up to {max_units} units. Use "
            "method='ais' (annealed importance sampling) instead.")
    kw = model._kw()
    width = sum(model.sizes)
    step = 2 ** max(0, min(n, int(math.log2(max(1, 2**22 // width)))))
    parts = []
    for start in range(0, 2**n, step):
        codes = _binary_codes(start, min(start + step, 2**n), n, kw["dtype"], kw["device"])
        states, at = [None] * model.n_layers, 0
        for i in range(1, model.n_layers, 2):
            states[i] = codes[:, at:at + model.sizes[i]]
            at += model.sizes[i]
        parts.append(torch.logsumexp(model.log_unnormalized_odd(states), 0))
    return torch.logsumexp(torch.stack(parts), 0)


@torch.no_grad()
def annealed_importance_sampling(model: DBM, *, n_chains: int = 100, betas=10000, k: int = 1,
                                 generator: torch.Generator | None = None,
                                 verbose: int = 0) -> tuple[PartitionEstimate, Tensor]:
    """Estimate log Z by AIS on the even layers (odd layers summed out).

    Runs in the model's dtype (pass a float64 model). Returns the estimate with its
    -3 / +3 standard-error bounds, and the log importance weights (n_chains,).
    """
    b = make_betas(betas, dtype=model._kw()["dtype"], device=model._kw()["device"])
    states = model.initial_states(n_chains, generator)
    log_w = torch.zeros(n_chains, **model._kw())
    n = b.numel()
    bar = None
    if verbose:
        from tqdm.auto import tqdm

        bar = tqdm(total=n - 1, desc="AIS (log Z)", unit="beta", leave=verbose > 1,
                   miniters=max(1, n // 100))
    for t in range(1, n):
        if bar is not None:
            bar.update(1)
        parts = model._even_parts(states)  # shared by both temperatures
        log_w += model._log_even_at(parts, b[t]) - model._log_even_at(parts, b[t - 1])
        if t < n - 1:
            model.gibbs(states, k, b[t], generator)
    if bar is not None:
        bar.close()
    log_z0 = float(model.base_log_partition())
    m, lo, hi = _estimate(log_w)
    return PartitionEstimate(m + log_z0, lo + log_z0, hi + log_z0), log_w


def temperatures_to_bracket(log_w: Tensor, n_betas: int) -> int:
    """How many temperatures AIS needs for a finite lower bound, from its log weights.

    The bound ``log(mean - 3 se)`` is finite when the relative standard error of the
    weights is below 1/3. Reading the weights as log-normal, that asks for a variance of
    the log weights below ``log(1 + n_chains / 9)``; that variance falls about as
    ``1 / n_betas``, so the answer is ``n_betas`` times the ratio (at least doubled).
    """
    n = log_w.numel()
    var = float(log_w.var()) if n > 1 else float("inf")
    target = math.log1p(n / 9.0)
    if not math.isfinite(var):
        return 10 * int(n_betas)
    return max(2 * int(n_betas), math.ceil(n_betas * var / target))


# ---------------------------------------------------------------------- learning
class DBMUpdater:
    """Centered PCD update of a :class:`DBM` with a mean-field positive phase.

    ``W_l += lr (<s_l (x_{l+1} - mu_{l+1})>_data - <.>_model) - lr l2 W_l`` (Gaussian
    visibles: ``x_0 - mu_0`` instead of ``s_0``, the natural-gradient scaling of
    :class:`~skdeepclust.nn.rbm_training.RBMUpdater`), ``b_l += lr (<x_l>_data - <x_l>_model)``,
    with momentum; then the offsets move towards the data means of the positive phase at
    ``offset_rate``. The model statistics Rao-Blackwellise the even layers: after a sweep
    their means given the sampled odd layers are used.

    Parameters
    ----------
    model : DBM
    n_chains : int
        Persistent chains.
    learning_rate : float
    n_mean_field : int
        Mean-field sweeps of the positive phase.
    k : int
        Gibbs sweeps of the chains per update.
    momentum, l2 : float
    offset_rate : float
        0 keeps the offsets fixed (a normal DBM keeps zero offsets).
    """

    def __init__(self, model: DBM, n_chains: int, *, learning_rate: float = 0.01,
                 n_mean_field: int = 3, k: int = 1, momentum: float = 0.0, l2: float = 0.0,
                 offset_rate: float = 0.01) -> None:
        self.model = model
        self.n_chains = int(n_chains)
        self.learning_rate = float(learning_rate)
        self.n_mean_field = int(n_mean_field)
        self.k = int(k)
        self.momentum = float(momentum)
        self.l2 = float(l2)
        self.offset_rate = float(offset_rate)
        self.chains: list[Tensor] | None = None
        self.velocity: list[Tensor] | None = None

    @torch.no_grad()
    def step(self, v: Tensor, generator=None) -> list[Tensor]:
        """One update from the minibatch ``v``; returns its mean-field posterior (before
        the update)."""
        m = self.model
        if self.chains is None:
            self.chains = m.initial_states(self.n_chains, generator)
        pos = m.mean_field(v, self.n_mean_field)
        chains = m.gibbs(self.chains, self.k, None, generator)
        neg = list(chains)
        for i in range(0, m.n_layers, 2):  # Rao-Blackwellised even layers
            neg[i] = m.mean(i, chains)
        nd, nm = v.shape[0], chains[0].shape[0]
        grads = []
        for i in range(m.n_layers - 1):
            lo = [x - m.offsets[i] for x in (pos[i], neg[i])]
            if i == 0 and m.gaussian:
                lo = [x * m.trainable for x in lo]
            hi = [x - m.offsets[i + 1] for x in (pos[i + 1], neg[i + 1])]
            grads.append(lo[0].T @ hi[0] / nd - lo[1].T @ hi[1] / nm)
        for i in range(m.n_layers):
            grads.append(pos[i].mean(0) - neg[i].mean(0))
        params = [*m.weights, *m.biases]
        if self.velocity is None:
            self.velocity = [torch.zeros_like(p) for p in params]
        lr = self.learning_rate
        for p, g, vel in zip(params, grads, self.velocity):
            if self.l2 and p.ndim == 2:
                g = g.sub_(p, alpha=self.l2)
            if self.momentum:
                vel.mul_(self.momentum).add_(g, alpha=lr)
                p.add_(vel)
            else:
                p.add_(g, alpha=lr)
        m.update_offsets([x.mean(0) for x in pos], self.offset_rate)
        return pos


@torch.no_grad()
def pretrain_step(model: DBM, v: Tensor, *, up: float, down: float, learning_rate: float,
                  offset_rate: float, generator=None, k: int = 1, momentum: float = 0.0,
                  l2: float = 0.0, velocity: list[Tensor] | None = None) -> Tensor:
    """One CD-k update of a one-hidden-layer :class:`DBM` (an RBM) whose hidden units
    read the visibles through ``up * W`` and whose visibles read the hiddens through
    ``down * W``: the doubled-weight RBMs of DBM pretraining (Salakhutdinov & Hinton
    2009). Returns the hidden means of ``v`` (before the update).

    ``k`` Gibbs sweeps start at the data; ``l2`` is weight decay on ``W``; with
    ``momentum`` the step goes through ``velocity`` (the caller's zero-initialised
    tensors shaped as ``W``, ``b_v``, ``b_h``, updated in place:
    ``velocity = momentum * velocity + learning_rate * gradient``).
    """
    assert model.n_layers == 2
    assert not momentum or velocity is not None, "momentum needs the velocity tensors"
    p_pos = model.mean(1, [v, None], up=up)
    p_neg = p_pos
    for _ in range(int(k)):
        h = _bernoulli(p_neg, generator)
        v_neg = model.mean(0, [None, h], down=down)
        if model.visible == "binary":
            v_neg = _bernoulli(v_neg, generator)
        else:
            v_neg = v_neg + model.sigma * torch.randn(v_neg.shape, generator=generator,
                                                      dtype=v_neg.dtype, device=v_neg.device)
        p_neg = model.mean(1, [v_neg, None], up=up)
    mu, lam = model.offsets
    lo_pos, lo_neg = v - mu, v_neg - mu
    if model.gaussian:
        lo_pos, lo_neg = lo_pos * model.trainable, lo_neg * model.trainable
    n = v.shape[0]
    W = model.weights[0]
    grads = [(lo_pos.T @ (p_pos - lam) - lo_neg.T @ (p_neg - lam)) / n,
             v.mean(0) - v_neg.mean(0), p_pos.mean(0) - p_neg.mean(0)]
    if l2:
        grads[0] = grads[0].sub_(W, alpha=l2)
    params = (W, model.biases[0], model.biases[1])
    for i, (p, g) in enumerate(zip(params, grads)):
        if momentum:
            velocity[i].mul_(momentum).add_(g, alpha=learning_rate)
            p.add_(velocity[i])
        else:
            p.add_(g, alpha=learning_rate)
    model.update_offsets([v.mean(0), p_pos.mean(0)], offset_rate)
    return p_pos


def pretrain_factors(i: int, n_hidden_layers: int) -> tuple[float, float]:
    """(up, down) weight factors of pretraining RBM ``i`` of ``n_hidden_layers`` (bottom
    is 0): the bottom RBM doubles its input from the data, the top one its input from
    above, the middle ones neither."""
    up = 2.0 if i == 0 else 1.0
    down = 2.0 if i == n_hidden_layers - 1 else 1.0
    return up, down


@torch.no_grad()
def compose_pretrained(rbms: list[DBM]) -> DBM:
    """A normal (zero-offset) DBM from the doubled-weight pretraining RBMs, bottom first.

    Each RBM's up and down passes are written without offsets; a hidden layer between two
    RBMs takes half of each input (its bias is the mean of the two uncentered biases), the
    bottom and top weights are kept and the middle ones halved (Salakhutdinov & Hinton
    2012), so that every unit of the DBM sees about the input it saw in pretraining.
    """
    L = len(rbms)
    assert L >= 2
    first = rbms[0]
    sizes = (first.sizes[0], *(r.sizes[1] for r in rbms))
    kw = first._kw()
    dbm = DBM(sizes, visible=first.visible, **kw)
    up_bias, down_bias = [], []  # uncentered input biases of each RBM's hidden / visible
    for i, r in enumerate(rbms):
        up, down = pretrain_factors(i, L)
        W = r.weights[0]
        mu, lam = r.offsets
        s_mu = mu / r.sigma**2 if r.gaussian else mu
        up_bias.append(r.biases[1] - up * (s_mu @ W))
        vis = r.biases[0] - down * (W @ lam)
        down_bias.append(vis + mu if r.gaussian else vis)
        dbm.weights[i].copy_(W if i in (0, L - 1) else 0.5 * W)
    dbm.biases[0].copy_(down_bias[0])
    for layer in range(1, L):
        dbm.biases[layer].copy_(0.5 * (up_bias[layer - 1] + down_bias[layer]))
    dbm.biases[L].copy_(up_bias[L - 1])
    if first.gaussian:
        for name in ("sigma", "base_mean", "base_std", "trainable"):
            getattr(dbm, name).copy_(getattr(first, name))
    else:
        dbm.base_bias.copy_(first.base_bias)
    return dbm
