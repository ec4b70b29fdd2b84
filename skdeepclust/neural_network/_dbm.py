"""Deep Boltzmann machine: centered, trained by PCD with a mean-field positive phase."""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import torch
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin

from .._torch import make_generator, seed_from
from .._training import TrainingResult, train_loop
from ..base import PartialFitMixin, TorchEstimator
from ..exceptions import TrainingDivergedError
from ..nn import dbm as _dbm
from ..nn.partition import MAX_EXACT_UNITS
from ..utils._sklearn_compat import Interval, StrOptions, check_is_fitted
from ._energy_common import _EnergyEstimatorMixin, warn_unbracketed
from ._rbm_base import (
    _loss_rows,
    auto_learning_rate,
    check_binary_visible,
    count_updates,
)
from ._rbm_likelihood import EXACT_AUTO_COST, _log_z_attribute

__all__ = ["DBM"]

#: ``log_partition`` methods.
PARTITION_METHODS = ("auto", "exact", "ais")
#: Keys of ``pretrain_params``.
PRETRAIN_KEYS = ("learning_rate", "momentum", "l2", "k")
#: Mean-field sweeps of ``transform`` and ``score_samples`` (block coordinate ascent on
#: the bound: more sweeps never lower it; on MNIST-sized models it has settled by then).
INFERENCE_MEAN_FIELD = 50


class DBM(PartialFitMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin,
          _EnergyEstimatorMixin, TorchEstimator):
    """Deep Boltzmann machine with binary hidden layers and a variational likelihood.

    Unlike a :class:`DBN`, whose layers are trained and used one at a time, the DBM is one
    undirected model: every hidden layer receives input from the layer below and the
    layer above. It is trained as a whole by persistent contrastive divergence, the data
    statistics coming from a factorised mean-field posterior ``q(h | x)`` (a few
    fixed-point sweeps per update) and the model statistics from persistent Gibbs chains
    (Salakhutdinov & Hinton 2009). Centering (Melchior, Fischer & Wiskott 2016) subtracts
    offsets that track the mean of every layer, which lets the DBM train from a random
    start, as in PyDeep's MNIST tutorial; an uncentered DBM usually needs the layer-wise
    pretraining of ``pretrain_epochs``.

    :meth:`transform` returns the mean-field posterior of the top layer;
    :meth:`score_samples` the variational lower bound of ``log p(x)``,
    ``E_q[-E(x, h)] + H(q) - log Z``, with ``log Z`` exact when the odd hidden layers are
    small enough to enumerate (``2**units * sum(layer sizes) <= 2**27``; computed when
    first read after ``fit`` or ``partial_fit``, so that a stream of ``partial_fit``
    calls pays for training only) and otherwise estimated by annealed importance sampling
    on the first call (see :meth:`log_partition`).

    Read more in the :ref:`User Guide <dbm>`.

    Parameters
    ----------
    n_components : tuple of int or int, default=(100, 100)
        Units of each hidden layer, bottom to top; at least two layers (one hidden layer
        is an :class:`RBM`). An int gives two hidden layers of that size.
    visible : {"binary", "gaussian"}, default="binary"
        Visible units. Binary units need 0/1 data (see ``allow_probabilities``); Gaussian
        units model real data, with sigma fixed at each feature's standard deviation (a
        constant feature keeps zero weights).
    hidden : str, default="binary"
        Hidden units; only "binary" is supported (mean-field inference, the exact
        partition function and AIS sum binary hidden units out). Other values raise a
        ``ValueError``.
    allow_probabilities : bool, default=False
        Binary visibles: accept X in [0, 1], read as probabilities.
    centered : bool, default=True
        Centered DBM: energies use ``x_l - mu_l`` with offsets tracking the data means
        of every layer (visible: the data mean; hidden: the mean-field posteriors'
        means). False gives the normal DBM.
    offset_learning_rate : float, default=0.01
        Moving-average rate of the offsets (PyDeep's tutorial: 0.01).
    n_mean_field : int, default=3
        Mean-field sweeps of the positive phase of every update (PyDeep: 3). More sweeps
        give a closer posterior at a proportional cost; ``transform`` and
        ``score_samples`` always run 50.
    k : int, default=1
        Gibbs sweeps of the persistent chains per update (PCD-k).
    n_chains : int or None, default=None
        Persistent chains; None uses ``batch_size``.
    learning_rate : "auto" or float, default="auto"
        Step size of the weights and biases. "auto" is :class:`RBM`'s rule,
        ``0.01 * sqrt(30000 / updates)`` within [0.01, 0.1]: 0.01 (PyDeep's rate) for
        MNIST with batches of 20 over 10 epochs, larger for a small data set. Lower it
        if training diverges. ``partial_fit`` cannot know how long its stream is: its
        first call plans ``max_epochs`` calls like itself, and once the stream has made
        more updates the rate falls with them (after ``u`` updates, the rate of a fit of
        ``u`` updates), so that a stream of small chunks ends at the rate ``fit`` would
        use on all its rows rather than keeping one chunk's larger rate.
    learning_rate_decay : float, default=0.0
        Inverse-time decay of the joint training's step size: after ``e`` epochs
        (fractional within an epoch, counted over warm-started fits and ``partial_fit``
        calls, each call one epoch however few its rows) the rate is
        ``learning_rate / (1 + learning_rate_decay * e)``. 0 keeps it constant. The step
        size must fall for PCD to settle (the persistent chains lag the model);
        Salakhutdinov & Hinton (2009) decrease it towards 0 over a few hundred epochs:
        0.01 to 0.05 halves it after 100 to 20 epochs.
    momentum : float, default=0.0
    l2 : float, default=0.0
        Weight decay on the weights.
    init_weights : float, default=0.01
        Initial weights ~ N(0, init_weights^2) (PyDeep's tutorial: 0.01; Gaussian
        visibles: times each feature's standard deviation). Fine for MNIST-sized fits;
        the few hundred updates of a small data set leave so small a start near its
        symmetric point (the top layer barely used): there 0.1 to 0.3 with a larger
        ``learning_rate`` (e.g. 0.1) train much faster.
    pretrain_epochs : int, default=0
        Epochs of CD-1 layer-wise pretraining per layer before the joint training: the
        bottom RBM doubles its weights from the data, the top RBM its weights from above,
        and the composed DBM keeps the bottom and top weights and halves the middle ones
        (Salakhutdinov & Hinton 2009, 2012). 0 skips it; centered DBMs train well without
        it (Melchior et al. 2016).
    pretrain_params : dict, list of dict or None, default=None
        Settings of the pretraining RBMs, one dict for every layer or a list of one dict
        per hidden layer (bottom first), with the keys ``learning_rate`` (float or
        "auto": the ``learning_rate`` rule for ``pretrain_epochs``), ``momentum``
        (default 0), ``l2`` (weight decay, default 0) and ``k`` (CD-k Gibbs sweeps,
        default 1). Salakhutdinov & Hinton's MNIST pretraining used a rate of 0.05,
        momentum 0.9 and weight decay 0.001 (``benchmarks/bench_dbm.py --recipe
        salakhutdinov`` gives the whole recipe).
    batch_size : int, default=20
    max_epochs : int, default=10
        Epochs of the joint PCD training.
    tol : float or None, default=None
        Stop when the epoch's reconstruction error (mean squared error of ``E[x | h_1]``
        at the positive phase's posterior) has not improved by ``tol`` for
        ``n_iter_no_change`` epochs; reaching ``max_epochs`` first warns with
        ``ConvergenceWarning``. None runs exactly ``max_epochs``.
    n_iter_no_change : int, default=10
    warm_start : bool, default=False
        When True, ``fit`` on a fitted model continues training it for ``max_epochs``
        more epochs from the fitted parameters instead of starting anew; ``n_iter_``
        and ``loss_curve_`` accumulate (as in scikit-learn's ``MLPRegressor``). ``X``
        must have the fitted number of features. Pretraining does not run again;
        momentum and the persistent chains carry over (unless the model was pickled or
        ``n_chains`` changed). A warm ``fit`` or a ``partial_fit`` call trains with the
        current ``learning_rate``, ``momentum``, ``l2``, ``k`` and ``n_mean_field``, so
        ``set_params`` between calls runs a schedule (e.g. momentum 0.5 for the first
        epochs, then 0.9); ``learning_rate_decay`` counts the epochs of all calls.
    device : str or torch.device, default="auto"
    random_state : int, RandomState instance or None, default=None
        Controls the initialisation, minibatch order and every Gibbs draw of training; it
        also seeds later ``sample`` and AIS calls that get no ``random_state`` of their
        own.
    verbose : int, default=0
        1 shows progress bars (pretraining, training, and AIS).

    Attributes
    ----------
    module_ : skdeepclust.nn.dbm.DBM
        The torch model (centered parameters, offsets, AIS base model).
    coefs_ : list of ndarray of shape (n_units[l], n_units[l + 1])
        Weights between consecutive layers, visible first.
    offsets_ : list of ndarray
        Centering offsets of every layer (zero for a normal DBM).
    log_partition_ : float or None
        log Z used by ``score_samples``; None until known. An exact value is computed on
        first read (or by ``score_samples``).
    log_partition_bounds_ : tuple of float or None
        (lower, upper): -3 / +3 standard errors of an AIS estimate; equal for exact.
    log_partition_method_ : str or None
        "exact" or "ais".
    pretrain_loss_curve_ : list of float
        Reconstruction errors of the pretraining RBMs per epoch, bottom to top.
    loss_curve_ : list of float
        Reconstruction error per epoch of the joint training.
    n_iter_ : int
        Epochs of the joint training.
    converged_ : bool
        True when the ``tol`` rule stopped training; always False with ``tol=None``.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features,)
        Only when X has string feature names.

    See Also
    --------
    DBN : greedy stack of RBMs, directed below the top layer.
    RBM : one layer, with an exact or AIS log-likelihood.

    References
    ----------
    .. [1] Salakhutdinov & Hinton, "Deep Boltzmann machines", AISTATS 2009.
    .. [2] Salakhutdinov & Hinton, "An efficient learning procedure for deep Boltzmann
       machines", Neural Computation 24 (2012).
    .. [3] Melchior, Fischer & Wiskott, "How to center deep Boltzmann machines", JMLR 17
       (2016).

    Examples
    --------
    >>> from skdeepclust.datasets import make_bars_and_stripes
    >>> from skdeepclust.neural_network import DBM
    >>> X = make_bars_and_stripes(400, length=3, random_state=0)
    >>> dbm = DBM(n_components=(12, 6), learning_rate=0.1, init_weights=0.3, max_epochs=20,
    ...           device="cpu", random_state=0).fit(X)
    >>> dbm.log_partition_method_
    'exact'
    >>> bool(dbm.score(X) > -5.5)  # a lower bound; log(1/14) = -2.64 is the optimum
    True
    >>> dbm.transform(X[:2]).shape
    (2, 6)
    """

    _supports_sample_weight = True

    _parameter_constraints: ClassVar[dict] = {
        **TorchEstimator._parameter_constraints,
        "warm_start": ["boolean"],
        "n_components": ["array-like", Interval(Integral, 1, None, closed="left")],
        "visible": [StrOptions({"binary", "gaussian"})],
        "hidden": [str],
        "allow_probabilities": ["boolean"],
        "centered": ["boolean"],
        "offset_learning_rate": [Interval(Real, 0, 1, closed="both")],
        "n_mean_field": [Interval(Integral, 1, None, closed="left")],
        "k": [Interval(Integral, 1, None, closed="left")],
        "n_chains": [Interval(Integral, 1, None, closed="left"), None],
        "learning_rate": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "learning_rate_decay": [Interval(Real, 0, None, closed="left")],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "l2": [Interval(Real, 0, None, closed="left")],
        "init_weights": [Interval(Real, 0, None, closed="left")],
        "pretrain_epochs": [Interval(Integral, 0, None, closed="left")],
        "pretrain_params": [dict, list, None],
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
    }

    _transient_attributes = ("_optimizer", "_updater")
    # log Z as the RBM keeps it: an exact value pending after every fit and partial_fit
    # call is computed on the first read (score_samples, or these attributes)
    log_partition_ = _log_z_attribute(0, "log Z used by ``score_samples`` (or None).")
    log_partition_bounds_ = _log_z_attribute(1, "(lower, upper) bounds of log Z.")
    log_partition_method_ = _log_z_attribute(2, "How log Z was computed.")
    #: Settings of the AIS run that ``score_samples`` starts when ``log Z`` is unknown.
    _lazy_ais: ClassVar[dict] = {"n_chains": 100, "n_betas": 10000, "k": 1}
    #: 16-16 hidden units: the exact log Z on digits.
    _tour: ClassVar[dict] = {"params": {"n_components": (16, 16)}, "data": "binary"}

    def __init__(self, n_components=(100, 100), *, visible="binary", hidden="binary",
                 allow_probabilities=False, centered=True, offset_learning_rate=0.01,
                 n_mean_field=3, k=1, n_chains=None, learning_rate="auto",
                 learning_rate_decay=0.0, momentum=0.0, l2=0.0, init_weights=0.01,
                 pretrain_epochs=0, pretrain_params=None, batch_size=20, max_epochs=10,
                 tol=None, n_iter_no_change=10, warm_start=False,
                 device="auto", random_state=None, verbose=0):
        self.n_components = n_components
        self.visible = visible
        self.hidden = hidden
        self.allow_probabilities = allow_probabilities
        self.centered = centered
        self.offset_learning_rate = offset_learning_rate
        self.n_mean_field = n_mean_field
        self.k = k
        self.n_chains = n_chains
        self.learning_rate = learning_rate
        self.learning_rate_decay = learning_rate_decay
        self.momentum = momentum
        self.l2 = l2
        self.init_weights = init_weights
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_params = pretrain_params
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.warm_start = warm_start
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ checks
    def _layer_sizes(self) -> tuple[int, ...]:
        sizes = self.n_components
        sizes = np.asarray((sizes, sizes) if isinstance(sizes, Integral) else sizes)
        if (sizes.ndim != 1 or not np.issubdtype(sizes.dtype, np.integer) or sizes.size == 0
                or sizes.min() < 1):
            raise ValueError("n_components must be a sequence of positive ints, one per "
                             f"hidden layer; got {self.n_components!r}.")
        if sizes.size < 2:
            raise ValueError(
                f"A DBM needs at least two hidden layers; got n_components="
                f"{self.n_components!r}. Use RBM for a single hidden layer.")
        return tuple(int(s) for s in sizes)

    def _check_params_vs_input(self, X: np.ndarray) -> None:
        if self.hidden != "binary":
            raise ValueError(
                f"DBM hidden layers must be binary; got hidden={self.hidden!r}. Mean-field "
                "inference, the exact partition function and AIS sum binary hidden units "
                "out. For rectified hidden units use DBN(rbm_params={'hidden': "
                "'rectified'}).")
        if self.visible == "binary":
            check_binary_visible(X, self.allow_probabilities)

    def _pretrain_settings(self, n_layers: int, n_samples: int) -> list[dict]:
        """One dict of resolved pretraining settings per hidden layer."""
        extra = self.pretrain_params
        if extra is None or isinstance(extra, dict):
            layers = [dict(extra or {}) for _ in range(n_layers)]
        else:
            layers = [dict(d) if isinstance(d, dict) else d for d in extra]
            if len(layers) != n_layers or not all(isinstance(d, dict) for d in layers):
                raise ValueError(
                    f"pretrain_params must be a dict or a list of {n_layers} dicts (one per "
                    f"hidden layer); got {extra!r}.")
        out = []
        for i, d in enumerate(layers):
            bad = set(d) - set(PRETRAIN_KEYS)
            if bad:
                raise ValueError(f"pretrain_params has invalid keys {sorted(bad)} for layer "
                                 f"{i}; valid keys are {list(PRETRAIN_KEYS)}.")
            rate = d.get("learning_rate", "auto")
            if isinstance(rate, str) and rate == "auto":
                rate = auto_learning_rate(count_updates(n_samples, self.batch_size,
                                                        self.pretrain_epochs))
            momentum, l2, k = d.get("momentum", 0.0), d.get("l2", 0.0), d.get("k", 1)
            if (isinstance(rate, str) or not isinstance(rate, Real) or not rate > 0
                    or not isinstance(momentum, Real) or not 0 <= momentum < 1
                    or not isinstance(l2, Real) or not l2 >= 0
                    or not isinstance(k, Integral) or isinstance(k, bool) or k < 1):
                raise ValueError(
                    f"pretrain_params of layer {i} needs learning_rate > 0 or 'auto', "
                    f"0 <= momentum < 1, l2 >= 0 and an int k >= 1; got {d!r}.")
            out.append({"learning_rate": float(rate), "momentum": float(momentum),
                        "l2": float(l2), "k": int(k)})
        return out

    def _auto_rate(self, n_samples: int, epochs: int) -> float:
        if not isinstance(self.learning_rate, str):
            return float(self.learning_rate)
        return auto_learning_rate(count_updates(n_samples, self.batch_size, epochs))

    # ------------------------------------------------------------------ fit
    def _initialize(self, X, y) -> None:
        sizes = (X.shape[1], *self._layer_sizes())
        self._check_params_vs_input(X)
        rng = self._rng
        V = self._to_tensor(X)
        kind = self.visible
        self.pretrain_loss_curve_ = []
        if self.pretrain_epochs:
            module = self._pretrain(V, sizes, rng)
        else:
            module = self._build_module_seeded(lambda: _dbm.DBM(sizes, visible=kind))
            g = make_generator(seed_from(rng), self._device)
            module.initialize(V, generator=g, weight_scale=self.init_weights,
                              centered=self.centered)
        self.module_ = module
        # "auto": the rate of max_epochs passes over X (partial_fit: over max_epochs
        # chunks like the first, then falling as the stream outgrows them; see _train)
        self._planned_updates = count_updates(X.shape[0], self.batch_size, self.max_epochs)
        self._updates_done = 0
        self._learning_rate = self._auto_rate(X.shape[0], self.max_epochs)
        self._batch_rows = max(1, min(self.batch_size, X.shape[0]))
        self._updater = self._make_updater()
        # training draws from a generator seeded after these (the seeds of earlier
        # releases: same random_state, same model)
        self._generator = self._next_generator()

    def _make_updater(self) -> _dbm.DBMUpdater:
        return _dbm.DBMUpdater(
            self.module_, self.n_chains or self._batch_rows,
            learning_rate=self._learning_rate, n_mean_field=self.n_mean_field, k=self.k,
            momentum=self.momentum, l2=self.l2,
            offset_rate=self.offset_learning_rate if self.centered else 0.0)

    def _resume_fit(self, X, y) -> None:
        self._check_params_vs_input(X)
        if not isinstance(self.learning_rate, str):  # "auto" keeps the fitted rate
            self._learning_rate = float(self.learning_rate)
        # the current hyper-parameters (schedules via set_params); the chains and the
        # momentum carry over unless the model was unpickled or n_chains changed
        old, self._updater = getattr(self, "_updater", None), self._make_updater()
        if old is not None and old.n_chains == self._updater.n_chains:
            self._updater.chains, self._updater.velocity = old.chains, old.velocity

    def _train(self, X, y, *, partial: bool) -> TrainingResult:
        V = self._to_tensor(X)
        module, upd, g = self.module_, self._updater, self._generator
        rate, decay = self._learning_rate, float(self.learning_rate_decay)
        rows = V.shape[0] if self._sample_weight is None else int(
            (torch.as_tensor(self._sample_weight) > 0).sum())
        per_epoch = math.ceil(rows / max(1, min(self.batch_size, rows)))
        done = [float(self._history.n_iter)]  # epochs trained before this call
        # updates of every call so far; a stream at "auto" steps at the rate of a fit of
        # as many updates once it has made more than its first call planned (a small
        # chunk's larger rate, kept for a whole stream, makes PCD diverge)
        updates = [getattr(self, "_updates_done", 0)]
        planned = getattr(self, "_planned_updates", None)  # None: pickled before
        stream = partial and isinstance(self.learning_rate, str) and planned is not None

        def step(idx):
            v = V[idx]
            updates[0] += 1
            base = auto_learning_rate(max(planned, updates[0])) if stream else rate
            if decay:
                upd.learning_rate = base / (1.0 + decay * done[0])
                done[0] += 1.0 / per_epoch
            elif stream:
                upd.learning_rate = base
            pos = upd.step(v, g)
            n = _loss_rows(v.shape[0])
            with torch.no_grad():
                rec = module.mean(0, [None, pos[1][:n]])
                return (rec - v[:n]).pow(2).mean()

        try:
            return self._train_loop(step, module, V.shape[0],
                                    1 if partial else self.max_epochs, "DBM training", g,
                                    result=self._history)
        finally:
            self._updates_done = updates[0]
            if stream:
                self._learning_rate = auto_learning_rate(max(planned, updates[0]))

    def _finish_fit(self, X, y, result, *, partial: bool) -> None:
        if self.tol is not None and not partial:
            self._warn_unconverged(result)
        self._sampling_rng = np.random.RandomState(seed_from(self._rng))
        self._reset_log_partition()

    def _train_loop(self, step, module, n_samples, epochs, phase, generator, result=None
                    ) -> TrainingResult:
        suggestion = ("Try a smaller learning_rate, standardize Gaussian inputs, or compute "
                      "in float64 (skdeepclust.set_config(compute_dtype='float64')).")

        def check(epoch, loss):
            for name, p in module.named_parameters():
                bad = ~torch.isfinite(p.detach())
                if bool(bad.any()):
                    raise TrainingDivergedError(
                        f"{phase} diverged: parameter '{name}' has {int(bad.sum())} "
                        f"non-finite values at epoch {epoch + 1}. {suggestion}")

        return train_loop(step, n_samples=n_samples, batch_size=self.batch_size,
                          max_epochs=epochs, generator=generator, phase=phase,
                          verbose=self.verbose, tol=self.tol if phase == "DBM training" else None,
                          n_iter_no_change=self.n_iter_no_change, on_epoch_end=check,
                          suggestion=suggestion, result=result,
                          sample_weight=self._sample_weight)

    def _pretrain(self, V, sizes, rng):
        """Layer-wise doubled-weight CD-1 pretraining; returns the composed DBM."""
        L = len(sizes) - 1
        settings = self._pretrain_settings(L, V.shape[0])
        rate_off = self.offset_learning_rate if self.centered else 0.0
        rbms, H = [], V
        for i, cfg in enumerate(settings):
            kind = self.visible if i == 0 else "binary"
            shape = (sizes[i], sizes[i + 1])
            rbm = self._build_module_seeded(
                lambda shape=shape, kind=kind: _dbm.DBM(shape, visible=kind))
            g = make_generator(seed_from(rng), self._device)
            rbm.initialize(H, generator=g, weight_scale=self.init_weights,
                           centered=self.centered)
            up, down = _dbm.pretrain_factors(i, L)
            data = H
            velocity = ([torch.zeros_like(p) for p in (rbm.weights[0], *rbm.biases)]
                        if cfg["momentum"] else None)

            def step(idx, rbm=rbm, data=data, up=up, down=down, g=g, cfg=cfg,
                     velocity=velocity):
                v = data[idx]
                p = _dbm.pretrain_step(rbm, v, up=up, down=down,
                                       learning_rate=cfg["learning_rate"],
                                       offset_rate=rate_off, generator=g, k=cfg["k"],
                                       momentum=cfg["momentum"], l2=cfg["l2"],
                                       velocity=velocity)
                n = _loss_rows(v.shape[0])
                with torch.no_grad():
                    rec = rbm.mean(0, [None, p[:n]], down=down)
                    return (rec - v[:n]).pow(2).mean()

            result = self._train_loop(step, rbm, H.shape[0], self.pretrain_epochs,
                                      f"DBM pretraining (layer {i + 1} of {L})", g)
            self.pretrain_loss_curve_.extend(result.loss_curve)
            with torch.no_grad():
                H = rbm.mean(1, [H, None], up=up)
            rbms.append(rbm)
        dbm = _dbm.compose_pretrained(rbms)
        if self.centered:
            with torch.no_grad():
                targets = [V.mean(0)] + [r.offsets[1].clone() for r in rbms]
            dbm.update_offsets(targets, 1.0)
        return dbm

    # ------------------------------------------------------------------ helpers
    def _reset_log_partition(self) -> None:
        """log Z unknown; the exact value pending (computed when first read) when it is
        cheap. Every ``fit`` and ``partial_fit`` ends here: a stream of ``partial_fit``
        calls pays for training only."""
        self._log_z = (None, None, None, self._exact_feasible())

    def _exact_feasible(self) -> bool:
        m = self.module_
        n = m.odd_units
        return n <= MAX_EXACT_UNITS and 2**n * sum(m.sizes) <= EXACT_AUTO_COST

    def _set_log_partition(self, method, *, n_chains=100, n_betas=10000, k=1,
                           random_state=None) -> float:
        m = self._float64_module()
        if method == "exact":
            with torch.no_grad():
                lz = float(_dbm.log_partition_exact(m))
            bounds = (lz, lz)
        else:
            est, log_w = _dbm.annealed_importance_sampling(
                m, n_chains=n_chains, betas=n_betas, k=k,
                generator=self._sampling_generator(random_state), verbose=self.verbose)
            lz, bounds = est.log_z, (est.lower, est.upper)
            if not np.isfinite(est.lower):
                need = _dbm.temperatures_to_bracket(log_w, n_betas)
                warn_unbracketed(type(self).__name__, lz, n_betas, n_chains, need,
                                 weights="the log weights")
        return self._store_log_partition(lz, bounds, method)

    # ------------------------------------------------------------------ attributes
    @property
    def _n_features_out(self) -> int:
        return self.module_.sizes[-1]

    @property
    def coefs_(self) -> list[np.ndarray]:
        """Weights between consecutive layers, shape (n_units[l], n_units[l + 1])."""
        return [self._numpy(w) for w in self.module_.weights]

    @property
    def offsets_(self) -> list[np.ndarray]:
        """Centering offsets of every layer, visible first."""
        return [self._numpy(o) for o in self.module_.offsets]

    # ------------------------------------------------------------------ inference
    def transform(self, X):
        """Mean-field posterior means of the top hidden layer, q(h_L = 1 | x).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        H : ndarray of shape (n_samples, n_components[-1])
        """
        X = self._validate_predict_data(X)
        m = self.module_
        return self._inference(lambda x: m.mean_field(x, INFERENCE_MEAN_FIELD)[-1], X)

    def transform_layers(self, X):
        """Mean-field posterior means of every hidden layer, bottom to top.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        H : list of ndarray of shape (n_samples, n_components[l])
        """
        X = self._validate_predict_data(X)
        m = self.module_
        out = self._inference(lambda x: tuple(m.mean_field(x, INFERENCE_MEAN_FIELD)[1:]), X)
        return list(out) if isinstance(out, tuple) else [out]

    def score_samples(self, X):
        """Variational lower bound of log p(x) of each sample (nats).

        ``E_q[-E(x, h)] + H(q) - log Z`` with ``q`` the mean-field posterior (50 sweeps).
        ``log Z`` is exact when the odd hidden layers are small (computed on the first
        read after training); otherwise the first call estimates it by AIS (100 chains,
        10000 temperatures; the estimate of ``log Z`` tends to be low, so the bound is a little
        optimistic on average) and stores it in ``log_partition_``; call
        :meth:`log_partition` beforehand to choose its settings.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_likelihood_bound : ndarray of shape (n_samples,)
        """
        X = self._validate_predict_data(X)
        if self.log_partition_ is None:
            self._set_log_partition("ais", **self._lazy_ais)
        lz = self.log_partition_
        m = self._float64_module()
        return self._inference(
            lambda x: m.lower_bound(x.to(torch.float64), n_iter=INFERENCE_MEAN_FIELD) - lz, X)

    def score(self, X, y=None):
        """Mean lower bound of the log-likelihood of ``X`` (see :meth:`score_samples`).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        score : float
        """
        return float(np.mean(self.score_samples(X)))

    def log_partition(self, method="auto", *, n_chains=100, n_betas=10000, k=1,
                      random_state=None):
        """Compute log Z and store it (``log_partition_``, ``_bounds_``, ``_method_``).

        Parameters
        ----------
        method : {"auto", "exact", "ais"}, default="auto"
            "auto" is exact when enumerating the odd hidden layers is cheap
            (``2**units * sum(layer sizes) <= 2**27``), else AIS. "exact" enumerates every
            state of the odd layers and sums the even ones out (refused beyond 25 units).
            "ais" anneals the even layers (odd ones summed out) from independent visibles
            and uniform hidden units; it warns when its lower bound is -inf, with the
            number of temperatures to add.
        n_chains : int, default=100
            AIS runs.
        n_betas : int, default=10000
            Linearly spaced inverse temperatures.
        k : int, default=1
            Gibbs sweeps per temperature.
        random_state : int, RandomState instance or None, default=None

        Returns
        -------
        log_z : float
        """
        check_is_fitted(self)
        if method not in PARTITION_METHODS:
            raise ValueError(
                f"Unknown method {method!r}; valid options are {list(PARTITION_METHODS)}.")
        if method == "auto":
            method = "exact" if self._exact_feasible() else "ais"
        return self._set_log_partition(method, n_chains=int(n_chains), n_betas=int(n_betas),
                                       k=int(k), random_state=random_state)

    def sample(self, n_samples=1, *, k=1000, random_state=None):
        """Draw visible samples by block Gibbs sampling of the whole DBM.

        Chains start at base-model states (independent visibles, uniform hidden units);
        after ``k`` sweeps the visible means ``E[x | h_1]`` of the last state are returned
        (probabilities for binary visibles), as PyDeep's tutorial shows them.

        Parameters
        ----------
        n_samples : int, default=1
        k : int, default=1000
            Gibbs sweeps (odd layers, then even layers).
        random_state : int, RandomState instance or None, default=None
            None continues the estimator's own stream.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        n = int(n_samples)
        if n < 1:
            raise ValueError(f"n_samples={n} should be >= 1.")
        g = self._sampling_generator(random_state)
        m = self.module_
        with torch.inference_mode():
            states = m.gibbs(m.initial_states(n, g), int(k), None, g)
            v = m.mean(0, states)
        return self._numpy(v)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

