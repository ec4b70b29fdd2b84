"""Deep Boltzmann machine on binary MNIST: PyDeep's tutorial model next to a same-budget DBN.

PyDeep's DBM tutorial (784-100-100, centered, mean-field positive phase with 3 sweeps,
PCD-1, learning rate 0.01, batch 20, 10 epochs, weights N(0, 0.01^2)) reports no
likelihood; here the DBM's test log-likelihood lower bound (mean-field q with 50 sweeps,
log Z by AIS) is printed next to the same-budget DBN's: two centered RBMs 784-100 and
100-100, each trained by PCD-1 with the same rate, batch size and epochs; its bound
``E_q[log p(x | h1) + log p*_top(h1)] + H(q) - log Z_top`` uses the bottom RBM's
factorial posterior q(h1 | x), estimated with ``--mc`` samples of h1 per image, and the
top RBM's AIS log Z (Salakhutdinov & Murray 2008). A 784-100 RBM trained the same way
gives the true log-likelihood (AIS log Z) of the first layer alone. Binary MNIST is PyDeep's
(X / 255 > 0.5; train = first 60,000, test = last 10,000) from ``$SKDEEPCLUST_MNIST``
(default ../shared/data/mnist.npz).

    python benchmarks/bench_dbm.py --out benchmarks/results/dbm_mnist.json
    python benchmarks/bench_dbm.py --quick --out benchmarks/results/dbm_mnist_quick.json
    python benchmarks/bench_dbm.py --normal --pretrain 10   # + a normal DBM, pretrained

``--quick``: 2 epochs and 2,000 AIS temperatures instead of 10 and 10,000.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Timer, mnist_path, print_table, save_json

from skdeepclust.datasets import load_mnist
from skdeepclust.neural_network import DBM, DBN, RBM


@torch.no_grad()
def dbn_lower_bound(dbn, X, log_z_top, n_mc, seed):
    """Monte-Carlo estimate of the two-layer DBN's variational bound per image."""
    bottom = copy.deepcopy(dbn.rbms_[0].module_).double()
    top = copy.deepcopy(dbn.rbms_[1].module_).double()
    g = torch.Generator().manual_seed(seed)
    out = []
    for start in range(0, X.shape[0], 1000):
        v = torch.as_tensor(X[start:start + 1000], dtype=torch.float64)
        q = bottom.prob_h(v)
        ent = -(torch.special.xlogy(q, q) + torch.special.xlogy(1 - q, 1 - q)).sum(1)
        terms = torch.zeros_like(ent)
        for _ in range(n_mc):
            h = (torch.rand(q.shape, generator=g, dtype=q.dtype) < q).double()
            logits = bottom.visible_activation(h)
            log_px = -torch.nn.functional.binary_cross_entropy_with_logits(
                logits, v, reduction="none").sum(1)
            terms += log_px + top.log_unnormalized_visible(h)
        out.append(terms / n_mc + ent - log_z_top)
    return torch.cat(out).numpy()


def baselines(args, X_tr, X_te, epochs, n_betas):
    """The same-budget DBN (Monte-Carlo bound) and 784-100 RBM (true LL) rows."""
    rows = []
    dbn = DBN(hidden_layer_sizes=(100, 100), method="pcd", k=1, centered=True,
              learning_rate=0.01, batch_size=20, max_epochs=epochs, device="cpu",
              random_state=args.seed)
    with Timer() as t_fit:
        dbn.fit(X_tr)
    top = dbn.rbms_[1]
    with Timer() as t_ais:
        top.log_partition("ais", n_chains=args.chains, n_betas=n_betas, random_state=args.seed)
    lo, hi = top.log_partition_bounds_
    with Timer() as t_score:
        test = float(np.mean(dbn_lower_bound(dbn, X_te, top.log_partition_, args.mc, args.seed)))
        train = float(np.mean(dbn_lower_bound(dbn, X_tr[:10000], top.log_partition_, args.mc,
                                              args.seed)))
    rows.append({"model": "DBN same budget", "log_z": top.log_partition_, "log_z_lower": lo,
                 "log_z_upper": hi, "bound_test": test, "bound_train_10k": train,
                 "fit_cpu_s": t_fit.cpu_seconds, "ais_cpu_s": t_ais.cpu_seconds,
                 "score_cpu_s": t_score.cpu_seconds})
    rbm = RBM(100, method="pcd", k=1, centered=True, learning_rate=0.01, batch_size=20,
              max_epochs=epochs, device="cpu", random_state=args.seed)
    with Timer() as t_fit:
        rbm.fit(X_tr)
    with Timer() as t_ais:
        rbm.log_partition("ais", n_chains=args.chains, n_betas=n_betas, random_state=args.seed)
    lo, hi = rbm.log_partition_bounds_
    with Timer() as t_score:
        test, train = rbm.score(X_te), rbm.score(X_tr[:10000])
    rows.append({"model": "RBM 784-100 (true LL)", "log_z": rbm.log_partition_,
                 "log_z_lower": lo, "log_z_upper": hi, "bound_test": test,
                 "bound_train_10k": train, "fit_cpu_s": t_fit.cpu_seconds,
                 "ais_cpu_s": t_ais.cpu_seconds, "score_cpu_s": t_score.cpu_seconds})
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--betas", type=int, default=None, help="AIS temperatures")
    p.add_argument("--chains", type=int, default=100, help="AIS chains")
    p.add_argument("--mc", type=int, default=10, help="samples of h1 per image (DBN bound)")
    p.add_argument("--normal", action="store_true", help="also a normal (uncentered) DBM")
    p.add_argument("--pretrain", type=int, default=0,
                   help="also a DBM with this many pretraining epochs per layer")
    p.add_argument("--no-centered", action="store_true",
                   help="skip the centered DBM (e.g. to rerun other rows with more --betas)")
    p.add_argument("--no-baselines", action="store_true", help="skip the DBN and the RBM")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    epochs = args.epochs or (2 if args.quick else 10)
    n_betas = args.betas or (2000 if args.quick else 10000)
    X_tr, _ = load_mnist(mnist_path(), subset="train", binarize=True)
    X_te, _ = load_mnist(mnist_path(), subset="test", binarize=True)
    recipe = {"n_components": (100, 100), "n_mean_field": 3, "k": 1, "learning_rate": 0.01,
              "batch_size": 20, "max_epochs": epochs, "init_weights": 0.01, "device": "cpu",
              "random_state": args.seed}
    variants = [] if args.no_centered else [("DBM centered (PyDeep)", {"centered": True})]
    if args.normal:
        variants.append(("DBM normal", {"centered": False}))
    if args.pretrain:
        variants.append((f"DBM centered, pretrained {args.pretrain} ep",
                         {"centered": True, "pretrain_epochs": args.pretrain}))
    rows = []
    for name, extra in variants:
        dbm = DBM(**recipe, **extra)
        with Timer() as t_fit:
            dbm.fit(X_tr)
        with Timer() as t_ais:
            dbm.log_partition("ais", n_chains=args.chains, n_betas=n_betas,
                              random_state=args.seed)
        lo, hi = dbm.log_partition_bounds_
        with Timer() as t_score:
            test, train = dbm.score(X_te), dbm.score(X_tr[:10000])
        rows.append({"model": name, "log_z": dbm.log_partition_, "log_z_lower": lo,
                     "log_z_upper": hi, "bound_test": test, "bound_train_10k": train,
                     "fit_cpu_s": t_fit.cpu_seconds, "ais_cpu_s": t_ais.cpu_seconds,
                     "score_cpu_s": t_score.cpu_seconds})
        print(rows[-1], flush=True)
    if not args.no_baselines:
        rows += baselines(args, X_tr, X_te, epochs, n_betas)
        ref = rows[-2]["bound_test"]
        for r in rows:
            r["test_minus_dbn"] = r["bound_test"] - ref
    print(f"\nBinary MNIST, {epochs} epochs, batch 20, lr 0.01, AIS {args.chains} chains x "
          f"{n_betas} temperatures, {args.threads} thread(s); log-likelihood lower bounds "
          "in nats")
    print_table(rows, ["model", "bound_test", "bound_train_10k", "test_minus_dbn", "log_z",
                       "log_z_lower", "log_z_upper", "fit_cpu_s", "ais_cpu_s"])
    save_json(args.out, {"benchmark": "dbm_mnist", "epochs": epochs, "n_betas": n_betas,
                         "n_chains": args.chains, "mc_samples": args.mc, "seed": args.seed,
                         "recipe": {k: v for k, v in recipe.items() if k != "device"},
                         "rows": rows})


if __name__ == "__main__":
    main()
