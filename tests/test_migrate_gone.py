"""A re-run checks, with one listing, that the target still holds what was migrated."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from invoicing_bridge import Client, Invoice, LineItem, Payment, migrate
from invoicing_bridge.backends.memory import MemoryBackend


def _source() -> MemoryBackend:
    source = MemoryBackend(label="source")
    client = source.create_client(Client(name="Delta Foods", email="books@delta.test"))
    for n in (1, 2, 3):
        made = source.create_invoice(
            Invoice.build(
                number=f"INV-{n}",
                issue_date=dt.date(2026, 1, n),
                currency="EGP",
                client=client,
                items=[LineItem("Work", Decimal("1"), Decimal("100.00"))],
            )
        )
        source.record_payment(
            Payment(Decimal("40.00"), dt.date(2026, 1, n), "cash", invoice_id=made.id)
        )
    return source


def test_a_record_deleted_in_the_target_is_reported_gone_then_created_anew(
    tmp_path: Path,
) -> None:
    ledger = tmp_path / "l.sqlite"
    source, target = _source(), MemoryBackend(label="target")
    assert migrate(source, target, ledger=ledger).ok
    (deleted,) = [i for i in target.iter_invoices() if i.number == "INV-2"]
    target.delete_invoice(str(deleted.id))
    reads = target.calls.get("get_invoice", 0)
    listings = target.calls.get("iter_invoices", 0)

    again = migrate(source, target, ledger=ledger)
    assert not again.ok
    assert again.counts["invoice"].skipped == 2 and again.counts["invoice"].failed == 1
    (gone,) = [f for f in again.failures if f.kind == "invoice"]
    assert gone.number == "INV-2" and "gone from" in (gone.reason or "")
    assert again.counts["payment"].failed == 1 and again.counts["payment"].skipped == 2
    assert target.calls.get("iter_invoices", 0) - listings == 1  # one listing
    # one read to confirm the one the listing lacks, not one for each record
    assert target.calls.get("get_invoice", 0) - reads == 1

    third = migrate(source, target, ledger=ledger)
    assert third.ok, third.failures
    assert third.counts["invoice"].created == 1 and third.counts["payment"].created == 1
    recreated = sorted((i.number, i.amount_paid) for i in target.iter_invoices())
    assert recreated == [(f"INV-{n}", Decimal("40.00")) for n in (1, 2, 3)]


def test_a_dry_run_reports_what_is_gone_and_forgets_nothing(tmp_path: Path) -> None:
    ledger = tmp_path / "l.sqlite"
    source, target = _source(), MemoryBackend(label="target")
    migrate(source, target, ledger=ledger)
    for invoice in list(target.iter_invoices()):
        target.delete_invoice(str(invoice.id))  # the target was reset
    dry = migrate(source, target, ledger=ledger, dry_run=True)
    assert dry.counts["invoice"].failed == 3
    again = migrate(source, target, ledger=ledger)
    assert again.counts["invoice"].failed == 3  # the dry run forgot nothing
    assert migrate(source, target, ledger=ledger).counts["invoice"].created == 3


def _reset(target: MemoryBackend) -> None:
    """The target emptied behind the ledger's back (a sandbox reset, a restore)."""
    with target._lock:
        target._clients.clear()
        target._invoices.clear()
        target._payments.clear()


def test_a_target_reset_is_reported_for_every_kind_then_recreated(tmp_path: Path) -> None:
    ledger = tmp_path / "l.sqlite"
    source, target = _source(), MemoryBackend(label="target")
    source.create_client(Client(name="Idle Ltd", email="idle@idle.test"))  # no invoices
    assert migrate(source, target, ledger=ledger).ok
    _reset(target)
    calls = dict(target.calls)

    again = migrate(source, target, ledger=ledger)
    counts = again.counts
    assert (counts["client"].failed, counts["client"].skipped) == (2, 0)
    assert (counts["invoice"].failed, counts["invoice"].skipped) == (3, 0)
    assert (counts["payment"].failed, counts["payment"].skipped) == (3, 0)
    assert all("gone from" in (f.reason or "") for f in again.failures), again.failures
    assert {f.kind for f in again.failures} == {"client", "invoice", "payment"}
    # One listing of each kind checked, never one read per record that is there.
    for verb in ("iter_clients", "iter_invoices"):
        assert target.calls.get(verb, 0) - calls.get(verb, 0) == 1, verb
    assert not list(target.iter_invoices()) and not list(target.iter_clients())

    third = migrate(source, target, ledger=ledger)
    assert third.ok, third.failures
    assert third.counts["client"].created == 2 and third.counts["invoice"].created == 3
    assert third.counts["payment"].created == 3
    assert sorted(c.name for c in target.iter_clients()) == ["Delta Foods", "Idle Ltd"]
    assert sorted((i.number, i.amount_paid) for i in target.iter_invoices()) == [
        (f"INV-{n}", Decimal("40.00")) for n in (1, 2, 3)
    ]
    assert migrate(source, target, ledger=ledger).counts["invoice"].skipped == 3


def test_a_payment_deleted_in_the_target_is_reported_then_recorded_again(
    tmp_path: Path,
) -> None:
    ledger = tmp_path / "l.sqlite"
    source, target = _source(), MemoryBackend(label="target")
    assert migrate(source, target, ledger=ledger).ok
    (invoice,) = [i for i in target.iter_invoices() if i.number == "INV-3"]
    with target._lock:  # the payment deleted in the target, the invoice kept
        stored = target._invoices[str(invoice.id)]
        (payment,) = stored.payments
        del target._payments[str(payment.id)]
        stored.payments, stored.amount_paid = [], Decimal(0)
        target._recompute(stored)
    assert target.get_invoice(str(invoice.id)).amount_paid == 0
    listings = target.calls.get("iter_payments", 0)

    again = migrate(source, target, ledger=ledger)
    assert again.counts["payment"].failed == 1 and again.counts["payment"].skipped == 2
    (gone,) = again.failures
    assert gone.kind == "payment" and "gone from" in (gone.reason or "")
    assert again.counts["invoice"].skipped == 3
    assert target.calls.get("iter_payments", 0) - listings == 1  # one listing for all three

    third = migrate(source, target, ledger=ledger)
    assert third.ok, third.failures
    assert third.counts["payment"].created == 1 and third.counts["payment"].skipped == 2
    assert target.get_invoice(str(invoice.id)).amount_paid == Decimal("40.00")
    assert len(list(target.iter_payments())) == 3
    fourth = migrate(source, target, ledger=ledger)
    assert fourth.counts["payment"].skipped == 3 and fourth.ok
