"""Shared fixtures: CPU determinism, RNG isolation and small data sets."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

# Tiny test models gain nothing from intra-op threads, and OpenMP barriers make them crawl
# when the cores are shared (CI runners, pytest-xdist). Tests only: the library never
# changes the process-wide thread count.
torch.set_num_threads(1)


def pytest_addoption(parser):
    parser.addoption(
        "--device", action="store", default="cpu", help="torch device for device-aware tests"
    )


@pytest.fixture
def device(request):
    return request.config.getoption("--device")


@pytest.fixture(autouse=True)
def _isolate_torch_rng():
    """Tests must not depend on, or leak, global torch RNG state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(12345)
        yield


@pytest.fixture(scope="session")
def digits():
    """Digits scaled to [0, 1] as float32, with labels."""
    data = load_digits()
    return (data.data / 16.0).astype(np.float32), data.target


@pytest.fixture
def compute_in_input_dtype(monkeypatch):
    """Compute in the input's dtype instead of the float32 default: for tests of float64
    exactness (tolerances of 1e-8 and below, equality across processes). The environment
    variable carries the setting into the processes such tests start."""
    import skdeepclust

    monkeypatch.setenv("SKDEEPCLUST_COMPUTE_DTYPE", "input")
    with skdeepclust.config_context(compute_dtype="input"):
        yield
