"""Fidelity to the real module and core (issue 13, the notes' "Findings from primary
sources"): each fact has an emulator behaviour, and the backend copes with it."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests
from invoicing_bridge_perfex.backend import PerfexBackend
from invoicing_bridge_perfex.emulator import PerfexEmulator

from invoicing_bridge import get_backend
from invoicing_bridge.exceptions import MappingError
from invoicing_bridge.models import Invoice, LineItem, Payment, TaxRate


def backend_for(emulator: PerfexEmulator, **options: Any) -> PerfexBackend:
    profile = emulator.profile()
    profile.pop("backend")
    profile.update({"backoff_base": 0, **options})
    backend = get_backend("perfex", **profile)
    assert isinstance(backend, PerfexBackend)
    return backend


# ------------------------------------------------- 2.0.8 single GET on PHP 8 (HTML 500)


@pytest.fixture
def usort_install() -> Iterator[PerfexEmulator]:
    with PerfexEmulator(invoices=12, seed=7, usort_single_invoice=True) as running:
        yield running


def test_emulated_208_answers_the_single_invoice_get_with_an_html_500(
    usort_install: PerfexEmulator, fixture_text: Any
) -> None:
    base, headers = usort_install.base_url, {"authtoken": usort_install.token}
    one = requests.get(f"{base}/invoices/1", headers=headers, timeout=5)
    assert one.status_code == 500
    assert one.headers["Content-Type"].startswith("text/html")
    assert "usort()" in one.text and "usort()" in fixture_text("errors/php_error.html")
    # Lists and search are unaffected.
    assert requests.get(f"{base}/invoices", headers=headers, timeout=5).status_code == 200
    listed = requests.get(f"{base}/invoices/search/1", headers=headers, timeout=5)
    assert listed.status_code == 200


def test_reading_one_invoice_falls_back_to_list_rows_and_warns_once(
    usort_install: PerfexEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    state = usort_install.state
    paid = next(i for i in state.invoices.values() if state.paid(i.id) > 0)
    with backend_for(usort_install) as backend, caplog.at_level(logging.WARNING):
        invoice = backend.get_invoice(str(paid.id))
        tried = _single_gets(usort_install)
        again = backend.get_invoice(str(paid.id))
        listed = list(backend.iter_invoices())
    assert invoice.id == again.id == str(paid.id)
    assert invoice.total == paid.total
    assert invoice.items == [] and invoice.extra["items_known"] is False
    assert invoice.amount_paid == state.paid(paid.id)
    assert len(invoice.payments) == len(state.payments_by_invoice[paid.id])
    assert len(listed) == len(state.invoices)
    assert all(i.extra["items_known"] is False for i in listed)
    warnings = [r for r in caplog.records if "HTML 500" in r.getMessage()]
    assert len(warnings) == 1
    # The first read found out (the HTTP layer retried its 500); no single GET after it.
    assert tried >= 1 and _single_gets(usort_install) == tried


def _single_gets(emulator: PerfexEmulator) -> int:
    by_route = emulator.stats.snapshot()["by_route"]
    return sum(
        n
        for route, n in by_route.items()
        if route.startswith("GET /api/invoices/") and "search" not in route
    )


def test_create_and_payment_are_confirmed_without_the_single_get(
    usort_install: PerfexEmulator,
) -> None:
    with backend_for(usort_install) as backend:
        client = backend.get_client("1")
        invoice = Invoice.build(
            number="7001",
            issue_date=dt.date(2026, 9, 1),
            due_date=dt.date(2099, 10, 1),
            currency="USD",
            client=client,
            items=[
                LineItem(
                    "Work", Decimal("2"), Decimal("50.00"), taxes=[TaxRate("VAT", Decimal("15.00"))]
                )
            ],
        )
        created = backend.create_invoice(invoice)
        assert created.id is not None
        assert [(i.name, i.quantity, i.unit_price) for i in created.items] == [
            ("Work", Decimal("2.00"), Decimal("50.00"))
        ]
        assert created.total == Decimal("115.00")
        payment = backend.record_payment(
            Payment(
                invoice_id=created.id,
                amount=Decimal("15.00"),
                date=dt.date.today(),
                method="bank",
                currency="USD",
            )
        )
        assert payment.id is not None and payment.amount == Decimal("15.00")
        stored = usort_install.state.invoices[int(created.id)]
        assert usort_install.state.paid(stored.id) == Decimal("15.00")
        # An update would have to guess the stored lines: refused, nothing sent.
        with pytest.raises(MappingError, match="HTML 500"):
            backend.update_invoice(created.copy(notes="changed"))
