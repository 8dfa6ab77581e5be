"""A real ``trytond`` for the Tryton plugin's tests (no ``__init__.py``: pytest runs with
``--import-mode=importlib``).

One server per test session (:class:`invoicing_bridge_tryton.server.TrytonServer`): the
cached database (built once per set of versions, see that module) copied, ``trytond``
started on a free 127.0.0.1 port, stopped at the end. Every module shares it; each test
writes records of its own (unique names, dates of its own year). Without trytond
installed the tests that need it are skipped, saying so.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from invoicing_bridge_tryton.server import INSTALL_HINT, TrytonServer, tryton_versions

from invoicing_bridge import get_backend
from invoicing_bridge.backends.base import InvoicingBackend


@pytest.fixture(scope="session")
def tryton_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A running trytond on a copy of the cached database: the backend's options."""
    if tryton_versions() is None:
        pytest.skip(f"trytond is not installed: {INSTALL_HINT}")
    with TrytonServer(tmp_path_factory.mktemp("tryton")) as server:
        yield server.options()


@pytest.fixture(scope="session")
def tryton(tryton_server: dict[str, Any]) -> Iterator[InvoicingBackend]:
    """One logged-in backend for the session: a login costs a second on the test server
    (password hashing), the lookups eight reads."""
    with get_backend("tryton", **tryton_server) as backend:
        yield backend
