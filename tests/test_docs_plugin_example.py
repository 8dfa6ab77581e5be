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
from invoicing_bridge_acme.emulator import EMULATOR, AcmeEmulator  # noqa: E402


@pytest.fixture(scope="module")
def acme_server() -> Iterator[str]:
    with AcmeEmulator() as emulator:
        yield emulator.base_url


def test_emulator_profile_opens_the_backend() -> None:
    """What the bundled emulators offer (``EMULATOR``, ``profile()``) works for the example."""
    assert EMULATOR is AcmeEmulator
    with EMULATOR(invoices=2) as emulator:
        options = emulator.profile()
        assert options.pop("backend") == "acme"
        with AcmeBackend(**options) as backend:
            assert [i.number for i in backend.iter_invoices()] == ["A-0001", "A-0002"]


class TestAcmeExampleBackend(BackendContract):
    @pytest.fixture
    def backend(self, acme_server: str) -> Iterator[InvoicingBackend]:
        with AcmeBackend(base_url=acme_server, api_key="acme-test-key", page_size=2) as backend:
            yield backend
