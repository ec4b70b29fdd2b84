r"""Markov chain samplers for :class:`~skdeepclust.nn.rbm.RBM`: Gibbs, persistent Gibbs,
parallel tempering (PT) and independent parallel tempering (IPT).

All samplers draw every random number from an explicit ``torch.Generator``. Parallel
tempering runs chains at inverse temperatures :math:`0 = \beta_1 < \dots < \beta_T = 1`
of the tempered model :math:`p_\beta \propto p_{\text{base}}^{1-\beta} p^\beta` and swaps
neighbouring chains (even pairs, then odd pairs) with the Metropolis-Hastings probability
:math:`\min(1, \frac{p^*_a(v_b)\, p^*_b(v_a)}{p^*_a(v_a)\, p^*_b(v_b)})` computed on the
free energies (hidden units summed out).

:class:`ParallelTemperingSampler` / :class:`IndependentParallelTemperingSampler` are
PyDeep's PT and IPT (one chain per temperature in each ladder); the estimator trains with
:class:`PooledParallelTemperingSampler`, which gives a whole batch of samples per round
(one ladder for ``method="pt"``, several independent ones for ``method="ipt"``) at about
twice the Gibbs work of persistent CD.

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
    "PooledParallelTemperingSampler",
    "initial_states",
    "ipt_ladders",
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


def ipt_ladders(n_chains: int, n_temperatures: int) -> int:
    """Default number of independent ladders of ``method="ipt"``: ``n_chains //
    (n_temperatures - 1)`` (at least 1), so that every ladder holds one chain per
    temperature below 1 and about ``n_temperatures - 1`` chains at beta = 1."""
    return max(1, min(int(n_chains), int(n_chains) // max(1, int(n_temperatures) - 1)))


def _start_tempering(sampler, model: RBM, betas, generator) -> int:
    """What every tempering sampler's ``__init__`` does first: check that ``model`` can be
    tempered, store it, the generator and the temperature ladder; returns its length."""
    model._check_tractable("Parallel tempering")
    model._check_no_labels("Parallel tempering")
    sampler.model = model
    sampler.generator = generator
    w = model.weight
    sampler.betas = make_betas(betas, dtype=w.dtype, device=w.device)
    return sampler.betas.numel()


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


class _PersistentChains:
    """The beta = 1 persistent chains shared by :class:`PersistentGibbsSampler` and
    :class:`PooledParallelTemperingSampler`: ``model``, ``generator``, ``chains`` and
    ``hidden_prob`` (see :class:`PersistentGibbsSampler`)."""

    model: RBM
    generator: torch.Generator | None
    chains: Tensor
    hidden_prob: Tensor | None

    def _sweep_chains(self, k: int) -> None:
        """``k`` Gibbs sweeps of ``chains`` at beta = 1; the first hidden draw reuses
        ``hidden_prob`` when set (binary hiddens), which is then cleared."""
        m, g = self.model, self.generator
        v = self.chains
        p = self.hidden_prob if m.hidden == "binary" else None
        for step in range(k):
            h = _bernoulli(p, g) if step == 0 and p is not None else m.sample_h(v, None, g)
            v = m.sample_v(h, None, g)
        self.chains = v
        self.hidden_prob = None

    def _output(self, n_samples: int | None, return_prob: bool) -> Tensor:
        """The first ``n_samples`` chains (all by default), or p(v | h ~ p(h | chains))."""
        v = self.chains
        if return_prob:
            v = self.model.prob_v(self.model.sample_h(v, None, self.generator))
        return v if n_samples is None else v[:n_samples]


class PersistentGibbsSampler(_PersistentChains):
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
        self._sweep_chains(k)
        return self._output(n_samples, return_prob)


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
        t = _start_tempering(self, model, betas, generator)
        self.n_replicas = int(n_replicas)
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
    """Independent parallel tempering: one PT ladder per sample (``n_replicas=n_samples``),
    as in PyDeep.

    Faster per sample than :class:`ParallelTemperingSampler` but each ladder mixes less.
    ``n_temperatures`` times the Gibbs work of persistent chains; the estimator's
    ``method="ipt"`` trains with :class:`PooledParallelTemperingSampler` and
    ``n_ladders > 1`` instead.
    """

    def __init__(self, model: RBM, n_samples: int, betas=3,
                 generator: torch.Generator | None = None) -> None:
        super().__init__(model, betas, n_replicas=n_samples, generator=generator)


class PooledParallelTemperingSampler(_PersistentChains):
    """Parallel tempering that gives a batch of samples per round: ``n_chains`` chains at
    beta = 1 and, in each of ``n_ladders`` independent ladders, ``n_auxiliary`` chains at
    every lower temperature, swapped in parallel.

    One round (:meth:`sample`) runs ``k`` Gibbs sweeps of every chain, then one swap
    round: within each ladder, neighbouring temperatures (even pairs, then odd pairs) pair
    their chains at random (a fresh random pairing every round, independent of the states,
    so the product of the tempered distributions stays invariant; between beta = 1 and the
    next temperature a random subset of ``n_auxiliary`` of the ladder's beta = 1 chains
    takes part) and every pair swaps with the Metropolis-Hastings probability. All pairs
    of all ladders and temperatures are proposed and accepted in one vectorised pass, and
    the ``n_chains`` beta = 1 chains are the round's samples.

    The lower temperatures only feed well-mixed states up the ladder, so they hold fewer
    chains: ``n_auxiliary`` defaults to ``ceil(c / (n_temperatures - 1))`` with ``c =
    n_chains // n_ladders`` the beta = 1 chains of the smallest ladder, which keeps the
    whole sampler at about twice the Gibbs work of ``n_chains`` persistent chains whatever
    the number of temperatures.

    ``n_ladders=1`` is the pooled parallel tempering of ``method="pt"``: any chain can
    reach any other through the random pairings. ``n_ladders > 1`` is independent
    parallel tempering (``method="ipt"``): beta = 1 chain ``i`` belongs to ladder ``i %
    n_ladders`` and states never leave their ladder. PyDeep's IPT is ``n_ladders =
    n_chains`` (one chain per temperature in every ladder, ``n_temperatures`` times the
    Gibbs work of PCD); :func:`ipt_ladders` gives the default of ``method="ipt"``,
    ``n_chains // (n_temperatures - 1)`` ladders, each a PyDeep ladder (one chain per
    temperature below 1) whose beta = 1 rung holds about ``n_temperatures - 1`` chains
    that take turns at the swaps.

    Parameters
    ----------
    model : RBM
        Binary hiddens, binary or Gaussian visibles, no labels.
    n_chains : int
        Chains at beta = 1 (samples per round).
    betas : int or sequence of float, default=3
    generator : torch.Generator or None
    n_auxiliary : int or None
        Chains of each ladder at each temperature below 1 (at most ``n_chains //
        n_ladders``).
    n_ladders : int, default=1
        Independent ladders (1 to ``n_chains``).

    Attributes
    ----------
    chains : Tensor of shape (n_chains, n_visible)
        The beta = 1 chains.
    auxiliary : Tensor of shape (n_temperatures - 1, n_ladders * n_auxiliary, n_visible)
        The chains below beta = 1; ladder ``l`` holds columns ``l * n_auxiliary`` to
        ``(l + 1) * n_auxiliary - 1``.
    betas : Tensor of shape (n_temperatures,)
    hidden_prob : Tensor of shape (n_chains, n_hidden) or None
        As in :class:`PersistentGibbsSampler` (kept up to date by the caller).
    swap_rate_ : float
        Fraction of accepted swaps in the last round.
    swapped_ : Tensor of int64
        Indices of the beta = 1 chains replaced in the last swap round.
    """

    def __init__(self, model: RBM, n_chains: int, betas=3,
                 generator: torch.Generator | None = None,
                 n_auxiliary: int | None = None, n_ladders: int = 1) -> None:
        t = _start_tempering(self, model, betas, generator)
        self.n_chains = int(n_chains)
        self.n_ladders = int(n_ladders)
        if not 1 <= self.n_ladders <= self.n_chains:
            raise ValueError(f"n_ladders={self.n_ladders} should be in [1, n_chains="
                             f"{self.n_chains}].")
        smallest = self.n_chains // self.n_ladders
        self.n_auxiliary = int(n_auxiliary or math.ceil(smallest / (t - 1)))
        self.n_auxiliary = min(self.n_auxiliary, smallest)
        self.chains = initial_states(model, self.n_chains, generator)
        width = self.n_ladders * self.n_auxiliary
        self.auxiliary = initial_states(model, (t - 1) * width, generator).reshape(
            t - 1, width, -1)
        self.hidden_prob: Tensor | None = None
        self.swap_rate_ = float("nan")
        self.swapped_ = torch.zeros(0, dtype=torch.long, device=self.betas.device)
        # ladder of every beta = 1 chain, and where each ladder starts once they are sorted
        self._ladder = torch.arange(self.n_chains, device=self.betas.device) % self.n_ladders
        counts = torch.bincount(self._ladder, minlength=self.n_ladders)
        self._starts = torch.cumsum(counts, 0) - counts

    def _top_participants(self) -> Tensor:
        """Indices of the beta = 1 chains in this round's swaps: ``n_auxiliary`` random
        ones of every ladder, ladder-major (column ``l * n_auxiliary + j``)."""
        g, dev = self.generator, self.chains.device
        order = torch.randperm(self.n_chains, generator=g, device=dev)
        if self.n_ladders == 1:
            return order[:self.n_auxiliary]
        # group by ladder (stable: random order within each ladder), take each one's first
        order = order[torch.argsort(self._ladder[order], stable=True)]
        pos = self._starts.unsqueeze(1) + torch.arange(self.n_auxiliary, device=dev)
        return order[pos.flatten()]

    @torch.no_grad()
    def sweep_auxiliary(self, k: int = 1) -> None:
        """``k`` Gibbs sweeps of the chains below beta = 1 (all temperatures at once)."""
        m, g = self.model, self.generator
        beta = self.betas[:-1].view(-1, 1, 1)
        v = self.auxiliary
        for _ in range(k):
            v = m.sample_v(m.sample_h(v, beta, g), beta, g)
        self.auxiliary = v

    @torch.no_grad()
    def swap(self) -> float:
        """One swap round over every pair of neighbouring temperatures (vectorised)."""
        m, g = self.model, self.generator
        b = self.betas
        t, n_aux = b.numel(), self.n_auxiliary
        n_lad = self.n_ladders
        width = n_lad * n_aux
        levels = torch.cat([self.auxiliary,
                            self.chains.new_zeros((1, width, self.chains.shape[1]))])
        # the beta = 1 chains taking part this round: a random n_aux of every ladder's
        top_idx = self._top_participants()
        levels[-1] = self.chains[top_idx]
        # a fresh random pairing: permute every level's chains within each ladder (the
        # states of a ladder's level are exchangeable)
        keys = torch.rand((t - 1, n_lad, n_aux), generator=g, dtype=b.dtype, device=b.device)
        perm = torch.argsort(keys, dim=-1)
        if n_lad > 1:
            perm = perm + n_aux * torch.arange(n_lad, device=b.device).view(1, -1, 1)
        perm = perm.reshape(t - 1, width)
        levels[:-1] = torch.gather(levels[:-1], 1,
                                   perm.unsqueeze(-1).expand(-1, -1, levels.shape[-1]))
        # the beta-independent terms of log p*_beta, once per state: they travel with it
        vis, base, act = m._visible_term(levels), m._base_term(levels), m.hidden_activation(levels)
        lam = m.hidden_offset
        accepted, tried = 0, 0
        for parity in (0, 1):
            i = torch.arange(parity, t - 1, 2, device=b.device)
            if i.numel() == 0:
                continue
            j = i + 1
            bi, bj = b[i].view(-1, 1), b[j].view(-1, 1)

            def log_p(idx, beta):
                ba = beta.unsqueeze(-1) * act[idx]
                hid = (torch.nn.functional.softplus(ba) - lam * ba).sum(-1)
                return beta * vis[idx] + (1.0 - beta) * base[idx] + hid

            log_r = log_p(j, bi) + log_p(i, bj) - log_p(i, bi) - log_p(j, bj)
            u = torch.rand(log_r.shape, generator=g, dtype=b.dtype, device=b.device)
            acc = torch.log(u) < log_r
            for x in (levels, act, vis, base):
                a = acc.view(*acc.shape, *([1] * (x.ndim - 2)))
                xi, xj = x[i], x[j]
                x[i] = torch.where(a, xj, xi)
                x[j] = torch.where(a, xi, xj)
            accepted += int(acc.sum())
            tried += acc.numel()
        self.auxiliary = levels[:-1].contiguous()
        new_top = levels[-1]
        changed = (new_top != self.chains[top_idx]).any(-1)
        self.swapped_ = top_idx[changed]
        if self.swapped_.numel():
            self.chains = self.chains.clone()
            self.chains[self.swapped_] = new_top[changed]
        self.swap_rate_ = accepted / max(tried, 1)
        return self.swap_rate_

    @torch.no_grad()
    def sample(self, n_samples: int | None = None, k: int = 1, *,
               return_prob: bool = False) -> Tensor:
        """One round: ``k`` sweeps of every chain, one swap round; the beta = 1 chains."""
        self._sweep_chains(k)
        self.sweep_auxiliary(k)
        self.swap()
        return self._output(n_samples, return_prob)
