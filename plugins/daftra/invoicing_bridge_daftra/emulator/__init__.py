"""A local emulator of Daftra's ``/api2``, quirks included, for tests, demos and benchmarks.

It answers like the real API as recorded in ``api-notes/daftra.md``:

- ``{"code": 200, "result": "successful", "data": ...}`` envelopes; list rows wrapped in
  their model key with ``pagination`` ``{prev, next, page, page_count, total_results}``;
  a single invoice with ``Client``, ``InvoiceItem``, ``InvoicePayment`` and ``InvoiceTax``
  nested inside ``Invoice``, a list row (``recursive=1``) with them beside it;
- ids, quantities, prices and flags as strings, computed totals as JSON numbers, the
  invoice ``date`` in the account's display format (``25/09/2026``), timestamps as
  ``YYYY-MM-DD HH:MM:SS``;
- creates answer 202 ``{"code": 202, "result": "successful", "id": "2415"}``; a PUT
  replaces the whole record (omitted header fields fall back to their defaults);
  ``summary_*`` and ``payment_status`` are recomputed from items, taxes and payments;
- ``/invoice_payments`` hides client-credit payments unless ``include_client_credit=1``;
  lists ignore filters they do not know; invoices default to newest first, clients to a
  stable but arbitrary order;
- errors: 401 without a valid ``apikey`` (or with a stale ``Authorization`` header next to
  a good key), 404 ``Invoice not found``, 400 ``validation_errors`` (a missing
  ``client_id``, an unknown tax, a duplicate number...);
- OAuth: the password grant at ``/v2/oauth/token`` on the site root, tokens that expire.

Seeded data is deterministic for a seed: Arabic and Latin names, EGP/SAR/USD, 14% and
15% VAT, drafts, unpaid, partly paid and paid invoices, four-decimal payments, ZATCA QR
codes on Saudi invoices. Seeded invoices are generated on demand, so 50,000 of them cost
little memory and list pages stay fast.

Python::

    with DaftraEmulator(invoices=25, seed=1) as emulator:
        backend = get_backend("daftra", **options_of(emulator.profile()))

Command line: ``invoicing-bridge emulate daftra [--port N] [--invoices N] ...``.

The package: :mod:`.state` (the account, its records and what Daftra computes),
:mod:`.seed` (the seeded, deterministic data) and :mod:`.app` (the routes and handlers).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from invoicing_bridge.emulation import Emulator, Knob

from .app import DaftraApp
from .state import DATE_FORMATS, DaftraState

__all__ = ["DATE_FORMATS", "DaftraApp", "DaftraEmulator", "DaftraState", "cli"]


class DaftraEmulator(Emulator):
    """A Daftra ``/api2`` on a loopback port: state, WSGI app and server together.

    ``invoices`` seeded invoices (0: an empty account) from ``seed``; ``api_key`` is
    random unless given; ``latency_ms``, ``fault_rate`` and ``fault_kinds`` are the shared
    fault knobs (see :class:`~invoicing_bridge.emulation.FaultInjector`);
    ``date_format`` is the account's display format (a key of :data:`DATE_FORMATS`'
    patterns). OAuth: ``oauth_client_id``, ``oauth_client_secret`` (random unless given),
    ``username``, ``password`` (random unless given), tokens valid ``token_ttl`` seconds.
    ``portable`` seeds only what any other backend can store as it is: no line or
    invoice discounts, whole prices, payments to the cent by cash, bank transfer or
    cheque, no client-credit payments (the default seed has all of those, as Daftra
    accounts do, and Perfex, for one, refuses them).

    Not listening until :meth:`start` (or ``with``). Attributes: ``base_url``,
    ``root_url``, ``api_key``, ``stats``, ``faults``, ``state``, ``app``, ``server``.
    """

    name = "daftra"
    api_path = "/api2"
    command_help = "Run a local Daftra /api2 emulator in the foreground and print a config profile."
    knobs = (
        Knob("api_key", None, "The apikey to accept (random when not given)."),
        Knob(
            "date_format",
            "%d/%m/%Y",
            "The account's display date format.",
            choices=[pattern for _title, pattern in DATE_FORMATS.values()],
        ),
        Knob(
            "portable",
            False,
            "Seed only invoices another system can store as they are (no discounts, "
            "no client credit, cents only).",
        ),
        Knob("clients", None, cli=False),
        Knob("oauth_client_id", "1", cli=False),
        Knob("oauth_client_secret", None, cli=False),
        Knob("username", "owner@example.com", cli=False),
        Knob("password", None, cli=False),
        Knob("token_ttl", 3600.0, cli=False),
    )

    def create_app(self, knobs: Mapping[str, Any]) -> DaftraApp:
        self.api_key = knobs["api_key"] or secrets.token_hex(16)
        self.state = DaftraState(
            invoices=self.invoices,
            seed=self.seed,
            clients=knobs["clients"],
            api_key=self.api_key,
            date_format=knobs["date_format"],
            oauth_client_id=knobs["oauth_client_id"],
            oauth_client_secret=knobs["oauth_client_secret"] or secrets.token_hex(20),
            username=knobs["username"],
            password=knobs["password"] or secrets.token_urlsafe(12),
            token_ttl=knobs["token_ttl"],
            portable=knobs["portable"],
        )
        return DaftraApp(self.state)

    def __repr__(self) -> str:
        return f"DaftraEmulator(base_url={self.base_url!r}, invoices={self.state.seeded})"

    def profile(self) -> dict[str, Any]:
        """Backend options for this emulator: ``{"backend", "base_url", "api_key"}``."""
        return {"backend": "daftra", "base_url": self.base_url, "api_key": self.api_key}

    def oauth_profile(self) -> dict[str, Any]:
        """Backend options using OAuth instead of the API key."""
        state = self.state
        return {
            "backend": "daftra",
            "base_url": self.base_url,
            "client_id": state.oauth_client_id,
            "client_secret": state.oauth_client_secret,
            "username": state.username,
            "password": state.password,
        }


#: ``invoicing-bridge emulate daftra``.
cli = DaftraEmulator.click_command()
