"""The invoice stage: each source invoice completed, planned (mapped, transformed and
validated by the target's rules: :mod:`~invoicing_bridge.migration.plan`), created (or
adopted, or updated) in the target with its client and payments, then read back and
verified against the plan."""

from __future__ import annotations

from ..backends.base import Feature
from ..exceptions import AuthenticationError, InvoicingBridgeError, PermissionDenied
from ..models import Client, Invoice, InvoiceStatus, Payment
from .clients import ClientStage
from .job import CENT, AlreadyRecorded, Job, RecordFailed, cents, reason
from .ledger import LedgerEntry, changed_fields, field_prints, fingerprint
from .payloads import completed, payment_sid, source_id
from .payments import PaymentStage
from .plan import InvoicePlan, Planner
from .presence import gone_reason
from .report import (
    CHANGED,
    CREATED,
    FAILED,
    MATCHED,
    NEEDS_ATTENTION,
    SKIPPED,
    TRANSFORMED,
    UPDATED,
    WOULD_CREATE,
    WOULD_TRANSFORM,
    WOULD_UPDATE,
    Change,
    RecordResult,
)

__all__ = ["VERIFIED_FIELDS", "InvoiceStage"]

#: Fields of an invoice read back from the target and compared with the source.
VERIFIED_FIELDS = ("total", "subtotal", "tax_total", "amount_paid")


class InvoiceStage:
    """Migrates invoices, asking the client stage for their clients and the payment stage
    to record their payments."""

    def __init__(
        self, job: Job, clients: ClientStage, payments: PaymentStage, planner: Planner
    ) -> None:
        self.job = job
        self.clients = clients
        self.payments = payments
        self.planner = planner

    def task(self, invoice: Invoice, may_defer: bool = False) -> bool:
        """Migrate one invoice of the source listing and report it. ``may_defer``: return
        False, doing nothing, when its client is being migrated by another worker now
        (the invoice would wait for it)."""
        if may_defer and self.clients.in_progress(invoice):
            return False
        job = self.job
        sid = source_id(invoice) or invoice.number
        try:
            result = self._migrate(sid, invoice)
        except (AuthenticationError, PermissionDenied):
            raise  # nothing else will work either: stop the run
        except NeedsAttention as exc:
            result = RecordResult(
                "invoice",
                sid,
                NEEDS_ATTENTION,
                invoice.number,
                exc.target_id,
                reason(exc),
                tuple(exc.changes),
            )
        except InvoicingBridgeError as exc:
            why = reason(exc)
            entry = job.scope.get("invoice", sid)
            target_id = entry.target_id if entry is not None else None
            if not job.dry_run and not isinstance(exc, AlreadyRecorded):
                # An intent stays an intent: a create may have been saved before this.
                job.scope.failed("invoice", sid, why, number=invoice.number, uncertain=True)
            result = RecordResult("invoice", sid, FAILED, invoice.number, target_id, why)
        job.emit(result)
        return True

    def _repay(self, sid: str, invoice: Invoice, target_id: str) -> RecordResult:
        """An invoice done before, still in the target, some of whose payments an earlier
        run found gone (and forgot): they are recorded again and the invoice verified; the
        invoice itself is ``skipped`` (not written), its payments say what was recorded."""
        job = self.job
        why = "payments the target had lost recorded again"
        plan = self.planner.plan(invoice)
        if plan.skip is not None:  # (not planned: nothing to record)
            return RecordResult("invoice", sid, SKIPPED, invoice.number, target_id, plan.skip)
        if job.dry_run:
            self.payments.dry_run(sid, invoice, plan)
            return RecordResult("invoice", sid, SKIPPED, invoice.number, target_id, why)
        plan.invoice.client = self.clients.for_invoice(invoice)
        try:
            self.payments.pay(sid, invoice, target_id, plan)
            problems = self._verify(invoice, plan, target_id)
        except InvoicingBridgeError as exc:
            job.scope.failed(
                "invoice", sid, reason(exc), number=invoice.number, target_id=target_id
            )
            raise AlreadyRecorded(reason(exc)) from exc
        if problems:
            why = f"target invoice {target_id} disagrees with the plan: " + "; ".join(problems)
            job.scope.failed("invoice", sid, why, number=invoice.number, target_id=target_id)
            raise NeedsAttention(why, target_id, list(plan.changes))
        return RecordResult("invoice", sid, SKIPPED, invoice.number, target_id, why)

    def _gone(self, sid: str, invoice: Invoice, target_id: str) -> RecordResult:
        """A record done before that the target no longer holds (deleted there, or the
        target was reset): reported, and forgotten by the ledger with its payments so
        that the next run creates it anew (a dry run only reports)."""
        job = self.job
        why = gone_reason(job.target.name, "invoice", target_id)
        payments = [payment_sid(sid, invoice, p) for p in completed(invoice)]
        if not job.dry_run:
            for psid in payments:
                job.scope.forget("payment", psid)
            job.scope.forget("invoice", sid)
        self.payments.not_migrated(sid, invoice, FAILED, f"its invoice is {why}")
        return RecordResult("invoice", sid, FAILED, invoice.number, target_id, why)

    def _migrate(self, sid: str, listed: Invoice) -> RecordResult:
        job = self.job
        invoice = job.source.full_invoice(listed)
        number = invoice.number
        fp = fingerprint(invoice)
        entry = job.scope.get("invoice", sid)
        existing = entry.target_id if entry is not None else None
        must_update = False
        parts = field_prints(invoice)
        changed = ""
        if entry is not None and existing is not None and entry.fingerprint != fp:
            fields = changed_fields(entry.parts, parts)
            changed = f": {', '.join(fields)}" if fields else ""
            if not job.update:
                why = f"changed in the source since it was migrated{changed} (run with update)"
                return RecordResult("invoice", sid, CHANGED, number, existing, why)
            must_update = True
        elif entry is not None and entry.done and existing is not None:
            if not job.presence.holds("invoice", existing):
                return self._gone(sid, invoice, existing)
            if self.payments.already_done(sid, invoice):
                return RecordResult("invoice", sid, SKIPPED, number, existing)
            return self._repay(sid, invoice, existing)

        try:
            plan = self.planner.plan(invoice)
        except RecordFailed as exc:
            self.payments.not_migrated(sid, invoice, FAILED, f"its invoice failed: {exc}")
            raise
        if plan.skip is not None:
            self.payments.not_migrated(
                sid, invoice, SKIPPED, f"its invoice is skipped: {plan.skip}"
            )
            return RecordResult("invoice", sid, SKIPPED, number, existing, plan.skip)
        client = self.clients.for_invoice(invoice)
        payload = plan.invoice
        payload.client = client

        if job.dry_run:
            return self._dry_run(sid, invoice, plan, entry, must_update)

        outcome = CREATED
        answer: Invoice | Client | Payment | None = None
        #: The planned payments the create recorded (by index), as the target answered.
        recorded_with: dict[int, Payment] = {}
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
                sent = self.payments.with_create(sid, invoice, plan)
                existing, answer = job.create(
                    "invoice",
                    sid,
                    number,
                    fp,
                    lambda: job.target.create_invoice(sent),
                    lambda: self._lookup(sid, payload),
                )
                job.scope.target_known("invoice", sid, existing)
                if sent is not payload and isinstance(answer, Invoice):
                    recorded_with = self.payments.matched(plan, answer)
        elif must_update:
            payload.id = existing
            job.target.update_invoice(payload)
            outcome = UPDATED
        else:
            outcome = MATCHED  # created by an earlier run that stopped before finishing

        target_id = existing
        changes = list(plan.changes)
        try:
            recorded, paid_changes = self.payments.pay(sid, invoice, target_id, plan, recorded_with)
            changes.extend(paid_changes)
            # A create's answer is the invoice as stored (its payments too, when it recorded
            # them): no need to read it again unless payments were recorded since.
            stored = answer if isinstance(answer, Invoice) and not recorded else None
            problems = self._verify(invoice, plan, target_id, stored)
        except InvoicingBridgeError as exc:
            job.scope.failed("invoice", sid, reason(exc), number=number, target_id=target_id)
            raise AlreadyRecorded(reason(exc)) from exc
        note = f"changed in the source{changed}" if outcome == UPDATED and changed else None
        if problems:
            # Repair what was written: the planned invoice again, then read back again.
            repaired = "repaired after verification (" + "; ".join(problems) + ")"
            note = f"{note}; {repaired}" if note else repaired
            problems = self._repair(invoice, plan, target_id)
        if problems:
            why = f"target invoice {target_id} disagrees with the plan: " + "; ".join(problems)
            job.scope.failed("invoice", sid, why, number=number, target_id=target_id)
            raise NeedsAttention(why, target_id, changes)
        # The plan decides (a dry run predicts it); what the target did to the payments
        # (a method mapped to another) is listed too.
        if outcome == CREATED and any(c.rule != "lost" for c in plan.changes):
            outcome = TRANSFORMED
        job.scope.done(
            "invoice",
            sid,
            target_id,
            number=number,
            fingerprint=fp,
            outcome=outcome,
            changes=[c.to_dict() for c in changes],
            parts=parts,
        )
        return RecordResult("invoice", sid, outcome, number, target_id, note, tuple(changes))

    def _repair(self, source: Invoice, plan: InvoicePlan, target_id: str) -> list[str]:
        """Write the planned invoice over ``target_id`` once (when the target can update
        invoices) and verify again; the differences left (all of them when it cannot)."""
        job = self.job
        if Feature.UPDATE_INVOICE not in job.target.features:
            return self._verify(source, plan, target_id)
        payload = plan.invoice.copy(id=target_id)
        try:
            job.target.update_invoice(payload)
        except InvoicingBridgeError as exc:
            return [*self._verify(source, plan, target_id), f"repair failed: {reason(exc)}"]
        return self._verify(source, plan, target_id)

    def _dry_run(
        self,
        sid: str,
        invoice: Invoice,
        plan: InvoicePlan,
        entry: LedgerEntry | None,
        must_update: bool,
    ) -> RecordResult:
        self.payments.dry_run(sid, invoice, plan)
        target_id = entry.target_id if entry is not None else None
        changes = tuple(plan.changes)
        number = invoice.number
        if must_update:
            return RecordResult("invoice", sid, WOULD_UPDATE, number, target_id, changes=changes)
        if entry is not None and entry.target_id is None:
            found = self._find_existing(sid, plan.invoice)
            if found is not None:
                why = "already in the target (found by number): would be adopted"
                return RecordResult("invoice", sid, SKIPPED, number, found, why, changes)
        if entry is not None and entry.target_id is not None:
            return RecordResult(
                "invoice", sid, WOULD_UPDATE, number, entry.target_id, "to finish", changes
            )
        outcome = WOULD_TRANSFORM if any(c.rule != "lost" for c in changes) else WOULD_CREATE
        return RecordResult("invoice", sid, outcome, number, changes=changes)

    def _lookup(self, sid: str, wanted: Invoice) -> Invoice | None:
        """The target invoice an interrupted create of ``wanted`` may have left: found by
        number; a draft, which may have no number of its own in the target (Perfex), by
        client, issue date and total. Raises when the number belongs to another record."""
        job = self.job
        target = job.target
        found = None
        if Feature.FIND_INVOICE in target.features and wanted.number:
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

    def _verify(
        self, source: Invoice, plan: InvoicePlan, target_id: str, stored: Invoice | None = None
    ) -> list[str]:
        """How the target's invoice (``stored``, else read back) differs from the plan,
        each difference exact: the verified fields, the total and amount paid against the
        source's too (to the cent), the status of drafts and void invoices, the client."""
        job = self.job
        if not job.verify_fields:
            return []
        if stored is None:
            if Feature.GET_INVOICE not in job.target.features:
                return []
            stored = job.target.get_invoice(target_id)
        wanted = plan.invoice
        problems = []
        for name in job.verify_fields:
            want = plan.amount_paid if name == "amount_paid" else getattr(wanted, name, None)
            if want is None:
                continue
            got = getattr(stored, name)
            if cents(want) != cents(got):
                problems.append(f"{name}: planned {want}, target {got} (off by {got - want})")
        skipped_payments = job.policy.get("payments") == "skip"
        for name in ("total", "amount_paid"):
            if name == "amount_paid" and skipped_payments:
                continue  # left out on purpose (policy payments=skip)
            if name in job.verify_fields:
                want, got = getattr(source, name), getattr(stored, name)
                if (
                    name == "amount_paid"
                    and cents(got) == cents(plan.amount_paid)
                    and abs(got - want) < CENT
                ):
                    continue  # payments rounded to keep the balance due (amount_rounding)
                if cents(want) != cents(got) and not any(p.startswith(name) for p in problems):
                    problems.append(f"{name}: source {want}, target {got} (off by {got - want})")
        for status in (InvoiceStatus.DRAFT, InvoiceStatus.VOID):
            if source.status is status and stored.status is not status:
                problems.append(f"status: source {status.value}, target {stored.status.value}")
        client_id = wanted.client.id
        if client_id is not None and stored.client.id is not None and stored.client.id != client_id:
            problems.append(f"client: planned {client_id}, target {stored.client.id}")
        return problems


class NeedsAttention(AlreadyRecorded):
    """Internal: written, but the target disagrees with the plan (recorded in the ledger)."""

    def __init__(self, message: str, target_id: str, changes: list[Change]) -> None:
        super().__init__(message)
        self.target_id = target_id
        self.changes = changes
