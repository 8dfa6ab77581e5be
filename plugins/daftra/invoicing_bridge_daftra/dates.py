"""Daftra dates: the account's display format, ISO always, and never a silent guess.

``GET /invoices/{id}`` gives the invoice ``date`` in the account's display format
(``"25/09/2026"``), while payment and client timestamps are ``YYYY-MM-DD HH:MM:SS`` and the
request side wants ``YYYY-MM-DD`` (api-notes §6.2). :class:`DateReader` reads all of them:

1. ISO dates are always accepted;
2. otherwise the ``date_format`` option (a strptime pattern) is used, else the format the
   account reports (``site_info`` → ``date_format``), which the backend's connection
   asks once, before a load that needs it (:class:`ContextPending`);
3. with no format known, a date is read only when it cannot mean two things
   (``25/09/2026``); an ambiguous one (``02/05/2026``) is a ValueError naming the option,
   which the schema's field turns into a MappingError naming the field.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from typing import Any

__all__ = ["ContextPending", "DateReader", "pattern_from_daftra", "valid_pattern"]

_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_ISO_STAMP = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}[ T]\d{1,2}:\d{2}")
_THREE_PARTS = re.compile(r"^(\d{1,4})([./\- ])(\d{1,2})\2(\d{1,4})$")
_SAMPLE = dt.date(2026, 9, 25)

#: One-letter PHP ``date()`` codes (Daftra is PHP) and their strptime directives.
_PHP = {"d": "%d", "j": "%d", "m": "%m", "n": "%m", "M": "%b", "F": "%B", "Y": "%Y", "y": "%y"}
OPTION_HINT = "set the date_format option to a strptime pattern such as %d/%m/%Y"


def valid_pattern(pattern: str) -> bool:
    """True when ``pattern`` is a strptime pattern that writes and reads back a whole date."""
    if "%" not in pattern:
        return False
    try:
        text = _SAMPLE.strftime(pattern)
        return dt.datetime.strptime(text, pattern).date() == _SAMPLE
    except ValueError:
        return False


def _directive(run: str) -> str | None:
    if len(run) == 1:
        return _PHP.get(run)
    low = run.lower()
    if low == "dd":
        return "%d"
    if set(low) == {"m"}:
        return {2: "%m", 3: "%b", 4: "%B"}.get(len(low))
    if set(low) == {"y"}:
        return {2: "%y", 4: "%Y"}.get(len(low))
    return None


def _pattern_from_example(text: str) -> str | None:
    match = _THREE_PARTS.match(text)
    if match is None:
        return None
    first, sep, middle, last = match.groups()
    order = _order(first, middle, last)
    if order is None:
        return None
    return sep.join(order)


def _order(
    first: str, middle: str, last: str, *, same_is_known: bool = False
) -> tuple[str, str, str] | None:
    """Directives for three numeric parts, when the numbers leave no doubt.

    ``same_is_known``: day and month equal (``05/05/2026``) read the same either way,
    which is enough to read that date but not to learn the format from it.
    """
    if len(first) == 4:
        day_first = _day_first(middle, last, same_is_known)
        if day_first is None:
            return None
        return ("%Y", "%d", "%m") if day_first else ("%Y", "%m", "%d")
    if len(last) == 4:
        day_first = _day_first(first, middle, same_is_known)
        if day_first is None:
            return None
        return ("%d", "%m", "%Y") if day_first else ("%m", "%d", "%Y")
    return None


def _day_first(a: str, b: str, same_is_known: bool) -> bool | None:
    """Whether ``a`` is the day of the pair (a, b); None when either reading is possible."""
    x, y = int(a), int(b)
    if x > 12 >= y or (same_is_known and x == y):
        return True
    if y > 12 >= x:
        return False
    return None


def pattern_from_daftra(value: Any) -> str | None:
    """A strptime pattern from what Daftra calls a date format.

    Accepts a strptime pattern, PHP ``date()`` codes (``d/m/Y``), a human title
    (``dd/mm/yyyy``, ``MM-DD-YYYY``) or an example date whose numbers leave no doubt
    (``31/12/2026``). Returns None for anything else: the caller must not guess.
    """
    text = str(value or "").strip()
    if not text:
        return None
    if "%" in text:
        return text if valid_pattern(text) else None
    if not re.search(r"[A-Za-z]", text):
        pattern = _pattern_from_example(text)
    else:
        parts: list[str] = []
        for run in re.findall(r"[A-Za-z]+|[^A-Za-z]+", text):
            if run[0].isalpha():
                directive = _directive(run)
                if directive is None:
                    return None
                parts.append(directive)
            else:
                parts.append(run.replace("%", "%%"))
        pattern = "".join(parts)
    if pattern is None or not valid_pattern(pattern):
        return None
    return pattern


class ContextPending(Exception):
    """Raised by a schema load (or a write plan) that needs something from the account
    it was not given: ``what`` is ``"date_format"`` (the account's display format) or
    ``"taxes"`` (the account's tax table). The mapper fetches it, builds schemas with the
    new context and loads again: the load itself never does I/O."""

    def __init__(self, what: str):
        super().__init__(what)
        self.what = what


class DateReader:
    """Reads Daftra dates with one display pattern (see the module docstring).

    ``pattern`` is the ``date_format`` option or the account's; ``pending`` says the
    account's pattern has not been asked yet, so a date that is not ISO raises
    :class:`ContextPending` rather than being read without it. Immutable: a reader with
    another pattern is another reader. Raises ValueError for a text it cannot read.
    """

    __slots__ = ("pattern", "pending")

    def __init__(self, pattern: str | None = None, *, pending: bool = False):
        self.pattern = pattern
        self.pending = pending and not pattern

    def date(self, text: str) -> dt.date:
        """A date from any Daftra spelling (the absent ones are the field's business)."""
        text = text.strip()
        if _ISO_STAMP.match(text):
            text = text[:10].rstrip("T ")
        iso = _ISO_DATE.match(text)
        if iso is not None:
            try:
                return dt.date(*(int(part) for part in iso.groups()))
            except ValueError:
                raise ValueError(f"{text!r} is not a valid date") from None
        if self.pending:
            raise ContextPending("date_format")
        pattern = self.pattern
        if pattern is not None:
            return _with_pattern(text, pattern)
        match = _THREE_PARTS.match(text)
        if match is None:
            raise ValueError(f"unreadable date {text!r}; {OPTION_HINT}")
        first, _sep, middle, last = match.groups()
        order = _order(first, middle, last, same_is_known=True)
        if order is None:
            raise ValueError(
                f"ambiguous date {text!r} and the account's date format is unknown; {OPTION_HINT}"
            )
        values = dict(zip(order, (int(first), int(middle), int(last)), strict=True))
        try:
            return dt.date(values["%Y"], values["%m"], values["%d"])
        except ValueError:
            raise ValueError(f"{text!r} is not a valid date") from None

    def datetime(self, text: str) -> dt.datetime:
        """A timestamp (``YYYY-MM-DD HH:MM:SS``, ISO with a zone, or a bare date)."""
        text = text.strip()
        if _ISO_STAMP.match(text):
            try:
                return dt.datetime.fromisoformat(text)
            except ValueError:
                raise ValueError(f"{text!r} is not a valid timestamp") from None
        return dt.datetime.combine(self.date(text), dt.time())


@functools.lru_cache(maxsize=4096)
def _parsed(text: str, pattern: str) -> dt.date:
    """``strptime`` (tens of microseconds, locale checks included) once per text: an
    account's invoices share a few hundred dates. Failures are not cached."""
    return dt.datetime.strptime(text, pattern).date()


def _with_pattern(text: str, pattern: str) -> dt.date:
    try:
        return _parsed(text, pattern)
    except ValueError:
        pass
    head = text.split(" ", 1)[0]  # a display date followed by a time
    try:
        return dt.datetime.strptime(head, pattern).date()
    except ValueError:
        raise ValueError(
            f"{text!r} does not match the date format {pattern!r} "
            "(the date_format option, or the account's format)"
        ) from None
