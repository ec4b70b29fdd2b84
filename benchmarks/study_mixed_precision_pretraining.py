"""Which part of DEC's default pretraining is sensitive to bfloat16 products.

The default autoencoder DECClustering pretrains on MNIST-70k (784-500-500-2000-10, batch
256, 26 epochs) is trained from one seed in several precision variants, and each is scored by
what DEC starts from: k-means (``n_init=10``) on its codes (ACC against the digit labels),
plus the reconstruction error on all rows (evaluated in float32) and the pretraining wall
time:

- ``off``: float32 throughout;
- ``bf16``: every step under bfloat16 autocast (``mixed_precision="bfloat16"``);
- ``bf16-edges``: autocast, except the code layer, the first decoder layer and the output
  layer, which run in float32;
- ``bf16-then-fp32``: autocast for the first ``1 - --fp32-share`` of the epochs, float32 for
  the rest (the same optimizer carries on).

::

    python benchmarks/study_mixed_precision_pretraining.py --seeds 1 4 --threads 2 \\
        --variants off bf16 bf16-edges bf16-then-fp32 \\
        --out benchmarks/results/study_mixed_precision_pretraining.jsonl
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.cluster import KMeans

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import append_jsonl, machine, mnist_path, scores

import skdeepclust
from skdeepclust.cluster._nested_autoencoder import default_autoencoder
from skdeepclust.datasets import load_mnist
from skdeepclust.representation import AutoEncoder


def _float32_layer(layer: torch.nn.Linear) -> None:
    """Run ``layer`` in float32 inside an autocast region."""
    forward = layer.forward

    def forward32(x):
        with torch.autocast(x.device.type, enabled=False):
            return forward(x.float())

    layer.forward = forward32


class EdgesAutoEncoder(AutoEncoder):
    """An AutoEncoder whose code layer, first decoder layer and output layer run in float32."""

    def _initialize(self, X, y):
        super()._initialize(X, y)
        linears = [m for m in self.module_.modules() if isinstance(m, torch.nn.Linear)]
        n_encoder = len(self.hidden_layer_sizes) + 1
        for layer in (linears[n_encoder - 1], linears[n_encoder], linears[-1]):
            _float32_layer(layer)


def pretrain(X, seed: int, variant: str, fp32_share: float, epochs: int | None):
    ae = default_autoencoder(*X.shape)
    total = epochs or ae.max_epochs
    setting = "off" if variant == "off" else "bfloat16"
    first = total if variant != "bf16-then-fp32" else max(1, round(total * (1 - fp32_share)))
    ae.set_params(device="cpu", random_state=seed, max_epochs=first)
    start = time.perf_counter()
    if variant == "bf16-edges":
        ae = EdgesAutoEncoder(**ae.get_params())
    with skdeepclust.config_context(mixed_precision=setting):
        ae.fit(X)
    if first < total:
        ae._autocast_dtype = None  # float32 from here, the same optimizer
        for _ in range(total - first):
            ae.partial_fit(X)
    wall = time.perf_counter() - start
    codes = ae.transform(X)
    recon = ae.inverse_transform(codes)
    mse = float(np.mean((recon - X) ** 2))
    return ae, codes, mse, wall, total


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--variants", nargs="+",
                        default=["off", "bf16", "bf16-edges", "bf16-then-fp32"])
    parser.add_argument("--fp32-share", type=float, default=0.25)
    parser.add_argument("--epochs", type=int, default=None,
                        help="pretraining epochs (default: the default autoencoder's)")
    parser.add_argument("--n-samples", type=int, default=70_000)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    X, y = load_mnist(mnist_path(), n_samples=args.n_samples)
    host = machine()
    for seed in args.seeds:
        for variant in args.variants:
            ae, codes, mse, wall, total = pretrain(X, seed, variant, args.fp32_share,
                                                   args.epochs)
            labels = KMeans(10, n_init=10, random_state=seed).fit_predict(codes)
            row = {"seed": seed, "variant": variant, "epochs": total,
                   "fp32_share": args.fp32_share if variant == "bf16-then-fp32" else None,
                   "pretrain_wall_s": wall, "mse": mse,
                   "last_epoch_loss": float(ae.loss_curve_[-1]), **scores(y, labels),
                   "n_samples": args.n_samples, "host": host}
            print(f"seed {seed} {variant:15s} k-means ACC {row['acc']:.3f} NMI {row['nmi']:.3f}"
                  f"  MSE {mse:.5f}  last loss {row['last_epoch_loss']:.5f}  {wall:6.1f} s",
                  flush=True)
            if args.out:
                append_jsonl(args.out, row)


if __name__ == "__main__":
    main()
