"""Field by field: each invoice reduced to what is compared (a :class:`Snapshot`), and
the differences of a pair (:func:`diff`) under the :class:`Rules` both backends allow."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..backends.base import Feature, InvoicingBackend
from ..exceptions import NotFound
from ..models import Client, Invoice, LineItem, Payment, PaymentStatus, identity_key
from .report import FieldDifference, InvoiceRef

__all__ = ["ClientRecords", "Rules", "Snapshot", "diff", "fill_clients", "fold"]


_MONEY_FIELDS = (
    "subtotal",
    "discount_total",
    "tax_total",
    "adjustment",
    "total",
    "amount_paid",
    "balance_due",
)


def fold(text: str | None) -> str:
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
        taxes = tuple(sorted((fold(t.name), t.rate) for t in item.taxes))
        text = ", ".join(f"{t.name} {_rate(t.rate)}%" for t in item.taxes)
        return cls(item.name, fold(item.name), item.quantity, item.unit_price, taxes, text)

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
class Snapshot:
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
    def of(cls, invoice: Invoice, key: str | None, norm_number: str) -> Snapshot:
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


@dataclass(frozen=True, slots=True)
class Rules:
    tolerance: Decimal
    item_taxes: bool  # both sides report per-line taxes
    payment_dates: bool  # both sides keep the dates payments are recorded with
    numbers: bool  # compare normalised numbers (ledger matching)

    def money_differs(self, a: Decimal, b: Decimal) -> bool:
        return abs(a - b) > self.tolerance


def diff(left: Snapshot, right: Snapshot, rules: Rules) -> list[FieldDifference]:
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
    left: Sequence[_Item], right: Sequence[_Item], rules: Rules
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
    left: Sequence[_Pay], right: Sequence[_Pay], rules: Rules
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


class ClientRecords:
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


def fill_clients(
    left: Snapshot, right: Snapshot, clients: tuple[ClientRecords, ClientRecords]
) -> None:
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
