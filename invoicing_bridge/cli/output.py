"""How the command line prints records: a rich table, JSON or NDJSON (the ``to_dict()`` form)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import click
from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..models import Client, Invoice, Payment
from ..money import format_amount

Record = Invoice | Client | Payment
FORMATS = ("table", "json", "ndjson")


def console(*, stderr: bool = False) -> Console:
    out = Console(stderr=stderr, highlight=False, soft_wrap=False)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        # Piped to a file or a pager: rich would assume 80 columns and cut amounts.
        out = Console(stderr=stderr, highlight=False, soft_wrap=False, width=120)
    return out


def _default(value: Any) -> Any:
    # Raw payloads keep a backend's JSON numbers as Decimal: print them exactly, as text.
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(data: Any, *, indent: int | None = 2) -> str:
    return json.dumps(data, indent=indent, ensure_ascii=False, default=_default)


def _money(amount: Decimal, currency: str | None) -> str:
    """An amount with its currency's decimals, and its code when known."""
    text = format_amount(amount, currency)
    return f"{text} {currency}" if currency else text


def _row(record: Record) -> list[str]:
    if isinstance(record, Invoice):
        return [
            record.id or "",
            record.number,
            record.issue_date.isoformat(),
            record.client.name,
            record.status.value,
            _money(record.total, record.currency),
            # The row's currency is written once, after the total.
            format_amount(record.balance_due, record.currency),
        ]
    if isinstance(record, Client):
        return [
            record.id or "",
            record.name,
            record.email or "",
            record.tax_number or "",
            record.currency or "",
        ]
    return [
        record.id or "",
        record.invoice_id or "",
        record.date.isoformat(),
        record.method,
        _money(record.amount, record.currency),
        record.status.value,
    ]


HEADERS: dict[type, list[str]] = {
    Invoice: ["id", "number", "date", "client", "status", "total", "balance"],
    Client: ["id", "name", "email", "tax number", "currency"],
    Payment: ["id", "invoice", "date", "method", "amount", "status"],
}
RIGHT_ALIGNED = {"total", "balance", "amount", "quantity", "unit price", "discount", "net"}
#: Free text that may wrap onto more lines (at spaces, else folded, never cut); every
#: other cell (ids, numbers, dates, statuses, amounts) is printed whole, on one line.
WRAPPING = {"client", "name", "email", "method", "item", "taxes"}
#: The narrowest a wrapping column gets (less when its longest text is shorter).
WRAP_MIN = 8
#: Columns apart by two spaces, no margin at the edges: ``sum(widths) + 2 * (n - 1)``.
_GAP = 2


def _widths(headers: list[str], rows: list[list[str]]) -> list[int]:
    """Each column's narrowest width that cuts nothing: a whole cell for one-line
    columns, ``WRAP_MIN`` (or its longest text, if shorter) for wrapping ones."""
    widths = []
    for index, header in enumerate(headers):
        longest = max([cell_len(header), *(cell_len(row[index]) for row in rows)])
        widths.append(min(WRAP_MIN, longest) if header in WRAPPING else longest)
    return widths


def _table(headers: list[str], rows: list[list[str]], title: str) -> Table:
    table = Table(
        title=title or None,
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1, 0, 0),  # with the column separator: _GAP spaces
    )
    for header, width in zip(headers, _widths(headers, rows), strict=True):
        wraps = header in WRAPPING
        table.add_column(
            header,
            justify="right" if header in RIGHT_ALIGNED else "left",
            no_wrap=not wraps,
            overflow="fold",
            min_width=width,
        )
    for row in rows:
        table.add_row(*row)
    return table


def _records(headers: list[str], rows: list[list[str]], title: str) -> Table:
    """The narrow layout: one block per record, a field per line, so that a terminal too
    narrow for the table loses no column and cuts no amount."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True, style="bold")
    grid.add_column(overflow="fold")
    if title:
        grid.title = title
    for index, row in enumerate(rows):
        if index:
            grid.add_row("", "")
        for header, value in zip(headers, row, strict=True):
            grid.add_row(header, value)
    return grid


def masked_cells(*cells: str) -> list[Text]:
    """Table cells with the command's secrets masked, as plain text (a value is not markup).

    Masked before the table is laid out: rich folds a long cell over lines, and a token a
    server echoed into a value, split in two, would pass the output stream's mask."""
    from . import mask

    return [Text(mask(cell)) for cell in cells]


def render_records(
    headers: list[str], rows: list[list[str]], *, title: str = "", out: Console | None = None
) -> None:
    """Print rows under headers: a table when it fits the console's width whole (no
    column dropped, no id, date or amount cut), else one block per record."""
    from . import mask  # before wrapping: a folded secret would slip past the stream's mask

    rows = [[mask(cell) for cell in row] for row in rows]
    out = out or console()
    needed = sum(_widths(headers, rows)) + _GAP * (len(headers) - 1)
    if needed <= out.width:
        out.print(_table(headers, rows, title))
    else:
        out.print(_records(headers, rows, title))


def emit(records: Iterable[Record], fmt: str, *, single: bool = False, title: str = "") -> int:
    """Print records in ``fmt``; return how many were printed. Streams for ndjson."""
    count = 0
    if fmt == "ndjson":
        for record in records:
            click.echo(dumps(record.to_dict(), indent=None))
            count += 1
        return count
    items = list(records)
    if fmt == "json":
        data: Any = (
            items[0].to_dict() if single and len(items) == 1 else [r.to_dict() for r in items]
        )
        click.echo(dumps(data))
        return len(items)
    if not items:
        click.echo("(no records)")
        return 0
    render_records(HEADERS[type(items[0])], [_row(r) for r in items], title=title)
    if single and len(items) == 1 and isinstance(items[0], Invoice):
        _invoice_detail(items[0])
    return len(items)


LINE_HEADERS = ["#", "item", "quantity", "unit price", "discount", "taxes", "net"]


def _invoice_detail(invoice: Invoice) -> None:
    """Below one invoice's row (``get``): its lines, totals and payments, which the row
    alone leaves out."""
    currency = invoice.currency
    lines = [
        [
            str(index),
            item.name,
            format(item.quantity.normalize(), "f"),
            format_amount(item.unit_price, currency),
            format_amount(item.discount, currency) if item.discount else "",
            ", ".join(f"{t.name} {format(t.rate.normalize(), 'f')}%" for t in item.taxes),
            format_amount(item.net, currency),
        ]
        for index, item in enumerate(invoice.items)
    ]
    if lines:
        render_records(LINE_HEADERS, lines, title="lines")
    totals = [
        ("subtotal", invoice.subtotal),
        ("discount", invoice.discount_total),
        ("tax", invoice.tax_total),
        ("adjustment", invoice.adjustment),
        ("total", invoice.total),
        ("paid", invoice.amount_paid),
        ("balance", invoice.balance_due),
    ]
    shown = [
        [name, _money(value, currency)]
        for name, value in totals
        if value or name in ("subtotal", "tax", "total", "paid", "balance")
    ]
    render_records(["", "amount"], shown, title="totals")
    if invoice.payments:
        render_records(HEADERS[Payment], [_row(p) for p in invoice.payments], title="payments")
