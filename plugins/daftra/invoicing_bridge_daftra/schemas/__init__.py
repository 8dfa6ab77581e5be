"""Daftra's schemas: :mod:`.read` (records → the neutral model) and :mod:`.write` (the
neutral model → request bodies), both with a :class:`DaftraContext` and no I/O."""

from __future__ import annotations

from .read import (
    INVOICE_SIBLINGS,
    DaftraClientPaymentSchema,
    DaftraClientSchema,
    DaftraContext,
    DaftraInvoiceItemSchema,
    DaftraInvoiceSchema,
    DaftraPaymentSchema,
    DaftraTaxSchema,
    TaxInfo,
    daftra_method,
    invoice_status,
    payment_status,
    slug,
)
from .write import (
    DaftraClientBodySchema,
    DaftraInvoiceBodySchema,
    DaftraInvoiceItemBodySchema,
    DaftraPaymentBodySchema,
)

__all__ = [
    "INVOICE_SIBLINGS",
    "DaftraClientBodySchema",
    "DaftraClientPaymentSchema",
    "DaftraClientSchema",
    "DaftraContext",
    "DaftraInvoiceBodySchema",
    "DaftraInvoiceItemBodySchema",
    "DaftraInvoiceItemSchema",
    "DaftraInvoiceSchema",
    "DaftraPaymentBodySchema",
    "DaftraPaymentSchema",
    "DaftraTaxSchema",
    "TaxInfo",
    "daftra_method",
    "invoice_status",
    "payment_status",
    "slug",
]
