"""
=====================================================================
DMAE with the Kullback-Leibler divergence: clusters of distributions
=====================================================================

When every sample is a probability vector (topic proportions, normalised histograms,
compositional data) the natural dissimilarity is a divergence. With
``dissimilarity="kullback_leibler"`` DMAE measures :math:`KL(P_i \\| Q_k)` between a
sample and each centre, after turning both into distributions with ``kl_normalization``:
``"abs_sum"`` renormalises the absolute values (the identity on non-negative rows), while
``"softmax_abs"``, the dmae default, reads the rows as logits.

This mirrors the dmae package's simplex demo: four blobs on the 2-simplex, shown in
barycentric coordinates with each model's decision regions. All three models find the
blobs here; the divergence measures differences in small probabilities in relative terms,
which is what matters for distributions, and its regions bend accordingly.

Set ``FULL = True`` for more samples and epochs.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import adjusted_rand_score

from skdeepclust.cluster import DMAEClustering

FULL = False
N_PER = 400 if FULL else 150
EPOCHS = 100 if FULL else 30

rng = np.random.RandomState(0)
means = np.array([(0.02, 0.2, 0.78), (0.34, 0.33, 0.33), (0.96, 0.02, 0.02), (0.02, 0.9, 0.08)])
y = np.repeat(np.arange(4), N_PER)
X = np.stack([rng.dirichlet(30.0 * means[k]) for k in y])

common = dict(alpha=100.0, learning_rate=1e-2, batch_size=64, max_epochs=EPOCHS,
              device="cpu", random_state=0)
models = {
    "euclidean": DMAEClustering(4, **common),
    "KL, abs_sum": DMAEClustering(4, dissimilarity="kullback_leibler",
                                  kl_normalization="abs_sum", kl_eps=1e-4, **common),
    "KL, softmax_abs": DMAEClustering(4, dissimilarity="kullback_leibler", **common),
}

# a barycentric grid over the simplex, for the decision regions
corners = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3) / 2]])
a, b = np.meshgrid(np.linspace(0, 1, 150), np.linspace(0, 1, 150))
grid = np.c_[a.ravel(), b.ravel(), 1 - a.ravel() - b.ravel()]
grid = grid[grid[:, 2] >= 0]
G = grid @ corners

fig, axes = plt.subplots(1, 3, figsize=(14, 4.5))
for ax, (name, model) in zip(axes, models.items()):
    labels = model.fit_predict(X)
    ari = adjusted_rand_score(y, labels)
    print(f"{name:<16} ARI = {ari:.3f}")
    ax.scatter(G[:, 0], G[:, 1], c=model.predict(grid), s=2, cmap="tab10", vmin=0, vmax=9,
               alpha=0.15)
    P = X @ corners
    ax.scatter(P[:, 0], P[:, 1], c=labels, s=5, cmap="tab10", vmin=0, vmax=9)
    ax.plot(*np.r_[corners, corners[:1]].T, "k-", lw=0.8)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title(f"{name}: ARI = {ari:.2f}")
fig.tight_layout()
plt.show()
