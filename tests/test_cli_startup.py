"""``invoicing-bridge --help`` imports no command module and none of the heavy libraries
(issue 16: the command line took 0.65-0.85 s to start because ``--help`` imported
everything). Each check runs in a fresh interpreter and looks at ``sys.modules``: a count
of modules, never a time."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest

import invoicing_bridge
from invoicing_bridge.cli import LAZY_COMMANDS, load_command, main

#: Top-level packages that ``--help`` (and ``import invoicing_bridge``) must not import.
HEAVY = {
    "requests",
    "urllib3",
    "marshmallow",
    "stevedore",
    "lxml",
    "saxonche",
    "werkzeug",
    "rich",
    "sqlite3",
    "hypothesis",
    "invoicing_bridge_daftra",
    "invoicing_bridge_perfex",
    "invoicing_bridge_tryton",
}


def _imported_by(code: str) -> list[str]:
    """The modules a fresh interpreter has after running ``code``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    modules: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return modules


def _heavy(modules: list[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY)


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["migrate", "--help"]])
def test_help_imports_no_heavy_module(args: list[str]) -> None:
    modules = _imported_by(
        "from invoicing_bridge.cli import main\n"
        f"main({args!r}, prog_name='invoicing-bridge', standalone_mode=False)"
    )
    ours = [m for m in modules if m.startswith("invoicing_bridge")]
    if args == ["migrate", "--help"]:
        # The command's own module is loaded to print its options; still no plugin.
        assert "invoicing_bridge.cli.migrate" in ours
        assert not [m for m in modules if m.startswith(("invoicing_bridge_", "stevedore"))]
        return
    assert _heavy(modules) == []
    # The package, its exceptions, the redactor and the group: no command module, no
    # models, no registry.
    assert ours == [
        "invoicing_bridge",
        "invoicing_bridge.cli",
        "invoicing_bridge.exceptions",
        "invoicing_bridge.redaction",
    ]


def test_importing_the_package_imports_no_heavy_module() -> None:
    modules = _imported_by("import invoicing_bridge")
    assert _heavy(modules) == []
    assert "invoicing_bridge.models" not in modules
    assert "invoicing_bridge.registry" not in modules


def test_every_public_name_of_the_package_still_resolves() -> None:
    for name in invoicing_bridge.__all__:
        assert getattr(invoicing_bridge, name) is not None, name
    from invoicing_bridge.models import Invoice
    from invoicing_bridge.registry import get_backend

    assert invoicing_bridge.Invoice is Invoice
    assert invoicing_bridge.get_backend is get_backend
    assert {"Invoice", "get_backend", "migrate"} <= set(dir(invoicing_bridge))
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        invoicing_bridge.nothing  # noqa: B018


def test_the_declared_short_help_is_each_commands_own() -> None:
    for name, lazy in LAZY_COMMANDS.items():
        command = load_command(name)
        assert command is not None, name
        own = command.get_short_help_str(limit=1000)
        declared = click.Command(name, help=lazy.help).get_short_help_str(limit=1000)
        assert declared == own, f"{name}: LAZY_COMMANDS says {declared!r}, the command {own!r}"


def test_the_lazy_listing_is_what_click_would_print_from_the_commands() -> None:
    ctx = click.Context(main, info_name="invoicing-bridge")
    lazy = main.get_help(ctx)
    eager = click.Group(
        "invoicing-bridge",
        params=main.params,
        help=main.help,
        context_settings=main.context_settings,
        commands={name: load_command(name) for name in main.list_commands(ctx)},
    )
    # click.Group lists commands sorted; the lazy group keeps the declared order.
    listing = lazy.split("Commands:")[1].splitlines()
    expected = eager.get_help(click.Context(eager, info_name="invoicing-bridge"))
    assert sorted(listing) == sorted(expected.split("Commands:")[1].splitlines())
    assert len(listing) > len(LAZY_COMMANDS)


def test_an_unknown_command_is_still_refused() -> None:
    from click.testing import CliRunner

    result = CliRunner().invoke(main, ["nope"])
    assert result.exit_code == 2
    assert "No such command 'nope'" in result.output
