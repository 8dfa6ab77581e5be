"""CSV exports escape cells a spreadsheet would run as a formula (``=``, ``+``, ``-``,
``@``): record numbers, names and values come from the backends."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from invoicing_bridge.comparison.report import ComparisonReport, InvoiceRef, csv_cell


@pytest.mark.parametrize(
    ("cell", "shown"),
    [
        ('=HYPERLINK("http://evil.test","x")', '\'=HYPERLINK("http://evil.test","x")'),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tTAB", "'\tTAB"),
        ("-12.50", "-12.50"),
        ("+3", "+3"),
        ("INV-0001", "INV-0001"),
        ("", ""),
    ],
)
def test_a_cell_starting_like_a_formula_is_text(cell: str, shown: str) -> None:
    assert csv_cell(cell) == shown


def test_the_comparison_csv_escapes_numbers_from_the_backends() -> None:
    report = ComparisonReport(
        left="a",
        right="b",
        match="number",
        tolerance=Decimal("0.01"),
        only_left=[InvoiceRef(id="1", number="=1+1", key="=1+1")],
        only_right=[InvoiceRef(id="2", number="@evil", key=None)],
    )
    buffer = io.StringIO()
    report.to_csv(buffer)
    rows = list(csv.DictReader(io.StringIO(buffer.getvalue())))
    cells = [value for row in rows for value in row.values()]
    assert "'=1+1" in cells and "'@evil" in cells
    assert not any(value.startswith(("=", "@")) for value in cells)
