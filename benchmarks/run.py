"""Speed of vimco_edu, printed as ratios so the figures hold on a noisy machine.

    python benchmarks/run.py          # full sizes (about a minute)
    python benchmarks/run.py --quick  # small sizes, to check the script runs
    OPENBLAS_NUM_THREADS=2 python benchmarks/run.py   # two BLAS threads (default: one,
                                                      # as the notebooks run)

1. vimco_signals over log_mean_exp on the same (1000, 1000) log-weights (target < 10):
   all K leave-one-out terms should cost a small constant times one log-mean-exp.
2. O(K) leave-one-out vs brute force O(K^2) at K = 1000 (rebuilding each set of others).
3. A VIMCO K=50 training step of a 784-200-200-200 SBN, batch 24: ms/step and the share
   of this machine's own numpy matmul rate it reaches (FLOPs of its matrix products per
   second over those of a plain matmul of its largest shape; target >= 0.5), measured as
   train() runs it. Step and matmul are timed in alternation and the best of each kept.
   The element-wise work runs on one core whatever BLAS does, so the ratio is for one
   BLAS thread unless OPENBLAS_NUM_THREADS says otherwise."""
import argparse
import os
import timeit

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy loads OpenBLAS

import numpy as np  # noqa: E402

from vimco_edu import log_mean_exp, sbn, surrogate, vimco_signals  # noqa: E402
from vimco_edu.leave_one_out import vimco_signals_brute_force  # noqa: E402
from vimco_edu.speed import reuse_freed_memory, value_and_grad_of_tree  # noqa: E402


def best_time(fn, number):
    """Best of five repeats of `number` calls, per call (the least disturbed by noise)."""
    return min(timeit.repeat(fn, number=number, repeat=5)) / number


def matmul_flops(batch, k, sizes):
    """FLOPs of the matrix products of one SBN training step: q's first layer once per
    input, every other layer once per sample; the backward pass adds one product per layer
    (the weights' gradient: the sampled latents are constants, so no input gradient)."""
    rows, forward = batch * k, 2 * batch * sizes[0] * sizes[1]
    for a, b in zip(sizes[1:-1], sizes[2:]):
        forward += 2 * rows * a * b          # recognition layers above the first
    for a, b in zip(sizes[:-1], sizes[1:]):
        forward += 2 * rows * a * b          # generative layers
    return 2 * forward


def main(quick):
    rng = np.random.default_rng(0)
    n = 100 if quick else 1000
    log_w = rng.normal(scale=10.0, size=(n, n))
    ratio = best_time(lambda: vimco_signals(log_w), 3) / best_time(lambda: log_mean_exp(log_w), 3)
    print(f"1. vimco_signals / log_mean_exp on ({n}, {n}):       {ratio:6.1f}x  (target < 10)")

    k = 100 if quick else 1000
    row = rng.normal(scale=10.0, size=(1, k))
    assert np.allclose(vimco_signals_brute_force(row), vimco_signals(row), atol=1e-9)
    brute = best_time(lambda: vimco_signals_brute_force(row), 2)
    speedup = brute / best_time(lambda: vimco_signals(row), 2)
    print(f"2. O(K) vs brute-force O(K^2) leave-one-out, K={k}:   {speedup:6.0f}x faster")

    sizes = [784, 50, 50, 50] if quick else [784, 200, 200, 200]
    batch, k = 24, 50
    reuse_freed_memory()                     # as the experiments command does
    params = sbn.init_sbn(sizes, rng, dtype=np.float32)
    x = (rng.random((batch, 784)) < 0.3).astype(np.float32)
    step = value_and_grad_of_tree(lambda p: surrogate(*sbn.log_weights(p, x, k, rng), "vimco"))
    a = rng.standard_normal((batch * k, sizes[1])).astype(np.float32)
    b = rng.standard_normal((sizes[1], 784)).astype(np.float32)
    seconds, matmul_seconds = [], []
    for _ in range(2 if quick else 5):
        seconds.append(best_time(lambda: step(params), 2 if quick else 3))
        matmul_seconds.append(best_time(lambda: a @ b, 10))
    seconds = min(seconds)
    rate = 2 * a.shape[0] * a.shape[1] * b.shape[1] / min(matmul_seconds)
    share = matmul_flops(batch, k, sizes) / seconds / rate
    print(f"3. VIMCO K={k} step, SBN {'-'.join(map(str, sizes))}, batch {batch}: "
          f"{1e3 * seconds:.0f} ms/step = {share:.2f} of numpy's matmul rate "
          f"({rate / 1e9:.0f} GFLOP/s here, BLAS threads: "
          f"{os.environ['OPENBLAS_NUM_THREADS']})  (target >= 0.5)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: check the script runs")
    main(parser.parse_args().quick)
