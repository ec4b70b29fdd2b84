"""The data generators and loaders of skdeepclust.datasets: shapes, values, seeds."""

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from skdeepclust import datasets
from skdeepclust.datasets import (
    load_mnist,
    load_natural_patches,
    make_arc,
    make_bars_and_stripes,
    make_blob_images,
    make_factor_levels,
    make_laplace_mixture_2d,
    make_shifting_bars,
)

GENERATORS = [
    (make_arc, {"n_samples": 50}),
    (make_bars_and_stripes, {"n_samples": 50, "length": 4}),
    (make_blob_images, {"n_samples": 20, "image_size": 6}),
    (make_factor_levels, {"n_samples": 50}),
    (make_laplace_mixture_2d, {"n_samples": 50}),
    (make_shifting_bars, {"n_samples": 50}),
    (load_natural_patches, {"patch_size": 6, "n_patches": 40}),
]


def _arrays(out):
    return out if isinstance(out, tuple) else (out,)


@pytest.mark.parametrize("make,kw", GENERATORS, ids=lambda v: getattr(v, "__name__", ""))
def test_random_state_makes_the_draw(make, kw):
    a, b = _arrays(make(**kw, random_state=0)), _arrays(make(**kw, random_state=0))
    c = _arrays(make(**kw, random_state=1))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert any(not np.array_equal(x, z) for x, z in zip(a, c))
    X = a[0]
    assert X.ndim == 2 and X.shape[0] == next(v for k, v in kw.items() if k.startswith("n_"))
    assert X.dtype == np.float64 and np.isfinite(X).all()


def test_every_public_name_is_covered():
    covered = {make.__name__ for make, _ in GENERATORS} | {"load_mnist"}
    assert covered == set(datasets.__all__)


def test_shifting_bars_complete_set():
    X = make_shifting_bars(length=7, bar_length=3)
    assert X.shape == (7, 7)
    assert len({tuple(r) for r in X}) == 7  # one pattern per start position
    np.testing.assert_array_equal(X.sum(1), 3)
    for start, row in enumerate(X):  # ones at start, start + 1, start + 2 (mod 7)
        np.testing.assert_array_equal(np.flatnonzero(row), sorted((start + np.arange(3)) % 7))
    np.testing.assert_array_equal(make_shifting_bars(length=7, bar_length=3, flipped=True),
                                  1 - X)
    shuffled = make_shifting_bars(length=7, bar_length=3, shuffle=True, random_state=0)
    assert not np.array_equal(shuffled, X)
    np.testing.assert_array_equal(np.sort(shuffled, axis=0), np.sort(X, axis=0))
    np.testing.assert_array_equal(make_shifting_bars(length=3, bar_length=3), np.ones((3, 3)))


def test_random_shifting_bars_are_uniform_over_the_patterns():
    complete = {tuple(r): i for i, r in enumerate(make_shifting_bars(length=5, bar_length=2))}
    X = make_shifting_bars(5000, length=5, bar_length=2, random_state=0)
    counts = np.bincount([complete[tuple(r)] for r in X], minlength=5)
    np.testing.assert_allclose(counts / 5000, 0.2, atol=0.03)
    flipped = make_shifting_bars(5000, length=5, bar_length=2, flipped=True, random_state=0)
    np.testing.assert_array_equal(flipped, 1 - X)


@pytest.mark.parametrize("kw,match", [
    ({"length": 3, "bar_length": 4}, "bar_length=4 should be <= length=3"),
    ({"n_samples": 0}, "n_samples"),
    ({"bar_length": 0}, "bar_length"),
])
def test_shifting_bars_bad_input(kw, match):
    with pytest.raises(ValueError, match=match):
        make_shifting_bars(**kw)


def test_bars_and_stripes_values():
    X = make_bars_and_stripes(200, length=3, random_state=0)
    assert X.shape == (200, 9) and set(np.unique(X)) <= {0.0, 1.0}


def test_natural_patches_are_crops_of_the_grey_sample_images():
    from sklearn.datasets import load_sample_images

    X = load_natural_patches(patch_size=5, n_patches=4, random_state=3)
    assert X.shape == (4, 25) and X.min() >= 0.0 and X.max() <= 1.0
    grey = [img @ [0.299, 0.587, 0.114] / 255.0 for img in load_sample_images().images]
    windows = [sliding_window_view(g, (5, 5)).reshape(-1, 25) for g in grey]
    for patch in X:
        assert any(np.abs(w - patch).max(axis=1).min() < 1e-12 for w in windows)


def test_natural_patches_contrast_threshold():
    X = load_natural_patches(patch_size=14, n_patches=2000, random_state=0)
    assert X.shape == (2000, 196)
    assert X.std(axis=1).min() >= 0.05 - 1e-9  # the default min_std
    # ZCA-like whitening needs a full-rank covariance: no pixel is constant
    assert np.linalg.matrix_rank(np.cov(X, rowvar=False)) == 196
    assert 0.2 < X.mean() < 0.8
    every = load_natural_patches(patch_size=14, n_patches=2000, min_std=0.0, random_state=0)
    assert np.median(every.std(axis=1)) < 0.05 < np.median(X.std(axis=1))
    textured = load_natural_patches(patch_size=8, n_patches=200, min_std=0.2, random_state=0)
    assert textured.std(axis=1).min() >= 0.2 - 1e-9


@pytest.mark.parametrize("kw,match", [({"patch_size": 0}, "patch_size"),
                                      ({"patch_size": 428}, "patch_size"),
                                      ({"n_patches": 0}, "n_patches"),
                                      ({"min_std": -1.0}, "min_std"),
                                      ({"min_std": 0.6}, "lower min_std")])
def test_natural_patches_bad_input(kw, match):
    with pytest.raises(ValueError, match=match):
        load_natural_patches(**kw)


@pytest.fixture
def tiny_mnist(tmp_path):
    rng = np.random.RandomState(0)
    X = rng.randint(0, 256, size=(7, 784)).astype(np.uint8)
    y = np.arange(7) % 10
    path = tmp_path / "mnist.npz"
    np.savez(path, X=X, y=y, n_train=5)
    return path, X, y


def test_load_mnist_subsets_and_encodings(tiny_mnist, monkeypatch):
    path, X, y = tiny_mnist
    Xa, ya = load_mnist(path)
    assert Xa.dtype == np.float32 and Xa.shape == (7, 784)
    np.testing.assert_allclose(Xa, X / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(ya, y)
    Xtr, _ = load_mnist(path, subset="train")
    Xte, yte = load_mnist(path, subset="test")
    assert Xtr.shape[0] == 5 and Xte.shape[0] == 2
    np.testing.assert_array_equal(yte, y[5:])
    Xb, _ = load_mnist(path, binarize=True, n_samples=3)
    np.testing.assert_array_equal(Xb, (X[:3] > 127.5).astype(np.float32))
    raw, _ = load_mnist(path, scale=False, dtype=np.float64)
    np.testing.assert_array_equal(raw, X.astype(np.float64))
    monkeypatch.setenv("SKDEEPCLUST_MNIST", str(path))
    np.testing.assert_array_equal(load_mnist()[0], Xa)


def test_load_mnist_bad_input(tiny_mnist, tmp_path, monkeypatch):
    monkeypatch.delenv("SKDEEPCLUST_MNIST", raising=False)
    with pytest.raises(FileNotFoundError, match="Nothing is downloaded"):
        load_mnist()
    with pytest.raises(FileNotFoundError, match="No MNIST file"):
        load_mnist(tmp_path / "missing.npz")
    with pytest.raises(ValueError, match="Unknown subset"):
        load_mnist(tiny_mnist[0], subset="validation")
