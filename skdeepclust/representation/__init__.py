"""Representation learning: autoencoders and deep generative decoders."""

from ._autoencoder import AutoEncoder
from ._dgd import GMMRepresentation

__all__ = ["AutoEncoder", "GMMRepresentation"]
