"""Migration between two memory backends: every behaviour of the job, fast."""

from __future__ import annotations

import datetime as dt
import io
import json
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from invoicing_bridge import (
    AuthenticationError,
    Client,
    InvalidRequest,
    Invoice,
    InvoiceStatus,
    LineItem,
    Payment,
    PaymentStatus,
    ServerError,
    TaxRate,
    TransportError,
    UnsupportedOperation,
    migrate,
)
from invoicing_bridge.backends.base import Feature
from invoicing_bridge.backends.memory import MemoryBackend
from invoicing_bridge.cli.migrate import render_report
from invoicing_bridge.exceptions import ConfigurationError
from invoicing_bridge.migration import MigrationReport, RecordResult
from invoicing_bridge.migration.ledger import Ledger

D = Decimal
DAY = dt.date(2024, 3, 1)


# --------------------------------------------------------------------------- builders


def make_clients(backend: MemoryBackend) -> list[Client]:
    return [
        backend.create_client(
            Client(name="Acme Ltd", company_name="Acme Ltd", email="billing@acme.test")
        ),
        backend.create_client(Client(name="Globex", tax_number="EG-123-456")),
        backend.create_client(Client(name="Initech  LLC", phone="+20 100")),
        backend.create_client(Client(name="Umbrella", email="u@umbrella.test", currency="EUR")),
    ]


def make_invoice(number: str, client: Client, index: int, **kw: Any) -> Invoice:
    items = [
        LineItem(
            name=f"Service {index}",
            description="consulting, hourly",
            quantity=D("3.5"),
            unit_price=D("120.0000") + index,
            unit="hour",
            taxes=[TaxRate("VAT", D("14"))],
        ),
        LineItem(
            name="Licence",
            quantity=D("1"),
            unit_price=D("999.99"),
            discount=D("50.00"),
            taxes=[TaxRate("VAT", D("14")), TaxRate("Stamp", D("1"))],
        ),
    ]
    defaults: dict[str, Any] = {
        "number": number,
        "issue_date": DAY + dt.timedelta(days=index),
        "due_date": DAY + dt.timedelta(days=index + 30),
        "currency": "EGP",
        "client": client,
        "items": items,
        "discount_total": D("10.00"),
        "notes": f"Thank you #{index}",
        "terms": "Net 30",
    }
    defaults.update(kw)
    return Invoice.build(**defaults)


def seed(backend: MemoryBackend, count: int = 8) -> list[Invoice]:
    """Clients and ``count`` invoices: some paid in full, some in part, a draft, a void."""
    clients = make_clients(backend)
    created = []
    for i in range(count):
        invoice = make_invoice(f"INV-{i + 1:05d}", clients[i % len(clients)], i)
        if i == 5:
            invoice.status = InvoiceStatus.DRAFT
        if i == 6:
            invoice.status = InvoiceStatus.VOID
        stored = backend.create_invoice(invoice)
        if i % 3 == 0 and i not in (5, 6):
            backend.record_payment(
                Payment(amount=D("100.00"), date=DAY, method="cash", invoice_id=stored.id)
            )
        if i % 3 == 1 and i not in (5, 6):
            backend.record_payment(
                Payment(
                    amount=stored.total,
                    date=DAY + dt.timedelta(days=2),
                    method="bank_transfer",
                    reference=f"TX-{i}",
                    invoice_id=stored.id,
                )
            )
        created.append(backend.get_invoice(str(stored.id)))
    return created


def content(invoice: Invoice) -> dict[str, Any]:
    """What must survive a migration: everything but ids, timestamps and provenance."""
    data = invoice.to_dict()
    for key in ("id", "source", "created_at", "updated_at"):
        data.pop(key)
    data["client"] = {k: data["client"][k] for k in ("name", "email", "tax_number")}
    data["payments"] = sorted(
        (p["amount"], p["date"], p["method"], p["reference"]) for p in data["payments"]
    )
    return data


def by_number(backend: MemoryBackend) -> dict[str, Invoice]:
    return {i.number: i for i in backend.iter_invoices()}


@pytest.fixture
def source() -> Iterator[MemoryBackend]:
    with MemoryBackend(label="old") as backend:
        seed(backend)
        yield backend


@pytest.fixture
def target() -> Iterator[MemoryBackend]:
    with MemoryBackend(label="new") as backend:
        yield backend


@pytest.fixture
def ledger_path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.sqlite"


def run(source: MemoryBackend, target: MemoryBackend, ledger: Path, **kw: Any) -> MigrationReport:
    return migrate(source, target, ledger=ledger, **kw)


# --------------------------------------------------------------------------- basics


def test_migrates_every_invoice_with_its_content(
    source: MemoryBackend, target: MemoryBackend, ledger_path: Path
) -> None:
    report = run(source, target, ledger_path)
    assert report.ok, report.failures
    assert report.counts["invoice"].created == 8
    assert report.counts["client"].created == 4
    assert report.counts["payment"].created == 5
    migrated = by_number(target)
    for invoice in source.iter_invoices():
        assert content(migrated[invoice.number]) == content(invoice)


def test_every_invoice_points_at_the_right_target_client(
    source: MemoryBackend, target: MemoryBackend, ledger_path: Path
) -> None:
    run(source, target, ledger_path)
    migrated = by_number(target)
    for invoice in source.iter_invoices():
        stored = migrated[invoice.number]
        assert stored.client.id is not None
        assert target.get_client(stored.client.id).name == invoice.client.name


def test_draft_and_void_are_reproduced(
    source: MemoryBackend, target: MemoryBackend, ledger_path: Path
) -> None:
    run(source, target, ledger_path)
    migrated = by_number(target)
    assert migrated["INV-00006"].status is InvoiceStatus.DRAFT
    assert migrated["INV-00007"].status is InvoiceStatus.VOID
    assert migrated["INV-00001"].status is InvoiceStatus.PARTIALLY_PAID
    assert migrated["INV-00002"].status is InvoiceStatus.PAID


def test_report_is_json_safe_and_lists_records(
    source: MemoryBackend, target: MemoryBackend, ledger_path: Path
) -> None:
    report = run(source, target, ledger_path)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is True
    assert data["counts"]["invoice"]["created"] == 8
    assert data["failures"] == []
    assert {r["kind"] for r in data["records"]} == {"client", "invoice", "payment"}
    assert data["source"] == "memory:old" and data["target"] == "memory:new"
    assert "records" not in report.to_dict(records=False)


def test_ledger_maps_every_invoice(
    source: MemoryBackend, target: MemoryBackend, ledger_path: Path
) -> None:
    run(source, target, ledger_path)
    with Ledger(ledger_path) as ledger:
        pairs = dict(ledger.pairs("invoice", source="memory:old", target="memory:new"))
        assert len(pairs) == 8
        for source_id, target_id in pairs.items():
            assert source.get_invoice(source_id).number == target.get_invoice(target_id).number
        (only,) = ledger.runs()
        assert only["summary"]["counts"]["invoice"]["created"] == 8


def test_progress_callback_sees_every_record(
    source: MemoryBackend, target: MemoryBackend, ledger_path: Path
) -> None:
    seen: list[RecordResult] = []
    lock = threading.Lock()

    def progress(result: RecordResult) -> None:
        with lock:
            seen.append(result)

    report = run(source, target, ledger_path, progress=progress)
    assert len(seen) == len(report.records) == 4 + 8 + 5


def test_since_migrates_recent_invoices_and_their_clients_only(
    source: MemoryBackend, target: MemoryBackend, ledger_path: Path
) -> None:
    report = run(source, target, ledger_path, since=DAY + dt.timedelta(days=6))
    assert sorted(by_number(target)) == ["INV-00007", "INV-00008"]
    assert report.counts["client"].created == 2


# --------------------------------------------------------------------------- clients


def test_clients_are_matched_by_email_then_tax_number_then_name(
    source: MemoryBackend, target: MemoryBackend, ledger_path: Path
) -> None:
    acme = target.create_client(Client(name="ACME (old name)", email="Billing@Acme.test"))
    globex = target.create_client(Client(name="Globex Egypt", tax_number="EG-123-456"))
    initech = target.create_client(Client(name="initech llc"))
    # ACME and Globex were renamed in the target: matched by email and tax number only
    # because the user says names may differ (the default would create them anew).
    report = run(source, target, ledger_path, client_name_may_differ=True)
    assert report.counts["client"].matched == 3
    assert report.counts["client"].created == 1
    migrated = by_number(target)
    assert migrated["INV-00001"].client.id == acme.id
    assert migrated["INV-00002"].client.id == globex.id
    assert migrated["INV-00003"].client.id == initech.id
    assert len(list(target.iter_clients())) == 4


def test_by_default_a_target_client_with_another_name_is_not_adopted(
    source: MemoryBackend, target: MemoryBackend, ledger_path: Path
) -> None:
    acme = target.create_client(Client(name="ACME (old name)", email="Billing@Acme.test"))
    initech = target.create_client(Client(name="initech llc"))
    report = run(source, target, ledger_path)
    assert report.counts["client"].matched == 1  # initech, by its name
    migrated = by_number(target)
    assert migrated["INV-00001"].client.id != acme.id
    assert migrated["INV-00003"].client.id == initech.id


def test_clients_that_disagree_on_email_or_tax_number_are_not_merged(
    target: MemoryBackend, ledger_path: Path
) -> None:
    with MemoryBackend(label="old") as source:
        branches = [
            source.create_client(
                Client(name=f"Nile Co #{i}", email=f"b{i}@nile.test", tax_number="T-1")
            )
            for i in range(3)
        ]
        namesakes = [
            source.create_client(Client(name="Gulf", email=f"g{i}@gulf.test")) for i in range(2)
        ]
        same = source.create_client(Client(name="Gulf", email="G1@gulf.test", tax_number="X"))
        for i, client in enumerate([*branches, *namesakes, same]):
            source.create_invoice(make_invoice(f"B-{i}", client, i))
        report = run(source, target, ledger_path)
    assert report.ok
    assert report.counts["client"].created == 5
    assert report.counts["client"].matched == 1  # same email as g1: the same client
    owners = {i.number: i.client.id for i in target.iter_invoices()}
    assert len({owners["B-0"], owners["B-1"], owners["B-2"]}) == 3
    assert owners["B-4"] == owners["B-5"] != owners["B-3"]


def test_client_match_can_be_turned_off(
    source: MemoryBackend, target: MemoryBackend, ledger_path: Path
) -> None:
    target.create_client(Client(name="Acme Ltd", email="billing@acme.test"))
    report = run(source, target, ledger_path, client_match=())
    assert report.counts["client"].created == 4
    assert len(list(target.iter_clients())) == 5


def test_client_match_by_name_only(
    source: MemoryBackend, target: MemoryBackend, ledger_path: Path
) -> None:
    target.create_client(Client(name="Other", email="billing@acme.test"))
    report = run(source, target, ledger_path, client_match=("name",))
    assert report.counts["client"].matched == 0


def test_unknown_client_match_criterion_is_refused(
    source: MemoryBackend, target: MemoryBackend, ledger_path: Path
) -> None:
    with pytest.raises(ValueError, match="phone"):
        run(source, target, ledger_path, client_match=("phone",))


def test_client_shared_by_invoices_is_created_once_under_concurrency(
    target: MemoryBackend, ledger_path: Path
) -> None:
    with MemoryBackend(label="old") as source:
        client = source.create_client(Client(name="Solo", email="solo@x.test"))
        for i in range(40):
            source.create_invoice(make_invoice(f"S-{i}", client, i))
        # No client listing: every invoice worker resolves the client itself.
        source.features = source.features - {Feature.LIST_CLIENTS}  # type: ignore[misc]
        report = run(source, target, ledger_path, workers=8)
    assert report.ok
    assert target.calls["create_client"] == 1
    assert report.counts["client"].created == 1


# --------------------------------------------------------------------------- failures


def test_unknown_currency_fails_that_invoice_only(source: MemoryBackend, ledger_path: Path) -> None:
    usd = source.create_invoice(make_invoice("USD-1", source.get_client("1"), 1, currency="USD"))
    with MemoryBackend(label="new", currencies=["EGP"]) as target:
        report = run(source, target, ledger_path)
        assert not report.ok
        (failure,) = report.failures
        assert failure.kind == "invoice" and failure.source_id == usd.id
        assert failure.number == "USD-1"
        assert "currency" in (failure.reason or "") and "USD" in (failure.reason or "")
        assert report.counts["invoice"].created == 8
        assert target.find_invoice("USD-1") is None
    with Ledger(ledger_path) as ledger:
        entry = ledger.get("invoice", str(usd.id), source="memory:old", target="memory:new")
        assert entry is not None and entry.state == "failed" and entry.error


class NoDrafts(MemoryBackend):
    features = MemoryBackend.features - {Feature.DRAFT_INVOICES, Feature.VOID_INVOICES}


def test_draft_fails_and_void_is_skipped_on_a_target_without_them(
    source: MemoryBackend, ledger_path: Path
) -> None:
    with NoDrafts(label="new") as target:
        report = run(source, target, ledger_path)
        again = run(source, target, ledger_path)
        with NoDrafts(label="new") as strict:
            refused = migrate(
                source, strict, ledger=ledger_path.with_suffix(".2"), policy={"void": "fail"}
            )
    reasons = {f.number: f.reason for f in report.failures}
    assert reasons == {"INV-00006": "draft invoice: memory cannot store drafts"}
    skipped = {r.number: r.reason for r in report.records if r.outcome == "skipped"}
    assert skipped == {"INV-00007": "void: memory cannot store void (cancelled) invoices"}
    assert report.counts["invoice"].created == 6
    # A void invoice is never a permanent failure: a re-run skips it again.
    assert again.counts["invoice"].skipped == 7 and again.counts["invoice"].failed == 1
    assert "INV-00007" in {f.number for f in refused.failures}


class WrongTotals(MemoryBackend):
    """Stores one cent less than asked: a target that recomputes differently."""

    def create_invoice(self, invoice: Invoice) -> Invoice:
        return super().create_invoice(invoice.copy(total=invoice.total - D("0.01")))


class AlwaysWrong(WrongTotals):
    """Updates are a cent off too: what was written cannot be repaired."""

    def update_invoice(self, invoice: Invoice) -> Invoice:
        return super().update_invoice(invoice.copy(total=invoice.total - D("0.01")))


def test_a_total_that_does_not_agree_is_repaired_by_an_update(
    source: MemoryBackend, ledger_path: Path
) -> None:
    with WrongTotals(label="new") as target:
        report = run(source, target, ledger_path)
        assert report.ok, report.failures + report.attention
        invoice = source.get_invoice("5")
        result = next(r for r in report.records if r.kind == "invoice" and r.source_id == "5")
        assert result.reason is not None and "repaired after verification" in result.reason
        assert f"total: planned {invoice.total}, target {invoice.total - D('0.01')}" in (
            result.reason
        )
        assert target.get_invoice(str(result.target_id)).total == invoice.total
        assert target.calls["update_invoice"] == 8


def test_a_total_that_stays_wrong_needs_attention_with_the_exact_difference(
    source: MemoryBackend, ledger_path: Path
) -> None:
    with AlwaysWrong(label="new") as target:
        report = run(source, target, ledger_path)
        assert report.counts["invoice"].needs_attention == 8
        assert report.counts["invoice"].failed == 0 and not report.ok
        invoice = source.get_invoice("5")
        reason = next(r.reason for r in report.attention if r.source_id == "5") or ""
        assert (
            f"total: planned {invoice.total}, target {invoice.total - D('0.01')} (off by -0.01000)"
            in reason
        )
        # The record exists in the target: a re-run does not create it again.
        again = run(source, target, ledger_path)
        assert again.counts["invoice"].needs_attention == 8
        assert target.calls["create_invoice"] == 8


def test_authentication_error_stops_the_run(source: MemoryBackend, ledger_path: Path) -> None:
    class Locked(MemoryBackend):
        def create_client(self, client: Client) -> Client:
            raise AuthenticationError("bad key", backend="memory", status_code=401)

    with Locked(label="new") as target, pytest.raises(AuthenticationError):
        run(source, target, ledger_path)


def test_target_that_cannot_create_invoices_stops_the_run(
    source: MemoryBackend, ledger_path: Path
) -> None:
    class ReadOnly(MemoryBackend):
        features = frozenset({Feature.LIST_INVOICES})

    with ReadOnly() as target, pytest.raises(UnsupportedOperation):
        run(source, target, ledger_path)


# --------------------------------------------------------------------------- dry run


def test_dry_run_writes_nothing_and_says_what_would_happen(
    source: MemoryBackend, ledger_path: Path
) -> None:
    with MemoryBackend(label="new", currencies=["EGP"]) as target:
        target.create_client(Client(name="Globex", tax_number="EG-123-456"))
        source.create_invoice(make_invoice("USD-1", source.get_client("1"), 1, currency="USD"))
        before = dict(target.calls)
        report = run(source, target, ledger_path, dry_run=True)
        for verb in ("create_invoice", "create_client", "record_payment", "update_invoice"):
            assert target.calls.get(verb) == before.get(verb)
        assert list(target.iter_invoices()) == []
    assert not ledger_path.exists()
    assert report.dry_run
    assert report.counts["invoice"].would_create == 8
    assert report.counts["client"].would_create == 3
    assert report.counts["client"].matched == 1
    assert report.counts["payment"].would_create == 5
    (failure,) = report.failures
    assert failure.number == "USD-1" and "currency" in (failure.reason or "")


def test_dry_run_after_a_run_reports_skips_and_changes(
    source: MemoryBackend, target: MemoryBackend, ledger_path: Path
) -> None:
    run(source, target, ledger_path)
    changed = source.get_invoice("5")
    source.update_invoice(changed.copy(notes="new notes"))
    before = dict(target.calls)
    report = run(source, target, ledger_path, dry_run=True, update=True)
    assert report.counts["invoice"].skipped == 7
    assert report.counts["invoice"].would_update == 1
    assert target.calls.get("update_invoice") == before.get("update_invoice")
    with Ledger(ledger_path) as ledger:
        assert len(ledger.runs()) == 1  # a dry run leaves no trace


# --------------------------------------------------------------------------- re-runs


def test_second_run_creates_nothing(
    source: MemoryBackend, target: MemoryBackend, ledger_path: Path
) -> None:
    run(source, target, ledger_path)
    calls = dict(target.calls)
    report = run(source, target, ledger_path)
    assert report.ok
    assert report.counts["invoice"].skipped == 8
    assert report.counts["client"].skipped == 4
    assert report.counts["invoice"].created == report.counts["client"].created == 0
    for verb in ("create_invoice", "create_client", "record_payment", "update_invoice"):
        assert target.calls.get(verb) == calls.get(verb)
    assert len(list(target.iter_invoices())) == 8


def test_changed_source_is_reported_then_updated_with_update(
    source: MemoryBackend, target: MemoryBackend, ledger_path: Path
) -> None:
    run(source, target, ledger_path)
    invoice = source.get_invoice("5")
    invoice.items[0].quantity = D("4")
    edited = Invoice.build(
        number=invoice.number,
        issue_date=invoice.issue_date,
        currency=invoice.currency,
        client=invoice.client,
        items=[LineItem.from_dict(i.to_dict() | {"net_amount": None}) for i in invoice.items],
        discount_total=invoice.discount_total,
    )
    source.update_invoice(edited.copy(id="5", notes="revised"))
    source.record_payment(Payment(amount=D("5.00"), date=DAY, method="cash", invoice_id="5"))
    source.update_client(source.get_client("2").__class__(name="Globex", id="2", phone="1"))

    report = run(source, target, ledger_path)
    assert not report.ok or report.ok  # changes are not failures
    assert report.ok
    assert [c.source_id for c in report.changes if c.kind == "invoice"] == ["5"]
    assert report.counts["client"].changed == 1
    assert by_number(target)[invoice.number].notes != "revised"

    report = run(source, target, ledger_path, update=True)
    assert report.ok, report.failures
    assert report.counts["invoice"].updated == 1
    assert report.counts["client"].updated == 1
    assert report.counts["payment"].created == 1
    stored = by_number(target)[invoice.number]
    assert content(stored) == content(source.get_invoice("5"))
    assert run(source, target, ledger_path).counts["invoice"].skipped == 9 - 1


def test_a_changed_invoice_names_the_fields_that_changed(
    source: MemoryBackend, target: MemoryBackend, ledger_path: Path
) -> None:
    run(source, target, ledger_path)
    invoice = source.get_invoice("5")
    source.update_invoice(invoice.copy(notes="revised", terms="net 15"))

    report = run(source, target, ledger_path)
    [changed] = [c for c in report.changes if c.kind == "invoice"]
    assert changed.reason == (
        "changed in the source since it was migrated: notes, terms (run with update)"
    )

    report = run(source, target, ledger_path, update=True)
    [updated] = [r for r in report.records if r.kind == "invoice" and r.outcome == "updated"]
    assert updated.reason == "changed in the source: notes, terms"
    out = io.StringIO()
    render_report(report, Console(file=out, width=200))
    assert "Updated from the source" in out.getvalue()
    assert "changed in the source: notes, terms" in out.getvalue()


def test_a_ledger_without_field_prints_still_reports_a_change(
    source: MemoryBackend, target: MemoryBackend, ledger_path: Path
) -> None:
    # A ledger written before field prints were kept: the change is reported, unnamed.
    run(source, target, ledger_path)
    with sqlite3.connect(ledger_path) as db:
        db.execute("UPDATE records SET parts = NULL")
    source.update_invoice(source.get_invoice("5").copy(notes="revised"))
    [changed] = [c for c in run(source, target, ledger_path).changes if c.kind == "invoice"]
    assert changed.reason == "changed in the source since it was migrated (run with update)"


def test_a_client_update_that_failed_is_tried_again(
    source: MemoryBackend, ledger_path: Path
) -> None:
    class RefusesUpdates(MemoryBackend):
        refuse = True

        def update_client(self, client: Client) -> Client:
            if self.refuse:
                raise InvalidRequest("phone: bad format", backend="memory")
            return super().update_client(client)

    with RefusesUpdates(label="new") as target:
        run(source, target, ledger_path)
        source.update_client(Client(name="Globex", id="2", phone="+20 1"))
        failed = run(source, target, ledger_path, update=True)
        assert failed.counts["client"].failed == 1
        assert "update failed: memory: phone: bad format" in (failed.failures[0].reason or "")
        assert failed.counts["invoice"].skipped == 8  # its invoices still point at it
        target.refuse = False
        again = run(source, target, ledger_path, update=True)
        assert again.counts["client"].updated == 1
        assert any(c.phone == "+20 1" for c in target.iter_clients())


def test_intent_without_target_id_is_found_by_number_not_duplicated(
    source: MemoryBackend, target: MemoryBackend, ledger_path: Path
) -> None:
    # A first run that died after the server saved INV-00002 but before the ledger heard.
    run(source, target, ledger_path)
    with Ledger(ledger_path) as ledger:
        scope = ledger.scope("memory:old", "memory:new")
        scope.intent("invoice", "7", number="INV-00002", fingerprint="old")
        ledger._conn().execute("UPDATE records SET target_id = NULL WHERE source_id = '7'")
    creates = target.calls["create_invoice"]
    report = run(source, target, ledger_path)
    assert report.ok, report.failures
    assert report.counts["invoice"].matched == 1
    assert target.calls["create_invoice"] == creates
    assert Counter(i.number for i in target.iter_invoices())["INV-00002"] == 1


class SavesThenTimesOut(MemoryBackend):
    """Every ``fail_every``-th create is saved and then answered with a timeout."""

    fail_numbers: frozenset[str] = frozenset()

    def create_invoice(self, invoice: Invoice) -> Invoice:
        stored = super().create_invoice(invoice)
        if invoice.number in self.fail_numbers:
            self.fail_numbers = self.fail_numbers - {invoice.number}
            raise TransportError("timed out: ReadTimeout", backend="memory", method="POST")
        return stored

    def record_payment(self, payment: Payment) -> Payment:
        stored = super().record_payment(payment)
        if payment.reference == "TX-1" and not getattr(self, "_paid_once", False):
            self._paid_once = True
            raise ServerError("bad gateway", backend="memory", status_code=502)
        return stored


def test_timeout_after_the_server_saved_a_create_does_not_duplicate_it(
    source: MemoryBackend, ledger_path: Path
) -> None:
    with SavesThenTimesOut(label="new") as target:
        target.fail_numbers = frozenset({"INV-00002", "INV-00004"})
        report = run(source, target, ledger_path)
        assert report.ok, report.failures
        assert report.counts["invoice"].created == 8
        numbers = Counter(i.number for i in target.iter_invoices())
        assert set(numbers.values()) == {1} and len(numbers) == 8
        # The payment answered 502 after it was saved: recorded once.
        paid = source.find_invoice("INV-00002")
        assert paid is not None
        assert by_number(target)["INV-00002"].amount_paid == paid.total
        assert len(by_number(target)["INV-00002"].payments) == 1


class RefusesConnections(MemoryBackend):
    refused = 0

    def create_invoice(self, invoice: Invoice) -> Invoice:
        if self.refused < 2:
            self.refused += 1
            raise TransportError("connection refused", backend="memory", request_sent=False)
        return super().create_invoice(invoice)


def test_create_never_sent_is_left_to_the_next_run_without_a_lookup(
    source: MemoryBackend, ledger_path: Path
) -> None:
    # Retrying a request that was never sent is the HTTP layer's job (within its
    # max_retries); the migration adds no retry of its own and fails the record.
    with RefusesConnections(label="new") as target:
        report = run(source, target, ledger_path, workers=1)
        assert report.counts["invoice"].failed == 2
        assert all("connection refused" in (r.reason or "") for r in report.failures)
        assert target.calls.get("find_invoice", 0) == 0  # nothing sent: no lookup needed
        assert target.refused == 2 and target.calls["create_invoice"] == 6  # each tried once
        report = run(source, target, ledger_path, workers=1)
        assert report.ok, report.failures
        assert len(list(target.iter_invoices())) == 8


class AlwaysDown(MemoryBackend):
    down = True

    def create_invoice(self, invoice: Invoice) -> Invoice:
        if self.down:
            raise ServerError("down", backend="memory", status_code=503)
        return super().create_invoice(invoice)


def test_attempts_run_out_leaves_an_intent_for_the_next_run(
    source: MemoryBackend, ledger_path: Path
) -> None:
    with AlwaysDown(label="new") as target:
        report = run(source, target, ledger_path, max_attempts=2)
        assert report.counts["invoice"].failed == 8
        with Ledger(ledger_path) as ledger:
            states = {e.state for e in ledger.entries("invoice")}
            assert states == {"intent"}
        target.down = False
        finds = target.calls["find_invoice"]
        report = run(source, target, ledger_path)
        assert report.ok and report.counts["invoice"].created == 8
        assert target.calls["find_invoice"] == finds + 8


def test_crash_between_create_and_payment_resumes(
    source: MemoryBackend, target: MemoryBackend, ledger_path: Path
) -> None:
    class Crash(Exception):
        pass

    original = target.record_payment
    boom = {"left": 1}

    def record_payment(payment: Payment) -> Payment:
        stored = original(payment)
        if boom["left"]:
            boom["left"] -= 1
            raise Crash()  # the process "dies" after the server saved the payment
        return stored

    target.record_payment = record_payment  # type: ignore[method-assign]
    with pytest.raises(Crash):
        run(source, target, ledger_path, workers=1)
    report = run(source, target, ledger_path, workers=1)
    assert report.ok, report.failures
    assert Counter(i.number for i in target.iter_invoices()).most_common(1)[0][1] == 1
    for invoice in source.iter_invoices():
        assert by_number(target)[invoice.number].amount_paid == invoice.amount_paid


# --------------------------------------------------------------------------- concurrency


def test_results_do_not_depend_on_workers(ledger_path: Path, tmp_path: Path) -> None:
    def migrated(workers: int) -> list[dict[str, Any]]:
        with MemoryBackend(label="old") as source, MemoryBackend(label="new") as target:
            seed(source, count=30)
            report = run(source, target, tmp_path / f"l{workers}.sqlite", workers=workers)
            assert report.ok
            return sorted((content(i) for i in target.iter_invoices()), key=lambda d: d["number"])

    assert migrated(1) == migrated(8)


# --------------------------------------------------------------------------- options


def test_the_ledger_names_each_side_by_its_label(
    source: MemoryBackend, target: MemoryBackend, ledger_path: Path
) -> None:
    report = run(source, target, ledger_path)
    assert (report.source, report.target) == (source.label, target.label)
    assert source.label == "memory:old"
    with Ledger(ledger_path) as ledger:
        assert ledger.labels() == [("memory:old", "memory:new")]


def test_the_job_does_not_take_a_rate(
    source: MemoryBackend, target: MemoryBackend, ledger_path: Path
) -> None:
    # The request rate is a backend option (rate_limit), set when the backend is opened.
    with pytest.raises(TypeError):
        run(source, target, ledger_path, rate=500)


def test_pending_payments_are_not_recorded(ledger_path: Path) -> None:
    with MemoryBackend(label="old") as source, MemoryBackend(label="new") as target:
        client = source.create_client(Client(name="A"))
        invoice = make_invoice("P-1", client, 1)
        invoice.payments = [
            Payment(amount=D("10"), date=DAY, method="card", status=PaymentStatus.PENDING)
        ]
        source.create_invoice(invoice)
        report = run(source, target, ledger_path)
        assert report.ok, report.failures
        assert by_number(target)["P-1"].payments == []


def test_an_open_ledger_can_be_passed(
    source: MemoryBackend, target: MemoryBackend, ledger_path: Path
) -> None:
    with Ledger(ledger_path) as ledger:
        run(source, target, ledger)  # type: ignore[arg-type]
        assert len(list(ledger.pairs())) == 8
        assert len(list(ledger.pairs("payment"))) == 5


def test_intent_from_an_older_source_version_is_adopted_then_updated(
    source: MemoryBackend, target: MemoryBackend, ledger_path: Path
) -> None:
    run(source, target, ledger_path)
    with Ledger(ledger_path) as ledger:
        ledger.scope("memory:old", "memory:new").intent(
            "invoice", "7", number="INV-00002", fingerprint="an older version"
        )
        ledger._conn().execute("UPDATE records SET target_id = NULL WHERE source_id = '7'")
    source.update_invoice(source.get_invoice("7").copy(terms="Net 15"))
    report = run(source, target, ledger_path, update=True)
    assert report.ok, report.failures
    assert report.counts["invoice"].updated == 1
    assert by_number(target)["INV-00002"].terms == "Net 15"
    assert len(list(target.iter_invoices())) == 8


def test_two_runs_on_one_ledger_never_interleave(
    source: MemoryBackend, target: MemoryBackend, ledger_path: Path
) -> None:
    started, release = threading.Event(), threading.Event()

    class Slow(MemoryBackend):
        def create_client(self, client: Client) -> Client:
            started.set()
            release.wait(30)
            return super().create_client(client)

    outcome: dict[str, Any] = {}
    with Slow(label="new") as slow:

        def first() -> None:
            outcome["report"] = run(source, slow, ledger_path, workers=1)

        thread = threading.Thread(target=first)
        thread.start()
        try:
            assert started.wait(30)
            with pytest.raises(ConfigurationError, match="in use by another run"):
                run(source, target, ledger_path)
            # A dry run only reads: it may look while the run works.
            assert run(source, target, ledger_path, dry_run=True).dry_run
        finally:
            release.set()
            thread.join(30)
        assert outcome["report"].ok
        again = run(source, slow, ledger_path)  # the lock was released
        assert again.counts["invoice"].skipped == 8
        assert sum(c.created for c in again.counts.values()) == 0
    assert (ledger_path.parent / f"{ledger_path.name}.lock").stat().st_mode & 0o077 == 0


# ------------------------------------------------------------- payments with the create


class RecordsWithCreate(MemoryBackend):
    """A target that records an invoice's payments with its create (as Daftra does, in the
    create's own request): ``stores_without_payments`` are stored without them (what a
    create answer lacking a payment looks like), ``loses_answer_of`` are stored and then
    answered with a timeout."""

    features = MemoryBackend.features | {Feature.CREATE_WITH_PAYMENTS}
    stores_without_payments: frozenset[str] = frozenset()
    loses_answer_of: frozenset[str] = frozenset()

    def create_invoice(self, invoice: Invoice) -> Invoice:
        if invoice.number in self.stores_without_payments:
            invoice = invoice.copy(payments=[])
        stored = super().create_invoice(invoice)
        if invoice.number in self.loses_answer_of:
            self.loses_answer_of = self.loses_answer_of - {invoice.number}
            raise TransportError("timed out: ReadTimeout", backend="memory", method="POST")
        return stored


def _paid_as_in(source: MemoryBackend, target: MemoryBackend) -> None:
    for number, invoice in by_number(source).items():
        if invoice.status is InvoiceStatus.VOID:
            continue
        stored = by_number(target)[number]
        assert stored.amount_paid == invoice.amount_paid, number
        assert len(stored.payments) == len(invoice.payments), number


def test_payments_travel_with_the_create_when_the_target_takes_them(
    source: MemoryBackend, ledger_path: Path
) -> None:
    with RecordsWithCreate(label="new") as target:
        report = run(source, target, ledger_path)
        assert report.ok, report.failures
        assert target.calls.get("record_payment", 0) == 0  # none recorded on its own
        paid = sum(
            len(i.payments) for i in source.iter_invoices() if i.status is not InvoiceStatus.VOID
        )
        assert report.counts["payment"].created == paid > 0
        _paid_as_in(source, target)
        with Ledger(ledger_path) as book:
            pairs = dict(book.pairs("payment", source="memory:old", target="memory:new"))
        stored_ids = {p.id for i in target.iter_invoices() for p in i.payments}
        assert len(pairs) == paid and set(pairs.values()) == stored_ids
        again = run(source, target, ledger_path)
        assert again.ok and again.counts["payment"].skipped == paid
        assert again.counts["payment"].created == 0


def test_a_payment_the_create_did_not_store_is_recorded_after_it(
    source: MemoryBackend, ledger_path: Path
) -> None:
    with RecordsWithCreate(label="new") as target:
        target.stores_without_payments = frozenset({"INV-00001", "INV-00002"})
        report = run(source, target, ledger_path)
        assert report.ok, report.failures
        assert target.calls.get("record_payment", 0) == 2  # looked up, then recorded
        _paid_as_in(source, target)


def test_a_lost_create_answer_with_payments_records_none_twice(
    source: MemoryBackend, ledger_path: Path
) -> None:
    with RecordsWithCreate(label="new") as target:
        target.loses_answer_of = frozenset({"INV-00001", "INV-00002"})
        report = run(source, target, ledger_path)
        assert report.ok, report.failures
        # Each invoice was found by number and its payments on it: none recorded again.
        assert target.calls.get("record_payment", 0) == 0
        assert report.counts["payment"].matched == 2
        numbers = Counter(i.number for i in target.iter_invoices())
        assert set(numbers.values()) == {1}
        _paid_as_in(source, target)
