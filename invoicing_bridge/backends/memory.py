"""The in-memory backend: the reference behaviour of every verb, and the test double.

Records are stored as copies (what you pass in is never aliased), ids are sequential
strings, and recording a payment updates the invoice's paid amount, balance and status
as a real accounting system would. Thread-safe.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from marshmallow import fields

from ..exceptions import InvalidRequest, NotFound
from ..models import (
    Client,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentStatus,
    RecordRef,
)
from .base import (
    Feature,
    InvoicingBackend,
    OptionsSchema,
    clients_matching,
    identity_criteria,
)

__all__ = ["MemoryBackend"]


class MemoryOptions(OptionsSchema):
    #: Currencies the backend accepts; empty means any.
    currencies = fields.List(fields.String(), load_default=list)
    #: A label told apart in ``source`` refs when several memory backends are in play.
    label = fields.String(load_default="memory")


def _copy_client(client: Client) -> Client:
    return Client.from_dict(client.to_dict(include_raw=True))


def _copy_payment(payment: Payment) -> Payment:
    return Payment.from_dict(payment.to_dict(include_raw=True))


class MemoryBackend(InvoicingBackend):
    """Every verb, in memory. Options: ``currencies`` (accepted codes), ``label``."""

    name = "memory"
    money_places = None  # Decimals as given
    #: Every feature but CREATE_WITH_PAYMENTS: in memory one record_payment each costs
    #: nothing, and migration then records payments as it does on most backends.
    features = Feature.ALL - {Feature.CREATE_WITH_PAYMENTS}
    Options = MemoryOptions

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._invoices: dict[str, Invoice] = {}
        self._clients: dict[str, Client] = {}
        self._payments: dict[str, Payment] = {}
        #: How many calls each verb received (tests and benchmarks read it).
        self.calls: dict[str, int] = {}

    @property
    def label(self) -> str:
        """``"memory:<label option>"``: what the ledger and reports call this backend."""
        return f"{self.name}:{self._label}"

    @property
    def _label(self) -> str:
        return str(self.options.get("label") or self.name)

    def _count(self, verb: str) -> None:
        with self._lock:
            self.calls[verb] = self.calls.get(verb, 0) + 1

    def _next_id(self) -> str:
        return str(next(self._ids))

    def _ref(self, id: str) -> RecordRef:
        return RecordRef(self._label, id)

    def check_connection(self) -> dict[str, Any]:
        return {"backend": self.name, "invoices": len(self._invoices)}

    # ----------------------------------------------------------------- invoices

    def _validate(self, invoice: Invoice) -> None:
        accepted = self.options.get("currencies") or []
        if accepted and invoice.currency not in accepted:
            raise InvalidRequest(
                f"unknown currency {invoice.currency!r}",
                backend=self.name,
                field_errors={"currency": f"{invoice.currency!r} is not one of {accepted}"},
            )
        if not invoice.client.id or invoice.client.id not in self._clients:
            raise InvalidRequest(
                "client does not exist",
                backend=self.name,
                field_errors={"client.id": f"no client {invoice.client.id!r}"},
            )
        for other in self._invoices.values():
            if other.number == invoice.number and other.id != invoice.id:
                raise InvalidRequest(
                    f"number {invoice.number!r} already used",
                    backend=self.name,
                    field_errors={"number": "already used"},
                )

    def validate_invoice(self, invoice: Invoice) -> None:
        """The checks of a create that need no write: the accepted currencies."""
        self.check_amounts(invoice)
        accepted = self.options.get("currencies") or []
        if accepted and invoice.currency not in accepted:
            raise InvalidRequest(
                f"unknown currency {invoice.currency!r}",
                backend=self.name,
                field_errors={"currency": f"{invoice.currency!r} is not one of {accepted}"},
            )

    def iter_invoices(
        self,
        *,
        since: dt.date | None = None,
        status: InvoiceStatus | str | None = None,
        client_id: str | None = None,
    ) -> Iterator[Invoice]:
        status = InvoiceStatus.coerce(status)
        self._count("iter_invoices")
        with self._lock:
            ids = list(self._invoices)
        for id in ids:
            with self._lock:
                stored = self._invoices.get(id)
                invoice = stored.copy() if stored is not None else None
            if invoice is None:
                continue
            if since is not None and invoice.issue_date < since:
                continue
            if status is not None and invoice.status is not status:
                continue
            if client_id is not None and invoice.client.id != client_id:
                continue
            yield invoice

    def get_invoice(self, id: str) -> Invoice:
        self._count("get_invoice")
        with self._lock:
            if id not in self._invoices:
                raise NotFound(f"invoice {id} not found", backend=self.name, status_code=404)
            return self._invoices[id].copy()

    def find_invoice(self, number: str) -> Invoice | None:
        self._count("find_invoice")
        with self._lock:
            for invoice in self._invoices.values():
                if invoice.number == number:
                    return invoice.copy()
        return None

    def _store(self, invoice: Invoice, id: str) -> Invoice:
        stored = invoice.copy(id=id, source=self._ref(id))
        stored.client = self._clients[str(invoice.client.id)]
        stored.client = _copy_client(stored.client)
        stored.updated_at = dt.datetime.now(dt.UTC)
        if stored.created_at is None:
            stored.created_at = stored.updated_at
        for payment in stored.payments:
            payment.invoice_id = id
        self._recompute(stored)
        self._invoices[id] = stored
        return stored.copy()

    def create_invoice(self, invoice: Invoice) -> Invoice:
        self.check_amounts(invoice)
        self._count("create_invoice")
        completed = [p for p in invoice.payments if p.status is PaymentStatus.COMPLETED]
        if completed and Feature.RECORD_PAYMENT not in self.features:
            raise self._unsupported("create_invoice", "cannot record the invoice's payments")
        with self._lock:
            self._validate(invoice)
            for payment in invoice.payments:
                self._check_payment(payment)  # before storing: no half-created invoice
            id = self._next_id()
            payments = invoice.payments
            invoice = invoice.copy(payments=[])
            self._store(invoice, id)
            for payment in payments:
                self._record(payment, id)
            return self._invoices[id].copy()

    def update_invoice(self, invoice: Invoice) -> Invoice:
        self._count("update_invoice")
        with self._lock:
            if invoice.id is None or invoice.id not in self._invoices:
                raise NotFound(
                    f"invoice {invoice.id} not found", backend=self.name, status_code=404
                )
            self._validate(invoice)
            existing = self._invoices[invoice.id]
            updated = invoice.copy(payments=[p for p in existing.payments])
            updated.created_at = existing.created_at
            return self._store(updated, invoice.id)

    def delete_invoice(self, id: str) -> None:
        self._count("delete_invoice")
        with self._lock:
            if self._invoices.pop(id, None) is None:
                raise NotFound(f"invoice {id} not found", backend=self.name, status_code=404)
            for pid in [p for p, pay in self._payments.items() if pay.invoice_id == id]:
                del self._payments[pid]

    @staticmethod
    def _recompute(invoice: Invoice) -> None:
        """Paid amount, balance and (for issued invoices) status follow the payments."""
        if invoice.payments:
            invoice.amount_paid = sum(
                (p.amount for p in invoice.payments if p.status is PaymentStatus.COMPLETED),
                Decimal("0"),
            )
        invoice.balance_due = invoice.total - invoice.amount_paid
        if invoice.status in (
            InvoiceStatus.OPEN,
            InvoiceStatus.PARTIALLY_PAID,
            InvoiceStatus.PAID,
            InvoiceStatus.OVERPAID,
        ):
            invoice.status = InvoiceStatus.from_amounts(invoice.total, invoice.amount_paid)

    # ----------------------------------------------------------------- clients

    def iter_clients(self) -> Iterator[Client]:
        self._count("iter_clients")
        with self._lock:
            clients = [_copy_client(c) for c in self._clients.values()]
        yield from clients

    def get_client(self, id: str) -> Client:
        self._count("get_client")
        with self._lock:
            if id not in self._clients:
                raise NotFound(f"client {id} not found", backend=self.name, status_code=404)
            return _copy_client(self._clients[id])

    def find_client(
        self,
        *,
        email: str | None = None,
        tax_number: str | None = None,
        name: str | None = None,
    ) -> Client | None:
        self._count("find_client")
        wanted = identity_criteria(email=email, tax_number=tax_number, name=name)
        if not wanted:
            return None
        with self._lock:
            found = next(clients_matching(self._clients.values(), wanted), None)
            return None if found is None else _copy_client(found)

    def find_clients(
        self,
        *,
        email: str | None = None,
        tax_number: str | None = None,
        name: str | None = None,
    ) -> list[Client]:
        self._count("find_clients")
        wanted = identity_criteria(email=email, tax_number=tax_number, name=name)
        if not wanted:
            return []
        with self._lock:
            return [_copy_client(c) for c in clients_matching(self._clients.values(), wanted)]

    def create_client(self, client: Client) -> Client:
        self._count("create_client")
        if not client.name:
            raise InvalidRequest(
                "client name is required", backend=self.name, field_errors={"name": "required"}
            )
        with self._lock:
            id = self._next_id()
            stored = _copy_client(client)
            stored.id = id
            stored.source = self._ref(id)
            self._clients[id] = stored
            return _copy_client(stored)

    def update_client(self, client: Client) -> Client:
        self._count("update_client")
        with self._lock:
            if client.id is None or client.id not in self._clients:
                raise NotFound(f"client {client.id} not found", backend=self.name, status_code=404)
            stored = _copy_client(client)
            stored.source = self._ref(client.id)
            self._clients[client.id] = stored
            return _copy_client(stored)

    # ----------------------------------------------------------------- payments

    def iter_payments(self, *, invoice_id: str | None = None) -> Iterator[Payment]:
        self._count("iter_payments")
        with self._lock:
            payments = [
                _copy_payment(p)
                for p in self._payments.values()
                if invoice_id is None or p.invoice_id == invoice_id
            ]
        yield from payments

    def get_payment(self, id: str) -> Payment:
        self._count("get_payment")
        with self._lock:
            if id not in self._payments:
                raise NotFound(f"payment {id} not found", backend=self.name, status_code=404)
            return _copy_payment(self._payments[id])

    def _check_payment(self, payment: Payment) -> None:
        if payment.amount <= 0:
            raise InvalidRequest(
                "payment amount must be positive",
                backend=self.name,
                field_errors={"amount": str(payment.amount)},
            )

    def _record(self, payment: Payment, invoice_id: str) -> Payment:
        invoice = self._invoices[invoice_id]
        self._check_payment(payment)
        id = self._next_id()
        stored = _copy_payment(payment)
        stored.id = id
        stored.invoice_id = invoice_id
        stored.currency = stored.currency or invoice.currency
        stored.source = self._ref(id)
        self._payments[id] = stored
        invoice.payments.append(_copy_payment(stored))
        self._recompute(invoice)
        return _copy_payment(stored)

    def record_payment(self, payment: Payment) -> Payment:
        self.check_amounts(payment)
        self._count("record_payment")
        with self._lock:
            if payment.invoice_id is None or payment.invoice_id not in self._invoices:
                raise NotFound(
                    f"invoice {payment.invoice_id} not found", backend=self.name, status_code=404
                )
            return self._record(payment, payment.invoice_id)

    # ----------------------------------------------------------------- offline mapping

    def parse_payload(self, kind: str, payload: Any) -> list[Invoice | Client | Payment]:
        """The memory backend's raw form is the neutral JSON form itself."""
        from ..exceptions import MappingError

        builders: dict[str, Any] = {
            "invoice": Invoice.from_dict,
            "client": Client.from_dict,
            "payment": Payment.from_dict,
        }
        if kind not in builders:
            raise MappingError(f"unknown record kind {kind!r}", backend=self.name)
        rows = payload if isinstance(payload, list) else [payload]
        try:
            return [builders[kind](row) for row in rows]
        except RecursionError:
            raise MappingError(
                f"not a neutral {kind}: the payload is nested too deeply", backend=self.name
            ) from None
        except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
            # AttributeError: a row that is not a mapping at all (a string, a number).
            text = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise MappingError(f"not a neutral {kind}: {text}", backend=self.name) from exc
