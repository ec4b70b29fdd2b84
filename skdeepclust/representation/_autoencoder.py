"""AutoEncoder: the PyDeep autoencoder family and the pretraining backbone of DEC and DMAE."""

from __future__ import annotations

import math
from contextlib import nullcontext
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin
from torch import Tensor
from torch.nn import functional as F

from .._data import streams
from .._optim import OPTIMIZERS, make_optimizer
from .._precision import float32_start_steps, training_autocast_dtype
from .._sparse import SparseRows
from .._threads import step_work
from .._training import TrainingResult, train_loop, warn_unconverged
from ..base import TorchEstimator
from ..nn.autoencoder import ACTIVATIONS, AutoEncoderModule
from ..utils._sklearn_compat import Interval, StrOptions, _fit_context
from ._autoencoder_losses import LOSSES, MEAN_LOSSES, NOISES, penalties

__all__ = ["AutoEncoder"]

#: Sparse formats taken as they are (others are converted to CSR by the validation).
_SPARSE = ("csr", "csc")


def auto_hidden_layer_sizes(n_features: int) -> tuple[int, int]:
    """``hidden_layer_sizes="auto"``: two layers of ``min(512, max(64, 4 * n_features))``."""
    width = int(min(512, max(64, 4 * n_features)))
    return (width, width)


class AutoEncoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, TorchEstimator):
    """Feed-forward autoencoder: denoising, contractive, sparse and slow variants.

    An encoder ``n_features -> hidden_layer_sizes -> n_components`` and a mirrored decoder
    are trained to reconstruct the input. With ``hidden_layer_sizes=()`` and
    ``tied_weights=True`` this is PyDeep's three-layer autoencoder; with
    ``hidden_layer_sizes=(500, 500, 2000)`` it is the DEC/IDEC pretraining network, and it
    is what :class:`~skdeepclust.cluster.DECClustering` nests as ``autoencoder=``.

    The training objective is the mean reconstruction loss plus optional penalties:

    - ``contractive``: λ·‖∂h/∂x‖²_F, the squared Frobenius norm of the encoder's Jacobian
      (exact, by autograd), averaged over the batch;
    - ``sparsity_weight``: the KL divergence between ``sparsity_target`` and each code
      unit's mean activation on the batch (sigmoid codes), or their squared difference;
    - ``slowness``: β·‖h(x_t) − h(x_{t+1})‖², with consecutive rows of ``X`` as the
      sequence pairs;
    - ``l1``, ``l2``: λ₁·Σ|W| and λ₂/2·ΣW² over the weight matrices.

    ``X`` may be a scipy sparse matrix (CSR or CSC, e.g. bag-of-words counts): it stays
    sparse on the device and each minibatch is densified there, so memory grows with the
    number of non-zeros, not with ``n_samples * n_features``.

    Large networks train faster on hardware that multiplies bfloat16 natively: under
    ``set_config(mixed_precision="auto")`` (the default), a float32 fit whose steps have at
    least 1e8 multiply-adds (DEC's 784-500-500-2000-10 at batch 256) runs its matrix products
    in bfloat16 after a float32 fifth of its steps; parameters, losses and everything after
    ``fit`` stay in float32. ``set_config(mixed_precision="off")`` trains every step in
    float32.

    Parameters
    ----------
    n_components : int, default=10
        Size of the code returned by :meth:`transform`.
    hidden_layer_sizes : tuple of int or "auto", default="auto"
        Encoder hidden widths; the decoder mirrors them. ``"auto"`` is two hidden layers
        of width ``min(512, max(64, 4 * n_features))`` (256 on 8x8 digits, 512 on MNIST),
        resolved in ``fit`` into ``_hidden_layer_sizes``: a nonlinear autoencoder that
        fits most tabular and image data, as ``MLPRegressor()``'s one hidden layer of 100
        does for regression. ``()`` gives a linear (or, with ``code_activation``, a
        single-layer) autoencoder, PyDeep's; choose wider or deeper layers for large,
        complex data (the DEC network is ``(500, 500, 2000)``).
    activation : str, default="relu"
        Hidden activation (see :data:`skdeepclust.nn.autoencoder.ACTIVATIONS`); unused when
        ``hidden_layer_sizes=()``.
    code_activation : str, default="identity"
        Activation of the code layer (``"sigmoid"`` for PyDeep's autoencoder).
    output_activation : str, default="identity"
        Activation of the reconstruction; ``"sigmoid"`` for data in [0, 1], required by
        ``loss="cross_entropy"``.
    tied_weights : bool, default=False
        Decoder weights are the transposed encoder weights.
    loss : {"squared", "absolute", "cross_entropy"}, default="squared"
        Reconstruction loss, averaged over features and samples.
    noise : {"gaussian", "multiplicative", "dropout", "binary", "permutation", "kwta"}, \
            default=None
        Corruption of the input during training (denoising autoencoder): additive or
        multiplicative Gaussian noise with standard deviation ``noise_level``, masking a
        fraction ``noise_level`` of the entries, binary sampling (x in [0, 1] read as a
        probability), shuffling a fraction ``noise_level`` of each row's entries, or
        k-winners-take-all: keeping each row's ``k = n - floor(noise_level * n)`` largest
        entries and zeroing the others (PyDeep's ``KeepKWinner``; ties with the k-th
        largest are kept).
    noise_level : float, default=0.2
        Amount of ``noise`` (its meaning per kind above). Start around 0.1-0.3 for
        "gaussian" on standardized data and "dropout"; larger values regularise more.
    code_noise : {"gaussian", "multiplicative", "dropout", "binary", "permutation", \
            "kwta"}, default=None
        Corruption of the code between encoder and decoder during training, with the same
        kinds as ``noise`` (PyDeep's corruptor on the hidden layer). ``"kwta"`` keeps
        each sample's largest code activations and zeroes the rest, as in the k-sparse
        autoencoder: the decoder learns to reconstruct from a few active units. Training
        only: :meth:`transform` returns the whole code and :meth:`score` reconstructs from
        it. The penalties (``sparsity_weight``, ``contractive``, ``slowness``) see the
        uncorrupted code.
    code_noise_level : float, default=0.2
        Amount of ``code_noise``; for ``"kwta"`` the fraction of code units zeroed per
        sample (0.9 with ``n_components=100`` keeps 10 winners).
    contractive : float, default=0.0
    sparsity_weight : float, default=0.0
    sparsity_target : float, default=0.01
    slowness : float, default=0.0
    l1, l2 : float, default=0.0
    centered : bool, default=False
        PyDeep's centered autoencoder: every affine layer subtracts an offset from its
        input, ``h = f((x - mu) W + c)`` and ``y = g((h - lambda) W^T + b)``. ``mu``
        starts at the data mean and each deeper offset at the mean of its layer's input
        on (up to 1024) training rows, and a sigmoid output's bias at the logit of the
        data mean; during training every offset moves toward its input's minibatch mean
        by ``offset_learning_rate``, the bias being shifted so that the network computes
        the same function. The models are the same; the gradient is taken at centered
        inputs. This makes training invariant to flipping binary data (``x -> 1 - x``
        gives the flipped model) and helps where inputs or codes have large means:
        choose it for data in [0, 1] with sigmoid units (PyDeep's recipe, with SGD or
        Adam); on standardized data with ReLU layers it changes little.
    offset_learning_rate : float, default=0.01
        Rate of the offsets' moving average when ``centered``; 0 keeps them at their
        initial values. PyDeep's autoencoder tutorials move the hidden offsets by 0.01.
    optimizer : {"adam", "sgd", "adamw", "rmsprop"}, default="adam"
    momentum : float, default=0.9
        Momentum of "sgd" and "rmsprop".
    max_grad_norm : float, default=None
        Clip the gradient norm of each step.
    batch_size : int, default=64
    max_epochs : int, default=100
    learning_rate : float, default=1e-3
    tol : float or None, default=1e-4
        Stop when the epoch loss has not improved by ``tol`` for ``n_iter_no_change``
        epochs; ``None`` always runs ``max_epochs``.
    n_iter_no_change : int, default=10
    warm_start : bool, default=False
        When True, ``fit`` on a fitted model continues training it for ``max_epochs``
        more epochs from the fitted parameters instead of starting anew; ``n_iter_``
        and ``loss_curve_`` accumulate (as in scikit-learn's ``MLPRegressor``). ``X``
        must have the fitted number of features. The optimizer state carries
        over (unless the model was pickled).
    device : str or torch.device, default="auto"
        "auto" (a GPU when there is one), "cpu", "cuda", "cuda:N", "mps".
    random_state : int, RandomState instance or None, default=None
        Controls weight initialisation, minibatch order and the corruption noise. The same
        seed on the CPU gives the same model.
    verbose : int, default=0
        1 shows a progress bar.

    Attributes
    ----------
    module_ : skdeepclust.nn.autoencoder.AutoEncoderModule
        The trained network (``module_.encoder``, ``module_.decoder``).
    components_ : ndarray of shape (n_units, n_features)
        Weights of the first encoder layer (the filters).
    intercept_hidden_ : ndarray of shape (n_units,)
        Bias of the first encoder layer.
        With ``centered=True``, the equivalent bias on uncentered input, ``c - mu W``.
    intercept_visible_ : ndarray of shape (n_features,)
        Bias of the last decoder layer (on uncentered input, as ``intercept_hidden_``).
    visible_offset_ : ndarray of shape (n_features,)
        The input offset ``mu`` of a centered model (zeros otherwise).
    hidden_offset_ : ndarray of shape (n_components,)
        The code offset ``lambda`` subtracted before the decoder (zeros otherwise).
    loss_curve_ : list of float
        Training loss (objective including penalties) per epoch.
    n_iter_ : int
        Epochs run.
    converged_ : bool
        Whether training stopped by the ``tol`` rule.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features,)
        Only when X has string feature names.

    See Also
    --------
    sklearn.decomposition.PCA : the linear special case.
    sklearn.neural_network.MLPRegressor : an MLP that can be fitted as ``fit(X, X)``.

    References
    ----------
    .. [1] Vincent et al., "Extracting and composing robust features with denoising
       autoencoders", ICML 2008.
    .. [2] Rifai et al., "Contractive auto-encoders", ICML 2011.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skdeepclust.representation import AutoEncoder
    >>> X = load_digits().data / 16
    >>> ae = AutoEncoder(n_components=8, hidden_layer_sizes=(32,), max_epochs=5,
    ...                  tol=None, device="cpu", random_state=0).fit(X)
    >>> ae.transform(X).shape
    (1797, 8)
    >>> ae.inverse_transform(ae.transform(X[:2])).shape
    (2, 64)

    Sparse input (e.g. bag-of-words counts) is fitted and encoded without a dense copy:

    >>> from scipy.sparse import csr_matrix
    >>> ae.fit(csr_matrix(X)).transform(csr_matrix(X[:2])).shape
    (2, 8)
    """

    _parameter_constraints: dict = {
        **TorchEstimator._parameter_constraints,
        "warm_start": ["boolean"],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "hidden_layer_sizes": ["array-like", StrOptions({"auto"})],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "code_activation": [StrOptions(set(ACTIVATIONS))],
        "output_activation": [StrOptions(set(ACTIVATIONS))],
        "tied_weights": ["boolean"],
        "loss": [StrOptions(set(LOSSES))],
        "noise": [StrOptions(set(NOISES)), None],
        "noise_level": [Interval(Real, 0, None, closed="left")],
        "code_noise": [StrOptions(set(NOISES)), None],
        "code_noise_level": [Interval(Real, 0, None, closed="left")],
        "contractive": [Interval(Real, 0, None, closed="left")],
        "sparsity_weight": [Interval(Real, 0, None, closed="left")],
        "sparsity_target": [Interval(Real, 0, 1, closed="neither")],
        "slowness": [Interval(Real, 0, None, closed="left")],
        "l1": [Interval(Real, 0, None, closed="left")],
        "l2": [Interval(Real, 0, None, closed="left")],
        "centered": ["boolean"],
        "offset_learning_rate": [Interval(Real, 0, 1, closed="both")],
        "optimizer": [StrOptions(set(OPTIMIZERS))],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "max_grad_norm": [Interval(Real, 0, None, closed="neither"), None],
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
    }

    _tour = {"params": {}, "data": "unit"}

    def __init__(
        self,
        n_components=10,
        *,
        hidden_layer_sizes="auto",
        activation="relu",
        code_activation="identity",
        output_activation="identity",
        tied_weights=False,
        loss="squared",
        noise=None,
        noise_level=0.2,
        code_noise=None,
        code_noise_level=0.2,
        contractive=0.0,
        sparsity_weight=0.0,
        sparsity_target=0.01,
        slowness=0.0,
        l1=0.0,
        l2=0.0,
        centered=False,
        offset_learning_rate=0.01,
        optimizer="adam",
        momentum=0.9,
        max_grad_norm=None,
        batch_size=64,
        max_epochs=100,
        learning_rate=1e-3,
        tol=1e-4,
        n_iter_no_change=10,
        warm_start=False,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.code_activation = code_activation
        self.output_activation = output_activation
        self.tied_weights = tied_weights
        self.loss = loss
        self.noise = noise
        self.noise_level = noise_level
        self.code_noise = code_noise
        self.code_noise_level = code_noise_level
        self.contractive = contractive
        self.sparsity_weight = sparsity_weight
        self.sparsity_target = sparsity_target
        self.slowness = slowness
        self.l1 = l1
        self.l2 = l2
        self.centered = centered
        self.offset_learning_rate = offset_learning_rate
        self.optimizer = optimizer
        self.momentum = momentum
        self.max_grad_norm = max_grad_norm
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
    def _resolve_hidden_layer_sizes(self, n_features: int) -> tuple[int, ...]:
        """The encoder widths, ``"auto"`` resolved from the number of features."""
        auto = auto_hidden_layer_sizes(n_features)
        return tuple(int(s) for s in self._resolved("hidden_layer_sizes", auto))

    def _check_params_vs_input(self, X: np.ndarray) -> None:
        sizes = np.asarray(self._resolved("hidden_layer_sizes", ()))  # "auto" is valid
        if sizes.ndim != 1 or (sizes.size and (not np.issubdtype(sizes.dtype, np.integer)
                                               or sizes.min() < 1)):
            raise ValueError(
                "hidden_layer_sizes must be a sequence of positive ints; got "
                f"{self.hidden_layer_sizes!r}."
            )
        if self.loss == "cross_entropy" or self.noise == "binary":
            lo, hi = float(X.min()), float(X.max())
            what = "loss='cross_entropy'" if self.loss == "cross_entropy" else "noise='binary'"
            if lo < 0 or hi > 1:
                raise ValueError(
                    f"{what} needs X in [0, 1]; got values in [{lo:.4g}, {hi:.4g}]. "
                    "Scale X (e.g. MinMaxScaler) or use loss='squared'."
                )
        if self.loss == "cross_entropy" and self.output_activation != "sigmoid":
            raise ValueError(
                "loss='cross_entropy' needs reconstructions in (0, 1): use "
                f"output_activation='sigmoid' (got {self.output_activation!r})."
            )
        if self.slowness > 0 and X.shape[0] < 2:
            raise ValueError(
                f"slowness > 0 needs consecutive rows; n_samples={X.shape[0]} should be >= 2."
            )

    # ------------------------------------------------------------------ model
    def _make_module(self, n_features: int) -> AutoEncoderModule:
        return AutoEncoderModule(
            n_features,
            self._hidden_layer_sizes,
            self.n_components,
            activation=self.activation,
            code_activation=self.code_activation,
            output_activation=self.output_activation,
            tied_weights=self.tied_weights,
            centered=self.centered,
        )

    # ------------------------------------------------------------------ fit hooks
    def _validate_fit_input(self, X, y, *, reset: bool):
        if streams(X):  # a memory map or a lazy array: read block by block
            return super()._validate_fit_input(X, y, reset=reset)
        X = self._validate_fit_data(X, reset=reset, accept_sparse=_SPARSE)
        # CSC is converted once: minibatches slice rows
        return (X.tocsr() if sp.issparse(X) else X), y

    def _initialize(self, X, y) -> None:
        self._check_params_vs_input(X)
        self._hidden_layer_sizes = self._resolve_hidden_layer_sizes(X.shape[1])
        self.module_ = self._build_module_seeded(lambda: self._make_module(X.shape[1]))
        if self.centered:
            self._initialize_offsets(X)
        self._optimizer = self._make_optimizer()
        self._resolve_autocast(X.shape[0])
        # training draws from a generator seeded after the build (the seeds of earlier
        # releases: same random_state, same model)
        self._generator = self._next_generator()

    def _resume_fit(self, X, y) -> None:
        self._check_params_vs_input(X)
        if getattr(self, "_optimizer", None) is None:  # e.g. after unpickling
            self._optimizer = self._make_optimizer()
        if not hasattr(self, "_autocast_dtype"):  # fitted before mixed precision existed
            self._resolve_autocast(0)

    def _resolve_autocast(self, n_samples: int) -> None:
        """``_autocast_dtype``: the dtype of the training steps' matrix products under
        ``set_config(mixed_precision=...)`` (:mod:`skdeepclust._precision`), or None; and
        ``_float32_steps_left``: the first steps of ``max_epochs`` epochs over
        ``n_samples`` rows that run in float32 before the bfloat16 products start
        (:func:`~skdeepclust._precision.float32_start_steps`)."""
        params = [p for group in self._optimizer.param_groups for p in group["params"]]
        self._autocast_dtype = training_autocast_dtype(
            self._device, self._torch_dtype, step_work(self.batch_size, params),
            plain=self.contractive == 0,
        )
        self._float32_steps_left = 0
        if self._autocast_dtype is not None:
            batch = max(1, min(self.batch_size, n_samples))
            self._float32_steps_left = float32_start_steps(
                self.max_epochs * math.ceil(n_samples / batch))

    def _train(self, X, y, *, partial: bool) -> TrainingResult:
        phase = "autoencoder (partial_fit)" if partial else "autoencoder"
        return self._run_epochs(X, 1 if partial else self.max_epochs, phase)

    def _finish_fit(self, X, y, result, *, partial: bool) -> None:
        if not partial and self.tol is not None:
            warn_unconverged(
                self, result, phase="training", max_epochs=self.max_epochs,
                rule=f"the loss improved by less than tol={self.tol} for "
                     f"n_iter_no_change={self.n_iter_no_change} epochs",
                advice="increase max_epochs, or set tol=None to train a fixed number of "
                       "epochs",
            )

    def _initialize_offsets(self, X, n_rows: int = 1024) -> None:
        """PyDeep's centered start: the input offset is the data mean, each deeper offset
        the mean of its layer's input on ``n_rows`` training rows (all when fewer); a
        sigmoid output's bias is the logit of the data mean (clipped to [0.001, 0.999]),
        so that the first reconstructions are the mean, and the other biases keep their
        initial values."""
        module = self.module_
        layers = module.centered_layers()
        n = X.shape[0]
        # column sums in row order, then / n: the same rounding for sparse and dense X
        mean = np.asarray(X.sum(axis=0), dtype=np.float64).ravel() / n
        rows = np.arange(n) if n <= n_rows else np.sort(
            self._rng.choice(n, n_rows, replace=False))
        sample = X[rows]
        sample = sample.toarray() if sp.issparse(sample) else np.asarray(sample)  # dask too
        sample = torch.as_tensor(sample).to(self._device, self._torch_dtype)
        with torch.no_grad():
            layers[0].offset.copy_(torch.as_tensor(mean).to(layers[0].offset))
            with module.tracking_offsets(1.0, shift_bias=False):
                layers[0].offset_rate = 0.0
                module(sample)
            if self.output_activation == "sigmoid":
                p = np.clip(mean, 0.001, 0.999)
                out = self._last_decoder_layer().bias
                out.copy_(torch.as_tensor(np.log(p / (1 - p))).to(out))

    def _batch_source(self, X):
        """The training rows on the device: the dense tensor, CSR rows densified per
        ``index_select`` for sparse ``X``, or blocks read as needed from a memory map or
        a lazy array (:meth:`_training_rows`)."""
        if sp.issparse(X):
            return SparseRows(X, self._device, self._torch_dtype)
        return self._training_rows(X)

    def _make_optimizer(self) -> torch.optim.Optimizer:
        return make_optimizer(
            self.optimizer,
            self.module_.parameters(),
            learning_rate=self.learning_rate,
            momentum=self.momentum,
        )

    def _objective(self, x: Tensor, generator: torch.Generator, x_next: Tensor | None = None):
        """Training objective on a clean batch ``x`` (corruption happens here)."""
        module = self.module_
        x_in = NOISES[self.noise](x, self.noise_level, generator) if self.noise else x
        rate = self.offset_learning_rate if self.centered else 0.0
        autocast = getattr(self, "_autocast_dtype", None)
        if autocast is not None and self.__dict__.get("_float32_steps_left", 0) > 0:
            autocast = None  # "auto": the first steps of a fit in float32
            self._float32_steps_left -= 1
        with (module.tracking_offsets(rate),  # the offsets move with this batch's means
              nullcontext() if autocast is None
              else torch.autocast(x.device.type, dtype=autocast)):
            h = module.encode(x_in)
            h_dec = (NOISES[self.code_noise](h, self.code_noise_level, generator)
                     if self.code_noise else h)
            x_hat = module.decode(h_dec)
        if autocast is not None:  # the loss and penalties in the fit's precision
            h, x_hat = h.to(x.dtype), x_hat.to(x.dtype)
        loss = MEAN_LOSSES[self.loss](x_hat, x)
        if (self.contractive > 0 or self.sparsity_weight > 0 or self.l1 > 0 or self.l2 > 0
                or (self.slowness > 0 and x_next is not None)):
            loss = loss + penalties(
                self.module_, x_in, h, x_next,
                contractive=self.contractive, sparsity_weight=self.sparsity_weight,
                sparsity_target=self.sparsity_target,
                sigmoid_code=self.code_activation == "sigmoid", slowness=self.slowness,
                l1=self.l1, l2=self.l2,
            )
        return loss

    def _run_epochs(self, X, max_epochs: int, phase: str) -> TrainingResult:
        generator = self._generator
        X_t = self._batch_source(X)
        self.module_.train()
        slow = self.slowness > 0

        def step(idx: Tensor) -> Tensor:
            # index_select: the same rows as X_t[idx], without advanced indexing's overhead
            x_next = X_t.index_select(0, idx + 1) if slow else None
            return self._objective(X_t.index_select(0, idx), generator, x_next)

        weights = self._sample_weight
        self._history = train_loop(
            step,
            n_samples=X_t.shape[0] - 1 if slow else X_t.shape[0],
            shuffle=self._shuffle_for(X_t),
            sample_weight=None if weights is None else weights[:-1] if slow else weights,
            batch_size=self.batch_size,
            max_epochs=max_epochs,
            generator=generator,
            optimizer=self._optimizer,
            phase=phase,
            verbose=self.verbose,
            tol=self.tol,
            n_iter_no_change=self.n_iter_no_change,
            max_grad_norm=self.max_grad_norm,
            result=self._history,
        )
        return self._history

    # ------------------------------------------------------------------ API
    _supports_sample_weight = True

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Train the autoencoder on ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            A CSR or CSC matrix stays sparse (minibatches are densified on the device);
            a memory map or a dask array is read block by block.
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights: minibatches draw rows with probabilities
            proportional to them (an integer weight acts as copies of the row, zero
            leaves it out).

        Returns
        -------
        self : AutoEncoder
        """
        return self._fit_template(X, y, partial=False, sample_weight=sample_weight)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, sample_weight=None):
        """Run one epoch on ``X``, initialising the model on the first call.

        Optimizer state (e.g. Adam moments) carries over between calls; it is not pickled.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights (see :meth:`fit`).

        Returns
        -------
        self : AutoEncoder
        """
        return self._partial_fit(X, y, sample_weight)

    def transform(self, X):
        """Encode ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        Z : ndarray of shape (n_samples, n_components)
        """
        X = self._validate_predict_data(X, accept_sparse=_SPARSE)
        return self._predict(self.module_.encode, X)

    def inverse_transform(self, X):
        """Decode codes back to the input space.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)

        Returns
        -------
        X_rec : ndarray of shape (n_samples, n_features)
        """
        Z = self._validate_codes(X, self.n_components,
                                 f"codes with n_components={self.n_components}")
        return self._inference(self.module_.decode, Z)

    def reconstruct(self, X):
        """``inverse_transform(transform(X))`` in one pass (``X`` dense or sparse)."""
        X = self._validate_predict_data(X, accept_sparse=_SPARSE)
        return self._predict(self.module_, X)

    def reconstruction_error(self, X):
        """Per-sample reconstruction loss (mean over features) under ``loss``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        errors : ndarray of shape (n_samples,)
        """
        X = self._validate_predict_data(X, accept_sparse=_SPARSE)
        fn = LOSSES[self.loss]
        return self._predict(lambda x: fn(self.module_(x), x).mean(dim=1), X)

    def _predict(self, fn, X):
        """:meth:`_inference` of ``fn``; a sparse ``X`` is densified one chunk of rows at a
        time."""
        if not sp.issparse(X):
            return self._inference(fn, X)
        X = X.tocsr()
        step = self._inference_batch_size()
        parts = [self._inference(fn, X[i:i + step].toarray())
                 for i in range(0, X.shape[0], step)]
        return np.concatenate(parts)

    def score(self, X, y=None):
        """Minus the mean reconstruction error (higher is better).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        score : float
        """
        return -float(np.mean(self.reconstruction_error(X)))

    # ------------------------------------------------------------- attributes
    @property
    def _n_features_out(self) -> int:
        # the fitted code size; before fit ``module_`` is missing, the AttributeError makes
        # get_feature_names_out's check_is_fitted raise NotFittedError
        return self.module_.n_components

    @property
    def components_(self) -> np.ndarray:
        return self.module_.encoder.linears[0].weight.detach().cpu().numpy().copy()

    @property
    def intercept_hidden_(self) -> np.ndarray:
        return _uncentered_bias(self.module_.encoder.linears[0])

    @property
    def intercept_visible_(self) -> np.ndarray:
        return _uncentered_bias(self._last_decoder_layer())

    @property
    def visible_offset_(self) -> np.ndarray:
        return _offset(self.module_.encoder.linears[0])

    @property
    def hidden_offset_(self) -> np.ndarray:
        dec = self.module_.decoder
        first = dec.layers[0] if hasattr(dec, "layers") else dec.linears[0]
        return _offset(first)

    def _last_decoder_layer(self):
        dec = self.module_.decoder
        return dec.layers[-1] if hasattr(dec, "layers") else dec.linears[-1]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.input_tags.sparse = True
        return tags


def _offset(layer) -> np.ndarray:
    """A layer's input offset (zeros for an uncentered layer), as numpy."""
    offset = getattr(layer, "offset", None)
    if offset is None:
        return np.zeros(layer.weight.shape[1], dtype=layer.bias.detach().cpu().numpy().dtype)
    return offset.detach().cpu().numpy().copy()


def _uncentered_bias(layer) -> np.ndarray:
    """The bias of the equivalent layer on uncentered input: ``b - W o``."""
    with torch.no_grad():
        bias = layer.bias.detach()
        offset = getattr(layer, "offset", None)
        if offset is not None:
            bias = bias - F.linear(offset, layer.weight.detach())
        return bias.cpu().numpy().copy()
