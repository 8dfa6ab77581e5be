"""Daftra's payment method names and the neutral slugs, both ways."""

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from invoicing_bridge_daftra.backend import DaftraBackend
from invoicing_bridge_daftra.schemas import DaftraPaymentBodySchema, daftra_method, slug

from invoicing_bridge.models import Payment

FIXTURES = Path(__file__).parent / "fixtures"


def payment_row(method: str) -> dict[str, Any]:
    data = json.loads((FIXTURES / "invoice_payments/get.json").read_text(encoding="utf-8"))
    row: dict[str, Any] = data["data"]["InvoicePayment"]
    row["payment_method"] = method
    return row


@pytest.mark.parametrize(
    ("daftra", "neutral"),
    [
        ("credit_card", "card"),
        ("Credit Card", "card"),
        ("cash", "cash"),
        ("bank_transfer", "bank_transfer"),
        ("paypal", "paypal"),
        ("client_credit", "client_credit"),
    ],
)
def test_read_method_becomes_the_neutral_slug(daftra: str, neutral: str) -> None:
    backend = DaftraBackend.for_parsing(date_format="%d/%m/%Y")
    [payment] = backend.parse_payload("payment", payment_row(daftra))
    assert isinstance(payment, Payment)
    assert payment.method == neutral
    if slug(daftra) != daftra:
        assert payment.extra["payment_method"] == daftra


@pytest.mark.parametrize(
    ("neutral", "daftra"), [("card", "credit_card"), ("cash", "cash"), ("cheque", "cheque")]
)
def test_written_method_is_daftras_name(neutral: str, daftra: str) -> None:
    assert daftra_method(neutral) == daftra
    payment = Payment(
        invoice_id="7", amount=Decimal("10"), date=dt.date(2026, 9, 1), method=neutral
    )
    body = DaftraPaymentBodySchema().dump(payment)
    assert json.dumps(body, default=str).count(f'"{daftra}"') == 1
