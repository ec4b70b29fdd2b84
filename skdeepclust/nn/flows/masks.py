"""Coupling masks and the grid walk that the checkerboard permutation follows.

A mask is a bool tensor over the row-major flattening of one sample's ``event_shape``:
``True`` for the features a coupling passes through and conditions on, ``False`` for the
ones it transforms. :data:`MASKS` maps the ``mask`` names of :func:`~.build_flow` (and of
the flow estimators) to the functions that build them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["MASKS", "checkerboard_mask", "heaviside_mask", "rope_order"]


def _as_shape(event_shape: int | Sequence[int]) -> tuple[int, ...]:
    shape = (int(event_shape),) if isinstance(event_shape, int) else tuple(map(int, event_shape))
    assert len(shape) >= 1 and all(s >= 1 for s in shape), f"bad 'event_shape' {shape}."
    return shape


def heaviside_mask(event_shape: int | Sequence[int]) -> Tensor:
    """Heaviside mask on the flattened event: zeros first, then ones (``0001111``).

    Parameters
    ----------
    event_shape : int or sequence of int
        Shape of one sample; the mask is built on its row-major flattening.

    Returns
    -------
    mask : bool Tensor of shape (prod(event_shape),)
        ``False`` for the first ``n // 2`` entries (transformed by a coupling), ``True``
        for the rest (passed through and used as the coupling's condition).
    """
    n = math.prod(_as_shape(event_shape))
    mask = torch.ones(n, dtype=torch.bool)
    mask[: n // 2] = False
    return mask


def checkerboard_mask(event_shape: int | Sequence[int]) -> Tensor:
    """Checkerboard mask: ``True`` where the sum of the multi-index is odd.

    Parameters
    ----------
    event_shape : int or sequence of int
        Shape of one sample, for example ``(8, 8)`` for an 8x8 image.

    Returns
    -------
    mask : bool Tensor of shape (prod(event_shape),)
        Row-major flattening of ``(i_0 + i_1 + ...) % 2 == 1``. For a vector this is
        ``0101...``.
    """
    shape = _as_shape(event_shape)
    grids = torch.meshgrid(*[torch.arange(s) for s in shape], indexing="ij")
    parity = torch.stack(grids).sum(0) % 2
    return parity.reshape(-1).bool()


def rope_order(event_shape: int | Sequence[int]) -> Tensor:
    """Flat indices of a boustrophedon ("rope") walk through a grid.

    The walk runs along the last axis, steps once along the axis before it, runs back,
    and so on recursively, so consecutive cells of the walk are always grid
    neighbours (and have opposite checkerboard colour).

    Parameters
    ----------
    event_shape : int or sequence of int
        Grid shape.

    Returns
    -------
    order : long Tensor of shape (prod(event_shape),)
        Row-major flat index of the k-th cell visited.
    """
    shape = _as_shape(event_shape)
    order = torch.arange(shape[-1])
    inner = shape[-1]
    for size in reversed(shape[:-1]):
        blocks = []
        for i in range(size):
            seq = order if i % 2 == 0 else order.flip(0)
            blocks.append(seq + i * inner)
        order = torch.cat(blocks)
        inner *= size
    return order


MASKS = {"checkerboard": checkerboard_mask, "heaviside": heaviside_mask}
