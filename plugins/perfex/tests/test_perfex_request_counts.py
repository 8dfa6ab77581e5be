"""Requests the Perfex backend does not need to make (found by benchmarks/bench_migrate.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from invoicing_bridge_perfex.backend import PerfexBackend
from invoicing_bridge_perfex.emulator import PerfexEmulator

from invoicing_bridge.registry import get_backend


def _backend(emulator: PerfexEmulator) -> PerfexBackend:
    options = {k: v for k, v in emulator.profile().items() if k != "backend"}
    backend = get_backend("perfex", **options)
    assert isinstance(backend, PerfexBackend)
    return backend


@pytest.mark.parametrize(
    ("route", "ensure"),
    [
        ("GET /api/common/payment_mode", PerfexBackend._ensure_modes),
        ("GET /api/common/tax_data", PerfexBackend._ensure_taxes),
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
