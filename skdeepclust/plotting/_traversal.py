"""FactorTraversalDisplay: decoded traversals of a disentangling flow."""

from __future__ import annotations

import math
from numbers import Integral

import numpy as np

from ._base import (
    _check_fitted,
    _check_positive_int,
    _colormap,
    _get_axes,
    _image_shape,
    _imshow_tiles,
    _name,
)


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
