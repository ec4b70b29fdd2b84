"""Ctrl-C: a fit you call yourself stops cleanly, a fit inside a search passes it on."""

import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings

import numpy as np
import pytest
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skdeepclust._training as training
from skdeepclust.cluster import DECClustering
from skdeepclust.representation import AutoEncoder
from skdeepclust.utils import keyboard_interrupt

FAST = {"device": "cpu", "random_state": 0, "batch_size": 16, "tol": None}


@pytest.fixture
def ctrl_c_at_epoch(monkeypatch):
    """Make the training loop's epoch iterator raise KeyboardInterrupt at epoch ``k``.

    The loop iterates over its progress bar, so a bar that raises where a real Ctrl-C
    would land reproduces one deterministically, in-process.
    """
    at = {"epoch": 3, "calls": 0}

    class Bar:
        def __init__(self, iterable, **kwargs):
            self.iterable = iterable
            at["calls"] += 1

        def __iter__(self):
            for epoch in self.iterable:
                if epoch == at["epoch"]:
                    raise KeyboardInterrupt
                yield epoch

        def set_postfix(self, **kwargs):
            pass

        def close(self):
            pass

    monkeypatch.setattr(training, "tqdm", Bar)
    return at


@pytest.fixture(scope="module")
def X():
    return np.random.RandomState(0).rand(64, 6).astype(np.float32)


def test_a_fit_called_by_user_code_stops_cleanly_and_is_usable(X, ctrl_c_at_epoch):
    with pytest.warns(UserWarning, match=r"interrupted by the user .* after 3 epoch"):
        ae = AutoEncoder(2, hidden_layer_sizes=(8,), max_epochs=100, **FAST).fit(X)
    assert ae.n_iter_ == 3 and len(ae.loss_curve_) == 3
    Z = ae.transform(X)
    assert Z.shape == (64, 2) and np.isfinite(Z).all()
    assert np.isfinite(ae.inverse_transform(Z)).all()


def test_an_interrupted_phase_skips_the_later_phases_of_the_same_fit(X, ctrl_c_at_epoch):
    ae = AutoEncoder(2, hidden_layer_sizes=(8,), max_epochs=50, **FAST)
    dec = DECClustering(3, autoencoder=ae, max_epochs=100, tol=0.0, device="cpu",
                        random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dec.fit(X)  # interrupted in the autoencoder's pretraining
    interrupted = [w for w in caught if "interrupted by the user" in str(w.message)]
    assert len(interrupted) == 1
    assert dec.autoencoder_.n_iter_ == 3
    assert dec.n_iter_ == 0 and dec.loss_curve_ == []  # clustering ran no epoch
    assert ctrl_c_at_epoch["calls"] == 1  # the clustering loop returned before its bar
    assert set(dec.labels_) <= {0, 1, 2} and (dec.predict(X) == dec.labels_).all()
    # the next fit is not affected
    ctrl_c_at_epoch["epoch"] = -1
    dec.set_params(max_epochs=2, autoencoder__max_epochs=2)
    assert dec.fit(X).n_iter_ == 2 and dec.autoencoder_.n_iter_ == 2


@pytest.mark.parametrize("caller", ["cross_val_score", "pipeline"])
def test_a_fit_called_by_scikit_learn_passes_the_interrupt_on(X, ctrl_c_at_epoch, caller):
    ae = AutoEncoder(2, hidden_layer_sizes=(8,), max_epochs=100, **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "interrupted" warning: nothing was absorbed
        with pytest.raises(KeyboardInterrupt):
            if caller == "cross_val_score":
                cross_val_score(ae, X, cv=2)
            else:
                make_pipeline(StandardScaler(), ae).fit(X)


def test_the_policy_can_be_forced_either_way(X, ctrl_c_at_epoch):
    ae = AutoEncoder(2, hidden_layer_sizes=(8,), max_epochs=100, **FAST)
    with keyboard_interrupt("raise"), pytest.raises(KeyboardInterrupt):
        ae.fit(X)
    with keyboard_interrupt("stop"), pytest.warns(UserWarning, match="interrupted"):
        scores = cross_val_score(ae, X, cv=2)  # every fold stops at epoch 3 and is scored
    assert np.isfinite(scores).all()
    match = r"Unknown policy 'never'; valid options are \['auto', 'stop', 'raise'\]"
    with pytest.raises(ValueError, match=match), keyboard_interrupt("never"):
        pass


# ------------------------------------------------------------------ real signals
_CHILD = textwrap.dedent("""
    import numpy as np, torch
    torch.set_num_threads(1)
    from sklearn.model_selection import GridSearchCV
    from skdeepclust.representation import AutoEncoder
    X = np.random.RandomState(0).rand(40, 5).astype(np.float32)
    ae = AutoEncoder(2, hidden_layer_sizes=(4,), max_epochs=1, batch_size=8, tol=None,
                     device="cpu", random_state=0)
    ae.fit(X)  # first-fit imports (torch._dynamo, ...) happen here, before the signals
    ae.set_params(max_epochs=10**7)
    print("ready", flush=True)
    ae.fit(X)  # a fit of our own: Ctrl-C stops it, the model is kept
    print("fitted", ae.n_iter_ > 1, ae.transform(X).shape, flush=True)
    print("ready", flush=True)
    GridSearchCV(ae, {"n_components": [1, 2]}, cv=2).fit(X)
    print("search finished", flush=True)
""")


def _pipe_lines(stream) -> queue.Queue:
    """The lines of ``stream``, read by a daemon thread (``None`` at its end), so that a
    child that never answers fails the test after a timeout instead of hanging it."""
    lines: queue.Queue = queue.Queue()

    def read():
        for line in iter(stream.readline, ""):
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


def _next(lines: queue.Queue) -> str | None:
    """The next line, failing the test when none comes within two minutes."""
    try:
        return lines.get(timeout=120)
    except queue.Empty:
        pytest.fail("the child printed no line for 120 s")


def _rest(lines: queue.Queue) -> str:
    """Everything left in ``lines`` up to its end."""
    rest = []
    while (line := _next(lines)) is not None:
        rest.append(line)
    return "".join(rest)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.skipif(signal.getsignal(signal.SIGINT) == signal.SIG_IGN,
                    reason="SIGINT is ignored in this process (started in the background "
                           "by a shell, or under nohup), and so in its children")
def test_sigint_stops_a_plain_fit_cleanly_and_a_grid_search_with_keyboard_interrupt():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", _CHILD], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    stdout, stderr = _pipe_lines(proc.stdout), _pipe_lines(proc.stderr)
    try:
        assert _next(stdout) == "ready\n"
        time.sleep(1.0)  # inside the training loop (10**7 epochs)
        proc.send_signal(signal.SIGINT)
        # the plain fit returned with a usable model and the script went on
        assert _next(stdout) == "fitted True (40, 2)\n"
        assert _next(stdout) == "ready\n"
        time.sleep(1.0)  # inside the first candidate's fit
        proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        proc.wait(timeout=120)
        elapsed = time.monotonic() - sent
        out, err = _rest(stdout), _rest(stderr)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0 and err.splitlines()[-1] == "KeyboardInterrupt"
    assert "search finished" not in out
    # the plain fit warned; no candidate of the search absorbed the interrupt
    assert err.count("interrupted by the user") == 1
    # no timing target here (a loaded CI machine stretches the interpreter's exit): the
    # search would otherwise run for hours, so a minute's bound proves the interrupt
    # reached it
    assert elapsed < 60


def test_ctrl_c_ends_the_tour_with_the_rows_done(ctrl_c_at_epoch, capsys):
    from skdeepclust.__main__ import main

    assert main(["--only", "AutoEncoder", "ZCA", "--no-baselines", "--device", "cpu"]) == 130
    out, err = capsys.readouterr()
    assert "[2/2] ZCA" not in err and "Interrupted (Ctrl-C)" in err
    assert "estimator" in out and "\nAutoEncoder" not in out
