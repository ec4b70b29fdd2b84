"""Streamed fits (issue 20): DEC and DMAE on a memory-mapped file against in-memory fits.

The data: ``--rows`` (default 2,000,000) rows of 64-D float32 with 20 Gaussian clusters,
written once to a ``.npy`` file in ``--data-dir`` (default: the system's temporary
folder) and opened with ``np.load(path, mmap_mode="r")``. For each estimator
(``DECClustering(n_clusters=20)`` with a 64-64-10 autoencoder pretrained 2 epochs and 3
clustering epochs, and a shallow ``DMAEClustering(n_clusters=20)`` for 3 epochs; batch
256, ``random_state=0``: see ``_estimator``) three fits run, each in a fresh process:

- ``stream``: ``fit`` on the memory map (the fit reads blocks of rows);
- ``memory``: ``fit`` on the same rows loaded into memory (``np.load`` without a map);
- ``memory_small``: ``fit`` on the first ``--small`` rows (default 200,000) in memory,
  the throughput reference of the issue (a plain ``np.ndarray``: a ``.copy()`` of the
  map is in memory too, but before the fix of ``_data._is_memory_mapped`` it was
  mistaken for a map and streamed).

Each records the fit's wall time, its throughput (rows times epochs of the clustering
phase per second, and rows per second of the whole fit; the same per second of process
CPU time, ``cpu_throughput_vs_memory_small``, is the fairer ratio on a machine that other
programs share), the accuracy (Hungarian ACC)
on the first ``--small`` rows, and the process's memory: the peak of anonymous memory
(``RssAnon``, what the process needs) and of file-backed memory (``RssFile``: the
mapped file's pages, which the kernel can drop) above their values before the fit,
sampled every 20 ms. With ``--split-epochs`` each configuration is also fitted for one
clustering epoch, in the same process after the first fit, and the record gets the CPU
seconds per row-epoch of the clustering loop, ``(cpu(E) - cpu(1)) / ((E - 1) * rows)``,
and the fixed CPU cost of the fit (start, k-means, final labels pass), ``cpu(1)`` minus
one epoch: the throughput of the whole fit mixes both. Run from the repository root::

    OMP_NUM_THREADS=2 python benchmarks/bench_streaming.py [--rows N] [--quick]

Results go to ``benchmarks/results/streaming_memmap.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import print_table, save_json

N_CLUSTERS = 20
N_FEATURES = 64


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class _PeakSampler:
    """Peaks of RssAnon and RssFile (kB) while the ``with`` block runs."""

    def __enter__(self):
        self.base = {k: _status_kb(k) for k in ("RssAnon", "RssFile")}
        self.peak = dict(self.base)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            for k in self.peak:
                self.peak[k] = max(self.peak[k], _status_kb(k))
            time.sleep(0.02)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        for k in self.peak:
            self.peak[k] = max(self.peak[k], _status_kb(k))

    def rise_mb(self, key: str) -> float:
        return (self.peak[key] - self.base[key]) / 1024


def make_data(path: Path, n: int, seed: int = 0) -> np.ndarray:
    """Write (once) and return the labels of the blobs data at ``path``."""
    labels_path = path.with_suffix(".labels.npy")
    if path.exists() and labels_path.exists():
        return np.load(labels_path)
    rng = np.random.RandomState(seed)
    centers = rng.normal(scale=2.5, size=(N_CLUSTERS, N_FEATURES)).astype(np.float32)
    labels = rng.randint(N_CLUSTERS, size=n)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, N_FEATURES))
    for start in range(0, n, 100_000):
        stop = min(start + 100_000, n)
        noise = rng.normal(size=(stop - start, N_FEATURES)).astype(np.float32)
        out[start:stop] = centers[labels[start:stop]] + noise
    out.flush()
    del out
    np.save(labels_path, labels)
    return labels


def _estimator(name: str):
    """A light recipe, so that a 2-million-row fit takes minutes on 2 cores: streaming
    changes where rows come from, not the arithmetic per row."""
    from skdeepclust.cluster import DECClustering, DMAEClustering
    from skdeepclust.representation import AutoEncoder

    if name == "dec":
        ae = AutoEncoder(n_components=10, hidden_layer_sizes=(64,), batch_size=256,
                         max_epochs=2, tol=None)
        return DECClustering(N_CLUSTERS, autoencoder=ae, batch_size=256, max_epochs=3,
                             n_init=3, tol=0.0, random_state=0, device="cpu")
    return DMAEClustering(N_CLUSTERS, autoencoder=None, batch_size=256, max_epochs=3,
                          n_init=3, tol=None, random_state=0, device="cpu")


def _run(name: str, mode: str, path: str, labels_path: str, small: int, queue,
         split_epochs: bool = False) -> None:
    import warnings

    from skdeepclust.metrics import cluster_accuracy

    if mode == "stream":
        X = np.load(path, mmap_mode="r")
    elif mode == "memory":
        X = np.load(path)
    else:
        X = np.array(np.load(path, mmap_mode="r")[:small])
    y = np.load(labels_path)
    est = _estimator(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with _PeakSampler() as peak:
            start, cpu_start = time.perf_counter(), time.process_time()
            est.fit(X)
            seconds = time.perf_counter() - start
            cpu_seconds = time.process_time() - cpu_start
    head = np.asarray(X[:small])
    acc = float(cluster_accuracy(y[:small], est.predict(head)))
    split = {}
    if split_epochs:
        one = _estimator(name).set_params(max_epochs=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cpu_one = time.process_time()
            one.fit(X)
            cpu_one = time.process_time() - cpu_one
        per_row_epoch = (cpu_seconds - cpu_one) / ((est.n_iter_ - 1) * X.shape[0])
        split = {"fit1_cpu_seconds": cpu_one,
                 "cpu_us_per_row_epoch": per_row_epoch * 1e6,
                 "fixed_cpu_seconds": cpu_one - per_row_epoch * X.shape[0]}
    queue.put({
        "estimator": name, "mode": mode, "rows": int(X.shape[0]), "seconds": seconds,
        "epochs": int(est.n_iter_), "rows_per_s": X.shape[0] / seconds,
        "row_epochs_per_s": X.shape[0] * max(est.n_iter_, 1) / seconds,
        "cpu_seconds": cpu_seconds,
        "row_epochs_per_cpu_s": X.shape[0] * max(est.n_iter_, 1) / cpu_seconds,
        "acc_first_rows": acc,
        "anon_mb": peak.rise_mb("RssAnon"), "file_mb": peak.rise_mb("RssFile"),
        **split,
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--small", type=int, default=200_000)
    parser.add_argument("--estimators", nargs="+", default=["dec", "dmae"],
                        choices=["dec", "dmae"])
    parser.add_argument("--modes", nargs="+", default=["stream", "memory", "memory_small"],
                        choices=["stream", "memory", "memory_small"])
    parser.add_argument("--quick", action="store_true", help="200k rows, 20k small")
    parser.add_argument("--data-dir", default=tempfile.gettempdir())
    parser.add_argument("--split-epochs", action="store_true",
                        help="also fit one epoch: per-row-epoch and fixed CPU costs")
    parser.add_argument("--out", default="benchmarks/results/streaming_memmap.json")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.small = 200_000, 20_000
    path = Path(args.data_dir) / f"skdeepclust_blobs_{args.rows}x{N_FEATURES}.npy"
    make_data(path, args.rows)
    labels_path = str(path.with_suffix(".labels.npy"))
    ctx = multiprocessing.get_context("spawn")
    rows = []
    for name in args.estimators:
        for mode in args.modes:
            queue = ctx.Queue()
            proc = ctx.Process(target=_run, args=(name, mode, str(path), labels_path,
                                                  args.small, queue, args.split_epochs))
            proc.start()
            result = queue.get()
            proc.join()
            rows.append(result)
            print(json.dumps(result))
    refs = {r["estimator"]: r for r in rows if r["mode"] == "memory_small"}
    for r in rows:
        ref = refs.get(r["estimator"])
        r["throughput_vs_memory_small"] = (
            r["row_epochs_per_s"] / ref["row_epochs_per_s"] if ref else None)
        r["cpu_throughput_vs_memory_small"] = (
            r["row_epochs_per_cpu_s"] / ref["row_epochs_per_cpu_s"] if ref else None)
        if ref and "cpu_us_per_row_epoch" in r:
            r["cpu_per_row_epoch_vs_memory_small"] = (
                ref["cpu_us_per_row_epoch"] / r["cpu_us_per_row_epoch"])
    print_table(rows, ["estimator", "mode", "rows", "seconds", "epochs",
                       "throughput_vs_memory_small", "cpu_throughput_vs_memory_small",
                       "cpu_per_row_epoch_vs_memory_small", "fixed_cpu_seconds",
                       "acc_first_rows", "anon_mb", "file_mb"])
    save_json(args.out, {"args": {k: v for k, v in vars(args).items() if k != "data_dir"},
                         "load_average": os.getloadavg(), "results": rows})


if __name__ == "__main__":
    main()
