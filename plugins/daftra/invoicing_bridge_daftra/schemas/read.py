"""Daftra ``/api2`` records → the neutral model (``load``).

Every schema accepts a bare record (``{"id": "1", ...}``) or the record wrapped in its
model key (``{"Invoice": {...}}``, one row of a list); an invoice's ``Client``,
``InvoiceItem``, ``InvoicePayment`` and ``InvoiceTax`` may be nested inside ``Invoice``
(single GET) or sit beside it (list rows) (api-notes §3). Numbers may be strings or JSON
numbers; ``null``, ``""`` and ``"None"`` mean absent, and ids ``"0"``/``0`` mean no id
(api-notes §6.3).

What a load needs from the account (the display date format, the tax table) is in the
schema's :class:`DaftraContext`, given to its constructor. A load never does I/O: when
the context says something was not fetched yet and the payload needs it, the load raises
:class:`~invoicing_bridge_daftra.dates.ContextPending` and the mapper fetches it first.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from marshmallow import ValidationError, fields, post_load

from invoicing_bridge.backends.http import loads_json
from invoicing_bridge.exceptions import MappingError
from invoicing_bridge.models import (
    ZERO,
    Address,
    Client,
    Invoice,
    InvoiceStatus,
    LineItem,
    Payment,
    PaymentStatus,
    TaxRate,
)
from invoicing_bridge.schemas.base import BackendSchema, SchemaContext, as_rows
from invoicing_bridge.schemas.fields import (
    Date,
    DateTime,
    Money,
    RemoteId,
    StatusMap,
    Text,
    slugify,
    to_decimal,
    to_flag,
    to_id,
    to_text,
)

from ..dates import ContextPending, DateReader
from ..qr import QRDecodeError, decode_qr_url

__all__ = [
    "FOUR_PLACES",
    "INVOICE_SIBLINGS",
    "Amount",
    "DaftraClientPaymentSchema",
    "DaftraClientSchema",
    "DaftraContext",
    "DaftraInvoiceItemSchema",
    "DaftraInvoiceSchema",
    "DaftraPaymentSchema",
    "DaftraTaxSchema",
    "TaxInfo",
    "daftra_method",
    "display_name",
    "invoice_status",
    "payment_status",
    "slug",
    "to_int_or_none",
]

FOUR_PLACES = Decimal("0.0001")
#: Associations of an invoice, nested in ``Invoice`` or beside it.
INVOICE_SIBLINGS = (
    "Client",
    "InvoiceItem",
    "InvoicePayment",
    "InvoiceTax",
    "InvoiceCustomField",
)
_TAX_LABEL = re.compile(r"vat|tax|tin|trn|gst|ضريب", re.IGNORECASE)


# --------------------------------------------------------------------------- context


@dataclass(frozen=True)
class TaxInfo:
    """One tax of the account (``/taxes``): ``rate`` in percent."""

    id: str
    name: str
    rate: Decimal
    included: bool = False

    def as_rate(self) -> TaxRate:
        return TaxRate(self.name, self.rate)


@dataclass(frozen=True, kw_only=True)
class DaftraContext(SchemaContext):
    """What Daftra's schemas use besides the payload, fetched by the backend beforehand.

    - ``dates``: the reader of the account's display dates (its pattern, or "not asked
      yet": then a display date raises ContextPending("date_format"));
    - ``taxes``: the account's taxes by id (read-only), or None when not read;
    - ``taxes_final``: False while asking ``/taxes`` (again) may still tell an unknown
      tax id: a tax id the table lacks then raises ContextPending("taxes"). Offline
      (parsing saved payloads) it is True and rates come from the payload itself.
    """

    backend: str = "daftra"
    dates: DateReader = field(default_factory=DateReader)
    taxes: Mapping[str, TaxInfo] | None = None
    taxes_final: bool = True

    def read_date(self, text: str) -> dt.date:
        return self.dates.date(text)

    def read_datetime(self, text: str) -> dt.datetime:
        return self.dates.datetime(text)

    def tax(self, tax_id: str) -> TaxInfo | None:
        """The account's tax ``tax_id``; None when the table (final) does not have it."""
        info = None if self.taxes is None else self.taxes.get(tax_id)
        if info is None and not self.taxes_final:
            raise ContextPending("taxes")
        return info


# --------------------------------------------------------------------------- values


def to_int(value: Any) -> int | None:
    number = to_decimal(value)
    if number is None:
        return None
    if number != number.to_integral_value():
        raise ValidationError(f"{value!r} is not a whole number")
    return int(number)


def to_int_or_none(value: Any) -> int | None:
    try:
        return to_int(value)
    except ValidationError:
        return None


def tidy_rate(value: Decimal) -> Decimal:
    """``15.000`` → ``15``, ``2.50`` → ``2.5`` (never an exponent)."""
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


#: Daftra's payment method names that differ from the neutral slugs (GUESS from public
#: integrations: Daftra lists card payments as ``credit_card``).
_NEUTRAL_METHOD = {"credit_card": "card", "bank": "bank_transfer", "check": "cheque"}
_DAFTRA_METHOD = {"card": "credit_card"}


def slug(value: str | None) -> str:
    """A payment method name as the neutral model's lower-case slug."""
    text = slugify(value)
    return _NEUTRAL_METHOD.get(text, text) or "unknown"


def daftra_method(method: str) -> str:
    """The Daftra ``payment_method`` for a neutral slug."""
    return _DAFTRA_METHOD.get(method, method)


def display_name(company: str | None, first: str | None, last: str | None) -> str | None:
    """Business name, else "first last"."""
    if company and company.strip():
        return company.strip()
    joined = " ".join(part.strip() for part in (first, last) if part and part.strip())
    return joined or None


# --------------------------------------------------------------------------- status


_INVOICE_STATES = StatusMap(
    {
        0: InvoiceStatus.OPEN,
        1: InvoiceStatus.PARTIALLY_PAID,
        2: InvoiceStatus.PAID,
        3: InvoiceStatus.REFUNDED,
        4: InvoiceStatus.OVERPAID,
        -1: InvoiceStatus.DRAFT,
    },
    unknown=InvoiceStatus.UNKNOWN,
    absent=InvoiceStatus.OPEN,  # null / '' = Unpaid
)
#: ``InvoicePayment.status``: 0 failed, 1 completed, 2 pending, 3 not completed (an
#: online payment that never went through).
PAYMENT_STATES = StatusMap(
    {
        1: PaymentStatus.COMPLETED,
        2: PaymentStatus.PENDING,
        0: PaymentStatus.FAILED,
        3: PaymentStatus.FAILED,
    },
    unknown=PaymentStatus.UNKNOWN,
)


def invoice_status(draft: Any, payment_status: Any) -> InvoiceStatus:
    """``draft`` wins over ``payment_status`` (api-notes §4); unmapped values are UNKNOWN."""
    is_draft = to_flag(draft)
    if is_draft is None:
        return InvoiceStatus.UNKNOWN
    if is_draft:
        return InvoiceStatus.DRAFT
    return _INVOICE_STATES.status_of(payment_status)


def payment_status(value: Any) -> PaymentStatus:
    """``InvoicePayment.status`` as a neutral status."""
    return PAYMENT_STATES.status_of(value)


# --------------------------------------------------------------------------- fields


class Amount(Money):
    """A string or a number in, an exact Decimal out; four decimals when written (Daftra
    stores amounts with four), rounded half up."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(FOUR_PLACES, **kwargs)


# --------------------------------------------------------------------------- reading


class DaftraTaxSchema(BackendSchema[DaftraContext]):
    """``Tax`` (``/taxes``) → :class:`TaxInfo`."""

    envelope = "Tax"

    id = RemoteId()
    name = Text()
    value = Amount()
    included = fields.Raw(load_default=None)

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> TaxInfo:
        if data["id"] is None or data["value"] is None:
            raise ValidationError("a tax needs an id and a value")
        return TaxInfo(
            id=data["id"],
            name=data["name"] or f"Tax {data['id']}",
            rate=tidy_rate(data["value"]),
            included=bool(to_flag(data["included"])),
        )


class DaftraClientSchema(BackendSchema[DaftraContext]):
    """``Client`` → :class:`~invoicing_bridge.models.Client`.

    The display name is the business name, else "first last" (api-notes §6.7). The tax
    number is the ``bn1``/``bn2`` whose label names a tax (VAT, TRN, ضريبة), else ``bn1``.
    ``created`` (a client's only creation time) is kept in ``extra["created"]``.
    """

    envelope = "Client"

    id = RemoteId()
    client_number = Text()
    business_name = Text()
    first_name = Text()
    last_name = Text()
    email = Text()
    phone1 = Text()
    phone2 = Text()
    address1 = Text()
    address2 = Text()
    city = Text()
    state = Text()
    postal_code = Text()
    country_code = Text()
    default_currency_code = Text()
    bn1 = Text()
    bn1_label = Text()
    bn2 = Text()
    bn2_label = Text()
    type = Text()
    created = DateTime(reader="read_datetime")

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> Client:
        tax_number, tax_field = _tax_number(data)
        extra: dict[str, Any] = {}
        if data["client_number"]:
            extra["client_number"] = data["client_number"]
        if data["created"] is not None:
            # A client's only creation time (api-notes "Findings": client rows).
            extra["created"] = data["created"]
        if tax_field:
            extra["tax_number_field"] = tax_field
        return Client(
            id=data["id"],
            name=display_name(data["business_name"], data["first_name"], data["last_name"])
            or data["email"]
            or "",
            company_name=data["business_name"],
            first_name=data["first_name"],
            last_name=data["last_name"],
            email=data["email"],
            phone=data["phone1"] or data["phone2"],
            tax_number=tax_number,
            address=_address(data, ""),
            currency=data["default_currency_code"],
            source=self.ref(data["id"]),
            raw=data["raw"],
            extra=extra,
        )


def _tax_number(data: Mapping[str, Any]) -> tuple[str | None, str | None]:
    for name in ("bn1", "bn2"):
        label = data.get(f"{name}_label")
        if data.get(name) and label and _TAX_LABEL.search(label):
            return data[name], name
    if data.get("bn1"):
        return data["bn1"], "bn1"
    return None, None


def _address(data: Mapping[str, Any], prefix: str) -> Address | None:
    address = Address(
        line1=data.get(f"{prefix}address1"),
        line2=data.get(f"{prefix}address2"),
        city=data.get(f"{prefix}city"),
        state=data.get(f"{prefix}state"),
        postal_code=data.get(f"{prefix}postal_code"),
        country=data.get(f"{prefix}country_code"),
    )
    return None if address.is_empty() else address


class _PaymentFields(BackendSchema[DaftraContext]):
    id = RemoteId()
    invoice_id = RemoteId()
    payment_method = Text()
    amount = Amount()
    transaction_id = Text()
    treasury_id = RemoteId()
    date = DateTime(reader="read_datetime")
    created = DateTime(reader="read_datetime")
    status = fields.Raw(load_default=None)
    notes = Text()
    receipt_notes = Text()
    currency_code = Text()

    def _payment(self, data: Mapping[str, Any], extra: dict[str, Any]) -> Payment:
        if data["amount"] is None:
            raise ValidationError({"amount": ["a payment needs an amount"]})
        when = data["date"] or data["created"]
        if when is None:
            raise ValidationError({"date": ["a payment needs a date"]})
        method = data["payment_method"]
        if method and slug(method) != method:
            extra["payment_method"] = method
        if data["treasury_id"]:
            extra["treasury_id"] = data["treasury_id"]
        if data["receipt_notes"]:
            extra["receipt_notes"] = data["receipt_notes"]
        return Payment(
            id=data["id"],
            invoice_id=data["invoice_id"],
            amount=data["amount"],
            currency=data["currency_code"],
            date=when.date(),
            method=slug(method),
            reference=data["transaction_id"],
            notes=data["notes"],
            status=payment_status(data["status"]),
            source=self.ref(data["id"]),
            raw=data["raw"],
            extra=extra,
        )


class DaftraPaymentSchema(_PaymentFields):
    """``InvoicePayment`` → :class:`~invoicing_bridge.models.Payment`."""

    envelope = "InvoicePayment"

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> Payment:
        return self._payment(data, {"kind": "invoice_payment"})


class DaftraClientPaymentSchema(_PaymentFields):
    """``ClientPayment`` (an account-level receipt, ``invoice_id`` null) → Payment.

    ``extra`` carries ``client_id`` and the ``client_balance`` found in the
    ``extra_details`` JSON text (api-notes §5).
    """

    envelope = "ClientPayment"

    client_id = RemoteId()
    extra_details = fields.Raw(load_default=None)

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> Payment:
        extra: dict[str, Any] = {"kind": "client_payment"}
        if data["client_id"]:
            extra["client_id"] = data["client_id"]
        details = data["extra_details"]
        if isinstance(details, str) and details.strip():
            try:
                details = loads_json(details)
            except ValueError:
                extra["extra_details"] = details
                details = None
        if isinstance(details, Mapping) and details.get("client_balance") is not None:
            try:
                extra["client_balance"] = to_decimal(details["client_balance"])
            except ValidationError:
                extra["client_balance_raw"] = str(details["client_balance"])
        return self._payment(data, extra)


class DaftraInvoiceItemSchema(BackendSchema[DaftraContext]):
    """``InvoiceItem`` → :class:`~invoicing_bridge.models.LineItem`.

    The schema reads the fields; :meth:`DaftraInvoiceSchema.line_item` builds the line,
    because a line's tax rates may come from its invoice's ``InvoiceTax`` rows.

    A percentage discount (``discount_type`` 1) becomes an amount, the percentage kept in
    ``extra["discount_percent"]``. ``tax1``/``tax2`` are tax ids resolved to
    ``TaxRate(name, rate)``: from the account's ``/taxes`` when online, else from the
    invoice's ``InvoiceTax`` rows or the line's ``tax1_percent``; failing those the rate
    is derived from ``summary_tax1`` and the line says so in ``extra["tax_note"]``.
    """

    id = RemoteId()
    item = Text()
    description = Text()
    unit_price = Amount()
    quantity = Amount()
    discount = Amount()
    discount_type = fields.Raw(load_default=None)
    calculated_discount = Amount()
    subtotal = Amount()
    tax1 = RemoteId()
    tax2 = RemoteId()
    summary_tax1 = Amount()
    summary_tax2 = Amount()
    tax1_percent = Amount()
    tax2_percent = Amount()
    product_id = RemoteId()
    product = fields.Raw(data_key="Product", load_default=None)


def _line_item(data: Mapping[str, Any], lookup: _LineTaxes) -> LineItem:
    """A loaded ``InvoiceItem`` as a LineItem; raises ValidationError, MappingError."""
    quantity, price = data["quantity"], data["unit_price"]
    if quantity is None or price is None:
        missing = [n for n in ("quantity", "unit_price") if data[n] is None]
        raise ValidationError({name: ["missing"] for name in missing})
    gross = quantity * price
    extra: dict[str, Any] = {}
    rate = data["discount"] or ZERO
    discount = rate
    if rate and to_int_or_none(data["discount_type"]) == 1:
        computed = data["calculated_discount"]
        discount = computed if computed is not None else gross * rate / 100
        extra["discount_percent"] = rate
    net = gross - discount
    included = sum(
        (lookup.included_rate(data[f"tax{n}"]) for n in (1, 2) if data[f"tax{n}"] is not None),
        ZERO,
    )
    if included:
        # Tax-inclusive taxes (included 1): the price holds the tax, the net is price ÷
        # (1 + rate) (api-notes "Findings"). The line is read net of it, to four places,
        # the prices as entered kept in extra (a write sends them back that way).
        extra.update(price_includes_tax=True, unit_price_with_tax=price)
        if discount:
            extra["discount_with_tax"] = discount
        price, discount = (_without_tax(v, included) for v in (price, discount))
        stated = data["subtotal"]
        net = (
            stated
            if stated is not None
            else _without_tax(gross - extra.get("discount_with_tax", ZERO), included)
        )
    elif data["subtotal"] is not None and data["subtotal"] != net:
        extra["daftra_subtotal"] = data["subtotal"]
    taxes: list[TaxRate] = []
    amounts: list[Decimal | None] = []
    for n in (1, 2):
        tax_id = data[f"tax{n}"]
        if tax_id is None:
            continue
        taxes.append(lookup.rate(tax_id, n, data, net, extra))
        amounts.append(data[f"summary_tax{n}"])
    if not taxes:
        tax_amount: Decimal | None = ZERO
    elif all(a is not None for a in amounts):
        tax_amount = sum((a for a in amounts if a is not None), ZERO)
    else:
        tax_amount = None
    product = data["product"] if isinstance(data["product"], Mapping) else {}
    name = data["item"] or to_text(product.get("name")) or ""
    return LineItem(
        name=name,
        description=data["description"],
        quantity=quantity,
        unit_price=price,
        discount=discount,
        taxes=taxes,
        net_amount=net,
        tax_amount=tax_amount,
        product_id=data["product_id"],
        sku=to_text(product.get("product_code")),
        extra=extra,
    )


def _without_tax(amount: Decimal, included: Decimal) -> Decimal:
    """A tax-inclusive amount net of ``included`` percent, to four places."""
    return (amount * 100 / (100 + included)).quantize(FOUR_PLACES, ROUND_HALF_UP)


@dataclass(frozen=True)
class _LineTaxes:
    """Where a line's tax rates come from: the account's tax table (the context), else
    the invoice's ``InvoiceTax`` rows, else the line's ``tax{n}_percent``, else derived
    from ``summary_tax{n}`` over the line's share of the taxed base."""

    context: DaftraContext
    invoice_taxes: Sequence[Any]
    base_share: Decimal
    path: str

    def included_rate(self, tax_id: str) -> Decimal:
        """The rate of tax ``tax_id`` when it is tax-inclusive (``included`` 1 in the
        account's taxes, else in the invoice's ``InvoiceTax`` row), else 0."""
        info = self.context.tax(tax_id)
        if info is not None:
            return info.rate if info.included else ZERO
        for row in self.invoice_taxes:
            if isinstance(row, Mapping) and isinstance(row.get("InvoiceTax"), Mapping):
                row = row["InvoiceTax"]
            if isinstance(row, Mapping) and to_id(row.get("tax_id")) == tax_id:
                value = to_decimal(row.get("value", row.get("percent")))
                return value if value is not None and to_flag(row.get("included")) else ZERO
        return ZERO

    def rate(
        self, tax_id: str, n: int, data: Mapping[str, Any], net: Decimal, extra: dict[str, Any]
    ) -> TaxRate:
        info = self.context.tax(tax_id)
        if info is not None:
            return info.as_rate()
        for row in self.invoice_taxes:
            if not isinstance(row, Mapping):
                continue
            if isinstance(row.get("InvoiceTax"), Mapping):
                row = row["InvoiceTax"]
            if to_id(row.get("tax_id")) != tax_id:
                continue
            value = to_decimal(row.get("value", row.get("percent")))
            if value is not None:
                return TaxRate(to_text(row.get("name")) or f"Tax {tax_id}", tidy_rate(value))
        percent = data[f"tax{n}_percent"]
        if percent is not None:
            return TaxRate(f"Tax {tax_id}", tidy_rate(percent))
        amount = data[f"summary_tax{n}"]
        base = net * self.base_share
        if amount is not None and base:
            rate = tidy_rate((amount * 100 / base).quantize(Decimal("0.01")))
            extra["tax_note"] = (
                f"rate of tax {tax_id} derived from summary_tax{n}: the account's taxes "
                "were not available"
            )
            return TaxRate(f"Tax {tax_id}", rate)
        raise MappingError(
            f"tax id {tax_id}: its rate is unknown (no /taxes, InvoiceTax or tax{n}_percent)",
            backend=self.context.backend,
            field=f"{self.path}.tax{n}",
        )


class DaftraInvoiceSchema(BackendSchema[DaftraContext]):
    """``Invoice`` (with its client, items, payments, taxes) → Invoice.

    Totals are read as Daftra states them (``summary_*``); the tax total is the sum of the
    lines' ``summary_tax1``/``summary_tax2`` when every line has them, else
    ``summary_total - summary_subtotal + summary_discount - adjustment`` (VISTA:
    invoice-level ``summary_tax1`` is often null). The adjustment is ``shipping_amount``
    plus ``adjustment_value`` where the record has it (its ``adjustment_label`` kept in
    ``extra["adjustment_label"]``). The due date is
    ``date + due_after`` days. ``extra`` keeps ``public_url`` (``invoice_html_url``),
    ``pdf_url``, ``qr_code_url`` and the decoded e-invoice QR (``einvoice_qr``), or a note
    (``einvoice_qr_error``) when the QR cannot be read.
    """

    envelope = "Invoice"
    siblings = INVOICE_SIBLINGS

    id = RemoteId()
    no = Text()
    type = fields.Raw(load_default=None)
    client_id = RemoteId()
    currency_code = Text()
    date = Date(reader="read_date")
    due_after = fields.Raw(load_default=None)
    payment_status = fields.Raw(load_default=None)
    draft = fields.Raw(load_default=None)
    discount = Amount()
    discount_amount = Amount()
    shipping_amount = Amount()
    adjustment_label = Text()
    adjustment_value = Amount()
    summary_subtotal = Amount()
    summary_discount = Amount()
    summary_total = Amount()
    summary_paid = Amount()
    summary_unpaid = Amount()
    summary_tax1 = Amount()
    summary_tax2 = Amount()
    notes = Text()
    terms = Text()
    created = DateTime(reader="read_datetime")
    modified = DateTime(reader="read_datetime")
    client_business_name = Text()
    client_first_name = Text()
    client_last_name = Text()
    client_email = Text()
    client_address1 = Text()
    client_address2 = Text()
    client_city = Text()
    client_state = Text()
    client_postal_code = Text()
    client_country_code = Text()
    qr_code_url = Text()
    invoice_html_url = Text()
    invoice_pdf_url = Text()
    client_row = fields.Raw(data_key="Client", load_default=None)
    item_rows = fields.Raw(data_key="InvoiceItem", load_default=None)
    payment_rows = fields.Raw(data_key="InvoicePayment", load_default=None)
    tax_rows = fields.Raw(data_key="InvoiceTax", load_default=None)

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> Invoice:
        number = data["no"] or data["id"]
        if number is None:
            raise ValidationError({"no": ["an invoice needs a number (no) or an id"]})
        if data["date"] is None:
            raise ValidationError({"date": ["an invoice needs a date"]})
        if data["currency_code"] is None:
            raise ValidationError({"currency_code": ["an invoice needs a currency"]})
        items = self._load_items(data)
        payments = self._load_payments(data)
        subtotal = data["summary_subtotal"]
        if subtotal is None:
            subtotal = sum((item.net for item in items), ZERO)
        # Shipping and the invoice's own adjustment (adjustment_value, signed, untaxed;
        # api-notes "Findings": Adjustment) are both outside the tax: the adjustment.
        adjustment = (data["shipping_amount"] or ZERO) + (data["adjustment_value"] or ZERO)
        discount_total = data["summary_discount"]
        extra: dict[str, Any] = {}
        if data["adjustment_label"] and data["adjustment_value"]:
            extra["adjustment_label"] = data["adjustment_label"]
        percent = data["discount"]
        if percent:
            extra["discount_percent"] = percent
        if discount_total is None:
            discount_total = data["discount_amount"] or (subtotal * (percent or ZERO) / 100)
        line_taxes = [item.tax_amount for item in items]
        stated_total = data["summary_total"]
        if items and all(t is not None for t in line_taxes):
            tax_total = sum((t for t in line_taxes if t is not None), ZERO)
        elif data["summary_tax1"] is not None or data["summary_tax2"] is not None:
            tax_total = (data["summary_tax1"] or ZERO) + (data["summary_tax2"] or ZERO)
        elif stated_total is not None:
            tax_total = stated_total - subtotal + discount_total - adjustment
        else:
            tax_total = ZERO
        total = stated_total
        if total is None:
            total = subtotal - discount_total + tax_total + adjustment
        paid = data["summary_paid"]
        if paid is None:
            paid = sum((p.amount for p in payments if p.status is PaymentStatus.COMPLETED), ZERO)
        balance = data["summary_unpaid"]
        if balance is None:
            balance = total - paid
        self._links(data, extra)
        return Invoice(
            id=data["id"],
            number=number,
            status=invoice_status(data["draft"], data["payment_status"]),
            issue_date=data["date"],
            due_date=_due_date(data["date"], data["due_after"]),
            currency=data["currency_code"],
            client=self._load_client(data),
            items=items,
            subtotal=subtotal,
            discount_total=discount_total,
            tax_total=tax_total,
            adjustment=adjustment,
            total=total,
            amount_paid=paid,
            balance_due=balance,
            payments=payments,
            notes=data["notes"],
            terms=data["terms"],
            created_at=data["created"],
            updated_at=data["modified"],
            source=self.ref(data["id"]),
            raw=data["raw"],
            extra=extra,
        )

    def _load_items(self, data: Mapping[str, Any]) -> list[LineItem]:
        taxes = as_rows(data["tax_rows"])
        share = Decimal(1)
        subtotal, discount = data["summary_subtotal"], data["summary_discount"]
        if subtotal and discount:
            share = (subtotal - discount) / subtotal
        schema = self.nested(DaftraInvoiceItemSchema)
        items: list[LineItem] = []
        for index, row in enumerate(as_rows(data["item_rows"])):
            lookup = _LineTaxes(self.context, taxes, share, f"InvoiceItem[{index}]")
            try:
                items.append(_line_item(schema.load(row), lookup))
            except ValidationError as exc:
                raise ValidationError({"InvoiceItem": {index: exc.messages}}) from None
        return items

    def _load_payments(self, data: Mapping[str, Any]) -> list[Payment]:
        payments: list[Payment] = []
        for index, row in enumerate(as_rows(data["payment_rows"])):
            try:
                payment: Payment = self.nested(DaftraPaymentSchema).load(row)
            except ValidationError as exc:
                raise ValidationError({"InvoicePayment": {index: exc.messages}}) from None
            if payment.invoice_id is None:
                payment.invoice_id = data["id"]
            payments.append(payment)
        return payments

    def _load_client(self, data: Mapping[str, Any]) -> Client:
        nested = data["client_row"]
        client: Client
        if isinstance(nested, Mapping) and nested:
            try:
                client = self.nested(DaftraClientSchema).load(nested)
            except ValidationError as exc:
                raise ValidationError({"Client": exc.messages}) from None
        else:
            client = Client(name="")
        # The client_* fields are the snapshot printed on the invoice: they win.
        company = data["client_business_name"] or client.company_name
        first = data["client_first_name"] or client.first_name
        last = data["client_last_name"] or client.last_name
        client.company_name, client.first_name, client.last_name = company, first, last
        client.name = display_name(company, first, last) or client.name
        client.email = data["client_email"] or client.email
        client.address = _address(data, "client_") or client.address
        client.id = data["client_id"] or client.id
        client.source = self.ref(client.id)
        return client

    @staticmethod
    def _links(data: Mapping[str, Any], extra: dict[str, Any]) -> None:
        if data["invoice_html_url"]:
            extra["public_url"] = data["invoice_html_url"]
        if data["invoice_pdf_url"]:
            extra["pdf_url"] = data["invoice_pdf_url"]
        qr = data["qr_code_url"]
        if qr:
            extra["qr_code_url"] = qr
            try:
                extra["einvoice_qr"] = decode_qr_url(qr)
            except (QRDecodeError, ValueError) as exc:
                extra["einvoice_qr_error"] = f"e-invoice QR not decoded: {exc}"


def _due_date(issued: dt.date, due_after: Any) -> dt.date | None:
    days = to_int_or_none(due_after)
    if days is None or days < 0:
        return None
    return issued + dt.timedelta(days=days)
