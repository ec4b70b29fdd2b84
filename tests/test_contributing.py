"""CONTRIBUTING.md's worked example works: its files run, its tests pass, and the example
estimator passes scikit-learn's checks.

A fenced ``python`` block right after an ``<!-- example: path -->`` comment is the complete
file ``path``. The files under ``skdeepclust/`` are executed as the modules they would be
(``skdeepclust/nn/ppca.py`` as ``skdeepclust.nn.ppca``, so their relative imports resolve)
and registered in ``sys.modules`` for this module's tests only; the export into
``skdeepclust.representation`` is applied the same way. Nothing is added to the package
on disk.
"""

import ast
import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.utils.estimator_checks import check_estimator

import skdeepclust
from skdeepclust.base import TorchEstimator
from skdeepclust.utils import all_estimators
from tests.test_common import COMMON, SAMPLE_WEIGHT_XFAILS

GUIDE = Path(__file__).resolve().parents[1] / "CONTRIBUTING.md"
_BLOCK = re.compile(r"<!-- example: (\S+) -->\n```python\n(.*?)^```", re.DOTALL | re.MULTILINE)

NN_FILE = "skdeepclust/nn/ppca.py"
ESTIMATOR_FILE = "skdeepclust/representation/_ppca.py"
FAST_FILE = "tests/_fast/ppca.py"
TESTS_FILE = "tests/representation/test_ppca.py"
NAME = "ProbabilisticPCA"


def _blocks() -> dict[str, str]:
    blocks: dict[str, str] = {}
    for path, code in _BLOCK.findall(GUIDE.read_text()):
        assert path not in blocks, f"two example blocks for {path} in CONTRIBUTING.md"
        blocks[path] = code
    return blocks


BLOCKS = _blocks()
GUIDE_TESTS = re.findall(r"^def (test_\w+)\(", BLOCKS.get(TESTS_FILE, ""), re.MULTILINE)


def _module(path: str, code: str, name: str, package: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__file__ = str(GUIDE)
    module.__package__ = package
    exec(compile(code, f"CONTRIBUTING.md:{path}", "exec"), module.__dict__)  # noqa: S102
    return module


@pytest.fixture(scope="module")
def example():
    """The example's modules, installed in memory for this module's tests."""
    with pytest.MonkeyPatch.context() as mp:
        for path in (NN_FILE, ESTIMATOR_FILE):  # in import order
            name = path.removesuffix(".py").replace("/", ".")
            package, _, leaf = name.rpartition(".")
            module = _module(path, BLOCKS[path], name, package)
            mp.setitem(sys.modules, name, module)
            mp.setattr(sys.modules[package], leaf, module, raising=False)
        estimator = getattr(module, NAME)
        # the export: ``from ._ppca import ProbabilisticPCA`` and its name in ``__all__``
        representation = skdeepclust.representation
        mp.setattr(representation, NAME, estimator, raising=False)
        mp.setattr(representation, "__all__", [*representation.__all__, NAME])
        fast = _module(FAST_FILE, BLOCKS[FAST_FILE], "_fast_ppca", "")
        tests = _module(
            TESTS_FILE, BLOCKS[TESTS_FILE], "tests.representation.test_ppca", "tests.representation"
        )
        yield types.SimpleNamespace(estimator=estimator, fast=fast, tests=tests)


def test_the_guide_marks_every_file_of_the_example():
    assert set(BLOCKS) == {NN_FILE, ESTIMATOR_FILE, FAST_FILE, TESTS_FILE}
    assert len(GUIDE_TESTS) >= 4


def test_the_torch_module_knows_nothing_of_scikit_learn():
    tree = ast.parse(BLOCKS[NN_FILE])
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported <= {"__future__", "math", "torch"}, imported


def test_the_estimator_fills_in_hooks_and_is_found(example):
    cls = example.estimator
    assert issubclass(cls, TorchEstimator)
    assert "fit" not in vars(cls)  # the base's template runs the hooks
    for hook in ("_initialize", "_train", "_finish_fit", "_resume_fit"):
        assert hook in vars(cls), hook
    assert (NAME, cls) in all_estimators()  # so tests/test_common.py would check it
    assert NAME in example.fast.PARAMS


def test_the_example_fits_the_structure_it_was_given(example):
    """Independent of the guide's own tests: planted 3-D structure in 8-D, noise 0.5."""
    n, d, k = 600, 8, 3
    rng = np.random.default_rng(1)
    X = rng.normal(size=(n, k)) @ rng.normal(size=(k, d)) + 0.5 * rng.normal(size=(n, d))
    ppca = example.estimator(n_components=k, device="cpu", random_state=0).fit(X)
    pca = PCA(n_components=k).fit(X)
    # the closed-form optimum, to half the statistical precision of the optimum itself
    n_params = d * k + d + 1
    assert ppca.score(X) == pytest.approx(pca.score(X), abs=0.5 * n_params / (2 * n))
    assert ppca.noise_variance_ == pytest.approx(0.25, rel=0.15)
    # the code keeps the structure: decoding it explains what PCA's 3 components explain
    residual = X - ppca.inverse_transform(ppca.transform(X))
    pca_residual = X - pca.inverse_transform(pca.transform(X))
    assert np.mean(residual**2) < 1.1 * np.mean(pca_residual**2)


@pytest.mark.parametrize("name", GUIDE_TESTS)
def test_the_guides_test_passes(example, name):
    getattr(example.tests, name)()


def test_the_example_passes_scikit_learns_checks(example):
    params = {**COMMON, **example.fast.PARAMS[NAME]}
    expected = {**SAMPLE_WEIGHT_XFAILS, **example.fast.XFAILS.get(NAME, {})}
    results = check_estimator(
        example.estimator(**params), expected_failed_checks=expected, on_fail=None
    )
    failed = {r["check_name"]: repr(r["exception"]) for r in results if r["status"] == "failed"}
    assert not failed, failed
    passed = [r for r in results if r["status"] == "passed"]
    assert len(passed) > 40
