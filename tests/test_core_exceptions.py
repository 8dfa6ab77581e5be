"""The exception tree: the one status → class table, the one transient / may-have-landed
verdict per kind of failure, and errors that survive pickling."""

from __future__ import annotations

import copy
import pickle
from typing import Any

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


# --------------------------------------------------------------------------- transient / landed

_AT: dict[str, Any] = {"backend": "acme", "path": "/invoices"}

#: Every kind of failure: (error, transient, may_have_landed).
VERDICTS: dict[str, tuple[BackendError, bool, bool]] = {
    "refused-before-sending": (
        TransportError("connection failed", method="POST", request_sent=False, **_AT),
        True,
        False,
    ),
    "dns-failure-before-sending": (
        TransportError("connection failed", method="GET", request_sent=False, **_AT),
        True,
        False,
    ),
    "timeout-after-sending": (
        TransportError("timed out: ReadTimeout", method="POST", **_AT),
        True,
        True,
    ),
    "dropped-after-sending": (
        TransportError("connection failed", method="PUT", request_sent=True, **_AT),
        True,
        True,
    ),
    "truncated-body": (TransportError("truncated response body", method="POST", **_AT), True, True),
    "html-2xx-on-a-read": (
        TransportError("expected JSON", method="GET", status_code=200, **_AT),
        True,
        True,
    ),
    "html-2xx-on-a-create": (
        TransportError("expected JSON", method="POST", status_code=201, **_AT),
        False,
        True,
    ),
    "html-2xx-on-an-update": (
        TransportError("expected JSON", method="PUT", status_code=200, **_AT),
        False,
        True,
    ),
    "unsendable-url": (
        TransportError("cannot send", method="GET", request_sent=False, retryable=False, **_AT),
        False,
        False,
    ),
    "429": (RateLimited("slow down", method="POST", status_code=429, **_AT), True, False),
    "429-named-in-a-2xx": (RateLimited("slow", method="POST", status_code=200, **_AT), True, False),
    "500": (ServerError("boom", method="POST", status_code=500, **_AT), True, True),
    "502": (ServerError("bad gateway", method="POST", status_code=502, **_AT), True, True),
    "503": (ServerError("unavailable", method="POST", status_code=503, **_AT), True, True),
    "504": (ServerError("gateway timeout", method="POST", status_code=504, **_AT), True, True),
    "599": (ServerError("proxy timeout", method="GET", status_code=599, **_AT), True, True),
    "server-without-status": (ServerError("down", backend="x"), True, True),
    "501": (ServerError("not implemented", method="POST", status_code=501, **_AT), False, False),
    "505": (ServerError("http version", method="GET", status_code=505, **_AT), False, False),
    "400": (InvalidRequest("refused", method="POST", status_code=400, **_AT), False, False),
    "401": (AuthenticationError("who", method="GET", status_code=401, **_AT), False, False),
    "403": (PermissionDenied("no", method="GET", status_code=403, **_AT), False, False),
    "404": (NotFound("gone", method="GET", status_code=404, **_AT), False, False),
    "404-bad-token": (
        AuthenticationError("bad", method="GET", status_code=404, **_AT),
        False,
        False,
    ),
    "409": (Conflict("taken", method="POST", status_code=409, **_AT), False, False),
    "422": (InvalidRequest("bad", method="POST", status_code=422, **_AT), False, False),
    "failed-in-a-2xx": (APIError("failed", method="POST", status_code=200, **_AT), False, False),
    "bare-backend-error": (
        BackendError("the create was accepted but carries no id", method="POST", **_AT),
        False,
        True,
    ),
}


@pytest.mark.parametrize("kind", list(VERDICTS))
def test_transient_and_may_have_landed_per_error_kind(kind: str) -> None:
    error, transient, landed = VERDICTS[kind]
    assert (error.transient, error.may_have_landed) == (transient, landed)


@pytest.mark.parametrize(
    "kind", [k for k, v in VERDICTS.items() if isinstance(v[0], TransportError)]
)
def test_transport_error_retryable_and_request_sent_agree_with_the_verdicts(kind: str) -> None:
    error, transient, landed = VERDICTS[kind]
    assert isinstance(error, TransportError)
    assert error.retryable is transient
    assert error.request_sent is landed


@pytest.mark.parametrize("status", [*range(400, 430), *range(500, 512)])
def test_every_status_class_has_the_verdict_of_its_status(status: int) -> None:
    error = error_class_for(status)("x", backend="acme", method="GET", status_code=status)
    if status == 429:
        assert (error.transient, error.may_have_landed) == (True, False)
    elif status >= 500 and status not in (501, 505):
        assert (error.transient, error.may_have_landed) == (True, True)
    else:
        assert (error.transient, error.may_have_landed) == (False, False)


@pytest.mark.parametrize("kind", list(VERDICTS))
def test_verdicts_survive_pickling(kind: str) -> None:
    error, transient, landed = VERDICTS[kind]
    again = pickle.loads(pickle.dumps(error))
    assert (again.transient, again.may_have_landed) == (transient, landed)


def test_verdicts_are_read_only() -> None:
    error = ServerError("down", backend="x", status_code=500)
    with pytest.raises(AttributeError):
        error.transient = False  # type: ignore[misc]
    with pytest.raises(AttributeError):
        error.may_have_landed = False  # type: ignore[misc]
    with pytest.raises(AttributeError):
        TransportError("x", backend="x").retryable = False  # type: ignore[misc]
