"""The deep model's part of DMAEClustering.

The nested autoencoder (chosen, pretrained or copied), the codes the mixture sees (scaled
by ``normalize_codes``), the ``mixture_epochs`` on the pretrained codes, and the decoder's
reconstruction. The shallow model (no ``autoencoder_``) passes through these methods
unchanged.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from .._optim import make_optimizer
from .._training import train_loop
from ..representation._autoencoder import AutoEncoder
from ._dmae_init import spread
from ._dmae_learning_rates import head_param_groups, learning_rates
from ._nested_autoencoder import (
    AUTO_MIN_FEATURES,
    SMALL_DATA_ROWS,
    SMALL_N_COMPONENTS,
    checked_autoencoder,
    default_autoencoder,
)

#: ``autoencoder="auto"`` on small data: one code unit per this many input features, at
#: least the small-data recipe's 5 and at most ``AUTO_CODE_MAX_UNITS``. 8x8 digits keep
#: the 5-unit code; 384-D embeddings get 16 units (their 5-unit codes kept too little of
#: the cluster structure: KMeans on them 0.89-0.92 accuracy against 0.957 on X, 16
#: units 0.957-0.963).
AUTO_CODE_FEATURES_PER_UNIT = 24
AUTO_CODE_MAX_UNITS = 16


def dmae_default_autoencoder(n_samples: int, n_features: int) -> AutoEncoder:
    """The autoencoder of the deep DMAE's ``autoencoder="auto"``: DECClustering's
    :func:`~skdeepclust.cluster._nested_autoencoder.default_autoencoder`, whose small-data
    recipe (fewer than 5 000 rows) gets ``ceil(n_features / 24)`` code units, between 5
    and 16, instead of 5."""
    if n_samples >= SMALL_DATA_ROWS:
        return default_autoencoder(n_samples, n_features)
    units = math.ceil(n_features / AUTO_CODE_FEATURES_PER_UNIT)
    units = min(AUTO_CODE_MAX_UNITS, max(SMALL_N_COMPONENTS, units))
    return default_autoencoder(n_samples, n_features, n_components=min(units, n_features))


class DeepModelMixin:
    """DMAEClustering's methods that serve the deep model (see the module docstring)."""

    #: ``partial_fit``'s warm-up builds the code size of ``fit`` (StreamWarmupMixin).
    _default_autoencoder = staticmethod(dmae_default_autoencoder)

    def _autoencoder_spec(self, shape: tuple[int, int] | None = None) -> AutoEncoder | None:
        """The nested autoencoder, unwrapped from a ``FrozenEstimator``.

        ``"auto"`` follows DECClustering's rule for data of ``shape``
        ``(n_samples, n_features)``: None (the shallow model) below 32 features, else
        :func:`dmae_default_autoencoder`.
        """
        if self.autoencoder is None:
            return None
        if isinstance(self.autoencoder, str):  # "auto": DEC's rule, DMAE's code size
            if shape[1] < AUTO_MIN_FEATURES:
                return None
            return dmae_default_autoencoder(*shape)
        return checked_autoencoder(self.autoencoder, shape[1], accepted="'auto', None")

    def _fit_mixture(self, H_t: Tensor) -> list:
        """Deep model: train the mixture alone on the (scaled) pretrained codes."""
        head = self.module_
        rate = self.mixture_learning_rate
        optimizer = make_optimizer(
            self.optimizer,
            head_param_groups(head, *learning_rates("auto", rate, self._data_spread)),
            learning_rate=rate,
        )
        history = train_loop(
            lambda idx: head.loss(H_t[idx]).mean(),
            n_samples=H_t.shape[0],
            batch_size=self.batch_size,
            max_epochs=self.mixture_epochs,
            sample_weight=self._sample_weight,
            generator=self._generator,
            optimizer=optimizer,
            phase="DMAE mixture fit on the pretrained codes",
            verbose=self.verbose,
            tol=None,
            suggestion="Try a smaller mixture_learning_rate or alpha.",
        )
        return list(history.loss_curve)

    def _prepare_autoencoder(self, X: np.ndarray) -> AutoEncoder:
        """Copy a fitted autoencoder, or clone and pretrain an unfitted one; on this
        fit's device and dtype (joint training)."""
        given = self._autoencoder_spec(X.shape)
        fitted = hasattr(given, "module_")
        # seed=None: no draw for a fitted one, the mixture starts as the shallow model's
        ae = self._fit_nested(given, X, seed=None, sample_weight=self._sample_weight)
        if fitted:
            ae.loss_curve_ = []
        self._adopt_nested(ae)
        return ae

    def _embed_tensor(self, X_t: Tensor) -> Tensor:
        module = self.autoencoder_.module_
        module.eval()
        with torch.no_grad():
            codes = self._batched(module.encode, X_t)
        module.train()
        return codes

    def _embed(self, x: Tensor) -> Tensor:
        if not hasattr(self, "autoencoder_"):
            return x
        return self.autoencoder_.module_.encode(x)

    def _head_input(self, h: Tensor, training: bool = False) -> tuple[Tensor, Tensor | float]:
        """The codes the mixture sees and the scale they were divided by."""
        if not getattr(self, "_normalized", False):
            return h, 1.0
        scale = spread(h) if training and h.shape[0] > 1 else self.code_scale_
        return h / scale, scale

    def _decode(self, h: Tensor, out, scale: Tensor | float = 1.0) -> Tensor:
        """The deep model's reconstruction, from the soft centroid or from the code.

        ``h`` is the code itself; the soft centroid lives in the scaled code space and is
        multiplied back by ``scale``.
        """
        z = out.centroids * scale if self.reconstruct_from == "centroid" else h
        return self.autoencoder_.module_.decode(z)
