"""Natural image patches: ZCA + FastICA (PyDeep P3) and the Gaussian-binary RBM (P8) on the
patches of scikit-learn's two sample images.

PyDeep's tutorials use 70,000 van Hateren patches of 14 x 14 pixels (a download); the
stand-in is :func:`skdeepclust.datasets.load_natural_patches` (the same size, cut from
"china.jpg" and "flower.jpg", no download). Both models see the same data: the first
40,000 patches train (ZCA, ICA, RBM), the other 30,000 test, all ZCA-whitened with the
training whitening. Log-likelihoods are per patch in nats, in the whitened space (the
whitening's Jacobian is the same for every model, so the models compare directly).

    python benchmarks/bench_natural_patches.py --quick    # ~1 min: 10,000 patches, short fits
    python benchmarks/bench_natural_patches.py            # PyDeep's recipes (~10 min, 1 core)
    python benchmarks/bench_natural_patches.py --models synthetic ica

Figures: the ICA log-likelihood with PyDeep's sech^2 source density (and with a unit-
variance Laplace density), the Amari distance between two ICA runs and between the ICA
basis and the GB-RBM filters (normalised to [0, 1]), the GB-RBM's AIS and reverse-AIS
log-likelihoods, the Gaussian (whitening only) baseline, and the synthetic target: ZCA +
FastICA on a random mixture of 196 Laplace sources with as many samples as the training
set, Amari distance to the true mixing matrix. Results go to
``benchmarks/results/natural_patches_{quick,full}.json``.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Timer, print_table, save_json  # noqa: E402

from skdeepclust.datasets import load_natural_patches  # noqa: E402
from skdeepclust.metrics import amari_distance, ica_log_likelihood  # noqa: E402
from skdeepclust.neural_network import RBM  # noqa: E402
from skdeepclust.preprocessing import ZCA  # noqa: E402

#: PyDeep's figures on the van Hateren patches: ICA (ZCA, no per-patch mean removal,
#: 100 iterations; LL on all 70,000 patches) and the GB-RBM 196-196 (per-patch mean
#: removed, ZCA, 200 epochs of CD-1; AIS / reverse AIS, train 40,000 / test 30,000).
PYDEEP = {"ICA LL all": -260.064878919,
          "GB-RBM AIS LL train": -268.34107, "GB-RBM AIS LL test": -270.82759,
          "GB-RBM rAIS LL train": -268.34078, "GB-RBM rAIS LL test": -270.82731}

SIZE = 14
RESULTS = Path(__file__).resolve().parent / "results"


def laplace_ica_log_likelihood(W, X) -> float:
    """Mean log p(x) of ICA with unit-variance Laplace sources, p(s) = exp(-sqrt2 |s|)/sqrt2."""
    S = X @ W.T
    per_source = -np.sqrt(2.0) * np.abs(S) - 0.5 * np.log(2.0)
    return float(per_source.sum(1).mean() + np.linalg.slogdet(W)[1])


def gaussian_log_likelihood(X) -> float:
    """Mean log N(x; 0, I): the whitened data's Gaussian model (PCA's likelihood)."""
    d = X.shape[1]
    return float(np.mean(-0.5 * (X * X).sum(1)) - 0.5 * d * np.log(2 * np.pi))


def fastica(X, max_iter, seed):
    from sklearn.decomposition import FastICA

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ica = FastICA(whiten=False, max_iter=max_iter, tol=1e-4, random_state=seed).fit(X)
    converged = not any("did not converge" in str(w.message) for w in caught)
    return ica, converged


def bench_synthetic(args, n, results):
    """196 unit-variance Laplace sources mixed by U(-0.5, 0.5), ZCA, FastICA."""
    rng = np.random.RandomState(args.seed)
    d = SIZE * SIZE
    S = rng.laplace(0.0, np.sqrt(0.5), size=(n, d))
    A = rng.rand(d, d) - 0.5
    X = S @ A.T
    zca = ZCA().fit(X)
    A_white = zca.whitening_.T @ A
    with Timer() as t:
        ica, converged = fastica(zca.transform(X), max(args.ica_iter, 200), args.seed)
    row = {"model": f"ZCA + FastICA, {d} Laplace sources, n={n}", "fit s": t.seconds,
           "n_iter": int(ica.n_iter_), "converged": converged,
           "Amari": amari_distance(A_white, np.linalg.inv(ica.components_)),
           "Amari normalised": amari_distance(A_white, np.linalg.inv(ica.components_),
                                              normalize=True),
           "Amari normalised, whitening only": amari_distance(A_white, np.eye(d),
                                                              normalize=True),
           "target (normalised)": 0.05}
    print(f"\nSynthetic target: {d} Laplace sources, random mixing, {n} samples")
    print_table([row], ["model", "fit s", "n_iter", "converged", "Amari", "Amari normalised",
                        "Amari normalised, whitening only", "target (normalised)"])
    results["synthetic"] = row


def pydeep_grbm_init(d: int, h: int, seed: int):
    """PyDeep's GB-RBM start: W ~ U(+-sqrt(6 / (d + h))) (its AUTO bound divided by 4
    for Gaussian visibles), sigma 1, visible bias 0, hidden biases that give every
    one-unit component of the Gaussian mixture the weight 0.01 of the h = 0 component:
    c_j = -||w_j||^2 / 2 + log(0.01) (PyDeep writes the norm unsquared; ~equal here)."""
    rng = np.random.RandomState(seed)
    bound = np.sqrt(6.0 / (d + h))
    W = rng.uniform(-bound, bound, size=(h, d))
    c = -0.5 * (W * W).sum(1) + np.log(0.01)
    return W, c


def bench_models(args, quick, results):
    n_train, n_test = (8000, 2000) if quick else (40000, 30000)
    X = load_natural_patches(SIZE, n_train + n_test, random_state=args.seed)
    train, test = X[:n_train], X[n_train:]
    zca = ZCA().fit(train)
    tr, te = zca.transform(train), zca.transform(test)
    rows = [{"model": "Gaussian (whitening only)", "LL train": gaussian_log_likelihood(tr),
             "LL test": gaussian_log_likelihood(te)}]
    ica_basis = None
    if "ica" in args.models:
        with Timer() as t:
            ica, converged = fastica(tr, args.ica_iter, args.seed)
        W = ica.components_
        ica_basis = np.linalg.inv(W)
        ica2, _ = fastica(tr, args.ica_iter, args.seed + 1)
        rows.append({
            "model": "ZCA + FastICA (sech^2 LL)", "fit s": t.seconds,
            "n_iter": int(ica.n_iter_), "converged": converged,
            "LL train": ica_log_likelihood(W, tr), "LL test": ica_log_likelihood(W, te),
            "PyDeep LL": PYDEEP["ICA LL all"],
            "Amari vs 2nd ICA run": amari_distance(ica_basis, np.linalg.inv(ica2.components_),
                                                   normalize=True)})
        S = te @ W.T  # sparseness of the recovered sources: Laplace 3, sech^2 1.2
        rows[-1]["source excess kurtosis"] = float(np.mean(
            (S ** 4).mean(0) / (S ** 2).mean(0) ** 2 - 3.0))
        rows.append({"model": "ZCA + FastICA (Laplace LL)",
                     "LL train": laplace_ica_log_likelihood(W, tr),
                     "LL test": laplace_ica_log_likelihood(W, te)})
    if "grbm" in args.models:
        epochs = args.epochs or (10 if quick else 200)
        betas = args.betas or (2000 if quick else 10000)
        d = SIZE * SIZE
        W0, c0 = pydeep_grbm_init(d, d, args.seed)
        restrict = 0.01 * float(np.linalg.norm(tr, axis=1).max())
        rbm = RBM(d, visible="gaussian", learn_sigma=True, centered=False, init_sigma=1.0,
                  init_visible_bias=0.0, init_weights=W0, init_hidden_bias=c0, method="cd",
                  learning_rate={"weight": 0.1, "visible_bias": 0.0, "hidden_bias": 0.1,
                                 "sigma": 0.01},
                  max_grad_norm=restrict, max_grad_norm_axis="cols", batch_size=100,
                  max_epochs=epochs, device="cpu", random_state=args.seed)
        with Timer() as t:
            rbm.fit(tr)
        with Timer() as ta:
            ais = rbm.log_partition("ais", n_chains=args.chains, n_betas=betas, random_state=0)
        ais_bounds = rbm.log_partition_bounds_
        ll_ais = (rbm.score(tr), rbm.score(te))
        rais = rbm.log_partition("reverse_ais", n_betas=betas, X=tr[:args.chains],
                                 random_state=0)
        ll_rais = (rbm.score(tr), rbm.score(te))
        row = {"model": f"GB-RBM {d}-{d} (AIS LL)", "fit s": t.seconds, "epochs": epochs,
               "LL train": ll_ais[0], "LL test": ll_ais[1],
               "PyDeep LL": PYDEEP["GB-RBM AIS LL test"], "AIS s": ta.seconds,
               "log Z": ais, "log Z -3sd": ais_bounds[0], "log Z +3sd": ais_bounds[1],
               "betas": betas, "chains": args.chains, "reconstruction error test":
                   float(rbm.reconstruction_error(te).mean()),
               "sigma median": float(np.median(rbm.sigma_))}
        if ica_basis is not None:
            row["Amari vs ICA basis"] = amari_distance(ica_basis, rbm.components_.T,
                                                       normalize=True)
        rows.append(row)
        rows.append({"model": f"GB-RBM {d}-{d} (reverse AIS LL)", "LL train": ll_rais[0],
                     "LL test": ll_rais[1], "PyDeep LL": PYDEEP["GB-RBM rAIS LL test"],
                     "log Z": rais})
        # a random-filter baseline: the same RBM before training
        start = RBM(d, visible="gaussian", learn_sigma=True, centered=False, init_sigma=1.0,
                    init_visible_bias=0.0, init_weights=W0, init_hidden_bias=c0,
                    max_epochs=0, device="cpu", random_state=args.seed).fit(tr)
        start.log_partition("ais", n_chains=args.chains, n_betas=betas, random_state=0)
        rows.append({"model": "GB-RBM at its initialisation (AIS LL)",
                     "LL train": start.score(tr), "LL test": start.score(te)})
    if args.save_filters:  # for a look at the filters (not a result file)
        arrays = {}
        if ica_basis is not None:
            arrays["ica"] = W
        if "grbm" in args.models:
            arrays["grbm"] = rbm.components_
            arrays["grbm_activity"] = rbm.transform(tr).mean(0)
        np.savez_compressed(args.save_filters, **arrays)
    print(f"\n{SIZE}x{SIZE} natural patches of the sample images: {n_train} train, {n_test} "
          "test, ZCA on the training patches; log-likelihoods per patch (nats, whitened)")
    print_table(rows, ["model", "fit s", "n_iter", "converged", "epochs", "LL train",
                       "LL test", "PyDeep LL", "Amari vs 2nd ICA run", "Amari vs ICA basis",
                       "source excess kurtosis"])
    results["patches"] = {"n_train": n_train, "n_test": n_test, "rows": rows}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small data and short fits")
    p.add_argument("--models", nargs="+", default=["synthetic", "ica", "grbm"],
                   choices=["synthetic", "ica", "grbm"])
    p.add_argument("--epochs", type=int, default=None,
                   help="GB-RBM epochs (default 200; quick 10)")
    p.add_argument("--betas", type=int, default=None,
                   help="AIS temperatures (default 10000; quick 2000)")
    p.add_argument("--chains", type=int, default=100,
                   help="AIS chains (reverse AIS: from this many training patches)")
    p.add_argument("--ica-iter", type=int, default=None,
                   help="FastICA iterations (default 200; quick 50)")
    p.add_argument("--save-filters", default=None,
                   help="npz file for the ICA filters and the GB-RBM weights")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None,
                   help="output (default benchmarks/results/natural_patches_{quick,full}.json)")
    args = p.parse_args(argv)
    args.ica_iter = args.ica_iter or (50 if args.quick else 200)
    torch.set_num_threads(args.threads)
    results = {}
    from threadpoolctl import threadpool_limits

    with threadpool_limits(args.threads):
        if "synthetic" in args.models:
            bench_synthetic(args, 8000 if args.quick else 40000, results)
        if set(args.models) - {"synthetic"}:
            bench_models(args, args.quick, results)
    path = args.json or RESULTS / f"natural_patches_{'quick' if args.quick else 'full'}.json"
    save_json(str(path), {"args": vars(args), "results": results})


if __name__ == "__main__":
    main()
