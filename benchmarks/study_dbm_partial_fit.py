"""Where DBM.partial_fit loses against fit on MNIST-10k (issue 20), at one rate.

The DBM of ``bench_partial_fit.py`` (``n_components=(16, 16)``, 10 epochs, binary
MNIST-10k) trained at the same explicit learning rate (fit's "auto" rate on 10 000 rows
unless ``--rate``; ``--auto``: every route at ``learning_rate="auto"``) by several routes; the score is the bench's (mean bound minus
independent Bernoulli pixels), read after passes 2, 5 and 10:

- ``fit``: one fit of 10 epochs (end score only);
- ``warm``: ``partial_fit(X)`` on all the rows, 10 calls (a call boundary every epoch:
  the persistent chains, momentum and the offsets must carry over);
- ``chunks``: ``partial_fit`` over the bench's 10 fixed chunks of 1 000 rows per pass;
- ``chunks_reshuffled``: new chunks (a new permutation) every pass.

Run from the repository root (one thread)::

    OMP_NUM_THREADS=1 python benchmarks/study_dbm_partial_fit.py --seeds 0 \
        --out benchmarks/results/study_dbm_partial_fit.jsonl

The fixed-rate ``chunks`` route on the other seeds of ``study_dbm_score_noise.py`` (0-19
in all; ``warm`` too on 11, 14 and 15, the seeds where the "auto" stream scored lowest)::

    OMP_NUM_THREADS=1 python benchmarks/study_dbm_partial_fit.py --seeds 11 14 15 \
        --routes chunks warm --score-passes \
        --out benchmarks/results/study_dbm_partial_fit.jsonl
    OMP_NUM_THREADS=1 python benchmarks/study_dbm_partial_fit.py \
        --seeds 4 5 6 7 8 9 10 12 13 16 17 18 19 --routes chunks --score-passes \
        --out benchmarks/results/study_dbm_partial_fit.jsonl
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



def _data():
    from _panel import mnist10k

    X, _ = mnist10k()
    return (X > 0.5).astype(np.float32)


def _baseline(X):
    p = np.clip(X.mean(0), 1e-3, 1 - 1e-3)
    return float(np.mean((X * np.log(p) + (1 - X) * np.log1p(-p)).sum(1)))


def run(seed, routes, rate=None, passes=10, scored=(2, 5), auto=False):
    from skdeepclust.neural_network import DBM

    X = _data()
    base = _baseline(X)

    def make(r):
        return DBM(n_components=(16, 16), max_epochs=passes, random_state=seed,
                   learning_rate=r)

    if rate is None:
        rate = make("auto")._auto_rate(len(X), passes)
    rows = []
    for route in routes:
        start, scoring, curve = time.process_time(), 0.0, {}
        est = make("auto" if auto else rate)
        if route == "fit":
            est.fit(X)
        else:
            rs = np.random.RandomState(seed)
            chunks = np.array_split(rs.permutation(len(X)), 10)
            for p in range(1, passes + 1):
                if route == "warm":
                    est.partial_fit(X)
                else:
                    if route == "chunks_reshuffled" and p > 1:
                        chunks = np.array_split(rs.permutation(len(X)), 10)
                    for c in chunks:
                        est.partial_fit(X[c])
                if p in scored and p != passes:
                    t = time.process_time()
                    curve[p] = round(est.score(X) - base, 2)
                    scoring += time.process_time() - t
        train_cpu = time.process_time() - start - scoring
        curve[passes] = round(est.score(X) - base, 2)
        row = {"seed": seed, "route": route, "learning_rate": "auto" if auto else rate,
               "final_rate": est._learning_rate, "scores_after_pass": curve,
               "train_cpu_s": round(train_cpu, 1)}
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--routes", nargs="+",
                        default=["fit", "warm", "chunks", "chunks_reshuffled"])
    parser.add_argument("--rate", type=float, default=None)
    parser.add_argument("--auto", action="store_true",
                        help='learning_rate="auto" in every route (fit: its own rate; '
                             "partial_fit: the stream's rule)")
    parser.add_argument("--score-passes", type=int, nargs="*", default=[2, 5],
                        help="passes after which to score too (the last always is)")
    parser.add_argument("--out", default=None, help="JSON lines to append to")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seed in args.seeds:
            rows = run(seed, args.routes, args.rate, scored=args.score_passes,
                       auto=args.auto)
            if args.out:
                with open(args.out, "a") as f:
                    f.writelines(json.dumps({"command": " ".join(sys.argv), **r}) + "\n"
                                 for r in rows)


if __name__ == "__main__":
    main()
