"""The AutoEncoder's objective: reconstruction losses, input and code corruptions, penalties."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

__all__ = ["LOSSES", "MEAN_LOSSES", "NOISES", "jacobian_frobenius_sq", "penalties"]

_EPS = 1e-7


def _squared(x_hat: Tensor, x: Tensor) -> Tensor:
    return (x_hat - x).pow(2)


def _absolute(x_hat: Tensor, x: Tensor) -> Tensor:
    return (x_hat - x).abs()


def _cross_entropy(x_hat: Tensor, x: Tensor) -> Tensor:
    return F.binary_cross_entropy(x_hat.clamp(_EPS, 1 - _EPS), x, reduction="none")


#: Reconstruction losses, elementwise: name -> f(x_hat, x).
LOSSES = {"squared": _squared, "absolute": _absolute, "cross_entropy": _cross_entropy}

#: The same losses averaged over every element, as single fused kernels (fewer autograd
#: nodes per training step than the elementwise form followed by ``.mean()``).
MEAN_LOSSES = {
    "squared": F.mse_loss,
    "absolute": F.l1_loss,
    "cross_entropy": lambda x_hat, x: F.binary_cross_entropy(x_hat.clamp(_EPS, 1 - _EPS), x),
}


def _gaussian(x: Tensor, level: float, g: torch.Generator) -> Tensor:
    return x + level * torch.randn(x.shape, generator=g, device=x.device, dtype=x.dtype)


def _multiplicative(x: Tensor, level: float, g: torch.Generator) -> Tensor:
    return x * (1 + level * torch.randn(x.shape, generator=g, device=x.device, dtype=x.dtype))


def _dropout(x: Tensor, level: float, g: torch.Generator) -> Tensor:
    keep = torch.rand(x.shape, generator=g, device=x.device, dtype=x.dtype) >= level
    return x * keep


def _binary(x: Tensor, level: float, g: torch.Generator) -> Tensor:
    return torch.bernoulli(x.clamp(0, 1), generator=g)


def _permutation(x: Tensor, level: float, g: torch.Generator) -> Tensor:
    """Shuffle a fraction ``level`` of the entries of each row among themselves."""
    u = torch.rand(x.shape, generator=g, device=x.device, dtype=x.dtype)
    selected = torch.rand(x.shape, generator=g, device=x.device, dtype=x.dtype) < level
    position = torch.arange(x.shape[1], device=x.device, dtype=x.dtype).expand_as(x)
    block = (~selected).to(x.dtype) * (2 * x.shape[1] + 2)
    targets = torch.argsort(block + position, dim=1)  # selected positions first, ascending
    sources = torch.argsort(block + torch.where(selected, u, position), dim=1)  # shuffled
    return x.scatter(1, targets, x.gather(1, sources))


def _kwta(x: Tensor, level: float, g: torch.Generator) -> Tensor:
    """Keep each row's ``k = n - floor(level * n)`` largest entries (at least one), zero
    the others; ties with the k-th largest are kept (PyDeep's ``KeepKWinner``, axis 1)."""
    n = x.shape[1]
    k = min(n, max(1, n - int(np.floor(level * n))))
    kth = x.topk(k, dim=1).values[:, -1:]
    return x * (x >= kth)


#: Denoising corruptions: name -> f(x, noise_level, generator).
NOISES = {
    "gaussian": _gaussian,
    "multiplicative": _multiplicative,
    "dropout": _dropout,
    "binary": _binary,
    "permutation": _permutation,
    "kwta": _kwta,
}


def jacobian_frobenius_sq(f: torch.nn.Module, x: Tensor) -> Tensor:
    """Per-sample squared Frobenius norm of the Jacobian of ``f`` at each row of ``x``.

    Exact (one vector-Jacobian product per output unit, batched with ``torch.func``) and
    differentiable with respect to ``f``'s parameters.

    Parameters
    ----------
    f : torch.nn.Module
        Maps (n, d) to (n, k), row-wise.
    x : Tensor of shape (n, d)

    Returns
    -------
    Tensor of shape (n,)
    """
    from torch.func import jacrev, vmap

    jac = vmap(jacrev(lambda row: f(row.unsqueeze(0)).squeeze(0)))(x)  # (n, k, d)
    return jac.pow(2).sum(dim=(1, 2))


def penalties(
    module,
    x: Tensor,
    h: Tensor,
    x_next: Tensor | None,
    *,
    contractive: float,
    sparsity_weight: float,
    sparsity_target: float,
    sigmoid_code: bool,
    slowness: float,
    l1: float,
    l2: float,
) -> Tensor:
    """The regularisation terms of the AutoEncoder objective for a batch (0 when all are off).

    ``x`` is the (corrupted) encoder input, ``h`` its code and ``x_next`` the rows that
    follow ``x`` (for ``slowness``); the weights are the AutoEncoder's parameters of the
    same names, ``sigmoid_code`` whether its code activation is the sigmoid (the sparsity
    penalty is then a KL divergence, else a squared difference).
    """
    total = h.new_zeros(())
    if contractive > 0:
        total = total + contractive * jacobian_frobenius_sq(module.encoder, x).mean()
    if sparsity_weight > 0:
        rho_hat = h.mean(dim=0)
        rho = sparsity_target
        if sigmoid_code:
            rho_hat = rho_hat.clamp(_EPS, 1 - _EPS)
            kl = rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log(
                (1 - rho) / (1 - rho_hat)
            )
        else:
            kl = (rho - rho_hat).pow(2)
        total = total + sparsity_weight * kl.sum()
    if slowness > 0 and x_next is not None:
        h_next = module.encode(x_next)
        total = total + slowness * (h - h_next).pow(2).sum(dim=1).mean()
    if l1 > 0 or l2 > 0:
        for lin in module.encoder.linears + getattr(module.decoder, "linears", []):
            if l1 > 0:
                total = total + l1 * lin.weight.abs().sum()
            if l2 > 0:
                total = total + 0.5 * l2 * lin.weight.pow(2).sum()
    return total
