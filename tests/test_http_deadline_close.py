"""The per-attempt deadline holds when the server says ``Connection: close``: http.client
then hands the socket to the response and forgets it on the connection, so a watchdog
looking only at ``conn.sock`` would find nothing to cut while the body trickles."""

from __future__ import annotations

import socket
import threading

import pytest

from invoicing_bridge.backends.http import HTTPClient, RetryPolicy
from invoicing_bridge.exceptions import TransportError
from invoicing_bridge.testing.hostile import HostileServer, Request


def _drip_closing(request: Request, sock: socket.socket, stopping: threading.Event) -> None:
    body = b" " * 100_000
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
    )
    sock.sendall(head)
    for index in range(len(body)):
        if stopping.wait(0.05):
            return
        sock.sendall(body[index : index + 1])


@pytest.mark.timeout(30)
def test_a_trickled_body_under_connection_close_fails_at_the_deadline() -> None:
    with HostileServer(_drip_closing) as server:
        http = HTTPClient(
            backend="acme",
            base_url=server.base_url,
            retry=RetryPolicy(max_retries=0),
            read_timeout=30,
            request_deadline=0.5,
        )
        with pytest.raises(TransportError) as info:
            http.get("/invoices")
    assert "0.5 s deadline (request_deadline)" in info.value.message
