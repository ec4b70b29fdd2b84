"""
=====================================================================
DMAE: sparsity of the soft assignments against alpha
=====================================================================

``alpha`` is the inverse temperature of DMAE's softmax assignment
:math:`s_{ik} \\propto \\pi_k \\exp(-\\alpha D(x_i, \\theta_k))`. Small values spread every
sample over all clusters; large values give hard, k-means-like assignments. The dmae
paper measures this with the L0 "norm" of the assignments, the number of clusters a
sample is assigned to above a threshold:
:func:`skdeepclust.metrics.assignment_sparsity`.

We fit a shallow DMAE on scikit-learn's digits for a range of ``alpha`` and plot the mean
number of active clusters per sample next to the clustering accuracy, then the
assignments of a few digits at three temperatures.

Set ``FULL = True`` for a finer grid and longer training.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

from skdeepclust.cluster import DMAEClustering
from skdeepclust.metrics import assignment_sparsity, cluster_accuracy

FULL = False
ALPHAS = np.logspace(-1, 3, 17 if FULL else 9)
EPOCHS = 100 if FULL else 10

digits = load_digits()
X, y = digits.data / 16.0, digits.target

sparsity, accuracy, probas = [], [], {}
print(f"{'alpha':>8}{'active clusters':>17}{'ACC':>7}")
for alpha in ALPHAS:
    model = DMAEClustering(10, alpha=alpha, autoencoder=None, max_epochs=EPOCHS,
                           learning_rate=1e-2,
                           device="cpu", random_state=0).fit(X)
    proba = model.predict_proba(X)
    probas[alpha] = proba
    sparsity.append(assignment_sparsity(proba).mean())
    accuracy.append(cluster_accuracy(y, model.labels_))
    print(f"{alpha:>8.3g}{sparsity[-1]:>17.2f}{accuracy[-1]:>7.3f}")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
ax1.semilogx(ALPHAS, sparsity, "o-", label="mean active clusters (> 1e-7)")
ax1.set_xlabel("alpha")
ax1.set_ylabel("active clusters per sample")
ax1b = ax1.twinx()
ax1b.semilogx(ALPHAS, accuracy, "s--", color="C1", label="ACC")
ax1b.set_ylabel("cluster accuracy")
ax1.set_title("Sparsity and accuracy against alpha")
ax1.legend(loc="center left")
ax1b.legend(loc="center right")

shown = [ALPHAS[0], ALPHAS[len(ALPHAS) // 2], ALPHAS[-1]]
width = 0.27
for i, alpha in enumerate(shown):
    ax2.bar(np.arange(10) + (i - 1) * width, probas[alpha][0], width, label=f"alpha={alpha:.3g}")
ax2.set_xlabel("cluster")
ax2.set_ylabel("soft assignment of the first digit")
ax2.set_yscale("log")
ax2.set_ylim(1e-12, 1.5)
ax2.legend()
fig.tight_layout()
plt.show()
