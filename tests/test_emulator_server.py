"""The shared emulator server: keep-alive, counters, latency and every fault kind."""

import json
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
import requests

from invoicing_bridge.emulation import EmulatorServer, EmulatorStats, FaultInjector

StartResponse = Callable[..., Any]


class Recorder:
    """A WSGI app that records what reached it and answers JSON."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str, bytes]] = []

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        body = environ["wsgi.input"].read()
        self.seen.append(
            (environ["REQUEST_METHOD"], environ["PATH_INFO"], environ["QUERY_STRING"], body)
        )
        out = json.dumps({"path": environ["PATH_INFO"], "key": environ.get("HTTP_APIKEY")})
        start_response("200 OK", [("Content-Type", "application/json")])
        return [out.encode()]


@pytest.fixture
def app() -> Recorder:
    return Recorder()


@pytest.fixture
def server(app: Recorder) -> Iterator[EmulatorServer]:
    with EmulatorServer(app, api_path="/api2") as running:
        yield running


def test_requests_reach_the_app_with_path_query_body_and_headers(
    server: EmulatorServer, app: Recorder
) -> None:
    response = requests.post(
        server.base_url + "/invoices.json?page=2", data=b"a=1", headers={"apikey": "k"}
    )
    assert response.json() == {"path": "/api2/invoices.json", "key": "k"}
    assert app.seen == [("POST", "/api2/invoices.json", "page=2", b"a=1")]


def test_connections_are_kept_alive_and_counted(server: EmulatorServer) -> None:
    with requests.Session() as session:
        for _ in range(5):
            assert session.get(server.base_url + "/x").status_code == 200
    stats = server.stats.snapshot()
    assert stats["requests"] == 5
    assert stats["connections"] == 1
    assert stats["by_route"] == {"GET /api2/x": 5}


@pytest.mark.parametrize("kind,status", [("500", 500), ("502", 502), ("503", 503)])
def test_status_faults_answer_without_reaching_the_app(
    server: EmulatorServer, app: Recorder, kind: str, status: int
) -> None:
    server.faults.scheduled.append(kind)
    assert requests.get(server.base_url + "/x").status_code == status
    assert app.seen == []
    assert requests.get(server.base_url + "/x").status_code == 200
    assert server.stats.faults == 1


def test_429_fault_carries_retry_after(server: EmulatorServer) -> None:
    server.faults.scheduled.append("429")
    response = requests.get(server.base_url + "/x")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"


def test_html_fault_is_a_proxy_page(server: EmulatorServer) -> None:
    server.faults.scheduled.append("html")
    response = requests.get(server.base_url + "/x")
    assert response.status_code == 502
    assert response.headers["Content-Type"] == "text/html"
    assert "<html>" in response.text


def test_drop_fault_closes_the_connection_before_the_app(
    server: EmulatorServer, app: Recorder
) -> None:
    server.faults.scheduled.append("drop")
    with pytest.raises(requests.ConnectionError):
        requests.get(server.base_url + "/x")
    assert app.seen == []


def test_drop_after_fault_runs_the_app_then_drops(server: EmulatorServer, app: Recorder) -> None:
    server.faults.scheduled.append("drop_after")
    with pytest.raises(requests.ConnectionError):
        requests.post(server.base_url + "/invoices.json", data=b"x")
    assert [s[0] for s in app.seen] == ["POST"]


def test_fault_rate_is_repeatable_with_a_seed(app: Recorder) -> None:
    def draws(seed: int) -> list[str | None]:
        injector = FaultInjector(app, stats=EmulatorStats(), fault_rate=0.5, seed=seed)
        return [injector._draw() for _ in range(40)]

    first = draws(7)
    assert first == draws(7)
    assert any(d is None for d in first) and any(d is not None for d in first)


def test_latency_is_added_per_request(app: Recorder) -> None:
    with EmulatorServer(app, latency_ms=60) as slow, requests.Session() as session:
        started = time.perf_counter()
        session.get(slow.base_url + "/x")
        session.get(slow.base_url + "/x")
        assert time.perf_counter() - started >= 0.12


def test_bad_fault_settings_are_refused(app: Recorder) -> None:
    with pytest.raises(ValueError):
        FaultInjector(app, stats=EmulatorStats(), fault_rate=1.5)
    with pytest.raises(ValueError):
        FaultInjector(app, stats=EmulatorStats(), fault_kinds=["teapot"])
