"""``invoicing-bridge migrate SOURCE TARGET``: the migration job on two config profiles."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import re
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import (
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from ..backends.base import InvoicingBackend
from ..config import Profile, load_profile
from ..migration import (
    CLIENT_MATCH_FIELDS,
    DEFAULT_LEDGER,
    FAILED,
    KINDS,
    MigrationReport,
    RecordResult,
)
from ..migration import migrate as run_migration
from ..migration.plan import POLICIES, check_policy
from ..registry import backend_class
from .logs import quiet_migration
from .output import console, dumps, masked_cells
from .paths import check_ledger, check_output, write_private

__all__ = ["migrate_command", "progress_reporter", "render_report", "write_report"]

#: Exit status when the run finished but some records failed.
FAILED_EXIT = 1
#: Exit status after Ctrl-C (128 + SIGINT), the summary so far printed.
INTERRUPTED_EXIT = 130

_TITLES = {"client": "clients", "invoice": "invoices", "payment": "payments"}
_COLUMNS = (
    "created",
    "transformed",
    "updated",
    "matched",
    "skipped",
    "changed",
    "failed",
    "needs_attention",
)
_DRY_COLUMNS = (
    "would_create",
    "would_transform",
    "would_update",
    "matched",
    "skipped",
    "changed",
    "failed",
)


def _parse_since(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date (YYYY-MM-DD)", param_hint="--since"
        ) from None


def _parse_policy(values: tuple[str, ...]) -> dict[str, str]:
    policy: dict[str, str] = {}
    for value in values:
        name, sep, choice = value.partition("=")
        if not sep:
            raise click.BadParameter(f"{value!r} is not CASE=CHOICE", param_hint="--policy")
        policy[name.strip()] = choice.strip()
    try:
        check_policy(policy)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--policy") from None
    return policy


def _parse_match(value: str) -> tuple[str, ...]:
    if value.strip().lower() in ("", "none"):
        return ()
    criteria = tuple(part.strip() for part in value.split(",") if part.strip())
    unknown = [c for c in criteria if c not in CLIENT_MATCH_FIELDS]
    if unknown:
        raise click.BadParameter(
            f"unknown criteria {', '.join(unknown)}; use any of {', '.join(CLIENT_MATCH_FIELDS)}"
            " or none",
            param_hint="--match-clients",
        )
    return criteria


def open_with_rate(profile: Profile, rate: float | None) -> InvoicingBackend:
    """Open ``profile``'s backend, its ``rate_limit`` option set to ``rate`` (requests per
    second) when given and the backend has that option (HTTP backends do); a backend
    without it is opened unlimited. It is checked (it reaches the real API with working
    credentials) before anything is read."""
    if rate is not None and "rate_limit" in backend_class(profile.backend).Options().fields:
        profile = dataclasses.replace(profile, options={**profile.options, "rate_limit": rate})
    return profile.open(check=True)


# --------------------------------------------------------------------------- progress


class _RateColumn(ProgressColumn):
    """Records per second, once rich has measured it."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if speed is None and task.finished and task.elapsed:
            speed = task.completed / task.elapsed
        return Text("" if speed is None else f"{speed:,.1f}/s", style="progress.data.speed")


@contextlib.contextmanager
def progress_reporter(
    *, quiet: bool, stream_is_tty: bool | None = None
) -> Iterator[Callable[[RecordResult], None] | None]:
    """A progress callback for :func:`~invoicing_bridge.migration.migrate`: a rich progress
    bar per kind on a terminal, one plain line per client and invoice otherwise (on
    stderr), nothing when ``quiet``."""
    if quiet:
        yield None
        return
    tty = sys.stderr.isatty() if stream_is_tty is None else stream_is_tty
    if not tty:
        lock = threading.Lock()

        def plain(result: RecordResult) -> None:
            if result.kind == "payment" and result.outcome != FAILED:
                return
            what = result.number or ""
            line = f"{result.kind} {result.source_id} {what}: {result.outcome}".replace("  ", " ")
            if result.target_id:
                line += f" -> {result.target_id}"
            if result.reason:
                line += f" ({result.reason})"
            with lock:
                click.echo(line, err=True)

        yield plain
        return

    counts: dict[str, Counter[str]] = {kind: Counter() for kind in KINDS}
    with Progress(
        SpinnerColumn(finished_text="[green]✓[/green]"),
        TextColumn("{task.description:<9}"),
        TextColumn("[bold]{task.completed:>6,.0f}[/bold]"),
        _RateColumn(),
        TextColumn("{task.fields[summary]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    ) as bar:
        tasks: dict[str, Any] = {}
        lock = threading.Lock()

        def rich_progress(result: RecordResult) -> None:
            with lock:
                counts[result.kind][result.outcome] += 1
                if result.kind not in tasks:
                    tasks[result.kind] = bar.add_task(
                        _TITLES.get(result.kind, result.kind), total=None, summary=""
                    )
                summary = ", ".join(
                    f"{n} {outcome.replace('_', ' ')}"
                    for outcome, n in sorted(counts[result.kind].items())
                )
                if counts[result.kind][FAILED]:
                    summary = summary.replace(
                        f"{counts[result.kind][FAILED]} failed",
                        f"[red]{counts[result.kind][FAILED]} failed[/red]",
                    )
                bar.update(tasks[result.kind], advance=1, summary=summary)

        try:
            yield rich_progress
        finally:
            for task_id in tasks.values():  # finished: the spinner gives way to a tick
                done = next(t.completed for t in bar.tasks if t.id == task_id)
                bar.update(task_id, total=done)


# --------------------------------------------------------------------------- report


def _render_not_migrated(report: MigrationReport, out: Console) -> None:
    """The source records of kinds a migration does not move, counted by kind."""
    if not report.not_migrated:
        return
    title = "Not migrated (kinds the migration does not move)"
    table = Table(
        title=title,
        title_style="yellow",
        title_justify="left",
        min_width=len(title),  # the title on one line, not folded over the narrow table
    )
    table.add_column("kind")
    table.add_column("source records", justify="right")
    for kind, count in report.not_migrated.items():
        table.add_row(kind.replace("_", " "), str(count))
    out.print(table)


def render_report(
    report: MigrationReport, out: Console | None = None, *, interrupted: bool = False
) -> None:
    """The report as rich tables: counts per kind, then failures and changes left.
    ``interrupted``: the summary of a run stopped by Ctrl-C, which is not "ok"."""
    out = out or console()
    columns = _DRY_COLUMNS if report.dry_run else _COLUMNS
    title = "Migration (dry run: nothing written)" if report.dry_run else "Migration"
    table = Table(title=f"{title}: {report.source} -> {report.target}", title_justify="left")
    table.add_column("kind")
    for name in columns:
        table.add_column(name.replace("_", " "), justify="right")
    for kind in KINDS:
        counts = report.counts[kind].to_dict()
        cells = []
        for name in columns:
            value = counts[name]
            text = str(value)
            if name in ("failed", "needs_attention") and value:
                text = f"[red bold]{value}[/red bold]"
            elif name == "changed" and value:
                text = f"[yellow]{value}[/yellow]"
            cells.append(text)
        table.add_row(_TITLES[kind], *cells)
    out.print(table)
    _render_not_migrated(report, out)
    _render_transformations(report, out)
    for heading, rows, style in (
        ("Failed", report.failures, "red"),
        ("Needs attention (written, not right; run again)", report.attention, "red"),
        ("Changed in the source since migrated (run with --update)", report.changes, "yellow"),
        (
            "Updated from the source",
            [r for r in report.records if r.outcome == "updated" and r.reason],
            "yellow",
        ),
        (
            "Matched, in doubt (another target client is as close)",
            [r for r in report.records if r.outcome == "matched" and r.reason],
            "yellow",
        ),
        (
            "Skipped on purpose",
            [r for r in report.records if r.outcome == "skipped" and r.reason],
            "yellow",
        ),
    ):
        if not rows:
            continue
        detail = Table(title=heading, title_style=style, title_justify="left")
        for name in ("kind", "source id", "number", "target id", "reason"):
            detail.add_column(name, overflow="fold")
        for row in sorted(rows, key=_in_order):
            detail.add_row(  # masked before rich folds a long cell (see masked_cells)
                *masked_cells(
                    row.kind, row.source_id, row.number or "", row.target_id or "", row.reason or ""
                )
            )
        out.print(detail)
    failed = [
        f"{c.failed + c.needs_attention} {_TITLES[kind]}"
        for kind, c in report.counts.items()
        if c.failed or c.needs_attention
    ]
    verdict = "[green]ok[/green]" if report.ok else f"[red]failed: {', '.join(failed)}[/red]"
    if interrupted:
        verdict = "[yellow]interrupted[/yellow]" + (
            "" if report.ok else f", [red]failed: {', '.join(failed)}[/red]"
        )
        out.print(f"{verdict} after {report.duration:.1f}s")
        return
    out.print(f"{verdict} in {report.duration:.1f}s")


def _refuse_same_account(source: InvoicingBackend, target: InvoicingBackend) -> None:
    """Two profiles of one account (the same label: backend and URL or subdomain) are a
    mistake: a migration into itself would create every invoice a second time, under a
    fresh ledger. The memory backend is exempt: each profile opens an account of its own."""
    if source.label == target.label and source.name != "memory":
        raise click.UsageError(
            f"SOURCE and TARGET are the same account ({source.label}): a migration into "
            "itself would copy every invoice again"
        )


def _in_order(record: RecordResult) -> tuple[str, list[str | int]]:
    """By kind, then source id in number order: invoice 2 before invoice 10."""
    parts = re.split(r"(\d+)", record.source_id)
    return record.kind, [int(p) if p.isdigit() else p for p in parts]


def _render_transformations(report: MigrationReport, out: Console) -> None:
    """Every change made on the way (transformed records, values the target cannot
    hold), one row per field, old and new value."""
    rows = [r for r in report.transformations if r.kind == "invoice"]
    if not rows:
        return
    table = Table(
        title="Transformed (totals kept to the cent) and lost values",
        title_style="cyan",
        title_justify="left",
    )
    for name in ("number", "field", "old", "new", "rule", "why"):
        table.add_column(name, overflow="fold")
    for row in sorted(rows, key=_in_order):
        for change in row.changes:
            table.add_row(
                *masked_cells(
                    row.number or row.source_id,
                    change.field,
                    change.old or "",
                    change.new or "",
                    change.rule,
                    change.note or "",
                )
            )
    out.print(table)


def write_report(report: MigrationReport, path: str | Path) -> None:
    """The report's JSON form to ``path`` (``-`` for stdout), as a 0600 file written whole."""
    text = dumps(report.to_dict())
    if str(path) == "-":
        click.echo(text)
        return
    write_private(path, text + "\n")


# --------------------------------------------------------------------------- command


@click.command("migrate")
@click.argument("source")
@click.argument("target")
@click.option("--since", metavar="DATE", help="Only invoices issued on or after DATE (YYYY-MM-DD).")
@click.option("--dry-run", is_flag=True, help="Map and validate everything, write nothing.")
@click.option(
    "--ledger",
    "ledger_path",
    type=click.Path(dir_okay=False),
    default=DEFAULT_LEDGER,
    show_default=True,
    help="SQLite file mapping source records to target records (makes re-runs safe).",
)
@click.option(
    "--workers", type=click.IntRange(1, 64), default=4, show_default=True, help="Worker threads."
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="At most R requests per second to each backend (its rate_limit option).",
)
@click.option("--update", is_flag=True, help="Update target records changed in the source since.")
@click.option(
    "--match-clients",
    "match_clients",
    default=",".join(CLIENT_MATCH_FIELDS),
    show_default=True,
    help="How a client is found in the target before creating it (comma list, or none).",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Also write the report as JSON to FILE (- for stdout).",
)
@click.option(
    "--policy",
    "policies",
    multiple=True,
    metavar="CASE=CHOICE",
    help="What to do where the target cannot store an invoice as it is (repeatable): "
    + "; ".join(f"{name}={'|'.join(choices)}" for name, choices in POLICIES.items())
    + " (the first is the default).",
)
@click.option(
    "--client-names-may-differ",
    "client_name_may_differ",
    is_flag=True,
    help="Match a target client with the same email or tax number though its name differs.",
)
@click.option(
    "--new-direction",
    is_flag=True,
    help="Accept a --ledger that so far holds only other migrations (other backends).",
)
@click.option("--force", is_flag=True, help="Replace the --report file if it exists.")
@click.option("--quiet", "-q", is_flag=True, help="No progress and no table; the exit status says.")
@click.pass_context
def migrate_command(
    ctx: click.Context,
    source: str,
    target: str,
    since: str | None,
    dry_run: bool,
    ledger_path: str,
    workers: int,
    rate: float | None,
    update: bool,
    match_clients: str,
    report_path: str | None,
    policies: tuple[str, ...],
    client_name_may_differ: bool,
    new_direction: bool,
    force: bool,
    quiet: bool,
) -> None:
    """Move clients, invoices and payments from profile SOURCE to profile TARGET.

    Safe to run again: the ledger remembers what was migrated, so nothing is created
    twice, and an interrupted run picks up where it stopped. Exit status 1 when any
    record failed or needs attention (each with its reason in the report), 2 when the run
    could not proceed. Invoices the target cannot store as they are are transformed
    (totals kept to the cent) and every change is listed; see --policy.
    """
    check_ledger(ledger_path)
    check_output(report_path, option="--report", force=force, protected=[ledger_path])
    config = (ctx.obj or {}).get("config")
    since_date = _parse_since(since)
    criteria = _parse_match(match_clients)
    policy = _parse_policy(policies)
    source_profile = load_profile(source, config)
    target_profile = load_profile(target, config)
    with (
        open_with_rate(source_profile, rate) as source_backend,
        open_with_rate(target_profile, rate) as target_backend,
        progress_reporter(quiet=quiet) as progress,
    ):
        _refuse_same_account(source_backend, target_backend)
        # What happened so far, for a summary when the run is interrupted.
        so_far = MigrationReport(
            source=source_backend.label, target=target_backend.label, dry_run=dry_run
        )

        def record(result: RecordResult) -> None:
            so_far.add(result)
            if progress is not None:
                progress(result)

        try:
            with quiet_migration(quiet):
                report = run_migration(
                    source_backend,
                    target_backend,
                    since=since_date,
                    dry_run=dry_run,
                    ledger=ledger_path,
                    workers=workers,
                    update=update,
                    client_match=criteria,
                    progress=record,
                    policy=policy,
                    new_direction=new_direction,
                    client_name_may_differ=client_name_may_differ,
                )
        except KeyboardInterrupt:
            report = None
    if report is None:
        so_far.finished_at = dt.datetime.now(dt.UTC)
        if report_path is not None:
            write_report(so_far, report_path)
        if not quiet and report_path != "-":
            render_report(so_far, interrupted=True)
        click.echo(
            "interrupted: the summary above is what was done so far; run again to resume "
            "(the ledger keeps every record done)",
            err=True,
        )
        ctx.exit(INTERRUPTED_EXIT)
        return
    if report_path is not None:
        write_report(report, report_path)
    if not quiet and report_path != "-":
        render_report(report)
    elif not report.ok and report_path != "-":
        failed = sum(c.failed + c.needs_attention for c in report.counts.values())
        hint = (
            f"see {report_path} for the reasons"
            if report_path
            else "run again with --report PATH for the reasons"
        )
        click.echo(f"{failed} records failed; {hint}", err=True)
    if not report.ok:
        ctx.exit(FAILED_EXIT)


#: The name the command line loads (``invoicing_bridge.cli.migrate:migrate``).
migrate = migrate_command
