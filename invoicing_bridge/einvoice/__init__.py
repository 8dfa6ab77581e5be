"""E-invoices: UBL 2.1 XML for EN 16931 from any backend's invoices, and its validation.

::

    from invoicing_bridge.einvoice import Seller, to_ubl, validate

    seller = Seller.from_profile(profile)        # [profiles.NAME.seller]
    xml = to_ubl(invoice, seller=seller)         # bytes, UTF-8
    fatal = [f for f in validate(xml) if f.fatal]

See ``docs/einvoice.md``.
"""

from __future__ import annotations

from .amounts import Document, compute, money
from .seller import UNTAXED_CATEGORIES, Seller
from .ubl import CUSTOMIZATION_ID, PROFILES, to_ubl, unit_code, vat_identifier
from .validate import Failure, schematron_version, validate
from .zatca import INITIAL_PIH, ZatcaChain, encode_tlv, invoice_hash, qr_payload

__all__ = [
    "CUSTOMIZATION_ID",
    "INITIAL_PIH",
    "PROFILES",
    "UNTAXED_CATEGORIES",
    "Document",
    "Failure",
    "Seller",
    "ZatcaChain",
    "compute",
    "encode_tlv",
    "invoice_hash",
    "money",
    "qr_payload",
    "schematron_version",
    "to_ubl",
    "unit_code",
    "validate",
    "vat_identifier",
]
