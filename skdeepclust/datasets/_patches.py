"""Grey-scale natural image patches from scikit-learn's bundled sample images (no download)."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state

from ..utils._sklearn_compat import Interval, validate_params

__all__ = ["load_natural_patches"]

#: ITU-R BT.601 luma weights of R, G and B (what PIL's "L" mode uses).
_LUMA = np.array([0.299, 0.587, 0.114])
#: Side of the smaller sample image (both are 427 x 640).
_MAX_PATCH = 427


def _grey_sample_images() -> list[np.ndarray]:
    from sklearn.datasets import load_sample_images

    try:
        images = load_sample_images().images
    except ImportError as err:  # scikit-learn reads the JPEGs with Pillow
        raise ImportError(
            "load_natural_patches reads scikit-learn's sample images, which needs Pillow "
            "(pip install pillow; it comes with matplotlib)."
        ) from err
    return [np.asarray(img, dtype=np.float64) @ _LUMA / 255.0 for img in images]


def _local_std(img: np.ndarray, size: int) -> np.ndarray:
    """Standard deviation of every ``size x size`` window (top-left indexed)."""
    def box(a):
        c = np.pad(a, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
        return c[size:, size:] - c[:-size, size:] - c[size:, :-size] + c[:-size, :-size]

    n = size * size
    mean = box(img) / n
    return np.sqrt(np.maximum(box(img * img) / n - mean * mean, 0.0))


@validate_params(
    {
        "patch_size": [Interval(Integral, 1, _MAX_PATCH, closed="both")],
        "n_patches": [Interval(Integral, 1, None, closed="left")],
        "min_std": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def load_natural_patches(patch_size=14, n_patches=70000, *, min_std=0.05, random_state=None):
    """Square grey-scale patches cut at random from two photographs.

    The substitute, shipped with scikit-learn and read without a download, for the van
    Hateren natural image patches of PyDeep's tutorials (ICA, the Gaussian-binary RBM
    and the sparse autoencoder on natural images: 70,000 patches of 14 x 14 pixels). The
    two images of :func:`sklearn.datasets.load_sample_images` ("china.jpg", a temple
    with trees and sky, and "flower.jpg", 427 x 640 pixels each) are converted to grey
    levels in [0, 1] (ITU-R 601 luma), and the patches are drawn uniformly, with
    replacement, from every position of both images whose patch has a grey-level
    standard deviation of at least ``min_std`` (patches may overlap).

    The contrast threshold stands in for the variety of van Hateren's scenes: about 60 %
    of these photographs' patches are nearly flat (sky, blurred background; median
    standard deviation 0.02), and with them FastICA on the whitened patches finds mostly
    noise-like filters. With the default ``min_std=0.05`` (about 40 % of the positions
    qualify) it finds localised, oriented edge filters, and its log-likelihood on 14 x 14
    patches lands near PyDeep's on van Hateren's (see
    ``benchmarks/bench_natural_patches.py``). Other differences remain: two JPEG
    photographs instead of about 4,000 calibrated raw images, so far less variety, and
    JPEG's 8 x 8 block edges; read likelihoods on these patches as a substitute's, not as
    PyDeep's numbers. As in PyDeep's tutorials, remove each patch's mean (optional) and
    whiten (e.g. :class:`skdeepclust.preprocessing.ZCA`) before ICA or a Gaussian-binary
    RBM.

    Parameters
    ----------
    patch_size : int, default=14
        Side of the square patches in pixels (PyDeep: 14), at most 427.
    n_patches : int, default=70000
        Number of patches (PyDeep: 70,000, the first 40,000 for training).
    min_std : float, default=0.05
        Smallest grey-level standard deviation (grey levels in [0, 1]) of a patch; 0 keeps
        every position, flat regions included. Raise it for more textured data; a
        threshold that no patch meets raises a ``ValueError``.
    random_state : int, RandomState instance or None, default=None
        Seed of the positions.

    Returns
    -------
    X : ndarray of shape (n_patches, patch_size ** 2)
        Flattened patches (row-major), float64 grey levels in [0, 1].

    Examples
    --------
    >>> from skdeepclust.datasets import load_natural_patches
    >>> X = load_natural_patches(patch_size=8, n_patches=100, random_state=0)
    >>> X.shape
    (100, 64)
    >>> bool(X.min() >= 0.0 and X.max() <= 1.0)
    True
    """
    rng = check_random_state(random_state)
    images = _grey_sample_images()
    # every admissible (image, top, left), as flat indices into the stacked window grids
    grids = [_local_std(img, patch_size) >= min_std for img in images]
    counts = np.array([g.sum() for g in grids])
    if counts.sum() == 0:
        raise ValueError(
            f"No {patch_size}x{patch_size} patch of the sample images has a standard "
            f"deviation of at least min_std={min_std}; lower min_std.")
    pick = rng.randint(0, counts.sum(), size=n_patches)
    X = np.empty((n_patches, patch_size * patch_size), dtype=np.float64)
    offsets = np.arange(patch_size)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    for i, (img, grid) in enumerate(zip(images, grids)):
        rows = np.flatnonzero((pick >= bounds[i]) & (pick < bounds[i + 1]))
        if not rows.size:
            continue
        top, left = np.nonzero(grid)
        k = pick[rows] - bounds[i]
        top, left = top[k], left[k]
        patches = img[(top[:, None] + offsets)[:, :, None], (left[:, None] + offsets)[:, None, :]]
        X[rows] = patches.reshape(rows.size, -1)
    return np.clip(X, 0.0, 1.0)
