"""The neutral invoicing model: the public contract every backend reads into and writes from.

Field names are the Python attribute names and the JSON keys of ``to_dict()``; see
``docs/concepts.md``. Money and quantities are :class:`decimal.Decimal`, never ``float``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar

__all__ = [
    "CLIENT_IDENTITY_FIELDS",
    "Address",
    "Client",
    "Inconsistency",
    "Invoice",
    "InvoiceStatus",
    "LineItem",
    "Payment",
    "PaymentStatus",
    "RecordRef",
    "TaxRate",
    "client_matches",
    "identity_key",
]

ZERO = Decimal("0")
#: Tolerance used by :meth:`Invoice.check` for rounding differences (one cent).
DEFAULT_TOLERANCE = Decimal("0.01")


class InvoiceStatus(enum.StrEnum):
    """Where an invoice stands. Overdue is not a status: see :attr:`Invoice.is_overdue`."""

    DRAFT = "draft"
    OPEN = "open"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    OVERPAID = "overpaid"
    VOID = "void"
    REFUNDED = "refunded"
    UNKNOWN = "unknown"

    @classmethod
    def parse(cls, value: Any) -> InvoiceStatus:
        """Read a JSON value; anything unmapped is ``UNKNOWN``, never an exception."""
        try:
            return cls(value)
        except ValueError:
            return cls.UNKNOWN

    @classmethod
    def coerce(cls, value: InvoiceStatus | str | None) -> InvoiceStatus | None:
        """A status filter (``iter_invoices(status=...)``): a member, its string value
        (``"open"``, any case), or None for no filter. Raises ValueError naming the
        values accepted for anything else: a typo must not silently match nothing."""
        if value is None or isinstance(value, cls):
            return value
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return cls(value.strip().lower())
        accepted = ", ".join(member.value for member in cls)
        raise ValueError(f"unknown invoice status {value!r}; use one of: {accepted}")

    @classmethod
    def from_amounts(cls, total: Decimal, amount_paid: Decimal) -> InvoiceStatus:
        """The status of an issued (not draft, not void) invoice, derived from what was paid."""
        if amount_paid <= 0:
            return cls.PAID if total <= 0 else cls.OPEN
        if amount_paid < total:
            return cls.PARTIALLY_PAID
        if amount_paid == total:
            return cls.PAID
        return cls.OVERPAID


class PaymentStatus(enum.StrEnum):
    COMPLETED = "completed"
    PENDING = "pending"
    FAILED = "failed"
    UNKNOWN = "unknown"

    @classmethod
    def parse(cls, value: Any) -> PaymentStatus:
        try:
            return cls(value)
        except ValueError:
            return cls.UNKNOWN


# --------------------------------------------------------------------------- JSON helpers


def _dec(value: Any, name: str) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        raise TypeError(f"{name}: float is not accepted for money; pass a str or Decimal")
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"{name}: {value!r} is not a decimal number") from exc


def _opt_dec(value: Any, name: str) -> Decimal | None:
    return None if value is None else _dec(value, name)


def _date(value: Any, name: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise ValueError(f"{name}: {value!r} is not an ISO date") from exc


def _opt_date(value: Any, name: str) -> dt.date | None:
    return None if value is None else _date(value, name)


def _opt_datetime(value: Any, name: str) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    try:
        return dt.datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise ValueError(f"{name}: {value!r} is not an ISO timestamp") from exc


def _iso(value: dt.date | dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _str_dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _jsonable(value: Any) -> Any:
    """Make ``extra`` values JSON-safe the same way the typed fields are."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _thaw(value: Any) -> Any:
    """A plain, mutable copy of a (possibly read-only) mapping tree."""
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_thaw(v) for v in value]
    return value


#: JSON's leaves, recognised by their exact type (an ABC check per value was most of the
#: cost of freezing a payload, and freezing a fifth of mapping an invoice).
_LEAF_TYPES = frozenset({str, int, float, bool, Decimal, type(None)})


def _freeze(value: Any) -> Any:
    kind = type(value)
    if kind in _LEAF_TYPES:
        return value
    # Leaves (most values) are kept without a call each.
    leaves = _LEAF_TYPES
    if kind is dict or isinstance(value, Mapping):
        return MappingProxyType(
            {k: v if type(v) in leaves else _freeze(v) for k, v in value.items()}
        )
    if kind is list or isinstance(value, list | tuple):
        return tuple([v if type(v) in leaves else _freeze(v) for v in value])
    return value


def freeze_raw(raw: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """The untouched remote payload as a read-only mapping (``raw`` on every record)."""
    if raw is None:
        return MappingProxyType({})
    if isinstance(raw, MappingProxyType):
        return raw
    frozen: Mapping[str, Any] = _freeze(raw)
    return frozen


T = TypeVar("T")


def _raw_field() -> Any:
    return field(default_factory=lambda: MappingProxyType({}), repr=False)


# --------------------------------------------------------------------------- value types


@dataclass(frozen=True, slots=True)
class RecordRef:
    """Where a record was read from: a backend name and the record's id there."""

    backend: str
    id: str

    def to_dict(self) -> dict[str, str]:
        return {"backend": self.backend, "id": self.id}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RecordRef:
        return cls(backend=str(data["backend"]), id=str(data["id"]))

    def __str__(self) -> str:
        return f"{self.backend}:{self.id}"


def _opt_ref(value: Any) -> RecordRef | None:
    return None if value is None else RecordRef.from_dict(value)


@dataclass(frozen=True, slots=True)
class TaxRate:
    """A tax applied to a line: its name and its rate in percent (``Decimal("15")``)."""

    name: str
    rate: Decimal

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "rate": str(self.rate)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaxRate:
        return cls(name=str(data["name"]), rate=_dec(data["rate"], "rate"))


@dataclass(slots=True)
class Address:
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None  # ISO 3166-1 alpha-2

    _FIELDS: ClassVar[tuple[str, ...]] = (
        "line1",
        "line2",
        "city",
        "state",
        "postal_code",
        "country",
    )

    def to_dict(self) -> dict[str, str | None]:
        return {name: getattr(self, name) for name in self._FIELDS}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Address:
        return cls(**{name: data.get(name) for name in cls._FIELDS})

    def is_empty(self) -> bool:
        return all(getattr(self, name) is None for name in self._FIELDS)


# --------------------------------------------------------------------------- records


@dataclass(slots=True)
class Client:
    name: str
    id: str | None = None
    company_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    tax_number: str | None = None
    address: Address | None = None
    currency: str | None = None
    source: RecordRef | None = None
    raw: Mapping[str, Any] = _raw_field()
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # raw is read-only however it was given, so the round trip stays lossless.
        self.raw = freeze_raw(self.raw)

    def to_dict(self, *, include_raw: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "company_name": self.company_name,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "email": self.email,
            "phone": self.phone,
            "tax_number": self.tax_number,
            "address": None if self.address is None else self.address.to_dict(),
            "currency": self.currency,
            "source": None if self.source is None else self.source.to_dict(),
            "extra": _jsonable(self.extra),
        }
        if include_raw:
            data["raw"] = _thaw(self.raw)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Client:
        address = data.get("address")
        return cls(
            id=data.get("id"),
            name=data["name"],
            company_name=data.get("company_name"),
            first_name=data.get("first_name"),
            last_name=data.get("last_name"),
            email=data.get("email"),
            phone=data.get("phone"),
            tax_number=data.get("tax_number"),
            address=None if address is None else Address.from_dict(address),
            currency=data.get("currency"),
            source=_opt_ref(data.get("source")),
            raw=freeze_raw(data.get("raw")),
            extra=dict(data.get("extra") or {}),
        )


#: The fields a client is identified by, in the order they are tried.
CLIENT_IDENTITY_FIELDS = ("email", "tax_number", "name")
#: Fields on which two clients that both have a value must agree to be the same client.
_DISTINCTIVE_FIELDS = ("email", "tax_number")


def identity_key(field: str, value: str | None) -> str:
    """``value`` of the client field ``field`` reduced to what identifies a client: the one
    rule every backend's ``find_client`` and the migration's matching compare with.

    - ``email``: stripped and case-folded (``" Billing@ACME.test "`` gives
      ``"billing@acme.test"``);
    - ``tax_number``: without whitespace or punctuation, case-folded (``"EG 123-456.789"``
      gives ``"eg123456789"``);
    - ``name``: runs of whitespace collapsed, stripped, case-folded (``"  ACME   ltd"``
      gives ``"acme ltd"``).

    ``""`` when the value is absent or blank. Raises ``ValueError`` for another field.
    """
    text = value or ""
    if field == "email":
        return text.strip().casefold()
    if field == "tax_number":
        return "".join(ch for ch in text if ch.isalnum()).casefold()
    if field == "name":
        return " ".join(text.split()).casefold()
    raise ValueError(f"{field!r} is not a client identity field ({CLIENT_IDENTITY_FIELDS})")


def client_matches(
    client: Client, candidate: Client, *, on: tuple[str, ...] = CLIENT_IDENTITY_FIELDS
) -> bool:
    """Whether ``candidate`` is the same client as ``client``, by :func:`identity_key`.

    They must agree on at least one field of ``on`` that both have, and must not disagree
    on an email or a tax number that both have, whatever else they share (branches of one
    company share a tax number; namesakes share a name).
    """
    for name in _DISTINCTIVE_FIELDS:
        mine = identity_key(name, getattr(client, name))
        theirs = identity_key(name, getattr(candidate, name))
        if mine and theirs and mine != theirs:
            return False
    for name in on:
        mine = identity_key(name, getattr(client, name))
        if mine and mine == identity_key(name, getattr(candidate, name)):
            return True
    return False


@dataclass(slots=True)
class Payment:
    amount: Decimal
    date: dt.date
    method: str
    id: str | None = None
    invoice_id: str | None = None
    currency: str | None = None
    reference: str | None = None
    notes: str | None = None
    status: PaymentStatus = PaymentStatus.COMPLETED
    source: RecordRef | None = None
    raw: Mapping[str, Any] = _raw_field()
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.raw = freeze_raw(self.raw)

    def to_dict(self, *, include_raw: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "invoice_id": self.invoice_id,
            "amount": str(self.amount),
            "currency": self.currency,
            "date": self.date.isoformat(),
            "method": self.method,
            "reference": self.reference,
            "notes": self.notes,
            "status": self.status.value,
            "source": None if self.source is None else self.source.to_dict(),
            "extra": _jsonable(self.extra),
        }
        if include_raw:
            data["raw"] = _thaw(self.raw)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Payment:
        return cls(
            id=data.get("id"),
            invoice_id=data.get("invoice_id"),
            amount=_dec(data["amount"], "amount"),
            currency=data.get("currency"),
            date=_date(data["date"], "date"),
            method=data["method"],
            reference=data.get("reference"),
            notes=data.get("notes"),
            status=PaymentStatus.parse(data.get("status", "completed")),
            source=_opt_ref(data.get("source")),
            raw=freeze_raw(data.get("raw")),
            extra=dict(data.get("extra") or {}),
        )


@dataclass(slots=True)
class LineItem:
    name: str
    quantity: Decimal
    unit_price: Decimal
    description: str | None = None
    unit: str | None = None
    discount: Decimal = ZERO
    taxes: list[TaxRate] = field(default_factory=list)
    net_amount: Decimal | None = None  # computed in __post_init__ when not given
    tax_amount: Decimal | None = None
    product_id: str | None = None
    sku: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.net_amount is None:
            self.net_amount = self.quantity * self.unit_price - self.discount

    @property
    def net(self) -> Decimal:
        """``net_amount``, typed as always present."""
        assert self.net_amount is not None
        return self.net_amount

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "quantity": str(self.quantity),
            "unit_price": str(self.unit_price),
            "unit": self.unit,
            "discount": str(self.discount),
            "taxes": [t.to_dict() for t in self.taxes],
            "net_amount": _str_dec(self.net_amount),
            "tax_amount": _str_dec(self.tax_amount),
            "product_id": self.product_id,
            "sku": self.sku,
            "extra": _jsonable(self.extra),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LineItem:
        return cls(
            name=data["name"],
            description=data.get("description"),
            quantity=_dec(data["quantity"], "quantity"),
            unit_price=_dec(data["unit_price"], "unit_price"),
            unit=data.get("unit"),
            discount=_dec(data.get("discount", "0"), "discount"),
            taxes=[TaxRate.from_dict(t) for t in data.get("taxes") or ()],
            net_amount=_opt_dec(data.get("net_amount"), "net_amount"),
            tax_amount=_opt_dec(data.get("tax_amount"), "tax_amount"),
            product_id=data.get("product_id"),
            sku=data.get("sku"),
            extra=dict(data.get("extra") or {}),
        )


@dataclass(frozen=True, slots=True)
class Inconsistency:
    """One arithmetic rule an invoice breaks (see :meth:`Invoice.check`)."""

    rule: str
    field: str
    expected: Decimal
    actual: Decimal

    def __str__(self) -> str:
        return f"{self.rule}: {self.field} is {self.actual}, expected {self.expected}"


@dataclass(slots=True)
class Invoice:
    number: str
    issue_date: dt.date
    currency: str
    client: Client
    status: InvoiceStatus = InvoiceStatus.OPEN
    id: str | None = None
    due_date: dt.date | None = None
    items: list[LineItem] = field(default_factory=list)
    subtotal: Decimal = ZERO
    discount_total: Decimal = ZERO
    tax_total: Decimal = ZERO
    adjustment: Decimal = ZERO
    total: Decimal = ZERO
    amount_paid: Decimal = ZERO
    balance_due: Decimal = ZERO
    payments: list[Payment] = field(default_factory=list)
    notes: str | None = None
    terms: str | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    source: RecordRef | None = None
    raw: Mapping[str, Any] = _raw_field()
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.raw = freeze_raw(self.raw)

    # ------------------------------------------------------------------ derived

    def is_overdue_on(self, today: dt.date) -> bool:
        """True when ``due_date`` is before ``today``, something is still owed and the
        invoice is issued (not draft, not void)."""
        return (
            self.due_date is not None
            and self.due_date < today
            and self.balance_due > 0
            and self.status not in (InvoiceStatus.DRAFT, InvoiceStatus.VOID)
        )

    @property
    def is_overdue(self) -> bool:
        return self.is_overdue_on(dt.date.today())

    def check(self, tolerance: Decimal = DEFAULT_TOLERANCE) -> list[Inconsistency]:
        """Arithmetic inconsistencies, in the spirit of EN 16931 BR-CO-10..16.

        Returns an empty list when the invoice adds up (within ``tolerance`` for rounding).
        """
        problems: list[Inconsistency] = []

        def expect(rule: str, name: str, expected: Decimal, actual: Decimal) -> None:
            if abs(expected - actual) > tolerance:
                problems.append(Inconsistency(rule, name, expected, actual))

        for index, item in enumerate(self.items):
            expect(
                "line-net",
                f"items[{index}].net_amount",
                item.quantity * item.unit_price - item.discount,
                item.net,
            )
        if self.items:
            # BR-CO-10: sum of line net amounts.
            expect("BR-CO-10", "subtotal", sum((i.net for i in self.items), ZERO), self.subtotal)
            line_taxes = [i.tax_amount for i in self.items]
            if all(t is not None for t in line_taxes):
                expect(
                    "BR-CO-14",
                    "tax_total",
                    sum((t for t in line_taxes if t is not None), ZERO),
                    self.tax_total,
                )
        # BR-CO-13 and BR-CO-15: total = subtotal - allowances + tax + charges.
        expect(
            "BR-CO-15",
            "total",
            self.subtotal - self.discount_total + self.tax_total + self.adjustment,
            self.total,
        )
        # BR-CO-16: amount due = total - paid amount.
        expect("BR-CO-16", "balance_due", self.total - self.amount_paid, self.balance_due)
        completed = [p.amount for p in self.payments if p.status is PaymentStatus.COMPLETED]
        if completed:
            expect("payments", "amount_paid", sum(completed, ZERO), self.amount_paid)
        return problems

    # ------------------------------------------------------------------ JSON form

    def to_dict(self, *, include_raw: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "number": self.number,
            "status": self.status.value,
            "issue_date": self.issue_date.isoformat(),
            "due_date": _iso(self.due_date),
            "currency": self.currency,
            "client": self.client.to_dict(include_raw=include_raw),
            "items": [item.to_dict() for item in self.items],
            "subtotal": str(self.subtotal),
            "discount_total": str(self.discount_total),
            "tax_total": str(self.tax_total),
            "adjustment": str(self.adjustment),
            "total": str(self.total),
            "amount_paid": str(self.amount_paid),
            "balance_due": str(self.balance_due),
            "payments": [p.to_dict(include_raw=include_raw) for p in self.payments],
            "notes": self.notes,
            "terms": self.terms,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
            "source": None if self.source is None else self.source.to_dict(),
            "extra": _jsonable(self.extra),
        }
        if include_raw:
            data["raw"] = _thaw(self.raw)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Invoice:
        return cls(
            id=data.get("id"),
            number=data["number"],
            status=InvoiceStatus.parse(data.get("status", "open")),
            issue_date=_date(data["issue_date"], "issue_date"),
            due_date=_opt_date(data.get("due_date"), "due_date"),
            currency=data["currency"],
            client=Client.from_dict(data["client"]),
            items=[LineItem.from_dict(i) for i in data.get("items") or ()],
            subtotal=_dec(data.get("subtotal", "0"), "subtotal"),
            discount_total=_dec(data.get("discount_total", "0"), "discount_total"),
            tax_total=_dec(data.get("tax_total", "0"), "tax_total"),
            adjustment=_dec(data.get("adjustment", "0"), "adjustment"),
            total=_dec(data.get("total", "0"), "total"),
            amount_paid=_dec(data.get("amount_paid", "0"), "amount_paid"),
            balance_due=_dec(data.get("balance_due", "0"), "balance_due"),
            payments=[Payment.from_dict(p) for p in data.get("payments") or ()],
            notes=data.get("notes"),
            terms=data.get("terms"),
            created_at=_opt_datetime(data.get("created_at"), "created_at"),
            updated_at=_opt_datetime(data.get("updated_at"), "updated_at"),
            source=_opt_ref(data.get("source")),
            raw=freeze_raw(data.get("raw")),
            extra=dict(data.get("extra") or {}),
        )

    # ------------------------------------------------------------------ building

    @classmethod
    def build(
        cls,
        *,
        number: str,
        issue_date: dt.date,
        currency: str,
        client: Client,
        items: list[LineItem],
        discount_total: Decimal = ZERO,
        adjustment: Decimal = ZERO,
        amount_paid: Decimal = ZERO,
        status: InvoiceStatus | None = None,
        **kwargs: Any,
    ) -> Invoice:
        """An invoice whose totals are computed from its lines (tax from each line's rates).

        Handy for applications and tests; backends read totals as the remote states them.
        """
        subtotal = sum((i.net for i in items), ZERO)
        for item in items:
            if item.tax_amount is None:
                item.tax_amount = sum((item.net * t.rate / 100 for t in item.taxes), ZERO)
        tax_total = sum((i.tax_amount or ZERO for i in items), ZERO)
        total = subtotal - discount_total + tax_total + adjustment
        if status is None:
            status = InvoiceStatus.from_amounts(total, amount_paid)
        return cls(
            number=number,
            issue_date=issue_date,
            currency=currency,
            client=client,
            items=items,
            subtotal=subtotal,
            discount_total=discount_total,
            tax_total=tax_total,
            adjustment=adjustment,
            total=total,
            amount_paid=amount_paid,
            balance_due=total - amount_paid,
            status=status,
            **kwargs,
        )

    def copy(self, **changes: Any) -> Invoice:
        """A deep copy (through the JSON form, raw included) with ``changes`` applied."""
        clone = Invoice.from_dict(self.to_dict(include_raw=True))
        return dataclasses.replace(clone, **changes) if changes else clone
