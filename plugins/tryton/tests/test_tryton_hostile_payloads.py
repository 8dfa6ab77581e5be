"""Hostile payloads through every Tryton read schema and ``parse_payload``: a result, or
one MappingError line naming the backend, the record and the field; never another
exception (hypothesis variants of the saved answers in ``fixtures/``, plus nesting past
the recursion limit in every place of each answer)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from invoicing_bridge_tryton.backend import TrytonBackend
from invoicing_bridge_tryton.schemas import read

from invoicing_bridge.cli import main
from invoicing_bridge.exceptions import MappingError
from invoicing_bridge.schemas.base import BackendSchema, load_record
from invoicing_bridge.testing.payloads import (
    assert_maps_or_refuses,
    hostile_variants,
    nested,
    with_each_value_replaced,
)

FIXTURES = Path(__file__).parent / "fixtures"
BACKEND = "tryton"


def PARSER() -> TrytonBackend:
    return TrytonBackend.for_parsing()


def SCHEMA_OF(backend: TrytonBackend, cls: type[Any]) -> Any:
    return cls(context=backend.mapper._invoice.context)


# Tryton answers hold invoices; a client or a payment is read from the same rows.
KINDS = {"invoices": "invoice"}
HOSTILE = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _answer(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"), parse_float=Decimal)


def _answers(kind: str | None = None) -> list[Any]:
    out = []
    for path in sorted(FIXTURES.rglob("*.json")):
        if kind is None or KINDS.get(path.parent.name) in (kind, "invoice"):
            out.append(json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal))
    return out


def _objects(value: Any, out: list[Any]) -> list[Any]:
    """Every JSON object inside ``value``: rows and nested rows for the direct loads."""
    if isinstance(value, dict):
        out.append(value)
        for item in value.values():
            _objects(item, out)
    elif isinstance(value, list):
        for item in value:
            _objects(item, out)
    return out


ROWS = [row for answer in _answers() for row in _objects(answer, [])][:300]
SCHEMAS = sorted(
    (
        cls
        for cls in vars(read).values()
        if isinstance(cls, type)
        and issubclass(cls, BackendSchema)
        and cls.__module__ == read.__name__
    ),
    key=lambda cls: cls.__name__,
)


def test_the_read_schemas_are_found() -> None:
    assert len(SCHEMAS) >= 2
    assert _answers("invoice")


@pytest.mark.parametrize("kind", ["invoice", "client", "payment"])
def test_parse_payload_refuses_deep_nesting_in_every_place(kind: str) -> None:
    backend = PARSER()
    for answer in _answers(kind):
        for payload in with_each_value_replaced(answer, nested(3000)):
            assert_maps_or_refuses(lambda payload=payload: backend.parse_payload(kind, payload))


@pytest.mark.parametrize("kind", ["invoice", "client", "payment"])
def test_parse_payload_maps_or_refuses_hostile_answers(kind: str) -> None:
    backend = PARSER()

    @given(hostile_variants(_answers(kind)))
    @HOSTILE
    def check(payload: Any) -> None:
        assert_maps_or_refuses(lambda: backend.parse_payload(kind, payload))

    check()


@pytest.mark.parametrize("schema_class", SCHEMAS, ids=lambda cls: cls.__name__)
def test_every_read_schema_maps_or_refuses_hostile_rows(schema_class: type[Any]) -> None:
    schema = SCHEMA_OF(PARSER(), schema_class)

    @given(hostile_variants(ROWS, max_changes=2))
    @HOSTILE
    def check(payload: Any) -> None:
        assert_maps_or_refuses(
            lambda: load_record(schema, payload, backend=BACKEND, what=schema_class.__name__)
        )

    check()


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('{"id": NaN}', ["field 'id'"]),
        ('{"id": "1", "total": 1e999999, "summary_total": 1e999999}', []),
        ("[" * 50_000 + "]" * 50_000, ["nested deeper"]),
        ('{"data": []}', []),
        (b'{"id": "1", "subject": "\xff\xfe"}', []),
    ],
)
def test_the_parse_command_ends_bad_input_in_one_line_exit_2_or_a_parse(
    tmp_path: Path, text: str | bytes, words: list[str]
) -> None:
    path = tmp_path / "answer.json"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["parse", BACKEND, "invoice", str(path)])
    assert "Traceback" not in result.output
    assert result.exit_code in (0, 2), result.output
    if result.exit_code == 2:
        errors = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, result.output
        assert f"error: {BACKEND}" in errors[0] or "is not JSON" in errors[0]
        for word in words:
            assert word in errors[0]
    else:
        assert not words


def test_a_mapping_error_names_backend_record_and_field() -> None:
    with pytest.raises(MappingError) as info:
        row = _answer("invoices/search_read_paid.json")["result"][0]
        PARSER().parse_payload("invoice", {**row, "total_amount": "1e999999"})
    error = info.value
    assert error.backend == BACKEND
    assert error.field is not None and "total" in error.field
    assert "out of range" in str(error)
    assert "\n" not in str(error)
