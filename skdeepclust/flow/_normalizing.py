"""NormalizingFlow: density estimation by maximum likelihood, with its "auto" recipe."""

from __future__ import annotations

import copy
import math
from numbers import Real

import numpy as np
import torch
from sklearn.base import DensityMixin
from torch import Tensor

from .._data import StreamedRows
from .._torch import make_generator, seed_from
from .._training import nearest_power_of_two, warn_unconverged
from ..base import PartialFitMixin
from ..nn.flows import GaussianMixtureBase
from ..utils._sklearn_compat import Interval, StrOptions
from ._base import _AUTO, _BaseFlow, _fill_flow_doc

__all__ = ["NormalizingFlow"]

# NormalizingFlow's "auto" recipe (the table in its docstring; resolved by _resolve_auto).
_NF_SPLINE_MAX_D = 16
_NF_LEARNING_RATE = {"spline": 3e-3, "affine": 1e-3, "additive": 1e-3}
_NF_ACTIVATION = {"spline": "relu", "affine": "tanh", "additive": "tanh"}
_NF_STAGES = 4
_NF_STEPS = 2_500
_NF_MIN_EPOCHS = 50
_NF_MAX_EPOCHS = 500
_NF_MIN_VALIDATION = 20
_NF_VALIDATION_ROWS = 30
_NF_LR_PATIENCE_DIVISOR = 2  # "plateau": halve the rate after n_iter_no_change // 2 flat epochs
_NF_NOISE_FACTOR = 0.5  # "auto" noise: this share of the cross-validated KDE bandwidth
_NF_NOISE_MAX_D = _NF_SPLINE_MAX_D  # ... in up to this many features (none above)
_NF_NOISE_ROWS = 2_000  # rows (a random subset beyond) of the bandwidth's cross-validation
_NF_ALL_ROWS = 2_000  # from this many rows in d <= _NF_NOISE_MAX_D: no validation split
# "auto" base: a Gaussian mixture in up to _NF_MIXTURE_MAX_D features below _NF_ALL_ROWS
# rows, and in up to _NF_MIXTURE_MAX_D_MANY_ROWS features from there on
_NF_MIXTURE_MAX_D = _NF_SPLINE_MAX_D
_NF_MIXTURE_MAX_D_MANY_ROWS = 2
_NF_BASE_COMPONENTS = (1, 2, 4, 8, 16, 32, 64)  # candidates, at most n_fit / 10
_NF_BASE_COVARIANCES = ("full", "tied")  # candidate structures (trained as full ones)
_NF_BASE_REG_COVAR = (1e-6, 1e-3)  # the structure search's values
# then reg_covar alone, at the chosen structure and on the same folds, on a finer grid
_NF_BASE_REG_COVAR_FINE = (3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 1e-6)
_NF_BASE_ROWS = 10_000  # rows (a random subset beyond) the base mixture is fitted to
_NF_BASE_FOLDS = 3  # cross-validation folds that select its structure
# ... and its reg_covar (same rows: fits of 4/5 of them, closer to the final fit on all)
_NF_BASE_REG_FOLDS = 5
_NF_BASE_MEMBERS = 10  # EM fits of the chosen mixture (seeds) averaged into the base
# early stopping keeps a trained epoch over the untrained model only when its validation
# gain exceeds this many standard errors of the per-row gain (else: the noise of the split)
_NF_START_MARGIN_SE = 2.0


def _nf_hidden(n_features: int) -> tuple[int, ...]:
    """Hidden sizes of each coupling's MLP for ``n_features``."""
    if n_features <= _NF_SPLINE_MAX_D:
        return (64, 64)
    return (min(max(64, n_features), 512),)


def _kde_bandwidth(X: np.ndarray, rng: np.random.RandomState) -> float:
    """Bandwidth of a Gaussian KDE of the standardized rows, by 3-fold cross-validation.

    12 values log-spaced from 0.03 to 3 times Scott's factor ``n ** (-1 / (d + 4))``, on
    at most ``_NF_NOISE_ROWS`` rows (a random subset drawn from ``rng`` beyond that).
    """
    from sklearn.model_selection import GridSearchCV
    from sklearn.neighbors import KernelDensity

    Z = (X - X.mean(0)) / np.maximum(X.std(0), 1e-12)
    if len(Z) > _NF_NOISE_ROWS:
        Z = Z[rng.choice(len(Z), _NF_NOISE_ROWS, replace=False)]
    if len(Z) < 3:  # too few rows to cross-validate: no smoothing
        return 0.0
    scott = len(Z) ** (-1.0 / (Z.shape[1] + 4))
    grid = scott * np.logspace(-1.5, 0.5, 12)
    search = GridSearchCV(KernelDensity(), {"bandwidth": grid}, cv=3).fit(Z)
    return float(search.best_params_["bandwidth"])


def _full_precisions_cholesky(mixture) -> np.ndarray:
    """A fitted ``GaussianMixture``'s ``precisions_cholesky_`` as ``(K, d, d)`` matrices."""
    prec, k, d = mixture.precisions_cholesky_, mixture.n_components, mixture.means_.shape[1]
    if mixture.covariance_type == "full":
        return prec
    if mixture.covariance_type == "tied":
        return np.broadcast_to(prec, (k, d, d)).copy()
    if mixture.covariance_type == "diag":
        return np.stack([np.diag(p) for p in prec])
    return prec[:, None, None] * np.eye(d)  # spherical


def _select_mixture(Z: np.ndarray, rng: np.random.RandomState):
    """The mixture base's ``GaussianMixture`` fits on the codes ``Z``.

    The structure (covariance type, number of components, ``reg_covar``) of the
    candidate grid ``_NF_BASE_*`` with the best mean held-out log-likelihood over
    ``_NF_BASE_FOLDS``-fold cross-validation, at most ``n_fit / 10`` components; then
    ``reg_covar`` alone, at that structure, over the finer grid
    ``_NF_BASE_REG_COVAR_FINE`` (half decades from 3e-3 to 1e-5, and 1e-6: the search's two
    values are too coarse, the 2-D spiral's best lies between its 1e-6 and 1e-3) by
    ``_NF_BASE_REG_FOLDS``-fold cross-validation of the same permutation (fits of more
    rows: the best value falls as the fit grows, and the base is fitted to all); then
    ``_NF_BASE_MEMBERS`` fits of it on all of ``Z`` from other initialisations (their
    average is the base). ``None`` when fewer rows than two components need, or when no
    candidate fits (the standard normal base stays: the codes are standardized).
    """
    from sklearn.mixture import GaussianMixture

    n_fit = len(Z) * (_NF_BASE_FOLDS - 1) // _NF_BASE_FOLDS
    ks = [k for k in _NF_BASE_COMPONENTS if k <= n_fit // 10]
    if len(ks) < 2:
        return None
    seed = seed_from(rng)
    perm = rng.permutation(len(Z))
    folds = np.array_split(perm, _NF_BASE_FOLDS)

    def cv_score(params: dict, folds: list) -> float:
        scores = []
        for i, held in enumerate(folds):
            fit = np.concatenate([f for j, f in enumerate(folds) if j != i])
            try:
                m = GaussianMixture(**params, random_state=seed).fit(Z[fit])
            except ValueError:  # a collapsed component: not a candidate
                return -np.inf
            scores.append(m.score(Z[held]))
        return float(np.mean(scores))

    best, best_score = None, -np.inf
    for cov in _NF_BASE_COVARIANCES:
        for k in ks:
            for reg in _NF_BASE_REG_COVAR:
                params = {"n_components": k, "covariance_type": cov, "reg_covar": reg}
                score = cv_score(params, folds)
                if np.isfinite(score) and score > best_score:
                    best, best_score = params, score
    if best is None:
        return None
    reg_folds, best_score = np.array_split(perm, _NF_BASE_REG_FOLDS), -np.inf
    for reg in _NF_BASE_REG_COVAR_FINE:
        params = {**best, "reg_covar": reg}
        score = cv_score(params, reg_folds)
        if np.isfinite(score) and score > best_score:
            best, best_score = params, score
    members = []
    for i in range(_NF_BASE_MEMBERS):
        try:
            members.append(GaussianMixture(**best, random_state=seed + i).fit(Z))
        except ValueError:
            continue
    return members or None


def _significant_gain(gain: Tensor, weights: Tensor | None, z: float) -> bool:
    """Whether the mean of the per-row ``gain`` (weighted by ``weights``) exceeds ``z``
    standard errors: ``mean > z * sd / sqrt(n)``, with Kish's effective ``n`` for
    weights."""
    gain = gain.double()
    if weights is None:
        weights = torch.ones_like(gain)
    w = weights.double() / weights.double().sum()
    mean = float((w * gain).sum())
    var = float((w * (gain - mean) ** 2).sum())
    n_eff = 1.0 / float((w**2).sum())
    return mean > z * math.sqrt(var / max(n_eff, 1.0))


class NormalizingFlow(PartialFitMixin, DensityMixin, _BaseFlow):
    r"""Normalizing flow density estimator trained by maximum likelihood.

    An invertible network :math:`T` (ActNorm, Householder reflections and spline, affine
    or additive coupling layers, as in :class:`DisentanglingFlow`) maps data to codes
    :math:`z = T(x)` that are trained to follow a base density :math:`q`; the density
    is exact, :math:`\log p(x) = \log q(T(x)) + \log|\det \partial T / \partial x|`,
    and so is the inverse. The base is a standard normal, or (``base="mixture"``, the
    default in low dimension) a Gaussian mixture fitted to the codes of
    the untrained flow and then trained with it: the untrained flow already scores
    what that mixture scores, and the flow only has to correct it. Like
    :class:`~sklearn.neighbors.KernelDensity` and
    :class:`~sklearn.mixture.GaussianMixture` it offers ``score_samples``, ``score`` and
    ``sample``; as a transformer it maps data to codes and back.

    **Defaults.** Every "auto" parameter is resolved in :meth:`fit` from the number of
    rows ``n`` and of features ``d`` into a private attribute (``_n_stages``,
    ``_coupling``, ``_hidden_layer_sizes``, ``_batch_size``, ``_max_epochs``,
    ``_learning_rate``, ``_early_stopping``, ``_noise``, ``_base``); the public
    parameters are never changed:

    ============================  ====================================================
    parameter                     "auto" resolves to
    ============================  ====================================================
    ``base``                      ``"mixture"`` when ``d <= {mixture_max_d}`` below
                                  {all_rows} rows and when ``d <= {mixture_max_d_many}``
                                  from there on, else ``"normal"``
    ``coupling``                  ``"spline"`` when ``d <= {spline_max_d}``, else ``"affine"``
    ``n_stages``                  {stages_doc}
    ``hidden_layer_sizes``        {hidden_doc}
    ``activation``                ``"relu"`` for splines, ``"tanh"`` for affine and
                                  additive couplings
    ``batch_size``                the power of two nearest to ``n / 16``, in [64, 512]
    ``learning_rate``             {lr_doc}
    ``max_epochs``                {epochs_doc}
    ``early_stopping``            on when the validation split has at least
                                  {min_val} rows, except from {all_rows} rows
                                  with a standard normal base when ``d <=
                                  {noise_max_d}`` (the noise regularises; all
                                  rows train the whole schedule, a fixed budget:
                                  no convergence warning at its end)
    ``noise``                     {noise_doc}
    ============================  ====================================================

    The learning rate follows a cosine decay from ``learning_rate`` to 0 over
    ``max_epochs`` (``lr_schedule``); with early stopping the best epoch's parameters
    are kept. To choose otherwise, pass explicit values (e.g. a
    smaller network and ``early_stopping=True`` on a few hundred rows, or
    ``coupling="affine"`` to trade flexibility for speed in high dimension).

    After every ``fit`` and ``partial_fit`` the model's mean log-likelihood of (up to
    2048 of) its training rows is checked: a ``RuntimeWarning`` says that the model is
    broken when it is not finite or lies more than 100 nats per feature below an
    independent Gaussian fitted to the same rows (typically near-constant features).

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
        keeps it. Each call (a warm-start ``fit``, every ``partial_fit``) starts again
        at ``learning_rate``, as set when it is called.
    early_stopping : bool or "auto", default="auto"
        Hold out ``validation_fraction`` of the rows, stop when their mean
        log-likelihood has not improved by ``tol`` for ``n_iter_no_change`` epochs (with
        the cosine schedule, counted in the second half of ``max_epochs`` only), and
        keep the parameters of the best epoch. The untrained model is a candidate too,
        and a trained epoch replaces it only when its mean gain over it on the
        validation rows exceeds {start_margin} standard errors of the per-row gain: a
        smaller gain is within the noise of the split (with a mixture base the
        untrained model is already that mixture, and on a few hundred validation rows
        the best of many epochs beats it by chance). Without early stopping, the same
        stopping rule applies to the training loss and the last epoch's parameters are
        kept.
    base : {"auto", "normal", "mixture"}, default="auto"
        Base distribution of the codes. ``"normal"``: a standard normal.
        ``"mixture"``: a Gaussian mixture, initialised on the codes of the training rows
        (validation rows excluded; at most {base_rows} rows, a random subset beyond)
        under the untrained flow. Its structure (full or tied covariances, 1 to 64
        components but at most a tenth of the rows, ``reg_covar`` 1e-6 or 1e-3) is the
        best of {base_folds}-fold cross-validation, then {reg_folds}-fold cross-validation
        of the same rows chooses its ``reg_covar`` among 1e-6, 1e-5, 3e-5, 1e-4, 3e-4,
        1e-3 and 3e-3; it is the average of
        {base_members} EM fits of that structure from different initialisations (so it
        has {base_members} times the chosen number of components, with full
        covariances); it is then trained jointly with the flow. With early stopping
        the untrained flow is a candidate too (see ``early_stopping``); when it is
        kept, its mixture is refitted to the codes of all rows, validation rows
        included. A mixture keeps apart the modes that one
        Gaussian pushed through a flow leaks mass between; it costs a few seconds of
        EM at the start, and with fewer than 30 training rows (or when no mixture fits)
        the base stays a standard normal. "auto" is ``"mixture"`` when ``d <=
        {mixture_max_d}`` with fewer than {all_rows} rows (where the mixture's head
        start matters most) and when ``d <= {mixture_max_d_many}`` from there on (where it
        is close to the truth), else ``"normal"``: with many rows in several dimensions
        a flow from a standard normal base, trained on every row, goes well beyond any
        mixture, and starting from one then only costs the validation rows and the
        mixture's ``d**2`` per component. It is fixed at the first fit: a warm start or
        ``partial_fit`` trains the fitted base on.
    noise : float or "auto", default="auto"
        Standard deviation of the Gaussian noise added to every training minibatch, as
        a share of each feature's standard deviation (validation rows are never
        perturbed). Like a kernel density's bandwidth it smooths the fitted density,
        trading a little bias for less overfitting on few rows or on thin structures
        (noisy curves in 2-D). ``0`` turns it off. "auto" is {noise_factor} times the
        bandwidth of a Gaussian :class:`~sklearn.neighbors.KernelDensity` of the
        standardized training rows chosen by 3-fold cross-validation (on at most
        {noise_rows} rows, about a second) when ``d <= {noise_max_d}``, and 0 above
        (in high dimension that bandwidth is far wider than what a flow can resolve).
        Resolved once per model: a warm start or ``partial_fit`` keeps it.
    validation_fraction : float or "auto", default="auto"
        Share of the rows held out for early stopping; "auto" holds out 10%, or 30
        rows when that is more, at most 30% of the rows.
    tol : float or None, default=1e-4
        Improvement threshold (in nats per sample) of the stopping rule; ``None`` always
        runs ``max_epochs``.
    n_iter_no_change : int, default=30
        Epochs without an improvement of ``tol`` before training stops.
    {warm_start_device}
    random_state : int, RandomState instance or None, default=None
        Controls initialisation, the validation split, minibatch order and
        :meth:`sample`. The same seed on the CPU gives the same model.
    verbose : int, default=0
        1 shows a progress bar.

    Attributes
    ----------
    module_ : skdeepclust.nn.flows.FlowSequential
        The trained flow; its ``base`` is the trained
        :class:`~skdeepclust.nn.flows.GaussianMixtureBase`, or ``None`` for a standard
        normal.
    loss_curve_ : list of float
        Mean negative log-likelihood of the training rows per epoch.
    validation_scores_ : list of float or None
        Mean log-likelihood of the validation rows per epoch (early stopping only).
    best_validation_score_ : float or None
        The validation score of the kept parameters: the best epoch's, or the
        untrained model's when no epoch beat it by more than the noise of the split
        (a kept mixture base is then refitted to all rows, so the fitted model's score
        on the validation rows differs from it).
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
    >>> flow = NormalizingFlow(n_stages=2, max_epochs=3, tol=None, device="cpu",
    ...                        random_state=0)
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
        "noise": [Interval(Real, 0, None, closed="left"), _AUTO],
        "base": [StrOptions({"auto", "normal", "mixture"})],
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
        noise="auto",
        base="auto",
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
        self.noise = noise
        self.base = base
        self.validation_fraction = validation_fraction
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.warm_start = warm_start
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    _supports_sample_weight = True

    def _validation_rows(self, n_samples: int) -> int:
        auto = min(max(0.1, _NF_VALIDATION_ROWS / max(n_samples, 1)), 0.3)
        return math.ceil(self._resolved("validation_fraction", auto) * n_samples)

    def _resolve_auto(self, n_samples: int, n_features: int) -> None:
        """Resolve the "auto" parameters (the table of the class docstring)."""
        d = n_features
        n_val = self._validation_rows(n_samples)
        # with many rows in low dimension the minibatch noise regularises: every row
        # trains over the whole cosine schedule (a 10% split's score is noisier than the
        # differences between late epochs)
        # (with a mixture base the untrained flow is already a good model: held-out
        # early stopping keeps it unless training improves on it)
        max_d = _NF_MIXTURE_MAX_D if n_samples < _NF_ALL_ROWS else _NF_MIXTURE_MAX_D_MANY_ROWS
        self._base = self._resolved("base", "mixture" if d <= max_d else "normal")
        smoothed = (self._base == "normal" and d <= _NF_NOISE_MAX_D
                    and n_samples >= _NF_ALL_ROWS)
        # "auto" chose that budget: reaching its end is the plan, not a missed rule
        self._fixed_budget = smoothed and isinstance(self.early_stopping, str)
        self._early_stopping = bool(
            self._resolved("early_stopping", n_val >= _NF_MIN_VALIDATION and not smoothed)
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
        self._noise = None  # resolved on the training rows in _train

    def _resolve_noise(self, X_t) -> float:
        """The minibatch noise in feature standard deviations (``noise``'s "auto" rule)."""
        if self.noise != "auto":
            return float(self.noise)
        if X_t.shape[1] > _NF_NOISE_MAX_D:
            return 0.0
        rows = X_t if isinstance(X_t, Tensor) else X_t[:_NF_NOISE_ROWS]  # streamed: a block
        X = rows.detach().cpu().numpy().astype(np.float64)
        return _NF_NOISE_FACTOR * _kde_bandwidth(X, self._rng)

    def _codes(self, rows) -> np.ndarray:
        """Codes ``T(x)`` of ``rows`` under the current flow (float64 numpy)."""
        with torch.no_grad():
            return self.module_(rows)[0].detach().cpu().numpy().astype(np.float64)

    def _base_rows(self, X_t):
        """The rows (at most ``_NF_BASE_ROWS``, a random subset beyond) whose codes the
        mixture base is fitted to."""
        n = X_t.shape[0]
        if isinstance(X_t, Tensor):
            if n > _NF_BASE_ROWS:
                idx = torch.randperm(n, generator=self._generator, device=self._generator.device)
                X_t = X_t[idx[:_NF_BASE_ROWS].to(X_t.device)]
            return X_t
        return X_t[0:min(n, _NF_BASE_ROWS)]  # streamed: the first rows

    def _set_base(self, members) -> None:
        """Load the average of the fitted ``GaussianMixture`` ``members`` into the base."""
        base = self.module_.base
        base.set_parameters(
            torch.as_tensor(np.concatenate([m.weights_ for m in members]) / len(members)),
            torch.as_tensor(np.concatenate([m.means_ for m in members])),
            torch.as_tensor(np.concatenate([_full_precisions_cholesky(m) for m in members])),
        )

    def _init_base(self, X_t) -> None:
        """Fit the mixture base (``base="mixture"``) to the codes of the training rows
        ``X_t`` (never the validation rows) under the untrained flow, set it as
        ``module_.base`` and rebuild the optimizer to train it with the flow."""
        self.module_.base = self._base_mixture_params = None
        if self._base != "mixture":
            return
        members = _select_mixture(self._codes(self._base_rows(X_t)), self._rng)
        if members is None:  # too few rows, or no candidate fits: the standard normal
            return
        base = GaussianMixtureBase(sum(m.n_components for m in members), X_t.shape[1])
        self.module_.base = base.to(device=self._device, dtype=self._torch_dtype)
        self._set_base(members)
        self._base_mixture_params = [m.get_params() for m in members]
        self._optimizer = self._make_optimizer()

    def _refit_base(self, X_all) -> None:
        """Refit the mixture base's members (same structures and seeds) to the codes of
        all rows, validation rows included, under the kept untrained flow: the split
        chose the untrained model, which then learns from every row (as a
        ``GaussianMixture`` selected on a split is refitted to all rows). Kept as it is
        when a member no longer fits."""
        from sklearn.mixture import GaussianMixture

        Z = self._codes(self._base_rows(X_all))
        try:
            members = [GaussianMixture(**p).fit(Z) for p in self._base_mixture_params]
        except ValueError:  # a collapsed component
            return
        self._set_base(members)

    def _train(self, X, y, *, partial: bool):
        generator = self._generator
        X_all = self._training_rows(X)
        X_t, X_val = X_all, None
        weights = w_val = self._sample_weight
        early = self._early_stopping and not partial
        if early:
            n = X.shape[0]
            n_val = self._validation_rows(n)
            if n - n_val < 1 or n_val < 1:
                raise ValueError(
                    f"early_stopping needs a validation split: n_samples={n} is too "
                    f"small for validation_fraction={self.validation_fraction}."
                )
            if isinstance(X_all, StreamedRows):  # streamed: the last rows validate
                X_val = X_all[n - n_val:]
                X_t = StreamedRows(X, device=self._device, dtype=self._torch_dtype,
                                   n_rows=n - n_val)
                if weights is not None:
                    weights, w_val = weights[: n - n_val], weights[n - n_val:]
            else:
                perm = torch.randperm(n, generator=generator, device=generator.device)
                perm = perm.to(X_all.device)
                X_val, X_t = X_all[perm[:n_val]], X_all[perm[n_val:]]
                if weights is not None:
                    order = perm.cpu().numpy()
                    weights, w_val = weights[order[n_val:]], weights[order[:n_val]]
        resumed = self.__dict__.get("_resumed", False)
        self._data_init(X_t, generator)
        if not resumed:
            self._init_base(X_t)
        w_val = (None if w_val is None or not w_val.any()
                 else torch.as_tensor(w_val, device=self._device))
        module = self.module_
        optimizer = self._optimizer
        if getattr(self, "_noise", None) is None or self.noise != "auto":
            self._noise = self._resolve_noise(X_t)
        noise_scale = noise_generator = None
        if self._noise > 0 and X_t.shape[0] > 1:  # in feature sds; its own random stream
            rows = X_t if isinstance(X_t, Tensor) else X_t[:_NF_NOISE_ROWS]
            noise_scale = rows.std(0) * self._noise
            noise_generator = make_generator(seed_from(self._rng), self._device)

        def step(idx: Tensor) -> Tensor:
            x = X_t[idx]
            if noise_scale is not None:
                x = x + noise_scale * torch.randn(
                    x.shape, generator=noise_generator, device=x.device, dtype=x.dtype)
            return -module.log_prob(x).mean()

        self.validation_scores_ = [] if early else None
        self.best_validation_score_ = None
        tol = self.tol
        lr_patience = max(2, self.n_iter_no_change // _NF_LR_PATIENCE_DIVISOR)
        schedule, n_epochs = self.lr_schedule, max(self._max_epochs, 1)
        state = {"best": -math.inf, "best_params": None, "misses": 0, "lr_misses": 0}

        def validation_log_prob() -> Tensor:
            module.eval()
            with torch.no_grad():
                log_p = module.log_prob(X_val)
            module.train()
            return log_p

        def validation_score(log_p: Tensor) -> float:
            return float(log_p.mean() if w_val is None
                         else (log_p * w_val).sum() / w_val.sum())

        start = None  # the untrained model (with a mixture base: the mixture) ...
        if early:  # ... is a candidate
            log_p = validation_log_prob()
            score = validation_score(log_p)
            if math.isfinite(score):
                state["best"] = self.best_validation_score_ = score
                state["best_params"] = copy.deepcopy(module.state_dict())
                start = {"score": score, "log_p": log_p, "params": state["best_params"]}

        def on_epoch_end(epoch: int, loss: float) -> bool:
            # the monitored score: validation log-likelihood, or minus the training loss
            if early:
                log_p = validation_log_prob()
                score = validation_score(log_p)
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
                    state["best_log_p"] = log_p
            if schedule == "cosine":
                rate = 0.5 * self._learning_rate * (1 + math.cos(math.pi * (epoch + 1) / n_epochs))
                for group in optimizer.param_groups:
                    group["lr"] = rate
            elif schedule == "plateau" and state["lr_misses"] >= lr_patience:
                for group in optimizer.param_groups:
                    group["lr"] = group["lr"] * 0.5
                state["lr_misses"] = 0
            return tol is not None and state["misses"] >= self.n_iter_no_change

        history = self._train_flow(
            step,
            n_samples=X_t.shape[0],
            max_epochs=1 if partial else self._max_epochs,
            phase="normalizing flow",
            tol=None,  # on_epoch_end applies the stopping rule
            advice="coupling='additive', a smaller clamp",
            on_epoch_end=on_epoch_end,
            shuffle=self._shuffle_for(X_t),
            sample_weight=weights,
        )
        if start is not None and state["best_params"] is not start["params"]:
            # a trained epoch beat the start on the validation rows: by more than the
            # noise of the split (the per-row gain's standard error), or the start stays
            gain = state["best_log_p"] - start["log_p"]
            if not _significant_gain(gain, w_val, _NF_START_MARGIN_SE):
                state["best_params"] = start["params"]
                self.best_validation_score_ = start["score"]
        if state["best_params"] is not None:
            module.load_state_dict(state["best_params"])
        if (start is not None and state["best_params"] is start["params"] and not resumed
                and self._base_mixture_params):
            self._refit_base(X_all)
        if weights is not None and isinstance(X_t, Tensor):  # zero-weight rows take no part
            X_t = X_t[torch.as_tensor(np.asarray(weights) > 0, device=X_t.device)]
        self._check_density(X_t)
        return history

    def _finish_fit(self, X, y, history, *, partial: bool) -> None:
        tol = self.tol
        if tol is not None and not partial and not getattr(self, "_fixed_budget", False):
            early = self._early_stopping
            what = "validation log-likelihood" if early else "training loss"
            warn_unconverged(
                self, history, phase="normalizing flow", max_epochs=self._max_epochs,
                rule=f"the {what} improved by less than tol={tol} for "
                     f"n_iter_no_change={self.n_iter_no_change} epochs",
                advice="increase max_epochs, or set tol=None to run all epochs quietly",
            )

    score = _BaseFlow.score  # DensityMixin's placeholder comes first in the MRO


NormalizingFlow.__doc__ = (
    _fill_flow_doc(
        NormalizingFlow.__doc__,
        n_stages='"auto"',
        coupling='"auto"',
        hidden='"auto"',
        activation='"auto"',
        max_grad_norm=None,
        event_shape='"auto"',
    )
    .replace("{spline_max_d}", str(_NF_SPLINE_MAX_D))
    .replace("{mixture_max_d}", str(_NF_MIXTURE_MAX_D))
    .replace("{mixture_max_d_many}", str(_NF_MIXTURE_MAX_D_MANY_ROWS))
    .replace("{base_rows}", f"{_NF_BASE_ROWS:,}".replace(",", " "))
    .replace("{base_folds}", str(_NF_BASE_FOLDS))
    .replace("{reg_folds}", str(_NF_BASE_REG_FOLDS))
    .replace("{base_members}", str(_NF_BASE_MEMBERS))
    .replace("{start_margin}", f"{_NF_START_MARGIN_SE:g}")
    .replace("{stages_doc}", str(_NF_STAGES))
    .replace("{hidden_doc}", "``(64, 64)`` when ``d <= 16``, else ``(min(max(64, d), 512),)``")
    .replace("{lr_doc}", "3e-3 for splines, 1e-3 otherwise (Adam)")
    .replace(
        "{epochs_doc}",
        f"about {_NF_STEPS} steps' worth, in [{_NF_MIN_EPOCHS}, {_NF_MAX_EPOCHS}]",
    )
    .replace("{min_val}", str(_NF_MIN_VALIDATION))
    .replace(
        "{noise_doc}",
        f"{_NF_NOISE_FACTOR} x the cross-validated KDE bandwidth when ``d <= "
        f"{_NF_NOISE_MAX_D}``, else 0",
    )
    .replace("{noise_factor}", str(_NF_NOISE_FACTOR))
    .replace("{all_rows}", str(_NF_ALL_ROWS))
    .replace("{noise_rows}", str(_NF_NOISE_ROWS))
    .replace("{noise_max_d}", str(_NF_NOISE_MAX_D))
)
