"""``iter_invoices(status=...)`` takes the enum or its string values, and refuses a typo
instead of silently matching nothing (issue 17). The contract suite asserts the same of
every backend; this is the shared helper and the memory backend."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from invoicing_bridge import Client, Invoice, InvoiceStatus, LineItem
from invoicing_bridge.backends.memory import MemoryBackend


@pytest.mark.parametrize(
    ("value", "member"),
    [
        (InvoiceStatus.OPEN, InvoiceStatus.OPEN),
        ("open", InvoiceStatus.OPEN),
        ("Partially_Paid", InvoiceStatus.PARTIALLY_PAID),
        (" paid ", InvoiceStatus.PAID),
        (None, None),
    ],
)
def test_coerce_accepts_members_and_their_values(
    value: InvoiceStatus | str | None, member: InvoiceStatus | None
) -> None:
    assert InvoiceStatus.coerce(value) is member


@pytest.mark.parametrize("value", ["opn", "", "overdue", 1])
def test_coerce_refuses_unknown_values_naming_the_accepted_ones(value: object) -> None:
    with pytest.raises(ValueError) as caught:
        InvoiceStatus.coerce(value)  # type: ignore[arg-type]
    assert f"unknown invoice status {value!r}" in str(caught.value)
    assert "open, partially_paid, paid" in str(caught.value)


def test_memory_string_status_finds_what_the_member_finds() -> None:
    backend = MemoryBackend()
    client = backend.create_client(Client(name="Nile Trading"))
    for n in range(3):
        backend.create_invoice(
            Invoice.build(
                number=f"INV-{n}",
                issue_date=dt.date(2026, 1, 1),
                currency="EGP",
                client=client,
                items=[LineItem("Tea", Decimal("1"), Decimal("10.00"))],
                amount_paid=Decimal("10.00") if n == 0 else Decimal("0"),
            )
        )
    by_member = [i.number for i in backend.iter_invoices(status=InvoiceStatus.OPEN)]
    assert by_member == ["INV-1", "INV-2"]
    assert [i.number for i in backend.iter_invoices(status="open")] == by_member
    with pytest.raises(ValueError, match="unknown invoice status 'opn'"):
        list(backend.iter_invoices(status="opn"))
