"""``invoicing-bridge compare``: formats, output file, exit status 0/1/2.

The profiles come from a real TOML config file of ``memory`` profiles. A memory backend
opened from a config starts empty (and lives only in this process), so ``Profile.open``
is replaced to hand out backends seeded here, one per profile name; everything else (the
config file, the profile's validation, the command) runs as for a user.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from invoicing_bridge.backends.base import InvoicingBackend
from invoicing_bridge.backends.memory import MemoryBackend
from invoicing_bridge.cli import main
from invoicing_bridge.config import Profile
from invoicing_bridge.exceptions import TransportError
from invoicing_bridge.migration.ledger import DEFAULT_LEDGER, Ledger
from invoicing_bridge.models import Client, Invoice, LineItem, Payment, TaxRate

D = Decimal

CONFIG = """
[profiles.books]
backend = "memory"
label = "books"

[profiles.bank]
backend = "memory"
label = "bank"
"""


def seed(label: str, numbers: list[str], *, total_bump: Decimal = D("0")) -> MemoryBackend:
    backend = MemoryBackend(label=label)
    client = backend.create_client(Client(name="Acme", email="a@acme.example"))
    for number in numbers:
        invoice = Invoice.build(
            number=number,
            issue_date=dt.date(2024, 1, 15),
            currency="SAR",
            client=client,
            items=[LineItem("Widget", D("2"), D("10.00"), taxes=[TaxRate("VAT", D("15"))])],
            payments=[Payment(D("5.00"), dt.date(2024, 2, 1), "cash")],
        )
        invoice.total += total_bump
        backend.create_invoice(invoice)
    return backend


class Env:
    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
        self.config = tmp_path / "invoicing-bridge.toml"
        self.config.write_text(CONFIG, encoding="utf-8")
        self.tmp_path = tmp_path
        self.backends: dict[str, InvoicingBackend] = {}
        self.closed: list[str] = []
        env = self

        def open_seeded(profile: Profile, *, check: bool = False) -> InvoicingBackend:
            backend = env.backends[profile.name]
            if check:  # compare checks both sides before reading, as Profile.open does
                backend.check()
            original_close = backend.close

            def close() -> None:
                env.closed.append(profile.name)
                original_close()

            backend.close = close  # type: ignore[method-assign]
            return backend

        monkeypatch.setattr(Profile, "open", open_seeded)

    def run(self, *args: str) -> Any:
        return CliRunner().invoke(main, ["--config", str(self.config), "compare", *args])


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    yield Env(tmp_path, monkeypatch)


def test_equal_sides_exit_0_with_a_table(env: Env) -> None:
    env.backends = {
        "books": seed("books", ["INV-000001", "INV-000002"]),
        "bank": seed("bank", ["1", "2"]),
    }

    result = env.run("books", "bank")

    assert result.exit_code == 0, result.output
    assert "equal 2" in result.stdout
    assert "books (memory:books)" in result.stdout
    assert "The two sides agree." in result.stdout
    assert sorted(env.closed) == ["bank", "books"]


def test_a_difference_exits_1(env: Env) -> None:
    env.backends = {
        "books": seed("books", ["1"]),
        "bank": seed("bank", ["1"], total_bump=D("1.00")),
    }

    result = env.run("books", "bank")

    assert result.exit_code == 1, result.output
    assert "total" in result.stdout
    assert "The two sides differ." in result.stdout


def test_an_invoice_on_one_side_only_exits_1(env: Env) -> None:
    env.backends = {"books": seed("books", ["1", "2"]), "bank": seed("bank", ["1"])}

    result = env.run("books", "bank", "--format", "json")

    assert result.exit_code == 1
    assert [r["number"] for r in json.loads(result.stdout)["only_left"]] == ["2"]


def test_json_format_prints_the_report(env: Env) -> None:
    env.backends = {
        "books": seed("books", ["1"]),
        "bank": seed("bank", ["INV-1"], total_bump=D("0.50")),
    }

    result = env.run("books", "bank", "--format", "json")

    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["left"] == "books (memory:books)"
    assert data["different"][0]["number"] == "1"
    assert data["different"][0]["right_number"] == "INV-1"
    # The memory backend keeps balance_due = total - amount_paid: it follows the total,
    # and is grouped under it.
    assert data["different"][0]["differences"] == [
        {
            "path": "total",
            "left": "23.00",
            "right": "23.50",
            "derived": [{"path": "balance_due", "left": "18.00", "right": "18.50"}],
        },
    ]


def test_tolerance_option_widens_what_is_equal(env: Env) -> None:
    env.backends = {
        "books": seed("books", ["1"]),
        "bank": seed("bank", ["1"], total_bump=D("0.50")),
    }

    assert env.run("books", "bank", "--tolerance", "0.5").exit_code == 0
    assert env.run("books", "bank", "--tolerance", "0.49").exit_code == 1


def test_csv_format_to_an_output_file(env: Env) -> None:
    env.backends = {
        "books": seed("books", ["1", "3"]),
        "bank": seed("bank", ["1", "2"], total_bump=D("1")),
    }
    out = env.tmp_path / "report.csv"

    result = env.run("books", "bank", "--format", "csv", "--output", str(out))

    assert result.exit_code == 1
    assert result.stdout == ""
    assert "report written to" in result.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [
        (r["kind"], r["left_number"], r["right_number"], r["path"], r["derived"]) for r in rows
    ] == [
        ("different", "1", "1", "total", "balance_due 18.00 → 19.00"),
        ("only_left", "3", "", "", ""),
        ("only_right", "", "2", "", ""),
    ]


def test_table_to_an_output_file_has_no_colour_codes(env: Env) -> None:
    env.backends = {
        "books": seed("books", ["1"]),
        "bank": seed("bank", ["2"], total_bump=D("1")),
    }
    out = env.tmp_path / "report.txt"

    result = env.run("books", "bank", "--output", str(out))

    assert result.exit_code == 1
    text = out.read_text(encoding="utf-8")
    assert "Only in books (memory:books) (1)" in text
    assert "\x1b[" not in text


def test_since_option(env: Env) -> None:
    env.backends = {"books": seed("books", ["1"]), "bank": seed("bank", [])}

    assert env.run("books", "bank", "--since", "2024-01-15").exit_code == 1
    result = env.run("books", "bank", "--since", "2024-01-16", "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["since"] == "2024-01-16"


def test_match_by_ledger(env: Env) -> None:
    books, bank = seed("books", ["A-7"]), seed("bank", ["B-9"])
    env.backends = {"books": books, "bank": bank}
    (left_id,) = [i.id for i in books.iter_invoices()]
    (right_id,) = [i.id for i in bank.iter_invoices()]
    path = env.tmp_path / "ledger.sqlite"
    with Ledger(path) as ledger:
        ledger.record_done(
            "invoice",
            str(left_id),
            source=books.label,
            target=bank.label,
            target_id=str(right_id),
        )

    by_number = env.run("books", "bank", "--format", "json")
    by_ledger = env.run("books", "bank", "--ledger", str(path), "--format", "json")

    assert by_number.exit_code == 1  # "7" and "9" are different numbers
    assert by_ledger.exit_code == 1  # paired by the ledger: the numbers differ
    data = json.loads(by_ledger.stdout)
    assert data["match"] == "ledger"
    assert data["different"][0]["differences"] == [
        {"path": "number", "left": "A-7", "right": "B-9"}
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["books", "nope"], "unknown profile 'nope'"),
        (["books", "bank", "--tolerance", "-1"], "must be zero or more"),
        (["books", "bank", "--tolerance", "cent"], "is not a number"),
        (["books", "bank", "--since", "15/01/2024"], "--since"),
        (["books", "bank", "--match", "fuzzy"], "--match"),
        (["books", "bank", "--match", "number", "--ledger", "invoicing-bridge.toml"], "--ledger"),
        (["books", "bank", "--ledger", "missing.sqlite"], "missing.sqlite"),
        (["books", "bank", "--match", "ledger"], "does not exist"),  # no default ledger here
        (["books", "bank", "--output", "no/such/dir/report.txt"], "'no/such/dir' does not exist"),
    ],
)
def test_errors_exit_2_with_one_line_and_no_traceback(
    env: Env, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.chdir(env.tmp_path)
    env.backends = {"books": seed("books", ["1"]), "bank": seed("bank", ["1"])}

    result = env.run(*args)

    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_backend_failure_while_reading_exits_2(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    bank = seed("bank", ["1"])

    def broken(**_: Any) -> Iterator[Invoice]:
        raise TransportError("connection refused", backend="memory")
        yield  # pragma: no cover

    monkeypatch.setattr(bank, "iter_invoices", broken)
    env.backends = {"books": seed("books", ["1"]), "bank": bank}

    result = env.run("books", "bank")

    assert result.exit_code == 2
    assert "error: memory: connection refused" in result.output
    assert "Traceback" not in result.output
    assert sorted(env.closed) == ["bank", "books"]


def test_help_lists_the_options() -> None:
    result = CliRunner().invoke(main, ["compare", "--help"])

    assert result.exit_code == 0
    for option in ("--match", "--ledger", "--since", "--tolerance", "--format", "--output"):
        assert option in result.output


def test_a_ledger_in_the_working_directory_is_used_by_default_and_said(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    books, bank = seed("books", ["A-7"]), seed("bank", ["B-9"])
    env.backends = {"books": books, "bank": bank}
    (left_id,) = [i.id for i in books.iter_invoices()]
    (right_id,) = [i.id for i in bank.iter_invoices()]
    monkeypatch.chdir(env.tmp_path)
    with Ledger(DEFAULT_LEDGER) as ledger:
        ledger.record_done(
            "invoice", str(left_id), source=books.label, target=bank.label, target_id=str(right_id)
        )

    table = env.run("books", "bank")
    data = json.loads(env.run("books", "bank", "--format", "json").stdout)
    by_number = json.loads(env.run("books", "bank", "--match", "number", "--format", "json").stdout)
    reverse = json.loads(env.run("bank", "books", "--format", "json").stdout)

    assert f"matched by the migration ledger {DEFAULT_LEDGER}" in " ".join(table.stdout.split())
    assert (data["match"], data["ledger"]) == ("ledger", DEFAULT_LEDGER)
    assert data["different"][0]["differences"] == [
        {"path": "number", "left": "A-7", "right": "B-9"}
    ]
    assert (by_number["match"], by_number["ledger"]) == ("number", None)
    # The ledger holds no migration from bank to books: matched by number.
    assert reverse["match"] == "number"


def test_value_columns_are_headed_by_short_names_the_summary_gives_in_full() -> None:
    """A URL as a column heading was folded over three lines in every compare table."""
    import io

    from rich.console import Console

    from invoicing_bridge.cli.compare import _column_names, render
    from invoicing_bridge.comparison import compare

    assert _column_names(
        "shop (daftra:https://myshop.daftra.com/api2)", "crm (perfex:https://crm.example/api)"
    ) == ("shop", "crm")
    assert _column_names("daftra:http://127.0.0.1:1/api2", "perfex:http://127.0.0.1:2/api") == (
        "daftra",
        "perfex",
    )
    same = ("daftra:http://127.0.0.1:1/api2", "daftra:http://127.0.0.1:2/api2")
    assert _column_names(*same) == same  # the short names would not tell them apart
    report = compare(seed("books", ["INV-1"]), seed("bank", ["INV-1"], total_bump=D("1")))
    report.left = "books (memory:http://127.0.0.1:8001/a/long/path)"
    report.right = "bank (memory:http://127.0.0.1:8002/a/long/path)"
    out = io.StringIO()
    render(report, Console(file=out, width=100, no_color=True))
    text = out.getvalue()
    heading = next(line for line in text.splitlines() if "field" in line)
    assert "books" in heading and "bank" in heading and "http" not in heading
    assert "books (memory:http://127.0.0.1:8001/a/long/path)" in " ".join(text.split())
