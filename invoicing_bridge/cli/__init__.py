"""The ``invoicing-bridge`` command line.

Commands live in their own modules and are imported only when used, so that
``invoicing-bridge --help`` stays fast and each job owns its module:
``core`` (backends, check, get, list, parse, emulate), ``migrate``, ``compare``, ``demo``,
``einvoice`` (export, validate). The group's help lists each command with the short help
declared beside it in :data:`LAZY_COMMANDS` (a test checks it is the command's own), so
``--help`` imports no command module, nor requests, marshmallow, rich or a plugin.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import sys
from collections.abc import Iterator
from typing import Any, NamedTuple, TextIO

import click

from .. import __version__
from ..exceptions import InvoicingBridgeError
from ..redaction import Redactor, collecting_secrets

__all__ = ["ERROR_EXIT", "LAZY_COMMANDS", "echo_unmasked", "main", "mask", "mask_data"]

#: Exit status of a command that failed with an error (1 is left for "it ran, and found
#: differences or failed records").
ERROR_EXIT = 2
#: Exit status after Ctrl-C (128 + SIGINT).
INTERRUPTED_EXIT = 130


class LazyCommand(NamedTuple):
    """Where a command lives (``"module:attr"``) and its short help for the group's
    ``--help``, so that listing the commands imports none of them."""

    target: str
    help: str


LAZY_COMMANDS: dict[str, LazyCommand] = {
    "backends": LazyCommand(
        "invoicing_bridge.cli.core:backends",
        "List the installed backends and what each can do.",
    ),
    "check": LazyCommand(
        "invoicing_bridge.cli.core:check",
        "Check that PROFILE's backend can be reached and accepts the credentials.",
    ),
    "get": LazyCommand(
        "invoicing_bridge.cli.core:get",
        "Fetch one invoice, client or payment by its id in PROFILE's backend.",
    ),
    "list": LazyCommand(
        "invoicing_bridge.cli.core:list_records",
        "List invoices, clients or payments of PROFILE's backend (streamed page by page).",
    ),
    "parse": LazyCommand(
        "invoicing_bridge.cli.core:parse",
        "Map a saved raw payload of BACKEND to the neutral JSON, offline.",
    ),
    "emulate": LazyCommand(
        "invoicing_bridge.cli.core:emulate",
        "Run a local emulator of a backend's API (for trying things without an account).",
    ),
    "migrate": LazyCommand(
        "invoicing_bridge.cli.migrate:migrate",
        "Move clients, invoices and payments from profile SOURCE to profile TARGET.",
    ),
    "compare": LazyCommand(
        "invoicing_bridge.cli.compare:compare",
        "Compare the invoices of profiles LEFT and RIGHT and report every difference.",
    ),
    "demo": LazyCommand(
        "invoicing_bridge.cli.demo:demo",
        "Migrate a seeded Daftra emulator into an empty Perfex (or Tryton), then compare them.",
    ),
    "export": LazyCommand(
        "invoicing_bridge.cli.einvoice:export",
        "Write PROFILE's invoices as e-invoices, one file each, into --output.",
    ),
    "validate": LazyCommand(
        "invoicing_bridge.cli.einvoice:validate_files",
        "Validate UBL 2.1 e-invoice FILES: the UBL XSD, then the EN 16931 (CEN) schematron.",
    ),
}


def _available(target: str) -> bool:
    module = target.split(":")[0]
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def load_command(name: str) -> click.Command | None:
    """The command ``name``, its module imported now; None for an unknown name."""
    lazy = LAZY_COMMANDS.get(name)
    if lazy is None or not _available(lazy.target):
        return None
    module, attr = lazy.target.split(":")
    command: click.Command = getattr(importlib.import_module(module), attr)
    return command


def _is_sqlite_error(exc: BaseException) -> bool:
    # Only a command that opened a ledger has imported sqlite3; --help need not.
    sqlite3 = sys.modules.get("sqlite3")
    return sqlite3 is not None and isinstance(exc, sqlite3.Error)


class _MaskingStream(io.TextIOBase):
    """``sys.stdout`` or ``sys.stderr`` with every secret the redactor knows masked in
    what is written (click's echo, rich's console and the log handlers all write here)."""

    def __init__(self, stream: TextIO, redactor: Redactor) -> None:
        super().__init__()
        self.stream = stream
        self.redactor = redactor

    def write(self, text: str) -> int:
        if not isinstance(text, str):  # click asks whether it may write bytes: no
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self.stream.write(self.redactor.redact(text) if len(self.redactor) else text)
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.stream, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self.stream, "errors", None)


_output_redactors: list[Redactor] = []


@contextlib.contextmanager
def _masked_output() -> Iterator[Redactor]:
    """While a command runs: every secret any backend's HTTP client learns (its
    credentials, a token handed to it later) is masked in all that is printed, logged or
    written as a report, whatever a server echoed it back in (a check's facts, a record's
    field, an error). ``check`` was the only command that masked an echoed token."""
    with collecting_secrets() as redactor:
        stdout, stderr = sys.stdout, sys.stderr
        sys.stdout = _MaskingStream(stdout, redactor)
        sys.stderr = _MaskingStream(stderr, redactor)
        _output_redactors.append(redactor)
        try:
            yield redactor
        finally:
            _output_redactors.remove(redactor)
            sys.stdout, sys.stderr = stdout, stderr


def echo_unmasked(text: str) -> None:
    """Print ``text`` and a newline as it is, past the running command's mask: only for a
    secret the user must see to use it, such as a local emulator's own throwaway key in
    the profile ``demo --keep-running`` prints to paste (masked, that profile was
    useless: ``api_key = "***"``)."""
    out = sys.stdout
    out.flush()
    raw = out.stream if isinstance(out, _MaskingStream) else out
    raw.write(f"{text}\n")
    raw.flush()


def mask(text: str) -> str:
    """``text`` with the secrets of the running command's backends masked (what the
    command writes to files: reports)."""
    for redactor in _output_redactors:
        text = redactor.redact(text)
    return text


def mask_data(value: Any) -> Any:
    """``value`` (a record's ``to_dict()`` form) with the running command's secrets
    masked in every string, key or value: for what is built from records before it is
    written (an e-invoice's XML), where masking the finished text is too late (a value
    escaped as ``&amp;``, a hash already computed over it)."""
    for redactor in _output_redactors:
        value = redactor.redact_data(value)
    return value


class BridgeGroup(click.Group):
    """Lazy subcommands, and errors from the library printed as one line."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name, lazy in LAZY_COMMANDS.items() if _available(lazy.target)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return load_command(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The commands and their declared short help, without importing them."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        # A stand-in command with the declared help shortens it as click would the real one.
        rows = [
            (name, click.Command(name, help=LAZY_COMMANDS[name].help).get_short_help_str(limit))
            for name in names
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            # Ctrl-C: one line and 130 (128 + SIGINT), as migrate says it; click alone
            # printed "Aborted!" and exited 1, the status of "found differences".
            click.secho("interrupted", fg="red", err=True)
            ctx.exit(INTERRUPTED_EXIT)
        except InvoicingBridgeError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.secho(f"error: {exc}", fg="red", err=True)
            ctx.exit(ERROR_EXIT)
        except Exception as exc:
            # A full disk or a vanished file while writing (the ledger's SQLite says
            # "database or disk is full"): one line, not a traceback. What was written
            # before stays: ledger rows are committed one by one, reports replaced whole.
            if not (isinstance(exc, OSError) or _is_sqlite_error(exc)):
                raise
            if ctx.obj and ctx.obj.get("debug"):
                raise
            filename = getattr(exc, "filename", None)
            where = f"{filename}: " if filename else ""
            reason = getattr(exc, "strerror", None) or str(exc)
            click.secho(f"error: {where}{reason}", fg="red", err=True)
            ctx.exit(ERROR_EXIT)


@click.group(cls=BridgeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="INVOICING_BRIDGE_CONFIG",
    help="Config file of profiles (default: ./invoicing-bridge.toml, then the user config dir).",
)
@click.option(
    "--debug", is_flag=True, help="Log HTTP traffic (secrets masked) and show tracebacks."
)
@click.version_option(__version__, prog_name="invoicing-bridge")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, debug: bool) -> None:
    """Use, migrate and compare invoices across accounting backends.

    \b
    Start with:   invoicing-bridge demo
    Backends:     invoicing-bridge backends
    A profile:    invoicing-bridge check PROFILE
    """
    ctx.ensure_object(dict)
    ctx.obj["config"] = config_path
    ctx.obj["debug"] = debug
    ctx.with_resource(_masked_output())
    from .logs import setup_logging  # not for --help: logging is not needed to print it

    setup_logging(debug)
