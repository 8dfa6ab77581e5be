"""The value readers and fields every backend's schemas share."""

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from marshmallow import Schema, ValidationError

from invoicing_bridge.models import InvoiceStatus, PaymentStatus
from invoicing_bridge.schemas.base import BackendSchema, SchemaContext
from invoicing_bridge.schemas.fields import (
    MAX_EXPONENT,
    Date,
    DateTime,
    Flag,
    Money,
    Number,
    RemoteId,
    StatusMap,
    Text,
    iso_date,
    iso_datetime,
    slugify,
    to_decimal,
    to_flag,
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


# --------------------------------------------------------------------------- Money

# Any amount within the bounds a backend's number may take (30 powers of ten either way,
# 60 digits): far beyond any invoice, and refused beyond (see the tests below).
money_strings = st.builds(
    lambda digits, scale: str(Decimal(digits).scaleb(-scale)),
    st.integers(-(10**29), 10**29),
    st.integers(0, 30),
)


@pytest.mark.parametrize(
    "text", ["1e999999", "-1E+400", "1e31", "1e-999999", "1" * 61, "0.1" + "0" * 40 + "1"]
)
def test_money_refuses_an_absurd_number_quickly_naming_it(text: str) -> None:
    class Amount(Schema):
        value = Money(places=2)

    with pytest.raises(ValidationError) as info:
        Amount().load({"value": text})
    message = info.value.messages["value"][0]  # type: ignore[index]
    assert "out of range" in message or "more digits" in message or "not a number" in message
    assert len(message) < 120  # the value is cut, never a wall of digits


def test_a_zero_with_any_exponent_is_zero() -> None:
    class Amount(Schema):
        value = Money()

    assert Amount().load({"value": "0E-999999"})["value"] == 0
    assert Amount().load({"value": "0.00"})["value"].as_tuple().exponent == -2


@given(text=money_strings)
def test_money_loads_any_decimal_string_exactly(text: str) -> None:
    class Amount(Schema):
        value = Money(places=2)

    loaded = Amount().load({"value": text})["value"]
    assert isinstance(loaded, Decimal)
    assert str(loaded) == str(Decimal(text))  # same digits, same exponent: nothing rounded


# Money dumps what it accepts: magnitudes up to 1e30 (MAX_EXPONENT); larger ones are refused
# before anything is written (tests/test_hostile_payloads.py). The bounds are written exactly:
# Decimal arithmetic, even unary minus, rounds to 28 digits (9...9 becomes 1E+31).
_LARGEST = Decimal("9" * (MAX_EXPONENT + 1))
_SMALLEST = Decimal("-" + "9" * (MAX_EXPONENT + 1))
# Hypothesis builds decimals with six places through the same 28-digit context: drawn values
# keep 21 integer digits so that none is rounded (up, past the bound) while being drawn.
_DRAWN = Decimal("9" * 21)


@given(
    number=st.decimals(
        min_value=-_DRAWN,
        max_value=_DRAWN,
        allow_nan=False,
        allow_infinity=False,
        places=6,
    )
)
def test_money_round_trips_through_text_with_its_places(number: Decimal) -> None:
    field = Money(places=6, as_text=True)
    dumped = field._serialize(number, "value", None)
    assert Decimal(dumped) == number and "E" not in dumped


def test_money_refuses_to_dump_past_its_bound() -> None:
    field = Money(places=6, as_text=True)
    assert Decimal(field._serialize(_LARGEST, "value", None)) == _LARGEST
    assert Decimal(field._serialize(_SMALLEST, "value", None)) == _SMALLEST
    with pytest.raises(ValidationError, match="out of range"):
        field._serialize(Decimal("1" + "0" * (MAX_EXPONENT + 1)), "value", None)


class Amounts(Schema):
    plain = Money()
    cents = Money(places=2, as_text=True)
    four = Money(places=Decimal("0.0001"))
    zero = Money(load_default=Decimal("0"), thousands=",")


def test_money_reads_strings_and_json_numbers_and_absent_as_its_default() -> None:
    loaded = Amounts().load({"plain": 5, "cents": "", "four": 0.1, "zero": "1,234.50"})
    assert loaded == {
        "plain": Decimal("5"),
        "cents": None,
        "four": Decimal("0.1"),
        "zero": Decimal("1234.50"),
    }
    assert Amounts().load({"zero": "None"})["zero"] == Decimal("0")
    assert Amounts().load({})["zero"] == Decimal("0")


def test_money_dumps_with_its_places_rounding_half_up() -> None:
    dumped = Amounts().dump(
        {"plain": Decimal("1.005"), "cents": Decimal("1.005"), "four": Decimal("2.00005")}
    )
    assert dumped["plain"] == Decimal("1.005")
    assert dumped["cents"] == "1.01"
    assert dumped["four"] == Decimal("2.0001")
    assert Amounts().dump({"cents": Decimal("1E+2")})["cents"] == "100.00"
    assert Amounts().dump({"cents": None})["cents"] is None


def test_money_refuses_what_is_not_a_number() -> None:
    with pytest.raises(ValidationError) as caught:
        Amounts().load({"plain": "five"})
    assert "plain" in caught.value.messages


def test_money_is_a_number() -> None:
    assert isinstance(Money(), Number)


# --------------------------------------------------------------------------- Flag


@pytest.mark.parametrize(
    "value", [True, 1, "1", " 1 ", "true", "TRUE", "yes", "Yes", "on", Decimal("1")]
)
def test_flag_on_spellings(value: Any) -> None:
    assert to_flag(value) is True


@pytest.mark.parametrize(
    "value", [False, 0, "0", "false", "no", "off", "", "None", "null", None, Decimal("0")]
)
def test_flag_off_spellings(value: Any) -> None:
    assert to_flag(value) is False


@pytest.mark.parametrize("value", ["maybe", 2, -1, "2", [1], {"a": 1}])
def test_a_value_that_is_no_flag_reads_as_none(value: Any) -> None:
    assert to_flag(value) is None


class Flags(Schema):
    draft = Flag()
    sent = Flag(dump_as=("0", "1"), strict=False)
    active = Flag(absent=None, dump_as=(0, 1))


def test_flag_field_loads_any_spelling() -> None:
    loaded = Flags().load({"draft": "1", "sent": "yes", "active": 0})
    assert loaded == {"draft": True, "sent": True, "active": False}


def test_flag_field_absent_values() -> None:
    assert Flags().load({}) == {"draft": False, "sent": False, "active": None}
    assert Flags().load({"draft": None, "sent": "", "active": None}) == {
        "draft": False,
        "sent": False,
        "active": None,
    }
    assert Flags().load({"active": ""})["active"] is None


def test_a_strict_flag_refuses_what_is_no_flag_and_a_lenient_one_reads_false() -> None:
    with pytest.raises(ValidationError) as caught:
        Flags().load({"draft": "maybe"})
    assert "draft" in caught.value.messages
    assert Flags().load({"sent": "maybe"})["sent"] is False


def test_flag_dumps_in_the_backends_form() -> None:
    assert Flags().dump({"draft": True, "sent": False, "active": True}) == {
        "draft": True,
        "sent": "0",
        "active": 1,
    }
    assert Flags().dump({"sent": None}) == {"sent": None}


# --------------------------------------------------------------------------- Date


def day_month_year(text: str) -> dt.date:
    return dt.datetime.strptime(text, "%d/%m/%Y").date()


class Dates(Schema):
    iso = Date()
    display = Date(reader=day_month_year, writer=lambda d: d.strftime("%d/%m/%Y"))
    stamp = DateTime()
    paid = Date(writer=lambda d: f"{d.isoformat()} 00:00:00")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-09-25", dt.date(2026, 9, 25)),
        (" 2026-9-5 ", dt.date(2026, 9, 5)),
        ("2026-09-25 10:11:12", dt.date(2026, 9, 25)),
        ("2026-09-25T10:11:12Z", dt.date(2026, 9, 25)),
    ],
)
def test_date_reads_iso_dates_and_the_date_of_a_timestamp(text: str, expected: dt.date) -> None:
    assert iso_date(text) == expected
    assert Dates().load({"iso": text})["iso"] == expected


@pytest.mark.parametrize("value", ["", "None", "null", "0000-00-00", "0000-00-00 00:00:00", None])
def test_absent_dates_load_as_none(value: Any) -> None:
    assert Dates().load({"iso": value, "stamp": value}) == {
        "iso": None,
        "display": None,
        "stamp": None,
        "paid": None,
    }


def test_date_with_a_reader_parses_the_display_format() -> None:
    assert Dates().load({"display": "02/05/2026"})["display"] == dt.date(2026, 5, 2)


def test_an_unreadable_date_is_a_validation_error_with_the_readers_message() -> None:
    def strict(text: str) -> dt.date:
        raise ValueError(f"ambiguous date {text!r}; set the date_format option")

    class Strict(Schema):
        date = Date(reader=strict)

    with pytest.raises(ValidationError) as caught:
        Strict().load({"date": "02/05/2026"})
    assert caught.value.messages == {
        "date": ["ambiguous date '02/05/2026'; set the date_format option"]
    }
    for bad in (
        {"iso": "25/09/2026"},
        {"iso": "2026-02-30"},
        {"display": "2026-13-01"},
        {"iso": 20260925},
    ):
        with pytest.raises(ValidationError):
            Dates().load(bad)


def test_date_and_datetime_objects_pass_through() -> None:
    stamp = dt.datetime(2026, 9, 25, 10, 0)
    loaded = Dates().load({"iso": stamp, "stamp": dt.date(2026, 9, 25)})
    assert loaded["iso"] == dt.date(2026, 9, 25)
    assert loaded["stamp"] == dt.datetime(2026, 9, 25)


def test_date_dumps_with_its_writer() -> None:
    day = dt.date(2026, 5, 2)
    assert Dates().dump({"iso": day, "display": day, "paid": day, "stamp": None}) == {
        "iso": "2026-05-02",
        "display": "02/05/2026",
        "paid": "2026-05-02 00:00:00",
        "stamp": None,
    }


def test_datetime_reads_and_writes_timestamps() -> None:
    assert iso_datetime("2020-05-26 19:53:11") == dt.datetime(2020, 5, 26, 19, 53, 11)
    assert iso_datetime("2026-09-25") == dt.datetime(2026, 9, 25)
    loaded = Dates().load({"stamp": "2020-05-26 19:53:11"})["stamp"]
    assert Dates().dump({"stamp": loaded})["stamp"] == "2020-05-26 19:53:11"
    with pytest.raises(ValidationError):
        Dates().load({"stamp": "yesterday"})


def test_a_reader_named_by_the_context_comes_from_the_schema_context() -> None:
    @dataclasses.dataclass(frozen=True)
    class Ctx(SchemaContext):
        read_date: Any = day_month_year

    class Row(BackendSchema[Ctx]):
        context_type = Ctx
        date = Date(reader="read_date")

    assert Row(context=Ctx()).load({"date": "02/05/2026"})["date"] == dt.date(2026, 5, 2)

    class Orphan(Schema):
        date = Date(reader="read_date")

    with pytest.raises(TypeError, match="read_date"):
        Orphan().load({"date": "02/05/2026"})


# --------------------------------------------------------------------------- StatusMap

INVOICE_STATES = {
    0: InvoiceStatus.OPEN,
    1: InvoiceStatus.PARTIALLY_PAID,
    2: InvoiceStatus.PAID,
    -1: InvoiceStatus.DRAFT,
}


class Statuses(Schema):
    status = StatusMap(INVOICE_STATES, unknown=InvoiceStatus.UNKNOWN, absent=InvoiceStatus.OPEN)
    payment = StatusMap(
        {"Completed": PaymentStatus.COMPLETED, "pending": PaymentStatus.PENDING},
        unknown=PaymentStatus.UNKNOWN,
        dump_as={PaymentStatus.COMPLETED: "completed"},
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (2, InvoiceStatus.PAID),
        ("2", InvoiceStatus.PAID),
        (" 2 ", InvoiceStatus.PAID),
        ("2.0", InvoiceStatus.PAID),
        (Decimal("2"), InvoiceStatus.PAID),
        ("-1", InvoiceStatus.DRAFT),
        (7, InvoiceStatus.UNKNOWN),
        ("paid", InvoiceStatus.UNKNOWN),
        ({"a": 1}, InvoiceStatus.UNKNOWN),
        (None, InvoiceStatus.OPEN),
        ("", InvoiceStatus.OPEN),
    ],
)
def test_status_map_loads_remote_values(value: Any, expected: InvoiceStatus) -> None:
    assert Statuses().load({"status": value})["status"] is expected


def test_status_map_defaults() -> None:
    loaded = Statuses().load({"payment": "COMPLETED "})
    assert loaded == {"status": InvoiceStatus.OPEN, "payment": PaymentStatus.COMPLETED}
    assert Statuses().load({})["payment"] is PaymentStatus.UNKNOWN
    assert Statuses().load({"payment": "refused"})["payment"] is PaymentStatus.UNKNOWN


def test_status_map_dumps_the_remote_value() -> None:
    dumped = Statuses().dump({"status": InvoiceStatus.PAID, "payment": PaymentStatus.COMPLETED})
    assert dumped == {"status": 2, "payment": "completed"}
    assert Statuses().dump({"status": InvoiceStatus.VOID, "payment": PaymentStatus.PENDING}) == {
        "status": None,
        "payment": None,
    }


def test_status_map_outside_a_schema() -> None:
    states = StatusMap(INVOICE_STATES, unknown=InvoiceStatus.UNKNOWN)
    assert states.status_of("1") is InvoiceStatus.PARTIALLY_PAID
    assert states.status_of(None) is InvoiceStatus.UNKNOWN
    assert states.remote_of(InvoiceStatus.DRAFT) == -1


def test_status_map_refuses_an_absent_key() -> None:
    with pytest.raises(ValueError, match="absent"):
        StatusMap({"": InvoiceStatus.OPEN}, unknown=InvoiceStatus.UNKNOWN)
