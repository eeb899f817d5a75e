"""The benchmark script runs and prints its ratios (its numbers are not judged here: speed is
measured by running it, not by timed tests). Item 4 needs jax, which only
benchmarks/requirements.txt installs; without it the script says how to get it."""
import pathlib
import subprocess
import sys

SCRIPT = pathlib.Path(__file__).parents[1] / "benchmarks" / "run.py"


def test_benchmark_script_runs_in_quick_mode():
    out = subprocess.run([sys.executable, str(SCRIPT), "--quick"], capture_output=True,
                         text=True, timeout=300, check=True).stdout
    assert "vimco_signals / log_mean_exp" in out
    assert "brute-force O(K^2)" in out
    assert "of numpy's matmul rate" in out
    assert "ours / jax.jit twin" in out
