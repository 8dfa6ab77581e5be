"""The plugin guide (docs/plugins.md) and its worked example (docs/examples/acme, an
installable distribution) agree: the layout the guide names is the bundled plugins' and the
example's, every module of the example is shown on the page, and the example is installed
and found through its entry points. Its contract test lives with it
(``docs/examples/acme/tests``), as a bundled plugin's does."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from invoicing_bridge import get_backend
from invoicing_bridge.emulation import Emulator
from invoicing_bridge.registry import available_backends, emulator_class

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "plugins.md"
EXAMPLE = ROOT / "docs" / "examples" / "acme"
PACKAGE = EXAMPLE / "invoicing_bridge_acme"
#: Files of the guide's layout a small plugin may leave out, and the guide says Acme does.
OPTIONAL = {"lookups.py", "plan.py"}


def _layout_block() -> str:
    text = GUIDE.read_text(encoding="utf-8")
    match = re.search(r"```text\ninvoicing-bridge-acme/\n(?P<body>.*?)```", text, re.S)
    assert match, "the guide's layout block (```text invoicing-bridge-acme/) is missing"
    return match["body"]


def _named_files(block: str) -> set[str]:
    """The module and directory names of the package part of the layout block."""
    package = block.split("invoicing_bridge_acme/", 1)[1].split("tests/", 1)[0]
    names = set()
    for line in package.splitlines():
        word = line.strip().split(" ", 1)[0]
        if word.endswith((".py", "/")) or word == "py.typed":
            names.add(word)
    return names


def test_guide_layout_is_the_bundled_plugins_layout() -> None:
    """Every file the guide names (but the lookup table, ``lookups.py`` or ``taxes.py``)
    is in each bundled plugin, and the emulator is a package of state, app and seed."""
    named = _named_files(_layout_block()) - {"lookups.py", "emulator/"}
    assert {"options.py", "errors.py", "connection.py", "mapper.py", "backend.py"} <= named
    plugins = [
        p
        for p in sorted((ROOT / "plugins").glob("*/invoicing_bridge_*/"))
        if not p.name.endswith(".egg-info")
    ]
    assert len(plugins) >= 2
    # A plugin tested against a real server (Tryton) has no emulator, and one whose API
    # needs no table or write plan has no lookups or plan: those are the optional files.
    core = named - {"plan.py"}
    for plugin in plugins:
        for name in sorted(core):
            assert (plugin / name.rstrip("/")).exists(), f"{plugin.name} has no {name}"
        if (plugin / "emulator").exists():
            for part in ("state.py", "app.py", "seed.py", "__init__.py"):
                assert (plugin / "emulator" / part).exists(), f"{plugin.name}: emulator/{part}"


def test_guide_layout_names_every_file_of_the_example() -> None:
    named = _named_files(_layout_block())
    shipped = {
        p.name + ("/" if p.is_dir() else "") for p in PACKAGE.iterdir() if p.name != "__pycache__"
    }
    assert "schemas/read.py" in named and "schemas/write.py" in named
    top_named = {n.split("/", 1)[0] + "/" if "/" in n[:-1] else n for n in named}
    assert shipped <= top_named, (
        f"the example has files the guide does not name: {shipped - top_named}"
    )
    assert top_named - shipped <= OPTIONAL, f"the guide names missing files: {top_named - shipped}"
    assert (PACKAGE / "py.typed").exists()


def test_guide_shows_every_module_of_the_example() -> None:
    included = set(re.findall(r'--8<-- "examples/acme/([^"]+)"', GUIDE.read_text(encoding="utf-8")))
    modules = {
        str(p.relative_to(EXAMPLE))
        for p in PACKAGE.rglob("*.py")
        if p.stat().st_size and p.parent.name != "__pycache__"
    }
    modules -= {"invoicing_bridge_acme/__init__.py", "invoicing_bridge_acme/schemas/__init__.py"}
    assert modules <= included, f"not shown on the page: {sorted(modules - included)}"
    assert "pyproject.toml" in included


def test_example_distribution_declares_both_entry_points() -> None:
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["name"] == "invoicing-bridge-acme"
    points = project["entry-points"]
    assert points["invoicing_bridge.backends"] == {
        "acme": "invoicing_bridge_acme.backend:AcmeBackend"
    }
    assert points["invoicing_bridge.emulators"] == {
        "acme": "invoicing_bridge_acme.emulator:AcmeEmulator"
    }


def test_example_is_installed_and_found_by_name() -> None:
    """The README's install line installs it; ``get_backend("acme")`` finds it."""
    assert "acme" in available_backends()
    assert issubclass(emulator_class("acme"), Emulator)
    with get_backend("acme", base_url="http://127.0.0.1:9/v1", api_key="k") as backend:
        assert backend.name == "acme"
        assert backend.label == "acme:http://127.0.0.1:9/v1"


@pytest.mark.parametrize("group", ["invoicing_bridge.backends", "invoicing_bridge.emulators"])
def test_example_uses_the_bundled_plugins_entry_point_groups(group: str) -> None:
    for setup in (ROOT / "plugins").glob("*/setup.cfg"):
        if group.endswith("emulators") and "emulator" not in setup.read_text(encoding="utf-8"):
            continue  # tested against a real server: no emulator to register
        assert group in setup.read_text(encoding="utf-8")
    assert f'"{group}"' in (EXAMPLE / "pyproject.toml").read_text(encoding="utf-8")
