"""The entry point: :func:`compare` reads both sides once (a hash join on the match key)
and sorts every invoice into the report."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from ..backends.base import Feature, InvoicingBackend
from ..exceptions import ConfigurationError
from ..models import Invoice
from .diff import (
    TEXT_FIELDS,
    ClientRecords,
    Counters,
    Rules,
    Snapshot,
    diff,
    fill_clients,
    payment_dater,
)
from .pairing import MATCH_MODES, LedgerKeys, PairSource
from .report import ComparisonReport, DuplicateKey, InvoiceRef, RecordDifference

if TYPE_CHECKING:
    from ..migration.ledger import Ledger

__all__ = ["DEFAULT_TOLERANCE", "Progress", "compare"]

#: Money amounts, rounded to their currency's precision, that differ by no more than this
#: are equal. Zero: an accountant's comparison is exact unless asked otherwise.
DEFAULT_TOLERANCE = Decimal("0")

#: ``progress(side, count)``: called after each invoice read; ``side`` is ``"left"`` or
#: ``"right"``, ``count`` the invoices read from that side so far.
Progress = Callable[[str, int], None]


def compare(
    left: InvoicingBackend,
    right: InvoicingBackend,
    *,
    match: str = "number",
    ledger: str | os.PathLike[str] | Ledger | PairSource | None = None,
    since: dt.date | None = None,
    tolerance: Decimal | str | int = DEFAULT_TOLERANCE,
    progress: Progress | None = None,
) -> ComparisonReport:
    """Compare every invoice of ``left`` with its counterpart in ``right``.

    - ``match``: ``"number"`` pairs invoices by number, normalised by each backend
      (``"INV-000002"`` in one matches ``"2"`` in the other); ``"ledger"`` pairs them
      through the migration ``ledger`` (a path or an open
      :class:`~invoicing_bridge.migration.ledger.Ledger`), ``left`` being the migration's source and
      ``right`` its target.
    - ``since``: only invoices issued on or after this date, on both sides.
    - ``tolerance``: money amounts, both rounded to their currency's precision first, that
      differ by no more than this are equal (default 0: exact).
    - ``progress``: called as ``progress(side, count)`` after each invoice read.

    Each side is read once; the left side is held in memory (only what is compared), the
    right side streamed. Raises :class:`~invoicing_bridge.exceptions.ConfigurationError`
    for bad arguments (an unknown ``match``, a missing ledger, a negative tolerance) and
    whatever the backends raise while reading
    (:class:`~invoicing_bridge.exceptions.BackendError` and its subclasses).
    """
    if match not in MATCH_MODES:
        raise ConfigurationError(
            f"{match!r} is not one of {', '.join(MATCH_MODES)}", option="match"
        )
    if match == "ledger" and ledger is None:
        raise ConfigurationError("matching by ledger needs a ledger", option="ledger")
    if match == "number" and ledger is not None:
        raise ConfigurationError("a ledger is used only with match='ledger'", option="ledger")
    report = ComparisonReport(
        left=left.label,
        right=right.label,
        match=match,
        tolerance=_tolerance(tolerance),
        since=since,
        started_at=time.monotonic(),
    )
    keys = None if ledger is None else LedgerKeys.load(ledger, left, right)
    rules = Rules(
        tolerance=report.tolerance,
        item_taxes=all(Feature.ITEM_TAX_DETAIL in b.features for b in (left, right)),
        numbers=keys is not None,
    )
    daters = (
        payment_dater(left, None if keys is None else keys.migrated_payments_left),
        payment_dater(right, None if keys is None else keys.migrated_payments_right),
    )
    counters = Counters()
    reported: tuple[set[str], set[str]] = (set(), set())
    clients = (ClientRecords(left), ClientRecords(right))
    skipped_payments = 0
    renumbered = 0
    example: tuple[str, str] | None = None

    # 1. The left side, by key.
    left_by_key: dict[str, Snapshot] = {}
    left_dups: dict[str, list[InvoiceRef]] = {}
    for invoice in _read(left, "left", since, progress):
        report.left_count += 1
        norm = left.normalize_number(invoice.number)
        key = norm if keys is None else str(invoice.id)
        snap = Snapshot.of(invoice, key, norm, daters[0])
        skipped_payments += snap.skipped_payments
        reported[0].update(snap.reported())
        if key in left_dups:
            left_dups[key].append(snap.ref)
        elif key in left_by_key:
            left_dups[key] = [left_by_key.pop(key).ref, snap.ref]
        else:
            left_by_key[key] = snap

    # 2. The right side, streamed and looked up.
    right_seen: dict[str, InvoiceRef] = {}
    right_dups: dict[str, list[InvoiceRef]] = {}
    results: dict[str, RecordDifference | None] = {}  # by key; None when equal
    for invoice in _read(right, "right", since, progress):
        report.right_count += 1
        norm = right.normalize_number(invoice.number)
        if keys is None:
            rkey: str | None = norm
        else:
            rkey = keys.by_target.get(str(invoice.id))
        snap = Snapshot.of(invoice, rkey, norm, daters[1])
        skipped_payments += snap.skipped_payments
        reported[1].update(snap.reported())
        if rkey is None:  # not in the ledger
            report.only_right.append(snap.ref)
            continue
        if rkey in right_dups:
            right_dups[rkey].append(snap.ref)
            continue
        if rkey in right_seen:
            right_dups[rkey] = [right_seen.pop(rkey), snap.ref]
            results.pop(rkey, None)
            continue
        right_seen[rkey] = snap.ref
        other = left_by_key.get(rkey)
        if other is None:
            continue  # only on the right, or a left duplicate: decided at the end
        fill_clients(other, snap, clients)
        differences = diff(other, snap, rules, counters)
        if other.ref.number != snap.ref.number:
            renumbered += 1
            example = example or (other.ref.number, snap.ref.number)
        results[rkey] = (
            RecordDifference(
                key=rkey,
                left_id=other.ref.id,
                right_id=snap.ref.id,
                number=other.ref.number,
                differences=differences,
                right_number=snap.ref.number,
            )
            if differences
            else None
        )

    # What one side never reported in this run (Daftra's lines have no unit) is not a
    # difference on every invoice: it is left out, and said once.
    unreported = _unreported(left, right, reported)
    if unreported:
        for key, result in results.items():
            if result is not None:
                kept = [d for d in result.differences if _text_field(d.path) not in unreported]
                results[key] = replace(result, differences=kept) if kept else None

    # 3. Sort every invoice into its place.
    for key, snap in left_by_key.items():
        if key not in right_seen and key not in right_dups:
            report.only_left.append(snap.ref)
    for key, ref in right_seen.items():
        if key not in left_by_key and key not in left_dups:
            report.only_right.append(ref)
    for key in (*left_dups, *(k for k in right_dups if k not in left_dups)):
        left_refs = left_dups.get(key) or ([left_by_key[key].ref] if key in left_by_key else [])
        right_refs = right_dups.get(key) or ([right_seen[key]] if key in right_seen else [])
        report.duplicates.append(DuplicateKey(key, left_refs, right_refs))
    for result in results.values():
        if result is None:
            report.equal += 1
        else:
            report.different.append(result)

    report.not_compared = _notes(
        left, right, rules, keys, skipped_payments, renumbered, example, report.matched
    )
    report.not_compared.extend(unreported.values())
    if counters.undated_payments:
        report.not_compared.append(
            f"payments[*].date: {counters.undated_payments} paired payments have dates that "
            "differ where one side may have dated the payment itself when it was recorded "
            "(as Perfex's API does); not compared. Compare through the migration ledger to "
            "know which payments the migration recorded"
        )
    for side, backend in zip(clients, (left, right), strict=True):
        if side.records:
            report.not_compared.insert(
                2,
                f"client.email, client.tax_number: where {backend.name}'s invoices leave "
                f"them out, read from its client records ({len(side.records)} clients)",
            )
    report.finished_at = time.monotonic()
    return report


def _notes(
    left: InvoicingBackend,
    right: InvoicingBackend,
    rules: Rules,
    keys: LedgerKeys | None,
    skipped_payments: int,
    renumbered: int,
    example: tuple[str, str] | None,
    matched: int,
) -> list[str]:
    notes = [
        "id, created_at, updated_at, source, raw, extra: backend-specific by nature, "
        "never compared",
        "client.name, client.email: compared ignoring case and repeated whitespace; "
        "client.tax_number ignoring case, spaces and punctuation",
    ]
    if keys is None:
        text = "number: invoices are matched on the number as each backend normalises it"
        if renumbered and example is not None:
            text += (
                f"; {renumbered} of {matched} matched invoices show it differently "
                f"(e.g. {example[0]!r} and {example[1]!r})"
            )
        notes.append(text)
    else:
        notes.append(
            "number: invoices are matched through the migration ledger; numbers are "
            "compared as each backend normalises them, except for drafts"
        )
        notes.extend(keys.notes)
    if not rules.item_taxes:
        for backend in (left, right):
            if Feature.ITEM_TAX_DETAIL not in backend.features:
                notes.append(f"items[*].taxes: {backend.name} does not report per-line tax")
    for backend in (left, right):
        if Feature.PAYMENT_DATES not in backend.features:
            notes.append(
                f"payments[*].date: {backend.name} dates a payment itself when it is recorded "
                "through its API; such dates are not compared, dates users set are"
            )
    if skipped_payments:
        notes.append(
            f"payments: only completed payments are compared; {skipped_payments} pending, "
            "failed or unknown payments were left out"
        )
    notes.append(
        "money: both sides rounded to the currency's precision (half up), then compared "
        + ("exactly" if rules.tolerance == 0 else f"within {rules.tolerance}")
    )
    notes.append(
        "notes, terms, items[*].description: compared ignoring HTML line breaks (<br />) "
        "and repeated whitespace; items[*].unit ignoring case too"
    )
    notes.append(
        "not compared: the client's address, phone and ids, and each line's discount and "
        "amounts (subtotal and tax_total cover them)"
    )
    return notes


def _text_field(path: str) -> str:
    """``items[2].unit`` → ``items[*].unit``; ``notes`` → ``notes``."""
    if path.startswith("items[") and "." in path:
        return "items[*]." + path.rsplit(".", 1)[1]
    return path


def _unreported(
    left: InvoicingBackend, right: InvoicingBackend, reported: tuple[set[str], set[str]]
) -> dict[str, str]:
    """The text fields one side never had a value for while the other had: by field, the
    note that says so."""
    out: dict[str, str] = {}
    for name in TEXT_FIELDS:
        has = [name in side for side in reported]
        if has[0] != has[1]:
            silent = left if not has[0] else right
            out[name] = f"{name}: {silent.name} reported none on any invoice read; not compared"
    return out


def _read(
    backend: InvoicingBackend,
    side: str,
    since: dt.date | None,
    progress: Progress | None,
) -> Iterator[Invoice]:
    count = 0
    for invoice in backend.iter_invoices(since=since):
        # A backend's own `since` may be coarser (a modified-since filter): filter again.
        if since is not None and invoice.issue_date < since:
            continue
        count += 1
        # A listing may leave out lines and payments (Perfex 2.x): read them.
        invoice = backend.full_invoice(invoice)
        if progress is not None:
            progress(side, count)
        yield invoice


def _tolerance(value: Decimal | str | int) -> Decimal:
    if isinstance(value, float):
        raise ConfigurationError("pass the tolerance as a Decimal or str, not a float")
    try:
        tolerance = Decimal(str(value))
    except InvalidOperation:
        raise ConfigurationError(f"{value!r} is not a number", option="tolerance") from None
    if not tolerance.is_finite() or tolerance < 0:
        raise ConfigurationError(f"{value!r} must be zero or more", option="tolerance")
    return tolerance
