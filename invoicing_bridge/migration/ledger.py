"""The migration ledger: an SQLite file mapping each source record to its target record.

One row per ``(source, target, kind, source_id)``: the two backends' labels (stable,
never a secret: ``"daftra:https://shop.daftra.com/api2"``), the record kind
(``client``, ``invoice``, ``payment``) and its id in the source. The row holds the
source number, a fingerprint of the source content (:func:`fingerprint`), a ``state``
and, once known, the ``target_id``:

``intent``
    about to be created in the target (written *before* the create). A row left in this
    state means a crash or a timeout after the server may have saved the record: look it
    up in the target by number before creating it again.
``done``
    created (or adopted, or updated) in the target: ``target_id`` is set.
``failed``
    the last attempt failed; ``error`` says why. ``target_id`` is kept when the target
    record exists (a payment or the read-back check failed after the create).

A ``done`` row also keeps the record's report ``outcome`` (``created``,
``transformed``...) and, as JSON, the ``changes`` made on the way: each field the target
got otherwise than the source has it, old and new value (see
:class:`~invoicing_bridge.migration.report.Change`), for the compare job to read back.

Safe under concurrency: one connection guarded by a lock inside a process, WAL mode and a
busy timeout across processes. Each write is its own transaction, committed before the
call returns, so a run killed with SIGKILL loses at most the write it was doing.

The compare job reads the pairs back::

    with Ledger("invoicing-bridge-ledger.sqlite") as ledger:
        for source_id, target_id in ledger.pairs("invoice"):
            ...
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import os
import sqlite3
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

from ..exceptions import ConfigurationError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]
from ..models import Client, Invoice, Payment

__all__ = [
    "DEFAULT_LEDGER",
    "STATES",
    "Ledger",
    "LedgerEntry",
    "LedgerScope",
    "field_prints",
    "fingerprint",
]

#: The default ledger file, in the working directory.
DEFAULT_LEDGER = "invoicing-bridge-ledger.sqlite"
SCHEMA_VERSION = 1
State = Literal["intent", "done", "failed"]
STATES: tuple[State, ...] = ("intent", "done", "failed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
    source      TEXT NOT NULL,              -- label of the source backend
    target      TEXT NOT NULL,              -- label of the target backend
    kind        TEXT NOT NULL,              -- client, invoice, payment
    source_id   TEXT NOT NULL,
    number      TEXT,                       -- the source number (invoice), or a name
    fingerprint TEXT,                       -- sha256 of the source content
    state       TEXT NOT NULL CHECK (state IN ('intent', 'done', 'failed')),
    target_id   TEXT,
    error       TEXT,                       -- why the last attempt failed
    attempts    INTEGER NOT NULL DEFAULT 0, -- how many runs tried this record
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    outcome     TEXT,                       -- the report's outcome when done
    changes     TEXT,                       -- JSON list of the report's changes
    parts       TEXT,                       -- JSON {field path: hash}: what changed since
    PRIMARY KEY (source, target, kind, source_id)
);
CREATE INDEX IF NOT EXISTS records_target ON records (source, target, kind, target_id);
CREATE TABLE IF NOT EXISTS runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    source      TEXT NOT NULL,
    target      TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    dry_run     INTEGER NOT NULL DEFAULT 0,
    summary     TEXT                        -- the report's JSON form, when finished
);
"""

_COLUMNS = (
    "source, target, kind, source_id, number, fingerprint, state, target_id, error, "
    "attempts, created_at, updated_at, outcome, changes, parts"
)
#: Columns added after the first release, added to older files when opened.
_ADDED_COLUMNS = (("outcome", "TEXT"), ("changes", "TEXT"), ("parts", "TEXT"))


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


# --------------------------------------------------------------------------- fingerprint

_DROPPED = frozenset({"id", "source", "raw", "created_at", "updated_at", "invoice_id"})


def _strip(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _strip(v) for k, v in value.items() if k not in _DROPPED}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def fingerprint(record: Invoice | Client | Payment) -> str:
    """sha256 of the canonical neutral JSON of ``record`` without its ids, timestamps,
    ``source`` and ``raw``: equal for equal content wherever and whenever it was read.

    An invoice's client counts by its source id only (the client has its own row).
    """
    data = _strip(record.to_dict())
    if isinstance(record, Invoice):
        data["client"] = record.client.id
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def field_prints(record: Invoice | Client | Payment) -> dict[str, str]:
    """A short hash per field of the content :func:`fingerprint` covers, keyed by its path
    (``notes``, ``items[1].quantity``, ``payments[0].amount``): kept beside the fingerprint
    so that a record changed in the source can say *which* fields changed."""
    data = _strip(record.to_dict())
    if isinstance(record, Invoice):
        data["client"] = record.client.id
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, list):
            flat[f"{key}.count"] = len(value)
            for index, element in enumerate(value):
                if isinstance(element, Mapping):
                    for sub, item in element.items():
                        flat[f"{key}[{index}].{sub}"] = item
                else:
                    flat[f"{key}[{index}]"] = element
        elif isinstance(value, Mapping):
            for sub, item in value.items():
                flat[f"{key}.{sub}"] = item
        else:
            flat[key] = value
    return {
        path: hashlib.sha256(
            json.dumps(value, sort_keys=True, ensure_ascii=False).encode("utf-8")
        ).hexdigest()[:16]
        for path, value in flat.items()
    }


def changed_fields(before: Mapping[str, str] | None, now: Mapping[str, str]) -> list[str]:
    """The paths whose content differs between two :func:`field_prints` (added and removed
    paths included), in a stable order; empty when ``before`` is unknown (an older ledger)."""
    if not before:
        return []
    return sorted(path for path in before.keys() | now.keys() if before.get(path) != now.get(path))


# --------------------------------------------------------------------------- rows


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One ledger row."""

    source: str
    target: str
    kind: str
    source_id: str
    number: str | None
    fingerprint: str | None
    state: State
    target_id: str | None
    error: str | None
    attempts: int
    created_at: str
    updated_at: str
    outcome: str | None = None
    changes: tuple[dict[str, Any], ...] = ()
    parts: Mapping[str, str] | None = None

    @property
    def done(self) -> bool:
        return self.state == "done"

    @property
    def transformed(self) -> bool:
        """Stored with changes: the source's and target's values differ on purpose."""
        return bool(self.changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "kind": self.kind,
            "source_id": self.source_id,
            "number": self.number,
            "fingerprint": self.fingerprint,
            "state": self.state,
            "target_id": self.target_id,
            "error": self.error,
            "attempts": self.attempts,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "outcome": self.outcome,
            "changes": list(self.changes),
        }


def _entry(row: tuple[Any, ...]) -> LedgerEntry:
    changes = row[13]
    parsed: tuple[dict[str, Any], ...] = tuple(json.loads(changes)) if changes else ()
    entry = LedgerEntry(*row[:12])
    return dataclasses.replace(
        entry,
        outcome=None if row[12] is None else str(row[12]),
        changes=parsed,
        parts=json.loads(row[14]) if row[14] else None,
    )


def _is_file(path: Path) -> bool:
    return str(path) != ":memory:" and not str(path).startswith("file:")


def _create_private(path: Path) -> None:
    """Create a missing ledger file, readable by its owner alone (it names every client
    and invoice migrated), with its schema already in it: the file is built under a
    temporary name (mkstemp: 0600 whatever the umask) and linked into place whole, so a
    ledger file never exists empty or half-made, and an empty file found later is damage,
    not a new ledger. SQLite gives the -wal and -shm files the same mode."""
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".new", dir=path.parent)
    os.close(fd)
    try:
        db = sqlite3.connect(temp, isolation_level=None)
        try:
            db.executescript(_SCHEMA)
            db.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
        finally:
            db.close()
        with contextlib.suppress(FileExistsError):  # another process made it first
            os.link(temp, path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temp)


def _check_existing(path: Path, db: sqlite3.Connection) -> None:
    """Refuse a file that is not a sound ledger, before anything is written to it."""
    where = f"ledger {str(path)!r}"
    if path.stat().st_size == 0:
        raise ConfigurationError(
            f"{where} is empty (0 bytes), not a ledger: it cannot say what was migrated. "
            "Restore it from a backup, or delete it to start a new migration"
        )
    tables = {
        str(row[0]) for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    if not {"meta", "records", "runs"} <= tables:
        found = ", ".join(sorted(tables)) or "none"
        raise ConfigurationError(
            f"{where} is not an invoicing-bridge ledger (its tables: {found}): "
            "pass the ledger file of this migration, or a new path with --ledger"
        )
    row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None:
        raise ConfigurationError(f"{where} is damaged: it has no schema version")
    problems = [str(r[0]) for r in db.execute("PRAGMA quick_check")]
    if problems != ["ok"]:
        raise ConfigurationError(f"{where} is damaged: {'; '.join(problems[:3])}")


class Ledger:
    """The ledger file at ``path`` (created when missing). Use as a context manager or
    call :meth:`close`.

    Raises :class:`~invoicing_bridge.exceptions.ConfigurationError` when the file cannot
    be opened or is not a ledger.
    """

    def __init__(self, path: str | os.PathLike[str] = DEFAULT_LEDGER, *, timeout: float = 30.0):
        self.path = Path(path)
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        try:
            is_file = _is_file(self.path)
            if is_file and not self.path.exists():
                _create_private(self.path)
            # Autocommit (isolation_level=None): every statement is its own transaction,
            # durable before the call returns. One connection shared under self._lock.
            self._db = sqlite3.connect(
                self.path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
            if is_file:
                _check_existing(self.path, self._db)
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL is durable against a killed process (not against a power cut).
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._add_columns()
            self._check_version()
        except (sqlite3.DatabaseError, OSError) as exc:
            self.close()
            raise ConfigurationError(f"ledger {str(self.path)!r}: {exc}") from None
        except ConfigurationError:
            self.close()
            raise

    def _add_columns(self) -> None:
        db = self._conn()
        have = {str(row[1]) for row in db.execute("PRAGMA table_info(records)")}
        for name, kind in _ADDED_COLUMNS:
            if name not in have:
                db.execute(f"ALTER TABLE records ADD COLUMN {name} {kind}")

    def _check_version(self) -> None:
        db = self._conn()
        row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None:
            db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
        elif int(row[0]) > SCHEMA_VERSION:
            raise ConfigurationError(
                f"ledger {str(self.path)!r} has schema version {row[0]}, newer than this "
                f"version of invoicing-bridge understands ({SCHEMA_VERSION})"
            )

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise ConfigurationError(f"ledger {str(self.path)!r} is closed")
        return self._db

    def __repr__(self) -> str:
        return f"Ledger({str(self.path)!r})"

    # ----------------------------------------------------------------- lifecycle

    def close(self) -> None:
        """Close the file. Safe to call twice."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ----------------------------------------------------------------- reading

    def get(self, kind: str, source_id: str, *, source: str, target: str) -> LedgerEntry | None:
        """The row of one source record, or None."""
        return self._one(
            "source = ? AND target = ? AND kind = ? AND source_id = ?",
            (source, target, kind, source_id),
        )

    def find_target(
        self, kind: str, target_id: str, *, source: str, target: str
    ) -> LedgerEntry | None:
        """The row whose record became ``target_id`` in the target, or None."""
        return self._one(
            "source = ? AND target = ? AND kind = ? AND target_id = ? LIMIT 1",
            (source, target, kind, target_id),
        )

    def _one(self, where: str, params: tuple[str, ...]) -> LedgerEntry | None:
        with self._lock:
            row = (
                self._conn()
                .execute(f"SELECT {_COLUMNS} FROM records WHERE {where}", params)
                .fetchone()
            )
        return None if row is None else _entry(row)

    def entries(
        self,
        kind: str | None = None,
        *,
        source: str | None = None,
        target: str | None = None,
        state: State | None = None,
    ) -> Iterator[LedgerEntry]:
        """Rows, optionally filtered, in a stable order (kind, then source id)."""
        where, args = _filters(kind=kind, source=source, target=target, state=state)
        with self._lock:
            rows = (
                self._conn()
                .execute(f"SELECT {_COLUMNS} FROM records{where} ORDER BY kind, source_id", args)
                .fetchall()
            )
        for row in rows:
            yield _entry(row)

    def pairs(
        self, kind: str = "invoice", *, source: str | None = None, target: str | None = None
    ) -> Iterator[tuple[str, str]]:
        """``(source_id, target_id)`` of every record of ``kind`` in state ``done``,
        optionally only between the backends labelled ``source`` and ``target``."""
        where, args = _filters(kind=kind, source=source, target=target, state="done")
        with self._lock:
            rows = (
                self._conn()
                .execute(
                    f"SELECT source_id, target_id FROM records{where} "
                    "AND target_id IS NOT NULL ORDER BY source_id",
                    args,
                )
                .fetchall()
            )
        for source_id, target_id in rows:
            yield str(source_id), str(target_id)

    def counts(
        self, *, source: str | None = None, target: str | None = None
    ) -> dict[str, dict[str, int]]:
        """``{kind: {state: count}}``."""
        where, args = _filters(source=source, target=target)
        with self._lock:
            rows = (
                self._conn()
                .execute(
                    f"SELECT kind, state, COUNT(*) FROM records{where} GROUP BY kind, state",
                    args,
                )
                .fetchall()
            )
        result: dict[str, dict[str, int]] = {}
        for kind, state, count in rows:
            result.setdefault(kind, {})[state] = count
        return result

    def labels(self) -> list[tuple[str, str]]:
        """The ``(source, target)`` label pairs this ledger holds rows for."""
        with self._lock:
            rows = (
                self._conn()
                .execute("SELECT DISTINCT source, target FROM records ORDER BY source, target")
                .fetchall()
            )
        return [(str(s), str(t)) for s, t in rows]

    def check_direction(self, source: str, target: str) -> None:
        """Refuse a ledger that holds rows only for other directions than ``source`` to
        ``target``: most likely the ledger of another migration, or the same one with a
        backend whose label changed (moved to another URL), where every record would be
        taken for new and created again. A ledger with no rows, or with rows for this
        direction, passes."""
        held = self.labels()
        if held and (source, target) not in held:
            listed = "; ".join(f"{s} -> {t}" for s, t in held[:3])
            more = f" and {len(held) - 3} more" if len(held) > 3 else ""
            raise ConfigurationError(
                f"ledger {str(self.path)!r} belongs to another migration ({listed}{more}), "
                f"not {source} -> {target}: pass this migration's own ledger; if a backend "
                "moved to another URL, pass its old label (source_label/target_label); to "
                "start a new direction in this ledger, pass new_direction=True "
                "(--new-direction)"
            )

    # ----------------------------------------------------------------- writing

    def record_intent(
        self,
        kind: str,
        source_id: str,
        *,
        source: str,
        target: str,
        number: str | None,
        fingerprint: str | None,
    ) -> None:
        """Before a create: say what is about to be created. Keeps a known ``target_id``."""
        now = _now()
        with self._lock:
            self._conn().execute(
                "INSERT INTO records (source, target, kind, source_id, number, fingerprint, "
                "state, target_id, error, attempts, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, 'intent', NULL, NULL, 1, ?, ?) "
                "ON CONFLICT (source, target, kind, source_id) DO UPDATE SET "
                "number = excluded.number, fingerprint = excluded.fingerprint, "
                "state = 'intent', error = NULL, attempts = attempts + 1, "
                "updated_at = excluded.updated_at",
                (source, target, kind, source_id, number, fingerprint, now, now),
            )

    def record_done(
        self,
        kind: str,
        source_id: str,
        *,
        source: str,
        target: str,
        target_id: str,
        number: str | None = None,
        fingerprint: str | None = None,
        outcome: str | None = None,
        changes: Sequence[Mapping[str, Any]] | None = None,
        parts: Mapping[str, str] | None = None,
    ) -> None:
        """After success: the record is ``target_id`` in the target, from content
        ``fingerprint`` (per field: ``parts``, :func:`field_prints`); ``outcome`` and
        ``changes`` as reported (each kept when None)."""
        now = _now()
        text = None if changes is None else json.dumps(list(changes), ensure_ascii=False)
        parts_text = None if parts is None else json.dumps(dict(parts), sort_keys=True)
        with self._lock:
            self._conn().execute(
                "INSERT INTO records (source, target, kind, source_id, number, fingerprint, "
                "state, target_id, error, attempts, created_at, updated_at, outcome, changes, "
                "parts) VALUES (?, ?, ?, ?, ?, ?, 'done', ?, NULL, 1, ?, ?, ?, ?, ?) "
                "ON CONFLICT (source, target, kind, source_id) DO UPDATE SET "
                "number = COALESCE(excluded.number, number), "
                "fingerprint = COALESCE(excluded.fingerprint, fingerprint), "
                "state = 'done', target_id = excluded.target_id, error = NULL, "
                "outcome = COALESCE(excluded.outcome, outcome), "
                "changes = COALESCE(excluded.changes, changes), "
                "parts = COALESCE(excluded.parts, parts), "
                "updated_at = excluded.updated_at",
                (
                    source,
                    target,
                    kind,
                    source_id,
                    number,
                    fingerprint,
                    target_id,
                    now,
                    now,
                    outcome,
                    text,
                    parts_text,
                ),
            )

    def record_target(
        self, kind: str, source_id: str, *, source: str, target: str, target_id: str
    ) -> None:
        """The record exists in the target as ``target_id`` but is not finished yet
        (its payments or read-back check are to come): keep the state, set the id."""
        with self._lock:
            self._conn().execute(
                "UPDATE records SET target_id = ?, updated_at = ? "
                "WHERE source = ? AND target = ? AND kind = ? AND source_id = ?",
                (target_id, _now(), source, target, kind, source_id),
            )

    def record_failed(
        self,
        kind: str,
        source_id: str,
        *,
        source: str,
        target: str,
        error: str,
        number: str | None = None,
        fingerprint: str | None = None,
        target_id: str | None = None,
        uncertain: bool = False,
    ) -> None:
        """The record failed with ``error``. A known ``target_id`` is kept (or set).

        ``uncertain``: the create may have reached the server (a timeout, a dropped
        connection). Then a row in state ``intent`` without a ``target_id`` stays
        ``intent``, so the next run looks the record up in the target before creating it.
        """
        now = _now()
        keep_intent = 1 if uncertain else 0
        with self._lock:
            self._conn().execute(
                "INSERT INTO records (source, target, kind, source_id, number, fingerprint, "
                "state, target_id, error, attempts, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, 'failed', ?, ?, 1, ?, ?) "
                "ON CONFLICT (source, target, kind, source_id) DO UPDATE SET "
                "number = COALESCE(excluded.number, number), "
                "target_id = COALESCE(excluded.target_id, target_id), "
                "state = CASE WHEN ? = 1 AND state = 'intent' "
                "AND COALESCE(excluded.target_id, target_id) IS NULL "
                "THEN 'intent' ELSE 'failed' END, "
                "error = excluded.error, updated_at = excluded.updated_at",
                (
                    source,
                    target,
                    kind,
                    source_id,
                    number,
                    fingerprint,
                    target_id,
                    error,
                    now,
                    now,
                    keep_intent,
                ),
            )

    def forget(self, kind: str, source_id: str, *, source: str, target: str) -> None:
        """Drop one row (the target record was deleted by hand, say)."""
        with self._lock:
            self._conn().execute(
                "DELETE FROM records "
                "WHERE source = ? AND target = ? AND kind = ? AND source_id = ?",
                (source, target, kind, source_id),
            )

    # ----------------------------------------------------------------- the run lock

    @contextlib.contextmanager
    def run_lock(self) -> Iterator[None]:
        """Hold the ledger for one run: a second run on the same file (another process or
        this one) gets a ConfigurationError instead of interleaving with the first. An
        advisory lock on ``<ledger>.lock`` (readable by the owner alone), released when
        the run ends or its process dies; a no-op for ``:memory:`` and where ``fcntl`` is
        missing."""
        if str(self.path) == ":memory:" or fcntl is None:
            yield
            return
        lock_path = Path(f"{self.path}.lock")
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise ConfigurationError(f"ledger {str(self.path)!r}: {exc}") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.read(fd, 32).decode("ascii", "replace").strip() or "another"
                raise ConfigurationError(
                    f"ledger {str(self.path)!r} is in use by another run (process {holder}): "
                    "wait for it to finish, or use another ledger"
                ) from None
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode("ascii"))
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    # ----------------------------------------------------------------- runs

    def start_run(self, *, source: str, target: str, dry_run: bool = False) -> int:
        """Note the start of a run; returns its id for :meth:`finish_run`."""
        with self._lock:
            cursor = self._conn().execute(
                "INSERT INTO runs (source, target, started_at, dry_run) VALUES (?, ?, ?, ?)",
                (source, target, _now(), int(dry_run)),
            )
            return int(cursor.lastrowid or 0)

    def finish_run(self, run_id: int, summary: Mapping[str, Any]) -> None:
        with self._lock:
            self._conn().execute(
                "UPDATE runs SET finished_at = ?, summary = ? WHERE id = ?",
                (_now(), json.dumps(summary, ensure_ascii=False), run_id),
            )

    def runs(self) -> list[dict[str, Any]]:
        """Every run, oldest first: id, labels, start and finish times, dry_run, summary."""
        with self._lock:
            rows = (
                self._conn()
                .execute(
                    "SELECT id, source, target, started_at, finished_at, dry_run, summary "
                    "FROM runs ORDER BY id"
                )
                .fetchall()
            )
        return [
            {
                "id": r[0],
                "source": r[1],
                "target": r[2],
                "started_at": r[3],
                "finished_at": r[4],
                "dry_run": bool(r[5]),
                "summary": None if r[6] is None else json.loads(r[6]),
            }
            for r in rows
        ]

    # ----------------------------------------------------------------- scoping

    def scope(self, source: str, target: str) -> LedgerScope:
        """This ledger seen from one migration direction: calls without the labels."""
        return LedgerScope(self, source, target)


def _filters(**values: str | None) -> tuple[str, tuple[str, ...]]:
    clauses = [f"{name} = ?" for name, value in values.items() if value is not None]
    args = tuple(value for value in values.values() if value is not None)
    return (" WHERE " + " AND ".join(clauses) if clauses else " WHERE 1 = 1"), args


class LedgerScope:
    """A :class:`Ledger` bound to one ``(source, target)`` pair of labels."""

    def __init__(self, ledger: Ledger, source: str, target: str):
        self.ledger = ledger
        self.source = source
        self.target = target

    def get(self, kind: str, source_id: str) -> LedgerEntry | None:
        return self.ledger.get(kind, source_id, source=self.source, target=self.target)

    def find_target(self, kind: str, target_id: str) -> LedgerEntry | None:
        return self.ledger.find_target(kind, target_id, source=self.source, target=self.target)

    def intent(
        self, kind: str, source_id: str, *, number: str | None, fingerprint: str | None
    ) -> None:
        self.ledger.record_intent(
            kind,
            source_id,
            source=self.source,
            target=self.target,
            number=number,
            fingerprint=fingerprint,
        )

    def done(
        self,
        kind: str,
        source_id: str,
        target_id: str,
        *,
        number: str | None = None,
        fingerprint: str | None = None,
        outcome: str | None = None,
        changes: Sequence[Mapping[str, Any]] | None = None,
        parts: Mapping[str, str] | None = None,
    ) -> None:
        self.ledger.record_done(
            kind,
            source_id,
            source=self.source,
            target=self.target,
            target_id=target_id,
            number=number,
            fingerprint=fingerprint,
            outcome=outcome,
            changes=changes,
            parts=parts,
        )

    def target_known(self, kind: str, source_id: str, target_id: str) -> None:
        self.ledger.record_target(
            kind, source_id, source=self.source, target=self.target, target_id=target_id
        )

    def failed(
        self,
        kind: str,
        source_id: str,
        error: str,
        *,
        number: str | None = None,
        fingerprint: str | None = None,
        target_id: str | None = None,
        uncertain: bool = False,
    ) -> None:
        self.ledger.record_failed(
            kind,
            source_id,
            source=self.source,
            target=self.target,
            error=error,
            number=number,
            fingerprint=fingerprint,
            target_id=target_id,
            uncertain=uncertain,
        )

    def forget(self, kind: str, source_id: str) -> None:
        self.ledger.forget(kind, source_id, source=self.source, target=self.target)

    def pairs(self, kind: str = "invoice") -> Iterator[tuple[str, str]]:
        return self.ledger.pairs(kind, source=self.source, target=self.target)
