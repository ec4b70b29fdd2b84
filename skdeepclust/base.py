"""TorchEstimator: the base class of every skdeepclust estimator.

It owns what every model shares: the ``device`` parameter, per-fit seeding, input
validation, numpy-in / numpy-out batched inference and device-portable pickling. A model
family subclasses it, builds its ``torch.nn.Module`` in ``fit`` with
:meth:`TorchEstimator._build_module` and trains it with
:func:`skdeepclust._training.train_loop`.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from numbers import Integral, Real
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import BaseEstimator, clone
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array

from ._config import compute_dtype_for, get_config
from ._data import StreamedRows, output_dtype, streams, validate_streamed
from ._torch import (
    _NP_TO_TORCH,
    available_device,
    build_seeded,
    make_generator,
    resolve_device,
    seed_from,
    to_numpy,
    torch_dtype,
)
from ._training import TrainingResult
from .utils._sklearn_compat import (
    Interval,
    _check_sample_weight,
    _fit_context,
    check_is_fitted,
    validate_data,
)

__all__ = ["PartialFitMixin", "TorchEstimator"]

#: Conservative factor of the default per-row inference temporaries (see
#: :meth:`TorchEstimator._inference_row_floats`).
_ROW_FLOATS_FACTOR = 4


class TorchEstimator(BaseEstimator):
    """Base class for estimators with a PyTorch backend.

    Subclasses declare their hyper-parameters in ``__init__`` (stored, never validated
    there) and extend ``_parameter_constraints``. ``fit`` is a template method, in the
    style of scikit-learn's ``BaseMixture``: the base runs the steps every model shares
    and a family fills in the hooks.

    1. ``X, y = self._validate_fit_input(X, y, reset=...)`` — scikit-learn validation,
       dtype float32/float64 (a hook: override to accept sparse input or targets);
    2. :meth:`_start_fit` — resolves ``device`` into ``self._device``, fixes the compute
       dtype (``self._torch_dtype``, from :func:`skdeepclust.set_config`'s
       ``compute_dtype``: float32 by default) and the output dtype (``self._dtype``, the
       input's), and seeds the fit: ``self._rng`` (a :class:`numpy.random.RandomState`
       for every numpy-side draw and for the seeds of later torch generators) and
       ``self._generator`` (a :class:`torch.Generator` on the device, drawn first from
       ``self._rng``, for the fit's torch random calls);
    3. ``self._initialize(X, y)`` (hook) — resolves the "auto" parameters, builds the
       modules (:meth:`_build_module_seeded`) and runs whatever precedes the main
       training phase (pretraining, centre initialisation);
    4. ``result = self._train(X, y, partial=...)`` (hook) — the training phase, through
       :func:`skdeepclust._training.train_loop`; returns its ``TrainingResult``;
    5. the base stores ``loss_curve_``, ``n_iter_`` and ``converged_`` from it;
    6. ``self._finish_fit(X, y, result, partial=...)`` (hook) — fitted attributes such
       as ``labels_``, and the warnings of an unconverged or degenerate fit.

    A second ``fit`` of an estimator with ``warm_start=True``, and every ``partial_fit``
    after the first, skip steps 2-3 and call ``self._resume_fit(X, y)`` (hook) instead:
    the fitted modules (and the optimizer state when it is kept) carry on, ``n_iter_``
    accumulates. :meth:`_partial_fit` is the body of a family's ``partial_fit`` (one
    pass over the given rows; :class:`PartialFitMixin` provides the public method).

    Data: ``self._training_rows(X)`` gives the hooks the training rows, one tensor for
    in-memory data or :class:`~skdeepclust._data.StreamedRows` read block by block for a
    memory map or a lazy array (pass ``shuffle=self._shuffle_for(rows)`` to
    ``train_loop``). ``self._sample_weight`` holds the validated weights of ``fit(...,
    sample_weight=...)`` (None when absent or all equal): pass it to ``train_loop``
    and set ``_supports_sample_weight = True``.

    Prediction methods call ``X = self._validate_predict_data(X)`` and
    ``self._inference(fn, X)``, which runs ``fn`` on device batches under
    :func:`torch.inference_mode` and returns numpy in the dtype of ``X``. The rows of a
    batch come from the ``working_memory`` budget of :func:`skdeepclust.set_config` and
    the per-row temporaries the estimator declares (:meth:`_inference_row_floats`).

    Precision: modules and training tensors are in the compute dtype; outputs and fitted
    arrays go back to numpy in ``self._dtype`` (convert with ``to_numpy(t, self._dtype)``).

    Pickling moves every torch module and tensor to the CPU; unpickling puts them back on
    the fitted device when it exists, and otherwise on the CPU with a
    :class:`~skdeepclust.exceptions.DeviceWarning`.
    """

    #: Methods that map rows to rows: on a dask array they return a dask array computed
    #: block by block (:func:`_blockwise`), wrapped once per class.
    _ROW_METHODS = ("predict", "predict_proba", "predict_log_proba", "transform",
                    "score_samples", "inverse_transform", "decision_function")

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in cls._ROW_METHODS:
            method = cls.__dict__.get(name)
            if callable(method) and not getattr(method, "_blockwise", False):
                setattr(cls, name, _blockwise(method))

    _parameter_constraints: dict = {
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 0, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
    }

    # ------------------------------------------------------------------ fit template
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Fit the model to ``X``.

        What a fit runs (pretraining, initialisation, training phases) is described in
        the class docstring; with ``warm_start=True`` a fitted model carries on.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each row. Minibatches draw rows with probabilities
            proportional to the weights, so an integer weight acts as that many copies
            of the row (up to the optimizer's noise) and a zero weight leaves it out;
            initialisations that take weights (k-means) use them. None or equal weights:
            every row once per epoch.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit_template(X, y, partial=False, sample_weight=sample_weight)

    def _partial_fit(self, X, y=None, sample_weight=None) -> TorchEstimator:
        """One pass over ``X``; the first call initialises (see :class:`PartialFitMixin`)."""
        return self._fit_template(X, y, partial=True, sample_weight=sample_weight)

    def _fit_template(self, X, y, *, partial: bool, sample_weight=None) -> TorchEstimator:
        """The steps of every fit (see the class docstring)."""
        resume = self._resumes(partial)
        X, y = self._validate_fit_input(X, y, reset=not resume)
        self._sample_weight = _check_weights(sample_weight, X)
        if self._sample_weight is not None and not self._supports_sample_weight:
            raise TypeError(f"{type(self).__name__} does not support sample_weight yet.")
        if resume:
            self._resume_fit(X, y)
            self._generator = self._next_generator()
            # the history carries on (pass ``result=self._history`` to train_loop)
            self._history = TrainingResult(list(self.loss_curve_), self.n_iter_)
        else:
            self._start_fit(X)
            self._history = TrainingResult()
            self._initialize(X, y)
        try:
            result = self._train(X, y, partial=partial)
            self._store_history(result)
            self._finish_fit(X, y, result, partial=partial)
        finally:  # transient: later calls draw their own
            for name in ("_generator", "_history", "_sample_weight"):
                self.__dict__.pop(name, None)
        return self

    def _store_history(self, result) -> None:
        """``loss_curve_``, ``n_iter_`` and ``converged_`` from a ``TrainingResult``."""
        self.loss_curve_ = list(result.loss_curve)
        self.n_iter_ = result.n_iter
        self.converged_ = result.converged

    #: Whether ``_train`` passes ``self._sample_weight`` to its training loop.
    _supports_sample_weight = False

    def _resumes(self, partial: bool) -> bool:
        """Whether this fit continues the fitted model (``partial_fit``, or ``warm_start``)
        instead of starting anew."""
        return self._has_trained_model() and (
            partial or bool(getattr(self, "warm_start", False)))

    def _has_trained_model(self) -> bool:
        """Whether a model exists to continue training (``module_`` by default)."""
        return hasattr(self, "module_")

    def _validate_fit_input(self, X, y, *, reset: bool):
        """Hook: validate the training input; returns ``(X, y)`` (``y`` untouched).

        A memory map is validated as numpy (no copy when its dtype is float32 or
        float64); an array that slices lazily (dask, h5py, zarr) is checked without a
        pass over its values and returned as it is: its blocks are checked as training
        reads them (:class:`~skdeepclust._data.StreamedRows`).
        """
        if streams(X) and not isinstance(X, np.ndarray):
            return validate_streamed(self, X, reset=reset), y
        return self._validate_fit_data(X, reset=reset), y

    def _initialize(self, X, y) -> None:  # pragma: no cover - every family overrides it
        """Hook: resolve "auto" parameters, build the modules, run the start phases."""
        raise NotImplementedError

    def _train(self, X, y, *, partial: bool):  # pragma: no cover - overridden
        """Hook: the training phase (one pass when ``partial``); returns the
        ``TrainingResult`` of :func:`skdeepclust._training.train_loop`."""
        raise NotImplementedError

    def _resume_fit(self, X, y) -> None:
        """Hook: prepare a fitted model to train on (warm start, later ``partial_fit``):
        check ``X`` against it and rebuild what pickling dropped (the optimizer)."""
        raise NotImplementedError(
            f"{type(self).__name__} cannot continue training a fitted model.")

    def _finish_fit(self, X, y, result, *, partial: bool) -> None:
        """Hook: fitted attributes and warnings after the training phase."""

    # ------------------------------------------------------------------ fit helpers
    def _validate_fit_data(self, X, *, reset: bool = True, **kwargs) -> np.ndarray:
        """Validate training data with sklearn's rules; returns float32 or float64."""
        _refuse_sparse(self, X, kwargs)
        kwargs.setdefault("dtype", [np.float64, np.float32])
        return validate_data(self, X, reset=reset, **kwargs)

    def _nested_overrides(self, estimator: TorchEstimator, seed: int) -> dict[str, Any]:
        """Parameters an unfitted nested torch estimator takes from this fit.

        This fit's seed when it has no ``random_state``, this fit's device when its own
        is "auto", and this fit's verbosity when it is silent; for ``set_params`` on a
        clone, so that the user's estimator is never modified.
        """
        overrides: dict[str, Any] = {}
        if estimator.random_state is None:
            overrides["random_state"] = seed
        if isinstance(estimator.device, str) and estimator.device == "auto":
            overrides["device"] = self._device
        if self.verbose and not estimator.verbose:
            overrides["verbose"] = self.verbose
        return overrides

    def _fit_nested(self, estimator: TorchEstimator, X, seed: int | None,
                    sample_weight=None) -> TorchEstimator:
        """The fitted nested estimator this fit uses; the user's object is never modified.

        ``estimator`` may be wrapped in :class:`sklearn.frozen.FrozenEstimator`. A fitted
        one is deep-copied; an unfitted one is cloned, takes this fit's ``seed``, device
        and verbosity where its own are unset (:meth:`_nested_overrides`) and is fitted
        on ``X`` (with ``sample_weight`` when given). ``seed=None`` draws it from
        ``self._rng`` only in that case; pass ``seed_from(self._rng)`` to draw it in
        every case, so that the later draws of the fit do not depend on which case
        applied.
        """
        estimator = getattr(estimator, "estimator", estimator)  # FrozenEstimator
        if hasattr(estimator, "module_"):
            return copy.deepcopy(estimator)
        nested = clone(estimator)
        nested._validate_params()  # its own parameters, whatever this fit's context
        seed = seed_from(self._rng) if seed is None else seed
        nested.set_params(**self._nested_overrides(nested, seed))
        if sample_weight is None:
            return nested.fit(X)
        return nested.fit(X, sample_weight=sample_weight)

    def _adopt_nested(self, estimator: TorchEstimator) -> None:
        """Move a nested estimator returned by :meth:`_fit_nested` (this fit's own copy)
        onto this fit's device and dtypes, for joint training and inference."""
        for module in _modules_of(estimator):
            module.to(device=self._device, dtype=self._torch_dtype)
        estimator._device = self._device
        estimator._dtype = self._dtype
        estimator._compute_dtype = self._compute_dtype

    def _start_fit(self, X: np.ndarray) -> None:
        """Resolve the device and dtypes, and seed this fit.

        Sets ``self._rng`` (:class:`numpy.random.RandomState` from ``random_state``: the
        numpy-side draws and the seeds of later generators) and ``self._generator`` (a
        :class:`torch.Generator` on ``self._device``, its seed the first draw of
        ``self._rng``: pass it to the fit's torch random calls).
        """
        self._device = resolve_device(self.device)
        self._dtype = output_dtype(X)
        self._compute_dtype = compute_dtype_for(self._dtype)
        self._rng = check_random_state(self.random_state)
        self._generator = self._next_generator()

    def _next_generator(self) -> torch.Generator:
        """A new torch generator on the device, seeded from ``self._rng`` (for each later
        training call: ``partial_fit``, a warm start)."""
        return make_generator(seed_from(self._rng), self._device)

    def _build_module_seeded(self, factory: Callable[[], torch.nn.Module]) -> torch.nn.Module:
        """Build ``factory()`` reproducibly (seeded from ``self._rng``) on the fit's
        device and dtype."""
        return build_seeded(
            factory, seed=seed_from(self._rng), device=self._device, dtype=self._torch_dtype
        )

    def _resolved(self, name: str, auto):
        """The value of parameter ``name``, or ``auto`` when it is "auto".

        Resolve "auto" parameters in ``fit`` with it into private attributes, e.g.
        ``self._batch_size = self._resolved("batch_size", 64)``: the public parameter is
        never overwritten.
        """
        value = getattr(self, name)
        return auto if isinstance(value, str) and value == "auto" else value

    @property
    def _torch_dtype(self) -> torch.dtype:
        """The torch dtype the modules compute in (fixed at fit time)."""
        # Models pickled before the compute-precision policy computed in the input's dtype.
        return torch_dtype(getattr(self, "_compute_dtype", self._dtype))

    def _training_rows(self, X) -> torch.Tensor | StreamedRows:
        """The training rows on the fit's device, in the compute dtype.

        In-memory data: one tensor (:meth:`_to_tensor`). Data the fit streams: a
        :class:`~skdeepclust._data.StreamedRows` that reads blocks of rows as they are
        indexed; pass ``shuffle=self._shuffle_for(rows)`` to ``train_loop`` so that its
        minibatches stay within a block.
        """
        if streams(X):
            return StreamedRows(X, device=self._device, dtype=self._torch_dtype)
        return self._to_tensor(X)

    def _batched(self, fn, rows, chunk_rows: int | None = None) -> torch.Tensor:
        """``fn`` over ``rows`` (a training tensor or streamed rows) in inference-sized
        chunks (at most ``chunk_rows`` rows when given), written into one preallocated
        tensor (no list of chunks and concatenated copy); the caller sets the grad mode
        and the modules' train/eval mode."""
        bs = min(self._inference_batch_size(), chunk_rows or np.iinfo(np.int64).max)
        n, out = rows.shape[0], None
        for s in range(0, n, bs):
            part = fn(rows[s:s + bs])
            if out is None:
                out = part.new_empty((n, *part.shape[1:]))
            out[s:s + part.shape[0]] = part
        return out

    @staticmethod
    def _shuffle_for(rows) -> bool | int:
        """``train_loop``'s ``shuffle`` for training rows: the block size when they are
        streamed (blocks in a random order, rows shuffled within each), else True."""
        return rows.block_rows if isinstance(rows, StreamedRows) else True

    def _to_tensor(self, X: np.ndarray) -> torch.Tensor:
        """Move a validated array to the fit's device and compute dtype.

        No copy when ``X`` already has the compute dtype and lives on the CPU; otherwise
        one conversion (e.g. float64 to float32: half of ``X.nbytes``). A training set
        that does not fit raises a :class:`MemoryError` that says what to change.
        """
        X = np.asarray(X)
        target = np.dtype(getattr(self, "_compute_dtype", self._dtype))
        try:
            if X.dtype != target:
                X = X.astype(target)
            return torch.as_tensor(_writeable(X), device=self._device)
        except (MemoryError, RuntimeError) as exc:
            if isinstance(exc, RuntimeError) and "memory" not in str(exc).lower():
                raise
            need = X.shape[0] * int(np.prod(X.shape[1:], dtype=np.int64)) * target.itemsize
            raise MemoryError(
                f"The training set of shape {X.shape} in {target} needs {need / 2**20:.0f} "
                f"MiB on device {str(self._device)!r}, which is not available. Fit on "
                "fewer rows, free memory, pass float32 data, or keep the default "
                "skdeepclust.set_config(compute_dtype='float32')."
            ) from exc

    # ----------------------------------------------------------- predict helpers
    def _validate_predict_data(self, X, **kwargs) -> np.ndarray:
        """``check_is_fitted`` then validation against the fitted feature count."""
        check_is_fitted(self)
        _refuse_sparse(self, X, kwargs)
        kwargs.setdefault("dtype", [np.float64, np.float32])
        return validate_data(self, X, reset=False, **kwargs)

    def _validate_codes(self, X, n_expected: int, what: str) -> np.ndarray:
        """Validate the input of ``inverse_transform``: a fitted model and codes with
        ``n_expected`` columns (``what`` names them in the error, e.g. "codes with
        n_components=10")."""
        check_is_fitted(self)
        Z = check_array(X, dtype=[np.float64, np.float32])
        if Z.shape[1] != n_expected:
            raise ValueError(
                f"X has {Z.shape[1]} features, but inverse_transform expects {what} features."
            )
        return Z

    def _inference_row_floats(self) -> int:
        """The largest inference temporaries per row of input, in floats.

        The default is a conservative rule for networks of matrix products: four times
        ``n_features_in_`` plus the widest output of any parameter (``prod(shape[:-1])``
        or ``shape[-1]`` of each matrix, e.g. ``K * d`` for ``K`` stacked ``d x d``
        matrices). An estimator whose inference builds larger per-row temporaries (a
        ``K x d`` difference per row, several samples per row) overrides it.
        """
        widest = 1
        for module in _modules_of(self):
            for p in module.parameters():
                if p.dim() >= 2:
                    widest = max(widest, int(np.prod(p.shape[:-1])), int(p.shape[-1]))
        n_features = int(getattr(self, "n_features_in_", 0) or 0)
        return _ROW_FLOATS_FACTOR * (n_features + widest)

    def _inference_batch_size(self, itemsize: int | None = None) -> int:
        """Rows per inference chunk: as many as the ``working_memory`` budget allows.

        ``working_memory`` (MiB, :func:`skdeepclust.set_config`) divided by the bytes of
        :meth:`_inference_row_floats` in the compute dtype (or of ``itemsize`` bytes);
        never fewer than the training batch size (a resolved ``_batch_size`` stands in
        for "auto").
        """
        size = getattr(self, "_batch_size", None) or getattr(self, "batch_size", 0)
        if not isinstance(size, Integral):  # "auto" before fit, or None
            size = 0
        if itemsize is None:
            compute = getattr(self, "_compute_dtype", None)
            itemsize = 4 if compute is None else np.dtype(compute).itemsize
        budget = get_config()["working_memory"] * 2**20
        rows = int(budget // (self._inference_row_floats() * itemsize))
        return max(int(size), rows, 1)

    def _inference(
        self,
        fn: Callable[[torch.Tensor], torch.Tensor | tuple[torch.Tensor, ...]],
        X: np.ndarray,
        *,
        batch_size: int | None = None,
        out_dtype: Any = "input",
    ):
        """Apply ``fn`` to device batches of ``X`` under ``inference_mode``.

        The batches are in the compute dtype, or in the input's when it is wider: a
        float32 model (the default compute dtype) predicts float64 input in float64, its
        modules cast to float64 for the call and back (exactly) after it. Inference is a
        small part of the cost, and this keeps outputs for float64 input independent of
        the batch's size and row order to float64 rounding (scikit-learn's
        ``check_methods_subset_invariance``), which float32 matrix products are not.
        ``fn`` must therefore compute with the estimator's own modules (attributes of
        ``self``) and the dtype of its argument.

        Parameters
        ----------
        fn : callable
            Maps a batch tensor to a tensor or a tuple of tensors, each with the batch as
            first axis.
        X : ndarray of shape (n_samples, n_features)
            Validated input.
        batch_size : int, default=None
            Rows per chunk; defaults to :meth:`_inference_batch_size` (the
            ``working_memory`` budget).
        out_dtype : "input", None or dtype, default="input"
            Floating outputs are cast to the input's dtype by default; ``None`` keeps the
            computed dtype (use it for integer labels).

        Returns
        -------
        ndarray or tuple of ndarray
        """
        dtype = X.dtype if isinstance(out_dtype, str) and out_dtype == "input" else out_dtype
        X = np.asarray(X)
        n = X.shape[0]
        if n == 0:  # pragma: no cover - validate_data rejects empty input
            raise ValueError("Found array with 0 sample(s).")
        compute = self._torch_dtype
        wide = _NP_TO_TORCH.get(np.dtype(X.dtype))
        if wide is None or wide.itemsize <= compute.itemsize:
            wide = compute
        batch_size = batch_size or self._inference_batch_size(wide.itemsize)
        modules = _modules_of(self)
        modes = [m.training for m in modules]
        for m in modules:
            m.eval()
        results: list = []
        try:
            if wide != compute:  # float64 input of a float32 model: infer in float64
                _cast_modules(modules, wide)
            with torch.inference_mode():
                for start in range(0, n, batch_size):
                    chunk = X[start : start + batch_size]
                    xb = torch.as_tensor(_writeable(chunk)).to(self._device, wide)
                    out = fn(xb)
                    parts = out if isinstance(out, tuple) else (out,)
                    if not results:
                        results = [_Output(p, n, len(chunk), dtype) for p in parts]
                    for result, part in zip(results, parts):
                        result.add(part, start)
        finally:
            if wide != compute:
                _cast_modules(modules, compute)
            for m, mode in zip(modules, modes):
                m.train(mode)
        arrays = [result.array() for result in results]
        return arrays[0] if len(arrays) == 1 else tuple(arrays)

    # ------------------------------------------------------------------- pickling
    #: Attributes dropped when pickling (optimizer state: pickles must stay cheap).
    _transient_attributes: tuple[str, ...] = ("_optimizer", "_generator")

    def __getstate__(self):
        # BaseEstimator returns the instance's own __dict__ (not a copy) for non-sklearn
        # classes: copy it, or pickling would drop the live estimator's optimizer state.
        state = dict(super().__getstate__())
        for name in self._transient_attributes:
            state.pop(name, None)
        device = state.get("_device")
        if device is not None and torch.device(device).type != "cpu":
            state = {k: _to_cpu(v) for k, v in state.items()}
        if device is not None:
            state["_device"] = str(device)
        return state

    def __setstate__(self, state):
        device = state.get("_device")
        if device is not None:
            target = available_device(device)
            if target.type != "cpu":
                state = {k: _to(v, target) for k, v in state.items()}
            state["_device"] = target
        super().__setstate__(state)


class PartialFitMixin:
    """``partial_fit`` for the estimators that learn by minibatches (first in the bases)."""

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, sample_weight=None):
        """Train one pass (epoch) over ``X``; the first call initialises the model.

        The first call does on ``X`` what :meth:`fit` does before its training phase
        (resolving the "auto" sizes, pretraining and placing centres where the model
        has them), so make it a representative chunk; every call then runs one epoch
        over its rows, and the number of features is fixed by the first (DEC and DMAE
        with an autoencoder to pretrain warm up over the stream instead: see their own
        ``partial_fit``; ``benchmarks/README.md`` compares the routes with ``fit``).
        The optimizer
        state carries over between calls (it is not pickled). For a stream of chunks,
        or dask-ml's ``Incremental``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A chunk of training data.
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each row of the chunk (see :meth:`fit`).

        Returns
        -------
        self : object
            The estimator, trained one more epoch.
        """
        return self._partial_fit(X, y, sample_weight)


#: The estimators that take scipy sparse matrices (CSR / CSC); the others' errors name them.
SPARSE_ESTIMATORS = ("AutoEncoder", "RBM", "RBMClassifier", "DBN")


def _refuse_sparse(estimator, X, kwargs) -> None:
    """Sparse ``X`` where the caller does not pass ``accept_sparse``: a TypeError that names
    the estimators that take sparse data (scikit-learn's says only "dense data is
    required")."""
    if sp.issparse(X) and not kwargs.get("accept_sparse", False):
        raise TypeError(
            f"{type(estimator).__name__} does not accept sparse input (got a scipy sparse "
            f"{X.format.upper()} matrix of shape {X.shape}). The estimators that take sparse "
            f"data (CSR or CSC) are {', '.join(SPARSE_ESTIMATORS)}: e.g. pass the codes of an "
            f"AutoEncoder or RBM fitted on X (their transform) to {type(estimator).__name__}, "
            "or densify X with X.toarray() if n_samples * n_features floats fit in memory.")


def _check_weights(sample_weight, X) -> np.ndarray | None:
    """Validated sample weights as float64, or None when they are all equal (every row
    once per epoch, the unweighted fit). All zero or negative weights raise."""
    if sample_weight is None:
        return None
    w = _check_sample_weight(sample_weight, np.empty((X.shape[0], 0)), dtype=np.float64,
                             ensure_non_negative=True)  # all zero: a ValueError
    return None if np.all(w == w[0]) else w


def _blockwise(method):
    """Let ``method(X)`` take a dask array: it then returns a dask array whose blocks are
    ``method`` applied to the blocks of rows of ``X`` (dask-ml's ``ParallelPostFit``,
    built in). Other input goes to ``method`` unchanged.

    The estimator is one key of the graph (``dask.delayed``) that every block's task
    depends on: a distributed scheduler serialises each task on its own, so an estimator
    inside every task would be pickled, sent and unpickled once per block (with its
    fitted attributes, e.g. ``labels_``) instead of once per worker.
    """

    @functools.wraps(method)
    def wrapper(self, X, *args, **kwargs):
        if not _is_dask_array(X):
            return method(self, X, *args, **kwargs)
        import dask

        X = X.rechunk({1: -1}) if X.ndim == 2 else X
        probe = method(self, np.asarray(X[:2].compute()), *args, **kwargs)
        probe = np.asarray(probe)

        def block(b, estimator):
            return np.asarray(method(estimator, b, *args, **kwargs))

        chunks = (X.chunks[0], *((s,) for s in probe.shape[1:]))
        return X.map_blocks(block, dask.delayed(self, pure=False), dtype=probe.dtype,
                            chunks=chunks, drop_axis=None if probe.ndim == 2 else 1,
                            meta=probe[:0])

    wrapper._blockwise = True
    return wrapper


def _is_dask_array(X) -> bool:
    return type(X).__module__.split(".")[0] == "dask" and hasattr(X, "map_blocks")


def _modules_of(estimator) -> list[torch.nn.Module]:
    """The torch modules an estimator holds: its own attributes and those of the fitted
    torch estimators it holds (e.g. a pretrained ``autoencoder_``), without repeats."""
    found: dict[int, torch.nn.Module] = {}
    for value in vars(estimator).values():
        if isinstance(value, torch.nn.Module):
            found.setdefault(id(value), value)
        elif isinstance(value, TorchEstimator) and value is not estimator:
            for module in _modules_of(value):
                found.setdefault(id(module), module)
    return list(found.values())


def _cast_modules(modules: list[torch.nn.Module], dtype: torch.dtype) -> None:
    """Cast the floating parameters and buffers of ``modules`` in place (float32 values
    survive float32 -> float64 -> float32 exactly)."""
    with torch.no_grad():
        for module in modules:
            module.to(dtype)


class _Output:
    """One output of :meth:`TorchEstimator._inference`, filled chunk by chunk.

    A per-row output (first axis the batch) goes straight into one preallocated array of
    the final dtype: no list of chunks, no concatenated copy, no cast copy. A scalar is
    the first chunk's value; anything else is concatenated at the end.
    """

    def __init__(self, first: torch.Tensor, n: int, rows: int, dtype):
        floating = first.is_floating_point() or first.is_complex()
        self.dtype = dtype if dtype is not None and floating else None
        self.scalar = first.dim() == 0
        self.out = None
        self.parts: list = []
        if not self.scalar and first.shape[0] == rows:
            out_dtype = self.dtype if self.dtype is not None else to_numpy(first[:0]).dtype
            self.out = np.empty((n, *first.shape[1:]), dtype=out_dtype)

    def add(self, part: torch.Tensor, start: int) -> None:
        if self.out is not None:
            self.out[start : start + part.shape[0]] = to_numpy(part)
        elif not self.scalar or not self.parts:
            self.parts.append(part)

    def array(self) -> np.ndarray:
        if self.out is not None:
            return self.out
        full = self.parts[0] if self.scalar else torch.cat(self.parts)
        arr = to_numpy(full)
        if self.dtype is not None and np.issubdtype(arr.dtype, np.floating):
            arr = arr.astype(self.dtype, copy=False)
        return arr


def _writeable(X) -> np.ndarray:
    """torch cannot wrap read-only arrays (e.g. memmaps) without a warning: copy those."""
    X = np.asarray(X)
    return X if X.flags.writeable else X.copy()


def _to_cpu(value):
    if isinstance(value, torch.nn.Module):
        return copy.deepcopy(value).to("cpu")
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu")
    return value


def _to(value, device: torch.device):
    if isinstance(value, (torch.nn.Module, torch.Tensor)):
        return value.to(device)
    return value
