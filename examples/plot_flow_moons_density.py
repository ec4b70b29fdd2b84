"""
===============================================
Density estimation on two moons with a flow
===============================================

:class:`~skdeepclust.flow.NormalizingFlow` is a density estimator like
:class:`~sklearn.mixture.GaussianMixture` and :class:`~sklearn.neighbors.KernelDensity`:
``score_samples`` returns the exact log-density, ``sample`` draws new points. It learns an
invertible map from the data to a standard normal (affine coupling layers with
ActNorm and Householder reflections), so the density of a point is the normal density of
its code times the volume change of the map.

We fit it on two moons, draw the log-density contours next to a Gaussian mixture's, and
compare held-out log-likelihoods. The right-most panel shows the codes of the data: the
moons are mapped onto a round Gaussian blob.

Set ``FULL = True`` for longer training with early stopping.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_moons
from sklearn.mixture import GaussianMixture

from skdeepclust.flow import NormalizingFlow

FULL = False

X, _ = make_moons(2000, noise=0.05, random_state=0)
X_test, _ = make_moons(2000, noise=0.05, random_state=1)

flow = NormalizingFlow(
    n_stages=4,
    hidden_layer_sizes=(64, 64),
    learning_rate=3e-3,
    max_epochs=300 if FULL else 30,
    early_stopping=FULL,
    n_iter_no_change=20,
    tol=None if not FULL else 1e-4,
    device="cpu",
    random_state=0,
).fit(X)
gmm = GaussianMixture(n_components=8, random_state=0).fit(X)

print(f"held-out mean log-likelihood: flow {flow.score(X_test):.3f}, "
      f"GaussianMixture(8) {gmm.score(X_test):.3f}")
print(f"max |inverse_transform(transform(X)) - X| = "
      f"{np.abs(flow.inverse_transform(flow.transform(X)) - X).max():.1e}")

xx, yy = np.meshgrid(np.linspace(-1.5, 2.5, 200), np.linspace(-1.0, 1.5, 150))
grid = np.column_stack([xx.ravel(), yy.ravel()])
levels = np.linspace(-8, 2, 21)
samples = flow.sample(1000, random_state=1)

fig, axes = plt.subplots(2, 2, figsize=(11, 8))
axes = axes.ravel()
for ax, (name, model) in zip(axes[:2], [("NormalizingFlow", flow), ("GaussianMixture(8)", gmm)]):
    log_density = np.clip(model.score_samples(grid).reshape(xx.shape), levels[0], None)
    cs = ax.contourf(xx, yy, log_density, levels=levels, cmap="magma")
    ax.set(title=f"{name}: log-density\n(held-out mean {model.score(X_test):.2f})",
           aspect="equal")
fig.colorbar(cs, ax=axes[:2].tolist(), shrink=0.6, label="log-density")
axes[2].scatter(*X_test[:1000].T, s=3, c="tab:blue", alpha=0.3, label="held-out data")
axes[2].scatter(*samples.T, s=3, c="tab:orange", label="flow.sample(1000)")
axes[2].set(title="samples", aspect="equal", xlim=(-1.5, 2.5), ylim=(-1.0, 1.5))
axes[2].legend(fontsize=8, loc="lower left")
Z = flow.transform(X)
axes[3].scatter(*Z.T, s=3, c=np.arctan2(X[:, 1] - 0.25, X[:, 0] - 0.5), cmap="twilight")
axes[3].set(title="codes: flow.transform(X) ~ N(0, I)", aspect="equal", xlim=(-4, 4),
            ylim=(-4, 4))
plt.show()
