"""How DEC's accuracy depends on the autoencoder's pretraining (optimizer, learning rate, epochs).

For one seed and one pretraining setting, the d-500-500-2000-10 autoencoder is trained epoch
by epoch (``partial_fit``, constant learning rate); at each snapshot epoch the script records
AE + KMeans(n_init=20) and, with ``--snapshot-dec``, a DEC clustering phase started from a copy
of the autoencoder; after the last epoch it runs the requested DEC / IDEC variants. Each
record is one JSON line (appended to ``--out``), so many runs (seeds, settings) can share a
GPU as separate processes and write to one file. This is how the default pretraining recipe
of :func:`skdeepclust.cluster._nested_autoencoder.default_autoencoder` was chosen (see
``benchmarks/README.md``, "DEC pretraining sweep").

Examples
--------
The DEC-keras recipe (SGD lr 1, momentum 0.9, 300 epochs) on a GPU::

    python benchmarks/sweep_dec_pretraining.py --seed 0 --optimizer sgd --lr 1 \\
        --epochs 300 --snapshots 25 50 100 200 300 --variants dec idec --device cuda

The default recipe's learning rate with 40 epochs and DEC at every snapshot::

    python benchmarks/sweep_dec_pretraining.py --seed 0 --optimizer adam --lr 5e-4 \\
        --epochs 40 --snapshots 26 32 40 --snapshot-dec --variants dec idec
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

from sklearn.cluster import KMeans

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import mnist_path, scores

from skdeepclust.cluster import DECClustering
from skdeepclust.cluster._nested_autoencoder import DEC_HIDDEN_LAYER_SIZES, DEC_N_COMPONENTS
from skdeepclust.datasets import load_mnist
from skdeepclust.representation import AutoEncoder

#: Clustering phases run after pretraining: name -> DECClustering parameters.
VARIANTS = {
    "dec": {},  # the library's defaults (SGD 0.01, momentum 0.9)
    "dec_adam": {"optimizer": "adam"},  # Adam 1e-4, the default before session 5
    "idec": {"reconstruction_weight": 1.0},  # Adam 1e-4, gamma 0.1
    "idec_sgd": {"reconstruction_weight": 1.0, "optimizer": "sgd"},
}


def rounded_scores(y, labels) -> dict:
    return {k: round(v, 4) for k, v in scores(y, labels).items()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mnist", type=Path, default=mnist_path())
    p.add_argument("--n-samples", type=int, default=70_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--optimizer", default="adam", choices=["adam", "sgd", "adamw"])
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--epochs", type=int, default=26)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--snapshots", type=int, nargs="*", default=[])
    p.add_argument("--snapshot-dec", action="store_true",
                   help="also run the default DEC phase at every snapshot")
    p.add_argument("--variants", nargs="*", default=["dec", "idec"], choices=sorted(VARIANTS))
    p.add_argument("--update-interval", default="auto",
                   help="DEC target refresh interval in steps ('auto': half an epoch)")
    p.add_argument("--clustering-epochs", type=int, default=100)
    p.add_argument("--device", default="auto")
    p.add_argument("--name", default=None, help="label of the records (default: the setting)")
    p.add_argument("--out", type=Path, default=Path("dec_pretraining_sweep.jsonl"))
    args = p.parse_args(argv)
    warnings.simplefilter("ignore")
    name = args.name or f"{args.optimizer}{args.epochs}_lr{args.lr:g}"
    interval = args.update_interval if args.update_interval in ("auto", "batch") \
        else int(args.update_interval)
    X, y = load_mnist(args.mnist, n_samples=args.n_samples)
    t_start = time.perf_counter()

    def emit(**record):
        record.update(name=name, seed=args.seed, t=round(time.perf_counter() - t_start, 1))
        line = json.dumps(record)
        print(line, flush=True)
        with open(args.out, "a") as f:
            f.write(line + "\n")

    def cluster(ae, variant, epoch):
        t = time.perf_counter()
        dec = DECClustering(10, autoencoder=ae, update_interval=interval,
                            max_epochs=args.clustering_epochs, device=args.device,
                            random_state=args.seed, **VARIANTS[variant]).fit(X)
        emit(stage=variant, epoch=epoch, dec_s=round(time.perf_counter() - t, 1),
             n_iter=int(dec.n_iter_), converged=bool(dec.converged_),
             **rounded_scores(y, dec.labels_))

    ae = AutoEncoder(n_components=DEC_N_COMPONENTS, hidden_layer_sizes=DEC_HIDDEN_LAYER_SIZES,
                     optimizer=args.optimizer, learning_rate=args.lr, momentum=0.9,
                     batch_size=args.batch_size, tol=None, device=args.device,
                     random_state=args.seed)
    t_pre = 0.0
    for epoch in range(1, args.epochs + 1):
        t = time.perf_counter()
        ae.partial_fit(X)
        t_pre += time.perf_counter() - t
        if epoch in args.snapshots or epoch == args.epochs:
            labels = KMeans(10, n_init=20, random_state=args.seed).fit_predict(ae.transform(X))
            emit(stage="aekm", epoch=epoch, loss=round(float(ae.loss_curve_[-1]), 5),
                 pretrain_s=round(t_pre, 1), **rounded_scores(y, labels))
            if args.snapshot_dec and epoch < args.epochs:
                cluster(ae, "dec", epoch)
    for variant in args.variants:
        cluster(ae, variant, args.epochs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
