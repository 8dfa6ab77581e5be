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
    if fmt == "json":
        assert json.loads(result.output)[0]["name"] == "Echo ***"


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
