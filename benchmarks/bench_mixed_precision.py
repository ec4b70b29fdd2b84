"""Training step time of the default autoencoders in float32 and under bfloat16 autocast.

``set_config(mixed_precision="auto")`` autocasts an autoencoder's training steps to bfloat16
(after a float32 fifth of the fit's steps) when a step has at least
``MIXED_PRECISION_MIN_WORK`` multiply-adds (batch size times parameters) and the hardware
multiplies bfloat16 natively. This script measures what that
buys for the networks DECClustering pretrains by default
(:func:`skdeepclust.cluster._nested_autoencoder.default_autoencoder`) at the shapes of the
defaults panel: one epoch of ``n_steps`` minibatches of random data, timed with
``mixed_precision="off"`` and ``"bfloat16"`` in turn (``--repeats`` alternations, the
median kept), and prints the step work and the ratio. The CPU and the settings are recorded
in the JSON::

    python benchmarks/bench_mixed_precision.py --threads 2 \\
        --out benchmarks/results/mixed_precision_steps_epyc.json

The speed alone does not choose the default: the accuracy of the models trained either
way is in ``bench_dec.py`` (``--methods trace``) and ``bench_defaults.py``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import machine, save_json

import skdeepclust
from skdeepclust._precision import MIXED_PRECISION_MIN_WORK
from skdeepclust.cluster._nested_autoencoder import default_autoencoder

#: (name, rows the default recipe is built for, features)
SHAPES = [
    ("digits", 1797, 64),
    ("tabular 32-D", 20_000, 32),
    ("MNIST-10k", 10_000, 784),
    ("MNIST-70k", 70_000, 784),
]


def time_epoch(ae, X, setting: str) -> float:
    with skdeepclust.config_context(mixed_precision=setting):
        model = type(ae)(**ae.get_params()).set_params(device="cpu", random_state=0)
        model.partial_fit(X[: model.batch_size])  # build, initialise, first step
        start = time.perf_counter()
        model.partial_fit(X)
        return time.perf_counter() - start


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    rows = []
    for name, n, d in SHAPES:
        ae = default_autoencoder(n, d)
        X = np.random.RandomState(0).rand(ae.batch_size * args.n_steps, d).astype(np.float32)
        probe = type(ae)(**ae.get_params()).set_params(device="cpu")
        probe.partial_fit(X[: ae.batch_size])
        n_params = sum(p.numel() for p in probe.module_.parameters())
        times = {"off": [], "bfloat16": []}
        for _ in range(args.repeats):
            for setting, measured in times.items():
                measured.append(time_epoch(ae, X, setting) / args.n_steps)
        off, bf16 = (statistics.median(times[s]) for s in ("off", "bfloat16"))
        row = {"shape": name, "network": [d, *ae.hidden_layer_sizes, ae.n_components],
               "batch_size": ae.batch_size, "step_work": ae.batch_size * n_params,
               "auto_autocasts": ae.batch_size * n_params >= MIXED_PRECISION_MIN_WORK,
               "float32_ms": 1e3 * off, "bfloat16_ms": 1e3 * bf16, "ratio": off / bf16,
               "times": times}
        rows.append(row)
        print(f"{name:13s} {'-'.join(map(str, row['network'])):22s} batch {ae.batch_size:4d} "
              f"work {row['step_work']:.1e} (auto: {'bf16' if row['auto_autocasts'] else 'fp32'})"
              f"  float32 {row['float32_ms']:6.2f} ms  bfloat16 {row['bfloat16_ms']:6.2f} ms"
              f"  ratio {row['ratio']:.2f}", flush=True)
    payload = {"args": vars(args), "host": machine(), "rows": rows}
    save_json(args.out, payload)
    return payload


if __name__ == "__main__":
    main()
