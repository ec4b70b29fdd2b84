"""The one training loop shared by every skdeepclust estimator, and the wording of its
outcomes.

Minibatches are drawn by index from a training set that already lives on the device (no
``DataLoader``: its per-sample overhead dominates on tabular data). The loop owns the
epochs, the optimizer step, the progress bar, early stopping, the NaN/inf guard and
Ctrl-C (see :func:`skdeepclust.utils.keyboard_interrupt` for the rule); a model family
supplies only ``step(indices) -> loss`` and optional hooks. :func:`warn_unconverged` and
:func:`warn_partition` give every estimator one wording for a phase that hit its epoch cap
and for a degenerate partition.

Neighbours: optimizers in :mod:`skdeepclust._optim`, Ctrl-C in
:mod:`skdeepclust._interrupt`, the thread count of small loops in
:mod:`skdeepclust._threads`.
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import sklearn
import torch
from tqdm.auto import tqdm

from ._data import epoch_order
from ._distributed import DataParallel, world
from ._interrupt import _absorb_interrupt, _fit_scope
from ._optim import _LeanStepMixin
from ._threads import small_fit_threads
from .exceptions import ConvergenceWarning, TrainingDivergedError

__all__ = [
    "TrainingResult",
    "nearest_power_of_two",
    "partition_problems",
    "train_loop",
    "warn_partition",
    "warn_unconverged",
]


def nearest_power_of_two(x: float, lo: int, hi: int) -> int:
    """The power of two nearest to ``x`` on a log scale, clipped to ``[lo, hi]``.

    The "auto" batch sizes are built on it (``lo >= 1``).
    """
    return int(min(max(2 ** round(math.log2(max(x, 1.0))), lo), hi))


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
    shuffle: bool | int = True,
    sample_weight: torch.Tensor | np.ndarray | None = None,
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
    shuffle : bool or int, default=True
        True: a new random order of the rows every epoch; False: in order; an int
        ``B``: the blocks of ``B`` consecutive rows in a random order, the rows shuffled
        within each block (for streamed data, see :mod:`skdeepclust._data`).
    sample_weight : Tensor or ndarray of shape (n_samples,), default=None
        Non-negative weights of the rows: each epoch then draws as many rows as have a
        positive weight, with replacement, with probabilities proportional to the
        weights (``shuffle`` is not used), so that an integer weight acts as that many
        copies of the row and a zero weight leaves it out.
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
    Ctrl-C: under the rule of :func:`~skdeepclust.utils.keyboard_interrupt`, a fit called by
    user code stops cleanly (``interrupted=True``, a ``UserWarning``, and the later loops of the
    same fit run no epoch), while a fit called by scikit-learn, joblib or dask re-raises
    the ``KeyboardInterrupt`` at once.

    On the CPU, a loop whose step work (batch size times the optimizer's parameters) is
    below :data:`skdeepclust._threads.SMALL_STEP_WORK` runs on the thread count that
    ``set_config(small_fit_threads=...)`` names (one by default) and restores this
    thread's count afterwards (:func:`skdeepclust._threads.small_fit_threads`).

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
    if sample_weight is not None:
        sample_weight = torch.as_tensor(sample_weight).to(generator.device, torch.float64)
        n_rows = int((sample_weight > 0).sum())  # the rows of an epoch
    else:
        n_rows = n_samples
    batch_size = max(1, min(int(batch_size), n_rows))
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
        global_batch = min(batch_size * dp.world_size, n_rows)
    best = math.inf
    no_improve = 0
    steps = 0
    result.stop_reason = "max_epochs"
    bar = tqdm(
        range(max_epochs), desc=phase, disable=not verbose, leave=verbose > 1, unit="epoch"
    )
    threads = small_fit_threads(params, batch_size, device)
    threads.__enter__()
    try:
        for epoch in bar:
            if sample_weight is not None:
                order = torch.multinomial(sample_weight, n_rows, replacement=True,
                                          generator=order_generator)
            elif shuffle:
                block = None if shuffle is True else int(shuffle)
                order = epoch_order(n_samples, block, order_generator, device)
            else:
                order = torch.arange(n_samples, device=device)
            total = torch.zeros((), dtype=torch.float64, device=device)
            stop = False
            for start in range(0, n_rows, global_batch):
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
            n_seen = min(n_rows, start + global_batch) if not stop else start
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
            stacklevel=user_stacklevel(),
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


_LIBRARY_DIRS = tuple(
    os.path.dirname(m.__file__) + os.sep for m in (sys.modules[__package__], sklearn)
)


def user_stacklevel() -> int:
    """The ``stacklevel`` that makes a warning point at the user's call: the first frame
    outside skdeepclust and scikit-learn (a fit's depth depends on the family, the
    template and the decorators; counting frames by hand goes stale)."""
    frame, level = sys._getframe(1), 1  # the caller of warnings.warn is level 1
    while frame is not None and frame.f_code.co_filename.startswith(_LIBRARY_DIRS):
        frame, level = frame.f_back, level + 1
    return level


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
    stacklevel: int | None = None,
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
        stacklevel=stacklevel or user_stacklevel(),
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
    stacklevel: int | None = None,
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
        stacklevel=stacklevel or user_stacklevel(),
    )
    return True
