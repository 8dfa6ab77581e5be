"""Files the commands write (reports, ledgers): checked before any work, written whole
and private.

:func:`check_output` runs before a command reads anything from a backend, so a typo in
``--report`` costs nothing: a missing directory, a directory, the ledger's own path, or an
existing file without ``--force`` is a usage error (exit status 2). :func:`write_private`
writes a file readable by its owner alone (0600: reports name clients and amounts), to a
temporary file beside it first, so a full disk leaves the earlier file as it was and
raises one :class:`~invoicing_bridge.exceptions.ConfigurationError` line instead of a
half-written report.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import click

from ..exceptions import ConfigurationError

__all__ = ["PRIVATE_MODE", "check_ledger", "check_output", "write_private"]

#: Reports and ledgers are readable and writable by their owner alone.
PRIVATE_MODE = 0o600


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


def check_output(
    path: str | os.PathLike[str] | None,
    *,
    option: str,
    force: bool = False,
    protected: Iterable[str | os.PathLike[str] | None] = (),
) -> None:
    """Refuse an output path that cannot or must not be written, before any work.

    ``-`` (standard output) and None pass. ``protected``: files the command needs and
    must never overwrite (the ledger). Raises :class:`click.BadParameter` naming
    ``option``.
    """
    if path is None or str(path) == "-":
        return
    target = Path(path)
    if target.is_dir():
        raise click.BadParameter(f"{str(target)!r} is a directory", param_hint=option)
    parent = target.parent
    if not parent.is_dir():
        raise click.BadParameter(f"directory {str(parent)!r} does not exist", param_hint=option)
    for other in protected:
        if other is not None and _same_file(target, Path(other)):
            raise click.BadParameter(
                f"{str(target)!r} is the migration ledger; the report would destroy it",
                param_hint=option,
            )
    if target.exists() and not force:
        raise click.BadParameter(
            f"{str(target)!r} exists; pass --force to replace it", param_hint=option
        )
    if not os.access(parent, os.W_OK):
        raise click.BadParameter(f"directory {str(parent)!r} is not writable", param_hint=option)


def check_ledger(path: str | os.PathLike[str], *, option: str = "--ledger") -> None:
    """A ledger path whose directory exists and that is not a directory."""
    target = Path(path)
    if target.is_dir():
        raise click.BadParameter(f"{str(target)!r} is a directory", param_hint=option)
    if not target.parent.is_dir():
        raise click.BadParameter(
            f"directory {str(target.parent)!r} does not exist", param_hint=option
        )


def write_private(path: str | os.PathLike[str], text: str, *, newline: str | None = None) -> None:
    """Write ``text`` to ``path`` as a 0600 file, whole or not at all.

    The text goes to a temporary file in the same directory (created 0600), is flushed to
    disk, then replaces ``path`` in one step. Raises ConfigurationError (one line naming
    the file and the reason, such as "No space left on device"); the earlier file, if
    any, is then untouched and no temporary file is left behind.
    """
    from . import mask  # a secret a server echoed into a record is not written either

    text = mask(text)
    target = Path(path)
    temp: str | None = None
    try:
        # mkstemp creates the file 0600 whatever the umask.
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except OSError as exc:
        if temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp)
        reason = exc.strerror or str(exc)
        raise ConfigurationError(f"cannot write {str(target)!r}: {reason}") from None
