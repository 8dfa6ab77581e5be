"""UBL 2.1 Invoice XML for EN 16931, built with lxml from :mod:`.amounts`.

Elements are written in the order the UBL 2.1 schema requires; amounts with two places
and their ``currencyID``; quantities and prices exactly as the invoice has them.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from lxml import etree

from ..exceptions import EInvoiceError
from ..models import Address, Client, Invoice
from .amounts import Category, Document, compute
from .seller import Seller
from .zatca import ZatcaChain
from .zatca import apply as apply_zatca

__all__ = ["CUSTOMIZATION_ID", "NS", "PROFILES", "to_ubl", "unit_code", "vat_identifier"]

NS = {
    "ubl": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
CUSTOMIZATION_ID = "urn:cen.eu:en16931:2017"
PROFILES = ("en16931", "zatca")
#: Commercial invoice (UNCL1001).
INVOICE_TYPE = "380"
_CAC = f"{{{NS['cac']}}}"
_CBC = f"{{{NS['cbc']}}}"

#: Free-text units to UN/ECE Recommendation 20 codes; anything else is C62 ("one").
_UNITS = {
    "hour": "HUR",
    "hours": "HUR",
    "hr": "HUR",
    "h": "HUR",
    "ساعة": "HUR",
    "day": "DAY",
    "days": "DAY",
    "يوم": "DAY",
    "week": "WEE",
    "month": "MON",
    "months": "MON",
    "شهر": "MON",
    "year": "ANN",
    "years": "ANN",
    "سنة": "ANN",
    "kg": "KGM",
    "g": "GRM",
    "m": "MTR",
    "km": "KMT",
    "l": "LTR",
    "litre": "LTR",
    "liter": "LTR",
    "piece": "H87",
    "pieces": "H87",
    "pcs": "H87",
    "pc": "H87",
    "قطعة": "H87",
    "box": "XBX",
    "page": "ZZ",
    "set": "SET",
}


def unit_code(unit: str | None) -> str:
    """The UN/ECE Rec. 20 code of a free-text unit (``"hours"`` → ``HUR``); ``C62`` else."""
    if not unit:
        return "C62"
    return _UNITS.get(unit.strip().casefold(), "C62")


def vat_identifier(number: str, country: str | None) -> str:
    """A VAT number with the ISO 3166 country prefix EN 16931 asks for (BR-CO-09): spaces
    removed, the party's country code put in front when it does not start with letters."""
    compact = "".join(number.split()).upper()
    if compact[:2].isalpha() or not country:
        return compact
    return country.upper() + compact


def _decimal_text(value: Decimal) -> str:
    """A quantity or price as plain digits: no exponent, no trailing zeros after a point."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


class _Writer:
    def __init__(self, currency: str):
        self.currency = currency

    def cbc(self, parent: etree._Element, name: str, text: str | None, **attrib: str) -> None:
        if text is None or text == "":
            return
        element = etree.SubElement(parent, _CBC + name, attrib)
        element.text = text

    def cac(self, parent: etree._Element, name: str) -> etree._Element:
        return etree.SubElement(parent, _CAC + name)

    def amount(self, parent: etree._Element, name: str, value: Decimal) -> None:
        self.cbc(parent, name, f"{value:.2f}", currencyID=self.currency)


def _address(w: _Writer, party: etree._Element, address: Address) -> None:
    postal = w.cac(party, "PostalAddress")
    w.cbc(postal, "StreetName", address.line1)
    w.cbc(postal, "AdditionalStreetName", address.line2)
    w.cbc(postal, "CityName", address.city)
    w.cbc(postal, "PostalZone", address.postal_code)
    w.cbc(postal, "CountrySubentity", address.state)
    country = w.cac(postal, "Country")
    w.cbc(country, "IdentificationCode", address.country)


def _tax_scheme(w: _Writer, parent: etree._Element, vat_id: str) -> None:
    scheme = w.cac(parent, "PartyTaxScheme")
    w.cbc(scheme, "CompanyID", vat_id)
    w.cbc(w.cac(scheme, "TaxScheme"), "ID", "VAT")


def _contact(w: _Writer, party: etree._Element, phone: str | None, email: str | None) -> None:
    if phone or email:
        contact = w.cac(party, "Contact")
        w.cbc(contact, "Telephone", phone)
        w.cbc(contact, "ElectronicMail", email)


def _seller(w: _Writer, root: etree._Element, seller: Seller) -> None:
    party = w.cac(w.cac(root, "AccountingSupplierParty"), "Party")
    w.cbc(w.cac(party, "PartyName"), "Name", seller.name)
    _address(w, party, seller.address)
    _tax_scheme(w, party, vat_identifier(seller.vat_id, seller.country))
    legal = w.cac(party, "PartyLegalEntity")
    w.cbc(legal, "RegistrationName", seller.name)
    w.cbc(legal, "CompanyID", seller.registration_id)
    _contact(w, party, seller.phone, seller.email)


def _buyer(w: _Writer, root: etree._Element, client: Client, number: str) -> None:
    address = client.address
    if address is None or not address.country:
        raise EInvoiceError(
            f"client {client.name!r} has no country: EN 16931 needs the buyer's (BR-11)",
            invoice=number,
            field="client.address.country",
        )
    party = w.cac(w.cac(root, "AccountingCustomerParty"), "Party")
    name = client.company_name or client.name
    w.cbc(w.cac(party, "PartyName"), "Name", name)
    _address(w, party, address)
    if client.tax_number:
        _tax_scheme(w, party, vat_identifier(client.tax_number, address.country))
    w.cbc(w.cac(party, "PartyLegalEntity"), "RegistrationName", name)
    _contact(w, party, client.phone, client.email)


def _tax_category(
    w: _Writer, parent: etree._Element, tag: str, category: Category, *, reason: bool = False
) -> None:
    element = w.cac(parent, tag)
    w.cbc(element, "ID", category.code)
    if category.code != "O":  # BR-O-05: no rate for "not subject to VAT"
        w.cbc(element, "Percent", _decimal_text(category.rate))
    if reason and category.exemption_reason and category.code != "S":  # BT-120
        w.cbc(element, "TaxExemptionReason", category.exemption_reason)
    w.cbc(w.cac(element, "TaxScheme"), "ID", "VAT")


def _payment(w: _Writer, root: etree._Element, doc: Document, seller: Seller) -> None:
    invoice = doc.invoice
    means = w.cac(root, "PaymentMeans")
    w.cbc(means, "PaymentMeansCode", seller.payment_means_code)
    w.cbc(means, "PaymentID", invoice.number)
    if seller.iban:
        account = w.cac(means, "PayeeFinancialAccount")
        w.cbc(account, "ID", "".join(seller.iban.split()))
        w.cbc(account, "Name", seller.name)
        if seller.bic:
            w.cbc(w.cac(account, "FinancialInstitutionBranch"), "ID", seller.bic)
    terms = invoice.terms
    if not terms and invoice.due_date is None and doc.payable > 0:
        terms = "Payable on receipt"  # BR-CO-25: a due date or payment terms
    if terms:
        w.cbc(w.cac(root, "PaymentTerms"), "Note", terms)


def build(doc: Document, seller: Seller) -> etree._Element:
    """The ``Invoice`` element of ``doc``."""
    invoice = doc.invoice
    w = _Writer(invoice.currency)
    nsmap: Any = {None: NS["ubl"], "cac": NS["cac"], "cbc": NS["cbc"]}
    root = etree.Element(f"{{{NS['ubl']}}}Invoice", nsmap=nsmap)
    w.cbc(root, "CustomizationID", CUSTOMIZATION_ID)
    w.cbc(root, "ID", invoice.number)
    w.cbc(root, "IssueDate", invoice.issue_date.isoformat())
    w.cbc(root, "DueDate", _date(invoice.due_date))
    w.cbc(root, "InvoiceTypeCode", INVOICE_TYPE)
    w.cbc(root, "Note", invoice.notes)
    w.cbc(root, "DocumentCurrencyCode", invoice.currency)
    _seller(w, root, seller)
    _buyer(w, root, invoice.client, invoice.number)
    _payment(w, root, doc, seller)
    for extra in doc.allowances_charges:
        element = w.cac(root, "AllowanceCharge")
        w.cbc(element, "ChargeIndicator", "true" if extra.charge else "false")
        w.cbc(element, "AllowanceChargeReason", extra.reason)
        w.amount(element, "Amount", extra.amount)
        _tax_category(w, element, "TaxCategory", extra.category)
    total = w.cac(root, "TaxTotal")
    w.amount(total, "TaxAmount", doc.tax_total)
    for subtotal in doc.subtotals:
        element = w.cac(total, "TaxSubtotal")
        w.amount(element, "TaxableAmount", subtotal.taxable)
        w.amount(element, "TaxAmount", subtotal.tax)
        _tax_category(w, element, "TaxCategory", subtotal.category, reason=True)
    monetary = w.cac(root, "LegalMonetaryTotal")
    w.amount(monetary, "LineExtensionAmount", doc.line_total)
    w.amount(monetary, "TaxExclusiveAmount", doc.tax_exclusive)
    w.amount(monetary, "TaxInclusiveAmount", doc.tax_inclusive)
    if doc.allowance_total:
        w.amount(monetary, "AllowanceTotalAmount", doc.allowance_total)
    if doc.charge_total:
        w.amount(monetary, "ChargeTotalAmount", doc.charge_total)
    if doc.prepaid:
        w.amount(monetary, "PrepaidAmount", doc.prepaid)
    if doc.rounding:
        w.amount(monetary, "PayableRoundingAmount", doc.rounding)
    w.amount(monetary, "PayableAmount", doc.payable)
    for line in doc.lines:
        element = w.cac(root, "InvoiceLine")
        w.cbc(element, "ID", str(line.number))
        w.cbc(
            element,
            "InvoicedQuantity",
            _decimal_text(line.quantity),
            unitCode=unit_code(line.item.unit),
        )
        w.amount(element, "LineExtensionAmount", line.net)
        if line.allowance:
            allowance = w.cac(element, "AllowanceCharge")
            w.cbc(allowance, "ChargeIndicator", "false" if line.allowance > 0 else "true")
            w.cbc(
                allowance,
                "AllowanceChargeReason",
                "Discount" if line.allowance > 0 else "Surcharge",
            )
            w.amount(allowance, "Amount", abs(line.allowance))
        item = w.cac(element, "Item")
        w.cbc(item, "Description", line.item.description)
        w.cbc(item, "Name", line.item.name.strip() or "Item")
        if line.item.sku:
            w.cbc(w.cac(item, "SellersItemIdentification"), "ID", line.item.sku)
        _tax_category(w, item, "ClassifiedTaxCategory", line.category)
        price = w.cac(element, "Price")
        w.cbc(price, "PriceAmount", _decimal_text(line.price), currencyID=invoice.currency)
    return root


def _date(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


def to_ubl(
    invoice: Invoice,
    *,
    seller: Seller,
    profile: str = "en16931",
    chain: ZatcaChain | None = None,
    uuid: str | None = None,
) -> bytes:
    """``invoice`` as a UBL 2.1 Invoice (EN 16931), UTF-8 XML bytes.

    ``seller`` is the issuer (:meth:`Seller.from_profile` reads it from a config profile).
    ``profile="zatca"`` adds the Saudi phase-2 fields (see :mod:`.zatca`, unsigned): pass
    the ``chain`` of invoice counter and hashes, which it advances (a new chain when
    omitted: counter 1, the first invoice's hash), and ``uuid`` to set the invoice's UUID.
    Raises :class:`~invoicing_bridge.exceptions.EInvoiceError` when the invoice cannot be
    an e-invoice (a draft, a void invoice, a buyer without a country, totals that do not
    add up), and ``ValueError`` for an unknown ``profile``.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown e-invoice profile {profile!r}; known: {', '.join(PROFILES)}")
    doc = compute(invoice, seller)
    root = build(doc, seller)
    if profile == "zatca":
        apply_zatca(
            root,
            doc,
            seller_name=seller.name,
            seller_vat=vat_identifier(seller.vat_id, seller.country),
            chain=ZatcaChain() if chain is None else chain,
            uuid=uuid,
        )
    # ZATCA hashes the document as sent: no indentation that a reader might reflow.
    pretty = profile != "zatca"
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=pretty)
