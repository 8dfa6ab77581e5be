"""The Saudi e-invoice (ZATCA) QR code behind Daftra's ``qr_code_url``.

``qr_code_url`` looks like ``https://x.daftra.com/qr/?d64=...``; ``d64`` is base64 of a
base64 string of a TLV record (tag byte, length byte, UTF-8 value): 1 seller name, 2 VAT
number, 3 timestamp, 4 invoice total, 5 VAT total. Tags above 5 (the signature parts of
phase 2) are kept as base64 under ``tag_<n>``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote, unquote, urlsplit

__all__ = ["ZATCA_FIELDS", "QRDecodeError", "decode_qr_url", "decode_tlv", "encode_qr_url"]

#: TLV tag → the name it gets in ``Invoice.extra["einvoice_qr"]``.
ZATCA_FIELDS: dict[int, str] = {
    1: "seller_name",
    2: "vat_number",
    3: "timestamp",
    4: "total",
    5: "vat_total",
}
_AMOUNTS = frozenset({"total", "vat_total"})
_D64 = re.compile(r"(?:^|&)d64=([^&#]*)")


class QRDecodeError(ValueError):
    """The QR payload is not a readable ZATCA TLV record."""


def _b64(text: str, what: str) -> bytes:
    # A form decoder may have turned '+' into ' '; base64 never contains spaces.
    text = text.strip().replace(" ", "+")
    text += "=" * (-len(text) % 4)
    altchars = b"-_" if ("-" in text or "_" in text) else None
    try:
        return base64.b64decode(text, altchars=altchars, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise QRDecodeError(f"{what} is not base64 ({exc})") from None


def decode_tlv(data: bytes) -> dict[str, Any]:
    """The named fields of a ZATCA TLV record; amounts as ``Decimal``.

    Raises :class:`QRDecodeError` when the record is truncated, not UTF-8, has an amount
    that is not a number, or lacks one of the five phase-1 fields.
    """
    fields: dict[str, Any] = {}
    index = 0
    while index < len(data):
        if index + 2 > len(data):
            raise QRDecodeError(f"TLV truncated at byte {index}")
        tag, length = data[index], data[index + 1]
        value = data[index + 2 : index + 2 + length]
        if len(value) < length:
            raise QRDecodeError(f"tag {tag} announces {length} bytes, {len(value)} present")
        index += 2 + length
        name = ZATCA_FIELDS.get(tag)
        if name is None:
            fields[f"tag_{tag}"] = base64.b64encode(value).decode("ascii")
            continue
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            raise QRDecodeError(f"tag {tag} ({name}) is not UTF-8") from None
        if name in _AMOUNTS:
            try:
                amount = Decimal(text.strip())
            except InvalidOperation:
                raise QRDecodeError(f"tag {tag} ({name}) is not a number: {text!r}") from None
            if not amount.is_finite():
                raise QRDecodeError(f"tag {tag} ({name}) is not a number: {text!r}")
            fields[name] = amount
        else:
            fields[name] = text
    missing = [name for name in ZATCA_FIELDS.values() if name not in fields]
    if missing:
        raise QRDecodeError(f"missing {', '.join(missing)}")
    return fields


def decode_qr_url(url: str) -> dict[str, Any]:
    """Decode the ``d64`` parameter of a Daftra ``qr_code_url``. Raises QRDecodeError."""
    match = _D64.search(urlsplit(url).query)
    if match is None or not match.group(1):
        raise QRDecodeError("no d64 parameter")
    outer = _b64(unquote(match.group(1)), "d64")
    try:
        inner_text = outer.decode("ascii")
    except UnicodeDecodeError:
        raise QRDecodeError("d64 does not hold base64 text") from None
    return decode_tlv(_b64(inner_text, "the decoded d64"))


def encode_tlv(fields: Mapping[str, Any]) -> bytes:
    """The TLV record for the five phase-1 fields (used by the emulator)."""
    out = bytearray()
    for tag, name in ZATCA_FIELDS.items():
        value = str(fields[name]).encode("utf-8")
        if len(value) > 255:
            raise ValueError(f"{name} is longer than 255 bytes")
        out += bytes((tag, len(value))) + value
    return bytes(out)


def encode_qr_url(site_root: str, fields: Mapping[str, Any]) -> str:
    """A ``qr_code_url`` as Daftra builds it: ``{site}/qr/?d64=base64(base64(TLV))``."""
    inner = base64.b64encode(encode_tlv(fields))
    d64 = base64.b64encode(inner).decode("ascii")
    return f"{site_root.rstrip('/')}/qr/?d64={quote(d64, safe='')}"
