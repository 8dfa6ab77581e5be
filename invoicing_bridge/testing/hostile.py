"""Misbehaving HTTP servers for tests: endless bodies, trickled bytes, lying lengths,
redirects elsewhere. Each runs on a loopback port in a thread of the test process.

::

    with HostileServer(endless_body()) as server:
        client = HTTPClient(backend="acme", base_url=server.base_url, max_response_bytes=1 << 20)
        with pytest.raises(TransportError):
            client.get("/invoices")

A *behaviour* is a callable ``(request, sock)`` that writes whatever it likes to the raw
socket (no HTTP library in the way, so it can break every rule); :class:`HostileServer`
parses the request line, the headers and a ``Content-Length`` body into a
:class:`Request`, records it (``server.requests``), and closes the connection when the
behaviour returns (one request per connection). A behaviour that loops should stop when
``server.stopping`` is set or the client goes away (a failed send).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

__all__ = [
    "Behaviour",
    "HostileServer",
    "Request",
    "announce_length",
    "answer",
    "drip",
    "endless_body",
    "redirect",
]


@dataclass
class Request:
    """One request as the hostile server read it (header names lower-cased)."""

    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


Behaviour = Callable[[Request, socket.socket, threading.Event], None]


class HostileServer:
    """A threaded TCP server answering every request with ``behaviour``.

    ``host`` is where it listens (``127.0.0.1``); ``base_url`` names it as ``url_host``
    (``"localhost"`` gives the same server under another host name).
    """

    def __init__(
        self, behaviour: Behaviour, *, host: str = "127.0.0.1", url_host: str | None = None
    ) -> None:
        self.behaviour = behaviour
        self.requests: list[Request] = []
        self.stopping = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, 0))
        self._listener.listen(16)
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self.base_url = f"http://{url_host or host}:{self.port}"
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._acceptor = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> Self:
        self._acceptor.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.stopping.set()
        if self._acceptor.is_alive():
            self._acceptor.join(5)
        self._listener.close()
        for thread in list(self._threads):
            thread.join(5)

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            request = _read_request(conn)
            if request is None:
                return
            with self._lock:
                self.requests.append(request)
            with contextlib.suppress(OSError):
                self.behaviour(request, conn, self.stopping)


def _read_request(conn: socket.socket) -> Request | None:
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = [*lines[0].split(" ", 2), "", ""][:3]
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length") or 0)
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
    except (OSError, ValueError):
        return None
    return Request(method, path, headers, body)


def _head(status: str, headers: Mapping[str, str]) -> bytes:
    # The server answers one request per connection and then closes it: say so, or a
    # client reusing the kept-alive connection (a redirect's second request) races the close.
    headers = {"Connection": "close", **headers}
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    return "\r\n".join(lines).encode("latin-1")


# --------------------------------------------------------------------------- behaviours


def answer(
    body: bytes = b"{}",
    *,
    status: str = "200 OK",
    headers: Mapping[str, str] | None = None,
) -> Behaviour:
    """An ordinary answer (a JSON body by default): the well-behaved control."""

    def behave(request: Request, sock: socket.socket, stopping: threading.Event) -> None:
        sent = {"Content-Type": "application/json", "Content-Length": str(len(body))}
        sock.sendall(_head(status, {**sent, **(headers or {})}) + body)

    return behave


def endless_body(chunk: bytes = b"[" * 65536, *, chunked: bool = False) -> Behaviour:
    """A 200 whose body never ends (no ``Content-Length``, or chunked with no last chunk)."""

    def behave(request: Request, sock: socket.socket, stopping: threading.Event) -> None:
        headers = {"Content-Type": "application/json", "Connection": "close"}
        if chunked:
            headers["Transfer-Encoding"] = "chunked"
        sock.sendall(_head("200 OK", headers))
        piece = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" if chunked else chunk
        while not stopping.is_set():
            sock.sendall(piece)

    return behave


def drip(interval: float, *, body: bytes = b" " * 1000, in_headers: bool = False) -> Behaviour:
    """Bytes sent one at a time, ``interval`` seconds apart: each wait is shorter than
    any read timeout, the whole answer takes forever. ``in_headers`` trickles the status
    line and headers too; otherwise they come at once and the body trickles."""

    def behave(request: Request, sock: socket.socket, stopping: threading.Event) -> None:
        head = _head(
            "200 OK", {"Content-Type": "application/json", "Content-Length": str(len(body))}
        )
        data = head + body
        if not in_headers:
            sock.sendall(head)
            data = body
        for index in range(len(data)):
            if stopping.wait(interval):
                return
            sock.sendall(data[index : index + 1])

    return behave


def announce_length(length: int, *, body: bytes = b"{}") -> Behaviour:
    """A 200 announcing ``Content-Length: length`` and sending ``body`` (a lie either way)."""

    def behave(request: Request, sock: socket.socket, stopping: threading.Event) -> None:
        head = _head("200 OK", {"Content-Type": "application/json", "Content-Length": str(length)})
        sock.sendall(head + body)
        stopping.wait(0.5)

    return behave


def redirect(location: str, *, status: str = "302 Found") -> Behaviour:
    """A redirect to ``location`` (a full URL, perhaps another host)."""

    def behave(request: Request, sock: socket.socket, stopping: threading.Event) -> None:
        sock.sendall(_head(status, {"Location": location, "Content-Length": "0"}))

    return behave
