"""``Invoice.check()`` (arithmetic consistency) and ``is_overdue`` / ``is_overdue_on``."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from invoicing_bridge.models import (
    Client,
    Invoice,
    InvoiceStatus,
    LineItem,
    Payment,
    PaymentStatus,
    TaxRate,
)

D = Decimal
ISSUED = dt.date(2024, 3, 1)


def consistent_invoice(**kwargs: Any) -> Invoice:
    """Two lines (one discounted and taxed), an invoice discount, an adjustment, one payment."""
    items = [
        LineItem(
            name="Widget",
            quantity=D("3"),
            unit_price=D("19.99"),
            discount=D("5.00"),
            taxes=[TaxRate("VAT", D("14"))],
        ),
        LineItem(name="خدمة تركيب", quantity=D("1.5"), unit_price=D("200.0000")),
    ]
    options: dict[str, Any] = {
        "number": "INV-000007",
        "issue_date": ISSUED,
        "currency": "EGP",
        "client": Client(name="ACME", id="1"),
        "items": items,
        "discount_total": D("10"),
        "adjustment": D("2.50"),
        "amount_paid": D("100"),
        "payments": [Payment(amount=D("100"), date=ISSUED, method="cash")],
    }
    options.update(kwargs)
    return Invoice.build(**options)


def rules(invoice: Invoice, **kw: Any) -> list[tuple[str, str]]:
    return [(p.rule, p.field) for p in invoice.check(**kw)]


def test_built_invoice_is_consistent() -> None:
    invoice = consistent_invoice()
    # The build really computed something (not a vacuous all-zero invoice).
    assert invoice.subtotal == D("354.97")
    assert invoice.tax_total == D("7.6958")
    assert invoice.total == D("355.1658")
    assert invoice.check() == []


amounts = st.decimals(min_value=0, max_value=100_000, places=4, allow_nan=False)
quantities = st.decimals(min_value=0, max_value=1000, places=2, allow_nan=False)


@settings(max_examples=50, deadline=None)
@given(
    lines=st.lists(
        st.tuples(
            quantities,
            amounts,
            st.lists(st.sampled_from([D("0"), D("5"), D("14"), D("15")]), max_size=2),
        ),
        min_size=1,
        max_size=4,
    ),
    discount_total=amounts,
    adjustment=st.decimals(min_value=-100, max_value=100, places=2, allow_nan=False),
    paid=amounts,
)
def test_any_built_invoice_is_consistent(
    lines: list[tuple[Decimal, Decimal, list[Decimal]]],
    discount_total: Decimal,
    adjustment: Decimal,
    paid: Decimal,
) -> None:
    items = [
        LineItem(name=f"l{i}", quantity=q, unit_price=p, taxes=[TaxRate("t", r) for r in rates])
        for i, (q, p, rates) in enumerate(lines)
    ]
    invoice = consistent_invoice(
        items=items,
        discount_total=discount_total,
        adjustment=adjustment,
        amount_paid=paid,
        payments=[Payment(amount=paid, date=ISSUED, method="card")] if paid else [],
    )
    assert invoice.check() == []


def test_line_net_not_matching_quantity_times_price_minus_discount_is_reported() -> None:
    invoice = consistent_invoice()
    invoice.items[0].unit_price += 1  # net_amount stays as stated
    problems = invoice.check()
    assert [(p.rule, p.field) for p in problems] == [("line-net", "items[0].net_amount")]
    assert problems[0].expected == D("3") * D("20.99") - D("5.00")
    assert problems[0].actual == D("54.97")


def test_subtotal_not_matching_sum_of_line_nets_is_reported() -> None:
    invoice = consistent_invoice()
    invoice.subtotal += 1
    invoice.total += 1  # keep the other rules satisfied
    invoice.balance_due += 1
    problems = invoice.check()
    assert [(p.rule, p.field) for p in problems] == [("BR-CO-10", "subtotal")]
    assert problems[0].expected == D("354.97")
    assert problems[0].actual == D("355.97")


def test_tax_total_not_matching_sum_of_line_taxes_is_reported() -> None:
    invoice = consistent_invoice()
    invoice.tax_total += 1
    invoice.total += 1
    invoice.balance_due += 1
    assert rules(invoice) == [("BR-CO-14", "tax_total")]


def test_tax_total_is_not_checked_when_a_line_does_not_state_its_tax() -> None:
    invoice = consistent_invoice()
    invoice.items[1].tax_amount = None
    invoice.tax_total += 1
    invoice.total += 1
    invoice.balance_due += 1
    assert rules(invoice) == []


def test_total_not_matching_its_parts_is_reported() -> None:
    invoice = consistent_invoice()
    invoice.total += D("0.50")
    invoice.balance_due += D("0.50")
    problems = invoice.check()
    assert [(p.rule, p.field) for p in problems] == [("BR-CO-15", "total")]
    assert problems[0].expected == D("355.1658")


@pytest.mark.parametrize("part", ["discount_total", "adjustment"])
def test_total_rule_uses_discount_and_adjustment(part: str) -> None:
    invoice = consistent_invoice()
    setattr(invoice, part, getattr(invoice, part) + 3)
    assert rules(invoice) == [("BR-CO-15", "total")]


def test_balance_due_not_total_minus_paid_is_reported() -> None:
    invoice = consistent_invoice()
    invoice.balance_due -= 1
    problems = invoice.check()
    assert [(p.rule, p.field) for p in problems] == [("BR-CO-16", "balance_due")]
    assert problems[0].expected == invoice.total - D("100")


def test_completed_payments_not_matching_amount_paid_is_reported() -> None:
    invoice = consistent_invoice()
    invoice.payments[0].amount = D("90")
    problems = invoice.check()
    assert [(p.rule, p.field) for p in problems] == [("payments", "amount_paid")]
    assert (problems[0].expected, problems[0].actual) == (D("90"), D("100"))


@pytest.mark.parametrize("status", [PaymentStatus.PENDING, PaymentStatus.FAILED])
def test_payments_that_did_not_complete_do_not_count_as_paid(status: PaymentStatus) -> None:
    invoice = consistent_invoice()
    invoice.payments.append(Payment(amount=D("50"), date=ISSUED, method="card", status=status))
    assert invoice.check() == []


def test_several_broken_rules_are_all_reported() -> None:
    invoice = consistent_invoice()
    invoice.items[0].unit_price += 1
    invoice.balance_due = D("0")
    assert {rule for rule, _ in rules(invoice)} == {"line-net", "BR-CO-16"}


def test_inconsistency_text_names_rule_field_and_values() -> None:
    invoice = consistent_invoice()
    invoice.balance_due += 1
    (problem,) = invoice.check()
    assert str(problem) == (
        f"BR-CO-16: balance_due is {invoice.balance_due}, expected {invoice.total - D('100')}"
    )


@pytest.mark.parametrize(
    ("off_by", "tolerance", "reported"),
    [
        (D("0.01"), None, False),  # default tolerance: one cent
        (D("0.0100"), None, False),
        (D("0.0101"), None, True),
        (D("-0.02"), None, True),
        (D("0.01"), D("0"), True),
        (D("0.50"), D("1"), False),
        (D("1.01"), D("1"), True),
    ],
)
def test_check_tolerance_is_respected(
    off_by: Decimal, tolerance: Decimal | None, reported: bool
) -> None:
    invoice = consistent_invoice()
    invoice.balance_due += off_by
    kw = {} if tolerance is None else {"tolerance": tolerance}
    assert bool(invoice.check(**kw)) is reported


# --------------------------------------------------------------------------- overdue

TODAY = dt.date(2024, 6, 15)


@pytest.mark.parametrize(
    ("status", "due_date", "balance", "overdue"),
    [
        (InvoiceStatus.OPEN, TODAY - dt.timedelta(days=1), D("10"), True),
        (InvoiceStatus.PARTIALLY_PAID, TODAY - dt.timedelta(days=30), D("0.01"), True),
        (InvoiceStatus.UNKNOWN, TODAY - dt.timedelta(days=1), D("10"), True),
        (InvoiceStatus.DRAFT, TODAY - dt.timedelta(days=1), D("10"), False),
        (InvoiceStatus.VOID, TODAY - dt.timedelta(days=1), D("10"), False),
        (InvoiceStatus.OPEN, TODAY - dt.timedelta(days=1), D("0"), False),
        (InvoiceStatus.OVERPAID, TODAY - dt.timedelta(days=1), D("-5"), False),
        (InvoiceStatus.OPEN, TODAY, D("10"), False),  # due today is not yet overdue
        (InvoiceStatus.OPEN, TODAY + dt.timedelta(days=1), D("10"), False),
        (InvoiceStatus.OPEN, None, D("10"), False),
    ],
)
def test_is_overdue_on_truth_table(
    status: InvoiceStatus, due_date: dt.date | None, balance: Decimal, overdue: bool
) -> None:
    invoice = Invoice(
        number="1",
        issue_date=TODAY - dt.timedelta(days=60),
        currency="EGP",
        client=Client(name="ACME"),
        status=status,
        due_date=due_date,
        balance_due=balance,
    )
    assert invoice.is_overdue_on(TODAY) is overdue


@pytest.mark.parametrize(("days", "overdue"), [(-1, True), (0, False), (1, False)])
def test_is_overdue_compares_with_today(days: int, overdue: bool) -> None:
    today = dt.date.today()
    invoice = Invoice(
        number="1",
        issue_date=today - dt.timedelta(days=60),
        currency="EGP",
        client=Client(name="ACME"),
        due_date=today + dt.timedelta(days=days),
        balance_due=D("10"),
    )
    assert invoice.is_overdue is overdue
