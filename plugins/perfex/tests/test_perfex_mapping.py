"""Mapping Perfex payloads to the neutral model (and back), offline, from the fixtures."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from invoicing_bridge_perfex.backend import PerfexBackend
from invoicing_bridge_perfex.lookups import PerfexLookups, method_slug
from invoicing_bridge_perfex.numbers import format_number, parse_number
from invoicing_bridge_perfex.plan import perfex_totals
from invoicing_bridge_perfex.schemas import PerfexLine, infer_line_taxes

from invoicing_bridge.backends.base import Feature
from invoicing_bridge.exceptions import ConfigurationError, MappingError
from invoicing_bridge.models import (
    Address,
    Client,
    Invoice,
    InvoiceStatus,
    LineItem,
    Payment,
    TaxRate,
)

Load = Callable[[str], Any]


def parser(**options: Any) -> PerfexBackend:
    return PerfexBackend.for_parsing(**options)


def one_invoice(data: Any, **options: Any) -> Invoice:
    records = parser(**options).parse_payload("invoice", data)
    assert len(records) == 1
    invoice = records[0]
    assert isinstance(invoice, Invoice)
    return invoice


def invoices(data: Any, **options: Any) -> list[Invoice]:
    records = parser(**options).parse_payload("invoice", data)
    assert all(isinstance(r, Invoice) for r in records)
    return [r for r in records if isinstance(r, Invoice)]


# --------------------------------------------------------------------------- single GET


def test_single_get_maps_number_dates_currency_and_money_as_decimal(payload: Load) -> None:
    invoice = one_invoice(payload("invoices/get.json"))
    assert invoice.id == "17"
    assert invoice.source is not None and invoice.source.backend == "perfex"
    assert invoice.number == "INV-000017"
    assert invoice.issue_date == dt.date(2026, 3, 14)
    assert invoice.due_date == dt.date(2026, 4, 13)
    assert invoice.currency == "EGP"
    assert invoice.subtotal == Decimal("30555.00")
    assert invoice.discount_total == Decimal("1527.75")
    assert invoice.tax_total == Decimal("4063.82")
    assert invoice.adjustment == Decimal("0.00")
    assert invoice.total == Decimal("33091.07")
    assert invoice.created_at == dt.datetime(2026, 3, 14, 16, 18, 41)
    assert invoice.notes == "شكراً لتعاملكم معنا"
    assert invoice.terms == "Payment within 30 days."
    assert invoice.extra["hash"] == "3f9c2e7d51a04b6e8d2c71f05a9e4b13"
    assert invoice.extra["adminnote"] == "Reviewed by finance"
    assert invoice.check() == []


def test_single_get_amount_paid_comes_from_total_left_to_pay(payload: Load) -> None:
    invoice = one_invoice(payload("invoices/get.json"))
    assert invoice.amount_paid == Decimal("12000.00")
    assert invoice.balance_due == Decimal("21091.07")
    assert invoice.status is InvoiceStatus.PARTIALLY_PAID


def test_single_get_items_without_tax_detail_are_flagged(payload: Load) -> None:
    invoice = one_invoice(payload("invoices/get.json"))
    assert [i.name for i in invoice.items] == ["استشارات تقنية", "Cloud hosting"]
    first = invoice.items[0]
    assert first.quantity == Decimal("10.00") and first.unit_price == Decimal("2182.50")
    assert first.net_amount == Decimal("21825.0000")
    assert first.unit == "hour"
    # nl2br undone
    assert first.description == "ساعات استشارية\nلفريق التطوير"
    assert first.taxes == [] and first.tax_amount is None
    assert first.extra == {"taxes_known": False, "item_id": "88", "item_order": "1"}
    assert "item_taxes" in invoice.extra


def test_item_taxes_are_read_when_a_newer_core_returns_them(payload: Load) -> None:
    data = payload("invoices/get.json")
    data["items"][0]["taxes"] = [
        {"id": "5", "itemid": "88", "taxrate": "14.00", "taxname": "VAT EG"}
    ]
    data["items"][1]["taxes"] = []
    invoice = one_invoice(data)
    assert invoice.items[0].taxes == [TaxRate("VAT EG", Decimal("14.00"))]
    assert invoice.items[1].taxes == []
    assert all(i.extra["taxes_known"] for i in invoice.items)
    assert "item_taxes" not in invoice.extra


def test_single_get_client_is_the_nested_customer_row(payload: Load) -> None:
    client = one_invoice(payload("invoices/get.json")).client
    assert client.id == "5"
    assert client.name == client.company_name == "شركة النيل للتجارة والتوزيع"
    assert client.tax_number == "412-118-390"
    assert client.address is not None and client.address.country == "EG"
    assert client.address.line1 == "15 شارع طلعت حرب"
    assert client.email is None  # Perfex customers have no email (contacts do)


def test_payment_id_is_paymentid_not_the_joined_mode_id(payload: Load) -> None:
    (payment,) = one_invoice(payload("invoices/get.json")).payments
    assert payment.id == "41"
    assert payment.invoice_id == "17"
    assert payment.amount == Decimal("12000.00")
    assert payment.currency == "EGP"
    assert payment.method == "bank_transfer"  # the mode's name "Bank"
    assert payment.reference == "FT26079AX91Q"
    assert payment.date == dt.date(2026, 3, 20)


def test_allowed_payment_modes_php_serialized_are_read(payload: Load) -> None:
    invoice = one_invoice(payload("invoices/get.json"))
    assert invoice.extra["allowed_payment_modes"] == ["1", "2"]


def test_allowed_payment_modes_published_form_is_read(payload: Load) -> None:
    rows = invoices(payload("invoices/list.json"))
    assert rows[0].extra["allowed_payment_modes"] == ["1"]


def test_formatted_number_wins_and_gateway_payment_maps_to_its_slug(payload: Load) -> None:
    invoice = one_invoice(payload("invoices/get_formatted_number.json"))
    assert invoice.number == "INV-2026/000017"
    assert invoice.status is InvoiceStatus.PAID
    assert invoice.amount_paid == invoice.total == Decimal("1250.00")
    (payment,) = invoice.payments
    assert payment.id == "57" and payment.method == "stripe"
    assert payment.extra["paymentmethod"] == "Visa"


def test_formatted_number_preferred_over_reconstruction(payload: Load) -> None:
    data = payload("invoices/get_formatted_number.json")
    data["formatted_number"] = "FACT/17/2026"
    assert one_invoice(data).number == "FACT/17/2026"
    del data["formatted_number"]
    assert one_invoice(data).number == "INV-2026/000017"


# --------------------------------------------------------------------------- inferred line taxes

INSTALL_TAXES = [("VAT", Decimal("15.00")), ("VAT EG", Decimal("14.00"))]


def unknown_lines(*amounts: str) -> list[LineItem]:
    return [
        LineItem(f"L{n}", Decimal("1"), Decimal(a), extra={"taxes_known": False})
        for n, a in enumerate(amounts)
    ]


def test_line_taxes_are_inferred_when_one_assignment_reproduces_total_tax() -> None:
    items = unknown_lines("700.50", "1899.99")
    assert infer_line_taxes(items, {"total_tax": Decimal("98.07")}, INSTALL_TAXES)
    assert items[0].taxes == [TaxRate("VAT EG", Decimal("14.00"))]
    assert items[1].taxes == []
    assert all(i.extra["taxes_inferred"] for i in items)


def test_inference_follows_perfex_before_tax_discount_rule(payload: Load) -> None:
    backend = parser()
    backend.lookups.taxes = list(INSTALL_TAXES)
    invoice = one_invoice(payload("invoices/get.json"))  # fresh parser: no taxes known
    assert all(i.taxes == [] for i in invoice.items)
    (inferred,) = backend.parse_payload("invoice", payload("invoices/get.json"))
    assert isinstance(inferred, Invoice)
    assert [t.name for i in inferred.items for t in i.taxes] == ["VAT EG", "VAT EG"]
    assert inferred.extra["item_taxes"].startswith("inferred")


def test_ambiguous_or_impossible_totals_leave_line_taxes_unknown() -> None:
    twins = unknown_lines("100.00", "100.00")  # which of the two carries the 14.00?
    assert not infer_line_taxes(twins, {"total_tax": Decimal("14.00")}, INSTALL_TAXES)
    odd = unknown_lines("100.00")
    assert not infer_line_taxes(odd, {"total_tax": Decimal("7.00")}, INSTALL_TAXES)
    assert all(i.taxes == [] and "taxes_inferred" not in i.extra for i in twins + odd)


def test_inference_can_be_turned_off(payload: Load) -> None:
    backend = parser(infer_line_taxes=False)
    backend.lookups.taxes = list(INSTALL_TAXES)
    (invoice,) = backend.parse_payload("invoice", payload("invoices/get.json"))
    assert isinstance(invoice, Invoice)
    assert all(i.taxes == [] and "taxes_inferred" not in i.extra for i in invoice.items)


def test_zero_total_tax_means_untaxed_lines_even_without_the_tax_list() -> None:
    items = unknown_lines("10.00", "20.00")
    assert infer_line_taxes(items, {"total_tax": Decimal("0.00")}, [])
    assert all(i.taxes == [] and i.extra["taxes_inferred"] for i in items)


# --------------------------------------------------------------------------- statuses


@pytest.mark.parametrize(
    ("status", "left", "expected"),
    [
        ("1", "776.25", InvoiceStatus.OPEN),
        ("2", "0.00", InvoiceStatus.PAID),
        ("2", "-10.00", InvoiceStatus.OVERPAID),
        ("3", "476.25", InvoiceStatus.PARTIALLY_PAID),
        ("4", "776.25", InvoiceStatus.OPEN),
        ("4", "476.25", InvoiceStatus.PARTIALLY_PAID),
        ("5", "776.25", InvoiceStatus.VOID),
        ("6", "776.25", InvoiceStatus.DRAFT),
        ("7", "776.25", InvoiceStatus.UNKNOWN),
        ("", "776.25", InvoiceStatus.UNKNOWN),
    ],
)
def test_status_maps_by_code_and_overdue_by_amount_paid(
    payload: Load, status: str, left: str, expected: InvoiceStatus
) -> None:
    data = payload("invoices/get_overdue_unpaid.json")
    data["status"] = status
    data["total_left_to_pay"] = left
    invoice = one_invoice(data)
    assert invoice.status is expected
    assert invoice.extra.get("perfex_status") == (status or None)


def test_overdue_fixtures_map_to_open_and_partially_paid(payload: Load) -> None:
    unpaid = one_invoice(payload("invoices/get_overdue_unpaid.json"))
    partial = one_invoice(payload("invoices/get_overdue_partial.json"))
    assert unpaid.status is InvoiceStatus.OPEN and unpaid.amount_paid == 0
    assert partial.status is InvoiceStatus.PARTIALLY_PAID
    assert partial.amount_paid == Decimal("300.00") == sum(p.amount for p in partial.payments)
    assert partial.is_overdue_on(dt.date(2026, 3, 1))


def test_draft_shows_prefix_draft_and_keeps_placeholder_number(payload: Load) -> None:
    invoice = one_invoice(payload("invoices/get_draft.json"))
    assert invoice.status is InvoiceStatus.DRAFT
    assert invoice.number == "INV-DRAFT"
    assert invoice.extra["perfex_number"] == 1000000000


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("number_format", "padding", "expected"),
    [
        ("1", 6, "INV-000017"),
        ("2", 6, "INV-2026/000017"),
        ("3", 6, "INV-000017-26"),
        ("4", 6, "INV-000017/03/2026"),
        ("1", 3, "INV-017"),
        ("1", 0, "INV-17"),
        (None, 6, "INV-000017"),
    ],
)
def test_display_number_follows_the_four_formats_and_padding(
    payload: Load, number_format: str | None, padding: int, expected: str
) -> None:
    data = payload("invoices/get.json")
    data["number_format"] = number_format
    assert one_invoice(data, number_padding=padding).number == expected


@pytest.mark.parametrize(
    "text",
    ["INV-000017", "000017", "17", "INV-2026/000017", "INV-000017-26", "INV-000017/03/2026"],
)
def test_normalize_number_reduces_every_format_to_the_integer(text: str) -> None:
    assert parser().normalize_number(text) == "17"


def test_normalize_number_keeps_numbers_without_digits_case_folded() -> None:
    assert parser().normalize_number(" INV-Draft ") == "inv-draft"
    assert parser().normalize_number("F-2026-0042") == "42"


def test_parse_number_reads_year_from_formats_two_to_four() -> None:
    parsed = parse_number("INV-000017-26")
    assert parsed is not None and (parsed.number, parsed.year) == (17, 2026)
    parsed = parse_number("INV-000017/03/2026")
    assert parsed is not None and (parsed.number, parsed.year, parsed.month) == (17, 2026, 3)
    assert parse_number("INV-DRAFT") is None


def test_format_number_round_trips_through_parse_number() -> None:
    date = dt.date(2025, 11, 30)
    for fmt in (1, 2, 3, 4):
        text = format_number(4321, prefix="INV-", number_format=fmt, date=date, padding=6)
        parsed = parse_number(text)
        assert parsed is not None and parsed.number == 4321, text


# --------------------------------------------------------------------------- list and search rows


def test_list_rows_map_without_client_items_or_payments(payload: Load) -> None:
    rows = invoices(payload("invoices/list.json"))
    assert [r.id for r in rows] == ["3", "9", "17"]
    assert [r.currency for r in rows] == ["USD", "SAR", "EGP"]
    assert [r.status for r in rows] == [
        InvoiceStatus.PAID,
        InvoiceStatus.VOID,
        InvoiceStatus.PARTIALLY_PAID,
    ]
    assert rows[0].amount_paid == Decimal("1250.00")  # status 2 on a summary row
    assert rows[2].extra["amount_paid_unknown"] is True
    assert rows[0].client.id == "12" and rows[0].extra["client_included"] is False
    assert rows[0].items == [] and rows[0].extra["items_included"] is False


def test_list_rows_teach_currency_ids(payload: Load) -> None:
    backend = parser()
    backend.parse_payload("invoice", payload("invoices/list.json"))
    assert backend.lookups.currency_id("SAR") == "4"
    assert backend.lookups.currency_code("3") == "EGP"


def test_v3_page_envelope_is_unwrapped(payload: Load) -> None:
    rows = invoices(payload("invoices/list_page.json"))
    assert [r.id for r in rows] == ["3", "9"]


def test_search_row_client_comes_from_the_joined_customer_columns(payload: Load) -> None:
    first, second = invoices(payload("invoices/search.json"), currencies={"EGP": "3"})
    assert first.id == "17" and second.id == "6"
    assert first.client.id == "5"
    assert first.client.name == "شركة النيل للتجارة والتوزيع"
    assert first.client.tax_number == "412-118-390"
    assert first.currency == "EGP"  # no currency columns: the id through the option
    assert first.number == second.number == "INV-000017"
    assert (first.issue_date.year, second.issue_date.year) == (2026, 2025)


def test_search_row_with_unknown_currency_id_is_flagged_not_refused(payload: Load) -> None:
    first = invoices(payload("invoices/search.json"))[0]
    assert first.currency == "XXX"
    assert first.extra["currency_unresolved"] is True
    assert first.extra["currency_id"] == "3"


def test_deleted_customer_keeps_its_name(payload: Load) -> None:
    invoice = one_invoice(payload("invoices/get_deleted_customer.json"))
    assert invoice.client.id == "9"
    assert invoice.client.name == "Old Customer Ltd"


def test_string_numbers_keep_their_exact_decimals(payload: Load) -> None:
    data = payload("invoices/get.json")
    data["items"][0]["rate"] = "32999.9961"
    data["total"] = 33091.07  # a JSON number from a newer module: no binary float leaks
    invoice = one_invoice(data)
    assert invoice.items[0].unit_price == Decimal("32999.9961")
    assert invoice.total == Decimal("33091.07")


def test_json_round_trip_of_a_mapped_invoice_is_lossless(payload: Load) -> None:
    invoice = one_invoice(payload("invoices/get.json"))
    assert Invoice.from_dict(invoice.to_dict()).to_dict() == invoice.to_dict()


def test_error_body_is_refused_as_a_record(payload: Load) -> None:
    with pytest.raises(MappingError, match="error answer"):
        parser().parse_payload("invoice", payload("errors/no_data.json"))
    with pytest.raises(MappingError):
        parser().parse_payload("payment", payload("payments/no_data.json"))


def test_missing_date_is_a_mapping_error_naming_the_field(payload: Load) -> None:
    data = payload("invoices/get.json")
    del data["date"]
    with pytest.raises(MappingError) as caught:
        parser().parse_payload("invoice", data)
    assert caught.value.field == "date"


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(MappingError, match="unknown record kind"):
        parser().parse_payload("estimate", {})


# --------------------------------------------------------------------------- clients, payments


def test_customer_rows_map_userid_country_and_default_currency(payload: Load) -> None:
    backend = parser(currencies={"EGP": "3", "SAR": "4"})
    clients = backend.parse_payload("client", payload("customers/list.json"))
    assert all(isinstance(c, Client) for c in clients)
    hudson, jeddah, nile = clients
    assert isinstance(hudson, Client) and isinstance(jeddah, Client) and isinstance(nile, Client)
    assert [hudson.id, jeddah.id, nile.id] == ["12", "7", "5"]
    assert hudson.address == Address(
        line1="350 5th Ave",
        line2="Suite 4100",
        city="New York",
        state="NY",
        postal_code="10001",
        country="US",
    )
    assert hudson.currency is None  # "0": the install's default currency
    assert jeddah.currency == "SAR" and nile.currency == "EGP"
    assert hudson.extra["website"] == "https://hudson.example.com"


def test_contact_search_row_gives_the_customer_with_its_email(payload: Load) -> None:
    (client,) = parser().parse_payload("client", payload("contacts/search.json"))
    assert isinstance(client, Client)
    assert client.id == "12"  # userid, not the contact's id
    assert client.email == "emily.carter@hudson.example.com"
    assert (client.first_name, client.last_name) == ("Emily", "Carter")


def test_payment_rows_use_paymentid_and_mode_names(payload: Load) -> None:
    backend = parser()
    backend.parse_payload("invoice", payload("invoices/get_overdue_partial.json"))  # learns Cash
    payments = backend.parse_payload("payment", payload("payments/list.json"))
    assert all(isinstance(p, Payment) for p in payments)
    assert [p.id for p in payments] == ["41", "57", "60"]
    assert [p.method for p in payments] == ["perfex_mode_1", "stripe", "cash"]
    assert [p.invoice_id for p in payments] == ["17", "23", "31"]


def test_published_payment_list_shape_with_repeated_invoiceid_key(
    fixture_text: Callable[[str], str],
) -> None:
    data = json.loads(fixture_text("payments/list_published_shape.json"))
    first, second = parser().parse_payload("payment", data)
    assert isinstance(first, Payment) and isinstance(second, Payment)
    assert (first.id, second.id) == ("1", "2")  # paymentid, not the mode id in "id"
    assert first.invoice_id is None  # the last "invoiceid" is the mode's name
    assert first.method == "upi" and second.method == "stripe"
    assert second.amount == Decimal("-3.00")


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Bank", "bank_transfer"),
        ("Cash", "cash"),
        ("Cheque", "cheque"),
        ("Credit Card", "card"),
        ("paypal_checkout", "paypal"),
        ("Stripe Checkout", "stripe"),
        ("Vodafone Cash Wallet", "vodafone_cash_wallet"),
    ],
)
def test_payment_mode_names_become_neutral_method_slugs(name: str, slug: str) -> None:
    assert method_slug(name) == slug


def test_cli_decimal_payloads_parse(payload: Load, fixture_text: Callable[[str], str]) -> None:
    # `invoicing-bridge parse` reads JSON with parse_float=Decimal.
    data = json.loads(fixture_text("invoices/get.json"), parse_float=Decimal)
    data["subtotal"] = Decimal("30555.00")
    assert one_invoice(data).subtotal == Decimal("30555.00")


# --------------------------------------------------------------------------- writing side


def line(qty: str, rate: str, *taxes: tuple[str, str]) -> PerfexLine:
    return PerfexLine(
        "x", "", Decimal(qty), Decimal(rate), "", tuple((n, Decimal(r)) for n, r in taxes)
    )


def test_perfex_totals_without_discount() -> None:
    totals = perfex_totals([line("2", "1500.00", ("VAT", "15.00")), line("1", "250.50")])
    assert totals.subtotal == Decimal("3250.50")
    assert totals.total_tax == Decimal("450.00")
    assert totals.total == Decimal("3700.50")
    assert totals.discount_type == ""


def test_perfex_totals_before_tax_discount_reduces_tax_proportionally() -> None:
    lines = [line("10", "2182.50", ("VAT EG", "14.00")), line("3", "2910.00", ("VAT EG", "14.00"))]
    totals = perfex_totals(
        lines, discount_total=Decimal("1527.75"), expected_tax=Decimal("4063.82")
    )
    assert totals.discount_type == "before_tax"
    assert totals.total_tax == Decimal("4063.82")  # 4277.70 * 0.95 = 4063.815, half up
    assert totals.total == Decimal("33091.07")


def test_perfex_totals_chooses_after_tax_when_the_invoice_taxed_the_full_amount() -> None:
    lines = [line("1", "1000.00", ("VAT", "15.00"))]
    totals = perfex_totals(lines, discount_total=Decimal("100.00"), expected_tax=Decimal("150.00"))
    assert totals.discount_type == "after_tax"
    assert totals.total == Decimal("1050.00")


def test_tax_names_map_to_the_install_tax_with_that_rate() -> None:
    lookups = PerfexLookups(taxes=[("VAT", Decimal("15.00")), ("VAT EG", Decimal("14.00"))])
    assert lookups.tax_for(TaxRate("VAT", Decimal("15"))) == ("VAT", Decimal("15.00"))
    assert lookups.tax_for(TaxRate("Egypt VAT", Decimal("14"))) == ("VAT EG", Decimal("14.00"))
    assert lookups.tax_for(TaxRate("GST|x", Decimal("5"))) == ("GST/x", Decimal("5.00"))


def test_validate_invoice_refuses_what_perfex_cannot_hold() -> None:
    backend = parser(currencies={"USD": "1"})
    client = Client(name="Acme", id=None)

    def build(**changes: Any) -> Invoice:
        items = changes.pop("items", [LineItem("Work", Decimal("2"), Decimal("100.00"))])
        values: dict[str, Any] = {
            "number": "000017",
            "issue_date": dt.date(2026, 1, 5),
            "currency": "USD",
            "client": client,
            "items": items,
        }
        values.update(changes)
        return Invoice.build(**values)

    backend.validate_invoice(build())
    cases: list[tuple[Invoice, str]] = [
        (build(currency="JPY"), "currency"),
        (build(status=InvoiceStatus.VOID), "status"),
        (build(number="DRAFT-A"), "number"),
        (
            build(items=[LineItem("Work", Decimal("1"), Decimal("10.00"), discount=Decimal("1"))]),
            "items[0].discount",
        ),
        (
            # Perfex stores the price in cents: 3 x 33000.00 is not 98999.9883 to the cent.
            build(items=[LineItem("Work", Decimal("3"), Decimal("32999.9961"))]),
            "subtotal",
        ),
        (build(items=[LineItem("Free", Decimal("1"), Decimal("0.00"))]), "total"),
    ]
    for invoice, field in cases:
        with pytest.raises(MappingError) as caught:
            backend.validate_invoice(invoice)
        assert caught.value.field == field, caught.value


def test_prices_beyond_cents_are_accepted_when_the_totals_still_agree() -> None:
    backend = parser(currencies={"USD": "1"})
    invoice = Invoice.build(
        number="12",
        issue_date=dt.date(2026, 1, 1),
        currency="USD",
        client=Client("X"),
        items=[LineItem("Work", Decimal("1"), Decimal("32999.9961"))],
    )
    backend.validate_invoice(invoice)  # stored as 33000.00, the invoice's total to the cent


def test_validate_invoice_refuses_totals_perfex_would_compute_otherwise() -> None:
    backend = parser(currencies={"USD": "1"})
    vat = [TaxRate("VAT", Decimal("15"))]
    items = [LineItem(n, Decimal("1"), Decimal("0.10"), taxes=vat) for n in "ABC"]
    invoice = Invoice.build(
        number="9", issue_date=dt.date(2026, 1, 1), currency="USD", client=Client("X"), items=items
    )
    # A source that rounded each line's tax (0.015 -> 0.02); Perfex rounds once: 0.05.
    invoice.tax_total = Decimal("0.06")
    invoice.total = Decimal("0.36")
    with pytest.raises(MappingError) as caught:
        backend.validate_invoice(invoice)
    assert caught.value.field == "tax_total"


# --------------------------------------------------------------------------- options


def test_options_validate_and_name_the_bad_option() -> None:
    options = PerfexBackend.load_options(
        {
            "base_url": "http://127.0.0.1:8000/api",
            "token": "t",
            "api_version": 3,
            "currencies": {"usd": 1, "EGP": "3"},
            "payment_modes": [1, "2", "stripe"],
        }
    )
    assert options["api_version"] == "3"
    assert options["currencies"] == {"USD": "1", "EGP": "3"}
    assert options["payment_modes"] == ["1", "2", "stripe"]
    assert options["number_padding"] == 6 and options["auth_header"] == "authtoken"
    # What a profile loads is loaded again by the backend: the result must load as is.
    assert PerfexBackend.load_options(options) == options
    bad = [
        ({"api_version": "4"}, "api_version"),
        ({"currencies": {"US Dollar": 1}}, "currencies"),
        ({"currencies": {"USD": "one"}}, "currencies"),
        ({"payment_modes": "1;2"}, "payment_modes"),
        ({"auth_header": "cookie"}, "auth_header"),
        ({"page_size": 500}, "page_size"),
        ({"no_such_option": 1}, "no_such_option"),
    ]
    for change, option in bad:
        with pytest.raises(ConfigurationError) as caught:
            PerfexBackend.load_options({"base_url": "http://h/api", "token": "t", **change})
        assert caught.value.option == option


def test_token_is_required_and_secret() -> None:
    with pytest.raises(ConfigurationError) as caught:
        PerfexBackend(base_url="http://127.0.0.1:9/api")
    assert caught.value.option == "token"
    assert PerfexBackend.secret_options() == frozenset({"token"})


def test_base_url_is_required_for_a_live_backend() -> None:
    with pytest.raises(ConfigurationError) as caught:
        PerfexBackend(token="t")
    assert caught.value.option == "base_url"


def test_features_are_declared_truthfully() -> None:
    features = PerfexBackend.features
    assert Feature.DRAFT_INVOICES in features and Feature.PARSE in features
    assert Feature.VOID_INVOICES not in features  # the API cannot cancel an invoice
    assert Feature.ITEM_TAX_DETAIL not in features  # reads carry no line taxes
