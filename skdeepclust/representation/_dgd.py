"""GMMRepresentation: the deep generative decoder with a Gaussian-mixture prior (multiDGD).

The estimator: its parameters, their checks and "auto" rules, and the initial state
(built from ``_dgd_init``). The training is in ``_dgd_training``, the fitted model's
methods (inference by optimisation, scores, samples) in ``_dgd_inference`` and the class
labels of the supervised mixture in ``_dgd_labels``.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import (
    ClassNamePrefixFeaturesOutMixin,
    ClusterMixin,
    TransformerMixin,
)
from torch import Tensor

from .._torch import seed_from
from ..base import TorchEstimator
from ..nn.autoencoder import ACTIVATIONS
from ..nn.dgd import OUTPUT_DISTRIBUTIONS, DeepGenerativeDecoder, DGDModel
from ..nn.mixture import GaussianMixturePrior, SupervisedGaussianMixturePrior
from ..utils._sklearn_compat import (
    HasMethods,
    Interval,
    StrOptions,
    _fit_context,
)
from ._autoencoder import AutoEncoder
from ._dgd_inference import DGDInferenceMixin
from ._dgd_init import (
    check_init,
    class_kmeans,
    copy_decoder,
    em_mixture,
    init_autoencoder,
    is_estimator,
    kmeans,
    library_scale,
    pca_scores,
    scale_to_softball,
    set_mixture,
    within_std,
)
from ._dgd_labels import encode_fit_labels
from ._dgd_training import DGDTrainingMixin

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
_RESAMPLE = ("mean", "sample")
#: latent_dim="auto": at most this many dimensions (fewer for fewer features).
_AUTO_LATENT = 10
#: max_epochs="auto": about this many optimizer steps, within [20, 100] epochs. Past
#: about this many steps the joint training moves the partition away from its EM start
#: on data whose decoder keeps finding detail to fit (MNIST-10k: ACC 0.64 at the start,
#: 0.59 after 30 epochs, 0.51 after 100; benchmarks/study_gmmrep_digits.py), while the
#: smaller sets that the training improves reach 100 epochs within it.
_AUTO_STEPS = 2_400
#: degrees_of_freedom="auto" (unsupervised): the Student-t law EM weighs against the
#: Gaussian has this many degrees of freedom.
_AUTO_DOF = 5.0


class GMMRepresentation(
    ClassNamePrefixFeaturesOutMixin,
    ClusterMixin,
    DGDTrainingMixin,
    DGDInferenceMixin,
    TransformerMixin,
    TorchEstimator,
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
    optimisation with the decoder and the mixture frozen (see :meth:`transform`).

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
    degrees_of_freedom : float, "auto" or None, default="auto"
        The law of the mixture components. ``None``: Gaussian (multiDGD's mixture). A
        number ``nu > 0``: multivariate Student-t with ``nu`` degrees of freedom (fixed,
        not learned), from the EM start to the end of training. A t component's tails
        fall polynomially, so that a few far samples neither widen it nor make a broad
        second component around a tight one the most likely fit, the failure of a
        Gaussian mixture on heavy-tailed data (see Notes). Smaller values give heavier
        tails; from about 30 on a t is close to a Gaussian. "auto": unsupervised, the law
        that predicts unseen representations better, Gaussian or t with 5 degrees of
        freedom: the starting representations are split into halves at random (three times),
        a mixture of each law is fitted by EM on one half and scored by the
        log-likelihood of the other (cross-validated likelihood; the two laws have the
        same parameters), and the EM start then fits the winner on all rows; when a half
        would hold fewer than 2 rows per component, the more likely law in-sample.
        Supervised, Gaussian. The choice is in ``degrees_of_freedom_``.
    hidden_layer_sizes : tuple of int, default=(100, 100)
        Hidden widths of the decoder.
    activation : str, default="relu"
        Hidden activation of the decoder (see :data:`skdeepclust.nn.autoencoder.ACTIVATIONS`).
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
        Initial representations: the first ``latent_dim`` principal components (for the
        count laws, of ``log1p(X)``; with ``library_size``, of ``log1p`` of the rows
        scaled to the median row total, so that the start encodes each row's composition
        and not its library size, which the model explains apart), Gaussian draws, an
        autoencoder's codes, or the given array; all are scaled as above. "auto" is "pca".
        Unsupervised, the mixture then starts from a mixture of the same covariance type
        fitted by EM on them (the most likely of 20 starts, of the law
        of ``degrees_of_freedom``; on a random sample of 20 000 rows when there are more):
        means, covariances and weights; supervised, from a k-means partition per class.
        ``"autoencoder"`` first trains an :class:`~skdeepclust.representation.AutoEncoder`
        with ``latent_dim`` codes, the decoder's hidden widths mirrored, for 50 epochs at
        ``batch_size``: a sigmoid output and cross-entropy for "bernoulli", squared error
        otherwise (for the count laws on ``log1p(X)``, with ``library_size`` on ``log1p``
        of the rows scaled to the median row total, as the PCA start). For "bernoulli"
        and "gaussian" the decoder then starts from the autoencoder's decoder as well, so
        the DGD refines a trained generative model instead of fitting a random decoder to
        fixed codes. An ``AutoEncoder`` instance makes these choices yours: an unfitted
        one is cloned and fitted, a fitted one only transforms (X, or the count laws'
        ``log1p`` data); its ``n_components`` must equal ``latent_dim``, and its decoder
        is copied when its widths, activation and output match. ``clone`` (and so
        ``GridSearchCV``) unfits a nested estimator: wrap a fitted one in
        :class:`sklearn.frozen.FrozenEstimator`.
        Try ``"autoencoder"`` on images whose principal components separate the classes
        poorly (e.g. MNIST; benchmarks/README.md); it costs the autoencoder's training.
    learning_rate : float, default=5e-4
        Adam learning rate of the decoder. Half of multiDGD's 1e-3: the faster decoder
        reaches a lower loss but clusters worse (the user guide's "How the defaults were
        chosen").
    representation_learning_rate : float, default=1e-2
        Adam learning rate of the representations.
    representation_step : {"batch", "epoch"}, default="batch"
        When the representations' optimizer steps. ``"epoch"`` accumulates each
        representation's gradient over the epoch (a sample is in one minibatch per epoch) and
        takes one Adam step at the end of it, as the DGD reference training loop does;
        ``"batch"`` steps after every minibatch, like the decoder (one Adam over all
        representations: with ``"batch"`` a representation outside the minibatch still
        moves with Adam's momentum). With ``"epoch"`` the representations take
        ``max_epochs`` steps in all, so they need a larger rate (about 5x); it clustered no
        better than ``"batch"``, so it is not the default.
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
        "auto": about 2 400 optimizer steps, within 20 to 100 epochs
        (``min(100, max(20, 2400 // n_batches))``): 100 epochs up to 24 minibatches per
        epoch (about 3 000 rows at the "auto" batch size), fewer on larger data. Longer
        training keeps lowering the loss (the decoder fits individual samples) but can
        move the partition away from the EM start it refines, and costs more: on
        MNIST-like images the clusters get worse with every further epoch (see
        "Defaults" in Notes).
    tol : float or None, default=1e-3
        Stop when at most a fraction ``tol`` of the training samples left the component
        (class when supervised) they were assigned to with a posterior probability of at
        least 0.9 over the last ``n_iter_no_change`` epochs: the partition is stable, as
        in DEC's rule. Samples on the boundary between two components (posterior near
        1/2) do not count: they switch back and forth under the minibatch noise of the
        representations for as long as training runs. The rule is not checked while the
        epoch loss still falls by more than 5% of its descent since the first epoch over
        the window (the decoder's first phase, in which the partition barely moves).
        A fit that reaches ``max_epochs`` counts as converged (no warning) when, over
        its last window, the loss settled and at most ``tol`` of the samples moved from
        one component to another with a posterior of at least 0.9 at both ends: what
        still switches then ends near a boundary (the stop rule itself stays the
        stricter, so that training refines on while it runs). ``None`` always runs
        ``max_epochs``. The loss is no criterion otherwise: with a
        free representation per sample the decoder keeps fitting individual samples, so
        the MAP loss creeps down for long after the clusters have settled, by less per
        epoch than its minibatch noise. Set ``tol=None`` and a larger
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
        component wins for most samples and the mixture can collapse.
        Useful from a trained decoder (``init="autoencoder"``).
    transform_epochs : int, default=30
        Optimisation steps per new sample in :meth:`transform` (and in every method that
        transforms: ``predict``, ``predict_proba``, ``score_samples``, ``score``). More
        steps reach a better optimum for a proportional cost; the gain past about 30 steps
        at the default rate is small.
    transform_learning_rate : float, default=0.05
        Adam learning rate of those steps; ``None`` uses ``representation_learning_rate``.
        Larger than the training rate: the frozen model is not disturbed by big steps, and
        a few dozen steps of the training rate leave a representation short of its
        optimum.
    transform_n_starts : int, default=3
        How many of the best-scoring candidate starts each new sample is optimised from
        (all in one batch); the one with the highest final ``log p(x | z) + log p(z)`` is
        kept. From a single start the optimisation often ends in a worse local optimum
        than the training representation of the same sample; each extra start
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
        new data (per sample; see :meth:`transform` for its cost).

    Attributes
    ----------
    module_ : skdeepclust.nn.dgd.DGDModel
        The decoder (``module_.decoder``) and mixture (``module_.prior``).
    embedding_ : ndarray of shape (n_samples, latent_dim)
        The learned representations of the training samples (``fit_transform``'s output).
    labels_ : ndarray of shape (n_samples,)
        Most probable component of each training representation ``embedding_`` (its class
        when supervised): the partition the fit found. ``predict(X_train)`` is not read
        from ``embedding_``: it infers each row's representation anew with the model
        frozen (see :meth:`transform`), and may place some boundary rows in another
        component. Defining ``labels_`` by that inference would cluster worse: the fitted
        representations keep the partition of the mixture's EM start, the inference
        follows the decoder alone. The two agree on well-separated clusters; the longer
        the decoder trains past a stable partition, the more they differ.
    means_ : ndarray of shape (n_mixture_components, latent_dim)
    covariances_ : ndarray
        Covariance matrices, shape (n_mixture_components, latent_dim, latent_dim), for
        "full"; variances, shape (n_mixture_components, latent_dim), for "diag" and
        (n_mixture_components,) otherwise (as in :class:`~sklearn.mixture.GaussianMixture`).
        For Student-t components, their scale matrices (the covariance is
        ``nu / (nu - 2)`` times the scale matrix for ``nu > 2``).
    weights_ : ndarray of shape (n_mixture_components,)
    degrees_of_freedom_ : float or None
        The degrees of freedom of the Student-t components, ``None`` for Gaussian ones
        (see ``degrees_of_freedom``).
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
    **Defaults.** The "auto" values are resolved in :meth:`fit` from the data into
    private attributes (the public parameters keep "auto"); each parameter states its
    rule. Together they start from PCA and a mixture fitted by EM on the principal
    components (Gaussian or Student-t components, whichever predicts held-out
    components better), and refine
    both jointly with the decoder, stopping once the partition is stable (``tol``) but not
    before 400 optimizer steps, so that the decoder that ``transform`` and ``predict`` rely
    on is trained, and for at most about 2 400 optimizer steps (``max_epochs``). The
    partition mostly stays that of the EM start; the user guide compares it with that
    pipeline and KMeans. On larger sets of many features (images) the joint training does
    not settle: the decoder keeps fitting detail and the partition drifts away from the
    EM start, so that more epochs cluster worse; the step budget bounds that drift, and
    such a fit warns that its partition was not stable when it reaches ``max_epochs``.

    **Heavy tails.** On data whose principal components are heavy-tailed, the most likely
    Gaussian mixture may split the samples by spread (a tight core and a wide halo
    around it) instead of by cluster: scikit-learn's breast cancer set, standardised,
    two components (benchmarks/study_gmmrep_breast_cancer.py). Student-t components
    explain the far samples by their tails instead, and the t mixture predicts held-out
    samples better there, so ``degrees_of_freedom="auto"`` picks it. The held-out
    likelihood also picks t where full covariances are estimated from few samples per
    parameter (a Gaussian's covariances then follow the samples they were fitted on), and
    Gaussian components on data with Gaussian-like clusters and enough samples per
    component, where t components cluster a little worse (clusters of very unequal
    spread in few dimensions, whose boundary samples the tight components' tails take
    over in training); the benchmarks page has the figures. The in-sample likelihood
    is no fair judge here: it favours whichever law follows the fitted samples more
    closely.

    **New data.** There is no encoder: :meth:`transform` (and every method that
    transforms) finds each new sample's representation by an optimisation, slower than
    an encoder's forward pass and dependent on ``transform_epochs``,
    ``transform_learning_rate`` and ``transform_n_starts``; see :meth:`transform` for how
    and at what cost. ``embedding_`` comes from the joint optimisation and is not equal
    to ``transform(X_train)``.

    **No partial_fit.** The representations are parameters of the training rows, learned
    jointly with the decoder and the mixture over many epochs, so this model cannot learn
    from a stream one pass at a time as the minibatch learners do (a row seen in one pass
    would keep a barely trained representation). For more rows than fit in memory, fit on
    a representative sample and :meth:`transform` or :meth:`predict` the rest (in chunks,
    or block by block on a dask array); ``warm_start=True`` continues a fit on the same
    rows.

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
    ...                         max_epochs=5, tol=None, transform_epochs=5,
    ...                         device="cpu", random_state=0).fit(X)
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
    #: (benchmarks/bench_dgd_sparse.py). Off by default: on the defaults panel's 384-D
    #: embedding set it clustered worse than dense Adam, whose rows keep moving with their
    #: momentum after their own minibatch (about 2.5 times the in-batch step in all at the
    #: default betas). Dense Adam costs O(batch) a step as well on large data (see
    #: ``_dgd_training.TrainingRepresentations``).
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
        "degrees_of_freedom": [Interval(Real, 0, None, closed="neither"), None,
                               StrOptions({"auto"})],
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
        degrees_of_freedom="auto",
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
        self.degrees_of_freedom = degrees_of_freedom
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

    @property
    def _betas(self) -> tuple[float, ...]:
        return tuple(float(b) for b in self.adam_betas)

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
        check_init(self._init, self._latent_dim, X)
        self._check_values(X)

    def _fit_label_codes(self, y, n_samples: int) -> np.ndarray:
        """Class indices for y at fit time (-1 for unlabelled); sets classes_."""
        self.classes_, codes = encode_fit_labels(y, n_samples, self.n_components_per_class)
        return codes

    # ------------------------------------------------------------------ fitting
    def _initial_state(self, X: np.ndarray, codes: np.ndarray | None, rng, n_mixture: int):
        """Initial representations, mixture means and the initial within-cluster std."""
        n, d = X.shape
        k = self._latent_dim
        Z = np.zeros((n, k))
        autoencoder = None
        by_autoencoder = isinstance(self._init, str) and self._init == "autoencoder"
        if by_autoencoder or is_estimator(self._init):
            Z, autoencoder = self._autoencoder_codes(X, rng)
        elif not isinstance(self._init, str):
            Z = np.array(self._init, dtype=np.float64)  # a copy: the user's array stays
        elif self._init == "pca":
            n_pc = min(k, n, d)
            # the count laws with library sizes explain each row's total apart (mean =
            # library x composition): the start encodes the composition, as if every row
            # had the median total (on raw log1p counts the first component is mostly the
            # library size; benchmarks/bench_dgd_singlecell.py --start-diagnosis)
            row_scale = library_scale(X) if self._uses_library_size else None
            Z[:, :n_pc] = pca_scores(X, n_pc, self._output_cls.nonnegative, rng, row_scale)
        else:
            Z = rng.standard_normal((n, k))
        scale = scale_to_softball(Z, self.softball_radius)
        mixture = None
        self._degrees_of_freedom = self._component_laws[0]
        if codes is None and self._mixture_init == "em":
            mixture = em_mixture(Z, n_mixture, self._covariance_type, rng,
                                 self._component_laws)
            centers, labels, self._degrees_of_freedom = mixture[0], mixture[3], mixture[4]
        elif codes is None:
            centers, labels = kmeans(Z, n_mixture, rng)
        else:
            centers, labels = class_kmeans(Z, codes, self.classes_.size,
                                           self.n_components_per_class, rng)
        within = within_std(Z, centers, labels, self.softball_radius, n_mixture)
        warm = None if autoencoder is None else (autoencoder, scale)
        return Z, centers, within, warm, mixture

    def _autoencoder_codes(self, X: np.ndarray, rng) -> tuple[np.ndarray, AutoEncoder]:
        """An autoencoder's codes of X (init="autoencoder") and the fitted autoencoder."""
        nonnegative = self._output_cls.nonnegative
        if self._uses_library_size:  # the composition, as the "pca" start encodes it
            data = np.log1p(X * library_scale(X)[:, None].astype(X.dtype, copy=False))
        else:
            data = np.log1p(X) if nonnegative else X
        seed = seed_from(rng)  # drawn in every case, so the later draws do not shift
        if is_estimator(self._init):
            ae = self._init
        else:
            ae = init_autoencoder(self._latent_dim, self.hidden_layer_sizes, self.activation,
                                  self.output_distribution, self._batch_size)
        ae = self._fit_nested(ae, data, seed)
        return np.asarray(ae.transform(data), dtype=np.float64), ae

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
            "degrees_of_freedom": self._degrees_of_freedom,
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
        if is_estimator(init):  # "auto" latent size: the width of a given start, else <= 10
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
        # the component laws the EM start chooses from, by likelihood (unsupervised "auto")
        auto_laws = (None,) if self._supervised else (None, _AUTO_DOF)
        dof = self.degrees_of_freedom
        self._component_laws = auto_laws if isinstance(dof, str) else (dof,)
        self._log_var_prior_std = float(self._resolved("log_var_prior_std", auto_lv))
        self._batch_size = int(self._resolved("batch_size", min(128, max(16, n // 8))))
        n_batches = -(-n // self._batch_size)
        auto_epochs = min(100, max(20, _AUTO_STEPS // n_batches))
        self._max_epochs = int(self._resolved("max_epochs", auto_epochs))

    @property
    def _uses_library_size(self) -> bool:
        return bool(self._output_cls.uses_library and self.library_size)

    def _library(self, X_t: Tensor) -> Tensor | None:
        if self._uses_library_size:
            return X_t.sum(1)
        return None

    def _initialize(self, X, y) -> None:
        for attr in ("classes_", "component_classes_"):
            self.__dict__.pop(attr, None)
        if self._supervised:
            codes = self._fit_label_codes(y, X.shape[0])
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
                set_mixture(prior, *mixture[1:3])
                prior.anchor_log_var()
        decoder = self.module_.decoder
        if warm is None or not copy_decoder(warm[0], decoder, self.output_distribution,
                                            self.activation, warm[1]):
            decoder.init_output_bias(X_t, library)
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
        codes = self._fit_label_codes(y, X.shape[0]) if self._supervised else None
        self._start_state = (self.embedding_, codes)

    _supports_sample_weight = True

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Learn the decoder, the representations and the mixture.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), default=None
            Class labels, used only when ``n_components_per_class`` is set (-1 marks an
            unlabelled sample); ignored otherwise.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights: minibatches draw rows with probabilities
            proportional to them (an integer weight acts as copies of the row, zero
            leaves it out; such a row keeps its starting representation).

        Returns
        -------
        self : GMMRepresentation
        """
        return self._fit_template(X, y, partial=False, sample_weight=sample_weight)

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

    # ------------------------------------------------------------- attributes
    @property
    def _n_features_out(self) -> int:
        return self._latent_dim

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
