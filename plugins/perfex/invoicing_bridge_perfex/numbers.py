"""Perfex invoice numbers: an integer plus a prefix and one of four display formats.

Perfex stores ``number`` as an integer and ``prefix``/``number_format`` copied from the
settings at creation; what a client sees is built by ``sales_number_format`` (Perfex core
``sales_helper.php``), padded to the ``number_padding_prefixes`` option, which the API does
not expose (the published example, ``"INV-"`` + 2 → ``"INV-000002"``, implies 6)::

    1  PREFIX + pad(number)                INV-000002
    2  PREFIX + YYYY/ + pad(number)        INV-2026/000002
    3  PREFIX + pad(number) + -YY          INV-000002-26
    4  PREFIX + pad(number) + /MM/YYYY     INV-000002/09/2026

Drafts carry the placeholder number 1000000000 and display as ``PREFIX + "DRAFT"``.
Perfex 3.2.0 and later also store the result in ``formatted_number``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

__all__ = [
    "DRAFT_NUMBER",
    "MAX_NUMBER",
    "ParsedNumber",
    "as_int",
    "format_number",
    "parse_number",
]

#: ``Invoices_model::STATUS_DRAFT_NUMBER``: the number every draft carries.
DRAFT_NUMBER = 1000000000
#: ``tblinvoices.number`` is a signed INT(11).
MAX_NUMBER = 2147483647

_FORMAT_2 = re.compile(r"^(?P<prefix>.*?)(?P<year>\d{4})/(?P<num>\d+)$")
_FORMAT_3 = re.compile(r"^(?P<prefix>\D*)(?P<num>\d+)-(?P<yy>\d{2})$")
_FORMAT_4 = re.compile(r"^(?P<prefix>\D*)(?P<num>\d+)/(?P<mm>\d{2})/(?P<year>\d{4})$")
_TRAILING = re.compile(r"(?P<num>\d+)(?P<suffix>\D*)$")


def format_number(
    number: int,
    *,
    prefix: str = "",
    number_format: int | None = 1,
    date: dt.date | None = None,
    padding: int = 6,
    draft: bool = False,
) -> str:
    """The display number, as Perfex's ``format_invoice_number`` builds it."""
    if draft or number == DRAFT_NUMBER:
        return f"{prefix}DRAFT"
    padded = str(number).rjust(padding, "0")
    if date is None or number_format not in (2, 3, 4):
        return f"{prefix}{padded}"
    if number_format == 2:
        return f"{prefix}{date:%Y}/{padded}"
    if number_format == 3:
        return f"{prefix}{padded}-{date:%y}"
    return f"{prefix}{padded}/{date:%m}/{date:%Y}"


@dataclass(frozen=True)
class ParsedNumber:
    """What a number text says: the integer Perfex would store, and the year or month a
    format 2-4 number carries (None when it carries none)."""

    number: int
    prefix: str
    number_format: int | None = None
    year: int | None = None
    month: int | None = None


def parse_number(text: str) -> ParsedNumber | None:
    """Read a display number (any of the four formats) or another system's number.

    Perfex's own shapes are recognised first (so ``"INV-000002-26"`` is number 2 of 2026,
    not 26); anything else gives its last run of digits (``"000017"`` → 17,
    ``"F-2026-0017"`` → 17). None when the text has no digits (``"INV-DRAFT"``).
    """
    text = " ".join(text.split())
    match = _FORMAT_2.match(text)
    if match:
        return ParsedNumber(
            int(match["num"]), match["prefix"], number_format=2, year=int(match["year"])
        )
    match = _FORMAT_4.match(text)
    if match and 1 <= int(match["mm"]) <= 12:
        return ParsedNumber(
            int(match["num"]),
            match["prefix"],
            number_format=4,
            year=int(match["year"]),
            month=int(match["mm"]),
        )
    match = _FORMAT_3.match(text)
    if match:
        return ParsedNumber(
            int(match["num"]), match["prefix"], number_format=3, year=2000 + int(match["yy"])
        )
    match = _TRAILING.search(text)
    if match is None:
        return None
    prefix = text[: match.start()]
    return ParsedNumber(int(match["num"]), prefix, number_format=1 if not match["suffix"] else None)


def as_int(value: object) -> int:
    """A Perfex integer column (``"17"``) as an int; 0 when it is none."""
    try:
        return int(str(value))
    except ValueError:
        return 0
