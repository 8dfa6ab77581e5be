"""The neutral model to Acme's request bodies. What Acme cannot store is a MappingError,
found before anything is written (``validate_invoice`` calls the same function)."""

from __future__ import annotations

from typing import Any

from invoicing_bridge import Client, Invoice, InvoiceStatus, MappingError, Payment

from .read import DRAFT, SENT


def invoice_body(invoice: Invoice) -> dict[str, Any]:
    """The create body Acme expects. Raises MappingError for what Acme cannot store."""
    lines = []
    for index, item in enumerate(invoice.items):
        if len(item.taxes) > 1:
            raise MappingError(
                "Acme allows one tax per line", backend="acme", field=f"items[{index}].taxes"
            )
        tax = item.taxes[0] if item.taxes else None
        lines.append(
            {
                "title": item.name,
                "qty": str(item.quantity),
                "price": str(item.unit_price),
                "tax_name": tax.name if tax else None,
                "tax_rate": str(tax.rate) if tax else None,
            }
        )
    return {
        "ref": invoice.number,
        "state": DRAFT if invoice.status is InvoiceStatus.DRAFT else SENT,
        "issued": invoice.issue_date.isoformat(),
        "due": invoice.due_date.isoformat() if invoice.due_date else None,
        "currency": invoice.currency,
        "customer_id": invoice.client.id,
        "lines": lines,
        "notes": invoice.notes,
        "terms": invoice.terms,
    }


def customer_body(client: Client) -> dict[str, Any]:
    """The create body of a customer."""
    return {"name": client.name, "email": client.email, "vat": client.tax_number}


def payment_body(payment: Payment) -> dict[str, Any]:
    """The body of ``POST /invoices/{id}/payments``: money as a string, never a float."""
    return {
        "amount": str(payment.amount),
        "date": payment.date.isoformat(),
        "method": payment.method,
        "ref": payment.reference,
    }
