"""Acme payloads to the neutral model and back, on the recorded fixtures (no network)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from invoicing_bridge_acme import AcmeBackend
from invoicing_bridge_acme.mapper import AcmeMapper

from invoicing_bridge import Client, Invoice, InvoiceStatus, LineItem, MappingError, TaxRate

Load = Callable[[str], Any]


@pytest.fixture
def mapper() -> AcmeMapper:
    return AcmeMapper()


def test_invoice_sent_with_a_payment_reads_partially_paid(
    mapper: AcmeMapper, payload: Load
) -> None:
    invoice = mapper.invoice(payload("invoices/get_partially_paid.json"))
    assert invoice.number == "A-0100" and invoice.id == "5"
    assert invoice.status is InvoiceStatus.PARTIALLY_PAID
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (
        Decimal("3120.50"),
        Decimal("450.00"),
        Decimal("3570.50"),
    )
    assert invoice.amount_paid == Decimal("1000.00")
    assert invoice.balance_due == Decimal("2570.50")
    assert invoice.due_date == dt.date(2026, 10, 25)
    assert invoice.client.tax_number == "EG-300-123-456"
    consulting, travel = invoice.items
    assert consulting.taxes == [TaxRate("VAT", Decimal("15"))]
    assert consulting.tax_amount == Decimal("450.00")
    assert travel.taxes == []
    [payment] = invoice.payments
    assert (payment.amount, payment.reference, payment.method) == (
        Decimal("1000.00"),
        "TRX-77",
        "bank_transfer",
    )
    assert invoice.check() == []
    assert invoice.extra["public_url"] == "https://acme.example/i/5"
    assert invoice.raw["invoice"]["ref"] == "A-0100"  # the payload as given, envelope kept


def test_money_is_exact_decimal(mapper: AcmeMapper, payload: Load) -> None:
    invoice = mapper.invoice(payload("invoices/get_partially_paid.json"))
    assert all(isinstance(v, Decimal) for v in (invoice.total, invoice.items[1].unit_price))
    assert str(invoice.items[1].unit_price) == "120.50"


def test_void_invoice_and_empty_due_date(mapper: AcmeMapper, payload: Load) -> None:
    invoice = mapper.invoice(payload("invoices/get_void.json"))
    assert invoice.status is InvoiceStatus.VOID
    assert invoice.due_date is None


def test_unknown_state_reads_unknown_not_an_error(mapper: AcmeMapper, payload: Load) -> None:
    invoice = mapper.invoice(payload("invoices/get_unknown_state.json"))
    assert invoice.status is InvoiceStatus.UNKNOWN


def test_parse_reads_a_list_page(payload: Load) -> None:
    records = AcmeBackend.for_parsing().parse_payload("invoice", payload("invoices/list.json"))
    assert [r.number for r in records if isinstance(r, Invoice)] == ["A-0001", "A-0002"]


def test_parse_reads_created_records(payload: Load) -> None:
    backend = AcmeBackend.for_parsing()
    [client] = backend.parse_payload("client", payload("customers/create.json"))
    assert isinstance(client, Client) and client.email == "ap@nile.example"
    [payment] = backend.parse_payload("payment", payload("payments/create.json"))
    assert payment.invoice_id == "5"  # type: ignore[union-attr]


def test_a_missing_required_field_is_a_mapping_error_naming_it(
    mapper: AcmeMapper, payload: Load
) -> None:
    body = payload("invoices/get_void.json")
    del body["invoice"]["total"]
    with pytest.raises(MappingError) as caught:
        mapper.invoice(body)
    assert caught.value.field == "total"
    assert "acme" in str(caught.value) and "invoice 5" in str(caught.value)


def test_two_taxes_on_a_line_are_refused_before_writing(mapper: AcmeMapper, payload: Load) -> None:
    invoice = mapper.invoice(payload("invoices/get_partially_paid.json"))
    invoice.items[0] = LineItem(
        name="Consulting",
        quantity=Decimal("1"),
        unit_price=Decimal("10"),
        taxes=[TaxRate("VAT", Decimal("15")), TaxRate("Levy", Decimal("1"))],
    )
    with pytest.raises(MappingError) as caught:
        mapper.invoice_body(invoice)
    assert caught.value.field == "items[0].taxes"


def test_invoice_body_writes_money_as_text(mapper: AcmeMapper, payload: Load) -> None:
    invoice = mapper.invoice(payload("invoices/get_partially_paid.json"))
    body = mapper.invoice_body(invoice)
    assert body["lines"][1] == {
        "title": "Travel",
        "qty": "1",
        "price": "120.50",
        "tax_name": None,
        "tax_rate": None,
    }
    assert body["customer_id"] == "4" and body["state"] == 1
