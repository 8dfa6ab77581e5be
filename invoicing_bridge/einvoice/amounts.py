"""An invoice's amounts as EN 16931 states them: Decimal, two places, adding up.

EN 16931 keeps every document amount to two decimals (BR-DEC-*) and checks that they add
up: line nets to the line total (BR-CO-10), allowances and charges (BR-CO-11/-12/-13), the
VAT breakdown to the VAT total (BR-CO-14), net plus VAT to the gross total (BR-CO-15),
gross less prepaid plus rounding to the amount due (BR-CO-16). :func:`compute` derives
those amounts from a neutral invoice, so the totals add up by construction, and keeps
what the backend stated where EN 16931 lets it:

- the VAT total is the backend's ``tax_total`` (less non-VAT taxes); the breakdown's tax
  per category is ``taxable * rate`` rounded, and a difference of a cent per line at most
  (the backend rounding each line's tax) goes to the largest category, which BR-S-09
  tolerates; a larger one is an :class:`~invoicing_bridge.exceptions.EInvoiceError`;
- the gross total is the backend's ``total``: what rounding the lines to cents leaves
  over becomes the rounding amount (BT-114), when it is under one unit;
- the invoice discount is split over the VAT categories by their net amounts when the
  backend's VAT was computed after it, else (a discount after tax) it is an allowance
  outside VAT, in the seller's untaxed category; a signed
  ``adjustment`` and line taxes that are not VAT (stamp duty) become document-level
  charges (or allowances) in the seller's untaxed category.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from ..exceptions import EInvoiceError
from ..models import Invoice, InvoiceStatus, LineItem, TaxRate
from .seller import Seller

__all__ = ["AllowanceCharge", "Category", "Document", "Line", "Subtotal", "compute", "money"]

CENT = Decimal("0.01")
ZERO = Decimal("0")
ONE = Decimal("1")
#: How far a backend's VAT total may be from its lines' VAT at their rates, per line (and
#: once for the document): rounding each line's tax to cents, not a different base.
ROUNDING_PER_LINE = Decimal("0.01")

#: Names of taxes that are VAT (or GST) when a line carries more than one tax.
_VAT_NAME = re.compile(
    r"\b(vat|gst|hst|tva|iva|mwst|ust|btw|moms|mva|alv|dph|ddv|pdv|pvm|kdv|fpa|áfa)\b"
    r"|value[ -]?added|القيمة المضافة",
    re.IGNORECASE,
)
#: Names of taxes that are never VAT, even as a line's only tax.
_OTHER_NAME = re.compile(r"stamp|duty|excise|withholding|دمغة|الجدول", re.IGNORECASE)


def money(value: Decimal) -> Decimal:
    """``value`` rounded half up to two places, as EN 16931 amounts are."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, order=True)
class Category:
    """A VAT category (UNCL5305 code) and rate; an exemption reason for untaxed ones."""

    code: str
    rate: Decimal
    exemption_reason: str | None = None


@dataclass(frozen=True)
class Line:
    number: int
    item: LineItem
    quantity: Decimal
    price: Decimal
    allowance: Decimal  # line discount (BT-136), signed: negative is a charge
    net: Decimal  # BT-131, two places
    category: Category


@dataclass(frozen=True)
class AllowanceCharge:
    charge: bool
    reason: str
    amount: Decimal  # positive, two places
    category: Category


@dataclass(frozen=True)
class Subtotal:
    category: Category
    taxable: Decimal
    tax: Decimal


@dataclass
class Document:
    """Every amount of the e-invoice, two places, adding up."""

    invoice: Invoice
    lines: list[Line]
    allowances_charges: list[AllowanceCharge]
    subtotals: list[Subtotal]
    line_total: Decimal
    allowance_total: Decimal
    charge_total: Decimal
    tax_exclusive: Decimal
    tax_total: Decimal
    tax_inclusive: Decimal
    prepaid: Decimal
    rounding: Decimal
    payable: Decimal
    notes: list[str] = field(default_factory=list)


def _is_vat(tax: TaxRate, seller: Seller, alone: bool) -> bool:
    names = {name.casefold() for name in seller.other_taxes}
    if tax.name.casefold() in names or _OTHER_NAME.search(tax.name):
        return False
    # A line's only tax is its VAT, whatever it is called ("TAX1", "Sales tax").
    return alone or bool(_VAT_NAME.search(tax.name))


def _untaxed(seller: Seller) -> Category:
    reason = None if seller.untaxed_category == "Z" else seller.exemption_reason
    return Category(seller.untaxed_category, ZERO, reason)


def _split(amount: Decimal, weights: dict[Category, Decimal]) -> dict[Category, Decimal]:
    """``amount`` (two places) shared by ``weights``, the last share taking the remainder."""
    total = sum(weights.values(), ZERO)
    keys = sorted(weights, key=lambda c: (weights[c], c))
    shares: dict[Category, Decimal] = {}
    left = amount
    for key in keys[:-1]:
        share = money(amount * weights[key] / total)
        shares[key] = share
        left -= share
    shares[keys[-1]] = left
    return shares


@dataclass
class _Attempt:
    extras: list[AllowanceCharge]
    taxable: dict[Category, Decimal]
    taxes: dict[Category, Decimal]
    vat_total: Decimal
    difference: Decimal  # the backend's VAT total less the breakdown's


def _breakdown(
    invoice: Invoice,
    nets: dict[Category, Decimal],
    line_other_taxes: dict[str, Decimal],
    untaxed: Category,
    *,
    before_tax: bool,
) -> _Attempt:
    """Document allowances and charges, and the VAT breakdown, for one reading of the
    invoice discount (before tax: shared by the categories; after tax: outside VAT)."""
    other_taxes = dict(line_other_taxes)
    if before_tax and invoice.discount_total and invoice.subtotal:
        kept = (invoice.subtotal - invoice.discount_total) / invoice.subtotal
        other_taxes = {name: amount * kept for name, amount in other_taxes.items()}
    extras: list[AllowanceCharge] = []

    def add(amount: Decimal, reason: str, category: Category, allowance_reason: str) -> None:
        if amount > 0:
            extras.append(AllowanceCharge(True, reason, amount, category))
        elif amount < 0:
            extras.append(AllowanceCharge(False, allowance_reason, -amount, category))

    discount = money(invoice.discount_total)
    if discount:
        weights = {c: n for c, n in nets.items() if n != 0} if before_tax else {}
        for category, share in _split(discount, weights or {untaxed: ONE}).items():
            add(-share, "Surcharge", category, "Discount")
    for name, amount in sorted(other_taxes.items()):
        add(money(amount), name, untaxed, name)
    add(money(invoice.adjustment), "Adjustment", untaxed, "Adjustment")

    taxable: dict[Category, Decimal] = defaultdict(lambda: ZERO, nets)
    for extra in extras:
        taxable[extra.category] += extra.amount if extra.charge else -extra.amount
    taxes = {c: money(t * c.rate / 100) for c, t in taxable.items()}
    vat_total = money(invoice.tax_total - sum(other_taxes.values(), ZERO))
    return _Attempt(extras, dict(taxable), taxes, vat_total, vat_total - sum(taxes.values(), ZERO))


def compute(invoice: Invoice, seller: Seller) -> Document:
    """The EN 16931 amounts of ``invoice``.

    Raises :class:`EInvoiceError` for a draft or void invoice, a line with two VAT rates,
    totals that do not add up, or a VAT total its lines' rates cannot give.
    """
    number = invoice.number

    def fail(message: str, field: str | None = None) -> EInvoiceError:
        return EInvoiceError(message, invoice=number, field=field)

    if invoice.status in (InvoiceStatus.DRAFT, InvoiceStatus.VOID):
        raise fail(f"a {invoice.status.value} invoice is not issued: no e-invoice")
    if not invoice.items:
        raise fail("an e-invoice needs at least one line (BR-16)", "items")
    problems = [p for p in invoice.check() if p.rule.startswith(("BR-CO", "line-net"))]
    if problems:
        raise fail("totals do not add up: " + "; ".join(str(p) for p in problems))

    untaxed = _untaxed(seller)
    lines: list[Line] = []
    other_taxes: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for index, item in enumerate(invoice.items):
        alone = len(item.taxes) == 1
        vat = [t for t in item.taxes if _is_vat(t, seller, alone)]
        for tax in item.taxes:
            if tax not in vat:
                other_taxes[tax.name] += item.net * tax.rate / 100
        rates = {t.rate for t in vat if t.rate != 0}
        if len(rates) > 1:
            listed = ", ".join(f"{t.name} {t.rate}%" for t in vat)
            raise fail(f"line {index + 1} has more than one VAT rate ({listed})", "items")
        category = Category("S", rates.pop()) if rates else untaxed
        quantity, price = item.quantity, item.unit_price
        if price < 0:  # BR-27: the price is never negative; the quantity carries the sign
            quantity, price = -quantity, -price
        lines.append(
            Line(
                number=index + 1,
                item=item,
                quantity=quantity,
                price=price,
                allowance=money(item.discount),
                net=money(item.net),
                category=category,
            )
        )

    nets: dict[Category, Decimal] = defaultdict(lambda: ZERO)
    for line in lines:
        nets[line.category] += line.net
    # An invoice discount either lowers the base of every tax (Perfex "before tax", Daftra)
    # or comes off the gross (Perfex "after tax", Invoice.build): the backend's VAT total
    # tells which. After tax, it is an allowance outside VAT, leaving the VAT as it was.
    modes = (True, False) if invoice.discount_total else (True,)
    attempts = [_breakdown(invoice, nets, other_taxes, untaxed, before_tax=m) for m in modes]
    tolerance = ROUNDING_PER_LINE * (len(lines) + 1)
    fitting = [a for a in attempts if abs(a.difference) <= tolerance]
    # The reading that leaves the least over (before tax on a tie), when one fits.
    chosen = min(fitting or attempts, key=lambda a: abs(a.difference))
    extras, taxable, taxes = chosen.extras, chosen.taxable, chosen.taxes
    if chosen.difference:
        rated = [c for c in taxable if c.rate != 0]
        if not rated:
            raise fail(
                f"tax_total is {invoice.tax_total} but no line has a VAT rate "
                "(the backend may not report line taxes)",
                "tax_total",
            )
        if not fitting:
            computed = sum(taxes.values(), ZERO)
            raise fail(
                f"VAT total {chosen.vat_total} differs from its lines' VAT at their rates "
                f"({computed}) by {chosen.difference}: more than rounding",
                "tax_total",
            )
        largest = max(rated, key=lambda c: (abs(taxable[c]), c))
        taxes[largest] += chosen.difference

    subtotals = [Subtotal(c, taxable[c], taxes[c]) for c in sorted(taxable)]
    line_total = sum((line.net for line in lines), ZERO)
    allowance_total = sum((e.amount for e in extras if not e.charge), ZERO)
    charge_total = sum((e.amount for e in extras if e.charge), ZERO)
    tax_exclusive = line_total - allowance_total + charge_total
    tax_total = sum((s.tax for s in subtotals), ZERO)
    tax_inclusive = tax_exclusive + tax_total
    rounding = money(invoice.total) - tax_inclusive
    if abs(rounding) >= ONE:
        raise fail(
            f"total is {invoice.total} but its lines, discount, adjustment and VAT give "
            f"{tax_inclusive} (BR-CO-15)",
            "total",
        )
    prepaid = money(invoice.amount_paid)
    return Document(
        invoice=invoice,
        lines=lines,
        allowances_charges=extras,
        subtotals=subtotals,
        line_total=line_total,
        allowance_total=allowance_total,
        charge_total=charge_total,
        tax_exclusive=tax_exclusive,
        tax_total=tax_total,
        tax_inclusive=tax_inclusive,
        prepaid=prepaid,
        rounding=rounding,
        payable=tax_inclusive + rounding - prepaid,
    )
