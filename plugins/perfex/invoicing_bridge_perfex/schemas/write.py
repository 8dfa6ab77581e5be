"""Writing: neutral records into the fields the module expects, every value a string.

:class:`PerfexInvoiceWriteSchema`, :class:`PerfexClientWriteSchema` and
:class:`PerfexPaymentWriteSchema` dump into form fields (PHP bracket keys, encoded by
:func:`~..phpforms.encode_form`) or a 2.x raw-JSON PUT body. An invoice is dumped from
its :class:`InvoicePlan` (resolved ids, Perfex lines and totals: see :mod:`..plan`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from marshmallow import Schema, fields, post_dump

from invoicing_bridge.models import Client, Invoice, Payment

from ..cents import money_text
from ..countries import country_id
from ..numbers import DRAFT_NUMBER
from .context import PerfexContext

__all__ = [
    "InvoicePlan",
    "PerfexClientWriteSchema",
    "PerfexInvoiceWriteSchema",
    "PerfexLine",
    "PerfexPaymentWriteSchema",
    "PerfexTotals",
]


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
    #: Settings read from the stored invoice and sent back on an update, since Perfex
    #: resets what an update omits (recurring, cycles, reminders, shipping display).
    kept: dict[str, str] = field(default_factory=dict)
    #: Core >= 3.4: ``is_optional``/``is_selected`` of each existing line (by item id) as
    #: read, sent back with the line: an update that omits them makes it not optional.
    item_flags: dict[str, dict[str, str]] = field(default_factory=dict)


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
        if self.plan.draft and not self.for_update and self.plan.number == DRAFT_NUMBER:
            # Core stores every draft under DRAFT_NUMBER whatever is sent, but the
            # module's validate_invoice_number counts the year's drafts too: the
            # placeholder would refuse a year's second draft. 0 (ltrimmed to '') is a
            # number no invoice holds, so the draft passes and is stored as a draft.
            return "0"
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
                str(index): {"itemid": item_id, **fields_, **plan.item_flags.get(item_id, {})}
                for index, (item_id, fields_) in enumerate(reused, start=1)
            }
            data["newitems"] = {
                str(index): fields_
                for index, fields_ in enumerate(lines[len(reused) :], start=len(reused) + 1)
            }
            data["removed_items"] = plan.item_ids[len(lines) :]
            data["isedit"] = ""
            data.update(plan.kept)
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

    def __init__(self, *, context: PerfexContext, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.context = context

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
        return self.context.currency_id(client.currency) or "0"


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
