"""Scale-out benchmark (issue 20): data-parallel training with torch.distributed.

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

Run from the repository root::

    OMP_NUM_THREADS=1 python benchmarks/bench_scale_out.py ddp [--quick]

Results go to ``benchmarks/results/scale_out_ddp.json`` (``--out``). On a shared machine,
compare the speed-up only with the load average the file records.
"""

from __future__ import annotations

import argparse
import datetime
import multiprocessing
import os
import socket
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import print_table, save_json

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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["ddp"])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.out is None:
        suffix = "_quick" if args.quick else ""
        args.out = f"benchmarks/results/scale_out_{args.part}{suffix}.json"
    run_ddp(args)


if __name__ == "__main__":
    main()
