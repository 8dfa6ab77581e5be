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
    "NEEDS_ATTENTION",
    "OUTCOMES",
    "SKIPPED",
    "TRANSFORMED",
    "UPDATED",
    "WOULD_CREATE",
    "WOULD_TRANSFORM",
    "WOULD_UPDATE",
    "Change",
    "KindCounts",
    "MigrationReport",
    "RecordResult",
]

#: Record kinds, in the order they are migrated.
KINDS = ("client", "invoice", "payment")

CREATED = "created"
TRANSFORMED = "transformed"
UPDATED = "updated"
MATCHED = "matched"
SKIPPED = "skipped"
CHANGED = "changed"
FAILED = "failed"
NEEDS_ATTENTION = "needs_attention"
WOULD_CREATE = "would_create"
WOULD_TRANSFORM = "would_transform"
WOULD_UPDATE = "would_update"
#: Every outcome a record can have (the :class:`KindCounts` fields).
OUTCOMES = (
    CREATED,
    TRANSFORMED,
    UPDATED,
    MATCHED,
    SKIPPED,
    CHANGED,
    FAILED,
    NEEDS_ATTENTION,
    WOULD_CREATE,
    WOULD_TRANSFORM,
    WOULD_UPDATE,
)


@dataclass(frozen=True, slots=True)
class Change:
    """One field the target got otherwise than the source has it, and why (``rule``).

    Rules: ``line_discount`` (a line discount folded into the unit price or a discount
    line), ``tax_rounding`` (the target computes tax otherwise: a labelled adjustment keeps
    the total), ``amount_rounding`` (more decimals than the target stores; payments by
    largest remainder so they still add up), ``lost`` (the target cannot hold the value:
    ``new`` says what it holds instead), ``target`` (the target stored another value than
    was sent). ``old``/``new`` are text (amounts as Decimal strings), None for nothing.
    """

    field: str
    old: str | None
    new: str | None
    rule: str
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "old": self.old,
            "new": self.new,
            "rule": self.rule,
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Change:
        return cls(
            field=str(data["field"]),
            old=data.get("old"),
            new=data.get("new"),
            rule=str(data["rule"]),
            note=data.get("note"),
        )

    def __str__(self) -> str:
        text = f"{self.field}: {self.old} -> {self.new} ({self.rule})"
        return f"{text}: {self.note}" if self.note else text


@dataclass(frozen=True, slots=True)
class RecordResult:
    """What happened to one source record."""

    kind: str
    source_id: str
    outcome: str
    number: str | None = None
    target_id: str | None = None
    reason: str | None = None
    #: What the target got otherwise than the source has it (``transformed`` records,
    #: and ``lost`` values of any record).
    changes: tuple[Change, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "source_id": self.source_id,
            "number": self.number,
            "outcome": self.outcome,
            "target_id": self.target_id,
            "reason": self.reason,
            "changes": [c.to_dict() for c in self.changes],
        }


@dataclass
class KindCounts:
    """How many records of one kind ended in each outcome.

    ``created``: created as the source has it. ``transformed``: created with the changes
    its ``changes`` list (old and new value of each field). ``matched``: an existing
    target record was adopted (a client found by email, tax number or name; an invoice
    found by number after an interrupted create). ``skipped``: migrated before and
    unchanged, or not migrated on purpose (a void invoice a target cannot store; the
    reason says). ``changed``: migrated before, changed in the source since, and not
    updated (pass ``update=True``). ``failed``: not in the target (nothing written for a
    record planning refused). ``needs_attention``: written, but the target disagrees
    with the plan after the repair; the reason gives the exact difference and a re-run
    tries again. ``would_*``: dry runs.
    """

    created: int = 0
    transformed: int = 0
    updated: int = 0
    matched: int = 0
    skipped: int = 0
    changed: int = 0
    failed: int = 0
    needs_attention: int = 0
    would_create: int = 0
    would_transform: int = 0
    would_update: int = 0

    @property
    def total(self) -> int:
        return sum(self.to_dict().values())

    def to_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in OUTCOMES}


@dataclass
class MigrationReport:
    """The result of a migration: counts per kind, every failure, every change left.

    ``ok`` is True when nothing failed and nothing needs attention. ``to_dict()`` is
    JSON-safe.
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
    #: Source records of kinds the migration does not move, counted by kind (the
    #: source's ``unmigrated_counts``); None when the source cannot tell.
    not_migrated: dict[str, int] | None = None
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
    def attention(self) -> list[RecordResult]:
        """Records written but not right in the target: each reason says the difference."""
        with self._lock:
            return [r for r in self.records if r.outcome == NEEDS_ATTENTION]

    @property
    def transformations(self) -> list[RecordResult]:
        """Records with changes (transformed, or values the target could not hold)."""
        with self._lock:
            return [r for r in self.records if r.changes]

    @property
    def changes(self) -> list[RecordResult]:
        """Records changed in the source since they were migrated, left as they are."""
        with self._lock:
            return [r for r in self.records if r.outcome == CHANGED]

    @property
    def ok(self) -> bool:
        return not any(c.failed or c.needs_attention for c in self.counts.values())

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
                "needs_attention": [
                    r.to_dict() for r in self.records if r.outcome == NEEDS_ATTENTION
                ],
                "changed": [r.to_dict() for r in self.records if r.outcome == CHANGED],
                "transformed": [
                    r.to_dict()
                    for r in sorted(self.records, key=lambda r: (r.kind, r.source_id))
                    if r.changes
                ],
                "not_migrated": None if self.not_migrated is None else dict(self.not_migrated),
            }
            if records:
                data["records"] = [
                    r.to_dict() for r in sorted(self.records, key=lambda r: (r.kind, r.source_id))
                ]
        return data
