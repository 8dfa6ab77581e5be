"""How the command line prints records: a rich table, JSON or NDJSON (the ``to_dict()`` form)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.table import Table

from ..models import Client, Invoice, Payment

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


def _row(record: Record) -> list[str]:
    if isinstance(record, Invoice):
        return [
            record.id or "",
            record.number,
            record.issue_date.isoformat(),
            record.client.name,
            record.status.value,
            record.currency,
            str(record.total),
            str(record.balance_due),
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
        str(record.amount),
        record.currency or "",
        record.status.value,
    ]


HEADERS: dict[type, list[str]] = {
    Invoice: ["id", "number", "date", "client", "status", "currency", "total", "balance"],
    Client: ["id", "name", "email", "tax number", "currency"],
    Payment: ["id", "invoice", "date", "method", "amount", "currency", "status"],
}
RIGHT_ALIGNED = {"total", "balance", "amount"}
WRAPPING = {"client", "name", "email", "status"}


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
    table = Table(title=title or None, box=box.SIMPLE_HEAD)
    for header in HEADERS[type(items[0])]:
        # Ids, dates and amounts are never cut; names and emails wrap instead.
        table.add_column(
            header,
            justify="right" if header in RIGHT_ALIGNED else "left",
            no_wrap=header not in WRAPPING,
            min_width=8 if header in WRAPPING else None,
            overflow="fold",
        )
    for record in items:
        table.add_row(*_row(record))
    console().print(table)
    return len(items)
