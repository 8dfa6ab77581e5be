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
import hashlib
import itertools
import json
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
    UnsupportedOperation,
)
from invoicing_bridge.schemas.fields import short_repr

from .errors import warning_name

__all__ = ["TrytonConnection", "TrytonRestConnection", "from_wire", "to_wire", "warning_key"]


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


def session_context(preferences: Any) -> dict[str, Any]:
    """The context the desktop client sends with every call: the user's preferences
    (company, language, groups; the field states that let an account administrator edit a
    posted invoice's comment are evaluated on it), without the locale and dotted keys."""
    return {
        k: v
        for k, v in (preferences or {}).items()
        if not k.endswith(".") and "." not in k and k != "locale"
    }


class _Session:
    """What both ways of reaching Tryton share: ``call`` on top of each one's
    ``call_with_context``."""

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
        raise NotImplementedError


class TrytonConnection(_Session):
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
            self.context = session_context(preferences)
            self.user_id = int(result[0])
            self.generation += 1

    def close(self) -> None:
        if self.user_id is not None:
            with contextlib.suppress(APIError):
                self._post("common.db.logout", [], retry=False)
            self.user_id = None

    # ----------------------------------------------------------------- calls

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


#: The warnings posting one customer invoice may ask to confirm, by name
#: (``account_invoice/invoice.py``: each formatted with the invoice alone).
INVOICE_WARNINGS = (
    "invoice_payment_term",
    "invoice_date_future",
    "invoice_taxes",
    "invoice_similar",
)
#: REST keyword names of the model methods the backend calls, in their JSON-RPC order.
_KEYWORDS: dict[str, tuple[str, ...]] = {
    "search_read": ("domain", "offset", "limit", "order", "fields_names"),
    "search": ("domain", "offset", "limit", "order"),
    "search_count": ("domain",),
    "read": ("ids", "fields_names"),
    "create": ("vlist",),
    "get_preferences": ("context_only",),
}
#: Methods called on records (ids first): one request per record on ``/<id>/<method>``.
_ON_RECORDS = frozenset({"write", "delete", "post", "cancel", "draft", "validate_invoice"})


def warning_key(name: str, model: str, record_id: int) -> str:
    """The name of Tryton's warning ``name`` about one stored record, as
    ``res.user.warning.format`` builds it: the md5 of ``"model,id"``, a dot, the name."""
    digest = hashlib.md5(f"{model},{record_id}".encode(), usedforsecurity=False).hexdigest()
    return f"{digest}.{name}"


class TrytonRestConnection(_Session):
    """The calls of :class:`TrytonConnection` over Tryton's REST API (``/DB/rest/``) with a
    user application key (``res.user.application`` of application ``rest``, sent as
    ``Authorization: Bearer KEY``): no login, no session.

    REST reaches model methods only (``POST /DB/rest/model/MODEL/METHOD`` with keyword
    arguments, ``/MODEL/ID/METHOD`` for a method on a record): searches, reads, create,
    write, delete and workflow buttons (post, cancel). It runs no wizard: a ``wizard.*``
    call raises UnsupportedOperation (recording a payment needs Tryton's Pay wizard, so
    login and password). A user error answers HTTP 400 with its message but without a
    warning's name: with ``accept_warnings``, the warnings posting an invoice may raise
    (:data:`INVOICE_WARNINGS`) are confirmed for that invoice before it is posted.
    """

    rest = True

    def __init__(
        self,
        http: HTTPClient,
        *,
        database: str,
        application_key: str,
        accept_warnings: bool = True,
    ) -> None:
        self.http = http
        self.database = database
        self.path = f"/{database}/rest/model"
        self.accept_warnings = accept_warnings
        self._lock = threading.Lock()
        self.user_id: int | None = None
        self.generation = 0
        self.context: dict[str, Any] = {}
        self._key = application_key
        http.add_secret(application_key)
        http.set_header("Authorization", f"Bearer {application_key}")

    def open(self, *, stale: int | None = None) -> None:
        """Read the key's user preferences (the context) and its id. Raises
        AuthenticationError for a key Tryton refuses (HTTP 401)."""
        with self._lock:
            if stale is None and self.user_id is not None:
                return
            context = self._post("res.user/get_preferences", {"context_only": True}, None)
            self.context = session_context(context)
            # The key's own record says whose it is (a user reads their applications).
            users = self._post(
                "res.user.application/search_read",
                {"domain": [["key", "=", self._key]], "limit": 1, "fields_names": ["user"]},
                None,
            )
            if not users or not users[0].get("user"):
                raise AuthenticationError(
                    "Tryton's application key has no user", backend=self.http.backend
                )
            self.user_id = int(users[0]["user"])
            self.generation += 1

    def close(self) -> None:
        self.user_id = None

    def call_with_context(
        self,
        method: str,
        params: list[Any],
        context: dict[str, Any] | None,
        *,
        retry: bool = False,
    ) -> Any:
        """``model.MODEL.METHOD`` with JSON-RPC's positional ``params`` (the context
        appended by this class, sent as ``X-Tryton-Context``). Raises
        UnsupportedOperation for a wizard or a method REST is not mapped for here."""
        if not method.startswith("model."):
            raise UnsupportedOperation(
                self.http.backend,
                method,
                "Tryton's REST API (application_key) runs no wizard: use login and password",
            )
        if self.user_id is None:
            self.open()
        model, _, name = method[len("model.") :].rpartition(".")
        merged = {**self.context, **(context or {})}
        if name in _ON_RECORDS:
            ids, rest = params[0], params[1:]
            if name == "post" and model == "account.invoice" and self.accept_warnings:
                self._confirm_warnings(model, ids, merged)
            if name == "delete":
                # Not /ID/delete: that route reads the record back once the method ran.
                for i in ids:
                    self.http.delete(
                        f"{self.path}/{model}/{int(i)}",
                        headers=self._context_header(merged),
                        allow_empty=True,
                        expect_json=False,
                    )
                return None
            keywords = {"values": rest[0]} if name == "write" and rest else {}
            results = [
                self._post(f"{model}/{int(i)}/{name}", keywords, merged, retry=retry) for i in ids
            ]
            return None if name != "write" else results
        names = _KEYWORDS.get(name)
        if names is None or len(params) > len(names):
            raise UnsupportedOperation(self.http.backend, method, "not mapped to Tryton's REST API")
        return self._post(
            f"{model}/{name}", dict(zip(names, params, strict=False)), merged, retry=retry
        )

    def _confirm_warnings(self, model: str, ids: Sequence[Any], context: dict[str, Any]) -> None:
        # The desktop client's "Yes", given before the question: REST answers a warning
        # with its message only, not the name a confirmation records.
        vlist = [
            {"user": self.user_id, "name": warning_key(name, model, int(i)), "always": False}
            for i in ids
            for name in INVOICE_WARNINGS
        ]
        self._post("res.user.warning/create", {"vlist": vlist}, context)

    @staticmethod
    def _context_header(context: dict[str, Any] | None) -> dict[str, str]:
        if not context:
            return {}
        text = json.dumps(to_wire(context), separators=(",", ":"))
        return {"X-Tryton-Context": base64.urlsafe_b64encode(text.encode()).decode()}

    def _post(
        self,
        path: str,
        keywords: dict[str, Any],
        context: dict[str, Any] | None,
        *,
        retry: bool = False,
    ) -> Any:
        response = self.http.post(
            f"{self.path}/{path}",
            json_body=to_wire(keywords),
            headers=self._context_header(context),
            retry=retry,
            allow_empty=True,
        )
        return from_wire(response.data)
