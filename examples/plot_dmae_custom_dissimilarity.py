"""
=====================================================================
DMAE with your own dissimilarity: a toroidal Mahalanobis distance
=====================================================================

:class:`~skdeepclust.cluster.DMAEClustering` accepts any dissimilarity written as a
plain function of torch tensors in place of a name: ``dissimilarity=f`` with
``f(X, Y) -> D``, where ``X`` has shape ``(n, d)``, the centres ``Y`` have shape
``(K, d)`` and ``D`` has shape ``(n, K)``. If ``f`` has a parameter named
``precision``, the mixture also learns one precision matrix per centre and calls
``f(X, Y, precision=P)`` with ``P`` of shape ``(K, d, d)``. The DMAE loss needs no extra
code: the estimator evaluates the same function between every sample and its
soft-assigned centroid (and mixed precision). This is the counterpart of the dmae
package's ``custom_dissimilarity`` notebook, which writes a toroidal Euclidean and a
toroidal Mahalanobis dissimilarity (the first one is now built in as
``"toroidal_euclidean"``, see :ref:`sphx_glr_auto_examples_plot_dmae_toroidal.py`).

Write the function at module level, not as a lambda, so that the fitted estimator can be
pickled.
"""

import itertools

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from skdeepclust.cluster import DMAEClustering
from skdeepclust.metrics import cluster_accuracy

torch.set_num_threads(1)

# %%
# A custom dissimilarity
# ----------------------
# As in the notebook, the data live on the torus :math:`[-1, 1)^2`: each coordinate has
# period 2 (angles divided by :math:`\pi`). The toroidal Mahalanobis dissimilarity is
# the smallest quadratic form :math:`(x - y + s)^\top P (x - y + s)` over the nine
# shifts :math:`s \in \{-2, 0, 2\}^2` of the difference, so a cluster may straddle the
# seam at :math:`\pm 1` and still be elongated and oriented. The function broadcasts
# over samples ``n``, centres ``k`` and shifts ``s``; it is called with ``K`` centres
# for the soft assignments and with one centre per sample (the soft-assigned centroids,
# with their mixed precisions) for the loss, and the same code serves both.

PERIOD = 2.0
SHIFTS = PERIOD * torch.tensor(list(itertools.product([-1.0, 0.0, 1.0], repeat=2)))


def toroidal_mahalanobis(X, Y, precision):
    """Smallest Mahalanobis distance between ``X`` and ``Y`` over the torus' shifts."""
    diff = X[:, None, None, :] - Y[None, :, None, :] + SHIFTS.to(X)  # (n, K, 9, d)
    quad = torch.einsum("nksi,kij,nksj->nks", diff, precision, diff)
    return quad.min(dim=-1).values


def wrap(X):
    """Map coordinates into [-1, 1), the fundamental domain of the torus."""
    return (X + 1.0) % PERIOD - 1.0


# %%
# Data: elongated clusters across the seam
# ----------------------------------------
# scikit-learn's anisotropic blobs (three stretched, parallel clusters) are shrunk to
# fit the torus and shifted so that the seam :math:`x_1 = \pm 1` cuts the third cluster
# in two. Two built-in dissimilarities each handle half of the problem:
# ``"mahalanobis"`` learns stretched clusters but does not know the seam,
# ``"toroidal_euclidean"`` knows the seam but draws round clusters.

X_flat, y = make_blobs(n_samples=450, random_state=170)
X_flat = X_flat @ [[0.6, -0.6], [-0.4, 0.8]]
X_flat = 0.15 * (X_flat - X_flat.mean(0)) / X_flat.std(0)
X = wrap(X_flat + [0.8, 0.0])

# %%
# A start on the torus
# --------------------
# The built-in dissimilarities start, by default, from a KMeans partition of the data
# (``init="kmeans"``). KMeans on the raw coordinates does not know the seam either;
# KMeans on the embedding :math:`(\cos \pi x, \sin \pi x)` of every coordinate does.
# Its centres, mapped back to angles, and the precisions of its clusters (measured on
# the wrapped differences) are the start of the custom model, passed as ``init`` and
# ``precision_init``.


def torus_kmeans_start(X, n_clusters, random_state=0):
    """Centres and precision matrices of a KMeans partition of the torus."""
    angles = np.pi * X
    embedding = np.hstack([np.cos(angles), np.sin(angles)])
    km = KMeans(n_clusters, n_init=10, random_state=random_state).fit(embedding)
    d = X.shape[1]
    C = km.cluster_centers_
    centers = np.arctan2(C[:, d:], C[:, :d]) / np.pi
    precisions = []
    for k, center in enumerate(centers):
        diff = wrap(X[km.labels_ == k] - center)
        precisions.append(np.linalg.inv(np.cov(diff.T) + 1e-4 * np.eye(d)))
    return centers, np.array(precisions)


centers, precisions = torus_kmeans_start(X, 3)

# %%
# Fit and compare
# ---------------
# ``alpha`` multiplies dissimilarities, so it follows their scale: the clusters are
# about 0.15 wide, hence ``alpha=200``. ``reg_covar`` floors every covariance at a
# fraction of the average variance of the data; on the torus that variance is inflated by
# the points on both sides of the seam, so the floor is lowered to keep the thin clusters
# thin.

common = {"alpha": 200.0, "batch_size": 64, "device": "cpu", "random_state": 0}
models = {
    "KMeans": KMeans(3, n_init=10, random_state=0),
    "DMAE euclidean": DMAEClustering(3, **common),
    "DMAE toroidal_euclidean": DMAEClustering(
        3, dissimilarity="toroidal_euclidean", interval=PERIOD, init="k-means++",
        learning_rate=1e-2, **common),
    "DMAE mahalanobis": DMAEClustering(3, dissimilarity="mahalanobis", **common),
    "DMAE custom toroidal_mahalanobis": DMAEClustering(
        3, dissimilarity=toroidal_mahalanobis, init=centers, precision_init=precisions,
        reg_covar=1e-3, **common),
}

# The panels show the part of the torus that holds the data, with the first coordinate
# read modulo 2 (in :math:`[0, 2)`), so that the seam :math:`x_1 = \pm 1` is the dashed
# line at 1 and the cluster it cuts is drawn in one piece. Each model's clusters are
# coloured as the true cluster they are matched to (:func:`~skdeepclust.metrics.cluster_accuracy`).


def view(X):
    return np.c_[X[:, 0] % PERIOD, X[:, 1]]


uu, vv = np.meshgrid(np.linspace(0.4, 1.2, 201), np.linspace(-0.4, 0.4, 201))
grid = wrap(np.c_[uu.ravel(), vv.ravel()])
fig, axes = plt.subplots(2, 3, figsize=(12, 8), sharex=True, sharey=True)
axes = axes.ravel()
shown = view(X)
axes[0].scatter(*shown.T, c=y, s=6, cmap="tab10", vmin=0, vmax=9)
axes[0].set_title("true clusters")
print(f"{'model':<36}{'ARI':>6}")
for ax, (name, model) in zip(axes[1:], models.items()):
    labels = model.fit_predict(X)
    ari = adjusted_rand_score(y, labels)
    print(f"{name:<36}{ari:>6.3f}")
    _, mapping = cluster_accuracy(y, labels, return_mapping=True)
    colour = np.vectorize(mapping.get)
    regions = colour(model.predict(grid)).reshape(uu.shape)
    ax.contourf(uu, vv, regions, levels=np.arange(-0.5, 3), alpha=0.25, cmap="tab10",
                vmin=0, vmax=9)
    ax.scatter(*shown.T, c=colour(labels), s=6, cmap="tab10", vmin=0, vmax=9)
    ax.scatter(*view(wrap(model.cluster_centers_)).T, marker="x", s=100, c="k")
    ax.set_title(f"{name}\nARI = {ari:.2f}", fontsize=10)
for ax in axes:
    ax.axvline(1.0, color="k", linestyle="--", linewidth=0.8)
    ax.set_xlim(0.4, 1.2)
    ax.set_ylim(-0.4, 0.4)
    ax.set_aspect("equal")
for ax in axes[3:]:
    ax.set_xlabel("$x_1$ modulo 2 (seam dashed)")
for ax in axes[::3]:
    ax.set_ylabel("$x_2$")
fig.tight_layout()

# %%
# The custom model's ``transform`` returns its own dissimilarities to the centres and
# ``precisions_`` the learned precision matrices (unit determinant); its long axes
# follow the clusters.
custom = models["DMAE custom toroidal_mahalanobis"]
D = custom.transform(X)
D_own = toroidal_mahalanobis(
    *(torch.as_tensor(a, dtype=torch.float64)
      for a in (X, custom.cluster_centers_, custom.precisions_))).numpy()
print(f"transform(X): shape {D.shape}, equal to toroidal_mahalanobis(X, cluster_centers_, "
      f"precisions_): {np.allclose(D, D_own, rtol=1e-4, atol=1e-6)}")
for k, P in enumerate(custom.precisions_):
    eigval, eigvec = np.linalg.eigh(np.linalg.inv(P))
    angle = np.degrees(np.arctan2(eigvec[1, -1], eigvec[0, -1])) % 180
    print(f"cluster {k}: long axis at {angle:5.1f} deg, "
          f"axis ratio {np.sqrt(eigval[-1] / eigval[0]):.1f}")
plt.show()
