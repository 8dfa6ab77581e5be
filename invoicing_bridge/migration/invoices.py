"""The invoice stage: each source invoice completed, checked, created (or adopted, or
updated) in the target with its client and payments, then read back and verified."""

from __future__ import annotations

from ..backends.base import Feature
from ..exceptions import AuthenticationError, InvoicingBridgeError, PermissionDenied
from ..models import Client, Invoice, InvoiceStatus, Payment
from .clients import ClientStage
from .job import AlreadyRecorded, Job, RecordFailed, VerificationError, cents, reason
from .ledger import LedgerEntry, fingerprint
from .payloads import completed, probe, source_id, target_invoice
from .payments import PaymentStage
from .report import (
    CHANGED,
    CREATED,
    FAILED,
    MATCHED,
    SKIPPED,
    UPDATED,
    WOULD_CREATE,
    WOULD_UPDATE,
    RecordResult,
)

__all__ = ["VERIFIED_FIELDS", "InvoiceStage"]

#: Fields of an invoice read back from the target and compared with the source.
VERIFIED_FIELDS = ("total", "subtotal", "tax_total", "amount_paid")


class InvoiceStage:
    """Migrates invoices, asking the client stage for their clients and the payment stage
    to record their payments."""

    def __init__(self, job: Job, clients: ClientStage, payments: PaymentStage) -> None:
        self.job = job
        self.clients = clients
        self.payments = payments

    def task(self, invoice: Invoice) -> None:
        """Migrate one invoice of the source listing and report it."""
        job = self.job
        sid = source_id(invoice) or invoice.number
        try:
            result = self._migrate(sid, invoice)
        except (AuthenticationError, PermissionDenied):
            raise  # nothing else will work either: stop the run
        except InvoicingBridgeError as exc:
            why = reason(exc)
            entry = job.scope.get("invoice", sid)
            target_id = entry.target_id if entry is not None else None
            if not job.dry_run and not isinstance(exc, AlreadyRecorded):
                # An intent stays an intent: a create may have been saved before this.
                job.scope.failed("invoice", sid, why, number=invoice.number, uncertain=True)
            result = RecordResult("invoice", sid, FAILED, invoice.number, target_id, why)
        job.emit(result)

    def _unrepresentable(self, invoice: Invoice) -> str | None:
        source, target = self.job.source, self.job.target
        features = target.features
        name = target.name
        if invoice.status is InvoiceStatus.DRAFT and Feature.DRAFT_INVOICES not in features:
            return f"draft invoice: {name} cannot store drafts"
        if invoice.status is InvoiceStatus.VOID and Feature.VOID_INVOICES not in features:
            return f"void invoice: {name} cannot store void (cancelled) invoices"
        if completed(invoice) and Feature.RECORD_PAYMENT not in features:
            return f"invoice has payments: {name} cannot record payments"
        if (
            invoice.tax_total
            and Feature.ITEM_TAX_DETAIL not in source.features
            and not any(item.taxes for item in invoice.items)
        ):
            # Perfex's API returns no per-line taxes: a target that computes tax from the
            # lines would store another total.
            return (
                f"{source.name} does not report the taxes of each line, so the tax "
                f"total {invoice.tax_total} cannot be carried over"
            )
        if invoice.amount_paid > 0 and not completed(invoice):
            return (
                f"{source.name} says {invoice.amount_paid} was paid but lists no completed payment"
            )
        return None

    def _migrate(self, sid: str, listed: Invoice) -> RecordResult:
        job = self.job
        invoice = job.source.full_invoice(listed)
        number = invoice.number
        fp = fingerprint(invoice)
        entry = job.scope.get("invoice", sid)
        existing = entry.target_id if entry is not None else None
        must_update = False
        if entry is not None and existing is not None and entry.fingerprint != fp:
            if not job.update:
                why = "changed in the source since it was migrated (run with update)"
                return RecordResult("invoice", sid, CHANGED, number, existing, why)
            must_update = True
        elif entry is not None and entry.done and existing is not None:
            return RecordResult("invoice", sid, SKIPPED, number, existing)

        problem = self._unrepresentable(invoice)
        if problem is not None:
            raise RecordFailed(problem)
        if existing is None:
            # Refuse before writing anything (no client, no half-paid invoice left behind).
            job.target.validate_invoice(probe(invoice))
        client = self.clients.for_invoice(invoice)
        payload = target_invoice(invoice, client)

        if job.dry_run:
            return self._dry_run(sid, invoice, payload, entry, must_update)

        outcome = CREATED
        answer: Invoice | Client | Payment | None = None
        if existing is None:
            if entry is not None:
                # An intent without a target id: the create may have been saved.
                found = self._find_existing(sid, payload)
                if found is not None:
                    existing, outcome = found, MATCHED
                    job.scope.target_known("invoice", sid, found)
                    if entry.fingerprint != fp and job.update:
                        # Saved from an older version of the source invoice.
                        payload.id = found
                        job.target.update_invoice(payload)
                        outcome = UPDATED
            if existing is None:
                existing, answer = job.create(
                    "invoice",
                    sid,
                    number,
                    fp,
                    lambda: job.target.create_invoice(payload),
                    lambda: self._lookup(sid, payload),
                )
                job.scope.target_known("invoice", sid, existing)
        elif must_update:
            payload.id = existing
            job.target.update_invoice(payload)
            outcome = UPDATED
        else:
            outcome = MATCHED  # created by an earlier run that stopped before finishing

        target_id = existing
        try:
            recorded = self.payments.pay(sid, invoice, target_id)
            # A create's answer is the invoice as stored: no need to read it again unless
            # payments were recorded since.
            stored = answer if isinstance(answer, Invoice) and not recorded else None
            self._verify(invoice, target_id, stored)
        except InvoicingBridgeError as exc:
            job.scope.failed("invoice", sid, reason(exc), number=number, target_id=target_id)
            raise AlreadyRecorded(reason(exc)) from exc
        job.scope.done("invoice", sid, target_id, number=number, fingerprint=fp)
        return RecordResult("invoice", sid, outcome, number, target_id)

    def _dry_run(
        self,
        sid: str,
        invoice: Invoice,
        payload: Invoice,
        entry: LedgerEntry | None,
        must_update: bool,
    ) -> RecordResult:
        self.payments.dry_run(sid, invoice)
        target_id = entry.target_id if entry is not None else None
        if must_update:
            return RecordResult("invoice", sid, WOULD_UPDATE, invoice.number, target_id)
        if entry is not None and entry.target_id is None:
            found = self._find_existing(sid, payload)
            if found is not None:
                why = "already in the target (found by number): would be adopted"
                return RecordResult("invoice", sid, SKIPPED, invoice.number, found, why)
        if entry is not None and entry.target_id is not None:
            return RecordResult(
                "invoice", sid, WOULD_UPDATE, invoice.number, entry.target_id, "to finish"
            )
        return RecordResult("invoice", sid, WOULD_CREATE, invoice.number)

    def _lookup(self, sid: str, wanted: Invoice) -> Invoice | None:
        """The target invoice an interrupted create of ``wanted`` may have left: found by
        number; a draft, which may have no number of its own in the target (Perfex), by
        client, issue date and total. Raises when the number belongs to another record."""
        job = self.job
        target = job.target
        found = None
        if Feature.FIND_INVOICE in target.features:
            found = target.find_invoice(wanted.number)
        if (
            found is None
            and wanted.status is InvoiceStatus.DRAFT
            and Feature.LIST_INVOICES in target.features
        ):
            drafts = target.iter_invoices(status=InvoiceStatus.DRAFT, client_id=wanted.client.id)
            for candidate in drafts:
                if (
                    candidate.id is not None
                    and candidate.issue_date == wanted.issue_date
                    and cents(candidate.total) == cents(wanted.total)
                    and job.owner("invoice", candidate.id, sid) is None
                ):
                    return candidate
        if found is None or found.id is None:
            return None
        owner = job.owner("invoice", found.id, sid)
        if owner is not None:
            raise RecordFailed(
                f"number {wanted.number!r} is already used in the target by invoice "
                f"{found.id}, migrated from source invoice {owner}"
            )
        return found

    def _find_existing(self, sid: str, wanted: Invoice) -> str | None:
        found = self._lookup(sid, wanted)
        return None if found is None or found.id is None else str(found.id)

    def _verify(self, source: Invoice, target_id: str, stored: Invoice | None = None) -> None:
        """Compare the target's invoice (``stored``, else read back) with the source's."""
        job = self.job
        if not job.verify_fields:
            return
        if stored is None:
            if Feature.GET_INVOICE not in job.target.features:
                return
            stored = job.target.get_invoice(target_id)
        problems = []
        for name in job.verify_fields:
            want, got = getattr(source, name), getattr(stored, name)
            if cents(want) != cents(got):
                problems.append(f"{name}: source {want}, target {got}")
        for status in (InvoiceStatus.DRAFT, InvoiceStatus.VOID):
            if source.status is status and stored.status is not status:
                problems.append(f"status: source {status.value}, target {stored.status.value}")
        if problems:
            raise VerificationError(
                f"target invoice {target_id} does not agree with the source: " + "; ".join(problems)
            )
