"""The client stage: each source client found in the target (by identity) or created
there, once, however many invoices and workers ask for it."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack

from ..backends.base import Feature
from ..exceptions import AuthenticationError, InvoicingBridgeError, PermissionDenied
from ..models import CLIENT_IDENTITY_FIELDS, Client, Invoice, identity_key
from .client_index import ClientIndex
from .job import Job, RecordFailed, reason
from .ledger import LedgerEntry, fingerprint
from .payloads import source_id, target_client
from .presence import gone_reason
from .report import (
    CHANGED,
    CREATED,
    FAILED,
    MATCHED,
    SKIPPED,
    UPDATED,
    WOULD_CREATE,
    WOULD_UPDATE,
    RecordResult,
)

__all__ = ["CLIENT_MATCH_FIELDS", "ClientStage"]

#: Criteria a source client may be matched on in the target, in the default order.
CLIENT_MATCH_FIELDS = CLIENT_IDENTITY_FIELDS


class ClientStage:
    """Migrates clients; :meth:`for_invoice` gives an invoice's client as the target
    knows it."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self._ids: dict[str, str | None] = {}
        self._errors: dict[str, str] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()
        #: Per thread: the target clients that matched as closely as the one
        #: :meth:`match` chose last (reported with the match, never silently).
        self._ties = threading.local()
        #: Clients of the source listing put back (their task deferred): an invoice that
        #: asks for one first takes it from here instead of reading it again.
        self._listed: dict[str, Client] = {}
        #: How many times a client was resolved (migrated or failed) and its locks freed:
        #: what tasks put back wait for (:func:`~invoicing_bridge.migration.run._pool`).
        self.settled = 0
        target = job.target
        #: The target's clients listed once and matched in memory, unless its search is
        #: cheaper (``searches_clients``) or it cannot list them.
        self.index: ClientIndex | None = None
        if Feature.LIST_CLIENTS in target.features and not target.searches_clients:
            self.index = ClientIndex(target, attempts=job.max_attempts)
            # Whether a client migrated before is still there: the same one listing.
            job.presence.listings["client"] = self.index.ids

    def _lock(self, key: str) -> threading.Lock:
        with self._locks_lock:
            return self._locks.setdefault(key, threading.Lock())

    def task(self, client: Client, may_defer: bool = False) -> bool:
        """Migrate one client of the source listing (failures are reported, not raised,
        except those that stop the run). ``may_defer``: return False, doing nothing, when
        it would wait for another worker (migrating it, or a client it may be)."""
        sid = source_id(client)
        if sid is None:
            return True
        try:
            self.resolve(sid, client, full=True, wait=not may_defer)
        except _Busy:
            self._listed[sid] = client
            return False
        except (AuthenticationError, PermissionDenied):
            raise
        except InvoicingBridgeError:
            pass  # reported by resolve
        return True

    def _busy(self, key: str) -> bool:
        """Another worker holds the lock ``key`` now (a hint: it may be free a moment
        later; the locks themselves keep the order)."""
        lock = self._locks.get(key)
        return lock is not None and lock.locked()

    def in_progress(self, invoice: Invoice) -> bool:
        """The invoice's client is being migrated by another worker now: asking for it
        would wait (a hint, for the pool to offer another invoice first)."""
        snapshot = invoice.client
        sid = snapshot.id or (snapshot.source.id if snapshot.source else None)
        if sid is None or sid in self._ids or sid in self._errors:
            return False
        return self._busy(sid) or any(self._busy(k) for k in _identity_locks(snapshot))

    def for_invoice(self, invoice: Invoice) -> Client:
        """The invoice's client as the target knows it (id = the target's id)."""
        snapshot = invoice.client
        sid = snapshot.id or (snapshot.source.id if snapshot.source else None)
        if sid is None:
            sid = f"name:{identity_key('name', snapshot.name)}"
            target_id = self.resolve(sid, snapshot, full=True)
        elif (listed := self._listed.get(sid)) is not None:
            target_id = self.resolve(sid, listed, full=True)
        else:
            target_id = self.resolve(sid, snapshot, full=False)
        client = target_client(snapshot)
        client.id = target_id
        return client

    def resolve(
        self, sid: str, client: Client | None, *, full: bool, wait: bool = True
    ) -> str | None:
        """The target id of source client ``sid``, migrating it once (per-client lock).

        Returns None in a dry run for a client that would be created. Raises
        :class:`RecordFailed` when the client cannot be migrated. ``wait=False``: raise
        :class:`_Busy`, having written nothing, instead of waiting for another worker
        that holds this client's lock or that of a client it may be.
        """
        try:
            target_id = self._resolve(sid, client, full=full, wait=wait)
        except _Busy:
            raise
        except BaseException:
            self._settle()
            raise
        self._settle()
        return target_id

    def _settle(self) -> None:
        with self._locks_lock:
            self.settled += 1

    @contextlib.contextmanager
    def _holding(self, key: str, wait: bool) -> Iterator[None]:
        lock = self._lock(key)
        if not lock.acquire(blocking=wait):
            raise _Busy(key)
        try:
            yield
        finally:
            lock.release()

    def _resolve(self, sid: str, client: Client | None, *, full: bool, wait: bool) -> str | None:
        job = self.job
        with self._holding(sid, wait):
            if sid in self._errors:
                raise RecordFailed(f"client {sid}: {self._errors[sid]}")
            if sid in self._ids:
                return self._ids[sid]
            try:
                if not full or client is None:
                    client = self._full_client(sid, client)
                target_id = self._migrate(sid, client, wait)
            except (AuthenticationError, PermissionDenied):
                raise
            except InvoicingBridgeError as exc:
                why = reason(exc)
                self._errors[sid] = why
                if not job.dry_run:
                    known = exc.target_id if isinstance(exc, _WithoutCarrier) else None
                    job.scope.failed(
                        "client", sid, why, number=_name(client), target_id=known, uncertain=True
                    )
                job.emit(RecordResult("client", sid, FAILED, _name(client), reason=why))
                raise RecordFailed(f"client {sid}: {why}") from exc
            self._ids[sid] = target_id
            return target_id

    def _full_client(self, sid: str, snapshot: Client | None) -> Client:
        source = self.job.source
        if Feature.GET_CLIENT in source.features:
            return source.get_client(sid)
        if snapshot is None:
            raise RecordFailed(f"client {sid} cannot be read from {source.name}")
        return snapshot

    def match(
        self, client: Client, criteria: Sequence[str], *, again: bool = False
    ) -> Client | None:
        """The target's client that is ``client``, searched by each criterion in turn.

        Every candidate is considered, not the first the target gives: one is ``client``
        when the target's :meth:`~InvoicingBackend.client_matches` says so and its name
        does not differ (unless the job lets names differ); among several, the one that
        agrees on the most identity fields.

        Candidates come from the run's :class:`ClientIndex` (the target's clients, listed
        once) or, for a target whose search is cheaper (``searches_clients``), from its
        ``find_clients``; when that gives a single candidate that is not ``client`` (it
        may give the first match only), the target's listing is searched for the others.
        ``again``: the target may hold clients this run has not seen (a create whose
        answer was lost): the index lists the target again first.
        """
        if Feature.FIND_CLIENT not in self.job.target.features:
            return None  # a backend that cannot find clients is not matched against
        index = self.index
        if index is not None and again:
            index.refresh()
        for criterion in criteria:
            value = getattr(client, criterion, None)
            if not value:
                continue
            if index is not None:
                accepted = [c for c in index.candidates(criterion, value) if self._same(client, c)]
            else:
                accepted = self._searched(client, criterion, value)
            if accepted:
                best = max(accepted, key=lambda c: _agreement(client, c))
                closest = _agreement(client, best)
                self._ties.ids = sorted(
                    str(c.id)
                    for c in accepted
                    if c is not best and c.id != best.id and _agreement(client, c) == closest
                )
                return best
        return None

    def _doubt(self) -> str | None:
        """Why the last match of this thread is in doubt: other target clients matched
        it as closely (the first in the target's order was taken)."""
        ties: list[str] = getattr(self._ties, "ids", [])
        self._ties.ids = []
        if not ties:
            return None
        others = ", ".join(ties[:5]) + (f" and {len(ties) - 5} more" if len(ties) > 5 else "")
        return (
            f"{self.job.target.name} also holds {others} as close a match "
            "(same identity fields): check that the right client was chosen"
        )

    def _searched(self, client: Client, criterion: str, value: str) -> list[Client]:
        """The candidates the target's search gives that are ``client``."""
        target = self.job.target
        candidates = target.find_clients(**{criterion: value})
        accepted = [c for c in candidates if self._same(client, c)]
        if not accepted and len(candidates) == 1 and Feature.LIST_CLIENTS in target.features:
            key = identity_key(criterion, value)
            candidates = [
                c
                for c in target.iter_clients()
                if identity_key(criterion, getattr(c, criterion)) == key
            ]
            accepted = [c for c in candidates if self._same(client, c)]
        return accepted

    def _same(self, client: Client, candidate: Client) -> bool:
        if candidate.id is None or not self.job.target.client_matches(client, candidate):
            return False
        if self.job.client_name_may_differ:
            return True
        mine, theirs = identity_key("name", client.name), identity_key("name", candidate.name)
        return not (mine and theirs and mine != theirs)

    def _migrate(self, sid: str, client: Client, wait: bool = True) -> str | None:
        job = self.job
        fp = fingerprint(client)
        name = _name(client)
        entry = job.scope.get("client", sid)
        payload = target_client(client)
        if entry is not None and entry.target_id:
            # Mapped already (a failed update keeps its mapping and its old fingerprint).
            if entry.done and not job.presence.holds("client", entry.target_id):
                # Deleted in the target, or the target was reset: reported (failed, so
                # its invoices wait) and forgotten, so that the next run creates it anew.
                if not job.dry_run:
                    job.scope.forget("client", sid)
                raise RecordFailed(gone_reason(job.target.name, "client", entry.target_id))
            if entry.fingerprint == fp:
                if not entry.done and not job.dry_run:
                    self._check_carrier(client, entry.target_id)
                    job.scope.done("client", sid, entry.target_id, number=name, fingerprint=fp)
                job.emit(RecordResult("client", sid, SKIPPED, name, entry.target_id))
            elif not job.update:
                why = "changed in the source since it was migrated (run with update)"
                job.emit(RecordResult("client", sid, CHANGED, name, entry.target_id, why))
            elif job.dry_run:
                job.emit(RecordResult("client", sid, WOULD_UPDATE, name, entry.target_id))
            else:
                payload.id = entry.target_id
                try:
                    updated = job.target.update_client(payload)
                except InvoicingBridgeError as exc:
                    # The mapping still holds: invoices may point at the old version.
                    why = f"update failed: {reason(exc)}"
                    job.scope.failed("client", sid, why, target_id=entry.target_id)
                    job.emit(RecordResult("client", sid, FAILED, name, entry.target_id, why))
                    return entry.target_id
                self._indexed(updated)
                job.scope.done("client", sid, entry.target_id, number=name, fingerprint=fp)
                job.emit(RecordResult("client", sid, UPDATED, name, entry.target_id))
            return entry.target_id
        # Two source clients that may match each other are matched and created one after
        # the other, so that the second finds the first whatever the order.
        with ExitStack() as stack:
            for key in _identity_locks(client):
                stack.enter_context(self._holding(key, wait))
            return self._match_or_create(sid, client, entry, fp, payload)

    def _match_or_create(
        self, sid: str, client: Client, entry: LedgerEntry | None, fp: str, payload: Client
    ) -> str | None:
        job = self.job
        name = _name(client)
        # A client from an interrupted create is matched on every criterion.
        criteria = CLIENT_MATCH_FIELDS if entry is not None else job.client_match
        self._ties.ids = []
        found = self.match(client, criteria)
        doubt = self._doubt()
        if found is not None and found.id is not None:
            if not job.dry_run:
                job.scope.done("client", sid, found.id, number=name, fingerprint=fp)
            job.emit(RecordResult("client", sid, MATCHED, name, found.id, doubt))
            return found.id
        if job.dry_run:
            job.emit(RecordResult("client", sid, WOULD_CREATE, name))
            return None
        created, record = job.create(
            "client",
            sid,
            name,
            fp,
            lambda: job.target.create_client(payload),
            lambda: self.match(client, CLIENT_MATCH_FIELDS, again=True),
        )
        # Indexed before anything else can fail: the target holds it now, and the next
        # source client that is the same (the identity locks are still held) finds it.
        if isinstance(record, Client) and record.id is not None:
            self._indexed(record)
        else:
            payload.id = created
            self._indexed(payload)
        # The create's answer is the client as stored (read back by the backend after
        # its writes): it is what the check reads, not read again.
        answer = record if isinstance(record, Client) and record.id == created else None
        self._check_carrier(client, created, answer)
        job.scope.done("client", sid, created, number=name, fingerprint=fp)
        job.emit(RecordResult("client", sid, CREATED, name, created))
        return created

    def _indexed(self, client: Client) -> None:
        if self.index is not None:
            self.index.add(client)

    def _check_carrier(self, client: Client, target_id: str, stored: Client | None = None) -> None:
        """Raise when the target holds the client without the source's email: a backend
        may keep the email on a second record (Perfex: the primary contact) whose create
        failed after the client's own. The client is updated with its email to write the
        carrier again; if it still lacks it, the client is failed, not done, and its
        invoices wait (a re-run checks and repairs again). ``stored``: the client as
        the target answered its create, when it did (read again otherwise)."""
        target = self.job.target
        if not client.email or Feature.GET_CLIENT not in target.features:
            return
        wanted = identity_key("email", client.email)
        if stored is None:
            stored = target.get_client(target_id)
            self._indexed(stored)
        # Repair first: updating the client with its email writes the carrier again
        # (Perfex adds the missing primary contact), a few times at most.
        attempts = self.job.max_attempts if Feature.UPDATE_CLIENT in target.features else 0
        for _ in range(attempts):
            if identity_key("email", stored.email) == wanted:
                return
            payload = target_client(client)
            payload.id = target_id
            with contextlib.suppress(InvoicingBridgeError):
                target.update_client(payload)
            stored = target.get_client(target_id)
            self._indexed(stored)
        if identity_key("email", stored.email) != wanted:
            raise _WithoutCarrier(
                f"created in {target.name} as {target_id} without its email "
                f"(the target holds {stored.email or 'none'}): the record that carries it "
                "(a contact) was refused; add it in the target, then run again",
                target_id,
            )


class _Busy(Exception):
    """Internal: another worker holds a lock this client needs (``resolve(wait=False)``);
    nothing was written."""


class _WithoutCarrier(RecordFailed):
    """Internal: the client exists in the target (``target_id``) without its email."""

    def __init__(self, message: str, target_id: str) -> None:
        super().__init__(message)
        self.target_id = target_id


def _agreement(client: Client, candidate: Client) -> int:
    """On how many identity fields ``candidate`` has ``client``'s (non-blank) value."""
    return sum(
        1
        for name in CLIENT_IDENTITY_FIELDS
        if (key := identity_key(name, getattr(client, name)))
        and key == identity_key(name, getattr(candidate, name))
    )


def _identity_locks(client: Client) -> list[str]:
    """Lock names for what a client can be matched on, in a fixed order (no deadlock)."""
    keys = {f"={name}:{identity_key(name, getattr(client, name))}" for name in CLIENT_MATCH_FIELDS}
    return sorted(key for key in keys if not key.endswith(":"))


def _name(client: Client | None) -> str | None:
    return None if client is None else client.name
