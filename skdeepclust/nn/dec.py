r"""Clustering heads: DEC's Student-t soft assignment, sharpened target and KL loss."""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = [
    "DECClusterHead",
    "DECNetwork",
    "dec_kl_divergence",
    "student_t_log_assignment",
    "target_distribution",
]


def _squared_distances(z: Tensor, centers: Tensor) -> Tensor:
    # Explicit differences rather than the ||z||^2 - 2 z.c + ||c||^2 expansion: each row is
    # computed on its own (results do not depend on the batch) and there is no cancellation
    # when the points sit far from the origin.
    diff = z.unsqueeze(1) - centers.unsqueeze(0)
    # Squared in place when no gradient needs the differences (inference): the same
    # values, without a second n x K x d temporary.
    return (diff.pow(2) if diff.requires_grad else diff.pow_(2)).sum(dim=-1)


def student_t_log_assignment(z: Tensor, centers: Tensor, alpha: float = 1.0) -> Tensor:
    r"""Log of DEC's soft assignment :math:`q_{ij}` (Student's t kernel).

    .. math::

        q_{ij} = \frac{(1 + \|z_i - \mu_j\|^2 / \alpha)^{-\frac{\alpha + 1}{2}}}
                      {\sum_{j'} (1 + \|z_i - \mu_{j'}\|^2 / \alpha)^{-\frac{\alpha + 1}{2}}}

    Computed in log space (a log-softmax of the unnormalised log kernel), so points far from
    every centre still get a proper distribution instead of ``0 / 0``.

    Parameters
    ----------
    z : Tensor of shape (n_samples, n_features)
        Embedded points.
    centers : Tensor of shape (n_clusters, n_features)
        Cluster centres :math:`\mu_j`.
    alpha : float, default=1.0
        Degrees of freedom of the Student's t distribution.

    Returns
    -------
    log_q : Tensor of shape (n_samples, n_clusters)
        :math:`\log q_{ij}`; each row's exponentials sum to one.
    """
    assert z.ndim == 2 and centers.ndim == 2, "'z' and 'centers' should be matrices."
    assert z.shape[1] == centers.shape[1], "'z' and 'centers' should have as many columns."
    d2 = _squared_distances(z, centers)
    logits = -0.5 * (alpha + 1.0) * torch.log1p(d2 / alpha)
    return torch.log_softmax(logits, dim=1)


def target_distribution(q: Tensor, sample_weight: Tensor | None = None, *,
                        out: Tensor | None = None, frequency: Tensor | None = None) -> Tensor:
    r"""DEC's sharpened auxiliary target :math:`p_{ij}`.

    .. math::

        p_{ij} = \frac{q_{ij}^2 / f_j}{\sum_{j'} q_{ij'}^2 / f_{j'}}, \qquad f_j = \sum_i q_{ij}

    Squaring sharpens confident assignments, and dividing by the soft cluster frequency
    :math:`f_j` keeps large clusters from absorbing the others. The result is detached: it is
    a fixed target, not something to differentiate through.

    Parameters
    ----------
    q : Tensor of shape (n_samples, n_clusters)
        Soft assignments (rows sum to one), computed on the whole data set for the paper's
        semantics or on a minibatch.
    sample_weight : Tensor of shape (n_samples,), optional
        Weights of the rows in the frequencies :math:`f_j = \sum_i w_i q_{ij}` (a row of
        weight 2 counts as two rows).
    out : Tensor, optional
        Where to write the result; ``out=q`` computes it in place of ``q`` (the same
        values, without the temporaries of an ``n_samples x n_clusters`` array).
    frequency : Tensor of shape (n_clusters,), optional
        The soft cluster frequencies :math:`f_j`, when they were computed elsewhere: on
        the whole data set, while ``q`` holds the assignments of some of its rows (a
        minibatch), whose targets are then the rows of the full-data :math:`P`.
        ``sample_weight`` is then not used.

    Returns
    -------
    p : Tensor of shape (n_samples, n_clusters)
        Target distribution; rows sum to one.
    """
    assert q.ndim == 2, "'q' should be a matrix."
    q = q.detach()
    if frequency is None:
        weighted = q if sample_weight is None else q * sample_weight.to(q)[:, None]
        frequency = weighted.sum(dim=0)
    frequency = frequency.to(q).clamp_min(torch.finfo(q.dtype).tiny)
    if out is None:
        weight = q.pow(2) / frequency
        return weight / weight.sum(dim=1, keepdim=True)
    if out.data_ptr() != q.data_ptr():
        out.copy_(q)
    out.pow_(2).div_(frequency)
    return out.div_(out.sum(dim=1, keepdim=True))


def dec_kl_divergence(p: Tensor, log_q: Tensor, reduction: str = "batchmean") -> Tensor:
    r""":math:`\mathrm{KL}(P \| Q) = \sum_i \sum_j p_{ij} \log(p_{ij} / q_{ij})`.

    Terms with :math:`p_{ij} = 0` contribute zero.

    Parameters
    ----------
    p : Tensor of shape (n_samples, n_clusters)
        Target distribution.
    log_q : Tensor of shape (n_samples, n_clusters)
        Log soft assignments.
    reduction : {"batchmean", "sum", "none"}, default="batchmean"
        ``"batchmean"`` divides the sum by ``n_samples`` (as ``F.kl_div`` does), ``"none"``
        returns the per-sample divergences.

    Returns
    -------
    loss : Tensor
        Scalar, or of shape (n_samples,) when ``reduction="none"``.
    """
    assert p.shape == log_q.shape, "'p' and 'log_q' should have the same shape."
    per_sample = (torch.xlogy(p, p) - p * log_q).sum(dim=1)
    if reduction == "none":
        return per_sample
    if reduction == "sum":
        return per_sample.sum()
    if reduction == "batchmean":
        return per_sample.sum() / max(p.shape[0], 1)
    raise ValueError(
        f"Unknown reduction '{reduction}'. Valid options are 'batchmean', 'none', 'sum'."
    )


class DECClusterHead(nn.Module):
    r"""Deep embedded clustering head (Xie, Girshick & Farhadi, 2016).

    Learnable cluster centres :math:`\mu_j` in an embedding space, a Student's t soft
    assignment :math:`Q`, the sharpened target :math:`P` and the loss
    :math:`\mathrm{KL}(P \| Q)`. It works on any embedding (an autoencoder's, a graph
    network's, a language model's): put it after an encoder and minimise ``head(z)``.

    Parameters
    ----------
    n_clusters : int
        Number of clusters.
    n_features : int
        Dimension of the embedding.
    alpha : float, default=1.0
        Degrees of freedom of the Student's t kernel.
    device, dtype : optional
        Where and in which precision to allocate the centres.

    Attributes
    ----------
    cluster_centers : Parameter of shape (n_clusters, n_features)
        The centres, initialised Xavier-uniform; set them with
        :meth:`reset_cluster_centers` (DEC uses k-means on the embedding).

    References
    ----------
    J. Xie, R. Girshick and A. Farhadi. Unsupervised Deep Embedding for Clustering Analysis.
    ICML 2016. https://arxiv.org/abs/1511.06335

    Examples
    --------
    >>> import torch
    >>> from skdeepclust.nn.dec import DECClusterHead
    >>> head = DECClusterHead(n_clusters=2, n_features=2)
    >>> head.reset_cluster_centers(torch.tensor([[0.0, 0.0], [4.0, 0.0]]))
    >>> z = torch.tensor([[0.0, 0.1], [3.9, 0.0], [4.2, 0.1]])
    >>> head.cluster(z).tolist()
    [0, 1, 1]
    >>> q = head.cluster(z, soft=True)  # Q, rows sum to one
    >>> q.shape
    torch.Size([3, 2])
    >>> loss = head(z)  # KL(P || Q) with P from this batch
    >>> loss.backward()
    """

    def __init__(
        self,
        n_clusters: int,
        n_features: int,
        alpha: float = 1.0,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        assert n_clusters >= 1, "'n_clusters' should be positive."
        assert n_features >= 1, "'n_features' should be positive."
        assert alpha > 0, "'alpha' should be positive."
        self.n_clusters = int(n_clusters)
        self.n_features = int(n_features)
        self.alpha = float(alpha)
        self.cluster_centers = nn.Parameter(
            torch.empty(self.n_clusters, self.n_features, device=device, dtype=dtype)
        )
        self.reset_cluster_centers()

    @torch.no_grad()
    def reset_cluster_centers(
        self,
        cluster_centers: Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        """Set the centres to ``cluster_centers``, or redraw them Xavier-uniform.

        Parameters
        ----------
        cluster_centers : Tensor of shape (n_clusters, n_features), optional
            Values to copy (any array-like torch accepts); converted to the centres' device
            and dtype.
        generator : torch.Generator, optional
            Source of randomness for the Xavier-uniform draw.
        """
        if cluster_centers is None:
            nn.init.xavier_uniform_(self.cluster_centers, generator=generator)
            return
        centers = torch.as_tensor(cluster_centers)
        assert centers.shape == self.cluster_centers.shape, (
            f"'cluster_centers' should have shape {tuple(self.cluster_centers.shape)}, "
            f"got {tuple(centers.shape)}."
        )
        self.cluster_centers.copy_(centers)

    def log_soft_assignment(self, z: Tensor) -> Tensor:
        """Log soft assignments :math:`\\log Q` of shape (n_samples, n_clusters)."""
        return student_t_log_assignment(z, self.cluster_centers, self.alpha)

    def soft_assignment(self, z: Tensor) -> Tensor:
        """Soft assignments :math:`Q` of shape (n_samples, n_clusters)."""
        return self.log_soft_assignment(z).exp()

    def squared_distances(self, z: Tensor) -> Tensor:
        """Squared Euclidean distances to the centres, shape (n_samples, n_clusters)."""
        return _squared_distances(z, self.cluster_centers)

    def cluster(self, z: Tensor, soft: bool = False) -> Tensor:
        """Cluster assignments of the embedded points ``z``.

        Parameters
        ----------
        z : Tensor of shape (n_samples, n_features)
        soft : bool, default=False
            Return the soft assignments :math:`Q` instead of hard labels.

        Returns
        -------
        Tensor of shape (n_samples,) (int64 labels, the nearest centre, which is also the
        argmax of Q) or (n_samples, n_clusters) when ``soft``.
        """
        if soft:
            return self.soft_assignment(z)
        return self.squared_distances(z).argmin(dim=1)

    predict = cluster

    @staticmethod
    def target_distribution(q: Tensor) -> Tensor:
        """Sharpened target :math:`P` from soft assignments (see :func:`target_distribution`)."""
        return target_distribution(q)

    def forward(self, z: Tensor, target: Tensor | None = None) -> Tensor:
        r"""The clustering loss :math:`\mathrm{KL}(P \| Q)`, averaged over the batch.

        Parameters
        ----------
        z : Tensor of shape (n_samples, n_features)
            Embedded points.
        target : Tensor of shape (n_samples, n_clusters), optional
            The target :math:`P` for these points. DEC computes it on the whole data set every
            few iterations and passes the rows of the batch here. When omitted, :math:`P` is
            computed from this batch's own assignments.

        Returns
        -------
        loss : scalar Tensor
        """
        log_q = self.log_soft_assignment(z)
        if target is None:
            target = target_distribution(log_q.exp())
        return dec_kl_divergence(target.detach(), log_q)

    def extra_repr(self) -> str:
        return f"n_clusters={self.n_clusters}, n_features={self.n_features}, alpha={self.alpha}"


class DECNetwork(nn.Module):
    """An encoder, a :class:`DECClusterHead` on its output and, for IDEC, a decoder.

    Parameters
    ----------
    encoder : nn.Module or None
        Maps inputs to the embedding; ``None`` clusters the inputs directly.
    head : DECClusterHead
        Its centres live in the *scaled* embedding ``scale * encoder(x)``.
    decoder : nn.Module or None, default=None
        Kept for IDEC's reconstruction term (it decodes the unscaled embedding); plain DEC
        drops it.
    scale : float, default=1.0
        Fixed factor applied to the embedding before the Student's t kernel: the kernel's
        inverse bandwidth. A buffer, not a parameter.
    """

    def __init__(
        self,
        encoder: nn.Module | None,
        head: DECClusterHead,
        decoder: nn.Module | None = None,
        scale: float = 1.0,
    ) -> None:
        super().__init__()
        self.encoder = encoder if encoder is not None else nn.Identity()
        self.head = head
        self.decoder = decoder
        ref = head.cluster_centers
        self.register_buffer("scale", torch.tensor(float(scale), dtype=ref.dtype,
                                                   device=ref.device))

    def encode(self, x: Tensor) -> Tensor:
        """The (unscaled) embedding."""
        return self.encoder(x)

    def decode(self, z: Tensor) -> Tensor:
        """Decode an (unscaled) embedding; IDEC only."""
        assert self.decoder is not None, "this network has no decoder."
        return self.decoder(z)

    def log_soft_assignment_of_embedding(self, z: Tensor) -> Tensor:
        """Log soft assignments of an (unscaled) embedding ``z``."""
        return self.head.log_soft_assignment(z * self.scale)

    def log_soft_assignment(self, x: Tensor) -> Tensor:
        """Log soft assignments of the inputs ``x`` (encoded first)."""
        return self.log_soft_assignment_of_embedding(self.encoder(x))

    def cluster(self, x: Tensor) -> Tensor:
        """Hard labels of the inputs: the nearest centre in the embedding."""
        return self.head.cluster(self.encoder(x) * self.scale)

    @property
    def cluster_centers(self) -> Tensor:
        """The centres in the unscaled embedding, shape (n_clusters, n_features)."""
        return self.head.cluster_centers / self.scale

    def forward(self, x: Tensor) -> Tensor:
        """Soft assignments :math:`Q` of the inputs ``x``."""
        return self.log_soft_assignment(x).exp()
