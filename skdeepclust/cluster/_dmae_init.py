"""How DMAEClustering starts: its parameters checked against the data, the dissimilarity
they name, and the mixture's initial centres and precisions."""

from __future__ import annotations

from numbers import Real

import numpy as np
import torch
from sklearn.cluster import KMeans
from torch import Tensor

from .._torch import seed_from
from ..nn.dissimilarities import (
    KL_NORMALIZATIONS,
    KL_POSITIVE_NORMALIZATIONS,
    get_dissimilarity,
)
from ..nn.dmae import plus_plus_init, precision_factor_from_partition


def spread(h: Tensor) -> Tensor:
    """Root of the mean per-feature variance of the rows of ``h`` (a 0-d tensor)."""
    return h.var(dim=0, unbiased=False).mean().sqrt()


def dissimilarity_function(est):
    """The dissimilarity the estimator's parameters name, with its options."""
    return get_dissimilarity(
        est.dissimilarity,
        p=est.p,
        interval=_interval_value(est.interval),
        normalization=est.kl_normalization,
        eps=est.kl_eps,
    )


def _interval_value(interval):
    if isinstance(interval, Real):
        return float(interval)
    return np.asarray(interval, dtype=np.float64).tolist()


def check_params_vs_input(est, X: np.ndarray, autoencoder) -> None:
    """Raise a ValueError when a parameter does not fit ``X`` (or, deep, the codes of the
    nested ``autoencoder``, None for the shallow model)."""
    n_samples = X.shape[0]
    if n_samples < est.n_clusters:
        raise ValueError(f"n_samples={n_samples} should be >= n_clusters={est.n_clusters}.")
    shallow = autoencoder is None
    n_dims = X.shape[1] if shallow else int(autoencoder.n_components)
    where = "feature" if shallow else "code dimension (the autoencoder's n_components)"
    dims_name = "n_features" if shallow else "n_components"
    if est.dissimilarity == "toroidal_euclidean" and not isinstance(est.interval, Real):
        period = np.asarray(est.interval, dtype=np.float64)
        if period.ndim != 1 or period.shape[0] not in (1, n_dims):
            raise ValueError(
                f"interval should be a scalar or have one period per {where}: "
                f"expected length {n_dims}, got shape {period.shape}."
            )
        if not np.all(period > 0):
            raise ValueError(f"Every period in interval should be > 0, got {period}.")
    if (
        est.dissimilarity == "kullback_leibler"
        and isinstance(est.kl_normalization, str)
        and est.kl_normalization in KL_POSITIVE_NORMALIZATIONS
        and shallow
    ):
        lowest = float(X.min())
        if lowest + est.kl_eps <= 0:
            raise ValueError(
                f"kl_normalization={est.kl_normalization!r} needs X + kl_eps > 0, but "
                f"min(X)={lowest:.4g} with kl_eps={est.kl_eps:g}. Shift X to be "
                "non-negative or use a normalization that accepts negative values: "
                f"{sorted(set(KL_NORMALIZATIONS) - KL_POSITIVE_NORMALIZATIONS)}."
            )
    if not isinstance(est.init, str):
        init = np.asarray(est.init)
        if init.shape != (est.n_clusters, n_dims):
            raise ValueError(
                f"init has shape {init.shape}; expected (n_clusters, {dims_name}) = "
                f"{(est.n_clusters, n_dims)}."
            )
    dissimilarity = dissimilarity_function(est)
    if est.volume is True and not dissimilarity.needs_precision:
        raise ValueError(
            "volume=True needs a dissimilarity with precision matrices "
            f"('mahalanobis' or a callable with a precision parameter); got "
            f"dissimilarity={getattr(dissimilarity, 'name', est.dissimilarity)!r}."
        )
    if dissimilarity.needs_precision and not isinstance(est.precision_init, str):
        prec = np.asarray(est.precision_init)
        expected = (est.n_clusters, n_dims, n_dims)
        if prec.shape != expected:
            raise ValueError(f"precision_init has shape {prec.shape}; expected {expected}.")


def check_codes_for_kl(est, H_t: Tensor) -> None:
    """Deep model: a KL normalisation that needs positive values gets positive codes."""
    if (
        est.dissimilarity == "kullback_leibler"
        and isinstance(est.kl_normalization, str)
        and est.kl_normalization in KL_POSITIVE_NORMALIZATIONS
        and float(H_t.min()) + est.kl_eps <= 0
    ):
        raise ValueError(
            f"kl_normalization={est.kl_normalization!r} needs codes + kl_eps > 0, but "
            "the autoencoder's codes are negative. Use code_activation='sigmoid' or "
            "'relu' in the autoencoder, or another kl_normalization."
        )


#: ``alpha="auto"``: ``alpha`` times the mean dissimilarity of a sample to its nearest
#: initial centre. At this value a point's assignment is soft (a second centre gets over
#: 1 % of it) only within about 0.5 % of that mean distance from a boundary.
AUTO_ALPHA_SCALE = 1000.0
#: ``alpha="auto"`` when the mean nearest-centre dissimilarity is not positive (a
#: callable that can return negative values): the DMAE replication's value.
AUTO_ALPHA_FALLBACK = 100.0
#: ``alpha="auto"`` of the deep model with ``normalize_codes``: codes of unit spread
#: (the DMAE replication's value).
AUTO_ALPHA_DEEP = 100.0
#: ``n_init="auto"``: restarts of the shallow model's k-means start, at any size of ``X``
#: (the restarts and the training both cost about rows x features x clusters per pass,
#: so their ratio does not grow with the data); ``AUTO_N_INIT_DEEP`` for the deep
#: model's codes.
AUTO_N_INIT = 30
AUTO_N_INIT_DEEP = 10
#: ``volume="auto"``: the log-volume term is on for the shallow ``"mahalanobis"`` model
#: when the data has at least this many rows per cluster and per dimension, so that each
#: cluster's covariance, volume included, rests on many more rows than it has dimensions
#: (the 2-D blobs of the defaults panel: 250; wine, breast cancer and digits, where the
#: term lost to the unit determinant: 2.8 to 9.5).
AUTO_VOLUME_ROWS_PER_DIM = 20
#: Rows (evenly spaced) on which ``alpha="auto"`` measures that mean.
_AUTO_ALPHA_ROWS = 10_000


def auto_alpha(head, H_t: Tensor, sample_weight: np.ndarray | None = None) -> float:
    """``alpha="auto"``: ``AUTO_ALPHA_SCALE`` over the (weighted) mean dissimilarity of
    the clustered rows ``H_t`` to their nearest initial centre of ``head``.

    Scale-free: multiplying the data (or changing the dissimilarity's unit) leaves the
    assignments as sparse as before.
    """
    n = H_t.shape[0]
    rows = torch.linspace(0, n - 1, min(n, _AUTO_ALPHA_ROWS)).round().long().unique()
    with torch.no_grad():
        # without the log-volumes (volume=True): they shift each centre's row by a
        # constant and can make the mean negative; the quadratic forms set the scale
        d = head.dissimilarities(H_t[rows.to(H_t.device)], with_volume=False)
        nearest = d.min(dim=1).values.double()
    if sample_weight is None:
        scale = float(nearest.mean())
    else:
        w = torch.as_tensor(np.asarray(sample_weight)[rows.numpy()], dtype=torch.float64)
        scale = float((nearest.cpu() * w).sum() / w.sum()) if float(w.sum()) > 0 else 0.0
    if not (scale > 0 and np.isfinite(scale)):
        return AUTO_ALPHA_FALLBACK
    return AUTO_ALPHA_SCALE / scale


def auto_n_init(n_init, shape: tuple[int, int], deep: bool = False) -> int:
    """Restarts of the k-means start on clustered data of ``shape`` (``"auto"`` resolved:
    ``AUTO_N_INIT`` for the shallow model whatever ``shape``, ``AUTO_N_INIT_DEEP`` for the
    deep model's codes)."""
    if n_init != "auto":
        return int(n_init)
    return AUTO_N_INIT_DEEP if deep else AUTO_N_INIT


def resolve_volume(est, n_samples: int, n_dims: int, deep: bool) -> bool:
    """Whether the mixture adds each centre's log-volume (``volume="auto"`` resolved)."""
    if est.volume != "auto":
        return bool(est.volume)
    return (
        est.dissimilarity == "mahalanobis"
        and not deep
        and n_samples >= AUTO_VOLUME_ROWS_PER_DIM * est.n_clusters * n_dims
    )


def initialize_mixture(est, H_t: Tensor, sample_weight: np.ndarray | None = None) -> None:
    """Set the initial centres (``init``) and precisions (``precision_init``) of
    ``est.module_`` on the clustered data ``H_t``, drawing from the fit's seeds; the
    k-means start weighs the rows by ``sample_weight``."""
    rng, generator = est._rng, est._generator
    head = est.module_
    K = est.n_clusters
    labels = None
    if isinstance(est.init, str) and est.init == "kmeans":
        H = H_t.detach().cpu().numpy()
        n_init = auto_n_init(est.n_init, H.shape, deep=getattr(est, "_deep", False))
        km = KMeans(K, n_init=n_init, random_state=seed_from(rng))
        km.fit(H, sample_weight=sample_weight)
        centers = torch.as_tensor(km.cluster_centers_)
        labels = torch.as_tensor(km.labels_, dtype=torch.long, device=H_t.device)
    elif isinstance(est.init, str) and est.init == "k-means++":
        centers = plus_plus_init(
            H_t, K, head.dissimilarity, n_iter=est.init_iter, generator=generator
        )
    elif isinstance(est.init, str):  # "random"
        perm = torch.randperm(H_t.shape[0], generator=generator, device=generator.device)
        centers = H_t[perm[:K].to(H_t.device)]
    else:
        centers = torch.as_tensor(np.asarray(est.init, dtype=np.float64))
        if getattr(est, "_normalized", False):  # given in the code space, as
            centers = centers / est.code_scale_  # cluster_centers_: normalise them
    with torch.no_grad():
        head.centers.copy_(centers.to(head.centers))
    if not head.has_precision:
        return
    if isinstance(est.precision_init, str):
        if est.precision_init == "identity":
            return
        if labels is None:  # nearest-centre partition under squared Euclidean
            with torch.no_grad():
                d2 = ((H_t.unsqueeze(1) - head.centers.unsqueeze(0)) ** 2).sum(-1)
            labels = d2.argmin(1)
        head.set_precision_factor(precision_factor_from_partition(H_t.detach(), labels, K))
        return
    precision = torch.as_tensor(np.asarray(est.precision_init, dtype=np.float64))
    try:
        head.set_precisions(precision.to(head.centers))
    except RuntimeError as exc:  # torch.linalg.LinAlgError
        raise ValueError(
            "precision_init should hold symmetric positive-definite matrices; its "
            f"Cholesky factorisation failed: {exc}"
        ) from None
