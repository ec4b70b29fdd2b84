"""The likelihood side of :class:`RBM`: energies, the log-partition function (exact,
AIS, reverse AIS) and the log-likelihood it gives."""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.utils.validation import check_array

from .._sparse import SPARSE_FORMATS
from ..nn import partition as _partition
from ..utils._sklearn_compat import check_is_fitted, validate_data
from ._energy_common import warn_unbracketed
from ._rbm_base import _writeable

#: ``log_partition`` methods.
PARTITION_METHODS = ("auto", "exact", "ais", "reverse_ais")
#: "auto" log Z is exact when 2**n_units * (n_visible + n_hidden) stays below this
#: (784-17 or 64-20 binary RBMs), AIS otherwise.
EXACT_AUTO_COST = 2**27


def temperatures_to_bracket(log_z: float, upper: float, n_chains: int, n_betas: int) -> int:
    """How many AIS temperatures a finite lower bound needs, from the upper bound.

    AIS reports ``log(mean +- 3 se)`` of its importance weights; the lower bound is finite
    when the relative standard error ``r = (exp(upper - log_z) - 1) / 3`` is below 1/3.
    Reading the weights as log-normal, their log-variance is ``log(1 + n_chains r^2)`` and
    must fall below ``log(1 + n_chains / 9)``; it falls about as ``1 / n_betas``, so the
    answer is ``n_betas`` times the ratio, at least doubled.
    """
    if not math.isfinite(upper) or not math.isfinite(log_z):
        return 10 * int(n_betas)
    r = math.expm1(min(upper - log_z, 700.0)) / 3.0
    var = math.log1p(n_chains * r * r)
    target = math.log1p(n_chains / 9.0)
    return max(2 * int(n_betas), math.ceil(n_betas * var / target))


#: The stored log Z: ``(log_partition_, log_partition_bounds_, log_partition_method_,
#: exact_pending)``; with ``exact_pending`` the first read of any of the three computes the
#: exact value (a ``partial_fit`` call costs its training only).
_LOG_Z_FIELDS = ("log_partition_", "log_partition_bounds_", "log_partition_method_")


def _log_z_attribute(i: int, doc: str) -> property:
    """``log_partition_`` (i = 0), ``_bounds_`` (1) or ``_method_`` (2) of :class:`RBM`,
    read from ``_log_z``; the exact log Z, when it is pending, is computed on first read."""
    name = _LOG_Z_FIELDS[i]

    def get(self):
        state = self.__dict__.get("_log_z")
        if state is None:
            if name in self.__dict__:  # pickled by an earlier release
                return self.__dict__[name]
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        if state[3]:
            self._set_log_partition("exact")
            state = self._log_z
        return state[i]

    def set(self, value):
        state = list(self.__dict__.get("_log_z") or (None, None, None, False))
        state[i], state[3] = value, False
        self._log_z = tuple(state)

    return property(get, set, doc=doc)


class _RBMLikelihoodMixin:
    """Energies, ``log_partition`` and ``score_samples`` of a fitted :class:`RBM`."""

    log_partition_ = _log_z_attribute(0, "log Z used by ``score_samples`` (or None).")
    log_partition_bounds_ = _log_z_attribute(1, "(lower, upper) bounds of log Z.")
    log_partition_method_ = _log_z_attribute(2, "How log Z was computed.")

    def _after_fit(self) -> None:
        """End of fit: the exact log Z is pending when it is cheap (``EXACT_AUTO_COST``),
        computed on the first read of ``log_partition_`` (or ``score_samples``), else None
        until :meth:`score_samples` or :meth:`log_partition` estimates it."""
        self._reset_log_partition()

    def _reset_log_partition(self) -> None:
        """log Z unknown; the exact value pending (computed when read) when it is cheap.
        Every ``fit`` and ``partial_fit`` ends here: a stream of ``partial_fit`` calls
        never enumerates states until a score needs them."""
        self._log_z = (None, None, None, self._exact_feasible())

    def _exact_feasible(self) -> bool:
        m = self.module_
        if not m.tractable:
            return False
        n = _partition.enumerable_units(m)[1]
        return n <= _partition.MAX_EXACT_UNITS and (
            2**n * (m.n_visible + m.n_labels + m.n_hidden) <= EXACT_AUTO_COST)

    def _set_log_partition(self, method, *, n_chains=100, n_betas=10000, k=1, X=None,
                           random_state=None) -> float:
        m = self._float64_module()
        if method == "exact":
            with torch.no_grad():
                lz = float(_partition.log_partition_exact(m))
            bounds = (lz, lz)
        else:
            g = self._sampling_generator(random_state)
            if method == "ais":
                est = _partition.annealed_importance_sampling(
                    m, n_chains=n_chains, betas=n_betas, k=k, generator=g, verbose=self.verbose)
            else:
                v0 = None
                if X is not None:
                    v0 = torch.as_tensor(_writeable(X), device=self._device)
                est = _partition.reverse_annealed_importance_sampling(
                    m, n_chains=n_chains, betas=n_betas, k=k, v_init=v0, generator=g,
                    verbose=self.verbose)
            lz, bounds = est.log_z, (est.lower, est.upper)
            if method == "ais" and not math.isfinite(est.lower):
                need = temperatures_to_bracket(est.log_z, est.upper, n_chains, n_betas)
                warn_unbracketed(type(self).__name__, lz, n_betas, n_chains, need)
        return self._store_log_partition(lz, bounds, method)

    def free_energy(self, X):
        """Free energy F(x) = -log p*(x) (hidden units summed out).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        F : ndarray of shape (n_samples,)
        """
        X = self._validate_rows(X)
        self._check_likelihood("free_energy")
        m = self._float64_module()
        return self._predict_rows(lambda x: m.free_energy(x.to(torch.float64)), X)

    def energy(self, X, H):
        """Energy E(x, h) of joint states, the negative log of their unnormalised
        probability: ``p(x, h) = exp(-E(x, h)) / Z``.

        It is the energy of the centered model (see :mod:`skdeepclust.nn.rbm`), which
        differs from the energy written with ``components_``, ``intercept_visible_`` and
        ``intercept_hidden_`` by a constant that :meth:`free_energy` and
        ``log_partition_`` share: ``-log sum_h exp(-E(x, h)) = free_energy(x)`` and
        ``log sum_{x, h} exp(-E(x, h)) = log_partition_``. Gaussian visibles: the
        energy of the density, ``1/2 ||(x - mu - b) / sigma||^2 - ...`` (no
        normalising constant).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Visible states.
        H : array-like of shape (n_samples, n_components)
            Hidden states (0/1 for binary hiddens; probabilities give the
            energy's linear interpolation).

        Returns
        -------
        E : ndarray of shape (n_samples,)
        """
        X = self._validate_rows(X)
        if sp.issparse(X):  # the joint [X, H] input is dense anyway
            X = X.toarray()
        self._check_likelihood("energy")
        H = check_array(H, dtype=[np.float64, np.float32])
        if H.shape != (X.shape[0], self.n_components):
            raise ValueError(
                f"H should have shape (n_samples, n_components) = "
                f"({X.shape[0]}, {self.n_components}) to match X; got {H.shape}.")
        m = self._float64_module()
        XH = np.hstack([X.astype(np.float64), H.astype(np.float64)])
        d = X.shape[1]
        return self._inference(
            lambda z: m.energy(z[:, :d].to(torch.float64), z[:, d:].to(torch.float64)),
            XH, out_dtype=X.dtype)

    def _check_likelihood(self, what: str) -> None:
        if not self.module_.tractable:
            raise ValueError(
                f"{what} needs a tractable free energy: binary hidden units and binary or "
                f"Gaussian visible units (this RBM has visible={self.visible!r}, "
                f"hidden={self.hidden!r}). Use reconstruction_error instead.")

    def score_samples(self, X):
        """True log-likelihood log p(x) = -F(x) - log Z of each sample (nats).

        ``log Z`` is exact when the smaller binary layer is small enough (see the class
        docstring; computed at the end of ``fit``); otherwise the first call estimates it
        by annealed importance sampling (100 chains, 10000 temperatures; optimistic on
        average) and stores it in ``log_partition_``. Call :meth:`log_partition` beforehand
        to choose the method (e.g. the conservative ``"reverse_ais"``). That first call is
        slow: its cost is 10000 Gibbs steps of 100 chains, linear in
        ``n_features * n_components`` (minutes for a 784-500 model on one CPU core);
        ``verbose=1`` shows its progress bar. The exact ``log Z`` costs
        ``2**units * (n_features + n_components)``, computed once after each ``fit`` or
        ``partial_fit``, by the first call that needs it.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        log_likelihood : ndarray of shape (n_samples,)
        """
        X = self._validate_rows(X)
        self._check_likelihood("score_samples")
        if self.log_partition_ is None:
            self._set_log_partition("ais", **self._lazy_ais)
        lz = self.log_partition_
        m = self._float64_module()
        return self._predict_rows(
            lambda x: m.log_unnormalized_visible(x.to(torch.float64)) - lz, X)

    def score(self, X, y=None):
        """Mean log-likelihood of ``X`` (see :meth:`score_samples`).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        score : float
        """
        return float(np.mean(self.score_samples(X)))

    def log_partition(self, method="auto", *, n_chains=100, n_betas=10000, k=1, X=None,
                      random_state=None):
        """Compute log Z and store it (``log_partition_``, ``_bounds_``, ``_method_``).

        Parameters
        ----------
        method : {"auto", "exact", "ais", "reverse_ais"}, default="auto"
            "auto" is exact when enumerating the smaller binary layer is cheap
            (``2**units * (n_features + n_components) <= 2**27``), else AIS.
            "exact" enumerates that layer (refused beyond 25 units). AIS anneals from a
            base model of independent visibles and tends to underestimate log Z
            (optimistic likelihoods); reverse AIS starts from model samples and tends to
            overestimate it (conservative likelihoods).
        n_chains : int, default=100
            AIS runs (reverse AIS: ignored when ``X`` is given).
        n_betas : int, default=10000
            Linearly spaced inverse temperatures.
        k : int, default=1
            Gibbs steps per temperature.
        X : {array-like, sparse matrix} of shape (n_chains, n_features), default=None
            Reverse AIS: start the runs from these samples (e.g. training data).
        random_state : int, RandomState instance or None, default=None

        Returns
        -------
        log_z : float
        """
        check_is_fitted(self)
        if method not in PARTITION_METHODS:
            raise ValueError(
                f"Unknown method {method!r}; valid options are {list(PARTITION_METHODS)}.")
        m = self.module_
        if not m.tractable:
            raise ValueError(
                f"log_partition is not available for visible={self.visible!r}, "
                f"hidden={self.hidden!r}: rectified units have no tractable partition "
                "function (neither exact nor AIS).")
        if method == "auto":
            method = "exact" if self._exact_feasible() else "ais"
        if X is not None:
            X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32],
                              accept_sparse=SPARSE_FORMATS)
            if sp.issparse(X):  # n_chains starting states
                X = X.toarray()
        return self._set_log_partition(method, n_chains=n_chains, n_betas=n_betas, k=k, X=X,
                                       random_state=random_state)

