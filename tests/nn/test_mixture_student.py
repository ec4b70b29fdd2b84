"""Student-t components of GaussianMixturePrior, against scipy.stats.multivariate_t."""

import numpy as np
import pytest
import torch
from scipy import stats

from skdeepclust.nn.mixture import GaussianMixturePrior, SupervisedGaussianMixturePrior

F64 = torch.float64


def _prior(covariance_type, nu, seed=0):
    torch.manual_seed(seed)
    gmm = GaussianMixturePrior(3, 3, covariance_type, degrees_of_freedom=nu,
                               generator=torch.Generator().manual_seed(seed)).double()
    with torch.no_grad():
        gmm.log_var.normal_(0.0, 0.5)
        gmm.weight_logits.normal_()
        if covariance_type == "full":
            gmm.scale_offdiag.normal_(0.0, 0.3)
    return gmm


@pytest.mark.parametrize("covariance_type", ["full", "diagonal", "isotropic"])
@pytest.mark.parametrize("nu", [1.0, 5.0, 30.0])
def test_student_t_log_prob_matches_scipy(covariance_type, nu):
    gmm = _prior(covariance_type, nu)
    z = torch.randn(50, 3, dtype=F64, generator=torch.Generator().manual_seed(1)) * 2
    means = gmm.means.detach().numpy()
    covs = gmm.covariances.detach().numpy()
    w = gmm.weights.detach().numpy()
    expected = np.stack([np.log(w[k]) + stats.multivariate_t(means[k], covs[k], df=nu)
                         .logpdf(z.numpy()) for k in range(3)], axis=1)
    np.testing.assert_allclose(gmm.component_log_prob(z).detach().numpy(), expected,
                               rtol=1e-10, atol=1e-10)
    # the mixture density integrates like scipy's: log p(z) = logsumexp of the components
    np.testing.assert_allclose(gmm.log_prob(z).detach().numpy(),
                               np.logaddexp.reduce(expected, axis=1), rtol=1e-10)


def test_gaussian_components_unchanged_by_default():
    gmm = _prior("full", None)
    assert gmm.degrees_of_freedom is None
    z = torch.randn(20, 3, dtype=F64, generator=torch.Generator().manual_seed(2))
    means, covs = gmm.means.detach().numpy(), gmm.covariances.detach().numpy()
    w = gmm.weights.detach().numpy()
    expected = np.stack([np.log(w[k]) + stats.multivariate_normal(means[k], covs[k])
                         .logpdf(z.numpy()) for k in range(3)], axis=1)
    np.testing.assert_allclose(gmm.component_log_prob(z).detach().numpy(), expected,
                               rtol=1e-10)


def test_student_t_draws_follow_the_law():
    # the Mahalanobis distance of a t draw over d follows F(d, nu)
    nu = 4.0
    gmm = _prior("full", nu)
    comp = torch.zeros(4000, dtype=torch.long)
    z = gmm.sample_components(comp, torch.Generator().manual_seed(3))
    inv = torch.linalg.inv(gmm.covariances[0]).detach()
    diff = z - gmm.means[0].detach()
    maha = ((diff @ inv) * diff).sum(1).numpy() / 3
    assert stats.kstest(maha, stats.f(3, nu).cdf).pvalue > 1e-3
    # seeded: the same draws
    again = gmm.sample_components(comp, torch.Generator().manual_seed(3))
    assert torch.equal(z, again)


def test_gradient_of_far_points_is_bounded():
    # a t component pulls a far representation by O(1 / distance), a Gaussian by O(distance)
    pulls = {}
    for nu in (None, 5.0):
        gmm = GaussianMixturePrior(1, 2, "diagonal", degrees_of_freedom=nu,
                                   component_std=1.0).double()
        with torch.no_grad():
            gmm.means.zero_()
        z = torch.tensor([[100.0, 0.0]], dtype=F64, requires_grad=True)
        gmm.log_prob(z).sum().backward()
        pulls[nu] = float(z.grad.norm())
    assert pulls[None] == pytest.approx(100.0)
    assert pulls[5.0] == pytest.approx((5 + 2) * 100 / (5 + 100**2), rel=1e-6)


def test_invalid_degrees_of_freedom():
    with pytest.raises(ValueError, match="degrees_of_freedom"):
        GaussianMixturePrior(2, 2, degrees_of_freedom=0.0)


def test_supervised_prior_takes_degrees_of_freedom():
    gmm = SupervisedGaussianMixturePrior(2, 1, dim=2, degrees_of_freedom=3.0)
    assert gmm.degrees_of_freedom == 3.0
    assert "degrees_of_freedom=3" in repr(gmm)
    z = torch.zeros(2, 2)
    assert torch.isfinite(gmm.log_prob(z, torch.tensor([0, -1]))).all()


def test_module_pickled_before_student_t_reads_as_gaussian():
    gmm = GaussianMixturePrior(2, 2, generator=torch.Generator().manual_seed(0))
    reference = gmm.component_log_prob(torch.ones(3, 2))
    del gmm.__dict__["degrees_of_freedom"]  # as unpickled from an older version
    assert gmm._nu is None
    assert torch.equal(gmm.component_log_prob(torch.ones(3, 2)), reference)
