"""DisentanglingFlow partial_fit on MNIST-10k: what keeps it below fit (issue 20).

Seed 0, the data and chunks of ``bench_partial_fit.py --data mnist10k`` (first 10 000
images / 255, dequantised, 10 chunks of 1 000 rows, 5 passes = fit's 5 epochs), score =
mean log-likelihood of all rows minus the diagonal Gaussian baseline. Variants:
``fit`` (5 epochs), ``base`` (partial_fit over the chunks), ``initall`` (ActNorm
initialised on all rows first by ``fit`` with ``max_epochs=0``, then the same
partial_fit calls), ``pool8192`` (a reservoir of 8 192 rows instead of 2 048). ``14``
pools the images 2 x 2 (196 features), ``28`` keeps 784. One JSON line per variant::

    OMP_NUM_THREADS=1 python benchmarks/diag_disentangling_partial_fit_init.py 14 fit base initall pool8192
    OMP_NUM_THREADS=1 python benchmarks/diag_disentangling_partial_fit_init.py 28 initall
"""

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _panel import mnist10k
from bench_partial_fit import _gaussian_baseline

import skdeepclust.flow._disentangling as D
from skdeepclust import DisentanglingFlow


def main():
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    seed, epochs = 0, 5
    X, y = mnist10k()
    X = X + np.random.RandomState(seed).uniform(0, 1 / 256, X.shape).astype(np.float32)
    if int(sys.argv[1]) == 14:
        X = X.reshape(-1, 14, 2, 14, 2).mean((2, 4)).reshape(len(X), -1)
    y = y.astype(float)
    base = _gaussian_baseline(X)
    chunks = np.array_split(np.random.RandomState(seed).permutation(len(X)), 10)
    out = {"features": X.shape[1]}
    for v in sys.argv[2:]:
        if v == "fit":
            flow = DisentanglingFlow(random_state=seed, max_epochs=epochs).fit(X, y)
            out[v] = flow.score(X) - base
            print(json.dumps(out), flush=True)
            continue
        D._PAIR_POOL_ROWS = 8192 if v == "pool8192" else 2048
        if v == "initall":
            est = DisentanglingFlow(random_state=seed, max_epochs=0).fit(X, y)
        else:
            est = DisentanglingFlow(random_state=seed)
        for _ in range(epochs):
            for rows in chunks:
                est.partial_fit(X[rows], y[rows])
        out[v] = est.score(X) - base
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
