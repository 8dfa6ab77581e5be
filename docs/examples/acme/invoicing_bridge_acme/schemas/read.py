"""Acme Books payloads to the neutral model, on the core's shared mapping layer.

:class:`~invoicing_bridge.schemas.base.BackendSchema` excludes unknown keys (APIs grow),
unwraps the ``envelope`` (``{"invoice": {...}}``) and keeps the payload read-only as
``raw``; the shared fields read Acme's values by the model's rules (``""`` is absent, ids
as text, money as exact Decimal). A load does no I/O: it is a pure function of the payload.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from marshmallow import post_load

from invoicing_bridge import Client, Invoice, InvoiceStatus, LineItem, Payment, TaxRate
from invoicing_bridge.schemas.base import BackendSchema, Nested, SchemaContext
from invoicing_bridge.schemas.fields import Date, Money, Number, RemoteId, StatusMap, Text

#: Acme's invoice ``state`` codes: 0 draft, 1 sent, 2 paid, 3 void.
DRAFT, SENT, PAID, VOID = 0, 1, 2, 3

#: ``sent`` and ``paid`` are both "issued": the amounts say open, partly paid or paid.
STATES = StatusMap(
    {
        DRAFT: InvoiceStatus.DRAFT,
        SENT: InvoiceStatus.OPEN,
        PAID: InvoiceStatus.PAID,
        VOID: InvoiceStatus.VOID,
    },
    unknown=InvoiceStatus.UNKNOWN,
)
ISSUED = frozenset({InvoiceStatus.OPEN, InvoiceStatus.PAID})


def status_from(state: Any, total: Decimal, paid: Decimal) -> InvoiceStatus:
    """The neutral status of an Acme invoice. An unknown code is UNKNOWN, never an error."""
    status = STATES.status_of(state)
    # "sent" covers open and partially paid, and "paid" may be overpaid: the amounts say.
    return InvoiceStatus.from_amounts(total, paid) if status in ISSUED else status


class AcmeSchema(BackendSchema[SchemaContext]):
    """Base of the Acme read schemas: the records' ``source`` names ``acme``."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("context", SchemaContext(backend="acme"))
        super().__init__(**kwargs)


class AcmeCustomerSchema(AcmeSchema):
    envelope = "customer"

    id = RemoteId(required=True)
    name = Text(required=True)
    email = Text()
    tax_number = Text(data_key="vat")  # data_key: Acme's name for the field

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> Client:
        return Client(**data, company_name=data["name"], source=self.ref(data["id"]))


class AcmeLineSchema(AcmeSchema):
    id_key = None  # lines have no id

    name = Text(required=True, data_key="title")
    quantity = Number(required=True, data_key="qty")
    unit_price = Money(required=True, data_key="price")
    tax_name = Text()
    tax_rate = Number()
    tax_amount = Money(data_key="tax")

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> LineItem:
        name, rate = data.pop("tax_name"), data.pop("tax_rate")
        data.pop("raw")
        taxes = [] if rate is None else [TaxRate(name or "Tax", rate)]
        return LineItem(**data, taxes=taxes)


class AcmePaymentSchema(AcmeSchema):
    envelope = "payment"

    id = RemoteId(required=True)
    invoice_id = RemoteId(required=True)
    amount = Money(required=True)
    date = Date(required=True)
    method = Text(load_default="other")
    reference = Text(data_key="ref")

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> Payment:
        return Payment(**data, source=self.ref(data["id"]))


class AcmeInvoiceSchema(AcmeSchema):
    envelope = "invoice"

    id = RemoteId(required=True)
    number = Text(required=True, data_key="ref")
    state = Number(required=True)
    issue_date = Date(required=True, data_key="issued")
    due_date = Date(data_key="due")
    currency = Text(required=True)
    client = Nested(AcmeCustomerSchema, required=True, data_key="customer")
    items = Nested(AcmeLineSchema, many=True, data_key="lines", load_default=list)
    payments = Nested(AcmePaymentSchema, many=True, load_default=list)
    subtotal = Money(required=True)
    tax_total = Money(required=True, data_key="tax")
    total = Money(required=True)
    amount_paid = Money(required=True, data_key="paid")
    notes = Text()
    terms = Text()
    public_url = Text(data_key="url")

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> Invoice:
        state, url = data.pop("state"), data.pop("public_url")
        return Invoice(
            **data,
            status=status_from(state, data["total"], data["amount_paid"]),
            balance_due=data["total"] - data["amount_paid"],
            source=self.ref(data["id"]),
            extra={"public_url": url} if url else {},
        )
