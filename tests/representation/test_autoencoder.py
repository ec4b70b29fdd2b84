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
from skdeepclust.representation._autoencoder_losses import NOISES, jacobian_frobenius_sq

FAST = dict(device="cpu", random_state=0)


@pytest.fixture(scope="module")
def low_rank():
    """300 x 12 data of rank 3 plus small noise."""
    rng = np.random.RandomState(0)
    X = rng.randn(300, 3) @ rng.randn(3, 12) + 0.05 * rng.randn(300, 12)
    return StandardScaler().fit_transform(X)


@pytest.mark.usefixtures("compute_in_input_dtype")
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
    elif noise == "kwta":
        # exactly floor(0.2 * 50) = 10 zeros per row: the row's 10 smallest entries
        assert ((y == 0).sum(dim=1) == 10).all()
        torch.testing.assert_close(y.sum(dim=1), x.topk(40, dim=1).values.sum(dim=1))


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


# ---------------------------------------------------------------- k-winners-take-all
def test_kwta_corruption_keeps_each_rows_largest_entries_by_hand():
    g = torch.Generator().manual_seed(0)
    x = torch.tensor([[3.0, 1.0, 2.0, 5.0], [0.5, 4.0, -1.0, 2.0]])
    kwta = NOISES["kwta"]
    # noise_level 0.5 of 4 entries: k = 4 - 2 = 2 winners per row
    torch.testing.assert_close(kwta(x, 0.5, g), torch.tensor([[3.0, 0, 0, 5], [0, 4, 0, 2]]))
    # 0.25: k = 3; a level of 1 or more still keeps one winner
    torch.testing.assert_close(kwta(x, 0.25, g), torch.tensor([[3.0, 0, 2, 5], [0.5, 4, 0, 2]]))
    torch.testing.assert_close(kwta(x, 1.5, g), torch.tensor([[0.0, 0, 0, 5], [0, 4, 0, 0]]))
    # ties with the k-th largest are kept, as PyDeep's KeepKWinner (x >= k-th value)
    ties = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    torch.testing.assert_close(kwta(ties, 0.5, g), ties)


def test_code_kwta_objective_matches_a_hand_computation():
    X = np.random.RandomState(0).rand(6, 5)
    ae = AutoEncoder(4, hidden_layer_sizes=(), tied_weights=True, code_activation="sigmoid",
                     code_noise="kwta", code_noise_level=0.5, max_epochs=0, tol=None,
                     **FAST).fit(X)
    rng = np.random.RandomState(1)
    W, c, b = rng.randn(4, 5), rng.randn(4), rng.randn(5)
    lin, dec = ae.module_.encoder.linears[0], ae.module_.decoder.layers[0]
    with torch.no_grad():
        lin.weight.copy_(torch.as_tensor(W))
        lin.bias.copy_(torch.as_tensor(c))
        dec.bias.copy_(torch.as_tensor(b))
    x = torch.as_tensor(X).to(lin.weight.dtype)
    got = ae._objective(x, torch.Generator()).item()
    h = 1 / (1 + np.exp(-(X @ W.T + c)))
    kth = np.sort(h, axis=1)[:, -2][:, None]  # 2 winners of 4 per sample
    y = (h * (h >= kth)) @ W + b
    assert got == pytest.approx(np.mean((y - X) ** 2), rel=1e-5)
    # training only: transform returns the whole code
    np.testing.assert_allclose(ae.transform(X), h, rtol=1e-5)


def test_kwta_code_noise_trains_a_decoder_for_sparse_codes(digits):
    X, _ = digits
    kw = dict(n_components=32, hidden_layer_sizes=(), code_activation="relu", max_epochs=20,
              learning_rate=1e-2, tol=None, **FAST)
    ae = AutoEncoder(**kw, code_noise="kwta", code_noise_level=0.75).fit(X[:500])
    x = torch.as_tensor(X[:500]).to(ae.module_.encoder.linears[0].weight.dtype)
    with torch.no_grad():
        h = ae.module_.encode(x)
        sparse_err = torch.mean((ae.module_.decode(NOISES["kwta"](h, 0.75, None)) - x) ** 2)
    plain = AutoEncoder(**kw).fit(X[:500])
    with torch.no_grad():
        h = plain.module_.encode(x)
        plain_err = torch.mean((plain.module_.decode(NOISES["kwta"](h, 0.75, None)) - x) ** 2)
    # from its 8 largest code units, the kwta-trained decoder reconstructs better (0.020
    # against 0.035 for seed 0)
    assert sparse_err < 0.7 * plain_err


# ------------------------------------------------------------------------ centering
def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


def test_centered_offsets_start_at_the_data_and_hidden_means():
    X = np.random.RandomState(0).rand(40, 6)
    ae = AutoEncoder(3, hidden_layer_sizes=(), tied_weights=True, code_activation="sigmoid",
                     output_activation="sigmoid", loss="cross_entropy", centered=True,
                     max_epochs=0, tol=None, **FAST).fit(X)
    lin = ae.module_.encoder.linears[0]
    W = lin.weight.detach().double().numpy()
    mu = X.mean(axis=0)
    np.testing.assert_allclose(ae.visible_offset_, mu, rtol=1e-5)
    # biases start at zero (PyDeep's centered start): the hidden offset is mean sigmoid(0 + ...)
    np.testing.assert_allclose(ae.hidden_offset_, _sigmoid((X - mu) @ W.T).mean(axis=0),
                               rtol=1e-5)
    # a sigmoid output starts at the logit of the data mean (clipped), as PyDeep's 'AUTO'
    p = np.clip(mu, 0.001, 0.999)
    np.testing.assert_allclose(ae.intercept_visible_ + ae.components_.T @ ae.hidden_offset_,
                               np.log(p / (1 - p)), rtol=1e-5)
    # the fitted attributes describe the same function on uncentered input
    np.testing.assert_allclose(ae.transform(X), _sigmoid(X @ ae.components_.T
                                                         + ae.intercept_hidden_), rtol=1e-5)
    assert not AutoEncoder(3, **FAST).fit(X).visible_offset_.any()


def test_centered_training_is_invariant_to_flipping_the_data(digits):
    """Centering's hallmark (Melchior et al., 2016; PyDeep's flipped-MNIST runs): a centered
    sigmoid autoencoder learns the same from 1 - X as from X; the normal one does not."""
    X = digits[0][:300].astype(np.float64)
    kw = dict(n_components=8, hidden_layer_sizes=(), tied_weights=True,
              code_activation="sigmoid", output_activation="sigmoid", loss="cross_entropy",
              optimizer="sgd", momentum=0.0, learning_rate=1.0, batch_size=10, max_epochs=2,
              tol=None, **FAST)
    errors = {}
    for centered in (True, False):
        errors[centered] = [-AutoEncoder(**kw, centered=centered).fit(Z).score(Z)
                            for Z in (X, 1 - X)]
    assert errors[True][0] == pytest.approx(errors[True][1], rel=1e-4)
    assert abs(errors[False][0] - errors[False][1]) > 0.01
    assert errors[True][1] < errors[False][1]


def test_moving_offsets_keep_the_function():
    from skdeepclust.nn.autoencoder import AutoEncoderModule

    torch.manual_seed(0)
    for tied in (True, False):
        m = AutoEncoderModule(5, (4,), 2, activation="sigmoid", tied_weights=tied,
                              centered=True).double()
        x = torch.rand(30, 5, dtype=torch.float64)
        before = m(x).detach()
        with torch.no_grad(), m.tracking_offsets(0.3):
            m(x + 1.0)  # the offsets move (toward a shifted batch), the biases follow
        assert m.encoder.linears[0].offset.abs().min() > 0.3
        torch.testing.assert_close(m(x), before)


def test_centered_sgd_step_matches_pydeeps_gradient_by_hand():
    """One SGD step of a centered tied autoencoder against PyDeep's update, by hand.

    PyDeep (ae/trainer.py): forward, then the offsets move by nu toward the batch means
    with the biases reparameterised, then the gradient at the new offsets:
    dW = delta_h^T (x - mu') + (h - lambda')^T delta_y.
    """
    rng = np.random.RandomState(0)
    X = rng.rand(8, 5).astype(np.float32)
    lr, nu = 0.5, 0.2
    ae = AutoEncoder(3, hidden_layer_sizes=(), tied_weights=True, code_activation="sigmoid",
                     centered=True, offset_learning_rate=nu, optimizer="sgd", momentum=0.0,
                     learning_rate=lr, batch_size=8, max_epochs=0, tol=None, **FAST).fit(X)
    W, c, b = rng.randn(3, 5), 0.1 * rng.randn(3), 0.1 * rng.randn(5)
    mu, lam = rng.rand(5), rng.rand(3)
    enc, dec = ae.module_.encoder.linears[0], ae.module_.decoder.layers[0]
    with torch.no_grad():
        for t, v in [(enc.weight, W), (enc.bias, c), (dec.bias, b), (enc.offset, mu),
                     (dec.offset, lam)]:
            t.copy_(torch.as_tensor(v))
    ae.partial_fit(X)  # one epoch of one batch: one step

    x = X.astype(np.float64)
    mu2 = (1 - nu) * mu + nu * x.mean(0)
    c2 = c + (mu2 - mu) @ W.T
    h = _sigmoid((x - mu2) @ W.T + c2)
    lam2 = (1 - nu) * lam + nu * h.mean(0)
    b2 = b + (lam2 - lam) @ W
    y = (h - lam2) @ W + b2
    d_y = 2 * (y - x) / y.size  # d mean((y - x)^2) / dy
    d_h = (d_y @ W.T) * h * (1 - h)
    grad_W = d_h.T @ (x - mu2) + (h - lam2).T @ d_y
    np.testing.assert_allclose(ae.visible_offset_, mu2, rtol=1e-5)
    np.testing.assert_allclose(ae.hidden_offset_, lam2, rtol=1e-5)
    np.testing.assert_allclose(ae.components_, W - lr * grad_W, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(enc.bias.detach().numpy(), c2 - lr * d_h.sum(0), atol=1e-6)
    np.testing.assert_allclose(dec.bias.detach().numpy(), b2 - lr * d_y.sum(0), atol=1e-6)


def test_centered_deep_autoencoder_fits_and_pickles(digits):
    import pickle

    X, _ = digits
    ae = AutoEncoder(8, hidden_layer_sizes=(32,), centered=True, max_epochs=3, tol=None,
                     **FAST).fit(X[:300])
    assert ae.loss_curve_[-1] < ae.loss_curve_[0]
    assert len(ae.module_.centered_layers()) == 4
    again = pickle.loads(pickle.dumps(ae))
    np.testing.assert_array_equal(again.transform(X[:50]), ae.transform(X[:50]))


# ---------------------------------------------------------------------- sparse input
@pytest.fixture(scope="module")
def sparse_counts():
    """Bag-of-words-like counts: 400 x 60, 10% non-zeros, scaled to [0, 1]."""
    import scipy.sparse as sp

    X = sp.random(400, 60, density=0.1, format="csr", random_state=0,
                  data_rvs=lambda n: np.random.RandomState(1).randint(1, 5, n))
    return (X / 4.0).tocsr()


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("extra", [{}, {"centered": True, "noise": "dropout", "slowness": 0.1}])
def test_sparse_fit_gives_the_dense_fit(sparse_counts, fmt, extra):
    X = sparse_counts.asformat(fmt)
    kw = dict(n_components=4, hidden_layer_sizes=(8,), max_epochs=3, batch_size=32,
              tol=None, **FAST, **extra)
    a = AutoEncoder(**kw).fit(X)
    b = AutoEncoder(**kw).fit(X.toarray())
    for pa, pb in zip(a.module_.state_dict().values(), b.module_.state_dict().values()):
        torch.testing.assert_close(pa, pb, rtol=0, atol=0)
    # float64 inference: equal up to the summation order of a Fortran-ordered dense copy
    np.testing.assert_allclose(a.transform(X), b.transform(X.toarray()), rtol=1e-12, atol=0)
    np.testing.assert_allclose(a.reconstruct(X), b.reconstruct(X.toarray()), rtol=1e-12)
    assert a.score(X) == pytest.approx(b.score(X.toarray()), rel=1e-12)
    a.partial_fit(X)
    b.partial_fit(X.toarray())
    np.testing.assert_array_equal(a.components_, b.components_)


def test_sparse_input_is_never_densified_whole(sparse_counts, monkeypatch):
    import scipy.sparse as sp

    from skdeepclust._sparse import SparseRows

    X = sp.vstack([sparse_counts] * 10).tocsr()  # 4000 x 60
    shapes = []
    select = SparseRows.index_select
    toarray = sp.csr_matrix.toarray

    def record_select(self, dim, rows):
        out = select(self, dim, rows)
        shapes.append(tuple(out.shape))
        return out

    def record_toarray(self, *args, **kwargs):
        shapes.append(self.shape)
        return toarray(self, *args, **kwargs)

    def no_whole_tensor(self, X):
        raise AssertionError("the whole training set was made a dense tensor")

    monkeypatch.setattr(SparseRows, "index_select", record_select)
    monkeypatch.setattr(sp.csr_matrix, "toarray", record_toarray)
    monkeypatch.setattr(AutoEncoder, "_to_tensor", no_whole_tensor)
    monkeypatch.setattr(AutoEncoder, "_inference_batch_size", lambda self, *a: 500)
    ae = AutoEncoder(4, hidden_layer_sizes=(8,), centered=True, max_epochs=2, batch_size=64,
                     tol=None, **FAST).fit(X)
    Z = ae.transform(X)
    assert Z.shape == (4000, 4) and np.isfinite(ae.score(X))
    assert shapes and max(rows for rows, _ in shapes) <= 1024  # batches, chunks, offset sample
    assert {cols for _, cols in shapes} == {60}
    np.testing.assert_array_equal(Z[:10], ae.transform(X[:10].toarray()))


def test_sparse_cross_entropy_checks_the_range_without_densifying(sparse_counts):
    kw = dict(n_components=3, hidden_layer_sizes=(), loss="cross_entropy",
              output_activation="sigmoid", max_epochs=1, tol=None, **FAST)
    AutoEncoder(**kw).fit(sparse_counts)
    with pytest.raises(ValueError, match=r"needs X in \[0, 1\]"):
        AutoEncoder(**kw).fit(sparse_counts * 4)
