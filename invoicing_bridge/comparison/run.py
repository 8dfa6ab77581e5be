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
from ..models import Invoice, identity_key
from .clients import CLIENT_FIELDS, ClientDifference, client_differences, same_client
from .clients import reported as reported_client
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
from .explain import explain
from .pairing import MATCH_MODES, LedgerKeys, PairSource
from .report import ComparisonReport, DuplicateKey, FieldDifference, RecordDifference

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
    match: str | None = None,
    ledger: str | os.PathLike[str] | Ledger | PairSource | None = None,
    since: dt.date | None = None,
    tolerance: Decimal | str | int = DEFAULT_TOLERANCE,
    progress: Progress | None = None,
) -> ComparisonReport:
    """Compare every invoice of ``left`` with its counterpart in ``right``.

    - ``match``: ``"ledger"`` (the default when a ``ledger`` is given) pairs invoices
      through the migration ``ledger`` (a path or an open
      :class:`~invoicing_bridge.migration.ledger.Ledger`), ``left`` being the migration's
      source and ``right`` its target; ``"number"`` (the default otherwise) pairs them by
      number, normalised by each backend (``"INV-000002"`` in one matches ``"2"`` in the
      other), then pairs what no number paired (a draft's placeholder number) by client,
      issue date and total where exactly one invoice on each side agrees. Several
      invoices under one key are each compared with the candidate they differ least from.
    - ``since``: only invoices issued on or after this date, on both sides.
    - ``tolerance``: money amounts, both rounded to their currency's precision first, that
      differ by no more than this are equal (default 0: exact).
    - ``progress``: called as ``progress(side, count)`` after each invoice read.

    Each side is read once and held in memory reduced to what is compared. Raises
    :class:`~invoicing_bridge.exceptions.ConfigurationError`
    for bad arguments (an unknown ``match``, a missing ledger, a negative tolerance) and
    whatever the backends raise while reading
    (:class:`~invoicing_bridge.exceptions.BackendError` and its subclasses).
    """
    if match is None:
        match = "number" if ledger is None else "ledger"
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
    if ledger is not None:
        report.ledger = _ledger_name(ledger)
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

    # 1. Both sides read once, each invoice reduced to what is compared, by key.
    lefts: list[Snapshot] = []
    for invoice in _read(left, "left", since, progress):
        norm = left.normalize_number(invoice.number)
        key = _number_key(norm) if keys is None else str(invoice.id)
        lefts.append(Snapshot.of(invoice, key, norm, daters[0]))
    rights: list[Snapshot] = []
    for invoice in _read(right, "right", since, progress):
        norm = right.normalize_number(invoice.number)
        rkey = _number_key(norm) if keys is None else keys.by_target.get(str(invoice.id))
        rights.append(Snapshot.of(invoice, rkey, norm, daters[1]))
    report.left_count, report.right_count = len(lefts), len(rights)
    for side, snaps in ((0, lefts), (1, rights)):
        for snap in snaps:
            skipped_payments += snap.skipped_payments
            reported[side].update(snap.reported())

    # 2. Pairs: by key (each of several invoices under one key with its best candidate),
    # then, matching by number, what is left by client, issue date and total.
    pairs: list[tuple[Snapshot, Snapshot, bool]] = []  # (left, right, compare numbers)

    by_records = all(Feature.GET_CLIENT in b.features for b in (left, right))
    client_pairs: dict[tuple[str, str], ClientDifference] = {}
    client_reported: tuple[set[str], set[str]] = (set(), set())

    def differences(
        a: Snapshot, b: Snapshot, numbers: bool, collect: bool = False
    ) -> list[FieldDifference]:
        pair_rules = replace(rules, numbers=numbers) if numbers else rules
        ra = clients[0].get(a.client_id) if by_records else None
        rb = clients[1].get(b.client_id) if by_records else None
        if ra is None or rb is None:
            fill_clients(a, b, clients)
            return diff(a, b, pair_rules, counters)
        # Both client records are read: they are compared once per pair of clients, and
        # the invoice says only whether it belongs to the same client.
        rows = diff(a, b, replace(pair_rules, client_fields=False), counters)
        known = None if keys is None or ra.id is None else keys.clients.get(str(ra.id))
        if not same_client(ra, rb, known):
            rows.insert(0, FieldDifference("client", ra.name, rb.name))
        elif collect:
            pair_key = (str(ra.id), str(rb.id))
            if pair_key not in client_pairs:
                client_pairs[pair_key] = ClientDifference(
                    ra.id, rb.id, ra.name, client_differences(ra, rb)
                )
                client_reported[0].update(reported_client(ra))
                client_reported[1].update(reported_client(rb))
            client_pairs[pair_key].invoices += 1
        return rows

    left_by_key = _group(lefts)
    right_by_key = _group(rights)
    unpaired_left = [s for s in lefts if s.ref.key is None or s.ref.key not in right_by_key]
    unpaired_right = [s for s in rights if s.ref.key is None or s.ref.key not in left_by_key]
    for key, group_left in left_by_key.items():
        group_right = right_by_key.get(key)
        if group_right is None:
            continue
        if len(group_left) == 1 and len(group_right) == 1:
            pairs.append((group_left[0], group_right[0], rules.numbers))
            continue
        matched, rest_left, rest_right = _best_pairs(
            group_left, group_right, lambda a, b: len(differences(a, b, rules.numbers))
        )
        pairs.extend((a, b, rules.numbers) for a, b in matched)
        report.duplicates.append(
            DuplicateKey(
                key,
                [s.ref for s in rest_left],
                [s.ref for s in rest_right],
                paired=len(matched),
            )
        )
    alone: tuple[list[Snapshot], list[Snapshot]] = ([], [])
    for side, snaps in enumerate((unpaired_left, unpaired_right)):
        by_key = _group(snaps)
        for snap in snaps:
            if snap.ref.key is None or len(by_key[snap.ref.key]) == 1:
                alone[side].append(snap)
        for key, group in by_key.items():
            if len(group) > 1:  # several under one key, none on the other side
                refs = [s.ref for s in group]
                report.duplicates.append(
                    DuplicateKey(key, *((refs, []) if side == 0 else ([], refs)))
                )
    if keys is None:
        matched, ambiguous = _match_by_content(*alone)
        pairs.extend((a, b, True) for a, b in matched)
        report.matched_by_content = len(matched)
        report.ambiguous.extend(ambiguous)
        taken = {id(s) for a, b in matched for s in (a, b)}
        taken.update(id(r) for group in ambiguous for r in (*group.left, *group.right))
        alone = (
            [s for s in alone[0] if id(s) not in taken and id(s.ref) not in taken],
            [s for s in alone[1] if id(s) not in taken and id(s.ref) not in taken],
        )
    report.only_left.extend(s.ref for s in alone[0])
    report.only_right.extend(s.ref for s in alone[1])

    # 3. Each pair compared. What one side never reported in this run (Daftra's lines have
    # no unit) is not a difference on every invoice: it is left out, and said once.
    unreported = _unreported(left, right, reported)
    for a, b, numbers in pairs:
        rows = differences(a, b, numbers, collect=True)
        rows = [d for d in rows if _text_field(d.path) not in unreported]
        if keys is not None and a.ref.id is not None:
            rows = explain(rows, keys.changes.get(str(a.ref.id), ()))
        if a.ref.number != b.ref.number:
            renumbered += 1
            example = example or (a.ref.number, b.ref.number)
        if rows:
            found = RecordDifference(
                key=a.ref.key or b.ref.key or "",
                left_id=a.ref.id,
                right_id=b.ref.id,
                number=a.ref.number,
                differences=rows,
                right_number=b.ref.number,
            )
            explained = all(row.explained is not None for row in rows)
            (report.explained if explained else report.different).append(found)
        else:
            report.equal += 1

    # Client records: one row per field of a pair of clients; a field one backend's
    # records never hold in this run is left out and said once.
    silent: dict[str, str] = {}
    for path in CLIENT_FIELDS:
        has = [path in side for side in client_reported]
        if has[0] != has[1]:
            backend = left if not has[0] else right
            silent[path] = f"{path}: {backend.name}'s client records hold none; not compared"
    for client_pair in client_pairs.values():
        client_pair.differences = [d for d in client_pair.differences if d.path not in silent]
        if client_pair.differences:
            report.clients.append(client_pair)
    report.clients_compared = len(client_pairs)

    report.not_compared = _notes(
        left, right, rules, keys, skipped_payments, renumbered, example, report.matched
    )
    report.not_compared.extend(unreported.values())
    report.not_compared.extend(silent.values())
    if client_pairs:
        report.not_compared.append(
            f"client: {len(client_pairs)} pairs of client records read on both sides and "
            "compared once each (name, email, tax number, address); an invoice says only "
            "whether it belongs to the same client"
        )
    if counters.undated_payments:
        report.not_compared.append(
            f"payments[*].date: {counters.undated_payments} paired payments have dates that "
            "differ where one side may have dated the payment itself when it was recorded "
            "(as Perfex's API does); not compared. Compare through the migration ledger to "
            "know which payments the migration recorded"
        )
    if counters.api_dated_payments:
        report.not_compared.append(
            f"payments[*].date: {counters.api_dated_payments} paired payments were recorded "
            "by the migration in a backend that dates a payment itself; their dates are not "
            "compared"
        )
    for records, backend in zip(clients, (left, right), strict=True):
        if records.records and not by_records:
            report.not_compared.insert(
                2,
                f"client.email, client.tax_number: where {backend.name}'s invoices leave "
                f"them out, read from its client records ({len(records.records)} clients)",
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
        "not compared: the client's phone and ids, and each line's discount and amounts "
        "(subtotal and tax_total cover them)"
    )
    return notes


def _ledger_name(ledger: object) -> str:
    if isinstance(ledger, str | os.PathLike):
        return os.fspath(ledger)
    path = getattr(ledger, "path", None)
    return str(path) if path is not None else type(ledger).__name__


def _number_key(norm: str) -> str | None:
    """A normalised number that can pair invoices: one with a digit (``"INV-DRAFT"``, a
    draft's placeholder, pairs nothing)."""
    return norm if any(ch.isdigit() for ch in norm) else None


def _group(snaps: list[Snapshot]) -> dict[str, list[Snapshot]]:
    out: dict[str, list[Snapshot]] = {}
    for snap in snaps:
        if snap.ref.key is not None:
            out.setdefault(snap.ref.key, []).append(snap)
    return out


def _best_pairs(
    lefts: list[Snapshot], rights: list[Snapshot], cost: Callable[[Snapshot, Snapshot], int]
) -> tuple[list[tuple[Snapshot, Snapshot]], list[Snapshot], list[Snapshot]]:
    """Several invoices under one key: each paired with the candidate it differs least
    from (fewest rows; in reading order on a tie). Returns the pairs and what is left."""
    costs = sorted((cost(a, b), i, j) for i, a in enumerate(lefts) for j, b in enumerate(rights))
    used_left: set[int] = set()
    used_right: set[int] = set()
    pairs: list[tuple[Snapshot, Snapshot]] = []
    for _, i, j in costs:
        if i in used_left or j in used_right:
            continue
        used_left.add(i)
        used_right.add(j)
        pairs.append((lefts[i], rights[j]))
    rest_left = [a for i, a in enumerate(lefts) if i not in used_left]
    rest_right = [b for j, b in enumerate(rights) if j not in used_right]
    return pairs, rest_left, rest_right


def _content_key(snap: Snapshot) -> str:
    return " | ".join(
        (
            identity_key("name", snap.client_name),
            snap.issue_date.isoformat(),
            f"{snap.money['total']} {snap.currency}",
        )
    )


def _match_by_content(
    lefts: list[Snapshot], rights: list[Snapshot]
) -> tuple[list[tuple[Snapshot, Snapshot]], list[DuplicateKey]]:
    """Invoices no number paired (a draft's placeholder, a renumbered invoice), paired by
    client, issue date and total where exactly one on each side agrees. Several that agree
    are ambiguous: reported as such, not guessed."""
    by_left: dict[str, list[Snapshot]] = {}
    by_right: dict[str, list[Snapshot]] = {}
    for snaps, out in ((lefts, by_left), (rights, by_right)):
        for snap in snaps:
            out.setdefault(_content_key(snap), []).append(snap)
    pairs: list[tuple[Snapshot, Snapshot]] = []
    ambiguous: list[DuplicateKey] = []
    for key, group_left in by_left.items():
        group_right = by_right.get(key)
        if not group_right:
            continue
        if len(group_left) == 1 and len(group_right) == 1:
            pairs.append((group_left[0], group_right[0]))
        else:
            ambiguous.append(
                DuplicateKey(key, [s.ref for s in group_left], [s.ref for s in group_right])
            )
    return pairs, ambiguous


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
