"""The shared HTTP layer: session, timeouts, retries, Retry-After, error mapping, body checks."""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import socket
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests
import responses
from hypothesis import given, settings
from hypothesis import strategies as st
from urllib3.exceptions import MaxRetryError, NewConnectionError

from invoicing_bridge import __version__
from invoicing_bridge.backends import http as http_module
from invoicing_bridge.backends.http import (
    ErrorInfo,
    HTTPBackend,
    HTTPClient,
    RateLimiter,
    RetryPolicy,
    dumps_json,
    loads_json,
    parse_retry_after,
)
from invoicing_bridge.exceptions import (
    APIError,
    AuthenticationError,
    BackendError,
    Conflict,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerError,
    TransportError,
)
from invoicing_bridge.testing.emulator import EmulatorServer

BASE = "https://api.acme.test/v1"
URL = f"{BASE}/invoices/42"
OK = {"id": "42", "number": "INV-000042"}


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def sleeps() -> list[float]:
    return []


def client(sleeps: list[float], *, max_retries: int = 3, **kw: Any) -> HTTPClient:
    kw.setdefault("retry", RetryPolicy(max_retries=max_retries))
    return HTTPClient(backend="acme", base_url=BASE, sleep=sleeps.append, **kw)


class AcmeBackend(HTTPBackend):
    """A minimal HTTP backend, to check the options reach the client."""

    name = "acme"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.http = self._make_http(base_url=self.options["base_url"] or BASE)


# --------------------------------------------------------------------------- session


def test_user_agent_names_library_version_and_backend(rsps: responses.RequestsMock) -> None:
    rsps.get(URL, json=OK)
    client([]).get("/invoices/42")
    assert rsps.calls[0].request.headers["User-Agent"] == f"invoicing-bridge/{__version__} (acme)"


def test_default_timeouts_are_connect_5_read_30(rsps: responses.RequestsMock) -> None:
    rsps.get(URL, json=OK)
    client([]).get("/invoices/42")
    assert rsps.calls[0].request.req_kwargs["timeout"] == (5.0, 30.0)


def test_http_options_set_timeouts_and_retries(
    rsps: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    rsps.get(URL, status=503)
    monkeypatch.setattr(http_module.time, "sleep", lambda s: None)
    backend = AcmeBackend(connect_timeout=2, read_timeout=7.5, max_retries=1, backoff_base=0)
    with pytest.raises(ServerError):
        backend.http.get("/invoices/42")
    assert [c.request.req_kwargs["timeout"] for c in rsps.calls] == [(2.0, 7.5)] * 2


def test_default_http_options_give_default_timeouts(rsps: responses.RequestsMock) -> None:
    rsps.get(URL, json=OK)
    with AcmeBackend() as backend:
        backend.http.get("/invoices/42")
    assert rsps.calls[0].request.req_kwargs["timeout"] == (5.0, 30.0)


def test_one_session_is_created_and_reused_for_every_request(
    rsps: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    created: list[requests.Session] = []

    class CountingSession(http_module._GuardedSession):
        def __init__(self, home: str) -> None:
            super().__init__(home)
            created.append(self)

    monkeypatch.setattr(http_module, "_GuardedSession", CountingSession)
    rsps.get(URL, json=OK)
    rsps.put(URL, json=OK)
    rsps.post(f"{BASE}/invoices", json=OK)
    http = client([])
    used: list[str] = []
    real_request = http.session.request

    def spy(method: str, url: str, **kw: Any) -> requests.Response:
        used.append(method)
        return real_request(method, url, **kw)

    monkeypatch.setattr(http.session, "request", spy)
    http.get("/invoices/42")
    http.put("/invoices/42", json_body={"a": 1})
    http.post("/invoices", json_body={"a": 1})
    assert created == [http.session]
    assert used == ["GET", "PUT", "POST"]


def test_connections_are_reused_across_requests() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = json.dumps(OK).encode()
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]

    with EmulatorServer(app) as server:
        http = HTTPClient(backend="acme", base_url=server.base_url)
        for _ in range(5):
            assert http.get("/invoices/42").data == OK
        http.close()
        assert server.stats.requests == 5
        assert server.stats.connections == 1


def test_pool_size_sets_the_connection_pool_size() -> None:
    http = HTTPClient(backend="acme", base_url=BASE, pool_size=32)
    adapter = http.session.get_adapter(BASE)
    assert adapter._pool_maxsize == 32  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- retries

# 500 joined the list with issue 11 (a read answered 500 used to abort a whole compare).
RETRIED_STATUSES = [429, 500, 502, 503, 504]
IDEMPOTENT_METHODS = ["GET", "PUT", "DELETE"]


@pytest.mark.parametrize("method", IDEMPOTENT_METHODS)
@pytest.mark.parametrize("status", RETRIED_STATUSES)
def test_idempotent_request_retries_status_then_succeeds(
    rsps: responses.RequestsMock, sleeps: list[float], method: str, status: int
) -> None:
    rsps.add(method, URL, status=status, json={"message": "busy"})
    rsps.add(method, URL, json=OK)
    answer = client(sleeps).request(method, "/invoices/42")
    assert answer.data == OK
    assert len(rsps.calls) == 2
    assert len(sleeps) == 1


@pytest.mark.parametrize("method", IDEMPOTENT_METHODS)
@pytest.mark.parametrize(
    "failure",
    [requests.ConnectionError("connection reset"), requests.ReadTimeout("read timed out")],
    ids=["connection-error", "read-timeout"],
)
def test_idempotent_request_retries_transport_failure_then_succeeds(
    rsps: responses.RequestsMock, sleeps: list[float], method: str, failure: Exception
) -> None:
    rsps.add(method, URL, body=failure)
    rsps.add(method, URL, json=OK)
    assert client(sleeps).request(method, "/invoices/42").data == OK
    assert len(rsps.calls) == 2
    assert len(sleeps) == 1


@pytest.mark.parametrize(
    ("status", "error"),
    # 500 was here until issue 11 made it transient; 501 and 505 say "never as sent".
    [(501, ServerError), (505, ServerError), (400, InvalidRequest), (404, NotFound)],
)
def test_get_is_not_retried_on_status(
    rsps: responses.RequestsMock, sleeps: list[float], status: int, error: type[APIError]
) -> None:
    rsps.get(URL, status=status, json={"message": "no"})
    rsps.get(URL, json=OK)
    with pytest.raises(error):
        client(sleeps).get("/invoices/42")
    assert len(rsps.calls) == 1
    assert sleeps == []


@pytest.mark.parametrize("max_retries", [0, 1, 4])
def test_get_gives_up_after_max_retries_with_server_error(
    rsps: responses.RequestsMock, sleeps: list[float], max_retries: int
) -> None:
    rsps.get(URL, status=503, json={"message": "down"})
    with pytest.raises(ServerError) as info:
        client(sleeps, max_retries=max_retries).get("/invoices/42")
    assert info.value.status_code == 503
    assert len(rsps.calls) == max_retries + 1
    assert len(sleeps) == max_retries


def test_get_gives_up_after_max_retries_with_transport_error(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    rsps.get(URL, body=requests.ConnectionError("reset"))
    with pytest.raises(TransportError) as info:
        client(sleeps, max_retries=2).get("/invoices/42")
    assert info.value.status_code is None
    assert info.value.retryable
    assert len(rsps.calls) == 3


def test_backoff_grows_exponentially_and_is_capped(
    rsps: responses.RequestsMock, sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    rsps.get(URL, status=503)
    policy = RetryPolicy(max_retries=6, backoff_base=0.5, backoff_cap=4.0)
    monkeypatch.setattr(http_module.random, "uniform", lambda low, high: high)
    with pytest.raises(ServerError):
        client(sleeps, retry=policy).get("/invoices/42")
    assert sleeps == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_backoff_jitter_stays_between_half_and_all_of_the_step() -> None:
    policy = RetryPolicy(backoff_base=0.5, backoff_cap=4.0)
    for attempt, step in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (8, 4.0)]:
        waits = [policy.backoff(attempt) for _ in range(200)]
        assert all(step / 2 <= w <= step for w in waits)
        assert len(set(waits)) > 1  # jittered, not a constant
        assert min(waits) < step * 0.6
        assert max(waits) > step * 0.9


def test_retry_after_seconds_is_honoured_on_429(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    rsps.get(URL, status=429, headers={"Retry-After": "7"})
    rsps.get(URL, json=OK)
    assert client(sleeps).get("/invoices/42").data == OK
    assert sleeps == [7.0]


def test_retry_after_http_date_is_honoured_on_429(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=20)
    rsps.get(URL, status=429, headers={"Retry-After": email.utils.format_datetime(when, True)})
    rsps.get(URL, json=OK)
    client(sleeps).get("/invoices/42")
    assert len(sleeps) == 1
    assert 18.0 <= sleeps[0] <= 20.0


def test_retry_after_is_honoured_on_503(rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    rsps.get(URL, status=503, headers={"Retry-After": "3"})
    rsps.get(URL, json=OK)
    client(sleeps).get("/invoices/42")
    assert sleeps == [3.0]


def test_retry_after_beyond_the_limit_gives_up_with_rate_limited(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    rsps.get(URL, status=429, headers={"Retry-After": "3600"})
    with pytest.raises(RateLimited) as info:
        client(sleeps).get("/invoices/42")
    assert info.value.retry_after == 3600.0
    assert sleeps == []
    assert len(rsps.calls) == 1


@pytest.mark.parametrize(
    ("header", "expected"),
    [("0", 0.0), (" 12 ", 12.0), ("1.5", 1.5), ("-3", 0.0), ("soon", None), (None, None)],
)
def test_parse_retry_after_seconds(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header) == expected


def test_parse_retry_after_http_date_relative_to_now() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412480.0) == 30.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412500.0) == 0.0


# --------------------------------------------------------------------------- POST


def test_post_is_not_retried_on_503(rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    rsps.post(f"{BASE}/invoices", status=503)
    rsps.post(f"{BASE}/invoices", json=OK)
    with pytest.raises(ServerError):
        client(sleeps).post("/invoices", json_body={"number": "1"})
    assert len(rsps.calls) == 1
    assert sleeps == []


@pytest.mark.parametrize(
    "failure",
    [requests.ConnectionError("connection reset by peer"), requests.ReadTimeout("read")],
    ids=["dropped", "read-timeout"],
)
def test_post_is_not_retried_when_the_request_may_have_arrived(
    rsps: responses.RequestsMock, sleeps: list[float], failure: Exception
) -> None:
    rsps.post(f"{BASE}/invoices", body=failure)
    rsps.post(f"{BASE}/invoices", json=OK)
    with pytest.raises(TransportError) as info:
        client(sleeps).post("/invoices", json_body={"number": "1"})
    assert info.value.request_sent is True
    assert len(rsps.calls) == 1
    assert sleeps == []


def test_post_is_retried_on_connect_timeout(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    rsps.post(f"{BASE}/invoices", body=requests.ConnectTimeout("connect timed out"))
    rsps.post(f"{BASE}/invoices", json=OK)
    assert client(sleeps).post("/invoices", json_body={}).data == OK
    assert len(sleeps) == 1


def test_post_is_retried_on_429(rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    rsps.post(f"{BASE}/invoices", status=429)
    rsps.post(f"{BASE}/invoices", json=OK)
    assert client(sleeps).post("/invoices", json_body={}).data == OK
    assert len(rsps.calls) == 2
    assert len(sleeps) == 1


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_post_is_retried_when_the_connection_was_refused(sleeps: list[float]) -> None:
    http = HTTPClient(
        backend="acme",
        base_url=f"http://127.0.0.1:{_closed_port()}",
        retry=RetryPolicy(max_retries=2),
        sleep=sleeps.append,
    )
    with pytest.raises(TransportError) as info:
        http.post("/invoices", json_body={"number": "1"})
    assert info.value.request_sent is False
    assert http.request_count == 3
    assert len(sleeps) == 2


def test_post_dropped_by_a_real_server_is_not_retried(sleeps: list[float]) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("201 Created", [("Content-Type", "application/json")])
        return [b"{}"]

    with EmulatorServer(app) as server:
        server.faults.scheduled.append("drop")
        http = HTTPClient(backend="acme", base_url=server.base_url, sleep=sleeps.append)
        with pytest.raises(TransportError) as info:
            http.post("/invoices", json_body={"number": "1"})
        assert info.value.request_sent is True
        assert server.stats.requests == 1
        assert sleeps == []


def test_retry_false_disables_retries_of_a_get(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    rsps.get(URL, status=503)
    with pytest.raises(ServerError):
        client(sleeps).request("GET", "/invoices/42", retry=False)
    assert len(rsps.calls) == 1


# --------------------------------------------------------------------------- the one retry rule
# Retry when ``transient and (idempotent or not may_have_landed)``, at most max_retries times.


def _refused() -> requests.ConnectionError:
    """What requests raises when the connection was refused (nothing was sent)."""
    reason = NewConnectionError(None, "Failed to establish a new connection: refused")  # type: ignore[arg-type]
    return requests.ConnectionError(MaxRetryError(None, "/invoices", reason))  # type: ignore[arg-type]


def _always(status: str, body: bytes = b'{"message": "busy"}') -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response(
            status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]

    return app


@pytest.mark.parametrize("max_retries", [0, 1, 4])
def test_get_answered_500_is_retried_max_retries_times_then_raises_server_error(
    rsps: responses.RequestsMock, sleeps: list[float], max_retries: int
) -> None:
    rsps.get(URL, status=500, json={"message": "boom"})
    with pytest.raises(ServerError) as info:
        client(sleeps, max_retries=max_retries).get("/invoices/42")
    assert info.value.status_code == 500
    assert len(rsps.calls) == 1 + max_retries
    assert len(sleeps) == max_retries


def test_get_answered_500_once_then_200_succeeds(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    rsps.get(URL, status=500, json={"message": "boom"})
    rsps.get(URL, json=OK)
    assert client(sleeps).get("/invoices/42").data == OK
    assert len(rsps.calls) == 2


@pytest.mark.parametrize("max_retries", [0, 2, 3])
def test_get_answered_503_by_a_real_server_costs_exactly_one_plus_max_retries_requests(
    sleeps: list[float], max_retries: int
) -> None:
    with EmulatorServer(_always("503 Service Unavailable")) as server:
        http = HTTPClient(
            backend="acme",
            base_url=server.base_url,
            retry=RetryPolicy(max_retries=max_retries),
            sleep=sleeps.append,
        )
        with pytest.raises(ServerError) as info:
            http.get("/invoices/42")
        http.close()
        assert info.value.status_code == 503
        assert server.stats.requests == 1 + max_retries
        assert http.request_count == 1 + max_retries
        assert len(sleeps) == max_retries


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_post_answered_5xx_is_not_retried_because_it_may_have_landed(
    rsps: responses.RequestsMock, sleeps: list[float], status: int
) -> None:
    rsps.post(f"{BASE}/invoices", status=status, json={"message": "boom"})
    rsps.post(f"{BASE}/invoices", json=OK)
    with pytest.raises(ServerError) as info:
        client(sleeps).post("/invoices", json_body={"number": "1"})
    assert info.value.transient and info.value.may_have_landed
    assert len(rsps.calls) == 1
    assert sleeps == []


def test_post_answered_501_is_not_retried(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    rsps.post(f"{BASE}/invoices", status=501, json={"message": "no"})
    with pytest.raises(ServerError) as info:
        client(sleeps).post("/invoices", json_body={})
    assert not info.value.transient and not info.value.may_have_landed
    assert len(rsps.calls) == 1


class Stalling:
    """A WSGI app that holds the first request (and every POST) until released, so the
    client's read timeout fires after the request was sent; other requests answer at once."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.seen: list[str] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.seen.append(environ["REQUEST_METHOD"])
        if environ["REQUEST_METHOD"] == "POST" or len(self.seen) == 1:
            self.release.wait(10)
        body = json.dumps(OK).encode()
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]


def test_post_that_timed_out_after_sending_is_not_retried(sleeps: list[float]) -> None:
    app = Stalling()
    with EmulatorServer(app) as server:
        http = HTTPClient(
            backend="acme", base_url=server.base_url, read_timeout=0.3, sleep=sleeps.append
        )
        try:
            with pytest.raises(TransportError) as info:
                http.post("/invoices", json_body={"number": "1"})
        finally:
            app.release.set()
            http.close()
        assert "timed out" in info.value.message
        assert info.value.transient and info.value.may_have_landed
        assert info.value.request_sent is True
        assert server.stats.requests == 1
        assert app.seen == ["POST"]
        assert sleeps == []


def test_get_that_timed_out_is_retried_then_succeeds(sleeps: list[float]) -> None:
    app = Stalling()
    with EmulatorServer(app) as server:
        http = HTTPClient(
            backend="acme", base_url=server.base_url, read_timeout=1.0, sleep=sleeps.append
        )
        try:
            assert http.get("/invoices/42").data == OK
        finally:
            app.release.set()
            http.close()
        assert server.stats.requests == 2
        assert len(sleeps) == 1


def test_post_refused_before_sending_is_retried_then_succeeds(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    rsps.post(f"{BASE}/invoices", body=_refused())
    rsps.post(f"{BASE}/invoices", json=OK)
    assert client(sleeps).post("/invoices", json_body={"number": "1"}).data == OK
    assert len(rsps.calls) == 2
    assert len(sleeps) == 1


def test_post_answered_429_by_a_real_server_is_retried_after_retry_after(
    sleeps: list[float],
) -> None:
    created: list[bytes] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        created.append(environ["wsgi.input"].read())
        start_response("201 Created", [("Content-Type", "application/json")])
        return [json.dumps(OK).encode()]

    with EmulatorServer(app) as server:
        server.faults.retry_after = 2
        server.faults.scheduled.append("429")
        http = HTTPClient(backend="acme", base_url=server.base_url, sleep=sleeps.append)
        assert http.post("/invoices", json_body={"number": "1"}).data == OK
        http.close()
        assert server.stats.requests == 2
        # The 429 was answered before the app ran: the create reached it once.
        assert [json.loads(body) for body in created] == [{"number": "1"}]
        assert sleeps == [2.0]


def test_post_answered_html_2xx_is_not_retried_and_may_have_landed(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    rsps.post(f"{BASE}/invoices", status=200, body="<html>portal</html>", content_type="text/html")
    with pytest.raises(TransportError) as info:
        client(sleeps).post("/invoices", json_body={})
    assert not info.value.transient and info.value.may_have_landed
    assert len(rsps.calls) == 1


def test_url_that_cannot_be_requested_is_not_retried(sleeps: list[float]) -> None:
    http = client(sleeps)
    with pytest.raises(TransportError) as info:
        http.get("http://")
    assert not info.value.transient and not info.value.may_have_landed
    assert http.request_count == 1
    assert sleeps == []


#: Every failure the client meets: (register the answer, method, transient, may_have_landed).
CLIENT_VERDICTS: dict[str, tuple[dict[str, Any], str, bool, bool]] = {
    "refused": ({"body": _refused()}, "POST", True, False),
    "connect-timeout": ({"body": requests.ConnectTimeout("connect")}, "POST", True, False),
    "read-timeout": ({"body": requests.ReadTimeout("read")}, "POST", True, True),
    "reset": ({"body": requests.ConnectionError("reset by peer")}, "POST", True, True),
    "html-200-get": ({"body": "<html></html>", "content_type": "text/html"}, "GET", True, True),
    "html-200-post": ({"body": "<html></html>", "content_type": "text/html"}, "POST", False, True),
    "429": ({"status": 429}, "POST", True, False),
    "500": ({"status": 500}, "POST", True, True),
    "501": ({"status": 501}, "GET", False, False),
    "502": ({"status": 502}, "POST", True, True),
    "503": ({"status": 503}, "POST", True, True),
    "504": ({"status": 504}, "POST", True, True),
    "400": ({"status": 400}, "POST", False, False),
    "401": ({"status": 401}, "GET", False, False),
    "404": ({"status": 404}, "GET", False, False),
    "409": ({"status": 409}, "POST", False, False),
    "422": ({"status": 422}, "POST", False, False),
}


@pytest.mark.parametrize("kind", list(CLIENT_VERDICTS))
def test_client_errors_carry_transient_and_may_have_landed(
    rsps: responses.RequestsMock, kind: str
) -> None:
    answer, method, transient, landed = CLIENT_VERDICTS[kind]
    rsps.add(method, URL, **answer)
    with pytest.raises(BackendError) as info:
        client([], max_retries=0).request(method, "/invoices/42")
    assert (info.value.transient, info.value.may_have_landed) == (transient, landed)


# --------------------------------------------------------------------------- error mapping


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, InvalidRequest),
        (401, AuthenticationError),
        (403, PermissionDenied),
        (404, NotFound),
        (409, Conflict),
        (422, InvalidRequest),
        (429, RateLimited),
        (500, ServerError),
        (502, ServerError),
        (418, InvalidRequest),
        (599, ServerError),
    ],
)
def test_status_maps_to_error_class_with_context(
    rsps: responses.RequestsMock, status: int, error: type[APIError]
) -> None:
    body = {"message": f"refused with {status}", "code": status * 10}
    rsps.put(URL, status=status, json=body, headers={"Retry-After": "4"})
    with pytest.raises(APIError) as info:
        client([], max_retries=0).put("/invoices/42", json_body={})
    exc = info.value
    assert type(exc) is error
    assert exc.backend == "acme"
    assert exc.method == "PUT"
    assert exc.path == "/invoices/42"
    assert exc.status_code == status
    assert exc.details == body
    assert exc.message == f"refused with {status}"
    assert str(exc) == f"acme PUT /invoices/42 HTTP {status}: refused with {status}"


def test_rate_limited_carries_retry_after(rsps: responses.RequestsMock) -> None:
    rsps.get(URL, status=429, headers={"Retry-After": "9"})
    with pytest.raises(RateLimited) as info:
        client([], max_retries=0).get("/invoices/42")
    assert info.value.retry_after == 9.0


def test_error_without_json_body_keeps_an_excerpt_in_details(
    rsps: responses.RequestsMock,
) -> None:
    page = "<html><body>" + "x" * 1000 + "</body></html>"
    rsps.get(URL, status=500, body=page, content_type="text/html")
    with pytest.raises(ServerError) as info:
        client([], max_retries=0).get("/invoices/42")
    assert info.value.details == {"body": page[:300]}
    assert "HTML page" in info.value.message


def _parser(result: ErrorInfo | None) -> Any:
    seen: list[tuple[int, Any, str]] = []

    def parse(status: int, data: Any, text: str) -> ErrorInfo | None:
        seen.append((status, data, text))
        return (
            result
            if status >= 400 or (isinstance(data, dict) and data.get("ok") is False)
            else None
        )

    parse.seen = seen  # type: ignore[attr-defined]
    return parse


def test_error_parser_category_overrides_the_status(rsps: responses.RequestsMock) -> None:
    # Perfex 2.x answers 404, not 401, to a bad token.
    rsps.get(URL, status=404, json={"status": False, "message": "Token invalid"})
    parser = _parser(ErrorInfo(message="bad token", category="authentication"))
    with pytest.raises(AuthenticationError) as info:
        client([], error_parser=parser).get("/invoices/42")
    assert info.value.status_code == 404
    assert info.value.message == "bad token"
    assert parser.seen[0][:2] == (404, {"status": False, "message": "Token invalid"})


def test_error_parser_field_errors_reach_invalid_request(rsps: responses.RequestsMock) -> None:
    rsps.post(f"{BASE}/invoices", status=400, json={"validation_errors": {"x": 1}})
    parser = _parser(ErrorInfo(message="invalid", field_errors={"client_id": "required"}))
    with pytest.raises(InvalidRequest) as info:
        client([], error_parser=parser).post("/invoices", json_body={})
    assert info.value.field_errors == {"client_id": "required"}
    assert "client_id: required" in str(info.value)


def test_2xx_flagged_by_the_error_parser_becomes_an_error(
    rsps: responses.RequestsMock,
) -> None:
    # Daftra answers 200 with {"result": "failed"}; Perfex 200 with {"status": false}.
    rsps.post(f"{BASE}/invoices", status=200, json={"ok": False, "message": "duplicate"})
    parser = _parser(ErrorInfo(message="duplicate number", category="conflict"))
    with pytest.raises(Conflict) as info:
        client([], error_parser=parser).post("/invoices", json_body={})
    assert info.value.status_code == 200
    assert info.value.message == "duplicate number"


def test_2xx_flagged_without_category_is_an_api_error(rsps: responses.RequestsMock) -> None:
    rsps.get(URL, status=200, json={"ok": False})
    with pytest.raises(APIError) as info:
        client([], error_parser=_parser(ErrorInfo(message="failed"))).get("/invoices/42")
    assert type(info.value) is APIError


def test_unknown_category_from_a_parser_falls_back_to_the_status(
    rsps: responses.RequestsMock,
) -> None:
    rsps.get(URL, status=403, json={})
    parser = _parser(ErrorInfo(message="nope", category="no-such-category"))
    with pytest.raises(PermissionDenied):
        client([], error_parser=parser).get("/invoices/42")


# --------------------------------------------------------------------------- bodies


@pytest.mark.parametrize(
    ("body", "content_type", "what"),
    [
        ("<!DOCTYPE html><html><body>Login</body></html>", "text/html", "an HTML page"),
        ("", "application/json", "an empty body"),
        ('{"id": "42", "number": "INV-0', "application/json", "a non-JSON body"),
        ("OK", "text/plain", "a non-JSON body"),
    ],
    ids=["html", "empty", "truncated", "text"],
)
def test_2xx_without_json_on_a_write_is_a_transport_error_and_not_retried(
    rsps: responses.RequestsMock, sleeps: list[float], body: str, content_type: str, what: str
) -> None:
    rsps.put(URL, status=200, body=body, content_type=content_type)
    with pytest.raises(TransportError) as info:
        client(sleeps).put("/invoices/42", json_body={})
    assert info.value.status_code == 200
    assert what in info.value.message
    assert info.value.retryable is False
    assert len(rsps.calls) == 1


def test_2xx_html_on_a_read_is_retried_then_succeeds(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    rsps.get(URL, status=200, body="<html>portal</html>", content_type="text/html")
    rsps.get(URL, status=200, json={"ok": True})
    assert client(sleeps).get("/invoices/42").data == {"ok": True}
    assert len(rsps.calls) == 2 and len(sleeps) == 1


def test_2xx_html_on_a_read_gives_up_after_the_retries(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    rsps.get(URL, status=200, body="<html>portal</html>", content_type="text/html")
    with pytest.raises(TransportError) as info:
        client(sleeps).get("/invoices/42")
    assert info.value.retryable is True
    assert len(rsps.calls) == 1 + len(sleeps)


def test_allow_empty_accepts_an_empty_2xx(rsps: responses.RequestsMock) -> None:
    rsps.delete(URL, status=204, body="")
    answer = client([]).delete("/invoices/42", allow_empty=True)
    assert answer.status_code == 204
    assert answer.data is None


def test_allow_empty_still_refuses_html(rsps: responses.RequestsMock) -> None:
    rsps.delete(URL, status=200, body="<html></html>", content_type="text/html")
    with pytest.raises(TransportError):
        client([]).delete("/invoices/42", allow_empty=True)


def test_expect_json_false_returns_the_text(rsps: responses.RequestsMock) -> None:
    rsps.get(URL, status=200, body="%PDF-1.4", content_type="application/pdf")
    answer = client([]).get("/invoices/42", expect_json=False)
    assert answer.text == "%PDF-1.4"
    assert answer.data is None


def test_json_body_with_arabic_text_is_decoded(rsps: responses.RequestsMock) -> None:
    rsps.get(URL, json={"name": "شركة النيل"})
    assert client([]).get("/invoices/42").data == {"name": "شركة النيل"}


# --------------------------------------------------------------------------- rate limit


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_spaces_requests_evenly() -> None:
    clock = FakeClock()
    slept: list[float] = []
    limiter = RateLimiter(4, clock=clock, sleep=slept.append)
    waits = [limiter.acquire() for _ in range(4)]
    assert waits == [0.0, 0.25, 0.5, 0.75]
    assert slept == [0.25, 0.5, 0.75]


def test_rate_limiter_does_not_wait_once_the_slot_has_passed() -> None:
    clock = FakeClock()
    slept: list[float] = []
    limiter = RateLimiter(2, clock=clock, sleep=slept.append)
    limiter.acquire()
    clock.now += 0.2
    assert limiter.acquire() == pytest.approx(0.3)
    clock.now += 5
    assert limiter.acquire() == 0.0
    assert slept == [pytest.approx(0.3)]


def test_rate_limiter_refuses_a_non_positive_rate() -> None:
    with pytest.raises(ValueError):
        RateLimiter(0)


def test_client_rate_limit_waits_through_the_injected_sleep(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    rsps.get(URL, json=OK)
    http = client(sleeps, rate_limit=1.0)
    for _ in range(3):
        http.get("/invoices/42")
    # The injected sleep does not pass time: each request waits for its own one-second slot.
    assert len(sleeps) == 2
    assert 0.9 < sleeps[0] <= 1.0
    assert 1.9 < sleeps[1] <= 2.0


def test_json_numbers_are_parsed_as_decimal_never_float(rsps: responses.RequestsMock) -> None:
    rsps.get(URL, status=200, body='{"amount": 32999.9961, "count": 3}')
    data = client([]).get("/invoices/42").data
    assert data["amount"] == Decimal("32999.9961") and isinstance(data["amount"], Decimal)
    assert data["count"] == 3


# --------------------------------------------------------------------------- JSON both ways


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (Decimal("1500.0000"), "1500.0000"),
        (Decimal("32999.9961"), "32999.9961"),
        (Decimal("-0.05"), "-0.05"),
        (Decimal("-0.00"), "-0.00"),
        (Decimal("0E-10"), "0.0000000000"),
        (Decimal("1E+2"), "100"),
        (Decimal("1E-7"), "0.0000001"),
        (
            Decimal("12345678901234567890.123456789012345678"),
            "12345678901234567890.123456789012345678",
        ),
    ],
)
def test_dumps_json_writes_a_decimal_as_a_number_with_exactly_its_digits(
    value: Decimal, written: str
) -> None:
    assert dumps_json(value) == written
    assert dumps_json({"amount": value}) == f'{{"amount":{written}}}'


def test_dumps_json_writes_compact_utf8_json() -> None:
    value = {
        "name": 'شركة النيل "quoted"\n',
        "n": 3,
        "ok": True,
        "no": False,
        "none": None,
        "rows": [1, (2, "x")],
        7: "int key",
        "nul": "a\x00b",
    }
    text = dumps_json(value)
    assert text.startswith('{"name":"شركة النيل \\"quoted\\"\\n","n":3,"ok":true,')
    assert json.loads(text) == {
        **{k: v for k, v in value.items() if k != 7},
        "7": "int key",
        "rows": [1, [2, "x"]],
    }


@pytest.mark.parametrize(
    "bad", [Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"), Decimal("-Infinity")]
)
def test_dumps_json_refuses_a_non_finite_decimal_naming_where_it_is(bad: Decimal) -> None:
    with pytest.raises(
        ValueError, match=r"\$\.items\[1\]\.price: .* cannot be written as a JSON number"
    ):
        dumps_json({"items": [{"price": Decimal("1")}, {"price": bad}]})


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ({"amount": 1.5}, r"\$\.amount: float"),
        ({"day": dt.date(2026, 1, 1)}, r"\$\.day: date is not JSON serialisable"),
        ({(1, 2): "x"}, r"\$: a JSON object key must be str or int"),
        ({True: "x"}, r"\$: a JSON object key must be str or int"),
    ],
)
def test_dumps_json_refuses_what_it_cannot_write_exactly(value: Any, where: str) -> None:
    with pytest.raises(TypeError, match=where):
        dumps_json(value)


def _decimals() -> st.SearchStrategy[Decimal]:
    digits = st.lists(st.integers(0, 9), min_size=1, max_size=30).map(tuple)
    return st.builds(
        lambda sign, ds, exponent: Decimal((sign, ds, exponent)),
        st.integers(0, 1),
        digits,
        st.integers(-20, 8),
    )


_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text()
    | _decimals()
    | st.decimals(allow_nan=False, allow_infinity=False),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=25,
)


def _same(sent: Any, received: Any) -> bool:
    """What a server reads back is what was sent, digit for digit."""
    if isinstance(sent, Decimal):
        if sent.as_tuple().exponent < 0:  # type: ignore[operator]
            # A fraction comes back a Decimal with the same sign, digits and exponent.
            return isinstance(received, Decimal) and received.as_tuple() == sent.as_tuple()
        # A whole number is written without exponent or point, so it comes back an int.
        return type(received) is int and received == sent
    if isinstance(sent, list):
        return (
            isinstance(received, list)
            and len(sent) == len(received)
            and all(_same(a, b) for a, b in zip(sent, received, strict=True))
        )
    if isinstance(sent, dict):
        return received.keys() == sent.keys() and all(
            _same(v, received[k]) for k, v in sent.items()
        )
    return type(received) is type(sent) and received == sent


@settings(max_examples=300, deadline=None)
@given(_JSON_VALUES)
def test_dumps_json_round_trips_decimals_exactly(value: Any) -> None:
    text = dumps_json(value)
    assert _same(value, loads_json(text))
    assert _same(value, json.loads(text, parse_float=Decimal))  # what any server reads


def test_json_body_is_sent_as_written_by_dumps_json(rsps: responses.RequestsMock) -> None:
    rsps.post(f"{BASE}/invoices", json=OK)
    body = {"total": Decimal("32999.9961"), "lines": [{"qty": Decimal("1.500")}], "name": "نيل"}
    client([]).post("/invoices", json_body=body)
    request = rsps.calls[0].request
    assert request.headers["Content-Type"] == "application/json"
    assert request.body == dumps_json(body).encode("utf-8")
    assert request.body == '{"total":32999.9961,"lines":[{"qty":1.500}],"name":"نيل"}'.encode()


def test_json_body_content_type_given_by_the_caller_wins(rsps: responses.RequestsMock) -> None:
    rsps.post(f"{BASE}/invoices", json=OK)
    client([]).post(
        "/invoices", json_body={}, headers={"content-type": "application/vnd.acme+json"}
    )
    assert rsps.calls[0].request.headers["Content-Type"] == "application/vnd.acme+json"


def test_json_body_that_cannot_be_written_raises_before_anything_is_sent(
    rsps: responses.RequestsMock,
) -> None:
    with pytest.raises(ValueError, match="cannot be written"):
        client([]).post("/invoices", json_body={"total": Decimal("NaN")})
    assert len(rsps.calls) == 0


def test_every_answer_is_parsed_once_by_the_http_layer(
    rsps: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[str] = []
    real = http_module.loads_json

    def counting(text: str | bytes) -> Any:
        parsed.append(str(text))
        return real(text)

    monkeypatch.setattr(http_module, "loads_json", counting)
    rsps.get(URL, status=200, body='{"amount": 1.10}')
    rsps.post(f"{BASE}/invoices", status=422, json={"message": "bad"})
    http = client([])
    answer = http.get("/invoices/42")
    assert answer.data == {"amount": Decimal("1.10")}
    with pytest.raises(InvalidRequest):
        http.post("/invoices", json_body={})
    assert parsed == ['{"amount": 1.10}', '{"message": "bad"}']


def test_loads_json_reads_fractions_as_decimal_and_refuses_non_json() -> None:
    assert loads_json('{"a": 0.10, "b": 2, "c": [1E+2]}') == {
        "a": Decimal("0.10"),
        "b": 2,
        "c": [Decimal("1E+2")],
    }
    assert loads_json(b"[1.5]") == [Decimal("1.5")]
    with pytest.raises(ValueError):
        loads_json("<html>")
