"""Natural image patches: ZCA + FastICA (PyDeep P3), the Gaussian-binary RBM (P8) and the
sparse autoencoder (PyDeep's tutorial 11) on the patches of scikit-learn's two sample images.

PyDeep's tutorials use 70,000 van Hateren patches of 14 x 14 pixels (a download); the
stand-in is :func:`skdeepclust.datasets.load_natural_patches` (the same size, cut from
"china.jpg" and "flower.jpg", no download). Both models see the same data: the first
40,000 patches train (ZCA, ICA, RBM), the other 30,000 test, all ZCA-whitened with the
training whitening. Log-likelihoods are per patch in nats, in the whitened space (the
whitening's Jacobian is the same for every model, so the models compare directly).

    python benchmarks/bench_natural_patches.py --quick    # ~1 min: 10,000 patches, short fits
    python benchmarks/bench_natural_patches.py            # PyDeep's recipes (~10 min, 1 core)
    python benchmarks/bench_natural_patches.py --models synthetic ica
    python benchmarks/bench_natural_patches.py --models sae   # sparse AE and ICA (~6 min)
    python benchmarks/bench_natural_patches.py --models grbm --grbm-trace 0 10 25 50 100 \
        --json benchmarks/results/natural_patches_grbm_trace.json   # LL along training

Figures: the ICA log-likelihood with PyDeep's sech^2 source density (and with a unit-
variance Laplace density), the Amari distance between two ICA runs and between the ICA
basis and the GB-RBM filters (normalised to [0, 1]), the GB-RBM's AIS and reverse-AIS
log-likelihoods, the Gaussian (whitening only) baseline, and the synthetic target: ZCA +
FastICA on a random mixture of 196 Laplace sources with as many samples as the training
set, Amari distance to the true mixing matrix. Results go to
``benchmarks/results/natural_patches_{quick,full}.json`` (``natural_patches_sae_*`` with
``--models sae``). ``--grbm-trace`` measures the GB-RBM's AIS and reverse-AIS
log-likelihoods along training (warm-started fits).

The sparse autoencoder (``--models sae``; PyDeep reports no numbers for it, only its
filters, "impressively similar to the results produced by ICA or GRBMs", and the
per-epoch table its script prints: reconstruction error and mean hidden activation on
the training and test patches): 196-400, tied weights, sigmoid code, linear output,
squared error, centered (hidden offsets start at 0.02 and move by 0.01 per batch),
weights N(0, 0.01^2), hidden bias -2, KL sparsity 2.0 toward a mean activation of
0.001, plain SGD at 0.1 on batches of 10, no corruption, the norm of each hidden unit's
weight update restricted to 0.1, 20 epochs, on the same whitened training patches
(PyDeep: 50,000 train / 20,000 test). Our AutoEncoder averages the squared error over
pixels where PyDeep sums half of it, so the learning rate is 0.1 * 196 / 2 and the
sparsity weight 2.0 * 2 / 196: the same SGD steps (checked on one batch to float32
precision). Its filter statistics (``filter_statistics``): best-match |cosine| with the
ICA filters, orientation selectivity of the response to gratings, and the spatial
spread of each filter, next to random filters, a second ICA run and the GB-RBM. PyDeep's
loop prints 20 epochs and trains one more pass after the last print; ours trains the 20.
``--quick`` (8,000 patches, 10 epochs) only checks that the recipe runs: its filters are
not yet localised.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Timer, print_table, save_json

from skdeepclust.datasets import load_natural_patches
from skdeepclust.metrics import amari_distance, ica_log_likelihood
from skdeepclust.neural_network import RBM
from skdeepclust.preprocessing import ZCA
from skdeepclust.representation import AutoEncoder

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


def grating_responses(filters, side: int = SIZE, n_angles: int = 40):
    """Phase-invariant response of each filter (row) to unit gratings: wavelengths 2 to
    ``side`` pixels (as PyDeep's ``filter_frequency_response``), ``n_angles`` orientations
    in [0, pi). Returns an array (n_filters, n_wavelengths, n_angles)."""
    y, x = np.mgrid[0:side, 0:side].astype(float)
    wavelengths = np.arange(2, side + 1)
    angles = np.arange(n_angles) * np.pi / n_angles
    phase = (2 * np.pi / wavelengths[:, None, None, None]) * (
        x * np.cos(angles)[None, :, None, None] + y * np.sin(angles)[None, :, None, None])
    cos = np.cos(phase).reshape(len(wavelengths), n_angles, -1)
    sin = np.sin(phase).reshape(len(wavelengths), n_angles, -1)
    norm = np.sqrt((cos ** 2).sum(-1) + (sin ** 2).sum(-1))[..., None]
    F = filters / np.linalg.norm(filters, axis=1, keepdims=True)
    rc = np.einsum("fp,wap->fwa", F, cos / norm)
    rs = np.einsum("fp,wap->fwa", F, sin / norm)
    return np.sqrt(rc ** 2 + rs ** 2)


def filter_statistics(filters, reference=None, side: int = SIZE) -> dict:
    """Whether filters (rows, whitened space) are localised, oriented edge detectors.

    - ``best-match |cos| vs ICA``: mean over the filters of the largest absolute cosine
      with any ``reference`` filter (the ICA filters); ``ICA coverage``: mean over the
      reference filters of their best match among ``filters``;
    - ``orientation selectivity``: median over the filters of (R(a*) - R(a* + pi/2)) /
      (R(a*) + R(a* + pi/2)), R the response to gratings at the best wavelength, a* the
      best angle (1 for a pure oriented grating, near 0 for a round blob);
    - ``spatial spread``: median of the participation ratio (sum w^2)^2 / sum w^4 over
      the pixels, divided by their number (1/3 for Gaussian noise, small for a filter
      confined to a few pixels);
    - ``localised share``: the fraction of filters whose spread is below 0.2 (Gaussian
      noise on 196 pixels stays above 0.25);
    - ``optimal wavelength``: median wavelength (pixels / cycle) of the best grating.
    """
    F = np.asarray(filters, dtype=float)
    R = grating_responses(F, side)
    n_w, n_a = R.shape[1:]
    best = R.reshape(len(F), -1).argmax(1)
    w_idx, a_idx = np.unravel_index(best, (n_w, n_a))
    r_opt = R[np.arange(len(F)), w_idx, a_idx]
    r_orth = R[np.arange(len(F)), w_idx, (a_idx + n_a // 2) % n_a]
    sq = F ** 2
    spread = sq.sum(1) ** 2 / (sq ** 2).sum(1) / F.shape[1]
    out = {"orientation selectivity": float(np.median((r_opt - r_orth) / (r_opt + r_orth))),
           "spatial spread": float(np.median(spread)),
           "localised share": float(np.mean(spread < 0.2)),
           "optimal wavelength": float(np.median(w_idx + 2))}
    if reference is not None:
        cos = np.abs(_unit(F) @ _unit(np.asarray(reference, dtype=float)).T)
        out["best-match |cos| vs ICA"] = float(cos.max(1).mean())
        out["ICA coverage"] = float(cos.max(0).mean())
    return out


def _unit(A):
    return A / np.maximum(np.linalg.norm(A, axis=1, keepdims=True), 1e-300)


#: PyDeep's sparse-autoencoder tutorial (``AE_natural_images``), in PyDeep's units.
SAE_RECIPE = {"n_hidden": 400, "learning_rate": 0.1, "batch_size": 10, "epochs": 20,
              "sparsity_weight": 2.0, "sparsity_target": 0.001, "init_weight_std": 0.01,
              "init_hidden_bias": -2.0, "init_hidden_offset": 0.02,
              "hidden_offset_rate": 0.01, "restrict_update_norm": 0.1}


def pydeep_sparse_autoencoder(n_features: int, seed: int, recipe=SAE_RECIPE):
    """PyDeep's sparse autoencoder as an :class:`AutoEncoder`, initialised, untrained.

    PyDeep's squared error is half the sum over the pixels, ours the mean, and both
    average over the batch, so our loss is PyDeep's times 2 / d: the learning rate is
    multiplied by d / 2 and the sparsity weight by 2 / d, giving the same SGD steps.
    PyDeep restricts the norm of each hidden unit's weight update (lr x gradient) to
    ``restrict_update_norm``; a hook clips each row of the accumulated weight gradient
    to that norm / lr (plain SGD, so the update is clipped exactly). The model is set up
    by a 0-epoch fit, its parameters overwritten with PyDeep's start, and ``warm_start``
    turned on: each later ``fit`` trains ``max_epochs`` more epochs. One difference
    remains: our offsets all move together, so the visible offset (PyDeep keeps it at 0)
    also follows the batch means at 0.01; the whitened data's mean is 0, so it stays
    near 0.
    """
    d, h = n_features, recipe["n_hidden"]
    lr = recipe["learning_rate"] * d / 2
    ae = AutoEncoder(h, hidden_layer_sizes=(), code_activation="sigmoid",
                     output_activation="identity", tied_weights=True, loss="squared",
                     centered=True, offset_learning_rate=recipe["hidden_offset_rate"],
                     sparsity_weight=recipe["sparsity_weight"] * 2 / d,
                     sparsity_target=recipe["sparsity_target"], optimizer="sgd",
                     momentum=0.0, learning_rate=lr, batch_size=recipe["batch_size"],
                     max_epochs=0, tol=None, device="cpu", random_state=seed)
    ae.fit(np.zeros((2, d)))  # builds the module; PyDeep's start is written below
    encoder, decoder = ae.module_.encoder.linears[0], ae.module_.decoder.layers[0]
    rng = np.random.RandomState(seed)
    with torch.no_grad():
        encoder.weight.copy_(torch.as_tensor(rng.randn(h, d) * recipe["init_weight_std"]))
        encoder.bias.fill_(recipe["init_hidden_bias"])
        encoder.offset.zero_()  # PyDeep's visible offset: 0 (the whitened data's mean)
        decoder.bias.zero_()
        decoder.offset.fill_(recipe["init_hidden_offset"])
    bound = recipe["restrict_update_norm"] / lr

    def restrict(weight):  # PyDeep's restrict_gradient with restriction_norm='Cols'
        g = weight.grad
        g.mul_(torch.clamp(bound / g.norm(dim=1, keepdim=True).clamp_min(1e-30), max=1.0))

    encoder.weight.register_post_accumulate_grad_hook(restrict)
    ae.set_params(warm_start=True, max_epochs=1)
    return ae


def bench_sae(args, tr, te, ica_filters, quick, rows, extra):
    """PyDeep's sparse autoencoder, with its per-epoch table and filter statistics."""
    d = tr.shape[1]
    epochs = args.sae_epochs or (10 if quick else SAE_RECIPE["epochs"])
    ae = pydeep_sparse_autoencoder(d, args.seed)

    def table_row(epoch):
        # PyDeep's reconstruction error sums the squared error over the pixels
        return {"epoch": epoch, "RE train": d * float(np.mean(ae.reconstruction_error(tr))),
                "RE test": d * float(np.mean(ae.reconstruction_error(te))),
                "mean activation train": float(ae.transform(tr).mean()),
                "mean activation test": float(ae.transform(te).mean())}

    table = [table_row(0)]
    fit_s = 0.0
    for epoch in range(1, epochs + 1):
        with Timer() as t:
            ae.fit(tr)
        fit_s += t.seconds
        table.append(table_row(epoch))
        print("SAE epoch {epoch}: RE train {RE train:.2f}  test {RE test:.2f}  mean "
              "activation train {mean activation train:.4f}  test "
              "{mean activation test:.4f}".format(**table[-1]), flush=True)
    H = ae.transform(te)
    activity = H.mean(0)
    last = table[-1]
    row = {"model": f"sparse AE {d}-{SAE_RECIPE['n_hidden']} (PyDeep)", "fit s": fit_s,
           "epochs": epochs, "RE train": last["RE train"], "RE test": last["RE test"],
           "RE test, whitening only": d * float(np.mean(te ** 2)),
           "mean activation test": last["mean activation test"],
           "sparsity target": SAE_RECIPE["sparsity_target"],
           "units with mean activation > 10x target": int(
               (activity > 10 * SAE_RECIPE["sparsity_target"]).sum()),
           "units with mean activation < target / 10": int(
               (activity < SAE_RECIPE["sparsity_target"] / 10).sum()),
           "median fraction of patches a unit is > 0.5 on": float(
               np.median((H > 0.5).mean(0))),
           **filter_statistics(ae.components_, ica_filters)}
    rows.append(row)
    extra["sae_epochs"] = table
    extra["sae_filters"] = ae.components_
    return ae


def grbm_trace_point(rbm, tr, te, epoch, args) -> dict:
    """AIS and reverse-AIS log-likelihoods (``--trace-betas`` temperatures) of the
    GB-RBM after ``epoch`` epochs, with its reconstruction error and median sigma."""
    ais = rbm.log_partition("ais", n_chains=args.chains, n_betas=args.trace_betas,
                            random_state=0)
    lo, hi = rbm.log_partition_bounds_
    point = {"epochs": epoch, "LL train AIS": rbm.score(tr), "LL test AIS": rbm.score(te),
             "log Z AIS": ais, "log Z AIS -3sd": lo, "log Z AIS +3sd": hi}
    rais = rbm.log_partition("reverse_ais", n_betas=args.trace_betas, X=tr[:args.chains],
                             random_state=0)
    point.update({"LL test rAIS": rbm.score(te), "log Z rAIS": rais,
                  "reconstruction error test": float(rbm.reconstruction_error(te).mean()),
                  "sigma median": float(np.median(rbm.sigma_)),
                  "sigma min": float(np.min(rbm.sigma_)),
                  "weight norm median": float(np.median(
                      np.linalg.norm(rbm.components_, axis=1)))})
    return point


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
        fit_s, done, trace = 0.0, 0, []
        for stop in sorted({e for e in args.grbm_trace if e < epochs} | {epochs}):
            rbm.set_params(max_epochs=stop - done, warm_start=done > 0)
            with Timer() as t:
                rbm.fit(tr)
            fit_s, done = fit_s + t.seconds, stop
            if args.grbm_trace:  # the likelihood along training (warm-started fits)
                trace.append(grbm_trace_point(rbm, tr, te, done, args))
                print("GB-RBM epoch {epochs}: test LL AIS {LL test AIS:.2f} (log Z "
                      "{log Z AIS:.2f}), reverse AIS {LL test rAIS:.2f} (log Z {log Z rAIS:.2f}"
                      "), sigma median {sigma median:.3f}".format(**trace[-1]), flush=True)
        if trace:
            results["grbm_trace"] = trace
        with Timer() as ta:
            ais = rbm.log_partition("ais", n_chains=args.chains, n_betas=betas, random_state=0)
        ais_bounds = rbm.log_partition_bounds_
        ll_ais = (rbm.score(tr), rbm.score(te))
        rais = rbm.log_partition("reverse_ais", n_betas=betas, X=tr[:args.chains],
                                 random_state=0)
        ll_rais = (rbm.score(tr), rbm.score(te))
        row = {"model": f"GB-RBM {d}-{d} (AIS LL)", "fit s": fit_s, "epochs": epochs,
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
    extra = {}
    if "sae" in args.models:
        sae = bench_sae(args, tr, te, None if ica_basis is None else W, quick, rows, extra)
    filter_rows = []
    if ica_basis is not None:  # the filter statistics' reference points
        filter_rows.append({"filters": "ICA (this run)", **filter_statistics(W)})
        filter_rows.append({"filters": "ICA, 2nd run (seed + 1)",
                            **filter_statistics(ica2.components_, W)})
        if "grbm" in args.models:
            filter_rows.append({"filters": f"GB-RBM {d}-{d}",
                                **filter_statistics(rbm.components_, W)})
        if "sae" in args.models:
            filter_rows.append({"filters": "sparse AE",
                                **filter_statistics(extra["sae_filters"], W)})
        # the sparse AE's start (the same draws, scaled by 0.01)
        noise = np.random.RandomState(args.seed).randn(SAE_RECIPE["n_hidden"], W.shape[1])
        filter_rows.append({"filters": f"random Gaussian ({len(noise)})",
                            **filter_statistics(noise, W)})
    if args.save_filters:  # for a look at the filters (not a result file)
        arrays = {}
        if ica_basis is not None:
            arrays["ica"] = W
        if "grbm" in args.models:
            arrays["grbm"] = rbm.components_
            arrays["grbm_activity"] = rbm.transform(tr).mean(0)
        if "sae" in args.models:
            arrays["sae"] = sae.components_
            arrays["sae_activity"] = sae.transform(tr).mean(0)
        np.savez_compressed(args.save_filters, **arrays)
    print(f"\n{SIZE}x{SIZE} natural patches of the sample images: {n_train} train, {n_test} "
          "test, ZCA on the training patches; log-likelihoods per patch (nats, whitened)")
    print_table(rows, ["model", "fit s", "n_iter", "converged", "epochs", "LL train",
                       "LL test", "PyDeep LL", "Amari vs 2nd ICA run", "Amari vs ICA basis",
                       "source excess kurtosis"])
    if "sae" in args.models:
        print("\nSparse autoencoder: reconstruction error (sum over pixels, whitened) and "
              "mean hidden activation")
        print_table(rows[-1:], ["model", "epochs", "RE train", "RE test",
                                "RE test, whitening only", "mean activation test",
                                "sparsity target",
                                "units with mean activation > 10x target",
                                "units with mean activation < target / 10"])
    if filter_rows:
        print("\nFilters: localised, oriented, like ICA's? (see filter_statistics)")
        print_table(filter_rows, ["filters", "best-match |cos| vs ICA", "ICA coverage",
                                  "orientation selectivity", "spatial spread",
                                  "localised share", "optimal wavelength"])
    results["patches"] = {"n_train": n_train, "n_test": n_test, "rows": rows,
                          "filters": filter_rows}
    if "sae" in args.models:
        results["patches"]["sae_epochs"] = extra["sae_epochs"]
        results["patches"]["sae_recipe"] = SAE_RECIPE


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small data and short fits")
    p.add_argument("--models", nargs="+", default=["synthetic", "ica", "grbm"],
                   choices=["synthetic", "ica", "grbm", "sae"],
                   help="'sae' also fits ICA (the filters' reference)")
    p.add_argument("--sae-epochs", type=int, default=None,
                   help="sparse AE epochs (default PyDeep's 20; quick 10)")
    p.add_argument("--epochs", type=int, default=None,
                   help="GB-RBM epochs (default 200; quick 10)")
    p.add_argument("--betas", type=int, default=None,
                   help="AIS temperatures (default 10000; quick 2000)")
    p.add_argument("--grbm-trace", type=int, nargs="*", default=[],
                   help="epochs after which to measure the GB-RBM's AIS and reverse-AIS "
                        "log-likelihood (warm-started fits; 0 is the initialisation)")
    p.add_argument("--trace-betas", type=int, default=3000,
                   help="AIS temperatures of each --grbm-trace point")
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
    if "sae" in args.models and "ica" not in args.models:
        args.models.append("ica")
    torch.set_num_threads(args.threads)
    results = {}
    from threadpoolctl import threadpool_limits

    with threadpool_limits(args.threads):
        if "synthetic" in args.models:
            bench_synthetic(args, 8000 if args.quick else 40000, results)
        if set(args.models) - {"synthetic"}:
            bench_models(args, args.quick, results)
    name = "natural_patches_sae" if "sae" in args.models else "natural_patches"
    path = args.json or RESULTS / f"{name}_{'quick' if args.quick else 'full'}.json"
    save_json(str(path), {"args": vars(args), "results": results})


if __name__ == "__main__":
    main()
