"""Reading: Perfex payloads into the neutral model.

:class:`PerfexInvoiceSchema`, :class:`PerfexClientSchema`, :class:`PerfexPaymentSchema`
and :class:`PerfexItemSchema` load a single GET, a list row (2.x bare array or a 3.x
``{data, meta}`` page, unwrapped by :func:`load_many`) and a search row (the invoice
columns overlaid with the customer's).

A load is a pure function of the payload and the schema's read-only
:class:`~.context.PerfexContext` (currency ids, payment-mode names, taxes, number
padding): it performs no I/O and learns nothing. What a payload teaches (a currency id
an invoice names, a payment mode's name) stays in the model (``extra``, ``raw``), and the
backend's lookups learn it from there after the load.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from marshmallow import ValidationError, fields, post_load

from invoicing_bridge.models import (
    Address,
    Client,
    Invoice,
    InvoiceStatus,
    LineItem,
    Payment,
    PaymentStatus,
    TaxRate,
)
from invoicing_bridge.schemas.base import BackendSchema, load_record

from ..cents import ZERO, round_cents
from ..countries import country_code
from ..numbers import format_number
from ..phpforms import PHPFormError, parse_payment_modes
from .context import PerfexContext
from .fields import Flag, Id, Money, PDate, PDateTime, Text, br2nl, text_of, to_decimal

__all__ = [
    "POSSIBLE_STATUSES",
    "UNKNOWN_CURRENCY",
    "PerfexClientSchema",
    "PerfexInvoiceSchema",
    "PerfexItemSchema",
    "PerfexPaymentSchema",
    "PerfexSchema",
    "infer_line_taxes",
    "load_many",
    "unwrap_rows",
]

BACKEND = "perfex"
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


class PerfexSchema(BackendSchema[PerfexContext]):
    """Base of the reading schemas (the core's :class:`BackendSchema`: unknown keys
    excluded, ``raw`` captured once, a read-only :class:`PerfexContext`); error bodies
    given as records are refused."""

    def unwrap(self, payload: Mapping[str, Any]) -> Mapping[str, Any]:
        message = _status_error(payload)
        if message is not None:
            raise ValidationError(f"this is an error answer, not a record: {message}")
        return payload


def load_many(schema: PerfexSchema, payload: Any, kind: str) -> list[Any]:
    """Load every record of ``payload`` (see :func:`unwrap_rows`). Raises MappingError
    naming the row and the first failing field."""
    rows = unwrap_rows(payload)
    if len(rows) == 1:
        return [load_record(schema, rows[0], backend=BACKEND, what=kind)]
    records: list[Any] = load_record(schema, rows, backend=BACKEND, what=kind, many=True)
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
    # Core ≥ 3.4: optional lines (JSON booleans; "0"/"1" accepted too).
    is_optional = fields.Raw(load_default=None, allow_none=True)
    is_selected = fields.Raw(load_default=None, allow_none=True)

    @post_load
    def make_item(self, data: dict[str, Any], **kwargs: Any) -> LineItem:
        taxes_known = isinstance(data["taxes"], list | tuple)  # raw arrays are tuples
        taxes: list[TaxRate] = []
        if taxes_known:
            for row in data["taxes"]:
                if not isinstance(row, Mapping):
                    continue
                # Core 3.4 rewrites taxname to "NAME|RATE" (get_invoice_item_taxes).
                label = text_of(row.get("taxname")) or text_of(row.get("name")) or "Tax"
                name, sep, rate_text = label.rpartition("|")
                if not sep:
                    name, rate_text = label, ""
                rate = to_decimal(row.get("taxrate"))
                if rate is None:
                    rate = to_decimal(rate_text)
                if rate is not None:
                    taxes.append(TaxRate(name.strip() or "Tax", rate))
        extra: dict[str, Any] = {"taxes_known": taxes_known}
        if data["is_optional"] is not None:
            extra["optional"] = _truthy(data["is_optional"])
            extra["selected"] = data["is_selected"] is None or _truthy(data["is_selected"])
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

    id_key = "userid"

    def unwrap(self, payload: Mapping[str, Any]) -> Mapping[str, Any]:
        record = super().unwrap(payload)
        # 3.x ``?fields=id`` examples use ``id`` (GUESS in the notes): accept it when
        # ``userid`` is absent.
        if "userid" not in record and "id" in record:
            record = {**record, "userid": record["id"]}
        return record

    @post_load
    def make_client(self, data: dict[str, Any], **kwargs: Any) -> Client:
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
            currency=self.context.currency_code(data["default_currency"]),
            source=self.ref(data["userid"]),
            raw=data["raw"],
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

    id_key = "paymentid"

    @post_load
    def make_payment(self, data: dict[str, Any], **kwargs: Any) -> Payment:
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
            currency=None,  # the invoice's (set by the invoice schema or the backend)
            date=when,
            method=self.context.method_of(data["paymentmode"], mode_name),
            reference=data["transactionid"],
            notes=data["note"],
            status=PaymentStatus.COMPLETED,
            source=self.ref(payment_id),
            raw=data["raw"],
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

    @post_load
    def make_invoice(self, data: dict[str, Any], **kwargs: Any) -> Invoice:
        row: Mapping[str, Any] = data["raw"]
        context = self.context
        invoice_id = data["invoiceid"] or data["id"]
        status_code = (data["status"] or "").strip()
        issue_date: dt.date = data["date"]
        extra: dict[str, Any] = {}

        # Currency: the GET and list rows join tblcurrencies (``name`` is the code);
        # search rows carry only the id.
        currency_id = data["currency"] or data["currencyid"]
        code = data["currency_name"]
        if code is None and (data["symbol"] is not None or data["currencyid"] is not None):
            code = text_of(row.get("name"))
        if not code:
            # (A code the row names is learned by the backend after the load.)
            code = context.currency_code(currency_id)
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
                padding=context.padding,
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
        item_schema = self.nested(PerfexItemSchema)
        items: list[LineItem] = []
        if data["items"] is not None:
            rows = sorted(
                (r for r in data["items"] if isinstance(r, Mapping)),
                key=lambda r: _int_or_none(r.get("item_order")) or 0,
            )
            items = [item_schema.load(r) for r in rows]
            # Core ≥ 3.4: an optional line the customer has not selected is left out of
            # subtotal, tax and total, so it is no line of the neutral invoice.
            unselected = [i for i in items if i.extra.get("optional") and not i.extra["selected"]]
            if unselected:
                extra["unselected_optional_items"] = [i.name for i in unselected]
                items = [i for i in items if not any(i is u for u in unselected)]
            if any(not i.extra.get("taxes_known") for i in items):
                extra["item_taxes"] = "not returned by the Perfex API"
                inferred = context.infer_taxes and infer_line_taxes(
                    items, data, list(context.taxes)
                )
                if inferred:
                    extra["item_taxes"] = "inferred from total_tax and the install's taxes"
        else:
            extra["items_included"] = False

        # Payments and what was paid.
        payments: list[Payment] = []
        if data["payments"] is not None:
            payment_schema = self.nested(PerfexPaymentSchema)
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
        if (
            client.currency is None
            and currency_id
            and client.extra.get("default_currency_id") == currency_id
            and not extra.get("currency_unresolved")
        ):
            client.currency = code  # the currency this very row names

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
            notes=_plain(data["clientnote"]),
            terms=_plain(data["terms"]),
            created_at=data["datecreated"],
            source=self.ref(invoice_id),
            raw=row,
            extra=extra,
        )

    def _client(
        self, row: Mapping[str, Any], data: dict[str, Any], extra: dict[str, Any]
    ) -> Client:
        schema = self.nested(PerfexClientSchema)
        nested = row.get("client")
        if isinstance(nested, Mapping) and (nested.get("userid") or nested.get("company")):
            client: Client = schema.load(nested)
            if client.id is None and data["clientid"]:
                client.id = data["clientid"]
                client.source = self.ref(data["clientid"])
            return _as_printed(client, row)
        if row.get("userid") or row.get("company"):
            # A search row: tblclients.* is joined in (the invoice's billing_* columns are
            # overwritten by the customer's, so nothing is taken from them).
            columns = {k: v for k, v in row.items() if k not in ("id", "datecreated")}
            joined: Client = schema.load(columns)
            return joined
        # A list row names no customer: only its id (or a deleted customer's name), and
        # the address printed on the invoice.
        extra["client_included"] = False
        client_id = data["clientid"]
        listed = Client(
            id=client_id,
            name=data["deleted_customer_name"] or "",
            company_name=data["deleted_customer_name"],
            source=self.ref(client_id),
        )
        return _as_printed(listed, row)


def _as_printed(client: Client, row: Mapping[str, Any]) -> Client:
    """The billed party as printed on the invoice: Perfex keeps the invoice's own
    ``billing_*`` columns, which can differ from the customer's profile (they win; the
    profile's address is kept in ``extra["profile_address"]`` when it differs). Not for
    search rows, whose ``billing_*`` are the customer's."""
    columns = [row.get(f"billing_{k}") for k in ("street", "city", "state", "zip", "country")]
    if not any(text_of(c) for c in columns[:4]):
        return client
    printed = _address(*(text_of(c) for c in columns))
    if printed is None or printed == client.address:
        return client
    if client.address is not None:
        client.extra["profile_address"] = client.address.to_dict()
    client.address = printed
    return client


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "on")


def _plain(text: str | None) -> str | None:
    """Notes and terms as plain text: core stores them through ``nl2br_save_html`` (a
    ``<br />`` before each newline), so the breaks are undone and ``\r\n`` is ``\n``;
    writing the text back then stores what was there (core 3.2
    ``pre_query_data_formatters_helper.php:51-57``)."""
    plain = br2nl(text)
    return plain.replace("\r\n", "\n") if plain is not None else None


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


def _tax_rule(data: Mapping[str, Any]) -> Callable[[Decimal], Decimal]:
    """``update_sales_total_tax_column``'s discount rule, then the column's rounding, for
    the invoice ``data``: the discount is read once, not once per assignment tried."""
    if data.get("discount_type") == "before_tax":
        percent = data.get("discount_percent") or ZERO
        discount = data.get("discount_total") or ZERO
        subtotal = data.get("subtotal") or ZERO
        if percent != 0:
            return lambda raw: round_cents(raw - raw * percent / 100)
        if discount != 0 and subtotal != 0:
            share = discount / subtotal * 100
            return lambda raw: round_cents(raw - raw * share / 100)
    return round_cents


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
        # Each line's tax at each rate, worked out once rather than once per assignment
        # (the same Decimal operations, summed in the same order: the same totals).
        terms = [[a * choice / 100 for choice in choices] for a in amounts]
        tax_of = _tax_rule(data)
        solution = None
        assignments = itertools.product(range(len(choices)), repeat=len(items))
        # The two products run in the same order: each assignment with its lines' taxes.
        for combo, parts in zip(assignments, itertools.product(*terms), strict=True):
            if tax_of(sum(parts, ZERO)) == total_tax:
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
