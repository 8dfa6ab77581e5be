"""Shared fixtures of the Daftra plugin tests (fixtures/README.md says where payloads come from)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import responses
from invoicing_bridge_daftra.backend import DaftraBackend
from invoicing_bridge_daftra.emulator import DaftraEmulator

FIXTURES = Path(__file__).parent / "fixtures"
BASE_URL = "https://alnoor.daftra.com/api2"
API_KEY = "dk_live_4f1a9c2e7b8d0f3a5c6e"


@pytest.fixture
def fixture_text() -> Callable[[str], str]:
    """The text of a fixture file, as a server would send it."""

    def read(name: str) -> str:
        return (FIXTURES / name).read_text(encoding="utf-8")

    return read


@pytest.fixture
def fixture(fixture_text: Callable[[str], str]) -> Callable[[str], Any]:
    """A fixture parsed with exact decimals (a fresh copy each call: tests may edit it)."""

    def load(name: str) -> Any:
        return json.loads(fixture_text(name), parse_float=Decimal)

    return load


@pytest.fixture
def base_url() -> str:
    return BASE_URL


@pytest.fixture
def api_key() -> str:
    return API_KEY


@pytest.fixture
def parser() -> DaftraBackend:
    """An offline backend (``for_parsing``) that knows the display format."""
    return DaftraBackend.for_parsing(date_format="%d/%m/%Y")


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def daftra() -> Iterator[DaftraBackend]:
    """A backend with an API key against the mocked API (no sleeping between retries);
    ``tax_rounding`` given, so writes do not first read invoices to learn it."""
    with DaftraBackend(
        subdomain="alnoor",
        api_key=API_KEY,
        date_format="%d/%m/%Y",
        tax_rounding="cent",
        backoff_base=0,
        max_retries=2,
        page_size=50,
    ) as backend:
        yield backend


@pytest.fixture
def oauth_options() -> dict[str, Any]:
    return {
        "subdomain": "alnoor",
        "client_id": 1,
        "client_secret": "cs_9b8a7c6d5e4f3a2b1c0d",
        "username": "owner@example.com",
        "password": "pw-Tr0ub4dor&3",
        "date_format": "%d/%m/%Y",
        "backoff_base": 0,
    }


def backend_options(profile: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {**{k: v for k, v in profile.items() if k != "backend"}, **extra}


@pytest.fixture
def options_of() -> Callable[..., dict[str, Any]]:
    """Backend options from an emulator profile (``backend`` dropped)."""
    return backend_options


@pytest.fixture(scope="module")
def emulator() -> Iterator[DaftraEmulator]:
    """One emulator per test module: 12 seeded invoices, over real HTTP."""
    with DaftraEmulator(invoices=12, seed=7) as running:
        yield running
