"""The only exception module: every error the library raises is an :class:`InvoicingBridgeError`.

::

    InvoicingBridgeError
    ├── ConfigurationError ── BackendNotFound
    ├── UnsupportedOperation
    ├── MappingError                 a payload that cannot become the model
    └── BackendError                 .backend, .status_code, .details; secrets redacted
        ├── TransportError           connection, timeout, non-JSON body; .retryable
        └── APIError ── AuthenticationError, PermissionDenied, NotFound, Conflict,
                        InvalidRequest (.field_errors), RateLimited (.retry_after), ServerError

Which HTTP status becomes which class is decided in one place: :func:`error_class_for`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "APIError",
    "AuthenticationError",
    "BackendError",
    "BackendNotFound",
    "ConfigurationError",
    "Conflict",
    "InvalidRequest",
    "InvoicingBridgeError",
    "MappingError",
    "NotFound",
    "PermissionDenied",
    "RateLimited",
    "ServerError",
    "TransportError",
    "UnsupportedOperation",
    "error_class_for",
]


class InvoicingBridgeError(Exception):
    """Root of every error this library raises."""

    def __reduce__(self) -> tuple[Any, ...]:
        # The keyword-only constructors below cannot be called again with ``self.args``
        # (what Exception's own pickling does): rebuild from the state instead, so an error
        # survives pickling (multiprocessing, concurrent.futures, copy.copy).
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


def _rebuild(
    cls: type[InvoicingBridgeError], args: tuple[Any, ...], state: dict[str, Any]
) -> InvoicingBridgeError:
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class ConfigurationError(InvoicingBridgeError):
    """A bad, missing or unknown configuration value. Names the profile and option."""

    def __init__(self, message: str, *, profile: str | None = None, option: str | None = None):
        self.profile = profile
        self.option = option
        prefix = []
        if profile:
            prefix.append(f"profile {profile!r}")
        if option:
            prefix.append(f"option {option!r}")
        super().__init__(f"{', '.join(prefix)}: {message}" if prefix else message)


class BackendNotFound(ConfigurationError):
    """No backend of that name is installed, or its plugin failed to load."""

    def __init__(self, message: str, *, name: str, installed: list[str]):
        self.name = name
        self.installed = installed
        super().__init__(message)


class UnsupportedOperation(InvoicingBridgeError):
    """The backend cannot do this (see ``backend.features``)."""

    def __init__(self, backend: str, operation: str, reason: str | None = None):
        self.backend = backend
        self.operation = operation
        text = f"{backend}: {operation} is not supported"
        super().__init__(f"{text} ({reason})" if reason else text)


class MappingError(InvoicingBridgeError):
    """A remote payload (or a neutral record on write) that cannot be mapped.

    ``field`` is the dotted path of the offending field when known; ``errors`` the
    per-field messages (marshmallow's, when it raised).
    """

    def __init__(
        self,
        message: str,
        *,
        backend: str | None = None,
        field: str | None = None,
        errors: Mapping[str, Any] | None = None,
    ):
        self.backend = backend
        self.field = field
        self.errors = dict(errors or {})
        parts = [backend] if backend else []
        if field:
            parts.append(f"field {field!r}")
        prefix = ": ".join(parts)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class BackendError(InvoicingBridgeError):
    """A failed conversation with a backend.

    Attributes: ``backend`` (name), ``method`` and ``path`` of the request, ``status_code``
    (None when no response came), ``details`` (the parsed error body, secrets redacted) and
    ``message`` (what the backend said, or what went wrong).
    """

    def __init__(
        self,
        message: str,
        *,
        backend: str,
        method: str | None = None,
        path: str | None = None,
        status_code: int | None = None,
        details: Any = None,
    ):
        self.message = message
        self.backend = backend
        self.method = method
        self.path = path
        self.status_code = status_code
        self.details = details
        super().__init__(self._text())

    def _text(self) -> str:
        where = f"{self.method} {self.path}" if self.method and self.path else ""
        status = f"HTTP {self.status_code}" if self.status_code is not None else ""
        head = " ".join(part for part in (self.backend, where, status) if part)
        return f"{head}: {self.message}"


class TransportError(BackendError):
    """No usable answer: connection refused or dropped, timeout, a non-JSON or truncated body.

    ``retryable`` says whether trying again may help. ``request_sent`` is False only when
    the request certainly never reached the server (so even a create may be retried).
    """

    def __init__(
        self, message: str, *, retryable: bool = True, request_sent: bool = True, **kwargs: Any
    ):
        self.retryable = retryable
        self.request_sent = request_sent
        super().__init__(message, **kwargs)


class APIError(BackendError):
    """The backend answered, and the answer was an error.

    ``retry_after``: the seconds the server asked to wait (``Retry-After``, sent with 429
    and often with 503), or None.
    """

    retry_after: float | None = None


class AuthenticationError(APIError):
    """Bad or missing credentials (401, or the backend's own way of saying it)."""


class PermissionDenied(APIError):
    """403: authenticated, but not allowed."""


class NotFound(APIError):
    """404: no such record."""


class Conflict(APIError):
    """409: the record conflicts with what the backend holds."""


class InvalidRequest(APIError):
    """400/422 (or a backend's equivalent): the request was refused; ``field_errors`` says why."""

    def __init__(self, message: str, *, field_errors: Mapping[str, Any] | None = None, **kw: Any):
        self.field_errors = dict(field_errors or {})
        if self.field_errors:
            fields = "; ".join(f"{k}: {v}" for k, v in self.field_errors.items())
            message = f"{message} ({fields})"
        super().__init__(message, **kw)


class RateLimited(APIError):
    """429: too many requests. ``retry_after`` is the wait in seconds the server asked for."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any):
        self.retry_after = retry_after
        super().__init__(message, **kw)


class ServerError(APIError):
    """5xx: the backend failed."""


#: Error categories a plugin's body parser may name, for answers whose status lies
#: (Perfex answers 404 to a bad token). The single status → class table is below.
CATEGORIES: dict[str, type[APIError]] = {
    "authentication": AuthenticationError,
    "permission": PermissionDenied,
    "not_found": NotFound,
    "conflict": Conflict,
    "invalid": InvalidRequest,
    "rate_limited": RateLimited,
    "server": ServerError,
}

_BY_STATUS: dict[int, type[APIError]] = {
    400: InvalidRequest,
    401: AuthenticationError,
    403: PermissionDenied,
    404: NotFound,
    405: InvalidRequest,
    406: InvalidRequest,
    409: Conflict,
    410: NotFound,
    422: InvalidRequest,
    429: RateLimited,
}


def error_class_for(status: int, category: str | None = None) -> type[APIError]:
    """The one place an HTTP status (or a plugin-named category) picks an error class."""
    if category is not None and category in CATEGORIES:
        return CATEGORIES[category]
    # An unknown category (a plugin's typo) must not turn an error answer into a KeyError.
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status >= 500:
        return ServerError
    if 400 <= status < 500:
        return InvalidRequest
    return APIError
