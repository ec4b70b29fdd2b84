"""Density section of the defaults panel: ``NormalizingFlow()`` against tuned baselines.

Held-out mean log-likelihood (nats per sample, higher is better) of

- ``NormalizingFlow(random_state=seed)``: defaults only (every "auto" value resolved in
  ``fit``, early stopping on a 10% validation split of the training rows);
- the best ``GaussianMixture``: ``n_components`` in 1..64 (powers of two, at most
  ``n_train / 10``) x ``covariance_type`` in full / diag / tied / spherical (and
  ``reg_covar`` in {1e-6, 1e-3} above 2 features), **selected on a validation split**
  (20% of the training rows), then refitted on all training rows;
- ``KernelDensity`` (Gaussian kernel) whose bandwidth is chosen by 5-fold
  cross-validation on the training rows (20 values log-spaced around Scott's rule).

Data (per seed: a fresh draw of the synthetic sets, a fresh train/test split of the real
ones; every model sees the same arrays):

- 2-D toys, 4000 train / 2000 test: two moons (noise 0.08), two circles (noise 0.05,
  factor 0.5), a two-arm spiral, and PyDeep's linear mixture of two Laplace sources;
- tabular, standardised with a scaler fitted on the training rows: wine (178 x 13),
  breast cancer (569 x 30), and a correlated 8-D set (3 latent Gaussians through a random
  tanh layer plus noise, 5000 rows);
- digits (1797 x 64): pixels dequantized as in ``bench_flows.py``, ``(v + U(0, 1)) / 17``.

Discrete columns: a continuous density on a lattice can grow without bound (a kernel or
component shrinking onto repeated values). Digits are dequantized with uniform noise
inside each intensity bin. Wine and breast cancer store measurements rounded to a fixed
resolution (wine's magnesium and proline are integers); each column gets uniform noise
of plus or minus half its resolution (the smallest gap between its distinct values)
before standardisation, so no model can profit from the rounding.

    python benchmarks/_defaults_density.py --out benchmarks/results/defaults_density.json
    python benchmarks/_defaults_density.py --datasets moons digits --seeds 0 1

``main(argv)`` is what ``benchmarks/bench_defaults.py --section density`` delegates to.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, load_wine, make_circles, make_moons
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neighbors import KernelDensity
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Timer, save_json  # noqa: E402

from skdeepclust.datasets import make_laplace_mixture_2d  # noqa: E402
from skdeepclust.flow import NormalizingFlow  # noqa: E402

# ----------------------------------------------------------------------------- data
N_TOY, N_TOY_TEST = 4000, 2000


def _spiral(n, rng):
    t = np.sqrt(rng.uniform(0, 1, n)) * 3 * np.pi
    arm = rng.randint(2, size=n)
    r = t / (3 * np.pi) * 2.0
    angle = t + np.pi * arm
    X = np.column_stack([r * np.cos(angle), r * np.sin(angle)])
    return X + rng.normal(0, 0.05, X.shape)


def _toy(maker):
    def load(seed):
        rng = np.random.RandomState(seed)
        X = maker(N_TOY + N_TOY_TEST, rng)
        return X[:N_TOY], X[N_TOY:]
    return load


def _dequantize_columns(X, rng):
    """Uniform noise of +- half each column's resolution (smallest gap of its values)."""
    X = X.astype(np.float64).copy()
    for j in range(X.shape[1]):
        gaps = np.diff(np.unique(X[:, j]))
        res = gaps[gaps > 0].min() if np.any(gaps > 0) else 0.0
        X[:, j] += rng.uniform(-res / 2, res / 2, X.shape[0])
    return X


def _tabular(loader):
    def load(seed):
        rng = np.random.RandomState(seed)
        X = _dequantize_columns(loader(rng), rng)
        X_tr, X_te = train_test_split(X, test_size=0.25, random_state=seed)
        scaler = StandardScaler().fit(X_tr)
        return scaler.transform(X_tr), scaler.transform(X_te)
    return load


def _correlated(rng):
    """3 latent Gaussians -> random tanh layer -> 8 features, plus 0.1 noise (5000 rows)."""
    fixed = np.random.RandomState(12345)
    W = fixed.normal(size=(3, 8)) * 1.5
    b = fixed.normal(size=8) * 0.5
    Z = rng.normal(size=(5000, 3))
    return np.tanh(Z @ W + b) + 0.1 * rng.normal(size=(5000, 8))


def _digits(seed):
    data = load_digits().data
    rng = np.random.RandomState(seed)
    X = (data + rng.uniform(size=data.shape)) / 17.0
    X_tr, X_te = train_test_split(X, test_size=0.2, random_state=seed)
    return X_tr, X_te


DATASETS = {
    "moons": _toy(lambda n, rng: make_moons(n, noise=0.08, random_state=rng)[0]),
    "circles": _toy(lambda n, rng: make_circles(n, noise=0.05, factor=0.5,
                                                random_state=rng)[0]),
    "spiral": _toy(_spiral),
    "laplace": _toy(lambda n, rng: make_laplace_mixture_2d(n, random_state=rng)[0]),
    "wine": _tabular(lambda rng: load_wine().data),
    "breast_cancer": _tabular(lambda rng: load_breast_cancer().data),
    "correlated8": _tabular(_correlated),
    "digits": _digits,
}
GROUP = {"moons": "2-D", "circles": "2-D", "spiral": "2-D", "laplace": "2-D",
         "wine": "tabular", "breast_cancer": "tabular", "correlated8": "tabular",
         "digits": "digits"}

# ----------------------------------------------------------------------------- models


def gmm(X_tr, X_te, seed):
    """Best GaussianMixture selected on a 20% validation split, refitted on all rows."""
    X_fit, X_val = train_test_split(X_tr, test_size=0.2, random_state=seed)
    d = X_tr.shape[1]
    ks = [k for k in (1, 2, 4, 8, 16, 32, 64) if k <= max(1, len(X_fit) // 10)]
    regs = (1e-6,) if d <= 2 else (1e-6, 1e-3)
    best = None
    with Timer() as t:
        for cov in ("full", "diag", "tied", "spherical"):
            for k in ks:
                for reg in regs:
                    try:
                        m = GaussianMixture(k, covariance_type=cov, reg_covar=reg,
                                            max_iter=300, random_state=seed).fit(X_fit)
                    except ValueError:  # a collapsed component: not a candidate
                        continue
                    score = m.score(X_val)
                    if best is None or score > best[0]:
                        best = (score, dict(n_components=k, covariance_type=cov,
                                            reg_covar=reg))
        final = GaussianMixture(max_iter=300, random_state=seed, **best[1]).fit(X_tr)
    return {"test": float(final.score(X_te)), "fit_s": t.seconds,
            "setting": f"{best[1]['covariance_type']} k={best[1]['n_components']} "
                       f"reg={best[1]['reg_covar']:g}"}


def kde(X_tr, X_te, seed):
    """Gaussian KernelDensity, bandwidth by 5-fold CV on the training rows."""
    scott = X_tr.std(0).mean() * len(X_tr) ** (-1.0 / (X_tr.shape[1] + 4))
    grid = scott * np.logspace(-1.5, 0.5, 20)
    with Timer() as t:
        search = GridSearchCV(KernelDensity(), {"bandwidth": grid}, cv=5).fit(X_tr)
    return {"test": float(search.best_estimator_.score(X_te) / len(X_te)), "fit_s": t.seconds,
            "setting": f"bandwidth={search.best_params_['bandwidth']:.3g}"}


def flow(X_tr, X_te, seed):
    """NormalizingFlow at its defaults."""
    model = NormalizingFlow(random_state=seed)
    with Timer() as t:
        model.fit(X_tr)
    return {"test": float(model.score(X_te)), "fit_s": t.seconds, "epochs": model.n_iter_,
            "converged": bool(model.converged_),
            "setting": f"{model._coupling} x{model._n_stages} {model._hidden_layer_sizes} "
                       f"bs={model._batch_size} lr={model._learning_rate:g} "
                       f"epochs={model.n_iter_}/{model._max_epochs} "
                       f"grid={model._event_shape}"}


MODELS = {"NormalizingFlow()": flow, "best GaussianMixture": gmm, "CV KernelDensity": kde}

# ----------------------------------------------------------------------------- report


def summarize(results: dict) -> list[dict]:
    rows = []
    for name, per_model in results.items():
        for model, runs in per_model.items():
            tests = np.array([r["test"] for r in runs])
            times = np.array([r["fit_s"] for r in runs])
            cpus = np.array([r.get("cpu_s", np.nan) for r in runs])
            rows.append({"data": name, "model": model, "n_seeds": len(runs),
                         "mean": float(tests.mean()), "sd": float(tests.std()),
                         "worst": float(tests.min()), "fit_s_mean": float(times.mean()),
                         "fit_s_max": float(times.max()), "cpu_s_mean": float(cpus.mean()),
                         "cpu_s_max": float(cpus.max()),
                         "setting": runs[-1].get("setting", "")})
    return rows


def print_markdown(rows: list[dict], results: dict) -> None:
    print("| data | model | held-out LL (mean ± sd) | worst seed | fit s (mean / max) "
          "| CPU s (mean / max) | flow ≥ peer (seeds) | setting (last seed) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        beats = ""
        if r["model"] != "NormalizingFlow()" and "NormalizingFlow()" in results[r["data"]]:
            f = [x["test"] for x in results[r["data"]]["NormalizingFlow()"]]
            p = [x["test"] for x in results[r["data"]][r["model"]]]
            wins = sum(a >= b for a, b in zip(f, p))
            beats = f"{wins}/{len(p)}"
        print(f"| {r['data']} | {r['model']} | {r['mean']:.3f} ± {r['sd']:.3f} | "
              f"{r['worst']:.3f} | {r['fit_s_mean']:.1f} / {r['fit_s_max']:.1f} | "
              f"{r['cpu_s_mean']:.1f} / {r['cpu_s_max']:.1f} | {beats} | "
              f"{r['setting']} |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", nargs="*", default=list(DATASETS), choices=list(DATASETS))
    p.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--out", default=None, help="raw JSON path, e.g. "
                   "benchmarks/results/defaults_density.json")
    args = p.parse_args(argv)
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); "
          f"datasets {args.datasets}; seeds {args.seeds}", flush=True)
    results: dict = {}
    start = time.perf_counter()
    for name in args.datasets:
        results[name] = {m: [] for m in args.models}
        for seed in args.seeds:
            X_tr, X_te = DATASETS[name](seed)
            X_tr, X_te = X_tr.astype(np.float32), X_te.astype(np.float32)
            for model in args.models:
                cpu = time.process_time()
                r = MODELS[model](X_tr, X_te, seed)
                r["cpu_s"] = time.process_time() - cpu  # fit and scoring, all threads
                r["seed"] = seed
                results[name][model].append(r)
                print(f"  {name} seed {seed} {model}: {r['test']:.4f} ({r['fit_s']:.1f} s) "
                      f"{r.get('setting', '')}", flush=True)
            save_json(args.out, {"args": vars(args), "results": results,
                                 "summary": summarize(results)})
    rows = summarize(results)
    print()
    print_markdown(rows, results)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    save_json(args.out, {"args": vars(args), "results": results, "summary": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
