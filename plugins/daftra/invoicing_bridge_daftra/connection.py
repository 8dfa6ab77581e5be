"""The conversation with one Daftra account: authentication (the ``apikey`` header, or an
OAuth password-grant token sent as ``Authorization: Bearer``, renewed when it expires and
once when an answer says 401), single records, every page of a list, and the account's
facts (``site_info``, its display date format).

Every answer is parsed once, by the core's HTTP layer (:attr:`HTTPResponse.data`); errors
are the core's exceptions, their bodies read by :func:`.errors.parse_error`.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

import urllib3

from invoicing_bridge.backends.http import HTTPClient, HTTPResponse
from invoicing_bridge.backends.paging import PageGuard, row_id
from invoicing_bridge.exceptions import (
    AuthenticationError,
    BackendError,
    InvalidRequest,
    MappingError,
    NotFound,
)
from invoicing_bridge.schemas.fields import to_id

from .dates import pattern_from_daftra
from .options import OAUTH_OPTIONS, auth_mode, site_root
from .schemas.read import to_int_or_none

__all__ = ["ORDER", "DaftraConnection", "path_id"]

log = logging.getLogger("invoicing_bridge.daftra")

#: Every list is read in a fixed, explicit order: Daftra's defaults differ per endpoint
#: (invoices newest first, clients in a stable but arbitrary order; api-notes §5, §6.9).
ORDER = {"sort": "id", "direction": "ASC"}


def path_id(id: str) -> str:
    """A record id as one path segment."""
    return quote(str(id).strip(), safe="")


class DaftraConnection:
    """Authenticated requests to one account through the backend's :class:`HTTPClient`.

    ``options`` are the backend's loaded options (the credentials, ``page_size``).
    Raises the core's exceptions (AuthenticationError, NotFound, InvalidRequest,
    ServerError, RateLimited, TransportError) and MappingError for an answer without the
    expected ``data``.
    """

    def __init__(self, http: HTTPClient, options: Mapping[str, Any], *, backend: str) -> None:
        self.http = http
        self.name = backend
        self.options = options
        self.auth = auth_mode(options)
        self.site_root = site_root(http.base_url)
        self.page_size: int = options["page_size"]
        http.set_header("Content-Type", "application/json")
        if self.auth == "api_key":
            http.set_header("apikey", options["api_key"])
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = threading.Lock()
        self._site: Mapping[str, Any] | None = None

    # ----------------------------------------------------------------- requests

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> HTTPResponse:
        token = self._ensure_token() if self.auth == "oauth" else None
        try:
            return self.http.request(method, path, params=params, json_body=body)
        except AuthenticationError:
            if self.auth != "oauth":
                raise
            # The token may have been revoked or expired early: renew it once, try again.
            log.info("%s: 401 with an OAuth token; renewing the token once", self.name)
            self._fetch_token(stale=token)
            return self.http.request(method, path, params=params, json_body=body)

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.call("GET", path, params=params).data

    def send(self, method: str, path: str, body: Any) -> Any:
        return self.call(method, path, body=body).data

    def create(self, path: str, body: Any) -> str:
        """POST a create; Daftra answers 202 ``{"id": "2415"}`` (api-notes §2)."""
        answer = self.send("POST", path, body)
        new_id = to_id(answer.get("id")) if isinstance(answer, Mapping) else None
        if new_id is None:
            raise BackendError(
                "the create was accepted but the answer carries no id",
                backend=self.name,
                method="POST",
                path=path,
                details=answer,
            )
        return new_id

    def record(self, path: str) -> Mapping[str, Any]:
        """The ``data`` member of a single-record answer (``{"Invoice": {...}}``)."""
        answer = self.get(path)
        data = answer.get("data") if isinstance(answer, Mapping) else None
        if not isinstance(data, Mapping):
            raise MappingError(f"GET {path}: the answer has no data object", backend=self.name)
        return data

    def pages(self, path: str, params: Mapping[str, Any]) -> Iterator[list[Any]]:
        """Every page of a list, until ``page >= page_count``; never a page cap.

        Raises BackendError (from the core's :class:`PageGuard`) when a page repeats an
        earlier one, runs past the page count the first page advertised, or is empty
        while claiming more: a list that always claims more pages ends instead of
        looping."""
        limit = self.page_size
        page = 1
        guard = PageGuard(backend=self.name, path=path, id_of=_row_key)
        while True:
            answer = self.get(path, {**params, "page": page, "limit": limit})
            rows = answer.get("data") if isinstance(answer, Mapping) else None
            if rows is None:
                rows = []
            if not isinstance(rows, list):
                raise MappingError(f"GET {path}: data is not a list", backend=self.name)
            pagination = answer.get("pagination") if isinstance(answer, Mapping) else None
            page_count = (
                to_int_or_none(pagination.get("page_count"))
                if isinstance(pagination, Mapping)
                else None
            )
            # No pagination object: a short page is the last.
            more = len(rows) >= limit if page_count is None else page < page_count
            guard.check(page, rows, more=more, page_count=page_count)
            yield rows
            if not more:
                return
            page += 1

    # ----------------------------------------------------------------- OAuth

    def _ensure_token(self) -> str:
        with self._token_lock:
            if self._token is not None and time.monotonic() < self._token_expires:
                return self._token
        return self._fetch_token(stale=self._token)

    def _fetch_token(self, *, stale: str | None) -> str:
        """The password grant (api-notes §1): multipart form data at the site root."""
        with self._token_lock:
            if self._token is not None and self._token != stale:
                return self._token  # another thread renewed it meanwhile
            o = self.options
            form = {name: str(o[name]) for name in OAUTH_OPTIONS}
            form["grant_type"] = "password"
            body, content_type = urllib3.encode_multipart_formdata(form)
            # A stale Bearer header must not ride along (Daftra refuses it).
            self.http.set_header("Authorization", None)
            self._token = None
            response = self.http.request(
                "POST",
                f"{self.site_root}/v2/oauth/token",
                data=body,
                headers={"Content-Type": content_type},
                retry=True,  # asking for a token twice does no harm
            )
            answer = response.data if isinstance(response.data, Mapping) else {}
            token = answer.get("access_token")
            if not isinstance(token, str) or not token:
                raise AuthenticationError(
                    "the token endpoint answered without an access_token",
                    backend=self.name,
                    method="POST",
                    path="/v2/oauth/token",
                    status_code=response.status_code,
                )
            self.http.add_secret(token)
            refresh = answer.get("refresh_token")
            if isinstance(refresh, str):
                self.http.add_secret(refresh)
            kind = str(answer.get("token_type") or "Bearer").strip()
            kind = "Bearer" if kind.lower() == "bearer" else kind
            self.http.set_header("Authorization", f"{kind} {token}")
            lifetime = to_int_or_none(answer.get("expires_in"))
            self._token_expires = (
                math.inf if not lifetime else time.monotonic() + max(0.0, lifetime - 30.0)
            )
            self._token = token
            log.debug("%s: obtained an OAuth token (expires in %s s)", self.name, lifetime)
            return token

    # ----------------------------------------------------------------- the account

    def site_info(self) -> Mapping[str, Any]:
        if self._site is None:
            site = _unwrap(self.record("site_info.json"), "Site")
            self._site = site
        return self._site

    def account_date_pattern(self) -> str | None:
        """The account's display format: ``site_info.date_format``, an id whose title
        ``/listing/dateFormats`` gives (api-notes §6.2), or a pattern itself."""
        value = self.site_info().get("date_format")
        text = str(value).strip() if value is not None else ""
        if not text:
            return None
        title: Any = text
        if text.isdigit():
            try:
                listing = self.record("listing/dateFormats.json").get("Listing")
            except (NotFound, InvalidRequest):
                listing = None
            title = listing.get(text) if isinstance(listing, Mapping) else None
            if isinstance(title, Mapping):
                title = title.get("title")
        pattern = pattern_from_daftra(title)
        if pattern is None:
            log.warning(
                "%s: the account's date format %r (%r) is not understood; ambiguous dates "
                "will fail until the date_format option is set",
                self.name,
                text,
                title,
            )
        return pattern


def _row_key(row: Any) -> object:
    """A list row's identity: the id of its model (``{"Invoice": {"id": ...}, ...}``)."""
    if isinstance(row, Mapping):
        for value in row.values():
            if isinstance(value, Mapping) and value.get("id") is not None:
                return str(value["id"])
    return row_id(row)


def _unwrap(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    inner = data.get(key)
    return inner if isinstance(inner, Mapping) else data
