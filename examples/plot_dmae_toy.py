"""
=====================================================================
Shallow DMAE on toy data: choosing the dissimilarity
=====================================================================

A shallow :class:`~skdeepclust.cluster.DMAEClustering` is a mixture of centres under a
dissimilarity of your choice, trained by reconstructing every sample with its
soft-assigned centre. The dissimilarity decides the shape of the clusters:

- **top row**, anisotropic blobs: Euclidean, Manhattan and Chebyshev distances all cut
  the stretched clusters like k-means does; ``"mahalanobis"`` learns one precision matrix
  per cluster and recovers them.
- **bottom row**, non-convex sets: no distance on the raw coordinates separates two
  concentric circles or two moons. Clustering random Fourier features instead
  (:class:`~sklearn.kernel_approximation.RBFSampler` in a
  :class:`~sklearn.pipeline.Pipeline`, the kernel trick behind the dmae demos' pretrained
  encoders) separates the circles; the moons stay hard for any convex-cluster method.

Set ``FULL = True`` for more samples and epochs.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_blobs, make_circles, make_moons
from sklearn.kernel_approximation import RBFSampler
from sklearn.metrics import adjusted_rand_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdeepclust.cluster import DMAEClustering

FULL = False
N = 1500 if FULL else 600
EPOCHS = 200 if FULL else 60
common = dict(learning_rate=1e-2, batch_size=64, max_epochs=EPOCHS, device="cpu", random_state=0)

# -- data -------------------------------------------------------------------------------
X_aniso, y_aniso = make_blobs(n_samples=N, random_state=170)
X_aniso = StandardScaler().fit_transform(X_aniso @ [[0.6, -0.6], [-0.4, 0.8]])
X_circles, y_circles = make_circles(N, noise=0.1, factor=0.1, random_state=0)
X_moons, y_moons = make_moons(N, noise=0.08, random_state=0)


def rbf_dmae(dissimilarity):
    return make_pipeline(
        RBFSampler(gamma=2.0, n_components=100, random_state=0),
        DMAEClustering(2, dissimilarity=dissimilarity, alpha=50.0, **common),
    )


panels = [
    ("aniso: euclidean", X_aniso, y_aniso, DMAEClustering(3, alpha=10.0, **common)),
    ("aniso: manhattan", X_aniso, y_aniso,
     DMAEClustering(3, dissimilarity="manhattan", alpha=10.0, **common)),
    ("aniso: chebyshev", X_aniso, y_aniso,
     DMAEClustering(3, dissimilarity="chebyshev", alpha=10.0, **common)),
    ("aniso: mahalanobis", X_aniso, y_aniso,
     DMAEClustering(3, dissimilarity="mahalanobis", alpha=10.0, **common)),
    ("circles: euclidean", X_circles, y_circles, DMAEClustering(2, alpha=50.0, **common)),
    ("circles: RBF features", X_circles, y_circles, rbf_dmae("euclidean")),
    ("moons: euclidean", X_moons, y_moons, DMAEClustering(2, alpha=50.0, **common)),
    ("moons: RBF features, cosine", X_moons, y_moons, rbf_dmae("cosine")),
]

# -- fit, score and draw the decision regions --------------------------------------------
fig, axes = plt.subplots(2, 4, figsize=(14, 7))
print(f"{'data: model':<30}{'ARI':>6}")
for ax, (title, X, y, model) in zip(axes.ravel(), panels):
    labels = model.fit_predict(X)
    ari = adjusted_rand_score(y, labels)
    print(f"{title:<30}{ari:>6.3f}")
    lo, hi = X.min(0) - 0.3, X.max(0) + 0.3
    xx, yy = np.meshgrid(np.linspace(lo[0], hi[0], 200), np.linspace(lo[1], hi[1], 200))
    regions = model.predict(np.c_[xx.ravel(), yy.ravel()]).reshape(xx.shape)
    ax.contourf(xx, yy, regions, alpha=0.25, cmap="tab10", vmin=0, vmax=9)
    ax.scatter(X[:, 0], X[:, 1], c=labels, s=6, cmap="tab10", vmin=0, vmax=9)
    ax.set_title(f"{title}\nARI = {ari:.2f}", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
plt.show()
