"""How to talk to Acme: the key header, and the paging of its lists."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from invoicing_bridge.backends.http import HTTPClient


class AcmeConnection:
    """The core's HTTP client (built by the backend with the key header and the error
    parser), and Acme's paging: ``{"<key>": [...], "next_page": 2}`` until ``null``."""

    def __init__(self, http: HTTPClient, *, page_size: int) -> None:
        self.http = http
        self.page_size = page_size

    def rows(self, path: str, key: str, params: Mapping[str, Any] | None = None) -> Iterator[Any]:
        """Every row of a list, one page in memory at a time. Raises the core's errors."""
        page: int | None = 1
        while page is not None:
            query = {**(params or {}), "per_page": self.page_size, "page": page}
            data = self.http.get(path, params=query).data
            yield from data[key]
            page = data.get("next_page")

    def get(self, path: str, key: str) -> Any:
        """The record in ``GET path``'s envelope ``key``."""
        return self.http.get(path).data[key]

    def post(self, path: str, key: str, body: Mapping[str, Any]) -> Any:
        """``POST path`` with a JSON body; the stored record in the answer's ``key``."""
        return self.http.post(path, json_body=dict(body)).data[key]
