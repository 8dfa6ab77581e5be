"""Tryton's JSON-RPC error answers parsed into the core's error tree.

Tryton answers a failed call with HTTP 200 and ``{"id": .., "error": [kind, args]}``
(``trytond/protocols/jsonrpc.py``): ``kind`` is the exception's name for its own
exceptions (``UserError`` with ``[message, description, domain]``, ``UserWarning`` with
``[name, message, description]``, ``ConcurrencyException``, ``LoginException``), and
the text of any other exception (a server bug) with its traceback. A bad or expired
session is HTTP 401, a login refused 401 too, too many logins 429.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from invoicing_bridge.backends.http import ErrorInfo

__all__ = ["NOT_FOUND_HINT", "error_field", "parse_error", "warning_name"]

#: Tryton's message when a read names an id that does not exist.
NOT_FOUND_HINT = "that don't exist"
# 'A value is required for field "Account" in record ...', 'The value "x" for field
# "Email" ...': Tryton names the field by its label, quoted.
_FIELD = re.compile(r'field "([^"]+)"')


def _error(parsed: Any) -> Sequence[Any] | None:
    if not isinstance(parsed, Mapping):
        return None
    error = parsed.get("error")
    if isinstance(error, Sequence) and not isinstance(error, str) and error:
        return error
    return None


def error_field(message: str, domain: Any = None) -> str | None:
    """The field a Tryton user error names: the field of its domain when it carries one
    (``[domain, {field name: definition}]``), else the quoted label in the message."""
    if isinstance(domain, Sequence) and len(domain) == 2 and isinstance(domain[1], Mapping):
        names = [str(name) for name in domain[1]]
        if names:
            return names[0]
    match = _FIELD.search(message)
    return match.group(1) if match else None


def warning_name(parsed: Any) -> str | None:
    """The name of a ``UserWarning`` answer (what confirming it records), else None."""
    error = _error(parsed)
    if error is None or error[0] != "UserWarning":
        return None
    args = error[1] if len(error) > 1 else None
    if isinstance(args, Sequence) and args and isinstance(args[0], str):
        return args[0]
    return None


def parse_error(status: int, parsed: Any, text: str) -> ErrorInfo | None:
    """The ``error_parser`` hook of the HTTP client (see :class:`HTTPClient`)."""
    error = _error(parsed)
    if error is None and isinstance(parsed, Mapping) and "message" in parsed:
        # The REST API's user errors and warnings: HTTP 400 with
        # {"status", "message", "description"} (trytond/protocols/wrappers.py).
        message = str(parsed.get("message") or "")
        description = str(parsed.get("description") or "")
        full = f"{message} {description}".strip()
        if NOT_FOUND_HINT in message:
            return ErrorInfo(message=full, category="not_found", code="UserError")
        field = error_field(message)
        return ErrorInfo(
            message=full,
            category="invalid",
            field_errors={field: message} if field else {},
            code="UserError",
        )
    if error is None:
        if status == 401:
            return ErrorInfo(message="Tryton refused the login or the session", category=None)
        return None
    kind = str(error[0])
    args = error[1] if len(error) > 1 else None
    if kind == "UserError" and isinstance(args, Sequence) and args:
        message = str(args[0])
        description = str(args[1]) if len(args) > 1 and args[1] else ""
        full = f"{message} {description}".strip()
        if NOT_FOUND_HINT in message:
            return ErrorInfo(message=full, category="not_found", code=kind)
        # AccessError and the workflow refusals ("You cannot delete ...") are user
        # errors too: the request is refused as it stands.
        field = error_field(message, args[2] if len(args) > 2 else None)
        return ErrorInfo(
            message=full,
            category="invalid",
            field_errors={field: message} if field else {},
            code=kind,
        )
    if kind == "UserWarning" and isinstance(args, Sequence) and len(args) > 1:
        message = str(args[1])
        field = error_field(message)
        return ErrorInfo(
            message=f"Tryton warning: {message}",
            category="invalid",
            field_errors={field: message} if field else {},
            code=kind,
        )
    if kind == "ConcurrencyException":
        return ErrorInfo(message=str(args or kind), category="conflict", code=kind)
    if kind == "LoginException":
        return ErrorInfo(message="Tryton asks for another login factor", category="authentication")
    # Any other exception: its text (the traceback stays in details, redacted).
    return ErrorInfo(message=f"Tryton server error: {kind}", category="server", code="exception")
