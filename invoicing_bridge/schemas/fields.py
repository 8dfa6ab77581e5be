"""Value readers and marshmallow fields every backend's schemas share.

Fields: :class:`Text`, :class:`RemoteId`, :class:`Number`, :class:`Money` (exact Decimal
in, ``places`` when written), :class:`Flag` (0/1 in any spelling in, the backend's form
out), :class:`Date` and :class:`DateTime` (ISO, or a reader callable for a display
format), :class:`StatusMap` (remote value ↔ enum, with an ``unknown`` default). Every
reader is pure: no field looks anything up over the network or writes to a cache (what
a reader needs is given to it, or sits in the schema's context; see
:mod:`invoicing_bridge.schemas.base`).

They carry the neutral model's rules for remote values: ``""``, ``"None"``, ``"null"``
and ``null`` are absent; ``"0"`` and ``0`` are no id; numbers arrive as strings or JSON
numbers and become exact :class:`~decimal.Decimal` (a float is read through its shortest
repr, never its binary value); a wrong type is a :class:`marshmallow.ValidationError`,
which the backends turn into :class:`~invoicing_bridge.exceptions.MappingError`.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import reprlib
import unicodedata
from collections.abc import Callable, Mapping
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Any, Generic, TypeVar

from marshmallow import ValidationError, fields, missing

__all__ = [
    "ABSENT_DATE",
    "ABSENT_ID",
    "ABSENT_TEXT",
    "Date",
    "DateTime",
    "Flag",
    "Money",
    "Number",
    "RemoteId",
    "StatusMap",
    "Text",
    "bounded",
    "iso_date",
    "iso_datetime",
    "short_repr",
    "slugify",
    "to_decimal",
    "to_flag",
    "to_id",
    "to_text",
]

#: Text values a backend uses for "nothing".
ABSENT_TEXT = frozenset({"", "None", "null"})
#: Id values a backend uses for "no record".
ABSENT_ID = ABSENT_TEXT | {"0"}
#: The largest power of ten a number read from a backend may reach, and the finest
#: fraction: no invoice amount, quantity or rate comes near 10**30, and bounding the
#: exponent before any Decimal arithmetic keeps a hostile ``1e999999`` from costing
#: seconds of CPU (a quantize to cents at a million digits of precision) or a traceback.
MAX_EXPONENT = 30
#: The most significant digits a number may carry.
MAX_DIGITS = 60
#: The longest id accepted (real ids are a few digits or a UUID).
MAX_ID_LENGTH = 255
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
        if value.bit_length() > 128:
            raise ValidationError(f"{_short(value)} is not an id")
        return None if value == 0 else str(value)
    if isinstance(value, Decimal | float):
        number = Decimal(repr(value)) if isinstance(value, float) else value
        # NaN, infinities and 1e999999 first: int() of them raises or costs seconds.
        if not number.is_finite() or number.adjusted() > 38 or number != number.to_integral():
            raise ValidationError(f"{_short(value)} is not an id")
        return None if number == 0 else str(int(number))
    if isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_ID_LENGTH:
            raise ValidationError(f"an id of {len(text)} characters is not an id")
        whole = _WHOLE_WITH_ZEROS.match(text)
        if whole:
            text = whole.group(1)
        return None if text in ABSENT_ID else text
    raise ValidationError(f"expected an id, got {type(value).__name__}")


_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxstring = 60
_REPR.maxother = 60
_REPR.maxlong = 40


def short_repr(value: Any, limit: int = 40) -> str:
    """``repr(value)`` for an error message: one short line, whatever the value (a huge
    integer, a wall of text, a structure nested thousands deep: reprlib stops at three
    levels, so no RecursionError)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"a {value.bit_length()}-bit integer"
    text = _REPR.repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


_short = short_repr


def bounded(number: Decimal, value: Any) -> Decimal:
    """``number`` when it is finite and within :data:`MAX_EXPONENT` / :data:`MAX_DIGITS`;
    a ValidationError naming ``value`` otherwise. Zero of any exponent is zero."""
    if not number.is_finite():
        raise ValidationError(f"{_short(value)} is not a number")
    _sign, digits, exponent = number.as_tuple()  # one call: it builds a tuple each time
    assert isinstance(exponent, int)
    if number.is_zero():
        return number if exponent >= -MAX_EXPONENT else Decimal(0)
    if not -MAX_EXPONENT <= number.adjusted() <= MAX_EXPONENT:
        raise ValidationError(f"{_short(value)} is out of range (more than 1e{MAX_EXPONENT})")
    if exponent < -MAX_EXPONENT or len(digits) > MAX_DIGITS:
        raise ValidationError(f"{_short(value)} has more digits than any amount")
    return number


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
        if value.bit_length() > 128:
            raise ValidationError(f"{_short(value)} is out of range")
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))  # the shortest text that reads back as this float
    elif isinstance(value, str):
        text = value.strip()
        if thousands:
            text = text.replace(thousands, "")
        if text in ABSENT_TEXT:
            return None
        if len(text) > 200:
            raise ValidationError(f"{_short(value)} is not a number")
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValidationError(f"{_short(value)} is not a number") from None
    else:
        raise ValidationError(f"expected a number, got {type(value).__name__}")
    return bounded(number, value)


def slugify(text: str | None) -> str:
    """Lower-case ``a_b`` form of a name (accents dropped; non-Latin text kept)."""
    raw = (text or "").strip()
    ascii_text = unicodedata.normalize("NFKD", raw).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")
    return slug or re.sub(r"[^\w]+", "_", raw.lower()).strip("_")


class _Optional(fields.Field[Any]):
    """A field that may be missing or absent (``load_default`` None unless given or
    ``required``)."""

    def __init__(self, **kwargs: Any) -> None:
        if not kwargs.get("required"):
            kwargs.setdefault("load_default", None)
        kwargs.setdefault("allow_none", True)
        super().__init__(**kwargs)


class Text(_Optional):
    """A string column; absent values load as None."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        # A str first: most values are, and the Mapping check is an ABC check.
        if type(value) is not str and isinstance(value, Mapping | list | tuple):
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


# --------------------------------------------------------------------------- money


def _quantum(places: Decimal | int | None) -> Decimal | None:
    if places is None or isinstance(places, Decimal):
        return places
    return Decimal(1).scaleb(-places)


class Money(Number):
    """An amount: a string or JSON number in, the exact Decimal out (``"5.10"`` stays
    ``Decimal("5.10")``; nothing is rounded on load).

    - ``places``: digits written when dumping, as a quantum (``Decimal("0.01")``) or a
      count (``2``); rounded half up (``rounding``), as MySQL ``DECIMAL`` columns store.
    - ``as_text``: dump a string (``"5.00"``, never an exponent) for backends whose
      every value is text.
    - ``thousands``: a grouping separator dropped on load (``","`` for ``"1,234.50"``).
    - absent values (``""``, ``"None"``) load as ``load_default`` (None unless given:
      ``Money(load_default=Decimal("0"))`` for "empty is zero"); JSON null is None.
    """

    def __init__(
        self,
        places: Decimal | int | None = None,
        *,
        as_text: bool = False,
        thousands: str | None = None,
        rounding: str = ROUND_HALF_UP,
        **kwargs: Any,
    ) -> None:
        self.as_text = as_text
        self.thousands = thousands
        self.rounding = rounding
        super().__init__(places=_quantum(places), **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        number = to_decimal(value, thousands=self.thousands)
        if number is None:
            default = self.load_default
            if callable(default):
                return default()
            return None if default is missing else default
        return number

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if value is None:
            return None
        try:
            number = bounded(value, value) if isinstance(value, Decimal) else to_decimal(value)
        except ValidationError as exc:
            # An absurd amount (NaN, 1E+400) is refused before anything is written, naming
            # the field (marshmallow does not name it for errors raised while dumping).
            raise ValidationError(exc.messages, field_name=attr or "_schema") from None
        if number is None:
            return None
        if self.places is not None:
            # Enough precision for any amount: quantize never fails on a big one.
            digits = max(28, number.adjusted() - self.places.as_tuple().exponent + 2)  # type: ignore[operator]
            number = number.quantize(self.places, self.rounding, Context(prec=digits))
        return format(number, "f") if self.as_text else number


# --------------------------------------------------------------------------- flags

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def to_flag(value: Any) -> bool | None:
    """A 0/1 flag in any spelling: ``True``/``1``/``"1"``/``"true"``/``"yes"``/``"on"``
    are True; ``False``/``0``/``"0"``/``"false"``/``"no"``/``"off"`` and the absent
    values (null, ``""``, ``"None"``, ``"null"``) are False (case and spaces ignored).
    Anything else is None: not a flag, let the caller decide."""
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, int | Decimal | float):
        if value == 0 or value == 1:
            return value == 1
        return None
    if isinstance(value, str):
        text = value.strip()
        if text in ABSENT_TEXT:
            return False
        text = text.lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    return None


class Flag(fields.Field[bool]):
    """A flag in any spelling :func:`to_flag` reads; dumped as the backend's form.

    - ``dump_as``: ``(off, on)`` written on dump: ``(False, True)`` (JSON booleans, the
      default), ``("0", "1")`` or ``(0, 1)``.
    - ``strict``: a value that is no flag (``"maybe"``, ``2``) is a ValidationError; with
      ``strict=False`` it reads as False.
    - ``absent``: what null and the absent texts load as (False; None to tell "not
      said" apart). A missing key loads ``load_default`` (``absent`` unless given).
    """

    def __init__(
        self,
        *,
        dump_as: tuple[Any, Any] = (False, True),
        strict: bool = True,
        absent: bool | None = False,
        **kwargs: Any,
    ) -> None:
        self.dump_as = dump_as
        self.strict = strict
        self.absent = absent
        kwargs.setdefault("load_default", absent)
        kwargs.setdefault("allow_none", True)
        super().__init__(**kwargs)

    def deserialize(
        self,
        value: Any,
        attr: str | None = None,
        data: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        if value is None:  # marshmallow would hand back None before _deserialize
            return self.absent
        return super().deserialize(value, attr, data, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str) and value.strip() in ABSENT_TEXT:
            return self.absent
        flag = to_flag(value)
        if flag is None:
            if self.strict:
                raise ValidationError(f"{value!r} is not a flag (0/1, true/false, yes/no)")
            return False
        return flag

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if value is None:
            return None
        return self.dump_as[1] if value else self.dump_as[0]


# --------------------------------------------------------------------------- dates

#: Date values a backend uses for "no date" (MySQL's zero dates among them).
ABSENT_DATE = ABSENT_TEXT | {"0000-00-00", "0000-00-00 00:00:00"}
_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]\d{1,2}:\d{2}.*)?$")


def iso_date(text: str) -> dt.date:
    """``YYYY-MM-DD``, or the date of an ISO timestamp (``2026-09-25 10:00:00``).
    Raises ValueError."""
    match = _ISO_DATE.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD)")
    try:
        return dt.date(*(int(part) for part in match.groups()))
    except ValueError:
        raise ValueError(f"{text!r} is not a valid date") from None


def iso_datetime(text: str) -> dt.datetime:
    """An ISO timestamp (``2026-09-25 10:00:00``, ``...T10:00:00Z``) or a bare date
    (midnight). Raises ValueError."""
    try:
        return dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a timestamp (YYYY-MM-DD HH:MM:SS)") from None


T = TypeVar("T")


def _context_of(field: fields.Field[Any]) -> Any:
    node: Any = getattr(field, "parent", None)
    while node is not None and not hasattr(node, "context"):
        node = getattr(node, "parent", None)
    return None if node is None else node.context


class _Temporal(_Optional, Generic[T]):
    """A date-like column read by a ``reader`` and written by a ``writer``."""

    kind = "date"

    def __init__(
        self,
        reader: Callable[[str], T] | str | None = None,
        writer: Callable[[T], Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self.reader = reader
        self.writer = writer
        super().__init__(**kwargs)

    def _default_reader(self, text: str) -> T:
        raise NotImplementedError

    def _from_object(self, value: Any) -> T | None:
        raise NotImplementedError

    def _reader(self) -> Callable[[str], T]:
        reader = self.reader
        if reader is None:
            return self._default_reader
        if isinstance(reader, str):
            found = getattr(_context_of(self), reader, None)
            if not callable(found):
                raise TypeError(
                    f"{type(self).__name__}(reader={reader!r}): the schema's context has no "
                    f"callable {reader!r}"
                )
            return found  # type: ignore[no-any-return]
        return reader

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        known = self._from_object(value)
        if known is not None:
            return known
        if not isinstance(value, str):
            raise ValidationError(f"expected a {self.kind}, got {type(value).__name__}")
        text = value.strip()
        if text in ABSENT_DATE:
            return None
        reader = self._reader()
        try:
            return reader(text)
        except (ValueError, TypeError, OverflowError) as exc:
            raise ValidationError(str(exc) or f"{value!r} is not a {self.kind}") from None

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if value is None:
            return None
        if self.writer is not None:
            return self.writer(value)
        return self._default_writer(value)

    def _default_writer(self, value: T) -> Any:
        raise NotImplementedError


class Date(_Temporal[dt.date]):
    """A date. Absent values (``""``, ``"0000-00-00"``) load as None.

    - ``reader``: ``str -> datetime.date`` for the text (default :func:`iso_date`), or
      the name of such a callable on the schema's context (``Date(reader="read_date")``)
      when the format is the account's and known only at run time. It must be pure
      (no I/O) and raise ValueError for a text it cannot read; its message becomes the
      field's error.
    - ``writer``: ``datetime.date -> value`` for dumping (default ``isoformat()``).
    """

    def _default_reader(self, text: str) -> dt.date:
        return iso_date(text)

    def _from_object(self, value: Any) -> dt.date | None:
        if isinstance(value, dt.datetime):
            return value.date()
        return value if isinstance(value, dt.date) else None

    def _default_writer(self, value: dt.date) -> Any:
        return value.isoformat()


class DateTime(_Temporal[dt.datetime]):
    """A timestamp; like :class:`Date` with ``str -> datetime.datetime`` readers
    (default :func:`iso_datetime`) and ``YYYY-MM-DD HH:MM:SS`` written by default."""

    kind = "timestamp"

    def _default_reader(self, text: str) -> dt.datetime:
        return iso_datetime(text)

    def _from_object(self, value: Any) -> dt.datetime | None:
        if isinstance(value, dt.datetime):
            return value
        if isinstance(value, dt.date):
            return dt.datetime.combine(value, dt.time())
        return None

    def _default_writer(self, value: dt.datetime) -> Any:
        return value.isoformat(sep=" ", timespec="seconds")


# --------------------------------------------------------------------------- statuses

E = TypeVar("E", bound=enum.Enum)


def _status_key(value: Any) -> str | None:
    """Remote status values compared as text: ``2``, ``"2"``, ``" 2 "`` and ``"2.0"``
    are one; text is case-insensitive; absent values are None."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal | float):
        return str(int(value)) if value == int(value) else str(value)
    text = str(value).strip()
    if text in ABSENT_TEXT:
        return None
    whole = _WHOLE_WITH_ZEROS.match(text)
    return whole.group(1) if whole else text.casefold()


class StatusMap(fields.Field[E]):
    """A remote status value ↔ a neutral enum member.

    ``StatusMap({0: InvoiceStatus.OPEN, 2: InvoiceStatus.PAID}, unknown=InvoiceStatus.UNKNOWN)``
    reads ``0``, ``"0"`` and ``"0.0"`` alike (text keys case-insensitively); a value
    the mapping does not have loads as ``unknown`` (never an error: a backend adds
    statuses), an absent one (null, ``""``, missing) as ``absent`` (``unknown`` unless
    given). Dumping writes the first remote key of each member (``dump_as`` overrides);
    a member without one dumps as None.
    """

    def __init__(
        self,
        mapping: Mapping[Any, E],
        *,
        unknown: E,
        absent: E | None = None,
        dump_as: Mapping[E, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self.unknown = unknown
        self.absent = unknown if absent is None else absent
        self._load: dict[str, E] = {}
        reverse: dict[E, Any] = {}
        for remote, member in mapping.items():
            key = _status_key(remote)
            if key is None:
                raise ValueError(f"StatusMap: {remote!r} is an absent value, not a status")
            self._load.setdefault(key, member)
            reverse.setdefault(member, remote)
        self._dump: dict[E, Any] = dict(dump_as) if dump_as is not None else reverse
        kwargs.setdefault("load_default", self.absent)
        kwargs.setdefault("allow_none", True)
        super().__init__(**kwargs)

    def status_of(self, value: Any) -> E:
        """The member for a remote value (also usable outside a schema)."""
        if isinstance(value, Mapping | list | tuple):
            return self.unknown
        key = _status_key(value)
        if key is None:
            return self.absent
        return self._load.get(key, self.unknown)

    def remote_of(self, member: E) -> Any:
        """The remote value for a member, or None when it has none."""
        return self._dump.get(member)

    def deserialize(
        self,
        value: Any,
        attr: str | None = None,
        data: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        if value is None:
            return self.absent
        return super().deserialize(value, attr, data, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        return self.status_of(value)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return None if value is None else self.remote_of(value)
