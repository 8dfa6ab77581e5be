"""Rows ↔ neutral records: one instance of each read schema per context, and the loads."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from invoicing_bridge.models import Client, Invoice
from invoicing_bridge.schemas.base import load_record

from .schemas.read import TrytonClientSchema, TrytonContext, TrytonInvoiceSchema

__all__ = ["TrytonMapper"]


class TrytonMapper:
    """Loads Tryton rows with the payment-method names of the install's journals."""

    def __init__(self, backend: str, journal_methods: Mapping[int, str] | None = None) -> None:
        self.backend = backend
        context = TrytonContext(
            backend=backend, journal_methods=MappingProxyType(dict(journal_methods or {}))
        )
        self._invoice = TrytonInvoiceSchema(context=context)
        self._client = TrytonClientSchema(context=context)

    def invoice(self, row: Any) -> Invoice:
        """Raises MappingError."""
        invoice: Invoice = load_record(self._invoice, row, backend=self.backend, what="invoice")
        return invoice

    def client(self, row: Any) -> Client:
        """Raises MappingError."""
        client: Client = load_record(self._client, row, backend=self.backend, what="client")
        return client
