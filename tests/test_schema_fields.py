"""The value readers and fields every backend's schemas share."""

from decimal import Decimal
from typing import Any

import pytest
from marshmallow import Schema, ValidationError

from invoicing_bridge.schemas.fields import (
    Number,
    RemoteId,
    Text,
    slugify,
    to_decimal,
    to_id,
    to_text,
)


@pytest.mark.parametrize("value", [None, "", "  ", "None", "null"])
def test_absent_text_is_none(value: Any) -> None:
    assert to_text(value) is None
    assert to_decimal(value) is None
    assert to_id(value) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [("32999.9961", "32999.9961"), (" 1.10 ", "1.10"), (35000, "35000"), (Decimal("0.50"), "0.50")],
)
def test_numbers_are_exact_decimals(value: Any, expected: str) -> None:
    number = to_decimal(value)
    assert isinstance(number, Decimal) and str(number) == expected


def test_a_float_is_read_through_its_shortest_repr_not_its_binary_value() -> None:
    assert str(to_decimal(0.1)) == "0.1"


def test_thousands_separator_is_dropped_only_when_named() -> None:
    assert to_decimal("1,234.50", thousands=",") == Decimal("1234.50")
    with pytest.raises(ValidationError):
        to_decimal("1,234.50")


@pytest.mark.parametrize("value", ["abc", "NaN", "Infinity", True, [1], {"a": 1}])
def test_non_numbers_are_validation_errors(value: Any) -> None:
    with pytest.raises(ValidationError):
        to_decimal(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (12, "12"),
        ("12", "12"),
        (" 12 ", "12"),
        ("12.0", "12"),
        (Decimal("12"), "12"),
        (0, None),
        ("0", None),
        ("None", None),
        (False, None),
    ],
)
def test_ids_are_strings_and_zero_is_no_id(value: Any, expected: str | None) -> None:
    assert to_id(value) == expected


def test_a_fractional_id_is_refused() -> None:
    with pytest.raises(ValidationError):
        to_id(Decimal("12.5"))


def test_text_from_numbers_and_refusing_structures() -> None:
    assert to_text(7) == "7"
    assert to_text("شركة") == "شركة"
    with pytest.raises(ValidationError):
        to_text({"a": 1})


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Bank Transfer", "bank_transfer"),
        ("Crédit  Card", "credit_card"),
        ("نقدي", "نقدي"),
        ("", ""),
    ],
)
def test_slugify(name: str, slug: str) -> None:
    assert slugify(name) == slug


class Row(Schema):
    name = Text()
    client_id = RemoteId()
    amount = Number()
    written = Number(places=Decimal("0.0001"))


def test_fields_load_absent_as_none_and_numbers_as_decimal() -> None:
    loaded = Row().load({"name": "", "client_id": "0", "amount": "5.00"})
    assert loaded == {"name": None, "client_id": None, "amount": Decimal("5.00"), "written": None}


def test_number_with_places_rounds_half_up_when_dumped() -> None:
    dumped = Row().dump({"amount": Decimal("1.23456"), "written": Decimal("1.23455")})
    assert dumped["amount"] == Decimal("1.23456")
    assert dumped["written"] == Decimal("1.2346")


def test_a_wrong_type_names_the_field() -> None:
    with pytest.raises(ValidationError) as info:
        Row().load({"amount": "lots"})
    assert "amount" in info.value.messages
