"""JSON with exact decimals, both ways.

Daftra sends amounts such as ``32999.9961`` as JSON numbers and expects numbers back; a
``float`` in between could change the digits. :func:`loads` reads every non-integer number
as :class:`~decimal.Decimal`; :func:`dumps` writes a ``Decimal`` as a bare JSON number with
exactly its digits (``Decimal("1500.0000")`` becomes ``1500.0000``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

__all__ = ["dumps", "loads"]

# A Decimal travels through json.dumps as a string carrying this mark, then loses its quotes.
# NUL is escaped by the encoder (to \u0000) and removed from every other string first, so
# no text of a record can ever look like a marked number.
_MARK = "\x00#"
_MARKED = re.compile(r'"\\u0000#([-0-9.]*)"')


def loads(text: str | bytes) -> Any:
    """Parse JSON; non-integer numbers become ``Decimal`` with their digits kept."""
    return json.loads(text, parse_float=Decimal)


def _plain(value: Decimal) -> str:
    if not value.is_finite():
        raise ValueError(f"{value} cannot be written as a JSON number")
    return format(value, "f")  # never an exponent: Decimal("1E+2") is written 100


def _mark(value: Any) -> Any:
    if isinstance(value, Decimal):
        return _MARK + _plain(value)
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, Mapping):
        return {str(k): _mark(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mark(v) for v in value]
    if isinstance(value, float):
        raise TypeError("float is not written near money; pass a Decimal")
    return value


def dumps(value: Any) -> str:
    """Serialise to compact JSON, writing ``Decimal`` values as exact numbers."""
    text = json.dumps(_mark(value), ensure_ascii=False, separators=(",", ":"))
    return _MARKED.sub(r"\1", text)
