"""Where the first fit's time goes in a fresh process (issue 22, "first use").

Each run is one fresh Python process (one torch thread, ``--threads``) that times, in order, the steps a
new user's first script goes through, by wall clock and by process CPU time (the CPU time
is the single-core work; the wall clock also counts waiting for a shared machine):

- ``import skdeepclust``;
- for the RBM (``RBM(n_components=16)`` on the binarised digits, the tour's setting):
  ``import numba``, the import of the numba kernels module, the first fit on float32 data
  (it compiles or loads the kernels for float32; each numba compilation it ran follows as a
  ``compile <function>`` record, nested ones marked: their time is inside their caller's),
  a second float32 fit, then a first float64 fit (float64 data is computed in float32: no
  new kernels);
- for the AutoEncoder (defaults on the digits scaled to [0, 1]): ``import torch._dynamo``
  (torch imports it on the first optimizer construction), the first fit, a second fit.

The numba cache is pointed (``NUMBA_CACHE_DIR``) at a new empty folder for the "cold" run,
which is what a fresh install or a new install location sees (numba's default cache sits
next to the installed file), and reused by the "warm" run, a later process of the same
install. The "relocated" runs copy the package to two new folders (two installs, numba's
default cache) and fit the RBM from each in turn: with numba's own locators the second
install compiles again; with skdeepclust's shared cache
(:mod:`skdeepclust._numba_cache`, installed by the child before the kernels are
imported) it loads what the first compiled.

Run from the repository root::

    OMP_NUM_THREADS=1 python benchmarks/bench_startup.py
    python benchmarks/bench_startup.py --threads 2 --repeat 3   # the issue's "2 cores"

Records are appended to ``benchmarks/results/startup.jsonl`` (``--out``), one per step.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import json, sys, time
def clock():
    return time.perf_counter(), time.process_time()
steps = []
def timed(name, fn):
    w, c = clock()
    out = fn()
    w2, c2 = clock()
    steps.append({"step": name, "wall_s": w2 - w, "cpu_s": c2 - c})
    return out
import warnings
warnings.simplefilter("ignore")
timed("import skdeepclust", lambda: __import__("skdeepclust"))
import os, skdeepclust
assert skdeepclust.__file__.startswith(os.getcwd()), skdeepclust.__file__  # the copy run
if len(sys.argv) > 2 and sys.argv[2] == "shared":
    from skdeepclust._numba_cache import install_cache_locator
    install_cache_locator()
import numpy as np, torch
torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
from sklearn.datasets import load_digits
X = (load_digits().data / 16.0).astype(np.float32)
which = sys.argv[1]
if which == "RBM":
    from skdeepclust import RBM
    Xb = (X > 0.5).astype(np.float32)
    timed("import numba", lambda: __import__("numba"))
    from numba.core import event
    compiles = []
    class Compiles(event.Listener):  # numba's compilations, in the order they finish
        stack = []
        def on_start(self, ev):
            self.stack.append(clock())
        def on_end(self, ev):
            (w, c), (w2, c2) = self.stack.pop(), clock()
            name = ev.data["dispatcher"].py_func.__name__
            nested = " (nested: in its caller's time)" if self.stack else ""
            compiles.append({"step": f"  compile {name}{nested}", "wall_s": w2 - w,
                             "cpu_s": c2 - c})
    event.register("numba:compile", Compiles())
    timed("import the kernels module", lambda: __import__("skdeepclust.nn._rbm_kernels"))
    fit = lambda data: RBM(n_components=16, random_state=0, device="cpu").fit(data)
    timed("first RBM fit (float32)", lambda: fit(Xb))
    steps.extend(compiles)
    compiles.clear()
    timed("second RBM fit (float32)", lambda: fit(Xb))
    timed("first RBM fit (float64)", lambda: fit(Xb.astype(np.float64)))
else:
    from skdeepclust import AutoEncoder
    if which == "AutoEncoder+dynamo":
        timed("import torch._dynamo", lambda: __import__("torch._dynamo"))
    fit = lambda: AutoEncoder(random_state=0, device="cpu").fit(X)
    timed("first AutoEncoder fit", fit)
    timed("second AutoEncoder fit", fit)
print(json.dumps(steps))
"""


THREADS = 1


def run(which: str, cache_dir: str | None, *, path: str | None = None, shared: bool = False,
        shared_dir: str | None = None) -> list[dict]:
    env = {**os.environ, "OMP_NUM_THREADS": str(THREADS)}
    env.pop("NUMBA_CACHE_DIR", None)
    if cache_dir:
        env["NUMBA_CACHE_DIR"] = cache_dir
    if path:
        env["PYTHONPATH"] = path
    if shared_dir:
        env["SKDEEPCLUST_CACHE_DIR"] = shared_dir
    cmd = [sys.executable, "-c", CHILD, which] + (["shared"] if shared else [])
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True,
                         cwd=path or os.getcwd()).stdout
    return json.loads(out.strip().splitlines()[-1])


def _install_copy(folder: str) -> str:
    """A copy of the package (sources only) in ``folder``, as a new install would be."""
    import skdeepclust

    src = os.path.dirname(skdeepclust.__file__)
    shutil.copytree(src, os.path.join(folder, "skdeepclust"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="benchmarks/results/startup.jsonl")
    parser.add_argument("--label", default="")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads of each fresh process (the issue's target is on 2 cores)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run the cold / warm / fresh sequence this many times")
    args = parser.parse_args()
    global THREADS
    THREADS = args.threads
    common = {"label": args.label, "python": platform.python_version(),
              "machine": platform.machine(), "cpus": os.cpu_count(),
              "threads": args.threads, "load_1min": os.getloadavg()[0], "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    records = []

    def record(run_name: str, which: str, steps: list[dict]) -> None:
        for step in steps:
            records.append({**common, "run": run_name, "case": which, **step})
            print(f"{run_name:26}{which:20}{step['step']:44}{step['wall_s']:8.2f} s wall"
                  f"{step['cpu_s']:8.2f} s CPU", flush=True)

    for repeat in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            cache = os.path.join(tmp, "numba-cache")
            record("cold", "RBM", run("RBM", cache))
            record("warm", "RBM", run("RBM", cache))
            record("fresh", "AutoEncoder", run("AutoEncoder", cache))
            if repeat == 0:
                record("fresh", "AutoEncoder+dynamo", run("AutoEncoder+dynamo", cache))
    with tempfile.TemporaryDirectory() as tmp:
        for shared in (False, True):
            tag = "shared cache" if shared else "numba default"
            shared_dir = os.path.join(tmp, f"shared-{shared}")
            for n in (1, 2):
                path = _install_copy(os.path.join(tmp, f"install-{shared}-{n}"))
                record(f"install {n}, {tag}", "RBM",
                       run("RBM", None, path=path, shared=shared, shared_dir=shared_dir))
    with open(args.out, "a") as f:
        f.writelines(json.dumps(r) + "\n" for r in records)


if __name__ == "__main__":
    main()
