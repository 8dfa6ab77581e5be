"""What every stage of a migration shares: the two backends, the ledger scope, the report and
the options (:class:`Job`), and the one rule for creating a record never twice
(:meth:`Job.create`, the only place lost answers are recovered)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from ..backends.base import InvoicingBackend
from ..exceptions import BackendError, InvoicingBridgeError
from ..models import Client, Invoice, Payment
from .ledger import LedgerScope
from .presence import Presence
from .report import MigrationReport, RecordResult

__all__ = ["Job", "VerificationError"]

CENT = Decimal("0.01")


class VerificationError(InvoicingBridgeError):
    """An invoice read back from the target does not agree with the source."""


class RecordFailed(InvoicingBridgeError):
    """Internal: a dependency of a record failed (its client), with the reason to report."""


class AlreadyRecorded(RecordFailed):
    """Internal: a failure already written to the ledger (with its target id)."""


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def reason(exc: BaseException) -> str:
    """An error as one line of a report."""
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def may_have_landed(exc: BaseException) -> bool:
    """The failed request may have been applied by the server (its answer was lost):
    :attr:`BackendError.may_have_landed <invoicing_bridge.exceptions.BackendError>`. Any
    other error (a mapping failure, possibly of the create's answer) counts as landed:
    the ledger keeps the intent, and the next run looks the record up."""
    return exc.may_have_landed if isinstance(exc, BackendError) else True


def transient(exc: BaseException) -> bool:
    """Trying again later may succeed (:attr:`BackendError.transient`)."""
    return isinstance(exc, BackendError) and exc.transient


@dataclass
class Job:
    """One migration run: what its stages read, write and report to."""

    source: InvoicingBackend
    target: InvoicingBackend
    scope: LedgerScope
    report: MigrationReport
    since: dt.date | None
    dry_run: bool
    update: bool
    workers: int
    client_match: tuple[str, ...]
    progress: Callable[[RecordResult], None] | None
    max_attempts: int
    verify_fields: Sequence[str]
    policy: Mapping[str, str] = field(default_factory=dict)
    client_name_may_differ: bool = False
    #: What the target still holds of the records done before (one listing per kind).
    presence: Presence = field(init=False)

    def __post_init__(self) -> None:
        self.presence = Presence(self.target)

    def emit(self, result: RecordResult) -> None:
        """Count ``result`` in the report and tell the progress callback."""
        self.report.add(result)
        if self.progress is not None:
            self.progress(result)

    def owner(self, kind: str, target_id: str, sid: str) -> str | None:
        """The other source record already mapped to ``target_id``, if any."""
        entry = self.scope.find_target(kind, target_id)
        return None if entry is None or entry.source_id == sid else entry.source_id

    def create(
        self,
        kind: str,
        sid: str,
        number: str | None,
        fp: str | None,
        create: Callable[[], Invoice | Client | Payment],
        lookup: Callable[[], Invoice | Client | Payment | None],
    ) -> tuple[str, Invoice | Client | Payment | None]:
        """Create one record, never twice: intent first; when the create's answer was lost
        (the error's ``may_have_landed``), look the record up and adopt it, else create it
        again if the error is transient, at most ``max_attempts`` creates in all. Returns
        the target id and the record as the target answered it (None when it was found by
        the lookup).

        Raises the target's error when the record was refused or the attempts ran out
        (the ledger row then stays ``intent`` if a create may have been saved).
        """
        uncertain = False
        for attempt in range(max(1, self.max_attempts)):
            self.scope.intent(kind, sid, number=number, fingerprint=fp)
            try:
                created = create()
            except InvoicingBridgeError as exc:
                landed = may_have_landed(exc)
                uncertain = uncertain or landed
                if landed and isinstance(exc, BackendError):
                    # The answer was lost, not necessarily the record: look it up.
                    found = lookup()
                    if found is not None and found.id is not None:
                        return str(found.id), None
                    if transient(exc) and attempt + 1 < self.max_attempts:
                        continue  # not there: create it again
                self.scope.failed(kind, sid, reason(exc), uncertain=uncertain)
                raise
            if created.id is None:
                # The backend could not tell the new id: find it.
                found = lookup()
                if found is None or found.id is None:
                    self.scope.failed(kind, sid, "created, but its id is unknown", uncertain=True)
                    raise VerificationError(
                        f"{self.target.name} accepted the {kind} but it cannot be found"
                    )
                return str(found.id), None
            return str(created.id), created
        raise AssertionError("unreachable")
