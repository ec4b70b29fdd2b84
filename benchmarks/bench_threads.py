"""Threads of small CPU fits: OpenMP's wait policy, and the reach of torch.set_num_threads.

Part ``wait`` (what ``OMP_WAIT_POLICY=PASSIVE`` changes): each configuration is a fresh
process that imports torch first (so that the OpenMP runtime reads the policy the
configuration names, whatever skdeepclust does), sets torch's thread count to the number of
cores and times ``repeats`` AutoEncoder fits of

- ``small``: a 64-64-10-64-64 autoencoder on the digits, batch 200 (a step of about
  3 million multiply-adds, under ``skdeepclust._threads.SMALL_STEP_WORK``), with
  ``small_fit_threads="auto"`` (one thread for the fit) and ``"off"`` (torch's count);
- ``large``: a 784-256-32-256-784 autoencoder on 2000 random rows, batch 256 (about 110
  million), which always runs on torch's count,

under the wait policies ``default`` (the variable unset: GNU OpenMP spins for a while,
then sleeps), ``PASSIVE`` and ``ACTIVE``, on the machine as it is (``idle``: other programs
may run, see ``loadavg``) and with one busy-loop process per core (``busy``). Each record
holds the wall-clock and CPU seconds of every fit.

Part ``reach`` (what ``torch.set_num_threads`` changes in other threads on this build):
which thread counts a thread that had used torch before, and a thread that starts using
torch after, see while the main thread runs on one thread, with ``torch.set_num_threads``
and with skdeepclust's ``small_fit_threads`` (inside a small ``train_loop``); and the cost
of skdeepclust's change of the count (entering and leaving it once).

Run from the repository root::

    python benchmarks/bench_threads.py                 # both parts
    python benchmarks/bench_threads.py --part reach
    python benchmarks/bench_threads.py --part wait --loads idle --out benchmarks/results/threads_idle.json

Results go to ``benchmarks/results/threads.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import print_table, save_json

CHILD = r"""
import json, sys, time, warnings
import torch  # first: the OpenMP runtime reads OMP_WAIT_POLICY when it loads
import numpy as np
warnings.simplefilter("ignore")
import skdeepclust
from skdeepclust import AutoEncoder
workload, threads, repeats, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(int(sys.argv[5]))
if workload == "small":
    from sklearn.datasets import load_digits
    X = (load_digits().data / 16).astype(np.float32)
    params = dict(n_components=10, hidden_layer_sizes=(64,), batch_size=200)
else:
    X = np.random.RandomState(0).rand(2000, 784).astype(np.float32)
    params = dict(n_components=32, hidden_layer_sizes=(256,), batch_size=256)
walls, cpus = [], []
with skdeepclust.config_context(small_fit_threads=threads):
    AutoEncoder(**params, max_epochs=1, tol=None, device="cpu", random_state=0).fit(X)
    for r in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        AutoEncoder(**params, max_epochs=epochs, tol=None, device="cpu", random_state=r).fit(X)
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
print(json.dumps({"wall_s": walls, "cpu_s": cpus, "torch_threads": torch.get_num_threads()}))
"""

REACH = r"""
import json, threading, time
import torch
import skdeepclust
from skdeepclust._threads import SMALL_STEP_WORK, thread_count_is_per_thread
from skdeepclust._optim import make_optimizer
from skdeepclust._training import train_loop

n = int(__import__("sys").argv[1])
torch.set_num_threads(n)

def in_fresh_thread(fn):
    out = []
    t = threading.Thread(target=lambda: out.append(fn()))
    t.start(); t.join()
    return out[0]

def observe(change, restore):
    # a thread that used torch before the change, and one that starts during it
    ready, go, seen = threading.Event(), threading.Event(), {}
    def old():
        seen["old_before"] = torch.get_num_threads()
        ready.set(); go.wait()
        seen["old_during"] = torch.get_num_threads()
    t = threading.Thread(target=old); t.start(); ready.wait()
    change()
    seen["main_during"] = torch.get_num_threads()
    seen["new_thread_during"] = in_fresh_thread(torch.get_num_threads)
    go.set(); t.join()
    restore()
    seen["main_after"] = torch.get_num_threads()
    seen["new_thread_after"] = in_fresh_thread(torch.get_num_threads)
    return seen

out = {"parallel_backend": [l.strip() for l in torch.__config__.parallel_info().splitlines()
                            if "parallel backend" in l][0],
       "per_thread": thread_count_is_per_thread(), "cores": n}
out["torch.set_num_threads(1)"] = observe(lambda: torch.set_num_threads(1),
                                          lambda: torch.set_num_threads(n))

# the same inside a small train_loop, through skdeepclust's small_fit_threads
net = torch.nn.Linear(4, 4)
X = torch.randn(64, 4)
holder = {}
def fit():
    opt = make_optimizer("adam", net.parameters(), learning_rate=1e-3)
    def step(idx):
        if "seen" not in holder:
            holder["seen"] = observe(lambda: None, lambda: None)
        return net(X[idx]).pow(2).mean()
    train_loop(step, n_samples=64, batch_size=64, max_epochs=1,
               generator=torch.Generator().manual_seed(0), optimizer=opt)
fit()
seen = holder["seen"]
seen["main_after"] = torch.get_num_threads()
seen["new_thread_after"] = in_fresh_thread(torch.get_num_threads)
out["small train_loop (small_fit_threads='auto')"] = seen

# cost of skdeepclust's change of the count: enter and leave it once
from skdeepclust._threads import small_fit_threads
params = [torch.nn.Parameter(torch.zeros(10))]
times = []
for _ in range(50):
    t0 = time.perf_counter()
    with small_fit_threads(params, 1, torch.device("cpu")):
        pass
    times.append(time.perf_counter() - t0)
out["enter_and_leave_us_median"] = sorted(times)[len(times) // 2] * 1e6
print(json.dumps(out))
"""


def busy_loops(n: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def run_wait(args) -> list[dict]:
    cores = os.cpu_count()
    configs = [("small", "auto", args.small_epochs), ("small", "off", args.small_epochs),
               ("large", "auto", args.large_epochs)]
    records = []
    for load in args.loads:
        loops = busy_loops(cores) if load == "busy" else []
        try:
            time.sleep(1.0 if loops else 0.0)
            for policy in ("default", "PASSIVE", "ACTIVE"):
                for workload, threads, epochs in configs:
                    env = {k: v for k, v in os.environ.items()
                           if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
                    if policy != "default":
                        env["OMP_WAIT_POLICY"] = policy
                    record = {"part": "wait", "load": load, "busy_processes": len(loops),
                              "policy": policy, "workload": workload,
                              "small_fit_threads": threads, "epochs": epochs,
                              "repeats": args.repeats, "loadavg_1min": os.getloadavg()[0]}
                    try:
                        proc = subprocess.run(
                            [sys.executable, "-c", CHILD, workload, threads, str(args.repeats),
                             str(epochs), str(cores)],
                            env=env, capture_output=True, text=True, timeout=args.timeout,
                            check=True,
                        )
                        record.update(json.loads(proc.stdout.strip().splitlines()[-1]))
                        record["median_wall_s"] = sorted(record["wall_s"])[len(record["wall_s"]) // 2]
                        record["median_cpu_s"] = sorted(record["cpu_s"])[len(record["cpu_s"]) // 2]
                    except subprocess.TimeoutExpired:
                        record["timeout_s"] = args.timeout
                    records.append(record)
                    print(json.dumps({k: v for k, v in record.items()
                                      if k not in ("wall_s", "cpu_s")}), flush=True)
        finally:
            for p in loops:
                p.kill()
                p.wait()
    return records


def run_reach() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS",)}
    proc = subprocess.run([sys.executable, "-c", REACH, str(max(2, os.cpu_count()))], env=env,
                          capture_output=True, text=True, check=True)
    return {"part": "reach", **json.loads(proc.stdout.strip().splitlines()[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=["wait", "reach", "all"], default="all")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--small-epochs", type=int, default=10)
    parser.add_argument("--large-epochs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--loads", nargs="+", choices=["idle", "busy"], default=["idle", "busy"])
    parser.add_argument("--out", default="benchmarks/results/threads.json")
    args = parser.parse_args()
    payload = {"command": "python benchmarks/bench_threads.py " + " ".join(sys.argv[1:])}
    if args.part in ("reach", "all"):
        payload["reach"] = run_reach()
        print(json.dumps(payload["reach"], indent=1))
    if args.part in ("wait", "all"):
        payload["wait"] = run_wait(args)
        print_table(payload["wait"], ["load", "policy", "workload", "small_fit_threads",
                                      "median_wall_s", "median_cpu_s", "timeout_s",
                                      "loadavg_1min"])
    save_json(args.out, payload)


if __name__ == "__main__":
    main()
