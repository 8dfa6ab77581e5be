"""Shared fixtures of the Perfex plugin tests (no ``__init__.py``: pytest runs with
``--import-mode=importlib``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from invoicing_bridge_perfex.emulator import PerfexEmulator

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def payload() -> Callable[[str], Any]:
    """Load ``fixtures/<name>`` (JSON) as the module would answer it."""

    def load(name: str) -> Any:
        return json.loads((FIXTURES / name).read_text(encoding="utf-8"))

    return load


@pytest.fixture
def fixture_text() -> Callable[[str], str]:
    def read(name: str) -> str:
        return (FIXTURES / name).read_text(encoding="utf-8")

    return read


@pytest.fixture
def emulator() -> Iterator[PerfexEmulator]:
    """A small 2.x install (seeded) on a free port."""
    with PerfexEmulator(invoices=12, seed=7) as running:
        yield running


@pytest.fixture
def emulator_v3() -> Iterator[PerfexEmulator]:
    """A small 3.x install (seeded) on a free port."""
    with PerfexEmulator(invoices=12, seed=7, api_version=3) as running:
        yield running
