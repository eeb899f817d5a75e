"""Every course notebook, run the way a learner runs it: opened in JupyterLab in Chromium,
Run > Run All Cells, no error output, and (where the notebook has a slider or dropdown) moving
a control redraws a plot. One notebook is also run in Notebook 7's interface.

Generated self-test notebooks check the harness itself, so the browser path is exercised even
while notebooks/ is empty. Screenshots go to tests/browser/screenshots/ (gitignored)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect
from jupyter_harness import (
    code_cells_to_run,
    copy_notebooks,
    errors,
    exercise_widgets,
    free_port,
    isolated_env,
    run_all_cells,
    url_for,
    wait_for_kernel,
    wait_until_done,
)

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
# Per notebook: generous, since Run All on 2 CPUs is the slow part. Override for slow machines.
RUN_TIMEOUT = float(os.environ.get("VIMCO_EDU_BROWSER_TIMEOUT", "900"))


def nb_id(rel_path: str) -> str:
    return Path(rel_path).name


def course_params(notebooks):
    if not notebooks:
        return [pytest.param(None, id="none", marks=pytest.mark.skip(
            reason="notebooks/ has no notebooks yet (the harness self-tests still run)"))]
    return [pytest.param(nb.name, id=nb.name) for nb in notebooks]


def run_in_browser(page, served, rel_path, ui, screenshots, expect_errors=False,
                   all_controls=False):
    """Open rel_path (relative to the server root) in `ui` ("lab" or "notebook7"), run all
    cells and check the result. Returns (error texts, widget report)."""
    server, root = served
    stem = f"{Path(rel_path).stem}-{ui}"
    workspace = f"t-{Path(rel_path).stem}".replace(".", "-")
    try:
        page.goto(url_for(server, rel_path, ui, workspace), wait_until="domcontentloaded")
        kernel_id = wait_for_kernel(server, page, rel_path)
        run_all_cells(page)
        wait_until_done(server, page, kernel_id, code_cells_to_run(root / rel_path), RUN_TIMEOUT)
        page.screenshot(path=screenshots / f"{stem}-ran.png")
        found = errors(page)
        if expect_errors:
            return found, None
        assert not found, f"{rel_path} shows error output in {ui}:\n" + "\n---\n".join(found)
        report = exercise_widgets(page, require_all=all_controls)
        if report:
            page.screenshot(path=screenshots / f"{stem}-widget.png")
        assert not errors(page), f"{rel_path}: moving a control produced an error"
        return found, report
    except Exception:
        try:
            page.screenshot(path=screenshots / f"{stem}-FAILED.png")
        except Exception:
            pass
        raise
    finally:
        page.close()
        server.shutdown_sessions()


@pytest.mark.parametrize("rel_path", ["selftest/harness_selftest.ipynb"], ids=nb_id)
def test_harness_selftest_lab(page, served, screenshots, rel_path):
    """The harness itself: a generated notebook with an `interact` slider and dropdown drawing a
    plot runs cleanly in JupyterLab, and moving either control changes the plot image."""
    _, report = run_in_browser(page, served, rel_path, "lab", screenshots, all_controls=True)
    assert report and report.count("redrew a plot") == 2, report  # the slider and the dropdown


@pytest.mark.parametrize("rel_path", ["selftest/harness_error.ipynb"], ids=nb_id)
def test_harness_sees_errors(page, served, screenshots, rel_path):
    """The harness itself: a generated notebook that raises is reported as showing an error."""
    found, _ = run_in_browser(page, served, rel_path, "lab", screenshots, expect_errors=True)
    assert any("ZeroDivisionError" in text for text in found), found


@pytest.mark.parametrize("name", course_params(NOTEBOOKS))
def test_notebook_in_jupyterlab(page, served, screenshots, name):
    run_in_browser(page, served, f"notebooks/{name}", "lab", screenshots)


NOTEBOOK7_TARGETS = ["selftest/harness_selftest.ipynb"] + [
    f"notebooks/{nb.name}" for nb in NOTEBOOKS[:1]
]


@pytest.mark.parametrize("rel_path", NOTEBOOK7_TARGETS, ids=nb_id)
def test_notebook7_interface(page, served, screenshots, rel_path):
    """The classic-style Notebook 7 page (/notebooks/...) runs a notebook too: the self-test
    one, and the first course notebook once there is one."""
    run_in_browser(page, served, rel_path, "notebook7", screenshots)


def test_course_command_prints_a_url_that_opens_the_start_notebook(page, tmp_path):
    """The README's course command, as a learner runs it (token and all; as root in CI, as a
    normal user elsewhere): the URL it prints, pasted into a browser, shows 00_start_here."""
    readme = (REPO / "README.md").read_text().splitlines()
    course = next(line for line in readme[:6] if "jupyter lab" in line)
    jupyter = shlex.split(course.split("&&")[-1])
    assert jupyter[0] == ".venv/bin/jupyter", jupyter
    copy_notebooks(REPO / "notebooks", tmp_path / "root" / "notebooks")
    port = free_port()
    log = tmp_path / "jupyter.log"   # a file, not a pipe: an unread pipe would fill and block it
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter", *jupyter[1:], "--no-browser", "--ip=127.0.0.1",
             f"--port={port}", "--ServerApp.port_retries=0"],
            cwd=tmp_path / "root", env=isolated_env(tmp_path / "state"), stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url, deadline = None, time.monotonic() + 120
        while url is None and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
            url = re.search(rf"http://127\.0\.0\.1:{port}/\S+", log.read_text())
        assert url, "the course command printed no URL:\n" + log.read_text()
        page.goto(url.group(0), wait_until="domcontentloaded")
        # the start notebook, or JupyterLab's Launcher if the URL leads nowhere in particular
        page.wait_for_selector(".jp-Notebook .jp-Cell, .jp-Launcher", timeout=120_000)
        tab = page.locator("#jp-main-dock-panel .lm-TabBar-tab.jp-mod-current").first
        assert tab.text_content() == "00_start_here.ipynb", (
            f"{url.group(0)} opens {tab.text_content()!r}, not the start notebook")
        # JupyterLab shows the notebook's frame (one empty cell, "Click to add a cell.") before
        # the file's cells arrive: wait, up to a minute, for the start notebook's title
        expect(page.locator(".jp-Notebook").first).to_contain_text("00 · Start here",
                                                                    timeout=60_000)
    finally:
        page.close()
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
