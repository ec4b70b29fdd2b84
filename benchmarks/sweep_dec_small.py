"""What limits DECClustering's defaults on small data (digits/16).

Two studies, each printing one JSON line per fit (``--out`` appends them to a file):

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

Examples (from the repository root)::

    python benchmarks/sweep_dec_small.py codes --seeds 12 --concat 3 \\
        --out benchmarks/results/dec_small_codes.jsonl
    python benchmarks/sweep_dec_small.py dec --params '{"embedding_scale": 2.0}' \\
        --out benchmarks/results/dec_small_knobs.jsonl
    python benchmarks/sweep_dec_small.py restarts --seeds 12 --first-seed 0 \\
        --out benchmarks/results/dec_small_restarts.jsonl
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
import warnings

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

from skdeepclust.cluster import DECClustering
from skdeepclust.cluster._nested_autoencoder import default_autoencoder
from skdeepclust.metrics import cluster_accuracy


def _emit(row: dict, out: str | None) -> None:
    line = json.dumps(row, default=float)
    print(line, flush=True)
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", choices=["codes", "dec", "restarts"])
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
    digits = load_digits()
    X, y = (digits.data / 16).astype(np.float32), digits.target
    {"codes": codes, "dec": dec, "restarts": restarts}[args.study](X, y, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
