"""Restricted Boltzmann machine (:class:`RBM`): a transformer with a true log-likelihood."""

from __future__ import annotations

import torch
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin

from ..base import PartialFitMixin
from ..nn import partition as _partition
from ..nn.sampling import IndependentParallelTemperingSampler, initial_states
from ..utils._sklearn_compat import check_is_fitted
from ._rbm_base import _BaseRBM
from ._rbm_likelihood import _RBMLikelihoodMixin
from ._rbm_parameters import _inject_doc, _rbm_init

__all__ = ["RBM"]

#: ``sample`` methods.
SAMPLE_METHODS = ("gibbs", "pt", "exact")


@_inject_doc
class RBM(PartialFitMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin,
          _RBMLikelihoodMixin, _BaseRBM):
    """Restricted Boltzmann machine with a true log-likelihood.

    A centered RBM (binary, Gaussian, Gaussian with learned variance or noisy-rectified
    visible units; binary or rectified hidden units) trained by contrastive divergence,
    persistent CD, parallel tempering or the exact gradient. Unlike scikit-learn's
    :class:`~sklearn.neural_network.BernoulliRBM`, whose ``score_samples`` is a
    pseudo-likelihood, :meth:`score_samples` here is the log-likelihood
    ``log p(x) = -F(x) - log Z``: with the exact partition function when the smaller
    binary layer is small (``2**units * (n_features + n_components) <= 2**27``: e.g. 17
    hidden units for 784 binary pixels, 20 for 64; computed when first read after ``fit``
    or ``partial_fit``, so that a stream of ``partial_fit`` calls pays for training only),
    else with an annealed-importance-sampling estimate of ``log Z`` (computed on the first call
    and stored in ``log_partition_``; see :meth:`log_partition` for reverse AIS and the
    spread of the estimate).

    ``X`` may be a scipy sparse matrix (CSR or CSC, e.g. a binary bag-of-words): it stays
    sparse, each training minibatch is densified on the device (binary data: the same model
    as the dense array, bit for bit) and predictions densify one chunk of rows at a time.

    Parameters
    ----------
    n_components : int, default=256
        Number of hidden units.
    %(common)s

    Attributes
    ----------
    module_ : skdeepclust.nn.rbm.RBM
        The torch model (centered parameters, offsets, base model).
    components_ : ndarray of shape (n_components, n_features)
        Weights (BernoulliRBM convention).
    intercept_hidden_ : ndarray of shape (n_components,)
        Hidden biases of the equivalent uncentered model.
    intercept_visible_ : ndarray of shape (n_features,)
        Visible biases of the equivalent uncentered model (Gaussian: E[x | h = 0]).
    visible_offset_, hidden_offset_ : ndarray
        Centering offsets.
    sigma_ : ndarray of shape (n_features,) or None
        Standard deviations of Gaussian visibles.
    log_partition_ : float or None
        log Z used by ``score_samples``; None until known (rectified units: always). An
        exact value is computed on first read (or by ``score_samples``).
    log_partition_bounds_ : tuple of float or None
        (lower, upper): -3 / +3 standard errors of an AIS estimate; equal for exact.
    log_partition_method_ : str or None
        "exact", "ais" or "reverse_ais".
    loss_curve_ : list of float
        Mean squared reconstruction error (one mean-field step) per epoch, measured on
        a tenth of every minibatch (at most 16 rows) during training.
    n_iter_ : int
        Epochs run.
    converged_ : bool
        True when the ``tol`` rule stopped training; always False with ``tol=None``.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features,)
        Only when X has string feature names.

    See Also
    --------
    sklearn.neural_network.BernoulliRBM : binary RBM scored by pseudo-likelihood.
    DBN : a greedy stack of RBMs.
    RBMClassifier : an RBM with softmax label units.

    References
    ----------
    .. [1] Melchior, Fischer & Wiskott, "How to center deep Boltzmann machines", JMLR 17
       (2016).
    .. [2] Salakhutdinov & Murray, "On the quantitative analysis of deep belief
       networks", ICML 2008 (AIS).
    .. [3] Burda, Grosse & Salakhutdinov, "Accurate and conservative estimates of MRF
       log-likelihood using reverse annealing", AISTATS 2015, arXiv:1412.8566.

    Examples
    --------
    >>> from skdeepclust.datasets import make_bars_and_stripes
    >>> from skdeepclust.neural_network import RBM
    >>> X = make_bars_and_stripes(600, length=3, random_state=0)
    >>> rbm = RBM(n_components=8, learning_rate=0.05, batch_size=20, max_epochs=30,
    ...           device="cpu", random_state=0).fit(X)
    >>> rbm.log_partition_method_
    'exact'
    >>> bool(rbm.score(X) > -5.0)  # log(1/14) = -2.64 is the optimum
    True
    >>> rbm.transform(X[:2]).shape
    (2, 8)
    """

    #: Settings of the AIS run that ``score_samples`` starts when ``log Z`` is unknown.
    _lazy_ais = {"n_chains": 100, "n_betas": 10000, "k": 1}

    #: 16 hidden units: the exact log Z, for ours and the BernoulliRBM baseline alike.
    _tour = {"params": {"n_components": 16}, "data": "binary"}

    def __init__(self, n_components=256, *, visible="binary", hidden="binary",
                 learn_sigma="auto", init_sigma="auto", centered=True, offset_type="DD",
                 offset_learning_rate=0.01, use_centered_gradient=False, method="pcd", k=1,
                 n_chains=None, n_temperatures=3, learning_rate="auto", momentum=0.0, l1=0.0,
                 l2=0.0, sparsity_target=0.05, sparsity_weight=0.0, max_grad_norm=None,
                 max_grad_norm_axis="cols", use_hidden_states=False, init_weights="auto",
                 init_hidden_bias="auto", init_visible_bias="auto", allow_probabilities=False,
                 batch_size=100, max_epochs=50, tol=None, n_iter_no_change=10, warm_start=False,
                 device="auto",
                 random_state=None, verbose=0):
        _rbm_init(**{k: v for k, v in locals().items() if k != "__class__"})

    # ------------------------------------------------------------------ inference
    def transform(self, X):
        """Hidden means p(h = 1 | x) (rectified hiddens: E[h | x]).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        H : ndarray of shape (n_samples, n_components)
        """
        X = self._validate_rows(X)
        return self._predict_rows(self.module_.prob_h, X)

    def inverse_transform(self, X):
        """Visible means E[x | h] of hidden states or probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)

        Returns
        -------
        X_rec : ndarray of shape (n_samples, n_features)
        """
        H = self._validate_codes(X, self.n_components,
                                 f"hidden states with n_components={self.n_components}")
        return self._inference(self.module_.prob_v, H)

    def reconstruction_error(self, X, k=1):
        """Mean squared error (over features) of a k-step mean-field reconstruction.

        ``h = E[h | x]``, ``x' = E[x | h]``, repeated ``k`` times (deterministic).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        k : int, default=1

        Returns
        -------
        errors : ndarray of shape (n_samples,)
        """
        X = self._validate_rows(X)
        m = self.module_

        def fn(x):
            r = x
            for _ in range(int(k)):
                r = m.prob_v(m.prob_h(r))
            return (r - x).pow(2).mean(1)

        return self._predict_rows(fn, X)

    def gibbs(self, X, k=1, *, random_state=None):
        """Run ``k`` block-Gibbs steps (x -> h -> x) from ``X``; returns visible states.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        k : int, default=1
        random_state : int, RandomState instance or None, default=None
            None continues the estimator's own stream (successive calls differ).

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_features)
        """
        X = self._validate_rows(X)
        g = self._sampling_generator(random_state)
        return self._predict_rows(lambda x: self.module_.gibbs(x, int(k), None, g), X)

    def sample(self, n_samples=1, *, k=1000, method="gibbs", random_state=None):
        """Draw visible samples from the model.

        Parameters
        ----------
        n_samples : int, default=1
        k : int, default=1000
            Gibbs steps ("gibbs": from base-model states; "pt": rounds of one Gibbs sweep
            of every temperature and one swap).
        method : {"gibbs", "pt", "exact"}, default="gibbs"
            Independent Gibbs chains, one parallel-tempering ladder per sample
            (``n_temperatures`` temperatures), or exact samples (at most 20 binary
            hidden units).
        random_state : int, RandomState instance or None, default=None

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        if method not in SAMPLE_METHODS:
            raise ValueError(
                f"Unknown method {method!r}; valid options are {list(SAMPLE_METHODS)}.")
        n = int(n_samples)
        if n < 1:
            raise ValueError(f"n_samples={n} should be >= 1.")
        g = self._sampling_generator(random_state)
        m = self.module_
        with torch.inference_mode():
            if method == "exact":
                v = _partition.sample_exact(m, n, g)
            elif method == "pt":
                ladders = IndependentParallelTemperingSampler(m, n, self.n_temperatures, g)
                for _ in range(int(k)):  # k rounds of one Gibbs sweep and one swap
                    v = ladders.sample(n, 1)
            else:
                v = m.gibbs(initial_states(m, n, g), int(k), None, g)
        return self._numpy(v)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.input_tags.sparse = True
        return tags
