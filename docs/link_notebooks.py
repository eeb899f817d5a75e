"""Make every mention of another course notebook in the notebooks' text a relative link.

    python docs/link_notebooks.py [--check]

"notebook 03" becomes [notebook 03](03_nvil.ipynb), "notebooks 01–04" links each number, and a
name in backticks (`04_vimco` or `04_vimco.ipynb`) becomes a link around it. A relative link
to a file in the same folder opens the notebook in JupyterLab, on GitHub and on the site (which
turns it into a link to the page). Headings, code, math and existing links are left alone, and a
notebook's mentions of itself are not linked. Idempotent: run it after editing or merging
notebooks; with --check it changes nothing and exits 1 if something would change
(tests/test_first_cell.py runs that check).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
# text that must not change: headings, code spans, display and inline math, links, autolinks
PROTECTED = re.compile(r"(^[ \t]*#[^\n]*$|`[^`\n]*`(?:\([^)\s]*\))?|\$\$.*?\$\$|\$[^$\n]*\$"
                       r"|\[[^\]\n]*\]\([^)\s]*\)|<[^>\n]*>)", re.S | re.M)
# "notebook 03", "notebooks 01–04", "Notebooks 01 (the bound), 02 (the naive estimator) and 03"
MENTION = re.compile(r"\b([Nn]otebooks?) (0\d)((?:(?:\s\([^()$]*\))?"
                     r"(?:\s?[–-]\s?|,?\s(?:and|or|to)\s|,\s)0\d\b)*)")
NUMBER = re.compile(r"\b0\d\b")
NAME = re.compile(r"^`(0\d_\w+)(\.ipynb)?`$")


def stems() -> dict[str, str]:
    return {p.stem[:2]: p.stem for p in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))}


def link_text(text: str, own: str, by_number: dict[str, str]) -> str:
    """`text` (one markdown cell) with mentions of other notebooks linked."""
    def mention(match):
        word, first, rest = match.groups()
        if not rest:
            if first == own or first not in by_number:
                return match.group(0)
            return f"[{word} {first}]({by_number[first]}.ipynb)"

        def number(m):
            n = m.group(0)
            return n if n == own or n not in by_number else f"[{n}]({by_number[n]}.ipynb)"
        return f"{word} {NUMBER.sub(number, first)}{NUMBER.sub(number, rest)}"

    pieces = PROTECTED.split(text)
    for i, piece in enumerate(pieces):
        if i % 2 == 0:
            pieces[i] = MENTION.sub(mention, piece)
        else:
            name = NAME.match(piece)
            if name and name.group(1)[:2] != own and name.group(1) in by_number.values():
                pieces[i] = f"[{piece}]({name.group(1)}.ipynb)"
    return "".join(pieces)


def main(argv: list[str]) -> int:
    check = "--check" in argv
    by_number = stems()
    changed = []
    for number, stem in by_number.items():
        path = NOTEBOOKS / f"{stem}.ipynb"
        nb = nbformat.read(path, as_version=4)
        edited = False
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                new = link_text(cell.source, number, by_number)
                if new != cell.source:
                    cell.source, edited = new, True
        if edited:
            changed.append(path.name)
            if not check:
                nbformat.write(nb, path)
    verb = "would link" if check else "linked"
    print(f"{verb} mentions in: {', '.join(changed)}" if changed else "every mention is a link")
    return 1 if check and changed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
