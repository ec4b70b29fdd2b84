"""Global configuration: the compute precision, the inference memory budget, the
thread count of small fits and the mixed precision of large training steps.

Four settings, read by every estimator (:class:`skdeepclust.base.TorchEstimator`):

- ``compute_dtype``: the floating type the torch modules are built and trained in.
  ``"float32"`` computes in single precision whatever the input's dtype and returns
  outputs (``transform``, ``predict_proba``, fitted arrays such as ``cluster_centers_``) in
  the input's dtype, so that float64 input (what ``X / 255`` gives) trains as fast as
  float32 input (float64 trains 1.5-2x slower on the CPU); inference of float64 input
  runs in float64 (see :meth:`TorchEstimator._inference`); the default. ``"input"``
  computes in the input's dtype. ``"float64"`` always computes in double precision.
- ``working_memory``: the budget, in MiB, of the temporaries of one inference chunk
  (``transform``, ``predict``, ``score_samples`` ...). Estimators run inference in chunks
  of as many rows as fit the budget (never fewer than their training ``batch_size``).
- ``small_fit_threads``: how many torch threads a small training loop on the CPU runs on
  (:mod:`skdeepclust._threads`).
- ``mixed_precision``: whether large training steps run their matrix products in bfloat16
  (:mod:`skdeepclust._precision`).

The defaults can be set before the process starts with the environment variables
``SKDEEPCLUST_COMPUTE_DTYPE``, ``SKDEEPCLUST_WORKING_MEMORY``,
``SKDEEPCLUST_SMALL_FIT_THREADS`` ("auto", "off" or a count) and
``SKDEEPCLUST_MIXED_PRECISION``; that is the way to reach
worker processes (joblib's loky workers, dask workers), which start from the defaults and
do not see :func:`set_config` calls of the parent.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from numbers import Integral, Real

__all__ = ["config_context", "get_config", "set_config"]

COMPUTE_DTYPES = ("float32", "float64", "input")
SMALL_FIT_THREADS = ("auto", "off")
MIXED_PRECISION = ("auto", "bfloat16", "off")


def _check(compute_dtype, working_memory, small_fit_threads=None,
           mixed_precision=None) -> None:
    if compute_dtype is not None and compute_dtype not in COMPUTE_DTYPES:
        raise ValueError(
            f"compute_dtype must be one of {', '.join(map(repr, COMPUTE_DTYPES))}; "
            f"got {compute_dtype!r}."
        )
    if working_memory is not None and (
        isinstance(working_memory, bool)
        or not isinstance(working_memory, Real)
        or not working_memory > 0
    ):
        raise ValueError(
            f"working_memory must be a positive number of MiB; got {working_memory!r}."
        )
    if small_fit_threads is not None and small_fit_threads not in SMALL_FIT_THREADS and (
        isinstance(small_fit_threads, bool)
        or not isinstance(small_fit_threads, Integral)
        or small_fit_threads < 1
    ):
        raise ValueError(
            "small_fit_threads must be 'auto', 'off' or a positive number of threads; "
            f"got {small_fit_threads!r}."
        )
    if mixed_precision is not None and mixed_precision not in MIXED_PRECISION:
        raise ValueError(
            f"mixed_precision must be one of {', '.join(map(repr, MIXED_PRECISION))}; "
            f"got {mixed_precision!r}."
        )


def _small_fit_threads_from_env(value: str):
    value = value.strip().lower()
    try:
        return int(value)
    except ValueError:
        return value


def _defaults() -> dict:
    config = {
        "compute_dtype": os.environ.get("SKDEEPCLUST_COMPUTE_DTYPE", "float32"),
        "working_memory": float(os.environ.get("SKDEEPCLUST_WORKING_MEMORY", "128")),
        "small_fit_threads": _small_fit_threads_from_env(
            os.environ.get("SKDEEPCLUST_SMALL_FIT_THREADS", "auto")
        ),
        "mixed_precision": os.environ.get("SKDEEPCLUST_MIXED_PRECISION", "auto"),
    }
    _check(**config)
    return config


_global_config = _defaults()
_threadlocal = threading.local()


def _local() -> dict:
    if not hasattr(_threadlocal, "config"):
        _threadlocal.config = dict(_global_config)
    return _threadlocal.config


def get_config() -> dict:
    """The current values of the settings of :func:`set_config`.

    Returns
    -------
    config : dict
        Keys ``"compute_dtype"``, ``"working_memory"``, ``"small_fit_threads"`` and
        ``"mixed_precision"``.
    """
    return dict(_local())


def set_config(
    compute_dtype: str | None = None,
    working_memory: float | None = None,
    small_fit_threads: str | int | None = None,
    mixed_precision: str | None = None,
) -> None:
    """Set skdeepclust's global settings (in this thread; see :func:`config_context`).

    Parameters
    ----------
    compute_dtype : {"float32", "input", "float64"}, default=None
        Precision of the torch computation of the estimators fitted from now on (a fitted
        estimator keeps the precision it was fitted in). ``"float32"`` trains in float32
        and returns arrays in the input's dtype: float64 input is then as fast to fit as
        float32 input, and the model is the one float32 input gives (bit for bit); use it
        for large float64 data; the initial value. ``"input"`` computes in the input's
        dtype: float64 input gets float64 precision (choose it for exact likelihoods, or
        a fit that diverges in float32, e.g. data of magnitude 1e20). ``"float64"``
        computes in float64 even for float32 input. ``None`` leaves the setting
        unchanged.
    working_memory : float, default=None
        Budget in MiB for the temporaries of one inference chunk; inference runs on as
        many rows at once as the estimator's declared per-row temporaries allow within
        it (at least its training ``batch_size``). The initial value is 128. Lower it
        when ``transform`` of a large data set runs out of memory; raising it past a few
        hundred MiB gains little speed. ``None`` leaves the setting unchanged.
    small_fit_threads : "auto", "off" or int, default=None
        How many torch threads a small training loop on the CPU runs on: one whose step
        (batch size times trained parameters) is under ten million multiply-adds, such as
        an autoencoder of a few hundred units. ``"auto"`` (the initial value) runs it on
        one thread, where threads cost more than they bring; an int runs it on at most
        that many threads (for a machine where you measured more to be faster); in both
        cases the thread count of the thread running the fit is restored when the loop
        ends, and no other thread is affected. ``"off"`` never changes torch's thread
        count: choose it when you manage threads yourself (``torch.set_num_threads``,
        ``OMP_NUM_THREADS``, ``threadpoolctl``). On torch builds whose thread count is
        shared by the whole process (torch's native thread pool instead of OpenMP),
        skdeepclust never changes it, whatever this setting. Larger loops and GPU
        training always run on torch's setting. ``None`` leaves the setting unchanged.
    mixed_precision : {"off", "auto", "bfloat16"}, default=None
        Whether the training steps of autoencoders (an
        :class:`~skdeepclust.representation.AutoEncoder`, and the one DECClustering and
        DMAEClustering pretrain) run their matrix products in bfloat16 under
        :func:`torch.autocast`; parameters, optimizer state, losses and everything after
        ``fit`` (``transform``, ``predict``, ``score``) stay in float32. ``"off"`` trains
        in float32. ``"auto"`` (the initial value) autocasts float32 fits of at least
        1e8 multiply-adds a step (batch size times parameters, e.g. DEC's
        784-500-500-2000-10 network at batch 256) on hardware that multiplies bfloat16
        natively (x86 CPUs with AVX512-BF16 or AMX, CUDA GPUs from Ampere on), after a
        float32 start (the first fifth of the fit's steps, which decide the partition
        the codes hold): their pretraining runs about twice as fast with the same
        reconstruction error and DEC's accuracy (the user guide's "Mixed precision"
        section has the figures); smaller fits and other hardware are unchanged. Choose
        ``"off"`` for float32 products on every device (a model that does not depend on
        whether the hardware has bfloat16 products). ``"bfloat16"`` autocasts every float32
        autoencoder step from the first, on the CPU or a CUDA GPU (slow on CPUs without
        native bfloat16; from the first step, DEC on MNIST-10k had two poor fits in
        twenty). The choice is made when ``fit`` starts and kept by
        ``partial_fit``. ``None`` leaves the setting unchanged.

    See Also
    --------
    config_context : The same settings for a ``with`` block.
    get_config : The current settings.
    """
    _check(compute_dtype, working_memory, small_fit_threads, mixed_precision)
    config = _local()
    if compute_dtype is not None:
        config["compute_dtype"] = compute_dtype
    if working_memory is not None:
        config["working_memory"] = float(working_memory)
    if small_fit_threads is not None:
        config["small_fit_threads"] = small_fit_threads
    if mixed_precision is not None:
        config["mixed_precision"] = mixed_precision


@contextmanager
def config_context(
    *,
    compute_dtype: str | None = None,
    working_memory: float | None = None,
    small_fit_threads: str | int | None = None,
    mixed_precision: str | None = None,
):
    """Set the settings of :func:`set_config` inside a ``with`` block only.

    Parameters
    ----------
    compute_dtype, working_memory, small_fit_threads, mixed_precision
        As in :func:`set_config`; ``None`` keeps the current value.

    Examples
    --------
    >>> import numpy as np
    >>> import skdeepclust
    >>> from skdeepclust import AutoEncoder
    >>> X = np.random.RandomState(0).rand(50, 4)
    >>> with skdeepclust.config_context(compute_dtype="input"):
    ...     ae = AutoEncoder(2, max_epochs=2, tol=None, device="cpu", random_state=0).fit(X)
    >>> ae.transform(X).dtype
    dtype('float64')
    """
    old = get_config()
    set_config(compute_dtype=compute_dtype, working_memory=working_memory,
               small_fit_threads=small_fit_threads, mixed_precision=mixed_precision)
    try:
        yield
    finally:
        set_config(**old)


def compute_dtype_for(input_dtype):
    """The numpy dtype the estimators compute in for input of ``input_dtype``."""
    import numpy as np

    setting = _local()["compute_dtype"]
    return np.dtype(input_dtype) if setting == "input" else np.dtype(setting)
