"""PHP conventions the Perfex module speaks: bracket-key form fields and ``serialize()``.

Perfex 2.x reads create requests from ``$_POST``, so nested data travels as PHP bracket
keys (``newitems[0][description]``, ``newitems[0][taxname][]``, ``allowed_payment_modes[]``);
and it stores ``allowed_payment_modes`` with PHP's ``serialize()`` (``a:1:{i:0;s:1:"1";}``),
which comes back verbatim in every invoice read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

__all__ = [
    "PHPFormError",
    "decode_form",
    "encode_form",
    "parse_payment_modes",
    "php_serialize",
    "php_unserialize",
    "php_values",
]


class PHPFormError(ValueError):
    """A bracket key or a serialized value that PHP would not have produced."""


# --------------------------------------------------------------------------- forms


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        raise TypeError("floats are not sent to Perfex; pass a str or Decimal")
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def encode_form(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Flatten nested data into PHP bracket-key form fields, in order.

    A mapping becomes ``key[sub]``; a list of mappings ``key[0][sub]``; a list of scalars
    ``key[]`` repeated (``newitems[0][taxname][]``, ``allowed_payment_modes[]``). ``None``
    values are left out; every value is sent as a string.
    """
    pairs: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, Mapping):
            for key, sub in value.items():
                walk(f"{prefix}[{key}]", sub)
        elif isinstance(value, list | tuple):
            if all(not isinstance(v, Mapping | list | tuple) for v in value):
                for sub in value:
                    if sub is not None:
                        pairs.append((f"{prefix}[]", _scalar(sub)))
            else:
                for index, sub in enumerate(value):
                    walk(f"{prefix}[{index}]", sub)
        else:
            pairs.append((prefix, _scalar(value)))

    for key, value in data.items():
        walk(str(key), value)
    return pairs


_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")


def _next_index(array: dict[str, Any]) -> str:
    numbers = [int(k) for k in array if k.lstrip("-").isdigit()]
    return str(max(numbers) + 1 if numbers else 0)


def decode_form(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Rebuild ``$_POST`` from form fields the way PHP does: nested arrays are ordered
    dicts keyed by strings, ``[]`` appends at the next integer index, a later plain key
    replaces an earlier one.
    """
    result: dict[str, Any] = {}
    for key, value in pairs:
        match = _KEY.match(key)
        if match is None:
            # PHP keeps a malformed key as a plain name.
            result[key] = value
            continue
        head, rest = match.group(1), match.group(2)
        parts = _PART.findall(rest)
        if not parts:
            result[head] = value
            continue
        node = result.get(head)
        if not isinstance(node, dict):
            node = {}
            result[head] = node
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            name = _next_index(node) if part == "" else part
            if last:
                node[name] = value
            else:
                child = node.get(name)
                if not isinstance(child, dict):
                    child = {}
                    node[name] = child
                node = child
    return result


def php_values(value: Any) -> list[Any]:
    """The values of a PHP array (a dict from a form, a list from JSON); [] for nothing."""
    if value is None or value == "":
        return []
    if isinstance(value, Mapping):
        return list(value.values())
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


# --------------------------------------------------------------------------- serialize()


def php_serialize(value: Any) -> str:
    """PHP's ``serialize()`` for the values Perfex stores (arrays of strings, numbers)."""
    if value is None:
        return "N;"
    if isinstance(value, bool):
        return f"b:{int(value)};"
    if isinstance(value, int):
        return f"i:{value};"
    if isinstance(value, Mapping | list | tuple):
        items = value.items() if isinstance(value, Mapping) else enumerate(value)
        body = "".join(
            php_serialize(int(k) if str(k).lstrip("-").isdigit() else str(k)) + php_serialize(v)
            for k, v in items
        )
        return f"a:{len(value)}:{{{body}}}"
    text = _scalar(value)
    return f's:{len(text.encode("utf-8"))}:"{text}";'


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def expect(self, char: bytes) -> None:
        if self.data[self.pos : self.pos + len(char)] != char:
            raise PHPFormError(f"expected {char!r} at offset {self.pos}")
        self.pos += len(char)

    def until(self, char: bytes) -> bytes:
        end = self.data.find(char, self.pos)
        if end < 0:
            raise PHPFormError(f"expected {char!r} after offset {self.pos}")
        chunk = self.data[self.pos : end]
        self.pos = end + len(char)
        return chunk

    def value(self) -> Any:
        kind = self.data[self.pos : self.pos + 1]
        self.pos += 1
        if kind == b"N":
            self.expect(b";")
            return None
        self.expect(b":")
        if kind == b"b":
            return self.until(b";") == b"1"
        if kind == b"i":
            return int(self.until(b";"))
        if kind == b"d":
            return Decimal(self.until(b";").decode("ascii"))
        if kind == b"s":
            length = int(self.until(b":"))
            self.expect(b'"')
            text = self.data[self.pos : self.pos + length]
            self.pos += length
            self.expect(b'";')
            return text.decode("utf-8")
        if kind == b"a":
            count = int(self.until(b":"))
            self.expect(b"{")
            array: dict[str, Any] = {}
            for _ in range(count):
                key = self.value()
                array[str(key)] = self.value()
            self.expect(b"}")
            return array
        raise PHPFormError(f"unknown serialized type {kind!r} at offset {self.pos - 1}")


def php_unserialize(text: str) -> Any:
    """PHP's ``unserialize()`` for scalars and arrays (arrays come back as ordered dicts).

    Raises :class:`PHPFormError` for anything else.
    """
    reader = _Reader(text.strip().encode("utf-8"))
    try:
        value = reader.value()
    except (IndexError, ValueError) as exc:
        if isinstance(exc, PHPFormError):
            raise
        raise PHPFormError(f"not a serialized PHP value: {exc}") from None
    if reader.pos != len(reader.data):
        raise PHPFormError(f"trailing data at offset {reader.pos}")
    return value


_QUOTED = re.compile(r"""'([^']*)'|"([^"]*)"|([^\s,\[\]'"]+)""")


def parse_payment_modes(value: Any) -> list[str]:
    """``allowed_payment_modes`` as a list of mode ids, whatever form it arrives in.

    Real reads carry PHP ``serialize()`` output (``a:1:{i:0;s:1:"1";}``); the published
    example shows ``"['1']"``; a JSON list or an already-decoded list is accepted too.
    Raises :class:`PHPFormError` for text that is none of these.
    """
    if value is None or value == "":
        return []
    if isinstance(value, list | tuple | Mapping):
        return [str(v) for v in php_values(value) if v is not None and str(v) != ""]
    text = str(value).strip()
    if text in ("N;", "b:0;"):
        return []
    if text.startswith("a:"):
        decoded = php_unserialize(text)
        return [str(v) for v in php_values(decoded) if v is not None and str(v) != ""]
    if text.startswith("["):
        try:
            decoded = json.loads(text)
        except ValueError:
            inner = text.strip("[]")
            return [next(g for g in m.groups() if g is not None) for m in _QUOTED.finditer(inner)]
        return [str(v) for v in php_values(decoded)]
    raise PHPFormError(f"{text[:40]!r} is not a list of payment modes")
