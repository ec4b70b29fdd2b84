r"""Gaussian-mixture priors over latent representations, with priors on their parameters.

This is the latent model of the deep generative decoder (DGD, multiDGD; Schuster & Krogh):
a Gaussian mixture over per-sample representations whose means carry a *softball* prior,
whose log-variances carry a Gaussian prior and whose weights carry a Dirichlet prior.
:class:`GaussianMixturePrior` can also use multivariate Student-t components (a fixed
number of degrees of freedom), a heavy-tailed mixture that is not in multiDGD.

How the parameter prior is weighted
-----------------------------------
The modules return the two kinds of terms separately:

* ``forward(z)`` / ``log_prob(z)`` give the **per-sample** term :math:`\log p(z_i)`;
* ``log_prior()`` gives the **parameter** term :math:`\log p(\theta)` (means, variances,
  weights), a scalar.

The MAP objective of a data set of :math:`n` samples is
:math:`-\sum_i \log p(x_i, z_i \mid \theta) - \log p(\theta)`. skdeepclust counts the
parameter prior **once per data set**: a minibatch's loss is the batch mean of the
per-sample terms minus ``log_prior() / n``, so an epoch's gradient is an unbiased estimate
of the full objective divided by :math:`n`. multiDGD instead adds :math:`\log p(\theta)` to
every sample's value and sums over the batch, which counts the prior batch-size times per
step (``n`` times per epoch); that makes the prior's strength depend on the batch size.

References
----------
.. [1] V. Schuster and A. Krogh, "The deep generative decoder: MAP estimation of
   representations improves modelling of single-cell RNA data", Bioinformatics 39(9),
   btad497, 2023. https://arxiv.org/abs/2110.06672
.. [2] V. Schuster et al., "multiDGD: a versatile deep generative model for multi-omics
   data", Nature Communications 15, 10031, 2024.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

__all__ = [
    "COVARIANCE_TYPES",
    "UNLABELLED",
    "DirichletPrior",
    "GaussianMixturePrior",
    "GaussianPrior",
    "SoftballPrior",
    "SupervisedGaussianMixturePrior",
]

#: Covariance structures of the mixture components.
COVARIANCE_TYPES = ("diagonal", "isotropic", "fixed", "full")

#: Label marking an unlabelled sample for :class:`SupervisedGaussianMixturePrior`
#: (multiDGD uses 999).
UNLABELLED = -1

_LOG_2PI = math.log(2.0 * math.pi)


def _softplus(x: Tensor) -> Tensor:
    return nn.functional.softplus(x)


class SoftballPrior(nn.Module):
    r"""Softball prior: a mollified uniform distribution on a ball.

    The density of a point :math:`\mu \in \mathbb{R}^d` is

    .. math::

        p(\mu) = \frac{1}{Z}\,\sigma\!\left(-h\left(\frac{\lVert\mu\rVert}{r} - 1\right)\right),

    flat inside the ball of radius :math:`r` and falling off over a shell of width
    :math:`\approx r/h` outside it.

    Unlike multiDGD, the normaliser :math:`Z` is exact: it is computed once by quadrature of
    the radial integral :math:`Z = S_{d-1} r^d \int_0^\infty u^{d-1}\sigma(-h(u-1))\,du`
    (:math:`S_{d-1}` the area of the unit sphere). multiDGD uses the volume of the ball,
    which is exact only as :math:`h \to \infty` (at :math:`h=5` it overstates the mass by
    13% in 2-D, and by orders of magnitude in 20-D, where most of the mass lies outside the
    ball).

    Parameters
    ----------
    dim : int
        Dimension :math:`d` of the space.
    radius : float, default=2.0
        Radius :math:`r > 0` of the ball (multiDGD's default of 0 is not a density).
    sharpness : float, default=5.0
        Sharpness :math:`h > 0` of the border.

    Examples
    --------
    >>> import torch
    >>> from skdeepclust.nn.mixture import SoftballPrior
    >>> prior = SoftballPrior(2, radius=1.0, sharpness=10.0)
    >>> prior.log_prob(torch.zeros(1, 2)).shape
    torch.Size([1])
    >>> prior.sample(5, generator=torch.Generator().manual_seed(0)).shape
    torch.Size([5, 2])
    """

    #: Number of points of the radial quadrature grid.
    n_grid = 20001

    def __init__(self, dim: int, radius: float = 2.0, sharpness: float = 5.0) -> None:
        super().__init__()
        if dim < 1:
            raise ValueError(f"dim={dim} should be >= 1.")
        if not radius > 0:
            raise ValueError(f"radius={radius} should be > 0.")
        if not sharpness > 0:
            raise ValueError(f"sharpness={sharpness} should be > 0.")
        self.dim = int(dim)
        self.radius = float(radius)
        self.sharpness = float(sharpness)
        u, log_f = self._radial_grid()
        step = float(u[1] - u[0])
        # trapezoid rule in log space
        log_w = torch.full_like(log_f, math.log(step))
        log_w[0] = log_w[-1] = math.log(step / 2)
        log_integral = float(torch.logsumexp(log_f + log_w, 0))
        log_sphere = math.log(2.0) + 0.5 * dim * math.log(math.pi) - math.lgamma(0.5 * dim)
        self.log_normalizer = log_sphere + dim * math.log(self.radius) + log_integral

    def _radial_grid(self, device=None) -> tuple[Tensor, Tensor]:
        """Grid of u = ||mu||/r and the log radial density (unnormalised), float64."""
        d, h = self.dim, self.sharpness
        u_peak = max(1.0, (d - 1) / h)
        u_max = 2.0 * u_peak + 60.0 / h
        u = torch.linspace(0.0, u_max, self.n_grid, dtype=torch.float64, device=device)
        log_f = -_softplus(h * (u - 1.0))
        if d > 1:
            log_f = log_f + (d - 1) * torch.log(u)  # log(0) = -inf at u=0 is fine
        return u, log_f

    def log_prob(self, x: Tensor) -> Tensor:
        """Log density of points ``x`` of shape (..., dim); returns shape (...)."""
        norm = torch.linalg.vector_norm(x, dim=-1)
        return -_softplus(self.sharpness * (norm / self.radius - 1.0)) - self.log_normalizer

    def sample(self, n_samples: int, generator: torch.Generator | None = None) -> Tensor:
        """Exact draws: a uniform direction times a radius from the radial law.

        The radius is drawn by inverting the radial CDF on the quadrature grid (linear
        interpolation). Returns a float64 tensor of shape (n_samples, dim) on the
        generator's device (CPU without a generator); cast it as needed.
        """
        device = generator.device if generator is not None else None
        u, log_f = self._radial_grid(device)
        f = torch.exp(log_f - log_f.max())
        cdf = torch.cat([f.new_zeros(1), torch.cumsum((f[1:] + f[:-1]) / 2, 0)])
        cdf = cdf / cdf[-1]
        q = torch.rand(n_samples, dtype=torch.float64, device=device, generator=generator)
        hi = torch.searchsorted(cdf, q).clamp(1, self.n_grid - 1)
        lo = hi - 1
        frac = (q - cdf[lo]) / (cdf[hi] - cdf[lo]).clamp_min(1e-300)
        radius = self.radius * (u[lo] + frac * (u[hi] - u[lo]))
        return radius[:, None] * _random_directions(n_samples, self.dim, generator)

    def sample_ball(self, n_samples: int, generator: torch.Generator | None = None) -> Tensor:
        """multiDGD's approximate sampler: uniform in the ball of radius ``radius``.

        Used to initialise mixture means (inside the ball, where the prior is flat).
        Returns float64 of shape (n_samples, dim).
        """
        device = generator.device if generator is not None else None
        v = torch.rand(n_samples, 1, dtype=torch.float64, device=device, generator=generator)
        return self.radius * v ** (1.0 / self.dim) * _random_directions(
            n_samples, self.dim, generator
        )

    def extra_repr(self) -> str:
        return f"dim={self.dim}, radius={self.radius}, sharpness={self.sharpness}"


def _random_directions(n: int, dim: int, generator: torch.Generator | None) -> Tensor:
    device = generator.device if generator is not None else None
    g = torch.randn(n, dim, dtype=torch.float64, device=device, generator=generator)
    return g / torch.linalg.vector_norm(g, dim=1, keepdim=True).clamp_min(1e-300)


class GaussianPrior(nn.Module):
    """Independent Gaussian prior :math:`\\mathcal{N}(\\text{mean}, \\text{std}^2)` per element.

    Parameters
    ----------
    mean : float
    std : float
        Must be > 0.
    """

    def __init__(self, mean: float, std: float) -> None:
        super().__init__()
        if not std > 0:
            raise ValueError(f"std={std} should be > 0.")
        self.mean = float(mean)
        self.std = float(std)

    def log_prob(self, x: Tensor) -> Tensor:
        """Element-wise log density (same shape as ``x``)."""
        z = (x - self.mean) / self.std
        return -0.5 * z * z - math.log(self.std) - 0.5 * _LOG_2PI

    def sample(self, shape, generator: torch.Generator | None = None) -> Tensor:
        """Float64 draws of the given shape."""
        device = generator.device if generator is not None else None
        eps = torch.randn(shape, dtype=torch.float64, device=device, generator=generator)
        return self.mean + self.std * eps

    def extra_repr(self) -> str:
        return f"mean={self.mean:.4g}, std={self.std:.4g}"


class DirichletPrior(nn.Module):
    r"""Symmetric Dirichlet prior on mixture weights.

    :math:`\log p(\pi) = \log\Gamma(K\alpha) - K\log\Gamma(\alpha) + (\alpha-1)\sum_k\log\pi_k`.

    Parameters
    ----------
    n_components : int
        :math:`K`.
    alpha : float, default=1.0
        Concentration :math:`\alpha > 0`; 1 is flat (only the constant remains), > 1
        favours balanced weights, < 1 sparse ones.
    """

    def __init__(self, n_components: int, alpha: float = 1.0) -> None:
        super().__init__()
        if not alpha > 0:
            raise ValueError(f"alpha={alpha} should be > 0.")
        self.n_components = int(n_components)
        self.alpha = float(alpha)
        k = self.n_components
        self.log_normalizer = math.lgamma(k * self.alpha) - k * math.lgamma(self.alpha)

    def log_prob_log_weights(self, log_weights: Tensor) -> Tensor:
        """Log density from ``log π`` of shape (..., K) (stable when weights underflow)."""
        if self.alpha == 1.0:
            return log_weights.new_full(log_weights.shape[:-1], self.log_normalizer)
        return self.log_normalizer + (self.alpha - 1.0) * log_weights.sum(-1)

    def log_prob(self, weights: Tensor) -> Tensor:
        """Log density of weights of shape (..., K) on the simplex."""
        return self.log_prob_log_weights(torch.log(weights))

    def extra_repr(self) -> str:
        return f"n_components={self.n_components}, alpha={self.alpha}"


class GaussianMixturePrior(nn.Module):
    r"""Gaussian (or Student-t) mixture over representations, with priors on its parameters.

    .. math::

        \log p(z) = \log\sum_k \pi_k\,\mathcal{N}(z;\mu_k,\operatorname{diag}\sigma_k^2),
        \qquad \pi = \operatorname{softmax}(w).

    With ``degrees_of_freedom`` :math:`\nu`, each component is a multivariate Student-t
    of location :math:`\mu_k` and scale matrix :math:`\Sigma_k` instead,

    .. math::

        \log t_\nu(z;\mu_k,\Sigma_k) = \log\Gamma\!\left(\tfrac{\nu+d}{2}\right)
        - \log\Gamma\!\left(\tfrac{\nu}{2}\right) - \tfrac{d}{2}\log(\nu\pi)
        - \tfrac12\log\det\Sigma_k - \tfrac{\nu+d}{2}\log\!\left(1 + \tfrac{m_k(z)}{\nu}
        \right),

    :math:`m_k(z)` the squared Mahalanobis distance: a Gaussian scale mixture whose tails
    fall polynomially, so that a few far points do not make a component wide (or a
    second, wide component around it the most likely fit). It tends to the Gaussian as
    :math:`\nu \to \infty`; its covariance is :math:`\nu / (\nu - 2)\,\Sigma_k` for
    :math:`\nu > 2`. All the covariance properties below are those of :math:`\Sigma_k`.

    Parameters carry priors (see :meth:`log_prior`): the means a :class:`SoftballPrior`,
    the log-variances :math:`\log\sigma^2` a :class:`GaussianPrior` centred on
    :math:`2\log(\text{component\_std})`, the weights a :class:`DirichletPrior`. The
    per-sample term and the parameter prior are returned separately; see the module
    docstring for how skdeepclust weights them (the prior once per data set).

    Parameters
    ----------
    n_components : int
        Number of components :math:`K \ge 1`.
    dim : int
        Dimension of the representations.
    covariance_type : {"diagonal", "isotropic", "fixed", "full"}, default="diagonal"
        One learned variance per component and dimension, one per component, one fixed
        variance ``component_std**2`` (not learned, no prior), or a full covariance
        :math:`\Sigma_k = L_k L_k^\top` per component. For "full", ``log_var`` holds
        the log-squares of the Cholesky factor's diagonal :math:`L_k` (they carry the
        log-variance prior, so the prior fixes each component's volume
        :math:`\log\det\Sigma_k` as tightly as a diagonal one's) and ``scale_offdiag``
        its strictly lower triangle, whose entries carry a Gaussian prior of mean 0 and
        standard deviation ``component_std`` (the shape may tilt and stretch, not
        degenerate). Not in multiDGD; scikit-learn's default.
    softball_radius, softball_sharpness : float, default=2.0, 5.0
        Softball prior of the means (multiDGD's working values; its documented default
        radius 0 is not a density). Means are initialised uniformly in the ball.
    component_std : float, default=None
        Prior mode of each component's standard deviation, also its initial value.
        ``None`` uses multiDGD's ``2 * radius / (10 * n_components)``.
    log_var_prior_std : float, default=1.0
        Standard deviation of the Gaussian prior on each :math:`\log\sigma^2`.
    dirichlet_alpha : float, default=1.0
        Concentration of the Dirichlet prior on the weights.
    degrees_of_freedom : float, default=None
        ``None``: Gaussian components. A number :math:`\nu > 0`: Student-t components
        with :math:`\nu` degrees of freedom (fixed, not learned); small values give heavy
        tails (1 is the Cauchy law), large ones are close to the Gaussian.
    generator : torch.Generator, default=None
        Draws the initial means; ``None`` uses the global torch RNG.

    Attributes
    ----------
    means : Parameter of shape (n_components, dim)
    log_var : Parameter (buffer when "fixed") of shape (n_components, dim) or (n_components, 1)
    scale_offdiag : Parameter of shape (n_components, dim, dim), "full" only
        Its strictly lower triangle is that of the Cholesky factor (the rest is unused).
    weight_logits : Parameter of shape (n_components,)

    Examples
    --------
    >>> import torch
    >>> from skdeepclust.nn.mixture import GaussianMixturePrior
    >>> gmm = GaussianMixturePrior(3, 2, generator=torch.Generator().manual_seed(0))
    >>> z = torch.zeros(4, 2)
    >>> gmm.log_prob(z).shape, gmm.responsibilities(z).shape
    (torch.Size([4]), torch.Size([4, 3]))
    >>> bool(torch.isfinite(gmm.log_prior()))
    True
    """

    def __init__(
        self,
        n_components: int,
        dim: int,
        covariance_type: str = "diagonal",
        *,
        softball_radius: float = 2.0,
        softball_sharpness: float = 5.0,
        component_std: float | None = None,
        log_var_prior_std: float = 1.0,
        dirichlet_alpha: float = 1.0,
        degrees_of_freedom: float | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if n_components < 1:
            raise ValueError(f"n_components={n_components} should be >= 1.")
        if covariance_type not in COVARIANCE_TYPES:
            raise ValueError(
                f"Unknown covariance_type {covariance_type!r}; valid options are "
                f"{list(COVARIANCE_TYPES)}."
            )
        if component_std is None:
            component_std = 2.0 * softball_radius / (10.0 * n_components)
        if not component_std > 0:
            raise ValueError(f"component_std={component_std} should be > 0.")
        if degrees_of_freedom is not None and not degrees_of_freedom > 0:
            raise ValueError(
                f"degrees_of_freedom={degrees_of_freedom} should be > 0 (or None for "
                "Gaussian components)."
            )
        self.degrees_of_freedom = (
            None if degrees_of_freedom is None else float(degrees_of_freedom)
        )
        self.n_components = int(n_components)
        self.dim = int(dim)
        self.covariance_type = covariance_type
        self.component_std = float(component_std)
        self.mean_prior = SoftballPrior(dim, softball_radius, softball_sharpness)
        self.log_var_prior = GaussianPrior(2.0 * math.log(component_std), log_var_prior_std)
        self.weight_prior = DirichletPrior(n_components, dirichlet_alpha)

        means = self.mean_prior.sample_ball(n_components, generator)
        self.means = nn.Parameter(means.to(torch.get_default_dtype()))
        per_dim = covariance_type in ("diagonal", "full")
        shape = (n_components, dim) if per_dim else (n_components, 1)
        log_var = torch.full(shape, self.log_var_prior.mean)
        if covariance_type == "fixed":
            self.register_buffer("log_var", log_var)
        else:
            self.log_var = nn.Parameter(log_var)
        if covariance_type == "full":
            self.offdiag_prior = GaussianPrior(0.0, component_std)
            self.scale_offdiag = nn.Parameter(torch.zeros(n_components, dim, dim))
        self.weight_logits = nn.Parameter(torch.zeros(n_components))
        self.register_buffer("log_var_mode", None)

    @property
    def _nu(self) -> float | None:
        """The degrees of freedom (None: Gaussian; also for modules pickled before them)."""
        return self.__dict__.get("degrees_of_freedom")

    def anchor_log_var(self) -> None:
        """Centre the log-variance prior of each component on its current ``log_var``.

        By default every component's prior has the one mode ``2 log(component_std)``,
        which pulls all components towards one volume. After the mixture has been started
        from an estimate (e.g. EM on the initial representations), anchoring keeps each
        component near its own estimated volume and shape instead, while still holding it
        away from the MAP fit's variance collapse. No effect for "fixed".
        """
        if self.covariance_type != "fixed":
            self.log_var_mode = self.log_var.detach().clone()

    # ----------------------------------------------------------------- parameters
    def log_weights(self) -> Tensor:
        """:math:`\\log\\pi`, shape (n_components,)."""
        return torch.log_softmax(self.weight_logits, 0)

    @property
    def weights(self) -> Tensor:
        """Mixture weights :math:`\\pi`, shape (n_components,)."""
        return torch.softmax(self.weight_logits, 0)

    @property
    def variances(self) -> Tensor:
        """Per-dimension variances (the covariances' diagonals), shape (n_components, dim)."""
        if self.covariance_type == "full":
            return (self.scale_tril**2).sum(-1)
        return torch.exp(self.log_var).expand(self.n_components, self.dim)

    @property
    def stddevs(self) -> Tensor:
        """Per-dimension standard deviations, shape (n_components, dim)."""
        if self.covariance_type == "full":
            return self.variances.sqrt()
        return torch.exp(0.5 * self.log_var).expand(self.n_components, self.dim)

    @property
    def scale_tril(self) -> Tensor:
        """Cholesky factors :math:`L_k` of the covariances, shape (n_components, dim, dim)."""
        diag = torch.diag_embed(torch.exp(0.5 * self.log_var).expand(self.n_components, self.dim))
        if self.covariance_type != "full":
            return diag
        return diag + torch.tril(self.scale_offdiag, diagonal=-1)

    @property
    def covariances(self) -> Tensor:
        """Covariance matrices, shape (n_components, dim, dim)."""
        scale = self.scale_tril
        return scale @ scale.transpose(-1, -2)

    def _offdiag(self) -> Tensor:
        rows, cols = torch.tril_indices(self.dim, self.dim, -1, device=self.means.device)
        return self.scale_offdiag[:, rows, cols]

    def log_prior(self) -> Tensor:
        """Log prior density :math:`\\log p(\\theta)` of the current parameters (scalar)."""
        lp = self.mean_prior.log_prob(self.means).sum()
        if self.covariance_type != "fixed":
            log_var = self.log_var
            if self.log_var_mode is not None:  # per-component modes (anchor_log_var)
                log_var = log_var - self.log_var_mode + self.log_var_prior.mean
            lp = lp + self.log_var_prior.log_prob(log_var).sum()
        if self.covariance_type == "full":
            lp = lp + self.offdiag_prior.log_prob(self._offdiag()).sum()
        return lp + self.weight_prior.log_prob_log_weights(self.log_weights())

    # -------------------------------------------------------------- densities
    def component_log_prob(self, z: Tensor) -> Tensor:
        """Joint log densities :math:`\\log\\pi_k + \\log\\mathcal{N}(z;\\mu_k,\\Sigma_k)`.

        Parameters
        ----------
        z : Tensor of shape (n, dim)

        Returns
        -------
        Tensor of shape (n, n_components)
        """
        diff = z[:, None, :] - self.means[None, :, :]
        if self.covariance_type == "full":  # |L_k^-1 (z - mu_k)|^2 with L_k^-1 once per call
            eye = torch.eye(self.dim, dtype=diff.dtype, device=diff.device)
            inv = torch.linalg.solve_triangular(self.scale_tril, eye, upper=False)
            white = torch.einsum("kij,nkj->nki", inv, diff)
            maha = (white * white).sum(-1)
        else:
            precision = torch.exp(-self.log_var)  # (K, dim) or (K, 1)
            maha = (diff * diff * precision).sum(-1)  # (n, K)
        log_det = self.log_var.sum(-1) * (self.dim / self.log_var.shape[-1])  # (K,)
        nu = self._nu
        if nu is None:
            log_density = -0.5 * (maha + log_det + self.dim * _LOG_2PI)
        else:
            d = self.dim
            const = (math.lgamma(0.5 * (nu + d)) - math.lgamma(0.5 * nu)
                     - 0.5 * d * math.log(nu * math.pi))
            log_density = const - 0.5 * log_det - 0.5 * (nu + d) * torch.log1p(maha / nu)
        return log_density + self.log_weights()

    def log_prob(self, z: Tensor) -> Tensor:
        """Log density :math:`\\log p(z)` of each row, shape (n,). Excludes the prior."""
        return torch.logsumexp(self.component_log_prob(z), dim=1)

    def forward(self, z: Tensor) -> Tensor:
        """Per-sample negative log density :math:`-\\log p(z_i)`, shape (n,)."""
        return -self.log_prob(z)

    def responsibilities(self, z: Tensor) -> Tensor:
        """Posterior component probabilities :math:`p(k \\mid z)`, shape (n, n_components)."""
        return torch.softmax(self.component_log_prob(z), dim=1)

    def predict(self, z: Tensor) -> Tensor:
        """Most probable component of each row (multiDGD's ``clustering``)."""
        return self.component_log_prob(z).argmax(dim=1)

    # ---------------------------------------------------------------- sampling
    def sample(
        self, n_samples: int, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """Draw from the mixture.

        Returns
        -------
        z : Tensor of shape (n_samples, dim)
        components : LongTensor of shape (n_samples,)
        """
        device = self.means.device
        comp = torch.multinomial(
            self.weights.detach().to(torch.float64), n_samples, replacement=True,
            generator=generator,
        ).to(device)
        return self.sample_components(comp, generator), comp

    def sample_components(
        self, components: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        """One draw from each given component; shape (len(components), dim)."""
        eps = torch.randn(
            components.shape[0], self.dim, generator=generator,
            dtype=self.means.dtype, device=self.means.device,
        )
        if self.covariance_type == "full":
            step = torch.einsum("nij,nj->ni", self.scale_tril[components], eps)
        else:
            step = eps * self.stddevs[components]
        nu = self._nu
        if nu is not None:  # t = Gaussian * sqrt(nu / chi2_nu)
            chi2 = _chi2(components.shape[0], nu, generator).to(step)
            step = step * torch.sqrt(nu / chi2)[:, None]
        return (self.means[components] + step).detach()

    def candidates(
        self, kind: str = "mean", n_per_component: int = 1,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Candidate starting representations for new data points.

        Parameters
        ----------
        kind : {"mean", "sample"}, default="mean"
            The component means (``n_per_component`` is ignored), or ``n_per_component``
            draws from each component.
        n_per_component : int, default=1
        generator : torch.Generator, default=None

        Returns
        -------
        z : Tensor of shape (n_candidates, dim)
        components : LongTensor of shape (n_candidates,)
            The component each candidate comes from.
        """
        device = self.means.device
        if kind == "mean":
            return self.means.detach().clone(), torch.arange(self.n_components, device=device)
        if kind == "sample":
            comp = torch.arange(self.n_components, device=device).repeat_interleave(
                int(n_per_component)
            )
            return self.sample_components(comp, generator), comp
        raise ValueError(f"Unknown candidate kind {kind!r}; valid options are ['mean', 'sample'].")

    def extra_repr(self) -> str:
        return (
            f"n_components={self.n_components}, dim={self.dim}, "
            f"covariance_type={self.covariance_type!r}{self._dof_repr()}"
        )

    def _dof_repr(self) -> str:
        return "" if self._nu is None else f", degrees_of_freedom={self._nu:g}"


def _chi2(n: int, nu: float, generator: torch.Generator | None) -> Tensor:
    """``n`` chi-square draws with ``nu`` degrees of freedom, float64 on the CPU.

    Drawn by numpy from a seed taken from ``generator`` (torch's gamma sampler takes no
    generator), so that a seeded generator gives the same draws.
    """
    device = generator.device if generator is not None else None
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=device))
    return torch.as_tensor(np.random.default_rng(seed).chisquare(nu, size=n))


class SupervisedGaussianMixturePrior(GaussianMixturePrior):
    r"""Gaussian mixture whose components are grouped by class.

    Component :math:`k` belongs to class ``k // n_components_per_class``. A labelled
    sample :math:`(z, c)` scores the joint density over its class's components,

    .. math::

        \log p(z, c) = \log\sum_{k \in c} \pi_k\,\mathcal{N}(z;\mu_k,\Sigma_k),

    and an unlabelled sample (label :data:`UNLABELLED` = -1) the marginal
    :math:`\log p(z) = \log\sum_c p(z, c)`, so labelled and unlabelled terms are the same
    model (semi-supervised training mixes them freely).

    Deviation from multiDGD: its supervised term *sums* the class's component log
    densities (weighted by within-class softmax weights) and multiplies by the number of
    classes, "a replacement for logsumexp"; that is not a log density. We use the
    log-sum-exp form above, with global weights so that :math:`\pi` also learns the class
    frequencies :math:`p(c) = \sum_{k\in c}\pi_k`.

    Parameters
    ----------
    n_classes : int
    n_components_per_class : int, default=1
    dim : int, default=2
    covariance_type : str, default="diagonal"
        As in :class:`GaussianMixturePrior`.
    **kwargs
        ``softball_radius``, ``softball_sharpness``, ``component_std``,
        ``log_var_prior_std``, ``dirichlet_alpha``, ``degrees_of_freedom`` and
        ``generator``, as in :class:`GaussianMixturePrior` (``component_std=None`` uses the total number of
        components).

    Examples
    --------
    >>> import torch
    >>> from skdeepclust.nn.mixture import SupervisedGaussianMixturePrior
    >>> gmm = SupervisedGaussianMixturePrior(2, 2, dim=3,
    ...                                      generator=torch.Generator().manual_seed(0))
    >>> z = torch.zeros(3, 3)
    >>> gmm.log_prob(z, torch.tensor([0, 1, -1])).shape
    torch.Size([3])
    >>> gmm.class_posterior(z).shape
    torch.Size([3, 2])
    """

    def __init__(
        self,
        n_classes: int,
        n_components_per_class: int = 1,
        dim: int = 2,
        covariance_type: str = "diagonal",
        **kwargs,
    ) -> None:
        if n_classes < 1:
            raise ValueError(f"n_classes={n_classes} should be >= 1.")
        if n_components_per_class < 1:
            raise ValueError(
                f"n_components_per_class={n_components_per_class} should be >= 1."
            )
        super().__init__(n_classes * n_components_per_class, dim, covariance_type, **kwargs)
        self.n_classes = int(n_classes)
        self.n_components_per_class = int(n_components_per_class)
        self.register_buffer(
            "component_class",
            torch.arange(n_classes).repeat_interleave(n_components_per_class),
        )

    def class_log_prob(self, z: Tensor) -> Tensor:
        """Joint :math:`\\log p(z, c)` for every class, shape (n, n_classes)."""
        comp = self.component_log_prob(z)
        return torch.logsumexp(
            comp.view(-1, self.n_classes, self.n_components_per_class), dim=2
        )

    def class_posterior(self, z: Tensor) -> Tensor:
        """:math:`p(c \\mid z)`, shape (n, n_classes)."""
        return torch.softmax(self.class_log_prob(z), dim=1)

    def log_prob(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """:math:`\\log p(z, y)` for labelled rows, :math:`\\log p(z)` for ``y == -1``.

        Parameters
        ----------
        z : Tensor of shape (n, dim)
        y : LongTensor of shape (n,), default=None
            Class indices in ``[0, n_classes)`` or -1; ``None`` treats all as unlabelled.
        """
        comp = self.component_log_prob(z)
        if y is None:
            return torch.logsumexp(comp, dim=1)
        keep = (self.component_class[None, :] == y[:, None]) | (y[:, None] == UNLABELLED)
        return torch.logsumexp(comp.masked_fill(~keep, -math.inf), dim=1)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """Per-sample negative log density, shape (n,)."""
        return -self.log_prob(z, y)

    def sample_classes(
        self, y: Tensor, kind: str = "sample", generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """A representation for each requested class.

        The component is drawn within the class by its weight; ``kind="sample"`` then
        draws from it, ``kind="mean"`` returns its mean.

        Returns
        -------
        z : Tensor of shape (len(y), dim)
        components : LongTensor of shape (len(y),)
        """
        m = self.n_components_per_class
        w = self.weights.detach().to(torch.float64).view(self.n_classes, m)[y]
        comp = y * m + torch.multinomial(w, 1, generator=generator).to(y.device)[:, 0]
        if kind == "mean":
            return self.means[comp].detach().clone(), comp
        if kind == "sample":
            return self.sample_components(comp, generator), comp
        raise ValueError(f"Unknown kind {kind!r}; valid options are ['mean', 'sample'].")

    def extra_repr(self) -> str:
        return (
            f"n_classes={self.n_classes}, n_components_per_class="
            f"{self.n_components_per_class}, dim={self.dim}, "
            f"covariance_type={self.covariance_type!r}{self._dof_repr()}"
        )
