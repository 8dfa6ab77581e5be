"""Acme's error bodies become the core's errors (the status lies for a revoked key)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import responses
from invoicing_bridge_acme import AcmeBackend

from invoicing_bridge import AuthenticationError, InvalidRequest, NotFound

URL = "https://books.acme.example/v1"
Load = Callable[[str], Any]


@pytest.fixture
def backend() -> Iterator[AcmeBackend]:
    with AcmeBackend(base_url=URL, api_key="k-secret-123", max_retries=0) as backend:
        yield backend


@responses.activate
def test_revoked_key_answered_200_raises_authentication_error(
    backend: AcmeBackend, payload: Load
) -> None:
    responses.get(f"{URL}/invoices/1", json=payload("errors/unauthorized.json"), status=200)
    with pytest.raises(AuthenticationError) as caught:
        backend.get_invoice("1")
    assert "invalid API key" in str(caught.value)
    assert "k-secret-123" not in str(caught.value)


@responses.activate
def test_missing_invoice_raises_not_found(backend: AcmeBackend, payload: Load) -> None:
    responses.get(f"{URL}/invoices/999", json=payload("errors/not_found.json"), status=404)
    with pytest.raises(NotFound):
        backend.get_invoice("999")


@responses.activate
def test_invalid_customer_raises_invalid_request_with_the_field(
    backend: AcmeBackend, payload: Load
) -> None:
    from invoicing_bridge import Client

    responses.post(f"{URL}/customers", json=payload("errors/invalid.json"), status=422)
    with pytest.raises(InvalidRequest) as caught:
        backend.create_client(Client(name=""))
    assert caught.value.field_errors == {"name": "required"}


@responses.activate
def test_the_key_goes_in_the_acme_header(backend: AcmeBackend) -> None:
    responses.get(f"{URL}/me", json={"account": {"name": "Acme Test", "currency": "USD"}})
    assert backend.check_connection()["name"] == "Acme Test"
    assert responses.calls[0].request.headers["X-Acme-Key"] == "k-secret-123"
