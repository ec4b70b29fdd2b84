"""What NormalizingFlow and DisentanglingFlow share: parameters, building, training, inference."""

from __future__ import annotations

import copy
import math
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array
from torch import Tensor

from .._optim import OPTIMIZERS, make_optimizer
from .._torch import make_generator, seed_from
from .._training import TrainingResult, train_loop
from ..base import TorchEstimator
from ..nn.autoencoder import ACTIVATIONS
from ..nn.flows import COUPLINGS, MASKS, build_flow
from ..utils._sklearn_compat import Interval, StrOptions, check_is_fitted

#: Rows used for ActNorm's data-dependent initialisation (a random subset beyond that).
_DATA_INIT_ROWS = 8192

#: Smallest side ``k`` of the square images that ``event_shape="auto"`` recognises.
_SQUARE_IMAGE_MIN_SIDE = 8

_AUTO = StrOptions({"auto"})

#: The density check after each fit (``_BaseFlow._check_density``): rows scored, and how
#: many nats per feature below an independent Gaussian count as a broken model.
_CHECK_ROWS = 2048
_CHECK_NATS_PER_FEATURE = 100.0


def _auto_event_shape(n_features: int) -> tuple[int, int] | None:
    """``(k, k)`` when ``n_features = k * k`` with ``k >= 8`` (a flattened square image)."""
    k = math.isqrt(n_features)
    return (k, k) if k * k == n_features and k >= _SQUARE_IMAGE_MIN_SIDE else None


class _BaseFlow(ClassNamePrefixFeaturesOutMixin, TransformerMixin, TorchEstimator):
    """Shared parameters, module building and inference of the two flow estimators."""

    _parameter_constraints: dict = {
        **TorchEstimator._parameter_constraints,
        "warm_start": ["boolean"],
        "n_stages": [Interval(Integral, 1, None, closed="left"), _AUTO],
        "coupling": [StrOptions(set(COUPLINGS) | {"auto"})],
        "mask": [StrOptions(set(MASKS))],
        "permutation": [StrOptions({"matching", "shuffle"})],
        "hidden_layer_sizes": ["array-like", None, _AUTO],
        "batch_size": [Interval(Integral, 1, None, closed="left"), _AUTO],
        "max_epochs": [Interval(Integral, 0, None, closed="left"), _AUTO],
        "learning_rate": [Interval(Real, 0, None, closed="neither"), _AUTO],
        "activation": [StrOptions((set(ACTIVATIONS) - {"identity"}) | {"auto"})],
        "n_reflections": [Interval(Integral, 0, None, closed="left")],
        "actnorm": ["boolean"],
        "actnorm_data_init": ["boolean"],
        "clamp": [Interval(Real, 0, None, closed="neither")],
        "event_shape": ["array-like", None, _AUTO],
        "optimizer": [StrOptions(set(OPTIMIZERS))],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "max_grad_norm": [Interval(Real, 0, None, closed="neither"), None],
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
    }

    # ------------------------------------------------------------------ building
    def _check_flow_params(self, n_features: int) -> None:
        if self._resolved("hidden_layer_sizes", None) is not None:
            sizes = np.asarray(self.hidden_layer_sizes)
            if sizes.ndim != 1 or (
                sizes.size and (not np.issubdtype(sizes.dtype, np.integer) or sizes.min() < 1)
            ):
                raise ValueError(
                    "hidden_layer_sizes must be None or a sequence of positive ints; got "
                    f"{self.hidden_layer_sizes!r}."
                )
        if self._resolved("event_shape", None) is not None:
            shape = np.asarray(self.event_shape)
            if (
                shape.ndim != 1
                or shape.size == 0
                or not np.issubdtype(shape.dtype, np.integer)
                or shape.min() < 1
                or int(np.prod(shape)) != n_features
            ):
                raise ValueError(
                    f"event_shape={self.event_shape!r} should be a sequence of positive ints "
                    f"whose product is n_features={n_features}."
                )

    def _resolve_auto(self, n_samples: int, n_features: int) -> None:
        """Resolve the "auto" parameters into private attributes (see each class)."""
        raise NotImplementedError  # pragma: no cover

    def _resolve_hidden(self, auto: tuple[int, ...]) -> tuple[int, ...] | None:
        hidden = self._resolved("hidden_layer_sizes", auto)
        return None if hidden is None else tuple(int(h) for h in hidden)

    def _make_flow(self, n_features: int):
        shape = self._resolved("event_shape", _auto_event_shape(n_features))
        shape = None if shape is None else tuple(int(s) for s in shape)
        self._event_shape = shape
        return build_flow(
            n_features,
            n_stages=self._n_stages,
            coupling=self._coupling,
            mask=self.mask,
            permutation=self.permutation,
            hidden_layer_sizes=self._hidden_layer_sizes,
            activation=self._activation,
            n_reflections=self.n_reflections,
            actnorm=self.actnorm,
            clamp=self.clamp,
            event_shape=shape,
        )

    def _build(self, X: np.ndarray) -> None:
        """Resolve the "auto" parameters, build ``module_`` and the optimizer."""
        self._check_flow_params(X.shape[1])
        self._resolve_auto(X.shape[0], X.shape[1])
        self.module_ = self._build_module_seeded(lambda: self._make_flow(X.shape[1]))
        self._optimizer = self._make_optimizer()

    def _make_optimizer(self) -> torch.optim.Optimizer:
        return make_optimizer(
            self.optimizer,
            self.module_.parameters(),
            learning_rate=self._learning_rate,
            weight_decay=self.weight_decay,
        )

    def _resume_fit(self, X, y) -> None:
        self._resolve_auto(X.shape[0], X.shape[1])  # training values follow set_params
        if getattr(self, "_optimizer", None) is None:  # e.g. after unpickling
            self._optimizer = self._make_optimizer()
        # each call starts at the resolved rate (a learning_rate changed by set_params
        # included), not where the last call's schedule left it (0 after a cosine decay);
        # the optimizer's moments carry on
        for group in self._optimizer.param_groups:
            group["lr"] = self._learning_rate
        self._resumed = True  # the ActNorm layers keep their fitted values

    def _data_init(self, X_t: Tensor, generator: torch.Generator) -> None:
        """Glow-style ActNorm initialisation on (a random subset of) the training rows
        (not on a warm start or a later partial_fit)."""
        if self.__dict__.pop("_resumed", False) or not (self.actnorm and self.actnorm_data_init):
            return
        if X_t.shape[0] > _DATA_INIT_ROWS:
            idx = torch.randperm(X_t.shape[0], generator=generator, device=generator.device)
            X_t = X_t[idx[:_DATA_INIT_ROWS].to(X_t.device)]
        elif not isinstance(X_t, Tensor):  # streamed rows: read them all
            X_t = X_t[0:X_t.shape[0]]
        self.module_.initialize(X_t)

    def _train_flow(
        self,
        step,
        *,
        n_samples: int,
        max_epochs: int,
        phase: str,
        tol: float | None,
        advice: str,
        on_epoch_end=None,
        shuffle: bool | int = True,
        sample_weight=None,
    ) -> TrainingResult:
        """Run :func:`~skdeepclust._training.train_loop` on ``module_`` (train mode, then
        eval mode) with this fit's generator, optimizer and history. ``advice`` names what
        helps this flow when training diverges."""
        self.module_.train()
        history = train_loop(
            step,
            n_samples=n_samples,
            batch_size=self._batch_size,
            max_epochs=max_epochs,
            shuffle=shuffle,
            sample_weight=sample_weight,
            generator=self._generator,
            optimizer=self._optimizer,
            phase=phase,
            verbose=self.verbose,
            tol=tol,
            n_iter_no_change=self.n_iter_no_change,
            max_grad_norm=self.max_grad_norm,
            on_epoch_end=on_epoch_end,
            result=self._history,
            suggestion=(
                f"Try a smaller learning_rate, standardize the input, {advice}, "
                "max_grad_norm=1.0, or compute in float64 "
                "(skdeepclust.set_config(compute_dtype='float64'))."
            ),
        )
        self.module_.eval()
        return history

    @torch.no_grad()
    def _check_density(self, X_t) -> None:
        """Warn when the fitted flow's log-likelihood of (up to ``_CHECK_ROWS``) training
        rows ``X_t`` (a tensor or streamed rows) is not finite or is absurd: below an
        independent Gaussian fitted on the same rows (variances floored as ActNorm
        floors its scales) by more than ``_CHECK_NATS_PER_FEATURE`` nats per feature.
        Such a model is broken (issue 18: no silently broken model), typically by
        near-constant features."""
        rows = X_t[0:min(X_t.shape[0], _CHECK_ROWS)]
        if rows.shape[0] < 2:
            return
        mode = self.module_.training
        self.module_.eval()
        try:
            ll = self.module_.log_prob(rows).double()
        finally:
            self.module_.train(mode)
        x = rows.double()
        var = x.var(0, unbiased=False)
        var = var.clamp_min(max(0.09 * float(var.mean()), 1e-12))  # ActNorm's (0.3 x rms)^2
        gauss = -0.5 * (torch.log(2 * torch.pi * var) + (x - x.mean(0)).pow(2) / var).sum(1)
        mean_ll, mean_gauss = float(ll.mean()), float(gauss.mean())
        n_features = rows.shape[1]
        if not np.isfinite(mean_ll) or mean_ll < mean_gauss - _CHECK_NATS_PER_FEATURE * n_features:
            warnings.warn(
                f"{type(self).__name__}: the fitted flow's mean log-likelihood of the "
                f"training rows is {mean_ll:.4g} nats, against {mean_gauss:.4g} for an "
                "independent Gaussian: the model is broken. Features that are (nearly) "
                "constant in most rows are the usual cause: drop them or add noise of "
                "their resolution, standardize the input, or try a smaller learning_rate.",
                RuntimeWarning,
                stacklevel=4,
            )

    # ------------------------------------------------------------------ inference
    def _check_codes(self, Z, name: str = "X") -> np.ndarray:
        check_is_fitted(self)
        Z = check_array(Z, dtype=[np.float64, np.float32], input_name=name)
        if Z.shape[1] != self.n_features_in_:
            raise ValueError(
                f"{name} has {Z.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input (codes have as many dimensions "
                "as the data)."
            )
        return Z

    def transform(self, X):
        """Map ``X`` to its code ``z = T(x)`` (distributed as the base distribution for the
        training data: standard normal, or the fitted mixture of a mixture base).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        Z : ndarray of shape (n_samples, n_features)
        """
        X = self._validate_predict_data(X)
        return self._inference(lambda x: self.module_(x)[0], X)

    def inverse_transform(self, X):
        """Map codes back to data, exactly: ``inverse_transform(transform(X)) == X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Codes, as returned by :meth:`transform` or drawn from the base distribution.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
        """
        Z = self._check_codes(X)
        return self._inference(self.module_.inverse, Z)

    def score_samples(self, X):
        """Exact log-density of each sample: ``log q(T(x)) + log|det dT/dx|``, with ``q``
        the base distribution (``N(0, I)`` or the fitted mixture).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
        """
        X = self._validate_predict_data(X)
        return self._inference(self.module_.log_prob, X)

    def score(self, X, y=None):
        """Mean log-likelihood of ``X`` (higher is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        log_likelihood : float
        """
        return float(np.mean(self.score_samples(X)))

    def log_det_jacobian(self, X):
        """``log|det dT/dx|`` at each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_det : ndarray of shape (n_samples,)
        """
        X = self._validate_predict_data(X)
        return self._inference(lambda x: self.module_(x)[1], X)

    def sample(self, n_samples=1, *, random_state=None):
        """Draw samples: ``inverse_transform(z)`` with ``z`` drawn from the base
        distribution (``N(0, I)``, or the fitted mixture of a mixture base).

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples.
        random_state : int, RandomState instance or None, default=None
            Seed of the draws; ``None`` uses the estimator's ``random_state``.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        if not isinstance(n_samples, Integral) or n_samples < 1:
            raise ValueError(f"n_samples={n_samples!r} should be a positive int.")
        rng = check_random_state(self.random_state if random_state is None else random_state)
        generator = make_generator(seed_from(rng), torch.device("cpu"))
        with torch.no_grad():
            if getattr(self.module_, "base", None) is None:
                z = torch.randn(int(n_samples), self.n_features_in_, generator=generator,
                                dtype=self._torch_dtype)
            else:  # a fitted base (NormalizingFlow's mixture): drawn on the CPU
                base = copy.deepcopy(self.module_.base).to("cpu")
                z = base.sample(int(n_samples), generator=generator)
        return self._inference(self.module_.inverse, z.numpy(), out_dtype=self._dtype)

    @property
    def _n_features_out(self) -> int:
        return self.n_features_in_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


_FLOW_DOC_PARAMS = """
    n_stages : int or "auto", default={n_stages}
        Number of stages. Each stage is ``[Reflection] -> coupling -> permutation ->
        coupling -> permutation back -> [ActNorm]`` (see
        :func:`skdeepclust.nn.flows.build_flow`). More stages fit more complex
        densities at a proportional cost per step.
    coupling : {{"additive", "affine", "spline"}} or "auto", default={coupling}
        ``"additive"`` (NICE, volume preserving), ``"affine"`` (Real NVP, with
        soft-clamped log-scales) or ``"spline"`` (neural spline flow: monotone
        rational-quadratic splines of 8 bins on ``[-4, 4]``, the most flexible per layer
        and the slowest).
    mask : {{"checkerboard", "heaviside"}}, default="checkerboard"
        Which half of the features conditions each coupling.
    permutation : {{"matching", "shuffle"}}, default="matching"
        Permutation between the two couplings of a stage: the one that matches ``mask``
        (so every feature is transformed once per stage) or a random one.
    hidden_layer_sizes : array-like of int, "auto" or None, default={hidden}
        Hidden sizes of each coupling's MLP; ``None`` means ``(4 * n_features,)``.
    activation : str, default={activation}
        Hidden activation of the coupling MLPs.
    n_reflections : int, default=1
        Householder reflections at the start of each stage (0 for none).
    actnorm : bool, default=True
        ActNorm layers first and after each stage.
    actnorm_data_init : bool, default=True
        Initialise each ActNorm so that it standardizes the training data (Glow); with
        ``False`` they start as the identity (gyoza). Data-dependent init makes the flow
        robust to unscaled input.
    clamp : float, default=2.0
        Soft bound of the affine log-scales (per coupling).
    event_shape : array-like of int, "auto" or None, default={event_shape}
        Layout of one sample for the checkerboard mask, e.g. ``(8, 8)`` for 8x8 images
        flattened row-major; ``None`` treats samples as vectors. "auto" means
        ``(k, k)`` when ``n_features = k * k`` with ``k >= 8`` (a square image, whose
        pixels are then conditioned on their four neighbours), else ``None``; pass
        ``None`` for vector data whose width happens to be such a square.
    optimizer : {{"adam", "sgd", "adamw", "rmsprop"}}, default="adam"
    weight_decay : float, default=0.0
        L2 penalty of the optimizer.
    max_grad_norm : float, default={max_grad_norm}
        Clip the gradient norm of each step (``None`` for no clipping)."""


_FLOW_DOC_WARM_START_DEVICE = """
    warm_start : bool, default=False
        When True, ``fit`` on a fitted model continues training it for ``max_epochs``
        more epochs from the fitted parameters instead of starting anew; ``n_iter_``
        and ``loss_curve_`` accumulate (as in scikit-learn's ``MLPRegressor``). ``X``
        must have the fitted number of features. ActNorm is not initialised again;
        the optimizer state carries over (unless the model was pickled).
    device : str or torch.device, default="auto"
        "auto" (a GPU when there is one), "cpu", "cuda", "cuda:N", "mps"."""


def _fill_flow_doc(doc: str, **defaults) -> str:
    """``doc`` with its ``{flow_params}`` and ``{warm_start_device}`` lines replaced by the
    shared parameter descriptions, ``defaults`` filling in the defaults of the former."""
    return doc.replace(
        "    {flow_params}", _FLOW_DOC_PARAMS.format(**defaults).strip("\n")
    ).replace("    {warm_start_device}", _FLOW_DOC_WARM_START_DEVICE.strip("\n"))
