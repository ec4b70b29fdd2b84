"""The MNIST gallery examples run without the MNIST file: they fall back to the digits.

Running the examples end to end takes about a minute each, too long for the test suite
(``.ci/docs`` runs them all); here each example runs up to the end of its data block
(the top-level statements until the image side, ``SIDE`` or ``side``, is set) with
``SKDEEPCLUST_MNIST`` pointing to a missing file.
"""

import ast
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
MNIST_EXAMPLES = ["plot_dec_mnist", "plot_dmae_mnist", "plot_rbm_dbn_samples",
                  "plot_rbm_mnist_big", "plot_rbm_mnist_small"]


def _run_data_block(name: str) -> dict:
    path = EXAMPLES / f"{name}.py"
    tree = ast.parse(path.read_text(), filename=str(path))
    namespace = {"__name__": "__main__", "__file__": str(path)}
    for statement in tree.body:
        code = compile(ast.Module(body=[statement], type_ignores=[]), str(path), "exec")
        exec(code, namespace)  # noqa: S102 - the repository's own example
        if "SIDE" in namespace or "side" in namespace:
            return namespace
    raise AssertionError(f"{name} never sets SIDE: no data block found")


def test_every_example_reading_mnist_has_a_fallback():
    """The gallery runs every example (docs/conf.py): one that reads MNIST must also run
    without the file, on scikit-learn's digits."""
    for path in sorted(EXAMPLES.glob("plot_*.py")):
        text = path.read_text()
        if "load_mnist(" in text:
            assert "load_digits" in text, f"{path.name} reads MNIST with no fallback"


@pytest.mark.parametrize("name", MNIST_EXAMPLES)
def test_mnist_example_falls_back_to_digits(name, monkeypatch, tmp_path, capsys):
    missing = tmp_path / "no-mnist.npz"
    monkeypatch.setenv("SKDEEPCLUST_MNIST", str(missing))
    monkeypatch.setattr("sys.argv", [f"{name}.py"])
    namespace = _run_data_block(name)
    out = capsys.readouterr().out
    assert f"No MNIST file at {missing}" in out
    assert "8x8 digits" in out and "On " in out and "MNIST" in out  # quotes the MNIST run
    side = namespace.get("SIDE", namespace.get("side"))
    assert side == 8
    X = namespace["X"] if "X" in namespace else namespace["X_train"]
    assert X.shape[1] == 64 and X.shape[0] >= 1000
    assert np.all((X >= 0) & (X <= 1))
