"""Core commands: backends, check, get, list, parse, emulate."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table

from ..backends.base import RECORD_KINDS, InvoicingBackend
from ..backends.http import loads_json
from ..config import load_profile
from ..exceptions import BackendNotFound, ConfigurationError, MappingError
from ..models import InvoiceStatus
from ..registry import available_backends, available_emulators, backend_class, emulator_command
from .output import FORMATS, Record, console, dumps, emit


def open_backend(ctx: click.Context, profile: str) -> InvoicingBackend:
    """The backend of a config profile (``--config`` or the default file)."""
    config = (ctx.obj or {}).get("config")
    return load_profile(profile, config).open()


def parse_date(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date (YYYY-MM-DD)", param_hint=option
        ) from None


if TYPE_CHECKING:
    _Choice = click.Choice[str]
else:  # click 8.1's Choice is not generic
    _Choice = click.Choice


class KindChoice(_Choice):
    """A record kind, singular or plural as the command spells it; the other number is
    taken too (``get shop invoices 1``, ``list shop invoice``): a new user typing one
    command's spelling in the other got a usage error."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and value not in self.choices:
            other = value[:-1] if value.endswith("s") else f"{value}s"
            if other in self.choices:
                value = other
        return super().convert(value, param, ctx)


format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="Output: a table, JSON (the to_dict() form) or one JSON object per line.",
)


@click.command()
def backends() -> None:
    """List the installed backends and what each can do."""
    table = Table(title="Installed backends")
    table.add_column("name")
    table.add_column("class")
    table.add_column("features")
    for name in available_backends():
        try:
            cls = backend_class(name)
        except BackendNotFound as exc:
            table.add_row(name, "[red]failed to load[/red]", str(exc))
            continue
        table.add_row(name, f"{cls.__module__}.{cls.__qualname__}", ", ".join(sorted(cls.features)))
    console().print(table)


@click.command()
@click.argument("profile")
@click.pass_context
def check(ctx: click.Context, profile: str) -> None:
    """Check that PROFILE's backend can be reached and accepts the credentials."""
    loaded = load_profile(profile, (ctx.obj or {}).get("config"))
    click.echo(f"config: {loaded.path}")
    with loaded.open() as backend:
        info = backend.check()
    # A server may echo the token back in what it says: masked, as in all the CLI prints.
    facts = ", ".join(f"{k}={v}" for k, v in info.items() if v not in (None, ""))
    click.secho(
        f"ok: {profile} ({backend.label}): the API answered and accepted the credentials",
        fg="green",
    )
    if facts:
        click.echo(facts)


@click.command()
@click.argument("profile")
@click.argument("kind", type=KindChoice(RECORD_KINDS))
@click.argument("record_id")
@format_option
@click.pass_context
def get(ctx: click.Context, profile: str, kind: str, record_id: str, fmt: str) -> None:
    """Fetch one invoice, client or payment by its id in PROFILE's backend."""
    with open_backend(ctx, profile) as backend:
        record: Record
        if kind == "invoice":
            record = backend.get_invoice(record_id)
        elif kind == "client":
            record = backend.get_client(record_id)
        else:
            record = backend.get_payment(record_id)
        emit([record], fmt, single=True, title=f"{profile}: {kind} {record_id}")


@click.command("list")
@click.argument("profile")
@click.argument("kind", type=KindChoice(["invoices", "clients", "payments"]))
@click.option("--since", metavar="DATE", help="Invoices issued on or after this date (YYYY-MM-DD).")
@click.option(
    "--status",
    type=click.Choice([s.value for s in InvoiceStatus]),
    help="Invoices with this status.",
)
@click.option("--limit", type=click.IntRange(min=1), help="Stop after this many records.")
@format_option
@click.pass_context
def list_records(
    ctx: click.Context,
    profile: str,
    kind: str,
    since: str | None,
    status: str | None,
    limit: int | None,
    fmt: str,
) -> None:
    """List invoices, clients or payments of PROFILE's backend (streamed page by page)."""
    if kind != "invoices" and (since or status):
        raise click.UsageError("--since and --status apply to invoices only")
    with open_backend(ctx, profile) as backend:
        records: Iterator[Record]
        if kind == "invoices":
            records = backend.iter_invoices(
                since=parse_date(since, "--since"),
                status=InvoiceStatus(status) if status else None,
            )
        elif kind == "clients":
            records = backend.iter_clients()
        else:
            records = backend.iter_payments()
        if limit is not None:
            records = itertools.islice(records, limit)
        emit(records, fmt, title=f"{profile}: {kind}")


def _option_value(raw: str) -> Any:
    """``-o`` values: JSON when they parse as JSON (numbers, objects), else the text."""
    try:
        return json.loads(raw, parse_float=Decimal)
    except ValueError:
        return raw


@click.command()
@click.argument("backend_name", metavar="BACKEND")
@click.argument("kind", type=KindChoice(RECORD_KINDS))
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option(
    "-o",
    "--option",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="A backend option mapping needs (repeatable), e.g. -o date_format=%d/%m/%Y.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "ndjson", "table"]),
    default="json",
    show_default=True,
)
@click.option("--raw", "include_raw", is_flag=True, help="Include the raw payload in the JSON.")
def parse(
    backend_name: str,
    kind: str,
    file: Any,
    options: tuple[str, ...],
    fmt: str,
    include_raw: bool,
) -> None:
    """Map a saved raw payload of BACKEND to the neutral JSON, offline.

    FILE (or - for standard input) holds a whole API response, a bare record or one
    list row. No network is used.
    """
    parsed: dict[str, Any] = {}
    for item in options:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="-o")
        parsed[key.strip()] = _option_value(value)
    cls = backend_class(backend_name)
    try:
        # The HTTP layer's parser: exact decimals, NaN as a Decimal, nesting bounded.
        payload = loads_json(file.read())
    except ValueError as exc:
        raise MappingError(f"{file.name} is not JSON: {exc}", backend=backend_name) from None
    try:
        backend = cls.for_parsing(**parsed)
    except ConfigurationError as exc:
        raise ConfigurationError(f"-o: {exc}") from None
    records = backend.parse_payload(kind, payload)
    if fmt == "table":
        emit(records, fmt)
        return
    data = [r.to_dict(include_raw=include_raw) for r in records]
    if fmt == "ndjson":
        for row in data:
            click.echo(dumps(row, indent=None))
    else:
        click.echo(dumps(data[0] if len(data) == 1 else data))


class EmulatorGroup(click.Group):
    """``emulate <name>``: one subcommand per ``invoicing_bridge.emulators`` entry point."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return available_emulators()

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in available_emulators():
            return None
        try:
            command: click.Command = emulator_command(cmd_name)
        except BackendNotFound as exc:
            # One broken plugin must not break `emulate --help` for the others.
            error = exc

            @click.command(cmd_name, help=f"(failed to load: {error})")
            def broken() -> None:
                raise error

            return broken
        return command


@click.group(cls=EmulatorGroup)
def emulate() -> None:
    """Run a local emulator of a backend's API (for trying things without an account)."""
