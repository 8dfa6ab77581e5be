"""The planning stage alone: each transformation keeps the total to the cent and says what
it changed, against targets that refuse what Perfex and Daftra refuse."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from invoicing_bridge import Client, Invoice, InvoiceStatus, LineItem, Payment, TaxRate
from invoicing_bridge.backends.memory import MemoryBackend
from invoicing_bridge.exceptions import Expected, MappingError
from invoicing_bridge.migration.job import RecordFailed
from invoicing_bridge.migration.plan import Planner, check_policy, largest_remainder

D = Decimal
CENT = D("0.01")
VAT = TaxRate("VAT", D("14"))


class CentsTarget(MemoryBackend):
    """Like Perfex: cents only, no line discounts, tax on each line unrounded then rounded
    once, and refuses an invoice whose tax says otherwise (its own figure as data)."""

    money_places = 2

    def validate_invoice(self, invoice: Invoice) -> None:
        for index, item in enumerate(invoice.items):
            if item.discount:
                raise MappingError(
                    "no line discounts", backend="t", field=f"items[{index}].discount"
                )
        own = sum((i.net * t.rate / 100 for i in invoice.items for t in i.taxes), D(0))
        own = own.quantize(CENT, ROUND_HALF_UP)
        if own != invoice.tax_total.quantize(CENT, ROUND_HALF_UP):
            raise MappingError(
                f"t computes tax_total {own} for these lines, the invoice says {invoice.tax_total}",
                backend="t",
                field="tax_total",
                expected=[Expected("tax_total", own, invoice.tax_total)],
            )


def invoice(items: list[LineItem], **kw: Any) -> Invoice:
    return Invoice.build(
        number=kw.pop("number", "INV-7"),
        issue_date=dt.date(2026, 1, 5),
        currency="EGP",
        client=Client(name="Acme", email="a@acme.test"),
        items=items,
        **kw,
    )


def plan_for(target: MemoryBackend, source: Invoice, **policy: str) -> Any:
    return Planner(MemoryBackend(), target, policy).plan(source)


def test_largest_remainder_adds_up_to_the_rounded_total() -> None:
    amounts = [D("493.8232"), D("740.7446")]
    assert largest_remainder(amounts, D("1234.57"), 2) == [D("493.82"), D("740.75")]
    assert largest_remainder([D("0.333"), D("0.333"), D("0.334")], D("1.00"), 2) == [
        D("0.33"),
        D("0.33"),
        D("0.34"),
    ]


def test_a_line_discount_is_folded_into_the_price_where_exact() -> None:
    source = invoice([LineItem("Tea", D("3"), D("12.50"), discount=D("3.00"), taxes=[VAT])])
    plan = plan_for(CentsTarget(), source)
    (item,) = plan.invoice.items
    assert (item.unit_price, item.discount) == (D("11.50"), 0)
    assert plan.invoice.total == source.total
    assert {(c.field, c.old, c.new) for c in plan.changes} == {
        ("items[0].unit_price", "12.50", "11.50"),
        ("items[0].discount", "3.00", "0"),
    }


def test_an_inexact_line_discount_becomes_a_discount_line_with_the_same_taxes() -> None:
    source = invoice([LineItem("Tea", D("3"), D("10.00"), discount=D("1.005"), taxes=[VAT])])
    plan = plan_for(CentsTarget(), source)
    line, discount = plan.invoice.items
    assert line.unit_price == D("10.00") and line.discount == 0
    assert discount.unit_price == D("-1.01") and discount.taxes == [VAT]
    # The target's cents add up to the source's total, rounded: 28.99 + 4.06 + 0.00.
    sent = plan.invoice
    assert sent.total == source.total.quantize(CENT, ROUND_HALF_UP) == D("33.05")
    assert sent.subtotal - sent.discount_total + sent.tax_total + sent.adjustment == sent.total
    assert all(
        c.new is None or "." not in c.new or len(c.new.split(".")[1]) <= 2 for c in plan.changes
    )
    added = [c for c in plan.changes if c.field == "items[1]"]
    assert len(added) == 1 and "1 x -1.01" in (added[0].note or "")


def test_a_tax_the_target_rounds_otherwise_gets_a_labelled_adjustment() -> None:
    # Rounded per line (the source): 0.07 + 0.07 = 0.14; once (the target): 0.13.
    items = [LineItem(f"Pen {i}", D("1"), D("0.47"), taxes=[VAT]) for i in range(2)]
    for item in items:
        item.tax_amount = D("0.07")
    source = invoice(items)
    assert source.tax_total == D("0.14")
    plan = plan_for(CentsTarget(), source)
    assert plan.invoice.tax_total == D("0.13") and plan.invoice.adjustment == D("0.01")
    assert plan.invoice.total == source.total
    notes = [c.note or "" for c in plan.changes if c.field == "adjustment"]
    assert notes and "tax rounding adjustment of 0.01" in notes[0]
    with pytest.raises(RecordFailed, match="policy tax_rounding=fail"):
        plan_for(CentsTarget(), source, tax_rounding="fail")


def test_four_place_payments_are_rounded_to_add_up_and_each_delta_reported() -> None:
    source = invoice([LineItem("Box", D("1"), D("1234.57"))])
    source.payments = [
        Payment(amount=D("493.8232"), date=dt.date(2026, 2, 1), method="cash"),
        Payment(amount=D("740.7468"), date=dt.date(2026, 2, 2), method="cash"),
    ]
    source.amount_paid = sum((p.amount for p in source.payments), D(0))
    plan = plan_for(CentsTarget(), source)
    assert [p.amount for p in plan.payments] == [D("493.82"), D("740.75")]
    assert plan.amount_paid == source.total  # paid in full stays paid in full
    assert {(c.field, c.old, c.new) for c in plan.changes if c.rule == "amount_rounding"} == {
        ("payments[0].amount", "493.8232", "493.82"),
        ("payments[1].amount", "740.7468", "740.75"),
    }
    with pytest.raises(RecordFailed, match="amount_rounding=fail"):
        plan_for(CentsTarget(), source, amount_rounding="fail")


@pytest.mark.parametrize(
    ("price", "paid", "owed"),
    [
        # Daftra's realistic seeds (2, 3, 4): a half-cent total and a four-place payment.
        ("6267.475", ["2945.7132"], "3321.76"),
        ("1467.105", ["733.5525"], "733.55"),
        ("79628.935", ["58925.4119"], "20703.52"),
        ("1125.5", ["754.085"], "371.42"),
        ("300.005", ["100.0025", "99.9975"], "100.01"),
    ],
)
def test_a_part_paid_invoice_keeps_its_balance_due_to_the_cent(
    price: str, paid: list[str], owed: str
) -> None:
    source = invoice([LineItem("Box", D("1"), D(price))])
    source.payments = [Payment(amount=D(a), date=dt.date(2026, 2, 1), method="cash") for a in paid]
    source.amount_paid = sum((p.amount for p in source.payments), D(0))
    source.balance_due = source.total - source.amount_paid
    assert source.balance_due.quantize(CENT, ROUND_HALF_UP) == D(owed)
    plan = plan_for(CentsTarget(), source)
    total = plan.invoice.total
    assert total == source.total.quantize(CENT, ROUND_HALF_UP)
    # What the customer owes in the target is what the source says, to the cent: no
    # rounding cent lost between the rounded total and the rounded payments.
    assert total - plan.amount_paid == D(owed)
    for planned, exact in zip(plan.payments, source.payments, strict=True):
        assert abs(planned.amount - exact.amount) < CENT  # each within its rounding
    rounded = [c for c in plan.changes if c.field.startswith("payments[")]
    assert len(rounded) == sum(1 for p in paid if D(p) != D(p).quantize(CENT))


def test_void_is_skipped_or_failed_by_policy() -> None:
    class NoVoid(MemoryBackend):
        features = MemoryBackend.features - {"invoices.void"}

    source = invoice([LineItem("Tea", D("1"), D("5"))], status=InvoiceStatus.VOID)
    assert (plan_for(NoVoid(), source).skip or "").startswith("void:")
    with pytest.raises(RecordFailed, match="policy void=fail"):
        plan_for(NoVoid(), source, void="fail")


def test_unknown_policies_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown case"):
        check_policy({"rounding": "transform"})
    with pytest.raises(ValueError, match="not one of skip, fail"):
        check_policy({"void": "transform"})


def test_line_taxes_a_source_does_not_report_are_inferred_when_one_rate_gives_the_tax() -> None:
    class NoTaxDetail(MemoryBackend):
        features = MemoryBackend.features - {"items.tax_detail"}

    source = invoice([LineItem("Desk", D("5"), D("6790.00")), LineItem("Pen", D("1"), D("0.50"))])
    source.tax_total = D("4753.07")  # 14% of 33950.50
    source.total = source.subtotal + source.tax_total
    plan = Planner(NoTaxDetail(), CentsTarget(), {}).plan(source)
    assert [i.taxes for i in plan.invoice.items] == [[TaxRate("Tax 14%", D("14.00"))]] * 2
    assert [c.field for c in plan.changes] == ["items[0].taxes", "items[1].taxes"]
    source.tax_total = D("4000.00")  # no single rate gives this
    source.total = source.subtotal + source.tax_total
    with pytest.raises(RecordFailed, match="no single rate"):
        Planner(NoTaxDetail(), CentsTarget(), {}).plan(source)
    with pytest.raises(RecordFailed, match="policy line_taxes=fail"):
        Planner(NoTaxDetail(), CentsTarget(), {"line_taxes": "fail"}).plan(source)


def test_a_draft_placeholder_never_becomes_a_number() -> None:
    drafts = []
    for sid in ("120", "121"):
        source = invoice([LineItem("Tea", D("1"), D("5"))], number="INV-DRAFT")
        source.status, source.id = InvoiceStatus.DRAFT, sid
        drafts.append(plan_for(CentsTarget(), source))
    assert [p.invoice.number for p in drafts] == ["DRAFT-BCA", "DRAFT-BCB"]
    assert [(c.field, c.old, c.new) for c in drafts[0].changes] == [
        ("number", "INV-DRAFT", "DRAFT-BCA")
    ]
    numbered = invoice([LineItem("Tea", D("1"), D("5"))], number="000007")
    numbered.status = InvoiceStatus.DRAFT
    assert plan_for(CentsTarget(), numbered).invoice.number == "000007"


class TextOnlyTarget(CentsTarget):
    """Refuses the tax with its figure in the text only: nothing structured to adopt."""

    def validate_invoice(self, invoice: Invoice) -> None:
        try:
            super().validate_invoice(invoice)
        except MappingError as exc:
            raise MappingError(str(exc), backend="t", field=exc.field) from None


def test_the_tax_figure_is_read_from_the_error_not_its_text() -> None:
    source = invoice(
        [
            LineItem("A", D("1"), D("10.04"), taxes=[VAT]),
            LineItem("B", D("1"), D("10.04"), taxes=[VAT]),
        ]
    )
    source.tax_total = D("2.82")  # per line: 1.41 + 1.41; the target computes 2.81 once
    source.total = source.subtotal + source.tax_total
    plan = plan_for(CentsTarget(), source)
    assert plan.invoice.tax_total == D("2.81") and plan.invoice.total == source.total
    assert any(c.rule == "tax_rounding" for c in plan.changes)
    with pytest.raises(RecordFailed, match=r"computes tax_total 2\.81"):
        plan_for(TextOnlyTarget(), source)  # the text says 2.81, but text is not parsed
