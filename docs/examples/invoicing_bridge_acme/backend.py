"""The Acme Books backend: the interface's verbs over Acme's HTTP API."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from typing import Any

import marshmallow
from marshmallow import fields

from invoicing_bridge import (
    Client,
    Invoice,
    InvoiceStatus,
    MappingError,
    Payment,
    PaymentStatus,
)
from invoicing_bridge.backends.base import Feature
from invoicing_bridge.backends.http import ErrorInfo, HTTPBackend, HTTPOptions
from invoicing_bridge.models import freeze_raw
from invoicing_bridge_acme.schemas import (
    AcmeCustomerSchema,
    AcmeInvoiceSchema,
    AcmePaymentSchema,
    invoice_body,
)

#: Acme's error codes, as categories of the core's error table.
CATEGORIES = {
    "unauthorized": "authentication",
    "forbidden": "permission",
    "not_found": "not_found",
    "invalid": "invalid",
}


class AcmeOptions(HTTPOptions):
    """``base_url`` (from HTTPOptions) is required here; the key is a secret."""

    base_url = fields.Url(require_tld=False, schemes={"http", "https"}, required=True)
    api_key = fields.String(required=True, metadata={"secret": True})
    page_size = fields.Integer(load_default=50)


def parse_error(status: int, body: Any, text: str) -> ErrorInfo | None:
    """Acme's error body is ``{"error": {"code", "message", "fields"}}``.

    Acme answers a revoked key with 200 and an error body, so an error body is an
    error whatever the status, and its code (not the status) says which kind.
    """
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None
    return ErrorInfo(
        message=error.get("message"),
        field_errors=error.get("fields") or {},
        category=CATEGORIES.get(error.get("code", "")),
        code=error.get("code"),
    )


class AcmeBackend(HTTPBackend):
    """Acme Books. Options: ``base_url``, ``api_key``, ``page_size`` and the HTTP options."""

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

    def check_connection(self) -> dict[str, Any]:
        account: dict[str, Any] = self.http.get("/me").data["account"]
        return account

    # ------------------------------------------------------------------ mapping

    def _load(self, schema: marshmallow.Schema, payload: Any) -> Any:
        """One record from a payload; marshmallow's complaint becomes a MappingError."""
        try:
            record = schema.load(payload)
        except marshmallow.ValidationError as exc:
            errors = exc.normalized_messages()  # type: ignore[no-untyped-call]
            field = next(iter(errors), None)
            raise MappingError(str(errors), backend=self.name, field=field) from None
        record.raw = freeze_raw(payload)  # the untouched payload, read-only
        return record

    def parse_payload(self, kind: str, payload: Any) -> list[Invoice | Client | Payment]:
        """A saved response (``{"invoice": {...}}``, a list page) or a bare record."""
        schemas = {
            "invoice": AcmeInvoiceSchema(),
            "client": AcmeCustomerSchema(),
            "payment": AcmePaymentSchema(),
        }
        if kind not in schemas:
            raise MappingError(f"unknown record kind {kind!r}", backend=self.name)
        envelope = {"invoice": "invoice", "client": "customer", "payment": "payment"}[kind]
        if isinstance(payload, dict):
            payload = payload.get(envelope) or payload.get(envelope + "s") or payload
        rows = payload if isinstance(payload, list) else [payload]
        return [self._load(schemas[kind], row) for row in rows]

    # ------------------------------------------------------------------ invoices

    def iter_invoices(
        self,
        *,
        since: dt.date | None = None,
        status: InvoiceStatus | None = None,
        client_id: str | None = None,
    ) -> Iterator[Invoice]:
        params: dict[str, Any] = {"per_page": self.options["page_size"]}
        if since is not None:
            params["issued_after"] = since.isoformat()
        if client_id is not None:
            params["customer_id"] = client_id
        page: int | None = 1
        while page is not None:
            data = self.http.get("/invoices", params={**params, "page": page}).data
            for row in data["invoices"]:
                invoice: Invoice = self._load(AcmeInvoiceSchema(), row)
                # Acme has no filter for "open" (its "sent" is also "partially paid").
                if status is None or invoice.status is status:
                    yield invoice
            page = data.get("next_page")

    def get_invoice(self, id: str) -> Invoice:
        invoice: Invoice = self._load(
            AcmeInvoiceSchema(), self.http.get(f"/invoices/{id}").data["invoice"]
        )
        return invoice

    def validate_invoice(self, invoice: Invoice) -> None:
        """What a create would refuse, found without writing (dry-run migrations)."""
        invoice_body(invoice)  # raises MappingError (say, two taxes on one line)

    def create_invoice(self, invoice: Invoice) -> Invoice:
        body = invoice_body(invoice)
        created = self.http.post("/invoices", json_body=body).data["invoice"]
        invoice_id = str(created["id"])
        for payment in invoice.payments:  # Acme records payments one by one
            if payment.status is not PaymentStatus.COMPLETED:
                continue  # the contract: only completed payments are recorded
            self.record_payment(dataclasses.replace(payment, invoice_id=invoice_id))
        return self.get_invoice(invoice_id)

    # ------------------------------------------------------------------ clients

    def get_client(self, id: str) -> Client:
        client: Client = self._load(
            AcmeCustomerSchema(), self.http.get(f"/customers/{id}").data["customer"]
        )
        return client

    def create_client(self, client: Client) -> Client:
        body = {"name": client.name, "email": client.email, "vat": client.tax_number}
        created = self.http.post("/customers", json_body=body).data["customer"]
        stored: Client = self._load(AcmeCustomerSchema(), created)
        return stored

    # ------------------------------------------------------------------ payments

    def record_payment(self, payment: Payment) -> Payment:
        body = {
            "amount": str(payment.amount),
            "date": payment.date.isoformat(),
            "method": payment.method,
            "ref": payment.reference,
        }
        answer = self.http.post(f"/invoices/{payment.invoice_id}/payments", json_body=body)
        stored: Payment = self._load(AcmePaymentSchema(), answer.data["payment"])
        return stored
