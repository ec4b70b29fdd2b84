"""
====================================================================
Big binary RBM on MNIST: AIS and reverse AIS, centered vs normal
====================================================================

Reproduces PyDeep's ``RBM_MNIST_big`` tutorial with
:class:`~skdeepclust.neural_network.RBM`. With hundreds of hidden units the partition
function can no longer be enumerated, so the log-likelihood is estimated with annealed
importance sampling (AIS, from a base model of independent pixels up to the RBM; tends to
overestimate the likelihood) and reverse AIS (from data down to the base model; tends to
underestimate it). The two estimates bracket the truth.

PyDeep (784-500, PCD-1, batch 100, lr 0.01, 200 epochs, 78 minutes in NumPy): centered
test LL -84.86 (AIS) / -96.61 (reverse AIS); normal -130.81 / -130.43. The defaults below
train a 784-100 RBM on 10,000 images for a few epochs (with a larger learning rate) so
that the script runs in about a minute; set ``FULL = True`` for PyDeep's setting (hours
on a CPU; use a GPU with ``device="cuda"``).

MNIST is read from a local ``mnist.npz`` (``$SKDEEPCLUST_MNIST``, else the project's shared
data folder); nothing is downloaded. Without the file the script runs on scikit-learn's
8x8 digits instead (binarised the same way) and prints what the MNIST run gives.
"""

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

from skdeepclust.datasets import load_mnist
from skdeepclust.neural_network import RBM

FULL = False
N_HIDDEN = 500 if FULL else 100
N_TRAIN = 60000 if FULL else 10000
EPOCHS = 200 if FULL else 5
LEARNING_RATE = 0.01 if FULL else 0.05  # a larger step for the short run
N_BETAS = 10000 if FULL else 1000
# the local mnist.npz: $SKDEEPCLUST_MNIST, else the project's shared data folder
HERE = Path(__file__).resolve() if "__file__" in globals() else Path.cwd() / "x"
MNIST = os.environ.get("SKDEEPCLUST_MNIST") or HERE.parents[2] / "shared" / "data" / "mnist.npz"

if Path(MNIST).is_file():
    X_train, _ = load_mnist(MNIST, subset="train", binarize=True, n_samples=N_TRAIN)
    X_test, _ = load_mnist(MNIST, subset="test", binarize=True)
    SIDE = 28
else:
    digits = (load_digits().data / 16 > 0.5).astype(np.float32)
    X_train, X_test, SIDE = digits[:1500], digits[1500:], 8
    print(f"No MNIST file at {MNIST}: running on scikit-learn's 8x8 digits instead (1,500 "
          "training and 297 test images, binarised at 0.5), so the log-likelihoods are over "
          "64 pixels, not 784. On MNIST this quick setting gives test log-likelihoods of "
          "-138.7 (AIS) / -138.0 (reverse AIS) for the centered RBM and -146.9 / -146.8 for "
          "the normal one; PyDeep's full run -84.86 / -96.61 (centered) and "
          "-130.81 / -130.43 (normal).\n")

print(f"{'model':<10}{'AIS log Z':>11}{'LL train':>10}{'LL test':>10}"
      f"{'rAIS LL test':>14}")
models = {}
for centered in (True, False):
    name = "centered" if centered else "normal"
    rbm = RBM(N_HIDDEN, centered=centered, method="pcd", init_weights=0.01,
              learning_rate=LEARNING_RATE, batch_size=100, max_epochs=EPOCHS, device="cpu",
              random_state=42).fit(X_train)
    log_z_rev = rbm.log_partition("reverse_ais", n_betas=N_BETAS, X=X_train[:100],
                                  random_state=0)
    ll_test_rev = rbm.score(X_test)
    log_z = rbm.log_partition("ais", n_betas=N_BETAS, random_state=0)  # kept for scoring
    print(f"{name:<10}{log_z:>11.2f}{rbm.score(X_train):>10.2f}{rbm.score(X_test):>10.2f}"
          f"{ll_test_rev:>14.2f}")
    models[name] = rbm

# %%
# Filters of the centered model with the highest mean activity, and PT samples
rbm = models["centered"]
order = np.argsort(-rbm.transform(X_train[:2000]).mean(0))[:20]
samples = rbm.sample(10, k=300, method="pt", random_state=0)
fig, axes = plt.subplots(3, 10, figsize=(10, 3.3))
for i in range(10):
    axes[0, i].imshow(rbm.components_[order[i]].reshape(SIDE, SIDE), cmap="gray")
    axes[1, i].imshow(rbm.components_[order[10 + i]].reshape(SIDE, SIDE), cmap="gray")
    axes[2, i].imshow(samples[i].reshape(SIDE, SIDE), cmap="gray_r")
    for ax in axes[:, i]:
        ax.set_axis_off()
axes[0, 0].set_title("filters (most active first)", loc="left", fontsize=8)
axes[2, 0].set_title("samples (parallel tempering)", loc="left", fontsize=8)
fig.tight_layout()
plt.show()
