"""The Perfex emulator over real HTTP: the module's quirks, 3.x extras, seeded data,
faults and counters, and the ``emulate perfex`` command."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from invoicing_bridge_perfex.backend import PerfexBackend
from invoicing_bridge_perfex.emulator import PerfexEmulator, cli, make_token
from invoicing_bridge_perfex.phpforms import php_unserialize

from invoicing_bridge import get_backend
from invoicing_bridge.exceptions import (
    AuthenticationError,
    InvalidRequest,
    PermissionDenied,
    ServerError,
    TransportError,
)
from invoicing_bridge.models import Address, Client, Invoice, InvoiceStatus, LineItem, Payment
from invoicing_bridge.testing.emulator import EmulatorServer


def session(emulator: PerfexEmulator, **headers: str) -> requests.Session:
    s = requests.Session()
    s.headers.update(headers or {"authtoken": emulator.token})
    return s


def backend_for(emulator: PerfexEmulator, **options: Any) -> PerfexBackend:
    profile = emulator.profile()
    profile.pop("backend")
    profile.update(options)
    backend = get_backend("perfex", **profile)
    assert isinstance(backend, PerfexBackend)
    return backend


FORM = [
    ("clientid", "1"),
    ("number", "000901"),
    ("date", "2026-09-01"),
    ("duedate", "2026-10-01"),
    ("currency", "4"),
    ("newitems[0][description]", "Cloud hosting"),
    ("newitems[0][long_description]", "Line one\nLine two"),
    ("newitems[0][qty]", "2"),
    ("newitems[0][rate]", "225.00"),
    ("newitems[0][unit]", "month"),
    ("newitems[0][order]", "1"),
    ("newitems[0][taxname][]", "VAT|15.00"),
    ("newitems[1][description]", "Setup"),
    ("newitems[1][qty]", "1"),
    ("newitems[1][rate]", "100"),
    ("newitems[1][order]", "2"),
    ("allowed_payment_modes[]", "1"),
    ("allowed_payment_modes[]", "2"),
    ("billing_street", "Al Tahlia St. 44"),
    ("subtotal", "550.00"),
    ("total", "617.50"),
]


# --------------------------------------------------------------------------- auth


def test_missing_token_answers_404_token_is_not_defined(emulator: PerfexEmulator) -> None:
    answer = requests.get(f"{emulator.base_url}/invoices", timeout=5)
    assert answer.status_code == 404
    assert answer.json() == {"status": False, "message": "Token is not defined."}


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("not-a-jwt", "Wrong number of segments"),
        ("eyJhIjoxfQ.eyJiIjoyfQ.c2lnbmF0dXJl", "Signature verification failed"),
    ],
)
def test_bad_token_answers_404_with_the_jwt_message(
    emulator: PerfexEmulator, token: str, message: str
) -> None:
    answer = session(emulator, authtoken=token).get(f"{emulator.base_url}/invoices", timeout=5)
    assert answer.status_code == 404
    assert answer.json() == {"status": False, "message": message}


def test_signed_token_not_registered_answers_a_null_message(emulator: PerfexEmulator) -> None:
    other = make_token(emulator.state.jwt_key, user="someone-else")
    answer = session(emulator, authtoken=other).get(f"{emulator.base_url}/invoices", timeout=5)
    assert answer.status_code == 404 and answer.json() == {"status": False, "message": None}


def test_bearer_token_is_refused_by_2x_and_accepted_by_3x(
    emulator: PerfexEmulator, emulator_v3: PerfexEmulator
) -> None:
    v2 = session(emulator, Authorization=f"Bearer {emulator.token}")
    assert v2.get(f"{emulator.base_url}/customers", timeout=5).status_code == 404
    v3 = session(emulator_v3, Authorization=f"Bearer {emulator_v3.token}")
    assert v3.get(f"{emulator_v3.base_url}/customers", timeout=5).status_code == 200
    by_query = requests.get(
        f"{emulator_v3.base_url}/customers", params={"authtoken": emulator_v3.token}, timeout=5
    )
    assert by_query.status_code == 200


def test_the_token_is_random_unless_given() -> None:
    first, second = PerfexEmulator(invoices=0), PerfexEmulator(invoices=0)
    chosen = PerfexEmulator(invoices=0, token="my-token")
    try:
        assert first.token != second.token and first.token.count(".") == 2
        assert chosen.token == "my-token"
    finally:
        for emulator in (first, second, chosen):
            emulator.stop()


def test_denied_permission_answers_403(emulator: PerfexEmulator) -> None:
    emulator.state.denied.add("invoices:delete")
    answer = session(emulator).delete(f"{emulator.base_url}/invoices/1", timeout=5)
    assert answer.status_code == 403
    assert answer.json()["message"].startswith("Your API token does not have the necessay")
    with backend_for(emulator) as backend, pytest.raises(PermissionDenied):
        backend.delete_invoice("1")


# --------------------------------------------------------------------------- routes and shapes


def test_empty_install_answers_no_data_and_has_currencies_and_taxes() -> None:
    with PerfexEmulator(invoices=0) as emulator:
        http = session(emulator)
        for path in ("invoices", "customers", "payments", "invoices/1"):
            answer = http.get(f"{emulator.base_url}/{path}", timeout=5)
            assert answer.status_code == 404, path
            flag = "paymentmode" if path == "payments" else "status"
            assert answer.json() == {flag: False, "message": "No data were found"}
        taxes = http.get(f"{emulator.base_url}/common/tax_data", timeout=5).json()
        assert {t["taxrate"] for t in taxes} == {"14.00", "15.00"}
        assert set(emulator.profile()["currencies"]) == {"USD", "EUR", "EGP", "SAR"}


def test_unknown_routes_and_methods(emulator: PerfexEmulator) -> None:
    http = session(emulator)
    missing = http.get(f"{emulator.base_url}/estimates_v9", timeout=5)
    assert missing.status_code == 404 and "text/html" in missing.headers["Content-Type"]
    patch = http.patch(f"{emulator.base_url}/invoices/1", data={"x": "1"}, timeout=5)
    assert patch.status_code == 405
    assert patch.json() == {"status": False, "error": "Unknown method"}
    common = http.get(f"{emulator.base_url}/common/currencies", timeout=5)
    assert common.status_code == 404 and common.json()["message"] == "Not valid data"


def test_every_value_is_a_string_and_lists_are_bare_arrays_in_2x(emulator: PerfexEmulator) -> None:
    http = session(emulator)
    rows = http.get(f"{emulator.base_url}/invoices", timeout=5).json()
    assert isinstance(rows, list) and len(rows) == 12
    assert [r["id"] for r in rows] == sorted((r["id"] for r in rows), key=int)
    detail = http.get(f"{emulator.base_url}/invoices/{rows[0]['id']}", timeout=5).json()
    scalars = [v for v in detail.values() if not isinstance(v, list | dict)]
    assert all(v is None or isinstance(v, str | bool) for v in scalars)
    assert {"items", "client", "payments", "total_left_to_pay"} <= set(detail)
    assert not any("taxname" in item or "taxes" in item for item in detail["items"])
    for payment in detail["payments"]:
        assert payment["id"] == payment["paymentmode"]  # the joined mode overwrote it
        assert payment["paymentid"]


def test_form_post_with_php_brackets_is_stored_without_returning_an_id(
    emulator: PerfexEmulator,
) -> None:
    http = session(emulator)
    answer = http.post(f"{emulator.base_url}/invoices", data=FORM, timeout=5)
    assert answer.status_code == 200
    assert answer.json() == {"status": True, "message": "Invoice Added Successfully"}
    stored = max(emulator.state.invoices.values(), key=lambda i: i.id)
    assert stored.number == 901 and stored.currency == 4
    assert [i.description for i in stored.items] == ["Cloud hosting", "Setup"]
    assert stored.items[0].taxes == [("VAT", Decimal("15.00"))]
    assert stored.items[0].long_description == "Line one<br />\nLine two"
    assert stored.total_tax == Decimal("67.50")  # recomputed: 450.00 x 15%
    assert stored.total == Decimal("617.50")  # stored as sent
    assert php_unserialize(stored.allowed_payment_modes) == {"0": "1", "1": "2"}
    detail = http.get(f"{emulator.base_url}/invoices/{stored.id}", timeout=5).json()
    assert detail["items"][1]["rate"] == "100.00" and detail["items"][1]["qty"] == "1.00"


def test_json_post_is_ignored_by_2x_and_fails_validation(emulator: PerfexEmulator) -> None:
    answer = session(emulator).post(f"{emulator.base_url}/invoices", json=dict(FORM), timeout=5)
    assert answer.status_code == 404
    body = answer.json()
    assert body["status"] is False
    assert {"clientid", "number", "newitems[]", "allowed_payment_modes[]"} <= set(body["error"])
    assert body["message"].startswith("<p>")


def test_decimal_rule_refuses_totals_without_a_decimal_point(emulator: PerfexEmulator) -> None:
    form = [(k, "617" if k == "total" else v) for k, v in FORM]
    answer = session(emulator).post(f"{emulator.base_url}/invoices", data=form, timeout=5)
    assert answer.status_code == 404
    assert answer.json()["error"] == {"total": "The Total field must contain a decimal number."}


def test_number_reused_in_the_same_year_is_refused(emulator: PerfexEmulator) -> None:
    http = session(emulator)
    assert http.post(f"{emulator.base_url}/invoices", data=FORM, timeout=5).status_code == 200
    again = http.post(f"{emulator.base_url}/invoices", data=FORM, timeout=5)
    assert again.status_code == 404
    assert again.json()["error"] == {"number": "The Invoice number is already in use"}
    next_year = [(k, "2027-01-05" if k == "date" else v) for k, v in FORM]
    assert http.post(f"{emulator.base_url}/invoices", data=next_year, timeout=5).status_code == 200


def test_put_reads_raw_json_only_in_2x(emulator: PerfexEmulator) -> None:
    http = session(emulator)
    form_put = http.put(f"{emulator.base_url}/customers/1", data={"company": "X"}, timeout=5)
    assert form_put.status_code == 406
    assert form_put.json() == {"status": False, "message": "Data Not Acceptable OR Not Provided"}
    company = emulator.state.clients[1]["company"]
    same = http.put(f"{emulator.base_url}/customers/1", json={"company": company}, timeout=5)
    assert same.status_code == 404 and same.json()["message"] == "Customers Update Fail."
    changed = http.put(f"{emulator.base_url}/customers/1", json={"city": "Tanta"}, timeout=5)
    assert changed.json() == {"status": True, "message": "Customers Update Successful."}


def test_search_strips_leading_zeros_and_the_prefix(emulator: PerfexEmulator) -> None:
    http = session(emulator)
    target = next(i for i in emulator.state.invoices.values() if i.number == 3)
    for term in ("3", "000003", "INV-000003"):
        rows = http.get(f"{emulator.base_url}/invoices/search/{term}", timeout=5).json()
        assert str(target.id) in [r["invoiceid"] for r in rows], term
        row = next(r for r in rows if r["invoiceid"] == str(target.id))
        assert row["userid"] == str(target.clientid) and "currency_name" not in row


def test_payment_answer_uses_the_paymentmode_flag_and_updates_the_invoice(
    emulator: PerfexEmulator,
) -> None:
    invoice = next(
        i
        for i in emulator.state.invoices.values()
        if i.status in (1, 4) and not emulator.state.payments_by_invoice.get(i.id)
    )
    answer = session(emulator).post(
        f"{emulator.base_url}/payments",
        data={"invoiceid": str(invoice.id), "amount": "1.00", "paymentmode": "2"},
        timeout=5,
    )
    assert answer.json() == {"paymentmode": True, "message": "Payment add successful."}
    assert invoice.status == 3
    payment = emulator.state.payments[max(emulator.state.payments)]
    assert payment.date == dt.date.today().isoformat()  # the controller forces now()


def test_2_0_8_answers_an_empty_body_and_the_backend_confirms_by_read_back() -> None:
    with PerfexEmulator(invoices=6, seed=2, empty_payment_answer=True) as emulator:
        invoice = next(i for i in emulator.state.invoices.values() if i.status in (1, 4))
        raw = session(emulator).post(
            f"{emulator.base_url}/payments",
            data={"invoiceid": str(invoice.id), "amount": "1.00", "paymentmode": "1"},
            timeout=5,
        )
        assert raw.status_code == 200 and raw.content == b""
        with backend_for(emulator) as backend:
            paid = backend.record_payment(
                Payment(
                    invoice_id=str(invoice.id),
                    amount=Decimal("2.00"),
                    date=dt.date(2026, 1, 1),
                    method="cheque",
                )
            )
        stored = emulator.state.payments[int(str(paid.id))]
        assert stored.amount == Decimal("2.00") and stored.paymentmode == "3"
        assert paid.extra["requested_date"] == "2026-01-01"


# --------------------------------------------------------------------------- 3.x


def test_v3_answers_record_id_and_replays_an_idempotency_key(emulator_v3: PerfexEmulator) -> None:
    http = session(emulator_v3)
    before = len(emulator_v3.state.invoices)
    headers = {"Idempotency-Key": "key-1"}
    first = http.post(f"{emulator_v3.base_url}/invoices", data=FORM, headers=headers, timeout=5)
    again = http.post(f"{emulator_v3.base_url}/invoices", data=FORM, headers=headers, timeout=5)
    assert first.json()["record_id"] == again.json()["record_id"]
    assert again.headers["Idempotency-Replayed"] == "true"
    assert len(emulator_v3.state.invoices) == before + 1


def test_v3_pages_only_when_asked(emulator_v3: PerfexEmulator) -> None:
    http = session(emulator_v3)
    bare = http.get(f"{emulator_v3.base_url}/invoices", timeout=5).json()
    assert isinstance(bare, list) and len(bare) == 12
    page = http.get(
        f"{emulator_v3.base_url}/invoices", params={"page": 3, "per_page": 5}, timeout=5
    ).json()
    assert [r["id"] for r in page["data"]] == [r["id"] for r in bare[10:12]]
    assert page["meta"] == {
        "page": 3,
        "per_page": 5,
        "total": 12,
        "total_pages": 3,
        "has_more": False,
        "current_page": 3,
        "last_page": 3,
    }
    capped = http.get(f"{emulator_v3.base_url}/invoices", params={"per_page": 500}, timeout=5)
    assert capped.json()["meta"]["per_page"] == 100
    empty_search = http.get(f"{emulator_v3.base_url}/invoices/search", timeout=5)
    assert empty_search.status_code == 400


def test_v3_accepts_form_puts_and_json_posts(emulator_v3: PerfexEmulator) -> None:
    http = session(emulator_v3)
    put = http.put(f"{emulator_v3.base_url}/customers/1", data={"city": "Dammam"}, timeout=5)
    assert put.status_code == 200
    post = http.post(f"{emulator_v3.base_url}/customers", json={"company": "JSON Co"}, timeout=5)
    assert post.json()["record_id"] == max(emulator_v3.state.clients)


def test_large_install_serves_v3_pages_without_rendering_everything() -> None:
    with PerfexEmulator(invoices=3000, seed=5, api_version=3) as emulator:
        http = session(emulator)
        page = http.get(
            f"{emulator.base_url}/invoices", params={"page": 30, "per_page": 100}, timeout=5
        ).json()
        assert page["meta"]["total"] == 3000 and page["meta"]["has_more"] is False
        assert page["data"][-1]["id"] == "3000"
        with backend_for(emulator, list_details=False) as backend:
            count = sum(1 for _ in backend.iter_invoices())
        assert count == 3000
        assert emulator.stats.snapshot()["by_route"]["GET /api/invoices"] == 31


# --------------------------------------------------------------------------- seeded data


def _listing(emulator: PerfexEmulator) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = session(emulator).get(f"{emulator.base_url}/invoices").json()
    return rows


def test_same_seed_same_data_other_seed_other_data() -> None:
    with (
        PerfexEmulator(invoices=20, seed=11) as one,
        PerfexEmulator(invoices=20, seed=11) as two,
        PerfexEmulator(invoices=20, seed=12) as three,
    ):
        first, second, third = _listing(one), _listing(two), _listing(three)
    assert first == second
    assert first != third


def test_seeded_data_is_realistic(emulator: PerfexEmulator) -> None:
    with PerfexEmulator(invoices=120, seed=1) as big, backend_for(big) as backend:
        invoices = list(backend.iter_invoices())
        clients = list(backend.iter_clients())
    statuses = {i.status for i in invoices}
    assert {InvoiceStatus.PAID, InvoiceStatus.PARTIALLY_PAID, InvoiceStatus.OPEN} <= statuses
    assert {InvoiceStatus.VOID, InvoiceStatus.DRAFT} & statuses
    assert {"EGP", "SAR", "USD"} <= {i.currency for i in invoices}
    assert any(any("\u0600" <= ch <= "\u06ff" for ch in c.name) for c in clients)
    assert any(c.name.isascii() for c in clients)
    assert all(c.email for c in clients)
    partly = [i for i in invoices if i.status is InvoiceStatus.PARTIALLY_PAID]
    assert all(0 < i.amount_paid < i.total for i in partly)
    assert all(i.check() == [] for i in invoices), [i.check() for i in invoices if i.check()]
    assert any(i.extra.get("perfex_status") == "4" for i in invoices)


# --------------------------------------------------------------------------- faults and counters


def test_keep_alive_counts_requests_and_connections(emulator: PerfexEmulator) -> None:
    emulator.stats.reset()
    http = session(emulator)
    for _ in range(5):
        http.get(f"{emulator.base_url}/common/payment_mode", timeout=5)
    snapshot = emulator.stats.snapshot()
    assert snapshot["requests"] == 5
    assert snapshot["connections"] == 1
    assert snapshot["by_route"]["GET /api/common/payment_mode"] == 5


def test_scheduled_503_is_retried_by_the_backend_for_reads(emulator: PerfexEmulator) -> None:
    with backend_for(emulator, backoff_base=0) as backend:
        emulator.faults.scheduled.extend(["503", "drop"])
        assert backend.get_client("1").id == "1"
    assert emulator.stats.faults == 2


def test_html_fault_on_a_create_is_not_retried_blindly(emulator: PerfexEmulator) -> None:
    before = len(emulator.state.invoices)
    with backend_for(emulator, backoff_base=0) as backend:
        client = backend.get_client("1")
        invoice = Invoice.build(
            number="555",
            issue_date=dt.date(2026, 9, 1),
            currency="EGP",
            client=client,
            items=[LineItem("Work", Decimal("1"), Decimal("100.00"))],
        )
        backend.create_invoice(invoice.copy(number="554"))  # taxes and modes now known
        emulator.faults.scheduled.append("html")  # for the next request: the POST
        with pytest.raises(ServerError):
            backend.create_invoice(invoice)
    # The fault answered before the app: nothing stored, nothing sent twice.
    assert len(emulator.state.invoices) == before + 1
    assert emulator.stats.snapshot()["by_route"]["POST /api/invoices"] == 2


def drop_after_next_post(emulator: PerfexEmulator, backend: PerfexBackend) -> list[str]:
    """Have the server store the backend's next POST and then drop the connection (the
    reads before it, of taxes, modes or the invoice, are answered). Returns what was
    dropped."""
    dropped: list[str] = []
    original = backend.http.request

    def request(method: str, path: str, **kw: Any) -> Any:
        if not dropped and method.upper() == "POST":
            dropped.append(f"{method} {path}")
            emulator.faults.scheduled.append("drop_after")
        return original(method, path, **kw)

    backend.http.request = request  # type: ignore[method-assign]
    return dropped


def test_create_whose_answer_is_lost_after_saving_may_have_landed_and_is_found(
    emulator: PerfexEmulator,
) -> None:
    before = len(emulator.state.invoices)
    with backend_for(emulator, backoff_base=0) as backend:
        client = backend.get_client("2")
        invoice = Invoice.build(
            number="000777",
            issue_date=dt.date(2026, 9, 1),
            currency="EGP",
            client=client,
            items=[LineItem("Work", Decimal("3"), Decimal("100.00"))],
        )
        dropped = drop_after_next_post(emulator, backend)
        # The backend does not recover a lost answer (the migration job does, from its
        # ledger): it says the create may have landed, and the job's lookup finds it.
        with pytest.raises(TransportError) as caught:
            backend.create_invoice(invoice)
        assert caught.value.may_have_landed and dropped == ["POST invoices"]
        created = backend.find_invoice(invoice.number)
    assert created is not None and created.number == "INV-000777"
    assert len(emulator.state.invoices) == before + 1


def test_payment_whose_answer_is_lost_after_saving_is_stored_once_not_resent(
    emulator: PerfexEmulator,
) -> None:
    invoice = next(i for i in emulator.state.invoices.values() if i.status in (1, 4))
    count = len(emulator.state.payments)
    with backend_for(emulator, backoff_base=0) as backend:
        backend.get_invoice(str(invoice.id))
        dropped = drop_after_next_post(emulator, backend)
        with pytest.raises(TransportError) as caught:
            backend.record_payment(
                Payment(
                    invoice_id=str(invoice.id),
                    amount=Decimal("5.00"),
                    date=dt.date.today(),
                    method="bank_transfer",
                )
            )
        assert caught.value.may_have_landed  # the migration job looks it up
        assert dropped == ["POST payments"]
        paid = backend.get_invoice(str(invoice.id)).payments
    assert len(emulator.state.payments) == count + 1  # stored once, not re-sent
    assert str(max(emulator.state.payments)) in {p.id for p in paid}


def test_fault_rate_and_latency_knobs_reach_the_server() -> None:
    with PerfexEmulator(invoices=0, latency_ms=5, fault_rate=1.0, fault_kinds=["502"]) as emu:
        answer = session(emu).get(f"{emu.base_url}/common/tax_data", timeout=5)
        assert answer.status_code == 502
        assert emu.faults.latency_ms == 5 and emu.stats.faults == 1
    assert isinstance(emu.server, EmulatorServer)


# --------------------------------------------------------------------------- backend flows


def test_client_round_trip_keeps_email_on_the_primary_contact(emulator: PerfexEmulator) -> None:
    with backend_for(emulator) as backend:
        created = backend.create_client(
            Client(
                name="مؤسسة الرياض للتجارة",
                email="info@riyadh-trading.example",
                tax_number="300000000000003",
                address=Address(line1="طريق الملك فهد", city="الرياض", country="SA"),
                currency="SAR",
            )
        )
        assert created.id and created.email == "info@riyadh-trading.example"
        assert created.currency == "SAR" and created.address is not None
        assert created.address.country == "SA"
        found = backend.find_client(email="INFO@riyadh-trading.example")
        assert found is not None and found.id == created.id
        contact = next(c for c in emulator.state.contacts.values() if c["userid"] == created.id)
        assert contact["is_primary"] == "1"
        assert emulator.state.contact_passwords[int(str(contact["id"]))] == "set"


def test_invoice_without_a_billing_street_takes_the_customers(emulator: PerfexEmulator) -> None:
    with backend_for(emulator) as backend:
        client = backend.get_client("3")
        bare = Client(id=client.id, name=client.name)  # no address given
        created = backend.create_invoice(
            Invoice.build(
                number="4400",
                issue_date=dt.date(2026, 9, 10),
                currency="USD",
                client=bare,
                items=[LineItem("Work", Decimal("1"), Decimal("10.00"))],
            )
        )
    assert created.id is not None
    stored = emulator.state.invoices[int(created.id)]
    assert stored.billing[0] == emulator.state.clients[3]["billing_street"]


# --------------------------------------------------------------------------- the command


def test_emulate_command_prints_a_ready_to_paste_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    def stop_at_once(self: EmulatorServer) -> None:
        self._server.server_close()
        raise KeyboardInterrupt

    monkeypatch.setattr(EmulatorServer, "serve_forever", stop_at_once)
    result = CliRunner().invoke(
        cli,
        ["--invoices", "0", "--token", "T0K", "--api-version", "3", "--seed", "4", "--port", "0"],
    )
    assert result.exit_code == 0, result.output
    assert "[profiles.perfex-emulator]" in result.output
    lines = dict(line.split(" = ", 1) for line in result.output.splitlines() if " = " in line)
    assert json.loads(lines["backend"]) == "perfex"
    assert json.loads(lines["token"]) == "T0K"
    assert json.loads(lines["api_version"]) == "3"
    assert json.loads(lines["base_url"]).endswith("/api")
    assert lines["currencies"].startswith("{ ") and '"SAR" = "4"' in lines["currencies"]
    assert lines["payment_modes"] == '["1", "2", "3", "4"]'


def test_emulate_is_mounted_in_the_core_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from invoicing_bridge.cli import main

    monkeypatch.setattr(EmulatorServer, "serve_forever", lambda self: self._server.server_close())
    result = CliRunner().invoke(main, ["emulate", "perfex", "--invoices", "0", "--token", "abc"])
    assert result.exit_code == 0, result.output
    assert 'token = "abc"' in result.output and 'api_version = "2"' in result.output


@pytest.fixture
def saved_payloads(tmp_path: Any, payload: Any) -> Iterator[dict[str, Any]]:
    files = {}
    for name in ("invoices/get.json", "invoices/list.json", "invoices/search.json"):
        path = tmp_path / name.replace("/", "_")
        path.write_text(json.dumps(payload(name), ensure_ascii=False), encoding="utf-8")
        files[name] = path
    yield files


def test_parse_command_maps_a_get_a_list_and_a_search_answer(
    saved_payloads: dict[str, Any],
) -> None:
    from invoicing_bridge.cli import main

    runner = CliRunner()
    single = runner.invoke(
        main, ["parse", "perfex", "invoice", str(saved_payloads["invoices/get.json"])]
    )
    assert single.exit_code == 0, single.output
    data = json.loads(single.output)
    assert data["number"] == "INV-000017" and data["amount_paid"] == "12000.00"
    listed = runner.invoke(
        main, ["parse", "perfex", "invoice", str(saved_payloads["invoices/list.json"])]
    )
    assert [r["status"] for r in json.loads(listed.output)] == ["paid", "void", "partially_paid"]
    searched = runner.invoke(
        main,
        [
            "parse",
            "perfex",
            "invoice",
            str(saved_payloads["invoices/search.json"]),
            "-o",
            'currencies={"EGP": 3}',
            "-o",
            "number_padding=4",
        ],
    )
    assert searched.exit_code == 0, searched.output
    rows = json.loads(searched.output)
    assert [r["number"] for r in rows] == ["INV-0017", "INV-0017"]
    assert rows[0]["currency"] == "EGP" and rows[0]["client"]["tax_number"] == "412-118-390"


def test_authentication_error_through_the_backend(emulator: PerfexEmulator) -> None:
    with backend_for(emulator, token="wrong") as backend, pytest.raises(AuthenticationError):
        backend.check_connection()


def test_validation_errors_reach_the_caller_with_field_errors(emulator: PerfexEmulator) -> None:
    with backend_for(emulator) as backend:
        client = backend.get_client("1")
        first = Invoice.build(
            number="8123",
            issue_date=dt.date(2026, 2, 1),
            currency="EGP",
            client=client,
            items=[LineItem("Work", Decimal("1"), Decimal("10.00"))],
        )
        backend.create_invoice(first)
        with pytest.raises(InvalidRequest) as caught:
            # The same number in the same year: refused, and not found as "ours" either.
            backend.http.post(
                "invoices",
                data=[(k, "8123" if k == "number" else v) for k, v in FORM],
            )
    assert caught.value.field_errors == {"number": "The Invoice number is already in use"}


def test_search_with_an_arabic_term_reaches_the_route_and_finds_the_customer(
    emulator: PerfexEmulator,
) -> None:
    # The path arrives as WSGI latin-1 text; the router matches werkzeug's decoded path.
    arabic = next(
        c["company"] for c in emulator.state.clients.values() if not c["company"].isascii()
    )
    with backend_for(emulator) as backend:
        found = backend.find_client(name=arabic)
    assert found is not None and found.name == arabic
    assert any(
        route.startswith("GET /api/customers/search/")
        for route in emulator.stats.snapshot()["by_route"]
    )


@pytest.mark.parametrize("version", [2, 3])
def test_two_drafts_of_one_year_with_the_placeholder_number_are_both_saved(
    version: int,
) -> None:
    """Every Perfex draft is numbered 1000000000 and the module's number check counts
    drafts too: a draft read from Perfex (its number the placeholder) is created under a
    number no invoice holds, so the second draft of a year is not refused."""
    with (
        PerfexEmulator(invoices=40, seed=5, api_version=version) as source_emulator,
        backend_for(source_emulator) as source,
    ):
        drafts = [
            source.get_invoice(str(i.id)) for i in source.iter_invoices(status=InvoiceStatus.DRAFT)
        ]
    assert drafts and all(d.number == "INV-DRAFT" for d in drafts)
    with (
        PerfexEmulator(invoices=0, seed=5, api_version=version) as target_emulator,
        backend_for(target_emulator) as target,
    ):
        client = target.create_client(
            Client(
                name="Nile Trading",
                email="ap@nile.test",
                address=Address(line1="12 Corniche St", city="Cairo", country="EG"),
            )
        )
        made = []
        for day in (3, 17):
            draft = drafts[0].copy(id=None, payments=[])
            draft.client = client
            draft.issue_date = dt.date(2026, 5, day)
            draft.due_date = None
            made.append(target.create_invoice(draft))
        stored = [target.get_invoice(str(m.id)) for m in made]
    assert len({m.id for m in made}) == 2
    assert all(s.status is InvoiceStatus.DRAFT and s.number == "INV-DRAFT" for s in stored)
