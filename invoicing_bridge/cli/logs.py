"""Where the command line's log records go: with ``--debug`` every record (HTTP traffic,
secrets masked) on stderr; without it, config warnings (an unsafe file, plain http) as
``warning: ...`` lines. Imported when a command runs, not for ``--help``."""

from __future__ import annotations

import logging
import sys

import click

__all__ = ["setup_logging"]


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
    logger = logging.getLogger("invoicing_bridge.config")
    for handler in [h for h in logger.handlers if isinstance(h, _WarningPrinter)]:
        logger.removeHandler(handler)
    # With --debug the root handler prints them (and the config file in use) already.
    if not debug:
        logger.addHandler(_WarningPrinter(logging.WARNING))
