"""``BackendSchema`` and ``load_record``: envelopes, raw capture, a read-only context, and
every ValidationError turned into one MappingError naming backend, record and field."""

from __future__ import annotations

import dataclasses
import datetime as dt
import socket
import string
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from marshmallow import Schema, ValidationError, fields, post_load

from invoicing_bridge.exceptions import MappingError
from invoicing_bridge.models import Client, LineItem, Payment, RecordRef
from invoicing_bridge.schemas.base import (
    RAW_KEY,
    BackendSchema,
    Nested,
    SchemaContext,
    as_rows,
    dump_record,
    error_path,
    flatten_errors,
    load_record,
)
from invoicing_bridge.schemas.fields import Date, Money, RemoteId, Text

# --------------------------------------------------------------------------- schemas


@dataclass(frozen=True)
class AcmeContext(SchemaContext):
    """What the Acme schemas need, fetched by the backend before any load."""

    methods: Mapping[str, str] = dataclasses.field(default_factory=lambda: MappingProxyType({}))
    read_date: Any = None  # str -> date, for the account's display format


def day_first(text: str) -> dt.date:
    return dt.datetime.strptime(text, "%d/%m/%Y").date()


class AcmeClientSchema(BackendSchema[AcmeContext]):
    context_type = AcmeContext
    envelope = "Client"

    id = RemoteId()
    name = Text()
    email = Text()

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> Client:
        return Client(
            id=data["id"],
            name=data["name"] or "",
            email=data["email"],
            source=self.ref(data["id"]),
            raw=data["raw"],
        )


class AcmeItemSchema(BackendSchema[AcmeContext]):
    context_type = AcmeContext

    name = Text()
    qty = Money(required=True)
    price = Money(required=True)

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> LineItem:
        return LineItem(data["name"] or "", data["qty"], data["price"])


class AcmePaymentSchema(BackendSchema[AcmeContext]):
    context_type = AcmeContext
    id_key = "payment_id"

    payment_id = RemoteId()
    amount = Money(required=True)
    mode = Text()
    paid_on = Date(reader="read_date")

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> Payment:
        return Payment(
            id=data["payment_id"],
            amount=data["amount"],
            date=data["paid_on"],
            method=self.context.methods.get(data["mode"] or "", "unknown"),
            source=self.ref(data["payment_id"]),
            raw=data["raw"],
        )


class AcmeInvoiceSchema(BackendSchema[AcmeContext]):
    """An invoice row: ``{"Invoice": {...}, "Client": {...}}`` with items nested."""

    context_type = AcmeContext
    envelope = "Invoice"
    siblings = ("Client",)

    id = RemoteId()
    number = Text()
    total = Money()
    client = fields.Raw(data_key="Client", load_default=None)
    items = fields.Raw(load_default=None)
    payments = Nested(AcmePaymentSchema, many=True, load_default=())

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {
            "id": data["id"],
            "client": self.load_nested(AcmeClientSchema, data["client"], key="Client"),
            "items": self.load_nested_many(AcmeItemSchema, data["items"], key="items"),
            "payments": list(data["payments"]),
            "raw": data["raw"],
        }


def invoice_row(**header: Any) -> dict[str, Any]:
    return {
        "Invoice": {
            "id": "12",
            "number": "INV-12",
            "total": "30.00",
            "items": [{"name": "Work", "qty": "3", "price": "10.00"}],
            "payments": [{"payment_id": "7", "amount": "5.00", "mode": "2", "paid_on": ""}],
            **header,
        },
        "Client": {"id": "4", "name": "Acme", "email": "a@example.com"},
    }


CONTEXT = AcmeContext(
    backend="acme",
    methods=MappingProxyType({"2": "bank_transfer"}),
    read_date=day_first,
)


# --------------------------------------------------------------------------- envelopes


@pytest.mark.parametrize(
    "payload",
    [
        {"id": "4", "name": "Acme"},
        {"Client": {"id": "4", "name": "Acme"}},
        {"Client": {"id": "4", "name": "Acme"}, "Invoice": {"id": "9"}},
    ],
)
def test_a_record_loads_bare_or_in_its_envelope(payload: dict[str, Any]) -> None:
    client = AcmeClientSchema(context=CONTEXT).load(payload)
    assert (client.id, client.name) == ("4", "Acme")


def test_a_data_envelope_is_unwrapped() -> None:
    class Wrapped(AcmeClientSchema):
        envelope = "data"

    client = Wrapped(context=CONTEXT).load({"data": {"id": "4", "name": "Acme"}})
    assert client.id == "4"


def test_siblings_of_the_envelope_are_folded_into_the_record() -> None:
    invoice = AcmeInvoiceSchema(context=CONTEXT).load(invoice_row())
    assert invoice["client"].name == "Acme"
    assert invoice["items"][0].net == Decimal("30.00")


def test_a_sibling_never_overrides_what_the_record_has() -> None:
    row = invoice_row(Client={"id": "5", "name": "Inside"})
    invoice = AcmeInvoiceSchema(context=CONTEXT).load(row)
    assert invoice["client"].id == "5"


def test_unknown_keys_are_excluded() -> None:
    client = AcmeClientSchema(context=CONTEXT).load({"id": "4", "name": "A", "new_column": 1})
    assert client.id == "4"


def test_a_payload_that_is_not_an_object_is_a_validation_error() -> None:
    with pytest.raises(ValidationError) as caught:
        AcmeClientSchema(context=CONTEXT).load(["not", "a", "record"])  # type: ignore[arg-type]
    assert "JSON object" in str(caught.value.messages)


# --------------------------------------------------------------------------- raw


def test_raw_is_the_payload_as_given_read_only_all_the_way_down() -> None:
    row = invoice_row()
    invoice = AcmeInvoiceSchema(context=CONTEXT).load(row)
    raw = invoice["raw"]
    assert isinstance(raw, MappingProxyType)
    assert raw["Invoice"]["number"] == "INV-12" and raw["Client"]["name"] == "Acme"
    assert isinstance(raw["Invoice"]["items"], tuple)
    with pytest.raises(TypeError):
        raw["Invoice"]["items"][0]["qty"] = "4"  # type: ignore[index]
    row["Invoice"]["number"] = "changed"  # the capture does not follow the original
    assert raw["Invoice"]["number"] == "INV-12"


def test_the_model_keeps_the_captured_raw_without_another_copy() -> None:
    schema = AcmeClientSchema(context=CONTEXT)
    loaded = schema.load({"Client": {"id": "4", "name": "Acme"}})
    assert loaded.raw == {"Client": {"id": "4", "name": "Acme"}}
    again = schema.load(loaded.raw)  # a frozen payload is not frozen twice
    assert again.raw is loaded.raw


def test_nested_records_share_the_frozen_payload_of_the_outer_one() -> None:
    invoice = AcmeInvoiceSchema(context=CONTEXT).load(invoice_row())
    assert invoice["client"].raw is invoice["raw"]["Client"]
    assert invoice["payments"][0].raw is invoice["raw"]["Invoice"]["payments"][0]


def test_raw_is_not_dumped() -> None:
    assert RAW_KEY not in AcmeClientSchema().dump(Client(name="Acme", id="4"))


# --------------------------------------------------------------------------- context


def test_the_context_is_given_to_the_constructor_and_reaches_nested_schemas() -> None:
    invoice = AcmeInvoiceSchema(context=CONTEXT).load(
        invoice_row(
            payments=[{"payment_id": "7", "amount": "5", "mode": "2", "paid_on": "02/05/2026"}]
        )
    )
    payment = invoice["payments"][0]
    assert payment.method == "bank_transfer"  # from the context's methods
    assert payment.date == dt.date(2026, 5, 2)  # read with the context's date reader
    assert payment.source == RecordRef("acme", "7")
    assert invoice["client"].source == RecordRef("acme", "4")


def test_the_context_is_read_only() -> None:
    schema = AcmeClientSchema(context=CONTEXT)
    assert schema.context is CONTEXT
    with pytest.raises(AttributeError):
        schema.context = AcmeContext(backend="other")  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        schema.context.backend = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        schema.context.methods["3"] = "cash"  # type: ignore[index]


def test_without_a_context_the_schema_builds_its_default_one() -> None:
    assert AcmeClientSchema().context == AcmeContext()

    class Plain(BackendSchema[SchemaContext]):
        pass

    class Inherited(AcmeClientSchema):
        pass

    assert type(Plain().context) is SchemaContext
    assert type(Inherited().context) is AcmeContext


def test_a_context_without_defaults_must_be_given() -> None:
    @dataclass(frozen=True)
    class Needed(SchemaContext):
        taxes: Mapping[str, Decimal]

    class NeedsTaxes(BackendSchema[Needed]):  # context_type from the type argument
        pass

    with pytest.raises(TypeError):
        NeedsTaxes()
    assert NeedsTaxes(context=Needed(taxes={})).context.taxes == {}


def test_nested_schemas_are_built_once_per_schema_with_its_context() -> None:
    schema = AcmeInvoiceSchema(context=CONTEXT)
    first = schema.nested(AcmeClientSchema)
    assert schema.nested(AcmeClientSchema) is first
    assert first.context is CONTEXT


def test_a_load_does_no_io_and_leaves_the_context_as_it_was(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The rule: everything a load needs comes in the context; nothing is fetched."""

    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a schema load reached for the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    before = {f.name: getattr(CONTEXT, f.name) for f in dataclasses.fields(CONTEXT)}
    methods = dict(CONTEXT.methods)
    schema = AcmeInvoiceSchema(context=CONTEXT)
    for _ in range(2):
        schema.load(invoice_row())
    assert {f.name: getattr(CONTEXT, f.name) for f in dataclasses.fields(CONTEXT)} == before
    assert CONTEXT.methods == methods


# --------------------------------------------------------------------------- errors


def test_a_validation_error_becomes_a_mapping_error_naming_backend_record_and_field() -> None:
    row = invoice_row(items=[{"name": "A", "qty": "1", "price": "1"}, {"name": "B", "qty": "x"}])
    with pytest.raises(MappingError) as caught:
        load_record(AcmeInvoiceSchema(context=CONTEXT), row, backend="acme", what="invoice")
    error = caught.value
    assert error.backend == "acme"
    assert error.field == "items.1.qty"
    assert "invoice 12" in str(error) and str(error).startswith("acme: field 'items.1.qty'")
    assert error.errors == {
        "items": {
            1: {"qty": ["'x' is not a number"], "price": ["Missing data for required field."]}
        }
    }


def test_load_record_returns_the_model() -> None:
    client = load_record(
        AcmeClientSchema(context=CONTEXT), {"id": "4", "name": "A"}, backend="acme", what="client"
    )
    assert isinstance(client, Client) and client.id == "4"


def test_the_record_id_is_read_from_the_schemas_id_key() -> None:
    with pytest.raises(MappingError, match=r"payment 7:"):
        load_record(
            AcmePaymentSchema(context=CONTEXT),
            {"payment_id": "7", "amount": "lots"},
            backend="acme",
            what="payment",
        )


def test_many_names_the_failing_row() -> None:
    rows = [{"id": "1", "name": "A"}, {"id": "2", "name": {"not": "text"}}]
    with pytest.raises(MappingError) as caught:
        load_record(
            AcmeClientSchema(context=CONTEXT), rows, backend="acme", what="client", many=True
        )
    assert "client 2 (row 1)" in str(caught.value) and caught.value.field == "name"
    loaded = load_record(AcmeClientSchema(), rows[:1], backend="acme", what="client", many=True)
    assert [c.id for c in loaded] == ["1"]


def test_many_refuses_what_is_not_a_list() -> None:
    with pytest.raises(MappingError, match="expected a list of client records"):
        load_record(AcmeClientSchema(), {"id": "1"}, backend="acme", what="client", many=True)


def test_an_error_of_no_field_has_no_field() -> None:
    with pytest.raises(MappingError) as caught:
        load_record(AcmeClientSchema(), "text", backend="acme", what="client")
    assert caught.value.field is None and "JSON object" in str(caught.value)


def test_a_mapping_error_raised_inside_a_schema_passes_through() -> None:
    class Strict(AcmeClientSchema):
        @post_load
        def make(self, data: dict[str, Any], **kwargs: Any) -> Client:
            raise MappingError("no such tax", backend="acme", field="items[0].tax1")

    with pytest.raises(MappingError) as caught:
        load_record(Strict(), {"id": "1"}, backend="acme", what="client")
    assert caught.value.field == "items[0].tax1"


def test_dump_record_turns_a_validation_error_into_a_mapping_error() -> None:
    class Body(Schema):
        amount = fields.Method("_amount")

        def _amount(self, obj: Any) -> Any:
            raise ValidationError("negative", "amount")

    assert dump_record(
        Schema.from_dict({"a": fields.Raw()})(), {"a": 1}, backend="acme", what="x"
    ) == {"a": 1}
    with pytest.raises(MappingError) as caught:
        dump_record(Body(), object(), backend="acme", what="payment")
    assert caught.value.backend == "acme" and caught.value.field == "amount"


def test_flatten_errors_gives_dotted_paths_in_order() -> None:
    messages = {
        "_schema": ["whole record"],
        "items": {0: {"qty": ["bad"], "_schema": ["line"]}},
        "date": ["missing", "again"],
    }
    assert flatten_errors(messages) == {
        "": "whole record",
        "items.0.qty": "bad",
        "items.0": "line",
        "date": "missing; again",
    }
    assert error_path(messages) is None
    assert error_path({"date": ["x"]}) == "date"


_NAME = st.text(string.ascii_lowercase + "_", min_size=1, max_size=12).filter(
    lambda s: s not in ("_schema", "id")
)


@given(
    backend=st.text(string.ascii_lowercase, min_size=1, max_size=10),
    record_id=st.integers(min_value=1, max_value=10**9),
    field=_NAME,
    bad=st.one_of(
        st.text(string.ascii_letters, min_size=1).filter(lambda s: s not in ("None", "null")),
        st.booleans(),
        st.just([1]),
    ),
)
def test_any_validation_error_names_backend_record_and_field(
    backend: str, record_id: int, field: str, bad: Any
) -> None:
    schema_class = type(
        "Generated",
        (BackendSchema,),
        {"id": RemoteId(), "value": Money(data_key=field, required=True)},
    )
    with pytest.raises(MappingError) as caught:
        load_record(schema_class(), {"id": record_id, field: bad}, backend=backend, what="thing")
    error = caught.value
    assert error.backend == backend
    assert error.field == field
    assert f"thing {record_id}" in str(error)
    assert str(error).startswith(f"{backend}: field {field!r}: ")


def test_as_rows_reads_one_object_a_sequence_or_nothing() -> None:
    row = MappingProxyType({"a": 1})
    assert as_rows(row) == [row]
    assert as_rows((row, row)) == [row, row]
    assert as_rows([]) == [] and as_rows({}) == [] and as_rows(None) == [] and as_rows("") == []
