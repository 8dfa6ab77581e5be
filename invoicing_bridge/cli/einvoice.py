"""``invoicing-bridge export`` (invoices as UBL 2.1 / EN 16931 files) and
``invoicing-bridge validate`` (the UBL XSD and the EN 16931 schematron on files)."""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import click
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..config import load_profile
from ..einvoice import INITIAL_PIH, Seller, ZatcaChain, to_ubl, validate
from ..exceptions import EInvoiceError
from ..models import Invoice, InvoiceStatus
from . import mask, mask_data
from .output import console

__all__ = ["export", "validate_files"]

#: Exit status when the run finished but some invoices or files failed.
FAILED_EXIT = 1
_UNSAFE = re.compile(r"[^\w.-]+")
_NOT_ISSUED = (InvoiceStatus.DRAFT, InvoiceStatus.VOID)


def masked(invoice: Invoice) -> Invoice:
    """``invoice`` with every secret the command's backends know masked in its data.

    The XML is the user's invoice data, but a token a server echoed into it (a note, a
    client's name) must not be written out any more than printed. It is masked in the
    data, before the XML is made: in the finished file it could be escaped (``&amp;``)
    and past the mask, and a ZATCA file's hash, chained into the next invoice, is
    computed over what is written."""
    data = invoice.to_dict()
    hidden = mask_data(data)
    if hidden == data:
        return invoice
    try:
        return Invoice.from_dict(hidden)
    except (TypeError, ValueError) as exc:  # a secret that is all digits, inside an amount
        raise EInvoiceError(
            f"a credential is part of its data and cannot be masked ({exc})",
            invoice=invoice.number,
        ) from None


@dataclass(frozen=True)
class Skipped:
    invoice: Invoice
    reason: str
    failed: bool  # an issued invoice that could not be exported (not a draft or void)
    written: bool = False  # written all the same (it failed validation)


def _parse_since(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date (YYYY-MM-DD)", param_hint="--since"
        ) from None


def _check_output(path: Path, *, force: bool = False) -> None:
    """The output directory exists (made when missing) and can be written, and holds no
    e-invoice yet unless ``force``; or UsageError. An export over an earlier one would
    replace its files silently (a ZATCA file with another counter and hash than the one
    issued), where every other file a command writes is replaced only with --force."""
    if path.exists() and not path.is_dir():
        raise click.BadParameter(f"{path} is not a directory", param_hint="--output")
    if path.is_dir() and not force:
        earlier = sum(1 for _ in path.glob("*.xml"))
        if earlier:
            raise click.BadParameter(
                f"{path} already holds {earlier} .xml files; pass --force to replace "
                "those the export writes again, or choose an empty directory",
                param_hint="--output",
            )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise click.BadParameter(
            f"{path} cannot be created: {exc.strerror}", param_hint="--output"
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise click.BadParameter(f"{path} is not writable", param_hint="--output")


def file_name(invoice: Invoice, taken: set[str]) -> str:
    """``<number>.xml`` with anything but letters, digits, ``.``, ``-`` and ``_`` replaced;
    the invoice id (then a counter) added when two invoices share a number."""
    stem = _UNSAFE.sub("_", invoice.number).strip("._") or f"invoice-{invoice.id or 'x'}"
    name = f"{stem}.xml"
    if name in taken and invoice.id:
        name = f"{stem}-{_UNSAFE.sub('_', invoice.id)}.xml"
    counter = 2
    base = name[: -len(".xml")]
    while name in taken:
        name = f"{base}-{counter}.xml"
        counter += 1
    taken.add(name)
    return name


@click.command()
@click.argument("profile")
@click.argument("kind", type=click.Choice(["invoices"]))
@click.option("--since", metavar="DATE", help="Invoices issued on or after this date (YYYY-MM-DD).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["ubl", "zatca"]),
    default="ubl",
    show_default=True,
    help="ubl: UBL 2.1 Invoice, EN 16931 (CEN) rules. zatca: UBL 2.1 with the Saudi "
    "phase-2 fields, unsigned, invoices in issue order.",
)
@click.option(
    "--counter",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="zatca: the last invoice counter (ICV) already used; the first file gets the next.",
)
@click.option(
    "--previous-hash",
    default=INITIAL_PIH,
    help="zatca: the hash of the last invoice already issued (default: ZATCA's value "
    "for a first invoice).",
)
@click.option(
    "--output",
    "-o",
    "output",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the files (made when missing), one <number>.xml per invoice.",
)
@click.option(
    "--validate",
    "check",
    is_flag=True,
    help="Also validate each file (UBL XSD and EN 16931 schematron); fatal failures count "
    "as failed invoices.",
)
@click.option(
    "--force", is_flag=True, help="Write into an --output directory that holds .xml files."
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.pass_context
def export(
    ctx: click.Context,
    profile: str,
    kind: str,
    since: str | None,
    fmt: str,
    output: Path,
    check: bool,
    force: bool,
    quiet: bool,
    counter: int,
    previous_hash: str,
) -> None:
    """Write PROFILE's invoices as e-invoices, one file each, into --output.

    The seller (name, VAT id, address) comes from the profile's [profiles.NAME.seller]
    table. Drafts and void invoices are skipped; issued invoices that cannot be exported
    are listed with the reason, and the exit status is then 1.

    With --format zatca, invoices are read first and written in the order they were
    issued, each carrying the next counter and the previous invoice's hash; the last
    counter and hash are printed to continue from.
    """
    since_date = _parse_since(since)
    config = (ctx.obj or {}).get("config")
    loaded = load_profile(profile, config)
    seller = Seller.from_profile(loaded)
    _check_output(output, force=force)

    exported: list[Path] = []
    skipped: list[Skipped] = []
    chain = ZatcaChain(counter=counter, previous_hash=previous_hash)
    taken: set[str] = set()
    err = Console(stderr=True)
    with (
        loaded.open() as backend,
        Progress(
            SpinnerColumn(finished_text="[green]✓[/green]"),
            TextColumn("invoices"),
            TextColumn("[bold]{task.completed:>6,.0f}[/bold]"),
            TextColumn("{task.fields[summary]}"),
            TimeElapsedColumn(),
            console=err,
            disable=quiet or not sys.stderr.isatty(),
        ) as bar,
    ):
        task = bar.add_task("export", total=None, summary="")
        invoices: Iterable[Invoice] = backend.iter_invoices(since=since_date)
        if fmt == "zatca":  # the hash chain follows the order of issue
            invoices = sorted(invoices, key=lambda i: (i.issue_date, i.number))
        for invoice in invoices:
            if invoice.status in _NOT_ISSUED:
                skipped.append(Skipped(invoice, f"{invoice.status.value}: not issued", False))
            else:
                try:
                    invoice = masked(invoice)
                    if fmt == "zatca":
                        xml = to_ubl(invoice, seller=seller, profile="zatca", chain=chain)
                    else:
                        xml = to_ubl(invoice, seller=seller, profile="en16931")
                    # The CEN schematron is not ZATCA's: a zatca file is checked by the XSD.
                    cen = fmt != "zatca"
                    failures = []
                    if check:
                        failures = [f for f in validate(xml, schematron=cen) if f.fatal]
                except EInvoiceError as exc:
                    reason = f"{exc.field}: {exc.reason}" if exc.field else exc.reason
                    skipped.append(Skipped(invoice, reason, True))
                else:
                    path = output / file_name(invoice, taken)
                    path.write_bytes(xml)
                    exported.append(path)
                    if failures:
                        rules = ", ".join(sorted({f.rule_id for f in failures}))
                        skipped.append(
                            Skipped(invoice, f"written, but fails {rules}", True, written=True)
                        )
            failed = sum(s.failed for s in skipped)
            summary = f"{len(exported)} written" + (
                f", [red]{failed} failed[/red]" if failed else ""
            )
            bar.update(task, advance=1, summary=summary)
        bar.update(task, total=bar.tasks[0].completed)

    _render(exported, skipped, output, fmt)
    if fmt == "zatca":
        click.echo(
            f"ZATCA chain: last counter {chain.counter}, last hash {chain.previous_hash}\n"
            f"continue with: --counter {chain.counter} --previous-hash {chain.previous_hash}"
        )
    if any(s.failed for s in skipped):
        ctx.exit(FAILED_EXIT)


def _render(exported: list[Path], skipped: list[Skipped], output: Path, fmt: str) -> None:
    out = console()
    total = len(exported) + sum(1 for s in skipped if not s.written)
    out.print(f"exported {len(exported)} of {total} invoices to {escape(str(output))} ({fmt})")
    if not skipped:
        return
    table = Table(title="Not exported", box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("id", no_wrap=True)
    table.add_column("number", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("why", overflow="fold")
    for item in skipped:
        style = "red" if item.failed else "dim"
        table.add_row(  # masked before rich folds a long reason over two lines
            mask(item.invoice.id or ""),
            mask(item.invoice.number),
            item.invoice.status.value,
            f"[{style}]{escape(mask(item.reason))}[/{style}]",
        )
    out.print(table)


@click.command("validate")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--warnings/--no-warnings", default=True, show_default=True, help="List warnings.")
@click.pass_context
def validate_files(ctx: click.Context, files: tuple[Path, ...], warnings: bool) -> None:
    """Validate UBL 2.1 e-invoice FILES: the UBL XSD, then the EN 16931 (CEN) schematron.

    Prints each failed rule's id and text. Exit status 1 when a file fails a fatal rule.
    """
    out = console()
    bad = 0
    for path in files:
        failures = validate(path.read_bytes())
        fatal = [f for f in failures if f.fatal]
        shown = failures if warnings else fatal
        verdict = (f"[red]{len(fatal)} fatal[/red]" if fatal else "[green]valid[/green]") + (
            f", {len(failures) - len(fatal)} warnings" if len(failures) > len(fatal) else ""
        )
        out.print(f"{escape(str(path))}: {verdict}")
        for failure in shown:
            style = "red" if failure.fatal else "yellow"
            out.print(
                f"  [{style}]{failure.flag}[/{style}] {failure.rule_id}: {escape(failure.text)}",
                highlight=False,
            )
        bad += bool(fatal)
    if len(files) > 1:
        out.print(f"{len(files)} files, {bad} with fatal failures")
    if bad:
        ctx.exit(FAILED_EXIT)
