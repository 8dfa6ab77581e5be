"""Fidelity to the real module and core (issue 13, the notes' "Findings from primary
sources"): each fact has an emulator behaviour, and the backend copes with it."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests
from invoicing_bridge_perfex.backend import PerfexBackend
from invoicing_bridge_perfex.emulator import PerfexEmulator
from invoicing_bridge_perfex.plan import kept_settings

from invoicing_bridge import get_backend, migrate
from invoicing_bridge.backends.memory import MemoryBackend
from invoicing_bridge.exceptions import InvalidRequest, MappingError
from invoicing_bridge.models import Address, Client, Invoice, LineItem, Payment, TaxRate


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


# ------------------------------------------------- update resets what the body omits


def test_emulated_update_resets_the_settings_the_body_omits(emulator: PerfexEmulator) -> None:
    state = emulator.state
    invoice = next(i for i in state.invoices.values() if i.recurring)
    invoice.include_shipping, invoice.cancel_overdue_reminders = 1, 1
    body = {
        "clientid": str(invoice.clientid),
        "number": str(invoice.number),
        "date": invoice.date.isoformat(),
        "currency": str(invoice.currency),
        "items": {
            str(n): {
                "itemid": str(item.id),
                "description": item.description,
                "qty": "1",
                "rate": "1",
            }
            for n, item in enumerate(invoice.items, start=1)
        },
        "allowed_payment_modes": ["1"],
        "billing_street": "Somewhere 1",
        "subtotal": str(invoice.subtotal),
        "total": str(invoice.total),
        "adminnote": "touched",
    }
    answer = requests.put(
        f"{emulator.base_url}/invoices/{invoice.id}",
        json=body,
        headers={"authtoken": emulator.token},
        timeout=5,
    )
    assert answer.status_code == 200, answer.text
    assert (invoice.recurring, invoice.cycles, invoice.total_cycles) == (0, 0, 0)
    assert (invoice.include_shipping, invoice.show_shipping_on_invoice) == (0, 1)
    assert invoice.cancel_overdue_reminders == 0


def _settings(invoice: Any) -> tuple[Any, ...]:
    """What Perfex's update resets when the body omits it (the emulator's stored row)."""
    return (
        invoice.recurring,
        invoice.custom_recurring,
        invoice.recurring_type,
        invoice.cycles,
        invoice.total_cycles,
        invoice.last_recurring_date,
        invoice.include_shipping,
        invoice.show_shipping_on_invoice,
        invoice.shipping,
        invoice.cancel_overdue_reminders,
        invoice.show_quantity_as,
    )


def test_update_sends_back_the_settings_it_read(emulator: PerfexEmulator) -> None:
    state = emulator.state
    target = next(i for i in state.invoices.values() if i.recurring and i.status != 6)
    target.include_shipping, target.show_shipping_on_invoice = 1, 0
    target.shipping = ("Dock 4<br />\nGate 2", "Jeddah", None, "21577", "194")
    target.cancel_overdue_reminders, target.show_quantity_as = 1, 2
    target.custom_recurring, target.recurring_type, target.recurring = 1, "week", 3
    kept = _settings(target)
    with backend_for(emulator) as backend:
        invoice = backend.get_invoice(str(target.id))
        for item in invoice.items:  # the seed's taxes, as Perfex stores them
            stored = next(i for i in target.items if str(i.id) == item.extra["item_id"])
            item.taxes = [TaxRate(name, rate) for name, rate in stored.taxes]
        backend.update_invoice(invoice.copy(due_date=invoice.issue_date))
    assert target.duedate == target.date
    assert _settings(target) == kept


def test_kept_settings_of_a_recurring_invoice_with_shipping(payload: Any) -> None:
    assert kept_settings(payload("invoices/get_recurring_shipping.json")) == {
        "cancel_overdue_reminders": "1",
        "recurring": "custom",
        "repeat_every_custom": "2",
        "repeat_type_custom": "week",
        "cycles": "10",
        "include_shipping": "1",
        "shipping_street": "Warehouse 3\nGate 2",
        "shipping_city": "Jeddah",
        "shipping_state": "Makkah",
        "shipping_zip": "21577",
        "shipping_country": "194",
        "show_quantity_as": "2",
    }
    # A plain invoice: nothing that is off is sent (Perfex reads a key's presence).
    assert kept_settings(payload("invoices/get.json")) == {"show_quantity_as": "1"}


# ------------------------------------------------- customer search never looks at the VAT


def test_emulated_customer_search_ignores_vat_and_inactive_customers(
    emulator: PerfexEmulator,
) -> None:
    state = emulator.state
    client = next(c for c in state.clients.values() if c.get("vat"))
    headers = {"authtoken": emulator.token}
    base = emulator.base_url
    by_vat = requests.get(f"{base}/customers/search/{client['vat']}", headers=headers, timeout=5)
    assert by_vat.status_code == 404 and by_vat.json()["message"] == "No data were found"
    by_name = requests.get(
        f"{base}/customers/search/{client['company']}", headers=headers, timeout=5
    )
    assert client["userid"] in {r["userid"] for r in by_name.json()}
    client["active"] = "0"
    hidden = requests.get(
        f"{base}/customers/search/{client['company']}", headers=headers, timeout=5
    )
    assert hidden.status_code == 404


def test_find_client_by_tax_number_lists_and_compares(emulator: PerfexEmulator) -> None:
    state = emulator.state
    client = next(c for c in state.clients.values() if c.get("vat"))
    client["active"] = "0"  # the search would not see it either way
    vat = str(client["vat"])
    spaced = f"{vat[:3]} {vat[3:]}"  # compared by the core's identity_key
    with backend_for(emulator) as backend:
        found = backend.find_client(tax_number=spaced)
        assert found is not None and found.id == client["userid"]
        assert backend.find_client(tax_number="999999999999999") is None
        assert "clients.find.tax_number" in backend.features


# ------------------------------------------------- notes and terms are stored with nl2br


def test_notes_and_terms_read_plain_and_round_trip_without_new_breaks(
    emulator: PerfexEmulator, payload: Any
) -> None:
    # As the module answers them (core nl2br_save_html on write).
    stored = payload("invoices/get_notes_nl2br.json")
    with backend_for(emulator) as backend:
        read = backend.parse_payload("invoice", stored)[0]
        assert isinstance(read, Invoice)
        assert read.notes == "Thank you.\nBank: Riyad Bank\nIBAN SA03 8000"
        assert read.terms == "Net 30.\nLate fee 2%."
        client = backend.get_client("1")
        created = backend.create_invoice(
            Invoice.build(
                number="7002",
                issue_date=dt.date(2026, 9, 2),
                currency="USD",
                client=client,
                items=[LineItem("Work", Decimal("1"), Decimal("10.00"))],
                notes="Line one\nLine two",
                terms="Pay\nnow",
            )
        )
        assert created.id is not None
        record = emulator.state.invoices[int(created.id)]
        assert record.clientnote == "Line one<br />\nLine two"
        assert record.terms == "Pay<br />\nnow"
        assert (created.notes, created.terms) == ("Line one\nLine two", "Pay\nnow")
        again = backend.update_invoice(created.copy(due_date=dt.date(2026, 10, 2)))
        again = backend.update_invoice(again.copy(due_date=dt.date(2026, 10, 3)))
    assert record.clientnote == "Line one<br />\nLine two"
    assert again.notes == "Line one\nLine two"


# ------------------------------------------------- core 3.4: line taxes and optional lines


def test_core_34_item_taxes_and_optional_lines_are_read(payload: Any) -> None:
    backend = PerfexBackend(base_url="https://crm.example.com/api", token="t")
    invoice = backend.parse_payload("invoice", payload("invoices/get_core34.json"))[0]
    assert isinstance(invoice, Invoice)
    # The unselected optional line is not in the totals, so not in the lines either.
    assert [i.name for i in invoice.items] == ["Cloud hosting", "Setup"]
    assert invoice.items[0].taxes == [TaxRate("VAT", Decimal("15.00"))]
    assert invoice.items[1].taxes == []
    assert all(i.extra["taxes_known"] for i in invoice.items)
    assert invoice.items[1].extra["optional"] is True
    assert invoice.extra["unselected_optional_items"] == ["Priority support"]
    lines = sum((i.quantity * i.unit_price for i in invoice.items), Decimal(0))
    assert lines == invoice.subtotal


def test_emulated_core_34_gives_both_shapes_and_leaves_unselected_lines_out() -> None:
    with PerfexEmulator(invoices=6, seed=7, core_version="3.4") as install:
        state = install.state
        invoice = next(i for i in state.invoices.values() if any(it.taxes for it in i.items))
        extra = state.invoices[invoice.id].items[0]
        extra.is_optional, extra.is_selected = True, False
        before = invoice.total_tax
        state.recompute_tax(invoice)
        assert invoice.total_tax <= before
        answer = requests.get(
            f"{install.base_url}/invoices/{invoice.id}",
            headers={"authtoken": install.token},
            timeout=5,
        ).json()
        taxed = next(r for r in answer["items"] if r["taxes"])
        assert "|" in taxed["taxes"][0]["taxname"]
        assert {r["is_optional"] for r in answer["items"]} >= {True}
        with backend_for(install) as backend:
            read = backend.get_invoice(str(invoice.id))
        assert extra.description in read.extra["unselected_optional_items"]
        assert all(
            i.extra["taxes_known"] and "|" not in t.name for i in read.items for t in i.taxes
        )
    with PerfexEmulator(invoices=2, seed=7) as older:
        answer = requests.get(
            f"{older.base_url}/invoices/1", headers={"authtoken": older.token}, timeout=5
        ).json()
        assert "taxes" not in answer["items"][0] and "is_optional" not in answer["items"][0]


# ------------------------------------------------- the billed party as printed


def test_invoice_client_is_the_billed_party_as_printed(payload: Any) -> None:
    backend = PerfexBackend(base_url="https://crm.example.com/api", token="t")
    invoice = backend.parse_payload("invoice", payload("invoices/get_billing_as_printed.json"))[0]
    assert isinstance(invoice, Invoice)
    address = invoice.client.address
    assert address is not None
    assert (address.line1, address.line2, address.city, address.postal_code) == (
        "Building 7",
        "King Fahd Road",
        "Riyadh",
        "12271",
    )
    assert address.country == "SA"
    assert invoice.client.extra["profile_address"]["city"] == "القاهرة"
    # The same invoice whose printed address is the profile's keeps no second copy.
    same = backend.parse_payload("invoice", payload("invoices/get.json"))[0]
    assert isinstance(same, Invoice)
    assert "profile_address" not in same.client.extra


def test_emulated_invoice_keeps_its_own_billing_address(emulator: PerfexEmulator) -> None:
    state = emulator.state
    record = next(i for i in state.invoices.values() if i.status != 6)
    record.billing = ("Branch office", "Alexandria", None, "21500", "66")
    with backend_for(emulator) as backend:
        invoice = backend.get_invoice(str(record.id))
    assert invoice.client.address is not None
    assert invoice.client.address.city == "Alexandria"
    assert invoice.client.id == str(record.clientid)


# ------------------------------------------------- every payment recorded emails a receipt


def _source_with_a_paid_invoice() -> Any:
    source = MemoryBackend()
    client = source.create_client(
        Client(
            name="Delta Trading",
            email="ap@delta.example",
            tax_number="300123456700003",
            address=Address(line1="King Fahd Road 12", city="Riyadh", country="SA"),
        )
    )
    source.create_invoice(
        Invoice.build(
            number="S-100",
            issue_date=dt.date(2026, 3, 1),
            currency="USD",
            client=client,
            items=[LineItem("Work", Decimal("1"), Decimal("80.00"))],
            payments=[
                Payment(
                    amount=Decimal("80.00"),
                    date=dt.date(2026, 3, 5),
                    method="bank",
                    currency="USD",
                )
            ],
        )
    )
    return source


def test_recorded_payments_email_receipts_and_migration_warns_or_skips(
    emulator: PerfexEmulator, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    state = emulator.state
    with backend_for(emulator) as target:
        assert "payments.email_customer" in target.features
        with caplog.at_level(logging.WARNING, logger="invoicing_bridge.migration"):
            report = migrate(
                _source_with_a_paid_invoice(),
                target,
                ledger=str(tmp_path / "one.sqlite"),
                policy={"payments": "skip"},
            )
        assert report.ok, report.failures
        assert not [r for r in caplog.records if "receipt" in r.getMessage()]
        assert state.receipts_sent == []
        skipped = [i for i in state.invoices.values() if i.total == Decimal("80.00")]
        assert skipped and all(not state.payments_by_invoice.get(i.id) for i in skipped)

    with PerfexEmulator(invoices=2, seed=3) as fresh, backend_for(fresh) as target:
        with caplog.at_level(logging.WARNING, logger="invoicing_bridge.migration"):
            report = migrate(
                _source_with_a_paid_invoice(), target, ledger=str(tmp_path / "two.sqlite")
            )
        assert report.ok, report.failures
        warned = [r for r in caplog.records if "receipt" in r.getMessage()]
        assert len(warned) == 1 and "payments=skip" in warned[0].getMessage()
        assert [email for _, email in fresh.state.receipts_sent] == ["ap@delta.example"]


# ------------------------------------------------- deletes and per-line rounding


def test_only_the_last_invoice_can_be_deleted(emulator: PerfexEmulator, payload: Any) -> None:
    assert payload("invoices/delete_not_last.json") == {
        "status": False,
        "message": "Invoice Delete Fail",
    }
    state = emulator.state
    last, earlier = max(state.invoices), min(state.invoices)
    with backend_for(emulator) as backend:
        with pytest.raises(InvalidRequest, match="Invoice Delete Fail"):
            backend.delete_invoice(str(earlier))
        assert earlier in state.invoices
        backend.delete_invoice(str(last))  # what the real server allows
    assert last not in state.invoices
    with PerfexEmulator(invoices=3, seed=7, delete_only_on_last_invoice=False) as relaxed:
        with backend_for(relaxed) as backend:
            backend.delete_invoice("1")
        assert 1 not in relaxed.state.invoices


def _rounded_lines_invoice(subtotal: str, tax: str, total: str) -> Invoice:
    line = LineItem(
        "Cable", Decimal("1.50"), Decimal("0.33"), taxes=[TaxRate("VAT", Decimal("15.00"))]
    )
    invoice = Invoice.build(
        number="7003",
        issue_date=dt.date(2026, 9, 3),
        currency="USD",
        client=Client(name="Delta Trading", id="1"),
        items=[line, line, line],
    )
    invoice.subtotal, invoice.tax_total = Decimal(subtotal), Decimal(tax)
    invoice.total = invoice.balance_due = Decimal(total)
    return invoice


def test_totals_the_perfex_ui_stores_per_rounded_line_are_accepted() -> None:
    backend = PerfexBackend(
        base_url="https://crm.example.com/api", token="t", currencies={"USD": 1}
    )
    # Three lines of 1.50 x 0.33 = 0.495: 1.49 summed unrounded, 1.50 rounded per line.
    backend.validate_invoice(_rounded_lines_invoice("1.49", "0.22", "1.71"))  # the API's way
    backend.validate_invoice(_rounded_lines_invoice("1.50", "0.23", "1.73"))  # the UI's way
    backend.validate_invoice(_rounded_lines_invoice("1.50", "0.22", "1.73"))  # as stored
    with pytest.raises(MappingError):
        backend.validate_invoice(_rounded_lines_invoice("1.50", "0.22", "1.72"))


# ------------------------------------------------- low: secrets in contact rows, 3.x 429


def test_contact_login_columns_never_reach_a_record_or_raw(payload: Any) -> None:
    backend = PerfexBackend(base_url="https://crm.example.com/api", token="t")
    rows = payload("contacts/search_with_login.json")
    assert rows[0]["password"].startswith("$2y$")
    for client in backend.parse_payload("client", rows):
        text = json.dumps(client.to_dict(include_raw=True), default=str)
        for secret in ("$2y$", "new_pass_key", "203.0.113.7", '"password"'):
            assert secret not in text


def test_parse_raw_command_shows_no_password(payload: Any, tmp_path: Any) -> None:
    from click.testing import CliRunner

    from invoicing_bridge.cli import main

    saved = tmp_path / "contacts.json"
    saved.write_text(json.dumps(payload("contacts/search_with_login.json")), encoding="utf-8")
    result = CliRunner().invoke(main, ["parse", "perfex", "client", str(saved), "--raw"])
    assert result.exit_code == 0, result.output
    assert "is_primary" in result.output  # the raw rows are printed
    assert "$2y$" not in result.output and "last_ip" not in result.output


def test_emulated_contact_rows_carry_login_columns_the_backend_drops(
    emulator: PerfexEmulator,
) -> None:
    contact = next(iter(emulator.state.contacts.values()))
    rows = requests.get(
        f"{emulator.base_url}/contacts/search/{contact['email']}",
        headers={"authtoken": emulator.token},
        timeout=5,
    ).json()
    assert str(rows[0]["password"]).startswith("$2y$")
    with backend_for(emulator) as backend:
        found = backend.find_client(email=str(contact["email"]))
    assert found is not None
    assert "$2y$" not in json.dumps(found.to_dict(include_raw=True), default=str)


def test_v3_429_waits_until_x_ratelimit_reset(payload: Any) -> None:
    import time

    import responses

    from invoicing_bridge.exceptions import RateLimited

    base = "https://crm.example.com/api"
    backend = PerfexBackend(base_url=base, token="t", max_retries=0)
    reset = int(time.time()) + 30
    with responses.RequestsMock() as recorded:
        recorded.get(
            f"{base}/customers/3",
            json=payload("errors/v3_rate_limited.json"),
            status=429,
            headers={
                "X-RateLimit-Limit": "60",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(reset),
            },
        )
        with pytest.raises(RateLimited) as caught:
            backend.get_client("3", with_contact=False)
    assert caught.value.retry_after is not None
    assert 20 < caught.value.retry_after <= 30


def test_v3_429_from_the_emulator_waits_until_its_reset_then_succeeds() -> None:
    import time

    from invoicing_bridge.exceptions import RateLimited

    with PerfexEmulator(invoices=2, seed=7, api_version=3) as install:
        client_id = str(next(iter(install.state.clients)))
        install.state.rate_limit = (2, 1.0)  # two requests a second
        waits: list[float] = []

        def sleep(seconds: float) -> None:
            waits.append(seconds)
            time.sleep(seconds)

        with backend_for(install, max_retries=3) as backend:
            backend.http._sleep = sleep
            for _ in range(4):
                assert backend.get_client(client_id, with_contact=False).id == client_id
        # Each 429 (no Retry-After) was waited out until X-RateLimit-Reset, bounded.
        assert waits and all(0 <= w <= 2 for w in waits)
        install.state.rate_limit = (1, 600.0)  # a reset ten minutes away: not waited for
        install.state.rate_window = (0.0, 0)
        with backend_for(install, max_retries=3) as backend:
            backend.http._sleep = sleep
            waits.clear()
            backend.get_client(client_id, with_contact=False)
            with pytest.raises(RateLimited) as caught:
                backend.get_client(client_id, with_contact=False)
        assert waits == []
        assert caught.value.retry_after is not None and caught.value.retry_after > 120


def test_core_34_update_keeps_optional_lines_as_they_were() -> None:
    # Core >= 3.4 saves is_optional/is_selected from the posted item, absent = not
    # optional: an update must send back what it read.
    with PerfexEmulator(invoices=30, seed=7, core_version="3.4") as install:
        state = install.state
        invoice = next(
            i for i in state.invoices.values() if len(i.items) >= 2 and not i.discount_total
        )
        first, second = invoice.items[0], invoice.items[1]
        first.is_optional, first.is_selected = True, True
        second.is_optional, second.is_selected = True, False
        # What core 3.4 stores: the unselected line out of subtotal, tax and total.
        counted = [i for i in invoice.items if i.counted]
        invoice.subtotal = sum((i.qty * i.rate for i in counted), Decimal(0))
        state.recompute_tax(invoice)
        invoice.total = invoice.subtotal + invoice.total_tax + invoice.adjustment
        with backend_for(install) as backend:
            read = backend.get_invoice(str(invoice.id))
            assert read.items[0].extra["optional"] is True
            read.notes = "Updated by the bridge"
            backend.update_invoice(read)
        after = state.invoices[invoice.id]
        flags = {item.id: (item.is_optional, item.is_selected) for item in after.items}
        assert flags[first.id] == (True, True)
        assert flags[second.id] == (True, False)  # not a line of the neutral invoice: untouched
