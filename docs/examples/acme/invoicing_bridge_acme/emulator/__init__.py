"""A local emulator of the Acme Books API: ``state`` (the data and its rules), ``app``
(the HTTP side), ``seed`` (the starting data).

``AcmeEmulator`` serves the app with the core's ``EmulatorServer`` on a free loopback port
(the tests use it), and ``invoicing-bridge emulate acme`` runs it in the foreground.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from invoicing_bridge.emulation import Emulator, Knob

from .app import AcmeApp

__all__ = ["EMULATOR", "AcmeApp", "AcmeEmulator"]


class AcmeEmulator(Emulator):
    """The app on a loopback port: ``with AcmeEmulator() as emulator: emulator.base_url``.

    The :class:`~invoicing_bridge.emulation.Emulator` base gives the lifecycle
    (``start``/``stop``, context manager) and the shared server's ``base_url``, ``stats``
    and ``faults``; ``profile()`` gives the backend options (``"backend"`` included), as
    every bundled emulator does.
    """

    name = "acme"
    api_path = "/v1"
    default_invoices = 0
    knobs = (Knob("api_key", "acme-test-key", "The API key to accept."),)

    def create_app(self, knobs: Mapping[str, Any]) -> AcmeApp:
        self.api_key = knobs["api_key"]
        return AcmeApp(self.api_key, invoices=self.invoices)

    def profile(self) -> dict[str, Any]:
        return {"backend": "acme", "base_url": self.base_url, "api_key": self.api_key}


#: The emulator class (the ``acme`` emulators entry point names it).
EMULATOR = AcmeEmulator

#: ``invoicing-bridge emulate acme``.
main = AcmeEmulator.click_command()
