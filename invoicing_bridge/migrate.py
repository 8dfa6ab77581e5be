"""The migration job: move clients, invoices and payments from one backend to another,
safely re-runnable.

::

    from invoicing_bridge import get_backend, migrate

    report = migrate(source, target, ledger="invoicing-bridge-ledger.sqlite")
    print(report.counts["invoice"].created, report.ok)

Guarantees, backed by the :mod:`~invoicing_bridge.ledger`:

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
- **Always said.** The :class:`MigrationReport` counts what was created, updated,
  matched, skipped, changed and failed, per kind, with every failure's reason.
- **Totals agree.** Each invoice is read back from the target after its payments and its
  totals compared with the source's to the cent; a difference fails the record.

The job uses only the backend interface: the ledger names each side by its
:attr:`~invoicing_bridge.backends.base.InvoicingBackend.label`, and the request rate is a
backend option (``rate_limit``, requests per second, shared by all worker threads of that
backend), set when the backend is opened.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import ExitStack
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import partial
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from .backends.base import Feature, InvoicingBackend
from .exceptions import (
    AuthenticationError,
    BackendError,
    InvoicingBridgeError,
    PermissionDenied,
    RateLimited,
    ServerError,
    TransportError,
    UnsupportedOperation,
)
from .ledger import DEFAULT_LEDGER, Ledger, LedgerEntry, LedgerScope, fingerprint
from .models import (
    CLIENT_IDENTITY_FIELDS,
    Client,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentStatus,
    identity_key,
)

__all__ = [
    "CLIENT_MATCH_FIELDS",
    "KINDS",
    "OUTCOMES",
    "KindCounts",
    "MigrationReport",
    "RecordResult",
    "VerificationError",
    "migrate",
]

#: Record kinds, in the order they are migrated.
KINDS = ("client", "invoice", "payment")
#: Criteria a source client may be matched on in the target, in the default order.
CLIENT_MATCH_FIELDS = CLIENT_IDENTITY_FIELDS
#: Fields of an invoice read back from the target and compared with the source.
VERIFIED_FIELDS = ("total", "subtotal", "tax_total", "amount_paid")

CREATED = "created"
UPDATED = "updated"
MATCHED = "matched"
SKIPPED = "skipped"
CHANGED = "changed"
FAILED = "failed"
WOULD_CREATE = "would_create"
WOULD_UPDATE = "would_update"
#: Every outcome a record can have (the :class:`KindCounts` fields).
OUTCOMES = (CREATED, UPDATED, MATCHED, SKIPPED, CHANGED, FAILED, WOULD_CREATE, WOULD_UPDATE)

CENT = Decimal("0.01")
ZERO = Decimal("0")
_TRANSIENT = (TransportError, RateLimited, ServerError)
_ISSUED = frozenset(
    {
        InvoiceStatus.OPEN,
        InvoiceStatus.PARTIALLY_PAID,
        InvoiceStatus.PAID,
        InvoiceStatus.OVERPAID,
        InvoiceStatus.UNKNOWN,
    }
)
T = TypeVar("T")


class VerificationError(InvoicingBridgeError):
    """An invoice read back from the target does not agree with the source."""


class _RecordFailed(InvoicingBridgeError):
    """Internal: a dependency of a record failed (its client), with the reason to report."""


# --------------------------------------------------------------------------- report


@dataclass(frozen=True, slots=True)
class RecordResult:
    """What happened to one source record."""

    kind: str
    source_id: str
    outcome: str
    number: str | None = None
    target_id: str | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "source_id": self.source_id,
            "number": self.number,
            "outcome": self.outcome,
            "target_id": self.target_id,
            "reason": self.reason,
        }


@dataclass
class KindCounts:
    """How many records of one kind ended in each outcome.

    ``matched``: an existing target record was adopted (a client found by email, tax
    number or name; an invoice found by number after an interrupted create).
    ``skipped``: migrated before and unchanged. ``changed``: migrated before, changed in
    the source since, and not updated (pass ``update=True``). ``would_*``: dry runs.
    """

    created: int = 0
    updated: int = 0
    matched: int = 0
    skipped: int = 0
    changed: int = 0
    failed: int = 0
    would_create: int = 0
    would_update: int = 0

    @property
    def total(self) -> int:
        return sum(self.to_dict().values())

    def to_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in OUTCOMES}


@dataclass
class MigrationReport:
    """The result of :func:`migrate`: counts per kind, every failure, every change left.

    ``ok`` is True when nothing failed. ``to_dict()`` is JSON-safe.
    """

    source: str
    target: str
    dry_run: bool = False
    update: bool = False
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    finished_at: dt.datetime | None = None
    counts: dict[str, KindCounts] = field(
        default_factory=lambda: {kind: KindCounts() for kind in KINDS}
    )
    records: list[RecordResult] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, result: RecordResult) -> None:
        with self._lock:
            counts = self.counts.setdefault(result.kind, KindCounts())
            setattr(counts, result.outcome, getattr(counts, result.outcome) + 1)
            self.records.append(result)

    @property
    def failures(self) -> list[RecordResult]:
        """Every failed record, with its reason."""
        with self._lock:
            return [r for r in self.records if r.outcome == FAILED]

    @property
    def changes(self) -> list[RecordResult]:
        """Records changed in the source since they were migrated, left as they are."""
        with self._lock:
            return [r for r in self.records if r.outcome == CHANGED]

    @property
    def ok(self) -> bool:
        return not any(c.failed for c in self.counts.values())

    @property
    def duration(self) -> float:
        end = self.finished_at or dt.datetime.now(dt.UTC)
        return (end - self.started_at).total_seconds()

    def to_dict(self, *, records: bool = True) -> dict[str, Any]:
        """The JSON form; ``records=False`` leaves out the per-record list."""
        with self._lock:
            data: dict[str, Any] = {
                "source": self.source,
                "target": self.target,
                "dry_run": self.dry_run,
                "update": self.update,
                "ok": self.ok,
                "started_at": self.started_at.isoformat(),
                "finished_at": None if self.finished_at is None else self.finished_at.isoformat(),
                "duration_seconds": round(self.duration, 3),
                "counts": {kind: c.to_dict() for kind, c in self.counts.items()},
                "failures": [r.to_dict() for r in self.records if r.outcome == FAILED],
                "changed": [r.to_dict() for r in self.records if r.outcome == CHANGED],
            }
            if records:
                data["records"] = [
                    r.to_dict() for r in sorted(self.records, key=lambda r: (r.kind, r.source_id))
                ]
        return data


# --------------------------------------------------------------------------- helpers


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def _may_have_landed(exc: BaseException) -> bool:
    """The failed request may have been applied by the server (its answer was lost).

    :attr:`BackendError.may_have_landed <invoicing_bridge.exceptions.BackendError>` decides;
    an error without it (a mapping failure, possibly of the create's answer) counts as
    landed: the record is looked up before anything is created again.
    """
    landed = getattr(exc, "may_have_landed", None)
    if isinstance(landed, bool):
        return landed
    # Until every BackendError carries the property: never sent, or refused with 429.
    if isinstance(exc, RateLimited):
        return False
    if isinstance(exc, TransportError):
        return exc.request_sent
    return True


def _transient(exc: BaseException) -> bool:
    """Trying again later may succeed (the error's ``transient``)."""
    transient = getattr(exc, "transient", None)
    if isinstance(transient, bool):
        return transient
    return isinstance(exc, _TRANSIENT)


def _source_id(record: Invoice | Client | Payment) -> str | None:
    if record.id is not None:
        return str(record.id)
    if record.source is not None:
        return record.source.id
    return None


# --------------------------------------------------------------------------- the job


class _Migration:
    def __init__(
        self,
        source: InvoicingBackend,
        target: InvoicingBackend,
        scope: LedgerScope,
        report: MigrationReport,
        *,
        since: dt.date | None,
        dry_run: bool,
        update: bool,
        workers: int,
        client_match: Sequence[str],
        progress: Callable[[RecordResult], None] | None,
        max_attempts: int,
        verify: Sequence[str],
    ):
        self.source = source
        self.target = target
        self.scope = scope
        self.report = report
        self.since = since
        self.dry_run = dry_run
        self.update = update
        self.workers = workers
        self.client_match = tuple(client_match)
        self.progress = progress
        self.max_attempts = max(1, max_attempts)
        self.verify_fields = tuple(verify)
        self._client_ids: dict[str, str | None] = {}
        self._client_errors: dict[str, str] = {}
        self._client_locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()

    # ----------------------------------------------------------------- plumbing

    def _emit(self, result: RecordResult) -> None:
        self.report.add(result)
        if self.progress is not None:
            self.progress(result)

    def _pool(self, items: Iterable[T], work: Callable[[T], None]) -> None:
        """Run ``work`` over ``items`` on the worker threads, at most 2 x workers queued."""
        if self.workers <= 1:
            for item in items:
                work(item)
            return
        limit = self.workers * 2
        with ThreadPoolExecutor(self.workers, thread_name_prefix="migrate") as pool:
            pending: set[Future[None]] = set()
            try:
                for item in items:
                    if len(pending) >= limit:
                        done, pending = wait(pending, return_when=FIRST_COMPLETED)
                        for future in done:
                            future.result()
                    pending.add(pool.submit(work, item))
                for future in pending:
                    future.result()
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise

    # ----------------------------------------------------------------- run

    def run(self) -> None:
        if Feature.CREATE_INVOICE not in self.target.features:
            raise UnsupportedOperation(self.target.name, "create_invoice")
        tasks: Iterable[Callable[[], None]] = ()
        if self.since is None and Feature.LIST_CLIENTS in self.source.features:
            clients = self.source.iter_clients()
            tasks = (partial(self._client_task, client) for client in clients)
        invoices = self.source.iter_invoices(since=self.since)
        # Clients first, then invoices, in one pool: while clients that may match one
        # another are created one at a time, idle workers go on with the invoices (an
        # invoice whose client is not done yet waits for it). Two pools one after the
        # other left most workers idle behind the longest such chain of clients.
        invoice_tasks: Iterable[Callable[[], None]] = (
            partial(self._invoice_task, invoice) for invoice in invoices
        )
        self._pool(itertools.chain(tasks, invoice_tasks), _run)

    # ----------------------------------------------------------------- clients

    def _client_lock(self, sid: str) -> threading.Lock:
        with self._locks_lock:
            return self._client_locks.setdefault(sid, threading.Lock())

    def _client_task(self, client: Client) -> None:
        sid = _source_id(client)
        if sid is None:
            return
        try:
            self._resolve_client(sid, client, full=True)
        except (AuthenticationError, PermissionDenied):
            raise
        except InvoicingBridgeError:
            pass  # reported by _resolve_client

    def _resolve_client(self, sid: str, client: Client | None, *, full: bool) -> str | None:
        """The target id of source client ``sid``, migrating it once (per-client lock).

        Returns None in a dry run for a client that would be created. Raises
        :class:`_RecordFailed` when the client cannot be migrated.
        """
        with self._client_lock(sid):
            if sid in self._client_errors:
                raise _RecordFailed(f"client {sid}: {self._client_errors[sid]}")
            if sid in self._client_ids:
                return self._client_ids[sid]
            try:
                if not full or client is None:
                    client = self._full_client(sid, client)
                target_id = self._migrate_client(sid, client)
            except (AuthenticationError, PermissionDenied):
                raise
            except InvoicingBridgeError as exc:
                reason = _reason(exc)
                self._client_errors[sid] = reason
                if not self.dry_run:
                    self.scope.failed(
                        "client", sid, reason, number=_client_name(client), uncertain=True
                    )
                self._emit(RecordResult("client", sid, FAILED, _client_name(client), reason=reason))
                raise _RecordFailed(f"client {sid}: {reason}") from exc
            self._client_ids[sid] = target_id
            return target_id

    def _full_client(self, sid: str, snapshot: Client | None) -> Client:
        if Feature.GET_CLIENT in self.source.features:
            return self.source.get_client(sid)
        if snapshot is None:
            raise _RecordFailed(f"client {sid} cannot be read from {self.source.name}")
        return snapshot

    def _match_client(self, client: Client, criteria: Sequence[str]) -> Client | None:
        if Feature.FIND_CLIENT not in self.target.features:
            return None
        for criterion in criteria:
            value = getattr(client, criterion, None)
            if not value:
                continue
            found = self.target.find_client(**{criterion: value})
            if (
                found is not None
                and found.id is not None
                and self.target.client_matches(client, found)
            ):
                return found
        return None

    def _migrate_client(self, sid: str, client: Client) -> str | None:
        fp = fingerprint(client)
        name = _client_name(client)
        entry = self.scope.get("client", sid)
        payload = _target_client(client)
        if entry is not None and entry.target_id:
            # Mapped already (a failed update keeps its mapping and its old fingerprint).
            if entry.fingerprint == fp:
                if not entry.done and not self.dry_run:
                    self.scope.done("client", sid, entry.target_id, number=name, fingerprint=fp)
                self._emit(RecordResult("client", sid, SKIPPED, name, entry.target_id))
            elif not self.update:
                reason = "changed in the source since it was migrated (run with update)"
                self._emit(RecordResult("client", sid, CHANGED, name, entry.target_id, reason))
            elif self.dry_run:
                self._emit(RecordResult("client", sid, WOULD_UPDATE, name, entry.target_id))
            else:
                payload.id = entry.target_id
                try:
                    self.target.update_client(payload)
                except InvoicingBridgeError as exc:
                    # The mapping still holds: invoices may point at the old version.
                    reason = f"update failed: {_reason(exc)}"
                    self.scope.failed("client", sid, reason, target_id=entry.target_id)
                    self._emit(RecordResult("client", sid, FAILED, name, entry.target_id, reason))
                    return entry.target_id
                self.scope.done("client", sid, entry.target_id, number=name, fingerprint=fp)
                self._emit(RecordResult("client", sid, UPDATED, name, entry.target_id))
            return entry.target_id
        # Two source clients that may match each other are matched and created one after
        # the other, so that the second finds the first whatever the order.
        with ExitStack() as stack:
            for key in _identity_keys(client):
                stack.enter_context(self._client_lock(key))
            return self._match_or_create(sid, client, entry, fp, payload)

    def _match_or_create(
        self, sid: str, client: Client, entry: LedgerEntry | None, fp: str, payload: Client
    ) -> str | None:
        name = _client_name(client)
        # A client from an interrupted create is matched on every criterion.
        criteria = CLIENT_MATCH_FIELDS if entry is not None else self.client_match
        found = self._match_client(client, criteria)
        if found is not None and found.id is not None:
            if not self.dry_run:
                self.scope.done("client", sid, found.id, number=name, fingerprint=fp)
            self._emit(RecordResult("client", sid, MATCHED, name, found.id))
            return found.id
        if self.dry_run:
            self._emit(RecordResult("client", sid, WOULD_CREATE, name))
            return None
        created, _ = self._create(
            "client",
            sid,
            name,
            fp,
            lambda: self.target.create_client(payload),
            lambda: self._match_client(client, CLIENT_MATCH_FIELDS),
        )
        self.scope.done("client", sid, created, number=name, fingerprint=fp)
        self._emit(RecordResult("client", sid, CREATED, name, created))
        return created

    # ----------------------------------------------------------------- creates

    def _create(
        self,
        kind: str,
        sid: str,
        number: str | None,
        fp: str | None,
        create: Callable[[], Invoice | Client | Payment],
        lookup: Callable[[], Invoice | Client | Payment | None],
    ) -> tuple[str, Invoice | Client | Payment | None]:
        """Create one record, never twice: intent first; when the create's answer was lost
        (the error's ``may_have_landed``), look the record up and adopt it, else create it
        again if the error is transient, at most ``max_attempts`` creates in all. Returns
        the target id and the record as the target answered it (None when it was found by
        the lookup).

        Raises the target's error when the record was refused or the attempts ran out
        (the ledger row then stays ``intent`` if a create may have been saved).
        """
        uncertain = False
        for attempt in range(self.max_attempts):
            self.scope.intent(kind, sid, number=number, fingerprint=fp)
            try:
                created = create()
            except InvoicingBridgeError as exc:
                landed = _may_have_landed(exc)
                uncertain = uncertain or landed
                if landed and isinstance(exc, BackendError):
                    # The answer was lost, not necessarily the record: look it up.
                    found = lookup()
                    if found is not None and found.id is not None:
                        return str(found.id), None
                    if _transient(exc) and attempt + 1 < self.max_attempts:
                        continue  # not there: create it again
                self.scope.failed(kind, sid, _reason(exc), uncertain=uncertain)
                raise
            if created.id is None:
                # The backend could not tell the new id: find it.
                found = lookup()
                if found is None or found.id is None:
                    self.scope.failed(kind, sid, "created, but its id is unknown", uncertain=True)
                    raise VerificationError(
                        f"{self.target.name} accepted the {kind} but it cannot be found"
                    )
                return str(found.id), None
            return str(created.id), created
        raise AssertionError("unreachable")

    # ----------------------------------------------------------------- invoices

    def _invoice_task(self, invoice: Invoice) -> None:
        sid = _source_id(invoice) or invoice.number
        try:
            result = self._migrate_invoice(sid, invoice)
        except (AuthenticationError, PermissionDenied):
            raise  # nothing else will work either: stop the run
        except InvoicingBridgeError as exc:
            reason = _reason(exc)
            entry = self.scope.get("invoice", sid)
            target_id = entry.target_id if entry is not None else None
            if not self.dry_run and not isinstance(exc, _AlreadyRecorded):
                # An intent stays an intent: a create may have been saved before this.
                self.scope.failed("invoice", sid, reason, number=invoice.number, uncertain=True)
            result = RecordResult("invoice", sid, FAILED, invoice.number, target_id, reason)
        self._emit(result)

    def _unrepresentable(self, invoice: Invoice) -> str | None:
        features = self.target.features
        name = self.target.name
        if invoice.status is InvoiceStatus.DRAFT and Feature.DRAFT_INVOICES not in features:
            return f"draft invoice: {name} cannot store drafts"
        if invoice.status is InvoiceStatus.VOID and Feature.VOID_INVOICES not in features:
            return f"void invoice: {name} cannot store void (cancelled) invoices"
        if _completed(invoice) and Feature.RECORD_PAYMENT not in features:
            return f"invoice has payments: {name} cannot record payments"
        if (
            invoice.tax_total
            and Feature.ITEM_TAX_DETAIL not in self.source.features
            and not any(item.taxes for item in invoice.items)
        ):
            # Perfex's API returns no per-line taxes: a target that computes tax from the
            # lines would store another total.
            return (
                f"{self.source.name} does not report the taxes of each line, so the tax "
                f"total {invoice.tax_total} cannot be carried over"
            )
        if invoice.amount_paid > 0 and not _completed(invoice):
            return (
                f"{self.source.name} says {invoice.amount_paid} was paid "
                "but lists no completed payment"
            )
        return None

    def _migrate_invoice(self, sid: str, listed: Invoice) -> RecordResult:
        invoice = self.source.full_invoice(listed)
        number = invoice.number
        fp = fingerprint(invoice)
        entry = self.scope.get("invoice", sid)
        existing = entry.target_id if entry is not None else None
        must_update = False
        if entry is not None and existing is not None and entry.fingerprint != fp:
            if not self.update:
                reason = "changed in the source since it was migrated (run with update)"
                return RecordResult("invoice", sid, CHANGED, number, existing, reason)
            must_update = True
        elif entry is not None and entry.done and existing is not None:
            return RecordResult("invoice", sid, SKIPPED, number, existing)

        problem = self._unrepresentable(invoice)
        if problem is not None:
            raise _RecordFailed(problem)
        if existing is None:
            # Refuse before writing anything (no client, no half-paid invoice left behind).
            self.target.validate_invoice(_probe(invoice))
        client = self._client_for(invoice)
        payload = _target_invoice(invoice, client)

        if self.dry_run:
            return self._dry_run_invoice(sid, invoice, payload, entry, must_update)

        outcome = CREATED
        answer: Invoice | Client | Payment | None = None
        if existing is None:
            if entry is not None:
                # An intent without a target id: the create may have been saved.
                found = self._find_existing(sid, payload)
                if found is not None:
                    existing, outcome = found, MATCHED
                    self.scope.target_known("invoice", sid, found)
                    if entry.fingerprint != fp and self.update:
                        # Saved from an older version of the source invoice.
                        payload.id = found
                        self.target.update_invoice(payload)
                        outcome = UPDATED
            if existing is None:
                existing, answer = self._create(
                    "invoice",
                    sid,
                    number,
                    fp,
                    lambda: self.target.create_invoice(payload),
                    lambda: self._lookup_invoice(sid, payload),
                )
                self.scope.target_known("invoice", sid, existing)
        elif must_update:
            payload.id = existing
            self.target.update_invoice(payload)
            outcome = UPDATED
        else:
            outcome = MATCHED  # created by an earlier run that stopped before finishing

        target_id = existing
        try:
            recorded = self._pay(sid, invoice, target_id)
            # A create's answer is the invoice as stored: no need to read it again unless
            # payments were recorded since.
            stored = answer if isinstance(answer, Invoice) and not recorded else None
            self._verify(invoice, target_id, stored)
        except InvoicingBridgeError as exc:
            self.scope.failed("invoice", sid, _reason(exc), number=number, target_id=target_id)
            raise _AlreadyRecorded(_reason(exc)) from exc
        self.scope.done("invoice", sid, target_id, number=number, fingerprint=fp)
        return RecordResult("invoice", sid, outcome, number, target_id)

    def _dry_run_invoice(
        self,
        sid: str,
        invoice: Invoice,
        payload: Invoice,
        entry: LedgerEntry | None,
        must_update: bool,
    ) -> RecordResult:
        for payment in _completed(invoice):
            psid = _payment_sid(sid, invoice, payment)
            pentry = self.scope.get("payment", psid)
            if pentry is None or not pentry.done:
                self._emit(RecordResult("payment", psid, WOULD_CREATE, invoice.number))
        target_id = entry.target_id if entry is not None else None
        if must_update:
            return RecordResult("invoice", sid, WOULD_UPDATE, invoice.number, target_id)
        if entry is not None and entry.target_id is None:
            found = self._find_existing(sid, payload)
            if found is not None:
                reason = "already in the target (found by number): would be adopted"
                return RecordResult("invoice", sid, SKIPPED, invoice.number, found, reason)
        if entry is not None and entry.target_id is not None:
            return RecordResult(
                "invoice", sid, WOULD_UPDATE, invoice.number, entry.target_id, "to finish"
            )
        return RecordResult("invoice", sid, WOULD_CREATE, invoice.number)

    def _client_for(self, invoice: Invoice) -> Client:
        """The invoice's client as the target knows it (id = the target's id)."""
        snapshot = invoice.client
        sid = snapshot.id or (snapshot.source.id if snapshot.source else None)
        if sid is None:
            sid = f"name:{identity_key('name', snapshot.name)}"
            target_id = self._resolve_client(sid, snapshot, full=True)
        else:
            target_id = self._resolve_client(sid, snapshot, full=False)
        client = _target_client(snapshot)
        client.id = target_id
        return client

    def _lookup_invoice(self, sid: str, wanted: Invoice) -> Invoice | None:
        """The target invoice an interrupted create of ``wanted`` may have left: found by
        number; a draft, which may have no number of its own in the target (Perfex), by
        client, issue date and total. Raises when the number belongs to another record."""
        found = None
        if Feature.FIND_INVOICE in self.target.features:
            found = self.target.find_invoice(wanted.number)
        if (
            found is None
            and wanted.status is InvoiceStatus.DRAFT
            and Feature.LIST_INVOICES in self.target.features
        ):
            drafts = self.target.iter_invoices(
                status=InvoiceStatus.DRAFT, client_id=wanted.client.id
            )
            for candidate in drafts:
                if (
                    candidate.id is not None
                    and candidate.issue_date == wanted.issue_date
                    and _cents(candidate.total) == _cents(wanted.total)
                    and self._owner("invoice", candidate.id, sid) is None
                ):
                    return candidate
        if found is None or found.id is None:
            return None
        owner = self._owner("invoice", found.id, sid)
        if owner is not None:
            raise _RecordFailed(
                f"number {wanted.number!r} is already used in the target by invoice "
                f"{found.id}, migrated from source invoice {owner}"
            )
        return found

    def _owner(self, kind: str, target_id: str, sid: str) -> str | None:
        """The other source record already mapped to ``target_id``, if any."""
        entry = self.scope.find_target(kind, target_id)
        return None if entry is None or entry.source_id == sid else entry.source_id

    def _find_existing(self, sid: str, wanted: Invoice) -> str | None:
        found = self._lookup_invoice(sid, wanted)
        return None if found is None or found.id is None else str(found.id)

    # ----------------------------------------------------------------- payments

    def _pay(self, sid: str, invoice: Invoice, target_id: str) -> int:
        """Record the invoice's payments not recorded yet; return how many were."""
        recorded = 0
        for payment in _completed(invoice):
            psid = _payment_sid(sid, invoice, payment)
            entry = self.scope.get("payment", psid)
            label = f"{invoice.number} {payment.amount}"
            if entry is not None and entry.done:
                self._emit(RecordResult("payment", psid, SKIPPED, label, entry.target_id))
                continue
            fp = fingerprint(payment)
            outcome = CREATED
            found = self._find_payment(psid, target_id, payment) if entry is not None else None
            if found is not None:
                outcome = MATCHED
                pid = found
            else:
                body = _target_payment(payment, target_id, invoice.currency)
                try:
                    pid, _ = self._create(
                        "payment",
                        psid,
                        label,
                        fp,
                        partial(self.target.record_payment, body),
                        partial(self._found_payment, psid, target_id, payment),
                    )
                except InvoicingBridgeError as exc:
                    reason = _reason(exc)
                    self._emit(RecordResult("payment", psid, FAILED, label, reason=reason))
                    raise _RecordFailed(f"payment {psid} ({payment.amount}): {reason}") from exc
            self.scope.done("payment", psid, pid, number=label, fingerprint=fp)
            self._emit(RecordResult("payment", psid, outcome, label, pid))
            recorded += 1
        return recorded

    def _target_payments(self, target_id: str) -> list[Payment]:
        if Feature.LIST_PAYMENTS in self.target.features:
            return list(self.target.iter_payments(invoice_id=target_id))
        return self.target.get_invoice(target_id).payments

    def _found_payment(self, psid: str, target_id: str, payment: Payment) -> Payment | None:
        """A payment in the target that is this one and is not mapped to another."""
        for candidate in self._target_payments(target_id):
            if candidate.id is None:
                continue
            if _cents(candidate.amount) != _cents(payment.amount):
                continue
            if Feature.PAYMENT_DATES in self.target.features and candidate.date != payment.date:
                continue  # (Daftra and Perfex date a payment when it is recorded)
            if (
                payment.reference
                and candidate.reference
                and candidate.reference != payment.reference
            ):
                continue
            if self._owner("payment", candidate.id, psid) is not None:
                continue
            return candidate
        return None

    def _find_payment(self, psid: str, target_id: str, payment: Payment) -> str | None:
        found = self._found_payment(psid, target_id, payment)
        return None if found is None or found.id is None else str(found.id)

    # ----------------------------------------------------------------- verification

    def _verify(self, source: Invoice, target_id: str, stored: Invoice | None = None) -> None:
        """Compare the target's invoice (``stored``, else read back) with the source's."""
        if not self.verify_fields:
            return
        if stored is None:
            if Feature.GET_INVOICE not in self.target.features:
                return
            stored = self.target.get_invoice(target_id)
        problems = []
        for name in self.verify_fields:
            want, got = getattr(source, name), getattr(stored, name)
            if _cents(want) != _cents(got):
                problems.append(f"{name}: source {want}, target {got}")
        for status in (InvoiceStatus.DRAFT, InvoiceStatus.VOID):
            if source.status is status and stored.status is not status:
                problems.append(f"status: source {status.value}, target {stored.status.value}")
        if problems:
            raise VerificationError(
                f"target invoice {target_id} does not agree with the source: " + "; ".join(problems)
            )


def _run(task: Callable[[], None]) -> None:
    task()


class _AlreadyRecorded(_RecordFailed):
    """Internal: a failure already written to the ledger (with its target id)."""


def _identity_keys(client: Client) -> list[str]:
    """Lock names for what a client can be matched on, in a fixed order (no deadlock)."""
    keys = {f"={name}:{identity_key(name, getattr(client, name))}" for name in CLIENT_MATCH_FIELDS}
    return sorted(key for key in keys if not key.endswith(":"))


def _client_name(client: Client | None) -> str | None:
    return None if client is None else client.name


def _completed(invoice: Invoice) -> list[Payment]:
    return [p for p in invoice.payments if p.status is PaymentStatus.COMPLETED]


def _payment_sid(invoice_sid: str, invoice: Invoice, payment: Payment) -> str:
    sid = _source_id(payment)
    if sid is not None:
        return sid
    return f"{invoice_sid}#{invoice.payments.index(payment)}"


_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _target_client(client: Client) -> Client:
    copy = Client.from_dict(client.to_dict())
    copy.id = None
    copy.source = None
    copy.raw = _EMPTY
    return copy


def _target_invoice(invoice: Invoice, client: Client) -> Invoice:
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


def _probe(invoice: Invoice) -> Invoice:
    """What ``validate_invoice`` checks before a create: the invoice as it will be sent,
    its client not created yet (no id), with the payments to be recorded after it."""
    probe = _target_invoice(invoice, _target_client(invoice.client))
    probe.payments = [_target_payment(p, None, invoice.currency) for p in _completed(invoice)]
    return probe


def _target_payment(payment: Payment, invoice_id: str | None, currency: str) -> Payment:
    copy = Payment.from_dict(payment.to_dict())
    copy.id = None
    copy.source = None
    copy.invoice_id = invoice_id
    copy.currency = copy.currency or currency
    copy.raw = _EMPTY
    return copy


# --------------------------------------------------------------------------- entry point


def migrate(
    source: InvoicingBackend,
    target: InvoicingBackend,
    *,
    since: dt.date | None = None,
    dry_run: bool = False,
    ledger: str | os.PathLike[str] | Ledger = DEFAULT_LEDGER,
    workers: int = 4,
    update: bool = False,
    client_match: Sequence[str] = CLIENT_MATCH_FIELDS,
    progress: Callable[[RecordResult], None] | None = None,
    max_attempts: int = 3,
    verify: Sequence[str] = VERIFIED_FIELDS,
    source_label: str | None = None,
    target_label: str | None = None,
) -> MigrationReport:
    """Move clients, invoices and their payments from ``source`` to ``target``.

    Safe to run again: records migrated and unchanged are skipped, records changed in the
    source since are reported (or updated with ``update=True``), and interrupted creates
    are looked up in the target by number before anything is created again.

    - ``since``: only invoices issued on or after this date (and their clients); without
      it every source client is migrated too, invoices or not.
    - ``dry_run``: map and validate every record (the target's ``validate_invoice`` when
      it has one), read the target, write nothing (not even the ledger).
    - ``ledger``: a path (default ``invoicing-bridge-ledger.sqlite`` in the working
      directory) or an open :class:`~invoicing_bridge.ledger.Ledger`.
    - ``workers``: threads migrating invoices concurrently.
    - ``client_match``: how a source client is found in the target before creating it:
      any of ``"email"``, ``"tax_number"``, ``"name"`` (case- and space-insensitive), in
      order; ``()`` always creates.
    - ``progress``: called with each :class:`RecordResult` as it happens (from worker
      threads).
    - ``max_attempts``: creates of one record whose answer was lost (the error's
      ``may_have_landed``), each after looking the record up in the target. Nothing else
      is tried again by the job: the backend's HTTP layer retries transient failures.
    - ``verify``: invoice fields read back from the target and compared to the cent.
    - ``source_label``/``target_label``: override the names stored in the ledger
      (default: each backend's ``label``).

    Records that fail are in ``report.failures`` and the run goes on. Raises
    :class:`~invoicing_bridge.exceptions.UnsupportedOperation` when the target cannot
    create invoices at all, and lets errors out that stop the run (the source listing
    failing after the HTTP layer's retries, an authentication error, a bad ledger file).
    """
    unknown = set(client_match) - set(CLIENT_MATCH_FIELDS)
    if unknown:
        raise ValueError(f"client_match: unknown criteria {sorted(unknown)}")
    if workers < 1:
        raise ValueError("workers must be at least 1")
    source_name = source_label or source.label
    target_name = target_label or target.label
    report = MigrationReport(source=source_name, target=target_name, dry_run=dry_run, update=update)
    with ExitStack() as stack:
        if isinstance(ledger, Ledger):
            book = ledger
        elif dry_run and not Path(ledger).exists():
            book = stack.enter_context(Ledger(":memory:"))  # a dry run creates no file
        else:
            book = stack.enter_context(Ledger(ledger))
        run_id = None if dry_run else book.start_run(source=source_name, target=target_name)
        job = _Migration(
            source,
            target,
            book.scope(source_name, target_name),
            report,
            since=since,
            dry_run=dry_run,
            update=update,
            workers=workers,
            client_match=client_match,
            progress=progress,
            max_attempts=max_attempts,
            verify=verify,
        )
        try:
            job.run()
        finally:
            report.finished_at = dt.datetime.now(dt.UTC)
            if run_id is not None:
                book.finish_run(run_id, report.to_dict(records=False))
    return report
