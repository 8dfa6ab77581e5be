"""Requests a migration sends per invoice (issue 16), counted by the emulators.

Counts, not times: the same seed migrates with the same requests every time. Each route
migrates a realistic seed (12 invoices, seed 1: payments, line discounts, drafts, void
invoices as the seed has them) into an empty emulator, and the requests about invoices
and payments (client matching and creation, and the once-a-run lookups, are counted
apart) must stay within what docs/performance.md, "Requests per migrated invoice",
documents for the route:

- into Daftra, 2 per invoice: the create, carrying the payments (``Payment[]``), and one
  read that verifies it; no ``/invoice_payments`` request at all (and once a run, a page
  of the account's latest invoices, to learn how it rounds line taxes);
- into Perfex 2.x, 3 per invoice and 1 per payment: the create, the search that finds
  its id (2.x answers none), each payment's ``POST``, and one read after the last write
  that verifies the invoice and shows the payments' ids (2.x answers none).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from invoicing_bridge import migrate
from invoicing_bridge.migration.report import MigrationReport

daftra_emulator = pytest.importorskip("invoicing_bridge_daftra.emulator")
perfex_emulator = pytest.importorskip("invoicing_bridge_perfex.emulator")

INVOICES = 12
#: Client requests, once-a-run lookups, and the listings of what a run does not move.
_NOT_INVOICES = (
    "/clients",
    "/customers",
    "/contacts",
    "/site_info",
    "/taxes",
    "/listing/",
    "/common/",
    "/estimates",
    "/credit_notes",
    "/client_payments",
    "/products",
    "/items",
)


def _emulator(name: str, invoices: int, **options: Any) -> Any:
    if name == "daftra":
        return daftra_emulator.DaftraEmulator(invoices=invoices, seed=1, **options)
    return perfex_emulator.PerfexEmulator(invoices=invoices, seed=1, **options)


def _invoice_routes(emulator: Any) -> Counter[str]:
    """The emulator's requests about invoices and payments, by method and path."""
    routes: Counter[str] = Counter()
    for route, n in emulator.stats.snapshot()["by_route"].items():
        path = route.partition(" ")[2]
        if not any(word in path for word in _NOT_INVOICES):
            routes[route] += n
    return routes


def _migrate(
    source: str, target: str, tmp: Path, **target_options: Any
) -> tuple[MigrationReport, Counter[str], Counter[str]]:
    with (
        _emulator(source, INVOICES) as source_emulator,
        _emulator(target, 0, **target_options) as target_emulator,
        source_emulator.open_backend() as source_backend,
        target_emulator.open_backend() as target_backend,
    ):
        source_emulator.stats.reset()
        target_emulator.stats.reset()
        report = migrate(source_backend, target_backend, ledger=tmp / "ledger.sqlite", workers=2)
        return report, _invoice_routes(source_emulator), _invoice_routes(target_emulator)


def _migrated(report: MigrationReport) -> tuple[int, int, int]:
    """Invoices created, payments recorded, and invoices with at least one payment."""
    invoices = report.counts["invoice"]
    payments = report.counts["payment"]
    paid = {
        r.number.rsplit(" ", 1)[0]
        for r in report.records
        if r.kind == "payment" and r.outcome in ("created", "transformed") and r.number
    }
    return (
        invoices.created + invoices.transformed,
        payments.created + payments.transformed,
        len(paid),
    )


def test_perfex_to_daftra_sends_two_requests_per_invoice(tmp_path: Path) -> None:
    report, source, target = _migrate("perfex", "daftra", tmp_path)
    assert report.ok, report.failures
    invoices, payments, paid = _migrated(report)
    assert invoices >= 10 and payments >= 5 and paid >= 3  # the seed has paid invoices
    # The payments travel in the create (Payment[] beside Invoice): none on their own.
    assert not [r for r in target if "invoice_payments" in r]
    assert sum(n for r, n in target.items() if r.startswith("POST ")) == invoices
    # The create and the read that verifies it; and once a run, a page of the account's
    # latest invoices, which shows how it rounds line taxes.
    assert target["GET /api2/invoices.json"] == 1
    assert sum(target.values()) == 2 * invoices + 1
    # The source: one listing (2.x lists all at once) and one read per listed invoice
    # (Perfex lists invoices without their lines and payments).
    listed = sum(
        getattr(report.counts["invoice"], o)
        for o in ("created", "transformed", "skipped", "failed")
    )
    assert source["GET /api/invoices"] == 1
    assert sum(source.values()) <= 1 + listed


def test_daftra_to_perfex2_reads_each_invoice_once_after_its_writes(tmp_path: Path) -> None:
    report, source, target = _migrate("daftra", "perfex", tmp_path, api_version=2)
    assert report.ok, report.failures
    invoices, payments, paid = _migrated(report)
    assert invoices >= 10 and payments >= 5 and paid >= 3
    posts = target["POST /api/invoices"]
    searches = sum(n for r, n in target.items() if r.startswith("GET /api/invoices/search/"))
    reads = sum(
        n for r, n in target.items() if r.startswith("GET /api/invoices/") and "/search/" not in r
    )
    assert posts == invoices and searches == invoices  # 2.x answers a create with no id
    assert target["POST /api/payments"] == payments
    # One read per invoice, after its last write: it verifies the invoice and shows the
    # new payments' ids (2.x answers a payment with none). Before: a read after the
    # create, one after each payment and a verification read after the last payment.
    assert reads == invoices
    assert sum(target.values()) == 3 * invoices + payments
    # The source: Daftra's paged listing carries lines and payments (no detail reads).
    assert set(source) == {"GET /api2/invoices.json"}
    assert source["GET /api2/invoices.json"] == 1
