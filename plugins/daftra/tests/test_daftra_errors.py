"""Daftra's error answers become the core's exceptions; options are checked; secrets stay hidden."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import responses
from invoicing_bridge_daftra.backend import DaftraBackend
from invoicing_bridge_daftra.errors import parse_error

from invoicing_bridge.exceptions import (
    APIError,
    AuthenticationError,
    BackendError,
    ConfigurationError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    ServerError,
    TransportError,
)
from invoicing_bridge.models import Client

SITE = "https://alnoor.daftra.com"


def test_get_invoice_not_found_raises_not_found(
    daftra: DaftraBackend, mock: responses.RequestsMock, base_url: str, fixture_text: Any
) -> None:
    mock.get(
        f"{base_url}/invoices/77.json",
        body=fixture_text("invoices/get_not_found.json"),
        status=404,
    )
    with pytest.raises(NotFound) as caught:
        daftra.get_invoice("77")
    assert caught.value.status_code == 404
    assert caught.value.message == "Invoice not found"
    assert caught.value.details["result"] == "failed"


def test_validation_errors_become_invalid_request_field_errors(
    daftra: DaftraBackend, mock: responses.RequestsMock, base_url: str, fixture_text: Any
) -> None:
    mock.post(
        f"{base_url}/clients.json",
        body=fixture_text("invoices/create_validation_error.json"),
        status=400,
    )
    with pytest.raises(InvalidRequest) as caught:
        daftra.create_client(Client(name="X"))
    assert caught.value.status_code == 400
    assert caught.value.field_errors == {
        "client_id": "Client is required",
        "InvoiceItem.0.tax1": "Invalid tax",
    }
    assert "client_id: Client is required" in str(caught.value)


def test_2xx_answer_with_result_failed_raises_the_class_its_code_names(
    daftra: DaftraBackend, mock: responses.RequestsMock, base_url: str, fixture_text: Any
) -> None:
    mock.delete(f"{base_url}/invoices/5.json", body=fixture_text("errors/failed_with_200.json"))
    with pytest.raises(InvalidRequest) as caught:
        daftra.delete_invoice("5")
    assert caught.value.status_code == 200
    assert caught.value.field_errors == {"date": "The date is in a closed financial period"}
    assert "closed" in caught.value.message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"result": "failed", "code": 404, "message": "Item not found"}, NotFound),
        ({"result": "failed", "code": "401", "message": "Unauthorized"}, AuthenticationError),
        ({"result": "failed", "code": 500, "message": "Error"}, ServerError),
        ({"result": "failed", "message": "no code"}, APIError),
        ({"result": "error", "code": 403}, PermissionDenied),
    ],
)
def test_2xx_failed_bodies_map_by_their_code(
    daftra: DaftraBackend,
    mock: responses.RequestsMock,
    base_url: str,
    body: dict[str, Any],
    expected: type[APIError],
) -> None:
    mock.get(f"{base_url}/clients/5.json", json=body)
    with pytest.raises(expected):
        daftra.get_client("5")


@pytest.mark.parametrize("result", ["successful", "success", None])
def test_successful_results_are_not_errors(result: str | None) -> None:
    body = {"code": 200, "data": {}} if result is None else {"result": result, "data": {}}
    assert parse_error(200, body, "") is None


def test_html_page_where_json_was_expected_raises_transport_error(
    daftra: DaftraBackend, mock: responses.RequestsMock, base_url: str, fixture_text: Any
) -> None:
    mock.get(
        f"{base_url}/clients/5.json",
        body=fixture_text("errors/proxy_page.html"),
        content_type="text/html",
    )
    with pytest.raises(TransportError) as caught:
        daftra.get_client("5")
    assert "HTML" in str(caught.value)


@pytest.mark.parametrize(
    ("name", "status", "expected"),
    [
        ("errors/unauthorized.json", 401, AuthenticationError),
        ("errors/v2_unauthenticated.json", 401, AuthenticationError),
        ("errors/forbidden.json", 403, PermissionDenied),
        ("errors/delete_refused.json", 400, InvalidRequest),
    ],
)
def test_error_statuses_raise_their_classes_with_the_message(
    daftra: DaftraBackend,
    mock: responses.RequestsMock,
    base_url: str,
    fixture: Any,
    fixture_text: Any,
    name: str,
    status: int,
    expected: type[APIError],
) -> None:
    mock.delete(f"{base_url}/invoices/5.json", body=fixture_text(name), status=status)
    with pytest.raises(expected) as caught:
        daftra.delete_invoice("5")
    assert caught.value.message == fixture(name)["message"]


def test_server_error_on_a_read_is_retried(
    daftra: DaftraBackend, mock: responses.RequestsMock, base_url: str, fixture_text: Any
) -> None:
    url = f"{base_url}/clients/512.json"
    mock.get(url, status=503, json={"message": "busy"})
    mock.get(url, body=fixture_text("clients/get.json"))
    assert daftra.get_client("512").id == "512"
    assert len(mock.calls) == 2


def test_create_is_not_repeated_after_a_server_error(
    daftra: DaftraBackend, mock: responses.RequestsMock, base_url: str
) -> None:
    mock.post(f"{base_url}/clients.json", status=503, json={"message": "busy"})
    with pytest.raises(ServerError):
        daftra.create_client(Client(name="Acme", company_name="Acme"))
    assert len(mock.calls) == 1  # a POST that may have been stored is never sent twice


def test_create_answer_without_id_raises_backend_error(
    daftra: DaftraBackend, mock: responses.RequestsMock, base_url: str
) -> None:
    mock.post(f"{base_url}/clients.json", status=202, json={"code": 202, "result": "successful"})
    with pytest.raises(BackendError) as caught:
        daftra.create_client(Client(name="Acme", company_name="Acme"))
    assert "no id" in str(caught.value)


# --------------------------------------------------------------------------- secrets


def test_api_key_absent_from_exception_text_details_and_logs(
    mock: responses.RequestsMock, base_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    key = "dk-secret-7f3e9a1b2c4d"
    echo = {"result": "failed", "code": 401, "message": f"Unknown apikey {key}", "key": key}
    mock.get(f"{base_url}/clients/1.json", json=echo, status=401)
    caplog.set_level(logging.DEBUG)
    with (
        DaftraBackend(subdomain="alnoor", api_key=key, backoff_base=0) as daftra,
        pytest.raises(AuthenticationError) as caught,
    ):
        assert key not in repr(daftra)
        daftra.get_client("1")
    error = caught.value
    for text in (str(error), repr(error), str(error.details), error.message, caplog.text):
        assert key not in text
    assert "***" in error.message


def test_oauth_password_secret_and_token_absent_from_errors_and_logs(
    oauth_options: dict[str, Any],
    mock: responses.RequestsMock,
    base_url: str,
    fixture: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = fixture("oauth/token.json")["access_token"]
    mock.post(f"{SITE}/v2/oauth/token", json=fixture("oauth/token.json"))
    echo = {
        "result": "failed",
        "code": 400,
        "message": f"bad token {token} for {oauth_options['password']}",
        "validation_errors": {"auth": oauth_options["client_secret"]},
    }
    mock.get(f"{base_url}/clients/1.json", json=echo, status=400)
    caplog.set_level(logging.DEBUG)
    with DaftraBackend(**oauth_options) as daftra, pytest.raises(InvalidRequest) as caught:
        daftra.get_client("1")
    error = caught.value
    texts = [str(error), repr(error), str(error.details), str(error.field_errors), caplog.text]
    for secret in (token, oauth_options["password"], oauth_options["client_secret"]):
        for text in texts:
            assert secret not in text


# --------------------------------------------------------------------------- options


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"subdomain": "acme"}, "api_key"),  # no authentication at all
        ({"subdomain": "acme", "api_key": "k", "client_id": "1"}, "api_key"),  # both kinds
        ({"subdomain": "acme", "client_id": "1", "client_secret": "s"}, "username"),
        ({"api_key": "k"}, "subdomain"),  # no account
        ({"subdomain": "acme", "base_url": "http://127.0.0.1:9/api2", "api_key": "k"}, "base_url"),
        ({"subdomain": "acme.daftra.com", "api_key": "k"}, "subdomain"),
        ({"subdomain": "acme", "api_key": "k", "date_format": "dd/mm/yyyy"}, "date_format"),
        ({"subdomain": "acme", "api_key": "k", "page_size": 0}, "page_size"),
        ({"subdomain": "acme", "api_key": "k", "apikey": "k"}, "apikey"),  # unknown option
    ],
)
def test_bad_options_raise_configuration_error_naming_the_option(
    options: dict[str, Any], option: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        DaftraBackend(**options)
    assert caught.value.option == option


def test_subdomain_gives_the_api_root_and_base_url_is_taken_as_is() -> None:
    with DaftraBackend(subdomain="myshop", api_key="k") as daftra:
        assert daftra.base_url == "https://myshop.daftra.com/api2"
        assert daftra.site_root == "https://myshop.daftra.com"
    with DaftraBackend(base_url="http://127.0.0.1:8001/api2/", api_key="k") as daftra:
        assert daftra.base_url == "http://127.0.0.1:8001/api2"
        assert daftra.site_root == "http://127.0.0.1:8001"


def test_for_parsing_needs_no_credentials() -> None:
    parser = DaftraBackend.for_parsing(date_format="%d/%m/%Y")
    assert parser.options["date_format"] == "%d/%m/%Y"
    with pytest.raises(ConfigurationError) as caught:
        DaftraBackend.for_parsing(date_format="%Q")
    assert caught.value.option == "date_format"
