"""Requests the Perfex backend does not need to make (found by benchmarks/bench_migrate.py)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from decimal import Decimal

import pytest
from invoicing_bridge_perfex import backend as backend_module
from invoicing_bridge_perfex.backend import PerfexBackend
from invoicing_bridge_perfex.emulator import PerfexEmulator

from invoicing_bridge.exceptions import NotFound
from invoicing_bridge.models import Client, Invoice, LineItem, Payment
from invoicing_bridge.registry import get_backend


def _backend(emulator: PerfexEmulator) -> PerfexBackend:
    options = {k: v for k, v in emulator.profile().items() if k != "backend"}
    backend = get_backend("perfex", **options)
    assert isinstance(backend, PerfexBackend)
    return backend


@pytest.mark.parametrize(
    ("route", "ensure"),
    [
        ("GET /api/common/payment_mode", lambda backend: backend.lookups.ensure_modes()),
        ("GET /api/common/tax_data", lambda backend: backend.lookups.ensure_taxes()),
    ],
)
def test_lookups_are_fetched_once_however_many_threads_ask(
    route: str, ensure: Callable[[PerfexBackend], object]
) -> None:
    # With 16 migration workers the payment modes were fetched 9 times and the taxes 10:
    # every worker that asked before the first answer came fetched them too.
    with PerfexEmulator(invoices=0, latency_ms=50) as emulator, _backend(emulator) as backend:
        threads = 8
        start = threading.Barrier(threads)

        def ask() -> None:
            start.wait()
            ensure(backend)

        workers = [threading.Thread(target=ask) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=30)
        assert emulator.stats.snapshot()["by_route"].get(route) == 1
        assert backend.lookups.payment_modes if "payment" in route else backend.lookups.taxes


def _new_invoice(backend: PerfexBackend, number: str) -> Invoice:
    customer = next(backend.iter_clients())
    invoice = Invoice.build(
        number=number,
        issue_date=dt.date(2026, 3, 1),
        due_date=dt.date(2026, 3, 31),
        currency="USD",
        client=Client(id=customer.id, name=customer.name),
        items=[LineItem("Consulting", Decimal("2"), Decimal("150.00"))],
    )
    return backend.create_invoice(invoice)


def _pay(invoice_id: str, amount: str, method: str = "cash") -> Payment:
    return Payment(
        invoice_id=invoice_id, amount=Decimal(amount), date=dt.date(2026, 3, 2), method=method
    )


def _invoice_gets(emulator: PerfexEmulator, invoice_id: str) -> int:
    count: int = emulator.stats.snapshot()["by_route"].get(f"GET /api/invoices/{invoice_id}", 0)
    return count


def test_a_payment_after_our_own_write_does_not_read_the_invoice_first() -> None:
    # bench_migrate: each payment read the invoice before and after its POST, and the
    # "before" was the invoice as read back right after the create or the last payment.
    with PerfexEmulator(invoices=3, seed=2) as emulator, _backend(emulator) as backend:
        created = _new_invoice(backend, "9001")
        assert created.id is not None
        emulator.stats.reset()
        first = backend.record_payment(_pay(created.id, "100.00"))
        second = backend.record_payment(_pay(created.id, "100.00", "bank_transfer"))
        assert _invoice_gets(emulator, created.id) == 2  # one after each POST
        assert first.id and second.id and first.id != second.id
        stored = backend.get_invoice(created.id)
        assert sorted(p.id or "" for p in stored.payments) == sorted([first.id, second.id])
        assert {p.method for p in stored.payments} == {"cash", "bank_transfer"}


def test_a_payment_on_an_invoice_we_did_not_just_write_reads_it_first() -> None:
    with PerfexEmulator(invoices=3, seed=2) as emulator, _backend(emulator) as backend:
        created = _new_invoice(backend, "9002")
        assert created.id is not None
        with _backend(emulator) as other:  # another instance: it knows nothing of it
            emulator.stats.reset()
            other.record_payment(_pay(created.id, "50.00"))
            assert _invoice_gets(emulator, created.id) == 2  # before and after
            with pytest.raises(NotFound):
                other.record_payment(_pay("999999", "50.00"))


def test_what_was_read_after_a_write_is_used_once_and_not_when_old(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with PerfexEmulator(invoices=3, seed=2) as emulator, _backend(emulator) as backend:
        created = _new_invoice(backend, "9003")
        assert created.id is not None
        monkeypatch.setattr(backend_module, "_AFTER_WRITE_TTL", 0.0)
        emulator.stats.reset()
        backend.record_payment(_pay(created.id, "10.00"))
        assert _invoice_gets(emulator, created.id) == 2  # too old: read again
        monkeypatch.undo()
        backend.get_invoice(created.id)  # a plain read remembers nothing
        emulator.stats.reset()
        backend.record_payment(_pay(created.id, "10.00"))
        assert _invoice_gets(emulator, created.id) == 1  # the last payment's read-back
