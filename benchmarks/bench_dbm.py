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

``--recipe salakhutdinov``: the 784-500-1000 DBM of Salakhutdinov & Hinton (2009), whose
test lower bound is -84.62 nats, with the schedule of the paper and of the MATLAB code
released with it (``dbm_mf.m``, ``mf.m``, the pretraining RBMs):

* pretraining: two doubled-weight RBMs (784-500 with doubled visible input, 500-1000 with
  doubled top-down input), CD-1, batch 100, rate 0.05, momentum 0.9, weight decay 0.001,
  ``--pretrain-epochs`` per layer (their code: about 100 and 200, the top RBM with CD-k
  growing over the epochs);
* joint training of the normal (uncentered) DBM: batch 100, 100 persistent chains, 5
  Gibbs sweeps per update, mean-field positive phase (10 sweeps from 0.5 here; ``mf.m``
  starts from a bottom-up pass and runs up to 50 sweeps to a tolerance), rate 0.001
  divided by 1.000015 every update down to 0.0001 (``exp(-0.009 e)`` after e epochs; here
  the inverse-time ``1 / (1 + 0.02 e)``: 0.33 at 100 epochs, 0.14 at 300; the paper: "0.005,
  gradually decreased to 0"), momentum 0.5 for 5 epochs then 0.9, weight decay 0.0002,
  ``--epochs`` 300 (500 for the paper's figures, by some accounts);
* evaluation: log Z by AIS with 100 runs and 20,000 temperatures, test bound with the
  mean-field posterior (50 sweeps);
* data: MNIST stochastically binarised once (each pixel on with probability its intensity,
  one fixed draw; their training code draws a new binarisation for every minibatch), the
  binarisation of the paper's likelihoods. ``--binarize threshold`` gives PyDeep's
  X / 255 > 0.5 (the data of the RBM and PyDeep rows of benchmarks/README.md), on which
  likelihoods are several nats higher: not comparable with -84.62.

``--time-budget S`` stops the joint training early so that the whole run (data, pretraining,
training, AIS and the test bound) ends within about S seconds of wall time: the AIS and
test-bound costs are measured on the pretrained model first, the AIS temperatures reduced
(not below 2,000) if 20,000 do not fit, and epochs run while the next one fits.
``--checkpoint PATH`` pickles the estimator with its persistent chains and momentum after
pretraining and every ``--checkpoint-every`` epochs; a later run with the same PATH
continues from it (pretraining is not repeated; ``--epochs`` counts all runs' epochs).

On a lent GPU (one call of at most 10 minutes): copy the data into the checkout first
(``mkdir -p .gpu && cp ../shared/data/mnist.npz .gpu/ && echo /.gpu/ >> .git/info/exclude``),
carry ``.gpu``, and run a smoke test, then the budgeted run::

    export PYTHONUNBUFFERED=1 SKDEEPCLUST_MNIST=.gpu/mnist.npz PYTHONPATH=.
    python3 benchmarks/bench_dbm.py --recipe salakhutdinov --device cuda --n-train 2000 \
        --n-test 500 --pretrain-epochs 1 --epochs 2 --betas 500 &&
    python3 benchmarks/bench_dbm.py --recipe salakhutdinov --device cuda --time-budget 480 \
        --checkpoint $OUT/dbm_salakhutdinov.pkl --out $OUT/dbm_salakhutdinov_gpu.json
"""

from __future__ import annotations

import argparse
import copy
import math
import pickle
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

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


#: Salakhutdinov & Hinton's (2009) MNIST DBM and its schedule (see the module docstring).
SALAKHUTDINOV = {
    "n_components": (500, 1000), "centered": False, "batch_size": 100, "n_chains": 100,
    "k": 5, "n_mean_field": 10, "learning_rate": 0.001, "learning_rate_decay": 0.02,
    "l2": 2e-4, "init_weights": 0.01,
    "pretrain_params": {"learning_rate": 0.05, "momentum": 0.9, "l2": 1e-3, "k": 1},
}
#: Momentum of the joint training: 0.5 for the first epochs, then 0.9.
SALAKHUTDINOV_MOMENTUM = (5, 0.5, 0.9)
#: Their test lower bound (nats), 784-500-1000 DBM, AIS with 20,000 temperatures.
PAPER_BOUND = -84.62


def binarized_mnist(how, seed):
    """Train (60,000) and test (10,000) MNIST as 0/1: PyDeep's threshold, or one fixed
    stochastic draw (pixel on with probability its intensity)."""
    if how == "threshold":
        X_tr, _ = load_mnist(mnist_path(), subset="train", binarize=True)
        X_te, _ = load_mnist(mnist_path(), subset="test", binarize=True)
        return X_tr, X_te
    rng = np.random.RandomState(seed)
    out = []
    for subset in ("train", "test"):
        X, _ = load_mnist(mnist_path(), subset=subset)
        out.append((rng.random_sample(X.shape) < X).astype(np.float32))
    return out


def _save_checkpoint(path, dbm, state):
    """Pickle the estimator with its persistent chains and momentum (which the estimator's
    own pickle leaves out): what a later run needs to continue the joint training."""
    upd = getattr(dbm, "_updater", None)
    cpu = (lambda ts: None if ts is None else [t.detach().cpu() for t in ts])
    blob = {"estimator": dbm, "state": state,
            "chains": cpu(upd.chains) if upd else None,
            "velocity": cpu(upd.velocity) if upd else None}
    tmp = Path(str(path) + ".tmp")
    tmp.write_bytes(pickle.dumps(blob))
    tmp.replace(path)


def _load_checkpoint(path):
    blob = pickle.loads(Path(path).read_bytes())
    dbm = blob["estimator"]
    if blob["chains"] is not None:  # the next warm fit carries these over (private API)
        dev = dbm.module_.weights[0].device
        dbm._updater = dbm._make_updater()
        dbm._updater.chains = [t.to(dev) for t in blob["chains"]]
        dbm._updater.velocity = (None if blob["velocity"] is None
                                 else [t.to(dev) for t in blob["velocity"]])
    return dbm, blob["state"]


def _sync(device):
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def run_salakhutdinov(args):
    """Pretrain, train jointly within the time budget, then AIS and the test bound."""
    t0 = time.perf_counter()
    budget = args.time_budget or math.inf
    def elapsed():
        return time.perf_counter() - t0

    X_tr, X_te = binarized_mnist(args.binarize, args.seed)
    if args.n_train:
        X_tr = X_tr[:args.n_train]
    n_test = args.n_test or X_te.shape[0]
    X_te = X_te[:n_test]
    params = dict(SALAKHUTDINOV)
    for name, value in (("learning_rate", args.lr), ("learning_rate_decay", args.lr_decay),
                        ("n_mean_field", args.mean_field), ("k", args.k)):
        if value is not None:
            params[name] = value
    if args.centered:
        params["centered"] = True
    pre = args.pretrain_epochs
    ckpt = Path(args.checkpoint) if args.checkpoint else None
    state = {"joint_epochs": 0, "epoch_seconds": [], "epoch_cpu_seconds": [],
             "pretrain_seconds": None, "pretrain_cpu_seconds": None}
    if ckpt is not None and ckpt.is_file():
        dbm, state = _load_checkpoint(ckpt)
        print(f"[{elapsed():.0f}s] continuing {ckpt} after {state['joint_epochs']} joint "
              "epochs", flush=True)
    else:
        dbm = DBM(**params, pretrain_epochs=pre, max_epochs=0, warm_start=True,
                  device=args.device, random_state=args.seed, verbose=args.verbose)
        with Timer() as t:
            dbm.fit(X_tr)
            _sync(dbm._device)
        state["pretrain_seconds"], state["pretrain_cpu_seconds"] = t.seconds, t.cpu_seconds
        print(f"[{elapsed():.0f}s] pretraining {pre} epochs per layer: {t.seconds:.1f} s "
              f"({t.cpu_seconds:.1f} CPU s); reconstruction errors "
              f"{dbm.pretrain_loss_curve_[pre - 1]:.4f} / {dbm.pretrain_loss_curve_[-1]:.4f}"
              if pre else f"[{elapsed():.0f}s] no pretraining", flush=True)
        if ckpt is not None:
            _save_checkpoint(ckpt, dbm, state)

    # what the evaluation will cost, measured on this model
    probe_betas = 200
    with Timer() as t_ais, warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a timing probe: too few betas
        dbm.log_partition("ais", n_chains=args.chains, n_betas=probe_betas, random_state=0)
        _sync(dbm._device)
    per_beta = t_ais.seconds / probe_betas
    probe_rows = min(1000, n_test)
    with Timer() as t_lb:
        dbm.score_samples(X_te[:probe_rows])
    per_row = t_lb.seconds / probe_rows
    eval_rows = n_test + args.eval_train
    n_betas = args.betas
    margin = 20.0 + 0.05 * min(budget, 3600)
    if math.isfinite(budget):
        room = budget - elapsed() - margin - per_row * eval_rows
        n_betas = int(max(min(2000, args.betas), min(args.betas, 0.5 * room / per_beta)))
    # a second AIS run with ais_retry times the temperatures when the first does not
    # bracket log Z: kept in the reserve when it is cheap (a GPU), else run if time is left
    retry = per_beta * n_betas * args.ais_retry
    cheap = args.ais_retry > 1 and retry <= 0.2 * budget
    reserve = per_beta * n_betas + (retry if cheap else 0.0) + per_row * eval_rows + margin
    print(f"[{elapsed():.0f}s] AIS {per_beta * 1e3:.2f} ms per temperature, bound "
          f"{per_row * 1e3:.3f} ms per image: {n_betas} temperatures, "
          f"{reserve:.0f} s kept for the evaluation", flush=True)

    # joint training, one epoch per warm fit
    n_start = state["joint_epochs"]
    stop = "epochs"
    save_every = max(1, args.checkpoint_every)
    while state["joint_epochs"] < args.epochs:
        times = state["epoch_seconds"][-3:]
        guess = max(times) if times else 0.0
        if elapsed() + guess + reserve > budget:
            stop = "time budget"
            break
        e = state["joint_epochs"]
        warm, m0, m1 = SALAKHUTDINOV_MOMENTUM
        dbm.set_params(max_epochs=1, momentum=m0 if e < warm else m1)
        with Timer() as t:
            dbm.fit(X_tr)
            _sync(dbm._device)
        state["joint_epochs"] += 1
        state["epoch_seconds"].append(t.seconds)
        state["epoch_cpu_seconds"].append(t.cpu_seconds)
        print(f"[{elapsed():.0f}s] joint epoch {e + 1}: {t.seconds:.2f} s "
              f"({t.cpu_seconds:.1f} CPU s), reconstruction error {dbm.loss_curve_[-1]:.4f}, "
              f"rate {dbm._updater.learning_rate:.2e}", flush=True)
        if ckpt is not None and (state["joint_epochs"] - n_start) % save_every == 0:
            _save_checkpoint(ckpt, dbm, state)
    if ckpt is not None:
        _save_checkpoint(ckpt, dbm, state)

    ais_runs = []
    while True:
        with Timer() as t_ais, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            dbm.log_partition("ais", n_chains=args.chains, n_betas=n_betas,
                              random_state=args.seed)
            _sync(dbm._device)
        lo, hi = dbm.log_partition_bounds_
        ais_runs.append({"n_betas": n_betas, "log_z": dbm.log_partition_, "log_z_lower": lo,
                         "log_z_upper": hi, "seconds": t_ais.seconds,
                         "cpu_seconds": t_ais.cpu_seconds})
        print(f"[{elapsed():.0f}s] AIS {n_betas} temperatures: log Z {dbm.log_partition_:.2f} "
              f"[{lo:.2f}, {hi:.2f}], {t_ais.seconds:.1f} s", flush=True)
        for w in caught:
            print(f"    {w.message}", flush=True)
        more = n_betas * args.ais_retry
        if (np.isfinite(lo) or len(ais_runs) > 1 or args.ais_retry <= 1
                or elapsed() + per_beta * more + per_row * eval_rows + 10 > budget):
            break
        n_betas = more
    with Timer() as t_score:
        test = float(dbm.score(X_te))
        train = float(dbm.score(X_tr[:args.eval_train])) if args.eval_train else None
    device = str(dbm._device)
    name = torch.cuda.get_device_name(dbm._device) if device.startswith("cuda") else "cpu"
    row = {"model": "DBM 784-500-1000 (Salakhutdinov & Hinton recipe)",
           "bound_test": test, "bound_train": train, "paper_bound_test": PAPER_BOUND,
           "test_minus_paper": test - PAPER_BOUND, "log_z": dbm.log_partition_,
           "log_z_lower": lo, "log_z_upper": hi, "n_betas": n_betas, "ais_runs": ais_runs,
           "ais_bracketed": bool(np.isfinite(lo)),
           "joint_epochs": state["joint_epochs"], "stopped_by": stop,
           "pretrain_seconds": state["pretrain_seconds"],
           "pretrain_cpu_seconds": state["pretrain_cpu_seconds"],
           "joint_seconds": float(sum(state["epoch_seconds"])),
           "joint_cpu_seconds": float(sum(state["epoch_cpu_seconds"])),
           "seconds_per_joint_epoch": (float(np.median(state["epoch_seconds"]))
                                       if state["epoch_seconds"] else None),
           "ais_seconds": sum(r["seconds"] for r in ais_runs),
           "ais_cpu_seconds": sum(r["cpu_seconds"] for r in ais_runs),
           "score_seconds": t_score.seconds, "total_seconds": elapsed(),
           "device": device, "device_name": name}
    print(f"\n784-500-1000 DBM, {state['joint_epochs']} joint epochs ({stop}), "
          f"{pre} pretraining epochs per layer, {args.binarize} binarisation, AIS "
          f"{args.chains} x {n_betas}, {name}; lower bounds in nats")
    print_table([row], ["bound_test", "bound_train", "paper_bound_test", "test_minus_paper",
                        "log_z", "log_z_lower", "log_z_upper", "seconds_per_joint_epoch",
                        "total_seconds"])
    recipe = {k: v for k, v in dbm.get_params().items()
              if k not in ("device", "verbose", "warm_start", "max_epochs", "momentum")}
    save_json(args.out, {"benchmark": "dbm_mnist_salakhutdinov", "binarize": args.binarize,
                         "pretrain_epochs": pre, "epochs_asked": args.epochs,
                         "time_budget": args.time_budget, "n_chains": args.chains,
                         "seed": args.seed, "n_train": int(X_tr.shape[0]), "n_test": n_test,
                         "momentum_schedule": SALAKHUTDINOV_MOMENTUM, "recipe": recipe,
                         "epoch_seconds": state["epoch_seconds"],
                         "loss_curve": list(dbm.loss_curve_), "rows": [row]})
    return row


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
    g = p.add_argument_group("--recipe salakhutdinov")
    g.add_argument("--recipe", choices=("pydeep", "salakhutdinov"), default="pydeep")
    g.add_argument("--device", default="cpu")
    g.add_argument("--pretrain-epochs", type=int, default=100,
                   help="pretraining epochs per layer")
    g.add_argument("--time-budget", type=float, default=None,
                   help="seconds for the whole run; the joint training stops early")
    g.add_argument("--checkpoint", default=None,
                   help="pickle to continue from (if it exists) and to save to")
    g.add_argument("--checkpoint-every", type=int, default=10, help="epochs")
    g.add_argument("--binarize", choices=("stochastic", "threshold"), default="stochastic")
    g.add_argument("--n-train", type=int, default=None)
    g.add_argument("--n-test", type=int, default=None)
    g.add_argument("--eval-train", type=int, default=0,
                   help="training rows whose bound is also reported")
    g.add_argument("--lr", type=float, default=None)
    g.add_argument("--lr-decay", type=float, default=None)
    g.add_argument("--mean-field", type=int, default=None)
    g.add_argument("--k", type=int, default=None)
    g.add_argument("--centered", action="store_true")
    g.add_argument("--ais-retry", type=int, default=4,
                   help="when AIS does not bracket log Z, run it again with this many times "
                        "the temperatures if the time budget allows (1: never)")
    g.add_argument("--verbose", type=int, default=0)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.recipe == "salakhutdinov":
        if args.epochs is None:
            args.epochs = 300
        if args.betas is None:
            args.betas = 20000
        return run_salakhutdinov(args)
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
