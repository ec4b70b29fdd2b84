r"""Log partition functions of :class:`~skdeepclust.nn.rbm.RBM`: exact enumeration,
annealed importance sampling (AIS) and reverse AIS.

* :func:`log_partition_exact` sums :math:`p^*` over every state of the smaller binary layer
  (the hidden layer for Gaussian visibles), in batches of :math:`2^m` states; it is
  differentiable, so it also gives the exact likelihood gradient of tiny models.
* :func:`annealed_importance_sampling` anneals from the base model (:math:`\beta = 0`) to
  the model along ``betas``. Its estimate of :math:`Z` is unbiased, so its log is biased
  low on average: the log-likelihood it gives tends to be optimistic.
* :func:`reverse_annealed_importance_sampling` anneals from (approximate) model samples
  down to the base model and estimates :math:`1 / Z`: the log-likelihood tends to be
  conservative (Burda, Grosse & Salakhutdinov, AISTATS 2015, arXiv:1412.8566).

Both AIS variants return :class:`PartitionEstimate` ``(log_z, lower, upper)`` where the
bounds are :math:`\log(\hat Z \mp 3\,\hat\sigma)` with :math:`\hat\sigma` the standard
error of the mean importance weight. They run in float64 by default.

References
----------
Neal, "Annealed importance sampling", Statistics and Computing 11 (2001). Salakhutdinov &
Murray, "On the quantitative analysis of deep belief networks", ICML 2008.
"""

from __future__ import annotations

import copy
import math
from typing import NamedTuple

import torch
from torch import Tensor

from .rbm import RBM, _bernoulli
from .sampling import make_betas

__all__ = [
    "MAX_EXACT_UNITS",
    "PartitionEstimate",
    "annealed_importance_sampling",
    "enumerable_units",
    "log_likelihood",
    "log_partition_exact",
    "reverse_annealed_importance_sampling",
    "sample_exact",
]

MAX_EXACT_UNITS = 25


class PartitionEstimate(NamedTuple):
    """An estimated log partition function with its -3 / +3 standard-error bounds."""

    log_z: float
    lower: float
    upper: float


def enumerable_units(model: RBM) -> tuple[str, int]:
    """Which layer exact enumeration runs over, and its size.

    The hidden layer (binary) for every tractable model; the visible layer instead when it
    is smaller and binary without labels.
    """
    model._check_tractable("The exact partition function")
    if model.visible == "binary" and not model.n_labels and model.n_visible < model.n_hidden:
        return "visible", model.n_visible
    return "hidden", model.n_hidden


def _binary_codes(start: int, stop: int, n_bits: int, dtype, device) -> Tensor:
    idx = torch.arange(start, stop, device=device, dtype=torch.int64)
    bits = torch.arange(n_bits, device=device, dtype=torch.int64)
    return ((idx.unsqueeze(1) >> bits) & 1).to(dtype)


def _default_batch_exponent(n_units: int, width: int) -> int:
    # about 2**22 floats of activations per batch
    return max(0, min(n_units, int(math.log2(max(1, 2**22 // max(1, width))))))


def log_partition_exact(model: RBM, *, max_units: int = MAX_EXACT_UNITS,
                        batch_exponent: int | None = None) -> Tensor:
    """Exact log Z by enumerating all states of the smaller binary layer.

    Parameters
    ----------
    model : RBM
    max_units : int, default=25
        Refuse (``ValueError``) to enumerate more than ``2**max_units`` states.
    batch_exponent : int or None
        Enumerate ``2**batch_exponent`` states at a time (default: about 4M activations).

    Returns
    -------
    log_z : 0-d Tensor in the model's dtype (differentiable w.r.t. the parameters).
    """
    layer, n = enumerable_units(model)
    if n > max_units:
        raise ValueError(
            f"The exact partition function enumerates all 2**{n} states of the {n} binary "
            f"{layer} units; that is only feasible up to {max_units} units. Use "
            "method='ais' (annealed importance sampling) or 'reverse_ais' instead.")
    w = model.weight
    width = model.n_visible + model.n_labels + model.n_hidden
    m = _default_batch_exponent(n, width) if batch_exponent is None else min(batch_exponent, n)
    step = 2**m
    parts = []
    for start in range(0, 2**n, step):
        states = _binary_codes(start, min(start + step, 2**n), n, w.dtype, w.device)
        if layer == "hidden":
            lp = model.log_unnormalized_hidden(states)
        else:
            lp = model.log_unnormalized_visible(states)
        parts.append(torch.logsumexp(lp, 0))
    return torch.logsumexp(torch.stack(parts), 0)


def log_likelihood(model: RBM, v: Tensor, log_z) -> Tensor:
    """log p(v) = log p*(v) - log Z, per sample."""
    return model.log_unnormalized_visible(v) - log_z


@torch.no_grad()
def sample_exact(model: RBM, n_samples: int, generator: torch.Generator | None = None,
                 *, max_units: int = 20) -> Tensor:
    """Exact visible samples: h from the enumerated p(h), then v ~ p(v | h).

    Needs binary hiddens and at most ``max_units`` of them.
    """
    model._check_tractable("Exact sampling")
    if model.visible == "rectified" or model.n_hidden > max_units:
        raise ValueError(
            f"Exact sampling enumerates 2**{model.n_hidden} hidden states; only feasible up "
            f"to {max_units} binary hidden units.")
    w = model.weight
    states = _binary_codes(0, 2**model.n_hidden, model.n_hidden, w.dtype, w.device)
    lp = model.log_unnormalized_hidden(states)
    p = torch.softmax(lp, 0)
    idx = torch.multinomial(p, n_samples, replacement=True, generator=generator)
    return model.sample_v(states[idx], None, generator)


def _float64_copy(model: RBM, dtype) -> RBM:
    if dtype is None or model.weight.dtype == dtype:
        return model
    return copy.deepcopy(model).to(dtype)


def _estimate(log_w: Tensor) -> tuple[float, float, float]:
    """log mean w and log(mean -/+ 3 standard errors), computed stably."""
    n = log_w.numel()
    shift = log_w.max()
    w = torch.exp(log_w - shift)
    mean = w.mean()
    se = w.std(unbiased=True) / math.sqrt(n) if n > 1 else torch.zeros_like(mean)
    log_mean = float(torch.log(mean) + shift)
    lo = mean - 3.0 * se
    low = float(torch.log(lo) + shift) if lo > 0 else float("-inf")
    high = float(torch.log(mean + 3.0 * se) + shift)
    return log_mean, low, high


def _check_annealable(model: RBM, what: str) -> None:
    if model.hidden != "binary" or model.visible == "rectified":
        raise ValueError(
            f"{what} needs binary hidden units and binary or Gaussian visible units "
            f"(got visible={model.visible!r}, hidden={model.hidden!r}): rectified units "
            "have no tractable free energy.")
    if model.n_labels:
        raise ValueError(
            f"{what} is not available for label RBMs (n_labels={model.n_labels}); use the "
            "exact partition function of a small model instead.")


def _chain_terms(model: RBM, v: Tensor, sparse_bias: Tensor | None = None
                 ) -> tuple[Tensor, Tensor, Tensor]:
    """The beta-independent pieces of log p*_beta(v): visible term, base term, activation.

    With ``sparse_bias = c - mu W`` (binary visible states only) the activation
    ``c + (v - mu) W = v W + sparse_bias`` sums the rows of W picked by the ones of v
    (embedding bag): several times cheaper than the matrix product on sparse data.
    """
    if sparse_bias is None:
        a = model.hidden_activation(v)
    else:
        mask = v.bool()
        offsets = torch.zeros(v.shape[0] + 1, dtype=torch.long, device=v.device)
        torch.cumsum(mask.sum(1), 0, out=offsets[1:])
        a = torch.nn.functional.embedding_bag(
            mask.nonzero()[:, 1], model.weight, offsets, mode="sum",
            include_last_offset=True).add_(sparse_bias)
    return model._visible_term(v), model._base_term(v), a


def _sparse_bias(model: RBM, v: Tensor) -> Tensor | None:
    """``c - mu W`` when the chains are binary, mostly zeros and on the CPU, else None."""
    if (model.visible != "binary" or v.device.type != "cpu" or not v.numel()
            or not bool(((v == 0) | (v == 1)).all()) or float(v.mean()) >= 0.3):
        return None
    return model.hidden_bias - model.visible_offset @ model.weight


def _log_p_beta(model: RBM, terms, beta: Tensor) -> Tensor:
    vis, base, a = terms
    ba = beta * a
    hid = (torch.nn.functional.softplus(ba) - model.hidden_offset * ba).sum(-1)
    return beta * vis + (1.0 - beta) * base + hid


def _run_chain(model: RBM, v: Tensor, betas: Tensor, k: int, generator,
               verbose: int = 0, desc: str = "AIS") -> tuple[Tensor, Tensor]:
    """Accumulate sum_t [f_{b_t}(v_{t-1}) - f_{b_{t-1}}(v_{t-1})], v_t ~ T_{b_t}(v_{t-1}).

    ``f_b = log p*_b`` and ``T_b`` is ``k`` Gibbs steps leaving ``p_b`` invariant. With
    betas increasing from 0 to 1 the weights estimate Z_1 / Z_0 (AIS), decreasing from 1 to
    0 they estimate Z_0 / Z_1 (reverse AIS).
    """
    log_w = torch.zeros(v.shape[0], dtype=v.dtype, device=v.device)
    sparse_bias = _sparse_bias(model, v)  # later states are samples: binary too
    terms = _chain_terms(model, v, sparse_bias)
    n = betas.numel()
    bar = None
    if verbose:
        from tqdm.auto import tqdm

        bar = tqdm(total=n - 1, desc=desc, unit="beta", leave=verbose > 1,
                   miniters=max(1, n // 100))
    for t in range(1, n):
        if bar is not None:
            bar.update(1)
        bt = betas[t]
        log_w += _log_p_beta(model, terms, bt) - _log_p_beta(model, terms, betas[t - 1])
        if t == n - 1:
            break
        a = terms[2]
        for step in range(k):
            if step:
                a = model.hidden_activation(v)
            h = _bernoulli(torch.sigmoid(bt * a), generator)  # rand < p: 2.5x cheaper
            v = model.sample_v(h, bt, generator)
        terms = _chain_terms(model, v, sparse_bias)
    if bar is not None:
        bar.close()
    return log_w, v


@torch.no_grad()
def annealed_importance_sampling(model: RBM, *, n_chains: int = 100, betas=10000, k: int = 1,
                                 generator: torch.Generator | None = None,
                                 dtype: torch.dtype | None = torch.float64,
                                 verbose: int = 0) -> PartitionEstimate:
    """Estimate log Z by AIS from the base model to the model.

    Its cost is ``n_betas * k`` Gibbs steps of ``n_chains`` chains plus one free energy per
    temperature: linear in each of them and in ``n_visible * n_hidden`` (about a minute for
    100 chains, 10000 temperatures and a 784-500 model on one CPU core).

    Parameters
    ----------
    model : RBM
        Binary hiddens; binary or Gaussian visibles; no labels.
    n_chains : int, default=100
        Number of independent AIS runs.
    betas : int or sequence, default=10000
        Number of linearly spaced inverse temperatures, or the schedule itself.
    k : int, default=1
        Gibbs steps per temperature.
    generator : torch.Generator or None
    dtype : torch dtype or None, default=torch.float64
        Precision of the run (a copy of the model is cast); None keeps the model's.
    verbose : int, default=0
        1 shows a progress bar over the temperatures.

    Returns
    -------
    PartitionEstimate(log_z, lower, upper)
    """
    _check_annealable(model, "Annealed importance sampling")
    model = _float64_copy(model, dtype)
    b = make_betas(betas, dtype=model.weight.dtype, device=model.weight.device)
    v = model.sample_base(n_chains, generator)
    log_w, _ = _run_chain(model, v, b, k, generator, verbose, "AIS (log Z)")
    log_z0 = float(model.base_log_partition())
    m, lo, hi = _estimate(log_w)
    return PartitionEstimate(m + log_z0, lo + log_z0, hi + log_z0)


@torch.no_grad()
def reverse_annealed_importance_sampling(
        model: RBM, *, n_chains: int = 100, betas=10000, k: int = 1,
        v_init: Tensor | None = None, generator: torch.Generator | None = None,
        dtype: torch.dtype | None = torch.float64, verbose: int = 0) -> PartitionEstimate:
    """Estimate log Z by reverse AIS, annealing from model samples down to the base model.

    Parameters
    ----------
    model : RBM
        Binary hiddens; binary or Gaussian visibles; no labels.
    n_chains : int, default=100
        Number of runs (ignored when ``v_init`` is given: one run per row).
    betas, k, generator, dtype
        As in :func:`annealed_importance_sampling`.
    v_init : Tensor of shape (n_chains, n_visible) or None
        Starting states, ideally samples of the model (e.g. training data, or
        :func:`sample_exact`). By default ``n_chains`` exact samples when the model has at
        most 20 hidden units, else the states of 1000 Gibbs steps started at base samples.

    Returns
    -------
    PartitionEstimate(log_z, lower, upper)
    """
    _check_annealable(model, "Reverse annealed importance sampling")
    model = _float64_copy(model, dtype)
    w = model.weight
    b = make_betas(betas, dtype=w.dtype, device=w.device).flip(0)
    if v_init is not None:
        v = v_init.to(dtype=w.dtype, device=w.device)
    elif model.n_hidden <= 20:
        v = sample_exact(model, n_chains, generator)
    else:
        v = model.gibbs(model.sample_base(n_chains, generator), 1000, None, generator)
    # log w estimates log(Z_0 / Z_1)
    log_w, _ = _run_chain(model, v, b, k, generator, verbose, "reverse AIS (log Z)")
    log_z0 = float(model.base_log_partition())
    m, lo, hi = _estimate(log_w)
    upper = log_z0 - lo if math.isfinite(lo) else float("inf")
    return PartitionEstimate(log_z0 - m, log_z0 - hi, upper)
