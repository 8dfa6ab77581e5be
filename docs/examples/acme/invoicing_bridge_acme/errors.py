"""Acme's error body, parsed for the core's error table. Nothing here raises: the core's
HTTP layer builds the exception (which class, what message) from what the parser says."""

from __future__ import annotations

from typing import Any

from invoicing_bridge.backends.http import ErrorInfo

#: Acme's error codes, as categories of the core's error table.
CATEGORIES = {
    "unauthorized": "authentication",
    "forbidden": "permission",
    "not_found": "not_found",
    "invalid": "invalid",
}


def parse_error(status: int, body: Any, text: str) -> ErrorInfo | None:
    """Acme's error body is ``{"error": {"code", "message", "fields"}}``.

    Acme answers a revoked key with 200 and an error body, so an error body is an
    error whatever the status, and its code (not the status) says which kind.
    """
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None
    return ErrorInfo(
        message=error.get("message"),
        field_errors=error.get("fields") or {},
        category=CATEGORIES.get(error.get("code", "")),
        code=error.get("code"),
    )
