"""Tests of skdeepclust.nn.mixture against exact references (scipy quadrature and stats)."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate, special, stats

from skdeepclust.nn.mixture import (
    COVARIANCE_TYPES,
    UNLABELLED,
    DirichletPrior,
    GaussianMixturePrior,
    GaussianPrior,
    SoftballPrior,
    SupervisedGaussianMixturePrior,
)

F64 = torch.float64


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------------- softball
@pytest.mark.parametrize("radius, sharpness", [(2.0, 5.0), (0.5, 1.0), (1.5, 30.0)])
def test_softball_integrates_to_one_1d(radius, sharpness):
    prior = SoftballPrior(1, radius, sharpness)

    def density(x):
        return math.exp(float(prior.log_prob(torch.tensor([[x]], dtype=F64))[0]))

    lim = radius * (2 + 60 / sharpness)
    mass, _ = integrate.quad(density, -lim, lim, points=[-radius, radius], limit=200)
    assert mass == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("radius, sharpness", [(2.0, 5.0), (1.0, 2.0)])
def test_softball_integrates_to_one_2d(radius, sharpness):
    # Simpson's rule on a Cartesian grid (independent of the radial formula used inside)
    prior = SoftballPrior(2, radius, sharpness)
    lim = radius * (2 + 60 / sharpness)
    t = np.linspace(-lim, lim, 2001)
    xx, yy = np.meshgrid(t, t, indexing="ij")
    pts = torch.tensor(np.stack([xx.ravel(), yy.ravel()], 1))
    dens = torch.exp(prior.log_prob(pts)).numpy().reshape(xx.shape)
    mass = integrate.simpson(integrate.simpson(dens, x=t, axis=1), x=t)
    assert mass == pytest.approx(1.0, abs=1e-6)


def test_softball_normaliser_tends_to_ball_volume():
    # multiDGD's normaliser (the ball's volume) is the h -> infinity limit of the exact one
    d, r = 3, 1.7
    log_volume = 0.5 * d * math.log(math.pi) + d * math.log(r) - math.lgamma(1 + d / 2)
    assert SoftballPrior(d, r, 2000.0).log_normalizer == pytest.approx(log_volume, abs=1e-3)
    # and it is badly off at the working sharpness in the 20-D latent space of DGD
    assert SoftballPrior(20, 2.0, 5.0).log_normalizer - 20 * math.log(2.0) > 10


def test_softball_log_prob_shape_and_monotone():
    prior = SoftballPrior(3, 2.0, 5.0)
    x = torch.tensor([[0.0, 0, 0], [1.0, 0, 0], [0, 3.0, 0], [0, 0, 10.0]], dtype=F64)
    lp = prior.log_prob(x)
    assert lp.shape == (4,)
    assert torch.all(lp[:-1] >= lp[1:])
    # flat inside the ball (up to the sigmoid)
    assert float(lp[0] - lp[1]) < 0.1
    # the gradient is finite at the origin
    z = torch.zeros(1, 3, dtype=F64, requires_grad=True)
    prior.log_prob(z).sum().backward()
    assert torch.isfinite(z.grad).all()


@pytest.mark.parametrize("dim", [1, 2, 5])
def test_softball_sampler_matches_radial_law(dim):
    radius, sharpness = 2.0, 4.0
    prior = SoftballPrior(dim, radius, sharpness)
    draws = prior.sample(4000, generator=_gen(1))
    assert draws.shape == (4000, dim)
    rho = torch.linalg.vector_norm(draws, dim=1).numpy()

    def radial(t):  # unnormalised density of the radius
        return t ** (dim - 1) * special.expit(-sharpness * (t / radius - 1))

    upper = radius * (2 * max(1, (dim - 1) / sharpness) + 60 / sharpness)
    total = integrate.quad(radial, 0, upper, limit=200)[0]

    def cdf(t):
        t = np.atleast_1d(t)
        return np.array([integrate.quad(radial, 0, min(v, upper), limit=200)[0] for v in t]) / total

    grid = np.quantile(rho, [0.1, 0.3, 0.5, 0.7, 0.9])
    np.testing.assert_allclose(cdf(grid), [0.1, 0.3, 0.5, 0.7, 0.9], atol=0.03)
    # directions are uniform: the mean draw is near the origin
    assert np.abs(draws.numpy().mean(0)).max() < 0.15 * rho.mean()


def test_softball_ball_sampler_is_inside_and_reproducible():
    prior = SoftballPrior(4, 1.5, 5.0)
    a = prior.sample_ball(500, generator=_gen(3))
    b = prior.sample_ball(500, generator=_gen(3))
    assert torch.equal(a, b)
    assert float(torch.linalg.vector_norm(a, dim=1).max()) <= 1.5 + 1e-12


@pytest.mark.parametrize(
    "kwargs", [{"dim": 0}, {"dim": 2, "radius": 0.0}, {"dim": 2, "sharpness": 0.0}]
)
def test_softball_bad_parameters(kwargs):
    with pytest.raises(ValueError, match="should be"):
        SoftballPrior(**kwargs)


# ----------------------------------------------------------------------- simple priors
def test_gaussian_prior_matches_scipy():
    prior = GaussianPrior(-1.3, 0.7)
    x = torch.linspace(-4, 3, 11, dtype=F64)
    np.testing.assert_allclose(
        prior.log_prob(x).numpy(), stats.norm(-1.3, 0.7).logpdf(x.numpy()), rtol=1e-12
    )
    s = prior.sample((20000,), generator=_gen())
    assert float(s.mean()) == pytest.approx(-1.3, abs=0.02)
    assert float(s.std()) == pytest.approx(0.7, abs=0.02)


@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.5])
def test_dirichlet_prior_matches_scipy(alpha):
    k = 4
    prior = DirichletPrior(k, alpha)
    rng = np.random.default_rng(0)
    for _ in range(3):
        w = rng.dirichlet(np.ones(k))
        expected = stats.dirichlet(np.full(k, alpha)).logpdf(w)
        got = float(prior.log_prob(torch.tensor(w, dtype=F64)))
        assert got == pytest.approx(expected, rel=1e-10)
        got_log = float(prior.log_prob_log_weights(torch.log(torch.tensor(w, dtype=F64))))
        assert got_log == pytest.approx(expected, rel=1e-10)


# ---------------------------------------------------------------------------- mixture
def _set_random_parameters(gmm, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        gmm.means.copy_(torch.randn(gmm.means.shape, generator=g, dtype=F64))
        if gmm.covariance_type != "fixed":
            gmm.log_var.copy_(0.5 * torch.randn(gmm.log_var.shape, generator=g, dtype=F64))
        if gmm.covariance_type == "full":
            shape = gmm.scale_offdiag.shape
            gmm.scale_offdiag.copy_(0.5 * torch.randn(shape, generator=g, dtype=F64))
        gmm.weight_logits.copy_(torch.randn(gmm.n_components, generator=g, dtype=F64))


def _scipy_component_logpdf(gmm, z):
    means = gmm.means.detach().numpy()
    if gmm.covariance_type == "full":  # Sigma = L L^T from the parameters, by hand
        diag = np.exp(0.5 * gmm.log_var.detach().numpy())
        low = np.tril(gmm.scale_offdiag.detach().numpy(), -1)
        L = low + np.stack([np.diag(d) for d in diag])
        cov = L @ L.transpose(0, 2, 1)
        assert np.abs(cov - np.swapaxes(cov, 1, 2)).max() == 0 and (low != 0).any()
    else:
        cov = np.stack([np.diag(v) for v in gmm.variances.detach().numpy()])
    w = gmm.weights.detach().numpy()
    return np.stack(
        [
            np.log(w[k]) + stats.multivariate_normal(means[k], cov[k]).logpdf(z)
            for k in range(gmm.n_components)
        ],
        axis=1,
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_mixture_log_prob_matches_scipy_mixture(covariance_type):
    gmm = GaussianMixturePrior(3, 4, covariance_type, component_std=0.8).to(F64)
    _set_random_parameters(gmm)
    z = np.random.default_rng(1).normal(size=(7, 4))
    comp = _scipy_component_logpdf(gmm, z)
    zt = torch.tensor(z)
    np.testing.assert_allclose(gmm.component_log_prob(zt).detach().numpy(), comp, rtol=1e-10)
    np.testing.assert_allclose(
        gmm.log_prob(zt).detach().numpy(), special.logsumexp(comp, axis=1), rtol=1e-10
    )
    np.testing.assert_allclose(gmm(zt).detach().numpy(), -special.logsumexp(comp, axis=1))
    resp = gmm.responsibilities(zt).detach().numpy()
    np.testing.assert_allclose(resp, special.softmax(comp, axis=1), rtol=1e-10)
    np.testing.assert_array_equal(gmm.predict(zt).numpy(), comp.argmax(1))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_mixture_log_prior_matches_scipy(covariance_type):
    radius, sharp, std, tau, alpha = 2.0, 5.0, 0.3, 0.8, 2.0
    gmm = GaussianMixturePrior(
        3, 2, covariance_type, softball_radius=radius, softball_sharpness=sharp,
        component_std=std, log_var_prior_std=tau, dirichlet_alpha=alpha,
    ).to(F64)
    _set_random_parameters(gmm, seed=4)
    softball = SoftballPrior(2, radius, sharp)
    expected = float(softball.log_prob(gmm.means.detach()).sum())
    if covariance_type != "fixed":
        expected += stats.norm(2 * math.log(std), tau).logpdf(gmm.log_var.detach().numpy()).sum()
    if covariance_type == "full":  # the strictly lower Cholesky entries, N(0, std)
        low = gmm.scale_offdiag.detach().numpy()[:, 1, 0]  # the only one in 2-D
        expected += stats.norm(0.0, std).logpdf(low).sum()
    expected += stats.dirichlet(np.full(3, alpha)).logpdf(gmm.weights.detach().numpy())
    assert gmm.log_prior().item() == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_mixture_gradients_reach_every_parameter(covariance_type):
    gmm = GaussianMixturePrior(3, 2, covariance_type, generator=_gen())
    z = torch.randn(5, 2, generator=_gen(1))
    (gmm(z).mean() - gmm.log_prior()).backward()
    names = {n for n, _ in gmm.named_parameters()}
    assert ("log_var" in names) == (covariance_type != "fixed")
    for name, p in gmm.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_mixture_defaults_are_a_density():
    # multiDGD's documented default radius 0 gives -inf; ours must be finite everywhere
    gmm = GaussianMixturePrior(10, 20, generator=_gen())
    assert math.isfinite(gmm.log_prior().item())
    assert gmm.component_std == pytest.approx(2 * 2.0 / (10 * 10))
    assert float(torch.linalg.vector_norm(gmm.means.detach(), dim=1).max()) <= 2.0 + 1e-6
    np.testing.assert_allclose(gmm.weights.detach().numpy(), 0.1, rtol=1e-6)


def test_mixture_init_is_reproducible():
    a = GaussianMixturePrior(4, 3, generator=_gen(5))
    b = GaussianMixturePrior(4, 3, generator=_gen(5))
    assert torch.equal(a.means, b.means)


def test_mixture_sample_follows_weights_and_means():
    gmm = GaussianMixturePrior(3, 2, "diagonal", component_std=0.1).to(F64)
    with torch.no_grad():
        gmm.means.copy_(torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]]))
        gmm.weight_logits.copy_(torch.log(torch.tensor([0.2, 0.3, 0.5])))
    z, comp = gmm.sample(20000, generator=_gen())
    assert z.shape == (20000, 2) and comp.shape == (20000,)
    freq = np.bincount(comp.numpy(), minlength=3) / 20000
    np.testing.assert_allclose(freq, [0.2, 0.3, 0.5], atol=0.015)
    for k in range(3):
        np.testing.assert_allclose(
            z[comp == k].mean(0).numpy(), gmm.means[k].detach().numpy(), atol=0.01
        )
        np.testing.assert_allclose(z[comp == k].std(0).numpy(), 0.1, rtol=0.05)
    z2, comp2 = gmm.sample(20000, generator=_gen())
    assert torch.equal(z, z2) and torch.equal(comp, comp2)


def test_full_covariance_samples_have_the_covariance_and_start_diagonal():
    gmm = GaussianMixturePrior(2, 3, "full", component_std=0.5).to(F64)
    np.testing.assert_allclose(gmm.covariances.detach().numpy()[0], 0.25 * np.eye(3))
    _set_random_parameters(gmm, seed=2)
    z, comp = gmm.sample(40000, generator=_gen())
    cov = gmm.covariances.detach().numpy()
    assert np.abs(cov[0] - np.diag(np.diag(cov[0]))).max() > 0.1  # really not diagonal
    for k in range(2):
        emp = np.cov(z[comp == k].numpy(), rowvar=False)
        np.testing.assert_allclose(emp, cov[k], atol=0.05 * np.abs(cov[k]).max())
    np.testing.assert_allclose(gmm.variances.detach().numpy(), np.diagonal(cov, 0, 1, 2))


def test_mixture_candidates():
    gmm = GaussianMixturePrior(3, 2, generator=_gen())
    z, comp = gmm.candidates("mean")
    assert torch.equal(z, gmm.means.detach()) and comp.tolist() == [0, 1, 2]
    z, comp = gmm.candidates("sample", n_per_component=4, generator=_gen())
    assert z.shape == (12, 2) and comp.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    with pytest.raises(ValueError, match="valid options"):
        gmm.candidates("median")


def test_mixture_bad_parameters():
    with pytest.raises(ValueError, match="n_components=0"):
        GaussianMixturePrior(0, 2)
    with pytest.raises(ValueError, match="valid options"):
        GaussianMixturePrior(2, 2, "tied")


# ------------------------------------------------------------------ supervised mixture
def test_supervised_log_prob_is_logsumexp_over_class_components():
    gmm = SupervisedGaussianMixturePrior(3, 2, dim=2, covariance_type="isotropic").to(F64)
    _set_random_parameters(gmm, seed=2)
    z = np.random.default_rng(3).normal(size=(6, 2))
    y = np.array([0, 1, 2, UNLABELLED, 1, 0])
    comp = _scipy_component_logpdf(gmm, z)  # (6, 6), class-major
    expected = np.where(
        y == UNLABELLED,
        special.logsumexp(comp, axis=1),
        special.logsumexp(
            np.where(np.arange(6)[None, :] // 2 == y[:, None], comp, -np.inf), axis=1
        ),
    )
    got = gmm.log_prob(torch.tensor(z), torch.tensor(y)).detach().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    # classes partition the marginal: logsumexp_c log p(z, c) = log p(z)
    joint = gmm.class_log_prob(torch.tensor(z))
    np.testing.assert_allclose(
        torch.logsumexp(joint, 1).detach().numpy(), special.logsumexp(comp, axis=1), rtol=1e-10
    )
    post = gmm.class_posterior(torch.tensor(z)).detach().numpy()
    np.testing.assert_allclose(post.sum(1), 1.0)
    np.testing.assert_allclose(gmm(torch.tensor(z)).detach().numpy(), -special.logsumexp(comp, 1))


def test_supervised_sampling_stays_in_class():
    gmm = SupervisedGaussianMixturePrior(3, 2, dim=2, generator=_gen())
    y = torch.tensor([0, 1, 2, 2, 1, 0] * 10)
    z, comp = gmm.sample_classes(y, generator=_gen(1))
    assert z.shape == (60, 2)
    assert torch.equal(gmm.component_class[comp], y)
    zm, comp = gmm.sample_classes(y, kind="mean", generator=_gen(1))
    assert torch.equal(zm, gmm.means.detach()[comp])


def test_supervised_bad_parameters():
    with pytest.raises(ValueError, match="n_classes=0"):
        SupervisedGaussianMixturePrior(0, 2)
    with pytest.raises(ValueError, match="n_components_per_class=0"):
        SupervisedGaussianMixturePrior(2, 0)


def test_supervised_fit_separates_classes():
    # MAP-fit the supervised prior alone on labelled 2-D blobs: each class's components
    # move onto its blob and the class posterior classifies the points
    g = _gen(0)
    centers = torch.tensor([[-1.0, 0.0], [1.0, 0.0], [0.0, 1.2]], dtype=F64)
    y = torch.arange(3).repeat_interleave(100)
    z = centers[y] + 0.15 * torch.randn(300, 2, generator=g, dtype=F64)
    gmm = SupervisedGaussianMixturePrior(3, 2, dim=2, component_std=0.2, generator=g).to(F64)
    opt = torch.optim.Adam(gmm.parameters(), lr=0.05)
    for _ in range(150):
        opt.zero_grad()
        loss = gmm(z, y).mean() - gmm.log_prior() / len(z)
        loss.backward()
        opt.step()
    acc = float((gmm.class_posterior(z).argmax(1) == y).double().mean())
    assert acc > 0.97
