"""GMMRepresentation: the deep generative decoder with a Gaussian-mixture prior (multiDGD)."""

from __future__ import annotations

from collections import deque
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import (
    ClassNamePrefixFeaturesOutMixin,
    ClusterMixin,
    TransformerMixin,
)
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_consistent_length, column_or_1d
from torch import Tensor
from tqdm.auto import tqdm

from .._torch import make_generator, seed_from, to_numpy
from .._training import make_optimizer, train_loop, warn_partition, warn_unconverged
from ..base import TorchEstimator
from ..nn.dgd import OUTPUT_DISTRIBUTIONS, DeepGenerativeDecoder, DGDModel, RowAdam
from ..nn.mixture import UNLABELLED, GaussianMixturePrior, SupervisedGaussianMixturePrior
from ..nn.mlp import ACTIVATIONS, MLP
from ..utils._sklearn_compat import (
    HasMethods,
    Interval,
    StrOptions,
    _fit_context,
    check_is_fitted,
)
from ._autoencoder import AutoEncoder

__all__ = ["GMMRepresentation"]

#: covariance_type: scikit-learn's names and multiDGD's, mapped to the nn names.
_COVARIANCE_TYPES = {
    "diag": "diagonal",
    "diagonal": "diagonal",
    "spherical": "isotropic",
    "isotropic": "isotropic",
    "fixed": "fixed",
    "full": "full",
}
_INITS = ("pca", "random", "autoencoder")
#: Epochs of the autoencoder behind ``init="autoencoder"`` (measured on MNIST-10k).
_INIT_AE_EPOCHS = 50
_RESAMPLE = ("mean", "sample")
#: latent_dim="auto": at most this many dimensions (fewer for fewer features).
_AUTO_LATENT = 10
#: max_epochs="auto": about this many optimizer steps, within [20, 100] epochs.
_AUTO_STEPS = 20_000
#: The tol rule stops no fit before this many optimizer steps: until the decoder is trained,
#: transform (and so predict) infers representations from an untrained model.
_MIN_STEPS = 400
#: EM starts of the initial mixture; the most likely one is kept.
_EM_STARTS = 20
#: EM covariance floor, as a fraction of the mean variance of the representations.
_EM_REG = 1e-6


class GMMRepresentation(
    ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin, TorchEstimator
):
    """Deep generative decoder (DGD) with a Gaussian-mixture prior over representations.

    There is no encoder. Each training sample gets a free representation ``z_i`` of size
    ``latent_dim``; an MLP decoder maps it to a distribution over the sample
    (``output_distribution``) and a Gaussian mixture of ``n_components`` components is the
    prior over the representations. Decoder, representations and mixture are fitted
    jointly by MAP estimation, with separate learning rates as in multiDGD: the negative
    log posterior is

    ``- sum_i [log p(x_i | z_i) + log p(z_i)] - log p(theta)``,

    where ``log p(theta)`` is the mixture's parameter prior (a softball prior on the means,
    a Gaussian prior on the log-variances, a Dirichlet prior on the weights), counted once
    per data set (each minibatch adds ``log p(theta) / n_samples``; multiDGD adds it to every
    sample, which makes its strength depend on the batch size).

    The mixture clusters the representations (``predict``, ``predict_proba``,
    ``labels_``), the decoder generates data (``inverse_transform``, ``sample``).
    New data has no representation yet: :meth:`transform` finds one per sample by
    optimisation with the decoder and the mixture frozen (see Notes).

    Parameters
    ----------
    n_components : int, default=10
        Number of mixture components (clusters). Ignored when
        ``n_components_per_class`` is set.
    latent_dim : int or "auto", default="auto"
        Size of the representations. "auto": the width of ``init`` when it is an array or
        an AutoEncoder, otherwise ``min(10, n_features)`` (see "Defaults" in Notes).
        Smaller sizes cluster coarser; larger ones let the decoder fit each sample on its
        own and need more data per component for "full" covariances.
    covariance_type : {"auto", "diag", "spherical", "fixed", "full"}, default="auto"
        One learned variance per component and dimension, one per component, a fixed
        variance ``component_std**2``, or a full covariance matrix per component (not in
        multiDGD: its Cholesky factor's diagonal carries the log-variance prior; see
        :class:`~skdeepclust.nn.mixture.GaussianMixturePrior`). multiDGD's names
        "diagonal" and "isotropic" are accepted too. "auto": "full" when there are at
        least ``latent_dim * (latent_dim + 1) / 2`` samples per component on average (the
        parameters of one covariance), "diag" otherwise. Choose "diag" for many components
        on little data.
    softball_radius : float, default=2.0
        Radius of the softball prior on the means (multiDGD's working value; its
        documented default 0 is not a density). The initial representations are scaled
        to a root-mean-square norm of ``softball_radius / 2``.
    softball_sharpness : float, default=5.0
        Sharpness of the softball's border.
    component_std : float, default=None
        Mode of the Gaussian prior on each component's standard deviation (on the log
        variance), also the initial standard deviation. ``None`` uses the within-cluster
        standard deviation of the initial partition of the initial representations.
    log_var_prior_std : float or "auto", default="auto"
        Standard deviation of the Gaussian prior on the log-variances. Unsupervised, the
        mixture starts from EM (see ``init``) and each component's prior is centred on its
        own starting log-variances; supervised, all are centred on ``2 log(component_std)``.
        "auto": 0.3 unsupervised, 0.1 supervised. The prior is counted once per data set
        (multiDGD counts it once per sample, ``n_samples`` times stronger): with a loose
        prior the MAP fit lets the components shrink onto their representations (variance
        collapse: every representation on its component's mean, samples of a component all
        alike); with a tight one around a single mode all components are held to one
        volume.
    dirichlet_alpha : float, default=1.0
        Concentration of the Dirichlet prior on the weights (1 is flat).
    hidden_layer_sizes : tuple of int, default=(100, 100)
        Hidden widths of the decoder.
    activation : str, default="relu"
        Hidden activation of the decoder (see :data:`skdeepclust.nn.mlp.ACTIVATIONS`).
    output_distribution : {"gaussian", "bernoulli", "poisson", "negative_binomial"}, \
default="gaussian"
        Law of ``x | z``. "gaussian" learns one scale per feature; "bernoulli" needs X in
        [0, 1]; the count laws need X >= 0, and "negative_binomial" learns one dispersion
        per feature (for single-cell counts).
    library_size : bool, default=True
        For the count laws: the mean of sample ``i`` is its library size (row total)
        times a softmax over the features, as in scVI and scDGD. ``False`` uses a log link.
    n_components_per_class : int, default=None
        ``None``: unsupervised, ``y`` is ignored (so that ``GridSearchCV`` with a
        clustering scorer, which passes ``y`` to ``fit``, does not leak labels). An int:
        ``fit(X, y)`` uses the supervised mixture, with this many components per class
        of ``y``; the label -1 marks an unlabelled sample (semi-supervised).
        ``predict`` then returns classes.
    init : {"auto", "pca", "random", "autoencoder"}, AutoEncoder or array-like of shape \
(n_samples, latent_dim), default="auto"
        Initial representations: the first ``latent_dim`` principal components, Gaussian
        draws, an autoencoder's codes, or the given array; all are scaled as above. "auto"
        is "pca". Unsupervised, the mixture then starts from a
        :class:`~sklearn.mixture.GaussianMixture` of the same covariance type fitted by EM
        on them (the most likely of 20 starts): means, covariances and weights; supervised,
        from a k-means partition per class.
        ``"autoencoder"`` first trains an :class:`~skdeepclust.representation.AutoEncoder`
        with ``latent_dim`` codes, the decoder's hidden widths mirrored, for 50 epochs at
        ``batch_size``: a sigmoid output and cross-entropy for "bernoulli", squared error
        otherwise (on ``log1p(X)`` for the count laws). For "bernoulli" and "gaussian" the
        decoder then starts from the autoencoder's decoder as well, so the DGD refines a
        trained generative model instead of fitting a random decoder to fixed codes. An
        ``AutoEncoder`` instance makes these choices yours: an unfitted one is cloned and
        fitted, a fitted one only transforms (X, or ``log1p(X)`` for the count laws); its
        ``n_components`` must equal ``latent_dim``, and its decoder is copied when its
        widths, activation and output match. ``clone`` (and so ``GridSearchCV``) unfits a
        nested estimator: wrap a fitted one in :class:`sklearn.frozen.FrozenEstimator`.
        Try ``"autoencoder"`` on images whose principal components separate the classes
        poorly (e.g. MNIST; benchmarks/README.md); it costs the autoencoder's training.
    learning_rate : float, default=5e-4
        Adam learning rate of the decoder. On MNIST-10k (5-D, 256-256, Bernoulli, 150
        epochs) 5e-4 clustered better than multiDGD's 1e-3 on every seed measured (mixture
        ARI 0.499 against 0.462 over 3 seeds), at a slightly higher final loss; 2.5e-4 and
        2e-3 were worse (benchmarks/README.md).
    representation_learning_rate : float, default=1e-2
        Adam learning rate of the representations.
    representation_step : {"batch", "epoch"}, default="batch"
        When the representations' optimizer steps. ``"epoch"`` accumulates each
        representation's gradient over the epoch (a sample is in one minibatch per epoch) and
        takes one Adam step at the end of it, as the DGD reference training loop does;
        ``"batch"`` steps after every minibatch, like the decoder. Either way each
        representation has its own Adam moments and step count and moves only at its own
        steps (a "lazy" per-row Adam, so a minibatch step costs O(batch_size), not
        O(n_samples)); unlike dense Adam over all rows, a representation outside the
        minibatch does not keep drifting with Adam's momentum. With ``"epoch"`` the
        representations take ``max_epochs`` steps in all, so they need a larger rate: on
        MNIST-10k (5-D, 150 epochs, measured with dense Adam) ``"epoch"`` with 0.05 gave
        mixture ARIs 0.539 / 0.480 on seeds 0 / 1 against 0.528 / 0.500 for ``"batch"``
        with 0.01 (0.476 for ``"epoch"`` with 0.01 on seed 0): no better, so not the default.
    gmm_learning_rate : float, default=1e-2
        Adam learning rate of the mixture, and of the output law's own parameters (the
        Gaussian scales, the negative-binomial dispersions).
    adam_betas : tuple of float, default=(0.5, 0.7)
        Adam's betas for all three groups (multiDGD's values).
    weight_decay : float, default=1e-4
        Weight decay of the decoder.
    batch_size : int or "auto", default="auto"
        Minibatch size of the decoder, mixture and representations. "auto":
        ``min(128, max(16, n_samples // 8))``, so that small data sets still get several
        steps per epoch.
    max_epochs : int or "auto", default="auto"
        "auto": about 20 000 optimizer steps, within 20 to 100 epochs
        (``min(100, max(20, 20000 // n_batches))``), which bounds the cost on large data.
    tol : float or None, default=1e-3
        Stop when at most a fraction ``tol`` of the training samples changed component
        (class when supervised) over the last ``n_iter_no_change`` epochs: the partition
        is stable, as in DEC's rule. ``None`` always runs ``max_epochs``. The loss is no
        criterion here: with a free representation per sample the decoder keeps fitting
        individual samples, so the MAP loss creeps down for long after the clusters have
        settled, by less per epoch than its minibatch noise. Set ``tol=None`` and a larger
        ``max_epochs`` when the decoder itself matters (``inverse_transform``,
        ``sample``, ``score_samples``): it keeps improving after the partition is stable.
    n_iter_no_change : int, default=10
        The window of the ``tol`` rule, in epochs.
    reassign_every : int or None, default=None
        Every this many epochs, each training representation jumps to the component mean
        with the highest ``log p(x | z) + log p(z)`` when that beats its current value
        (the choice :meth:`transform` makes for new samples), so that representations can
        leave a component they were initialised in by mistake. ``None`` (multiDGD's
        training) disables it: while the decoder is still untrained, the mean of a heavy
        component wins for most samples and the mixture can collapse (measured on wine).
        Useful from a trained decoder (``init="autoencoder"``).
    transform_epochs : int, default=30
        Optimisation steps per new sample in :meth:`transform` (and in every method that
        transforms: ``predict``, ``predict_proba``, ``score_samples``, ``score``). On
        MNIST-10k 25 steps reached nearly the optimum of 50 (log joint -95.0 against -94.3
        for the transforms of training images).
    transform_learning_rate : float, default=0.05
        Adam learning rate of those steps; ``None`` uses ``representation_learning_rate``.
        Larger than the training rate: the frozen model is not disturbed by big steps, and
        50 steps of 0.01 leave a representation short of its optimum (on MNIST-10k the log
        joint of the training images' transforms was -111 with 0.01, -106 with 0.05,
        -105 with 200 steps of 0.05).
    transform_n_starts : int, default=3
        How many of the best-scoring candidate starts each new sample is optimised from
        (all in one batch); the one with the highest final ``log p(x | z) + log p(z)`` is
        kept. From a single start the optimisation often ends in a worse local optimum
        than the training representation of the same sample (see Notes); each extra start
        costs one more optimisation.
    resample : {"mean", "sample"}, default="mean"
        Candidate starts for new samples: the component means, or ``n_resample`` draws per
        component.
    n_resample : int, default=1
        Draws per component when ``resample="sample"``.
    warm_start : bool, default=False
        When True, ``fit`` on a fitted model continues training it for ``max_epochs``
        more epochs from the fitted parameters instead of starting anew; ``n_iter_``
        and ``loss_curve_`` accumulate (as in scikit-learn's ``MLPRegressor``). ``X``
        must have the fitted number of features. The representations are
        those of the training rows: continue with the same ``X`` (other rows get theirs
        from :meth:`transform`).
    device : str or torch.device, default="auto"
        "auto" (a GPU when there is one), "cpu", "cuda", "cuda:N", "mps".
    random_state : int, RandomState instance or None, default=None
        Controls the initialisation (PCA solver, random representations, k-means,
        decoder weights), minibatch order, the draws of ``resample="sample"`` and
        :meth:`sample`. The same seed on the CPU gives the same model.
    verbose : int, default=0
        1 shows a progress bar for the fit (per epoch) and for every call that transforms
        new data (per sample; see Notes for its cost).

    Attributes
    ----------
    module_ : skdeepclust.nn.dgd.DGDModel
        The decoder (``module_.decoder``) and mixture (``module_.prior``).
    embedding_ : ndarray of shape (n_samples, latent_dim)
        The learned representations of the training samples (``fit_transform``'s output).
    labels_ : ndarray of shape (n_samples,)
        Most probable component of each training representation ``embedding_`` (its class
        when supervised): the partition the fit found. It is not defined as
        ``predict(X_train)``, and may differ from it on some rows: ``predict`` has no
        ``embedding_`` to read, so it infers each row's representation anew with the model
        frozen, from the best component means (see Notes), and a sample between two
        components can end in the other one. Defining ``labels_`` by that inference would
        make the two equal at the cost of a transform, but it clusters worse, because the
        fitted representations keep the partition of the mixture's EM start while the
        inference from the means follows the decoder alone. The two agree on the rows of
        well-separated clusters (the tests pin >= 99%) and differ on some boundary rows;
        the longer the decoder trains past a stable partition, the more (it fits
        individual samples). benchmarks/README.md reports the measured agreement.
    means_ : ndarray of shape (n_mixture_components, latent_dim)
    covariances_ : ndarray
        Covariance matrices, shape (n_mixture_components, latent_dim, latent_dim), for
        "full"; variances, shape (n_mixture_components, latent_dim), for "diag" and
        (n_mixture_components,) otherwise (as in :class:`~sklearn.mixture.GaussianMixture`).
    weights_ : ndarray of shape (n_mixture_components,)
    dispersion_ : ndarray of shape (n_features,)
        Only with ``output_distribution="negative_binomial"``: the learned dispersion
        :math:`r` of each feature (variance :math:`\\mu + \\mu^2 / r`; large :math:`r`
        is nearly Poisson).
    classes_ : ndarray of shape (n_classes,)
        Only when supervised.
    component_classes_ : ndarray of shape (n_mixture_components,)
        Only when supervised: the class of each component.
    loss_curve_ : list of float
        Negative log posterior per sample, per epoch.
    n_iter_ : int
        Epochs run.
    converged_ : bool
        Whether training stopped by the ``tol`` rule (a stable partition). When it did not
        (and ``tol`` is not None), fit warns with a
        :class:`~sklearn.exceptions.ConvergenceWarning`; it warns too when components end
        empty or one component holds most samples.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features,)
        Only when X has string feature names.

    See Also
    --------
    skdeepclust.representation.AutoEncoder : an encoder-decoder alternative.
    sklearn.mixture.GaussianMixture : the mixture alone, on fixed features.

    Notes
    -----
    **Defaults.** The "auto" values are resolved in :meth:`fit` from the data, into
    private attributes (the public parameters keep "auto"): ``latent_dim`` ->
    ``min(10, n_features)`` (or the width of a given start); ``covariance_type`` -> "full"
    with at least ``latent_dim * (latent_dim + 1) / 2`` samples per component, else
    "diag"; ``init`` -> "pca", the mixture started by EM on the principal components;
    ``log_var_prior_std`` -> 0.3 around each component's EM estimate (0.1 around one mode
    when supervised); ``batch_size`` -> ``min(128, max(16, n_samples // 8))``;
    ``max_epochs`` -> ``min(100, max(20, 20000 // n_batches))``, a cap: the fit stops
    earlier when the partition is stable (``tol``), but not before 400 optimizer steps,
    so that the decoder that ``transform`` and ``predict`` rely on is trained. The
    learning rates are fixed (decoder 5e-4, representations and mixture 1e-2, multiDGD's
    Adam betas). At these defaults the model starts from PCA + a GaussianMixture (the
    most likely of 20 EM starts) and refines it jointly with the decoder; the partition
    mostly stays that of the EM start (benchmarks/README.md compares it with that
    pipeline and KMeans).

    **Cost of inference.** :meth:`transform` (and ``predict``, ``predict_proba``,
    ``score_samples``, ``score``) runs an optimisation per call: its cost grows linearly
    with ``n_samples * (n_mixture_components + transform_n_starts * transform_epochs)``
    decoder evaluations (forward and backward for the steps), about
    ``transform_n_starts * transform_epochs`` training epochs' worth of decoder work for
    the same rows, so it can cost as much as the fit itself; ``verbose=1`` shows its
    progress.

    **Inference on new data** (:meth:`transform`). For each new sample the candidate
    starts (the component means, or draws from each component) are scored by
    ``log p(x | z) + log p(z)``, and the ``transform_n_starts`` best ones are each
    optimised for ``transform_epochs`` Adam steps with the decoder and the mixture frozen;
    the end point with the highest ``log p(x | z) + log p(z)`` is kept. Each sample is
    optimised independently of the others, so the result does not depend on the batch.
    This is slower than an encoder (the DGD paper's caveat) and its result depends on
    ``transform_epochs``, ``transform_learning_rate`` and ``transform_n_starts``: the
    training representations ``embedding_`` come from the joint optimisation and are not
    equal to ``transform(X_train)``. Measured on MNIST (10k training images, latent 5,
    50 steps of 0.05, 1,000 images each): from the single best start, the transforms of
    training images reached a mean log joint of -105.8 against -93.7 for their
    ``embedding_`` and agreed with ``labels_`` at ARI 0.68; from the 3 best starts they
    reached -94.3 and 0.89, and the cluster ARI of unseen images rose from 0.43 to 0.50
    (``benchmarks/README.md``).

    ``score_samples`` is the log joint density ``log p(x, z*)`` at the optimised
    representation ``z*`` (what DGD maximises), not the marginal likelihood ``log p(x)``.

    References
    ----------
    .. [1] V. Schuster and A. Krogh, "The deep generative decoder: MAP estimation of
       representations improves modelling of single-cell RNA data", Bioinformatics 39(9),
       btad497, 2023. https://arxiv.org/abs/2110.06672
    .. [2] V. Schuster et al., "multiDGD: a versatile deep generative model for multi-omics
       data", Nature Communications 15, 10031, 2024.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skdeepclust.representation import GMMRepresentation
    >>> X = load_digits().data[:300] / 16
    >>> dgd = GMMRepresentation(n_components=5, latent_dim=4, hidden_layer_sizes=(32,),
    ...                         max_epochs=5, transform_epochs=5, device="cpu",
    ...                         random_state=0).fit(X)
    >>> dgd.embedding_.shape, dgd.labels_.shape
    ((300, 4), (300,))
    >>> dgd.transform(X[:3]).shape
    (3, 4)
    >>> X_new, components = dgd.sample(2)
    >>> X_new.shape
    (2, 64)
    """

    #: ``True`` steps the representations by a per-row Adam
    #: (:class:`~skdeepclust.nn.dgd.RowAdam`): each minibatch step moves only its own rows
    #: (O(batch) instead of O(n_samples); benchmarks/bench_dgd_sparse.py). Off by default:
    #: the defaults panel measured it below dense Adam on the 384-D embedding set (seed 1:
    #: ACC 0.862 against 0.956), not yet understood.
    _lazy_representations = False

    _parameter_constraints: dict = {
        **TorchEstimator._parameter_constraints,
        "warm_start": ["boolean"],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "latent_dim": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "covariance_type": [StrOptions({*_COVARIANCE_TYPES, "auto"})],
        "softball_radius": [Interval(Real, 0, None, closed="neither")],
        "softball_sharpness": [Interval(Real, 0, None, closed="neither")],
        "component_std": [Interval(Real, 0, None, closed="neither"), None],
        "log_var_prior_std": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "dirichlet_alpha": [Interval(Real, 0, None, closed="neither")],
        "hidden_layer_sizes": ["array-like"],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "output_distribution": [StrOptions(set(OUTPUT_DISTRIBUTIONS))],
        "library_size": ["boolean"],
        "n_components_per_class": [Interval(Integral, 1, None, closed="left"), None],
        "init": [StrOptions({*_INITS, "auto"}), "array-like", HasMethods(["fit", "transform"])],
        "batch_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "max_epochs": [Interval(Integral, 0, None, closed="left"), StrOptions({"auto"})],
        "representation_learning_rate": [Interval(Real, 0, None, closed="neither")],
        "representation_step": [StrOptions({"batch", "epoch"})],
        "gmm_learning_rate": [Interval(Real, 0, None, closed="neither")],
        "adam_betas": ["array-like"],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "reassign_every": [Interval(Integral, 1, None, closed="left"), None],
        "transform_epochs": [Interval(Integral, 0, None, closed="left")],
        "transform_learning_rate": [Interval(Real, 0, None, closed="neither"), None],
        "transform_n_starts": [Interval(Integral, 1, None, closed="left")],
        "resample": [StrOptions(set(_RESAMPLE))],
        "n_resample": [Interval(Integral, 1, None, closed="left")],
    }

    _tour = {"params": {"n_components": 10}, "data": "unit"}

    def __init__(
        self,
        n_components=10,
        *,
        latent_dim="auto",
        covariance_type="auto",
        softball_radius=2.0,
        softball_sharpness=5.0,
        component_std=None,
        log_var_prior_std="auto",
        dirichlet_alpha=1.0,
        hidden_layer_sizes=(100, 100),
        activation="relu",
        output_distribution="gaussian",
        library_size=True,
        n_components_per_class=None,
        init="auto",
        learning_rate=5e-4,
        representation_learning_rate=1e-2,
        representation_step="batch",
        gmm_learning_rate=1e-2,
        adam_betas=(0.5, 0.7),
        weight_decay=1e-4,
        batch_size="auto",
        max_epochs="auto",
        tol=1e-3,
        n_iter_no_change=10,
        reassign_every=None,
        transform_epochs=30,
        transform_learning_rate=0.05,
        transform_n_starts=3,
        resample="mean",
        n_resample=1,
        warm_start=False,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.latent_dim = latent_dim
        self.covariance_type = covariance_type
        self.softball_radius = softball_radius
        self.softball_sharpness = softball_sharpness
        self.component_std = component_std
        self.log_var_prior_std = log_var_prior_std
        self.dirichlet_alpha = dirichlet_alpha
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.output_distribution = output_distribution
        self.library_size = library_size
        self.n_components_per_class = n_components_per_class
        self.init = init
        self.learning_rate = learning_rate
        self.representation_learning_rate = representation_learning_rate
        self.representation_step = representation_step
        self.gmm_learning_rate = gmm_learning_rate
        self.adam_betas = adam_betas
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.reassign_every = reassign_every
        self.transform_epochs = transform_epochs
        self.transform_learning_rate = transform_learning_rate
        self.transform_n_starts = transform_n_starts
        self.resample = resample
        self.n_resample = n_resample
        self.warm_start = warm_start
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ checks
    @property
    def _supervised(self) -> bool:
        return self.n_components_per_class is not None

    @property
    def _output_cls(self):
        return OUTPUT_DISTRIBUTIONS[self.output_distribution]

    def _check_values(self, X: np.ndarray) -> None:
        """Data-range checks of the output law (fit and every transform)."""
        law = self._output_cls
        if law.nonnegative and X.size and float(X.min()) < 0:
            raise ValueError(
                f"output_distribution={self.output_distribution!r} models counts and needs "
                f"non-negative X; got a minimum of {float(X.min()):.4g}. Use "
                "output_distribution='gaussian' for real-valued data."
            )
        if law.unit_interval and X.size and (float(X.min()) < 0 or float(X.max()) > 1):
            raise ValueError(
                "output_distribution='bernoulli' needs X in [0, 1]; got values in "
                f"[{float(X.min()):.4g}, {float(X.max()):.4g}]. Scale X (e.g. MinMaxScaler) "
                "or use output_distribution='gaussian'."
            )

    def _check_params_vs_input(self, X: np.ndarray, n_mixture: int) -> None:
        sizes = np.asarray(self.hidden_layer_sizes)
        if sizes.ndim != 1 or (
            sizes.size and (not np.issubdtype(sizes.dtype, np.integer) or sizes.min() < 1)
        ):
            raise ValueError(
                "hidden_layer_sizes must be a sequence of positive ints; got "
                f"{self.hidden_layer_sizes!r}."
            )
        betas = np.asarray(self.adam_betas, dtype=float)
        if betas.shape != (2,) or not np.all((betas >= 0) & (betas < 1)):
            raise ValueError(
                f"adam_betas must be two numbers in [0, 1); got {self.adam_betas!r}."
            )
        n = X.shape[0]
        if n < n_mixture:
            raise ValueError(
                f"n_samples={n} should be >= the number of mixture components={n_mixture}."
            )
        if _is_estimator(self._init):
            ae = getattr(self._init, "estimator", self._init)  # sklearn.frozen.FrozenEstimator
            if not isinstance(ae, AutoEncoder):
                raise TypeError(
                    "init must be 'pca', 'random', 'autoencoder', an array of starting "
                    "representations or a skdeepclust.representation.AutoEncoder; got "
                    f"{type(ae).__name__}."
                )
            if ae.n_components != self._latent_dim:
                raise ValueError(
                    f"init is an AutoEncoder with n_components={ae.n_components}, but "
                    f"latent_dim={self._latent_dim}: its codes are the starting "
                    "representations, so the two must agree."
                )
            if hasattr(ae, "module_") and ae.n_features_in_ != X.shape[1]:
                raise ValueError(
                    f"X has {X.shape[1]} features, but the fitted AutoEncoder given as init "
                    f"expects {ae.n_features_in_} features."
                )
        elif not isinstance(self._init, str):
            init = np.asarray(self._init)
            if init.shape != (n, self._latent_dim):
                raise ValueError(
                    f"init as an array must have shape (n_samples, latent_dim) = "
                    f"({n}, {self._latent_dim}); got {init.shape}."
                )
            if not np.issubdtype(init.dtype, np.number) or not np.all(np.isfinite(init)):
                raise ValueError("init as an array must hold finite numbers.")
        self._check_values(X)

    def _encode_labels(self, y, n_samples: int) -> np.ndarray:
        """Class indices for y at fit time (-1 for unlabelled); sets classes_."""
        if y is None:
            raise ValueError(
                "n_components_per_class is set, so fit needs class labels y (use -1 for "
                "unlabelled samples), or set n_components_per_class=None to cluster "
                "without labels."
            )
        y = column_or_1d(y, warn=True)
        check_consistent_length(np.empty(n_samples), y)
        check_classification_targets(y)
        unlabelled = _unlabelled_mask(y)
        classes = np.unique(y[~unlabelled])
        if classes.size == 0:
            raise ValueError("y has no labelled sample (every label is -1).")
        codes = np.full(n_samples, UNLABELLED, dtype=np.int64)
        codes[~unlabelled] = np.searchsorted(classes, y[~unlabelled])
        counts = np.bincount(codes[~unlabelled], minlength=classes.size)
        m = self.n_components_per_class
        if counts.min() < m:
            bad = classes[np.argmin(counts)]
            raise ValueError(
                f"class {bad!r} has {counts.min()} labelled sample(s), fewer than "
                f"n_components_per_class={m}."
            )
        self.classes_ = classes
        return codes

    def _label_codes(self, y, n_samples: int) -> np.ndarray | None:
        """Class indices for y at predict time; unseen classes are an error."""
        if y is None:
            return None
        if not self._supervised:
            raise ValueError(
                "y can be given to transform/score_samples only for a supervised model "
                "(n_components_per_class set)."
            )
        y = column_or_1d(y, warn=True)
        check_consistent_length(np.empty(n_samples), y)
        unlabelled = _unlabelled_mask(y)
        seen = np.isin(y, self.classes_) | unlabelled
        if not seen.all():
            unseen = np.unique(y[~seen])
            raise ValueError(
                f"y contains labels not seen in fit: {unseen.tolist()}; the fitted classes_ "
                f"are {self.classes_.tolist()} (-1 marks an unlabelled sample)."
            )
        codes = np.full(n_samples, UNLABELLED, dtype=np.int64)
        codes[~unlabelled] = np.searchsorted(self.classes_, y[~unlabelled])
        return codes

    # ------------------------------------------------------------------ fitting
    def _initial_state(self, X: np.ndarray, codes: np.ndarray | None, rng, n_mixture: int):
        """Initial representations, mixture means and the initial within-cluster std."""
        n, d = X.shape
        k = self._latent_dim
        Z = np.zeros((n, k))
        autoencoder = None
        by_autoencoder = isinstance(self._init, str) and self._init == "autoencoder"
        if by_autoencoder or _is_estimator(self._init):
            Z, autoencoder = self._autoencoder_codes(X, rng)
        elif not isinstance(self._init, str):
            Z = np.array(self._init, dtype=np.float64)  # a copy: the user's array stays
        elif self._init == "pca":
            n_pc = min(k, n, d)
            Z[:, :n_pc] = _pca_scores(X, n_pc, self._output_cls.nonnegative, rng)
        else:
            Z = rng.standard_normal((n, k))
        rms = float(np.sqrt(np.mean(np.sum(Z * Z, axis=1))))
        scale = 0.5 * self.softball_radius / rms if rms > 0 else 1.0
        Z *= scale
        mixture = None
        if codes is None and self._mixture_init == "em":
            mixture = _em_mixture(Z, n_mixture, self._covariance_type, rng)
            centers, labels = mixture[0], mixture[3]
        elif codes is None:
            centers, labels = _kmeans(Z, n_mixture, rng)
        else:
            centers, labels = self._class_kmeans(Z, codes, rng)
        within = float(np.sqrt(np.mean((Z - centers[labels]) ** 2)))
        if not within > 0:
            within = 2.0 * self.softball_radius / (10.0 * n_mixture)
        warm = None if autoencoder is None else (autoencoder, scale)
        return Z, centers, within, warm, mixture

    def _autoencoder_codes(self, X: np.ndarray, rng) -> tuple[np.ndarray, AutoEncoder]:
        """An autoencoder's codes of X (init="autoencoder") and the fitted autoencoder."""
        nonnegative = self._output_cls.nonnegative
        data = np.log1p(X) if nonnegative else X
        seed = seed_from(rng)  # drawn in every case, so the later draws do not shift
        if _is_estimator(self._init):
            ae = self._init
        else:
            bernoulli = self.output_distribution == "bernoulli"
            ae = AutoEncoder(
                self._latent_dim,
                hidden_layer_sizes=tuple(int(h) for h in self.hidden_layer_sizes)[::-1],
                activation=self.activation,
                output_activation="sigmoid" if bernoulli else "identity",
                loss="cross_entropy" if bernoulli else "squared",
                max_epochs=_INIT_AE_EPOCHS,
                batch_size=self._batch_size,
                tol=None,
            )
        ae = self._fit_nested(ae, data, seed)
        return np.asarray(ae.transform(data), dtype=np.float64), ae

    def _copy_decoder(self, ae: AutoEncoder, scale: float) -> bool:
        """Start the decoder from the autoencoder's when the two compute the same thing.

        That is: the same widths and activation, and an output that means what this
        model's output law reads from it (a sigmoid for "bernoulli": the logits; the
        identity for "gaussian": the mean). The first layer's weights are divided by
        ``scale``, the factor the codes were scaled by, so that the copy maps the scaled
        codes as the original mapped the codes. Returns whether the decoder was copied.
        Not for the count laws: their autoencoder learns ``log1p(X)``, and its hidden
        layers under a fresh output layer scrambled the codes in a test (ARI 1.0 from
        the codes alone, 0.57 with the hidden layers copied).
        """
        source = getattr(ae.module_, "decoder", None)
        law = self.output_distribution
        same_output = (law == "bernoulli" and ae.output_activation == "sigmoid") or (
            law == "gaussian" and ae.output_activation == "identity"
        )
        if not (same_output and isinstance(source, MLP) and ae.activation == self.activation):
            return False  # tied weights, another output or activation: the codes only
        src, dst = source.linears, self.module_.decoder.net.linears
        if len(src) != len(dst) or any(
            a.weight.shape != b.weight.shape for a, b in zip(src, dst)
        ):
            return False
        with torch.no_grad():
            for i, (a, b) in enumerate(zip(src, dst)):
                b.weight.copy_(a.weight / scale if i == 0 else a.weight)
                offset = getattr(a, "offset", None)  # a centered layer: W (x - o) + b
                bias = a.bias if offset is None else a.bias - a.weight @ offset
                b.bias.copy_(bias)
        return True

    def _class_kmeans(self, Z, codes, rng):
        m = self.n_components_per_class
        n_classes = self.classes_.size
        centers = np.zeros((n_classes * m, Z.shape[1]))
        for c in range(n_classes):
            rows = codes == c
            centers[c * m : (c + 1) * m] = _kmeans(Z[rows], m, rng)[0]
        # labelled rows belong to their class's nearest component, the rest to the nearest
        dist = ((Z[:, None, :] - centers[None]) ** 2).sum(-1)
        labelled = codes != UNLABELLED
        own = np.arange(n_classes * m)[None, :] // m == codes[:, None]
        dist = np.where(labelled[:, None] & ~own, np.inf, dist)
        return centers, dist.argmin(1)

    def _make_module(self, n_features: int, n_mixture: int, component_std: float) -> DGDModel:
        decoder = DeepGenerativeDecoder(
            self._latent_dim,
            n_features,
            tuple(int(s) for s in self.hidden_layer_sizes),
            output_distribution=self.output_distribution,
            activation=self.activation,
        )
        kwargs = {
            "covariance_type": self._covariance_type,
            "softball_radius": self.softball_radius,
            "softball_sharpness": self.softball_sharpness,
            "component_std": component_std,
            "log_var_prior_std": self._log_var_prior_std,
            "dirichlet_alpha": self.dirichlet_alpha,
        }
        if self._supervised:
            prior = SupervisedGaussianMixturePrior(
                self.classes_.size, self.n_components_per_class, self._latent_dim, **kwargs
            )
        else:
            prior = GaussianMixturePrior(n_mixture, self._latent_dim, **kwargs)
        return DGDModel(decoder, prior)

    def _resolve_auto(self, X: np.ndarray, n_mixture: int) -> None:
        """Resolve the "auto" parameters for this X into private attributes (see Notes)."""
        n, d = X.shape
        self._init = init = self._resolved("init", "pca")
        if _is_estimator(init):  # "auto" latent size: the width of a given start, else <= 10
            auto_latent = int(getattr(init, "estimator", init).n_components)
        elif not isinstance(init, str) and np.ndim(init) == 2:
            auto_latent = int(np.shape(init)[1])
        else:
            auto_latent = min(_AUTO_LATENT, d)
        self._latent_dim = int(self._resolved("latent_dim", auto_latent))
        # full when a component has, on average, a sample per parameter
        per_component = self._latent_dim * (self._latent_dim + 1) / 2
        auto_cov = "full" if n / n_mixture >= per_component else "diag"
        self._covariance_type = _COVARIANCE_TYPES[self._resolved("covariance_type", auto_cov)]
        # unsupervised: the mixture starts from EM; supervised: per-class k-means
        self._mixture_init = "kmeans" if self._supervised else "em"
        auto_lv = 0.3 if self._mixture_init == "em" else 0.1
        self._log_var_prior_std = float(self._resolved("log_var_prior_std", auto_lv))
        self._batch_size = int(self._resolved("batch_size", min(128, max(16, n // 8))))
        n_batches = -(-n // self._batch_size)
        auto_epochs = min(100, max(20, _AUTO_STEPS // n_batches))
        self._max_epochs = int(self._resolved("max_epochs", auto_epochs))

    def _library(self, X_t: Tensor) -> Tensor | None:
        if self._output_cls.uses_library and self.library_size:
            return X_t.sum(1)
        return None

    def _initialize(self, X, y) -> None:
        for attr in ("classes_", "component_classes_"):
            self.__dict__.pop(attr, None)
        if self._supervised:
            codes = self._encode_labels(y, X.shape[0])
            n_mixture = self.classes_.size * self.n_components_per_class
        else:
            codes = None
            n_mixture = self.n_components
        self._resolve_auto(X, n_mixture)
        self._check_params_vs_input(X, n_mixture)
        rng = self._rng
        Z0, centers, within, warm, mixture = self._initial_state(X, codes, rng, n_mixture)
        std = self.component_std if self.component_std is not None else within
        self.module_ = self._build_module_seeded(
            lambda: self._make_module(X.shape[1], n_mixture, std)
        )
        self._transform_seed = seed_from(rng)
        X_t = self._to_tensor(X)
        library = self._library(X_t)
        prior = self.module_.prior
        with torch.no_grad():
            prior.means.copy_(torch.as_tensor(centers, dtype=prior.means.dtype))
            if mixture is not None:
                _set_mixture(prior, *mixture[1:3])
                prior.anchor_log_var()
        if warm is None or not self._copy_decoder(*warm):
            self.module_.decoder.init_output_bias(X_t, library)
        self._start_state = (Z0, codes)

    def _resume_fit(self, X, y) -> None:
        n_mixture = self.means_.shape[0]
        self._resolve_auto(X, n_mixture)  # the training values follow set_params
        self._check_params_vs_input(X, n_mixture)
        if X.shape[0] != self.embedding_.shape[0]:
            raise ValueError(
                f"warm_start=True continues the representations of the {self.embedding_.shape[0]}"
                f" training rows, but X has {X.shape[0]} rows: fit again with the same X, "
                "or use transform for other rows."
            )
        codes = self._encode_labels(y, X.shape[0]) if self._supervised else None
        self._start_state = (self.embedding_, codes)

    def _train(self, X, y, *, partial: bool):
        Z0, codes = self.__dict__.pop("_start_state")
        X_t = self._to_tensor(X)
        library = self._library(X_t)
        prior = self.module_.prior
        z0 = torch.as_tensor(Z0, device=self._device, dtype=self._torch_dtype)
        y_t = None if codes is None else torch.as_tensor(codes, device=self._device)
        if library is not None:
            log_lib = torch.log(library.clamp_min(1.0)).to(torch.float64)
            self._log_library = (float(log_lib.mean()), float(log_lib.std(correction=0)))
        betas = tuple(float(b) for b in self.adam_betas)
        decoder = self.module_.decoder
        groups = [
            {"params": list(decoder.net.parameters()), "lr": self.learning_rate,
             "weight_decay": self.weight_decay, "betas": betas},
            {"params": [*prior.parameters(), *decoder.output.parameters()],
             "lr": self.gmm_learning_rate, "weight_decay": 0.0, "betas": betas},
        ]
        per_epoch = self.representation_step == "epoch"
        n = X.shape[0]
        model = self.module_
        model.train()
        if self._lazy_representations:
            # Per-row Adam on a plain tensor: a minibatch step reads and moves only its
            # own rows (O(batch) instead of O(n) per step; see RowAdam for the difference).
            z = z0.clone()
            z_optimizer = RowAdam(z, self.representation_learning_rate, betas)
            z_grad = torch.zeros_like(z) if per_epoch else None

            def z_rows(idx: Tensor) -> Tensor:
                zb = z[idx].requires_grad_()

                def on_grad(g: Tensor) -> None:  # during backward: nothing else reads z
                    if per_epoch:  # sum the minibatches' gradients; one step per epoch
                        z_grad.index_add_(0, idx, g)
                    else:
                        z_optimizer.step(idx, g)

                zb.register_hook(on_grad)
                return zb

            def z_epoch_step() -> None:
                z_optimizer.step(torch.arange(n, device=z.device), z_grad)
                z_grad.zero_()
        else:  # dense Adam over every row (the optimiser before RowAdam)
            z = torch.nn.Parameter(z0)
            z_group = {"params": [z], "lr": self.representation_learning_rate,
                       "weight_decay": 0.0, "betas": betas}
            if per_epoch:  # z.grad sums the minibatches' gradients; one step per epoch
                z_optimizer = make_optimizer("adam", [z_group], learning_rate=z_group["lr"])
            else:
                groups.append(z_group)

            def z_rows(idx: Tensor) -> Tensor:
                return z[idx]

            def z_epoch_step() -> None:
                z_optimizer.step()
                z.grad = None
        optimizer = make_optimizer("adam", groups, learning_rate=self.learning_rate)

        def step(idx: Tensor) -> Tensor:
            lib = None if library is None else library[idx]
            yb = None if y_t is None else y_t[idx]
            return model.loss(z_rows(idx), X_t[idx], n, lib, yb)

        every = self.reassign_every
        window = int(self.n_iter_no_change)
        n_batches = -(-n // min(self._batch_size, n))
        history = deque(maxlen=window + 1)  # the partition at the end of each epoch

        def on_epoch_end(epoch: int, loss: float) -> bool:
            if per_epoch:
                z_epoch_step()
            if every and (epoch + 1) % every == 0 and epoch + 1 < self._max_epochs:
                self._reassign(z, X_t, library, y_t)
            if self.tol is None:
                return False
            history.append(self._components(z))
            if len(history) <= window or (epoch + 1) * n_batches < _MIN_STEPS:
                return False
            return bool(torch.mean((history[0] != history[-1]).double()) <= self.tol)

        result = train_loop(
            step,
            n_samples=n,
            batch_size=self._batch_size,
            max_epochs=self._max_epochs,
            generator=self._generator,
            optimizer=optimizer,
            phase="GMMRepresentation",
            verbose=self.verbose,
            on_epoch_end=on_epoch_end,
            result=self._history,
            suggestion="Try a smaller learning_rate or representation_learning_rate, "
            "standardize the input, or compute in float64 "
            "(skdeepclust.set_config(compute_dtype='float64')).",
        )
        with torch.no_grad():
            self.embedding_ = to_numpy(z, self._dtype)
            labels = to_numpy(self._predict_z(z))
        self.labels_ = self.classes_[labels] if self._supervised else labels
        return result

    def _finish_fit(self, X, y, result, *, partial: bool) -> None:
        self._store_mixture()
        if self.tol is not None:
            warn_unconverged(
                self, result, phase="fit", max_epochs=self._max_epochs,
                rule=f"the partition was stable (at most tol={self.tol} of the samples "
                f"changed component over {self.n_iter_no_change} epochs)",
                advice="increase max_epochs, or a larger tol where boundary samples keep "
                "switching components, or set tol=None to run a fixed number of epochs",
                stacklevel=5,
            )
        if not self._supervised:
            warn_partition(
                self, self.labels_, self.n_components, phase="fit", what="components",
                advice="try another random_state, a smaller n_components, "
                "covariance_type='full' or init='autoencoder'",
                stacklevel=5,
            )

    def _components(self, z: Tensor) -> Tensor:
        """Most probable component of each training representation (the tol rule)."""
        prior = self.module_.prior
        chunk = self._inference_batch_size()
        with torch.no_grad():
            return torch.cat([prior.predict(z[i : i + chunk])
                              for i in range(0, z.shape[0], chunk)])

    def _reassign(self, z: Tensor, X_t: Tensor, library, y_t) -> None:
        """Move each training representation to a component mean that explains it better."""
        model = self.module_
        with torch.no_grad():
            cand, cand_comp = model.prior.candidates("mean")
            chunk = self._inference_batch_size()
            for start in range(0, X_t.shape[0], chunk):
                rows = slice(start, start + chunk)
                x = X_t[rows]
                lib = None if library is None else library[rows]
                y = None if y_t is None else y_t[rows]
                current = model.log_joint(z[rows], x, lib, y)
                best_z, best = self._best_start(x, lib, y, cand, cand_comp)
                better = best > current
                z[rows][better] = best_z[better]

    def _store_mixture(self) -> None:
        prior = self.module_.prior
        self.means_ = to_numpy(prior.means, self._dtype).copy()
        if prior.covariance_type == "full":
            self.covariances_ = to_numpy(prior.covariances, self._dtype).copy()
        else:
            var = to_numpy(prior.variances, self._dtype).copy()
            self.covariances_ = var if prior.covariance_type == "diagonal" else var[:, 0].copy()
        self.weights_ = to_numpy(prior.weights, self._dtype).copy()
        if self._supervised:
            self.component_classes_ = self.classes_[to_numpy(prior.component_class)]
        output = self.module_.decoder.output
        self.__dict__.pop("dispersion_", None)  # from an earlier fit with another law
        if hasattr(output, "dispersion"):
            self.dispersion_ = to_numpy(output.dispersion().detach(), self._dtype).copy()

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn the decoder, the representations and the mixture.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), default=None
            Class labels, used only when ``n_components_per_class`` is set (-1 marks an
            unlabelled sample); ignored otherwise.

        Returns
        -------
        self : GMMRepresentation
        """
        return self._fit_template(X, y, partial=False)

    def fit_transform(self, X, y=None):
        """Fit and return the learned training representations ``embedding_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), default=None
            See :meth:`fit`.

        Returns
        -------
        Z : ndarray of shape (n_samples, latent_dim)
        """
        return self.fit(X, y).embedding_.copy()

    # --------------------------------------------------------------- inference
    def _predict_z(self, z: Tensor) -> Tensor:
        prior = self.module_.prior
        if self._supervised:
            return prior.class_log_prob(z).argmax(1)
        return prior.predict(z)

    def _proba_z(self, z: Tensor) -> Tensor:
        prior = self.module_.prior
        return prior.class_posterior(z) if self._supervised else prior.responsibilities(z)

    def _prepare(self, X, y=None):
        X = self._validate_predict_data(X)
        self._check_values(X)
        return X, self._label_codes(y, X.shape[0])

    def _candidates(self):
        """Candidate starts (deterministic for a fitted model)."""
        generator = make_generator(self._transform_seed, self._device)
        with torch.no_grad():
            return self.module_.prior.candidates(self.resample, self.n_resample, generator)

    def _best_start(self, x, library, y, cand, cand_comp, n_starts: int = 1):
        """Per row, the ``n_starts`` candidates with the highest log p(x | z) + log p(z[, y]).

        Returns the starts, shape (b, d) for one start and (b, n_starts, d) otherwise, and
        their scores, shape (b,) or (b, n_starts).
        """
        model = self.module_
        prior = model.prior
        with torch.no_grad():
            lp_z = prior.component_log_prob(cand)  # (C, K)
            scores = []
            for c in range(cand.shape[0]):
                zc = cand[c].expand(x.shape[0], -1)
                scores.append(model.decoder.log_prob(zc, x, library))
            scores = torch.stack(scores, 1)  # (b, C)
            if y is None:
                scores = scores + torch.logsumexp(lp_z, 1)[None, :]
            else:
                member = prior.component_class[None, :] == y[:, None]  # (b, K)
                member = member | (y[:, None] == UNLABELLED)
                masked = lp_z[None, :, :].masked_fill(~member[:, None, :], -torch.inf)
                scores = scores + torch.logsumexp(masked, 2)
                # only candidates drawn from the sample's class compete
                in_class = prior.component_class[cand_comp][None, :] == y[:, None]
                scores = scores.masked_fill(~(in_class | (y[:, None] == UNLABELLED)), -torch.inf)
            if n_starts == 1:
                best, arg = scores.max(1)
                return cand[arg].clone(), best
            best, arg = scores.topk(min(n_starts, scores.shape[1]), dim=1)
            return cand[arg].clone(), best

    def _optimise(self, X: np.ndarray, codes: np.ndarray | None) -> Tensor:
        """MAP representations of new rows with the decoder and mixture frozen."""
        model = self.module_
        was_training = model.training
        model.eval()
        cand, cand_comp = self._candidates()
        lr = self.transform_learning_rate or self.representation_learning_rate
        betas = tuple(float(b) for b in self.adam_betas)
        n_starts = int(self.transform_n_starts)
        chunk = max(1, self._inference_batch_size() // n_starts)
        out = []
        bar = tqdm(total=X.shape[0], desc="GMMRepresentation.transform", unit="sample",
                   disable=not self.verbose, leave=False)
        try:
            for start in range(0, X.shape[0], chunk):
                x = self._to_tensor(X[start : start + chunk])
                library = self._library(x)
                y = None
                if codes is not None:
                    y = torch.as_tensor(codes[start : start + chunk], device=self._device)
                b = x.shape[0]
                if n_starts > 1:  # every start is one more row: (b, m, d) -> (b * m, d)
                    starts = self._best_start(x, library, y, cand, cand_comp, n_starts)[0]
                    m = starts.shape[1]
                    z0 = starts.reshape(b * m, -1)
                    x = x.repeat_interleave(m, dim=0)
                    library = None if library is None else library.repeat_interleave(m)
                    y = None if y is None else y.repeat_interleave(m)
                else:
                    m, z0 = 1, self._best_start(x, library, y, cand, cand_comp)[0]
                z = torch.nn.Parameter(z0)
                opt = torch.optim.Adam([z], lr=lr, betas=betas, foreach=False)

                def step(idx, z=z, x=x, library=library, y=y, opt=opt):
                    with torch.enable_grad():
                        per_sample = -model.log_joint(z, x, library, y)
                        (grad,) = torch.autograd.grad(per_sample.sum(), z)
                    z.grad = grad
                    opt.step()
                    return per_sample.detach().mean()

                train_loop(
                    step,
                    n_samples=x.shape[0],
                    batch_size=x.shape[0],
                    max_epochs=self.transform_epochs,
                    generator=make_generator(0, self._device),
                    shuffle=False,
                    phase="GMMRepresentation.transform",
                    verbose=0,
                    suggestion="Try a smaller transform_learning_rate.",
                )
                z = z.detach()
                if m > 1:  # keep, per sample, the start that ended with the best log joint
                    with torch.no_grad():
                        final = model.log_joint(z, x, library, y).reshape(b, m)
                    z = z.reshape(b, m, -1)[torch.arange(b, device=z.device), final.argmax(1)]
                out.append(z)
                bar.update(b)
        finally:
            bar.close()
            model.train(was_training)
        return torch.cat(out)

    def transform(self, X, y=None):
        """Representations of new samples, optimised with the model frozen (see Notes).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), default=None
            Supervised models only: known classes of the new samples (-1 for unknown);
            each sample then starts from and is scored by its class's components.

        Returns
        -------
        Z : ndarray of shape (n_samples, latent_dim)
        """
        X, codes = self._prepare(X, y)
        return to_numpy(self._optimise(X, codes), X.dtype)

    def predict(self, X):
        """Most probable component (class when supervised) of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        X, _ = self._prepare(X)
        with torch.no_grad():
            labels = to_numpy(self._predict_z(self._optimise(X, None)))
        return self.classes_[labels] if self._supervised else labels

    def predict_proba(self, X):
        """Posterior probability of each component (class when supervised).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_mixture_components) or (n_samples, n_classes)
        """
        X, _ = self._prepare(X)
        with torch.no_grad():
            return to_numpy(self._proba_z(self._optimise(X, None)), X.dtype)

    def score_samples(self, X, y=None):
        """Log joint density ``log p(x | z*) + log p(z*)`` at the optimised ``z*``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), default=None
            Supervised models only: ``log p(x | z*) + log p(z*, y)``.

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
        """
        X, codes = self._prepare(X, y)
        z = self._optimise(X, codes)
        y_t = None if codes is None else torch.as_tensor(codes, device=self._device)
        with torch.no_grad():
            x = self._to_tensor(X)
            return to_numpy(self.module_.log_joint(z, x, self._library(x), y_t), X.dtype)

    def score(self, X, y=None):
        """Mean of :meth:`score_samples` (higher is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        score : float
        """
        return float(np.mean(self.score_samples(X)))

    def _library_for(self, n: int, generator: torch.Generator | None = None) -> Tensor | None:
        """Library sizes for decoding without data: the training geometric mean, or draws."""
        if not (self._output_cls.uses_library and self.library_size):
            return None
        mean, std = self._log_library
        if generator is None:
            log_lib = torch.full((n,), mean, dtype=torch.float64, device=self._device)
        else:
            eps = torch.randn(n, generator=generator, dtype=torch.float64, device=self._device)
            log_lib = mean + std * eps
        return torch.exp(log_lib).to(self._torch_dtype)

    def inverse_transform(self, X):
        """Decode representations: the mean of ``p(x | z)``.

        For the count laws with ``library_size=True`` the library size is the training
        set's geometric mean.

        Parameters
        ----------
        X : array-like of shape (n_samples, latent_dim)

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
        """
        Z = self._validate_codes(X, self._latent_dim,
                                 f"representations with latent_dim={self._latent_dim}")
        decoder = self.module_.decoder
        return self._inference(lambda z: decoder.mean(z, self._library_for(z.shape[0])), Z)

    def sample(self, n_samples=1):
        """Generate samples from the fitted model.

        Parameters
        ----------
        n_samples : int, default=1

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        labels : ndarray of shape (n_samples,)
            The component of each sample (its class when supervised).
        """
        check_is_fitted(self)
        if not (isinstance(n_samples, Integral) and n_samples >= 1):
            raise ValueError(f"n_samples={n_samples!r} should be an int >= 1.")
        rng = check_random_state(self.random_state)
        generator = make_generator(seed_from(rng), self._device)
        model = self.module_
        with torch.no_grad():
            z, comp = model.prior.sample(int(n_samples), generator)
            library = self._library_for(int(n_samples), generator)
            X = model.decoder.sample(z, library, generator)
        labels = to_numpy(comp)
        if self._supervised:
            labels = self.component_classes_[labels]
        return to_numpy(X, self._dtype), labels

    # ------------------------------------------------------------- attributes
    @property
    def _n_features_out(self) -> int:
        return self._latent_dim

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


def _unlabelled_mask(y: np.ndarray) -> np.ndarray:
    if y.dtype.kind in "iuf":
        return y == UNLABELLED
    return np.zeros(y.shape, dtype=bool)


def _is_estimator(init) -> bool:
    return hasattr(init, "fit") and hasattr(init, "transform")


#: Bytes of the float64 chunk of rows of the PCA initialisation, and the widest data it
#: does by covariance.
_PCA_CHUNK_BYTES = 16 * 2**20
_PCA_MAX_COVARIANCE_FEATURES = 4096


def _pca_scores(X: np.ndarray, n_components: int, log1p: bool, rng) -> np.ndarray:
    """PCA scores of ``X`` (of ``log1p(X)`` when ``log1p``), float64, without a copy of X.

    The covariance is summed in float64 over chunks of rows (each shifted by the first
    chunk's mean, so that large means cost no precision), its top eigenvectors signed as
    scikit-learn's ``PCA`` signs its components (largest absolute loading positive), and
    the scores projected chunk by chunk: the same scores as ``PCA(n_components)`` on a
    float64 copy of the data, with extra memory O(chunk x d + d^2) instead of 2-3 copies
    of ``X``. Data wider than ``_PCA_MAX_COVARIANCE_FEATURES`` goes to scikit-learn's
    randomized PCA in its own dtype.
    """
    n, d = X.shape
    chunk = max(64, _PCA_CHUNK_BYTES // (8 * d))

    def rows(start: int, center: np.ndarray) -> np.ndarray:
        block = np.array(X[start : start + chunk], dtype=np.float64)  # a copy, never X
        if log1p:
            np.log1p(block, out=block)
        block -= center
        return block

    if d > _PCA_MAX_COVARIANCE_FEATURES:
        data = np.log1p(X) if log1p else X
        pca = PCA(n_components, svd_solver="randomized", random_state=rng)
        return pca.fit_transform(data).astype(np.float64, copy=False)
    shift = rows(0, np.zeros(d)).mean(axis=0)
    total = np.zeros(d)
    scatter = np.zeros((d, d))
    for start in range(0, n, chunk):
        block = rows(start, shift)
        total += block.sum(axis=0)
        scatter += block.T @ block
    offset = total / n
    covariance = scatter / n - np.outer(offset, offset)
    _, vectors = np.linalg.eigh(covariance)
    components = vectors[:, ::-1][:, :n_components].T  # largest variance first
    pivot = np.argmax(np.abs(components), axis=1)
    components *= np.sign(components[np.arange(n_components), pivot])[:, None]
    mean = shift + offset
    scores = np.empty((n, n_components))
    for start in range(0, n, chunk):
        scores[start : start + chunk] = rows(start, mean) @ components.T
    return scores


def _kmeans(Z: np.ndarray, k: int, rng) -> tuple[np.ndarray, np.ndarray]:
    km = KMeans(k, n_init=3, random_state=rng).fit(Z)
    return km.cluster_centers_, km.labels_


#: covariance_type of the prior -> scikit-learn's, for the EM start of the mixture.
_SKLEARN_COVARIANCE = {"diagonal": "diag", "isotropic": "spherical", "fixed": "spherical",
                       "full": "full"}


def _em_mixture(Z: np.ndarray, k: int, covariance_type: str, rng):
    """A GaussianMixture fitted by EM on the initial representations.

    The most likely of ``_EM_STARTS`` starts among those whose every component holds more
    than ``dim`` samples (fewer make its covariance singular: EM's degenerate optimum on
    an outlier); the most likely overall when none does. Returns means, covariances
    (scikit-learn's layout for the type), weights and labels.
    """
    from sklearn.mixture import GaussianMixture

    best, best_key = None, None
    for _ in range(_EM_STARTS):
        gm = GaussianMixture(k, covariance_type=_SKLEARN_COVARIANCE[covariance_type],
                             reg_covar=_EM_REG * max(float(np.var(Z)), 1e-12),
                             random_state=seed_from(rng)).fit(Z)
        labels = gm.predict(Z)
        counts = np.bincount(labels, minlength=k)
        key = (bool(counts.min() > min(Z.shape[1], Z.shape[0] // k - 1)), gm.lower_bound_)
        if best_key is None or key > best_key:
            best, best_key = (gm.means_, gm.covariances_, gm.weights_, labels), key
    return best


def _set_mixture(prior, covariances: np.ndarray, weights: np.ndarray) -> None:
    """Copy an EM mixture's covariances and weights into the prior's parameters."""
    dtype = prior.means.dtype
    kind = prior.covariance_type
    if kind == "full":
        L = np.linalg.cholesky(covariances)
        prior.log_var.copy_(torch.as_tensor(2 * np.log(np.diagonal(L, axis1=1, axis2=2)),
                                             dtype=dtype))
        prior.scale_offdiag.copy_(torch.as_tensor(np.tril(L, -1), dtype=dtype))
    elif kind == "diagonal":
        prior.log_var.copy_(torch.as_tensor(np.log(covariances), dtype=dtype))
    elif kind == "isotropic":
        prior.log_var.copy_(torch.as_tensor(np.log(covariances)[:, None], dtype=dtype))
    prior.weight_logits.copy_(torch.as_tensor(np.log(np.maximum(weights, 1e-12)), dtype=dtype))
