r"""The disentangling flow's supervised factor loss and the pairs it is trained on.

A pair of samples with a similarity per factor (a correlation in ``[0, 1]``) says how much
the two share along each factor; :func:`supervised_factor_loss` asks the flow's code
dimensions owned by a factor to be correlated that much, and :func:`make_factor_pairs`
draws such pairs from known factor values.

References
----------
Esser, P., Rombach, R. & Ommer, B. (2020). A Disentangling Invertible Interpretation
Network for Explaining Latent Representations. arXiv:2004.13166.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["make_factor_pairs", "supervised_factor_loss"]


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


def _standardize(y: Tensor, weights: Tensor | None = None) -> Tensor:
    if weights is None:
        mean = y.mean(0)
        std = y.std(0, unbiased=False) if y.shape[0] > 1 else torch.ones_like(mean)
    else:  # the moments of the rows repeated as often as their weights say
        p = (weights / weights.sum()).to(y.dtype).unsqueeze(1)
        mean = (p * y).sum(0)
        std = (p * (y - mean).pow(2)).sum(0).sqrt()
    std = torch.where(std > 0, std, torch.ones_like(std))
    return (y - mean) / std


def make_factor_pairs(
    factors: Tensor,
    n_pairs: int,
    correlations: float | Sequence[float] | Tensor = 0.9,
    *,
    weights: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    r"""Draw pairs of samples that share one factor.

    For each pair: draw ``a`` uniformly and a factor ``k`` uniformly; standardize the
    factor values and aim at :math:`y^* = \rho_k y_{a,k} + \sqrt{1 - \rho_k^2}\,\varepsilon`
    with :math:`\varepsilon \sim N(0, 1)`; ``b`` is the sample whose factor ``k`` is
    nearest to :math:`y^*` (ties, as with categorical factors, broken uniformly at
    random). The other factors of ``b`` are left to chance, so the pair's similarity is
    :math:`\rho_k` on factor ``k`` and 0 on the others and on the residual.

    With ``weights``, ``a`` is drawn with probabilities proportional to the weights, the
    factor values are standardised with the weighted moments, ``b`` is chosen among the
    rows of positive weight and ties are broken in proportion to the weights: an integer
    weight acts as that many copies of the row, a zero weight leaves it out.

    Parameters
    ----------
    factors : Tensor of shape (n_samples, n_factors)
        Factor values of every sample (no residual column).
    n_pairs : int
        Number of pairs.
    correlations : float or sequence of float, default=0.9
        Target correlation :math:`\rho_k` of each factor, in ``[0, 1]``.
    weights : Tensor of shape (n_samples,), default=None
        Non-negative weight of each sample (not all zero); ``None``: all equal.
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
    device = y.device
    gdev = generator.device if generator is not None else device  # draw where the generator is
    if weights is not None:
        weights = torch.as_tensor(weights, device=device).to(torch.float64).reshape(-1)
        if weights.shape[0] != n or bool((weights < 0).any()) or not bool(weights.sum() > 0):
            raise ValueError(
                f"weights must hold {n} non-negative values, not all zero; got shape "
                f"{tuple(weights.shape)}."
            )
    y = _standardize(y.to(dtype), weights)
    rho = torch.as_tensor(correlations, dtype=dtype).reshape(-1).expand(k)
    if weights is None:
        index_a = torch.randint(n, (n_pairs,), generator=generator, device=gdev)
    else:
        index_a = torch.multinomial(weights.to(gdev), n_pairs, replacement=True,
                                    generator=generator)
    which = torch.randint(k, (n_pairs,), generator=generator, device=gdev)
    noise = torch.randn(n_pairs, generator=generator, dtype=dtype, device=gdev)
    u = torch.rand(n_pairs, generator=generator, dtype=dtype, device=gdev)
    index_a, which, noise, u = (t.to(device) for t in (index_a, which, noise, u))
    rho = rho.to(device)

    # b is chosen among the candidate rows (those of positive weight)
    rows = None if weights is None else torch.nonzero(weights > 0).reshape(-1)
    m = n if rows is None else rows.numel()
    index_b = torch.empty_like(index_a)
    for f in range(k):
        sel = torch.nonzero(which == f).reshape(-1)
        if sel.numel() == 0:
            continue
        values, order = torch.sort(y[:, f] if rows is None else y[rows, f])
        target = rho[f] * y[index_a[sel], f] + torch.sqrt(1 - rho[f] ** 2) * noise[sel]
        pos = torch.searchsorted(values, target)
        left = values[(pos - 1).clamp(0, m - 1)]
        right = values[pos.clamp(0, m - 1)]
        nearest = torch.where((target - left).abs() <= (right - target).abs(), left, right)
        lo = torch.searchsorted(values, nearest, right=False)
        hi = torch.searchsorted(values, nearest, right=True)
        if rows is None:  # ties broken uniformly
            pick = lo + torch.minimum(torch.floor(u[sel] * (hi - lo)).long(), hi - lo - 1)
            index_b[sel] = order[pick]
        else:  # ties broken in proportion to the weights
            cum = torch.cumsum(weights[rows][order], 0)
            start = torch.where(lo > 0, cum[(lo - 1).clamp_min(0)], torch.zeros_like(cum[lo]))
            level = start + u[sel].to(cum.dtype) * (cum[hi - 1] - start)
            pick = torch.searchsorted(cum, level, right=True).clamp(lo, hi - 1)
            index_b[sel] = rows[order[pick]]

    similarity = torch.zeros(n_pairs, k + 1, dtype=dtype, device=device)
    similarity[torch.arange(n_pairs, device=device), which + 1] = rho[which].to(dtype)
    return index_a, index_b, similarity
