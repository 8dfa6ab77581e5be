"""Whether the target still holds what the ledger marks done: one listing of each kind for
the whole run, never one read per record."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from ..backends.base import Feature, InvoicingBackend
from ..exceptions import NotFound
from ..models import Client, Invoice, Payment

__all__ = ["Presence", "gone_reason"]


def gone_reason(target: str, kind: str, target_id: str) -> str:
    """The reason a record migrated before is reported failed: the target lost it."""
    return (
        f"gone from {target}: migrated before as {kind} {target_id}, the target no longer "
        "holds it (deleted there, or the target was reset); run again to create it anew"
    )


class Presence:
    """Answers "does the target still hold ``kind`` ``target_id``?" for records the ledger
    marks done, before they are skipped.

    Each kind's ids come from one listing of the target (``iter_invoices``,
    ``iter_clients``, ``iter_payments``), read when the first such record comes up and
    kept for the run; an id the listing lacks is read once (a listing may leave out some
    statuses), so only records that are gone, or hidden from the listing, cost a read. A
    target that cannot list a kind is trusted as the ledger says.
    """

    _KINDS = {
        "invoice": (Feature.LIST_INVOICES, Feature.GET_INVOICE),
        "client": (Feature.LIST_CLIENTS, Feature.GET_CLIENT),
        "payment": (Feature.LIST_PAYMENTS, Feature.GET_PAYMENT),
    }

    def __init__(self, target: InvoicingBackend) -> None:
        self.target = target
        self._ids: dict[str, frozenset[str]] = {}
        self._lock = threading.Lock()
        #: Where a kind's ids come from instead of a listing of its own: the client
        #: stage's index, so that a run lists the target's clients once, not twice.
        self.listings: dict[str, Callable[[], frozenset[str]]] = {}

    def _listed_ids(self, kind: str) -> frozenset[str]:
        target = self.target
        if kind in self.listings:
            return self.listings[kind]()
        records: Iterable[Invoice | Client | Payment]
        if kind == "invoice":
            records = target.iter_invoices()
        elif kind == "client":
            records = target.iter_clients()
        else:
            records = target.iter_payments()
        return frozenset(str(r.id) for r in records if r.id is not None)

    def _read(self, kind: str, target_id: str) -> None:
        target = self.target
        if kind == "invoice":
            target.get_invoice(target_id)
        elif kind == "client":
            target.get_client(target_id)
        else:
            target.get_payment(target_id)

    def holds(self, kind: str, target_id: str) -> bool:
        """Whether the target still holds it (True when it cannot tell)."""
        listed, read = self._KINDS[kind]
        features = self.target.features
        if listed not in features:
            return True  # cannot tell without one read each: trust the ledger
        with self._lock:
            if kind not in self._ids:
                self._ids[kind] = self._listed_ids(kind)
            ids = self._ids[kind]
        if target_id in ids:
            return True
        if read not in features:
            return False
        try:
            self._read(kind, target_id)
        except NotFound:
            return False
        return True
