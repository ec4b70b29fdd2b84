"""What limits DECClustering's defaults on small data (digits/16).

Studies, each printing one JSON line per fit or rule (``--out`` appends them to a file).
``dec`` and ``restarts`` hand ``DECClustering`` a ``default_autoencoder`` they build, and
``embedding_scale="auto"`` resolves to 1 on an autoencoder given that way (the rows of
``dec_small_*.jsonl`` predate the "auto" value and ran at 1 too): pass
``{"embedding_scale": 2.0}`` in ``--params`` to match today's defaults.

``codes``
    Pretrain ``default_autoencoder`` with several seeds, cluster its codes with
    ``KMeans(n_init=20)`` and report the accuracy next to unsupervised criteria of the codes
    (final reconstruction loss, silhouette, Calinski-Harabasz, Davies-Bouldin, within/total
    variance) and their Spearman correlation with the accuracy: can a "best of n"
    pretraining be chosen without labels? ``--concat 3`` also clusters the concatenated
    codes of consecutive groups of 3 autoencoders.
``dec``
    ``DECClustering`` on digits with the defaults plus ``--params`` (JSON; an
    ``"autoencoder"`` entry is passed to ``default_autoencoder`` as overrides), per seed:
    the k-means accuracy of its pretrained codes and DEC's.
``restarts``
    The rule behind ``n_restarts``: ``--seeds`` single DEC fits (``n_restarts=1``, the
    autoencoder seeded with the seed), then, over every group of 3 and of 5 of them, the
    accuracy of the fit a selection rule keeps: the medoid (highest mean ARI or NMI with
    the others) of the DEC labels, or of the k-means labels of the pretrained codes
    (selecting before the clustering phase would save its cost).
``pool``
    ``--seeds`` single fits (``n_restarts=1``, ``random_state`` = the seed, so each is one
    of the fits ``n_restarts`` would run) of ``DECClustering`` with ``--params`` on
    ``--data`` (a panel data set of ``_panel.py``), each line holding the fit's labels,
    the k-means labels of its pretrained codes, its accuracy, ``score`` (minus DEC's
    KL(P||Q)) and CPU seconds. ``--panel-seeds 0 1 2 3 4 --restarts 9`` fits instead the
    first 9 restarts of ``DECClustering(random_state=p)`` for each ``p``, the seeds
    ``n_restarts`` draws, so that ``select`` can replay the panel's fits exactly.
``select``
    Reads ``--pool`` files (the lines of one ``--params``) and asks, over random groups
    of ``--sizes`` fits, which fit a selection rule keeps: the medoid by ARI (the
    current rule), by NMI, the best ``score``, or the fit closest to the consensus
    partition of the group (``--consensus``). On a ``--panel-seeds`` pool it first
    prints, per size and rule, the accuracy of the fit ``DECClustering(n_restarts=size,
    random_state=p)`` would keep for each panel seed.

Examples (from the repository root)::

    python benchmarks/sweep_dec_small.py codes --seeds 12 --concat 3 \\
        --out benchmarks/results/dec_small_codes.jsonl
    python benchmarks/sweep_dec_small.py dec --params '{"embedding_scale": 2.0}' \\
        --out benchmarks/results/dec_small_knobs.jsonl
    python benchmarks/sweep_dec_small.py restarts --seeds 12 --first-seed 0 \\
        --out benchmarks/results/dec_small_restarts.jsonl
    python benchmarks/sweep_dec_small.py pool --panel-seeds 0 1 2 3 4 --restarts 9 \\
        --params '{"embedding_scale": 2.0}' \\
        --out benchmarks/results/dec_defaults_pool_digits.jsonl
    python benchmarks/sweep_dec_small.py select --params '{"embedding_scale": 2.0}' \\
        --pool benchmarks/results/dec_defaults_pool_digits.jsonl --sizes 3 5 7 9
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits
from sklearn.metrics import (
    adjusted_rand_score,
    calinski_harabasz_score,
    davies_bouldin_score,
    normalized_mutual_info_score,
    silhouette_score,
)
from sklearn.utils import check_random_state

from skdeepclust._torch import seed_from
from skdeepclust.cluster import DECClustering
from skdeepclust.cluster._nested_autoencoder import default_autoencoder
from skdeepclust.metrics import cluster_accuracy


def _emit(row: dict, out: str | None, brief: tuple = ()) -> None:
    line = json.dumps(row, default=float)
    print(json.dumps({k: v for k, v in row.items() if k not in brief}, default=float),
          flush=True)
    if out:
        with open(out, "a") as f:
            f.write(line + "\n")


def codes(X, y, args) -> None:
    rows, Zs = [], []
    for s in range(args.seeds):
        ae = default_autoencoder(*X.shape, random_state=args.first_seed + s, device="cpu").fit(X)
        Z = ae.transform(X)
        km = KMeans(10, n_init=20, random_state=0).fit(Z)
        total = ((Z - Z.mean(0)) ** 2).sum()
        row = {"study": "codes", "seed": args.first_seed + s,
               "acc": cluster_accuracy(y, km.labels_), "loss": ae.loss_curve_[-1],
               "silhouette": silhouette_score(Z, km.labels_),
               "calinski_harabasz": calinski_harabasz_score(Z, km.labels_),
               "davies_bouldin": davies_bouldin_score(Z, km.labels_),
               "within_over_total": km.inertia_ / total}
        rows.append(row)
        Zs.append(Z / Z.std(0).mean())
        _emit(row, args.out)
    acc = [r["acc"] for r in rows]
    summary = {"study": "codes_summary", "acc_mean": np.mean(acc), "acc_min": np.min(acc),
               "acc_sd": np.std(acc),
               **{f"spearman_{k}": spearmanr(acc, [r[k] for r in rows]).statistic
                  for k in ("loss", "silhouette", "calinski_harabasz", "davies_bouldin",
                            "within_over_total")}}
    if args.concat:
        summary["concat_acc"] = [
            cluster_accuracy(y, KMeans(10, n_init=20, random_state=0).fit_predict(
                np.hstack(Zs[i:i + args.concat])))
            for i in range(0, len(Zs) - args.concat + 1, args.concat)]
    _emit(summary, args.out)


def dec(X, y, args) -> None:
    params = json.loads(args.params)
    ae_overrides = params.pop("autoencoder", {})
    for s in args.seed_list:
        ae = default_autoencoder(*X.shape, random_state=s, **ae_overrides)
        start = time.perf_counter()
        model = DECClustering(10, autoencoder=ae, random_state=s, **params).fit(X)
        seconds = time.perf_counter() - start
        Z = model.autoencoder_.transform(X)
        _emit({"study": "dec", "params": args.params, "seed": s,
               "codes_kmeans_acc": cluster_accuracy(
                   y, KMeans(10, n_init=20, random_state=s).fit_predict(Z)),
               "dec_acc": cluster_accuracy(y, model.labels_), "n_iter": model.n_iter_,
               "seconds": seconds}, args.out)


def restarts(X, y, args) -> None:
    dec_labels, code_labels = [], []
    for s in range(args.first_seed, args.first_seed + args.seeds):
        ae = default_autoencoder(*X.shape, random_state=s)
        start = time.perf_counter()
        model = DECClustering(10, autoencoder=ae, n_restarts=1, random_state=s).fit(X)
        seconds = time.perf_counter() - start
        codes = KMeans(10, n_init=20, random_state=s).fit_predict(model.autoencoder_.transform(X))
        dec_labels.append(model.labels_)
        code_labels.append(codes)
        _emit({"study": "restarts_fit", "seed": s, "codes_kmeans_acc": cluster_accuracy(y, codes),
               "dec_acc": cluster_accuracy(y, model.labels_), "seconds": seconds}, args.out)
    acc = np.array([cluster_accuracy(y, labels) for labels in dec_labels])
    for on, labelings in (("dec", dec_labels), ("codes", code_labels)):
        for name, agree in (("ari", adjusted_rand_score), ("nmi", normalized_mutual_info_score)):
            A = np.array([[agree(a, b) for b in labelings] for a in labelings])
            for k in (3, 5):
                kept = np.array([acc[c[int(np.argmax(A[np.ix_(c, c)].sum(axis=1)))]]
                                 for c in itertools.combinations(range(len(acc)), k)])
                _emit({"study": "restarts_rule", "select_on": on, "agreement": name,
                       "n_restarts": k, "groups": len(kept), "kept_acc_mean": kept.mean(),
                       "kept_acc_min": kept.min(), "kept_acc_p10": np.percentile(kept, 10),
                       "single_acc_mean": acc.mean(), "single_acc_sd": acc.std(),
                       "single_acc_min": acc.min()}, args.out)


def _panel_data(name: str):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _panel import PANEL

    X, y = PANEL[name]()
    return X, y


def pool(X, y, args) -> None:
    params = json.loads(args.params)
    ae_overrides = params.pop("autoencoder", None)
    k = len(np.unique(y))
    if args.panel_seeds:  # the seeds of the fits DECClustering(random_state=p) restarts
        rngs = {p: check_random_state(p) for p in args.panel_seeds}
        jobs = [(p, i, seed_from(rngs[p])) for p in args.panel_seeds
                for i in range(args.restarts)]
    else:
        jobs = [(None, None, s) for s in range(args.first_seed, args.first_seed + args.seeds)]
    for panel_seed, restart, s in jobs:
        ae = "auto" if ae_overrides is None else default_autoencoder(*X.shape, **ae_overrides)
        cpu = time.process_time()
        model = DECClustering(k, autoencoder=ae, n_restarts=1, random_state=s, **params).fit(X)
        cpu = time.process_time() - cpu
        row = {"study": "pool", "data": args.data, "params": args.params, "seed": s,
               "panel_seed": panel_seed, "restart": restart,
               "acc": cluster_accuracy(y, model.labels_),
               "nmi": normalized_mutual_info_score(y, model.labels_),
               "ari": adjusted_rand_score(y, model.labels_),
               "score": model.score(X), "n_iter": model.n_iter_, "cpu_seconds": cpu}
        if model.autoencoder_ is not None:
            codes = KMeans(k, n_init=20, random_state=s).fit_predict(
                model.autoencoder_.transform(X))
            row["codes_kmeans_acc"] = cluster_accuracy(y, codes)
            row["codes_labels"] = codes.tolist()
        row["labels"] = model.labels_.tolist()
        _emit(row, args.out, brief=("labels", "codes_labels"))


def _consensus_index(labelings, k: int) -> int:
    """The labeling with the highest ARI to the average-linkage consensus of the group."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    L = np.asarray(labelings)
    co = np.zeros((L.shape[1], L.shape[1]), dtype=np.float32)
    for labels in L:
        co += labels[:, None] == labels[None, :]
    dist = 1.0 - co / len(L)
    np.fill_diagonal(dist, 0.0)
    consensus = fcluster(linkage(squareform(dist, checks=False), "average"), k, "maxclust")
    return int(np.argmax([adjusted_rand_score(consensus, labels) for labels in L]))


def select(X, y, args) -> None:
    rows = [json.loads(line) for p in args.pool
            for line in Path(p).read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r.get("study") == "pool" and r["params"] == args.params]
    acc = np.array([r["acc"] for r in rows])
    score = np.array([r["score"] for r in rows])
    labelings = [np.asarray(r["labels"]) for r in rows]
    k = len(np.unique(y))
    n = len(rows)
    ari = np.array([[adjusted_rand_score(a, b) for b in labelings] for a in labelings])
    nmi = np.array([[normalized_mutual_info_score(a, b) for b in labelings]
                    for a in labelings])
    rng = np.random.RandomState(0)
    panel = sorted({r["panel_seed"] for r in rows if r.get("panel_seed") is not None})
    for size in args.sizes:
        if panel:  # the exact fits of DECClustering(n_restarts=size, random_state=p)
            groups = [np.array([i for i, r in enumerate(rows) if r["panel_seed"] == p
                                and r["restart"] < size]) for p in panel]
            if any(len(g) < size for g in groups):
                continue
            for rule, pick in (("medoid_ari", lambda g: np.argmax(ari[np.ix_(g, g)].sum(1))),
                               ("medoid_nmi", lambda g: np.argmax(nmi[np.ix_(g, g)].sum(1))),
                               ("best_score", lambda g: np.argmax(score[g]))):
                values = np.array([acc[g[pick(g)]] for g in groups])
                _emit({"study": "select_panel", "data": args.data, "params": args.params,
                       "n_restarts": size, "rule": rule, "panel_seeds": panel,
                       "acc": values.tolist(), "acc_mean": values.mean(),
                       "acc_sd": values.std(), "acc_min": values.min(),
                       "cpu_seconds": [float(sum(rows[i]["cpu_seconds"] for i in g))
                                       for g in groups]}, args.out)
        # every fit of the pool is one draw of the recipe: random groups of them
        groups = [rng.choice(n, size, replace=False) for _ in range(args.groups)]
        kept = {"medoid_ari": [], "medoid_nmi": [], "best_score": [], "consensus": []}
        for g in groups:
            kept["medoid_ari"].append(acc[g[np.argmax(ari[np.ix_(g, g)].sum(1))]])
            kept["medoid_nmi"].append(acc[g[np.argmax(nmi[np.ix_(g, g)].sum(1))]])
            kept["best_score"].append(acc[g[np.argmax(score[g])]])
            if args.consensus:
                kept["consensus"].append(
                    acc[g[_consensus_index([labelings[i] for i in g], k)]])
        for rule, values in kept.items():
            if not values:
                continue
            values = np.array(values)
            _emit({"study": "select", "data": args.data, "params": args.params,
                   "pool": n, "n_restarts": size, "rule": rule, "groups": len(values),
                   "kept_acc_mean": values.mean(), "kept_acc_min": values.min(),
                   "kept_acc_p10": np.percentile(values, 10),
                   "kept_below_0.84": float(np.mean(values < 0.84)),
                   "single_acc_mean": acc.mean(), "single_acc_sd": acc.std(),
                   "single_acc_min": acc.min(),
                   "single_cpu_seconds": float(np.mean([r["cpu_seconds"] for r in rows]))},
                  args.out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", choices=["codes", "dec", "restarts", "pool", "select"])
    parser.add_argument("--data", default="digits", help="pool, select: a panel data set")
    parser.add_argument("--pool", nargs="*", default=[], help="select: pool files")
    parser.add_argument("--panel-seeds", type=int, nargs="*", default=[],
                        help="pool: fit the restarts of DECClustering(random_state=p)")
    parser.add_argument("--restarts", type=int, default=9,
                        help="pool: restarts per --panel-seeds seed")
    parser.add_argument("--sizes", type=int, nargs="*", default=[3, 5, 7, 9])
    parser.add_argument("--groups", type=int, default=2000, help="select: groups per size")
    parser.add_argument("--consensus", action="store_true",
                        help="select: also the consensus rule (slow)")
    parser.add_argument("--seeds", type=int, default=12, help="codes, restarts: number of seeds")
    parser.add_argument("--first-seed", type=int, default=100)
    parser.add_argument("--concat", type=int, default=0)
    parser.add_argument("--seed-list", type=int, nargs="*", default=[0, 1, 2, 3, 4])
    parser.add_argument("--params", default="{}", help="dec: DECClustering parameters (JSON)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=UserWarning)
    if args.study in ("pool", "select"):
        X, y = _panel_data(args.data)
    else:
        digits = load_digits()
        X, y = (digits.data / 16).astype(np.float32), digits.target
    {"codes": codes, "dec": dec, "restarts": restarts, "pool": pool,
     "select": select}[args.study](X, y, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
