"""Helpers for the browser tests: a throwaway JupyterLab server and the steps a learner takes
in it (open a notebook, wait for its kernel, Run > Run All Cells, look at the outputs,
move a widget). Used by conftest.py and test_browser_notebooks.py in this folder."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import nbformat

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

# Settings a learner would leave alone but a test must pin: no autosave (the served files are
# copies, but a save would still rewrite them mid-test), all cells attached to the DOM (the
# default windowing detaches off-screen cells, which hides their prompts and outputs), and no
# news/update checks (this machine has no internet; a toast would also cover the page).
USER_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}
# Front-end plugins switched off, as `jupyter labextension disable ...` would (page_config.json).
DISABLED_PLUGINS = {
    "@jupyterlab/apputils-extension:announcements": True,
    "@jupyterlab/extensionmanager-extension": True,
}

ERROR_TEXT = re.compile(
    r"Traceback \(most recent call last\)|^\s*\w*(Error|Exception)\b.*$|Error displaying widget",
    re.MULTILINE,
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def isolated_env(state_dir: Path) -> dict:
    """The environment for a Jupyter server configured only from a private JUPYTER_CONFIG_DIR
    under `state_dir` (with the test settings above), so the machine's own settings don't leak
    in."""
    config_dir = Path(state_dir) / "config"
    settings_dir = config_dir / "lab" / "user-settings"
    for rel, value in USER_SETTINGS.items():
        path = settings_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    labconfig = config_dir / "labconfig"
    labconfig.mkdir(parents=True, exist_ok=True)
    page_config = {"disabledExtensions": DISABLED_PLUGINS}
    (labconfig / "page_config.json").write_text(json.dumps(page_config))
    env = dict(os.environ)
    env.update(
        JUPYTER_CONFIG_DIR=str(config_dir),
        JUPYTERLAB_SETTINGS_DIR=str(settings_dir),
        JUPYTERLAB_WORKSPACES_DIR=str(config_dir / "lab" / "workspaces"),
        JUPYTER_RUNTIME_DIR=str(Path(state_dir) / "runtime"),
        JUPYTER_PLATFORM_DIRS="1",
        MPLBACKEND="module://matplotlib_inline.backend_inline",
        PYTHONUNBUFFERED="1",
    )
    env.pop("JUPYTER_TOKEN", None)
    return env


class JupyterServer:
    """A JupyterLab server (which also serves Notebook 7's /notebooks/ and /tree/ pages) on
    127.0.0.1 with authentication off, rooted at `root`, configured only from a private
    temporary JUPYTER_CONFIG_DIR so that the machine's own Jupyter settings don't leak in."""

    def __init__(self, root: Path, state_dir: Path):
        self.root = Path(root)
        self.state_dir = Path(state_dir)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.state_dir / "jupyter-server.log"
        self.proc: subprocess.Popen | None = None

    # -- set-up and tear-down ------------------------------------------------------------------
    def start(self, timeout: float = 120.0) -> None:
        env = isolated_env(self.state_dir)
        cmd = [
            sys.executable, "-m", "jupyter", "lab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={self.root}",
            "--IdentityProvider.token=",
            "--ServerApp.password=",
            "--ServerApp.disable_check_xsrf=True",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--MappingKernelManager.cull_idle_timeout=0",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            cmd, cwd=self.root, env=env, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"JupyterLab exited with code {self.proc.returncode}:\n{self.log_tail()}"
                )
            try:
                self.api("GET", "/api/status", timeout=2)
                return
            except (OSError, urllib.error.URLError):
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"JupyterLab did not answer within {timeout:.0f}s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: the server shuts its kernels down, then exits
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None
        self.log.close()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    # -- REST API ------------------------------------------------------------------------------
    def api(self, method: str, path: str, timeout: float = 10):
        request = urllib.request.Request(self.url + path, method=method)
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def kernel_for(self, rel_path: str) -> dict | None:
        """The kernel model ({id, execution_state, connections, ...}) of the session that has
        `rel_path` (relative to the server root) open, or None."""
        for session in self.api("GET", "/api/sessions"):
            if session.get("path") == rel_path and session.get("kernel"):
                return session["kernel"]
        return None

    def shutdown_sessions(self) -> None:
        for session in self.api("GET", "/api/sessions"):
            try:
                self.api("DELETE", f"/api/sessions/{session['id']}")
            except urllib.error.HTTPError:
                pass


# -- Notebook files ----------------------------------------------------------------------------
def code_cells_to_run(path: Path) -> int:
    """How many code cells with some source the notebook has: after Run All, each one must
    show an execution count (JupyterLab leaves empty cells without one)."""
    nb = nbformat.read(path, as_version=4)
    return sum(1 for c in nb.cells if c.cell_type == "code" and c.source.strip())


def write_selftest_notebooks(folder: Path) -> dict[str, Path]:
    """Generate the harness self-test notebooks: one with an ipywidgets slider redrawing a
    matplotlib plot (must pass), and one that raises (the harness must see the error)."""
    folder.mkdir(parents=True, exist_ok=True)
    kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    ok = nbformat.v4.new_notebook(metadata={"kernelspec": kernelspec})
    ok.cells = [
        nbformat.v4.new_markdown_cell(
            "# Harness self-test\nA slider and a dropdown that redraw a plot."
        ),
        nbformat.v4.new_code_cell(
            "%matplotlib inline\n"
            "import matplotlib.pyplot as plt\n"
            "import numpy as np\n"
            "from ipywidgets import interact"
        ),
        nbformat.v4.new_code_cell(
            "x = np.linspace(0, 2 * np.pi, 200)\nprint('points:', x.size)",
            # A stale committed output: the harness must clear it before counting prompts.
            execution_count=7,
            outputs=[nbformat.v4.new_output("stream", name="stdout", text="stale\n")],
        ),
        nbformat.v4.new_code_cell(""),
        nbformat.v4.new_code_cell(
            "def draw(k=1, wave='sin'):\n"
            "    fig, ax = plt.subplots(figsize=(4, 3))\n"
            "    ax.plot(x, getattr(np, wave)(k * x))\n"
            "    ax.set_title(f'{wave}({k} x)')\n"
            "    plt.show()\n"
            "\n"
            "interact(draw, k=(1, 5, 1), wave=['sin', 'cos']);"
        ),
    ]
    bad = nbformat.v4.new_notebook(metadata={"kernelspec": kernelspec})
    bad.cells = [
        nbformat.v4.new_code_cell("print('before the error')"),
        nbformat.v4.new_code_cell("1 / 0"),
        nbformat.v4.new_code_cell("print('not reached: Run All stops at the error')"),
    ]
    paths = {"ok": folder / "harness_selftest.ipynb", "error": folder / "harness_error.ipynb"}
    nbformat.write(ok, paths["ok"])
    nbformat.write(bad, paths["error"])
    return paths


def copy_notebooks(src: Path, dest: Path) -> None:
    """Copy the course notebooks (and anything beside them they read) for the server to serve,
    so nothing a browser does can touch the committed files."""
    if src.is_dir():
        shutil.copytree(
            src, dest, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
        )
    else:
        dest.mkdir(parents=True)


# -- Driving the page --------------------------------------------------------------------------
def url_for(server: JupyterServer, rel_path: str, ui: str, workspace: str) -> str:
    quoted = urllib.parse.quote(rel_path)
    if ui == "lab":
        # A fresh named workspace per test, so Lab doesn't reopen the previous test's tabs.
        return f"{server.url}/lab/workspaces/{workspace}/tree/{quoted}"
    if ui == "notebook7":
        return f"{server.url}/notebooks/{quoted}"
    raise ValueError(ui)


def wait_for_kernel(server: JupyterServer, page, rel_path: str, timeout: float = 120) -> str:
    """Wait until the page's kernel is really usable: the notebook is rendered, the server has a
    session for it whose kernel has a websocket connection and reports idle. (The toolbar's
    idle indicator turns on before the websocket is up.)"""
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=timeout * 1000)
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        _dismiss_kernel_dialog(page)
        kernel = server.kernel_for(rel_path)
        if kernel:
            last = server.api("GET", f"/api/kernels/{kernel['id']}")
            if last.get("connections", 0) > 0 and last.get("execution_state") == "idle":
                return kernel["id"]
        time.sleep(0.25)
    raise AssertionError(f"kernel for {rel_path} not connected and idle after {timeout}s: {last}")


def _dismiss_kernel_dialog(page) -> None:
    """A notebook without a usable kernelspec makes Lab ask which kernel to start: accept the
    proposed one, as a learner would."""
    dialog = page.locator(".jp-Dialog")
    if dialog.count() and dialog.locator(".jp-Dialog-button.jp-mod-accept").count():
        dialog.locator(".jp-Dialog-button.jp-mod-accept").first.click()


def _menu(page, menu: str, label: str) -> None:
    """Click menu bar entry `menu`, then its item labelled `label` (JupyterLab and Notebook 7
    share the Lumino menu bar; items are matched by the label a person reads)."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{menu}$")).first.click()
    item = page.locator('.lm-Menu-item[role="menuitem"]').filter(
        has=page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(label)}$"))
    ).first
    item.wait_for(state="visible", timeout=10_000)
    item.click()


def run_all_cells(page) -> None:
    """Edit > Clear Outputs of All Cells, then Run > Run All Cells. Clearing first means the
    committed outputs and execution counts can't be mistaken for fresh ones."""
    _menu(page, "Edit", "Clear Outputs of All Cells")
    page.wait_for_function(
        """() => !Array.from(document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt'))
                   .some(p => /\\[\\d+\\]/.test(p.textContent))""",
        timeout=10_000,
    )
    _menu(page, "Run", "Run All Cells")


PROMPTS_JS = """
() => Array.from(document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt'))
        .map(p => p.textContent.trim())
"""


def wait_until_done(server: JupyterServer, page, kernel_id: str, expected: int,
                    timeout: float) -> list[str]:
    """Wait for Run All to finish: no cell shows [*], the kernel has been idle for a second, and
    either at least `expected` cells show an execution count or an error stopped the run."""
    deadline = time.monotonic() + timeout
    idle_since = None
    prompts: list[str] = []
    while time.monotonic() < deadline:
        prompts = page.evaluate(PROMPTS_JS)
        running = any("*" in p for p in prompts)
        numbered = sum(1 for p in prompts if re.search(r"\[\d+\]", p))
        state = server.api("GET", f"/api/kernels/{kernel_id}").get("execution_state")
        finished = not running and state == "idle" and (numbered >= expected or errors(page))
        if finished:
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since > 1.0:
                return prompts
        else:
            idle_since = None
        time.sleep(0.25)
    raise AssertionError(f"Run All did not finish within {timeout:.0f}s; prompts: {prompts}")


ERRORS_JS = """
() => {
  const found = [];
  const stderr = '[data-mime-type="application/vnd.jupyter.stderr"]';
  const sel = `.jp-OutputArea-output${stderr}, .jp-OutputArea-output .jp-RenderedText${stderr}`;
  for (const el of document.querySelectorAll(sel)) found.push(el.textContent);
  for (const el of document.querySelectorAll('.jp-OutputArea-output')) {
    if (el.textContent.includes('Error displaying widget')) found.push(el.textContent);
  }
  return found;
}
"""


def errors(page) -> list[str]:
    """Error outputs on the page: stderr output holding a traceback or an `...Error` line
    (IPython shows exceptions as stderr-type output), and widgets that failed to render.
    Plain warnings on stderr are not errors."""
    return [text for text in page.evaluate(ERRORS_JS) if ERROR_TEXT.search(text)]


IMAGES_JS = """
() => Array.from(document.querySelectorAll('.jp-Notebook .jp-OutputArea-output img'))
        .map(img => img.getAttribute('src') || '')
"""


def image_sources(page) -> list[str]:
    return page.evaluate(IMAGES_JS)


def widget_controls(page):
    """The notebook's sliders and dropdowns, in page order."""
    return page.locator(
        ".jp-Notebook .widget-slider:not(.widget-readout), .jp-Notebook .widget-dropdown"
    )


def move_control(control) -> str:
    """Change one control the way a person would: a slider's handle nudged with the arrow
    keys, a dropdown set to another option. Returns a description of what was done."""
    classes = control.get_attribute("class") or ""
    if "widget-dropdown" in classes:
        select = control.locator("select")
        options = select.locator("option")
        current = select.input_value()
        values = [options.nth(i).get_attribute("value") for i in range(options.count())]
        others = [v for v in values if v != current]
        if not others:
            return "dropdown with a single option"
        select.select_option(others[0])
        return f"dropdown {current!r} -> {others[0]!r}"
    handle = control.locator(".noUi-handle").first
    handle.scroll_into_view_if_needed()
    if "disabled" in (control.get_attribute("class") or ""):
        return "disabled slider"
    track = control.locator(".noUi-target, .slider").first.bounding_box()
    box = handle.bounding_box()
    readout = control.locator(".widget-readout")
    before = readout.first.text_content() if readout.count() else None
    # Drag the handle a quarter of the track to the right (or left, if it is near the end).
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    step = track["width"] / 4 if x < track["x"] + track["width"] * 0.6 else -track["width"] / 4
    page = control.page
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + step / 2, y, steps=5)
    page.mouse.move(x + step, y, steps=5)
    page.mouse.up()
    after = readout.first.text_content() if readout.count() else None
    if before is not None and before == after:
        handle.focus()  # the drag did nothing: try the keyboard, as a person would next
        handle.press("ArrowRight")
        after = readout.first.text_content()
    return f"slider dragged: {before!r} -> {after!r}"


def exercise_widgets(page, timeout: float = 60, require_all: bool = False) -> str | None:
    """If the notebook shows a slider or dropdown, move controls one after another until a plot
    image changes; fail if none does. With require_all, every control must change a plot.
    Returns a description, or None when the notebook has no such control."""
    controls = widget_controls(page)
    count = controls.count()
    if count == 0:
        return None
    tried, redrew = [], []
    for i in range(count):
        before = image_sources(page)
        what = move_control(controls.nth(i))
        manual = page.locator(".jp-Notebook button.widget-button", has_text="Run Interact")
        if manual.count():  # interact_manual: the plot only updates on the button
            manual.first.click()
        tried.append(what)
        deadline = time.monotonic() + (timeout if i == 0 or require_all else timeout / 4)
        while time.monotonic() < deadline:
            after = image_sources(page)
            if after and after != before:
                redrew.append(f"control {i} ({what}) redrew a plot")
                break
            time.sleep(0.25)
        else:
            if require_all:
                raise AssertionError(f"moving control {i} ({what}) changed no plot image")
            continue
        if not require_all:
            break
    if not redrew:
        raise AssertionError(f"moving the notebook's controls changed no plot image: {tried}")
    return "; ".join(redrew)
