"""The thread count of small CPU training loops (the ``small_fit_threads`` setting).

A training step of a small network is a few hundred small operations; on the CPU, torch's
intra-op threads then cost more synchronisation than they bring, so :func:`small_fit_threads`
runs such a loop on fewer threads (one by default) and restores the count afterwards.

torch's thread count is per thread in OpenMP builds (the usual ones, e.g. the Linux
wheels; ``torch.__config__.parallel_info()`` names the back-end): ``torch.set_num_threads`` sets the calling thread's OpenMP count and the count that
threads using torch for the first time start from. The change is confined to the thread
running the fit: the start-up count is put back at once, so fits in other threads, and
threads started during the fit, keep their own setting. Builds with torch's native thread
pool share one count across the process: there skdeepclust never changes it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

import torch

from ._config import get_config

__all__ = ["SMALL_STEP_WORK", "small_fit_threads", "thread_count_is_per_thread"]

#: Below this many multiply-adds per step (batch size x trained parameters), a training
#: loop on the CPU counts as small (see ``set_config(small_fit_threads=...)``); the figures
#: behind it are in the user guide's "Threads" section (benchmarks/bench_threads.py).
SMALL_STEP_WORK = 10_000_000

_per_thread: bool | None = None
_lock = threading.Lock()  # one change of the start-up count at a time


def thread_count_is_per_thread() -> bool:
    """Whether ``torch.set_num_threads`` acts per thread (ATen's OpenMP back-end)."""
    global _per_thread
    if _per_thread is None:
        _per_thread = "ATen parallel backend: OpenMP" in torch.__config__.parallel_info()
    return _per_thread


def _in_fresh_thread(function: Callable, *args):
    """Call ``function`` in a new thread: one that has not used torch yet starts from the
    start-up count, which ``torch.get_num_threads`` reads and ``set_num_threads`` writes."""
    out = []
    thread = threading.Thread(target=lambda: out.append(function(*args)), daemon=True)
    thread.start()
    thread.join()
    return out[0]


def _set_this_thread(n: int) -> None:
    """``torch.set_num_threads(n)`` for the calling thread only (OpenMP builds)."""
    with _lock:
        try:
            start_up = _in_fresh_thread(torch.get_num_threads)
        except RuntimeError:  # no new thread now (interpreter shutdown): set it anyway
            start_up = n
        torch.set_num_threads(n)
        if start_up != n:
            _in_fresh_thread(torch.set_num_threads, start_up)


def _target(setting, current: int) -> int:
    if setting == "off":
        return current
    return 1 if setting == "auto" else min(int(setting), current)


@contextlib.contextmanager
def small_fit_threads(params: list, batch_size: int, device: torch.device) -> Iterator[None]:
    """Run a small CPU training loop on the thread count that ``small_fit_threads`` names.

    Does nothing on other devices, for loops with no optimizer parameters, for steps of
    :data:`SMALL_STEP_WORK` multiply-adds or more, with ``small_fit_threads="off"`` and
    on builds whose thread count is process-wide.
    """
    setting = get_config()["small_fit_threads"]
    if (
        setting == "off"
        or device.type != "cpu"
        or not params
        or batch_size * sum(p.numel() for p in params) >= SMALL_STEP_WORK
        or not thread_count_is_per_thread()
    ):
        yield
        return
    saved = torch.get_num_threads()
    n = _target(setting, saved)
    if n >= saved:
        yield
        return
    _set_this_thread(n)
    try:
        yield
    finally:
        _set_this_thread(saved)
