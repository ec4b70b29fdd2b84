"""Helpers shared by the displays: lazy matplotlib import, axes, tiles, scatter."""

from __future__ import annotations

import inspect
import math
from numbers import Integral

import numpy as np

from ..utils._sklearn_compat import check_is_fitted

_PLOT_EXTRA = 'pip install "skdeepclust[plot]"'
_NORMALIZE = ("each", "all", None)


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


def _draw_samples(sample, n_samples: int, random_state, options=None):
    """``sample(n_samples, **options)``, seeded when it takes ``random_state``.

    Returns ``(samples, labels)``; labels are ``None`` unless ``sample`` returns a tuple
    ``(samples, labels)`` as :meth:`sklearn.mixture.GaussianMixture.sample` does.
    """
    options = dict(options or {})
    try:
        accepts_seed = "random_state" in inspect.signature(sample).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        accepts_seed = False
    if accepts_seed:
        options.setdefault("random_state", random_state)
    out = sample(n_samples, **options)
    if isinstance(out, tuple):
        return out[0], (out[1] if len(out) > 1 else None)
    return out, None


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
