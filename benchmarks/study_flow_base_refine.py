"""Study (issue 18): the mixture base's ``reg_covar`` after the 3-fold CV, and its refit.

``NormalizingFlow()`` at its defaults keeps the untrained flow (its mixture base,
refitted to all rows) on every spiral seed of the density panel, and the base's
``reg_covar`` is chosen by 3-fold cross-validation whose fits see 2/3 of the training
rows. This study scores, at ``max_epochs=0`` (the untrained flow: what a kept start
becomes), four variants of the base on the panel's data and seeds:

- ``head``: the package as it is (CV choice; the kept start's members refitted to all
  rows from fresh initialisations);
- ``refine``: after the CV, the 10 members (fitted to the training split's codes) are
  refitted with ``reg_covar`` 1e-4 then 1e-6 (each warm-started from the previous set),
  and the value whose member average scores the validation split highest is kept;
  the kept start is refitted to all rows from fresh initialisations (as ``head``);
- ``refine_warm``: ``refine``, with the all-rows refit warm-started from the validated
  members (so the refit starts from the model the validation split chose);
- ``warm``: the CV choice, with the warm-started all-rows refit.

The variants are implemented here (a subclass of the study's ``ChoiceStudyFlow``), not
in the package::

    OMP_NUM_THREADS=1 python benchmarks/study_flow_base_refine.py \\
        --datasets circles spiral --seeds 0 1 2 3 4 \\
        --out benchmarks/results/study_flow_base_refine.jsonl
    # whole default fits of the refine variants where the base alone decides a seed
    OMP_NUM_THREADS=1 python benchmarks/study_flow_base_refine.py --full \\
        --datasets circles --seeds 1 --variants refine refine_warm \\
        --out benchmarks/results/study_flow_base_refine_full.jsonl
    OMP_NUM_THREADS=1 python benchmarks/study_flow_base_refine.py --full \\
        --datasets spiral --seeds 1 --variants refine \\
        --out benchmarks/results/study_flow_base_refine_full.jsonl
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.special import logsumexp
from sklearn.mixture import GaussianMixture

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import append_jsonl
from _defaults_density import DATASETS
from study_flow_defaults import ChoiceStudyFlow, _gmm_reference

REFINE = (1e-4, 1e-6)
VARIANTS = {"head": (False, False), "refine": (True, False),
            "refine_warm": (True, True), "warm": (False, True)}


def _average_log_density(members, Z):
    log_p = np.stack([m.score_samples(Z) for m in members])
    return logsumexp(log_p, axis=0) - math.log(len(members))


def refine_reg_covar(members, Z, Z_val):
    """``members`` refitted at the smaller ``REFINE`` values (each set warm-started from
    the previous one) when their average scores the validation codes higher."""
    best = members
    best_score = float(_average_log_density(members, Z_val).mean())
    current = members
    for reg in REFINE:
        if reg >= current[0].reg_covar:
            continue
        try:
            trial = [copy.deepcopy(m).set_params(reg_covar=reg, warm_start=True).fit(Z)
                     for m in current]
        except ValueError:  # a collapsed component
            break
        score = float(_average_log_density(trial, Z_val).mean())
        if np.isfinite(score) and score > best_score:
            best, best_score = trial, score
        current = trial
    return best


class RefineStudyFlow(ChoiceStudyFlow):
    """The package's fit with the base variants of this study (see the module doc)."""

    def __init__(self, *, refine=False, warm_refit=False, record=None, **params):
        super().__init__(record=record, **params)
        self.refine = refine
        self.warm_refit = warm_refit

    def _init_base(self, X_t, *args, **kwargs):
        super()._init_base(X_t, *args, **kwargs)
        self._study_members = None
        if not self._base_mixture_params:
            return
        Z = self._codes(self._base_rows(X_t))
        # the package's members (same structures and seeds, so the same fits)
        members = [GaussianMixture(**p).fit(Z) for p in self._base_mixture_params]
        if self.refine and self._study_val is not None:
            members = refine_reg_covar(members, Z, self._codes(self._study_val))
            self._set_base(members)
            self._base_mixture_params = [{**m.get_params(), "warm_start": False}
                                         for m in members]
        self._study_members = members

    def _refit_base(self, X_all):
        if not (self.warm_refit and self._study_members):
            return super()._refit_base(X_all)
        Z = self._codes(self._base_rows(X_all))
        self._set_base([copy.deepcopy(m).set_params(warm_start=True).fit(Z)
                        for m in self._study_members])


def run(name: str, seed: int, variants=tuple(VARIANTS), full: bool = False) -> dict:
    """Test scores of the ``variants`` at ``max_epochs=0`` or, with ``full``, of the
    whole default fit (training, early stopping and the start rule included; its CPU
    seconds include the study's per-epoch scoring, see ``ChoiceStudyFlow``)."""
    X_tr, X_te = DATASETS[name](seed)
    X_tr, X_te = X_tr.astype(np.float32), X_te.astype(np.float32)
    out = {"data": name, "seed": seed, "gmm": _gmm_reference().get((name, seed)),
           "full": full}
    for variant in variants:
        refine, warm = VARIANTS[variant]
        extra = {} if full else {"max_epochs": 0, "noise": 0}
        model = RefineStudyFlow(refine=refine, warm_refit=warm, record=torch.as_tensor(X_te),
                                device="cpu", random_state=seed, **extra)
        c0 = time.process_time()
        model.fit(X_tr)
        out[variant] = {"reg_covar": model._base_mixture_params[0]["reg_covar"],
                        "test": float(model.score(X_te)), "epochs": model.n_iter_,
                        "cpu_s": time.process_time() - c0}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", nargs="*", default=["circles", "spiral"],
                   choices=list(DATASETS))
    p.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--full", action="store_true",
                   help="whole default fits (training included) instead of max_epochs=0")
    p.add_argument("--out", default=None, help="JSON lines file to append to")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    for name in args.datasets:
        for seed in args.seeds:
            r = run(name, seed, args.variants, args.full)
            print(json.dumps(r), flush=True)
            append_jsonl(args.out, r)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
