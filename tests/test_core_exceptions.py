"""The exception tree: the one status → class table, and errors that survive pickling."""

from __future__ import annotations

import copy
import pickle

import pytest

from invoicing_bridge.exceptions import (
    APIError,
    AuthenticationError,
    BackendError,
    BackendNotFound,
    ConfigurationError,
    Conflict,
    InvalidRequest,
    InvoicingBridgeError,
    MappingError,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerError,
    TransportError,
    UnsupportedOperation,
    error_class_for,
)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, InvalidRequest),
        (401, AuthenticationError),
        (403, PermissionDenied),
        (404, NotFound),
        (409, Conflict),
        (410, NotFound),
        (422, InvalidRequest),
        (429, RateLimited),
        (451, InvalidRequest),
        (500, ServerError),
        (503, ServerError),
        (302, APIError),
    ],
)
def test_error_class_for_status(status: int, error: type[APIError]) -> None:
    assert error_class_for(status) is error


@pytest.mark.parametrize(
    ("category", "error"),
    [
        ("authentication", AuthenticationError),
        ("permission", PermissionDenied),
        ("not_found", NotFound),
        ("conflict", Conflict),
        ("invalid", InvalidRequest),
        ("rate_limited", RateLimited),
        ("server", ServerError),
    ],
)
def test_error_class_for_category_overrides_status(category: str, error: type[APIError]) -> None:
    assert error_class_for(404 if error is not NotFound else 200, category) is error


def test_error_class_for_unknown_category_falls_back_to_status() -> None:
    assert error_class_for(404, "typo") is NotFound


def test_tree_has_one_root() -> None:
    for cls in (
        ConfigurationError,
        BackendNotFound,
        UnsupportedOperation,
        MappingError,
        BackendError,
        TransportError,
        APIError,
        RateLimited,
    ):
        assert issubclass(cls, InvoicingBridgeError)
    assert issubclass(BackendNotFound, ConfigurationError)
    assert issubclass(TransportError, BackendError)
    assert not issubclass(TransportError, APIError)


ERRORS: list[InvoicingBridgeError] = [
    InvoicingBridgeError("plain"),
    ConfigurationError("bad value", profile="prod", option="api_key"),
    BackendNotFound("no backend named 'x'", name="x", installed=["memory"]),
    UnsupportedOperation("memory", "delete_invoice", "read-only"),
    MappingError("not a date", backend="daftra", field="date", errors={"date": ["bad"]}),
    NotFound("gone", backend="daftra", method="GET", path="/invoices/1", status_code=404),
    InvalidRequest("refused", backend="perfex", field_errors={"client": "required"}),
    RateLimited("slow down", backend="perfex", status_code=429, retry_after=3.0),
    TransportError("reset", backend="daftra", request_sent=False, retryable=False),
]


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
def test_error_survives_pickling_with_its_attributes(error: InvoicingBridgeError) -> None:
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error)
    assert str(again) == str(error)
    assert vars(again) == vars(error)
    assert vars(copy.copy(error)) == vars(error)


def test_api_error_retry_after_defaults_to_none() -> None:
    assert ServerError("down", backend="x").retry_after is None
    assert RateLimited("slow", backend="x", retry_after=2.5).retry_after == 2.5


def test_invalid_request_message_lists_field_errors() -> None:
    error = InvalidRequest("refused", backend="perfex", field_errors={"client": "required"})
    assert str(error) == "perfex: refused (client: required)"
    assert error.message == "refused (client: required)"


def test_configuration_error_names_profile_and_option() -> None:
    error = ConfigurationError("not a valid URL", profile="prod", option="base_url")
    assert str(error) == "profile 'prod', option 'base_url': not a valid URL"
    assert (error.profile, error.option) == ("prod", "base_url")
