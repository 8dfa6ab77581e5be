"""Every markdown table of the docs renders as one table: no row cut off from its table
by a paragraph (the comparing page's "What is compared" table was, issue 17), and every
row has the header's number of cells."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [*sorted((ROOT / "docs").rglob("*.md")), ROOT / "README.md"]
SEPARATOR = re.compile(r"^\|(\s*:?-{3,}:?\s*\|)+\s*$")


def _cells(line: str) -> int:
    inner = re.sub(r"`[^`]*`", "code", line.strip())  # a | inside code is no cell border
    return inner.strip("|").count("|") + 1


def _tables(lines: list[str]) -> list[tuple[int, list[str]]]:
    """(first line number, lines) of each run of lines starting with ``|`` outside code."""
    runs: list[tuple[int, list[str]]] = []
    fenced = False
    for number, line in enumerate(lines, 1):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        if not fenced and line.startswith("|"):
            if runs and runs[-1][0] + len(runs[-1][1]) == number:
                runs[-1][1].append(line)
            else:
                runs.append((number, [line]))
    return runs


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_tables_are_whole(page: Path) -> None:
    lines = page.read_text(encoding="utf-8").splitlines()
    for start, rows in _tables(lines):
        where = f"{page.relative_to(ROOT)}:{start}"
        assert len(rows) >= 2 and SEPARATOR.match(rows[1]), (
            f"{where}: rows without a header and separator (a table cut in two?): {rows[0]!r}"
        )
        width = _cells(rows[0])
        for offset, row in enumerate(rows[2:], 2):
            assert _cells(row) == width, f"{where}+{offset}: {_cells(row)} cells, header {width}"
