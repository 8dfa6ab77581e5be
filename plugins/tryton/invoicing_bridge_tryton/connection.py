"""The JSON-RPC conversation with a ``trytond`` server: Tryton's wire types, the login
session, one ``call`` per remote method.

Tryton extends JSON with typed objects (``trytond/protocols/jsonrpc.py``):
``{"__class__": "Decimal", "decimal": "12.50"}``, ``{"__class__": "date", "year": ..}``,
``{"__class__": "datetime", ..}``. They are written and read here, so the rest of the
plugin sees ``Decimal``, ``date`` and ``datetime`` only, and a number never passes
through a float.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import itertools
import threading
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from invoicing_bridge.backends.http import HTTPClient
from invoicing_bridge.exceptions import (
    APIError,
    AuthenticationError,
    InvalidRequest,
    MappingError,
)
from invoicing_bridge.schemas.fields import short_repr

from .errors import warning_name

__all__ = ["TrytonConnection", "from_wire", "to_wire"]


def to_wire(value: Any) -> Any:
    """``value`` with Decimals, dates and datetimes as Tryton's typed JSON objects."""
    if isinstance(value, Decimal):
        return {"__class__": "Decimal", "decimal": format(value, "f")}
    if isinstance(value, dt.datetime):
        return {
            "__class__": "datetime",
            "year": value.year,
            "month": value.month,
            "day": value.day,
            "hour": value.hour,
            "minute": value.minute,
            "second": value.second,
            "microsecond": value.microsecond,
        }
    if isinstance(value, dt.date):
        return {"__class__": "date", "year": value.year, "month": value.month, "day": value.day}
    if isinstance(value, Mapping):
        return {str(k): to_wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_wire(v) for v in value]
    return value


def from_wire(value: Any) -> Any:
    """Tryton's typed JSON objects back to ``Decimal``, ``date`` and ``datetime``.

    A JSON number with a fraction (a ``Float`` field such as an invoice line's quantity)
    arrives as a Decimal already: the HTTP layer parses them so.
    """
    if isinstance(value, Mapping):
        kind = value.get("__class__")
        if kind in ("Decimal", "date", "datetime"):
            try:
                return _typed(kind, value)
            except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
                # A hostile or broken answer: one MappingError, not a traceback.
                raise MappingError(
                    f"not a {kind}: {short_repr(dict(value), 80)} ({type(exc).__name__})",
                    backend="tryton",
                ) from None
        return {k: from_wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [from_wire(v) for v in value]
    return value


def _typed(kind: str, value: Mapping[str, Any]) -> Any:
    """One of Tryton's typed JSON objects as its Python value (raises on a bad one)."""
    if kind == "Decimal":
        return Decimal(str(value["decimal"]))
    if kind == "date":
        return dt.date(int(value["year"]), int(value["month"]), int(value["day"]))
    return dt.datetime(
        int(value["year"]),
        int(value["month"]),
        int(value["day"]),
        int(value.get("hour", 0)),
        int(value.get("minute", 0)),
        int(value.get("second", 0)),
        int(value.get("microsecond", 0)),
    )


class TrytonConnection:
    """A logged-in JSON-RPC session on one database.

    The session is opened on the first call (``common.db.login``) and opened again once
    when the server answers 401 (sessions expire). ``accept_warnings``: a ``UserWarning``
    answer is confirmed (a ``res.user.warning`` record, as the desktop client's "Yes"
    writes) and the call repeated; otherwise it raises InvalidRequest.
    """

    def __init__(
        self,
        http: HTTPClient,
        *,
        database: str,
        login: str,
        password: str,
        accept_warnings: bool = True,
    ) -> None:
        self.http = http
        self.database = database
        self.path = f"/{database}/rpc/"
        self._login = login
        self._password = password
        self.accept_warnings = accept_warnings
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.user_id: int | None = None
        self.generation = 0
        self.context: dict[str, Any] = {}

    # ----------------------------------------------------------------- session

    def open(self, *, stale: int | None = None) -> None:
        """Log in and read the user's preferences (company, language) as the context.

        ``stale``: the session generation a caller saw refused; when another thread has
        logged in again since, nothing is done. Thread-safe: one login at a time.
        Raises AuthenticationError for refused credentials."""
        with self._lock:
            if stale is not None and stale != self.generation:
                return
            if stale is None and self.user_id is not None:
                return
            try:
                result = self._post(
                    "common.db.login", [self._login, {"password": self._password}], retry=False
                )
            except AuthenticationError:
                raise
            except APIError as exc:
                if exc.status_code in (401, 403):
                    raise AuthenticationError(
                        "Tryton refused the login",
                        backend=self.http.backend,
                        status_code=exc.status_code,
                    ) from None
                raise
            if not isinstance(result, Sequence) or len(result) < 2:
                raise AuthenticationError(
                    "Tryton refused the login", backend=self.http.backend, status_code=200
                )
            token = f"{self._login}:{result[0]}:{result[1]}"
            self.http.add_secret(str(result[1]))
            self.http.set_header(
                "Authorization", "Session " + base64.b64encode(token.encode()).decode()
            )
            preferences = self._post("model.res.user.get_preferences", [True, {}], retry=True)
            # The context the desktop client sends: the user's preferences (company,
            # language, groups; the field states that let an account administrator edit
            # a posted invoice's comment are evaluated on it).
            self.context = {
                k: v
                for k, v in (preferences or {}).items()
                if not k.endswith(".") and "." not in k and k != "locale"
            }
            self.user_id = int(result[0])
            self.generation += 1

    def close(self) -> None:
        if self.user_id is not None:
            with contextlib.suppress(APIError):
                self._post("common.db.logout", [], retry=False)
            self.user_id = None

    # ----------------------------------------------------------------- calls

    def call(self, method: str, *params: Any, retry: bool = False) -> Any:
        return self.call_with_context(method, list(params), None, retry=retry)

    def call_with_context(
        self,
        method: str,
        params: list[Any],
        context: dict[str, Any] | None,
        *,
        retry: bool = False,
    ) -> Any:
        """Call ``method`` (``model.account.invoice.search_read``) with ``params`` and the
        session's context appended; return the decoded result.

        ``context``: keys added to the session's context (a wizard's ``active_id``).
        ``retry``: the call changes nothing (a read), so the HTTP layer may repeat it.
        Raises the core's BackendError subclasses (see :mod:`.errors`)."""
        if self.user_id is None:
            self.open()
        confirmed: set[str] = set()
        relogged = False
        while True:
            generation = self.generation
            try:
                merged = {**self.context, **(context or {})}
                return self._post(method, [*params, merged], retry=retry)
            except AuthenticationError:
                if relogged:
                    raise
                relogged = True
                self.open(stale=generation)
            except InvalidRequest as exc:
                name = warning_name(exc.details)
                if name is None or not self.accept_warnings or name in confirmed:
                    raise
                confirmed.add(name)
                self._post(
                    "model.res.user.warning.create",
                    [[{"user": self.user_id, "name": name, "always": False}], self.context],
                    retry=False,
                )

    def _post(self, method: str, params: list[Any], *, retry: bool) -> Any:
        body = {"id": next(self._ids), "method": method, "params": to_wire(params)}
        response = self.http.post(self.path, json_body=body, retry=retry)
        data = response.data
        if not isinstance(data, Mapping) or "result" not in data:
            raise InvalidRequest(
                f"{method}: a JSON-RPC answer without a result",
                backend=self.http.backend,
                status_code=response.status_code,
                details={"body": response.text[:300]},
            )
        return from_wire(data["result"])
