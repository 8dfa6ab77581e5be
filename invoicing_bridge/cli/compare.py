"""``invoicing-bridge compare LEFT RIGHT``: reconcile two profiles' invoices.

Exit status: 0 when everything matches, 1 when anything differs (a field, an invoice on
one side only, a duplicated number), 2 on error, 130 when interrupted (Ctrl-C).
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import click
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..backends.base import InvoicingBackend
from ..comparison import DEFAULT_TOLERANCE, MATCH_MODES, ComparisonReport, InvoiceRef
from ..comparison import compare as run_compare
from ..comparison.report import text as _text_cell
from ..config import load_profile
from ..exceptions import ConfigurationError
from ..migration.ledger import DEFAULT_LEDGER, Ledger
from . import INTERRUPTED_EXIT, mask
from .output import console, masked_cells
from .paths import check_output, write_private

__all__ = ["compare", "render", "renderable"]

DIFFERENT_EXIT = 1
COMPARE_FORMATS = ("table", "json", "csv", "html")


def _tolerance(ctx: click.Context, param: click.Parameter, value: str) -> Decimal:
    try:
        amount = Decimal(value.strip())
    except InvalidOperation:
        raise click.BadParameter(f"{value!r} is not a number") from None
    if not amount.is_finite() or amount < 0:
        raise click.BadParameter(f"{value!r} must be zero or more")
    return amount


class _Progress:
    """``reading left: 1200 invoices`` on a terminal's standard error; silent otherwise."""

    def __init__(self, left: str, right: str) -> None:
        self.names = {"left": left, "right": right}
        self.err = Console(stderr=True, highlight=False)
        self.status: Any = None

    def __enter__(self) -> _Progress:
        if self.err.is_terminal:
            self.status = self.err.status("reading invoices")
            self.status.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.status is not None:
            self.status.stop()

    def __call__(self, side: str, count: int) -> None:
        if self.status is not None and (count == 1 or count % 50 == 0):
            self.status.update(f"reading {self.names[side]}: {count} invoices")


def _text(report: ComparisonReport, fmt: str) -> str:
    """The report as text: JSON, CSV, or the table without colours (for a file)."""
    if fmt == "json":
        return json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"
    if fmt == "html":
        return report.to_html()
    buffer = io.StringIO()
    if fmt == "csv":
        report.to_csv(buffer)
    else:
        render(report, Console(file=buffer, width=160, no_color=True, highlight=False))
    return buffer.getvalue()


@click.command()
@click.argument("left")
@click.argument("right")
@click.option(
    "--match",
    type=click.Choice(MATCH_MODES),
    help="Pair invoices through a migration ledger (LEFT the migration's source, RIGHT its "
    f"target; the default when --ledger is given or ./{DEFAULT_LEDGER} holds a migration "
    "between the two), or by normalised number, then client, date and total.",
)
@click.option(
    "--ledger",
    type=click.Path(exists=True, dir_okay=False),
    help=f"The migration ledger for --match ledger (default: ./{DEFAULT_LEDGER}); "
    "implies --match ledger.",
)
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    metavar="DATE",
    help="Only invoices issued on or after this date (YYYY-MM-DD).",
)
@click.option(
    "--tolerance",
    default=str(DEFAULT_TOLERANCE),
    callback=_tolerance,
    metavar="AMOUNT",
    show_default=True,
    help="Money is rounded to its currency's precision, then amounts that differ by no "
    "more than this (in currency units) are equal.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(COMPARE_FORMATS),
    default="table",
    show_default=True,
    help="A table, the report as JSON, CSV with one row per difference, or one "
    "self-contained HTML page (summary, filterable table; no network needed).",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False),
    help="Write the report to this file instead of standard output.",
)
@click.option("--force", is_flag=True, help="Replace the --output file if it exists.")
@click.pass_context
def compare(
    ctx: click.Context,
    left: str,
    right: str,
    match: str | None,
    ledger: str | None,
    since: dt.datetime | None,
    tolerance: Decimal,
    fmt: str,
    output: str | None,
    force: bool,
) -> None:
    """Compare the invoices of profiles LEFT and RIGHT and report every difference.

    \b
    Exit status: 0 everything matches, 1 something differs, 2 an error, 130 interrupted
    (Ctrl-C).
    """
    auto = match is None and ledger is None
    if match is None and ledger is not None:
        match = "ledger"
    if match == "number" and ledger is not None:
        raise click.UsageError("--ledger goes with --match ledger")
    if match == "ledger" and ledger is None:
        ledger = DEFAULT_LEDGER
    check_output(output, option="--output", force=force, protected=[ledger])
    config = (ctx.obj or {}).get("config")
    left_profile = load_profile(left, config)
    right_profile = load_profile(right, config)
    try:
        with (
            left_profile.open(check=True) as left_backend,  # checked before any read
            right_profile.open(check=True) as right_backend,
            _Progress(left, right) as progress,
        ):
            if auto:
                ledger = _ledger_for(left_backend, right_backend)
                match = "number" if ledger is None else "ledger"
            report = run_compare(
                left_backend,
                right_backend,
                match=match,
                ledger=ledger,
                since=None if since is None else since.date(),
                tolerance=tolerance,
                progress=progress,
            )
    except KeyboardInterrupt:
        click.secho("interrupted: nothing compared", fg="red", err=True)
        ctx.exit(INTERRUPTED_EXIT)
    report.left = f"{left} ({report.left})"
    report.right = f"{right} ({report.right})"
    if output is None:
        if fmt == "table":
            render(report, console())
        else:
            click.echo(_text(report, fmt), nl=False)
    else:
        write_private(output, _text(report, fmt), newline="")
        click.echo(f"report written to {output}", err=True)
    ctx.exit(0 if report.ok else DIFFERENT_EXIT)


def _ledger_for(left: InvoicingBackend, right: InvoicingBackend) -> str | None:
    """``./invoicing-bridge-ledger.sqlite`` when it holds a migration from ``left`` to
    ``right`` (matching through it is then the default), else None."""
    path = Path(DEFAULT_LEDGER)
    if not path.is_file():
        return None
    try:
        with Ledger(path) as ledger:
            found = (left.label, right.label) in ledger.labels()
    except ConfigurationError:  # not a ledger: match by number
        return None
    return DEFAULT_LEDGER if found else None


# --------------------------------------------------------------------------- rendering


def renderable(report: ComparisonReport) -> RenderableType:
    """``report`` as one rich renderable: a summary, then tables of differences, invoices
    on one side only, duplicates and what was not compared."""

    # Every value is a Text: a path like "items[right:2]" is not rich markup.
    def table(title: str, columns: Sequence[str]) -> Table:
        grid = Table(
            title=Text(title, style="bold"), title_justify="left", min_width=len(title) + 1
        )
        for name in columns:
            grid.add_column(Text(name), overflow="fold")
        return grid

    def row(grid: Table, *cells: str) -> None:
        grid.add_row(*masked_cells(*cells))

    left, right = _column_names(report.left, report.right)
    parts: list[RenderableType] = []
    if report.match == "number":
        matched_by = "number"
        if report.matched_by_content:
            matched_by += f", then client, date and total ({report.matched_by_content})"
    else:
        matched_by = f"the migration ledger {report.ledger}"
    head = Text()
    head.append(report.left, style="bold")
    head.append(f" ({_invoices(report.left_count)})  ⟷  ")
    head.append(report.right, style="bold")
    head.append(f" ({_invoices(report.right_count)}), matched by {matched_by}")
    if report.since is not None:
        head.append(f", issued since {report.since.isoformat()}")
    head.append(f", tolerance {report.tolerance}")
    parts.append(head)
    counts = Text()
    counts.append(f"equal {report.equal}", style="green")
    if report.explained:
        counts.append(f"  ·  explained {len(report.explained)}", style="green")
    for label, n in (
        ("different", len(report.different)),
        ("only left", len(report.only_left)),
        ("only right", len(report.only_right)),
        ("duplicates", len(report.duplicates)),
        ("ambiguous", len(report.ambiguous)),
        ("clients different", len(report.clients)),
    ):
        counts.append("  ·  ")
        counts.append(f"{label} {n}", style="red" if n else "")
    parts.append(counts)

    for title, records in (
        (f"Differences ({report.difference_count})", report.different),
        (f"Explained by the migration ({len(report.explained)} invoices)", report.explained),
    ):
        if not records:
            continue
        grid = table(
            title,
            ("number", "left id", "right id", "field", left, right, "changes also"),
        )
        for record in records:
            number = record.number
            if record.right_number and record.right_number != record.number:
                number = f"{record.number} / {record.right_number}"
            for n, diff in enumerate(record.differences):
                first = n == 0
                field = diff.path
                if diff.explained is not None:
                    field += f"\n(explained: {diff.explained})"
                row(
                    grid,
                    number if first else "",
                    (record.left_id or "") if first else "",
                    (record.right_id or "") if first else "",
                    field,
                    _cell(diff.left),
                    _cell(diff.right),
                    "\n".join(f"{d.path} {_cell(d.left)} → {_cell(d.right)}" for d in diff.derived),
                )
        parts.append(grid)

    if report.clients:
        count = sum(len(c.differences) for c in report.clients)
        grid = table(
            f"Client differences ({count}), each once for all its invoices",
            ("client", "left id", "right id", "field", left, right, "invoices"),
        )
        for client in report.clients:
            for n, diff in enumerate(client.differences):
                first = n == 0
                row(
                    grid,
                    client.name if first else "",
                    (client.left_id or "") if first else "",
                    (client.right_id or "") if first else "",
                    diff.path,
                    _cell(diff.left),
                    _cell(diff.right),
                    str(client.invoices) if first else "",
                )
        parts.append(grid)

    for title, refs in (
        (f"Only in {report.left}", report.only_left),
        (f"Only in {report.right}", report.only_right),
    ):
        if refs:
            grid = table(f"{title} ({len(refs)})", ("number", "id", "key"))
            for ref in refs:
                row(grid, ref.number, ref.id or "", ref.key or "")
            parts.append(grid)

    if report.duplicates:
        grid = table(
            f"Duplicate keys ({len(report.duplicates)}): each paired with its closest "
            "candidate; these were left over",
            ("key", "pairs", left, right),
        )
        for dup in report.duplicates:
            row(grid, dup.key, str(dup.paired), _refs(dup.left), _refs(dup.right))
        parts.append(grid)
    if report.ambiguous:
        grid = table(
            f"Ambiguous ({len(report.ambiguous)}): no number pairs them, and client, date "
            "and total match several; not compared",
            ("client | date | total", left, right),
        )
        for dup in report.ambiguous:
            row(grid, dup.key, _refs(dup.left), _refs(dup.right))
        parts.append(grid)

    if report.not_compared:
        notes = Text("Not compared:\n", style="dim")
        for note in report.not_compared:
            notes.append(f"  - {mask(note)}\n", style="dim")
        parts.append(notes)
    parts.append(
        Text("The two sides agree.", style="bold green")
        if report.ok
        else Text("The two sides differ.", style="bold red")
    )
    return Group(*parts)


def _column_names(left: str, right: str) -> tuple[str, str]:
    """Short column headings for the two sides, named in full in the summary line: a
    profile's name (``"shop (daftra:https://...)"`` gives ``shop``), else a label's
    backend (``"daftra:http://127.0.0.1:8001/api2"`` gives ``daftra``); the full names
    when the short ones would be the same. A URL as a heading was folded over lines."""

    def short(name: str) -> str:
        if " (" in name:
            return name.split(" (", 1)[0]
        return name.split(":", 1)[0]

    names = short(left), short(right)
    return (left, right) if names[0] == names[1] else names


def _invoices(count: int) -> str:
    return f"{count} invoice" if count == 1 else f"{count} invoices"


def _cell(value: Any) -> str:
    return "—" if value is None else _text_cell(value) or '""'


def _refs(refs: Iterable[InvoiceRef]) -> str:
    return ", ".join(f"{r.number} (id {r.id})" for r in refs) or "—"


def render(report: ComparisonReport, console: Console) -> None:
    """Print ``report`` on a rich ``console``: a summary, then tables of differences,
    invoices on one side only, duplicates and what was not compared."""
    console.print(renderable(report))
