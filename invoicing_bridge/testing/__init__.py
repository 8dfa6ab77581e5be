"""Test support: the contract suite every backend passes, and the emulator machinery
(which lives in :mod:`invoicing_bridge.emulation`; re-exported here).

``from invoicing_bridge.testing import BackendContract`` (needs pytest installed).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "FAULT_KINDS",
    "BackendContract",
    "Emulator",
    "EmulatorServer",
    "EmulatorStats",
    "FaultInjector",
    "Knob",
]

_EMULATION = frozenset(__all__) - {"BackendContract"}


def __getattr__(name: str) -> Any:
    # Imported lazily: the contract suite needs pytest, which the emulators (used by the
    # CLI) do not.
    if name == "BackendContract":
        from .contract import BackendContract

        return BackendContract
    if name in _EMULATION:
        from .. import emulation

        return getattr(emulation, name)
    raise AttributeError(name)
