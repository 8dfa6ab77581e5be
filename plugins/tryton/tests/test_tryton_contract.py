"""The core contract suite against a real trytond (see conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from invoicing_bridge import get_backend
from invoicing_bridge.backends.base import InvoicingBackend
from invoicing_bridge.models import TaxRate
from invoicing_bridge.testing import BackendContract

# The first test builds the server database when it is not cached yet (minutes, once).
pytestmark = pytest.mark.timeout(1200)


class TestTrytonContract(BackendContract):
    # The test database's company currency is USD; it knows "VAT" at 15%.
    currency = "USD"
    tax_rate = TaxRate("VAT", Decimal("15"))
    payment_method = "cash"

    @pytest.fixture(scope="class")
    @classmethod
    def shared_backend(cls, tryton_server: dict[str, Any]) -> Iterator[InvoicingBackend]:
        # One session for the class: a login and the lookups cost seconds on the test
        # server (slow password hashing, then eight reads), a test's own work less.
        with get_backend("tryton", **tryton_server, page_size=3) as backend:
            yield backend

    @pytest.fixture
    def backend(self, shared_backend: InvoicingBackend) -> InvoicingBackend:
        return shared_backend

    def test_a_fresh_backend_logs_in_and_reads_an_invoice(
        self, tryton_server: dict[str, Any], invoice: Any
    ) -> None:
        with get_backend("tryton", **tryton_server) as fresh:
            assert fresh.get_invoice(invoice.id).total == invoice.total
