"""How invoices are paired: by the number each backend normalises, or through the
migration ledger (:class:`LedgerKeys`: a right invoice's key is the source id the
ledger pairs its id with)."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

from ..backends.base import InvoicingBackend
from ..exceptions import ConfigurationError

if TYPE_CHECKING:
    from ..migration.ledger import Ledger

__all__ = ["MATCH_MODES", "LedgerKeys", "PairSource"]

#: How invoices are paired: by normalised number, or through the migration ledger.
MATCH_MODES = ("number", "ledger")


class PairSource(Protocol):
    """What ``match="ledger"`` needs: :meth:`invoicing_bridge.migration.ledger.Ledger.pairs`."""

    def pairs(
        self, kind: str = "invoice", *, source: str | None = None, target: str | None = None
    ) -> Iterator[tuple[str, str]]: ...


class LedgerKeys:
    """With ledger matching: the left key is the source id, a right invoice's key the
    source id the ledger pairs its id with."""

    def __init__(
        self,
        by_target: dict[str, str],
        notes: list[str],
        migrated_payments: frozenset[str] = frozenset(),
        clients: dict[str, str] | None = None,
        changes: dict[str, list[dict[str, Any]]] | None = None,
    ):
        self.by_target = by_target
        self.notes = notes
        #: Ids of the payments the migration recorded in the right backend (the target).
        self.migrated_payments_right = migrated_payments
        #: The left backend is the migration's source: the migration recorded none there.
        self.migrated_payments_left: frozenset[str] = frozenset()
        #: Client ids: left (source) → right (target), as the migration paired them.
        self.clients: dict[str, str] = clients or {}
        #: By left (source) invoice id: the changes the migration reported making on the
        #: way (``field``, ``old``, ``new``, ``rule``, ``note``), read from a ledger whose
        #: entries carry them (a ``transformed`` outcome); empty otherwise.
        self.changes: dict[str, list[dict[str, Any]]] = changes or {}

    @classmethod
    def load(
        cls,
        ledger: str | os.PathLike[str] | Ledger | PairSource,
        left: InvoicingBackend,
        right: InvoicingBackend,
    ) -> LedgerKeys:
        if isinstance(ledger, str | os.PathLike):
            from ..migration.ledger import Ledger

            if not os.path.isfile(ledger):
                raise ConfigurationError(
                    f"ledger {os.fspath(ledger)!r} does not exist", option="ledger"
                )
            with Ledger(ledger) as opened:
                return cls.load(opened, left, right)
        notes: list[str] = []
        source, target = ledger_labels(ledger, left, right, notes)
        by_target: dict[str, str] = {}
        conflicts: dict[str, set[str]] = defaultdict(set)
        for source_id, target_id in ledger.pairs("invoice", source=source, target=target):
            if target_id in by_target and by_target[target_id] != source_id:
                conflicts[target_id].update((by_target[target_id], source_id))
                continue
            by_target[target_id] = source_id
        for target_id, sources in conflicts.items():
            notes.append(
                f"ledger: right invoice {target_id} is paired with several left invoices "
                f"({', '.join(sorted(sources))}); compared with {by_target[target_id]}"
            )
        payments = frozenset(t for _, t in ledger.pairs("payment", source=source, target=target))
        clients = dict(ledger.pairs("client", source=source, target=target))
        return cls(by_target, notes, payments, clients, _changes(ledger, source, target))


def _changes(
    ledger: Any, source: str | None, target: str | None
) -> dict[str, list[dict[str, Any]]]:
    """The hook for explained differences: ``ledger.entries(...)`` rows with ``changes``
    (the migration's report of what it transformed: field, old and new value, rule)."""
    entries = getattr(ledger, "entries", None)
    if entries is None:
        return {}
    out: dict[str, list[dict[str, Any]]] = {}
    for entry in entries("invoice", source=source, target=target, state="done"):
        found = getattr(entry, "changes", None)
        if found:
            out[str(entry.source_id)] = [dict(change) for change in found]
    return out


def ledger_labels(
    ledger: Any, left: InvoicingBackend, right: InvoicingBackend, notes: list[str]
) -> tuple[str | None, str | None]:
    """Which migration of the ledger to read: the one between these two backends (labels as
    :attr:`~invoicing_bridge.backends.base.InvoicingBackend.label` gives them, as the
    migration stores them), or its only one."""
    labels = getattr(ledger, "labels", None)
    if labels is None:
        return None, None  # a bare pair source: read all its pairs
    known: list[tuple[str, str]] = list(labels())
    if not known:
        return None, None
    wanted = (left.label, right.label)
    if wanted in known:
        return wanted
    if len(known) == 1:
        source, target = known[0]
        notes.append(
            f"ledger: pairs of the migration {source} → {target} used for {wanted[0]} → {wanted[1]}"
        )
        return source, target
    listing = "; ".join(f"{s} → {t}" for s, t in known)
    raise ConfigurationError(
        f"the ledger holds no migration {wanted[0]} → {wanted[1]} and several others "
        f"({listing}): compare the backends that were migrated",
        option="ledger",
    )
