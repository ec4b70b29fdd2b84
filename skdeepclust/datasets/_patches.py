"""Grey-scale natural image patches from scikit-learn's bundled sample images (no download)."""

from __future__ import annotations

from numbers import Integral

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


@validate_params(
    {
        "patch_size": [Interval(Integral, 1, _MAX_PATCH, closed="both")],
        "n_patches": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def load_natural_patches(patch_size=14, n_patches=70000, *, random_state=None):
    """Square grey-scale patches cut at random from two photographs.

    The substitute, shipped with scikit-learn and read without a download, for the van
    Hateren natural image patches of PyDeep's tutorials (ICA, the Gaussian-binary RBM
    and the sparse autoencoder on natural images: 70,000 patches of 14 x 14 pixels). The
    two images of :func:`sklearn.datasets.load_sample_images` ("china.jpg", a temple
    with trees and sky, and "flower.jpg", 427 x 640 pixels each) are converted to grey
    levels in [0, 1] (ITU-R 601 luma) and every patch is taken from one of them, chosen
    with probability 1/2, at a uniformly random position (patches may overlap).

    The statistics differ from van Hateren's: two JPEG photographs instead of about
    4,000 calibrated raw images, so far less variety, large smooth regions (sky, petals)
    and JPEG's 8 x 8 block edges; likelihoods on these patches are not comparable with
    PyDeep's numbers, only the ordering of models is. As in PyDeep's tutorials, remove
    each patch's mean (optional) and whiten (e.g. :class:`skdeepclust.preprocessing.ZCA`)
    before ICA or a Gaussian-binary RBM.

    Parameters
    ----------
    patch_size : int, default=14
        Side of the square patches in pixels (PyDeep: 14), at most 427.
    n_patches : int, default=70000
        Number of patches (PyDeep: 70,000, the first 40,000 for training).
    random_state : int, RandomState instance or None, default=None
        Seed of the image choices and positions.

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
    which = rng.randint(0, len(images), size=n_patches)
    X = np.empty((n_patches, patch_size * patch_size), dtype=np.float64)
    offsets = np.arange(patch_size)
    for i, img in enumerate(images):
        rows = np.flatnonzero(which == i)
        top = rng.randint(0, img.shape[0] - patch_size + 1, size=rows.size)
        left = rng.randint(0, img.shape[1] - patch_size + 1, size=rows.size)
        patches = img[(top[:, None] + offsets)[:, :, None], (left[:, None] + offsets)[:, None, :]]
        X[rows] = patches.reshape(rows.size, -1)
    return np.clip(X, 0.0, 1.0)
