"""Restricted Boltzmann machines: RBM (transformer with a true log-likelihood) and RBMClassifier."""

from __future__ import annotations

import copy
import math
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import ClassifierMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, column_or_1d
from torch import Tensor

from .._config import compute_dtype_for
from .._torch import make_generator, seed_from
from .._training import TrainingResult, train_loop, warn_unconverged
from ..base import PartialFitMixin, TorchEstimator
from ..exceptions import TrainingDivergedError
from ..nn import partition as _partition
from ..nn.rbm import HIDDEN_UNITS, OFFSET_TYPES, VISIBLE_UNITS
from ..nn.rbm import RBM as RBMModule
from ..nn.rbm_training import RBMUpdater
from ..nn.sampling import (
    IndependentParallelTemperingSampler,
    PersistentGibbsSampler,
    PooledParallelTemperingSampler,
    initial_states,
    ipt_ladders,
)
from ..utils._sklearn_compat import (
    Interval,
    StrOptions,
    _fit_context,
    check_is_fitted,
    validate_data,
)

__all__ = ["RBM", "RBMClassifier"]

#: Training methods: how the negative (model) phase of the gradient is obtained.
METHODS = ("cd", "pcd", "pt", "ipt", "exact")
#: ``log_partition`` methods.
PARTITION_METHODS = ("auto", "exact", "ais", "reverse_ais")
#: ``sample`` methods.
SAMPLE_METHODS = ("gibbs", "pt", "exact")
#: method="exact" training is refused beyond this many units in the enumerated layer.
EXACT_AUTO_UNITS = 20
#: "auto" log Z is exact when 2**n_units * (n_visible + n_hidden) stays below this
#: (784-17 or 64-20 binary RBMs: a few seconds on one core), AIS otherwise.
EXACT_AUTO_COST = 2**27
_LEARNING_RATE_KEYS = ("weight", "visible_bias", "hidden_bias", "sigma")
#: learning_rate="auto": 0.01 * sqrt(_AUTO_RATE_UPDATES / updates of the fit), within these
#: bounds (by whether the visible units are Gaussian with a learned sigma): 0.01 at PyDeep's
#: MNIST budget (60 000 rows, batch 100, 50 epochs), larger for the few updates of a
#: small data set.
_AUTO_RATE_UPDATES = 30000
_AUTO_RATE_RANGE = {False: (0.01, 0.1), True: (0.01, 0.05)}
#: A learned sigma's rate when learning_rate gives none: this fraction of the weights'.
_SIGMA_RATE_FRACTION = 0.1
#: The per-step reconstruction error (loss_curve_) is measured on the first tenth of the
#: batch (at most this many rows): batches are shuffled, so the epoch mean stays unbiased
#: at a fraction of the cost (a quarter of the batch cost 5 % of a 784-500 PCD step).
_LOSS_ROWS = 16
#: The fused binary update uses sparse kernels when the training data's mean is below this.
_SPARSE_DENSITY = 0.3


def _loss_rows(batch: int) -> int:
    return min(_LOSS_ROWS, -(-batch // 10))


def count_updates(n_samples: int, batch_size: int, epochs: int) -> int:
    """Minibatch updates of ``epochs`` passes over ``n_samples`` rows (the last batch short)."""
    n = max(1, n_samples)
    return -(-n // max(1, min(batch_size, n))) * max(1, epochs)


def auto_learning_rate(n_updates: int, learned_sigma: bool = False) -> float:
    """``learning_rate="auto"``: ``0.01 * sqrt(_AUTO_RATE_UPDATES / n_updates)`` within
    ``_AUTO_RATE_RANGE`` (tighter when a Gaussian sigma is learned)."""
    lo, hi = _AUTO_RATE_RANGE[learned_sigma]
    return float(np.clip(0.01 * np.sqrt(_AUTO_RATE_UPDATES / n_updates), lo, hi))


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


def check_binary_visible(X: np.ndarray, allow_probabilities: bool) -> None:
    """Binary visible units read 0/1 data, or values in [0, 1] as probabilities when
    ``allow_probabilities``; anything else raises a ValueError saying what to do."""
    if not X.size:
        return
    if allow_probabilities:
        lo, hi = float(X.min()), float(X.max())
        if lo < 0 or hi > 1:
            raise ValueError(
                "visible='binary' with allow_probabilities=True needs X in [0, 1]; got "
                f"values in [{lo:.4g}, {hi:.4g}]. Scale X (e.g. MinMaxScaler) or use "
                "visible='gaussian'.")
    elif not np.all((X == 0) | (X == 1)):
        lo, hi = float(X.min()), float(X.max())
        raise ValueError(
            "visible='binary' needs binary X (only 0 and 1); got values in "
            f"[{lo:.4g}, {hi:.4g}] that are not all 0/1. Binarize X (e.g. X > 0.5), "
            "pass allow_probabilities=True to read values in [0, 1] as "
            "probabilities, or use visible='gaussian'.")


class _BaseRBM(TorchEstimator):
    """Shared machinery of :class:`RBM` and :class:`RBMClassifier` (not public)."""

    _parameter_constraints: dict = {
        **TorchEstimator._parameter_constraints,
        "warm_start": ["boolean"],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "visible": [StrOptions(set(VISIBLE_UNITS))],
        "hidden": [StrOptions(set(HIDDEN_UNITS))],
        "learn_sigma": ["boolean", StrOptions({"auto"})],
        "init_sigma": [StrOptions({"auto"}), Interval(Real, 0, None, closed="neither")],
        "centered": ["boolean"],
        "use_centered_gradient": ["boolean"],
        "offset_type": [StrOptions(set(OFFSET_TYPES))],
        "offset_learning_rate": [Interval(Real, 0, 1, closed="both")],
        "method": [StrOptions(set(METHODS))],
        "k": [Interval(Integral, 1, None, closed="left")],
        "n_chains": [Interval(Integral, 1, None, closed="left"), None],
        "n_temperatures": [Interval(Integral, 2, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither"), dict, StrOptions({"auto"})],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "l1": [Interval(Real, 0, None, closed="left")],
        "l2": [Interval(Real, 0, None, closed="left")],
        "sparsity_target": [Interval(Real, 0, 1, closed="neither")],
        "sparsity_weight": [Interval(Real, 0, None, closed="left")],
        "max_grad_norm": [Interval(Real, 0, None, closed="neither"), None],
        "max_grad_norm_axis": [StrOptions({"cols", "rows", "mat"})],
        "use_hidden_states": ["boolean"],
        "init_weights": [StrOptions({"auto"}), Interval(Real, 0, None, closed="left"),
                         "array-like"],
        "init_hidden_bias": [StrOptions({"auto"}), Real, "array-like"],
        "init_visible_bias": [StrOptions({"auto", "data_mean"}), Real, "array-like"],
        "allow_probabilities": ["boolean"],
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
    }

    _transient_attributes = ("_optimizer", "_updater", "_sampler")
    #: What learn_sigma="auto" means for Gaussian visible units.
    _auto_learn_sigma = False

    # ------------------------------------------------------------------ checks
    def _n_labels(self) -> int:
        return 0

    def _check_params_vs_input(self, X: np.ndarray) -> None:
        if isinstance(self.learning_rate, dict):
            unknown = set(self.learning_rate) - set(_LEARNING_RATE_KEYS)
            if unknown:
                raise ValueError(
                    f"Unknown learning_rate keys {sorted(unknown)}; valid keys are "
                    f"{list(_LEARNING_RATE_KEYS)}.")
            bad = {k: v for k, v in self.learning_rate.items()
                   if not isinstance(v, Real) or not v >= 0}
            if bad:
                raise ValueError(f"learning_rate values must be floats >= 0; got {bad}.")
        if self.visible == "binary":
            check_binary_visible(X, self.allow_probabilities)
        if self.visible != "binary" and X.size:
            # energies square the inputs: beyond sqrt(max) / 1e4 they overflow the dtype
            compute = np.dtype(compute_dtype_for(X.dtype))
            limit = float(np.sqrt(np.finfo(compute).max)) * 1e-4
            peak = float(np.max(np.abs(X)))
            if peak > limit:
                raise ValueError(
                    f"X has values up to {peak:.3g}: too large for {self.visible} visible "
                    f"units in {compute} (their energies square the inputs; the limit is "
                    f"{limit:.3g}). Rescale X (e.g. StandardScaler) or compute in float64 "
                    "(skdeepclust.set_config(compute_dtype='float64')).")
        if self.visible == "rectified" and X.size and float(X.min()) < 0:
            raise ValueError(
                f"visible='rectified' needs X >= 0; got a minimum of {float(X.min()):.4g}.")
        tractable = self.hidden == "binary" and self.visible != "rectified"
        if self.method in ("pt", "ipt") and (not tractable or self._n_labels()):
            raise ValueError(
                f"method={self.method!r} (parallel tempering) needs binary hidden units, "
                "binary or Gaussian visible units and no label units (free energies at every "
                "temperature); use method='pcd' or 'cd'.")
        if self.method == "exact":
            if not tractable:
                raise ValueError(
                    "method='exact' needs a tractable partition function: binary hidden "
                    "units and binary or Gaussian visible units; use method='pcd'.")
            n = self.n_components
            if self.visible == "binary" and not self._n_labels():
                n = min(n, X.shape[1])
            if n > EXACT_AUTO_UNITS:
                raise ValueError(
                    f"method='exact' enumerates 2**{n} states at every step; it is meant for "
                    f"tiny models with at most {EXACT_AUTO_UNITS} units in the smaller binary "
                    "layer. Use method='pcd' (or 'pt') instead.")
            if set(self.offset_type) & {"M", "A"}:
                raise ValueError(
                    f"offset_type={self.offset_type!r} needs model samples; method='exact' "
                    "supports the offset types made of 'D' and '0' only.")
        if self.n_chains is not None and self.method == "cd":
            raise ValueError("n_chains applies to method='pcd', 'pt' or 'ipt', not 'cd' "
                             "(whose chains start at the minibatch).")

    # ------------------------------------------------------------------ model
    def _resolve_learn_sigma(self) -> bool:
        if self.learn_sigma == "auto":
            return self.visible == "gaussian" and self._auto_learn_sigma
        return bool(self.learn_sigma) and self.visible == "gaussian"

    def _resolve_learning_rate(self) -> dict[str, float]:
        """Every key of ``_LEARNING_RATE_KEYS``: "auto" is ``_AUTO_RATE`` by whether sigma
        is learned; a float is the rate of the weights and biases; keys a dict leaves out
        take the weights' rate (whose own default is the "auto" one), and a learned sigma
        a tenth of it."""
        learned = self.visible == "gaussian" and bool(
            getattr(self, "_learn_sigma", self._resolve_learn_sigma()))
        auto = auto_learning_rate(self._n_updates, learned)
        lr = self.learning_rate
        given = dict(lr) if isinstance(lr, dict) else {}
        base = auto if isinstance(lr, str) else (
            float(lr) if not isinstance(lr, dict) else float(given.get("weight", auto)))
        rates = {k: float(given.get(k, base)) for k in _LEARNING_RATE_KEYS[:3]}
        rates["sigma"] = float(given.get("sigma", _SIGMA_RATE_FRACTION * rates["weight"]))
        return rates

    def _make_module(self, n_features: int) -> RBMModule:
        return RBMModule(n_features, self.n_components, visible=self.visible,
                         hidden=self.hidden, n_labels=self._n_labels(),
                         learn_sigma=self._learn_sigma)

    # ------------------------------------------------------------------ fit hooks
    def _visible(self, X: np.ndarray, y) -> Tensor:
        """The training tensor of the visible layer (on the CPU): ``X``, and the one-hot
        labels appended for the classifier."""
        return torch.as_tensor(_writeable(X))

    def _initialize(self, X, y) -> None:
        """Build and initialise the module from the training tensor (labels appended)."""
        self._check_params_vs_input(X)
        V = self._visible(X, y)
        self._learn_sigma = self._resolve_learn_sigma()
        # updates of the fit (partial_fit: of max_epochs calls like the first), for "auto"
        self._n_updates = count_updates(X.shape[0], self.batch_size, self.max_epochs)
        n_features = X.shape[1]
        module = self._build_module_seeded(lambda: self._make_module(n_features))
        V = V.to(self._device, self._torch_dtype)
        g = make_generator(seed_from(self._rng), self._device)
        nl = self._n_labels()
        data, labels = (V[:, :n_features], V[:, n_features:]) if nl else (V, None)
        weight_scale = self.init_weights if isinstance(self.init_weights, (str, Real)) else "auto"
        module.initialize(data, generator=g, weight_scale=weight_scale, centered=self.centered,
                          sigma=self.init_sigma, labels=labels)
        with torch.no_grad():
            if not isinstance(self.init_weights, (str, Real)):
                w = check_array(self.init_weights, ensure_2d=True)
                if w.shape != (self.n_components, n_features + nl):
                    raise ValueError(
                        f"init_weights has shape {w.shape}; expected (n_components, n_features)"
                        f" = {(self.n_components, n_features + nl)}.")
                module.weight.copy_(torch.as_tensor(w.T, dtype=module.weight.dtype))
            if not isinstance(self.init_hidden_bias, str):
                c = np.array(np.broadcast_to(
                    np.asarray(self.init_hidden_bias, dtype=np.float64), (self.n_components,)))
                module.hidden_bias.copy_(torch.as_tensor(c, dtype=module.weight.dtype))
            b = self._initial_visible_bias(n_features)
            if b is not None:
                module.visible_bias[:n_features] = torch.as_tensor(b, dtype=module.weight.dtype)
            self._gradient_offsets = None
            if self.centered and self.use_centered_gradient:
                # PyDeep's centered gradient: the same initial model as a normal RBM, the
                # offsets kept by the updater
                self._gradient_offsets = (module.visible_offset.clone(),
                                          module.hidden_offset.clone())
                module.update_offsets(torch.zeros_like(module.visible_offset),
                                      torch.zeros_like(module.hidden_offset), 1.0, 1.0)
        self.module_ = module
        self._updater = self._make_updater()
        self._sampler = None
        self._sampling_rng = np.random.RandomState(seed_from(self._rng))
        # training draws from a generator seeded after these (the seeds of earlier
        # releases: same random_state, same model)
        self._generator = self._next_generator()

    def _resume_fit(self, X, y) -> None:
        self._check_params_vs_input(X)
        if getattr(self, "_updater", None) is None:  # e.g. after unpickling
            self._updater = self._make_updater()
            self._sampler = None
        else:  # the current hyper-parameters (schedules via set_params), same momentum
            fresh = self._make_updater()
            fresh.velocity = self._updater.velocity
            self._updater = fresh

    def _train(self, X, y, *, partial: bool) -> TrainingResult:
        name = type(self).__name__ + (" (partial_fit)" if partial else "")
        return self._run_epochs(self._visible(X, y), 1 if partial else self.max_epochs, name)

    def _finish_fit(self, X, y, result, *, partial: bool) -> None:
        if not partial and self.tol is not None:
            # a DBN sets _reported_as to (itself, "layer i of n") on the RBMs it trains
            owner, phase = getattr(self, "_reported_as", None) or (self, "training")
            warn_unconverged(
                owner, result, phase=phase, max_epochs=self.max_epochs,
                rule=(f"the reconstruction error improved by less than tol={self.tol} for "
                      f"n_iter_no_change={self.n_iter_no_change} epochs"),
                advice="increase max_epochs, or set tol=None to train for exactly max_epochs")
        self._after_fit()

    def _initial_visible_bias(self, n_features: int) -> np.ndarray | None:
        """The visible bias ``init_visible_bias`` asks for; None keeps the data mean's
        (``module.initialize``: PyDeep's "AUTO")."""
        spec = self.init_visible_bias
        if isinstance(spec, str):  # "auto" is "data_mean" (measured, see the docstring)
            return None
        b = np.asarray(spec, dtype=np.float64)
        if b.ndim > 1 or (b.ndim == 1 and b.shape[0] != n_features):
            raise ValueError(f"init_visible_bias has shape {b.shape}; expected a float or "
                             f"shape (n_features,) = ({n_features},).")
        return np.array(np.broadcast_to(b, (n_features,)))

    def _make_updater(self) -> RBMUpdater:
        rate = self.offset_learning_rate if self.centered else 0.0
        self._learning_rate = self._resolve_learning_rate()
        return RBMUpdater(
            self.module_, learning_rate=self._learning_rate, momentum=self.momentum,
            l1=self.l1, l2=self.l2,
            sparsity_target=self.sparsity_target, sparsity_weight=self.sparsity_weight,
            max_norm=self.max_grad_norm, max_norm_axis=self.max_grad_norm_axis,
            offset_type=self.offset_type, offset_rate=(rate, rate),
            use_hidden_states=self.use_hidden_states,
            gradient_offsets=getattr(self, "_gradient_offsets", None))

    def _make_sampler(self, generator: torch.Generator, batch_size: int):
        m = self.module_
        if self.method == "pcd":
            return PersistentGibbsSampler(m, self.n_chains or batch_size, generator)
        if self.method == "pt":
            return PooledParallelTemperingSampler(m, self.n_chains or batch_size,
                                                  self.n_temperatures, generator)
        if self.method == "ipt":
            n = self.n_chains or batch_size
            return PooledParallelTemperingSampler(
                m, n, self.n_temperatures, generator,
                n_ladders=ipt_ladders(n, self.n_temperatures))
        return None

    def _negative_phase(self, v: Tensor, generator: torch.Generator) -> Tensor:
        if self.method == "cd":
            return self.module_.gibbs(v, self.k, None, generator)
        return self._sampler.sample(None, self.k)

    def _exact_step(self, v: Tensor) -> Tensor:
        m = self.module_
        upd = self._updater
        rate = upd.offset_rate
        with torch.no_grad():
            p_pos = m.prob_h(v)
            if rate[0] or rate[1]:
                tv, th = self.offset_type
                new_v = v.mean(0) if tv == "D" else torch.zeros_like(m.visible_offset)
                new_h = p_pos.mean(0) if th == "D" else torch.zeros_like(m.hidden_offset)
                upd.move_offsets(new_v, new_h)
        names = [n for n, p in m.named_parameters() if p.requires_grad]
        params = [getattr(m, n) for n in names]
        with torch.enable_grad():
            objective = m.free_energy(v).mean() + _partition.log_partition_exact(m)
            grads = torch.autograd.grad(objective, params)
        grads = {n: -g for n, g in zip(names, grads)}
        if upd.gradient_offsets is not None:
            grads = upd.center_gradient(grads)
        upd.apply(grads, hidden_mean=p_pos.mean(0))
        return p_pos

    def _run_epochs(self, V: Tensor, max_epochs: int, phase: str) -> TrainingResult:
        generator = self._generator
        V = V.to(self._device, self._torch_dtype)
        m = self.module_
        batch_size = max(1, min(self.batch_size, V.shape[0]))
        if self._sampler is None:
            self._sampler = self._make_sampler(generator, batch_size)
        if self._sampler is not None:
            self._sampler.generator = generator
        m.train()
        upd = self._updater
        if self.method in ("cd", "pcd", "pt", "ipt") and upd.fused_supported:
            # Binary-binary RBM: the fused update (same statistics, fewer and cheaper
            # passes). Sparse kernels for the visible products on CPU when the data are
            # exactly binary and mostly zeros (4-5x cheaper products on MNIST): numba
            # kernels when numba imports (compiled on the first update, then cached).
            mask = None
            if (self._device.type == "cpu" and not self.allow_probabilities
                    and float(V.mean()) < _SPARSE_DENSITY):
                mask = V.bool()
            sampler = self._sampler

            def fused(idx: Tensor) -> Tensor:
                # sparse: the bool rows are all the fused step reads (no float gather)
                v = V[idx] if mask is None else None
                chain_prob = None
                if sampler is not None:
                    chain_prob = sampler.hidden_prob
                    if chain_prob is None:  # first step, binary chains: sparse if possible
                        chain_prob = upd.binary_hidden_prob(sampler.chains, mask is not None)
                v_neg, p_neg, loss = upd.fused_step(
                    v, chain_prob, generator, k=self.k,
                    sparse=None if mask is None else mask[idx], n_loss=_loss_rows(idx.shape[0]))
                if sampler is not None:
                    sampler.chains, sampler.hidden_prob = v_neg, p_neg
                if self.method in ("pt", "ipt"):  # beta = 1 chains swept in the fused step
                    sampler.sweep_auxiliary(self.k)
                    sampler.swap()
                    new = sampler.swapped_
                    if new.numel():
                        p_neg = p_neg.clone()
                        p_neg[new] = m.prob_h(sampler.chains[new])
                        sampler.hidden_prob = p_neg
                return loss

            step = fused
        else:
            step = self._generic_step(V, generator)
        suggestion = ("Try a smaller learning_rate (or a per-parameter dict with a smaller "
                      "'sigma' rate), standardize or whiten Gaussian inputs, or compute in "
                      "float64 (skdeepclust.set_config(compute_dtype='float64')).")

        def check(epoch: int, loss: float) -> None:
            problem = _parameter_problem(m)
            if problem:
                raise TrainingDivergedError(
                    f"{phase} diverged: {problem} at epoch {self._history.n_iter}. "
                    f"{suggestion}")

        try:
            self._history = train_loop(
                step, n_samples=V.shape[0], batch_size=self.batch_size, max_epochs=max_epochs,
                generator=generator, optimizer=None, phase=phase, verbose=self.verbose,
                tol=self.tol, n_iter_no_change=self.n_iter_no_change, result=self._history,
                on_epoch_end=check, suggestion=suggestion)
        except TrainingDivergedError as err:
            problem = _parameter_problem(m)
            if problem and "parameter" not in str(err):  # the loss check fired first
                raise TrainingDivergedError(f"{err} ({problem})") from None
            raise
        return self._history

    def _generic_step(self, V: Tensor, generator: torch.Generator):
        m = self.module_

        def step(idx: Tensor) -> Tensor:
            v = V[idx]
            if self.method == "exact":
                p_pos = self._exact_step(v)
            else:
                with torch.no_grad():
                    p_pos = self._updater.step(v, self._negative_phase(v, generator), generator)
                if self.method in ("pcd", "pt", "ipt"):  # next hidden draw reuses p(h|v_neg)
                    self._sampler.hidden_prob = self._updater.negative_hidden_prob
            with torch.no_grad():  # monitoring loss on a tenth of the batch, <= 16 rows
                n = _loss_rows(v.shape[0])
                return (m.prob_v(p_pos[:n]) - v[:n]).pow(2).mean()

        return step

    def _after_fit(self) -> None:
        pass

    # ------------------------------------------------------------------ helpers
    def _float64_module(self) -> RBMModule:
        m = copy.deepcopy(self.module_)
        return m.to(torch.float64).eval()

    def _sampling_generator(self, random_state) -> torch.Generator:
        rng = self._sampling_rng if random_state is None else check_random_state(random_state)
        return make_generator(seed_from(rng), self._device)

    # ------------------------------------------------------------- attributes
    @property
    def _n_features_out(self) -> int:
        return self.module_.hidden_bias.shape[0]  # AttributeError before fit: NotFittedError

    def _numpy(self, t: Tensor) -> np.ndarray:
        return t.detach().to("cpu").numpy().astype(self._dtype, copy=True)

    @property
    def components_(self) -> np.ndarray:
        """Weights, shape (n_components, n_visible): BernoulliRBM's convention (W^T)."""
        return self._numpy(self.module_.weight.T)

    @property
    def intercept_hidden_(self) -> np.ndarray:
        """Hidden bias of the equivalent uncentered model (BernoulliRBM convention).

        ``transform(X) = sigmoid(X' @ components_.T + intercept_hidden_)`` with
        ``X' = X`` (binary visibles) or ``X / sigma_**2`` (Gaussian visibles).
        """
        m = self.module_
        iv = m._inv_var()
        mu = m.visible_offset if iv is None else m.visible_offset * iv
        return self._numpy(m.hidden_bias - mu @ m.weight)

    @property
    def intercept_visible_(self) -> np.ndarray:
        """Visible bias of the equivalent uncentered model.

        Binary visibles: the logits of p(x | h = 0); Gaussian visibles: E[x | h = 0].
        """
        m = self.module_
        b = m.visible_bias - m.weight @ m.hidden_offset
        if m.gaussian:
            b = b + m.visible_offset * torch.cat(
                [torch.ones(m.n_visible, dtype=b.dtype, device=b.device),
                 torch.zeros(m.n_labels, dtype=b.dtype, device=b.device)])
        return self._numpy(b)

    @property
    def visible_offset_(self) -> np.ndarray:
        """Centering offsets of the visible units (zero for a normal RBM)."""
        return self._numpy(self.module_.visible_offset)

    @property
    def hidden_offset_(self) -> np.ndarray:
        """Centering offsets of the hidden units (zero for a normal RBM)."""
        return self._numpy(self.module_.hidden_offset)

    @property
    def sigma_(self) -> np.ndarray | None:
        """Standard deviations of Gaussian visibles (None for other visible units)."""
        s = self.module_.sigma
        return None if s is None else self._numpy(s)


_COMMON_DOC = """
    visible : {"binary", "gaussian", "rectified"}, default="binary"
        Visible units. Binary units need 0/1 data (see ``allow_probabilities``);
        Gaussian units model real data at any scale (their updates are taken in units of
        each feature's sigma, the same as on standardised data; a constant feature keeps
        zero weights and a sigma of 1e-3 times the median standard deviation of the
        others, so its density stays finite; values beyond ``sqrt(dtype max) / 1e4`` are
        refused); rectified units are noisy ReLUs for non-negative data (no tractable
        likelihood).
    hidden : {"binary", "rectified"}, default="binary"
        Hidden units; rectified (noisy ReLU) hiddens have no tractable likelihood.
    learn_sigma : bool or "auto", default="auto"
        Gaussian visibles: train the standard deviations too, in log space (at most a
        factor ``e**0.1`` per update, kept between 0.05 and 100 times each feature's
        standard deviation), at the ``"sigma"`` learning rate (by default a tenth of the
        weights'). "auto" learns sigma in :class:`RBMClassifier` (sharper class
        conditionals: clearly higher held-out accuracy) and keeps it at the data's
        standard deviation in :class:`RBM` (a learned sigma gave better features but a
        lower held-out log-likelihood); pass True or False to choose. Ignored by binary
        and rectified visible units.
    init_sigma : "auto" or float, default="auto"
        Gaussian visibles: initial standard deviation ("auto": the data's).
    centered : bool, default=True
        Centered RBM (Melchior et al. 2016): energies use ``x - mu`` and ``h - lambda``
        with offsets tracking the data means. False gives the normal RBM.
    offset_type : str, default="DD"
        How the offsets move (visible, hidden): D data mean, M model mean, A their
        average, 0 zero.
    offset_learning_rate : float, default=0.01
        Moving-average rate of the offsets (0 keeps the initial offsets).
    use_centered_gradient : bool, default=False
        With ``centered=True``: keep the offsets in the optimiser instead of the model
        (PyDeep's ``use_centered_gradient``). The fitted model is then a normal RBM
        (``visible_offset_`` and ``hidden_offset_`` are zero) trained by the centered
        gradient; without momentum, ``l1``, ``l2`` or ``max_grad_norm`` it is the same fit
        as the default (up to rounding), with them these act on the normal parameters. It never
        uses the fused binary update, so it is slower; use it to reproduce PyDeep or to
        hand a normal RBM to code that does not know offsets. Ignored when
        ``centered=False``.
    method : {"cd", "pcd", "pt", "ipt", "exact"}, default="pcd"
        Negative phase of the gradient: contrastive divergence (chains start at the
        minibatch), persistent CD, parallel tempering (``n_chains`` persistent chains at
        beta = 1 and ``ceil(n_chains / (n_temperatures - 1))`` at each lower temperature,
        randomly paired and swapped in parallel once per update: about 3x the cost of
        "pcd" at 10 temperatures), independent parallel tempering (the same chains split
        into ``n_chains // (n_temperatures - 1)`` ladders that never exchange states, each
        with one chain per temperature below 1: a similar cost; PyDeep's IPT gives every
        negative sample its own full ladder, ``n_temperatures`` times the Gibbs work of
        "pcd"), or the exact gradient through the enumerated partition function (tiny
        models only).
    k : int, default=1
        Gibbs steps per update.
    n_chains : int or None, default=None
        Persistent chains ("pcd"; default ``batch_size``) or chains at beta = 1 ("pt" and
        "ipt"; default ``batch_size``).
    n_temperatures : int, default=3
        Temperatures of "pt" / "ipt", equally spaced in [0, 1].
    learning_rate : "auto", float or dict, default="auto"
        Step size of the weights and biases, or per-parameter step sizes with keys
        "weight", "visible_bias", "hidden_bias" and "sigma" (missing keys take "weight"'s
        rate, itself "auto"'s when missing; PyDeep's tutorials use e.g. ``{"weight": 1,
        "visible_bias": 0, "hidden_bias": 1, "sigma": 0.1}``). A learned sigma moves at a
        tenth of the weights' rate unless the dict gives "sigma" (at the full rate it
        collapses onto its floor and training turns unstable). "auto" resolves (into
        ``_learning_rate``) to ``0.01 * sqrt(30000 / updates)``, where ``updates =
        ceil(n_samples / batch_size) * max_epochs`` (of the first call, for
        ``partial_fit``), kept within [0.01, 0.1], or [0.01, 0.05] for Gaussian visibles
        with a learned sigma: 0.01 (PyDeep's rate) for MNIST-sized fits of 30 000 updates
        or more, larger for the few hundred updates of a small data set (digits: 0.065,
        Gaussian with learned sigma 0.05), which 0.01 leaves underfitted. Lower it if
        training diverges; raise it (or ``max_epochs``) when the model underfits, i.e.
        training and held-out scores are equal and still improving.
    momentum : float, default=0.0
    l1, l2 : float, default=0.0
        Weight decay on the weights.
    sparsity_target : float, default=0.05
        Target mean hidden activation of the sparsity term.
    sparsity_weight : float, default=0.0
        Strength of the sparsity term (0 disables it).
    max_grad_norm : float or None, default=None
        Restrict the norm of each weight update (PyDeep's ``restrict_gradient``).
    max_grad_norm_axis : {"cols", "rows", "mat"}, default="cols"
        Per hidden unit, per visible unit, or the whole matrix.
    use_hidden_states : bool, default=False
        Use sampled hidden states instead of probabilities in the gradient statistics.
    init_weights : "auto", float or array-like of shape (n_components, n_features), \
default="auto"
        "auto": U(+-4 sqrt(6 / (n_features + n_components))), divided by 4 for Gaussian
        visibles; a float: N(0, init_weights^2); an array: these weights.
    init_hidden_bias : "auto", float or array-like of shape (n_components,), \
default="auto"
        "auto" is zero.
    init_visible_bias : "auto", "data_mean", float or array-like of shape (n_features,), \
default="auto"
        Initial visible bias ``b`` of the (centered) energy. "data_mean" makes the
        visible units reproduce the data means when the hiddens sit at their offsets:
        binary units start at the logits of the data means clipped to [0.001, 0.999]
        (PyDeep's "AUTO"), Gaussian units at the data means. "auto" is "data_mean": on
        binarised digits it gave a higher held-out log-likelihood than zero biases for
        centered and normal RBMs after 10 and 50 epochs (by up to 1.6 nats after the
        short fits; ``benchmarks/bench_rbm.py visible_bias``). A float or an array sets
        ``b``.
    allow_probabilities : bool, default=False
        Binary visibles: accept X in [0, 1], read as probabilities (mean-field data),
        instead of requiring exact 0/1 values.
    batch_size : int, default=100
    max_epochs : int, default=50
    tol : float or None, default=None
        Stop when the epoch's reconstruction error has not improved by ``tol`` for
        ``n_iter_no_change`` epochs (``converged_`` is then True); reaching
        ``max_epochs`` first warns with ``ConvergenceWarning``. None (the default) always
        runs ``max_epochs``: a fixed budget, no warning, ``converged_`` False. The
        reconstruction error is not the likelihood that training follows; under PCD it is
        noisy from epoch to epoch and can rise while the model still improves, so a
        ``tol`` rule on it stops many fits too early. Judge convergence by held-out
        ``score`` (or downstream accuracy) over ``max_epochs``.
    n_iter_no_change : int, default=10
    warm_start : bool, default=False
        When True, ``fit`` on a fitted model continues training it for ``max_epochs``
        more epochs from the fitted parameters instead of starting anew; ``n_iter_``
        and ``loss_curve_`` accumulate (as in scikit-learn's ``MLPRegressor``). ``X``
        must have the fitted number of features. Momentum and the persistent chains
        carry over (unless the model was pickled). A warm ``fit`` or a ``partial_fit``
        call trains with the current ``learning_rate``, ``momentum`` and penalties, so
        ``set_params`` between calls runs a schedule (e.g. a decaying learning rate).
    device : str or torch.device, default="auto"
        "auto" (a GPU when there is one), "cpu", "cuda", "cuda:N", "mps".
    random_state : int, RandomState instance or None, default=None
        Controls the initialisation, minibatch order and every Gibbs / tempering draw of
        training; it also seeds later ``gibbs``, ``sample`` and AIS calls that get no
        ``random_state`` of their own. The same seed on the CPU gives the same model.
    verbose : int, default=0
        1 shows a progress bar (training, and the AIS estimate of ``log Z`` that the
        first ``score_samples`` call of a large model runs)."""


def _inject_doc(cls):
    cls.__doc__ = cls.__doc__.replace("    %(common)s", _COMMON_DOC.strip("\n"))
    return cls


def _rbm_init(self, n_components, visible, hidden, learn_sigma, init_sigma, centered,
              offset_type, offset_learning_rate, method, k, n_chains, n_temperatures,
              learning_rate, momentum, l1, l2, sparsity_target, sparsity_weight,
              max_grad_norm, max_grad_norm_axis, use_hidden_states, init_weights,
              init_hidden_bias, allow_probabilities, batch_size, max_epochs, tol,
              n_iter_no_change, warm_start, device, random_state, verbose, use_centered_gradient,
              init_visible_bias):
    self.n_components = n_components
    self.visible = visible
    self.hidden = hidden
    self.learn_sigma = learn_sigma
    self.init_sigma = init_sigma
    self.centered = centered
    self.use_centered_gradient = use_centered_gradient
    self.offset_type = offset_type
    self.offset_learning_rate = offset_learning_rate
    self.method = method
    self.k = k
    self.n_chains = n_chains
    self.n_temperatures = n_temperatures
    self.learning_rate = learning_rate
    self.momentum = momentum
    self.l1 = l1
    self.l2 = l2
    self.sparsity_target = sparsity_target
    self.sparsity_weight = sparsity_weight
    self.max_grad_norm = max_grad_norm
    self.max_grad_norm_axis = max_grad_norm_axis
    self.use_hidden_states = use_hidden_states
    self.init_weights = init_weights
    self.init_hidden_bias = init_hidden_bias
    self.init_visible_bias = init_visible_bias
    self.allow_probabilities = allow_probabilities
    self.batch_size = batch_size
    self.max_epochs = max_epochs
    self.tol = tol
    self.n_iter_no_change = n_iter_no_change
    self.warm_start = warm_start
    self.device = device
    self.random_state = random_state
    self.verbose = verbose


@_inject_doc
class RBM(PartialFitMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, _BaseRBM):
    """Restricted Boltzmann machine with a true log-likelihood.

    A centered RBM (binary, Gaussian, Gaussian with learned variance or noisy-rectified
    visible units; binary or rectified hidden units) trained by contrastive divergence,
    persistent CD, parallel tempering or the exact gradient. Unlike scikit-learn's
    :class:`~sklearn.neural_network.BernoulliRBM`, whose ``score_samples`` is a
    pseudo-likelihood, :meth:`score_samples` here is the log-likelihood
    ``log p(x) = -F(x) - log Z``: with the exact partition function when the smaller
    binary layer is small (``2**units * (n_features + n_components) <= 2**27``: e.g. 17
    hidden units for 784 binary pixels, 20 for 64; computed at the end of ``fit``), else with
    an annealed-importance-sampling estimate of ``log Z`` (computed on the first call
    and stored in ``log_partition_``; see :meth:`log_partition` for reverse AIS and the
    spread of the estimate).

    Parameters
    ----------
    n_components : int, default=256
        Number of hidden units.
    %(common)s

    Attributes
    ----------
    module_ : skdeepclust.nn.rbm.RBM
        The torch model (centered parameters, offsets, base model).
    components_ : ndarray of shape (n_components, n_features)
        Weights (BernoulliRBM convention).
    intercept_hidden_ : ndarray of shape (n_components,)
        Hidden biases of the equivalent uncentered model.
    intercept_visible_ : ndarray of shape (n_features,)
        Visible biases of the equivalent uncentered model (Gaussian: E[x | h = 0]).
    visible_offset_, hidden_offset_ : ndarray
        Centering offsets.
    sigma_ : ndarray of shape (n_features,) or None
        Standard deviations of Gaussian visibles.
    log_partition_ : float or None
        log Z used by ``score_samples``; None until known (rectified units: always).
    log_partition_bounds_ : tuple of float or None
        (lower, upper): -3 / +3 standard errors of an AIS estimate; equal for exact.
    log_partition_method_ : str or None
        "exact", "ais" or "reverse_ais".
    loss_curve_ : list of float
        Mean squared reconstruction error (one mean-field step) per epoch, measured on
        a quarter of every minibatch (at most 32 rows) during training.
    n_iter_ : int
        Epochs run.
    converged_ : bool
        True when the ``tol`` rule stopped training; always False with ``tol=None``.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features,)
        Only when X has string feature names.

    See Also
    --------
    sklearn.neural_network.BernoulliRBM : binary RBM scored by pseudo-likelihood.
    DBN : a greedy stack of RBMs.
    RBMClassifier : an RBM with softmax label units.

    References
    ----------
    .. [1] Melchior, Fischer & Wiskott, "How to center deep Boltzmann machines", JMLR 17
       (2016).
    .. [2] Salakhutdinov & Murray, "On the quantitative analysis of deep belief
       networks", ICML 2008 (AIS).
    .. [3] Burda, Grosse & Salakhutdinov, "Accurate and conservative estimates of MRF
       log-likelihood using reverse annealing", AISTATS 2015, arXiv:1412.8566.

    Examples
    --------
    >>> from skdeepclust.datasets import make_bars_and_stripes
    >>> from skdeepclust.neural_network import RBM
    >>> X = make_bars_and_stripes(600, length=3, random_state=0)
    >>> rbm = RBM(n_components=8, learning_rate=0.05, batch_size=20, max_epochs=30,
    ...           device="cpu", random_state=0).fit(X)
    >>> rbm.log_partition_method_
    'exact'
    >>> bool(rbm.score(X) > -5.0)  # log(1/14) = -2.64 is the optimum
    True
    >>> rbm.transform(X[:2]).shape
    (2, 8)
    """

    #: Settings of the AIS run that ``score_samples`` starts when ``log Z`` is unknown.
    _lazy_ais = {"n_chains": 100, "n_betas": 10000, "k": 1}

    #: 16 hidden units: the exact log Z, for ours and the BernoulliRBM baseline alike.
    _tour = {"params": {"n_components": 16}, "data": "binary"}

    def __init__(self, n_components=256, *, visible="binary", hidden="binary",
                 learn_sigma="auto", init_sigma="auto", centered=True, offset_type="DD",
                 offset_learning_rate=0.01, use_centered_gradient=False, method="pcd", k=1,
                 n_chains=None, n_temperatures=3, learning_rate="auto", momentum=0.0, l1=0.0,
                 l2=0.0, sparsity_target=0.05, sparsity_weight=0.0, max_grad_norm=None,
                 max_grad_norm_axis="cols", use_hidden_states=False, init_weights="auto",
                 init_hidden_bias="auto", init_visible_bias="auto", allow_probabilities=False,
                 batch_size=100, max_epochs=50, tol=None, n_iter_no_change=10, warm_start=False,
                 device="auto",
                 random_state=None, verbose=0):
        _rbm_init(**{k: v for k, v in locals().items() if k != "__class__"})

    # ------------------------------------------------------------------ fit
    def _after_fit(self) -> None:
        self.log_partition_ = None
        self.log_partition_bounds_ = None
        self.log_partition_method_ = None
        if self._exact_feasible():
            self._set_log_partition("exact")

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
                warnings.warn(
                    f"{type(self).__name__} (AIS) did not bracket log Z with "
                    f"n_betas={n_betas} and n_chains={n_chains}: the lower bound is -inf (the "
                    "importance weights' standard error is more than a third of their "
                    f"mean), so the estimate {lz:.4g} is unreliable. Add about "
                    f"{need - n_betas} temperatures (log_partition(method='ais', "
                    f"n_betas={need})), judged from the spread of the weights.",
                    ConvergenceWarning, stacklevel=3)
        self.log_partition_ = lz
        self.log_partition_bounds_ = bounds
        self.log_partition_method_ = method
        return lz

    # ------------------------------------------------------------------ inference
    def transform(self, X):
        """Hidden means p(h = 1 | x) (rectified hiddens: E[h | x]).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        H : ndarray of shape (n_samples, n_components)
        """
        X = self._validate_predict_data(X)
        return self._inference(self.module_.prob_h, X)

    def inverse_transform(self, X):
        """Visible means E[x | h] of hidden states or probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)

        Returns
        -------
        X_rec : ndarray of shape (n_samples, n_features)
        """
        H = self._validate_codes(X, self.n_components,
                                 f"hidden states with n_components={self.n_components}")
        return self._inference(self.module_.prob_v, H)

    def free_energy(self, X):
        """Free energy F(x) = -log p*(x) (hidden units summed out).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        F : ndarray of shape (n_samples,)
        """
        X = self._validate_predict_data(X)
        self._check_likelihood("free_energy")
        m = self._float64_module()
        return self._inference(lambda x: m.free_energy(x.to(torch.float64)), X)

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
        X : array-like of shape (n_samples, n_features)
            Visible states.
        H : array-like of shape (n_samples, n_components)
            Hidden states (0/1 for binary hiddens; probabilities give the
            energy's linear interpolation).

        Returns
        -------
        E : ndarray of shape (n_samples,)
        """
        X = self._validate_predict_data(X)
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
        ``n_features * n_components`` (about a minute for a 784-500 model on one CPU
        core); ``verbose=1`` shows its progress bar. The exact ``log Z`` costs
        ``2**units * (n_features + n_components)``, computed once at the end of ``fit``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_likelihood : ndarray of shape (n_samples,)
        """
        X = self._validate_predict_data(X)
        self._check_likelihood("score_samples")
        if self.log_partition_ is None:
            self._set_log_partition("ais", **self._lazy_ais)
        lz = self.log_partition_
        m = self._float64_module()
        return self._inference(lambda x: m.log_unnormalized_visible(x.to(torch.float64)) - lz, X)

    def score(self, X, y=None):
        """Mean log-likelihood of ``X`` (see :meth:`score_samples`).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
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
        X : array-like of shape (n_chains, n_features), default=None
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
            X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return self._set_log_partition(method, n_chains=n_chains, n_betas=n_betas, k=k, X=X,
                                       random_state=random_state)

    def reconstruction_error(self, X, k=1):
        """Mean squared error (over features) of a k-step mean-field reconstruction.

        ``h = E[h | x]``, ``x' = E[x | h]``, repeated ``k`` times (deterministic).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        k : int, default=1

        Returns
        -------
        errors : ndarray of shape (n_samples,)
        """
        X = self._validate_predict_data(X)
        m = self.module_

        def fn(x):
            r = x
            for _ in range(int(k)):
                r = m.prob_v(m.prob_h(r))
            return (r - x).pow(2).mean(1)

        return self._inference(fn, X)

    def gibbs(self, X, k=1, *, random_state=None):
        """Run ``k`` block-Gibbs steps (x -> h -> x) from ``X``; returns visible states.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        k : int, default=1
        random_state : int, RandomState instance or None, default=None
            None continues the estimator's own stream (successive calls differ).

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_features)
        """
        X = self._validate_predict_data(X)
        g = self._sampling_generator(random_state)
        return self._inference(lambda x: self.module_.gibbs(x, int(k), None, g), X)

    def sample(self, n_samples=1, *, k=1000, method="gibbs", random_state=None):
        """Draw visible samples from the model.

        Parameters
        ----------
        n_samples : int, default=1
        k : int, default=1000
            Gibbs steps ("gibbs": from base-model states; "pt": rounds of one Gibbs sweep
            of every temperature and one swap).
        method : {"gibbs", "pt", "exact"}, default="gibbs"
            Independent Gibbs chains, one parallel-tempering ladder per sample
            (``n_temperatures`` temperatures), or exact samples (at most 20 binary
            hidden units).
        random_state : int, RandomState instance or None, default=None

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        if method not in SAMPLE_METHODS:
            raise ValueError(
                f"Unknown method {method!r}; valid options are {list(SAMPLE_METHODS)}.")
        n = int(n_samples)
        if n < 1:
            raise ValueError(f"n_samples={n} should be >= 1.")
        g = self._sampling_generator(random_state)
        m = self.module_
        with torch.inference_mode():
            if method == "exact":
                v = _partition.sample_exact(m, n, g)
            elif method == "pt":
                ladders = IndependentParallelTemperingSampler(m, n, self.n_temperatures, g)
                for _ in range(int(k)):  # k rounds of one Gibbs sweep and one swap
                    v = ladders.sample(n, 1)
            else:
                v = m.gibbs(initial_states(m, n, g), int(k), None, g)
        return self._numpy(v)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


@_inject_doc
class RBMClassifier(ClassifierMixin, _BaseRBM):
    """RBM with softmax label units, used as a classifier through p(y | x).

    The visible layer holds the features (binary or Gaussian units) plus one softmax
    unit per class; the joint model p(x, y) is trained generatively like :class:`RBM`.
    :meth:`predict_proba` clamps x and sums the hidden units out exactly:
    ``p(y | x) = softmax_y(-F(x, e_y))``.

    Parameters
    ----------
    n_components : int, default=256
        Number of hidden units.
    %(common)s

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    module_ : skdeepclust.nn.rbm.RBM
        With ``n_labels = n_classes`` label units after the feature units.
    components_ : ndarray of shape (n_components, n_features + n_classes)
    intercept_hidden_, intercept_visible_, visible_offset_, hidden_offset_, sigma_
        As in :class:`RBM` (visible arrays include the label units last).
    loss_curve_ : list of float
        Reconstruction error of the joint visible vector per epoch.
    n_iter_ : int
    converged_ : bool
        True when the ``tol`` rule stopped training; always False with ``tol=None``.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features,)

    See Also
    --------
    RBM : the unsupervised model.

    References
    ----------
    .. [1] Larochelle & Bengio, "Classification using discriminative restricted Boltzmann
       machines", ICML 2008.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skdeepclust.neural_network import RBMClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = RBMClassifier(n_components=64, allow_probabilities=True, learning_rate=0.05,
    ...                     max_epochs=10, batch_size=20, device="cpu", random_state=0)
    >>> clf = clf.fit(X[:1500] / 16, y[:1500])
    >>> bool(clf.score(X[1500:] / 16, y[1500:]) > 0.8)
    True
    """

    _tour = {"params": {}, "data": "binary"}

    def __init__(self, n_components=256, *, visible="binary", hidden="binary",
                 learn_sigma="auto", init_sigma="auto", centered=True, offset_type="DD",
                 offset_learning_rate=0.01, use_centered_gradient=False, method="pcd", k=1,
                 n_chains=None, n_temperatures=3, learning_rate="auto", momentum=0.0, l1=0.0,
                 l2=0.0, sparsity_target=0.05, sparsity_weight=0.0, max_grad_norm=None,
                 max_grad_norm_axis="cols", use_hidden_states=False, init_weights="auto",
                 init_hidden_bias="auto", init_visible_bias="auto", allow_probabilities=False,
                 batch_size=100, max_epochs=50, tol=None, n_iter_no_change=10, warm_start=False,
                 device="auto",
                 random_state=None, verbose=0):
        _rbm_init(**{k: v for k, v in locals().items() if k != "__class__"})

    _auto_learn_sigma = True

    def _n_labels(self) -> int:
        return len(self.classes_)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Train the joint model of ``X`` and the labels ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self : RBMClassifier
        """
        self.__dict__.pop("classes_", None)  # from an earlier fit: found in y again
        return self._fit_template(X, y, partial=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None):
        """One epoch on (X, y); ``classes`` (all labels) is required on the first call.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        classes : array-like of shape (n_classes,), default=None

        Returns
        -------
        self : RBMClassifier
        """
        if not hasattr(self, "module_"):
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            self.classes_ = np.unique(np.asarray(classes))
        return self._partial_fit(X, y)

    def _validate_fit_input(self, X, y, *, reset: bool):
        X, y = validate_data(self, X, y, reset=reset, dtype=[np.float64, np.float32])
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if not hasattr(self, "classes_"):  # fit: the labels of y
            self.classes_ = np.unique(y)
        unknown = np.setdiff1d(np.unique(y), self.classes_)
        if unknown.size:
            raise ValueError(f"y contains labels {unknown.tolist()} not in classes "
                             f"{self.classes_.tolist()}.")
        if len(self.classes_) < 2:
            raise ValueError(
                "RBMClassifier needs samples of at least 2 classes; got 1 class "
                f"({self.classes_.tolist()}).")
        return X, y

    def _visible(self, X: np.ndarray, y) -> Tensor:
        onehot = np.eye(len(self.classes_), dtype=X.dtype)[np.searchsorted(self.classes_, y)]
        return torch.as_tensor(np.hstack([X, onehot]))

    def predict_log_proba(self, X):
        """log p(y | x) by clamping x and summing the hidden units out.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        X = self._validate_predict_data(X)
        return self._inference(self.module_.label_log_proba, X)

    def predict_proba(self, X):
        """p(y | x) for each class (columns ordered as ``classes_``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        return np.exp(self.predict_log_proba(X))

    def predict(self, X):
        """Most probable class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        log_proba = self.predict_log_proba(X)
        return self.classes_[np.argmax(log_proba, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags


#: A parameter (in standardised units for Gaussian visibles: weights and biases over sigma)
#: beyond this magnitude means training has diverged even while it is still finite.
_DIVERGED_MAGNITUDE = 1e8


def _parameter_problem(m: RBMModule) -> str | None:
    """What blew up in the module: the first non-finite parameter, or the first whose
    magnitude passed ``_DIVERGED_MAGNITUDE`` (Gaussian feature rows measured in units of
    sigma); None when every parameter is sane."""
    with torch.no_grad():
        nx = m.n_visible
        for name, p in m.named_parameters():
            t = p.detach()
            bad = ~torch.isfinite(t)
            if bool(bad.any()):
                return (f"parameter '{name}' has {int(bad.sum())} non-finite values "
                        f"(of {t.numel()})")
        for name in ("weight", "visible_bias", "hidden_bias"):  # sigma is kept in range
            t = getattr(m, name).detach()
            if m.gaussian and name != "hidden_bias":
                t = t.clone()
                scale = m.sigma.detach().clamp(min=torch.finfo(t.dtype).tiny)
                t[:nx] = t[:nx] / (scale.unsqueeze(1) if t.ndim == 2 else scale)
            peak = float(t.abs().max()) if t.numel() else 0.0
            if peak > _DIVERGED_MAGNITUDE:
                unit = " (in units of sigma)" if m.gaussian and name != "hidden_bias" else ""
                return f"parameter '{name}' reached {peak:.3g}{unit}"
    return None


def _writeable(X) -> np.ndarray:
    X = np.asarray(X)
    return X if X.flags.writeable else X.copy()
