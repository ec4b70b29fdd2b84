"""Restricted Boltzmann machines, deep belief networks and deep Boltzmann machines."""

from ._dbm import DBM
from ._dbn import DBN
from ._rbm import RBM
from ._rbm_classifier import RBMClassifier

__all__ = ["DBM", "DBN", "RBM", "RBMClassifier"]
