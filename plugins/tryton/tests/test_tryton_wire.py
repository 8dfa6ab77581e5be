"""The plugin without a server: Tryton's wire types, its error answers and the mapping of
a captured invoice row (``fixtures/``)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from invoicing_bridge_tryton.backend import TrytonBackend
from invoicing_bridge_tryton.connection import from_wire, to_wire
from invoicing_bridge_tryton.errors import parse_error, warning_name

from invoicing_bridge.exceptions import ConfigurationError
from invoicing_bridge.models import Address, InvoiceStatus, TaxRate

FIXTURES = Path(__file__).parent / "fixtures"
D = Decimal


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"), parse_float=Decimal)


def test_decimals_and_dates_cross_the_wire_as_tryton_objects_and_back() -> None:
    value = {
        "amount": D("1500.10"),
        "when": dt.date(2026, 9, 25),
        "at": dt.datetime(2026, 9, 25, 13, 5, 1, 7),
        "rows": [D("1E+2")],
    }
    wire = to_wire(value)
    assert wire["amount"] == {"__class__": "Decimal", "decimal": "1500.10"}
    assert wire["when"] == {"__class__": "date", "year": 2026, "month": 9, "day": 25}
    assert wire["rows"] == [{"__class__": "Decimal", "decimal": "100"}]
    assert from_wire(json.loads(json.dumps(wire))) == {**value, "rows": [D("100")]}


def test_user_error_naming_a_field_is_invalid_request_with_that_field() -> None:
    info = parse_error(200, load("errors/user_error_required.json"), "")
    assert info is not None
    assert info.category == "invalid"
    assert list(info.field_errors) == ["Account"]


def test_user_error_for_a_missing_record_is_not_found() -> None:
    info = parse_error(200, load("errors/user_error_missing_record.json"), "")
    assert info is not None and info.category == "not_found"


def test_user_warning_is_invalid_request_and_its_name_is_read() -> None:
    payload = load("errors/user_warning_payment_date.json")
    info = parse_error(200, payload, "")
    assert info is not None and info.category == "invalid"
    assert "payment date" in (info.message or "")
    assert warning_name(payload) == "9601eb2379ee3701cec28ab388a5f3c1.invoice_payment_term"
    assert warning_name(load("errors/user_error_required.json")) is None


def test_other_exception_is_server_error() -> None:
    info = parse_error(200, load("errors/server_exception.json"), "")
    assert info is not None and info.category == "server"


def test_a_result_is_no_error() -> None:
    assert parse_error(200, {"id": 1, "result": [1]}, "") is None


def test_paid_invoice_row_maps_lines_markers_and_payments() -> None:
    backend = TrytonBackend.for_parsing()
    (invoice,) = backend.parse_payload("invoice", load("invoices/search_read_paid.json"))
    assert invoice.id == "12"
    assert invoice.number == "INV-000042"
    assert invoice.extra["tryton_number"] == "202609-3"
    assert invoice.status is InvoiceStatus.PAID
    assert invoice.currency == "EGP"
    assert invoice.due_date == dt.date(2026, 10, 25)
    assert [i.name for i in invoice.items] == ["Consulting", "Travel"]
    consulting, travel = invoice.items
    assert consulting.description == "Two days on site"
    assert consulting.quantity == D("2")
    assert consulting.taxes == [TaxRate("VAT", D("15"))]
    assert consulting.tax_amount == D("450.00")
    assert (travel.unit_price, travel.discount, travel.net) == (
        D("250.50"),
        D("25.00"),
        D("225.50"),
    )
    assert (invoice.subtotal, invoice.discount_total, invoice.adjustment) == (
        D("3225.50"),
        D("50.00"),
        D("50.00"),
    )
    # Payments in the invoice's currency, not the company's.
    assert [p.amount for p in invoice.payments] == [D("1000.00"), D("2675.50")]
    assert [p.method for p in invoice.payments] == ["cash", "bank"]
    assert invoice.payments[0].extra == {"method_name": "Cash"}
    assert invoice.payments[0].reference == "TX-1"
    assert invoice.amount_paid == D("3675.50") and invoice.balance_due == 0
    assert invoice.check() == []
    client = invoice.client
    assert (client.id, client.tax_number, client.email) == ("4", "300000001", "a@example.com")
    assert client.address == Address(
        line1="1 Tahrir Square", line2="Floor 2", city="Cairo", postal_code="11511", country="EG"
    )


def test_missing_options_are_refused_naming_the_option() -> None:
    with pytest.raises(ConfigurationError) as caught:
        TrytonBackend(base_url="http://127.0.0.1:1", database="db", login="admin")
    assert caught.value.option == "password"


def test_repr_and_label_hide_the_password() -> None:
    backend = TrytonBackend(
        base_url="http://127.0.0.1:1", database="db", login="admin", password="s3cret-pw"
    )
    assert "s3cret-pw" not in repr(backend)
    assert backend.label == "tryton:http://127.0.0.1:1/db"


def test_tryton_tax_total_rounds_the_documents_tax_as_the_server_does() -> None:
    from invoicing_bridge_tryton.schemas.write import WriteContext, tryton_tax_total

    context = WriteContext(taxes={1: ("VAT", D("14")), 2: ("Stamp duty", D("0.4"))})

    def line(quantity: str, price: str, *taxes: int) -> dict[str, Any]:
        return {"quantity": D(quantity), "unit_price": D(price), "taxes": [["add", list(taxes)]]}

    lines = [line("3", "89.75", 1, 2), line("4", "2750", 1), line("1", "35000")]
    # What trytond 8.2 stored for these lines: VAT 1577.695 and stamp duty 1.077 round to
    # 1577.70 + 1.08, one cent more than the rounded sum 1578.772: a cent is taken back.
    assert tryton_tax_total(lines, context) == D("1578.77")
    # Rounded per line (the company's choice), 3 x 0.3332 is 0.99; per document 1.00.
    small = [line("1", "2.38", 1)] * 3
    assert tryton_tax_total(small, context) == D("1.00")
    per_line = WriteContext(taxes=context.taxes, tax_rounding="line")
    assert tryton_tax_total(small, per_line) == D("0.99")
    # A negative line is a tax line of its own, rounded apart.
    # (together 1.4028 would be 1.40; apart 1.4056 and -0.0028 are 1.41 and 0.00)
    assert tryton_tax_total([line("1", "10.04", 1), line("1", "-0.02", 1)], context) == D("1.41")


def test_an_application_key_or_login_and_password_not_both_not_neither() -> None:
    base = {"base_url": "http://127.0.0.1:1", "database": "db"}
    keyed = TrytonBackend(**base, application_key="k" * 20)
    assert "k" * 20 not in repr(keyed)
    with pytest.raises(ConfigurationError) as caught:
        TrytonBackend(**base, application_key="k", login="admin", password="pw")
    assert caught.value.option == "application_key"
    with pytest.raises(ConfigurationError) as caught:
        TrytonBackend(**base)
    assert caught.value.option == "login"


def test_rest_user_error_body_is_invalid_request_naming_the_field() -> None:
    body = {"status": 400, "message": 'A value is required for field "Account".', "description": ""}
    info = parse_error(400, body, "")
    assert info is not None and info.category == "invalid"
    assert list(info.field_errors) == ["Account"]


def test_warning_key_is_trytons_format_for_one_record() -> None:
    from invoicing_bridge_tryton.connection import warning_key

    # md5("account.invoice,12"), as res.user.warning.format builds it.
    assert warning_key("invoice_payment_term", "account.invoice", 12) == (
        "38ea6cfdfd1c6a6d17de65220cd6ee93.invoice_payment_term"
    )


def test_a_tax_tryton_computes_otherwise_is_refused_with_the_figure_a_plan_reads() -> None:
    """The migration's plan takes the target's tax from the refusal's structured
    ``Expected`` (never from its text): without it, ``demo --target tryton`` failed the
    realistic seed's invoice 20 (1578.78 stated, 1578.77 computed) instead of
    transforming it."""
    from invoicing_bridge_tryton import backend as tryton_backend
    from invoicing_bridge_tryton.schemas.write import WriteContext

    from invoicing_bridge.exceptions import InvalidRequest
    from invoicing_bridge.migration.plan import _tax_figure
    from invoicing_bridge.models import Client, Invoice, LineItem

    vat, stamp = TaxRate("VAT", D("14")), TaxRate("Stamp duty", D("0.4"))
    context = WriteContext(
        currencies={"EGP": 1},
        taxes={1: ("VAT", D("14")), 2: ("Stamp duty", D("0.4"))},
        countries={"EG": 1},
        revenue_account=1,
        receivable_account=2,
        journal=1,
        currency_units={"EGP": D("0.01")},
    )
    backend = TrytonBackend(
        base_url="http://127.0.0.1:1", database="db", login="admin", password="pw"
    )
    backend._lookups = tryton_backend._Lookups(write=context, methods=())
    invoice = Invoice.build(
        number="000020",
        issue_date=dt.date(2026, 4, 1),
        currency="EGP",
        client=Client(name="Acme"),
        items=[
            LineItem("Tea", D("3"), D("89.75"), taxes=[vat, stamp]),
            LineItem("Rice", D("4"), D("2750"), taxes=[vat]),
            LineItem("Truck", D("1"), D("35000")),
        ],
    )
    invoice.tax_total = D("1578.78")  # Daftra's figure, a cent from Tryton's
    invoice.total = invoice.subtotal + invoice.tax_total
    invoice.balance_due = invoice.total
    with pytest.raises(InvalidRequest) as caught:
        backend.validate_invoice(invoice)
    assert caught.value.field_errors == {
        "tax_total": "Tryton computes tax_total 1578.77, not 1578.78"
    }
    assert _tax_figure(caught.value) == D("1578.77")
