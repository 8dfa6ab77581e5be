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
