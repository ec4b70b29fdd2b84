"""ActNorm's scale floor: choose the fraction of the overall spread by measurement.

ActNorm's data initialisation divides every feature by its spread in the initialising
rows; a pixel inked in only a few images (or none of the first ``partial_fit`` chunk)
gets a scale of ~0.001 and a gain of ~900. This study sets ``ActNorm``'s ``scale_floor``
(the fraction of the rows' overall spread below which no scale goes; 0 is the behaviour
before the floor; ``--reference median`` takes the fraction of the median per-feature
spread instead of the shipped root mean square) and measures

- ``mnist_pf``: ``NormalizingFlow`` trained by ``partial_fit`` over MNIST-10k in 10 chunks
  of 1 000 (as ``bench_partial_fit.py --data mnist10k``, its ``MNIST_SETTINGS``), for
  ``--passes`` passes, scored on all rows minus the diagonal-Gaussian baseline;
- ``digits``: ``NormalizingFlow()`` at its defaults on digits, held-out log-likelihood
  (the split and dequantisation of ``_defaults_density.py``).

Run from the repository root (one line of JSON per measurement)::

    OMP_NUM_THREADS=1 python benchmarks/study_actnorm_floor.py --floors 0 0.1 0.3 \
        --out benchmarks/results/study_actnorm_floor.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _defaults_density as dd
import bench_partial_fit as bpf
from _common import append_jsonl

from skdeepclust.flow import NormalizingFlow
from skdeepclust.nn.flows.layers import ActNorm

_SHIPPED_INITIALIZE = ActNorm.initialize


@torch.no_grad()
def _median_initialize(self, x):
    """ActNorm's initialisation with the floor taken from the median per-feature spread
    (the alternative to the shipped root mean square)."""
    mean = x.mean(0)
    std = x.std(0, unbiased=False) if x.shape[0] > 1 else torch.ones_like(mean)
    tiny = torch.finfo(x.dtype).eps ** 0.5
    floor = self.scale_floor * std.median()
    if torch.isfinite(floor) and floor > tiny:
        std = std.clamp_min(floor)
    std = torch.where(std > tiny, std, torch.ones_like(std))
    self.weight[1].copy_(-torch.log(std))
    self.weight[0].copy_(-mean / std)


REFERENCE = "rms"


def _set_floor(value: float) -> None:
    ActNorm.__init__.__defaults__ = (float(value),)
    ActNorm.initialize = _median_initialize if REFERENCE == "median" else _SHIPPED_INITIALIZE


def mnist_pf(floor: float, seed: int, passes: int) -> dict:
    _set_floor(floor)
    X, _ = bpf._load("mnist10k", "unit", seed, "NormalizingFlow")
    chunks = np.array_split(np.random.RandomState(seed).permutation(len(X)), bpf.N_CHUNKS)
    est = NormalizingFlow(random_state=seed, **bpf.MNIST_SETTINGS["NormalizingFlow"])
    start = time.process_time()
    curve = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(passes):
            for rows in chunks:
                est.partial_fit(X[rows])
            curve.append(float(est.score(X) - bpf._gaussian_baseline(X)))
    gain = max(float(m.log_gain.detach().max()) for m in est.module_.modules() if isinstance(m, ActNorm))
    return {"study": "mnist_pf", "reference": REFERENCE, "scale_floor": floor, "seed": seed, "passes": passes,
            "score_over_gaussian_per_pass": curve, "max_actnorm_log_gain": gain,
            "cpu_s": time.process_time() - start}


def digits(floor: float, seed: int) -> dict:
    _set_floor(floor)
    X_tr, X_te = dd._digits(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.process_time()
        res = dd.flow(X_tr, X_te, seed)
    return {"study": "digits", "reference": REFERENCE, "scale_floor": floor, "seed": seed, "test": res["test"],
            "epochs": res["epochs"], "cpu_s": time.process_time() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--floors", type=float, nargs="+", default=[0.0, 0.1, 0.3])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--studies", nargs="+", default=["mnist_pf", "digits"])
    parser.add_argument("--passes", type=int, default=1)
    parser.add_argument("--reference", choices=["rms", "median"], default="rms",
                        help="the overall spread the floor is a fraction of")
    parser.add_argument("--out", default="benchmarks/results/study_actnorm_floor.jsonl")
    args = parser.parse_args()
    global REFERENCE
    REFERENCE = args.reference
    torch.set_num_threads(1)
    command = "OMP_NUM_THREADS=1 python benchmarks/study_actnorm_floor.py " + " ".join(
        sys.argv[1:])
    for study in args.studies:
        for seed in args.seeds:
            for floor in args.floors:
                row = (mnist_pf(floor, seed, args.passes) if study == "mnist_pf"
                       else digits(floor, seed))
                row["command"] = command
                print(json.dumps(row), flush=True)
                append_jsonl(args.out, row)


if __name__ == "__main__":
    main()
