"""Acme Books payloads to the neutral model and back, with marshmallow 4."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from marshmallow import EXCLUDE, Schema, fields, post_load, pre_load

from invoicing_bridge import (
    Client,
    Invoice,
    InvoiceStatus,
    LineItem,
    MappingError,
    Payment,
    RecordRef,
    TaxRate,
)

#: Acme's invoice ``state`` codes: 0 draft, 1 sent, 2 paid, 3 void.
DRAFT, SENT, PAID, VOID = 0, 1, 2, 3


def status_from(state: Any, total: Decimal, paid: Decimal) -> InvoiceStatus:
    """The neutral status of an Acme invoice. An unknown code is UNKNOWN, never an error."""
    if state in (SENT, PAID):
        # "sent" covers open and partially paid, and "paid" may be overpaid: the amounts say.
        return InvoiceStatus.from_amounts(total, paid)
    return {DRAFT: InvoiceStatus.DRAFT, VOID: InvoiceStatus.VOID}.get(state, InvoiceStatus.UNKNOWN)


class AcmeSchema(Schema):
    """Unknown keys are ignored (APIs grow), and an empty string means absent."""

    class Meta:
        unknown = EXCLUDE

    @pre_load
    def blanks_to_none(self, data: Any, **kwargs: Any) -> Any:
        if isinstance(data, dict):
            return {key: None if value == "" else value for key, value in data.items()}
        return data


class Id(fields.String):
    """Acme sends ids as numbers: accept ``12`` and ``"12"``, give ``"12"``."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return super()._deserialize(str(value), attr, data, **kwargs)


def _text(**kwargs: Any) -> fields.String:
    return fields.String(load_default=None, allow_none=True, **kwargs)


class AcmeCustomerSchema(AcmeSchema):
    id = Id(required=True)
    name = fields.String(required=True)
    email = _text()
    tax_number = _text(data_key="vat")  # data_key: Acme's name for the field

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> Client:
        return Client(**data, company_name=data["name"], source=RecordRef("acme", data["id"]))


class AcmeLineSchema(AcmeSchema):
    name = fields.String(required=True, data_key="title")
    quantity = fields.Decimal(required=True, data_key="qty")
    unit_price = fields.Decimal(required=True, data_key="price")
    tax_name = _text()
    tax_rate = fields.Decimal(load_default=None, allow_none=True)
    tax_amount = fields.Decimal(load_default=None, allow_none=True, data_key="tax")

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> LineItem:
        name, rate = data.pop("tax_name"), data.pop("tax_rate")
        taxes = [] if rate is None else [TaxRate(name or "Tax", rate)]
        return LineItem(**data, taxes=taxes)


class AcmePaymentSchema(AcmeSchema):
    id = Id(required=True)
    invoice_id = Id(required=True)
    amount = fields.Decimal(required=True)
    date = fields.Date(required=True)
    method = fields.String(load_default="other")
    reference = _text(data_key="ref")

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> Payment:
        return Payment(**data, source=RecordRef("acme", data["id"]))


class AcmeInvoiceSchema(AcmeSchema):
    id = Id(required=True)
    number = fields.String(required=True, data_key="ref")
    state = fields.Integer(required=True)
    issue_date = fields.Date(required=True, data_key="issued")
    due_date = fields.Date(load_default=None, allow_none=True, data_key="due")
    currency = fields.String(required=True)
    client = fields.Nested(AcmeCustomerSchema, required=True, data_key="customer")
    items = fields.List(fields.Nested(AcmeLineSchema), data_key="lines", load_default=list)
    payments = fields.List(fields.Nested(AcmePaymentSchema), load_default=list)
    subtotal = fields.Decimal(required=True)
    tax_total = fields.Decimal(required=True, data_key="tax")
    total = fields.Decimal(required=True)
    amount_paid = fields.Decimal(required=True, data_key="paid")
    notes = _text()
    terms = _text()
    public_url = _text(data_key="url")

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> Invoice:
        state, url = data.pop("state"), data.pop("public_url")
        return Invoice(
            **data,
            status=status_from(state, data["total"], data["amount_paid"]),
            balance_due=data["total"] - data["amount_paid"],
            source=RecordRef("acme", data["id"]),
            extra={"public_url": url} if url else {},
        )


def invoice_body(invoice: Invoice) -> dict[str, Any]:
    """The create body Acme expects. Raises MappingError for what Acme cannot store."""
    lines = []
    for index, item in enumerate(invoice.items):
        if len(item.taxes) > 1:
            raise MappingError(
                "Acme allows one tax per line", backend="acme", field=f"items[{index}].taxes"
            )
        tax = item.taxes[0] if item.taxes else None
        lines.append(
            {
                "title": item.name,
                "qty": str(item.quantity),
                "price": str(item.unit_price),
                "tax_name": tax.name if tax else None,
                "tax_rate": str(tax.rate) if tax else None,
            }
        )
    return {
        "ref": invoice.number,
        "state": DRAFT if invoice.status is InvoiceStatus.DRAFT else SENT,
        "issued": invoice.issue_date.isoformat(),
        "due": invoice.due_date.isoformat() if invoice.due_date else None,
        "currency": invoice.currency,
        "customer_id": invoice.client.id,
        "lines": lines,
        "notes": invoice.notes,
        "terms": invoice.terms,
    }
