"""Every request body the backend builds validates against Daftra's documented request schema.

The schemas come from the official docs exported as OpenAPI, found beside the project at
``../shared/contracts/daftra-api2.openapi.json`` (or under ``$INVOICING_BRIDGE_SHARED``).
Without that file these tests skip: a clone of the project does not have it.

Where the POST /invoices schema contradicts the live-captured notes, the notes win, and the
corrections below say which and why (the schema was generated from the docs' example: every
key of the example is "required" and each type is that of the example's value).
"""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import responses
from invoicing_bridge_daftra.backend import DaftraBackend
from invoicing_bridge_daftra.plan import daftra_tax_total
from openapi_schema_validator import OAS30Validator
from werkzeug.formparser import parse_form_data

from invoicing_bridge.models import (
    Address,
    Client,
    Invoice,
    InvoiceStatus,
    LineItem,
    Payment,
    TaxRate,
)

SHARED = Path(
    os.environ.get("INVOICING_BRIDGE_SHARED") or Path(__file__).resolve().parents[4] / "shared"
)
SPEC_PATH = SHARED / "contracts" / "daftra-api2.openapi.json"

pytestmark = pytest.mark.skipif(
    not SPEC_PATH.is_file(), reason=f"Daftra's OpenAPI export is not at {SPEC_PATH}"
)

#: POST /invoices fields whose example-derived type contradicts the notes (api-notes §3):
#: amounts and percentages take decimals, quantities take decimals, tax1/tax2 are tax ids
#: (the example had null). The PUT schema of the same endpoint types them right.
CORRECTED = {
    "Invoice": ("discount", "discount_amount", "deposit", "shipping_amount", "follow_up_status"),
    "InvoiceItem": ("quantity", "tax1", "tax2", "discount"),
}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return json.loads(SPEC_PATH.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def request_schema(spec: dict[str, Any], path: str, method: str, content: str) -> Any:
    return spec["paths"][path][method]["requestBody"]["content"][content]["schema"]


def post_invoice_schema(spec: dict[str, Any]) -> dict[str, Any]:
    post = copy.deepcopy(request_schema(spec, "/invoices{format}", "post", "application/json"))
    put = request_schema(spec, "/invoices/{id}{format}", "put", "application/json")
    # Required: only Invoice.client_id, and payment_method on a payment (api-notes §3).
    post["required"] = ["Invoice"]
    post["properties"]["Invoice"]["required"] = ["client_id"]
    post["properties"]["Payment"]["items"]["required"] = ["payment_method"]
    sections = {
        "Invoice": (post["properties"]["Invoice"], put["properties"]["Invoice"]),
        "InvoiceItem": (
            post["properties"]["InvoiceItem"]["items"],
            put["properties"]["InvoiceItem"]["items"],
        ),
    }
    for section, names in CORRECTED.items():
        target, source = sections[section]
        for name in names:
            target["properties"][name] = source["properties"][name]
    return post  # type: ignore[no-any-return]


def errors(schema: Any, instance: Any) -> list[str]:
    validator = OAS30Validator(schema, format_checker=OAS30Validator.FORMAT_CHECKER)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(instance)
    ]


def sent_json(call: Any) -> Any:
    return json.loads(call.request.body)  # as a server reads it (numbers, not Decimals)


@pytest.fixture
def api(
    mock: responses.RequestsMock, base_url: str, fixture_text: Any
) -> Iterator[responses.RequestsMock]:
    mock.get(f"{base_url}/taxes.json", body=fixture_text("taxes/list.json"))
    mock.post(f"{base_url}/invoices.json", body=fixture_text("invoices/create.json"), status=202)
    mock.get(f"{base_url}/invoices/2415.json", body=fixture_text("invoices/get.json"))
    mock.put(f"{base_url}/invoices/2415.json", body=fixture_text("invoices/update.json"))
    mock.post(f"{base_url}/clients.json", body=fixture_text("clients/create.json"), status=202)
    mock.get(f"{base_url}/clients/605.json", body=fixture_text("clients/get_individual.json"))
    mock.get(f"{base_url}/clients/512.json", body=fixture_text("clients/get.json"))
    mock.put(f"{base_url}/clients/512.json", body=fixture_text("clients/update.json"))
    mock.post(
        f"{base_url}/invoice_payments.json",
        body=fixture_text("invoice_payments/create.json"),
        status=202,
    )
    mock.get(
        f"{base_url}/invoice_payments/9031.json", body=fixture_text("invoice_payments/get.json")
    )
    yield mock


def sent(mock: responses.RequestsMock, method: str, suffix: str) -> list[Any]:
    return [
        sent_json(c)
        for c in mock.calls
        if c.request.method == method and c.request.url.split("?")[0].endswith(suffix)
    ]


def _client(**changes: Any) -> Client:
    values: dict[str, Any] = {
        "id": "512",
        "name": "شركة النور للتجارة",
        "company_name": "شركة النور للتجارة",
        "email": "accounts@alnoor.example",
        "tax_number": "310122393500003",
        "address": Address(line1="12 King Fahd Rd", city="الرياض", country="SA"),
    }
    values.update(changes)
    return Client(**values)


INVOICES = {
    "full": Invoice.build(
        number="INV-7001",
        issue_date=dt.date(2026, 9, 25),
        due_date=dt.date(2026, 10, 25),
        currency="SAR",
        client=_client(),
        items=[
            LineItem(
                name="Consulting",
                description="Two days",
                quantity=Decimal("2.5"),
                unit_price=Decimal("1500.55"),
                discount=Decimal("100"),
                taxes=[TaxRate("VAT", Decimal(15)), TaxRate("ضريبة", Decimal(14))],
            ),
            LineItem(name="Travel", quantity=Decimal(1), unit_price=Decimal("250.5")),
        ],
        discount_total=Decimal("12.75"),
        adjustment=Decimal("30"),
        notes="Thank you",
        terms="Net 30",
        payments=[
            Payment(amount=Decimal("500.5"), date=dt.date(2026, 9, 26), method="cash"),
            Payment(
                amount=Decimal("32999.9961"),
                date=dt.date(2026, 9, 27),
                method="bank_transfer",
                reference="SWIFT-1",
            ),
        ],
    ),
    "minimal draft": Invoice.build(
        number="",
        issue_date=dt.date(2026, 9, 25),
        currency="USD",
        client=Client(id="604", name="Ahmed Hassan", first_name="Ahmed", last_name="Hassan"),
        items=[LineItem(name="Travel", quantity=Decimal(1), unit_price=Decimal("250.5"))],
        adjustment=Decimal("-0.5"),
        status=InvoiceStatus.DRAFT,
    ),
}


def with_daftra_tax(invoice: Invoice) -> Invoice:
    """``invoice`` with the tax Daftra computes, which a write checks like a dry run."""
    invoice.tax_total = daftra_tax_total(invoice)
    invoice.total = invoice.subtotal - invoice.discount_total + invoice.tax_total
    invoice.total += invoice.adjustment
    invoice.balance_due = invoice.total - invoice.amount_paid
    return invoice


@pytest.mark.parametrize("name", INVOICES)
def test_create_invoice_body_matches_the_documented_schema(
    daftra: DaftraBackend, api: responses.RequestsMock, spec: dict[str, Any], name: str
) -> None:
    daftra.create_invoice(with_daftra_tax(INVOICES[name].copy()))
    [body] = sent(api, "POST", "/invoices.json")
    assert errors(post_invoice_schema(spec), body) == []
    # The body is also a valid PUT body: the two share one shape.
    assert (
        errors(request_schema(spec, "/invoices/{id}{format}", "put", "application/json"), body)
        == []
    )


def test_update_invoice_body_matches_the_put_schema(
    daftra: DaftraBackend, api: responses.RequestsMock, spec: dict[str, Any]
) -> None:
    invoice = daftra.get_invoice("2415")
    invoice.notes = "Updated"
    daftra.update_invoice(invoice)
    [body] = sent(api, "PUT", "/invoices/2415.json")
    schema = request_schema(spec, "/invoices/{id}{format}", "put", "application/json")
    assert errors(schema, body) == []


def test_the_schema_check_finds_a_body_without_client_id(spec: dict[str, Any]) -> None:
    body = {"Invoice": {"date": "2026-09-25"}, "InvoiceItem": [{"item": "x", "tax1": "VAT"}]}
    found = errors(post_invoice_schema(spec), body)
    assert any("client_id" in e for e in found)
    assert any("tax1" in e for e in found)


def test_client_bodies_match_the_schema_and_use_documented_fields(
    daftra: DaftraBackend, api: responses.RequestsMock, spec: dict[str, Any]
) -> None:
    daftra.create_client(_client(id=None))
    daftra.create_client(
        Client(name="Ahmed Hassan", first_name="Ahmed", last_name="Hassan", phone="+20 100")
    )
    client = daftra.get_client("512")
    client.phone = "+966 55 000 1111"
    daftra.update_client(client)
    post = spec["paths"]["/clients{format}"]["post"]["requestBody"]["content"]["application/json"]
    documented = set(post["example"]["Client"])
    for body in sent(api, "POST", "/clients.json"):
        assert errors(post["schema"], body) == []
        assert set(body) == {"Client"}
        assert set(body["Client"]) <= documented, set(body["Client"]) - documented
    [update] = sent(api, "PUT", "/clients/512.json")
    put_schema = request_schema(spec, "/clients/{id}{format}", "put", "application/json")
    assert errors(put_schema, update) == []


def test_record_payment_body_matches_the_schema(
    daftra: DaftraBackend, api: responses.RequestsMock, spec: dict[str, Any]
) -> None:
    daftra.record_payment(
        Payment(
            invoice_id="2415",
            amount=Decimal("100.5"),
            date=dt.date(2026, 10, 1),
            method="cash",
        )
    )
    [body] = sent(api, "POST", "/invoice_payments.json")
    schema = request_schema(spec, "/invoice_payments{format}", "post", "application/json")
    assert errors(schema, body) == []
    # The fields the docs require of an invoice payment (api-notes §5).
    assert {"invoice_id", "payment_method", "amount"} <= set(body["InvoicePayment"])


def test_oauth_token_form_matches_the_schema(
    oauth_options: dict[str, Any],
    mock: responses.RequestsMock,
    base_url: str,
    fixture_text: Any,
    spec: dict[str, Any],
) -> None:
    mock.post("https://alnoor.daftra.com/v2/oauth/token", body=fixture_text("oauth/token.json"))
    mock.get(f"{base_url}/clients/512.json", body=fixture_text("clients/get.json"))
    with DaftraBackend(**oauth_options) as daftra:
        daftra.get_client("512")
    call = mock.calls[0]
    raw = call.request.body
    environ = {
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": call.request.headers["Content-Type"],
        "CONTENT_LENGTH": str(len(raw)),
        "wsgi.input": io.BytesIO(raw),
    }
    form = dict(parse_form_data(environ)[1])
    schema = request_schema(spec, "/v2/oauth/token", "post", "multipart/form-data")
    assert errors(schema, form) == []
