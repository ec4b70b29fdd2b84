"""Why some estimators' ``partial_fit`` over 10 chunks stays below their ``fit`` (issue 20).

The measurements behind the "below 0.95" rows of ``bench_partial_fit.py`` (same data, chunks
and scores; one JSON line per measurement on stdout). Run from the repository root::

    OMP_NUM_THREADS=1 python benchmarks/diag_partial_fit.py dflow-chunks --lr 0.01 --seeds 0 1 2 3 4
    OMP_NUM_THREADS=1 python benchmarks/diag_partial_fit.py dflow-chunks --lr 0.001 --seeds 0 1 2
    OMP_NUM_THREADS=1 python benchmarks/diag_partial_fit.py dflow-last-batch
    OMP_NUM_THREADS=1 python benchmarks/diag_partial_fit.py dflow-pair-pool --seeds 0 1
    OMP_NUM_THREADS=1 python benchmarks/diag_partial_fit.py dbm-rate --seeds 0
    OMP_NUM_THREADS=1 python benchmarks/diag_partial_fit.py nf-actnorm [--actnorm-all-rows]

- ``dflow-chunks``: DisentanglingFlow on digits, 20 passes: ``fit`` against ``partial_fit``
  over the whole data in one call per pass (``pf1``), 2 chunks (``pf2``) and 10 chunks
  (``pf10``), at the learning rate ``--lr`` (default 0.01 here: the diagnosis predates
  DisentanglingFlow's ``learning_rate="auto"``).
- ``dflow-last-batch``: the same flow with ``pairs_per_epoch`` a multiple of the batch
  size (64) or not, in one or two calls per pass, against ``fit`` with as many pairs per
  epoch: what a last minibatch of a few pairs costs.
- ``dflow-pair-pool``: at the default rate, 10 ``partial_fit`` calls per pass on all rows
  with ``pairs_per_epoch`` 180 (the pairs of a 180-row chunk, drawn from all rows) or 192
  (three full minibatches): whether the chunk's rows or the number of calls cost.
- ``dbm-rate``: DBM on MNIST-10k: the score after passes 1, 2, 5 and 10 of ``partial_fit``
  at its "auto" rate (resolved from the first 1 000-row chunk) and at the rate ``fit``
  resolved from all rows, and ``fit`` at the first rate. The exact log Z is computed where a
  score is read only (``partial_fit`` computes it after every call: a cost, not a change).
- ``nf-actnorm``: NormalizingFlow on MNIST-10k: the mean, median and minimum of
  ``score_samples`` (minus the Gaussian baseline) and the training loss of each call, pass
  by pass; ``--actnorm-all-rows`` lets the first call's ActNorm initialisation read all
  rows instead of the first chunk (a diagnosis, not a recipe), and the number of pixels
  flat in the first chunk but inked elsewhere is printed first.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_partial_fit import _bernoulli_baseline, _gaussian_baseline, _load


def _print(row):
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}),
          flush=True)


def dflow_chunks(seeds, lr):
    from skdeepclust import DisentanglingFlow

    for seed in seeds:
        X, y = _load("digits", "unit", seed, "DisentanglingFlow")
        yf, base = y.astype(np.float64), _gaussian_baseline(X)
        row = {"lr": lr, "seed": seed}
        fit = DisentanglingFlow(random_state=seed, learning_rate=lr).fit(X, yf)
        row["fit"] = fit.score(X) - base
        for n in (1, 2, 10):
            chunks = np.array_split(np.random.RandomState(seed).permutation(len(X)), n)
            est = DisentanglingFlow(random_state=seed, learning_rate=lr)
            for _ in range(20):
                for rows in chunks:
                    est.partial_fit(X[rows], yf[rows])
            row[f"pf{n}"] = est.score(X) - base
        _print(row)


def dflow_last_batch(lr=1e-3, seed=0):
    from skdeepclust import DisentanglingFlow

    X, y = _load("digits", "unit", seed, "DisentanglingFlow")
    yf, base = y.astype(np.float64), _gaussian_baseline(X)
    for pairs, calls in ((896, 2), (900, 2), (1797, 1), (1792, 1), (1800, 1)):
        est = DisentanglingFlow(random_state=seed, learning_rate=lr, pairs_per_epoch=pairs)
        for _ in range(20):
            for _ in range(calls):
                est.partial_fit(X, yf)
        fit = DisentanglingFlow(random_state=seed, learning_rate=lr,
                                pairs_per_epoch=pairs * calls).fit(X, yf)
        _print({"lr": lr, "seed": seed, "pairs_per_call": pairs, "calls_per_pass": calls,
                "last_batch": pairs % 64, "partial_fit": est.score(X) - base,
                "fit": fit.score(X) - base})


def dflow_pair_pool(seeds):
    from skdeepclust import DisentanglingFlow

    for seed in seeds:
        X, y = _load("digits", "unit", seed, "DisentanglingFlow")
        yf, base = y.astype(np.float64), _gaussian_baseline(X)
        for pairs in (180, 192):
            est = DisentanglingFlow(random_state=seed, pairs_per_epoch=pairs)
            for _ in range(20):
                for _ in range(10):
                    est.partial_fit(X, yf)
            _print({"lr": 0.01, "seed": seed, "calls_per_pass": 10, "pairs_per_call": pairs,
                    "rows_per_call": len(X), "partial_fit": est.score(X) - base})


def dbm_rate(seeds):
    import skdeepclust.neural_network._dbm as dbm_module

    reset = dbm_module.DBM._reset_log_partition
    dbm_module.DBM._reset_log_partition = lambda self: None  # log Z only where read
    for seed in seeds:
        _dbm_rate(seed, reset)


def _dbm_rate(seed, reset):
    from skdeepclust.neural_network import DBM

    X, _ = _load("mnist10k", "binary", seed, "DBM")
    base = _bernoulli_baseline(X)

    def score(est):
        reset(est)
        return est.score(X) - base

    def make(rate):
        return DBM(n_components=(16, 16), max_epochs=10, random_state=seed, learning_rate=rate)

    chunks = np.array_split(np.random.RandomState(seed).permutation(len(X)), 10)
    full = make("auto").fit(X)
    row = {"seed": seed, "fit_rate": full._learning_rate, "fit": score(full)}
    for label, rate in (("partial_auto", "auto"), ("partial_at_fit_rate", full._learning_rate)):
        inc, curve = make(rate), []
        for p in range(10):
            for rows in chunks:
                inc.partial_fit(X[rows])
            if p in (0, 1, 4, 9):
                curve.append(round(score(inc), 2))
        row[label] = {"rate": inc._learning_rate, "after_passes_1_2_5_10": curve}
    row["fit_at_partial_auto_rate"] = score(make(row["partial_auto"]["rate"]).fit(X))
    _print(row)


def nf_actnorm(seed=0, all_rows=False):
    import torch

    from skdeepclust import NormalizingFlow

    X, _ = _load("mnist10k", "unit", seed, "NormalizingFlow")
    base = _gaussian_baseline(X)
    chunks = np.array_split(np.random.RandomState(seed).permutation(len(X)), 10)
    first, every = X[chunks[0]].std(0), X.std(0)
    rare = (first < 0.002) & (every > 0.01)
    _print({"pixels_flat_in_first_chunk": int((first < 0.002).sum()),
            "of_which_inked_elsewhere": int(rare.sum()),
            "rows_inked_there": int((X[:, rare] > 0.1).any(1).sum()),
            "largest_value_over_first_chunk_std": float(
                (X[:, rare].max(0) / np.maximum(first[rare], 1e-6)).max())})
    if all_rows:
        import skdeepclust.flow._base as flow_base

        original, X_all = flow_base._BaseFlow._data_init, torch.as_tensor(X)

        def data_init(self, X_t, generator):
            return original(self, X_all.to(X_t.dtype), generator)

        flow_base._BaseFlow._data_init = data_init
    inc, start = NormalizingFlow(max_epochs=10, random_state=seed), time.process_time()
    for p in range(10):
        for rows in chunks:
            inc.partial_fit(X[rows])
        s = inc.score_samples(X) - base
        _print({"actnorm_all_rows": all_rows, "pass": p + 1, "mean": float(s.mean()),
                "median": float(np.median(s)), "min": float(s.min()),
                "rows_below_0": int((s < 0).sum()),
                "loss_of_the_last_10_calls": [round(v, 1) for v in inc.loss_curve_[-10:]],
                "cpu_s": round(time.process_time() - start)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["dflow-chunks", "dflow-last-batch", "dflow-pair-pool",
                                         "dbm-rate", "nf-actnorm"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--actnorm-all-rows", action="store_true")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    if args.what == "dflow-chunks":
        dflow_chunks(args.seeds, args.lr)
    elif args.what == "dflow-last-batch":
        dflow_last_batch()
    elif args.what == "dflow-pair-pool":
        dflow_pair_pool(args.seeds)
    elif args.what == "dbm-rate":
        dbm_rate(args.seeds)
    else:
        nf_actnorm(args.seeds[0], args.actnorm_all_rows)


if __name__ == "__main__":
    main()
