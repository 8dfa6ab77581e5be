"""The contract test suite every backend passes.

Subclass :class:`BackendContract` in your backend's tests and provide a ``backend``
fixture that yields a ready backend (an emulator behind it is fine)::

    class TestMyBackend(BackendContract):
        @pytest.fixture
        def backend(self):
            with MyBackend(base_url=..., api_key=...) as backend:
                yield backend

Override the class attributes (``currency``, ``tax_rate``) and :meth:`new_invoice_number`
where your backend needs other values. Verbs a backend does not list in ``features`` must
raise :class:`~invoicing_bridge.exceptions.UnsupportedOperation`; the suite checks that too.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

from ..backends.base import Feature, InvoicingBackend
from ..exceptions import NotFound, UnsupportedOperation
from ..models import (
    Address,
    Client,
    Invoice,
    InvoiceStatus,
    LineItem,
    Payment,
    PaymentStatus,
    TaxRate,
)

__all__ = ["BackendContract"]

CENT = Decimal("0.01")
ZERO = Decimal("0")
_counter = itertools.count(1)


def _close(a: Decimal, b: Decimal, tolerance: Decimal = CENT) -> bool:
    return abs(a - b) <= tolerance


def _completed_amounts(invoice: Invoice) -> list[Decimal]:
    return sorted(p.amount for p in invoice.payments if p.status is PaymentStatus.COMPLETED)


def _walk_decimals(record: Invoice) -> Iterator[tuple[str, Any]]:
    for name in (
        "subtotal",
        "discount_total",
        "tax_total",
        "adjustment",
        "total",
        "amount_paid",
        "balance_due",
    ):
        yield name, getattr(record, name)
    for i, item in enumerate(record.items):
        for name in ("quantity", "unit_price", "discount", "net_amount"):
            yield f"items[{i}].{name}", getattr(item, name)
        for j, tax in enumerate(item.taxes):
            yield f"items[{i}].taxes[{j}].rate", tax.rate
    for i, payment in enumerate(record.payments):
        yield f"payments[{i}].amount", payment.amount


class BackendContract:
    """What every backend must do. Needs a ``backend`` fixture from the subclass."""

    #: A currency the backend accepts for new invoices.
    currency = "USD"
    #: A tax the backend knows (an existing tax for backends that need tax ids).
    tax_rate = TaxRate("VAT", Decimal("15"))
    #: A payment method the backend accepts.
    payment_method = "cash"

    # ------------------------------------------------------------------ helpers

    def new_invoice_number(self) -> str:
        """A number no other invoice in the backend has."""
        return f"CT-{uuid.uuid4().int % 10**8:08d}"

    def make_client(self, **overrides: Any) -> Client:
        tag = uuid.uuid4().hex[:8]
        values: dict[str, Any] = {
            "name": f"Contract Client {tag}",
            "company_name": f"Contract Client {tag}",
            "email": f"client-{tag}@example.com",
            "phone": "+20 100 000 0000",
            "tax_number": f"3{next(_counter):09d}",
            "address": Address(
                line1="1 Tahrir Square", city="Cairo", postal_code="11511", country="EG"
            ),
            "currency": self.currency,
        }
        values.update(overrides)
        return Client(**values)

    def make_invoice(self, client: Client, **overrides: Any) -> Invoice:
        items = [
            LineItem(
                name="Consulting",
                description="Two days on site",
                quantity=Decimal("2"),
                unit_price=Decimal("1500.00"),
                taxes=[self.tax_rate],
            ),
            LineItem(name="Travel", quantity=Decimal("1"), unit_price=Decimal("250.50")),
        ]
        values: dict[str, Any] = {
            "number": self.new_invoice_number(),
            "issue_date": dt.date(2026, 9, 25),
            "currency": self.currency,
            "client": client,
            "items": items,
            "notes": "Thank you for your business.",
            "terms": "Net 30",
        }
        values.update(overrides)
        invoice = Invoice.build(**values)
        if invoice.due_date is None:
            invoice.due_date = invoice.issue_date + dt.timedelta(days=30)
        return invoice

    def _require(self, backend: InvoicingBackend, *features: str) -> None:
        missing = [f for f in features if f not in backend.features]
        if missing:
            pytest.skip(f"{backend.name} does not support {', '.join(missing)}")

    @pytest.fixture
    def client(self, backend: InvoicingBackend) -> Client:
        self._require(backend, Feature.CREATE_CLIENT)
        return backend.create_client(self.make_client())

    @pytest.fixture
    def invoice(self, backend: InvoicingBackend, client: Client) -> Invoice:
        self._require(backend, Feature.CREATE_INVOICE)
        return backend.create_invoice(self.make_invoice(client))

    # ------------------------------------------------------------------ features

    def test_features_are_known_names(self, backend: InvoicingBackend) -> None:
        assert set(backend.features) <= Feature.ALL
        assert backend.name

    def test_verbs_outside_features_raise_unsupported_operation(
        self, backend: InvoicingBackend
    ) -> None:
        calls: dict[str, Callable[[], object]] = {
            Feature.LIST_INVOICES: lambda: next(iter(backend.iter_invoices()), None),
            Feature.GET_INVOICE: lambda: backend.get_invoice("1"),
            Feature.FIND_INVOICE: lambda: backend.find_invoice("X"),
            Feature.DELETE_INVOICE: lambda: backend.delete_invoice("999999999"),
            Feature.LIST_CLIENTS: lambda: next(iter(backend.iter_clients()), None),
            Feature.GET_CLIENT: lambda: backend.get_client("999999999"),
            Feature.FIND_CLIENT: lambda: backend.find_client(email="nobody@example.invalid"),
            Feature.LIST_PAYMENTS: lambda: next(iter(backend.iter_payments()), None),
            Feature.GET_PAYMENT: lambda: backend.get_payment("999999999"),
        }
        for feature, call in calls.items():
            if feature not in backend.features:
                with pytest.raises(UnsupportedOperation):
                    call()

    def test_repr_names_backend_class(self, backend: InvoicingBackend) -> None:
        assert type(backend).__name__ in repr(backend)

    def test_label_is_named_and_has_no_secret(self, backend: InvoicingBackend) -> None:
        label = backend.label
        assert isinstance(label, str) and label.strip()
        assert label == backend.label  # stable: the ledger stores it
        for option in backend.secret_options():
            secret = backend.options.get(option)
            if isinstance(secret, str) and secret:
                assert secret not in label, f"the label shows the {option} option"

    # ------------------------------------------------------------------ clients

    def test_create_client_then_get_returns_same_fields(
        self, backend: InvoicingBackend, client: Client
    ) -> None:
        self._require(backend, Feature.GET_CLIENT)
        assert client.id
        fetched = backend.get_client(client.id)
        assert fetched.id == client.id
        assert fetched.name == client.name
        assert (fetched.email or "").lower() == (client.email or "").lower()
        assert fetched.tax_number == client.tax_number
        assert fetched.source is not None and fetched.source.id == client.id

    def test_get_client_not_found_raises_not_found(self, backend: InvoicingBackend) -> None:
        self._require(backend, Feature.GET_CLIENT)
        with pytest.raises(NotFound):
            backend.get_client("987654321")

    def test_find_client_by_email_name_and_tax_number(
        self, backend: InvoicingBackend, client: Client
    ) -> None:
        self._require(backend, Feature.FIND_CLIENT)
        assert client.email and client.tax_number
        by_email = backend.find_client(email=client.email.upper())
        assert by_email is not None and by_email.id == client.id
        by_name = backend.find_client(name=client.name)
        assert by_name is not None and by_name.id == client.id
        if Feature.FIND_CLIENT_BY_TAX_NUMBER in backend.features:
            by_tax = backend.find_client(tax_number=client.tax_number)
            assert by_tax is not None and by_tax.id == client.id

    def test_find_client_missing_returns_none(self, backend: InvoicingBackend) -> None:
        self._require(backend, Feature.FIND_CLIENT)
        assert backend.find_client(email=f"nobody-{uuid.uuid4().hex}@example.invalid") is None

    def test_created_client_is_listed(self, backend: InvoicingBackend, client: Client) -> None:
        self._require(backend, Feature.LIST_CLIENTS)
        assert client.id in {c.id for c in backend.iter_clients()}

    def test_client_matches_the_same_client_by_identity_only(
        self, backend: InvoicingBackend, client: Client
    ) -> None:
        self._require(backend, Feature.GET_CLIENT)
        assert client.id and client.email and client.tax_number
        fetched = backend.get_client(client.id)
        assert backend.client_matches(client, fetched)
        variant = Client(
            name=f"  {client.name.upper()}  ",
            email=f" {client.email.upper()} ",
            tax_number=f"{client.tax_number[:3]} {client.tax_number[3:]}",
        )
        assert backend.client_matches(variant, fetched)
        assert not backend.client_matches(self.make_client(), fetched)
        # Namesakes with other emails are other clients.
        assert not backend.client_matches(self.make_client(name=client.name), fetched)

    def test_update_client_changes_phone(self, backend: InvoicingBackend, client: Client) -> None:
        self._require(backend, Feature.UPDATE_CLIENT, Feature.GET_CLIENT)
        assert client.id
        client.phone = "+20 122 333 4444"
        backend.update_client(client)
        assert backend.get_client(client.id).phone == "+20 122 333 4444"

    # ------------------------------------------------------------------ invoices

    def test_create_invoice_then_get_keeps_items_and_totals(
        self, backend: InvoicingBackend, client: Client
    ) -> None:
        self._require(backend, Feature.CREATE_INVOICE, Feature.GET_INVOICE)
        sent = self.make_invoice(client)
        created = backend.create_invoice(sent)
        assert created.id
        fetched = backend.get_invoice(created.id)
        assert fetched.id == created.id
        assert fetched.currency == sent.currency
        assert fetched.issue_date == sent.issue_date
        assert fetched.client.id == client.id
        assert [i.name for i in fetched.items] == [i.name for i in sent.items]
        assert [i.quantity for i in fetched.items] == [i.quantity for i in sent.items]
        assert [i.unit_price for i in fetched.items] == [i.unit_price for i in sent.items]
        assert _close(fetched.subtotal, sent.subtotal), (fetched.subtotal, sent.subtotal)
        assert _close(fetched.tax_total, sent.tax_total), (fetched.tax_total, sent.tax_total)
        assert _close(fetched.total, sent.total), (fetched.total, sent.total)
        assert fetched.status is InvoiceStatus.OPEN
        assert fetched.notes == sent.notes

    def test_fetched_invoice_adds_up_and_money_is_decimal(
        self, backend: InvoicingBackend, invoice: Invoice
    ) -> None:
        self._require(backend, Feature.GET_INVOICE)
        assert invoice.id
        fetched = backend.get_invoice(invoice.id)
        for path, value in _walk_decimals(fetched):
            assert isinstance(value, Decimal), f"{path} is {type(value).__name__}"
        assert fetched.check() == []

    def test_invoice_json_round_trip_is_lossless(
        self, backend: InvoicingBackend, invoice: Invoice
    ) -> None:
        self._require(backend, Feature.GET_INVOICE)
        assert invoice.id
        fetched = backend.get_invoice(invoice.id)
        assert Invoice.from_dict(fetched.to_dict()).to_dict() == fetched.to_dict()

    def test_get_invoice_not_found_raises_not_found(self, backend: InvoicingBackend) -> None:
        self._require(backend, Feature.GET_INVOICE)
        with pytest.raises(NotFound):
            backend.get_invoice("987654321")

    def test_created_invoice_is_listed_with_its_client_filter(
        self, backend: InvoicingBackend, invoice: Invoice
    ) -> None:
        self._require(backend, Feature.LIST_INVOICES)
        assert invoice.id in {i.id for i in backend.iter_invoices()}
        assert invoice.client.id
        listed = list(backend.iter_invoices(client_id=invoice.client.id))
        assert [i.id for i in listed] == [invoice.id]

    def test_iter_invoices_since_keeps_later_issue_dates(
        self, backend: InvoicingBackend, client: Client
    ) -> None:
        self._require(backend, Feature.LIST_INVOICES, Feature.CREATE_INVOICE)
        early = backend.create_invoice(self.make_invoice(client, issue_date=dt.date(2021, 1, 5)))
        late = backend.create_invoice(self.make_invoice(client, issue_date=dt.date(2026, 3, 1)))
        ids = {i.id for i in backend.iter_invoices(since=dt.date(2026, 1, 1))}
        assert late.id in ids
        assert early.id not in ids

    def test_iter_invoices_status_filter(self, backend: InvoicingBackend, invoice: Invoice) -> None:
        self._require(backend, Feature.LIST_INVOICES)
        opened = list(backend.iter_invoices(status=InvoiceStatus.OPEN))
        assert invoice.id in {i.id for i in opened}
        assert all(i.status is InvoiceStatus.OPEN for i in opened)
        assert invoice.id not in {i.id for i in backend.iter_invoices(status=InvoiceStatus.PAID)}

    def test_iter_invoices_status_accepts_the_enum_values_as_strings(
        self, backend: InvoicingBackend, invoice: Invoice
    ) -> None:
        self._require(backend, Feature.LIST_INVOICES)
        by_member = {i.id for i in backend.iter_invoices(status=InvoiceStatus.OPEN)}
        by_string = {i.id for i in backend.iter_invoices(status="open")}
        assert invoice.id in by_string
        assert by_string == by_member

    def test_iter_invoices_unknown_status_is_refused(self, backend: InvoicingBackend) -> None:
        self._require(backend, Feature.LIST_INVOICES)
        with pytest.raises(ValueError, match="unknown invoice status 'opn'; use one of: draft"):
            list(backend.iter_invoices(status="opn"))

    def test_find_invoice_by_number(self, backend: InvoicingBackend, invoice: Invoice) -> None:
        self._require(backend, Feature.FIND_INVOICE)
        found = backend.find_invoice(invoice.number)
        assert found is not None and found.id == invoice.id

    def test_find_invoice_missing_returns_none(self, backend: InvoicingBackend) -> None:
        self._require(backend, Feature.FIND_INVOICE)
        assert backend.find_invoice("NO-SUCH-987654") is None

    def test_update_invoice_changes_notes_and_keeps_items(
        self, backend: InvoicingBackend, invoice: Invoice
    ) -> None:
        self._require(backend, Feature.UPDATE_INVOICE, Feature.GET_INVOICE)
        assert invoice.id
        invoice.notes = "Updated by the contract suite"
        backend.update_invoice(invoice)
        fetched = backend.get_invoice(invoice.id)
        assert fetched.notes == "Updated by the contract suite"
        assert len(fetched.items) == len(invoice.items)
        assert _close(fetched.total, invoice.total)

    def test_delete_invoice_then_get_raises_not_found(
        self, backend: InvoicingBackend, invoice: Invoice
    ) -> None:
        self._require(backend, Feature.DELETE_INVOICE, Feature.GET_INVOICE)
        assert invoice.id
        backend.delete_invoice(invoice.id)
        with pytest.raises(NotFound):
            backend.get_invoice(invoice.id)

    def test_full_invoice_completes_a_listed_invoice(
        self, backend: InvoicingBackend, invoice: Invoice
    ) -> None:
        self._require(backend, Feature.LIST_INVOICES, Feature.GET_INVOICE)
        assert invoice.id
        if Feature.RECORD_PAYMENT in backend.features:
            backend.record_payment(
                Payment(
                    invoice_id=invoice.id,
                    amount=Decimal("100.00"),
                    date=dt.date(2026, 10, 1),
                    method=self.payment_method,
                )
            )
        listed = next(i for i in backend.iter_invoices(client_id=invoice.client.id))
        assert listed.id == invoice.id
        full = backend.full_invoice(listed)
        fetched = backend.get_invoice(invoice.id)
        assert full.id == invoice.id
        assert [i.name for i in full.items] == [i.name for i in fetched.items]
        assert [i.quantity for i in full.items] == [i.quantity for i in fetched.items]
        assert _completed_amounts(full) == _completed_amounts(fetched)
        assert _close(full.amount_paid, fetched.amount_paid)

    def test_full_invoice_returns_a_complete_invoice_as_is_without_a_request(
        self, backend: InvoicingBackend, invoice: Invoice, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        self._require(backend, Feature.GET_INVOICE)
        assert invoice.id
        fetched = backend.get_invoice(invoice.id)

        def no_request(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError("full_invoice read a complete invoice again")

        monkeypatch.setattr(backend, "get_invoice", no_request)
        monkeypatch.setattr(backend, "iter_payments", no_request)
        http = getattr(backend, "http", None)
        if http is not None:
            monkeypatch.setattr(http, "request", no_request)
        assert backend.full_invoice(fetched) is fetched

    # ------------------------------------------------------------------ create with payments

    def _paid_invoice(self, client: Client, *payments: Payment) -> Invoice:
        paid = sum((p.amount for p in payments if p.status is PaymentStatus.COMPLETED), ZERO)
        return self.make_invoice(client, payments=list(payments), amount_paid=paid)

    def _payment(self, amount: str, *, status: PaymentStatus = PaymentStatus.COMPLETED) -> Payment:
        return Payment(
            amount=Decimal(amount),
            date=dt.date(2026, 9, 26),
            method=self.payment_method,
            status=status,
        )

    def test_create_invoice_records_its_completed_payments(
        self, backend: InvoicingBackend, client: Client
    ) -> None:
        self._require(backend, Feature.CREATE_INVOICE, Feature.RECORD_PAYMENT)
        sent = self._paid_invoice(client, self._payment("1000.00"), self._payment("250.50"))
        created = backend.create_invoice(sent)
        assert created.id
        completed = [p for p in created.payments if p.status is PaymentStatus.COMPLETED]
        assert sorted(p.amount for p in completed) == [Decimal("250.50"), Decimal("1000.00")]
        assert all(p.id for p in completed), "recorded payments carry their ids"
        assert _close(created.amount_paid, Decimal("1250.50"))
        assert _close(created.balance_due, created.total - created.amount_paid)
        assert created.status is InvoiceStatus.PARTIALLY_PAID
        if Feature.GET_INVOICE in backend.features:
            fetched = backend.get_invoice(created.id)
            assert _completed_amounts(fetched) == [Decimal("250.50"), Decimal("1000.00")]
            assert _close(fetched.amount_paid, Decimal("1250.50"))
            assert _close(fetched.balance_due, fetched.total - Decimal("1250.50"))

    def test_create_invoice_does_not_record_a_pending_payment_as_completed(
        self, backend: InvoicingBackend, client: Client
    ) -> None:
        self._require(backend, Feature.CREATE_INVOICE, Feature.RECORD_PAYMENT)
        pending = self._payment("300.00", status=PaymentStatus.PENDING)
        sent = self._paid_invoice(client, self._payment("100.00"), pending)
        created = backend.create_invoice(sent)
        assert created.id
        assert _completed_amounts(created) == [Decimal("100.00")]
        assert _close(created.amount_paid, Decimal("100.00"))
        if Feature.GET_INVOICE in backend.features:
            fetched = backend.get_invoice(created.id)
            assert _completed_amounts(fetched) == [Decimal("100.00")]
            assert _close(fetched.amount_paid, Decimal("100.00"))

    def test_create_invoice_with_payments_without_record_payment_writes_nothing(
        self, backend: InvoicingBackend, client: Client
    ) -> None:
        self._require(backend, Feature.CREATE_INVOICE)
        if Feature.RECORD_PAYMENT in backend.features:
            pytest.skip(f"{backend.name} records payments")
        sent = self._paid_invoice(client, self._payment("100.00"))
        with pytest.raises(UnsupportedOperation):
            backend.create_invoice(sent)
        if Feature.FIND_INVOICE in backend.features:
            assert backend.find_invoice(sent.number) is None
        if Feature.LIST_INVOICES in backend.features:
            listed = backend.iter_invoices(client_id=client.id)
            assert sent.number not in {i.number for i in listed}

    # ------------------------------------------------------------------ payments

    def test_record_payment_updates_amount_paid_and_status(
        self, backend: InvoicingBackend, invoice: Invoice
    ) -> None:
        self._require(backend, Feature.RECORD_PAYMENT, Feature.GET_INVOICE)
        assert invoice.id
        part = (invoice.total / 2).quantize(CENT)
        recorded = backend.record_payment(
            Payment(
                invoice_id=invoice.id,
                amount=part,
                date=dt.date(2026, 10, 1),
                method=self.payment_method,
                reference="TX-1",
            )
        )
        assert recorded.id
        assert recorded.amount == part
        fetched = backend.get_invoice(invoice.id)
        assert _close(fetched.amount_paid, part)
        assert _close(fetched.balance_due, invoice.total - part)
        assert fetched.status is InvoiceStatus.PARTIALLY_PAID
        rest = fetched.balance_due
        backend.record_payment(
            Payment(
                invoice_id=invoice.id,
                amount=rest,
                date=dt.date(2026, 10, 2),
                method=self.payment_method,
            )
        )
        assert backend.get_invoice(invoice.id).status is InvoiceStatus.PAID

    def test_payments_listed_and_fetched(self, backend: InvoicingBackend, invoice: Invoice) -> None:
        self._require(backend, Feature.RECORD_PAYMENT, Feature.LIST_PAYMENTS)
        assert invoice.id
        recorded = backend.record_payment(
            Payment(
                invoice_id=invoice.id,
                amount=Decimal("100.00"),
                date=dt.date(2026, 10, 1),
                method=self.payment_method,
            )
        )
        listed = list(backend.iter_payments(invoice_id=invoice.id))
        assert [p.id for p in listed] == [recorded.id]
        assert listed[0].amount == Decimal("100.00")
        assert listed[0].invoice_id == invoice.id
        if Feature.GET_PAYMENT in backend.features:
            assert recorded.id
            assert backend.get_payment(recorded.id).amount == Decimal("100.00")
