"""A guard for paged lists: a server that repeats a page, or claims more pages forever,
ends the list with an error instead of looping.

A backend's paging loop makes one :class:`PageGuard` per list and shows it every page
before following the next::

    guard = PageGuard(backend=self.name, path="invoices.json", id_of=lambda row: row["id"])
    page = 1
    while True:
        answer = self.http.get("invoices.json", params={"page": page}).data
        rows = answer["data"]
        more = page < answer["pagination"]["page_count"]
        guard.check(page, rows, more=more, page_count=answer["pagination"]["page_count"])
        yield from rows
        if not more:
            return
        page += 1

:meth:`PageGuard.check` raises :class:`~invoicing_bridge.exceptions.BackendError`
(naming the backend, the list's path and the page) when

- the page holds the same records, in the same order, as an earlier page of the list
  (a server ignoring the page parameter answers page 1 for ever);
- the page lies past the count the server advertised on the list's first page (its page
  count, or its record count divided by the page size), allowing for records created
  while the list is read (a tenth more, and at least one page);
- an empty page claims that more pages follow;
- more than ``max_pages`` pages were read (None, the default: no such cap).

The guard keeps one fingerprint per page, not the records, so a long list costs a few
bytes a page.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..exceptions import BackendError

__all__ = ["PageGuard", "row_id"]


def row_id(row: Any) -> object:
    """A row's ``id`` when it is an object with one, else the row's text (a fingerprint
    for rows that carry no id)."""
    if isinstance(row, Mapping):
        found = row.get("id")
        if found is not None:
            return str(found)
    return repr(row)


class PageGuard:
    """Watches the pages of one list; see the module docstring.

    ``id_of`` gives a row's identity (:func:`row_id` by default); ``growth`` the share of
    pages a list may grow by while it is read (at least one page).
    """

    def __init__(
        self,
        *,
        backend: str,
        path: str,
        id_of: Callable[[Any], object] = row_id,
        growth: float = 0.1,
        max_pages: int | None = None,
    ) -> None:
        self.backend = backend
        self.path = path
        self.id_of = id_of
        self.growth = growth
        self.max_pages = max_pages
        self.pages = 0
        self.limit: int | None = None
        self.advertised: str | None = None
        self._seen: dict[int, int] = {}

    def check(
        self,
        number: int,
        rows: Sequence[Any],
        *,
        more: bool,
        page_count: int | None = None,
        total: int | None = None,
        page_size: int | None = None,
    ) -> None:
        """Accept page ``number`` (its ``rows``) or raise BackendError to end the list.

        ``more``: the server says another page follows. ``page_count`` or ``total`` (with
        ``page_size``): what the server advertises; the first advertisement is the one
        held to (a server raising its count page after page is what this guards against).
        """
        self.pages += 1
        if self.limit is None:
            pages = _advertised_pages(page_count, total, page_size)
            if pages is not None:
                self.limit = pages + max(1, math.ceil(pages * self.growth))
                self.advertised = f"{pages} page{'s' if pages != 1 else ''}"
        if self.limit is not None and number > self.limit:
            self._fail(
                number,
                f"past the {self.advertised} the server advertised (allowing for "
                f"growth up to {self.limit})",
            )
        if self.max_pages is not None and self.pages > self.max_pages:
            self._fail(number, f"more than {self.max_pages} pages (max_pages)")
        if not rows:
            if more:
                self._fail(number, "an empty page that claims more pages follow")
            return
        fingerprint = hash(tuple(self.id_of(row) for row in rows))
        earlier = self._seen.get(fingerprint)
        if earlier is not None:
            self._fail(
                number,
                f"the same {len(rows)} records as page {earlier}: the server repeats pages",
            )
        self._seen[fingerprint] = number

    def _fail(self, number: int, why: str) -> None:
        raise BackendError(
            f"list ended at page {number}: {why}",
            backend=self.backend,
            method="GET",
            path=self.path,
        )


def _advertised_pages(
    page_count: int | None, total: int | None, page_size: int | None
) -> int | None:
    if page_count is not None and page_count >= 0:
        return max(page_count, 1)
    if total is not None and total >= 0 and page_size:
        return max(math.ceil(total / page_size), 1)
    return None
