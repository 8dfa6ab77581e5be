"""Fidelity to the real Daftra (issue 13): what api-notes "Findings from primary sources"
says the real server does, learnt by the emulator first, then handled by the backend.

Each topic has a payload built from the notes (``fixtures/``), a mapping or request test,
and the emulator behaving that way (a switch where the behaviour depends on the install).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from invoicing_bridge_daftra.backend import DaftraBackend
from invoicing_bridge_daftra.emulator import DaftraEmulator

from invoicing_bridge.backends.base import Feature
from invoicing_bridge.models import Client, Invoice, LineItem, TaxRate

KEY = "fidelity-key"
VAT15 = TaxRate("VAT", Decimal(15))


@pytest.fixture
def install() -> Iterator[DaftraEmulator]:
    """A fresh emulated account per test: the tests flip its switches."""
    with DaftraEmulator(invoices=4, seed=3, api_key=KEY) as running:
        yield running


def _backend(emulator: DaftraEmulator, **extra: Any) -> DaftraBackend:
    options = {k: v for k, v in emulator.profile().items() if k != "backend"}
    return DaftraBackend(date_format="%d/%m/%Y", backoff_base=0, **options, **extra)


def _invoice(emulator: DaftraEmulator, *items: LineItem, number: str, **fields: Any) -> Invoice:
    client = emulator.state.clients[1]
    return Invoice.build(
        number=number,
        issue_date=dt.date(2026, 9, 25),
        currency="SAR",
        client=Client(id="1", name=str(client["business_name"] or "Client 1")),
        items=list(items),
        **fields,
    )


# --------------------------------------------------------------------------- due date


def test_a_get_without_due_after_has_no_due_date(fixture: Callable[[str], Any]) -> None:
    # api-notes "Findings", Due date: the documented v1 GET Single Invoice has no
    # due_after; nothing else on the record gives a due date.
    parser = DaftraBackend.for_parsing(date_format="%d/%m/%Y")
    [invoice] = parser.parse_payload("invoice", fixture("invoices/get_without_due_after.json"))
    assert isinstance(invoice, Invoice)
    assert invoice.due_date is None
    assert invoice.issue_date == dt.date(2026, 9, 25)
    assert invoice.check() == []


def test_emulated_get_without_due_after_and_the_due_date_written(install: DaftraEmulator) -> None:
    install.state.due_after_in_get = False
    line = LineItem(name="Setup", quantity=Decimal(1), unit_price=Decimal(100))
    wanted = _invoice(install, line, number="DUE-1", due_date=dt.date(2026, 10, 25))
    with _backend(install) as daftra:
        stored = daftra.create_invoice(wanted)
        # The create's answer keeps the due date it wrote, and says so...
        assert stored.due_date == dt.date(2026, 10, 25)
        assert stored.extra["due_date_as_sent"] is True
        # ...a later read has none to give, and does not make one up.
        assert stored.id is not None
        again = daftra.get_invoice(stored.id)
    assert "due_after" not in again.raw["Invoice"]
    assert again.due_date is None and "due_date_as_sent" not in again.extra
    assert install.state.invoice(int(stored.id))["due_after"] == 30  # stored all the same


def test_emulated_get_with_due_after_reads_it(install: DaftraEmulator) -> None:
    line = LineItem(name="Setup", quantity=Decimal(1), unit_price=Decimal(100))
    wanted = _invoice(install, line, number="DUE-2", due_date=dt.date(2026, 10, 10))
    with _backend(install) as daftra:
        stored = daftra.create_invoice(wanted)
    assert stored.due_date == dt.date(2026, 10, 10)
    assert "due_date_as_sent" not in stored.extra


# --------------------------------------------------------------------------- client search


def test_daftra_declares_finding_clients_by_tax_number(install: DaftraEmulator) -> None:
    # find_client compares every row of the client list, so bn1/bn2 are found too; the
    # contract suite (TestDaftraContract) runs its tax-number search because of this.
    seeded = next(c for c in install.state.clients.values() if c.get("bn1"))
    with _backend(install) as daftra:
        assert Feature.FIND_CLIENT_BY_TAX_NUMBER in daftra.features
        found = daftra.find_client(tax_number=f" {seeded['bn1']} ")
    assert found is not None and found.id == str(seeded["id"])
