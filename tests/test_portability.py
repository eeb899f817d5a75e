"""The course works on any CPU and on every supported Python, not only on the machine that
made the committed outputs.

- Every notebook is re-executed under strict nbval a second time with another kernel dispatch:
  numpy's widest SIMD targets switched off (NPY_DISABLE_CPU_FEATURES, read from numpy itself)
  and OpenBLAS forced to an older core type (OPENBLAS_CORETYPE). The main nbval run covers the
  machine's own kernels; together they catch outputs that print round-off or chaotic digits.
- The unit tests run on every Python version the README and pyproject.toml name, the lowest
  one with the lowest numpy and autograd that pyproject.toml allows."""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# OpenBLAS core types, each with an older one whose kernels differ (x86-64 and Arm).
OLDER_CORE = {"SkylakeX": "Haswell", "Cooperlake": "Haswell", "SapphireRapids": "Haswell",
              "Zen": "Sandybridge", "Haswell": "Sandybridge", "Sandybridge": "Nehalem",
              "NeoverseN1": "ARMV8", "NeoverseV1": "ARMV8", "NeoverseN2": "ARMV8",
              "CortexA57": "ARMV8"}

PROBE = """
import ctypes, glob, json, os, numpy
try:
    from numpy._core import _multiarray_umath as umath
except ImportError:                     # numpy 1.x
    from numpy.core import _multiarray_umath as umath
found = [t for t in umath.__cpu_dispatch__ if umath.__cpu_features__.get(t)]
core = None
for lib in glob.glob(os.path.join(os.path.dirname(numpy.__file__) + ".libs", "*openblas*")):
    for symbol in ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename",
                   "openblas_get_corename64_", "openblas_get_corename"):
        function = getattr(ctypes.CDLL(lib), symbol, None)
        if function is not None:
            function.restype = ctypes.c_char_p
            core = function().decode()
            break
print(json.dumps({"dispatch": found, "openblas_core": core}))
"""


def probe(env: dict | None = None) -> dict:
    """The SIMD dispatch targets numpy uses and OpenBLAS's core type, in a fresh process."""
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


def other_dispatch_env() -> tuple[dict, str]:
    """An environment in which numpy and OpenBLAS pick other kernels than they do here, and a
    description. numpy: switch off every dispatch target wider than the narrowest one the CPU
    offers (on an AVX-512 machine that leaves AVX2; on an AVX2 machine, the SSE baseline).
    OpenBLAS: an older core type than the one it detects."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("NPY_DISABLE_CPU_FEATURES", "OPENBLAS_CORETYPE")}
    native = probe(env)
    found = native["dispatch"]
    changes = []
    if found:
        env["NPY_DISABLE_CPU_FEATURES"] = " ".join(found[1:] or found)
        changes.append(f"NPY_DISABLE_CPU_FEATURES={env['NPY_DISABLE_CPU_FEATURES']!r}")
    older = OLDER_CORE.get(native["openblas_core"])
    if older:
        env["OPENBLAS_CORETYPE"] = older
        changes.append(f"OPENBLAS_CORETYPE={older} (detected: {native['openblas_core']})")
    return env, ", ".join(changes)


# The two slow checks here, every notebook again and the unit tests on each other Python, are
# separate processes of one core each. The first of these tests to run starts all that the
# session selected, as many at a time as there are CPUs, and each test waits for its own: on a
# 2-CPU machine they finish in about half the time one after another would take.
_POOL = ThreadPoolExecutor(max_workers=os.cpu_count() or 1)
_JOBS: dict[str, Future] = {}


@pytest.fixture
def background(request):
    """{name: Future} of the selected slow checks ("dispatch" or a Python version), started
    together on first use; each future's result is ("skip" | "fail" | "pass", message)."""
    if not _JOBS:
        here = Path(__file__).name
        names = {re.search(r"\[(.*)\]$", item.nodeid).group(1) if "[" in item.nodeid
                 else "dispatch" for item in request.session.items
                 if item.nodeid.split("::")[0].endswith(here)
                 and ("dispatch" in item.name or "each_supported_python" in item.name)}
        if "dispatch" in names:
            _JOBS["dispatch"] = _POOL.submit(nbval_under_another_dispatch)
        this_python = f"{sys.version_info.major}.{sys.version_info.minor}"
        for version in sorted(names - {"dispatch", this_python}):
            _JOBS[version] = _POOL.submit(unit_tests_on, version)
    return _JOBS


def outcome(job: Future):
    status, message = job.result()
    print(message)
    if status == "skip":
        pytest.skip(message)
    assert status == "pass", message


def nbval_under_another_dispatch():
    env, description = other_dispatch_env()
    if not description:
        return "skip", "numpy has no dispatch targets and OpenBLAS no older core type here"
    switched = probe(env)
    if switched == probe():
        return "fail", f"{description} did not change numpy's or OpenBLAS's kernels"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "notebooks", "-q", "-p", "no:cacheprovider"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        return "fail", (f"nbval fails with {description}: a committed output depends on the "
                        "CPU's kernels (round-off or a chaotic digit printed as a result)\n"
                        + result.stdout[-6000:])
    return "pass", f"re-ran the notebooks with {description}: {switched}"


def test_notebooks_reproduce_under_another_kernel_dispatch(background):
    outcome(background["dispatch"])


# -- Python versions ---------------------------------------------------------------------------
def supported_pythons() -> list[str]:
    """The versions pyproject.toml's classifiers list (each is tested below)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    prefix = "Programming Language :: Python :: "
    versions = [c[len(prefix):] for c in project["classifiers"]
                if c.startswith(prefix) and re.fullmatch(r"3\.\d+", c[len(prefix):])]
    return sorted(versions, key=lambda v: int(v.split(".")[1]))


def lowest_dependencies() -> list[str]:
    """pyproject.toml's dependencies pinned at their lower bounds, e.g. numpy==1.26.4."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return [re.sub(r"\s*>=\s*", "==", d) for d in project["dependencies"]]


def find_python(version: str) -> str | None:
    """An interpreter of this version: on PATH, or installed by pyenv."""
    candidates = [shutil.which(f"python{version}")]
    pyenv = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates += sorted(glob.glob(os.path.join(pyenv, "versions", f"{version}.*", "bin",
                                                "python3")))
    for path in filter(None, candidates):
        check = "import sys, venv; print('%d.%d' % sys.version_info[:2])"
        out = subprocess.run([path, "-c", check], capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.strip() == version:
            return path
    return None


def test_readme_and_pyproject_name_the_same_pythons():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    versions = supported_pythons()
    assert project["requires-python"] == f">={versions[0]}"
    readme = (REPO / "README.md").read_text()
    stated = re.search(r"Python (3\.\d+) to (3\.\d+)", readme)
    assert stated, "README must say which Python versions are supported ('Python 3.x to 3.y')"
    assert [stated.group(1), stated.group(2)] == [versions[0], versions[-1]]
    assert len(versions) == int(versions[-1][2:]) - int(versions[0][2:]) + 1


def unit_tests_on(version: str):
    """Run the unit tests with Python `version` in a new venv (the lowest version with the
    lowest dependencies pyproject.toml allows)."""
    python = find_python(version)
    if python is None:
        return "skip", f"no Python {version} on this machine (looked on PATH and in pyenv)"
    lowest = version == supported_pythons()[0]
    deps = lowest_dependencies() if lowest else ["numpy", "autograd"]
    with tempfile.TemporaryDirectory() as folder:
        venv = Path(folder) / "venv"
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
        install = subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", *deps,
             "pytest", "mpmath"], capture_output=True, text=True, timeout=900)
        if install.returncode != 0:
            return "fail", install.stdout[-3000:] + install.stderr[-3000:]
        result = subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pytest", "-q", "-o", "addopts=",
             "-p", "no:cacheprovider", "tests", "--ignore=tests/test_repo.py",
             "--ignore=tests/test_portability.py", "--ignore=tests/browser"],
            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
            text=True, timeout=1800)
    summary = f"Python {version} with {' '.join(deps)}: {result.stdout.strip().splitlines()[-1]}"
    return ("pass", summary) if result.returncode == 0 else ("fail", result.stdout[-6000:])


@pytest.mark.parametrize("version", supported_pythons())
def test_unit_tests_pass_on_each_supported_python(version, background):
    if version == f"{sys.version_info.major}.{sys.version_info.minor}":
        pytest.skip("this is the Python running the whole suite")
    outcome(background[version])
