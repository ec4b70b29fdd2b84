"""Study: GMMRepresentation against PCA(10) + GaussianMixture, seed by seed, on the digits.

For each seed, one JSON record with:

- ``pca_gmm_ari``: ``PCA(10)`` + ``GaussianMixture(full)`` with that seed (the panel's
  ``pca_gmm``, one EM start);
- ``law``: the component law the EM start chose (``None``: Gaussian, 5.0: Student-t);
- ``start_ari``: ARI of the EM start's partition of the starting representations;
- ``trace``: per-epoch ARI and loss of a fit with ``tol=None`` (``--epochs``; the
  digits' ``max_epochs="auto"`` is 100), from
  :func:`study_gmmrep_convergence.trace`;
- ``ari``: the ARI of the fit at its defaults (the ``tol`` rule may stop it earlier),
  and ``stop_epoch``;
- ``confusion``: the pairs of classes most merged (the largest off-diagonal counts of
  the classes x clusters table after matching) at the defaults.

``--params`` (JSON) passes parameters to ``GMMRepresentation`` (e.g.
``'{"degrees_of_freedom": 5.0}'``); ``--dataset`` picks another panel set;
``--in-sample-law`` restores the rule before cross-validation (``degrees_of_freedom="auto"``
keeps the law more likely on all rows, fitting both from 20 EM starts: the same random
draws as that code); ``--extra-draws N`` takes N more draws from the estimator's random
stream before the law is chosen, so that the same seeds give another run of the same
rule (the training's spread from its random draws alone, the start unchanged).

``--skip-fit`` leaves out the fit at the defaults (its fields then describe the EM start:
a fit of 0 epochs) where the trace is that fit anyway (MNIST-10k runs ``max_epochs``).
ACC is recorded next to ARI (``start_acc``, ``acc``, ``pca_gmm_acc``, per epoch in the
trace) and the resolved "auto" values in ``resolved``.

Run from the repository root, one torch thread::

    OMP_NUM_THREADS=1 python benchmarks/study_gmmrep_digits.py --seeds 0 1 2 3 4 \\
        --out benchmarks/results/study_gmmrep_digits.json
    OMP_NUM_THREADS=1 python benchmarks/study_gmmrep_digits.py --dataset mnist10k --seeds 0 \
        --epochs 100 --skip-fit --out benchmarks/results/study_gmmrep_mnist10k.json
    OMP_NUM_THREADS=1 python benchmarks/study_gmmrep_digits.py --dataset mnist10k --seeds 0 \
        --epochs 0 --params '{"max_epochs": 30}' --out <file>  # one knob per run
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

from _panel import PANEL
from bench_defaults import _pca_gmm
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, confusion_matrix
from study_gmmrep_convergence import trace

import skdeepclust.representation._dgd as dgd
import skdeepclust.representation._dgd_init as dgd_init
from skdeepclust.metrics import cluster_accuracy
from skdeepclust.representation import GMMRepresentation


def merged_pairs(y, labels, top: int = 3) -> list:
    """The ``top`` (true class, class whose cluster took it, rows) errors after matching."""
    table = confusion_matrix(y, labels)
    rows, cols = linear_sum_assignment(-table)
    owner = {c: r for r, c in zip(rows, cols)}  # cluster -> the class it was matched to
    errors = []
    for cls in range(table.shape[0]):
        for cluster in range(table.shape[1]):
            if owner.get(cluster, -1) != cls and table[cls, cluster] > 0:
                errors.append((int(cls), int(owner.get(cluster, -1)),
                               int(table[cls, cluster])))
    return sorted(errors, key=lambda e: -e[2])[:top]


def run(X, y, seed: int, epochs: int, params: dict, in_sample_law: bool = False,
        extra_draws: int = 0, skip_fit: bool = False) -> dict:
    k = int(np.unique(y).size)
    baseline = _pca_gmm(k, seed).fit(X)
    start = {}
    original = dgd.em_mixture

    def spy(*args, **kwargs):
        out = original(*args, **kwargs)
        start["labels"], start["law"] = out[3], out[4]
        return out

    dgd.em_mixture = spy
    choose = dgd_init.choose_law

    def chosen(sample, k, kind, laws, reg, rng):
        for _ in range(extra_draws):
            dgd_init.seed_from(rng)
        if in_sample_law:  # choose_law's "too few rows" answer: the laws compared in-sample
            return dgd_init._TOO_FEW_ROWS
        return choose(sample, k, kind, laws, reg, rng)

    dgd_init.choose_law = chosen
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            t0 = time.process_time()
            est = GMMRepresentation(n_components=k, random_state=seed, device="cpu",
                                    **{"max_epochs": 0, "tol": None, **params}
                                    if skip_fit else params).fit(X)
            cpu = time.process_time() - t0
        traced = trace(X, y, seed, epochs, **params) if epochs else None
    finally:
        dgd.em_mixture = original
        dgd_init.choose_law = choose
    return {"seed": seed, "params": params, "in_sample_law": in_sample_law,
            "skip_fit": skip_fit,
            "extra_draws": extra_draws,
            "pca_gmm_ari": adjusted_rand_score(y, baseline.labels_),
            "pca_gmm_acc": float(cluster_accuracy(y, baseline.labels_)),
            "law": start["law"], "start_ari": adjusted_rand_score(y, start["labels"]),
            "start_acc": float(cluster_accuracy(y, start["labels"])),
            "ari": adjusted_rand_score(y, est.labels_), "stop_epoch": est.n_iter_,
            "acc": float(cluster_accuracy(y, est.labels_)),
            "resolved": {name: str(getattr(est, "_" + name)) for name in (
                "latent_dim", "covariance_type", "batch_size", "max_epochs",
                "log_var_prior_std", "degrees_of_freedom")},
            "cpu_seconds": cpu, "warned": [str(w.message)[:80] for w in caught],
            "confusion": merged_pairs(y, est.labels_),
            "pca_gmm_confusion": merged_pairs(y, baseline.labels_),
            "trace": None if traced is None else
            [{"epoch": r["epoch"], "ari": r["ari"], "acc": r["acc"], "loss": r["loss"]}
             for r in traced["trace"]]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits", choices=sorted(PANEL))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--epochs", type=int, default=100,
                        help="epochs of the traced fit (0: no trace)")
    parser.add_argument("--params", default="{}")
    parser.add_argument("--in-sample-law", action="store_true",
                        help="the law chosen in-sample (the rule before cross-validation)")
    parser.add_argument("--extra-draws", type=int, default=0,
                        help="draws taken from the random stream before the law choice")
    parser.add_argument("--skip-fit", action="store_true",
                        help="no fit at the defaults (its fields describe a fit of 0 "
                        "epochs: the start); the trace alone (where the defaults run "
                        "max_epochs without stopping, the trace is that fit)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    X, y = PANEL[args.dataset]()
    params = json.loads(args.params)
    out = Path(args.out)
    records = json.loads(out.read_text()) if out.exists() else []
    for seed in args.seeds:
        rec = run(X, y, seed, args.epochs, params, args.in_sample_law, args.extra_draws,
                  args.skip_fit)
        rec["dataset"] = args.dataset
        records.append(rec)
        tr = rec["trace"] or []
        print(f"{'in-sample ' if args.in_sample_law else ''}+{args.extra_draws} seed {seed}: "
              f"pca_gmm {rec['pca_gmm_ari']:.3f} (ACC {rec['pca_gmm_acc']:.3f})  law {rec['law']}"
              f"  start {rec['start_ari']:.3f} (ACC {rec['start_acc']:.3f})  fit {rec['ari']:.3f}"
              f" (ACC {rec['acc']:.3f}, epoch {rec['stop_epoch']}, {rec['cpu_seconds']:.0f} CPU s)"
              f"  trace ARI {[round(r['ari'], 3) for r in tr[4::5]]}"
              f"  ACC {[round(r['acc'], 3) for r in tr[4::5]]}  "
              f"merged {rec['confusion']}  pca_gmm merged {rec['pca_gmm_confusion']}",
              flush=True)
        out.write_text(json.dumps(records, indent=1))


if __name__ == "__main__":
    main()
