"""The only exception module: every error the library raises is an :class:`InvoicingBridgeError`.

::

    InvoicingBridgeError
    ├── ConfigurationError ── BackendNotFound
    ├── UnsupportedOperation
    ├── MappingError                 a payload that cannot become the model (.expected)
    ├── EInvoiceError                an invoice that cannot become an e-invoice (.invoice, .field)
    └── BackendError                 .backend, .status_code, .details; secrets redacted
        │                            .transient, .may_have_landed
        ├── TransportError           connection, timeout, non-JSON body; .request_sent
        └── APIError ── AuthenticationError, PermissionDenied, NotFound, Conflict,
                        InvalidRequest (.field_errors, .expected), RateLimited (.retry_after),
                        ServerError

A refusal that knows the value it wanted (the tax a backend computes itself, say) carries
it as data: ``expected``, a tuple of :class:`Expected` (field, expected, actual), read with
:meth:`MappingError.expected_value` / :meth:`InvalidRequest.expected_value`; nobody parses
an error's text for it.

Which HTTP status becomes which class is decided in one place: :func:`error_class_for`.
Whether a failure is worth another try (``transient``) and whether the request may have
been applied all the same (``may_have_landed``) is decided in one place too:
:func:`_assess`, read through the two properties of :class:`BackendError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "SAFE_METHODS",
    "APIError",
    "AuthenticationError",
    "BackendError",
    "BackendNotFound",
    "ConfigurationError",
    "Conflict",
    "EInvoiceError",
    "Expected",
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


#: Methods that only read: their answers are worth asking for again, and they apply nothing.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

#: 5xx statuses that say the request can never succeed as sent: 501 Not Implemented,
#: 505 HTTP Version Not Supported. Every other 5xx is a failure of the moment.
PERMANENT_SERVER_STATUSES = frozenset({501, 505})


#: The longest message an error keeps (a server may echo a page, or a value, in full).
MAX_MESSAGE = 1000


def one_line(text: str) -> str:
    """``text`` on one line: its lines joined by spaces (a server's message may end in a
    newline or hold an HTML page; an error is printed as one ``error:`` line), and cut
    at :data:`MAX_MESSAGE` characters."""
    if "\n" in text or "\r" in text:
        text = " ".join(part.strip() for part in text.splitlines() if part.strip())
    if len(text) > MAX_MESSAGE:
        text = f"{text[: MAX_MESSAGE - 40]}... ({len(text)} characters)"
    return text


@dataclass(frozen=True)
class Expected:
    """What a backend wanted in one field of a refused record: ``expected`` is the value it
    would accept (or compute itself), ``actual`` the value it was given (None: unknown).
    Values are as the backend compares them (Decimal money)."""

    field: str
    expected: Any
    actual: Any = None


def _expected_value(expected: tuple[Expected, ...], field: str) -> Any:
    for item in expected:
        if item.field == field:
            return item.expected
    return None


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
        expected: Iterable[Expected] = (),
    ):
        self.backend = backend
        self.field = field
        self.errors = dict(errors or {})
        self.expected = tuple(expected)
        message = one_line(message)
        parts = [backend] if backend else []
        if field:
            parts.append(f"field {field!r}")
        prefix = ": ".join(parts)
        super().__init__(f"{prefix}: {message}" if prefix else message)

    def expected_value(self, field: str) -> Any:
        """The value the backend wanted in ``field`` (None: it did not say)."""
        return _expected_value(getattr(self, "expected", ()), field)


class EInvoiceError(InvoicingBridgeError):
    """An invoice that cannot be written as an e-invoice (a draft, a missing buyer country,
    totals that do not add up), or e-invoice validation that cannot run.

    ``invoice`` is the invoice's number when known; ``field`` the offending field's path;
    ``reason`` the message without them.
    """

    def __init__(self, message: str, *, invoice: str | None = None, field: str | None = None):
        self.invoice = invoice
        self.field = field
        self.reason = message
        parts = [f"invoice {invoice}"] if invoice else []
        if field:
            parts.append(f"field {field!r}")
        prefix = ", ".join(parts)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class BackendError(InvoicingBridgeError):
    """A failed conversation with a backend.

    Attributes: ``backend`` (name), ``method`` and ``path`` of the request, ``status_code``
    (None when no response came), ``details`` (the parsed error body, secrets redacted) and
    ``message`` (what the backend said, or what went wrong). ``profile``: the config
    profile the backend was opened from, when it was (the HTTP layer fills it in).
    ``hint``: what to fix, in the user's words (``the token was refused; check `token```,
    ``cannot connect to myshop.daftra.com:443``); when there is one, the text leads with
    it and the request and the backend's own words follow in parentheses::

        perfex (profile crm): the token was refused; check `token` (GET common/payment_mode
        HTTP 404: Wrong number of segments)

    ``str()`` is computed when asked, so a hint or profile set after the error was raised
    (by :meth:`~invoicing_bridge.backends.base.InvoicingBackend.check`) shows.

    Two read-only verdicts, computed from the class, the status and (for a
    :class:`TransportError`) what was known about sending, in one place (:func:`_assess`):

    ``transient``
        Trying again later may succeed: connection failures, timeouts, 429, 5xx other
        than 501/505, a non-JSON 2xx answer to a read.
    ``may_have_landed``
        The server may have applied the request: it was sent and no answer proves that it
        was not processed. False for 429, 4xx, 501/505 and requests never sent.

    The HTTP layer repeats a request when ``transient and (idempotent or not
    may_have_landed)``. A write that failed with ``may_have_landed`` is the caller's to
    check (the migrate job looks in the target before creating again).
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
        profile: str | None = None,
        hint: str | None = None,
    ):
        self.message = one_line(message)
        self.backend = backend
        self.method = method
        self.path = path
        self.status_code = status_code
        self.details = details
        self.profile = profile
        self.hint = hint
        super().__init__(self._text())

    def __str__(self) -> str:
        return self._text()

    def _text(self) -> str:
        who = f"{self.backend} (profile {self.profile})" if self.profile else self.backend
        where = f"{self.method} {self.path}" if self.method and self.path else ""
        status = f"HTTP {self.status_code}" if self.status_code is not None else ""
        request = " ".join(part for part in (where, status) if part)
        if self.hint:
            said = f"{request}: {self.message}" if request else self.message
            return f"{who}: {self.hint} ({said})"
        head = " ".join(part for part in (who, request) if part)
        return f"{head}: {self.message}"

    @property
    def transient(self) -> bool:
        """Trying again later may succeed."""
        return _assess(self)[0]

    @property
    def may_have_landed(self) -> bool:
        """The server may have applied the request (sent, and not proven unprocessed)."""
        return _assess(self)[1]


class TransportError(BackendError):
    """No usable answer: connection refused or dropped, timeout, a non-JSON or truncated body.

    ``status_code`` is None when no complete answer came (refused, timed out, dropped,
    truncated), and the answer's status when one came with a body that is not JSON.
    ``request_sent`` is False only when the request certainly never reached the server
    (so even a create may be sent again): it is what ``may_have_landed`` says.
    ``retryable`` is the old name of ``transient``; pass ``retryable=False`` when the
    raiser knows that trying again cannot help (a URL that cannot be requested).
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool | None = None,
        request_sent: bool = True,
        **kwargs: Any,
    ):
        self._retryable = retryable
        self.request_sent = request_sent
        super().__init__(message, **kwargs)

    @property
    def retryable(self) -> bool:
        """Same as :attr:`transient` (kept for code written before it)."""
        return self.transient


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
    """400/422 (or a backend's equivalent): the request was refused; ``field_errors`` says why,
    ``expected`` (:class:`Expected`) what the backend wanted where it knows."""

    def __init__(
        self,
        message: str,
        *,
        field_errors: Mapping[str, Any] | None = None,
        expected: Iterable[Expected] = (),
        **kw: Any,
    ):
        self.field_errors = dict(field_errors or {})
        self.expected = tuple(expected)
        if self.field_errors:
            fields = "; ".join(f"{k}: {v}" for k, v in self.field_errors.items())
            message = f"{message} ({fields})"
        super().__init__(message, **kw)

    def expected_value(self, field: str) -> Any:
        """The value the backend wanted in ``field`` (None: it did not say)."""
        return _expected_value(getattr(self, "expected", ()), field)


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


def _assess(error: BackendError) -> tuple[bool, bool]:
    """``(transient, may_have_landed)`` of an error: the one place both are decided."""
    if isinstance(error, TransportError):
        if error._retryable is not None:
            transient = error._retryable
        elif error.status_code is None or error.method is None:
            # No complete answer (refused, timed out, dropped, truncated): a failure of
            # the moment, whatever the request.
            transient = True
        else:
            # A complete answer whose body is not JSON (a proxy's or captive portal's HTML
            # page with a 2xx). Asking again is worth it for a read. For a write the
            # answer, not the request, was lost: the 2xx says it most likely landed, so
            # repeating it is no cure; the caller checks whether it landed instead.
            transient = error.method.upper() in SAFE_METHODS
        return transient, error.request_sent
    if isinstance(error, RateLimited):
        # 429: the server refused to process it; the one answer that invites a retry.
        return True, False
    if isinstance(error, ServerError):
        if error.status_code in PERMANENT_SERVER_STATUSES:
            return False, False
        # 500, 502, 504 (and other 5xx): the failure may have come after the work was done,
        # or from a gateway that gave up waiting while the application went on. 503 counts
        # as landed too: RFC 9110 means "not processed", but gateways (Varnish's "backend
        # fetch failed", Heroku's H12, an ingress timing out) answer 503 for requests the
        # application received and may finish. A create must not be repeated blindly.
        return True, True
    if isinstance(error, APIError):
        # 4xx (and an error the server named in a 2xx or 3xx answer): the server looked at
        # the request and refused it; asking again unchanged gets the same answer.
        return False, False
    # A bare BackendError: the conversation failed in a way the library cannot classify
    # (an answer that lacks what the API promised). Not worth repeating; what the server
    # did is unknown, so it may have landed.
    return False, True
