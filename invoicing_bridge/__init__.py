"""invoicing-bridge: one neutral invoicing model in front of many accounting systems."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from .exceptions import (
    APIError,
    AuthenticationError,
    BackendError,
    BackendNotFound,
    ConfigurationError,
    Conflict,
    InvalidRequest,
    InvoicingBridgeError,
    MappingError,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerError,
    TransportError,
    UnsupportedOperation,
)
from .models import (
    Address,
    Client,
    Invoice,
    InvoiceStatus,
    LineItem,
    Payment,
    PaymentStatus,
    RecordRef,
    TaxRate,
)
from .registry import available_backends, get_backend

__all__ = [
    "APIError",
    "Address",
    "AuthenticationError",
    "BackendError",
    "BackendNotFound",
    "Client",
    "ConfigurationError",
    "Conflict",
    "InvalidRequest",
    "Invoice",
    "InvoiceStatus",
    "InvoicingBridgeError",
    "LineItem",
    "MappingError",
    "NotFound",
    "Payment",
    "PaymentStatus",
    "PermissionDenied",
    "RateLimited",
    "RecordRef",
    "ServerError",
    "TaxRate",
    "TransportError",
    "UnsupportedOperation",
    "__version__",
    "available_backends",
    "compare",
    "get_backend",
    "migrate",
]


# The jobs: ``invoicing_bridge.migrate`` and ``invoicing_bridge.compare`` are the functions
# (from the ``migration`` and ``comparison`` packages). No module has those names, so
# ``import invoicing_bridge.migrate`` raises ModuleNotFoundError rather than handing back
# a function. They are imported on first use: a command line's ``--help`` or a plain
# backend user does not pay for both jobs' modules.
if TYPE_CHECKING:
    from .comparison import compare
    from .migration import migrate


def __getattr__(name: str) -> Any:
    if name == "compare":
        from .comparison import compare

        return compare
    if name == "migrate":
        from .migration import migrate

        return migrate
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
