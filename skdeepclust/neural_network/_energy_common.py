"""What the energy-based estimators (:class:`RBM`, :class:`RBMClassifier`, :class:`DBM`)
share: float64 copies of the model, the sampling generator, the stored ``log Z`` and
the warnings of their fits and AIS runs."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from .._torch import make_generator, seed_from
from .._training import user_stacklevel, warn_unconverged


class _EnergyEstimatorMixin:
    """Helpers of a fitted energy model held in ``module_`` (not public)."""

    def _float64_module(self):
        """A float64 copy of ``module_`` in eval mode (energies and ``log Z`` in float64)."""
        return copy.deepcopy(self.module_).to(torch.float64).eval()

    def _sampling_generator(self, random_state) -> torch.Generator:
        """The generator of a sampling or AIS call: from ``random_state`` when given, else
        the estimator's own stream (seeded by the fit; successive calls differ)."""
        rng = self._sampling_rng if random_state is None else check_random_state(random_state)
        return make_generator(seed_from(rng), self._device)

    def _numpy(self, t) -> np.ndarray:
        return t.detach().to("cpu").numpy().astype(self._dtype, copy=True)

    def _reset_log_partition(self) -> None:
        """End of a fit: ``log Z`` is exact when that is cheap (``_exact_feasible``), else
        unknown (None) until ``score_samples`` or ``log_partition`` estimates it."""
        self.log_partition_ = None
        self.log_partition_bounds_ = None
        self.log_partition_method_ = None
        if self._exact_feasible():
            self._set_log_partition("exact")

    def _store_log_partition(self, log_z: float, bounds, method: str) -> float:
        self.log_partition_ = log_z
        self.log_partition_bounds_ = bounds
        self.log_partition_method_ = method
        return log_z

    def _warn_unconverged(self, result, *, owner=None, phase: str = "training") -> None:
        """The ``tol`` rule on the reconstruction error ran out of ``max_epochs``."""
        warn_unconverged(
            self if owner is None else owner, result, phase=phase, max_epochs=self.max_epochs,
            rule=(f"the reconstruction error improved by less than tol={self.tol} for "
                  f"n_iter_no_change={self.n_iter_no_change} epochs"),
            advice="increase max_epochs, or set tol=None to train for exactly max_epochs")


def warn_unbracketed(name: str, log_z: float, n_betas: int, n_chains: int, need: int,
                     weights: str = "the weights") -> None:
    """AIS gave a lower bound of -inf: say so, and how many temperatures to add."""
    warnings.warn(
        f"{name} (AIS) did not bracket log Z with n_betas={n_betas} and n_chains={n_chains}: "
        "the lower bound is -inf (the importance weights' standard error is more than a "
        f"third of their mean), so the estimate {log_z:.4g} is unreliable. Add about "
        f"{need - n_betas} temperatures (log_partition(method='ais', n_betas={need})), "
        f"judged from the spread of {weights}.", ConvergenceWarning,
        stacklevel=user_stacklevel())
