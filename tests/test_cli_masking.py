"""A token a server echoes back is masked in everything the command line prints, logs or
writes, not only in ``check``'s facts: a record's field shown by ``get``/``list`` (table
or JSON), a log line under ``--debug``, a report file."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from invoicing_bridge import cli
from invoicing_bridge.backends.http import HTTPBackend
from invoicing_bridge.cli import core as cli_core
from invoicing_bridge.cli import main
from invoicing_bridge.cli.paths import write_private
from invoicing_bridge.models import Client

TOKEN = "t0k3n-s3cr3t-echo"


class Echoing(HTTPBackend):
    """A backend whose server writes the token back into what it answers."""

    name = "acme"

    def __init__(self) -> None:
        super().__init__(base_url="https://erp.example.com/api")
        self.http = self._make_http(base_url="https://erp.example.com/api")
        self.http.add_secret(TOKEN)

    def iter_clients(self) -> Iterator[Client]:
        logging.getLogger("invoicing_bridge.acme").warning("server said: bad token %s", TOKEN)
        yield Client(id="1", name=f"Echo {TOKEN}", email="a@example.com")

    def get_client(self, id: str) -> Client:
        return Client(id=id, name="Plain", company_name=TOKEN)


@pytest.fixture
def echoing(monkeypatch: pytest.MonkeyPatch) -> None:
    class Loaded:
        path = "c.toml"

        def open(self) -> Echoing:
            return Echoing()

    monkeypatch.setattr(cli_core, "load_profile", lambda name, config=None: Loaded())


@pytest.mark.parametrize("fmt", ["table", "json", "ndjson"])
def test_list_masks_a_token_echoed_into_a_record(echoing: None, fmt: str) -> None:
    result = CliRunner().invoke(main, ["list", "p", "clients", "--format", fmt])
    assert result.exit_code == 0, result.output
    assert "t0k3n" not in result.output
    assert "Echo ***" in result.output
    if fmt == "json":  # the backend's warning goes to stderr, masked too
        assert json.loads(result.stdout)[0]["name"] == "Echo ***"
        assert "warning: server said: bad token ***" in result.stderr


@pytest.mark.parametrize("columns", ["24", "40", "60"])
def test_a_token_in_a_wrapping_column_is_masked_before_it_is_folded(
    echoing: None, columns: str
) -> None:
    result = CliRunner().invoke(main, ["list", "p", "clients"], env={"COLUMNS": columns})
    assert result.exit_code == 0, result.output
    for fragment in ("t0k3n", "s3cr3t", "-echo"):
        assert fragment not in result.output, result.output


def test_get_masks_a_token_echoed_into_a_record(echoing: None) -> None:
    result = CliRunner().invoke(main, ["get", "p", "client", "7", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["company_name"] == "***"


def test_a_debug_log_line_echoing_the_token_is_masked(echoing: None) -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    for handler in handlers:
        root.removeHandler(handler)  # so that --debug's basicConfig installs its own
    try:
        result = CliRunner().invoke(main, ["--debug", "list", "p", "clients"])
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
    assert result.exit_code == 0, result.output
    assert "server said: bad token ***" in result.output
    assert "t0k3n" not in result.output


def test_a_report_file_is_written_with_the_token_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = tmp_path / "report.json"

    @click.command()
    def write_report() -> None:
        backend = Echoing()  # a command opened a backend; its server echoed the token
        write_private(report, json.dumps({"client": next(backend.iter_clients()).name}))

    load = cli.load_command
    monkeypatch.setattr(
        cli, "load_command", lambda name: write_report if name == "w" else load(name)
    )
    result = CliRunner().invoke(main, ["w"])
    assert result.exit_code == 0, result.output
    assert json.loads(report.read_text()) == {"client": "Echo ***"}


def test_outside_a_command_nothing_is_masked_and_the_streams_are_restored(
    echoing: None,
) -> None:
    import sys

    stdout = sys.stdout
    CliRunner().invoke(main, ["list", "p", "clients"])
    assert sys.stdout is stdout
    assert cli.mask(f"x {TOKEN}") == f"x {TOKEN}"  # no command running: no secret known


def test_a_one_character_secret_does_not_garble_the_output(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class ShortSecret(Echoing):
        def __init__(self) -> None:
            super().__init__()
            self.http.add_secret("a")

        def iter_clients(self) -> Iterator[Client]:
            yield Client(id="1", name="Banana Cabana", email="a@example.com")

    class Loaded:
        path = "c.toml"

        def open(self) -> ShortSecret:
            return ShortSecret()

    monkeypatch.setattr(cli_core, "load_profile", lambda name, config=None: Loaded())
    result = CliRunner().invoke(main, ["list", "p", "clients", "--format", "json"])
    assert result.exit_code == 0, result.output
    shown: list[dict[str, Any]] = json.loads(result.output)
    assert shown[0]["name"] == "Banana Cabana"
    assert shown[0]["email"] == "***@example.com"  # the lone "a" stands alone: masked


# --------------------------------------------------------------------------- tables and files
# The compare and migrate tables, like list/get, mask a cell before rich lays it out: on a
# narrow terminal a long cell is folded over lines, and a token cut in two would pass the
# output stream's mask. An e-invoice file is masked too (it is built from the records).


def _run_in_a_command(monkeypatch: pytest.MonkeyPatch, body: Any) -> Any:
    """Run ``body`` as a command whose backend's server echoed the token."""

    @click.command()
    def command() -> None:
        Echoing()  # a command opened a backend: its token is known to the output's mask
        body()

    load = cli.load_command
    monkeypatch.setattr(cli, "load_command", lambda name: command if name == "w" else load(name))
    return CliRunner().invoke(main, ["w"])


def _fragments_absent(text: str) -> None:
    for fragment in ("t0k3n", "s3cr3t", "3cr3t-echo"):
        assert fragment not in text, text


@pytest.mark.parametrize("width", [50, 64, 80])
def test_a_token_in_a_compare_cell_is_masked_before_it_is_folded(
    monkeypatch: pytest.MonkeyPatch, width: int
) -> None:
    import datetime as dt
    import io
    from decimal import Decimal

    from rich.console import Console

    from invoicing_bridge.backends.memory import MemoryBackend
    from invoicing_bridge.cli.compare import render
    from invoicing_bridge.comparison import compare
    from invoicing_bridge.models import Invoice, LineItem

    def side(label: str, notes: str) -> MemoryBackend:
        backend = MemoryBackend(label=label)
        client = backend.create_client(Client(name="Acme"))
        backend.create_invoice(
            Invoice.build(
                number="INV-1",
                issue_date=dt.date(2026, 1, 5),
                currency="EGP",
                client=client,
                items=[LineItem("Widget", Decimal("1"), Decimal("10.00"))],
                notes=notes,
            )
        )
        return backend

    shown = io.StringIO()

    def body() -> None:
        report = compare(side("left", "plain"), side("right", f"echo {TOKEN} again"))
        render(report, Console(file=shown, width=width, highlight=False))

    result = _run_in_a_command(monkeypatch, body)
    assert result.exit_code == 0, result.output
    assert "***" in shown.getvalue()
    _fragments_absent(shown.getvalue())


@pytest.mark.parametrize("width", [40, 50, 64])
def test_a_token_in_a_migrate_reason_is_masked_before_it_is_folded(
    monkeypatch: pytest.MonkeyPatch, width: int
) -> None:
    import io

    from rich.console import Console

    from invoicing_bridge.cli.migrate import render_report
    from invoicing_bridge.migration.report import MigrationReport, RecordResult

    shown = io.StringIO()

    def body() -> None:
        report = MigrationReport(source="shop", target="crm")
        report.add(
            RecordResult(
                "invoice", "41", "failed", number="INV-41", reason=f"server said: {TOKEN} invalid"
            )
        )
        render_report(report, Console(file=shown, width=width, highlight=False))

    result = _run_in_a_command(monkeypatch, body)
    assert result.exit_code == 0, result.output
    assert "***" in shown.getvalue(), shown.getvalue()
    _fragments_absent(shown.getvalue())


def test_a_token_echoed_into_an_invoice_is_masked_in_its_e_invoice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import datetime as dt
    from decimal import Decimal

    from invoicing_bridge.cli.einvoice import masked
    from invoicing_bridge.einvoice import Seller, to_ubl
    from invoicing_bridge.models import Address, Invoice, LineItem, TaxRate

    invoice = Invoice.build(
        number="INV-7",
        issue_date=dt.date(2026, 1, 5),
        currency="EGP",
        client=Client(
            name=f"Buyer {TOKEN}",
            address=Address(line1="1 Nile St", city="Cairo", country="EG"),
        ),
        items=[
            LineItem(
                "Widget", Decimal("1"), Decimal("10.00"), taxes=[TaxRate("VAT", Decimal("14"))]
            )
        ],
        notes=f"token & {TOKEN}",
    )
    seller = Seller(
        name="Nile Valley Trading Co.",
        vat_id="EG204567891",
        address=Address(line1="12 Talaat Harb St.", city="Cairo", country="EG"),
    )
    written: list[bytes] = []

    def body() -> None:
        written.append(to_ubl(masked(invoice), seller=seller, profile="en16931"))

    result = _run_in_a_command(monkeypatch, body)
    assert result.exit_code == 0, result.output
    xml = written[0].decode()
    assert "Buyer ***" in xml and "token &amp; ***" in xml
    _fragments_absent(xml)
    # Outside a command no secret is known: the invoice is the same object, untouched.
    assert masked(invoice) is invoice


def test_export_writes_no_token_a_server_echoed_into_an_invoice(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Through the command: the backend's server echoed its token into an invoice's
    notes; the e-invoice file ``export`` writes holds the mask, not the token."""
    import datetime as dt
    from decimal import Decimal

    from invoicing_bridge.cli import einvoice as cli_einvoice
    from invoicing_bridge.models import Address, Invoice, LineItem, TaxRate

    class EchoingInvoices(Echoing):
        def iter_invoices(self, **_: Any) -> Iterator[Invoice]:
            yield Invoice.build(
                id="7",
                number="INV-7",
                issue_date=dt.date(2026, 1, 5),
                currency="EGP",
                client=Client(
                    name="Buyer", address=Address(line1="1 Nile St", city="Cairo", country="EG")
                ),
                items=[
                    LineItem(
                        "Widget",
                        Decimal("1"),
                        Decimal("10.00"),
                        taxes=[TaxRate("VAT", Decimal("14"))],
                    )
                ],
                notes=f"server said: {TOKEN}",
            )

    class Loaded:
        path = "c.toml"
        name = "p"
        sections = {
            "seller": {
                "name": "Nile Valley Trading Co.",
                "vat_id": "EG204567891",
                "country": "EG",
                "line1": "12 Talaat Harb St.",
                "city": "Cairo",
            }
        }

        def open(self) -> EchoingInvoices:
            return EchoingInvoices()

    monkeypatch.setattr(cli_einvoice, "load_profile", lambda name, config=None: Loaded())
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["export", "p", "invoices", "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    xml = (out / "INV-7.xml").read_text(encoding="utf-8")
    assert "server said: ***" in xml
    _fragments_absent(xml)
