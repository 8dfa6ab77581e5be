"""Tables never cut an amount: at 80 and 60 columns every id, number, date, status and
amount is printed whole, no column is dropped, zero balances read 0.00, and money has its
currency's decimals (issue 17)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from invoicing_bridge.cli.output import emit
from invoicing_bridge.models import Client, Invoice, LineItem, Payment
from invoicing_bridge.money import format_amount, precision

D = Decimal


def _invoices() -> list[Invoice]:
    def invoice(number: str, name: str, price: str, currency: str, paid: str) -> Invoice:
        built = Invoice.build(
            number=number,
            issue_date=dt.date(2026, 3, 1),
            currency=currency,
            client=Client(name=name),
            items=[LineItem("Consulting", D("1"), D(price))],
            amount_paid=D(paid),
        )
        built.id = number[-3:]
        return built

    return [
        invoice("INV-2026/000017", "Gulf Horizon Logistics", "47848.03", "SAR", "0"),
        invoice("INV-2026/000018", "شركة النيل للتجارة والتوزيع", "53135", "USD", "53135"),
        invoice("INV-2026/000019", "Sara Mahmoud", "1.5", "KWD", "0.5"),
    ]


def _print(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, width: int) -> str:
    monkeypatch.setenv("COLUMNS", str(width))
    emit(_invoices(), "table", title="shop: invoices")
    out = capsys.readouterr().out
    assert max(len(line.rstrip()) for line in out.splitlines()) <= width
    return out


@pytest.mark.parametrize("width", [120, 80, 60, 40])
def test_invoice_table_cuts_no_amount_and_drops_no_column(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, width: int
) -> None:
    out = _print(capsys, monkeypatch, width)
    for whole in (
        "47848.03",  # was "47848." at 80 columns
        "53135.00",  # two decimals, though the remote wrote none
        "1.500",  # KWD has three
        "1.000",
        "0.00",  # a zero balance is written, not blank
        "INV-2026/000017",
        "2026-03-01",
        "partially_paid",
    ):
        assert whole in out, f"{whole!r} missing at {width} columns:\n{out}"
    for header in ("id", "number", "date", "client", "status", "total", "balance"):
        assert header in out, f"column {header!r} dropped at {width} columns"


def test_wide_terminal_prints_a_table_narrow_one_a_block_per_record(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    wide = _print(capsys, monkeypatch, 120)
    assert wide.count("number") == 1  # one header row
    narrow = _print(capsys, monkeypatch, 40)
    assert narrow.count("number") == 3  # a block per invoice


def test_payments_table_keeps_amounts_whole(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    payments = [
        Payment(D("86285.57"), dt.date(2026, 3, 3), "bank_transfer", id="2", invoice_id="2"),
        Payment(D("0"), dt.date(2026, 3, 4), "cash", id="3", invoice_id="2", currency="JPY"),
    ]
    emit(payments, "table")
    out = capsys.readouterr().out
    assert "86285.57" in out and "0 JPY" in out and "bank_transfer" in out.replace("\n", "")


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        ("53135", "USD", "53135.00"),
        ("0", "SAR", "0.00"),
        ("-0.00", None, "0.00"),
        ("1.5", "KWD", "1.500"),
        ("1000", "JPY", "1000"),
        ("12.3456", "USD", "12.3456"),  # more digits than the currency: kept, not rounded
        ("1E+3", "EGP", "1000.00"),
        ("18719.7500", "usd", "18719.75"),
    ],
)
def test_format_amount(amount: str, currency: str | None, text: str) -> None:
    assert format_amount(D(amount), currency) == text


def test_precision_defaults_to_two() -> None:
    assert precision(None) == precision("XYZ") == 2
    assert precision("OMR") == 3 and precision("JPY") == 0


@pytest.mark.parametrize("width", [120, 60])
def test_get_of_one_invoice_shows_its_lines_totals_and_payments(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, width: int
) -> None:
    """``get shop invoice 1`` printed the list's one summary row: no line, no tax, no
    payment, which is what one asks one invoice for."""
    from invoicing_bridge.models import TaxRate

    monkeypatch.setenv("COLUMNS", str(width))
    invoice = Invoice.build(
        number="INV-7",
        issue_date=dt.date(2026, 3, 1),
        currency="SAR",
        client=Client(name="Gulf Horizon Logistics"),
        items=[
            LineItem("Training workshop", D("3.5"), D("5400"), taxes=[TaxRate("VAT", D("15"))]),
            LineItem("Consulting hours", D("2"), D("350"), discount=D("70")),
        ],
        payments=[Payment(D("1000"), dt.date(2026, 3, 3), "bank_transfer", id="9")],
        amount_paid=D("1000"),
    )
    emit([invoice], "table", single=True, title="shop: invoice 7")
    out = capsys.readouterr().out
    assert max(len(line.rstrip()) for line in out.splitlines()) <= width
    for whole in (
        "Training workshop",
        "3.5",
        "5400.00",
        "VAT 15%",
        "18900.00",  # the line's net
        "70.00",  # a discount
        "630.00",
        "2835.00 SAR",  # the tax total
        "22365.00 SAR",  # the total
        "1000.00 SAR",  # paid, and the payment
        "21365.00 SAR",  # the balance
        "bank_transfer",
    ):
        assert whole in out, f"{whole!r} missing at {width} columns:\n{out}"
    # A list prints rows only: the detail is for one invoice.
    emit([invoice, invoice], "table", title="shop: invoices")
    assert "Training workshop" not in capsys.readouterr().out
