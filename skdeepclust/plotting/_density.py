"""DensityContourDisplay: contours of a 2-D model's log-density."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np

from ._base import _check_fitted, _check_positive_int, _draw_samples, _final_step, _get_axes, _name

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
            out, _ = _draw_samples(sample, _check_positive_int(n_reference, "n_reference"),
                                   random_state)
            reference = np.asarray(out, dtype=np.float64)
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
