"""The neutral model's JSON form: lossless round trip, exact keys, Decimal money kept as written."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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

# The keys of the JSON form, copied from docs/neutral-model.md (the contract), not from the code.
INVOICE_KEYS = {
    "id", "number", "status", "issue_date", "due_date", "currency", "client", "items",
    "subtotal", "discount_total", "tax_total", "adjustment", "total", "amount_paid",
    "balance_due", "payments", "notes", "terms", "created_at", "updated_at", "source", "extra",
}  # fmt: skip
LINE_ITEM_KEYS = {
    "name", "description", "quantity", "unit_price", "unit", "discount", "taxes",
    "net_amount", "tax_amount", "product_id", "sku", "extra",
}  # fmt: skip
CLIENT_KEYS = {
    "id", "name", "company_name", "first_name", "last_name", "email", "phone", "tax_number",
    "address", "currency", "source", "extra",
}  # fmt: skip
ADDRESS_KEYS = {"line1", "line2", "city", "state", "postal_code", "country"}
PAYMENT_KEYS = {
    "id", "invoice_id", "amount", "currency", "date", "method", "reference", "notes",
    "status", "source", "extra",
}  # fmt: skip

# --------------------------------------------------------------------------- strategies

ARABIC = st.text(alphabet=st.characters(min_codepoint=0x0600, max_codepoint=0x06FF), max_size=12)
texts = st.one_of(
    st.text(max_size=16),
    ARABIC,
    st.sampled_from(["شركة النيل للتجارة", "فاتورة ضريبية", "Ünïcødé ✓", "INV-000002", ""]),
)
opt_texts = st.none() | texts
ids = st.none() | st.from_regex(r"[0-9]{1,6}", fullmatch=True) | st.text(min_size=1, max_size=8)


def decimals(places: int) -> st.SearchStrategy[Decimal]:
    return st.decimals(allow_nan=False, allow_infinity=False, places=places)


# Zero, two and four places (Daftra sends "32999.9961"), and values exactly as remotes send them.
money = st.one_of(
    decimals(0),
    decimals(2),
    decimals(4),
    st.sampled_from(["32999.9961", "1.10", "0.00", "-12.50", "100"]).map(Decimal),
)
opt_money = st.none() | money

fixed_offsets = st.builds(
    lambda minutes: dt.timezone(dt.timedelta(minutes=minutes)),
    st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59),
)
datetimes = st.one_of(
    st.datetimes(),  # naive: the source gave no zone
    st.datetimes(timezones=st.just(dt.UTC)),
    st.datetimes(timezones=fixed_offsets),
)
opt_datetimes = st.none() | datetimes

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=6,
)
# Backends hand over the remote payload as the plain dict json.loads gave them.
json_objects = st.dictionaries(texts, json_values, max_size=3)

refs = st.none() | st.builds(RecordRef, backend=st.sampled_from(["memory", "daftra"]), id=texts)
tax_rates = st.builds(TaxRate, name=texts, rate=money)
addresses = st.builds(
    Address,
    line1=opt_texts,
    line2=opt_texts,
    city=opt_texts,
    state=opt_texts,
    postal_code=opt_texts,
    country=st.none() | st.sampled_from(["EG", "SA", "AE", "US"]),
)
clients = st.builds(
    Client,
    name=texts,
    id=ids,
    company_name=opt_texts,
    first_name=opt_texts,
    last_name=opt_texts,
    email=opt_texts,
    phone=opt_texts,
    tax_number=opt_texts,
    address=st.none() | addresses,
    currency=st.none() | st.sampled_from(["EGP", "USD", "SAR"]),
    source=refs,
    raw=json_objects,
    extra=json_objects,
)
payments = st.builds(
    Payment,
    amount=money,
    date=st.dates(),
    method=st.sampled_from(["cash", "bank_transfer", "card", "cheque", "paypal", "تحويل"]),
    id=ids,
    invoice_id=ids,
    currency=st.none() | st.sampled_from(["EGP", "USD"]),
    reference=opt_texts,
    notes=opt_texts,
    status=st.sampled_from(list(PaymentStatus)),
    source=refs,
    raw=json_objects,
    extra=json_objects,
)
line_items = st.builds(
    LineItem,
    name=texts,
    quantity=money,
    unit_price=money,
    description=opt_texts,
    unit=opt_texts,
    discount=money,
    taxes=st.lists(tax_rates, max_size=2),
    net_amount=opt_money,  # None: computed from quantity, price and discount
    tax_amount=opt_money,
    product_id=ids,
    sku=opt_texts,
    extra=json_objects,
)
invoices = st.builds(
    Invoice,
    number=texts,
    issue_date=st.dates(),
    currency=st.sampled_from(["EGP", "USD", "SAR"]),
    client=clients,
    status=st.sampled_from(list(InvoiceStatus)),
    id=ids,
    due_date=st.none() | st.dates(),
    items=st.lists(line_items, max_size=3),
    subtotal=money,
    discount_total=money,
    tax_total=money,
    adjustment=money,
    total=money,
    amount_paid=money,
    balance_due=money,
    payments=st.lists(payments, max_size=2),
    notes=opt_texts,
    terms=opt_texts,
    created_at=opt_datetimes,
    updated_at=opt_datetimes,
    source=refs,
    raw=json_objects,
    extra=json_objects,
)

RECORDS: list[tuple[type[Any], st.SearchStrategy[Any]]] = [
    (Invoice, invoices),
    (LineItem, line_items),
    (Client, clients),
    (Payment, payments),
    (Address, addresses),
    (TaxRate, tax_rates),
    (RecordRef, refs.filter(lambda r: r is not None)),
]
WITH_RAW = (Invoice, Client, Payment)


def _to_dict(record: Any, include_raw: bool) -> dict[str, Any]:
    if isinstance(record, WITH_RAW):
        return record.to_dict(include_raw=include_raw)
    result: dict[str, Any] = record.to_dict()
    return result


# --------------------------------------------------------------------------- round trip


@pytest.mark.parametrize(("cls", "strategy"), RECORDS, ids=lambda v: getattr(v, "__name__", ""))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_from_dict_of_to_dict_gives_an_equal_record(
    cls: type[Any], strategy: st.SearchStrategy[Any], data: st.DataObject
) -> None:
    record = data.draw(strategy)
    as_dict = _to_dict(record, include_raw=True)
    again = cls.from_dict(as_dict)
    assert again == record
    # Equal Decimals may still differ in exponent ("1.10" vs "1.1"): the text must match too.
    assert _to_dict(again, include_raw=True) == as_dict
    # And through JSON text, as the CLI writes it and reads it back.
    text = json.dumps(as_dict, ensure_ascii=False)
    assert cls.from_dict(json.loads(text)) == record


@settings(max_examples=40, deadline=None)
@given(invoice=invoices)
def test_invoice_to_dict_has_exactly_the_contract_keys_raw_only_when_asked(
    invoice: Invoice,
) -> None:
    data = invoice.to_dict()
    json.dumps(data)  # JSON-safe without a default= hook
    assert set(data) == INVOICE_KEYS
    assert set(data["client"]) == CLIENT_KEYS
    if data["client"]["address"] is not None:
        assert set(data["client"]["address"]) == ADDRESS_KEYS
    for item in data["items"]:
        assert set(item) == LINE_ITEM_KEYS
        for tax in item["taxes"]:
            assert set(tax) == {"name", "rate"}
    for payment in data["payments"]:
        assert set(payment) == PAYMENT_KEYS
    if data["source"] is not None:
        assert set(data["source"]) == {"backend", "id"}

    with_raw = invoice.to_dict(include_raw=True)
    json.dumps(with_raw)
    assert set(with_raw) == INVOICE_KEYS | {"raw"}
    assert set(with_raw["client"]) == CLIENT_KEYS | {"raw"}
    assert all(set(p) == PAYMENT_KEYS | {"raw"} for p in with_raw["payments"])

    # Money as strings, dates in ISO 8601, the status as its plain value.
    for key in ("subtotal", "discount_total", "tax_total", "adjustment", "total"):
        assert data[key] == str(getattr(invoice, key))
    assert data["issue_date"] == invoice.issue_date.isoformat()
    if invoice.created_at is not None:
        assert data["created_at"] == invoice.created_at.isoformat()
    assert type(data["status"]) is str
    assert data["status"] == invoice.status.value


@given(raw=json_objects)
def test_raw_given_as_plain_dict_round_trips_and_is_read_only(raw: dict[str, Any]) -> None:
    client = Client(name="ACME", raw=raw)
    again = Client.from_dict(client.to_dict(include_raw=True))
    assert again == client
    assert again.to_dict(include_raw=True)["raw"] == json.loads(json.dumps(raw))
    with pytest.raises(TypeError):
        client.raw["planted"] = 1  # type: ignore[index]


@settings(max_examples=30, deadline=None)
@given(dt_value=datetimes)
def test_timestamps_keep_their_zone_or_lack_of_one(dt_value: dt.datetime) -> None:
    invoice = _invoice(created_at=dt_value)
    again = Invoice.from_dict(invoice.to_dict())
    assert again.created_at == dt_value
    assert again.created_at is not None
    assert again.created_at.utcoffset() == dt_value.utcoffset()


# --------------------------------------------------------------------------- statuses


def _invoice(**changes: Any) -> Invoice:
    data: dict[str, Any] = {
        "number": "INV-000002",
        "issue_date": dt.date(2024, 5, 1),
        "currency": "EGP",
        "client": Client(name="شركة النيل"),
    }
    data.update(changes)
    return Invoice(**data)


@pytest.mark.parametrize("status", list(InvoiceStatus))
def test_every_invoice_status_round_trips_as_its_value(status: InvoiceStatus) -> None:
    data = _invoice(status=status).to_dict()
    assert data["status"] == status.value
    assert Invoice.from_dict(data).status is status


@pytest.mark.parametrize("status", list(PaymentStatus))
def test_every_payment_status_round_trips_as_its_value(status: PaymentStatus) -> None:
    payment = Payment(amount=Decimal("5"), date=dt.date(2024, 1, 1), method="cash", status=status)
    assert Payment.from_dict(payment.to_dict()).status is status


@given(value=st.text().filter(lambda s: s not in {m.value for m in InvoiceStatus}))
def test_unmapped_invoice_status_string_becomes_unknown(value: str) -> None:
    data = _invoice().to_dict()
    data["status"] = value
    assert Invoice.from_dict(data).status is InvoiceStatus.UNKNOWN


@pytest.mark.parametrize("value", ["overdue", "PAID", "4", None, 4])
def test_unmapped_payment_status_becomes_unknown(value: Any) -> None:
    data = Payment(amount=Decimal("5"), date=dt.date(2024, 1, 1), method="cash").to_dict()
    data["status"] = value
    assert Payment.from_dict(data).status is PaymentStatus.UNKNOWN


# --------------------------------------------------------------------------- money


def _money_cases() -> list[tuple[type[Any], dict[str, Any], str]]:
    line = LineItem(
        name="Widget",
        quantity=Decimal("2"),
        unit_price=Decimal("3.50"),
        taxes=[TaxRate("VAT", Decimal("14"))],
        tax_amount=Decimal("0.98"),
    ).to_dict()
    invoice = _invoice(items=[LineItem.from_dict(line)]).to_dict()
    payment = Payment(amount=Decimal("5"), date=dt.date(2024, 1, 1), method="cash").to_dict()
    cases: list[tuple[type[Any], dict[str, Any], str]] = []
    for key in ("quantity", "unit_price", "discount", "net_amount", "tax_amount"):
        cases.append((LineItem, line, key))
    for key in (
        "subtotal",
        "discount_total",
        "tax_total",
        "adjustment",
        "total",
        "amount_paid",
        "balance_due",
    ):
        cases.append((Invoice, invoice, key))
    cases.append((Payment, payment, "amount"))
    cases.append((TaxRate, {"name": "VAT", "rate": "14"}, "rate"))
    return cases


@pytest.mark.parametrize(("cls", "data", "key"), _money_cases(), ids=lambda v: str(v)[:20])
def test_from_dict_refuses_a_float_amount(cls: type[Any], data: dict[str, Any], key: str) -> None:
    bad = dict(data, **{key: 1.1})
    with pytest.raises(TypeError, match=key):
        cls.from_dict(bad)


def test_from_dict_refuses_a_float_rate_nested_in_an_invoice() -> None:
    line = LineItem(name="x", quantity=Decimal(1), unit_price=Decimal(1))
    data = _invoice(items=[line]).to_dict()
    data["items"][0]["taxes"] = [{"name": "VAT", "rate": 14.0}]
    with pytest.raises(TypeError):
        Invoice.from_dict(data)


@pytest.mark.parametrize("text", ["32999.9961", "1.10", "0.00", "100", "-0.50", "1E+3"])
def test_decimal_exponent_is_kept_as_written(text: str) -> None:
    payment = Payment.from_dict({"amount": text, "date": "2024-01-01", "method": "cash"})
    assert payment.amount.as_tuple() == Decimal(text).as_tuple()
    assert payment.to_dict()["amount"] == text
    line = LineItem.from_dict({"name": "x", "quantity": text, "unit_price": "1"})
    assert line.to_dict()["quantity"] == text


def test_integer_json_amount_is_read_exactly() -> None:
    payment = Payment.from_dict({"amount": 12, "date": "2024-01-01", "method": "cash"})
    assert payment.amount == Decimal("12")
    assert isinstance(payment.amount, Decimal)


def test_from_dict_refuses_a_non_numeric_amount() -> None:
    with pytest.raises(ValueError, match="amount"):
        Payment.from_dict({"amount": "twelve", "date": "2024-01-01", "method": "cash"})
