"""A 3.x list that always claims more pages ends with the core's page-guard error instead
of looping (a small hostile WSGI server on 127.0.0.1); honest lists are read whole."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import pytest
from invoicing_bridge_perfex import PerfexBackend
from invoicing_bridge_perfex.connection import PerfexConnection

from invoicing_bridge.backends.http import HTTPClient, RetryPolicy
from invoicing_bridge.exceptions import BackendError
from invoicing_bridge.testing.emulator import EmulatorServer

Page = Callable[[int], dict[str, Any]]


def _row(n: int) -> dict[str, Any]:
    return {"id": str(n), "number": str(n), "date": "2024-01-01", "total": "10.00"}


def same_page_forever(page: int) -> dict[str, Any]:
    # A server that ignores ?page= and says there is more.
    return {"data": [_row(1), _row(2)], "meta": {"has_more": True}}


def growing_count(page: int) -> dict[str, Any]:
    # Fresh ids on every page, and a last page always one ahead.
    rows = [_row(page * 10), _row(page * 10 + 1)]
    meta = {"page": page, "per_page": 2, "last_page": page + 1, "has_more": True}
    return {"data": rows, "meta": meta}


def empty_but_more(page: int) -> dict[str, Any]:
    rows = [_row(1)] if page == 1 else []
    return {"data": rows, "meta": {"has_more": True, "total_pages": 10**9}}


def serve(make: Page, requests: list[int]) -> Any:
    """The list pages ``make`` builds (each page asked for recorded in ``requests``), and
    for ``/invoices/{id}`` (the backend reads listed invoices in full while it lists) the
    row of that id."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        tail = environ.get("PATH_INFO", "").rstrip("/").rsplit("/", 1)[-1]
        if tail.isdigit():
            body = json.dumps(_row(int(tail))).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        query = parse_qs(environ.get("QUERY_STRING", ""))
        page = int(query.get("page", ["1"])[0])
        requests.append(page)
        body = json.dumps(make(page)).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]

    return app


@pytest.mark.parametrize(
    ("make", "message", "pages"),
    [
        (same_page_forever, "same 2 records as page 1", 2),
        (growing_count, "past the 2 pages the server advertised", 4),
    ],
)
def test_a_list_that_always_claims_more_ends_with_a_clear_error(
    make: Page, message: str, pages: int
) -> None:
    requested: list[int] = []
    with EmulatorServer(serve(make, requested)) as server:
        http = HTTPClient(backend="perfex", base_url=server.base_url)
        connection = PerfexConnection(http, api_version="3", page_size=2)
        with pytest.raises(BackendError) as info:
            list(connection.rows("invoices"))
    error = info.value
    assert error.backend == "perfex" and error.path == "invoices"
    assert message in error.message
    assert requested == list(range(1, pages + 1))


def test_an_empty_page_ends_the_list_whatever_it_claims() -> None:
    requested: list[int] = []
    with EmulatorServer(serve(empty_but_more, requested)) as server:
        http = HTTPClient(backend="perfex", base_url=server.base_url)
        rows = list(PerfexConnection(http, api_version="3", page_size=2).rows("invoices"))
    assert [row["id"] for row in rows] == ["1"]
    assert requested == [1, 2]


def test_the_backend_listing_invoices_ends_instead_of_looping() -> None:
    requested: list[int] = []
    with EmulatorServer(serve(growing_count, requested)) as server:
        backend = PerfexBackend(
            base_url=server.base_url, token="t0k3n", api_version="3", max_retries=0
        )
        with pytest.raises(BackendError, match="list ended at page 4"):
            list(backend.iter_invoices())
        backend.close()
    assert requested == [1, 2, 3, 4]


def test_an_honest_paged_list_is_read_whole(emulator_v3: Any) -> None:
    http = HTTPClient(
        backend="perfex",
        base_url=emulator_v3.base_url,
        headers={"authtoken": emulator_v3.token},
        retry=RetryPolicy(max_retries=0),
    )
    rows = list(PerfexConnection(http, api_version="3", page_size=5).rows("invoices"))
    assert len(rows) == 12
    assert len({row["id"] for row in rows}) == 12
