"""Hostile payloads through every Daftra read schema and ``parse_payload``: a result, or
one MappingError line naming the backend, the record and the field; never another
exception (the shared :class:`HostilePayloadSuite` over the saved answers in ``fixtures/``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from invoicing_bridge_daftra.backend import DaftraBackend
from invoicing_bridge_daftra.schemas import read

from invoicing_bridge.testing.payloads import HostilePayloadSuite


class TestDaftraHostilePayloads(HostilePayloadSuite):
    backend = "daftra"
    fixtures = Path(__file__).parent / "fixtures"
    kinds = {
        "invoices": ("invoice",),
        "clients": ("client",),
        "invoice_payments": ("payment",),
        "client_payments": ("payment",),
    }
    read_schemas = read

    def parser(self) -> DaftraBackend:
        return DaftraBackend.for_parsing(date_format="%d/%m/%Y")

    def out_of_range_invoice(self) -> Any:
        invoice = self.answer("invoices/get.json")["data"]["Invoice"]
        return {"Invoice": {**invoice, "summary_total": "1e999999"}}
