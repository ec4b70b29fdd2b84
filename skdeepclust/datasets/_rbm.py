"""Toy problems of the RBM tutorials: bars and stripes, shifting bars, 2-D Laplace mixtures
(PyDeep)."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state

from ..utils._sklearn_compat import Interval, validate_params

__all__ = ["make_bars_and_stripes", "make_laplace_mixture_2d", "make_shifting_bars"]

#: Laplace scale of unit variance, sqrt(2) / 2.
_UNIT_VARIANCE_SCALE = 0.7071067811865476


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left"), None],
        "length": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_bars_and_stripes(n_samples=None, *, length=3, random_state=None):
    """Binary ``length x length`` images made of full bars (columns) or stripes (rows).

    Each image switches every row on or off at random and, with probability 1/2, is
    transposed. With ``n_samples=None`` the complete set of the ``2 ** (length + 1) - 2``
    distinct images is returned instead, in a fixed order: the classic test bed for exact
    RBM log-likelihoods (the all-off and all-on images are both bars and stripes).

    Parameters
    ----------
    n_samples : int or None, default=None
        Number of random images, or None for the complete set.
    length : int, default=3
        Side of the square images.
    random_state : int, RandomState instance or None, default=None
        Seed of the random images.

    Returns
    -------
    X : ndarray of shape (n_samples, length ** 2)
        Flattened binary images (float64 0/1, row-major).

    Examples
    --------
    >>> from skdeepclust.datasets import make_bars_and_stripes
    >>> make_bars_and_stripes(length=2)
    array([[0., 0., 0., 0.],
           [0., 0., 1., 1.],
           [1., 1., 0., 0.],
           [1., 1., 1., 1.],
           [0., 1., 0., 1.],
           [1., 0., 1., 0.]])
    """
    if n_samples is None:
        codes = np.arange(2**length)[:, None] >> np.arange(length)[::-1] & 1
        stripes = np.repeat(codes, length, axis=1)  # row i of the image is bit i
        bars = np.tile(codes, (1, length))  # column j of the image is bit j
        bars = bars[1:-1]  # all-off / all-on already among the stripes
        return np.vstack([stripes, bars]).astype(np.float64)
    rng = check_random_state(random_state)
    rows = rng.randint(0, 2, size=(n_samples, length))
    images = np.repeat(rows[:, :, None], length, axis=2)
    flip = rng.rand(n_samples) < 0.5
    images[flip] = images[flip].transpose(0, 2, 1)
    return images.reshape(n_samples, length * length).astype(np.float64)


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left"), None],
        "length": [Interval(Integral, 1, None, closed="left")],
        "bar_length": [Interval(Integral, 1, None, closed="left")],
        "flipped": ["boolean"],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_shifting_bars(n_samples=None, *, length=9, bar_length=3, flipped=False,
                       shuffle=False, random_state=None):
    """Binary strips of ``length`` pixels holding one bar of ``bar_length`` ones.

    PyDeep's shifting-bars problem (``generate_shifting_bars``): the bar starts at a
    uniformly random position and wraps around the end of the strip, so there are exactly
    ``length`` distinct patterns, all equally likely. With ``n_samples=None`` the complete
    set is returned instead, one pattern per start position in order
    (``generate_shifting_bars_complete``): with few patterns and their exact
    log-likelihood ``-log(length)`` under the data distribution, a test bed for exact
    RBM likelihoods and for samplers that must jump between distant modes.

    Parameters
    ----------
    n_samples : int or None, default=None
        Number of random patterns, or None for the complete set.
    length : int, default=9
        Pixels of the strip.
    bar_length : int, default=3
        Ones in the bar; at most ``length``.
    flipped : bool, default=False
        Swap zeros and ones (a bar of zeros on a strip of ones), PyDeep's ``flipped``.
    shuffle : bool, default=False
        Shuffle the rows (PyDeep's ``random``; random patterns are in random order
        already, so this matters for the complete set).
    random_state : int, RandomState instance or None, default=None
        Seed of the positions and of the shuffle.

    Returns
    -------
    X : ndarray of shape (n_samples, length)
        Binary patterns (float64 0/1).

    Examples
    --------
    >>> from skdeepclust.datasets import make_shifting_bars
    >>> make_shifting_bars(length=4, bar_length=2)
    array([[1., 1., 0., 0.],
           [0., 1., 1., 0.],
           [0., 0., 1., 1.],
           [1., 0., 0., 1.]])
    """
    if bar_length > length:
        raise ValueError(f"bar_length={bar_length} should be <= length={length}.")
    rng = check_random_state(random_state)
    if n_samples is None:
        starts = np.arange(length)
    else:
        starts = rng.randint(0, length, size=n_samples)
    pixels = (np.arange(length)[None, :] - starts[:, None]) % length
    X = (pixels < bar_length).astype(np.float64)
    if shuffle:
        X = X[rng.permutation(X.shape[0])]
    if flipped:
        X = 1.0 - X
    return X


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "mean": [Real],
        "scale": [Interval(Real, 0, None, closed="neither")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_laplace_mixture_2d(n_samples=50000, *, mean=0.0, scale=_UNIT_VARIANCE_SCALE,
                            random_state=None):
    """A random linear mixture of two independent Laplace sources (PyDeep's 2-D mixture).

    The sources are drawn i.i.d. from ``Laplace(mean, scale)`` (the default scale gives
    unit variance), and mixed by a random matrix ``A`` with entries ``U(-0.5, 0.5)``:
    ``X = S @ A.T``, i.e. the columns of ``A`` are the mixing directions that ICA or a
    Gaussian-binary RBM should recover (see :func:`skdeepclust.metrics.amari_distance`).

    Parameters
    ----------
    n_samples : int, default=50000
    mean : float, default=0.0
        Location of both sources.
    scale : float, default=sqrt(2)/2
        Laplace scale of both sources.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    X : ndarray of shape (n_samples, 2)
    A : ndarray of shape (2, 2)
        The mixing matrix.

    Examples
    --------
    >>> from skdeepclust.datasets import make_laplace_mixture_2d
    >>> X, A = make_laplace_mixture_2d(1000, random_state=0)
    >>> X.shape, A.shape
    ((1000, 2), (2, 2))
    """
    rng = check_random_state(random_state)
    sources = rng.laplace(mean, scale, size=(n_samples, 2))
    mixing = rng.rand(2, 2) - 0.5
    return sources @ mixing.T, mixing
