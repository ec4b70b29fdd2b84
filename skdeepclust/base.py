"""TorchEstimator: the base class of every skdeepclust estimator.

It owns what every model shares: the ``device`` parameter, per-fit seeding, input
validation, numpy-in / numpy-out batched inference and device-portable pickling. A model
family subclasses it, builds its ``torch.nn.Module`` in ``fit`` with
:meth:`TorchEstimator._build_module` and trains it with
:func:`skdeepclust._training.train_loop`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array

from ._torch import (
    available_device,
    build_seeded,
    make_generator,
    resolve_device,
    seed_from,
    to_numpy,
    torch_dtype,
)
from .utils._sklearn_compat import Interval, check_is_fitted, validate_data

__all__ = ["TorchEstimator"]

#: Inference batch size used when the estimator's own ``batch_size`` is smaller.
INFERENCE_BATCH_SIZE = 4096


class TorchEstimator(BaseEstimator):
    """Base class for estimators with a PyTorch backend.

    Subclasses declare their hyper-parameters in ``__init__`` (stored, never validated
    there) and extend ``_parameter_constraints``. In ``fit`` they call, in order:

    1. ``X = self._validate_fit_data(X)`` — sklearn validation, dtype float32/float64;
    2. ``rng, generator = self._start_fit(X)`` — resolves ``device`` into ``self._device``,
       fixes the module dtype from ``X`` and seeds a per-fit :class:`torch.Generator`;
    3. ``self.module_ = self._build_module_seeded(factory, rng)`` — build under
       :func:`torch.random.fork_rng`;
    4. :func:`skdeepclust._training.train_loop` with ``self._to_tensor(X)``.

    Prediction methods call ``X = self._validate_predict_data(X)`` and
    ``self._inference(fn, X)``, which runs ``fn`` on device batches under
    :func:`torch.inference_mode` and returns numpy in the dtype of ``X``.

    Pickling moves every torch module and tensor to the CPU; unpickling puts them back on
    the fitted device when it exists, and otherwise on the CPU with a
    :class:`~skdeepclust.exceptions.DeviceWarning`.
    """

    _parameter_constraints: dict = {
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 0, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
    }

    # ------------------------------------------------------------------ fit helpers
    def _validate_fit_data(self, X, *, reset: bool = True, **kwargs) -> np.ndarray:
        """Validate training data with sklearn's rules; returns float32 or float64."""
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

    def _start_fit(self, X: np.ndarray, *, random_state=None):
        """Resolve the device and dtype, and seed this fit's generator.

        Returns
        -------
        rng : numpy.random.RandomState
            For numpy-side draws (e.g. a nested KMeans' ``random_state``).
        generator : torch.Generator
            On ``self._device``; pass it to every torch random call of the fit.
        """
        self._device = resolve_device(self.device)
        self._dtype = np.dtype(X.dtype)
        rng = check_random_state(self.random_state if random_state is None else random_state)
        generator = make_generator(seed_from(rng), self._device)
        return rng, generator

    def _build_module_seeded(
        self, factory: Callable[[], torch.nn.Module], rng: np.random.RandomState
    ) -> torch.nn.Module:
        """Build ``factory()`` reproducibly from ``rng`` on the fit's device and dtype."""
        return build_seeded(
            factory, seed=seed_from(rng), device=self._device, dtype=self._torch_dtype
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
        return torch_dtype(self._dtype)

    def _to_tensor(self, X: np.ndarray) -> torch.Tensor:
        """Move a validated array to the fit's device and dtype (the training set tensor)."""
        return torch.as_tensor(_writeable(X), device=self._device).to(self._torch_dtype)

    # ----------------------------------------------------------- predict helpers
    def _validate_predict_data(self, X, **kwargs) -> np.ndarray:
        """``check_is_fitted`` then validation against the fitted feature count."""
        check_is_fitted(self)
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

    def _inference_batch_size(self) -> int:
        """``max(batch_size, 4096)``; a resolved ``_batch_size`` stands in for "auto"."""
        size = getattr(self, "_batch_size", None) or getattr(self, "batch_size", 0)
        if not isinstance(size, Integral):  # "auto" before fit, or None
            size = 0
        return max(int(size), INFERENCE_BATCH_SIZE)

    def _inference(
        self,
        fn: Callable[[torch.Tensor], torch.Tensor | tuple[torch.Tensor, ...]],
        X: np.ndarray,
        *,
        batch_size: int | None = None,
        out_dtype: Any = "input",
    ):
        """Apply ``fn`` to device batches of ``X`` under ``inference_mode``.

        Parameters
        ----------
        fn : callable
            Maps a batch tensor to a tensor or a tuple of tensors, each with the batch as
            first axis.
        X : ndarray of shape (n_samples, n_features)
            Validated input.
        batch_size : int, default=None
            Defaults to ``max(self.batch_size, 4096)``.
        out_dtype : "input", None or dtype, default="input"
            Floating outputs are cast to the input's dtype by default; ``None`` keeps the
            computed dtype (use it for integer labels).

        Returns
        -------
        ndarray or tuple of ndarray
        """
        batch_size = batch_size or self._inference_batch_size()
        dtype = X.dtype if isinstance(out_dtype, str) and out_dtype == "input" else out_dtype
        X_cpu = torch.as_tensor(_writeable(X))
        modules = [m for m in vars(self).values() if isinstance(m, torch.nn.Module)]
        modes = [m.training for m in modules]
        for m in modules:
            m.eval()
        chunks: list = []
        try:
            with torch.inference_mode():
                for start in range(0, X_cpu.shape[0], batch_size):
                    xb = X_cpu[start : start + batch_size].to(self._device, self._torch_dtype)
                    out = fn(xb)
                    chunks.append(out if isinstance(out, tuple) else (out,))
        finally:
            for m, mode in zip(modules, modes):
                m.train(mode)
        if not chunks:  # pragma: no cover - validate_data rejects empty input
            raise ValueError("Found array with 0 sample(s).")
        results = []
        for parts in zip(*chunks):
            full = torch.cat(parts) if parts[0].dim() > 0 else parts[0]
            arr = to_numpy(full)
            if dtype is not None and np.issubdtype(arr.dtype, np.floating):
                arr = arr.astype(dtype, copy=False)
            results.append(arr)
        return results[0] if len(results) == 1 else tuple(results)

    # ------------------------------------------------------------------- pickling
    #: Attributes dropped when pickling (optimizer state: pickles must stay cheap).
    _transient_attributes: tuple[str, ...] = ("_optimizer",)

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
