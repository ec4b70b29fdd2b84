"""The one place that imports scikit-learn's private helpers.

An upstream rename touches only this file. :func:`validate_data` wraps scikit-learn's
own to name the columns of strings that it cannot convert; :func:`_fit_context` wraps
scikit-learn's to mark the extent of each fit for the Ctrl-C rule
(:func:`skdeepclust.utils.keyboard_interrupt`).
"""

from __future__ import annotations

import functools

from sklearn.base import _fit_context as _sklearn_fit_context
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    Options,
    StrOptions,
    validate_params,
)
from sklearn.utils.validation import _check_sample_weight, check_is_fitted
from sklearn.utils.validation import validate_data as _sklearn_validate_data

__all__ = [
    "HasMethods",
    "Interval",
    "Options",
    "StrOptions",
    "_check_sample_weight",
    "_fit_context",
    "check_is_fitted",
    "validate_data",
    "validate_params",
]


def _fit_context(*, prefer_skip_nested_validation: bool):
    """scikit-learn's ``_fit_context`` decorator, run inside a skdeepclust fit scope.

    Parameters are validated as scikit-learn does; the scope lets a Ctrl-C absorbed by one
    training phase stop the later phases of the same (outermost) fit.
    """
    from .._interrupt import fit_scope

    def decorator(fit_method):
        validated = _sklearn_fit_context(
            prefer_skip_nested_validation=prefer_skip_nested_validation
        )(fit_method)

        @functools.wraps(fit_method)
        def wrapper(estimator, *args, **kwargs):
            with fit_scope():
                return validated(estimator, *args, **kwargs)

        return wrapper

    return decorator


def validate_data(_estimator, /, X="no_validation", y="no_validation", **kwargs):
    """scikit-learn's ``validate_data``, with an error that names the columns of strings.

    scikit-learn reports a column of text as "could not convert string to float: 'a'",
    without saying which column; this raises a ``ValueError`` that names it (by name for a
    DataFrame, by position otherwise), shows a few of its values and says how to encode it.
    Valid input costs nothing extra: the columns are inspected only after a failure.
    """
    try:
        return _sklearn_validate_data(_estimator, X, y, **kwargs)
    except ValueError as exc:
        if "string" not in str(exc) or isinstance(X, str):
            raise
        problems = _string_columns(X)
        if not problems:
            raise
        described = "; ".join(
            f"column {name!r} holds strings ({', '.join(map(repr, values))}"
            f"{', ...' if more else ''})" for name, values, more in problems
        )
        it = "it" if len(problems) == 1 else "them"
        raise ValueError(
            f"{type(_estimator).__name__} needs numeric input, but {described}; encode {it} "
            f"first, e.g. with sklearn.preprocessing.OneHotEncoder (or OrdinalEncoder) in a "
            f"ColumnTransformer, or drop {it}."
        ) from exc


def _string_columns(X, n_examples: int = 3) -> list[tuple[object, list[str], bool]]:
    """The columns of ``X`` holding strings that are not numbers.

    Returns
    -------
    problems : list of (column, examples, more)
        The column's name (a DataFrame) or position, up to ``n_examples`` distinct
        offending strings, and whether there are more.
    """
    if hasattr(X, "columns") and hasattr(X, "iloc"):  # a pandas (or pandas-like) DataFrame
        columns = [(name, X.iloc[:, j].to_numpy()) for j, name in enumerate(X.columns)]
    else:
        import numpy as np

        try:
            arr = np.asarray(X, dtype=object)
        except (TypeError, ValueError):  # ragged: keep scikit-learn's message
            return []
        if arr.ndim != 2:
            return []
        columns = [(j, arr[:, j]) for j in range(arr.shape[1])]
    problems = []
    for name, values in columns:
        found: list[str] = []
        more = False
        for value in values:
            if not isinstance(value, str) or _is_number(value) or value in found:
                continue
            if len(found) == n_examples:
                more = True
                break
            found.append(value)
        if found:
            problems.append((name, found, more))
    return problems


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
