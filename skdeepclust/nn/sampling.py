r"""Markov chain samplers for :class:`~skdeepclust.nn.rbm.RBM`: Gibbs, persistent Gibbs,
parallel tempering (PT) and independent parallel tempering (IPT).

All samplers draw every random number from an explicit ``torch.Generator``. Parallel
tempering runs chains at inverse temperatures :math:`0 = \beta_1 < \dots < \beta_T = 1`
of the tempered model :math:`p_\beta \propto p_{\text{base}}^{1-\beta} p^\beta` and swaps
neighbouring chains (even pairs, then odd pairs) with the Metropolis-Hastings probability
:math:`\min(1, \frac{p^*_a(v_b)\, p^*_b(v_a)}{p^*_a(v_a)\, p^*_b(v_b)})` computed on the
free energies (hidden units summed out).

References
----------
Tieleman, "Training restricted Boltzmann machines using approximations to the likelihood
gradient", ICML 2008 (persistent CD). Desjardins et al., "Parallel tempering for training
of restricted Boltzmann machines", AISTATS 2010.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .rbm import RBM, _bernoulli

__all__ = [
    "GibbsSampler",
    "IndependentParallelTemperingSampler",
    "ParallelTemperingSampler",
    "PersistentGibbsSampler",
    "initial_states",
    "make_betas",
]


def make_betas(betas, *, dtype=None, device=None) -> Tensor:
    """Inverse temperatures: an int gives ``linspace(0, 1, betas)``, else the given values.

    The result is sorted ascending and must end at 1.
    """
    if isinstance(betas, int):
        assert betas >= 2, "'betas' should be >= 2 temperatures."
        return torch.linspace(0.0, 1.0, betas, dtype=dtype, device=device)
    b = torch.as_tensor(betas, dtype=dtype, device=device).flatten()
    b, _ = torch.sort(b)
    assert b.numel() >= 2 and abs(float(b[-1]) - 1.0) < 1e-12 and float(b[0]) >= 0.0, \
        "'betas' should be increasing inverse temperatures in [0, 1] ending at 1."
    return b


class GibbsSampler:
    """k-step block Gibbs sampling started at the given states (contrastive divergence).

    Parameters
    ----------
    model : RBM
    generator : torch.Generator or None
    """

    def __init__(self, model: RBM, generator: torch.Generator | None = None) -> None:
        self.model = model
        self.generator = generator

    @torch.no_grad()
    def sample(self, v: Tensor, k: int = 1, beta=None, *, return_prob: bool = False) -> Tensor:
        """Return the states after ``k`` Gibbs steps started at ``v``."""
        return self.model.gibbs(v, k, beta, self.generator, return_prob=return_prob)


class PersistentGibbsSampler:
    """Persistent Gibbs chains (PCD / SML): the chains carry over between calls.

    Parameters
    ----------
    model : RBM
    n_chains : int
    generator : torch.Generator or None
    init : Tensor of shape (n_chains, n_visible) or None
        Initial states; by default samples of the base model (data-mean visibles).

    Attributes
    ----------
    chains : Tensor of shape (n_chains, n_visible)
    hidden_prob : Tensor of shape (n_chains, n_hidden) or None
        p(h = 1 | chains) when the caller already computed it (the negative phase of the
        last update does): the next :meth:`sample` then draws its first hidden states
        from it instead of recomputing it, as scikit-learn's ``BernoulliRBM`` does. It was
        computed before that update's parameter step, so the first half-step uses the
        previous parameters; this saves one matrix product per update. Binary hiddens
        only; cleared whenever the chains move.
    """

    def __init__(self, model: RBM, n_chains: int, generator: torch.Generator | None = None,
                 init: Tensor | None = None) -> None:
        self.model = model
        self.n_chains = int(n_chains)
        self.generator = generator
        self.chains = init if init is not None else initial_states(model, n_chains, generator)
        self.hidden_prob: Tensor | None = None

    @torch.no_grad()
    def sample(self, n_samples: int | None = None, k: int = 1, *,
               return_prob: bool = False) -> Tensor:
        """Advance all chains by ``k`` steps and return ``n_samples`` of them (all by default)."""
        m, g = self.model, self.generator
        v = self.chains
        p = self.hidden_prob if m.hidden == "binary" else None
        for step in range(k):
            h = _bernoulli(p, g) if step == 0 and p is not None else m.sample_h(v, None, g)
            v = m.sample_v(h, None, g)
        self.chains = v
        self.hidden_prob = None
        if return_prob:
            v = m.prob_v(m.sample_h(v, None, g))
        return v if n_samples is None else v[:n_samples]


def initial_states(model: RBM, n: int, generator=None) -> Tensor:
    """Visible states to start chains from: base-model samples (labels uniform).

    Rectified visibles (no base model) start from U(0, 1).
    """
    if model.visible == "rectified":
        kw = {"dtype": model.weight.dtype, "device": model.weight.device}
        v = torch.rand((n, model.n_visible), generator=generator, **kw)
    else:
        v = model.sample_base(n, generator)
    if model.n_labels:
        idx = torch.randint(model.n_labels, (n,), generator=generator, device=v.device)
        v = torch.cat([v, torch.nn.functional.one_hot(idx, model.n_labels).to(v.dtype)], -1)
    return v


class ParallelTemperingSampler:
    """Parallel tempering: ``n_replicas`` independent ladders of tempered chains.

    With ``n_replicas=1`` (PyDeep's PT) one ladder produces the samples one after the
    other, each after ``k`` Gibbs sweeps of all temperatures and a swap round; with
    ``n_replicas`` equal to the number of samples asked for (IPT) every sample has its own
    ladder and one round gives them all.

    Parameters
    ----------
    model : RBM
        Needs binary hiddens and binary or Gaussian visibles (free energies) and no labels.
    betas : int or sequence of float, default=3
        Number of temperatures (``linspace(0, 1, betas)``) or the inverse temperatures.
    n_replicas : int, default=1
    generator : torch.Generator or None

    Attributes
    ----------
    chains : Tensor of shape (n_temperatures, n_replicas, n_visible)
    betas : Tensor of shape (n_temperatures,)
    swap_rate_ : float
        Fraction of accepted swaps in the last call.
    """

    def __init__(self, model: RBM, betas=3, n_replicas: int = 1,
                 generator: torch.Generator | None = None) -> None:
        model._check_tractable("Parallel tempering")
        model._check_no_labels("Parallel tempering")
        self.model = model
        self.generator = generator
        w = model.weight
        self.betas = make_betas(betas, dtype=w.dtype, device=w.device)
        self.n_replicas = int(n_replicas)
        t = self.betas.numel()
        self.chains = initial_states(model, t * self.n_replicas, generator).reshape(
            t, self.n_replicas, -1)
        self.swap_rate_ = float("nan")

    @torch.no_grad()
    def _swap(self) -> float:
        m, v = self.model, self.chains
        b = self.betas
        accepted, tried = 0, 0
        for parity in (0, 1):
            i = torch.arange(parity, b.numel() - 1, 2, device=v.device)
            if i.numel() == 0:
                continue
            j = i + 1
            bi, bj = b[i].view(-1, 1, 1), b[j].view(-1, 1, 1)
            va, vb = v[i], v[j]
            log_r = (m.log_unnormalized_visible(vb, bi) + m.log_unnormalized_visible(va, bj)
                     - m.log_unnormalized_visible(va, bi) - m.log_unnormalized_visible(vb, bj))
            u = torch.rand(log_r.shape, generator=self.generator, dtype=v.dtype, device=v.device)
            acc = torch.log(u) < log_r
            accm = acc.unsqueeze(-1)
            v = v.clone()
            v[i] = torch.where(accm, vb, va)
            v[j] = torch.where(accm, va, vb)
            accepted += int(acc.sum())
            tried += acc.numel()
        self.chains = v
        return accepted / max(tried, 1)

    @torch.no_grad()
    def sample(self, n_samples: int | None = None, k: int = 1, *,
               return_prob: bool = False) -> Tensor:
        """Return ``n_samples`` states of the beta = 1 chains (``n_replicas`` by default)."""
        m, g = self.model, self.generator
        n = self.n_replicas if n_samples is None else int(n_samples)
        beta = self.betas.view(-1, 1, 1)
        out, rates = [], []
        for _ in range(math.ceil(n / self.n_replicas)):
            v = self.chains
            for _ in range(k):
                v = m.sample_v(m.sample_h(v, beta, g), beta, g)
            self.chains = v
            rates.append(self._swap())
            top = self.chains[-1]
            out.append(m.prob_v(m.sample_h(top, None, g)) if return_prob else top)
        self.swap_rate_ = sum(rates) / len(rates)
        return torch.cat(out)[:n]


class IndependentParallelTemperingSampler(ParallelTemperingSampler):
    """Independent parallel tempering: one PT ladder per sample (``n_replicas=n_samples``).

    Faster per sample than :class:`ParallelTemperingSampler` but each ladder mixes less.
    """

    def __init__(self, model: RBM, n_samples: int, betas=3,
                 generator: torch.Generator | None = None) -> None:
        super().__init__(model, betas, n_replicas=n_samples, generator=generator)
