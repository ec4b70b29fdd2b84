"""Deep belief network: a greedy layer-wise stack of RBMs."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array

from .._sparse import SPARSE_FORMATS, as_csr
from .._torch import seed_from
from ..base import TorchEstimator
from ..utils._sklearn_compat import Interval, StrOptions, _fit_context, check_is_fitted
from ._rbm import RBM
from ._rbm_base import METHODS

__all__ = ["DBN"]

#: RBM parameters the DBN sets itself for every layer.
_DBN_OWNED = ("n_components", "device", "random_state", "verbose")


class DBN(ClassNamePrefixFeaturesOutMixin, TransformerMixin, TorchEstimator):
    """Deep belief network trained greedily, one :class:`RBM` per layer.

    The first RBM models ``X``; each next RBM models the hidden means p(h | x) of the
    layer below (binary visible units reading them as probabilities). ``transform``
    propagates means up to the top layer, ``inverse_transform`` propagates E[x | h]
    back down, and ``sample`` runs a Gibbs chain in the top RBM and propagates its
    visible states down (PyDeep's ``sample_top_layer`` + ``backward_propagate``).

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(256, 64)
        Hidden units of each RBM, bottom to top.
    visible : {"binary", "gaussian", "rectified"}, default="binary"
        Visible units of the first RBM (the upper ones are binary).
    allow_probabilities : bool, default=False
        First RBM with binary visibles: accept X in [0, 1] as probabilities.
    method : {"cd", "pcd", "pt", "ipt", "exact"}, default="pcd"
        Training method of every RBM.
    k : int, default=1
        Gibbs steps per update.
    centered : bool, default=True
        Centered RBMs.
    learning_rate : "auto" or float, default="auto"
        Learning rate of every RBM; "auto" is :class:`RBM`'s, from the number of updates
        of each layer (0.01 for MNIST-sized fits, up to 0.1 for small data sets).
    momentum : float, default=0.0
    rbm_params : dict, list of dict or None, default=None
        Further :class:`RBM` parameters, the same for every layer (dict) or one dict per
        layer (list); they override the ones above. ``n_components``, ``device``,
        ``random_state`` and ``verbose`` are set by the DBN.
    batch_size : int, default=100
    max_epochs : int, default=50
        Epochs of each layer.
    tol : float or None, default=None
        Each layer stops when its reconstruction error has not improved by ``tol`` for
        ``n_iter_no_change`` epochs, and warns with ``ConvergenceWarning`` ("DBN (layer i
        of n) stopped at max_epochs=...") when it reaches ``max_epochs`` first; None (the
        default) trains every layer for exactly ``max_epochs`` (see :class:`RBM`'s
        ``tol`` for why the reconstruction error makes a poor default stopping rule).
    n_iter_no_change : int, default=10
    warm_start : bool, default=False
        When True, ``fit`` on a fitted DBN continues training every layer for
        ``max_epochs`` more epochs, bottom to top, each on the data as the layers below
        now transform it (the layers' hyper-parameters follow ``set_params``);
        ``n_iter_`` and ``loss_curve_`` accumulate. The layer sizes must not change.
    device : str or torch.device, default="auto"
    random_state : int, RandomState instance or None, default=None
        Seeds every layer (each gets its own seed drawn from it) and later ``sample``
        calls without a ``random_state`` of their own.
    verbose : int, default=0

    Attributes
    ----------
    rbms_ : list of RBM
        The fitted layers, bottom to top.
    loss_curve_ : list of float
        The layers' reconstruction errors per epoch, concatenated bottom to top (after
        :meth:`partial_fit` calls: the layers' mean per call).
    n_iter_ : int
        Epochs run over all layers.
    converged_ : bool
        Whether every layer stopped by the ``tol`` rule (always False with ``tol=None``).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features,)
        Only when X has string feature names.

    See Also
    --------
    RBM : one layer.

    References
    ----------
    .. [1] Hinton, Osindero & Teh, "A fast learning algorithm for deep belief nets",
       Neural Computation 18 (2006).

    Examples
    --------
    >>> from skdeepclust.datasets import make_bars_and_stripes
    >>> from skdeepclust.neural_network import DBN
    >>> X = make_bars_and_stripes(300, length=4, random_state=0)
    >>> dbn = DBN(hidden_layer_sizes=(12, 6), learning_rate=0.05, batch_size=20,
    ...           max_epochs=5, device="cpu", random_state=0).fit(X)
    >>> dbn.transform(X).shape
    (300, 6)
    >>> dbn.sample(4, k=50).shape
    (4, 16)
    """

    _parameter_constraints: dict = {
        **TorchEstimator._parameter_constraints,
        "hidden_layer_sizes": ["array-like"],
        "visible": [StrOptions({"binary", "gaussian", "rectified"})],
        "allow_probabilities": ["boolean"],
        "method": [StrOptions(set(METHODS))],
        "k": [Interval(Integral, 1, None, closed="left")],
        "centered": ["boolean"],
        "learning_rate": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "rbm_params": [dict, list, None],
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "warm_start": ["boolean"],
    }

    _tour = {"params": {}, "data": "binary"}

    def __init__(self, hidden_layer_sizes=(256, 64), *, visible="binary",
                 allow_probabilities=False, method="pcd", k=1, centered=True,
                 learning_rate="auto", momentum=0.0, rbm_params=None, batch_size=100,
                 max_epochs=50, tol=None, n_iter_no_change=10, warm_start=False,
                 device="auto", random_state=None, verbose=0):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.visible = visible
        self.allow_probabilities = allow_probabilities
        self.method = method
        self.k = k
        self.centered = centered
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.rbm_params = rbm_params
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.warm_start = warm_start
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _layer_params(self) -> list[dict]:
        sizes = np.asarray(self.hidden_layer_sizes)
        if (sizes.ndim != 1 or sizes.size == 0 or not np.issubdtype(sizes.dtype, np.integer)
                or sizes.min() < 1):
            raise ValueError("hidden_layer_sizes must be a non-empty sequence of positive "
                             f"ints; got {self.hidden_layer_sizes!r}.")
        n = sizes.size
        extra = self.rbm_params
        if extra is None:
            extra = [{}] * n
        elif isinstance(extra, dict):
            extra = [extra] * n
        elif len(extra) != n or not all(isinstance(e, dict) for e in extra):
            raise ValueError(f"rbm_params must be a dict or a list of {n} dicts (one per "
                             f"layer); got {self.rbm_params!r}.")
        valid = set(RBM().get_params()) - set(_DBN_OWNED)
        layers = []
        for i, (size, more) in enumerate(zip(sizes, extra)):
            bad = set(more) - valid
            if bad:
                raise ValueError(f"rbm_params has invalid keys {sorted(bad)} for layer {i}; "
                                 f"valid keys are {sorted(valid)}.")
            params = dict(
                visible=self.visible if i == 0 else "binary",
                allow_probabilities=self.allow_probabilities if i == 0 else True,
                method=self.method, k=self.k, centered=self.centered,
                learning_rate=self.learning_rate, momentum=self.momentum,
                batch_size=self.batch_size, max_epochs=self.max_epochs, tol=self.tol,
                n_iter_no_change=self.n_iter_no_change)
            params.update(more)
            params["n_components"] = int(size)
            layers.append(params)
        return layers

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Train the RBMs greedily, bottom to top.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            A CSR or CSC matrix stays sparse (the first RBM densifies its minibatches).
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights, passed to every layer's RBM (see
            :meth:`RBM.fit <skdeepclust.neural_network.RBM.fit>`).

        Returns
        -------
        self : DBN
        """
        warm = self.warm_start and hasattr(self, "rbms_")
        # sparse X (CSR / CSC) stays sparse: the first RBM densifies its minibatches
        X = as_csr(self._validate_fit_data(X, reset=not warm, accept_sparse=SPARSE_FORMATS))
        layers = self._layer_params()
        if warm:
            return self._continue_layers(X, layers, sample_weight)
        rng = check_random_state(self.random_state)
        H = X
        self.rbms_ = []
        self.loss_curve_ = []
        for i, params in enumerate(layers):
            rbm = RBM(**params, device=self.device, random_state=seed_from(rng),
                      verbose=self.verbose)
            # an unconverged layer warns as "DBN (layer i of n) stopped at max_epochs=..."
            rbm._reported_as = (self, f"layer {i + 1} of {len(layers)}")
            try:
                rbm.fit(H, sample_weight=sample_weight)
            finally:
                del rbm._reported_as
            H = rbm.transform(H)
            self.rbms_.append(rbm)
            self.loss_curve_.extend(rbm.loss_curve_)
        self.n_iter_ = sum(r.n_iter_ for r in self.rbms_)
        self.converged_ = all(r.converged_ for r in self.rbms_)
        self._sampling_rng = np.random.RandomState(seed_from(rng))
        return self

    def _continue_layers(self, X, layers: list[dict], sample_weight) -> DBN:
        """A warm start: every fitted layer trains on, bottom to top."""
        if [p["n_components"] for p in layers] != [r.n_components for r in self.rbms_]:
            raise ValueError(
                "warm_start=True continues the fitted layers, but hidden_layer_sizes "
                f"changed to {tuple(p['n_components'] for p in layers)}; fit a new DBN.")
        H = X
        for i, (rbm, params) in enumerate(zip(self.rbms_, layers)):
            rbm.set_params(**params, warm_start=True)
            rbm._reported_as = (self, f"layer {i + 1} of {len(layers)}")
            try:
                rbm.fit(H, sample_weight=sample_weight)
            finally:
                del rbm._reported_as
            H = rbm.transform(H)
        self.loss_curve_ = [v for rbm in self.rbms_ for v in rbm.loss_curve_]
        self.n_iter_ = sum(r.n_iter_ for r in self.rbms_)
        self.converged_ = all(r.converged_ for r in self.rbms_)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, sample_weight=None):
        """Train every layer one epoch on ``X``, bottom to top; the first call builds them.

        Each layer's RBM runs its own ``partial_fit`` on the chunk as the layers below
        transform it (so a layer learns from the lower layers as they are at that call,
        where :meth:`fit` trains each layer to the end before the next starts). Momentum
        and persistent chains carry over between calls.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            A chunk of training data.
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights, passed to every layer's RBM.

        Returns
        -------
        self : DBN
        """
        first = not hasattr(self, "rbms_")
        X = as_csr(self._validate_fit_data(X, reset=first, accept_sparse=SPARSE_FORMATS))
        if first:
            rng = check_random_state(self.random_state)
            self.rbms_ = [RBM(**params, device=self.device, random_state=seed_from(rng),
                              verbose=self.verbose) for params in self._layer_params()]
            self._sampling_rng = np.random.RandomState(seed_from(rng))
            self.loss_curve_ = []
        H = X
        for rbm in self.rbms_:
            rbm.partial_fit(H, sample_weight=sample_weight)
            H = rbm.transform(H)
        self.loss_curve_.append(float(np.mean([r.loss_curve_[-1] for r in self.rbms_])))
        self.n_iter_ = len(self.loss_curve_)
        self.converged_ = False
        return self

    @property
    def _n_features_out(self) -> int:
        return self.rbms_[-1].components_.shape[0]  # AttributeError before fit: NotFittedError

    def transform(self, X):
        """Top-layer hidden means, propagated layer by layer.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        H : ndarray of shape (n_samples, hidden_layer_sizes[-1])
        """
        X = self._validate_predict_data(X, accept_sparse=SPARSE_FORMATS)
        for rbm in self.rbms_:
            X = rbm.transform(X)
        return X

    def inverse_transform(self, X):
        """Propagate top-layer states or means down to the visible layer (means).

        Parameters
        ----------
        X : array-like of shape (n_samples, hidden_layer_sizes[-1])

        Returns
        -------
        X_rec : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        H = check_array(X, dtype=[np.float64, np.float32])
        for rbm in reversed(self.rbms_):
            H = rbm.inverse_transform(H)
        return H

    def reconstruct(self, X):
        """``inverse_transform(transform(X))``."""
        return self.inverse_transform(self.transform(X))

    def sample(self, n_samples=1, *, k=100, random_state=None):
        """Gibbs-sample the top RBM, then propagate its visible states down (means).

        Parameters
        ----------
        n_samples : int, default=1
        k : int, default=100
            Gibbs steps in the top RBM.
        random_state : int, RandomState instance or None, default=None
            None continues the estimator's own stream.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            Visible means (probabilities for binary visible units).
        """
        check_is_fitted(self)
        rng = self._sampling_rng if random_state is None else check_random_state(random_state)
        H = self.rbms_[-1].sample(n_samples, k=k, random_state=seed_from(rng))
        for rbm in reversed(self.rbms_[:-1]):
            H = rbm.inverse_transform(H)
        return H

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.input_tags.sparse = True
        return tags
