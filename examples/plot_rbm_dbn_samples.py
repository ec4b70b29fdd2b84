"""
==============================================
Deep belief network on MNIST: samples
==============================================

A :class:`~skdeepclust.neural_network.DBN` is a stack of RBMs trained greedily: the
first models binary MNIST, the second models the first one's hidden means. Samples come
from a Gibbs chain in the top RBM whose visible states are propagated down to pixels
(PyDeep's ``sample_top_layer`` then ``backward_propagate``). We also show the
reconstructions of a few test digits through the whole stack, and the first layer's
filters.

The defaults train on 10,000 images for a few epochs (under a minute); set
``FULL = True`` for all 60,000 images and longer training.
"""

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from skdeepclust.datasets import load_mnist
from skdeepclust.neural_network import DBN

FULL = False
N_TRAIN = 60000 if FULL else 10000
EPOCHS = 30 if FULL else 5
# the local mnist.npz: $SKDEEPCLUST_MNIST, else the project's shared data folder
MNIST = os.environ.get("SKDEEPCLUST_MNIST") or (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist.npz")

X_train, _ = load_mnist(MNIST, subset="train", binarize=True, n_samples=N_TRAIN)
X_test, _ = load_mnist(MNIST, subset="test", binarize=True, n_samples=1000)

dbn = DBN(hidden_layer_sizes=(256, 64), method="pcd", learning_rate=0.05, batch_size=100,
          max_epochs=EPOCHS, device="cpu", random_state=0).fit(X_train)
for i, rbm in enumerate(dbn.rbms_):
    print(f"layer {i + 1}: {rbm.components_.shape[1]} -> {rbm.n_components}, "
          f"reconstruction error {rbm.loss_curve_[0]:.4f} -> {rbm.loss_curve_[-1]:.4f}")
rec = dbn.reconstruct(X_test)
print(f"test reconstruction through both layers: pixel accuracy "
      f"{np.mean((rec > 0.5) == X_test):.3f}")

samples = dbn.sample(12, k=500, random_state=0)

fig, axes = plt.subplots(4, 12, figsize=(12, 4.4))
rows = [("test digits", X_test), ("reconstructions", rec), ("DBN samples", samples),
        ("layer-1 filters", dbn.rbms_[0].components_)]
for r, (title, images) in enumerate(rows):
    for c in range(12):
        axes[r, c].imshow(images[c].reshape(28, 28), cmap="gray_r" if r < 3 else "gray")
        axes[r, c].set_axis_off()
    axes[r, 0].set_title(title, loc="left", fontsize=8)
fig.tight_layout()
plt.show()
