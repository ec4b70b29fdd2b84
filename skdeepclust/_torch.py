"""Device, random-number and tensor helpers shared by the estimators."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import torch

from .exceptions import DeviceWarning

__all__ = [
    "available_device",
    "build_seeded",
    "make_generator",
    "resolve_device",
    "seed_from",
    "to_numpy",
    "torch_dtype",
]

_DEVICE_HELP = "Use 'auto', 'cpu', 'cuda', 'cuda:N', 'mps' or a torch.device."


def resolve_device(device: str | torch.device, param_name: str = "device") -> torch.device:
    """Turn the ``device`` parameter into an available :class:`torch.device`.

    Parameters
    ----------
    device : str or torch.device
        ``"auto"`` picks CUDA when available, then MPS, then the CPU.
    param_name : str, default="device"
        Name used in error messages.

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        If the string is not a device, or the device is not present on this machine.
    """
    if isinstance(device, str) and device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if not isinstance(device, (str, torch.device)):
        raise TypeError(
            f"The {param_name!r} parameter must be a str or a torch.device. "
            f"Got {device!r} of type {type(device).__name__} instead. {_DEVICE_HELP}"
        )
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise ValueError(
            f"The {param_name!r} parameter got {device!r}, which is not a device. {_DEVICE_HELP}"
        ) from exc
    if dev.type == "cpu":
        return torch.device("cpu")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"The {param_name!r} parameter asks for {str(device)!r}, but CUDA is not "
                "available on this machine (torch.cuda.is_available() is False). "
                f"Use {param_name}='cpu' or {param_name}='auto'."
            )
        index = dev.index if dev.index is not None else torch.cuda.current_device()
        n = torch.cuda.device_count()
        if index >= n:
            raise ValueError(
                f"The {param_name!r} parameter asks for {str(device)!r}, but this machine has "
                f"{n} CUDA device(s) (valid indices 0..{n - 1})."
            )
        return torch.device("cuda", index)
    if dev.type == "mps":
        if not _mps_available():
            raise ValueError(
                f"The {param_name!r} parameter asks for 'mps', but MPS is not available on "
                f"this machine. Use {param_name}='cpu' or {param_name}='auto'."
            )
        return torch.device("mps")
    raise ValueError(
        f"The {param_name!r} parameter got {str(device)!r}: device type {dev.type!r} is not "
        f"supported. {_DEVICE_HELP}"
    )


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def available_device(device: torch.device | str) -> torch.device:
    """Map a device recorded at fit time to one available now (for unpickling).

    Falls back to the CPU with a :class:`~skdeepclust.exceptions.DeviceWarning` when the
    recorded device is missing.
    """
    device = torch.device(device)
    if device.type == "cpu":
        return device
    try:
        return resolve_device(device)
    except ValueError:
        warnings.warn(
            f"This model was fitted on {str(device)!r}, which is not available on this "
            "machine; it was loaded on the CPU instead and predicts the same.",
            DeviceWarning,
            stacklevel=3,
        )
        return torch.device("cpu")


def seed_from(rng: np.random.RandomState) -> int:
    """Draw a 31-bit seed from a numpy ``RandomState`` (sklearn's ``check_random_state``)."""
    return int(rng.randint(np.iinfo(np.int32).max))


def make_generator(seed: int, device: torch.device) -> torch.Generator:
    """Return a :class:`torch.Generator` on ``device`` seeded with ``seed``.

    Every random draw of a fit goes through such a generator, so no global RNG state is
    read or changed.
    """
    generator = torch.Generator(device=device)
    generator.manual_seed(int(seed))
    return generator


def build_seeded(
    factory: Callable[[], torch.nn.Module],
    *,
    seed: int,
    device: torch.device,
    dtype: torch.dtype,
) -> torch.nn.Module:
    """Build a module with the global torch RNG temporarily seeded, then move it.

    ``nn.Linear`` and friends draw their initial weights from the global RNG; building
    inside :func:`torch.random.fork_rng` makes the result depend on ``seed`` only and
    leaves the caller's global RNG state untouched.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        module = factory()
    return module.to(device=device, dtype=dtype)


_NP_TO_TORCH = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}


def torch_dtype(dtype: np.dtype) -> torch.dtype:
    """The torch floating dtype for a numpy float32/float64 dtype."""
    return _NP_TO_TORCH[np.dtype(dtype)]


def to_numpy(tensor: torch.Tensor, dtype: np.dtype | None = None) -> np.ndarray:
    """Detach, move to the CPU and convert to numpy (optionally casting)."""
    array = tensor.detach().to("cpu").numpy()
    if dtype is not None:
        array = array.astype(dtype, copy=False)
    return array
