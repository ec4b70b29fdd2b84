"""Offline MNIST loader (nothing is downloaded)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["load_mnist"]

ENV_VAR = "SKDEEPCLUST_MNIST"


def load_mnist(
    path: str | os.PathLike | None = None,
    *,
    subset: str = "all",
    n_samples: int | None = None,
    scale: bool = True,
    binarize: bool = False,
    dtype=np.float32,
):
    """Load MNIST from a local ``mnist.npz`` (keys ``X``, ``y``, ``n_train``).

    Nothing is downloaded: pass ``path`` or set the ``SKDEEPCLUST_MNIST`` environment
    variable to the file.

    Parameters
    ----------
    path : str or path-like, default=None
        The npz file; defaults to ``$SKDEEPCLUST_MNIST``.
    subset : {"all", "train", "test"}, default="all"
        DEC/IDEC cluster all 70,000 images; RBM likelihoods train on the first 60,000
        ("train") and report on the last 10,000 ("test").
    n_samples : int, default=None
        Keep only the first ``n_samples`` rows of the subset (e.g. MNIST-10k).
    scale : bool, default=True
        Divide the pixels by 255.
    binarize : bool, default=False
        Return ``X / 255 > 0.5`` as 0/1 (PyDeep's binary MNIST).
    dtype : numpy dtype, default=np.float32

    Returns
    -------
    X : ndarray of shape (n, 784)
    y : ndarray of shape (n,)
    """
    path = path if path is not None else os.environ.get(ENV_VAR)
    if path is None:
        raise FileNotFoundError(
            "load_mnist needs the path of a local mnist.npz (keys X, y, n_train): pass "
            f"path=... or set the {ENV_VAR} environment variable. Nothing is downloaded."
        )
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No MNIST file at {str(path)!r}.")
    if subset not in ("all", "train", "test"):
        raise ValueError(f"Unknown subset {subset!r}; valid options are ['all', 'test', 'train'].")
    with np.load(path) as data:
        X, y, n_train = data["X"], data["y"], int(data["n_train"])
    if subset == "train":
        X, y = X[:n_train], y[:n_train]
    elif subset == "test":
        X, y = X[n_train:], y[n_train:]
    if n_samples is not None:
        X, y = X[:n_samples], y[:n_samples]
    if binarize:
        X = (X > 127.5).astype(dtype)
    elif scale:
        X = X.astype(dtype) / dtype(255.0)
    else:
        X = X.astype(dtype)
    return X, y
