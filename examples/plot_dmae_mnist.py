"""
=======================================================================
Deep DMAE on MNIST: pretrained autoencoder plus a dissimilarity mixture
=======================================================================

The deep :class:`~skdeepclust.cluster.DMAEClustering` nests an
:class:`~skdeepclust.representation.AutoEncoder`: it pretrains it on the images, places
the mixture's centres in the code space with k-means, fits the mixture (centres, cluster
shapes, mixing weights) alone on the codes for ``mixture_epochs``, then fine-tunes the
encoder, the decoder and the mixture together. Here it is the covariance variant
(``dissimilarity="mahalanobis"``): every cluster gets its own shape in the code space.
As in the DMAE source, the decoder reconstructs every image from its *soft-assigned
centroid*, so the decoded centres are the cluster prototypes shown at the bottom.

The quick default uses the first 2,000 MNIST images and a small network; set
``FULL = True`` for all 70,000 images and the paper's d-500-500-2000-10 network (hours on
a CPU). The MNIST file comes from the first command-line argument or
``$SKDEEPCLUST_MNIST`` (an ``npz`` with keys ``X``, ``y``), else the project's shared data
folder; nothing is downloaded. Without it the example falls back to scikit-learn's 8x8
digits and prints what the MNIST run gives.

What to expect: the clustering is only as good as the pretrained code; the cluster
shapes are what the mixture adds to k-means on the codes. ``benchmarks/bench_dmae.py``
compares it with :class:`~skdeepclust.cluster.DECClustering` at equal budget on
MNIST-10k.
"""

import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from skdeepclust.cluster import DMAEClustering
from skdeepclust.datasets import load_mnist
from skdeepclust.metrics import cluster_accuracy
from skdeepclust.representation import AutoEncoder

FULL = False
N_SAMPLES = None if FULL else 2000
HIDDEN = (500, 500, 2000) if FULL else (256, 128)
PRETRAIN_EPOCHS = 200 if FULL else 50
CLUSTER_EPOCHS = 100 if FULL else 20
BATCH_SIZE = 256 if FULL else 64

HERE = Path(__file__).resolve() if "__file__" in globals() else Path.cwd() / "x"
path = (sys.argv[1] if len(sys.argv) > 1 and sys.argv[1].endswith(".npz")
        else os.environ.get("SKDEEPCLUST_MNIST")
        or str(HERE.parents[2] / "shared" / "data" / "mnist.npz"))
if os.path.isfile(path):
    X, y = load_mnist(path, n_samples=N_SAMPLES)
    side = 28
else:
    X, y = load_digits(return_X_y=True)
    X, side = (X / 16.0).astype(np.float32), 8
    print(f"No MNIST file at {path}: running on scikit-learn's 8x8 digits instead "
          f"({X.shape[0]} images of 64 pixels). On the first 2,000 MNIST images this quick "
          "setting gives ACC 0.664 for deep DMAE, against 0.566 for k-means on the "
          "autoencoder's codes and 0.549 on the pixels.\n")

# -- pretrain once, reuse it for the baseline and for DMAE --------------------------------
ae = AutoEncoder(n_components=10, hidden_layer_sizes=HIDDEN, max_epochs=PRETRAIN_EPOCHS,
                 batch_size=BATCH_SIZE, learning_rate=1e-3, tol=None, device="cpu",
                 random_state=0).fit(X)
dmae = DMAEClustering(
    10,
    autoencoder=FrozenEstimator(ae),  # fitted: pretraining is skipped, ae is not modified
    dissimilarity="mahalanobis",
    alpha=10.0,
    max_epochs=CLUSTER_EPOCHS,
    batch_size=BATCH_SIZE,
    device="cpu",
    random_state=0,
).fit(X)

results = {
    "KMeans on pixels": KMeans(10, n_init=10, random_state=0).fit_predict(X),
    "AE + KMeans": KMeans(10, n_init=10, random_state=0).fit_predict(ae.transform(X)),
    "deep DMAE": dmae.labels_,
}
print(f"{'method':<18}{'ACC':>7}{'NMI':>7}{'ARI':>7}")
for name, labels in results.items():
    print(f"{name:<18}{cluster_accuracy(y, labels):>7.3f}"
          f"{normalized_mutual_info_score(y, labels):>7.3f}"
          f"{adjusted_rand_score(y, labels):>7.3f}")

# -- the decoded centres are the cluster prototypes ----------------------------------------
prototypes = dmae.autoencoder_.inverse_transform(dmae.cluster_centers_)
fig, axes = plt.subplots(2, 10, figsize=(12, 2.8))
for k in range(10):
    axes[0, k].imshow(prototypes[k].reshape(side, side), cmap="gray_r")
    axes[0, k].set_title(f"w={dmae.mixing_weights_[k]:.2f}", fontsize=8)
    members = np.flatnonzero(dmae.labels_ == k)
    if members.size:
        axes[1, k].imshow(X[members[0]].reshape(side, side), cmap="gray_r")
for ax in axes.ravel():
    ax.set_axis_off()
axes[0, 0].set_ylabel("centre")
fig.suptitle("Decoded DMAE centres (top) and one member of each cluster (bottom)")
fig.tight_layout()
plt.show()
