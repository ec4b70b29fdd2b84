"""GMMRepresentation (deep generative decoder) vs PCA / AutoEncoder + GaussianMixture on MNIST.

Fits on the first ``--n-train`` MNIST images (default 10k, pixels / 255) and reports, per
method and representation dimension: cluster ARI / ACC / NMI of the training set, ARI of
``--n-new`` unseen images (the next 10k) assigned by the fitted model, held-out
reconstruction MSE, fit time and the time to place the new images (``transform``). For the
DGD the ratio transform-time / fit-time is the figure of merit of encoder-free inference.
Fit and transform times are wall-clock seconds; the CPU seconds of this process are kept in
the JSON (``fit_cpu_s``, ``transform_cpu_s``) since other processes on a shared machine
inflate the wall clock.

``--vade`` adds clustpy's VaDE (a peer, not a dependency: ``pip install --no-deps
clustpy==0.0.3`` and ``PYTHONPATH=../shared/peers/shims``) with a mirrored VAE of the
same hidden widths as the DGD decoder, ``--vade-pretrain-epochs`` +
``--vade-clustering-epochs`` epochs and its default optimizers; its clusters are clustpy's
``labels_`` (a full-covariance GaussianMixture refitted on the codes, started from VaDE's
means) and ``predict`` for the new images.

    python benchmarks/bench_dgd.py --quick          # 1 seed, 60 epochs (a few minutes)
    python benchmarks/bench_dgd.py --seeds 5 --epochs 200 --json benchmarks/results/dgd.json
    python benchmarks/bench_dgd.py --dims 5 --pca-dims --no-ae --epochs 150 \\
        --dgd-params '{"learning_rate": 5e-4}'   # one GMMRepresentation setting
    python benchmarks/bench_dgd.py --dims 5 --pca-dims --no-ae --epochs 150 --threads 1 \\
        --dgd-params '{"init": "autoencoder"}' --seed-list 0   # started from an autoencoder

``--defaults`` runs another benchmark instead: ``GMMRepresentation(n_components=K,
random_state=s)`` at its defaults (K the number of classes) on the data panel of
``_panel.py``, next to ``KMeans(K, n_init=10)`` and ``PCA(10) + GaussianMixture(K, "full")``
with the same seed; ACC / NMI / ARI of the training rows (``labels_``), the agreement of
``predict(X)`` with ``labels_`` (``--agreement``), fit seconds and fit time as a ratio to
KMeans's in the same process:

    python benchmarks/bench_dgd.py --defaults --sets digits wine breast_cancer aniso_blobs \
        varied_blobs emb384 --seed-list 0 1 2 3 4 --threads 1 \
        --json benchmarks/results/dgd_defaults_panel.json

The MNIST file comes from ``$SKDEEPCLUST_MNIST`` (see benchmarks/_common.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Timer, mean_sd, mnist_path, print_table, save_json, scores  # noqa: E402

from skdeepclust.datasets import load_mnist  # noqa: E402
from skdeepclust.representation import AutoEncoder, GMMRepresentation  # noqa: E402


def _scores(y, labels):
    """ARI / ACC / NMI under this script's (upper-case) column names."""
    return {k.upper(): v for k, v in scores(y, labels).items()}


def run_pca(X, y, X_new, y_new, dim, seed, k):
    with Timer() as t:
        pca = PCA(dim, random_state=seed).fit(X)
        Z = pca.transform(X)
        gm = GaussianMixture(k, covariance_type="full", random_state=seed).fit(Z)
        labels = gm.predict(Z)
    with Timer() as tt:
        Z_new = pca.transform(X_new)
    mse = float(np.mean((pca.inverse_transform(Z_new) - X_new) ** 2))
    return dict(fit_s=t.seconds, transform_s=tt.seconds, fit_cpu_s=t.cpu_seconds,
                transform_cpu_s=tt.cpu_seconds, held_out_ARI=adjusted_rand_score(
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
    return dict(fit_s=t.seconds, transform_s=tt.seconds, fit_cpu_s=t.cpu_seconds,
                transform_cpu_s=tt.cpu_seconds, held_out_ARI=adjusted_rand_score(
                    y_new, gm.predict(Z_new)), held_out_MSE=mse, **_scores(y, labels))


def run_vade(X, y, X_new, y_new, dim, seed, k, pretrain_epochs, clustering_epochs, hidden):
    from clustpy.deep import VaDE
    from clustpy.deep.vade import _VaDE_VAE

    network = (_VaDE_VAE, {"layers": [X.shape[1], *hidden, dim],
                           "decoder_output_fn": torch.nn.Sigmoid})
    vade = VaDE(k, pretrain_epochs=pretrain_epochs, clustering_epochs=clustering_epochs,
                embedding_size=dim, neural_network=network, device="cpu", random_state=seed)
    with Timer() as t:
        vade.fit(X)
    with Timer() as tt:
        Z_new = vade.transform(X_new)
    labels_new = vade.predict(X_new)
    with torch.no_grad():
        X_rec = vade.neural_network_trained_.decode(torch.as_tensor(Z_new)).numpy()
    return dict(fit_s=t.seconds, transform_s=tt.seconds, fit_cpu_s=t.cpu_seconds,
                transform_cpu_s=tt.cpu_seconds,
                held_out_ARI=adjusted_rand_score(y_new, labels_new),
                held_out_MSE=float(np.mean((X_rec - X_new) ** 2)),
                vade_head_ARI=adjusted_rand_score(y, vade.vade_labels_), **_scores(y, vade.labels_))


def run_dgd(X, y, X_new, y_new, dim, seed, k, epochs, hidden, transform_epochs,
            transform_lr, params=None):
    inference = {"transform_epochs": transform_epochs, "transform_learning_rate": transform_lr}
    overrides = {key: v for key, v in inference.items() if v is not None}
    overrides.update(params or {})
    dgd = GMMRepresentation(k, latent_dim=dim, hidden_layer_sizes=hidden,
                            output_distribution="bernoulli", max_epochs=epochs, tol=None,
                            device="cpu", random_state=seed, **overrides)
    with Timer() as t:
        dgd.fit(X)
    with Timer() as tt:
        Z_new = dgd.transform(X_new)
    prior = dgd.module_.prior
    with torch.no_grad():
        labels_new = prior.predict(torch.as_tensor(Z_new)).numpy()
    mse = float(np.mean((dgd.inverse_transform(Z_new) - X_new) ** 2))
    # clustpy's VaDE reports a full-covariance GaussianMixture refitted on its codes from its
    # own means; the same post-processing of the DGD representation, for a like-for-like row.
    refit = GaussianMixture(k, covariance_type="full", means_init=dgd.means_,
                            random_state=seed).fit(dgd.embedding_)
    return dict(fit_s=t.seconds, transform_s=tt.seconds, fit_cpu_s=t.cpu_seconds,
                transform_cpu_s=tt.cpu_seconds, held_out_ARI=adjusted_rand_score(
                    y_new, labels_new), held_out_MSE=mse,
                refit_ARI=adjusted_rand_score(y, refit.predict(dgd.embedding_)),
                refit_held_out_ARI=adjusted_rand_score(y_new, refit.predict(Z_new)),
                **_scores(y, dgd.labels_))


def run_defaults(args):
    """GMMRepresentation at its defaults vs KMeans and PCA + GaussianMixture on the panel."""
    import warnings

    from sklearn.cluster import KMeans
    from sklearn.pipeline import make_pipeline

    from _panel import PANEL

    seeds = args.seed_list if args.seed_list is not None else list(range(args.seeds))
    runs, rows = {}, []
    for name in args.sets:
        X, y = PANEL[name]()
        k = len(np.unique(y))
        for seed in seeds:
            with Timer() as tk:
                km = KMeans(k, n_init=10, random_state=seed).fit(X)
            with Timer() as tp:
                pipe = make_pipeline(PCA(min(10, X.shape[1]), random_state=seed),
                                     GaussianMixture(k, covariance_type="full",
                                                     random_state=seed)).fit(X)
                pca_labels = pipe.predict(X)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                with Timer() as t:
                    dgd = GMMRepresentation(n_components=k, random_state=seed).fit(X)
            run = {"seed": seed, "fit_s": t.seconds, "fit_cpu_s": t.cpu_seconds,
                   "kmeans_s": tk.seconds, "pca_gmm_s": tp.seconds,
                   "time_over_kmeans": t.seconds / tk.seconds,
                   "n_iter": dgd.n_iter_, "converged": bool(dgd.converged_),
                   "resolved": {key: str(getattr(dgd, "_" + key)) for key in (
                       "latent_dim", "covariance_type", "init", "batch_size", "max_epochs",
                       "log_var_prior_std")},
                   "warnings": [str(w.message) for w in caught],
                   "dgd": scores(y, dgd.labels_), "kmeans": scores(y, km.labels_),
                   "pca_gmm": scores(y, pca_labels)}
            if args.agreement:
                with Timer() as tt:
                    run["predict_agreement"] = float(np.mean(dgd.predict(X) == dgd.labels_))
                run["predict_s"] = tt.seconds
            runs.setdefault(name, []).append(run)
            print(name, json.dumps({key: run[key] for key in ("seed", "fit_s", "dgd", "kmeans",
                                                              "pca_gmm")}), flush=True)
        rs = runs[name]
        for method in ("dgd", "kmeans", "pca_gmm"):
            row = {"data": name, "method": method}
            for key in ("acc", "nmi", "ari"):
                values = [r[method][key] for r in rs]
                row[key.upper()] = mean_sd(values)
                row[f"worst {key.upper()}"] = f"{min(values):.3f}"
            if method == "dgd":
                row["fit_s"] = f"{np.mean([r['fit_s'] for r in rs]):.1f}"
                row["x KMeans"] = f"{np.mean([r['time_over_kmeans'] for r in rs]):.0f}"
                row["ARI >= PCA+GMM"] = sum(r["dgd"]["ari"] >= r["pca_gmm"]["ari"] - 1e-9
                                            for r in rs)
                row["ACC >= KMeans"] = sum(r["dgd"]["acc"] >= r["kmeans"]["acc"] - 1e-9
                                           for r in rs)
            rows.append(row)
    print()
    print_table(rows, ["data", "method", "ACC", "worst ACC", "NMI", "worst NMI", "ARI",
                       "worst ARI", "fit_s", "x KMeans", "ARI >= PCA+GMM", "ACC >= KMeans"])
    save_json(args.json, {"args": vars(args), "runs": runs, "table": rows})


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="1 seed, 60 epochs")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--transform-epochs", type=int, default=None,
                   help="GMMRepresentation transform_epochs (default: the estimator's)")
    p.add_argument("--transform-lr", type=float, default=None,
                   help="GMMRepresentation transform_learning_rate (default: the estimator's)")
    p.add_argument("--dgd-params", type=json.loads, default={},
                   help='GMMRepresentation parameters to override, as JSON, e.g. '
                        '\'{"learning_rate": 5e-4}\'')
    p.add_argument("--seed-list", type=int, nargs="+", default=None,
                   help="run exactly these seeds (overrides --seeds)")
    p.add_argument("--vade", action="store_true", help="add clustpy's VaDE (a peer)")
    p.add_argument("--vade-dims", type=int, nargs="+", default=[10])
    p.add_argument("--vade-pretrain-epochs", type=int, default=50)
    p.add_argument("--vade-clustering-epochs", type=int, default=100)
    p.add_argument("--n-train", type=int, default=10_000)
    p.add_argument("--n-new", type=int, default=10_000)
    p.add_argument("--dims", type=int, nargs="+", default=[5, 10])
    p.add_argument("--pca-dims", type=int, nargs="*", default=[5, 10, 50])
    p.add_argument("--hidden", type=int, nargs="+", default=[256, 256])
    p.add_argument("--no-ae", action="store_true", help="skip AutoEncoder + GaussianMixture")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    p.add_argument("--json")
    p.add_argument("--defaults", action="store_true",
                   help="GMMRepresentation at its defaults on the panel of _panel.py")
    p.add_argument("--sets", nargs="+", default=["digits"], help="panel sets for --defaults")
    p.add_argument("--agreement", action="store_true",
                   help="--defaults: also time predict(X) and its agreement with labels_")
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.epochs = 1, 60
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.defaults:
        return run_defaults(args)

    X_all, y_all = load_mnist(mnist_path(), n_samples=args.n_train + args.n_new)
    X, y = X_all[: args.n_train], y_all[: args.n_train]
    X_new, y_new = X_all[args.n_train :], y_all[args.n_train :]
    k, hidden = 10, tuple(args.hidden)
    seeds = args.seed_list if args.seed_list is not None else list(range(args.seeds))
    print(f"MNIST: {len(X)} training, {len(X_new)} new images; seeds {seeds}, "
          f"{args.epochs} epochs, decoder/encoder hidden {hidden}, "
          f"torch threads {torch.get_num_threads()}"
          + (f", GMMRepresentation overrides {args.dgd_params}" if args.dgd_params else ""))

    runs: dict[str, list[dict]] = {}
    for seed in seeds:
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
                                        args.transform_epochs, args.transform_lr,
                                        args.dgd_params)))
        for dim in args.vade_dims if args.vade else []:
            runs.setdefault(f"clustpy VaDE({dim})", []).append(
                dict(dim=dim, **run_vade(X, y, X_new, y_new, dim, seed, k,
                                         args.vade_pretrain_epochs,
                                         args.vade_clustering_epochs, hidden)))
        print(f"seed {seed} done", flush=True)

    rows = []
    for name, rs in runs.items():
        row = {"method": name, "dim": rs[0]["dim"]}
        for key in ["ARI", "ACC", "NMI", "held_out_ARI", "held_out_MSE"]:
            row[key] = mean_sd([r[key] for r in rs])
        # model's own clusters vs a full GaussianMixture refitted on the representation
        # (DGD: `refit_ARI`; VaDE: its labels_ are already refitted, `vade_head_ARI` is its own)
        if "refit_ARI" in rs[0]:
            row.update(own_mixture_ARI=row["ARI"],
                       refit_full_ARI=mean_sd([r["refit_ARI"] for r in rs]))
        elif "vade_head_ARI" in rs[0]:
            row.update(own_mixture_ARI=mean_sd([r["vade_head_ARI"] for r in rs]),
                       refit_full_ARI=row["ARI"])
        fit = np.mean([r["fit_s"] for r in rs])
        tr = np.mean([r["transform_s"] for r in rs])
        fit_cpu = np.mean([r["fit_cpu_s"] for r in rs])
        tr_cpu = np.mean([r["transform_cpu_s"] for r in rs])
        row.update(fit_s=f"{fit:.1f}", transform_s=f"{tr:.2f}", fit_cpu_s=f"{fit_cpu:.1f}",
                   transform_cpu_s=f"{tr_cpu:.2f}", transform_over_fit=f"{tr / fit:.3f}")
        rows.append(row)
    print()
    print_table(rows, ["method", "dim", "ARI", "ACC", "NMI", "own_mixture_ARI", "refit_full_ARI",
                       "held_out_ARI", "held_out_MSE",
                       "fit_s", "transform_s", "fit_cpu_s", "transform_cpu_s",
                       "transform_over_fit"])
    print("\nARI/ACC/NMI: training images (fit); held_out_*: the new images, placed by "
          "transform (DGD: optimised with the decoder frozen) then the fitted mixture.")
    save_json(args.json, {"args": vars(args), "runs": runs, "table": rows})


if __name__ == "__main__":
    main()
