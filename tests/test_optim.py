"""The optimizer registry and its lean fast paths, with the fallback to torch's own classes.

CI runs this file a second time with ``SKDEEPCLUST_PLAIN_OPTIMIZERS=1``; tests about the
lean path clear the variable themselves.
"""

import numpy as np
import pytest
import torch

from skdeepclust import _optim
from skdeepclust._optim import PLAIN_OPTIMIZERS_ENV, make_optimizer
from skdeepclust.representation import AutoEncoder

PLAIN = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD,
         "rmsprop": torch.optim.RMSprop}
LEAN = {"adam": _optim._LeanAdam, "adamw": _optim._LeanAdamW, "sgd": _optim._LeanSGD}


@pytest.fixture
def fast_path(monkeypatch):
    monkeypatch.delenv(PLAIN_OPTIMIZERS_ENV, raising=False)


@pytest.fixture
def fresh_probes(monkeypatch):
    """Forget the probe outcomes, so that a patched torch is probed again."""
    for cls in LEAN.values():
        monkeypatch.setattr(cls, "_usable", {})


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 3))


def _train(name, steps=5, **kwargs):
    """A few optimizer steps the way train_loop takes them; returns the parameters."""
    net = _net()
    opt = make_optimizer(name, net.parameters(), learning_rate=0.05, **kwargs)
    x = torch.randn(16, 5, generator=torch.Generator().manual_seed(1))
    for _ in range(steps):
        for p in net.parameters():
            p.grad = None
        net(x).pow(2).sum().backward()
        opt.lean_step() if hasattr(opt, "lean_step") else opt.step()
    return opt, [p.detach().clone() for p in net.parameters()]


CASES = [("adam", {}), ("adam", {"weight_decay": 0.1}), ("adamw", {"weight_decay": 0.1}),
         ("sgd", {}), ("sgd", {"momentum": 0.9, "weight_decay": 0.01}), ("rmsprop", {})]


@pytest.mark.parametrize("name, kwargs", CASES)
def test_forced_fallback_builds_torch_classes_that_train_like_the_fast_path(
    name, kwargs, monkeypatch
):
    monkeypatch.delenv(PLAIN_OPTIMIZERS_ENV, raising=False)
    fast, fast_params = _train(name, **kwargs)
    assert type(fast) is LEAN.get(name, PLAIN[name])
    monkeypatch.setenv(PLAIN_OPTIMIZERS_ENV, "1")
    plain, plain_params = _train(name, **kwargs)
    assert type(plain) is PLAIN[name] and not hasattr(plain, "lean_step")
    assert len(plain.state) == len(fast.state)
    for a, b in zip(plain_params, fast_params):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("value, lean", [("1", False), ("yes", False), ("0", True), ("", True)])
def test_the_switch_is_read_at_each_call(value, lean, monkeypatch):
    monkeypatch.setenv(PLAIN_OPTIMIZERS_ENV, value)
    opt = make_optimizer("adam", _net().parameters(), learning_rate=0.1)
    assert hasattr(opt, "lean_step") is lean


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_a_fit_with_the_forced_fallback_gives_the_fast_path_model(optimizer, monkeypatch):
    X = np.random.RandomState(0).rand(96, 6).astype(np.float32)
    params = {"n_components": 2, "hidden_layer_sizes": (8,), "max_epochs": 4,
              "batch_size": 16, "optimizer": optimizer, "tol": None, "device": "cpu",
              "random_state": 0}
    monkeypatch.delenv(PLAIN_OPTIMIZERS_ENV, raising=False)
    fast = AutoEncoder(**params).fit(X)
    assert hasattr(fast._optimizer, "lean_step")
    monkeypatch.setenv(PLAIN_OPTIMIZERS_ENV, "1")
    plain = AutoEncoder(**params).fit(X)
    assert type(plain._optimizer) is PLAIN[optimizer]
    assert plain.loss_curve_[-1] < plain.loss_curve_[0]
    np.testing.assert_allclose(plain.loss_curve_, fast.loss_curve_, rtol=1e-5)
    for a, b in zip(plain.module_.parameters(), fast.module_.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd"])
def test_a_missing_kernel_falls_back_to_torch(name, fast_path, fresh_probes, monkeypatch):
    # a torch without the kernel (the name that this torch lacks is what the probe sees)
    monkeypatch.setattr(LEAN[name], "_kernel_name", "_no_such_kernel_")
    kwargs = {"momentum": 0.9} if name == "sgd" else {}
    opt, params = _train(name, weight_decay=0.1, **kwargs)
    assert type(opt) is PLAIN[name]
    net = _net()  # the reference: torch's class, stepped by torch
    ref_opt = PLAIN[name](net.parameters(), lr=0.05, weight_decay=0.1, **kwargs)
    x = torch.randn(16, 5, generator=torch.Generator().manual_seed(1))
    for _ in range(5):
        ref_opt.zero_grad()
        net(x).pow(2).sum().backward()
        ref_opt.step()
    for a, b in zip(params, net.parameters()):
        torch.testing.assert_close(a, b.detach(), rtol=1e-5, atol=1e-6)


def _raises(*args, **kwargs):
    raise TypeError("unexpected keyword argument 'lr'")


def _does_nothing(*args, **kwargs):
    pass


@pytest.mark.parametrize("kernel", [_raises, _does_nothing, None],
                         ids=["other-signature", "other-semantics", "not-callable"])
def test_a_kernel_that_does_not_compute_the_update_falls_back(
    kernel, fast_path, fresh_probes, monkeypatch
):
    calls = []

    def spy(*args, **kwargs):
        calls.append(1)
        return kernel(*args, **kwargs)

    monkeypatch.setattr(torch, "_fused_adam_", spy if kernel else None, raising=False)
    opt = make_optimizer("adam", _net().parameters(), learning_rate=0.1)
    assert type(opt) is torch.optim.Adam
    assert len(calls) <= 2  # probed once (two steps), never called again
    make_optimizer("adam", _net().parameters(), learning_rate=0.1)
    assert len(calls) <= 2


def test_torch_without_a_fused_implementation_gets_the_default_one(monkeypatch):
    """An older torch refuses fused=True on the CPU (a RuntimeError, or a TypeError for a
    class without the argument): the fallback builds the class without it."""
    monkeypatch.setenv(PLAIN_OPTIMIZERS_ENV, "1")
    seen = []

    class OldAdam(torch.optim.Adam):
        def __init__(self, params, **kwargs):
            seen.append(kwargs.get("fused"))
            if kwargs.get("fused"):
                raise RuntimeError("`fused=True` requires CUDA params")
            super().__init__(params, **kwargs)

    monkeypatch.setattr(torch.optim, "Adam", OldAdam)
    opt = make_optimizer("adam", _net().parameters(), learning_rate=0.1)
    assert type(opt) is OldAdam and seen == [True, None]
    assert not opt.defaults["fused"]


def test_parameters_the_fused_kernels_do_not_take_get_torch_defaults(fast_path):
    w64 = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    assert type(make_optimizer("adam", [w64], learning_rate=0.1)) is _optim._LeanAdam
    wc = torch.zeros(3, dtype=torch.complex64, requires_grad=True)
    opt = make_optimizer("adam", [wc], learning_rate=0.1)
    assert type(opt) is torch.optim.Adam and not opt.defaults["fused"]
    with pytest.raises(ValueError, match=r"Unknown optimizer 'lbfgs'; valid options are \["):
        make_optimizer("lbfgs", [w64], learning_rate=0.1)


def test_lean_optimizers_are_built_without_importing_torch_dynamo(fast_path, monkeypatch):
    """torch wraps Optimizer.add_param_group in torch._disable_dynamo, whose first call
    imports torch._dynamo (about 1 s of a fresh process's first fit): the lean optimizers
    call the wrapped function instead, with the same parameter groups."""
    wrapped = torch.optim.Optimizer.add_param_group

    def through_the_wrapper(self, group):
        raise AssertionError("add_param_group went through torch._disable_dynamo")

    through_the_wrapper.__wrapped__ = wrapped.__wrapped__
    w = torch.zeros(3, requires_grad=True)
    for name, plain in (("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW),
                        ("sgd", torch.optim.SGD)):
        assert LEAN[name].lean_usable("cpu")  # probed before the patch
        monkeypatch.setattr(torch.optim.Optimizer, "add_param_group", through_the_wrapper)
        lean = make_optimizer(name, [w], learning_rate=0.1, weight_decay=0.01)
        monkeypatch.setattr(torch.optim.Optimizer, "add_param_group", wrapped)
        reference = plain([w], lr=0.1, weight_decay=0.01, fused=True)
        assert lean.param_groups == reference.param_groups
