"""Normalizing flows: density estimation and disentangled codes with an exact inverse."""

from ._flows import DisentanglingFlow, NormalizingFlow

__all__: list[str] = ["DisentanglingFlow", "NormalizingFlow"]
