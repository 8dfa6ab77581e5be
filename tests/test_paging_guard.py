"""The core's page guard: a repeated page, a page past the advertised count, an empty page
claiming more, and a page cap end a list with a BackendError; honest lists pass."""

from __future__ import annotations

from typing import Any

import pytest

from invoicing_bridge.backends.paging import PageGuard, row_id
from invoicing_bridge.exceptions import BackendError


def rows(start: int, count: int = 3) -> list[dict[str, Any]]:
    return [{"id": str(n), "total": "1.00"} for n in range(start, start + count)]


def guard(**kw: Any) -> PageGuard:
    return PageGuard(backend="acme", path="/invoices", **kw)


def test_an_honest_list_passes_every_page() -> None:
    g = guard()
    for page in range(1, 5):
        g.check(page, rows(page * 3), more=page < 4, page_count=4)
    assert g.pages == 4


def test_a_page_repeating_an_earlier_one_ends_the_list() -> None:
    g = guard()
    g.check(1, rows(1), more=True)
    g.check(2, rows(4), more=True)
    with pytest.raises(BackendError) as info:
        g.check(3, rows(1), more=True)
    error = info.value
    assert error.backend == "acme" and error.path == "/invoices" and error.method == "GET"
    assert "page 3" in error.message
    assert "same 3 records as page 1" in error.message
    assert error.transient is False


def test_the_same_ids_in_another_order_are_another_page() -> None:
    g = guard()
    g.check(1, rows(1), more=True)
    g.check(2, list(reversed(rows(1))), more=False)


def test_rows_without_ids_are_told_apart_by_their_content() -> None:
    g = guard()
    g.check(1, [{"Invoice": {"id": "1"}}], more=True)
    g.check(2, [{"Invoice": {"id": "2"}}], more=True)
    with pytest.raises(BackendError, match="repeats pages"):
        g.check(3, [{"Invoice": {"id": "1"}}], more=True)


def test_a_custom_id_of_reads_nested_ids() -> None:
    g = guard(id_of=lambda row: row["Invoice"]["id"])
    g.check(1, [{"Invoice": {"id": "1"}, "x": 1}], more=True)
    with pytest.raises(BackendError, match="same 1 records as page 1"):
        g.check(2, [{"Invoice": {"id": "1"}, "x": 2}], more=True)


def test_a_page_past_the_advertised_count_ends_the_list() -> None:
    # The server raises its count on every page, with fresh ids each time.
    g = guard()
    with pytest.raises(BackendError) as info:
        for page in range(1, 100):
            g.check(page, rows(page * 10), more=True, page_count=page + 10)
    assert "past the 11 pages the server advertised" in info.value.message
    assert g.pages == 14  # 11 advertised, two pages of growth (ceil 1.1) allowed, then the end


def test_a_record_count_with_a_page_size_is_an_advertised_count() -> None:
    g = guard()
    g.check(1, rows(1, 10), more=True, total=95, page_size=10)
    assert g.limit == 11  # 10 pages, and one of growth
    for page in range(2, 12):
        g.check(page, rows(page * 10, 10), more=True, total=95 + page, page_size=10)
    with pytest.raises(BackendError, match="past the 10 pages"):
        g.check(12, rows(120, 10), more=True)


def test_growth_allows_a_tenth_more_pages_for_records_created_while_reading() -> None:
    g = guard()
    g.check(1, rows(1), more=True, page_count=50)
    assert g.limit == 55


def test_an_empty_page_claiming_more_ends_the_list() -> None:
    g = guard()
    g.check(1, rows(1), more=True, page_count=1_000_000_000)
    with pytest.raises(BackendError, match="empty page that claims more"):
        g.check(2, [], more=True, page_count=1_000_000_000)


def test_an_empty_last_page_is_fine() -> None:
    guard().check(1, [], more=False, page_count=0)


def test_max_pages_caps_a_list_with_no_count() -> None:
    g = guard(max_pages=3)
    for page in range(1, 4):
        g.check(page, rows(page * 3), more=True)
    with pytest.raises(BackendError, match=r"more than 3 pages \(max_pages\)"):
        g.check(4, rows(12), more=True)


def test_row_id_uses_the_id_or_the_row_text() -> None:
    assert row_id({"id": 7}) == "7"
    assert row_id({"name": "x"}) == "{'name': 'x'}"
    assert row_id([1, 2]) == "[1, 2]"
