"""Tryton rows (``search_read`` answers, decoded from the wire) → the neutral model.

Rows come with nested reads: a field path ``party.name`` answers under the key
``party.`` (a dict, or a list of dicts for a one2many), as ``ModelStorage.read`` does.
The schemas are pure: what they need besides the row (which payment method a journal
stands for) is in the :class:`TrytonContext`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from marshmallow import ValidationError, post_load

from invoicing_bridge.models import (
    Address,
    Client,
    Invoice,
    InvoiceStatus,
    LineItem,
    Payment,
    RecordRef,
    TaxRate,
)
from invoicing_bridge.schemas.base import BackendSchema, SchemaContext
from invoicing_bridge.schemas.fields import Date, DateTime, Money, RemoteId, Text, slugify

__all__ = [
    "CLIENT_FIELDS",
    "INVOICE_FIELDS",
    "MARKER",
    "TrytonClientSchema",
    "TrytonContext",
    "TrytonInvoiceSchema",
    "parse_marker",
]

ZERO = Decimal("0")
#: A line the backend added for what Tryton has no field for carries this in its note.
MARKER = "invoicing-bridge:"
_MARKER_ITEM = re.compile(r"(\w+)=([^;\s]+)")

_PARTY = [
    "name",
    "email",
    "phone",
    "identifiers.code",
    "identifiers.type",
    "addresses.street",
    "addresses.city",
    "addresses.postal_code",
    "addresses.country.code",
]
#: What one ``party.party`` read asks for.
CLIENT_FIELDS = ["id", *_PARTY, "contact_mechanisms.type", "contact_mechanisms.value"]
#: What one ``account.invoice`` read asks for: the invoice with its lines, taxes,
#: payments and party in one request.
INVOICE_FIELDS = [
    "id",
    "type",
    "number",
    "reference",
    "state",
    "invoice_date",
    "payment_term_date",
    "currency.code",
    "currency.digits",
    "comment",
    "description",
    "untaxed_amount",
    "tax_amount",
    "total_amount",
    "create_date",
    "write_date",
    *(f"party.{name}" for name in _PARTY),
    "lines.type",
    "lines.description",
    "lines.quantity",
    "lines.unit_price",
    "lines.amount",
    "lines.note",
    "lines.unit.symbol",
    "lines.product.code",
    "lines.taxes.name",
    "lines.taxes.rate",
    "lines.taxes.type",
    "payment_lines.debit",
    "payment_lines.credit",
    "payment_lines.amount_second_currency",
    "payment_lines.second_currency.code",
    "payment_lines.date",
    "payment_lines.journal.name",
    "payment_lines.move_description_used",
    "lines_to_pay.maturity_date",
    # A cancelled invoice whose cancelling move is another invoice's (a credit note's)
    # was refunded by the Credit wizard's "with refund".
    "cancel_move.origin",
]


def parse_marker(note: Any) -> dict[str, str]:
    """The ``key=value`` pairs of a line's note written by this backend, else ``{}``."""
    if not isinstance(note, str) or MARKER not in note:
        return {}
    text = note[note.index(MARKER) + len(MARKER) :]
    return dict(_MARKER_ITEM.findall(text))


@dataclass(frozen=True, kw_only=True)
class TrytonContext(SchemaContext):
    """What loads need: the payment method each journal stands for (journal id → name)."""

    backend: str = "tryton"
    journal_methods: Mapping[int, str] = field(default_factory=lambda: MappingProxyType({}))


def _nested(data: Mapping[str, Any], name: str) -> Any:
    return data.get(f"{name}.")


def _rows(value: Any) -> list[Mapping[str, Any]]:
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [v for v in value if isinstance(v, Mapping)]
    return []


def _dec(value: Any, name: str) -> Decimal:
    if value is None:
        return ZERO
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    raise ValidationError(f"expected a number, got {type(value).__name__}", name)


def _quantity(value: Any) -> Decimal:
    # Tryton stores a line's quantity in a Float field: 2.0 arrives as the JSON number
    # 2.0, parsed to Decimal("2.0") by the HTTP layer. Trailing zeros are dropped so 2
    # reads back as 2.
    number = _dec(value, "quantity")
    if number == number.to_integral_value():
        return number.quantize(Decimal(1))
    return number.normalize()


def _refunded(raw: Mapping[str, Any], invoice_id: str) -> bool:
    """Whether a cancelled invoice was refunded: its cancelling move is the move of
    another invoice (the credit note the Credit wizard posted "with refund"), not a
    reversal of its own move (``origin`` is ``"account.invoice,<id>"``)."""
    origin = (_nested(raw, "cancel_move") or {}).get("origin")
    if not isinstance(origin, str) or not origin.startswith("account.invoice,"):
        return False
    return origin.split(",", 1)[1] != invoice_id


def _client(data: Mapping[str, Any], backend: str, raw: Any = None) -> Client:
    identifiers = _rows(_nested(data, "identifiers"))
    addresses = _rows(_nested(data, "addresses"))
    address = None
    if addresses:
        first = addresses[0]
        street = (first.get("street") or "").split("\n")
        country = _nested(first, "country")
        address = Address(
            line1=street[0] or None,
            line2="\n".join(street[1:]) or None,
            city=first.get("city") or None,
            postal_code=first.get("postal_code") or None,
            country=(country or {}).get("code") or None,
        )
        if address.is_empty():
            address = None
    id = str(data["id"]) if data.get("id") is not None else None
    name = str(data.get("name") or "")
    phone = data.get("phone") or None
    if phone is None:
        for mechanism in _rows(_nested(data, "contact_mechanisms")):
            if mechanism.get("type") == "mobile" and mechanism.get("value"):
                phone = mechanism["value"]
                break
    return Client(
        id=id,
        name=name,
        company_name=name or None,
        email=data.get("email") or None,
        phone=phone,
        tax_number=(identifiers[0].get("code") or None) if identifiers else None,
        address=address,
        source=None if id is None else RecordRef(backend, id),
        raw=raw if raw is not None else {},
        extra={"identifier_type": identifiers[0].get("type")}
        if identifiers and identifiers[0].get("type")
        else {},
    )


class TrytonClientSchema(BackendSchema[TrytonContext]):
    """A ``party.party`` row (:data:`CLIENT_FIELDS`)."""

    id = RemoteId(required=True)

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> Client:
        raw = data["raw"]
        return _client(raw, self.context.backend, raw)


class TrytonInvoiceSchema(BackendSchema[TrytonContext]):
    """An ``account.invoice`` row (:data:`INVOICE_FIELDS`).

    - ``number``: the number the invoice was written with (Tryton keeps it in
      ``reference``: its own ``number`` is read-only and set by its sequence when it is
      posted), else Tryton's number; Tryton's is in ``extra["tryton_number"]``.
    - status: draft → draft, validated and posted → open, partially paid or paid (by
      what is paid), paid → paid (overpaid when more was paid), cancelled → void, or
      refunded when a credit note's move cancelled it.
    - lines this backend added for an invoice discount or an adjustment (marked in their
      note) come back as ``discount_total`` and ``adjustment``; a line discount written
      into the price comes back as price and discount.
    - payments: the invoice's payment lines (``account.move.line``), in the invoice's
      currency; ``method`` is the payment method of the line's journal, as a slug.
    """

    id = RemoteId(required=True)
    number = Text()
    reference = Text()
    state = Text(required=True)
    invoice_date = Date()
    payment_term_date = Date()
    comment = Text()
    description = Text()
    untaxed_amount = Money(load_default=ZERO)
    tax_amount = Money(load_default=ZERO)
    total_amount = Money(load_default=ZERO)
    create_date = DateTime()
    write_date = DateTime()

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> Invoice:
        raw: Mapping[str, Any] = data["raw"]
        if raw.get("type") not in (None, "out"):
            raise ValidationError("not a customer invoice", "type")
        id = data["id"]
        currency = (_nested(raw, "currency") or {}).get("code")
        if not currency:
            raise ValidationError("missing", "currency")
        party = _nested(raw, "party")
        if not isinstance(party, Mapping):
            raise ValidationError("missing", "party")
        items, discount_total, adjustment = self._items(raw)
        tax_total = data["tax_amount"]
        total = data["total_amount"]
        subtotal = sum((i.net for i in items), ZERO)
        line_taxes = [i.tax_amount for i in items]
        if sum((t or ZERO for t in line_taxes), ZERO) != tax_total:
            # Tryton rounds tax per invoice (or per line by configuration): when the
            # lines' own roundings do not add up to its tax, they are not stated.
            for item in items:
                item.tax_amount = None
        payments = self._payments(raw, id, currency)
        paid = sum((p.amount for p in payments), ZERO)
        state = data["state"]
        if state == "draft":
            status = InvoiceStatus.DRAFT
        elif state == "cancelled":
            status = InvoiceStatus.REFUNDED if _refunded(raw, id) else InvoiceStatus.VOID
        elif state == "paid":
            status = InvoiceStatus.PAID if paid <= total else InvoiceStatus.OVERPAID
        elif state in ("validated", "posted"):
            # Tryton moves a paid invoice to "paid" in a queued task: until a worker runs
            # it, a posted invoice with nothing left to pay is paid all the same.
            status = InvoiceStatus.from_amounts(total, paid)
        else:
            status = InvoiceStatus.UNKNOWN
        maturities = [
            m["maturity_date"]
            for m in _rows(_nested(raw, "lines_to_pay"))
            if m.get("maturity_date")
        ]
        due = min(maturities) if maturities else data["payment_term_date"]
        issue = data["invoice_date"]
        if issue is None:
            if data["create_date"] is None:
                raise ValidationError("missing", "invoice_date")
            issue = data["create_date"].date()
        tryton_number = data["number"]
        number = data["reference"] or tryton_number or ""
        extra: dict[str, Any] = {"state": state}
        if tryton_number:
            extra["tryton_number"] = tryton_number
        return Invoice(
            id=id,
            number=number,
            status=status,
            issue_date=issue,
            due_date=due,
            currency=currency,
            client=_client(party, self.context.backend),
            items=items,
            subtotal=subtotal,
            discount_total=discount_total,
            tax_total=tax_total,
            adjustment=adjustment,
            total=total,
            amount_paid=paid,
            balance_due=ZERO
            if status in (InvoiceStatus.VOID, InvoiceStatus.REFUNDED)
            else total - paid,
            payments=payments,
            notes=data["comment"],
            terms=data["description"],
            created_at=data["create_date"],
            updated_at=data["write_date"],
            source=self.ref(id),
            raw=raw,
            extra=extra,
        )

    def _items(self, raw: Mapping[str, Any]) -> tuple[list[LineItem], Decimal, Decimal]:
        items: list[LineItem] = []
        discount_total = ZERO
        adjustment = ZERO
        for index, line in enumerate(_rows(_nested(raw, "lines"))):
            if line.get("type", "line") != "line":
                continue  # titles, comments and subtotals carry no money
            marker = parse_marker(line.get("note"))
            amount = _dec(line.get("amount"), f"lines.{index}.amount")
            if marker.get("role") == "discount_total":
                discount_total -= amount
                continue
            if marker.get("role") == "adjustment":
                adjustment += amount
                continue
            quantity = _quantity(line.get("quantity"))
            unit_price = _dec(line.get("unit_price"), f"lines.{index}.unit_price")
            discount = ZERO
            if "unit_price" in marker and "discount" in marker:
                unit_price = Decimal(marker["unit_price"])
                discount = Decimal(marker["discount"])
            taxes: list[TaxRate] = []
            tax_amount = ZERO
            for tax in _rows(_nested(line, "taxes")):
                rate = _dec(tax.get("rate"), f"lines.{index}.taxes.rate")
                if tax.get("type", "percentage") != "percentage":
                    raise ValidationError(
                        f"a {tax.get('type')} tax has no rate in percent",
                        f"lines.{index}.taxes",
                    )
                percent = (rate * 100).normalize()
                if percent == percent.to_integral_value():
                    percent = percent.quantize(Decimal(1))
                taxes.append(TaxRate(str(tax.get("name") or ""), percent))
                tax_amount += (amount * rate).quantize(Decimal("0.01"))
            unit = _nested(line, "unit")
            product = _nested(line, "product")
            items.append(
                LineItem(
                    name=str(line.get("description") or "").split("\n")[0],
                    description="\n".join(str(line.get("description") or "").split("\n")[1:])
                    or None,
                    quantity=quantity,
                    unit_price=unit_price,
                    discount=discount,
                    taxes=taxes,
                    net_amount=amount,
                    tax_amount=tax_amount,
                    unit=(unit or {}).get("symbol"),
                    sku=(product or {}).get("code"),
                    extra={"line_id": str(line["id"])} if line.get("id") is not None else {},
                )
            )
        return items, discount_total, adjustment

    def _payments(self, raw: Mapping[str, Any], invoice_id: str, currency: str) -> list[Payment]:
        payments: list[Payment] = []
        for line in _rows(_nested(raw, "payment_lines")):
            second = (_nested(line, "second_currency") or {}).get("code")
            if second == currency and line.get("amount_second_currency") is not None:
                amount = -_dec(line["amount_second_currency"], "amount_second_currency")
            else:
                amount = _dec(line.get("credit"), "credit") - _dec(line.get("debit"), "debit")
            journal = _nested(line, "journal") or {}
            name = self.context.journal_methods.get(journal.get("id", -1)) or journal.get("name")
            # The neutral method is a slug, as the other backends give it: Tryton's
            # "Bank transfer" reads "bank_transfer"; the name is in extra.
            payments.append(
                Payment(
                    id=str(line["id"]),
                    invoice_id=invoice_id,
                    amount=amount,
                    currency=currency,
                    date=line["date"],
                    method=slugify(str(name or "")) or "unknown",
                    reference=line.get("move_description_used") or None,
                    source=self.ref(str(line["id"])),
                    raw=line,
                    extra={"method_name": name} if name else {},
                )
            )
        return payments
