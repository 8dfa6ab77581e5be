"""``invoicing-bridge migrate``: options, report JSON, exit status, progress output."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from invoicing_bridge import Client, Invoice, LineItem
from invoicing_bridge import config as config_module
from invoicing_bridge.backends.http import HTTPBackend
from invoicing_bridge.backends.memory import MemoryBackend
from invoicing_bridge.cli import main
from invoicing_bridge.cli import migrate as cli_migrate
from invoicing_bridge.cli.migrate import progress_reporter
from invoicing_bridge.config import Profile
from invoicing_bridge.exceptions import MappingError
from invoicing_bridge.migration import RecordResult


@dataclass
class FakeProfile:
    backend: MemoryBackend

    def open(self, *, check: bool = False) -> MemoryBackend:
        if check:  # migrate checks both sides before reading, as Profile.open does
            self.backend.check()
        return self.backend


def _source() -> MemoryBackend:
    backend = MemoryBackend(label="old")
    client = backend.create_client(Client(name="Acme", email="a@acme.test"))
    for i, currency in enumerate(("EGP", "EGP", "USD")):
        backend.create_invoice(
            Invoice.build(
                number=f"INV-{i + 1}",
                issue_date=dt.date(2024, 1, 1 + i),
                currency=currency,
                client=client,
                items=[LineItem(name="Tea", quantity=Decimal("3"), unit_price=Decimal("12.5"))],
            )
        )
    return backend


@pytest.fixture
def backends(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, MemoryBackend]]:
    """Profiles ``old`` and ``new``: a seeded source and a target accepting EGP only."""
    found = {"old": _source(), "new": MemoryBackend(label="new", currencies=["EGP"])}

    def load_profile(name: str, config: Any = None) -> FakeProfile:
        return FakeProfile(found[name])

    monkeypatch.setattr(cli_migrate, "load_profile", load_profile)
    # The memory backends outlive each command (their "close" is a no-op).
    yield found


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_migrate_prints_a_table_and_exits_1_when_a_record_failed(
    runner: CliRunner, backends: dict[str, MemoryBackend], tmp_path: Path
) -> None:
    ledger = tmp_path / "l.sqlite"
    result = runner.invoke(main, ["migrate", "old", "new", "--ledger", str(ledger)])
    assert result.exit_code == 1, result.output
    assert "Migration: memory:old -> memory:new" in result.output
    assert "Failed" in result.output and "INV-3" in result.output
    assert "unknown currency 'USD'" in result.output
    assert len(list(backends["new"].iter_invoices())) == 2


def test_migrate_report_json_has_counts_and_failures(
    runner: CliRunner, backends: dict[str, MemoryBackend], tmp_path: Path
) -> None:
    out = tmp_path / "report.json"
    result = runner.invoke(
        main,
        ["migrate", "old", "new", "--ledger", str(tmp_path / "l"), "--report", str(out), "-q"],
    )
    assert result.exit_code == 1
    data = json.loads(out.read_text())
    assert data["counts"]["invoice"] == {
        "created": 2,
        "transformed": 0,
        "updated": 0,
        "matched": 0,
        "skipped": 0,
        "changed": 0,
        "failed": 1,
        "needs_attention": 0,
        "would_create": 0,
        "would_transform": 0,
        "would_update": 0,
    }
    (failure,) = data["failures"]
    assert failure["number"] == "INV-3" and "USD" in failure["reason"]
    assert "Migration" not in result.stdout  # --quiet: no table
    assert "1 records failed" in result.stderr


def test_migrate_report_to_stdout(
    runner: CliRunner, backends: dict[str, MemoryBackend], tmp_path: Path
) -> None:
    result = runner.invoke(
        main, ["migrate", "old", "new", "--ledger", str(tmp_path / "l"), "--report", "-", "-q"]
    )
    assert json.loads(result.stdout)["source"] == "memory:old"


def test_migrate_exits_0_when_everything_went_through(
    runner: CliRunner, backends: dict[str, MemoryBackend], tmp_path: Path
) -> None:
    backends["new"] = MemoryBackend(label="new")
    ledger = str(tmp_path / "l.sqlite")
    result = runner.invoke(main, ["migrate", "old", "new", "--ledger", ledger, "--quiet"])
    assert result.exit_code == 0, result.output
    assert result.output == ""
    again = runner.invoke(main, ["migrate", "old", "new", "--ledger", ledger])
    assert again.exit_code == 0
    assert len(list(backends["new"].iter_invoices())) == 3


def test_migrate_dry_run_writes_nothing(
    runner: CliRunner, backends: dict[str, MemoryBackend], tmp_path: Path
) -> None:
    ledger = tmp_path / "l.sqlite"
    result = runner.invoke(main, ["migrate", "old", "new", "--dry-run", "--ledger", str(ledger)])
    assert "dry run: nothing written" in result.output
    assert "would create" in result.output
    assert list(backends["new"].iter_invoices()) == []
    assert not ledger.exists()


def test_plain_progress_lines_when_not_a_tty(
    runner: CliRunner, backends: dict[str, MemoryBackend], tmp_path: Path
) -> None:
    result = runner.invoke(main, ["migrate", "old", "new", "--ledger", str(tmp_path / "l")])
    assert "invoice" in result.stderr and ": created -> " in result.stderr
    assert "failed (memory" in result.stderr


def test_bad_since_is_a_usage_error(
    runner: CliRunner, backends: dict[str, MemoryBackend], tmp_path: Path
) -> None:
    result = runner.invoke(main, ["migrate", "old", "new", "--since", "yesterday"])
    assert result.exit_code == 2 and "YYYY-MM-DD" in result.output


def test_bad_match_criterion_is_a_usage_error(
    runner: CliRunner, backends: dict[str, MemoryBackend]
) -> None:
    result = runner.invoke(main, ["migrate", "old", "new", "--match-clients", "email,phone"])
    assert result.exit_code == 2 and "phone" in result.output


def test_match_clients_none_creates_every_client(
    runner: CliRunner, backends: dict[str, MemoryBackend], tmp_path: Path
) -> None:
    backends["new"].create_client(Client(name="Acme", email="a@acme.test"))
    args = ["migrate", "old", "new", "--match-clients", "none", "-q", "--ledger"]
    runner.invoke(main, [*args, str(tmp_path / "l")])
    assert len(list(backends["new"].iter_clients())) == 2


def test_unknown_profile_is_one_line_and_exit_2(runner: CliRunner, tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[profiles.a]\nbackend = "memory"\n')
    result = runner.invoke(main, ["--config", str(config), "migrate", "a", "zzz"])
    assert result.exit_code == 2
    assert "unknown profile 'zzz'" in result.output


def test_real_profiles_are_opened(runner: CliRunner, tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        '[profiles.a]\nbackend = "memory"\nlabel = "a"\n[profiles.b]\nbackend = "memory"\n'
    )
    args = ["--config", str(config), "migrate", "a", "b", "--ledger", str(tmp_path / "l")]
    result = runner.invoke(main, [*args, "--workers", "2", "--rate", "50"])
    assert result.exit_code == 0, result.output
    assert "memory:a -> memory:memory" in result.output


def test_rich_progress_counts_records() -> None:
    with progress_reporter(quiet=False, stream_is_tty=True) as progress:
        assert progress is not None
        progress(RecordResult("invoice", "1", "created", "INV-1", "9"))
        progress(RecordResult("invoice", "2", "failed", "INV-2", reason="no"))


def test_quiet_progress_is_none() -> None:
    with progress_reporter(quiet=True) as progress:
        assert progress is None


class _Throttled(HTTPBackend):
    name = "throttled"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.http = self._make_http(base_url="http://127.0.0.1:9/api")


def test_rate_becomes_the_rate_limit_option_of_http_backends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    classes = {"throttled": _Throttled, "memory": MemoryBackend}
    monkeypatch.setattr(cli_migrate, "backend_class", classes.__getitem__)
    monkeypatch.setattr(config_module, "backend_class", classes.__getitem__)
    http_profile = Profile("t", "throttled", _Throttled.load_options({}))
    with cli_migrate.open_with_rate(http_profile, 500) as backend:
        assert backend.options["rate_limit"] == 500
        limiter = backend.http.rate_limiter  # type: ignore[attr-defined]
        assert limiter is not None and limiter.interval == pytest.approx(1 / 500)
    with cli_migrate.open_with_rate(http_profile, None) as backend:
        assert backend.http.rate_limiter is None  # type: ignore[attr-defined]
    # A backend without the option (memory) is opened as it is.
    memory_profile = Profile("m", "memory", MemoryBackend.load_options({"label": "m"}))
    with cli_migrate.open_with_rate(memory_profile, 500) as backend:
        assert "rate_limit" not in backend.options


class NoLineDiscounts(MemoryBackend):
    """A target that, like Perfex, has no line discounts."""

    money_places = 2

    def validate_invoice(self, invoice: Invoice) -> None:
        super().validate_invoice(invoice)
        for index, item in enumerate(invoice.items):
            if item.discount:
                raise MappingError(
                    "no line discounts", backend=self.name, field=f"items[{index}].discount"
                )


def _discounted() -> MemoryBackend:
    backend = MemoryBackend(label="old")
    client = backend.create_client(Client(name="Acme", email="a@acme.test"))
    backend.create_invoice(
        Invoice.build(
            number="INV-1",
            issue_date=dt.date(2024, 1, 1),
            currency="EGP",
            client=client,
            items=[
                LineItem(
                    name="Tea", quantity=Decimal("3"), unit_price=Decimal("12.50"), discount=D3
                )
            ],
        )
    )
    return backend


D3 = Decimal("3.00")


def test_migrate_lists_each_transformation_and_policy_fail_refuses_it(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    found = {"old": _discounted(), "new": NoLineDiscounts(label="new")}
    monkeypatch.setattr(
        cli_migrate, "load_profile", lambda name, config=None: FakeProfile(found[name])
    )
    out = tmp_path / "r.json"
    refused = runner.invoke(
        main,
        [
            "migrate",
            "old",
            "new",
            "--ledger",
            str(tmp_path / "a"),
            "--policy",
            "line_discounts=fail",
        ],
    )
    assert refused.exit_code == 1 and "policy line_discounts=fail" in refused.output
    assert list(found["new"].iter_invoices()) == []  # nothing written for a refused record
    bad = runner.invoke(main, ["migrate", "old", "new", "--policy", "line_discounts=maybe"])
    assert bad.exit_code == 2 and "not one of transform, fail" in bad.output
    result = runner.invoke(
        main, ["migrate", "old", "new", "--ledger", str(tmp_path / "b"), "--report", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "Transformed" in result.output and "items[0].unit_price" in result.output
    data = json.loads(out.read_text())
    assert data["counts"]["invoice"]["transformed"] == 1
    (record,) = data["transformed"]
    # 3 x 12.50 - 3.00 = 34.50 = 3 x 11.50: folded into the unit price, exactly.
    assert {c["field"]: (c["old"], c["new"]) for c in record["changes"]} == {
        "items[0].unit_price": ("12.50", "11.50"),
        "items[0].discount": ("3.00", "0"),
    }
    (stored,) = found["new"].iter_invoices()
    assert stored.items[0].unit_price == Decimal("11.50") and stored.total == Decimal("34.50")


class Interrupted(MemoryBackend):
    """Ctrl-C while the second invoice is being listed."""

    def iter_invoices(self, **kw: Any) -> Iterator[Invoice]:
        for index, invoice in enumerate(super().iter_invoices(**kw)):
            if index == 1:
                raise KeyboardInterrupt
            yield invoice


def test_ctrl_c_prints_the_summary_so_far_says_run_again_and_exits_130(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    source = Interrupted(label="old")
    client = source.create_client(Client(name="Acme", email="a@acme.test"))
    for invoice in _source().iter_invoices():
        source.create_invoice(invoice.copy(id=None, client=client))
    found = {"old": source, "new": MemoryBackend(label="new", currencies=["EGP"])}
    monkeypatch.setattr(
        cli_migrate, "load_profile", lambda name, config=None: FakeProfile(found[name])
    )
    out = tmp_path / "r.json"
    args = ["migrate", "old", "new", "--ledger", str(tmp_path / "l"), "--workers", "1"]
    result = runner.invoke(main, [*args, "--report", str(out)])
    assert result.exit_code == 130, result.output
    assert "run again to resume" in result.stderr
    assert "Migration: memory:old -> memory:new" in result.stdout
    # The summary of a stopped run does not end with "ok".
    assert "interrupted after" in result.stdout and "ok in" not in result.stdout
    data = json.loads(out.read_text())
    assert data["counts"]["invoice"]["created"] == 1  # the one done before Ctrl-C
    assert len(list(found["new"].iter_invoices())) == 1


def test_empty_ledger_file_stops_the_run_with_one_error_line(
    runner: CliRunner, backends: dict[str, MemoryBackend], tmp_path: Path
) -> None:
    ledger = tmp_path / "l"
    ledger.write_bytes(b"")
    result = runner.invoke(main, ["migrate", "old", "new", "-q", "--ledger", str(ledger)])
    assert result.exit_code == 2 and "is empty" in result.stderr
    assert list(backends["new"].iter_invoices()) == []


def test_report_tables_list_records_in_number_order() -> None:
    """Source ids sort as numbers: invoice 2 before invoice 10 (the demo's table put
    000002 after 000019, as text sorts them)."""
    import io

    from rich.console import Console

    from invoicing_bridge.migration import MigrationReport
    from invoicing_bridge.migration.report import Change

    report = MigrationReport(source="shop", target="crm")
    for sid in ("10", "2", "1"):
        report.add(
            RecordResult(
                "invoice",
                sid,
                "transformed",
                number=f"N-{sid}",
                changes=(Change("items[0].unit_price", "1", "2", "line_discount"),),
            )
        )
        report.add(RecordResult("payment", f"{sid}#0", "failed", reason=f"why {sid}"))
    out = io.StringIO()
    cli_migrate.render_report(report, Console(file=out, width=120))
    text = out.getvalue()
    assert text.index("N-1 ") < text.index("N-2 ") < text.index("N-10 ")
    assert text.index("why 1 ") < text.index("why 2 ") < text.index("why 10 ")


def test_two_profiles_of_one_account_are_refused_before_anything_is_read(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``migrate shop shop`` (or two names for one account) would create every invoice a
    second time under a fresh ledger: a usage error, nothing read or written."""

    class Remote(MemoryBackend):
        name = "remote"  # an account that is the same wherever it is opened from

    account = Remote(label="shop")
    client = account.create_client(Client(name="Acme"))
    for n in (1, 2, 3):
        account.create_invoice(
            Invoice.build(
                number=f"INV-{n}",
                issue_date=dt.date(2024, 1, n),
                currency="EGP",
                client=client,
                items=[LineItem(name="Tea", quantity=Decimal("1"), unit_price=Decimal("5"))],
            )
        )
    monkeypatch.setattr(cli_migrate, "load_profile", lambda name, config=None: FakeProfile(account))
    ledger = tmp_path / "l.sqlite"
    result = runner.invoke(main, ["migrate", "shop", "shop-again", "--ledger", str(ledger)])
    assert result.exit_code == 2, result.output
    assert "SOURCE and TARGET are the same account (remote:shop)" in result.output
    assert len(list(account.iter_invoices())) == 3 and not ledger.exists()
    # Memory profiles each open an account of their own: not refused.
    monkeypatch.setattr(
        cli_migrate,
        "load_profile",
        lambda name, config=None: FakeProfile(_source() if name == "a" else MemoryBackend()),
    )
    result = runner.invoke(main, ["migrate", "a", "b", "--ledger", str(tmp_path / "m.sqlite")])
    assert "same account" not in result.output
