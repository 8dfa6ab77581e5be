"""Write planning: what Daftra is sent, decided before anything is sent.

- :func:`create_body`: a dumped body for a create, the None values left out;
- :func:`merge_invoice_update` / :func:`merge_client_update`: the PUT body, the neutral
  side laid over the record as read, because a PUT replaces the whole record
  (api-notes §6.6);
- :func:`invoice_problems`: what Daftra would refuse in an invoice (the tax it would
  compute among them, :func:`daftra_tax_total`, under the roundings the account may use,
  :func:`rounding_shown` when its invoices show it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from marshmallow import ValidationError

from invoicing_bridge.models import Invoice, PaymentStatus
from invoicing_bridge.schemas.base import as_rows
from invoicing_bridge.schemas.fields import to_decimal, to_flag

from .dates import DateReader
from .schemas.read import INVOICE_SIBLINGS, TaxInfo, to_int
from .schemas.write import four_places

__all__ = [
    "CENT",
    "TAX_ROUNDINGS",
    "create_body",
    "daftra_tax_total",
    "invoice_problems",
    "lands",
    "merge_client_update",
    "merge_invoice_update",
    "payment_problems",
    "rounding_shown",
    "tax_problem",
]

CENT = Decimal("0.01")
FOUR_PLACES = Decimal("0.0001")
#: How Daftra may round each line's tax: to the cent, or kept to the four places it
#: stores amounts with (api-notes "Findings": Precision; no source says which, and an
#: account's own invoices may show it: :func:`rounding_shown`).
TAX_ROUNDINGS: tuple[str, ...] = ("cent", "four")


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_HALF_UP)


def to_decimal_or_none(value: Any) -> Decimal | None:
    try:
        return to_decimal(value)
    except ValidationError:
        return None


def daftra_tax_total(invoice: Invoice, rounding: str = "cent") -> Decimal:
    """The tax Daftra stores for ``invoice``: per line and tax, the line's net less its
    share of the invoice discount, times the rate, rounded half up to the cent
    (``rounding`` "cent") or kept to the four places Daftra stores ("four"). A negative
    adjustment is written as discount too (Daftra has no other place for it), so it
    counts."""
    places = CENT if rounding == "cent" else FOUR_PLACES
    subtotal = sum((item.net for item in invoice.items), Decimal(0))
    discount = invoice.discount_total - min(invoice.adjustment, Decimal(0))
    total = Decimal(0)
    for item in invoice.items:
        share = discount * item.net / subtotal if subtotal else Decimal(0)
        base = item.net - share
        for tax in item.taxes:
            total += (base * tax.rate / 100).quantize(places, ROUND_HALF_UP)
    return total


def lands(invoice: Invoice, figure: Decimal) -> bool:
    """Whether Daftra storing the tax ``figure`` leaves ``invoice``'s tax total and total
    as they are to the cent (what a migration verifies after writing)."""
    total = invoice.total - invoice.tax_total + figure
    return cents(figure) == cents(invoice.tax_total) and cents(total) == cents(invoice.total)


def tax_problem(invoice: Invoice, roundings: Sequence[str] = ("cent",)) -> str | None:
    """Why Daftra would store another tax total than ``invoice``'s, or None.

    ``roundings``: how the account may round each line's tax (:data:`TAX_ROUNDINGS`),
    the one it is known to use, or both when nothing tells: an invoice is refused only
    when no rounding the account may use gives its tax and total to the cent (api-notes
    "Findings": Precision). The figure named is the first rounding's, exact, so that a
    plan taking it (with an adjustment for the difference) is stored as planned."""
    figures = [daftra_tax_total(invoice, rounding) for rounding in roundings]
    if any(lands(invoice, figure) for figure in figures):
        return None
    # Daftra computes tax itself, on each line after its share of the invoice discount
    # (Perfex taxes before it): refuse now rather than store other totals.
    how = "rounded to the cent" if roundings[0] == "cent" else "kept to four places"
    return (
        f"Daftra would compute {figures[0]} (each line taxed after its share of the "
        f"invoice discount and any negative adjustment, {how}), not {invoice.tax_total}"
    )


def payment_problems(invoice: Invoice) -> dict[str, str]:
    """What Daftra validates in the payments sent with an invoice: amounts above zero and
    a payment method on each completed payment."""
    problems: dict[str, str] = {}
    for index, payment in enumerate(invoice.payments):
        if payment.status is not PaymentStatus.COMPLETED:
            continue
        if payment.amount <= 0:
            problems[f"payments[{index}].amount"] = "must be above zero"
        if not payment.method or payment.method == "unknown":
            problems[f"payments[{index}].method"] = "a payment method is required"
    return problems


def invoice_problems(invoice: Invoice, roundings: Sequence[str] = ("cent",)) -> dict[str, str]:
    """What Daftra validates in an invoice beyond its mapping: the payments
    (:func:`payment_problems`) and the tax total it would compute (:func:`tax_problem`).
    The backend applies it before a dry run's plan and before a write alike."""
    problems = payment_problems(invoice)
    tax = tax_problem(invoice, roundings)
    if tax is not None:
        problems["tax_total"] = tax
    return problems


def rounding_shown(
    records: Iterable[Mapping[str, Any]], taxes: Mapping[str, TaxInfo]
) -> str | None:
    """How the account rounds each line's tax, as its own invoices show it: "four" when a
    line's tax keeps places beyond the cent, "cent" when a line whose exact tax has such
    places was rounded to the cent; None when no line tells (no invoice discount, an
    exclusive tax of the account, the line's net and tax both stated)."""
    for record in records:
        if to_decimal_or_none(record.get("summary_discount")) not in (None, Decimal(0)):
            continue  # the line's share of the discount is not stated
        for row in as_rows(record.get("InvoiceItem")):
            if not isinstance(row, Mapping):
                continue
            net = to_decimal_or_none(row.get("subtotal"))
            for n in (1, 2):
                info = taxes.get(str(row.get(f"tax{n}") or ""))
                stated = to_decimal_or_none(row.get(f"summary_tax{n}"))
                if net is None or info is None or info.included or stated is None:
                    continue
                exact = net * info.rate / 100
                if exact == exact.quantize(CENT):
                    continue  # any rounding gives the same figure
                if stated == exact.quantize(FOUR_PLACES, ROUND_HALF_UP):
                    return "four"
                if stated == exact.quantize(CENT, ROUND_HALF_UP):
                    return "cent"
    return None


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
_INVOICE_NUMBERS = frozenset(
    {"discount", "discount_amount", "deposit", "shipping_amount", "adjustment_value"}
)
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
    record: Mapping[str, Any],
    body: Mapping[str, Any],
    dates: DateReader,
    *,
    amounts: tuple[Decimal, Decimal] | None = None,
) -> dict[str, Any]:
    """The PUT body: ``body`` (dumped from the neutral invoice) laid over ``record`` (the
    invoice as read, its associations folded in).

    Daftra's PUT replaces the whole record (api-notes §6.6): every header field the
    neutral model does not carry (``po_number``, ``store_id``, ``branch_id``, custom
    fields, unknown keys) is sent back as read, and each line keeps its Daftra-only fields
    (``product_id``, ``store_id``, ``col_3``…) when it is still the same line (same
    position and name). Computed fields (``summary_*``, ``payment_status``) and line ids
    are left out. Payments are not sent: they are recorded through ``/invoice_payments``
    and a PUT leaves them alone.

    ``amounts``: the neutral invoice's (discount_total, adjustment). When the record as
    read has ``adjustment_value`` (api-notes "Findings": Adjustment), the adjustment is
    written there, signed and untaxed, less the shipping as read (kept), and the discount
    is the invoice's own: a negative adjustment is no longer written as discount.
    """
    header: dict[str, Any] = {
        key: value
        for key, value in record.items()
        if key not in READ_ONLY_INVOICE
        and key not in INVOICE_SIBLINGS
        and not isinstance(value, Mapping | list)
    }
    if "issue_date" in header:
        value = header["issue_date"]
        try:
            issued = dates.date(value) if isinstance(value, str) and value.strip() else None
        except ValueError:
            issued = None
        if issued is None:
            del header["issue_date"]
        else:
            header["issue_date"] = issued.isoformat()
    _overlay(header, body["Invoice"])
    if amounts is not None and "adjustment_value" in record:
        _adjustment_columns(header, record, *amounts)
    read_items = [row for row in as_rows(record.get("InvoiceItem")) if isinstance(row, Mapping)]
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


def _adjustment_columns(
    header: dict[str, Any], record: Mapping[str, Any], discount: Decimal, adjustment: Decimal
) -> None:
    """The adjustment in ``adjustment_value`` (beside the shipping as read), the discount
    as it is: the write side of reading ``shipping_amount + adjustment_value``."""
    shipping = to_decimal_or_none(record.get("shipping_amount")) or Decimal(0)
    header["discount"] = four_places(Decimal(0))
    header["discount_amount"] = four_places(discount)
    if shipping:
        header["shipping_amount"] = four_places(shipping)
    else:
        header.pop("shipping_amount", None)
    value = four_places(adjustment - shipping)
    header["adjustment_value"] = value
    if value and not (
        isinstance(header.get("adjustment_label"), str) and header["adjustment_label"]
    ):
        header["adjustment_label"] = "Adjustment"


def merge_client_update(record: Mapping[str, Any], body: Mapping[str, Any]) -> dict[str, Any]:
    """The client PUT body: the record as read, with the neutral fields laid over it."""
    base = {
        key: value
        for key, value in record.items()
        if key not in READ_ONLY_CLIENT and not isinstance(value, Mapping | list)
    }
    _overlay(base, body["Client"])
    return {"Client": base}
