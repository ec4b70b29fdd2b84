"""GMMRepresentation's training: the fit's loop, the representations' optimiser, the stop rule.

:class:`DGDTrainingMixin` holds the fit hooks that train the initial state
(``_train``, ``_finish_fit``) and store the fitted mixture; :class:`TrainingRepresentations`
steps the free representations of the training rows; :func:`reassign` moves them to
better component means.
"""

from __future__ import annotations

import functools
from collections import deque

import torch
from torch import Tensor

from .._distributed import world
from .._optim import make_optimizer
from .._torch import to_numpy
from .._training import train_loop, warn_partition, warn_unconverged
from ..nn.dgd import DGDModel, RecentRowsAdam, RowAdam, adam_window
from ._dgd_inference import best_starts

#: The tol rule stops no fit before this many optimizer steps: until the decoder is trained,
#: transform (and so predict) infers representations from an untrained model.
_MIN_STEPS = 400
#: The tol rule counts a row as changed over its window only when the row was assigned
#: with at least this posterior probability at the window's start: a row on a boundary
#: between two components (posterior maximum near 1/2) switches back and forth under
#: the minibatch noise of the representations for as long as training runs, which is no
#: sign of an unfinished fit (benchmarks/study_gmmrep_convergence.py).
_CONFIDENT = 0.9
#: ... and it is not checked while the epoch loss still falls fast: by more than this
#: share of its whole descent since the first epoch over the window (the decoder's early
#: phase, in which the representations barely move and the partition looks stable).
_LOSS_SETTLED = 0.05
#: Dense Adam over the representations steps all rows at every minibatch; from this many
#: times the rows a RecentRowsAdam holds (its window x batch_size) on, RecentRowsAdam,
#: which steps those rows at a fixed cost of a few dozen small operations, is the faster
#: (measured on one CPU thread: equal at about 25 000 rows at the defaults).
_RECENT_WINDOWS = 6


class TrainingRepresentations:
    """The free representations of the training rows and how they step.

    Parameters
    ----------
    z0 : Tensor of shape (n_samples, latent_dim)
        The starting representations (stepped in place, except with ``lazy``).
    learning_rate : float
    betas : tuple of float
        Adam's learning rate and betas.
    per_epoch : bool
        Sum each row's gradient over the epoch and step once at its end
        (:meth:`end_epoch`), instead of after every minibatch.
    lazy : bool
        A per-row Adam (:class:`~skdeepclust.nn.dgd.RowAdam`) on a plain tensor: a
        minibatch step reads and moves only its own rows. Otherwise dense Adam over all
        rows, as if on a ``Parameter`` holding every row (a row outside the minibatch has a
        zero gradient and moves on with its momentum), in one of three ways:

        - per minibatch, on one process, with more rows than ``6 x batch_size`` times
          the window of :func:`~skdeepclust.nn.dgd.adam_window`:
          :class:`~skdeepclust.nn.dgd.RecentRowsAdam`, which steps only the rows that had
          a gradient within that window (the others' steps are below rounding), so that a
          step costs O(batch) and not O(n_samples);
        - per minibatch otherwise: the ``Parameter``'s ``group`` joins the model's
          optimizer (under data-parallel training the loop averages its gradient);
        - per epoch: one Adam step of the ``Parameter`` at the end of the epoch, with the
          epoch's gradient summed by the minibatches' rows into one buffer (through the
          loss's graph, into the ``Parameter``'s own gradient, under data-parallel training).
    batch_size : int
        Rows per minibatch (for the choice above).
    distinct : bool, default=True
        Whether a minibatch never holds a row twice (``False`` with sample weights, whose
        rows are drawn with replacement: the gradients of a repeated row are summed).

    Attributes
    ----------
    z : Tensor of shape (n_samples, latent_dim)
    group : dict or None
        The parameter group for the model's optimizer (dense, per minibatch), else None.
    """

    def __init__(self, z0: Tensor, learning_rate: float, betas, *, per_epoch: bool,
                 lazy: bool, batch_size: int, distinct: bool = True):
        self.per_epoch = per_epoch
        self.lazy = lazy
        self.group = None
        self._optimizer = None
        self._distinct = distinct
        self._grad = None  # the epoch's summed gradient (per_epoch, unless on the graph)
        local = world()[1] == 1
        window = adam_window(betas, z0.dtype)
        if lazy:
            self.z = z0.clone()
            self._optimizer = RowAdam(self.z, learning_rate, betas)
            if per_epoch:
                self._grad = torch.zeros_like(self.z)
            return
        recent = None if window is None else _RECENT_WINDOWS * window * batch_size
        if not per_epoch and local and recent is not None and z0.shape[0] > recent:
            self.z = z0
            self._optimizer = RecentRowsAdam(self.z, learning_rate, betas, window=window,
                                             batch_size=batch_size)
            return
        self.z = torch.nn.Parameter(z0)
        group = {"params": [self.z], "lr": learning_rate, "weight_decay": 0.0, "betas": betas}
        if per_epoch:  # z.grad sums the minibatches' gradients; one step per epoch
            self._optimizer = make_optimizer("adam", [group], learning_rate=learning_rate)
            if local:
                self._grad = torch.zeros_like(z0)
        else:
            self.group = group

    @property
    def _on_graph(self) -> bool:
        """Whether the minibatches' rows are read from the ``Parameter`` (the dense
        gradient of all rows comes through the loss's graph)."""
        return isinstance(self.z, torch.nn.Parameter) and (
            self.group is not None or self._grad is None
        )

    def rows(self, idx: Tensor) -> Tensor:
        """The representations of the rows ``idx``, for the minibatch's loss."""
        if self._on_graph:
            return self.z[idx]
        if isinstance(self._optimizer, RecentRowsAdam):  # recent rows: in its ring
            zb = self._optimizer.rows(idx).requires_grad_()
        else:
            zb = self.z.detach()[idx].requires_grad_()
        zb.register_hook(functools.partial(self._on_grad, idx))  # nothing else reads z
        return zb

    def _on_grad(self, idx: Tensor, g: Tensor) -> None:
        """The minibatch's gradient, during backward: summed (per epoch) or stepped."""
        if self._grad is not None:
            self._grad.index_add_(0, idx, g)
            return
        if not self._distinct:  # one gradient per row, summed over its repeats
            idx, inverse = torch.unique(idx, return_inverse=True)
            g = g.new_zeros((idx.shape[0], g.shape[1])).index_add_(0, inverse, g)
        self._optimizer.step(idx, g)

    def sync(self) -> None:
        """Make ``z`` current (the recent rows of :class:`RecentRowsAdam` are held apart)."""
        if isinstance(self._optimizer, RecentRowsAdam):
            self._optimizer.flush()

    def changed(self) -> None:
        """``z`` was changed in place: the recent rows held apart are read again."""
        if isinstance(self._optimizer, RecentRowsAdam):
            self._optimizer.reload()

    def end_epoch(self) -> None:
        """The epoch's step of ``per_epoch`` training; ``z`` is current afterwards."""
        self.sync()
        if not self.per_epoch:
            return
        if self.lazy:
            self._optimizer.step(torch.arange(self.z.shape[0], device=self.z.device),
                                 self._grad)
            self._grad.zero_()
            return
        if self._grad is not None:
            self.z.grad = self._grad
        self._optimizer.step()
        self.z.grad = None
        if self._grad is not None:
            self._grad.zero_()


def reassign(model: DGDModel, z: Tensor, X_t: Tensor, library: Tensor | None,
             y_t: Tensor | None, chunk: int) -> None:
    """Move each training representation to a component mean that explains it better.

    A row jumps to the mean with the highest ``log p(x | z) + log p(z)`` when that beats
    its current representation's value; ``z`` is changed in place.
    """
    with torch.no_grad():
        cand, cand_comp = model.prior.candidates("mean")
        for start in range(0, X_t.shape[0], chunk):
            rows = slice(start, start + chunk)
            x = X_t[rows]
            lib = None if library is None else library[rows]
            y = None if y_t is None else y_t[rows]
            current = model.log_joint(z[rows], x, lib, y)
            best_z, best = best_starts(model, x, lib, y, cand, cand_comp)
            better = best > current
            z[rows][better] = best_z[better]


def changed_share(start: tuple[Tensor, Tensor], end: tuple[Tensor, Tensor]) -> float:
    """The share of rows that left the component they were confidently assigned to.

    ``start`` and ``end`` are ``(labels, confident)`` pairs at a window's two ends (see
    ``_assignments``): a row counts when its label changed and it was confident at the
    start. Boundary rows, which switch back and forth under the minibatch noise of
    the representations for as long as training runs, do not count; a drift of the
    partition, which moves rows out of the components they were clearly in, does.
    """
    (before, sure), (after, _) = start, end
    return float(((before != after) & sure).double().mean())


def moved_share(start: tuple[Tensor, Tensor], end: tuple[Tensor, Tensor]) -> float:
    """The share of rows assigned with confidence at both ends of a window, to different
    components: rows that moved from one cluster into another.

    The check of a fit that reached ``max_epochs`` (see ``DGDTrainingMixin._train``): a
    row that left a component it held with confidence but sits near a boundary at the
    window's end (it switches back and forth under the representations' minibatch noise)
    does not count; a drift of the partition, which carries rows from the middle of one
    component into another, does.
    """
    (before, sure), (after, sure_after) = start, end
    return float(((before != after) & sure & sure_after).double().mean())


def loss_settled(first: float, start: float, end: float) -> bool:
    """Whether the epoch loss fell over a window (``start`` to ``end``) by at most
    ``_LOSS_SETTLED`` of its whole descent since the first epoch (``first``).

    A loss that rose over the window counts as settled; one that falls over the window
    while above the first epoch's does not.
    """
    return start - end <= _LOSS_SETTLED * max(first - end, 0.0)


class DGDTrainingMixin:
    """GMMRepresentation's fit hooks that train the initial state and store the result.

    A mixin of :class:`~skdeepclust.representation.GMMRepresentation`: ``_train`` runs
    the joint MAP training of the decoder, the mixture and the representations from the
    state ``_initialize`` or ``_resume_fit`` left in ``_start_state``, and
    ``_finish_fit`` stores the mixture's attributes and warns about convergence.
    """

    def _train(self, X, y, *, partial: bool):
        Z0, codes = self.__dict__.pop("_start_state")
        X_t = self._to_tensor(X)
        library = self._library(X_t)
        prior = self.module_.prior
        z0 = torch.as_tensor(Z0, device=self._device, dtype=self._torch_dtype)
        del Z0  # a float64 array: not kept through training when z0 is a converted copy
        y_t = None if codes is None else torch.as_tensor(codes, device=self._device)
        if library is not None:
            log_lib = torch.log(library.clamp_min(1.0)).to(torch.float64)
            self._log_library = (float(log_lib.mean()), float(log_lib.std(correction=0)))
        betas = self._betas
        decoder = self.module_.decoder
        groups = [
            {"params": list(decoder.net.parameters()), "lr": self.learning_rate,
             "weight_decay": self.weight_decay, "betas": betas},
            {"params": [*prior.parameters(), *decoder.output.parameters()],
             "lr": self.gmm_learning_rate, "weight_decay": 0.0, "betas": betas},
        ]
        n = X.shape[0]
        model = self.module_
        model.train()
        reps = TrainingRepresentations(
            z0, self.representation_learning_rate, betas,
            per_epoch=self.representation_step == "epoch", lazy=self._lazy_representations,
            batch_size=self._batch_size, distinct=self._sample_weight is None,
        )
        z = reps.z
        if reps.group is not None:  # dense Adam stepped per minibatch, with the model
            groups.append(reps.group)
        optimizer = make_optimizer("adam", groups, learning_rate=self.learning_rate)

        def step(idx: Tensor) -> Tensor:
            lib = None if library is None else library[idx]
            yb = None if y_t is None else y_t[idx]
            return model.loss(reps.rows(idx), X_t[idx], n, lib, yb)

        every = self.reassign_every
        window = int(self.n_iter_no_change)
        n_batches = -(-n // min(self._batch_size, n))
        # the partition at the end of each epoch, with its confident rows, and the losses
        history = deque(maxlen=window + 1)
        losses = deque(maxlen=window + 1)
        first_loss = []
        checked = []  # set once the rule's window is full and the decoder's steps are done

        def on_epoch_end(epoch: int, loss: float) -> bool:
            reps.end_epoch()
            if every and (epoch + 1) % every == 0 and epoch + 1 < self._max_epochs:
                reassign(model, z, X_t, library, y_t, self._inference_batch_size())
                reps.changed()
            if self.tol is None:
                return False
            history.append(self._assignments(z))
            losses.append(loss)
            first_loss[:] = first_loss or [loss]
            if len(history) <= window or (epoch + 1) * n_batches < _MIN_STEPS:
                return False
            checked[:] = [True]
            if not loss_settled(first_loss[0], losses[0], loss):
                return False
            return changed_share(history[0], history[-1]) <= self.tol


        result = train_loop(
            step,
            n_samples=n,
            batch_size=self._batch_size,
            max_epochs=self._max_epochs,
            generator=self._generator,
            optimizer=optimizer,
            phase="GMMRepresentation",
            verbose=self.verbose,
            on_epoch_end=on_epoch_end,
            result=self._history,
            sample_weight=self._sample_weight,
            suggestion="Try a smaller learning_rate or representation_learning_rate, "
            "standardize the input, or compute in float64 "
            "(skdeepclust.set_config(compute_dtype='float64')).",
        )
        if (checked and not result.converged and not result.interrupted
                and loss_settled(first_loss[0], losses[0], losses[-1])
                and moved_share(history[0], history[-1]) <= self.tol):
            # at max_epochs, the rows that still left a confident assignment over the last
            # window ended near a boundary: boundary churn under the minibatch noise, not
            # an unfinished fit (the stop rule itself stays stricter: the fit keeps refining
            # while it runs)
            result.converged = True
            result.stop_reason = "converged"
        reps.sync()  # also after a loop stopped within an epoch
        with torch.no_grad():
            self.embedding_ = to_numpy(z, self._dtype)
            labels = to_numpy(self._batched(self._predict_z, z))  # n x K x dim temporaries
        self.labels_ = self.classes_[labels] if self._supervised else labels
        return result

    def _finish_fit(self, X, y, result, *, partial: bool) -> None:
        self._store_mixture()
        if self.tol is not None:
            warn_unconverged(
                self, result, phase="fit", max_epochs=self._max_epochs,
                rule=f"the partition was stable (at most tol={self.tol} of the samples "
                f"left a component they were assigned to with probability >= {_CONFIDENT} "
                f"over {self.n_iter_no_change} epochs)",
                advice="increase max_epochs, or a larger tol where boundary samples keep "
                "switching components, or set tol=None to run a fixed number of epochs",
            )
        if not self._supervised:
            warn_partition(
                self, self.labels_, self.n_components, phase="fit", what="components",
                advice="try another random_state, a smaller n_components, "
                "covariance_type='full' or init='autoencoder'",
            )

    def _assignments(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """The tol rule's view of the training representations: each row's most probable
        component (class when supervised) and whether its posterior reaches
        ``_CONFIDENT``."""

        def chunk(zc: Tensor) -> Tensor:
            pmax, label = self._proba_z(zc).max(1)
            return torch.stack((label.to(pmax.dtype), pmax), 1)

        with torch.no_grad():
            out = self._batched(chunk, z)
        # labels in the smallest integer type: window + 1 partitions are held
        label_dtype = torch.int16 if self.module_.prior.means.shape[0] <= 2**15 else torch.int32
        return out[:, 0].to(label_dtype), out[:, 1] >= _CONFIDENT

    def _store_mixture(self) -> None:
        prior = self.module_.prior
        self.means_ = to_numpy(prior.means, self._dtype).copy()
        if prior.covariance_type == "full":
            self.covariances_ = to_numpy(prior.covariances, self._dtype).copy()
        else:
            var = to_numpy(prior.variances, self._dtype).copy()
            self.covariances_ = var if prior.covariance_type == "diagonal" else var[:, 0].copy()
        self.weights_ = to_numpy(prior.weights, self._dtype).copy()
        self.degrees_of_freedom_ = getattr(prior, "degrees_of_freedom", None)
        if self._supervised:
            self.component_classes_ = self.classes_[to_numpy(prior.component_class)]
        output = self.module_.decoder.output
        self.__dict__.pop("dispersion_", None)  # from an earlier fit with another law
        if hasattr(output, "dispersion"):
            self.dispersion_ = to_numpy(output.dispersion().detach(), self._dtype).copy()
