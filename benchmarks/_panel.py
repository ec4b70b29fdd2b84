"""The data panel of ``bench_defaults.py``: the shapes of data users bring.

Each loader returns ``(X, y)`` as float32 / int arrays, deterministic (synthetic sets are
drawn from a fixed seed so that every estimator and seed sees the same data). ``y`` is the
known structure the clusterers are scored against.
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, load_wine, make_blobs
from sklearn.preprocessing import StandardScaler

from _common import mnist_path


def digits():
    """scikit-learn's 8x8 digits scaled to [0, 1] (1 797 x 64, 10 classes)."""
    d = load_digits()
    return (d.data / 16.0).astype(np.float32), d.target


def _mnist(n: int | None):
    with np.load(mnist_path()) as f:
        X, y = f["X"], f["y"]
    X = X.reshape(len(X), -1).astype(np.float32) / 255.0
    if n is not None:
        X, y = X[:n], y[:n]
    return X, y.astype(np.int64)


def mnist10k():
    """The first 10 000 MNIST images (training split), pixels scaled to [0, 1]."""
    return _mnist(10_000)


def mnist70k():
    """All 70 000 MNIST images, pixels scaled to [0, 1]."""
    return _mnist(None)


def wine():
    """Wine (178 x 13, 3 cultivars), standardised: a small tabular set."""
    d = load_wine()
    return StandardScaler().fit_transform(d.data).astype(np.float32), d.target


def breast_cancer():
    """Breast cancer (569 x 30, 2 classes), standardised: a tabular set of a few hundred rows."""
    d = load_breast_cancer()
    return StandardScaler().fit_transform(d.data).astype(np.float32), d.target


def anisotropic_blobs():
    """Three blobs sheared by one linear map (scikit-learn's KMeans-assumptions example):
    elongated, correlated clusters where KMeans cuts across."""
    X, y = make_blobs(n_samples=1500, centers=3, random_state=170)
    X = X @ np.array([[0.6, -0.6], [-0.4, 0.8]])
    return X.astype(np.float32), y


def unequal_variance_blobs():
    """Three isotropic blobs with standard deviations 1, 2.5 and 0.5 (the same example)."""
    X, y = make_blobs(n_samples=1500, centers=3, cluster_std=[1.0, 2.5, 0.5], random_state=170)
    return X.astype(np.float32), y


def embeddings384():
    """Sentence-embedding-like data: 3 000 unit-norm 384-D vectors in 8 clusters.

    Cluster structure lives on a 16-D subspace (Gaussian clusters of unequal spread), mapped
    to 384-D by a random two-layer tanh network, plus isotropic noise, then L2-normalised
    as sentence encoders output them.
    """
    rng = np.random.RandomState(0)
    n, k, d_latent, d = 3000, 8, 16, 384
    y = rng.randint(k, size=n)
    centers = rng.normal(scale=1.0, size=(k, d_latent))
    spread = rng.uniform(0.7, 1.1, size=k)
    Z = centers[y] + rng.normal(size=(n, d_latent)) * spread[y, None]
    W1 = rng.normal(scale=1 / np.sqrt(d_latent), size=(d_latent, 128))
    W2 = rng.normal(scale=1 / np.sqrt(128), size=(128, d))
    X = np.tanh(np.tanh(Z @ W1) @ W2 * 2.0) + 2.4 * rng.normal(size=(n, d)) / np.sqrt(d)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X.astype(np.float32), y


#: name -> loader; the order of the report.
PANEL = {
    "digits": digits,
    "wine": wine,
    "breast_cancer": breast_cancer,
    "aniso_blobs": anisotropic_blobs,
    "varied_blobs": unequal_variance_blobs,
    "emb384": embeddings384,
    "mnist10k": mnist10k,
    "mnist70k": mnist70k,
}
