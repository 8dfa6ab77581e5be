"""Migration over real HTTP between the Daftra and Perfex emulators: both directions, a
round trip, re-runs, injected faults, a create answered by a dropped connection after the
server saved it, and a CLI run killed with SIGKILL and resumed.

The source data is written through the backends (not the emulators' seeds) so that it
holds only what both systems can represent: what one of them cannot hold is the plugins'
tests' business, and the demo's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from invoicing_bridge import (
    Address,
    Client,
    Invoice,
    InvoiceStatus,
    LineItem,
    Payment,
    TaxRate,
    get_backend,
    migrate,
)
from invoicing_bridge.backends.base import Feature, InvoicingBackend
from invoicing_bridge.config import dumps_profiles
from invoicing_bridge.migration import MigrationReport
from invoicing_bridge.migration.ledger import Ledger

daftra_emulator = pytest.importorskip("invoicing_bridge_daftra.emulator")
perfex_emulator = pytest.importorskip("invoicing_bridge_perfex.emulator")
DaftraEmulator = daftra_emulator.DaftraEmulator
PerfexEmulator = perfex_emulator.PerfexEmulator

pytestmark = pytest.mark.slow

D = Decimal
CENT = D("0.01")
INVOICES = 10
FAULT_KINDS = ("500", "502", "503", "429", "drop", "html", "drop_after")


def open_backend(emulator: Any, **overrides: Any) -> InvoicingBackend:
    options = dict(emulator.profile())
    name = options.pop("backend")
    return get_backend(name, **{**options, **overrides})


def seed(
    backend: InvoicingBackend, count: int = INVOICES, *, taxed: bool = True, discounts: bool = True
) -> None:
    """Clients, invoices with (``taxed``: taxed and) untaxed lines, (``discounts``) an
    invoice discount on some, notes and terms, a draft, payments in part and in full: all
    in EGP at 14% VAT, amounts in cents."""
    clients = [
        backend.create_client(
            Client(
                name=f"Migrated Client {i}",
                company_name=f"Migrated Client {i}",
                email=f"migrated{i}@example.com",
                phone=f"+20 100 000 00{i}",
                address=Address(line1=f"{i} Nile St", city="Cairo", country="EG"),
            )
        )
        for i in range(3)
    ]
    for i in range(count):
        items = [
            LineItem(
                name="Consulting hours",
                description="on site",
                quantity=D("2"),
                unit_price=D("350.25") + i,
                taxes=[TaxRate("VAT", D("14"))] if taxed else [],
            ),
            LineItem(name="Web hosting (annual)", quantity=D("1"), unit_price=D("1899.99")),
        ]
        invoice = Invoice.build(
            number=f"{i + 1:06d}",
            issue_date=dt.date(2026, 1, 2) + dt.timedelta(days=i),
            due_date=dt.date(2026, 3, 1),
            currency="EGP",
            client=clients[i % 3],
            items=items,
            discount_total=D("50.00") if discounts and i % 4 == 1 else D("0"),
            notes=f"Thank you ({i})",
            terms="Net 30",
            status=InvoiceStatus.DRAFT if i == 4 else None,
        )
        created = backend.create_invoice(invoice)
        assert created.id is not None
        if i % 2 == 0 and i != 4:
            backend.record_payment(
                Payment(
                    amount=D("100.00"),
                    date=dt.date(2026, 2, 1),
                    method="cash",
                    invoice_id=created.id,
                )
            )
        if i % 3 == 0 and i != 4:
            rest = created.total - (D("100.00") if i % 2 == 0 else 0)
            backend.record_payment(
                Payment(
                    amount=rest,
                    date=dt.date(2026, 2, 2),
                    method="bank_transfer",
                    reference=f"TX-{i}",
                    invoice_id=created.id,
                )
            )


def assert_same_totals(source: InvoicingBackend, target: InvoicingBackend, ledger: Path) -> None:
    """Every source invoice is in the (initially empty) target exactly once, paired by the
    ledger (a Perfex draft has no number of its own), with the same totals to the cent."""
    with Ledger(ledger) as book:
        pairs = dict(book.pairs("invoice", source=source.label, target=target.label))
    sources = {str(i.id): i for i in source.iter_invoices()}
    targets = [i for i in target.iter_invoices()]
    assert sorted(pairs) == sorted(sources)
    assert len(targets) == len(set(pairs.values())) == len(sources), "an invoice was duplicated"
    numbers = Counter(target.normalize_number(i.number) for i in targets)
    assert max(numbers.values()) == 1, numbers
    for source_id, target_id in pairs.items():
        left, right = source.get_invoice(source_id), target.get_invoice(target_id)
        for name in ("subtotal", "tax_total", "total", "amount_paid", "balance_due"):
            assert abs(getattr(left, name) - getattr(right, name)) < CENT, (left.number, name)
        assert (left.status is InvoiceStatus.DRAFT) == (right.status is InvoiceStatus.DRAFT)
        assert len(left.payments) == len(right.payments), left.number


def chain(ledger: Path, *backends: InvoicingBackend) -> dict[str, str]:
    """First backend's invoice id -> last backend's, through each migration's pairs."""
    with Ledger(ledger) as book:
        mapping = {s: s for s, _ in book.pairs(source=backends[0].label, target=backends[1].label)}
        for a, b in itertools.pairwise(backends):
            step = dict(book.pairs(source=a.label, target=b.label))
            mapping = {k: step[v] for k, v in mapping.items()}
    return mapping


def writes(emulator: Any) -> int:
    by_method = emulator.stats.snapshot()["by_method"]
    return int(sum(n for m, n in by_method.items() if m in ("POST", "PUT", "DELETE")))


def run(source: InvoicingBackend, target: InvoicingBackend, ledger: Path, **kw: Any) -> Any:
    report: MigrationReport = migrate(source, target, ledger=ledger, **kw)
    return report


@pytest.fixture
def daftra() -> Iterator[Any]:
    with DaftraEmulator(invoices=0, seed=11) as emulator:
        yield emulator


@pytest.fixture
def perfex() -> Iterator[Any]:
    with PerfexEmulator(invoices=0, seed=11) as emulator:
        yield emulator


# --------------------------------------------------------------------------- directions


def test_daftra_to_perfex_then_a_second_run_creates_nothing(
    daftra: Any, perfex: Any, tmp_path: Path
) -> None:
    with open_backend(daftra) as source, open_backend(perfex) as target:
        seed(source)
        report = run(source, target, tmp_path / "l.sqlite")
        assert report.ok, report.failures
        assert report.counts["invoice"].created == INVOICES
        assert_same_totals(source, target, tmp_path / "l.sqlite")
        before = writes(perfex)
        again = run(source, target, tmp_path / "l.sqlite")
        assert again.ok, again.failures
        assert again.counts["invoice"].skipped == INVOICES
        assert sum(c.created for c in again.counts.values()) == 0
        assert writes(perfex) == before


def test_a_changed_daftra_invoice_is_reported_then_updated_in_perfex(
    daftra: Any, perfex: Any, tmp_path: Path
) -> None:
    ledger = tmp_path / "l.sqlite"
    with open_backend(daftra) as source, open_backend(perfex) as target:
        seed(source, 3)
        assert run(source, target, ledger).ok
        edited = next(i for i in source.iter_invoices() if i.number == "000002")
        source.update_invoice(edited.copy(notes="Revised notes", terms="Net 7"))
        report = run(source, target, ledger)
        assert [c.number for c in report.changes] == ["000002"]
        assert report.ok
        report = run(source, target, ledger, update=True)
        assert report.ok, report.failures
        assert report.counts["invoice"].updated == 1
        with Ledger(ledger) as book:
            pairs = dict(book.pairs())
        stored = target.get_invoice(pairs[str(edited.id)])
        assert (stored.notes, stored.terms) == ("Revised notes", "Net 7")
        assert_same_totals(source, target, ledger)


def test_perfex_to_daftra(daftra: Any, perfex: Any, tmp_path: Path) -> None:
    with open_backend(perfex) as source, open_backend(daftra) as target:
        # Perfex takes an invoice discount after tax, Daftra before: not both at once.
        seed(source, discounts=False)
        report = run(source, target, tmp_path / "l.sqlite")
        assert report.ok, report.failures
        assert_same_totals(source, target, tmp_path / "l.sqlite")


def test_perfex_taxes_it_cannot_read_fail_each_invoice_before_anything_is_written(
    daftra: Any, perfex: Any, tmp_path: Path
) -> None:
    """Perfex's API returns no per-line taxes (api-notes/perfex.md): a taxed invoice read
    from it cannot be rebuilt in Daftra, which computes tax from the lines."""
    with open_backend(perfex) as source, open_backend(daftra) as target:
        seed(source, 3, discounts=False)
        lines_have_taxes = all(
            any(item.taxes for item in i.items) for i in source.iter_invoices() if i.tax_total
        )
        report = run(source, target, tmp_path / "l.sqlite")
        if lines_have_taxes:  # a Perfex plugin that learnt to read (or infer) them
            assert report.ok, report.failures
            return
        assert report.counts["invoice"].failed == 3
        for failure in report.failures:
            assert "does not report the taxes of each line" in (failure.reason or "")
        assert list(target.iter_invoices()) == []


def test_daftra_to_perfex_to_daftra_keeps_every_total_to_the_cent(
    daftra: Any, perfex: Any, tmp_path: Path
) -> None:
    with (
        DaftraEmulator(invoices=0, seed=12) as second,
        open_backend(daftra) as origin,
        open_backend(perfex) as middle,
        open_backend(second) as back,
    ):
        seed(origin)
        there = run(origin, middle, tmp_path / "l.sqlite")
        assert there.ok, there.failures
        # One ledger for both legs: the second is a new direction in it, said explicitly.
        home = run(middle, back, tmp_path / "l.sqlite", new_direction=True)
        assert home.ok, home.failures
        assert len(list(back.iter_invoices())) == INVOICES
        for first, last in chain(tmp_path / "l.sqlite", origin, middle, back).items():
            left, right = origin.get_invoice(first), back.get_invoice(last)
            for name in ("subtotal", "tax_total", "total", "amount_paid", "balance_due"):
                assert abs(getattr(left, name) - getattr(right, name)) < CENT, (left.number, name)


# --------------------------------------------------------------------------- faults


def test_five_percent_faults_429_bursts_and_drops_end_complete_without_duplicates(
    tmp_path: Path,
) -> None:
    with (
        DaftraEmulator(invoices=0, seed=21, fault_rate=0.05, fault_kinds=FAULT_KINDS) as daftra,
        PerfexEmulator(invoices=0, seed=21, fault_rate=0.05, fault_kinds=FAULT_KINDS) as perfex,
    ):
        for emulator in (daftra, perfex):
            emulator.faults.retry_after = 0  # keep 429s fast; they still are 429s
        with open_backend(daftra) as source:
            # Seed without faults, then turn them on.
            daftra.faults.fault_rate = 0.0
            seed(source, 12)
            daftra.faults.fault_rate = 0.05
            with open_backend(perfex, backoff_base=0.01) as target:
                perfex.faults.scheduled.extend(["429"] * 5)  # a burst, longer than retries
                report = run(source, target, tmp_path / "l.sqlite", workers=4)
                assert report.ok, report.failures
                daftra.faults.fault_rate = perfex.faults.fault_rate = 0.0
                assert_same_totals(source, target, tmp_path / "l.sqlite")
        assert perfex.stats.snapshot()["faults"] >= 5


def _drop_after_once(
    emulator: Any, backend: InvoicingBackend, wanted: Callable[[str, str], bool]
) -> list[str]:
    """Make the first request that ``wanted(method, path)`` be processed by the server and
    then answered with a dropped connection. Returns the list of requests so dropped."""
    dropped: list[str] = []
    http = backend.http  # type: ignore[attr-defined]
    original = http.request

    def request(method: str, path: str, **kw: Any) -> Any:
        if not dropped and wanted(method.upper(), path):
            dropped.append(f"{method} {path}")
            emulator.faults.scheduled.append("drop_after")
        return original(method, path, **kw)

    http.request = request
    return dropped


@pytest.mark.parametrize("direction", ["daftra-to-perfex", "perfex-to-daftra"])
@pytest.mark.parametrize("what", ["invoice", "payment", "draft"])
def test_timeout_after_the_server_saved_a_create_does_not_duplicate_it(
    daftra: Any, perfex: Any, tmp_path: Path, direction: str, what: str
) -> None:
    source_emulator, target_emulator = (
        (daftra, perfex) if direction == "daftra-to-perfex" else (perfex, daftra)
    )
    with open_backend(source_emulator) as source, open_backend(target_emulator) as target:
        seed(source, 5, discounts=False)  # the fifth is a draft (Perfex numbers it later)
        part = "payment" if what == "payment" else "invoice"
        # Daftra takes payments in the invoice create's own request: there the payment's
        # create is the first create of an invoice that carries payments.
        inline = what == "payment" and Feature.CREATE_WITH_PAYMENTS in target.features
        if inline and target.name == "daftra":
            part = "invoice"
        drafting = threading.Event()
        if what in ("draft", "payment"):
            create = target.create_invoice

            def create_invoice(invoice: Invoice) -> Invoice:
                if invoice.status is InvoiceStatus.DRAFT or (inline and invoice.payments):
                    drafting.set()
                return create(invoice)

            target.create_invoice = create_invoice  # type: ignore[method-assign]

        def wanted(method: str, path: str) -> bool:
            if (what == "draft" or inline) and not drafting.is_set():
                return False
            return method == "POST" and part in path and ("payment" in path) == (part == "payment")

        dropped = _drop_after_once(target_emulator, target, wanted)
        report = run(source, target, tmp_path / "l.sqlite", workers=1)
        assert dropped, "no create was dropped"
        assert report.ok, report.failures
        assert target_emulator.stats.snapshot()["faults"] == 1
        assert_same_totals(source, target, tmp_path / "l.sqlite")


def test_interrupted_draft_create_is_found_without_a_number(
    daftra: Any, perfex: Any, tmp_path: Path
) -> None:
    """A Perfex draft has no number of its own (it gets one when issued): after a crash
    between its create and the ledger's "done", it is found by client, date and total."""
    ledger = tmp_path / "l.sqlite"
    with open_backend(daftra) as source, open_backend(perfex) as target:
        seed(source, 5, discounts=False)
        assert run(source, target, ledger).ok
        draft = next(i for i in source.iter_invoices() if i.status is InvoiceStatus.DRAFT)
        with Ledger(ledger) as book:
            scope = book.scope(source.label, target.label)
            scope.intent("invoice", str(draft.id), number=draft.number, fingerprint="crashed")
            book._conn().execute(
                "UPDATE records SET target_id = NULL WHERE kind = 'invoice' AND source_id = ?",
                (str(draft.id),),
            )
        report = run(source, target, ledger)
        assert report.ok, report.failures
        assert report.counts["invoice"].matched == 1
        assert_same_totals(source, target, ledger)


# --------------------------------------------------------------------------- SIGKILL

RUNNER = textwrap.dedent(
    """
    import sys
    from invoicing_bridge.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


def write_config(path: Path, profiles: dict[str, dict[str, Any]]) -> Path:
    path.write_text(dumps_profiles(profiles), encoding="utf-8")
    return path


def _done_invoices(ledger: Path) -> int:
    if not ledger.exists():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)) as db:
            row = db.execute(
                "SELECT COUNT(*) FROM records WHERE kind = 'invoice' AND state = 'done'"
            ).fetchone()
    except sqlite3.Error:  # not created yet
        return 0
    return int(row[0])


def test_cli_run_killed_at_random_points_then_resumed_migrates_each_invoice_once(
    tmp_path: Path,
) -> None:
    with (
        DaftraEmulator(invoices=0, seed=31, latency_ms=15) as daftra,
        PerfexEmulator(invoices=0, seed=31, latency_ms=15) as perfex,
        open_backend(daftra) as source,
        open_backend(perfex) as target,
    ):
        seed(source, 16)
        config = write_config(
            tmp_path / "invoicing-bridge.toml", {"shop": daftra.profile(), "crm": perfex.profile()}
        )
        script = tmp_path / "run_cli.py"
        script.write_text(RUNNER)
        ledger = tmp_path / "ledger.sqlite"
        report = tmp_path / "report.json"
        command = [
            sys.executable,
            str(script),
            "--config",
            str(config),
            "migrate",
            "shop",
            "crm",
            "--ledger",
            str(ledger),
            "--workers",
            "3",
            "--quiet",
        ]
        rng = random.Random(3)
        kills = 0
        # Kill once the ledger says k invoices are done, k random and growing: the other
        # workers are then anywhere in their own invoices (mid-request included).
        for k in sorted(rng.sample(range(1, 15), 4)):
            process = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ
            )
            deadline = time.monotonic() + 60
            while process.poll() is None and time.monotonic() < deadline:
                if _done_invoices(ledger) >= k:
                    time.sleep(rng.uniform(0, 0.05))
                    process.send_signal(signal.SIGKILL)
                    kills += 1
                    break
                time.sleep(0.005)
            process.wait(timeout=60)
        assert kills >= 3
        resumed = subprocess.run(
            [*command, "--report", str(report)], capture_output=True, text=True, timeout=120
        )
        assert resumed.returncode == 0, resumed.stderr + report.read_text()
        assert_same_totals(source, target, ledger)
        data = json.loads(report.read_text())
        assert data["ok"] and data["failures"] == []


# --------------------------------------------------------------------------- figures


def test_requests_per_migrated_invoice(daftra: Any, perfex: Any, tmp_path: Path) -> None:
    """Not a limit, a measure (printed with -s): how chatty a migration is."""
    with open_backend(daftra) as source, open_backend(perfex) as target:
        seed(source, 12)
        before = daftra.stats.snapshot()["requests"], perfex.stats.snapshot()["requests"]
        report = run(source, target, tmp_path / "l.sqlite")
        assert report.ok, report.failures
        sent = (
            daftra.stats.snapshot()["requests"] - before[0],
            perfex.stats.snapshot()["requests"] - before[1],
        )
        per_invoice = sum(sent) / 12
        print(f"\nrequests: daftra {sent[0]}, perfex {sent[1]}; {per_invoice:.1f} per invoice")
        assert per_invoice < 25
