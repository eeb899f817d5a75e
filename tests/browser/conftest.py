"""Fixtures for the browser tests: Debian's Chromium driven by pytest-playwright, and one
JupyterLab server for the whole module serving a temporary copy of notebooks/ plus generated
harness self-test notebooks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from jupyter_harness import (
    CHROMIUM,
    CHROMIUM_ARGS,
    JupyterServer,
    copy_notebooks,
    write_selftest_notebooks,
)

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    if CHROMIUM.exists():
        return str(CHROMIUM)
    message = (
        f"{CHROMIUM} not found: the browser tests drive Debian's Chromium "
        "(install the Debian apt package `chromium`: apt-get install chromium)"
    )
    if os.environ.get("VIMCO_EDU_REQUIRE_BROWSER") == "1":
        pytest.fail(message + "; VIMCO_EDU_REQUIRE_BROWSER=1 makes this a failure", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args, chromium_executable):
    """pytest-playwright's launch options, pointed at the system Chromium (Playwright cannot
    download its own browser here) with flags that keep it off the network and working as
    root in a container."""
    return {
        **browser_type_launch_args,
        "executable_path": chromium_executable,
        "args": CHROMIUM_ARGS,
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1280, "height": 900}}


@pytest.fixture(scope="module")
def browser(launch_browser):
    """One Chromium for the module (pytest-playwright's is per session: this one is closed
    before the notebooks' nbval run, so it doesn't sit in memory meanwhile)."""
    browser = launch_browser()
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(server, root): JupyterLab on 127.0.0.1 serving root/notebooks (a copy of the course
    notebooks) and root/selftest (generated harness notebooks)."""
    base = tmp_path_factory.mktemp("jupyter")
    root = base / "root"
    root.mkdir()
    copy_notebooks(REPO / "notebooks", root / "notebooks")
    write_selftest_notebooks(root / "selftest")
    server = JupyterServer(root, base)
    server.start()
    yield server, root
    server.stop()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
