"""Daftra (``/api2``) backend and emulator for invoicing-bridge.

``from invoicing_bridge import get_backend; get_backend("daftra", subdomain=..., api_key=...)``
or, for a local emulator, ``from invoicing_bridge_daftra.emulator import DaftraEmulator``.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
