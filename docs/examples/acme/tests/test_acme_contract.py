"""The core's contract suite against the Acme emulator over real HTTP, with the backend
found the way users find it: through the entry point, by ``get_backend("acme")``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from invoicing_bridge_acme import AcmeBackend
from invoicing_bridge_acme.emulator import EMULATOR, AcmeEmulator

from invoicing_bridge import get_backend
from invoicing_bridge.backends.base import InvoicingBackend
from invoicing_bridge.registry import available_backends, emulator_class
from invoicing_bridge.testing import BackendContract


def test_entry_points_name_the_backend_and_the_emulator() -> None:
    assert "acme" in available_backends()
    assert emulator_class("acme") is AcmeEmulator is EMULATOR


def test_emulator_profile_opens_the_backend() -> None:
    """What the bundled emulators offer (``EMULATOR``, ``profile()``) works for Acme."""
    with EMULATOR(invoices=2) as emulator:
        options: dict[str, Any] = emulator.profile()
        with get_backend(options.pop("backend"), **options) as backend:
            assert isinstance(backend, AcmeBackend)
            assert [i.number for i in backend.iter_invoices()] == ["A-0001", "A-0002"]


class TestAcmeContract(BackendContract):
    @pytest.fixture
    def backend(self, acme_emulator: AcmeEmulator) -> Iterator[InvoicingBackend]:
        options: dict[str, Any] = acme_emulator.profile()
        # page_size 2: the suite's lists cross page boundaries.
        with get_backend(options.pop("backend"), **options, page_size=2) as backend:
            yield backend
