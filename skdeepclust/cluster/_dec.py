"""DECClustering: deep embedded clustering (DEC) and its improved variant (IDEC)."""

from __future__ import annotations

import copy
import math
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import (
    ClassNamePrefixFeaturesOutMixin,
    ClusterMixin,
    TransformerMixin,
)
from sklearn.cluster import KMeans
from sklearn.utils.validation import check_array
from torch import Tensor

from .._data import StreamedRows
from .._distributed import world
from .._optim import OPTIMIZERS, make_optimizer
from .._torch import seed_from
from .._training import train_loop, warn_partition, warn_unconverged
from ..base import PartialFitMixin, TorchEstimator
from ..nn.dec import DECClusterHead, DECNetwork, dec_kl_divergence
from ..nn.dec import target_distribution as _target_distribution
from ..representation._autoencoder_losses import LOSSES
from ..utils._sklearn_compat import (
    HasMethods,
    Interval,
    StrOptions,
    check_is_fitted,
)
from ._nested_autoencoder import (
    AUTO_MIN_FEATURES,
    SMALL_DATA_ROWS,
    auto_batch_size,
    checked_autoencoder,
    default_autoencoder,
)
from ._restarts import AUTO_RESTARTS, MedoidRestartsMixin
from ._streamed_pretraining import StreamedPretraining, StreamWarmupMixin

__all__ = ["DECClustering"]

#: ``n_restarts="auto"`` restarts on data with at most this many values (n_samples x
#: n_features; 8x8 digits: 115 008), where one fit of the small-data recipe takes seconds.
RESTARTS_MAX_VALUES = 2**18

#: ``embedding_scale="auto"`` on the code of the small-data autoencoder that DEC pretrains
#: by default (fewer than 5 000 rows); 1 elsewhere.
SMALL_CODE_EMBEDDING_SCALE = 2.0

#: ``learning_rate="auto"`` of IDEC's Adam (a reconstruction term) on fewer than 5 000
#: rows, with ``update_interval="auto"``'s minibatch targets there; 1e-3 for DEC's Adam.
SMALL_IDEC_LEARNING_RATE = 3e-3

#: ``alpha="auto"``: the Student's t degrees of freedom of IDEC (a reconstruction term)
#: on fewer than 5 000 rows, whose heavier tails cluster the digits more accurately than
#: the paper's 1 in paired fits; 1 (the paper's) for DEC and on larger data.
SMALL_IDEC_ALPHA = 0.1

#: ``tol="auto"`` of that small-data IDEC recipe: its heavy-tailed kernel leaves a few
#: boundary rows flipping between epochs, which a tol of 1e-3 (DEC's) waits out for 1.5
#: times the epochs (at times up to ``max_epochs``) for no measurable gain; 1e-3 elsewhere.
SMALL_IDEC_TOL = 2e-3

#: The initial centres and the embedding scale come from at most this many rows: a
#: uniform random sample of a larger data set (whose embedding would otherwise be held
#: whole for k-means).
INIT_MAX_ROWS = 2**19

#: Rows per chunk (at most) of the inference passes over streamed rows. Matrix products
#: run at full speed on this many rows, and each chunk's temporaries stay a few MiB: the
#: memory one pass frees is reused by the next instead of new memory being mapped.
STREAM_CHUNK_ROWS = 8192

#: Rows of ``Z`` per block in the passes over the embedding that must not build
#: ``n_samples``-sized temporaries (nearest centres, column spreads).
_BLOCK_ROWS = 65_536


def _nearest(Z: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """The nearest centre of each row of ``Z``, a block of rows at a time (each row on
    its own: the same labels as one pass, without its ``n x K x d`` temporary)."""
    labels = np.empty(Z.shape[0], dtype=np.intp)
    for s in range(0, Z.shape[0], _BLOCK_ROWS):
        block = Z[s:s + _BLOCK_ROWS]
        labels[s:s + _BLOCK_ROWS] = ((block[:, None, :] - centers[None]) ** 2).sum(-1).argmin(1)
    return labels


def _column_std(Z: np.ndarray) -> np.ndarray:
    """``np.std(Z, axis=0, dtype=np.float64)`` bit for bit, without its two
    ``n_samples x d`` float64 temporaries.

    numpy sums a C-ordered array along axis 0 row after row; this sums the same way, a
    block of rows at a time, each block's first row carrying the running total.
    """
    n = Z.shape[0]

    def running_sum(transform) -> np.ndarray:
        total = np.zeros(Z.shape[1])
        for s in range(0, n, _BLOCK_ROWS):
            block = transform(Z[s:s + _BLOCK_ROWS])
            block[0] += total
            total = np.add.reduce(block, axis=0)
        return total

    mean = running_sum(lambda b: b.astype(np.float64)) / n

    def squared_deviation(block: np.ndarray) -> np.ndarray:
        x = np.subtract(block, mean)  # float64
        return np.square(x, out=x)

    return np.sqrt(running_sum(squared_deviation) / n)


def _kmeans_init(Z: np.ndarray, n_clusters: int, n_init: int, seed: int,
                 sample_weight: np.ndarray | None = None):
    # copy_x=False: k-means centres Z in place (and restores it up to rounding) instead
    # of copying it; the centres and labels are the same.
    km = KMeans(n_clusters=n_clusters, n_init=n_init, random_state=seed, copy_x=False)
    km.fit(Z, sample_weight=sample_weight)
    return km.cluster_centers_, km.labels_


def _random_init(Z: np.ndarray, n_clusters: int, n_init: int, seed: int,
                 sample_weight: np.ndarray | None = None):
    p = None if sample_weight is None else sample_weight / sample_weight.sum()
    if p is not None and np.count_nonzero(p) < n_clusters:
        p = None  # too few weighted rows to draw distinct centres from
    rows = np.random.RandomState(seed).choice(Z.shape[0], n_clusters, replace=False, p=p)
    centers = Z[rows]
    return centers, _nearest(Z, centers)


def _codes(autoencoder, X) -> np.ndarray:
    """The codes of ``X`` (a chunk, or the warm-up's sample of rows) as numpy."""
    return np.asarray(autoencoder.transform(X))


#: Centre initialisations: name -> f(embedding, n_clusters, n_init, seed, sample_weight)
#: -> (centres, labels). They may modify the embedding (k-means centres it in place).
INITS = {"kmeans": _kmeans_init, "random": _random_init}


class DECClustering(MedoidRestartsMixin, StreamWarmupMixin, PartialFitMixin,
                    ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin,
                    TorchEstimator):
    r"""Deep embedded clustering (DEC) and improved DEC (IDEC).

    DEC pretrains an autoencoder, places cluster centres in its embedding with k-means,
    then fine-tunes the encoder and the centres together by minimising
    :math:`L_c = \mathrm{KL}(P \| Q)` between the Student's t soft assignments
    :math:`Q` and a sharpened target :math:`P` derived from them. Following the paper,
    :math:`P` is recomputed on the **whole** data set every ``update_interval`` minibatch
    steps, and training stops once fewer than a fraction ``tol`` of the labels change
    between two updates.

    IDEC (``reconstruction_weight > 0``) keeps the decoder and minimises
    :math:`L = \lambda L_r + \gamma L_c` with the reconstruction loss :math:`L_r` of the
    autoencoder, :math:`\lambda` = ``reconstruction_weight`` and :math:`\gamma` =
    ``clustering_weight`` (by default the paper's 0.1), which preserves the local structure
    of the embedding. Plain DEC drops the decoder.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters. As with KMeans, 1 is accepted (every sample in one cluster).
    autoencoder : "auto", None, "passthrough" or AutoEncoder, default="auto"
        The embedding network.

        - ``"auto"``: ``"passthrough"`` for data with fewer than 32 features (tabular
          data, where a 5-unit code compresses little and the autoencoder only adds
          seed-to-seed variance: DEC on the standardised features starts from, and stays
          at least as good as, k-means), ``None`` otherwise. IDEC too clusters the
          features themselves there: their identity "autoencoder" reconstructs them
          exactly, so the reconstruction term is zero and IDEC is DEC with IDEC's
          optimizer. Resolved in ``fit`` into ``autoencoder_`` (``None`` when passed
          through).
        - ``None``: pretrain
          :func:`~skdeepclust.cluster._nested_autoencoder.default_autoencoder`: the DEC network
          d-500-500-2000-10 from 5 000 rows on, a d-w-w-5 network (``w`` four times the
          features, 64 to 512) trained at a higher learning rate on smaller data.
        - an unfitted :class:`~skdeepclust.representation.AutoEncoder`: a clone of it is
          pretrained on ``X`` first.
        - a fitted ``AutoEncoder`` (wrap it in :class:`sklearn.frozen.FrozenEstimator` to
          keep it fitted through :func:`~sklearn.base.clone` and grid searches): pretraining
          is skipped and its weights are copied, never modified.
        - ``"passthrough"``: cluster ``X`` itself (the embedding is the identity), as the
          DEC head does on precomputed embeddings.
    alpha : float or "auto", default="auto"
        Degrees of freedom of the Student's t kernel of the soft assignments. A smaller
        value gives the kernel heavier tails: points far from a centre keep more of its
        pull. ``"auto"`` is 0.1 for IDEC (``reconstruction_weight > 0`` with a decoder)
        on fewer than 5 000 rows, where it clusters more accurately than 1 in paired fits
        (with ``tol="auto"``'s 2e-3 there, at about 1.6 times the clustering epochs; see
        the user guide), and the paper's 1 elsewhere: DEC (no better at 0.5 on the
        digits, where ``embedding_scale`` sharpens its kernel instead) and larger data
        (not measured).
    embedding_scale : float, "auto" or None, default="auto"
        The Student's t kernel sees the embedding multiplied by a constant fixed before the
        clustering phase, so that the initial embedding's per-dimension standard deviation
        averages ``embedding_scale``. This makes the soft assignments independent of the
        arbitrary scale an autoencoder happens to learn (an embedding that is too
        contracted makes every ``q_ij`` nearly uniform, and DEC then merges clusters).
        A larger value makes the kernel narrower relative to the clusters, so the soft
        assignments start sharper. ``"auto"`` is 2 for DEC on the 5-unit code of the
        small-data autoencoder it pretrains by default (``autoencoder="auto"`` or ``None``
        on fewer than 5 000 rows), where it lifts the accuracy of a fit at no cost, and 1
        elsewhere: IDEC (which gained nothing from 2 there), passed-through features
        (where 2 moves DEC back towards k-means' partition), the large-data network and
        an autoencoder of your own. Resolved in ``fit`` (see "How the defaults were
        chosen" in the user guide). ``None`` uses the raw embedding, as the paper does.
        ``transform`` and ``cluster_centers_`` stay in the unscaled embedding.
    init : {"kmeans", "random"} or array-like, default="kmeans"
        Initial centres in the embedding: k-means with ``n_init`` restarts (DEC's choice),
        ``n_clusters`` distinct embedded points drawn at random, or given centres of shape
        ``(n_clusters, n_components)``. On more than 524 288 rows (``INIT_MAX_ROWS``) the
        centres and ``embedding_scale``'s spread come from a uniform random sample of
        that many rows, so that the start's memory stops growing with the data.
    n_init : int, default=20
        Restarts of the initial k-means (scikit-learn's own default is a single run).
    n_restarts : int or "auto", default="auto"
        Number of complete fits (pretraining, k-means start and clustering phase), each
        from its own seed; the model kept is the *medoid*, the fit whose labels agree
        best with the other fits' (highest mean adjusted Rand index, in
        ``restart_agreement_``). On small data the accuracy depends mostly on the
        pretraining seed, and agreement between independent fits sorts out the poor
        ones where no criterion of one fit can. ``"auto"`` is 5 when the fit pretrains
        its own default autoencoder on data of fewer than 5 000 rows and at most 2**18
        values (``n_samples * n_features``; 8x8 digits: 115 008), where one fit takes a
        few seconds, and 1 otherwise (larger data, where one pretraining costs minutes
        and varies less; a given or passed-through embedding). Costs ``n_restarts``
        times one fit. More fits than five hardly move the kept fit's accuracy on
        small data: the medoid is as good as the typical fit, so a better recipe for
        one fit (such as ``embedding_scale="auto"``) lifts it, more fits do not.
    update_interval : int, "auto", "epoch" or "batch", default="auto"
        Minibatch steps between two refreshes of the target :math:`P` on the full data.
        ``"auto"`` is ``"epoch"`` for DEC on 5 000 rows or more (on MNIST-10k as accurate
        as half-epoch refreshes, at 0.6x their cost per clustering epoch), ``"batch"`` for
        IDEC (with an autoencoder to reconstruct through) on fewer than 5 000 rows (with
        ``learning_rate="auto"``'s 3e-3 there, more accurate than half-epoch targets in
        paired fits; see the user guide), and about half an epoch,
        ``ceil(n_samples / batch_size) / 2`` steps (140 on MNIST, as DEC used),
        otherwise. ``"epoch"`` refreshes :math:`P` once an epoch from the soft
        assignments the epoch's minibatch steps computed anyway (each row's as the
        network stood when the row was visited): the full-data target without a pass
        over the data after the first, so a clustering epoch costs what clustpy's does.
        It needs every row once an epoch in one process; with ``sample_weight``, streamed
        rows or a process group it refreshes on the full data once an epoch instead.
        ``"batch"`` computes :math:`P` from each minibatch's own
        soft assignments instead (as the pyagc head and clustpy do): no pass over the full
        data, so the clustering phase is markedly cheaper on large data, at about the same
        accuracy; choose it when the clustering phase dominates the fit time.
        A fit on streamed rows (a memory map, dask, h5py, zarr) keeps no
        ``n_samples x n_clusters`` target: each refresh stores a frozen copy of the
        network and the soft cluster frequencies, and each step recomputes its
        minibatch's rows of :math:`P` from that copy (the same target up to rounding, for
        one more forward pass of the encoder per step).
    tol : float or "auto", default="auto"
        Stop when the fraction of labels that changed between two target updates is below
        ``tol`` (checked at each update; with ``update_interval="batch"`` or ``"epoch"``,
        once per epoch, on the labels of the epoch's minibatches). ``0`` runs all
        ``max_epochs``. ``"auto"`` is 2e-3 for IDEC with an autoencoder below 5 000 rows
        (the recipe of ``alpha="auto"``, whose heavy tails keep a few boundary rows
        flipping between epochs) and 1e-3 otherwise.
    reconstruction_weight : float, default=0.0
        :math:`\lambda`; ``> 0`` gives IDEC.
    clustering_weight : float or "auto", default="auto"
        :math:`\gamma`; ``"auto"`` is 1 for DEC and 0.1 for IDEC (the IDEC paper's value).
    optimizer : {"auto", "sgd", "adam", "adamw", "rmsprop"}, default="auto"
        Optimizer of the clustering phase (the pretraining one is the autoencoder's).
        ``"auto"`` is the DEC paper's SGD (with ``momentum``) for DEC and Adam for IDEC,
        the pairs that clustered MNIST best from the same pretrained autoencoders (see
        the :ref:`user guide <clustering>`).
    learning_rate : float or "auto", default="auto"
        Learning rate of the clustering phase; ``"auto"`` is 0.01 for SGD (DEC's) and, for
        the other optimizers, 1e-4 from 5 000 rows on and 1e-3 below (with the small-data
        autoencoder, IDEC at 1e-4 hardly leaves its k-means start), 3e-3 for IDEC's Adam
        with an autoencoder below 5 000 rows (its minibatch targets, see
        ``update_interval``).
    momentum : float, default=0.9
        Momentum of "sgd" and "rmsprop".
    batch_size : int or "auto", default="auto"
        Minibatch size of the clustering phase. ``"auto"`` is the power of two nearest
        ``n_samples / 30`` between 32 and 256
        (:func:`~skdeepclust.cluster._nested_autoencoder.auto_batch_size`): 64 on 8x8 digits,
        the paper's 256 from about 6 000 rows on. Small data sets need the smaller batch
        for enough target-sharpening steps per epoch.
    max_epochs : int, default=100
        Cap on the epochs of the clustering phase (0 keeps the initial centres). DEC
        often reaches its accuracy before the ``tol`` rule fires; a lower cap (e.g. 15 on
        MNIST-sized data) bounds the fit time at little cost.
    warm_start : bool, default=False
        When True, ``fit`` on a fitted model continues training it for ``max_epochs``
        more epochs from the fitted parameters instead of starting anew; ``n_iter_``
        and ``loss_curve_`` accumulate (as in scikit-learn's ``MLPRegressor``). ``X``
        must have the fitted number of features. The clustering phase carries on:
        no pretraining, no new centres.
    device : str or torch.device, default="auto"
        "auto" (a GPU when there is one), "cpu", "cuda", "cuda:N", "mps". A nested
        autoencoder left at ``device="auto"`` follows this one.
    random_state : int, RandomState instance or None, default=None
        Controls the pretraining (when the nested autoencoder has no ``random_state`` of
        its own), the initial k-means, the minibatch order and the seeds of the
        ``n_restarts`` fits.
    verbose : int, default=0
        1 shows a progress bar per phase.

    Attributes
    ----------
    autoencoder_ : AutoEncoder or None
        The pretrained autoencoder, as it was before the clustering phase (reuse it as
        ``autoencoder=`` to skip pretraining); ``None`` with ``"passthrough"``.
    module_ : skdeepclust.nn.dec.DECNetwork
        The fine-tuned encoder, the cluster head and (IDEC) the decoder.
    cluster_centers_ : ndarray of shape (n_clusters, n_components)
        Centres in the embedding.
    labels_ : ndarray of shape (n_samples,)
        Cluster of each training sample (equal to ``predict(X)``).
    n_iter_ : int
        Epochs of the clustering phase run (a stopped epoch counts as one).
    converged_ : bool
        Whether the ``tol`` rule stopped training.
    stream_phase_ : str
        Only after :meth:`partial_fit` with an autoencoder to pretrain: ``"survey"``,
        ``"pretraining"``, ``"embedding"`` (its warm-up) or ``"clustering"``.
    n_restarts_ : int
        Complete fits run (``n_restarts`` resolved; fewer when Ctrl-C stopped them).
    restart_agreement_ : ndarray of float, one per fit
        Each fit's mean adjusted Rand index with the other fits' labels; the kept fit
        has the largest. Values well below 1 say that the clustering of this data is
        unstable across seeds.
    loss_curve_ : list of float
        Clustering-phase loss per epoch.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features,)
        Only when X has string feature names.

    See Also
    --------
    sklearn.cluster.KMeans : the clustering DEC starts from.
    skdeepclust.nn.dec.DECClusterHead : the head alone, for any embedding.

    Notes
    -----
    DEC's outcome depends mostly on the pretraining (Guo et al. 2017; the seeds of the
    DEC-keras reference differ widely in accuracy on MNIST): compare seeds, not single runs.
    Standardize or scale the input (e.g. to [0, 1]) before fitting.

    References
    ----------
    .. [1] J. Xie, R. Girshick and A. Farhadi. "Unsupervised Deep Embedding for Clustering
       Analysis". ICML 2016. https://arxiv.org/abs/1511.06335
    .. [2] X. Guo, L. Gao, X. Liu and J. Yin. "Improved Deep Embedded Clustering with Local
       Structure Preservation". IJCAI 2017.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from skdeepclust.cluster import DECClustering
    >>> from skdeepclust.representation import AutoEncoder
    >>> X, y = make_blobs(300, n_features=8, centers=3, random_state=0)
    >>> ae = AutoEncoder(n_components=2, hidden_layer_sizes=(16,), max_epochs=20,
    ...                  tol=None, batch_size=32, random_state=0)
    >>> dec = DECClustering(n_clusters=3, autoencoder=ae, max_epochs=5,
    ...                     random_state=0).fit(X)
    >>> dec.predict_proba(X[:2]).shape
    (2, 3)
    >>> dec.transform(X[:2]).shape
    (2, 2)
    """

    _parameter_constraints: dict = {
        **TorchEstimator._parameter_constraints,
        "warm_start": ["boolean"],
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "autoencoder": [None, StrOptions({"auto", "passthrough"}),
                        HasMethods(["fit", "transform"])],
        "alpha": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "embedding_scale": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"}),
                            None],
        "init": [StrOptions(set(INITS)), "array-like"],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        **MedoidRestartsMixin._restart_constraints,
        "update_interval": [Interval(Integral, 1, None, closed="left"),
                            StrOptions({"auto", "batch", "epoch"})],
        "tol": [Interval(Real, 0, 1, closed="both"), StrOptions({"auto"})],
        "reconstruction_weight": [Interval(Real, 0, None, closed="left")],
        "clustering_weight": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "optimizer": [StrOptions(set(OPTIMIZERS) | {"auto"})],
        "learning_rate": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
    }

    _tour = {"params": {"n_clusters": 10}, "data": "unit"}

    def __init__(
        self,
        n_clusters=8,
        *,
        autoencoder="auto",
        alpha="auto",
        embedding_scale="auto",
        init="kmeans",
        n_init=20,
        n_restarts="auto",
        update_interval="auto",
        tol="auto",
        reconstruction_weight=0.0,
        clustering_weight="auto",
        optimizer="auto",
        learning_rate="auto",
        momentum=0.9,
        batch_size="auto",
        max_epochs=100,
        warm_start=False,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.n_clusters = n_clusters
        self.autoencoder = autoencoder
        self.alpha = alpha
        self.embedding_scale = embedding_scale
        self.init = init
        self.n_init = n_init
        self.n_restarts = n_restarts
        self.update_interval = update_interval
        self.tol = tol
        self.reconstruction_weight = reconstruction_weight
        self.clustering_weight = clustering_weight
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.warm_start = warm_start
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ checks
    def _auto_restarts(self, n_samples: int, n_features: int) -> int:
        default = self.autoencoder is None or (
            self.autoencoder == "auto" and n_features >= AUTO_MIN_FEATURES)
        cheap = n_samples < SMALL_DATA_ROWS and n_samples * n_features <= RESTARTS_MAX_VALUES
        return AUTO_RESTARTS if default and cheap else 1

    def _check_params_vs_input(self, X: np.ndarray) -> None:
        n_samples = X.shape[0]
        if n_samples < self.n_clusters:
            raise ValueError(f"n_samples={n_samples} should be >= n_clusters={self.n_clusters}.")
        if self.autoencoder == "passthrough" and self.reconstruction_weight > 0:
            raise ValueError(
                "reconstruction_weight > 0 (IDEC) needs a decoder; it cannot be used with "
                "autoencoder='passthrough'."
            )

    def _resolve_autoencoder(self, X: np.ndarray):
        """Pretrain or copy the autoencoder; returns ``(encoder, decoder)`` modules."""
        spec = self.autoencoder
        if isinstance(spec, str) and spec == "auto":
            few = X.shape[1] < AUTO_MIN_FEATURES
            spec = "passthrough" if few else None
        self._resolve_embedding_scale(spec is None, X.shape[0])
        if isinstance(spec, str):  # "passthrough"
            self.autoencoder_ = None
            return None, None
        if spec is None:
            ae = default_autoencoder(X.shape[0], X.shape[1])
        else:
            ae = checked_autoencoder(spec, X.shape[1], accepted="'auto', None, 'passthrough'")
        self.autoencoder_ = self._fit_nested(ae, X, seed_from(self._rng),
                                             sample_weight=self._sample_weight)
        # One deep copy of the whole network keeps tied weights tied.
        network = copy.deepcopy(self.autoencoder_.module_).to(self._device, self._torch_dtype)
        decoder = network.decoder if self.reconstruction_weight > 0 else None
        return network.encoder, decoder

    def _resolve_embedding_scale(self, default_autoencoder: bool, n_samples: int) -> None:
        """``embedding_scale="auto"``: 2 for DEC on the small-data default autoencoder's
        code (fewer than 5 000 rows), 1 elsewhere."""
        small_default = (default_autoencoder and n_samples < SMALL_DATA_ROWS
                         and self.reconstruction_weight == 0)
        self._embedding_scale_target = self._resolved(
            "embedding_scale", SMALL_CODE_EMBEDDING_SCALE if small_default else 1.0)

    def _initial_centers(self, Z: np.ndarray, sample_weight: np.ndarray | None):
        seed = seed_from(self._rng)
        if isinstance(self.init, str):
            return INITS[self.init](Z, self.n_clusters, self.n_init, seed, sample_weight)
        centers = check_array(self.init, dtype=[np.float64, np.float32])
        if centers.shape != (self.n_clusters, Z.shape[1]):
            raise ValueError(
                f"init has shape {centers.shape}, but it should be (n_clusters, n_components) "
                f"= ({self.n_clusters}, {Z.shape[1]})."
            )
        return centers, _nearest(Z, centers)

    def _embedding_scale(self, Z: np.ndarray) -> float:
        """The factor that makes ``Z``'s mean per-dimension spread the resolved
        ``embedding_scale`` (1 with ``None``)."""
        target = self._embedding_scale_target
        if target is None:
            return 1.0
        spread = float(np.mean(_column_std(Z)))
        if not np.isfinite(spread) or spread <= 0:
            return 1.0
        return float(target) / spread

    def _small_idec(self, n_samples: int, decoder) -> bool:
        """Whether the small-data IDEC recipe sets the "auto" values (minibatch targets,
        Adam at 3e-3, ``alpha`` 0.1, ``tol`` 2e-3): fewer than 5 000 rows and a reconstruction
        term through ``decoder`` (None on passed-through features, which the identity
        reconstructs exactly)."""
        return (n_samples < SMALL_DATA_ROWS and self.reconstruction_weight > 0
                and decoder is not None)

    def _update_mode(self, n_samples: int) -> int | str:
        """``update_interval`` with "auto" resolved: ``"batch"``, ``"epoch"``, ``"half"``
        (half an epoch) or a number of steps."""
        mode = self.update_interval
        if mode != "auto":
            return mode
        if self._small_idec(n_samples, self.module_.decoder):
            return "batch"
        small = n_samples < SMALL_DATA_ROWS
        return "half" if small or self.reconstruction_weight > 0 else "epoch"

    def _update_interval(self, n_samples: int, X_t=None) -> int | None:
        """Minibatch steps between two full-data refreshes of the target; ``None`` when
        there are none: ``"batch"`` targets, or ``"epoch"`` targets made from the soft
        assignments the steps computed (rows in memory, one process, no weights)."""
        mode = self._update_mode(n_samples)
        if mode == "batch":
            return None
        steps = math.ceil(n_samples / min(self._batch_size, n_samples))
        if mode == "half":
            return max(1, round(steps / 2))
        if mode == "epoch":
            if (not isinstance(X_t, StreamedRows) and self._sample_weight is None
                    and world()[1] == 1):
                return None
            return steps  # a full-data refresh once an epoch instead
        return int(mode)

    def _optimizer_settings(self, n_samples: int) -> tuple[str, float]:
        """The clustering phase's optimizer and learning rate, "auto" resolved."""
        name = self.optimizer
        if name == "auto":
            name = "adam" if self.reconstruction_weight > 0 else "sgd"
        lr = self.learning_rate
        if isinstance(lr, str):  # "auto"
            small = n_samples < SMALL_DATA_ROWS
            lr = 0.01 if name == "sgd" else (1e-3 if small else 1e-4)
            if name == "adam" and self._small_idec(n_samples, self.module_.decoder):
                lr = SMALL_IDEC_LEARNING_RATE
        return name, float(lr)

    def _alpha(self, n_samples: int, decoder) -> float:
        """``alpha`` with "auto" resolved for a fit on ``n_samples`` rows (``decoder``:
        the network IDEC reconstructs through, or None)."""
        if self.alpha != "auto":
            return float(self.alpha)
        return SMALL_IDEC_ALPHA if self._small_idec(n_samples, decoder) else 1.0

    def _tol(self, n_samples: int) -> float:
        """``tol`` with "auto" resolved for a fit on ``n_samples`` rows."""
        if self.tol != "auto":
            return float(self.tol)
        return SMALL_IDEC_TOL if self._small_idec(n_samples, self.module_.decoder) else 1e-3

    def _clustering_weight(self) -> float:
        if self.clustering_weight == "auto":
            return 0.1 if self.reconstruction_weight > 0 else 1.0
        return float(self.clustering_weight)

    # ------------------------------------------------------------------ fit
    _supports_sample_weight = True

    def _initialize(self, X, y) -> None:
        self._check_params_vs_input(X)
        self._optimizer = None  # one left by earlier partial_fit calls: the old network's
        for name in ("_warmup", "_provisional", "stream_phase_", "labels_"):
            self.__dict__.pop(name, None)  # an earlier stream's
        self._batch_size = int(self._resolved("batch_size", auto_batch_size(X.shape[0])))
        if self._begin_warmup(X, INIT_MAX_ROWS):  # partial_fit pretrains over the stream
            return
        encoder, decoder = self._resolve_autoencoder(X)
        X_t = self._training_rows(X)
        embed = encoder or torch.nn.Identity()
        n_samples, weights = X_t.shape[0], self._sample_weight
        chunk = self._chunk_rows(X_t)
        with torch.inference_mode():
            if n_samples <= INIT_MAX_ROWS:
                Z0 = self._batched(embed, X_t, chunk).cpu().numpy()
            else:  # a sample of the rows (sorted: streamed rows are read in order)
                rng = np.random.default_rng(seed_from(self._rng))
                rows = np.sort(rng.choice(n_samples, INIT_MAX_ROWS, replace=False))
                weights = None if weights is None else weights[rows]
                rows = torch.as_tensor(rows, device=self._device)
                Z0 = self._batched(lambda idx: embed(X_t[idx]), rows, chunk).cpu().numpy()
        labels = self._place_centers(encoder, decoder, Z0, weights, n_samples)
        if n_samples <= INIT_MAX_ROWS:  # else the labels of all rows are computed in _train
            self._init_labels = labels

    def _place_centers(self, encoder, decoder, Z0: np.ndarray, weights,
                       n_samples: int) -> np.ndarray:
        """``module_`` from the pretrained networks and centres placed on the codes
        ``Z0`` (modified: k-means centres them in place) of a fit on ``n_samples`` rows;
        returns ``Z0``'s labels."""
        scale = self._embedding_scale(Z0)  # first: the k-means start centres Z0 in place
        centers, labels = self._initial_centers(Z0, weights)
        head = DECClusterHead(self.n_clusters, Z0.shape[1], self._alpha(n_samples, decoder),
                              device=self._device, dtype=self._torch_dtype)
        head.reset_cluster_centers(torch.as_tensor(np.asarray(centers) * scale))
        self.module_ = DECNetwork(encoder, head, decoder, scale=scale)
        return labels

    def _resume_fit(self, X, y) -> None:
        self._check_params_vs_input(X)
        self._batch_size = int(self._resolved("batch_size", auto_batch_size(X.shape[0])))

    # ------------------------------------------------------- partial_fit's warm-up
    def _streamed_autoencoder(self, X):
        """The autoencoder a first ``partial_fit`` call pretrains over the stream: ``None``
        for the default one (built once the first pass is counted), a clone of an unfitted
        one given, or ``False`` when there is none to pretrain (passed-through features, a
        fitted autoencoder: the first call places the centres at once, as before)."""
        spec = self.autoencoder
        if isinstance(spec, str) and spec == "auto":
            spec = "passthrough" if X.shape[1] < AUTO_MIN_FEATURES else None
        if isinstance(spec, str):
            return False
        if spec is None:
            return None
        ae = checked_autoencoder(spec, X.shape[1], accepted="'auto', None, 'passthrough'")
        if hasattr(ae, "module_"):
            return False
        return self._autoencoder_to_pretrain(ae)

    def _warm_up(self, X, warm: StreamedPretraining):
        """One warm-up call of ``partial_fit`` (see its docstring); at the end of the
        embedding pass, the centres are placed and the clustering phase begins."""
        self.__dict__.pop("_provisional", None)
        if not warm.step(X, self._sample_weight, _codes):
            self.stream_phase_ = warm.phase
            return self._history
        ae = self.autoencoder_ = warm.autoencoder
        self._resolve_embedding_scale(self.autoencoder in ("auto", None), warm.rows_per_pass)
        network = copy.deepcopy(ae.module_).to(self._device, self._torch_dtype)
        decoder = network.decoder if self.reconstruction_weight > 0 else None
        self._place_centers(network.encoder, decoder, np.array(warm.codes.sample()), None,
                            warm.rows_per_pass)
        del self._warmup
        self.stream_phase_ = "clustering"
        self.labels_ = self._labels(self._training_rows(X))
        return self._history

    def _network(self) -> DECNetwork:
        """``module_``, or during the warm-up of ``partial_fit`` a provisional network:
        the autoencoder's encoder as it is now (none in the first pass of the default
        one) and centres from a one-start k-means on the codes of the first pass's
        sample of rows, rebuilt when the autoencoder has trained since."""
        module = self.__dict__.get("module_")
        warm = self.__dict__.get("_warmup")
        if module is not None or warm is None:
            check_is_fitted(self, "module_")
            return module
        key = (warm.phase, warm.rows_pretrained)
        cached = self.__dict__.get("_provisional")
        if cached is not None and cached[0] == key:
            return cached[1]
        rows, encoder = warm.preview.sample(), None
        if warm.autoencoder is not None and hasattr(warm.autoencoder, "module_"):
            encoder = copy.deepcopy(warm.autoencoder.module_.encoder).to(
                self._device, self._torch_dtype)
            rows = _codes(warm.autoencoder, rows)
        km = KMeans(self.n_clusters, n_init=1, random_state=0).fit(rows)
        head = DECClusterHead(self.n_clusters, rows.shape[1], self._alpha(0, None),
                              device=self._device, dtype=self._torch_dtype)
        head.reset_cluster_centers(torch.as_tensor(km.cluster_centers_))
        network = DECNetwork(encoder, head, None).eval()
        self._provisional = (key, network)
        return network

    def _train(self, X, y, *, partial: bool):
        warm = self.__dict__.get("_warmup")
        if warm is not None:
            return self._warm_up(X, warm)
        X_t = self._training_rows(X)
        if not partial:  # a fit (or warm start) starts its own optimizer
            self._optimizer = None
        history = self._cluster(X_t, 1 if partial else self.max_epochs)
        if not partial:
            self._optimizer = None
        self.labels_ = self._labels(X_t)
        return history

    @staticmethod
    def _chunk_rows(X_t) -> int | None:
        """The largest inference chunk of a pass over the training rows (streamed rows:
        :data:`STREAM_CHUNK_ROWS`; in memory: the working-memory budget's)."""
        return STREAM_CHUNK_ROWS if isinstance(X_t, StreamedRows) else None

    def _finish_fit(self, X, y, history, *, partial: bool) -> None:
        if not partial:
            self._warn_after_fit(history)

    #: Whether a streamed fit recomputes its targets from a snapshot of the network
    #: (``False``: it stores the full target, as an in-memory fit does; for tests).
    _snapshot_streamed_target = True

    def _cluster(self, X_t: Tensor, max_epochs: int):
        module = self.module_
        init_labels = self.__dict__.pop("_init_labels", None)
        if init_labels is None:  # a warm start, a later partial_fit, a sampled start
            init_labels = self._labels(X_t)
        n_samples = X_t.shape[0]
        interval = self._update_interval(n_samples, X_t)
        gamma = self._clustering_weight()
        lam = float(self.reconstruction_weight)
        # IDEC on passed-through features ("auto", few features): the identity
        # reconstructs exactly, the reconstruction term is zero
        recon = LOSSES[self.autoencoder_.loss] if lam > 0 and module.decoder is not None else None
        state = {"p": None, "labels": torch.as_tensor(init_labels, device=self._device)}
        del init_labels  # the state holds them (compactly, below, for streamed rows)
        # Streamed rows: no n_samples x n_clusters target in memory. Each refresh copies
        # the network into a frozen snapshot and keeps the labels (compactly) and the
        # soft cluster frequencies; a step recomputes its rows' targets from the snapshot
        # (the rows of the stored target up to rounding, one more encoder pass per step).
        snapshot = None
        batch_target = self._update_mode(n_samples) == "batch"
        if (isinstance(X_t, StreamedRows) and not batch_target
                and self._snapshot_streamed_target):
            snapshot = copy.deepcopy(module).eval().requires_grad_(False)
            for p in snapshot.parameters():
                p.grad = None
            compact = torch.int16 if self.n_clusters <= torch.iinfo(torch.int16).max else None
            state["labels"] = state["labels"].to(compact or torch.int32)
        weights = self._sample_weight
        w_t = None if weights is None else torch.as_tensor(weights, device=self._device)
        tol = self._tol(n_samples)
        # "epoch": each step records its rows' soft assignments; at the epoch's end they
        # make the next target (no pass over the data beyond the first one)
        epoch_target = interval is None and not batch_target
        if epoch_target:
            state["q_seen"] = torch.empty(n_samples, self.n_clusters, device=self._device,
                                          dtype=self._torch_dtype)
        if batch_target:  # labels seen in this epoch's minibatches, for the tol rule
            state["labels"] = state["labels"].long()
            state["epoch_labels"] = state["labels"].clone()

        def changed_fraction(labels: Tensor) -> float:
            """The fraction of labels that moved since the last check; keeps ``labels``."""
            changed = (labels != state["labels"]).sum().item() / n_samples
            state["labels"] = labels
            return changed

        def epoch_end(epoch: int, loss: float) -> bool:
            return changed_fraction(state["epoch_labels"].clone()) < tol

        def epoch_target_end(epoch: int, loss: float) -> bool:
            q = state["q_seen"]
            changed = changed_fraction(q.argmax(dim=1))
            state["p"] = _target_distribution(q, out=state["p"])
            return changed < tol

        def refresh_snapshot() -> float:
            """Snapshot the network; labels and frequencies in one chunked pass."""
            for dst, src in zip(snapshot.parameters(), module.parameters()):
                dst.copy_(src)
            for dst, src in zip(snapshot.buffers(), module.buffers()):
                dst.copy_(src)
            labels, changed = state["labels"], 0
            frequency = torch.zeros(self.n_clusters, dtype=torch.float64, device=self._device)
            chunk = min(self._inference_batch_size(), STREAM_CHUNK_ROWS)
            for s in range(0, n_samples, chunk):
                q = snapshot(X_t[s:s + chunk])
                new = q.argmax(dim=1)
                changed += int((new != labels[s:s + chunk]).sum())
                labels[s:s + chunk] = new
                if w_t is not None:
                    q = q * w_t[s:s + chunk, None].to(q)
                frequency += q.sum(dim=0)
            state["frequency"] = frequency
            return changed / n_samples

        def refresh(iteration: int) -> bool | None:
            # every interval steps; with the epoch target only the first, from a pass
            if iteration % interval if interval is not None else iteration:
                return None
            state["p"] = None  # the old target goes before the new one is computed
            module.eval()
            with torch.no_grad():  # not inference_mode: the target enters the loss
                if snapshot is not None:
                    changed = refresh_snapshot()
                else:
                    q = self._batched(module, X_t)
                    changed = changed_fraction(q.argmax(dim=1))
                    state["p"] = _target_distribution(q, w_t, out=q)  # in place of q
            module.train()
            return iteration > 0 and changed < tol

        def step(idx: Tensor) -> Tensor:
            x = X_t[idx]
            z = module.encode(x)
            log_q = module.log_soft_assignment_of_embedding(z)
            if batch_target:
                q = log_q.detach().exp()
                state["epoch_labels"][idx] = q.argmax(dim=1)
                p = _target_distribution(q, None if w_t is None else w_t[idx])
            elif snapshot is not None:
                with torch.no_grad():
                    q_ref = snapshot(x)
                    p = _target_distribution(q_ref, frequency=state["frequency"], out=q_ref)
            else:
                p = state["p"][idx]
                if epoch_target:
                    state["q_seen"][idx] = log_q.detach().exp()
            loss = gamma * dec_kl_divergence(p, log_q)
            if recon is not None:
                loss = loss + lam * recon(module.decode(z), x).mean()
            return loss

        # partial_fit calls share one optimizer (its momentum or moments carry on);
        # pickling drops it and the next call starts a new one
        optimizer = self.__dict__.get("_optimizer")
        if optimizer is None:
            name, lr = self._optimizer_settings(n_samples)
            optimizer = self._optimizer = make_optimizer(
                name, module.parameters(), learning_rate=lr, momentum=self.momentum)
        module.train()
        return train_loop(
            step,
            n_samples=n_samples,
            batch_size=self._batch_size,
            max_epochs=max_epochs,
            shuffle=self._shuffle_for(X_t),
            sample_weight=weights,
            generator=self._generator,
            optimizer=optimizer,
            phase="DEC clustering" if recon is None else "IDEC clustering",
            verbose=self.verbose,
            tol=None,
            before_step=None if batch_target else refresh,
            on_epoch_end=(epoch_end if batch_target else epoch_target_end if epoch_target
                          else None),
            suggestion="Try a smaller learning_rate or scale the input (e.g. to [0, 1]).",
            result=self._history,
        )

    def _labels(self, X_t: Tensor) -> np.ndarray:
        self.module_.eval()
        with torch.inference_mode():
            return self._batched(self.module_.cluster, X_t, self._chunk_rows(X_t)).cpu().numpy()

    def _warn_after_fit(self, history) -> None:
        phase = "IDEC clustering" if self.reconstruction_weight > 0 else "DEC clustering"
        warn_partition(
            self, self.labels_, self.n_clusters, phase=phase,
            advice="DEC's self-training merged clusters; try fewer clusters, a smaller "
                   "learning_rate, fewer max_epochs, or IDEC (reconstruction_weight=1)"
        )
        tol = self._tol(self.labels_.shape[0])
        if tol > 0:
            warn_unconverged(
                self, history, phase=phase, max_epochs=self.max_epochs,
                rule=f"fewer than a fraction tol={tol:g} of the labels changed between "
                     "target updates",
                advice="increase max_epochs or tol (the labels were still moving)"
            )

    def partial_fit(self, X, y=None, sample_weight=None):
        """Train on one chunk ``X``: a warm-up step, or one epoch of the clustering phase.

        With an autoencoder to pretrain (``autoencoder="auto"`` on 32 features or more,
        ``None``, or an unfitted ``AutoEncoder``), the first calls reproduce over the
        stream what :meth:`fit` does before its clustering phase (the **warm-up**,
        ``stream_phase_`` says where it is); feed the chunks pass after pass, in any
        order within a pass, as dask-ml's ``Incremental`` does:

        1. ``"survey"`` (default autoencoder only): the first pass is counted, not
           trained on. Each chunk's fingerprint (a hash of its values) is kept; the first
           chunk that comes back ends the pass and gives ``rows_per_pass``. The default
           autoencoder is then built for that many rows, as :meth:`fit` would build it
           for the whole data (``default_autoencoder(rows_per_pass, n_features)``). A
           stream whose chunks never come back ends this pass after 65 536 rows.
           An unfitted autoencoder you give trains from the first call instead.
        2. ``"pretraining"``: every call runs ``autoencoder.partial_fit`` on its chunk
           until the autoencoder has seen ``max_epochs * rows_per_pass`` rows, the
           epochs :meth:`fit` would pretrain it for (the default one's ``max_epochs``
           follows from ``rows_per_pass``: about 1 700 minibatch steps below 5 000 rows,
           7 000 above; 59 passes of 8x8 digits). Set ``autoencoder`` to an unfitted
           ``AutoEncoder`` with another ``max_epochs`` to change that budget.
        3. ``"embedding"``: one more pass embeds every chunk with the pretrained
           autoencoder and keeps a uniform sample of at most 524 288 codes. At its end the
           centres are placed by ``init`` on that sample (k-means with ``n_init`` starts,
           as :meth:`fit` on all codes), ``embedding_scale`` is resolved from it (and
           ``rows_per_pass``), and ``stream_phase_`` becomes ``"clustering"``. Sample
           weights weight the pretraining and the clustering epochs; this start on the
           sample of codes is unweighted.

        A warm-up costs ``max_epochs + 2`` passes (``max_epochs + 1`` with an
        autoencoder you give), the
        pretraining ones about an autoencoder epoch each, the counting and embedding ones
        a hash or a forward pass. Every later call runs one epoch of the clustering phase
        over its chunk: the target :math:`P` is computed from the soft assignments of
        that chunk (at the call's start and every ``update_interval`` steps), "auto"
        values (``batch_size``, ``learning_rate``, ``update_interval``) follow the
        chunk's size, the optimizer's state (the SGD momentum) carries over between
        calls; give as many clustering passes as :meth:`fit` runs epochs. ``n_restarts``
        does not apply (the one model is continued), and ``n_iter_`` and ``loss_curve_``
        count the clustering epochs only.

        During the warm-up, :meth:`predict`, :meth:`transform`, :meth:`predict_proba`
        and ``cluster_centers_`` use a provisional model: the autoencoder's encoder as
        it is now (the identity during the survey) and centres from a one-start k-means
        on the codes of a uniform sample of at most 1 024 rows of the first pass;
        ``labels_`` is set from the end of the warm-up on.

        Without an autoencoder to pretrain (features passed through, or a fitted
        autoencoder) there is no warm-up: the first call places the centres by ``init``
        on its chunk's codes (give centres computed over the stream as ``init`` when it
        is small or unrepresentative) and every call is a clustering epoch. A
        :meth:`fit` discards a warm-up in progress and starts anew. The number of
        features is fixed by the first call.

        ``benchmarks/bench_partial_fit.py`` measures this route against :meth:`fit`
        (results in ``benchmarks/results/partial_fit_*.json``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A chunk of training data.
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each row of the chunk (see :meth:`fit`).

        Returns
        -------
        self : object
            The estimator, one warm-up step or clustering epoch further.
        """
        return super().partial_fit(X, y, sample_weight)

    # ------------------------------------------------------------------ inference
    def transform(self, X):
        """Embed ``X`` with the fine-tuned encoder.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        Z : ndarray of shape (n_samples, n_components)
        """
        X = self._validate_predict_data(X)
        return self._inference(self._network().encode, X)

    def predict(self, X):
        """Nearest centre in the embedding (the argmax of :meth:`predict_proba`).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        X = self._validate_predict_data(X)
        return self._inference(self._network().cluster, X, out_dtype=None)

    def predict_proba(self, X):
        """Soft assignments :math:`Q` (Student's t kernel, rows sum to one).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        Q : ndarray of shape (n_samples, n_clusters)
        """
        X = self._validate_predict_data(X)
        return self._inference(self._network(), X)

    def score(self, X, y=None):
        r"""Minus :math:`\mathrm{KL}(P \| Q)` on ``X``, with :math:`P` computed on ``X``.

        Higher is better: confident, balanced assignments score close to 0.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        score : float
        """
        q = torch.as_tensor(self.predict_proba(X), dtype=torch.float64)
        log_q = torch.log(q.clamp_min(torch.finfo(torch.float64).tiny))
        return -float(dec_kl_divergence(_target_distribution(q), log_q))

    # ------------------------------------------------------------- attributes
    @property
    def cluster_centers_(self) -> np.ndarray:
        return self._network().cluster_centers.detach().cpu().numpy().copy()

    @property
    def _n_features_out(self) -> int:
        return self._network().head.n_features

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "module_") or "_warmup" in self.__dict__

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
