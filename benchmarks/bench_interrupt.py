"""Ctrl-C during a GridSearchCV: seconds from SIGINT to the process's exit.

A child process fits an AutoEncoder inside ``GridSearchCV`` (candidates that would train
for hours); the parent sends SIGINT one second into the first candidate's fit and times
how long the child takes to end with ``KeyboardInterrupt`` (the issue's target: 5 s).
Each repeat is a fresh process; the figures go to a JSON file.

    OMP_NUM_THREADS=1 python benchmarks/bench_interrupt.py --repeat 5 --json benchmarks/results/interrupt.json
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save_json

CHILD = textwrap.dedent("""
    import numpy as np, torch
    torch.set_num_threads(1)
    from sklearn.model_selection import GridSearchCV
    from skdeepclust.representation import AutoEncoder
    X = np.random.RandomState(0).rand(40, 5).astype(np.float32)
    ae = AutoEncoder(2, hidden_layer_sizes=(4,), max_epochs=10**7, batch_size=8, tol=None,
                     device="cpu", random_state=0)
    print("ready", flush=True)
    GridSearchCV(ae, {"n_components": [1, 2]}, cv=2).fit(X)
    print("search finished", flush=True)
""")


def one_run() -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline() == "ready\n"
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        out, err = proc.communicate(timeout=300)
        elapsed = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = err.splitlines()
    return {"exit_s": elapsed, "returncode": proc.returncode,
            "keyboard_interrupt": bool(lines) and lines[-1] == "KeyboardInterrupt",
            "search_finished": "search finished" in out}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    runs = [one_run() for _ in range(args.repeat)]
    for r in runs:
        print(f"exit {r['exit_s']:.2f} s after SIGINT, KeyboardInterrupt {r['keyboard_interrupt']}, "
              f"search finished {r['search_finished']}")
    load = os.getloadavg()[0]
    print(f"max {max(r['exit_s'] for r in runs):.2f} s over {len(runs)} runs (load {load:.1f})")
    if args.json:
        save_json(args.json, {"args": vars(args), "load_1min": load, "runs": runs})


if __name__ == "__main__":
    main()
