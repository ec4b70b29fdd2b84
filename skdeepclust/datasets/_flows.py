"""Synthetic data with known factors for the flow models (gyoza's arc, blob images)."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state

from ..utils._sklearn_compat import Interval, validate_params

__all__ = ["make_arc", "make_blob_images"]


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
