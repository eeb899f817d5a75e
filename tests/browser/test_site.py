"""The course website (docs/), built from a clean copy of the repository and read in Chromium
from a local static server with every request outside the site blocked: each page loads with
no console error and no outside request, MathJax typesets, every image loads, every link
between pages resolves, moving a widget's control changes its figure with no kernel, search
finds "leave-one-out", and the launch buttons come from the one repository URL.

Building frames executes notebooks, so by default only VIMCO_EDU_SITE_FRAMES=00,03 (a slider,
a selection slider and on/off buttons; about a minute) get them and the other notebooks are
checked with their preview images. The whole site is checked with

    VIMCO_EDU_SITE_FRAMES=all .venv/bin/python -m pytest tests/browser/test_site.py

(see the README's instructor section; it takes about ten minutes on 2 CPUs)."""

from __future__ import annotations

import functools
import html.parser
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import tomllib
import urllib.parse
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
COURSE = sorted(p.stem for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
FRAMES = os.environ.get("VIMCO_EDU_SITE_FRAMES", "00,03")
NETWORK_ERRORS = re.compile(
    r"URLError|Temporary failure in name resolution|Network is unreachable|timed out")


def executed(stem: str) -> bool:
    if FRAMES.strip().lower() == "all":
        return True
    return stem[:2] in {part.strip() for part in FRAMES.split(",")}


def clean_copy(dest: Path) -> Path:
    """The repository's files as a fresh clone has them: tracked and not-ignored files only
    (no .venv, no earlier build, no cached downloads), symbolic links kept as links."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source, target = REPO / name, dest / name
        if not source.exists() and not source.is_symlink():
            continue   # deleted in the work tree
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, target)
    return dest


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """(built site folder, build log, seconds): `sphinx-build -W` on a clean copy. With
    VIMCO_EDU_SITE_BUILT=folder, a site built earlier (with VIMCO_EDU_SITE_FRAMES as now) is
    checked instead of building one."""
    if os.environ.get("VIMCO_EDU_SITE_BUILT"):
        return Path(os.environ["VIMCO_EDU_SITE_BUILT"]), "", 0.0
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout: cannot tell a clean checkout's files")
    base = tmp_path_factory.mktemp("site")
    checkout = clean_copy(base / "checkout")
    out = base / "html"
    env = {**os.environ, "VIMCO_EDU_SITE_FRAMES": FRAMES, "OPENBLAS_NUM_THREADS": "1"}
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q",
         "docs", str(out)],
        cwd=checkout, env=env, capture_output=True, text=True, timeout=3000)
    seconds = time.monotonic() - start
    log = result.stdout + result.stderr
    if result.returncode != 0 and NETWORK_ERRORS.search(log) and "vendor" in log:
        pytest.skip(f"npm registry unreachable for docs/vendor.py: {log[-300:]}")
    assert result.returncode == 0, f"sphinx-build failed:\n{log[-6000:]}"
    print(f"\nsite built in {seconds:.0f} s with VIMCO_EDU_SITE_FRAMES={FRAMES}; "
          f"{sum(f.stat().st_size for f in out.rglob('*') if f.is_file()) / 1e6:.1f} MB")
    return out, log, seconds


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(site):
    """A static file server on 127.0.0.1 for the built site; yields its base URL."""
    out = site[0]
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(out)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    thread.join(timeout=10)


PAGES = ["index.html", "instructor.html", "search.html"] + [f"notebooks/{s}.html" for s in COURSE]


def open_page(page, server, path):
    """Open `path` with every request outside the site aborted; returns (outside requests,
    console errors), lists that grow while the page lives."""
    outside, errors = [], []

    def route(r):
        if r.request.url.startswith(server + "/") or r.request.url.startswith("data:"):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: errors.append(f"failed: {r.url}")
            if r.url.startswith(server) else None)
    response = page.goto(f"{server}/{path}", wait_until="load")
    assert response.ok, f"{path}: HTTP {response.status}"
    return outside, errors


WAIT_MATHJAX = """async () => {
  if (!window.MathJax) return 'no MathJax';
  await MathJax.startup.promise;
  return 'typeset';
}"""
IMAGES = """async () => {
  const images = Array.from(document.images);
  images.forEach(img => { img.loading = 'eager'; });
  await Promise.all(images.map(img => img.complete ? null :
      new Promise(done => { img.onload = img.onerror = done; })));
  return images.filter(img => img.offsetParent !== null || img.closest('.widget-image'))
               .map(img => [img.getAttribute('src').slice(0, 80), img.naturalWidth]);
}"""


@pytest.mark.parametrize("path", PAGES)
def test_page_loads_offline_with_math_and_images(page, server, path):
    outside, errors = open_page(page, server, path)
    state = page.evaluate(WAIT_MATHJAX)
    if path.startswith("notebooks/"):
        assert state == "typeset", f"{path}: MathJax not loaded ({state})"
        assert page.locator("mjx-container").count() > 10, f"{path}: few formulas typeset"
        assert page.locator("mjx-merror, .MathJax_Error").count() == 0, f"{path}: TeX errors"
        # no formula left as raw TeX in the text (code and its printed output may hold TeX)
        raw = page.evaluate("""() => Array.from(document.querySelectorAll(
            'article p, article li, article td')).map(e => e.innerText)
            .filter(t => /\\\\(mathcal|frac|nabla|log)\\b/.test(t))""")
        assert not raw, f"{path}: TeX not typeset: {raw[:3]}"
    images = page.evaluate(IMAGES)
    broken = [src for src, width in images if width == 0]
    assert not broken, f"{path}: images that did not load: {broken}"
    if path.startswith("notebooks/"):
        assert images, f"{path}: no images"
    page.wait_for_timeout(300)
    assert not outside, f"{path} requested outside the site: {outside}"
    assert not errors, f"{path}: console errors {errors}"


class Links(html.parser.HTMLParser):
    """A page's links ((href, inside the article text?)) and element ids."""

    def __init__(self):
        super().__init__()
        self.links, self.ids, self.article = [], set(), 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "article":
            self.article += 1
        if tag == "a" and attrs.get("href"):
            self.links.append((attrs["href"], self.article > 0))

    def handle_endtag(self, tag):
        if tag == "article":
            self.article -= 1


def parse(path: Path) -> Links:
    parser = Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def test_every_link_between_pages_resolves(site):
    """Every local link of every page leads to an existing file, and its #anchor exists;
    the notebooks link to each other (not just name each other)."""
    out = site[0]
    pages = sorted(out.rglob("*.html"))
    parsed = {p: parse(p) for p in pages}
    between_notebooks, problems = 0, []
    for path, found in parsed.items():
        for href, in_text in found.links:
            parts = urllib.parse.urlsplit(href)
            if parts.scheme or href.startswith(("mailto:", "javascript:")):
                continue
            target = (path.parent / urllib.parse.unquote(parts.path)).resolve() \
                if parts.path else path
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                problems.append(f"{path.relative_to(out)}: {href} (no such file)")
                continue
            if parts.fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else parse(target).ids
                if urllib.parse.unquote(parts.fragment) not in ids:
                    problems.append(f"{path.relative_to(out)}: {href} (no such anchor)")
            if in_text and path.parent.name == target.parent.name == "notebooks" \
                    and target != path:
                between_notebooks += 1
    assert not problems, "\n".join(problems)
    assert between_notebooks >= 2 * len(COURSE), f"only {between_notebooks} links between notebooks"


def visible_frame(page):
    """The src of the widget image the page currently shows."""
    return page.evaluate("""() => {
      const shown = Array.from(document.querySelectorAll('.widget-image'))
          .filter(img => img.offsetParent !== null && img.naturalWidth > 0);
      return shown.length ? shown[0].src.slice(-200) : null;
    }""")


def move_first_control(page) -> str:
    """Change the page's first widget control as a reader would; returns what was done."""
    control = page.locator(".widget-slider, .widget-dropdown, .widget-toggle-buttons").first
    classes = control.get_attribute("class") or ""
    if "widget-dropdown" in classes:
        select = control.locator("select")
        values = [o.get_attribute("value") for o in select.locator("option").all()]
        other = next(v for v in values if v != select.input_value())
        select.select_option(other)
        return f"dropdown -> {other}"
    if "widget-toggle-buttons" in classes:
        button = control.locator("button:not(.mod-active)").first
        button.click()
        return f"toggle -> {button.text_content()}"
    handle = control.locator(".noUi-handle").first
    handle.scroll_into_view_if_needed()
    before = control.locator(".widget-readout").first.text_content()
    handle.focus()
    handle.press("ArrowRight" if "widget-slider" in classes else "ArrowDown")
    page.wait_for_timeout(200)
    after = control.locator(".widget-readout").first.text_content()
    if after == before:
        handle.press("ArrowLeft")
        after = control.locator(".widget-readout").first.text_content()
    return f"slider {before} -> {after}"


@pytest.mark.parametrize("stem", COURSE)
def test_widget_moves_without_a_kernel(page, server, stem):
    """Where the build made frames, moving the first control shows another frame; where it did
    not, the widget's preview image stands in its place."""
    outside, errors = open_page(page, server, f"notebooks/{stem}.html")
    cell = page.locator("div.cell", has_text="explore(")
    assert cell.count() >= 1, f"{stem}: no cell calls vimco_edu.widgets.explore"
    if not executed(stem):
        # no frames: the preview image stored with the output stands in for the widget
        assert page.locator(".widget-image").count() == 0
        assert cell.first.locator(".cell_output img").count() == 1, f"{stem}: no preview"
        pytest.skip(f"{stem} built without frames (VIMCO_EDU_SITE_FRAMES={FRAMES})")
    page.wait_for_selector(".widget-image", state="attached", timeout=60_000)
    page.locator(".widget-image").first.scroll_into_view_if_needed()
    page.wait_for_function("""() => Array.from(document.querySelectorAll('.widget-image'))
        .some(img => img.offsetParent !== null && img.naturalWidth > 0)""", timeout=30_000)
    before = visible_frame(page)
    what = move_first_control(page)
    page.wait_for_function(
        "before => { const s = Array.from(document.querySelectorAll('.widget-image'))"
        ".filter(i => i.offsetParent !== null && i.naturalWidth > 0);"
        " return s.length && s[0].src.slice(-200) !== before; }", arg=before, timeout=10_000)
    assert not outside and not errors, (outside, errors, what)


def test_search_finds_leave_one_out(page, server):
    outside, errors = open_page(page, server, "search.html?q=leave-one-out")
    page.wait_for_selector("#search-results ul.search li", timeout=30_000)
    results = page.locator("#search-results ul.search li a").all_inner_texts()
    assert any("VIMCO" in r or "04" in r for r in results), results
    assert not outside and not errors, (outside, errors)


def test_launch_buttons_use_the_repository_url(site):
    """Binder and Colab links on every notebook page, built from pyproject's Repository."""
    url = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["urls"]["Repository"]
    owner_repo = url.removeprefix("https://github.com/")
    for stem in COURSE:
        text = (site[0] / "notebooks" / f"{stem}.html").read_text()
        binder = (f"https://mybinder.org/v2/gh/{owner_repo}/main?urlpath=lab/tree/"
                  f"notebooks/{stem}.ipynb")
        colab = f"https://colab.research.google.com/github/{owner_repo}/blob/main/notebooks/{stem}.ipynb"
        assert binder in text and colab in text, stem


def test_site_is_self_contained(site):
    """No page loads a script, style sheet or font from another host (the browser tests block
    such requests; this names them), and the vendored scripts are in the site."""
    out = site[0]
    for path in out.rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        loads = re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="(https?:)?//([^"]+)"', text)
        loads = [u for s, u in loads if not u.startswith(("mybinder", "colab", "github"))]
        assert not loads, f"{path.relative_to(out)} loads {loads}"
    assert (out / "_static/mathjax/tex-mml-chtml.js").is_file()
    assert (out / "_static/widgets/embed.js").is_file()
