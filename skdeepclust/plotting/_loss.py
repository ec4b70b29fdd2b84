"""LossCurveDisplay: training loss per epoch, one panel per quantity."""

from __future__ import annotations

import numpy as np

from ._base import _check_fitted, _final_step, _name, _pyplot

#: Reconstruction losses of :class:`~skdeepclust.representation.AutoEncoder` (``loss``).
_RECONSTRUCTION = {
    "squared": "reconstruction error\n(mean squared, per feature)",
    "absolute": "reconstruction error\n(mean absolute, per feature)",
    "cross_entropy": "reconstruction cross-entropy\n(nats per feature)",
}
_RBM_RECONSTRUCTION = "reconstruction error\n(mean squared, per feature)"
_NLL = "negative log-likelihood\n(nats per sample)"
#: What ``loss_curve_`` measures, by estimator class: a y-axis label, quantity then unit.
_OWN_QUANTITY = {
    "RBM": _RBM_RECONSTRUCTION,
    "RBMClassifier": _RBM_RECONSTRUCTION,
    "DBN": _RBM_RECONSTRUCTION,
    "NormalizingFlow": _NLL,
    "DisentanglingFlow": "supervised factor loss\n(per pair)",
    "GMMRepresentation": "negative log posterior\n(nats per sample)",
}


#: AutoEncoder penalties added to the reconstruction loss when their weight is positive.
_PENALTIES = {"contractive": "contractive", "sparsity_weight": "sparsity",
              "slowness": "slowness"}


def _autoencoder_quantity(autoencoder) -> str:
    label = _RECONSTRUCTION.get(getattr(autoencoder, "loss", None), "reconstruction loss")
    penalties = [name for attr, name in _PENALTIES.items()
                 if (getattr(autoencoder, attr, 0) or 0) > 0]
    if penalties:  # the curve is the whole objective
        quantity, unit = label.split("\n")
        label = f"{quantity} + {' + '.join(penalties)} penalty\n{unit}"
    return label


def _loss_quantities(estimator, phases) -> dict[str, str]:
    """The y-axis label (quantity and unit) of each phase's loss curve.

    Phases that measure the same quantity share a panel; unknown estimators get "loss"
    for every phase (one panel).
    """
    kind = type(estimator).__name__
    if kind not in {"AutoEncoder", "DECClustering", "DMAEClustering", *_OWN_QUANTITY}:
        return dict.fromkeys(phases, "loss")
    nested = getattr(estimator, "autoencoder_", None)
    quantities = {}
    for phase in phases:
        if phase == "pretraining":
            quantity = _autoencoder_quantity(nested) if nested is not None else "loss"
        elif phase.startswith("layer "):
            quantity = _RBM_RECONSTRUCTION if kind == "DBN" else "loss"
        elif kind == "AutoEncoder":
            quantity = _autoencoder_quantity(estimator)
        elif kind == "DECClustering":
            weight = getattr(estimator, "reconstruction_weight", 0) or 0
            quantity = ("KL(P ‖ Q) + weighted reconstruction\n(per sample)" if weight > 0
                        else "KL(P ‖ Q) to the target\n(nats per sample)")
        elif kind == "DMAEClustering":
            weight = getattr(estimator, "reconstruction_weight", 0) or 0
            quantity = ("DMAE loss, mixture only\n(per sample)" if phase == "mixture" else
                        "DMAE loss + weighted reconstruction\n(per sample)"
                        if nested is not None and weight > 0 else "DMAE loss\n(per sample)")
        else:
            quantity = _OWN_QUANTITY.get(kind, "loss")
        quantities[phase] = quantity
    return quantities


def _loss_curves(estimator) -> dict[str, np.ndarray]:
    """Every loss curve of a fitted estimator, in training order.

    The estimator's own ``loss_curve_`` is the phase "clustering" for a clusterer with
    earlier phases, "training" otherwise.
    """
    from sklearn.base import is_clusterer

    curves: dict[str, np.ndarray] = {}
    attributes = vars(estimator)
    extra = sorted(n for n in attributes
                   if n.endswith("_loss_curve_") and not n.startswith("_"))
    # pretraining first, whatever the attribute names' alphabetical order
    extra.sort(key=lambda n: n != "pretrain_loss_curve_")
    for name in extra:
        values = attributes[name]
        if values is not None and len(values):
            prefix = name[: -len("_loss_curve_")]
            curves["pretraining" if prefix == "pretrain" else prefix.replace("_", " ")] = (
                np.asarray(values, dtype=np.float64))
    nested = getattr(estimator, "autoencoder_", None)
    if not curves and nested is not None and len(getattr(nested, "loss_curve_", []) or []):
        curves["pretraining"] = np.asarray(nested.loss_curve_, dtype=np.float64)
    layers = []
    for i, layer in enumerate(getattr(estimator, "rbms_", None) or []):
        if len(getattr(layer, "loss_curve_", []) or []):
            layers.append(np.asarray(layer.loss_curve_, dtype=np.float64))
            curves[f"layer {i + 1}"] = layers[-1]
    own = getattr(estimator, "loss_curve_", None)
    if own is not None and len(own):
        own = np.asarray(own, dtype=np.float64)
        stacked = np.concatenate(layers) if layers else None
        if stacked is None or stacked.shape != own.shape or not np.array_equal(stacked, own):
            # a DBN's loss_curve_ only repeats its layers'
            curves["clustering" if curves and is_clusterer(estimator) else "training"] = own
    return curves


def _panel_axes(ax, n_panels: int, caller: str, figsize=None):
    """``n_panels`` Axes side by side: a new figure, a given sequence, or one Axes split."""
    if ax is None:
        plt = _pyplot(caller)
        if figsize is None:
            figsize = (4.2 * n_panels + 0.6, 3.6) if n_panels > 1 else None
        fig, axes = plt.subplots(1, n_panels, figsize=figsize, layout="constrained",
                                 squeeze=False)
        return list(axes[0])
    if isinstance(ax, (list, tuple, np.ndarray)):
        axes = list(np.ravel(ax))
        if len(axes) != n_panels:
            raise ValueError(f"ax has {len(axes)} Axes but there are {n_panels} panels to "
                             "draw (one per quantity); pass that many or a single Axes.")
        return axes
    if n_panels == 1:
        return [ax]
    spec = ax.get_subplotspec()
    if spec is None:
        raise ValueError(f"{caller} draws {n_panels} panels (one per quantity): pass a "
                         "list of Axes, or an Axes of a grid (plt.subplots) to split.")
    fig = ax.figure
    ax.remove()
    grid = spec.subgridspec(1, n_panels, wspace=0.45)
    return [fig.add_subplot(grid[0, i]) for i in range(n_panels)]


def _readable_log_axis(ax) -> None:
    """Log y axis with ticks at 1, 2 and 5 times powers of ten, labelled as plain numbers.

    matplotlib's default labels the minor ticks of a narrow log range in scientific
    notation (``3x10^-2``), wide labels that run into the axis label.
    """
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_yscale("log")
    low, high = ax.get_ylim()
    subs = (1.0, 2.0, 5.0) if high / low < 1e3 else (1.0,)
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


class LossCurveDisplay:
    """Training loss per epoch, one panel per quantity, with every training phase.

    Phases that measure different quantities (an autoencoder's reconstruction error while
    pretraining, then DEC's KL divergence while clustering) get separate panels with their
    own y axis, labelled with the quantity and its unit; phases of the same quantity (the
    greedy layers of a DBN) share a panel, laid out one after the other on the epoch axis
    and separated by dotted lines, with a legend.

    Parameters
    ----------
    curves : dict of str to array-like
        Loss per epoch of each phase, in training order.
    quantities : dict of str to str, default=None
        The y-axis label (quantity and unit) of each phase; phases with the same label share
        a panel. ``None`` puts every phase on one panel labelled "loss".
        :meth:`from_estimator` fills it in from the estimator.
    title : str, default=None
        Prefix of every panel's title (the model's name); the panel adds its phase.

    Attributes
    ----------
    axes_ : list of matplotlib Axes
        One panel per quantity, in training order.
    ax_ : matplotlib Axes
        The first panel.
    figure_ : matplotlib Figure
    lines_ : dict of str to matplotlib Line2D
        One line per phase.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skdeepclust.plotting import LossCurveDisplay
    >>> disp = LossCurveDisplay({"pretraining": [3.0, 2.0, 1.5], "training": [0.4, 0.3]})
    >>> disp = disp.plot()
    >>> list(disp.lines_)
    ['pretraining', 'training']
    >>> disp = LossCurveDisplay(
    ...     {"pretraining": [3.0, 2.0, 1.5], "clustering": [0.4, 0.5]},
    ...     quantities={"pretraining": "reconstruction error", "clustering": "KL(P ‖ Q)"},
    ... ).plot()
    >>> [ax.get_ylabel() for ax in disp.axes_]
    ['reconstruction error', 'KL(P ‖ Q)']
    """

    def __init__(self, curves, *, quantities=None, title=None):
        self.curves = curves
        self.quantities = quantities
        self.title = title

    def plot(self, ax=None, *, sequential=True, log_scale="auto", **kwargs):
        """Draw the curves.

        Parameters
        ----------
        ax : matplotlib Axes or list of Axes, default=None
            Where to draw: ``None`` makes a new figure with one panel per quantity; a
            single Axes is used as is for one quantity and split side by side for several
            (it must belong to a grid, e.g. from ``plt.subplots``); a list gives one Axes
            per quantity.
        sequential : bool, default=True
            Lay the phases of one panel out one after the other; ``False`` starts each at
            epoch 1.
        log_scale : "auto" or bool, default="auto"
            Logarithmic loss axes; ``"auto"`` decides per panel, using it when every loss
            there is positive and they span more than a factor of 10.
        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.plot`.

        Returns
        -------
        display : LossCurveDisplay
        """
        curves = {k: np.asarray(v, dtype=np.float64).ravel() for k, v in self.curves.items()}
        if not curves or not any(v.size for v in curves.values()):
            raise ValueError("LossCurveDisplay needs at least one non-empty loss curve.")
        if log_scale not in ("auto", True, False):
            raise ValueError(
                f"Unknown log_scale={log_scale!r}; valid options are 'auto', True or False.")
        quantities = dict(self.quantities or {})
        unknown = sorted(set(quantities) - set(curves))
        if unknown:
            raise ValueError(f"quantities names phases without a curve: {unknown}; the "
                             f"phases are {list(curves)}.")
        panels: dict[str, list[str]] = {}
        for phase in curves:
            panels.setdefault(quantities.get(phase, "loss"), []).append(phase)
        axes = _panel_axes(ax, len(panels), "LossCurveDisplay.plot")
        self.lines_ = {}
        for panel, (quantity, phases) in zip(axes, panels.items()):
            offset = 0
            for i, phase in enumerate(phases):
                values = curves[phase]
                if sequential and i:
                    panel.axvline(offset + 0.5, color="0.6", linestyle=":", linewidth=1)
                x = np.arange(1, values.size + 1) + (offset if sequential else 0)
                (self.lines_[phase],) = panel.plot(x, values, label=phase, **kwargs)
                offset += values.size
            every = np.concatenate([curves[p] for p in phases])
            every = every[np.isfinite(every)]
            use_log = log_scale
            if log_scale == "auto":
                use_log = bool(every.size and every.min() > 0
                               and every.max() > 10 * every.min())
            if use_log:
                _readable_log_axis(panel)
            panel.set_xlabel("epoch")
            panel.set_ylabel(quantity)
            if len(phases) > 1:
                panel.legend(title="phase", fontsize="small", title_fontsize="small")
            what = phases[0] if len(phases) == 1 else " then ".join(phases)
            panel.set_title(f"{self.title}: {what}" if self.title else what)
        self.axes_ = axes
        self.ax_ = axes[0]
        self.figure_ = axes[0].figure
        return self

    @classmethod
    def from_estimator(cls, estimator, *, title=None, ax=None, **kwargs):
        """Plot the loss curves of a fitted estimator.

        Reads ``loss_curve_``, any ``<phase>_loss_curve_`` (``pretrain_loss_curve_``),
        a nested ``autoencoder_.loss_curve_`` and the ``rbms_`` of a DBN. A Pipeline
        shows its last step. skdeepclust's estimators get each curve's quantity and unit
        on its y axis (reconstruction error, KL divergence, negative log-likelihood, ...)
        and one panel per quantity; other estimators one panel labelled "loss".

        Parameters
        ----------
        estimator : fitted estimator or Pipeline
        title : str, default=None
            Prefix of the panel titles; defaults to the estimator's class name.
        ax : matplotlib Axes or list of Axes, default=None
            See :meth:`plot`.
        **kwargs : dict
            Passed to :meth:`plot`.

        Returns
        -------
        display : LossCurveDisplay
        """
        _check_fitted(estimator)
        final = _final_step(estimator)
        curves = _loss_curves(final)
        if not curves:
            raise ValueError(
                f"{type(final).__name__} has no loss curve (no loss_curve_ attribute); "
                "LossCurveDisplay needs an estimator trained over epochs."
            )
        return cls(curves, quantities=_loss_quantities(final, curves),
                   title=_name(estimator) if title is None else title).plot(ax=ax, **kwargs)
