"""Scale-out benchmark (issue 20): data-parallel training with torch.distributed, and
``predict`` on a dask array on a two-worker ``distributed.LocalCluster``.

Part ``ddp``: one process at a global batch ``G`` against two gloo processes at ``G / 2``
each (the training loop shards every global minibatch and averages the gradients), on
the CPU, one torch thread per process. Both runs are spawned child processes (start-up
and imports are not timed) and every fit is timed between barriers. It reports

- throughput: rows per second of the whole fit (``n_samples * max_epochs / seconds``) for
  an AutoEncoder (at global batches 256 and 1024), a DECClustering (pretraining, k-means start replicated on every rank,
  clustering) and a NormalizingFlow on synthetic float32 data, with the speed-up of two
  processes over one, measured in the same run, and the CPU seconds of the one process
  and of the busiest rank (their ratio, "CPU bound", is the speed-up two free cores would
  give: it does not depend on how loaded the machine is), and the time of one gloo
  ``all_reduce`` alone (1e3, 1e5 and 1e6 float32 values), the per-step overhead;
- equality: after 3 epochs on float64 data, the largest relative difference between the
  parameters of the two-process fit and of the one-process fit at the doubled batch, for
  AutoEncoder, DECClustering, NormalizingFlow and RBM (``method="exact"``, which draws
  nothing, ``centered=False``, momentum 0.5; its training loop averages the module and
  the momentum buffers across ranks after each step).

Part ``predict`` ("Big predictions"): a DECClustering (a 64-256-128-10 autoencoder, 20
clusters), its autoencoder and a two-stage NormalizingFlow are fitted on 200 000 rows of
64-dimensional blobs, then

- in-process, one torch thread: rows per second and per CPU second of
  ``DECClustering.predict``, ``AutoEncoder.transform`` and ``NormalizingFlow.score_samples``
  on 1 000 000 in-memory rows, and of drawing those rows block by block;
- on a LocalCluster of 2 workers x 1 thread: the same methods on a 10 000 000 x 64 float32
  dask array whose blocks (``--chunk`` rows) are drawn on the workers from generators
  seeded by the block index (nothing of the array is built in the client); the lazy
  output is reduced on the workers (labels: a class x cluster table by ``da.bincount``,
  from which the accuracy on all rows; codes and log-densities: a sum), so no 10M-row
  result reaches the client. Each case runs on fresh worker processes, between two
  in-process baselines of the same method (the load of a shared machine drifts). It
  reports the wall time, rows/s per worker, the cores each worker got, the workers' CPU
  seconds and minor page faults, each worker's peak RSS (VmHWM, reset before the case)
  and sampled USS, and the estimators each worker unpickled. "ratio wall": rows/s per
  worker (drawing included) over in-process rows/s of drawing + the method; "ratio CPU":
  rows per worker CPU second of the method (the workers' CPU minus that of drawing
  only) over in-process rows per CPU second, the per-core figure that does not depend
  on how loaded the machine is;
- model shipping: ``DECClustering.predict`` through the library's wrapper (the estimator
  one key of the graph, sent to each worker once) against the estimator inside every
  block's task (``functools.partial``);
- the workers' settings: the tuned ones (the allocator environment ``TUNED_MALLOC``,
  the profiler off) against dask's defaults (``MALLOC_TRIM_THRESHOLD_=65536``, which
  fixes glibc's mmap threshold at 128 KiB, so every inference temporary is mapped and
  faulted in anew; the profiler on), on ``--default-rows`` rows.

skdeepclust's ``working_memory`` (``--working-memory``) is the same here and on the
workers.

Run from the repository root::

    OMP_NUM_THREADS=1 python benchmarks/bench_scale_out.py ddp [--quick]
    OMP_NUM_THREADS=1 python benchmarks/bench_scale_out.py predict [--quick]

Results go to ``benchmarks/results/scale_out_ddp.json`` and ``scale_out_predict.json``
(``--out``). On a shared machine, compare the speed-ups and wall-clock ratios only with
the load average the file records.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import multiprocessing
import os
import socket
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Timer, print_table, save_json

WORLD = 2


def _blobs(n, d, dtype, seed=0):
    rng = np.random.RandomState(seed)
    centers = rng.normal(scale=3.0, size=(10, d))
    X = centers[rng.randint(10, size=n)] + rng.normal(size=(n, d))
    return X.astype(dtype)


def _throughput_cases(quick):
    from skdeepclust.cluster import DECClustering
    from skdeepclust.flow import NormalizingFlow
    from skdeepclust.representation import AutoEncoder

    n = 4000 if quick else 20000
    epochs = 2 if quick else 5
    ae = {"hidden_layer_sizes": (256, 128), "max_epochs": epochs, "tol": None,
          "device": "cpu", "random_state": 0}
    return n, epochs, {
        "AutoEncoder 64-256-128-10": lambda b: AutoEncoder(10, batch_size=b, **ae),
        # four times the rows per step for the same traffic
        "AutoEncoder 64-256-128-10, global batch x4": lambda b: AutoEncoder(
            10, batch_size=4 * b, **ae),
        "DECClustering (AE + k-means + DEC)": lambda b: DECClustering(
            10, autoencoder=AutoEncoder(10, batch_size=b, **ae), batch_size=b,
            max_epochs=epochs, update_interval=50, tol=0.0, n_init=2, device="cpu",
            random_state=0),
        "NormalizingFlow 4 stages": lambda b: NormalizingFlow(
            n_stages=4, hidden_layer_sizes=(128, 128), batch_size=b, max_epochs=epochs,
            early_stopping=False, tol=None, device="cpu", random_state=0),
    }


def _equality_cases():
    from skdeepclust.cluster import DECClustering
    from skdeepclust.flow import NormalizingFlow
    from skdeepclust.neural_network import RBM
    from skdeepclust.representation import AutoEncoder

    ae = {"hidden_layer_sizes": (32,), "max_epochs": 3, "tol": None, "device": "cpu",
          "random_state": 0}
    return {
        "AutoEncoder": lambda b: AutoEncoder(4, batch_size=b, **ae),
        "DECClustering": lambda b: DECClustering(
            10, autoencoder=AutoEncoder(4, batch_size=b, **ae), batch_size=b, max_epochs=3,
            update_interval=20, tol=0.0, n_init=2, device="cpu", random_state=0),
        "NormalizingFlow": lambda b: NormalizingFlow(
            n_stages=2, hidden_layer_sizes=(32,), batch_size=b, max_epochs=3,
            early_stopping=False, tol=None, device="cpu", random_state=0),
        "RBM (exact)": lambda b: RBM(
            n_components=8, method="exact", centered=False, momentum=0.5,
            learning_rate=0.05, batch_size=b, max_epochs=3, device="cpu", random_state=0),
    }


def _state(est):
    out = {}
    for owner, prefix in ((est, ""), (getattr(est, "autoencoder_", None), "ae.")):
        if owner is not None:
            for k, v in owner.module_.state_dict().items():
                if v.is_floating_point():
                    out[prefix + k] = v.detach().double().numpy().copy()
    return out


def _worker(rank, world, port, global_batch, quick, queue):
    os.environ["SKDEEPCLUST_COMPUTE_DTYPE"] = "input"
    warnings.simplefilter("ignore")
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    if world > 1:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                                world_size=world, timeout=datetime.timedelta(seconds=300))

    def barrier():
        if world > 1:
            dist.barrier()

    batch = global_batch // world
    out = {"throughput": {}, "equality": {}}
    n, epochs, cases = _throughput_cases(quick)
    X = _blobs(n, 64, np.float32)
    X_flow = _blobs(n, 8, np.float32, seed=1)
    for name, make in cases.items():
        est = make(batch)
        barrier()
        start, cpu = time.perf_counter(), time.process_time()
        est.fit(X_flow if "Flow" in name else X)
        barrier()
        out["throughput"][name] = {"seconds": time.perf_counter() - start,
                                   "cpu_seconds": time.process_time() - cpu,
                                   "rows": n, "epochs": epochs}
    if world > 1:  # the cost of one step's collective alone, by buffer size
        out["all_reduce"] = {}
        for size in (1_000, 100_000, 1_000_000):
            t = torch.ones(size)
            for _ in range(10):
                dist.all_reduce(t)
            barrier()
            start, cpu = time.perf_counter(), time.process_time()
            for _ in range(100):
                dist.all_reduce(t)
            out["all_reduce"][size] = {"ms": (time.perf_counter() - start) * 10,
                                       "cpu_ms": (time.process_time() - cpu) * 10}
    X64 = _blobs(2000, 16, np.float64, seed=2)
    Xb = (np.random.RandomState(3).uniform(size=(2000, 10)) < 0.3).astype(np.float64)
    for name, make in _equality_cases().items():
        est = make(16 // world).fit(Xb if name.startswith("RBM") else X64)
        out["equality"][name] = {"state": _state(est), "loss_curve": list(est.loss_curve_)}
    if world > 1:
        dist.destroy_process_group()
    queue.put((rank, out))


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spawn(world, global_batch, quick):
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=_worker, args=(r, world, port, global_batch, quick, queue))
             for r in range(world)]
    for p in procs:
        p.start()
    results = dict(queue.get(timeout=3600) for _ in procs)
    for p in procs:
        p.join()
    return results


def _max_rel(a, b):
    return max(float(np.max(np.abs(a[k] - b[k]) / np.maximum(np.abs(b[k]), 1e-12)))
               for k in b)


def run_ddp(args):
    global_batch = 256
    one = _spawn(1, global_batch, args.quick)[0]
    two = _spawn(WORLD, global_batch, args.quick)
    rows = []
    for name, ref in one["throughput"].items():
        t1 = ref["seconds"]
        t2 = max(two[r]["throughput"][name]["seconds"] for r in range(WORLD))
        c1 = ref["cpu_seconds"]
        c2 = max(two[r]["throughput"][name]["cpu_seconds"] for r in range(WORLD))
        total = ref["rows"] * ref["epochs"]
        rows.append({"case": name, "global batch": global_batch * (4 if "x4" in name else 1),
                     "1 proc rows/s": total / t1, "2 procs rows/s": total / t2,
                     "speed-up": t1 / t2, "1 proc s": t1, "2 procs s": t2,
                     "1 proc CPU s": c1, "2 procs CPU s/rank": c2, "CPU bound": c1 / c2})
    print_table(rows, ["case", "global batch", "1 proc rows/s", "2 procs rows/s",
                       "speed-up", "1 proc s", "2 procs s", "1 proc CPU s",
                       "2 procs CPU s/rank", "CPU bound"])
    eq_rows = []
    for name, ref in one["equality"].items():
        s0, s1 = (two[r]["equality"][name]["state"] for r in range(WORLD))
        eq_rows.append({
            "estimator": name, "batch": f"2 x {16 // WORLD} vs 1 x 16",
            "max rel diff vs 1 proc": _max_rel(s0, ref["state"]),
            "ranks identical": all(np.array_equal(s0[k], s1[k]) for k in s0),
            "loss curve (2 procs)": [round(v, 6) for v in two[0]["equality"][name]["loss_curve"]],
            "loss curve (1 proc)": [round(v, 6) for v in ref["loss_curve"]],
        })
    print()
    ar_rows = [{"float32 values": size, "ms per all_reduce": two[0]["all_reduce"][size]["ms"],
                "CPU ms (rank 0)": two[0]["all_reduce"][size]["cpu_ms"]}
               for size in two[0]["all_reduce"]]
    print_table(ar_rows, ["float32 values", "ms per all_reduce", "CPU ms (rank 0)"])
    print()
    print_table(eq_rows, ["estimator", "batch", "max rel diff vs 1 proc", "ranks identical"])
    save_json(args.out, {"part": "ddp", "quick": args.quick, "world_size": WORLD,
                         "load_average": os.getloadavg(), "throughput": rows, "all_reduce": ar_rows,
                         "equality": eq_rows})


# ----------------------------------------------------------------- part "predict"
N_CLASSES = 20
N_FEATURES = 64


def _centers():
    """The 20 cluster centres (the same for every seed of the rows)."""
    return np.random.default_rng(10**6).normal(
        scale=0.6, size=(N_CLASSES, N_FEATURES)).astype(np.float32)


def _labels_block(block_id=None, block_info=None, *, seed=0):
    """The class labels of one block of the lazy blobs (cheap: no features drawn)."""
    i = block_id[0]
    rows = block_info[None]["chunk-shape"][0]
    return np.random.default_rng([seed, i]).integers(N_CLASSES, size=rows)


def _rows_block(block_id=None, block_info=None, *, seed=0):
    """One block of the lazy blobs: 20 Gaussian clusters in 64 dimensions, drawn from a
    generator seeded by the block's index (the same rows wherever it runs)."""
    i = block_id[0]
    rows = block_info[None]["chunk-shape"][0]
    rng = np.random.default_rng([seed, i])
    y = rng.integers(N_CLASSES, size=rows)
    X = rng.standard_normal((rows, N_FEATURES), dtype=np.float32)
    X += _centers()[y]
    return X


def _local_blobs(n, chunk, seed):
    """The first ``n`` rows of the lazy blobs, drawn here (``n`` a multiple of ``chunk``)."""
    parts = [(_rows_block((i, 0), {None: {"chunk-shape": (chunk, N_FEATURES)}}, seed=seed),
              _labels_block((i,), {None: {"chunk-shape": (chunk,)}}, seed=seed))
             for i in range(n // chunk)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _acc_from_table(table):
    from scipy.optimize import linear_sum_assignment

    table = np.asarray(table, dtype=np.int64).reshape(N_CLASSES, -1)
    r, c = linear_sum_assignment(-table)
    return float(table[r, c].sum() / table.sum())


def _predict_block(block, model):
    return np.asarray(model.predict(block))


def _worker_memory():
    """This worker's resident set, unique set and peak resident set (VmHWM), in MiB."""
    import psutil

    info = psutil.Process().memory_full_info()
    peak = 0.0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM"):
                peak = int(line.split()[1]) / 1024
    return {"rss": info.rss / 2**20, "uss": info.uss / 2**20, "hwm": peak}


def _reset_peak():
    """Reset this process's VmHWM to its current RSS (Linux ``clear_refs``)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _cpu_and_faults():
    """This process's CPU seconds (all threads) and minor page faults."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime, r.ru_minflt


def _install_unpickle_counter():
    """Count, in this worker, the estimators unpickled (by class name)."""
    import collections

    from skdeepclust import base

    if not hasattr(base, "_bench_unpickles"):
        base._bench_unpickles = collections.Counter()
        original = base.TorchEstimator.__setstate__

        def counting(self, state):
            base._bench_unpickles[type(self).__name__] += 1
            return original(self, state)

        base.TorchEstimator.__setstate__ = counting
    base._bench_unpickles.clear()


def _unpickles():
    from skdeepclust import base

    return dict(base._bench_unpickles)


def _task_settings():
    """torch's thread count and skdeepclust's working_memory in a worker's task."""
    import torch

    import skdeepclust

    return {"torch threads": torch.get_num_threads(),
            "working_memory": skdeepclust.get_config()["working_memory"]}


class _MemorySampler:
    """Sample every worker's memory (and the client's RSS) from a thread."""

    def __init__(self, client, interval=1.0):
        import threading

        self.client, self.interval = client, interval
        self.peak: dict = {}
        self.client_peak = 0.0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        import psutil

        me = psutil.Process()
        while not self._stop.is_set():
            try:
                mem = self.client.run(_worker_memory)
            except Exception:  # noqa: BLE001 - a worker restarting: skip the sample
                mem = {}
            for w, m in mem.items():
                peak = self.peak.setdefault(w, {"rss": 0.0, "uss": 0.0})
                peak["rss"] = max(peak["rss"], m["rss"])
                peak["uss"] = max(peak["uss"], m["uss"])
            self.client_peak = max(self.client_peak, me.memory_info().rss / 2**20)
            self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _timed_on_cluster(client, name, compute, rows):
    """Run ``compute()`` (a dask computation on the workers) and measure it."""
    import psutil

    client.run(_reset_peak)
    client.run(_install_unpickle_counter)
    me = psutil.Process()
    before = client.run(_cpu_and_faults)
    client_cpu = sum(me.cpu_times()[:2])
    with _MemorySampler(client) as sampler:
        start = time.perf_counter()
        value = compute()
        seconds = time.perf_counter() - start
    client_cpu = sum(me.cpu_times()[:2]) - client_cpu
    after = client.run(_cpu_and_faults)
    mem = client.run(_worker_memory)
    workers = sorted(mem)
    cpu = {w: after[w][0] - before[w][0] for w in workers}
    faults = {w: after[w][1] - before[w][1] for w in workers}
    row = {
        "case": name, "rows": rows, "seconds": seconds,
        "rows/s per worker": rows / seconds / len(workers),
        "worker CPU s": sum(cpu.values()),
        "cores used per worker": sum(cpu.values()) / seconds / len(workers),
        "minor page faults": sum(faults.values()),
        "client CPU s (scheduler and client)": client_cpu,
        "peak RSS MiB (max worker)": max(mem[w]["hwm"] for w in workers),
        "sampled peak USS MiB (max worker)": max(
            sampler.peak.get(w, {"uss": 0.0})["uss"] for w in workers),
        "client RSS MiB (sampled peak)": sampler.client_peak,
        "memory samples": sampler.samples,
        "per worker": {w: {"cpu_s": cpu[w], "minor_page_faults": faults[w],
                           "peak_rss_mib": mem[w]["hwm"],
                           "sampled_peak_rss_mib": sampler.peak.get(w, {}).get("rss"),
                           "sampled_peak_uss_mib": sampler.peak.get(w, {}).get("uss")}
                       for w in workers},
        "unpickled estimators per worker": client.run(_unpickles),
    }
    print(f"  {name}: {seconds:.1f} s, {row['rows/s per worker']:.0f} rows/s per worker, "
          f"{row['worker CPU s']:.1f} worker CPU s, peak RSS "
          f"{row['peak RSS MiB (max worker)']:.0f} MiB", flush=True)
    return row, value


def _fit_models(quick):
    from skdeepclust.cluster import DECClustering
    from skdeepclust.flow import NormalizingFlow
    from skdeepclust.metrics import cluster_accuracy
    from skdeepclust.representation import AutoEncoder

    n_fit = 20_000 if quick else 200_000
    X, y = _local_blobs(n_fit, 10_000, seed=1)  # other rows than the predicted ones
    fits = {}
    with Timer() as t:
        dec = DECClustering(
            N_CLASSES, autoencoder=AutoEncoder(10, hidden_layer_sizes=(256, 128),
                                               max_epochs=2, tol=None, random_state=0),
            max_epochs=2, batch_size=256, update_interval="batch", n_init=2, tol=0.0,
            random_state=0).fit(X)
    fits["DECClustering"] = {"rows": n_fit, "seconds": t.seconds,
                             "train acc": float(cluster_accuracy(y, dec.labels_))}
    n_flow = n_fit // 4
    with Timer() as t:
        flow = NormalizingFlow(n_stages=2, hidden_layer_sizes=(64,), max_epochs=1,
                               early_stopping=False, tol=None, random_state=0).fit(X[:n_flow])
    fits["NormalizingFlow"] = {"rows": n_flow, "seconds": t.seconds}
    return dec, flow, fits


#: The workers' allocator settings of the "tuned" runs. dask's nanny starts every worker
#: with MALLOC_TRIM_THRESHOLD_=65536 (``distributed.nanny.pre-spawn-environ``), which also
#: freezes glibc's mmap threshold at 128 KiB: every tensor of an inference chunk is then
#: mmap-ed and unmapped, and its pages fault in again on each use. These keep allocations
#: up to 32 MiB on the heap and give freed memory back only above 256 MiB.
TUNED_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(32 * 2**20),
                "MALLOC_TRIM_THRESHOLD_": str(256 * 2**20)}
#: The tuned runs also turn off the workers' statistical profiler (a stack sample every
#: 10 ms, about 5% of the CPU of a predict here).
TUNED_CONFIG = {"distributed.worker.profile.enabled": False}


@contextlib.contextmanager
def _local_cluster(args, spawn_env, config):
    """A 2 x 1-thread LocalCluster whose workers start with ``spawn_env`` and the dask
    ``config``, with a Client; torch and skdeepclust imported on the workers."""
    import dask
    from distributed import Client, LocalCluster

    saved = dict(os.environ)  # the nanny writes spawn_env into this process's environment
    try:
        with dask.config.set({"distributed.nanny.pre-spawn-environ": spawn_env, **config}):
            cluster = LocalCluster(n_workers=WORLD, threads_per_worker=1,
                                   memory_limit=args.memory_limit, dashboard_address=None,
                                   processes=True)
        try:
            client = Client(cluster)
            client.run(_install_unpickle_counter)
            yield client
        finally:
            client.close()
            cluster.close()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _cluster_runs(args, environ, config, label, models, local_labels, n_rows, n_local,
                  full, baseline):
    """Time the cases on the lazy ``n_rows`` x 64 array (``full``: every case, else
    drawing and predict), each on a new cluster (its own worker processes, so each
    case's peak memory is its own) whose workers get ``environ`` and the dask ``config``,
    with ``baseline(kind)`` measured in-process just before and after it (the load of a
    shared machine drifts)."""
    import dask
    import dask.array as da
    import distributed  # noqa: F401 - registers its dask config

    dec, ae, flow = models
    chunk = args.chunk
    spawn_env = {**dask.config.get("distributed.nanny.pre-spawn-environ"), **environ,
                 "SKDEEPCLUST_WORKING_MEMORY": str(args.working_memory)}
    print(f"cluster '{label}': {spawn_env}, {config}", flush=True)
    out = {"label": label, "worker environment": spawn_env, "dask config": config}
    blocks = (chunk,) * (n_rows // chunk) + ((n_rows % chunk,) if n_rows % chunk else ())
    X = da.map_blocks(_rows_block, dtype=np.float32, chunks=(blocks, (N_FEATURES,)),
                      seed=0, meta=np.empty((0, N_FEATURES), np.float32))
    y = da.map_blocks(_labels_block, dtype=np.int64, chunks=(blocks,), seed=0,
                      meta=np.empty((0,), np.int64))
    out["blocks"] = len(blocks)

    def table_of(labels):  # the class x cluster table, reduced on the workers
        return da.bincount(y * N_CLASSES + labels, minlength=N_CLASSES**2)

    cases = [("drawing only (X[:, 0].sum())", "drawing", lambda: X[:, 0].sum().compute()),
             ("DECClustering.predict (library: the model one key of the graph)",
              "DECClustering.predict", lambda: table_of(dec.predict(X)).compute())]
    if full:
        in_every_task = functools.partial(_predict_block, model=dec)
        cases += [
            ("DECClustering.predict (the model in every task: functools.partial)",
             "DECClustering.predict",
             lambda: table_of(X.map_blocks(in_every_task, dtype=np.int64, drop_axis=1,
                                           meta=np.empty((0,), np.int64))).compute()),
            ("AutoEncoder.transform (sum of the codes)", "AutoEncoder.transform",
             lambda: ae.transform(X).sum(axis=0).compute()),
            ("NormalizingFlow.score_samples (mean)", "NormalizingFlow.score_samples",
             lambda: flow.score_samples(X).mean().compute())]
    runs = []
    for name, kind, compute in cases:
        with _local_cluster(args, spawn_env, config) as client:
            if not runs:
                out["settings in a worker task"] = [
                    client.submit(_task_settings, pure=False, workers=[w]).result()
                    for w in client.scheduler_info()["workers"]]
                out["worker memory idle MiB (torch and skdeepclust imported)"] = (
                    client.run(_worker_memory))
            before = baseline(kind)
            row, value = _timed_on_cluster(client, name, compute, n_rows)
            row["in-process (before, after)"] = [before, baseline(kind)]
            if name.startswith("DEC"):
                row["acc (all rows)"] = _acc_from_table(value)
            runs.append(row)
            if full and len(runs) == 2:  # the labels of the first rows, against in-process
                head = dec.predict(X[:n_local]).compute()
                out["labels equal in-process (first rows)"] = float(
                    np.mean(head == local_labels))
    out["runs"] = runs
    return out


def _ratios(runs):
    """Per-worker throughput against the in-process one per core (the mean of the two
    baselines measured around each case)."""

    def mean(row, key):
        return float(np.mean([r[key] for r in row["in-process (before, after)"]]))

    draw = runs[0]
    draw["ratio wall (per worker / per core)"] = (
        draw["rows/s per worker"] / mean(draw, "rows/s"))
    draw["ratio CPU"] = draw["rows"] / draw["worker CPU s"] / mean(draw, "rows per CPU s")
    for row in runs[1:]:
        # end to end the workers draw the rows too: in-process, drawing + the method
        per_row = 1 / mean(row, "rows/s") + 1 / mean(draw, "rows/s")
        row["in-process rows/s incl. drawing"] = 1 / per_row
        row["ratio wall (per worker / per core)"] = row["rows/s per worker"] * per_row
        row["ratio CPU"] = (row["rows"] / (row["worker CPU s"] - draw["worker CPU s"])
                            / mean(row, "rows per CPU s"))


def run_predict(args):
    """Part ``predict`` (see the module docstring)."""
    import pickle

    import torch

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    import skdeepclust
    from skdeepclust.metrics import cluster_accuracy

    skdeepclust.set_config(working_memory=args.working_memory)  # as on the workers
    n_rows = args.rows or (1_000_000 if args.quick else 10_000_000)
    chunk = args.chunk
    n_local = min(n_rows, 200_000 if args.quick else 1_000_000)
    n_local -= n_local % chunk
    load = {"start": os.getloadavg()}
    print(f"load average {load['start']}", flush=True)

    dec, flow, fits = _fit_models(args.quick)
    ae = dec.autoencoder_
    print("fits:", fits, flush=True)
    shipping = {}
    for name, model in (("DECClustering", dec), ("AutoEncoder", ae), ("NormalizingFlow", flow)):
        blob = pickle.dumps(model)
        with Timer() as t:
            for _ in range(20):
                pickle.loads(blob)
        shipping[name] = {"pickle bytes": len(blob), "unpickle ms": t.seconds / 20 * 1e3}

    # (1) in-process, numpy, one thread: the baseline per core
    X_local, y_local = _local_blobs(n_local, chunk, 0)
    labels_local = dec.predict(X_local)
    acc_local = float(cluster_accuracy(y_local, labels_local))
    methods = {"DECClustering.predict": dec.predict, "AutoEncoder.transform": ae.transform,
               "NormalizingFlow.score_samples": flow.score_samples}

    def draw():  # block by block, as the workers do
        for i in range(n_local // chunk):
            _rows_block((i, 0), {None: {"chunk-shape": (chunk, N_FEATURES)}}, seed=0)

    def baseline(kind, working_memory=None):
        work = draw if kind == "drawing" else functools.partial(methods[kind], X_local)
        with skdeepclust.config_context(working_memory=working_memory):
            best = None
            for _ in range(2):
                with Timer() as t:
                    work()
                best = t if best is None or t.seconds < best.seconds else best
        return {"rows": n_local, "seconds": best.seconds, "rows/s": n_local / best.seconds,
                "rows per CPU s": n_local / best.cpu_seconds,
                "cores used": best.cpu_seconds / best.seconds}

    local = {kind: baseline(kind) for kind in ("drawing", *methods)}
    local["DECClustering.predict, working_memory=128 (default)"] = baseline(
        "DECClustering.predict", 128)
    for name, r in local.items():
        print(f"  in-process {name}: {r['rows/s']:.0f} rows/s, {r['rows per CPU s']:.0f} rows "
              "per CPU s", flush=True)

    # (2) two workers of one thread each: tuned allocator, then dask's defaults
    models = (dec, ae, flow)
    clusters = []
    for label, environ, config, full in (
            ("tuned allocator, profiler off", TUNED_MALLOC, TUNED_CONFIG, True),
            ("dask defaults", {}, {}, False)):
        if not full and args.skip_default:
            continue
        load[label] = os.getloadavg()
        rows = n_rows if full else min(n_rows, args.default_rows)
        result = _cluster_runs(args, environ, config, label, models, labels_local, rows,
                               n_local, full=full, baseline=baseline)
        _ratios(result["runs"])
        clusters.append(result)
    load["end"] = os.getloadavg()

    columns = ["case", "seconds", "rows/s per worker", "cores used per worker",
               "ratio wall (per worker / per core)", "ratio CPU",
               "minor page faults", "peak RSS MiB (max worker)",
               "sampled peak USS MiB (max worker)", "acc (all rows)"]
    for result in clusters:
        print(f"\n{result['label']}:")
        print_table(result["runs"], columns)
    print(f"\nlabels of the first {n_local} rows equal in-process: "
          f"{clusters[0].get('labels equal in-process (first rows)')}; ACC there "
          f"{acc_local:.4f}; load {load}")
    save_json(args.out, {
        "part": "predict", "quick": args.quick, "rows": n_rows,
        "rows (dask defaults)": min(n_rows, args.default_rows), "chunk_rows": chunk,
        "workers": WORLD, "threads_per_worker": 1, "memory_limit": args.memory_limit,
        "working_memory_mib": args.working_memory, "load_average": load, "fits": fits,
        "model shipping": shipping, "in-process (1 thread, numpy)": local,
        "acc in-process (first rows)": acc_local, "clusters": clusters,
    })


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["ddp", "predict"])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=None)
    parser.add_argument("--rows", type=int, default=None,
                        help="predict: rows of the dask array (default 10 000 000)")
    parser.add_argument("--chunk", type=int, default=25_000,
                        help="predict: rows per dask block (6.4 MB of float32 at 25 000)")
    parser.add_argument("--working-memory", type=float, default=16,
                        help="predict: skdeepclust's working_memory (MiB), here and on the "
                             "workers")
    parser.add_argument("--default-rows", type=int, default=2_000_000,
                        help="predict: rows of the runs with dask's defaults")
    parser.add_argument("--skip-default", action="store_true",
                        help="predict: skip the cluster with dask's defaults")
    parser.add_argument("--memory-limit", default="1GB",
                        help="predict: the LocalCluster's memory_limit per worker")
    args = parser.parse_args()
    if args.out is None:
        suffix = "_quick" if args.quick else ""
        args.out = f"benchmarks/results/scale_out_{args.part}{suffix}.json"
    {"ddp": run_ddp, "predict": run_predict}[args.part](args)


if __name__ == "__main__":
    main()
