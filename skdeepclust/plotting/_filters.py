"""FilterDisplay: first-layer weights shown as image tiles."""

from __future__ import annotations

import numpy as np

from ._base import (
    _check_fitted,
    _check_positive_int,
    _default_n_cols,
    _final_step,
    _get_axes,
    _image_shape,
    _imshow_tiles,
    _name,
)


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
