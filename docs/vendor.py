"""Vendor the site's JavaScript from the npm registry, so the built site requests nothing from
any other host: MathJax (formulas) and @jupyter-widgets/html-manager (the widget manager that
renders saved widget state without a kernel).

    python docs/vendor.py [DEST]    (default DEST: docs/_vendor; docs/conf.py calls vendor())

Each package is a pinned version whose tarball is fetched over HTTPS from the npm registry and
checked against the sha512 `integrity` recorded below (the value `npm view NAME@VERSION
dist.integrity` prints) before anything is unpacked; a mismatch stops the build. Downloaded
tarballs are cached in DEST/_tarballs, so later builds work offline. Only what the site loads
is unpacked:

* mathjax 3.2.2 (Apache-2.0): es5/tex-mml-chtml.js and the files it loads on demand (its fonts,
  TeX extensions such as \\boldsymbol's, the menu and accessibility components). MathJax 3, not
  the 4 Sphinx defaults to, because MathJax 4's fonts are a separate package it fetches from a
  CDN unless configured per font; MathJax 3 finds its fonts beside its script.
* @jupyter-widgets/html-manager 1.0.15 (BSD-3-Clause), the ipywidgets 8 embedder: dist/embed.js,
  a self-contained bundle (the controls, the output widget, their CSS and Font Awesome, whose
  font files sit beside it) that needs no RequireJS for the standard widgets the course uses.
"""

from __future__ import annotations

import base64
import hashlib
import io
import shutil
import sys
import tarfile
import urllib.request
from pathlib import Path

REGISTRY = "https://registry.npmjs.org"
PACKAGES = {
    # name: (version, sha512 integrity, {tarball member prefix: destination folder})
    "mathjax": (
        "3.2.2",
        "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==",
        {"package/es5/tex-mml-chtml.js": "mathjax/tex-mml-chtml.js",
         "package/es5/output/chtml/": "mathjax/output/chtml/",
         "package/es5/input/": "mathjax/input/",
         "package/es5/ui/": "mathjax/ui/",
         "package/es5/a11y/": "mathjax/a11y/",
         "package/es5/adaptors/": "mathjax/adaptors/",
         "package/LICENSE": "mathjax/LICENSE"},
    ),
    "@jupyter-widgets/html-manager": (
        "1.0.15",
        "sha512-5thBIV6ymNgmPVOHvzx+gGy8ZSKmSazhtGw4/c4xJDVzRhG9PTeQsRjF3FUTopvFi//SABeNz1yp47bCrJ3CQA==",
        {"package/dist/embed.js": "widgets/embed.js",
         "package/dist/embed.js.LICENSE.txt": "widgets/embed.js.LICENSE.txt",
         "package/LICENSE": "widgets/LICENSE"},
    ),
}
# Font files that embed.js's CSS refers to (Font Awesome), kept beside it.
FONT_SUFFIXES = (".woff2", ".woff", ".ttf", ".eot", ".svg")
MATHJAX_SCRIPT = "mathjax/tex-mml-chtml.js"   # relative to DEST, which becomes _static/
WIDGETS_SCRIPT = "widgets/embed.js"


def tarball_url(name: str, version: str) -> str:
    return f"{REGISTRY}/{name}/-/{name.split('/')[-1]}-{version}.tgz"


def check_integrity(data: bytes, integrity: str, what: str) -> None:
    algorithm, expected = integrity.split("-", 1)
    actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode("ascii")
    if actual != expected:
        raise RuntimeError(f"{what}: {algorithm} is {actual}, expected {expected}; "
                           "not unpacking a tarball that differs from the pinned one")


def fetch(name: str, version: str, integrity: str, cache: Path, timeout: float = 60) -> bytes:
    """The package's tarball, verified: from the cache if there, else from the registry."""
    cached = cache / f"{name.replace('/', '+')}-{version}.tgz"
    if cached.exists():
        data = cached.read_bytes()
        check_integrity(data, integrity, str(cached))
        return data
    url = tarball_url(name, version)
    if not url.startswith("https://"):
        raise RuntimeError(f"refusing to fetch {url} over plain HTTP")
    with urllib.request.urlopen(url, timeout=timeout) as response:
        data = response.read()
    check_integrity(data, integrity, url)
    cache.mkdir(parents=True, exist_ok=True)
    cached.with_suffix(".part").write_bytes(data)
    cached.with_suffix(".part").replace(cached)
    return data


def unpack(data: bytes, mapping: dict[str, str], dest: Path, fonts_to: str | None) -> int:
    """Extract the mapped members (files, or folders ending in /) under dest; returns a count."""
    count = 0
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile() or member.name.endswith(".map"):
                continue
            target = None
            for prefix, where in mapping.items():
                if member.name == prefix or (prefix.endswith("/") and
                                             member.name.startswith(prefix)):
                    target = where + member.name[len(prefix):] if prefix.endswith("/") else where
            if target is None and fonts_to and member.name.startswith("package/dist/") \
                    and member.name.endswith(FONT_SUFFIXES) and member.name.count("/") == 2:
                target = fonts_to + member.name.rsplit("/", 1)[1]
            if target is None:
                continue
            path = dest / target
            if ".." in Path(target).parts:
                raise RuntimeError(f"unsafe path in tarball: {member.name}")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(tar.extractfile(member).read())
            count += 1
    return count


def vendor(dest: Path) -> Path:
    """Fetch (or reuse), verify and unpack every package into dest/static; return that folder,
    which docs/conf.py adds to html_static_path."""
    dest = Path(dest)
    static = dest / "static"
    if static.exists():
        shutil.rmtree(static)
    for name, (version, integrity, mapping) in PACKAGES.items():
        data = fetch(name, version, integrity, dest / "_tarballs")
        fonts = "widgets/" if name == "@jupyter-widgets/html-manager" else None
        if unpack(data, mapping, static, fonts) == 0:
            raise RuntimeError(f"{name}@{version}: nothing unpacked")
    for script in (MATHJAX_SCRIPT, WIDGETS_SCRIPT):
        if not (static / script).is_file():
            raise RuntimeError(f"{script} missing after unpacking")
    return static


if __name__ == "__main__":
    where = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "_vendor"
    print(f"vendored into {vendor(where)}")
