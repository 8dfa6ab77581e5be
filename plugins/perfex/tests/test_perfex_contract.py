"""The core contract suite against the Perfex emulator over real HTTP, in both module
versions (2.x: no ids on create, bare arrays; 3.x: record_id, {data, meta} pages)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from invoicing_bridge_perfex.emulator import PerfexEmulator

from invoicing_bridge import get_backend
from invoicing_bridge.backends.base import InvoicingBackend
from invoicing_bridge.models import TaxRate
from invoicing_bridge.testing import BackendContract

_numbers = itertools.count(700001)


class _PerfexContract(BackendContract):
    api_version = 2
    # The emulated install has EGP with its 14% VAT ("VAT EG").
    currency = "EGP"
    tax_rate = TaxRate("VAT EG", Decimal("14"))
    payment_method = "cash"

    def new_invoice_number(self) -> str:
        # Perfex numbers are integers, unique per year: another system's number whose
        # digits are new here.
        return f"CT-{next(_numbers):08d}"

    @pytest.fixture(scope="class")
    @classmethod
    def emulator(cls) -> Iterator[PerfexEmulator]:
        with PerfexEmulator(invoices=6, seed=3, api_version=cls.api_version) as emulator:
            yield emulator

    @pytest.fixture
    def backend(self, emulator: PerfexEmulator) -> Iterator[InvoicingBackend]:
        options: dict[str, Any] = emulator.profile()
        name = options.pop("backend")
        with get_backend(name, **options, page_size=4) as backend:
            yield backend


class TestPerfexContractApi2(_PerfexContract):
    api_version = 2


class TestPerfexContractApi3(_PerfexContract):
    api_version = 3
