"""
==================================================================
Gaussian-binary RBM on a 2-D Laplace mixture, next to FastICA
==================================================================

Reproduces PyDeep's ``GRBM_2D_example``: two independent Laplace sources are mixed
linearly (:func:`~skdeepclust.datasets.make_laplace_mixture_2d`), whitened with
:class:`~skdeepclust.preprocessing.ZCA`, and modelled by a Gaussian-binary
:class:`~skdeepclust.neural_network.RBM` with 4 hidden units and learned standard
deviations. Its marginal p(x) is a mixture of 2**4 Gaussians; after training only the
"no unit on" and "one unit on" components keep weight, and the 4 weight vectors come in
pairs of opposite directions along the two sources, the directions ICA finds. The
Amari distance (:func:`~skdeepclust.metrics.amari_distance`) between the true mixing
matrix and a pair of weight vectors is close to 0 for the two good pairs.

PyDeep: exact test log-likelihood -2.7362 (ICA -2.7358), sigma about 0.74, P(h = 0)
about 0.84 and about 0.04 for each single-unit component. Set ``FULL = True`` for
PyDeep's 100,000 points (the default uses 40,000).
"""

import itertools

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.decomposition import FastICA

from skdeepclust.datasets import make_laplace_mixture_2d
from skdeepclust.metrics import amari_distance
from skdeepclust.neural_network import RBM
from skdeepclust.preprocessing import ZCA

FULL = False
N = 100000 if FULL else 40000
EPOCHS = 50

X, A = make_laplace_mixture_2d(N, mean=1.0, scale=1.0, random_state=42)
zca = ZCA().fit(X)
Xw = zca.transform(X)
A_white = zca.whitening_.T @ A  # the mixing directions in the whitened space
train, test = Xw[: N // 2], Xw[N // 2:]

rbm = RBM(4, visible="gaussian", learn_sigma=True, centered=False, init_sigma=1.0,
          method="cd", init_hidden_bias=-2.6, batch_size=1000, max_epochs=EPOCHS,
          learning_rate={"weight": 1.0, "visible_bias": 0.0, "hidden_bias": 1.0,
                         "sigma": 0.1},
          device="cpu", random_state=42).fit(train)

print(f"exact log Z {rbm.log_partition_:.5f}: LL train {rbm.score(train):.5f}, "
      f"test {rbm.score(test):.5f}")
for method in ("ais", "reverse_ais"):
    extra = {"X": train[:100]} if method == "reverse_ais" else {}
    log_z = rbm.log_partition(method, n_betas=1000, random_state=0, **extra)
    print(f"{method:>12} log Z {log_z:.5f}  bounds {np.round(rbm.log_partition_bounds_, 5)}")
rbm.log_partition("exact")
print("sigma:", np.round(rbm.sigma_, 3))

# %%
# The component weights P(h) of the Gaussian mixture p(x) = sum_h P(h) N(x | mean(h), sigma)
m = rbm.module_
with torch.no_grad():
    states = torch.cat([torch.zeros(1, 4), torch.eye(4)]).to(m.weight.dtype)
    p_h = torch.exp(m.log_unnormalized_hidden(states) - rbm.log_partition_).numpy()
print(f"P(h = 0) = {p_h[0]:.4f}; single units:", np.round(p_h[1:], 4),
      f"; all other states: {1 - p_h.sum():.4f}")

# %%
# ICA on the same whitened data, and the Amari distances
ica = FastICA(whiten=False, random_state=0, max_iter=1000).fit(train)
U = ica.components_
ica_ll = np.mean(np.log(0.5 / np.cosh(test @ U.T) ** 2).sum(1)) + np.log(abs(np.linalg.det(U)))
print(f"FastICA test LL {ica_ll:.5f}; Amari(true, ICA) "
      f"{amari_distance(A_white, np.linalg.inv(U)):.4f}")
W = rbm.components_.T
for i, j in itertools.combinations(range(4), 2):
    print(f"Amari(true, RBM weights {i + 1} and {j + 1}) = "
          f"{amari_distance(A_white, W[:, [i, j]]):.4f}")

# %%
# Density contours with the weight vectors (black) and the true mixing directions (red)
grid = np.linspace(-4, 4, 200)
gx, gy = np.meshgrid(grid, grid)
log_p = rbm.score_samples(np.c_[gx.ravel(), gy.ravel()]).reshape(gx.shape)
fig, axes = plt.subplots(1, 2, figsize=(10, 5))
for ax, values, title in [(axes[0], np.exp(log_p), "p(x)"), (axes[1], log_p, "log p(x)")]:
    ax.scatter(*test[:2000].T, s=1, c="0.7")
    ax.contour(gx, gy, values, levels=15)
    for w in W.T:
        ax.arrow(0, 0, *w, color="k", width=0.03)
    for a in A_white.T:
        a = 3 * a / np.linalg.norm(a)
        ax.plot([-a[0], a[0]], [-a[1], a[1]], "r--", lw=1)
    ax.set_title(title)
    ax.set_aspect("equal")
fig.tight_layout()
plt.show()
