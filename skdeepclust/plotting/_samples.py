"""SamplesDisplay: a generative model's samples as images or a 2-D scatter plot."""

from __future__ import annotations

import numpy as np

from ._base import (
    _check_fitted,
    _check_positive_int,
    _default_n_cols,
    _draw_samples,
    _get_axes,
    _image_shape,
    _imshow_tiles,
    _name,
    _scatter_labelled,
)


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
    >>> flow = NormalizingFlow(max_epochs=2, tol=None, device="cpu", random_state=0).fit(X)
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
        out, labels = _draw_samples(sample, n_samples, random_state, sample_kwargs)
        reference = None if X is None else np.asarray(X)
        return cls(np.asarray(out), labels=labels, image_shape=image_shape,
                   reference=reference,
                   title=f"{_name(estimator)}: {n_samples} samples" if title is None else title,
                   ).plot(ax=ax, **kwargs)
