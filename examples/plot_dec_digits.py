"""
=============================================
Deep embedded clustering (DEC) on the digits
=============================================

:class:`~skdeepclust.cluster.DECClustering` pretrains an autoencoder, puts k-means centres
in its embedding, then sharpens the clusters by fine-tuning the encoder and the centres
against DEC's self-training target (Xie et al., 2016). We compare it with k-means on the
pixels and on the pretrained embedding, and with IDEC, which keeps the decoder's
reconstruction loss during clustering (Guo et al., 2017).

The pretrained autoencoder is fitted once and passed to both models: a fitted
``autoencoder=`` skips pretraining and is never modified.

Set ``FULL = True`` for more seeds.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.metrics import normalized_mutual_info_score

from skdeepclust.cluster import DECClustering
from skdeepclust.metrics import cluster_accuracy
from skdeepclust.representation import AutoEncoder

FULL = False
SEEDS = [0, 1, 2, 3, 4] if FULL else [0]

digits = load_digits()
X = (digits.data / 16).astype(np.float32)
y = digits.target


def report(name, labels):
    acc, nmi = cluster_accuracy(y, labels), normalized_mutual_info_score(y, labels)
    print(f"{name:28s} ACC {acc:.3f}  NMI {nmi:.3f}")
    return acc


# %%
# Pretrain, then cluster
# ----------------------
# A small autoencoder 64-256-256-5 (and back) is enough for 8x8 images. The clustering
# phase uses Adam at 1e-3 with minibatches of 64. DEC refreshes its target distribution on
# the whole data set every half epoch and stops once fewer than 0.1% of the labels change
# between two refreshes; IDEC's "auto" values on small data take each minibatch's own
# target, a heavier-tailed Student's t kernel (``alpha`` 0.1) and stop below 0.2%.
for seed in SEEDS:
    print(f"seed {seed}")
    report("KMeans on pixels", KMeans(10, n_init=20, random_state=seed).fit_predict(X))
    ae = AutoEncoder(n_components=5, hidden_layer_sizes=(256, 256), max_epochs=60,
                     batch_size=64, tol=None, random_state=seed).fit(X)
    Z_pre = ae.transform(X)
    report("KMeans on the embedding", KMeans(10, n_init=20, random_state=seed).fit_predict(Z_pre))
    common = dict(n_clusters=10, autoencoder=ae, optimizer="adam", learning_rate=1e-3,
                  batch_size=64, random_state=seed)
    dec = DECClustering(**common).fit(X)
    report(f"DEC ({dec.n_iter_} epochs)", dec.labels_)
    idec = DECClustering(**common, reconstruction_weight=1.0).fit(X)
    report(f"IDEC ({idec.n_iter_} epochs)", idec.labels_)

# %%
# The embedding before and after DEC
# ----------------------------------
# A 2-D PCA of the 5-D embedding, coloured by the true digit, with the cluster centres as
# black crosses. DEC pulls each cluster towards its centre: the clouds get tighter and the
# soft assignments more confident.
fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
for ax, Z, centers, title in [
    (axes[0], Z_pre, None, "pretrained embedding"),
    (axes[1], dec.transform(X), dec.cluster_centers_, "after DEC"),
]:
    pca = PCA(2).fit(Z)
    P = pca.transform(Z)
    sc = ax.scatter(P[:, 0], P[:, 1], c=y, cmap="tab10", s=4)
    if centers is not None:
        C = pca.transform(centers)
        ax.scatter(C[:, 0], C[:, 1], c="k", marker="x", s=80)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
fig.colorbar(sc, ax=axes[1], label="true digit")
confidence = dec.predict_proba(X).max(axis=1)
axes[2].hist(confidence, bins=30, color="C0")
axes[2].set_title("DEC confidence max_j q_ij")
axes[2].set_xlabel("max soft assignment")
fig.tight_layout()
plt.show()
