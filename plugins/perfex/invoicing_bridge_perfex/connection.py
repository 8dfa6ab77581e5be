"""The connection to a Perfex install's REST API module: where the token goes, how lists
are paged, and which module version the answers show.

- Auth [notes §1]: the ``authtoken`` header, read by 2.x and 3.x; 3.x also takes
  ``Authorization: Bearer`` (:func:`auth_headers`).
- Paging [§4.2]: a 2.x list is one bare array of every row (no paging); a 3.x list is
  ``{data, meta}`` pages (both shapes are read, always); an empty list is a 404 ``No
  data were found``, which :meth:`PerfexConnection.rows` turns into no rows. A bare array
  is read row by row from a temporary copy of the answer (the core's ``stream_array``),
  so a 2.x list of 50,000 invoices costs the memory of one row, not of the list.
- Version: ``api_version`` 2 sends plain 2.x requests; 3 or ``auto`` add page parameters
  and ``Idempotency-Key`` (which 2.x ignores); :attr:`PerfexConnection.detected_version`
  says what the answers showed.

Retries, timeouts, the rate limit, redaction and the status → exception mapping are the
core HTTP layer's (:class:`~invoicing_bridge.backends.http.HTTPClient`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

from invoicing_bridge.backends.http import HTTPClient, HTTPResponse
from invoicing_bridge.backends.paging import PageGuard
from invoicing_bridge.backends.streaming import JSONArrayStream
from invoicing_bridge.exceptions import MappingError, NotFound

from .errors import is_no_data
from .numbers import as_int

__all__ = ["PerfexConnection", "auth_headers", "chunks"]

T = TypeVar("T")


def auth_headers(token: str, where: str) -> dict[str, str]:
    """The headers carrying ``token``: ``where`` is ``authtoken`` (2.x and 3.x),
    ``authorization`` (``Authorization: Bearer``, 3.x only) or ``both``."""
    headers: dict[str, str] = {}
    if where in ("authtoken", "both"):
        headers["authtoken"] = token
    if where in ("authorization", "both"):
        headers["Authorization"] = f"Bearer {token}"
    return headers


def chunks(rows: Iterable[T], size: int) -> Iterator[list[T]]:
    """``rows`` in lists of ``size`` (the last one shorter)."""
    chunk: list[T] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def record_id(answer: HTTPResponse) -> str | None:
    """The id a write's answer names (3.x's ``record_id``); None where it names none
    (2.x answers a create with a message only, 2.0.8 a payment with nothing)."""
    data = answer.data
    if isinstance(data, Mapping) and data.get("record_id"):
        return str(data["record_id"])
    return None


class PerfexConnection:
    """Requests to one install through the core's ``http`` client.

    ``api_version``: ``"2"``, ``"3"`` or ``"auto"`` (the option); ``page_size``: rows per
    3.x page (the module caps it at 100).
    """

    def __init__(self, http: HTTPClient, *, api_version: str = "auto", page_size: int = 100):
        self.http = http
        self.api_version = str(api_version)
        self.page_size = page_size
        #: The module version the answers showed ("2" bare arrays, "3" pages), if seen.
        self.detected_version: str | None = None

    @property
    def v3_requests(self) -> bool:
        """Whether 3.x extras (page parameters, Idempotency-Key) are sent."""
        return self.api_version != "2"

    @staticmethod
    def path(*parts: object) -> str:
        """``"invoices/17"`` from ``("invoices", 17)``, every part but the first quoted."""
        head, *rest = (str(part) for part in parts)
        return "/".join([head, *(quote(part, safe="") for part in rest)])

    # ----------------------------------------------------------------- reading

    def rows(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[Any]:
        """Every row of a list or search: a 2.x bare array row by row as it is decoded
        (never the whole list at once), 3.x ``{data, meta}`` page by page. ``No data were
        found`` is an empty result.

        Page parameters are sent unless ``api_version`` is 2 (2.x ignores them); a server
        that pages anyway (some 3.x builds envelope every list) is followed page by page
        with the page size it chose. Raises MappingError for an answer that is no list,
        and BackendError (from the core's :class:`PageGuard`) for pages that repeat or run
        past the advertised count: a list always claiming more ends instead of looping."""
        page = 1
        per_page: int | None = self.page_size if self.v3_requests else None
        guard = PageGuard(backend="perfex", path=path)
        while True:
            query = dict(params or {})
            if per_page is not None:
                query.update(page=page, per_page=per_page)
            try:
                data = self.http.get(path, params=query or None, stream_array=True).data
            except NotFound as exc:
                if is_no_data(exc):
                    return
                raise
            if isinstance(data, JSONArrayStream):
                if self.v3_requests:
                    self.detected_version = self.detected_version or "2"
                with data:
                    yield from data
                return
            if isinstance(data, list):
                if self.v3_requests:
                    self.detected_version = self.detected_version or "2"
                yield from data
                return
            if isinstance(data, Mapping) and isinstance(data.get("data"), list):
                self.detected_version = "3"
                rows = data["data"]
                meta = data.get("meta") if isinstance(data.get("meta"), Mapping) else {}
                assert isinstance(meta, Mapping)
                last = meta.get("last_page", meta.get("total_pages"))
                has_more = meta.get("has_more")
                if has_more is None:
                    has_more = last is not None and page < as_int(last)
                more = bool(rows) and bool(has_more)
                guard.check(
                    page,
                    rows,
                    more=more,
                    page_count=None if last is None else as_int(last),
                    total=None if meta.get("total") is None else as_int(meta.get("total")),
                    page_size=as_int(meta.get("per_page")) or per_page,
                )
                yield from rows
                if not more:
                    return
                if per_page is None:
                    per_page = as_int(meta.get("per_page")) or len(rows)
                page += 1
                continue
            if isinstance(data, Mapping):
                yield data
                return
            raise MappingError(f"GET {path}: not a list answer", backend="perfex")

    def records(self, path: str) -> list[Mapping[str, Any]]:
        """The rows of a list or search that are records (JSON objects)."""
        return [row for row in self.rows(path) if isinstance(row, Mapping)]

    def one(self, path: str) -> Mapping[str, Any]:
        """A single record (some 2.x answers wrap it in a one-row array). Raises NotFound,
        MappingError for an answer that is no record."""
        data = self.http.get(path).data
        if isinstance(data, list):
            data = data[0] if data else None
        if not isinstance(data, Mapping):
            raise MappingError(f"GET {path}: not a record", backend="perfex")
        return data

    # ----------------------------------------------------------------- writing

    def create(self, path: str, form: list[tuple[str, str]]) -> HTTPResponse:
        """POST form fields (PHP bracket keys); on 3.x with an ``Idempotency-Key``, so a
        repeated request is answered, not stored twice."""
        headers = {"Idempotency-Key": str(uuid.uuid4())} if self.v3_requests else None
        return self.http.post(path, data=form, headers=headers)

    def post(
        self, path: str, form: list[tuple[str, str]], *, allow_empty: bool = False
    ) -> HTTPResponse:
        """POST form fields; ``allow_empty`` accepts an empty 2xx (2.0.8's payments)."""
        return self.http.post(path, data=form, allow_empty=allow_empty)

    def put(self, path: str, body: Mapping[str, Any]) -> HTTPResponse:
        """PUT a raw JSON body (all 2.x reads of a PUT)."""
        return self.http.put(path, json_body=body)

    def delete(self, path: str) -> HTTPResponse:
        return self.http.delete(path)
