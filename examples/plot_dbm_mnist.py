"""
====================================================
Deep Boltzmann machine on MNIST: filters and samples
====================================================

Reproduces PyDeep's DBM tutorial with :class:`~skdeepclust.neural_network.DBM`: a
784-100-100 **centered** deep Boltzmann machine on binary MNIST (``X / 255 > 0.5``),
trained by persistent contrastive divergence (PCD-1) whose data statistics come from a
mean-field posterior (3 sweeps per update), learning rate 0.01, batches of 20, weights
started at N(0, 0.01^2) and no pretraining: centering lets the DBM train from a random
start.

Unlike a deep belief net, every hidden unit listens to the layer below *and* the layer
above, so the posterior over the hidden layers has no closed form. ``transform`` and
``score_samples`` use the factorised mean-field posterior ``q(h | x)``; ``score_samples``
is the variational **lower bound** ``E_q[-E(x, h)] + H(q) - log Z`` of ``log p(x)``, with
``log Z`` estimated by annealed importance sampling (AIS). An
:class:`~skdeepclust.neural_network.RBM` with 100 hidden units trained the same way is
scored next to it (its log-likelihood is exact up to the AIS estimate of its ``log Z``).

PyDeep's tutorial shows filters and samples but no likelihood. With its full recipe
(60,000 images, 10 epochs, AIS with 10,000 temperatures; ``FULL = True`` here,
``benchmarks/bench_dbm.py`` in the repository) the DBM's test lower bound is -104.3, -107.4
and -114.3 nats on seeds 0, 1 and 42: ten epochs from a start of N(0, 0.01^2) weights leave
it sensitive to that start. The 784-100 RBM trained the same way reaches a true
log-likelihood of -114.0 and a deep belief net 784-100-100 with the same budget (two RBMs of
10 epochs each; its bound by Monte Carlo over the bottom RBM's posterior) a bound of -103.2
(seed 42). The quick setting below (2 epochs, 3,000 temperatures, scores on 2,000 images)
takes about 40 CPU seconds on one core.

MNIST is read from a local ``mnist.npz`` (``$SKDEEPCLUST_MNIST``, else the project's shared
data folder); nothing is downloaded. Without the file the script runs on scikit-learn's
8x8 digits instead (binarised the same way).
"""

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

from skdeepclust.datasets import load_mnist
from skdeepclust.neural_network import DBM, RBM

FULL = False
EPOCHS = 10 if FULL else 2
N_BETAS = 10000 if FULL else 3000
N_TEST = 10000 if FULL else 2000
# the local mnist.npz: $SKDEEPCLUST_MNIST, else the project's shared data folder
HERE = Path(__file__).resolve() if "__file__" in globals() else Path.cwd() / "x"
MNIST = os.environ.get("SKDEEPCLUST_MNIST") or HERE.parents[2] / "shared" / "data" / "mnist.npz"

if Path(MNIST).is_file():
    X_train, _ = load_mnist(MNIST, subset="train", binarize=True)
    X_test, _ = load_mnist(MNIST, subset="test", binarize=True)
    X_test, SIDE = X_test[:N_TEST], 28
else:
    digits = (load_digits().data / 16 > 0.5).astype(np.float32)
    X_train, X_test, SIDE = digits[:1500], digits[1500:], 8
    print(f"No MNIST file at {MNIST}: running on scikit-learn's 8x8 digits instead, so the "
          "bounds are over 64 pixels, not 784.\n")

# %%
# PyDeep's recipe
dbm = DBM(n_components=(100, 100), n_mean_field=3, k=1, learning_rate=0.01, batch_size=20,
          max_epochs=EPOCHS, init_weights=0.01, device="cpu", random_state=42).fit(X_train)
dbm.log_partition("ais", n_betas=N_BETAS, random_state=0)
lo, hi = dbm.log_partition_bounds_
print(f"DBM log Z = {dbm.log_partition_:.2f} (AIS, +-3 s.e. [{lo:.2f}, {hi:.2f}])")

rbm = RBM(100, method="pcd", learning_rate=0.01, batch_size=20, max_epochs=EPOCHS,
          device="cpu", random_state=42).fit(X_train)
rbm.log_partition("ais", n_betas=N_BETAS, random_state=0)

print(f"\n{'model':<24}{'train':>10}{'test':>10}")
print(f"{'DBM 784-100-100 (bound)':<24}{dbm.score(X_train[:N_TEST]):>10.2f}"
      f"{dbm.score(X_test):>10.2f}")
print(f"{'RBM 784-100':<24}{rbm.score(X_train[:N_TEST]):>10.2f}{rbm.score(X_test):>10.2f}")
print("\nPyDeep's recipe (FULL = True, benchmarks/bench_dbm.py): test bound of the DBM -104.3 "
      "/ -107.4 / -114.3 (seeds 0 / 1 / 42); RBM -114.0, same-budget DBN -103.2 (seed 42)")

# %%
# First-layer filters, second-layer filters projected back through the first layer, and
# samples: the visible probabilities after 1,000 Gibbs sweeps of the whole DBM from random
# states (PyDeep's tutorial shows the same three pictures).


def tiles(images, side, n_cols=10):
    images = np.asarray(images)[: n_cols * n_cols]
    n_rows = int(np.ceil(len(images) / n_cols))
    out = np.ones((n_rows * (side + 1), n_cols * (side + 1)))
    for i, img in enumerate(images):
        r, c = divmod(i, n_cols)
        img = img.reshape(side, side)
        span = np.abs(img).max() or 1.0
        out[r * (side + 1):r * (side + 1) + side, c * (side + 1):c * (side + 1) + side] = (
            0.5 + 0.5 * img / span)
    return out


W1, W2 = dbm.coefs_
samples = dbm.sample(100, k=1000, random_state=0)
fig, axes = plt.subplots(1, 3, figsize=(12, 4.4))
for ax, img, title in zip(axes, [tiles(W1.T, SIDE), tiles((W1 @ W2).T, SIDE),
                                 tiles(samples * 2 - 1, SIDE)],
                          ["layer 1 filters", "layer 2 filters (W1 W2)", "samples"]):
    ax.imshow(img, cmap="gray", interpolation="nearest")
    ax.set_title(title)
    ax.axis("off")
fig.tight_layout()
plt.show()
