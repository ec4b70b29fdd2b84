"""Synthetic data generators and offline loaders."""

from ._flows import make_arc, make_blob_images, make_factor_levels
from ._mnist import load_mnist
from ._patches import load_natural_patches
from ._rbm import make_bars_and_stripes, make_laplace_mixture_2d, make_shifting_bars

__all__ = [
    "load_mnist",
    "load_natural_patches",
    "make_arc",
    "make_bars_and_stripes",
    "make_blob_images",
    "make_factor_levels",
    "make_laplace_mixture_2d",
    "make_shifting_bars",
]
