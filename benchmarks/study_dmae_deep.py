"""Why the deep DMAEClustering at its defaults falls behind KMeans on a panel data set.

For each data set and seed one default autoencoder is pretrained (DMAE's
``autoencoder="auto"`` recipe, ``_dmae_deep.dmae_default_autoencoder``, or
``_nested_autoencoder.default_autoencoder`` with ``--code-size`` units; seeded by the
seed, or with ``--panel-seed`` as the panel's ``DMAEClustering(random_state=seed)`` seeds
it) and
shared by every configuration (a fitted autoencoder is copied, never modified, by
DMAEClustering). Each row gives ``KMeans(n_init=10)`` on ``X`` and on the pretrained
codes, then per configuration of ``DMAEClustering(autoencoder=<that autoencoder>)``
(``--configs``: name -> JSON parameters; ``"batch_size": "AUTO"`` stands for DEC's
``auto_batch_size``) the accuracy trace: after ``init``, after every
mixture epoch and every joint epoch (labels from the current model), and at the end.

Examples (from the repository root)::

    python benchmarks/study_dmae_deep.py --datasets emb384 --seeds 0 1 \\
        --out benchmarks/results/dmae_deep_emb384_study.jsonl
    python benchmarks/study_dmae_deep.py --datasets emb384 --seeds 0 --code-size 10 \\
        --configs '{"lr1e-3": {"learning_rate": 1e-3}}'
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import scores
from _panel import PANEL

#: The configurations of the first measurement (empty: the defaults).
CONFIGS = {
    "defaults": {},
    "joint_lr1e-3": {"learning_rate": 1e-3},
    "joint_60ep": {"max_epochs": 60},
    "no_mixture_epochs": {"mixture_epochs": 0},
    "recon_code": {"reconstruct_from": "code"},
}


class _Tracer:
    """Wraps ``train_loop`` in the DMAE modules: the accuracy of the current model after
    every epoch of each phase."""

    def __init__(self, X, y):
        import torch

        self.X_t = None
        self.X, self.y = X, y
        self.est = None
        self.trace: list[tuple[str, int, float]] = []
        self._torch = torch

    def labels(self):
        """The current model's labels, the codes scaled by their current spread (as
        the minibatches are in training and ``code_scale_`` is at the end of fit)."""
        from skdeepclust.cluster._dmae_init import spread

        est = self.est
        kept = est.code_scale_
        try:
            if getattr(est, "_normalized", False):
                codes = est._inference(est._embed, self.X, out_dtype=None)
                est.code_scale_ = float(spread(self._torch.as_tensor(codes)))
            with self._torch.no_grad():
                return est._inference(est._labels, self.X, out_dtype=None)
        finally:
            est.code_scale_ = kept

    def wrap(self, original):
        def train_loop(step, *args, phase="", on_epoch_end=None, **kwargs):
            def hook(epoch, loss):
                if on_epoch_end is not None:
                    on_epoch_end(epoch, loss)
                if self.est is not None and hasattr(self.est, "code_scale_"):
                    acc = scores(self.y, self.labels())["acc"]
                    self.trace.append((phase.split()[1], epoch, round(acc, 4)))

            return original(step, *args, phase=phase, on_epoch_end=hook, **kwargs)

        return train_loop


def panel_autoencoder_seed(seed: int) -> int:
    """The seed ``DMAEClustering(random_state=seed)`` gives its default autoencoder:
    the second draw of its random state (the first seeds its torch generator)."""
    from skdeepclust._torch import seed_from

    rng = np.random.RandomState(seed)
    seed_from(rng)
    return seed_from(rng)


def run(dataset, seed, X, y, code_size, configs, panel_seed=False) -> list[dict]:
    from sklearn.cluster import KMeans

    import skdeepclust.cluster._dmae as dmae_mod
    import skdeepclust.cluster._dmae_deep as deep_mod
    from skdeepclust.cluster import DMAEClustering
    from skdeepclust.cluster._nested_autoencoder import auto_batch_size, default_autoencoder

    k = len(np.unique(y))
    on_x = scores(y, KMeans(k, n_init=10, random_state=seed).fit_predict(X))
    if code_size is None:
        from skdeepclust.cluster._dmae_deep import dmae_default_autoencoder

        spec = dmae_default_autoencoder(*X.shape)
    else:
        spec = default_autoencoder(*X.shape, n_components=code_size)
    ae_seed = panel_autoencoder_seed(seed) if panel_seed else seed
    t0 = time.process_time()
    ae = spec.set_params(random_state=ae_seed).fit(X)
    pretrain_cpu = time.process_time() - t0
    on_codes = scores(y, KMeans(k, n_init=10, random_state=seed).fit_predict(ae.transform(X)))
    rows = []
    tracer = _Tracer(X, y)
    originals = dmae_mod.train_loop, deep_mod.train_loop
    dmae_mod.train_loop, deep_mod.train_loop = map(tracer.wrap, originals)
    try:
        for name, params in configs.items():
            if params.get("batch_size") == "AUTO":  # DEC's auto_batch_size
                params = {**params, "batch_size": auto_batch_size(X.shape[0])}
            est = DMAEClustering(k, autoencoder=ae, random_state=seed, **params)
            tracer.est, tracer.trace = est, []
            t0 = time.process_time()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                est.fit(X)
            cpu = time.process_time() - t0
            tracer.est = None
            end = scores(y, est.labels_)
            rows.append(
                {
                    "dataset": dataset,
                    "seed": seed,
                    "config": name,
                    "params": params,
                    "code_size": ae.n_components,
                    "autoencoder_seed": ae_seed,
                    "pretrain_cpu_s": pretrain_cpu,
                    "kmeans_x_acc": on_x["acc"],
                    "kmeans_x_ari": on_x["ari"],
                    "kmeans_codes_acc": on_codes["acc"],
                    "kmeans_codes_ari": on_codes["ari"],
                    "acc": end["acc"],
                    "ari": end["ari"],
                    "cpu_s": cpu,
                    "trace": tracer.trace,
                    "warnings": sorted({str(w.message)[:120] for w in caught}),
                }
            )
    finally:
        dmae_mod.train_loop, deep_mod.train_loop = originals
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="*", default=["emb384"])
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1])
    parser.add_argument(
        "--code-size",
        type=int,
        default=None,
        help="code units (default: DMAE's autoencoder='auto' rule)",
    )
    parser.add_argument(
        "--panel-seed",
        action="store_true",
        help="pretrain with the autoencoder seed of the panel's fit",
    )
    parser.add_argument(
        "--configs", default=None, help="JSON {name: DMAEClustering parameters}; default: CONFIGS"
    )
    parser.add_argument("--out", default=None, help="JSON lines file to append rows to")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    configs = json.loads(args.configs) if args.configs else CONFIGS
    for d in args.datasets:
        X, y = PANEL[d]()
        for seed in args.seeds:
            for row in run(d, seed, X, y, args.code_size, configs, args.panel_seed):
                tr = row["trace"]
                short = [a for _, _, a in tr]
                print(
                    f"{d} seed {seed} code {row['code_size']} {row['config']:18s} "
                    f"KM(X) {row['kmeans_x_acc']:.3f} KM(codes) {row['kmeans_codes_acc']:.3f}"
                    f" -> {row['acc']:.3f} (cpu {row['cpu_s']:.1f}s) trace "
                    f"{short[:1]}..{short[29:31]}..{short[-3:]}",
                    flush=True,
                )
                if args.out:
                    with open(args.out, "a") as f:
                        f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
