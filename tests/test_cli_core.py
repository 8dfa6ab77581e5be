"""The core commands, run as a user would through click's runner."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from invoicing_bridge.cli import main


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


INVOICE = {
    "number": "INV-7",
    "issue_date": "2026-09-25",
    "currency": "EGP",
    "client": {"name": "شركة النيل"},
    "items": [{"name": "Tea", "quantity": "3", "unit_price": "12.5000"}],
    "subtotal": "37.5000",
    "total": "37.5000",
    "balance_due": "37.5000",
}


def test_backends_lists_memory_with_features(runner: CliRunner) -> None:
    result = runner.invoke(main, ["backends"])
    assert result.exit_code == 0, result.output
    assert "memory" in result.output
    assert "invoices.create" in result.output


def test_parse_prints_neutral_json_keeping_decimals(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "inv.json"
    path.write_text(json.dumps(INVOICE, ensure_ascii=False), encoding="utf-8")
    result = runner.invoke(main, ["parse", "memory", "invoice", str(path)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["total"] == "37.5000"
    assert data["client"]["name"] == "شركة النيل"
    assert data["items"][0]["net_amount"] == "37.5000"


def test_parse_bad_json_prints_one_line_and_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "inv.json"
    path.write_text("<html>oops</html>", encoding="utf-8")
    result = runner.invoke(main, ["parse", "memory", "invoice", str(path)])
    assert result.exit_code == 2
    assert "not JSON" in result.output
    assert "Traceback" not in result.output


def test_parse_unknown_backend_names_installed_ones(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "inv.json"
    path.write_text("{}", encoding="utf-8")
    result = runner.invoke(main, ["parse", "nope", "invoice", str(path)])
    assert result.exit_code == 2
    assert "installed: " in result.output and "memory" in result.output


def test_list_unknown_profile_explains_where_it_looked(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(main, ["list", "shop", "invoices"])
    assert result.exit_code == 2
    assert "unknown profile 'shop'" in result.output
    assert "invoicing-bridge.toml" in result.output


def test_list_and_get_through_a_profile(runner: CliRunner, tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[profiles.m]\nbackend = "memory"\n', encoding="utf-8")
    result = runner.invoke(
        main, ["--config", str(cfg), "list", "m", "invoices", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == []
    result = runner.invoke(main, ["--config", str(cfg), "get", "m", "invoice", "42"])
    assert result.exit_code == 2
    assert "not found" in result.output


def test_list_rejects_a_bad_since_date(runner: CliRunner, tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[profiles.m]\nbackend = "memory"\n', encoding="utf-8")
    result = runner.invoke(
        main, ["--config", str(cfg), "list", "m", "invoices", "--since", "25/09/2026"]
    )
    assert result.exit_code == 2
    assert "YYYY-MM-DD" in result.output


def test_parse_with_raw_keeps_json_numbers_exact(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "inv.json"
    payload = dict(INVOICE, raw={"summary_total": 32999.9961})
    path.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
    result = runner.invoke(main, ["parse", "memory", "invoice", str(path), "--raw"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["raw"] == {"summary_total": "32999.9961"}


def test_a_kind_in_the_other_number_is_taken(runner: CliRunner, tmp_path: Path) -> None:
    """``list`` spells kinds in the plural, ``get`` and ``parse`` in the singular; a user
    who types one command's spelling in the other is understood, not refused."""
    path = tmp_path / "inv.json"
    path.write_text(json.dumps(INVOICE, ensure_ascii=False), encoding="utf-8")
    result = runner.invoke(main, ["parse", "memory", "invoices", str(path)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["number"] == "INV-7"
    config = tmp_path / "c.toml"
    config.write_text('[profiles.m]\nbackend = "memory"\n', encoding="utf-8")
    result = runner.invoke(main, ["--config", str(config), "list", "m", "invoice"])
    assert result.exit_code == 0, result.output
    assert "(no records)" in result.output
    result = runner.invoke(main, ["--config", str(config), "list", "m", "receipts"])
    assert result.exit_code == 2 and "'receipts' is not one of" in result.output
