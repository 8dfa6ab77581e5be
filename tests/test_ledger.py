"""The migration ledger: rows, states, pairs, fingerprints, concurrency, persistence."""

from __future__ import annotations

import datetime as dt
import sqlite3
import stat
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from invoicing_bridge import Client, ConfigurationError, Invoice, LineItem, RecordRef
from invoicing_bridge.migration.ledger import Ledger, fingerprint

S, T = "memory:a", "memory:b"


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        yield ledger


def _invoice(**changes: object) -> Invoice:
    invoice = Invoice.build(
        number="INV-1",
        issue_date=dt.date(2024, 1, 2),
        currency="USD",
        client=Client(name="Acme", id="7"),
        items=[LineItem(name="Widget", quantity=Decimal("2"), unit_price=Decimal("10.50"))],
    )
    return invoice.copy(**changes) if changes else invoice


def test_intent_then_done_sets_target_id(ledger: Ledger) -> None:
    ledger.record_intent("invoice", "1", source=S, target=T, number="INV-1", fingerprint="f")
    entry = ledger.get("invoice", "1", source=S, target=T)
    assert entry is not None and entry.state == "intent" and entry.target_id is None
    ledger.record_done("invoice", "1", source=S, target=T, target_id="99")
    entry = ledger.get("invoice", "1", source=S, target=T)
    assert entry is not None
    assert (entry.state, entry.target_id, entry.number, entry.fingerprint) == (
        "done",
        "99",
        "INV-1",
        "f",
    )


def test_get_unknown_record_returns_none(ledger: Ledger) -> None:
    assert ledger.get("invoice", "nope", source=S, target=T) is None


def test_failed_after_intent_without_target_stays_intent(ledger: Ledger) -> None:
    ledger.record_intent("invoice", "1", source=S, target=T, number="1", fingerprint="f")
    ledger.record_failed("invoice", "1", source=S, target=T, error="timed out", uncertain=True)
    entry = ledger.get("invoice", "1", source=S, target=T)
    assert entry is not None and entry.state == "intent" and entry.error == "timed out"


def test_refused_after_intent_is_failed(ledger: Ledger) -> None:
    ledger.record_intent("invoice", "1", source=S, target=T, number="1", fingerprint="f")
    ledger.record_failed("invoice", "1", source=S, target=T, error="unknown currency")
    entry = ledger.get("invoice", "1", source=S, target=T)
    assert entry is not None and entry.state == "failed" and entry.target_id is None


def test_failed_with_target_keeps_target_id(ledger: Ledger) -> None:
    ledger.record_intent("invoice", "1", source=S, target=T, number="1", fingerprint="f")
    ledger.record_target("invoice", "1", source=S, target=T, target_id="5")
    ledger.record_failed("invoice", "1", source=S, target=T, error="total differs")
    entry = ledger.get("invoice", "1", source=S, target=T)
    assert entry is not None
    assert (entry.state, entry.target_id, entry.error) == ("failed", "5", "total differs")


def test_failed_new_record_is_failed(ledger: Ledger) -> None:
    ledger.record_failed("invoice", "1", source=S, target=T, error="unknown currency", number="1")
    entry = ledger.get("invoice", "1", source=S, target=T)
    assert entry is not None and entry.state == "failed" and entry.target_id is None


def test_pairs_lists_done_records_of_kind_only(ledger: Ledger) -> None:
    ledger.record_done("invoice", "1", source=S, target=T, target_id="10")
    ledger.record_done("invoice", "2", source=S, target=T, target_id="20")
    ledger.record_intent("invoice", "3", source=S, target=T, number="3", fingerprint=None)
    ledger.record_done("client", "1", source=S, target=T, target_id="30")
    ledger.record_done("invoice", "9", source="other", target=T, target_id="90")
    assert sorted(ledger.pairs("invoice", source=S, target=T)) == [("1", "10"), ("2", "20")]
    assert sorted(ledger.pairs()) == [("1", "10"), ("2", "20"), ("9", "90")]
    assert list(ledger.pairs("client")) == [("1", "30")]
    assert list(ledger.pairs(target="elsewhere")) == []


def test_counts_and_labels(ledger: Ledger) -> None:
    ledger.record_done("invoice", "1", source=S, target=T, target_id="10")
    ledger.record_failed("invoice", "2", source=S, target=T, error="x")
    assert ledger.counts() == {"invoice": {"done": 1, "failed": 1}}
    assert ledger.labels() == [(S, T)]


def test_find_target_and_forget(ledger: Ledger) -> None:
    ledger.record_done("payment", "p1", source=S, target=T, target_id="77")
    found = ledger.find_target("payment", "77", source=S, target=T)
    assert found is not None and found.source_id == "p1"
    ledger.forget("payment", "p1", source=S, target=T)
    assert ledger.find_target("payment", "77", source=S, target=T) is None


def test_rows_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    with Ledger(path) as ledger:
        ledger.record_done("invoice", "1", source=S, target=T, target_id="10")
    with Ledger(path) as ledger:
        assert list(ledger.pairs()) == [("1", "10")]


def test_runs_are_recorded(ledger: Ledger) -> None:
    run = ledger.start_run(source=S, target=T, dry_run=True)
    ledger.finish_run(run, {"ok": True})
    (only,) = ledger.runs()
    assert only["dry_run"] is True and only["summary"] == {"ok": True}
    assert only["finished_at"] is not None


def test_closed_ledger_raises_configuration_error(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l.sqlite")
    ledger.close()
    ledger.close()  # twice is fine
    with pytest.raises(ConfigurationError, match="closed"):
        ledger.get("invoice", "1", source=S, target=T)


def test_not_a_database_raises_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.sqlite"
    path.write_bytes(b"this is not sqlite, just some text long enough" * 20)
    with pytest.raises(ConfigurationError, match="ledger"):
        Ledger(path)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    Ledger(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(ConfigurationError, match="schema version 99"):
        Ledger(path)


def test_uses_wal_journal(ledger: Ledger) -> None:
    with sqlite3.connect(ledger.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_concurrent_writes_from_threads_are_all_kept(ledger: Ledger) -> None:
    def work(start: int) -> None:
        for i in range(start, start + 50):
            sid = str(i)
            ledger.record_intent("invoice", sid, source=S, target=T, number=sid, fingerprint="f")
            ledger.record_done("invoice", sid, source=S, target=T, target_id=f"t{i}")

    threads = [threading.Thread(target=work, args=(n * 50,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(list(ledger.pairs())) == 400


def test_two_ledger_objects_on_one_file(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    with Ledger(path) as one, Ledger(path) as two:
        one.record_done("invoice", "1", source=S, target=T, target_id="10")
        assert list(two.pairs()) == [("1", "10")]


def test_scope_binds_labels(ledger: Ledger) -> None:
    scope = ledger.scope(S, T)
    scope.intent("invoice", "1", number="1", fingerprint="f")
    scope.target_known("invoice", "1", "5")
    scope.done("invoice", "1", "5")
    assert list(scope.pairs()) == [("1", "5")]
    assert ledger.get("invoice", "1", source=S, target=T) is not None


# --------------------------------------------------------------------------- fingerprint


def test_fingerprint_ignores_ids_timestamps_source_and_raw() -> None:
    one = _invoice()
    two = _invoice(
        id="55",
        source=RecordRef("elsewhere", "55"),
        raw={"anything": 1},
        created_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    )
    assert fingerprint(one) == fingerprint(two)


def test_fingerprint_changes_with_content() -> None:
    one = _invoice()
    assert fingerprint(one) != fingerprint(_invoice(notes="thanks"))
    assert fingerprint(one) != fingerprint(_invoice(total=Decimal("21.01")))
    assert fingerprint(one) != fingerprint(_invoice(client=Client(name="Acme", id="8")))


def test_fingerprint_of_client_ignores_id() -> None:
    assert fingerprint(Client(name="A", id="1")) == fingerprint(Client(name="A", id="2"))
    assert fingerprint(Client(name="A")) != fingerprint(Client(name="A", email="a@x.io"))


# --------------------------------------------------------------------------- a ledger is a check


def test_new_ledger_is_private_and_complete_from_the_start(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    Ledger(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with sqlite3.connect(path) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        version = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    assert {"meta", "records", "runs"} <= tables and version == ("1",)
    assert sorted(p.name for p in tmp_path.iterdir() if ".new" in p.name) == []


def test_empty_file_is_refused_not_taken_for_a_new_ledger(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    path.write_bytes(b"")
    with pytest.raises(ConfigurationError, match="is empty"):
        Ledger(path)
    assert path.stat().st_size == 0  # left as it was


def test_foreign_sqlite_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE customers (id INTEGER)")
    before = path.read_bytes()
    with pytest.raises(ConfigurationError, match=r"not an invoicing-bridge ledger.*customers"):
        Ledger(path)
    assert path.read_bytes() == before


def test_ledger_without_schema_version_is_damaged(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    Ledger(path).close()
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM meta")
    with pytest.raises(ConfigurationError, match="damaged"):
        Ledger(path)


def test_truncated_ledger_is_damaged(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    with Ledger(path) as ledger:
        for i in range(300):
            ledger.record_done("invoice", str(i), source=S, target=T, target_id=str(i) * 40)
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ConfigurationError, match="ledger"), Ledger(path) as ledger:
        list(ledger.entries())


def test_ledger_of_another_direction_is_refused_unless_asked(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    with Ledger(path) as ledger:
        ledger.check_direction(S, T)  # empty: fine
        ledger.record_done("invoice", "1", source=S, target=T, target_id="10")
        ledger.check_direction(S, T)  # its own direction: fine
        with pytest.raises(ConfigurationError, match="belongs to another migration"):
            ledger.check_direction(S, "perfex:https://moved.example.com/api")
