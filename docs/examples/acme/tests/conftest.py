"""Shared fixtures of the Acme plugin tests (no ``__init__.py``: pytest runs with
``--import-mode=importlib``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from invoicing_bridge_acme.emulator import AcmeEmulator

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def payload() -> Callable[[str], Any]:
    """Load ``fixtures/<name>`` (JSON) as the API would answer it."""

    def load(name: str) -> Any:
        return json.loads((FIXTURES / name).read_text(encoding="utf-8"))

    return load


@pytest.fixture(scope="module")
def acme_emulator() -> Iterator[AcmeEmulator]:
    """A seeded Acme Books (three invoices) on a free loopback port."""
    with AcmeEmulator(invoices=3) as running:
        yield running
