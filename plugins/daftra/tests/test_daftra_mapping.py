"""Daftra payloads (fixtures written from the notes) → the neutral model, offline."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st
from invoicing_bridge_daftra.backend import DaftraBackend
from invoicing_bridge_daftra.qr import QRDecodeError, decode_qr_url, encode_qr_url
from invoicing_bridge_daftra.schemas import invoice_status, payment_status

from invoicing_bridge.exceptions import MappingError
from invoicing_bridge.models import (
    Client,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentStatus,
    TaxRate,
)

Load = Callable[[str], Any]


def one(records: list[Any]) -> Any:
    assert len(records) == 1, records
    return records[0]


# --------------------------------------------------------------------------- invoices


def test_single_invoice_envelope_maps_header_totals_and_client(
    parser: DaftraBackend, fixture_text: Callable[[str], str]
) -> None:
    invoice: Invoice = one(parser.parse_payload("invoice", fixture_text("invoices/get.json")))
    assert invoice.id == "2415"
    assert invoice.number == "000021"
    assert invoice.issue_date == dt.date(2026, 9, 25)
    assert invoice.due_date == dt.date(2026, 10, 25)  # date + due_after 30
    assert invoice.currency == "SAR"
    assert invoice.status is InvoiceStatus.PARTIALLY_PAID
    assert invoice.subtotal == Decimal("37700.9")
    assert invoice.discount_total == 0
    assert invoice.tax_total == Decimal("5655.14")
    assert invoice.total == Decimal("43356.04")
    assert invoice.amount_paid == Decimal("33999.9961")
    assert invoice.balance_due == Decimal("9356.0439")
    assert invoice.notes == "شكراً لتعاملكم معنا"
    assert invoice.created_at == dt.datetime(2026, 9, 25, 9, 12)
    assert invoice.source is not None and invoice.source.id == "2415"
    assert invoice.check() == []
    client = invoice.client
    assert client.id == "512"
    assert client.name == "شركة النور للتجارة"
    assert client.company_name == "شركة النور للتجارة"
    assert client.first_name is None and client.last_name is None  # "" is absent
    # bn2 is labelled as the tax number (الرقم الضريبي); bn1 is the commercial register.
    assert client.tax_number == "310122393500003"
    assert client.address is not None and client.address.city == "الرياض"
    assert client.address.line2 is None


def test_single_invoice_items_keep_discounts_taxes_and_products(
    parser: DaftraBackend, fixture_text: Callable[[str], str]
) -> None:
    invoice: Invoice = one(parser.parse_payload("invoice", fixture_text("invoices/get.json")))
    laptop, care = invoice.items
    assert laptop.name == "Laptop Dell Latitude 5440"
    assert laptop.description is None
    assert (laptop.quantity, laptop.unit_price) == (Decimal(1), Decimal(35000))
    assert laptop.taxes == [TaxRate("VAT", Decimal(15))]  # offline: from InvoiceTax
    assert laptop.tax_amount == Decimal(5250)
    assert (laptop.product_id, laptop.sku) == ("77", "DL-5440")
    # A 10 % line discount (discount_type 1) becomes an amount; the percentage is kept.
    assert care.discount == Decimal("300.1")
    assert care.extra["discount_percent"] == Decimal(10)
    assert care.net_amount == Decimal("2700.9")
    assert care.tax_amount == Decimal("405.14")


def test_single_invoice_payments_keep_four_decimals(
    parser: DaftraBackend, fixture_text: Callable[[str], str]
) -> None:
    invoice: Invoice = one(parser.parse_payload("invoice", fixture_text("invoices/get.json")))
    cash, credit = invoice.payments
    assert str(cash.amount) == "32999.9961"
    assert cash.method == "cash" and cash.reference == "TRX-88"
    assert cash.date == dt.date(2026, 9, 26)
    assert cash.status is PaymentStatus.COMPLETED
    assert cash.invoice_id == "2415"
    assert credit.method == "client_credit"
    assert credit.reference is None  # transaction_id ""


def test_amount_sent_as_json_number_keeps_its_digits(
    parser: DaftraBackend, fixture_text: Callable[[str], str]
) -> None:
    text = fixture_text("invoices/get.json")
    assert '"summary_paid": 33999.9961' in text  # a JSON number, not a string
    invoice: Invoice = one(parser.parse_payload("invoice", text))
    assert invoice.amount_paid == Decimal("33999.9961")
    assert str(invoice.amount_paid) == "33999.9961"


def test_public_url_and_decoded_qr_kept_in_extra(
    parser: DaftraBackend, fixture_text: Callable[[str], str]
) -> None:
    invoice: Invoice = one(parser.parse_payload("invoice", fixture_text("invoices/get.json")))
    assert invoice.extra["public_url"].startswith("https://alnoor.daftra.com/invoices/preview/2415")
    qr = invoice.extra["einvoice_qr"]
    assert qr["seller_name"] == "مؤسسة الريادة للتقنية"
    assert qr["vat_number"] == "310987654300003"
    assert qr["timestamp"] == "2026-09-25T09:12:00Z"
    assert qr["total"] == Decimal("43356.04") == invoice.total
    assert qr["vat_total"] == Decimal("5655.14") == invoice.tax_total
    assert "einvoice_qr_error" not in invoice.extra


def _d64_url(inner: bytes) -> str:
    d64 = base64.b64encode(base64.b64encode(inner)).decode()
    return f"https://alnoor.daftra.com/qr/?d64={quote(d64, safe='')}"


def _tlv(*fields: tuple[int, bytes]) -> bytes:
    return b"".join(bytes((tag, len(value))) + value for tag, value in fields)


MALFORMED_QR = {
    "no d64 parameter": "https://alnoor.daftra.com/qr/?x=1",
    "d64 not base64": "https://alnoor.daftra.com/qr/?d64=%25%25%25not-base64",
    "inner not base64": "https://alnoor.daftra.com/qr/?d64="
    + base64.b64encode(b"this is not base64!").decode(),
    "truncated TLV": _d64_url(b"\x01\x0eMohamed"),
    "amount not a number": _d64_url(
        _tlv((1, b"ACME"), (2, b"123"), (3, b"2026-09-25T09:12:00Z"), (4, b"abc"), (5, b"0"))
    ),
    "missing fields": _d64_url(_tlv((1, b"ACME"))),
}


@pytest.mark.parametrize("url", MALFORMED_QR.values(), ids=MALFORMED_QR.keys())
def test_malformed_qr_leaves_a_note_never_an_exception(
    parser: DaftraBackend, fixture: Load, url: str
) -> None:
    payload = fixture("invoices/get.json")
    payload["data"]["Invoice"]["qr_code_url"] = url
    invoice: Invoice = one(parser.parse_payload("invoice", payload))
    assert "einvoice_qr" not in invoice.extra
    assert invoice.extra["einvoice_qr_error"].startswith("e-invoice QR not decoded")
    assert invoice.extra["qr_code_url"] == url
    with pytest.raises(QRDecodeError):
        decode_qr_url(url)


@given(
    seller=st.text(min_size=1, max_size=60).filter(lambda s: len(s.encode()) <= 255),
    total=st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False),
    vat=st.decimals(min_value=0, max_value=10**8, places=2, allow_nan=False),
)
def test_qr_encode_then_decode_gives_the_same_fields(
    seller: str, total: Decimal, vat: Decimal
) -> None:
    fields = {
        "seller_name": seller,
        "vat_number": "300000000000003",
        "timestamp": "2026-09-25T09:12:00Z",
        "total": total,
        "vat_total": vat,
    }
    decoded = decode_qr_url(encode_qr_url("https://x.daftra.com", fields))
    assert decoded == fields


def test_list_row_with_sibling_associations(parser: DaftraBackend, fixture: Load) -> None:
    first, _nested, _note = parser.parse_payload("invoice", fixture("invoices/list.json"))
    assert first.number == "INV000021"  # prefix and padding kept
    assert first.issue_date == dt.date(2026, 3, 14)
    assert first.status is InvoiceStatus.OPEN
    assert first.client.name == "Ahmed Hassan"  # no business name: first and last
    assert first.client.company_name is None
    assert first.client.phone == "+20 100 555 0101"  # phone1 "" is absent
    assert [i.name for i in first.items] == ["Printer paper A4"]
    item = first.items[0]
    assert (item.quantity, item.unit_price) == (Decimal(4), Decimal("89.75"))
    assert item.product_id is None  # "0" is no id
    assert len(item.taxes) == 1  # tax2 "0" is no tax
    # Offline with neither /taxes nor InvoiceTax: the rate is derived, and says so.
    assert item.taxes[0].rate == Decimal(14)
    assert "derived" in item.extra["tax_note"]
    assert first.discount_total == Decimal("17.95")
    assert first.extra["discount_percent"] == Decimal(5)
    assert first.adjustment == 0  # shipping_amount ""
    assert first.due_date is None
    assert first.check() == []


def test_list_row_with_nested_items_and_iso_date(parser: DaftraBackend, fixture: Load) -> None:
    _first, nested, _note = parser.parse_payload("invoice", fixture("invoices/list.json"))
    assert nested.status is InvoiceStatus.DRAFT  # draft "1" wins over payment_status null
    assert nested.issue_date == dt.date(2026, 3, 15)
    assert nested.due_date == dt.date(2026, 3, 30)
    assert nested.client.id == "512"  # a JSON number id becomes a string
    assert nested.client.name == "Gulf Horizon Logistics"  # from the invoice snapshot
    assert [(i.name, i.discount, i.taxes) for i in nested.items] == [("Travel", Decimal(0), [])]
    assert nested.total == Decimal("250.50")
    assert nested.check() == []


def test_whole_response_bare_record_and_list_row_give_the_same_invoice(
    parser: DaftraBackend, fixture: Load
) -> None:
    whole = fixture("invoices/get.json")
    bare = fixture("invoices/get.json")["data"]["Invoice"]
    record = fixture("invoices/get.json")["data"]["Invoice"]
    row = {key: record.pop(key) for key in ("Client", "InvoiceItem", "InvoicePayment")}
    row["Invoice"] = record
    results = [one(parser.parse_payload("invoice", p)).to_dict() for p in (whole, bare, row)]
    assert results[0] == results[1] == results[2]
    assert results[0]["number"] == "000021"


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [("35000", Decimal(35000)), (35000, Decimal(35000)), ("35000.0000", Decimal(35000))],
)
def test_numbers_as_strings_or_json_numbers_map_alike(
    parser: DaftraBackend, fixture: Load, spelling: Any, expected: Decimal
) -> None:
    payload = fixture("invoices/get.json")
    payload["data"]["Invoice"]["InvoiceItem"][0]["unit_price"] = spelling
    invoice: Invoice = one(parser.parse_payload("invoice", payload))
    assert invoice.items[0].unit_price == expected


@pytest.mark.parametrize("absent", [None, "", "0", 0, "None"])
def test_null_empty_and_zero_string_mean_no_tax(
    parser: DaftraBackend, fixture: Load, absent: Any
) -> None:
    payload = fixture("invoices/get.json")
    item = payload["data"]["Invoice"]["InvoiceItem"][0]
    item["tax1"] = absent
    item["summary_tax1"] = None
    invoice: Invoice = one(parser.parse_payload("invoice", payload))
    assert invoice.items[0].taxes == []
    assert invoice.items[0].tax_amount == 0


def test_unmapped_payment_status_maps_to_unknown_without_error(
    parser: DaftraBackend, fixture: Load
) -> None:
    payload = fixture("invoices/get.json")
    payload["data"]["Invoice"]["payment_status"] = 9
    invoice: Invoice = one(parser.parse_payload("invoice", payload))
    assert invoice.status is InvoiceStatus.UNKNOWN


@pytest.mark.parametrize(
    ("draft", "code", "expected"),
    [
        ("0", None, InvoiceStatus.OPEN),
        ("0", "", InvoiceStatus.OPEN),
        ("0", 0, InvoiceStatus.OPEN),
        (0, "1", InvoiceStatus.PARTIALLY_PAID),
        (None, 2, InvoiceStatus.PAID),
        ("0", "3", InvoiceStatus.REFUNDED),
        ("0", 4, InvoiceStatus.OVERPAID),
        ("0", -1, InvoiceStatus.DRAFT),
        ("1", 2, InvoiceStatus.DRAFT),  # the draft flag wins
        (True, 0, InvoiceStatus.DRAFT),
        ("0", 7, InvoiceStatus.UNKNOWN),
        ("0", "null => Unpaid", InvoiceStatus.UNKNOWN),
        ("maybe", 0, InvoiceStatus.UNKNOWN),
    ],
)
def test_draft_and_payment_status_to_invoice_status(
    draft: Any, code: Any, expected: InvoiceStatus
) -> None:
    assert invoice_status(draft, code) is expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("0", PaymentStatus.FAILED),
        (1, PaymentStatus.COMPLETED),
        ("2", PaymentStatus.PENDING),
        ("3", PaymentStatus.FAILED),
        ("8", PaymentStatus.UNKNOWN),
        (None, PaymentStatus.UNKNOWN),
        ("paid", PaymentStatus.UNKNOWN),
    ],
)
def test_invoice_payment_status_codes(code: Any, expected: PaymentStatus) -> None:
    assert payment_status(code) is expected


def test_invoice_json_round_trip_keeps_extra(parser: DaftraBackend, fixture: Load) -> None:
    invoice: Invoice = one(parser.parse_payload("invoice", fixture("invoices/get.json")))
    data = invoice.to_dict()
    assert Invoice.from_dict(data).to_dict() == data
    json.dumps(data)  # JSON-safe, Decimals as strings
    assert data["extra"]["einvoice_qr"]["total"] == "43356.04"


def test_invoice_without_date_raises_mapping_error_naming_the_field(
    parser: DaftraBackend, fixture: Load
) -> None:
    payload = fixture("invoices/get.json")
    del payload["data"]["Invoice"]["date"]
    with pytest.raises(MappingError) as caught:
        parser.parse_payload("invoice", payload)
    assert caught.value.field == "date"


def test_item_without_unit_price_raises_mapping_error(parser: DaftraBackend, fixture: Load) -> None:
    payload = fixture("invoices/get.json")
    del payload["data"]["Invoice"]["InvoiceItem"][1]["unit_price"]
    with pytest.raises(MappingError) as caught:
        parser.parse_payload("invoice", payload)
    assert caught.value.field == "InvoiceItem.1.unit_price"


# --------------------------------------------------------------------------- dates


def test_display_date_read_with_the_date_format_option(fixture: Load) -> None:
    payload = fixture("invoices/get.json")
    payload["data"]["Invoice"]["date"] = "02/05/2026"
    day_first = DaftraBackend.for_parsing(date_format="%d/%m/%Y")
    month_first = DaftraBackend.for_parsing(date_format="%m/%d/%Y")
    assert one(day_first.parse_payload("invoice", payload)).issue_date == dt.date(2026, 5, 2)
    assert one(month_first.parse_payload("invoice", payload)).issue_date == dt.date(2026, 2, 5)


def test_ambiguous_date_without_a_known_format_raises_mapping_error(fixture: Load) -> None:
    payload = fixture("invoices/get.json")
    payload["data"]["Invoice"]["date"] = "02/05/2026"
    with pytest.raises(MappingError) as caught:
        DaftraBackend.for_parsing().parse_payload("invoice", payload)
    assert caught.value.field == "date"
    assert "date_format" in str(caught.value)
    assert "02/05/2026" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("25/09/2026", dt.date(2026, 9, 25)),  # 25 cannot be a month
        ("09/25/2026", dt.date(2026, 9, 25)),
        ("05/05/2026", dt.date(2026, 5, 5)),  # either reading gives the same day
        ("2026-09-25", dt.date(2026, 9, 25)),
        ("2026-09-25 10:11:12", dt.date(2026, 9, 25)),
    ],
)
def test_unambiguous_and_iso_dates_read_without_a_format(
    fixture: Load, text: str, expected: dt.date
) -> None:
    payload = fixture("invoices/get.json")
    payload["data"]["Invoice"]["date"] = text
    invoice: Invoice = one(DaftraBackend.for_parsing().parse_payload("invoice", payload))
    assert invoice.issue_date == expected


def test_iso_date_accepted_whatever_the_display_format(fixture: Load) -> None:
    payload = fixture("invoices/get.json")
    payload["data"]["Invoice"]["date"] = "2026-02-05"
    backend = DaftraBackend.for_parsing(date_format="%m/%d/%Y")
    assert one(backend.parse_payload("invoice", payload)).issue_date == dt.date(2026, 2, 5)


def test_date_not_matching_the_format_raises_mapping_error(fixture: Load) -> None:
    payload = fixture("invoices/get.json")
    payload["data"]["Invoice"]["date"] = "25.09.2026"
    with pytest.raises(MappingError) as caught:
        DaftraBackend.for_parsing(date_format="%d/%m/%Y").parse_payload("invoice", payload)
    assert caught.value.field == "date"
    assert "date_format" in str(caught.value)


# --------------------------------------------------------------------------- clients


def test_business_client(parser: DaftraBackend, fixture: Load) -> None:
    client: Client = one(parser.parse_payload("client", fixture("clients/get.json")))
    assert client.id == "512"
    assert client.name == client.company_name == "شركة النور للتجارة"
    assert client.email == "accounts@alnoor.example"
    assert client.phone == "+966 50 123 4567"
    assert client.tax_number == "310122393500003"
    assert client.extra == {
        "client_number": "0000715",
        "tax_number_field": "bn2",
        "created": dt.datetime(2025, 2, 10, 8, 30),
    }
    assert client.currency == "SAR"
    assert client.address is not None and client.address.country == "SA"


def test_individual_client_named_by_first_and_last_name(
    parser: DaftraBackend, fixture: Load
) -> None:
    client: Client = one(parser.parse_payload("client", fixture("clients/get_individual.json")))
    assert client.name == "Ahmed Hassan"
    assert client.company_name is None
    assert (client.first_name, client.last_name) == ("Ahmed", "Hassan")
    assert client.tax_number is None  # bn1 "" and bn2 null
    assert client.phone == "+20 100 555 0101"


def test_bare_client_row_keeps_its_creation_time(parser: DaftraBackend, fixture: Load) -> None:
    # api-notes "Findings": a live /clients.json row may have no business, first or last
    # name and no type; `created` is the only creation time a client has.
    client: Client = one(parser.parse_payload("client", fixture("clients/get_bare.json")))
    assert client.name == "orders@bare.example"
    assert client.company_name is None and client.first_name is None
    assert client.extra["created"] == dt.datetime(2025, 6, 1, 14, 5, 9)
    assert client.to_dict()["extra"]["created"] == "2025-06-01T14:05:09"


def test_client_list_rows(parser: DaftraBackend, fixture: Load) -> None:
    clients = parser.parse_payload("client", fixture("clients/list.json"))
    assert [c.name for c in clients] == ["Ahmed Hassan", "شركة النور للتجارة"]
    bare = fixture("clients/get.json")["data"]["Client"]
    assert one(parser.parse_payload("client", bare)).to_dict() == clients[1].to_dict()


# --------------------------------------------------------------------------- payments


def test_invoice_payment_record(parser: DaftraBackend, fixture: Load) -> None:
    payment: Payment = one(parser.parse_payload("payment", fixture("invoice_payments/get.json")))
    assert payment.id == "9012"
    assert payment.invoice_id == "2415"
    assert payment.amount == Decimal("32999.9961")
    assert payment.currency == "SAR"
    assert payment.date == dt.date(2026, 9, 26)
    assert payment.status is PaymentStatus.COMPLETED
    assert payment.extra["kind"] == "invoice_payment"


def test_invoice_payment_list_rows(parser: DaftraBackend, fixture: Load) -> None:
    credit, cash, pending = parser.parse_payload("payment", fixture("invoice_payments/list.json"))
    assert credit.method == "client_credit"
    assert cash.amount == Decimal("32999.9961")
    assert pending.method == "bank_transfer"
    assert pending.extra["payment_method"] == "Bank Transfer"
    assert pending.amount == Decimal("150.25")  # a JSON number
    assert pending.status is PaymentStatus.PENDING


def test_client_payment_record(parser: DaftraBackend, fixture: Load) -> None:
    payment: Payment = one(parser.parse_payload("payment", fixture("client_payments/get.json")))
    assert payment.invoice_id is None
    assert payment.amount == Decimal("5000.0000")
    assert payment.method == "bank_transfer"
    assert payment.reference == "SWIFT-5521"
    assert payment.extra["kind"] == "client_payment"
    assert payment.extra["client_id"] == "512"
    assert payment.extra["client_balance"] == Decimal("-1250.5000")


def test_client_payment_list_rows_and_bare_record(parser: DaftraBackend, fixture: Load) -> None:
    first, second = parser.parse_payload("payment", fixture("client_payments/list.json"))
    assert (first.id, second.id) == ("31", "32")
    assert second.status is PaymentStatus.FAILED
    assert "client_balance" not in second.extra
    bare = fixture("client_payments/get.json")["data"]["ClientPayment"]
    payment: Payment = one(parser.parse_payload("payment", bare))
    assert payment.extra["kind"] == "client_payment"


def test_unknown_record_kind_raises_mapping_error(parser: DaftraBackend) -> None:
    with pytest.raises(MappingError):
        parser.parse_payload("estimate", {})


def test_error_answer_given_to_parse_raises_mapping_error(
    parser: DaftraBackend, fixture: Load
) -> None:
    with pytest.raises(MappingError) as caught:
        parser.parse_payload("invoice", fixture("invoices/get_not_found.json"))
    assert "Invoice not found" in str(caught.value)


def test_text_that_is_not_json_raises_mapping_error(parser: DaftraBackend) -> None:
    with pytest.raises(MappingError):
        parser.parse_payload("invoice", "<html>nope</html>")
