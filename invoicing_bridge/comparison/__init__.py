"""The compare job: reconcile the invoices of two backends and report every difference.

::

    from invoicing_bridge import compare

    report = compare(daftra, perfex)                      # by number, then content
    report = compare(daftra, perfex, ledger="invoicing-bridge-ledger.sqlite")
    print(report.ok, report.equal, len(report.different))

How it works, in linear time (hash tables, never all pairs):

1. Both sides are read once, each invoice reduced to what is compared and grouped under
   its key: the number normalised by its backend
   (:meth:`~invoicing_bridge.backends.base.InvoicingBackend.normalize_number`:
   ``"INV-000002"``, ``"000002"`` and ``"2"`` all give ``"2"``; a number without a digit,
   a draft's placeholder, has none), or with ledger matching the source id (a right
   invoice's is the one the ledger pairs its id with).
2. Invoices under the same key are paired (several under one key each with the candidate
   it differs least from); by number, what is left is paired by client, issue date and
   total where exactly one on each side agrees, and the rest reported as ambiguous.
3. Each pair is compared field by field, one row per cause.

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
(number or ledger keys), ``diff`` (what is compared of an invoice, and how, one row per
cause), ``clients`` (client records, once per pair), ``explain`` (differences the
migration's reported changes explain), ``html`` (the self-contained page) and ``run``
(:func:`compare`). The terminal rendering is the CLI's (:mod:`invoicing_bridge.cli.compare`).
"""

from __future__ import annotations

from .clients import ClientDifference
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
    "ClientDifference",
    "ComparisonReport",
    "DuplicateKey",
    "FieldDifference",
    "InvoiceRef",
    "PairSource",
    "Progress",
    "RecordDifference",
    "compare",
]
