"""
=====================================================================
Small binary RBM on MNIST: centering, flipped data, exact Z vs AIS
=====================================================================

Reproduces PyDeep's ``RBM_MNIST_small`` tutorial with
:class:`~skdeepclust.neural_network.RBM`: a 784-16 binary RBM trained with persistent
contrastive divergence on binary MNIST (``X / 255 > 0.5``), small enough that the
partition function is **exact** (a sum over the 2**16 hidden states), so
``score_samples`` is the true log-likelihood. We compare

* a **centered** RBM (offsets tracking the data means, the default) with a **normal** one,
* on MNIST and on **flipped** MNIST (``1 - x``): centering makes the model invariant to
  flipping, the normal RBM is not,
* the exact ``log Z`` with annealed importance sampling (AIS, optimistic on average) and
  reverse AIS (conservative on average).

PyDeep's figures after 50 epochs on the full 60,000 images (exact test LL):
centered -142.56, normal -149.05, centered flipped -142.09, normal flipped -183.36.
The default settings here train on 10,000 images for a few epochs so that the script
finishes in about a minute; set ``FULL = True`` for PyDeep's setting.

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
N_TRAIN = 60000 if FULL else 10000
EPOCHS = 50 if FULL else 4
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
          "-189.6 (centered), -196.8 (normal), -189.5 (centered flipped) and -201.9 (normal "
          "flipped); PyDeep's full run -142.56 / -149.05 / -142.09 / -183.36.\n")

print(f"{'model':<20}{'log Z':>10}{'LL train':>10}{'LL test':>10}")
models = {}
for flipped in (False, True):
    train, test = (1 - X_train, 1 - X_test) if flipped else (X_train, X_test)
    for centered in (True, False):
        name = f"{'centered' if centered else 'normal'}{' flipped' if flipped else ''}"
        rbm = RBM(16, centered=centered, method="pcd", learning_rate=0.01, batch_size=100,
                  max_epochs=EPOCHS, device="cpu", random_state=42).fit(train)
        # 16 hidden units: log_partition_ is exact, so score() is the true mean log-likelihood
        print(f"{name:<20}{rbm.log_partition_:>10.2f}{rbm.score(train):>10.2f}"
              f"{rbm.score(test):>10.2f}")
        models[name] = rbm

# %%
# Exact log Z against AIS and reverse AIS (with their +-3 standard-error bounds)
rbm = models["centered"]
exact = rbm.log_partition("exact")
free_energy = rbm.free_energy(X_test)
print(f"\n{'estimate':<12}{'log Z':>10}{'bounds':>22}{'LL test':>10}")
for method in ("exact", "ais", "reverse_ais"):
    kwargs = {} if method == "exact" else {"n_betas": N_BETAS, "random_state": 0}
    if method == "reverse_ais":
        kwargs["X"] = X_train[:100]  # start the reverse runs from data
    log_z = rbm.log_partition(method, **kwargs)
    lo, hi = rbm.log_partition_bounds_
    print(f"{method:<12}{log_z:>10.3f}{f'[{lo:.3f}, {hi:.3f}]':>22}"
          f"{np.mean(-free_energy - log_z):>10.3f}")
rbm.log_partition("exact")

# %%
# The filters of the centered RBM, ordered by mean hidden activity, and samples drawn by
# a parallel-tempering ladder
order = np.argsort(-rbm.transform(X_train).mean(0))
samples = rbm.sample(16, k=200, method="pt", random_state=0)
fig, axes = plt.subplots(2, 16, figsize=(12, 1.8))
for i in range(16):
    w = rbm.components_[order[i]].reshape(SIDE, SIDE)
    axes[0, i].imshow(w, cmap="gray")
    axes[1, i].imshow(samples[i].reshape(SIDE, SIDE), cmap="gray_r")
    for ax in axes[:, i]:
        ax.set_axis_off()
axes[0, 0].set_title("filters", loc="left", fontsize=8)
axes[1, 0].set_title("PT samples", loc="left", fontsize=8)
fig.tight_layout()
plt.show()
