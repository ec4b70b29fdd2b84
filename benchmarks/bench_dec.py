"""DEC and IDEC: skdeepclust next to KMeans and clustpy, side by side in one process.

For every seed, each library pretrains its own autoencoder d-500-500-2000-10 (same widths,
same optimizer, learning rate, batch size and number of epochs), then runs AE+KMeans, DEC
and IDEC from that one pretrained network. The table gives mean ± sd over the seeds of
ACC (Hungarian), NMI (arithmetic), ARI and the wall-clock seconds of each stage, and the
total time of a fit (pretraining included).

clustpy is a benchmark-only peer: ``pip install --no-deps clustpy==0.0.3`` and put
``../shared/peers/shims`` first on ``PYTHONPATH`` (see ``../shared/peers/README.md``).
It is skipped when it cannot be imported.

Examples
--------
Quick run on digits (about a minute)::

    nice -n 10 python benchmarks/bench_dec.py --data digits --quick

Equal budget on MNIST-10k, 3 seeds::

    nice -n 10 python benchmarks/bench_dec.py --data mnist10k --seeds 0 1 2 \\
        --pretrain-epochs 20 --clustering-epochs 20

skdeepclust's own recipe (DECClustering defaults) on all 70k MNIST images::

    nice -n 10 python benchmarks/bench_dec.py --data mnist70k --methods recipe --seeds 0 1 2

Time to accuracy of ``DECClustering(n_clusters=10)`` at its defaults (ACC against wall and
CPU seconds at the start of the clustering phase and after each of its epochs)::

    python benchmarks/bench_dec.py --data mnist70k --methods trace --seeds 0 1 2 --threads 2

The same within 15 minutes on 2 cores (the clustering phase capped at 15 epochs)::

    python benchmarks/bench_dec.py --data mnist70k --methods recipe --variants dec \
        --seeds 0 --threads 2 --recipe-params '{"max_epochs": 15}'
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import warnings
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")  # clustpy's progress bars cannot be turned off
import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.cluster import KMeans  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Timer, machine, mnist_path, scores  # noqa: E402

from skdeepclust.datasets import load_mnist  # noqa: E402
from skdeepclust.metrics import cluster_accuracy  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHIMS = ROOT.parent / "shared" / "peers" / "shims"
HIDDEN = (500, 500, 2000)
N_COMPONENTS = 10


# ---------------------------------------------------------------------------------- data
def load(name: str, mnist_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """digits / 16, or MNIST / 255 (first 10k rows, or all 70k), float32."""
    if name == "digits":
        X, y = load_digits(return_X_y=True)
        return (X / 16.0).astype(np.float32), y
    n = {"mnist10k": 10_000, "mnist70k": 70_000}[name]
    return load_mnist(mnist_path, n_samples=n)




# ------------------------------------------------------------------------------- methods
def _phases(t_pre: Timer, t_cluster: Timer) -> dict:
    """Wall seconds of pretraining, clustering and the whole fit; CPU seconds of the fit."""
    return {"pretrain_s": t_pre.seconds, "cluster_s": t_cluster.seconds,
            "fit_s": t_pre.seconds + t_cluster.seconds,
            "cpu_s": t_pre.cpu_seconds + t_cluster.cpu_seconds}


def run_kmeans(X, y, k, seed, args):
    with Timer() as t:
        labels = KMeans(k, n_init=20, random_state=seed).fit_predict(X)
    return [("KMeans(n_init=20)", {**scores(y, labels), "fit_s": t.seconds,
                                   "cpu_s": t.cpu_seconds})]


def run_clustpy(X, y, k, seed, args):
    """clustpy's FeedforwardAutoencoder, DEC and IDEC (their defaults but the budget)."""
    if str(SHIMS) not in sys.path:
        sys.path.insert(0, str(SHIMS))
    from clustpy.deep import DEC, IDEC
    from clustpy.deep.neural_networks import FeedforwardAutoencoder

    rows = []
    ae = FeedforwardAutoencoder([X.shape[1], *HIDDEN, N_COMPONENTS], random_state=seed)
    with Timer() as t_ae:
        ae.fit(n_epochs=args.pretrain_epochs, data=X, batch_size=args.batch_size,
               optimizer_params={"lr": args.pretrain_lr})
    with Timer() as t_km:
        with torch.no_grad():
            Z = ae.encode(torch.from_numpy(X)).numpy()
        labels = KMeans(k, n_init=20, random_state=seed).fit_predict(Z)
    rows.append(("clustpy AE+KMeans", {**scores(y, labels), **_phases(t_ae, t_km),
                                       "pretrain_cpu_s": t_ae.cpu_seconds,
                                       "ae_cpu_s_per_epoch": t_ae.cpu_seconds
                                       / args.pretrain_epochs}))
    common = dict(n_clusters=k, batch_size=args.batch_size,
                  clustering_epochs=args.clustering_epochs,
                  clustering_optimizer_params={"lr": args.clustering_lr},
                  initial_clustering_params={"n_init": 20}, random_state=seed)
    for name, cls in (("DEC", DEC), ("IDEC", IDEC)):
        if name.lower() not in args.variants:
            continue
        net = copy.deepcopy(ae)  # both start from the same pretrained weights
        with Timer() as t:
            model = cls(neural_network=net, pretrain_epochs=0, **common).fit(X)
        # clustpy's labels_ re-run KMeans on the final embedding; dec_labels_ are DEC's own.
        rows.append((f"clustpy {name}", {**scores(y, model.dec_labels_), **_phases(t_ae, t),
                                         "cluster_cpu_s": t.cpu_seconds,
                                         # the fit includes the same initial KMeans
                                         "dec_cpu_s_per_epoch": max(
                                             t.cpu_seconds - t_km.cpu_seconds, 0)
                                         / max(args.clustering_epochs, 1),
                                         "acc_kmeans_relabel": float(
                                             cluster_accuracy(y, model.labels_))}))
    return rows


def _our_autoencoder(X, seed, args):
    from skdeepclust.representation import AutoEncoder

    return AutoEncoder(
        n_components=N_COMPONENTS, hidden_layer_sizes=HIDDEN, activation="leaky_relu",
        optimizer="adam", learning_rate=args.pretrain_lr, batch_size=args.batch_size,
        max_epochs=args.pretrain_epochs, device="cpu", random_state=seed,
    )


def run_ours(X, y, k, seed, args):
    """skdeepclust at clustpy's budget: the same widths, optimizer, lr, batch and epochs."""
    from skdeepclust.cluster import DECClustering

    rows = []
    with Timer() as t_ae:
        ae = _our_autoencoder(X, seed, args).fit(X)
    with Timer() as t_km:
        labels = KMeans(k, n_init=20, random_state=seed).fit_predict(ae.transform(X))
    rows.append(("skdeepclust AE+KMeans", {**scores(y, labels), **_phases(t_ae, t_km),
                                           "pretrain_cpu_s": t_ae.cpu_seconds,
                                           "ae_cpu_s_per_epoch": t_ae.cpu_seconds
                                           / args.pretrain_epochs}))
    for name, weight in (("DEC", 0.0), ("IDEC", 1.0)):
        if name.lower() not in args.variants:
            continue
        # IDEC: L = 1.0 L_r + 0.1 L_c (clustering_weight="auto"), as clustpy's IDEC.
        model = DECClustering(
            n_clusters=k, autoencoder=ae, reconstruction_weight=weight,
            optimizer="adam", learning_rate=args.clustering_lr, batch_size=args.batch_size,
            max_epochs=args.clustering_epochs, tol=args.tol, device="cpu", random_state=seed,
        )
        with Timer() as t:
            labels = model.fit_predict(X)
        rows.append((f"skdeepclust {name}", {**scores(y, labels), **_phases(t_ae, t),
                                             "cluster_cpu_s": t.cpu_seconds,
                                             # the fit includes the same initial KMeans
                                             "dec_cpu_s_per_epoch": max(
                                                 t.cpu_seconds - t_km.cpu_seconds, 0)
                                             / max(model.n_iter_, 1),
                                             "n_iter": int(model.n_iter_)}))
    return rows


def run_recipe(X, y, k, seed, args):
    """DECClustering's defaults: the library's own pretraining recipe and clustering phase.

    The default autoencoder (what ``autoencoder=None`` pretrains) is fitted once, timed, and
    shared by DEC and IDEC; each fit time is pretraining + clustering.
    """
    from skdeepclust.cluster import DECClustering
    from skdeepclust.cluster._nested_autoencoder import default_autoencoder

    rows = []
    ae = default_autoencoder(X.shape[0], X.shape[1], device="cpu", random_state=seed,
                             verbose=args.verbose)
    with Timer() as t_ae:
        ae.fit(X)
    if args.save_ae:
        import pickle

        path = Path(str(args.save_ae).format(seed=seed, data=args.data))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pickle.dumps(ae))
    with Timer() as t_km:
        km = KMeans(k, n_init=20, random_state=seed).fit_predict(ae.transform(X))
    rows.append(("skdeepclust AE+KMeans (recipe)", {
        **scores(y, km), **_phases(t_ae, t_km), "pretrain_cpu_s": t_ae.cpu_seconds,
        "pretrain_epochs": int(ae.n_iter_)}))
    for name, weight in (("DEC", 0.0), ("IDEC", 1.0)):
        if name.lower() not in args.variants:
            continue
        model = DECClustering(n_clusters=k, autoencoder=ae, reconstruction_weight=weight,
                              device="cpu", random_state=seed, verbose=args.verbose,
                              **args.recipe_params)
        with Timer() as t:
            labels = model.fit_predict(X)
        rows.append((f"skdeepclust {name} (recipe)", {
            **scores(y, labels), **_phases(t_ae, t), "pretrain_cpu_s": t_ae.cpu_seconds,
            "cluster_cpu_s": t.cpu_seconds, "n_iter": int(model.n_iter_),
            "converged": bool(model.converged_),
        }))
    return rows


def run_trace(X, y, k, seed, args):
    """Time to accuracy of ``DECClustering(n_clusters=k, random_state=seed)`` at its defaults.

    One fit from scratch (pretraining included). The clock (wall and CPU seconds of this
    process) is read when the clustering phase starts (the k-means labels on the pretrained
    code) and at the end of each clustering epoch, where the labels of the current network
    are scored; the scoring passes are timed apart and left out of the clock. The fit is the
    same as without the trace: the hook only reads the network.
    """
    import time

    from skdeepclust.cluster import DECClustering, _dec

    model = DECClustering(n_clusters=k, device="cpu", random_state=seed, verbose=args.verbose,
                          **args.recipe_params)
    X_t = torch.as_tensor(X)
    clock = {"wall": time.perf_counter(), "cpu": time.process_time(), "off_wall": 0.0,
             "off_cpu": 0.0}
    points = []

    def mark(phase):
        wall, cpu = time.perf_counter(), time.process_time()
        module = model.module_
        was_training = module.training
        module.eval()
        with torch.no_grad():
            labels = torch.cat([module(X_t[s:s + 4096].to(next(module.parameters()).dtype))
                                .argmax(dim=1) for s in range(0, len(X_t), 4096)]).numpy()
        module.train(was_training)
        points.append({"phase": phase, **scores(y, labels),
                       "wall_s": wall - clock["wall"] - clock["off_wall"],
                       "cpu_s": cpu - clock["cpu"] - clock["off_cpu"]})
        clock["off_wall"] += time.perf_counter() - wall
        clock["off_cpu"] += time.process_time() - cpu

    train_loop = _dec.train_loop

    def traced(step, **kwargs):
        mark("start")
        on_epoch_end = kwargs.get("on_epoch_end")

        def hook(epoch, loss):
            done = on_epoch_end(epoch, loss) if on_epoch_end is not None else False
            mark(f"epoch {len(points)}")
            return done

        kwargs["on_epoch_end"] = hook
        return train_loop(step, **kwargs)

    _dec.train_loop = traced
    try:
        labels = model.fit_predict(X)
    finally:
        _dec.train_loop = train_loop
    wall, cpu = time.perf_counter(), time.process_time()
    end = {"phase": "fit", **scores(y, labels),
           "wall_s": wall - clock["wall"] - clock["off_wall"],
           "cpu_s": cpu - clock["cpu"] - clock["off_cpu"]}
    return [("skdeepclust DEC defaults (trace)", {
        **{key: end[key] for key in ("acc", "nmi", "ari")}, "fit_s": end["wall_s"],
        "cpu_s": end["cpu_s"], "pretrain_s": points[0]["wall_s"] if points else None,
        "n_iter": int(model.n_iter_), "converged": bool(model.converged_),
        "trace": points + [end]})]


METHODS = {"kmeans": run_kmeans, "ours": run_ours, "clustpy": run_clustpy, "recipe": run_recipe,
           "trace": run_trace}


# ----------------------------------------------------------------------------------- main
def summarize(results: dict) -> str:
    cols = ["acc", "nmi", "ari", "pretrain_s", "cluster_s", "fit_s", "cpu_s"]
    lines = [f"{'method':34s} " + " ".join(f"{c:>15s}" for c in cols)]
    for name, runs in results.items():
        cells = []
        for c in cols:
            vals = [r[c] for r in runs if r.get(c) is not None]
            if not vals:
                cells.append(f"{'-':>15s}")
            elif c.endswith("_s"):
                cells.append(f"{np.mean(vals):9.1f} ±{np.std(vals):4.1f}")
            else:
                cells.append(f"{np.mean(vals):9.3f} ±{np.std(vals):.3f}")
        lines.append(f"{name:34s} " + " ".join(cells) + f"  (n={len(runs)})")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="digits", choices=["digits", "mnist10k", "mnist70k"])
    parser.add_argument("--mnist", type=Path, default=mnist_path(),
                        help="path to mnist.npz (keys X, y); default $SKDEEPCLUST_MNIST or "
                             "../shared/data/mnist.npz")
    parser.add_argument("--methods", default="kmeans,ours,clustpy",
                        help=f"comma-separated subset of {sorted(METHODS)}")
    parser.add_argument("--variants", default="dec,idec", help="dec, idec or both")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--pretrain-epochs", type=int, default=100)
    parser.add_argument("--clustering-epochs", type=int, default=150)
    parser.add_argument("--pretrain-lr", type=float, default=1e-3)
    parser.add_argument("--clustering-lr", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--tol", type=float, default=1e-3,
                        help="skdeepclust's label-change stopping rule (0 runs every "
                             "clustering epoch, as clustpy does)")
    parser.add_argument("--quick", action="store_true",
                        help="1 seed, 10 pretraining + 10 clustering epochs")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch.set_num_threads for this process (both libraries)")
    parser.add_argument("--verbose", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write every run's figures here")
    parser.add_argument("--save-ae", help="recipe: pickle each pretrained autoencoder to this "
                                          "path ({seed} and {data} are filled in)")
    parser.add_argument("--recipe-params", type=json.loads, default={},
                        help="recipe: DECClustering parameters to override, as JSON, e.g. "
                             "'{\"max_epochs\": 15}'")
    parser.add_argument("--dec-pretrain-steps", type=int, default=None,
                        help="the default autoencoder's pretraining budget in minibatch "
                             "steps (the package's DEC_PRETRAIN_STEPS, set for this run; "
                             "10960: 40 epochs of MNIST-70k)")
    args = parser.parse_args(argv)
    if args.dec_pretrain_steps is not None:
        from skdeepclust.cluster import _nested_autoencoder

        _nested_autoencoder.DEC_PRETRAIN_STEPS = args.dec_pretrain_steps
    if args.quick:
        args.seeds, args.pretrain_epochs, args.clustering_epochs = args.seeds[:1], 10, 10
    args.variants = {v.strip() for v in args.variants.split(",")}
    if args.threads:
        torch.set_num_threads(args.threads)

    warnings.simplefilter("ignore", category=FutureWarning)
    X, y = load(args.data, args.mnist)
    k = len(np.unique(y))
    print(f"{args.data}: X {X.shape}, k={k}, seeds {args.seeds}, pretrain "
          f"{args.pretrain_epochs} + clustering {args.clustering_epochs} epochs, batch "
          f"{args.batch_size}, skdeepclust tol {args.tol}, torch threads "
          f"{torch.get_num_threads()}", flush=True)
    results: dict[str, list] = {}
    for seed in args.seeds:
        for method in args.methods.split(","):
            try:
                rows = METHODS[method.strip()](X, y, k, seed, args)
            except ImportError as exc:
                warnings.warn(f"skipping {method}: {exc}")
                continue
            for name, row in rows:
                row["seed"] = seed
                results.setdefault(name, []).append(row)
                print(f"  seed {seed} {name:32s} " + ", ".join(
                    f"{key}={val:.3f}" if isinstance(val, float) else f"{key}={val}"
                    for key, val in row.items() if key not in ("seed", "trace")), flush=True)
                for point in row.get("trace", []):
                    print(f"    {point['phase']:>9s}: ACC {point['acc']:.3f} at "
                          f"{point['wall_s']:7.1f} s wall, {point['cpu_s']:7.1f} s CPU",
                          flush=True)
    print()
    print(summarize(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        # paths relative to the working directory (the repository root): no machine's
        # own folders in a committed results file
        args.json.write_text(json.dumps({"args": {k: (sorted(v) if isinstance(v, set) else
                                                      os.path.relpath(v) if isinstance(v, Path)
                                                      else v)
                                                  for k, v in vars(args).items()},
                                         "machine": machine(), "results": results}, indent=1))


if __name__ == "__main__":
    main()
