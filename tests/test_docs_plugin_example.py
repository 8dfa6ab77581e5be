"""The plugin guide's worked example (docs/examples/invoicing_bridge_acme) is a real backend:
it passes the contract suite against its own emulator, so the guide cannot rot."""

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from invoicing_bridge.backends.base import InvoicingBackend
from invoicing_bridge.testing import BackendContract

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"
if str(EXAMPLES) not in sys.path:
    sys.path.insert(0, str(EXAMPLES))

from invoicing_bridge_acme import AcmeBackend  # noqa: E402
from invoicing_bridge_acme.emulator import serve  # noqa: E402


@pytest.fixture(scope="module")
def acme_server() -> Iterator[str]:
    with serve() as server:
        yield server.base_url


class TestAcmeExampleBackend(BackendContract):
    @pytest.fixture
    def backend(self, acme_server: str) -> Iterator[InvoicingBackend]:
        with AcmeBackend(base_url=acme_server, api_key="acme-test-key", page_size=2) as backend:
            yield backend
