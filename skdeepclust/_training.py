"""The one training loop shared by every skdeepclust estimator.

Minibatches are drawn by index from a training set that already lives on the device (no
``DataLoader``: its per-sample overhead dominates on tabular data). The loop owns the
epochs, the optimizer step, the progress bar, early stopping, the NaN/inf guard and
Ctrl-C (see :func:`keyboard_interrupt` for the rule); a model family supplies only
``step(indices) -> loss`` and optional hooks.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import sys
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch.optim import optimizer as _torch_optimizer
from tqdm.auto import tqdm

from ._distributed import DataParallel, world
from .exceptions import ConvergenceWarning, TrainingDivergedError

__all__ = [
    "OPTIMIZERS",
    "TrainingResult",
    "fit_scope",
    "keyboard_interrupt",
    "make_optimizer",
    "nearest_power_of_two",
    "partition_problems",
    "train_loop",
    "warn_partition",
    "warn_unconverged",
]


class _LeanStepMixin:
    """Call torch's fused optimizer kernel directly, skipping ``Optimizer.step``'s wrapper.

    ``torch.optim``'s ``step`` runs a hook/profiler wrapper, regroups the tensors by device
    and dtype and looks every state tensor up again on every call: on the small networks of
    this library that costs more than the fused update itself (about 330 us against 110 us
    per step for a 64-64-10-64-64 autoencoder on one CPU thread, a fifth of a whole
    training step). :meth:`lean_step` (what :func:`train_loop` calls) caches the lists of
    state tensors once and launches the kernel. The state lives in the usual ``state[p]``
    entries, so ``state_dict``, ``load_state_dict``, ``step`` and a later ``partial_fit``
    work unchanged. It falls back to torch's own ``step`` whenever anything unusual is set:
    step hooks, tensor learning rates, AMSGrad, Nesterov, capturable or differentiable
    mode, sparse gradients, parameters of mixed devices or dtypes, or some parameters
    without a gradient.
    """

    _lean_flags: tuple[str, ...] = ()
    _lean_cache: list | None = None

    def load_state_dict(self, state_dict):
        self._lean_cache = None
        return super().load_state_dict(state_dict)

    def add_param_group(self, param_group):
        self._lean_cache = None
        # torch wraps this method in ``torch._disable_dynamo``, whose first call imports
        # torch._dynamo: about 1.1 s of CPU, most of the start-up of a process's first
        # fit. The wrapper only matters under torch.compile, which never traces this
        # optimizer (it is built outside any compiled region): call the method it wraps.
        method = super().add_param_group
        unwrapped = getattr(method.__func__, "__wrapped__", None)
        return method(param_group) if unwrapped is None else unwrapped(self, param_group)

    def _lean_build(self) -> list | None:
        cache = []
        for group in self.param_groups:
            params = list(group["params"])
            if not params:
                continue
            if isinstance(group["lr"], torch.Tensor) or any(
                group.get(flag, False) for flag in self._lean_flags
            ):
                return None
            ref = params[0]
            if any(p.grad is None or p.grad.is_sparse or p.device != ref.device
                   or p.dtype != ref.dtype for p in params):
                return None
            entry = self._lean_state(group, params)
            if entry is None:
                return None
            cache.append(entry)
        return cache

    def lean_step(self) -> None:
        """One optimisation step; same result as ``step()``, less overhead."""
        if (self._optimizer_step_pre_hooks or self._optimizer_step_post_hooks
                or _torch_optimizer._global_optimizer_pre_hooks
                or _torch_optimizer._global_optimizer_post_hooks):
            self.step()
            return
        cache = self._lean_cache
        if cache is None:
            cache = self._lean_cache = self._lean_build()
            if cache is None:
                self.step()
                return
        grads_per_group = []
        for entry in cache:
            grads = [p.grad for p in entry[1]]
            if any(g is None for g in grads):
                self.step()
                return
            grads_per_group.append(grads)
        with torch.no_grad():
            for entry, grads in zip(cache, grads_per_group):
                self._lean_update(entry, grads)


class _LeanAdam(_LeanStepMixin, torch.optim.Adam):
    _lean_flags = ("amsgrad", "capturable", "differentiable")
    _kernel = staticmethod(torch._fused_adam_)

    def _lean_state(self, group: dict, params: list):
        avgs, sqs, steps = [], [], []
        for p in params:
            state = self.state[p]
            if not state:
                state["step"] = torch.zeros((), dtype=torch.float32, device=p.device)
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            avgs.append(state["exp_avg"])
            sqs.append(state["exp_avg_sq"])
            steps.append(state["step"])
        return (group, params, avgs, sqs, steps)

    def _lean_update(self, entry, grads) -> None:
        group, params, avgs, sqs, steps = entry
        torch._foreach_add_(steps, 1)
        beta1, beta2 = group["betas"]
        self._kernel(
            params, grads, avgs, sqs, [], steps, lr=float(group["lr"]), beta1=float(beta1),
            beta2=float(beta2), weight_decay=float(group["weight_decay"]),
            eps=float(group["eps"]), amsgrad=False, maximize=bool(group["maximize"]),
        )


class _LeanAdamW(_LeanAdam, torch.optim.AdamW):
    _kernel = staticmethod(torch._fused_adamw_)


class _LeanSGD(_LeanStepMixin, torch.optim.SGD):
    _lean_flags = ("nesterov", "differentiable")

    def _lean_state(self, group: dict, params: list):
        if group["momentum"] == 0:
            return (group, params, [], [False])
        bufs = [self.state[p].get("momentum_buffer") for p in params]
        missing = [b is None for b in bufs]
        if any(missing) and not all(missing):
            return None  # some buffers exist, some not: torch's own step handles it
        first = all(missing)
        if first:
            bufs = [torch.empty_like(p) for p in params]
            for p, b in zip(params, bufs):
                self.state[p]["momentum_buffer"] = b
        return (group, params, bufs, [first])

    def _lean_update(self, entry, grads) -> None:
        group, params, bufs, first = entry
        torch._fused_sgd_(
            params, grads, bufs, weight_decay=float(group["weight_decay"]),
            momentum=float(group["momentum"]), lr=float(group["lr"]),
            dampening=float(group["dampening"]), nesterov=False,
            maximize=bool(group["maximize"]), is_first_step=first[0],
        )
        first[0] = False


def _lean_or_plain(lean: type, plain: type, fused):
    """The lean class when the fused kernels apply (CPU/CUDA floating tensors)."""
    return lean if fused else plain


def _sgd(params, lr, momentum, weight_decay, fused):
    cls = _lean_or_plain(_LeanSGD, torch.optim.SGD, fused)
    return cls(params, lr=lr, momentum=momentum, weight_decay=weight_decay, fused=fused)


def _adam(params, lr, momentum, weight_decay, fused):
    cls = _lean_or_plain(_LeanAdam, torch.optim.Adam, fused)
    return cls(params, lr=lr, weight_decay=weight_decay, fused=fused)


def _adamw(params, lr, momentum, weight_decay, fused):
    cls = _lean_or_plain(_LeanAdamW, torch.optim.AdamW, fused)
    return cls(params, lr=lr, weight_decay=weight_decay, fused=fused)


def _rmsprop(params, lr, momentum, weight_decay, fused):
    return torch.optim.RMSprop(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


#: Optimizer registry: a new optimizer is one entry (validate with ``StrOptions(set(OPTIMIZERS))``).
OPTIMIZERS: dict[str, Callable] = {
    "sgd": _sgd,
    "adam": _adam,
    "adamw": _adamw,
    "rmsprop": _rmsprop,
}


def make_optimizer(
    name: str,
    params: Iterable,
    *,
    learning_rate: float,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
) -> torch.optim.Optimizer:
    """Build an optimizer from the registry.

    Parameters
    ----------
    name : {"sgd", "adam", "adamw", "rmsprop"}
    params : iterable of tensors or of parameter-group dicts
    learning_rate : float
    momentum : float, default=0.0
        Used by "sgd" and "rmsprop".
    weight_decay : float, default=0.0
    """
    try:
        factory = OPTIMIZERS[name]
    except KeyError:
        raise ValueError(
            f"Unknown optimizer {name!r}; valid options are {sorted(OPTIMIZERS)}."
        ) from None
    params = list(params)
    tensors = [p for g in params for p in (g["params"] if isinstance(g, dict) else [g])]
    # One fused kernel per step instead of a few ops per parameter: on small networks the
    # per-op overhead dominates (about 1.7x faster AutoEncoder steps on digits).
    fused = bool(tensors) and all(
        t.device.type in ("cpu", "cuda") and t.is_floating_point() for t in tensors
    )
    return factory(params, learning_rate, momentum, weight_decay, fused or None)


#: Below this many multiply-adds per step (batch size x trained parameters), training on
#: the CPU runs on one intra-op thread: measured on digits (a 64-64-10-64-64 autoencoder,
#: batch 200, 2 idle cores) a fit took 0.98 s on one thread against 1.28 s on two, while
#: an MNIST autoencoder (784-256-32-256-784, 80 million per step) is 1.3x faster on two.
SMALL_STEP_WORK = 10_000_000

_threads_lock = threading.Lock()
_threads_state = {"users": 0, "saved": 0}


@contextlib.contextmanager
def _single_thread_if_small(params: list, batch_size: int, device: torch.device):
    """Run a small CPU training loop on one torch thread, then restore the setting.

    A reference count makes concurrent fits in one process safe: the first small fit saves
    the thread count, the last one to finish restores it.
    """
    work = batch_size * sum(p.numel() for p in params)
    if device.type != "cpu" or not params or work >= SMALL_STEP_WORK:
        yield
        return
    with _threads_lock:
        if _threads_state["users"] == 0:
            _threads_state["saved"] = torch.get_num_threads()
            if _threads_state["saved"] > 1:
                torch.set_num_threads(1)
        _threads_state["users"] += 1
    try:
        yield
    finally:
        with _threads_lock:
            _threads_state["users"] -= 1
            if _threads_state["users"] == 0 and _threads_state["saved"] > 1:
                torch.set_num_threads(_threads_state["saved"])


def nearest_power_of_two(x: float, lo: int, hi: int) -> int:
    """The power of two nearest to ``x`` on a log scale, clipped to ``[lo, hi]``.

    The "auto" batch sizes are built on it (``lo >= 1``).
    """
    return int(min(max(2 ** round(math.log2(max(x, 1.0))), lo), hi))


# ------------------------------------------------------------------------- Ctrl-C
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


@dataclass
class TrainingResult:
    """What :func:`train_loop` reports back to the estimator."""

    loss_curve: list[float] = field(default_factory=list)
    n_iter: int = 0
    n_steps: int = 0
    converged: bool = False
    interrupted: bool = False
    stop_reason: str = "max_epochs"


def train_loop(
    step: Callable[[torch.Tensor], torch.Tensor],
    *,
    n_samples: int,
    batch_size: int,
    max_epochs: int,
    generator: torch.Generator,
    optimizer: torch.optim.Optimizer | None = None,
    phase: str = "training",
    verbose: int = 0,
    tol: float | None = None,
    n_iter_no_change: int = 10,
    shuffle: bool = True,
    max_grad_norm: float | None = None,
    before_step: Callable[[int], bool | None] | None = None,
    on_epoch_end: Callable[[int, float], bool | None] | None = None,
    suggestion: str = "Try a smaller learning_rate, standardize the input, or "
    "compute in float64 (skdeepclust.set_config(compute_dtype='float64')).",
    result: TrainingResult | None = None,
    sync_state: Sequence[torch.nn.Module | torch.Tensor]
    | Callable[[], Sequence[torch.nn.Module | torch.Tensor]] | None = None,
) -> TrainingResult:
    """Run minibatch training.

    Parameters
    ----------
    step : callable
        ``step(indices)`` receives a 1-D ``LongTensor`` of row indices on the generator's
        device and returns the scalar loss of that minibatch. When ``optimizer`` is given
        the loop zeroes the gradients, back-propagates the loss and steps; when it is
        ``None`` the step updates the parameters itself (e.g. contrastive divergence) and
        returns a detached loss.
    n_samples : int
        Number of training rows; indices are drawn from ``range(n_samples)``.
    batch_size : int
        Clipped to ``n_samples``.
    max_epochs : int
    generator : torch.Generator
        The fit's generator; it draws the shuffling permutations.
    optimizer : torch.optim.Optimizer, default=None
    phase : str, default="training"
        Name shown in the progress bar and in error messages ("pretraining", ...).
    verbose : int, default=0
        ``> 0`` shows a tqdm progress bar with the running loss.
    tol, n_iter_no_change : float or None, int
        Stop (``converged=True``) when the epoch loss has not improved by at least ``tol``
        for ``n_iter_no_change`` consecutive epochs. ``tol=None`` disables it.
    shuffle : bool, default=True
    max_grad_norm : float, default=None
        Clip the global gradient norm before each optimizer step.
    before_step : callable, default=None
        ``before_step(iteration)`` is called before each minibatch with the number of steps
        done so far in this call; returning ``True`` stops training as converged (DEC uses
        it to refresh its target distribution and test its stopping rule).
    on_epoch_end : callable, default=None
        ``on_epoch_end(epoch, loss)``; returning ``True`` stops training as converged.
    suggestion : str
        Appended to the divergence error.
    result : TrainingResult, default=None
        Continue a previous history (``partial_fit``).
    sync_state : sequence of torch.nn.Module or Tensor, or callable, default=None
        With ``optimizer=None``: what the step updates itself, modules (their parameters
        and floating buffers) and tensors (e.g. momentum buffers), or a callable that
        returns them at each step (for state created lazily or replaced by the step).
        Under data-parallel training (below) it is averaged across ranks after each step,
        weighted by each rank's share of the global minibatch: the same model as one
        process at the global batch when the update is affine in the minibatch statistics
        (SGD with momentum and weight decay, a contrastive-divergence update without norm
        clipping). With momentum, declare the momentum buffers too, or the ranks' buffers
        drift apart at an unevenly split last minibatch. A loop with ``optimizer=None``
        that declares nothing runs on every rank on the whole data, without any
        collective (replicated).

    Returns
    -------
    TrainingResult

    Notes
    -----
    Ctrl-C: under the rule of :func:`keyboard_interrupt`, a fit called by user code
    stops cleanly (``interrupted=True``, a ``UserWarning``, and the later loops of the
    same fit run no epoch), while a fit called by scikit-learn, joblib or dask re-raises
    the ``KeyboardInterrupt`` at once.

    On the CPU, a loop whose step work (batch size times the optimizer's parameters) is
    below :data:`SMALL_STEP_WORK` runs on one torch thread and restores the thread count
    afterwards (threads only add synchronisation cost to such small operations).

    Data-parallel training: when a :mod:`torch.distributed` process group with more than
    one rank is initialised (e.g. under ``torchrun``) and the loop has an optimizer or
    ``sync_state``, ``batch_size`` is per rank: every rank draws the same permutation,
    takes its contiguous share of each global minibatch of ``batch_size * world_size``
    rows, the gradients are averaged across ranks before the optimizer step (one
    ``all_reduce``), the epoch loss is the global mean and stop decisions are combined, so
    that every rank ends with rank 0's parameters. ``step`` must return the **mean** loss
    over its rows (a sum would be scaled by the world size). The ranks first check that
    they train the same data and model (a :class:`ValueError` on every rank otherwise);
    Ctrl-C is re-raised (a rank that stopped alone would leave the others waiting). See
    :mod:`skdeepclust._distributed`.

    Raises
    ------
    TrainingDivergedError
        When an epoch's loss is NaN or infinite.
    ValueError
        Under data-parallel training, when the ranks disagree on the data or the model.
    """
    result = result if result is not None else TrainingResult()
    if n_samples < 1:
        raise ValueError(f"n_samples={n_samples} should be >= 1.")
    scope = _fit_scope.get()
    if scope is not None and scope.interrupted:  # an earlier phase of this fit was stopped
        result.interrupted = True
        result.stop_reason = "interrupted"
        return result
    batch_size = max(1, min(int(batch_size), n_samples))
    device = generator.device
    params = (
        [p for group in optimizer.param_groups for p in group["params"]]
        if optimizer is not None
        else []
    )
    lean = isinstance(optimizer, _LeanStepMixin)
    dp = None
    order_generator, global_batch = generator, batch_size
    if world()[1] > 1 and (optimizer is not None or sync_state):
        dp = DataParallel(params, sync_state or (), generator, device)
        dp.check_consistent(phase=phase, n_samples=n_samples, batch_size=batch_size,
                            max_epochs=max_epochs, shuffle=shuffle)
        order_generator = dp.start()
        global_batch = min(batch_size * dp.world_size, n_samples)
    best = math.inf
    no_improve = 0
    steps = 0
    result.stop_reason = "max_epochs"
    bar = tqdm(
        range(max_epochs), desc=phase, disable=not verbose, leave=verbose > 1, unit="epoch"
    )
    threads = _single_thread_if_small(params, batch_size, device)
    threads.__enter__()
    try:
        for epoch in bar:
            if shuffle:
                order = torch.randperm(n_samples, generator=order_generator, device=device)
            else:
                order = torch.arange(n_samples, device=device)
            total = torch.zeros((), dtype=torch.float64, device=device)
            stop = False
            for start in range(0, n_samples, global_batch):
                if before_step is not None:
                    stop = bool(before_step(steps))
                    if dp is not None:
                        stop = dp.any(stop)
                    if stop:
                        break
                idx = order[start : start + global_batch]
                n_global = n_local = idx.shape[0]
                if dp is not None:
                    idx = dp.shard(idx)
                    n_local = idx.shape[0]
                loss = None
                if optimizer is not None:
                    for p in params:  # optimizer.zero_grad(set_to_none=True), minus its wrapper
                        p.grad = None
                    if n_local:
                        loss = step(idx)
                        loss.backward()
                    if dp is not None:
                        batch_total = dp.reduce_gradients(loss, n_local, n_global)
                    if max_grad_norm is not None:
                        torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
                    if lean:
                        optimizer.lean_step()
                    else:
                        optimizer.step()
                else:
                    if n_local:
                        loss = step(idx)
                    if dp is not None:
                        batch_total = dp.reduce_modules(loss, n_local, n_global)
                if dp is None:
                    total.add_(loss.detach(), alpha=n_local)
                else:
                    total.add_(batch_total)
                steps += 1
            n_seen = min(n_samples, start + global_batch) if not stop else start
            if stop and n_seen == 0:
                result.converged = True
                result.stop_reason = "converged"
                break
            epoch_loss = float(total.item()) / max(n_seen, 1)
            if not math.isfinite(epoch_loss):
                raise TrainingDivergedError(
                    f"{phase} diverged: the loss is {epoch_loss} at epoch "
                    f"{result.n_iter + 1}. {suggestion}"
                )
            result.loss_curve.append(epoch_loss)
            result.n_iter += 1
            if verbose:
                bar.set_postfix(loss=f"{epoch_loss:.5g}")
            if stop:
                result.converged = True
                result.stop_reason = "converged"
                break
            if on_epoch_end is not None:
                done = bool(on_epoch_end(epoch, epoch_loss))
                if dp is not None:
                    done = dp.any(done)
                if done:
                    result.converged = True
                    result.stop_reason = "converged"
                    break
            if tol is not None:
                if epoch_loss > best - tol:
                    no_improve += 1
                else:
                    no_improve = 0
                best = min(best, epoch_loss)
                if no_improve >= n_iter_no_change:
                    result.converged = True
                    result.stop_reason = "no_improvement"
                    break
        if dp is not None:
            dp.finish(order_generator)
    except KeyboardInterrupt:
        # a search, a pipeline, ...: the caller must stop; data-parallel: the other ranks
        # would wait for this one
        if dp is not None or not _absorb_interrupt():
            raise
        warnings.warn(
            f"{phase} was interrupted by the user (KeyboardInterrupt) after "
            f"{result.n_iter} epoch(s); the model keeps the parameters reached so far.",
            UserWarning,
            stacklevel=2,
        )
        result.interrupted = True
        result.stop_reason = "interrupted"
        if scope is not None:
            scope.interrupted = True
    finally:
        bar.close()
        threads.__exit__(None, None, None)
    result.n_steps += steps
    return result


# ---------------------------------------------------------------------------- outcomes
#: A fit with ``n_clusters >= 3`` whose largest cluster holds more than this many times
#: its fair share ``1 / n_clusters`` of the samples (and more than half of them) is
#: reported as degenerate: one cluster swallowed the others.
DEGENERATE_SHARE = 2.5


def warn_unconverged(
    estimator: object,
    result: TrainingResult,
    *,
    phase: str,
    max_epochs: int,
    rule: str,
    advice: str = "increase max_epochs",
    stacklevel: int = 3,
) -> bool:
    """Warn with a :class:`~sklearn.exceptions.ConvergenceWarning` when a phase stopped at
    ``max_epochs`` without meeting its stopping rule.

    The one wording of the package: "<Estimator> (<phase>) stopped at max_epochs=N before
    <rule>; <advice>." Nothing is said when the phase converged, was interrupted (the loop
    already warned) or ran no epoch.

    Parameters
    ----------
    estimator : object
        The estimator (its class name opens the message).
    result : TrainingResult
        What :func:`train_loop` returned.
    phase : str
        The phase, as the progress bar names it ("pretraining", "DEC clustering", ...).
    max_epochs : int
        The cap that stopped it.
    rule : str
        The stopping rule that was not met, e.g. "the loss improved by less than
        tol=0.0001 for 10 epochs".
    advice : str, default="increase max_epochs"
        What to try.

    Returns
    -------
    warned : bool
    """
    if result.converged or result.interrupted or max_epochs <= 0 or result.n_iter == 0:
        return False
    warnings.warn(
        f"{type(estimator).__name__} ({phase}) stopped at max_epochs={max_epochs} before "
        f"{rule}; {advice}.",
        ConvergenceWarning,
        stacklevel=stacklevel,
    )
    return True


def partition_problems(labels, n_clusters: int, what: str = "clusters") -> list[str]:
    """What is wrong with a partition: empty clusters, or one cluster holding most points.

    Parameters
    ----------
    labels : array-like of int of shape (n_samples,)
    n_clusters : int
    what : str, default="clusters"
        The plural noun of the parts, e.g. "components" for a mixture (its count is then
        named ``n_components``).

    Returns
    -------
    problems : list of str
        Empty when the partition is fine; otherwise phrases such as "3 of n_clusters=10
        clusters are empty (clusters [2, 5, 7])" or "cluster 4 holds 83% of the samples".
    """
    import numpy as np

    labels = np.asarray(labels).ravel()
    if n_clusters <= 1 or labels.size == 0:
        return []
    counts = np.bincount(labels.astype(np.int64), minlength=n_clusters)
    problems = []
    empty = np.flatnonzero(counts == 0)
    # With fewer samples than clusters some must stay empty: say nothing then.
    if empty.size and labels.size >= n_clusters:
        problems.append(
            f"{empty.size} of n_{what}={n_clusters} {what} are empty "
            f"({what} {empty.tolist()})"
        )
    share = counts.max() / labels.size
    if n_clusters >= 3 and share > max(0.5, DEGENERATE_SHARE / n_clusters):
        problems.append(
            f"{what[:-1]} {int(counts.argmax())} holds {share:.0%} of the samples"
        )
    return problems


def warn_partition(
    estimator: object,
    labels,
    n_clusters: int,
    *,
    phase: str,
    advice: str,
    what: str = "clusters",
    stacklevel: int = 3,
) -> bool:
    """Warn with a :class:`~sklearn.exceptions.ConvergenceWarning` when the fitted
    partition is degenerate (see :func:`partition_problems`).

    The wording: "<Estimator> (<phase>) ended with a degenerate partition: <problems>;
    <advice>." ``what`` names the parts (e.g. "components" for a mixture).

    Returns
    -------
    warned : bool
    """
    problems = partition_problems(labels, n_clusters, what)
    if not problems:
        return False
    text = "; ".join(problems)
    warnings.warn(
        f"{type(estimator).__name__} ({phase}) ended with a degenerate partition: {text}; "
        f"{advice}.",
        ConvergenceWarning,
        stacklevel=stacklevel,
    )
    return True
