"""Utilities: estimator discovery and the Ctrl-C rule."""

from __future__ import annotations

import importlib
import inspect

from sklearn.base import BaseEstimator

from .._interrupt import keyboard_interrupt

__all__ = ["all_estimators", "keyboard_interrupt"]

_PUBLIC_SUBPACKAGES = ("cluster", "representation", "neural_network", "flow", "preprocessing")


def all_estimators(type_filter=None) -> list[tuple[str, type]]:
    """List every public skdeepclust estimator.

    New estimators are found without edits here: every class exported in the ``__all__``
    of a public subpackage that subclasses :class:`sklearn.base.BaseEstimator` counts.

    Parameters
    ----------
    type_filter : {"cluster", "transformer", "density", "classifier"} or list, default=None
        Keep only estimators with the matching mixin (``ClusterMixin``,
        ``TransformerMixin``, ``DensityMixin`` or ``ClassifierMixin``).

    Returns
    -------
    estimators : list of (name, class)
        Sorted by name.

    Examples
    --------
    >>> from skdeepclust.utils import all_estimators
    >>> [name for name, _ in all_estimators(type_filter="cluster")]
    ['DECClustering', 'DMAEClustering', 'GMMRepresentation']
    >>> AutoEncoder = dict(all_estimators())["AutoEncoder"]
    >>> AutoEncoder(n_components=2)
    AutoEncoder(n_components=2)
    """
    from sklearn.base import ClassifierMixin, ClusterMixin, DensityMixin, TransformerMixin

    found: dict[str, type] = {}
    for name in _PUBLIC_SUBPACKAGES:
        try:
            module = importlib.import_module(f"skdeepclust.{name}")
        except ModuleNotFoundError as exc:  # subpackage not written yet
            if exc.name == f"skdeepclust.{name}":
                continue
            raise
        for attr in getattr(module, "__all__", []):
            obj = getattr(module, attr)
            if inspect.isclass(obj) and issubclass(obj, BaseEstimator):
                found[attr] = obj
    mixins = {
        "cluster": ClusterMixin,
        "transformer": TransformerMixin,
        "density": DensityMixin,
        "classifier": ClassifierMixin,
    }
    result = sorted(found.items())
    if type_filter is not None:
        filters = [type_filter] if isinstance(type_filter, str) else list(type_filter)
        unknown = set(filters) - set(mixins)
        if unknown:
            raise ValueError(
                f"Unknown type_filter {sorted(unknown)}; valid options are {sorted(mixins)}."
            )
        result = [(n, c) for n, c in result if any(issubclass(c, mixins[f]) for f in filters)]
    return result
