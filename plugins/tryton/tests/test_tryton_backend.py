"""Tryton-only behaviour against the real server: clients found by their whole tax
number, and credit notes (which the neutral model has no room for) kept out of the
invoices and counted."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest

from invoicing_bridge import Client, Invoice, InvoiceStatus, LineItem, TaxRate
from invoicing_bridge.backends.base import InvoicingBackend
from invoicing_bridge.exceptions import NotFound

pytestmark = pytest.mark.timeout(1200)  # the first run builds the cached database

D = Decimal


def _digits() -> str:
    return f"{uuid.uuid4().int % 10**8:08d}"


def test_find_client_by_tax_number_compares_the_whole_normalised_identifier(
    tryton: InvoicingBackend,
) -> None:
    digits = _digits()
    # Stored with spaces inside the last four characters: a search on the query's last
    # four ("4004") would never have reached it.
    stored = tryton.create_client(Client(name=f"Delta {digits}", tax_number=f"EG {digits} 4 004"))
    # Another party sharing the last digits, not the identifier.
    tryton.create_client(Client(name=f"Other {digits}", tax_number=f"EG 9{digits[1:]}4004"))
    for query in (f"EG{digits}4004", f"eg-{digits}-4004", f" EG.{digits}.4.004 "):
        found = tryton.find_client(tax_number=query)
        assert found is not None and found.id == stored.id, query
    assert tryton.find_client(tax_number=f"{digits}4004") is None  # the country prefix counts
    assert tryton.find_client(tax_number=f"EG{digits}400") is None  # so does every digit


def _invoice(tryton: InvoicingBackend, client: Client, day: int) -> Invoice:
    return tryton.create_invoice(
        Invoice.build(
            number=f"CN-{uuid.uuid4().hex[:8]}",
            issue_date=dt.date(2025, 3, day),
            due_date=dt.date(2025, 4, day),
            currency="USD",
            client=client,
            items=[LineItem("Consulting", D("2"), D("120.50"), taxes=[TaxRate("VAT", D("15"))])],
        )
    )


def _credit(tryton: Any, invoice_id: str, *, refund: bool) -> None:
    """Tryton's Credit wizard on one posted invoice, as the desktop client runs it."""
    wizard = "wizard.account.invoice.credit"
    active = {
        "active_model": "account.invoice",
        "active_id": int(invoice_id),
        "active_ids": [int(invoice_id)],
    }
    session, start, _ = tryton.rpc.call(f"{wizard}.create")
    try:
        tryton.rpc.call_with_context(f"{wizard}.execute", [session, {}, start], active)
        data = {"start": {"with_refund": refund, "with_refund_allowed": True}}
        tryton.rpc.call_with_context(f"{wizard}.execute", [session, data, "credit"], active)
    finally:
        tryton.rpc.call(f"{wizard}.delete", session)


def test_credit_notes_are_not_invoices_and_are_counted_as_not_migrated(
    tryton: InvoicingBackend,
) -> None:
    before = tryton.unmigrated_counts()
    assert before is not None and set(before) == {"credit_note", "supplier_invoice"}
    client = tryton.create_client(Client(name=f"Credited {_digits()}"))
    refunded = _invoice(tryton, client, 3)
    credited = _invoice(tryton, client, 4)
    _credit(tryton, str(refunded.id), refund=True)  # posted credit note, invoice cancelled
    _credit(tryton, str(credited.id), refund=False)  # a draft credit note, invoice kept

    notes = tryton.rpc.call(  # type: ignore[attr-defined]
        "model.account.invoice.search",
        [("type", "=", "out"), ("party", "=", int(str(client.id))), ("total_amount", "<", 0)],
        0,
        None,
        None,
    )
    assert len(notes) == 2
    listed = {i.id for i in tryton.iter_invoices(client_id=client.id)}
    assert listed == {refunded.id, credited.id}
    for note in notes:
        with pytest.raises(NotFound, match="credit note"):
            tryton.get_invoice(str(note))
    after = tryton.unmigrated_counts()
    assert after is not None and after["credit_note"] == before["credit_note"] + 2

    # The invoice the credit note refunded reads as refunded, nothing left to pay; the
    # one credited without refund stays open.
    back = tryton.get_invoice(str(refunded.id))
    assert (back.status, back.total, back.balance_due) == (
        InvoiceStatus.REFUNDED,
        refunded.total,
        0,
    )
    assert tryton.get_invoice(str(credited.id)).status is InvoiceStatus.OPEN
    assert [i.id for i in tryton.iter_invoices(status="refunded", client_id=client.id)] == [
        refunded.id
    ]
    assert [i.id for i in tryton.iter_invoices(status="void", client_id=client.id)] == []


@pytest.fixture(scope="module")
def application_key(tryton: Any) -> str:
    """A user application key of the admin user (validated, as the desktop client's
    Preferences → Applications gives one)."""
    (created,) = tryton.rpc.call(
        "model.res.user.application.create", [{"user": 1, "application": "rest"}]
    )
    (row,) = tryton.rpc.call("model.res.user.application.read", [created], ["key", "state"])
    assert row["state"] == "validated"
    return str(row["key"])


def test_an_application_key_reads_and_writes_over_rest(
    tryton_server: dict[str, Any], tryton: InvoicingBackend, application_key: str
) -> None:
    from invoicing_bridge import get_backend
    from invoicing_bridge.backends.base import Feature
    from invoicing_bridge.exceptions import UnsupportedOperation

    options = {k: v for k, v in tryton_server.items() if k not in ("login", "password")}
    with get_backend("tryton", **options, application_key=application_key) as rest:
        assert rest.check_connection()["user_id"] == 1
        assert Feature.RECORD_PAYMENT not in rest.features
        assert Feature.RECORD_PAYMENT in tryton.features
        digits = _digits()
        client = rest.create_client(
            Client(name=f"Rest {digits}", email=f"rest-{digits}@example.com", tax_number=digits)
        )
        assert rest.find_client(email=f"REST-{digits}@example.com") == client
        # Posted (its due date is past: Tryton's warning is confirmed beforehand).
        invoice = _invoice(rest, client, 10)
        assert invoice.status is InvoiceStatus.OPEN and invoice.extra["tryton_number"]
        assert tryton.get_invoice(str(invoice.id)) == invoice  # as JSON-RPC reads it
        invoice.notes = "Updated over REST"
        assert rest.update_invoice(invoice).notes == "Updated over REST"
        assert [i.id for i in rest.iter_invoices(client_id=client.id)] == [invoice.id]
        assert rest.ex_cancel_invoice(str(invoice.id)).status is InvoiceStatus.VOID
        with pytest.raises(UnsupportedOperation, match="Pay wizard"):
            rest.record_payment(
                invoice.payments[0] if invoice.payments else _payment(str(invoice.id))
            )
        with pytest.raises(NotFound):
            rest.get_invoice("999999")
        # A draft is rewritten whole (its lines deleted and created in one write), and
        # deleted the way a failed create discards its draft.
        draft = rest.create_invoice(
            Invoice.build(
                number=f"CN-{uuid.uuid4().hex[:8]}",
                issue_date=dt.date(2025, 3, 12),
                currency="USD",
                client=client,
                items=[LineItem("Consulting", D("1"), D("100.00"))],
                status=InvoiceStatus.DRAFT,
            )
        )
        draft.items = [LineItem("Training", D("3"), D("80.00"))]
        draft.subtotal = draft.total = draft.balance_due = D("240.00")
        rewritten = rest.update_invoice(draft)
        assert [(i.name, i.net) for i in rewritten.items] == [("Training", D("240.00"))]
        rest._discard_draft(int(str(draft.id)))  # type: ignore[attr-defined]
        with pytest.raises(NotFound):
            tryton.get_invoice(str(draft.id))


def _payment(invoice_id: str) -> Any:
    from invoicing_bridge import Payment

    return Payment(D("10.00"), dt.date(2025, 3, 20), "cash", invoice_id=invoice_id)


def test_a_wrong_application_key_is_refused(tryton_server: dict[str, Any]) -> None:
    from invoicing_bridge import get_backend
    from invoicing_bridge.exceptions import AuthenticationError

    options = {k: v for k, v in tryton_server.items() if k not in ("login", "password")}
    with (
        get_backend("tryton", **options, application_key="not-a-key") as rest,
        pytest.raises(AuthenticationError) as caught,
    ):
        rest.iter_invoices().__next__()
    assert caught.value.status_code == 401
    assert "not-a-key" not in str(caught.value)
