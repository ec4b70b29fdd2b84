"""scikit-learn's estimator checks on every public estimator.

Fast constructor settings and expected failures live next to each family in
``tests/_fast/<family>.py`` (``PARAMS`` and ``XFAILS`` dicts keyed by class name), so a new
estimator is picked up here without editing this file.
"""

import importlib.util
import inspect
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from skdeepclust.utils import all_estimators

#: Applied to every estimator that has the parameter.
COMMON = {"device": "cpu", "random_state": 0, "verbose": 0}


def _load_fast_tables():
    params, xfails = {}, {}
    for path in sorted((Path(__file__).parent / "_fast").glob("*.py")):
        if path.name.startswith("_"):
            continue
        spec = importlib.util.spec_from_file_location(f"_fast_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        params.update(getattr(module, "PARAMS", {}))
        xfails.update(getattr(module, "XFAILS", {}))
    return params, xfails


PARAMS, XFAILS = _load_fast_tables()


def _instances():
    for name, cls in all_estimators():
        accepted = inspect.signature(cls.__init__).parameters
        kwargs = {k: v for k, v in COMMON.items() if k in accepted}
        kwargs.update(PARAMS.get(name, {}))
        yield cls(**kwargs)


ESTIMATORS = list(_instances())


#: Expected failures of every estimator that takes sample_weight.
SAMPLE_WEIGHT_XFAILS = {
    name: "minibatches draw rows in proportion to the weights: an integer weight equals "
    "repeated rows in distribution, not draw for draw (tests/test_sample_weight.py "
    "checks the equivalence on models)"
    for name in ("check_sample_weight_equivalence_on_dense_data",
                 "check_sample_weight_equivalence_on_sparse_data")
}


def _expected_failed_checks(estimator):
    failed = dict(XFAILS.get(type(estimator).__name__, {}))
    if "sample_weight" in inspect.signature(estimator.fit).parameters:
        failed.update(SAMPLE_WEIGHT_XFAILS)
    return failed


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_every_estimator_has_fast_params():
    """A new estimator must declare fast settings so the checks stay quick."""
    missing = [name for name, _ in all_estimators() if name not in PARAMS]
    assert not missing, f"add PARAMS for {missing} in tests/_fast/<family>.py"


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_every_estimator_is_in_the_tour(estimator):
    tour = getattr(type(estimator), "_tour", None)
    assert tour is not None and "params" in tour and tour.get("data") in {
        "unit",
        "binary",
        "standard",
    }, "declare a _tour = {'params': ..., 'data': 'unit'|'binary'|'standard'} class attribute"
    clone(estimator)


TRANSFORMERS = [e for e in ESTIMATORS if hasattr(e, "transform")]


@pytest.mark.parametrize("estimator", TRANSFORMERS, ids=lambda e: type(e).__name__)
def test_transformers_support_feature_names_and_pandas_output(estimator):
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    X = pd.DataFrame(rng.rand(30, 4), columns=[f"f{i}" for i in range(4)])
    y = np.arange(30) % 2
    est = clone(estimator).set_output(transform="pandas")
    needs_y = est.__sklearn_tags__().target_tags.required
    est.fit(X, y) if needs_y else est.fit(X)
    out = est.transform(X)
    names = est.get_feature_names_out()
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == list(names) and out.shape[0] == 30
    assert list(out.index) == list(X.index)
