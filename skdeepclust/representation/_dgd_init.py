"""GMMRepresentation's initial state: starting representations and the mixture's start.

The starting representations come from principal components, Gaussian draws, an
autoencoder's codes or a given array; the mixture then starts from EM (unsupervised) or
from a k-means partition per class (supervised). An autoencoder's decoder can also be
the decoder's start.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.linalg import solve_triangular
from scipy.special import gammaln, logsumexp
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
#: EM of the initial mixture runs on a random sample of at most this many rows (the
#: training refines the mixture on all rows), and labels the rows this many at a time.
_EM_MAX_ROWS = 20_000
_EM_LABEL_CHUNK = 8192
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


def library_scale(X: np.ndarray) -> np.ndarray:
    """Per-row factors that bring every row's total to the median total of the rows
    with counts (scanpy's ``normalize_total``); 1 for an empty row."""
    totals = X.sum(axis=1, dtype=np.float64)
    positive = totals > 0
    target = float(np.median(totals[positive])) if positive.any() else 1.0
    return np.where(positive, target / np.where(positive, totals, 1.0), 1.0)


def pca_scores(X: np.ndarray, n_components: int, log1p: bool, rng,
               row_scale: np.ndarray | None = None) -> np.ndarray:
    """PCA scores of ``X`` (of ``log1p(X)`` when ``log1p``), float64, without a copy of X.

    ``row_scale`` (n_samples,): each row is multiplied by its factor first (before the
    ``log1p``), e.g. :func:`library_scale` for counts whose library sizes the model
    explains apart.

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
        if row_scale is not None:
            block *= row_scale[start : start + chunk, None]
        if log1p:
            np.log1p(block, out=block)
        block -= center
        return block

    if d > _PCA_MAX_COVARIANCE_FEATURES:
        data = X if row_scale is None else X * row_scale[:, None].astype(X.dtype)
        data = np.log1p(data) if log1p else data
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


def em_mixture(Z: np.ndarray, k: int, covariance_type: str, rng, laws=(None,)):
    """A mixture fitted by EM on the initial representations, and the law of its components.

    Each law of ``laws`` is ``None`` (Gaussian components, by scikit-learn's
    :class:`~sklearn.mixture.GaussianMixture`) or a number ``nu`` (Student-t components
    with ``nu`` degrees of freedom, by :func:`t_mixture_em` from the same k-means start).
    With several laws, :func:`choose_law` first picks the one that predicts unseen rows
    best (2-fold cross-validated likelihood). The chosen law is then fitted from
    ``_EM_STARTS`` starts on all rows, and the most likely start is kept among those whose
    every component holds more than ``dim`` samples (fewer make its covariance singular:
    EM's degenerate optimum on an outlier), the most likely overall when none does. On
    more than ``_EM_MAX_ROWS`` rows, EM runs on a random sample of that many rows (a
    start: the training refines the mixture on all rows), and every row is then labelled
    by the chosen mixture. Returns means, covariances (scikit-learn's layout for the type;
    the scale matrices for Student-t components), weights, labels and the law.
    """
    n = Z.shape[0]
    sample = Z
    if n > _EM_MAX_ROWS:
        rows = np.random.default_rng(seed_from(rng)).choice(n, _EM_MAX_ROWS, replace=False)
        sample = Z[np.sort(rows)]
    reg = _EM_REG * max(float(np.var(sample)), 1e-12)
    sk_type = _SKLEARN_COVARIANCE[covariance_type]
    if len(laws) > 1:
        chosen = choose_law(sample, k, sk_type, laws, reg, rng)
        laws = laws if chosen is _TOO_FEW_ROWS else (chosen,)
    best, best_key = None, None
    for law in laws:
        fitted, key = _most_likely(sample, k, sk_type, law, reg, rng, _EM_STARTS)
        if best_key is None or key > best_key:
            best, best_key = (*fitted, law), key
    means, covariances, weights, law = best
    labels = np.concatenate([
        mixture_log_joint(Z[i : i + _EM_LABEL_CHUNK], means, covariances, weights, sk_type,
                          law).argmax(1)
        for i in range(0, n, _EM_LABEL_CHUNK)])
    return means, covariances, weights, labels, law


def _fit_law(sample: np.ndarray, k: int, sk_type: str, law, reg: float, seed: int):
    """One EM fit of a mixture of ``law`` components: means, covariances, weights."""
    if law is None:
        from sklearn.mixture import GaussianMixture

        gm = GaussianMixture(k, covariance_type=sk_type, reg_covar=reg,
                             random_state=seed).fit(sample)
        return gm.means_, gm.covariances_, gm.weights_
    return t_mixture_em(sample, k, sk_type, law, reg, seed)


def _most_likely(sample: np.ndarray, k: int, sk_type: str, law, reg: float, rng,
                 n_starts: int):
    """The most likely of ``n_starts`` EM fits (see :func:`em_mixture`), and its rank key.

    The key is (every component holds more than ``min(dim, rows // k - 1)`` rows, mean
    log-likelihood): a fit with a near-empty component ranks below every other.
    """
    m, dim = sample.shape
    best, best_key = None, None
    for _ in range(n_starts):
        fitted = _fit_law(sample, k, sk_type, law, reg, seed_from(rng))
        log_joint = mixture_log_joint(sample, *fitted, sk_type, law)
        score = float(logsumexp(log_joint, axis=1).mean())
        counts = np.bincount(log_joint.argmax(1), minlength=k)
        key = (bool(counts.min() > min(dim, m // k - 1)), score)
        if best_key is None or key > best_key:
            best, best_key = fitted, key
    return best, best_key


#: choose_law's answer when the halves are too small to fit ``k`` components.
_TOO_FEW_ROWS = object()
#: choose_law: random halvings of the rows, EM starts per law and half (the most likely
#: is kept), and the fewest rows per component a half must have.
_CV_SPLITS = 3
_CV_STARTS = 3
_CV_MIN_ROWS = 2


def choose_law(sample: np.ndarray, k: int, sk_type: str, laws, reg: float, rng):
    """The law of ``laws`` whose mixture predicts unseen rows best.

    Cross-validated likelihood (P. Smyth, "Model selection for probabilistic clustering
    using cross-validated likelihood", Statistics and Computing 10, 2000), over
    ``_CV_SPLITS`` random halvings of the rows: on each half, each law's mixture is the
    most likely of ``_CV_STARTS`` EM starts and is scored by the log-likelihood of the
    other half's rows; the law with the highest total wins. The laws have the same
    parameters, so the held-out likelihood compares them fairly, and unlike the in-sample
    likelihood it counts against a law whose fit follows the rows it was fitted on (a
    Gaussian's covariances stretched by its far rows, or estimated from few rows per
    parameter) rather than the data's shape. Returns ``_TOO_FEW_ROWS`` when a half has
    fewer than ``_CV_MIN_ROWS`` rows per component (the caller then compares the laws
    in-sample).
    """
    m = sample.shape[0]
    if m // 2 < _CV_MIN_ROWS * k:
        return _TOO_FEW_ROWS
    draw = np.random.default_rng(seed_from(rng))
    totals = np.zeros(len(laws))
    for _ in range(_CV_SPLITS):
        order = draw.permutation(m)
        halves = (order[: m // 2], order[m // 2 :])
        for i, law in enumerate(laws):
            for fit_rows, test_rows in (halves, halves[::-1]):
                fitted, _ = _most_likely(sample[fit_rows], k, sk_type, law, reg, rng,
                                         _CV_STARTS)
                log_joint = mixture_log_joint(sample[test_rows], *fitted, sk_type, law)
                totals[i] += float(logsumexp(log_joint, axis=1).sum())
    return laws[int(np.argmax(totals))]


def mixture_log_joint(Z: np.ndarray, means, covariances, weights, covariance_type: str,
                      nu: float | None) -> np.ndarray:
    """``log pi_k + log p_k(z)`` of every row and component, shape (n, k).

    Gaussian components for ``nu=None``, Student-t ones with ``nu`` degrees of freedom
    otherwise; ``covariances`` in scikit-learn's layout for ``covariance_type``.
    """
    log_density, _ = _log_density(Z, means, covariances, covariance_type, nu)
    return log_density + np.log(weights)


def _log_density(Z, means, covariances, covariance_type, nu):
    """Component log densities and squared Mahalanobis distances, both (n, k)."""
    n, d = Z.shape
    k = means.shape[0]
    if covariance_type == "full":
        maha = np.empty((n, k))
        log_det = np.empty(k)
        eye = np.eye(d)
        for j in range(k):  # |L^-1 (z - mu)|^2 by matrix products, as scikit-learn
            chol = np.linalg.cholesky(covariances[j])
            inverse = solve_triangular(chol, eye, lower=True).T  # (L^-1)^T
            white = Z @ inverse
            white -= means[j] @ inverse
            maha[:, j] = np.einsum("ij,ij->i", white, white)
            log_det[j] = 2 * np.sum(np.log(np.diag(chol)))
    else:
        var = covariances if covariance_type == "diag" else covariances[:, None]
        var = np.broadcast_to(var, (k, d))
        precision = 1.0 / var
        # |z - mu|^2_P = z^2 . P - 2 z . (P mu) + mu^2 . P, without an (n, k, d) tensor
        maha = (Z * Z) @ precision.T - 2 * Z @ (precision * means).T
        maha += np.sum(means * means * precision, axis=1)
        np.maximum(maha, 0.0, out=maha)
        log_det = np.log(var).sum(1)
    if nu is None:
        return -0.5 * (maha + log_det + d * np.log(2 * np.pi)), maha
    const = gammaln(0.5 * (nu + d)) - gammaln(0.5 * nu) - 0.5 * d * np.log(nu * np.pi)
    return const - 0.5 * log_det - 0.5 * (nu + d) * np.log1p(maha / nu), maha


def t_mixture_em(Z: np.ndarray, k: int, covariance_type: str, nu: float, reg: float,
                 seed: int, max_iter: int = 100, tol: float = 1e-3):
    """EM for a mixture of multivariate Student-t laws with ``nu`` degrees of freedom.

    The scale-mixture EM (McLachlan & Peel, *Finite Mixture Models*, 2000, ch. 7) with
    ``nu`` fixed: the E-step gives responsibilities ``r_ik`` and weights
    ``u_ik = (nu + d) / (nu + m_ik)`` (``m_ik`` the squared Mahalanobis distance, so that
    far rows count less), the M-step the ``r u``-weighted means and scatter matrices.
    Started, as scikit-learn's ``GaussianMixture``, from one k-means partition (seeded by
    ``seed``); stops when the mean log-likelihood gains less than ``tol``.
    ``covariance_type`` is scikit-learn's ("full", "diag", "spherical"); ``reg`` is added
    to the variances. Returns means, scale matrices (scikit-learn's layout) and weights.
    """
    n, d = Z.shape
    labels = KMeans(k, n_init=1, random_state=seed).fit(Z).labels_
    resp = np.zeros((n, k))
    resp[np.arange(n), labels] = 1.0
    u = np.ones((n, k))
    score = -np.inf
    for _ in range(max_iter):
        counts = resp.sum(0) + 10 * np.finfo(float).eps
        weights = counts / n
        ru = resp * u
        means = (ru.T @ Z) / (ru.sum(0) + 10 * np.finfo(float).eps)[:, None]
        if covariance_type == "full":
            scale = np.empty((k, d, d))
            for j in range(k):
                diff = Z - means[j]
                scale[j] = (diff * ru[:, j, None]).T @ diff / counts[j]
                scale[j].flat[:: d + 1] += reg
        else:  # sum_i ru_ik (z_i - mu_k)^2 per dimension, without an (n, k, d) tensor
            var = (ru.T @ (Z * Z) - 2 * means * (ru.T @ Z)
                   + means * means * ru.sum(0)[:, None]) / counts[:, None]
            var = np.maximum(var, 0.0) + reg
            scale = var if covariance_type == "diag" else var.mean(1)
        log_density, maha = _log_density(Z, means, scale, covariance_type, nu)
        log_joint = log_density + np.log(weights)
        top = log_joint.max(axis=1, keepdims=True)
        resp = np.exp(log_joint - top)
        total = resp.sum(axis=1, keepdims=True)
        resp /= total
        log_lik = top[:, 0] + np.log(total[:, 0])
        u = (nu + d) / (nu + maha)
        previous, score = score, float(log_lik.mean())
        if abs(score - previous) < tol:
            break
    return means, scale, weights


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
