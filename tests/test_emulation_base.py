"""The Emulator base: one constructor contract, declared knobs, and the ``emulate NAME``
command built from them."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from werkzeug.wrappers import Request, Response

from invoicing_bridge.emulation import Emulator, EmulatorServer, Knob, WSGIApp


class EchoEmulator(Emulator):
    """An emulator whose app answers with what it was built from."""

    name = "echo"
    api_path = "/v9"
    default_invoices = 3
    knobs = (
        Knob("api_key", None, "The key (random when not given)."),
        Knob("version", 2, "API version.", choices=["2", "3"]),
        Knob("strict", False, "Refuse unknown fields."),
        Knob("limit", None, "Page size.", type=int),
        Knob("hidden", "x", cli=False),
    )

    def create_app(self, knobs: Mapping[str, Any]) -> WSGIApp:
        self.built_with = dict(knobs)
        self.api_key = knobs["api_key"] or "random-key"
        seen = {"invoices": self.invoices, "seed": self.seed, **self.built_with}

        def app(environ: dict[str, Any], start_response: Any) -> Any:
            request = Request(environ)
            response = Response(json.dumps({**seen, "path": request.path}))
            return response(environ, start_response)

        return app

    def profile(self) -> dict[str, Any]:
        return {
            "backend": "echo",
            "base_url": self.base_url,
            "api_key": self.api_key,
            "ids": {"EGP": "1"},
            "version": str(self.built_with["version"]),
        }


def test_knobs_take_their_defaults_and_given_values() -> None:
    emulator = EchoEmulator(api_key="k", strict=True)
    assert emulator.built_with == {
        "api_key": "k",
        "version": 2,
        "strict": True,
        "limit": None,
        "hidden": "x",
    }
    assert (emulator.invoices, emulator.seed) == (3, 1)
    assert EchoEmulator(invoices=0, seed=9).invoices == 0


def test_an_undeclared_knob_is_a_type_error_naming_it() -> None:
    with pytest.raises(TypeError, match="colour"):
        EchoEmulator(colour="blue")


def test_negative_invoices_are_refused() -> None:
    with pytest.raises(ValueError, match="invoices"):
        EchoEmulator(invoices=-1)


def test_knob_names_in_order() -> None:
    assert EchoEmulator.knob_names() == ("api_key", "version", "strict", "limit", "hidden")


def test_a_knob_may_not_take_a_shared_name() -> None:
    with pytest.raises(TypeError, match="seed"):

        class Clash(Emulator):
            knobs = (Knob("seed", 1),)


def test_the_emulator_serves_its_app_with_the_shared_faults() -> None:
    with EchoEmulator(invoices=2, seed=5, api_key="k") as emulator:
        assert emulator.base_url == f"http://127.0.0.1:{emulator.port}/v9"
        answer = requests.get(emulator.base_url + "/ping", timeout=5).json()
        assert answer["invoices"] == 2 and answer["seed"] == 5 and answer["path"] == "/v9/ping"
        emulator.faults.scheduled.append("503")
        assert requests.get(emulator.base_url + "/ping", timeout=5).status_code == 503
        assert emulator.stats.snapshot()["requests"] == 2


def test_command_has_the_shared_options_and_one_per_cli_knob() -> None:
    command = EchoEmulator.click_command()
    assert command.name == "echo"
    names = [param.name for param in command.params]
    assert names == [
        "host",
        "port",
        "invoices",
        "seed",
        "latency_ms",
        "fault_rate",
        "api_key",
        "version",
        "strict",
        "limit",
    ]
    help_text = CliRunner().invoke(command, ["--help"]).output
    assert "--strict" in help_text and "--hidden" not in help_text
    assert "[default: 3" in help_text  # the class's default_invoices


def test_command_prints_a_profile_that_is_valid_toml_then_serves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[EchoEmulator] = []
    original = EchoEmulator.create_app

    def spy(self: EchoEmulator, knobs: Mapping[str, Any]) -> WSGIApp:
        built.append(self)
        return original(self, knobs)

    monkeypatch.setattr(EchoEmulator, "create_app", spy)
    monkeypatch.setattr(EmulatorServer, "serve_forever", lambda self: None)
    result = CliRunner().invoke(
        EchoEmulator.click_command("echo2"),
        ["--invoices", "0", "--version", "3", "--strict", "--limit", "7", "--api-key", 'a"b'],
    )
    assert result.exit_code == 0, result.output
    assert built[0].built_with == {
        "api_key": 'a"b',
        "version": "3",
        "strict": True,
        "limit": 7,
        "hidden": "x",
    }
    assert built[0].invoices == 0
    found = re.search(r"^\[profiles\.echo2-emulator\]\n(?:.+\n)+", result.output, re.M)
    assert found, result.output
    profile = tomllib.loads(found.group(0))["profiles"]["echo2-emulator"]
    assert profile["backend"] == "echo"
    assert profile["api_key"] == 'a"b'
    assert profile["ids"] == {"EGP": "1"}
    assert profile["version"] == "3"
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v9", profile["base_url"])
    assert "stopped; served 0 requests" in result.output


def test_open_backend_is_the_profiles_backend_with_the_overrides() -> None:
    daftra = pytest.importorskip("invoicing_bridge_daftra.emulator")
    with (
        daftra.DaftraEmulator(invoices=2, seed=1) as running,
        running.open_backend(max_retries=0) as backend,
    ):
        assert backend.name == "daftra"
        assert backend.options["max_retries"] == 0
        assert backend.options["base_url"] == running.profile()["base_url"]
        assert len(list(backend.iter_invoices())) == 2
