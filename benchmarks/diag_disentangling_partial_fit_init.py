"""DisentanglingFlow partial_fit on MNIST-10k: what keeps it below fit (issue 20).

The data and chunks of ``bench_partial_fit.py --data mnist10k`` (first 10 000 images /
255, dequantised with the seed's noise, 10 chunks of 1 000 rows in the seed's order, 5
passes = fit's 5 epochs), score = mean log-likelihood of all rows minus the diagonal
Gaussian baseline. Variants:
``fit`` (5 epochs), ``base`` (partial_fit over the chunks), ``initall`` (ActNorm
initialised on all rows first by ``fit`` with ``max_epochs=0``, then the same
partial_fit calls), ``pool8192`` (a reservoir of 8 192 rows instead of 2 048). A variant
with the prefix ``shared:`` (e.g. ``shared:fit``) trains every parameter at the couplings'
rate, one optimizer group, as DisentanglingFlow did before its ActNorm layers got a group
of their own at the fan-in-1 rate. ``14`` pools the images 2 x 2 (196 features), ``28``
keeps 784. One JSON line per variant (``--out`` also appends it to a file)::

    OMP_NUM_THREADS=1 python benchmarks/diag_disentangling_partial_fit_init.py 14 fit base initall pool8192
    OMP_NUM_THREADS=1 python benchmarks/diag_disentangling_partial_fit_init.py 28 initall
    OMP_NUM_THREADS=1 python benchmarks/diag_disentangling_partial_fit_init.py 14 \\
        shared:fit shared:base fit base --seed 1 \\
        --out benchmarks/results/diag_disentangling_partial_fit_init.jsonl
"""

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import append_jsonl
from _panel import mnist10k
from bench_partial_fit import _gaussian_baseline

import skdeepclust.flow._disentangling as D
from skdeepclust import DisentanglingFlow
from skdeepclust.flow._base import _BaseFlow


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("side", type=int, choices=[14, 28])
    parser.add_argument("variants", nargs="+")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--out", default=None, help="JSON-lines file to append to")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    seed, epochs = args.seed, args.epochs
    X, y = mnist10k()
    X = X + np.random.RandomState(seed).uniform(0, 1 / 256, X.shape).astype(np.float32)
    if args.side == 14:
        X = X.reshape(-1, 14, 2, 14, 2).mean((2, 4)).reshape(len(X), -1)
    y = y.astype(float)
    base = _gaussian_baseline(X)
    chunks = np.array_split(np.random.RandomState(seed).permutation(len(X)), 10)
    own_optimizer = D.DisentanglingFlow._make_optimizer
    for name in args.variants:
        shared, v = name.startswith("shared:"), name.removeprefix("shared:")
        D.DisentanglingFlow._make_optimizer = (
            _BaseFlow._make_optimizer if shared else own_optimizer)
        start = time.process_time()
        if v == "fit":
            est = DisentanglingFlow(random_state=seed, max_epochs=epochs).fit(X, y)
        else:
            D._PAIR_POOL_ROWS = 8192 if v == "pool8192" else 2048
            if v == "initall":
                est = DisentanglingFlow(random_state=seed, max_epochs=0).fit(X, y)
            else:
                est = DisentanglingFlow(random_state=seed)
            for _ in range(epochs):
                for rows in chunks:
                    est.partial_fit(X[rows], y[rows])
        record = {"command": " ".join(["diag_disentangling_partial_fit_init.py",
                                       *sys.argv[1:]]),
                  "features": X.shape[1], "seed": seed, "epochs": epochs, "variant": name,
                  "optimizer_groups": len(est._optimizer.param_groups),
                  "score": round(est.score(X) - base, 4),
                  "cpu_s": round(time.process_time() - start, 1)}
        print(json.dumps(record), flush=True)
        append_jsonl(args.out, record)
    D.DisentanglingFlow._make_optimizer = own_optimizer


if __name__ == "__main__":
    main()
