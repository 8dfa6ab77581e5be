"""Perfex's error bodies, parsed for the core's HTTP layer (its ``error_parser`` hook).

The core maps statuses to exception classes; this module only reads the body: the
module's ``{"status": false, "message": ..., "error": {...}}`` (``paymentmode`` instead
of ``status`` on payments), which may come with a 2xx, and the statuses that lie (a 404
for a bad token, a 404 with a field map for a validation failure) [notes §3].
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from invoicing_bridge.backends.http import ErrorInfo
from invoicing_bridge.exceptions import BackendError, NotFound

__all__ = ["NO_DATA", "is_no_data", "message_of", "parse_error"]

NO_DATA = "no data were found"
#: Fragments of the messages Perfex's token check answers with (its own and the JWT
#: library's: "Wrong number of segments", "Signature verification failed", "Expired
#: token", ...). Matched only on answers that are not 403s.
_AUTH_FRAGMENTS = (
    "token",
    "segments",
    "signature",
    "algorithm",
    "malformed",
    "encoding",
    "kid",
    "key may not be empty",
    "cannot handle",
)
_TAG = re.compile(r"<[^>]+>")


def _clean(text: Any) -> str | None:
    if text is None:
        return None
    cleaned = " ".join(_TAG.sub(" ", str(text)).split())
    return cleaned or None


def parse_error(status: int, data: Any, text: str) -> ErrorInfo | None:
    """Read a Perfex answer for errors (the core's ``error_parser`` hook).

    ``{"status": false}`` (or ``{"paymentmode": false}`` from payments) is an error even
    on a 2xx. Categories fix statuses that lie: a 404 for a bad token is an
    authentication error, a 404 or 409 with an ``error`` map is an invalid request,
    ``No data were found`` is not-found (list and search calls turn it into nothing).
    """
    if not isinstance(data, Mapping):
        return None  # arrays and records; non-JSON is judged by the core from the status
    ok = 200 <= status < 300
    flag = data["status"] if "status" in data else data.get("paymentmode")
    if ok and flag is not False:
        return None
    message = _clean(data.get("message"))
    lowered = (message or "").lower()
    field_errors: dict[str, Any] = {}
    for key in ("error", "errors"):
        value = data.get(key)
        if isinstance(value, Mapping):
            field_errors = {str(k): _clean(v) or "" for k, v in value.items()}
            break
    if message is None and isinstance(data.get("error"), str):
        message = _clean(data["error"])
    category: str | None = None
    if status == 403:
        category = "permission"
    elif status == 401:
        category = "authentication"
    elif status == 429:
        category = "rate_limited"
    elif status >= 500:
        category = "server"
    elif field_errors:
        category = "invalid"
    elif lowered == NO_DATA:
        category = "not_found"
    elif status == 404 and flag is False and "message" in data and data["message"] is None:
        # A valid JWT that is not in tblapi_users: the module answers a null message.
        category = "authentication"
    elif any(fragment in lowered for fragment in _AUTH_FRAGMENTS):
        # Perfex 2.x answers 404, not 401, to a bad token.
        category = "authentication"
    elif "not exist" in lowered or ("invalid" in lowered and lowered.endswith(" id")):
        category = "not_found"
    elif ok or lowered.rstrip(".").endswith("fail"):
        category = "invalid"
    if field_errors and (message is None or message == " ".join(field_errors.values())):
        message = "the request was refused"
    return ErrorInfo(
        message=message or f"HTTP {status}",
        field_errors=field_errors,
        category=category,
        code=status,
    )


def is_no_data(exc: BackendError) -> bool:
    details = exc.details
    return (
        isinstance(exc, NotFound)
        and isinstance(details, Mapping)
        and str(details.get("message") or "").strip().lower() == NO_DATA
    )


def message_of(exc: BackendError) -> str:
    details = exc.details
    if isinstance(details, Mapping):
        return str(details.get("message") or "").strip().lower()
    return ""
