"""The payment stage: an invoice's completed payments recorded in the target once each,
after the invoice, and found again (not recorded twice) when an answer was lost."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from functools import partial

from ..backends.base import Feature
from ..exceptions import InvoicingBridgeError
from ..models import Client, Invoice, InvoiceStatus, Payment, PaymentStatus
from .job import Job, RecordFailed, cents, reason
from .ledger import fingerprint
from .payloads import completed, payment_sid
from .plan import InvoicePlan
from .presence import gone_reason
from .report import (
    CREATED,
    FAILED,
    MATCHED,
    SKIPPED,
    TRANSFORMED,
    WOULD_CREATE,
    Change,
    RecordResult,
)

__all__ = ["PaymentStage"]


class PaymentStage:
    """Records payments of migrated invoices."""

    def __init__(self, job: Job) -> None:
        self.job = job

    def with_create(self, sid: str, invoice: Invoice, plan: InvoicePlan) -> Invoice:
        """What to create for ``plan``: its invoice, with the planned payments when the
        target records them with the create for fewer requests
        (:attr:`~invoicing_bridge.backends.base.Feature.CREATE_WITH_PAYMENTS`; Daftra takes
        them in the create's own request). Each such payment's intent is written first:
        should the create's answer be lost, the next step (or run) looks every one of them
        up in the target before recording it, as after any lost payment answer."""
        job = self.job
        payload = plan.invoice
        if (
            not plan.payments
            or Feature.CREATE_WITH_PAYMENTS not in job.target.features
            or payload.status is InvoiceStatus.DRAFT
        ):
            return payload
        for payment, planned in zip(plan.sources, plan.payments, strict=True):
            psid = payment_sid(sid, invoice, payment)
            entry = job.scope.get("payment", psid)
            if entry is not None and entry.done:
                return payload  # a payment done before: record the rest one by one
            job.scope.intent(
                "payment",
                psid,
                number=f"{invoice.number} {planned.amount}",
                fingerprint=fingerprint(payment),
            )
        payments = [
            dataclasses.replace(p, id=None, invoice_id=None, status=PaymentStatus.COMPLETED)
            for p in plan.payments
        ]
        return payload.copy(payments=payments)

    def matched(self, plan: InvoicePlan, answer: Invoice) -> dict[int, Payment]:
        """The planned payments found in the create's ``answer``, by index: each planned
        payment takes the first payment of the answer, unused so far, of the same amount
        to the cent (of the same method when there is one). The rest are recorded, after
        a look-up, by :meth:`pay`."""
        free = [p for p in answer.payments if p.id is not None]
        found: dict[int, Payment] = {}
        for index, planned in enumerate(plan.payments):
            same = [p for p in free if cents(p.amount) == cents(planned.amount)]
            choice = next((p for p in same if p.method == planned.method), None)
            choice = choice or (same[0] if same else None)
            if choice is not None:
                free.remove(choice)
                found[index] = choice
        return found

    def pay(
        self,
        sid: str,
        invoice: Invoice,
        target_id: str,
        plan: InvoicePlan,
        recorded_with: Mapping[int, Payment] | None = None,
    ) -> tuple[int, list[Change]]:
        """Record the planned payments not recorded yet (those the create recorded,
        ``recorded_with`` by index, are only written to the ledger); return how many were
        recorded here, and what the target stored otherwise than it was sent (a method
        it maps to another)."""
        job = self.job
        recorded = 0
        changes: list[Change] = []
        with_create = recorded_with or {}
        for index, (payment, planned) in enumerate(zip(plan.sources, plan.payments, strict=True)):
            psid = payment_sid(sid, invoice, payment)
            entry = job.scope.get("payment", psid)
            label = f"{invoice.number} {planned.amount}"
            if entry is not None and entry.done:
                job.emit(RecordResult("payment", psid, SKIPPED, label, entry.target_id))
                continue
            fp = fingerprint(payment)
            outcome = CREATED
            answer: Invoice | Client | Payment | None = None
            found = None
            if index not in with_create and entry is not None:
                found = self._find(psid, target_id, planned)
            if index in with_create:
                answer = with_create[index]  # recorded by the create itself
                pid = str(answer.id)
            elif found is not None:
                outcome = MATCHED
                pid = found
            else:
                body = Payment.from_dict(planned.to_dict())
                body.invoice_id = target_id
                try:
                    pid, answer = job.create(
                        "payment",
                        psid,
                        label,
                        fp,
                        partial(job.target.record_payment, body),
                        partial(self._found, psid, target_id, planned),
                    )
                except InvoicingBridgeError as exc:
                    why = reason(exc)
                    job.emit(RecordResult("payment", psid, FAILED, label, reason=why))
                    raise RecordFailed(f"payment {psid} ({planned.amount}): {why}") from exc
            own = [
                Change(c.field.replace(f"payments[{index}].", ""), c.old, c.new, c.rule, c.note)
                for c in plan.changes
                if c.field.startswith(f"payments[{index}].")
            ]
            if isinstance(answer, Payment) and answer.method != planned.method:
                change = Change(
                    "method", planned.method, answer.method, "target", "the target's own mode"
                )
                own.append(change)
                changes.append(
                    Change(
                        f"payments[{index}].method", change.old, change.new, "target", change.note
                    )
                )
            if outcome == CREATED and any(c.rule != "lost" for c in own):
                outcome = TRANSFORMED
            job.scope.done(
                "payment",
                psid,
                pid,
                number=label,
                fingerprint=fp,
                outcome=outcome,
                changes=[c.to_dict() for c in own],
            )
            job.emit(RecordResult("payment", psid, outcome, label, pid, changes=tuple(own)))
            if index not in with_create:
                recorded += 1
        return recorded, changes

    def dry_run(self, sid: str, invoice: Invoice, plan: InvoicePlan) -> None:
        """Report the payments a real run would record."""
        for payment, planned in zip(plan.sources, plan.payments, strict=True):
            psid = payment_sid(sid, invoice, payment)
            entry = self.job.scope.get("payment", psid)
            if entry is None or not entry.done:
                label = f"{invoice.number} {planned.amount}"
                self.job.emit(RecordResult("payment", psid, WOULD_CREATE, label))

    def already_done(self, sid: str, invoice: Invoice) -> bool:
        """Count the payments of an invoice migrated before and still in the target, and
        say whether there is nothing left to record.

        A payment the ledger marks done is checked against the target's one listing of
        payments (:class:`~invoicing_bridge.migration.presence.Presence`): one the target
        lost is reported ``failed`` (gone) and forgotten, so the next run records it
        again; the others are ``skipped``. Returns False, counting nothing, when a payment
        has no done row (forgotten as gone by an earlier run): the caller records it with
        :meth:`pay`, which counts them all.
        """
        job = self.job
        psids = [(p, payment_sid(sid, invoice, p)) for p in completed(invoice)]
        entries = [(p, psid, job.scope.get("payment", psid)) for p, psid in psids]
        if any(entry is None or not entry.done for _, _, entry in entries):
            return False
        for payment, psid, entry in entries:
            assert entry is not None
            label = f"{invoice.number} {payment.amount}"
            if entry.target_id and not job.presence.holds("payment", entry.target_id):
                why = gone_reason(job.target.name, "payment", entry.target_id)
                if not job.dry_run:
                    job.scope.forget("payment", psid)
                job.emit(RecordResult("payment", psid, FAILED, label, entry.target_id, why))
                continue
            job.emit(RecordResult("payment", psid, SKIPPED, label, entry.target_id))
        return True

    def not_migrated(self, sid: str, invoice: Invoice, outcome: str, why: str) -> None:
        """Count the completed payments of an invoice that is not migrated (failed or
        skipped), so that every source payment has an outcome."""
        for payment in completed(invoice):
            psid = payment_sid(sid, invoice, payment)
            entry = self.job.scope.get("payment", psid)
            if entry is not None and entry.done:
                continue
            label = f"{invoice.number} {payment.amount}"
            self.job.emit(RecordResult("payment", psid, outcome, label, reason=why))

    def _target_payments(self, target_id: str) -> list[Payment]:
        target = self.job.target
        if Feature.LIST_PAYMENTS in target.features:
            return list(target.iter_payments(invoice_id=target_id))
        return target.get_invoice(target_id).payments

    def _found(self, psid: str, target_id: str, payment: Payment) -> Payment | None:
        """A payment in the target that is this one and is not mapped to another."""
        dated = Feature.PAYMENT_DATES in self.job.target.features
        for candidate in self._target_payments(target_id):
            if candidate.id is None:
                continue
            if cents(candidate.amount) != cents(payment.amount):
                continue
            if dated and candidate.date != payment.date:
                continue  # (Daftra and Perfex date a payment when it is recorded)
            if (
                payment.reference
                and candidate.reference
                and candidate.reference != payment.reference
            ):
                continue
            if self.job.owner("payment", candidate.id, psid) is not None:
                continue
            return candidate
        return None

    def _find(self, psid: str, target_id: str, payment: Payment) -> str | None:
        found = self._found(psid, target_id, payment)
        return None if found is None or found.id is None else str(found.id)
