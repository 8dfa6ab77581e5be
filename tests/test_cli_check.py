"""``check`` proves the API root and the credential, and every error says what to fix:
the backend, the profile, and the option or the host (issue 17). Run as a user would,
against the bundled emulators (found by name through the registry)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from click.testing import CliRunner
from urllib3.exceptions import MaxRetryError, NameResolutionError

from invoicing_bridge import AuthenticationError, NotFound, TransportError
from invoicing_bridge.cli import main
from invoicing_bridge.config import dumps_profiles, load_profile
from invoicing_bridge.emulation import Emulator
from invoicing_bridge.registry import emulator_class, get_backend


@pytest.fixture(scope="module")
def perfex() -> Iterator[Emulator]:
    with emulator_class("perfex")(invoices=2) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def daftra() -> Iterator[Emulator]:
    with emulator_class("daftra")(invoices=3) as emulator:
        yield emulator


def _config(tmp_path: Path, **profiles: dict[str, Any]) -> str:
    path = tmp_path / "invoicing-bridge.toml"
    path.write_text(dumps_profiles(profiles), encoding="utf-8")
    return str(path)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _run(config: str, *args: str) -> Any:
    return CliRunner().invoke(main, ["--config", config, *args])


def test_check_passes_on_the_api_root(tmp_path: Path, perfex: Emulator) -> None:
    config = _config(tmp_path, crm=perfex.profile())
    result = _run(config, "check", "crm")
    assert result.exit_code == 0, result.output
    assert "ok: crm (perfex:http://127.0.0.1:" in result.output


def test_check_perfex_base_url_without_api_fails_naming_base_url(
    tmp_path: Path, perfex: Emulator
) -> None:
    profile = perfex.profile()
    root = profile["base_url"].removesuffix("/api")
    config = _config(tmp_path, crm={**profile, "base_url": root})
    result = _run(config, "check", "crm")
    assert result.exit_code == 2
    [first] = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert first.startswith(f"error: perfex (profile crm): no API found at {root}")
    assert "check `base_url`" in first
    assert "Traceback" not in result.output


def test_check_daftra_base_url_without_api2_fails_naming_base_url(
    tmp_path: Path, daftra: Emulator
) -> None:
    profile = daftra.profile()
    root = profile["base_url"].removesuffix("/api2")
    config = _config(tmp_path, shop={**profile, "base_url": root})
    result = _run(config, "check", "shop")
    assert result.exit_code == 2
    assert f"daftra (profile shop): no API found at {root}; check `base_url`" in result.output


def test_bad_perfex_token_says_the_token_was_refused(tmp_path: Path, perfex: Emulator) -> None:
    config = _config(tmp_path, crm={**perfex.profile(), "token": "not-a-jwt"})
    result = _run(config, "check", "crm")
    assert result.exit_code == 2
    assert "error: perfex (profile crm): the token was refused; check `token`" in result.output
    assert "not-a-jwt" not in result.output


def test_bad_daftra_key_says_the_key_was_refused(tmp_path: Path, daftra: Emulator) -> None:
    config = _config(tmp_path, shop={**daftra.profile(), "api_key": "wrong-key-123"})
    result = _run(config, "list", "shop", "invoices")
    assert result.exit_code == 2
    assert "daftra (profile shop): the API key was refused; check `api_key`" in result.output


def test_server_down_names_host_and_port(tmp_path: Path, daftra: Emulator) -> None:
    port = _closed_port()
    profile = {**daftra.profile(), "base_url": f"http://127.0.0.1:{port}/api2", "max_retries": 0}
    config = _config(tmp_path, shop=profile)
    result = _run(config, "check", "shop")
    assert result.exit_code == 2
    assert f"error: daftra (profile shop): cannot connect to 127.0.0.1:{port}" in result.output
    assert "connection refused" in result.output


@responses.activate
def test_unknown_host_names_host_and_default_https_port() -> None:
    reason = NameResolutionError("myshop.daftra.com", None, socket.gaierror("not known"))  # type: ignore[arg-type]
    error = requests.ConnectionError(MaxRetryError(None, "/", reason))  # type: ignore[arg-type]
    responses.get("https://myshop.daftra.com/api2/site_info.json", body=error)
    backend = get_backend("daftra", subdomain="myshop", api_key="k-123456", max_retries=0)
    backend.profile = "shop"
    with backend, pytest.raises(TransportError) as caught:
        backend.check()
    assert str(caught.value).startswith(
        "daftra (profile shop): cannot connect to myshop.daftra.com:443"
    )
    assert "host name not found" in str(caught.value)


def test_profile_open_names_the_profile_in_errors(tmp_path: Path, perfex: Emulator) -> None:
    config = _config(tmp_path, crm={**perfex.profile(), "token": "not-a-jwt"})
    with load_profile("crm", config).open() as backend:
        assert backend.profile == "crm"
        with pytest.raises(AuthenticationError) as caught:
            backend.get_invoice("1")
    assert caught.value.profile == "crm" and caught.value.hint
    with pytest.raises(AuthenticationError):
        load_profile("crm", config).open(check=True)


def test_library_errors_without_a_profile_keep_their_form(perfex: Emulator) -> None:
    options = perfex.profile()
    options.pop("backend")
    with get_backend("perfex", **options) as backend, pytest.raises(NotFound) as caught:
        backend.get_invoice("999999")
    assert str(caught.value).startswith("perfex GET invoices/999999 HTTP 404")


@pytest.mark.parametrize("command", ["migrate", "compare"])
def test_migrate_and_compare_check_both_sides_before_reading(
    tmp_path: Path, daftra: Emulator, perfex: Emulator, command: str
) -> None:
    target = perfex.profile()
    target["base_url"] = target["base_url"].removesuffix("/api")
    config = _config(tmp_path, shop=daftra.profile(), crm=target)
    daftra.stats.reset()
    result = _run(config, command, "shop", "crm")
    assert result.exit_code == 2, result.output
    assert "perfex (profile crm): no API found at" in result.output
    # The source answered its check and nothing more: no invoice was read.
    assert not [route for route in daftra.stats.by_route if "invoices" in route]
