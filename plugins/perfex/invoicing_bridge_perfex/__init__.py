"""Perfex CRM backend and emulator for invoicing-bridge.

The backend (``perfex`` in the ``invoicing_bridge.backends`` entry-point group) speaks the
Themesic REST API module, 2.x and 3.x; the emulator (``invoicing-bridge emulate perfex``,
or :class:`invoicing_bridge_perfex.emulator.PerfexEmulator`) answers like it, locally.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .backend import PerfexBackend
    from .emulator import PerfexEmulator

__all__ = ["PerfexBackend", "PerfexEmulator", "__version__"]


def __getattr__(name: str) -> Any:
    # Imported on first use: the emulator and the backend do not need each other.
    if name == "PerfexBackend":
        from .backend import PerfexBackend

        return PerfexBackend
    if name == "PerfexEmulator":
        from .emulator import PerfexEmulator

        return PerfexEmulator
    raise AttributeError(f"module 'invoicing_bridge_perfex' has no attribute {name!r}")
