"""Finding backends by entry point: the built-in memory backend, an outside distribution,
a plugin that fails to import, and options validation."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from invoicing_bridge import available_backends, get_backend
from invoicing_bridge.backends.base import InvoicingBackend
from invoicing_bridge.backends.memory import MemoryBackend
from invoicing_bridge.exceptions import BackendNotFound, ConfigurationError
from invoicing_bridge.registry import (
    EMULATOR_NAMESPACE,
    NAMESPACE,
    available_emulators,
    backend_class,
    emulator_class,
    emulator_command,
)

OUTSIDE_MODULE = """
    from invoicing_bridge.backends.base import Feature, InvoicingBackend, OptionsSchema
    from marshmallow import fields


    class OutsideOptions(OptionsSchema):
        region = fields.String(load_default="eu")


    class OutsideBackend(InvoicingBackend):
        name = "{name}"
        features = frozenset({{Feature.LIST_INVOICES}})
        Options = OutsideOptions

        def iter_invoices(self, *, since=None, status=None, client_id=None):
            return iter(())
"""

Installer = Callable[..., Path]


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Installer]:
    """Write a distribution into tmp_path (a module and its ``*.dist-info``) as pip would
    leave it in site-packages, and put tmp_path on sys.path."""
    modules: list[str] = []

    def installer(
        dist: str,
        module: str,
        source: str,
        entry_points: dict[str, str],
        group: str = NAMESPACE,
    ) -> Path:
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        info = tmp_path / f"{dist.replace('-', '_')}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n", encoding="utf-8"
        )
        lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
        (info / "entry_points.txt").write_text(f"[{group}]\n{lines}", encoding="utf-8")
        (info / "RECORD").write_text("", encoding="utf-8")
        modules.append(module)
        # syspath_prepend also invalidates importlib's caches, so metadata is re-read.
        monkeypatch.syspath_prepend(str(tmp_path))
        return info

    yield installer
    for module in modules:
        sys.modules.pop(module, None)


def test_available_backends_includes_memory() -> None:
    assert "memory" in available_backends()
    assert available_backends() == sorted(available_backends())


def test_get_backend_memory_returns_a_configured_memory_backend() -> None:
    backend = get_backend("memory", label="left", currencies=["EGP"])
    assert isinstance(backend, MemoryBackend)
    assert backend.options == {"label": "left", "currencies": ["EGP"]}
    assert backend_class("memory") is MemoryBackend


def test_unknown_backend_raises_backend_not_found_listing_installed() -> None:
    with pytest.raises(BackendNotFound) as info:
        get_backend("no-such-backend")
    error = info.value
    assert isinstance(error, ConfigurationError)
    assert error.name == "no-such-backend"
    assert "memory" in error.installed
    assert "'no-such-backend'" in str(error)
    assert "installed: " in str(error)
    assert "memory" in str(error).split("installed: ", 1)[1]


def test_unknown_option_raises_configuration_error_naming_it() -> None:
    with pytest.raises(ConfigurationError) as info:
        get_backend("memory", colour="blue")
    assert info.value.option == "colour"
    assert "colour" in str(info.value)


def test_option_of_wrong_type_raises_configuration_error_naming_it() -> None:
    with pytest.raises(ConfigurationError) as info:
        get_backend("memory", currencies="EGP")
    assert info.value.option == "currencies"
    assert "currencies" in str(info.value)
    assert not isinstance(info.value, BackendNotFound)


def test_backend_from_an_outside_distribution_is_found_by_entry_point(
    install: Installer,
) -> None:
    # A lookup before the install, as a long-running process would have made.
    assert "outside" not in available_backends()
    get_backend("memory")
    install(
        "invoicing-bridge-outside",
        "outside_pkg",
        OUTSIDE_MODULE.format(name="outside"),
        {"outside": "outside_pkg:OutsideBackend"},
    )
    assert "outside" in available_backends()
    assert "memory" in available_backends()
    backend = get_backend("outside", region="me")
    assert type(backend).__name__ == "OutsideBackend"
    assert type(backend).__module__ == "outside_pkg"
    assert isinstance(backend, InvoicingBackend)
    assert backend.options == {"region": "me"}
    assert list(backend.iter_invoices()) == []


def test_outside_backend_options_are_validated_too(install: Installer) -> None:
    install(
        "invoicing-bridge-outside2",
        "outside2_pkg",
        OUTSIDE_MODULE.format(name="outside2"),
        {"outside2": "outside2_pkg:OutsideBackend"},
    )
    with pytest.raises(ConfigurationError) as info:
        get_backend("outside2", region=3)
    assert info.value.option == "region"


def test_plugin_that_fails_to_import_raises_backend_not_found_with_the_cause(
    install: Installer,
) -> None:
    get_backend("memory")
    install(
        "invoicing-bridge-broken",
        "broken_pkg",
        'raise ImportError("invoicing_bridge_broken needs libfrobnicate>=2")\n',
        {"broken": "broken_pkg:BrokenBackend"},
    )
    assert "broken" in available_backends()
    with pytest.raises(BackendNotFound) as info:
        get_backend("broken")
    text = str(info.value)
    assert "'broken'" in text
    assert "failed to load" in text
    assert "ImportError" in text
    assert "libfrobnicate>=2" in text
    assert isinstance(info.value.__cause__, ImportError)
    assert "broken" in info.value.installed
    # The other backends are not affected.
    assert isinstance(get_backend("memory"), MemoryBackend)


def test_entry_point_to_a_non_backend_raises_backend_not_found(install: Installer) -> None:
    install(
        "invoicing-bridge-wrong",
        "wrong_pkg",
        "class NotABackend:\n    pass\n",
        {"wrong": "wrong_pkg:NotABackend"},
    )
    with pytest.raises(BackendNotFound, match="InvoicingBackend subclass"):
        get_backend("wrong")


def test_entry_point_to_a_missing_attribute_raises_backend_not_found(install: Installer) -> None:
    install("invoicing-bridge-typo", "typo_pkg", "X = 1\n", {"typo": "typo_pkg:TypoBackend"})
    with pytest.raises(BackendNotFound) as info:
        get_backend("typo")
    assert "AttributeError" in str(info.value)


# --------------------------------------------------------------------------- emulators

OUTSIDE_EMULATOR = """
    from invoicing_bridge.emulation import Emulator, Knob


    class OutsideEmulator(Emulator):
        name = "outside-emu"
        api_path = "/api"
        knobs = (Knob("region", "eu", "The region to answer for."),)

        def create_app(self, knobs):
            self.region = knobs["region"]

            def app(environ, start_response):
                start_response("200 OK", [("Content-Type", "application/json")])
                return [b"{}"]

            return app

        def profile(self):
            return {"backend": "outside", "base_url": self.base_url, "region": self.region}


    def old_style_command():
        pass
"""


def test_emulator_entry_point_names_the_class_and_the_command_is_built_from_it(
    install: Installer,
) -> None:
    install(
        "invoicing-bridge-outside-emu",
        "outside_emu_pkg",
        OUTSIDE_EMULATOR,
        {"outside-emu": "outside_emu_pkg:OutsideEmulator"},
        group=EMULATOR_NAMESPACE,
    )
    assert "outside-emu" in available_emulators()
    cls = emulator_class("outside-emu")
    assert cls.__name__ == "OutsideEmulator"
    with cls(region="me") as emulator:
        assert emulator.profile()["region"] == "me"
    command = emulator_command("outside-emu")
    assert command.name == "outside-emu"
    assert "--region" in [opt for param in command.params for opt in param.opts]

    from invoicing_bridge.cli import main

    result = CliRunner().invoke(main, ["emulate", "outside-emu", "--help"])
    assert result.exit_code == 0, result.output
    assert "--region" in result.output and "--fault-rate" in result.output


def test_emulator_entry_point_to_a_non_emulator_raises_backend_not_found(
    install: Installer,
) -> None:
    install(
        "invoicing-bridge-old-emu",
        "old_emu_pkg",
        OUTSIDE_EMULATOR,
        {"old-emu": "old_emu_pkg:old_style_command"},
        group=EMULATOR_NAMESPACE,
    )
    with pytest.raises(BackendNotFound, match="Emulator subclass") as info:
        emulator_class("old-emu")
    assert "old-emu" in info.value.installed


def test_unknown_emulator_raises_backend_not_found_listing_installed(install: Installer) -> None:
    install(
        "invoicing-bridge-listed-emu",
        "listed_emu_pkg",
        OUTSIDE_EMULATOR,
        {"listed-emu": "listed_emu_pkg:OutsideEmulator"},
        group=EMULATOR_NAMESPACE,
    )
    with pytest.raises(BackendNotFound) as info:
        emulator_class("no-such-emulator")
    assert info.value.name == "no-such-emulator"
    assert "listed-emu" in info.value.installed
    assert "listed-emu" in str(info.value).split("installed: ", 1)[1]


def test_emulator_that_fails_to_import_is_reported_and_spares_the_others(
    install: Installer,
) -> None:
    install(
        "invoicing-bridge-broken-emu",
        "broken_emu_pkg",
        'raise ImportError("needs libfrobnicate>=2")\n',
        {"broken-emu": "broken_emu_pkg:BrokenEmulator"},
        group=EMULATOR_NAMESPACE,
    )
    with pytest.raises(BackendNotFound, match="failed to load") as info:
        emulator_class("broken-emu")
    assert isinstance(info.value.__cause__, ImportError)

    from invoicing_bridge.cli import main

    result = CliRunner().invoke(main, ["emulate", "--help"])
    assert result.exit_code == 0, result.output
    assert "broken-emu" in result.output
