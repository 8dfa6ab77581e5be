"""A list that always claims more pages ends with the core's page-guard error instead of
looping (a small hostile WSGI server on 127.0.0.1); honest lists are read whole."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import pytest
from invoicing_bridge_daftra.backend import DaftraBackend
from invoicing_bridge_daftra.emulator import DaftraEmulator

from invoicing_bridge.exceptions import BackendError
from invoicing_bridge.testing.emulator import EmulatorServer

Page = Callable[[int], dict[str, Any]]


def _row(n: int) -> dict[str, Any]:
    # Type 16 (a debit note): listed, then skipped by iter_invoices, so nothing is mapped
    # and only the paging is exercised.
    return {"Invoice": {"id": str(n), "no": str(n), "type": "16"}}


def same_page_forever(page: int) -> dict[str, Any]:
    # A server that ignores ?page= and says there are a thousand pages.
    rows = [_row(1), _row(2)]
    return {"code": 200, "result": "successful", "data": rows, "pagination": {"page_count": 1000}}


def growing_count(page: int) -> dict[str, Any]:
    # Fresh ids on every page, and a page count always one ahead.
    rows = [_row(page * 10), _row(page * 10 + 1)]
    pagination = {"page": page, "page_count": page + 1}
    return {"code": 200, "result": "successful", "data": rows, "pagination": pagination}


def full_pages_without_pagination(page: int) -> dict[str, Any]:
    # No pagination object and always a full page (the limit): the same rows each time.
    return {"code": 200, "result": "successful", "data": [_row(n) for n in range(1, 3)]}


def empty_but_more(page: int) -> dict[str, Any]:
    rows = [_row(1)] if page == 1 else []
    return {"code": 200, "result": "successful", "data": rows, "pagination": {"page_count": 10**9}}


def serve(make: Page, requested: list[tuple[str, int]]) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        query = parse_qs(environ.get("QUERY_STRING", ""))
        page = int(query.get("page", ["1"])[0])
        requested.append((environ["PATH_INFO"], page))
        body = json.dumps(make(page)).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]

    return app


@pytest.mark.parametrize(
    ("make", "message", "pages"),
    [
        (same_page_forever, "same 2 records as page 1", 2),
        (growing_count, "past the 2 pages the server advertised", 4),
        (full_pages_without_pagination, "same 2 records as page 1", 2),
        (empty_but_more, "empty page that claims more pages follow", 2),
    ],
)
def test_a_list_that_always_claims_more_ends_with_a_clear_error(
    make: Page, message: str, pages: int
) -> None:
    requested: list[tuple[str, int]] = []
    with EmulatorServer(serve(make, requested)) as server:
        backend = DaftraBackend(
            base_url=f"{server.base_url}/api2",
            api_key="k3y",
            date_format="%d/%m/%Y",
            page_size=2,
            max_retries=0,
        )
        with backend, pytest.raises(BackendError) as info:
            list(backend.iter_invoices())
    error = info.value
    assert error.backend == "daftra" and error.path == "invoices.json"
    assert f"list ended at page {pages}" in error.message
    assert message in error.message
    assert [page for path, page in requested if path.endswith("invoices.json")] == list(
        range(1, pages + 1)
    )


def test_an_honest_paged_list_is_read_whole() -> None:
    with DaftraEmulator(invoices=12, seed=7) as emulator:
        options = {k: v for k, v in emulator.profile().items() if k != "backend"}
        with DaftraBackend(**options, page_size=5) as backend:
            invoices = list(backend.iter_invoices())
    assert len({invoice.id for invoice in invoices}) == len(invoices) > 5
