"""Representation learning: autoencoders and deep generative decoders."""

from ._autoencoder import AutoEncoder

__all__ = ["AutoEncoder"]
