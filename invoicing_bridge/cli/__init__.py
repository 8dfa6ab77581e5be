"""The ``invoicing-bridge`` command line.

Commands live in their own modules and are imported only when used, so that
``invoicing-bridge --help`` stays fast and each job owns its module:
``core`` (backends, check, get, list, parse, emulate), ``migrate``, ``compare``, ``demo``.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sqlite3
import sys
from typing import Any

import click

from .. import __version__
from ..exceptions import InvoicingBridgeError

__all__ = ["ERROR_EXIT", "main"]

#: Exit status of a command that failed with an error (1 is left for "it ran, and found
#: differences or failed records").
ERROR_EXIT = 2

LAZY_COMMANDS: dict[str, str] = {
    "backends": "invoicing_bridge.cli.core:backends",
    "check": "invoicing_bridge.cli.core:check",
    "get": "invoicing_bridge.cli.core:get",
    "list": "invoicing_bridge.cli.core:list_records",
    "parse": "invoicing_bridge.cli.core:parse",
    "emulate": "invoicing_bridge.cli.core:emulate",
    "migrate": "invoicing_bridge.cli.migrate:migrate",
    "compare": "invoicing_bridge.cli.compare:compare",
    "demo": "invoicing_bridge.cli.demo:demo",
    "export": "invoicing_bridge.cli.einvoice:export",
    "validate": "invoicing_bridge.cli.einvoice:validate_files",
}


def _available(target: str) -> bool:
    module = target.split(":")[0]
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


class BridgeGroup(click.Group):
    """Lazy subcommands, and errors from the library printed as one line."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name, target in LAZY_COMMANDS.items() if _available(target)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = LAZY_COMMANDS.get(cmd_name)
        if target is None or not _available(target):
            return None
        module, attr = target.split(":")
        command: click.Command = getattr(importlib.import_module(module), attr)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except InvoicingBridgeError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.secho(f"error: {exc}", fg="red", err=True)
            ctx.exit(ERROR_EXIT)
        except (OSError, sqlite3.Error) as exc:
            # A full disk or a vanished file while writing (the ledger's SQLite says
            # "database or disk is full"): one line, not a traceback. What was written
            # before stays: ledger rows are committed one by one, reports replaced whole.
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
    if debug:
        logging.basicConfig(
            level=logging.DEBUG, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
        )
        logging.getLogger("urllib3").setLevel(logging.INFO)  # it logs full URLs and headers
    _print_config_warnings(debug)


class _WarningPrinter(logging.Handler):
    """Config warnings (an unsafe file, plain http) as ``warning: ...`` lines on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        click.secho(f"warning: {record.getMessage()}", fg="yellow", err=True)


def _print_config_warnings(debug: bool) -> None:
    logger = logging.getLogger("invoicing_bridge.config")
    for handler in [h for h in logger.handlers if isinstance(h, _WarningPrinter)]:
        logger.removeHandler(handler)
    # With --debug the root handler prints them (and the config file in use) already.
    if not debug:
        logger.addHandler(_WarningPrinter(logging.WARNING))
