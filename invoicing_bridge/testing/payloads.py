"""Hypothesis strategies for hostile payloads, and the one property every mapping keeps:
a payload becomes records, or a :class:`~invoicing_bridge.exceptions.MappingError`
(an :class:`~invoicing_bridge.exceptions.InvoicingBridgeError`), never another exception.

Needs ``hypothesis`` (the ``test`` extra). A plugin's tests use it with their own saved
answers::

    from hypothesis import given
    from invoicing_bridge.testing.payloads import assert_maps_or_refuses, hostile_variants

    @given(hostile_variants(FIXTURE_PAYLOADS))
    def test_parse_never_raises_anything_else(payload):
        assert_maps_or_refuses(lambda: backend.parse_payload("invoice", payload))
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from ..backends.http import loads_json
from ..exceptions import InvoicingBridgeError

__all__ = [
    "NASTY_VALUES",
    "assert_maps_or_refuses",
    "hostile_json_texts",
    "hostile_values",
    "hostile_variants",
    "nested",
    "with_each_value_replaced",
]

#: Values seen to break mappings: non-numbers in number fields, absurd exponents, MySQL
#: zero dates, impossible dates, absent-value spellings, lone surrogates, structures where
#: scalars belong, and the reverse.
NASTY_VALUES: tuple[Any, ...] = (
    None,
    True,
    False,
    0,
    -1,
    10**30,
    2**63,
    -(2**63),
    10**400,
    1.5,
    float("nan"),
    float("inf"),
    Decimal("NaN"),
    Decimal("Infinity"),
    Decimal("-Infinity"),
    Decimal("1E+400"),
    Decimal("1E+999999"),
    Decimal("-0"),
    "1e999999",
    "-1E+400",
    "1e-999999",
    "NaN",
    "Infinity",
    "9" * 5000,
    "12.5.3",
    "1,234.50",
    "٣٤",
    "0000-00-00",
    "0000-00-00 00:00:00",
    "2024-13-45",
    "2024-02-30",
    "9999-99-99 99:99:99",
    "",
    " ",
    "None",
    "null",
    "0",
    "\udcff",
    "\x00",
    "abc",
    [],
    {},
    {"data": []},
    [None],
    {"id": "1"},
    ["1"],
)


def nested(depth: int, leaf: Any = 1) -> Any:
    """``leaf`` inside ``depth`` lists (built without recursion)."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def hostile_values(*, deep: bool = True) -> st.SearchStrategy[Any]:
    """One hostile value: a known-bad one, any JSON-ish scalar, a small structure, or
    (with ``deep``) a structure nested a hundred levels and more. (Nesting past
    Python's recursion limit is for :func:`with_each_value_replaced`: hypothesis cannot
    print such an example.)"""
    scalars = st.one_of(
        st.sampled_from(NASTY_VALUES),
        st.text(max_size=20),
        st.integers(),
        st.decimals(),
        st.floats(),
        st.booleans(),
        st.none(),
    )
    small = st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
        ),
        max_leaves=6,
    )
    if not deep:
        return st.one_of(scalars, small)
    return st.one_of(scalars, small, st.integers(min_value=50, max_value=150).map(nested))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if len(prefix) >= 12:  # real answers are shallow; an inserted deep value is not walked
        return out
    if isinstance(value, dict):
        for key, item in value.items():
            out.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out.extend(_paths(item, (*prefix, index)))
    return out


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy: Any = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replace(copy[path[0]], path[1:], new)
    return copy


def hostile_variants(
    payloads: Sequence[Any], *, max_changes: int = 3, deep: bool = True
) -> st.SearchStrategy[Any]:
    """A payload from ``payloads`` (real answers) with one to ``max_changes`` of its
    values, or the whole of it, replaced by :func:`hostile_values` (``deep``: nested
    ones too)."""

    @st.composite
    def variant(draw: st.DrawFn) -> Any:
        payload = draw(st.sampled_from(list(payloads)))
        for _ in range(draw(st.integers(min_value=1, max_value=max_changes))):
            paths = _paths(payload)
            path = paths[draw(st.integers(min_value=0, max_value=len(paths) - 1))]
            payload = _replace(payload, path, draw(hostile_values(deep=deep)))
        return payload

    return variant()


def with_each_value_replaced(payload: Any, value: Any) -> list[Any]:
    """``payload`` once per value in it (and once whole), with that value replaced by
    ``value``: ``with_each_value_replaced(answer, nested(5000))`` tries a structure
    nested past the recursion limit in every place of a real answer."""
    return [_replace(payload, path, value) for path in _paths(payload)]


def hostile_json_texts(payloads: Sequence[Any]) -> st.SearchStrategy[bytes]:
    """Answers as bytes: a variant written as JSON (NaN and Infinity spelled as Python
    writes them), cut short, with invalid UTF-8 spliced in, or deeply nested."""

    def text_of(value: Any) -> str:
        return json.dumps(value, default=str, allow_nan=True)

    written = hostile_variants(payloads, deep=False).map(
        lambda v: text_of(v).encode("utf-8", "replace")
    )
    cut = st.tuples(written, st.floats(min_value=0, max_value=1)).map(
        lambda pair: pair[0][: int(len(pair[0]) * pair[1])]
    )
    spliced = st.tuples(written, st.binary(min_size=1, max_size=4)).map(
        lambda pair: (
            pair[0][: len(pair[0]) // 2] + b"\xff\xfe" + pair[1] + pair[0][len(pair[0]) // 2 :]
        )
    )
    deep = st.integers(min_value=90, max_value=20_000).map(lambda n: b"[" * n + b"1" + b"]" * n)
    return st.one_of(written, cut, spliced, deep, st.just(b'{"data": []}'))


def _splice(pair: tuple[bytes, bytes]) -> bytes:
    text, junk = pair
    middle = len(text) // 2
    return text[:middle] + b"\xff\xfe" + junk + text[middle:]


def assert_maps_or_refuses(call: Callable[[], Any]) -> Any:
    """Run ``call`` (a parse of a hostile payload): it returns, or raises an
    InvoicingBridgeError whose message is one line; any other exception fails."""
    try:
        return call()
    except InvoicingBridgeError as exc:
        text = str(exc)
        assert "\n" not in text, f"a multi-line error: {text!r}"
        assert len(text) < 2000, f"an error of {len(text)} characters"
        return None


def decode_answer(raw: bytes) -> Any:
    """What the HTTP layer makes of an answer's bytes: invalid UTF-8 replaced (as
    requests decodes), then :func:`~invoicing_bridge.backends.http.loads_json`. Raises
    ValueError for what is not JSON."""
    return loads_json(raw.decode("utf-8", "replace"))
