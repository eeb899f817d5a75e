"""Session-wide pytest set-up shared by the unit tests, the nbval notebook run and the browser
tests: one BLAS thread, a path fix for the nbval sanitiser and a per-notebook timing summary at
the end."""

from __future__ import annotations

import os
import sys
import warnings

# One BLAS thread for the test session and every process it starts (kernels, sweeps' workers),
# set before numpy is first imported, as the notebooks and the experiments command do: the
# tests' matrices are small, and on a 2-CPU machine more threads only fight pytest and each
# other for the cores (the unit tests: 179 s with one thread, 209 s with two, measured side by
# side on a 2-CPU machine shared with two training runs). An explicit setting in the
# environment wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
if "numpy" in sys.modules:
    warnings.warn("numpy was imported before tests/conftest.py: its BLAS may use more threads")

import re  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    # pyproject.toml passes the sanitiser as a path relative to the repository root; make it
    # work when pytest is started from another directory too.
    option = getattr(config.option, "nbval_sanitize_with", None)
    if option and not Path(option).is_file() and (REPO / option).is_file():
        config.option.nbval_sanitize_with = str(REPO / option)
    if not config.pluginmanager.has_plugin("vimco-edu-notebook-durations"):
        config.pluginmanager.register(NotebookDurations(), "vimco-edu-notebook-durations")


def _notebook_of(nodeid: str) -> tuple[str, str] | None:
    """(notebook name, what) for nbval cells and parametrised browser tests, else None."""
    path = nodeid.split("::", 1)[0]
    if path.endswith(".ipynb"):
        return Path(path).name, "nbval"
    match = re.search(r"\[(?:(?:chromium|firefox|webkit)-)?([^\]]*\.ipynb)\]$", nodeid)
    if match and "browser" in nodeid:
        kind = "browser notebook7" if "notebook7" in nodeid else "browser lab"
        return match.group(1), kind
    return None


class NotebookDurations:
    """Registered as a plugin (not left as conftest hooks, which pytest only calls for items
    under tests/) so that it also sees the nbval items under notebooks/."""

    def __init__(self):
        self.durations: dict[tuple[str, str], float] = defaultdict(float)
        self.ran: set[tuple[str, str]] = set()

    def pytest_runtest_logreport(self, report):
        key = _notebook_of(report.nodeid)
        if key:
            self.durations[key] += report.duration  # setup + call + teardown
            if report.when == "call" or report.failed:
                self.ran.add(key)  # a notebook whose tests were all skipped shows "-"

    def pytest_terminal_summary(self, terminalreporter):
        if not self.durations:
            return
        kinds = sorted({kind for _, kind in self.durations})
        names = sorted({name for name, _ in self.durations})
        # keys only seen skipped print "-" rather than their set-up's 0.0
        terminalreporter.section("per-notebook durations (s)")
        width = max(len(n) for n in names)
        terminalreporter.write_line(
            f"{'notebook':<{width}}  " + "  ".join(f"{k:>17}" for k in kinds)
        )
        for name in names:
            cells = "  ".join(
                f"{self.durations[(name, k)]:>17.1f}" if (name, k) in self.ran
                else f"{'-':>17}"
                for k in kinds
            )
            terminalreporter.write_line(f"{name:<{width}}  {cells}")
