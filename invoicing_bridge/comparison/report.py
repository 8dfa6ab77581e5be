"""What a comparison reports: the :class:`ComparisonReport` (pairs that differ, with each
:class:`FieldDifference`; invoices on one side only; duplicated keys; what was not
compared), as JSON or CSV. The terminal rendering is the CLI's
(:mod:`invoicing_bridge.cli.compare`)."""

from __future__ import annotations

import csv
import datetime as dt
import enum
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .clients import ClientDifference

__all__ = [
    "CSV_COLUMNS",
    "ComparisonReport",
    "DuplicateKey",
    "FieldDifference",
    "InvoiceRef",
    "RecordDifference",
    "jsonable",
    "text",
]

#: Columns of :meth:`ComparisonReport.to_csv`.
CSV_COLUMNS = (
    "kind",
    "key",
    "left_id",
    "right_id",
    "left_number",
    "right_number",
    "path",
    "left",
    "right",
    "derived",
    "explained",
)


def jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value


#: What a spreadsheet reads as the start of a formula (OWASP's CSV injection list).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[-+]?\d+(\.\d+)?")


def csv_cell(value: str) -> str:
    """A cell a spreadsheet shows as text: one starting like a formula (``=``, ``+``,
    ``-``, ``@``, tab, carriage return) gets a leading ``'``, unless it is a plain number
    (``-12.50`` stays a number)."""
    if value.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(value):
        return f"'{value}"
    return value


def text(value: Any) -> str:
    """A value as one cell of text (CSV, the terminal): None is empty."""
    value = jsonable(value)
    return "" if value is None else str(value)


@dataclass(frozen=True, slots=True)
class InvoiceRef:
    """An invoice named in a report: its id and number in its backend and its match key
    (the normalised number, or with ledger matching the source id; ``None`` for a right
    record the ledger does not know)."""

    id: str | None
    number: str
    key: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "number": self.number, "key": self.key}


@dataclass(frozen=True, slots=True)
class FieldDifference:
    """One field that differs: its path in the neutral form and both values
    (``None`` on the side where an item or payment is missing).

    ``derived``: the totals this difference changes in turn (a line's quantity changes the
    subtotal, the tax, the total and the balance; a payment changes the amount paid, the
    balance and a status derived from them), grouped under it so that one cause is one
    row. ``explained``: why the difference is expected (a transformation the migration
    reported); an explained difference does not make the two sides differ."""

    path: str
    left: Any
    right: Any
    derived: tuple[FieldDifference, ...] = ()
    explained: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "path": self.path,
            "left": jsonable(self.left),
            "right": jsonable(self.right),
        }
        if self.derived:
            data["derived"] = [d.to_dict() for d in self.derived]
        if self.explained is not None:
            data["explained"] = self.explained
        return data

    def derived_text(self) -> str:
        """The derived differences as one line: ``subtotal 20.00 → 24.00; total …``."""
        return "; ".join(f"{d.path} {text(d.left)} → {text(d.right)}" for d in self.derived)


@dataclass(slots=True)
class RecordDifference:
    """A matched pair of invoices that differ, with every difference."""

    key: str
    left_id: str | None
    right_id: str | None
    number: str
    differences: list[FieldDifference]
    #: The number as the right backend shows it (``number`` is the left one's).
    right_number: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "left_id": self.left_id,
            "right_id": self.right_id,
            "number": self.number,
            "right_number": self.right_number,
            "differences": [d.to_dict() for d in self.differences],
        }


@dataclass(slots=True)
class DuplicateKey:
    """A key more than one invoice of a side has. Each of them is compared with the
    candidate on the other side it differs least from (``paired`` pairs, counted as equal
    or different); ``left`` and ``right`` list those left without a counterpart.

    In ``ambiguous``: invoices no number paired that agree on client, issue date and total
    (``key``) with more than one on the other side. None of them is compared."""

    key: str
    left: list[InvoiceRef]
    right: list[InvoiceRef]
    paired: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "left": [r.to_dict() for r in self.left],
            "right": [r.to_dict() for r in self.right],
            "paired": self.paired,
        }


@dataclass
class ComparisonReport:
    """What :func:`compare` found. Every invoice read is in exactly one place: ``only_left``,
    ``only_right``, a matched pair (``equal`` counts them, ``different`` lists them),
    ``duplicates`` (another invoice under a key already paired) or ``ambiguous``."""

    left: str
    right: str
    match: str
    tolerance: Decimal
    since: dt.date | None = None
    left_count: int = 0
    right_count: int = 0
    only_left: list[InvoiceRef] = field(default_factory=list)
    only_right: list[InvoiceRef] = field(default_factory=list)
    equal: int = 0
    different: list[RecordDifference] = field(default_factory=list)
    duplicates: list[DuplicateKey] = field(default_factory=list)
    ambiguous: list[DuplicateKey] = field(default_factory=list)
    #: Pairs whose every difference a change the migration reported explains (see
    #: ``FieldDifference.explained``): not differences.
    explained: list[RecordDifference] = field(default_factory=list)
    #: Pairs of client records that differ (compared once per pair, both ways).
    clients: list[ClientDifference] = field(default_factory=list)
    clients_compared: int = 0
    #: Pairs made by client, issue date and total (matching by number, where no number
    #: paired them: a draft's placeholder, a renumbered invoice).
    matched_by_content: int = 0
    #: The migration ledger the pairs came from (its path), with ledger matching.
    ledger: str | None = None
    not_compared: list[str] = field(default_factory=list)
    started_at: float = 0.0
    finished_at: float = 0.0

    @property
    def ok(self) -> bool:
        """True when every invoice has its equal counterpart on the other side, and every
        pair of client records compared is equal."""
        return not (
            self.only_left
            or self.only_right
            or self.different
            or self.duplicates
            or self.ambiguous
            or self.clients
        )

    @property
    def matched(self) -> int:
        return self.equal + len(self.different) + len(self.explained)

    @property
    def difference_count(self) -> int:
        return sum(1 for r in self.different for d in r.differences if d.explained is None)

    @property
    def duration(self) -> float:
        return max(0.0, self.finished_at - self.started_at)

    def summary(self) -> dict[str, int]:
        return {
            "left": self.left_count,
            "right": self.right_count,
            "matched": self.matched,
            "equal": self.equal,
            "explained": len(self.explained),
            "different": len(self.different),
            "differences": self.difference_count,
            "only_left": len(self.only_left),
            "only_right": len(self.only_right),
            "duplicates": len(self.duplicates),
            "ambiguous": len(self.ambiguous),
            "matched_by_content": self.matched_by_content,
            "clients_compared": self.clients_compared,
            "clients_different": len(self.clients),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: Decimals and dates as strings."""
        return {
            "ok": self.ok,
            "left": self.left,
            "right": self.right,
            "match": self.match,
            "ledger": self.ledger,
            "tolerance": str(self.tolerance),
            "since": None if self.since is None else self.since.isoformat(),
            "summary": self.summary(),
            "only_left": [r.to_dict() for r in self.only_left],
            "only_right": [r.to_dict() for r in self.only_right],
            "equal": self.equal,
            "different": [r.to_dict() for r in self.different],
            "explained": [r.to_dict() for r in self.explained],
            "duplicates": [d.to_dict() for d in self.duplicates],
            "ambiguous": [d.to_dict() for d in self.ambiguous],
            "clients": [c.to_dict() for c in self.clients],
            "not_compared": list(self.not_compared),
            "duration_seconds": round(self.duration, 3),
        }

    def csv_rows(self) -> Iterator[tuple[str, ...]]:
        """The rows of :meth:`to_csv` (without the header)."""
        for kind, records in (("different", self.different), ("explained", self.explained)):
            for record in records:
                yield from self._record_rows(kind, record)
        for client in self.clients:
            for diff in client.differences:
                yield (
                    "client",
                    "",
                    client.left_id or "",
                    client.right_id or "",
                    client.name,
                    "",
                    diff.path,
                    text(diff.left),
                    text(diff.right),
                    "",
                    "",
                )
        blank = ("",) * 5
        for ref in self.only_left:
            yield ("only_left", ref.key or "", ref.id or "", "", ref.number, "", *blank)
        for ref in self.only_right:
            yield ("only_right", ref.key or "", "", ref.id or "", "", ref.number, *blank)
        for kind, groups in (("duplicate", self.duplicates), ("ambiguous", self.ambiguous)):
            for dup in groups:
                for ref in dup.left:
                    yield (kind, dup.key, ref.id or "", "", ref.number, "", *blank)
                for ref in dup.right:
                    yield (kind, dup.key, "", ref.id or "", "", ref.number, *blank)

    @staticmethod
    def _record_rows(kind: str, record: RecordDifference) -> Iterator[tuple[str, ...]]:
        for diff in record.differences:
            yield (
                "explained" if diff.explained is not None else kind,
                record.key,
                record.left_id or "",
                record.right_id or "",
                record.number,
                record.right_number or "",
                diff.path,
                text(diff.left),
                text(diff.right),
                diff.derived_text(),
                diff.explained or "",
            )

    def to_csv(self, file: IO[str]) -> int:
        """Write a header and one row per difference (the totals it changes in its
        ``derived`` column), per invoice only on one side and per duplicated invoice to the
        text file ``file``; return the number of rows."""
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        count = 0
        for row in self.csv_rows():
            # Names, numbers and notes come from the backends: never a live formula.
            writer.writerow([csv_cell(cell) for cell in row])
            count += 1
        return count

    def to_html(self) -> str:
        """One self-contained HTML document: the summary at the top, a filterable table
        with both values side by side, everything escaped (see
        :mod:`invoicing_bridge.comparison.html`)."""
        from .html import to_html

        return to_html(self)
