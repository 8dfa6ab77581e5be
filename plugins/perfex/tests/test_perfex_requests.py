"""The requests the Perfex backend sends, one at a time, against recorded answers
(``responses``): form keys with PHP brackets, headers, JSON PUTs, the 2.x create that
answers no id, 3.x ``record_id``, the payment answered with an empty body."""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlparse

import pytest
import responses
from invoicing_bridge_perfex.backend import PerfexBackend

from invoicing_bridge.exceptions import APIError, MappingError, ServerError
from invoicing_bridge.models import Address, Client, Invoice, LineItem, Payment, TaxRate

BASE = "https://crm.example.com/api"
TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJ1c2VyIjoiYXBpIn0.c2VjcmV0LXNpZ25hdHVyZQ"
Load = Callable[[str], Any]


@pytest.fixture
def recorded() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def make(**options: Any) -> PerfexBackend:
    values: dict[str, Any] = {
        "base_url": BASE,
        "token": TOKEN,
        "currencies": {"USD": "1", "EGP": "3", "SAR": "4"},
        "payment_modes": ["1", "2"],
        "max_retries": 0,
        "detail_workers": 1,
    }
    values.update(options)
    return PerfexBackend(**values)


def form(call: Any) -> list[tuple[str, str]]:
    body = call.request.body
    text = body.decode() if isinstance(body, bytes) else str(body)
    return parse_qsl(text, keep_blank_values=True)


def paths(mock: responses.RequestsMock) -> list[str]:
    return [f"{c.request.method} {urlparse(c.request.url).path}" for c in mock.calls]


def nile() -> Client:
    return Client(
        id="5",
        name="شركة النيل للتجارة والتوزيع",
        address=Address(
            line1="15 شارع طلعت حرب", city="القاهرة", postal_code="11511", country="EG"
        ),
    )


def egp_invoice(number: str = "000017") -> Invoice:
    vat = [TaxRate("VAT EG", Decimal("14"))]
    return Invoice.build(
        number=number,
        issue_date=dt.date(2026, 3, 14),
        due_date=dt.date(2026, 4, 13),
        currency="EGP",
        client=nile(),
        items=[
            LineItem(
                "استشارات تقنية",
                Decimal("10"),
                Decimal("2182.50"),
                description="ساعات استشارية\nلفريق التطوير",
                unit="hour",
                taxes=vat,
            ),
            LineItem("Cloud hosting", Decimal("3"), Decimal("2910.00"), unit="month", taxes=vat),
        ],
        notes="شكراً لتعاملكم معنا",
        terms="Payment within 30 days.",
    )


# --------------------------------------------------------------------------- create


def test_create_invoice_sends_php_bracket_form_and_finds_the_new_id_by_number(
    recorded: responses.RequestsMock, payload: Load
) -> None:
    recorded.get(f"{BASE}/common/tax_data", json=payload("common/tax_data.json"))
    recorded.post(f"{BASE}/invoices", json=payload("invoices/create.json"))
    recorded.get(f"{BASE}/invoices/search/17", json=payload("invoices/search.json"))
    recorded.get(f"{BASE}/invoices/17", json=payload("invoices/get.json"))
    with make(api_version="2") as backend:
        created = backend.create_invoice(egp_invoice())

    post = next(c for c in recorded.calls if c.request.method == "POST")
    assert post.request.headers["authtoken"] == TOKEN
    assert "Authorization" not in post.request.headers
    assert "Idempotency-Key" not in post.request.headers  # plain 2.x requests
    assert post.request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    fields = form(post)
    values = dict(fields)
    assert values["clientid"] == "5"
    assert values["number"] == "17"  # the digits of another system's "000017"
    assert values["date"] == "2026-03-14" and values["duedate"] == "2026-04-13"
    assert values["currency"] == "3"
    assert values["subtotal"] == "30555.00"
    assert values["total"] == "34832.70"  # 30555.00 + 14% computed as Perfex does
    assert values["billing_street"] == "15 شارع طلعت حرب"
    assert values["billing_country"] == "66"
    assert values["clientnote"] == "شكراً لتعاملكم معنا"
    assert values["newitems[0][description]"] == "استشارات تقنية"
    assert values["newitems[0][long_description]"] == "ساعات استشارية\nلفريق التطوير"
    assert values["newitems[0][qty]"] == "10.00" and values["newitems[0][rate]"] == "2182.50"
    assert values["newitems[0][order]"] == "1" and values["newitems[1][order]"] == "2"
    assert values["newitems[1][unit]"] == "month"
    assert [v for k, v in fields if k == "newitems[0][taxname][]"] == ["VAT EG|14.00"]
    assert [v for k, v in fields if k == "allowed_payment_modes[]"] == ["1", "2"]
    assert "status" not in values and "total_tax" not in values

    assert paths(recorded) == [
        "GET /api/common/tax_data",
        "POST /api/invoices",
        "GET /api/invoices/search/17",
        "GET /api/invoices/17",
    ]
    assert created.id == "17"  # the 2026 row of number 17, not the 2025 one
    assert [t.name for t in created.items[0].taxes] == ["VAT EG"]  # what we sent


def test_create_invoice_v3_takes_record_id_and_sends_an_idempotency_key(
    recorded: responses.RequestsMock, payload: Load
) -> None:
    stored = payload("invoices/get.json")
    stored["id"] = "18"
    recorded.get(f"{BASE}/common/tax_data", json=payload("common/tax_data.json"))
    recorded.post(f"{BASE}/invoices", json=payload("invoices/create_v3.json"))
    recorded.get(f"{BASE}/invoices/18", json=stored)
    with make(api_version="3") as backend:
        created = backend.create_invoice(egp_invoice())
    assert created.id == "18"
    assert not any("/search/" in p for p in paths(recorded))
    post = next(c for c in recorded.calls if c.request.method == "POST")
    assert re.fullmatch(r"[0-9a-f-]{36}", post.request.headers["Idempotency-Key"])


def test_create_invoice_draft_is_saved_as_draft_and_found_among_drafts(
    recorded: responses.RequestsMock, payload: Load
) -> None:
    draft_row = payload("invoices/get_draft.json")
    search_row = dict(draft_row, invoiceid="40", total="34832.70", clientid="5", date="2026-03-14")
    recorded.get(f"{BASE}/common/tax_data", json=[])
    recorded.post(f"{BASE}/invoices", json=payload("invoices/create.json"))
    recorded.get(f"{BASE}/invoices/search/1000000000", json=[search_row])
    recorded.get(f"{BASE}/invoices/40", json=draft_row)
    invoice = egp_invoice()
    invoice.status = invoice.status.DRAFT
    with make(api_version="2") as backend:
        created = backend.create_invoice(invoice)
    assert dict(form(recorded.calls[1]))["save_as_draft"] == "true"
    assert created.id == "40" and created.number == "INV-DRAFT"


def test_unknown_currency_raises_before_any_request(recorded: responses.RequestsMock) -> None:
    invoice = egp_invoice()
    invoice.currency = "JPY"
    with make(currencies={"USD": "1"}) as backend, pytest.raises(MappingError) as caught:
        backend.create_invoice(invoice)
    assert "JPY" in str(caught.value) and caught.value.field == "currency"
    assert [p for p in paths(recorded) if not p.endswith("tax_data")] == []


def test_lost_create_answer_may_have_landed_and_is_found_by_its_number(
    recorded: responses.RequestsMock, payload: Load
) -> None:
    # A lost answer is the migration job's to recover (it holds the ledger): the backend
    # neither re-sends the create nor looks it up, and says it may have landed; the job's
    # lookup (find_invoice) then finds it by its number.
    recorded.get(f"{BASE}/common/tax_data", json=[])
    recorded.post(f"{BASE}/invoices", body="<html><body>502 Bad Gateway</body></html>", status=502)
    recorded.get(f"{BASE}/invoices/search/17", json=payload("invoices/search.json"))
    recorded.get(f"{BASE}/invoices/17", json=payload("invoices/get.json"))
    with make() as backend:
        with pytest.raises(ServerError) as caught:
            backend.create_invoice(egp_invoice())
        assert caught.value.may_have_landed
        assert not any("search" in p for p in paths(recorded))  # no lookup of its own
        found = backend.find_invoice(egp_invoice().number)
    assert found is not None and found.id == "17"
    assert [c.request.method for c in recorded.calls].count("POST") == 1  # never re-sent


# --------------------------------------------------------------------------- update


def test_update_invoice_puts_the_whole_document_as_raw_json(
    recorded: responses.RequestsMock, payload: Load
) -> None:
    current = payload("invoices/get.json")
    recorded.get(f"{BASE}/common/tax_data", json=payload("common/tax_data.json"))
    recorded.get(f"{BASE}/invoices/17", json=current)
    recorded.put(f"{BASE}/invoices/17", json=payload("invoices/update.json"))
    with make() as backend:
        invoice = backend.parse_payload("invoice", copy.deepcopy(current))[0]
        assert isinstance(invoice, Invoice)
        for item in invoice.items:
            item.taxes = [TaxRate("VAT EG", Decimal("14"))]
        invoice.notes = "Updated"
        invoice.items.append(LineItem("Printer toner", Decimal("1"), Decimal("0.00")))
        backend.update_invoice(invoice)
    put = next(c for c in recorded.calls if c.request.method == "PUT")
    assert put.request.headers["Content-Type"] == "application/json"
    body = json.loads(put.request.body)
    assert body["number"] == "17" and body["currency"] == "3" and body["clientid"] == "5"
    assert body["clientnote"] == "Updated"
    assert body["allowed_payment_modes"] == ["1", "2"]  # kept from the stored invoice
    assert body["subtotal"] == "30555.00" and body["total"] == "33091.07"
    assert body["discount_total"] == "1527.75" and body["discount_type"] == "before_tax"
    assert body["items"]["1"]["itemid"] == "88" and body["items"]["2"]["itemid"] == "89"
    assert body["items"]["1"]["taxname"] == ["VAT EG|14.00"]
    assert body["newitems"] == {
        "3": {
            "description": "Printer toner",
            "long_description": "",
            "qty": "1.00",
            "rate": "0.00",
            "unit": "",
            "order": "3",
            "taxname": [],
        }
    }
    assert body["removed_items"] == []

    def strings(value: Any) -> bool:
        if isinstance(value, dict):
            return all(strings(v) for v in value.values())
        if isinstance(value, list):
            return all(strings(v) for v in value)
        return isinstance(value, str)

    assert strings(body)


def test_update_with_fewer_lines_removes_the_surplus_items(
    recorded: responses.RequestsMock, payload: Load
) -> None:
    current = payload("invoices/get.json")
    recorded.get(f"{BASE}/common/tax_data", json=[])
    recorded.get(f"{BASE}/invoices/17", json=current)
    recorded.put(f"{BASE}/invoices/17", json=payload("invoices/update.json"))
    with make() as backend:
        invoice = backend.parse_payload("invoice", copy.deepcopy(current))[0]
        assert isinstance(invoice, Invoice)
        invoice.items = [LineItem("Only line", Decimal("1"), Decimal("100.00"))]
        invoice.discount_total = Decimal("0")
        invoice.subtotal = invoice.total = Decimal("100.00")
        invoice.tax_total = Decimal("0")
        backend.update_invoice(invoice)
    body = json.loads(next(c for c in recorded.calls if c.request.method == "PUT").request.body)
    assert list(body["items"]) == ["1"] and body["items"]["1"]["itemid"] == "88"
    assert body["removed_items"] == ["89"] and body["newitems"] == {}


def test_update_refuses_lines_whose_taxes_perfex_never_returned(
    recorded: responses.RequestsMock, payload: Load
) -> None:
    current = payload("invoices/get.json")
    recorded.get(f"{BASE}/invoices/17", json=current)
    with make() as backend:
        invoice = backend.parse_payload("invoice", copy.deepcopy(current))[0]
        assert isinstance(invoice, Invoice)
        with pytest.raises(MappingError) as caught:
            backend.update_invoice(invoice)
    assert caught.value.field == "items[0].taxes"
    assert "PUT" not in [c.request.method for c in recorded.calls]


@pytest.mark.parametrize(
    ("status", "fixture"),
    [(404, "invoices/update_no_change.json"), (200, "invoices/update_published.json")],
)
def test_update_answers_that_look_like_failures_are_read_back(
    recorded: responses.RequestsMock, payload: Load, status: int, fixture: str
) -> None:
    current = payload("invoices/get.json")
    recorded.get(f"{BASE}/common/tax_data", json=[])
    recorded.get(f"{BASE}/invoices/17", json=current)
    recorded.put(f"{BASE}/invoices/17", json=payload(fixture), status=status)
    with make() as backend:
        invoice = backend.parse_payload("invoice", copy.deepcopy(current))[0]
        assert isinstance(invoice, Invoice)
        for item in invoice.items:
            item.taxes = [TaxRate("VAT EG", Decimal("14"))]
        stored = backend.update_invoice(invoice)
    assert stored.id == "17"


# --------------------------------------------------------------------------- payments


def _payment_flow(recorded: responses.RequestsMock, payload: Load, **post: Any) -> None:
    recorded.get(f"{BASE}/invoices/31", json=payload("invoices/get_overdue_unpaid.json"))
    recorded.get(f"{BASE}/common/payment_mode", json=payload("common/payment_mode.json"))
    recorded.post(f"{BASE}/payments", **post)
    recorded.get(f"{BASE}/invoices/31", json=payload("invoices/get_overdue_partial.json"))


def cash_payment() -> Payment:
    return Payment(
        invoice_id="31",
        amount=Decimal("300.00"),
        date=dt.date(2026, 2, 1),
        method="cash",
        notes="دفعة أولى",
    )


def test_empty_payment_answer_is_confirmed_by_reading_the_invoice_back(
    recorded: responses.RequestsMock, payload: Load
) -> None:
    _payment_flow(recorded, payload, body="", status=200)
    with make() as backend:
        recorded_payment = backend.record_payment(cash_payment())
    post = next(c for c in recorded.calls if c.request.method == "POST")
    values = dict(form(post))
    assert values == {
        "invoiceid": "31",
        "amount": "300.00",
        "paymentmode": "2",  # "cash" is the install's mode "Cash"
        "paymentmethod": "",
        "note": "دفعة أولى",
        "transactionid": "",
    }
    assert recorded_payment.id == "60" and recorded_payment.currency == "SAR"
    assert recorded_payment.amount == Decimal("300.00")


def test_paymentmode_true_answer_is_a_success(
    recorded: responses.RequestsMock, payload: Load
) -> None:
    _payment_flow(recorded, payload, json=payload("payments/create.json"))
    with make() as backend:
        assert backend.record_payment(cash_payment()).id == "60"


def test_v3_payment_answer_carries_record_id(
    recorded: responses.RequestsMock, payload: Load
) -> None:
    after = payload("invoices/get_overdue_partial.json")
    after["payments"][0]["paymentid"] = "62"
    recorded.get(f"{BASE}/invoices/31", json=payload("invoices/get_overdue_unpaid.json"))
    recorded.get(f"{BASE}/common/payment_mode", json=payload("common/payment_mode.json"))
    recorded.post(f"{BASE}/payments", json=payload("payments/create_v3.json"))
    recorded.get(f"{BASE}/invoices/31", json=after)
    with make(api_version="3") as backend:
        assert backend.record_payment(cash_payment()).id == "62"


def test_unconfirmed_payment_raises(recorded: responses.RequestsMock, payload: Load) -> None:
    recorded.get(f"{BASE}/invoices/31", json=payload("invoices/get_overdue_unpaid.json"))
    recorded.get(f"{BASE}/common/payment_mode", json=payload("common/payment_mode.json"))
    recorded.post(f"{BASE}/payments", body="", status=200)
    with make() as backend, pytest.raises(APIError, match="empty answer"):
        backend.record_payment(cash_payment())


def test_method_without_a_mode_is_stored_like_a_gateway_and_reads_back(
    recorded: responses.RequestsMock, payload: Load
) -> None:
    after = payload("invoices/get_overdue_partial.json")
    after["payments"][0].update(paymentmode="client_credit", name=None, id=None)
    recorded.get(f"{BASE}/invoices/31", json=payload("invoices/get_overdue_unpaid.json"))
    recorded.get(f"{BASE}/common/payment_mode", json=payload("common/payment_mode.json"))
    recorded.post(f"{BASE}/payments", json=payload("payments/create.json"))
    recorded.get(f"{BASE}/invoices/31", json=after)
    payment = cash_payment()
    payment.method = "client_credit"
    with make() as backend:
        stored = backend.record_payment(payment)
    post = next(c for c in recorded.calls if c.request.method == "POST")
    assert dict(form(post))["paymentmode"] == "client_credit"
    assert stored.method == "client_credit"


def test_payment_amount_is_sent_in_cents_and_the_asked_amount_kept(
    recorded: responses.RequestsMock, payload: Load
) -> None:
    _payment_flow(recorded, payload, json=payload("payments/create.json"))
    payment = cash_payment()
    payment.amount = Decimal("299.9961")
    with make() as backend:
        stored = backend.record_payment(payment)
    post = next(c for c in recorded.calls if c.request.method == "POST")
    assert dict(form(post))["amount"] == "300.00"
    assert stored.amount == Decimal("300.00")
    assert stored.extra["requested_amount"] == "299.9961"


def test_payment_method_that_cannot_be_a_mode_is_a_mapping_error(
    recorded: responses.RequestsMock, payload: Load
) -> None:
    recorded.get(f"{BASE}/invoices/31", json=payload("invoices/get_overdue_unpaid.json"))
    recorded.get(f"{BASE}/common/payment_mode", json=payload("common/payment_mode.json"))
    payment = cash_payment()
    payment.method = "x" * 60  # longer than paymentmode's varchar(40)
    with make() as backend, pytest.raises(MappingError) as caught:
        backend.record_payment(payment)
    assert caught.value.field == "method"
    assert "bank_transfer" in str(caught.value)  # it lists what the install has
    assert "POST" not in [c.request.method for c in recorded.calls]


# --------------------------------------------------------------------------- auth header


@pytest.mark.parametrize(
    ("mode", "authtoken", "authorization"),
    [
        ("authtoken", TOKEN, None),
        ("authorization", None, f"Bearer {TOKEN}"),
        ("both", TOKEN, f"Bearer {TOKEN}"),
    ],
)
def test_auth_header_option_chooses_where_the_token_goes(
    recorded: responses.RequestsMock,
    payload: Load,
    mode: str,
    authtoken: str | None,
    authorization: str | None,
) -> None:
    recorded.get(f"{BASE}/customers/5", json=payload("customers/get.json"))
    with make(auth_header=mode, primary_contacts=False) as backend:
        backend.get_client("5")
    headers = recorded.calls[0].request.headers
    assert headers.get("authtoken") == authtoken
    assert headers.get("Authorization") == authorization


# --------------------------------------------------------------------------- lists and finds


def test_iter_invoices_reads_a_bare_array_and_fetches_only_matching_details(
    recorded: responses.RequestsMock, payload: Load
) -> None:
    recorded.get(f"{BASE}/invoices", json=payload("invoices/list.json"))
    recorded.get(f"{BASE}/invoices/17", json=payload("invoices/get.json"))
    recorded.get(f"{BASE}/common/tax_data", json=payload("common/tax_data.json"))
    with make(api_version="2") as backend:
        found = list(backend.iter_invoices(client_id="5", since=dt.date(2026, 1, 1)))
    assert [i.id for i in found] == ["17"]
    assert found[0].items and found[0].client.name
    assert paths(recorded) == [
        "GET /api/invoices",
        "GET /api/invoices/17",
        "GET /api/common/tax_data",  # once, to infer the lines' taxes
    ]
    assert [t.rate for i in found[0].items for t in i.taxes] == [Decimal("14.00")] * 2
    assert recorded.calls[0].request.url == f"{BASE}/invoices"  # no page params in 2.x mode


def test_iter_invoices_follows_v3_pages(recorded: responses.RequestsMock, payload: Load) -> None:
    page_one = payload("invoices/list_page.json")
    last_row = payload("invoices/list.json")[2]
    page_two = {
        "data": [last_row],
        "meta": {"page": 2, "per_page": 2, "total": 3, "total_pages": 2, "has_more": False},
    }
    recorded.get(f"{BASE}/invoices", json=page_one)
    recorded.get(f"{BASE}/invoices", json=page_two)
    with make(api_version="3", page_size=2, list_details=False) as backend:
        rows = list(backend.iter_invoices())
        assert backend.detected_version == "3"
    assert [r.id for r in rows] == ["3", "9", "17"]
    queries = [dict(parse_qsl(urlparse(c.request.url).query)) for c in recorded.calls]
    assert queries == [{"page": "1", "per_page": "2"}, {"page": "2", "per_page": "2"}]


def test_a_server_that_always_pages_is_followed_even_in_2x_mode(
    recorded: responses.RequestsMock, payload: Load
) -> None:
    rows = payload("invoices/list.json")
    first = {"data": rows[:2], "meta": {"page": 1, "per_page": 2, "total": 3, "has_more": True}}
    second = {"data": rows[2:], "meta": {"page": 2, "per_page": 2, "total": 3, "has_more": False}}
    recorded.get(f"{BASE}/invoices", json=first)
    recorded.get(f"{BASE}/invoices", json=second)
    with make(api_version="2", list_details=False) as backend:
        assert [i.id for i in backend.iter_invoices()] == ["3", "9", "17"]
    queries = [dict(parse_qsl(urlparse(c.request.url).query)) for c in recorded.calls]
    assert queries == [{}, {"page": "2", "per_page": "2"}]


def test_status_filter_skips_rows_that_cannot_have_that_status(
    recorded: responses.RequestsMock, payload: Load
) -> None:
    recorded.get(f"{BASE}/invoices", json=payload("invoices/list.json"))
    with make(api_version="2") as backend:
        from invoicing_bridge.models import InvoiceStatus

        assert list(backend.iter_invoices(status=InvoiceStatus.DRAFT)) == []
    assert paths(recorded) == ["GET /api/invoices"]  # no detail fetched


def test_no_data_list_is_an_empty_result(recorded: responses.RequestsMock, payload: Load) -> None:
    recorded.get(f"{BASE}/invoices", json=payload("errors/no_data.json"), status=404)
    recorded.get(f"{BASE}/payments", json=payload("payments/no_data.json"), status=404)
    recorded.get(f"{BASE}/common/payment_mode", json=payload("common/payment_mode.json"))
    with make() as backend:
        assert list(backend.iter_invoices()) == []
        assert list(backend.iter_payments()) == []


def test_find_invoice_with_another_systems_number_searches_its_digits(
    recorded: responses.RequestsMock, payload: Load
) -> None:
    recorded.get(f"{BASE}/invoices/search/17", json=payload("invoices/search.json"))
    recorded.get(f"{BASE}/invoices/17", json=payload("invoices/get.json"))
    with make() as backend:
        found = backend.find_invoice("000017")
    assert found is not None and found.id == "17"  # the most recent year of number 17


def test_find_invoice_uses_the_year_a_number_carries(
    recorded: responses.RequestsMock, payload: Load
) -> None:
    older = payload("invoices/get.json")
    older["id"] = "6"
    older["date"] = "2025-04-02"
    recorded.get(f"{BASE}/invoices/search/17", json=payload("invoices/search.json"))
    recorded.get(f"{BASE}/invoices/6", json=older)
    with make() as backend:
        found = backend.find_invoice("INV-000017-25")
    assert found is not None and found.id == "6"


def test_find_invoice_missing_and_draft_numbers_return_none(
    recorded: responses.RequestsMock, payload: Load
) -> None:
    recorded.get(f"{BASE}/invoices/search/987654", json=payload("errors/no_data.json"), status=404)
    with make() as backend:
        assert backend.find_invoice("NO-SUCH-987654") is None
        assert backend.find_invoice("INV-DRAFT") is None
    assert paths(recorded) == ["GET /api/invoices/search/987654"]


# --------------------------------------------------------------------------- clients


def test_create_client_finds_it_by_company_and_adds_a_primary_contact(
    recorded: responses.RequestsMock, payload: Load, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    recorded.post(f"{BASE}/customers", json=payload("customers/create.json"))
    recorded.get(
        re.compile(rf"{re.escape(BASE)}/customers/search/.*"), json=payload("customers/search.json")
    )
    recorded.get(f"{BASE}/customers/12", json=payload("customers/list.json")[0])
    recorded.post(f"{BASE}/contacts", json=payload("contacts/create.json"))
    recorded.get(f"{BASE}/contacts/12", json=payload("contacts/list.json"))
    client = Client(
        name="Hudson Analytics LLC",
        company_name="Hudson Analytics LLC",
        first_name="Emily",
        last_name="Carter",
        email="emily.carter@hudson.example.com",
        phone="+1 212 555 0148",
        tax_number="47-3318820",
        address=Address(line1="350 5th Ave", city="New York", state="NY", country="US"),
    )
    with make() as backend:
        created = backend.create_client(client)
    customer = dict(form(recorded.calls[0]))
    assert customer["company"] == "Hudson Analytics LLC"
    assert customer["vat"] == "47-3318820" and customer["country"] == "236"
    assert customer["billing_street"] == "350 5th Ave"
    assert urlparse(recorded.calls[1].request.url).path == (
        "/api/customers/search/Hudson%20Analytics%20LLC"
    )
    contact = dict(form(recorded.calls[3]))
    assert contact["customer_id"] == "12" and contact["email"] == client.email
    assert (contact["firstname"], contact["lastname"]) == ("Emily", "Carter")
    assert contact["is_primary"] == "on" and contact["donotsendwelcomeemail"] == "on"
    assert len(contact["password"]) >= 24
    assert contact["password"] not in caplog.text
    assert created.id == "12" and created.email == "emily.carter@hudson.example.com"


def test_find_client_by_email_searches_contacts(
    recorded: responses.RequestsMock, payload: Load
) -> None:
    recorded.get(
        f"{BASE}/contacts/search/EMILY.CARTER%40hudson.example.com",
        json=payload("contacts/search.json"),
    )
    recorded.get(f"{BASE}/customers/12", json=payload("customers/list.json")[0])
    recorded.get(f"{BASE}/contacts/12", json=payload("contacts/list.json"))
    with make() as backend:
        found = backend.find_client(email="EMILY.CARTER@hudson.example.com")
        assert found is not None and found.id == "12"
        assert backend.find_client(email="EMILY.CARTER@hudson.example.com", name="Other") is None


def test_update_client_puts_json_and_tolerates_update_fail_when_unchanged(
    recorded: responses.RequestsMock, payload: Load
) -> None:
    row = payload("customers/list.json")[0]
    recorded.get(f"{BASE}/customers/12", json=row)
    recorded.put(
        f"{BASE}/customers/12", json=payload("customers/update_no_change.json"), status=404
    )
    with make(primary_contacts=False) as backend:
        client = backend.get_client("12")
        updated = backend.update_client(client)
    put = next(c for c in recorded.calls if c.request.method == "PUT")
    assert put.request.headers["Content-Type"] == "application/json"
    assert json.loads(put.request.body)["company"] == "Hudson Analytics LLC"
    assert updated.id == "12"
