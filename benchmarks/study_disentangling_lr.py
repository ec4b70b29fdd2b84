"""DisentanglingFlow's learning rate against the number of features (issues 18 and 20).

Why a fixed Adam rate of 0.01 diverges at 784 features, and what the "auto" rate gives.
Parts (one JSON line per measurement, appended to ``--out``):

- ``lr``: held-out log-likelihood (excess over a diagonal Gaussian fitted on the training
  rows, nats per sample, larger is better) of ``DisentanglingFlow`` at its defaults except
  ``learning_rate``, trained on digits / 16 (1 797 x 64: 1 200 training rows, the rest
  held out), MNIST pooled 2 x 2 (196 features) and MNIST (784 features; training rows the
  first ``--rows`` of the training split, held out the first 2 000 of the test split),
  with the digit as the one factor. Pixels are dequantised (uniform noise within each
  intensity bin). ``--lr auto`` is the estimator's default; also recorded: the first
  epoch's mean loss (a divergence shows there first), the final loss, any RuntimeWarning
  of the density check, CPU seconds of the fit.
- ``first-step``: the largest ``|z|`` of a training minibatch's code before and after each
  of the first Adam steps, and how far one step moves the coupling networks' outputs, at
  several rates and widths: the measurement behind the "auto" rule.
- ``factors``: R^2 of each known factor from its own code block and from every other
  factor's block (least squares with an intercept, on held-out rows) for
  ``DisentanglingFlow()`` at its defaults on the synthetic factor sets the package ships:
  ``make_arc`` (1 factor, 2-D) and ``make_factor_levels`` (2 factors of 4 and 5 levels
  plus 2 nuisance dimensions; and 3 factors of 3, 4 and 6 levels plus 3 nuisance
  dimensions).

Run from the repository root::

    OMP_NUM_THREADS=1 python benchmarks/study_disentangling_lr.py lr --data digits mnist14 \\
        --lr 0.01 0.003 0.001 auto --seeds 0 --out benchmarks/results/study_disentangling_lr.jsonl
    OMP_NUM_THREADS=1 python benchmarks/study_disentangling_lr.py first-step \\
        --out benchmarks/results/study_disentangling_lr.jsonl
    OMP_NUM_THREADS=1 python benchmarks/study_disentangling_lr.py factors --seeds 0 1 2 3 4 \\
        --out benchmarks/results/study_disentangling_factors.jsonl

``--actnorm-lr shared`` trains the ActNorm layers at the couplings' rate, as
DisentanglingFlow did before they got an optimizer group of their own at the fan-in-1
rate (0.01); the ActNorm rate before and after, in one environment::

    for v in shared own; do OMP_NUM_THREADS=1 python benchmarks/study_disentangling_lr.py \\
        lr --data digits --seeds 0 1 2 3 4 --actnorm-lr $v \\
        --out benchmarks/results/study_disentangling_actnorm_lr.jsonl; done
    for v in shared own; do OMP_NUM_THREADS=1 python benchmarks/study_disentangling_lr.py \\
        lr --data mnist14 --seeds 0 1 2 --actnorm-lr $v \\
        --out benchmarks/results/study_disentangling_actnorm_lr.jsonl; done
    for v in own shared; do OMP_NUM_THREADS=1 python benchmarks/study_disentangling_lr.py \\
        factors --seeds 0 1 2 3 4 --actnorm-lr $v \\
        --out benchmarks/results/study_disentangling_factors_actnorm_lr.jsonl; done
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
from _common import mnist_path


def _gaussian(X_tr):
    mean, var = X_tr.mean(0), X_tr.var(0) + 1e-3

    def score(X):
        return float(np.mean(-0.5 * (np.log(2 * np.pi * var) + (X - mean) ** 2 / var).sum(1)))

    return score


def load(name: str, seed: int, rows: int):
    """(X_train, y_train, X_test) of a data set, dequantised with the seed's noise."""
    rng = np.random.RandomState(seed)
    if name == "digits":
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        X = (X / 16 + rng.uniform(0, 1 / 16, X.shape)).astype(np.float32)
        order = rng.permutation(len(X))
        return X[order[:1200]], y[order[:1200]].astype(float), X[order[1200:]]
    with np.load(mnist_path()) as f:
        X_all, y_all = f["X"], f["y"]
    X = np.concatenate([X_all[:rows], X_all[60000:62000]]).reshape(-1, 784)
    X = (X / 255 + rng.uniform(0, 1 / 256, X.shape)).astype(np.float32)
    if name == "mnist14":
        X = X.reshape(-1, 14, 2, 14, 2).mean((2, 4)).reshape(len(X), -1)
    return X[:rows], y_all[:rows].astype(float), X[rows:]


def _print(row, out):
    line = json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})
    print(line, flush=True)
    if out:
        with open(out, "a") as fh:
            fh.write(line + "\n")


def _actnorm_rate(args) -> None:
    """``--actnorm-lr shared``: train every parameter at the couplings' rate, in one
    optimizer group (DisentanglingFlow before its ActNorm group at the fan-in-1 rate)."""
    if args.actnorm_lr == "shared":
        from skdeepclust.flow import DisentanglingFlow
        from skdeepclust.flow._base import _BaseFlow

        DisentanglingFlow._make_optimizer = _BaseFlow._make_optimizer


def part_lr(args):
    import torch

    from skdeepclust.flow import DisentanglingFlow

    for name in args.data:
        for seed in args.seeds:
            X, y, X_te = load(name, seed, args.rows)
            gauss = _gaussian(X)
            for lr in args.lr:
                params = {} if lr == "auto" else {"learning_rate": float(lr)}
                if args.epochs:
                    params["max_epochs"] = args.epochs
                flow = DisentanglingFlow(random_state=seed, device="cpu", **params)
                row = {"part": "lr", "data": name, "n_features": X.shape[1],
                       "rows": X.shape[0], "seed": seed, "lr": lr,
                       "max_epochs": args.epochs or 20, "threads": torch.get_num_threads(),
                       "actnorm_lr": args.actnorm_lr}
                start = time.process_time()
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    try:
                        flow.fit(X, y)
                        row.update(resolved_lr=flow._learning_rate,
                                   train_excess=flow.score(X) - gauss(X),
                                   test_excess=flow.score(X_te) - gauss(X_te),
                                   first_epoch_loss=flow.loss_curve_[0],
                                   final_loss=flow.loss_curve_[-1])
                    except Exception as exc:  # noqa: BLE001 (a divergence is a result here)
                        row.update(error=f"{type(exc).__name__}: {str(exc)[:120]}")
                row["fit_cpu_s"] = time.process_time() - start
                row["warning"] = next((str(w.message)[:100] for w in caught
                                       if issubclass(w.category, RuntimeWarning)), None)
                _print(row, args.out)


def part_first_step(args):
    """|z| and the coupling networks' output shift over the first Adam steps."""
    import torch

    from skdeepclust.flow import DisentanglingFlow
    from skdeepclust.nn.flows import make_factor_pairs

    for name in args.data:
        X, y, _ = load(name, 0, args.rows)
        for lr in args.lr:
            params = {} if lr == "auto" else {"learning_rate": float(lr)}
            flow = DisentanglingFlow(random_state=0, device="cpu", max_epochs=0, **params)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                flow.fit(X, y)  # builds the flow and its ActNorm data init, no step
            opt = flow._optimizer
            module = flow.module_
            couplings = [m for m in module.modules() if hasattr(m, "conditioner")]
            g = torch.Generator().manual_seed(0)
            Xt, Yt = torch.as_tensor(X), torch.as_tensor(y).reshape(-1, 1)
            a, b, sim = make_factor_pairs(Yt, 64, 0.9, generator=g)
            probe = Xt[a]

            def shifts(module=module, couplings=couplings, probe=probe):
                outs = []
                hooks = [c.conditioner.register_forward_hook(
                    lambda m, i, o: outs.append(o.detach().clone())) for c in couplings]
                with torch.no_grad():
                    z, _ = module(probe)
                for h in hooks:
                    h.remove()
                return z, outs

            z0, out0 = shifts()
            zmax = [float(z0.abs().max())]
            shift_moves = []
            module.train()
            for _ in range(args.steps):
                a, b, sim = make_factor_pairs(Yt, 64, 0.9, generator=g)
                opt.zero_grad()
                loss = flow._pair_loss(Xt[a], Xt[b], sim)
                loss.backward()
                opt.step()
                z1, out1 = shifts()
                zmax.append(float(z1.abs().max()))
                shift_moves.append(max(float((o1 - o0).abs().mean()) for o0, o1 in
                                       zip(out0, out1)))
                out0 = out1
            _print({"part": "first-step", "data": name, "n_features": X.shape[1], "lr": lr,
                    "resolved_lr": flow._learning_rate,
                    "hidden": list(flow._hidden_layer_sizes or []),
                    "zmax_per_step": [round(v, 2) for v in zmax],
                    "mean_abs_shift_move_per_step": [round(v, 3) for v in shift_moves]},
                   args.out)


def _r2(block, f):
    A = np.column_stack([block, np.ones(len(block))])
    coef = np.linalg.lstsq(A, f, rcond=None)[0]
    return float(1 - np.var(f - A @ coef) / np.var(f))


def factor_sets(seed):
    """(label, X_train, F_train, X_test, F_test) of the shipped synthetic factor sets."""
    from skdeepclust.datasets import make_arc, make_factor_levels

    X, s = make_arc(4096, random_state=1000 + seed)
    X_te, s_te = make_arc(2000, random_state=2000 + seed)
    yield "make_arc", X, s[:, None], X_te, s_te[:, None]
    # make_factor_levels draws its mixing after the samples: the held-out rows are the
    # last ones of the same draw (the same mixing)
    X, F = make_factor_levels(5000, random_state=seed)
    yield "make_factor_levels (4, 5) + 2 nuisance", X[:3000], F[:3000], X[3000:], F[3000:]
    X, F = make_factor_levels(5000, n_levels=(3, 4, 6), n_nuisance=3, random_state=seed)
    yield "make_factor_levels (3, 4, 6) + 3 nuisance", X[:3000], F[:3000], X[3000:], F[3000:]


def part_factors(args):
    from skdeepclust.flow import DisentanglingFlow

    for seed in args.seeds:
        for label, X, F, X_te, F_te in factor_sets(seed):
            params = {} if args.lr == ["auto"] else {"learning_rate": float(args.lr[0])}
            start = time.process_time()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                flow = DisentanglingFlow(random_state=seed, device="cpu", **params).fit(X, F)
            cpu = time.process_time() - start
            residual, *blocks = flow.transform_factors(X_te)
            k = F.shape[1]
            table = [[_r2(blocks[i], F_te[:, j]) for j in range(k)] for i in range(k)]
            own = [table[i][i] for i in range(k)]
            other = [table[i][j] for i in range(k) for j in range(k) if i != j]
            _print({"part": "factors", "data": label, "seed": seed, "lr": args.lr[0],
                    "actnorm_lr": args.actnorm_lr,
                    "resolved_lr": flow._learning_rate,
                    "dimensions_per_factor": flow.dimensions_per_factor_.tolist(),
                    "r2_block_by_factor": table, "own_min": min(own),
                    "residual_r2_max": (max(_r2(residual, F_te[:, j]) for j in range(k))
                                        if residual.shape[1] else None),
                    "other_max": max(other) if other else None,
                    "fit_cpu_s": cpu,
                    "warning": next((str(w.message)[:100] for w in caught
                                     if issubclass(w.category, RuntimeWarning)), None)},
                   args.out)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=["lr", "first-step", "factors"])
    parser.add_argument("--data", nargs="+", default=["digits", "mnist14", "mnist"],
                        choices=["digits", "mnist14", "mnist"])
    parser.add_argument("--lr", nargs="+", default=["auto"],
                        help='learning rates (floats or "auto")')
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--rows", type=int, default=10000, help="MNIST training rows")
    parser.add_argument("--epochs", type=int, default=None, help="max_epochs (default: 20)")
    parser.add_argument("--steps", type=int, default=5, help="first-step: Adam steps")
    parser.add_argument("--actnorm-lr", choices=["own", "shared"], default="own",
                        help="shared: ActNorm at the couplings' rate (the former optimizer)")
    parser.add_argument("--out", default=None, help="JSONL file to append to")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    _actnorm_rate(args)
    {"lr": part_lr, "first-step": part_first_step, "factors": part_factors}[args.part](args)


if __name__ == "__main__":
    main()
