"""Field by field: each invoice reduced to what is compared (a :class:`Snapshot`), and
the differences of a pair (:func:`diff`) under the :class:`Rules` both backends allow,
each cause one row with the totals it changes grouped under it (:func:`group`)."""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from ..backends.base import Feature, InvoicingBackend
from ..exceptions import NotFound
from ..models import (
    Client,
    Invoice,
    InvoiceStatus,
    LineItem,
    Payment,
    PaymentStatus,
    identity_key,
)
from ..money import minor_unit, round_money
from .report import FieldDifference, InvoiceRef

__all__ = [
    "TEXT_FIELDS",
    "ClientRecords",
    "Counters",
    "PaymentDater",
    "Rules",
    "Snapshot",
    "diff",
    "fill_clients",
    "fold",
    "group",
    "normalize_text",
    "payment_dater",
]


_MONEY_FIELDS = (
    "subtotal",
    "discount_total",
    "tax_total",
    "adjustment",
    "total",
    "amount_paid",
    "balance_due",
)
#: Statuses that only say what the amounts say (``InvoiceStatus.from_amounts``).
_AMOUNT_STATUSES = frozenset(
    {
        InvoiceStatus.OPEN,
        InvoiceStatus.PARTIALLY_PAID,
        InvoiceStatus.PAID,
        InvoiceStatus.OVERPAID,
    }
)
#: Optional text fields, compared after :func:`normalize_text`; where one backend never
#: reports one of them in a run, it is left out and the report says so once.
TEXT_FIELDS = ("notes", "terms", "items[*].description", "items[*].unit")

_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_ZERO = Decimal(0)


def fold(text: str | None) -> str:
    """Case and whitespace do not count (``"  ACME  ltd"`` equals ``"Acme Ltd"``)."""
    return " ".join((text or "").split()).casefold()


def normalize_text(text: str | None, *, case: bool = True) -> str:
    """A text field as compared: HTML line breaks (``<br>``, ``<br/>``, ``<br />``) count
    as line breaks, every run of whitespace (line breaks included) as one space, leading
    and trailing whitespace not at all, and a missing text as an empty one. With
    ``case=False`` case does not count either (units, address parts).

    ``"Net 30<br />\\nthank you "`` equals ``"Net 30\\nthank you"``."""
    plain = _BREAK.sub("\n", text or "")
    joined = " ".join(plain.split())
    return joined if case else joined.casefold()


def _rate(rate: Decimal) -> str:
    return f"{rate.normalize():f}"


@dataclass(frozen=True, slots=True)
class _Item:
    name: str
    name_key: str
    quantity: Decimal
    unit_price: Decimal  # rounded to the currency
    net: Decimal  # quantity x unit price - discount, rounded to the currency
    taxes: tuple[tuple[str, Decimal], ...]  # sorted (folded name, rate)
    taxes_text: str
    description: str | None
    unit: str | None

    @classmethod
    def of(cls, item: LineItem, currency: str) -> _Item:
        taxes = tuple(sorted((fold(t.name), t.rate) for t in item.taxes))
        text = ", ".join(f"{t.name} {_rate(t.rate)}%" for t in item.taxes)
        return cls(
            item.name,
            fold(item.name),
            item.quantity,
            round_money(item.unit_price, currency),
            round_money(item.quantity * item.unit_price - item.discount, currency),
            taxes,
            text,
            item.description,
            item.unit,
        )

    def __str__(self) -> str:
        return f"{self.name}: {self.quantity} x {self.unit_price}"


#: ``dater(payment)``: whether the payment's date is one a user set (``True``), one the
#: backend set itself when it was recorded (``False``), or cannot be told (``None``).
PaymentDater = Callable[[Payment], bool | None]


def _always_set(payment: Payment) -> bool | None:
    return True


@dataclass(frozen=True, slots=True)
class _Pay:
    amount: Decimal  # rounded to the currency
    date: dt.date
    method: str
    date_set: bool | None  # see PaymentDater

    @classmethod
    def of(cls, payment: Payment, currency: str, dater: PaymentDater) -> _Pay:
        return cls(
            round_money(payment.amount, payment.currency or currency),
            payment.date,
            payment.method,
            dater(payment),
        )

    def __str__(self) -> str:
        return f"{self.amount} on {self.date.isoformat()} by {self.method}"


@dataclass(slots=True)
class Snapshot:
    """What is compared of one invoice (the rest, raw payload included, is let go).
    Money is rounded to the invoice currency's precision."""

    ref: InvoiceRef
    norm_number: str
    status: str
    #: The status as compared: one that only says what the amounts say is derived again
    #: from the rounded amounts (a total of 3192.995 paid with 3193.00 is paid, not
    #: overpaid); any other (draft, void, refunded) as it is.
    status_key: str
    issue_date: dt.date
    due_date: dt.date | None
    currency: str
    client_id: str | None
    client_name: str
    client_email: str | None
    client_tax_number: str | None
    money: dict[str, Decimal]  # _MONEY_FIELDS, rounded
    items: tuple[_Item, ...]
    payments: tuple[_Pay, ...]
    skipped_payments: int
    notes: str | None
    terms: str | None

    @classmethod
    def of(
        cls,
        invoice: Invoice,
        key: str | None,
        norm_number: str,
        dater: PaymentDater = _always_set,
    ) -> Snapshot:
        completed = [p for p in invoice.payments if p.status is PaymentStatus.COMPLETED]
        currency = invoice.currency
        money = {name: round_money(getattr(invoice, name), currency) for name in _MONEY_FIELDS}
        if abs(invoice.balance_due - (invoice.total - invoice.amount_paid)) < minor_unit(currency):
            # The balance is what is owed on the rounded amounts: 3192.995 paid with
            # 3193.00 owes nothing, not -0.01.
            money["balance_due"] = money["total"] - money["amount_paid"]
        status = invoice.status
        status_key = status.value
        if status in _AMOUNT_STATUSES and status is InvoiceStatus.from_amounts(
            invoice.total, invoice.amount_paid
        ):
            status_key = InvoiceStatus.from_amounts(money["total"], money["amount_paid"]).value
        return cls(
            ref=InvoiceRef(invoice.id, invoice.number, key),
            norm_number=norm_number,
            status=status.value,
            status_key=status_key,
            issue_date=invoice.issue_date,
            due_date=invoice.due_date,
            currency=currency,
            client_id=invoice.client.id,
            client_name=invoice.client.name,
            client_email=invoice.client.email,
            client_tax_number=invoice.client.tax_number,
            money=money,
            items=tuple(_Item.of(i, currency) for i in invoice.items),
            payments=tuple(_Pay.of(p, currency, dater) for p in completed),
            skipped_payments=len(invoice.payments) - len(completed),
            notes=invoice.notes,
            terms=invoice.terms,
        )

    @property
    def status_derived(self) -> bool:
        return self.status in {s.value for s in _AMOUNT_STATUSES}

    def reported(self) -> set[str]:
        """The :data:`TEXT_FIELDS` this invoice has a value for."""
        found = {name for name in ("notes", "terms") if normalize_text(getattr(self, name))}
        if any(normalize_text(i.description) for i in self.items):
            found.add("items[*].description")
        if any(normalize_text(i.unit) for i in self.items):
            found.add("items[*].unit")
        return found


@dataclass(frozen=True, slots=True)
class Rules:
    tolerance: Decimal
    item_taxes: bool  # both sides report per-line taxes
    numbers: bool  # compare normalised numbers (ledger matching)
    #: Compare the client's name, email and tax number as the invoices carry them (when
    #: the client records are compared instead, see :mod:`.clients`, only ``client``).
    client_fields: bool = True

    def money_differs(self, a: Decimal, b: Decimal) -> bool:
        return abs(a - b) > self.tolerance


@dataclass(slots=True)
class Counters:
    """What a run left out, for the report's notes."""

    #: Paired payments whose dates differ where who set a date cannot be told.
    undated_payments: int = 0
    #: Paired payments whose dates differ where one side is known to have dated the
    #: payment itself (the migration recorded it there): explained, not a doubt.
    api_dated_payments: int = 0


def diff(
    left: Snapshot, right: Snapshot, rules: Rules, counters: Counters | None = None
) -> list[FieldDifference]:
    """Every difference of a pair, one row per cause (see :func:`group`)."""
    out: list[FieldDifference] = []
    counters = counters if counters is not None else Counters()

    def exact(path: str, a: Any, b: Any) -> None:
        if a != b:
            out.append(FieldDifference(path, a, b))

    # A draft may have no number yet (Perfex shows "INV-DRAFT" until it is issued).
    drafts = "draft" in (left.status, right.status)
    if rules.numbers and not drafts and left.norm_number != right.norm_number:
        out.append(FieldDifference("number", left.ref.number, right.ref.number))
    if left.status_key != right.status_key:
        out.append(FieldDifference("status", left.status, right.status))
    exact("issue_date", left.issue_date, right.issue_date)
    exact("due_date", left.due_date, right.due_date)
    exact("currency", left.currency, right.currency)
    # The client's identity fields, compared as a client is identified everywhere.
    for name in ("name", "email", "tax_number") if rules.client_fields else ():
        a, b = getattr(left, f"client_{name}"), getattr(right, f"client_{name}")
        if identity_key(name, a) != identity_key(name, b):
            out.append(FieldDifference(f"client.{name}", a, b))
    for name in _MONEY_FIELDS:
        a, b = left.money[name], right.money[name]
        if rules.money_differs(a, b):
            out.append(FieldDifference(name, a, b))
    for name in ("notes", "terms"):
        a, b = getattr(left, name), getattr(right, name)
        if normalize_text(a) != normalize_text(b):
            out.append(FieldDifference(name, a, b))
    out.extend(_diff_items(left.items, right.items, rules))
    out.extend(_diff_payments(left.payments, right.payments, rules, counters))
    return group(out, left, right, rules)


def group(
    differences: list[FieldDifference], left: Snapshot, right: Snapshot, rules: Rules
) -> list[FieldDifference]:
    """One row per cause: a total that differs only because a line, a payment or another
    total differs (its change on each side is exactly what its parts' change makes it)
    is moved under that cause's row, in ``derived``.

    The parts of each total: ``subtotal`` the lines' net amounts; ``tax_total`` the lines
    (a line's tax cannot be checked when a backend does not report it); ``total`` the
    subtotal, discount, tax and adjustment; ``amount_paid`` the completed payments;
    ``balance_due`` the total and the amount paid; a ``status`` that only says what the
    amounts say, the total and the amount paid. A total that changed by more or less than
    its parts explain stays a row of its own: that is a difference of its own."""
    by_path = {d.path: d for d in differences}
    items = [d for d in differences if d.path.startswith("items")]
    amounts = [d for d in items if not d.path.endswith((".name", ".description", ".unit"))]
    item_cause = next(iter(amounts or items), None)
    pay_cause = next((d for d in differences if d.path.startswith("payments")), None)
    owner: dict[str, FieldDifference] = {}

    def change(name: str) -> Decimal:
        return right.money[name] - left.money[name]

    def close(a: Decimal, b: Decimal) -> bool:
        return not rules.money_differs(a, b)

    def cause(parents: Sequence[str]) -> FieldDifference | None:
        for name in parents:
            if name in owner:
                return owner[name]
            if name in by_path:
                return by_path[name]
        return None

    def nets(snap: Snapshot) -> Decimal:
        return round_money(sum((i.net for i in snap.items), _ZERO), snap.currency)

    def paid(snap: Snapshot) -> Decimal:
        return sum((p.amount for p in snap.payments), _ZERO)

    lines = nets(right) - nets(left)
    if "subtotal" in by_path and item_cause is not None and close(change("subtotal"), lines):
        owner["subtotal"] = item_cause
    if "tax_total" in by_path and item_cause is not None:
        owner["tax_total"] = item_cause
    payments = paid(right) - paid(left)
    if (
        "amount_paid" in by_path
        and pay_cause is not None
        and close(change("amount_paid"), payments)
    ):
        owner["amount_paid"] = pay_cause
    parts = ("subtotal", "discount_total", "tax_total", "adjustment")
    if "total" in by_path and any(p in by_path for p in parts):
        made = (
            change("subtotal")
            - change("discount_total")
            + change("tax_total")
            + change("adjustment")
        )
        found = cause(parts)
        if found is not None and close(change("total"), made):
            owner["total"] = found
    if "balance_due" in by_path and any(p in by_path for p in ("total", "amount_paid")):
        found = cause(("amount_paid", "total"))
        if found is not None and close(
            change("balance_due"), change("total") - change("amount_paid")
        ):
            owner["balance_due"] = found
    if "status" in by_path and left.status_derived and right.status_derived:
        found = cause(("amount_paid", "total"))
        if found is not None:
            owner["status"] = found
    if not owner:
        return differences
    under: dict[int, list[FieldDifference]] = defaultdict(list)
    for path, found in owner.items():
        under[id(found)].append(by_path[path])
    rows: list[FieldDifference] = []
    for d in differences:
        if d.path in owner:
            continue
        derived = under.get(id(d))
        if derived:
            order = {p: n for n, p in enumerate(("status", *_MONEY_FIELDS))}
            derived.sort(key=lambda x: order[x.path])
            d = replace(d, derived=tuple(derived))
        rows.append(d)
    return rows


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
        if normalize_text(a.description) != normalize_text(b.description):
            out.append(FieldDifference(f"{path}.description", a.description, b.description))
        if a.quantity != b.quantity:
            out.append(FieldDifference(f"{path}.quantity", a.quantity, b.quantity))
        if normalize_text(a.unit, case=False) != normalize_text(b.unit, case=False):
            out.append(FieldDifference(f"{path}.unit", a.unit, b.unit))
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


def _dates_comparable(a: _Pay, b: _Pay) -> bool:
    return a.date_set is True and b.date_set is True


def _diff_payments(
    left: Sequence[_Pay], right: Sequence[_Pay], rules: Rules, counters: Counters
) -> list[FieldDifference]:
    """Payments as multisets of (amount, date, method): equal ones pair first, then pairs
    that differ in one of the three (amount, then date, then method); the rest are
    missing on one side. A date is compared only where both sides hold a date a user set
    (see :data:`PaymentDater`)."""
    free_left = list(range(len(left)))
    free_right = list(range(len(right)))
    pairs: list[tuple[int, int]] = []

    def close(a: Decimal, b: Decimal) -> bool:
        return not rules.money_differs(a, b)

    def same_date(a: _Pay, b: _Pay) -> bool:
        return a.date == b.date or not _dates_comparable(a, b)

    tests: tuple[Callable[[_Pay, _Pay], bool], ...] = (
        lambda a, b: a.date == b.date and a.method == b.method and close(a.amount, b.amount),
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
        if a.date != b.date:
            if _dates_comparable(a, b):
                out.append(FieldDifference(f"payments[{i}].date", a.date, b.date))
            elif a.date_set is None or b.date_set is None:
                counters.undated_payments += 1
            else:
                counters.api_dated_payments += 1
        if a.method != b.method:
            out.append(FieldDifference(f"payments[{i}].method", a.method, b.method))
    for i in free_left:
        out.append(FieldDifference(f"payments[{i}]", str(left[i]), None))
    for j in free_right:
        out.append(FieldDifference(f"payments[right:{j}]", None, str(right[j])))
    return out


def payment_dater(backend: InvoicingBackend, migrated: frozenset[str] | None) -> PaymentDater:
    """How to tell who set a payment's date on ``backend``.

    A backend with :attr:`~invoicing_bridge.backends.base.Feature.PAYMENT_DATES` keeps the
    date it is given: always a user's. Without it (Perfex's API dates a payment the day it
    records it), a payment that says when it was recorded (``extra["recorded_at"]``, an
    ISO timestamp) holds a user's date when that date is another day (set in the
    backend's own screens), and, when the migration ledger is known (``migrated``: the
    ids of the payments the migration recorded in this backend), whenever the migration
    did not record it. Otherwise who set it cannot be told."""
    if Feature.PAYMENT_DATES in backend.features:
        return _always_set

    def dater(payment: Payment) -> bool | None:
        if migrated is not None and payment.id is not None and str(payment.id) in migrated:
            return False
        recorded = payment.extra.get("recorded_at")
        if not isinstance(recorded, str):
            return None
        try:
            day = dt.datetime.fromisoformat(recorded).date()
        except ValueError:
            return None
        if day != payment.date:
            return True
        return True if migrated is not None else None

    return dater


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
