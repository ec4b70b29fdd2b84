"""Does bfloat16 pretraining land DEC on poor codes because of its first epochs?

Over twenty MNIST-10k seeds, two DEC fits with bfloat16 pretraining from the first step
started from a poor k-means partition of the pretrained codes (seeds 1 and 13: ACC 0.686 /
0.693 against 0.743 / 0.749 in float32; ``results/dec_mnist10k_trace_bf16_fp32_s1_s13.json``).
This study runs ``bench_dec.py --methods trace`` at the defaults with
``mixed_precision="auto"``, whose first ``MIXED_PRECISION_FLOAT32_SHARE`` of the
pretraining's minibatch steps run in float32, with that share set to ``--fp32-share`` (0:
bfloat16 from the first step, as ``"auto"`` was before). Options after ``--`` go to
``bench_dec.py``::

    python benchmarks/study_mixed_precision_start.py --fp32-share 0.2 -- --data mnist10k \\
        --methods trace --seeds 1 --threads 2 --json benchmarks/results/study_mp_start_s1.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_dec  # noqa: E402

from skdeepclust import _precision  # noqa: E402


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    cut = argv.index("--") if "--" in argv else len(argv)
    own, rest = argv[:cut], argv[cut + 1:]
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fp32-share", type=float, default=0.2)
    args = parser.parse_args(own)
    import skdeepclust

    skdeepclust.set_config(mixed_precision="auto")
    _precision.MIXED_PRECISION_FLOAT32_SHARE = args.fp32_share
    bench_dec.main(rest)


if __name__ == "__main__":
    main()
