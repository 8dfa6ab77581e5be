"""Tryton ERP backend for invoicing-bridge.

The backend (``tryton`` in the ``invoicing_bridge.backends`` entry-point group) speaks a
``trytond`` 8.x server's JSON-RPC: customer invoices (``account.invoice`` of type
``out``), parties and the payments Tryton records on an invoice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .backend import TrytonBackend

__all__ = ["TrytonBackend", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "TrytonBackend":
        from .backend import TrytonBackend

        return TrytonBackend
    raise AttributeError(f"module 'invoicing_bridge_tryton' has no attribute {name!r}")
