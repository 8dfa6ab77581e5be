"""What the target is asked to store: source records stripped of what belongs to the source
(ids, refs, raw payloads), and the source ids the ledger keys them by."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from ..models import Client, Invoice, InvoiceStatus, Payment, PaymentStatus

__all__ = [
    "completed",
    "payment_sid",
    "probe",
    "source_id",
    "target_client",
    "target_invoice",
    "target_payment",
]

ZERO = Decimal("0")
_EMPTY: Mapping[str, Any] = MappingProxyType({})
_ISSUED = frozenset(
    {
        InvoiceStatus.OPEN,
        InvoiceStatus.PARTIALLY_PAID,
        InvoiceStatus.PAID,
        InvoiceStatus.OVERPAID,
        InvoiceStatus.UNKNOWN,
    }
)


def source_id(record: Invoice | Client | Payment) -> str | None:
    """The record's id in the source (its ``source`` ref's id when it has no id)."""
    if record.id is not None:
        return str(record.id)
    if record.source is not None:
        return record.source.id
    return None


def completed(invoice: Invoice) -> list[Payment]:
    """The invoice's completed payments: the only ones migrated."""
    return [p for p in invoice.payments if p.status is PaymentStatus.COMPLETED]


def payment_sid(invoice_sid: str, invoice: Invoice, payment: Payment) -> str:
    """The payment's source id, else ``"<invoice sid>#<its position>"``."""
    sid = source_id(payment)
    if sid is not None:
        return sid
    return f"{invoice_sid}#{invoice.payments.index(payment)}"


def target_client(client: Client) -> Client:
    copy = Client.from_dict(client.to_dict())
    copy.id = None
    copy.source = None
    copy.raw = _EMPTY
    return copy


def target_invoice(invoice: Invoice, client: Client) -> Invoice:
    """What the target is asked to store: the source content, without ids or payments
    (recorded after), an issued status as open (payments move it on)."""
    status = InvoiceStatus.OPEN if invoice.status in _ISSUED else invoice.status
    return invoice.copy(
        id=None,
        source=None,
        raw=_EMPTY,
        created_at=None,
        updated_at=None,
        payments=[],
        amount_paid=ZERO,
        balance_due=invoice.total,
        status=status,
        client=client,
    )


def probe(invoice: Invoice) -> Invoice:
    """What ``validate_invoice`` checks before a create: the invoice as it will be sent,
    its client not created yet (no id), with the payments to be recorded after it."""
    sent = target_invoice(invoice, target_client(invoice.client))
    sent.payments = [target_payment(p, None, invoice.currency) for p in completed(invoice)]
    return sent


def target_payment(payment: Payment, invoice_id: str | None, currency: str) -> Payment:
    copy = Payment.from_dict(payment.to_dict())
    copy.id = None
    copy.source = None
    copy.invoice_id = invoice_id
    copy.currency = copy.currency or currency
    copy.raw = _EMPTY
    return copy
