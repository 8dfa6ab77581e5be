"""The migration adds no retry of its own: transient failures are retried by the HTTP layer
(within the backend's ``max_retries``), lost answers of creates are recovered by the job
after a look-up, and nothing else is tried twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from invoicing_bridge import (
    Client,
    Invoice,
    InvoiceStatus,
    LineItem,
    ServerError,
    TransportError,
    get_backend,
)
from invoicing_bridge import migrate as run_migration
from invoicing_bridge.backends.memory import MemoryBackend

D = Decimal


def _seed(backend: MemoryBackend, count: int = 3) -> None:
    client = backend.create_client(Client(name="Acme", email="billing@acme.test"))
    for i in range(count):
        backend.create_invoice(
            Invoice.build(
                number=f"INV-{i + 1:03d}",
                issue_date=dt.date(2026, 1, 2),
                currency="EGP",
                client=client,
                items=[LineItem(name="Work", quantity=D("1"), unit_price=D("100.00"))],
            )
        )


class ListingDown(MemoryBackend):
    """A source whose invoice listing answers 503 (after the HTTP layer gave up)."""

    def iter_invoices(
        self,
        *,
        since: dt.date | None = None,
        status: InvoiceStatus | None = None,
        client_id: str | None = None,
    ) -> Iterator[Invoice]:
        self._count("iter_invoices")
        raise ServerError("service unavailable", backend=self.name, status_code=503)


class ClientReadDown(MemoryBackend):
    """A source whose reads of one client answer 503."""

    def get_client(self, id: str) -> Client:
        self._count("get_client")
        raise ServerError("service unavailable", backend=self.name, status_code=503)


def test_a_listing_answered_503_is_read_once_and_stops_the_run(tmp_path: Path) -> None:
    with ListingDown(label="old") as source, MemoryBackend(label="new") as target:
        with pytest.raises(ServerError):
            run_migration(source, target, ledger=tmp_path / "l.sqlite", workers=1)
        assert source.calls["iter_invoices"] == 1


def test_a_read_answered_503_is_read_once_and_fails_its_record(tmp_path: Path) -> None:
    with ClientReadDown(label="old") as source, MemoryBackend(label="new") as target:
        _seed(source)
        report = run_migration(
            source, target, ledger=tmp_path / "l.sqlite", workers=1, since=dt.date(2026, 1, 1)
        )
        # The invoices' client cannot be read: one read, every invoice of it failed.
        assert source.calls["get_client"] == 1
        assert report.counts["invoice"].failed == 3
        assert all("service unavailable" in (r.reason or "") for r in report.failures)
        assert target.calls.get("create_invoice", 0) == 0


def test_a_source_get_answered_503_costs_only_the_http_layers_retries(tmp_path: Path) -> None:
    emulator_module = pytest.importorskip("invoicing_bridge_daftra.emulator")
    max_retries = 2
    with emulator_module.DaftraEmulator(invoices=0, seed=5) as emulator:
        options: dict[str, Any] = dict(emulator.profile())
        name = options.pop("backend")
        with (
            get_backend(name, **options, max_retries=max_retries, backoff_base=0) as source,
            MemoryBackend(label="new") as target,
        ):
            emulator.stats.reset()
            # Every try of the first read answers 503.
            emulator.faults.scheduled.extend(["503"] * (max_retries + 1))
            with pytest.raises(ServerError):
                run_migration(source, target, ledger=tmp_path / "l.sqlite", workers=1)
            stats = emulator.stats.snapshot()
            assert stats["faults"] == max_retries + 1
            assert stats["requests"] == max_retries + 1  # the job tried nothing again


class SavesThenLosesTheAnswer(MemoryBackend):
    """A target that stores each invoice, then answers with something unusable."""

    def create_invoice(self, invoice: Invoice) -> Invoice:
        super().create_invoice(invoice)
        raise TransportError(
            "answer is not JSON", backend=self.name, method="POST", retryable=False
        )


def test_a_create_whose_answer_was_lost_is_looked_up_and_adopted_in_the_same_run(
    tmp_path: Path,
) -> None:
    with MemoryBackend(label="old") as source, SavesThenLosesTheAnswer(label="new") as target:
        _seed(source)
        report = run_migration(source, target, ledger=tmp_path / "l.sqlite", workers=1)
        assert report.ok, report.failures
        assert target.calls["create_invoice"] == 3  # each created once, none twice
        assert target.calls["find_invoice"] == 3  # each found after its lost answer
        assert len(list(target.iter_invoices())) == 3
