"""Migrations through a real Tryton: Daftra emulator → Tryton, then Tryton → Perfex
emulator; totals equal to the cent and the comparison finds no difference.

The invoices are dated 2027 so that ``since`` keeps out what the contract suite wrote to
the same server.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from invoicing_bridge import (
    Address,
    Client,
    Invoice,
    InvoiceStatus,
    LineItem,
    Payment,
    TaxRate,
    get_backend,
    migrate,
)
from invoicing_bridge.backends.base import InvoicingBackend
from invoicing_bridge.comparison import compare
from invoicing_bridge.migration.ledger import Ledger

daftra_emulator = pytest.importorskip("invoicing_bridge_daftra.emulator")
perfex_emulator = pytest.importorskip("invoicing_bridge_perfex.emulator")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

D = Decimal
CENT = D("0.01")
SINCE = dt.date(2027, 1, 1)
INVOICES = 6


def _open(emulator: Any) -> InvoicingBackend:
    options = dict(emulator.profile())
    return get_backend(options.pop("backend"), **options)


def _seed(daftra: InvoicingBackend) -> None:
    """Clients with addresses, tax numbers, emails and phones; EGP invoices at 14% VAT
    with untaxed lines, an invoice discount, notes and terms, a draft, payments in part
    and in full, issued in date order (Tryton numbers them so)."""
    tag = uuid.uuid4().hex[:6]
    clients = [
        daftra.create_client(
            Client(
                name=f"Nile Trading {tag} {k}",
                email=f"ap-{tag}-{k}@example.com",
                phone=f"+20 100 000 00{k}",
                tax_number=f"2001234{k}",
                address=Address(line1=f"{k} Corniche St", city="Cairo", country="EG"),
            )
        )
        for k in range(3)
    ]
    for i in range(INVOICES):
        invoice = daftra.create_invoice(
            Invoice.build(
                number=f"{900100 + i}",
                issue_date=dt.date(2027, 1, 3) + dt.timedelta(days=7 * i),
                due_date=dt.date(2027, 3, 1),
                currency="EGP",
                client=clients[i % 3],
                items=[
                    LineItem(
                        "Consulting hours",
                        D("2"),
                        D("350.25") + i,
                        description="on site",
                        taxes=[TaxRate("VAT", D("14"))],
                    ),
                    LineItem("Web hosting (annual)", D("1"), D("1899.99")),
                ],
                discount_total=D("50.00") if i == 1 else D("0"),
                notes=f"Thank you ({i})",
                terms="Net 30",
                status=InvoiceStatus.DRAFT if i == 4 else None,
            )
        )
        assert invoice.id
        if i in (0, 2):
            daftra.record_payment(
                Payment(D("100.00"), dt.date(2027, 2, 1), "cash", invoice_id=invoice.id)
            )
        if i == 3:
            daftra.record_payment(
                Payment(
                    invoice.total,
                    dt.date(2027, 2, 2),
                    "bank_transfer",
                    reference="TX-3",
                    invoice_id=invoice.id,
                )
            )


def _assert_pairs_equal(source: InvoicingBackend, target: InvoicingBackend, ledger: Path) -> None:
    with Ledger(ledger) as book:
        pairs = dict(book.pairs("invoice", source=source.label, target=target.label))
    assert len(pairs) == INVOICES
    for source_id, target_id in pairs.items():
        left, right = source.get_invoice(source_id), target.get_invoice(target_id)
        for name in ("subtotal", "discount_total", "tax_total", "total", "amount_paid"):
            assert abs(getattr(left, name) - getattr(right, name)) < CENT, (left.number, name)
        assert abs(left.balance_due - right.balance_due) < CENT, left.number
        assert left.status is right.status, (left.number, left.status, right.status)
        assert sorted(p.amount for p in left.payments) == sorted(p.amount for p in right.payments)


@pytest.fixture
def emulators() -> Iterator[tuple[Any, Any]]:
    with (
        daftra_emulator.DaftraEmulator(invoices=0, seed=5) as daftra,
        perfex_emulator.PerfexEmulator(invoices=0, seed=5) as perfex,
    ):
        yield daftra, perfex


def test_daftra_to_tryton_to_perfex_keeps_totals_and_compares_equal(
    tryton: InvoicingBackend, emulators: tuple[Any, Any], tmp_path: Path
) -> None:
    daftra_emu, perfex_emu = emulators
    ledger = tmp_path / "ledger.sqlite"
    # The session's Tryton backend: its login and lookups are made once.
    with _open(daftra_emu) as daftra, _open(perfex_emu) as perfex:
        _seed(daftra)

        # One writer: the test server runs on SQLite, whose sequences (party codes)
        # concurrent transactions can hand out twice; PostgreSQL has no such limit.
        first = migrate(daftra, tryton, ledger=ledger, since=SINCE, workers=1)
        assert first.ok, [f.reason for f in first.failures][:2]
        assert first.counts["invoice"].created == INVOICES
        _assert_pairs_equal(daftra, tryton, ledger)
        report = compare(daftra, tryton, match="ledger", ledger=ledger, since=SINCE)
        assert report.ok, [
            (r.number, [(d.path, d.left, d.right) for d in r.differences]) for r in report.different
        ][:3]
        assert (report.left_count, report.right_count, report.equal) == (6, 6, 6)

        second = migrate(tryton, perfex, ledger=ledger, since=SINCE, new_direction=True)
        assert second.ok, [f.reason for f in second.failures]
        assert second.counts["invoice"].created == INVOICES
        _assert_pairs_equal(tryton, perfex, ledger)
        report = compare(tryton, perfex, match="ledger", ledger=ledger, since=SINCE)
        assert report.ok, [
            (r.number, [(d.path, d.left, d.right) for d in r.differences]) for r in report.different
        ][:3]
        assert report.equal == INVOICES

        again = migrate(daftra, tryton, ledger=ledger, since=SINCE)
        assert again.ok and sum(c.created for c in again.counts.values()) == 0
