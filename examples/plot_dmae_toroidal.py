"""
=====================================================================
DMAE with the toroidal distance: clusters of angles
=====================================================================

Angles (wind directions, dihedral angles of proteins, phases) live on a circle: 0.1 rad
and 6.2 rad are close. A pair of angles lives on a torus. The ``"toroidal_euclidean"``
dissimilarity wraps every coordinate with its period ``interval`` before measuring the
squared distance, so a cluster may straddle the seam at 0 = 2π.

Four blobs of angle pairs are drawn on :math:`[0, 2\\pi)^2`; two of them sit on a seam.
The Euclidean DMAE cuts those in two, the toroidal one finds all four. Centres live on
the torus too: they are wrapped back into :math:`[0, 2\\pi)` for the plot.

Set ``FULL = True`` for more samples and epochs.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import adjusted_rand_score

from skdeepclust.cluster import DMAEClustering

FULL = False
N_PER = 500 if FULL else 150
EPOCHS = 100 if FULL else 30
TWO_PI = 2 * np.pi

rng = np.random.RandomState(0)
centres = np.array([[0.0, 3.0], [3.0, 0.0], [2.0, 2.0], [4.5, 4.5]])  # two on a seam
y = np.repeat(np.arange(4), N_PER)
X = (centres[y] + 0.35 * rng.randn(len(y), 2)) % TWO_PI

common = dict(alpha=20.0, init="k-means++", learning_rate=1e-2, batch_size=64,
              max_epochs=EPOCHS, device="cpu", random_state=0)
models = {
    "euclidean": DMAEClustering(4, **common),
    "toroidal_euclidean": DMAEClustering(4, dissimilarity="toroidal_euclidean",
                                         interval=TWO_PI, **common),
}

fig, axes = plt.subplots(1, 2, figsize=(10, 5))
for ax, (name, model) in zip(axes, models.items()):
    labels = model.fit_predict(X)
    ari = adjusted_rand_score(y, labels)
    print(f"{name:<20} ARI = {ari:.3f}")
    ax.scatter(X[:, 0], X[:, 1], c=labels, s=6, cmap="tab10", vmin=0, vmax=9)
    c = model.cluster_centers_ % TWO_PI
    ax.scatter(c[:, 0], c[:, 1], marker="x", s=120, c="k")
    ax.set_xlim(0, TWO_PI)
    ax.set_ylim(0, TWO_PI)
    ax.set_xlabel("angle 1 (rad)")
    ax.set_ylabel("angle 2 (rad)")
    ax.set_title(f"{name}: ARI = {ari:.2f}")
fig.tight_layout()
plt.show()
