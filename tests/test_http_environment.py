"""The HTTP client honours the environment as requests does (proxies, ``NO_PROXY``, the CA
bundle, ``.netrc``) but reads it once, when the client is made, not on every request."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from invoicing_bridge.backends.http import HTTPClient, RetryPolicy
from invoicing_bridge.testing.hostile import HostileServer, answer

PROXY_VARIABLES = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "NETRC",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc of the machine's


def client(base_url: str, **headers: str) -> HTTPClient:
    return HTTPClient(
        backend="acme", base_url=base_url, headers=headers, retry=RetryPolicy(max_retries=0)
    )


def test_a_proxy_from_the_environment_carries_the_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with HostileServer(answer(b'{"via": "proxy"}')) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.base_url)
        http = client("http://invoices.example.test/api", authtoken="t-1")
        assert http.get("invoices/7").data == {"via": "proxy"}
    # A forward proxy is asked for the absolute URL, credentials included (same origin).
    assert [r.path for r in proxy.requests] == ["http://invoices.example.test/api/invoices/7"]
    assert proxy.requests[0].headers["authtoken"] == "t-1"


def test_no_proxy_sends_the_request_directly(monkeypatch: pytest.MonkeyPatch) -> None:
    with HostileServer(answer(b'{"via": "proxy"}')) as proxy:
        with HostileServer(answer(b'{"via": "direct"}')) as server:
            monkeypatch.setenv("HTTP_PROXY", proxy.base_url)
            monkeypatch.setenv("NO_PROXY", "127.0.0.1")
            assert client(server.base_url).get("x").data == {"via": "direct"}
        assert proxy.requests == []
        assert [r.path for r in server.requests] == ["/x"]


def test_the_environment_is_read_when_the_client_is_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with HostileServer(answer(b'{"via": "proxy"}')) as proxy:
        with HostileServer(answer(b'{"via": "direct"}')) as server:
            http = client(server.base_url)
            monkeypatch.setenv("HTTP_PROXY", proxy.base_url)  # too late for this client
            assert http.get("x").data == {"via": "direct"}
            assert client(server.base_url).get("x").data == {"via": "proxy"}
        assert len(proxy.requests) == 1


def test_requests_itself_does_not_read_the_environment() -> None:
    http = client("http://127.0.0.1:9/api")
    assert http.session.trust_env is False


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_the_ca_bundle_from_the_environment_verifies_tls(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str
) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    monkeypatch.setenv(variable, str(bundle))
    http = client("https://invoices.example.test/api")
    settings = http.session.merge_environment_settings(
        "https://invoices.example.test/api/x", {}, None, None, None
    )
    assert settings["verify"] == str(bundle)
    # verify=False given for one request stays off (as requests does).
    off = http.session.merge_environment_settings(
        "https://invoices.example.test/api/x", {}, None, False, None
    )
    assert off["verify"] is False


def test_netrc_credentials_are_sent_to_their_host(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login ann password s3cret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    with HostileServer(answer(b"{}")) as server:
        client(server.base_url).get("x")
    expected = "Basic " + base64.b64encode(b"ann:s3cret").decode()
    assert server.requests[0].headers["authorization"] == expected


def test_a_ca_bundle_that_does_not_exist_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """requests raised a bare OSError ("Could not find a suitable TLS CA certificate
    bundle"), naming neither the backend nor where the path came from."""
    from invoicing_bridge.exceptions import ConfigurationError

    missing = tmp_path / "gone" / "ca.pem"
    monkeypatch.setenv("CURL_CA_BUNDLE", str(missing))
    http = client("https://127.0.0.1:9/api")
    with pytest.raises(ConfigurationError) as caught:
        http.get("invoices")
    message = str(caught.value)
    assert message.startswith("acme: the CA bundle")
    assert str(missing) in message and "environment variable CURL_CA_BUNDLE" in message
    # Plain http needs no bundle: the same variable changes nothing there.
    with pytest.raises(Exception) as plain:
        client("http://127.0.0.1:9/api").get("invoices")
    assert not isinstance(plain.value, ConfigurationError)


def test_a_proxy_that_fails_is_named_without_its_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Said "connection failed: ProxyError" before, naming neither the proxy nor where
    it was set."""
    from invoicing_bridge.exceptions import TransportError

    with HostileServer(answer(b"{}")) as closed:
        port = closed.base_url.rsplit(":", 1)[1].split("/")[0]
    monkeypatch.setenv("HTTPS_PROXY", f"http://user:pr0xy-pw-123@127.0.0.1:{port}")
    with pytest.raises(TransportError) as caught:
        client("https://invoices.example.test/api").get("invoices")
    message = str(caught.value)
    assert f"through the proxy 127.0.0.1:{port} (set in the environment" in message
    assert "pr0xy-pw" not in message and "user:" not in message
