"""Every answer is bounded: a size cap and a total deadline per attempt, against small
hostile servers on 127.0.0.1 (caps and deadlines are small so the tests stay quick)."""

from __future__ import annotations

import gc
import time
import tracemalloc
from typing import Any

import pytest

from invoicing_bridge.backends.http import HTTPBackend, HTTPClient, RetryPolicy
from invoicing_bridge.exceptions import TransportError
from invoicing_bridge.testing.hostile import (
    HostileServer,
    announce_length,
    answer,
    drip,
    endless_body,
)

SECRET = "s3cr3t-token-value"


def client(server: HostileServer, **kw: Any) -> HTTPClient:
    kw.setdefault("retry", RetryPolicy(max_retries=0))
    return HTTPClient(backend="acme", base_url=server.base_url, headers={"apikey": SECRET}, **kw)


def test_a_body_within_the_cap_is_read() -> None:
    body = b'{"data": [' + b",".join(b"1" for _ in range(1000)) + b"]}"
    with HostileServer(answer(body)) as server:
        http = client(server, max_response_bytes=len(body))
        assert len(http.get("/invoices").data["data"]) == 1000


@pytest.mark.parametrize("chunked", [False, True])
def test_an_endless_body_stops_at_the_cap_with_a_clear_error(chunked: bool) -> None:
    with HostileServer(endless_body(chunked=chunked)) as server:
        http = client(server, max_response_bytes=1 << 20)
        with pytest.raises(TransportError) as info:
            http.get(f"/invoices?token={SECRET}")
    error = info.value
    assert error.backend == "acme"
    assert error.path is not None and error.path.startswith("/invoices")
    assert "larger than the 1 MB limit" in error.message
    assert "max_response_bytes" in error.message
    assert SECRET not in str(error)
    # The same request would get the same answer: never repeated.
    assert error.transient is False


def test_an_endless_body_is_not_repeated_even_for_a_read() -> None:
    with HostileServer(endless_body()) as server:
        http = client(server, max_response_bytes=256 * 1024, retry=RetryPolicy(max_retries=3))
        with pytest.raises(TransportError):
            http.get("/invoices")
        assert len(server.requests) == 1


def test_memory_stays_near_the_cap_against_an_endless_body() -> None:
    cap = 2 << 20
    with HostileServer(endless_body()) as server:
        http = client(server, max_response_bytes=cap)
        gc.collect()
        tracemalloc.start()
        try:
            with pytest.raises(TransportError):
                http.get("/invoices")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    # The chunks read so far and their join: about twice the cap at most, never unbounded.
    assert peak < 3 * cap


def test_an_announced_length_over_the_cap_fails_before_reading() -> None:
    with HostileServer(announce_length(10 << 30)) as server:
        http = client(server, max_response_bytes=1 << 20)
        with pytest.raises(TransportError) as info:
            http.get("/invoices")
    assert f"{10 << 30} bytes announced" in info.value.message


def test_a_body_trickled_one_byte_at_a_time_fails_at_the_deadline() -> None:
    # Each byte comes well within the read timeout; the whole answer never would.
    with HostileServer(drip(0.05, body=b" " * 100_000)) as server:
        http = client(server, read_timeout=30, request_deadline=0.5)
        with pytest.raises(TransportError) as info:
            http.get("/invoices")
    error = info.value
    assert error.backend == "acme" and error.path == "/invoices"
    assert "0.5 s deadline (request_deadline)" in error.message
    assert error.transient and error.may_have_landed


def test_headers_trickled_one_byte_at_a_time_fail_at_the_deadline() -> None:
    with HostileServer(drip(0.05, in_headers=True)) as server:
        http = client(server, read_timeout=30, request_deadline=0.5)
        with pytest.raises(TransportError) as info:
            http.post("/invoices", json_body={"number": "1"})
        assert len(server.requests) == 1  # a write that may have landed: never repeated
    assert "deadline" in info.value.message
    assert info.value.may_have_landed


def test_a_read_past_the_deadline_is_retried_like_a_timeout() -> None:
    sleeps: list[float] = []
    with HostileServer(drip(0.05, in_headers=True)) as server:
        http = client(
            server,
            read_timeout=30,
            request_deadline=0.3,
            retry=RetryPolicy(max_retries=1),
            sleep=sleeps.append,
        )
        with pytest.raises(TransportError):
            http.get("/invoices")
        assert len(server.requests) == 2
    assert len(sleeps) == 1


def test_a_finished_request_leaves_the_connection_alone_after_its_deadline() -> None:
    with HostileServer(answer(b'{"id": "1"}')) as server:
        http = client(server, request_deadline=0.2)
        assert http.get("/a").data == {"id": "1"}
        time.sleep(0.4)  # the deadline of the finished request passes: nothing happens
        assert http.get("/b").data == {"id": "1"}


class Acme(HTTPBackend):
    name = "acme"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.http = self._make_http(base_url=self.options["base_url"])


def test_bounds_are_backend_options_with_sane_defaults() -> None:
    default = Acme(base_url="http://127.0.0.1:1")
    assert default.http.max_response_bytes == 50 * 1024 * 1024
    assert default.http.request_deadline == 120.0
    tuned = Acme(base_url="http://127.0.0.1:1", max_response_bytes=1000, request_deadline=2.5)
    assert tuned.http.max_response_bytes == 1000
    assert tuned.http.request_deadline == 2.5
