"""Sphinx configuration of the course website: the landing and instructor pages in docs/, and
the eight notebooks from ../notebooks (through the docs/notebooks symlink, so nothing is copied
and a link between notebooks is the same relative path in JupyterLab and on the site).

    pip install -r docs/requirements.txt && sphinx-build -b html docs docs/_build/html

Environment:
  VIMCO_EDU_SITE_FRAMES  which notebooks are executed at build time so that their widgets move
                         without a kernel: "all" (default), "none" (committed outputs only:
                         widgets show their preview image), or a comma list of notebook numbers
                         ("00,03"). Executed notebooks run with VIMCO_EDU_STATIC_WIDGETS=1, which
                         makes vimco_edu.widgets.explore precompute one frame per setting.

Offline and private by construction: MathJax and the widget manager are vendored from the npm
registry by docs/vendor.py and served from _static; tests/browser/test_site.py checks in Chromium
that no page requests anything outside the site.
"""

from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path

from docutils import nodes
from sphinx.environment import BuildEnvironment
from sphinx.transforms.post_transforms import SphinxPostTransform

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
sys.path.insert(0, str(DOCS))
import vendor  # noqa: E402  (docs/vendor.py)

project = "VIMCO: an interactive course"
author = "the vimco-edu authors"
copyright = "the vimco-edu authors; MNIST: Y. LeCun, C. Cortes, C. J. C. Burges (CC BY-SA 3.0)"
root_doc = "index"
extensions = ["myst_nb"]
exclude_patterns = ["_build", "_vendor", "notebooks/results", "**/.ipynb_checkpoints",
                    "requirements.txt"]
suppress_warnings = ["myst.header"]   # README sections included below start at level 2 or 3

# -- The one repository URL (pyproject.toml) -> launch buttons --------------------------------
REPOSITORY = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["urls"]["Repository"]
BRANCH = "main"

# -- Notebooks: executed for frames, or shown with their committed outputs --------------------
COURSE = sorted(p.stem for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
FRAMES = os.environ.get("VIMCO_EDU_SITE_FRAMES", "all").strip().lower()
if FRAMES == "all":
    EXECUTED = COURSE
elif FRAMES in ("", "none"):
    EXECUTED = []
else:
    wanted = {part.strip() for part in FRAMES.split(",") if part.strip()}
    EXECUTED = [stem for stem in COURSE if stem[:2] in wanted or stem in wanted]
    unknown = wanted - {s[:2] for s in EXECUTED} - set(EXECUTED)
    if unknown:
        raise ValueError(f"VIMCO_EDU_SITE_FRAMES names no notebook: {sorted(unknown)}; "
                         f"use all, none, or numbers of {COURSE}")
if EXECUTED:
    os.environ["VIMCO_EDU_STATIC_WIDGETS"] = "1"   # inherited by the kernels myst-nb starts
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
nb_execution_mode = "force" if EXECUTED else "off"
nb_execution_excludepatterns = [f"notebooks/{stem}.ipynb" for stem in COURSE
                                if stem not in EXECUTED]
nb_execution_timeout = 900
if EXECUTED:
    # nbclient gives a kernel 60 s to start, which a machine busy with training runs can exceed
    # ("Kernel didn't respond in 60 seconds" fails the build); myst-nb has no setting for it, so
    # nbclient.execute, which myst-nb calls, gets a client that waits longer.
    import nbclient.client
    from traitlets import Integer

    class PatientNotebookClient(nbclient.client.NotebookClient):
        startup_timeout = Integer(600)

    nbclient.client.NotebookClient = PatientNotebookClient
nb_execution_raise_on_error = True   # a notebook that fails to run must fail the build
nb_execution_show_tb = True
nb_merge_streams = True

# -- Vendored JavaScript (docs/vendor.py): MathJax 3 and the ipywidgets 8 embedder ------------
html_static_path = [str(vendor.vendor(DOCS / "_vendor"))]
mathjax_path = vendor.MATHJAX_SCRIPT                     # relative: served from _static/
mathjax_config_path = "mathjax_config.js"   # MathJax 2's Hub.Queue for the widget embedder
# The basic embedder (no RequireJS): renders the standard widgets from the saved state.
nb_ipywidgets_js = {vendor.WIDGETS_SCRIPT: {}}
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
# Display math written inside a paragraph ("... gives $$ ... $$ where"), as Jupyter renders it
myst_dmath_double_inline = True

# -- Theme ------------------------------------------------------------------------------------
html_theme = "sphinx_book_theme"
html_title = "VIMCO: an interactive course"
html_theme_options = {
    "repository_url": REPOSITORY,
    "repository_branch": BRANCH,
    # Pages are docs/notebooks/NN.ipynb, and docs/notebooks is a link to notebooks/: with an
    # empty path the launch links point at notebooks/NN.ipynb in the repository.
    "path_to_docs": "",
    "use_repository_button": True,
    "use_download_button": True,
    "launch_buttons": {
        "binderhub_url": "https://mybinder.org",
        "colab_url": "https://colab.research.google.com",
        "notebook_interface": "jupyterlab",
    },
    "show_navbar_depth": 1,
    "home_page_in_toc": True,
}
# Light, stated: the figures and widget frames are drawn on white (and with no mode set, the
# theme logs a console error on every page)
html_context = {"default_mode": "light"}
html_last_updated_fmt = None
html_show_sourcelink = False


_relfn2path = BuildEnvironment.relfn2path


def relfn2path_through_link(self, filename, docname=None):
    """Sphinx resolves symbolic links when it turns a link's target into a document, so a link
    to notebooks/NN.ipynb would land outside the source folder (docs/notebooks is a link to
    ../notebooks) and not be found: map such targets back through the link."""
    relative, absolute = _relfn2path(self, filename, docname)
    try:
        inside = Path(absolute).relative_to((REPO / "notebooks").resolve())
    except ValueError:
        return relative, absolute
    return (Path("notebooks") / inside).as_posix(), os.fspath(DOCS / "notebooks" / inside)


BuildEnvironment.relfn2path = relfn2path_through_link


class PreviewWithoutState(SphinxPostTransform):
    """Where a page carries no widget state (a notebook shown with its committed outputs), a
    widget's output would render as nothing; drop the widget view from its output so that the
    preview image stored beside it (vimco_edu.widgets.explore) is shown instead. Runs before
    myst-nb's SelectMimeType (priority 4), like nbconvert's WidgetsDataTypeFilter."""

    default_priority = 3

    def run(self, **kwargs):
        from myst_nb.sphinx_ import NbMetadataCollector

        state = NbMetadataCollector.get_js_files(self.env, self.env.docname)
        if "ipywidgets_state" in state:
            return
        for bundle in list(self.document.findall(nodes.container)):
            if bundle.get("nb_element") != "mime_bundle":
                continue
            kinds = [child.get("mime_type") for child in bundle.children]
            if "application/vnd.jupyter.widget-view+json" in kinds and len(kinds) > 1:
                for child in list(bundle.children):
                    if child.get("mime_type") == "application/vnd.jupyter.widget-view+json":
                        bundle.remove(child)


def setup(app):
    app.add_post_transform(PreviewWithoutState)
