"""Listing invoices streams: a 2.x list (one array of every row, no paging [§4.2]) is
decoded row by row, never held whole, and no record is lost; the full reads of listed
invoices run ahead of the caller on as many threads as the job reading them has workers.
No timing is asserted."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from invoicing_bridge_perfex import PerfexBackend
from invoicing_bridge_perfex.emulator import PerfexEmulator

import invoicing_bridge.backends.streaming as streaming
from invoicing_bridge.backends.memory import MemoryBackend
from invoicing_bridge.migration import migrate


def backend_for(emulator: PerfexEmulator, **options: Any) -> PerfexBackend:
    profile = dict(emulator.profile())
    profile.pop("backend")
    return PerfexBackend(**{**profile, "max_retries": 0, **options})


@pytest.fixture(scope="module")
def install() -> Iterator[PerfexEmulator]:
    """A 2.x install of 300 invoices: its list answer is about 450 KB."""
    with PerfexEmulator(invoices=300, seed=3) as running:
        yield running


def test_a_2x_list_larger_than_the_answer_cap_is_walked_whole(install: PerfexEmulator) -> None:
    # The cap bounds one row now, not the list (which is 7 times larger than it).
    with backend_for(install, max_response_bytes=64_000) as backend:
        invoices = list(backend.iter_invoices())
    assert sorted(int(str(i.id)) for i in invoices) == sorted(install.state.invoices)
    assert len({i.id for i in invoices}) == 300
    assert all(i.items for i in invoices)  # each read in full, lines included


def test_the_2x_walk_decodes_the_list_as_it_goes(
    install: PerfexEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded: list[list[int]] = []  # per array answer, how many rows were decoded
    real = streaming.iter_json_array

    def counting(*args: Any, **kwargs: Any) -> Iterator[Any]:
        count = [0]
        decoded.append(count)
        for row in real(*args, **kwargs):
            count[0] += 1
            yield row

    monkeypatch.setattr(streaming, "iter_json_array", counting)
    with backend_for(install, detail_workers=4) as backend:
        walk = backend.iter_invoices()
        first = next(walk)
        # The first invoice comes once the reads ahead are queued (twice the workers),
        # not after the 300 rows were decoded.
        assert first.id == "1"
        assert max(count[0] for count in decoded) <= 2 * 4 + 1
        rest = list(walk)
    assert 1 + len(rest) == 300
    assert max(count[0] for count in decoded) == 300


def test_invoices_come_in_the_lists_order_and_filters_still_apply(
    install: PerfexEmulator,
) -> None:
    with backend_for(install, detail_workers=8) as backend:
        ids = [int(str(i.id)) for i in backend.iter_invoices()]
        client = str(install.state.invoices[5].clientid)
        mine = list(backend.iter_invoices(client_id=client))
    assert ids == sorted(ids)
    wanted = sorted(i.id for i in install.state.invoices.values() if str(i.clientid) == client)
    assert sorted(int(str(i.id)) for i in mine) == wanted


def in_flight(backend: PerfexBackend, barrier: int) -> Callable[[], int]:
    """Make ``backend.get_invoice`` wait until ``barrier`` calls are in flight together
    (a BrokenBarrierError after 20 s if they never are); the most seen at once."""
    lock = threading.Lock()
    now = [0]
    most = [0]
    gate = threading.Barrier(barrier, timeout=20)
    real = backend.get_invoice

    def get_invoice(id: str) -> Any:
        with lock:
            now[0] += 1
            most[0] = max(most[0], now[0])
            first_wave = int(id) <= barrier
        try:
            if first_wave:
                gate.wait()
            return real(id)
        finally:
            with lock:
                now[0] -= 1

    backend.get_invoice = get_invoice  # type: ignore[method-assign]
    return lambda: most[0]


def test_the_reads_keep_up_with_the_workers_of_the_job(install: PerfexEmulator) -> None:
    with backend_for(install) as backend:
        backend.reading_with(16)
        most = in_flight(backend, 16)
        assert len(list(backend.iter_invoices())) == 300
    assert most() == 16


def test_without_a_hint_four_reads_are_in_flight_and_an_option_wins() -> None:
    backend = PerfexBackend(base_url="http://127.0.0.1:9/api", token="t")
    assert backend._detail_workers() == 4
    backend.reading_with(16)
    assert backend._detail_workers() == 16
    backend.reading_with(500)
    assert backend._detail_workers() == 32  # the option's own bound
    chosen = PerfexBackend(base_url="http://127.0.0.1:9/api", token="t", detail_workers=2)
    chosen.reading_with(16)
    assert chosen._detail_workers() == 2


def test_migrate_tells_the_source_its_workers(install: PerfexEmulator, tmp_path: Any) -> None:
    with backend_for(install, list_details=False) as source:
        heard: list[int] = []
        source.reading_with = heard.append  # type: ignore[method-assign]
        target = MemoryBackend()
        migrate(source, target, ledger=tmp_path / "ledger.sqlite", workers=6, dry_run=True)
    assert heard == [6]
