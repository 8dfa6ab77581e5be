"""Marshmallow schemas between Perfex payloads and the neutral model: :mod:`.read` (loads,
no I/O, a read-only :class:`~.context.PerfexContext`) and :mod:`.write` (dumps)."""

from __future__ import annotations

from .context import PerfexContext, method_slug
from .read import (
    POSSIBLE_STATUSES,
    UNKNOWN_CURRENCY,
    PerfexClientSchema,
    PerfexInvoiceSchema,
    PerfexItemSchema,
    PerfexPaymentSchema,
    PerfexSchema,
    infer_line_taxes,
    load_many,
    unwrap_rows,
)
from .write import (
    InvoicePlan,
    PerfexClientWriteSchema,
    PerfexInvoiceWriteSchema,
    PerfexLine,
    PerfexPaymentWriteSchema,
    PerfexTotals,
)

__all__ = [
    "POSSIBLE_STATUSES",
    "UNKNOWN_CURRENCY",
    "InvoicePlan",
    "PerfexClientSchema",
    "PerfexClientWriteSchema",
    "PerfexContext",
    "PerfexInvoiceSchema",
    "PerfexInvoiceWriteSchema",
    "PerfexItemSchema",
    "PerfexLine",
    "PerfexPaymentSchema",
    "PerfexPaymentWriteSchema",
    "PerfexSchema",
    "PerfexTotals",
    "infer_line_taxes",
    "load_many",
    "method_slug",
    "unwrap_rows",
]
