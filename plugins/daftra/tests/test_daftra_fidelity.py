"""Fidelity to the real Daftra (issue 13): what api-notes "Findings from primary sources"
says the real server does, learnt by the emulator first, then handled by the backend.

Each topic has a payload built from the notes (``fixtures/``), a mapping or request test,
and the emulator behaving that way (a switch where the behaviour depends on the install).
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable, Iterator
from decimal import ROUND_HALF_UP, Decimal
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
    with DaftraEmulator(invoices=30, seed=3, api_key=KEY) as running:
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


# --------------------------------------------------------------------------- sub-cent tax


def _pins(tax_total: str) -> Invoice:
    """Three lines of 0.10 at 15 %: 0.015 of tax each, 0.045 exact, 0.06 rounded per line."""
    line = LineItem(name="Pin", quantity=Decimal(1), unit_price=Decimal("0.10"), taxes=[VAT15])
    invoice = Invoice.build(
        number=f"PIN-{tax_total}",
        issue_date=dt.date(2026, 9, 25),
        currency="SAR",
        client=Client(name="Pin buyer", company_name="Pin buyer", email="pins@example.com"),
        items=[line, copy.deepcopy(line), copy.deepcopy(line)],
    )
    invoice.tax_total = Decimal(tax_total)
    invoice.total = invoice.subtotal + invoice.tax_total
    invoice.balance_due = invoice.total
    return invoice


def test_the_account_shows_how_it_rounds_line_taxes(install: DaftraEmulator) -> None:
    # api-notes "Findings", Precision: no source says Daftra rounds a line's tax to the
    # cent; an account's own invoices show it (a seeded line of 425.50 at 15 % has an
    # exact tax of 63.825).
    with _backend(install) as daftra:
        assert daftra._rounding_shown() == "cent"  # shown, not assumed
    install.state.unrounded_tax = True
    with _backend(install) as daftra:
        assert daftra.tax_roundings() == ("four",)
    with _backend(install, tax_rounding="cent") as daftra:
        assert daftra.tax_roundings() == ("cent",)  # the option wins
    with DaftraEmulator(invoices=0, seed=3, api_key=KEY) as empty, _backend(empty) as daftra:
        assert daftra.tax_roundings() == ("cent",)  # nothing to tell: cent


def test_rounding_shown_needs_a_line_whose_tax_has_sub_cent_places() -> None:
    from invoicing_bridge_daftra.plan import rounding_shown
    from invoicing_bridge_daftra.schemas.read import TaxInfo

    taxes = {"1": TaxInfo("1", "VAT", Decimal(15)), "4": TaxInfo("4", "VAT", Decimal(15), True)}

    def record(net: str, tax: str, tax_id: str = "1", discount: str = "0") -> dict[str, Any]:
        row = {"subtotal": net, "tax1": tax_id, "summary_tax1": tax}
        return {"summary_discount": discount, "InvoiceItem": [row]}

    assert rounding_shown([record("100", "15")], taxes) is None  # exact at the cent
    assert rounding_shown([record("425.5", "63.825")], taxes) == "four"
    assert rounding_shown([record("425.5", "63.83")], taxes) == "cent"
    assert rounding_shown([record("425.5", "63.825", tax_id="4")], taxes) is None  # inclusive
    assert rounding_shown([record("425.5", "63.825", discount="5")], taxes) is None


@pytest.mark.parametrize(
    ("unrounded", "source_tax", "changed"),
    [
        (False, "0.06", False),  # the account rounds each line: 0.06 is its figure
        (True, "0.05", False),  # four places: 0.045 stored, the same cents
        (True, "0.06", True),  # four places: 0.045 stored, 0.015 moved to the adjustment
    ],
)
def test_dry_run_and_run_agree_on_sub_cent_tax(
    install: DaftraEmulator, tmp_path: Any, unrounded: bool, source_tax: str, changed: bool
) -> None:
    from invoicing_bridge import migrate
    from invoicing_bridge.backends.memory import MemoryBackend

    install.state.unrounded_tax = unrounded
    source = MemoryBackend(label="shop")
    client = source.create_client(_pins(source_tax).client)
    wanted = _pins(source_tax)
    wanted.client = client
    source.create_invoice(wanted)
    ledger = tmp_path / "ledger.sqlite"
    with _backend(install) as target:
        dry = migrate(source, target, ledger=ledger, dry_run=True)
    with _backend(install) as target:
        report = migrate(source, target, ledger=ledger)
        [planned] = [r for r in dry.records if r.kind == "invoice"]
        [result] = [r for r in report.records if r.kind == "invoice"]
        assert result.target_id is not None
        stored = target.get_invoice(result.target_id)
    assert (planned.outcome, result.outcome) == (
        ("would_transform", "transformed") if changed else ("would_create", "created")
    )
    assert [c.to_dict() for c in planned.changes] == [c.to_dict() for c in result.changes]
    expected_tax = Decimal("0.045") if unrounded else Decimal("0.06")
    assert stored.tax_total == expected_tax
    # The total is the source's to the cent, and every cent moved is reported.
    assert stored.total.quantize(Decimal("0.01"), ROUND_HALF_UP) == wanted.total
    if changed:
        assert {(c.field, c.new) for c in result.changes if c.rule == "tax_rounding"} == {
            ("tax_total", "0.0450"),
            ("adjustment", "0.0150"),
        }
        assert stored.total == wanted.total and stored.adjustment == Decimal("0.015")


# --------------------------------------------------------------------------- adjustment


def test_adjustment_columns_are_read_into_the_adjustment(fixture: Callable[[str], Any]) -> None:
    # api-notes "Findings", Adjustment: the invoices table has adjustment_label and
    # adjustment_value; where a GET has them they are part of the total.
    parser = DaftraBackend.for_parsing(date_format="%d/%m/%Y")
    [invoice] = parser.parse_payload("invoice", fixture("invoices/get_adjustment.json"))
    assert isinstance(invoice, Invoice)
    assert invoice.adjustment == Decimal("-0.04")
    assert invoice.extra["adjustment_label"] == "Rounding"
    assert invoice.total == Decimal("43356")
    assert invoice.tax_total == Decimal("5655.14")  # the lines' taxes, as without it
    assert invoice.check() == []


def test_update_writes_the_adjustment_back_where_it_was_read(
    fixture_text: Callable[[str], str], base_url: str, api_key: str
) -> None:
    import json

    import responses

    with (
        responses.RequestsMock() as mock,
        DaftraBackend(
            subdomain="alnoor", api_key=api_key, date_format="%d/%m/%Y", tax_rounding="cent"
        ) as daftra,
    ):
        mock.get(f"{base_url}/taxes.json", body=fixture_text("taxes/list.json"))
        mock.get(
            f"{base_url}/invoices/2415.json", body=fixture_text("invoices/get_adjustment.json")
        )
        mock.put(f"{base_url}/invoices/2415.json", body=fixture_text("invoices/update.json"))
        invoice = daftra.get_invoice("2415")
        invoice.adjustment = Decimal("-0.07")
        invoice.total -= Decimal("0.03")
        daftra.update_invoice(invoice)
        [put] = [c for c in mock.calls if c.request.method == "PUT"]
        assert put.request.body is not None
        header = json.loads(put.request.body, parse_float=Decimal)["Invoice"]
    # Signed and untaxed in adjustment_value: not folded into the discount.
    assert header["adjustment_value"] == Decimal("-0.0700")
    assert header["adjustment_label"] == "Rounding"
    assert header["discount_amount"] == Decimal("0.0000")
    assert "shipping_amount" not in header


def test_emulated_adjustment_columns_keep_the_totals_adding_up(install: DaftraEmulator) -> None:
    install.state.adjustment_columns = True
    line = LineItem(name="Setup", quantity=Decimal(2), unit_price=Decimal(100), taxes=[VAT15])
    wanted = _invoice(install, line, number="ADJ-1", adjustment=Decimal(5))
    with _backend(install) as daftra:
        stored = daftra.create_invoice(wanted)  # a create writes shipping, as before
        assert stored.id is not None and stored.adjustment == Decimal(5)
        stored.adjustment = Decimal("4.97")  # 0.03 of rounding taken off
        stored.total -= Decimal("0.03")
        updated = daftra.update_invoice(stored)
    record = install.state.invoice(int(stored.id))
    assert record["shipping_amount"] == Decimal(5)  # the shipping as read, kept
    assert record["adjustment_value"] == Decimal("-0.03")
    assert updated.adjustment == Decimal("4.97")
    assert updated.tax_total == Decimal(30)  # untaxed: the tax did not move
    assert updated.total == Decimal("234.97")
    assert updated.check() == []
    install.state.adjustment_columns = False  # an install whose GET has no such columns
    with _backend(install) as daftra:
        plain = daftra.get_invoice(stored.id)
    assert "adjustment_value" not in plain.raw["Invoice"]


# --------------------------------------------------------------------------- tax-inclusive


def _inclusive_tax(emulator: DaftraEmulator) -> None:
    """The account gets a tax-inclusive VAT of 15 % (id 4), as in fixtures/taxes."""
    emulator.state.taxes[4] = {
        **emulator.state.taxes[1],
        "id": 4,
        "name": "VAT inclusive",
        "included": 1,
    }


def test_tax_inclusive_lines_are_read_net_of_their_tax(fixture: Callable[[str], Any]) -> None:
    # api-notes "Findings", Tax-inclusive taxes: included 1 means the line's price holds
    # the tax; the net is price ÷ (1 + rate).
    parser = DaftraBackend.for_parsing(date_format="%d/%m/%Y")
    [invoice] = parser.parse_payload("invoice", fixture("invoices/get_tax_inclusive.json"))
    assert isinstance(invoice, Invoice)
    machine, cups = invoice.items
    assert (machine.unit_price, machine.net, machine.taxes) == (Decimal(1000), 1000, [VAT_INCL])
    assert machine.extra["price_includes_tax"] is True
    assert machine.extra["unit_price_with_tax"] == Decimal(1150)
    assert (cups.unit_price, cups.net) == (Decimal("65.2174"), Decimal("130.4348"))
    assert invoice.tax_total == Decimal("169.5652")
    assert invoice.total == Decimal(1300)  # what the customer was shown: 1150 + 2 x 75
    assert invoice.check() == []


VAT_INCL = TaxRate("VAT inclusive", Decimal(15))


def test_tax_inclusive_lines_are_written_as_entered(install: DaftraEmulator) -> None:
    _inclusive_tax(install)
    install.state.unrounded_tax = True  # the invoice's figures keep four places
    with _backend(install) as daftra:
        read = daftra.parse_payload("invoice", _fixture("invoices/get_tax_inclusive.json"))[0]
        assert isinstance(read, Invoice)
        read.id, read.client = None, Client(id="1", name="x")
        read.number = "INCL-1"
        daftra.validate_invoice(read)  # the tax Daftra computes is the invoice's
        stored = daftra.create_invoice(read)
    assert stored.id is not None
    record = install.state.invoice(int(stored.id))
    assert [(i["unit_price"], i["tax1"]) for i in record["items"]] == [
        (Decimal(1150), 4),
        (Decimal(75), 4),
    ]
    assert [i.unit_price for i in stored.items] == [Decimal(1000), Decimal("65.2174")]
    assert (stored.tax_total, stored.total) == (Decimal("169.5652"), Decimal(1300))
    assert stored.check() == []


def test_a_changed_tax_inclusive_line_is_written_exclusive(install: DaftraEmulator) -> None:
    # Its price no longer matches the price as entered: written net, with the
    # exclusive tax of the same rate.
    _inclusive_tax(install)
    with _backend(install) as daftra:
        read = daftra.parse_payload("invoice", _fixture("invoices/get_tax_inclusive.json"))[0]
        assert isinstance(read, Invoice)
        item = read.items[0]
        item.unit_price = Decimal(900)
        item.net_amount = Decimal(900)
        body = daftra.mapper.dump("invoice", read)
    assert body["InvoiceItem"][0]["unit_price"] == Decimal("900.0000")
    assert body["InvoiceItem"][0]["tax1"] == 1
    assert body["InvoiceItem"][1]["unit_price"] == Decimal("75.0000")
    assert body["InvoiceItem"][1]["tax1"] == 4


def test_emulated_inclusive_tax_is_shown_in_invoice_taxes(install: DaftraEmulator) -> None:
    _inclusive_tax(install)
    line = LineItem(
        name="Kettle",
        quantity=Decimal(1),
        unit_price=Decimal(100),
        taxes=[VAT_INCL],
        extra={"price_includes_tax": True, "unit_price_with_tax": Decimal(115)},
    )
    wanted = _invoice(install, line, number="INCL-2")
    with _backend(install) as daftra:
        stored = daftra.create_invoice(wanted)
    assert stored.raw["Invoice"]["InvoiceTax"][0]["included"] == "1"
    assert stored.items[0].net == Decimal(100) and stored.tax_total == Decimal(15)
    assert stored.total == Decimal(115)


def _fixture(name: str) -> Any:
    import json
    from pathlib import Path

    path = Path(__file__).parent / "fixtures" / name
    return json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)


def test_a_key_that_may_not_list_invoices_leaves_the_rounding_assumed(
    fixture_text: Callable[[str], str], base_url: str, api_key: str
) -> None:
    import responses

    with (
        responses.RequestsMock() as mock,
        DaftraBackend(
            subdomain="alnoor", api_key=api_key, date_format="%d/%m/%Y", max_retries=0
        ) as daftra,
    ):
        mock.get(
            f"{base_url}/invoices.json", body=fixture_text("errors/forbidden.json"), status=403
        )
        assert daftra.tax_roundings() == ("cent",)
        assert daftra.tax_roundings() == ("cent",)  # decided once
        assert len(mock.calls) == 1
