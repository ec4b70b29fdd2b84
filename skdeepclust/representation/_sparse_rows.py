"""Moved to :mod:`skdeepclust._sparse` (shared with the RBM family); kept for imports."""

from .._sparse import SparseRows

__all__ = ["SparseRows"]
