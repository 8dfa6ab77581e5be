"""A local emulator of the Perfex CRM REST API module (2.x by default, 3.x on request).

It keeps an install's tables in memory and answers like the module does, quirks included
(the notes' sections in brackets): a 404 with ``Token is not defined.`` for a missing
token [§3]; 404 ``No data were found`` for empty lists and unknown ids [§3]; form-encoded
POSTs with PHP bracket keys and raw-JSON-only PUTs in 2.x [§2]; no id on create in 2.x,
``record_id`` in 3.x [§4.4]; ``paymentmode`` as the payment result flag [§6]; every value a
string [§2]; no per-line tax on reads [§4.1]; ``subtotal``/``total`` stored as sent and
``total_tax`` recomputed [§4.4]. ``api_version=3`` adds ``{data, meta}`` pages, ``record_id``,
``Authorization: Bearer`` and ``Idempotency-Key`` replay.

Python API::

    with PerfexEmulator(invoices=25, seed=1) as emulator:
        backend = get_backend(**emulator.profile())   # profile() includes "backend"

Command line: ``invoicing-bridge emulate perfex [--api-version 3] ...`` prints a profile.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from invoicing_bridge.emulation import Emulator, Knob

from .app import PerfexApp
from .seed import seed_install, seed_unmigrated
from .state import PerfexState, make_token

__all__ = ["PerfexApp", "PerfexEmulator", "PerfexState", "cli", "make_token", "seed_install"]


class PerfexEmulator(Emulator):
    """A running emulated Perfex install: seeded tables behind a local HTTP server.

    ``PerfexEmulator(invoices=25, seed=1, token=None, api_version=2, latency_ms=0,
    fault_rate=0.0, fault_kinds=FAULT_KINDS, host="127.0.0.1", port=0, **install)``;
    ``install`` options: ``prefix`` (``"INV-"``), ``number_format`` (1-4), ``padding`` (6),
    ``formatted_number`` (Perfex ≥ 3.2.0 column), ``empty_payment_answer`` (2.0.8's empty
    payment answer), ``always_envelope`` (3.x pages even without page parameters),
    ``company_requires_vat``, ``usort_single_invoice`` (module ≤ 2.0.8 on PHP 8: the
    single-invoice GET answers an HTML 500 page), ``core_version`` ("3.2"; "3.4" adds
    per-line ``taxes`` and optional lines to invoice reads),
    ``delete_only_on_last_invoice`` (core's default: only the last invoice can be deleted).
    ``state.rate_limit = (limit, seconds)`` makes a 3.x module answer 429 with
    ``X-RateLimit-Reset`` (a unix time) and no ``Retry-After`` once a window is used up.

    Use as a context manager (or :meth:`start`/:meth:`stop`). Attributes: ``base_url``,
    ``token``, ``stats`` (request and connection counters), ``faults`` (the
    :class:`~invoicing_bridge.emulation.FaultInjector`: ``faults.scheduled.append
    ("503")``), ``state`` (the tables), ``server``; :meth:`profile` gives backend options.
    """

    name = "perfex"
    api_path = "/api"
    command_help = (
        "Run a local Perfex CRM REST API module (seeded data) and print a config profile."
    )
    knobs = (
        Knob("token", None, "The API token to accept (default: a random JWT)."),
        Knob(
            "api_version",
            2,
            "Module version to behave like: 2 (bare arrays, no ids on create) or 3.",
            choices=["2", "3"],
        ),
        # The install's settings (see PerfexState), for Python callers.
        Knob("prefix", "INV-", cli=False),
        Knob("number_format", 1, cli=False),
        Knob("padding", 6, cli=False),
        Knob("formatted_number", False, cli=False),
        Knob("empty_payment_answer", False, cli=False),
        Knob("always_envelope", False, cli=False),
        Knob("company_requires_vat", True, cli=False),
        Knob("usort_single_invoice", False, cli=False),
        Knob("core_version", "3.2", cli=False),
        Knob("delete_only_on_last_invoice", True, cli=False),
    )

    def create_app(self, knobs: Mapping[str, Any]) -> PerfexApp:
        install = dict(knobs)
        self.api_version = int(install.pop("api_version"))
        self.state = PerfexState(api_version=self.api_version, seed=self.seed, **install)
        seed_install(self.state, self.invoices, self.seed)
        if self.invoices > 0:
            seed_unmigrated(self.state, self.invoices, self.seed)
        return PerfexApp(self.state)

    @property
    def token(self) -> str:
        return self.state.token

    def __repr__(self) -> str:
        return f"PerfexEmulator(base_url={self.base_url!r}, api_version={self.api_version})"

    def profile(self) -> dict[str, Any]:
        """Backend options for this install (``backend`` included): base URL, token, API
        version, the currency ids and payment modes it has, its number padding."""
        return {
            "backend": "perfex",
            "base_url": self.base_url,
            "token": self.token,
            "api_version": str(self.api_version),
            "currencies": self.state.currency_ids(),
            "payment_modes": list(self.state.payment_modes),
            "number_padding": self.state.padding,
        }


#: ``invoicing-bridge emulate perfex``.
cli = PerfexEmulator.click_command()
