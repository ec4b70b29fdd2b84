"""Restricted Boltzmann machines and deep belief networks."""

from ._dbn import DBN
from ._rbm import RBM, RBMClassifier

__all__ = ["DBN", "RBM", "RBMClassifier"]
