"""GMMRepresentation's inference: representations of new samples by optimisation.

A new sample has no representation: its candidate starts (the mixture's means, or draws)
are scored by ``log p(x | z) + log p(z)``, the best ones are optimised by Adam with the
decoder and the mixture frozen, and the end point with the best log joint is kept. The
fitted model's methods built on it (``transform``, ``predict``, ``predict_proba``,
``score_samples``, ``score``) and its generative ones (``inverse_transform``, ``sample``)
are in :class:`DGDInferenceMixin`.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
import torch
from sklearn.base import TransformerMixin
from sklearn.utils import check_random_state
from torch import Tensor
from tqdm.auto import tqdm

from .._torch import make_generator, seed_from, to_numpy
from .._training import train_loop
from ..nn.dgd import DGDModel
from ..nn.mixture import UNLABELLED
from ..utils._sklearn_compat import check_is_fitted
from ._dgd_labels import encode_labels


def best_starts(model: DGDModel, x: Tensor, library: Tensor | None, y: Tensor | None,
                cand: Tensor, cand_comp: Tensor, n_starts: int = 1):
    """Per row, the ``n_starts`` candidates with the highest log p(x | z) + log p(z[, y]).

    With ``y`` (class indices, -1 unlabelled) a labelled row is scored by its class's
    components and only candidates drawn from them compete. Returns the starts, shape
    (b, d) for one start and (b, n_starts, d) otherwise, and their scores, shape (b,) or
    (b, n_starts).
    """
    prior = model.prior
    with torch.no_grad():
        lp_z = prior.component_log_prob(cand)  # (C, K)
        scores = []
        for c in range(cand.shape[0]):
            zc = cand[c].expand(x.shape[0], -1)
            scores.append(model.decoder.log_prob(zc, x, library))
        scores = torch.stack(scores, 1)  # (b, C)
        if y is None:
            scores = scores + torch.logsumexp(lp_z, 1)[None, :]
        else:
            member = prior.component_class[None, :] == y[:, None]  # (b, K)
            member = member | (y[:, None] == UNLABELLED)
            masked = lp_z[None, :, :].masked_fill(~member[:, None, :], -torch.inf)
            scores = scores + torch.logsumexp(masked, 2)
            # only candidates drawn from the sample's class compete
            in_class = prior.component_class[cand_comp][None, :] == y[:, None]
            scores = scores.masked_fill(~(in_class | (y[:, None] == UNLABELLED)), -torch.inf)
        if n_starts == 1:
            best, arg = scores.max(1)
            return cand[arg].clone(), best
        best, arg = scores.topk(min(n_starts, scores.shape[1]), dim=1)
        return cand[arg].clone(), best


def optimise_representations(
    model: DGDModel,
    x: Tensor,
    library: Tensor | None,
    y: Tensor | None,
    cand: Tensor,
    cand_comp: Tensor,
    *,
    n_starts: int,
    epochs: int,
    learning_rate: float,
    betas: tuple[float, float],
    device,
) -> Tensor:
    """MAP representations of the rows ``x``, the model frozen (in eval mode).

    Each row is optimised from its ``n_starts`` best candidates (all in one batch, each
    start one more row) for ``epochs`` Adam steps; per row, the end point with the best
    log joint is kept. Rows do not interact: the result does not depend on the batch.
    """
    b = x.shape[0]
    if n_starts > 1:  # every start is one more row: (b, m, d) -> (b * m, d)
        starts = best_starts(model, x, library, y, cand, cand_comp, n_starts)[0]
        m = starts.shape[1]
        z0 = starts.reshape(b * m, -1)
        x = x.repeat_interleave(m, dim=0)
        library = None if library is None else library.repeat_interleave(m)
        y = None if y is None else y.repeat_interleave(m)
    else:
        m, z0 = 1, best_starts(model, x, library, y, cand, cand_comp)[0]
    z = torch.nn.Parameter(z0)
    opt = torch.optim.Adam([z], lr=learning_rate, betas=betas, foreach=False)

    def step(idx):
        with torch.enable_grad():
            per_sample = -model.log_joint(z, x, library, y)
            (grad,) = torch.autograd.grad(per_sample.sum(), z)
        z.grad = grad
        opt.step()
        return per_sample.detach().mean()

    train_loop(
        step,
        n_samples=x.shape[0],
        batch_size=x.shape[0],
        max_epochs=epochs,
        generator=make_generator(0, device),
        shuffle=False,
        phase="GMMRepresentation.transform",
        verbose=0,
        suggestion="Try a smaller transform_learning_rate.",
    )
    z = z.detach()
    if m > 1:  # keep, per sample, the start that ended with the best log joint
        with torch.no_grad():
            final = model.log_joint(z, x, library, y).reshape(b, m)
        z = z.reshape(b, m, -1)[torch.arange(b, device=z.device), final.argmax(1)]
    return z


class DGDInferenceMixin(TransformerMixin):
    """The fitted GMMRepresentation's methods: transform, predict, score, decode, sample.

    A mixin of :class:`~skdeepclust.representation.GMMRepresentation`, which it reads:
    the fitted ``module_``, the transform parameters and the estimator's helpers
    (``_validate_predict_data``, ``_check_values``, ``_library``, ``_inference``). A
    ``TransformerMixin``, so that scikit-learn wraps the ``transform`` defined here for
    ``set_output``.
    """

    def _label_codes(self, y, n_samples: int) -> np.ndarray | None:
        """Class indices for y at predict time (None without y); unseen classes are an error."""
        if y is None:
            return None
        if not self._supervised:
            raise ValueError(
                "y can be given to transform/score_samples only for a supervised model "
                "(n_components_per_class set)."
            )
        return encode_labels(y, n_samples, self.classes_)

    def _predict_z(self, z: Tensor) -> Tensor:
        prior = self.module_.prior
        if self._supervised:
            return prior.class_log_prob(z).argmax(1)
        return prior.predict(z)

    def _proba_z(self, z: Tensor) -> Tensor:
        prior = self.module_.prior
        return prior.class_posterior(z) if self._supervised else prior.responsibilities(z)

    def _prepare(self, X, y=None):
        X = self._validate_predict_data(X)
        self._check_values(X)
        return X, self._label_codes(y, X.shape[0])

    def _candidates(self):
        """Candidate starts (deterministic for a fitted model)."""
        generator = make_generator(self._transform_seed, self._device)
        with torch.no_grad():
            return self.module_.prior.candidates(self.resample, self.n_resample, generator)

    def _optimise(self, X: np.ndarray, codes: np.ndarray | None) -> Tensor:
        """MAP representations of new rows with the decoder and mixture frozen."""
        model = self.module_
        was_training = model.training
        model.eval()
        cand, cand_comp = self._candidates()
        settings = {
            "n_starts": int(self.transform_n_starts),
            "epochs": self.transform_epochs,
            "learning_rate": self.transform_learning_rate or self.representation_learning_rate,
            "betas": self._betas,
            "device": self._device,
        }
        chunk = max(1, self._inference_batch_size() // settings["n_starts"])
        out = []
        bar = tqdm(total=X.shape[0], desc="GMMRepresentation.transform", unit="sample",
                   disable=not self.verbose, leave=False)
        try:
            for start in range(0, X.shape[0], chunk):
                x = self._to_tensor(X[start : start + chunk])
                y = None
                if codes is not None:
                    y = torch.as_tensor(codes[start : start + chunk], device=self._device)
                out.append(optimise_representations(
                    model, x, self._library(x), y, cand, cand_comp, **settings))
                bar.update(x.shape[0])
        finally:
            bar.close()
            model.train(was_training)
        return torch.cat(out)

    def transform(self, X, y=None):
        """Representations of new samples, optimised with the model frozen.

        For each sample the candidate starts (the component means, or draws from each
        component: ``resample``) are scored by ``log p(x | z) + log p(z)``, and the
        ``transform_n_starts`` best ones are each optimised for ``transform_epochs`` Adam
        steps with the decoder and the mixture frozen; the end point with the highest
        ``log p(x | z) + log p(z)`` is kept. Each sample is optimised independently of the
        others, so the result does not depend on the batch. From a single start the
        optimisation often ends in a worse local optimum than the training
        representation of the same sample; the best of a few starts closes most of that
        gap, and places new samples in better clusters.

        The cost grows linearly with
        ``n_samples * (n_mixture_components + transform_n_starts * transform_epochs)``
        decoder evaluations (forward and backward for the steps), about
        ``transform_n_starts * transform_epochs`` training epochs' worth of decoder work
        for the same rows, so it can cost as much as the fit itself; ``verbose=1`` shows
        its progress. ``predict``, ``predict_proba``, ``score_samples`` and ``score`` pay
        it too.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), default=None
            Supervised models only: known classes of the new samples (-1 for unknown);
            each sample then starts from and is scored by its class's components.

        Returns
        -------
        Z : ndarray of shape (n_samples, latent_dim)
        """
        X, codes = self._prepare(X, y)
        return to_numpy(self._optimise(X, codes), X.dtype)

    def predict(self, X):
        """Most probable component (class when supervised) of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        X, _ = self._prepare(X)
        with torch.no_grad():
            labels = to_numpy(self._predict_z(self._optimise(X, None)))
        return self.classes_[labels] if self._supervised else labels

    def predict_proba(self, X):
        """Posterior probability of each component (class when supervised).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_mixture_components) or (n_samples, n_classes)
        """
        X, _ = self._prepare(X)
        with torch.no_grad():
            return to_numpy(self._proba_z(self._optimise(X, None)), X.dtype)

    def score_samples(self, X, y=None):
        """Log joint density ``log p(x | z*) + log p(z*)`` at the optimised ``z*``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), default=None
            Supervised models only: ``log p(x | z*) + log p(z*, y)``.

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
        """
        X, codes = self._prepare(X, y)
        z = self._optimise(X, codes)
        y_t = None if codes is None else torch.as_tensor(codes, device=self._device)
        with torch.no_grad():
            x = self._to_tensor(X)
            return to_numpy(self.module_.log_joint(z, x, self._library(x), y_t), X.dtype)

    def score(self, X, y=None):
        """Mean of :meth:`score_samples` (higher is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        score : float
        """
        return float(np.mean(self.score_samples(X)))

    def _library_for(self, n: int, generator: torch.Generator | None = None) -> Tensor | None:
        """Library sizes for decoding without data: the training geometric mean, or draws."""
        if not (self._output_cls.uses_library and self.library_size):
            return None
        mean, std = self._log_library
        if generator is None:
            log_lib = torch.full((n,), mean, dtype=torch.float64, device=self._device)
        else:
            eps = torch.randn(n, generator=generator, dtype=torch.float64, device=self._device)
            log_lib = mean + std * eps
        return torch.exp(log_lib).to(self._torch_dtype)

    def inverse_transform(self, X):
        """Decode representations: the mean of ``p(x | z)``.

        For the count laws with ``library_size=True`` the library size is the training
        set's geometric mean.

        Parameters
        ----------
        X : array-like of shape (n_samples, latent_dim)

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
        """
        Z = self._validate_codes(X, self._latent_dim,
                                 f"representations with latent_dim={self._latent_dim}")
        decoder = self.module_.decoder
        return self._inference(lambda z: decoder.mean(z, self._library_for(z.shape[0])), Z)

    def sample(self, n_samples=1):
        """Generate samples from the fitted model.

        Parameters
        ----------
        n_samples : int, default=1

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        labels : ndarray of shape (n_samples,)
            The component of each sample (its class when supervised).
        """
        check_is_fitted(self)
        if not (isinstance(n_samples, Integral) and n_samples >= 1):
            raise ValueError(f"n_samples={n_samples!r} should be an int >= 1.")
        rng = check_random_state(self.random_state)
        generator = make_generator(seed_from(rng), self._device)
        model = self.module_
        with torch.no_grad():
            z, comp = model.prior.sample(int(n_samples), generator)
            library = self._library_for(int(n_samples), generator)
            X = model.decoder.sample(z, library, generator)
        labels = to_numpy(comp)
        if self._supervised:
            labels = self.component_classes_[labels]
        return to_numpy(X, self._dtype), labels
