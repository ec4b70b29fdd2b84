"""
=====================================================================
A sparse autoencoder on natural image patches
=====================================================================

PyDeep's sparse-autoencoder tutorial: a one-layer autoencoder with tied weights, sigmoid
hidden units, a linear output and the squared error, trained on ZCA-whitened natural image
patches with a strong sparsity penalty (the KL divergence between a target mean activation
of 0.001 and each hidden unit's mean activation on the batch, weight 2.0). Its hidden
units learn localised, oriented edge filters, "impressively similar to the results
produced by ICA or GRBMs" in PyDeep's words: the same kind of filters as independent
component analysis (see :ref:`sphx_glr_auto_examples_plot_natural_patches_ica_rbm.py`).

The patches come from :func:`~skdeepclust.datasets.load_natural_patches`: scikit-learn's
two bundled photographs cut into patches, no download, standing in for PyDeep's van
Hateren patches. PyDeep uses 14 x 14 patches and 400 hidden units (about twice
overcomplete); to stay well within a minute on one core this script uses 8 x 8 patches
and 128 hidden units, 20,000 training patches and 10 epochs.
``benchmarks/bench_natural_patches.py --models sae`` runs PyDeep's full recipe on 14 x 14
patches; its figures are quoted at the end.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.decomposition import FastICA

from skdeepclust.datasets import load_natural_patches
from skdeepclust.preprocessing import ZCA
from skdeepclust.representation import AutoEncoder

SIDE = 8
X = load_natural_patches(SIDE, 25000, random_state=0)
train, test = X[:20000], X[20000:]
zca = ZCA().fit(train)
train_w, test_w = zca.transform(train), zca.transform(test)
d = SIDE * SIDE

# %%
# The sparse autoencoder
# ----------------------
# PyDeep's recipe: tied weights, sigmoid code, linear reconstruction, squared error, a
# centered autoencoder (the code's offset follows its mean), plain SGD on batches of 10,
# no corruption. PyDeep's squared error is half the *sum* over the pixels, ours the
# *mean*, so its learning rate 0.1 becomes 0.1 * d / 2 and its sparsity weight 2.0
# becomes 2.0 * 2 / d: the same steps. Two departures, kept for brevity: the library's
# default initialisation (PyDeep starts with weights of standard deviation 0.01 and hidden
# biases at -2), and a clip of the whole gradient's norm instead of PyDeep's restriction
# of each hidden unit's weight update; the benchmark reproduces both exactly.
ae = AutoEncoder(
    n_components=2 * d, hidden_layer_sizes=(), code_activation="sigmoid",
    output_activation="identity", tied_weights=True, loss="squared", centered=True,
    sparsity_weight=2.0 * 2 / d, sparsity_target=0.001,
    optimizer="sgd", momentum=0.0, learning_rate=0.1 * d / 2, max_grad_norm=1.0,
    batch_size=10, max_epochs=10, tol=None, device="cpu", random_state=0,
).fit(train_w)

# %%
# ICA on the same whitened patches, for reference
# ------------------------------------------------
# On whitened data the unmixing matrix is orthogonal: its rows are the ICA filters.
W_ica = FastICA(whiten=False, max_iter=500, random_state=0).fit(train_w).components_

# %%
# The figures PyDeep's script prints, and how close the filters are to ICA's
# --------------------------------------------------------------------------
# PyDeep prints the reconstruction error (summed over the pixels) and the mean hidden
# activation on the training and test patches. Whitened patches have a squared norm of
# about ``d`` on average: that is the error of reconstructing every patch by zero.
# ``best match``: for each filter, the largest absolute cosine with any ICA filter.


def best_match(filters, reference):
    unit = [f / np.linalg.norm(f, axis=1, keepdims=True) for f in (filters, reference)]
    return np.abs(unit[0] @ unit[1].T).max(1)


match = best_match(ae.components_, W_ica)
noise = np.random.RandomState(1).randn(2 * d, d)
print(f"reconstruction error  train {d * ae.reconstruction_error(train_w).mean():6.2f}  "
      f"test {d * ae.reconstruction_error(test_w).mean():6.2f}  "
      f"(zero reconstruction: test {(test_w ** 2).sum(1).mean():6.2f})")
print(f"mean hidden activation  train {ae.transform(train_w).mean():.4f}  "
      f"test {ae.transform(test_w).mean():.4f}  (target 0.001)")
print(f"best-match |cos| with an ICA filter: sparse AE {match.mean():.2f}, "
      f"random filters {best_match(noise, W_ica).mean():.2f}")

# %%
# The filters
# -----------
# Shown in the whitened space, as PyDeep shows them, each tile scaled to its own range;
# the autoencoder's filters are ordered by their best match with an ICA filter.


def tiles(filters, side=SIDE):
    """The filters (rows) as a square mosaic, each scaled to [-1, 1]."""
    k = int(np.ceil(np.sqrt(len(filters))))
    out = np.full((k * (side + 1) + 1, k * (side + 1) + 1), np.nan)
    for i, f in enumerate(filters):
        r, c = divmod(i, k)
        f = f / max(np.abs(f).max(), 1e-12)
        out[1 + r * (side + 1):(r + 1) * (side + 1), 1 + c * (side + 1):(c + 1) * (side + 1)] = (
            f.reshape(side, side))
    return out


fig, axes = plt.subplots(1, 2, figsize=(11, 5.5))
for ax, filters, title in [
    (axes[0], ae.components_[np.argsort(-match)], "sparse autoencoder filters (128)"),
    (axes[1], W_ica, "ICA filters (64)"),
]:
    ax.imshow(tiles(filters), cmap="gray", vmin=-1, vmax=1)
    ax.set_title(title)
    ax.axis("off")
fig.tight_layout()

# %%
# Whitened patches and their reconstructions
# ------------------------------------------
fig, axes = plt.subplots(1, 2, figsize=(8, 4))
for ax, patches, title in [(axes[0], test_w[:64], "whitened test patches"),
                           (axes[1], ae.reconstruct(test_w[:64]), "reconstructions")]:
    ax.imshow(tiles(patches), cmap="gray", vmin=-1, vmax=1)
    ax.set_title(title)
    ax.axis("off")
fig.tight_layout()
plt.show()

# %%
# What the full recipe gives
# --------------------------
# ``python benchmarks/bench_natural_patches.py --models sae`` runs PyDeep's recipe exactly
# (14 x 14 patches, 196-400, PyDeep's initialisation and per-unit update restriction, 20
# epochs on 40,000 whitened training patches, 30,000 test patches). PyDeep publishes no
# figures for this tutorial, only its filters ("impressively similar to the results
# produced by ICA or GRBMs"); the benchmark's, with ICA and PyDeep's GB-RBM on the same
# patches (``--models grbm sae --epochs 50``: 50 GB-RBM epochs, where its likelihood
# peaks on these patches):
#
# ==============================================  =========  ========  ======  ==========
# figure (14 x 14 test patches)                   sparse AE  ICA       GB-RBM  random
# ==============================================  =========  ========  ======  ==========
# reconstruction error (zero reconstruction 198)  79.2
# mean hidden activation (target 0.001)           0.028
# best-match abs. cosine with an ICA filter       0.53       0.69 (a)  0.43    0.21
# localised filters (see the benchmark)           76 %       91 %      62 %    0 %
# orientation selectivity (median)                0.77       0.89      0.74    0.49
# ==============================================  =========  ========  ======  ==========
#
# (a) A second ICA run (another seed) against the first.
#
# Three quarters of the autoencoder's filters are localised, nearly as orientation-tuned
# as ICA's, and at ICA's preferred wavelength (3 pixels): PyDeep's picture. The mean
# activation stays at about 28 times the target: with weight 2.0 the sparsity penalty is
# balanced against the reconstruction error rather than enforced.
