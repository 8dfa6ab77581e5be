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

if TYPE_CHECKING:
    from .compare import compare
    from .migrate import migrate

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


def __getattr__(name: str) -> Any:
    # The jobs are imported on first use: `import invoicing_bridge` stays light.
    if name == "migrate":
        from .migrate import migrate

        return migrate
    if name == "compare":
        from .compare import compare

        return compare
    raise AttributeError(f"module 'invoicing_bridge' has no attribute {name!r}")
