"""The account's taxes (``/taxes``), read once per backend and once more on demand.

A Daftra invoice line names its taxes by id (``tax1``/``tax2``); the rate and name are in
the account's tax table. The mapper asks for the table before a load or a dump that needs
it, and once more when a line names a tax the table lacks (one added since).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from types import MappingProxyType

from invoicing_bridge.schemas.base import load_record

from .connection import ORDER, DaftraConnection
from .schemas.read import DaftraContext, DaftraTaxSchema, TaxInfo

__all__ = ["TaxTable"]


class TaxTable:
    """The tax table of the account behind ``connection``, cached. Thread-safe."""

    def __init__(self, connection: DaftraConnection) -> None:
        self.connection = connection
        self._schema = DaftraTaxSchema(context=DaftraContext(backend=connection.name))
        self._taxes: Mapping[str, TaxInfo] | None = None
        self._lock = threading.Lock()

    def read(self, *, refresh: bool = False) -> Mapping[str, TaxInfo]:
        """The taxes by id (read-only): fetched the first time, and again with ``refresh``.
        Raises the connection's errors and MappingError for a tax that cannot be read."""
        with self._lock:
            if self._taxes is None or refresh:
                taxes: dict[str, TaxInfo] = {}
                for rows in self.connection.pages("taxes.json", ORDER):
                    for row in rows:
                        info: TaxInfo = load_record(
                            self._schema, row, backend=self.connection.name, what="tax"
                        )
                        taxes[info.id] = info
                self._taxes = MappingProxyType(taxes)
            return self._taxes
