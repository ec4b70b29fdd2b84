"""Mixed precision of large training steps (``set_config(mixed_precision=...)``).

A training step of an autoencoder the size of DEC's d-500-500-2000-10 network is bound by
its matrix products. On hardware that multiplies bfloat16 natively (x86 CPUs with
AVX512-BF16 or AMX, CUDA GPUs from Ampere on), running those products in bfloat16 under
:func:`torch.autocast` makes the step 2-3x faster (``benchmarks/bench_mixed_precision.py``);
the parameters, the optimizer's moments, the loss and everything the fitted estimator
computes afterwards (``transform``, ``score``) stay in float32. Small steps gain nothing (a
64-256-256-5 network on 8x8 digits runs at the same speed), so ``"auto"`` keeps them in
float32. ``"auto"`` is the default: it runs the first fifth of a fit's steps in float32
(from the first step, bfloat16 cost DEC's accuracy on MNIST-10k: 0.763 against 0.771 over
twenty seeds, worst fit 0.691 against 0.750), then bfloat16; with that start DEC scores
what float32 scores on MNIST-10k seed by seed and reaches clustpy's MNIST-70k accuracy in
0.36-0.46x its time (docs/user_guide/devices.rst).
"""

from __future__ import annotations

import math

import torch

from ._config import get_config

__all__ = [
    "MIXED_PRECISION_FLOAT32_SHARE",
    "MIXED_PRECISION_MIN_WORK",
    "float32_start_steps",
    "native_bfloat16",
    "training_autocast_dtype",
]

#: Under ``mixed_precision="auto"``, a training step of fewer multiply-adds than this
#: (batch size times trained parameters) stays in float32: below it bfloat16 products gain
#: less than 10 % (``benchmarks/bench_mixed_precision.py``).
MIXED_PRECISION_MIN_WORK = 100_000_000

#: Under ``mixed_precision="auto"``, this share of a fit's first training steps (of
#: ``max_epochs`` epochs) runs in float32 before the bfloat16 products start: the first
#: epochs decide which partition the codes will hold, and bfloat16 from the first step
#: sent two of twenty DEC fits on MNIST-10k to poor ones that a float32 start avoids
#: (``benchmarks/study_mixed_precision_start.py``).
MIXED_PRECISION_FLOAT32_SHARE = 0.2


def native_bfloat16(device: torch.device) -> bool:
    """Whether ``device`` multiplies bfloat16 matrices in hardware."""
    try:
        if device.type == "cpu":
            return bool(torch.cpu._is_avx512_bf16_supported()
                        or torch.cpu._is_amx_tile_supported())
        if device.type == "cuda":
            return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except (AttributeError, RuntimeError, TypeError):  # an older or a CPU-only build
        return False
    return False


def training_autocast_dtype(
    device: torch.device, dtype: torch.dtype, work: int, *, plain: bool = True
) -> torch.dtype | None:
    """The dtype a training step's matrix products run in under :func:`torch.autocast`,
    or ``None`` for no autocast.

    Parameters
    ----------
    device : torch.device
    dtype : torch.dtype
        The fit's compute dtype; only float32 fits are autocast (a float64 fit asked for
        double precision).
    work : int
        Multiply-adds of one step (batch size times trained parameters).
    plain : bool, default=True
        Whether the step is a plain forward pass and loss; ``"auto"`` leaves steps with
        penalties on derivatives (a contractive term) in float32.

    ``"off"`` never autocasts. ``"bfloat16"`` autocasts every float32 step on the CPU or a
    CUDA GPU, with or without native bfloat16 products. ``"auto"`` autocasts float32
    steps of at least :data:`MIXED_PRECISION_MIN_WORK` multiply-adds on hardware with
    native bfloat16 products, after the fit's first :func:`float32_start_steps` (the
    caller counts those). ``"auto"`` is the initial value.
    """
    setting = get_config()["mixed_precision"]
    if setting == "off" or dtype != torch.float32:
        return None
    if setting == "bfloat16":
        return torch.bfloat16 if device.type in ("cpu", "cuda") else None
    if plain and work >= MIXED_PRECISION_MIN_WORK and native_bfloat16(device):
        return torch.bfloat16
    return None


def float32_start_steps(total_steps: int) -> int:
    """How many of a fit's first ``total_steps`` autocast steps run in float32 instead:
    :data:`MIXED_PRECISION_FLOAT32_SHARE` of them (rounded up) under ``"auto"``, none under
    ``"bfloat16"``."""
    if get_config()["mixed_precision"] != "auto":
        return 0
    return math.ceil(MIXED_PRECISION_FLOAT32_SHARE * total_steps)
