"""Where the command line's log records go: with ``--debug`` every record (HTTP traffic,
secrets masked) on stderr; without it, the library's warnings (an unsafe config file,
plain http, a retried request, a target that mails customers) as ``warning: ...`` lines.
Imported when a command runs, not for ``--help``."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

import click

__all__ = ["quiet_migration", "setup_logging"]


class _WarningPrinter(logging.Handler):
    """Config warnings as ``warning: ...`` lines on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        click.secho(f"warning: {record.getMessage()}", fg="yellow", err=True)


def setup_logging(debug: bool) -> None:
    if debug:
        # sys.stderr is the masking stream by now: what is logged is masked too.
        logging.basicConfig(
            level=logging.DEBUG, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
        )
        logging.getLogger("urllib3").setLevel(logging.INFO)  # it logs full URLs and headers
    # Every warning of the library, not only the config's: a migration's (a target that
    # mails customers a receipt per payment) and the HTTP layer's retries were printed
    # bare by logging's last resort, without the "warning:" the config's have.
    for name in ("invoicing_bridge", "invoicing_bridge.config"):
        logger = logging.getLogger(name)
        for handler in [h for h in logger.handlers if isinstance(h, _WarningPrinter)]:
            logger.removeHandler(handler)
    # With --debug the root handler prints them (and the config file in use) already.
    if not debug:
        logging.getLogger("invoicing_bridge").addHandler(_WarningPrinter(logging.WARNING))


@contextlib.contextmanager
def quiet_migration(quiet: bool) -> Iterator[None]:
    """With ``-q``, the migration's own warnings (a target that mails customers a receipt
    per payment) are not printed: ``migrate -q`` says nothing but its exit status,
    ``demo -q`` only its final line. Config warnings (an unsafe file) still are."""
    logger = logging.getLogger("invoicing_bridge.migration")
    level = logger.level
    if quiet:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
