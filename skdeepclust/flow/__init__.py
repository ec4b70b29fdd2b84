"""Normalizing flows: density estimation and disentangled codes with an exact inverse."""

from ._disentangling import DisentanglingFlow
from ._normalizing import NormalizingFlow

__all__: list[str] = ["DisentanglingFlow", "NormalizingFlow"]
