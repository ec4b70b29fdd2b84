"""
==========================================================
Denoising and contractive autoencoders on the digits data
==========================================================

Fit :class:`~skdeepclust.representation.AutoEncoder` on scikit-learn's 8x8 digits three ways
(plain, denoising with masking noise, contractive) and compare reconstructions from
corrupted inputs and the codes' clustering quality. The contractive penalty (Rifai et al.,
2011) and the denoising criterion (Vincent et al., 2008) both make the code robust to
small input changes: a masked digit is reconstructed closer to the clean one.

Set ``FULL = True`` for longer training.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits
from sklearn.metrics import normalized_mutual_info_score

from skdeepclust.metrics import cluster_accuracy
from skdeepclust.representation import AutoEncoder

FULL = False
EPOCHS = 200 if FULL else 40

digits = load_digits()
X = (digits.data / 16).astype(np.float32)
y = digits.target
common = dict(n_components=10, hidden_layer_sizes=(128,), output_activation="sigmoid",
              loss="cross_entropy", max_epochs=EPOCHS, learning_rate=2e-3, device="cpu",
              random_state=0)
models = {
    "plain": AutoEncoder(**common),
    "denoising (30% masked)": AutoEncoder(**common, noise="dropout", noise_level=0.3),
    "contractive": AutoEncoder(**common, contractive=0.05),
}

rng = np.random.RandomState(0)
mask = rng.rand(*X.shape) >= 0.3
X_masked = X * mask

print(f"{'model':<24}{'clean MSE':>10}{'masked MSE':>12}{'KMeans ACC':>12}{'NMI':>7}")
reconstructions = {}
for name, model in models.items():
    model.fit(X)
    clean = np.mean((model.reconstruct(X) - X) ** 2)
    rec_masked = model.reconstruct(X_masked)
    masked = np.mean((rec_masked - X) ** 2)
    labels = KMeans(10, n_init=10, random_state=0).fit_predict(model.transform(X))
    acc, nmi = cluster_accuracy(y, labels), normalized_mutual_info_score(y, labels)
    reconstructions[name] = rec_masked
    print(f"{name:<24}{clean:>10.4f}{masked:>12.4f}{acc:>12.3f}{nmi:>7.3f}")

fig, axes = plt.subplots(len(models) + 2, 8, figsize=(8, 1.1 * (len(models) + 2)))
rows = [("clean", X), ("masked input", X_masked), *reconstructions.items()]
for r, (name, images) in enumerate(rows):
    for c in range(8):
        axes[r, c].imshow(images[c].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        axes[r, c].set_axis_off()
    axes[r, 0].set_title(name, loc="left", fontsize=8)
fig.tight_layout()
plt.show()
