"""Hostile payloads through every Perfex read schema and ``parse_payload``: a result, or
one MappingError line naming the backend, the record and the field; never another
exception (the shared :class:`HostilePayloadSuite` over the saved answers in ``fixtures/``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from invoicing_bridge_perfex.backend import PerfexBackend
from invoicing_bridge_perfex.schemas import read

from invoicing_bridge.testing.payloads import HostilePayloadSuite


class TestPerfexHostilePayloads(HostilePayloadSuite):
    backend = "perfex"
    fixtures = Path(__file__).parent / "fixtures"
    kinds = {"invoices": ("invoice",), "customers": ("client",), "payments": ("payment",)}
    read_schemas = read

    def parser(self) -> PerfexBackend:
        return PerfexBackend.for_parsing()

    def schema(self, backend: PerfexBackend, schema_class: type[Any]) -> Any:
        return backend.mapper.schema(schema_class)

    def out_of_range_invoice(self) -> Any:
        return {**self.answer("invoices/get.json"), "total": "1e999999"}
