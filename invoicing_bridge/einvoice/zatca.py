"""Saudi e-invoices (ZATCA "Fatoora" phase 2) on top of the EN 16931 document: the basics.

``to_ubl(invoice, seller=..., profile="zatca", chain=ZatcaChain())`` writes what phase 2
adds to a UBL 2.1 invoice:

- ``ProfileID`` ``reporting:1.0``, a ``UUID`` (stable: derived from the seller's VAT
  number and the invoice number unless given), ``IssueTime``;
- ``InvoiceTypeCode`` 388 with its ``name`` flags: ``01`` standard (the buyer has a VAT
  number) or ``02`` simplified, then third party, nominal, exports (a buyer outside
  Saudi Arabia), summary and self-billed;
- the invoice counter (``ICV``) and the previous invoice's hash (``PIH``), carried from
  one invoice to the next by a :class:`ZatcaChain`;
- ``TaxCurrencyCode`` SAR and the VAT total in SAR, the supply date, each line's VAT and
  amount with VAT;
- the QR code (``QR``): the TLV record of seller name, VAT number, timestamp, total, VAT
  total and the invoice hash (tags 1 to 6), base64.

What remains for a document ZATCA accepts: the XAdES signature with the taxpayer's
certificate (``UBLExtensions`` and ``cac:Signature``), and with it QR tags 7 to 9
(signature, public key, certificate signature); the seller's building number and district;
VATEX exemption reason codes; non-SAR invoices (an exchange rate); credit and debit notes.
ZATCA's own validation rules are not published as a package, so these documents are
checked here against the UBL 2.1 schema only.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid as uuid_module
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from lxml import etree

from ..exceptions import EInvoiceError
from .amounts import Document, money

__all__ = [
    "INITIAL_PIH",
    "ZatcaChain",
    "encode_tlv",
    "invoice_hash",
    "qr_payload",
    "transaction_code",
]

CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
EXT = "urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2"
#: The previous invoice hash of a taxpayer's first invoice: base64 of SHA-256("0") in hex.
INITIAL_PIH = base64.b64encode(hashlib.sha256(b"0").hexdigest().encode("ascii")).decode("ascii")
TAX_INVOICE = "388"
_NS = {"cac": CAC, "cbc": CBC, "ext": EXT}


@dataclass
class ZatcaChain:
    """The invoice counter and the hash chain of one EGS unit (the device or system that
    issues invoices): ``counter`` is the last ICV used, ``previous_hash`` the last
    invoice's hash (base64). Export invoices in the order they were issued."""

    counter: int = 0
    previous_hash: str = INITIAL_PIH
    hashes: list[str] = field(default_factory=list, repr=False)

    def advance(self, xml_hash: str) -> None:
        self.counter += 1
        self.previous_hash = xml_hash
        self.hashes.append(xml_hash)


def encode_tlv(fields: Iterable[tuple[int, bytes | str]]) -> bytes:
    """ZATCA's TLV record: for each field a tag byte, a length byte and the value (UTF-8).

    Raises ``ValueError`` for a tag outside 1-255 or a value longer than 255 bytes.
    """
    out = bytearray()
    for tag, value in fields:
        data = value.encode("utf-8") if isinstance(value, str) else value
        if not 1 <= tag <= 255:
            raise ValueError(f"TLV tag {tag} is outside 1-255")
        if len(data) > 255:
            raise ValueError(f"TLV tag {tag}: {len(data)} bytes, at most 255 fit")
        out += bytes((tag, len(data))) + data
    return bytes(out)


def qr_payload(
    *,
    seller_name: str,
    vat_number: str,
    timestamp: dt.datetime,
    total: Decimal,
    vat_total: Decimal,
    invoice_hash: str | None = None,
) -> str:
    """The QR code's text: base64 of the TLV record (tags 1-5, and 6 when the invoice
    hash is given). Amounts with two places; the timestamp ISO 8601 without a zone."""
    fields: list[tuple[int, bytes | str]] = [
        (1, seller_name),
        (2, vat_number),
        (3, timestamp.replace(tzinfo=None).isoformat(timespec="seconds")),
        (4, f"{money(total):.2f}"),
        (5, f"{money(vat_total):.2f}"),
    ]
    if invoice_hash is not None:
        fields.append((6, invoice_hash))
    return base64.b64encode(encode_tlv(fields)).decode("ascii")


def invoice_hash(xml: bytes | etree._Element) -> str:
    """The invoice hash ZATCA chains: base64 of SHA-256 over the canonical XML (C14N) of
    the invoice without ``UBLExtensions``, ``cac:Signature`` and the QR reference."""
    root = etree.fromstring(xml) if isinstance(xml, bytes) else xml
    copy = etree.fromstring(etree.tostring(root))
    doomed = _elements(
        copy, "ext:UBLExtensions | cac:Signature | cac:AdditionalDocumentReference[cbc:ID = 'QR']"
    )
    for element in doomed:
        copy.remove(element)
    canonical = etree.tostring(copy, method="c14n")
    return base64.b64encode(hashlib.sha256(canonical).digest()).decode("ascii")


def transaction_code(
    *,
    simplified: bool,
    third_party: bool = False,
    nominal: bool = False,
    exports: bool = False,
    summary: bool = False,
    self_billed: bool = False,
) -> str:
    """``InvoiceTypeCode/@name``: ``01`` (standard) or ``02`` (simplified), then one digit
    per flag: third party, nominal, exports, summary, self-billed."""
    flags = (third_party, nominal, exports, summary, self_billed)
    return ("02" if simplified else "01") + "".join("1" if f else "0" for f in flags)


def _elements(root: etree._Element, path: str) -> list[etree._Element]:
    found = root.xpath(path, namespaces=_NS)
    assert isinstance(found, list)
    return [e for e in found if isinstance(e, etree._Element)]


def _el(tag: str, text: str | None = None, **attrib: str) -> etree._Element:
    prefix, name = tag.split(":")
    element = etree.Element(f"{{{_NS[prefix]}}}{name}", attrib)
    element.text = text
    return element


def _after(root: etree._Element, anchors: tuple[str, ...], new: etree._Element) -> None:
    """Insert ``new`` after the last present element among ``anchors`` (in order)."""
    for tag in reversed(anchors):
        found = root.find(tag, _NS)
        if found is not None:
            found.addnext(new)
            return
    root.insert(0, new)


def _reference(
    doc_id: str, *, uuid: str | None = None, binary: str | None = None
) -> etree._Element:
    ref = _el("cac:AdditionalDocumentReference")
    ref.append(_el("cbc:ID", doc_id))
    if uuid is not None:
        ref.append(_el("cbc:UUID", uuid))
    if binary is not None:
        attachment = _el("cac:Attachment")
        attachment.append(_el("cbc:EmbeddedDocumentBinaryObject", binary, mimeCode="text/plain"))
        ref.append(attachment)
    return ref


def apply(
    root: etree._Element,
    doc: Document,
    *,
    seller_name: str,
    seller_vat: str,
    chain: ZatcaChain,
    uuid: str | None = None,
    simplified: bool | None = None,
) -> etree._Element:
    """Turn the EN 16931 ``root`` of ``doc`` into a ZATCA phase-2 invoice (unsigned), and
    advance ``chain``. Raises :class:`EInvoiceError` for a currency other than SAR."""
    invoice = doc.invoice
    if invoice.currency != "SAR":
        raise EInvoiceError(
            f"ZATCA needs the VAT in SAR: only SAR invoices are exported (this one is in "
            f"{invoice.currency}, and invoices carry no exchange rate)",
            invoice=invoice.number,
            field="currency",
        )
    # ZATCA writes VAT numbers as issued (15 digits), without the EN 16931 country prefix.
    for company in _elements(root, "//cac:PartyTaxScheme/cbc:CompanyID"):
        text = company.text or ""
        if text.startswith("SA") and text[2:].isdigit():
            company.text = text[2:]
    seller_vat = seller_vat.removeprefix("SA") if seller_vat[2:].isdigit() else seller_vat
    buyer = invoice.client
    if simplified is None:
        simplified = not buyer.tax_number
    exports = bool(buyer.address and buyer.address.country and buyer.address.country != "SA")
    customization = root.find("cbc:CustomizationID", _NS)
    if customization is not None:
        root.remove(customization)
    root.insert(0, _el("cbc:ProfileID", "reporting:1.0"))
    identifier = uuid or str(
        uuid_module.uuid5(uuid_module.NAMESPACE_URL, f"zatca:{seller_vat}:{invoice.number}")
    )
    _after(root, ("cbc:ID",), _el("cbc:UUID", identifier))
    created = invoice.created_at
    time = created.time().replace(microsecond=0) if created else dt.time(0, 0)
    _after(root, ("cbc:IssueDate",), _el("cbc:IssueTime", time.isoformat()))
    type_code = root.find("cbc:InvoiceTypeCode", _NS)
    assert type_code is not None
    type_code.text = TAX_INVOICE
    type_code.set("name", transaction_code(simplified=simplified, exports=exports))
    _after(root, ("cbc:DocumentCurrencyCode",), _el("cbc:TaxCurrencyCode", "SAR"))
    counter = chain.counter + 1
    pih = _reference("PIH", binary=chain.previous_hash)
    _after(root, ("cbc:TaxCurrencyCode",), pih)
    pih.addprevious(_reference("ICV", uuid=str(counter)))
    # KSA-5, the supply date: the issue date when the backend has no other.
    delivery = _el("cac:Delivery")
    delivery.append(_el("cbc:ActualDeliveryDate", invoice.issue_date.isoformat()))
    _after(root, ("cac:AccountingCustomerParty",), delivery)
    # The VAT total again, in the tax currency (SAR), as its own TaxTotal.
    tax_total = root.find("cac:TaxTotal", _NS)
    assert tax_total is not None
    in_sar = _el("cac:TaxTotal")
    in_sar.append(_el("cbc:TaxAmount", f"{doc.tax_total:.2f}", currencyID="SAR"))
    tax_total.addprevious(in_sar)
    # Each line's VAT and its amount with VAT (KSA-11, KSA-12).
    for line, element in zip(doc.lines, root.findall("cac:InvoiceLine", _NS), strict=True):
        line_vat = money(line.net * line.category.rate / 100)
        total = _el("cac:TaxTotal")
        total.append(_el("cbc:TaxAmount", f"{line_vat:.2f}", currencyID=invoice.currency))
        total.append(
            _el("cbc:RoundingAmount", f"{line.net + line_vat:.2f}", currencyID=invoice.currency)
        )
        item = element.find("cac:Item", _NS)
        assert item is not None
        item.addprevious(total)
    xml_hash = invoice_hash(root)
    timestamp = dt.datetime.combine(invoice.issue_date, time)
    qr = qr_payload(
        seller_name=seller_name,
        vat_number=seller_vat,
        timestamp=timestamp,
        total=doc.tax_inclusive,
        vat_total=doc.tax_total,
        invoice_hash=xml_hash,
    )
    pih.addnext(_reference("QR", binary=qr))
    chain.advance(xml_hash)
    return root
