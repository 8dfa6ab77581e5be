"""Client matching lists the target's clients once per run (issue 16).

Request counts, not times: a migration of new clients into the Daftra and Perfex
emulators reads the target's client list once (its pages) and sends one create per new
client, whatever the number of clients; the run's index (:class:`ClientIndex`) is filled
lazily, once, by one walk however many workers ask, kept current as clients are created,
and two workers never create the same client twice.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from invoicing_bridge import Client, get_backend, migrate
from invoicing_bridge.backends.base import InvoicingBackend
from invoicing_bridge.backends.memory import MemoryBackend
from invoicing_bridge.exceptions import RateLimited
from invoicing_bridge.migration.client_index import ClientIndex
from invoicing_bridge.models import identity_key

daftra_emulator = pytest.importorskip("invoicing_bridge_daftra.emulator")
perfex_emulator = pytest.importorskip("invoicing_bridge_perfex.emulator")

#: New clients migrated: more than a listing page of 10, so that a walk per client
#: would show as several pages per client.
NEW = 25
PAGE = 10


def _open(emulator: Any, **overrides: Any) -> InvoicingBackend:
    options = dict(emulator.profile())
    name = options.pop("backend")
    return get_backend(name, **{**options, **overrides})


def _routes(emulator: Any) -> Counter[str]:
    return Counter(emulator.stats.snapshot()["by_route"])


def _migrate_new_clients(target_emulator: Any, tmp_path: Path) -> tuple[Counter[str], int, Any]:
    """Migrate ``NEW`` seeded Daftra clients into ``target_emulator`` (listing pages of
    ``PAGE``); the target's requests by route, how many clients it held before, the
    report."""
    with (
        daftra_emulator.DaftraEmulator(invoices=0, seed=1, clients=NEW) as source_emulator,
        _open(source_emulator) as source,
        _open(target_emulator, page_size=PAGE) as target,
    ):
        before = len(list(target.iter_clients()))
        target_emulator.stats.reset()
        report = migrate(source, target, ledger=tmp_path / "l.sqlite", workers=4)
        routes = _routes(target_emulator)
    assert report.ok, report.failures
    assert report.counts["client"].created == NEW and report.counts["client"].matched == 0
    return routes, before, report


@pytest.mark.slow
def test_daftra_target_is_listed_once_plus_one_create_per_new_client(tmp_path: Path) -> None:
    with daftra_emulator.DaftraEmulator(invoices=0, seed=2, clients=PAGE + 3) as target:
        routes, before, _ = _migrate_new_clients(target, tmp_path)
    assert before == PAGE + 3
    listing = routes["GET /api2/clients.json"]
    # One walk of the clients it held when the first client was matched: two pages
    # (a page of 10 and a short one), not a walk (or three) per new client.
    assert 1 <= listing <= before // PAGE + 1
    assert routes["POST /api2/clients.json"] == NEW


@pytest.mark.slow
def test_perfex_target_is_listed_once_plus_one_create_per_new_client(tmp_path: Path) -> None:
    with perfex_emulator.PerfexEmulator(invoices=12, seed=2) as target:
        routes, before, _ = _migrate_new_clients(target, tmp_path)
    assert before >= 4
    # Module 2.x lists customers in one answer: one listing per run.
    assert routes["GET /api/customers"] == 1
    assert routes["POST /api/customers"] == NEW
    # No per-client search for a match (2.x's create finds its new customer by company
    # name: one search per create, none to match).
    searches = sum(n for route, n in routes.items() if "/search/" in route)
    assert searches <= NEW
    assert not any(route.startswith("GET /api/contacts/search/") for route in routes)


# --------------------------------------------------------------------------- the index


class Counting(MemoryBackend):
    """Counts listings; ``slow`` makes a listing take a while (other threads must wait)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.walks = 0
        self.slow = 0.0
        self.fail_next = 0

    def iter_clients(self) -> Iterator[Client]:
        self.walks += 1
        if self.fail_next:
            self.fail_next -= 1
            raise RateLimited("emulated", backend=self.name, status_code=429)
        time.sleep(self.slow)
        yield from super().iter_clients()


def _source(*clients: Client) -> MemoryBackend:
    source = MemoryBackend(label="source")
    for client in clients:
        source.create_client(client)
    return source


def test_the_index_lists_lazily_once_for_every_thread() -> None:
    target = Counting(label="target")
    nile = target.create_client(Client(name="Nile Trading", email="books@nile.test"))
    index = ClientIndex(target)
    assert target.walks == 0 and not index.loaded  # nothing listed before it is asked
    target.slow = 0.2
    found: list[list[Client]] = []
    threads = [
        threading.Thread(target=lambda: found.append(index.candidates("email", "BOOKS@nile.test")))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert target.walks == 1 and index.walks == 1
    assert [[c.id for c in f] for f in found] == [[nile.id]] * 8
    assert index.candidates("name", "  nile   TRADING ") and index.candidates("name", "") == []


def test_the_index_follows_creates_and_updates() -> None:
    target = Counting(label="target")
    index = ClientIndex(target)
    index.add(Client(id="99", name="Ignored"))  # before the first listing: nothing kept
    assert index.candidates("name", "Ignored") == []
    created = target.create_client(Client(name="Delta Foods", email="a@delta.test"))
    index.add(created)
    assert [c.id for c in index.candidates("email", "a@delta.test")] == [created.id]
    moved = Client(id=created.id, name="Delta Foods", email="b@delta.test")
    index.add(moved)  # the same client, its email changed: found by the new one only
    assert index.candidates("email", "a@delta.test") == []
    assert [c.id for c in index.candidates("email", "b@delta.test")] == [created.id]
    assert target.walks == 1


def test_a_transient_listing_failure_is_tried_again_then_raised() -> None:
    target = Counting(label="target")
    target.create_client(Client(name="Nile Trading"))
    index = ClientIndex(target, attempts=3)
    target.fail_next = 2
    assert len(index.candidates("name", "Nile Trading")) == 1 and target.walks == 3
    again = ClientIndex(target, attempts=2)
    target.fail_next = 2
    with pytest.raises(RateLimited):
        again.candidates("name", "Nile Trading")
    assert not again.loaded  # the next caller lists again
    assert len(again.candidates("name", "Nile Trading")) == 1


def test_a_rerun_lists_the_target_once_for_presence_and_matching(tmp_path: Path) -> None:
    source = _source(Client(name="Nile Trading", email="books@nile.test"))
    target = Counting(label="target")
    migrate(source, target, ledger=tmp_path / "l.sqlite")
    assert target.walks == 1
    target.walks = 0
    source.create_client(Client(name="Delta Foods", email="books@delta.test"))
    again = migrate(source, target, ledger=tmp_path / "l.sqlite")
    # Nile is checked still there (presence) and Delta matched, against one listing.
    assert again.counts["client"].skipped == 1 and again.counts["client"].created == 1
    assert target.walks == 1


def test_a_run_without_clients_to_match_lists_none(tmp_path: Path) -> None:
    target = Counting(label="target")
    report = migrate(MemoryBackend(label="source"), target, ledger=tmp_path / "l.sqlite")
    assert report.ok and target.walks == 0


def test_workers_never_create_one_client_twice(tmp_path: Path) -> None:
    """Each company is in the source twice (two source ids, one identity, the second
    spelled differently): with many workers, each is created once and the other copy
    matched, whatever the order."""
    clients = []
    for i in range(30):
        clients.append(Client(name=f"Company {i}", email=f"c{i}@example.test", tax_number=f"EG{i}"))
        clients.append(Client(name=f"company  {i} ", email=f"C{i}@EXAMPLE.test", tax_number=None))
    source = _source(*clients)
    target = Counting(label="target")
    target.slow = 0.05
    report = migrate(source, target, ledger=tmp_path / "l.sqlite", workers=8)
    assert target.walks == 1
    assert report.ok, report.failures
    assert report.counts["client"].created == 30 and report.counts["client"].matched == 30
    names = sorted(identity_key("name", c.name) for c in target.iter_clients())
    assert names == sorted(f"company {i}" for i in range(30))
