"""The first code cell of every notebook: where the course is missing (Colab, Kaggle, a notebook
downloaded on its own) it clones the repository, installs the package (not editable) and moves
into the clone's notebooks/ folder; in the course's own environment it does nothing. And the
repository URL is one setting: pyproject.toml's, copied into the README's Binder link and the
notebooks' first cells, all equal."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# repository checks, run by the suite's own Python (the unit tests on other Pythons skip them)
nbformat = pytest.importorskip("nbformat")
tomllib = pytest.importorskip("tomllib")

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
URL = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["urls"]["Repository"]
BOOTSTRAP_END = 'os.chdir("vimco-edu/notebooks")'


def first_code(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return next(c.source for c in nb.cells if c.cell_type == "code")


def bootstrap(path: Path) -> str:
    source = first_code(path)
    assert BOOTSTRAP_END in source, f"{path.name}: first code cell does not fetch the course"
    return source[:source.index(BOOTSTRAP_END) + len(BOOTSTRAP_END)]


def test_the_first_code_cell_is_the_bootstrap_alone():
    # the course's imports follow in the next cell, so that a reader meets each in its own cell
    for path in NOTEBOOKS:
        assert first_code(path).strip() == bootstrap(path), f"{path.name}: more than the bootstrap"


def test_every_notebook_starts_with_the_same_bootstrap():
    blocks = {path.name: bootstrap(path) for path in NOTEBOOKS}
    assert len(set(blocks.values())) == 1, "the notebooks' first cells differ: make them equal"


def test_the_repository_url_is_one_setting():
    assert URL.startswith("https://github.com/"), URL
    for path in NOTEBOOKS:
        found = re.findall(r'"VIMCO_EDU_REPOSITORY", "([^"]+)"', bootstrap(path))
        assert found == [URL], f"{path.name}: {found} is not pyproject's {URL}"
    readme = (REPO / "README.md").read_text()
    owner_repo = URL.removeprefix("https://github.com/")
    binder = re.findall(r"mybinder\.org/v2/gh/([^/]+/[^/]+)/", readme)
    assert binder and set(binder) == {owner_repo}, binder


def test_links_between_notebooks_are_links():
    """Every mention of another notebook in the notebooks' text is a relative link
    (docs/link_notebooks.py makes them)."""
    result = subprocess.run([sys.executable, str(REPO / "docs" / "link_notebooks.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def package_view(dest: Path) -> Path:
    """This environment's installed packages without the course: symbolic links to every entry
    of its site-packages except vimco_edu's, for a new venv to see through a .pth line (a line
    naming a folder adds it to sys.path without running the .pth files inside, so the editable
    install's finder stays off)."""
    site = Path(next(p for p in sys.path if p.endswith("site-packages")))
    dest.mkdir()
    for entry in site.iterdir():
        if "vimco" in entry.name.lower():
            continue
        (dest / entry.name).symlink_to(entry)
    return dest


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_notebook_alone_installs_the_course_and_runs(tmp_path):
    """A local clone stands in for the repository URL; a fresh venv has the learner's packages
    (seen through package_view) but not the course; notebook 06 (which reads the style file
    and the stored runs) is copied alone into an empty folder and run top to bottom."""
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    clone = tmp_path / "repository"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "learner_packages.pth").write_text(f"{package_view(tmp_path / 'view')}\n")
    check = subprocess.run([python, "-c", "import vimco_edu"], capture_output=True, text=True,
                           cwd=tmp_path)
    assert check.returncode != 0, "the new venv must not have the course yet"

    work = tmp_path / "empty"
    work.mkdir()
    notebook = "06_structured_prediction.ipynb"
    shutil.copy(REPO / "notebooks" / notebook, work / notebook)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(VIMCO_EDU_REPOSITORY=f"file://{clone}", OPENBLAS_NUM_THREADS="1",
               PIP_DISABLE_PIP_VERSION_CHECK="1", MPLBACKEND="module://matplotlib_inline.backend_inline")
    result = subprocess.run(
        [python, "-m", "nbconvert", "--to", "notebook", "--execute",
         "--ExecutePreprocessor.timeout=600", "--output", "ran.ipynb", notebook],
        cwd=work, env=env, capture_output=True, text=True, timeout=1200)
    network = re.search(r"NewConnectionError|Max retries exceeded|Temporary failure in name "
                        r"resolution|Network is unreachable", result.stderr)
    if result.returncode != 0 and network:
        pytest.skip(f"package registry unreachable for pip (numpy, autograd, setuptools): "
                    f"{network.group(0)}")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]

    installed = subprocess.run([python, "-c", "import vimco_edu; print(vimco_edu.__file__)"],
                               capture_output=True, text=True, cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr
    assert installed.stdout.strip().startswith(site), (
        f"the course should be installed into the venv, not editable: {installed.stdout}")
    assert (work / "vimco-edu" / "notebooks" / "course.mplstyle").exists()
    ran = nbformat.read(work / "ran.ipynb", as_version=4)
    images = sum("image/png" in out.get("data", {}) for c in ran.cells if c.cell_type == "code"
                 for out in c.outputs)
    committed = nbformat.read(REPO / "notebooks" / notebook, as_version=4)
    expected = sum("image/png" in out.get("data", {}) for c in committed.cells
                   if c.cell_type == "code" for out in c.outputs)
    assert images >= expected - 1, f"{images} figures, the committed notebook has {expected}"
    errors = [out for c in ran.cells if c.cell_type == "code" for out in c.outputs
              if out.output_type == "error"]
    assert not errors


def test_first_cell_does_nothing_in_the_course_folder(tmp_path):
    """Run from notebooks/ (as nbval, JupyterLab and Binder do), the bootstrap neither clones,
    installs nor changes directory."""
    code = bootstrap(NOTEBOOKS[0]).replace('subprocess.run(', 'raise SystemExit(')
    result = subprocess.run([sys.executable, "-c", code + "\nprint(os.getcwd())"],
                            cwd=REPO / "notebooks", capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(REPO / "notebooks")
