"""A numba cache for skdeepclust's kernels that survives reinstalls and new environments.

numba's own cache of a ``cache=True`` function lives next to its source file (or, when that
folder is read-only, in a user folder named after the source's folder), so a new virtual
environment, another install location or a reinstall compiles the kernels again: about 5 s
of CPU for the RBM kernels, the largest part of a fresh process's first ``RBM().fit``.
:class:`SharedCacheLocator` keeps the compiled code of skdeepclust's own source files in
one user cache folder named after the *content* of the source file: every install of the
same kernels, wherever it lives, loads the code compiled by the first. numba's index
already keys each entry by the function's signature, the numba version and the CPU, so a
shared folder never hands out code built for another machine or version.

The folder is ``$SKDEEPCLUST_CACHE_DIR/numba`` when that variable is set, else
``skdeepclust/numba`` under the user's cache folder (``~/.cache`` on Linux). A user's own
``NUMBA_CACHE_DIR`` still takes precedence (numba's ``UserProvidedCacheLocator`` comes
first), and a folder that cannot be written falls back to numba's usual locators.

Use: call :func:`install_cache_locator` before the ``@njit(cache=True)`` decorators run
(first thing in a kernels module). This module imports numba: import it only where numba
is needed (``import skdeepclust`` never does).
"""

from __future__ import annotations

import hashlib
import os
import sys

from numba.core import caching

__all__ = ["SharedCacheLocator", "cache_root", "install_cache_locator"]

#: Source folders whose numba functions use the shared cache: the installed package.
_PACKAGE_DIRS: list[str] = [os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]


def cache_root() -> str:
    """The folder of the shared numba cache (it may not exist yet).

    Returns
    -------
    path : str
        ``$SKDEEPCLUST_CACHE_DIR/numba``, else ``<user cache>/skdeepclust/numba``: on Linux
        ``$XDG_CACHE_HOME`` or ``~/.cache``, on macOS ``~/Library/Caches``, on Windows
        ``%LOCALAPPDATA%``.
    """
    root = os.environ.get("SKDEEPCLUST_CACHE_DIR")
    if not root:
        if sys.platform == "win32":
            base = os.environ.get("LOCALAPPDATA") or os.path.expanduser("~/AppData/Local")
        elif sys.platform == "darwin":
            base = os.path.expanduser("~/Library/Caches")
        else:
            base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
        root = os.path.join(base, "skdeepclust")
    return os.path.join(root, "numba")


def _in_package(py_file: str) -> bool:
    path = os.path.abspath(py_file)
    for folder in _PACKAGE_DIRS:
        try:
            if os.path.commonpath([path, folder]) == folder:
                return True
        except ValueError:  # another drive (Windows)
            continue
    return False


class SharedCacheLocator(caching._SourceFileBackedLocatorMixin, caching._CacheLocator):
    """numba cache locator: skdeepclust's source files, cached by their content."""

    def __init__(self, py_func, py_file):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        with open(py_file, "rb") as f:
            self._digest = hashlib.sha256(f.read()).hexdigest()
        name = os.path.splitext(os.path.basename(py_file))[0]
        self._cache_path = os.path.join(cache_root(), f"{name}-{self._digest[:20]}")

    def get_cache_path(self):
        return self._cache_path

    def get_source_stamp(self):
        # the content, not the file's time stamp (what numba < 0.61 uses): a reinstall
        # writes the same source with a new time stamp
        return self._digest

    @classmethod
    def from_function(cls, py_func, py_file):
        if not (os.path.isfile(py_file) and _in_package(py_file)):
            return None
        return super().from_function(py_func, py_file)  # None when it cannot be written


def install_cache_locator() -> None:
    """Register :class:`SharedCacheLocator` with numba (idempotent).

    It goes right after numba's ``UserProvidedCacheLocator`` (so ``NUMBA_CACHE_DIR`` still
    wins) and before the locator that caches next to the source file. Functions defined
    outside skdeepclust are not affected.
    """
    locator = SharedCacheLocator
    impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl  # renamed in numba 0.60
    classes = impl._locator_classes  # shared by FunctionCache's CompileResultCacheImpl
    if locator in classes:
        return
    first = getattr(caching, "UserProvidedCacheLocator", None) or getattr(
        caching, "_UserProvidedCacheLocator", None)
    classes.insert(1 if classes and classes[0] is first else 0, locator)
