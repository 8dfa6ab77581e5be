"""What the backend sends: paths, headers, queries and bodies (``responses``, no network)."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses
from invoicing_bridge_daftra.backend import DaftraBackend
from invoicing_bridge_daftra.plan import daftra_tax_total
from responses import matchers
from werkzeug.formparser import parse_form_data

from invoicing_bridge.exceptions import AuthenticationError, InvalidRequest, MappingError
from invoicing_bridge.models import (
    Address,
    Client,
    Invoice,
    InvoiceStatus,
    LineItem,
    Payment,
    TaxRate,
)

Load = Callable[[str], Any]
SITE = "https://alnoor.daftra.com"


def query(call: Any) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(call.request.url).query))


def path(call: Any) -> str:
    return urlsplit(call.request.url).path


def body(call: Any) -> Any:
    raw = call.request.body
    return json.loads(raw, parse_float=Decimal) if raw else None


def calls_to(mock: responses.RequestsMock, suffix: str) -> list[Any]:
    return [c for c in mock.calls if path(c).endswith(suffix)]


def form_fields(call: Any) -> dict[str, str]:
    """The fields of a multipart/form-data request, as a server would read them."""
    raw = call.request.body
    environ = {
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": call.request.headers["Content-Type"],
        "CONTENT_LENGTH": str(len(raw)),
        "wsgi.input": io.BytesIO(raw),
    }
    _stream, form, _files = parse_form_data(environ)
    return dict(form)


def one_page(text: str) -> str:
    """A list fixture made the only page (the fixture says page 1 of 3)."""
    payload = json.loads(text)
    payload["pagination"].update(next=None, page_count=1)
    return json.dumps(payload, ensure_ascii=False)


def sample_invoice(*, as_built: bool = False, **changes: Any) -> Invoice:
    """The sample invoice with Daftra's tax; ``as_built``: with the tax Invoice.build
    computes (before the invoice discount, the Perfex way)."""
    client = Client(
        id="512",
        name="شركة النور للتجارة",
        company_name="شركة النور للتجارة",
        email="accounts@alnoor.example",
        address=Address(line1="12 King Fahd Rd", city="الرياض", country="SA"),
    )
    values: dict[str, Any] = {
        "number": "INV-7001",
        "issue_date": dt.date(2026, 9, 25),
        "due_date": dt.date(2026, 10, 25),
        "currency": "SAR",
        "client": client,
        "items": [
            LineItem(
                name="Consulting",
                description="Two days",
                quantity=Decimal(2),
                unit_price=Decimal("1500.5"),
                taxes=[TaxRate("VAT", Decimal(15))],
            ),
            LineItem(
                name="Stationery",
                quantity=Decimal("3.5"),
                unit_price=Decimal("10"),
                discount=Decimal("5"),
                taxes=[TaxRate("ضريبة القيمة المضافة", Decimal(14))],
            ),
        ],
        "discount_total": Decimal("20"),
        "adjustment": Decimal("15.5"),
        "notes": "Thank you",
        "terms": "Net 30",
        "payments": [
            Payment(
                amount=Decimal("1000.12345"),
                date=dt.date(2026, 9, 26),
                method="cash",
                reference="TRX-1",
            )
        ],
    }
    values.update(changes)
    built = Invoice.build(**values)
    return built if as_built else with_daftra_tax(built)


def with_daftra_tax(invoice: Invoice) -> Invoice:
    """``invoice`` with the tax Daftra computes (after the invoice discount), which a
    write checks like a dry run does; the total follows."""
    invoice.tax_total = daftra_tax_total(invoice)
    invoice.total = invoice.subtotal - invoice.discount_total + invoice.tax_total
    invoice.total += invoice.adjustment
    invoice.balance_due = invoice.total - invoice.amount_paid
    return invoice


@pytest.fixture
def taxes(mock: responses.RequestsMock, base_url: str, fixture_text: Callable[[str], str]) -> None:
    mock.get(f"{base_url}/taxes.json", body=fixture_text("taxes/list.json"))


# --------------------------------------------------------------------------- headers


def test_api_key_sends_only_the_apikey_header(
    daftra: DaftraBackend,
    mock: responses.RequestsMock,
    base_url: str,
    api_key: str,
    fixture_text: Callable[[str], str],
) -> None:
    mock.get(f"{base_url}/clients/512.json", body=fixture_text("clients/get.json"))
    daftra.get_client("512")
    headers = mock.calls[0].request.headers
    assert headers["apikey"] == api_key
    assert "Authorization" not in headers
    assert headers["User-Agent"].startswith("invoicing-bridge/")
    assert "daftra" in headers["User-Agent"]
    assert headers["Accept"] == "application/json"
    assert path(mock.calls[0]) == "/api2/clients/512.json"


def test_every_path_has_the_json_suffix(
    daftra: DaftraBackend,
    mock: responses.RequestsMock,
    base_url: str,
    fixture_text: Callable[[str], str],
    taxes: None,
) -> None:
    mock.get(f"{base_url}/invoices/2415.json", body=fixture_text("invoices/get.json"))
    mock.get(
        f"{base_url}/invoice_payments/9012.json", body=fixture_text("invoice_payments/get.json")
    )
    mock.get(f"{base_url}/invoices.json", body=fixture_text("invoices/list.json"))
    mock.delete(f"{base_url}/invoices/2415.json", body=fixture_text("invoices/delete.json"))
    daftra.get_invoice("2415")
    daftra.get_payment("9012")
    next(daftra.iter_invoices())
    daftra.delete_invoice("2415")
    assert mock.calls and all(path(c).endswith(".json") for c in mock.calls)


# --------------------------------------------------------------------------- lists


def test_invoice_list_query_sets_sort_direction_page_limit_and_filters(
    daftra: DaftraBackend,
    mock: responses.RequestsMock,
    base_url: str,
    fixture_text: Any,
    taxes: None,
) -> None:
    mock.get(f"{base_url}/invoices.json", body=one_page(fixture_text("invoices/list.json")))
    list(daftra.iter_invoices(since=dt.date(2026, 3, 1), client_id="604"))
    sent = query(calls_to(mock, "/invoices.json")[0])
    assert sent == {
        "sort": "id",
        "direction": "ASC",
        "page": "1",
        "limit": "50",
        "recursive": "1",
        "date_from": "2026-03-01",
        "client_id": "604",
    }


def test_filters_the_server_ignored_are_applied_to_each_row(
    daftra: DaftraBackend, mock: responses.RequestsMock, base_url: str, fixture_text: Any
) -> None:
    # Daftra answers an unknown filter with the unfiltered list (api-notes §3).
    mock.get(f"{base_url}/invoices.json", body=one_page(fixture_text("invoices/list.json")))
    mock.get(f"{base_url}/taxes.json", body=fixture_text("taxes/list.json"))
    by_client = list(daftra.iter_invoices(client_id="604"))
    assert [i.number for i in by_client] == ["INV000021"]
    since = list(daftra.iter_invoices(since=dt.date(2026, 3, 15)))
    assert [i.number for i in since] == ["000022"]  # the debit note is skipped too
    drafts = list(daftra.iter_invoices(status=InvoiceStatus.DRAFT))
    assert [i.number for i in drafts] == ["000022"]


def test_invoice_list_skips_debit_notes(
    daftra: DaftraBackend, mock: responses.RequestsMock, base_url: str, fixture_text: Any
) -> None:
    mock.get(f"{base_url}/invoices.json", body=one_page(fixture_text("invoices/list.json")))
    mock.get(f"{base_url}/taxes.json", body=fixture_text("taxes/list.json"))
    numbers = [i.number for i in daftra.iter_invoices()]
    assert "DN-0001" not in numbers
    assert numbers[:2] == ["INV000021", "000022"]


def test_payment_list_asks_for_client_credit_payments(
    daftra: DaftraBackend, mock: responses.RequestsMock, base_url: str, fixture_text: Any
) -> None:
    mock.get(f"{base_url}/invoice_payments.json", body=fixture_text("invoice_payments/list.json"))
    payments = list(daftra.iter_payments())
    sent = query(mock.calls[0])
    assert sent["include_client_credit"] == "1"
    assert (sent["sort"], sent["direction"]) == ("id", "ASC")
    assert "client_credit" in [p.method for p in payments]


def test_payments_of_one_invoice_are_read_from_the_invoice(
    daftra: DaftraBackend,
    mock: responses.RequestsMock,
    base_url: str,
    fixture_text: Any,
    taxes: None,
) -> None:
    mock.get(f"{base_url}/invoices/2415.json", body=fixture_text("invoices/get.json"))
    payments = list(daftra.iter_payments(invoice_id="2415"))
    assert [p.id for p in payments] == ["9012", "9013"]  # the client-credit one included
    assert not calls_to(mock, "/invoice_payments.json")


def test_client_list_is_sorted_explicitly(
    daftra: DaftraBackend, mock: responses.RequestsMock, base_url: str, fixture_text: Any
) -> None:
    mock.get(f"{base_url}/clients.json", body=fixture_text("clients/list.json"))
    assert len(list(daftra.iter_clients())) == 2
    sent = query(mock.calls[0])
    assert (sent["sort"], sent["direction"], sent["page"]) == ("id", "ASC", "1")


# --------------------------------------------------------------------------- writes


def test_create_invoice_posts_siblings_then_reads_back(
    daftra: DaftraBackend,
    mock: responses.RequestsMock,
    base_url: str,
    fixture_text: Any,
    taxes: None,
) -> None:
    mock.post(f"{base_url}/invoices.json", body=fixture_text("invoices/create.json"), status=202)
    mock.get(f"{base_url}/invoices/2415.json", body=fixture_text("invoices/get.json"))
    stored = daftra.create_invoice(sample_invoice())
    assert stored.id == "2415"
    [post] = [c for c in mock.calls if c.request.method == "POST"]
    sent = body(post)
    assert set(sent) == {"Invoice", "InvoiceItem", "Payment"}  # siblings, not nested
    header = sent["Invoice"]
    assert header["client_id"] == 512
    assert header["no"] == "INV-7001"
    assert header["date"] == "2026-09-25"  # ISO on the request side
    assert header["due_after"] == 30
    assert header["currency_code"] == "SAR"
    assert header["draft"] is False
    assert header["discount"] == 0 and header["discount_amount"] == Decimal("20.0000")
    assert header["shipping_amount"] == Decimal("15.5000")
    assert header["client_business_name"] == "شركة النور للتجارة"
    assert header["client_country_code"] == "SA"
    assert "client_first_name" not in header  # None is left out of a create
    consulting, stationery = sent["InvoiceItem"]
    assert consulting["tax1"] == 1  # 15 %: the exclusive VAT, not the inclusive one (4)
    assert "tax2" not in consulting
    assert stationery["tax1"] == 2  # 14 %
    assert (stationery["discount"], stationery["discount_type"]) == (Decimal("5.0000"), 2)
    [payment] = sent["Payment"]
    assert payment == {
        "payment_method": "cash",
        "amount": Decimal("1000.1235"),
        "date": "2026-09-26 00:00:00",
        "transaction_id": "TRX-1",
    }
    text = post.request.body.decode()
    assert '"unit_price":1500.5000' in text  # four decimals, written as a number
    assert '"quantity":3.5' in text
    # Then the stored invoice is read back.
    order = [(c.request.method, path(c)) for c in mock.calls]
    assert order.index(("GET", "/api2/invoices/2415.json")) > order.index(
        ("POST", "/api2/invoices.json")
    )


def test_taxes_are_read_once_per_backend(
    daftra: DaftraBackend,
    mock: responses.RequestsMock,
    base_url: str,
    fixture_text: Any,
    taxes: None,
) -> None:
    mock.get(f"{base_url}/invoices/2415.json", body=fixture_text("invoices/get.json"))
    first = daftra.get_invoice("2415")
    daftra.get_invoice("2415")
    assert len(calls_to(mock, "/taxes.json")) == 1
    assert first.items[0].taxes == [TaxRate("VAT", Decimal(15))]


def test_rate_with_no_daftra_tax_raises_mapping_error_naming_it(
    daftra: DaftraBackend, mock: responses.RequestsMock, taxes: None
) -> None:
    invoice = sample_invoice()
    invoice.items[0].taxes = [TaxRate("Sales tax", Decimal(5))]
    with pytest.raises(MappingError) as caught:
        daftra.create_invoice(invoice)
    assert "5%" in str(caught.value)
    assert caught.value.field == "items[0].taxes[0]"
    assert not [c for c in mock.calls if c.request.method == "POST"]


def test_more_than_two_taxes_on_a_line_raises_mapping_error(
    daftra: DaftraBackend, mock: responses.RequestsMock, taxes: None
) -> None:
    invoice = sample_invoice()
    invoice.items[0].taxes = [TaxRate("VAT", Decimal(15))] * 3
    with pytest.raises(MappingError) as caught:
        daftra.validate_invoice(invoice)
    assert caught.value.field == "items[0].taxes"


def test_void_invoice_cannot_be_written(
    daftra: DaftraBackend, mock: responses.RequestsMock, taxes: None
) -> None:
    with pytest.raises(MappingError) as caught:
        daftra.validate_invoice(sample_invoice(status=InvoiceStatus.VOID))
    assert caught.value.field == "status"


def test_validate_invoice_accepts_a_client_not_created_yet_and_writes_nothing(
    daftra: DaftraBackend, mock: responses.RequestsMock, taxes: None
) -> None:
    invoice = sample_invoice(discount_total=Decimal(0))
    invoice.client.id = None
    daftra.validate_invoice(invoice)
    assert {c.request.method for c in mock.calls} == {"GET"}


def test_validate_invoice_refuses_tax_computed_before_the_invoice_discount(
    daftra: DaftraBackend, mock: responses.RequestsMock, taxes: None
) -> None:
    # Built the Perfex way: 15% of 3001.00 plus 14% of 30.00, before the 20.00 discount.
    invoice = sample_invoice(as_built=True)
    assert invoice.tax_total == Decimal("454.35")
    with pytest.raises(InvalidRequest) as info:
        daftra.validate_invoice(invoice)
    # Daftra: each line less its share of the discount, then taxed and rounded.
    assert "451.35" in info.value.field_errors["tax_total"]
    assert "454.35" in info.value.field_errors["tax_total"]
    assert {c.request.method for c in mock.calls} == {"GET"}


def test_validate_invoice_accepts_tax_computed_after_the_invoice_discount(
    daftra: DaftraBackend, mock: responses.RequestsMock, taxes: None
) -> None:
    invoice = sample_invoice()
    invoice.tax_total = Decimal("451.35")
    invoice.total = invoice.subtotal - invoice.discount_total + invoice.tax_total
    daftra.validate_invoice(invoice)


def test_update_invoice_puts_the_whole_record_keeping_what_the_model_lacks(
    daftra: DaftraBackend,
    mock: responses.RequestsMock,
    base_url: str,
    fixture_text: Any,
    taxes: None,
) -> None:
    mock.get(f"{base_url}/invoices/2415.json", body=fixture_text("invoices/get.json"))
    mock.put(f"{base_url}/invoices/2415.json", body=fixture_text("invoices/update.json"))
    invoice = daftra.get_invoice("2415")
    invoice.notes = "Updated notes"
    daftra.update_invoice(invoice)
    [put] = [c for c in mock.calls if c.request.method == "PUT"]
    sent = body(put)
    header = sent["Invoice"]
    assert header["notes"] == "Updated notes"
    # Kept from the read: fields the neutral model does not carry, and unknown keys.
    assert header["po_number"] == "PO-7781"
    assert header["x_delivery_slot"] == "morning"
    assert (header["branch_id"], header["store_id"], header["staff_id"]) == (1, 1, 0)
    assert header["date"] == "2026-09-25"  # the display date goes back as ISO
    assert header["client_id"] == 512
    assert header["draft"] is False and header["is_offline"] is False
    for computed in ("id", "summary_total", "payment_status", "created", "qr_code_url"):
        assert computed not in header
    assert "deposit_type" not in header  # 0 means unset; the endpoint takes 1 or 2
    laptop, care = sent["InvoiceItem"]
    assert (laptop["product_id"], laptop["store_id"], laptop["tax1"]) == (77, 1, 1)
    assert "id" not in laptop and "subtotal" not in laptop and "Product" not in laptop
    assert care["col_3"] == "Rack B"
    assert (care["discount"], care["discount_type"]) == (Decimal("10.0000"), 1)  # still 10 %
    assert sent["InvoiceCustomField"] == {"field_1": "Branch Riyadh"}
    assert "Payment" not in sent  # payments are not resent (they would be duplicated)


def test_update_invoice_clears_a_field_the_neutral_side_emptied(
    daftra: DaftraBackend,
    mock: responses.RequestsMock,
    base_url: str,
    fixture_text: Any,
    taxes: None,
) -> None:
    mock.get(f"{base_url}/invoices/2415.json", body=fixture_text("invoices/get.json"))
    mock.put(f"{base_url}/invoices/2415.json", body=fixture_text("invoices/update.json"))
    invoice = daftra.get_invoice("2415")
    invoice.terms = None
    daftra.update_invoice(invoice)
    [put] = [c for c in mock.calls if c.request.method == "PUT"]
    assert body(put)["Invoice"]["terms"] == ""


def test_update_client_puts_the_read_record_with_the_changes(
    daftra: DaftraBackend, mock: responses.RequestsMock, base_url: str, fixture_text: Any
) -> None:
    mock.get(f"{base_url}/clients/512.json", body=fixture_text("clients/get.json"))
    mock.put(f"{base_url}/clients/512.json", body=fixture_text("clients/update.json"))
    client = daftra.get_client("512")
    client.phone = "+966 55 000 1111"
    client.tax_number = "310122393500099"
    daftra.update_client(client)
    [put] = [c for c in mock.calls if c.request.method == "PUT"]
    sent = body(put)["Client"]
    assert sent["phone1"] == "+966 55 000 1111"
    assert sent["bn2"] == "310122393500099"  # written where it was read from
    assert (sent["bn1"], sent["bn1_label"]) == ("CR-1010101010", "السجل التجاري")
    assert sent["client_number"] == "0000715"
    assert sent["type"] == 3
    for server_owned in ("id", "created", "modified", "last_login"):
        assert server_owned not in sent


def test_create_client_body(
    daftra: DaftraBackend, mock: responses.RequestsMock, base_url: str, fixture_text: Any
) -> None:
    mock.post(f"{base_url}/clients.json", body=fixture_text("clients/create.json"), status=202)
    mock.get(f"{base_url}/clients/605.json", body=fixture_text("clients/get_individual.json"))
    daftra.create_client(
        Client(
            name="Ahmed Hassan",
            first_name="Ahmed",
            last_name="Hassan",
            email="ahmed.hassan@example.com",
            phone="+20 100 555 0101",
            tax_number="EG-1234",
            currency="EGP",
            address=Address(line1="5 Tahrir St", city="Giza", country="EG"),
        )
    )
    sent = body(mock.calls[0])
    assert sent == {
        "Client": {
            "first_name": "Ahmed",
            "last_name": "Hassan",
            "email": "ahmed.hassan@example.com",
            "phone1": "+20 100 555 0101",
            "address1": "5 Tahrir St",
            "city": "Giza",
            "country_code": "EG",
            "default_currency_code": "EGP",
            "type": 2,
            "bn1": "EG-1234",
        }
    }


def test_record_payment_body_then_read_back(
    daftra: DaftraBackend, mock: responses.RequestsMock, base_url: str, fixture_text: Any
) -> None:
    mock.post(
        f"{base_url}/invoice_payments.json",
        body=fixture_text("invoice_payments/create.json"),
        status=202,
    )
    mock.get(
        f"{base_url}/invoice_payments/9031.json", body=fixture_text("invoice_payments/get.json")
    )
    daftra.record_payment(
        Payment(
            invoice_id="2415",
            amount=Decimal("32999.9961"),
            date=dt.date(2026, 10, 1),
            method="bank_transfer",
            reference="TX-1",
        )
    )
    assert body(mock.calls[0]) == {
        "InvoicePayment": {
            "payment_method": "bank_transfer",
            "amount": Decimal("32999.9961"),
            "date": "2026-10-01 00:00:00",
            "transaction_id": "TX-1",
            "invoice_id": 2415,
            "status": 1,
        }
    }
    assert path(mock.calls[1]) == "/api2/invoice_payments/9031.json"


def test_record_payment_without_invoice_raises_mapping_error(
    daftra: DaftraBackend, mock: responses.RequestsMock
) -> None:
    payment = Payment(amount=Decimal(1), date=dt.date(2026, 10, 1), method="cash")
    with pytest.raises(MappingError) as caught:
        daftra.record_payment(payment)
    assert caught.value.field == "invoice_id"
    assert not mock.calls


# --------------------------------------------------------------------------- finding


def _rows(*numbers: str) -> dict[str, Any]:
    rows = [
        {"Invoice": {"id": str(100 + n), "no": number, "type": "0"}}
        for n, number in enumerate(numbers)
    ]
    return {
        "code": 200,
        "result": "successful",
        "data": rows,
        "pagination": {"prev": None, "next": None, "page": 1, "page_count": 1},
    }


def test_find_invoice_by_exact_number(
    daftra: DaftraBackend,
    mock: responses.RequestsMock,
    base_url: str,
    fixture_text: Any,
    taxes: None,
) -> None:
    mock.get(
        f"{base_url}/invoices.json",
        json=_rows("0000211", "000021"),  # "no" is a partial match
        match=[matchers.query_param_matcher({"no": "000021"}, strict_match=False)],
    )
    mock.get(f"{base_url}/invoices/101.json", body=fixture_text("invoices/get.json"))
    found = daftra.find_invoice("000021")
    assert found is not None and found.number == "000021"
    assert len(calls_to(mock, "/invoices/101.json")) == 1


def test_find_invoice_accepts_a_number_that_normalises_the_same(
    daftra: DaftraBackend,
    mock: responses.RequestsMock,
    base_url: str,
    fixture_text: Any,
    taxes: None,
) -> None:
    mock.get(
        f"{base_url}/invoices.json",
        json=_rows(),
        match=[matchers.query_param_matcher({"no": "INV-000021"}, strict_match=False)],
    )
    mock.get(
        f"{base_url}/invoices.json",
        json=_rows("000210", "000021", "1210"),
        match=[matchers.query_param_matcher({"no": "21"}, strict_match=False)],
    )
    mock.get(f"{base_url}/invoices/101.json", body=fixture_text("invoices/get.json"))
    found = daftra.find_invoice("INV-000021")
    assert found is not None and found.id == "2415"


def test_find_invoice_with_several_normalised_matches_returns_none(
    daftra: DaftraBackend, mock: responses.RequestsMock, base_url: str
) -> None:
    mock.get(f"{base_url}/invoices.json", json=_rows("000021", "INV-21"))
    assert daftra.find_invoice("21-A") is None


def test_find_client_compares_email_tax_number_and_name(
    daftra: DaftraBackend, mock: responses.RequestsMock, base_url: str, fixture_text: Any
) -> None:
    mock.get(f"{base_url}/clients.json", body=fixture_text("clients/list.json"))
    by_email = daftra.find_client(email="AHMED.HASSAN@example.com")
    assert by_email is not None and by_email.id == "604"
    by_tax = daftra.find_client(tax_number="310122393500003")
    assert by_tax is not None and by_tax.id == "512"
    by_name = daftra.find_client(name="  ahmed   hassan ")
    assert by_name is not None and by_name.id == "604"
    assert daftra.find_client(email="ahmed.hassan@example.com", name="Someone Else") is None


# --------------------------------------------------------------------------- OAuth


def test_oauth_password_grant_at_the_site_root_then_only_bearer(
    oauth_options: dict[str, Any],
    mock: responses.RequestsMock,
    base_url: str,
    fixture_text: Any,
) -> None:
    mock.post(f"{SITE}/v2/oauth/token", body=fixture_text("oauth/token.json"))
    mock.get(f"{base_url}/clients/512.json", body=fixture_text("clients/get.json"))
    with DaftraBackend(**oauth_options) as daftra:
        daftra.get_client("512")
        daftra.get_client("512")
    token_calls = [c for c in mock.calls if path(c) == "/v2/oauth/token"]
    assert len(token_calls) == 1  # cached
    assert token_calls[0].request.headers["Content-Type"].startswith("multipart/form-data")
    assert form_fields(token_calls[0]) == {
        "client_id": "1",
        "client_secret": oauth_options["client_secret"],
        "grant_type": "password",
        "username": "owner@example.com",
        "password": oauth_options["password"],
    }
    for call in calls_to(mock, "/clients/512.json"):
        headers = call.request.headers
        assert headers["Authorization"].startswith("Bearer eyJ0eXAi")
        assert "apikey" not in headers


def test_oauth_token_renewed_once_on_401(
    oauth_options: dict[str, Any],
    mock: responses.RequestsMock,
    base_url: str,
    fixture: Load,
    fixture_text: Any,
) -> None:
    first = fixture("oauth/token.json")
    second = dict(first, access_token="second-token-abc")
    mock.post(f"{SITE}/v2/oauth/token", json=first)
    mock.post(f"{SITE}/v2/oauth/token", json=second)
    url = f"{base_url}/clients/512.json"
    mock.get(url, body=fixture_text("errors/unauthorized.json"), status=401)
    mock.get(url, body=fixture_text("clients/get.json"))
    with DaftraBackend(**oauth_options) as daftra:
        assert daftra.get_client("512").id == "512"
    gets = calls_to(mock, "/clients/512.json")
    assert len(gets) == 2
    assert gets[1].request.headers["Authorization"] == "Bearer second-token-abc"
    assert len([c for c in mock.calls if path(c) == "/v2/oauth/token"]) == 2


def test_oauth_second_401_raises_authentication_error(
    oauth_options: dict[str, Any], mock: responses.RequestsMock, base_url: str, fixture_text: Any
) -> None:
    mock.post(f"{SITE}/v2/oauth/token", body=fixture_text("oauth/token.json"))
    mock.get(
        f"{base_url}/clients/512.json",
        body=fixture_text("errors/unauthorized.json"),
        status=401,
    )
    with DaftraBackend(**oauth_options) as daftra, pytest.raises(AuthenticationError):
        daftra.get_client("512")
    assert len(calls_to(mock, "/clients/512.json")) == 2  # renewed once, not in a loop


def test_oauth_refused_credentials_raise_authentication_error(
    oauth_options: dict[str, Any], mock: responses.RequestsMock, base_url: str, fixture_text: Any
) -> None:
    mock.post(f"{SITE}/v2/oauth/token", body=fixture_text("oauth/invalid_grant.json"), status=400)
    with DaftraBackend(**oauth_options) as daftra, pytest.raises(AuthenticationError) as caught:
        daftra.get_client("512")
    assert "credentials were incorrect" in str(caught.value)
    assert not calls_to(mock, "/clients/512.json")


# --------------------------------------------------------------------------- the account


def test_display_date_format_resolved_from_site_info_once(
    api_key: str, mock: responses.RequestsMock, base_url: str, fixture: Load, fixture_text: Any
) -> None:
    payload = fixture("invoices/get.json")
    payload["data"]["Invoice"]["date"] = "02/05/2026"  # ambiguous without the format
    mock.get(f"{base_url}/site_info.json", body=fixture_text("site_info/get.json"))
    mock.get(f"{base_url}/listing/dateFormats.json", body=fixture_text("listing/date_formats.json"))
    mock.get(f"{base_url}/taxes.json", body=fixture_text("taxes/list.json"))
    mock.get(
        f"{base_url}/invoices/2415.json", body=json.dumps(payload, default=str, ensure_ascii=False)
    )
    with DaftraBackend(subdomain="alnoor", api_key=api_key) as daftra:
        assert daftra.get_invoice("2415").issue_date == dt.date(2026, 5, 2)  # id 1: dd/mm/yyyy
        daftra.get_invoice("2415")
    assert len(calls_to(mock, "/site_info.json")) == 1
    assert len(calls_to(mock, "/listing/dateFormats.json")) == 1


def test_unknown_account_format_and_ambiguous_date_raise_mapping_error(
    api_key: str, mock: responses.RequestsMock, base_url: str, fixture: Load
) -> None:
    site = fixture("site_info/get.json")
    site["data"]["Site"]["date_format"] = "99"
    payload = fixture("invoices/get.json")
    payload["data"]["Invoice"]["date"] = "02/05/2026"
    mock.get(f"{base_url}/site_info.json", json=site)
    mock.get(f"{base_url}/listing/dateFormats.json", json={"code": 200, "data": {"Listing": {}}})
    mock.get(
        f"{base_url}/invoices/2415.json", body=json.dumps(payload, default=str, ensure_ascii=False)
    )
    with (
        DaftraBackend(subdomain="alnoor", api_key=api_key) as daftra,
        pytest.raises(MappingError) as caught,
    ):
        daftra.get_invoice("2415")
    assert caught.value.field == "date"
    assert "date_format" in str(caught.value)


def test_check_connection_reads_site_info(
    daftra: DaftraBackend, mock: responses.RequestsMock, base_url: str, fixture_text: Any
) -> None:
    mock.get(f"{base_url}/site_info.json", body=fixture_text("site_info/get.json"))
    facts = daftra.check_connection()
    assert facts["auth"] == "api_key"
    assert facts["business_name"] == "مؤسسة الريادة للتقنية"
    assert facts["currency"] == "SAR"
    assert facts["date_format"] == "%d/%m/%Y"


def test_validate_invoice_counts_a_negative_adjustment_as_discount(
    daftra: DaftraBackend, mock: responses.RequestsMock, taxes: None
) -> None:
    # A Perfex rounding adjustment of -0.50 is written to Daftra as discount, so Daftra
    # taxes each line after it: 15% of (3001.00 + 30.00 - 0.50) split per line.
    invoice = sample_invoice(as_built=True, discount_total=Decimal(0), adjustment=Decimal("-0.50"))
    assert invoice.tax_total == Decimal("454.35")
    with pytest.raises(InvalidRequest) as info:
        daftra.validate_invoice(invoice)
    assert "454.28" in info.value.field_errors["tax_total"]
