"""The compare job: planted differences, matching, tolerance, ledger, outputs."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

import invoicing_bridge
from invoicing_bridge.backends.base import Feature, InvoicingBackend
from invoicing_bridge.backends.memory import MemoryBackend
from invoicing_bridge.cli.compare import render
from invoicing_bridge.comparison import (
    CSV_COLUMNS,
    ComparisonReport,
    FieldDifference,
    compare,
)
from invoicing_bridge.exceptions import ConfigurationError, NotFound
from invoicing_bridge.migration.ledger import Ledger
from invoicing_bridge.models import (
    Address,
    Client,
    Invoice,
    InvoiceStatus,
    LineItem,
    Payment,
    PaymentStatus,
    RecordRef,
    TaxRate,
)

D = Decimal
VAT = TaxRate("VAT", D("15"))


class ListBackend(InvoicingBackend):
    """Serves fixed invoices exactly as given (no recomputing), counting calls.

    ``listing_without_lines``: ``iter_invoices`` leaves out items and payments, as the
    Perfex 2.x list endpoint does; ``get_invoice`` has them.
    """

    name = "listed"
    features = frozenset(
        {
            Feature.LIST_INVOICES,
            Feature.GET_INVOICE,
            Feature.ITEM_TAX_DETAIL,
            Feature.PAYMENT_DATES,
        }
    )

    def __init__(self, invoices: list[Invoice], *, listing_without_lines: bool = False):
        super().__init__()
        self.invoices = invoices
        self.listing_without_lines = listing_without_lines
        self.calls: dict[str, int] = {}

    def _count(self, verb: str) -> None:
        self.calls[verb] = self.calls.get(verb, 0) + 1

    def iter_invoices(
        self,
        *,
        since: dt.date | None = None,
        status: InvoiceStatus | None = None,
        client_id: str | None = None,
    ) -> Iterator[Invoice]:
        # Ignores `since` on purpose: compare filters again.
        self._count("iter_invoices")
        for invoice in self.invoices:
            if self.listing_without_lines:
                yield invoice.copy(items=[], payments=[])
            else:
                yield invoice.copy()

    def get_invoice(self, id: str) -> Invoice:
        self._count("get_invoice")
        for invoice in self.invoices:
            if invoice.id == id:
                return invoice.copy()
        raise NotFound(f"invoice {id} not found", backend=self.name, status_code=404)


class NoLineTaxBackend(ListBackend):
    """Like Perfex: reads carry no per-line tax detail."""

    name = "nolinetax"
    features = frozenset({Feature.LIST_INVOICES, Feature.GET_INVOICE})


class SuffixYearBackend(ListBackend):
    """Numbers like Perfex's format 3, ``PREFIX + pad(number) + -YY``."""

    name = "suffixyear"

    def normalize_number(self, number: str) -> str:
        return super().normalize_number(number.rsplit("-", 1)[0])


def make_invoice(number: str = "INV-000001", id: str = "1", **changes: Any) -> Invoice:
    client = Client(
        name="Acme Trading LLC", id="c1", email="billing@acme.example", tax_number="300123"
    )
    items = [
        LineItem("Widget", D("2"), D("10.00"), taxes=[VAT]),
        LineItem("Gadget", D("1"), D("100.00"), taxes=[VAT]),
        LineItem("Support hours", D("3"), D("50.00")),
    ]
    payments = [
        Payment(D("50.00"), dt.date(2024, 2, 1), "cash"),
        Payment(D("30.00"), dt.date(2024, 2, 10), "bank_transfer"),
    ]
    invoice = Invoice.build(
        number=number,
        issue_date=dt.date(2024, 1, 15),
        due_date=dt.date(2024, 2, 15),
        currency="SAR",
        client=client,
        items=items,
        amount_paid=D("80.00"),
        payments=payments,
        id=id,
        source=RecordRef("listed", id),
    )
    return invoice.copy(**changes) if changes else invoice


def pair(
    mutate: Callable[[Invoice], None] | None = None, *, right_cls: type[ListBackend] = ListBackend
) -> tuple[ListBackend, ListBackend]:
    left = make_invoice()
    right = make_invoice(number="000001", id="900")
    if mutate is not None:
        mutate(right)
    return ListBackend([left]), right_cls([right])


def only_difference_of(report: ComparisonReport) -> FieldDifference:
    """The one difference of the one pair that differs (whatever its ids)."""
    assert not report.only_left and not report.only_right and not report.duplicates
    (record,) = report.different
    (difference,) = record.differences
    return difference


def only_difference(report: ComparisonReport) -> FieldDifference:
    assert report.equal == 0
    assert not report.only_left and not report.only_right and not report.duplicates
    assert len(report.different) == 1
    record = report.different[0]
    assert (record.key, record.left_id, record.right_id) == ("1", "1", "900")
    assert len(record.differences) == 1, record.differences
    return record.differences[0]


# --------------------------------------------------------------------------- planted


def _set(path: str, value: Any) -> Callable[[Invoice], None]:
    def mutate(invoice: Invoice) -> None:
        target: Any = invoice
        *head, last = path.split(".")
        for part in head:
            if part.endswith("]"):
                name, index = part[:-1].split("[")
                target = getattr(target, name)[int(index)]
            else:
                target = getattr(target, part)
        setattr(target, last, value)

    return mutate


def _drop_item(invoice: Invoice) -> None:
    del invoice.items[1]


def _add_item(invoice: Invoice) -> None:
    invoice.items.append(LineItem("Shipping", D("1"), D("20.00")))


def _drop_payment(invoice: Invoice) -> None:
    del invoice.payments[1]


def _add_payment(invoice: Invoice) -> None:
    invoice.payments.append(Payment(D("5.00"), dt.date(2024, 3, 1), "card"))


PLANTED: list[tuple[str, Callable[[Invoice], None], FieldDifference]] = [
    (
        "status",
        _set("status", InvoiceStatus.PAID),
        FieldDifference("status", "partially_paid", "paid"),
    ),
    (
        "issue_date",
        _set("issue_date", dt.date(2024, 1, 16)),
        FieldDifference("issue_date", dt.date(2024, 1, 15), dt.date(2024, 1, 16)),
    ),
    (
        "due_date",
        _set("due_date", None),
        FieldDifference("due_date", dt.date(2024, 2, 15), None),
    ),
    ("currency", _set("currency", "USD"), FieldDifference("currency", "SAR", "USD")),
    (
        "client.name",
        _set("client.name", "Acme Trading"),
        FieldDifference("client.name", "Acme Trading LLC", "Acme Trading"),
    ),
    (
        "client.email",
        _set("client.email", "accounts@acme.example"),
        FieldDifference("client.email", "billing@acme.example", "accounts@acme.example"),
    ),
    (
        "client.tax_number",
        _set("client.tax_number", "300124"),
        FieldDifference("client.tax_number", "300123", "300124"),
    ),
    (
        "subtotal",
        _set("subtotal", D("370.00")),
        FieldDifference("subtotal", D("270.00"), D("370.00")),
    ),
    (
        "discount_total",
        _set("discount_total", D("5.00")),
        FieldDifference("discount_total", D("0"), D("5.00")),
    ),
    (
        "tax_total",
        _set("tax_total", D("18.50")),
        FieldDifference("tax_total", D("18.0000"), D("18.50")),
    ),
    (
        "adjustment",
        _set("adjustment", D("-0.50")),
        FieldDifference("adjustment", D("0"), D("-0.50")),
    ),
    ("total", _set("total", D("290")), FieldDifference("total", D("288.00"), D("290"))),
    (
        "amount_paid",
        _set("amount_paid", D("30.00")),
        FieldDifference("amount_paid", D("80.00"), D("30.00")),
    ),
    (
        "balance_due",
        _set("balance_due", D("0")),
        FieldDifference("balance_due", D("208.0000"), D("0")),
    ),
    (
        "item quantity",
        _set("items[0].quantity", D("3")),
        FieldDifference("items[0].quantity", D("2"), D("3")),
    ),
    (
        "item unit price",
        _set("items[1].unit_price", D("99.00")),
        FieldDifference("items[1].unit_price", D("100.00"), D("99.00")),
    ),
    (
        "item taxes",
        _set("items[1].taxes", [TaxRate("VAT", D("5"))]),
        FieldDifference("items[1].taxes", "VAT 15%", "VAT 5%"),
    ),
    (
        "missing item",
        _drop_item,
        FieldDifference("items[1]", "Gadget: 1 x 100.00", None),
    ),
    (
        "extra item",
        _add_item,
        FieldDifference("items[right:3]", None, "Shipping: 1 x 20.00"),
    ),
    (
        "payment amount",
        _set("payments[0].amount", D("55.00")),
        FieldDifference("payments[0].amount", D("50.00"), D("55.00")),
    ),
    (
        "payment date",
        _set("payments[1].date", dt.date(2024, 2, 11)),
        FieldDifference("payments[1].date", dt.date(2024, 2, 10), dt.date(2024, 2, 11)),
    ),
    (
        "payment method",
        _set("payments[0].method", "card"),
        FieldDifference("payments[0].method", "cash", "card"),
    ),
    (
        "missing payment",
        _drop_payment,
        FieldDifference("payments[1]", "30.00 on 2024-02-10 by bank_transfer", None),
    ),
    (
        "extra payment",
        _add_payment,
        FieldDifference("payments[right:2]", None, "5.00 on 2024-03-01 by card"),
    ),
]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [pytest.param(m, e, id=name) for name, m, e in PLANTED],
)
def test_planted_difference_is_reported_once_with_path_and_both_values(
    mutate: Callable[[Invoice], None], expected: FieldDifference
) -> None:
    left, right = pair(mutate)

    report = compare(left, right)

    assert only_difference(report) == expected
    assert not report.ok


def test_every_planted_difference_at_once_reports_each_exactly_once() -> None:
    # Item and payment changes that do not collide with each other.
    skipped = {"missing item", "missing payment", "payment amount"}

    def mutate_all(invoice: Invoice) -> None:
        for name, mutate, _ in PLANTED:
            if name not in skipped:
                mutate(invoice)

    left, right = pair(mutate_all)

    report = compare(left, right)

    rows = report.different[0].differences
    paths = [d.path for row in rows for d in (row, *row.derived)]
    expected = [e.path for n, _, e in PLANTED if n not in skipped]
    assert sorted(paths) == sorted(expected)
    assert len(paths) == len(set(paths))


def test_identical_invoices_compare_equal() -> None:
    left, right = pair()

    report = compare(left, right)

    assert report.ok
    assert (report.equal, report.matched, report.left_count, report.right_count) == (1, 1, 1, 1)
    assert report.different == [] and report.only_left == [] and report.only_right == []


def test_backend_specific_facts_are_not_differences() -> None:
    def mutate(invoice: Invoice) -> None:
        invoice.created_at = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
        invoice.updated_at = dt.datetime(2030, 1, 2, tzinfo=dt.UTC)
        invoice.source = RecordRef("other", "x")
        invoice.extra = {"hash": "abc"}
        invoice.client.id = "c999"
        invoice.items[0].description = "a longer text"
        invoice.payments[0].id = "p77"
        invoice.payments[0].reference = "TX-1"

    left, right = pair(mutate)
    right.invoices[0] = right.invoices[0].copy(raw={"anything": 1})

    report = compare(left, right)

    assert report.ok
    assert any(note.startswith("id, created_at, updated_at") for note in report.not_compared)


def test_client_name_and_email_ignore_case_and_whitespace() -> None:
    def mutate(invoice: Invoice) -> None:
        invoice.client.name = "  ACME   trading llc "
        invoice.client.email = "Billing@ACME.example"

    report = compare(*pair(mutate))

    assert report.ok
    assert any("ignoring case" in note for note in report.not_compared)


def test_status_difference_reports_the_json_values() -> None:
    report = compare(*pair(_set("status", InvoiceStatus.VOID)))

    assert only_difference(report).to_dict() == {
        "path": "status",
        "left": "partially_paid",
        "right": "void",
    }


class ContactEmailBackend(ListBackend):
    """Like Perfex: invoices carry no client email; the client record has it."""

    name = "contactemail"
    features = ListBackend.features | {Feature.GET_CLIENT}

    def __init__(self, invoices: list[Invoice], clients: dict[str, Client]):
        super().__init__(invoices)
        self.clients = clients

    def get_client(self, id: str) -> Client:
        self._count("get_client")
        if id not in self.clients:
            raise NotFound(f"client {id} not found", backend=self.name, status_code=404)
        return self.clients[id]


def without_email(number: str, id: str) -> Invoice:
    invoice = make_invoice(number, id=id)
    invoice.client.email = None
    return invoice


def test_client_email_missing_from_invoices_is_read_once_per_client() -> None:
    left = ListBackend([make_invoice("1", id="1"), make_invoice("2", id="2")])
    record = Client(name="Acme Trading LLC", id="c1", email="BILLING@acme.example")
    right = ContactEmailBackend(
        [without_email("1", "11"), without_email("2", "12")], {"c1": record}
    )

    report = compare(left, right)

    assert report.ok, report.to_dict()
    assert right.calls["get_client"] == 1
    assert any("contactemail's invoices leave them out" in n for n in report.not_compared)


def test_client_record_with_another_email_is_a_difference() -> None:
    left = ListBackend([make_invoice("1", id="1")])
    record = Client(name="Acme", id="c1", email="old@acme.example")
    right = ContactEmailBackend([without_email("1", "11")], {"c1": record})

    report = compare(left, right)

    assert report.different[0].differences == [
        FieldDifference("client.email", "billing@acme.example", "old@acme.example")
    ]


def test_client_record_gone_leaves_the_difference() -> None:
    left = ListBackend([make_invoice("1", id="1")])
    right = ContactEmailBackend([without_email("1", "11")], {})

    report = compare(left, right)

    assert report.different[0].differences == [
        FieldDifference("client.email", "billing@acme.example", None)
    ]


def test_no_client_record_is_read_when_both_invoices_agree() -> None:
    right = ContactEmailBackend([without_email("1", "11")], {})

    compare(ListBackend([without_email("1", "1")]), right)

    assert "get_client" not in right.calls


# --------------------------------------------------------------------------- tolerance


@pytest.mark.parametrize(
    ("right_total", "tolerance", "differs"),
    [
        (D("288.01"), D("0"), True),  # one cent, at the default: a difference
        (D("288.004"), D("0"), False),  # rounds to 288.00 (SAR has two decimals)
        (D("288.005"), D("0"), True),  # rounds half up to 288.01
        (D("288.00000"), D("0"), False),
        (D("288.01"), D("0.01"), False),  # exactly the tolerance: equal
        (D("287.99"), D("0.01"), False),
        (D("288.014"), D("0.01"), False),  # rounds to 288.01
        (D("288.015"), D("0.01"), True),  # rounds to 288.02: just over
        (D("288.4"), D("0.5"), False),
    ],
)
def test_money_tolerance_edges(right_total: Decimal, tolerance: Decimal, differs: bool) -> None:
    report = compare(*pair(_set("total", right_total)), tolerance=tolerance)

    assert bool(report.different) is differs
    assert report.tolerance == tolerance


def test_tolerance_defaults_to_zero_and_a_payment_off_by_a_cent_is_reported() -> None:
    def mutate(invoice: Invoice) -> None:
        invoice.payments[0].amount = D("50.01")
        invoice.amount_paid = D("80.01")  # as the backend itself sums them
        invoice.balance_due = D("207.99")

    report = compare(*pair(mutate))

    assert report.tolerance == 0
    (row,) = report.different[0].differences
    assert (row.path, row.left, row.right) == ("payments[0].amount", D("50.00"), D("50.01"))
    # Its consequences are grouped under it, not listed beside it.
    assert [(d.path, d.left, d.right) for d in row.derived] == [
        ("amount_paid", D("80.00"), D("80.01")),
        ("balance_due", D("208.00"), D("207.99")),
    ]


def test_unit_prices_and_payment_amounts_are_rounded_to_the_currency_first() -> None:
    def mutate(invoice: Invoice) -> None:
        invoice.items[0].unit_price = D("10.004")
        invoice.payments[0].amount = D("49.995")

    assert compare(*pair(mutate)).ok


def test_rounding_follows_the_currency_precision() -> None:
    def yen(total: str) -> Callable[[Invoice], None]:
        def mutate(invoice: Invoice) -> None:
            invoice.currency = "JPY"
            invoice.total = D(total)

        return mutate

    left = ListBackend([make_invoice(currency="JPY", total=D("288"))])
    for total, differs in (("288.4", False), ("288.5", True)):
        right = ListBackend([make_invoice(number="000001", id="900")])
        yen(total)(right.invoices[0])
        assert bool(compare(left, right).different) is differs, total


def test_quantities_are_compared_exactly_but_not_by_their_digits() -> None:
    assert compare(*pair(_set("items[0].quantity", D("2.000")))).ok
    assert not compare(*pair(_set("items[0].quantity", D("2.001")))).ok


@pytest.mark.parametrize("bad", [D("-0.01"), "abc", D("NaN")])
def test_bad_tolerance_raises_configuration_error(bad: Any) -> None:
    with pytest.raises(ConfigurationError, match="tolerance"):
        compare(*pair(), tolerance=bad)


def test_float_tolerance_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="float"):
        compare(*pair(), tolerance=0.01)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- items


def test_items_in_another_order_are_matched_by_name() -> None:
    report = compare(*pair(lambda inv: inv.items.reverse()))

    assert report.ok


def test_item_inserted_at_the_start_is_one_difference() -> None:
    report = compare(*pair(lambda inv: inv.items.insert(0, LineItem("Setup", D("1"), D("5")))))

    assert only_difference(report) == FieldDifference("items[right:0]", None, "Setup: 1 x 5.00")


def test_renamed_item_is_paired_and_reported_as_a_name_difference() -> None:
    report = compare(*pair(_set("items[2].name", "Consulting hours")))

    assert only_difference(report) == FieldDifference(
        "items[2].name", "Support hours", "Consulting hours"
    )


def test_item_taxes_compare_as_a_set_with_equal_rates_whatever_their_digits() -> None:
    def mutate(invoice: Invoice) -> None:
        invoice.items[0].taxes = [TaxRate("Eco", D("2.0")), TaxRate("vat", D("15.00"))]

    left, right = pair(mutate)
    left.invoices[0].items[0].taxes = [TaxRate("VAT", D("15")), TaxRate("Eco", D("2"))]

    assert compare(left, right).ok


def test_per_line_taxes_are_not_compared_when_a_side_does_not_report_them() -> None:
    left, right = pair(_set("items[1].taxes", []), right_cls=NoLineTaxBackend)

    report = compare(left, right)

    assert report.ok
    assert "items[*].taxes: nolinetax does not report per-line tax" in report.not_compared


def test_per_line_taxes_are_noted_for_the_left_side_too() -> None:
    left, right = pair()
    report = compare(NoLineTaxBackend(left.invoices), right)

    assert "items[*].taxes: nolinetax does not report per-line tax" in report.not_compared


# --------------------------------------------------------------------------- payments


def test_payments_in_another_order_are_equal() -> None:
    assert compare(*pair(lambda inv: inv.payments.reverse())).ok


def test_payments_compare_as_multisets() -> None:
    twice = Payment(D("10.00"), dt.date(2024, 3, 1), "cash")
    left = make_invoice(payments=[twice, twice])
    right = make_invoice(number="1", id="900", payments=[twice])

    report = compare(ListBackend([left]), ListBackend([right]))

    assert only_difference(report) == FieldDifference(
        "payments[1]", "10.00 on 2024-03-01 by cash", None
    )


class DatesPaymentsItselfBackend(ListBackend):
    """Like Perfex: a recorded payment is dated the day it is recorded."""

    name = "datesitself"
    features = ListBackend.features - {Feature.PAYMENT_DATES}


def test_payment_dates_are_not_compared_when_a_side_dates_payments_itself() -> None:
    def mutate(invoice: Invoice) -> None:
        for payment in invoice.payments:
            payment.date = dt.date(2026, 11, 21)

    left, right = pair(mutate, right_cls=DatesPaymentsItselfBackend)

    report = compare(left, right)

    assert report.ok
    assert any(
        n.startswith("payments[*].date: datesitself dates a payment itself")
        for n in report.not_compared
    )


def test_payment_amounts_still_compare_when_dates_do_not() -> None:
    def mutate(invoice: Invoice) -> None:
        invoice.payments[0].date = dt.date(2026, 11, 21)
        invoice.payments[0].amount = D("51.00")

    report = compare(*pair(mutate, right_cls=DatesPaymentsItselfBackend))

    assert only_difference(report) == FieldDifference("payments[0].amount", D("50.00"), D("51.00"))


def test_payments_not_completed_are_left_out_and_noted() -> None:
    def mutate(invoice: Invoice) -> None:
        invoice.payments.append(
            Payment(D("99"), dt.date(2024, 3, 1), "card", status=PaymentStatus.FAILED)
        )

    report = compare(*pair(mutate))

    assert report.ok
    assert any("1 pending, failed or unknown payments" in n for n in report.not_compared)


# --------------------------------------------------------------------------- matching


def seeded_memory(label: str, numbers: list[str], **invoice_changes: Any) -> MemoryBackend:
    backend = MemoryBackend(label=label)
    client = backend.create_client(Client(name="Acme Trading LLC", email="billing@acme.example"))
    for number in numbers:
        invoice = make_invoice(number=number, id="", **invoice_changes)
        invoice.client = client
        backend.create_invoice(invoice.copy(id=None, source=None))
    return backend


def test_numbers_match_across_prefix_and_padding() -> None:
    a = seeded_memory("a", ["INV-000002", "INV-000010"])
    b = seeded_memory("b", ["000002", "000010"])
    c = seeded_memory("c", ["2", "10"])

    for left, right in ((a, b), (b, c), (a, c), (c, a)):
        report = compare(left, right)
        assert report.ok, report.to_dict()
        assert report.equal == 2

    note = next(n for n in compare(a, b).not_compared if n.startswith("number:"))
    assert "2 of 2 matched invoices show it differently" in note
    assert "'INV-000002' and '000002'" in note


def test_each_side_normalises_numbers_its_own_way() -> None:
    left = ListBackend([make_invoice(number="000002", id="1")])
    right = SuffixYearBackend([make_invoice(number="INV-000002-24", id="7")])

    report = compare(left, right)

    assert report.ok
    assert report.equal == 1


def test_records_only_on_one_side_are_listed() -> None:
    left = seeded_memory("left", ["1", "2", "3"])
    right = seeded_memory("right", ["2", "3", "4", "5"])
    # Another issue date each: nothing pairs them by client, date and total either.
    for backend, number, day in ((left, "1", 1), (right, "4", 4), (right, "5", 5)):
        invoice = next(i for i in backend.iter_invoices() if i.number == number)
        backend.update_invoice(invoice.copy(issue_date=dt.date(2024, 1, day)))

    report = compare(left, right)

    assert [(r.number, r.key) for r in report.only_left] == [("1", "1")]
    assert [(r.number, r.key) for r in report.only_right] == [("4", "4"), ("5", "5")]
    assert report.equal == 2
    assert report.matched_by_content == 0 and report.ambiguous == []
    assert not report.ok
    assert (report.left_count, report.right_count) == (3, 4)


def test_unpaired_by_number_alike_in_client_date_and_total_are_ambiguous_not_guessed() -> None:
    report = compare(seeded_memory("left", ["1", "2"]), seeded_memory("right", ["2", "4", "5"]))

    assert report.equal == 1
    (group,) = report.ambiguous
    assert group.key == "acme trading llc | 2024-01-15 | 288.00 SAR"
    assert [r.number for r in group.left] == ["1"]
    assert [r.number for r in group.right] == ["4", "5"]
    assert report.only_left == [] and report.only_right == []
    assert not report.ok


def test_a_draft_without_a_number_is_paired_by_client_date_and_total() -> None:
    left = ListBackend([make_invoice("000007", id="7", status=InvoiceStatus.DRAFT)])
    right = ListBackend([make_invoice("INV-DRAFT", id="70", status=InvoiceStatus.DRAFT)])

    report = compare(left, right)

    assert report.ok, report.to_dict()
    assert (report.equal, report.matched_by_content) == (1, 1)


def test_a_renumbered_invoice_paired_by_content_reports_its_number() -> None:
    left = ListBackend([make_invoice("000007", id="7")])
    right = ListBackend([make_invoice("000009", id="70")])

    report = compare(left, right)

    assert report.matched_by_content == 1
    assert only_difference_of(report) == FieldDifference("number", "000007", "000009")


def test_duplicate_numbers_on_the_left_are_each_compared_with_the_best_candidate() -> None:
    left = ListBackend(
        [
            make_invoice("INV-1", id="1", currency="USD"),
            make_invoice("0001", id="2"),
            make_invoice("2", id="3"),
        ]
    )
    right = ListBackend([make_invoice("1", id="10"), make_invoice("2", id="11")])

    report = compare(left, right)

    # "0001" is the one that agrees with the right's "1": paired; "INV-1" is the extra.
    (dup,) = report.duplicates
    assert (dup.key, dup.paired) == ("1", 1)
    assert [r.id for r in dup.left] == ["1"]
    assert dup.right == []
    assert report.equal == 2
    assert report.only_left == [] and report.only_right == [] and report.different == []
    assert not report.ok


def test_duplicate_numbers_on_both_sides_pair_each_with_its_closest() -> None:
    left = ListBackend(
        [make_invoice("1", id="1"), make_invoice("INV-1", id="2", currency="USD", total=D("9"))]
    )
    changed = make_invoice("01", id="11", currency="USD", total=D("10"))
    right = ListBackend([changed, make_invoice("1", id="10"), make_invoice("001", id="12")])

    report = compare(left, right)

    assert report.equal == 1  # "1" with "1"
    (record,) = report.different  # the USD ones, paired: one difference, not many
    assert (record.left_id, record.right_id) == ("2", "11")
    assert [d.path for d in record.differences] == ["total"]
    (dup,) = report.duplicates
    assert (dup.paired, [r.id for r in dup.left], [r.id for r in dup.right]) == (2, [], ["12"])


def test_duplicates_on_one_side_only_are_reported() -> None:
    left = ListBackend([make_invoice("5", id="1"), make_invoice("005", id="2")])
    report = compare(left, ListBackend([]))

    assert [(d.key, len(d.left), len(d.right)) for d in report.duplicates] == [("5", 2, 0)]
    assert report.only_left == []


def test_since_keeps_invoices_issued_on_or_after_it_on_both_sides() -> None:
    old = make_invoice("1", id="1", issue_date=dt.date(2023, 12, 31))
    new = make_invoice("2", id="2", issue_date=dt.date(2024, 1, 1))
    left = ListBackend([old, new])
    right = ListBackend([new.copy(id="20")])  # `old` was never copied over

    assert not compare(left, right).ok
    report = compare(left, right, since=dt.date(2024, 1, 1))

    assert report.ok
    assert (report.left_count, report.right_count, report.equal) == (1, 1, 1)
    assert report.since == dt.date(2024, 1, 1)


def test_listing_without_lines_is_completed_by_reading_each_invoice() -> None:
    left, right = pair()
    lean = ListBackend(right.invoices, listing_without_lines=True)

    report = compare(left, lean)

    assert report.ok
    assert lean.calls == {"iter_invoices": 1, "get_invoice": 1}


def test_each_side_is_read_once_and_nothing_is_fetched_one_by_one() -> None:
    left = seeded_memory("left", [str(n) for n in range(1, 51)])
    right = seeded_memory("right", [f"INV-{n:06d}" for n in range(1, 51)])
    left.calls.clear()
    right.calls.clear()

    report = compare(left, right)

    assert report.equal == 50
    # One listing, and the one client's record once (compared both ways, once).
    assert left.calls == {"iter_invoices": 1, "get_client": 1}
    assert right.calls == {"iter_invoices": 1, "get_client": 1}
    assert report.clients_compared == 1


def test_progress_is_called_for_every_invoice_of_each_side() -> None:
    seen: list[tuple[str, int]] = []
    left = seeded_memory("left", ["1", "2"])
    right = seeded_memory("right", ["1"])

    compare(left, right, progress=lambda side, count: seen.append((side, count)))

    assert seen == [("left", 1), ("left", 2), ("right", 1)]


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        ({"match": "fuzzy"}, "match"),
        ({"match": "ledger"}, "ledger"),
        ({"match": "number", "ledger": "x.sqlite"}, "ledger"),
    ],
)
def test_bad_arguments_raise_configuration_error(kwargs: dict[str, Any], option: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        compare(*pair(), **kwargs)
    assert info.value.option == option


def test_package_attribute_is_the_function_even_after_importing_the_package() -> None:
    import importlib

    module = importlib.import_module("invoicing_bridge.comparison")
    left, right = pair()
    assert invoicing_bridge.compare is compare is module.compare
    assert invoicing_bridge.compare(left, right).ok


@pytest.mark.parametrize("name", ["migrate", "compare"])
def test_importing_a_job_as_a_module_fails_rather_than_handing_back_the_function(
    name: str,
) -> None:
    import importlib

    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(f"invoicing_bridge.{name}")
    assert callable(getattr(invoicing_bridge, name))  # the package attribute stays


# --------------------------------------------------------------------------- ledger


class FakePairs:
    def __init__(self, pairs: list[tuple[str, str]]):
        self._pairs = pairs
        self.asked: list[tuple[str, str | None, str | None]] = []

    def pairs(
        self, kind: str = "invoice", *, source: str | None = None, target: str | None = None
    ) -> Iterator[tuple[str, str]]:
        self.asked.append((kind, source, target))
        return iter(self._pairs)


def ledger_sides() -> tuple[ListBackend, ListBackend]:
    left = ListBackend(
        [make_invoice("A-1", id="1"), make_invoice("A-2", id="2"), make_invoice("A-3", id="3")]
    )
    right = ListBackend(
        [
            make_invoice("B-1", id="101"),
            make_invoice("B-2", id="102", total=D("1")),
            make_invoice("B-99", id="199"),
        ]
    )
    return left, right


def test_match_by_ledger_with_any_pair_source() -> None:
    left, right = ledger_sides()
    ledger = FakePairs([("1", "101"), ("2", "102")])

    report = compare(left, right, match="ledger", ledger=ledger)

    assert ledger.asked == [
        ("invoice", None, None),
        ("payment", None, None),
        ("client", None, None),
    ]
    assert report.equal == 1
    assert [(r.key, r.left_id, r.right_id) for r in report.different] == [("2", "2", "102")]
    assert [d.path for d in report.different[0].differences] == ["total"]
    assert [(r.id, r.key) for r in report.only_left] == [("3", "3")]
    assert [(r.id, r.key) for r in report.only_right] == [("199", None)]


def test_match_by_ledger_reports_numbers_that_do_not_correspond() -> None:
    left = ListBackend([make_invoice("INV-7", id="1")])
    right = ListBackend([make_invoice("000008", id="101")])

    report = compare(left, right, match="ledger", ledger=FakePairs([("1", "101")]))

    assert only_difference_of(report) == FieldDifference("number", "INV-7", "000008")


def test_match_by_ledger_does_not_compare_the_number_of_a_draft() -> None:
    left = ListBackend([make_invoice("000007", id="1", status=InvoiceStatus.DRAFT)])
    right = ListBackend([make_invoice("INV-DRAFT", id="101", status=InvoiceStatus.DRAFT)])

    report = compare(left, right, match="ledger", ledger=FakePairs([("1", "101")]))

    assert report.ok


def test_match_by_real_ledger_file(tmp_path: Path) -> None:
    left, right = ledger_sides()
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as ledger:
        labels = {"source": left.label, "target": right.label}
        ledger.record_done("invoice", "1", target_id="101", **labels)
        ledger.record_done("invoice", "2", target_id="102", **labels)
        ledger.record_done("client", "1", target_id="102", **labels)  # not an invoice
        ledger.record_failed("invoice", "3", error="refused", **labels)  # not done
        other = {"source": "daftra:https://x.example/api2", "target": "perfex:y"}
        ledger.record_done("invoice", "3", target_id="199", **other)  # another migration

    for given in (path, str(path)):
        report = compare(left, right, match="ledger", ledger=given)
        assert report.equal == 1
        assert [r.key for r in report.different] == ["2"]
        assert [r.id for r in report.only_left] == ["3"]
        assert [r.id for r in report.only_right] == ["199"]

    with Ledger(path) as ledger:
        assert compare(left, right, match="ledger", ledger=ledger).equal == 1


def test_ledger_of_one_other_migration_is_used_and_noted(tmp_path: Path) -> None:
    left, right = ledger_sides()
    with Ledger(tmp_path / "l.sqlite") as ledger:
        ledger.record_done("invoice", "1", source="old:a", target="old:b", target_id="101")

        report = compare(left, right, match="ledger", ledger=ledger)

    assert report.equal == 1
    assert any(
        n.startswith("ledger: pairs of the migration old:a → old:b") for n in report.not_compared
    )


def test_ledger_of_several_other_migrations_is_refused(tmp_path: Path) -> None:
    left, right = ledger_sides()
    with Ledger(tmp_path / "l.sqlite") as ledger:
        ledger.record_done("invoice", "1", source="a", target="b", target_id="101")
        ledger.record_done("invoice", "1", source="c", target="d", target_id="101")

        with pytest.raises(ConfigurationError, match="several others"):
            compare(left, right, match="ledger", ledger=ledger)


def test_missing_ledger_file_raises_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        compare(*ledger_sides(), match="ledger", ledger=tmp_path / "nope.sqlite")
    assert not (tmp_path / "nope.sqlite").exists()


def test_ledger_target_paired_twice_is_noted() -> None:
    left, right = ledger_sides()

    report = compare(left, right, match="ledger", ledger=FakePairs([("1", "101"), ("2", "101")]))

    assert any("paired with several left invoices (1, 2)" in n for n in report.not_compared)
    assert report.equal == 1
    assert [r.id for r in report.only_left] == ["2", "3"]


# --------------------------------------------------------------------------- outputs


def mixed_report() -> ComparisonReport:
    left = ListBackend(
        [make_invoice("1", id="1"), make_invoice("2", id="2"), make_invoice("3", id="3")]
    )
    right = ListBackend(
        [
            make_invoice("INV-1", id="11", total=D("300.50")),
            make_invoice("INV-2", id="12"),
            make_invoice("INV-4", id="14", issue_date=dt.date(2024, 1, 20)),  # not "3"
        ]
    )
    return compare(left, right)


def test_to_dict_is_json_safe_with_decimals_as_strings() -> None:
    data = json.loads(json.dumps(mixed_report().to_dict()))

    assert data["ok"] is False
    assert data["summary"] == {
        "left": 3,
        "right": 3,
        "matched": 2,
        "equal": 1,
        "explained": 0,
        "different": 1,
        "differences": 1,
        "only_left": 1,
        "only_right": 1,
        "duplicates": 0,
        "ambiguous": 0,
        "matched_by_content": 0,
        "clients_compared": 0,
        "clients_different": 0,
    }
    assert data["different"] == [
        {
            "key": "1",
            "left_id": "1",
            "right_id": "11",
            "number": "1",
            "right_number": "INV-1",
            "differences": [{"path": "total", "left": "288.00", "right": "300.50"}],
        }
    ]
    assert data["only_left"] == [{"id": "3", "number": "3", "key": "3"}]
    assert data["only_right"] == [{"id": "14", "number": "INV-4", "key": "4"}]
    assert data["tolerance"] == "0"
    assert data["match"] == "number"


def test_dates_in_to_dict_are_iso_strings() -> None:
    report = compare(*pair(_set("due_date", dt.date(2024, 3, 1))))

    assert report.to_dict()["different"][0]["differences"] == [
        {"path": "due_date", "left": "2024-02-15", "right": "2024-03-01"}
    ]


def test_to_csv_writes_one_row_per_difference_and_per_lone_invoice() -> None:
    buffer = io.StringIO()

    count = mixed_report().to_csv(buffer)

    rows = list(csv.reader(io.StringIO(buffer.getvalue())))
    assert rows[0] == list(CSV_COLUMNS)
    assert count == 3 == len(rows) - 1
    assert rows[1:] == [
        ["different", "1", "1", "11", "1", "INV-1", "total", "288.00", "300.50", "", ""],
        ["only_left", "3", "3", "", "3", "", "", "", "", "", ""],
        ["only_right", "4", "", "14", "", "INV-4", "", "", "", "", ""],
    ]


def test_render_prints_summary_differences_and_notes() -> None:
    out = io.StringIO()

    render(mixed_report(), Console(file=out, width=200, no_color=True))

    text = out.getvalue()
    assert "equal 1" in text and "different 1" in text and "only left 1" in text
    assert "total" in text and "288.00" in text and "300.50" in text
    assert "INV-4" in text
    assert "Not compared:" in text
    assert "The two sides differ." in text


def test_render_shows_paths_with_brackets_verbatim() -> None:
    out = io.StringIO()

    render(compare(*pair(_add_item)), Console(file=out, width=200, no_color=True))

    assert "items[right:3]" in out.getvalue()


def test_the_cli_renders_the_report_on_a_rich_console() -> None:
    from invoicing_bridge.cli.compare import renderable

    out = io.StringIO()

    Console(file=out, width=120, no_color=True).print(renderable(compare(*pair())))

    assert "The two sides agree." in out.getvalue()


def test_the_core_does_not_import_the_command_line() -> None:
    # Rendering belongs to the CLI, which imports the core; never the other way round
    # (ComparisonReport.__rich__ imported invoicing_bridge.cli.compare).
    import ast
    from pathlib import Path

    import invoicing_bridge

    package = Path(invoicing_bridge.__file__).parent
    for path in package.rglob("*.py"):
        if path.relative_to(package).parts[0] in ("cli", "testing"):  # testing drives the CLI
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                names = (node.module or "").split(".") + [a.name for a in node.names]
                assert "cli" not in names, f"{path} imports the CLI"
            elif isinstance(node, ast.Import):
                assert all("cli" not in a.name.split(".") for a in node.names), path


def test_no_secret_or_raw_payload_reaches_the_report() -> None:
    def mutate(invoice: Invoice) -> None:
        invoice.raw = {"api_key": "sk_live_SECRET"}
        invoice.extra = {"token": "SECRET"}
        invoice.total = D("1")

    report = compare(*pair(mutate))

    assert "SECRET" not in json.dumps(report.to_dict())
    buffer = io.StringIO()
    report.to_csv(buffer)
    assert "SECRET" not in buffer.getvalue()


# --------------------------------------------------------------------------- one row per cause


def rebuilt(mutate: Callable[[Invoice], None]) -> Callable[[Invoice], None]:
    """Change lines or payments, then let the totals follow as a backend computes them."""

    def change(invoice: Invoice) -> None:
        mutate(invoice)
        paid = sum((p.amount for p in invoice.payments), D(0))
        fresh = Invoice.build(
            number=invoice.number,
            issue_date=invoice.issue_date,
            currency=invoice.currency,
            client=invoice.client,
            items=[i.copy() if hasattr(i, "copy") else i for i in invoice.items],
            amount_paid=paid,
        )
        for name in ("subtotal", "tax_total", "total", "amount_paid", "balance_due", "status"):
            setattr(invoice, name, getattr(fresh, name))

    return change


def _requantify(invoice: Invoice) -> None:
    invoice.items[0].quantity = D("3")
    invoice.items[0].net_amount = None
    invoice.items[0].tax_amount = None
    invoice.items[0].__post_init__()


def test_a_line_change_is_one_row_with_the_totals_it_changes_under_it() -> None:
    report = compare(*pair(rebuilt(_requantify)))

    (row,) = report.different[0].differences
    assert (row.path, row.left, row.right) == ("items[0].quantity", D("2"), D("3"))
    assert [(d.path, d.left, d.right) for d in row.derived] == [
        ("subtotal", D("270.00"), D("280.00")),
        ("tax_total", D("18.00"), D("19.50")),
        ("total", D("288.00"), D("299.50")),
        ("balance_due", D("208.00"), D("219.50")),
    ]
    assert report.difference_count == 1
    assert row.to_dict()["derived"][0] == {"path": "subtotal", "left": "270.00", "right": "280.00"}


def test_removed_payments_group_amount_paid_balance_and_derived_status() -> None:
    report = compare(*pair(rebuilt(lambda invoice: invoice.payments.clear())))

    rows = report.different[0].differences
    assert [r.path for r in rows] == ["payments[0]", "payments[1]"]
    assert [(d.path, d.left, d.right) for d in rows[0].derived] == [
        ("status", "partially_paid", "open"),
        ("amount_paid", D("80.00"), D("0.00")),
        ("balance_due", D("208.00"), D("288.00")),
    ]


def test_a_total_that_moved_more_than_its_lines_explain_stays_its_own_row() -> None:
    def mutate(invoice: Invoice) -> None:
        rebuilt(_requantify)(invoice)
        invoice.total += D("1.00")
        invoice.balance_due += D("1.00")

    rows = compare(*pair(mutate)).different[0].differences

    assert [r.path for r in rows] == ["total", "items[0].quantity"]
    assert [d.path for d in rows[0].derived] == ["balance_due"]
    assert [d.path for d in rows[1].derived] == ["subtotal", "tax_total"]


def test_a_status_that_does_not_follow_the_amounts_is_its_own_row() -> None:
    def mutate(invoice: Invoice) -> None:
        rebuilt(_drop_payment)(invoice)
        invoice.status = InvoiceStatus.VOID

    rows = compare(*pair(mutate)).different[0].differences

    assert [r.path for r in rows] == ["status", "payments[1]"]
    assert [d.path for d in rows[1].derived] == ["amount_paid", "balance_due"]


def test_a_status_derived_from_unrounded_amounts_compares_on_the_rounded_ones() -> None:
    # Daftra reads 3192.995 and marks 3193.00 paid as overpaid; Perfex says paid.
    def mutate(invoice: Invoice) -> None:
        invoice.total = D("288.004")
        invoice.amount_paid = D("288.00")
        invoice.balance_due = D("0.004")
        invoice.status = InvoiceStatus.PARTIALLY_PAID

    left = make_invoice(amount_paid=D("288.00"), balance_due=D("0"), status=InvoiceStatus.PAID)
    right = make_invoice(number="000001", id="900")
    mutate(right)

    assert compare(ListBackend([left]), ListBackend([right])).ok


# --------------------------------------------------------------------------- text fields


def test_text_fields_ignore_html_breaks_and_whitespace() -> None:
    left_invoice = make_invoice(notes="Thank you.\nCome again", terms="Net 30")
    left_invoice.items[0].description = "Blue widget,\n  large"
    left_invoice.items[0].unit = "Piece"
    right_invoice = make_invoice(
        number="000001", id="900", notes="Thank you.<br />\nCome again ", terms=" Net  30"
    )
    right_invoice.items[0].description = "Blue widget,<br/>large"
    right_invoice.items[0].unit = "piece"

    assert compare(ListBackend([left_invoice]), ListBackend([right_invoice])).ok


@pytest.mark.parametrize(
    ("field", "left_value", "right_value"),
    [
        ("notes", "Thank you", "Thanks"),
        ("terms", "Net 30", "net 30"),  # case counts in prose
        ("items[0].description", "Blue widget", "Red widget"),
        ("items[0].unit", "piece", "box"),
    ],
)
def test_a_text_field_that_differs_is_one_row(
    field: str, left_value: str, right_value: str
) -> None:
    left_invoice, right_invoice = make_invoice(), make_invoice(number="000001", id="900")
    for invoice, value in ((left_invoice, left_value), (right_invoice, right_value)):
        _set(field, value)(invoice)
        for item in invoice.items:  # every field is reported on both sides
            item.description = item.description or "x"
            item.unit = item.unit or "x"
        invoice.notes = invoice.notes or "x"
        invoice.terms = invoice.terms or "x"

    report = compare(ListBackend([left_invoice]), ListBackend([right_invoice]))

    assert only_difference(report) == FieldDifference(field, left_value, right_value)


def test_a_text_field_one_side_never_reports_is_said_once_not_compared() -> None:
    left_invoices = [make_invoice(str(n), id=str(n)) for n in (1, 2)]
    for invoice in left_invoices:
        invoice.items[0].unit = "piece"

    report = compare(
        ListBackend(left_invoices), ListBackend([make_invoice("1"), make_invoice("2", id="2")])
    )

    assert report.ok
    assert "items[*].unit: listed reported none on any invoice read; not compared" in (
        report.not_compared
    )


# --------------------------------------------------------------------------- client records


class RecordsBackend(ListBackend):
    """Invoices carry a copy of the client taken when issued; records are current."""

    name = "records"
    features = ListBackend.features | {Feature.GET_CLIENT}

    def __init__(self, invoices: list[Invoice], clients: dict[str, Client]):
        super().__init__(invoices)
        self.clients = clients

    def get_client(self, id: str) -> Client:
        self._count("get_client")
        return self.clients[id].copy() if hasattr(self.clients[id], "copy") else self.clients[id]


def record(id: str = "c1", **changes: Any) -> Client:
    fields: dict[str, Any] = {
        "name": "Acme Trading LLC",
        "email": "billing@acme.example",
        "tax_number": "300123",
        "address": Address(line1="1 King Fahd Road", city="Riyadh", country="SA"),
    }
    fields.update(changes)
    return Client(id=id, **fields)


def records_pair(
    left_client: Client, right_client: Client, invoices: int = 2
) -> tuple[RecordsBackend, RecordsBackend]:
    lefts = [make_invoice(f"{n:06d}", id=str(n)) for n in range(1, invoices + 1)]
    rights = [make_invoice(f"INV-{n:06d}", id=str(100 + n)) for n in range(1, invoices + 1)]
    for invoice in rights:
        invoice.client.id = "r1"
    return (
        RecordsBackend(lefts, {"c1": left_client}),
        RecordsBackend(rights, {"r1": right_client}),
    )


@pytest.mark.parametrize("side", ["left", "right"])
def test_a_client_email_changed_on_either_side_is_one_client_row(side: str) -> None:
    # The invoices still carry the old email: only the records say it changed.
    changed = record(email="accounts@acme.example")
    left, right = records_pair(
        changed if side == "left" else record(), changed if side == "right" else record(id="r1")
    )
    if side == "left":
        changed.id = "c1"
    else:
        changed.id = "r1"

    report = compare(left, right)

    assert report.equal == 2 and report.different == []
    (client,) = report.clients
    assert (client.left_id, client.right_id, client.invoices) == ("c1", "r1", 2)
    expected = ("billing@acme.example", "accounts@acme.example")
    if side == "left":
        expected = expected[::-1]
    assert [(d.path, d.left, d.right) for d in client.differences] == [("client.email", *expected)]
    assert left.calls["get_client"] == 1 and right.calls["get_client"] == 1
    assert not report.ok


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"name": "Acme Holding"}, "client.name"),
        ({"tax_number": "300999"}, "client.tax_number"),
        (
            {"address": Address(line1="9 Olaya Street", city="Riyadh", country="SA")},
            "client.address.line1",
        ),
        (
            {"address": Address(line1="1 King Fahd Road", city="Jeddah", country="SA")},
            "client.address.city",
        ),
    ],
)
def test_each_client_field_is_compared_once(changes: dict[str, Any], path: str) -> None:
    report = compare(*records_pair(record(), record(id="r1", **changes)))

    (client,) = report.clients
    assert [d.path for d in client.differences] == [path]
    assert report.different == []


def test_client_records_ignore_case_and_whitespace_where_meaningless() -> None:
    right = record(
        id="r1",
        name="ACME  trading llc",
        email=" Billing@ACME.example",
        tax_number="300-123",
        address=Address(line1="1  king fahd road", city="RIYADH", country="sa"),
    )

    assert compare(*records_pair(record(), right)).ok


def test_an_invoice_moved_to_another_client_is_one_client_row_on_the_invoice() -> None:
    other = record(id="r1", name="Nile Trading", email="ap@nile.example", tax_number="1")
    left, right = records_pair(record(), other, invoices=1)

    report = compare(left, right)

    assert only_difference_of(report) == FieldDifference(
        "client", "Acme Trading LLC", "Nile Trading"
    )
    assert report.clients == []


# --------------------------------------------------------------------------- explained


@dataclass
class Entry:
    source_id: str
    changes: tuple[dict[str, Any], ...]


class LedgerWithChanges(FakePairs):
    """A ledger whose entries carry the changes the migration reported (its
    ``transformed`` outcome), as the migration's ledger keeps them."""

    def __init__(self, pairs: list[tuple[str, str]], changes: dict[str, list[dict[str, Any]]]):
        super().__init__(pairs)
        self.changes = changes

    def entries(
        self,
        kind: str | None = None,
        *,
        source: str | None = None,
        target: str | None = None,
        state: str | None = None,
    ) -> Iterator[Entry]:
        for source_id, changes in self.changes.items():
            yield Entry(source_id, tuple(changes))


def _rounded_price(invoice: Invoice) -> None:
    invoice.items[1].unit_price = D("99.99")


def test_a_difference_the_migration_reported_is_explained_not_a_difference() -> None:
    left, right = pair(_rounded_price)
    change = {
        "field": "items[1].unit_price",
        "old": "100.00",
        "new": "99.99",
        "rule": "amount_rounding",
        "note": None,
    }

    report = compare(left, right, ledger=LedgerWithChanges([("1", "900")], {"1": [change]}))

    assert report.ok, report.to_dict()
    assert report.different == [] and report.equal == 0
    (record,) = report.explained
    (row,) = record.differences
    assert (row.path, row.explained) == ("items[1].unit_price", "migration: amount_rounding")
    assert report.summary()["explained"] == 1 and report.difference_count == 0


def test_a_difference_beyond_the_reported_change_is_still_a_difference() -> None:
    def mutate(invoice: Invoice) -> None:
        invoice.items[1].unit_price = D("99.50")  # the migration said 99.99
        invoice.due_date = None

    change = {"field": "items[1].unit_price", "old": "100.00", "new": "99.99", "rule": "r"}
    report = compare(*pair(mutate), ledger=LedgerWithChanges([("1", "900")], {"1": [change]}))

    (record,) = report.different
    assert [(d.path, d.explained) for d in record.differences] == [
        ("due_date", None),
        ("items[1].unit_price", None),
    ]
    assert not report.ok


def test_without_reported_changes_nothing_is_explained() -> None:
    report = compare(*pair(_rounded_price), ledger=FakePairs([("1", "900")]))

    assert report.explained == [] and len(report.different) == 1


def test_explained_differences_are_rendered_apart_in_every_format() -> None:
    change = {"field": "items[1].unit_price", "old": "100.00", "new": "99.99", "rule": "rounding"}
    report = compare(
        *pair(_rounded_price), ledger=LedgerWithChanges([("1", "900")], {"1": [change]})
    )
    out = io.StringIO()
    render(report, Console(file=out, width=200, no_color=True))
    buffer = io.StringIO()
    report.to_csv(buffer)

    assert "Explained by the migration (1 invoices)" in out.getvalue()
    assert "explained: migration: rounding" in out.getvalue()
    (row,) = list(csv.DictReader(io.StringIO(buffer.getvalue())))
    assert (row["kind"], row["explained"]) == ("explained", "migration: rounding")
    assert report.to_dict()["explained"][0]["differences"][0]["explained"] == (
        "migration: rounding"
    )
    assert 'data-kind="explained"' in report.to_html()


# --------------------------------------------------------------------------- payment dates


def _recorded(day: dt.date, pid: str = "p1") -> Callable[[Invoice], None]:
    """Like Perfex: the right side's first payment says when it was recorded."""

    def mutate(invoice: Invoice) -> None:
        payment = invoice.payments[0]
        payment.id = pid
        payment.date = dt.date(2024, 2, 3)
        payment.extra["recorded_at"] = f"{day.isoformat()}T10:15:00"

    return mutate


def test_a_date_set_in_the_screens_of_a_backend_that_dates_api_payments_is_compared() -> None:
    # Recorded on the 9th for the 3rd: a user chose the date.
    left, right = pair(_recorded(dt.date(2024, 2, 9)), right_cls=DatesPaymentsItselfBackend)

    report = compare(left, right)

    assert only_difference(report) == FieldDifference(
        "payments[0].date", dt.date(2024, 2, 1), dt.date(2024, 2, 3)
    )


def test_a_date_on_the_day_of_recording_is_not_compared_without_a_ledger_and_counted() -> None:
    left, right = pair(_recorded(dt.date(2024, 2, 3)), right_cls=DatesPaymentsItselfBackend)

    report = compare(left, right)

    assert report.ok
    assert any(n.startswith("payments[*].date: 1 paired payments") for n in report.not_compared)


def test_with_a_ledger_only_payments_the_migration_recorded_keep_their_date_unchecked() -> None:
    left, right = pair(_recorded(dt.date(2024, 2, 3)), right_cls=DatesPaymentsItselfBackend)

    class Pairs(FakePairs):
        def pairs(self, kind: str = "invoice", **labels: Any) -> Iterator[tuple[str, str]]:
            if kind == "payment":
                return iter(self.payments)
            return super().pairs(kind, **labels)

    recorded_by_migration = Pairs([("1", "900")])
    recorded_by_migration.payments = [("1#0", "p1")]
    recorded_by_user = Pairs([("1", "900")])
    recorded_by_user.payments = []

    assert compare(left, right, ledger=recorded_by_migration).ok
    report = compare(left, right, ledger=recorded_by_user)
    assert only_difference(report) == FieldDifference(
        "payments[0].date", dt.date(2024, 2, 1), dt.date(2024, 2, 3)
    )


def test_a_line_the_migration_added_is_explained_by_its_position() -> None:
    change = {"field": "items[3]", "old": None, "new": "20.00", "rule": "tax_rounding"}
    report = compare(*pair(_add_item), ledger=LedgerWithChanges([("1", "900")], {"1": [change]}))

    (record,) = report.explained
    assert [(d.path, d.explained) for d in record.differences] == [
        ("items[right:3]", "migration: tax_rounding")
    ]
