"""Test support: the contract suite every backend passes, and the emulator machinery.

``from invoicing_bridge.testing import BackendContract`` (needs pytest installed).
"""

from __future__ import annotations

from typing import Any

__all__ = ["BackendContract"]


def __getattr__(name: str) -> Any:
    # Imported lazily so that the emulators (used by the CLI) do not need pytest.
    if name == "BackendContract":
        from .contract import BackendContract

        return BackendContract
    raise AttributeError(name)
