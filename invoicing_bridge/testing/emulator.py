"""The emulator machinery under its former name: it lives in :mod:`invoicing_bridge.emulation`
(runtime code, used by ``emulate`` and ``demo``); tests and older plugins import it from here."""

from __future__ import annotations

from ..emulation import (
    FAULT_KINDS,
    Emulator,
    EmulatorServer,
    EmulatorStats,
    FaultInjector,
    Knob,
    print_profile_and_serve,
)

__all__ = [
    "FAULT_KINDS",
    "Emulator",
    "EmulatorServer",
    "EmulatorStats",
    "FaultInjector",
    "Knob",
    "print_profile_and_serve",
]
