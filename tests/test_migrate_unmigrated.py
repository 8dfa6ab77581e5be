"""Every source record accounted for: kinds the migration does not move are counted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from invoicing_bridge import Client, get_backend, migrate
from invoicing_bridge.backends.memory import MemoryBackend
from invoicing_bridge.cli.migrate import render_report
from invoicing_bridge.exceptions import ServerError


class WithEstimates(MemoryBackend):
    def unmigrated_counts(self) -> dict[str, int] | None:
        return {"estimate": 2, "credit_note": 1, "product": 0}


class Broken(MemoryBackend):
    def unmigrated_counts(self) -> dict[str, int] | None:
        raise ServerError("boom", backend=self.name, status_code=500)


def test_kinds_not_moved_are_counted_by_kind_and_listed(tmp_path: Path) -> None:
    source = WithEstimates(label="source")
    source.create_client(Client(name="Delta Foods", email="books@delta.test"))
    report = migrate(source, MemoryBackend(label="t"), ledger=tmp_path / "l.sqlite")
    assert report.ok
    assert report.not_migrated == {"credit_note": 1, "estimate": 2, "product": 0}
    assert report.to_dict()["not_migrated"] == {"credit_note": 1, "estimate": 2, "product": 0}
    out = Console(record=True, width=120)
    render_report(report, out)
    text = out.export_text()
    assert "Not migrated" in text and "credit note" in text and "estimate" in text
    # The title on one line, not folded over the narrow two-column table.
    assert "Not migrated (kinds the migration does not move)" in text


def test_a_source_that_cannot_tell_says_none(tmp_path: Path) -> None:
    report = migrate(MemoryBackend(label="s"), MemoryBackend(label="t"), ledger=tmp_path / "l")
    assert report.not_migrated is None and report.to_dict()["not_migrated"] is None
    out = Console(record=True, width=120)
    render_report(report, out)
    assert "Not migrated" not in out.export_text()


def test_a_failing_count_does_not_fail_the_run(tmp_path: Path) -> None:
    report = migrate(Broken(label="s"), MemoryBackend(label="t"), ledger=tmp_path / "l")
    assert report.ok and report.not_migrated is None


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "options"),
    [("daftra", {}), ("perfex", {"api_version": 2}), ("perfex", {"api_version": 3})],
)
def test_the_emulated_sources_count_what_is_not_moved_by_kind(
    name: str, options: dict[str, Any], tmp_path: Path
) -> None:
    """Daftra lists estimates, credit notes, client payments and products (one request
    each: a page of one row gives the total); Perfex estimates and credit notes, and
    items (products) in 3.x only, as its module does."""
    daftra = pytest.importorskip("invoicing_bridge_daftra.emulator")
    perfex = pytest.importorskip("invoicing_bridge_perfex.emulator")
    cls = daftra.DaftraEmulator if name == "daftra" else perfex.PerfexEmulator
    with cls(invoices=20, seed=4, **options) as running:
        state = running.state
        if name == "daftra":
            held = {
                "estimate": len(state.estimates),
                "credit_note": len(state.credit_notes),
                "client_payment": len(state.client_payments),
                "product": len(state.products),
            }
        else:
            held = {"estimate": len(state.estimates), "credit_note": len(state.credit_notes)}
            if options["api_version"] == 3:
                held["product"] = len(state.items)
        assert all(held.values()), held  # the realistic seed has some of each
        profile = dict(running.profile())
        with get_backend(profile.pop("backend"), **profile) as source:
            before = running.stats.snapshot()["requests"]
            assert source.unmigrated_counts() == held
            assert running.stats.snapshot()["requests"] - before <= len(held) + 2
            report = migrate(
                source,
                MemoryBackend(label="t", currencies=[]),
                ledger=tmp_path / "l.sqlite",
            )
    assert report.not_migrated == dict(sorted(held.items()))
