"""The core contract suite against the Daftra emulator, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from invoicing_bridge_daftra.backend import DaftraBackend
from invoicing_bridge_daftra.emulator import DaftraEmulator

from invoicing_bridge.backends.base import InvoicingBackend
from invoicing_bridge.models import TaxRate
from invoicing_bridge.testing import BackendContract


def _options(profile: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in profile.items() if k != "backend"}


class TestDaftraContract(BackendContract):
    """With an API key. The emulator's account has VAT 15 % (and 14 %) as exclusive taxes."""

    currency = "SAR"
    tax_rate = TaxRate("VAT", Decimal("15"))
    payment_method = "cash"

    @pytest.fixture(scope="class")
    @classmethod
    def running(cls) -> Iterator[DaftraEmulator]:
        with DaftraEmulator(invoices=6, seed=11) as emulator:
            yield emulator

    @pytest.fixture
    def backend(self, running: DaftraEmulator) -> Iterator[InvoicingBackend]:
        with DaftraBackend(**_options(running.profile())) as backend:
            yield backend


class TestDaftraContractOAuth(TestDaftraContract):
    """The same suite with OAuth tokens (short-lived, so renewals happen too)."""

    @pytest.fixture(scope="class")
    @classmethod
    def running(cls) -> Iterator[DaftraEmulator]:
        with DaftraEmulator(invoices=3, seed=12, token_ttl=40) as emulator:
            yield emulator

    @pytest.fixture
    def backend(self, running: DaftraEmulator) -> Iterator[InvoicingBackend]:
        with DaftraBackend(**_options(running.oauth_profile())) as backend:
            yield backend
