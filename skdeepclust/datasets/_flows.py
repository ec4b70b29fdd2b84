"""Synthetic data with known factors for the flow models (gyoza's arc, blob images)."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state

from ..utils._sklearn_compat import Interval, validate_params

__all__ = ["make_arc", "make_blob_images", "make_factor_levels"]


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "noise": [Interval(Real, 0, None, closed="left")],
        "scale": [Interval(Real, 0, None, closed="neither")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_arc(n_samples=4096, *, noise=0.1, scale=0.5, random_state=None):
    r"""Points on the parabola arc :math:`(s, s^2/2)` plus Gaussian noise.

    The data of gyoza's first disentangling-flow tutorial: the position ``s`` along the
    arc is the one factor, the noise across it is the residual.

    Parameters
    ----------
    n_samples : int, default=4096
        Number of points.
    noise : float, default=0.1
        Standard deviation of the isotropic Gaussian noise added to each coordinate.
    scale : float, default=0.5
        Standard deviation of the position :math:`s \sim N(0, \text{scale}^2)`.
    random_state : int, RandomState instance or None, default=None
        Seed of the draws.

    Returns
    -------
    X : ndarray of shape (n_samples, 2)
        The points.
    y : ndarray of shape (n_samples,)
        The position ``s`` of each point along the arc (its factor).

    Examples
    --------
    >>> from skdeepclust.datasets import make_arc
    >>> X, s = make_arc(5, random_state=0)
    >>> X.shape, s.shape
    ((5, 2), (5,))
    """
    rng = check_random_state(random_state)
    s = rng.normal(0.0, scale, n_samples)
    X = np.column_stack([s, 0.5 * s**2]) + rng.normal(0.0, noise, (n_samples, 2))
    return X, s


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "image_size": [Interval(Integral, 4, None, closed="left")],
        "noise": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_blob_images(n_samples=1000, *, image_size=8, noise=0.02, random_state=None):
    """Small images of one Gaussian blob with three independent factors.

    Each image shows ``exp(-((row - r)^2 + (col - c)^2) / (2 w^2))`` with the blob's row
    ``r`` and column ``c`` uniform over the inner part of the image and its width ``w``
    uniform in ``[0.6, 1.6]`` pixels, plus Gaussian pixel noise: an image-like data set
    whose generating factors are known, for disentangling.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of images.
    image_size : int, default=8
        Images are ``image_size x image_size``, flattened row-major.
    noise : float, default=0.02
        Standard deviation of the pixel noise.
    random_state : int, RandomState instance or None, default=None
        Seed of the draws.

    Returns
    -------
    X : ndarray of shape (n_samples, image_size ** 2)
        The flattened images.
    factors : ndarray of shape (n_samples, 3)
        Row, column and width of each blob.

    Examples
    --------
    >>> from skdeepclust.datasets import make_blob_images
    >>> X, factors = make_blob_images(4, random_state=0)
    >>> X.shape, factors.shape
    ((4, 64), (4, 3))
    """
    rng = check_random_state(random_state)
    lo, hi = 1.5, image_size - 2.5
    rows = rng.uniform(lo, hi, n_samples)
    cols = rng.uniform(lo, hi, n_samples)
    widths = rng.uniform(0.6, 1.6, n_samples)
    grid = np.arange(image_size, dtype=np.float64)
    d2 = (grid[None, :, None] - rows[:, None, None]) ** 2 + (
        grid[None, None, :] - cols[:, None, None]
    ) ** 2
    images = np.exp(-d2 / (2 * widths[:, None, None] ** 2))
    X = images.reshape(n_samples, -1) + rng.normal(0.0, noise, (n_samples, image_size**2))
    return X, np.column_stack([rows, cols, widths])


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "n_levels": ["array-like"],
        "n_nuisance": [Interval(Integral, 0, None, closed="left")],
        "noise": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_factor_levels(n_samples=2000, *, n_levels=(4, 5), n_nuisance=2, noise=0.1,
                       random_state=None):
    """Factors of several levels and nuisance dimensions, mixed non-linearly.

    Each factor ``k`` takes one of ``n_levels[k]`` equally likely levels ``0, 1, ...``;
    its latent coordinate is the level, centred and scaled to unit variance, plus
    Gaussian jitter of standard deviation ``noise``. ``n_nuisance`` further latent
    coordinates are standard normal (variation no factor explains). The latent vector
    (factors first) is rotated by a random orthogonal matrix, and each coordinate ``x``
    is bent by ``x + 0.3 * tanh`` of the reversed vector's entry, so that no feature
    carries one factor alone: a test of disentangling with known, discrete factors
    (:class:`~skdeepclust.flow.DisentanglingFlow` should give each factor its own code
    block and the nuisance the residual block).

    Parameters
    ----------
    n_samples : int, default=2000
        Number of samples.
    n_levels : array-like of int, default=(4, 5)
        Number of levels of each factor (at least 2 each; at least one factor).
    n_nuisance : int, default=2
        Number of nuisance (residual) dimensions.
    noise : float, default=0.1
        Standard deviation of the jitter around each level, in units of the factor's
        standard deviation.
    random_state : int, RandomState instance or None, default=None
        Seed of the draws and of the mixing.

    Returns
    -------
    X : ndarray of shape (n_samples, len(n_levels) + n_nuisance)
        The mixed samples.
    factors : ndarray of shape (n_samples, len(n_levels))
        The level of each factor (0, 1, ...) for each sample.

    Examples
    --------
    >>> from skdeepclust.datasets import make_factor_levels
    >>> X, factors = make_factor_levels(6, random_state=0)
    >>> X.shape, factors.shape
    ((6, 4), (6, 2))
    """
    levels = np.asarray(n_levels)
    if (
        levels.ndim != 1
        or levels.size == 0
        or not np.issubdtype(levels.dtype, np.integer)
        or levels.min() < 2
    ):
        raise ValueError(
            f"n_levels must be a sequence of ints >= 2 (one per factor); got {n_levels!r}."
        )
    rng = check_random_state(random_state)
    factors = np.column_stack([rng.randint(int(k), size=n_samples) for k in levels])
    centred = (factors - (levels - 1) / 2.0) / np.sqrt((levels**2 - 1) / 12.0)
    latent = np.column_stack([
        centred + rng.normal(0.0, noise, centred.shape),
        rng.normal(size=(n_samples, int(n_nuisance))),
    ])
    d = latent.shape[1]
    rotation = np.linalg.qr(rng.normal(size=(d, d)))[0]
    X = latent @ rotation.T
    X = X + 0.3 * np.tanh(X[:, ::-1])
    return X, factors.astype(np.float64)
