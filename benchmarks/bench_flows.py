"""NormalizingFlow vs GaussianMixture, KernelDensity and zuko; DisentanglingFlow factors.

Density part: held-out mean log-likelihood (nats per sample, higher is better) on
two moons, scikit-learn's digits and MNIST projected on its first principal components,
for

- ``GaussianMixture`` and ``KernelDensity`` tuned by a 3-fold ``GridSearchCV`` on the
  training rows (the search time is reported too),
- skdeepclust ``NormalizingFlow`` (affine couplings, ActNorm, reflections),
- zuko's ``RealNVP`` (affine) and ``NICE`` (additive) at equal size: as many coupling
  layers (``2 * n_stages``) with the same hidden widths, trained by the same recipe (Adam,
  same learning rate, batch size, early stopping on a 10% validation split with the same
  patience, best epoch kept), in the same process, float32.

The digits (integers 0..16) and MNIST pixels are dequantized with uniform noise inside
each intensity bin before anything sees them, so a continuous density cannot cheat on the
lattice; every model sees the same arrays.

Disentangling part: correlation of each code block with each known factor (own factor
should be >= 0.9, the others <= 0.1) and the inverse error, on the synthetic mixed-factor
data of the tests, on gyoza's arc and on blob images (8x8, factors row, column, width)
seen through a 12-component PCA.

    python benchmarks/bench_flows.py                      # quick (MNIST 10k/2k)
    python benchmarks/bench_flows.py --full --json benchmarks/results/flows.json
    python benchmarks/bench_flows.py --data digits --threads 1
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits, make_moons
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neighbors import KernelDensity
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Timer, mnist_path, print_table, save_json  # noqa: E402

from skdeepclust.datasets import load_mnist, make_arc, make_blob_images  # noqa: E402
from skdeepclust.flow import DisentanglingFlow, NormalizingFlow  # noqa: E402
from skdeepclust.nn.flows import make_factor_pairs  # noqa: E402

# ----------------------------------------------------------------------------- data


def _moons(quick: bool, seed: int):
    X, _ = make_moons(2000, noise=0.05, random_state=seed)
    X_te, _ = make_moons(2000, noise=0.05, random_state=seed + 1000)
    return X.astype(np.float32), X_te.astype(np.float32)


def _digits(quick: bool, seed: int):
    data = load_digits().data
    rng = np.random.RandomState(seed)
    X = ((data + rng.uniform(size=data.shape)) / 17.0).astype(np.float32)
    return tuple(train_test_split(X, test_size=0.2, random_state=seed))


def _mnist_pca(quick: bool, seed: int, n_components: int = 50):
    n_tr, n_te = (10_000, 2_000) if quick else (60_000, 10_000)
    raw, _ = load_mnist(mnist_path(), scale=False, dtype=np.float64)
    rng = np.random.RandomState(seed)
    X = (raw + rng.uniform(size=raw.shape)) / 256.0
    X_tr, X_te = X[:n_tr], X[60_000 : 60_000 + n_te]
    pca = PCA(n_components, whiten=True, random_state=seed).fit(X_tr)
    return pca.transform(X_tr).astype(np.float32), pca.transform(X_te).astype(np.float32)


DATASETS = {"moons": _moons, "digits": _digits, "mnist-pca": _mnist_pca}

#: Flow size per data set: (n_stages, hidden widths, batch size, learning rate, activation
#: of the coupling MLPs), the same for every flow library; plus the image layout of the
#: checkerboard mask (ours only; zuko alternates along the vector).
FLOW_SIZES = {
    "moons": (4, (64, 64), 128, 3e-3, "relu"),
    "digits": (4, (64,), 64, 1e-3, "tanh"),
    "mnist-pca": (4, (256,), 256, 1e-3, "relu"),
}
EVENT_SHAPES = {"digits": (8, 8)}

#: Grids of the scikit-learn baselines (full covariances overfit the 64-D digits beyond a
#: few components; diagonal ones win there).
GMM_GRID = {
    "moons": {"n_components": [4, 8, 16, 32, 64], "covariance_type": ["full"]},
    "digits": [
        {"covariance_type": ["full"], "n_components": [1, 2, 4], "reg_covar": [1e-3, 1e-2]},
        {"covariance_type": ["diag"], "n_components": [16, 24, 32, 48, 64],
         "reg_covar": [1e-4, 1e-3]},
    ],
    "mnist-pca": {"n_components": [1, 5, 10, 20, 40], "covariance_type": ["full", "diag"]},
}
KDE_GRID = {
    "moons": np.logspace(-2, 0, 12),
    "digits": np.logspace(-1.5, -0.5, 11),
    "mnist-pca": np.logspace(-1, 0.5, 10),
}

# ----------------------------------------------------------------------------- peers


def _gmm(X_tr, X_te, grid, seed):
    with Timer() as t:
        search = GridSearchCV(GaussianMixture(max_iter=300, random_state=seed), grid, cv=3)
        search.fit(X_tr)
    best = {k: v for k, v in search.best_params_.items()}
    return {"test LL": search.best_estimator_.score(X_te), "fit s": t.seconds,
            "setting": ", ".join(f"{k}={v}" for k, v in best.items())}


def _kde(X_tr, X_te, bandwidths):
    with Timer() as t:
        search = GridSearchCV(KernelDensity(), {"bandwidth": bandwidths}, cv=3).fit(X_tr)
    bw = search.best_params_["bandwidth"]
    return {"test LL": search.best_estimator_.score(X_te) / len(X_te), "fit s": t.seconds,
            "setting": f"bandwidth={bw:.3g}"}


def _ours(X_tr, X_te, size, epochs, patience, seed, event_shape=None):
    n_stages, hidden, batch, lr, activation = size
    flow = NormalizingFlow(n_stages=n_stages, hidden_layer_sizes=hidden, coupling="affine",
                           activation=activation, event_shape=event_shape,
                           batch_size=batch, learning_rate=lr, max_epochs=epochs,
                           early_stopping=True, n_iter_no_change=patience, device="cpu",
                           random_state=seed)
    with Timer() as t:
        flow.fit(X_tr)
    n_params = sum(p.numel() for p in flow.module_.parameters())
    return {"test LL": flow.score(X_te), "fit s": t.seconds, "epochs": flow.n_iter_,
            "s/epoch": t.seconds / flow.n_iter_, "params": n_params,
            "setting": f"{n_stages} stages, hidden {hidden} {activation}"
                       + (f", checkerboard {event_shape}" if event_shape else "")}


def _zuko(kind, X_tr, X_te, size, epochs, patience, seed):
    import zuko

    n_stages, hidden, batch, lr, activation = size
    torch.manual_seed(seed)
    kwargs = {"transforms": 2 * n_stages, "hidden_features": hidden,
              "activation": {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh}[activation]}
    if kind == "NICE":
        kwargs.update(univariate=zuko.transforms.AdditiveTransform, shapes=((),))
    flow = zuko.flows.NICE(X_tr.shape[1], **kwargs)
    optimizer = torch.optim.Adam(flow.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    X_all = torch.as_tensor(X_tr)
    perm = torch.randperm(len(X_all), generator=gen)
    n_val = int(np.ceil(0.1 * len(X_all)))
    X_val, X_fit = X_all[perm[:n_val]], X_all[perm[n_val:]]
    best, best_state, misses, n_iter = -np.inf, None, 0, 0
    with Timer() as t:
        for _ in range(epochs):
            order = torch.randperm(len(X_fit), generator=gen)
            for start in range(0, len(X_fit), batch):
                loss = -flow().log_prob(X_fit[order[start : start + batch]]).mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            n_iter += 1
            with torch.no_grad():
                score = float(flow().log_prob(X_val).mean())
            misses = 0 if score > best + 1e-4 else misses + 1
            if score > best:
                best = score
                best_state = {k: v.clone() for k, v in flow.state_dict().items()}
            if not np.isfinite(score) or misses >= patience:
                break
    flow.load_state_dict(best_state)
    with torch.no_grad():
        test = float(flow().log_prob(torch.as_tensor(X_te)).mean())
    n_params = sum(p.numel() for p in flow.parameters())
    return {"test LL": test, "fit s": t.seconds, "epochs": n_iter, "s/epoch": t.seconds / n_iter,
            "params": n_params,
            "setting": f"{2 * n_stages} couplings, hidden {hidden} {activation}"}


def _speed(X_tr, size, event_shape, epochs=3, rounds=3):
    """Seconds per epoch of plain training (no validation): ours, zuko RealNVP with
    torch's default Adam (what a zuko user runs) and with fused Adam (what skdeepclust's
    training loop uses), interleaved round by round; the minimum over rounds is the least
    disturbed by other load on the machine. Ours is the marginal cost of an epoch,
    ``(fit(1 + epochs) - fit(1)) / epochs``, so that input validation, module building
    and the data-dependent initialisation (once per fit) are left out as they are for
    zuko's bare loop."""
    import zuko

    n_stages, hidden, batch, lr, activation = size
    X = torch.as_tensor(X_tr)
    times = {"ours": [], "zuko": [], "zuko fused": []}
    # warm-up: the first optimizer of a process imports torch._dynamo (seconds)
    NormalizingFlow(n_stages=1, max_epochs=1, device="cpu").fit(X_tr[:64])
    for r in range(rounds):
        fit_s = []
        for n_epochs in (1, 1 + epochs):
            ours = NormalizingFlow(n_stages=n_stages, hidden_layer_sizes=hidden,
                                   coupling="affine", activation=activation,
                                   event_shape=event_shape, batch_size=batch, learning_rate=lr,
                                   max_epochs=n_epochs, tol=None, device="cpu", random_state=r)
            with Timer() as t:
                ours.fit(X_tr)
            fit_s.append(t.seconds)
        times["ours"].append((fit_s[1] - fit_s[0]) / epochs)
        for key, fused in (("zuko", None), ("zuko fused", True)):
            torch.manual_seed(r)
            flow = zuko.flows.RealNVP(X.shape[1], transforms=2 * n_stages,
                                      hidden_features=hidden,
                                      activation={"relu": torch.nn.ReLU,
                                                  "tanh": torch.nn.Tanh}[activation])
            optimizer = torch.optim.Adam(flow.parameters(), lr=lr, fused=fused)
            gen = torch.Generator().manual_seed(r)
            with Timer() as t:
                for _ in range(epochs):
                    order = torch.randperm(len(X), generator=gen)
                    for start in range(0, len(X), batch):
                        loss = -flow().log_prob(X[order[start : start + batch]]).mean()
                        optimizer.zero_grad()
                        loss.backward()
                        optimizer.step()
            times[key].append(t.seconds / epochs)
    return {k: min(v) for k, v in times.items()}


def _print_speed(speed):
    print(f"s/epoch of plain training (min of 3 interleaved rounds of 3 epochs): ours "
          f"{speed['ours']:.3f}, zuko RealNVP {speed['zuko']:.3f} (default Adam), "
          f"{speed['zuko fused']:.3f} (fused Adam)", flush=True)


def density_benchmark(name, args):
    size = FLOW_SIZES[name]
    per_seed = []
    for seed in range(args.seed, args.seed + args.seeds):
        X_tr, X_te = DATASETS[name](not args.full, seed)
        print(f"\n== {name}: {X_tr.shape[0]} train / {X_te.shape[0]} test, "
              f"{X_tr.shape[1]} features, seed {seed}", flush=True)
        data = (X_tr, X_te)
        runs = [
            ("sklearn GaussianMixture (grid)",
             lambda d=data, s=seed: _gmm(*d, GMM_GRID[name], s)),
            ("sklearn KernelDensity (grid)", lambda d=data: _kde(*d, KDE_GRID[name])),
            ("skdeepclust NormalizingFlow", lambda d=data, s=seed: _ours(
                *d, size, args.epochs, args.patience, s, EVENT_SHAPES.get(name))),
        ]
        if not args.no_zuko:
            for kind in ("RealNVP", "NICE"):
                runs.append((f"zuko {kind}", lambda kind=kind, d=data, s=seed: _zuko(
                    kind, *d, size, args.epochs, args.patience, s)))
        rows = []
        for label, run in runs:
            try:
                row = run()
            except ImportError as exc:
                row = {"setting": f"skipped: {exc}"}
            rows.append({"model": label, **row})
            print(f"  {label}: {row.get('test LL', float('nan')):.4g}", flush=True)
        per_seed.append(rows)
    speed = None
    if not args.no_zuko:
        speed = _speed(X_tr, size, EVENT_SHAPES.get(name))
    rows = []
    for i, first in enumerate(per_seed[0]):
        runs = [seed_rows[i] for seed_rows in per_seed]
        row = dict(first)
        for key in ("test LL", "fit s", "epochs", "s/epoch"):
            values = [r[key] for r in runs if key in r]
            if values and len(values) > 1:
                row[key] = f"{np.mean(values):.2f} ± {np.std(values):.2f}"
        rows.append(row)
    print(f"\n{name}: mean ± sd over {args.seeds} seed(s)")
    print_table(rows, ["model", "test LL", "fit s", "epochs", "s/epoch", "params", "setting"])
    if speed:
        _print_speed(speed)
    return {"per_seed": per_seed, "speed": speed}


# ----------------------------------------------------------------------------- factors


def _multiple_r(block, factor):
    """Correlation between a factor and its best linear prediction from a code block."""
    if block.shape[1] == 0:
        return 0.0
    A = np.column_stack([block, np.ones(len(block))])
    coef = np.linalg.lstsq(A, factor, rcond=None)[0]
    return float(abs(np.corrcoef(A @ coef, factor)[0, 1]))


def _factor_table(flow, X_te, F_te):
    blocks = flow.transform_factors(X_te)
    return np.array([[_multiple_r(b, F_te[:, j]) for j in range(F_te.shape[1])] for b in blocks])


def _mixed_factors(n, seed):
    rng = np.random.RandomState(0)
    A = np.linalg.qr(rng.randn(3, 3))[0] * np.array([2.0, 0.5, 1.0])
    U = np.random.RandomState(seed).randn(n, 3)
    X = U @ A.T
    return X + 0.3 * np.tanh(X[:, ::-1]), U[:, :2]


def factor_benchmark(args):
    print("\n== DisentanglingFlow: |correlation| of each code block with each factor "
          "(multiple R on held-out data)", flush=True)
    rows = []
    cases = []
    X, F = _mixed_factors(3000, 0)
    X_te, F_te = _mixed_factors(2000, 1)
    cases.append(("mixed factors (3-D, 2 factors)", X, F, X_te, F_te,
                  dict(dimensions_per_factor=[1, 1, 1], coupling="affine", max_epochs=15,
                       target_correlations=0.95)))
    X, s = make_arc(4096, random_state=953)
    X_te, s_te = make_arc(2000, random_state=954)
    cases.append(("gyoza arc (2-D, 1 factor)", X, s[:, None], X_te, s_te[:, None],
                  dict(dimensions_per_factor=[1, 1], hidden_layer_sizes=(8,), learning_rate=0.05,
                       actnorm_data_init=False, pairs_per_epoch=25 * 64, max_epochs=10)))
    Xi, Fi = make_blob_images(3000, random_state=0)
    Xi_te, Fi_te = make_blob_images(1000, random_state=1)
    pre = make_pipeline(PCA(12, random_state=0), StandardScaler()).fit(Xi)
    cases.append(("blob images via PCA-12 (3 factors)", pre.transform(Xi), Fi,
                  pre.transform(Xi_te), Fi_te,
                  dict(dimensions_per_factor=[6, 2, 2, 2], coupling="affine", n_stages=4,
                       learning_rate=3e-3, max_epochs=20 if args.full else 10)))
    for label, X, F, X_te, F_te, params in cases:
        flow = DisentanglingFlow(device="cpu", random_state=args.seed, **params)
        with Timer() as t:
            flow.fit(X, F)
        table = _factor_table(flow, X_te, F_te)
        k = F.shape[1]
        own = np.diag(table[1:, :k])
        others = table[1:, :k][~np.eye(k, dtype=bool)]
        inv = np.abs(flow.inverse_transform(flow.transform(X_te)) - X_te).max()
        X32 = X_te.astype(np.float32)
        flow32 = DisentanglingFlow(device="cpu", random_state=args.seed, **params).fit(
            X.astype(np.float32), F)
        inv32 = np.abs(flow32.inverse_transform(flow32.transform(X32)) - X32).max()
        rows.append({"data": label, "own min": own.min(),
                     "others max": others.max() if others.size else 0.0,
                     "residual max": table[0].max(), "inverse err f64": inv,
                     "inverse err f32": inv32, "fit s": t.seconds,
                     "final loss": flow.loss_curve_[-1]})
        print(f"  {label}: rows = residual, factor 1..{k}; columns = factor 1..{k}")
        print("    " + str(np.round(table, 3)).replace("\n", "\n    "), flush=True)
    # fit_pairs with user pairs on the mixed factors
    X, F = _mixed_factors(3000, 0)
    X_te, F_te = _mixed_factors(2000, 1)
    a, b, sim = make_factor_pairs(torch.as_tensor(F), 8 * 3000, 0.95,
                                  generator=torch.Generator().manual_seed(args.seed))
    flow = DisentanglingFlow([1, 1, 1], coupling="affine", max_epochs=2, device="cpu",
                             random_state=args.seed)
    with Timer() as t:
        flow.fit_pairs(X[a.numpy()], X[b.numpy()], sim[:, 1:].numpy())
    table = _factor_table(flow, X_te, F_te)
    rows.append({"data": "mixed factors, fit_pairs", "own min": np.diag(table[1:]).min(),
                 "others max": max(table[1, 1], table[2, 0]), "residual max": table[0].max(),
                 "inverse err f64": np.abs(flow.inverse_transform(flow.transform(X_te))
                                           - X_te).max(),
                 "fit s": t.seconds, "final loss": flow.loss_curve_[-1]})
    print()
    print_table(rows, ["data", "own min", "others max", "residual max", "inverse err f64",
                       "inverse err f32", "fit s", "final loss"])
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", nargs="*", default=["moons", "digits", "mnist-pca", "factors"],
                   choices=["moons", "digits", "mnist-pca", "factors"])
    p.add_argument("--full", action="store_true", help="MNIST 60k/10k, longer training")
    p.add_argument("--epochs", type=int, default=None, help="max epochs of the flows")
    p.add_argument("--patience", type=int, default=20, help="early-stopping patience")
    p.add_argument("--seed", type=int, default=0, help="first seed")
    p.add_argument("--seeds", type=int, default=1, help="seeds of the density runs")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    p.add_argument("--no-zuko", action="store_true")
    p.add_argument("--speed-only", action="store_true",
                   help="only the interleaved s/epoch comparison with zuko")
    p.add_argument("--json")
    args = p.parse_args(argv)
    if args.epochs is None:
        args.epochs = 500 if args.full else 200
    if args.threads:
        torch.set_num_threads(args.threads)
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)  # numpy / scipy BLAS of the scikit-learn peers
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
          f"{'full' if args.full else 'quick'} run, seed {args.seed}")
    results = {}
    start = time.perf_counter()
    for name in args.data:
        if args.speed_only:
            if name != "factors":
                print(f"\n== {name}")
                results[name] = _speed(DATASETS[name](not args.full, args.seed)[0],
                                       FLOW_SIZES[name], EVENT_SHAPES.get(name))
                _print_speed(results[name])
        elif name == "factors":
            results[name] = factor_benchmark(args)
        else:
            results[name] = density_benchmark(name, args)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    save_json(args.json, {"args": vars(args), "results": results})


if __name__ == "__main__":
    main()
