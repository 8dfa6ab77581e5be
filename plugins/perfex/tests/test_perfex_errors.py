"""How Perfex's answers become exceptions: statuses that lie (404 for a bad token),
``status: false`` on a 2xx, ``error`` maps, HTML pages, and no secret in any of it."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
import responses
from invoicing_bridge_perfex.backend import PerfexBackend
from invoicing_bridge_perfex.errors import parse_error

from invoicing_bridge.exceptions import (
    APIError,
    AuthenticationError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerError,
    TransportError,
)
from invoicing_bridge.models import Client, Invoice, Payment

BASE = "https://crm.example.com/api"
TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJ1c2VyIjoic2VjcmV0In0.dG9wLXNlY3JldC1zaWc"
Load = Callable[[str], Any]


@pytest.fixture
def recorded() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def backend() -> Iterator[PerfexBackend]:
    with PerfexBackend(
        base_url=BASE, token=TOKEN, max_retries=0, primary_contacts=False, payment_modes=["1"]
    ) as instance:
        yield instance


@pytest.mark.parametrize(
    "fixture",
    [
        "errors/token_not_defined.json",
        "errors/token_signature.json",
        "errors/token_expired.json",
        "errors/token_unregistered.json",
    ],
)
def test_404_for_a_bad_token_raises_authentication_error(
    recorded: responses.RequestsMock, backend: PerfexBackend, payload: Load, fixture: str
) -> None:
    recorded.get(f"{BASE}/invoices/17", json=payload(fixture), status=404)
    with pytest.raises(AuthenticationError) as caught:
        backend.get_invoice("17")
    assert caught.value.status_code == 404


def test_inactive_module_401_raises_authentication_error(
    recorded: responses.RequestsMock, backend: PerfexBackend, payload: Load
) -> None:
    recorded.get(f"{BASE}/customers/5", json=payload("errors/module_inactive.json"), status=401)
    with pytest.raises(AuthenticationError, match="not active"):
        backend.get_client("5")


def test_403_raises_permission_denied(
    recorded: responses.RequestsMock, backend: PerfexBackend, payload: Load
) -> None:
    recorded.delete(f"{BASE}/invoices/17", json=payload("errors/permission.json"), status=403)
    with pytest.raises(PermissionDenied, match="necessay permissions"):
        backend.delete_invoice("17")


@pytest.mark.parametrize(
    ("path", "fixture", "call"),
    [
        ("invoices/987", "errors/no_data.json", lambda b: b.get_invoice("987")),
        ("customers/987", "errors/no_data.json", lambda b: b.get_client("987")),
        ("payments/987", "payments/no_data.json", lambda b: b.get_payment("987")),
    ],
)
def test_no_data_on_get_raises_not_found(
    recorded: responses.RequestsMock,
    backend: PerfexBackend,
    payload: Load,
    path: str,
    fixture: str,
    call: Callable[[PerfexBackend], Any],
) -> None:
    recorded.get(f"{BASE}/{path}", json=payload(fixture), status=404)
    recorded.get(f"{BASE}/common/payment_mode", json=payload("common/payment_mode.json"))
    with pytest.raises(NotFound, match="No data were found"):
        call(backend)


def test_no_data_on_search_is_an_empty_result(
    recorded: responses.RequestsMock, backend: PerfexBackend, payload: Load
) -> None:
    recorded.get(f"{BASE}/customers/search/Nobody", json=payload("errors/no_data.json"), status=404)
    recorded.get(f"{BASE}/customers", json=payload("errors/no_data.json"), status=404)
    assert backend.find_client(name="Nobody") is None
    assert list(backend.iter_clients()) == []


def test_validation_error_map_raises_invalid_request_with_field_errors(
    recorded: responses.RequestsMock, backend: PerfexBackend, payload: Load
) -> None:
    recorded.post(f"{BASE}/customers", json=payload("customers/create_invalid.json"), status=404)
    with pytest.raises(InvalidRequest) as caught:
        backend.create_client(Client(name="  x  "))
    assert caught.value.field_errors == {"company": "The Company field is required."}
    assert "<p>" not in str(caught.value)
    assert caught.value.status_code == 404


def test_409_error_map_on_put_raises_invalid_request(
    recorded: responses.RequestsMock, backend: PerfexBackend, payload: Load
) -> None:
    recorded.put(f"{BASE}/customers/5", json=payload("invoices/update_invalid.json"), status=409)
    recorded.get(f"{BASE}/customers/5", json=payload("customers/get.json"))
    client = backend.get_client("5")
    with pytest.raises(InvalidRequest) as caught:
        backend.update_client(client)
    assert "subtotal" in caught.value.field_errors
    assert caught.value.status_code == 409


def test_409_unknown_invoice_id_raises_not_found(payload: Load) -> None:
    info = parse_error(409, payload("invoices/update_missing.json"), "")
    assert info is not None and info.category == "not_found"


def test_2xx_with_status_false_raises(
    recorded: responses.RequestsMock, backend: PerfexBackend
) -> None:
    recorded.post(f"{BASE}/customers", json={"status": False, "message": "Client add fail."})
    with pytest.raises(InvalidRequest, match="Client add fail") as caught:
        backend.create_client(Client(name="Acme"))
    assert caught.value.status_code == 200


def test_2xx_with_paymentmode_false_raises(
    recorded: responses.RequestsMock, backend: PerfexBackend, payload: Load
) -> None:
    recorded.get(f"{BASE}/invoices/31", json=payload("invoices/get_overdue_unpaid.json"))
    recorded.get(f"{BASE}/common/payment_mode", json=payload("common/payment_mode.json"))
    recorded.post(f"{BASE}/payments", json=payload("payments/create_invalid.json"))
    payment = Payment(
        invoice_id="31", amount=Decimal("1.00"), date=dt.date(2026, 1, 1), method="cash"
    )
    with pytest.raises(InvalidRequest) as caught:
        backend.record_payment(payment)
    assert caught.value.field_errors == {"amount": "The Source field is required."}


def test_406_raises_invalid_request(
    recorded: responses.RequestsMock, backend: PerfexBackend, payload: Load
) -> None:
    recorded.get(f"{BASE}/customers/5", json=payload("customers/get.json"))
    recorded.put(f"{BASE}/customers/5", json=payload("errors/not_acceptable.json"), status=406)
    with pytest.raises(InvalidRequest, match="Data Not Acceptable"):
        backend.update_client(backend.get_client("5"))


def test_html_500_page_raises_server_error(
    recorded: responses.RequestsMock,
    backend: PerfexBackend,
    fixture_text: Callable[[str], str],
) -> None:
    recorded.get(
        f"{BASE}/customers/3",
        body=fixture_text("errors/php_error.html"),
        status=500,
        content_type="text/html",
    )
    with pytest.raises(ServerError) as caught:
        backend.get_client("3", with_contact=False)
    assert caught.value.status_code == 500


def test_html_500_on_the_single_invoice_get_reads_the_list_row_instead(
    recorded: responses.RequestsMock,
    backend: PerfexBackend,
    fixture_text: Callable[[str], str],
    payload: Callable[[str], Any],
) -> None:
    """Module 2.0.8 on PHP 8 (usort() on one object): the invoice comes from the list."""
    recorded.get(
        f"{BASE}/invoices/17",
        body=fixture_text("errors/php_error.html"),
        status=500,
        content_type="text/html",
    )
    recorded.get(f"{BASE}/invoices", json=payload("invoices/list.json"))
    recorded.get(f"{BASE}/payments", json=payload("payments/list.json"))
    invoice = backend.get_invoice("17")
    assert invoice.id == "17"
    assert invoice.items == [] and invoice.extra["items_known"] is False
    assert [p.id for p in invoice.payments] == ["41"]
    assert invoice.amount_paid == Decimal("12000.00")
    backend.get_invoice("17")  # known now: no second single GET
    assert [c.request.url for c in recorded.calls].count(f"{BASE}/invoices/17") == 1


def test_non_json_2xx_raises_transport_error(
    recorded: responses.RequestsMock, backend: PerfexBackend
) -> None:
    recorded.get(f"{BASE}/invoices/17", body="<html>maintenance</html>", content_type="text/html")
    with pytest.raises(TransportError):
        backend.get_invoice("17")


def test_429_raises_rate_limited_with_retry_after(
    recorded: responses.RequestsMock, backend: PerfexBackend
) -> None:
    recorded.get(
        f"{BASE}/invoices/17",
        json={"status": False, "message": "API rate limit exceeded"},
        status=429,
        headers={"Retry-After": "7"},
    )
    with pytest.raises(RateLimited) as caught:
        backend.get_invoice("17")
    assert caught.value.retry_after == 7


@pytest.mark.parametrize(
    ("status", "body", "category", "fields"),
    [
        (404, {"status": False, "message": "Token is not defined."}, "authentication", {}),
        (404, {"status": False, "message": "Wrong number of segments"}, "authentication", {}),
        (404, {"status": False, "message": None}, "authentication", {}),
        (403, {"status": False, "message": "Your API token does not..."}, "permission", {}),
        (404, {"status": False, "message": "No data were found"}, "not_found", {}),
        (404, {"status": False, "message": "No Data Were Found"}, "not_found", {}),
        (404, {"paymentmode": False, "message": "No data were found"}, "not_found", {}),
        (404, {"status": False, "message": "Invalid Invoice ID"}, "not_found", {}),
        (404, {"status": False, "message": "Invoice Add Fail"}, "invalid", {}),
        (
            404,
            {"status": False, "error": {"number": "in use"}, "message": "<p>in use</p>\n"},
            "invalid",
            {"number": "in use"},
        ),
        (
            422,
            {"status": False, "error": "validation_failed", "errors": {"page": "bad"}},
            "invalid",
            {"page": "bad"},
        ),
        (200, {"status": False, "message": "Something failed"}, "invalid", {}),
        (200, {"paymentmode": False, "message": "Payment add fail."}, "invalid", {}),
        (500, {"status": False, "message": "Database error"}, "server", {}),
    ],
)
def test_parse_error_categories(
    status: int, body: dict[str, Any], category: str, fields: dict[str, str]
) -> None:
    info = parse_error(status, body, "")
    assert info is not None
    assert info.category == category
    assert info.field_errors == fields


@pytest.mark.parametrize(
    "body",
    [
        {"status": True, "message": "Invoice Added Successfully"},
        {"paymentmode": True, "message": "Payment add successful."},
        {"id": "17", "status": "1", "paymentmode": "2"},  # records carry string flags
        [{"id": "1"}],
        None,
    ],
)
def test_parse_error_passes_successful_answers(body: Any) -> None:
    assert parse_error(200, body, "") is None


def test_token_never_appears_in_errors_reprs_or_logs(
    recorded: responses.RequestsMock,
    backend: PerfexBackend,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    echoed = {"status": False, "message": f"Token {TOKEN} is not valid for this install"}
    recorded.get(f"{BASE}/invoices/17", json=echoed, status=404)
    recorded.get(f"{BASE}/invoices/18", body=f"<html>{TOKEN}</html>", status=502)
    with pytest.raises(AuthenticationError) as auth:
        backend.get_invoice("17")
    with pytest.raises(ServerError) as server:
        backend.get_invoice("18")
    texts = [
        str(auth.value),
        repr(auth.value),
        repr(auth.value.details),
        str(server.value),
        repr(server.value.details),
        repr(backend),
        repr(backend.http),
        caplog.text,
    ]
    for text in texts:
        assert TOKEN not in text
    assert "***" in str(auth.value)
    assert "token='***'" in repr(backend) or "token=***" in repr(backend)


def test_api_error_for_unlocated_create_names_the_number_not_the_token(
    recorded: responses.RequestsMock, backend: PerfexBackend, payload: Load
) -> None:
    recorded.get(f"{BASE}/common/tax_data", json=[])
    recorded.post(f"{BASE}/invoices", json=payload("invoices/create.json"))
    recorded.get(f"{BASE}/invoices/search/4242", json=payload("errors/no_data.json"), status=404)
    invoice = Invoice.from_dict(
        {
            "number": "4242",
            "issue_date": "2026-01-05",
            "currency": "USD",
            "client": {
                "id": "5",
                "name": "Acme",
                "address": {"line1": "1 Main St", "country": "US"},
            },
            "items": [{"name": "Work", "quantity": "1", "unit_price": "10.00"}],
            "subtotal": "10.00",
            "total": "10.00",
        }
    )
    backend.lookups.currencies["USD"] = "1"
    with pytest.raises(APIError, match="4242") as caught:
        backend.create_invoice(invoice)
    assert TOKEN not in str(caught.value)
