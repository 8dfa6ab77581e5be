"""``InvoicingBackend``: fixed verbs, keyword-only filters, UnsupportedOperation by default."""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from marshmallow import fields

from invoicing_bridge.backends.base import Feature, InvoicingBackend, OptionsSchema
from invoicing_bridge.backends.http import HTTPBackend
from invoicing_bridge.exceptions import ConfigurationError, UnsupportedOperation
from invoicing_bridge.models import Client, Invoice, LineItem, Payment


class BareOptions(OptionsSchema):
    base_url = fields.String(required=True)
    token = fields.String(required=True, metadata={"secret": True})


class BareBackend(InvoicingBackend):
    name = "bare"
    Options = BareOptions

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


INVOICE = Invoice(number="1", issue_date=dt.date(2024, 1, 1), currency="EGP", client=Client("A"))
PAYMENT = Payment(amount=Decimal("1"), date=dt.date(2024, 1, 1), method="cash")

VERBS: list[tuple[str, Callable[[InvoicingBackend], Any]]] = [
    ("iter_invoices", lambda b: b.iter_invoices()),
    ("get_invoice", lambda b: b.get_invoice("1")),
    ("find_invoice", lambda b: b.find_invoice("1")),
    ("create_invoice", lambda b: b.create_invoice(INVOICE)),
    ("update_invoice", lambda b: b.update_invoice(INVOICE)),
    ("delete_invoice", lambda b: b.delete_invoice("1")),
    ("iter_clients", lambda b: b.iter_clients()),
    ("get_client", lambda b: b.get_client("1")),
    ("find_client", lambda b: b.find_client(email="a@b.test")),
    ("create_client", lambda b: b.create_client(INVOICE.client)),
    ("update_client", lambda b: b.update_client(INVOICE.client)),
    ("iter_payments", lambda b: b.iter_payments()),
    ("get_payment", lambda b: b.get_payment("1")),
    ("record_payment", lambda b: b.record_payment(PAYMENT)),
    ("check_connection", lambda b: b.check_connection()),
    ("parse_payload", lambda b: b.parse_payload("invoice", {})),
]


@pytest.mark.parametrize(("verb", "call"), VERBS, ids=[v for v, _ in VERBS])
def test_verb_not_overridden_raises_unsupported_operation(
    verb: str, call: Callable[[InvoicingBackend], Any]
) -> None:
    backend = BareBackend(base_url="http://x.test", token="t")
    with pytest.raises(UnsupportedOperation) as info:
        call(backend)
    assert (info.value.backend, info.value.operation) == ("bare", verb)
    assert str(info.value) == f"bare: {verb} is not supported"


@pytest.mark.parametrize("verb", ["iter_invoices", "find_client", "iter_payments"])
def test_filters_are_keyword_only(verb: str) -> None:
    params = list(inspect.signature(getattr(InvoicingBackend, verb)).parameters.values())[1:]
    assert params
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params)


def test_a_backend_with_no_features_declares_none() -> None:
    assert BareBackend.features == frozenset()
    assert {Feature.LIST_INVOICES, Feature.RECORD_PAYMENT, Feature.PARSE} <= Feature.ALL


def test_context_manager_closes_the_backend() -> None:
    with BareBackend(base_url="http://x.test", token="t") as backend:
        assert backend.closed == 0
    assert backend.closed == 1


def test_missing_required_option_names_it() -> None:
    with pytest.raises(ConfigurationError) as info:
        BareBackend(token="t")
    assert info.value.option == "base_url"
    assert "base_url" in str(info.value)


def test_configuration_error_carries_the_profile() -> None:
    with pytest.raises(ConfigurationError) as info:
        BareBackend.load_options({"token": "t"}, profile="prod")
    assert info.value.profile == "prod"
    assert str(info.value).startswith("profile 'prod', option 'base_url': ")


def test_for_parsing_needs_no_required_options() -> None:
    backend = BareBackend.for_parsing()
    assert backend.options == {}
    assert isinstance(backend, BareBackend)


def test_secret_options_are_the_marked_ones() -> None:
    assert BareBackend.secret_options() == frozenset({"token"})
    text = repr(BareBackend(base_url="http://x.test", token="hunter2-secret"))
    assert "hunter2-secret" not in text
    assert "base_url='http://x.test'" in text


@pytest.mark.parametrize(
    ("number", "normalized"),
    [
        ("INV-000002", "2"),
        ("000002", "2"),
        ("2", "2"),
        ("INV-0000", "0"),
        ("2024/0015-A", "15"),
        ("  Draft  Copy ", "draft copy"),
    ],
)
def test_normalize_number_keeps_the_identifying_digits(number: str, normalized: str) -> None:
    assert BareBackend.for_parsing().normalize_number(number) == normalized


# --------------------------------------------------------------------------- label, full_invoice


class _HTTPish(HTTPBackend):
    name = "httpish"

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(**options)
        self.http = self._make_http(base_url=url, secrets=["s3cr3t-token"])


def test_default_label_is_the_backend_name() -> None:
    assert BareBackend(base_url="x", token="t").label == "bare"


def test_http_label_is_name_and_base_url_without_credentials() -> None:
    with _HTTPish("https://shop.example/api2/") as backend:
        assert backend.label == "httpish:https://shop.example/api2"
    with _HTTPish("https://user:pw@shop.example/s3cr3t-token/api") as backend:
        assert backend.label.startswith("httpish:https://shop.example/")
        assert "pw" not in backend.label and "s3cr3t-token" not in backend.label


class _Listing(InvoicingBackend):
    """A backend whose listing leaves out lines and payments."""

    name = "listing"
    features = frozenset({Feature.GET_INVOICE, Feature.LIST_PAYMENTS})

    def __init__(self, full: Invoice, payments: list[Payment]) -> None:
        super().__init__()
        self.full, self.payments, self.reads = full, payments, 0

    def get_invoice(self, id: str) -> Invoice:
        self.reads += 1
        return self.full.copy()

    def iter_payments(self, *, invoice_id: str | None = None) -> Iterator[Payment]:
        self.reads += 1
        yield from self.payments


def _paid(**changes: Any) -> Invoice:
    return INVOICE.copy(
        id="7", subtotal=Decimal("10"), total=Decimal("10"), amount_paid=Decimal("4"), **changes
    )


def test_full_invoice_reads_the_lines_and_payments_a_listing_left_out() -> None:
    item = LineItem(name="Tea", quantity=Decimal("1"), unit_price=Decimal("10"))
    payment = PAYMENT
    backend = _Listing(_paid(items=[item]), [payment])
    full = backend.full_invoice(_paid())
    assert [i.name for i in full.items] == ["Tea"]
    assert full.payments == [payment]
    assert backend.reads == 2  # the invoice, then its payments (the invoice had none)


def test_full_invoice_returns_a_complete_invoice_without_reading() -> None:
    item = LineItem(name="Tea", quantity=Decimal("1"), unit_price=Decimal("10"))
    complete = _paid(items=[item], payments=[PAYMENT])
    backend = _Listing(complete, [])
    assert backend.full_invoice(complete) is complete
    unpaid = INVOICE.copy(id="8")  # no lines, nothing billed, nothing paid
    assert backend.full_invoice(unpaid) is unpaid
    assert backend.reads == 0


def test_client_matches_delegates_to_the_models_rule() -> None:
    backend = BareBackend(base_url="x", token="t")
    acme = Client(name="Acme", tax_number="EG-123 456")
    assert backend.client_matches(acme, Client(name="Other name", tax_number="eg123456"))
    assert not backend.client_matches(acme, Client(name="Acme", tax_number="999"))
