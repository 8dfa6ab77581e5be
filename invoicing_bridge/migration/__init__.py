"""The migration job: move clients, invoices and payments from one backend to another,
safely re-runnable.

::

    from invoicing_bridge import get_backend, migrate

    report = migrate(source, target, ledger="invoicing-bridge-ledger.sqlite")
    print(report.counts["invoice"].created, report.ok)

Guarantees, backed by the :mod:`~invoicing_bridge.migration.ledger`:

- **Never twice.** Before each create the ledger records the intent; after success, the
  target id. A create whose answer was lost (the error's ``may_have_landed``: a timeout,
  a dropped connection, a 5xx after the request was sent) is not retried blindly: the
  record is looked up in the target (invoice by number, client by identity, payment
  among the invoice's payments) first, then created again, at most ``max_attempts``
  times. The same look-up happens on a re-run for every intent without a target id (a
  crash, a SIGKILL). This is the only place lost answers are recovered.
- **Never lost.** A record that fails is reported with its reason and tried again by the
  next run. The job adds no retry of its own: transient failures (timeouts, 429, 5xx) are
  retried by the backend's HTTP layer, within its ``max_retries``.
- **Always said.** The :class:`~invoicing_bridge.migration.report.MigrationReport`
  counts what was created, updated, matched, skipped, changed and failed, per kind, with
  every failure's reason.
- **Totals agree.** Each invoice is read back from the target after its payments and its
  totals compared with the source's to the cent; a difference fails the record.

The job uses only the backend interface: the ledger names each side by its
:attr:`~invoicing_bridge.backends.base.InvoicingBackend.label`, and the request rate is a
backend option (``rate_limit``, requests per second, shared by all worker threads of that
backend), set when the backend is opened.

The package, one module per concern: ``report`` (what a run reports), ``ledger`` (the
SQLite mapping of source to target records), ``payloads`` (what the target is asked to
store), ``job`` (what the stages share, and the one rule for creating a record never
twice), the stages ``clients``, ``invoices`` and ``payments``, and ``run`` (:func:`migrate`).
"""

from __future__ import annotations

from .clients import CLIENT_MATCH_FIELDS
from .invoices import VERIFIED_FIELDS
from .job import VerificationError
from .ledger import DEFAULT_LEDGER, Ledger, LedgerEntry, fingerprint
from .report import FAILED, KINDS, OUTCOMES, KindCounts, MigrationReport, RecordResult
from .run import migrate

__all__ = [
    "CLIENT_MATCH_FIELDS",
    "DEFAULT_LEDGER",
    "FAILED",
    "KINDS",
    "OUTCOMES",
    "VERIFIED_FIELDS",
    "KindCounts",
    "Ledger",
    "LedgerEntry",
    "MigrationReport",
    "RecordResult",
    "VerificationError",
    "fingerprint",
    "migrate",
]
