"""Credentials go to the configured host only: never along a redirect to another host, nor
to an absolute URL elsewhere (two servers on 127.0.0.1; ``localhost`` counts as another
host, like another port)."""

from __future__ import annotations

import pytest

from invoicing_bridge.backends.http import HTTPClient, RetryPolicy
from invoicing_bridge.testing.hostile import HostileServer, answer, redirect

CREDENTIALS = {
    "apikey": "daftra-key-1",
    "authtoken": "perfex-token-2",
    "Authorization": "Bearer oauth-token-3",
}
SECRET_NAMES = {name.lower() for name in CREDENTIALS}


def client(base_url: str) -> HTTPClient:
    return HTTPClient(
        backend="acme",
        base_url=base_url,
        headers=CREDENTIALS,
        retry=RetryPolicy(max_retries=0),
    )


def _leaked(headers: dict[str, str]) -> set[str]:
    values = set(CREDENTIALS.values()) | {"oauth-token-3"}
    return {name for name, value in headers.items() if name in SECRET_NAMES or value in values}


@pytest.mark.parametrize("elsewhere_host", ["127.0.0.1", "localhost"])
@pytest.mark.parametrize("status", ["301 Moved Permanently", "302 Found", "307 Temporary Redirect"])
def test_a_redirect_to_another_origin_carries_no_credentials(
    elsewhere_host: str, status: str
) -> None:
    with HostileServer(answer(b'{"id": "7"}'), url_host=elsewhere_host) as elsewhere:
        with HostileServer(redirect(f"{elsewhere.base_url}/collect", status=status)) as home:
            assert client(home.base_url).get("/invoices/7").data == {"id": "7"}
            assert _leaked(home.requests[0].headers) == SECRET_NAMES  # home got them
        assert [r.path for r in elsewhere.requests] == ["/collect"]
        assert _leaked(elsewhere.requests[0].headers) == set()


def test_a_redirect_within_the_home_origin_keeps_the_credentials() -> None:
    paths: list[str] = []

    def behave(request, sock, stopping):  # type: ignore[no-untyped-def]
        paths.append(request.path)
        if request.path == "/old":
            redirect(f"{server.base_url}/new")(request, sock, stopping)
        else:
            answer(b'{"ok": true}')(request, sock, stopping)

    with HostileServer(behave) as server:
        assert client(server.base_url).get("/old").data == {"ok": True}
    assert paths == ["/old", "/new"]
    assert _leaked(server.requests[1].headers) == SECRET_NAMES


def test_the_same_host_under_another_name_is_another_host() -> None:
    # 127.0.0.1 and localhost reach the same socket; the credentials were configured for
    # one name, and a redirect to the other does not get them.
    paths: list[str] = []

    def behave(request, sock, stopping):  # type: ignore[no-untyped-def]
        paths.append(request.path)
        if request.path == "/old":
            redirect(f"http://localhost:{server.port}/new")(request, sock, stopping)
        else:
            answer(b"{}")(request, sock, stopping)

    with HostileServer(behave) as server:
        client(server.base_url).get("/old")
    assert paths == ["/old", "/new"]
    assert _leaked(server.requests[1].headers) == set()


def test_an_absolute_url_to_another_host_carries_no_credentials() -> None:
    # A "next page" link taken from a server's answer may point anywhere.
    with HostileServer(answer(b"[]")) as elsewhere, HostileServer(answer(b"[]")) as home:
        http = client(home.base_url)
        http.get(f"{elsewhere.base_url}/invoices?page=2")
        http.get(f"{home.base_url}/invoices?page=2")
    assert _leaked(elsewhere.requests[0].headers) == set()
    assert _leaked(home.requests[0].headers) == SECRET_NAMES
