"""The shared base of :class:`RBM` and :class:`RBMClassifier`: parameter checks, the
fit hooks and the training epochs (fused binary update or generic step), the
fitted-parameter attributes."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.utils.validation import check_array
from torch import Tensor

from .._config import compute_dtype_for
from .._sparse import (
    SPARSE_FORMATS,
    SparseRows,
    as_csr,
    chunked_inference,
    column_moments,
    stored_values,
)
from .._torch import make_generator, seed_from
from .._training import TrainingResult, train_loop
from ..base import TorchEstimator
from ..exceptions import TrainingDivergedError
from ..nn import partition as _partition
from ..nn.rbm import HIDDEN_UNITS, OFFSET_TYPES, VISIBLE_UNITS
from ..nn.rbm import RBM as RBMModule
from ..nn.rbm_training import RBMUpdater
from ..nn.sampling import (
    PersistentGibbsSampler,
    PooledParallelTemperingSampler,
    ipt_ladders,
)
from ..utils._sklearn_compat import Interval, StrOptions
from ._energy_common import _EnergyEstimatorMixin

#: Training methods: how the negative (model) phase of the gradient is obtained.
METHODS = ("cd", "pcd", "pt", "ipt", "exact")
#: method="exact" training is refused beyond this many units in the enumerated layer.
EXACT_AUTO_UNITS = 20
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
#: at a fraction of the cost of measuring it on the whole batch.
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


def check_binary_visible(X: np.ndarray, allow_probabilities: bool) -> None:
    """Binary visible units read 0/1 data, or values in [0, 1] as probabilities when
    ``allow_probabilities``; anything else raises a ValueError saying what to do. A sparse
    ``X`` is checked on its stored values."""
    X = stored_values(X)
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




class _BaseRBM(_EnergyEstimatorMixin, TorchEstimator):
    """Shared machinery of :class:`RBM` and :class:`RBMClassifier` (not public)."""

    _supports_sample_weight = True

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

    def _check_params_vs_input(self, X) -> None:
        n_features = X.shape[1]
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
        X = stored_values(X)  # sparse: the stored values (and a 0), never densified
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
                n = min(n, n_features)
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
    def _validate_fit_input(self, X, y, *, reset: bool):
        if sp.issparse(X):  # CSR or CSC, kept sparse (CSR: minibatches slice rows)
            X = self._validate_fit_data(X, reset=reset, accept_sparse=SPARSE_FORMATS)
            return as_csr(X), y
        return super()._validate_fit_input(X, y, reset=reset)

    def _visible(self, X: np.ndarray, y) -> Tensor:
        """The training tensor of the visible layer (on the CPU): ``X``, and the one-hot
        labels appended for the classifier. Sparse ``X``: a CSR matrix (see
        :meth:`_training_source`)."""
        if sp.issparse(X):
            return X
        return torch.as_tensor(_writeable(X))

    def _labels_onehot(self, y, dtype) -> np.ndarray | None:
        """The one-hot label units of the classifier's rows (None: no label units)."""
        return None

    def _training_source(self, X, y):
        """What :meth:`_run_epochs` reads minibatches from: the visible tensor, or for
        sparse ``X`` the CSR visible matrix whose rows are densified on the device one
        minibatch at a time (:class:`~skdeepclust._sparse.SparseRows`)."""
        V = self._visible(X, y)
        if sp.issparse(V):
            return SparseRows(V, self._device, self._torch_dtype)
        return V

    def _initialize(self, X, y) -> None:
        """Build and initialise the module from the training tensor (labels appended);
        sparse ``X``: from its column means and variances (no dense copy)."""
        self._check_params_vs_input(X)
        self._learn_sigma = self._resolve_learn_sigma()
        # updates of the fit (partial_fit: of max_epochs calls like the first), for "auto"
        self._n_updates = count_updates(X.shape[0], self.batch_size, self.max_epochs)
        n_features = X.shape[1]
        module = self._build_module_seeded(lambda: self._make_module(n_features))
        nl = self._n_labels()
        if sp.issparse(X):
            data = _ColumnMoments(X, self._device, self._torch_dtype)
            labels = self._labels_onehot(y, X.dtype)
            if labels is not None:
                labels = torch.as_tensor(labels).to(self._device, self._torch_dtype)
        else:
            V = self._visible(X, y).to(self._device, self._torch_dtype)
            data, labels = (V[:, :n_features], V[:, n_features:]) if nl else (V, None)
        g = make_generator(seed_from(self._rng), self._device)
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
        return self._run_epochs(self._training_source(X, y), 1 if partial else self.max_epochs,
                                name)

    def _finish_fit(self, X, y, result, *, partial: bool) -> None:
        if not partial and self.tol is not None:
            # a DBN sets _reported_as to (itself, "layer i of n") on the RBMs it trains
            owner, phase = getattr(self, "_reported_as", None) or (self, "training")
            self._warn_unconverged(result, owner=owner, phase=phase)
        self._after_fit()

    # ------------------------------------------------------------------ inference
    def _validate_rows(self, X):
        """Prediction input: dense, or CSR / CSC kept sparse (see :meth:`_predict_rows`)."""
        return self._validate_predict_data(X, accept_sparse=SPARSE_FORMATS)

    def _predict_rows(self, fn, X, **kwargs):
        """:meth:`_inference` of ``fn``; sparse ``X`` densified one chunk at a time."""
        return chunked_inference(self, fn, X, **kwargs)

    def _initial_visible_bias(self, n_features: int) -> np.ndarray | None:
        """The visible bias ``init_visible_bias`` asks for; None keeps the data mean's
        (``module.initialize``: PyDeep's "AUTO")."""
        spec = self.init_visible_bias
        if isinstance(spec, str):  # "auto" is "data_mean" (see the user guide)
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

    def _run_epochs(self, V: Tensor | SparseRows, max_epochs: int,
                    phase: str) -> TrainingResult:
        generator = self._generator
        if isinstance(V, SparseRows):  # CSR rows, densified per minibatch on the device
            rows = V

            def take(idx: Tensor) -> Tensor:
                return rows.index_select(0, idx)

            def density() -> float:
                return float(rows.indices.shape[0]) / max(1, rows.shape[0] * rows.shape[1])

            def pattern():  # the bool rows the sparse kernels read
                return rows.pattern().index_select
        else:
            V = V.to(self._device, self._torch_dtype)

            def take(idx: Tensor) -> Tensor:
                return V[idx]

            def density() -> float:
                return float(V.mean())

            def pattern():
                mask = V.bool()
                return lambda dim, idx: mask[idx]
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
            # exactly binary and mostly zeros (cheaper products): numba
            # kernels when numba imports (compiled on the first update, then cached).
            mask = None  # rows -> their bool minibatch, when the sparse kernels run
            if (self._device.type == "cpu" and not self.allow_probabilities
                    and density() < _SPARSE_DENSITY):
                mask = pattern()
            sampler = self._sampler

            def fused(idx: Tensor) -> Tensor:
                # sparse: the bool rows are all the fused step reads (no float gather)
                v = take(idx) if mask is None else None
                chain_prob = None
                if sampler is not None:
                    chain_prob = sampler.hidden_prob
                    if chain_prob is None:  # first step, binary chains: sparse if possible
                        chain_prob = upd.binary_hidden_prob(sampler.chains, mask is not None)
                v_neg, p_neg, loss = upd.fused_step(
                    v, chain_prob, generator, k=self.k,
                    sparse=None if mask is None else mask(0, idx),
                    n_loss=_loss_rows(idx.shape[0]))
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
            step = self._generic_step(take, generator)
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
                on_epoch_end=check, suggestion=suggestion, sample_weight=self._sample_weight,
                # data-parallel: the state averaged across ranks after each step (the
                # updater replaces its momentum buffers at each step, hence a callable)
                sync_state=lambda: [m, *upd.velocity.values()])
        except TrainingDivergedError as err:
            problem = _parameter_problem(m)
            if problem and "parameter" not in str(err):  # the loss check fired first
                raise TrainingDivergedError(f"{err} ({problem})") from None
            raise
        return self._history

    def _generic_step(self, take, generator: torch.Generator):
        """The generic training step; ``take(idx)`` gives the dense minibatch."""
        m = self.module_

        def step(idx: Tensor) -> Tensor:
            v = take(idx)
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

    # ------------------------------------------------------------- attributes
    @property
    def _n_features_out(self) -> int:
        return self.module_.hidden_bias.shape[0]  # AttributeError before fit: NotFittedError

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


class _ColumnMoments:
    """Stands in for the training tensor in :meth:`skdeepclust.nn.rbm.RBM.initialize` for
    sparse ``X``: its ``mean(0)`` and ``std(0, unbiased=False)`` come from the column
    moments of the sparse matrix (:func:`~skdeepclust._sparse.column_moments`), so the
    data are never densified. Binary data get the dense path's means (integer column
    sums divided by ``n_samples``); variances may differ from torch's by rounding."""

    def __init__(self, X: sp.spmatrix, device: torch.device, dtype: torch.dtype) -> None:
        mean, var = column_moments(X)
        self.shape = X.shape
        self._mean = torch.as_tensor(mean).to(device, dtype)
        self._std = torch.as_tensor(np.sqrt(var)).to(device, dtype)

    def mean(self, dim: int) -> Tensor:
        return self._mean

    def std(self, dim: int, unbiased: bool = False) -> Tensor:
        return self._std


def _writeable(X) -> np.ndarray:
    X = np.asarray(X)
    return X if X.flags.writeable else X.copy()
