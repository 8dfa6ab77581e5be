"""The entry point: :func:`migrate` opens the ledger, builds the stages and runs them."""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import os
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import TypeVar

from ..backends.base import Feature, InvoicingBackend
from ..exceptions import (
    AuthenticationError,
    InvoicingBridgeError,
    PermissionDenied,
    UnsupportedOperation,
)
from .clients import CLIENT_MATCH_FIELDS, ClientStage
from .invoices import VERIFIED_FIELDS, InvoiceStage
from .job import Job
from .ledger import DEFAULT_LEDGER, Ledger
from .payments import PaymentStage
from .plan import Planner, check_policy
from .report import MigrationReport, RecordResult

log = logging.getLogger("invoicing_bridge.migration")

__all__ = ["migrate"]

T = TypeVar("T")


def migrate(
    source: InvoicingBackend,
    target: InvoicingBackend,
    *,
    since: dt.date | None = None,
    dry_run: bool = False,
    ledger: str | os.PathLike[str] | Ledger = DEFAULT_LEDGER,
    workers: int = 4,
    update: bool = False,
    client_match: Sequence[str] = CLIENT_MATCH_FIELDS,
    progress: Callable[[RecordResult], None] | None = None,
    max_attempts: int = 3,
    verify: Sequence[str] = VERIFIED_FIELDS,
    source_label: str | None = None,
    target_label: str | None = None,
    policy: Mapping[str, str] | None = None,
    new_direction: bool = False,
    client_name_may_differ: bool = False,
) -> MigrationReport:
    """Move clients, invoices and their payments from ``source`` to ``target``.

    Safe to run again: records migrated and unchanged are skipped, records changed in the
    source since are reported (or updated with ``update=True``), and interrupted creates
    are looked up in the target by number before anything is created again.

    - ``since``: only invoices issued on or after this date (and their clients); without
      it every source client is migrated too, invoices or not.
    - ``dry_run``: map and validate every record (the target's ``validate_invoice`` when
      it has one), read the target, write nothing (not even the ledger).
    - ``ledger``: a path (default ``invoicing-bridge-ledger.sqlite`` in the working
      directory) or an open :class:`~invoicing_bridge.migration.ledger.Ledger`.
    - ``workers``: threads migrating invoices concurrently.
    - ``client_match``: how a source client is found in the target before creating it:
      any of ``"email"``, ``"tax_number"``, ``"name"`` (case- and space-insensitive), in
      order; ``()`` always creates. Two different companies are never merged: a
      target client whose email or tax number differs from the source client's is never
      taken for it, nor one whose name differs (compared case- and space-insensitively)
      unless ``client_name_may_differ`` (for clients renamed in the target). Every
      candidate the target holds is considered, the one agreeing on most fields wins.
    - ``progress``: called with each
      :class:`~invoicing_bridge.migration.report.RecordResult` as it happens (from worker
      threads).
    - ``max_attempts``: creates of one record whose answer was lost (the error's
      ``may_have_landed``), each after looking the record up in the target. Nothing else
      is tried again by the job: the backend's HTTP layer retries transient failures.
    - ``verify``: invoice fields read back from the target and compared to the cent.
    - ``source_label``/``target_label``: override the names stored in the ledger
      (default: each backend's ``label``).
    - ``policy``: what to do where the target cannot store an invoice as it is, per case
      of :data:`~invoicing_bridge.migration.plan.POLICIES` (``line_discounts``,
      ``tax_rounding``, ``amount_rounding``: ``transform`` (default) or ``fail``;
      ``void``: ``skip`` (default) or ``fail``). Every transformation keeps the total and
      the amount paid to the cent and is reported (``transformed``, with each field's old
      and new value).
    - ``new_direction``: accept a ledger that so far holds only other directions (other
      source/target labels). Without it such a ledger is refused
      (:class:`~invoicing_bridge.exceptions.ConfigurationError`): it is most likely the
      wrong file, or a backend's label changed, and every record would be created again.

    Every invoice is planned first (mapped, transformed, validated by the target's own
    rules); nothing is written for one that planning refuses. After writing, the invoice
    is read back and compared with the plan: a difference makes it ``needs_attention``
    (with the exact difference) and the next run finishes it.

    Records that fail are in ``report.failures`` and the run goes on. Raises
    :class:`~invoicing_bridge.exceptions.UnsupportedOperation` when the target cannot
    create invoices at all, and lets errors out that stop the run (the source listing
    failing after the HTTP layer's retries, an authentication error, a bad ledger file).
    """
    unknown = set(client_match) - set(CLIENT_MATCH_FIELDS)
    if unknown:
        raise ValueError(f"client_match: unknown criteria {sorted(unknown)}")
    if workers < 1:
        raise ValueError("workers must be at least 1")
    policies = check_policy(policy)
    if (
        Feature.PAYMENTS_EMAIL_CUSTOMER in target.features
        and policies["payments"] == "record"
        and not dry_run
    ):
        log.warning(
            "%s emails the customer a receipt for every payment recorded, and its API "
            "cannot turn that off: migrating payments mails customers about old payments "
            "(policy payments=skip leaves payments out)",
            target.label,
        )
    source_name = source_label or source.label
    target_name = target_label or target.label
    report = MigrationReport(source=source_name, target=target_name, dry_run=dry_run, update=update)
    with ExitStack() as stack:
        if isinstance(ledger, Ledger):
            book = ledger
        elif dry_run and not Path(ledger).exists():
            book = stack.enter_context(Ledger(":memory:"))  # a dry run creates no file
        else:
            book = stack.enter_context(Ledger(ledger))
        if not new_direction:
            book.check_direction(source_name, target_name)
        if not dry_run:
            stack.enter_context(book.run_lock())  # one run per ledger at a time
        run_id = None if dry_run else book.start_run(source=source_name, target=target_name)
        job = Job(
            source=source,
            target=target,
            scope=book.scope(source_name, target_name),
            report=report,
            since=since,
            dry_run=dry_run,
            update=update,
            workers=workers,
            client_match=tuple(client_match),
            progress=progress,
            max_attempts=max(1, max_attempts),
            verify_fields=tuple(verify),
            policy=policies,
            client_name_may_differ=client_name_may_differ,
        )
        try:
            _run(job)
        finally:
            report.finished_at = dt.datetime.now(dt.UTC)
            if run_id is not None:
                book.finish_run(run_id, report.to_dict(records=False))
    return report


def _run(job: Job) -> None:
    if Feature.CREATE_INVOICE not in job.target.features:
        raise UnsupportedOperation(job.target.name, "create_invoice")
    clients = ClientStage(job)
    planner = Planner(job.source, job.target, job.policy)
    invoices = InvoiceStage(job, clients, PaymentStage(job), planner)
    client_tasks: Iterable[Callable[[bool], bool]] = ()
    if job.since is None and Feature.LIST_CLIENTS in job.source.features:
        client_tasks = (partial(clients.task, c) for c in job.source.iter_clients())
    # Clients first, then invoices, in one pool: while clients that may match one
    # another are created one at a time, idle workers go on with the invoices. A client
    # whose namesake is being created, or an invoice whose client is, is put back behind
    # the others rather than wait (``may_defer``): the worker takes one that is ready.
    # Two pools one after the other left most workers idle behind the longest such
    # chain of clients.
    # A source that reads each listed invoice in full keeps as many reads in flight as
    # there are workers to take them (the Perfex backend's detail reads).
    job.source.reading_with(job.workers)
    invoice_tasks: Iterable[Callable[[bool], bool]] = (
        partial(invoices.task, i) for i in job.source.iter_invoices(since=job.since)
    )
    tasks = itertools.chain(client_tasks, invoice_tasks)
    if job.workers <= 1:
        _pool(job.workers, tasks, _call)
        job.report.not_migrated = _not_migrated(job.source)
        return
    # What the source holds that the run does not move is counted while the workers
    # work (a few requests, one after the other: after the pool they kept every
    # worker idle, 0.4 s of a 6-second run).
    with ThreadPoolExecutor(1, thread_name_prefix="unmigrated") as counter:
        not_migrated = counter.submit(_not_migrated, job.source)
        _pool(job.workers, tasks, _call, changed=lambda: clients.settled)
        job.report.not_migrated = not_migrated.result()


def _not_migrated(source: InvoicingBackend) -> dict[str, int] | None:
    """What the source holds that the run does not move, by kind (None: cannot tell)."""
    try:
        counts = source.unmigrated_counts()
    except (AuthenticationError, PermissionDenied):
        raise
    except InvoicingBridgeError:
        return None  # the records moved are reported; this count is a bonus
    return None if counts is None else {kind: int(n) for kind, n in sorted(counts.items())}


def _call(task: Callable[[bool], bool], may_defer: bool) -> bool:
    return task(may_defer)


def _pool(
    workers: int,
    items: Iterable[T],
    work: Callable[[T, bool], bool],
    changed: Callable[[], int] = lambda: 0,
) -> None:
    """Run ``work`` over ``items`` on ``workers`` threads, at most 2 x workers queued.

    ``work(item, may_defer)`` returns False when it did nothing because the item would
    only wait (an invoice whose client another worker is creating): the item is put
    back, so that the worker takes one that is ready instead of waiting, and offered
    again once ``changed()`` (a counter of what items may wait for: clients finished)
    has moved. When only items put back are left, they go to workers that wait.
    """
    if workers <= 1:
        for item in items:
            work(item, False)
        return
    limit = workers * 2
    with ThreadPoolExecutor(workers, thread_name_prefix="migrate") as pool:
        pending: dict[Future[bool], T] = {}
        #: Items put back, with the value of ``changed()`` when they were.
        deferred: deque[tuple[T, int]] = deque()

        def submit(item: T, *, may_defer: bool = True) -> None:
            pending[pool.submit(work, item, may_defer)] = item

        def settle() -> None:
            """Wait for at least one item to finish; put back those that deferred and
            offer again those put back before something they may wait for changed."""
            seen = changed()
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                item = pending.pop(future)
                if not future.result():
                    deferred.append((item, seen))
            now = changed()
            while deferred and deferred[0][1] != now and len(pending) < limit:
                submit(deferred.popleft()[0])

        try:
            for item in items:
                while len(pending) >= limit:
                    settle()
                submit(item)
            while pending or deferred:
                if not pending:
                    # Only items put back are left: nothing else to do, wait for them.
                    while deferred and len(pending) < limit:
                        submit(deferred.popleft()[0], may_defer=False)
                settle()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
