"""GMMRepresentation (deep generative decoder) vs PCA / AutoEncoder + GaussianMixture on MNIST.

Fits on the first ``--n-train`` MNIST images (default 10k, pixels / 255) and reports, per
method and representation dimension: cluster ARI / ACC / NMI of the training set, ARI of
``--n-new`` unseen images (the next 10k) assigned by the fitted model, held-out
reconstruction MSE, fit time and the time to place the new images (``transform``). For the
DGD the ratio transform-time / fit-time is the figure of merit of encoder-free inference.

    python benchmarks/bench_dgd.py --quick          # 1 seed, 60 epochs (a few minutes)
    python benchmarks/bench_dgd.py --seeds 5 --epochs 200 --json benchmarks/results/dgd.json

The MNIST file comes from ``$SKDEEPCLUST_MNIST`` (see benchmarks/_common.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.mixture import GaussianMixture

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Timer, mean_sd, mnist_path, print_table, save_json  # noqa: E402

from skdeepclust.datasets import load_mnist  # noqa: E402
from skdeepclust.metrics import cluster_accuracy  # noqa: E402
from skdeepclust.representation import AutoEncoder, GMMRepresentation  # noqa: E402


def _scores(y, labels):
    return dict(ARI=adjusted_rand_score(y, labels), ACC=cluster_accuracy(y, labels),
                NMI=normalized_mutual_info_score(y, labels))


def run_pca(X, y, X_new, y_new, dim, seed, k):
    with Timer() as t:
        pca = PCA(dim, random_state=seed).fit(X)
        Z = pca.transform(X)
        gm = GaussianMixture(k, covariance_type="full", random_state=seed).fit(Z)
        labels = gm.predict(Z)
    with Timer() as tt:
        Z_new = pca.transform(X_new)
    mse = float(np.mean((pca.inverse_transform(Z_new) - X_new) ** 2))
    return dict(fit_s=t.seconds, transform_s=tt.seconds, held_out_ARI=adjusted_rand_score(
        y_new, gm.predict(Z_new)), held_out_MSE=mse, **_scores(y, labels))


def run_ae(X, y, X_new, y_new, dim, seed, k, epochs, hidden):
    ae = AutoEncoder(dim, hidden_layer_sizes=hidden, output_activation="sigmoid",
                     loss="cross_entropy", max_epochs=epochs, batch_size=128, tol=None,
                     device="cpu", random_state=seed)
    with Timer() as t:
        Z = ae.fit_transform(X)
        gm = GaussianMixture(k, covariance_type="full", random_state=seed).fit(Z)
        labels = gm.predict(Z)
    with Timer() as tt:
        Z_new = ae.transform(X_new)
    mse = float(np.mean((ae.inverse_transform(Z_new) - X_new) ** 2))
    return dict(fit_s=t.seconds, transform_s=tt.seconds, held_out_ARI=adjusted_rand_score(
        y_new, gm.predict(Z_new)), held_out_MSE=mse, **_scores(y, labels))


def run_dgd(X, y, X_new, y_new, dim, seed, k, epochs, hidden, transform_epochs):
    dgd = GMMRepresentation(k, latent_dim=dim, hidden_layer_sizes=hidden,
                            output_distribution="bernoulli", max_epochs=epochs, tol=None,
                            transform_epochs=transform_epochs, device="cpu",
                            random_state=seed)
    with Timer() as t:
        dgd.fit(X)
    with Timer() as tt:
        Z_new = dgd.transform(X_new)
    prior = dgd.module_.prior
    with torch.no_grad():
        labels_new = prior.predict(torch.as_tensor(Z_new)).numpy()
    mse = float(np.mean((dgd.inverse_transform(Z_new) - X_new) ** 2))
    return dict(fit_s=t.seconds, transform_s=tt.seconds, held_out_ARI=adjusted_rand_score(
        y_new, labels_new), held_out_MSE=mse, **_scores(y, dgd.labels_))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="1 seed, 60 epochs")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--transform-epochs", type=int, default=50)
    p.add_argument("--n-train", type=int, default=10_000)
    p.add_argument("--n-new", type=int, default=10_000)
    p.add_argument("--dims", type=int, nargs="+", default=[5, 10])
    p.add_argument("--pca-dims", type=int, nargs="*", default=[5, 10, 50])
    p.add_argument("--hidden", type=int, nargs="+", default=[256, 256])
    p.add_argument("--no-ae", action="store_true", help="skip AutoEncoder + GaussianMixture")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    p.add_argument("--json")
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.epochs = 1, 60
    if args.threads:
        torch.set_num_threads(args.threads)

    X_all, y_all = load_mnist(mnist_path(), n_samples=args.n_train + args.n_new)
    X, y = X_all[: args.n_train], y_all[: args.n_train]
    X_new, y_new = X_all[args.n_train :], y_all[args.n_train :]
    k, hidden = 10, tuple(args.hidden)
    print(f"MNIST: {len(X)} training, {len(X_new)} new images; {args.seeds} seed(s), "
          f"{args.epochs} epochs, decoder/encoder hidden {hidden}, "
          f"torch threads {torch.get_num_threads()}")

    runs: dict[str, list[dict]] = {}
    for seed in range(args.seeds):
        for dim in args.pca_dims:
            runs.setdefault(f"PCA({dim}) + GMM(full)", []).append(
                dict(dim=dim, **run_pca(X, y, X_new, y_new, dim, seed, k)))
        for dim in args.dims:
            if not args.no_ae:
                runs.setdefault(f"AutoEncoder({dim}) + GMM(full)", []).append(
                    dict(dim=dim, **run_ae(X, y, X_new, y_new, dim, seed, k, args.epochs,
                                           hidden)))
            runs.setdefault(f"GMMRepresentation({dim})", []).append(
                dict(dim=dim, **run_dgd(X, y, X_new, y_new, dim, seed, k, args.epochs, hidden,
                                        args.transform_epochs)))
        print(f"seed {seed} done", flush=True)

    rows = []
    for name, rs in runs.items():
        row = {"method": name, "dim": rs[0]["dim"]}
        for key in ["ARI", "ACC", "NMI", "held_out_ARI", "held_out_MSE"]:
            row[key] = mean_sd([r[key] for r in rs])
        fit = np.mean([r["fit_s"] for r in rs])
        tr = np.mean([r["transform_s"] for r in rs])
        row.update(fit_s=f"{fit:.1f}", transform_s=f"{tr:.2f}", transform_over_fit=f"{tr / fit:.3f}")
        rows.append(row)
    print()
    print_table(rows, ["method", "dim", "ARI", "ACC", "NMI", "held_out_ARI", "held_out_MSE",
                       "fit_s", "transform_s", "transform_over_fit"])
    print("\nARI/ACC/NMI: training images (fit); held_out_*: the new images, placed by "
          "transform (DGD: optimised with the decoder frozen) then the fitted mixture.")
    save_json(args.json, {"args": vars(args), "runs": runs, "table": rows})


if __name__ == "__main__":
    main()
