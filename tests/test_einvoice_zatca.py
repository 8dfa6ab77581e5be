"""The Saudi profile (ZATCA phase 2, unsigned): type code and transaction flags, UUID,
invoice counter and hash chain, the line VAT, the QR TLV record; each document passes
the UBL 2.1 schema (ZATCA's own rules are not published as a package)."""

from __future__ import annotations

import base64
import datetime as dt
from decimal import Decimal as D
from typing import Any

import pytest
from lxml import etree

from invoicing_bridge import Address, Client, Invoice, InvoiceStatus, LineItem, TaxRate
from invoicing_bridge.einvoice import (
    INITIAL_PIH,
    Seller,
    ZatcaChain,
    encode_tlv,
    invoice_hash,
    qr_payload,
    to_ubl,
    validate,
)
from invoicing_bridge.exceptions import EInvoiceError

NS = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
SELLER = Seller.from_mapping(
    {"name": "Red Sea Foods", "vat_id": "SA302233445500003", "country": "SA", "city": "Jeddah"}
)
VAT = TaxRate("VAT", D("15"))


def invoice(
    number: str = "000018", *, tax_number: str | None = "310122393500003", **kw: Any
) -> Invoice:
    country = kw.pop("country", "SA")
    return Invoice.build(
        number=number,
        issue_date=dt.date(2026, 2, 8),
        currency=kw.pop("currency", "SAR"),
        client=Client(
            name="شركة النور للتجارة",
            tax_number=tax_number,
            address=Address(city="الرياض", country=country),
        ),
        items=[
            LineItem(name="Web hosting", quantity=D("4"), unit_price=D("1899.99"), taxes=[VAT]),
            LineItem(name="Printer paper", quantity=D("2.5"), unit_price=D("89.75"), taxes=[VAT]),
        ],
        created_at=dt.datetime(2026, 2, 8, 9, 41, 5),
        **kw,
    )


def find(xml: bytes, path: str) -> list[str]:
    return [str(v) for v in etree.fromstring(xml).xpath(path, namespaces=NS)]


def test_initial_previous_hash_is_zatcas_constant() -> None:
    assert INITIAL_PIH == (
        "NWZlY2ViNjZmZmM4NmYzOGQ5NTI3ODZjNmQ2OTZjNzljMmRiYzIzOWRkNGU5MWI0NjcyOWQ3M2EyN2ZiNTdlOQ=="
    )


def test_tlv_is_tag_length_value_in_utf8() -> None:
    assert encode_tlv([(1, "ab"), (2, "ع")]) == b"\x01\x02ab\x02\x02\xd8\xb9"
    with pytest.raises(ValueError, match="255"):
        encode_tlv([(1, "x" * 256)])
    with pytest.raises(ValueError, match="outside"):
        encode_tlv([(0, "x")])


def test_qr_payload_reads_back_with_the_daftra_plugins_decoder() -> None:
    qr = pytest.importorskip("invoicing_bridge_daftra.qr")
    payload = qr_payload(
        seller_name="شركة النور للتجارة",
        vat_number="310122393500003",
        timestamp=dt.datetime(2026, 2, 8, 9, 41, 5),
        total=D("8739.95"),
        vat_total=D("1139.993"),
        invoice_hash="abc=",
    )
    fields = qr.decode_tlv(base64.b64decode(payload))
    assert fields["seller_name"] == "شركة النور للتجارة"
    assert fields["vat_number"] == "310122393500003"
    assert fields["total"] == D("8739.95") and fields["vat_total"] == D("1139.99")
    assert str(fields["timestamp"]).startswith("2026-02-08")
    assert base64.b64decode(fields["tag_6"]) == b"abc="


def test_standard_invoice_has_the_phase_2_fields_and_passes_the_ubl_schema() -> None:
    chain = ZatcaChain()
    xml = to_ubl(invoice(), seller=SELLER, profile="zatca", chain=chain)
    assert validate(xml, schematron=False) == []
    assert find(xml, "cbc:ProfileID/text()") == ["reporting:1.0"]
    assert find(xml, "cbc:InvoiceTypeCode/text()") == ["388"]
    assert find(xml, "cbc:InvoiceTypeCode/@name") == ["0100000"]
    assert find(xml, "cbc:IssueTime/text()") == ["09:41:05"]
    assert find(xml, "cbc:TaxCurrencyCode/text()") == ["SAR"]
    assert find(xml, "cac:AdditionalDocumentReference/cbc:ID/text()") == ["ICV", "PIH", "QR"]
    assert find(xml, "cac:AdditionalDocumentReference[cbc:ID='ICV']/cbc:UUID/text()") == ["1"]
    pih = "cac:AdditionalDocumentReference[cbc:ID='PIH']//cbc:EmbeddedDocumentBinaryObject/text()"
    assert find(xml, pih) == [INITIAL_PIH]
    # VAT numbers as ZATCA issues them: 15 digits, no country prefix.
    assert find(xml, "//cac:PartyTaxScheme/cbc:CompanyID/text()") == [
        "302233445500003",
        "310122393500003",
    ]
    # The VAT total twice (the second TaxTotal with its breakdown), and per line.
    assert find(xml, "cac:TaxTotal/cbc:TaxAmount/text()") == ["1173.65", "1173.65"]
    assert find(xml, "cac:InvoiceLine/cac:TaxTotal/cbc:TaxAmount/text()") == ["1139.99", "33.66"]
    assert find(xml, "cac:InvoiceLine/cac:TaxTotal/cbc:RoundingAmount/text()") == [
        "8739.95",
        "258.04",
    ]
    assert find(xml, "cac:Delivery/cbc:ActualDeliveryDate/text()") == ["2026-02-08"]


def test_uuid_is_stable_for_an_invoice_and_can_be_given() -> None:
    first = find(to_ubl(invoice(), seller=SELLER, profile="zatca"), "cbc:UUID/text()")
    again = find(to_ubl(invoice(), seller=SELLER, profile="zatca"), "cbc:UUID/text()")
    other = find(to_ubl(invoice("000019"), seller=SELLER, profile="zatca"), "cbc:UUID/text()")
    assert first == again != other
    given = "3cf5ee18-ee25-44ea-a444-2c37ba7f28be"
    xml = to_ubl(invoice(), seller=SELLER, profile="zatca", uuid=given)
    assert find(xml, "cbc:UUID/text()") == [given]


@pytest.mark.parametrize(
    ("tax_number", "country", "code"),
    [("310122393500003", "SA", "0100000"), (None, "SA", "0200000"), ("AE100", "AE", "0100100")],
)
def test_transaction_flags(tax_number: str | None, country: str, code: str) -> None:
    xml = to_ubl(invoice(tax_number=tax_number, country=country), seller=SELLER, profile="zatca")
    assert find(xml, "cbc:InvoiceTypeCode/@name") == [code]
    assert validate(xml, schematron=False) == []


def test_counter_and_previous_hash_chain_invoices() -> None:
    chain = ZatcaChain()
    documents = [
        to_ubl(invoice(f"0000{n}"), seller=SELLER, profile="zatca", chain=chain)
        for n in (18, 19, 20)
    ]
    assert chain.counter == 3
    icv = "cac:AdditionalDocumentReference[cbc:ID='ICV']/cbc:UUID/text()"
    pih = "cac:AdditionalDocumentReference[cbc:ID='PIH']//cbc:EmbeddedDocumentBinaryObject/text()"
    assert [find(d, icv) for d in documents] == [["1"], ["2"], ["3"]]
    hashes = [invoice_hash(d) for d in documents]
    assert chain.hashes == hashes and len(set(hashes)) == 3
    assert [find(d, pih)[0] for d in documents] == [INITIAL_PIH, hashes[0], hashes[1]]


def test_qr_carries_the_totals_and_the_invoice_hash() -> None:
    qr = pytest.importorskip("invoicing_bridge_daftra.qr")
    xml = to_ubl(invoice(), seller=SELLER, profile="zatca")
    (text,) = find(
        xml, "cac:AdditionalDocumentReference[cbc:ID='QR']//cbc:EmbeddedDocumentBinaryObject/text()"
    )
    fields = qr.decode_tlv(base64.b64decode(text))
    assert fields["vat_number"] == "302233445500003"
    assert (fields["total"], fields["vat_total"]) == (D("8997.99"), D("1173.65"))
    assert base64.b64decode(fields["tag_6"]).decode() == invoice_hash(xml)


def test_hash_ignores_the_qr_and_changes_with_the_content() -> None:
    xml = to_ubl(invoice(), seller=SELLER, profile="zatca")
    tree = etree.fromstring(xml)
    (qr,) = tree.xpath("cac:AdditionalDocumentReference[cbc:ID='QR']", namespaces=NS)
    tree.remove(qr)
    assert invoice_hash(etree.tostring(tree)) == invoice_hash(xml)
    (number,) = tree.xpath("cbc:ID", namespaces=NS)
    number.text = "000099"
    assert invoice_hash(etree.tostring(tree)) != invoice_hash(xml)


def test_non_sar_invoice_is_refused_naming_the_currency() -> None:
    with pytest.raises(EInvoiceError) as info:
        to_ubl(invoice(currency="USD"), seller=SELLER, profile="zatca")
    assert info.value.field == "currency"


@pytest.mark.slow
def test_every_issued_saudi_invoice_of_the_daftra_emulator_passes_the_ubl_schema() -> None:
    module = pytest.importorskip("invoicing_bridge_daftra.emulator")
    from invoicing_bridge import get_backend

    with module.DaftraEmulator(invoices=40, seed=1) as emulator:
        options = dict(emulator.profile())
        with get_backend(options.pop("backend"), **options) as backend:
            saudi = [
                i
                for i in backend.iter_invoices()
                if i.currency == "SAR" and i.status is not InvoiceStatus.DRAFT
            ]
    saudi.sort(key=lambda i: (i.issue_date, i.number))
    chain = ZatcaChain()
    for source in saudi:
        xml = to_ubl(source, seller=SELLER, profile="zatca", chain=chain)
        assert validate(xml, schematron=False) == [], source.number
    assert len(saudi) > 5 and chain.counter == len(saudi)
