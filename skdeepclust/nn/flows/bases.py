r"""Base distributions of a flow: the density its codes :math:`z = T(x)` are fitted to.

A flow's log-density is :math:`\log p(x) = \log q(T(x)) + \log|\det \partial T /
\partial x|` for a base density :math:`q`. :class:`FlowSequential` uses a standard normal
unless it is given a base module: an object with ``log_prob(z) -> (batch,)`` and
``sample(n_samples, generator=...) -> (n_samples, n_features)``, whose parameters are
trained with the flow's.

:class:`GaussianMixtureBase` is a mixture of full-covariance Gaussians. Initialised from
a Gaussian mixture fitted to the codes of the data under the untrained flow, it makes
that flow score exactly what the mixture scores, so training starts from the mixture's
likelihood instead of a single Gaussian's (the flow only has to correct the mixture,
not to carve several modes out of one, which leaks mass between them).

References
----------
Izmailov, P., Kirichenko, P., Finzi, M. & Wilson, A. G. (2020). Semi-Supervised Learning
with Normalizing Flows (a Gaussian-mixture base). arXiv:1912.13025.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["GaussianMixtureBase"]

_LOG_2PI = math.log(2.0 * math.pi)


class GaussianMixtureBase(nn.Module):
    r"""Mixture of ``n_components`` full-covariance Gaussians in ``n_features`` dimensions.

    .. math::

        q(z) = \sum_k \pi_k\, N(z; \mu_k, \Sigma_k), \qquad
        \Sigma_k^{-1} = P_k P_k^\top,

    with :math:`P_k` upper triangular with a positive diagonal (the Cholesky factor of
    the precision, scikit-learn's ``precisions_cholesky_``), so that
    :math:`\log N(z; \mu_k, \Sigma_k) = -\tfrac12 \lVert (z - \mu_k) P_k \rVert^2 +
    \sum_j \log (P_k)_{jj} - \tfrac d2 \log 2\pi`: one matrix product, no solve.
    Parameters: ``loc`` (:math:`\mu`), ``weight_logits`` (:math:`\pi =
    \mathrm{softmax}`), ``log_precision_diag`` (log of :math:`P`'s diagonal) and
    ``precision_offdiag`` (whose strict upper triangle is :math:`P`'s); every value of
    them is a valid mixture. It starts as ``n_components`` standard normals at 0 with
    equal weights; :meth:`set_parameters` loads a fitted mixture.

    Parameters
    ----------
    n_components : int
        Number of components.
    n_features : int
        Dimension of the codes.
    """

    def __init__(self, n_components: int, n_features: int) -> None:
        super().__init__()
        k, d = int(n_components), int(n_features)
        assert k >= 1 and d >= 1, "'n_components' and 'n_features' should be >= 1."
        self.n_components, self.n_features = k, d
        self.loc = nn.Parameter(torch.zeros(k, d))
        self.weight_logits = nn.Parameter(torch.zeros(k))
        self.log_precision_diag = nn.Parameter(torch.zeros(k, d))
        self.precision_offdiag = nn.Parameter(torch.zeros(k, d, d))
        self.register_buffer("_upper", torch.ones(d, d).triu(1), persistent=False)

    # ----------------------------------------------------------------- parameters
    @property
    def weights(self) -> Tensor:
        r"""The mixture weights :math:`\pi`, shape ``(n_components,)``."""
        return torch.softmax(self.weight_logits, 0)

    @property
    def precision_cholesky(self) -> Tensor:
        """:math:`P_k`, upper triangular, shape ``(n_components, n_features, n_features)``."""
        upper = self._upper.to(self.precision_offdiag.dtype)
        return self.precision_offdiag * upper + torch.diag_embed(self.log_precision_diag.exp())

    @property
    def covariances(self) -> Tensor:
        r""":math:`\Sigma_k = (P_k P_k^\top)^{-1}`, shape ``(n_components, d, d)``."""
        prec = self.precision_cholesky
        eye = torch.eye(self.n_features, dtype=prec.dtype, device=prec.device)
        inv = torch.linalg.solve_triangular(prec, eye.expand_as(prec), upper=True)
        return inv.transpose(1, 2) @ inv

    @torch.no_grad()
    def set_parameters(self, weights: Tensor, means: Tensor, precisions_cholesky: Tensor) -> None:
        """Load a mixture: ``weights`` ``(K,)`` (positive, summing to one), ``means``
        ``(K, d)`` and the upper-triangular Cholesky factors of the precisions
        ``(K, d, d)`` (scikit-learn's ``precisions_cholesky_`` of a ``"full"`` mixture)."""
        k, d = self.n_components, self.n_features
        weights, means, prec = (torch.as_tensor(t).to(self.loc) for t in
                                (weights, means, precisions_cholesky))
        assert weights.shape == (k,) and means.shape == (k, d) and prec.shape == (k, d, d), (
            "mixture parameters of the wrong shape."
        )
        diag = torch.diagonal(prec, dim1=1, dim2=2)
        assert bool((diag > 0).all()), "precision Cholesky factors need a positive diagonal."
        self.weight_logits.copy_(torch.log(weights))
        self.loc.copy_(means)
        self.log_precision_diag.copy_(torch.log(diag))
        self.precision_offdiag.copy_(prec.triu(1))

    # ----------------------------------------------------------------- density
    def component_log_prob(self, z: Tensor) -> Tensor:
        r""":math:`\log \pi_k + \log N(z; \mu_k, \Sigma_k)`, shape ``(batch, n_components)``."""
        prec = self.precision_cholesky  # (K, d, d)
        k, d = self.n_components, self.n_features
        # (z - mu_k) P_k for every k as one product: z @ [P_1 ... P_K] - [mu_k P_k]
        zp = (z @ prec.permute(1, 0, 2).reshape(d, k * d)).view(-1, k, d)
        y = zp - torch.einsum("kd,kde->ke", self.loc, prec)
        log_norm = self.log_precision_diag.sum(1) - 0.5 * d * _LOG_2PI
        log_weights = torch.log_softmax(self.weight_logits, 0)
        return log_weights + log_norm - 0.5 * y.pow(2).sum(2)

    def log_prob(self, z: Tensor) -> Tensor:
        """Exact log-density of ``z``, shape ``(batch,)``."""
        return torch.logsumexp(self.component_log_prob(z), 1)

    def forward(self, z: Tensor) -> Tensor:
        return self.log_prob(z)

    @torch.no_grad()
    def sample(self, n_samples: int, *, generator: torch.Generator | None = None) -> Tensor:
        r"""Draw ``n_samples`` codes: a component :math:`k \sim \pi`, then
        :math:`z = \mu_k + \varepsilon P_k^{-1}` with :math:`\varepsilon \sim N(0, I)`
        (on ``generator``'s device, in the parameters' dtype)."""
        device = generator.device if generator is not None else self.loc.device
        loc, prec = self.loc.to(device), self.precision_cholesky.to(device)
        weights = self.weights.to(device)
        comp = torch.multinomial(weights, int(n_samples), replacement=True, generator=generator)
        eps = torch.randn(int(n_samples), self.n_features, generator=generator,
                          dtype=loc.dtype, device=device)
        # solve y P_k = eps row by row: P_k^T y^T = eps^T (lower triangular)
        y = torch.linalg.solve_triangular(
            prec[comp].transpose(1, 2), eps.unsqueeze(2), upper=False
        ).squeeze(2)
        return loc[comp] + y

    def extra_repr(self) -> str:
        return f"n_components={self.n_components}, n_features={self.n_features}"
