"""
==================================================
Density contours of three 2-D models on two moons
==================================================

:class:`~skdeepclust.plotting.DensityContourDisplay` evaluates a model's
``score_samples`` (its log-density) on a grid and draws the contours over the data, for
any estimator of 2-D data: here a :class:`~skdeepclust.flow.NormalizingFlow`, a
Gaussian-visible :class:`~skdeepclust.neural_network.RBM` (a mixture of ``2**n``
Gaussians with tied shapes) and scikit-learn's
:class:`~sklearn.mixture.GaussianMixture`, all on the same standardised moons. It is the
counterpart of PyDeep's ``plot_2d_contour``.

The contours span 10 nats below each model's peak (``log_range``); the held-out mean
log-likelihood in each title says which model fits best. The last panel shows the flow's
density itself (``kind="density"``) rather than its logarithm: where the mass is, instead
of the shape of the tails.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from sklearn.datasets import make_moons
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import StandardScaler

from skdeepclust.flow import NormalizingFlow
from skdeepclust.neural_network import RBM
from skdeepclust.plotting import DensityContourDisplay

torch.set_num_threads(1)  # small models: one thread is fastest
X, _ = make_moons(1000, noise=0.05, random_state=0)
X_test, _ = make_moons(1000, noise=0.05, random_state=1)
scaler = StandardScaler().fit(X)
X, X_test = scaler.transform(X), scaler.transform(X_test)

models = {
    "NormalizingFlow": NormalizingFlow(n_stages=4, hidden_layer_sizes=(32, 32),
                                       learning_rate=3e-3, max_epochs=25, tol=None,
                                       device="cpu", random_state=0),
    "RBM": RBM(8, visible="gaussian", learn_sigma=True, max_epochs=60, batch_size=50,
               device="cpu", random_state=0),
    "GaussianMixture": GaussianMixture(8, random_state=0),
}
for name, model in models.items():
    model.fit(X)
    print(f"{name:<16} held-out mean log-likelihood {model.score(X_test):7.3f}")

# %%
# One panel per model, the same grid (the data's extent plus 10 %) for each
fig, axes = plt.subplots(2, 2, figsize=(11, 8.5), layout="constrained")
for ax, (name, model) in zip(axes.flat, models.items()):
    DensityContourDisplay.from_estimator(
        model, X_test, grid_resolution=100, ax=ax,
        title=f"{name}: log-density (held-out {model.score(X_test):.2f})")
DensityContourDisplay.from_estimator(models["NormalizingFlow"], X_test, kind="density",
                                     grid_resolution=100, ax=axes[1, 1])
plt.show()
