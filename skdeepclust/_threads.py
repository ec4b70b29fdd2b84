"""The thread count of small CPU training loops (the ``small_fit_threads`` setting).

A training step of a small network is a few hundred small operations; on the CPU, torch's
intra-op threads then cost more synchronisation than they bring, so :func:`small_fit_threads`
runs such a loop on fewer threads (one by default) and restores the count afterwards.

In OpenMP builds of torch (the usual ones, e.g. the Linux wheels;
``torch.__config__.parallel_info()`` names the back-end) the count a thread runs on is that
thread's OpenMP count (and its MKL count), which ``torch.get_num_threads`` reads. The change
is confined to the thread running the fit: where the build exports ``omp_set_num_threads``
and ``mkl_set_num_threads_local`` (the Linux wheels do), those two thread-local counts are set
directly. ``torch.set_num_threads`` is not used there because it also writes the process-wide
count that every thread reads when it first uses torch: a thread starting during that
moment would keep the lowered count. Elsewhere ``torch.set_num_threads`` is called and the
start-up count put back at once. Builds with torch's native thread pool share one count
across the process: there skdeepclust never changes it.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from ._config import get_config

__all__ = ["SMALL_STEP_WORK", "small_fit_threads", "step_work", "thread_count_is_per_thread"]

#: Below this many multiply-adds per step (batch size x trained parameters), a training
#: loop on the CPU counts as small (see ``set_config(small_fit_threads=...)``); the figures
#: behind it are in the user guide's "Threads" section (benchmarks/bench_threads.py).
SMALL_STEP_WORK = 10_000_000


def step_work(batch_size: int, params) -> int:
    """Multiply-adds of one training step as the thread and precision rules count them:
    the batch size times the number of trained parameters (``params``, tensors)."""
    return int(batch_size) * sum(p.numel() for p in params)


_per_thread: bool | None = None
_native: tuple | None = None  # (omp_set_num_threads, mkl_set_num_threads_local) or ()
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


def _native_setters() -> tuple:
    """The thread-local setters of torch's own OpenMP and MKL libraries, or ``()``.

    Looked up through ``libtorch_cpu`` (``dlsym`` on its handle searches the libraries it
    links, so this finds the OpenMP runtime torch runs on, not another one in the process).
    """
    global _native
    if _native is None:
        _native = ()
        try:
            lib = ctypes.CDLL(str(Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"))
            omp, mkl = lib.omp_set_num_threads, lib.mkl_set_num_threads_local
        except (OSError, AttributeError):  # another platform, or a build without MKL
            return _native
        omp.argtypes, omp.restype = [ctypes.c_int], None
        # MKL's exported name takes its argument by reference (the Fortran convention)
        mkl.argtypes, mkl.restype = [ctypes.POINTER(ctypes.c_int)], ctypes.c_int

        def mkl_local(n: int) -> int:
            return mkl(ctypes.byref(ctypes.c_int(n)))

        _native = (omp, mkl_local)
    return _native


def _set_this_thread(n: int) -> int | None:
    """Set the calling thread's torch thread count to ``n`` (OpenMP builds).

    Returns the thread's previous MKL count where the native setters are used (0: none of
    its own, MKL follows the OpenMP count; pass it back to :func:`_restore_this_thread`),
    else None.
    """
    native = _native_setters()
    if native:
        omp, mkl = native
        omp(n)
        return mkl(n)
    with _lock:
        try:
            start_up = _in_fresh_thread(torch.get_num_threads)
        except RuntimeError:  # no new thread now (interpreter shutdown): set it anyway
            start_up = n
        torch.set_num_threads(n)
        if start_up != n:
            _in_fresh_thread(torch.set_num_threads, start_up)
    return None


def _restore_this_thread(n: int, mkl: int | None) -> None:
    """Undo :func:`_set_this_thread`: OpenMP count ``n``, MKL count ``mkl``."""
    if mkl is None:
        _set_this_thread(n)
        return
    omp, mkl_local = _native_setters()
    omp(n)
    mkl_local(mkl)


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
        or step_work(batch_size, params) >= SMALL_STEP_WORK
        or not thread_count_is_per_thread()
    ):
        yield
        return
    saved = torch.get_num_threads()
    n = _target(setting, saved)
    if n >= saved:
        yield
        return
    mkl = _set_this_thread(n)
    try:
        yield
    finally:
        _restore_this_thread(saved, mkl)
