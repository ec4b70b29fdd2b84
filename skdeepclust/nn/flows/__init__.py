"""Invertible flow layers, the flow builder, and the supervised factor loss on pairs."""

from .layers import *
from .layers import __all__  # noqa: F401
