"""One difference planted at a time after a clean migration between the emulators, on their
realistic seeds: each is reported exactly once (one row, its derived totals under it) and
nothing else, matched through the ledger and by number.

The source is the Perfex emulator's seeded install (14 invoices: partial and full payments
dated by users, line descriptions and units, notes and terms), migrated into an empty Daftra
emulator. Seed 8 migrates without a transformation, so every difference is planted; seed 2
has a draft and two invoices the migration transformed (a half-cent adjustment), which the
ledger explains. What the
backends cannot write (a payment's amount or date, a void status, a second invoice under a
number) is planted in the emulators' state, as a user would through the systems' screens.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from invoicing_bridge import get_backend, migrate
from invoicing_bridge.backends.base import InvoicingBackend
from invoicing_bridge.comparison import ComparisonReport, compare
from invoicing_bridge.migration.ledger import Ledger
from invoicing_bridge.models import Invoice, InvoiceStatus, LineItem

daftra_emulator = pytest.importorskip("invoicing_bridge_daftra.emulator")
perfex_emulator = pytest.importorskip("invoicing_bridge_perfex.emulator")

pytestmark = pytest.mark.slow

D = Decimal


@dataclass
class World:
    perfex: InvoicingBackend
    daftra: InvoicingBackend
    source: Any  # the Perfex emulator
    target: Any  # the Daftra emulator
    ledger: Path
    pairs: dict[str, str]  # Perfex invoice id -> Daftra invoice id

    def invoice(self, status: InvoiceStatus, *, payments: int = 1) -> tuple[Invoice, Invoice]:
        """A migrated pair (Perfex, Daftra) whose source has ``status`` and at least
        ``payments`` payments and two lines."""
        for invoice in self.perfex.iter_invoices():
            full = self.perfex.full_invoice(invoice)
            if (
                full.status is status
                and len(full.payments) >= payments
                and len(full.items) >= 2
                and str(full.id) in self.pairs
            ):
                return full, self.daftra.get_invoice(self.pairs[str(full.id)])
        raise AssertionError(f"no seeded {status} invoice with {payments} payments")

    def daftra_record(self, invoice: Invoice) -> dict[str, Any]:
        record: dict[str, Any] | None = self.target.state.invoice(int(str(invoice.id)))
        assert record is not None
        return record


def _open(emulator: Any) -> InvoicingBackend:
    options = dict(emulator.profile())
    return get_backend(options.pop("backend"), **options)


def _world(tmp_path: Path, seed: int) -> Iterator[World]:
    with (
        perfex_emulator.PerfexEmulator(invoices=14, seed=seed) as source,
        daftra_emulator.DaftraEmulator(invoices=0, seed=3) as target,
        _open(source) as perfex,
        _open(target) as daftra,
    ):
        ledger = tmp_path / "ledger.sqlite"
        report = migrate(perfex, daftra, ledger=ledger, workers=2)
        assert report.ok, [f.reason for f in report.failures]
        with Ledger(ledger) as opened:
            pairs = dict(opened.pairs("invoice"))
        yield World(perfex, daftra, source, target, ledger, pairs)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from _world(tmp_path, 8)


@pytest.fixture
def world_with_draft(tmp_path: Path) -> Iterator[World]:
    yield from _world(tmp_path, 2)


def both(world: World) -> list[ComparisonReport]:
    return [
        compare(world.perfex, world.daftra, ledger=world.ledger, tolerance="0"),
        compare(world.perfex, world.daftra, tolerance="0"),
    ]


def test_a_clean_realistic_migration_compares_equal_at_tolerance_zero(world: World) -> None:
    for report in both(world):
        assert report.ok, report.to_dict()
        assert (report.left_count, report.right_count, report.equal) == (14, 14, 14)
        assert report.clients_compared > 0 and report.clients == []


def test_what_the_migration_transformed_is_explained_through_the_ledger(
    world_with_draft: World,
) -> None:
    by_ledger, by_number = both(world_with_draft)

    assert by_ledger.ok, by_ledger.to_dict()
    assert (by_ledger.equal, len(by_ledger.explained)) == (12, 2)
    for record in by_ledger.explained:
        (row,) = record.differences
        assert (row.path, row.left, row.right) == ("adjustment", D("0.00"), D("0.01"))
        assert row.explained == (
            "migration: amount_rounding (the source rounds its subtotal; daftra sums the lines)"
        )
    # By number the draft ("INV-DRAFT" in Perfex) is paired by client, date and total, and
    # the same two half-cent adjustments are differences: nothing explains them.
    assert by_number.matched_by_content == 1 and by_number.equal == 12
    assert sorted(r.number for r in by_number.different) == sorted(
        r.number for r in by_ledger.explained
    )


# --------------------------------------------------------------------------- planted


def _update(world: World, change: Callable[[Invoice], None]) -> Invoice:
    _, target = world.invoice(InvoiceStatus.PAID)
    change(target)
    world.daftra.update_invoice(target)
    return target


def _one_row(report: ComparisonReport) -> tuple[str, tuple[str, ...]]:
    """The one row of the one pair that differs: its path and its derived paths."""
    assert not report.only_left and not report.only_right, report.to_dict()
    assert not report.duplicates and not report.ambiguous and not report.clients
    assert report.equal == 13, report.to_dict()
    (record,) = report.different
    (row,) = record.differences
    return row.path, tuple(d.path for d in row.derived)


def _set_description(invoice: Invoice) -> None:
    invoice.items[0].description = "Planted: another description"


def _set_notes(invoice: Invoice) -> None:
    invoice.notes = "Planted note"


def _set_terms(invoice: Invoice) -> None:
    invoice.terms = "Planted terms: net 7"


def _set_due_date(invoice: Invoice) -> None:
    invoice.due_date = (invoice.due_date or invoice.issue_date) + dt.timedelta(days=3)


def _add_line(invoice: Invoice) -> None:
    invoice.items.append(LineItem("Planted extra line", D("1"), D("10.00")))


def _drop_line(invoice: Invoice) -> None:
    del invoice.items[-1]


@pytest.mark.parametrize(
    ("change", "path", "derived"),
    [
        (_set_description, "items[0].description", ()),
        (_set_notes, "notes", ()),
        (_set_terms, "terms", ()),
        (_set_due_date, "due_date", ()),
        (
            _add_line,
            "items[right:{n}]",
            ("status", "subtotal", "total", "balance_due"),
        ),
        (_drop_line, "items[{last}]", ("status", "subtotal", "tax_total", "total", "balance_due")),
    ],
    ids=["description", "notes", "terms", "due_date", "line added", "line removed"],
)
def test_a_planted_invoice_change_is_one_row(
    world: World, change: Callable[[Invoice], None], path: str, derived: tuple[str, ...]
) -> None:
    target = _update(world, lambda invoice: None)
    lines = len(target.items)
    _update(world, change)

    for report in both(world):
        got_path, got_derived = _one_row(report)
        assert got_path == path.format(n=lines, last=lines - 1)
        if derived:  # the totals follow the line, under it; status only if it moved
            assert {"subtotal", "total", "balance_due"} <= set(got_derived) <= set(derived)
        else:
            assert got_derived == ()


def _payments(world: World) -> tuple[Invoice, dict[str, Any]]:
    _, target = world.invoice(InvoiceStatus.PAID)
    return target, world.daftra_record(target)


def _plant_in_daftra(world: World, change: Callable[[dict[str, Any]], None]) -> None:
    _, record = _payments(world)
    i = int(record["id"])
    fresh = copy.deepcopy(world.target.state.materialise(i))
    change(fresh)
    world.target.state.replace_invoice(i, fresh)


@pytest.mark.parametrize(
    ("change", "path", "derived"),
    [
        (
            lambda r: r["payments"][0].update(
                amount=D(str(r["payments"][0]["amount"])) + D("0.01")
            ),
            "payments[0].amount",
            ("status", "amount_paid", "balance_due"),
        ),
        (
            lambda r: r["payments"][0].update(amount=D(str(r["payments"][0]["amount"])) + D("10")),
            "payments[0].amount",
            ("status", "amount_paid", "balance_due"),
        ),
        (
            lambda r: r["payments"].pop(),
            "payments[{last}]",
            ("status", "amount_paid", "balance_due"),
        ),
    ],
    ids=["payment amount by 0.01", "payment amount by 10", "payment removed"],
)
def test_a_planted_payment_change_is_one_row_with_its_totals_under_it(
    world: World, change: Callable[[dict[str, Any]], None], path: str, derived: tuple[str, ...]
) -> None:
    target, _ = _payments(world)
    last = len(target.payments) - 1
    _plant_in_daftra(world, change)

    for report in both(world):
        got_path, got_derived = _one_row(report)
        assert got_path == path.format(last=last)
        assert {"amount_paid", "balance_due"} <= set(got_derived) <= set(derived)


def test_a_planted_payment_date_is_one_row_through_the_ledger(world: World) -> None:
    def earlier(record: dict[str, Any]) -> None:
        record["payments"][0]["date"] -= dt.timedelta(days=2)

    _plant_in_daftra(world, earlier)
    by_ledger, by_number = both(world)

    # The Perfex payments were entered by users (the migration recorded them in Daftra).
    assert _one_row(by_ledger) == ("payments[0].date", ())
    # Without the ledger a Perfex date on the day it was recorded could be one its API
    # set: not compared, and said.
    assert by_number.ok
    assert any(n.startswith("payments[*].date: 1 paired") for n in by_number.not_compared)


def test_a_client_changed_on_an_invoice_is_one_row(world: World) -> None:
    _, target = world.invoice(InvoiceStatus.PAID)
    other = next(c for c in world.daftra.iter_clients() if c.id != target.client.id and c.name)
    target.client = other
    world.daftra.update_invoice(target)

    for report in both(world):
        assert _one_row(report) == ("client", ())


def test_a_currency_changed_is_one_row(world: World) -> None:
    _update(world, lambda invoice: setattr(invoice, "currency", "USD"))

    for report in both(world):
        assert _one_row(report) == ("currency", ())


def test_a_voided_invoice_is_one_status_row(world: World) -> None:
    source, _ = world.invoice(InvoiceStatus.PAID)
    world.source.state.invoices[int(str(source.id))].status = 5  # cancelled, in Perfex's screens

    for report in both(world):
        (record,) = report.different
        assert [(d.path, d.left) for d in record.differences] == [("status", "void")]


def test_a_deleted_invoice_is_one_invoice_only_on_the_left(world: World) -> None:
    source, target = world.invoice(InvoiceStatus.PAID)
    world.daftra.delete_invoice(str(target.id))

    for report in both(world):
        assert [r.id for r in report.only_left] == [source.id]
        assert report.equal == 13 and not report.different and not report.only_right
        assert not report.duplicates and not report.ambiguous


def test_a_duplicated_invoice_is_reported_once(world: World) -> None:
    _, record = _payments(world)
    twin = copy.deepcopy(world.target.state.materialise(int(record["id"])))
    twin["payments"] = []
    world.target.state.add_invoice(twin)
    by_ledger, by_number = both(world)

    # Through the ledger the copy is an invoice the migration did not make.
    assert len(by_ledger.only_right) == 1 and by_ledger.equal == 14
    assert not by_ledger.different and not by_ledger.duplicates
    # By number, the original pairs with its source; the copy is the one left over.
    assert by_number.equal == 14 and not by_number.different
    (dup,) = by_number.duplicates
    assert (dup.paired, dup.left, len(dup.right)) == (1, [], 1)


def test_quantity_and_rate_changed_to_the_same_line_total_are_its_two_fields_only(
    world: World,
) -> None:
    def same_total(invoice: Invoice) -> None:
        line = invoice.items[0]
        line.quantity, line.unit_price = line.quantity * line.unit_price, D("1.00")

    before = _update(world, lambda invoice: None).items[0]
    _update(world, same_total)

    for report in both(world):
        assert report.equal == 13 and not report.clients and not report.only_left
        (record,) = report.different
        assert [(d.path, d.left, d.right, d.derived) for d in record.differences] == [
            ("items[0].quantity", before.quantity, before.quantity * before.unit_price, ()),
            ("items[0].unit_price", before.unit_price, D("1.00"), ()),
        ]


@pytest.mark.parametrize("side", ["perfex", "daftra"])
def test_a_client_email_changed_in_either_system_is_one_client_row(world: World, side: str) -> None:
    source, target = world.invoice(InvoiceStatus.PAID)
    backend = world.perfex if side == "perfex" else world.daftra
    client_id = (source if side == "perfex" else target).client.id
    record = backend.get_client(str(client_id))
    old = record.email
    record.email = "planted.accounts@example.com"
    backend.update_client(record)

    for report in both(world):
        assert report.different == [] and report.equal == 14, report.to_dict()
        (client,) = report.clients
        values = (old, record.email) if side == "daftra" else (record.email, old)
        assert [(d.path, d.left, d.right) for d in client.differences] == [
            ("client.email", *values)
        ]
