"""DisentanglingFlow: a flow trained on pairs so that its code splits into one block per factor."""

from __future__ import annotations

import itertools
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils.validation import _num_samples, check_array
from torch import Tensor

from .._optim import make_optimizer
from .._training import TrainingResult
from ..base import _check_weights
from ..nn.flows import ActNorm, make_factor_pairs, supervised_factor_loss
from ..utils._sklearn_compat import Interval, _fit_context
from ._base import _BaseFlow, _fill_flow_doc

__all__ = ["DisentanglingFlow"]

# DisentanglingFlow's "auto" recipe (resolved by _resolve_auto; see its docstring).
_DF_COUPLING = "additive"
_DF_STAGES = 2
_DF_BATCH = 64
_DF_LEARNING_RATE = 0.01
_DF_LR_FAN_IN = 128
_DF_EPOCHS = 20

# partial_fit draws its pairs from the call's rows and a reservoir of up to this many
# rows of earlier calls (see DisentanglingFlow._update_pair_pool).
_PAIR_POOL_ROWS = 2048


def _df_hidden(n_features: int) -> tuple[int, ...]:
    """Hidden sizes of each coupling's MLP for ``n_features``."""
    return (4 * n_features,)


def _df_learning_rate(n_features: int, hidden: tuple[int, ...] | None) -> float:
    """The "auto" learning rate: ``0.01 * min(1, 128 / fan_in)``, with ``fan_in`` the
    widest fan-in of a unit of the coupling MLPs (the half of the features a coupling
    reads, or its widest hidden layer; ``hidden=None`` is the builder's ``4 * n_features``).

    Adam moves every weight by about the learning rate per step, whatever the gradient's
    scale, so a unit's output moves by up to ``learning_rate * fan_in`` times its inputs'
    scale: at 784 features (fan-in 3136) the first step of 0.01 moves the additive
    couplings' shifts by 18 standard deviations on average, and training diverges from
    there (``benchmarks/study_disentangling_lr.py first-step``)."""
    widths = (4 * n_features,) if hidden is None else tuple(hidden)
    fan_in = max([n_features - n_features // 2, *widths])
    return _DF_LEARNING_RATE * min(1.0, _DF_LR_FAN_IN / fan_in)


def _df_actnorm_learning_rate() -> float:
    """The "auto" learning rate of the ActNorm layers: the rule of
    :func:`_df_learning_rate` at fan-in 1 (each output of an ActNorm reads one input,
    through one gain and one bias), i.e. 0.01 at any width.

    With additive couplings and reflections, which keep volumes, the ActNorm gains alone
    set the density's scale, one per feature and layer. At the couplings' rate (4.1e-4 at
    784 features) Adam moves a log-gain by at most ``4.1e-4`` per step, 0.32 over the
    780 steps of 5 epochs of 10 000 rows: they stay near their data initialisation, which
    for ``partial_fit`` comes from its first chunk alone."""
    return _DF_LEARNING_RATE * min(1.0, _DF_LR_FAN_IN / 1)


class DisentanglingFlow(_BaseFlow):
    r"""Invertible flow whose code splits into one block per known factor.

    The disentangling invertible interpretation network of Esser, Rombach and Ommer:
    a flow :math:`T` is trained on pairs :math:`(x^a, x^b)` that share a factor with
    correlation :math:`\sigma_{ab}`, with the supervised factor loss

    .. math::

        l = \tfrac12 \|\tilde z^a\|^2 + \tfrac12 \sum_d \Big[
            \frac{(\tilde z^b_d - \sigma_d \tilde z^a_d)^2}{1 - \sigma_d^2}
            + \log(1 - \sigma_d^2)\Big] - \log|T'(x^a)| - \log|T'(x^b)|,

    where :math:`\tilde z = T(x)` and :math:`\sigma_d` is the pair's similarity on the
    factor owning code dimension ``d`` (clipped below 1). The code is then standard
    normal, and block ``k`` (``factor_slices_[k]``) varies with factor ``k`` only: edit a
    block and :meth:`inverse_transform` to change one factor of a sample. Block 0 is the
    residual: what no factor explains.

    **Defaults.** The "auto" values are resolved in :meth:`fit` (and the first
    :meth:`partial_fit`) into private attributes:

    ======================  =====================================================
    parameter               "auto" value
    ======================  =====================================================
    ``n_stages``            2 (``_n_stages``)
    ``coupling``            ``"additive"`` (``_coupling``)
    ``hidden_layer_sizes``  one hidden layer of ``4 * n_features`` units
                            (``_hidden_layer_sizes``)
    ``activation``          ``"relu"`` (``_activation``)
    ``learning_rate``       ``0.01 * min(1, 128 / fan_in)`` (``_learning_rate``):
                            0.01 up to 32 features, ``1.28 / (4 * n_features)``
                            above (5e-3 at 64 features, 4.1e-4 at 784); the
                            ActNorm layers 0.01, the rule at fan-in 1
                            (``_actnorm_learning_rate``)
    ======================  =====================================================

    ``fan_in`` is the widest fan-in of a unit of the coupling networks: the widest
    hidden layer, or the half of the features a coupling reads. Adam moves every weight
    by about the learning rate per step whatever the gradient's scale, so one step moves a
    coupling's output by up to ``learning_rate * fan_in`` times its inputs' scale; a
    fixed 0.01 moves the shifts of the 784-feature couplings by about 18 standard
    deviations in the first step, and the fit diverges. The ActNorm layers' gains and
    biases (fan-in 1) are an optimizer group of their own at the rule's rate for fan-in
    1, 0.01: with additive couplings and reflections, which keep volumes, their gains
    alone set the density's scale, and at the couplings' rate they stayed near their data
    initialisation. On MNIST-10k (5 epochs, seeds 0-4) their own rate raised ``fit``'s
    log-likelihood gain over a diagonal Gaussian from 568-580 to 594-693 nats (held out:
    462-471 to 457-536), on digits the held-out gain from 17.46 to 17.99 (mean of 5
    seeds); the factor recovery of flows up to 32 features, where both rates are 0.01,
    is unchanged (``benchmarks/study_disentangling_lr.py``).

    Fit with per-sample factor values, ``fit(X, y)`` (pairs sharing one factor are drawn
    for every step, see :func:`skdeepclust.nn.flows.make_factor_pairs`), or with your own
    pairs, ``fit_pairs(X_a, X_b, similarity)``.

    Parameters
    ----------
    dimensions_per_factor : array-like of int, default=None
        Code dimensions of the residual (first) and of each factor; must sum to
        ``n_features``. ``None``: one residual dimension and the rest split evenly over
        the factors (the remainder going to the residual).
    target_correlations : float or array-like of float, default=0.9
        Correlation in ``[0, 1]`` of the shared factor within the pairs that
        ``fit(X, y)`` draws (one value, or one per factor).
    {flow_params}
    pairs_per_epoch : int, default=None
        Pairs drawn per epoch (per :meth:`partial_fit` call) by ``fit(X, y)``; ``None``
        means ``n_samples``. A last minibatch of fewer than ``batch_size / 2`` pairs is
        left out, and an epoch has at least ``batch_size`` pairs: pairs are drawn afresh
        for every step, and a step on a few pairs is mostly noise.
    batch_size : int, default=64
        Pairs per step.
    max_epochs : int, default=20
    learning_rate : float or "auto", default="auto"
        Adam's step size. "auto" is ``0.01 * min(1, 128 / fan_in)`` (see **Defaults**:
        0.01 for narrow flows, ``1.28 / (4 * n_features)`` at the default width beyond 32
        features), resolved into ``_learning_rate``, and 0.01 for the ActNorm layers
        (``_actnorm_learning_rate``). Pass a float to set the rate of every parameter,
        the ActNorm layers' too; lower it
        when the first epoch's loss (``loss_curve_[0]``) is far above the later ones or
        the fit warns that the density is broken, raise it (up to about 2x "auto") when
        the loss still falls steadily at ``max_epochs``.
    tol : float or None, default=None
        Stop when the epoch loss has not improved by ``tol`` for ``n_iter_no_change``
        epochs; ``None`` always runs ``max_epochs``.
    n_iter_no_change : int, default=10
    {warm_start_device}
    random_state : int, RandomState instance or None, default=None
        Controls initialisation, pair drawing, minibatch order and :meth:`sample`.
    verbose : int, default=0
        1 shows a progress bar.

    Attributes
    ----------
    module_ : skdeepclust.nn.flows.FlowSequential
        The trained flow.
    dimensions_per_factor_ : ndarray of shape (n_factors + 1,)
        Resolved code dimensions, residual first.
    factor_slices_ : list of slice
        Code columns of the residual (first) and of each factor.
    target_correlations_ : ndarray of shape (n_factors,)
        Resolved per-factor correlations (``fit(X, y)`` only; ``None`` after
        :meth:`fit_pairs`).
    loss_curve_ : list of float
        Mean supervised factor loss per epoch.
    n_iter_ : int
    converged_ : bool
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features,)
        Only when X has string feature names.

    See Also
    --------
    NormalizingFlow : the same flow trained by maximum likelihood on X alone.

    References
    ----------
    .. [1] Esser, Rombach & Ommer, "A Disentangling Invertible Interpretation Network
       for Explaining Latent Representations", CVPR 2020, arXiv:2004.13166.

    Examples
    --------
    >>> from skdeepclust.datasets import make_arc
    >>> from skdeepclust.flow import DisentanglingFlow
    >>> X, position = make_arc(1000, random_state=0)
    >>> flow = DisentanglingFlow(max_epochs=3, device="cpu", random_state=0)
    >>> flow = flow.fit(X, position)
    >>> flow.factor_slices_
    [slice(0, 1, None), slice(1, 2, None)]
    >>> residual, pos = flow.transform_factors(X[:5])
    >>> pos.shape
    (5, 1)
    >>> bool(abs(flow.inverse_transform(flow.transform(X)) - X).max() < 1e-6)
    True
    """

    _parameter_constraints: dict = {
        **_BaseFlow._parameter_constraints,
        "dimensions_per_factor": ["array-like", None],
        "target_correlations": [Interval(Real, 0, 1, closed="both"), "array-like"],
        "pairs_per_epoch": [Interval(Integral, 1, None, closed="left"), None],
    }

    _tour = {
        "params": {
            "hidden_layer_sizes": (32,),
            "max_epochs": 3,
            "batch_size": 128,
            "pairs_per_epoch": 1024,
        },
        "data": "standard",
    }

    def __init__(
        self,
        dimensions_per_factor=None,
        *,
        target_correlations=0.9,
        n_stages="auto",
        coupling="auto",
        mask="checkerboard",
        permutation="matching",
        hidden_layer_sizes="auto",
        activation="auto",
        n_reflections=1,
        actnorm=True,
        actnorm_data_init=True,
        clamp=2.0,
        event_shape=None,
        optimizer="adam",
        weight_decay=0.0,
        max_grad_norm=None,
        pairs_per_epoch=None,
        batch_size=64,
        max_epochs=20,
        learning_rate="auto",
        tol=None,
        n_iter_no_change=10,
        warm_start=False,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.dimensions_per_factor = dimensions_per_factor
        self.target_correlations = target_correlations
        self.n_stages = n_stages
        self.coupling = coupling
        self.mask = mask
        self.permutation = permutation
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.n_reflections = n_reflections
        self.actnorm = actnorm
        self.actnorm_data_init = actnorm_data_init
        self.clamp = clamp
        self.event_shape = event_shape
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.max_grad_norm = max_grad_norm
        self.pairs_per_epoch = pairs_per_epoch
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.learning_rate = learning_rate
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.warm_start = warm_start
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ checks
    def _resolve_auto(self, n_samples: int, n_features: int) -> None:
        """Resolve the "auto" parameters (the table of the class docstring)."""
        self._coupling = self._resolved("coupling", _DF_COUPLING)
        self._n_stages = int(self._resolved("n_stages", _DF_STAGES))
        self._activation = self._resolved("activation", "relu")
        self._hidden_layer_sizes = self._resolve_hidden(_df_hidden(n_features))
        self._batch_size = int(self._resolved("batch_size", _DF_BATCH))
        self._learning_rate = float(self._resolved(
            "learning_rate", _df_learning_rate(n_features, self._hidden_layer_sizes)))
        self._actnorm_learning_rate = float(self._resolved(
            "learning_rate", _df_actnorm_learning_rate()))
        self._max_epochs = int(self._resolved("max_epochs", _DF_EPOCHS))

    def _parameter_groups(self) -> list[dict]:
        """The optimizer's groups: every parameter but the ActNorm layers' at
        ``_learning_rate``, then the ActNorm layers' at ``_actnorm_learning_rate``."""
        actnorm = [p for m in self.module_.modules() if isinstance(m, ActNorm)
                   for p in m.parameters()]
        taken = {id(p) for p in actnorm}
        rest = [p for p in self.module_.parameters() if id(p) not in taken]
        groups = [{"params": rest, "lr": self._learning_rate}] if rest else []
        if actnorm:
            groups.append({"params": actnorm, "lr": self._actnorm_learning_rate})
        return groups

    def _make_optimizer(self) -> torch.optim.Optimizer:
        return make_optimizer(self.optimizer, self._parameter_groups(),
                              learning_rate=self._learning_rate, weight_decay=self.weight_decay)

    def _resume_fit(self, X, y) -> None:
        super()._resume_fit(X, y)
        # the ActNorm group has its own resolved rate
        for group, resolved in zip(self._optimizer.param_groups, self._parameter_groups()):
            group["lr"] = resolved["lr"]

    def _resolve_dimensions(self, n_features: int, n_factors: int) -> np.ndarray:
        if self.dimensions_per_factor is None:
            if n_features < n_factors:
                raise ValueError(
                    f"n_features={n_features} should be >= the number of factors "
                    f"{n_factors}: every factor needs at least one code dimension."
                )
            per = max((n_features - 1) // n_factors, 1)
            return np.array([n_features - per * n_factors] + [per] * n_factors)
        dims = np.asarray(self.dimensions_per_factor)
        if (
            dims.ndim != 1
            or dims.size < 2
            or not np.issubdtype(dims.dtype, np.integer)
            or dims.min() < 0
            or dims[1:].min() < 1
        ):
            raise ValueError(
                "dimensions_per_factor must list the residual's code dimensions (>= 0) "
                "followed by at least one factor's (>= 1 each); got "
                f"{self.dimensions_per_factor!r}."
            )
        if int(dims.sum()) != n_features:
            raise ValueError(
                f"dimensions_per_factor={dims.tolist()} sums to {int(dims.sum())}, but it "
                f"must sum to n_features={n_features} (the code has as many dimensions as "
                "the data; the first entry is the residual factor)."
            )
        if dims.size - 1 != n_factors:
            raise ValueError(
                f"dimensions_per_factor={dims.tolist()} describes {dims.size - 1} factor(s) "
                f"after the residual, but the factor values have {n_factors} column(s)."
            )
        return dims.astype(np.int64)

    def _resolve_correlations(self, n_factors: int) -> np.ndarray:
        rho = np.asarray(self.target_correlations, dtype=np.float64).reshape(-1)
        if rho.size == 1:
            rho = np.repeat(rho, n_factors)
        if rho.size != n_factors or not np.all((rho >= 0) & (rho <= 1)):
            raise ValueError(
                "target_correlations must be one value in [0, 1] or one per factor "
                f"({n_factors}); got {self.target_correlations!r}."
            )
        return rho

    def _set_factor_layout(self, dims: np.ndarray) -> None:
        self.dimensions_per_factor_ = dims
        edges = np.concatenate([[0], np.cumsum(dims)])
        self.factor_slices_ = [slice(int(a), int(b)) for a, b in itertools.pairwise(edges)]

    # ------------------------------------------------------------------ training
    def _run_pairs(self, step, n_pairs: int, max_epochs: int,
                   sample_weight=None) -> TrainingResult:
        return self._train_flow(
            step,
            n_samples=n_pairs,
            max_epochs=max_epochs,
            phase="disentangling flow",
            tol=self.tol,
            advice="target_correlations further from 1",
            sample_weight=sample_weight,
        )

    def _update_pair_pool(self, X, y, sample_weight) -> None:
        """Reservoir sampling (Vitter's algorithm R) of up to ``_PAIR_POOL_ROWS`` rows of
        positive weight over all :meth:`partial_fit` calls, which later calls draw their
        pairs from together with their own rows."""
        keep = np.arange(X.shape[0]) if sample_weight is None else np.flatnonzero(
            np.asarray(sample_weight) > 0)
        weights = (np.ones(keep.size) if sample_weight is None
                   else np.asarray(sample_weight, dtype=np.float64)[keep])
        rows, values = np.asarray(X[keep]), np.asarray(y)[keep]
        seen = self.__dict__.get("_pair_pool_seen", 0)
        pool = self.__dict__.get("_pair_pool")
        if pool is None:
            pool = (rows[:0].copy(), values[:0].copy(), weights[:0].copy())
        P_x, P_y, P_w = pool
        free = max(_PAIR_POOL_ROWS - P_x.shape[0], 0)
        P_x = np.concatenate([P_x, rows[:free]])
        P_y = np.concatenate([P_y, values[:free]])
        P_w = np.concatenate([P_w, weights[:free]])
        if keep.size > free:  # row t (1-based, over the stream) replaces a slot w.p. B / t
            t = seen + free + 1 + np.arange(keep.size - free)
            slot = (self._rng.random_sample(t.size) * t).astype(np.int64)
            taken = np.flatnonzero(slot < _PAIR_POOL_ROWS)
            for j in taken:  # in stream order: a later row wins a slot drawn twice
                P_x[slot[j]], P_y[slot[j]], P_w[slot[j]] = (
                    rows[free + j], values[free + j], weights[free + j])
        self._pair_pool = (P_x, P_y, P_w)
        self._pair_pool_seen = seen + keep.size

    def _whole_batches(self, n_pairs: int) -> int:
        """The pairs of an epoch of ``fit(X, y)``: ``n_pairs``, less a last minibatch of
        fewer than half ``batch_size`` pairs (whose step, as large as any other under Adam,
        is mostly noise), and at least one full minibatch."""
        batch = self._batch_size
        if n_pairs <= batch:
            return batch
        last = n_pairs % batch
        return n_pairs - last if 2 * last < batch else n_pairs

    def _pair_loss(self, x_a: Tensor, x_b: Tensor, similarity: Tensor) -> Tensor:
        z, log_det = self.module_(torch.cat([x_a, x_b]))
        n = x_a.shape[0]
        return supervised_factor_loss(
            z[:n], z[n:], log_det[:n], log_det[n:], similarity, self.dimensions_per_factor_
        )

    _supports_sample_weight = True

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit on samples with known factor values, drawing pairs that share a factor.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_factors)
            Value of each factor for each sample (numbers; categories as codes). The
            residual factor has no column.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each sample: both members of a pair are drawn in
            proportion to the weights (see :func:`~skdeepclust.nn.flows.make_factor_pairs`),
            so an integer weight acts as that many copies of the row and a zero weight
            leaves it out. An epoch then draws as many pairs as rows have a positive
            weight (unless ``pairs_per_epoch`` is set).

        Returns
        -------
        self : DisentanglingFlow
        """
        return self._fit_template(X, y, partial=False, sample_weight=sample_weight)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Run one epoch on pairs drawn from ``(X, y)`` and earlier calls' rows; the first
        call builds the flow.

        An epoch is as many pairs as ``X`` has rows (``pairs_per_epoch`` if set; see
        there for the last minibatch). Its pairs are drawn, as in :meth:`fit`, from the
        rows of this call together with a reservoir of up to 2 048 rows of the earlier
        calls (a uniform sample of all the rows seen before, with their factor values
        and weights, kept in the fitted estimator): pairs drawn within small chunks alone
        train the flow
        on a few rows at a time, and on digits in 10 chunks reached only 0.66-0.77 of
        ``fit``'s log-likelihood gain (5 seeds), against 1.02-1.09 with the reservoir. A
        :meth:`fit` empties the reservoir.

        The first call also initialises the ActNorm layers from its rows alone; at their
        own "auto" rate (see **Defaults**) training moves them on from there. On
        MNIST-10k in 10 chunks (784 features, 5 passes) partial_fit reached 0.91-1.16 of
        ``fit``'s gain (5 seeds, mean 1.01; 0.88-0.94 when the ActNorm layers trained at the
        couplings' rate, and 1.03 on seed 0 then if they were initialised on all 10 000
        rows first). To initialise them from a larger sample of the stream first, call
        ``fit`` with ``max_epochs=0`` on it (it builds the flow and initialises ActNorm,
        without a training step), then ``partial_fit`` over the stream; at the "auto"
        rates this no longer matters on MNIST-10k (seed 0: 0.90 of ``fit``'s gain, against
        0.91 from the first chunk).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_factors)
            As in :meth:`fit`; every call must have the same factors.
        sample_weight : array-like of shape (n_samples,), default=None
            As in :meth:`fit`.

        Returns
        -------
        self : DisentanglingFlow
        """
        return self._partial_fit(X, y, sample_weight)

    def _validate_fit_input(self, X, y, *, reset: bool):
        if y is not None and _num_samples(y) != _num_samples(X):
            raise ValueError(
                f"y has {_num_samples(y)} rows but X has {_num_samples(X)}: y needs one row "
                "of factor values per sample."
            )
        X, y = self._validate_fit_data(X, y=y, reset=reset, multi_output=True, y_numeric=True)
        return X, np.asarray(y, dtype=np.float64).reshape(X.shape[0], -1)

    def _initialize(self, X, y) -> None:
        n_factors = y.shape[1]
        dims = self._resolve_dimensions(X.shape[1], n_factors)
        self.target_correlations_ = self._resolve_correlations(n_factors)
        self._build(X)
        self._set_factor_layout(dims)

    def _train(self, X, y, *, partial: bool):
        generator, rho = self._generator, self.target_correlations_
        X_t = self._to_tensor(X)
        Y_t = torch.as_tensor(y, dtype=X_t.dtype, device=X_t.device)
        w = self._sample_weight
        if w is None:
            self._data_init(X_t, generator)
            n_rows = X.shape[0]
        else:
            w = torch.as_tensor(w, device=X_t.device)
            kept = torch.nonzero(w > 0).reshape(-1)
            self._data_init(X_t[kept], generator)  # zero-weight rows take no part
            n_rows = kept.numel()
        pool = self.__dict__.get("_pair_pool") if partial else None
        if pool is None:
            X_all, Y_all, w_all = X_t, Y_t, w
        else:  # pairs also from the rows of earlier partial_fit calls
            X_all = torch.cat([X_t, self._to_tensor(pool[0])])
            Y_all = torch.cat([Y_t, torch.as_tensor(pool[1], dtype=Y_t.dtype,
                                                    device=Y_t.device)])
            w_now = torch.ones(X.shape[0], dtype=torch.float64) if w is None else w.double()
            w_all = torch.cat([w_now.to(X_t.device),
                               torch.as_tensor(pool[2], device=X_t.device)])

        def step(idx: Tensor) -> Tensor:
            a, b, sim = make_factor_pairs(Y_all, idx.shape[0], rho, weights=w_all,
                                          generator=generator)
            return self._pair_loss(X_all[a], X_all[b], sim)

        history = self._run_pairs(
            step, self._whole_batches(self.pairs_per_epoch or n_rows),
            1 if partial else self._max_epochs,
        )
        if partial:
            self._update_pair_pool(X, y, self._sample_weight)
        else:
            self.__dict__.pop("_pair_pool", None)
            self.__dict__.pop("_pair_pool_seen", None)
        self._check_density(X_t if w is None else X_t[kept])
        return history

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_pairs(self, X_a, X_b, similarity, sample_weight=None):
        """Fit on given pairs and their similarity on each factor.

        Parameters
        ----------
        X_a, X_b : array-like of shape (n_pairs, n_features)
            The two members of each pair.
        similarity : array-like of shape (n_pairs,) or (n_pairs, n_factors)
            Correlation in ``[0, 1]`` of each pair along each factor (residual excluded,
            it is 0): 1 for "same value", 0 for "unrelated".
        sample_weight : array-like of shape (n_pairs,), default=None
            Non-negative weight of each pair: minibatches draw pairs in proportion to
            their weights (an integer weight acts as that many copies of the pair, a zero
            weight leaves it out).

        Returns
        -------
        self : DisentanglingFlow
        """
        X_a = self._validate_fit_data(X_a)
        X_b = self._validate_fit_data(X_b, reset=False)
        if X_b.shape[0] != X_a.shape[0]:
            raise ValueError(
                f"X_a has {X_a.shape[0]} rows and X_b has {X_b.shape[0]}: they must hold the "
                "two members of the same pairs."
            )
        S = check_array(similarity, ensure_2d=False, dtype=np.float64, input_name="similarity")
        S = S.reshape(S.shape[0], -1) if S.ndim == 1 else S
        if S.ndim != 2 or S.shape[0] != X_a.shape[0]:
            raise ValueError(
                f"similarity has shape {np.shape(similarity)}; it needs one row per pair "
                f"({X_a.shape[0]}) and one column per factor."
            )
        if S.min() < 0 or S.max() > 1:
            raise ValueError(
                f"similarity must be in [0, 1] (a correlation per factor); got values in "
                f"[{S.min():.4g}, {S.max():.4g}]."
            )
        weights = _check_weights(sample_weight, X_a)
        dims = self._resolve_dimensions(X_a.shape[1], S.shape[1])
        self._start_fit(X_a)
        self._history = TrainingResult()
        self._build(X_a)
        self._set_factor_layout(dims)
        self.target_correlations_ = None
        self.__dict__.pop("_pair_pool", None)  # partial_fit's partners of an earlier fit
        self.__dict__.pop("_pair_pool_seen", None)
        A, B = self._to_tensor(X_a), self._to_tensor(X_b)
        S = np.column_stack([np.zeros(S.shape[0]), S])
        S_t = torch.as_tensor(S, dtype=A.dtype, device=A.device)
        kept = slice(None) if weights is None else torch.as_tensor(weights > 0, device=A.device)
        self._data_init(torch.cat([A[kept], B[kept]]), self._generator)

        def step(idx: Tensor) -> Tensor:
            return self._pair_loss(A[idx], B[idx], S_t[idx])

        self._store_history(self._run_pairs(step, A.shape[0], self._max_epochs, weights))
        self._check_density(A[kept])
        del self._generator, self._history
        return self

    # ------------------------------------------------------------------ factors
    def transform_factors(self, X):
        """The code of ``X`` split into the residual block and one block per factor.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        blocks : list of ndarray
            ``blocks[0]`` is the residual, ``blocks[k]`` of shape
            ``(n_samples, dimensions_per_factor_[k])`` the code of factor ``k``.
        """
        Z = self.transform(X)
        return [Z[:, s] for s in self.factor_slices_]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags


DisentanglingFlow.__doc__ = _fill_flow_doc(
    DisentanglingFlow.__doc__,
    n_stages='"auto"',
    coupling='"auto"',
    hidden='"auto"',
    activation='"auto"',
    max_grad_norm=None,
    event_shape=None,
)
