"""The compare job: reconcile the invoices of two backends and report every difference.

::

    from invoicing_bridge import compare

    report = compare(daftra, perfex)                      # match by invoice number
    report = compare(daftra, perfex, match="ledger", ledger="invoicing-bridge-ledger.sqlite")
    print(report.ok, report.equal, len(report.different))

How it works, in linear time (a hash join, never all pairs):

1. The left side is read once, each invoice reduced to what is compared and kept in a
   dict under its key: the number normalised by the left backend
   (:meth:`~invoicing_bridge.backends.base.InvoicingBackend.normalize_number`: ``"INV-000002"``,
   ``"000002"`` and ``"2"`` all give ``"2"``), or with ``match="ledger"`` its id, which the
   migration ledger pairs with an id on the right.
2. The right side is streamed and each invoice looked up by its key (the right backend's
   normalised number, or the source id the ledger gives for its id) and compared field by
   field.

What is compared: status, issue and due dates, currency, the client's name, email and tax
number, subtotal, discount, tax, adjustment, total, amount paid and balance (Decimal, rounded
to the currency's precision on each side, then equal within ``tolerance``, 0 by default),
notes and terms (after :func:`~invoicing_bridge.comparison.diff.normalize_text`), line items
(matched by position, then by name: description, quantity, unit, unit price, taxes) and
completed payments (as multisets of amount, date and method). Facts that cannot agree by
nature (remote ids, timestamps, ``source``, ``raw``, ``extra``, per-line taxes a backend does
not report, payment dates a backend set itself, the number of a draft) are not compared,
and the report's ``not_compared`` says so. One row per cause: the totals a line or payment
changes are grouped under it (``FieldDifference.derived``).

Paths name fields as in the neutral JSON form: ``total``, ``client.email``,
``items[1].quantity`` (the left invoice's line 1), ``items[right:2]`` (line 2 of the right
invoice, which has no counterpart on the left), ``payments[0].date``.

The package, one module per concern: ``report`` (what a comparison reports), ``pairing``
(number or ledger keys), ``diff`` (what is compared of an invoice, and how), and ``run``
(:func:`compare`). The terminal rendering is the CLI's (:mod:`invoicing_bridge.cli.compare`).
"""

from __future__ import annotations

from .pairing import MATCH_MODES, PairSource
from .report import (
    CSV_COLUMNS,
    ComparisonReport,
    DuplicateKey,
    FieldDifference,
    InvoiceRef,
    RecordDifference,
)
from .run import DEFAULT_TOLERANCE, Progress, compare

__all__ = [
    "CSV_COLUMNS",
    "DEFAULT_TOLERANCE",
    "MATCH_MODES",
    "ComparisonReport",
    "DuplicateKey",
    "FieldDifference",
    "InvoiceRef",
    "PairSource",
    "Progress",
    "RecordDifference",
    "compare",
]
