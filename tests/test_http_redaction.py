"""A planted secret never leaves the HTTP layer: not in exceptions, logs (DEBUG included) or reprs.

Every error path is triggered while the server echoes the key back; then everything a user
could see is grepped for the key and for fragments of it (a cut excerpt must not leak half).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
import responses
from marshmallow import fields

from invoicing_bridge.backends.http import ErrorInfo, HTTPBackend, HTTPClient, HTTPOptions
from invoicing_bridge.exceptions import (
    APIError,
    BackendError,
    ConfigurationError,
    InvalidRequest,
    TransportError,
)
from invoicing_bridge.testing.emulator import EmulatorServer

SECRET = "sk_live_PLANTED_abc123"
FRAGMENTS = (SECRET, SECRET[:8], SECRET[-8:], "PLANTED")
BASE = "https://api.acme.test/v1"
URL = f"{BASE}/invoices/42"

AUTH_HEADERS = {
    "apikey": {"apikey": SECRET},
    "authtoken": {"authtoken": SECRET},
    "bearer": {"Authorization": f"Bearer {SECRET}"},
}


def echo_json() -> dict[str, Any]:
    return {
        "message": f"invalid key {SECRET}",
        "error": {"apikey": SECRET, "headers": {"Authorization": f"Bearer {SECRET}"}},
        "received": [SECRET, {"token": f"...{SECRET}..."}],
        SECRET: "the key itself as a JSON key",
    }


def echo_html(at: int) -> str:
    # The key straddles the 300-character excerpt kept in details.
    head = "<!DOCTYPE html><html><body><p>"
    return head + "x" * (at - len(head)) + SECRET + "</p>" + "y" * 400 + "</body></html>"


def leaks(*texts: Any) -> list[str]:
    """Every fragment of the key found in the texts (non-strings are searched in their repr)."""
    found = []
    for text in texts:
        shown = text if isinstance(text, str) else repr(text)
        found += [f"{part!r} in {shown[:300]!r}" for part in FRAGMENTS if part in shown]
    return found


def exception_texts(exc: BaseException) -> list[Any]:
    texts: list[Any] = [str(exc), repr(exc), exc.args, "".join(traceback.format_exception(exc))]
    if isinstance(exc, BackendError):
        texts += [exc.message, exc.path, exc.details, vars(exc)]
    if isinstance(exc, InvalidRequest):
        texts.append(exc.field_errors)
    return texts


def log_texts(records: list[logging.LogRecord]) -> list[Any]:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    texts: list[Any] = []
    for record in records:
        texts += [record.getMessage(), record.msg, record.args, formatter.format(record)]
    return texts


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)  # every logger, the library's and its dependencies'
    caplog.set_level(logging.DEBUG, logger="invoicing_bridge")
    return caplog


def _echo_parser(status: int, data: Any, text: str) -> ErrorInfo | None:
    if status < 400:
        return None
    return ErrorInfo(
        message=f"rejected {SECRET}",
        field_errors={"apikey": SECRET, "client": f"bad {SECRET}", SECRET: "key"},
        category="invalid",
    )


# Each scenario registers answers, then makes the failing call.
Scenario = Callable[[responses.RequestsMock, HTTPClient], None]


def _status(status: int) -> Scenario:
    def run(rsps: responses.RequestsMock, http: HTTPClient) -> None:
        rsps.get(URL, status=status, json=echo_json(), headers={"X-Echo": SECRET})
        http.get("/invoices/42")

    return run


def _html_error(rsps: responses.RequestsMock, http: HTTPClient) -> None:
    rsps.get(URL, status=500, body=echo_html(at=290), content_type="text/html")
    http.get("/invoices/42")


def _html_ok(rsps: responses.RequestsMock, http: HTTPClient) -> None:
    rsps.get(URL, status=200, body=echo_html(at=292), content_type="text/html")
    http.get("/invoices/42")


def _truncated_ok(rsps: responses.RequestsMock, http: HTTPClient) -> None:
    rsps.get(
        URL, status=200, body='{"apikey": "' + SECRET + '", "nu', content_type="application/json"
    )
    http.get("/invoices/42")


def _connection_error(rsps: responses.RequestsMock, http: HTTPClient) -> None:
    rsps.get(URL, body=requests.ConnectionError(f"{URL}?apikey={SECRET}: connection reset"))
    http.get("/invoices/42")


def _timeout(rsps: responses.RequestsMock, http: HTTPClient) -> None:
    rsps.post(f"{BASE}/invoices", body=requests.ReadTimeout(f"read timed out ({SECRET})"))
    http.post("/invoices", json_body={"apikey": SECRET})


def _secret_in_path(rsps: responses.RequestsMock, http: HTTPClient) -> None:
    rsps.get(f"{BASE}/keys/{SECRET}", status=404, json={"message": f"no key {SECRET}"})
    http.get(f"/keys/{SECRET}")


def _parser_echo(rsps: responses.RequestsMock, http: HTTPClient) -> None:
    rsps.post(f"{BASE}/invoices", status=422, json=echo_json())
    http.error_parser = _echo_parser
    http.post("/invoices", json_body={})


SCENARIOS: dict[str, Scenario] = {
    "400": _status(400),
    "401": _status(401),
    "403": _status(403),
    "404": _status(404),
    "429-retried": _status(429),
    "500-retried": _status(500),
    "503-retried": _status(503),
    "html-500-retried": _html_error,
    "html-200": _html_ok,
    "truncated-200": _truncated_ok,
    "connection-error-retried": _connection_error,
    "post-timeout": _timeout,
    "secret-in-path": _secret_in_path,
    "parser-echo": _parser_echo,
}


@pytest.mark.parametrize("auth", list(AUTH_HEADERS))
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_planted_secret_never_appears_in_errors_logs_or_reprs(
    rsps: responses.RequestsMock, debug_logs: pytest.LogCaptureFixture, auth: str, scenario: str
) -> None:
    http = HTTPClient(
        backend="acme", base_url=BASE, headers=AUTH_HEADERS[auth], sleep=lambda s: None
    )
    with pytest.raises(BackendError) as info:
        SCENARIOS[scenario](rsps, http)
    if scenario.endswith("-retried"):
        assert len(rsps.calls) > 1
        assert any(r.levelno == logging.WARNING for r in debug_logs.records)
    assert rsps.calls  # the request went out, with the key
    texts = [*exception_texts(info.value), *log_texts(debug_logs.records), repr(http)]
    assert leaks(*texts) == []


def test_the_key_really_is_echoed_so_the_grep_can_find_it(rsps: responses.RequestsMock) -> None:
    """Guard against a vacuous test: without the client's redaction, the key shows."""
    rsps.get(URL, status=401, json=echo_json())
    http = HTTPClient(backend="acme", base_url=BASE, headers={"X-Not-Secret": SECRET})
    with pytest.raises(APIError) as info:
        http.get("/invoices/42")
    assert leaks(*exception_texts(info.value))
    assert rsps.calls[0].request.headers["X-Not-Secret"] == SECRET


def test_successful_requests_log_no_secret_at_debug(
    rsps: responses.RequestsMock, debug_logs: pytest.LogCaptureFixture
) -> None:
    rsps.get(URL, json={"apikey": SECRET})
    http = HTTPClient(backend="acme", base_url=BASE, headers={"apikey": SECRET})
    assert http.get("/invoices/42").data == {"apikey": SECRET}  # data itself is untouched
    assert any(r.levelno == logging.DEBUG for r in debug_logs.records)
    assert leaks(*log_texts(debug_logs.records)) == []


def test_secret_in_a_per_request_auth_header_is_redacted(
    rsps: responses.RequestsMock, debug_logs: pytest.LogCaptureFixture
) -> None:
    rsps.get(URL, status=401, json={"message": f"token {SECRET} expired", "token": SECRET})
    http = HTTPClient(backend="acme", base_url=BASE, sleep=lambda s: None)  # no session auth
    with pytest.raises(APIError) as info:
        http.get("/invoices/42", headers={"authtoken": SECRET})
    assert rsps.calls[0].request.headers["authtoken"] == SECRET
    assert leaks(*exception_texts(info.value), *log_texts(debug_logs.records)) == []


def test_secret_passed_as_secret_is_masked_in_base_url_repr() -> None:
    http = HTTPClient(backend="acme", base_url=f"{BASE}?token={SECRET}", secrets=[SECRET])
    assert "***" in repr(http)
    assert leaks(repr(http)) == []


def test_over_real_http_no_logger_sees_the_key(debug_logs: pytest.LogCaptureFixture) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = f'{{"message": "bad key {environ.get("HTTP_APIKEY")}"}}'.encode()
        start_response("401 Unauthorized", [("Content-Type", "application/json")])
        return [body]

    with EmulatorServer(app) as server:
        http = HTTPClient(backend="acme", base_url=server.base_url, headers={"apikey": SECRET})
        with pytest.raises(APIError) as info:
            http.get("/invoices")
        http.close()
    assert "***" in info.value.message  # the server did echo it
    assert leaks(*exception_texts(info.value), *log_texts(debug_logs.records)) == []


# --------------------------------------------------------------------------- backends


class VaultOptions(HTTPOptions):
    api_key = fields.String(required=True, metadata={"secret": True})


class VaultBackend(HTTPBackend):
    """Sends its key in a header the client does not know as secret: only the option's
    ``secret`` mark protects it."""

    name = "vault"
    Options = VaultOptions

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.http = self._make_http(base_url=BASE, headers={"X-Vault-Key": self.options["api_key"]})


def test_backend_repr_masks_secret_options() -> None:
    backend = VaultBackend(api_key=SECRET)
    assert "api_key='***'" in repr(backend) or "api_key=***" in repr(backend)
    assert leaks(repr(backend), repr(backend.http), str(backend)) == []


def test_backend_for_parsing_repr_masks_secret_options() -> None:
    assert leaks(repr(VaultBackend.for_parsing(api_key=SECRET))) == []


def test_secret_option_is_redacted_from_errors_even_in_an_unknown_header(
    rsps: responses.RequestsMock, debug_logs: pytest.LogCaptureFixture
) -> None:
    rsps.get(URL, status=403, json={"message": f"key {SECRET} lacks scope", "key": SECRET})
    backend = VaultBackend(api_key=SECRET, max_retries=0)
    with pytest.raises(APIError) as info:
        backend.http.get("/invoices/42")
    assert rsps.calls[0].request.headers["X-Vault-Key"] == SECRET
    assert leaks(*exception_texts(info.value), *log_texts(debug_logs.records)) == []


@pytest.mark.parametrize(
    "bad", [{"max_retries": "many"}, {"bogus": 1}, {"base_url": "not a url"}, {"api_key": 5}]
)
def test_configuration_error_does_not_show_the_secret(bad: dict[str, Any]) -> None:
    options = {"api_key": SECRET, **bad}
    with pytest.raises(ConfigurationError) as info:
        VaultBackend(**options)
    assert leaks(*exception_texts(info.value)) == []


def test_transport_error_from_refused_connection_has_no_secret(
    debug_logs: pytest.LogCaptureFixture,
) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    http = HTTPClient(
        backend="acme",
        base_url=f"http://127.0.0.1:{port}",
        headers={"Authorization": f"Bearer {SECRET}"},
        sleep=lambda s: None,
    )
    with pytest.raises(TransportError) as info:
        http.get(f"/invoices?token={SECRET}")
    assert leaks(*exception_texts(info.value), *log_texts(debug_logs.records)) == []


def test_a_password_in_the_base_url_is_a_secret() -> None:
    class Acme(HTTPBackend):
        name = "acme"

        def __init__(self, **options: Any) -> None:
            super().__init__(**options)
            self.http = self._make_http(base_url=self.options["base_url"])

    backend = Acme(base_url="https://admin:pa%24%24word@erp.example.com/api")
    http = backend.http
    assert "pa%24%24word" not in repr(http) and "pa$$word" not in repr(http)
    assert http.redactor.redact("echo pa$$word and pa%24%24word") == "echo *** and ***"
    assert backend.label == "acme:https://erp.example.com/api"


def test_check_masks_a_token_the_server_echoes_back(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from invoicing_bridge.cli import core as cli_core
    from invoicing_bridge.cli import main

    class Echoing(HTTPBackend):
        name = "acme"

        def __init__(self) -> None:
            super().__init__(base_url="https://erp.example.com/api")
            self.http = self._make_http(base_url="https://erp.example.com/api")
            self.http.add_secret("t0k3n-s3cr3t")

        def check_connection(self) -> dict[str, Any]:
            return {"backend": "acme", "user": "bearer t0k3n-s3cr3t"}

    class Loaded:
        path = "c.toml"

        def open(self) -> Echoing:
            return Echoing()

    monkeypatch.setattr(cli_core, "load_profile", lambda name, config=None: Loaded())
    result = CliRunner().invoke(main, ["check", "p"])
    assert result.exit_code == 0, result.output
    assert "user=bearer ***" in result.output
    assert "t0k3n" not in result.output


@pytest.mark.parametrize("secret", ["a", "x9", "abc"])
def test_a_short_secret_is_masked_where_it_stands_alone_not_inside_every_word(
    secret: str,
) -> None:
    from invoicing_bridge.backends.http import MIN_SECRET_LENGTH, Redactor

    assert len(secret) < MIN_SECRET_LENGTH
    redactor = Redactor([secret])
    line = f"GET /invoices?token={secret}&page=2 apikey: {secret} (Bearer {secret})"
    shown = redactor.redact(line)
    assert shown == "GET /invoices?token=***&page=2 apikey: *** (Bearer ***)"
    # Inside words it is left alone: a one-letter secret must not garble the log line.
    words = f"paginated {secret}bc{secret} data{secret}"
    assert redactor.redact(words) == words
    assert redactor.redact_data({"apikey": secret, "note": f"x{secret}x"}) == {
        "apikey": "***",
        "note": f"x{secret}x",
    }


def test_a_secret_of_the_minimum_length_is_masked_everywhere() -> None:
    from invoicing_bridge.backends.http import MIN_SECRET_LENGTH, Redactor

    secret = "k3Y!"[:MIN_SECRET_LENGTH]
    assert Redactor([secret]).redact(f"abc{secret}def {secret}") == "abc***def ***"


def test_a_blank_secret_masks_nothing() -> None:
    from invoicing_bridge.backends.http import Redactor

    assert Redactor(["", " ", None]).redact("a b  c") == "a b  c"


def test_a_one_character_password_in_the_url_does_not_garble_the_label() -> None:
    class Acme(HTTPBackend):
        name = "acme"

        def __init__(self, **options: Any) -> None:
            super().__init__(**options)
            self.http = self._make_http(base_url=self.options["base_url"])

    backend = Acme(base_url="https://admin:a@erp.example.com/api")
    assert "admin:***@erp.example.com" in repr(backend.http)
    assert backend.http.redactor.redact("data: paid, a: 1") == "data: paid, ***: 1"
