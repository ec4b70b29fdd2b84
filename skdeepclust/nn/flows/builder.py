"""The builder that stacks flow layers into the flows the estimators fit.

References
----------
Esser, P., Rombach, R. & Ommer, B. (2020). A Disentangling Invertible Interpretation
Network for Explaining Latent Representations. arXiv:2004.13166.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .couplings import COUPLINGS
from .layers import (
    ActNorm,
    CheckerboardPermutation,
    FlowLayer,
    FlowSequential,
    HeavisidePermutation,
    Reflection,
)
from .masks import MASKS, _as_shape

__all__ = ["build_flow"]


def build_flow(
    n_features: int,
    *,
    n_stages: int = 2,
    coupling: str = "additive",
    mask: str = "checkerboard",
    permutation: str = "matching",
    hidden_layer_sizes: Sequence[int] | None = None,
    activation: str = "relu",
    n_reflections: int = 1,
    actnorm: bool = True,
    clamp: float = 2.0,
    event_shape: Sequence[int] | None = None,
    generator: torch.Generator | None = None,
) -> FlowSequential:
    """Build the gyoza-style stack of flow stages.

    Layout: ``[ActNorm]`` then ``n_stages`` times ``[Reflection] -> coupling(mask) ->
    P -> coupling(mask) -> P^-1 -> [ActNorm]``, where ``P`` is the permutation that
    matches the mask (or a fresh random one with ``permutation="shuffle"``), so that the
    second coupling transforms what the first one passed through. The permutation pair
    is folded into the second coupling, ``coupling(mask[P^-1])``: the same function with
    two fewer layers.

    Parameters
    ----------
    n_features : int
        Number of features.
    n_stages : int, default=2
        Number of stages.
    coupling : {"additive", "affine", "spline"}, default="additive"
        Coupling law (:class:`AdditiveCoupling`, :class:`AffineCoupling`,
        :class:`SplineCoupling`).
    mask : {"checkerboard", "heaviside"}, default="checkerboard"
        Which features condition the coupling.
    permutation : {"matching", "shuffle"}, default="matching"
        ``"matching"`` uses :class:`CheckerboardPermutation` or
        :class:`HeavisidePermutation` to match ``mask``.
    hidden_layer_sizes : sequence of int, default=None
        Hidden sizes of each coupling's MLP; ``None`` means ``(4 * n_features,)``.
    activation : str, default="relu"
        Hidden activation of the coupling MLPs (a key of
        :data:`skdeepclust.nn.autoencoder.ACTIVATIONS`).
    n_reflections : int, default=1
        Householder reflections at the start of each stage; 0 leaves them out (as
        does ``n_features=1``, where a reflection has nothing to learn).
    actnorm : bool, default=True
        Whether to put an :class:`ActNorm` first and at the end of each stage.
    clamp : float, default=2.0
        Soft clamp of affine log-scales.
    event_shape : sequence of int, default=None
        Layout of one sample for the checkerboard; ``None`` means ``(n_features,)``.
    generator : torch.Generator, default=None
        Randomness for shuffles and reflection normals; ``None`` uses the global one
        (the conditioner MLPs always use it, so build under ``torch.random.fork_rng``).

    Returns
    -------
    flow : FlowSequential
    """
    n = int(n_features)
    shape = _as_shape(event_shape if event_shape is not None else n)
    assert math.prod(shape) == n, f"'event_shape' {shape} does not have {n} entries."
    assert coupling in COUPLINGS, f"unknown coupling {coupling!r}."
    assert mask in MASKS, f"unknown mask {mask!r}."
    assert permutation in ("matching", "shuffle"), f"unknown permutation {permutation!r}."
    hidden = tuple(hidden_layer_sizes) if hidden_layer_sizes is not None else (4 * n,)
    w = MASKS[mask](shape)
    kwargs = {"activation": activation}
    if coupling == "affine":
        kwargs["clamp"] = clamp

    layers: list[FlowLayer] = [ActNorm(n)] if actnorm else []
    for _ in range(int(n_stages)):
        if n_reflections and n > 1:  # in 1-D a reflection is a fixed sign flip
            layers.append(Reflection(n, n_reflections, generator=generator))
        if permutation == "shuffle":
            perm = torch.randperm(n, generator=generator)
        elif mask == "checkerboard":
            perm = CheckerboardPermutation(shape).permutation
        else:
            perm = HeavisidePermutation(n).permutation
        # coupling(w) -> P -> coupling(w) -> P^-1 is coupling(w) -> coupling(w[P^-1]):
        # fold the permutation pair into the second mask (two fewer layers per stage)
        layers += [
            COUPLINGS[coupling](w, hidden, **kwargs),
            COUPLINGS[coupling](w[torch.argsort(perm)], hidden, **kwargs),
        ]
        if actnorm:
            layers.append(ActNorm(n))
    return FlowSequential(layers, n)
