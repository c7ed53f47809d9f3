"""The book's MyST citations as plain text, for notebooks read outside the built site (student copies)."""

from __future__ import annotations

import copy
import re
from pathlib import Path

BIB = Path(__file__).resolve().parents[2] / "book" / "references.bib"
CITE = re.compile(r"\{cite:([tp]?)\}`([^`]+)`")


def plain_citations(nb, bib: Path = BIB):
    """A copy of ``nb`` whose MyST citations ({cite:t}`key`, {cite:p}`key`) read "Devlin et al. (2018)":
    the book's site renders them from ``references.bib``; Jupyter and Colab would show the raw role."""
    from pybtex.database import parse_file  # comes with sphinxcontrib-bibtex (jupyter-book)

    entries = parse_file(str(bib)).entries

    def name_year(key: str) -> tuple[str, str]:
        entry = entries.get(key.strip())
        if entry is None:
            return key.strip(), ""
        last = [" ".join(p.last_names).replace("{", "").replace("}", "")
                for p in entry.persons.get("author", [])]
        names = last[0] if len(last) == 1 else " and ".join(last) if len(last) == 2 else f"{last[0]} et al."
        return names, entry.fields.get("year", "")

    def render(m: re.Match) -> str:
        cited = [name_year(k) for k in m[2].split(",")]
        if m[1] == "t":
            return ", ".join(f"{n} ({y})" for n, y in cited)
        return "(" + "; ".join(f"{n}, {y}" for n, y in cited) + ")"

    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "markdown" and "{cite" in cell.source:
            cell.source = CITE.sub(render, cell.source)
    return nb
