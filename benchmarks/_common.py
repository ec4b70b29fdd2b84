"""Helpers shared by the benchmark scripts (not part of the package)."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

MNIST_DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist.npz"


def mnist_path() -> Path:
    return Path(os.environ.get("SKDEEPCLUST_MNIST", MNIST_DEFAULT))


def scores(y, labels) -> dict:
    """Clustering accuracy (Hungarian matching), NMI and ARI of ``labels`` against ``y``."""
    from skdeepclust.metrics import cluster_accuracy

    return {
        "acc": float(cluster_accuracy(y, labels)),
        "nmi": float(normalized_mutual_info_score(y, labels)),
        "ari": float(adjusted_rand_score(y, labels)),
    }


class Timer:
    """Wall-clock ``seconds`` and CPU ``cpu_seconds`` (this process) of a block."""

    def __enter__(self):
        self.start = time.perf_counter()
        self.cpu_start = time.process_time()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
        self.cpu_seconds = time.process_time() - self.cpu_start


def print_table(rows: list[dict], columns: list[str]) -> None:
    widths = {c: max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    print("  ".join("-" * widths[c] for c in columns))
    for r in rows:
        print("  ".join(_fmt(r.get(c)).ljust(widths[c]) for c in columns))


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def mean_sd(values) -> str:
    values = np.asarray(values, dtype=float)
    return f"{values.mean():.3f} ± {values.std():.3f}"


def append_jsonl(path, record: dict) -> None:
    """Append ``record`` to the JSON-lines file ``path`` (its folder created); nothing when
    ``path`` is empty or None."""
    if not path:
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fh.write(json.dumps(record) + "\n")


def save_json(path: str | None, payload: dict) -> None:
    if not path:
        return
    import torch

    payload = {
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "threads": torch.get_num_threads(), "cpu_count": os.cpu_count()},
        **payload,
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(payload, indent=2, default=float))


def status_mb(field: str) -> float:
    """A ``/proc/self/status`` memory field (``VmRSS``, ``VmHWM``, ...) in MB (Linux)."""
    import re

    text = Path("/proc/self/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE).group(1)) / 1024.0


def reset_peak() -> bool:
    """Reset the process's peak RSS (``VmHWM``) to its current RSS; False where not
    possible (not Linux, or not allowed: the peak then includes the set-up)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def cpuinfo() -> dict:
    """The first processor's entries of ``/proc/cpuinfo`` (``model name``, ``cpu family``,
    ``model``, ``flags``, ...) as strings; empty where there is no such file."""
    info: dict = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if not key.strip():
                break  # the end of the first processor's block
            info.setdefault(key.strip(), value.strip())
    return info


def machine() -> dict:
    """The CPU model, whether it multiplies bfloat16 natively (AVX512-BF16 / AMX: what
    ``mixed_precision="auto"`` keys on), torch's thread count and skdeepclust's settings,
    recorded next to timings."""
    import torch

    import skdeepclust
    from skdeepclust._precision import native_bfloat16

    model = cpuinfo().get("model name") or platform.processor() or platform.machine()
    return {"cpu_model": model, "native_bfloat16": native_bfloat16(torch.device("cpu")),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "skdeepclust_config": skdeepclust.get_config()}
