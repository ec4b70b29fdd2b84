"""
=====================================================================
Deep generative decoder: a 2-D representation of the digits
=====================================================================

:class:`~skdeepclust.representation.GMMRepresentation` is the deep generative decoder
(DGD) of Schuster & Krogh: no encoder, a free representation per sample, an MLP decoder
and a Gaussian mixture over the representations, all found jointly by MAP estimation.

We fit it on scikit-learn's 8x8 digits with a 2-D representation so it can be drawn:

1. the learned representations coloured by digit, with the mixture's components;
2. samples generated from each component (``sample`` draws a component, a
   representation from it, then pixels from the decoder);
3. held-out digits placed by ``transform``: with the decoder and the mixture frozen, each
   new digit starts from the best component mean and its representation is optimised;
4. the supervised mixture (``n_components_per_class``): ``fit(X, y)`` gives each class its
   own components, and ``predict`` classifies new digits.

Set ``FULL = True`` for longer training (and MNIST with ``SKDEEPCLUST_MNIST`` set).
"""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import adjusted_rand_score
from sklearn.model_selection import train_test_split

from skdeepclust.metrics import cluster_accuracy
from skdeepclust.representation import GMMRepresentation

FULL = False
EPOCHS = 300 if FULL else 60
MNIST = os.environ.get("SKDEEPCLUST_MNIST") if FULL else None

if MNIST:
    from skdeepclust.datasets import load_mnist

    X, y = load_mnist(MNIST, n_samples=10_000)
    side = 28
else:
    digits = load_digits()
    X, y = (digits.data / 16).astype(np.float32), digits.target
    side = 8
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)

common = dict(latent_dim=2, covariance_type="diag", hidden_layer_sizes=(128, 128),
              output_distribution="bernoulli", max_epochs=EPOCHS, tol=None,
              transform_epochs=50, device="cpu", random_state=0)
dgd = GMMRepresentation(n_components=10, **common).fit(X_train)
print(f"unsupervised: ARI {adjusted_rand_score(y_train, dgd.labels_):.3f}, "
      f"ACC {cluster_accuracy(y_train, dgd.labels_):.3f} (training representations)")
pred = dgd.predict(X_test)
print(f"held-out:     ARI {adjusted_rand_score(y_test, pred):.3f}, "
      f"ACC {cluster_accuracy(y_test, pred):.3f} (transform, then the mixture)")

# %%
# The learned representations and the mixture
# --------------------------------------------
Z = dgd.embedding_
Z_test = dgd.transform(X_test)
fig, axes = plt.subplots(1, 2, figsize=(11, 5), sharex=True, sharey=True)
for ax, data, labels, title in [
    (axes[0], Z, y_train, "training representations (embedding_)"),
    (axes[1], Z_test, y_test, "held-out digits placed by transform"),
]:
    sc = ax.scatter(data[:, 0], data[:, 1], c=labels, cmap="tab10", s=6, alpha=0.7)
    for mean, var in zip(dgd.means_, dgd.covariances_):
        ax.add_patch(plt.matplotlib.patches.Ellipse(
            mean, 4 * np.sqrt(var[0]), 4 * np.sqrt(var[1]), fill=False, color="k", lw=0.8))
    ax.set_title(title)
fig.colorbar(sc, ax=axes, label="digit")

# %%
# Samples from each component
# ---------------------------
# For every component, decode its mean and draw five representations from it.
n_show = 5
fig, axes = plt.subplots(dgd.n_components, n_show + 1, figsize=(n_show + 1, 10))
rng = np.random.default_rng(0)
for k in range(dgd.n_components):
    z = dgd.means_[k] + rng.standard_normal((n_show, 2)) * np.sqrt(dgd.covariances_[k])
    images = dgd.inverse_transform(np.vstack([dgd.means_[k], z]))
    for j, img in enumerate(images):
        axes[k, j].imshow(img.reshape(side, side), cmap="gray_r")
        axes[k, j].axis("off")
    axes[k, 0].set_title(f"{k}: w={dgd.weights_[k]:.2f}", fontsize=7)
fig.suptitle("component mean (left) and draws, decoded")

X_gen, components = dgd.sample(10)
print("sample(10) components:", components)

# %%
# Supervised mixture: two components per digit
# ----------------------------------------------
sup = GMMRepresentation(n_components_per_class=2, **common).fit(X_train, y_train)
acc = np.mean(sup.predict(X_test) == y_test)
print(f"supervised mixture: held-out accuracy {acc:.3f}")
fig, ax = plt.subplots(figsize=(6, 5))
ax.scatter(*sup.embedding_.T, c=y_train, cmap="tab10", s=6, alpha=0.7)
ax.scatter(*sup.means_.T, c=sup.component_classes_, cmap="tab10", marker="*", s=200,
           edgecolor="k")
ax.set_title("supervised: each digit gets its own components (stars)")
plt.show()
