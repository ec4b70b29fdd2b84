"""The matrix-product floor of one DEC pretraining epoch on this machine.

DEC's autoencoder (d-500-500-2000-10 and its mirror) spends its time in the matrix products
of its linear layers: a training step costs about 6 FLOPs per weight per sample (forward,
and the two products of the backward pass). This script measures the throughput torch's
``linear`` reaches on the layer shapes of a batch of 256 and prints the time an epoch over
``--n-samples`` rows cannot go below at that throughput. Any library that trains the same
network with the same epochs and batch size in float32 does the same products, so its
epoch time is bounded by the same floor (see benchmarks/README.md, DEC section).

    python benchmarks/gemm_ceiling.py --threads 2
"""

from __future__ import annotations

import argparse
import itertools
import time

import torch

HIDDEN = (500, 500, 2000)


def layer_shapes(n_features: int, hidden=HIDDEN, n_components: int = 10):
    widths = [n_features, *hidden, n_components]
    encoder = list(itertools.pairwise(widths))
    return encoder + [(o, i) for i, o in reversed(encoder)]


def gflops(batch: int, n_in: int, n_out: int, reps: int) -> float:
    """Throughput of ``linear`` (forward) on a (batch, n_in) input, in GFLOP/s."""
    x, w, b = torch.randn(batch, n_in), torch.randn(n_out, n_in), torch.randn(n_out)
    for _ in range(5):
        torch.nn.functional.linear(x, w, b)
    start = time.perf_counter()
    for _ in range(reps):
        torch.nn.functional.linear(x, w, b)
    return 2 * batch * n_in * n_out * reps / (time.perf_counter() - start) / 1e9


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--n-features", type=int, default=784)
    p.add_argument("--n-samples", type=int, default=70_000)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--reps", type=int, default=200)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    shapes = layer_shapes(args.n_features)
    total_flops, total_s = 0.0, 0.0
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size}")
    for n_in, n_out in shapes:
        rate = gflops(args.batch_size, n_in, n_out, args.reps)
        flops = 6.0 * n_in * n_out * args.n_samples  # forward + backward, one epoch
        total_flops += flops
        total_s += flops / (rate * 1e9)
        print(f"  {n_in:>5} -> {n_out:<5} {rate:6.1f} GFLOP/s")
    n_weights = sum(i * o for i, o in shapes)
    print(f"{n_weights / 1e6:.2f} M weights; one epoch over {args.n_samples} rows = "
          f"{total_flops / 1e12:.2f} TFLOP; at the measured throughput it takes at least "
          f"{total_s:.1f} s ({total_flops / total_s / 1e9:.1f} GFLOP/s on average)")


if __name__ == "__main__":
    main()
