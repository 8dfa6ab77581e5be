"""The Acme Books backend: the interface's verbs, over a connection and a mapper."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from typing import Any

from invoicing_bridge import Client, Invoice, InvoiceStatus, Payment, PaymentStatus
from invoicing_bridge.backends.base import Feature
from invoicing_bridge.backends.http import HTTPBackend

from .connection import AcmeConnection
from .errors import parse_error
from .mapper import AcmeMapper
from .options import AcmeOptions


class AcmeBackend(HTTPBackend):
    """Acme Books. Options: ``base_url``, ``api_key``, ``page_size`` and the HTTP options.

    Every verb raises the core's errors: ``NotFound`` for a missing record,
    ``AuthenticationError`` for a refused key, ``MappingError`` for a payload that cannot
    become the model; the verbs not listed in ``features`` raise ``UnsupportedOperation``.
    """

    name = "acme"
    features = frozenset(
        {
            Feature.LIST_INVOICES,
            Feature.GET_INVOICE,
            Feature.CREATE_INVOICE,
            Feature.GET_CLIENT,
            Feature.CREATE_CLIENT,
            Feature.RECORD_PAYMENT,
            Feature.DRAFT_INVOICES,
            Feature.ITEM_TAX_DETAIL,  # every line read carries its tax
            Feature.PAYMENT_DATES,  # a payment keeps the date it is recorded with
            Feature.PARSE,
        }
    )
    Options = AcmeOptions

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.http = self._make_http(
            base_url=self.options["base_url"],
            headers={"X-Acme-Key": self.options["api_key"]},
            error_parser=parse_error,
        )
        self.connection = AcmeConnection(self.http, page_size=self.options["page_size"])
        self._init_offline()

    def _init_offline(self) -> None:
        """What mapping needs, also for ``for_parsing()`` (no connection): the mapper."""
        self.mapper = AcmeMapper()

    def check_connection(self) -> dict[str, Any]:
        account: dict[str, Any] = self.connection.get("/me", "account")
        return account

    def parse_payload(self, kind: str, payload: Any) -> list[Invoice | Client | Payment]:
        return self.mapper.parse(kind, payload)

    # ------------------------------------------------------------------ invoices

    def iter_invoices(
        self,
        *,
        since: dt.date | None = None,
        status: InvoiceStatus | str | None = None,
        client_id: str | None = None,
    ) -> Iterator[Invoice]:
        status = InvoiceStatus.coerce(status)  # "open" too; a typo is refused
        params: dict[str, Any] = {}
        if since is not None:
            params["issued_after"] = since.isoformat()
        if client_id is not None:
            params["customer_id"] = client_id
        for row in self.connection.rows("/invoices", "invoices", params):
            invoice = self.mapper.invoice(row)
            # Acme has no filter for "open" (its "sent" is also "partially paid").
            if status is None or invoice.status is status:
                yield invoice

    def get_invoice(self, id: str) -> Invoice:
        return self.mapper.invoice(self.connection.get(f"/invoices/{id}", "invoice"))

    def validate_invoice(self, invoice: Invoice) -> None:
        """What a create would refuse, found without writing (dry-run migrations)."""
        self.mapper.invoice_body(invoice)  # raises MappingError (say, two taxes on one line)

    def create_invoice(self, invoice: Invoice) -> Invoice:
        created = self.connection.post("/invoices", "invoice", self.mapper.invoice_body(invoice))
        invoice_id = str(created["id"])
        for payment in invoice.payments:  # Acme records payments one by one
            if payment.status is not PaymentStatus.COMPLETED:
                continue  # the contract: only completed payments are recorded
            self.record_payment(dataclasses.replace(payment, invoice_id=invoice_id))
        return self.get_invoice(invoice_id)

    # ------------------------------------------------------------------ clients

    def get_client(self, id: str) -> Client:
        return self.mapper.client(self.connection.get(f"/customers/{id}", "customer"))

    def create_client(self, client: Client) -> Client:
        body = self.mapper.customer_body(client)
        return self.mapper.client(self.connection.post("/customers", "customer", body))

    # ------------------------------------------------------------------ payments

    def record_payment(self, payment: Payment) -> Payment:
        path = f"/invoices/{payment.invoice_id}/payments"
        body = self.mapper.payment_body(payment)
        return self.mapper.payment(self.connection.post(path, "payment", body))
