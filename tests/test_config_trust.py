"""Config trust: the file in use is said; a file others could have written gets no
environment secrets; secrets in a readable file and plain http:// to another host warn."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from invoicing_bridge import ConfigurationError
from invoicing_bridge.cli import main
from invoicing_bridge.config import load_profile

posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


MEMORY_WITH_VAR = '[profiles.m]\nbackend = "memory"\nlabel = "${SHOP_LABEL}"\n'


@posix_only
@pytest.mark.parametrize("mode", [0o620, 0o602, 0o666])
def test_a_file_others_can_write_gets_no_environment_values(tmp_path: Path, mode: int) -> None:
    cfg = write(tmp_path / "c.toml", MEMORY_WITH_VAR, mode)
    with pytest.raises(ConfigurationError) as info:
        load_profile("m", cfg, env={"SHOP_LABEL": "the-secret"})
    error = info.value
    assert (error.profile, error.option) == ("m", "label")
    assert "writable by group or others" in str(error)
    assert str(cfg) in str(error)
    assert "the-secret" not in str(error)


@posix_only
def test_a_file_of_another_user_gets_no_environment_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = write(tmp_path / "c.toml", MEMORY_WITH_VAR)
    real_uid = os.geteuid()
    monkeypatch.setattr(os, "geteuid", lambda: real_uid + 1)  # as if another user owned it
    with pytest.raises(ConfigurationError, match="owned by another user"):
        load_profile("m", cfg, env={"SHOP_LABEL": "x"})


@posix_only
@pytest.mark.parametrize("mode", [0o600, 0o644])
def test_an_own_file_writable_by_its_owner_alone_gets_environment_values(
    tmp_path: Path, mode: int
) -> None:
    cfg = write(tmp_path / "c.toml", MEMORY_WITH_VAR, mode)
    assert load_profile("m", cfg, env={"SHOP_LABEL": "shop"}).options["label"] == "shop"


@posix_only
def test_a_writable_file_without_variables_still_loads(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.toml", '[profiles.m]\nbackend = "memory"\nlabel = "x"\n', 0o666)
    assert load_profile("m", cfg).options["label"] == "x"


@posix_only
def test_a_secret_in_a_readable_file_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = write(
        tmp_path / "c.toml",
        '[profiles.d]\nbackend = "daftra"\nbase_url = "http://127.0.0.1:9/api2"\n'
        'api_key = "k-123"\n',
        0o644,
    )
    with caplog.at_level(logging.WARNING, logger="invoicing_bridge.config"):
        profile = load_profile("d", cfg)
    assert len(profile.warnings) == 1
    assert "api_key written in" in profile.warnings[0]
    assert "chmod 600" in profile.warnings[0]
    assert "k-123" not in profile.warnings[0]
    assert profile.warnings[0] in caplog.text


@posix_only
def test_a_secret_in_a_private_file_or_from_the_environment_does_not_warn(
    tmp_path: Path,
) -> None:
    text = '[profiles.d]\nbackend = "daftra"\nbase_url = "http://127.0.0.1:9/api2"\n'
    private = write(tmp_path / "a.toml", text + 'api_key = "k-123"\n', 0o600)
    from_env = write(tmp_path / "b.toml", text + 'api_key = "${K}"\n', 0o644)
    assert load_profile("d", private).warnings == ()
    assert load_profile("d", from_env, env={"K": "k"}).warnings == ()


@pytest.mark.parametrize(
    ("url", "warns"),
    [
        ("http://shop.example.com/api2", True),
        ("http://10.0.0.5:8080/api2", True),
        ("https://shop.example.com/api2", False),
        ("http://127.0.0.1:8001/api2", False),
        ("http://localhost:8001/api2", False),
        ("http://[::1]:8001/api2", False),
    ],
)
def test_plain_http_to_another_host_warns(tmp_path: Path, url: str, warns: bool) -> None:
    cfg = write(
        tmp_path / "c.toml",
        f'[profiles.d]\nbackend = "daftra"\nbase_url = "{url}"\napi_key = "${{K}}"\n',
    )
    warnings = load_profile("d", cfg, env={"K": "k"}).warnings
    assert bool(warnings) is warns
    if warns:
        assert "plain http://" in warnings[0]


def test_check_prints_the_config_file_in_use(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.toml", '[profiles.m]\nbackend = "memory"\n')
    result = CliRunner().invoke(main, ["--config", str(cfg), "check", "m"])
    assert result.exit_code == 0, result.output
    assert f"config: {cfg}" in result.output


def test_debug_logs_the_config_file_in_use(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = write(tmp_path / "c.toml", '[profiles.m]\nbackend = "memory"\n')
    with caplog.at_level(logging.DEBUG, logger="invoicing_bridge.config"):
        result = CliRunner().invoke(main, ["--config", str(cfg), "--debug", "check", "m"])
    assert result.exit_code == 0, result.output
    assert f"config file: {cfg}" in caplog.text


@posix_only
def test_the_cli_prints_config_warnings_as_one_line_each(tmp_path: Path) -> None:
    cfg = write(
        tmp_path / "c.toml",
        '[profiles.m]\nbackend = "memory"\n',
    )
    refused = write(tmp_path / "w.toml", MEMORY_WITH_VAR, 0o666)
    ok = CliRunner().invoke(main, ["--config", str(cfg), "check", "m"])
    assert "warning" not in ok.output
    bad = CliRunner().invoke(main, ["--config", str(refused), "check", "m"])
    assert bad.exit_code == 2
    assert "writable by group or others" in bad.output
    assert "Traceback" not in bad.output


def test_the_cli_prints_a_plain_http_warning_before_working(tmp_path: Path) -> None:
    cfg = write(
        tmp_path / "c.toml",
        '[profiles.d]\nbackend = "daftra"\nbase_url = "http://192.0.2.1:9/api2"\n'
        'api_key = "${K}"\nconnect_timeout = 0.2\nmax_retries = 0\n',
    )
    result = CliRunner().invoke(main, ["--config", str(cfg), "check", "d"], env={"K": "k"})
    assert result.exit_code == 2
    lines = result.output.splitlines()
    assert any(
        line.startswith("warning: profile 'd': base_url is plain http:// to 192.0.2.1")
        for line in lines
    ), result.output


def test_a_migration_warning_is_printed_as_a_warning_line(tmp_path: Path) -> None:
    """Not only the config's warnings: the library's others (here a migration into a
    target that mails customers a receipt per payment) were printed bare, without the
    ``warning:`` prefix, by logging's last resort."""
    import logging

    import click

    from invoicing_bridge import cli

    @click.command()
    def warn() -> None:
        logging.getLogger("invoicing_bridge.migration").warning("crm mails customers")

    load = cli.load_command
    try:
        cli.load_command = lambda name: warn if name == "w" else load(name)  # type: ignore[assignment]
        result = CliRunner().invoke(main, ["w"])
    finally:
        cli.load_command = load  # type: ignore[assignment]
    assert result.exit_code == 0, result.output
    assert result.output.splitlines().count("warning: crm mails customers") == 1, result.output
