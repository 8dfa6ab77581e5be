"""Property tests: for any consistent invoice (mixed VAT rates, untaxed lines, stamp duty,
line discounts, invoice discounts before or after tax, adjustments, four-place prices,
part payments) the e-invoice's amounts add up as EN 16931 checks them, the document
passes the UBL 2.1 XSD, and a sample passes the EN 16931 schematron.

The arithmetic and the XSD run on every example (the XSD takes a few ms); the
schematron, which takes longer per document, on fewer examples of its own test.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from invoicing_bridge import Address, Client, Invoice, LineItem, TaxRate
from invoicing_bridge.einvoice import Seller, compute, money, to_ubl, validate

SELLER = Seller.from_mapping(
    {"name": "Nile Valley Trading Co.", "vat_id": "EG204567891", "country": "EG"}
)
BUYER = Client(name="Acme", address=Address(city="Giza", country="EG"), tax_number="EG123")
TAX_SETS = (
    [],
    [TaxRate("VAT", D("14"))],
    [TaxRate("VAT", D("15"))],
    [TaxRate("VAT", D("5"))],
    [TaxRate("ضريبة القيمة المضافة", D("14")), TaxRate("Stamp duty", D("0.4"))],
    [TaxRate("Stamp duty", D("0.4"))],
)


def decimals(low: str, high: str, places: int) -> st.SearchStrategy[D]:
    return st.decimals(min_value=D(low), max_value=D(high), places=places)


@st.composite
def line_items(draw: st.DrawFn) -> LineItem:
    quantity = draw(decimals("0.001", "500", 3))
    price = draw(decimals("0", "50000", 4))
    gross = quantity * price
    discount = money(gross * draw(st.sampled_from([D(0), D(0), D("0.1"), D("0.25")])))
    return LineItem(
        name=draw(st.sampled_from(["Consulting", "استشارات فنية", "Paper A4", " "])),
        quantity=quantity,
        unit_price=price,
        discount=discount,
        unit=draw(st.sampled_from([None, "hours", "kg", "box"])),
        taxes=list(draw(st.sampled_from(TAX_SETS))),
    )


@st.composite
def invoices(draw: st.DrawFn) -> Invoice:
    items = draw(st.lists(line_items(), min_size=1, max_size=8))
    subtotal = sum((i.net for i in items), D(0))
    share = draw(st.sampled_from([D(0), D(0), D("0.05"), D("0.1")]))
    discount = money(subtotal * share)
    before_tax = draw(st.booleans())
    adjustment = draw(st.sampled_from([D(0), D(0), D("-0.50"), D("0.25"), D("12.30")]))
    if before_tax and discount and subtotal:
        kept = (subtotal - discount) / subtotal
        for item in items:  # the discount lowers every tax's base, as Daftra applies it
            item.tax_amount = sum((item.net * kept * t.rate / 100 for t in item.taxes), D(0))
    invoice = Invoice.build(
        number=f"INV-{draw(st.integers(1, 99999)):05d}",
        issue_date=dt.date(2026, 1, 1) + dt.timedelta(days=draw(st.integers(0, 365))),
        due_date=draw(st.sampled_from([None, dt.date(2027, 6, 30)])),
        currency=draw(st.sampled_from(["EGP", "SAR", "USD"])),
        client=BUYER,
        items=items,
        discount_total=discount,
        adjustment=adjustment,
    )
    paid = money(invoice.total * draw(st.sampled_from([D(0), D("0.4"), D(1)])))
    invoice.amount_paid = paid
    invoice.balance_due = invoice.total - paid
    return invoice


def places(value: D) -> int:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    return -exponent


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(invoices())
def test_amounts_add_up_as_en16931_checks_them(invoice: Invoice) -> None:
    doc = compute(invoice, SELLER)
    amounts = [doc.line_total, doc.tax_exclusive, doc.tax_total, doc.tax_inclusive, doc.payable]
    amounts += [line.net for line in doc.lines] + [a.amount for a in doc.allowances_charges]
    amounts += [s.taxable for s in doc.subtotals] + [s.tax for s in doc.subtotals]
    assert all(places(a) == 2 for a in amounts)  # BR-DEC-*
    assert doc.line_total == sum(line.net for line in doc.lines)  # BR-CO-10
    allowances = sum(a.amount for a in doc.allowances_charges if not a.charge)
    charges = sum(a.amount for a in doc.allowances_charges if a.charge)
    assert (doc.allowance_total, doc.charge_total) == (allowances, charges)  # BR-CO-11/-12
    assert doc.tax_exclusive == doc.line_total - allowances + charges  # BR-CO-13
    assert doc.tax_total == sum(s.tax for s in doc.subtotals)  # BR-CO-14
    assert doc.tax_inclusive == doc.tax_exclusive + doc.tax_total  # BR-CO-15
    assert doc.payable == doc.tax_inclusive - doc.prepaid + doc.rounding  # BR-CO-16
    for subtotal in doc.subtotals:  # BR-S-09 / BR-CO-17: within one unit of base x rate
        assert abs(subtotal.tax - money(subtotal.taxable * subtotal.category.rate / 100)) < 1
    # What the backend stated is kept: the gross total, the VAT and what is left to pay.
    assert doc.tax_inclusive + doc.rounding == money(invoice.total)
    assert doc.payable == money(invoice.total) - money(invoice.amount_paid)
    assert abs(doc.rounding) < D("0.01") * (len(doc.lines) + 1)
    stamp = sum(a.amount for a in doc.allowances_charges if a.reason == "Stamp duty")
    assert abs(doc.tax_total + stamp - invoice.tax_total) <= D("0.01") * (len(doc.lines) + 2)
    assert validate(to_ubl(invoice, seller=SELLER), schematron=False) == []


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(invoices())
def test_generated_invoices_pass_the_en16931_schematron(invoice: Invoice) -> None:
    failures = validate(to_ubl(invoice, seller=SELLER))
    assert [str(f) for f in failures if f.fatal] == []
