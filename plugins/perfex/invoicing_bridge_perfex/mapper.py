"""Neutral ↔ wire glue: the read schemas with a context snapshot of the lookups, the
loads (and what the lookups learn from them), and the write dumps.

The mapper keeps one instance of each read schema (building one costs more than a
load) for the current :class:`~.schemas.context.PerfexContext`; when the lookups have
learned something the schemas are built again with the new snapshot.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, TypeVar

from marshmallow import ValidationError

from invoicing_bridge.exceptions import MappingError
from invoicing_bridge.models import Client, Invoice, InvoiceStatus, Payment

from .cents import money_text
from .lookups import PerfexLookups
from .phpforms import encode_form
from .schemas.context import PerfexContext
from .schemas.fields import to_date
from .schemas.read import (
    POSSIBLE_STATUSES,
    PerfexClientSchema,
    PerfexInvoiceSchema,
    PerfexPaymentSchema,
    PerfexSchema,
    load_many,
)
from .schemas.write import (
    InvoicePlan,
    PerfexClientWriteSchema,
    PerfexInvoiceWriteSchema,
    PerfexPaymentWriteSchema,
)

__all__ = ["PerfexMapper", "lacks_line_taxes", "row_may_match"]

S = TypeVar("S", bound=PerfexSchema)

_READERS: dict[str, type[PerfexSchema]] = {
    "invoice": PerfexInvoiceSchema,
    "client": PerfexClientSchema,
    "payment": PerfexPaymentSchema,
}


def lacks_line_taxes(data: Mapping[str, Any]) -> bool:
    """Whether an invoice read has tax but its lines carry none [notes §4.1]: the install's
    taxes must be at hand (fetched) before it is loaded, to infer them."""
    items = data.get("items")
    if not isinstance(items, list) or not items:
        return False
    if all(isinstance(i, Mapping) and isinstance(i.get("taxes"), list) for i in items):
        return False
    return str(data.get("total_tax") or "0").strip() not in ("0", "0.00", "0.0", "")


def row_may_match(
    row: Any,
    since: dt.date | None,
    status: InvoiceStatus | None,
    client_id: str | None,
) -> bool:
    """Whether an invoice list row may pass the filters (decided before reading it)."""
    if not isinstance(row, Mapping):
        return False
    if client_id is not None and str(row.get("clientid")) != str(client_id):
        return False
    if since is not None:
        try:
            issued = to_date(row.get("date"))
        except ValidationError:
            issued = None
        if issued is not None and issued < since:
            return False
    if status is not None:
        possible = POSSIBLE_STATUSES.get(str(row.get("status")), frozenset())
        if possible and status not in possible:
            return False
    return True


class PerfexMapper:
    """Maps Perfex payloads to neutral records and back, with ``lookups``' tables."""

    def __init__(self, lookups: PerfexLookups) -> None:
        self.lookups = lookups
        self._lock = threading.Lock()
        self._context: PerfexContext | None = None
        self._schemas: dict[type[Any], Any] = {}

    def schema(self, cls: type[S]) -> S:
        """The read schema ``cls`` for the lookups as they are now."""
        context = self.lookups.context()
        with self._lock:
            if context != self._context:
                self._context, self._schemas = context, {}
            schema = self._schemas.get(cls)
            if schema is None:
                schema = self._schemas[cls] = cls(context=context)
        found: S = schema
        return found

    # ----------------------------------------------------------------- reading

    def load(self, kind: str, payload: Any) -> list[Any]:
        """Every ``kind`` record of ``payload`` (one record, a 2.x array or a 3.x page);
        the lookups learn from them afterwards. Raises MappingError."""
        if kind not in _READERS:
            raise MappingError(f"unknown record kind {kind!r}", backend="perfex")
        records = load_many(self.schema(_READERS[kind]), without_secrets(payload), kind)
        self.lookups.learn_from(records)
        return records

    def invoice(self, payload: Any) -> Invoice:
        invoice: Invoice = self.load("invoice", payload)[0]
        return invoice

    def client(self, payload: Any) -> Client:
        client: Client = self.load("client", payload)[0]
        return client

    def payment(self, payload: Any) -> Payment:
        payment: Payment = self.load("payment", payload)[0]
        return payment

    # ----------------------------------------------------------------- writing

    def invoice_form(self, invoice: Invoice, plan: InvoicePlan) -> list[tuple[str, str]]:
        """The create form (``POST /api/invoices``), PHP bracket keys."""
        return encode_form(PerfexInvoiceWriteSchema(plan=plan).dump(invoice))

    def invoice_body(self, invoice: Invoice, plan: InvoicePlan) -> dict[str, Any]:
        """The update body (``PUT /api/invoices/<id>``, raw JSON in 2.x)."""
        body: dict[str, Any] = PerfexInvoiceWriteSchema(plan=plan, for_update=True).dump(invoice)
        return body

    def client_fields(self, client: Client) -> dict[str, Any]:
        """The customer fields (``POST/PUT /api/customers``)."""
        fields: dict[str, Any] = PerfexClientWriteSchema(context=self.lookups.context()).dump(
            client
        )
        return fields

    def payment_form(
        self, payment: Payment, *, mode: str, amount: Decimal
    ) -> list[tuple[str, str]]:
        """The payment form (``POST /api/payments``) with ``mode`` and ``amount``."""
        form = PerfexPaymentWriteSchema(mode=mode).dump(payment)
        form["amount"] = money_text(amount)
        return encode_form(form)


#: Contact columns that contact rows (``contacts.*`` joined with ``clients.*``) carry and
#: that must never reach a record, its ``raw`` or any output: the bcrypt password, the
#: reset key, the last IP (M208 ``Api_model.php:752``).
CONTACT_SECRETS = frozenset(
    {
        "password",
        "new_pass_key",
        "new_pass_key_requested",
        "last_password_change",
        "email_verification_key",
        "last_ip",
    }
)


#: How deep :func:`without_secrets` looks: contact rows sit at most a few levels down (a
#: list of rows, a row's ``contacts``); deeper is junk the load refuses as nested too deeply,
#: and following it would exhaust the stack before that refusal.
SECRETS_DEPTH = 16


#: JSON's leaves, told by their exact type (no ABC check for the many values of a payload).
_LEAVES = frozenset({str, int, float, bool, Decimal, type(None)})


def without_secrets(payload: Any, depth: int = 0) -> Any:
    """``payload`` without :data:`CONTACT_SECRETS` down to :data:`SECRETS_DEPTH` levels.

    Copy on write: a part holding no secret is returned as it is (the same object), so
    a payload without contact columns (an invoice) is walked but not copied; a part
    holding one is a new dict (or list), the payload itself left untouched."""
    if type(payload) in _LEAVES or depth >= SECRETS_DEPTH:
        return payload
    if isinstance(payload, Mapping):
        # The keys are checked in one set operation, and only the values that are no
        # leaf (an invoice's items, payments, customer) are walked.
        secret = not CONTACT_SECRETS.isdisjoint(payload)
        changed: dict[Any, Any] = {}
        for key, value in [(k, v) for k, v in payload.items() if type(v) not in _LEAVES]:
            if key not in CONTACT_SECRETS:
                clean = without_secrets(value, depth + 1)
                if clean is not value:
                    changed[key] = clean
        if not secret and not changed:
            return payload
        return {
            k: changed.get(k, v) if changed else v
            for k, v in payload.items()
            if k not in CONTACT_SECRETS
        }
    if isinstance(payload, list | tuple):
        cleaned = [without_secrets(v, depth + 1) for v in payload]
        if all(a is b for a, b in zip(cleaned, payload, strict=True)):
            return payload
        return cleaned
    return payload
