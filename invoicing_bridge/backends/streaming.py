"""A JSON array answer read one element at a time, so that a list the API sends in one
answer (Perfex module 2.x sends every invoice of the account in one bare array) costs
the memory of one element, not of the whole list.

:meth:`HTTPClient.request(..., stream_array=True)
<invoicing_bridge.backends.http.HTTPClient.request>` downloads a successful answer, as
any other, within the request's deadline and its retries, but into a temporary file (in
memory up to a megabyte, on disk past it) instead of a string. When the body is a JSON
array, the answer's ``data`` is a :class:`JSONArrayStream`: iterating it decodes the
elements one by one from that file, with the decoder every answer goes through (a
non-integer number becomes a :class:`~decimal.Decimal`), and drops each once it is
handed over. Nothing is lost on the way: an array cut short, or anything after its
closing bracket, ends the iteration with the error the caller's ``fail`` builds.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from types import TracebackType
from typing import IO, Any, Self

__all__ = ["JSONArrayStream", "iter_json_array", "starts_array"]

#: Characters decoded per read; doubled while one element does not fit.
_TEXT_CHUNK = 64 * 1024
_WHITESPACE = re.compile(r"[ \t\n\r]*")
#: What may follow an element of an array: anything else means the element goes on.
_AFTER_ELEMENT = frozenset(",] \t\n\r")


def starts_array(file: IO[bytes]) -> bool:
    """Whether the body in ``file`` (read from its start) is a JSON array: its first byte
    that is not whitespace (nor a UTF-8 byte-order mark) is ``[``. Rewinds the file."""
    file.seek(0)
    head = file.read(3)
    if head.startswith(codecs.BOM_UTF8):
        head = head[3:]
    try:
        while True:
            for byte in head:
                if byte not in b" \t\n\r":
                    return byte == ord("[")
            head = file.read(4096)
            if not head:
                return False
    finally:
        file.seek(0)


class _Reader:
    """Text of a binary file, decoded incrementally, ``chars`` at a time."""

    def __init__(self, file: IO[bytes], encoding: str) -> None:
        self.file = file
        if codecs.lookup(encoding).name == "utf-8":
            encoding = "utf-8-sig"  # a byte-order mark is no part of the JSON
        self.decoder = codecs.getincrementaldecoder(encoding)(errors="replace")

    def read(self, chars: int) -> str:
        while True:
            data = self.file.read(chars)
            text = self.decoder.decode(data, final=not data)
            if text or not data:
                return text


def iter_json_array(
    read: Callable[[int], str],
    *,
    fail: Callable[[str], Exception],
    max_item_chars: int | None = None,
    max_depth: int = 100,
) -> Iterator[Any]:
    """The elements of the JSON array whose text ``read(n)`` returns, about ``n``
    characters a call ("" at the end), one at a time.

    Raises ``fail(message)`` for text that is not one JSON array (cut short, anything
    after it, an element that is no JSON), for an element longer than ``max_item_chars``
    characters, and for one nesting deeper than ``max_depth`` levels (the array counts as
    one, as :func:`~invoicing_bridge.backends.http.loads_json` counts them).
    """
    from .http import _too_deep  # the one depth rule of every answer

    decoder = json.JSONDecoder(parse_float=Decimal, parse_constant=Decimal)
    buf = ""
    pos = 0
    eof = False
    count = 0

    def fill() -> bool:
        """Read more after what is left of ``buf``; False at the end of the text."""
        nonlocal buf, pos, eof
        if eof:
            return False
        text = read(max(_TEXT_CHUNK, len(buf) - pos))
        if not text:
            eof = True
            return False
        buf = buf[pos:] + text
        pos = 0
        return True

    def next_char() -> str:
        """The next character that is not whitespace (not consumed), "" at the end."""
        nonlocal pos
        while True:
            match = _WHITESPACE.match(buf, pos)
            pos = match.end() if match else pos
            if pos < len(buf):
                return buf[pos]
            if not fill():
                return ""

    def element() -> Any:
        nonlocal pos
        while True:
            if not next_char():
                raise fail(f"the JSON array ends after {count} elements without its ']'")
            try:
                value, end = decoder.raw_decode(buf, pos)
            except json.JSONDecodeError as exc:
                if too_long():
                    raise fail(
                        f"element {count + 1} of the JSON array is longer than "
                        f"{max_item_chars} characters"
                    ) from None
                if fill():
                    continue  # the element goes on in what follows
                raise fail(f"element {count + 1} of the JSON array: {exc.msg}") from None
            except RecursionError:
                raise fail(f"JSON nested deeper than {max_depth} levels") from None
            if (end >= len(buf) or buf[end] not in _AFTER_ELEMENT) and not too_long() and fill():
                # A number may go on in what follows ("-0" of "-0.5e3"): decode again.
                continue
            pos = end
            return value

    def too_long() -> bool:
        return max_item_chars is not None and len(buf) - pos > max_item_chars

    if next_char() != "[":
        raise fail("not a JSON array")
    pos += 1
    if next_char() == "]":
        pos += 1
    else:
        while True:
            value = element()
            if isinstance(value, dict | list) and _too_deep(value, max_depth - 1):
                raise fail(f"JSON nested deeper than {max_depth} levels")
            count += 1
            yield value
            del value  # the caller's now; this frame keeps no reference
            following = next_char()
            pos += 1
            if following == "]":
                break
            if not following:
                raise fail(f"the JSON array ends after {count} elements without its ']'")
            if following != ",":
                raise fail(
                    f"expected ',' or ']' after element {count} of the array, got {following!r}"
                )
    if next_char():
        raise fail("text after the end of the JSON array")


class JSONArrayStream:
    """A JSON array answer, spooled to a temporary file, read one element at a time.

    Iterate it once (a second iteration raises RuntimeError); the file is closed when the
    iteration ends, fails, or is abandoned (``close()``, or ``with``). See
    :func:`iter_json_array` for what ends it with an error.
    """

    def __init__(
        self,
        file: IO[bytes],
        *,
        encoding: str,
        fail: Callable[[str], Exception],
        max_item_chars: int | None = None,
        size: int | None = None,
    ) -> None:
        self._file = file
        self._encoding = encoding
        self._fail = fail
        self._max_item_chars = max_item_chars
        #: The body's size in bytes, as received.
        self.size = size
        self._used = False

    def __iter__(self) -> Iterator[Any]:
        if self._used:
            raise RuntimeError("a JSONArrayStream is read once")
        self._used = True
        return self._elements()

    def _elements(self) -> Iterator[Any]:
        try:
            reader = _Reader(self._file, self._encoding)
            yield from iter_json_array(
                reader.read, fail=self._fail, max_item_chars=self._max_item_chars
            )
        finally:
            self.close()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"JSONArrayStream(size={self.size})"
