"""``invoicing-bridge demo``: the real thing over both emulators, and its glue alone."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from decimal import Decimal as D
from typing import Any

import pytest
from click.testing import CliRunner

from invoicing_bridge import Client, Invoice, LineItem, Payment
from invoicing_bridge.backends.memory import MemoryBackend
from invoicing_bridge.cli import demo as demo_module
from invoicing_bridge.cli import main
from invoicing_bridge.emulation import EmulatorStats
from invoicing_bridge.exceptions import BackendNotFound


@pytest.mark.slow
def test_demo_migrates_every_realistic_daftra_invoice_to_perfex_and_exits_0() -> None:
    pytest.importorskip("invoicing_bridge_daftra.emulator")
    pytest.importorskip("invoicing_bridge_perfex.emulator")
    result = CliRunner().invoke(main, ["demo"])
    assert result.exit_code == 0, result.output
    assert "demo ok: 25 of 25 invoices migrated from Daftra to Perfex" in result.output
    assert "both sides agree" in result.output
    # The realistic seed has line discounts and four-place payments: transformed, listed.
    assert "Transformed (totals kept to the cent)" in result.output
    assert "line_discount" in result.output and "amount_rounding" in result.output
    assert re.search(r"HTTP requests: \d+ to Daftra, \d+ to Perfex", result.output)


@pytest.mark.slow
def test_demo_with_the_portable_seed_needs_no_transformation() -> None:
    pytest.importorskip("invoicing_bridge_daftra.emulator")
    pytest.importorskip("invoicing_bridge_perfex.emulator")
    result = CliRunner().invoke(main, ["demo", "--portable"])
    assert result.exit_code == 0, result.output
    assert "demo ok: 25 of 25" in result.output
    assert "line_discount" not in result.output


# --------------------------------------------------------------------------- the glue


class FakeEmulator:
    """Stands for a plugin's emulator class: a memory backend, counted 'requests'."""

    backends: dict[str, MemoryBackend] = {}
    emulator_name = ""

    @classmethod
    def knob_names(cls) -> tuple[str, ...]:
        return ()

    def __init__(self, *, invoices: int, seed: int):
        name = self.name = self.emulator_name
        self.base_url = f"http://127.0.0.1:0/{name}"
        self.stats = EmulatorStats()
        backend = MemoryBackend(label=name)
        if invoices:
            client = backend.create_client(Client(name="Acme", email="a@acme.test"))
            for i in range(invoices):
                created = backend.create_invoice(
                    Invoice.build(
                        number=f"{i + 1:06d}",
                        issue_date=dt.date(2026, 1, 1 + i),
                        currency="EGP",
                        client=client,
                        items=[LineItem(name="Tea", quantity=D("1"), unit_price=D("10") + i)],
                    )
                )
                backend.record_payment(
                    Payment(
                        amount=created.total,
                        date=created.issue_date,
                        method="cash",
                        invoice_id=created.id,
                    )
                )
        FakeEmulator.backends[name] = backend

    def profile(self) -> dict[str, Any]:
        return {"backend": "memory", "label": self.name}

    def open_backend(self, **overrides: Any) -> MemoryBackend:
        return FakeEmulator.backends[self.name]

    def __enter__(self) -> FakeEmulator:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def factory(name: str) -> Any:
        return type(f"Fake{name}", (FakeEmulator,), {"emulator_name": name})

    monkeypatch.setattr(demo_module, "emulator_class", factory)
    yield
    FakeEmulator.backends.clear()


def test_demo_glue_migrates_compares_and_reports(fakes: None) -> None:
    result = CliRunner().invoke(main, ["demo", "--invoices", "5", "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert "demo ok: 5 of 5 invoices migrated" in result.output
    assert "Migration: memory:daftra -> memory:perfex" in result.output
    assert len(list(FakeEmulator.backends["perfex"].iter_invoices())) == 5


def test_demo_without_compare_reads_totals_back(
    fakes: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    real_import = importlib.import_module

    def no_compare(name: str) -> Any:
        if name == "invoicing_bridge.comparison":
            raise ModuleNotFoundError(name)
        return real_import(name)

    monkeypatch.setattr(importlib, "import_module", no_compare)
    result = CliRunner().invoke(main, ["demo", "--invoices", "3"])
    assert result.exit_code == 0, result.output
    assert "read back: every total agrees to the cent" in result.output


def test_demo_quiet_prints_one_line(fakes: None) -> None:
    result = CliRunner().invoke(main, ["demo", "--invoices", "2", "--quiet"])
    assert result.exit_code == 0
    assert result.output.strip().startswith("demo ok: 2 of 2 invoices")
    assert len(result.output.strip().splitlines()) <= 2


def test_demo_without_the_plugins_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> Any:
        raise BackendNotFound(f"no emulator named {name!r}", name=name, installed=[])

    monkeypatch.setattr(demo_module, "emulator_class", missing)
    result = CliRunner().invoke(main, ["demo"])
    assert result.exit_code == 2
    assert "pip install -e plugins/daftra -e plugins/perfex" in result.output


def test_transformed_invoices_count_as_migrated() -> None:
    from invoicing_bridge.migration import MigrationReport, RecordResult

    report = MigrationReport(source="a", target="b")
    for outcome in ("created", "transformed", "transformed", "failed", "skipped"):
        report.add(RecordResult("invoice", outcome + str(len(report.records)), outcome))
    assert demo_module._migrated(report) == 4


def test_demo_into_tryton_without_the_server_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = pytest.importorskip("invoicing_bridge_tryton.server")
    monkeypatch.setattr(server, "tryton_versions", lambda: None)
    result = CliRunner().invoke(main, ["demo", "--target", "tryton"])
    assert result.exit_code == 2, result.output
    assert "trytond" in result.output
    assert 'pip install -e "plugins/tryton[test]"' in result.output
    assert "Daftra emulator" not in result.output  # refused before anything started


def test_demo_into_a_backend_with_no_emulator_and_no_server_is_refused() -> None:
    result = CliRunner().invoke(main, ["demo", "--target", "memory"])
    assert result.exit_code == 2, result.output
    assert "no emulator and no local server" in result.output


def test_keep_running_prints_profiles_that_work_unmasked(monkeypatch: pytest.MonkeyPatch) -> None:
    """The profiles ``--keep-running`` prints are for pasting: the emulators' own keys
    were masked with the rest of the output (``api_key = "***"``), so they did not work.
    Everything else stays masked."""
    pytest.importorskip("invoicing_bridge_daftra.emulator")
    pytest.importorskip("invoicing_bridge_perfex.emulator")
    keys: dict[str, str] = {}

    def stop(_: float) -> None:
        raise KeyboardInterrupt  # Ctrl-C as soon as the demo waits

    real = demo_module._keep_running

    def keep_running(source: Any, target: Any, target_name: str = "perfex") -> None:
        keys["daftra"] = source.profile()["api_key"]
        keys["perfex"] = target.profile()["token"]
        real(source, target, target_name)

    monkeypatch.setattr(demo_module.time, "sleep", stop)
    monkeypatch.setattr(demo_module, "_keep_running", keep_running)
    result = CliRunner().invoke(main, ["demo", "--invoices", "2", "--keep-running", "-q"])
    assert result.exit_code == 0, result.output
    assert f'api_key = "{keys["daftra"]}"' in result.output
    assert f'token = "{keys["perfex"]}"' in result.output
    assert '= "***"' not in result.output
