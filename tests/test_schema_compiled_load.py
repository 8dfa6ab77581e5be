"""BackendSchema's compiled field loop gives what marshmallow's own loop gives: the same
values, defaults and error messages (each payload is loaded both ways and compared)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from marshmallow import Schema, ValidationError, fields, post_load, validate, validates

from invoicing_bridge.schemas.base import BackendSchema
from invoicing_bridge.schemas.fields import Date, Flag, Money, RemoteId, StatusMap, Text


class Sample(BackendSchema):
    id = RemoteId()
    name = Text(required=True)
    total = Money()
    paid = Money(load_default=Decimal(0))
    when = Date(data_key="date")
    flag = Flag()
    state = StatusMap({1: "one"}, unknown="other")  # type: ignore[dict-item,arg-type]
    code = fields.String(validate=validate.Length(max=3), load_default=None)
    count = fields.Integer(allow_none=False, load_default=0)
    tags = fields.List(fields.String(), load_default=list)
    renamed = Text(attribute="other_name")
    stripped = fields.String(load_default=None)
    rows = fields.Raw(data_key="Rows", load_default=None)

    @validates("stripped")
    def _not_blank(self, value: Any, **kwargs: Any) -> None:
        if value is not None and not value.strip():
            raise ValidationError("blank")


class Dotted(BackendSchema):
    id = RemoteId(attribute="ids.remote")


def _both(schema: BackendSchema[Any], payload: Any) -> tuple[Any, Any]:
    """``(compiled, marshmallow)``: each the loaded dict, or the error messages."""
    results = []
    for loop in (schema._deserialize, None):
        try:
            if loop is None:
                schema._steps, steps = None, schema._steps  # marshmallow's own loop
                try:
                    results.append(schema.load(payload))
                finally:
                    schema._steps = steps
            else:
                results.append(schema.load(payload))
        except ValidationError as exc:
            results.append(("error", exc.messages))
    return results[0], results[1]


def _without_raw(result: Any) -> Any:
    return {k: v for k, v in result.items() if k != "raw"} if isinstance(result, dict) else result


PAYLOADS = [
    {"id": "7", "name": "Acme", "total": "10.50", "date": "2026-01-02", "Rows": [{"a": 1}]},
    {"name": "Acme"},  # defaults everywhere
    {"name": None},  # Text allows None
    {},  # required name missing
    {"name": "x", "total": "abc", "date": "not a date", "count": None},  # three errors
    {"name": "x", "code": "toolong", "flag": "maybe", "state": 1, "tags": ["a", 2]},
    {"name": "x", "flag": None, "state": None, "count": "3", "renamed": "r"},
    {"name": "x", "stripped": "  ", "paid": ""},
    {"name": "x", "unknown_key": "kept out", "id": 0},
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_the_compiled_loop_loads_what_marshmallow_loads(payload: dict[str, Any]) -> None:
    schema = Sample()
    assert schema._steps is not None
    compiled, reference = _both(schema, payload)
    assert _without_raw(compiled) == _without_raw(reference)


def test_the_values_are_the_fields_values() -> None:
    loaded = Sample().load({"name": "Acme", "total": "10.50", "date": "2026-01-02"})
    assert loaded["total"] == Decimal("10.50") and loaded["paid"] == Decimal(0)
    assert loaded["when"] == dt.date(2026, 1, 2)
    assert loaded["tags"] == [] and loaded["count"] == 0 and loaded["id"] is None


def test_errors_name_the_payload_keys() -> None:
    with pytest.raises(ValidationError) as caught:
        Sample().load({"total": "abc", "date": "x", "count": None})
    assert set(caught.value.messages) == {"name", "total", "date", "count"}
    assert caught.value.messages["count"] == ["Field may not be null."]


def test_a_dotted_attribute_takes_marshmallows_loop() -> None:
    schema = Dotted()
    assert schema._steps is None
    assert _without_raw(schema.load({"id": "5"})) == {"ids": {"remote": "5"}}


def test_many_and_partial_take_marshmallows_loop() -> None:
    schema = Sample()
    rows = schema.load([{"name": "a"}, {"name": "b"}], many=True)
    assert [row["name"] for row in rows] == ["a", "b"]
    assert "name" not in schema.load({}, partial=True)


def test_a_plain_marshmallow_schema_is_untouched() -> None:
    # The compiled loop is BackendSchema's own: marshmallow's Schema keeps its loop.
    assert Schema._deserialize is not BackendSchema._deserialize


class Hooked(BackendSchema):
    """A schema whose single-record loads skip marshmallow's dispatch: an envelope, a
    post_load building a value, and a post_load failure for one payload."""

    envelope = "Record"
    id = RemoteId()
    name = Text(required=True)
    total = Money()

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> tuple[Any, ...]:
        if data["name"] == "refused":
            raise ValidationError("refused by the post_load", "name")
        return (data["id"], data["name"], data["total"], data["raw"])


HOOKED_PAYLOADS: list[Any] = [
    {"Record": {"id": "3", "name": "Acme", "total": "1.50"}},
    {"id": "4", "name": "Bare"},
    {"Record": {"total": "abc"}},  # two field errors
    {"name": "refused"},  # the post_load's error
    ["not", "a", "record"],  # the pre_load's error
    "text",
]


@pytest.mark.parametrize("payload", HOOKED_PAYLOADS)
def test_a_record_load_without_marshmallows_dispatch_is_marshmallows(payload: Any) -> None:
    schema = Hooked()
    assert schema._hooks_plan is not None  # the direct path is the one taken
    results = []
    for load in (schema.load, lambda p: Schema.load(schema, p)):
        try:
            results.append(load(payload))
        except ValidationError as exc:
            results.append(("error", exc.messages, exc.data, exc.valid_data))
    assert results[0] == results[1]


def test_validators_and_options_keep_marshmallows_load() -> None:
    assert Sample()._hooks_plan is None  # a @validates hook
    assert Hooked(many=True)._hooks_plan is None
    assert Hooked(partial=True)._hooks_plan is None
    assert Dotted()._hooks_plan is None  # fields not compiled
