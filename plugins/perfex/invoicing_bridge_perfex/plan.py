"""Write planning: what Perfex would store for a neutral invoice, computed offline.

Perfex 2.x stores ``subtotal`` and ``total`` as sent and recomputes ``total_tax`` its own
way [§4.4], so the lines and totals are computed here the way Perfex computes them
(:func:`perfex_totals`), checked against the invoice's own (:func:`check_invoice`), and
gathered with the resolved ids into an :class:`~.schemas.write.InvoicePlan` the write
schema dumps (:func:`plan_invoice`). Nothing here performs I/O: the backend fetches what
a plan needs (taxes, payment modes, the customer's address) beforehand.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from invoicing_bridge.exceptions import MappingError
from invoicing_bridge.models import Invoice, LineItem

from .cents import ZERO, round_cents
from .numbers import MAX_NUMBER, parse_number
from .schemas.context import PerfexContext
from .schemas.write import PerfexLine, PerfexTotals

__all__ = ["perfex_lines", "perfex_number_of", "perfex_totals"]

BACKEND = "perfex"


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
