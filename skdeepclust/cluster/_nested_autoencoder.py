"""The autoencoder that DECClustering and DMAEClustering nest.

The default recipe (:func:`default_autoencoder`, sized to the data), the ``"auto"`` rule's
threshold, and the check of an autoencoder the user gives.
"""

from __future__ import annotations

import math

from .._training import nearest_power_of_two
from ..representation._autoencoder import AutoEncoder, auto_hidden_layer_sizes

__all__ = ["auto_batch_size", "checked_autoencoder", "default_autoencoder"]

#: The DEC/IDEC network widths d-500-500-2000-10 (Xie et al. 2016; Guo et al. 2017).
DEC_HIDDEN_LAYER_SIZES = (500, 500, 2000)
DEC_N_COMPONENTS = 10

#: ``autoencoder="auto"`` clusters data with fewer features than this directly (DEC on X).
AUTO_MIN_FEATURES = 32
#: Data sets with fewer rows than this get the small-data recipe (see default_autoencoder).
SMALL_DATA_ROWS = 5_000
#: Code size of the small-data recipe.
SMALL_N_COMPONENTS = 5
#: Optimisation steps of the default pretraining: the DEC network on MNIST-70k at batch
#: 256 gets DEC_PRETRAIN_STEPS / 274 = 26 epochs; the small-data network about
#: SMALL_PRETRAIN_STEPS (60 epochs of digits at batch 64).
DEC_PRETRAIN_STEPS = 7_000
SMALL_PRETRAIN_STEPS = 1_700
DEC_PRETRAIN_MAX_EPOCHS = 200


def auto_batch_size(n_samples: int) -> int:
    """The power of two nearest ``n_samples / 30``, between 32 and 256.

    About 30 minibatch steps per epoch on small data sets (64 on 8x8 digits), the DEC
    paper's 256 from about 6 000 rows on.
    """
    return nearest_power_of_two(n_samples / 30, 32, 256)


def default_autoencoder(n_samples: int, n_features: int, **kwargs) -> AutoEncoder:
    """The autoencoder DECClustering pretrains when ``autoencoder="auto"`` or ``None``.

    Two recipes, chosen by the number of rows:

    - **small data** (``n_samples < 5 000``, e.g. 8x8 digits, tabular sets): two ReLU
      layers of width ``min(512, max(64, 4 * n_features))`` (the
      :class:`~skdeepclust.representation.AutoEncoder` ``"auto"`` widths), a 5-unit code,
      Adam at learning rate 3e-3, batch :func:`auto_batch_size` (64 on digits) and about
      1 700 minibatch steps (60 epochs of digits). A narrow code and a high learning rate
      give the embedding in which k-means and DEC separate the classes best on little data
      (see "How the defaults were chosen" in the clustering user guide).
    - **large data**: the DEC network d-500-500-2000-10 (ReLU, linear code and output),
      Adam at learning rate 5e-4, batch 256, about 7 000 minibatch steps (26 epochs of
      MNIST-70k); the widths shrink with ``sqrt(n_samples / 16 000)`` below 16 000 rows.

    Both use the squared error, no dropout, and train a fixed number of epochs
    (``tol=None``). The code never has more units than ``n_features``.

    Parameters
    ----------
    n_samples, n_features : int
        Shape of the data to cluster.
    **kwargs
        Override any :class:`~skdeepclust.representation.AutoEncoder` parameter.

    Returns
    -------
    AutoEncoder
        Unfitted.
    """
    batch_size = auto_batch_size(n_samples)
    steps_per_epoch = math.ceil(max(n_samples, 1) / batch_size)
    if n_samples < SMALL_DATA_ROWS:
        hidden: tuple[int, ...] = auto_hidden_layer_sizes(n_features)
        n_components, learning_rate, steps = SMALL_N_COMPONENTS, 3e-3, SMALL_PRETRAIN_STEPS
    else:
        scale = min(1.0, max(0.25, math.sqrt(n_samples / 16_000)))
        hidden = tuple(max(16, int(round(w * scale))) for w in DEC_HIDDEN_LAYER_SIZES)
        n_components, learning_rate, steps = DEC_N_COMPONENTS, 5e-4, DEC_PRETRAIN_STEPS
    epochs = int(min(DEC_PRETRAIN_MAX_EPOCHS, max(1, round(steps / steps_per_epoch))))
    params = dict(
        n_components=min(n_components, n_features),
        hidden_layer_sizes=hidden,
        activation="relu",
        optimizer="adam",
        learning_rate=learning_rate,
        batch_size=batch_size,
        max_epochs=epochs,
        tol=None,
    )
    params.update(kwargs)
    return AutoEncoder(**params)


def checked_autoencoder(spec, n_features: int, *, accepted: str) -> AutoEncoder:
    """The user's ``autoencoder=``, unwrapped from a ``FrozenEstimator`` and checked.

    Raises a TypeError naming the ``accepted`` alternatives when it is no
    :class:`~skdeepclust.representation.AutoEncoder`, and a ValueError when a fitted one
    expects another number of features than ``n_features``.
    """
    ae = getattr(spec, "estimator", spec)  # unwrap sklearn.frozen.FrozenEstimator
    if not isinstance(ae, AutoEncoder):
        raise TypeError(
            f"autoencoder must be {accepted} or a skdeepclust.representation.AutoEncoder "
            f"(optionally wrapped in sklearn.frozen.FrozenEstimator); got {type(ae).__name__}."
        )
    if hasattr(ae, "module_") and ae.n_features_in_ != n_features:
        raise ValueError(
            f"X has {n_features} features, but the fitted autoencoder expects "
            f"{ae.n_features_in_} features."
        )
    return ae
