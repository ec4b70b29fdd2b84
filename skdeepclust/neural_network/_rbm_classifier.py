"""RBM with softmax label units, a generative classifier (:class:`RBMClassifier`)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d
from torch import Tensor

from .._sparse import SPARSE_FORMATS, as_csr
from ..utils._sklearn_compat import _fit_context, validate_data
from ._rbm_base import _BaseRBM
from ._rbm_parameters import _inject_doc, _rbm_init

__all__ = ["RBMClassifier"]


@_inject_doc
class RBMClassifier(ClassifierMixin, _BaseRBM):
    """RBM with softmax label units, used as a classifier through p(y | x).

    The visible layer holds the features (binary or Gaussian units) plus one softmax
    unit per class; the joint model p(x, y) is trained generatively like :class:`RBM`.
    :meth:`predict_proba` clamps x and sums the hidden units out exactly:
    ``p(y | x) = softmax_y(-F(x, e_y))``. ``X`` may be a scipy sparse matrix (CSR or CSC):
    minibatches and prediction chunks are densified one at a time.

    Parameters
    ----------
    n_components : int, default=256
        Number of hidden units.
    %(common)s

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    module_ : skdeepclust.nn.rbm.RBM
        With ``n_labels = n_classes`` label units after the feature units.
    components_ : ndarray of shape (n_components, n_features + n_classes)
    intercept_hidden_, intercept_visible_, visible_offset_, hidden_offset_, sigma_
        As in :class:`RBM` (visible arrays include the label units last).
    loss_curve_ : list of float
        Reconstruction error of the joint visible vector per epoch.
    n_iter_ : int
    converged_ : bool
        True when the ``tol`` rule stopped training; always False with ``tol=None``.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features,)

    See Also
    --------
    RBM : the unsupervised model.

    References
    ----------
    .. [1] Larochelle & Bengio, "Classification using discriminative restricted Boltzmann
       machines", ICML 2008.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skdeepclust.neural_network import RBMClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = RBMClassifier(n_components=64, allow_probabilities=True, learning_rate=0.05,
    ...                     max_epochs=10, batch_size=20, device="cpu", random_state=0)
    >>> clf = clf.fit(X[:1500] / 16, y[:1500])
    >>> bool(clf.score(X[1500:] / 16, y[1500:]) > 0.8)
    True
    """

    _tour = {"params": {}, "data": "binary"}

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

    _auto_learn_sigma = True

    def _n_labels(self) -> int:
        return len(self.classes_)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Train the joint model of ``X`` and the labels ``y``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights: minibatches draw rows with probabilities
            proportional to them (an integer weight acts as copies of the row, zero
            leaves it out).

        Returns
        -------
        self : RBMClassifier
        """
        self.__dict__.pop("classes_", None)  # from an earlier fit: found in y again
        return self._fit_template(X, y, partial=False, sample_weight=sample_weight)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch on (X, y); ``classes`` (all labels) is required on the first call.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        classes : array-like of shape (n_classes,), default=None
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights: minibatches draw rows with probabilities
            proportional to them (an integer weight acts as copies of the row, zero
            leaves it out).

        Returns
        -------
        self : RBMClassifier
        """
        if not hasattr(self, "module_"):
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            self.classes_ = np.unique(np.asarray(classes))
        return self._partial_fit(X, y, sample_weight)

    def _validate_fit_input(self, X, y, *, reset: bool):
        X, y = validate_data(self, X, y, reset=reset, dtype=[np.float64, np.float32],
                             accept_sparse=SPARSE_FORMATS)
        X = as_csr(X)  # sparse: CSR (minibatches slice rows)
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if not hasattr(self, "classes_"):  # fit: the labels of y
            self.classes_ = np.unique(y)
        unknown = np.setdiff1d(np.unique(y), self.classes_)
        if unknown.size:
            raise ValueError(f"y contains labels {unknown.tolist()} not in classes "
                             f"{self.classes_.tolist()}.")
        if len(self.classes_) < 2:
            raise ValueError(
                "RBMClassifier needs samples of at least 2 classes; got 1 class "
                f"({self.classes_.tolist()}).")
        return X, y

    def _labels_onehot(self, y, dtype) -> np.ndarray:
        return np.eye(len(self.classes_), dtype=dtype)[np.searchsorted(self.classes_, y)]

    def _visible(self, X: np.ndarray, y) -> Tensor:
        onehot = self._labels_onehot(y, X.dtype)
        if sp.issparse(X):  # the label units as more sparse columns
            return sp.hstack([X, sp.csr_matrix(onehot)], format="csr")
        return torch.as_tensor(np.hstack([X, onehot]))

    def predict_log_proba(self, X):
        """log p(y | x) by clamping x and summing the hidden units out.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        X = self._validate_rows(X)
        return self._predict_rows(self.module_.label_log_proba, X)

    def predict_proba(self, X):
        """p(y | x) for each class (columns ordered as ``classes_``).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        return np.exp(self.predict_log_proba(X))

    def predict(self, X):
        """Most probable class.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        log_proba = self.predict_log_proba(X)
        return self.classes_[np.argmax(log_proba, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.input_tags.sparse = True
        return tags
