"""
=====================================================================
Disentangling the factors of small images: factor swaps with a flow
=====================================================================

Esser, Rombach and Ommer's disentangling invertible interpretation network explains the
latent space of another model: an invertible flow re-arranges that space so that each
known factor of variation gets its own block of code dimensions. Here the images are
8x8 blobs (:func:`~skdeepclust.datasets.make_blob_images`) with three independent known
factors: the blob's row, column and width. A 12-component PCA plays the role of the
model being explained, and :class:`~skdeepclust.flow.DisentanglingFlow` splits its
12 dimensions into a residual block and one 2-D block per factor, trained on pairs of
images that share one factor.

Because the flow is exactly invertible we can edit codes and decode them: copying the
"column" block of image B into image A moves A's blob to B's column and keeps its row
and width. The table printed first shows how strongly each block predicts each factor
on held-out images (multiple correlation); ideally a diagonal of ones.

Set ``FULL = True`` for longer training.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.decomposition import PCA
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdeepclust.datasets import make_blob_images
from skdeepclust.flow import DisentanglingFlow

FULL = False
FACTORS = ["row", "column", "width"]

X, factors = make_blob_images(3000, random_state=0)
X_test, factors_test = make_blob_images(1000, random_state=1)

# the "model being explained": a 12-D linear code of the images
latent = make_pipeline(PCA(12, random_state=0), StandardScaler()).fit(X)
L, L_test = latent.transform(X), latent.transform(X_test)

flow = DisentanglingFlow(
    dimensions_per_factor=[6, 2, 2, 2],  # residual, row, column, width
    target_correlations=0.9,
    n_stages=4,
    coupling="affine",
    learning_rate=3e-3,
    max_epochs=40 if FULL else 10,
    device="cpu",
    random_state=0,
).fit(L, factors)


def multiple_r(block, factor):
    A = np.column_stack([block, np.ones(len(block))])
    fitted = A @ np.linalg.lstsq(A, factor, rcond=None)[0]
    return abs(np.corrcoef(fitted, factor)[0, 1])


blocks = flow.transform_factors(L_test)
table = np.array([[multiple_r(b, factors_test[:, j]) for j in range(3)] for b in blocks])
print("multiple correlation of each code block (rows) with each factor (columns)")
print(f"{'':>10}" + "".join(f"{f:>9}" for f in FACTORS))
for name, row in zip(["residual", *FACTORS], table):
    print(f"{name:>10}" + "".join(f"{v:9.3f}" for v in row))
print(f"max |inverse_transform(transform(L)) - L| = "
      f"{np.abs(flow.inverse_transform(flow.transform(L_test)) - L_test).max():.1e}")

# factor swaps: A keeps everything but one factor block, taken from B
rng = np.random.RandomState(3)
n_show = 8
idx_a = rng.choice(len(L_test), n_show, replace=False)
idx_b = rng.choice(len(L_test), n_show, replace=False)
Z_a, Z_b = flow.transform(L_test[idx_a]), flow.transform(L_test[idx_b])


def decode(Z):
    return latent.inverse_transform(flow.inverse_transform(Z))


rows = [("A", X_test[idx_a]), ("B", X_test[idx_b]), ("A (via codes)", decode(Z_a))]
for k, name in enumerate(FACTORS, start=1):
    Z = Z_a.copy()
    Z[:, flow.factor_slices_[k]] = Z_b[:, flow.factor_slices_[k]]
    rows.append((f"A with B's {name}", decode(Z)))

fig, axes = plt.subplots(len(rows), n_show, figsize=(n_show * 1.1, len(rows) * 1.25))
for r, (name, images) in enumerate(rows):
    for c in range(n_show):
        axes[r, c].imshow(images[c].reshape(8, 8), cmap="viridis", vmin=0, vmax=1)
        axes[r, c].set_axis_off()
    axes[r, 0].set_title(name, loc="left", fontsize=8)
fig.tight_layout()
plt.show()
