"""Speed of vimco_edu, printed as ratios so the figures hold on a noisy machine.

    python benchmarks/run.py          # full sizes (about a minute)
    python benchmarks/run.py --quick  # small sizes, to check the script runs
    python benchmarks/run.py --items 3 4    # only some of the items below
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
   BLAS thread unless OPENBLAS_NUM_THREADS says otherwise.
4. The same step against its jax.jit twin (benchmarks/jit_twin.py), ours / twin (target
   <= 0.8), at the parameters of the stored VIMCO K=50 run (as mid-training) and at initial
   ones, on MNIST digits. With one BLAS thread the whole process, jax's threads included, is
   pinned to one CPU (the idlest) before jax starts, so that both steps get one core, and
   timed by the process's CPU time, which other work on a busy machine inflates far less than
   the wall clock; the two are timed in alternation and the best of each kept. Needs
   `pip install -r benchmarks/requirements.txt`; without jax it says so and skips. Some
   machines set OPENBLAS_CORETYPE to an older kernel, which slows numpy: unset it for this
   command alone (env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/run.py);
   the kernel OpenBLAS runs is printed. It also times a floor: our step with sigmoid and
   softplus computed by nothing (p = 1/2, no sums: wrong numbers, everything else as it is),
   which no formulation of them can beat."""
import argparse
import glob
import os
import pathlib
import sys
import time
import timeit

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy loads OpenBLAS

import numpy as np  # noqa: E402

from vimco_edu import _fast_chain, data, log_mean_exp, sbn, surrogate, vimco_signals  # noqa: E402
from vimco_edu.experiments import load_params  # noqa: E402
from vimco_edu.leave_one_out import vimco_signals_brute_force  # noqa: E402
from vimco_edu.speed import reuse_freed_memory, value_and_grad_of_tree  # noqa: E402


def best_time(fn, number, timer=time.perf_counter):
    """Best of five repeats of `number` calls, per call (the least disturbed by noise)."""
    return min(timeit.repeat(fn, number=number, repeat=5, timer=timer)) / number


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


def vimco_step(x, k, rng):
    """One VIMCO training step as train() runs it: params -> (value, gradient) of the batch
    surrogate on fresh samples."""
    return value_and_grad_of_tree(lambda p: surrogate(*sbn.log_weights(p, x, k, rng), "vimco"))


def without_sigmoid(step):
    """`step` with the fast chain's sigmoid and softplus computed by nothing (p = 1/2, no sums):
    wrong numbers, but every other pass, product and draw as it is; a floor for item 4."""
    def nothing(logits, logit_sum, out=None):
        probs = np.empty_like(logits) if out is None else out
        probs.fill(0.5)
        return probs, logit_sum

    def run(params):
        real = _fast_chain._probs_and_log_normaliser
        _fast_chain._probs_and_log_normaliser = nothing
        try:
            return step(params)
        finally:
            _fast_chain._probs_and_log_normaliser = real
    return run


def idlest_cpu(seconds=0.3):
    """The CPU of this process's allowed set that was idle longest over `seconds`."""
    def idle():
        with open("/proc/stat") as f:
            return {int(line.split()[0][3:]): int(line.split()[4]) for line in f
                    if line.startswith("cpu") and line[3].isdigit()}
    before = idle()
    time.sleep(seconds)
    after = idle()
    allowed = os.sched_getaffinity(0)
    return max(allowed, key=lambda cpu: after.get(cpu, 0) - before.get(cpu, 0))


def openblas_kernel():
    """The CPU kernel OpenBLAS runs (threadpoolctl), or why it is unknown."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (pip install threadpoolctl)"
    return ", ".join(f"{i['internal_api']} {i.get('architecture')}" for i in threadpool_info()
                     if i["user_api"] == "blas") or "no BLAS found"


class Replay:
    """A sampler (vimco_edu.sampling) handing out given uniforms, in order."""

    def __init__(self, uniforms):
        self.uniforms = list(uniforms)

    def random(self, shape, dtype):
        return self.uniforms.pop(0).astype(dtype)


def twin_difference(jax, jit_twin, params, x, k):
    """max |ours - twin| / max |ours| over the value and the gradient for the same uniforms:
    the twin computes the same step (float32 rounding apart)."""
    rng = np.random.default_rng(1)
    uniforms = [rng.random((len(x), k, layer["W"].shape[1]), dtype=np.float32)
                for layer in params["rec"]]
    ours = vimco_step(x, k, Replay(uniforms))(params)
    twin = jax.value_and_grad(jit_twin.surrogate)(params, x, uniforms)
    ours, twin = (np.concatenate([np.ravel(leaf) for leaf in jax.tree_util.tree_leaves(step)])
                  for step in (ours, twin))
    return np.max(np.abs(ours - twin)) / np.max(np.abs(ours))


def twin_ratio(quick, rng):
    """Item 4: ({setting: (ours / twin, ours s, twin s)} at trained and at initial parameters,
    twin_difference), or None without jax. XLA sizes its thread pool by the CPUs this process
    may use when jax starts."""
    try:
        import jax
    except ImportError:
        return None
    jax.config.update("jax_platforms", "cpu")
    sys.path.insert(0, str(pathlib.Path(__file__).parent))
    import jit_twin
    sizes, batch, k = ([784, 50, 50, 50] if quick else [784, 200, 200, 200]), 24, 50
    x = data.load_mnist("train", verbose=False)[:batch].astype(np.float32)
    stored = sorted(glob.glob(str(pathlib.Path(__file__).parents[1] / "notebooks" / "results"
                                  / "generative" / "vimco-k50-seed0-*.json")))
    settings = {"initial": sbn.init_sbn(sizes, rng, dtype=np.float32)}
    if stored and not quick:
        settings = {"trained": load_params(stored[0]), **settings}
    ratios = {}
    step = vimco_step(x, k, rng)
    floor_step = without_sigmoid(step)
    # on one CPU, the process's CPU time: what each step costs, whatever else runs there
    timer = time.process_time if len(os.sched_getaffinity(0)) == 1 else time.perf_counter
    for name, params in settings.items():
        ours, twin = lambda: step(params), jit_twin.make_step(params, x, k)
        floor = lambda: floor_step(params)  # noqa: E731
        times = {ours: [], twin: [], floor: []}
        for _ in range(2 if quick else 7):
            for fn in times:
                times[fn].append(best_time(fn, 2, timer))
        ours, twin, floor = (min(t) for t in times.values())
        ratios[name] = ours / twin, ours, twin, floor / twin
    return ratios, twin_difference(jax, jit_twin, settings["initial"], x, k)


def print_twin_ratio(quick, rng):
    """Item 4, printed."""
    if os.environ["OPENBLAS_NUM_THREADS"] == "1":    # one core each (threads inherit this)
        os.sched_setaffinity(0, {idlest_cpu()})
    result = twin_ratio(quick, rng)
    cpus = ",".join(map(str, sorted(os.sched_getaffinity(0))))
    if result is None:
        print("4. ours / jax.jit twin: skipped, jax is not installed "
              "(pip install -r benchmarks/requirements.txt)")
        return
    ratios, difference = result
    clock = "CPU time" if "," not in cpus else "wall-clock time"
    print(f"4. ours / jax.jit twin of the same step, on CPU {cpus} ({clock}): " + ", ".join(
        f"{r:.2f}x at {name} parameters ({1e3 * a:.1f} / {1e3 * b:.1f} ms)"
        for name, (r, a, b, _) in ratios.items()) + "  (target <= 0.8)")
    print("   floor: ours with sigmoid and softplus computed by nothing / twin: " + ", ".join(
        f"{floor:.2f}x at {name} parameters" for name, (*_, floor) in ratios.items()))
    print(f"   the twin's value and gradient agree with ours to {difference:.0e} (relative) "
          "for the same uniforms")
    override = {v: os.environ[v] for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
                if v in os.environ}
    print(f"   OpenBLAS kernel: {openblas_kernel()}"
          + (f"; overridden by {override}: unset for this command to time this CPU's own"
             if override else ""))


def main(quick, items):
    rng = np.random.default_rng(0)
    if 1 in items or 2 in items:
        print_leave_one_out_ratios(quick, rng)
    if 3 in items:
        print_step_share(quick, rng)
    if 4 in items:
        print_twin_ratio(quick, rng)


def print_leave_one_out_ratios(quick, rng):
    """Items 1 and 2, printed."""
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


def print_step_share(quick, rng):
    """Item 3, printed."""
    sizes = [784, 50, 50, 50] if quick else [784, 200, 200, 200]
    batch, k = 24, 50
    reuse_freed_memory()                     # as the experiments command does
    params = sbn.init_sbn(sizes, rng, dtype=np.float32)
    x = (rng.random((batch, 784)) < 0.3).astype(np.float32)
    step = vimco_step(x, k, rng)
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
    parser.add_argument("--items", type=int, nargs="+", choices=[1, 2, 3, 4], default=[1, 2, 3, 4],
                        help="which items to run (default: all)")
    arguments = parser.parse_args()
    main(arguments.quick, set(arguments.items))
