"""Value readers and marshmallow fields every backend's schemas share.

They carry the neutral model's rules for remote values: ``""``, ``"None"``, ``"null"``
and ``null`` are absent; ``"0"`` and ``0`` are no id; numbers arrive as strings or JSON
numbers and become exact :class:`~decimal.Decimal` (a float is read through its shortest
repr, never its binary value); a wrong type is a :class:`marshmallow.ValidationError`,
which the backends turn into :class:`~invoicing_bridge.exceptions.MappingError`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from marshmallow import ValidationError, fields

__all__ = [
    "ABSENT_ID",
    "ABSENT_TEXT",
    "Number",
    "RemoteId",
    "Text",
    "slugify",
    "to_decimal",
    "to_id",
    "to_text",
]

#: Text values a backend uses for "nothing".
ABSENT_TEXT = frozenset({"", "None", "null"})
#: Id values a backend uses for "no record".
ABSENT_ID = ABSENT_TEXT | {"0"}
_WHOLE_WITH_ZEROS = re.compile(r"^(\d+)\.0+$")


def to_text(value: Any) -> str | None:
    """A string field: absent values are None; numbers become their text."""
    if value is None:
        return None
    if isinstance(value, str):
        return None if value.strip() in ABSENT_TEXT else value
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ValidationError(f"expected text, got {type(value).__name__}")
    return str(value)


def to_id(value: Any) -> str | None:
    """A remote id as a string (``12``, ``"12"`` and ``"12.0"`` are ``"12"``); absent
    values and ``"0"``/``0`` are None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return None if value == 0 else str(value)
    if isinstance(value, Decimal | float):
        if value != int(value):
            raise ValidationError(f"{value!r} is not an id")
        return None if value == 0 else str(int(value))
    if isinstance(value, str):
        text = value.strip()
        whole = _WHOLE_WITH_ZEROS.match(text)
        if whole:
            text = whole.group(1)
        return None if text in ABSENT_ID else text
    raise ValidationError(f"expected an id, got {type(value).__name__}")


def to_decimal(value: Any, *, thousands: str | None = None) -> Decimal | None:
    """A number from a JSON number or a numeric string, exactly; absent values are None.

    ``thousands``: a grouping separator to drop from strings (``","`` for ``"1,234.50"``).
    """
    if isinstance(value, bool):
        raise ValidationError("expected a number, got a boolean")
    if value is None:
        return None
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        return Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))  # the shortest text that reads back as this float
    elif isinstance(value, str):
        text = value.strip()
        if thousands:
            text = text.replace(thousands, "")
        if text in ABSENT_TEXT:
            return None
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValidationError(f"{value!r} is not a number") from None
    else:
        raise ValidationError(f"expected a number, got {type(value).__name__}")
    if not number.is_finite():
        raise ValidationError(f"{value!r} is not a number")
    return number


def slugify(text: str | None) -> str:
    """Lower-case ``a_b`` form of a name (accents dropped; non-Latin text kept)."""
    raw = (text or "").strip()
    ascii_text = unicodedata.normalize("NFKD", raw).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")
    return slug or re.sub(r"[^\w]+", "_", raw.lower()).strip("_")


class _Optional(fields.Field[Any]):
    """A field that may be missing or absent (``load_default`` None unless given)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("load_default", None)
        kwargs.setdefault("allow_none", True)
        super().__init__(**kwargs)


class Text(_Optional):
    """A string column; absent values load as None."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, Mapping | list | tuple):
            raise ValidationError("expected text, got a structure")
        return to_text(value)


class RemoteId(_Optional):
    """A remote id; absent values and ``"0"`` load as None."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        return to_id(value)


class Number(_Optional):
    """A string or JSON number in, an exact Decimal out.

    ``places`` (such as ``Decimal("0.0001")``) rounds half up when dumping, for
    backends that store a fixed number of decimals; without it the value is dumped as is.
    """

    def __init__(self, *, places: Decimal | None = None, **kwargs: Any) -> None:
        self.places = places
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        return to_decimal(value)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if value is None or self.places is None:
            return value
        return Decimal(value).quantize(self.places, ROUND_HALF_UP)
