"""Marshmallow schemas between Daftra ``/api2`` records and the neutral model, both ways.

Reading (``load``): every schema accepts a bare record (``{"id": "1", ...}``) or the record
wrapped in its model key (``{"Invoice": {...}}``, one row of a list); an invoice's
``Client``, ``InvoiceItem``, ``InvoicePayment`` and ``InvoiceTax`` may be nested inside
``Invoice`` (single GET) or sit beside it (list rows) (api-notes §3). Numbers may be strings
or JSON numbers; ``null``, ``""`` and ``"None"`` mean absent, and ids ``"0"``/``0`` mean no
id (api-notes §6.3).

Writing (``dump``): :class:`DaftraInvoiceBodySchema` builds the v1 create body with
``Invoice``, ``InvoiceItem`` and ``Payment`` as siblings; amounts are written with four
decimals. :func:`merge_invoice_update` and :func:`merge_client_update` lay such a body
over the record as read, because a PUT replaces the whole record (api-notes §6.6).

What the schemas need from the backend (the date format, the account's taxes) comes
through a :class:`MappingContext` set with :func:`using` (a context variable: marshmallow
4 has no schema context).
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, ClassVar

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_dump, post_load, pre_load

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
    RecordRef,
    TaxRate,
)
from invoicing_bridge.schemas.fields import (
    Number,
    RemoteId,
    Text,
    slugify,
    to_decimal,
    to_id,
    to_text,
)

from .dates import DateReader
from .qr import QRDecodeError, decode_qr_url

__all__ = [
    "INVOICE_SIBLINGS",
    "DaftraClientBodySchema",
    "DaftraClientPaymentSchema",
    "DaftraClientSchema",
    "DaftraInvoiceBodySchema",
    "DaftraInvoiceItemSchema",
    "DaftraInvoiceSchema",
    "DaftraPaymentBodySchema",
    "DaftraPaymentSchema",
    "DaftraTaxSchema",
    "MappingContext",
    "TaxInfo",
    "invoice_status",
    "merge_client_update",
    "merge_invoice_update",
    "payment_status",
    "using",
]

FOUR_PLACES = Decimal("0.0001")
RAW_KEY = "__raw__"
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


@dataclass
class MappingContext:
    """What mapping needs from the backend instance.

    ``tax_by_id`` resolves a tax id (may fetch ``/taxes``); ``tax_id_for`` maps a rate to
    an existing tax id on write and raises MappingError naming the rate when none fits.
    """

    backend: str = "daftra"
    dates: DateReader = field(default_factory=DateReader)
    tax_by_id: Callable[[str], TaxInfo | None] | None = None
    tax_id_for: Callable[[TaxRate, str], str] | None = None


_DEFAULT_CONTEXT = MappingContext()
_CONTEXT: contextvars.ContextVar[MappingContext] = contextvars.ContextVar("daftra_mapping")
_INVOICE_TAXES: contextvars.ContextVar[Sequence[Any]] = contextvars.ContextVar(
    "daftra_invoice_taxes", default=()
)
_ITEM_PATH: contextvars.ContextVar[str] = contextvars.ContextVar("daftra_item", default="items")
#: Share of a line's net left after the invoice-level discount (the base of its taxes).
_TAX_BASE_SHARE: contextvars.ContextVar[Decimal] = contextvars.ContextVar(
    "daftra_tax_base_share", default=Decimal(1)
)


def context() -> MappingContext:
    return _CONTEXT.get(_DEFAULT_CONTEXT)


@contextlib.contextmanager
def using(ctx: MappingContext) -> Iterator[MappingContext]:
    """Map (load or dump) with ``ctx`` inside the block."""
    token = _CONTEXT.set(ctx)
    try:
        yield ctx
    finally:
        _CONTEXT.reset(token)


@contextlib.contextmanager
def _scoped(var: contextvars.ContextVar[Any], value: Any) -> Iterator[None]:
    token = var.set(value)
    try:
        yield
    finally:
        var.reset(token)


# --------------------------------------------------------------------------- values


def to_int(value: Any) -> int | None:
    number = to_decimal(value)
    if number is None:
        return None
    if number != number.to_integral_value():
        raise ValidationError(f"{value!r} is not a whole number")
    return int(number)


def to_flag(value: Any) -> bool | None:
    """Daftra's 0/1 flags in any spelling; None when the value is not a flag at all."""
    if value is None or value is False or value == 0:
        return False
    if value is True or value == 1:
        return True
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("", "0", "false", "no"):
            return False
        if text in ("1", "true", "yes"):
            return True
    return None


def four_places(value: Decimal) -> Decimal:
    """An amount as Daftra is written: four decimals, half up (not the banker's rounding
    ``quantize`` uses by default)."""
    return value.quantize(FOUR_PLACES, ROUND_HALF_UP)


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


def unwrap_row(data: Mapping[str, Any], key: str, siblings: Sequence[str] = ()) -> dict[str, Any]:
    """The record of a row: ``data[key]`` with its siblings folded in, or ``data`` itself."""
    inner = data.get(key) if key else None
    if not isinstance(inner, Mapping):
        return dict(data)
    record = dict(inner)
    for name in siblings:
        if name not in record and name in data:
            record[name] = data[name]
    return record


# --------------------------------------------------------------------------- status


_INVOICE_STATES = {
    0: InvoiceStatus.OPEN,
    1: InvoiceStatus.PARTIALLY_PAID,
    2: InvoiceStatus.PAID,
    3: InvoiceStatus.REFUNDED,
    4: InvoiceStatus.OVERPAID,
    -1: InvoiceStatus.DRAFT,
}
_PAYMENT_STATES = {
    0: PaymentStatus.FAILED,
    1: PaymentStatus.COMPLETED,
    2: PaymentStatus.PENDING,
    3: PaymentStatus.FAILED,  # "not completed": an online payment that never went through
}
_PAYMENT_CODES = {
    PaymentStatus.COMPLETED: 1,
    PaymentStatus.PENDING: 2,
    PaymentStatus.FAILED: 0,
}


def invoice_status(draft: Any, payment_status: Any) -> InvoiceStatus:
    """``draft`` wins over ``payment_status`` (api-notes §4); unmapped values are UNKNOWN."""
    is_draft = to_flag(draft)
    if is_draft is None:
        return InvoiceStatus.UNKNOWN
    if is_draft:
        return InvoiceStatus.DRAFT
    try:
        code = to_int(payment_status)
    except ValidationError:
        return InvoiceStatus.UNKNOWN
    if code is None:  # null / '' = Unpaid
        return InvoiceStatus.OPEN
    return _INVOICE_STATES.get(code, InvoiceStatus.UNKNOWN)


def payment_status(value: Any) -> PaymentStatus:
    """``InvoicePayment.status``: 0 failed, 1 completed, 2 pending, 3 not completed."""
    try:
        code = to_int(value)
    except ValidationError:
        return PaymentStatus.UNKNOWN
    if code is None:
        return PaymentStatus.UNKNOWN
    return _PAYMENT_STATES.get(code, PaymentStatus.UNKNOWN)


# --------------------------------------------------------------------------- fields


class Amount(Number):
    """A string or a number in, an exact Decimal out; four decimals when written (Daftra
    stores amounts with four)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(places=FOUR_PLACES, **kwargs)


#: A quantity: like an amount, but written with the digits it has.
Quantity = Number


class DaftraDate(fields.Field[dt.date]):
    """A date in the account's display format or ISO (see :mod:`.dates`)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("load_default", None)
        super().__init__(allow_none=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        return context().dates.date(value, self.data_key or attr or "date")


class DaftraDateTime(DaftraDate):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        return context().dates.datetime(value, self.data_key or attr or "date")


# --------------------------------------------------------------------------- reading


class _RecordSchema(Schema):
    """Base of the read schemas: unknown keys ignored, the row unwrapped, raw kept."""

    class Meta:
        unknown = EXCLUDE

    #: Model key of a wrapped record (``{"Client": {...}}``).
    model_key: ClassVar[str] = ""
    siblings: ClassVar[tuple[str, ...]] = ()

    raw = fields.Raw(data_key=RAW_KEY, load_default=None, load_only=True)

    @pre_load
    def unwrap(self, data: Any, **kwargs: Any) -> Any:
        if not isinstance(data, Mapping):
            raise ValidationError(f"a Daftra record is a JSON object, not {type(data).__name__}")
        record = unwrap_row(data, self.model_key, self.siblings)
        record[RAW_KEY] = data
        return record

    @staticmethod
    def _ref(id: str | None) -> RecordRef | None:
        return None if id is None else RecordRef(context().backend, id)


class DaftraTaxSchema(_RecordSchema):
    """``Tax`` (``/taxes``) → :class:`TaxInfo`."""

    model_key = "Tax"

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


class DaftraClientSchema(_RecordSchema):
    """``Client`` → :class:`~invoicing_bridge.models.Client`.

    The display name is the business name, else "first last" (api-notes §6.7). The tax
    number is the ``bn1``/``bn2`` whose label names a tax (VAT, TRN, ضريبة), else ``bn1``.
    """

    model_key = "Client"

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

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> Client:
        tax_number, tax_field = _tax_number(data)
        extra: dict[str, Any] = {}
        if data["client_number"]:
            extra["client_number"] = data["client_number"]
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
            source=self._ref(data["id"]),
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


class _PaymentFields(_RecordSchema):
    id = RemoteId()
    invoice_id = RemoteId()
    payment_method = Text()
    amount = Amount()
    transaction_id = Text()
    treasury_id = RemoteId()
    date = DaftraDateTime()
    created = DaftraDateTime()
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
            source=self._ref(data["id"]),
            raw=data["raw"],
            extra=extra,
        )


class DaftraPaymentSchema(_PaymentFields):
    """``InvoicePayment`` → :class:`~invoicing_bridge.models.Payment`."""

    model_key = "InvoicePayment"

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> Payment:
        return self._payment(data, {"kind": "invoice_payment"})


class DaftraClientPaymentSchema(_PaymentFields):
    """``ClientPayment`` (an account-level receipt, ``invoice_id`` null) → Payment.

    ``extra`` carries ``client_id`` and the ``client_balance`` found in the
    ``extra_details`` JSON text (api-notes §5).
    """

    model_key = "ClientPayment"

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


class DaftraInvoiceItemSchema(_RecordSchema):
    """``InvoiceItem`` → :class:`~invoicing_bridge.models.LineItem`.

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

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> LineItem:
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
        if data["subtotal"] is not None and data["subtotal"] != net:
            extra["daftra_subtotal"] = data["subtotal"]
        taxes: list[TaxRate] = []
        amounts: list[Decimal | None] = []
        for n in (1, 2):
            tax_id = data[f"tax{n}"]
            if tax_id is None:
                continue
            taxes.append(self._tax(tax_id, n, data, net, extra))
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

    @staticmethod
    def _tax(
        tax_id: str, n: int, data: Mapping[str, Any], net: Decimal, extra: dict[str, Any]
    ) -> TaxRate:
        ctx = context()
        if ctx.tax_by_id is not None:
            info = ctx.tax_by_id(tax_id)
            if info is not None:
                return info.as_rate()
        for row in _INVOICE_TAXES.get():
            if not isinstance(row, Mapping):
                continue
            row = unwrap_row(row, "InvoiceTax")
            if to_id(row.get("tax_id")) != tax_id:
                continue
            value = to_decimal(row.get("value", row.get("percent")))
            if value is not None:
                return TaxRate(to_text(row.get("name")) or f"Tax {tax_id}", tidy_rate(value))
        percent = data[f"tax{n}_percent"]
        if percent is not None:
            return TaxRate(f"Tax {tax_id}", tidy_rate(percent))
        amount = data[f"summary_tax{n}"]
        base = net * _TAX_BASE_SHARE.get()
        if amount is not None and base:
            rate = tidy_rate((amount * 100 / base).quantize(Decimal("0.01")))
            extra["tax_note"] = (
                f"rate of tax {tax_id} derived from summary_tax{n}: the account's taxes "
                "were not available"
            )
            return TaxRate(f"Tax {tax_id}", rate)
        raise MappingError(
            f"tax id {tax_id}: its rate is unknown (no /taxes, InvoiceTax or tax{n}_percent)",
            backend=ctx.backend,
            field=f"{_ITEM_PATH.get()}.tax{n}",
        )


def to_int_or_none(value: Any) -> int | None:
    try:
        return to_int(value)
    except ValidationError:
        return None


class DaftraInvoiceSchema(_RecordSchema):
    """``Invoice`` (with its client, items, payments, taxes) → Invoice.

    Totals are read as Daftra states them (``summary_*``); the tax total is the sum of the
    lines' ``summary_tax1``/``summary_tax2`` when every line has them, else
    ``summary_total - summary_subtotal + summary_discount - shipping`` (VISTA: invoice-level
    ``summary_tax1`` is often null). ``shipping_amount`` is the adjustment. The due date is
    ``date + due_after`` days. ``extra`` keeps ``public_url`` (``invoice_html_url``),
    ``pdf_url``, ``qr_code_url`` and the decoded e-invoice QR (``einvoice_qr``), or a note
    (``einvoice_qr_error``) when the QR cannot be read.
    """

    model_key = "Invoice"
    siblings = INVOICE_SIBLINGS

    id = RemoteId()
    no = Text()
    type = fields.Raw(load_default=None)
    client_id = RemoteId()
    currency_code = Text()
    date = DaftraDate()
    due_after = fields.Raw(load_default=None)
    payment_status = fields.Raw(load_default=None)
    draft = fields.Raw(load_default=None)
    discount = Amount()
    discount_amount = Amount()
    shipping_amount = Amount()
    summary_subtotal = Amount()
    summary_discount = Amount()
    summary_total = Amount()
    summary_paid = Amount()
    summary_unpaid = Amount()
    summary_tax1 = Amount()
    summary_tax2 = Amount()
    notes = Text()
    terms = Text()
    created = DaftraDateTime()
    modified = DaftraDateTime()
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

    _items = DaftraInvoiceItemSchema()
    _payments = DaftraPaymentSchema()
    _client = DaftraClientSchema()

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
        adjustment = data["shipping_amount"] or ZERO
        discount_total = data["summary_discount"]
        extra: dict[str, Any] = {}
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
            source=self._ref(data["id"]),
            raw=data["raw"],
            extra=extra,
        )

    def _load_items(self, data: Mapping[str, Any]) -> list[LineItem]:
        rows = _rows(data["item_rows"])
        taxes = _rows(data["tax_rows"])
        items: list[LineItem] = []
        share = Decimal(1)
        subtotal, discount = data["summary_subtotal"], data["summary_discount"]
        if subtotal and discount:
            share = (subtotal - discount) / subtotal
        with _scoped(_INVOICE_TAXES, taxes), _scoped(_TAX_BASE_SHARE, share):
            for index, row in enumerate(rows):
                with _scoped(_ITEM_PATH, f"InvoiceItem[{index}]"):
                    try:
                        items.append(self._items.load(row))
                    except ValidationError as exc:
                        raise ValidationError({"InvoiceItem": {index: exc.messages}}) from None
        return items

    def _load_payments(self, data: Mapping[str, Any]) -> list[Payment]:
        payments: list[Payment] = []
        for index, row in enumerate(_rows(data["payment_rows"])):
            try:
                payment: Payment = self._payments.load(row)
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
                client = self._client.load(nested)
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
        client.source = self._ref(client.id)
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


def _rows(value: Any) -> list[Any]:
    if isinstance(value, Mapping):
        return [value] if value else []
    if isinstance(value, list | tuple):
        return list(value)
    return []


def _due_date(issued: dt.date, due_after: Any) -> dt.date | None:
    days = to_int_or_none(due_after)
    if days is None or days < 0:
        return None
    return issued + dt.timedelta(days=days)


# --------------------------------------------------------------------------- writing


class _BodySchema(Schema):
    class Meta:
        ordered = True


class DaftraInvoiceItemBodySchema(_BodySchema):
    """LineItem → one ``InvoiceItem`` of a create or update body."""

    item = fields.String(attribute="name")
    description = fields.String(allow_none=True)
    unit_price = Amount()
    quantity = Quantity()
    discount = fields.Method("_discount")
    discount_type = fields.Method("_discount_type")
    tax1 = fields.Method("_tax1")
    tax2 = fields.Method("_tax2")

    @staticmethod
    def _percent(item: LineItem) -> Decimal | None:
        """The line's Daftra percentage, when it still gives the line's discount amount."""
        percent = to_decimal(item.extra.get("discount_percent"))
        if percent and item.quantity * item.unit_price * percent / 100 == item.discount:
            return percent
        return None

    def _discount(self, item: LineItem) -> Decimal:
        percent = self._percent(item)
        return four_places(percent if percent is not None else item.discount)

    def _discount_type(self, item: LineItem) -> int | None:
        if not item.discount:
            return None
        return 1 if self._percent(item) is not None else 2

    def _tax_ids(self, item: LineItem) -> list[int | str]:
        path = _ITEM_PATH.get()
        if len(item.taxes) > 2:
            raise MappingError(
                f"Daftra carries at most two taxes per line, this line has {len(item.taxes)}",
                backend=context().backend,
                field=f"{path}.taxes",
            )
        resolve = context().tax_id_for
        if item.taxes and resolve is None:
            raise MappingError(
                "taxes cannot be mapped offline", backend=context().backend, field=path
            )
        ids: list[int | str] = []
        for index, tax in enumerate(item.taxes):
            assert resolve is not None
            tax_id = resolve(tax, f"{path}.taxes[{index}]")
            ids.append(int(tax_id) if tax_id.isdigit() else tax_id)
        return ids

    def _tax1(self, item: LineItem) -> int | str | None:
        ids = self._tax_ids(item)
        return ids[0] if ids else None

    def _tax2(self, item: LineItem) -> int | str | None:
        ids = self._tax_ids(item)
        return ids[1] if len(ids) > 1 else None


class _PaymentRowSchema(_BodySchema):
    """Payment → the fields of a payment recorded with an invoice or on its own."""

    payment_method = fields.Function(lambda payment: daftra_method(payment.method))
    amount = Amount()
    date = fields.Method("_date")
    transaction_id = fields.String(attribute="reference", allow_none=True)

    @staticmethod
    def _date(payment: Payment) -> str:
        return f"{payment.date.isoformat()} 00:00:00"


class DaftraPaymentBodySchema(_PaymentRowSchema):
    """Payment → ``{"InvoicePayment": {...}}`` for ``POST /invoice_payments``."""

    invoice_id = fields.Method("_invoice_id")
    notes = fields.String(allow_none=True)
    status = fields.Method("_status")

    @staticmethod
    def _invoice_id(payment: Payment) -> int | str:
        if not payment.invoice_id:
            raise MappingError(
                "Daftra records a payment against an invoice: invoice_id is required",
                backend=context().backend,
                field="invoice_id",
            )
        text = str(payment.invoice_id)
        return int(text) if text.isdigit() else text

    @staticmethod
    def _status(payment: Payment) -> int | None:
        return _PAYMENT_CODES.get(payment.status)

    @post_dump
    def wrap(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {"InvoicePayment": {k: v for k, v in data.items() if v is not None}}


class DaftraInvoiceBodySchema(_BodySchema):
    """Invoice → ``{"Invoice": {...}, "InvoiceItem": [...], "Payment": [...]}``.

    Items and payments are siblings of ``Invoice`` (the v1 body, api-notes §3). The
    discount is written as ``discount_amount`` (with ``discount`` 0: they are mutually
    exclusive); a positive adjustment becomes ``shipping_amount`` and a negative one is
    added to the discount. ``due_date`` becomes ``due_after`` days. Only completed
    payments are sent. The ``client_*`` snapshot printed on the invoice comes from
    ``invoice.client`` (:func:`invoice_snapshot`). Header values may be None: a create
    leaves them out (:func:`create_body`), an update clears them
    (:func:`merge_invoice_update`).
    """

    client_id = fields.Method("_client_id")
    no = fields.Method("_number")
    date = fields.Method("_date")
    due_after = fields.Method("_due_after")
    currency_code = fields.String(attribute="currency")
    draft = fields.Method("_draft")
    discount = fields.Method("_zero")
    discount_amount = fields.Method("_discount_amount")
    shipping_amount = fields.Method("_shipping")
    notes = fields.String(allow_none=True)
    terms = fields.String(allow_none=True)
    InvoiceItem = fields.Method("_items")
    Payment = fields.Method("_payments")

    _item_schema = DaftraInvoiceItemBodySchema()
    _payment_schema = _PaymentRowSchema()

    @staticmethod
    def _client_id(invoice: Invoice) -> int | str:
        if not invoice.client.id:
            raise MappingError(
                "the invoice's client has no Daftra id: create the client first",
                backend=context().backend,
                field="client.id",
            )
        text = str(invoice.client.id)
        return int(text) if text.isdigit() else text

    @staticmethod
    def _number(invoice: Invoice) -> str | None:
        return invoice.number or None

    @staticmethod
    def _date(invoice: Invoice) -> str:
        return invoice.issue_date.isoformat()

    @staticmethod
    def _due_after(invoice: Invoice) -> int | None:
        if invoice.due_date is None:
            return None
        days = (invoice.due_date - invoice.issue_date).days
        if days < 0:
            raise MappingError(
                "the due date is before the issue date",
                backend=context().backend,
                field="due_date",
            )
        return days

    @staticmethod
    def _draft(invoice: Invoice) -> bool:
        if invoice.status is InvoiceStatus.VOID:
            raise MappingError(
                "Daftra cannot store a void (cancelled) invoice",
                backend=context().backend,
                field="status",
            )
        return invoice.status is InvoiceStatus.DRAFT

    @staticmethod
    def _zero(invoice: Invoice) -> Decimal:
        return four_places(ZERO)

    @staticmethod
    def _discount_amount(invoice: Invoice) -> Decimal:
        extra = -invoice.adjustment if invoice.adjustment < 0 else ZERO
        return four_places(invoice.discount_total + extra)

    @staticmethod
    def _shipping(invoice: Invoice) -> Decimal | None:
        return four_places(invoice.adjustment) if invoice.adjustment > 0 else None

    def _items(self, invoice: Invoice) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for index, item in enumerate(invoice.items):
            with _scoped(_ITEM_PATH, f"items[{index}]"):
                row = self._item_schema.dump(item)
            rows.append({k: v for k, v in row.items() if v is not None})
        return rows

    def _payments(self, invoice: Invoice) -> list[dict[str, Any]]:
        return [
            {k: v for k, v in self._payment_schema.dump(p).items() if v is not None}
            for p in invoice.payments
            if p.status is PaymentStatus.COMPLETED
        ]

    @post_dump(pass_original=True)
    def to_body(self, data: dict[str, Any], original: Invoice, **kwargs: Any) -> dict[str, Any]:
        data.update(invoice_snapshot(original.client))
        items = data.pop("InvoiceItem")
        payments = data.pop("Payment")
        body: dict[str, Any] = {"Invoice": data, "InvoiceItem": items}
        if payments:
            body["Payment"] = payments
        return body


def invoice_snapshot(client: Client) -> dict[str, Any]:
    """The ``client_*`` fields printed on an invoice, from the neutral client."""
    address = client.address or Address()
    company = client.company_name
    if not company and not (client.first_name or client.last_name):
        company = client.name or None
    return {
        "client_business_name": company,
        "client_first_name": client.first_name,
        "client_last_name": client.last_name,
        "client_email": client.email,
        "client_address1": address.line1,
        "client_address2": address.line2,
        "client_city": address.city,
        "client_state": address.state,
        "client_postal_code": address.postal_code,
        "client_country_code": address.country,
    }


class DaftraClientBodySchema(_BodySchema):
    """Client → ``{"Client": {...}}``. ``type`` is 3 (business) with a company name, else 2."""

    business_name = fields.Method("_business_name")
    first_name = fields.String(allow_none=True)
    last_name = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    phone1 = fields.String(attribute="phone", allow_none=True)
    address1 = fields.Method("_address1")
    address2 = fields.Method("_address2")
    city = fields.Method("_city")
    state = fields.Method("_state")
    postal_code = fields.Method("_postal_code")
    country_code = fields.Method("_country")
    default_currency_code = fields.String(attribute="currency", allow_none=True)
    type = fields.Method("_type")

    @staticmethod
    def _business_name(client: Client) -> str | None:
        if client.company_name:
            return client.company_name
        if client.first_name or client.last_name:
            return None
        return client.name or None

    @staticmethod
    def _type(client: Client) -> int:
        return 2 if DaftraClientBodySchema._business_name(client) is None else 3

    @staticmethod
    def _address1(client: Client) -> str | None:
        return client.address.line1 if client.address else None

    @staticmethod
    def _address2(client: Client) -> str | None:
        return client.address.line2 if client.address else None

    @staticmethod
    def _city(client: Client) -> str | None:
        return client.address.city if client.address else None

    @staticmethod
    def _state(client: Client) -> str | None:
        return client.address.state if client.address else None

    @staticmethod
    def _postal_code(client: Client) -> str | None:
        return client.address.postal_code if client.address else None

    @staticmethod
    def _country(client: Client) -> str | None:
        return client.address.country if client.address else None

    @post_dump(pass_original=True)
    def wrap(self, data: dict[str, Any], original: Client, **kwargs: Any) -> dict[str, Any]:
        tax_field = original.extra.get("tax_number_field")
        data["bn2" if tax_field == "bn2" else "bn1"] = original.tax_number
        return {"Client": data}


def create_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """A dumped body for a create: the model's None values left out."""
    out: dict[str, Any] = {}
    for key, value in body.items():
        if isinstance(value, Mapping):
            out[key] = {k: v for k, v in value.items() if v is not None}
        else:
            out[key] = value
    return out


# --------------------------------------------------------------------------- updates

#: Invoice keys a PUT must not send back: computed, server-owned or associations.
READ_ONLY_INVOICE = frozenset(
    {
        "id",
        "created",
        "modified",
        "payment_status",
        "summary_subtotal",
        "summary_discount",
        "summary_total",
        "summary_paid",
        "summary_unpaid",
        "summary_deposit",
        "summary_refund",
        "summary_tax1",
        "summary_tax2",
        "qr_code_url",
        "invoice_html_url",
        "invoice_pdf_url",
        "last_sent",
        "einvoice_status",
    }
)
READ_ONLY_ITEM = frozenset(
    {
        "id",
        "invoice_id",
        "subtotal",
        "item_subtotal",
        "summary_tax1",
        "summary_tax2",
        "tax1_percent",
        "tax1_value",
        "tax2_percent",
        "tax2_value",
        "calculated_discount",
        "created",
        "modified",
        "site_id",
    }
)
READ_ONLY_CLIENT = frozenset({"id", "created", "modified", "last_login", "last_ip"})
# Field types of the PUT /invoices body (the request schema in Daftra's docs): values read
# back as strings ("0", "15") are written as the types the endpoint documents.
_INVOICE_INTEGERS = frozenset(
    {
        "client_id",
        "type",
        "store_id",
        "staff_id",
        "subscription_id",
        "branch_id",
        "due_after",
        "deposit_type",
        "shipping_options",
        "invoice_layout_id",
        "estimate_id",
        "order_source_id",
        "language_id",
        "cost_center_id",
        "sales_person_id",
        "pos_shift_id",
        "follow_up_status",
        "work_order_id",
        "requisition_delivery_status",
        "source_type",
        "source_id",
    }
)
_INVOICE_NUMBERS = frozenset({"discount", "discount_amount", "deposit", "shipping_amount"})
_INVOICE_FLAGS = frozenset({"is_offline", "draft", "client_active_secondary_address"})
#: Integer fields whose 0 means "not set" and is not an accepted value (deposit_type: 1|2).
_ZERO_IS_UNSET = frozenset({"deposit_type"})
_ITEM_INTEGERS = frozenset({"tax1", "tax2", "product_id", "discount_type", "store_id"})
_ITEM_NUMBERS = frozenset({"unit_price", "quantity", "discount"})


def _coerce(
    record: Mapping[str, Any],
    integers: frozenset[str],
    numbers: frozenset[str],
    flags: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in record.items():
        typed = key in integers or key in numbers or key in flags
        if typed and (value is None or (isinstance(value, str) and not value.strip())):
            continue  # an empty value left out takes the server default
        if key in integers:
            try:
                number = to_int(value)
            except ValidationError:
                out[key] = value
                continue
            if number is None or (number == 0 and key in _ZERO_IS_UNSET):
                continue
            out[key] = number
        elif key in numbers:
            try:
                out[key] = to_decimal(value)
            except ValidationError:
                out[key] = value
        elif key in flags:
            flag = to_flag(value)
            out[key] = value if flag is None else flag
        else:
            out[key] = value
    return out


def _overlay(base: dict[str, Any], body: Mapping[str, Any]) -> None:
    """Lay the neutral side over the record as read; its None means "clear it"."""
    for key, value in body.items():
        if value is None:
            if isinstance(base.get(key), str):
                base[key] = ""
            else:
                base.pop(key, None)
        else:
            base[key] = value


def merge_invoice_update(
    current: Mapping[str, Any], body: Mapping[str, Any], dates: DateReader
) -> dict[str, Any]:
    """The PUT body: ``body`` (dumped from the neutral invoice) laid over ``current``.

    Daftra's PUT replaces the whole record (api-notes §6.6): every header field the
    neutral model does not carry (``po_number``, ``store_id``, ``branch_id``, custom
    fields, unknown keys) is sent back as read, and each line keeps its Daftra-only fields
    (``product_id``, ``store_id``, ``col_3``…) when it is still the same line (same
    position and name). Computed fields (``summary_*``, ``payment_status``) and line ids
    are left out. Payments are not sent: they are recorded through ``/invoice_payments``
    and a PUT leaves them alone.
    """
    record = unwrap_row(current, "Invoice", INVOICE_SIBLINGS)
    header: dict[str, Any] = {
        key: value
        for key, value in record.items()
        if key not in READ_ONLY_INVOICE
        and key not in INVOICE_SIBLINGS
        and not isinstance(value, Mapping | list)
    }
    if "issue_date" in header:
        try:
            issued = dates.date(header["issue_date"], "issue_date")
        except MappingError:
            issued = None
        if issued is None:
            del header["issue_date"]
        else:
            header["issue_date"] = issued.isoformat()
    _overlay(header, body["Invoice"])
    read_items = [row for row in _rows(record.get("InvoiceItem")) if isinstance(row, Mapping)]
    items: list[dict[str, Any]] = []
    for index, new in enumerate(body.get("InvoiceItem") or ()):
        base: dict[str, Any] = {}
        if index < len(read_items) and read_items[index].get("item") == new.get("item"):
            base = {
                key: value
                for key, value in read_items[index].items()
                if key not in READ_ONLY_ITEM and not isinstance(value, Mapping)
            }
        _overlay(base, new)
        if not new.get("discount_type"):
            base.pop("discount_type", None)
        items.append(_coerce(base, _ITEM_INTEGERS, _ITEM_NUMBERS))
    out: dict[str, Any] = {
        "Invoice": _coerce(header, _INVOICE_INTEGERS, _INVOICE_NUMBERS, _INVOICE_FLAGS),
        "InvoiceItem": items,
    }
    custom = record.get("InvoiceCustomField")
    if isinstance(custom, Mapping | list) and custom:
        out["InvoiceCustomField"] = custom
    return out


def merge_client_update(current: Mapping[str, Any], body: Mapping[str, Any]) -> dict[str, Any]:
    """The client PUT body: the record as read, with the neutral fields laid over it."""
    record = unwrap_row(current, "Client")
    base = {
        key: value
        for key, value in record.items()
        if key not in READ_ONLY_CLIENT and not isinstance(value, Mapping | list)
    }
    _overlay(base, body["Client"])
    return {"Client": base}
