"""Perfex's column types for the schemas: every value arrives as a string (``"5.00"``,
``"1"``, ``"0"`` for no id) or ``null``; money becomes :class:`~decimal.Decimal`."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from marshmallow import ValidationError, fields

from invoicing_bridge.schemas import fields as fields_

from ..cents import ZERO, money_text

__all__ = [
    "Flag",
    "Id",
    "Money",
    "PDate",
    "PDateTime",
    "Text",
    "br2nl",
    "text_of",
    "to_date",
    "to_decimal",
]


def text_of(value: Any) -> str | None:
    if type(value) is str:  # most values: no ABC check
        text = value
    elif value is None or isinstance(value, Mapping | list | tuple | bool):
        return None
    else:
        text = str(value)
    return None if text.strip() in ("", "None") else text


class Text(fields_.Text):
    """A Perfex string column: ``""``, ``"None"`` and ``null`` are None; written as text
    (``""`` for None), since every Perfex value is a string."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str:
        return "" if value is None else str(value)


class Id(fields_.RemoteId):
    """A Perfex id: a digit string; ``"0"`` (none) is None."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str:
        return "" if value is None else str(value)


#: Amount texts already read (``"1.00"``, ``"0.00"``, a tax rate...): a Decimal is
#: immutable, so the one read is handed out again. Only short texts that read as a number
#: are kept, and at most :data:`_DECIMALS_KEPT` of them.
_DECIMALS: dict[str, Decimal] = {}
_DECIMALS_KEPT = 4096


def to_decimal(value: Any) -> Decimal | None:
    """A Perfex amount as Decimal (thousands commas dropped)."""
    if type(value) is str:
        number = _DECIMALS.get(value)
        if number is None:
            number = fields_.to_decimal(value, thousands=",")
            if number is not None and len(value) <= 40 and len(_DECIMALS) < _DECIMALS_KEPT:
                _DECIMALS[value] = number
        return number
    return fields_.to_decimal(value, thousands=",")


class Money(fields.Field[Decimal]):
    """An amount or quantity: ``"5.00"`` → ``Decimal("5.00")``; empty is the default."""

    def __init__(self, **kwargs: Any) -> None:
        if not kwargs.get("required"):
            kwargs.setdefault("load_default", ZERO)
        kwargs.setdefault("allow_none", True)
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        number = to_decimal(value)
        if number is None:
            default = self.load_default
            return default() if callable(default) else default
        return number

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str:
        return money_text(Decimal(value))


def to_date(value: Any) -> dt.date | None:
    text = text_of(value)
    if text is None or text.startswith("0000-00-00"):
        return None
    try:
        return dt.date.fromisoformat(text.strip()[:10])
    except ValueError:
        raise ValidationError(f"{value!r} is not a date (YYYY-MM-DD)") from None


class PDate(fields.Field[dt.date | None]):
    """A ``DATE`` (or the date part of a ``DATETIME``) column."""

    def __init__(self, **kwargs: Any) -> None:
        if not kwargs.get("required"):
            kwargs.setdefault("load_default", None)
        kwargs.setdefault("allow_none", True)
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        return to_date(value)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else value.isoformat()


class PDateTime(fields.Field[dt.datetime | None]):
    """A ``DATETIME`` column (``"2020-05-26 19:53:11"``, server local time: naive)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("load_default", None)
        kwargs.setdefault("allow_none", True)
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text = text_of(value)
        if text is None or text.startswith("0000-00-00"):
            return None
        try:
            return dt.datetime.fromisoformat(text.strip())
        except ValueError:
            raise ValidationError(f"{value!r} is not a timestamp") from None


class Flag(fields.Field[bool]):
    """A ``"0"``/``"1"`` (or JSON boolean) flag."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("load_default", False)
        kwargs.setdefault("allow_none", True)
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if isinstance(value, bool):
            return value
        return str(value).strip().lower() in ("1", "true", "on", "yes")


def br2nl(text: str | None) -> str | None:
    """Undo PHP's ``nl2br`` (Perfex applies it to long descriptions and streets)."""
    if text is None:
        return None
    if "<br" not in text:  # most texts: no regular expression to run
        return text or None
    text = re.sub(r"<br\s*/?>(\r\n|\n|\r)", r"\1", text)
    text = re.sub(r"<br\s*/?>", "\n", text)
    return text or None
