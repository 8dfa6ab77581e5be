"""Hostile payloads through every Tryton read schema and ``parse_payload``: a result, or
one MappingError line naming the backend, the record and the field; never another
exception (the shared :class:`HostilePayloadSuite` over the saved answers in ``fixtures/``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from invoicing_bridge_tryton.backend import TrytonBackend
from invoicing_bridge_tryton.schemas import read

from invoicing_bridge.testing.payloads import HostilePayloadSuite


class TestTrytonHostilePayloads(HostilePayloadSuite):
    backend = "tryton"
    fixtures = Path(__file__).parent / "fixtures"
    # Tryton answers hold invoices; a client or a payment is read from the same rows.
    kinds = {"invoices": ("invoice", "client", "payment")}
    read_schemas = read
    min_schemas = 2

    def parser(self) -> TrytonBackend:
        return TrytonBackend.for_parsing()

    def schema(self, backend: TrytonBackend, schema_class: type[Any]) -> Any:
        return schema_class(context=backend.mapper._invoice.context)

    def out_of_range_invoice(self) -> Any:
        row = self.answer("invoices/search_read_paid.json")["result"][0]
        return {**row, "total_amount": "1e999999"}
