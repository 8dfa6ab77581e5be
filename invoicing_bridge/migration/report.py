"""What a migration reports: one :class:`RecordResult` per source record, counted per kind
in :class:`KindCounts`, gathered in the :class:`MigrationReport`."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CHANGED",
    "CREATED",
    "FAILED",
    "KINDS",
    "MATCHED",
    "OUTCOMES",
    "SKIPPED",
    "UPDATED",
    "WOULD_CREATE",
    "WOULD_UPDATE",
    "KindCounts",
    "MigrationReport",
    "RecordResult",
]

#: Record kinds, in the order they are migrated.
KINDS = ("client", "invoice", "payment")

CREATED = "created"
UPDATED = "updated"
MATCHED = "matched"
SKIPPED = "skipped"
CHANGED = "changed"
FAILED = "failed"
WOULD_CREATE = "would_create"
WOULD_UPDATE = "would_update"
#: Every outcome a record can have (the :class:`KindCounts` fields).
OUTCOMES = (CREATED, UPDATED, MATCHED, SKIPPED, CHANGED, FAILED, WOULD_CREATE, WOULD_UPDATE)


@dataclass(frozen=True, slots=True)
class RecordResult:
    """What happened to one source record."""

    kind: str
    source_id: str
    outcome: str
    number: str | None = None
    target_id: str | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "source_id": self.source_id,
            "number": self.number,
            "outcome": self.outcome,
            "target_id": self.target_id,
            "reason": self.reason,
        }


@dataclass
class KindCounts:
    """How many records of one kind ended in each outcome.

    ``matched``: an existing target record was adopted (a client found by email, tax
    number or name; an invoice found by number after an interrupted create).
    ``skipped``: migrated before and unchanged. ``changed``: migrated before, changed in
    the source since, and not updated (pass ``update=True``). ``would_*``: dry runs.
    """

    created: int = 0
    updated: int = 0
    matched: int = 0
    skipped: int = 0
    changed: int = 0
    failed: int = 0
    would_create: int = 0
    would_update: int = 0

    @property
    def total(self) -> int:
        return sum(self.to_dict().values())

    def to_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in OUTCOMES}


@dataclass
class MigrationReport:
    """The result of a migration: counts per kind, every failure, every change left.

    ``ok`` is True when nothing failed. ``to_dict()`` is JSON-safe.
    """

    source: str
    target: str
    dry_run: bool = False
    update: bool = False
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    finished_at: dt.datetime | None = None
    counts: dict[str, KindCounts] = field(
        default_factory=lambda: {kind: KindCounts() for kind in KINDS}
    )
    records: list[RecordResult] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, result: RecordResult) -> None:
        with self._lock:
            counts = self.counts.setdefault(result.kind, KindCounts())
            setattr(counts, result.outcome, getattr(counts, result.outcome) + 1)
            self.records.append(result)

    @property
    def failures(self) -> list[RecordResult]:
        """Every failed record, with its reason."""
        with self._lock:
            return [r for r in self.records if r.outcome == FAILED]

    @property
    def changes(self) -> list[RecordResult]:
        """Records changed in the source since they were migrated, left as they are."""
        with self._lock:
            return [r for r in self.records if r.outcome == CHANGED]

    @property
    def ok(self) -> bool:
        return not any(c.failed for c in self.counts.values())

    @property
    def duration(self) -> float:
        end = self.finished_at or dt.datetime.now(dt.UTC)
        return (end - self.started_at).total_seconds()

    def to_dict(self, *, records: bool = True) -> dict[str, Any]:
        """The JSON form; ``records=False`` leaves out the per-record list."""
        with self._lock:
            data: dict[str, Any] = {
                "source": self.source,
                "target": self.target,
                "dry_run": self.dry_run,
                "update": self.update,
                "ok": self.ok,
                "started_at": self.started_at.isoformat(),
                "finished_at": None if self.finished_at is None else self.finished_at.isoformat(),
                "duration_seconds": round(self.duration, 3),
                "counts": {kind: c.to_dict() for kind, c in self.counts.items()},
                "failures": [r.to_dict() for r in self.records if r.outcome == FAILED],
                "changed": [r.to_dict() for r in self.records if r.outcome == CHANGED],
            }
            if records:
                data["records"] = [
                    r.to_dict() for r in sorted(self.records, key=lambda r: (r.kind, r.source_id))
                ]
        return data
