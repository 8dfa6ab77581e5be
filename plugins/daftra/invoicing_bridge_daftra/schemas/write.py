"""The neutral model → Daftra ``/api2`` request bodies (``dump``).

:class:`DaftraInvoiceBodySchema` builds the v1 create body with ``Invoice``,
``InvoiceItem`` and ``Payment`` as siblings; amounts are written with four decimals. A
line's tax rates become the ids of the account's taxes (:func:`tax_ids`), from the tax
table in the schema's context: a dump never does I/O either. Laying such a body over the
record as read, for a PUT, is write planning (:mod:`invoicing_bridge_daftra.plan`).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from marshmallow import fields, post_dump

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
    identity_key,
)
from invoicing_bridge.schemas.base import BackendSchema
from invoicing_bridge.schemas.fields import Number, to_decimal

from ..dates import ContextPending
from .read import FOUR_PLACES, PAYMENT_STATES, Amount, DaftraContext, daftra_method

__all__ = [
    "DaftraClientBodySchema",
    "DaftraInvoiceBodySchema",
    "DaftraInvoiceItemBodySchema",
    "DaftraPaymentBodySchema",
    "four_places",
    "includes_tax",
    "invoice_snapshot",
    "tax_id_for",
    "tax_ids",
]

#: A quantity: like an amount, but written with the digits it has.
Quantity = Number


def four_places(value: Decimal) -> Decimal:
    """An amount as Daftra is written: four decimals, half up (not the banker's rounding
    ``quantize`` uses by default)."""
    return value.quantize(FOUR_PLACES, ROUND_HALF_UP)


def tax_id_for(context: DaftraContext, tax: TaxRate, field: str, *, included: bool = False) -> str:
    """The id of the account's exclusive tax of ``tax.rate`` (tax-inclusive with
    ``included``; the one of the same name when several). Raises MappingError naming the
    rate when there is none, and ContextPending when the tax table has not been read."""
    if context.taxes is None:
        if context.taxes_final:
            raise MappingError(
                "taxes cannot be mapped offline", backend=context.backend, field=field
            )
        raise ContextPending("taxes")
    taxes = list(context.taxes.values())
    fitting = [t for t in taxes if t.rate == tax.rate and t.included == included]
    if not fitting:
        available = ", ".join(
            f"{t.name} {t.rate}%{' (inclusive)' if t.included else ''}" for t in taxes
        )
        kind = "tax-inclusive" if included else "exclusive"
        raise MappingError(
            f"no {kind} Daftra tax with the rate {tax.rate}% ({tax.name}) exists in this "
            f"account; create it in Daftra first. Taxes found: {available or 'none'}",
            backend=context.backend,
            field=field,
        )
    wanted = identity_key("name", tax.name)
    named = [t for t in fitting if identity_key("name", t.name) == wanted]
    return (named or fitting)[0].id


def tax_ids(context: DaftraContext, item: LineItem, path: str) -> list[int | str]:
    """``tax1``/``tax2`` of a line at ``path`` (``items[0]``). Raises MappingError."""
    if len(item.taxes) > 2:
        raise MappingError(
            f"Daftra carries at most two taxes per line, this line has {len(item.taxes)}",
            backend=context.backend,
            field=f"{path}.taxes",
        )
    if item.taxes and context.taxes is None and context.taxes_final:
        raise MappingError("taxes cannot be mapped offline", backend=context.backend, field=path)
    ids: list[int | str] = []
    included = includes_tax(item)
    for index, tax in enumerate(item.taxes):
        tax_id = tax_id_for(context, tax, f"{path}.taxes[{index}]", included=included)
        ids.append(int(tax_id) if tax_id.isdigit() else tax_id)
    return ids


def includes_tax(item: LineItem) -> bool:
    """Whether ``item`` is written with its price as entered in Daftra, tax included: it
    was read from a tax-inclusive line (``extra["price_includes_tax"]``) and its price is
    still that price net of its taxes (api-notes "Findings": Tax-inclusive taxes)."""
    if not item.extra.get("price_includes_tax") or not item.taxes:
        return False
    with_tax = to_decimal(item.extra.get("unit_price_with_tax"))
    if with_tax is None:
        return False
    rate = sum((tax.rate for tax in item.taxes), ZERO)
    return (with_tax * 100 / (100 + rate)).quantize(FOUR_PLACES, ROUND_HALF_UP) == item.unit_price


class _BodySchema(BackendSchema[DaftraContext]):
    """Base of the write schemas: dumped with the backend's context (its tax table)."""


class DaftraInvoiceItemBodySchema(_BodySchema):
    """LineItem → one ``InvoiceItem`` of a create or update body."""

    item = fields.String(attribute="name")
    description = fields.String(allow_none=True)
    unit_price = fields.Method("_unit_price")
    quantity = Quantity()
    discount = fields.Method("_discount")
    discount_type = fields.Method("_discount_type")

    @staticmethod
    def _entered(item: LineItem) -> tuple[Decimal, Decimal]:
        """The price and discount as Daftra holds them: tax included for a line of
        tax-inclusive taxes (:func:`includes_tax`), else the neutral ones."""
        if includes_tax(item):
            price = to_decimal(item.extra.get("unit_price_with_tax"))
            discount = to_decimal(item.extra.get("discount_with_tax")) or ZERO
            if price is not None:
                return price, discount if item.discount else ZERO
        return item.unit_price, item.discount

    def _unit_price(self, item: LineItem) -> Decimal:
        return four_places(self._entered(item)[0])

    @classmethod
    def _percent(cls, item: LineItem) -> Decimal | None:
        """The line's Daftra percentage, when it still gives the line's discount amount."""
        percent = to_decimal(item.extra.get("discount_percent"))
        price, discount = cls._entered(item)
        if percent and item.quantity * price * percent / 100 == discount:
            return percent
        return None

    def _discount(self, item: LineItem) -> Decimal:
        percent = self._percent(item)
        return four_places(percent if percent is not None else self._entered(item)[1])

    def _discount_type(self, item: LineItem) -> int | None:
        if not item.discount:
            return None
        return 1 if self._percent(item) is not None else 2


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

    def _invoice_id(self, payment: Payment) -> int | str:
        if not payment.invoice_id:
            raise MappingError(
                "Daftra records a payment against an invoice: invoice_id is required",
                backend=self.context.backend,
                field="invoice_id",
            )
        text = str(payment.invoice_id)
        return int(text) if text.isdigit() else text

    @staticmethod
    def _status(payment: Payment) -> int | None:
        code: int | None = PAYMENT_STATES.remote_of(payment.status)
        return code

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

    def _client_id(self, invoice: Invoice) -> int | str:
        if not invoice.client.id:
            raise MappingError(
                "the invoice's client has no Daftra id: create the client first",
                backend=self.context.backend,
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

    def _due_after(self, invoice: Invoice) -> int | None:
        if invoice.due_date is None:
            return None
        days = (invoice.due_date - invoice.issue_date).days
        if days < 0:
            raise MappingError(
                "the due date is before the issue date",
                backend=self.context.backend,
                field="due_date",
            )
        return days

    def _draft(self, invoice: Invoice) -> bool:
        if invoice.status is InvoiceStatus.VOID:
            raise MappingError(
                "Daftra cannot store a void (cancelled) invoice",
                backend=self.context.backend,
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
        item_schema = self.nested(DaftraInvoiceItemBodySchema)
        for index, item in enumerate(invoice.items):
            row = item_schema.dump(item)
            ids = tax_ids(self.context, item, f"items[{index}]")
            row["tax1"] = ids[0] if ids else None
            row["tax2"] = ids[1] if len(ids) > 1 else None
            rows.append({k: v for k, v in row.items() if v is not None})
        return rows

    def _payments(self, invoice: Invoice) -> list[dict[str, Any]]:
        schema = self.nested(_PaymentRowSchema)
        rows = []
        for payment in invoice.payments:
            if payment.status is not PaymentStatus.COMPLETED:
                continue
            row = {k: v for k, v in schema.dump(payment).items() if v is not None}
            if row.get("payment_method") in EMAIL_METHODS and invoice.client.email:
                row["email"] = invoice.client.email  # required there (api-notes §3)
            rows.append(row)
        return rows

    @post_dump(pass_original=True)
    def to_body(self, data: dict[str, Any], original: Invoice, **kwargs: Any) -> dict[str, Any]:
        data.update(invoice_snapshot(original.client))
        items = data.pop("InvoiceItem")
        payments = data.pop("Payment")
        body: dict[str, Any] = {"Invoice": data, "InvoiceItem": items}
        if payments:
            body["Payment"] = payments
        return body


#: Daftra methods whose ``Payment[]`` row in an invoice create needs the payer's email.
EMAIL_METHODS = frozenset({"paypal", "stripe"})


def inline_payment(payment: Payment, client: Client) -> bool:
    """Whether ``payment`` can be recorded in the invoice create's own ``Payment[]``: the
    documented fields of a row there (api-notes §3) carry no notes, and a paypal or
    stripe row needs an email. Others are recorded through ``/invoice_payments``."""
    if payment.notes:
        return False
    return daftra_method(payment.method) not in EMAIL_METHODS or bool(client.email)


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
