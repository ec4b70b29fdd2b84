"""The training loop's outcome helpers (one wording for every estimator) and the thread
count of small CPU loops."""

import os
import subprocess
import sys
import threading
import time
import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning

import skdeepclust
from skdeepclust import _config, _threads
from skdeepclust._optim import make_optimizer
from skdeepclust._threads import thread_count_is_per_thread
from skdeepclust._training import (
    TrainingResult,
    partition_problems,
    train_loop,
    warn_partition,
    warn_unconverged,
)
from skdeepclust.representation import AutoEncoder


class Dummy:
    pass


def test_partition_problems_finds_empty_and_dominant_clusters():
    labels = np.r_[np.zeros(90, int), np.arange(1, 8)]  # 8, 9 empty; 0 holds 93%
    problems = partition_problems(labels, 10)
    assert problems[0] == "2 of n_clusters=10 clusters are empty (clusters [8, 9])"
    assert problems[1].startswith("cluster 0 holds 93%")


def test_partition_problems_accepts_balanced_and_small_k():
    assert partition_problems(np.arange(100) % 10, 10) == []
    # two clusters: any split is a partition, never "degenerate"
    assert partition_problems(np.r_[np.zeros(95, int), np.ones(5, int)], 2) == []
    # 3 clusters: 80% in one is under 2.5/3 of the samples
    assert partition_problems(np.r_[np.zeros(80, int), [1] * 10, [2] * 10], 3) == []
    assert partition_problems(np.r_[np.zeros(90, int), [1] * 5, [2] * 5], 3) != []


def test_warn_partition_names_estimator_phase_and_advice():
    with pytest.warns(ConvergenceWarning, match=r"^Dummy \(fit\) ended with a degenerate "
                      r"partition: 1 of n_components=3 components are empty .*; try this\.$"):
        assert warn_partition(Dummy(), [0, 1, 0, 1], 3, phase="fit", advice="try this",
                              what="components")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not warn_partition(Dummy(), [0, 1, 2, 0], 3, phase="fit", advice="x")


def test_warn_unconverged_only_when_the_cap_stopped_training():
    result = TrainingResult(n_iter=5)
    with pytest.warns(ConvergenceWarning, match=r"Dummy \(pretraining\) stopped at "
                      r"max_epochs=5 before the rule; increase max_epochs\."):
        assert warn_unconverged(Dummy(), result, phase="pretraining", max_epochs=5,
                                rule="the rule")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for done in (TrainingResult(n_iter=5, converged=True),
                     TrainingResult(n_iter=5, interrupted=True), TrainingResult(n_iter=0)):
            assert not warn_unconverged(Dummy(), done, phase="p", max_epochs=5, rule="r")


def test_nearest_power_of_two_is_clipped():
    from skdeepclust._training import nearest_power_of_two

    assert [nearest_power_of_two(x, 32, 256) for x in (0, 0.5, 40, 48, 60, 1e6)] == [
        32, 32, 32, 64, 64, 256]
    assert nearest_power_of_two(1797 / 16, 64, 512) == 128


# --------------------------------------------------------- threads of small CPU loops
def _small_fit(seen=None, before_end=None, width=4):
    """A small CPU train_loop (two steps); ``seen`` collects the thread count per step."""
    net = torch.nn.Linear(width, width)
    opt = make_optimizer("adam", net.parameters(), learning_rate=1e-3)
    X = torch.randn(64, width)

    def step(idx):
        if seen is not None:
            seen.append(torch.get_num_threads())
        if before_end is not None and len(seen) == 2:
            before_end()
        return net(X[idx]).pow(2).mean()

    train_loop(step, n_samples=64, batch_size=32, max_epochs=1,
               generator=torch.Generator().manual_seed(0), optimizer=opt)


@pytest.fixture
def three_threads():
    """torch on 3 threads in this thread and for threads that start using torch."""
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    yield 3
    torch.set_num_threads(before)


def _in_thread(function):
    out = []
    thread = threading.Thread(target=lambda: out.append(function()))
    thread.start()
    thread.join()
    return out[0]


def _mkl_count():
    """The calling thread's MKL count as torch reports it (None without MKL)."""
    for line in torch.__config__.parallel_info().splitlines():
        if "mkl_get_max_threads()" in line:
            return int(line.split(":")[-1])
    return None


needs_native_setters = pytest.mark.skipif(
    not (thread_count_is_per_thread() and _threads._native_setters()),
    reason="needs torch's OpenMP and MKL thread-local setters (Linux wheels)")


@needs_native_setters  # torch.set_num_threads, the fallback, has a moment when it is racy
def test_concurrent_small_fits_in_threads_leave_every_thread_count_as_it_was(three_threads):
    """Fit A ends while fit B runs, B ends later; a thread that starts using torch during
    the fits gets the start-up count; every thread ends with the count it had."""
    b_started, a_done = threading.Event(), threading.Event()
    report = {}

    def fit_a():
        seen = []
        report["a_before"] = torch.get_num_threads()
        _small_fit(seen, before_end=lambda: b_started.wait(10))
        report["a_seen"], report["a_after"] = seen, torch.get_num_threads()
        a_done.set()

    def fit_b():
        seen = []
        report["b_before"] = torch.get_num_threads()

        def wait_for_a():
            b_started.set()
            report["new_thread_during"] = _in_thread(torch.get_num_threads)
            a_done.wait(10)

        _small_fit(seen, before_end=wait_for_a)
        report["b_seen"], report["b_after"] = seen, torch.get_num_threads()

    threads = [threading.Thread(target=fit_a), threading.Thread(target=fit_b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert report == {"a_before": 3, "a_seen": [1, 1], "a_after": 3, "b_before": 3,
                      "new_thread_during": 3, "b_seen": [1, 1], "b_after": 3}
    assert torch.get_num_threads() == 3
    assert _in_thread(torch.get_num_threads) == 3


def test_small_fit_threads_off_never_touches_torch(three_threads, monkeypatch):
    def fail(n):
        raise AssertionError("torch.set_num_threads was called")

    monkeypatch.setattr(torch, "set_num_threads", fail)
    seen = []
    with skdeepclust.config_context(small_fit_threads="off"):
        _small_fit(seen)
        AutoEncoder(2, hidden_layer_sizes=(4,), max_epochs=2, tol=None, device="cpu",
                    random_state=0).fit(np.random.RandomState(0).rand(30, 3))
    assert seen == [3, 3]


def test_a_process_wide_thread_count_is_never_changed(three_threads, monkeypatch):
    """Builds with torch's native thread pool share one count across threads: skdeepclust
    leaves it alone whatever the setting."""
    monkeypatch.setattr(_threads, "_per_thread", False)
    monkeypatch.setattr(torch, "set_num_threads", lambda n: pytest.fail("set_num_threads"))
    seen = []
    _small_fit(seen)
    assert seen == [3, 3]


@needs_native_setters
def test_a_thread_starting_torch_while_small_fits_begin_and_end_gets_the_start_up_count(
        three_threads):
    """The process-wide count is never lowered, not even for an instant: threads that start
    using torch while small fits enter and leave (hundreds of times) all read 3."""
    params = [torch.nn.Parameter(torch.zeros(4))]
    stop, readings = threading.Event(), []

    def start_threads():
        while not stop.is_set():
            thread = threading.Thread(target=lambda: readings.append(torch.get_num_threads()))
            thread.start()
            thread.join()

    reader = threading.Thread(target=start_threads)
    reader.start()
    deadline = time.monotonic() + 60
    try:
        while len(readings) < 300 and time.monotonic() < deadline:
            with _threads.small_fit_threads(params, 8, torch.device("cpu")):
                assert torch.get_num_threads() == 1
    finally:
        stop.set()
        reader.join()
    assert len(readings) >= 300
    assert readings.count(3) == len(readings)


@needs_native_setters
def test_small_fits_set_only_thread_local_counts(three_threads, monkeypatch):
    """torch.set_num_threads (which writes the process-wide count) is not called; the MKL
    count of the fitting thread goes down with the OpenMP count and comes back."""
    monkeypatch.setattr(torch, "set_num_threads", lambda n: pytest.fail("set_num_threads"))
    mkl_seen = []
    _small_fit(before_end=lambda: mkl_seen.append(_mkl_count()), seen=[])
    assert torch.get_num_threads() == 3
    if _mkl_count() is not None:
        assert mkl_seen == [1]
        assert _mkl_count() == 3


@pytest.fixture(params=["native", "torch.set_num_threads"])
def setter(request, monkeypatch):
    """Both ways of changing the fitting thread's count: torch's thread-local OpenMP/MKL
    setters, and torch.set_num_threads with the start-up count put back."""
    if request.param == "native" and not _threads._native_setters():
        pytest.skip("torch's thread-local setters are not exported by this build")
    if request.param != "native":
        monkeypatch.setattr(_threads, "_native", ())
    return request.param


@pytest.mark.skipif(not thread_count_is_per_thread(), reason="needs an OpenMP build of torch")
@pytest.mark.parametrize("setting, width, expected", [
    ("auto", 4, 1), (2, 4, 2), (8, 4, 3),  # a count: at most that many
    ("auto", 2000, 3),  # 32 x 4 million multiply-adds per step: not small
])
def test_small_fit_threads_setting(setting, width, expected, three_threads, setter):
    seen = []
    with skdeepclust.config_context(small_fit_threads=setting):
        _small_fit(seen, width=width)
    assert seen == [expected] * 2
    assert torch.get_num_threads() == 3
    assert _in_thread(torch.get_num_threads) == 3
    if _mkl_count() is not None:
        assert _mkl_count() == 3
    assert skdeepclust.get_config()["small_fit_threads"] == "auto"


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "fast", "none"])
def test_small_fit_threads_rejects_other_values(bad):
    with pytest.raises(ValueError, match="small_fit_threads must be 'auto', 'off' or a"):
        skdeepclust.set_config(small_fit_threads=bad)


def test_import_leaves_the_environment_alone_and_reads_the_setting_from_it(monkeypatch):
    code = ("import os; before = dict(os.environ); import skdeepclust, torch; "
            "print(dict(os.environ) == before, skdeepclust.get_config()['small_fit_threads'])")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMP_")}
    env["SKDEEPCLUST_SMALL_FIT_THREADS"] = "2"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True)
    assert out.stdout.split() == ["True", "2"]
    for value, expected in (("off", "off"), (" Auto ", "auto"), ("3", 3)):
        monkeypatch.setenv("SKDEEPCLUST_SMALL_FIT_THREADS", value)
        assert _config._defaults()["small_fit_threads"] == expected
    monkeypatch.setenv("SKDEEPCLUST_SMALL_FIT_THREADS", "0")
    with pytest.raises(ValueError, match="small_fit_threads must be"):
        _config._defaults()
