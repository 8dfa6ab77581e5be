"""invoicing-bridge backend for the (fictional) Acme Books API: the plugin guide's example.

The files, one concern each, as in the bundled plugins: ``options`` (what a profile may
say), ``errors`` (Acme's error body), ``connection`` (the key header and paging),
``schemas/read`` and ``schemas/write`` (payloads to the model and back), ``mapper`` (the
schemas behind one door), ``backend`` (the interface's verbs) and ``emulator/`` (a local
Acme Books: ``state``, ``app``, ``seed``).
"""

from .backend import AcmeBackend

__version__ = "0.1.0"

__all__ = ["AcmeBackend", "__version__"]
