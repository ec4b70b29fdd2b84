"""Screen GMMRepresentation settings on MNIST-10k: training-set clusters of one fit.

One fit per call (5-D representation, decoder 256-256, Bernoulli output, 150 epochs, one
torch thread) with the given parameters overriding those; one JSON line with the mixture's
own ARI / ACC, the ARI of a full-covariance GaussianMixture refitted from the fitted means
(clustpy's VaDE post-processing), the final loss and the CPU seconds. No transform: the
held-out figures come from ``bench_dgd.py``. ``group_betas`` (a list of three [beta1,
beta2] pairs: decoder, mixture, representations) is a screening-only knob that sets Adam's
betas per parameter group (with ``representation_step="batch"``, the default: "epoch" gives
the representations an optimizer of their own).

    python benchmarks/sweep_dgd.py --seed 0 --params '{"adam_betas": [0.9, 0.999]}' \\
        --out benchmarks/results/dgd_knobs_mnist10k.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import torch
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import mnist_path, scores

import skdeepclust.representation._dgd_training as dgd_module
from skdeepclust.datasets import load_mnist
from skdeepclust.representation import GMMRepresentation

BASE = {"latent_dim": 5, "hidden_layer_sizes": (256, 256), "output_distribution": "bernoulli",
        "max_epochs": 150, "tol": None, "device": "cpu"}


def per_group_betas(betas):
    """Patch the optimizer factory GMMRepresentation calls to set betas per group."""
    make = dgd_module.make_optimizer

    def patched(name, groups, **kwargs):
        for group, pair in zip(groups, betas):
            group["betas"] = tuple(pair)
        return make(name, groups, **kwargs)

    dgd_module.make_optimizer = patched


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--params", type=json.loads, default={})
    p.add_argument("--n-samples", type=int, default=10_000)
    p.add_argument("--out", type=Path, default=None, help="append the JSON line here")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")

    params = {**BASE, "random_state": args.seed, **args.params}
    params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    if "group_betas" in params:
        per_group_betas(params.pop("group_betas"))
    X, y = load_mnist(mnist_path(), n_samples=args.n_samples)
    start = time.process_time()
    dgd = GMMRepresentation(10, **params).fit(X)
    Z = dgd.embedding_
    refit = GaussianMixture(10, covariance_type="full", means_init=dgd.means_,
                            random_state=args.seed).fit(Z)
    own = scores(y, dgd.labels_)
    line = json.dumps({"seed": args.seed, "extra": args.params, "own_ari": round(own["ari"], 4),
                       "own_acc": round(own["acc"], 4),
                       "refit_ari": round(adjusted_rand_score(y, refit.predict(Z)), 4),
                       "loss": round(dgd.loss_curve_[-1], 4),
                       "cpu": round(time.process_time() - start)})
    print(line, flush=True)
    if args.out:
        with open(args.out, "a") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
