"""An invoice's payments recorded in the create's own request (api-notes §3: ``Payment[]``
beside ``Invoice``), against the emulator over HTTP, with the requests it took."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import pytest
import requests
from invoicing_bridge_daftra.backend import DaftraBackend
from invoicing_bridge_daftra.emulator import DaftraEmulator

from invoicing_bridge.backends.base import Feature
from invoicing_bridge.models import Client, Invoice, LineItem, Payment, PaymentStatus


@pytest.fixture
def emu() -> Iterator[DaftraEmulator]:
    with DaftraEmulator(invoices=2, seed=5) as running:
        yield running


def _backend(emu: DaftraEmulator) -> DaftraBackend:
    options = {k: v for k, v in emu.profile().items() if k != "backend"}
    return DaftraBackend(**options)


def _invoice(emu: DaftraEmulator, number: str, *payments: Payment, email: str | None) -> Invoice:
    client = emu.state.clients[1]
    invoice = Invoice.build(
        number=number,
        issue_date=dt.date(2026, 9, 25),
        currency=str(client.get("default_currency_code") or "SAR"),
        client=Client(id="1", name=str(client["business_name"] or "x"), email=email),
        items=[LineItem(name="Service", quantity=Decimal(1), unit_price=Decimal("100"))],
    )
    invoice.payments = list(payments)
    return invoice


def _pay(amount: str, method: str = "cash", notes: str | None = None) -> Payment:
    return Payment(Decimal(amount), dt.date(2026, 9, 26), method, notes=notes)


def _routes(emu: DaftraEmulator) -> dict[str, int]:
    routes: dict[str, int] = emu.stats.snapshot()["by_route"]
    return routes


def test_the_backend_declares_it() -> None:
    assert Feature.CREATE_WITH_PAYMENTS in DaftraBackend.features


def test_payments_go_in_the_create_request(emu: DaftraEmulator) -> None:
    with _backend(emu) as daftra:
        daftra.taxes.read(refresh=False)
        emu.stats.reset()
        stored = daftra.create_invoice(
            _invoice(emu, "CWP-1", _pay("40"), _pay("25.5", "bank_transfer"), email=None)
        )
    routes = _routes(emu)
    assert routes.get("POST /api2/invoices.json") == 1
    assert not [r for r in routes if "invoice_payments" in r]  # none on their own
    assert sum(n for r, n in routes.items() if r.startswith("POST ")) == 1
    assert sorted(p.amount for p in stored.payments) == [Decimal("25.5"), Decimal("40")]
    assert all(p.id for p in stored.payments)
    assert stored.amount_paid == Decimal("65.5")


def test_a_pending_payment_is_not_recorded(emu: DaftraEmulator) -> None:
    pending = _pay("10")
    pending.status = PaymentStatus.PENDING
    with _backend(emu) as daftra:
        stored = daftra.create_invoice(_invoice(emu, "CWP-2", _pay("40"), pending, email=None))
    assert [p.amount for p in stored.payments] == [Decimal("40")]


def test_the_emulator_refuses_a_paypal_row_without_email(emu: DaftraEmulator) -> None:
    # api-notes §3: Payment[] rows need ``email`` for paypal and stripe.
    body = {
        "Invoice": {"client_id": 1, "date": "2026-09-25"},
        "InvoiceItem": [{"item": "x", "unit_price": 10, "quantity": 1}],
        "Payment": [{"payment_method": "paypal", "amount": 5}],
    }
    answer = requests.post(
        f"{emu.base_url}/invoices.json", json=body, headers={"apikey": emu.api_key}, timeout=10
    )
    assert answer.status_code == 400
    assert "Payment.0.email" in answer.json()["validation_errors"]
    body["Payment"][0]["email"] = "payer@example.com"  # type: ignore[index]
    answer = requests.post(
        f"{emu.base_url}/invoices.json", json=body, headers={"apikey": emu.api_key}, timeout=10
    )
    assert answer.status_code == 202


def test_paypal_goes_in_the_create_with_the_clients_email(emu: DaftraEmulator) -> None:
    with _backend(emu) as daftra:
        daftra.taxes.read(refresh=False)
        emu.stats.reset()
        stored = daftra.create_invoice(
            _invoice(emu, "CWP-3", _pay("40", "paypal"), email="payer@example.com")
        )
    assert not [r for r in _routes(emu) if "invoice_payments" in r]
    assert [p.method for p in stored.payments] == ["paypal"]


def test_what_a_create_row_cannot_carry_is_recorded_on_its_own(emu: DaftraEmulator) -> None:
    # No email for paypal; notes are not a documented Payment[] field.
    with _backend(emu) as daftra:
        daftra.taxes.read(refresh=False)
        emu.stats.reset()
        stored = daftra.create_invoice(
            _invoice(
                emu,
                "CWP-4",
                _pay("40", "paypal"),
                _pay("20", notes="second instalment"),
                _pay("15"),
                email=None,
            )
        )
    routes = _routes(emu)
    assert routes.get("POST /api2/invoices.json") == 1
    assert routes.get("POST /api2/invoice_payments.json") == 2
    by_amount = {p.amount: p for p in stored.payments}
    assert set(by_amount) == {Decimal("40"), Decimal("20"), Decimal("15")}
    assert by_amount[Decimal("20")].notes == "second instalment"
    assert by_amount[Decimal("40")].method == "paypal"
