"""The shared numba cache of skdeepclust's kernels (skdeepclust._numba_cache)."""

import importlib.util
import os

import pytest

pytest.importorskip("numba")

from numba.core import caching

from skdeepclust import _numba_cache

KERNEL = "from numba import njit\n\n\n@njit(cache=True)\ndef f(x):\n    return x + 1\n"


@pytest.fixture
def shared_cache(tmp_path, monkeypatch):
    """The locator installed for two fake install folders, removed afterwards."""
    monkeypatch.setenv("SKDEEPCLUST_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    installs = [tmp_path / "site-a", tmp_path / "site-b", tmp_path / "site-c"]
    for folder in installs:
        folder.mkdir()
    monkeypatch.setattr(_numba_cache, "_PACKAGE_DIRS", [str(f) for f in installs])
    locators = caching.CacheImpl._locator_classes
    before = list(locators)
    _numba_cache.install_cache_locator()
    yield installs
    locators[:] = before


def _load(folder, source, name):
    path = os.path.join(folder, "kern.py")
    with open(path, "w") as f:
        f.write(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.f


def _hits_misses(f):
    return sum(f.stats.cache_hits.values()), sum(f.stats.cache_misses.values())


def test_a_second_install_of_the_same_source_loads_the_compiled_code(shared_cache, tmp_path):
    site_a, site_b, site_c = shared_cache
    first = _load(site_a, KERNEL, "kern_a")
    assert first(1.0) == 2.0 and _hits_misses(first) == (0, 1)  # compiled, then saved
    assert first.stats.cache_path.startswith(str(tmp_path / "cache" / "numba" / "kern-"))
    again = _load(site_b, KERNEL, "kern_b")  # elsewhere (a reinstall, another venv)
    assert again(1.0) == 2.0 and _hits_misses(again) == (1, 0)
    assert again.stats.cache_path == first.stats.cache_path
    changed = _load(site_c, KERNEL.replace("x + 1", "x + 2"), "kern_c")  # new kernels
    assert changed(1.0) == 3.0 and _hits_misses(changed) == (0, 1)
    assert changed.stats.cache_path != first.stats.cache_path


def test_functions_outside_the_package_and_numba_cache_dir_are_left_to_numba(
        shared_cache, tmp_path, monkeypatch):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    f = _load(outside, KERNEL, "kern_outside")
    f(1.0)
    assert f.stats.cache_path == str(outside / "__pycache__")  # numba's own locator
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "numba_dir"))
    monkeypatch.setattr(caching.config, "CACHE_DIR", str(tmp_path / "numba_dir"))
    g = _load(shared_cache[0], KERNEL, "kern_user_dir")
    g(1.0)
    assert g.stats.cache_path.startswith(str(tmp_path / "numba_dir"))  # the user's choice wins


def test_install_is_idempotent_and_the_default_folder_is_the_user_cache(shared_cache,
                                                                       monkeypatch):
    _numba_cache.install_cache_locator()
    locator = _numba_cache.SharedCacheLocator
    assert caching.CacheImpl._locator_classes.count(locator) == 1
    assert caching.CacheImpl._locator_classes[1] is locator  # after NUMBA_CACHE_DIR's
    monkeypatch.delenv("SKDEEPCLUST_CACHE_DIR")
    monkeypatch.setattr(_numba_cache.sys, "platform", "linux")
    monkeypatch.setenv("XDG_CACHE_HOME", "/xdg")
    assert _numba_cache.cache_root() == os.path.join("/xdg", "skdeepclust", "numba")
