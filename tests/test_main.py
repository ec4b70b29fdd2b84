"""The tour's command line: ``python -m skdeepclust``."""

import pytest

from skdeepclust.__main__ import main
from skdeepclust.utils import all_estimators


def test_unknown_only_name_is_a_usage_error_listing_the_valid_names(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--only", "Foo", "rbm", "--no-baselines"])
    assert exc.value.code == 2  # argparse's status for a usage error
    out, err = capsys.readouterr()
    assert out == ""  # nothing was fitted, no empty table
    assert "unknown estimator name(s) for --only: 'Foo', 'rbm'" in err
    for name, _ in all_estimators():
        assert name in err
    assert "'rbm': did you mean 'RBM'?" in err


def test_help_is_plain_text_without_internals(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--only" in out and "digits" in out
    for markup in ("``", ":ref:", ":class:", "_tour", "all_estimators"):
        assert markup not in out


def test_only_runs_the_named_estimators(capsys):
    assert main(["--only", "ZCA", "--no-baselines", "--device", "cpu"]) == 0
    out, err = capsys.readouterr()
    rows = [line.split()[0] for line in out.splitlines()[4:] if line and line[0] != " "]
    assert "ZCA" in rows and "RBM" not in rows and "AutoEncoder" not in rows
    assert "[1/1] ZCA" in err  # progress goes to stderr
