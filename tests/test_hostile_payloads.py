"""Bad input never ends in a traceback: NaN/Infinity, absurd exponents, deep nesting,
zero dates, ``{"data": []}``, invalid UTF-8. Each is a correct parse or one MappingError
line naming the backend, the record and the field, in the shared fields, the schema base
and the HTTP layer's JSON parsing (so every plugin benefits)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
import responses
from hypothesis import HealthCheck, given, settings
from marshmallow import ValidationError, post_load

from invoicing_bridge import Client, Invoice, LineItem, Payment
from invoicing_bridge.backends.http import MAX_JSON_DEPTH, HTTPClient, RetryPolicy, loads_json
from invoicing_bridge.backends.memory import MemoryBackend
from invoicing_bridge.exceptions import MappingError, TransportError
from invoicing_bridge.schemas.base import BackendSchema, load_record
from invoicing_bridge.schemas.fields import Date, Flag, Money, RemoteId, Text, to_decimal, to_id
from invoicing_bridge.testing.payloads import (
    assert_maps_or_refuses,
    decode_answer,
    hostile_json_texts,
    hostile_variants,
    nested,
    with_each_value_replaced,
)

HOSTILE = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --------------------------------------------------------------------------- JSON


def test_nan_and_infinity_become_decimals_for_the_fields_to_refuse() -> None:
    data = loads_json('{"id": NaN, "total": Infinity, "paid": -Infinity}')
    assert data["id"].is_nan()
    assert data["total"] == Decimal("Infinity") and data["paid"] == Decimal("-Infinity")


def test_nesting_past_the_limit_is_not_json() -> None:
    deep = "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)
    with pytest.raises(ValueError, match=f"nested deeper than {MAX_JSON_DEPTH}"):
        loads_json(deep)
    very_deep = "[" * 100_000 + "]" * 100_000  # past Python's own recursion limit
    with pytest.raises(ValueError, match="nested deeper"):
        loads_json(very_deep)


def test_nesting_at_the_limit_and_brackets_in_strings_are_fine() -> None:
    at_limit = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert loads_json(at_limit) == nested(MAX_JSON_DEPTH - 1, [])
    assert loads_json(json.dumps({"note": "[" * 5000})) == {"note": "[" * 5000}


def test_a_huge_exponent_is_parsed_without_arithmetic() -> None:
    assert loads_json('{"total": 1e999999}')["total"] == Decimal("1e999999")


@responses.activate
def test_a_deeply_nested_answer_is_one_transport_error_line() -> None:
    body = "[" * 5000 + "]" * 5000
    responses.get("https://api.acme.test/invoices", body=body, content_type="application/json")
    http = HTTPClient(
        backend="acme", base_url="https://api.acme.test", retry=RetryPolicy(max_retries=0)
    )
    with pytest.raises(TransportError) as info:
        http.get("/invoices")
    assert "nested deeper than 100 levels" in info.value.message
    assert "\n" not in str(info.value)


@given(hostile_json_texts([{"data": [{"id": "1", "total": "10.00"}]}]))
@HOSTILE
def test_answer_bytes_are_json_or_a_value_error(raw: bytes) -> None:
    with contextlib.suppress(ValueError):
        decode_answer(raw)


# --------------------------------------------------------------------------- fields


@pytest.mark.parametrize(
    "value",
    [
        float("nan"),
        float("inf"),
        Decimal("NaN"),
        Decimal("-Infinity"),
        Decimal("1E+999999"),
        Decimal("1.5"),
        10**400,
        "x" * 300,
    ],
)
def test_an_impossible_id_is_a_validation_error(value: Any) -> None:
    with pytest.raises(ValidationError) as info:
        to_id(value)
    assert len(str(info.value)) < 120


def test_ids_that_are_numbers_still_read() -> None:
    assert to_id(Decimal("12.0")) == "12"
    assert to_id(12.0) == "12"
    assert to_id(Decimal("1E+3")) == "1000"
    assert to_id(" 0 ") is None


@pytest.mark.parametrize("value", ["1e999999", Decimal("1E+999999"), 10**400, "-1E+400"])
def test_an_absurd_number_is_refused_before_any_arithmetic(value: Any) -> None:
    with pytest.raises(ValidationError, match="out of range"):
        to_decimal(value)


# --------------------------------------------------------------------------- schema base


class Row(BackendSchema[Any]):
    id = RemoteId()
    name = Text()
    total = Money(places=2)
    paid = Flag()
    date = Date()

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        # A post_load trusting the payload, as real ones do: the date must be there.
        days = (data["date"] - dt.date(2024, 1, 1)).days
        return {"id": data["id"], "days": days, "ref": data["raw"]["ref"]}


def test_a_zero_date_loads_as_absent_and_a_post_load_that_needed_it_names_the_record() -> None:
    with pytest.raises(MappingError) as info:
        load_record(Row(), {"id": "7", "date": "0000-00-00"}, backend="acme", what="invoice")
    error = info.value
    assert error.backend == "acme"
    assert str(error).startswith("acme: cannot map invoice 7: unexpected value (TypeError")
    assert isinstance(error.__cause__, TypeError)  # kept for --debug


def test_a_missing_key_in_a_post_load_names_the_field() -> None:
    with pytest.raises(MappingError) as info:
        load_record(Row(), {"id": "7", "date": "2024-01-02"}, backend="acme", what="invoice")
    assert info.value.field == "ref"
    assert "cannot map invoice 7: unexpected value (KeyError" in str(info.value)


def test_deep_nesting_given_as_python_is_one_mapping_error() -> None:
    with pytest.raises(MappingError, match="nested too deeply"):
        load_record(Row(), {"id": "1", "name": nested(5000)}, backend="acme", what="client")


def test_rows_name_their_index_and_an_unprintable_id_is_quoted() -> None:
    rows = [{"id": "1", "date": "2024-01-02", "ref": "r"}, {"id": "a\nb", "total": "1e999999"}]
    with pytest.raises(MappingError) as info:
        load_record(Row(), rows, backend="acme", what="invoice", many=True)
    text = str(info.value)
    assert "\n" not in text
    assert "invoice 'a\\nb' (row 1)" in text
    assert info.value.field == "total"


def test_data_with_an_empty_list_is_refused_as_no_record() -> None:
    with pytest.raises(MappingError):
        load_record(Row(), [], backend="acme", what="invoice")


ROW = {"id": "7", "name": "Acme", "total": "12.50", "paid": "1", "date": "2024-03-01", "ref": "r"}


@pytest.mark.parametrize("value", [nested(5000), {"a": nested(2000)}])
def test_the_shared_fields_refuse_deep_nesting_in_every_place(value: Any) -> None:
    for payload in with_each_value_replaced({"data": [ROW]}, value):
        assert_maps_or_refuses(
            lambda payload=payload: load_record(Row(), payload, backend="acme", what="invoice")
        )


@given(hostile_variants([ROW, {"data": [ROW]}]))
@HOSTILE
def test_the_shared_fields_map_or_refuse_any_hostile_row(payload: Any) -> None:
    assert_maps_or_refuses(lambda: load_record(Row(), payload, backend="acme", what="invoice"))


# --------------------------------------------------------------------------- memory backend


def _neutral() -> list[dict[str, Any]]:
    client = Client(name="Acme", email="a@acme.test", id="c1")
    invoice = Invoice.build(
        number="INV-1",
        issue_date=dt.date(2024, 1, 1),
        currency="EGP",
        client=client,
        items=[LineItem(name="Tea", quantity=Decimal("3"), unit_price=Decimal("12.5"))],
    )
    payment = Payment(
        invoice_id="1", amount=Decimal("5"), currency="EGP", date=dt.date(2024, 1, 2), method="cash"
    )
    return [client.to_dict(), invoice.to_dict(), payment.to_dict()]


@pytest.mark.parametrize("kind", ["invoice", "client", "payment"])
def test_the_memory_backend_refuses_deep_nesting_in_every_place(kind: str) -> None:
    backend = MemoryBackend.for_parsing()
    for record in _neutral():
        for payload in with_each_value_replaced(record, nested(5000)):
            assert_maps_or_refuses(lambda payload=payload: backend.parse_payload(kind, payload))


@pytest.mark.parametrize("kind", ["invoice", "client", "payment"])
@given(payload=hostile_variants(_neutral()))
@HOSTILE
def test_the_memory_backend_parses_or_refuses_any_hostile_payload(kind: str, payload: Any) -> None:
    backend = MemoryBackend.for_parsing()
    assert_maps_or_refuses(lambda: backend.parse_payload(kind, payload))


# --------------------------------------------------------------------------- writing


class AmountBody(BackendSchema[Any]):
    total = Money(places=2, as_text=True)


@pytest.mark.parametrize("amount", [Decimal("1E+400"), Decimal("NaN"), Decimal("-Infinity")])
def test_an_absurd_amount_is_refused_before_anything_is_written(amount: Decimal) -> None:
    from invoicing_bridge.schemas.base import dump_record

    with pytest.raises(MappingError) as info:
        dump_record(AmountBody(), {"total": amount}, backend="acme", what="invoice")
    assert info.value.field == "total"
    assert info.value.backend == "acme"
    assert dump_record(AmountBody(), {"total": Decimal("12.5")}, backend="acme", what="x") == {
        "total": "12.50"
    }
