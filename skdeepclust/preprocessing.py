"""ZCA whitening (PCA, FastICA and StandardScaler are scikit-learn's: use those)."""

from __future__ import annotations

from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin

from .utils._sklearn_compat import Interval, _fit_context, check_is_fitted, validate_data

__all__ = ["ZCA"]


class ZCA(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    r"""Zero-phase component analysis (ZCA) whitening.

    PCA whitening rotated back into the input space: with the covariance
    :math:`C = U \Lambda U^\top` of the training data, ``transform`` computes
    :math:`(x - m)\, U (\Lambda + \epsilon)^{-1/2} U^\top`. The whitened data have
    (regularised) identity covariance and stay as close as possible to the input, which
    keeps image patches looking like images. ``inverse_transform`` undoes it exactly.

    There is no ``partial_fit``: nothing is trained by minibatches, the whitening matrix
    is computed in closed form from the covariance of all the rows ``fit`` is given. For
    more rows than fit in memory, fit it on a representative sample.

    Parameters
    ----------
    epsilon : float, default=0.0
        Added to the eigenvalues before the inverse square root (regularises directions
        of tiny variance). Eigenvalues below ``n_features * eps * max_eigenvalue`` are
        always floored at that value so that the transform stays finite and invertible.

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,)
    components_ : ndarray of shape (n_features, n_features)
        Principal axes (rows), by decreasing variance.
    explained_variance_ : ndarray of shape (n_features,)
        Eigenvalues of the covariance (ddof=1), decreasing.
    whitening_ : ndarray of shape (n_features, n_features)
        The symmetric whitening matrix :math:`U (\Lambda + \epsilon)^{-1/2} U^\top`.
    dewhitening_ : ndarray of shape (n_features, n_features)
        Its inverse :math:`U (\Lambda + \epsilon)^{1/2} U^\top`.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features,)
        Defined only when ``X`` has string feature names.

    See Also
    --------
    sklearn.decomposition.PCA : PCA, optionally with (rotated) whitening.
    sklearn.decomposition.FastICA : ICA; run it after ZCA on the 2-D mixture example.

    References
    ----------
    Bell & Sejnowski, "The 'independent components' of natural scenes are edge filters",
    Vision Research 37 (1997).

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepclust.preprocessing import ZCA
    >>> X = np.random.RandomState(0).randn(500, 3) @ [[2, 1, 0], [0, 1, 0], [0, 0, 3]]
    >>> zca = ZCA().fit(X)
    >>> np.round(np.cov(zca.transform(X), rowvar=False), 6) + 0.0
    array([[1., 0., 0.],
           [0., 1., 0.],
           [0., 0., 1.]])
    >>> np.allclose(zca.inverse_transform(zca.transform(X)), X)
    True
    """

    _parameter_constraints: dict = {"epsilon": [Interval(Real, 0, None, closed="left")]}

    _tour = {"params": {}, "data": "standard"}

    def __init__(self, *, epsilon=0.0):
        self.epsilon = epsilon

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Estimate the mean and the whitening matrix.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        self : ZCA
        """
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        X64 = X.astype(np.float64, copy=False)
        n = X64.shape[0]
        self.mean_ = X64.mean(axis=0)
        centered = X64 - self.mean_
        cov = centered.T @ centered / max(n - 1, 1)
        eigval, eigvec = np.linalg.eigh(cov)
        order = np.argsort(eigval)[::-1]
        eigval, eigvec = np.clip(eigval[order], 0.0, None), eigvec[:, order]
        floor = max(eigval.max(initial=0.0), 1.0) * X64.shape[1] * np.finfo(np.float64).eps
        scale = np.maximum(eigval + self.epsilon, floor)
        self.components_ = eigvec.T
        self.explained_variance_ = eigval
        self.whitening_ = (eigvec / np.sqrt(scale)) @ eigvec.T
        self.dewhitening_ = (eigvec * np.sqrt(scale)) @ eigvec.T
        return self

    def transform(self, X):
        """Whiten ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        X_white : ndarray of shape (n_samples, n_features)
            In the dtype of ``X`` (float32 or float64).
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return ((X - self.mean_) @ self.whitening_).astype(X.dtype, copy=False)

    def inverse_transform(self, X):
        """Map whitened data back to the input space.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return (X @ self.dewhitening_ + self.mean_).astype(X.dtype, copy=False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
