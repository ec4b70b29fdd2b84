"""RBM training throughput of two versions of skdeepclust against BernoulliRBM, interleaved.

A before / after check of a change to the RBM's kernels on a shared machine: each fit runs
in a fresh one-thread child process, in the order before, after, BernoulliRBM, repeated
``--repeat`` times, and the ratio of BernoulliRBM's fit CPU seconds to ours is taken per
repetition (the three fits of a repetition run back to back, under the same load). The
"before" version is a source tree given by ``--before`` (its ``skdeepclust`` package is
imported from there); "after" is this repository.

Data: ``bow``, the binary bag-of-words of ``bench_rbm_sparse.py`` (20 000 x 5 000, 1 %
ones, 256 hidden units, learning rate 0.05, as a CSR matrix), or ``mnist``, binary MNIST
as in ``bench_rbm.py sklearn`` (dense float32, 500 hidden units, learning rate 0.01).
One epoch of the first ``--n`` rows, PCD-1, our RBM centered (its default)::

    mkdir -p /path/to/before && git archive HEAD~1 skdeepclust | tar -x -C /path/to/before
    OMP_NUM_THREADS=1 python benchmarks/bench_rbm_versions.py --before /path/to/before \\
        --data bow --batch-size 100 --n 6000 --repeat 3 --json benchmarks/results/rbm_before_after.jsonl

The JSON line appended to ``--json`` holds every fit's CPU seconds and the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

CHILD = r"""
import sys, time, json
sys.path.insert(0, sys.argv[5])
import numpy as np, torch
torch.set_num_threads(1)
kind, data, B, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if data == "bow":
    from bench_rbm_sparse import make_binary_bow
    X = make_binary_bow(20000, 5000, 0.01, np.float32)[:n]
    H, lr = 256, 0.05
else:
    from _common import mnist_path
    from skdeepclust.datasets import load_mnist
    X, _ = load_mnist(mnist_path(), subset="train", binarize=True)
    X, H, lr = X[:n].astype(np.float32), 500, 0.01
if kind == "sklearn":
    from sklearn.neural_network import BernoulliRBM
    m = BernoulliRBM(H, learning_rate=lr, batch_size=B, n_iter=1, random_state=42)
else:
    import skdeepclust
    from skdeepclust.neural_network import RBM
    RBM(4, max_epochs=1, device="cpu").fit(X[:300])  # numba kernels loaded (or compiled)
    m = RBM(H, method="pcd", learning_rate=lr, batch_size=B, max_epochs=1, device="cpu",
            random_state=42)
t = time.process_time()
m.fit(X)
print(json.dumps(time.process_time() - t))
"""


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--before", required=True, help="a source tree holding skdeepclust/")
    p.add_argument("--data", choices=["bow", "mnist"], default="bow")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--n", type=int, default=6000, help="training rows (one epoch)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--json")
    args = p.parse_args(argv)
    roots = {"before": os.path.abspath(args.before), "after": str(HERE.parent),
             "sklearn": str(HERE.parent)}
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "NUMBA_NUM_THREADS": "1"}
    env.pop("PYTHONPATH", None)
    cpu = {k: [] for k in roots}
    for _ in range(args.repeat):
        for kind, root in roots.items():
            out = subprocess.run(
                [sys.executable, "-c", CHILD, kind, args.data, str(args.batch_size),
                 str(args.n), str(HERE)], env=env, cwd=root, capture_output=True, text=True,
                check=True).stdout
            cpu[kind].append(json.loads(out.strip().splitlines()[-1]))
        print({k: round(v[-1], 3) for k, v in cpu.items()}, flush=True)
    ratios = {k: [s / o for s, o in zip(cpu["sklearn"], cpu[k])] for k in ("before", "after")}
    res = {"data": args.data, "batch_size": args.batch_size, "n": args.n, "cpu_s": cpu,
           "ratio_before_per_rep": ratios["before"], "ratio_after_per_rep": ratios["after"]}
    print(f"{args.data}, batch {args.batch_size}: BernoulliRBM CPU s / ours, per repetition: "
          f"before {np.mean(ratios['before']):.2f}, after {np.mean(ratios['after']):.2f}")
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps(res) + "\n")


if __name__ == "__main__":
    main()
