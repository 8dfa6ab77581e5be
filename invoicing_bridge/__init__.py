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


# Everything but the exceptions (which import nothing) is imported on first use: the
# command line's ``--help`` or a plain backend user does not pay for what it does not
# touch (the models' dataclasses, the registry's stevedore and marshmallow, both jobs'
# modules). ``invoicing_bridge.migrate`` and ``invoicing_bridge.compare`` are the job
# functions (from the ``migration`` and ``comparison`` packages); no module has those
# names, so ``import invoicing_bridge.migrate`` raises ModuleNotFoundError rather than
# handing back a function.
_LAZY = {
    "Address": "models",
    "Client": "models",
    "Invoice": "models",
    "InvoiceStatus": "models",
    "LineItem": "models",
    "Payment": "models",
    "PaymentStatus": "models",
    "RecordRef": "models",
    "TaxRate": "models",
    "available_backends": "registry",
    "get_backend": "registry",
    "compare": "comparison",
    "migrate": "migration",
}

if TYPE_CHECKING:
    from .comparison import compare
    from .migration import migrate
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


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
