r"""Invertible flow layers, the flow builder, and the supervised factor loss on pairs.

Every layer maps a flat batch ``x`` of shape ``(batch, n_features)`` to
``(y, log_abs_det)`` where ``log_abs_det`` has shape ``(batch,)`` and holds
:math:`\log|\det \partial y / \partial x|`, and ``layer.inverse(y)`` recovers ``x``
exactly (up to floating point). Layers that need a spatial layout (the checkerboard
mask and permutation) take an ``event_shape`` whose product is ``n_features`` and work
on the row-major flattening of it.

The package is split by concern, and every name below is importable from
``skdeepclust.nn.flows`` itself:

- ``masks``: :func:`heaviside_mask`, :func:`checkerboard_mask`, :func:`rope_order`;
- ``layers``: the :class:`FlowLayer` interface, :class:`ActNorm`, the permutations,
  :class:`Reflection`, :class:`FlowSequential` and :func:`standard_normal_log_prob`;
- ``bases``: :class:`GaussianMixtureBase`, a trainable base distribution;
- ``couplings``: :class:`AdditiveCoupling`, :class:`AffineCoupling`,
  :class:`SplineCoupling` and :func:`soft_clamp`;
- ``builder``: :func:`build_flow`, the stack the flow estimators fit;
- ``factors``: :func:`supervised_factor_loss` and :func:`make_factor_pairs`, the
  disentangling flow's loss and pairs.

This package is pure PyTorch: it imports neither scikit-learn nor numpy.
"""

from .bases import GaussianMixtureBase
from .builder import build_flow
from .couplings import COUPLINGS, AdditiveCoupling, AffineCoupling, SplineCoupling, soft_clamp
from .factors import make_factor_pairs, supervised_factor_loss
from .layers import (
    ActNorm,
    CheckerboardPermutation,
    FlowLayer,
    FlowSequential,
    HeavisidePermutation,
    Permutation,
    Reflection,
    ShufflePermutation,
    standard_normal_log_prob,
)
from .masks import MASKS, checkerboard_mask, heaviside_mask, rope_order

__all__ = [
    "COUPLINGS",
    "MASKS",
    "ActNorm",
    "AdditiveCoupling",
    "AffineCoupling",
    "CheckerboardPermutation",
    "FlowLayer",
    "FlowSequential",
    "GaussianMixtureBase",
    "HeavisidePermutation",
    "Permutation",
    "Reflection",
    "ShufflePermutation",
    "SplineCoupling",
    "build_flow",
    "checkerboard_mask",
    "heaviside_mask",
    "make_factor_pairs",
    "rope_order",
    "soft_clamp",
    "standard_normal_log_prob",
    "supervised_factor_loss",
]
