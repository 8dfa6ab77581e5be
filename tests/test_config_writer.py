"""The one TOML writer (``config.dumps_profile``): what it writes reads back the same."""

from __future__ import annotations

import datetime as dt
import tomllib
from decimal import Decimal as D
from typing import Any

import pytest

from invoicing_bridge.config import dumps_profile, dumps_profiles


def roundtrip(options: dict[str, Any], name: str = "p") -> dict[str, Any]:
    data: dict[str, Any] = tomllib.loads(dumps_profile(name, options))["profiles"][name]
    return data


def test_profile_header_and_one_line_per_option() -> None:
    text = dumps_profile("shop", {"backend": "daftra", "api_key": "${DAFTRA_API_KEY}"})
    assert text == '[profiles.shop]\nbackend = "daftra"\napi_key = "${DAFTRA_API_KEY}"\n'


@pytest.mark.parametrize(
    "text",
    ['quote " here', "back\\slash", "new\nline\ttab\r", "ctl \x00\x1f\x7f", "مصر 😀", "'single'"],
)
def test_strings_are_quoted_and_escaped(text: str) -> None:
    assert roundtrip({"value": text}) == {"value": text}


def test_numbers_bools_lists_and_inline_tables() -> None:
    options = {
        "page_size": 50,
        "rate_limit": 2.5,
        "negative": -3,
        "verify": False,
        "payment_modes": ["1", "2"],
        "currencies": {"SAR": "4", "EGP": 3, "with space": True},
        "nested": {"a": [1, 2], "b": {"c": "d"}},
        "empty_list": [],
        "empty_table": {},
        "day": dt.date(2026, 1, 5),
    }
    assert roundtrip(options) == options


def test_inline_table_keys_are_quoted_and_list_items_comma_separated() -> None:
    text = dumps_profile("p", {"currencies": {"SAR": "4"}, "modes": ["1", "2"]})
    assert 'currencies = { "SAR" = "4" }' in text
    assert 'modes = ["1", "2"]' in text


def test_decimals_keep_their_digits() -> None:
    text = dumps_profile("p", {"fee": D("12.50"), "big": D("1E+2"), "tiny": D("0.0001")})
    assert "fee = 12.50\n" in text
    assert "big = 100\n" in text
    assert "tiny = 0.0001\n" in text
    data = tomllib.loads(text, parse_float=D)["profiles"]["p"]
    assert data == {"fee": D("12.50"), "big": 100, "tiny": D("0.0001")}


def test_special_floats() -> None:
    data = roundtrip({"a": float("inf"), "b": float("-inf")})
    assert data == {"a": float("inf"), "b": float("-inf")}


def test_keys_that_are_not_bare_are_quoted() -> None:
    assert roundtrip({"odd key": 1, "dotted.key": 2}, name="my profile") == {
        "odd key": 1,
        "dotted.key": 2,
    }


def test_none_leaves_the_option_out() -> None:
    assert roundtrip({"a": 1, "b": None, "t": {"x": None, "y": 1}}) == {"a": 1, "t": {"y": 1}}


def test_none_in_a_list_and_unknown_types_are_refused() -> None:
    with pytest.raises(ValueError, match=r"p\.modes"):
        dumps_profile("p", {"modes": [None]})
    with pytest.raises(TypeError, match="object"):
        dumps_profile("p", {"thing": object()})


def test_several_profiles_make_one_file() -> None:
    text = dumps_profiles({"a": {"backend": "memory"}, "b": {"backend": "memory", "label": "x"}})
    assert tomllib.loads(text)["profiles"] == {
        "a": {"backend": "memory"},
        "b": {"backend": "memory", "label": "x"},
    }
