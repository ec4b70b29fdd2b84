"""set_config(mixed_precision=...): bfloat16 matrix products in large autoencoder steps."""

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from sklearn.preprocessing import StandardScaler

import skdeepclust
from skdeepclust import _config, _precision
from skdeepclust._precision import MIXED_PRECISION_MIN_WORK, training_autocast_dtype
from skdeepclust.representation import AutoEncoder

CPU = torch.device("cpu")
BIG, SMALL = MIXED_PRECISION_MIN_WORK, MIXED_PRECISION_MIN_WORK - 1


@pytest.fixture
def native(monkeypatch):
    """Pretend the CPU multiplies bfloat16 in hardware (or not)."""
    def set_native(value: bool):
        monkeypatch.setattr(_precision, "native_bfloat16", lambda device: value)
    return set_native


@pytest.fixture(scope="module")
def low_rank():
    """400 x 16 data of rank 3 plus small noise, standardized."""
    rng = np.random.RandomState(0)
    X = rng.randn(400, 3) @ rng.randn(3, 16) + 0.05 * rng.randn(400, 16)
    return StandardScaler().fit_transform(X).astype(np.float32)


def _linear_output_dtypes(monkeypatch, by_layer=None):
    """The output dtypes of every Linear called from now on (and, in ``by_layer``, per
    ``(in_features, out_features)``)."""
    seen = []
    forward = torch.nn.Linear.forward

    def recording(self, x):
        out = forward(self, x)
        seen.append(out.dtype)
        if by_layer is not None:
            by_layer.setdefault((self.in_features, self.out_features), set()).add(out.dtype)
        return out

    monkeypatch.setattr(torch.nn.Linear, "forward", recording)
    return seen


@pytest.mark.parametrize(
    "setting, is_native, dtype, work, plain, expected",
    [
        ("auto", True, torch.float32, BIG, True, torch.bfloat16),
        ("auto", True, torch.float32, SMALL, True, None),  # a small step gains nothing
        ("auto", False, torch.float32, BIG, True, None),  # no native bfloat16 products
        ("auto", True, torch.float64, BIG, True, None),  # float64 asked for precision
        ("auto", True, torch.float32, BIG, False, None),  # a contractive penalty
        ("off", True, torch.float32, BIG, True, None),
        ("bfloat16", False, torch.float32, 1, False, torch.bfloat16),
        ("bfloat16", True, torch.float64, BIG, True, None),
    ],
)
def test_training_autocast_dtype(native, setting, is_native, dtype, work, plain, expected):
    native(is_native)
    with skdeepclust.config_context(mixed_precision=setting):
        assert training_autocast_dtype(CPU, dtype, work, plain=plain) == expected


def test_bfloat16_setting_leaves_other_devices_alone():
    with skdeepclust.config_context(mixed_precision="bfloat16"):
        assert training_autocast_dtype(torch.device("meta"), torch.float32, BIG) is None


def test_mixed_precision_setting_round_trip_and_errors(monkeypatch):
    assert skdeepclust.get_config()["mixed_precision"] == "auto"  # the initial value
    with skdeepclust.config_context(mixed_precision="off"):
        assert skdeepclust.get_config()["mixed_precision"] == "off"
    assert skdeepclust.get_config()["mixed_precision"] == "auto"
    with pytest.raises(ValueError, match="mixed_precision must be one of 'auto', 'bfloat16'"):
        skdeepclust.set_config(mixed_precision="float16")
    monkeypatch.setenv("SKDEEPCLUST_MIXED_PRECISION", "off")
    assert _config._defaults()["mixed_precision"] == "off"
    monkeypatch.setenv("SKDEEPCLUST_MIXED_PRECISION", "fp8")
    with pytest.raises(ValueError, match="mixed_precision must be one of"):
        _config._defaults()


def test_environment_variable_reaches_a_new_process():
    code = ("import skdeepclust; print(skdeepclust.get_config()['mixed_precision'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "SKDEEPCLUST_MIXED_PRECISION": "off"},
                         check=True)
    assert out.stdout.strip() == "off"


def test_autoencoder_trains_its_products_in_bfloat16_and_stays_float32(low_rank, monkeypatch):
    by_layer = {}
    seen = _linear_output_dtypes(monkeypatch, by_layer)
    with skdeepclust.config_context(mixed_precision="bfloat16"):
        ae = AutoEncoder(3, hidden_layer_sizes=(32,), max_epochs=60, tol=None, device="cpu",
                         random_state=0).fit(low_rank)
    assert ae._autocast_dtype == torch.bfloat16
    assert set(by_layer) == {(16, 32), (32, 3), (3, 32), (32, 16)}
    assert set(seen) == {torch.bfloat16}  # every training product
    assert all(p.dtype == torch.float32 for p in ae.module_.parameters())
    seen.clear()
    codes = ae.transform(low_rank)
    assert codes.dtype == np.float32 and set(seen) == {torch.float32}  # inference in float32
    # it learns the rank-3 structure as well as the float32 fit
    with skdeepclust.config_context(mixed_precision="off"):
        ref = AutoEncoder(3, hidden_layer_sizes=(32,), max_epochs=60, tol=None, device="cpu",
                          random_state=0).fit(low_rank)
    assert ref._autocast_dtype is None

    def error(model):
        return float(np.mean((model.inverse_transform(model.transform(low_rank))
                              - low_rank) ** 2))
    assert error(ref) < 0.05
    assert error(ae) < 1.25 * error(ref)
    assert not np.array_equal(codes, ref.transform(low_rank))  # the products did differ


def test_auto_leaves_small_fits_bit_identical(low_rank, native):
    native(True)
    params = {"n_components": 3, "hidden_layer_sizes": (32,), "max_epochs": 5, "tol": None,
              "device": "cpu", "random_state": 0}
    with skdeepclust.config_context(mixed_precision="auto"):
        auto = AutoEncoder(**params).fit(low_rank)
    with skdeepclust.config_context(mixed_precision="off"):
        off = AutoEncoder(**params).fit(low_rank)
    assert auto._autocast_dtype is None
    np.testing.assert_array_equal(auto.transform(low_rank), off.transform(low_rank))


def test_auto_autocasts_a_large_step_on_native_hardware(low_rank, native, monkeypatch):
    native(True)
    monkeypatch.setattr(_precision, "MIXED_PRECISION_MIN_WORK", 1000)
    with skdeepclust.config_context(mixed_precision="auto"):
        ae = AutoEncoder(3, hidden_layer_sizes=(32,), max_epochs=1, tol=None, device="cpu",
                         random_state=0).fit(low_rank)
        contractive = AutoEncoder(3, hidden_layer_sizes=(32,), max_epochs=1, tol=None,
                                  contractive=0.1, device="cpu", random_state=0).fit(low_rank)
    assert ae._autocast_dtype == torch.bfloat16
    assert contractive._autocast_dtype is None


def test_auto_runs_the_first_fifth_of_the_steps_in_float32(low_rank, native, monkeypatch):
    """"auto": the first MIXED_PRECISION_FLOAT32_SHARE of the fit's steps in float32 (they
    decide the partition the codes hold), then bfloat16 products; "bfloat16": every step."""
    native(True)
    monkeypatch.setattr(_precision, "MIXED_PRECISION_MIN_WORK", 1000)
    assert _precision.MIXED_PRECISION_FLOAT32_SHARE == 0.2
    seen = _linear_output_dtypes(monkeypatch)
    params = {"n_components": 3, "hidden_layer_sizes": (32,), "max_epochs": 5,
              "batch_size": 100, "tol": None, "device": "cpu", "random_state": 0}
    with skdeepclust.config_context(mixed_precision="auto"):
        ae = AutoEncoder(**params).fit(low_rank)  # 5 epochs x 4 steps: 4 in float32
    assert ae._autocast_dtype == torch.bfloat16 and ae._float32_steps_left == 0
    assert seen[:16] == [torch.float32] * 16  # 4 steps x 4 layers
    assert seen[16:80] == [torch.bfloat16] * 64
    seen.clear()
    with skdeepclust.config_context(mixed_precision="bfloat16"):
        AutoEncoder(**params).fit(low_rank)
    assert seen[:80] == [torch.bfloat16] * 80


def test_an_autocast_fit_is_reproducible_bit_for_bit(low_rank, native, monkeypatch):
    """The README's guarantee holds at the default: the same seed, the same model."""
    native(True)
    monkeypatch.setattr(_precision, "MIXED_PRECISION_MIN_WORK", 1000)
    params = {"n_components": 3, "hidden_layer_sizes": (32,), "max_epochs": 5,
              "batch_size": 100, "tol": None, "device": "cpu", "random_state": 0}
    assert skdeepclust.get_config()["mixed_precision"] == "auto"
    first, second = AutoEncoder(**params).fit(low_rank), AutoEncoder(**params).fit(low_rank)
    assert first._autocast_dtype == torch.bfloat16
    np.testing.assert_array_equal(first.transform(low_rank), second.transform(low_rank))
    np.testing.assert_array_equal(first.loss_curve_, second.loss_curve_)


def test_choice_is_kept_by_partial_fit_and_pickling(low_rank, monkeypatch):
    with skdeepclust.config_context(mixed_precision="bfloat16"):
        ae = AutoEncoder(3, hidden_layer_sizes=(32,), device="cpu", random_state=0)
        ae.partial_fit(low_rank)
    seen = _linear_output_dtypes(monkeypatch)
    with skdeepclust.config_context(mixed_precision="off"):
        ae.partial_fit(low_rank)  # a later call keeps the fit's choice
        assert torch.bfloat16 in seen
        clone = pickle.loads(pickle.dumps(ae))
        assert clone._autocast_dtype == torch.bfloat16
        seen.clear()
        clone.partial_fit(low_rank)
    assert torch.bfloat16 in seen
    # an estimator pickled before the setting existed resolves it on its next call
    del clone._autocast_dtype
    with skdeepclust.config_context(mixed_precision="off"):
        clone.partial_fit(low_rank)
    assert clone._autocast_dtype is None

