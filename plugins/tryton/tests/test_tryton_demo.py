"""``invoicing-bridge demo --target tryton``: the realistic Daftra emulator seed migrated
into a real trytond the demo starts (on a copy of the cached database the session's
server uses too) and stops, compared equal, transformations listed.

Not the session's server: the demo compares the whole target, which must hold only what
it migrated.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from invoicing_bridge.cli import main

pytest.importorskip("invoicing_bridge_daftra.emulator")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]


def test_demo_into_tryton_migrates_the_realistic_seed_and_compares_equal(
    tryton_server: dict[str, Any],  # the cached database built (or skipped without trytond)
) -> None:
    # Five invoices of the realistic seed: payments from the client's credit among them.
    result = CliRunner().invoke(main, ["demo", "--target", "tryton", "--invoices", "5"])
    assert result.exit_code == 0, result.output
    started = re.search(r"Tryton \(a real server\) at (http://127\.0\.0\.1:\d+)", result.output)
    assert started and started.group(1) != tryton_server["base_url"]
    assert "demo ok: 5 of 5 invoices migrated from Daftra to Tryton" in result.output
    assert "both sides agree" in result.output
    assert "Transformed (totals kept to the cent)" in result.output
    # Daftra's "client credit" payments: Tryton has no such method; each change is listed.
    assert "client_credit" in result.output
    assert re.search(r"HTTP requests: \d+ to Daftra", result.output)
    with pytest.raises(requests.ConnectionError):  # the demo stopped its server
        requests.get(started.group(1), timeout=5)
