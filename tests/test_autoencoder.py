"""AutoEncoder: reconstruction, penalties, corruptions, tied weights and sklearn use."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdeepclust.representation import AutoEncoder
from skdeepclust.representation._autoencoder import NOISES, jacobian_frobenius_sq

FAST = dict(device="cpu", random_state=0)


@pytest.fixture(scope="module")
def low_rank():
    """300 x 12 data of rank 3 plus small noise."""
    rng = np.random.RandomState(0)
    X = rng.randn(300, 3) @ rng.randn(3, 12) + 0.05 * rng.randn(300, 12)
    return StandardScaler().fit_transform(X)


def test_linear_autoencoder_reaches_the_pca_reconstruction_error(low_rank):
    X = low_rank
    pca = PCA(3).fit(X)
    pca_err = np.mean((pca.inverse_transform(pca.transform(X)) - X) ** 2)
    ae = AutoEncoder(3, activation="identity", max_epochs=300, learning_rate=1e-2,
                     batch_size=64, tol=None, **FAST).fit(X)
    ae_err = np.mean((ae.inverse_transform(ae.transform(X)) - X) ** 2)
    assert ae_err == pytest.approx(-ae.score(X))
    assert ae_err < 1.05 * pca_err + 1e-4  # PCA is the optimum of a linear AE
    assert ae.loss_curve_[-1] < 0.05 * ae.loss_curve_[0]


def test_nonlinear_autoencoder_learns_digits(digits):
    X, _ = digits
    ae = AutoEncoder(16, hidden_layer_sizes=(64,), max_epochs=15, **FAST).fit(X)
    baseline = np.mean((X - X.mean(0)) ** 2)
    assert -ae.score(X) < 0.35 * baseline
    assert ae.transform(X).dtype == np.float32


def test_contractive_penalty_is_the_exact_jacobian_norm():
    torch.manual_seed(0)
    lin = torch.nn.Linear(5, 3)
    enc = torch.nn.Sequential(lin, torch.nn.Sigmoid())
    x = torch.randn(7, 5)
    h = enc(x)
    closed_form = ((h * (1 - h)) ** 2) @ (lin.weight**2).sum(dim=1)  # sum_j f'(a_j)^2 |W_j|^2
    torch.testing.assert_close(jacobian_frobenius_sq(enc, x), closed_form)
    jacobian_frobenius_sq(enc, x).sum().backward()
    assert lin.weight.grad is not None and lin.weight.grad.abs().sum() > 0


def test_contractive_training_shrinks_the_jacobian(digits):
    X, _ = digits
    X = X[:400]
    kw = dict(n_components=8, code_activation="sigmoid", max_epochs=10, **FAST)
    plain = AutoEncoder(**kw).fit(X)
    contr = AutoEncoder(**kw, contractive=1.0).fit(X)
    x = torch.as_tensor(X)
    j_plain = jacobian_frobenius_sq(plain.module_.encoder, x).mean()
    j_contr = jacobian_frobenius_sq(contr.module_.encoder, x).mean()
    assert j_contr < 0.5 * j_plain


def test_sparsity_penalty_drives_mean_activation_to_target(digits):
    X, _ = digits
    ae = AutoEncoder(20, code_activation="sigmoid", sparsity_weight=1.0, sparsity_target=0.05,
                     max_epochs=30, learning_rate=1e-2, **FAST).fit(X[:500])
    dense = AutoEncoder(20, code_activation="sigmoid", max_epochs=30, learning_rate=1e-2,
                        **FAST).fit(X[:500])
    assert ae.transform(X[:500]).mean() < 0.5 * dense.transform(X[:500]).mean()
    assert ae.transform(X[:500]).mean() < 0.15


def test_slowness_makes_consecutive_codes_closer():
    rng = np.random.RandomState(0)
    t = np.linspace(0, 20, 400)
    X = np.c_[np.sin(t), np.cos(t), rng.randn(400, 4)]  # slow features + fast noise
    kw = dict(n_components=2, hidden_layer_sizes=(), max_epochs=40, learning_rate=1e-2, **FAST)
    slow = AutoEncoder(**kw, slowness=5.0).fit(X)
    plain = AutoEncoder(**kw).fit(X)

    def jitter(ae):
        Z = ae.transform(X)
        return np.mean(np.sum(np.diff(Z, axis=0) ** 2, axis=1)) / np.var(Z, axis=0).sum()

    assert jitter(slow) < 0.5 * jitter(plain)


@pytest.mark.parametrize("noise", sorted(NOISES))
def test_corruptions_have_the_documented_statistics(noise):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2000, 50, dtype=torch.float64, generator=g)
    y = NOISES[noise](x, 0.2, g)
    assert y.shape == x.shape and y.dtype == x.dtype
    if noise == "gaussian":
        assert abs((y - x).std().item() - 0.2) < 0.01 and abs((y - x).mean().item()) < 0.01
    elif noise == "multiplicative":
        assert abs(((y / x) - 1).std().item() - 0.2) < 0.01
    elif noise == "dropout":
        assert abs((y == 0).double().mean().item() - 0.2) < 0.01
        assert torch.equal(y[y != 0], x[y != 0])
    elif noise == "binary":
        assert set(torch.unique(y).tolist()) == {0.0, 1.0}
        assert abs(y.mean().item() - x.mean().item()) < 0.01
    elif noise == "permutation":
        # each row keeps its values, and about 20% of the entries move
        torch.testing.assert_close(torch.sort(y, dim=1).values, torch.sort(x, dim=1).values)
        moved = (y != x).double().mean().item()
        assert 0.12 < moved < 0.2


def test_denoising_autoencoder_fits(digits):
    X, _ = digits
    for noise in ("dropout", "gaussian"):
        ae = AutoEncoder(16, hidden_layer_sizes=(32,), noise=noise, max_epochs=3, **FAST).fit(X)
        assert ae.loss_curve_[-1] < ae.loss_curve_[0]


def test_tied_weights_share_parameters(digits):
    X, _ = digits
    ae = AutoEncoder(8, hidden_layer_sizes=(16,), tied_weights=True, loss="cross_entropy",
                     output_activation="sigmoid", max_epochs=3, **FAST).fit(X)
    enc = ae.module_.encoder.linears
    dec = ae.module_.decoder.layers
    torch.testing.assert_close(dec[0].weight, enc[-1].weight.t())
    torch.testing.assert_close(dec[-1].weight, enc[0].weight.t())
    n_params = sum(p.numel() for p in ae.module_.parameters())
    assert n_params == 64 * 16 + 16 * 8 + (16 + 8) + (16 + 64)  # weights once, 4 biases
    assert ae.components_.shape == (16, 64) and ae.intercept_visible_.shape == (64,)


def test_cross_entropy_needs_unit_interval_data():
    X = np.random.RandomState(0).randn(20, 3)
    with pytest.raises(ValueError, match=r"needs X in \[0, 1\]"):
        AutoEncoder(2, loss="cross_entropy", output_activation="sigmoid", **FAST).fit(X)
    with pytest.raises(ValueError, match="output_activation='sigmoid'"):
        AutoEncoder(2, loss="cross_entropy", **FAST).fit(np.abs(X) / 10)


def test_partial_fit_continues_training(digits):
    X, _ = digits
    ae = AutoEncoder(8, **FAST)
    for _ in range(4):
        ae.partial_fit(X)
    assert ae.n_iter_ == 4 and len(ae.loss_curve_) == 4
    assert ae.loss_curve_[-1] < ae.loss_curve_[0]


def test_float32_and_float64_fits_agree(digits):
    X, _ = digits
    a = AutoEncoder(4, max_epochs=3, **FAST).fit(X[:300].astype(np.float32))
    b = AutoEncoder(4, max_epochs=3, **FAST).fit(X[:300].astype(np.float64))
    assert a.transform(X[:300]).dtype == np.float32  # computed in the fitted dtype
    np.testing.assert_allclose(a.transform(X[:300].astype(np.float32)),
                               b.transform(X[:300]), rtol=1e-3, atol=1e-4)


def test_pipeline_and_grid_search_use_score(digits):
    X, _ = digits
    pipe = make_pipeline(StandardScaler(), AutoEncoder(4, max_epochs=2, **FAST))
    search = GridSearchCV(pipe, {"autoencoder__n_components": [2, 8]}, cv=2).fit(X[:300])
    assert search.best_params_ == {"autoencoder__n_components": 8}  # more code, less error
    assert search.transform(X[:5]).shape == (5, 8)
    assert list(search.best_estimator_.get_feature_names_out()) == [
        f"autoencoder{i}" for i in range(8)
    ]


def test_default_architecture_is_nonlinear_and_resolved_privately():
    X = load_digits().data[:300] / 16
    ae = AutoEncoder(n_components=4, max_epochs=40, batch_size=32, tol=None, **FAST).fit(X)
    assert ae.hidden_layer_sizes == "auto"  # the public parameter is untouched
    assert ae._hidden_layer_sizes == (256, 256)
    assert len(ae.module_.encoder.linears) == 3
    pca = PCA(4).fit(X)
    pca_error = np.mean((pca.inverse_transform(pca.transform(X)) - X) ** 2)
    # a nonlinear code of the same size reconstructs better than the best linear one
    assert np.mean(ae.reconstruction_error(X)) < 0.8 * pca_error


def test_stopping_at_max_epochs_warns_unless_tol_is_none():
    X = load_digits().data[:200] / 16
    with pytest.warns(ConvergenceWarning, match=r"AutoEncoder \(training\) stopped at "
                      r"max_epochs=3 before the loss improved by less than tol"):
        AutoEncoder(max_epochs=3, **FAST).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        AutoEncoder(max_epochs=3, tol=None, **FAST).fit(X)


def test_feature_names_out_need_a_fit_and_follow_the_fitted_code_size(digits):
    from sklearn.exceptions import NotFittedError

    ae = AutoEncoder(3, max_epochs=1, **FAST)
    with pytest.raises(NotFittedError):
        ae.get_feature_names_out()
    ae.fit(digits[0][:100])
    ae.set_params(n_components=5)  # not refitted: the names describe the fitted codes
    assert list(ae.get_feature_names_out()) == ["autoencoder0", "autoencoder1", "autoencoder2"]
