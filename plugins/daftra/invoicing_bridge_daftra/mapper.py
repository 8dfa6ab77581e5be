"""Neutral model ↔ Daftra records: the schemas with what they need, and the shapes of
Daftra's payloads (envelopes, list rows, invoice types).

The mapper keeps a :class:`~.schemas.read.DaftraContext` and one set of schemas built
with it. A load or dump that needs what the context lacks (the account's date format, its
tax table) raises :class:`~.dates.ContextPending`; the mapper then fetches it through the
callables the backend gave it, builds schemas with the richer context, and maps again. So
no schema does I/O, and offline (no fetchers) the context is final from the start.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from marshmallow import ValidationError

from invoicing_bridge.backends.base import RECORD_KINDS
from invoicing_bridge.backends.http import loads_json
from invoicing_bridge.exceptions import MappingError
from invoicing_bridge.models import Client, Invoice, Payment
from invoicing_bridge.schemas.base import BackendSchema, dump_record, load_record
from invoicing_bridge.schemas.fields import short_repr, to_id

from .dates import ContextPending, DateReader
from .schemas.read import (
    DaftraClientPaymentSchema,
    DaftraClientSchema,
    DaftraContext,
    DaftraInvoiceSchema,
    DaftraPaymentSchema,
    TaxInfo,
    to_int_or_none,
)
from .schemas.write import DaftraClientBodySchema, DaftraInvoiceBodySchema, DaftraPaymentBodySchema

__all__ = ["DaftraMapper", "Schemas"]

T = TypeVar("T")
#: What a record kind is loaded with, and how it is named in errors.
_READ = {
    "invoice": ("invoice", "invoice"),
    "client": ("client", "client"),
    "payment": ("payment", "invoice payment"),
    "client_payment": ("client_payment", "client payment"),
}


@dataclasses.dataclass(frozen=True)
class Schemas:
    """One set of schemas sharing one context (built once per context)."""

    context: DaftraContext
    invoice: DaftraInvoiceSchema
    client: DaftraClientSchema
    payment: DaftraPaymentSchema
    client_payment: DaftraClientPaymentSchema
    invoice_body: DaftraInvoiceBodySchema
    client_body: DaftraClientBodySchema
    payment_body: DaftraPaymentBodySchema

    @classmethod
    def build(cls, context: DaftraContext) -> Schemas:
        return cls(
            context,
            DaftraInvoiceSchema(context=context),
            DaftraClientSchema(context=context),
            DaftraPaymentSchema(context=context),
            DaftraClientPaymentSchema(context=context),
            DaftraInvoiceBodySchema(context=context),
            DaftraClientBodySchema(context=context),
            DaftraPaymentBodySchema(context=context),
        )


class DaftraMapper:
    """Loads and dumps for one backend instance.

    ``date_format``: the option (a pattern, or None). ``account_date_pattern`` fetches the
    account's pattern and ``tax_table(refresh)`` its taxes; without them (offline) dates
    are read without the account's format and rates come from the payload itself.
    """

    def __init__(
        self,
        backend: str,
        *,
        date_format: str | None = None,
        account_date_pattern: Callable[[], str | None] | None = None,
        tax_table: Callable[[bool], Mapping[str, TaxInfo]] | None = None,
    ) -> None:
        self.name = backend
        self._account_date_pattern = account_date_pattern
        self._tax_table = tax_table
        context = DaftraContext(
            backend=backend,
            dates=DateReader(date_format, pending=account_date_pattern is not None),
            taxes=None,
            taxes_final=tax_table is None,
        )
        self._schemas = Schemas.build(context)
        self._lock = threading.Lock()

    @property
    def context(self) -> DaftraContext:
        return self._schemas.context

    # ----------------------------------------------------------------- context

    def run(self, step: Callable[[Schemas], T]) -> T:
        """``step(schemas)``; when it needs what the context lacks, that is fetched and
        ``step`` runs again with the new schemas (a date format and a tax table, fetched
        and refreshed: at most three times)."""
        for _ in range(3):
            schemas = self._schemas
            try:
                return step(schemas)
            except ContextPending as pending:
                self._provide(pending.what, schemas)
        try:
            return step(self._schemas)
        except ContextPending as pending:
            raise MappingError(
                f"the account's {pending.what} is still missing", backend=self.name
            ) from None

    def _provide(self, what: str, seen: Schemas) -> None:
        with self._lock:
            if self._schemas is not seen:
                return  # another thread brought the context up to date meanwhile
            context = seen.context
            if what == "date_format" and self._account_date_pattern is not None:
                pattern = self._account_date_pattern()
                context = dataclasses.replace(context, dates=DateReader(pattern))
            elif what == "taxes" and self._tax_table is not None:
                refresh = context.taxes is not None
                context = dataclasses.replace(
                    context, taxes=self._tax_table(refresh), taxes_final=refresh
                )
            else:
                raise MappingError(f"the account's {what} is not available", backend=self.name)
            self._schemas = Schemas.build(context)

    def date_pattern(self) -> str | None:
        """The account's display pattern in use (asking the account when not yet known)."""

        def pattern(schemas: Schemas) -> str | None:
            if schemas.context.dates.pending:
                raise ContextPending("date_format")
            return schemas.context.dates.pattern

        return self.run(pattern)

    # ----------------------------------------------------------------- mapping

    def load(self, kind: str, row: Any) -> Any:
        """One record of ``kind`` (invoice, client, payment, client_payment).
        Raises MappingError."""
        attribute, what = _READ[kind]
        return self.run(
            lambda s: load_record(getattr(s, attribute), row, backend=self.name, what=what)
        )

    def dump(self, kind: str, record: Any) -> dict[str, Any]:
        """The request body for ``record`` (kind invoice, client or payment).
        Raises MappingError."""
        return self.run(
            lambda s: dump_record(getattr(s, f"{kind}_body"), record, backend=self.name, what=kind)
        )

    def record(self, kind: str, payload: Mapping[str, Any]) -> Mapping[str, Any]:
        """The record inside a payload (``{"Invoice": {...}}`` with its associations)."""
        schema: BackendSchema[Any] = getattr(self._schemas, kind)
        return schema.unwrap(payload)

    def is_standard_invoice(self, row: Any) -> bool:
        """Type 0 (or unset): the list also carries debit notes (16) and advance payments
        (19), which ``/invoices/{id}`` does not serve."""
        if not isinstance(row, Mapping):
            return True  # let the mapping say what is wrong with it
        return to_int_or_none(self.record("invoice", row).get("type")) in (None, 0)

    def parse(self, kind: str, payload: Any) -> list[Invoice | Client | Payment]:
        """Map a saved payload: a whole answer (single or list), a bare record, a list row
        or a JSON array of those (see ``DaftraBackend.parse_payload``)."""
        if kind not in RECORD_KINDS:
            raise MappingError(
                f"unknown record kind {kind!r}; expected one of {', '.join(RECORD_KINDS)}",
                backend=self.name,
            )
        if isinstance(payload, str | bytes):
            try:
                payload = loads_json(payload)
            except ValueError as exc:
                raise MappingError(f"not JSON: {exc}", backend=self.name) from None
        records: list[Invoice | Client | Payment] = []
        for row in _payload_rows(payload, self.name):
            if kind == "payment" and _is_client_payment(row):
                records.append(self.load("client_payment", row))
            else:
                records.append(self.load(kind, row))
        return records


def _is_client_payment(row: Any) -> bool:
    if not isinstance(row, Mapping):
        return False
    if isinstance(row.get("ClientPayment"), Mapping):
        return True
    if isinstance(row.get("InvoicePayment"), Mapping):
        return False
    try:
        linked = to_id(row.get("invoice_id"))
    except ValidationError:
        linked = None
    return linked is None and "client_id" in row


def _payload_rows(payload: Any, backend: str) -> list[Any]:
    if isinstance(payload, list):
        return payload
    if not isinstance(payload, Mapping):
        raise MappingError(
            f"expected a JSON object or array, got {type(payload).__name__}", backend=backend
        )
    result = payload.get("result")
    if isinstance(result, str) and result.lower() == "failed":
        raise MappingError(
            f"this payload is a Daftra error answer: {short_repr(payload.get('message'), 200)}",
            backend=backend,
        )
    if "data" in payload:
        data = payload["data"]
        if isinstance(data, list):
            return data
        if isinstance(data, Mapping):
            return [data]
    return [payload]
