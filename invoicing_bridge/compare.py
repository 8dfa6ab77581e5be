"""The compare job: reconcile the invoices of two backends and report every difference.

::

    from invoicing_bridge import compare

    report = compare(daftra, perfex)                      # match by invoice number
    report = compare(daftra, perfex, match="ledger", ledger="invoicing-bridge-ledger.sqlite")
    print(report.ok, report.equal, len(report.different))

How it works, in linear time (a hash join, never all pairs):

1. The left side is read once, each invoice reduced to what is compared and kept in a
   dict under its key: the number normalised by the left backend
   (:meth:`~invoicing_bridge.backends.base.InvoicingBackend.normalize_number`: ``"INV-000002"``,
   ``"000002"`` and ``"2"`` all give ``"2"``), or with ``match="ledger"`` its id, which the
   migration ledger pairs with an id on the right.
2. The right side is streamed and each invoice looked up by its key (the right backend's
   normalised number, or the source id the ledger gives for its id) and compared field by
   field.

What is compared: status, issue and due dates, currency, the client's name, email and tax
number, subtotal, discount, tax, adjustment, total, amount paid and balance (Decimal, equal
within ``tolerance`` currency units), line items (matched by position, then by name:
quantity, unit price, taxes) and completed payments (as multisets of amount, date and
method). Facts that cannot agree by nature (remote ids, timestamps, ``source``, ``raw``,
``extra``, per-line taxes a backend does not report, payment dates a backend sets itself,
the number of a draft) are not compared, and the report's ``not_compared`` says so.

Paths name fields as in the neutral JSON form: ``total``, ``client.email``,
``items[1].quantity`` (the left invoice's line 1), ``items[right:2]`` (line 2 of the right
invoice, which has no counterpart on the left), ``payments[0].date``.
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import IO, TYPE_CHECKING, Any, Protocol

from .backends.base import Feature, InvoicingBackend
from .exceptions import ConfigurationError, NotFound
from .models import Client, Invoice, LineItem, Payment, PaymentStatus, identity_key

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from .ledger import Ledger

__all__ = [
    "CSV_COLUMNS",
    "DEFAULT_TOLERANCE",
    "MATCH_MODES",
    "ComparisonReport",
    "DuplicateKey",
    "FieldDifference",
    "InvoiceRef",
    "RecordDifference",
    "compare",
    "render",
]

#: How invoices are paired: by normalised number, or through the migration ledger.
MATCH_MODES = ("number", "ledger")
#: Money amounts closer than this (in currency units) are equal.
DEFAULT_TOLERANCE = Decimal("0.01")
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
)

ZERO = Decimal("0")


class PairSource(Protocol):
    """What ``match="ledger"`` needs: :meth:`invoicing_bridge.ledger.Ledger.pairs`."""

    def pairs(
        self, kind: str = "invoice", *, source: str | None = None, target: str | None = None
    ) -> Iterator[tuple[str, str]]: ...


#: ``progress(side, count)``: called after each invoice read; ``side`` is ``"left"`` or
#: ``"right"``, ``count`` the invoices read from that side so far.
Progress = Callable[[str, int], None]


# --------------------------------------------------------------------------- report types


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _text(value: Any) -> str:
    """A value as one cell of text (CSV, the terminal): None is empty."""
    value = _jsonable(value)
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
    (``None`` on the side where an item or payment is missing)."""

    path: str
    left: Any
    right: Any

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "left": _jsonable(self.left), "right": _jsonable(self.right)}


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
    """A key that more than one invoice of one side has. None of these invoices is
    compared (which one pairs with which is unknown); all are listed."""

    key: str
    left: list[InvoiceRef]
    right: list[InvoiceRef]

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "left": [r.to_dict() for r in self.left],
            "right": [r.to_dict() for r in self.right],
        }


@dataclass
class ComparisonReport:
    """What :func:`compare` found. Every invoice read is in exactly one place: ``only_left``,
    ``only_right``, a matched pair (``equal`` counts them, ``different`` lists them) or
    ``duplicates``."""

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
    not_compared: list[str] = field(default_factory=list)
    started_at: float = 0.0
    finished_at: float = 0.0

    @property
    def ok(self) -> bool:
        """True when every invoice has its equal counterpart on the other side."""
        return not (self.only_left or self.only_right or self.different or self.duplicates)

    @property
    def matched(self) -> int:
        return self.equal + len(self.different)

    @property
    def difference_count(self) -> int:
        return sum(len(r.differences) for r in self.different)

    @property
    def duration(self) -> float:
        return max(0.0, self.finished_at - self.started_at)

    def summary(self) -> dict[str, int]:
        return {
            "left": self.left_count,
            "right": self.right_count,
            "matched": self.matched,
            "equal": self.equal,
            "different": len(self.different),
            "differences": self.difference_count,
            "only_left": len(self.only_left),
            "only_right": len(self.only_right),
            "duplicates": len(self.duplicates),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: Decimals and dates as strings."""
        return {
            "ok": self.ok,
            "left": self.left,
            "right": self.right,
            "match": self.match,
            "tolerance": str(self.tolerance),
            "since": None if self.since is None else self.since.isoformat(),
            "summary": self.summary(),
            "only_left": [r.to_dict() for r in self.only_left],
            "only_right": [r.to_dict() for r in self.only_right],
            "equal": self.equal,
            "different": [r.to_dict() for r in self.different],
            "duplicates": [d.to_dict() for d in self.duplicates],
            "not_compared": list(self.not_compared),
            "duration_seconds": round(self.duration, 3),
        }

    def csv_rows(self) -> Iterator[tuple[str, ...]]:
        """The rows of :meth:`to_csv` (without the header)."""
        for record in self.different:
            for diff in record.differences:
                yield (
                    "different",
                    record.key,
                    record.left_id or "",
                    record.right_id or "",
                    record.number,
                    record.right_number or "",
                    diff.path,
                    _text(diff.left),
                    _text(diff.right),
                )
        for ref in self.only_left:
            yield ("only_left", ref.key or "", ref.id or "", "", ref.number, "", "", "", "")
        for ref in self.only_right:
            yield ("only_right", ref.key or "", "", ref.id or "", "", ref.number, "", "", "")
        for dup in self.duplicates:
            for ref in dup.left:
                yield ("duplicate", dup.key, ref.id or "", "", ref.number, "", "", "", "")
            for ref in dup.right:
                yield ("duplicate", dup.key, "", ref.id or "", "", ref.number, "", "", "")

    def to_csv(self, file: IO[str]) -> int:
        """Write a header and one row per difference, per invoice only on one side and per
        duplicated invoice to the text file ``file``; return the number of rows."""
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        count = 0
        for row in self.csv_rows():
            writer.writerow(row)
            count += 1
        return count

    def __rich__(self) -> RenderableType:
        return _renderable(self)


def render(report: ComparisonReport, console: Console) -> None:
    """Print ``report`` on a rich ``console``: a summary, then tables of differences,
    invoices on one side only, duplicates and what was not compared."""
    console.print(_renderable(report))


# --------------------------------------------------------------------------- snapshots

_MONEY_FIELDS = (
    "subtotal",
    "discount_total",
    "tax_total",
    "adjustment",
    "total",
    "amount_paid",
    "balance_due",
)


def _fold(text: str | None) -> str:
    """Case and whitespace do not count (``"  ACME  ltd"`` equals ``"Acme Ltd"``)."""
    return " ".join((text or "").split()).casefold()


def _rate(rate: Decimal) -> str:
    return f"{rate.normalize():f}"


@dataclass(frozen=True, slots=True)
class _Item:
    name: str
    name_key: str
    quantity: Decimal
    unit_price: Decimal
    taxes: tuple[tuple[str, Decimal], ...]  # sorted (folded name, rate)
    taxes_text: str

    @classmethod
    def of(cls, item: LineItem) -> _Item:
        taxes = tuple(sorted((_fold(t.name), t.rate) for t in item.taxes))
        text = ", ".join(f"{t.name} {_rate(t.rate)}%" for t in item.taxes)
        return cls(item.name, _fold(item.name), item.quantity, item.unit_price, taxes, text)

    def __str__(self) -> str:
        return f"{self.name}: {self.quantity} x {self.unit_price}"


@dataclass(frozen=True, slots=True)
class _Pay:
    amount: Decimal
    date: dt.date
    method: str

    @classmethod
    def of(cls, payment: Payment) -> _Pay:
        return cls(payment.amount, payment.date, payment.method)

    def __str__(self) -> str:
        return f"{self.amount} on {self.date.isoformat()} by {self.method}"


@dataclass(slots=True)
class _Snapshot:
    """What is compared of one invoice (the rest, raw payload included, is let go)."""

    ref: InvoiceRef
    norm_number: str
    status: str
    issue_date: dt.date
    due_date: dt.date | None
    currency: str
    client_id: str | None
    client_name: str
    client_email: str | None
    client_tax_number: str | None
    money: tuple[Decimal, ...]  # _MONEY_FIELDS order
    items: tuple[_Item, ...]
    payments: tuple[_Pay, ...]
    skipped_payments: int

    @classmethod
    def of(cls, invoice: Invoice, key: str | None, norm_number: str) -> _Snapshot:
        completed = [p for p in invoice.payments if p.status is PaymentStatus.COMPLETED]
        return cls(
            ref=InvoiceRef(invoice.id, invoice.number, key),
            norm_number=norm_number,
            status=invoice.status.value,
            issue_date=invoice.issue_date,
            due_date=invoice.due_date,
            currency=invoice.currency,
            client_id=invoice.client.id,
            client_name=invoice.client.name,
            client_email=invoice.client.email,
            client_tax_number=invoice.client.tax_number,
            money=tuple(getattr(invoice, name) for name in _MONEY_FIELDS),
            items=tuple(_Item.of(i) for i in invoice.items),
            payments=tuple(_Pay.of(p) for p in completed),
            skipped_payments=len(invoice.payments) - len(completed),
        )


# --------------------------------------------------------------------------- comparing


@dataclass(frozen=True, slots=True)
class _Rules:
    tolerance: Decimal
    item_taxes: bool  # both sides report per-line taxes
    payment_dates: bool  # both sides keep the dates payments are recorded with
    numbers: bool  # compare normalised numbers (ledger matching)

    def money_differs(self, a: Decimal, b: Decimal) -> bool:
        return abs(a - b) > self.tolerance


def _diff(left: _Snapshot, right: _Snapshot, rules: _Rules) -> list[FieldDifference]:
    out: list[FieldDifference] = []

    def exact(path: str, a: Any, b: Any) -> None:
        if a != b:
            out.append(FieldDifference(path, a, b))

    # A draft may have no number yet (Perfex shows "INV-DRAFT" until it is issued).
    drafts = "draft" in (left.status, right.status)
    if rules.numbers and not drafts and left.norm_number != right.norm_number:
        out.append(FieldDifference("number", left.ref.number, right.ref.number))
    exact("status", left.status, right.status)
    exact("issue_date", left.issue_date, right.issue_date)
    exact("due_date", left.due_date, right.due_date)
    exact("currency", left.currency, right.currency)
    # The client's identity fields, compared as a client is identified everywhere.
    for name in ("name", "email", "tax_number"):
        a, b = getattr(left, f"client_{name}"), getattr(right, f"client_{name}")
        if identity_key(name, a) != identity_key(name, b):
            out.append(FieldDifference(f"client.{name}", a, b))
    for name, a, b in zip(_MONEY_FIELDS, left.money, right.money, strict=True):
        if rules.money_differs(a, b):
            out.append(FieldDifference(name, a, b))
    out.extend(_diff_items(left.items, right.items, rules))
    out.extend(_diff_payments(left.payments, right.payments, rules))
    return out


def _pair_items(
    left: Sequence[_Item], right: Sequence[_Item]
) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Pair lines: by position where the names agree, then by name, then the rest in
    order. Returns (pairs of left and right index, unpaired left, unpaired right)."""
    pairs: list[tuple[int, int]] = []
    free_left: list[int] = []
    used_right: set[int] = set()
    for i, item in enumerate(left):
        if i < len(right) and right[i].name_key == item.name_key:
            pairs.append((i, i))
            used_right.add(i)
        else:
            free_left.append(i)
    by_name: dict[str, list[int]] = defaultdict(list)
    for j, item in enumerate(right):
        if j not in used_right:
            by_name[item.name_key].append(j)
    still_left: list[int] = []
    for i in free_left:
        candidates = by_name.get(left[i].name_key)
        if candidates:
            j = candidates.pop(0)
            pairs.append((i, j))
            used_right.add(j)
        else:
            still_left.append(i)
    still_right = [j for j in range(len(right)) if j not in used_right]
    # What is left on both sides was renamed (or replaced): pair it in order.
    renamed = min(len(still_left), len(still_right))
    pairs.extend(zip(still_left[:renamed], still_right[:renamed], strict=True))
    pairs.sort()
    return pairs, still_left[renamed:], still_right[renamed:]


def _diff_items(
    left: Sequence[_Item], right: Sequence[_Item], rules: _Rules
) -> list[FieldDifference]:
    out: list[FieldDifference] = []
    pairs, only_left, only_right = _pair_items(left, right)
    for i, j in pairs:
        a, b = left[i], right[j]
        path = f"items[{i}]"
        if a.name_key != b.name_key:
            out.append(FieldDifference(f"{path}.name", a.name, b.name))
        if a.quantity != b.quantity:
            out.append(FieldDifference(f"{path}.quantity", a.quantity, b.quantity))
        if rules.money_differs(a.unit_price, b.unit_price):
            out.append(FieldDifference(f"{path}.unit_price", a.unit_price, b.unit_price))
        if rules.item_taxes and a.taxes != b.taxes:
            out.append(FieldDifference(f"{path}.taxes", a.taxes_text, b.taxes_text))
    for i in only_left:
        out.append(FieldDifference(f"items[{i}]", str(left[i]), None))
    for j in only_right:
        out.append(FieldDifference(f"items[right:{j}]", None, str(right[j])))
    out.sort(key=lambda d: _path_order(d.path))
    return out


def _path_order(path: str) -> tuple[int, int]:
    """Sort item paths by index, right-only ones last (a stable sort keeps the rest)."""
    index = path.partition("[")[2].partition("]")[0]
    if index.startswith("right:"):
        return (1, int(index[6:]))
    return (0, int(index))


def _diff_payments(
    left: Sequence[_Pay], right: Sequence[_Pay], rules: _Rules
) -> list[FieldDifference]:
    """Payments as multisets of (amount, date, method): equal ones pair first, then pairs
    that differ in one of the three (amount, then date, then method); the rest are
    missing on one side."""
    free_left = list(range(len(left)))
    free_right = list(range(len(right)))
    pairs: list[tuple[int, int]] = []

    def close(a: Decimal, b: Decimal) -> bool:
        return not rules.money_differs(a, b)

    def same_date(a: _Pay, b: _Pay) -> bool:
        return a.date == b.date or not rules.payment_dates

    tests: tuple[Callable[[_Pay, _Pay], bool], ...] = (
        lambda a, b: same_date(a, b) and a.method == b.method and close(a.amount, b.amount),
        lambda a, b: same_date(a, b) and a.method == b.method,
        lambda a, b: a.method == b.method and close(a.amount, b.amount),
        lambda a, b: same_date(a, b) and close(a.amount, b.amount),
    )
    for test in tests:
        for i in list(free_left):
            for j in free_right:
                if test(left[i], right[j]):
                    pairs.append((i, j))
                    free_left.remove(i)
                    free_right.remove(j)
                    break
    out: list[FieldDifference] = []
    for i, j in sorted(pairs):
        a, b = left[i], right[j]
        if rules.money_differs(a.amount, b.amount):
            out.append(FieldDifference(f"payments[{i}].amount", a.amount, b.amount))
        if not same_date(a, b):
            out.append(FieldDifference(f"payments[{i}].date", a.date, b.date))
        if a.method != b.method:
            out.append(FieldDifference(f"payments[{i}].method", a.method, b.method))
    for i in free_left:
        out.append(FieldDifference(f"payments[{i}]", str(left[i]), None))
    for j in free_right:
        out.append(FieldDifference(f"payments[right:{j}]", None, str(right[j])))
    return out


class _Clients:
    """One side's client records, read only when an invoice leaves out a detail the other
    side's invoice has (Perfex keeps a customer's email on its primary contact, not on
    the invoice), once per client."""

    def __init__(self, backend: InvoicingBackend) -> None:
        self.backend = backend
        self.records: dict[str, Client | None] = {}

    def get(self, id: str | None) -> Client | None:
        if id is None or Feature.GET_CLIENT not in self.backend.features:
            return None
        if id not in self.records:
            try:
                self.records[id] = self.backend.get_client(id)
            except NotFound:  # deleted since: the invoice is all there is
                self.records[id] = None
        return self.records[id]


def _fill_clients(left: _Snapshot, right: _Snapshot, clients: tuple[_Clients, _Clients]) -> None:
    """Where one invoice has the client's email or tax number and the other has none, take
    the missing one from that side's client record."""
    for attr, name in (("client_email", "email"), ("client_tax_number", "tax_number")):
        a, b = getattr(left, attr), getattr(right, attr)
        if (a is None) == (b is None):
            continue
        snap, side = (left, clients[0]) if a is None else (right, clients[1])
        record = side.get(snap.client_id)
        if record is not None:
            setattr(snap, attr, getattr(record, name))


# --------------------------------------------------------------------------- reading


def _read(
    backend: InvoicingBackend,
    side: str,
    since: dt.date | None,
    progress: Progress | None,
) -> Iterator[Invoice]:
    count = 0
    for invoice in backend.iter_invoices(since=since):
        # A backend's own `since` may be coarser (a modified-since filter): filter again.
        if since is not None and invoice.issue_date < since:
            continue
        count += 1
        # A listing may leave out lines and payments (Perfex 2.x): read them.
        invoice = backend.full_invoice(invoice)
        if progress is not None:
            progress(side, count)
        yield invoice


def _tolerance(value: Decimal | str | int) -> Decimal:
    if isinstance(value, float):
        raise ConfigurationError("pass the tolerance as a Decimal or str, not a float")
    try:
        tolerance = Decimal(str(value))
    except InvalidOperation:
        raise ConfigurationError(f"{value!r} is not a number", option="tolerance") from None
    if not tolerance.is_finite() or tolerance < 0:
        raise ConfigurationError(f"{value!r} must be zero or more", option="tolerance")
    return tolerance


class _LedgerKeys:
    """With ledger matching: the left key is the source id, a right invoice's key the
    source id the ledger pairs its id with."""

    def __init__(self, by_target: dict[str, str], notes: list[str]):
        self.by_target = by_target
        self.notes = notes

    @classmethod
    def load(
        cls,
        ledger: str | os.PathLike[str] | Ledger | PairSource,
        left: InvoicingBackend,
        right: InvoicingBackend,
    ) -> _LedgerKeys:
        if isinstance(ledger, str | os.PathLike):
            from .ledger import Ledger

            if not os.path.isfile(ledger):
                raise ConfigurationError(
                    f"ledger {os.fspath(ledger)!r} does not exist", option="ledger"
                )
            with Ledger(ledger) as opened:
                return cls.load(opened, left, right)
        notes: list[str] = []
        source, target = _ledger_labels(ledger, left, right, notes)
        by_target: dict[str, str] = {}
        conflicts: dict[str, set[str]] = defaultdict(set)
        for source_id, target_id in ledger.pairs("invoice", source=source, target=target):
            if target_id in by_target and by_target[target_id] != source_id:
                conflicts[target_id].update((by_target[target_id], source_id))
                continue
            by_target[target_id] = source_id
        for target_id, sources in conflicts.items():
            notes.append(
                f"ledger: right invoice {target_id} is paired with several left invoices "
                f"({', '.join(sorted(sources))}); compared with {by_target[target_id]}"
            )
        return cls(by_target, notes)


def _ledger_labels(
    ledger: Any, left: InvoicingBackend, right: InvoicingBackend, notes: list[str]
) -> tuple[str | None, str | None]:
    """Which migration of the ledger to read: the one between these two backends (labels as
    :attr:`~invoicing_bridge.backends.base.InvoicingBackend.label` gives them, as the
    migration stores them), or its only one."""
    labels = getattr(ledger, "labels", None)
    if labels is None:
        return None, None  # a bare pair source: read all its pairs
    known: list[tuple[str, str]] = list(labels())
    if not known:
        return None, None
    wanted = (left.label, right.label)
    if wanted in known:
        return wanted
    if len(known) == 1:
        source, target = known[0]
        notes.append(
            f"ledger: pairs of the migration {source} → {target} used for {wanted[0]} → {wanted[1]}"
        )
        return source, target
    listing = "; ".join(f"{s} → {t}" for s, t in known)
    raise ConfigurationError(
        f"the ledger holds no migration {wanted[0]} → {wanted[1]} and several others "
        f"({listing}): compare the backends that were migrated",
        option="ledger",
    )


# --------------------------------------------------------------------------- the job


def compare(
    left: InvoicingBackend,
    right: InvoicingBackend,
    *,
    match: str = "number",
    ledger: str | os.PathLike[str] | Ledger | PairSource | None = None,
    since: dt.date | None = None,
    tolerance: Decimal | str | int = DEFAULT_TOLERANCE,
    progress: Progress | None = None,
) -> ComparisonReport:
    """Compare every invoice of ``left`` with its counterpart in ``right``.

    - ``match``: ``"number"`` pairs invoices by number, normalised by each backend
      (``"INV-000002"`` in one matches ``"2"`` in the other); ``"ledger"`` pairs them
      through the migration ``ledger`` (a path or an open
      :class:`~invoicing_bridge.ledger.Ledger`), ``left`` being the migration's source and
      ``right`` its target.
    - ``since``: only invoices issued on or after this date, on both sides.
    - ``tolerance``: money amounts that differ by no more than this are equal.
    - ``progress``: called as ``progress(side, count)`` after each invoice read.

    Each side is read once; the left side is held in memory (only what is compared), the
    right side streamed. Raises :class:`~invoicing_bridge.exceptions.ConfigurationError`
    for bad arguments (an unknown ``match``, a missing ledger, a negative tolerance) and
    whatever the backends raise while reading
    (:class:`~invoicing_bridge.exceptions.BackendError` and its subclasses).
    """
    if match not in MATCH_MODES:
        raise ConfigurationError(
            f"{match!r} is not one of {', '.join(MATCH_MODES)}", option="match"
        )
    if match == "ledger" and ledger is None:
        raise ConfigurationError("matching by ledger needs a ledger", option="ledger")
    if match == "number" and ledger is not None:
        raise ConfigurationError("a ledger is used only with match='ledger'", option="ledger")
    report = ComparisonReport(
        left=left.label,
        right=right.label,
        match=match,
        tolerance=_tolerance(tolerance),
        since=since,
        started_at=time.monotonic(),
    )
    keys = None if ledger is None else _LedgerKeys.load(ledger, left, right)
    rules = _Rules(
        tolerance=report.tolerance,
        item_taxes=all(Feature.ITEM_TAX_DETAIL in b.features for b in (left, right)),
        payment_dates=all(Feature.PAYMENT_DATES in b.features for b in (left, right)),
        numbers=keys is not None,
    )
    clients = (_Clients(left), _Clients(right))
    skipped_payments = 0
    renumbered = 0
    example: tuple[str, str] | None = None

    # 1. The left side, by key.
    left_by_key: dict[str, _Snapshot] = {}
    left_dups: dict[str, list[InvoiceRef]] = {}
    for invoice in _read(left, "left", since, progress):
        report.left_count += 1
        norm = left.normalize_number(invoice.number)
        key = norm if keys is None else str(invoice.id)
        snap = _Snapshot.of(invoice, key, norm)
        skipped_payments += snap.skipped_payments
        if key in left_dups:
            left_dups[key].append(snap.ref)
        elif key in left_by_key:
            left_dups[key] = [left_by_key.pop(key).ref, snap.ref]
        else:
            left_by_key[key] = snap

    # 2. The right side, streamed and looked up.
    right_seen: dict[str, InvoiceRef] = {}
    right_dups: dict[str, list[InvoiceRef]] = {}
    results: dict[str, RecordDifference | None] = {}  # by key; None when equal
    for invoice in _read(right, "right", since, progress):
        report.right_count += 1
        norm = right.normalize_number(invoice.number)
        if keys is None:
            rkey: str | None = norm
        else:
            rkey = keys.by_target.get(str(invoice.id))
        snap = _Snapshot.of(invoice, rkey, norm)
        skipped_payments += snap.skipped_payments
        if rkey is None:  # not in the ledger
            report.only_right.append(snap.ref)
            continue
        if rkey in right_dups:
            right_dups[rkey].append(snap.ref)
            continue
        if rkey in right_seen:
            right_dups[rkey] = [right_seen.pop(rkey), snap.ref]
            results.pop(rkey, None)
            continue
        right_seen[rkey] = snap.ref
        other = left_by_key.get(rkey)
        if other is None:
            continue  # only on the right, or a left duplicate: decided at the end
        _fill_clients(other, snap, clients)
        differences = _diff(other, snap, rules)
        if other.ref.number != snap.ref.number:
            renumbered += 1
            example = example or (other.ref.number, snap.ref.number)
        results[rkey] = (
            RecordDifference(
                key=rkey,
                left_id=other.ref.id,
                right_id=snap.ref.id,
                number=other.ref.number,
                differences=differences,
                right_number=snap.ref.number,
            )
            if differences
            else None
        )

    # 3. Sort every invoice into its place.
    for key, snap in left_by_key.items():
        if key not in right_seen and key not in right_dups:
            report.only_left.append(snap.ref)
    for key, ref in right_seen.items():
        if key not in left_by_key and key not in left_dups:
            report.only_right.append(ref)
    for key in (*left_dups, *(k for k in right_dups if k not in left_dups)):
        left_refs = left_dups.get(key) or ([left_by_key[key].ref] if key in left_by_key else [])
        right_refs = right_dups.get(key) or ([right_seen[key]] if key in right_seen else [])
        report.duplicates.append(DuplicateKey(key, left_refs, right_refs))
    for result in results.values():
        if result is None:
            report.equal += 1
        else:
            report.different.append(result)

    report.not_compared = _notes(
        left, right, rules, keys, skipped_payments, renumbered, example, report.matched
    )
    for side, backend in zip(clients, (left, right), strict=True):
        if side.records:
            report.not_compared.insert(
                2,
                f"client.email, client.tax_number: where {backend.name}'s invoices leave "
                f"them out, read from its client records ({len(side.records)} clients)",
            )
    report.finished_at = time.monotonic()
    return report


def _notes(
    left: InvoicingBackend,
    right: InvoicingBackend,
    rules: _Rules,
    keys: _LedgerKeys | None,
    skipped_payments: int,
    renumbered: int,
    example: tuple[str, str] | None,
    matched: int,
) -> list[str]:
    notes = [
        "id, created_at, updated_at, source, raw, extra: backend-specific by nature, "
        "never compared",
        "client.name, client.email: compared ignoring case and repeated whitespace; "
        "client.tax_number ignoring case, spaces and punctuation",
    ]
    if keys is None:
        text = "number: invoices are matched on the number as each backend normalises it"
        if renumbered and example is not None:
            text += (
                f"; {renumbered} of {matched} matched invoices show it differently "
                f"(e.g. {example[0]!r} and {example[1]!r})"
            )
        notes.append(text)
    else:
        notes.append(
            "number: invoices are matched through the migration ledger; numbers are "
            "compared as each backend normalises them, except for drafts"
        )
        notes.extend(keys.notes)
    if not rules.item_taxes:
        for backend in (left, right):
            if Feature.ITEM_TAX_DETAIL not in backend.features:
                notes.append(f"items[*].taxes: {backend.name} does not report per-line tax")
    if not rules.payment_dates:
        for backend in (left, right):
            if Feature.PAYMENT_DATES not in backend.features:
                notes.append(
                    f"payments[*].date: {backend.name} dates payments when they are recorded"
                )
    if skipped_payments:
        notes.append(
            f"payments: only completed payments are compared; {skipped_payments} pending, "
            "failed or unknown payments were left out"
        )
    notes.append(
        "not compared: notes, terms, the client's address, phone and ids, and each line's "
        "description, unit, discount and amounts (subtotal and tax_total cover them)"
    )
    return notes


# --------------------------------------------------------------------------- terminal


def _renderable(report: ComparisonReport) -> RenderableType:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    # Every value is a Text: a path like "items[right:2]" is not rich markup.
    def table(title: str, columns: Sequence[str]) -> Table:
        grid = Table(
            title=Text(title, style="bold"), title_justify="left", min_width=len(title) + 1
        )
        for name in columns:
            grid.add_column(Text(name), overflow="fold")
        return grid

    def row(grid: Table, *cells: str) -> None:
        grid.add_row(*(Text(cell) for cell in cells))

    parts: list[RenderableType] = []
    matched_by = "number" if report.match == "number" else "the migration ledger"
    head = Text()
    head.append(report.left, style="bold")
    head.append(f" ({_invoices(report.left_count)})  ⟷  ")
    head.append(report.right, style="bold")
    head.append(f" ({_invoices(report.right_count)}), matched by {matched_by}")
    if report.since is not None:
        head.append(f", issued since {report.since.isoformat()}")
    head.append(f", tolerance {report.tolerance}")
    parts.append(head)
    counts = Text()
    counts.append(f"equal {report.equal}", style="green")
    for label, n in (
        ("different", len(report.different)),
        ("only left", len(report.only_left)),
        ("only right", len(report.only_right)),
        ("duplicates", len(report.duplicates)),
    ):
        counts.append("  ·  ")
        counts.append(f"{label} {n}", style="red" if n else "")
    parts.append(counts)

    if report.different:
        grid = table(
            f"Differences ({report.difference_count})",
            ("number", "left id", "right id", "field", report.left, report.right),
        )
        for record in report.different:
            number = record.number
            if record.right_number and record.right_number != record.number:
                number = f"{record.number} / {record.right_number}"
            for n, diff in enumerate(record.differences):
                first = n == 0
                row(
                    grid,
                    number if first else "",
                    (record.left_id or "") if first else "",
                    (record.right_id or "") if first else "",
                    diff.path,
                    _cell(diff.left),
                    _cell(diff.right),
                )
        parts.append(grid)

    for title, refs in (
        (f"Only in {report.left}", report.only_left),
        (f"Only in {report.right}", report.only_right),
    ):
        if refs:
            grid = table(f"{title} ({len(refs)})", ("number", "id", "key"))
            for ref in refs:
                row(grid, ref.number, ref.id or "", ref.key or "")
            parts.append(grid)

    if report.duplicates:
        grid = table(
            f"Duplicate keys ({len(report.duplicates)}), not compared",
            ("key", report.left, report.right),
        )
        for dup in report.duplicates:
            row(grid, dup.key, _refs(dup.left), _refs(dup.right))
        parts.append(grid)

    if report.not_compared:
        notes = Text("Not compared:\n", style="dim")
        for note in report.not_compared:
            notes.append(f"  - {note}\n", style="dim")
        parts.append(notes)
    parts.append(
        Text("The two sides agree.", style="bold green")
        if report.ok
        else Text("The two sides differ.", style="bold red")
    )
    return Group(*parts)


def _invoices(count: int) -> str:
    return f"{count} invoice" if count == 1 else f"{count} invoices"


def _cell(value: Any) -> str:
    return "—" if value is None else _text(value) or '""'


def _refs(refs: Iterable[InvoiceRef]) -> str:
    return ", ".join(f"{r.number} (id {r.id})" for r in refs) or "—"
