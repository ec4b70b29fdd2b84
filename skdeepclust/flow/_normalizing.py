"""NormalizingFlow and DisentanglingFlow: invertible flows with exact inverse and likelihood."""

from __future__ import annotations

import copy
import itertools
import math
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import ClassNamePrefixFeaturesOutMixin, DensityMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import _num_samples, check_array
from torch import Tensor

from .._torch import make_generator, seed_from
from .._training import (
    OPTIMIZERS,
    TrainingResult,
    make_optimizer,
    nearest_power_of_two,
    train_loop,
    warn_unconverged,
)
from ..base import PartialFitMixin, TorchEstimator
from ..nn.flows import (
    COUPLINGS,
    MASKS,
    build_flow,
    make_factor_pairs,
    supervised_factor_loss,
)
from ..nn.mlp import ACTIVATIONS
from ..utils._sklearn_compat import Interval, StrOptions, _fit_context, check_is_fitted

__all__ = ["DisentanglingFlow", "NormalizingFlow"]

#: Rows used for ActNorm's data-dependent initialisation (a random subset beyond that).
_DATA_INIT_ROWS = 8192

_AUTO = StrOptions({"auto"})

# NormalizingFlow's "auto" recipe (the table in its docstring).
_NF_SPLINE_MAX_D = 16
_NF_LEARNING_RATE = {"spline": 3e-3, "affine": 1e-3, "additive": 1e-3}
_NF_ACTIVATION = {"spline": "relu", "affine": "tanh", "additive": "tanh"}
_NF_STAGES = 4
_NF_STEPS = 2_500
_NF_MIN_EPOCHS = 50
_NF_MAX_EPOCHS = 500
_NF_MIN_VALIDATION = 20
_NF_VALIDATION_ROWS = 30
_SQUARE_IMAGE_MIN_SIDE = 8
_NF_LR_PATIENCE_DIVISOR = 2  # "plateau": halve the rate after n_iter_no_change // 2 flat epochs


# DisentanglingFlow's "auto" recipe (the table in its docstring).
_DF_COUPLING = "additive"
_DF_STAGES = 2
_DF_BATCH = 64
_DF_LEARNING_RATE = 0.01
_DF_EPOCHS = 20


def _df_hidden(n_features: int) -> tuple[int, ...]:
    """Hidden sizes of each coupling's MLP for ``n_features``."""
    return (4 * n_features,)


def _nf_hidden(n_features: int) -> tuple[int, ...]:
    """Hidden sizes of each coupling's MLP for ``n_features``."""
    if n_features <= _NF_SPLINE_MAX_D:
        return (64, 64)
    return (min(max(64, n_features), 512),)


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
        self._optimizer = make_optimizer(
            self.optimizer,
            self.module_.parameters(),
            learning_rate=self._learning_rate,
            weight_decay=self.weight_decay,
        )

    def _resume_fit(self, X, y) -> None:
        self._resolve_auto(X.shape[0], X.shape[1])  # training values follow set_params
        if getattr(self, "_optimizer", None) is None:  # e.g. after unpickling
            self._optimizer = make_optimizer(
                self.optimizer, self.module_.parameters(), learning_rate=self._learning_rate,
                weight_decay=self.weight_decay)
        self._resumed = True  # the ActNorm layers keep their fitted values

    def _data_init(self, X_t: Tensor, generator: torch.Generator) -> None:
        """Glow-style ActNorm initialisation on (a random subset of) the training rows
        (not on a warm start or a later partial_fit)."""
        if self.__dict__.pop("_resumed", False) or not (self.actnorm and self.actnorm_data_init):
            return
        if X_t.shape[0] > _DATA_INIT_ROWS:
            idx = torch.randperm(X_t.shape[0], generator=generator, device=generator.device)
            X_t = X_t[idx[:_DATA_INIT_ROWS].to(X_t.device)]
        self.module_.initialize(X_t)

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
        """Map ``X`` to its code ``z = T(x)`` (standard normal for the training data).

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
            Codes, as returned by :meth:`transform` or drawn from ``N(0, I)``.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
        """
        Z = self._check_codes(X)
        return self._inference(self.module_.inverse, Z)

    def score_samples(self, X):
        """Exact log-density of each sample: ``log N(T(x); 0, I) + log|det dT/dx|``.

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
        """Draw samples: ``inverse_transform(z)`` with ``z ~ N(0, I)``.

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
        z = torch.randn(
            int(n_samples), self.n_features_in_, generator=generator, dtype=self._torch_dtype
        )
        return self._inference(self.module_.inverse, z.numpy(), out_dtype=self._dtype)

    @property
    def _n_features_out(self) -> int:
        return self.n_features_in_


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


class NormalizingFlow(PartialFitMixin, DensityMixin, _BaseFlow):
    r"""Normalizing flow density estimator trained by maximum likelihood.

    An invertible network :math:`T` (ActNorm, Householder reflections and spline, affine
    or additive coupling layers, as in :class:`DisentanglingFlow`) maps data to codes
    :math:`z = T(x)` that are trained to be standard normal; the density is exact,
    :math:`\log p(x) = \log N(T(x); 0, I) + \log|\det \partial T / \partial x|`,
    and so is the inverse. Like :class:`~sklearn.neighbors.KernelDensity` and
    :class:`~sklearn.mixture.GaussianMixture` it offers ``score_samples``, ``score`` and
    ``sample``; as a transformer it maps data to Gaussian codes and back.

    **Defaults.** Every "auto" parameter is resolved in :meth:`fit` from the number of
    rows ``n`` and of features ``d`` into a private attribute (``_n_stages``,
    ``_coupling``, ``_hidden_layer_sizes``, ``_batch_size``, ``_max_epochs``,
    ``_learning_rate``, ``_early_stopping``); the public parameters are never changed:

    ============================  ====================================================
    parameter                     "auto" resolves to
    ============================  ====================================================
    ``coupling``                  ``"spline"`` when ``d <= {spline_max_d}``, else ``"affine"``
    ``n_stages``                  {stages_doc}
    ``hidden_layer_sizes``        {hidden_doc}
    ``activation``                ``"relu"`` for splines, ``"tanh"`` for affine and
                                  additive couplings
    ``batch_size``                the power of two nearest to ``n / 16``, in [64, 512]
    ``learning_rate``             {lr_doc}
    ``max_epochs``                {epochs_doc}
    ``early_stopping``            on when the validation split has at least
                                  {min_val} rows
    ============================  ====================================================

    The learning rate follows a cosine decay from ``learning_rate`` to 0 over
    ``max_epochs`` (``lr_schedule``); with early stopping the best epoch's parameters
    are kept. To choose otherwise, pass explicit values (e.g. a
    smaller network and ``early_stopping=True`` on a few hundred rows, or
    ``coupling="affine"`` to trade flexibility for speed in high dimension).

    Parameters
    ----------
    {flow_params}
    batch_size : int or "auto", default="auto"
        Rows per step.
    max_epochs : int or "auto", default="auto"
        Cap on the number of epochs.
    learning_rate : float or "auto", default="auto"
        Initial Adam learning rate.
    lr_schedule : {"cosine", "plateau", "constant"}, default="cosine"
        How the learning rate changes over the epochs: ``"cosine"`` decays it from
        ``learning_rate`` to 0 at ``max_epochs`` (reaches a given likelihood in the
        fewest steps; set ``max_epochs`` to the budget you can afford); ``"plateau"``
        halves it whenever the monitored score has not improved for
        ``max(2, n_iter_no_change // 2)`` epochs (no fixed horizon); ``"constant"``
        keeps it.
    early_stopping : bool or "auto", default="auto"
        Hold out ``validation_fraction`` of the rows, stop when their mean
        log-likelihood has not improved by ``tol`` for ``n_iter_no_change`` epochs (with
        the cosine schedule, counted in the second half of ``max_epochs`` only), and
        keep the parameters of the best epoch. Without it, the same rule applies to the
        training loss and the last epoch's parameters are kept.
    validation_fraction : float or "auto", default="auto"
        Share of the rows held out for early stopping; "auto" holds out 10%, or 30
        rows when that is more, at most 30% of the rows.
    tol : float or None, default=1e-4
        Improvement threshold (in nats per sample) of the stopping rule; ``None`` always
        runs ``max_epochs``.
    n_iter_no_change : int, default=30
        Epochs without an improvement of ``tol`` before training stops.
    warm_start : bool, default=False
        When True, ``fit`` on a fitted model continues training it for ``max_epochs``
        more epochs from the fitted parameters instead of starting anew; ``n_iter_``
        and ``loss_curve_`` accumulate (as in scikit-learn's ``MLPRegressor``). ``X``
        must have the fitted number of features. ActNorm is not initialised again;
        the optimizer state carries over (unless the model was pickled).
    device : str or torch.device, default="auto"
        "auto" (a GPU when there is one), "cpu", "cuda", "cuda:N", "mps".
    random_state : int, RandomState instance or None, default=None
        Controls initialisation, the validation split, minibatch order and
        :meth:`sample`. The same seed on the CPU gives the same model.
    verbose : int, default=0
        1 shows a progress bar.

    Attributes
    ----------
    module_ : skdeepclust.nn.flows.FlowSequential
        The trained flow.
    loss_curve_ : list of float
        Mean negative log-likelihood of the training rows per epoch.
    validation_scores_ : list of float or None
        Mean log-likelihood of the validation rows per epoch (early stopping only).
    best_validation_score_ : float or None
        The best of them; the model keeps that epoch's parameters.
    n_iter_ : int
        Epochs run.
    converged_ : bool
        Whether training stopped by the ``tol`` rule (``False`` with a
        :class:`~sklearn.exceptions.ConvergenceWarning` when it ran into ``max_epochs``).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features,)
        Only when X has string feature names.

    See Also
    --------
    DisentanglingFlow : the same flow trained on pairs to split its code into factors.
    sklearn.mixture.GaussianMixture : a parametric density estimator.
    sklearn.neighbors.KernelDensity : a non-parametric one.

    Notes
    -----
    Standardize the input (e.g. ``StandardScaler``): the first ActNorm does it per
    feature, but couplings train best on unit-scale data, and spline couplings act on
    ``[-4, 4]`` after it (identity beyond). On discrete data (pixel intensities, counts,
    integer-coded columns) a continuous density can grow without bound on the lattice;
    add uniform noise within each quantisation bin (dequantization) before fitting, and
    compare densities only on data dequantized the same way.

    References
    ----------
    .. [1] Dinh, Krueger & Bengio, "NICE: Non-linear Independent Components
       Estimation", arXiv:1410.8516.
    .. [2] Dinh, Sohl-Dickstein & Bengio, "Density estimation using Real NVP",
       arXiv:1605.08803.
    .. [3] Kingma & Dhariwal, "Glow: Generative Flow with Invertible 1x1 Convolutions",
       arXiv:1807.03039.
    .. [4] Durkan, Bekasov, Murray & Papamakarios, "Neural Spline Flows",
       arXiv:1906.04032.

    Examples
    --------
    >>> from sklearn.datasets import make_moons
    >>> from skdeepclust.flow import NormalizingFlow
    >>> X, _ = make_moons(500, noise=0.05, random_state=0)
    >>> flow = NormalizingFlow(n_stages=2, max_epochs=3, device="cpu", random_state=0)
    >>> flow = flow.fit(X)
    >>> flow.score_samples(X[:3]).shape
    (3,)
    >>> bool(abs(flow.inverse_transform(flow.transform(X)) - X).max() < 1e-5)
    True
    >>> flow.sample(4).shape
    (4, 2)
    """

    _parameter_constraints: dict = {
        **_BaseFlow._parameter_constraints,
        "early_stopping": ["boolean", _AUTO],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither"), _AUTO],
        "lr_schedule": [StrOptions({"cosine", "plateau", "constant"})],
    }

    _tour = {"params": {}, "data": "unit"}

    def __init__(
        self,
        *,
        n_stages="auto",
        coupling="auto",
        mask="checkerboard",
        permutation="matching",
        hidden_layer_sizes="auto",
        activation="auto",
        n_reflections=1,
        actnorm=True,
        actnorm_data_init=True,
        clamp=2.0,
        event_shape="auto",
        optimizer="adam",
        weight_decay=0.0,
        max_grad_norm=None,
        batch_size="auto",
        max_epochs="auto",
        learning_rate="auto",
        lr_schedule="cosine",
        early_stopping="auto",
        validation_fraction="auto",
        tol=1e-4,
        n_iter_no_change=30,
        warm_start=False,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.n_stages = n_stages
        self.coupling = coupling
        self.mask = mask
        self.permutation = permutation
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.n_reflections = n_reflections
        self.actnorm = actnorm
        self.actnorm_data_init = actnorm_data_init
        self.clamp = clamp
        self.event_shape = event_shape
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.max_grad_norm = max_grad_norm
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.learning_rate = learning_rate
        self.lr_schedule = lr_schedule
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.warm_start = warm_start
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _validation_rows(self, n_samples: int) -> int:
        auto = min(max(0.1, _NF_VALIDATION_ROWS / max(n_samples, 1)), 0.3)
        return math.ceil(self._resolved("validation_fraction", auto) * n_samples)

    def _resolve_auto(self, n_samples: int, n_features: int) -> None:
        """Resolve the "auto" parameters (the table of the class docstring)."""
        d = n_features
        n_val = self._validation_rows(n_samples)
        self._early_stopping = bool(
            self._resolved("early_stopping", n_val >= _NF_MIN_VALIDATION)
        )
        n_train = n_samples - n_val if self._early_stopping else n_samples
        self._coupling = self._resolved("coupling", "spline" if d <= _NF_SPLINE_MAX_D else "affine")
        self._n_stages = int(self._resolved("n_stages", _NF_STAGES))
        self._activation = self._resolved("activation", _NF_ACTIVATION[self._coupling])
        self._hidden_layer_sizes = self._resolve_hidden(_nf_hidden(d))
        auto_batch = nearest_power_of_two(n_train / 16, 64, 512)
        self._batch_size = int(self._resolved("batch_size", auto_batch))
        self._learning_rate = float(
            self._resolved("learning_rate", _NF_LEARNING_RATE[self._coupling])
        )
        steps_per_epoch = math.ceil(n_train / min(self._batch_size, max(n_train, 1)))
        auto_epochs = min(max(math.ceil(_NF_STEPS / steps_per_epoch), _NF_MIN_EPOCHS),
                          _NF_MAX_EPOCHS)
        self._max_epochs = int(self._resolved("max_epochs", auto_epochs))

    def _initialize(self, X, y) -> None:
        self._build(X)

    def _train(self, X, y, *, partial: bool):
        generator = self._generator
        X_all = self._to_tensor(X)
        X_t, X_val = X_all, None
        early = self._early_stopping and not partial
        if early:
            n_val = self._validation_rows(X.shape[0])
            if X.shape[0] - n_val < 1 or n_val < 1:
                raise ValueError(
                    f"early_stopping needs a validation split: n_samples={X.shape[0]} is too "
                    f"small for validation_fraction={self.validation_fraction}."
                )
            perm = torch.randperm(X.shape[0], generator=generator, device=generator.device)
            perm = perm.to(X_all.device)
            X_val, X_t = X_all[perm[:n_val]], X_all[perm[n_val:]]
        self._data_init(X_t, generator)
        module = self.module_
        optimizer = self._optimizer

        def step(idx: Tensor) -> Tensor:
            return -module.log_prob(X_t[idx]).mean()

        self.validation_scores_ = [] if early else None
        self.best_validation_score_ = None
        tol = self.tol
        lr_patience = max(2, self.n_iter_no_change // _NF_LR_PATIENCE_DIVISOR)
        schedule, n_epochs = self.lr_schedule, max(self._max_epochs, 1)
        state = {"best": -math.inf, "best_params": None, "misses": 0, "lr_misses": 0}

        def on_epoch_end(epoch: int, loss: float) -> bool:
            # the monitored score: validation log-likelihood, or minus the training loss
            if early:
                module.eval()
                with torch.no_grad():
                    score = float(module.log_prob(X_val).mean())
                module.train()
                self.validation_scores_.append(score)
            else:
                score = -loss
            best = state["best"]
            improved = score > best + (tol or 0.0)
            state["misses"] = 0 if improved else state["misses"] + 1
            if schedule == "cosine" and 2 * (epoch + 1) <= n_epochs:
                state["misses"] = 0  # at high rates the score is noisy: no stopping yet
            state["lr_misses"] = 0 if score > best else state["lr_misses"] + 1
            if score > best:
                state["best"] = score
                if early:  # keep the best parameters seen
                    self.best_validation_score_ = score
                    state["best_params"] = copy.deepcopy(module.state_dict())
            if schedule == "cosine":
                rate = 0.5 * self._learning_rate * (1 + math.cos(math.pi * (epoch + 1) / n_epochs))
                for group in optimizer.param_groups:
                    group["lr"] = rate
            elif schedule == "plateau" and state["lr_misses"] >= lr_patience:
                for group in optimizer.param_groups:
                    group["lr"] = group["lr"] * 0.5
                state["lr_misses"] = 0
            return tol is not None and state["misses"] >= self.n_iter_no_change

        module.train()
        history = train_loop(
            step,
            n_samples=X_t.shape[0],
            batch_size=self._batch_size,
            max_epochs=1 if partial else self._max_epochs,
            generator=generator,
            optimizer=optimizer,
            phase="normalizing flow",
            verbose=self.verbose,
            tol=None,
            max_grad_norm=self.max_grad_norm,
            on_epoch_end=on_epoch_end,
            result=self._history,
            suggestion=(
                "Try a smaller learning_rate, standardize the input, coupling='additive', "
                "a smaller clamp, max_grad_norm=1.0, or compute in float64 "
                "(skdeepclust.set_config(compute_dtype='float64'))."
            ),
        )
        if state["best_params"] is not None:
            module.load_state_dict(state["best_params"])
        module.eval()
        return history

    def _finish_fit(self, X, y, history, *, partial: bool) -> None:
        tol = self.tol
        if tol is not None and not partial:
            early = self._early_stopping
            what = "validation log-likelihood" if early else "training loss"
            warn_unconverged(
                self, history, phase="normalizing flow", max_epochs=self._max_epochs,
                rule=f"the {what} improved by less than tol={tol} for "
                     f"n_iter_no_change={self.n_iter_no_change} epochs",
                advice="increase max_epochs, or set tol=None to run all epochs quietly",
            )

    score = _BaseFlow.score  # DensityMixin's placeholder comes first in the MRO

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


class DisentanglingFlow(_BaseFlow):
    r"""Invertible flow whose code splits into one block per known factor.

    The disentangling invertible interpretation network of Esser, Rombach and Ommer:
    a flow :math:`T` is trained on pairs :math:`(x^a, x^b)` that share a factor with
    correlation :math:`\sigma_{ab}`, with the supervised factor loss

    .. math::

        l = \tfrac12 \|\tilde z^a\|^2 + \tfrac12 \sum_d \Big[
            \frac{(\tilde z^b_d - \sigma_d \tilde z^a_d)^2}{1 - \sigma_d^2}
            + \log(1 - \sigma_d^2)\Big] - \log|T'(x^a)| - \log|T'(x^b)|,

    where :math:`\tilde z = T(x)` and :math:`\sigma_d` is the pair's similarity on the
    factor owning code dimension ``d`` (clipped below 1). The code is then standard
    normal, and block ``k`` (``factor_slices_[k]``) varies with factor ``k`` only: edit a
    block and :meth:`inverse_transform` to change one factor of a sample. Block 0 is the
    residual: what no factor explains.

    **Defaults.** The "auto" architecture is two stages of additive couplings with one
    ReLU hidden layer of ``4 * n_features`` units (resolved in :meth:`fit` into
    ``_n_stages``, ``_coupling``, ``_hidden_layer_sizes`` and ``_activation``).

    Fit with per-sample factor values, ``fit(X, y)`` (pairs sharing one factor are drawn
    for every step, see :func:`skdeepclust.nn.flows.make_factor_pairs`), or with your own
    pairs, ``fit_pairs(X_a, X_b, similarity)``.

    Parameters
    ----------
    dimensions_per_factor : array-like of int, default=None
        Code dimensions of the residual (first) and of each factor; must sum to
        ``n_features``. ``None``: one residual dimension and the rest split evenly over
        the factors (the remainder going to the residual).
    target_correlations : float or array-like of float, default=0.9
        Correlation in ``[0, 1]`` of the shared factor within the pairs that
        ``fit(X, y)`` draws (one value, or one per factor).
    {flow_params}
    pairs_per_epoch : int, default=None
        Pairs drawn per epoch by ``fit(X, y)``; ``None`` means ``n_samples``.
    batch_size : int, default=64
        Pairs per step.
    max_epochs : int, default=20
    learning_rate : float, default=0.01
    tol : float or None, default=None
        Stop when the epoch loss has not improved by ``tol`` for ``n_iter_no_change``
        epochs; ``None`` always runs ``max_epochs``.
    n_iter_no_change : int, default=10
    warm_start : bool, default=False
        When True, ``fit`` on a fitted model continues training it for ``max_epochs``
        more epochs from the fitted parameters instead of starting anew; ``n_iter_``
        and ``loss_curve_`` accumulate (as in scikit-learn's ``MLPRegressor``). ``X``
        must have the fitted number of features. ActNorm is not initialised again;
        the optimizer state carries over (unless the model was pickled).
    device : str or torch.device, default="auto"
        "auto" (a GPU when there is one), "cpu", "cuda", "cuda:N", "mps".
    random_state : int, RandomState instance or None, default=None
        Controls initialisation, pair drawing, minibatch order and :meth:`sample`.
    verbose : int, default=0
        1 shows a progress bar.

    Attributes
    ----------
    module_ : skdeepclust.nn.flows.FlowSequential
        The trained flow.
    dimensions_per_factor_ : ndarray of shape (n_factors + 1,)
        Resolved code dimensions, residual first.
    factor_slices_ : list of slice
        Code columns of the residual (first) and of each factor.
    target_correlations_ : ndarray of shape (n_factors,)
        Resolved per-factor correlations (``fit(X, y)`` only; ``None`` after
        :meth:`fit_pairs`).
    loss_curve_ : list of float
        Mean supervised factor loss per epoch.
    n_iter_ : int
    converged_ : bool
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features,)
        Only when X has string feature names.

    See Also
    --------
    NormalizingFlow : the same flow trained by maximum likelihood on X alone.

    References
    ----------
    .. [1] Esser, Rombach & Ommer, "A Disentangling Invertible Interpretation Network
       for Explaining Latent Representations", CVPR 2020, arXiv:2004.13166.

    Examples
    --------
    >>> from skdeepclust.datasets import make_arc
    >>> from skdeepclust.flow import DisentanglingFlow
    >>> X, position = make_arc(1000, random_state=0)
    >>> flow = DisentanglingFlow(max_epochs=3, device="cpu", random_state=0)
    >>> flow = flow.fit(X, position)
    >>> flow.factor_slices_
    [slice(0, 1, None), slice(1, 2, None)]
    >>> residual, pos = flow.transform_factors(X[:5])
    >>> pos.shape
    (5, 1)
    >>> bool(abs(flow.inverse_transform(flow.transform(X)) - X).max() < 1e-6)
    True
    """

    _parameter_constraints: dict = {
        **_BaseFlow._parameter_constraints,
        "dimensions_per_factor": ["array-like", None],
        "target_correlations": [Interval(Real, 0, 1, closed="both"), "array-like"],
        "pairs_per_epoch": [Interval(Integral, 1, None, closed="left"), None],
    }

    _tour = {
        "params": {"hidden_layer_sizes": (32,), "max_epochs": 3, "batch_size": 128,
                   "pairs_per_epoch": 1024},
        "data": "standard",
    }

    def __init__(
        self,
        dimensions_per_factor=None,
        *,
        target_correlations=0.9,
        n_stages="auto",
        coupling="auto",
        mask="checkerboard",
        permutation="matching",
        hidden_layer_sizes="auto",
        activation="auto",
        n_reflections=1,
        actnorm=True,
        actnorm_data_init=True,
        clamp=2.0,
        event_shape=None,
        optimizer="adam",
        weight_decay=0.0,
        max_grad_norm=None,
        pairs_per_epoch=None,
        batch_size=64,
        max_epochs=20,
        learning_rate=0.01,
        tol=None,
        n_iter_no_change=10,
        warm_start=False,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.dimensions_per_factor = dimensions_per_factor
        self.target_correlations = target_correlations
        self.n_stages = n_stages
        self.coupling = coupling
        self.mask = mask
        self.permutation = permutation
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.n_reflections = n_reflections
        self.actnorm = actnorm
        self.actnorm_data_init = actnorm_data_init
        self.clamp = clamp
        self.event_shape = event_shape
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.max_grad_norm = max_grad_norm
        self.pairs_per_epoch = pairs_per_epoch
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.learning_rate = learning_rate
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.warm_start = warm_start
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ checks
    def _resolve_auto(self, n_samples: int, n_features: int) -> None:
        """Resolve the "auto" parameters (the table of the class docstring)."""
        self._coupling = self._resolved("coupling", _DF_COUPLING)
        self._n_stages = int(self._resolved("n_stages", _DF_STAGES))
        self._activation = self._resolved("activation", "relu")
        self._hidden_layer_sizes = self._resolve_hidden(_df_hidden(n_features))
        self._batch_size = int(self._resolved("batch_size", _DF_BATCH))
        self._learning_rate = float(self._resolved("learning_rate", _DF_LEARNING_RATE))
        self._max_epochs = int(self._resolved("max_epochs", _DF_EPOCHS))

    def _resolve_dimensions(self, n_features: int, n_factors: int) -> np.ndarray:
        if self.dimensions_per_factor is None:
            if n_features < n_factors:
                raise ValueError(
                    f"n_features={n_features} should be >= the number of factors "
                    f"{n_factors}: every factor needs at least one code dimension."
                )
            per = max((n_features - 1) // n_factors, 1)
            return np.array([n_features - per * n_factors] + [per] * n_factors)
        dims = np.asarray(self.dimensions_per_factor)
        if (
            dims.ndim != 1
            or dims.size < 2
            or not np.issubdtype(dims.dtype, np.integer)
            or dims.min() < 0
            or dims[1:].min() < 1
        ):
            raise ValueError(
                "dimensions_per_factor must list the residual's code dimensions (>= 0) "
                "followed by at least one factor's (>= 1 each); got "
                f"{self.dimensions_per_factor!r}."
            )
        if int(dims.sum()) != n_features:
            raise ValueError(
                f"dimensions_per_factor={dims.tolist()} sums to {int(dims.sum())}, but it "
                f"must sum to n_features={n_features} (the code has as many dimensions as "
                "the data; the first entry is the residual factor)."
            )
        if dims.size - 1 != n_factors:
            raise ValueError(
                f"dimensions_per_factor={dims.tolist()} describes {dims.size - 1} factor(s) "
                f"after the residual, but the factor values have {n_factors} column(s)."
            )
        return dims.astype(np.int64)

    def _resolve_correlations(self, n_factors: int) -> np.ndarray:
        rho = np.asarray(self.target_correlations, dtype=np.float64).reshape(-1)
        if rho.size == 1:
            rho = np.repeat(rho, n_factors)
        if rho.size != n_factors or not np.all((rho >= 0) & (rho <= 1)):
            raise ValueError(
                "target_correlations must be one value in [0, 1] or one per factor "
                f"({n_factors}); got {self.target_correlations!r}."
            )
        return rho

    def _set_factor_layout(self, dims: np.ndarray) -> None:
        self.dimensions_per_factor_ = dims
        edges = np.concatenate([[0], np.cumsum(dims)])
        self.factor_slices_ = [slice(int(a), int(b)) for a, b in itertools.pairwise(edges)]

    # ------------------------------------------------------------------ training
    def _run_pairs(self, step, n_pairs: int, max_epochs: int) -> TrainingResult:
        self.module_.train()
        history = train_loop(
            step,
            n_samples=n_pairs,
            batch_size=self._batch_size,
            max_epochs=max_epochs,
            generator=self._generator,
            optimizer=self._optimizer,
            phase="disentangling flow",
            verbose=self.verbose,
            tol=self.tol,
            n_iter_no_change=self.n_iter_no_change,
            max_grad_norm=self.max_grad_norm,
            result=self._history,
            suggestion=(
                "Try a smaller learning_rate, standardize the input, target_correlations "
                "further from 1, max_grad_norm=1.0, or compute in float64 "
                "(skdeepclust.set_config(compute_dtype='float64'))."
            ),
        )
        self.module_.eval()
        return history

    def _pair_loss(self, x_a: Tensor, x_b: Tensor, similarity: Tensor) -> Tensor:
        z, log_det = self.module_(torch.cat([x_a, x_b]))
        n = x_a.shape[0]
        return supervised_factor_loss(
            z[:n], z[n:], log_det[:n], log_det[n:], similarity, self.dimensions_per_factor_
        )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fit on samples with known factor values, drawing pairs that share a factor.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_factors)
            Value of each factor for each sample (numbers; categories as codes). The
            residual factor has no column.

        Returns
        -------
        self : DisentanglingFlow
        """
        return self._fit_template(X, y, partial=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y):
        """Run one epoch on pairs drawn from ``(X, y)``; the first call builds the flow.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_factors)
            As in :meth:`fit`; every call must have the same factors.

        Returns
        -------
        self : DisentanglingFlow
        """
        return self._partial_fit(X, y)

    def _validate_fit_input(self, X, y, *, reset: bool):
        if y is not None and _num_samples(y) != _num_samples(X):
            raise ValueError(
                f"y has {_num_samples(y)} rows but X has {_num_samples(X)}: y needs one row "
                "of factor values per sample."
            )
        X, y = self._validate_fit_data(X, y=y, reset=reset, multi_output=True,
                                       y_numeric=True)
        return X, np.asarray(y, dtype=np.float64).reshape(X.shape[0], -1)

    def _initialize(self, X, y) -> None:
        n_factors = y.shape[1]
        dims = self._resolve_dimensions(X.shape[1], n_factors)
        self.target_correlations_ = self._resolve_correlations(n_factors)
        self._build(X)
        self._set_factor_layout(dims)

    def _train(self, X, y, *, partial: bool):
        generator, rho = self._generator, self.target_correlations_
        X_t = self._to_tensor(X)
        Y_t = torch.as_tensor(y, dtype=X_t.dtype, device=X_t.device)
        self._data_init(X_t, generator)

        def step(idx: Tensor) -> Tensor:
            a, b, sim = make_factor_pairs(Y_t, idx.shape[0], rho, generator=generator)
            return self._pair_loss(X_t[a], X_t[b], sim)

        return self._run_pairs(step, self.pairs_per_epoch or X.shape[0],
                               1 if partial else self._max_epochs)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_pairs(self, X_a, X_b, similarity):
        """Fit on given pairs and their similarity on each factor.

        Parameters
        ----------
        X_a, X_b : array-like of shape (n_pairs, n_features)
            The two members of each pair.
        similarity : array-like of shape (n_pairs,) or (n_pairs, n_factors)
            Correlation in ``[0, 1]`` of each pair along each factor (residual excluded,
            it is 0): 1 for "same value", 0 for "unrelated".

        Returns
        -------
        self : DisentanglingFlow
        """
        X_a = self._validate_fit_data(X_a)
        X_b = self._validate_fit_data(X_b, reset=False)
        if X_b.shape[0] != X_a.shape[0]:
            raise ValueError(
                f"X_a has {X_a.shape[0]} rows and X_b has {X_b.shape[0]}: they must hold the "
                "two members of the same pairs."
            )
        S = check_array(similarity, ensure_2d=False, dtype=np.float64, input_name="similarity")
        S = S.reshape(S.shape[0], -1) if S.ndim == 1 else S
        if S.ndim != 2 or S.shape[0] != X_a.shape[0]:
            raise ValueError(
                f"similarity has shape {np.shape(similarity)}; it needs one row per pair "
                f"({X_a.shape[0]}) and one column per factor."
            )
        if S.min() < 0 or S.max() > 1:
            raise ValueError(
                f"similarity must be in [0, 1] (a correlation per factor); got values in "
                f"[{S.min():.4g}, {S.max():.4g}]."
            )
        dims = self._resolve_dimensions(X_a.shape[1], S.shape[1])
        self._start_fit(X_a)
        self._history = TrainingResult()
        self._build(X_a)
        self._set_factor_layout(dims)
        self.target_correlations_ = None
        A, B = self._to_tensor(X_a), self._to_tensor(X_b)
        S = np.column_stack([np.zeros(S.shape[0]), S])
        S_t = torch.as_tensor(S, dtype=A.dtype, device=A.device)
        self._data_init(torch.cat([A, B]), self._generator)

        def step(idx: Tensor) -> Tensor:
            return self._pair_loss(A[idx], B[idx], S_t[idx])

        self._store_history(self._run_pairs(step, A.shape[0], self._max_epochs))
        del self._generator, self._history
        return self

    # ------------------------------------------------------------------ factors
    def transform_factors(self, X):
        """The code of ``X`` split into the residual block and one block per factor.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        blocks : list of ndarray
            ``blocks[0]`` is the residual, ``blocks[k]`` of shape
            ``(n_samples, dimensions_per_factor_[k])`` the code of factor ``k``.
        """
        Z = self.transform(X)
        return [Z[:, s] for s in self.factor_slices_]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.target_tags.required = True
        return tags


NormalizingFlow.__doc__ = (
    NormalizingFlow.__doc__.replace(
        "    {flow_params}",
        _FLOW_DOC_PARAMS.format(
            n_stages='"auto"', coupling='"auto"', hidden='"auto"', activation='"auto"',
            max_grad_norm=None, event_shape='"auto"'
        ).strip("\n"),
    )
    .replace("{spline_max_d}", str(_NF_SPLINE_MAX_D))
    .replace("{stages_doc}", str(_NF_STAGES))
    .replace("{hidden_doc}", "``(64, 64)`` when ``d <= 16``, else ``(min(max(64, d), 512),)``")
    .replace("{lr_doc}", "3e-3 for splines, 1e-3 otherwise (Adam)")
    .replace(
        "{epochs_doc}",
        f"about {_NF_STEPS} steps' worth, in [{_NF_MIN_EPOCHS}, {_NF_MAX_EPOCHS}]",
    )
    .replace("{min_val}", str(_NF_MIN_VALIDATION))
)
DisentanglingFlow.__doc__ = DisentanglingFlow.__doc__.replace(
    "    {flow_params}",
    _FLOW_DOC_PARAMS.format(
        n_stages='"auto"', coupling='"auto"', hidden='"auto"', activation='"auto"',
            max_grad_norm=None, event_shape=None
    ).strip("\n"),
)
