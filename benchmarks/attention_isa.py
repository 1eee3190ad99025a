"""fcmatch's packed causal attention kernel built for each x86 vector width, against torch's sdpa per example.

Run:  python benchmarks/attention_isa.py [--threads 2] [--repeats 30]

One (tokens, heads, 64) batch of eight examples of 97-208 tokens (1,198 tokens in all, the size of the training
benchmark's warm batch), SmolLM2-135M's 9 query and 3 key/value heads. For each ``-march`` level this CPU can run
(x86-64-v2: SSE, 4-float vectors; x86-64-v3: AVX2, 8; x86-64-v4: AVX-512, 16; native) the kernels are built into
a temporary folder and timed, forward and backward; the reference is ``F.scaled_dot_product_attention`` run on
each example alone, as fcmatch does without its kernels. It prints the median milliseconds over ``--repeats``
timed calls, the counted GFLOP/s (causal: QK^T and PV forward, twice that backward) and the largest difference
from the reference's output.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import fcmatch.models
from fcmatch.models import cpu_flags
from fcmatch.train.cpu import kernels

LENGTHS = [130, 184, 97, 160, 171, 112, 208, 136]
HEADS, KV_HEADS, DIM, SCALE = 9, 3, 64, 0.125
LEVELS = {"x86-64-v2": {"popcnt", "sse4_2", "ssse3"}, "x86-64-v3": {"avx2", "bmi2", "fma", "movbe"},
          "x86-64-v4": {"avx512f", "avx512bw", "avx512dq", "avx512vl"}, "native": set()}


def timed(function, repeats: int) -> float:
    """Median milliseconds of one call, after three warm-up calls."""
    for _ in range(3):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def sdpa_per_example(q, k, v):
    outs = []
    for q_, k_, v_ in zip(q.split(LENGTHS), k.split(LENGTHS), v.split(LENGTHS), strict=True):
        one = F.scaled_dot_product_attention(q_.transpose(0, 1), k_.transpose(0, 1), v_.transpose(0, 1),
                                             is_causal=True, scale=SCALE, enable_gqa=True)
        outs.append(one.transpose(0, 1))
    return torch.cat(outs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    tokens = sum(LENGTHS)
    q = torch.randn(tokens, HEADS, DIM)
    k, v = torch.randn(tokens, KV_HEADS, DIM), torch.randn(tokens, KV_HEADS, DIM)
    grad = torch.randn(tokens, HEADS, DIM)
    bounds = torch.tensor([0, *torch.tensor(LENGTHS).cumsum(0).tolist()], dtype=torch.int64)
    pairs = HEADS * sum(n * (n + 1) // 2 for n in LENGTHS)
    forward_gflop = 2 * 2 * DIM * pairs / 1e9  # QK^T and PV, 2 FLOPs per multiply-add
    print(f"{tokens} tokens in {len(LENGTHS)} examples, {HEADS} heads, {KV_HEADS} key/value heads, "
          f"{args.threads} threads; forward {forward_gflop * 1e3:.0f} MFLOP, backward twice that")
    print(f"{'build':<22}{'forward ms':>11}{'GFLOP/s':>9}{'backward ms':>13}{'GFLOP/s':>9}{'max |diff|':>12}")

    leaves = [t.clone().requires_grad_() for t in (q, k, v)]

    def reference_backward():
        out = sdpa_per_example(*leaves)
        torch.autograd.grad(out, leaves, grad)

    with torch.no_grad():
        want = sdpa_per_example(q, k, v)
    forward_ms = timed(lambda: sdpa_per_example(q, k, v), args.repeats)
    total_ms = timed(reference_backward, args.repeats)
    backward_ms = total_ms - forward_ms
    print(f"{'torch sdpa per example':<22}{forward_ms:>11.2f}{forward_gflop / forward_ms * 1e3:>9.1f}"
          f"{backward_ms:>13.2f}{2 * forward_gflop / backward_ms * 1e3:>9.1f}{0.0:>12.1e}")

    flags, x86 = cpu_flags(), platform.machine() in ("x86_64", "AMD64")
    native_flags, home = kernels._FLAGS, fcmatch.models.fcmatch_home
    with tempfile.TemporaryDirectory() as tmp:
        fcmatch.models.fcmatch_home = lambda: Path(tmp)  # each build goes to the temporary folder
        try:
            for level, needs in LEVELS.items():
                name = f"-march={level}"
                if level != "native" and (not x86 or not needs <= flags):
                    print(f"{name:<22}  (this CPU cannot run it)")
                    continue
                kernels._FLAGS = tuple(name if f == "-march=native" else f for f in native_flags)
                kernels.library.cache_clear()
                if kernels.library() is None:
                    print(f"{name:<22}  (could not be built)")
                    continue
                out, lse = kernels.attention(q, k, v, bounds, SCALE)
                forward_ms = timed(lambda: kernels.attention(q, k, v, bounds, SCALE), args.repeats)
                backward_ms = timed(lambda: kernels.attention_backward(grad, q, k, v, out, lse, bounds, SCALE),  # noqa: B023
                                    args.repeats)
                diff = (out - want).abs().max().item()
                print(f"{name:<22}{forward_ms:>11.2f}{forward_gflop / forward_ms * 1e3:>9.1f}"
                      f"{backward_ms:>13.2f}{2 * forward_gflop / backward_ms * 1e3:>9.1f}{diff:>12.1e}")
        finally:
            kernels._FLAGS, fcmatch.models.fcmatch_home = native_flags, home
            kernels.library.cache_clear()
    return 0


if __name__ == "__main__":
    sys.exit(main())
