"""Memory backend behaviour beyond the shared contract suite: atomic creates, offline parsing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from invoicing_bridge import get_backend
from invoicing_bridge.backends.memory import MemoryBackend
from invoicing_bridge.exceptions import InvalidRequest, MappingError
from invoicing_bridge.models import Client, Invoice, InvoiceStatus, LineItem, Payment

DAY = dt.date(2024, 4, 1)


@pytest.fixture
def backend() -> MemoryBackend:
    backend = get_backend("memory")
    assert isinstance(backend, MemoryBackend)
    return backend


def _invoice(client: Client, *payments: Payment, number: str = "INV-1") -> Invoice:
    return Invoice.build(
        number=number,
        issue_date=DAY,
        currency="EGP",
        client=client,
        items=[LineItem(name="Widget", quantity=Decimal("2"), unit_price=Decimal("50.00"))],
        amount_paid=sum((p.amount for p in payments), Decimal("0")),
        payments=list(payments),
    )


@pytest.mark.parametrize("amount", ["0", "-5.00"])
def test_create_invoice_with_a_refused_payment_stores_nothing(
    backend: MemoryBackend, amount: str
) -> None:
    client = backend.create_client(Client(name="ACME"))
    good = Payment(amount=Decimal("10"), date=DAY, method="cash")
    bad = Payment(amount=Decimal(amount), date=DAY, method="cash")
    with pytest.raises(InvalidRequest) as info:
        backend.create_invoice(_invoice(client, good, bad))
    # Refused by the core's amount check, before memory's own: the field names the payment.
    assert "payments[1].amount" in info.value.field_errors
    assert list(backend.iter_invoices()) == []
    assert list(backend.iter_payments()) == []
    assert backend.find_invoice("INV-1") is None
    # The number is still free: the corrected invoice goes in.
    stored = backend.create_invoice(_invoice(client, good))
    assert stored.amount_paid == Decimal("10")
    assert stored.status is InvoiceStatus.PARTIALLY_PAID


def test_create_invoice_records_its_payments(backend: MemoryBackend) -> None:
    client = backend.create_client(Client(name="ACME"))
    paid = Payment(amount=Decimal("100.00"), date=DAY, method="bank_transfer")
    stored = backend.create_invoice(_invoice(client, paid))
    assert stored.status is InvoiceStatus.PAID
    assert stored.balance_due == Decimal("0")
    (payment,) = backend.iter_payments(invoice_id=stored.id)
    assert payment.invoice_id == stored.id
    assert payment.currency == "EGP"
    assert stored.check() == []


@pytest.mark.parametrize(
    "payload",
    [["not a record"], 42, [None], [{"number": "1"}], {"name": "x", "quantity": 1.5}],
    ids=["string-row", "number", "null-row", "missing-keys", "a-line-not-an-invoice"],
)
def test_parse_payload_refuses_what_is_not_a_neutral_record(
    backend: MemoryBackend, payload: Any
) -> None:
    with pytest.raises(MappingError) as info:
        backend.parse_payload("invoice", payload)
    assert info.value.backend == "memory"


def test_parse_payload_reads_the_neutral_json_form(backend: MemoryBackend) -> None:
    invoice = _invoice(Client(name="ACME", id="1"))
    records = backend.parse_payload("invoice", [invoice.to_dict(include_raw=True)])
    assert records == [invoice]


def test_parse_payload_unknown_kind_is_a_mapping_error(backend: MemoryBackend) -> None:
    with pytest.raises(MappingError, match="unknown record kind"):
        backend.parse_payload("estimate", {})


def test_parse_payload_refuses_a_float_amount(backend: MemoryBackend) -> None:
    data = _invoice(Client(name="ACME", id="1")).to_dict()
    data["total"] = 100.0
    with pytest.raises(MappingError, match="float"):
        backend.parse_payload("invoice", data)


def test_find_client_compares_by_the_identity_rule(backend: MemoryBackend) -> None:
    stored = backend.create_client(
        Client(name="Acme  Trading LLC", email="Billing@Acme.test", tax_number="EG 300-123")
    )
    assert backend.find_client(tax_number="eg300123") == stored
    assert backend.find_client(email=" billing@acme.TEST ") == stored
    assert backend.find_client(name="acme trading  llc") == stored
    assert backend.find_client(name="AcmeTrading LLC") is None  # words stay apart
    assert backend.find_client(email="billing@acme.test", tax_number="999") is None


def test_label_names_the_backend_and_its_label_option() -> None:
    with MemoryBackend(label="books") as backend:
        assert backend.label == "memory:books"
        created = backend.create_client(Client(name="A"))
        assert created.source is not None and created.source.backend == "books"
