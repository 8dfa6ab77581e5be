"""Shared machinery for backend emulators: a threaded local HTTP server for any WSGI app,
with latency and fault injection and request/connection counters.

A plugin's emulator is a WSGI app answering like the real API; wrap it with
:class:`EmulatorServer` to serve it on a loopback port (tests start it in-process on a
free port). Faults are injected in front of the app, so every emulator gets the same
knobs: ``latency_ms``, ``fault_rate`` (500/502/503 answers, 429 with ``Retry-After``,
dropped connections, an HTML error page) and counters.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import io
import random
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import unquote

from ..exceptions import ConfigurationError

__all__ = ["FAULT_KINDS", "EmulatorServer", "EmulatorStats", "FaultInjector", "WSGIApp"]

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

#: What a fault may be: a status answer, a 429 burst answer, a dropped connection or a
#: proxy's HTML page.
FAULT_KINDS: tuple[str, ...] = ("500", "502", "503", "429", "drop", "html")

HTML_ERROR_PAGE = (
    b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
    b"<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>"
)


@dataclass
class EmulatorStats:
    """Counters an emulator keeps: requests (by method and path), connections, faults."""

    requests: int = 0
    connections: int = 0
    faults: int = 0
    by_route: collections.Counter[str] = field(default_factory=collections.Counter)
    by_method: collections.Counter[str] = field(default_factory=collections.Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count_request(self, method: str, path: str) -> None:
        with self._lock:
            self.requests += 1
            self.by_method[method] += 1
            self.by_route[f"{method} {path}"] += 1

    def count_connection(self) -> None:
        with self._lock:
            self.connections += 1

    def count_fault(self) -> None:
        with self._lock:
            self.faults += 1

    def reset(self) -> None:
        with self._lock:
            self.requests = self.connections = self.faults = 0
            self.by_route.clear()
            self.by_method.clear()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": self.requests,
                "connections": self.connections,
                "faults": self.faults,
                "by_method": dict(self.by_method),
                "by_route": dict(self.by_route),
            }


class _DropConnection(Exception):
    pass


class FaultInjector:
    """WSGI middleware: counts requests, adds latency, and fails a share of them.

    ``fault_rate`` is the probability that a request fails instead of reaching the app;
    ``fault_kinds`` which failures to draw from; ``seed`` makes the draw repeatable.
    Faults answer *before* the app runs, so a faulted create never stores anything
    (except ``drop_after``, which drops the connection after the app has processed the
    request: the "timeout after the server saved it" case).
    """

    def __init__(
        self,
        app: WSGIApp,
        *,
        stats: EmulatorStats,
        latency_ms: float = 0,
        fault_rate: float = 0.0,
        fault_kinds: Sequence[str] = FAULT_KINDS,
        seed: int | None = None,
        retry_after: int = 1,
    ):
        unknown = set(fault_kinds) - set(FAULT_KINDS) - {"drop_after"}
        if unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}")
        if not 0.0 <= fault_rate <= 1.0:
            raise ValueError("fault_rate must be between 0 and 1")
        self.app = app
        self.stats = stats
        self.latency_ms = latency_ms
        self.fault_rate = fault_rate
        self.fault_kinds = tuple(fault_kinds)
        self.retry_after = retry_after
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        #: Faults queued for the next requests, whatever the rate (tests use it).
        self.scheduled: collections.deque[str] = collections.deque()

    def _draw(self) -> str | None:
        with self._rng_lock:
            if self.scheduled:
                return self.scheduled.popleft()
            if self.fault_rate and self._rng.random() < self.fault_rate:
                return self._rng.choice(self.fault_kinds)
        return None

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/")
        self.stats.count_request(method, path)
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)
        fault = self._draw()
        if fault is None:
            return self.app(environ, start_response)
        self.stats.count_fault()
        if fault == "drop":
            _drop(environ)
        if fault == "drop_after":
            body = b"".join(self.app(environ, lambda *a, **k: None))
            del body
            _drop(environ)
        if fault == "html":
            start_response(
                "502 Bad Gateway",
                [("Content-Type", "text/html"), ("Content-Length", str(len(HTML_ERROR_PAGE)))],
            )
            return [HTML_ERROR_PAGE]
        status = {
            "500": "500 Internal Server Error",
            "502": "502 Bad Gateway",
            "503": "503 Service Unavailable",
            "429": "429 Too Many Requests",
        }[fault]
        body = b'{"message": "emulated fault"}'
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        if fault == "429":
            headers.append(("Retry-After", str(self.retry_after)))
        start_response(status, headers)
        return [body]


def _drop(environ: dict[str, Any]) -> None:
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()
    raise _DropConnection()


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive, calling a WSGI app (werkzeug's dev server closes every
    connection, which would hide connection reuse from the counters)."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out as two writes; without TCP_NODELAY, Nagle holds the body
        # until the client's delayed ACK (~40 ms) on every keep-alive request but the first.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.emulator_stats.count_connection()

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _environ(self) -> dict[str, Any]:
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            # WSGI (PEP 3333): the path as latin-1 text of its bytes, as werkzeug expects.
            "PATH_INFO": unquote(path, encoding="latin-1"),
            "QUERY_STRING": query,
            "SERVER_NAME": self.server.server_address[0],
            "SERVER_PORT": str(self.server.server_address[1]),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0],
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(length),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": io.StringIO(),
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "werkzeug.socket": self.connection,
        }
        for key, value in self.headers.items():
            name = "HTTP_" + key.upper().replace("-", "_")
            if name not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                environ[name] = value
        return environ

    def _handle(self) -> None:
        environ = self._environ()
        started: list[Any] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            started[:] = [status, headers]
            return lambda data: None

        try:
            chunks = self.server.app(environ, start_response)
            body = b"".join(chunks)
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        except _DropConnection:
            self.close_connection = True
            return
        status, headers = started
        code, _, reason = status.partition(" ")
        self.send_response(int(code), reason)
        has_length = False
        for name, value in headers:
            if name.lower() == "content-length":
                has_length = True
                value = str(len(body))
            self.send_header(name, value)
        if not has_length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (ConnectionError, OSError):
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    #: The listen backlog. socketserver's default of 5 drops the connections a client
    #: with more workers opens at once (16 for a migration), which the client's kernel
    #: sends again a second later: a 1.1 s request no real API's server (nginx: 511)
    #: would cause.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: WSGIApp, stats: EmulatorStats):
        self.app = app
        self.emulator_stats = stats
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:  # quiet
        pass


class Running:
    """Start on entering a ``with`` block, stop on leaving it."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _bind(host: str, port: int, app: WSGIApp, stats: EmulatorStats) -> _Server:
    """The listening server, or a ConfigurationError that names the option to change
    (``emulate daftra --port 8001`` on a busy port, ``--port 99999``, an unknown host)."""
    if not 0 <= port <= 65535:
        raise ConfigurationError(f"port {port} is out of range (0-65535)", option="port")
    try:
        return _Server((host, port), app, stats)
    except socket.gaierror:
        raise ConfigurationError(
            f"cannot listen on {host!r}: no such address", option="host"
        ) from None
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            reason = "the port is in use (another emulator?); pick another, or 0 for a free one"
        elif exc.errno == errno.EACCES:
            reason = "permission denied (ports below 1024 need privileges); pick another"
        elif exc.errno == errno.EADDRNOTAVAIL:
            raise ConfigurationError(
                f"cannot listen on {host}: not an address of this machine", option="host"
            ) from None
        else:
            reason = exc.strerror or type(exc).__name__
        raise ConfigurationError(
            f"cannot listen on {host}:{port}: {reason}", option="port"
        ) from None


class EmulatorServer(Running):
    """Serve a WSGI app on a loopback port in a background thread.

    ``api_path`` is the API root under the server (``/api2``, ``/api``); ``base_url``
    joins them. Use as a context manager, or call :meth:`start` and :meth:`stop`;
    :meth:`serve_forever` runs in the foreground.
    """

    def __init__(
        self,
        app: WSGIApp,
        *,
        api_path: str = "",
        host: str = "127.0.0.1",
        port: int = 0,
        latency_ms: float = 0,
        fault_rate: float = 0.0,
        fault_kinds: Sequence[str] = FAULT_KINDS,
        seed: int | None = None,
    ):
        self.stats = EmulatorStats()
        self.faults = FaultInjector(
            app,
            stats=self.stats,
            latency_ms=latency_ms,
            fault_rate=fault_rate,
            fault_kinds=fault_kinds,
            seed=seed,
        )
        self.app = app
        self.api_path = api_path.rstrip("/")
        self.host = host
        self._server = _bind(host, port, self.faults, self.stats)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.root_url + self.api_path

    def start(self) -> Self:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"emulator:{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        try:
            self._server.serve_forever(poll_interval=0.2)
        finally:
            self._server.server_close()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()
