r"""Deep generative decoder (DGD): per-sample representations, an MLP decoder, output laws.

There is no encoder: every training sample :math:`x_i` owns a free representation
:math:`z_i` (:class:`RepresentationLayer`), found jointly with the decoder by MAP
estimation under a Gaussian-mixture prior (:mod:`skdeepclust.nn.mixture`). The decoder maps
:math:`z` to the parameters of an output distribution :math:`p(x \mid z)`:

=====================  ==============================================  ==========================
name                   law (per feature)                               learned besides the MLP
=====================  ==============================================  ==========================
``gaussian``           :math:`\mathcal{N}(m, s^2)`                     one scale :math:`s` per feature
``bernoulli``          :math:`\mathrm{Bernoulli}(\sigma(a))`           --
``poisson``            :math:`\mathrm{Poisson}(\mu)`                   --
``negative_binomial``  :math:`\mathrm{NB}(\mu, r)` (mean, dispersion)  one :math:`r` per feature
=====================  ==============================================  ==========================

For the count laws the mean is :math:`\mu_{ij} = l_i\,\mathrm{softmax}(a_i)_j` when a
per-sample library size :math:`l_i` (usually the row's total count) is given, as in scVI and
scDGD, and :math:`\mu_{ij} = \exp(a_{ij})` otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .autoencoder import MLP

__all__ = [
    "OUTPUT_DISTRIBUTIONS",
    "BernoulliOutput",
    "DGDModel",
    "DeepGenerativeDecoder",
    "GaussianOutput",
    "NegativeBinomialOutput",
    "OutputDistribution",
    "PoissonOutput",
    "RecentRowsAdam",
    "RepresentationLayer",
    "RowAdam",
    "sample_gamma",
]

_LOG_2PI = math.log(2.0 * math.pi)


class RepresentationLayer(nn.Module):
    """A learnable representation per sample.

    Parameters
    ----------
    n_samples : int
    dim : int
    init : Tensor of shape (n_samples, dim), default=None
        Initial values (copied); ``None`` starts every representation at the origin.

    Examples
    --------
    >>> import torch
    >>> from skdeepclust.nn.dgd import RepresentationLayer
    >>> rep = RepresentationLayer(5, 2)
    >>> rep(torch.tensor([0, 3])).shape
    torch.Size([2, 2])
    """

    def __init__(self, n_samples: int, dim: int, init: Tensor | None = None) -> None:
        super().__init__()
        if init is None:
            init = torch.zeros(n_samples, dim)
        if tuple(init.shape) != (n_samples, dim):
            raise ValueError(
                f"init has shape {tuple(init.shape)}; expected ({n_samples}, {dim})."
            )
        self.z = nn.Parameter(init.detach().clone())

    def forward(self, idx: Tensor | None = None) -> Tensor:
        """The representations of rows ``idx`` (all rows when ``None``)."""
        return self.z if idx is None else self.z[idx]

    def extra_repr(self) -> str:
        return f"n_samples={self.z.shape[0]}, dim={self.z.shape[1]}"


class RowAdam:
    r"""Adam on the rows of a matrix, updating only the rows that received a gradient.

    Each row keeps its own moments and its own step count, so the update of a row is
    exactly what :class:`torch.optim.Adam` (no weight decay, no AMSGrad) would give on
    that row alone, fed the sequence of gradients the row received; a step costs
    O(rows stepped x columns), whatever the number of rows. This is the "lazy" Adam for
    per-sample representations: a minibatch step moves the minibatch's rows only.

    It differs from dense Adam over the whole matrix, where a row absent from a minibatch
    has a zero gradient: there its moments decay and it keeps moving with its momentum
    (by about :math:`1 / (1 - \beta_1/\sqrt{\beta_2})` times its in-batch step in all,
    2.5 at betas (0.5, 0.7)), and the bias correction follows the global step count. Here
    a row absent from the minibatch neither moves nor decays.

    Parameters
    ----------
    param : Tensor of shape (n_rows, dim)
        Updated in place (under ``torch.no_grad``).
    lr : float
    betas : tuple of float, default=(0.9, 0.999)
    eps : float, default=1e-8

    Examples
    --------
    >>> import torch
    >>> from skdeepclust.nn.dgd import RowAdam
    >>> z = torch.zeros(4, 2)
    >>> opt = RowAdam(z, lr=0.1)
    >>> opt.step(torch.tensor([1, 3]), torch.ones(2, 2))
    >>> z[:, 0]
    tensor([ 0.0000, -0.1000,  0.0000, -0.1000])
    """

    def __init__(self, param: Tensor, lr: float, betas=(0.9, 0.999), eps: float = 1e-8) -> None:
        if param.dim() != 2:
            raise ValueError(f"RowAdam updates a matrix; got shape {tuple(param.shape)}.")
        self.param = param
        self.lr = float(lr)
        self.beta1, self.beta2 = (float(b) for b in betas)
        self.eps = float(eps)
        self.exp_avg = torch.zeros_like(param)
        self.exp_avg_sq = torch.zeros_like(param)
        self.steps = torch.zeros(param.shape[0], dtype=param.dtype, device=param.device)

    @torch.no_grad()
    def step(self, rows: Tensor, grad: Tensor) -> None:
        """One Adam step of ``param[rows]`` with gradient ``grad`` (rows must be distinct)."""
        grad = grad.to(self.param.dtype)
        m = self.exp_avg[rows].mul_(self.beta1).add_(grad, alpha=1.0 - self.beta1)
        v = self.exp_avg_sq[rows].mul_(self.beta2).addcmul_(grad, grad, value=1.0 - self.beta2)
        t = self.steps[rows].add_(1.0)
        self.exp_avg[rows] = m
        self.exp_avg_sq[rows] = v
        self.steps[rows] = t
        bias1 = 1.0 - torch.pow(self.beta1, t)
        bias2_sqrt = torch.sqrt(1.0 - torch.pow(self.beta2, t))
        denom = v.sqrt().div_(bias2_sqrt[:, None]).add_(self.eps)
        update = m.div_(denom).mul_((self.lr / bias1)[:, None])
        self.param.index_add_(0, rows, update, alpha=-1.0)



def adam_window(betas, dtype: torch.dtype) -> int | None:
    r"""Steps after which dense Adam no longer moves a row that stopped receiving gradients.

    With a zero gradient a row's Adam moments decay (:math:`m \leftarrow \beta_1 m`,
    :math:`v \leftarrow \beta_2 v`), so its step shrinks by at least
    :math:`r = \beta_1 / \sqrt{\beta_2}` per optimizer step. After ``w`` steps all the
    steps still to come sum to at most :math:`r^w / (1 - r)` times its last own step; ``w``
    is the first count at which that is below the dtype's machine epsilon, the rounding
    error of one step. ``None`` when :math:`r \ge 1` (the steps never shrink).
    """
    beta1, beta2 = (float(b) for b in betas)
    if beta1 == 0.0:
        return 1
    ratio = beta1 / math.sqrt(beta2) if beta2 > 0 else math.inf
    if ratio >= 1.0:
        return None
    eps = torch.finfo(dtype).eps
    return max(1, math.ceil(math.log(eps * (1.0 - ratio)) / math.log(ratio)))


class RecentRowsAdam:
    r"""Dense Adam on a matrix whose rows receive sparse gradients, at O(recent rows) a step.

    :class:`torch.optim.Adam` over all rows of the matrix (no weight decay, no AMSGrad),
    fed a gradient that is zero outside the rows ``step`` receives, except that a row
    stops stepping ``window`` steps after its last gradient: until then its zero-gradient
    steps (momentum) are taken exactly as dense Adam takes them, with the global step
    count in the bias corrections; after that they are below rounding (see
    :func:`adam_window`) and skipped. The moments of a skipped row are decayed by the
    skipped steps (:math:`\beta^k`) when it receives a gradient again. When every row
    receives a gradient at least every ``window`` steps it is dense Adam, step for step.

    The recent rows live in a ring of ``window`` slots of ``batch_size`` rows (their
    values and moments, contiguous): a step writes the oldest slot's rows back to the
    matrix, reads its own rows into that slot and runs Adam over the ring, so that it
    costs O(``batch_size``) random row accesses and O(``window x batch_size``) contiguous
    work, whatever the number of rows. :meth:`rows` reads current rows; all of ``param``
    is current after :meth:`flush`; after changing ``param``, call :meth:`reload`.

    Parameters
    ----------
    param : Tensor of shape (n_rows, dim)
        Updated in place (under ``torch.no_grad``).
    lr : float
    betas : tuple of float, default=(0.9, 0.999)
    eps : float, default=1e-8
    window : int, default=None
        ``None``: :func:`adam_window` for ``betas`` and the dtype of ``param``.
    batch_size : int, default=128
        The most rows one step receives.

    Examples
    --------
    >>> import torch
    >>> from skdeepclust.nn.dgd import RecentRowsAdam
    >>> z = torch.zeros(4, 2)
    >>> opt = RecentRowsAdam(z, lr=0.1, betas=(0.5, 0.7), window=2, batch_size=1)
    >>> opt.step(torch.tensor([1]), torch.ones(1, 2))
    >>> opt.step(torch.tensor([2]), torch.ones(1, 2))  # row 1 moves on (momentum)
    >>> opt.flush()
    >>> z[:, 0]
    tensor([ 0.0000, -0.1519, -0.0869,  0.0000])
    >>> opt.step(torch.tensor([3]), torch.ones(1, 2))  # row 1 is out of the window
    >>> opt.flush()
    >>> z[:, 0]
    tensor([ 0.0000, -0.1519, -0.1375, -0.0846])
    """

    def __init__(self, param: Tensor, lr: float, betas=(0.9, 0.999), eps: float = 1e-8,
                 window: int | None = None, batch_size: int = 128) -> None:
        if param.dim() != 2:
            raise ValueError(
                f"RecentRowsAdam updates a matrix; got shape {tuple(param.shape)}."
            )
        if window is None:
            window = adam_window(betas, param.dtype)
        if window is None or window < 1:
            raise ValueError(
                f"RecentRowsAdam needs a window of at least one step; got {window} (betas "
                f"{tuple(betas)} never let a row's steps decay: use dense Adam)."
            )
        self.param = param
        self.lr = float(lr)
        self.beta1, self.beta2 = (float(b) for b in betas)
        self.eps = float(eps)
        self.window = w = int(window)
        self.batch_size = b = int(batch_size)
        n, dim = param.shape
        device, dtype = param.device, param.dtype
        self._t = 0
        # each row's value and moments side by side (one random access reads all three);
        # current for the rows outside the ring
        self._state = torch.zeros((n, 3, dim), dtype=dtype, device=device)
        self._state[:, 0] = param
        # each row's last gradient step (long ago: never) and place in the ring; row n
        # stands for an empty place of the ring and matches no step
        self._meta = torch.zeros((n + 1, 2), dtype=torch.long, device=device)
        self._meta[:, 0] = -w - 1
        self._meta[n, 0] = -(2**62)
        # the ring: slot s (places s*b to s*b + b) holds the rows of a step t, s = t % w
        self._ring = torch.zeros((3, w * b, dim), dtype=dtype, device=device)  # z, m, v
        self._ring_grad = torch.zeros((w * b, dim), dtype=dtype, device=device)
        self._ring_rows = torch.full((w * b,), n, dtype=torch.long, device=device)
        self._ring_step = [-w - 1] * w
        self._offsets = torch.arange(b, device=device)
        self._betas = torch.tensor([1.0, self.beta1, self.beta2], dtype=dtype, device=device)
        self._read = None  # (rows, step, their state and meta) of the last rows() call
        # the global step count, a float32 tensor as torch's fused Adam keeps it
        self._state_step = torch.zeros((), dtype=torch.float32, device=device)
        self._fused = getattr(torch, "_fused_adam_", None)
        if device.type not in ("cpu", "cuda"):
            self._fused = None

    @property
    def steps(self) -> int:
        """Optimizer steps taken (the global count of dense Adam)."""
        return self._t

    @property
    def exp_avg(self) -> Tensor:
        """First moments, shape (n_rows, dim) (current after :meth:`flush`)."""
        return self._state[:, 1]

    @property
    def exp_avg_sq(self) -> Tensor:
        """Second moments, shape (n_rows, dim) (current after :meth:`flush`)."""
        return self._state[:, 2]

    def _live(self) -> tuple[Tensor, Tensor]:
        """Places in the ring that hold a row's current values, and those rows."""
        rows = self._ring_rows
        steps = torch.tensor(self._ring_step, device=rows.device)
        steps = steps.repeat_interleave(self.batch_size)
        places = (self._meta[:, 0].index_select(0, rows) == steps).nonzero().squeeze(1)
        return places, rows.index_select(0, places)

    def _gather(self, rows: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The state of ``rows`` as of the last step, and whether it is in the ring."""
        state = self._state.index_select(0, rows)
        meta = self._meta.index_select(0, rows)
        in_ring = meta[:, 0] > self._t - self.window
        return state, meta[:, 0], meta[:, 1], in_ring

    @torch.no_grad()
    def rows(self, rows: Tensor) -> Tensor:
        """The current values of ``param[rows]`` (a copy; those in the ring from there)."""
        read = self._gather(rows)
        self._read = (rows, self._t, read)  # the next step, on these rows, reuses it
        state, _, place, in_ring = read
        return torch.where(in_ring[:, None], self._ring[0].index_select(0, place), state[:, 0])

    @torch.no_grad()
    def flush(self) -> None:
        """Make ``param`` (and the moments) current: the ring's rows written back."""
        places, rows = self._live()
        self._state.index_copy_(0, rows, self._ring.index_select(1, places).transpose(0, 1))
        self.param.copy_(self._state[:, 0])

    @torch.no_grad()
    def reload(self) -> None:
        """Read ``param`` again (after it was changed in place)."""
        places, rows = self._live()
        self._state[:, 0] = self.param
        self._ring[0].index_copy_(0, places, self.param.index_select(0, rows))
        self._read = None

    @torch.no_grad()
    def step(self, rows: Tensor, grad: Tensor) -> None:
        """One dense Adam step with gradient ``grad`` on ``param[rows]`` (distinct rows)
        and zero elsewhere."""
        count, w, b = rows.shape[0], self.window, self.batch_size
        if count > b:
            raise ValueError(f"RecentRowsAdam steps at most batch_size={b} rows; got {count}.")
        read = self._read
        if read is None or read[0] is not rows or read[1] != self._t:
            read = (rows, self._t, self._gather(rows))
        self._read = None
        state, last, place, in_ring = read[2]
        t = self._t = self._t + 1
        start = (t % w) * b
        # this step's rows: their values and moments from the ring when they are in it
        # (read before their slot is reused), else from the state, the moments decayed
        # by the steps the rows skipped
        skipped = (t - w - last).clamp_min_(0).to(state.dtype)
        decay = self._betas.pow(skipped[:, None])[:, :, None]  # (count, 3, 1): 1, b1^k, b2^k
        held = self._ring.index_select(1, place)
        new = torch.where(in_ring[None, :, None], held, (state * decay).transpose(0, 1))
        # the oldest slot's rows, stepped up to step t - 1: back to the state
        old = self._ring_rows[start : start + b]
        at = (self._meta[:, 0].index_select(0, old) == self._ring_step[t % w])
        at = at.nonzero().squeeze(1)
        self._state.index_copy_(0, old.index_select(0, at),
                                self._ring.index_select(1, at + start).transpose(0, 1))
        self._ring[:, start : start + count] = new
        if count < b:
            self._ring[:, start + count : start + b] = 0.0
            old[count:] = self.param.shape[0]
        old[:count] = rows
        self._ring_step[t % w] = t
        meta = torch.stack([torch.full_like(rows, t), self._offsets[:count] + start], 1)
        self._meta.index_copy_(0, rows, meta)
        g = self._ring_grad
        g[start : start + count] = grad
        z, m, v = self._ring
        self._state_step.fill_(t)
        if self._fused is not None:
            self._fused([z], [g], [m], [v], [], [self._state_step], lr=self.lr,
                        beta1=self.beta1, beta2=self.beta2, weight_decay=0.0, eps=self.eps,
                        amsgrad=False, maximize=False)
        else:  # torch.optim.Adam's single-tensor update
            m.lerp_(g, 1.0 - self.beta1)
            v.mul_(self.beta2).addcmul_(g, g, value=1.0 - self.beta2)
            denom = (v.sqrt() / math.sqrt(1.0 - self.beta2**t)).add_(self.eps)
            z.addcdiv_(m, denom, value=-self.lr / (1.0 - self.beta1**t))
        g[start : start + count] = 0.0

def sample_gamma(shape: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Standard Gamma(shape, 1) draws with an explicit generator (Marsaglia & Tsang 2000).

    ``torch.distributions.Gamma`` draws from the global RNG only; this rejection sampler
    takes the fit's generator. For ``shape < 1`` it uses
    :math:`G(a) = G(a+1)\\,U^{1/a}`.
    """
    a = shape.detach()
    boost = a < 1
    d = torch.where(boost, a + 1, a) - 1.0 / 3.0
    c = 1.0 / torch.sqrt(9.0 * d)
    out = torch.empty_like(a)
    todo = torch.ones_like(a, dtype=torch.bool)
    while bool(todo.any()):
        idx = todo.nonzero(as_tuple=True)
        dd, cc = d[idx], c[idx]
        x = torch.randn(dd.shape, dtype=a.dtype, device=a.device, generator=generator)
        u = torch.rand(dd.shape, dtype=a.dtype, device=a.device, generator=generator)
        v = (1 + cc * x) ** 3
        ok = (v > 0) & (
            torch.log(u) < 0.5 * x * x + dd - dd * v + dd * torch.log(v.clamp_min(1e-300))
        )
        accepted = tuple(i[ok] for i in idx)
        out[accepted] = (dd * v)[ok]
        todo[accepted] = False
    if bool(boost.any()):
        u = torch.rand(a.shape, dtype=a.dtype, device=a.device, generator=generator)
        out = torch.where(boost, out * u ** (1.0 / a.clamp_min(1e-30)), out)
    return out


class OutputDistribution(nn.Module):
    """Base class of the decoder's output laws (one raw decoder output per feature).

    Subclasses implement :meth:`log_prob`, :meth:`mean`, :meth:`sample` and
    :meth:`init_bias` and set the class flags below.
    """

    #: Values must be >= 0 (count laws).
    nonnegative: bool = False
    #: Values must lie in [0, 1].
    unit_interval: bool = False
    #: Uses a per-sample library size.
    uses_library: bool = False

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.n_features = int(n_features)

    def log_prob(self, raw: Tensor, x: Tensor, library: Tensor | None = None) -> Tensor:
        """Log-likelihood of each row, summed over features; shape (n,)."""
        raise NotImplementedError

    def mean(self, raw: Tensor, library: Tensor | None = None) -> Tensor:
        """Mean of :math:`p(x \\mid z)`, shape (n, n_features)."""
        raise NotImplementedError

    def sample(
        self, raw: Tensor, library: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """One draw of :math:`x \\sim p(x \\mid z)`, shape (n, n_features)."""
        raise NotImplementedError

    def init_bias(self, x: Tensor, library: Tensor | None = None) -> Tensor:
        """Raw output that fits the feature means of ``x`` (initial decoder bias)."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"n_features={self.n_features}"


class GaussianOutput(OutputDistribution):
    """Gaussian output with mean from the decoder and a learned scale per feature.

    Parameters
    ----------
    n_features : int
    min_scale : float, default=1e-3
        Floor of the scale, so constant features cannot drive the likelihood to infinity.
    """

    def __init__(self, n_features: int, min_scale: float = 1e-3) -> None:
        super().__init__(n_features)
        self.min_scale = float(min_scale)
        self.log_scale = nn.Parameter(torch.zeros(n_features))

    def scale(self) -> Tensor:
        """Per-feature standard deviation, shape (n_features,)."""
        return torch.exp(self.log_scale).clamp_min(self.min_scale)

    def log_prob(self, raw, x, library=None):
        scale = self.scale()
        r = (x - raw) / scale
        return (-0.5 * r * r - torch.log(scale) - 0.5 * _LOG_2PI).sum(-1)

    def mean(self, raw, library=None):
        return raw

    @torch.no_grad()
    def sample(self, raw, library=None, generator=None):
        eps = torch.randn(raw.shape, dtype=raw.dtype, device=raw.device, generator=generator)
        return raw + eps * self.scale()

    def init_bias(self, x, library=None):
        return x.mean(0)


class BernoulliOutput(OutputDistribution):
    """Bernoulli output on logits (binary data; values in [0, 1] give the cross-entropy)."""

    unit_interval = True

    def log_prob(self, raw, x, library=None):
        return -nn.functional.binary_cross_entropy_with_logits(raw, x, reduction="none").sum(-1)

    def mean(self, raw, library=None):
        return torch.sigmoid(raw)

    @torch.no_grad()
    def sample(self, raw, library=None, generator=None):
        u = torch.rand(raw.shape, dtype=raw.dtype, device=raw.device, generator=generator)
        return (u < torch.sigmoid(raw)).to(raw.dtype)

    def init_bias(self, x, library=None):
        p = x.mean(0).clamp(1e-3, 1 - 1e-3)
        return torch.log(p) - torch.log1p(-p)


class _CountOutput(OutputDistribution):
    """Shared link of the count laws: log mean from raw outputs and library sizes."""

    nonnegative = True
    uses_library = True

    @staticmethod
    def log_mean(raw: Tensor, library: Tensor | None) -> Tensor:
        if library is None:
            return raw.clamp(max=80.0)
        log_lib = torch.log(library.clamp_min(1e-8))
        return log_lib[:, None] + torch.log_softmax(raw, dim=-1)

    def mean(self, raw, library=None):
        return torch.exp(self.log_mean(raw, library))

    def init_bias(self, x, library=None):
        mean = x.mean(0)
        if library is None:
            return torch.log(mean.clamp_min(1e-8))
        frac = mean / mean.sum().clamp_min(1e-8)
        return torch.log(frac.clamp_min(1e-8))


class PoissonOutput(_CountOutput):
    """Poisson output (counts). Non-integer counts use the lgamma extension."""

    def log_prob(self, raw, x, library=None):
        lmu = self.log_mean(raw, library)
        return (x * lmu - torch.exp(lmu) - torch.lgamma(x + 1)).sum(-1)

    @torch.no_grad()
    def sample(self, raw, library=None, generator=None):
        return torch.poisson(self.mean(raw, library), generator=generator)


class NegativeBinomialOutput(_CountOutput):
    r"""Negative-binomial output with mean :math:`\mu` and a learned dispersion per feature.

    .. math::

        \log p(x) = \log\Gamma(x+r) - \log\Gamma(r) - \log\Gamma(x+1)
                    + r\log\frac{r}{r+\mu} + x\log\frac{\mu}{r+\mu},

    i.e. ``scipy.stats.nbinom(n=r, p=r/(r+mu))``; the variance is :math:`\mu + \mu^2/r`.

    Parameters
    ----------
    n_features : int
    init_dispersion : float, default=1.0
        Initial :math:`r`.
    """

    def __init__(self, n_features: int, init_dispersion: float = 1.0) -> None:
        super().__init__(n_features)
        self.log_dispersion = nn.Parameter(torch.full((n_features,), math.log(init_dispersion)))

    def dispersion(self) -> Tensor:
        """Per-feature :math:`r`, shape (n_features,)."""
        return torch.exp(self.log_dispersion.clamp(-20.0, 20.0))

    def log_prob(self, raw, x, library=None):
        lmu = self.log_mean(raw, library)
        log_r = self.log_dispersion.clamp(-20.0, 20.0)
        r = torch.exp(log_r)
        log_r_mu = torch.logaddexp(log_r, lmu)
        ll = (
            torch.lgamma(x + r) - torch.lgamma(r) - torch.lgamma(x + 1)
            + r * (log_r - log_r_mu) + x * (lmu - log_r_mu)
        )
        return ll.sum(-1)

    @torch.no_grad()
    def sample(self, raw, library=None, generator=None):
        mu = self.mean(raw, library)
        r = self.dispersion().expand_as(mu)
        rate = sample_gamma(r, generator) * mu / r
        return torch.poisson(rate, generator=generator)


#: Output-distribution registry: a new law is one entry.
OUTPUT_DISTRIBUTIONS: dict[str, type[OutputDistribution]] = {
    "gaussian": GaussianOutput,
    "bernoulli": BernoulliOutput,
    "poisson": PoissonOutput,
    "negative_binomial": NegativeBinomialOutput,
}

class DeepGenerativeDecoder(nn.Module):
    """MLP decoder from representations to an output distribution over the data.

    Parameters
    ----------
    latent_dim : int
    n_features : int
    hidden_layer_sizes : sequence of int, default=(100, 100)
    output_distribution : {"gaussian", "bernoulli", "poisson", "negative_binomial"}, \
default="gaussian"
    activation : str, default="relu"
        Hidden activation (see :data:`skdeepclust.nn.autoencoder.ACTIVATIONS`).

    Examples
    --------
    >>> import torch
    >>> from skdeepclust.nn.dgd import DeepGenerativeDecoder
    >>> dec = DeepGenerativeDecoder(2, 5, hidden_layer_sizes=(8,),
    ...                             output_distribution="negative_binomial")
    >>> z, x = torch.zeros(3, 2), torch.ones(3, 5)
    >>> dec.log_prob(z, x, library=x.sum(1)).shape
    torch.Size([3])
    """

    def __init__(
        self,
        latent_dim: int,
        n_features: int,
        hidden_layer_sizes: Sequence[int] = (100, 100),
        output_distribution: str = "gaussian",
        activation: str = "relu",
    ) -> None:
        super().__init__()
        if output_distribution not in OUTPUT_DISTRIBUTIONS:
            raise ValueError(
                f"Unknown output_distribution {output_distribution!r}; valid options are "
                f"{sorted(OUTPUT_DISTRIBUTIONS)}."
            )
        sizes = [int(latent_dim), *map(int, hidden_layer_sizes), int(n_features)]
        self.net = MLP(sizes, activation=activation)
        self.output = OUTPUT_DISTRIBUTIONS[output_distribution](n_features)
        self.latent_dim = int(latent_dim)
        self.n_features = int(n_features)

    def forward(self, z: Tensor) -> Tensor:
        """Raw decoder outputs, shape (n, n_features)."""
        return self.net(z)

    def log_prob(self, z: Tensor, x: Tensor, library: Tensor | None = None) -> Tensor:
        """:math:`\\log p(x_i \\mid z_i)` summed over features, shape (n,)."""
        return self.output.log_prob(self(z), x, library)

    def mean(self, z: Tensor, library: Tensor | None = None) -> Tensor:
        """:math:`E[x \\mid z]`, shape (n, n_features)."""
        return self.output.mean(self(z), library)

    def sample(
        self, z: Tensor, library: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Draw :math:`x \\sim p(x \\mid z)`, shape (n, n_features)."""
        return self.output.sample(self(z), library, generator)

    @torch.no_grad()
    def init_output_bias(self, x: Tensor, library: Tensor | None = None) -> None:
        """Set the last layer's bias so that the decoder starts at the data's feature means."""
        self.net.linears[-1].bias.copy_(self.output.init_bias(x, library))


class DGDModel(nn.Module):
    r"""Decoder plus Gaussian-mixture prior: the trainable part of a DGD.

    The representations are not part of the model (they are per-sample data, kept by the
    caller in a :class:`RepresentationLayer`), so the model pickles at a size independent
    of the number of samples.

    The per-sample term is the log joint density
    :math:`\log p(x_i \mid z_i) + \log p(z_i)` (:meth:`log_joint`); the parameter prior
    :math:`\log p(\theta)` of the mixture is counted once per data set (:meth:`loss`).

    Parameters
    ----------
    decoder : DeepGenerativeDecoder
    prior : GaussianMixturePrior or SupervisedGaussianMixturePrior
    """

    def __init__(self, decoder: DeepGenerativeDecoder, prior: nn.Module) -> None:
        super().__init__()
        self.decoder = decoder
        self.prior = prior

    def log_joint(
        self, z: Tensor, x: Tensor, library: Tensor | None = None, y: Tensor | None = None
    ) -> Tensor:
        """:math:`\\log p(x_i \\mid z_i) + \\log p(z_i[, y_i])`, shape (n,).

        ``y`` (class indices, -1 for unlabelled) is used only by a supervised prior.
        """
        log_prior_z = self.prior.log_prob(z) if y is None else self.prior.log_prob(z, y)
        return self.decoder.log_prob(z, x, library) + log_prior_z

    def loss(
        self, z: Tensor, x: Tensor, n_total: int, library: Tensor | None = None,
        y: Tensor | None = None,
    ) -> Tensor:
        r"""Minibatch MAP loss: :math:`-\overline{\log p(x_i, z_i)} - \log p(\theta)/n`.

        With ``n_total`` the size of the whole training set, the sum of this loss over the
        minibatches of an epoch, each weighted by its share of the data, is the full
        negative log posterior divided by ``n_total``.
        """
        return -self.log_joint(z, x, library, y).mean() - self.prior.log_prior() / n_total
