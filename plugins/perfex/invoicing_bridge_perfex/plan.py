"""Write planning: what Perfex would store for a neutral invoice, computed offline.

Perfex 2.x stores ``subtotal`` and ``total`` as sent and recomputes ``total_tax`` its own
way [§4.4], so the lines and totals are computed here the way Perfex computes them
(:func:`perfex_totals`), checked against the invoice's own (:func:`check_invoice`), and
gathered with the resolved ids into an :class:`~.schemas.write.InvoicePlan` the write
schema dumps (:func:`plan_invoice`). Nothing here performs I/O: the backend fetches what
a plan needs (taxes, payment modes, the customer's address) beforehand.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from invoicing_bridge.exceptions import Expected, MappingError
from invoicing_bridge.models import Client, Invoice, InvoiceStatus, LineItem, Payment

from .cents import ZERO, round_cents
from .countries import country_id
from .numbers import DRAFT_NUMBER, MAX_NUMBER, as_int, parse_number
from .schemas.context import PerfexContext, method_slug
from .schemas.fields import br2nl
from .schemas.write import InvoicePlan, PerfexLine, PerfexTotals

__all__ = [
    "billing_fields",
    "check_invoice",
    "created_invoice_id",
    "gateway_id",
    "kept_settings",
    "new_payment",
    "optional_flags",
    "perfex_lines",
    "perfex_number_of",
    "perfex_totals",
    "person_names",
    "primary_contact",
    "with_customer_address",
]

BACKEND = "perfex"


def perfex_totals(
    lines: Iterable[PerfexLine],
    *,
    discount_total: Decimal = ZERO,
    adjustment: Decimal = ZERO,
    discount_type: str | None = None,
    expected_tax: Decimal | None = None,
    round_lines: bool = False,
) -> PerfexTotals:
    """Totals the way Perfex computes them (core ``sales_helper.php``).

    Subtotal: the sum of ``qty * rate``. Tax: for every line tax ``qty * rate / 100 *
    taxrate``; a ``before_tax`` discount reduces the tax by ``discount_total / subtotal``.
    Total: ``subtotal - discount_total + total_tax + adjustment``, each rounded to cents as
    the ``DECIMAL(15,2)`` columns do. With a discount and no ``discount_type``, the type
    whose tax is closest to ``expected_tax`` is chosen (``before_tax`` on a tie).
    """
    lines = list(lines)

    def amount(line: PerfexLine) -> Decimal:
        # The Perfex UI (which writes most stored invoices) rounds each line first.
        return round_cents(line.qty * line.rate) if round_lines else line.qty * line.rate

    subtotal = round_cents(sum((amount(line) for line in lines), ZERO))
    raw_tax = sum((amount(line) / 100 * rate for line in lines for _, rate in line.taxes), ZERO)
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


def perfex_lines(items: list[LineItem], context: PerfexContext) -> list[PerfexLine]:
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
                taxes=tuple(context.tax_for(tax) for tax in item.taxes),
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


# --------------------------------------------------------------------------- invoices


def check_invoice(
    invoice: Invoice, context: PerfexContext, *, creating: bool
) -> tuple[str, list[PerfexLine], PerfexTotals, int]:
    """What Perfex would store for ``invoice``, computed offline: the currency id, the
    lines, the totals and the number. Raises MappingError for what it cannot take."""
    currency_id = context.currency_id(invoice.currency)
    if currency_id is None:
        raise MappingError(
            f"currency {invoice.currency} has no Perfex currency id: add it to the "
            "currencies option (code = id)",
            backend=BACKEND,
            field="currency",
        )
    if creating and invoice.status is InvoiceStatus.VOID:
        raise MappingError(
            "the Perfex API cannot create a cancelled (void) invoice",
            backend=BACKEND,
            field="status",
        )
    lines = perfex_lines(invoice.items, context)
    adjustment = round_cents(invoice.adjustment)
    totals = perfex_totals(
        lines,
        discount_total=round_cents(invoice.discount_total),
        adjustment=adjustment,
        expected_tax=invoice.tax_total,
    )
    if totals.subtotal <= 0 or totals.total <= 0:
        raise MappingError(
            f"Perfex refuses invoices whose subtotal or total is not above zero "
            f"(subtotal {totals.subtotal}, total {totals.total})",
            backend=BACKEND,
            field="total",
        )
    if invoice.subtotal or invoice.total:
        # Perfex recomputes the tax its own way (per line, unrounded, then rounded once)
        # and keeps what we send as subtotal and total: an invoice whose totals were
        # rounded otherwise cannot be stored as it is. The Perfex UI rounds each line
        # before summing and taxing (core main.js, sales_helper ≥ 3.4): those totals
        # are Perfex's too, and sent as they are.
        by_line = perfex_totals(
            lines,
            discount_total=round_cents(invoice.discount_total),
            adjustment=adjustment,
            expected_tax=invoice.tax_total,
            round_lines=True,
        )
        own_totals = tuple(
            round_cents(getattr(invoice, n)) for n in ("subtotal", "tax_total", "total")
        )
        subtotal_, tax_, total_ = own_totals
        if (
            by_line != totals
            and (subtotal_, total_) == (by_line.subtotal, by_line.total)
            and tax_ in (by_line.total_tax, totals.total_tax)
        ):
            # Stored: subtotal and total as sent; total_tax recomputed on unrounded lines.
            totals = dataclasses.replace(by_line, total_tax=totals.total_tax)
            checks: tuple[tuple[str, Decimal], ...] = ()
        else:
            checks = (
                ("subtotal", totals.subtotal),
                ("tax_total", totals.total_tax),
                ("total", totals.total),
            )
        for name, perfex in checks:
            own = round_cents(getattr(invoice, name))
            if own != perfex:
                raise MappingError(
                    f"Perfex computes {name} {perfex} for these lines, the invoice says {own}",
                    backend=BACKEND,
                    field=name,
                    expected=[Expected(name, perfex, own)],
                )
    return currency_id, lines, totals, perfex_number_of(invoice)


def billing_fields(invoice: Invoice, current: Invoice | None) -> dict[str, str]:
    """The ``billing_*`` fields from the invoice's client (on an update without a street,
    the street stored on the ``current`` invoice)."""
    address = invoice.client.address
    street = ""
    if address is not None:
        street = "\n".join(p for p in (address.line1, address.line2) if p)
    billing = {
        "billing_street": street,
        "billing_city": (address.city if address else None) or "",
        "billing_state": (address.state if address else None) or "",
        "billing_zip": (address.postal_code if address else None) or "",
        "billing_country": country_id(address.country if address else None) or "",
    }
    if not street and current is not None:
        raw_street = current.raw.get("billing_street")
        if raw_street:
            billing["billing_street"] = str(raw_street)
    return billing


def with_customer_address(billing: dict[str, str], customer: Client | None) -> dict[str, str]:
    """``billing`` filled from the Perfex customer's address (the Perfex UI does the same
    when an invoice has no billing street). Raises MappingError when there is still no
    street: Perfex requires one."""
    if not billing["billing_street"] and customer is not None and customer.address is not None:
        a = customer.address
        billing = {
            **billing,
            "billing_street": "\n".join(p for p in (a.line1, a.line2) if p),
            "billing_city": a.city or billing["billing_city"],
            "billing_state": a.state or billing["billing_state"],
            "billing_zip": a.postal_code or billing["billing_zip"],
            "billing_country": country_id(a.country) or billing["billing_country"],
        }
    if not billing["billing_street"]:
        raise MappingError(
            "Perfex requires a billing street and neither the invoice's client nor the "
            "Perfex customer has an address",
            backend=BACKEND,
            field="client.address.line1",
        )
    return billing


def created_invoice_id(
    rows: Iterable[Mapping[str, Any]], plan: InvoicePlan, invoice: Invoice
) -> str | None:
    """Among search rows, the invoice just created from ``plan`` (2.x answers no id): the
    row of its number, customer and year (numbers are unique per year), the newest."""
    number = DRAFT_NUMBER if plan.draft else plan.number
    found = [
        r
        for r in rows
        if as_int(r.get("number")) == number
        and str(r.get("clientid")) == plan.client_id
        and str(r.get("date", ""))[:4] == f"{invoice.issue_date:%Y}"
    ]
    if plan.draft:
        wanted_total = str(plan.totals.total)
        found = [
            r
            for r in found
            if str(r.get("date", ""))[:10] == invoice.issue_date.isoformat()
            and str(r.get("total")) == wanted_total
        ]
    if not found:
        return None
    best = max(found, key=lambda r: as_int(r.get("invoiceid") or r.get("id")))
    return str(best.get("invoiceid") or best.get("id"))


# --------------------------------------------------------------------------- payments


def gateway_id(method: str) -> str | None:
    """A method as Perfex's ``paymentmode`` holds a gateway (``varchar(40)``), if it fits."""
    slug = method_slug(method)
    return slug if re.fullmatch(r"[a-z][a-z0-9_]{0,39}", slug) else None


def new_payment(
    known: frozenset[str | None], after: Invoice, amount: Decimal, reference: str | None
) -> Payment | None:
    """The payment ``after`` shows that was not among ``known``: the one of this amount
    (and reference, when one matches), the newest (2.x answers no payment id)."""
    fresh = [p for p in after.payments if p.id not in known and p.amount == amount]
    if reference:
        fresh = [p for p in fresh if p.reference == reference] or fresh
    if not fresh:
        return None
    return max(fresh, key=lambda p: as_int(p.id))


# --------------------------------------------------------------------------- contacts


def primary_contact(contacts: list[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The customer's primary contact among its contact rows (else the first)."""
    for row in contacts:
        if str(row.get("is_primary")) == "1":
            return row
    return contacts[0] if contacts else None


def person_names(client: Client) -> tuple[str, str]:
    """The first and last name of the client's contact (a contact needs both)."""
    first = client.first_name or ""
    last = client.last_name or ""
    if not first or not last:
        words = (client.name or client.company_name or "").split()
        first = first or (" ".join(words[:-1]) if len(words) > 1 else "".join(words))
        last = last or (words[-1] if words else first)
    return first or "-", last or "-"


_SHIPPING = ("street", "city", "state", "zip", "country")


def optional_flags(current: Invoice) -> dict[str, dict[str, str]]:
    """Core >= 3.4: each read line's ``is_optional``/``is_selected`` (``"1"``/``"0"``) by
    item id, to send back on an update (the core saves them from the posted item, absent
    meaning not optional). Lines read without them (older cores) are left out."""
    flags: dict[str, dict[str, str]] = {}
    for item in current.items:
        item_id = item.extra.get("item_id")
        if item_id and "optional" in item.extra:
            flags[str(item_id)] = {
                "is_optional": "1" if item.extra["optional"] else "0",
                "is_selected": "1" if item.extra.get("selected", True) else "0",
            }
    return flags


def kept_settings(stored: Mapping[str, Any]) -> dict[str, str]:
    """What an update must send back of the stored invoice ``stored`` (its GET row) so
    Perfex keeps it: ``Invoices_model::update`` resets every one of these the body omits
    (an absent ``recurring`` stops a recurring invoice and clears its cycles; an absent
    ``include_shipping`` hides the shipping address; an absent ``cancel_overdue_reminders``
    turns reminders back on), and the key's presence, not its value, is what counts for
    the flags (core 3.2 ``Invoices_model.php:746-774``, ``map_shipping_columns``), so a
    flag that is off is left out."""
    kept: dict[str, str] = {}
    if as_int(stored.get("cancel_overdue_reminders")):
        kept["cancel_overdue_reminders"] = "1"
    recurring = as_int(stored.get("recurring"))
    if recurring > 0:
        if as_int(stored.get("custom_recurring")):
            kept["recurring"] = "custom"
            kept["repeat_every_custom"] = str(recurring)
            kept["repeat_type_custom"] = str(stored.get("recurring_type") or "")
        else:
            kept["recurring"] = str(recurring)
    if as_int(stored.get("cycles")):
        kept["cycles"] = str(as_int(stored.get("cycles")))
    if as_int(stored.get("include_shipping")):
        kept["include_shipping"] = "1"
        if as_int(stored.get("show_shipping_on_invoice")):
            kept["show_shipping_on_invoice"] = "1"
        for suffix in _SHIPPING:
            value = stored.get(f"shipping_{suffix}")
            text = br2nl(str(value)) if value is not None else ""
            kept[f"shipping_{suffix}"] = text or ""
    if as_int(stored.get("show_quantity_as")):
        kept["show_quantity_as"] = str(as_int(stored.get("show_quantity_as")))
    return kept
