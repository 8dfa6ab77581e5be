"""invoicing-bridge backend for the (fictional) Acme Books API: the plugin guide's example."""

from invoicing_bridge_acme.backend import AcmeBackend

__all__ = ["AcmeBackend"]
