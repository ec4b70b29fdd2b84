"""Study: GMMRepresentation's component law chosen by held-out likelihood, per panel set.

``degrees_of_freedom="auto"`` chooses between Gaussian and Student-t(5) components from
the starting representations (the scaled first ``min(10, n_features)`` principal
components). This script records, per panel data set, one JSON record with:

- ``in_sample``: the mean log-likelihood per row of the most likely of 20 EM starts of
  each law on all rows (the rule before this study kept the higher);
- ``held_out``: over ``--splits`` random halvings, the held-out log-likelihood per row of
  t minus Gaussian (each half's mixture the most likely of 3 EM starts, scored on the
  other half): mean, sd, and how many halvings prefer t;
- ``choice``: the law :func:`~skdeepclust.representation._dgd_init.choose_law` (three
  halvings, the default rule) picks with each of ``--seeds``;
- ``starts`` (with ``--starts N``): N EM starts of each law on all rows, their mean
  log-likelihood and ARI against the known classes, most likely first: how well the
  likelihood, by which the EM start keeps one of its 20 starts, ranks partitions.

Run from the repository root::

    OMP_NUM_THREADS=1 python benchmarks/study_gmmrep_law_cv.py --starts 40 \\
        --out benchmarks/results/study_gmmrep_law_cv.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _panel import PANEL
from scipy.special import logsumexp
from sklearn.metrics import adjusted_rand_score

from skdeepclust.representation._dgd_init import (
    _most_likely,
    choose_law,
    mixture_log_joint,
    pca_scores,
    scale_to_softball,
)

LAWS = (None, 5.0)


def starts(Z, y, k: int, law, reg: float, n: int) -> list:
    """(mean log-likelihood, ARI) of ``n`` EM starts of ``law``, most likely first."""
    rng = np.random.RandomState(0)
    out = []
    for _ in range(n):
        fitted, (_, score) = _most_likely(Z, k, "full", law, reg, rng, 1)
        labels = mixture_log_joint(Z, *fitted, "full", law).argmax(1)
        out.append((score, adjusted_rand_score(y, labels)))
    return sorted(out, reverse=True)


def study(name: str, splits: int, seeds, n_starts: int = 0) -> dict:
    X, y = PANEL[name]()
    k = int(np.unique(y).size)
    Z = pca_scores(X, min(10, X.shape[1]), False, None)
    scale_to_softball(Z, 2.0)
    reg = 1e-6 * float(np.var(Z))
    t0 = time.process_time()
    rng = np.random.RandomState(0)
    in_sample = {str(law): _most_likely(Z, k, "full", law, reg, rng, 20)[1][1] for law in LAWS}
    diffs = []
    for split in range(splits):
        order = np.random.default_rng(split).permutation(len(Z))
        halves = (order[: len(Z) // 2], order[len(Z) // 2 :])
        total = {}
        for law in LAWS:
            total[law] = 0.0
            for fit_rows, test_rows in (halves, halves[::-1]):
                fitted, _ = _most_likely(Z[fit_rows], k, "full", law, reg, rng, 3)
                log_joint = mixture_log_joint(Z[test_rows], *fitted, "full", law)
                total[law] += float(logsumexp(log_joint, axis=1).sum()) / len(Z)
        diffs.append(total[5.0] - total[None])
    choice = [choose_law(Z, k, "full", LAWS, reg, np.random.RandomState(s)) for s in seeds]
    return {"dataset": name, "n_rows": len(Z), "dim": Z.shape[1], "k": k,
            "in_sample": in_sample,
            "held_out_t_minus_gaussian": {"mean": float(np.mean(diffs)),
                                          "sd": float(np.std(diffs)),
                                          "t_preferred": int(np.sum(np.array(diffs) > 0)),
                                          "splits": splits},
            "choice": [None if c is None else float(c) for c in choice],
            "starts": {str(law): starts(Z, y, k, law, reg, n_starts) for law in LAWS}
            if n_starts else None,
            "cpu_seconds": time.process_time() - t0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["digits", "wine", "breast_cancer",
                                                          "aniso_blobs", "varied_blobs",
                                                          "emb384"])
    parser.add_argument("--splits", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--starts", type=int, default=0,
                        help="also record this many EM starts of each law (likelihood, ARI)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    records = []
    for name in args.datasets:
        rec = study(name, args.splits, args.seeds, args.starts)
        records.append(rec)
        h = rec["held_out_t_minus_gaussian"]
        print(f"{name:14s} in-sample G {rec['in_sample']['None']:.3f} t {rec['in_sample']['5.0']:.3f}"
              f"  held-out t-G {h['mean']:+.3f} ± {h['sd']:.3f} (t in {h['t_preferred']}/"
              f"{h['splits']})  choice {rec['choice']}  {rec['cpu_seconds']:.1f} CPU s",
              flush=True)
        for law, rows in (rec["starts"] or {}).items():
            print(f"    {law} starts, most likely first (loglik, ARI): "
                  f"{[(round(a, 3), round(b, 3)) for a, b in rows[:8]]}", flush=True)
        Path(args.out).write_text(json.dumps(records, indent=1))


if __name__ == "__main__":
    main()
