"""GMMRepresentation's initial state: starting representations and the mixture's start.

The starting representations come from principal components, Gaussian draws, an
autoencoder's codes or a given array; the mixture then starts from EM (unsupervised) or
from a k-means partition per class (supervised). An autoencoder's decoder can also be
the decoder's start.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA

from .._torch import seed_from
from ..nn.autoencoder import MLP
from ..nn.mixture import UNLABELLED
from ._autoencoder import AutoEncoder

#: Epochs of the autoencoder behind ``init="autoencoder"``.
INIT_AE_EPOCHS = 50
#: EM starts of the initial mixture; the most likely one is kept.
_EM_STARTS = 20
#: EM covariance floor, as a fraction of the mean variance of the representations.
_EM_REG = 1e-6
#: Bytes of the float64 chunk of rows of the PCA initialisation, and the widest data it
#: does by covariance.
_PCA_CHUNK_BYTES = 16 * 2**20
_PCA_MAX_COVARIANCE_FEATURES = 4096
#: covariance_type of the prior -> scikit-learn's, for the EM start of the mixture.
_SKLEARN_COVARIANCE = {"diagonal": "diag", "isotropic": "spherical", "fixed": "spherical",
                       "full": "full"}


def is_estimator(init) -> bool:
    """Whether ``init`` is an estimator (an AutoEncoder, maybe frozen), not a str or array."""
    return hasattr(init, "fit") and hasattr(init, "transform")


def check_init(init, latent_dim: int, X: np.ndarray) -> None:
    """Check a given start against the data: an AutoEncoder's size, an array's shape."""
    n = X.shape[0]
    if is_estimator(init):
        ae = getattr(init, "estimator", init)  # sklearn.frozen.FrozenEstimator
        if not isinstance(ae, AutoEncoder):
            raise TypeError(
                "init must be 'pca', 'random', 'autoencoder', an array of starting "
                "representations or a skdeepclust.representation.AutoEncoder; got "
                f"{type(ae).__name__}."
            )
        if ae.n_components != latent_dim:
            raise ValueError(
                f"init is an AutoEncoder with n_components={ae.n_components}, but "
                f"latent_dim={latent_dim}: its codes are the starting "
                "representations, so the two must agree."
            )
        if hasattr(ae, "module_") and ae.n_features_in_ != X.shape[1]:
            raise ValueError(
                f"X has {X.shape[1]} features, but the fitted AutoEncoder given as init "
                f"expects {ae.n_features_in_} features."
            )
    elif not isinstance(init, str):
        init = np.asarray(init)
        if init.shape != (n, latent_dim):
            raise ValueError(
                f"init as an array must have shape (n_samples, latent_dim) = "
                f"({n}, {latent_dim}); got {init.shape}."
            )
        if not np.issubdtype(init.dtype, np.number) or not np.all(np.isfinite(init)):
            raise ValueError("init as an array must hold finite numbers.")


def init_autoencoder(latent_dim: int, hidden_layer_sizes, activation: str,
                     output_distribution: str, batch_size: int) -> AutoEncoder:
    """The autoencoder behind ``init="autoencoder"``: the decoder's widths mirrored."""
    bernoulli = output_distribution == "bernoulli"
    return AutoEncoder(
        latent_dim,
        hidden_layer_sizes=tuple(int(h) for h in hidden_layer_sizes)[::-1],
        activation=activation,
        output_activation="sigmoid" if bernoulli else "identity",
        loss="cross_entropy" if bernoulli else "squared",
        max_epochs=INIT_AE_EPOCHS,
        batch_size=batch_size,
        tol=None,
    )


def copy_decoder(ae: AutoEncoder, decoder, output_distribution: str, activation: str,
                 scale: float) -> bool:
    """Start ``decoder`` from the autoencoder's when the two compute the same thing.

    That is: the same widths and activation, and an output that means what the output
    law reads from it (a sigmoid for "bernoulli": the logits; the identity for
    "gaussian": the mean). The first layer's weights are divided by ``scale``, the
    factor the codes were scaled by, so that the copy maps the scaled codes as the
    original mapped the codes. Returns whether the decoder was copied. Not for the count
    laws: their autoencoder learns ``log1p(X)``, and its hidden layers under a fresh
    output layer scramble the codes.
    """
    source = getattr(ae.module_, "decoder", None)
    law = output_distribution
    same_output = (law == "bernoulli" and ae.output_activation == "sigmoid") or (
        law == "gaussian" and ae.output_activation == "identity"
    )
    if not (same_output and isinstance(source, MLP) and ae.activation == activation):
        return False  # tied weights, another output or activation: the codes only
    src, dst = source.linears, decoder.net.linears
    if len(src) != len(dst) or any(
        a.weight.shape != b.weight.shape for a, b in zip(src, dst)
    ):
        return False
    with torch.no_grad():
        for i, (a, b) in enumerate(zip(src, dst)):
            b.weight.copy_(a.weight / scale if i == 0 else a.weight)
            offset = getattr(a, "offset", None)  # a centered layer: W (x - o) + b
            bias = a.bias if offset is None else a.bias - a.weight @ offset
            b.bias.copy_(bias)
    return True


def scale_to_softball(Z: np.ndarray, softball_radius: float) -> float:
    """Scale ``Z`` in place to a root-mean-square norm of ``softball_radius / 2``."""
    rms = float(np.sqrt(np.mean(np.sum(Z * Z, axis=1))))
    scale = 0.5 * softball_radius / rms if rms > 0 else 1.0
    Z *= scale
    return scale


def within_std(Z: np.ndarray, centers: np.ndarray, labels: np.ndarray,
               softball_radius: float, n_mixture: int) -> float:
    """Within-cluster standard deviation of a partition (a guess from the radius if 0)."""
    within = float(np.sqrt(np.mean((Z - centers[labels]) ** 2)))
    if not within > 0:
        within = 2.0 * softball_radius / (10.0 * n_mixture)
    return within


def pca_scores(X: np.ndarray, n_components: int, log1p: bool, rng) -> np.ndarray:
    """PCA scores of ``X`` (of ``log1p(X)`` when ``log1p``), float64, without a copy of X.

    The covariance is summed in float64 over chunks of rows (each shifted by the first
    chunk's mean, so that large means cost no precision), its top eigenvectors signed as
    scikit-learn's ``PCA`` signs its components (largest absolute loading positive), and
    the scores projected chunk by chunk: the same scores as ``PCA(n_components)`` on a
    float64 copy of the data, with extra memory O(chunk x d + d^2) instead of 2-3 copies
    of ``X``. Data wider than ``_PCA_MAX_COVARIANCE_FEATURES`` goes to scikit-learn's
    randomized PCA in its own dtype.
    """
    n, d = X.shape
    chunk = max(64, _PCA_CHUNK_BYTES // (8 * d))

    def rows(start: int, center: np.ndarray) -> np.ndarray:
        block = np.array(X[start : start + chunk], dtype=np.float64)  # a copy, never X
        if log1p:
            np.log1p(block, out=block)
        block -= center
        return block

    if d > _PCA_MAX_COVARIANCE_FEATURES:
        data = np.log1p(X) if log1p else X
        pca = PCA(n_components, svd_solver="randomized", random_state=rng)
        return pca.fit_transform(data).astype(np.float64, copy=False)
    shift = rows(0, np.zeros(d)).mean(axis=0)
    total = np.zeros(d)
    scatter = np.zeros((d, d))
    for start in range(0, n, chunk):
        block = rows(start, shift)
        total += block.sum(axis=0)
        scatter += block.T @ block
    offset = total / n
    covariance = scatter / n - np.outer(offset, offset)
    _, vectors = np.linalg.eigh(covariance)
    components = vectors[:, ::-1][:, :n_components].T  # largest variance first
    pivot = np.argmax(np.abs(components), axis=1)
    components *= np.sign(components[np.arange(n_components), pivot])[:, None]
    mean = shift + offset
    scores = np.empty((n, n_components))
    for start in range(0, n, chunk):
        scores[start : start + chunk] = rows(start, mean) @ components.T
    return scores


def kmeans(Z: np.ndarray, k: int, rng) -> tuple[np.ndarray, np.ndarray]:
    km = KMeans(k, n_init=3, random_state=rng).fit(Z)
    return km.cluster_centers_, km.labels_



def class_kmeans(Z: np.ndarray, codes: np.ndarray, n_classes: int, m: int, rng):
    """``m`` k-means centres per class, and each row's component.

    A labelled row belongs to its class's nearest component, an unlabelled one to the
    nearest of all.
    """
    centers = np.zeros((n_classes * m, Z.shape[1]))
    for c in range(n_classes):
        rows = codes == c
        centers[c * m : (c + 1) * m] = kmeans(Z[rows], m, rng)[0]
    dist = ((Z[:, None, :] - centers[None]) ** 2).sum(-1)
    labelled = codes != UNLABELLED
    own = np.arange(n_classes * m)[None, :] // m == codes[:, None]
    dist = np.where(labelled[:, None] & ~own, np.inf, dist)
    return centers, dist.argmin(1)


def em_mixture(Z: np.ndarray, k: int, covariance_type: str, rng):
    """A GaussianMixture fitted by EM on the initial representations.

    The most likely of ``_EM_STARTS`` starts among those whose every component holds more
    than ``dim`` samples (fewer make its covariance singular: EM's degenerate optimum on
    an outlier); the most likely overall when none does. Returns means, covariances
    (scikit-learn's layout for the type), weights and labels.
    """
    from sklearn.mixture import GaussianMixture

    best, best_key = None, None
    for _ in range(_EM_STARTS):
        gm = GaussianMixture(k, covariance_type=_SKLEARN_COVARIANCE[covariance_type],
                             reg_covar=_EM_REG * max(float(np.var(Z)), 1e-12),
                             random_state=seed_from(rng)).fit(Z)
        labels = gm.predict(Z)
        counts = np.bincount(labels, minlength=k)
        key = (bool(counts.min() > min(Z.shape[1], Z.shape[0] // k - 1)), gm.lower_bound_)
        if best_key is None or key > best_key:
            best, best_key = (gm.means_, gm.covariances_, gm.weights_, labels), key
    return best


def set_mixture(prior, covariances: np.ndarray, weights: np.ndarray) -> None:
    """Copy an EM mixture's covariances and weights into the prior's parameters."""
    dtype = prior.means.dtype
    kind = prior.covariance_type
    if kind == "full":
        L = np.linalg.cholesky(covariances)
        prior.log_var.copy_(torch.as_tensor(2 * np.log(np.diagonal(L, axis1=1, axis2=2)),
                                             dtype=dtype))
        prior.scale_offdiag.copy_(torch.as_tensor(np.tril(L, -1), dtype=dtype))
    elif kind == "diagonal":
        prior.log_var.copy_(torch.as_tensor(np.log(covariances), dtype=dtype))
    elif kind == "isotropic":
        prior.log_var.copy_(torch.as_tensor(np.log(covariances)[:, None], dtype=dtype))
    prior.weight_logits.copy_(torch.as_tensor(np.log(np.maximum(weights, 1e-12)), dtype=dtype))
