"""GMMRepresentation's training: the fit's loop, the representations' optimiser, the stop rule.

:class:`DGDTrainingMixin` holds the fit hooks that train the initial state
(``_train``, ``_finish_fit``) and store the fitted mixture; :class:`TrainingRepresentations`
steps the free representations of the training rows; :func:`reassign` moves them to
better component means.
"""

from __future__ import annotations

from collections import deque

import torch
from torch import Tensor

from .._optim import make_optimizer
from .._torch import to_numpy
from .._training import train_loop, warn_partition, warn_unconverged
from ..nn.dgd import DGDModel, RowAdam
from ._dgd_inference import best_starts

#: The tol rule stops no fit before this many optimizer steps: until the decoder is trained,
#: transform (and so predict) infers representations from an untrained model.
_MIN_STEPS = 400


class TrainingRepresentations:
    """The free representations of the training rows and how they step.

    Parameters
    ----------
    z0 : Tensor of shape (n_samples, latent_dim)
        The starting representations.
    learning_rate : float
    betas : tuple of float
        Adam's learning rate and betas.
    per_epoch : bool
        Sum each row's gradient over the epoch and step once at its end
        (:meth:`end_epoch`), instead of after every minibatch.
    lazy : bool
        A per-row Adam (:class:`~skdeepclust.nn.dgd.RowAdam`) on a plain tensor: a
        minibatch step reads and moves only its own rows. Otherwise a dense Adam over a
        ``Parameter`` holding every row; stepped per minibatch, its parameter ``group``
        joins the model's optimizer.

    Attributes
    ----------
    z : Tensor of shape (n_samples, latent_dim)
    group : dict or None
        The parameter group for the model's optimizer (dense, per minibatch), else None.
    """

    def __init__(self, z0: Tensor, learning_rate: float, betas, *, per_epoch: bool,
                 lazy: bool):
        self.per_epoch = per_epoch
        self.lazy = lazy
        self.group = None
        if lazy:
            self.z = z0.clone()
            self._optimizer = RowAdam(self.z, learning_rate, betas)
            self._grad = torch.zeros_like(self.z) if per_epoch else None
        else:
            self.z = torch.nn.Parameter(z0)
            group = {"params": [self.z], "lr": learning_rate, "weight_decay": 0.0,
                     "betas": betas}
            if per_epoch:  # z.grad sums the minibatches' gradients; one step per epoch
                self._optimizer = make_optimizer("adam", [group], learning_rate=learning_rate)
            else:
                self.group = group

    def rows(self, idx: Tensor) -> Tensor:
        """The representations of the rows ``idx``, for the minibatch's loss."""
        if not self.lazy:
            return self.z[idx]
        zb = self.z[idx].requires_grad_()

        def on_grad(g: Tensor) -> None:  # during backward: nothing else reads z
            if self.per_epoch:  # sum the minibatches' gradients; one step per epoch
                self._grad.index_add_(0, idx, g)
            else:
                self._optimizer.step(idx, g)

        zb.register_hook(on_grad)
        return zb

    def end_epoch(self) -> None:
        """The epoch's step of ``per_epoch`` training (nothing otherwise)."""
        if not self.per_epoch:
            return
        if self.lazy:
            self._optimizer.step(torch.arange(self.z.shape[0], device=self.z.device),
                                 self._grad)
            self._grad.zero_()
        else:
            self._optimizer.step()
            self.z.grad = None


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
        history = deque(maxlen=window + 1)  # the partition at the end of each epoch

        def on_epoch_end(epoch: int, loss: float) -> bool:
            reps.end_epoch()
            if every and (epoch + 1) % every == 0 and epoch + 1 < self._max_epochs:
                reassign(model, z, X_t, library, y_t, self._inference_batch_size())
            if self.tol is None:
                return False
            history.append(self._components(z))
            if len(history) <= window or (epoch + 1) * n_batches < _MIN_STEPS:
                return False
            return bool(torch.mean((history[0] != history[-1]).double()) <= self.tol)


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
        with torch.no_grad():
            self.embedding_ = to_numpy(z, self._dtype)
            labels = to_numpy(self._predict_z(z))
        self.labels_ = self.classes_[labels] if self._supervised else labels
        return result

    def _finish_fit(self, X, y, result, *, partial: bool) -> None:
        self._store_mixture()
        if self.tol is not None:
            warn_unconverged(
                self, result, phase="fit", max_epochs=self._max_epochs,
                rule=f"the partition was stable (at most tol={self.tol} of the samples "
                f"changed component over {self.n_iter_no_change} epochs)",
                advice="increase max_epochs, or a larger tol where boundary samples keep "
                "switching components, or set tol=None to run a fixed number of epochs",
            )
        if not self._supervised:
            warn_partition(
                self, self.labels_, self.n_components, phase="fit", what="components",
                advice="try another random_state, a smaller n_components, "
                "covariance_type='full' or init='autoencoder'",
            )

    def _components(self, z: Tensor) -> Tensor:
        """Most probable component of each training representation (the tol rule)."""
        with torch.no_grad():
            return self._batched(self.module_.prior.predict, z)

    def _store_mixture(self) -> None:
        prior = self.module_.prior
        self.means_ = to_numpy(prior.means, self._dtype).copy()
        if prior.covariance_type == "full":
            self.covariances_ = to_numpy(prior.covariances, self._dtype).copy()
        else:
            var = to_numpy(prior.variances, self._dtype).copy()
            self.covariances_ = var if prior.covariance_type == "diagonal" else var[:, 0].copy()
        self.weights_ = to_numpy(prior.weights, self._dtype).copy()
        if self._supervised:
            self.component_classes_ = self.classes_[to_numpy(prior.component_class)]
        output = self.module_.decoder.output
        self.__dict__.pop("dispersion_", None)  # from an earlier fit with another law
        if hasattr(output, "dispersion"):
            self.dispersion_ = to_numpy(output.dispersion().detach(), self._dtype).copy()
