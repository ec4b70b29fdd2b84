"""Tests of the deep generative decoder: nn building blocks and GMMRepresentation."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from skdeepclust.nn.dgd import (
    OUTPUT_DISTRIBUTIONS,
    DeepGenerativeDecoder,
    GaussianOutput,
    NegativeBinomialOutput,
    PoissonOutput,
    RepresentationLayer,
    sample_gamma,
)

F64 = torch.float64


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------- output distributions
def _counts(seed=0, shape=(6, 5)):
    return torch.tensor(np.random.default_rng(seed).poisson(3.0, size=shape), dtype=F64)


def test_negative_binomial_matches_scipy_with_log_link():
    out = NegativeBinomialOutput(5).to(F64)
    with torch.no_grad():
        out.log_dispersion.copy_(torch.log(torch.tensor([0.3, 1.0, 2.0, 7.5, 40.0], dtype=F64)))
    raw = torch.randn(6, 5, generator=_gen(), dtype=F64)
    x = _counts()
    mu = torch.exp(raw).numpy()
    r = out.dispersion().detach().numpy()
    expected = stats.nbinom(n=r, p=r / (r + mu)).logpmf(x.numpy()).sum(1)
    np.testing.assert_allclose(out.log_prob(raw, x).detach().numpy(), expected, rtol=1e-10)
    np.testing.assert_allclose(out.mean(raw).detach().numpy(), mu)


def test_negative_binomial_matches_scipy_with_library_size():
    out = NegativeBinomialOutput(5, init_dispersion=2.5).to(F64)
    raw = torch.randn(6, 5, generator=_gen(1), dtype=F64)
    x = _counts(1)
    lib = x.sum(1)
    mu = (lib[:, None] * torch.softmax(raw, 1)).numpy()
    np.testing.assert_allclose(out.mean(raw, lib).detach().numpy(), mu, rtol=1e-12)
    np.testing.assert_allclose(out.mean(raw, lib).sum(1).detach().numpy(), lib.numpy())
    expected = stats.nbinom(n=2.5, p=2.5 / (2.5 + mu)).logpmf(x.numpy()).sum(1)
    np.testing.assert_allclose(out.log_prob(raw, x, lib).detach().numpy(), expected, rtol=1e-8)


def test_poisson_matches_scipy():
    out = PoissonOutput(5).to(F64)
    raw = torch.randn(6, 5, generator=_gen(2), dtype=F64)
    x = _counts(2)
    expected = stats.poisson(np.exp(raw.numpy())).logpmf(x.numpy()).sum(1)
    np.testing.assert_allclose(out.log_prob(raw, x).detach().numpy(), expected, rtol=1e-10)
    lib = x.sum(1) + 1
    mu = (lib[:, None] * torch.softmax(raw, 1)).numpy()
    expected = stats.poisson(mu).logpmf(x.numpy()).sum(1)
    np.testing.assert_allclose(out.log_prob(raw, x, lib).detach().numpy(), expected, rtol=1e-10)


def test_gaussian_and_bernoulli_match_scipy():
    raw = torch.randn(4, 3, generator=_gen(3), dtype=F64)
    out = GaussianOutput(3).to(F64)
    with torch.no_grad():
        out.log_scale.copy_(torch.log(torch.tensor([0.5, 1.0, 2.0], dtype=F64)))
    x = torch.randn(4, 3, generator=_gen(4), dtype=F64)
    expected = stats.norm(raw.numpy(), [0.5, 1.0, 2.0]).logpdf(x.numpy()).sum(1)
    np.testing.assert_allclose(out.log_prob(raw, x).detach().numpy(), expected, rtol=1e-12)

    out = OUTPUT_DISTRIBUTIONS["bernoulli"](3).to(F64)
    xb = (x > 0).to(F64)
    p = 1 / (1 + np.exp(-raw.numpy()))
    expected = stats.bernoulli(p).logpmf(xb.numpy()).sum(1)
    np.testing.assert_allclose(out.log_prob(raw, xb).detach().numpy(), expected, rtol=1e-8)


def test_gaussian_scale_floor():
    out = GaussianOutput(2, min_scale=0.01)
    with torch.no_grad():
        out.log_scale.fill_(-50.0)
    assert torch.allclose(out.scale(), torch.tensor(0.01))


def test_gamma_sampler_matches_scipy_and_is_reproducible():
    shapes = [0.2, 1.0, 3.5, 50.0]
    shape = torch.tensor(shapes, dtype=F64).repeat(20000, 1)
    draws = sample_gamma(shape, _gen(0))
    for j, a in enumerate(shapes):
        assert stats.kstest(draws[:, j].numpy(), stats.gamma(a).cdf).pvalue > 1e-3, a
    assert torch.equal(draws, sample_gamma(shape, _gen(0)))
    assert bool((draws >= 0).all())


def test_negative_binomial_sampler_moments():
    out = NegativeBinomialOutput(3).to(F64)
    with torch.no_grad():
        out.log_dispersion.copy_(torch.log(torch.tensor([0.5, 2.0, 20.0])))
    raw = torch.log(torch.tensor([[4.0, 10.0, 1.5]], dtype=F64)).repeat(40000, 1)
    x = out.sample(raw, generator=_gen(1))
    mu = np.array([4.0, 10.0, 1.5])
    r = np.array([0.5, 2.0, 20.0])
    np.testing.assert_allclose(x.mean(0).numpy(), mu, rtol=0.04)
    np.testing.assert_allclose(x.var(0).numpy(), mu + mu**2 / r, rtol=0.08)
    assert torch.equal(x, torch.round(x))


@pytest.mark.parametrize("name", sorted(OUTPUT_DISTRIBUTIONS))
def test_decoder_gradients_bias_init_and_samples(name):
    dec = DeepGenerativeDecoder(2, 5, (8,), output_distribution=name).to(F64)
    x = _counts(5)
    if name == "bernoulli":
        x = (x > 2).to(F64)
    lib = x.sum(1) if dec.output.uses_library else None
    dec.init_output_bias(x, lib)
    with torch.no_grad():
        dec.net.linears[-1].weight.zero_()
    z = torch.randn(6, 2, dtype=F64, generator=_gen())
    mean = dec.mean(z, lib)
    if name in ("gaussian", "bernoulli"):
        np.testing.assert_allclose(mean[0].detach().numpy(), x.mean(0).numpy(), atol=1e-3)
    else:  # library link: each row's mean is proportional to the feature means
        frac = (mean / mean.sum(1, keepdim=True)).detach().numpy()
        np.testing.assert_allclose(frac[0], (x.mean(0) / x.mean(0).sum()).numpy(), atol=1e-6)
    dec = DeepGenerativeDecoder(2, 5, (8,), output_distribution=name).to(F64)
    z = torch.randn(6, 2, dtype=F64, generator=_gen(), requires_grad=True)
    dec.log_prob(z, x, lib).sum().backward()
    for pname, p in dec.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
    assert torch.isfinite(z.grad).all()
    s1 = dec.sample(z.detach(), lib, generator=_gen(7))
    s2 = dec.sample(z.detach(), lib, generator=_gen(7))
    assert s1.shape == (6, 5) and torch.equal(s1, s2)


def test_decoder_bad_options():
    with pytest.raises(ValueError, match="valid options"):
        DeepGenerativeDecoder(2, 3, output_distribution="zip")
    with pytest.raises(ValueError, match="valid options"):
        DeepGenerativeDecoder(2, 3, activation="swish")


def test_representation_layer():
    init = torch.arange(10.0).view(5, 2)
    rep = RepresentationLayer(5, 2, init)
    assert torch.equal(rep(torch.tensor([4, 1])), init[[4, 1]])
    assert torch.equal(rep(), init)
    rep(torch.tensor([1, 3])).sum().backward()
    touched = rep.z.grad.abs().sum(1) > 0
    assert touched.tolist() == [False, True, False, True, False]
    assert torch.equal(RepresentationLayer(3, 4).z, torch.zeros(3, 4))
    with pytest.raises(ValueError, match="expected"):
        RepresentationLayer(3, 2, torch.zeros(2, 2))


def test_dgd_recovers_representations_on_known_decoder():
    # with the decoder fixed at the truth, MAP representations by gradient descent on
    # the reconstruction recover the generating latent points
    g = _gen(0)
    dec = DeepGenerativeDecoder(2, 20, (16,), activation="tanh").to(F64)
    z_true = torch.randn(50, 2, generator=g, dtype=F64)
    with torch.no_grad():
        x = dec(z_true) + 0.01 * torch.randn(50, 20, generator=g, dtype=F64)
        dec.output.log_scale.fill_(math.log(0.01))
    rep = RepresentationLayer(50, 2, z_true + 0.3 * torch.randn(50, 2, generator=g, dtype=F64))
    start = torch.linalg.vector_norm(rep.z.detach() - z_true, dim=1)
    opt = torch.optim.Adam(rep.parameters(), lr=0.03)
    for _ in range(200):
        opt.zero_grad()
        (-dec.log_prob(rep(), x)).sum().backward()
        opt.step()
    err = torch.linalg.vector_norm(rep.z.detach() - z_true, dim=1)
    assert float(err.median()) < 0.05
    assert float(err.median()) < float(start.median()) / 8


def test_dgd_model_loss_counts_the_prior_once_per_data_set():
    from skdeepclust.nn.dgd import DGDModel
    from skdeepclust.nn.mixture import GaussianMixturePrior

    g = _gen(0)
    model = DGDModel(
        DeepGenerativeDecoder(2, 4, (8,)), GaussianMixturePrior(3, 2, generator=g)
    ).to(F64)
    z = torch.randn(10, 2, generator=g, dtype=F64)
    x = torch.randn(10, 4, generator=g, dtype=F64)
    full = -model.log_joint(z, x).sum() - model.prior.log_prior()
    # minibatch losses weighted by their share of the data add up to the full objective / n
    parts = [model.loss(z[i : i + 4], x[i : i + 4], 10) * len(z[i : i + 4]) for i in (0, 4, 8)]
    assert sum(parts).item() == pytest.approx(full.item(), rel=1e-12)


# --------------------------------------------------------------------- the estimator
from sklearn.base import clone  # noqa: E402
from sklearn.metrics import adjusted_rand_score  # noqa: E402

from skdeepclust.metrics import cluster_accuracy  # noqa: E402
from skdeepclust.representation import GMMRepresentation  # noqa: E402

CENTERS = np.array([[-2.0, 0.0], [2.0, 0.0], [0.0, 2.5]])


def _mixture_data(n_per, seed, decoder_seed=0, noise=0.05):
    """Data from a 3-component 2-D mixture through a fixed random decoder (tanh MLP)."""
    rng = np.random.default_rng(seed)
    comp = np.repeat(np.arange(3), n_per)
    z = CENTERS[comp] + 0.3 * rng.standard_normal((3 * n_per, 2))
    drng = np.random.default_rng(decoder_seed)
    W1, W2 = drng.standard_normal((2, 16)), drng.standard_normal((16, 12)) / 4
    X = np.tanh(z @ W1 / 2) @ W2 + noise * rng.standard_normal((3 * n_per, 12))
    return X, comp, z


FAST = dict(
    n_components=3, latent_dim=2, hidden_layer_sizes=(32,), max_epochs=60, batch_size=32,
    tol=None, transform_epochs=30, device="cpu", random_state=0,
)


@pytest.fixture(scope="module")
def fitted():
    X, comp, _ = _mixture_data(60, seed=0)
    with torch.random.fork_rng(devices=[]):
        model = GMMRepresentation(**FAST).fit(X)
    return model, X, comp


def test_recovers_the_generating_clusters(fitted):
    model, X, comp = fitted
    assert adjusted_rand_score(comp, model.labels_) > 0.95
    assert model.embedding_.shape == (180, 2) and model.embedding_.dtype == np.float64
    # covariance_type='auto' resolves to 'full' (60 samples per component, 3 parameters)
    assert model.means_.shape == (3, 2) and model.covariances_.shape == (3, 2, 2)
    np.testing.assert_allclose(model.weights_.sum(), 1.0)
    np.testing.assert_allclose(model.weights_, 1 / 3, atol=0.05)
    assert len(model.loss_curve_) == model.n_iter_ == 60
    assert model.loss_curve_[-1] < model.loss_curve_[0]


def test_transform_of_held_out_samples_lands_on_the_generating_component(fitted):
    model, X, comp = fitted
    _, mapping = cluster_accuracy(comp, model.labels_, return_mapping=True)
    X_new, comp_new, _ = _mixture_data(20, seed=1)
    Z_new = model.transform(X_new)
    # nearest fitted component mean, mapped to the generating component
    nearest = ((Z_new[:, None, :] - model.means_[None]) ** 2).sum(-1).argmin(1)
    assert np.mean([mapping[k] for k in nearest] == comp_new) > 0.95
    assert np.mean([mapping[k] for k in model.predict(X_new)] == comp_new) > 0.95
    proba = model.predict_proba(X_new)
    assert proba.shape == (60, 3)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    # transformed training samples fall in the same clusters as the learned embedding
    assert adjusted_rand_score(model.labels_, model.predict(X)) > 0.95


def test_transform_is_per_sample_and_deterministic(fitted):
    model, X, _ = fitted
    Z = model.transform(X[:40])
    # per sample up to float32 rounding: the matrix products of 4 and of 40 rows may take
    # different kernels (bit-equal on an AMD Zen 4, 5e-5 relative on an Intel Xeon)
    np.testing.assert_allclose(Z[5:9], model.transform(X[5:9]), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(Z, model.transform(X[:40]))  # deterministic
    assert model.transform(X[:3].astype(np.float32)).dtype == np.float32


def _tensor(model, array) -> torch.Tensor:
    """``array`` as a tensor in the model's compute dtype (float32 by default)."""
    return torch.as_tensor(np.asarray(array), dtype=model.module_.prior.means.dtype)


def test_score_samples_is_the_log_joint_at_the_optimised_representation(fitted):
    model, X, _ = fitted
    x = X[:7]
    dtype = model.module_.prior.means.dtype  # the compute dtype: float32 by default
    z = torch.as_tensor(model.transform(x), dtype=dtype)
    xt = torch.as_tensor(x, dtype=dtype)
    with torch.no_grad():
        expected = (model.module_.decoder.log_prob(z, xt) + model.module_.prior.log_prob(z))
    np.testing.assert_allclose(model.score_samples(x), expected.numpy(), rtol=1e-5)
    assert model.score(x) == pytest.approx(float(expected.mean()), rel=1e-5)
    # the optimisation improves the MAP objective over its starts (Adam at a fixed rate
    # need not improve it monotonically step by step, so compare with the start itself)
    start = clone(model).set_params(transform_epochs=0)
    start.__dict__.update({k: v for k, v in model.__dict__.items() if k.endswith("_")})
    start._device, start._dtype = model._device, model._dtype
    start._compute_dtype = model._compute_dtype
    start._transform_seed = model._transform_seed
    assert model.score(X[:30]) > start.score(X[:30])


def test_more_transform_starts_reach_a_better_optimum(fitted):
    model, X, _ = fitted
    many = clone(model).set_params(transform_n_starts=3)
    many.__dict__.update({k: v for k, v in model.__dict__.items() if k.endswith("_")})
    many._device, many._dtype = model._device, model._dtype
    many._compute_dtype = model._compute_dtype
    many._transform_seed = model._transform_seed
    one = clone(many).set_params(transform_n_starts=1)
    one.__dict__.update({k: v for k, v in many.__dict__.items() if k not in one.get_params()})
    # the best start is among the three, each row is optimised on its own, and the best
    # end point is kept: per sample, never worse than the single start
    s1, s3 = one.score_samples(X[:40]), many.score_samples(X[:40])
    # up to float32 rounding of rows optimised in batches of another size (1.9e-4 at most
    # on an Intel Xeon); a worse start would lose far more
    worst = np.min((s3 - s1) / np.abs(s1))
    assert worst >= -5e-4, worst
    # the kept end point is the one reached from one of the starts
    Z3 = many.transform(X[:40])
    assert Z3.shape == (40, model.latent_dim)
    np.testing.assert_allclose(Z3[5:9], many.transform(X[5:9]), rtol=1e-4, atol=1e-5)


def test_inverse_transform_and_sample(fitted):
    model, X, _ = fitted
    X_rec = model.inverse_transform(model.embedding_)
    assert X_rec.shape == X.shape
    assert np.mean((X_rec - X) ** 2) < 0.1 * np.var(X, axis=0).sum()
    X_gen, labels = model.sample(3000)
    assert X_gen.shape == (3000, 12) and labels.shape == (3000,)
    np.testing.assert_allclose(np.bincount(labels, minlength=3) / 3000, model.weights_, atol=0.03)
    X_gen2, _ = model.sample(3000)
    np.testing.assert_array_equal(X_gen, X_gen2)
    with pytest.raises(ValueError, match="latent_dim=2"):
        model.inverse_transform(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="n_samples"):
        model.sample(0)


def test_fit_transform_returns_the_embedding_and_y_is_ignored_when_unsupervised():
    X, comp, _ = _mixture_data(20, seed=3)
    params = dict(FAST, max_epochs=5)
    Z = GMMRepresentation(**params).fit_transform(X)
    model = GMMRepresentation(**params).fit(X, comp)  # e.g. GridSearchCV passes y
    np.testing.assert_array_equal(Z, model.embedding_)
    assert not hasattr(model, "classes_")
    assert np.array_equal(model.labels_, GMMRepresentation(**params).fit(X).labels_)


def test_supervised_fit_puts_each_class_in_its_components():
    X, comp, _ = _mixture_data(50, seed=4)
    names = np.array(["a", "b", "c"])[comp]
    model = GMMRepresentation(**dict(FAST, n_components_per_class=2)).fit(X, names)
    np.testing.assert_array_equal(model.classes_, ["a", "b", "c"])
    np.testing.assert_array_equal(model.component_classes_, ["a", "a", "b", "b", "c", "c"])
    assert model.means_.shape == (6, 2)
    assert np.mean(model.labels_ == names) > 0.97
    # each training representation's responsibility mass sits on its own class's components
    z = _tensor(model, model.embedding_)
    with torch.no_grad():
        resp = model.module_.prior.responsibilities(z).numpy()
    own = (np.arange(6)[None, :] // 2) == comp[:, None]
    assert np.mean((resp * own).sum(1)) > 0.95
    X_new, comp_new, _ = _mixture_data(15, seed=5)
    assert np.mean(model.predict(X_new) == np.array(["a", "b", "c"])[comp_new]) > 0.95
    assert model.predict_proba(X_new).shape == (45, 3)
    # known labels at transform time restrict the start and the prior to the class
    Z_known = model.transform(X_new, np.array(["a", "b", "c"])[comp_new])
    assert Z_known.shape == (45, 2)
    _, y_gen = model.sample(20)
    assert set(y_gen) <= {"a", "b", "c"}
    with pytest.raises(ValueError, match="not seen in fit"):
        model.transform(X_new[:2], ["a", "z"])


def test_semi_supervised_labels():
    X, comp, _ = _mixture_data(50, seed=6)
    y = comp.copy()
    y[::2] = -1  # half of the samples unlabelled
    model = GMMRepresentation(**dict(FAST, n_components_per_class=1)).fit(X, y)
    np.testing.assert_array_equal(model.classes_, [0, 1, 2])
    assert np.mean(model.labels_ == comp) > 0.95


def _nb_counts(n_per, seed):
    """Counts from 3 expression profiles, negative-binomial noise (dispersion 5)."""
    rng = np.random.default_rng(seed)
    profiles = rng.dirichlet(np.full(30, 0.5), size=3)
    comp = np.repeat(np.arange(3), n_per)
    library = rng.uniform(200, 800, size=3 * n_per)
    mu = library[:, None] * profiles[comp]
    r = 5.0
    X = rng.poisson(rng.gamma(r, mu / r)).astype(np.float64)
    return X, comp


@pytest.mark.parametrize("init", ["pca", "autoencoder"])
def test_negative_binomial_output_on_counts(init):
    # with init="autoencoder" the autoencoder sees log1p(counts) and gives the codes only
    # (its decoder's output is not a negative-binomial mean)
    X, comp = _nb_counts(60, seed=0)
    model = GMMRepresentation(
        **dict(FAST, output_distribution="negative_binomial", max_epochs=40, init=init)
    ).fit(X)
    assert adjusted_rand_score(comp, model.labels_) > 0.95
    assert np.isfinite(model.score_samples(X[:10])).all()
    X_gen, _ = model.sample(50)
    assert (X_gen >= 0).all() and np.array_equal(X_gen, np.round(X_gen))
    r = model.module_.decoder.output.dispersion().detach().numpy()
    np.testing.assert_array_equal(model.dispersion_, r.astype(model.dispersion_.dtype))
    assert model.dispersion_.shape == (X.shape[1],)
    assert 1.0 < np.median(model.dispersion_) < 25.0  # generated with r = 5


@pytest.mark.parametrize("init", ["pca", "autoencoder"])
@pytest.mark.parametrize("library_size", [True, False])
def test_count_start_ignores_library_size_when_the_model_explains_it(library_size, init):
    # mean = library x composition: a row with twice the counts of another has the same
    # composition, so the start (PCA, or the autoencoder's codes, of log1p of the rows
    # scaled to the median total) gives both the same representation; with a log link
    # the library is not apart
    X, _ = _nb_counts(20, seed=3)
    X2 = np.vstack([X, 2 * X, 0 * X[:1]])  # an empty row too
    model = GMMRepresentation(
        **dict(FAST, output_distribution="negative_binomial", max_epochs=0,
               library_size=library_size, init=init)
    ).fit(X2)
    Z, n = model.embedding_, X.shape[0]
    assert np.isfinite(Z).all()
    same = np.allclose(Z[:n], Z[n : 2 * n], rtol=1e-5, atol=1e-6 * np.abs(Z).max())
    assert same == library_size


@pytest.mark.parametrize("law", ["poisson", "negative_binomial"])
def test_count_laws_reject_negative_values(law):
    X, _ = _nb_counts(5, seed=1)
    X[0, 0] = -1
    with pytest.raises(ValueError, match="non-negative"):
        GMMRepresentation(**dict(FAST, output_distribution=law)).fit(X)
    model = GMMRepresentation(**dict(FAST, output_distribution=law, max_epochs=1)).fit(
        np.abs(X)
    )
    with pytest.raises(ValueError, match="non-negative"):
        model.transform(X)


def test_bad_input_errors():
    X, comp, _ = _mixture_data(5, seed=7)
    with pytest.raises(ValueError, match="n_components"):
        GMMRepresentation(n_components=0).fit(X)
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        GMMRepresentation(**dict(FAST, output_distribution="bernoulli")).fit(X)
    with pytest.raises(ValueError, match="n_samples=15"):
        GMMRepresentation(**dict(FAST, n_components=20)).fit(X)
    with pytest.raises(ValueError, match="needs class labels"):
        GMMRepresentation(**dict(FAST, n_components_per_class=1)).fit(X)
    with pytest.raises(ValueError, match="adam_betas"):
        GMMRepresentation(**dict(FAST, adam_betas=(0.5, 1.5))).fit(X)
    model = GMMRepresentation(**dict(FAST, max_epochs=1)).fit(X)
    with pytest.raises(ValueError, match="supervised"):
        model.transform(X, comp)


def test_full_covariance_mixture():
    X, comp, _ = _mixture_data(60, seed=0)
    model = GMMRepresentation(**dict(FAST, covariance_type="full")).fit(X)
    assert adjusted_rand_score(comp, model.labels_) > 0.95
    cov = model.covariances_
    assert cov.shape == (3, 2, 2)
    np.testing.assert_allclose(cov, np.swapaxes(cov, 1, 2))
    assert (np.linalg.eigvalsh(cov) > 0).all()
    # the learned covariances (t scale matrices when "auto" chose t components) are the
    # ones the model clusters and scores with
    z = _tensor(model, model.embedding_[:20])
    nu = model.degrees_of_freedom_
    law = [stats.multivariate_normal(model.means_[k], cov[k]) if nu is None
           else stats.multivariate_t(model.means_[k], cov[k], df=nu) for k in range(3)]
    expected = np.stack([
        np.log(model.weights_[k]) + law[k].logpdf(model.embedding_[:20]) for k in range(3)
    ], 1)
    got = model.module_.prior.component_log_prob(z).detach().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5)  # float32 computation
    X_new, comp_new, _ = _mixture_data(10, seed=11)
    assert adjusted_rand_score(comp_new, model.predict(X_new)) > 0.9
    assert model.sample(7)[0].shape == (7, 12)


def test_init_array_starts_from_the_given_representations():
    X, comp, z = _mixture_data(40, seed=3)
    init = z.copy()
    params = dict(FAST, max_epochs=3)
    model = GMMRepresentation(**dict(params, init=init)).fit(X)
    np.testing.assert_array_equal(init, z)  # not modified in place
    # 3 epochs from the generating representations keep their clusters ...
    assert adjusted_rand_score(comp, model.labels_) > 0.95
    # ... and the representation is still the given one up to the documented scaling
    scaled = z * (0.5 * model.softball_radius / np.sqrt(np.mean(np.sum(z * z, axis=1))))
    assert np.mean(np.linalg.norm(model.embedding_ - scaled, axis=1)) < 0.15  # 0.06 measured
    # a random start with the same 3 epochs is far from it
    rand = GMMRepresentation(**dict(params, init="random")).fit(X)
    assert np.mean(np.linalg.norm(rand.embedding_ - scaled, axis=1)) > 0.5  # 1.28 measured

    with pytest.raises(ValueError, match="shape \\(n_samples, latent_dim\\)"):
        GMMRepresentation(**dict(params, init=z[:-1])).fit(X)
    with pytest.raises(ValueError, match="shape"):
        GMMRepresentation(**dict(params, init=z[:, :1])).fit(X)
    bad = z.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        GMMRepresentation(**dict(params, init=bad)).fit(X)


def test_init_autoencoder_trains_one_and_starts_from_its_codes():
    from sklearn.decomposition import PCA

    from skdeepclust.representation import AutoEncoder

    X, comp, _ = _mixture_data(40, seed=5)
    params = dict(FAST, max_epochs=40)
    model = GMMRepresentation(**dict(params, init="autoencoder")).fit(X)
    assert adjusted_rand_score(comp, model.labels_) > 0.95

    # a fitted AutoEncoder is only used to transform X: one epoch later the representations
    # are still its codes up to the documented scaling, and the AutoEncoder is untouched
    ae = AutoEncoder(2, hidden_layer_sizes=(32,), max_epochs=30, device="cpu",
                     random_state=0).fit(X)
    state = {k: v.clone() for k, v in ae.module_.state_dict().items()}
    codes = ae.transform(X)
    frozen = dict(max_epochs=1, representation_learning_rate=1e-4, learning_rate=1e-7,
                  gmm_learning_rate=1e-7)
    one = GMMRepresentation(**dict(params, init=ae, **frozen)).fit(X)
    scaled = codes * (0.5 * one.softball_radius / np.sqrt(np.mean(np.sum(codes**2, axis=1))))
    np.testing.assert_allclose(one.embedding_, scaled, atol=5e-4)
    # ... the decoder starts as the autoencoder's (first layer rescaled with the codes), so
    # the DGD reconstructs X as the autoencoder did; from scratch it does not
    recon = ae.inverse_transform(codes)
    np.testing.assert_allclose(one.inverse_transform(one.embedding_), recon, atol=2e-3)
    # a centered autoencoder's decoder (offsets folded into the biases) as well
    centered = AutoEncoder(2, hidden_layer_sizes=(32,), max_epochs=30, device="cpu",
                           centered=True, random_state=0).fit(X)
    warm = GMMRepresentation(**dict(params, init=centered, **frozen)).fit(X)
    np.testing.assert_allclose(warm.inverse_transform(warm.embedding_),
                               centered.inverse_transform(centered.transform(X)), atol=2e-3)
    cold = GMMRepresentation(**dict(params, init=scaled, **frozen)).fit(X)
    assert np.abs(cold.inverse_transform(cold.embedding_) - recon).max() > 0.1
    # another architecture: the codes only
    narrow = AutoEncoder(2, hidden_layer_sizes=(8,), max_epochs=5, device="cpu",
                         random_state=0).fit(X)
    other = GMMRepresentation(**dict(params, init=narrow, **frozen)).fit(X)
    narrow_recon = narrow.inverse_transform(narrow.transform(X))
    assert np.abs(other.inverse_transform(other.embedding_) - narrow_recon).max() > 0.1
    for k, v in ae.module_.state_dict().items():
        torch.testing.assert_close(v, state[k])
    # an unfitted one is cloned, fitted on X, and stays unfitted
    fresh = AutoEncoder(2, hidden_layer_sizes=(32,), max_epochs=30, device="cpu",
                        random_state=0)
    two = GMMRepresentation(**dict(params, init=fresh, **frozen)).fit(X)
    assert not hasattr(fresh, "module_")
    np.testing.assert_allclose(two.embedding_, one.embedding_, atol=1e-6)  # same AE fit
    # a frozen fitted one survives clone and is used as it is
    from sklearn.frozen import FrozenEstimator

    kept = clone(GMMRepresentation(**dict(params, init=FrozenEstimator(ae), **frozen)))
    np.testing.assert_allclose(kept.fit(X).embedding_, one.embedding_, atol=1e-12)

    with pytest.raises(ValueError, match="n_components=3, but latent_dim=2"):
        GMMRepresentation(**dict(params, init=AutoEncoder(3))).fit(X)
    with pytest.raises(ValueError, match="expects 12 features"):
        GMMRepresentation(**dict(params, init=ae)).fit(X[:, :5])
    with pytest.raises(TypeError, match="AutoEncoder; got PCA"):
        GMMRepresentation(**dict(params, init=PCA(2))).fit(X)


def test_representation_step_epoch_takes_one_adam_step_per_epoch():
    # Adam's first step moves every coordinate by exactly the learning rate (m / sqrt(v) is
    # the gradient's sign after bias correction), so one epoch of "epoch" steps moves each
    # representation by representation_learning_rate per coordinate, however many
    # minibatches the epoch had. With the per-row Adam, "batch" steps do the same (each row
    # takes one step of its own, in its minibatch, and does not move in the others); dense
    # Adam over all rows keeps moving rows after their own minibatch (momentum) and does not.
    X, _, z = _mixture_data(40, seed=4)
    lr = 0.03
    params = dict(FAST, max_epochs=1, init=z, representation_learning_rate=lr, batch_size=16,
                  reassign_every=None)
    epoch = GMMRepresentation(**dict(params, representation_step="epoch"))
    epoch._lazy_representations = True
    epoch.fit(X)
    radius = epoch.softball_radius  # init arrays are scaled to rms 0.5 * radius
    scaled = z * (0.5 * radius / np.sqrt(np.mean(np.sum(z * z, axis=1))))
    np.testing.assert_allclose(np.abs(epoch.embedding_ - scaled), lr, rtol=1e-3)
    batch = GMMRepresentation(**dict(params, representation_step="batch"))
    batch._lazy_representations = True
    batch.fit(X)
    np.testing.assert_allclose(np.abs(batch.embedding_ - scaled), lr, rtol=1e-3)
    dense = GMMRepresentation(**dict(params, representation_step="batch"))
    dense._lazy_representations = False
    moved = np.abs(dense.fit(X).embedding_ - scaled)
    assert not np.allclose(moved, lr, rtol=1e-2)
    assert moved.max() > 1.2 * lr  # the momentum steps after a row's own minibatch
    dense_epoch = GMMRepresentation(**dict(params, representation_step="epoch"))
    dense_epoch._lazy_representations = False  # every row steps once: the same as per-row
    np.testing.assert_allclose(dense_epoch.fit(X).embedding_, epoch.embedding_, atol=1e-6)

    with pytest.raises(ValueError, match="representation_step"):
        GMMRepresentation(**dict(params, representation_step="sample")).fit(X)


def test_reproducible_and_float32():
    X, _, _ = _mixture_data(10, seed=8)
    params = dict(FAST, max_epochs=3, transform_epochs=3)
    a = GMMRepresentation(**params).fit(X)
    b = GMMRepresentation(**params).fit(X)
    np.testing.assert_array_equal(a.embedding_, b.embedding_)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    c = GMMRepresentation(**params).fit(X.astype(np.float32))
    assert c.embedding_.dtype == np.float32 and c.transform(X).dtype == np.float64
    np.testing.assert_allclose(c.embedding_, a.embedding_, atol=1e-3)


def test_pickle_round_trip(fitted):
    import pickle

    model, X, _ = fitted
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.transform(X[:5]), model.transform(X[:5]))
    np.testing.assert_array_equal(restored.sample(4)[0], model.sample(4)[0])


def test_reassignment_moves_misplaced_representations_back(fitted):
    from skdeepclust.representation._dgd_training import reassign

    model, X, _ = fitted
    z = torch.nn.Parameter(_tensor(model, model.embedding_.copy()))
    wrong = (model.labels_[:20] + 1) % 3  # put 20 samples on another component's mean
    with torch.no_grad():
        z[:20] = _tensor(model, model.means_[wrong])
    X_t = _tensor(model, X)
    with torch.no_grad():
        before = model.module_.log_joint(z, X_t)
        reassign(model.module_, z, X_t, None, None, chunk=64)
        after = model.module_.log_joint(z, X_t)
        labels = model.module_.prior.predict(z).numpy()
    assert bool((after >= before).all())
    assert np.mean(labels[:20] == model.labels_[:20]) > 0.9


def test_no_variance_collapse_with_the_default_prior(fitted):
    # generating process: component std 0.3 for means ~4.3 apart (ratio 0.07); the fit
    # keeps a comparable ratio instead of shrinking components onto their points
    model, _, _ = fitted
    sd = np.sqrt(np.diagonal(model.covariances_, axis1=1, axis2=2)).mean()
    gaps = [np.linalg.norm(a - b) for i, a in enumerate(model.means_) for b in model.means_[i + 1 :]]
    assert 0.025 < sd / np.mean(gaps) < 0.15
    spread = np.sqrt(np.mean((model.embedding_ - model.means_[model.labels_]) ** 2))
    # representations spread like their components (1.1-1.5 measured over seeds and EM
    # starts), neither collapsed onto the means nor far outside them
    assert 0.5 < spread / sd < 2.0


def test_labels_agree_with_predict_on_the_training_rows(fitted):
    model, X, _ = fitted
    assert np.mean(model.predict(X) == model.labels_) >= 0.99


def test_auto_values_resolve_into_private_attributes():
    X, comp, _ = _mixture_data(60, seed=1)  # 180 x 12
    model = GMMRepresentation(3, hidden_layer_sizes=(32,), device="cpu", random_state=0)
    before = model.get_params()
    model.fit(X)
    assert model.get_params() == before  # the public parameters keep "auto"
    assert model._latent_dim == 10 and model.embedding_.shape == (180, 10)
    assert model._covariance_type == "full"  # 60 per component >= 10 * 11 / 2
    assert model._init == "pca" and model._log_var_prior_std == 0.3
    assert model._batch_size == 22 and model._max_epochs == 100  # 180 // 8; 9 batches
    assert adjusted_rand_score(comp, model.labels_) > 0.95
    # fewer samples per component than a full covariance's parameters: diagonal
    small = GMMRepresentation(9, hidden_layer_sizes=(8,), max_epochs=2, device="cpu",
                              random_state=0).fit(X)
    assert small._covariance_type == "diagonal" and small.covariances_.shape == (9, 10)
    # fewer features than 10: the latent size follows; an explicit value is kept
    assert GMMRepresentation(3, max_epochs=1, device="cpu").fit(X[:, :4])._latent_dim == 4
    explicit = GMMRepresentation(3, latent_dim=3, covariance_type="diag", batch_size=50,
                                 max_epochs=3, tol=None, device="cpu").fit(X)
    assert (explicit._latent_dim, explicit._covariance_type, explicit._batch_size,
            explicit.n_iter_) == (3, "diagonal", 50, 3)
    # the width of an init array decides "auto"
    init = np.random.default_rng(0).standard_normal((180, 4))
    assert GMMRepresentation(3, init=init, max_epochs=1, device="cpu").fit(X)._latent_dim == 4


@pytest.mark.parametrize("param, value", [
    ("latent_dim", "big"), ("latent_dim", 0), ("covariance_type", "tied"),
    ("batch_size", "large"), ("max_epochs", -1), ("log_var_prior_std", "wide"),
    ("init", "kmeans"),
])
def test_invalid_explicit_values_still_raise(param, value):
    X, _, _ = _mixture_data(10, seed=0)
    with pytest.raises(ValueError, match=param):
        GMMRepresentation(3, device="cpu", **{param: value}).fit(X)


def test_defaults_cluster_well_separated_blobs():
    from sklearn.datasets import make_blobs

    X, y = make_blobs(300, n_features=6, centers=4, cluster_std=1.0, random_state=0)
    model = GMMRepresentation(4, device="cpu", random_state=0).fit(X)
    assert adjusted_rand_score(y, model.labels_) > 0.95
    assert np.mean(model.predict(X) == model.labels_) >= 0.99
    # the tol rule stops on a stable partition, after the decoder's 400 steps (9 batches
    # of 37 rows per epoch: epoch 45 at the earliest), well before max_epochs
    assert model.converged_ and 45 <= model.n_iter_ < model._max_epochs


def test_warns_when_stopped_unconverged():
    from sklearn.exceptions import ConvergenceWarning

    X, _, _ = _mixture_data(20, seed=0)
    with pytest.warns(ConvergenceWarning, match=r"GMMRepresentation \(fit\) stopped at "
                      r"max_epochs=2 before the partition was stable"):
        model = GMMRepresentation(3, hidden_layer_sizes=(8,), max_epochs=2, device="cpu",
                                  random_state=0).fit(X)
    assert not model.converged_


def test_warns_on_a_collapsed_partition():
    from sklearn.exceptions import ConvergenceWarning

    # every starting representation on one point but two: EM leaves components empty
    X, _, _ = _mixture_data(20, seed=0)
    init = np.zeros((60, 2))
    init[:2] = [[5.0, 0.0], [0.0, 5.0]]
    with pytest.warns(ConvergenceWarning, match=r"GMMRepresentation \(fit\) ended with a "
                      r"degenerate partition: component \d+ holds"):
        GMMRepresentation(3, init=init, hidden_layer_sizes=(8,), max_epochs=3, tol=None,
                          device="cpu", random_state=0).fit(X)


def test_transform_shows_a_progress_bar_with_verbose(fitted, capsys):
    model, X, _ = fitted
    model = clone(model).set_params(verbose=1, max_epochs=1)
    model.fit(X)
    capsys.readouterr()
    model.transform(X[:10])
    assert "GMMRepresentation.transform" in capsys.readouterr().err


def test_row_adam_moves_only_the_given_rows_as_torch_adam_on_each_row():
    from skdeepclust.nn.dgd import RowAdam

    g = torch.Generator().manual_seed(0)
    z = torch.randn(6, 3, generator=g, dtype=F64)
    start = z.clone()
    opt = RowAdam(z, lr=0.05, betas=(0.5, 0.7))
    # one torch Adam per row, on that row alone, fed the gradients the row receives
    singles = [torch.nn.Parameter(start[i : i + 1].clone()) for i in range(6)]
    refs = [torch.optim.Adam([p], lr=0.05, betas=(0.5, 0.7), foreach=False) for p in singles]
    batches = [[0, 2], [1, 2, 5], [2], [0, 5], [4, 2]]
    for rows in batches:
        grad = torch.randn(len(rows), 3, generator=g, dtype=F64)
        before = z.clone()
        opt.step(torch.tensor(rows), grad)
        others = [i for i in range(6) if i not in rows]
        assert torch.equal(z[others], before[others])  # rows outside the batch do not move
        assert (z[rows] != before[rows]).all()
        for j, i in enumerate(rows):
            singles[i].grad = grad[j : j + 1].clone()
            refs[i].step()
    for i in range(6):
        torch.testing.assert_close(z[i : i + 1], singles[i].detach(), rtol=1e-12, atol=1e-12)
    assert torch.equal(z[3], start[3])  # never in a batch
    assert opt.steps.tolist() == [2, 1, 4, 0, 1, 2]
    with pytest.raises(ValueError, match="matrix"):
        RowAdam(torch.zeros(3), lr=0.1)


@pytest.mark.parametrize("log1p", [False, True])
def test_pca_initialisation_equals_sklearn_pca_without_a_float64_copy(log1p, monkeypatch):
    from sklearn.decomposition import PCA

    from skdeepclust.representation import _dgd_init

    monkeypatch.setattr(_dgd_init, "_PCA_CHUNK_BYTES", 64 * 12 * 8)  # chunks of 64 rows
    rng = np.random.RandomState(0)
    X = (rng.poisson(3.0, (300, 12)) * rng.uniform(0.5, 2.0, 12) + 50).astype(np.float32)
    data = np.log1p(X.astype(np.float64)) if log1p else X.astype(np.float64)
    expected = PCA(4).fit_transform(data)
    got = _dgd_init.pca_scores(X, 4, log1p, rng)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6 * np.abs(expected).max())
    X64 = X.astype(np.float64)
    kept = X64.copy()
    got = _dgd_init.pca_scores(X64, 4, log1p, rng)
    np.testing.assert_array_equal(X64, kept)  # the data is never modified
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6 * np.abs(expected).max())
    # rows scaled first (to the median total: library_scale)
    scale = _dgd_init.library_scale(X64)
    totals = X64.sum(1)
    np.testing.assert_allclose(totals * scale, np.median(totals))
    scaled = X64 * scale[:, None]
    expected = PCA(4).fit_transform(np.log1p(scaled) if log1p else scaled)
    got = _dgd_init.pca_scores(X, 4, log1p, rng, row_scale=scale)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6 * np.abs(expected).max())
    np.testing.assert_array_equal(X64, kept)


def _dense_adam_reference(n, k, batches, dtype, window):
    """RecentRowsAdam and torch's fused dense Adam fed the same minibatch gradients."""
    from skdeepclust.nn.dgd import RecentRowsAdam

    g = _gen(5)
    z = torch.randn(n, k, generator=g, dtype=dtype)
    ref = torch.nn.Parameter(z.clone())
    dense = torch.optim.Adam([ref], lr=0.05, betas=(0.5, 0.7), fused=True)
    opt = RecentRowsAdam(z, 0.05, (0.5, 0.7), window=window, batch_size=16)
    for idx in batches:
        grad = torch.randn(len(idx), k, generator=g, dtype=dtype)
        full = torch.zeros(n, k, dtype=dtype)
        full[idx] = grad
        ref.grad = full
        dense.step()
        opt.step(idx, grad)
    opt.flush()
    return z, ref.detach(), opt


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_recent_rows_adam_is_dense_adam_while_rows_stay_in_its_window(dtype):
    from skdeepclust.nn.dgd import adam_window

    n = 203  # 13 minibatches of 16 per epoch: a row's gradients are <= 25 steps apart
    perms = [torch.randperm(n, generator=_gen(e)) for e in range(4)]
    batches = [p[s : s + 16] for p in perms for s in range(0, n, 16)]
    z, ref, opt = _dense_adam_reference(n, 7, batches, dtype, window=26)
    # every zero-gradient (momentum) step taken: the same arithmetic, except that the fused
    # kernel rounds the last few elements of a tensor (past its vector width) its own way
    eps = torch.finfo(dtype).eps
    torch.testing.assert_close(z, ref, rtol=eps, atol=eps)
    assert torch.equal(z[:-2], ref[:-2])
    assert opt.steps == len(batches)
    # rows that leave the window: their remaining steps are below rounding
    window = adam_window((0.5, 0.7), dtype)
    assert window == (33 if dtype == torch.float32 else 72)
    n = 3000  # 188 minibatches per epoch, far more than the window
    batches = [torch.randperm(n, generator=_gen(e))[s : s + 16]
               for e in range(3) for s in range(0, n, 16)]
    z, ref, _ = _dense_adam_reference(n, 3, batches, dtype, window=None)
    torch.testing.assert_close(z, ref, rtol=4 * eps, atol=4 * eps)
    # a short window cuts real momentum steps
    z, ref, _ = _dense_adam_reference(n, 3, batches, dtype, window=3)
    assert (z - ref).abs().max() > 1e-3
    assert adam_window((0.0, 0.7), dtype) == 1 and adam_window((0.9, 0.5), dtype) is None


def test_recent_rows_adam_flush_reload_and_checks():
    from skdeepclust.nn.dgd import RecentRowsAdam

    z = torch.zeros(5, 2, dtype=F64)
    opt = RecentRowsAdam(z, lr=0.1, betas=(0.5, 0.7), window=4, batch_size=2)
    opt.step(torch.tensor([0, 3]), torch.ones(2, 2, dtype=F64))
    assert torch.equal(z, torch.zeros(5, 2, dtype=F64))  # the rows are held in the ring
    opt.flush()
    np.testing.assert_allclose(z[[0, 3]].numpy(), -0.1)
    z[0] = 7.0  # changed in place (a reassignment): read again before the next step
    opt.reload()
    opt.step(torch.tensor([1]), torch.ones(1, 2, dtype=F64))
    opt.flush()
    assert z[0, 0] < 7.0 and z[0, 0] > 6.9  # moved on by its momentum from the new value
    assert torch.equal(z[[2, 4]], torch.zeros(2, 2, dtype=F64))  # never had a gradient
    with pytest.raises(ValueError, match="at most batch_size=2 rows; got 3"):
        opt.step(torch.tensor([0, 1, 2]), torch.ones(3, 2, dtype=F64))
    with pytest.raises(ValueError, match="matrix"):
        RecentRowsAdam(torch.zeros(3), lr=0.1)
    with pytest.raises(ValueError, match="never let a row's steps decay"):
        RecentRowsAdam(z, lr=0.1, betas=(0.9, 0.5))


def _recent_rows(monkeypatch, window):
    """Train the representations with RecentRowsAdam at any size, with this window."""
    from skdeepclust.representation import _dgd_training

    monkeypatch.setattr(_dgd_training, "_RECENT_WINDOWS", 0)
    if window is not None:
        monkeypatch.setattr(_dgd_training, "adam_window", lambda betas, dtype: window)


def _fit_state(model):
    return [model.embedding_, model.means_, model.covariances_, model.weights_,
            np.asarray(model.loss_curve_), model.labels_]


@pytest.mark.parametrize("extra", [{}, {"reassign_every": 2}, {"sample_weight": True}])
def test_recent_rows_training_equals_dense_adam_training(monkeypatch, extra):
    # 180 rows in minibatches of 8: a row's gradients are at most 45 steps apart. With a
    # window of 46 steps the ring takes every momentum step of dense Adam: the same model,
    # up to the rounding of the last elements of z (see the test above), which training
    # carries on into the other parameters
    X, _, _ = _mixture_data(60, seed=1)
    params = dict(FAST, max_epochs=4, batch_size=8, reassign_every=extra.get("reassign_every"))
    weight = None
    if extra.get("sample_weight"):  # rows drawn with replacement: repeated in a minibatch
        weight = np.random.default_rng(0).integers(0, 3, X.shape[0]).astype(float)
    dense = GMMRepresentation(**params).fit(X, sample_weight=weight)
    _recent_rows(monkeypatch, 46)
    recent = GMMRepresentation(**params).fit(X, sample_weight=weight)
    for a, b in zip(_fit_state(dense), _fit_state(recent)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # the window of the defaults (33 steps in float32) skips steps below rounding only
    _recent_rows(monkeypatch, None)
    auto = GMMRepresentation(**params).fit(X, sample_weight=weight)
    np.testing.assert_allclose(auto.embedding_, dense.embedding_, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(auto.labels_, dense.labels_)


def test_epoch_step_sums_the_gradients_off_the_graph_exactly(monkeypatch):
    # representation_step="epoch" on one process sums each minibatch's gradient into one
    # buffer instead of a dense gradient of all rows per minibatch: the same numbers
    from skdeepclust.representation import _dgd_training

    X, _, _ = _mixture_data(40, seed=2)
    params = dict(FAST, max_epochs=3, batch_size=16, representation_step="epoch")
    buffered = GMMRepresentation(**params).fit(X)
    monkeypatch.setattr(_dgd_training, "world", lambda: (0, 2))  # the data-parallel path
    on_graph = GMMRepresentation(**params).fit(X)
    for a, b in zip(_fit_state(buffered), _fit_state(on_graph)):
        np.testing.assert_array_equal(a, b)


def test_tol_rule_counts_only_rows_that_leave_a_confident_assignment():
    from skdeepclust.representation._dgd_training import changed_share

    labels = torch.tensor([0, 0, 1, 1, 2, 2, 0, 1], dtype=torch.int16)
    sure = torch.tensor([True, True, True, False, False, True, True, True])
    # row 3 (posterior < 0.9 at the start: a boundary row) and row 4 switch without
    # counting; rows 1 and 5, assigned with confidence, left their components
    after = torch.tensor([0, 2, 1, 0, 0, 1, 0, 1], dtype=torch.int16)
    assert changed_share((labels, sure), (after, sure)) == 2 / 8
    assert changed_share((labels, sure), (labels, sure)) == 0.0
    assert changed_share((labels, ~sure), (after, sure)) == 2 / 8  # rows 3 and 4


def test_end_check_counts_only_rows_confident_at_both_ends():
    from skdeepclust.representation._dgd_training import moved_share

    labels = torch.tensor([0, 0, 1, 1, 2, 2, 0, 1], dtype=torch.int16)
    sure = torch.tensor([True, True, True, False, False, True, True, True])
    after = torch.tensor([0, 2, 1, 0, 0, 1, 0, 1], dtype=torch.int16)
    # rows 1 and 5 left confident assignments: row 1 ends confident in component 2 (it
    # moved), row 5 ends near a boundary (churn); rows 3 and 4 were never confident
    end_sure = torch.tensor([True, True, True, True, True, False, True, True])
    assert moved_share((labels, sure), (after, end_sure)) == 1 / 8
    row1_unsure = end_sure.clone()
    row1_unsure[1] = False  # row 1 ends near a boundary too: nothing moved
    assert moved_share((labels, sure), (after, row1_unsure)) == 0.0
    assert moved_share((labels, sure), (labels, end_sure)) == 0.0


def test_tol_rule_waits_for_the_loss_to_settle():
    from skdeepclust.representation._dgd_training import loss_settled

    # fell by 300 of its 1 000 since the first epoch over the window: still training
    assert not loss_settled(100.0, -600.0, -900.0)
    # by 4 of 1 000 (the decoder's slow creep): settled
    assert loss_settled(100.0, -896.0, -900.0)
    # a loss that rose over the window is settled; one that falls while above its first
    # epoch's is not
    assert loss_settled(100.0, -900.0, -890.0) and not loss_settled(-5.0, -3.0, -4.0)


def test_converged_fit_on_clustered_data_does_not_warn():
    import warnings

    from sklearn.datasets import make_blobs
    from sklearn.exceptions import ConvergenceWarning

    # overlapping blobs (some rows near the boundaries) at a noisy representation rate:
    # the tol rule stops the fit before max_epochs, and nothing warns
    X, y = make_blobs(600, n_features=8, centers=3, cluster_std=3.0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = GMMRepresentation(3, hidden_layer_sizes=(16,), representation_learning_rate=0.2,
                                  device="cpu", random_state=0).fit(X)
    assert model.converged_ and model.n_iter_ < model._max_epochs
    # (at this noisy rate the partition depends on the random draws, ARI 0.5-0.96 over
    # seeds and laws; the rule stops a real clustering, not a collapsed one)
    assert adjusted_rand_score(y, model.labels_) > 0.7
