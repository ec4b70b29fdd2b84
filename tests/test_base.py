"""The shared backend: devices, seeding, pickling, the training loop and input errors."""

import copy
import pickle
import warnings

import numpy as np
import pytest
import torch

from skdeepclust._optim import make_optimizer
from skdeepclust._torch import resolve_device
from skdeepclust._training import TrainingResult, train_loop
from skdeepclust.exceptions import DeviceWarning, TrainingDivergedError
from skdeepclust.representation import AutoEncoder

FAST = dict(n_components=3, hidden_layer_sizes=(8,), max_epochs=3, batch_size=32, device="cpu")


@pytest.fixture(scope="module")
def X():
    return np.random.RandomState(0).rand(120, 6)


# ----------------------------------------------------------------------------- devices
def test_resolve_device_strings():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available() and torch.backends.mps.is_available():
        expected = "mps"
    assert resolve_device("auto").type == expected


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:1", torch.device("cuda", 0)])
def test_missing_cuda_is_a_value_error_naming_the_parameter(device, X):
    with pytest.raises(ValueError, match="'device' parameter.*CUDA is not available"):
        AutoEncoder(**{**FAST, "device": device}).fit(X)


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "tpu"])
def test_unknown_device_string(device, X):
    with pytest.raises(ValueError, match="'device' parameter"):
        AutoEncoder(**{**FAST, "device": device}).fit(X)


def test_device_of_wrong_type(X):
    with pytest.raises(TypeError, match="'device' parameter"):
        AutoEncoder(**{**FAST, "device": 0}).fit(X)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no cuda device")
def test_cuda_fit_matches_cpu(X):  # pragma: no cover - GPU only
    # Both fits start from the same weights (modules are built on the CPU, then moved). With
    # one full batch, no noise and plain SGD, what the CUDA generator draws differently (the
    # order of the rows in the batch) changes only the order of the sums: the two fits agree
    # to float32 rounding (on the CPU, another row order stays within 1e-3 of the tolerance).
    kw = {**FAST, "batch_size": X.shape[0], "max_epochs": 20, "optimizer": "sgd",
          "learning_rate": 0.1, "tol": None, "random_state": 0}
    cpu = AutoEncoder(**kw).fit(X)
    gpu = AutoEncoder(**{**kw, "device": "cuda"}).fit(X)
    assert all(p.is_cuda for p in gpu.module_.parameters())
    assert cpu.loss_curve_[-1] < 0.5 * cpu.loss_curve_[0]  # the training moved the weights
    want, got = cpu.module_.state_dict(), gpu.module_.state_dict()
    assert got.keys() == want.keys()
    for name in want:
        np.testing.assert_allclose(got[name].cpu().numpy(), want[name].numpy(), rtol=1e-4,
                                   atol=1e-5, err_msg=name)
    np.testing.assert_allclose(gpu.loss_curve_, cpu.loss_curve_, rtol=1e-4)
    np.testing.assert_allclose(gpu.transform(X), cpu.transform(X), rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------- seeding
def test_same_seed_gives_bit_identical_models(X):
    a = AutoEncoder(**FAST, random_state=7).fit(X)
    b = AutoEncoder(**FAST, random_state=7).fit(X)
    for (na, pa), (nb, pb) in zip(a.module_.state_dict().items(), b.module_.state_dict().items()):
        assert na == nb and torch.equal(pa, pb), na
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    assert a.loss_curve_ == b.loss_curve_
    c = AutoEncoder(**FAST, random_state=8).fit(X)
    assert not np.allclose(a.transform(X), c.transform(X))


def test_fit_neither_reads_nor_changes_global_rng(X):
    torch.manual_seed(0)
    before = torch.random.get_rng_state()
    np_before = np.random.get_state()[1].copy()
    a = AutoEncoder(**FAST, noise="gaussian", random_state=3).fit(X)
    assert torch.equal(before, torch.random.get_rng_state())
    np.testing.assert_array_equal(np_before, np.random.get_state()[1])
    torch.manual_seed(999)  # a different global state must not change the result
    b = AutoEncoder(**FAST, noise="gaussian", random_state=3).fit(X)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))


# ----------------------------------------------------------------------------- pickling
def test_pickle_round_trip_predicts_the_same(X):
    ae = AutoEncoder(**FAST, random_state=0).fit(X)
    loaded = pickle.loads(pickle.dumps(ae))
    np.testing.assert_array_equal(ae.transform(X), loaded.transform(X))
    assert "_optimizer" not in loaded.__dict__  # pickles stay cheap
    loaded.partial_fit(X)  # and training can continue
    assert loaded.n_iter_ == ae.n_iter_ + 1


def test_pickling_leaves_the_fitted_estimator_untouched(X):
    # BaseEstimator.__getstate__ hands back the live __dict__ for non-sklearn classes: the
    # state must be a copy, or pickling/deepcopy would drop the optimizer of the original.
    ae = AutoEncoder(**FAST, random_state=0).fit(X)
    optimizer, device = ae._optimizer, ae._device
    pickle.dumps(ae)
    copy.deepcopy(ae)
    assert ae._optimizer is optimizer
    assert ae._device == device and isinstance(ae._device, torch.device)
    steps = [float(st["step"]) for st in optimizer.state.values()]
    ae.partial_fit(X)  # continues with the same Adam moments, not fresh ones
    assert ae._optimizer is optimizer
    assert all(float(st["step"]) > s for st, s in zip(optimizer.state.values(), steps))


def test_pickle_from_a_missing_gpu_falls_back_to_cpu_with_a_warning(X, monkeypatch):
    ae = AutoEncoder(**FAST, random_state=0).fit(X)
    expected = ae.transform(X)
    ae._device = torch.device("cuda", 0)  # as if fitted on a GPU
    payload = pickle.dumps(ae)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(DeviceWarning, match="loaded on the CPU"):
        loaded = pickle.loads(payload)
    assert loaded._device == torch.device("cpu")
    np.testing.assert_array_equal(loaded.transform(X), expected)


# ----------------------------------------------------------------------------- training loop
def _linear_problem():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, generator=g)
    w_true = torch.tensor([[1.0], [-2.0], [0.5]])
    y = x @ w_true
    w = torch.zeros(3, 1, requires_grad=True)
    return x, y, w, w_true


def test_train_loop_minimises_a_least_squares_problem():
    x, y, w, w_true = _linear_problem()
    opt = make_optimizer("sgd", [w], learning_rate=0.1, momentum=0.9)
    res = train_loop(
        lambda idx: ((x[idx] @ w - y[idx]) ** 2).mean(),
        n_samples=64, batch_size=16, max_epochs=50, generator=torch.Generator(), optimizer=opt,
    )
    assert res.n_iter == 50 and len(res.loss_curve) == 50
    assert res.loss_curve[-1] < 1e-6 * res.loss_curve[0]
    torch.testing.assert_close(w.detach(), w_true, atol=1e-3, rtol=0)


def test_train_loop_early_stopping_with_tol():
    x, y, w, _ = _linear_problem()
    opt = make_optimizer("adam", [w], learning_rate=0.05)
    res = train_loop(
        lambda idx: ((x[idx] @ w - y[idx]) ** 2).mean(),
        n_samples=64, batch_size=64, max_epochs=10_000, generator=torch.Generator(),
        optimizer=opt, tol=1e-3, n_iter_no_change=5,
    )
    assert res.converged and res.stop_reason == "no_improvement" and res.n_iter < 10_000


def test_train_loop_nan_loss_names_phase_and_epoch():
    w = torch.ones(1, requires_grad=True)
    calls = []

    def step(idx):
        calls.append(1)
        return w.sum() * (float("nan") if len(calls) > 8 else 1.0)

    opt = make_optimizer("sgd", [w], learning_rate=0.1)
    with pytest.raises(TrainingDivergedError, match=r"pretraining diverged.*epoch 3.*learning_rate"):
        train_loop(step, n_samples=16, batch_size=4, max_epochs=5, generator=torch.Generator(),
                   optimizer=opt, phase="pretraining")


def test_diverging_fit_raises_instead_of_returning_a_broken_model(X):
    ae = AutoEncoder(**{**FAST, "max_epochs": 20}, optimizer="sgd", learning_rate=1e12,
                     momentum=0.0, random_state=0)
    with pytest.raises(TrainingDivergedError, match="autoencoder diverged"):
        ae.fit(X * 1e3)


def test_keyboard_interrupt_stops_cleanly_and_keeps_the_model():
    x, y, w, _ = _linear_problem()
    opt = make_optimizer("sgd", [w], learning_rate=0.1)
    state = {"n": 0}

    def step(idx):
        state["n"] += 1
        if state["n"] == 10:
            raise KeyboardInterrupt
        return ((x[idx] @ w - y[idx]) ** 2).mean()

    with pytest.warns(UserWarning, match="interrupted"):
        res = train_loop(step, n_samples=64, batch_size=16, max_epochs=100,
                         generator=torch.Generator(), optimizer=opt)
    assert res.interrupted and res.n_iter == 2 and len(res.loss_curve) == 2
    assert torch.isfinite(w).all()


def test_before_step_hook_can_stop_training():
    w = torch.ones(1, requires_grad=True)
    opt = make_optimizer("sgd", [w], learning_rate=0.0)
    seen = []
    res = train_loop(lambda idx: w.sum(), n_samples=10, batch_size=2, max_epochs=10,
                     generator=torch.Generator(), optimizer=opt,
                     before_step=lambda it: seen.append(it) or it == 7)
    assert res.converged and res.n_steps == 7 and seen[-1] == 7
    assert res.loss_curve == [1.0, 1.0]  # one full epoch, then a partial one (2 of 5 steps)


def test_train_loop_continues_a_history():
    w = torch.ones(1, requires_grad=True)
    opt = make_optimizer("sgd", [w], learning_rate=0.0)
    res = TrainingResult()
    for _ in range(3):
        res = train_loop(lambda idx: w.sum(), n_samples=4, batch_size=2, max_epochs=1,
                         generator=torch.Generator(), optimizer=opt, result=res)
    assert res.n_iter == 3 and res.loss_curve == [1.0, 1.0, 1.0]


def test_unknown_optimizer_lists_the_valid_ones():
    with pytest.raises(ValueError, match="valid options are.*adam"):
        make_optimizer("lbfgs2", [torch.ones(1, requires_grad=True)], learning_rate=0.1)


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "bad, match",
    [
        (np.array([[1.0, np.nan], [0.0, 1.0]]), "NaN"),
        (np.array([[1.0, np.inf], [0.0, 1.0]]), "infinity"),
        (np.empty((0, 2)), "0 sample"),
        (np.array([["a", "b"], ["c", "d"]]), "convert|string"),
        (np.ones(4), "2D array"),
    ],
)
def test_bad_input_is_a_clear_error(bad, match):
    with pytest.raises(ValueError, match=match):
        AutoEncoder(**FAST).fit(bad)


def test_predict_with_wrong_feature_count(X):
    ae = AutoEncoder(**FAST).fit(X)
    with pytest.raises(ValueError, match="features"):
        ae.transform(X[:, :4])
    with pytest.raises(ValueError, match="n_components=3"):
        ae.inverse_transform(np.zeros((2, 5)))


def test_unknown_option_lists_valid_ones(X):
    with pytest.raises(ValueError, match="'loss' parameter.*squared"):
        AutoEncoder(**FAST, loss="hinge").fit(X)


@pytest.mark.parametrize(
    "name, kwargs",
    [("adam", {}), ("adam", {"weight_decay": 0.1}), ("adamw", {"weight_decay": 0.1}),
     ("sgd", {}), ("sgd", {"momentum": 0.9, "weight_decay": 0.01})],
)
def test_lean_optimizer_step_equals_torch_step(name, kwargs):
    """The lean step (fused kernel called directly) follows torch's own optimizer exactly,
    and the two can be mixed: state_dict round trips and torch's step after lean steps."""
    from skdeepclust._optim import make_optimizer

    def make():
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 3))

    x = torch.randn(16, 5, generator=torch.Generator().manual_seed(1))
    nets, opts = [], []
    for lean in (True, False):
        net = make()
        opt = make_optimizer(name, net.parameters(), learning_rate=0.05, **kwargs)
        if not lean:  # torch's own class with the same settings
            plain = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
            opt = plain[name](net.parameters(), lr=0.05, **kwargs)
        nets.append(net)
        opts.append(opt)
    assert hasattr(opts[0], "lean_step") and not hasattr(opts[1], "lean_step")
    for i in range(6):
        for net, opt in zip(nets, opts):
            for p in net.parameters():
                p.grad = None
            net(x).pow(2).sum().backward()
            if hasattr(opt, "lean_step") and i != 4:  # step 4: torch's path on the lean one
                opt.lean_step()
            else:
                opt.step()
    for a, b in zip(nets[0].parameters(), nets[1].parameters()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    has_state = name != "sgd" or kwargs.get("momentum", 0) > 0
    assert len(opts[0].state_dict()["state"]) == (4 if has_state else 0)
    # the lean cache is rebuilt from the loaded state (deepcopy: load_state_dict keeps
    # tensors that need no cast, so both optimizers would otherwise share their buffers)
    opts[0].load_state_dict(copy.deepcopy(opts[1].state_dict()))
    for net, opt in zip(nets, opts):
        for p in net.parameters():
            p.grad = None
        net(x).pow(2).sum().backward()
        opt.lean_step() if hasattr(opt, "lean_step") else opt.step()
    for a, b in zip(nets[0].parameters(), nets[1].parameters()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("width, expect_single", [(4, True), (2000, False)])
def test_small_cpu_training_runs_on_one_thread_and_restores_the_setting(width, expect_single):
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        net = torch.nn.Linear(width, width)
        opt = make_optimizer("adam", net.parameters(), learning_rate=1e-3)
        X = torch.randn(64, width)
        seen = []

        def step(idx):
            seen.append(torch.get_num_threads())
            return net(X[idx]).pow(2).mean()

        train_loop(step, n_samples=64, batch_size=32, max_epochs=1,
                   generator=torch.Generator().manual_seed(0), optimizer=opt)
        assert seen == [1 if expect_single else 2] * 2
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


# ----------------------------------------------------------- compute precision policy
def _params(est):
    return [p.detach().clone() for p in est.module_.parameters()]


@pytest.fixture
def float32_compute():
    import skdeepclust

    with skdeepclust.config_context(compute_dtype="float32"):
        yield


def test_float64_input_trains_in_float32_and_returns_float64(X, float32_compute):
    X32 = X.astype(np.float32)
    ae64 = AutoEncoder(**FAST, random_state=0).fit(X32.astype(np.float64))
    ae32 = AutoEncoder(**FAST, random_state=0).fit(X32)
    assert all(p.dtype == torch.float32 for p in ae64.module_.parameters())
    # The same float32 numbers go in: the two fits are bit-identical.
    for a, b in zip(_params(ae64), _params(ae32)):
        assert torch.equal(a, b)
    Z64 = ae64.transform(X32.astype(np.float64))
    assert Z64.dtype == np.float64 and ae32.transform(X32).dtype == np.float32
    np.testing.assert_allclose(Z64, ae32.transform(X32), rtol=1e-5, atol=1e-6)


def test_float64_inference_restores_the_float32_model_exactly(X, float32_compute):
    ae = AutoEncoder(**FAST, random_state=0).fit(X)
    before = _params(ae)
    full = ae.transform(X)
    assert all(p.dtype == torch.float32 for p in ae.module_.parameters())
    for a, b in zip(before, _params(ae)):
        assert torch.equal(a, b)
    # Computed in float64: a subset gives the same rows to float64 rounding.
    np.testing.assert_allclose(ae.transform(X[7:30]), full[7:30], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("setting, expected", [("input", torch.float64), ("float64", torch.float64)])
def test_config_context_computes_in_float64(setting, expected, X):
    import skdeepclust

    with skdeepclust.config_context(compute_dtype=setting):
        ae = AutoEncoder(**FAST, random_state=0).fit(X.astype(np.float32))
    wanted = torch.float32 if setting == "input" else expected
    assert next(ae.module_.parameters()).dtype == wanted
    assert skdeepclust.get_config()["compute_dtype"] == "float32"  # restored
    with skdeepclust.config_context(compute_dtype=setting):
        ae = AutoEncoder(**FAST, random_state=0).fit(X)
    assert next(ae.module_.parameters()).dtype == expected
    assert ae.transform(X).dtype == np.float64


def test_set_config_round_trip_and_errors():
    import skdeepclust

    old = skdeepclust.get_config()
    try:
        skdeepclust.set_config(compute_dtype="float32", working_memory=64)
        config = skdeepclust.get_config()
        assert (config["compute_dtype"], config["working_memory"]) == ("float32", 64.0)
    finally:
        skdeepclust.set_config(**old)
    with pytest.raises(ValueError, match="compute_dtype must be one of 'float32'"):
        skdeepclust.set_config(compute_dtype="half")
    with pytest.raises(ValueError, match="working_memory must be a positive number"):
        skdeepclust.set_config(working_memory=0)


# -------------------------------------------------------- inference by a memory budget
def test_inference_rows_follow_the_working_memory_budget(X):
    import skdeepclust

    ae = AutoEncoder(**FAST, random_state=0).fit(X)
    row_bytes = ae._inference_row_floats() * 4
    # n_features=6, widest parameter 8 (the hidden layer): 4 * (6 + 8) floats per row.
    assert row_bytes == 4 * 4 * (6 + 8)
    with skdeepclust.config_context(working_memory=1):
        assert ae._inference_batch_size() == 2**20 // row_bytes  # a float32 model
        big = ae.transform(X)
    with skdeepclust.config_context(working_memory=1e-6):  # never below batch_size
        assert ae._inference_batch_size() == 32
        small = ae.transform(X)
    np.testing.assert_allclose(small, big, rtol=1e-12, atol=1e-14)


def test_inference_of_read_only_and_float32_input(X, float32_compute):
    ae = AutoEncoder(**FAST, random_state=0).fit(X)
    X32 = X.astype(np.float32)
    ro = X32.copy()
    ro.flags.writeable = False
    out = ae._inference(ae.module_.encode, ro, batch_size=50)
    assert out.dtype == np.float32 and out.shape == (X.shape[0], 3)
    np.testing.assert_allclose(out, ae.transform(X32), rtol=1e-5, atol=1e-6)


def test_training_set_too_large_is_a_memory_error_naming_the_remedy(
    X, monkeypatch, float32_compute
):
    ae = AutoEncoder(**FAST, random_state=0)
    ae._start_fit(X)

    def fail(*args, **kwargs):
        raise RuntimeError("DefaultCPUAllocator: not enough memory: you tried to allocate")

    monkeypatch.setattr(torch, "as_tensor", fail)
    with pytest.raises(MemoryError, match=r"shape \(120, 6\) in float32 needs 0 MiB.*float32"):
        ae._to_tensor(X)


@pytest.mark.parametrize("name", ["DECClustering", "DMAEClustering", "GMMRepresentation",
                                  "NormalizingFlow", "DBM"])
def test_sparse_input_is_refused_with_the_estimators_that_take_it(name):
    import scipy.sparse as sp

    from skdeepclust.utils import all_estimators

    est = dict(all_estimators())[name]()
    X = sp.random(20, 6, density=0.3, format="csr", random_state=0)
    with pytest.raises(TypeError, match="AutoEncoder, RBM, RBMClassifier, DBN"):
        est.fit(X)
