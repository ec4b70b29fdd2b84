"""Study: how DEC refreshes its target P, accuracy and cost of the clustering phase.

For each seed the default autoencoder (what ``DECClustering()`` pretrains) is fitted once,
then the clustering phase runs from it with each ``--modes`` value of ``update_interval``:

- ``half-epoch``: a full-data pass every half epoch (the DEC paper's 140 steps on MNIST;
  ``"auto"`` below 5 000 rows), passed as that integer number of steps;
- ``epoch``: the target made at each epoch's end from the soft assignments the training
  steps computed (no pass over the data after the first);
- ``batch``: each minibatch's own target (clustpy's and pyagc's DEC).

One JSON line per (seed, mode): ACC / NMI / ARI, epochs run, whether ``tol`` stopped it,
CPU seconds of the clustering phase and per epoch. Run from the repository root::

    OMP_NUM_THREADS=1 python benchmarks/study_dec_target_refresh.py --data mnist10k \\
        --seeds 0 1 2 --out benchmarks/results/study_dec_target_refresh_mnist10k.jsonl
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Timer, append_jsonl, mnist_path, scores
from bench_dec import load
from sklearn.cluster import KMeans

from skdeepclust.cluster import DECClustering
from skdeepclust.cluster._nested_autoencoder import auto_batch_size, default_autoencoder


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="mnist10k", choices=["digits", "mnist10k", "mnist70k"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--modes", nargs="+", default=["half-epoch", "epoch", "batch"])
    parser.add_argument("--max-epochs", type=int, default=100)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, required=True, help="JSON lines, appended")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    X, y = load(args.data, mnist_path())
    k = 10
    for seed in args.seeds:
        ae = default_autoencoder(X.shape[0], X.shape[1], device="cpu", random_state=seed)
        with Timer() as t_ae:
            ae.fit(X)
        km = KMeans(k, n_init=20, random_state=seed).fit_predict(ae.transform(X))
        base = {"data": args.data, "seed": seed, "pretrain_cpu_s": t_ae.cpu_seconds,
                "ae_kmeans": scores(y, km), "threads": torch.get_num_threads()}
        for mode in args.modes:
            interval = mode
            if mode == "half-epoch":
                interval = max(1, round(math.ceil(X.shape[0] / auto_batch_size(X.shape[0])) / 2))
            model = DECClustering(n_clusters=k, autoencoder=ae, update_interval=interval,
                                  max_epochs=args.max_epochs, device="cpu", random_state=seed)
            with Timer() as t:
                labels = model.fit_predict(X)
            record = {**base, "mode": mode, "update_interval": interval, **scores(y, labels),
                      "n_iter": int(model.n_iter_), "converged": bool(model.converged_),
                      "cluster_cpu_s": t.cpu_seconds,
                      "cpu_s_per_epoch": t.cpu_seconds / max(model.n_iter_, 1)}
            print(json.dumps(record), flush=True)
            append_jsonl(args.out, record)


if __name__ == "__main__":
    main()
