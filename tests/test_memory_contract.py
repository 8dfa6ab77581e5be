from collections.abc import Iterator

import pytest

from invoicing_bridge import Payment, get_backend
from invoicing_bridge.backends.base import Feature, InvoicingBackend
from invoicing_bridge.backends.memory import MemoryBackend
from invoicing_bridge.testing import BackendContract


class TestMemoryBackend(BackendContract):
    @pytest.fixture
    def backend(self) -> Iterator[InvoicingBackend]:
        with get_backend("memory") as backend:
            yield backend


class _NoPayments(MemoryBackend):
    """A memory backend that cannot record payments."""

    features = Feature.ALL - {Feature.RECORD_PAYMENT}

    def record_payment(self, payment: Payment) -> Payment:
        raise self._unsupported("record_payment")


class TestMemoryBackendWithoutPayments(BackendContract):
    @pytest.fixture
    def backend(self) -> Iterator[InvoicingBackend]:
        with _NoPayments(label="no-payments") as backend:
            yield backend
