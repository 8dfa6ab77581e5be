"""Daftra's error bodies, parsed for the core's HTTP layer (which alone maps a status or
a category to an exception class)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from invoicing_bridge.backends.http import ErrorInfo

from .schemas.read import to_int_or_none

__all__ = ["parse_error"]

_CATEGORY_BY_CODE = {
    400: "invalid",
    401: "authentication",
    403: "permission",
    404: "not_found",
    409: "conflict",
    422: "invalid",
    429: "rate_limited",
}


def _flatten_errors(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(_flatten_errors(inner, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return {prefix or "_": "; ".join(value)}
    return {prefix or "_": value}


def _category(code: int | None) -> str | None:
    if code is None or code < 400:
        return None
    if code >= 500:
        return "server"
    return _CATEGORY_BY_CODE.get(code, "invalid")


def parse_error(status: int, data: Any, text: str) -> ErrorInfo | None:
    """Daftra's error bodies for the core's HTTP layer.

    - ``{"result": "failed", "code": .., "message": ..}`` (v1), with
      ``validation_errors`` on a 400 (api-notes §2);
    - a 2xx whose ``result`` is anything but ``successful``/``success``: an error too, of
      the class its own ``code`` names (AIZEN treats it so);
    - Laravel's ``{"message": "Unauthenticated."}`` and Passport's token errors
      (``invalid_client``/``invalid_grant``: bad OAuth credentials).

    Non-JSON bodies are left to the core (a 2xx HTML page is a TransportError).
    """
    if not isinstance(data, Mapping):
        return None
    ok = 200 <= status < 300
    result = data.get("result")
    failed = result is False or (
        isinstance(result, str) and result.strip().lower() not in ("successful", "success")
    )
    if ok and not failed:
        return None
    message = next(
        (
            data[key]
            for key in ("message", "error_description", "error")
            if isinstance(data.get(key), str) and data[key]
        ),
        None,
    )
    raw_errors = data.get("validation_errors") or data.get("errors")
    field_errors = _flatten_errors(raw_errors) if raw_errors else {}
    category: str | None = None
    if ok:
        category = _category(to_int_or_none(data.get("code")))
        if category is None and field_errors:
            category = "invalid"
        message = message or "Daftra answered result: failed"
    elif data.get("error") in ("invalid_client", "invalid_grant"):
        category = "authentication"
    return ErrorInfo(
        message=message, field_errors=field_errors, category=category, code=data.get("code")
    )
