"""E-invoices: UBL 2.1 / EN 16931 from neutral invoices, the seller table, and validation
by the official UBL 2.1 XSD and the CEN EN 16931 UBL schematron (from factur-x, via Saxon).

Each Saxon run takes milliseconds once the stylesheet is compiled (about a second, once
per process), so every built document here is validated in full.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D
from pathlib import Path

import pytest
from lxml import etree

from invoicing_bridge import Address, Client, Invoice, InvoiceStatus, LineItem, Payment, TaxRate
from invoicing_bridge.config import load_profile
from invoicing_bridge.einvoice import Seller, compute, to_ubl, unit_code, validate, vat_identifier
from invoicing_bridge.exceptions import ConfigurationError, EInvoiceError

NS = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
SELLER = Seller.from_mapping(
    {
        "name": "Red Sea Foods",
        "vat_id": "300000000000003",
        "country": "SA",
        "line1": "King Fahd Rd 1",
        "city": "Jeddah",
        "iban": "SA03 8000 0000 6080 1016 7519",
    }
)
BUYER = Client(
    name="Nile Valley Trading Co.",
    company_name="Nile Valley Trading Co.",
    email="accounts@nile.example",
    tax_number="204-567-891",
    address=Address(line1="12 Talaat Harb St.", city="Cairo", country="EG"),
)


def invoice(**overrides: object) -> Invoice:
    values: dict[str, object] = {
        "number": "INV-0042",
        "issue_date": dt.date(2026, 3, 1),
        "due_date": dt.date(2026, 3, 31),
        "currency": "SAR",
        "client": BUYER,
        "items": [
            LineItem(
                name="Consulting hours",
                quantity=D("3"),
                unit_price=D("425.50"),
                unit="hours",
                taxes=[TaxRate("VAT", D("15"))],
            ),
            LineItem(
                name="Printer paper A4",
                quantity=D("2.5"),
                unit_price=D("89.75"),
                discount=D("10"),
                taxes=[TaxRate("VAT", D("15"))],
            ),
            LineItem(name="Export handling", quantity=D("1"), unit_price=D("120")),
        ],
    }
    values.update(overrides)
    return Invoice.build(**values)  # type: ignore[arg-type]


def text(xml: bytes, path: str) -> list[str]:
    return [str(v) for v in etree.fromstring(xml).xpath(path + "/text()", namespaces=NS)]


def fatal(xml: bytes) -> list[str]:
    return [str(f) for f in validate(xml) if f.fatal]


# --------------------------------------------------------------------------- building


def test_mixed_rates_invoice_passes_xsd_and_schematron() -> None:
    xml = to_ubl(invoice(), seller=SELLER)
    assert fatal(xml) == []
    assert text(xml, "cbc:ID") == ["INV-0042"]
    assert text(xml, "cbc:DueDate") == ["2026-03-31"]
    # 3 x 425.50 + (2.5 x 89.75 - 10) + 120 = 1276.50 + 214.375 + 120
    assert text(xml, "cac:LegalMonetaryTotal/cbc:LineExtensionAmount") == ["1610.88"]
    percents = text(xml, "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:Percent")
    categories = text(xml, "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:ID")
    assert sorted(zip(categories, percents, strict=True)) == [("E", "0"), ("S", "15")]
    units = etree.fromstring(xml).xpath(
        "cac:InvoiceLine/cbc:InvoicedQuantity/@unitCode", namespaces=NS
    )
    assert units == ["HUR", "C62", "C62"]


def test_payment_means_carry_the_iban_and_prepaid_amount_the_payments() -> None:
    source = invoice(amount_paid=D("500"))
    source.payments = [Payment(amount=D("500"), date=dt.date(2026, 3, 5), method="bank_transfer")]
    xml = to_ubl(source, seller=SELLER)
    assert fatal(xml) == []
    assert text(xml, "cac:PaymentMeans/cbc:PaymentMeansCode") == ["30"]
    assert text(xml, "cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:ID") == [
        "SA0380000000608010167519"
    ]
    doc = compute(source, SELLER)
    assert text(xml, "cac:LegalMonetaryTotal/cbc:PrepaidAmount") == ["500.00"]
    assert text(xml, "cac:LegalMonetaryTotal/cbc:PayableAmount") == [f"{doc.payable:.2f}"]
    assert doc.payable == doc.tax_inclusive - D("500")


def test_vat_numbers_get_their_country_prefix() -> None:
    xml = to_ubl(invoice(), seller=SELLER)
    ids = text(xml, "//cac:PartyTaxScheme/cbc:CompanyID")
    assert ids == ["SA300000000000003", "EG204-567-891"]
    assert vat_identifier("DE 123 456 789", "DE") == "DE123456789"
    assert vat_identifier("123", None) == "123"


def before_tax_discount(source: Invoice, discount: D) -> Invoice:
    """``source`` with an invoice discount that lowers the VAT base, as Daftra applies it."""
    rated = sum((i.net for i in source.items if i.taxes), D(0))
    taxed_base = rated - discount * rated / source.subtotal
    for item in source.items:
        item.tax_amount = None
    source.discount_total = discount
    source.tax_total = taxed_base * D("0.15")
    source.total = source.subtotal - discount + source.tax_total
    source.balance_due = source.total
    return source


def test_before_tax_discount_is_split_over_vat_categories_and_adds_up() -> None:
    source = before_tax_discount(invoice(), D("100"))
    doc = compute(source, SELLER)
    allowances = {a.category.code: a.amount for a in doc.allowances_charges if not a.charge}
    assert sum(allowances.values()) == D("100.00") and set(allowances) == {"S", "E"}
    # 1490.875 of 1610.875 is taxed at 15%: 92.55 of the discount comes off that base.
    assert allowances["S"] == D("92.55")
    assert doc.tax_inclusive + doc.rounding == source.total.quantize(D("0.01"))
    assert fatal(to_ubl(source, seller=SELLER)) == []


def test_after_tax_discount_is_an_allowance_outside_vat() -> None:
    source = invoice(discount_total=D("100"))  # Invoice.build taxes the undiscounted lines
    doc = compute(source, SELLER)
    assert [(a.charge, a.amount, a.category.code) for a in doc.allowances_charges] == [
        (False, D("100.00"), "E")
    ]
    assert doc.tax_total == source.tax_total.quantize(D("0.01"))
    assert fatal(to_ubl(source, seller=SELLER)) == []


def test_stamp_duty_is_a_charge_outside_vat() -> None:
    items = [
        LineItem(
            name="Laptop",
            quantity=D("1"),
            unit_price=D("35000"),
            taxes=[TaxRate("ضريبة القيمة المضافة", D("14")), TaxRate("Stamp duty", D("0.4"))],
        ),
        LineItem(
            name="Cable",
            quantity=D("2"),
            unit_price=D("50"),
            taxes=[TaxRate("Stamp duty", D("0.4"))],
        ),
    ]
    source = invoice(currency="EGP", items=items)
    doc = compute(source, SELLER)
    charges = [(a.reason, a.amount, a.category.code) for a in doc.allowances_charges]
    assert charges == [("Stamp duty", D("140.40"), "E")]
    assert doc.tax_total == D("4900.00")
    assert fatal(to_ubl(source, seller=SELLER)) == []


def test_after_tax_discount_on_stamp_duty_only_lines_keeps_the_duty_whole() -> None:
    # Found by the property test: no VAT at all, the duty on the undiscounted lines. The
    # before-tax reading would leave 3 cents of "VAT" with no VAT rate to carry it.
    duty = [TaxRate("Stamp duty", D("0.4"))]
    items = [
        LineItem(name="Sample", quantity=D("0.001"), unit_price=D("0")),
        LineItem(name="Sample", quantity=D("0.001"), unit_price=D("0.4133"), taxes=duty),
        LineItem(
            name="Paper",
            quantity=D("8.711"),
            unit_price=D("19.2243"),
            discount=D("41.87"),
            taxes=duty,
        ),
    ]
    source = invoice(currency="EGP", items=items, discount_total=D("6.28"))
    doc = compute(source, SELLER)
    assert [(a.charge, a.reason, a.amount) for a in doc.allowances_charges] == [
        (False, "Discount", D("6.28")),
        (True, "Stamp duty", D("0.50")),
    ]
    assert doc.tax_total == 0
    assert fatal(to_ubl(source, seller=SELLER)) == []


def test_negative_adjustment_is_an_allowance_and_the_total_is_kept() -> None:
    source = invoice(adjustment=D("-0.50"))
    doc = compute(source, SELLER)
    assert [(a.charge, a.reason, a.amount) for a in doc.allowances_charges] == [
        (False, "Adjustment", D("0.50"))
    ]
    assert doc.tax_inclusive + doc.rounding == source.total.quantize(D("0.01"))
    assert fatal(to_ubl(source, seller=SELLER)) == []


def test_four_place_amounts_round_to_cents_with_a_rounding_amount() -> None:
    # Daftra keeps four places: 3 x 33.3333 = 99.9999 nets to 100.00 on the e-invoice.
    items = [
        LineItem(
            name="Tea", quantity=D("3"), unit_price=D("33.3333"), taxes=[TaxRate("VAT", D("15"))]
        )
    ]
    source = invoice(items=items)
    xml = to_ubl(source, seller=SELLER)
    assert fatal(xml) == []
    assert text(xml, "cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount") == ["115.00"]


def test_negative_price_moves_the_sign_to_the_quantity() -> None:
    items = [
        LineItem(name="Tea", quantity=D("2"), unit_price=D("50"), taxes=[TaxRate("VAT", D("15"))]),
        LineItem(
            name="Return", quantity=D("1"), unit_price=D("-20"), taxes=[TaxRate("VAT", D("15"))]
        ),
    ]
    xml = to_ubl(invoice(items=items), seller=SELLER)
    assert fatal(xml) == []
    assert text(xml, "cac:InvoiceLine/cbc:InvoicedQuantity") == ["2", "-1"]
    assert text(xml, "cac:InvoiceLine/cac:Price/cbc:PriceAmount") == ["50", "20"]


def test_no_due_date_nor_terms_gives_payment_terms() -> None:
    xml = to_ubl(invoice(due_date=None), seller=SELLER)
    assert fatal(xml) == []
    assert text(xml, "cac:PaymentTerms/cbc:Note") == ["Payable on receipt"]


@pytest.mark.parametrize("status", [InvoiceStatus.DRAFT, InvoiceStatus.VOID])
def test_drafts_and_void_invoices_are_refused(status: InvoiceStatus) -> None:
    with pytest.raises(EInvoiceError, match=status.value) as info:
        to_ubl(invoice(status=status), seller=SELLER)
    assert info.value.invoice == "INV-0042"


def test_buyer_without_country_is_refused_naming_the_field() -> None:
    buyer = Client(name="Walk-in", address=Address(city="Cairo"))
    with pytest.raises(EInvoiceError) as info:
        to_ubl(invoice(client=buyer), seller=SELLER)
    assert info.value.field == "client.address.country" and "BR-11" in str(info.value)


def test_a_total_that_does_not_add_up_is_refused() -> None:
    broken = invoice()
    broken.total += D("5")
    with pytest.raises(EInvoiceError, match="BR-CO-15"):
        to_ubl(broken, seller=SELLER)


def test_a_tax_total_the_rates_cannot_give_is_refused() -> None:
    broken = invoice()
    for item in broken.items:
        item.tax_amount = None  # the backend states only the invoice's tax
    broken.tax_total += D("3")
    broken.total += D("3")
    broken.balance_due += D("3")
    with pytest.raises(EInvoiceError) as info:
        to_ubl(broken, seller=SELLER)
    assert info.value.field == "tax_total"


def test_tax_total_without_line_taxes_is_refused() -> None:
    source = invoice()
    for item in source.items:
        item.taxes = []
    with pytest.raises(EInvoiceError, match="no line has a VAT rate"):
        to_ubl(source, seller=SELLER)


def test_two_vat_rates_on_one_line_are_refused() -> None:
    items = [
        LineItem(
            name="Tea",
            quantity=D("1"),
            unit_price=D("10"),
            taxes=[TaxRate("VAT", D("15")), TaxRate("VAT reduced", D("5"))],
        )
    ]
    with pytest.raises(EInvoiceError, match="more than one VAT rate"):
        to_ubl(invoice(items=items), seller=SELLER)


def test_unknown_profile_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="peppol"):
        to_ubl(invoice(), seller=SELLER, profile="peppol")


def test_unit_codes() -> None:
    assert [unit_code(u) for u in ("Hours", "day", "kg", None, "page", "bundle")] == [
        "HUR",
        "DAY",
        "KGM",
        "C62",
        "ZZ",
        "C62",
    ]


# --------------------------------------------------------------------------- validation


def test_a_broken_total_is_caught_as_br_co_15() -> None:
    xml = to_ubl(invoice(), seller=SELLER)
    tree = etree.fromstring(xml)
    (gross,) = tree.xpath("cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount", namespaces=NS)
    gross.text = f"{D(gross.text) + D('1.00'):.2f}"
    failures = validate(etree.tostring(tree))
    fatal_ids = {f.rule_id for f in failures if f.fatal}
    assert "BR-CO-15" in fatal_ids
    (br_co_15,) = [f for f in failures if f.rule_id == "BR-CO-15"]
    assert "BT-112" in br_co_15.text and br_co_15.location


def test_a_broken_line_sum_is_caught_as_br_co_10() -> None:
    tree = etree.fromstring(to_ubl(invoice(), seller=SELLER))
    (line,) = tree.xpath("cac:InvoiceLine[1]/cbc:LineExtensionAmount", namespaces=NS)
    line.text = "1.00"
    assert "BR-CO-10" in {f.rule_id for f in validate(etree.tostring(tree)) if f.fatal}


def test_schema_errors_are_xsd_failures() -> None:
    tree = etree.fromstring(to_ubl(invoice(), seller=SELLER))
    (issue,) = tree.xpath("cbc:IssueDate", namespaces=NS)
    issue.text = "first of March"
    failures = validate(etree.tostring(tree), schematron=False)
    assert failures and all(f.rule_id == "XSD" and f.fatal for f in failures)
    assert "IssueDate" in failures[0].text


def test_not_xml_and_not_ubl_are_single_failures() -> None:
    assert [f.rule_id for f in validate(b"<Invoice")] == ["XML"]
    assert [f.rule_id for f in validate(b"<Order/>")] == ["XSD"]


# --------------------------------------------------------------------------- seller


def test_seller_from_profile_table(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        '[profiles.m]\nbackend = "memory"\n\n[profiles.m.seller]\nname = "Acme"\n'
        'vat_id = "${VAT}"\ncountry = "de"\nother_taxes = ["Eco fee"]\n',
        encoding="utf-8",
    )
    profile = load_profile("m", cfg, env={"VAT": "DE123456789"})
    assert "seller" not in profile.options
    seller = Seller.from_profile(profile)
    assert (seller.name, seller.vat_id, seller.country) == ("Acme", "DE123456789", "DE")
    assert seller.other_taxes == ("Eco fee",) and seller.payment_means_code == "1"
    profile.open().close()  # the backend never sees the seller table


def test_profile_without_seller_table_names_the_table(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[profiles.m]\nbackend = "memory"\n', encoding="utf-8")
    with pytest.raises(ConfigurationError) as info:
        Seller.from_profile(load_profile("m", cfg))
    assert info.value.option == "seller" and "[profiles.m.seller]" in str(info.value)


@pytest.mark.parametrize(
    ("table", "option"),
    [
        ({"name": "A", "country": "DE"}, "seller.vat_id"),
        ({"name": "A", "vat_id": "X", "country": "Germany"}, "seller.country"),
        ({"name": "A", "vat_id": "X", "country": "DE", "colour": "b"}, "seller.colour"),
        (
            {"name": "A", "vat_id": "X", "country": "DE", "untaxed_category": "S"},
            "seller.untaxed_category",
        ),
        ({"name": 5, "vat_id": "X", "country": "DE"}, "seller.name"),
    ],
)
def test_bad_seller_tables_name_the_option(table: dict[str, object], option: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        Seller.from_mapping(table, profile="shop")
    assert (info.value.profile, info.value.option) == ("shop", option)
