"""Optimizers: the registry behind the estimators' ``optimizer`` parameter, and its fast paths.

:func:`make_optimizer` builds a :mod:`torch.optim` optimizer by name. For Adam, AdamW and
SGD on CPU or CUDA floating tensors it returns a subclass with a ``lean_step`` method that
launches torch's fused kernel directly (see :class:`_LeanStepMixin`). Those kernels
(``torch._fused_adam_``, ``torch._fused_adamw_``, ``torch._fused_sgd_``) are private to
torch: before a lean class is first used on a device type, a two-step probe checks that
its kernel exists, accepts the arguments and computes the expected update; when it does
not (another torch version), :func:`make_optimizer` returns torch's own class instead,
with the same settings. The environment variable ``SKDEEPCLUST_PLAIN_OPTIMIZERS=1`` (read
at every call) forces torch's own classes, which is how CI tests the fallback.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable

import torch
from torch.optim import optimizer as _torch_optimizer

__all__ = ["OPTIMIZERS", "make_optimizer"]

#: Set to anything but "", "0", "false" or "no" to use torch's own optimizer classes.
PLAIN_OPTIMIZERS_ENV = "SKDEEPCLUST_PLAIN_OPTIMIZERS"

# torch's registries of global step hooks (``register_optimizer_step_pre_hook``): a lean
# step must defer to ``step()`` when any is set. Private too: without them, no lean step.
_GLOBAL_HOOKS = tuple(
    getattr(_torch_optimizer, name, None)
    for name in ("_global_optimizer_pre_hooks", "_global_optimizer_post_hooks")
)


def plain_optimizers_forced() -> bool:
    """Whether ``SKDEEPCLUST_PLAIN_OPTIMIZERS`` asks for torch's own optimizer classes."""
    value = os.environ.get(PLAIN_OPTIMIZERS_ENV, "")
    return value.strip().lower() not in ("", "0", "false", "no")


class _LeanStepMixin:
    """Call torch's fused optimizer kernel directly, skipping ``Optimizer.step``'s wrapper.

    ``torch.optim``'s ``step`` runs a hook/profiler wrapper, regroups the tensors by device
    and dtype and looks every state tensor up again on every call: on the small networks of
    this library that costs more than the fused update itself (about 330 us against 110 us
    per step for a 64-64-10-64-64 autoencoder on one CPU thread, a fifth of a whole
    training step). :meth:`lean_step` (what :func:`~skdeepclust._training.train_loop`
    calls) caches the lists of state tensors once and launches the kernel. The state lives
    in the usual ``state[p]`` entries, so ``state_dict``, ``load_state_dict``, ``step`` and
    a later ``partial_fit`` work unchanged. It falls back to torch's own ``step`` whenever
    anything unusual is set: step hooks, tensor learning rates, AMSGrad, Nesterov,
    capturable or differentiable mode, sparse gradients, parameters of mixed devices or
    dtypes, or some parameters without a gradient.

    A subclass names its kernel (``_kernel_name``) and gives :meth:`_lean_state`,
    :meth:`_lean_update` and the probe cases that :meth:`lean_usable` checks.
    """

    _lean_flags: tuple[str, ...] = ()
    _lean_cache: list | None = None
    _kernel_name: str = ""
    #: (constructor keyword arguments, parameters after two steps from [1, -2] with the
    #: constant gradient [0.5, -0.25]), worked out by hand from the update rule.
    _probe_cases: tuple[tuple[dict, tuple[float, float]], ...] = ()
    _usable: dict[str, bool]  # device type -> probe outcome, one dict per class
    _usable_lock = threading.Lock()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._usable = {}

    def load_state_dict(self, state_dict):
        self._lean_cache = None
        return super().load_state_dict(state_dict)

    def add_param_group(self, param_group):
        self._lean_cache = None
        # torch wraps this method in ``torch._disable_dynamo``, whose first call imports
        # torch._dynamo: about 1.1 s of CPU, most of the start-up of a process's first
        # fit. The wrapper only matters under torch.compile, which never traces this
        # optimizer (it is built outside any compiled region): call the method it wraps.
        method = super().add_param_group
        unwrapped = getattr(method.__func__, "__wrapped__", None)
        return method(param_group) if unwrapped is None else unwrapped(self, param_group)

    @classmethod
    def lean_usable(cls, device_type: str) -> bool:
        """Whether this torch's fused kernel computes the expected update on the device
        type: probed once per class and device type, never raises."""
        usable = cls._usable.get(device_type)
        if usable is None:
            with cls._usable_lock:
                usable = cls._usable.get(device_type)
                if usable is None:
                    usable = cls._usable[device_type] = cls._probe(device_type)
        return usable

    @classmethod
    def _probe(cls, device_type: str) -> bool:
        if not cls._probe_cases or any(hooks is None for hooks in _GLOBAL_HOOKS):
            return False
        try:
            kernel = getattr(torch, cls._kernel_name, None)
            if not callable(kernel):
                return False
            with torch.inference_mode(False), torch.no_grad():
                for kwargs, expected in cls._probe_cases:
                    p = torch.tensor([1.0, -2.0], device=device_type)
                    opt = cls([p], lr=0.1, fused=True, **kwargs)
                    for _ in range(2):
                        p.grad = torch.tensor([0.5, -0.25], device=device_type)
                        cache = opt._lean_build()
                        if cache is None or not hasattr(opt, "_optimizer_step_pre_hooks"):
                            return False
                        for entry in cache:
                            opt._lean_update(entry, [p.grad])
                    if not torch.allclose(p.cpu(), torch.tensor(expected), rtol=1e-5,
                                          atol=1e-6):
                        return False
        except Exception:  # noqa: BLE001  (a missing kernel, another signature, a device...)
            return False
        return True

    def _lean_build(self) -> list | None:
        cache = []
        for group in self.param_groups:
            params = list(group["params"])
            if not params:
                continue
            if isinstance(group["lr"], torch.Tensor) or any(
                group.get(flag, False) for flag in self._lean_flags
            ):
                return None
            ref = params[0]
            if any(p.grad is None or p.grad.is_sparse or p.device != ref.device
                   or p.dtype != ref.dtype for p in params):
                return None
            entry = self._lean_state(group, params)
            if entry is None:
                return None
            cache.append(entry)
        return cache

    def lean_step(self) -> None:
        """One optimisation step; same result as ``step()``, less overhead."""
        if (self._optimizer_step_pre_hooks or self._optimizer_step_post_hooks
                or _GLOBAL_HOOKS[0] or _GLOBAL_HOOKS[1]):
            self.step()
            return
        cache = self._lean_cache
        if cache is None:
            cache = self._lean_cache = self._lean_build()
            if cache is None:
                self.step()
                return
        grads_per_group = []
        for entry in cache:
            grads = [p.grad for p in entry[1]]
            if any(g is None for g in grads):
                self.step()
                return
            grads_per_group.append(grads)
        with torch.no_grad():
            for entry, grads in zip(cache, grads_per_group):
                self._lean_update(entry, grads)


class _LeanAdam(_LeanStepMixin, torch.optim.Adam):
    _lean_flags = ("amsgrad", "capturable", "differentiable")
    _kernel_name = "_fused_adam_"
    # with a constant gradient Adam moves every coordinate by lr * sign(gradient)
    _probe_cases = (({}, (0.8, -1.8)),)

    def _lean_state(self, group: dict, params: list):
        avgs, sqs, steps = [], [], []
        for p in params:
            state = self.state[p]
            if not state:
                state["step"] = torch.zeros((), dtype=torch.float32, device=p.device)
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            avgs.append(state["exp_avg"])
            sqs.append(state["exp_avg_sq"])
            steps.append(state["step"])
        return (group, params, avgs, sqs, steps)

    def _lean_update(self, entry, grads) -> None:
        group, params, avgs, sqs, steps = entry
        torch._foreach_add_(steps, 1)
        beta1, beta2 = group["betas"]
        getattr(torch, self._kernel_name)(
            params, grads, avgs, sqs, [], steps, lr=float(group["lr"]), beta1=float(beta1),
            beta2=float(beta2), weight_decay=float(group["weight_decay"]),
            eps=float(group["eps"]), amsgrad=False, maximize=bool(group["maximize"]),
        )


class _LeanAdamW(_LeanAdam, torch.optim.AdamW):
    _kernel_name = "_fused_adamw_"
    # decoupled decay: p <- p * (1 - lr * wd) - lr * sign(gradient), twice
    _probe_cases = (({"weight_decay": 0.5}, (0.7075, -1.61)),)


class _LeanSGD(_LeanStepMixin, torch.optim.SGD):
    _lean_flags = ("nesterov", "differentiable")
    _kernel_name = "_fused_sgd_"
    # plain: p - 2 lr g; momentum 0.9: p - lr g - lr (0.9 g + g)
    _probe_cases = (({}, (0.9, -1.95)), ({"momentum": 0.9}, (0.855, -1.9275)))

    def _lean_state(self, group: dict, params: list):
        if group["momentum"] == 0:
            return (group, params, [], [False])
        bufs = [self.state[p].get("momentum_buffer") for p in params]
        missing = [b is None for b in bufs]
        if any(missing) and not all(missing):
            return None  # some buffers exist, some not: torch's own step handles it
        first = all(missing)
        if first:
            bufs = [torch.empty_like(p) for p in params]
            for p, b in zip(params, bufs):
                self.state[p]["momentum_buffer"] = b
        return (group, params, bufs, [first])

    def _lean_update(self, entry, grads) -> None:
        group, params, bufs, first = entry
        getattr(torch, self._kernel_name)(
            params, grads, bufs, weight_decay=float(group["weight_decay"]),
            momentum=float(group["momentum"]), lr=float(group["lr"]),
            dampening=float(group["dampening"]), nesterov=False,
            maximize=bool(group["maximize"]), is_first_step=first[0],
        )
        first[0] = False


def _build(lean: type, plain: type, params: list, fused: tuple[str, ...] | None, **kwargs):
    """The lean class when its kernel works on the parameters' device types, else torch's
    own class: fused when this torch supports it there (the same update), else its default
    implementation."""
    if (
        fused is not None
        and not plain_optimizers_forced()
        and all(lean.lean_usable(device_type) for device_type in fused)
    ):
        return lean(params, fused=True, **kwargs)
    if fused is not None:
        try:
            return plain(params, fused=True, **kwargs)
        except (RuntimeError, TypeError):  # no fused implementation for this device
            pass
    return plain(params, **kwargs)


def _sgd(params, lr, momentum, weight_decay, fused):
    return _build(_LeanSGD, torch.optim.SGD, params, fused, lr=lr, momentum=momentum,
                  weight_decay=weight_decay)


def _adam(params, lr, momentum, weight_decay, fused):
    return _build(_LeanAdam, torch.optim.Adam, params, fused, lr=lr,
                  weight_decay=weight_decay)


def _adamw(params, lr, momentum, weight_decay, fused):
    return _build(_LeanAdamW, torch.optim.AdamW, params, fused, lr=lr,
                  weight_decay=weight_decay)


def _rmsprop(params, lr, momentum, weight_decay, fused):
    return torch.optim.RMSprop(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


#: Optimizer registry: a new optimizer is one entry (validate with ``StrOptions(set(OPTIMIZERS))``).
#: An entry is called as ``factory(params, lr, momentum, weight_decay, fused)`` where
#: ``fused`` is the parameters' device types when a fused kernel may apply, else ``None``.
OPTIMIZERS: dict[str, Callable] = {
    "sgd": _sgd,
    "adam": _adam,
    "adamw": _adamw,
    "rmsprop": _rmsprop,
}


def make_optimizer(
    name: str,
    params: Iterable,
    *,
    learning_rate: float,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
) -> torch.optim.Optimizer:
    """Build an optimizer from the registry.

    Parameters
    ----------
    name : {"sgd", "adam", "adamw", "rmsprop"}
    params : iterable of tensors or of parameter-group dicts
    learning_rate : float
    momentum : float, default=0.0
        Used by "sgd" and "rmsprop".
    weight_decay : float, default=0.0

    Returns
    -------
    optimizer : torch.optim.Optimizer
        An instance of torch's class for ``name`` (a subclass with a ``lean_step`` method
        for "sgd", "adam" and "adamw" on CPU or CUDA floating tensors, unless the fused
        kernels are unavailable or ``SKDEEPCLUST_PLAIN_OPTIMIZERS`` is set).
    """
    try:
        factory = OPTIMIZERS[name]
    except KeyError:
        raise ValueError(
            f"Unknown optimizer {name!r}; valid options are {sorted(OPTIMIZERS)}."
        ) from None
    params = list(params)
    tensors = [p for g in params for p in (g["params"] if isinstance(g, dict) else [g])]
    # One fused kernel per step instead of a few ops per parameter: on small networks the
    # per-op overhead dominates (about 1.7x faster AutoEncoder steps on digits).
    devices = tuple(sorted({t.device.type for t in tensors}))
    fused = (
        devices
        if devices and set(devices) <= {"cpu", "cuda"}
        and all(t.is_floating_point() for t in tensors)
        else None
    )
    return factory(params, learning_rate, momentum, weight_decay, fused)
