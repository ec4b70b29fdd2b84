"""CPU time and peak memory of GMMRepresentation's initial state alone (issue 19).

The initial state is the PCA of X, the scaling of the starting representations and the EM
start of the mixture (``GMMRepresentation._initial_state``); ``bench_scaling.py`` reports
it only inside ``fit1_cpu_s`` and the whole fit's peak. One process, one thread, float32
synthetic data of ``n`` rows x ``d`` columns (10 blobs in ``[0, 1]^d``, as in
``bench_scaling.py``); after a warm-up fit on 300 rows the peak resident set is reset
(Linux ``/proc/self/clear_refs`` = 5) and the initial state is built at the defaults with
``n_components=10``. Records ``init_cpu_s``, ``init_peak_above_mb`` (peak RSS minus the
RSS before, X allocated) and the component law the EM start chose.

Run from the repository root (to measure an earlier commit, run it with that commit's
package first on the path)::

    OMP_NUM_THREADS=1 python benchmarks/bench_dgd_init.py --n 5000 280000 \\
        --out benchmarks/results/dgd_init.jsonl
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def _mb(field: str) -> float:
    text = Path("/proc/self/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE).group(1)) / 1024.0



def _package_origin() -> str:
    """Whether the measured skdeepclust is this checkout's (no machine paths in results)."""
    import skdeepclust

    here = Path(skdeepclust.__file__).resolve()
    return "repository" if here.is_relative_to(Path.cwd().resolve()) else "another copy on sys.path"

def measure(n: int, d: int) -> dict:
    import torch

    from skdeepclust.representation import GMMRepresentation

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    centers = rng.uniform(0, 1, (10, d)).astype(np.float32)
    X = centers[rng.integers(0, 10, n)]
    X += 0.05 * rng.standard_normal((n, d), dtype=np.float32)
    GMMRepresentation(10, max_epochs=1, tol=None, random_state=0).fit(X[:300])  # warm-up
    est = GMMRepresentation(10, random_state=0)
    Path("/proc/self/clear_refs").write_text("5")
    before = _mb("VmRSS")
    start = time.process_time()
    est._resolve_auto(X, 10)
    mixture = est._initial_state(X, None, np.random.RandomState(0), 10)[4]
    cpu = time.process_time() - start
    law = mixture[4] if len(mixture) > 4 else None
    return {"n": n, "d": d, "init_cpu_s": cpu, "init_peak_above_mb": _mb("VmHWM") - before,
            "x_mb": X.nbytes / 2**20, "law": law, "package": _package_origin(),
            "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"],
                                     capture_output=True, text=True, check=False).stdout.strip()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[5000, 280000])
    parser.add_argument("--d", type=int, default=32)
    parser.add_argument("--label", default=None)
    parser.add_argument("--out", default=None, help="JSON lines file to append to")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:  # child: one fresh process per configuration
        print(json.dumps(measure(args.one, args.d)))
        return
    for n in args.n:
        proc = subprocess.run([sys.executable, __file__, "--one", str(n), "--d", str(args.d)],
                              capture_output=True, text=True, check=True)
        row = {"label": args.label, **json.loads(proc.stdout.splitlines()[-1])}
        print(json.dumps(row), flush=True)
        if args.out:
            with open(args.out, "a") as fh:
                fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
