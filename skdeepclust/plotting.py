"""Display objects for skdeepclust models, in scikit-learn's Display style.

Every display is built with ``Display.from_estimator(...)`` (or from plain arrays), draws
with ``plot(ax=None, ...)`` and keeps the matplotlib objects it drew as attributes
(``ax_``, ``figure_`` and the artists), like
:class:`sklearn.inspection.DecisionBoundaryDisplay`. The displays read estimators by duck
typing (``transform``, ``embed``, ``components_``, ``loss_curve_``, ``sample``,
``factor_slices_``), so any estimator with the right attributes works, scikit-learn's
included.

matplotlib is an optional dependency, the ``plot`` extra
(``pip install "skdeepclust[plot]"``); it is imported only when a display draws.
"""

from __future__ import annotations

import inspect
import math
from numbers import Integral, Real

import numpy as np

from .utils._sklearn_compat import check_is_fitted

__all__ = [
    "DensityContourDisplay",
    "EmbeddingDisplay",
    "FactorTraversalDisplay",
    "FilterDisplay",
    "LossCurveDisplay",
    "SamplesDisplay",
]

_PLOT_EXTRA = 'pip install "skdeepclust[plot]"'
_NORMALIZE = ("each", "all", None)


# ----------------------------------------------------------------------------- helpers
def _pyplot(caller: str):
    """Import ``matplotlib.pyplot`` or say how to install it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            f"{caller} needs matplotlib, the optional 'plot' extra of skdeepclust. "
            f"Install it with: {_PLOT_EXTRA}"
        ) from exc
    return plt


def _get_axes(ax, caller: str):
    plt = _pyplot(caller)
    if ax is None:  # a layout engine keeps titles, labels and tick labels apart
        _, ax = plt.subplots(layout="constrained")
    return ax


def _colormap(cmap, bad=None):
    """A matplotlib colormap from a name or a Colormap, optionally with a 'bad' colour."""
    import matplotlib

    cmap = matplotlib.colormaps.get_cmap(cmap)
    return cmap.with_extremes(bad=bad) if bad is not None else cmap


def _final_step(estimator):
    """The last step of a Pipeline, or the estimator itself."""
    steps = getattr(estimator, "steps", None)
    if isinstance(steps, list) and steps:
        return steps[-1][1]
    return estimator


def _check_fitted(estimator) -> None:
    if hasattr(estimator, "fit"):
        check_is_fitted(estimator)


def _name(estimator) -> str:
    return type(_final_step(estimator)).__name__


def _check_positive_int(value, name: str) -> int:
    if not isinstance(value, Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name}={value!r} should be a positive int.")
    return int(value)


def _image_shape(n_features: int, image_shape) -> tuple[int, int]:
    """Resolve ``image_shape`` for rows of ``n_features`` pixels (square when ``None``)."""
    if image_shape is None:
        side = math.isqrt(n_features)
        if side * side != n_features:
            raise ValueError(
                f"Cannot infer the image shape of {n_features} features: it is not a square "
                "number. Pass image_shape=(height, width)."
            )
        return side, side
    shape = tuple(int(s) for s in image_shape)
    if len(shape) != 2 or min(shape) < 1 or shape[0] * shape[1] != n_features:
        raise ValueError(
            f"image_shape={tuple(image_shape)!r} should be (height, width) with "
            f"height * width == {n_features}, the number of features."
        )
    return shape


def _normalize_tiles(tiles: np.ndarray, normalize) -> np.ndarray:
    """Scale tiles (n, h, w) by their own or the global max-abs; ``None`` keeps them."""
    if normalize not in _NORMALIZE:
        raise ValueError(
            f"Unknown normalize={normalize!r}; valid options are 'each', 'all' or None."
        )
    tiles = np.asarray(tiles, dtype=np.float64)
    if normalize == "each":
        scale = np.abs(tiles).reshape(tiles.shape[0], -1).max(axis=1)
        return tiles / np.where(scale > 0, scale, 1.0)[:, None, None]
    if normalize == "all":
        scale = np.abs(tiles).max()
        return tiles / (scale if scale > 0 else 1.0)
    return tiles


def _mosaic(tiles: np.ndarray, n_cols: int, padding: int) -> np.ndarray:
    """Tile images (n, h, w) into one array, NaN between and after the tiles."""
    n, h, w = tiles.shape
    n_rows = max(1, math.ceil(n / n_cols))
    out = np.full(
        (n_rows * (h + padding) - padding, n_cols * (w + padding) - padding), np.nan
    )
    for i in range(n):
        r, c = divmod(i, n_cols)
        top, left = r * (h + padding), c * (w + padding)
        out[top : top + h, left : left + w] = tiles[i]
    return out


def _imshow_tiles(ax, tiles, *, n_cols, padding, cmap, normalize, vmin=None, vmax=None,
                  background="white", **kwargs):
    """Draw a mosaic of tiles on ``ax``; returns ``(AxesImage, mosaic)``."""
    tiles = _normalize_tiles(tiles, normalize)
    if padding < 0:
        raise ValueError(f"padding={padding!r} should be >= 0.")
    mosaic = _mosaic(tiles, n_cols, int(padding))
    if normalize is None:
        finite = tiles[np.isfinite(tiles)]
        lo, hi = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    else:
        lo, hi = -1.0, 1.0
    kwargs.setdefault("interpolation", "nearest")
    image = ax.imshow(
        mosaic,
        cmap=_colormap(cmap, bad=background),
        vmin=lo if vmin is None else vmin,
        vmax=hi if vmax is None else vmax,
        **kwargs,
    )
    return image, mosaic


def _default_n_cols(n: int) -> int:
    return max(1, math.ceil(math.sqrt(n)))


def _is_categorical(labels: np.ndarray) -> bool:
    if labels.dtype.kind in "biuOSU":
        return True
    values = np.unique(labels)
    return values.size <= 20 and bool(np.all(np.mod(values, 1) == 0))


def _scatter_labelled(ax, points, labels, *, cmap=None, legend=True, colorbar=True,
                      legend_title=None, **kwargs):
    """Scatter 2-D points coloured by categorical or continuous labels.

    Returns ``(PathCollection, legend_or_colorbar_or_None)``.
    """
    kwargs.setdefault("s", 12 if points.shape[0] <= 2000 else 3)
    kwargs.setdefault("alpha", 0.8)
    kwargs.setdefault("linewidths", 0)
    if labels is None:
        return ax.scatter(points[:, 0], points[:, 1], **kwargs), None
    labels = np.asarray(labels)
    if not _is_categorical(labels):
        sc = ax.scatter(points[:, 0], points[:, 1], c=labels, cmap=cmap or "viridis", **kwargs)
        bar = ax.figure.colorbar(sc, ax=ax, label=legend_title) if colorbar else None
        return sc, bar
    from matplotlib.colors import ListedColormap
    from matplotlib.lines import Line2D

    classes, codes = np.unique(labels, return_inverse=True)
    n = classes.size
    base = _colormap(cmap or ("tab10" if n <= 10 else "tab20" if n <= 20 else "turbo"))
    colors = base(np.arange(n) % base.N) if base.N < 256 else base(np.linspace(0, 1, n))
    sc = ax.scatter(points[:, 0], points[:, 1], c=codes, cmap=ListedColormap(colors),
                    vmin=-0.5, vmax=n - 0.5, **kwargs)
    leg = None
    if legend and n <= 20:
        handles = [Line2D([], [], marker="o", linestyle="", color=colors[i], label=str(c))
                   for i, c in enumerate(classes)]
        leg = ax.legend(handles=handles, title=legend_title, fontsize="small",
                        loc="best", markerscale=1.0, frameon=True)
    return sc, leg


# ----------------------------------------------------------------------- embeddings
class EmbeddingDisplay:
    """2-D scatter plot of an embedding, coloured by cluster or label.

    Embeddings with more than two dimensions are projected on their first two principal
    components (:class:`sklearn.decomposition.PCA`); cluster centres, when given, go
    through the same projection. Build it with :meth:`from_estimator` or
    :meth:`from_embedding`.

    Parameters
    ----------
    embedding : ndarray of shape (n_samples, 2)
        The 2-D coordinates to draw (already projected).
    labels : array-like of shape (n_samples,), default=None
        Colour of each point: categorical values get one colour each and a legend,
        continuous values a colormap and a colorbar.
    centers : ndarray of shape (n_clusters, 2), default=None
        Cluster centres in the same coordinates, drawn as crosses.
    xlabel, ylabel : str, default=None
        Axis labels.
    title : str, default=None

    Attributes
    ----------
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure
    scatter_ : matplotlib PathCollection
        The points.
    centers_ : matplotlib PathCollection or None
        The cluster centres.
    legend_ : matplotlib Legend, Colorbar or None
        Legend of categorical labels, or colorbar of continuous ones.

    See Also
    --------
    sklearn.inspection.DecisionBoundaryDisplay : the Display pattern this follows.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_digits
    >>> from skdeepclust.representation import AutoEncoder
    >>> from skdeepclust.plotting import EmbeddingDisplay
    >>> X, y = load_digits(return_X_y=True)
    >>> ae = AutoEncoder(n_components=5, max_epochs=2, device="cpu", random_state=0)
    >>> ae = ae.fit(X / 16)
    >>> disp = EmbeddingDisplay.from_estimator(ae, X / 16, y)
    >>> disp.embedding.shape
    (1797, 2)
    """

    def __init__(self, embedding, *, labels=None, centers=None, xlabel=None, ylabel=None,
                 title=None):
        self.embedding = embedding
        self.labels = labels
        self.centers = centers
        self.xlabel = xlabel
        self.ylabel = ylabel
        self.title = title

    def plot(self, ax=None, *, cmap=None, legend=True, colorbar=True, **kwargs):
        """Draw the scatter plot.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when ``None``.
        cmap : str or Colormap, default=None
            ``"tab10"``/``"tab20"`` for categorical labels, ``"viridis"`` for continuous.
        legend : bool, default=True
            Legend of categorical labels (up to 20 of them).
        colorbar : bool, default=True
            Colorbar of continuous labels.
        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.scatter`.

        Returns
        -------
        display : EmbeddingDisplay
        """
        ax = _get_axes(ax, "EmbeddingDisplay.plot")
        points = np.asarray(self.embedding, dtype=np.float64)
        self.scatter_, self.legend_ = _scatter_labelled(
            ax, points, self.labels, cmap=cmap, legend=legend, colorbar=colorbar, **kwargs
        )
        self.centers_ = None
        if self.centers is not None:
            c = np.asarray(self.centers, dtype=np.float64)
            self.centers_ = ax.scatter(c[:, 0], c[:, 1], marker="X", s=140, c="black",
                                       edgecolors="white", linewidths=1.5, zorder=3)
        ax.set_xlabel(self.xlabel or "")
        ax.set_ylabel(self.ylabel or "")
        if self.title:
            ax.set_title(self.title)
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_embedding(cls, embedding, labels=None, *, centers=None, title=None, ax=None,
                       **kwargs):
        """Plot an embedding array, projected to 2-D by PCA when wider.

        Parameters
        ----------
        embedding : array-like of shape (n_samples, n_components)
        labels : array-like of shape (n_samples,), default=None
        centers : array-like of shape (n_clusters, n_components), default=None
            Cluster centres in the embedding space.
        title : str, default=None
        ax : matplotlib Axes, default=None
        **kwargs : dict
            Passed to :meth:`plot`.

        Returns
        -------
        display : EmbeddingDisplay
        """
        Z = np.asarray(embedding, dtype=np.float64)
        if Z.ndim != 2 or Z.shape[0] < 1 or Z.shape[1] < 1:
            raise ValueError(
                f"embedding should be a non-empty 2-D array; got shape {Z.shape}."
            )
        if not np.all(np.isfinite(Z)):
            raise ValueError("embedding contains NaN or infinity.")
        if labels is not None and np.shape(labels)[0] != Z.shape[0]:
            raise ValueError(
                f"labels has {np.shape(labels)[0]} entries but the embedding has "
                f"{Z.shape[0]} rows."
            )
        C = None if centers is None else np.asarray(centers, dtype=np.float64)
        if C is not None and (C.ndim != 2 or C.shape[1] != Z.shape[1]):
            raise ValueError(
                f"centers should have shape (n_clusters, {Z.shape[1]}); got {C.shape}."
            )
        if Z.shape[1] > 2:
            from sklearn.decomposition import PCA

            pca = PCA(n_components=2, svd_solver="full").fit(Z)
            ratio = pca.explained_variance_ratio_
            points = pca.transform(Z)
            C = None if C is None else pca.transform(C)
            xlabel, ylabel = (f"PC {i + 1} ({100 * r:.0f}% of variance)"
                              for i, r in enumerate(ratio))
        elif Z.shape[1] == 2:
            points, xlabel, ylabel = Z, "dimension 1", "dimension 2"
        else:
            points = np.column_stack([Z[:, 0], np.zeros(Z.shape[0])])
            C = None if C is None else np.column_stack([C[:, 0], np.zeros(C.shape[0])])
            xlabel, ylabel = "dimension 1", ""
        display = cls(points, labels=labels, centers=C, xlabel=xlabel, ylabel=ylabel,
                      title=title)
        return display.plot(ax=ax, **kwargs)

    @classmethod
    def from_estimator(cls, estimator, X, y=None, *, method="auto", labels="auto",
                       show_centers="auto", title=None, ax=None, **kwargs):
        """Embed ``X`` with a fitted estimator and plot it.

        Parameters
        ----------
        estimator : fitted estimator or Pipeline
            Anything with ``embed`` or ``transform``.
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), default=None
            Known labels (e.g. the classes), used for the colours by ``labels="auto"``.
        method : str, default="auto"
            Method producing the embedding: ``"embed"`` when the estimator (or a
            Pipeline's last step) has it (the encoder output of
            :class:`~skdeepclust.cluster.DMAEClustering`), otherwise ``"transform"``.
            Any other method name works too, e.g. ``"predict_proba"``.
        labels : "auto", "y", "predict", array-like or None, default="auto"
            Colours: ``"auto"`` uses ``y`` when given, else ``predict(X)`` for a clusterer,
            else no colours.
        show_centers : "auto" or bool, default="auto"
            Draw ``cluster_centers_`` (projected like the points). ``"auto"`` draws them
            when ``method`` is ``"embed"``, or ``"transform"`` of a skdeepclust estimator
            without ``embed`` (DEC), where the centres live in the plotted space.
        title : str, default=None
            Defaults to the model and what is drawn, e.g. "DECClustering: embedding,
            coloured by predicted cluster".
        ax : matplotlib Axes, default=None
        **kwargs : dict
            Passed to :meth:`plot`.

        Returns
        -------
        display : EmbeddingDisplay
        """
        from sklearn.base import is_clusterer

        if show_centers not in ("auto", True, False):
            raise ValueError(
                f"Unknown show_centers={show_centers!r}; valid options are 'auto', True or "
                "False.")
        _check_fitted(estimator)
        final = _final_step(estimator)
        if method == "auto":
            method = "embed" if hasattr(final, "embed") else "transform"
        if hasattr(estimator, method):
            embed = getattr(estimator, method)
        elif final is not estimator and hasattr(final, method):
            head = estimator[:-1]
            embed = lambda data: getattr(final, method)(head.transform(data))
        else:
            raise AttributeError(
                f"{_name(estimator)} has no {method!r} method to embed X with; pass "
                "method='transform' or the name of a method returning an embedding."
            )
        Z = np.asarray(embed(X))
        coloured = None
        if isinstance(labels, str):
            if labels == "auto":
                labels = "y" if y is not None else "predict" if is_clusterer(estimator) else None
            if labels == "y":
                if y is None:
                    raise ValueError("labels='y' needs y.")
                labels, coloured = y, "label"
            elif labels == "predict":
                labels, coloured = estimator.predict(X), "predicted cluster"
            elif labels is not None:
                raise ValueError(
                    f"Unknown labels={labels!r}; valid options are 'auto', 'y', 'predict', "
                    "an array of labels or None."
                )
        if show_centers == "auto":
            # skdeepclust's convention: ``embed`` (or ``transform`` when there is no
            # ``embed``) returns the space of ``cluster_centers_``; scikit-learn's KMeans
            # transforms to distances instead.
            own = type(final).__module__.startswith("skdeepclust.")
            show_centers = method == "embed" or (
                method == "transform" and own and not hasattr(final, "embed"))
        centers = None
        if show_centers and hasattr(final, "cluster_centers_"):
            C = np.asarray(final.cluster_centers_)
            if C.ndim == 2 and C.shape[1] == Z.shape[1]:
                centers = C
        if title is None:
            what = "embedding" if method in ("embed", "transform") else f"{method}(X)"
            title = f"{_name(estimator)}: {what}" + (f", coloured by {coloured}" if coloured
                                                     else "")
        return cls.from_embedding(Z, labels, centers=centers, title=title, ax=ax, **kwargs)


# -------------------------------------------------------------------------- filters
def _first_layer_weights(estimator) -> np.ndarray:
    """``components_`` (n_units, n_features) of the estimator or of what it nests."""
    for candidate in (
        estimator,
        getattr(estimator, "autoencoder_", None),
        (getattr(estimator, "rbms_", None) or [None])[0],
    ):
        W = getattr(candidate, "components_", None) if candidate is not None else None
        if W is not None:
            W = np.asarray(W)
            n_in = getattr(candidate, "n_features_in_", W.shape[1])
            return W[:, :n_in] if W.ndim == 2 and W.shape[1] > n_in else W
    raise AttributeError(
        f"{type(estimator).__name__} has no components_ (filters of the first layer), "
        "nor a nested autoencoder_ or rbms_ with them."
    )


class FilterDisplay:
    """Tiles of first-layer weights (filters) shown as images.

    For :class:`~skdeepclust.neural_network.RBM` and
    :class:`~skdeepclust.representation.AutoEncoder` ``components_`` (one row per hidden
    unit), or any array of filters. The tiles form one mosaic image.

    Parameters
    ----------
    filters : ndarray of shape (n_filters, n_pixels)
        One filter per row.
    image_shape : tuple of int, default=None
        ``(height, width)`` of one filter; ``None`` means square.

    Attributes
    ----------
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure
    image_ : matplotlib AxesImage
        The mosaic.
    mosaic_ : ndarray
        The tiled (and normalised) pixel values, NaN between tiles.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skdeepclust.plotting import FilterDisplay
    >>> W = np.random.RandomState(0).normal(size=(6, 64))
    >>> disp = FilterDisplay.from_filters(W, n_cols=3)
    >>> disp.mosaic_.shape
    (17, 26)
    """

    def __init__(self, filters, *, image_shape=None):
        self.filters = filters
        self.image_shape = image_shape

    def plot(self, ax=None, *, n_cols=None, normalize="each", cmap="gray", padding=1,
             title=None, **kwargs):
        """Draw the filters.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
        n_cols : int, default=None
            Tiles per row; ``None`` makes the mosaic about square.
        normalize : {"each", "all"} or None, default="each"
            Divide each filter by its own largest absolute value, all of them by the
            global one (shown in ``[-1, 1]``), or keep the raw values.
        cmap : str or Colormap, default="gray"
        padding : int, default=1
            Pixels between tiles.
        title : str, default=None
        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.imshow`.

        Returns
        -------
        display : FilterDisplay
        """
        ax = _get_axes(ax, "FilterDisplay.plot")
        W = np.asarray(self.filters, dtype=np.float64)
        if W.ndim != 2 or W.shape[0] < 1:
            raise ValueError(f"filters should be a non-empty 2-D array; got shape {W.shape}.")
        h, w = _image_shape(W.shape[1], self.image_shape)
        n_cols = _default_n_cols(W.shape[0]) if n_cols is None else _check_positive_int(
            n_cols, "n_cols")
        self.image_, self.mosaic_ = _imshow_tiles(
            ax, W.reshape(-1, h, w), n_cols=n_cols, padding=padding, cmap=cmap,
            normalize=normalize, **kwargs)
        ax.set_axis_off()
        if title:
            ax.set_title(title)
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_filters(cls, filters, *, image_shape=None, ax=None, **kwargs):
        """Plot an array of filters, one per row.

        Parameters
        ----------
        filters : array-like of shape (n_filters, n_pixels)
        image_shape : tuple of int, default=None
        ax : matplotlib Axes, default=None
        **kwargs : dict
            Passed to :meth:`plot`.

        Returns
        -------
        display : FilterDisplay
        """
        return cls(filters, image_shape=image_shape).plot(ax=ax, **kwargs)

    @classmethod
    def from_estimator(cls, estimator, *, image_shape=None, n_filters=100, order=None,
                       title=None, ax=None, **kwargs):
        """Plot the first-layer filters of a fitted estimator.

        Parameters
        ----------
        estimator : fitted estimator
            With ``components_`` of shape (n_units, n_features) (RBM, AutoEncoder, ZCA,
            scikit-learn's BernoulliRBM or PCA), or nesting one as ``autoencoder_``
            (DEC, DMAE) or ``rbms_[0]`` (DBN). Label units of an
            :class:`~skdeepclust.neural_network.RBMClassifier` are left out.
        image_shape : tuple of int, default=None
            ``(height, width)``; ``None`` means square.
        n_filters : int, default=100
            Show at most this many filters.
        order : {"norm"} or None, default=None
            ``"norm"`` shows the filters with the largest L2 norm first.
        title : str, default=None
            Defaults to the model and what is drawn, e.g. "RBM: first-layer filters (100
            of 500)".
        ax : matplotlib Axes, default=None
        **kwargs : dict
            Passed to :meth:`plot`.

        Returns
        -------
        display : FilterDisplay
        """
        _check_fitted(estimator)
        W = _first_layer_weights(_final_step(estimator))
        n_filters = _check_positive_int(n_filters, "n_filters")
        if order == "norm":
            W = W[np.argsort(-np.linalg.norm(W, axis=1), kind="stable")]
        elif order is not None:
            raise ValueError(f"Unknown order={order!r}; valid options are 'norm' or None.")
        if title is None:
            shown = min(n_filters, W.shape[0])
            title = f"{_name(estimator)}: first-layer filters" + (
                f" ({shown} of {W.shape[0]})" if shown < W.shape[0] else "")
        return cls(W[:n_filters], image_shape=image_shape).plot(ax=ax, title=title, **kwargs)


# ----------------------------------------------------------------------- loss curves
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


def _autoencoder_quantity(autoencoder) -> str:
    return _RECONSTRUCTION.get(getattr(autoencoder, "loss", None), "reconstruction loss")


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
            quantity = ("DMAE loss, mixture only\n(per sample)" if phase == "mixture" else
                        "DMAE loss + weighted reconstruction\n(per sample)")
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


# -------------------------------------------------------------------------- samples
class SamplesDisplay:
    """Samples drawn from a generative model: an image grid, or a 2-D scatter plot.

    Parameters
    ----------
    samples : ndarray of shape (n_samples, n_features)
    labels : array-like of shape (n_samples,), default=None
        E.g. the mixture component of each sample; colours the 2-D scatter plot.
    image_shape : tuple of int, default=None
        ``(height, width)`` of one sample for the image grid; ``None`` means square.
    reference : ndarray of shape (n_reference, 2), default=None
        Data drawn in grey behind 2-D samples.
    title : str, default=None

    Attributes
    ----------
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure
    image_ : matplotlib AxesImage or None
        The grid (image kind).
    scatter_ : matplotlib PathCollection or None
        The samples (scatter kind).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skdeepclust.datasets import make_arc
    >>> from skdeepclust.flow import NormalizingFlow
    >>> from skdeepclust.plotting import SamplesDisplay
    >>> X, _ = make_arc(500, random_state=0)
    >>> flow = NormalizingFlow(max_epochs=2, device="cpu", random_state=0).fit(X)
    >>> disp = SamplesDisplay.from_estimator(flow, 200, X=X)
    >>> disp.samples.shape
    (200, 2)
    """

    def __init__(self, samples, *, labels=None, image_shape=None, reference=None, title=None):
        self.samples = samples
        self.labels = labels
        self.image_shape = image_shape
        self.reference = reference
        self.title = title

    def plot(self, ax=None, *, kind="auto", n_cols=None, cmap="gray", padding=1, **kwargs):
        """Draw the samples.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
        kind : {"auto", "images", "scatter"}, default="auto"
            ``"auto"`` draws a scatter plot for 2 features and an image grid otherwise.
        n_cols : int, default=None
            Images per row; ``None`` makes the grid about square.
        cmap : str or Colormap, default="gray"
            Colormap of the images.
        padding : int, default=1
            Pixels between images.
        **kwargs : dict
            Passed to :meth:`~matplotlib.axes.Axes.imshow` or
            :meth:`~matplotlib.axes.Axes.scatter`.

        Returns
        -------
        display : SamplesDisplay
        """
        ax = _get_axes(ax, "SamplesDisplay.plot")
        S = np.asarray(self.samples, dtype=np.float64)
        if S.ndim != 2 or S.shape[0] < 1:
            raise ValueError(f"samples should be a non-empty 2-D array; got shape {S.shape}.")
        if kind == "auto":
            kind = "scatter" if S.shape[1] == 2 else "images"
        self.image_ = self.scatter_ = None
        if kind == "scatter":
            if S.shape[1] != 2:
                raise ValueError(f"kind='scatter' needs 2 features; the samples have {S.shape[1]}.")
            if self.reference is not None:
                R = np.asarray(self.reference, dtype=np.float64)
                ax.scatter(R[:, 0], R[:, 1], s=4, c="0.75", linewidths=0, label="data")
            kwargs.setdefault("s", 10)
            self.scatter_, _ = _scatter_labelled(ax, S, self.labels, legend=False,
                                                 colorbar=False, **kwargs)
            self.scatter_.set_label("samples")
            ax.legend(loc="best", fontsize="small")
            ax.set_xlabel("feature 0")
            ax.set_ylabel("feature 1")
        elif kind == "images":
            h, w = _image_shape(S.shape[1], self.image_shape)
            n_cols = _default_n_cols(S.shape[0]) if n_cols is None else _check_positive_int(
                n_cols, "n_cols")
            self.image_, self.mosaic_ = _imshow_tiles(
                ax, S.reshape(-1, h, w), n_cols=n_cols, padding=padding, cmap=cmap,
                normalize=None, **kwargs)
            ax.set_axis_off()
        else:
            raise ValueError(f"Unknown kind={kind!r}; valid options are 'auto', 'images', "
                             "'scatter'.")
        if self.title:
            ax.set_title(self.title)
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_estimator(cls, estimator, n_samples=25, *, X=None, image_shape=None,
                       random_state=0, sample_kwargs=None, title=None, ax=None, **kwargs):
        """Draw ``estimator.sample(n_samples)`` and plot it.

        Parameters
        ----------
        estimator : fitted estimator
            With ``sample(n_samples, ...)`` returning the samples or a tuple
            ``(samples, labels)`` as :meth:`sklearn.mixture.GaussianMixture.sample` does.
        n_samples : int, default=25
        X : array-like of shape (n_reference, 2), default=None
            Training data drawn in grey behind 2-D samples.
        image_shape : tuple of int, default=None
        random_state : int, RandomState instance or None, default=0
            Passed to ``sample`` when it accepts ``random_state``.
        sample_kwargs : dict, default=None
            More arguments for ``sample`` (e.g. ``{"k": 100}`` Gibbs steps for an RBM).
        title : str, default=None
            Defaults to the model and the number of samples, e.g. "RBM: 25 samples".
        ax : matplotlib Axes, default=None
        **kwargs : dict
            Passed to :meth:`plot`.

        Returns
        -------
        display : SamplesDisplay
        """
        _check_fitted(estimator)
        sample = getattr(estimator, "sample", None)
        if not callable(sample):
            raise AttributeError(  # noqa: TRY004 - a missing method, as hasattr would say
                f"{_name(estimator)} has no sample(n_samples) method; SamplesDisplay needs "
                "a generative model (RBM, DBN, GMMRepresentation, NormalizingFlow, ...)."
            )
        n_samples = _check_positive_int(n_samples, "n_samples")
        options = dict(sample_kwargs or {})
        try:
            accepts_seed = "random_state" in inspect.signature(sample).parameters
        except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
            accepts_seed = False
        if accepts_seed:
            options.setdefault("random_state", random_state)
        out = sample(n_samples, **options)
        labels = None
        if isinstance(out, tuple):
            out, labels = out[0], (out[1] if len(out) > 1 else None)
        reference = None if X is None else np.asarray(X)
        return cls(np.asarray(out), labels=labels, image_shape=image_shape,
                   reference=reference,
                   title=f"{_name(estimator)}: {n_samples} samples" if title is None else title,
                   ).plot(ax=ax, **kwargs)


# ------------------------------------------------------------------ factor traversal
class FactorTraversalDisplay:
    """Decoded traversals of one code coordinate of a disentangling flow.

    For each chosen factor and each reference sample, the code ``transform(x)`` is
    copied, one coordinate of the factor's block (``factor_slices_``) is set to each of
    ``values`` in turn, and the result is decoded with ``inverse_transform``. With a
    :class:`~skdeepclust.flow.DisentanglingFlow` only that factor should change along
    a traversal.

    Parameters
    ----------
    traversals : ndarray of shape (n_factors, n_examples, n_steps, n_features)
        Decoded samples.
    values : ndarray of shape (n_steps,)
        The code values of the steps (standard-normal units).
    factor_names : list of str
        One name per traversed factor.
    examples : ndarray of shape (n_examples, n_features), default=None
        The reference samples.
    reference : ndarray of shape (n_reference, n_features), default=None
        Data drawn in grey behind 2-D traversals.
    image_shape : tuple of int, default=None
        ``(height, width)`` of one sample for the image grid.
    title : str, default=None

    Attributes
    ----------
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure
    lines_ : list of matplotlib Line2D
        One per traversal (kinds "scatter" and "lines").
    image_ : matplotlib AxesImage or None
        The grid (kind "images"): one row per factor and example, one column per value.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skdeepclust.datasets import make_arc
    >>> from skdeepclust.flow import DisentanglingFlow
    >>> from skdeepclust.plotting import FactorTraversalDisplay
    >>> X, position = make_arc(500, random_state=0)
    >>> flow = DisentanglingFlow(max_epochs=2, device="cpu", random_state=0)
    >>> flow = flow.fit(X, position)
    >>> disp = FactorTraversalDisplay.from_estimator(flow, X, n_examples=2, n_steps=5)
    >>> disp.traversals.shape
    (1, 2, 5, 2)
    """

    def __init__(self, traversals, values, *, factor_names, examples=None, reference=None,
                 image_shape=None, title=None):
        self.traversals = traversals
        self.values = values
        self.factor_names = factor_names
        self.examples = examples
        self.reference = reference
        self.image_shape = image_shape
        self.title = title

    def plot(self, ax=None, *, kind="auto", cmap="gray", padding=1, **kwargs):
        """Draw the traversals.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
        kind : {"auto", "scatter", "images", "lines"}, default="auto"
            ``"scatter"``: paths through 2-D data space (the arc of gyoza's tutorial);
            ``"images"``: a grid with one row per factor and example and one column per
            value; ``"lines"``: every decoded feature against the code value.
            ``"auto"`` picks "scatter" for 2 features, "images" when ``image_shape`` is
            set or the feature count is a square, else "lines".
        cmap : str or Colormap, default="gray"
            Colormap of the images.
        padding : int, default=1
            Pixels between images.
        **kwargs : dict
            Passed to :meth:`~matplotlib.axes.Axes.plot` or
            :meth:`~matplotlib.axes.Axes.imshow`.

        Returns
        -------
        display : FactorTraversalDisplay
        """
        ax = _get_axes(ax, "FactorTraversalDisplay.plot")
        T = np.asarray(self.traversals, dtype=np.float64)
        if T.ndim != 4:
            raise ValueError(
                "traversals should have shape (n_factors, n_examples, n_steps, n_features); "
                f"got {T.shape}.")
        n_factors, n_examples, n_steps, n_features = T.shape
        values = np.asarray(self.values, dtype=np.float64)
        if kind == "auto":
            square = math.isqrt(n_features) ** 2 == n_features and n_features > 1
            kind = ("scatter" if n_features == 2 else
                    "images" if self.image_shape is not None or square else "lines")
        colors = _colormap("tab10")
        self.lines_, self.image_ = [], None
        if kind == "scatter":
            if n_features != 2:
                raise ValueError(f"kind='scatter' needs 2 features; got {n_features}.")
            if self.reference is not None:
                R = np.asarray(self.reference, dtype=np.float64)
                ax.scatter(R[:, 0], R[:, 1], s=4, c="0.8", linewidths=0)
            for f in range(n_factors):
                for e in range(n_examples):
                    (line,) = ax.plot(T[f, e, :, 0], T[f, e, :, 1], "-o", markersize=3,
                                      color=colors(f % 10),
                                      label=self.factor_names[f] if e == 0 else None,
                                      **kwargs)
                    self.lines_.append(line)
            if self.examples is not None:
                E = np.asarray(self.examples, dtype=np.float64)
                ax.scatter(E[:, 0], E[:, 1], marker="*", s=150, c="black", zorder=3,
                           label="examples")
            ax.legend(loc="best", fontsize="small")
            ax.set_xlabel("feature 0")
            ax.set_ylabel("feature 1")
        elif kind == "images":
            h, w = _image_shape(n_features, self.image_shape)
            self.image_, self.mosaic_ = _imshow_tiles(
                ax, T.reshape(-1, h, w), n_cols=n_steps, padding=padding, cmap=cmap,
                normalize=None, **kwargs)
            ax.set_xticks([c * (w + padding) + (w - 1) / 2 for c in range(n_steps)])
            ax.set_xticklabels([f"{v:.3g}" for v in values])
            ax.set_yticks([r * (h + padding) + (h - 1) / 2
                           for r in range(n_factors * n_examples)])
            ax.set_yticklabels([self.factor_names[f] for f in range(n_factors)
                                for _ in range(n_examples)])
            ax.tick_params(length=0)
            for spine in ax.spines.values():
                spine.set_visible(False)
            ax.set_xlabel("code value (standard deviations)")
        elif kind == "lines":
            styles = ["-", "--", ":", "-."]
            for f in range(n_factors):
                for e in range(n_examples):
                    for j in range(n_features):
                        label = (f"feature {j}" if f == 0 and e == 0 and n_features <= 10
                                 else None)
                        (line,) = ax.plot(values, T[f, e, :, j], linestyle=styles[f % 4],
                                          color=colors(j % 10), label=label, **kwargs)
                        self.lines_.append(line)
            ax.set_xlabel("code value, standard deviations (" + ", ".join(
                f"{styles[f % 4]} {name}" for f, name in enumerate(self.factor_names)) + ")")
            ax.set_ylabel("decoded feature value")
            if n_features <= 10:
                ax.legend(loc="best", fontsize="small")
        else:
            raise ValueError(f"Unknown kind={kind!r}; valid options are 'auto', 'scatter', "
                             "'images', 'lines'.")
        if self.title:
            ax.set_title(self.title)
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_estimator(cls, estimator, X, *, factors=None, n_examples=3, n_steps=7,
                       values=None, dim=0, image_shape=None, random_state=0, title=None,
                       ax=None, **kwargs):
        """Traverse the factor blocks of a fitted disentangling flow.

        Parameters
        ----------
        estimator : fitted estimator
            With ``transform``, ``inverse_transform`` and ``factor_slices_`` (a list of
            slices of code columns, the residual first), like
            :class:`~skdeepclust.flow.DisentanglingFlow`.
        X : array-like of shape (n_samples, n_features)
            Data: ``n_examples`` rows are drawn from it as reference samples; 2-D data is
            also drawn in grey behind the paths.
        factors : int or sequence of int, default=None
            Indices into ``factor_slices_``; ``None`` means every factor but the residual
            (index 0).
        n_examples : int, default=3
            Reference samples per factor.
        n_steps : int, default=7
            Number of values when ``values`` is None.
        values : array-like of float, default=None
            Code values of the traversed coordinate; ``None`` means
            ``numpy.linspace(-2, 2, n_steps)`` (the code is standard normal).
        dim : int, default=0
            Which coordinate of each factor's block to traverse.
        image_shape : tuple of int, default=None
        random_state : int, RandomState instance or None, default=0
            Draws the reference rows.
        title : str, default=None
            Defaults to the model's name and "factor traversals".
        ax : matplotlib Axes, default=None
        **kwargs : dict
            Passed to :meth:`plot`.

        Returns
        -------
        display : FactorTraversalDisplay
        """
        from sklearn.utils import check_random_state
        from sklearn.utils.validation import check_array

        _check_fitted(estimator)
        slices = getattr(estimator, "factor_slices_", None)
        missing = [m for m in ("transform", "inverse_transform") if not hasattr(estimator, m)]
        if slices is None or missing:
            raise AttributeError(
                f"{_name(estimator)} needs transform, inverse_transform and factor_slices_ "
                "(a fitted DisentanglingFlow has them)."
            )
        slices = list(slices)
        if factors is None:
            factors = list(range(1, len(slices))) or [0]
        elif isinstance(factors, Integral):
            factors = [factors]
        factors = [int(f) for f in factors]
        bad = [f for f in factors if not 0 <= f < len(slices)]
        if bad or not factors:
            raise ValueError(
                f"factors={factors!r} should index factor_slices_: valid values are "
                f"0..{len(slices) - 1} (0 is the residual)."
            )
        X = check_array(X, dtype=[np.float64, np.float32])
        n_examples = _check_positive_int(n_examples, "n_examples")
        if n_examples > X.shape[0]:
            raise ValueError(f"n_examples={n_examples} should be <= n_samples={X.shape[0]}.")
        if values is None:
            values = np.linspace(-2.0, 2.0, _check_positive_int(n_steps, "n_steps"))
        values = np.asarray(values, dtype=np.float64).ravel()
        if values.size < 1 or not np.all(np.isfinite(values)):
            raise ValueError("values should be a non-empty array of finite floats.")
        rng = check_random_state(random_state)
        examples = X[rng.choice(X.shape[0], n_examples, replace=False)]
        Z = np.asarray(estimator.transform(examples))
        columns = []
        for f in factors:
            block = range(Z.shape[1])[slices[f]]
            if not isinstance(dim, Integral) or not 0 <= dim < len(block):
                raise ValueError(
                    f"dim={dim!r} should be in 0..{len(block) - 1}: factor {f} has "
                    f"{len(block)} code dimension(s).")
            columns.append(block[int(dim)])
        grid = np.broadcast_to(Z[None, :, None, :],
                               (len(factors), n_examples, values.size, Z.shape[1])).copy()
        for i, col in enumerate(columns):
            grid[i, :, :, col] = values[None, :]
        decoded = np.asarray(estimator.inverse_transform(grid.reshape(-1, Z.shape[1])))
        traversals = decoded.reshape(len(factors), n_examples, values.size, -1)
        names = ["residual" if f == 0 else f"factor {f}" for f in factors]
        return cls(traversals, values, factor_names=names, examples=examples,
                   reference=X if X.shape[1] == 2 else None, image_shape=image_shape,
                   title=f"{_name(estimator)}: factor traversals" if title is None else title,
                   ).plot(ax=ax, **kwargs)


# ------------------------------------------------------------------ density contours
_DENSITY_KINDS = ("log_density", "density")


def _grid_limits(X, limits, margin):
    """(xmin, xmax, ymin, ymax) from ``limits`` or from the data plus a margin."""
    if limits is not None:
        lim = np.asarray(limits, dtype=np.float64).ravel()
        if lim.size != 4 or not np.all(np.isfinite(lim)) or lim[0] >= lim[1] or lim[2] >= lim[3]:
            raise ValueError(f"limits={limits!r} should be (xmin, xmax, ymin, ymax) with "
                             "xmin < xmax and ymin < ymax.")
        return tuple(lim)
    low, high = X.min(axis=0), X.max(axis=0)
    pad = margin * np.where(high > low, high - low, 1.0)
    return low[0] - pad[0], high[0] + pad[0], low[1] - pad[1], high[1] + pad[1]


class DensityContourDisplay:
    """Contours of a 2-D model's log-density (or density) on a grid, over the data.

    For any estimator of 2-D data with ``score_samples`` (the log-density): a
    :class:`~skdeepclust.flow.NormalizingFlow`, a Gaussian-visible
    :class:`~skdeepclust.neural_network.RBM`, scikit-learn's
    :class:`~sklearn.mixture.GaussianMixture` or
    :class:`~sklearn.neighbors.KernelDensity`. The counterpart of PyDeep's
    ``plot_2d_contour``. Build it with :meth:`from_estimator`.

    Parameters
    ----------
    xx, yy : ndarray of shape (n_rows, n_cols)
        The grid (as from :func:`numpy.meshgrid`).
    log_density : ndarray of shape (n_rows, n_cols)
        ``score_samples`` at the grid points.
    X : ndarray of shape (n_samples, 2), default=None
        Data drawn over the contours.
    feature_names : tuple of str, default=("feature 0", "feature 1")
        Axis labels.
    title : str, default=None

    Attributes
    ----------
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure
    contour_ : matplotlib QuadContourSet
        The (filled) contours.
    colorbar_ : matplotlib Colorbar or None
    scatter_ : matplotlib PathCollection or None
        The data.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import make_moons
    >>> from sklearn.mixture import GaussianMixture
    >>> from skdeepclust.plotting import DensityContourDisplay
    >>> X, _ = make_moons(500, noise=0.05, random_state=0)
    >>> gmm = GaussianMixture(8, random_state=0).fit(X)
    >>> disp = DensityContourDisplay.from_estimator(gmm, X, grid_resolution=50)
    >>> disp.log_density.shape
    (50, 50)
    """

    def __init__(self, xx, yy, log_density, *, X=None, feature_names=None, title=None):
        self.xx = xx
        self.yy = yy
        self.log_density = log_density
        self.X = X
        self.feature_names = feature_names
        self.title = title

    def plot(self, ax=None, *, kind="log_density", levels=15, log_range=10.0, filled=True,
             cmap="viridis", colorbar=True, scatter_kwargs=None, **kwargs):
        """Draw the contours.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
        kind : {"log_density", "density"}, default="log_density"
            Contour the log-density (nats) or the density itself. The log shows the tails
            and the shape of low-density regions; the density shows where the mass is.
        levels : int or array-like, default=15
            At most this many contour levels, at round values, or the levels themselves
            (in the units of ``kind``).
        log_range : float, default=10.0
            With ``kind="log_density"`` and an int ``levels``: the lowest level lies this
            many nats below the highest log-density on the grid (a density ``exp(-10)``
            times the peak by default); lower regions take the lowest colour. Raise it to
            see further into the tails.
        filled : bool, default=True
            Filled contours (:meth:`~matplotlib.axes.Axes.contourf`) or lines
            (:meth:`~matplotlib.axes.Axes.contour`).
        cmap : str or Colormap, default="viridis"
        colorbar : bool, default=True
            Colorbar labelled with the quantity and its unit.
        scatter_kwargs : dict, default=None
            Passed to :meth:`~matplotlib.axes.Axes.scatter` for the data.
        **kwargs : dict
            Passed to ``contourf`` or ``contour``.

        Returns
        -------
        display : DensityContourDisplay
        """
        if kind not in _DENSITY_KINDS:
            raise ValueError(f"Unknown kind={kind!r}; valid options are 'log_density' or "
                             "'density'.")
        L = np.asarray(self.log_density, dtype=np.float64)
        xx, yy = np.asarray(self.xx), np.asarray(self.yy)
        if L.ndim != 2 or L.shape != xx.shape or L.shape != yy.shape:
            raise ValueError(f"log_density, xx and yy should be 2-D arrays of one shape; got "
                             f"{L.shape}, {xx.shape} and {yy.shape}.")
        finite = L[np.isfinite(L)]
        if not finite.size:
            raise ValueError("log_density has no finite value on the grid.")
        if not (isinstance(log_range, Real) and log_range > 0):
            raise ValueError(f"log_range={log_range!r} should be a positive number.")
        top = float(finite.max())
        if kind == "log_density":
            floor = max(float(finite.min()), top - float(log_range))
            values = np.clip(np.where(np.isnan(L), -np.inf, L), floor, None)
            label = "log-density (nats)"
        else:
            floor = 0.0
            values = np.exp(np.where(np.isnan(L), -np.inf, L))
            label = "density"
        if isinstance(levels, Integral) and not isinstance(levels, bool):
            from matplotlib.ticker import MaxNLocator

            n_levels = _check_positive_int(levels, "levels")
            high = top if kind == "log_density" else float(values.max())
            # round numbers for the colorbar, from at most the floor to at least the peak
            levels = MaxNLocator(n_levels).tick_values(floor, high if high > floor
                                                       else floor + 1.0)
        ax = _get_axes(ax, "DensityContourDisplay.plot")
        draw = ax.contourf if filled else ax.contour
        self.contour_ = draw(xx, yy, values, levels=levels, cmap=cmap, **kwargs)
        self.colorbar_ = ax.figure.colorbar(self.contour_, ax=ax, label=label) if colorbar else None
        self.scatter_ = None
        if self.X is not None:
            X = np.asarray(self.X, dtype=np.float64)
            options = {"s": 3, "c": "tab:red", "alpha": 0.5, "linewidths": 0,
                       "label": "data", **(scatter_kwargs or {})}
            self.scatter_ = ax.scatter(X[:, 0], X[:, 1], **options)
        names = self.feature_names or ("feature 0", "feature 1")
        ax.set_xlabel(names[0])
        ax.set_ylabel(names[1])
        ax.set_xlim(xx.min(), xx.max())
        ax.set_ylim(yy.min(), yy.max())
        if self.title:
            ax.set_title(self.title)
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_estimator(cls, estimator, X=None, *, grid_resolution=100, limits=None,
                       margin=0.1, n_reference=1000, random_state=0, title=None, ax=None,
                       **kwargs):
        """Evaluate ``score_samples`` on a grid and contour it.

        Parameters
        ----------
        estimator : fitted estimator or Pipeline
            A model of 2-D data with ``score_samples`` returning the log-density.
        X : array-like of shape (n_samples, 2), default=None
            Data drawn over the contours; it also sets the grid's extent (its bounding
            box plus ``margin``) unless ``limits`` is given.
        grid_resolution : int, default=100
            Grid points along each axis (``score_samples`` runs on its square).
        limits : tuple of 4 floats, default=None
            ``(xmin, xmax, ymin, ymax)`` of the grid. Without it and without ``X``, the
            extent is that of ``n_reference`` samples of the model (``sample``), which
            are not drawn.
        margin : float, default=0.1
            Fraction of the data's range added on each side.
        n_reference : int, default=1000
            Samples drawn to find the extent when neither ``X`` nor ``limits`` is given.
        random_state : int, RandomState instance or None, default=0
            Seeds those samples.
        title : str, default=None
            Defaults to the model and the quantity, e.g. "NormalizingFlow: log-density".
        ax : matplotlib Axes, default=None
        **kwargs : dict
            Passed to :meth:`plot` (``kind``, ``levels``, ``log_range``, ...).

        Returns
        -------
        display : DensityContourDisplay
        """
        from sklearn.utils.validation import check_array

        _check_fitted(estimator)
        if not callable(getattr(estimator, "score_samples", None)):
            raise AttributeError(  # noqa: TRY004 - a missing method, as hasattr would say
                f"{_name(estimator)} has no score_samples method; DensityContourDisplay "
                "needs a density model (NormalizingFlow, RBM, GaussianMixture, ...).")
        n_in = getattr(estimator, "n_features_in_", 2)
        if n_in != 2:
            raise ValueError(f"DensityContourDisplay draws models of 2-D data; "
                             f"{_name(estimator)} was fitted on {n_in} features.")
        resolution = _check_positive_int(grid_resolution, "grid_resolution")
        if resolution < 2:
            raise ValueError(f"grid_resolution={grid_resolution!r} should be >= 2.")
        if not (isinstance(margin, Real) and margin >= 0):
            raise ValueError(f"margin={margin!r} should be a number >= 0.")
        if X is not None:
            X = check_array(X, dtype=[np.float64, np.float32])
            if X.shape[1] != 2:
                raise ValueError(f"X should have 2 features; got {X.shape[1]}.")
        reference = X
        if X is None and limits is None:
            sample = getattr(estimator, "sample", None)
            if not callable(sample):
                raise ValueError(f"Pass X or limits=(xmin, xmax, ymin, ymax): {_name(estimator)}"
                                 " has no sample method to find the extent of the grid.")
            options = {}
            try:
                if "random_state" in inspect.signature(sample).parameters:
                    options["random_state"] = random_state
            except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
                pass
            out = sample(_check_positive_int(n_reference, "n_reference"), **options)
            reference = np.asarray(out[0] if isinstance(out, tuple) else out, dtype=np.float64)
        xmin, xmax, ymin, ymax = _grid_limits(reference, limits, margin)
        xx, yy = np.meshgrid(np.linspace(xmin, xmax, resolution),
                             np.linspace(ymin, ymax, resolution))
        grid = np.column_stack([xx.ravel(), yy.ravel()])
        names = getattr(_final_step(estimator), "feature_names_in_", None)
        if names is not None and len(names) == 2:
            grid_input = _as_frame(grid, names)
            names = tuple(str(n) for n in names)
        else:
            grid_input, names = grid, None
        log_density = np.asarray(estimator.score_samples(grid_input), dtype=np.float64)
        kind = kwargs.get("kind", "log_density")
        if title is None:
            title = f"{_name(estimator)}: {'log-density' if kind == 'log_density' else kind}"
        return cls(xx, yy, log_density.reshape(xx.shape), X=X, feature_names=names,
                   title=title).plot(ax=ax, **kwargs)


def _as_frame(values, columns):
    """A DataFrame with the fitted feature names, so that the estimator does not warn."""
    import pandas as pd

    return pd.DataFrame(values, columns=list(columns))
