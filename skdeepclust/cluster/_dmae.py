"""DMAEClustering: the dissimilarity mixture autoencoder (shallow and deep)."""

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
from torch import Tensor

from .._data import StreamedRows
from .._optim import OPTIMIZERS, make_optimizer
from .._torch import build_seeded
from .._training import train_loop, warn_partition, warn_unconverged
from ..base import PartialFitMixin, TorchEstimator
from ..nn.dissimilarities import DISSIMILARITIES, KL_NORMALIZATIONS
from ..nn.dmae import DissimilarityMixtureAutoencoder, precision_factor_from_partition
from ..representation._autoencoder_losses import LOSSES
from ..utils._sklearn_compat import HasMethods, Interval, Options, StrOptions
from ._dec import INIT_MAX_ROWS, _codes
from ._dmae_deep import DeepModelMixin
from ._dmae_init import (
    AUTO_ALPHA_DEEP,
    auto_alpha,
    check_codes_for_kl,
    check_params_vs_input,
    dissimilarity_function,
    initialize_mixture,
    resolve_volume,
    spread,
)
from ._dmae_learning_rates import head_param_groups, learning_rates, resolve_learning_rate
from ._nested_autoencoder import SMALL_DATA_ROWS
from ._streamed_pretraining import StreamedPretraining, StreamWarmupMixin

__all__ = ["DMAEClustering"]

_INITS = ("k-means++", "kmeans", "random")
#: ``n_iter_no_change="auto"``: the epoch loss can rise for a few epochs while the
#: precisions turn or the mixing weights move (the user guide's DMAE defaults).
_AUTO_PATIENCE = 20
#: ``max_epochs="auto"`` of the shallow model: at least ``_AUTO_EPOCHS_SHALLOW`` epochs and
#: enough for ``_AUTO_STEPS_SHALLOW`` minibatch steps (small data sets take few steps per
#: epoch), at most ``_AUTO_EPOCHS_SHALLOW_MAX``; a ceiling, the ``tol`` rule stops first.
_AUTO_EPOCHS_SHALLOW = 200
_AUTO_STEPS_SHALLOW = 3000
_AUTO_EPOCHS_SHALLOW_MAX = 1000
#: ``max_epochs="auto"`` of the deep model's joint phase: ``_AUTO_EPOCHS_DEEP`` epochs, and
#: below ``SMALL_DATA_ROWS`` samples (the joint rate 1e-4) enough for ``_AUTO_STEPS_DEEP``
#: minibatch steps (a fixed budget: the small rate refines the partition by steps, and
#: small data sets take few per epoch).
_AUTO_EPOCHS_DEEP = 20
_AUTO_STEPS_DEEP = 720
#: Rows of a streamed shallow fit's starting statistics (k-means, scale, precisions).
_START_SAMPLE_ROWS = 100_000
_PRECISION_INITS = ("kmeans", "identity")


class DMAEClustering(
    DeepModelMixin, StreamWarmupMixin, PartialFitMixin, ClassNamePrefixFeaturesOutMixin,
    ClusterMixin, TransformerMixin, TorchEstimator
):
    r"""Dissimilarity mixture autoencoder (DMAE) clustering, shallow or deep.

    A mixture of ``n_clusters`` centres :math:`\theta_k` with mixing weights
    :math:`\pi_k` under any dissimilarity :math:`D`. A sample's soft assignment is

    .. math:: s_{ik} = \mathrm{softmax}_k\big(-\alpha\, D(h_i, \theta_k) + \log \pi_k\big)

    and the model is trained to reconstruct :math:`h_i` by its soft-assigned centroid
    :math:`\tilde\mu_i = \sum_k s_{ik}\theta_k`, minimising the DMAE loss
    :math:`d(h_i, \tilde\mu_i) - \log(\tilde\pi_i)/\alpha` with
    :math:`\tilde\pi_i = \sum_k s_{ik}\pi_k`. ``alpha`` sets the sparsity of the
    assignments: as it grows the model becomes a k-means with dissimilarity :math:`D`.

    - **Shallow** (``autoencoder=None``, or ``"auto"`` with fewer than 32 features):
      :math:`h_i = x_i`, a dissimilarity mixture model on the input itself.
    - **Deep** (``autoencoder="auto"`` with 32 features or more, or an ``AutoEncoder``):
      :math:`h_i` is the code of a pretrained autoencoder. The mixture is initialised on
      the codes (``init``), trained alone on them for ``mixture_epochs``, then encoder,
      decoder and mixture are fine-tuned jointly on
      ``clustering_weight * L_dmae + reconstruction_weight * reconstruction``,
      where the reconstruction decodes the soft-assigned centroid :math:`\tilde\mu_i`
      (see ``reconstruct_from``). On image data the covariance variant
      (``dissimilarity="mahalanobis"``, ``alpha=10``) is the one to try first.

    With ``dissimilarity="mahalanobis"`` every centre carries a precision matrix
    :math:`P_k = L_k L_k^\top` (the DMAE covariance variant). Without a log-determinant
    term in the loss the precision is constrained to unit determinant, so that the loss
    cannot shrink it to zero, and the model learns each cluster's shape and orientation
    but gives every cluster the same volume; with ``volume`` (on by default where the
    data has many rows per cluster and dimension) each dissimilarity gets the
    log-determinant term of a Gaussian's density, :math:`D_{ik} = (h_i-\theta_k)^\top
    P_k (h_i-\theta_k) - \log\det(c P_k)`, and each cluster learns its size as well.

    The parameters are listed in three groups: the mixture (``n_clusters`` to
    ``volume``) for both models; the **deep model** (``autoencoder`` to
    ``mixture_learning_rate``), which the shallow model ignores; and the training of
    the clustering phase (``optimizer`` on), whose ``"auto"`` values differ between the
    two models. The :ref:`user guide <clustering>` says how the defaults were chosen.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters.
    dissimilarity : str or callable, default="euclidean"
        ``"euclidean"``, ``"cosine"``, ``"correlation"``, ``"manhattan"``,
        ``"minkowski"``, ``"chebyshev"``, ``"mahalanobis"``, ``"toroidal_euclidean"``,
        ``"kullback_leibler"``, or a module-level function ``f(X, Y) -> D`` on torch
        tensors of shapes ``(n, d)`` and ``(K, d)`` returning ``(n, K)``. A function with a
        ``precision`` parameter is called as ``f(X, Y, precision=P)`` and gets learned
        precision matrices ``P`` of shape ``(K, d, d)``. A lambda makes the estimator
        unpicklable.
    alpha : float or "auto", default="auto"
        Softmax inverse temperature. Large values give hard, k-means-like assignments
        (see :func:`skdeepclust.metrics.assignment_sparsity`); small ones let boundary
        points pull several centres and, too small, merge clusters. Its effect depends on
        the scale of the dissimilarities, so ``"auto"`` resolves in ``fit`` (into
        ``_alpha``) from the data: 1000 divided by the mean dissimilarity of a sample to
        its nearest initial centre (on up to 10 000 evenly spaced rows; 100 if that mean
        is not positive), so that a sample's assignment is soft only within about 0.5 %
        of that distance from a boundary, whatever the scale or dissimilarity. The deep
        model with ``normalize_codes`` clusters codes of unit spread and takes 100 (the
        replication value of the DMAE paper). Softer assignments (a smaller ``alpha``)
        pull the shallow Euclidean model's centres off the k-means optimum on
        overlapping clusters (the user guide's DMAE defaults); set a number to choose
        the sparsity yourself.
    p : float, default=2.0
        Order of ``"minkowski"`` (``> 0``; ``inf`` is Chebyshev).
    interval : float or array-like of shape (n_dims,), default=2.0
        Period of each feature for ``"toroidal_euclidean"`` (a scalar applies to all).
    kl_normalization : str or callable, default="softmax_abs"
        How ``"kullback_leibler"`` turns rows into probabilities: ``"softmax_abs"``,
        ``"softmax_relu"``, ``"squared_sum"``, ``"abs_sum"``, ``"relu_sum"``,
        ``"identity"`` (needs ``X + kl_eps > 0``) or ``f(X, eps)``.
    kl_eps : float, default=1e-3
        Added before the KL normalisation.
    learn_mixing : bool, default=True
        Learn the mixing weights (``False`` keeps them uniform). Learned weights let the
        loss favour large clusters (the ``-log(pi)/alpha`` term), which can starve a small
        cluster when the deep model's joint phase runs at a high ``learning_rate``; the
        ``mixture_epochs`` largely remove that risk. Choose ``False`` for data known to be
        balanced.
    init : {"k-means++", "kmeans", "random"} or array-like, default="kmeans"
        Initial centres (in the code space when deep): the dissimilarity-aware seeding of
        the DMAE package (not D² sampling; see
        :func:`skdeepclust.nn.dmae.plus_plus_init`), the centres of a
        :class:`~sklearn.cluster.KMeans` fit, random samples, or given centres of shape
        ``(n_clusters, n_dims)``. The
        default starts from a good partition, so the default ``learning_rate`` only has to
        refine it; the other options move the centres further and usually want a larger
        ``learning_rate`` (about 1e-2 times the scale of the data) or more epochs.
    init_iter : int, default=100
        Candidate draws of the ``"k-means++"`` seeding.
    n_init : int or "auto", default="auto"
        Restarts of the KMeans of ``init="kmeans"``; the one of lowest inertia is kept.
        The shallow model refines the partition it starts from, so a poor local optimum
        of k-means stays a poor result. ``"auto"`` is 30 restarts for the shallow model,
        whatever the size of ``X`` (they cost one to two times its training, as both
        grow with rows times features times clusters), and 10 for the deep model (whose
        joint phase moves the codes themselves, and where the partition of lowest
        inertia on the pretrained codes was not the better start). Set fewer to save
        time on large data.
    precision_init : {"kmeans", "identity"} or array-like, default="kmeans"
        Initial precision matrices of ``"mahalanobis"``: the inverse covariance of each
        cluster of the initial partition (KMeans' clusters for ``init="kmeans"``, else the
        nearest-centre partition), identities, or given symmetric positive-definite
        matrices of shape ``(n_clusters, n_dims, n_dims)``. Ignored by dissimilarities
        without precisions.
    reg_covar : float, default=1e-2
        Floor added to the diagonal of every covariance, relative to the average feature
        variance of the clustered data (``X``, or the codes when deep). It keeps the
        precision bounded along directions without variance (e.g. the always-blank
        pixels of digits), where a cluster could otherwise concentrate its precision and
        absorb every sample. Ignored by dissimilarities without precisions.
    volume : bool or "auto", default="auto"
        Whether each cluster learns its own volume (the determinant of its covariance)
        as well as its shape. ``True`` leaves the precisions' determinant free and adds
        :math:`-\log\det(c P_k)` to the dissimilarity to centre :math:`k` (``c``: the
        average feature variance of the clustered data, which makes the term and the
        quadratic form scale-free), the log-determinant term of a Gaussian's negative
        log-density; under the near-hard assignments of the default ``alpha`` the loss is
        then the classification likelihood of a full-covariance Gaussian mixture, which
        separates clusters of unequal spread that a shared volume cuts like k-means.
        ``False`` constrains every precision to unit determinant (shape and orientation
        only). It needs a dissimilarity with precisions (``"mahalanobis"`` or a callable
        with a ``precision`` parameter). ``"auto"`` resolves in ``fit`` (into
        ``_volume``) to ``True`` for the shallow ``"mahalanobis"`` model on data with at
        least 20 rows per cluster and per feature (``n_samples >= 20 * n_clusters *
        n_features``), where every cluster's covariance and volume rest on many rows,
        and ``False`` otherwise: with fewer rows per dimension (tabular sets of a few
        hundred rows, 8x8 digits) the free volumes fitted the noise of the covariance
        estimates and lost to the unit determinant, and the deep model's encoder could
        shrink a cluster's codes to gain volume.
    autoencoder : "auto", None or AutoEncoder, default="auto"
        Chooses the model: ``None`` is the shallow model, an autoencoder the deep one
        (the parameters from here to ``mixture_learning_rate`` apply to it alone).
        ``"auto"`` follows :class:`DECClustering`'s rule: the shallow model for data with
        fewer than 32 features (where a small code compresses little), otherwise the deep
        model with DECClustering's default autoencoder sized to ``X`` (a d-w-w-c ReLU
        network below 5 000 rows, the DEC network d-500-500-2000-10 above), whose
        small-data code has ``c = ceil(n_features / 24)`` units, at least 5 (DEC's) and
        at most 16: a code that compresses much more than that loses cluster structure
        that the mixture cannot recover (384-D embeddings: k-means on 5-unit codes
        about 0.9 accuracy, on 16-unit codes as on ``X``). Pass an
        :class:`~skdeepclust.representation.AutoEncoder` to choose the architecture, code
        size (its ``n_components``) and pretraining yourself: an unfitted one is cloned
        and pretrained on ``X`` (on this estimator's ``device``), a fitted one is copied
        and never modified; wrap it in :class:`sklearn.frozen.FrozenEstimator` to keep it
        fitted through :func:`~sklearn.base.clone` and grid searches.
    clustering_weight : float, default=1.0
        Weight of the DMAE loss in the joint objective.
    reconstruction_weight : float, default=1.0
        Weight of the autoencoder's reconstruction loss (its ``loss``, averaged over
        features and samples) in the joint objective; ``0`` fine-tunes the encoder on the
        clustering loss alone. The DMAE replication used 0.01-0.1 but summed the DMAE
        loss over the batch, which weighs reconstruction ``batch_size`` times less than
        averaging both terms does here.
    normalize_codes : bool, default=True
        The mixture sees the codes divided by their spread
        :math:`s = \sqrt{\operatorname{mean}_j \operatorname{var}(h_{\cdot j})}`, taken
        over each minibatch during training (gradients flow through it) and over the
        training codes at the end of ``fit`` for inference (``code_scale_``). The DMAE
        loss is then invariant to the scale of the codes. Without it the encoder lowers
        the loss by shrinking every code (the decoder undoes the scale at no
        reconstruction cost), the assignments soften until the mixing weights decide
        them, and the clusters merge into one within a few epochs. ``False`` clusters
        the raw codes, as the DMAE source does.
    reconstruct_from : {"centroid", "code"}, default="centroid"
        What the decoder decodes: the soft-assigned centroid :math:`\tilde\mu_i`, as
        the DMAE source does (input -> code -> mixture -> decoder), or the code itself,
        as IDEC does.
    mixture_epochs : int, default=30
        Epochs of training the mixture alone (centres, mixing weights, precisions) on the
        fixed pretrained codes, after ``init`` and before the joint phase, with
        ``mixture_learning_rate``. On 10-dimensional codes this costs a few percent of one
        joint epoch. It matters most for ``"mahalanobis"``: at the small learning rate of
        the joint phase the precisions hardly move from their KMeans initialisation,
        while a larger joint rate lets precisions and encoder collapse together, so the
        mixture learns its shapes here. ``0`` starts the joint phase from ``init``.
    mixture_learning_rate : float, default=1e-2
        Learning rate of those mixture epochs for the mixing weights and precisions; the
        centres move at it times the spread of the codes (1 with ``normalize_codes``, so
        one value suits most autoencoders).
    optimizer : {"adam", "sgd", "adamw", "rmsprop"}, default="adam"
        Optimizer of the clustering phase (and of the mixture epochs).
    batch_size : int, default=256
    max_epochs : int or "auto", default="auto"
        Epochs of the clustering phase (the joint phase when deep; ``0`` keeps the
        initial centres, after the ``mixture_epochs`` when deep). ``"auto"`` resolves
        into ``_max_epochs``: for the shallow model 200, or more on small data sets,
        enough for 3 000 minibatch steps (at most 1 000 epochs); a ceiling, its ``tol``
        rule usually stops it well before (a ``"mahalanobis"`` model with ``volume``
        on 1 500 rows of 2-D blobs took about 300 epochs of 6 steps). For the deep
        model, a fixed budget of 20 epochs, or below 5 000 samples (where the joint
        ``learning_rate`` is 1e-4) enough for 720 minibatch steps if that is more (60
        epochs of 3 000 rows, 90 of 8x8 digits at the default ``batch_size``): at its
        small learning rate the joint phase refines the partition of the mixture
        epochs step by step, and 20 epochs of a small data set stopped it while it was
        still gaining (384-D embeddings and digits: up to 2 points of accuracy from 20
        to 60 or 90 epochs, on every seed measured), while on large data each epoch
        costs a pass of the autoencoder and 20 suffice.
    learning_rate : float or "auto", default="auto"
        Learning rate of the clustering phase. ``"auto"`` resolves in ``fit`` (into
        ``_learning_rate``) to 1e-2 for the shallow model; for the deep one to 1e-4 below
        5 000 samples and 1e-5 from there on (the DMAE replication's value: larger
        joint rates merge clusters on large data, while small data sets take few
        steps per epoch and gain from the larger rate). With ``"auto"`` the centres move
        at that rate times the spread
        :math:`\sqrt{\operatorname{mean}_j \operatorname{var}(x_{\cdot j})}` of the
        clustered data and the mixing weights and precisions (whose parametrisation is
        relative to that spread) at the rate itself, so the default moves the centres and
        the ``"mahalanobis"`` precisions alike on data of any scale. A number applies to
        every parameter; for the shallow model started from other than
        ``init="kmeans"`` it should be about 1e-2 times the scale of the data. Watch the
        largest cluster's share when raising the deep model's rate.
    tol : float, None or "auto", default="auto"
        Stop when the epoch loss has not improved by ``tol`` for ``n_iter_no_change``
        epochs; ``None`` always runs ``max_epochs`` (a fixed budget: no convergence
        warning). ``"auto"`` resolves into ``_tol``: 1e-4 for the shallow model, ``None``
        for the deep one (its joint fine-tuning is a fixed budget, like the pretraining;
        the loss keeps creeping down at the small joint learning rate long after the
        partition has settled). Under the rule the shallow model ends with the parameters
        of its lowest-loss epoch (``loss_curve_`` still shows every epoch), and with its
        start when that is lower still (``kept_start_``).
    n_iter_no_change : int or "auto", default="auto"
        The patience of the ``tol`` rule, in epochs. ``"auto"`` resolves into
        ``_n_iter_no_change``: 20. The epoch loss can rise for several epochs before it
        falls to a better partition: while learned precisions (``"mahalanobis"``) turn,
        or while the mixing weights move away from uniform, and a shorter patience stops
        the fit on that bump, near its start. Raise it when ``loss_curve_`` shows the fit
        stopping on such a bump.
    warm_start : bool, default=False
        When True, ``fit`` on a fitted model continues training it for ``max_epochs``
        more epochs from the fitted parameters instead of starting anew; ``n_iter_``
        and ``loss_curve_`` accumulate (as in scikit-learn's ``MLPRegressor``). ``X``
        must have the fitted number of features. The mixture (and, deep, the
        autoencoder) carry on; the optimizer starts afresh.
    device : str or torch.device, default="auto"
        "auto" (a GPU when there is one), "cpu", "cuda", "cuda:N", "mps".
    random_state : int, RandomState instance or None, default=None
        Controls the initialisation (seeding draws, KMeans), minibatch order and, when
        the nested autoencoder has ``random_state=None``, its pretraining. The same seed
        on the CPU gives the same model.
    verbose : int, default=0
        1 shows a progress bar.

    Attributes
    ----------
    module_ : skdeepclust.nn.dmae.DissimilarityMixtureAutoencoder
        The trained mixture head.
    autoencoder_ : AutoEncoder
        The pretrained and fine-tuned autoencoder (deep model only).
    cluster_centers_ : ndarray of shape (n_clusters, n_dims)
        Centres, in the code space when deep (``n_dims`` is then the code size; the
        mixture's own centres are these divided by ``code_scale_``).
    code_scale_ : float
        What the codes are divided by before the mixture at inference (see
        ``normalize_codes``); 1.0 for the shallow model or ``normalize_codes=False``.
        ``transform``, ``precisions_`` and ``covariances_`` are in the scaled code space.
    mixing_weights_ : ndarray of shape (n_clusters,)
        Mixing weights; they sum to one.
    precisions_ : ndarray of shape (n_clusters, n_dims, n_dims)
        Precision matrices of ``"mahalanobis"`` or of a callable with a ``precision``
        parameter (unit determinant unless ``volume``); absent otherwise.
    covariances_ : ndarray of shape (n_clusters, n_dims, n_dims)
        Their inverses (shape-normalised covariances unless ``volume``, then the
        clusters' covariances); absent without precisions.
    labels_ : ndarray of shape (n_samples,)
        Cluster of each training sample (``predict`` on the training data).
    loss_curve_ : list of float
        Clustering-phase objective per epoch.
    mixture_loss_curve_ : list of float
        DMAE loss per ``mixture_epochs`` epoch (deep model; empty otherwise).
    shape_loss_curve_ : list of float
        Shallow model with ``volume``: the DMAE loss per epoch of the unit-determinant
        model that ``fit`` trains first (shapes only, to its ``tol`` rule); the
        precisions, volumes included, then restart from the covariances of its
        partition and ``loss_curve_`` follows the model with volumes from there. Free
        volumes trained from the k-means start can settle on a partition with one
        broad cluster over two true ones (2-D anisotropic blobs: 1 seed in 3), which the
        shapes learned first avoid. Empty otherwise (and after ``partial_fit``).
    pretrain_loss_curve_ : list of float
        The autoencoder's pretraining loss per epoch (deep model only; empty when a
        fitted autoencoder was given).
    n_iter_ : int
        Epochs run in the clustering phase.
    stream_phase_ : str
        Only after :meth:`partial_fit` of the deep model with an autoencoder to
        pretrain: ``"survey"``, ``"pretraining"``, ``"embedding"`` (its warm-up) or
        ``"clustering"``.
    converged_ : bool
        Whether the clustering phase stopped by the ``tol`` rule.
    kept_start_ : bool
        Shallow model: whether ``fit`` returned the mixture it started from (the KMeans
        centres with ``init="kmeans"``, uniform mixing weights) because training did not
        lower the mean objective over the training data below the start's. Minibatch
        training can end a little above its start when that start is already a minimum
        of the objective, e.g. the k-means optimum of well-separated clusters; the start
        is then the better model by the model's own criterion. With ``volume`` the start
        is the end of the unit-determinant stage (see ``shape_loss_curve_``), its
        precisions restarted with volumes. Always False for the deep model and
        ``partial_fit``.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features,)
        Only when X has string feature names.

    See Also
    --------
    DECClustering : deep embedded clustering (Student-t assignments, KL to a target).
    sklearn.cluster.KMeans : the ``alpha -> inf`` Euclidean limit of the shallow model.
    sklearn.mixture.GaussianMixture : soft assignments with Gaussian likelihoods.

    Notes
    -----
    Departures from the ``dmae`` package: the mixing weights are a softmax of free
    parameters (the package's unnormalised mixers make the loss unbounded below), and
    precision matrices have unit determinant (the package's unconstrained ones collapse).

    References
    ----------
    .. [1] J. S. Lara and F. A. González, "Dissimilarity Mixture Autoencoder for Deep
       Clustering", arXiv:2006.08177, 2020.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import make_blobs
    >>> from skdeepclust.cluster import DMAEClustering
    >>> X, _ = make_blobs(200, centers=3, random_state=0)
    >>> dmae = DMAEClustering(3, max_epochs=5, tol=None, device="cpu", random_state=0).fit(X)
    >>> dmae.cluster_centers_.shape, dmae.transform(X).shape
    ((3, 2), (200, 3))
    >>> np.allclose(dmae.predict_proba(X).sum(axis=1), 1.0)
    True
    """

    _parameter_constraints: dict = {
        **TorchEstimator._parameter_constraints,
        "warm_start": ["boolean"],
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "dissimilarity": [StrOptions(set(DISSIMILARITIES)), callable],
        "alpha": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "p": [Interval(Real, 0, None, closed="neither"), Options(Real, {math.inf})],
        "interval": [Interval(Real, 0, None, closed="neither"), "array-like"],
        "kl_normalization": [StrOptions(set(KL_NORMALIZATIONS)), callable],
        "kl_eps": [Interval(Real, 0, None, closed="left")],
        "learn_mixing": ["boolean"],
        "init": [StrOptions(set(_INITS)), "array-like"],
        "init_iter": [Interval(Integral, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "precision_init": [StrOptions(set(_PRECISION_INITS)), "array-like"],
        "reg_covar": [Interval(Real, 0, None, closed="left")],
        "volume": ["boolean", StrOptions({"auto"})],
        "autoencoder": [None, StrOptions({"auto"}), HasMethods(["fit", "transform"])],
        "clustering_weight": [Interval(Real, 0, None, closed="left")],
        "reconstruction_weight": [Interval(Real, 0, None, closed="left")],
        "normalize_codes": ["boolean"],
        "reconstruct_from": [StrOptions({"centroid", "code"})],
        "optimizer": [StrOptions(set(OPTIMIZERS))],
        "learning_rate": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "mixture_epochs": [Interval(Integral, 0, None, closed="left")],
        "mixture_learning_rate": [Interval(Real, 0, None, closed="neither")],
        "tol": [Interval(Real, 0, None, closed="left"), None, StrOptions({"auto"})],
        "max_epochs": [Interval(Integral, 0, None, closed="left"), StrOptions({"auto"})],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
    }

    _tour = {"params": {"n_clusters": 10}, "data": "unit"}

    def __init__(
        self,
        n_clusters=8,
        *,
        dissimilarity="euclidean",
        alpha="auto",
        p=2.0,
        interval=2.0,
        kl_normalization="softmax_abs",
        kl_eps=1e-3,
        learn_mixing=True,
        init="kmeans",
        init_iter=100,
        n_init="auto",
        precision_init="kmeans",
        reg_covar=1e-2,
        volume="auto",
        autoencoder="auto",
        clustering_weight=1.0,
        reconstruction_weight=1.0,
        normalize_codes=True,
        reconstruct_from="centroid",
        mixture_epochs=30,
        mixture_learning_rate=1e-2,
        optimizer="adam",
        batch_size=256,
        max_epochs="auto",
        learning_rate="auto",
        tol="auto",
        n_iter_no_change="auto",
        warm_start=False,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.n_clusters = n_clusters
        self.dissimilarity = dissimilarity
        self.alpha = alpha
        self.p = p
        self.interval = interval
        self.kl_normalization = kl_normalization
        self.kl_eps = kl_eps
        self.learn_mixing = learn_mixing
        self.init = init
        self.init_iter = init_iter
        self.n_init = n_init
        self.precision_init = precision_init
        self.reg_covar = reg_covar
        self.volume = volume
        self.autoencoder = autoencoder
        self.clustering_weight = clustering_weight
        self.reconstruction_weight = reconstruction_weight
        self.normalize_codes = normalize_codes
        self.reconstruct_from = reconstruct_from
        self.mixture_epochs = mixture_epochs
        self.mixture_learning_rate = mixture_learning_rate
        self.optimizer = optimizer
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.learning_rate = learning_rate
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.warm_start = warm_start
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fit
    _supports_sample_weight = True

    def _check_params_vs_input(self, X: np.ndarray) -> None:
        check_params_vs_input(self, X, self._autoencoder_spec(X.shape))

    def _initialize(self, X, y) -> None:
        self._check_params_vs_input(X)
        self._optimizer = None  # one left by earlier partial_fit calls: the old model's
        deep = self._deep = self._autoencoder_spec(X.shape) is not None
        for stale in ("autoencoder_", "pretrain_loss_curve_", "module_", "_warmup",
                      "_provisional_key", "_stream_rows", "_scale_rows", "stream_phase_",
                      "labels_"):
            self.__dict__.pop(stale, None)  # from an earlier deep fit or stream
        if deep and self._begin_warmup(X, INIT_MAX_ROWS):  # partial_fit pretrains first
            return
        X_t = self._training_rows(X)
        weights = self._sample_weight
        if deep:
            self.autoencoder_ = self._prepare_autoencoder(X)
            self.pretrain_loss_curve_ = list(getattr(self.autoencoder_, "loss_curve_", []))
            H_t = self._embed_tensor(X_t)
        elif isinstance(X_t, StreamedRows):  # the starting statistics on a sample
            H_t, weights = self._start_sample(X_t, weights)
        else:
            H_t = X_t
        self._start_mixture(H_t, weights, deep)
        self._resolve_training(X)
        self.mixture_loss_curve_, self.shape_loss_curve_ = [], []
        if deep and self.mixture_epochs > 0 and head_param_groups(self.module_, 1.0, 1.0):
            self.mixture_loss_curve_ = self._fit_mixture(self._scaled_codes)
        del self._scaled_codes

    def _start_mixture(self, H_t: Tensor, weights, deep: bool) -> None:
        """``code_scale_``, ``module_`` with its initial centres and precisions, and
        ``alpha`` on the clustered rows ``H_t`` (the codes when deep); keeps the scaled
        codes in ``_scaled_codes`` for the mixture epochs."""
        self._normalized = deep and self.normalize_codes
        self._scale_rows = H_t.shape[0]  # the rows behind code_scale_ (partial_fit pools)
        self.code_scale_ = float(spread(H_t)) if self._normalized else 1.0
        if self.code_scale_ <= 0:
            self.code_scale_ = 1.0
        elif self._normalized:  # the shallow model clusters X itself: no copy of it
            H_t = H_t / self.code_scale_
        if deep:
            check_codes_for_kl(self, H_t)
        dissimilarity = dissimilarity_function(self)
        n_dims = H_t.shape[1]
        # the average feature variance of what the mixture clusters: the unit of the
        # covariance floor, of the covariance factor and of the centres' learning rate
        variance = float(H_t.var(dim=0, unbiased=False).mean()) if H_t.shape[0] > 1 else 1.0
        variance = variance if variance > 0 and math.isfinite(variance) else 1.0
        self._data_spread = math.sqrt(variance)
        floor = self.reg_covar * variance if dissimilarity.needs_precision else 0.0
        self._volume = resolve_volume(self, H_t.shape[0], n_dims, deep)
        self.module_ = self._build_module_seeded(
            lambda: DissimilarityMixtureAutoencoder(
                self.n_clusters,
                n_dims,
                alpha=self._resolved("alpha", 1.0),
                dissimilarity=dissimilarity,
                learn_mixing=self.learn_mixing,
                volume=self._volume,
                covariance_floor=floor,
                covariance_scale=variance,
            ),
        )
        initialize_mixture(self, H_t, weights)
        if self.alpha != "auto":
            self._alpha = float(self.alpha)
        elif self._normalized:  # codes of unit spread: the DMAE replication's value
            self._alpha = AUTO_ALPHA_DEEP
        else:
            self._alpha = auto_alpha(self.module_, H_t, weights)
        with torch.no_grad():
            self.module_.alpha.fill_(self._alpha)
        if self._volume and not deep:  # fit starts with the unit-determinant model
            self._shape_stage_rows = H_t
            self._shape_alpha = self._unit_determinant_alpha(H_t, weights)
        self._scaled_codes = H_t

    def _unit_determinant_alpha(self, H_t: Tensor, weights) -> float:
        """``alpha`` of the unit-determinant model of the volume's shape stage (its
        quadratic forms are in squared units of the data, not dimensionless)."""
        if self.alpha != "auto":
            return float(self.alpha)
        head = self.module_
        head.volume, head.normalize_precision = False, True
        try:
            return auto_alpha(head, H_t, weights)
        finally:
            head.volume, head.normalize_precision = True, False

    def _start_sample(self, X_t: StreamedRows, weights):
        """A streamed shallow fit computes its starting statistics (scale, k-means
        centres, precisions) on ``_START_SAMPLE_ROWS`` random rows rather than on all."""
        n = X_t.shape[0]
        if n <= _START_SAMPLE_ROWS:
            rows = np.arange(n)
        else:
            rows = np.sort(self._rng.choice(n, _START_SAMPLE_ROWS, replace=False))
        sample = X_t[torch.as_tensor(rows)]
        return sample, None if weights is None else weights[rows]

    def _resume_fit(self, X, y) -> None:
        self._check_params_vs_input(X)
        self._resolve_training(X)

    def _resolve_training(self, X) -> None:
        """The "auto" values of the training phase (again on a warm start: they follow
        ``set_params``)."""
        deep = self._deep
        n_samples = self.__dict__.get("_stream_rows", X.shape[0])  # a stream: its pass
        self._learning_rate = resolve_learning_rate(self.learning_rate, deep, n_samples)
        steps_per_epoch = math.ceil(max(n_samples, 1) / self.batch_size)
        if deep and n_samples < SMALL_DATA_ROWS:
            auto_epochs = max(_AUTO_EPOCHS_DEEP, math.ceil(_AUTO_STEPS_DEEP / steps_per_epoch))
        elif deep:
            auto_epochs = _AUTO_EPOCHS_DEEP
        else:
            auto_epochs = min(
                _AUTO_EPOCHS_SHALLOW_MAX,
                max(_AUTO_EPOCHS_SHALLOW, math.ceil(_AUTO_STEPS_SHALLOW / steps_per_epoch)),
            )
        self._max_epochs = int(self._resolved("max_epochs", auto_epochs))
        self._tol = self._resolved("tol", None if deep else 1e-4)
        self._n_iter_no_change = int(self._resolved(
            "n_iter_no_change", _AUTO_PATIENCE))

    def _train(self, X, y, *, partial: bool):
        warm = self.__dict__.get("_warmup")
        if warm is not None:
            return self._warm_up(X, warm)
        X_t = self._training_rows(X)
        start_rows = self.__dict__.pop("_shape_stage_rows", None)
        if start_rows is not None and not partial:  # volume: unit determinant first
            self.shape_loss_curve_ = self._shape_stage(X_t, start_rows)
        return self._clustering_phase(X_t, partial=partial, result=self._history)

    def _shape_stage(self, X_t, start_rows) -> list:
        """``volume`` (shallow fit): train the unit-determinant model (shapes only) to its
        ``tol`` rule, then restart the precisions, volumes included, from the covariances
        of its partition of ``start_rows`` (the rows the start was computed on); the
        clustering phase then trains the model with volumes from there."""
        head = self.module_
        head.volume, head.normalize_precision = False, True
        with torch.no_grad():
            head.alpha.fill_(self._shape_alpha)
        try:
            history = self._clustering_phase(
                X_t, partial=False, result=None, phase="DMAE clustering (shapes)")
        finally:
            head.volume, head.normalize_precision = True, False
        with torch.no_grad():
            labels = self._batched(self._labels, start_rows)
            head.set_precision_factor(
                precision_factor_from_partition(start_rows, labels, self.n_clusters))
            head.alpha.fill_(self._alpha)
        return list(history.loss_curve)

    def _clustering_phase(self, X_t, *, partial: bool, result, phase="DMAE clustering"):
        """The clustering phase's epochs (the joint phase when deep) on ``X_t``."""
        deep = self._deep
        groups = head_param_groups(self.module_, *learning_rates(
            self.learning_rate, self._learning_rate, self._data_spread))
        if deep:
            ae_module = self.autoencoder_.module_
            ae_params = [q for q in ae_module.parameters() if q.requires_grad]
            if ae_params:
                groups.append({"params": ae_params, "lr": self._learning_rate})
            ae_module.train()
        # partial_fit calls share one optimizer (its moments carry on); a fit, or a call
        # after unpickling, starts a new one
        if not partial or self.__dict__.get("_optimizer") is None:
            self._optimizer = make_optimizer(
                self.optimizer, groups, learning_rate=self._learning_rate
            )

        def step(idx: Tensor) -> Tensor:
            return self._objective(X_t[idx], training=True).mean()

        # the shallow model returns its start (the k-means centres of init="kmeans")
        # when training does not lower the objective on the whole training data
        start = None if deep or partial else (self._full_objective(X_t), _state(self.module_))

        # the shallow model under the tol rule keeps its lowest-loss epoch: a stop after
        # n_iter_no_change epochs without improvement would otherwise return the state
        # at the end of a rising stretch (a few KB: centres, mixing weights, precisions)
        best = {"loss": math.inf, "state": None}

        def keep_best(epoch: int, loss: float) -> None:
            if loss < best["loss"]:
                best["loss"] = loss
                best["state"] = _state(self.module_)

        history = train_loop(
            step,
            n_samples=X_t.shape[0],
            batch_size=self.batch_size,
            max_epochs=1 if partial else self._max_epochs,
            shuffle=self._shuffle_for(X_t),
            sample_weight=self._sample_weight,
            generator=self._generator,
            optimizer=self._optimizer,
            phase=phase,
            verbose=self.verbose,
            tol=self._tol,
            n_iter_no_change=self._n_iter_no_change,
            on_epoch_end=None if deep or self._tol is None or partial else keep_best,
            result=result,
            suggestion="Try a smaller learning_rate or alpha, standardize X, or "
                       "compute in float64 (skdeepclust.set_config(compute_dtype='float64')).",
        )
        if not partial:
            self._optimizer = None
        if best["state"] is not None and history.loss_curve[-1] > best["loss"]:
            self.module_.load_state_dict(best["state"])
        self.kept_start_ = bool(start is not None and self._full_objective(X_t) >= start[0])
        if self.kept_start_:
            self.module_.load_state_dict(start[1])
        self.best_loss_ = min(history.loss_curve) if history.loss_curve else math.nan
        if self._normalized:  # the inference scale: the spread of the final training codes
            with torch.no_grad():
                scale = float(spread(self._embed_tensor(X_t)))
            if partial and scale > 0:  # a chunk's spread alone is noisy: pool them
                scale = self._pooled_scale(scale, X_t.shape[0])
            self.code_scale_ = scale if scale > 0 else self.code_scale_
        return history

    def _pooled_scale(self, scale: float, n_rows: int) -> float:
        """``partial_fit``'s inference scale: the code variance averaged over the rows
        behind ``code_scale_`` and this chunk's (over about one pass of a stream whose
        pass is known from the warm-up, over every row seen otherwise)."""
        seen = self.__dict__.get("_scale_rows", 0)
        window = self.__dict__.get("_stream_rows") or seen + n_rows
        weight = n_rows / min(seen + n_rows, window)
        self._scale_rows = seen + n_rows
        old = self.code_scale_**2
        return math.sqrt(old + weight * (scale**2 - old))

    def _full_objective(self, X_t) -> float:
        """The (weighted) mean training objective over all rows ``X_t``."""
        with torch.no_grad():
            losses = self._batched(self._objective, X_t).double().cpu()
        if self._sample_weight is None:
            return float(losses.mean())
        w = torch.as_tensor(self._sample_weight, dtype=torch.float64)
        return float((losses * w).sum() / w.sum())

    def _finish_fit(self, X, y, history, *, partial: bool) -> None:
        if "_warmup" in self.__dict__:  # labels_ from the end of the warm-up on
            return
        self.labels_ = self._inference(self._labels, X, out_dtype=None)
        if partial:
            return
        if self._tol is not None:
            warn_unconverged(
                self, history, phase="DMAE clustering", max_epochs=self._max_epochs,
                rule=(f"the loss improved by less than tol={self._tol:g} for "
                      f"n_iter_no_change={self._n_iter_no_change} epochs"),
                advice="increase max_epochs, or set tol=None to run max_epochs on purpose",
            )
        warn_partition(
            self, self.labels_, self.n_clusters, phase="DMAE clustering",
            advice=("check that n_clusters suits the data; try a smaller alpha or "
                    "learning_rate, init='kmeans', or learn_mixing=False"),
        )


    # ------------------------------------------------------- partial_fit's warm-up
    def _resumes(self, partial: bool) -> bool:
        if not partial and "_warmup" not in self.__dict__:
            self.__dict__.pop("_stream_rows", None)  # a warm start resolves "auto" anew
        return super()._resumes(partial)

    def _streamed_autoencoder(self, X):
        """The autoencoder a first ``partial_fit`` call of the deep model pretrains over
        the stream: ``None`` for the default one (built once the first pass is counted),
        a clone of an unfitted one given, or ``False`` for a fitted one (the first call
        then places the centres at once, as before)."""
        if isinstance(self.autoencoder, str):  # "auto" on 32 features or more
            return None
        ae = self._autoencoder_spec(X.shape)
        ae = getattr(ae, "estimator", ae)  # FrozenEstimator
        if hasattr(ae, "module_"):
            return False
        return self._autoencoder_to_pretrain(ae)

    def _warm_up(self, X, warm: StreamedPretraining):
        """One warm-up call of ``partial_fit`` (see its docstring); at the end of the
        embedding pass the mixture is started as :meth:`fit` starts it on all codes."""
        if not warm.step(X, self._sample_weight, _codes):
            self.stream_phase_ = warm.phase
            self._provisional(warm)
            return self._history
        ae = warm.autoencoder
        self._adopt_nested(ae)
        self.autoencoder_ = ae
        self.pretrain_loss_curve_ = list(getattr(ae, "loss_curve_", []))
        self._deep, self._stream_rows = True, warm.rows_per_pass
        H_t = torch.as_tensor(np.array(warm.codes.sample()), device=self._device,
                              dtype=self._torch_dtype)
        self._start_mixture(H_t, None, True)
        self._scale_rows = warm.rows_per_pass  # a uniform sample of a whole pass
        self._resolve_training(X)
        self.mixture_loss_curve_ = []
        if self.mixture_epochs > 0 and head_param_groups(self.module_, 1.0, 1.0):
            weights, self._sample_weight = self._sample_weight, None  # the chunk's
            try:
                self.mixture_loss_curve_ = self._fit_mixture(self._scaled_codes)
            finally:
                self._sample_weight = weights
        del self._scaled_codes, self._warmup
        self.__dict__.pop("_provisional_key", None)
        self.stream_phase_ = "clustering"
        return self._history

    def _provisional(self, warm: StreamedPretraining) -> None:
        """During the warm-up, a provisional model for inference: the autoencoder as at
        the end of its last pass of pretraining (none in the first pass of the default
        one) and centres from a one-start k-means on the (scaled) codes of the first
        pass's sample of rows; rebuilt once per pass."""
        passes = warm.rows_pretrained // warm.rows_per_pass if warm.rows_per_pass else 0
        key = (warm.phase, warm.first_pass_rows if warm.phase == "survey" else passes)
        if self.__dict__.get("_provisional_key") == key:
            return
        self._provisional_key = key
        self.__dict__.pop("autoencoder_", None)
        rows = torch.as_tensor(np.array(warm.preview.sample()), device=self._device,
                               dtype=self._torch_dtype)
        ae = warm.autoencoder
        self._deep = ae is not None and hasattr(ae, "module_")
        if self._deep:
            self.autoencoder_ = copy.deepcopy(ae)
            self._adopt_nested(self.autoencoder_)
            rows = self._embed_tensor(rows)
        self._normalized = self._deep and self.normalize_codes
        scale = float(spread(rows)) if self._normalized else 1.0
        self.code_scale_ = scale if scale > 0 else 1.0
        rows = rows / self.code_scale_
        km = KMeans(self.n_clusters, n_init=1, random_state=0).fit(rows.cpu().numpy())
        variance = float(rows.var(dim=0, unbiased=False).mean()) if len(rows) > 1 else 1.0
        self._data_spread = math.sqrt(variance if variance > 0 else 1.0)
        module = build_seeded(lambda: DissimilarityMixtureAutoencoder(
            self.n_clusters, rows.shape[1], alpha=1.0,
            dissimilarity=dissimilarity_function(self), learn_mixing=self.learn_mixing,
            volume=resolve_volume(self, rows.shape[0], rows.shape[1], self._deep),
            covariance_scale=variance if variance > 0 else 1.0,
        ), seed=0, device=self._device, dtype=self._torch_dtype)
        with torch.no_grad():
            module.centers.copy_(torch.as_tensor(km.cluster_centers_).to(module.centers))
            if self.alpha != "auto":
                alpha = float(self.alpha)
            elif self._normalized:
                alpha = AUTO_ALPHA_DEEP
            else:
                alpha = auto_alpha(module, rows)
            module.alpha.fill_(alpha)
        self.module_ = module.eval()

    def partial_fit(self, X, y=None, sample_weight=None):
        """Train on one chunk ``X``: a warm-up step, or one epoch of the clustering phase.

        The deep model with an autoencoder to pretrain (``autoencoder="auto"`` on 32
        features or more, or an unfitted ``AutoEncoder``) first reproduces over the
        stream what :meth:`fit` does before its clustering phase (the **warm-up**,
        ``stream_phase_`` says where it is), as ``DECClustering.partial_fit`` does;
        feed the chunks pass after pass, in any order within a pass:

        1. ``"survey"`` (``autoencoder="auto"`` only): the first pass is counted, not
           trained on; the first chunk that comes back (by a hash of its values) ends it
           and gives ``rows_per_pass``, and the default autoencoder is built for that
           many rows, as :meth:`fit` builds it for the whole data. A stream whose chunks
           never come back ends this pass after 65 536 rows. An unfitted autoencoder
           you give trains from the first call instead.
        2. ``"pretraining"``: every call runs ``autoencoder.partial_fit`` on its chunk
           until the autoencoder has seen ``max_epochs * rows_per_pass`` rows, the
           epochs :meth:`fit` would pretrain it for. Give an unfitted ``AutoEncoder``
           with another ``max_epochs`` to change that budget.
        3. ``"embedding"``: one more pass embeds every chunk and keeps a uniform sample
           of at most 524 288 codes. At its end the mixture starts on that sample as
           :meth:`fit` starts it on all codes: ``code_scale_`` is their spread (with
           ``normalize_codes``), ``init`` places the centres in the scaled code space,
           the mixture trains alone on them for ``mixture_epochs``, the "auto"
           ``learning_rate`` follows ``rows_per_pass``, and ``stream_phase_`` becomes
           ``"clustering"``. This start is unweighted; sample weights weight the
           pretraining and the clustering epochs.

        A warm-up costs the autoencoder's ``max_epochs + 2`` passes (``max_epochs + 1``
        with an autoencoder you give): the pretraining ones an autoencoder epoch each,
        the counting and embedding ones a hash or a forward pass. Every later call runs
        one epoch of the joint clustering phase over its chunk (give as many clustering
        passes as :meth:`fit` runs epochs); the optimizer's state (Adam's moments)
        carries over between calls; with ``normalize_codes``, ``code_scale_`` averages
        the code variance of the chunks (over about one pass after a warm-up, over all
        chunks otherwise), not the last chunk's alone. ``n_iter_`` and ``loss_curve_``
        count the clustering epochs only. During the warm-up the inference methods and
        ``cluster_centers_`` use a provisional model: the autoencoder as at the end of
        its last pretraining pass (the input itself during the survey) and centres
        from a one-start k-means on the codes of a uniform sample of at most 1 024 rows
        of the first pass; ``labels_`` is set from the end of the warm-up on. A
        :meth:`fit` discards a warm-up in progress and starts anew.

        Without an autoencoder to pretrain (the shallow model, or a fitted autoencoder)
        there is no warm-up: the first call does on its chunk what :meth:`fit` does
        before the clustering phase, from that chunk alone (the "auto" values from the
        chunk's size, ``init`` and the mixture epochs on the chunk's codes), and every
        call is a clustering epoch. Give centres computed over the stream as ``init``
        when that first chunk is small or unrepresentative. The number of features is
        fixed by the first call.

        ``benchmarks/bench_partial_fit.py`` measures these routes against :meth:`fit`
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
    def _head(self, x: Tensor) -> Tensor:
        return self._head_input(self._embed(x))[0]

    def _labels(self, x: Tensor) -> Tensor:
        return self.module_.logits(self._head(x)).argmax(dim=1)

    def _objective(self, x: Tensor, training: bool = False) -> Tensor:
        """Per-sample training objective (the DMAE loss, plus reconstruction when deep)."""
        h = self._embed(x)
        g, scale = self._head_input(h, training)
        out = self.module_(g)
        dmae = self.module_.loss(g, out)
        if not hasattr(self, "autoencoder_"):
            return dmae
        loss = self.clustering_weight * dmae
        if self.reconstruction_weight > 0:
            recon = LOSSES[self.autoencoder_.loss](self._decode(h, out, scale), x).mean(dim=1)
            loss = loss + self.reconstruction_weight * recon
        return loss

    def predict(self, X):
        """Cluster of each sample: the argmax of :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        X = self._validate_predict_data(X)
        return self._inference(self._labels, X, out_dtype=None)

    def fit_predict(self, X, y=None):
        """Fit and return ``labels_`` (the same as ``fit(X).predict(X)``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        return self.fit(X).labels_

    def predict_proba(self, X):
        """Soft assignments :math:`s_{ik}` (rows sum to one).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_clusters)
        """
        X = self._validate_predict_data(X)
        return self._inference(lambda x: self.module_(self._head(x)).assignments, X)

    def transform(self, X):
        """Dissimilarities to every centre (the KMeans convention), of the scaled codes if deep.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        D : ndarray of shape (n_samples, n_clusters)
        """
        X = self._validate_predict_data(X)
        return self._inference(lambda x: self.module_.dissimilarities(self._head(x)), X)

    def embed(self, X):
        """The representation that is clustered: the autoencoder's code, or ``X`` if shallow.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        H : ndarray of shape (n_samples, n_dims)
        """
        X = self._validate_predict_data(X)
        return self._inference(self._embed, X)

    def reconstruct(self, X):
        """Reconstruction of ``X``: the soft-assigned centroid, decoded when deep.

        With ``reconstruct_from="code"`` the deep model decodes the code instead.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        X_rec : ndarray of shape (n_samples, n_features)
        """
        X = self._validate_predict_data(X)
        return self._inference(self._reconstruct, X)

    def _reconstruct(self, x: Tensor) -> Tensor:
        h = self._embed(x)
        g, scale = self._head_input(h)
        out = self.module_(g)
        return self._decode(h, out, scale) if hasattr(self, "autoencoder_") else out.centroids

    def score(self, X, y=None):
        """Minus the mean training objective on ``X`` (higher is better).

        The DMAE loss for the shallow model; ``clustering_weight`` times it plus
        ``reconstruction_weight`` times the reconstruction loss for the deep one.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        score : float
        """
        X = self._validate_predict_data(X)
        return -float(np.mean(self._inference(self._objective, X)))

    # ------------------------------------------------------------------ attributes
    @property
    def cluster_centers_(self) -> np.ndarray:
        return self.module_.centers.detach().cpu().numpy() * getattr(self, "code_scale_", 1.0)

    @property
    def mixing_weights_(self) -> np.ndarray:
        return self.module_.mixing_weights().detach().cpu().numpy().copy()

    def _check_has_precision(self, name: str) -> None:
        if not self.module_.has_precision:
            raise AttributeError(
                f"The {self.module_.dissimilarity.name!r} dissimilarity has no {name}."
            )

    @property
    def precisions_(self) -> np.ndarray:
        self._check_has_precision("precisions_")
        return self.module_.precisions().detach().cpu().numpy().copy()

    @property
    def covariances_(self) -> np.ndarray:
        self._check_has_precision("covariances_")
        return self.module_.covariances().detach().cpu().numpy().copy()

    @property
    def _n_features_out(self) -> int:
        return self.module_.centers.shape[0]  # AttributeError before fit: NotFittedError

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


def _state(module) -> dict:
    """A copy of ``module``'s parameters and buffers (a few KB for the mixture head)."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}
