"""The target's clients, listed once per migration run and matched in memory.

A backend with no client search (Daftra) or a partial one (Perfex) would otherwise read
its whole client list for every client a run matches: quadratic in clients. The index
reads it once, when the first client needs matching (never, when none does), and keeps
it current as the run creates or updates clients. Thread-safe: the first caller lists,
the others wait for it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from ..backends.base import InvoicingBackend
from ..exceptions import BackendError
from ..models import CLIENT_IDENTITY_FIELDS, Client, identity_key

__all__ = ["ClientIndex"]


class ClientIndex:
    """The clients of ``target`` by identity key (:func:`~invoicing_bridge.models.identity_key`)
    of each identity field. The clients it gives are shared: read them, do not change them.
    """

    def __init__(self, target: InvoicingBackend, *, attempts: int = 1) -> None:
        self.target = target
        #: Listings tried when one fails transiently (its HTTP layer's retries ran out):
        #: every client of the run waits for it, so it is worth trying again.
        self.attempts = max(1, attempts)
        #: How many times the target's client list was read (one per run, plus one per
        #: refresh after a create whose answer was lost).
        self.walks = 0
        self._lock = threading.Lock()
        self._by_id: dict[str, Client] | None = None
        self._by_key: dict[str, dict[str, dict[str, Client]]] = {}

    @property
    def loaded(self) -> bool:
        return self._by_id is not None

    def candidates(self, field: str, value: str | None) -> list[Client]:
        """Every client of the target whose ``field`` has ``value``'s identity key (none
        for a blank value), listing the target first if this run has not yet."""
        key = identity_key(field, value)
        if not key:
            return []
        with self._lock:
            if self._by_id is None:
                self._list()
            return list(self._by_key[field].get(key, {}).values())

    def ids(self) -> frozenset[str]:
        """The ids of every client of the target (listing it first if this run has not
        yet): what :class:`~invoicing_bridge.migration.presence.Presence` checks a
        client migrated before against."""
        with self._lock:
            if self._by_id is None:
                self._list()
            assert self._by_id is not None
            return frozenset(self._by_id)

    def refresh(self) -> None:
        """List the target again (after a create whose answer was lost: it may hold a
        client the index does not know)."""
        with self._lock:
            self._by_id = None
            self._list()

    def add(self, client: Client) -> None:
        """Record ``client`` as the target now holds it (created or updated by this run);
        nothing before the first listing, which will read it from the target."""
        if client.id is None:
            return
        with self._lock:
            if self._by_id is not None:
                self._put(client)

    def _list(self) -> None:
        for attempt in range(self.attempts):
            try:
                self._fill(self.target.iter_clients())
                return
            except BackendError as exc:
                if not exc.transient or attempt + 1 >= self.attempts:
                    raise

    def _fill(self, clients: Iterable[Client]) -> None:
        self.walks += 1
        self._by_id = {}
        self._by_key = {field: {} for field in CLIENT_IDENTITY_FIELDS}
        try:
            for client in clients:
                self._put(client)
        except BaseException:
            self._by_id = None  # half a listing is no listing: the next caller lists again
            raise

    def _put(self, client: Client) -> None:
        assert self._by_id is not None
        if client.id is None:
            return
        id = str(client.id)
        old = self._by_id.get(id)
        if old is not None:
            for field in CLIENT_IDENTITY_FIELDS:
                key = identity_key(field, getattr(old, field))
                self._by_key[field].get(key, {}).pop(id, None)
        self._by_id[id] = client
        for field in CLIENT_IDENTITY_FIELDS:
            key = identity_key(field, getattr(client, field))
            if key:
                self._by_key[field].setdefault(key, {})[id] = client
