"""The schemas behind one door: the backend hands payloads in and gets records out."""

from __future__ import annotations

from typing import Any

from invoicing_bridge import Client, Invoice, MappingError, Payment
from invoicing_bridge.schemas.base import BackendSchema, load_record

from .schemas import write
from .schemas.read import AcmeCustomerSchema, AcmeInvoiceSchema, AcmePaymentSchema


class AcmeMapper:
    """Payload ↔ neutral model. Loads do no I/O; each raises MappingError (naming the
    record and the field) for a payload that cannot become the model."""

    def __init__(self) -> None:
        # A schema is built once and reused: building one copies its fields.
        self.schemas: dict[str, BackendSchema[Any]] = {
            "invoice": AcmeInvoiceSchema(),
            "client": AcmeCustomerSchema(),
            "payment": AcmePaymentSchema(),
        }

    def _load(self, kind: str, payload: Any) -> Any:
        return load_record(self.schemas[kind], payload, backend="acme", what=kind)

    def invoice(self, payload: Any) -> Invoice:
        invoice: Invoice = self._load("invoice", payload)
        return invoice

    def client(self, payload: Any) -> Client:
        client: Client = self._load("client", payload)
        return client

    def payment(self, payload: Any) -> Payment:
        payment: Payment = self._load("payment", payload)
        return payment

    def parse(self, kind: str, payload: Any) -> list[Invoice | Client | Payment]:
        """A saved response (``{"invoice": {...}}``, a list page) or a bare record."""
        if kind not in self.schemas:
            raise MappingError(f"unknown record kind {kind!r}", backend="acme")
        plural = {"invoice": "invoices", "client": "customers", "payment": "payments"}[kind]
        if isinstance(payload, dict) and isinstance(payload.get(plural), list):
            payload = payload[plural]
        rows = payload if isinstance(payload, list) else [payload]
        return [self._load(kind, row) for row in rows]

    invoice_body = staticmethod(write.invoice_body)
    customer_body = staticmethod(write.customer_body)
    payment_body = staticmethod(write.payment_body)
