"""The payment stage: an invoice's completed payments recorded in the target once each,
after the invoice, and found again (not recorded twice) when an answer was lost."""

from __future__ import annotations

from functools import partial

from ..backends.base import Feature
from ..exceptions import InvoicingBridgeError
from ..models import Invoice, Payment
from .job import Job, RecordFailed, cents, reason
from .ledger import fingerprint
from .payloads import completed, payment_sid, target_payment
from .report import CREATED, FAILED, MATCHED, SKIPPED, WOULD_CREATE, RecordResult

__all__ = ["PaymentStage"]


class PaymentStage:
    """Records payments of migrated invoices."""

    def __init__(self, job: Job) -> None:
        self.job = job

    def pay(self, sid: str, invoice: Invoice, target_id: str) -> int:
        """Record the invoice's payments not recorded yet; return how many were."""
        job = self.job
        recorded = 0
        for payment in completed(invoice):
            psid = payment_sid(sid, invoice, payment)
            entry = job.scope.get("payment", psid)
            label = f"{invoice.number} {payment.amount}"
            if entry is not None and entry.done:
                job.emit(RecordResult("payment", psid, SKIPPED, label, entry.target_id))
                continue
            fp = fingerprint(payment)
            outcome = CREATED
            found = self._find(psid, target_id, payment) if entry is not None else None
            if found is not None:
                outcome = MATCHED
                pid = found
            else:
                body = target_payment(payment, target_id, invoice.currency)
                try:
                    pid, _ = job.create(
                        "payment",
                        psid,
                        label,
                        fp,
                        partial(job.target.record_payment, body),
                        partial(self._found, psid, target_id, payment),
                    )
                except InvoicingBridgeError as exc:
                    why = reason(exc)
                    job.emit(RecordResult("payment", psid, FAILED, label, reason=why))
                    raise RecordFailed(f"payment {psid} ({payment.amount}): {why}") from exc
            job.scope.done("payment", psid, pid, number=label, fingerprint=fp)
            job.emit(RecordResult("payment", psid, outcome, label, pid))
            recorded += 1
        return recorded

    def dry_run(self, sid: str, invoice: Invoice) -> None:
        """Report the payments a real run would record."""
        for payment in completed(invoice):
            psid = payment_sid(sid, invoice, payment)
            entry = self.job.scope.get("payment", psid)
            if entry is None or not entry.done:
                self.job.emit(RecordResult("payment", psid, WOULD_CREATE, invoice.number))

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
