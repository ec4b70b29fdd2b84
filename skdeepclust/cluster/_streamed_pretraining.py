"""The warm-up of a deep clusterer's ``partial_fit``: streamed pretraining of its autoencoder.

A deep clusterer (DEC, DMAE) fitted by ``partial_fit`` over chunks first needs
what :meth:`fit` does before its clustering phase: an autoencoder pretrained on the whole
data and initial centres from the codes of the whole data. :class:`StreamedPretraining`
does both over the stream, one chunk per call, in three steps:

1. **first pass** (``"survey"`` for the default autoencoder, whose recipe depends on the
   number of rows): the chunks are counted (a fingerprint of each, so that a chunk coming
   back, in any order, marks the end of the pass: ``rows_per_pass``), and a uniform sample
   of at most :data:`PREVIEW_ROWS` rows is kept for provisional predictions. An
   autoencoder given unfitted trains already in this pass.
2. ``"pretraining"``: ``autoencoder.partial_fit`` on every chunk until it has seen
   ``max_epochs * rows_per_pass`` rows (the passes ``fit`` would pretrain it for).
3. ``"embedding"``: one more pass that embeds every chunk with the final autoencoder and
   keeps a uniform sample of at most ``max_codes`` codes (the sample the caller's k-means
   start then uses, as ``fit`` uses the codes of all rows).

A stream that never repeats a chunk ends its first pass after :data:`SURVEY_MAX_ROWS`
rows. The state pickles with its estimator. :class:`StreamWarmupMixin` is the estimators'
side: when a warm-up starts, and how ``partial_fit`` and ``fit`` treat one in progress.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable

import numpy as np
from sklearn.base import clone

from .._torch import seed_from
from ..representation._autoencoder import AutoEncoder
from ._nested_autoencoder import default_autoencoder

__all__ = ["PREVIEW_ROWS", "SURVEY_MAX_ROWS", "StreamWarmupMixin", "StreamedPretraining"]

#: A stream whose chunks never come back ends its first pass after this many rows.
SURVEY_MAX_ROWS = 2**16
#: Rows of the first pass kept (a uniform sample) for predictions during the warm-up.
PREVIEW_ROWS = 1024


def chunk_fingerprint(X) -> bytes:
    """A digest of a chunk: its shape and its values (all of them for numpy input, 16
    evenly spaced rows otherwise, so that a lazy array is not read whole)."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(repr(tuple(X.shape)).encode())
    if isinstance(X, np.ndarray):
        digest.update(np.ascontiguousarray(X).view(np.uint8).data)
    else:
        rows = np.unique(np.linspace(0, X.shape[0] - 1, 16).astype(int))
        digest.update(np.ascontiguousarray(np.asarray(X[rows])).view(np.uint8).data)
    return digest.digest()


class _Reservoir:
    """A uniform sample of at most ``capacity`` rows of everything added (algorithm R)."""

    def __init__(self, capacity: int, seed: int):
        self.capacity, self.seen, self.rows = capacity, 0, None
        self._rng = np.random.RandomState(seed)

    def add(self, block: np.ndarray) -> None:
        block = np.asarray(block)
        if self.rows is None:
            self.rows = np.empty((self.capacity, block.shape[1]), dtype=block.dtype)
        free = min(self.capacity - min(self.seen, self.capacity), block.shape[0])
        start = min(self.seen, self.capacity)
        self.rows[start:start + free] = block[:free]
        rest = block[free:]
        if rest.shape[0]:
            # row t (0-based, over all rows added) replaces a random slot w.p. capacity/(t+1)
            t = self.seen + free + np.arange(rest.shape[0])
            slots = (self._rng.random_sample(rest.shape[0]) * (t + 1)).astype(np.int64)
            keep = slots < self.capacity
            self.rows[slots[keep]] = rest[keep]  # later rows win a shared slot, as in R
        self.seen += block.shape[0]

    def sample(self) -> np.ndarray:
        return self.rows[:min(self.seen, self.capacity)]


class StreamedPretraining:
    """Warm-up state of a ``partial_fit`` stream (see the module docstring).

    Parameters
    ----------
    autoencoder : AutoEncoder or None
        The unfitted autoencoder to pretrain (its seed, device set); ``None`` to build it
        with ``make_autoencoder(rows_per_pass)`` once the first pass has been counted.
    make_autoencoder : callable
        ``rows_per_pass -> AutoEncoder`` (the default recipe for that many rows).
    max_codes : int
        Capacity of the sample of codes the embedding pass keeps.
    seed : int
        Seed of the two samples.
    """

    def __init__(self, autoencoder, make_autoencoder: Callable, max_codes: int, seed: int):
        self.autoencoder = autoencoder
        self._make_autoencoder = make_autoencoder
        self.phase = "survey" if autoencoder is None else "pretraining"
        self.rows_per_pass: int | None = None
        self.first_pass_rows = 0
        self.rows_pretrained = 0
        self.rows_embedded = 0
        self._fingerprints: set[bytes] | None = set()
        self.preview = _Reservoir(PREVIEW_ROWS, seed)
        self.codes = _Reservoir(max_codes, seed + 1)

    @property
    def pretraining_rows(self) -> int | None:
        """Rows the autoencoder trains on: ``max_epochs * rows_per_pass`` (once known)."""
        if self.rows_per_pass is None or self.autoencoder is None:
            return None
        return int(self.autoencoder.max_epochs) * self.rows_per_pass

    def _count(self, X) -> None:
        """First pass: fingerprint the chunk; a chunk seen before ends the pass."""
        if self._fingerprints is None:
            return
        fingerprint = chunk_fingerprint(X)
        if fingerprint in self._fingerprints:
            self.rows_per_pass = self.first_pass_rows
        else:
            self._fingerprints.add(fingerprint)
            self.first_pass_rows += X.shape[0]
            self.preview.add(X)
            if self.first_pass_rows >= SURVEY_MAX_ROWS:
                self.rows_per_pass = self.first_pass_rows
        if self.rows_per_pass is not None:
            self._fingerprints = None  # the pass is counted
            if self.autoencoder is None:
                self.autoencoder = self._make_autoencoder(self.rows_per_pass)
                self.phase = "pretraining"
                return True  # counted whole: this chunk starts the pretraining
        return False

    def step(self, X, sample_weight, embed: Callable) -> bool:
        """Process one chunk; returns True when the warm-up is over (the code sample is
        then complete). ``embed(autoencoder, X)`` returns the codes of ``X``."""
        started = self._count(X)
        if self.phase == "survey" and not started:
            return False  # counting: the default autoencoder's size is not known yet
        if self.phase == "pretraining":
            budget = self.pretraining_rows
            if budget is None or self.rows_pretrained < budget:
                kwargs = {} if sample_weight is None else {"sample_weight": sample_weight}
                self.autoencoder.partial_fit(X, **kwargs)
                self.rows_pretrained += X.shape[0]
                return False
            self.phase = "embedding"
        self.codes.add(embed(self.autoencoder, X))
        self.rows_embedded += X.shape[0]
        return self.rows_embedded >= self.rows_per_pass


def default_streamed_autoencoder(build, n_features: int, overrides: dict, rows_per_pass: int):
    """The default autoencoder ``build(n_samples, n_features)`` for a stream of
    ``rows_per_pass`` rows per pass, with the estimator's seed, device and verbosity (a
    module function: the warm-up pickles)."""
    return build(rows_per_pass, n_features).set_params(**overrides)


class StreamWarmupMixin:
    """The warm-up of ``partial_fit`` on the estimator's side (DEC, DMAE; before
    :class:`~skdeepclust.base.TorchEstimator` in the bases).

    ``partial_fit`` marks its call so that the estimator's ``_initialize`` can start a
    warm-up (:meth:`_begin_warmup`) instead of placing its centres; while one is in
    progress (``_warmup``) ``partial_fit`` continues it and ``fit`` starts anew. The
    estimator provides ``_streamed_autoencoder(X)``: the autoencoder to pretrain (see
    :meth:`_autoencoder_to_pretrain`), ``None`` for the default one, ``False`` for none.
    The default one is ``_default_autoencoder(n_samples, n_features)``, built once the
    first pass has counted the rows (the deep DMAE overrides it with its own code size).
    """

    _default_autoencoder = staticmethod(default_autoencoder)

    def _partial_fit(self, X, y=None, sample_weight=None):
        self._partial_call = True  # read by _initialize: a first call may warm up
        try:
            return super()._partial_fit(X, y, sample_weight)
        finally:
            self.__dict__.pop("_partial_call", None)

    def _resumes(self, partial: bool) -> bool:
        if "_warmup" in self.__dict__:  # partial_fit continues it; fit starts anew
            return partial
        return super()._resumes(partial)

    def _begin_warmup(self, X, max_codes: int) -> bool:
        """In a first ``partial_fit`` call with an autoencoder to pretrain, start the
        warm-up (``_warmup``, keeping a sample of at most ``max_codes`` codes) and return
        True; otherwise False (the caller initialises as :meth:`fit` does)."""
        if not self.__dict__.get("_partial_call"):
            return False
        ae = self._streamed_autoencoder(X)
        if ae is False:
            return False
        default = functools.partial(default_streamed_autoencoder, self._default_autoencoder,
                                    X.shape[1],
                                    self._nested_overrides(AutoEncoder(), seed_from(self._rng)))
        self._warmup = StreamedPretraining(ae, default, max_codes=max_codes,
                                           seed=seed_from(self._rng))
        return True

    def _autoencoder_to_pretrain(self, ae):
        """A clone of the unfitted autoencoder ``ae`` with the estimator's seed, device
        and verbosity, for the warm-up to pretrain."""
        ae = clone(ae)
        ae._validate_params()
        return ae.set_params(**self._nested_overrides(ae, seed_from(self._rng)))
