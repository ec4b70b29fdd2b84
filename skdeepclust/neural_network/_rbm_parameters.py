"""The constructor parameters that :class:`RBM` and :class:`RBMClassifier` share: their
documentation (inserted into both class docstrings) and the body of both ``__init__``."""

_COMMON_DOC = """
    visible : {"binary", "gaussian", "rectified"}, default="binary"
        Visible units. Binary units need 0/1 data (see ``allow_probabilities``);
        Gaussian units model real data at any scale (their updates are taken in units of
        each feature's sigma, the same as on standardised data; a constant feature keeps
        zero weights and a sigma of 1e-3 times the median standard deviation of the
        others, so its density stays finite; values beyond ``sqrt(dtype max) / 1e4`` are
        refused); rectified units are noisy ReLUs for non-negative data (no tractable
        likelihood).
    hidden : {"binary", "rectified"}, default="binary"
        Hidden units; rectified (noisy ReLU) hiddens have no tractable likelihood.
    learn_sigma : bool or "auto", default="auto"
        Gaussian visibles: train the standard deviations too, in log space (at most a
        factor ``e**0.1`` per update, kept between 0.05 and 100 times each feature's
        standard deviation), at the ``"sigma"`` learning rate (by default a tenth of the
        weights'). "auto" learns sigma in :class:`RBMClassifier` (sharper class
        conditionals) and keeps it at the data's standard deviation in :class:`RBM`
        (where a learned sigma tends to lower the held-out log-likelihood); pass True or
        False to choose. Ignored by binary and rectified visible units.
    init_sigma : "auto" or float, default="auto"
        Gaussian visibles: initial standard deviation ("auto": the data's).
    centered : bool, default=True
        Centered RBM (Melchior et al. 2016): energies use ``x - mu`` and ``h - lambda``
        with offsets tracking the data means. False gives the normal RBM.
    offset_type : str, default="DD"
        How the offsets move (visible, hidden): D data mean, M model mean, A their
        average, 0 zero.
    offset_learning_rate : float, default=0.01
        Moving-average rate of the offsets (0 keeps the initial offsets).
    use_centered_gradient : bool, default=False
        With ``centered=True``: keep the offsets in the optimiser instead of the model
        (PyDeep's ``use_centered_gradient``). The fitted model is then a normal RBM
        (``visible_offset_`` and ``hidden_offset_`` are zero) trained by the centered
        gradient; without momentum, ``l1``, ``l2`` or ``max_grad_norm`` it is the same fit
        as the default (up to rounding), with them these act on the normal parameters. It never
        uses the fused binary update, so it is slower; use it to reproduce PyDeep or to
        hand a normal RBM to code that does not know offsets. Ignored when
        ``centered=False``.
    method : {"cd", "pcd", "pt", "ipt", "exact"}, default="pcd"
        Negative phase of the gradient: contrastive divergence (chains start at the
        minibatch), persistent CD, parallel tempering (``n_chains`` persistent chains at
        beta = 1 and ``ceil(n_chains / (n_temperatures - 1))`` at each lower temperature,
        randomly paired and swapped in parallel once per update: a few times the cost of
        "pcd"), independent parallel tempering (the same chains split
        into ``n_chains // (n_temperatures - 1)`` ladders that never exchange states, each
        with one chain per temperature below 1: a similar cost; PyDeep's IPT gives every
        negative sample its own full ladder, ``n_temperatures`` times the Gibbs work of
        "pcd"), or the exact gradient through the enumerated partition function (tiny
        models only).
    k : int, default=1
        Gibbs steps per update.
    n_chains : int or None, default=None
        Persistent chains ("pcd"; default ``batch_size``) or chains at beta = 1 ("pt" and
        "ipt"; default ``batch_size``).
    n_temperatures : int, default=3
        Temperatures of "pt" / "ipt", equally spaced in [0, 1].
    learning_rate : "auto", float or dict, default="auto"
        Step size of the weights and biases, or per-parameter step sizes with keys
        "weight", "visible_bias", "hidden_bias" and "sigma" (missing keys take "weight"'s
        rate, itself "auto"'s when missing; PyDeep's tutorials use e.g. ``{"weight": 1,
        "visible_bias": 0, "hidden_bias": 1, "sigma": 0.1}``). A learned sigma moves at a
        tenth of the weights' rate unless the dict gives "sigma" (at the full rate it
        collapses onto its floor and training turns unstable). "auto" resolves (into
        ``_learning_rate``) to ``0.01 * sqrt(30000 / updates)``, where ``updates =
        ceil(n_samples / batch_size) * max_epochs`` (of the first call, for
        ``partial_fit``), kept within [0.01, 0.1], or [0.01, 0.05] for Gaussian visibles
        with a learned sigma: 0.01 (PyDeep's rate) for MNIST-sized fits of 30 000 updates
        or more, larger for the few hundred updates of a small data set (digits: 0.065,
        Gaussian with learned sigma 0.05), which 0.01 leaves underfitted (the user guide
        shows the comparison). Lower it if
        training diverges; raise it (or ``max_epochs``) when the model underfits, i.e.
        training and held-out scores are equal and still improving.
    momentum : float, default=0.0
    l1, l2 : float, default=0.0
        Weight decay on the weights.
    sparsity_target : float, default=0.05
        Target mean hidden activation of the sparsity term.
    sparsity_weight : float, default=0.0
        Strength of the sparsity term (0 disables it).
    max_grad_norm : float or None, default=None
        Restrict the norm of each weight update (PyDeep's ``restrict_gradient``).
    max_grad_norm_axis : {"cols", "rows", "mat"}, default="cols"
        Per hidden unit, per visible unit, or the whole matrix.
    use_hidden_states : bool, default=False
        Use sampled hidden states instead of probabilities in the gradient statistics.
    init_weights : "auto", float or array-like of shape (n_components, n_features), \
default="auto"
        "auto": U(+-4 sqrt(6 / (n_features + n_components))), divided by 4 for Gaussian
        visibles; a float: N(0, init_weights^2); an array: these weights.
    init_hidden_bias : "auto", float or array-like of shape (n_components,), \
default="auto"
        "auto" is zero.
    init_visible_bias : "auto", "data_mean", float or array-like of shape (n_features,), \
default="auto"
        Initial visible bias ``b`` of the (centered) energy. "data_mean" makes the
        visible units reproduce the data means when the hiddens sit at their offsets:
        binary units start at the logits of the data means clipped to [0.001, 0.999]
        (PyDeep's "AUTO"), Gaussian units at the data means. "auto" is "data_mean" (a
        higher held-out log-likelihood than zero biases, the more so for short fits).
        A float or an array sets ``b``.
    allow_probabilities : bool, default=False
        Binary visibles: accept X in [0, 1], read as probabilities (mean-field data),
        instead of requiring exact 0/1 values.
    batch_size : int, default=100
    max_epochs : int, default=50
    tol : float or None, default=None
        Stop when the epoch's reconstruction error has not improved by ``tol`` for
        ``n_iter_no_change`` epochs (``converged_`` is then True); reaching
        ``max_epochs`` first warns with ``ConvergenceWarning``. None (the default) always
        runs ``max_epochs``: a fixed budget, no warning, ``converged_`` False. The
        reconstruction error is not the likelihood that training follows; under PCD it is
        noisy from epoch to epoch and can rise while the model still improves, so a
        ``tol`` rule on it stops many fits too early. Judge convergence by held-out
        ``score`` (or downstream accuracy) over ``max_epochs``.
    n_iter_no_change : int, default=10
    warm_start : bool, default=False
        When True, ``fit`` on a fitted model continues training it for ``max_epochs``
        more epochs from the fitted parameters instead of starting anew; ``n_iter_``
        and ``loss_curve_`` accumulate (as in scikit-learn's ``MLPRegressor``). ``X``
        must have the fitted number of features. Momentum and the persistent chains
        carry over (unless the model was pickled). A warm ``fit`` or a ``partial_fit``
        call trains with the current ``learning_rate``, ``momentum`` and penalties, so
        ``set_params`` between calls runs a schedule (e.g. a decaying learning rate).
    device : str or torch.device, default="auto"
        "auto" (a GPU when there is one), "cpu", "cuda", "cuda:N", "mps".
    random_state : int, RandomState instance or None, default=None
        Controls the initialisation, minibatch order and every Gibbs / tempering draw of
        training; it also seeds later ``gibbs``, ``sample`` and AIS calls that get no
        ``random_state`` of their own. The same seed on the CPU gives the same model.
    verbose : int, default=0
        1 shows a progress bar (training, and the AIS estimate of ``log Z`` that the
        first ``score_samples`` call of a large model runs)."""


def _inject_doc(cls):
    cls.__doc__ = cls.__doc__.replace("    %(common)s", _COMMON_DOC.strip("\n"))
    return cls


def _rbm_init(self, **params) -> None:
    """The body of both ``__init__``: every parameter stored unchanged under its own name
    (scikit-learn's rule; the classes' signatures list the parameters)."""
    for name, value in params.items():
        setattr(self, name, value)
