"""Ctrl-C during training: which fits stop cleanly and which pass the interrupt on.

:func:`keyboard_interrupt` states the rule and lets a block of code choose another;
:func:`fit_scope` marks one outermost ``fit`` so that an interrupt absorbed by one of its
training phases skips the phases still to come. The training loop
(:func:`skdeepclust._training.train_loop`) asks :func:`_absorb_interrupt` what to do.
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
import threading
from collections.abc import Iterator

__all__ = ["fit_scope", "keyboard_interrupt"]

_INTERRUPT_POLICIES = ("auto", "stop", "raise")
_interrupt_policy: contextvars.ContextVar[str] = contextvars.ContextVar(
    "skdeepclust_interrupt_policy", default="auto"
)


class _FitScope:
    """The outermost ``fit`` running in this context; nested fits share it."""

    __slots__ = ("interrupted",)

    def __init__(self) -> None:
        self.interrupted = False  # a training phase of this fit absorbed a Ctrl-C


_fit_scope: contextvars.ContextVar[_FitScope | None] = contextvars.ContextVar(
    "skdeepclust_fit_scope", default=None
)

#: Modules whose frames lie between the training loop and the code that called ``fit``
#: without being a caller of their own: skdeepclust itself and scikit-learn's method
#: wrappers (``_fit_context``, ``fit_transform``/``fit_predict`` of the mixins, set_output).
_TRANSPARENT_MODULES = ("skdeepclust", "sklearn.base", "sklearn.utils._set_output",
                        "contextlib", "functools")
#: Callers that fit estimators on the user's behalf (searches, cross-validation,
#: pipelines, meta-estimators, parallel back-ends): an interrupt must reach them.
_NESTING_MODULES = ("sklearn", "joblib", "loky", "dask", "distributed", "ray")


def _in_package(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def _called_by_library() -> bool:
    """Whether the outermost skdeepclust call on the stack was made by scikit-learn,
    joblib or dask (a search, a pipeline, cross-validation) rather than by user code."""
    frame = sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if not _in_package(module, _TRANSPARENT_MODULES):
            return _in_package(module, _NESTING_MODULES)
        frame = frame.f_back
    return False


def _absorb_interrupt() -> bool:
    """Whether the training loop should stop cleanly instead of re-raising Ctrl-C."""
    policy = _interrupt_policy.get()
    if policy != "auto":
        return policy == "stop"
    return threading.current_thread() is threading.main_thread() and not _called_by_library()


@contextlib.contextmanager
def keyboard_interrupt(policy: str = "auto") -> Iterator[None]:
    """Choose what Ctrl-C (``KeyboardInterrupt``) does to the fits run inside the block.

    The rule, ``policy="auto"`` (the default, also outside any such block): **a fit you
    call yourself stops cleanly; a fit called by scikit-learn, joblib or dask passes the
    interrupt on.**

    - When your own code (a script, a notebook cell, a function of yours) calls ``fit``,
      ``partial_fit``, ``fit_transform`` or ``fit_predict``, Ctrl-C stops training at
      once, a ``UserWarning`` says so and the call returns normally with the parameters
      reached so far: the model is fitted and usable (``model = DECClustering().fit(X)``
      still assigns ``model``), ``n_iter_`` counts the epochs done, and no
      ``ConvergenceWarning`` is added. The remaining training phases of that fit (e.g.
      DEC's clustering after an interrupted pretraining, the upper layers of a DBN) run
      no epoch.
    - When the fit is called by scikit-learn (``GridSearchCV``, ``cross_validate``,
      ``Pipeline``, any meta-estimator), joblib or dask, the ``KeyboardInterrupt`` is
      re-raised immediately: the search stops instead of scoring a half-trained
      candidate with the others, and the estimator being fitted is left partly fitted,
      as after any other exception raised by ``fit``.

    ``GMMRepresentation.transform``, which optimises codes with the same loop, follows
    the same rule.

    Parameters
    ----------
    policy : {"auto", "stop", "raise"}, default="auto"
        "stop": every fit in the block stops cleanly and returns, whoever called it (e.g.
        a search driven by a third-party tool that should keep going); "raise": every
        interrupt reaches the caller at once, even from a fit of your own (e.g. a script
        that fits many models in a loop and should stop as a whole); "auto": the rule
        above.

    Notes
    -----
    The setting is a :mod:`contextvars` variable: it holds for the current thread (or
    asyncio task) and is not seen by joblib's worker processes, whose fits always pass
    the interrupt on under "auto".

    Examples
    --------
    >>> from skdeepclust.utils import keyboard_interrupt
    >>> with keyboard_interrupt("raise"):
    ...     pass  # fits here pass Ctrl-C on to this code
    """
    if policy not in _INTERRUPT_POLICIES:
        raise ValueError(
            f"Unknown policy {policy!r}; valid options are {list(_INTERRUPT_POLICIES)}."
        )
    token = _interrupt_policy.set(policy)
    try:
        yield
    finally:
        _interrupt_policy.reset(token)


@contextlib.contextmanager
def fit_scope() -> Iterator[None]:
    """Mark the extent of one ``fit`` (every ``_fit_context`` method enters it).

    Fits nested inside it (DEC's autoencoder, the DBN's RBMs) share the outermost scope,
    so that a Ctrl-C absorbed by one training phase skips the phases still to come.
    """
    if _fit_scope.get() is not None:
        yield
        return
    token = _fit_scope.set(_FitScope())
    try:
        yield
    finally:
        _fit_scope.reset(token)
