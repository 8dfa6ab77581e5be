"""Invoices go ahead while slow clients are still being created (found by
benchmarks/bench_migrate.py: with 16 workers, a chain of 11 clients sharing one tax number,
created one after another, held every invoice back for a third of the run)."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal
from pathlib import Path

import pytest

from invoicing_bridge import Client, ConfigurationError, Invoice, LineItem, migrate
from invoicing_bridge.backends.memory import MemoryBackend


class SlowClient(MemoryBackend):
    """Creating the client named ``Slow`` waits until some invoice has been created."""

    def __init__(self) -> None:
        super().__init__(label="target")
        self.invoice_created = threading.Event()
        self.waited_in_vain = False

    def create_client(self, client: Client) -> Client:
        if client.name == "Slow" and not self.invoice_created.wait(timeout=10):
            self.waited_in_vain = True
        return super().create_client(client)

    def create_invoice(self, invoice: Invoice) -> Invoice:
        created = super().create_invoice(invoice)
        self.invoice_created.set()
        return created


def _source() -> MemoryBackend:
    source = MemoryBackend(label="source")
    slow = source.create_client(Client(name="Slow", email="slow@example.test"))
    fast = source.create_client(Client(name="Fast", email="fast@example.test"))
    for n, client in enumerate([fast, fast, slow], start=1):
        source.create_invoice(
            Invoice.build(
                number=f"INV-{n}",
                issue_date=dt.date(2026, 1, n),
                currency="EGP",
                client=client,
                items=[LineItem("Work", Decimal("1"), Decimal("100.00"))],
            )
        )
    return source


def test_invoices_of_migrated_clients_do_not_wait_for_other_clients(tmp_path: Path) -> None:
    target = SlowClient()
    report = migrate(_source(), target, ledger=tmp_path / "ledger.sqlite", workers=4)
    assert not target.waited_in_vain  # an invoice was created while "Slow" was pending
    assert report.ok, report.failures
    assert report.counts["client"].created == 2
    assert report.counts["invoice"].created == 3
    slow_id = next(c.id for c in target.iter_clients() if c.name == "Slow")
    slow_invoices = [i for i in target.iter_invoices() if i.client.id == slow_id]
    assert [i.number for i in slow_invoices] == ["INV-3"]


def test_one_worker_still_migrates_every_client_before_any_invoice(tmp_path: Path) -> None:
    source = _source()
    target = MemoryBackend(label="target")
    seen: list[str] = []
    migrate(
        source,
        target,
        ledger=tmp_path / "ledger.sqlite",
        workers=1,
        progress=lambda result: seen.append(result.kind),
    )
    assert seen[:2] == ["client", "client"]
    assert "client" not in seen[2:]


def test_a_ledger_of_another_migration_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    ledger = tmp_path / "ledger.sqlite"
    assert migrate(_source(), MemoryBackend(label="target"), ledger=ledger).ok
    moved = MemoryBackend(label="target-moved")  # the same account under another label
    with pytest.raises(ConfigurationError, match="belongs to another migration"):
        migrate(_source(), moved, ledger=ledger)
    assert list(moved.iter_clients()) == [] and list(moved.iter_invoices()) == []
    again = migrate(_source(), moved, ledger=ledger, new_direction=True)
    assert again.ok and again.counts["invoice"].created == 3


def test_a_worker_takes_a_ready_invoice_rather_than_wait_behind_a_namesake(
    tmp_path: Path,
) -> None:
    # Two clients named "Slow" (different emails: two companies) are created one after
    # the other; with 2 workers, the one not creating the first must not sit waiting
    # for it while an invoice of a migrated client is ready.
    target = SlowClient()
    source = MemoryBackend(label="source")
    other = source.create_client(Client(name="Other", email="other@example.test"))
    first = source.create_client(Client(name="Slow", email="slow1@example.test"))
    second = source.create_client(Client(name="Slow", email="slow2@example.test"))
    for n, client in enumerate([other, second, first, other], start=1):
        source.create_invoice(
            Invoice.build(
                number=f"INV-{n}",
                issue_date=dt.date(2026, 1, n),
                currency="EGP",
                client=client,
                items=[LineItem("Work", Decimal("1"), Decimal("100.00"))],
            )
        )
    report = migrate(source, target, ledger=tmp_path / "ledger.sqlite", workers=2)
    assert not target.waited_in_vain  # an invoice was created while "Slow" was pending
    assert report.ok, report.failures
    assert report.counts["client"].created == 3  # namesakes are not merged
    assert report.counts["invoice"].created == 4
    by_email = {c.email: c.id for c in target.iter_clients()}
    owners = {i.number: i.client.id for i in target.iter_invoices()}
    assert owners == {
        "INV-1": by_email["other@example.test"],
        "INV-2": by_email["slow2@example.test"],
        "INV-3": by_email["slow1@example.test"],
        "INV-4": by_email["other@example.test"],
    }
