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

from invoicing_bridge.exceptions import MappingError, NotFound
from invoicing_bridge.models import Address, Client, Invoice, LineItem, Payment
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


@pytest.mark.parametrize("api_version", [2, 3])
def test_a_create_with_payments_posts_them_then_reads_the_invoice_once(api_version: int) -> None:
    # bench_requests: the create read the invoice back, each payment read it again, and
    # the migration read it once more to verify. Now: no read before the first payment
    # (a new invoice has none) and one read after the last, which shows them all.
    with (
        PerfexEmulator(invoices=3, seed=2, api_version=api_version) as emulator,
        _backend(emulator) as backend,
    ):
        customer = next(backend.iter_clients())
        backend.lookups.ensure_modes()
        backend.lookups.ensure_taxes()
        invoice = Invoice.build(
            number="9100",
            issue_date=dt.date(2026, 3, 1),
            due_date=dt.date(2026, 3, 31),
            currency="USD",
            # With its billing street: without one, the customer's is read (required).
            client=Client(id=customer.id, name=customer.name, address=Address("1 Main St")),
            items=[LineItem("Consulting", Decimal("2"), Decimal("150.00"))],
        )
        # Two of the same amount by different methods: each must keep its own.
        invoice.payments = [_pay("", "100.00"), _pay("", "100.00", "bank_transfer")]
        for payment in invoice.payments:
            payment.invoice_id = None
        emulator.stats.reset()
        stored = backend.create_invoice(invoice)
        routes = emulator.stats.snapshot()["by_route"]
        assert stored.id is not None
        assert routes.get("POST /api/invoices") == 1
        assert routes.get("POST /api/payments") == 2
        assert _invoice_gets(emulator, stored.id) == 1
        searches = sum(n for r, n in routes.items() if "/search/" in r)
        assert searches == (1 if api_version == 2 else 0)  # 2.x answers no id
        assert sum(routes.values()) == 4 + searches
        assert sorted(p.method for p in stored.payments) == ["bank_transfer", "cash"]
        assert len({p.id for p in stored.payments}) == 2
        assert stored.amount_paid == Decimal("200.00")


def test_a_create_with_a_payment_it_cannot_map_writes_nothing() -> None:
    with PerfexEmulator(invoices=3, seed=2) as emulator, _backend(emulator) as backend:
        customer = next(backend.iter_clients())
        invoice = Invoice.build(
            number="9101",
            issue_date=dt.date(2026, 3, 1),
            currency="USD",
            client=Client(id=customer.id, name=customer.name),
            items=[LineItem("Consulting", Decimal("1"), Decimal("150.00"))],
        )
        invoice.payments = [_pay("", "50.00", "x" * 41)]  # no mode, nor a gateway id
        emulator.stats.reset()
        with pytest.raises(MappingError):
            backend.create_invoice(invoice)
        assert emulator.stats.snapshot()["by_method"].get("POST", 0) == 0
