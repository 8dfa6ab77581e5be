"""Marshmallow schemas between Perfex payloads and the neutral model, both directions.

Reading: :class:`PerfexInvoiceSchema`, :class:`PerfexClientSchema`,
:class:`PerfexPaymentSchema` and :class:`PerfexItemSchema` load a single GET, a list row
(2.x bare array or a 3.x ``{data, meta}`` page, unwrapped in ``pre_load``) and a search row
(the invoice columns overlaid with the customer's). Every Perfex value arrives as a string
(``"5.00"``, ``"1"``, ``"0"`` for no id) or ``null``; money becomes :class:`~decimal.Decimal`.

Writing: :class:`PerfexInvoiceWriteSchema`, :class:`PerfexClientWriteSchema` and
:class:`PerfexPaymentWriteSchema` dump neutral records into the fields the module expects,
every value a string. Invoice totals are computed the way Perfex computes them
(:func:`perfex_totals`), because Perfex 2.x stores ``subtotal`` and ``total`` as sent.

What the API cannot tell (currency ids, payment-mode names, the number padding) comes from a
shared :class:`PerfexLookups`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeVar

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_dump, post_load, pre_load

from invoicing_bridge.exceptions import MappingError
from invoicing_bridge.models import (
    Address,
    Client,
    Invoice,
    InvoiceStatus,
    LineItem,
    Payment,
    PaymentStatus,
    RecordRef,
    TaxRate,
    freeze_raw,
)
from invoicing_bridge.schemas import fields as fields_
from invoicing_bridge.schemas.fields import slugify

from .countries import country_code, country_id
from .numbers import DRAFT_NUMBER, MAX_NUMBER, format_number, parse_number
from .phpforms import PHPFormError, parse_payment_modes

__all__ = [
    "CENT",
    "DRAFT_NUMBER",
    "POSSIBLE_STATUSES",
    "UNKNOWN_CURRENCY",
    "InvoicePlan",
    "PerfexClientSchema",
    "PerfexClientWriteSchema",
    "PerfexInvoiceSchema",
    "PerfexInvoiceWriteSchema",
    "PerfexItemSchema",
    "PerfexLine",
    "PerfexLookups",
    "PerfexPaymentSchema",
    "PerfexPaymentWriteSchema",
    "PerfexSchema",
    "PerfexTotals",
    "drop_empty",
    "infer_line_taxes",
    "load_many",
    "method_slug",
    "money_text",
    "perfex_lines",
    "perfex_number_of",
    "perfex_totals",
    "unwrap_rows",
]

BACKEND = "perfex"
ZERO = Decimal("0")
CENT = Decimal("0.01")
#: Currency code used when a row names no currency and its id is not known.
UNKNOWN_CURRENCY = "XXX"

#: Perfex ``tblinvoices.status`` values (``Invoices_model::STATUS_*``).
STATUS_UNPAID, STATUS_PAID, STATUS_PARTIALLY, STATUS_OVERDUE, STATUS_CANCELLED, STATUS_DRAFT = (
    "1",
    "2",
    "3",
    "4",
    "5",
    "6",
)
#: Neutral statuses each Perfex status may map to (overdue depends on what was paid).
POSSIBLE_STATUSES: dict[str, frozenset[InvoiceStatus]] = {
    STATUS_UNPAID: frozenset({InvoiceStatus.OPEN}),
    STATUS_PAID: frozenset({InvoiceStatus.PAID, InvoiceStatus.OVERPAID}),
    STATUS_PARTIALLY: frozenset({InvoiceStatus.PARTIALLY_PAID}),
    STATUS_OVERDUE: frozenset({InvoiceStatus.OPEN, InvoiceStatus.PARTIALLY_PAID}),
    STATUS_CANCELLED: frozenset({InvoiceStatus.VOID}),
    STATUS_DRAFT: frozenset({InvoiceStatus.DRAFT}),
}


def round_cents(value: Decimal) -> Decimal:
    """MySQL ``DECIMAL(15,2)`` rounding: half away from zero."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def money_text(value: Decimal) -> str:
    return format(round_cents(value), "f")


# --------------------------------------------------------------------------- lookups


_SLUGS = {
    "bank": "bank_transfer",
    "bank_transfer": "bank_transfer",
    "bank_deposit": "bank_transfer",
    "wire": "bank_transfer",
    "wire_transfer": "bank_transfer",
    "cash": "cash",
    "cheque": "cheque",
    "check": "cheque",
    "card": "card",
    "credit_card": "card",
    "debit_card": "card",
    "visa": "card",
    "mastercard": "card",
}


def method_slug(name: str) -> str:
    """The neutral payment ``method`` of a Perfex mode name or online-gateway id."""
    slug = slugify(name)
    if slug in _SLUGS:
        return _SLUGS[slug]
    for gateway in ("paypal", "stripe"):
        if slug.startswith(gateway):
            return gateway
    return slug


@dataclass
class PerfexLookups:
    """What mapping needs and the API does not say.

    ``currencies``: currency code → Perfex currency id (from the options, plus every id
    learned from invoices read); ``payment_modes``: mode id → name (from
    ``/api/common/payment_mode`` when fetched); ``taxes``: ``(name, rate)`` pairs from
    ``/api/common/tax_data``; ``padding``: the install's number padding.
    """

    currencies: dict[str, str] = field(default_factory=dict)
    payment_modes: dict[str, str] = field(default_factory=dict)
    taxes: list[tuple[str, Decimal]] = field(default_factory=list)
    padding: int = 6
    infer_taxes: bool = True
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def currency_code(self, currency_id: str | None) -> str | None:
        if currency_id is None:
            return None
        with self._lock:
            for code, known in self.currencies.items():
                if known == currency_id:
                    return code
        return None

    def currency_id(self, code: str) -> str | None:
        with self._lock:
            return self.currencies.get(code.upper())

    def learn_currency(self, currency_id: str | None, code: str | None) -> None:
        if not currency_id or not code:
            return
        with self._lock:
            self.currencies.setdefault(code.upper(), currency_id)

    def learn_payment_mode(self, mode_id: str | None, name: str | None) -> None:
        if mode_id and name:
            with self._lock:
                self.payment_modes.setdefault(mode_id, name)

    def method_of(self, mode_id: str | None, name: str | None = None) -> str:
        """The neutral method of a payment's ``paymentmode`` (an id or a gateway id)."""
        if name is None and mode_id is not None:
            with self._lock:
                name = self.payment_modes.get(mode_id)
        if name:
            return method_slug(name)
        if mode_id and not mode_id.isdigit():
            return method_slug(mode_id)  # an online gateway: "stripe", "paypal"
        return f"perfex_mode_{mode_id}" if mode_id else "unknown"

    def mode_for(self, method: str) -> str | None:
        """The Perfex payment mode id for a neutral method, or None when none matches."""
        wanted = method_slug(method)
        with self._lock:
            modes = dict(self.payment_modes)
        for mode_id, name in modes.items():
            if method_slug(name) == wanted:
                return mode_id
        match = re.fullmatch(r"perfex_mode_(\d+)", method)
        if match:
            return match.group(1)
        if wanted in ("paypal", "stripe"):
            return wanted  # Perfex accepts an online gateway id as the mode
        return None

    def tax_for(self, tax: TaxRate) -> tuple[str, Decimal]:
        """The ``(name, rate)`` to send for a neutral tax: the install's own tax with this
        name and rate, else its tax with this rate, else the neutral name as it is."""
        rate = round_cents(tax.rate)
        with self._lock:
            known = list(self.taxes)
        for name, known_rate in known:
            if name.casefold() == tax.name.casefold() and known_rate == rate:
                return name, rate
        for name, known_rate in known:
            if known_rate == rate:
                return name, rate
        return tax.name.replace("|", "/").strip() or "Tax", rate


# --------------------------------------------------------------------------- fields


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, Mapping | list | tuple | bool):
        return None
    text = str(value)
    return None if text.strip() in ("", "None") else text


class Text(fields_.Text):
    """A Perfex string column: ``""``, ``"None"`` and ``null`` are None; written as text
    (``""`` for None), since every Perfex value is a string."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str:
        return "" if value is None else str(value)


class Id(fields_.RemoteId):
    """A Perfex id: a digit string; ``"0"`` (none) is None."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str:
        return "" if value is None else str(value)


def to_decimal(value: Any) -> Decimal | None:
    """A Perfex amount as Decimal (thousands commas dropped)."""
    return fields_.to_decimal(value, thousands=",")


class Money(fields.Field[Decimal]):
    """An amount or quantity: ``"5.00"`` → ``Decimal("5.00")``; empty is the default."""

    def __init__(self, **kwargs: Any) -> None:
        if not kwargs.get("required"):
            kwargs.setdefault("load_default", ZERO)
        kwargs.setdefault("allow_none", True)
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        number = to_decimal(value)
        if number is None:
            default = self.load_default
            return default() if callable(default) else default
        return number

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str:
        return money_text(Decimal(value))


def to_date(value: Any) -> dt.date | None:
    text = _text(value)
    if text is None or text.startswith("0000-00-00"):
        return None
    try:
        return dt.date.fromisoformat(text.strip()[:10])
    except ValueError:
        raise ValidationError(f"{value!r} is not a date (YYYY-MM-DD)") from None


class PDate(fields.Field[dt.date | None]):
    """A ``DATE`` (or the date part of a ``DATETIME``) column."""

    def __init__(self, **kwargs: Any) -> None:
        if not kwargs.get("required"):
            kwargs.setdefault("load_default", None)
        kwargs.setdefault("allow_none", True)
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        return to_date(value)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else value.isoformat()


class PDateTime(fields.Field[dt.datetime | None]):
    """A ``DATETIME`` column (``"2020-05-26 19:53:11"``, server local time: naive)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("load_default", None)
        kwargs.setdefault("allow_none", True)
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text = _text(value)
        if text is None or text.startswith("0000-00-00"):
            return None
        try:
            return dt.datetime.fromisoformat(text.strip())
        except ValueError:
            raise ValidationError(f"{value!r} is not a timestamp") from None


class Flag(fields.Field[bool]):
    """A ``"0"``/``"1"`` (or JSON boolean) flag."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("load_default", False)
        kwargs.setdefault("allow_none", True)
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if isinstance(value, bool):
            return value
        return str(value).strip().lower() in ("1", "true", "on", "yes")


# --------------------------------------------------------------------------- helpers


def br2nl(text: str | None) -> str | None:
    """Undo PHP's ``nl2br`` (Perfex applies it to long descriptions and streets)."""
    if text is None:
        return None
    text = re.sub(r"<br\s*/?>(\r\n|\n|\r)", r"\1", text)
    text = re.sub(r"<br\s*/?>", "\n", text)
    return text or None


def unwrap_rows(payload: Any) -> list[Any]:
    """The records of a payload: a bare array (2.x list, search), a ``{data, meta}`` page
    (3.x) or a single object (GET by id)."""
    if isinstance(payload, Mapping) and isinstance(payload.get("data"), list):
        return list(payload["data"])
    if isinstance(payload, list):
        return payload
    return [payload]


def _status_error(payload: Any) -> str | None:
    """The message of an error body (``{"status": false, ...}``) given as a record."""
    if isinstance(payload, Mapping):
        flag = payload.get("status", payload.get("paymentmode"))
        if flag is False:
            return str(payload.get("message") or "an error body")
    return None


S = TypeVar("S", bound="PerfexSchema")


class PerfexSchema(Schema):
    """Base of the reading schemas: unknown keys excluded, error bodies refused, the shared
    :class:`PerfexLookups` at hand."""

    class Meta:
        unknown = EXCLUDE

    def __init__(self, *, lookups: PerfexLookups | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lookups = lookups or PerfexLookups()

    @pre_load
    def _refuse_error_bodies(self, data: Any, **kwargs: Any) -> Any:
        message = _status_error(data)
        if message is not None:
            raise ValidationError(f"this is an error answer, not a record: {message}")
        if not isinstance(data, Mapping):
            raise ValidationError("a record must be a JSON object")
        return data


def load_many(schema: Schema, payload: Any, kind: str) -> list[Any]:
    """Load every record of ``payload`` (see :func:`unwrap_rows`); MappingError on failure."""
    rows = unwrap_rows(payload)
    records = []
    for index, row in enumerate(rows):
        try:
            records.append(schema.load(row))
        except ValidationError as exc:
            messages = exc.normalized_messages()  # type: ignore[no-untyped-call]
            errors = messages if isinstance(messages, dict) else {"_schema": messages}
            where = f" (row {index})" if len(rows) > 1 else ""
            first = next(iter(errors.items()), ("", ""))
            raise MappingError(
                f"not a Perfex {kind}{where}: {first[0]}: {first[1]}",
                backend=BACKEND,
                field=str(first[0]) or None,
                errors=errors,
            ) from None
    return records


# --------------------------------------------------------------------------- reading


class PerfexItemSchema(PerfexSchema):
    """A ``tblitemable`` row: ``description`` is the name, ``long_description`` the text.

    Perfex's invoice reads carry no per-line tax (taxes live in ``tblitem_tax``, which
    ``get_items_by_type`` does not join); newer cores add ``taxes`` rows, read when present.
    """

    id = Id()
    description = Text()
    long_description = Text()
    qty = Money()
    rate = Money()
    unit = Text()
    item_order = Text()
    taxes = fields.Raw(load_default=None, allow_none=True)

    @post_load
    def make_item(self, data: dict[str, Any], **kwargs: Any) -> LineItem:
        taxes_known = isinstance(data["taxes"], list)
        taxes: list[TaxRate] = []
        if taxes_known:
            for row in data["taxes"]:
                if not isinstance(row, Mapping):
                    continue
                rate = to_decimal(row.get("taxrate"))
                name = _text(row.get("taxname")) or _text(row.get("name")) or "Tax"
                if rate is not None:
                    taxes.append(TaxRate(name, rate))
        extra: dict[str, Any] = {"taxes_known": taxes_known}
        if data["id"]:
            extra["item_id"] = data["id"]
        if data["item_order"]:
            extra["item_order"] = data["item_order"]
        return LineItem(
            name=data["description"] or "",
            description=br2nl(data["long_description"]),
            quantity=data["qty"],
            unit_price=data["rate"],
            unit=data["unit"],
            taxes=taxes,
            extra=extra,
        )


class PerfexClientSchema(PerfexSchema):
    """A ``tblclients`` row (the id is ``userid``; there is no ``id``), alone or joined
    into a search row; contact search rows add ``firstname``, ``lastname``, ``email``."""

    userid = Id()
    company = Text()
    vat = Text()
    phonenumber = Text()
    website = Text()
    address = Text()
    city = Text()
    state = Text()
    zip = Text()
    country = Id()
    billing_street = Text()
    billing_city = Text()
    billing_state = Text()
    billing_zip = Text()
    billing_country = Id()
    default_currency = Id()
    default_language = Text()
    active = Text()
    datecreated = PDateTime()
    firstname = Text()
    lastname = Text()
    email = Text()

    @pre_load
    def _userid_alias(self, data: Any, **kwargs: Any) -> Any:
        # 3.x ``?fields=id`` examples use ``id`` (GUESS in the notes): accept it when
        # ``userid`` is absent.
        if isinstance(data, Mapping) and "userid" not in data and "id" in data:
            data = {**data, "userid": data["id"]}
        return data

    @post_load(pass_original=True)
    def make_client(self, data: dict[str, Any], original: Any, **kwargs: Any) -> Client:
        if not data["userid"] and not data["company"]:
            raise ValidationError("a customer row needs userid or company", "userid")
        person = " ".join(p for p in (data["firstname"], data["lastname"]) if p)
        name = data["company"] or person or ""
        address = _address(
            data["address"], data["city"], data["state"], data["zip"], data["country"]
        ) or _address(
            data["billing_street"],
            data["billing_city"],
            data["billing_state"],
            data["billing_zip"],
            data["billing_country"],
        )
        extra: dict[str, Any] = {}
        for key in ("website", "default_language"):
            if data[key]:
                extra[key] = data[key]
        if data["active"] is not None:
            extra["active"] = data["active"] == "1"
        if data["datecreated"] is not None:
            extra["created_at"] = data["datecreated"].isoformat()
        if data["default_currency"]:
            extra["default_currency_id"] = data["default_currency"]
        return Client(
            id=data["userid"],
            name=name,
            company_name=data["company"],
            first_name=data["firstname"],
            last_name=data["lastname"],
            email=data["email"],
            phone=data["phonenumber"],
            tax_number=data["vat"],
            address=address,
            currency=self.lookups.currency_code(data["default_currency"]),
            source=RecordRef(BACKEND, data["userid"]) if data["userid"] else None,
            raw=freeze_raw(original),
            extra=extra,
        )


def _address(
    street: str | None,
    city: str | None,
    state: str | None,
    zip_code: str | None,
    country: str | None,
) -> Address | None:
    lines = (br2nl(street) or "").splitlines()
    lines = [line.strip() for line in lines if line.strip()]
    address = Address(
        line1=lines[0] if lines else None,
        line2=", ".join(lines[1:]) or None,
        city=city,
        state=state,
        postal_code=zip_code,
        country=country_code(country) if country else None,
    )
    return None if address.is_empty() else address


class PerfexPaymentSchema(PerfexSchema):
    """An ``invoicepaymentrecords`` row. The payment id is ``paymentid`` where present: joined
    queries overwrite ``id`` with the payment mode's id (notes §6)."""

    paymentid = Id()
    id = Id()
    invoiceid = Text()
    amount = Money(required=True)
    paymentmode = Text()
    paymentmethod = Text()
    date = PDate()
    daterecorded = PDateTime()
    note = Text()
    transactionid = Text()
    name = Text()

    def __init__(self, *, currency: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.currency = currency

    @post_load(pass_original=True)
    def make_payment(self, data: dict[str, Any], original: Any, **kwargs: Any) -> Payment:
        payment_id = data["paymentid"] or data["id"]
        invoice_id = data["invoiceid"]
        mode_name = data["name"]
        if invoice_id is not None and not invoice_id.strip().isdigit():
            # The published list example repeats "invoiceid" with the mode name ("UPI",
            # "Stripe"); JSON keeps the last one. Take it for the mode name it is.
            mode_name = mode_name or invoice_id
            invoice_id = None
        when = data["date"] or (data["daterecorded"].date() if data["daterecorded"] else None)
        if when is None:
            raise ValidationError("a payment needs a date", "date")
        self.lookups.learn_payment_mode(data["paymentmode"], data["name"])
        extra: dict[str, Any] = {}
        for key in ("paymentmode", "paymentmethod"):
            if data[key]:
                extra[key] = data[key]
        if mode_name:
            extra["mode_name"] = mode_name
        if data["daterecorded"] is not None:
            extra["recorded_at"] = data["daterecorded"].isoformat()
        return Payment(
            id=payment_id,
            invoice_id=invoice_id,
            amount=data["amount"],
            currency=self.currency,
            date=when,
            method=self.lookups.method_of(data["paymentmode"], mode_name),
            reference=data["transactionid"],
            notes=data["note"],
            status=PaymentStatus.COMPLETED,
            source=RecordRef(BACKEND, payment_id) if payment_id else None,
            raw=freeze_raw(original),
            extra=extra,
        )


class PerfexInvoiceSchema(PerfexSchema):
    """An invoice: the single GET (with ``items``, ``client``, ``payments``,
    ``total_left_to_pay``), a list row (currency columns, no client or items) or a search row
    (``tblinvoices.*`` + ``tblclients.*`` + ``invoiceid``, no currency columns)."""

    id = Id()
    invoiceid = Id()
    clientid = Id()
    deleted_customer_name = Text()
    number = Text()
    prefix = Text(load_default="")
    number_format = Text()
    formatted_number = Text()
    date = PDate(required=True)
    duedate = PDate()
    currency = Id()
    currency_name = Text()
    currencyid = Id()
    symbol = Text()
    subtotal = Money()
    total_tax = Money()
    total = Money()
    adjustment = Money()
    discount_percent = Money()
    discount_total = Money()
    discount_type = Text()
    status = Text()
    clientnote = Text()
    adminnote = Text()
    terms = Text()
    total_left_to_pay = Money(load_default=None)
    allowed_payment_modes = fields.Raw(load_default=None, allow_none=True)
    items = fields.List(fields.Raw(), load_default=None, allow_none=True)
    payments = fields.List(fields.Raw(), load_default=None, allow_none=True)
    client = fields.Raw(load_default=None, allow_none=True)
    datecreated = PDateTime()
    hash = Text()
    sent = Flag()
    project_id = Id()
    recurring = Text()
    sale_agent = Id()

    def _nested(self, name: str, cls: type[S]) -> S:
        """One schema per kind of nested record, made once (schemas are costly to build)."""
        cache: dict[str, Any] = self.__dict__.setdefault("_nested_schemas", {})
        if name not in cache:
            cache[name] = cls(lookups=self.lookups)
        schema: S = cache[name]
        return schema

    @post_load(pass_original=True)
    def make_invoice(self, data: dict[str, Any], original: Any, **kwargs: Any) -> Invoice:
        row = original
        lookups = self.lookups
        invoice_id = data["invoiceid"] or data["id"]
        status_code = (data["status"] or "").strip()
        issue_date: dt.date = data["date"]
        extra: dict[str, Any] = {}

        # Currency: the GET and list rows join tblcurrencies (``name`` is the code);
        # search rows carry only the id.
        currency_id = data["currency"] or data["currencyid"]
        code = data["currency_name"]
        if code is None and (data["symbol"] is not None or data["currencyid"] is not None):
            code = _text(row.get("name"))
        if code:
            lookups.learn_currency(currency_id, code)
        else:
            code = lookups.currency_code(currency_id)
        if not code:
            code = UNKNOWN_CURRENCY
            extra["currency_unresolved"] = True
        if currency_id:
            extra["currency_id"] = currency_id

        # Number.
        perfex_number = _int_or_none(data["number"])
        number_format = _int_or_none(data["number_format"])
        prefix = data["prefix"] or ""
        if data["formatted_number"]:
            display = data["formatted_number"]
        elif perfex_number is not None:
            display = format_number(
                perfex_number,
                prefix=prefix,
                number_format=number_format,
                date=issue_date,
                padding=lookups.padding,
                draft=status_code == STATUS_DRAFT,
            )
        else:
            display = data["number"] or ""
        extra.update(
            {
                "perfex_number": perfex_number,
                "prefix": prefix,
                "number_format": number_format,
                "perfex_status": status_code or None,
            }
        )

        # Lines.
        item_schema = self._nested("items", PerfexItemSchema)
        items: list[LineItem] = []
        if data["items"] is not None:
            rows = sorted(
                (r for r in data["items"] if isinstance(r, Mapping)),
                key=lambda r: _int_or_none(r.get("item_order")) or 0,
            )
            items = [item_schema.load(r) for r in rows]
            if any(not i.extra.get("taxes_known") for i in items):
                extra["item_taxes"] = "not returned by the Perfex API"
                inferred = lookups.infer_taxes and infer_line_taxes(items, data, lookups.taxes)
                if inferred:
                    extra["item_taxes"] = "inferred from total_tax and the install's taxes"
        else:
            extra["items_included"] = False

        # Payments and what was paid.
        payments: list[Payment] = []
        if data["payments"] is not None:
            payment_schema = self._nested("payments", PerfexPaymentSchema)
            payments = [
                payment_schema.load(p)
                for p in data["payments"]
                if isinstance(p, Mapping) and _status_error(p) is None
            ]
            for payment in payments:
                payment.currency = code
        total: Decimal = data["total"]
        paid_by_payments = sum((p.amount for p in payments), ZERO)
        if data["total_left_to_pay"] is not None:
            amount_paid = total - data["total_left_to_pay"]
            if data["payments"] is not None and amount_paid != paid_by_payments:
                extra["credits_applied"] = str(amount_paid - paid_by_payments)
        elif data["payments"] is not None:
            amount_paid = paid_by_payments
        elif status_code == STATUS_PAID:
            amount_paid = total
        else:
            amount_paid = ZERO
            if status_code in (STATUS_PARTIALLY, STATUS_OVERDUE):
                extra["amount_paid_unknown"] = True

        status = _status(status_code, total, amount_paid)

        # The billed party.
        client = self._client(row, data, extra)

        modes = data["allowed_payment_modes"]
        if modes is not None:
            try:
                extra["allowed_payment_modes"] = parse_payment_modes(modes)
            except PHPFormError:
                extra["allowed_payment_modes_raw"] = str(modes)
        for key in ("hash", "adminnote", "discount_type", "recurring", "project_id", "sale_agent"):
            if data[key]:
                extra[key] = data[key]
        if data["discount_percent"]:
            extra["discount_percent"] = str(data["discount_percent"])
        extra["sent"] = data["sent"]
        extra = {k: v for k, v in extra.items() if v is not None}

        return Invoice(
            id=invoice_id,
            number=display,
            status=status,
            issue_date=issue_date,
            due_date=data["duedate"],
            currency=code,
            client=client,
            items=items,
            subtotal=data["subtotal"],
            discount_total=data["discount_total"],
            tax_total=data["total_tax"],
            adjustment=data["adjustment"],
            total=total,
            amount_paid=amount_paid,
            balance_due=total - amount_paid,
            payments=payments,
            notes=data["clientnote"],
            terms=data["terms"],
            created_at=data["datecreated"],
            source=RecordRef(BACKEND, invoice_id) if invoice_id else None,
            raw=freeze_raw(row),
            extra=extra,
        )

    def _client(
        self, row: Mapping[str, Any], data: dict[str, Any], extra: dict[str, Any]
    ) -> Client:
        schema = self._nested("client", PerfexClientSchema)
        nested = row.get("client")
        if isinstance(nested, Mapping) and (nested.get("userid") or nested.get("company")):
            client: Client = schema.load(nested)
            if client.id is None and data["clientid"]:
                client.id = data["clientid"]
                client.source = RecordRef(BACKEND, data["clientid"])
            return client
        if row.get("userid") or row.get("company"):
            # A search row: tblclients.* is joined in (the invoice's billing_* columns are
            # overwritten by the customer's, so nothing is taken from them).
            columns = {k: v for k, v in row.items() if k not in ("id", "datecreated")}
            joined: Client = schema.load(columns)
            return joined
        # A list row names no customer: only its id (or a deleted customer's name).
        extra["client_included"] = False
        client_id = data["clientid"]
        return Client(
            id=client_id,
            name=data["deleted_customer_name"] or "",
            company_name=data["deleted_customer_name"],
            source=RecordRef(BACKEND, client_id) if client_id else None,
        )


def _int_or_none(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _status(code: str, total: Decimal, amount_paid: Decimal) -> InvoiceStatus:
    if code == STATUS_UNPAID:
        return InvoiceStatus.OPEN
    if code == STATUS_PAID:
        return InvoiceStatus.OVERPAID if amount_paid > total else InvoiceStatus.PAID
    if code == STATUS_PARTIALLY:
        return InvoiceStatus.PARTIALLY_PAID
    if code == STATUS_OVERDUE:
        # Overdue is not a neutral status: open or partially paid, by what was paid.
        return InvoiceStatus.PARTIALLY_PAID if amount_paid > 0 else InvoiceStatus.OPEN
    if code == STATUS_CANCELLED:
        return InvoiceStatus.VOID
    if code == STATUS_DRAFT:
        return InvoiceStatus.DRAFT
    return InvoiceStatus.UNKNOWN


# --------------------------------------------------------------------------- inferred taxes

#: Above this many tax assignments to try, line taxes are left unknown.
MAX_TAX_ASSIGNMENTS = 20000


def _perfex_tax(raw: Decimal, data: Mapping[str, Any]) -> Decimal:
    """``update_sales_total_tax_column``'s discount rule, then the column's rounding."""
    if data.get("discount_type") == "before_tax":
        percent = data.get("discount_percent") or ZERO
        discount = data.get("discount_total") or ZERO
        subtotal = data.get("subtotal") or ZERO
        if percent != 0:
            raw -= raw * percent / 100
        elif discount != 0 and subtotal != 0:
            raw -= raw * (discount / subtotal * 100) / 100
    return round_cents(raw)


def infer_line_taxes(
    items: list[LineItem], data: Mapping[str, Any], taxes: list[tuple[str, Decimal]]
) -> bool:
    """Give lines read without tax detail the taxes that reproduce the invoice's
    ``total_tax``, when exactly one assignment does.

    Each line is taken to carry none or one of the install's taxes (``/api/common/
    tax_data``); every assignment is tried and Perfex's own tax computation (discount
    rule and rounding included) applied. A ``total_tax`` of zero means no line is taxed.
    When no assignment or several reproduce it, the lines stay unknown. Inferred lines are
    marked ``extra["taxes_inferred"]``. Returns whether taxes were inferred.
    """
    total_tax: Decimal = data.get("total_tax") or ZERO
    unknown = [i for i in items if not i.extra.get("taxes_known")]
    if not unknown or len(unknown) != len(items):
        return False
    if total_tax == 0:
        solution: tuple[int, ...] | None = (0,) * len(items)
    else:
        rates = sorted({rate for _, rate in taxes})
        if not rates or (len(rates) + 1) ** len(items) > MAX_TAX_ASSIGNMENTS:
            return False
        amounts = [item.quantity * item.unit_price for item in items]
        choices = [ZERO, *rates]
        solution = None
        for combo in itertools.product(range(len(choices)), repeat=len(items)):
            raw = sum((a * choices[c] / 100 for a, c in zip(amounts, combo, strict=True)), ZERO)
            if _perfex_tax(raw, data) == total_tax:
                if solution is not None:
                    return False  # ambiguous: say nothing
                solution = combo
        if solution is None:
            return False
        names = {rate: name for name, rate in reversed(taxes)}
        for item, index in zip(items, solution, strict=True):
            if index:
                rate = choices[index]
                item.taxes = [TaxRate(names[rate], rate)]
    for item in items:
        item.extra["taxes_inferred"] = True
    return True


# --------------------------------------------------------------------------- totals


@dataclass(frozen=True)
class PerfexTotals:
    """What Perfex stores for an invoice: ``subtotal`` and ``total`` as sent (so we compute
    them), ``total_tax`` recomputed by ``update_sales_total_tax_column``."""

    subtotal: Decimal
    total_tax: Decimal
    total: Decimal
    discount_total: Decimal
    discount_type: str


@dataclass(frozen=True)
class PerfexLine:
    description: str
    long_description: str
    qty: Decimal
    rate: Decimal
    unit: str
    taxes: tuple[tuple[str, Decimal], ...]


def perfex_totals(
    lines: Iterable[PerfexLine],
    *,
    discount_total: Decimal = ZERO,
    adjustment: Decimal = ZERO,
    discount_type: str | None = None,
    expected_tax: Decimal | None = None,
) -> PerfexTotals:
    """Totals the way Perfex computes them (core ``sales_helper.php``).

    Subtotal: the sum of ``qty * rate``. Tax: for every line tax ``qty * rate / 100 *
    taxrate``; a ``before_tax`` discount reduces the tax by ``discount_total / subtotal``.
    Total: ``subtotal - discount_total + total_tax + adjustment``, each rounded to cents as
    the ``DECIMAL(15,2)`` columns do. With a discount and no ``discount_type``, the type
    whose tax is closest to ``expected_tax`` is chosen (``before_tax`` on a tie).
    """
    lines = list(lines)
    subtotal = round_cents(sum((line.qty * line.rate for line in lines), ZERO))
    raw_tax = sum(
        (line.qty * line.rate / 100 * rate for line in lines for _, rate in line.taxes), ZERO
    )
    discount_total = round_cents(discount_total)

    def tax_for(kind: str) -> Decimal:
        if kind == "before_tax" and discount_total != 0 and subtotal != 0:
            return round_cents(raw_tax - raw_tax * (discount_total / subtotal))
        return round_cents(raw_tax)

    if discount_total == 0:
        kind = ""
    elif discount_type in ("before_tax", "after_tax"):
        kind = discount_type
    else:
        before, after = tax_for("before_tax"), tax_for("after_tax")
        kind = "before_tax"
        if expected_tax is not None and abs(after - expected_tax) < abs(before - expected_tax):
            kind = "after_tax"
    total_tax = tax_for(kind)
    total = round_cents(subtotal - discount_total + total_tax + adjustment)
    return PerfexTotals(subtotal, total_tax, total, discount_total, kind)


# --------------------------------------------------------------------------- writing


def perfex_lines(items: list[LineItem], lookups: PerfexLookups) -> list[PerfexLine]:
    """The neutral lines as Perfex lines, quantities and prices rounded to the cents Perfex
    stores (``DECIMAL(15,2)``; whether the totals still agree is checked on the totals).
    Raises MappingError for line discounts, which Perfex does not have."""
    if not items:
        raise MappingError("Perfex needs at least one line", backend=BACKEND, field="items")
    lines = []
    for index, item in enumerate(items):
        if item.discount:
            raise MappingError(
                f"Perfex has no line discounts (line {index + 1} has {item.discount})",
                backend=BACKEND,
                field=f"items[{index}].discount",
            )
        lines.append(
            PerfexLine(
                description=item.name,
                long_description=item.description or "",
                qty=round_cents(item.quantity),
                rate=round_cents(item.unit_price),
                unit=item.unit or "",
                taxes=tuple(lookups.tax_for(tax) for tax in item.taxes),
            )
        )
    return lines


def perfex_number_of(invoice: Invoice) -> int:
    """The integer Perfex stores for a neutral number: the digits of a Perfex display
    number or of another system's number (``"INV-000017"``, ``"000017"`` → 17)."""
    parsed = parse_number(invoice.number)
    if parsed is None:
        kept = invoice.extra.get("perfex_number")
        if isinstance(kept, int):
            return kept
        raise MappingError(
            f"invoice number {invoice.number!r} has no digits; Perfex numbers are integers",
            backend=BACKEND,
            field="number",
        )
    if parsed.number > MAX_NUMBER or (parsed.number == 0):
        raise MappingError(
            f"invoice number {invoice.number!r} does not fit Perfex's integer number column",
            backend=BACKEND,
            field="number",
        )
    return parsed.number


@dataclass
class InvoicePlan:
    """Everything an invoice write needs besides the invoice: resolved ids and totals."""

    client_id: str
    currency_id: str
    number: int
    lines: list[PerfexLine]
    totals: PerfexTotals
    payment_modes: list[str]
    billing: dict[str, str]
    draft: bool = False
    item_ids: list[str] = field(default_factory=list)  # existing lines (updates)


def _line_fields(line: PerfexLine, order: int) -> dict[str, Any]:
    return {
        "description": line.description,
        "long_description": line.long_description,
        "qty": money_text(line.qty),
        "rate": money_text(line.rate),
        "unit": line.unit,
        "order": str(order),
        "taxname": [f"{name}|{money_text(rate)}" for name, rate in line.taxes],
    }


class PerfexInvoiceWriteSchema(Schema):
    """Dumps a neutral invoice into the fields ``POST/PUT /api/invoices`` expects.

    Create: ``newitems`` as a list (form-encoded to ``newitems[0][description]`` ...).
    Update (``for_update=True``): existing lines reused in order as ``items`` keyed by
    index with ``itemid``, the rest as ``newitems``, surplus old lines in ``removed_items``.
    """

    clientid = fields.Method("_clientid")
    number = fields.Method("_number")
    date = fields.Method("_date")
    duedate = fields.Method("_duedate")
    currency = fields.Method("_currency")
    subtotal = fields.Method("_subtotal")
    total = fields.Method("_total")
    discount_total = fields.Method("_discount_total")
    discount_percent = fields.Method("_zero")
    discount_type = fields.Method("_discount_type")
    adjustment = fields.Method("_adjustment")
    clientnote = fields.Function(lambda invoice: invoice.notes or "")
    terms = fields.Function(lambda invoice: invoice.terms or "")
    allowed_payment_modes = fields.Method("_modes")
    show_quantity_as = fields.Constant("1")

    def __init__(self, *, plan: InvoicePlan, for_update: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plan = plan
        self.for_update = for_update

    def _clientid(self, invoice: Invoice) -> str:
        return self.plan.client_id

    def _number(self, invoice: Invoice) -> str:
        return str(self.plan.number)

    def _date(self, invoice: Invoice) -> str:
        return invoice.issue_date.isoformat()

    def _duedate(self, invoice: Invoice) -> str:
        return invoice.due_date.isoformat() if invoice.due_date else ""

    def _currency(self, invoice: Invoice) -> str:
        return self.plan.currency_id

    def _subtotal(self, invoice: Invoice) -> str:
        return money_text(self.plan.totals.subtotal)

    def _total(self, invoice: Invoice) -> str:
        return money_text(self.plan.totals.total)

    def _discount_total(self, invoice: Invoice) -> str:
        return money_text(self.plan.totals.discount_total)

    def _discount_type(self, invoice: Invoice) -> str:
        return self.plan.totals.discount_type

    def _adjustment(self, invoice: Invoice) -> str:
        return money_text(invoice.adjustment)

    def _zero(self, invoice: Invoice) -> str:
        return "0"

    def _modes(self, invoice: Invoice) -> list[str]:
        return list(self.plan.payment_modes)

    @post_dump
    def _lines_and_extras(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        plan = self.plan
        data.update(plan.billing)
        lines = [_line_fields(line, order) for order, line in enumerate(plan.lines, start=1)]
        if self.for_update:
            reused = list(zip(plan.item_ids, lines, strict=False))
            data["items"] = {
                str(index): {"itemid": item_id, **fields_}
                for index, (item_id, fields_) in enumerate(reused, start=1)
            }
            data["newitems"] = {
                str(index): fields_
                for index, fields_ in enumerate(lines[len(reused) :], start=len(reused) + 1)
            }
            data["removed_items"] = plan.item_ids[len(lines) :]
            data["isedit"] = ""
        else:
            data["newitems"] = lines
            if plan.draft:
                data["save_as_draft"] = "true"
        return data


class PerfexClientWriteSchema(Schema):
    """Dumps a neutral client into the ``POST/PUT /api/customers`` fields."""

    company = fields.Method("_company")
    vat = fields.Function(lambda c: c.tax_number or "")
    phonenumber = fields.Function(lambda c: c.phone or "")
    website = fields.Function(lambda c: str(c.extra.get("website") or ""))
    address = fields.Method("_street")
    city = fields.Function(lambda c: (c.address.city if c.address else None) or "")
    state = fields.Function(lambda c: (c.address.state if c.address else None) or "")
    zip = fields.Function(lambda c: (c.address.postal_code if c.address else None) or "")
    country = fields.Method("_country")
    billing_street = fields.Method("_street")
    billing_city = fields.Function(lambda c: (c.address.city if c.address else None) or "")
    billing_state = fields.Function(lambda c: (c.address.state if c.address else None) or "")
    billing_zip = fields.Function(lambda c: (c.address.postal_code if c.address else None) or "")
    billing_country = fields.Method("_country")
    default_currency = fields.Method("_currency")

    def __init__(self, *, lookups: PerfexLookups, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lookups = lookups

    def _company(self, client: Client) -> str:
        return client.company_name or client.name

    def _street(self, client: Client) -> str:
        if client.address is None:
            return ""
        return "\n".join(p for p in (client.address.line1, client.address.line2) if p)

    def _country(self, client: Client) -> str:
        code = client.address.country if client.address else None
        return country_id(code) or "0"

    def _currency(self, client: Client) -> str:
        # "0" is the install's default currency.
        if not client.currency:
            return "0"
        return self.lookups.currency_id(client.currency) or "0"


class PerfexPaymentWriteSchema(Schema):
    """Dumps a neutral payment into the ``POST /api/payments`` fields. Perfex forces the
    payment date to the server's today: ``date`` is not sent (it would be ignored)."""

    invoiceid = fields.Function(lambda p: p.invoice_id)
    amount = fields.Function(lambda p: money_text(p.amount))
    paymentmode = fields.Method("_mode")
    paymentmethod = fields.Function(lambda p: str(p.extra.get("paymentmethod") or ""))
    note = fields.Function(lambda p: p.notes or "")
    transactionid = fields.Function(lambda p: p.reference or "")

    def __init__(self, *, mode: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mode = mode

    def _mode(self, payment: Payment) -> str:
        return self.mode


def drop_empty(
    data: Mapping[str, Any], keep: Callable[[str], bool] = lambda k: False
) -> dict[str, Any]:
    """Leave out empty optional fields (``""``), except those ``keep`` names."""
    return {k: v for k, v in data.items() if v not in ("", None) or keep(k)}
