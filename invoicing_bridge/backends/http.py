"""The HTTP layer shared by every HTTP backend.

One :class:`requests.Session` per backend instance (connection reuse), default timeouts,
a User-Agent naming the library and backend, the one retry policy (:meth:`HTTPClient.request`:
capped exponential backoff with jitter, ``Retry-After`` honoured, driven by the errors'
``transient`` and ``may_have_landed``), an optional request-rate limit, and every failure
turned into one exception from :mod:`invoicing_bridge.exceptions`, built in one place
(:meth:`HTTPClient._error`). Secrets never reach a log record, an exception or a repr: every
text leaving this module passes through :meth:`Redactor.redact`.

JSON both ways with exact decimals: :func:`loads_json` parses every answer once (a
non-integer number becomes a :class:`~decimal.Decimal`), :func:`dumps_json` writes every
``json_body`` (a ``Decimal`` becomes a JSON number with exactly its digits).
"""

from __future__ import annotations

import contextlib
import email.utils
import heapq
import itertools
import json
import logging
import os
import random
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any
from urllib.parse import unquote, urlsplit

import requests
from marshmallow import fields, validate
from requests.adapters import HTTPAdapter
from urllib3 import connection as urllib3_connection
from urllib3 import connectionpool as urllib3_pool
from urllib3.exceptions import ReadTimeoutError

from .. import __version__
from ..exceptions import (
    SAFE_METHODS,
    APIError,
    AuthenticationError,
    BackendError,
    ConfigurationError,
    InvalidRequest,
    NotFound,
    RateLimited,
    TransportError,
    error_class_for,
)

# The redactor lives in ..redaction (the command line uses it without requests); these
# names stay importable from here.
from ..redaction import MASK, MIN_SECRET_LENGTH, SECRET_HEADERS, Redactor
from .base import InvoicingBackend, OptionsSchema
from .streaming import JSONArrayStream, starts_array

__all__ = [
    "MASK",
    "MIN_SECRET_LENGTH",
    "SECRET_HEADERS",
    "ErrorInfo",
    "HTTPBackend",
    "HTTPClient",
    "HTTPOptions",
    "HTTPResponse",
    "RateLimiter",
    "Redactor",
    "RetryPolicy",
    "dumps_json",
    "loads_json",
    "parse_rate_limit_reset",
    "parse_retry_after",
]

log = logging.getLogger("invoicing_bridge.http")

#: Methods whose repetition changes nothing: retried even when they may have landed.
IDEMPOTENT = SAFE_METHODS | {"PUT", "DELETE"}
#: The largest answer read by default (``max_response_bytes``): far above any real page.
DEFAULT_MAX_RESPONSE_BYTES = 50 * 1024 * 1024
#: The longest one attempt may take by default, headers and body (``request_deadline``).
DEFAULT_REQUEST_DEADLINE = 120.0
#: The largest answer spooled for a streamed array (``stream_array``), in bytes: it is
#: kept in a temporary file, not in memory, and read one element at a time.
DEFAULT_MAX_SPOOLED_BYTES = 4 * 1024 * 1024 * 1024
#: A spooled answer stays in memory up to this size, then moves to a temporary file.
_SPOOL_IN_MEMORY = 1024 * 1024
_CHUNK = 64 * 1024


@dataclass
class ErrorInfo:
    """What a plugin's body parser found in an error answer.

    ``category`` overrides the status-based class for answers whose status lies
    (a key from :data:`invoicing_bridge.exceptions.CATEGORIES`).
    """

    message: str | None = None
    field_errors: dict[str, Any] = field(default_factory=dict)
    category: str | None = None
    code: Any = None


#: A plugin hook: ``(status, parsed_json_or_None, text) -> ErrorInfo | None``. Called for
#: every answer; returning an ErrorInfo for a 2xx answer makes it an error (Daftra's
#: ``result: failed``, Perfex's ``status: false``).
ErrorParser = Callable[[int, Any, str], ErrorInfo | None]


@dataclass
class HTTPResponse:
    """A successful answer. ``data`` is the body parsed once, by :func:`loads_json` (None
    when the body is empty, or not JSON with ``expect_json=False``): read it, never parse
    ``text`` again. ``text`` is the body as received, for answers that are not JSON.

    With ``stream_array=True`` a JSON array answer's ``data`` is a
    :class:`~invoicing_bridge.backends.streaming.JSONArrayStream` (iterate it once) and
    ``text`` is empty."""

    status_code: int
    headers: Mapping[str, str]
    data: Any
    text: str


@dataclass
class RetryPolicy:
    """How often and how long to wait: ``max_retries`` more attempts after the first.

    Which failures are retried is not a setting: it follows from each error's
    ``transient`` and ``may_have_landed`` (see :meth:`HTTPClient.request`).
    """

    max_retries: int = 3
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    max_retry_after: float = 120.0

    def backoff(self, attempt: int) -> float:
        """Capped exponential backoff with jitter (between half and all of the step)."""
        step = min(self.backoff_cap, self.backoff_base * (2**attempt))
        return random.uniform(step / 2, step)


#: The deepest nesting of arrays and objects accepted in an answer. Real answers nest a
#: handful of levels; a hostile one nested thousands deep would raise RecursionError in
#: whatever walks it next (the raw-payload freeze, marshmallow, the redactor, printing).
MAX_JSON_DEPTH = 100


def loads_json(text: str | bytes) -> Any:
    """Parse JSON; a non-integer number becomes a ``Decimal`` with its digits kept.

    The HTTP layer parses every answer with it (once: :attr:`HTTPResponse.data`).
    ``NaN``, ``Infinity`` and ``-Infinity`` (not JSON, but what PHP and Python may write)
    become the Decimal of that name, for the fields to refuse by name. Raises
    ``ValueError`` for text that is not JSON or nests deeper than :data:`MAX_JSON_DEPTH`.
    """
    try:
        # Money is Decimal end to end: a JSON number never becomes a float.
        value = json.loads(text, parse_float=Decimal, parse_constant=Decimal)
    except RecursionError:
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    if isinstance(text, bytes):
        opened = text.count(b"[") + text.count(b"{")
    else:
        opened = text.count("[") + text.count("{")
    if opened > MAX_JSON_DEPTH and _too_deep(value, MAX_JSON_DEPTH):
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return value


def _too_deep(value: Any, limit: int) -> bool:
    """Whether ``value`` nests lists and dicts more than ``limit`` levels (no recursion)."""
    if not isinstance(value, dict | list):
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def dumps_json(value: Any) -> str:
    """Compact JSON in which a ``Decimal`` is a JSON number with exactly its digits.

    ``Decimal("1500.0000")`` is written ``1500.0000``, never through a float and never with
    an exponent (``Decimal("1E+2")`` is written ``100``: servers read exponents as floats).
    Writes mappings (keys str or int), lists and tuples, str, int, bool, None and Decimal;
    text stays UTF-8 (no ``\\u`` escapes but the ones JSON needs).

    Raises ``ValueError`` for a NaN or infinite Decimal and ``TypeError`` for anything else,
    a float included (money is Decimal; a float near it is a bug); both name where in the
    value the culprit is.
    """
    parts: list[str] = []
    _write_json(value, parts, "$")
    return "".join(parts)


def _write_json(value: Any, out: list[str], where: str) -> None:
    # bool before int (a bool is an int); str, int and None through json itself.
    if value is None or isinstance(value, bool | str):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{where}: {value} cannot be written as a JSON number")
        out.append(format(value, "f"))
    elif isinstance(value, int):
        out.append(int.__repr__(value))  # an IntEnum as its number, like json does
    elif isinstance(value, Mapping):
        out.append("{")
        for index, (key, item) in enumerate(value.items()):
            if isinstance(key, bool) or not isinstance(key, str | int):
                raise TypeError(f"{where}: a JSON object key must be str or int, not {key!r}")
            name = key if isinstance(key, str) else int.__repr__(key)
            if index:
                out.append(",")
            out.append(json.dumps(name, ensure_ascii=False))
            out.append(":")
            _write_json(item, out, f"{where}.{name}")
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write_json(item, out, f"{where}[{index}]")
        out.append("]")
    elif isinstance(value, float):
        raise TypeError(f"{where}: float {value!r} is not written near money; pass a Decimal")
    else:
        raise TypeError(f"{where}: {type(value).__name__} is not JSON serialisable")


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def parse_rate_limit_reset(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from an ``X-RateLimit-Reset`` header, for a 429 without
    ``Retry-After`` (Perfex 3.x): a unix time (what Perfex sends), or delta-seconds when
    the number is too small to be one."""
    if not value:
        return None
    try:
        reset = float(value.strip())
    except ValueError:
        return None
    if reset < 1_000_000_000:  # not a unix time (2001 or later): a delta
        return max(0.0, reset)
    current = time.time() if now is None else now
    return max(0.0, reset - current)


class RateLimiter:
    """At most ``rate`` requests per second across threads (evenly spaced)."""

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Wait for the next slot; return how long we waited."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        wait = slot - now
        if wait > 0:
            self._sleep(wait)
        return wait


# --------------------------------------------------------------------------- deadlines
# A socket timeout bounds each wait for a byte, not the whole answer: a server sending one
# byte every few seconds never trips it. Each attempt therefore gets a total deadline; when
# it passes, a watchdog thread shuts the connection's socket, which ends whatever read is
# blocked on it (headers or body), and the attempt fails with a TransportError.


class _Deadline:
    """The total deadline of one attempt, and the connection it guards."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.expired = False
        self.done = False
        self._conn: Any = None
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    def attach(self, conn: Any) -> None:
        with self._lock:
            self._conn = conn
            if self.expired:
                self._shut()

    def hold(self, sock: socket.socket | None) -> None:
        """Keep the socket itself: on ``Connection: close`` http.client hands it to the
        response and forgets it (``conn.sock`` becomes None) before the body is read."""
        with self._lock:
            self._sock = sock
            if self.expired:
                self._shut()

    def expire(self) -> None:
        with self._lock:
            if self.done:
                return
            self.expired = True
            self._shut()

    def _shut(self) -> None:
        sock = getattr(self._conn, "sock", None) or self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def check(self) -> None:
        """Mark the deadline passed when it has (for reads no socket shutdown reached)."""
        if time.monotonic() >= self.at:
            self.expire()


class _Watchdog:
    """One daemon thread expiring the deadlines of every client, soonest first."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Deadline]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, deadline: _Deadline) -> None:
        with self._cond:
            # The thread sleeps until the soonest deadline: it needs waking only when this
            # one is sooner (waking it for every request cost a thread switch each).
            sooner = not self._heap or deadline.at < self._heap[0][0]
            heapq.heappush(self._heap, (deadline.at, next(self._seq), deadline))
            if len(self._heap) > 1024:  # finished deadlines wait for their time: drop them
                self._heap = [entry for entry in self._heap if not entry[2].done]
                heapq.heapify(self._heap)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="invoicing-bridge-deadlines", daemon=True
                )
                self._thread.start()
            if sooner:
                self._cond.notify()

    def _run(self) -> None:
        with self._cond:
            while True:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)[2].expire()


_WATCHDOG = _Watchdog()
_CURRENT = threading.local()


@contextlib.contextmanager
def _guarded(seconds: float | None) -> Iterator[_Deadline | None]:
    """Run the block under a total deadline (None: no deadline)."""
    if seconds is None:
        yield None
        return
    deadline = _Deadline(seconds)
    _WATCHDOG.watch(deadline)
    previous = getattr(_CURRENT, "deadline", None)
    _CURRENT.deadline = deadline
    try:
        yield deadline
    finally:
        with deadline._lock:
            deadline.done = True
        _CURRENT.deadline = previous


class _WatchedHTTPConnection(urllib3_connection.HTTPConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        deadline = getattr(_CURRENT, "deadline", None)
        if deadline is not None:
            deadline.attach(self)
        super().request(*args, **kwargs)

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        deadline = getattr(_CURRENT, "deadline", None)
        if deadline is not None:
            deadline.hold(self.sock)
        return super().getresponse(*args, **kwargs)


class _WatchedHTTPSConnection(urllib3_connection.HTTPSConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        deadline = getattr(_CURRENT, "deadline", None)
        if deadline is not None:
            deadline.attach(self)
        super().request(*args, **kwargs)

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        deadline = getattr(_CURRENT, "deadline", None)
        if deadline is not None:
            deadline.hold(self.sock)
        return super().getresponse(*args, **kwargs)


class _WatchedHTTPPool(urllib3_pool.HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(urllib3_pool.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _BoundedAdapter(HTTPAdapter):
    """An adapter whose connections the per-attempt deadline can cut."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _WatchedHTTPPool,
            "https": _WatchedHTTPSPool,
        }


class _Environment:
    """What requests reads from the environment, read once instead of on every request.

    With ``trust_env`` (its default) a :class:`requests.Session` reads, for every request,
    the proxy variables (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``, ``NO_PROXY``, any
    case), the CA bundle (``REQUESTS_CA_BUNDLE``, then ``CURL_CA_BUNDLE``) and the
    ``.netrc`` file (``NETRC``, ``~/.netrc``): a walk of ``os.environ`` and a few ``stat``
    calls, a fifth of the CPU a loopback request costs. Here the CA bundle is read when the
    session is made and the proxies and netrc credentials of an origin the first time it
    is asked for (the home origin when the session is made), through requests' own
    functions, so they are what requests would have found; a later change to the
    environment is not seen by a session made before it.
    """

    #: Origins remembered (a client talks to one or two: its API, an OAuth endpoint).
    MAX_ORIGINS = 64

    def __init__(self) -> None:
        self.verify: str | None = (
            os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or None
        )
        self._origins: dict[str, tuple[dict[str, str], tuple[str, str] | None]] = {}
        self._lock = threading.Lock()

    def _origin(self, url: str) -> tuple[dict[str, str], tuple[str, str] | None]:
        # "scheme://host:port", the part of the URL both answers depend on.
        key = "/".join(url.split("/", 3)[:3]).lower()
        found = self._origins.get(key)
        if found is None:
            proxies = requests.utils.get_environ_proxies(url, no_proxy=None)
            found = (dict(proxies), requests.utils.get_netrc_auth(url))
            with self._lock:
                if len(self._origins) >= self.MAX_ORIGINS:
                    self._origins.clear()
                self._origins[key] = found
        return found

    def proxies(self, url: str) -> dict[str, str]:
        """The proxies the environment gives ``url`` (none when ``NO_PROXY`` covers it)."""
        return self._origin(url)[0]

    def netrc(self, url: str) -> tuple[str, str] | None:
        """The ``.netrc`` credentials for ``url``'s host, if any."""
        return self._origin(url)[1]


class _GuardedSession(requests.Session):
    """A session that sends credentials to its home origin only, and reads the
    environment once.

    requests strips ``Authorization`` on a redirect to another host, but not custom
    headers: ``apikey`` (Daftra) and ``authtoken`` (Perfex) would follow a redirect
    anywhere. Here every credential header (:data:`SECRET_HEADERS`) is removed from a
    request to any origin other than ``home`` (another host, port or scheme; http to
    https on the same host and default ports stays home, as requests allows): on a
    redirect, and on an absolute URL given as the path.

    The proxies, CA bundle and ``.netrc`` credentials come from the environment as
    requests would take them (``trust_env``), but through an :class:`_Environment` read
    once: requests' own reading is turned off (``trust_env`` False) and the settings it
    would have found are handed to it explicitly, in the same places (request
    preparation, the per-request settings, redirects).
    """

    def __init__(self, home: str) -> None:
        super().__init__()
        self.home = home
        self.environment: _Environment | None = _Environment()
        self.environment.proxies(home)
        self.trust_env = False

    def _strip_credentials(self, request: requests.PreparedRequest) -> None:
        if request.url and self.should_strip_auth(self.home, request.url):  # type: ignore[no-untyped-call]
            for name in [name for name in request.headers if name.lower() in SECRET_HEADERS]:
                del request.headers[name]

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        env = self.environment
        if env is not None and not request.auth and not self.auth and request.url:
            request.auth = env.netrc(str(request.url))
        prepared = super().prepare_request(request)
        self._strip_credentials(prepared)
        return prepared

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:
        env = self.environment
        if env is not None and isinstance(url, str):
            # What requests does with trust_env: the environment's proxies under the
            # request's own, and the CA bundle when verification is on but names none.
            if proxies is not None:
                no_proxy = proxies.get("no_proxy")
                found = (
                    env.proxies(url)
                    if no_proxy is None
                    else requests.utils.get_environ_proxies(url, no_proxy=no_proxy)
                )
                for key, value in found.items():
                    proxies.setdefault(key, value)
            if verify is True or verify is None:
                verify = env.verify or verify
        return super().merge_environment_settings(url, proxies, stream, verify, cert)

    def rebuild_proxies(
        self, prepared_request: requests.PreparedRequest, proxies: dict[str, str] | None
    ) -> dict[str, str]:
        env = self.environment
        url = prepared_request.url
        if env is not None and url:
            # A redirect: the new URL's proxy from the environment, unless NO_PROXY
            # covers it (requests' resolve_proxies with trust_env).
            found = env.proxies(url)
            scheme = urlsplit(url).scheme
            proxy = found.get(scheme, found.get("all"))
            if proxy:
                proxies = dict(proxies or {})
                proxies.setdefault(scheme, proxy)
        rebuilt: dict[str, str] = super().rebuild_proxies(prepared_request, proxies)  # type: ignore[no-untyped-call]
        return rebuilt

    def rebuild_auth(
        self, prepared_request: requests.PreparedRequest, response: requests.Response
    ) -> None:
        super().rebuild_auth(prepared_request, response)  # type: ignore[no-untyped-call]
        env = self.environment
        if env is not None and prepared_request.url:
            # .netrc may hold credentials for the new host (requests, with trust_env).
            found = env.netrc(prepared_request.url)
            if found is not None:
                prepared_request.prepare_auth(found)
        self._strip_credentials(prepared_request)


class HTTPClient:
    """The HTTP conversation of one backend instance.

    ``headers`` carry the authentication (their values are registered as secrets);
    ``error_parser`` is the plugin's hook for its error bodies.

    Every answer is bounded: a body larger than ``max_response_bytes`` (decoded) is not
    read past the limit, and an attempt that has not received its whole answer within
    ``request_deadline`` seconds is cut, however steadily the server trickles bytes (the
    socket's ``read_timeout`` only bounds each wait for a byte). None lifts a bound.
    """

    def __init__(
        self,
        *,
        backend: str,
        base_url: str,
        headers: Mapping[str, str] | None = None,
        secrets: Iterable[str | None] = (),
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        rate_limit: float | None = None,
        pool_size: int = 16,
        error_parser: ErrorParser | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_response_bytes: int | None = DEFAULT_MAX_RESPONSE_BYTES,
        request_deadline: float | None = DEFAULT_REQUEST_DEADLINE,
        credentials: Iterable[str] = (),
        max_spooled_bytes: int | None = DEFAULT_MAX_SPOOLED_BYTES,
    ):
        self.backend = backend
        #: The config profile the backend was opened from (errors name it), or None.
        self.profile: str | None = None
        #: The option names of the credentials sent (``token``): a refusal names them.
        self.credentials = tuple(credentials)
        self.base_url = base_url.rstrip("/")
        self.timeout = (connect_timeout, read_timeout)
        self.max_response_bytes = max_response_bytes
        self.max_spooled_bytes = max_spooled_bytes
        self.request_deadline = request_deadline
        self.retry = retry or RetryPolicy()
        self.rate_limiter = RateLimiter(rate_limit, sleep=sleep) if rate_limit else None
        self.error_parser = error_parser
        self.redactor = Redactor(secrets)
        # A password in the URL (https://user:password@host) is a secret like a token.
        password = urlsplit(self.base_url).password
        if password:
            self.redactor.add(password)
            self.redactor.add(unquote(password))
        self._sleep = sleep
        self._count_lock = threading.Lock()
        self.request_count = 0
        self.session = _GuardedSession(self.base_url)
        adapter = _BoundedAdapter(pool_connections=4, pool_maxsize=max(pool_size, 4))
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update(
            {
                "User-Agent": f"invoicing-bridge/{__version__} ({backend})",
                "Accept": "application/json",
            }
        )
        for name, value in (headers or {}).items():
            self.set_header(name, value)

    def __repr__(self) -> str:
        shown = self.redactor.redact(self.base_url)
        return f"HTTPClient(backend={self.backend!r}, base_url={shown!r})"

    def set_header(self, name: str, value: str | None) -> None:
        """Set (or with None, remove) a session header; its value becomes a secret when the
        header is one of the authentication headers."""
        if value is None:
            self.session.headers.pop(name, None)
            return
        self._header_secret(name, value)
        self.session.headers[name] = value

    def _header_secret(self, name: str, value: str) -> None:
        if name.lower() in SECRET_HEADERS:
            self.redactor.add(value)
            if " " in value:  # "Bearer <token>": the token alone is secret too
                self.redactor.add(value.split(" ", 1)[1])

    def add_secret(self, secret: str | None) -> None:
        self.redactor.add(secret)

    def close(self) -> None:
        self.session.close()

    # ----------------------------------------------------------------- requests

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def get(self, path: str, **kw: Any) -> HTTPResponse:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> HTTPResponse:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> HTTPResponse:
        return self.request("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> HTTPResponse:
        return self.request("DELETE", path, **kw)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        expect_json: bool = True,
        allow_empty: bool = False,
        retry: bool | None = None,
        stream_array: bool = False,
    ) -> HTTPResponse:
        """Send one request, retrying when that is safe; return the parsed answer.

        The one retry rule: a failure is tried again when it is ``transient`` and either
        the request is idempotent or it cannot have landed (``may_have_landed`` False),
        at most ``max_retries`` times. So a read survives connection failures, timeouts,
        429, 500, 502, 503 and 504; a POST is tried again only when nothing was sent
        (connection refused) or on 429. A POST that may have landed is never repeated
        here: the caller, who knows what it was creating, finds out whether it landed.

        ``retry``: whether repeating the request is harmless (idempotent); None decides
        by the method (GET, HEAD, OPTIONS, PUT, DELETE). ``json_body`` is written by
        :func:`dumps_json` (``Content-Type: application/json``); ``data`` is sent as is.
        ``allow_empty``: a 2xx with an empty body is accepted (``data`` None).

        ``stream_array``: a 2xx answer is downloaded into a temporary file (at most
        ``max_spooled_bytes``) and, when it is a JSON array, ``data`` is a
        :class:`~invoicing_bridge.backends.streaming.JSONArrayStream` that decodes its
        elements one at a time (each at most ``max_response_bytes``), so a list sent in
        one answer costs the memory of one element. Such an answer is not shown to the
        ``error_parser`` (an error body is never a bare array); any other answer is read
        as without the flag. Iterating the stream raises TransportError for a body that is
        not one whole JSON array.

        Raises :class:`TransportError` or an :class:`APIError` subclass.
        """
        method = method.upper()
        idempotent = method in IDEMPOTENT if retry is None else retry
        for name, value in (headers or {}).items():
            self._header_secret(name, value)  # per-request credentials are secret too
        attempt = 0
        while True:
            try:
                return self._once(
                    method,
                    path,
                    params,
                    json_body,
                    data,
                    headers,
                    expect_json,
                    allow_empty,
                    stream_array,
                )
            except BackendError as exc:
                wait = self._retry_wait(exc, attempt, idempotent)
                if wait is None:
                    raise
                said = exc.hint or exc.message
                log.warning(
                    "%s %s %s failed (%s); retry %d/%d in %.2fs",
                    self.backend if self.profile is None else f"{self.backend} ({self.profile})",
                    method,
                    self.redactor.redact(path),
                    said if exc.status_code is None else f"HTTP {exc.status_code}",
                    attempt + 1,
                    self.retry.max_retries,
                    wait,
                )
                self._sleep(wait)
                attempt += 1

    def _retry_wait(self, exc: BackendError, attempt: int, idempotent: bool) -> float | None:
        """Seconds to wait before the next try, or None to raise ``exc`` now."""
        if attempt >= self.retry.max_retries or not exc.transient:
            return None
        if exc.may_have_landed and not idempotent:
            return None
        # Retry-After comes with 429 and with 503 (RFC 9110 §10.2.3): honour it for both.
        retry_after = exc.retry_after if isinstance(exc, APIError) else None
        if retry_after is not None:
            if retry_after > self.retry.max_retry_after:
                return None
            return retry_after
        return self.retry.backoff(attempt)

    def _once(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json_body: Any,
        data: Any,
        headers: Mapping[str, str] | None,
        expect_json: bool,
        allow_empty: bool,
        stream_array: bool = False,
    ) -> HTTPResponse:
        if self.rate_limiter is not None:
            self.rate_limiter.acquire()
        shown = self.redactor.redact(path)
        with self._count_lock:
            self.request_count += 1
        if json_body is not None:
            data = dumps_json(json_body).encode("utf-8")
            headers = {"Content-Type": "application/json", **(headers or {})}
        started = time.perf_counter()
        spooled: IO[bytes] | None = None
        with _guarded(self.request_deadline) as deadline:
            response = self._send(method, path, params, data, headers, deadline)
            try:
                if stream_array and 200 <= response.status_code < 300:
                    spooled = self._spool_body(response, method, path, deadline)
                    text = ""
                else:
                    text = self._read_body(response, method, path, deadline)
            finally:
                response.close()
        elapsed = (time.perf_counter() - started) * 1000
        log.debug(
            "%s %s %s -> %d (%.0f ms)", self.backend, method, shown, response.status_code, elapsed
        )
        if spooled is not None:
            array = self._array_stream(spooled, response, method, path)
            if array is not None:
                return HTTPResponse(response.status_code, response.headers, array, "")
            text = response.text
        parsed: Any = None
        is_json = False
        json_error: str | None = None
        if text.strip():
            try:
                parsed = loads_json(text)
                is_json = True
            except ValueError as exc:
                json_error = str(exc).splitlines()[0][:120]
        info = self.error_parser(response.status_code, parsed, text) if self.error_parser else None
        ok = 200 <= response.status_code < 300
        if not ok or info is not None:
            raise self._error(method, path, response, parsed if is_json else None, text, info)
        if expect_json and not is_json:
            if not text.strip() and allow_empty:
                return HTTPResponse(response.status_code, response.headers, None, text)
            what = "an empty body" if not text.strip() else _describe_non_json(response, text)
            if json_error and "json" in response.headers.get("Content-Type", "").lower():
                what = f"{what}: {json_error}"  # JSON it claims to be, and is not
            # Seen live (Daftra notes, AIZEN): a proxy or captive portal answers 2xx with
            # HTML now and then. The error's transient / may_have_landed say what that means
            # for a read and for a write.
            raise self._transport(
                f"expected JSON, got {what}",
                method,
                path,
                status_code=response.status_code,
                details={"body": self._excerpt(text)},
            )
        return HTTPResponse(response.status_code, response.headers, parsed, text)

    def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        data: Any,
        headers: Mapping[str, str] | None,
        deadline: _Deadline | None,
    ) -> requests.Response:
        """Send the request and read the status line and headers (the body is streamed)."""
        try:
            return self.session.request(
                method,
                self.url(path),
                params=params,
                data=data,
                headers=headers,
                timeout=self.timeout,
                stream=True,
            )
        except _UNREQUESTABLE as exc:
            # A URL or header that cannot be sent at all: nothing left, and nothing changes
            # by asking again.
            raise self._transport(
                f"cannot send the request: {type(exc).__name__}",
                method,
                path,
                request_sent=False,
                retryable=False,
            ) from None
        except requests.RequestException as exc:
            if deadline is not None and deadline.expired:
                raise self._past_deadline(method, path, deadline) from None
            sent = not _never_sent(exc)
            where = _host_port(self.url(path))
            if isinstance(exc, requests.ConnectTimeout):
                what, hint = "timed out connecting", f"cannot connect to {where}"
            elif isinstance(exc, requests.Timeout):
                read = self.timeout[1]
                what = "timed out"
                hint = f"{where} did not answer within {read:g} s (read_timeout)"
            elif isinstance(exc, requests.exceptions.ProxyError):
                # Said as such: "connection failed: ProxyError" named neither the proxy
                # nor where it was set.
                proxy = self._proxy_for(self.url(path))
                what = "proxy error"
                hint = (
                    f"cannot reach {where} through the proxy {proxy} (set in the "
                    "environment: HTTPS_PROXY, HTTP_PROXY or ALL_PROXY; NO_PROXY to bypass)"
                )
            elif sent:
                what, hint = f"connection failed: {_reason(exc)}", f"connection to {where} failed"
            else:
                what, hint = _reason(exc), f"cannot connect to {where}"
            raise self._transport(what, method, path, request_sent=sent, hint=hint) from None
        except OSError as exc:
            # requests checks the CA bundle when it sends to https; a path that does not
            # exist was a bare OSError naming neither the backend nor where the path
            # came from (the environment, read once by _Environment).
            env = getattr(self.session, "environment", None)
            bundle = getattr(env, "verify", None)
            if bundle is None or "CA certificate bundle" not in str(exc):
                raise
            variable = next(
                (v for v in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE") if os.environ.get(v)),
                "REQUESTS_CA_BUNDLE",
            )
            raise ConfigurationError(
                f"{self.backend}: the CA bundle {bundle!r} set in the environment "
                f"variable {variable} cannot be read (it verifies {_host_port(self.url(path))}'s "
                "certificate); fix or unset the variable",
                profile=self.profile,
            ) from None

    def _proxy_for(self, url: str) -> str:
        """``host:port`` of the environment's proxy for ``url`` (never its credentials)."""
        env = getattr(self.session, "environment", None)
        found = env.proxies(url) if env is not None else {}
        proxy = found.get(urlsplit(url).scheme) or found.get("all") or ""
        parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname or "?")

    def _read_body(
        self,
        response: requests.Response,
        method: str,
        path: str,
        deadline: _Deadline | None,
    ) -> str:
        """The body as text, read in chunks: never past ``max_response_bytes`` (decoded),
        never past the deadline. Raises TransportError."""
        chunks: list[bytes] = []
        self._read_into(
            chunks.append, response, method, path, deadline, limit=self.max_response_bytes
        )
        response._content = b"".join(chunks)
        return response.text

    def _spool_body(
        self,
        response: requests.Response,
        method: str,
        path: str,
        deadline: _Deadline | None,
    ) -> IO[bytes]:
        """The body in a temporary file (in memory up to a megabyte), rewound: never past
        ``max_spooled_bytes``, never past the deadline. Raises TransportError."""
        spooled: IO[bytes] = tempfile.SpooledTemporaryFile(  # noqa: SIM115 (returned open)
            max_size=_SPOOL_IN_MEMORY, prefix="invoicing-bridge-"
        )
        try:
            self._read_into(
                spooled.write,
                response,
                method,
                path,
                deadline,
                limit=self.max_spooled_bytes,
                limit_name="max_spooled_bytes",
            )
        except BaseException:
            spooled.close()
            raise
        spooled.seek(0)
        return spooled

    def _array_stream(
        self, spooled: IO[bytes], response: requests.Response, method: str, path: str
    ) -> JSONArrayStream | None:
        """The spooled body as a :class:`JSONArrayStream` when it is a JSON array; else
        None, with the body moved into ``response`` (bounded like any answer) and the file
        closed. Raises TransportError for a body over ``max_response_bytes`` that is no
        array."""
        try:
            if starts_array(spooled):
                size = spooled.seek(0, 2)
                spooled.seek(0)
                status = response.status_code

                def fail(message: str) -> TransportError:
                    return self._transport(
                        f"expected JSON, got {message}",
                        method,
                        path,
                        status_code=status,
                        retryable=False,
                    )

                return JSONArrayStream(
                    spooled,
                    encoding=response.encoding or "utf-8",
                    fail=fail,
                    max_item_chars=self.max_response_bytes,
                    size=size,
                )
            size = spooled.seek(0, 2)
            if self.max_response_bytes is not None and size > self.max_response_bytes:
                raise self._too_large(method, path, response.status_code, "more sent")
            spooled.seek(0)
            response._content = spooled.read()
        except BaseException:
            spooled.close()
            raise
        spooled.close()
        return None

    def _read_into(
        self,
        write: Callable[[bytes], object],
        response: requests.Response,
        method: str,
        path: str,
        deadline: _Deadline | None,
        *,
        limit: int | None,
        limit_name: str = "max_response_bytes",
    ) -> int:
        """Hand the body to ``write`` in chunks; its size. ``limit`` (the option
        ``limit_name``) bounds it, the deadline bounds the time. Raises TransportError."""
        bound = limit
        status = response.status_code
        declared = (response.headers.get("Content-Length") or "").strip()
        if bound is not None and declared.isdigit() and int(declared) > bound:
            raise self._too_large(
                method, path, status, f"{declared} bytes announced", bound, limit_name
            )
        size = 0
        try:
            for chunk in response.iter_content(_CHUNK):
                size += len(chunk)
                if bound is not None and size > bound:
                    raise self._too_large(method, path, status, "more sent", bound, limit_name)
                write(chunk)
                if deadline is not None:
                    deadline.check()
                    if deadline.expired:
                        raise self._past_deadline(method, path, deadline)
        except requests.RequestException as exc:
            if deadline is not None and deadline.expired:
                raise self._past_deadline(method, path, deadline) from None
            if isinstance(exc.args[0] if exc.args else None, ReadTimeoutError):
                raise self._transport("timed out reading the body", method, path) from None
            raise self._transport("truncated response body", method, path) from None
        return size

    def _too_large(
        self,
        method: str,
        path: str,
        status: int,
        how: str,
        limit: int | None = None,
        limit_name: str = "max_response_bytes",
    ) -> TransportError:
        # The same request gets the same answer: not worth another try.
        bound = self.max_response_bytes if limit is None else limit
        return self._transport(
            f"answer larger than the {_size(bound or 0)} limit ({limit_name}; {how})",
            method,
            path,
            status_code=status,
            retryable=False,
        )

    def _past_deadline(self, method: str, path: str, deadline: _Deadline) -> TransportError:
        return self._transport(
            f"no complete answer within the {deadline.seconds:g} s deadline (request_deadline)",
            method,
            path,
        )

    # ----------------------------------------------------------------- errors

    def _transport(
        self,
        message: str,
        method: str,
        path: str,
        *,
        request_sent: bool = True,
        status_code: int | None = None,
        details: Any = None,
        retryable: bool | None = None,
        hint: str | None = None,
    ) -> TransportError:
        return TransportError(
            self.redactor.redact(message),
            backend=self.backend,
            method=method,
            path=self.redactor.redact(path),
            status_code=status_code,
            details=details,
            request_sent=request_sent,
            retryable=retryable,
            profile=self.profile,
            hint=None if hint is None else self.redactor.redact(hint),
        )

    def _excerpt(self, text: str, limit: int = 300) -> str:
        # Redact before cutting: a cut through a secret would leave a prefix no mask matches.
        return self.redactor.redact(text)[:limit]

    def _error(
        self,
        method: str,
        path: str,
        response: requests.Response,
        parsed: Any,
        text: str,
        info: ErrorInfo | None,
    ) -> APIError:
        """The one place an answer becomes an exception."""
        status = response.status_code
        info = info or ErrorInfo()
        cls = error_class_for(status, info.category)
        if parsed is not None:
            details = self.redactor.redact_data(parsed)
        else:
            details = {"body": self._excerpt(text)} if text.strip() else None
        message = info.message or _default_message(response, parsed, text)
        kwargs: dict[str, Any] = {
            "backend": self.backend,
            "method": method,
            "path": self.redactor.redact(path),
            "status_code": status,
            "details": details,
            "profile": self.profile,
        }
        if issubclass(cls, AuthenticationError) and self.credentials:
            kwargs["hint"] = refused_hint(self.credentials)
        if issubclass(cls, InvalidRequest):
            kwargs["field_errors"] = self.redactor.redact_data(info.field_errors)
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if retry_after is None and status == 429:
            retry_after = parse_rate_limit_reset(response.headers.get("X-RateLimit-Reset"))
        if issubclass(cls, RateLimited):
            kwargs["retry_after"] = retry_after
        error = cls(self.redactor.redact(message), **kwargs)
        error.retry_after = retry_after
        return error


#: requests' refusals to build a request at all (checked before anything is sent).
_UNREQUESTABLE = (
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidSchema,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidHeader,
    requests.exceptions.URLRequired,
)


def _size(count: int) -> str:
    """``52428800`` as ``"50 MB"`` (binary units, the way the option is usually set)."""
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:g} {unit}"
    return f"{count} bytes"


def refused_hint(credentials: Sequence[str]) -> str:
    """``the token was refused; check `token``` for the credential options sent."""
    names = ", ".join(f"`{name}`" for name in credentials)
    if len(credentials) == 1:
        noun = credentials[0].replace("_", " ").replace("api ", "API ")
        return f"the {noun} was refused; check {names}"
    return f"the credentials were refused; check {names}"


def _host_port(url: str) -> str:
    """``myshop.daftra.com:443`` of a URL (the scheme's port when none is written)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    return f"{parts.hostname or parts.netloc}:{port}"


def _reason(exc: requests.RequestException) -> str:
    """Why a connection failed, in words (the exception names are urllib3's)."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    kind = type(reason).__name__
    if kind == "NameResolutionError":
        return "host name not found"
    if kind == "NewConnectionError":
        text = str(reason).lower()
        return "connection refused" if "refused" in text else "host unreachable"
    if "RemoteDisconnected" in str(exc) or "reset" in str(exc).lower():
        return "connection dropped"
    return type(exc).__name__


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request certainly did not reach the server."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError) and exc.args:
        reason = getattr(exc.args[0], "reason", None)
        # urllib3's NewConnectionError: refused or unreachable before anything was sent.
        return type(reason).__name__ in {"NewConnectionError", "NameResolutionError"}
    return False


def _describe_non_json(response: requests.Response, text: str) -> str:
    ctype = response.headers.get("Content-Type", "unknown content type").split(";")[0]
    if "<html" in text[:500].lower() or ctype == "text/html":
        return f"an HTML page ({ctype})"
    return f"a non-JSON body ({ctype}, {len(text)} characters)"


def _default_message(response: requests.Response, parsed: Any, text: str) -> str:
    if isinstance(parsed, Mapping):
        for key in ("message", "error", "detail"):
            value = parsed.get(key)
            if isinstance(value, str) and value:
                return value
    if parsed is None and text.strip():
        return f"{response.reason or 'error'} ({_describe_non_json(response, text)})"
    return response.reason or "error"


class HTTPOptions(OptionsSchema):
    """Options every HTTP backend accepts (plugins extend this schema)."""

    base_url = fields.Url(require_tld=False, schemes={"http", "https"}, load_default=None)
    connect_timeout = fields.Float(
        load_default=5.0, validate=validate.Range(min=0, min_inclusive=False)
    )
    read_timeout = fields.Float(
        load_default=30.0, validate=validate.Range(min=0, min_inclusive=False)
    )
    max_retries = fields.Integer(load_default=3, validate=validate.Range(min=0, max=20))
    backoff_base = fields.Float(load_default=0.5, validate=validate.Range(min=0))
    backoff_cap = fields.Float(load_default=30.0, validate=validate.Range(min=0))
    #: Requests per second at most (None: no limit).
    rate_limit = fields.Float(
        load_default=None, allow_none=True, validate=validate.Range(min=0, min_inclusive=False)
    )
    pool_size = fields.Integer(load_default=16, validate=validate.Range(min=1, max=256))
    #: The largest answer read, in bytes (decoded); a larger one fails without being kept.
    max_response_bytes = fields.Integer(
        load_default=DEFAULT_MAX_RESPONSE_BYTES, validate=validate.Range(min=1)
    )
    #: The largest answer read row by row (``stream_array``: a list sent as one JSON
    #: array), in bytes; it is kept in a temporary file, not in memory.
    max_spooled_bytes = fields.Integer(
        load_default=DEFAULT_MAX_SPOOLED_BYTES, validate=validate.Range(min=1)
    )
    #: Seconds one attempt may take in all, headers and body, however slowly bytes arrive.
    request_deadline = fields.Float(
        load_default=DEFAULT_REQUEST_DEADLINE, validate=validate.Range(min=0, min_inclusive=False)
    )


class HTTPBackend(InvoicingBackend):
    """Base for backends that speak HTTP: builds the :class:`HTTPClient` from the options."""

    Options = HTTPOptions
    http: HTTPClient
    _clients: list[HTTPClient]

    @property
    def label(self) -> str:
        """``"<name>:<base URL>"``, the URL without credentials (no ``user:password@``,
        and every secret the client knows masked)."""
        http = getattr(self, "http", None)
        url = http.base_url if http is not None else self.options.get("base_url")
        if not url:
            return self.name
        netloc = urlsplit(url).netloc
        if "@" in netloc:
            url = url.replace(netloc, netloc.rpartition("@")[2], 1)
        return f"{self.name}:{http.redactor.redact(url) if http is not None else url}"

    def _make_http(
        self,
        *,
        base_url: str,
        headers: Mapping[str, str] | None = None,
        secrets: Iterable[str | None] = (),
        error_parser: ErrorParser | None = None,
    ) -> HTTPClient:
        o = self.options
        client = HTTPClient(
            backend=self.name,
            base_url=base_url,
            headers=headers,
            secrets=[*secrets, *(o.get(name) for name in self.secret_options())],
            connect_timeout=o["connect_timeout"],
            read_timeout=o["read_timeout"],
            retry=RetryPolicy(
                max_retries=o["max_retries"],
                backoff_base=o["backoff_base"],
                backoff_cap=o["backoff_cap"],
            ),
            rate_limit=o.get("rate_limit"),
            pool_size=o["pool_size"],
            error_parser=error_parser,
            max_response_bytes=o["max_response_bytes"],
            max_spooled_bytes=o["max_spooled_bytes"],
            request_deadline=o["request_deadline"],
            credentials=[name for name in sorted(self.secret_options()) if o.get(name)],
        )
        client.profile = self.profile
        self._clients = [*getattr(self, "_clients", []), client]
        return client

    @property
    def profile(self) -> str | None:
        """The config profile this backend was opened from; its errors name it."""
        return self.__dict__.get("_profile")

    @profile.setter
    def profile(self, name: str | None) -> None:
        self.__dict__["_profile"] = name
        for client in getattr(self, "_clients", []):
            client.profile = name

    def check(self) -> dict[str, Any]:
        """:meth:`InvoicingBackend.check`; an answer that is not the API's (a 404, an HTML
        page where JSON was due) says the base URL is not the API root, and names the
        option to fix (``base_url``, or what the backend builds it from)."""
        try:
            return super().check()
        except (NotFound, TransportError) as exc:
            if isinstance(exc, TransportError) and exc.status_code is None:
                raise  # no answer at all: the hint already names host and port
            http = getattr(self, "http", None)
            url = http.redactor.redact(http.base_url) if http is not None else "the base URL"
            options = [name for name in self.location_options if self.options.get(name)]
            fix = f"; check `{options[0]}`" if options else ""
            exc.hint = f"no API found at {url}{fix}"
            raise

    def close(self) -> None:
        http = getattr(self, "http", None)
        if http is not None:
            http.close()
