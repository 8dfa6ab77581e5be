"""Output paths are checked before any work; reports and ledgers are private (0600) and
written whole; a full disk is one line and loses nothing."""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import sqlite3
import stat
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from invoicing_bridge import Client, ConfigurationError, Invoice, LineItem
from invoicing_bridge.backends.memory import MemoryBackend
from invoicing_bridge.cli import main
from invoicing_bridge.cli import migrate as cli_migrate
from invoicing_bridge.cli import paths as cli_paths
from invoicing_bridge.cli.paths import write_private
from invoicing_bridge.migration.ledger import Ledger

posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")


class Opened:
    """A profile stand-in that counts how often its backend was opened."""

    def __init__(self, backend: MemoryBackend) -> None:
        self.backend = backend
        self.opened = 0

    def open(self, *, check: bool = False) -> MemoryBackend:
        self.opened += 1
        if check:  # migrate checks both sides before reading, as Profile.open does
            self.backend.check()
        return self.backend


@pytest.fixture
def profiles(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Opened]]:
    source = MemoryBackend(label="old")
    client = source.create_client(Client(name="Acme", email="a@acme.test"))
    source.create_invoice(
        Invoice.build(
            number="INV-1",
            issue_date=dt.date(2024, 1, 1),
            currency="EGP",
            client=client,
            items=[LineItem(name="Tea", quantity=Decimal("3"), unit_price=Decimal("12.5"))],
        )
    )
    found = {"old": Opened(source), "new": Opened(MemoryBackend(label="new"))}
    monkeypatch.setattr(cli_migrate, "load_profile", lambda name, config=None: found[name])
    yield found


def migrate(tmp_path: Path, *args: str) -> Result:
    ledger = str(tmp_path / "ledger.sqlite")
    return CliRunner().invoke(main, ["migrate", "old", "new", "--ledger", ledger, *args])


def _refused_before_work(result: Result, profiles: dict[str, Opened], text: str) -> None:
    assert result.exit_code == 2, result.output
    assert text in result.output
    assert "Traceback" not in result.output
    assert [p.opened for p in profiles.values()] == [0, 0]


def test_a_report_in_a_missing_directory_is_refused_before_any_work(
    tmp_path: Path, profiles: dict[str, Opened]
) -> None:
    result = migrate(tmp_path, "--report", str(tmp_path / "nope" / "r.json"))
    _refused_before_work(result, profiles, "does not exist")
    assert not (tmp_path / "ledger.sqlite").exists()


def test_the_ledger_as_the_report_is_refused_even_with_force(
    tmp_path: Path, profiles: dict[str, Opened]
) -> None:
    ledger = tmp_path / "ledger.sqlite"
    Ledger(ledger).close()
    before = ledger.read_bytes()
    result = migrate(tmp_path, "--report", str(ledger), "--force")
    _refused_before_work(result, profiles, "is the migration ledger")
    assert ledger.read_bytes() == before


def test_the_ledger_reached_by_another_spelling_is_refused(
    tmp_path: Path, profiles: dict[str, Opened], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    Ledger(tmp_path / "ledger.sqlite").close()
    result = migrate(tmp_path, "--report", "./sub/../ledger.sqlite", "--force")
    _refused_before_work(result, profiles, "is the migration ledger")


def test_an_existing_report_needs_force(tmp_path: Path, profiles: dict[str, Opened]) -> None:
    report = tmp_path / "r.json"
    report.write_text("keep me", encoding="utf-8")
    result = migrate(tmp_path, "--report", str(report))
    _refused_before_work(result, profiles, "exists; pass --force")
    assert report.read_text(encoding="utf-8") == "keep me"
    forced = migrate(tmp_path, "--report", str(report), "--force", "-q")
    assert forced.exit_code == 0, forced.output
    assert json.loads(report.read_text(encoding="utf-8"))["ok"] is True


def test_a_directory_as_the_report_is_refused(tmp_path: Path, profiles: dict[str, Opened]) -> None:
    _refused_before_work(migrate(tmp_path, "--report", str(tmp_path)), profiles, "is a directory")


def test_a_ledger_in_a_missing_directory_is_refused_before_any_work(
    tmp_path: Path, profiles: dict[str, Opened]
) -> None:
    ledger = str(tmp_path / "nope" / "l.sqlite")
    result = CliRunner().invoke(main, ["migrate", "old", "new", "--ledger", ledger])
    _refused_before_work(result, profiles, "does not exist")


@posix_only
def test_reports_and_ledgers_are_created_0600(tmp_path: Path, profiles: dict[str, Opened]) -> None:
    old_umask = os.umask(0o022)
    try:
        result = migrate(tmp_path, "--report", str(tmp_path / "r.json"), "-q")
    finally:
        os.umask(old_umask)
    assert result.exit_code == 0, result.output
    for name in ("r.json", "ledger.sqlite"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
    for extra in tmp_path.glob("ledger.sqlite-*"):  # SQLite's -wal and -shm follow the file
        assert stat.S_IMODE(extra.stat().st_mode) == 0o600, extra.name


@posix_only
def test_a_forced_report_replacing_a_readable_file_is_0600(tmp_path: Path) -> None:
    report = tmp_path / "r.txt"
    report.write_text("old", encoding="utf-8")
    report.chmod(0o644)
    write_private(report, "new")
    assert report.read_text(encoding="utf-8") == "new"
    assert stat.S_IMODE(report.stat().st_mode) == 0o600


def _disk_full(*args: Any) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_leaves_the_earlier_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = tmp_path / "r.json"
    report.write_text("earlier report", encoding="utf-8")
    monkeypatch.setattr(cli_paths.os, "fsync", _disk_full)
    with pytest.raises(ConfigurationError) as info:
        write_private(report, "x" * 100_000)
    assert str(info.value) == f"cannot write {str(report)!r}: No space left on device"
    assert report.read_text(encoding="utf-8") == "earlier report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_a_full_disk_while_writing_the_report_is_one_line_exit_2(
    tmp_path: Path, profiles: dict[str, Opened], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fsync = os.fsync
    monkeypatch.setattr(cli_paths.os, "fsync", _disk_full)
    result = migrate(tmp_path, "--report", str(tmp_path / "r.json"), "-q")
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert errors == [f"error: cannot write {str(tmp_path / 'r.json')!r}: No space left on device"]
    assert "Traceback" not in result.output
    # The migration itself is in the ledger: nothing is lost, a second run creates nothing.
    monkeypatch.setattr(cli_paths.os, "fsync", real_fsync)
    again = migrate(tmp_path, "--report", str(tmp_path / "r.json"), "-q")
    assert again.exit_code == 0, again.output
    assert len(list(profiles["new"].backend.iter_invoices())) == 1
    assert json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["ok"] is True


def test_a_full_disk_under_the_ledger_is_one_line_exit_2(
    tmp_path: Path, profiles: dict[str, Opened], monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*args: Any, **kwargs: Any) -> Any:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(cli_migrate, "run_migration", full)
    result = migrate(tmp_path)
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines()[-1] == "error: database or disk is full"
    assert "Traceback" not in result.output


def test_compare_output_is_checked_before_work_and_written_0600(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from invoicing_bridge.cli import compare as cli_compare

    found = {"a": Opened(MemoryBackend(label="a")), "b": Opened(MemoryBackend(label="b"))}
    monkeypatch.setattr(cli_compare, "load_profile", lambda name, config=None: found[name])
    out = tmp_path / "diff.json"
    out.write_text("earlier", encoding="utf-8")
    args = ["compare", "a", "b", "--format", "json", "--output", str(out)]
    refused = CliRunner().invoke(main, args)
    _refused_before_work(refused, found, "exists; pass --force")
    assert out.read_text(encoding="utf-8") == "earlier"
    forced = CliRunner().invoke(main, [*args, "--force"])
    assert forced.exit_code == 0, forced.output
    assert json.loads(out.read_text(encoding="utf-8"))["ok"] is True
    if os.name == "posix":
        assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_ctrl_c_in_any_command_is_one_line_and_exit_130(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """click alone printed "Aborted!" and exited 1, the status of "found differences"."""
    import click
    from click.testing import CliRunner

    from invoicing_bridge import cli

    @click.command()
    def slow() -> None:
        raise KeyboardInterrupt

    load = cli.load_command
    monkeypatch.setattr(cli, "load_command", lambda name: slow if name == "s" else load(name))
    result = CliRunner().invoke(cli.main, ["s"])
    assert result.exit_code == 130, result.output
    assert result.output == "interrupted\n"
