"""Every page is read, and no record is dropped (DECISIONS: a page cap lost real clients)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses
from invoicing_bridge_daftra.backend import DaftraBackend
from invoicing_bridge_daftra.emulator import DaftraEmulator
from responses import matchers

from invoicing_bridge.models import Client, Invoice, LineItem


def _client_rows(ids: range) -> list[dict[str, Any]]:
    return [{"Client": {"id": str(i), "business_name": f"Client {i}"}} for i in ids]


def _page(rows: list[Any], page: int, page_count: int, total: int) -> dict[str, Any]:
    return {
        "code": 200,
        "result": "successful",
        "data": rows,
        "pagination": {
            "prev": f"/api2/clients/?page={page - 1}" if page > 1 else None,
            "next": f"/api2/clients/?page={page + 1}" if page < page_count else None,
            "page": page,
            "page_count": page_count,
            "total_results": total,
        },
    }


def test_pages_are_read_until_page_count_with_nothing_dropped(
    mock: responses.RequestsMock, base_url: str, api_key: str
) -> None:
    total, size, pages = 61, 4, 16
    for page in range(1, pages + 1):
        ids = range((page - 1) * size + 1, min(page * size, total) + 1)
        mock.get(
            f"{base_url}/clients.json",
            json=_page(_client_rows(ids), page, pages, total),
            match=[matchers.query_param_matcher({"page": str(page)}, strict_match=False)],
        )
    with DaftraBackend(subdomain="alnoor", api_key=api_key, page_size=size) as daftra:
        ids = [c.id for c in daftra.iter_clients()]
    assert ids == [str(i) for i in range(1, total + 1)]
    asked = [dict(parse_qsl(urlsplit(c.request.url).query))["page"] for c in mock.calls]
    assert asked == [str(p) for p in range(1, pages + 1)]  # no page skipped, none past the end


def test_without_a_pagination_object_a_short_page_is_the_last(
    mock: responses.RequestsMock, base_url: str, api_key: str
) -> None:
    full = {"code": 200, "result": "successful", "data": _client_rows(range(1, 4))}
    short = {"code": 200, "result": "successful", "data": _client_rows(range(4, 5))}
    mock.get(
        f"{base_url}/clients.json",
        json=full,
        match=[matchers.query_param_matcher({"page": "1"}, strict_match=False)],
    )
    mock.get(
        f"{base_url}/clients.json",
        json=short,
        match=[matchers.query_param_matcher({"page": "2"}, strict_match=False)],
    )
    with DaftraBackend(subdomain="alnoor", api_key=api_key, page_size=3) as daftra:
        assert [c.id for c in daftra.iter_clients()] == ["1", "2", "3", "4"]
    assert len(mock.calls) == 2


def test_an_empty_list_is_one_request(
    mock: responses.RequestsMock, base_url: str, api_key: str
) -> None:
    mock.get(f"{base_url}/invoice_payments.json", json=_page([], 1, 1, 0))
    with DaftraBackend(subdomain="alnoor", api_key=api_key) as daftra:
        assert list(daftra.iter_payments()) == []
    assert len(mock.calls) == 1


@pytest.fixture(scope="module")
def big() -> Any:
    with DaftraEmulator(invoices=137, seed=3) as emulator:
        yield emulator


def test_every_seeded_invoice_is_listed_once_over_many_pages(big: DaftraEmulator) -> None:
    options = {**big.profile(), "page_size": 10}
    del options["backend"]
    with DaftraBackend(**options) as daftra:
        ids = [invoice.id for invoice in daftra.iter_invoices()]
    assert len(ids) == 137
    assert sorted(ids, key=int) == [str(i) for i in range(1, 138)]
    assert ids == sorted(ids, key=int)  # sort=id, direction=ASC


def test_every_payment_is_listed_client_credit_included(big: DaftraEmulator) -> None:
    options = {**big.profile(), "page_size": 7}
    del options["backend"]
    with DaftraBackend(**options) as daftra:
        ids = [p.id for p in daftra.iter_payments()]
    assert sorted(ids, key=lambda i: int(i or 0)) == [str(p) for p in big.state.payment_ids]
    assert big.state.hidden_payments  # the seed has client-credit payments to hide
    assert {str(p) for p in big.state.hidden_payments} <= set(ids)


def test_an_invoice_created_while_listing_is_not_lost_nor_repeated() -> None:
    with DaftraEmulator(invoices=60, seed=4) as emulator:
        options = {**emulator.profile(), "page_size": 25}
        del options["backend"]
        seen, new = _list_while_creating(options)
    assert new.id in seen
    assert len(seen) == len(set(seen)) == 61


def _list_while_creating(options: dict[str, Any]) -> tuple[list[str | None], Invoice]:
    with DaftraBackend(**options) as daftra:
        client = daftra.create_client(Client(name="Late Co", company_name="Late Co"))
        seen: list[str | None] = []
        for n, invoice in enumerate(daftra.iter_invoices()):
            seen.append(invoice.id)
            if n == 30:  # on the second page, a new invoice arrives at the end
                new = daftra.create_invoice(
                    Invoice.build(
                        number="LATE-1",
                        issue_date=dt.date(2026, 9, 1),
                        currency="SAR",
                        client=client,
                        items=[LineItem(name="x", quantity=Decimal(1), unit_price=Decimal(10))],
                    )
                )
    return seen, new
