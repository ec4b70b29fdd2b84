"""ZCA whitening and the RBM toy data sets."""

import numpy as np
import pytest
from sklearn.decomposition import PCA

from skdeepclust.datasets import make_bars_and_stripes, make_laplace_mixture_2d
from skdeepclust.preprocessing import ZCA


@pytest.fixture(scope="module")
def correlated():
    rng = np.random.RandomState(0)
    return rng.randn(400, 4) @ rng.randn(4, 4) + rng.randn(4) * 5


def test_zca_whitens_and_inverts(correlated):
    zca = ZCA().fit(correlated)
    Z = zca.transform(correlated)
    np.testing.assert_allclose(np.cov(Z, rowvar=False), np.eye(4), atol=1e-10)
    np.testing.assert_allclose(Z.mean(0), 0, atol=1e-10)
    np.testing.assert_allclose(zca.whitening_, zca.whitening_.T, atol=1e-12)
    np.testing.assert_allclose(zca.whitening_ @ zca.dewhitening_, np.eye(4), atol=1e-10)
    np.testing.assert_allclose(zca.inverse_transform(Z), correlated, atol=1e-9)
    assert np.all(np.diff(zca.explained_variance_) <= 0)


def test_zca_is_pca_whitening_rotated_back(correlated):
    zca = ZCA().fit(correlated)
    pca = PCA(whiten=True).fit(correlated)
    np.testing.assert_allclose(pca.transform(correlated) @ pca.components_,
                               zca.transform(correlated), atol=1e-8)
    np.testing.assert_allclose(zca.explained_variance_, pca.explained_variance_, rtol=1e-10)
    # ZCA is the whitening closest to the data (PCA whitening is a rotation of it)
    assert (np.linalg.norm(zca.transform(correlated) - (correlated - zca.mean_))
            < np.linalg.norm(pca.transform(correlated) - (correlated - zca.mean_)))


def test_zca_epsilon_and_degenerate_columns():
    X = np.random.RandomState(0).randn(50, 3)
    X[:, 2] = 1.0  # constant column
    zca = ZCA().fit(X)
    Z = zca.transform(X)
    assert np.isfinite(Z).all()
    np.testing.assert_allclose(zca.inverse_transform(Z), X, atol=1e-8)
    reg = ZCA(epsilon=1.0).fit(X)
    assert np.var(reg.transform(X)[:, 0]) < np.var(Z[:, 0])


def test_zca_float32(correlated):
    X = correlated.astype(np.float32)
    zca = ZCA().fit(X)
    assert zca.transform(X).dtype == np.float32
    assert zca.inverse_transform(zca.transform(X)).dtype == np.float32


def test_bars_and_stripes():
    complete = make_bars_and_stripes(length=4)
    assert complete.shape == (2 ** 5 - 2, 16)
    assert len({tuple(r) for r in complete}) == complete.shape[0]
    images = complete.reshape(-1, 4, 4)
    rows_const = (images == images[:, :, :1]).all(axis=(1, 2))
    cols_const = (images == images[:, :1, :]).all(axis=(1, 2))
    assert (rows_const | cols_const).all()
    random = make_bars_and_stripes(500, length=4, random_state=0)
    assert {tuple(r) for r in random} <= {tuple(r) for r in complete}
    np.testing.assert_array_equal(random, make_bars_and_stripes(500, length=4,
                                                                random_state=0))


def test_laplace_mixture():
    X, A = make_laplace_mixture_2d(200000, random_state=0)
    S = X @ np.linalg.inv(A).T
    np.testing.assert_allclose(S.var(0), 1.0, rtol=0.02)  # unit-variance Laplace sources
    kurtosis = (S ** 4).mean(0) / S.var(0) ** 2 - 3
    np.testing.assert_allclose(kurtosis, 3.0, atol=0.3)  # Laplace: excess kurtosis 3
    assert (np.abs(A) <= 0.5).all()


def test_zca_then_fastica_unmixes_laplace_sources():
    # the natural-patch benchmark's synthetic target in small: 10 unit-variance Laplace
    # sources, a random mixing matrix, ZCA, FastICA -> normalised Amari distance <= 0.05
    from sklearn.decomposition import FastICA

    from skdeepclust.metrics import amari_distance

    rng = np.random.RandomState(0)
    S = rng.laplace(0.0, np.sqrt(0.5), size=(5000, 10))
    A = rng.rand(10, 10) - 0.5
    zca = ZCA().fit(S @ A.T)
    Xw = zca.transform(S @ A.T)
    A_white = zca.whitening_.T @ A  # the mixing matrix seen in the whitened space
    np.testing.assert_allclose(A_white @ A_white.T, np.eye(10), atol=0.1)  # orthogonal
    W = FastICA(whiten=False, max_iter=500, random_state=0).fit(Xw).components_
    assert amari_distance(A_white, np.linalg.inv(W), normalize=True) <= 0.05
    assert amari_distance(A_white, np.eye(10), normalize=True) > 0.3  # whitening alone
