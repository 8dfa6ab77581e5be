from collections.abc import Iterator

import pytest

from invoicing_bridge import get_backend
from invoicing_bridge.backends.base import InvoicingBackend
from invoicing_bridge.testing import BackendContract


class TestMemoryBackend(BackendContract):
    @pytest.fixture
    def backend(self) -> Iterator[InvoicingBackend]:
        with get_backend("memory") as backend:
            yield backend
