"""The Daftra backend: Daftra's ``/api2`` (v1) REST API over HTTP: the verbs.

Options are in :mod:`.options`; the backend owns a :class:`~.connection.DaftraConnection`
(authentication, paging, the account's facts) and a :class:`~.mapper.DaftraMapper` (the
schemas and the context they need: the account's date format from the connection, its
taxes from :class:`~.taxes.TaxTable`); :mod:`.plan` decides what a write sends and
:mod:`.errors` reads Daftra's error bodies.

Facts about the API are from ``api-notes/daftra.md`` (quoted as "api-notes §n").
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from invoicing_bridge.backends.base import Feature, clients_matching, identity_criteria
from invoicing_bridge.backends.http import HTTPBackend
from invoicing_bridge.exceptions import (
    Expected,
    InvalidRequest,
    MappingError,
    NotFound,
    PermissionDenied,
)
from invoicing_bridge.models import Client, Invoice, InvoiceStatus, Payment, PaymentStatus
from invoicing_bridge.schemas.fields import to_id

from .connection import ORDER, DaftraConnection, path_id
from .errors import parse_error
from .mapper import DaftraMapper
from .options import DaftraOptions, api_root
from .plan import (
    create_body,
    daftra_tax_total,
    invoice_problems,
    merge_client_update,
    merge_invoice_update,
    rounding_shown,
)
from .schemas.write import inline_payment
from .taxes import TaxTable

__all__ = ["DaftraBackend"]

log = logging.getLogger("invoicing_bridge.daftra")


class DaftraBackend(HTTPBackend):
    """Invoices, clients and invoice payments of a Daftra account through ``/api2``.

    - Lists read every page until ``page >= page_count``, in an explicit order
      (``sort=id&direction=ASC``), with no page cap; filters Daftra might ignore are
      checked again on each row (api-notes §3: unknown filters are silently ignored).
    - ``iter_invoices(since=...)`` filters on the **invoice date** (``date_from``):
      Daftra has no modified-since filter. Debit notes and advance payments, which share
      the invoice list but not ``/invoices/{id}``, are skipped.
    - Creates answer 202 with an id; the record is then read back as stored.
    - Updates read the record, lay the neutral fields over it and PUT the whole of it:
      a PUT replaces every field, so what the neutral model does not carry is kept.
    - Line taxes are tax ids; they are resolved through ``/taxes`` (cached per instance),
      and on write a rate maps to an existing exclusive tax of that rate (the one of the
      same name when several) or raises MappingError naming the rate.
    - ``iter_payments()`` sends ``include_client_credit=1``: without it Daftra hides
      client-credit payments (api-notes §5). ``iter_payments(invoice_id=...)`` reads the
      payments embedded in the invoice.

    Raises the core's exceptions: ``AuthenticationError`` (401), ``NotFound`` (404),
    ``InvalidRequest`` with ``field_errors`` (400 ``validation_errors``), ``ServerError``,
    ``RateLimited``, ``TransportError`` (connection, HTML instead of JSON), and
    ``MappingError`` for a payload or a neutral record that cannot be mapped.
    """

    name = "daftra"
    features = frozenset(
        {
            Feature.LIST_INVOICES,
            Feature.GET_INVOICE,
            Feature.FIND_INVOICE,
            Feature.CREATE_INVOICE,
            Feature.UPDATE_INVOICE,
            Feature.DELETE_INVOICE,
            Feature.LIST_CLIENTS,
            Feature.GET_CLIENT,
            Feature.FIND_CLIENT,
            # find_client reads the client list and compares each row itself (Daftra
            # documents no client search), so a tax number (bn1/bn2) is found too.
            Feature.FIND_CLIENT_BY_TAX_NUMBER,
            Feature.CREATE_CLIENT,
            Feature.UPDATE_CLIENT,
            Feature.LIST_PAYMENTS,
            Feature.GET_PAYMENT,
            Feature.RECORD_PAYMENT,
            Feature.DRAFT_INVOICES,  # draft=1 is stored as a draft
            Feature.PARSE,
            Feature.ITEM_TAX_DETAIL,  # reads carry each line's tax1/tax2
            Feature.PAYMENT_DATES,  # a recorded payment keeps the date it is given
            Feature.CREATE_WITH_PAYMENTS,  # Payment[] beside Invoice in the create (§3)
        }
    )
    money_places = 4  # amounts are stored with four places (api-notes §6.1)
    Options = DaftraOptions
    location_options = ("base_url", "subdomain")  # a failed check() names the one set

    connection: DaftraConnection
    taxes: TaxTable
    mapper: DaftraMapper

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.http = self._make_http(base_url=api_root(self.options), error_parser=parse_error)
        self.connection = DaftraConnection(self.http, self.options, backend=self.name)
        self.taxes = TaxTable(self.connection)
        self.mapper = DaftraMapper(
            self.name,
            date_format=self.options.get("date_format"),
            account_date_pattern=self.connection.account_date_pattern,
            tax_table=lambda refresh: self.taxes.read(refresh=refresh),
        )
        self._roundings: tuple[str, ...] | None = None
        self._roundings_lock = threading.Lock()

    def _init_offline(self) -> None:
        self.mapper = DaftraMapper(self.name, date_format=self.options.get("date_format"))

    @property
    def base_url(self) -> str:
        return self.http.base_url

    @property
    def site_root(self) -> str:
        """Where ``/v2/oauth/token`` lives: the API root without ``/api2``."""
        return self.connection.site_root

    @property
    def auth(self) -> str:
        """``"api_key"`` or ``"oauth"``."""
        return self.connection.auth

    def parse_payload(self, kind: str, payload: Any) -> list[Invoice | Client | Payment]:
        """Map a saved Daftra payload offline: a whole answer (single or list), a bare
        record, a list row (``{"Invoice": {...}, "Client": {...}}``) or a JSON array of
        those. ``kind`` ``payment`` reads invoice payments and client payments.

        Raises MappingError.
        """
        return self.mapper.parse(kind, payload)

    # ----------------------------------------------------------------- account

    def check_connection(self) -> dict[str, Any]:
        """``GET site_info``: who the key belongs to. Raises AuthenticationError."""
        site = self.connection.site_info()
        return {
            "backend": self.name,
            "auth": self.auth,
            "site_id": site.get("id"),
            "business_name": site.get("business_name"),
            "subdomain": site.get("subdomain"),
            "currency": site.get("currency_code"),
            "country": site.get("country_code"),
            "date_format": self.mapper.date_pattern(),
        }

    # ----------------------------------------------------------------- invoices

    def iter_invoices(
        self,
        *,
        since: dt.date | None = None,
        status: InvoiceStatus | str | None = None,
        client_id: str | None = None,
    ) -> Iterator[Invoice]:
        """Every invoice, page by page. ``since`` keeps invoices *dated* on or after it
        (``date_from``): Daftra has no modified-since filter."""
        status = InvoiceStatus.coerce(status)  # "open" too; a typo is refused
        params: dict[str, Any] = {**ORDER, "recursive": 1}
        if client_id:
            params["client_id"] = client_id
        if since is not None:
            params["date_from"] = since.isoformat()
        for rows in self.connection.pages("invoices.json", params):
            for row in rows:
                if not self.mapper.is_standard_invoice(row):
                    continue
                invoice: Invoice = self.mapper.load("invoice", row)
                if client_id and invoice.client.id != client_id:
                    continue
                if since is not None and invoice.issue_date < since:
                    continue
                if status is not None and invoice.status is not status:
                    continue
                yield invoice

    def _read_invoice(self, id: str) -> Mapping[str, Any]:
        return self.connection.record(f"invoices/{path_id(id)}.json")

    def get_invoice(self, id: str) -> Invoice:
        """Raises NotFound (Daftra: 404 "Invoice not found")."""
        invoice: Invoice = self.mapper.load("invoice", self._read_invoice(id))
        return invoice

    def _invoice_ids_by_number(self, query: str, keep: Any) -> list[str]:
        ids: list[str] = []
        params = {**ORDER, "no": query, "recursive": -1}
        for rows in self.connection.pages("invoices.json", params):
            for row in rows:
                record = self.mapper.record("invoice", row) if isinstance(row, Mapping) else {}
                number = record.get("no")
                if (
                    self.mapper.is_standard_invoice(row)
                    and isinstance(number, str)
                    and keep(number)
                ):
                    new = to_id(record.get("id"))
                    if new is not None:
                        ids.append(new)
        return ids

    def find_invoice(self, number: str) -> Invoice | None:
        """The invoice numbered exactly ``number``; else the one invoice whose number
        normalises the same (``"INV-000002"`` finds ``"000002"``); None when there is none
        or several.

        Searches with Daftra's ``no`` filter (a partial match) and compares each number
        itself, so a filter the server ignores costs time, not correctness.
        """
        exact = self._invoice_ids_by_number(number, lambda found: found == number)
        if exact:
            return self.get_invoice(exact[0])
        wanted = self.normalize_number(number)
        query = wanted if wanted.isdigit() else number
        close = self._invoice_ids_by_number(
            query, lambda found: self.normalize_number(found) == wanted
        )
        if len(close) == 1:
            return self.get_invoice(close[0])
        if close:
            log.warning(
                "%s: %d invoices have a number like %r; none matches exactly",
                self.name,
                len(close),
                number,
            )
        return None

    def create_invoice(self, invoice: Invoice) -> Invoice:
        """POST the v1 body (``Invoice``, ``InvoiceItem``, ``Payment`` as siblings), then
        read the stored invoice back (the answer is its id only).

        The completed payments go in the body's ``Payment[]`` (one request for the invoice
        and its payments), except those a row there cannot carry as documented (notes, a
        paypal or stripe payment without the client's email): those are recorded through
        ``/invoice_payments`` right after. Raises InvalidRequest, MappingError."""
        self.check_amounts(invoice)
        done = [p for p in invoice.payments if p.status is PaymentStatus.COMPLETED]
        later = [p for p in done if not inline_payment(p, invoice.client)]
        for payment in later:
            self.check_amounts(payment)
        sent = (
            invoice
            if not later
            else invoice.copy(
                payments=[p for p in invoice.payments if not any(p is q for q in later)]
            )
        )
        body = create_body(self.mapper.dump("invoice", sent))
        new_id = self.connection.create("invoices.json", body)
        for payment in later:
            self.record_payment(dataclasses.replace(payment, id=None, invoice_id=new_id))
        return self._due_as_sent(self.get_invoice(new_id), body)

    def validate_invoice(self, invoice: Invoice) -> None:
        """What :meth:`create_invoice` would refuse, found without writing: the body must
        map (no void status, at most two taxes a line, each rate an existing tax of the
        account, which reads ``/taxes``; a due date not before the issue date) and what
        Daftra validates (payment amounts above zero, a payment method on each) and the
        tax it computes itself under the account's rounding (:meth:`tax_roundings`): a tax
        total or total it would store with other cents is refused, the figure it would
        store given as ``expected``.
        ``invoice.client.id`` may be None. Raises MappingError, InvalidRequest."""
        self.check_amounts(invoice)
        probe = invoice
        if not invoice.client.id:
            probe = dataclasses.replace(invoice, client=dataclasses.replace(invoice.client, id="0"))
        self.mapper.dump("invoice", probe)
        roundings = self.tax_roundings()
        problems = invoice_problems(invoice, roundings)
        if problems:
            # The tax Daftra computes itself under the account's rounding, as data (a
            # plan adopts it).
            expected = (
                [Expected("tax_total", daftra_tax_total(invoice, roundings[0]), invoice.tax_total)]
                if "tax_total" in problems
                else []
            )
            raise InvalidRequest(
                "Daftra would refuse this invoice",
                backend=self.name,
                field_errors=problems,
                expected=expected,
            )

    def tax_roundings(self) -> tuple[str, ...]:
        """How the account rounds each line's tax (``("cent",)`` or ``("four",)``): the
        ``tax_rounding`` option; else what the account's latest invoices show (one read,
        kept for the backend's life, so a dry run and the run after it decide alike);
        else, with no invoice to tell, ``cent``: no source says which one Daftra uses
        (api-notes "Findings": Precision), and taking a tax total either one gives would
        let a run store other cents than its dry run planned."""
        with self._roundings_lock:
            if self._roundings is None:
                chosen, how = self.options.get("tax_rounding"), "the tax_rounding option"
                if chosen is None:
                    chosen, how = self._rounding_shown(), "the account's invoices"
                if chosen is None:
                    chosen, how = "cent", "assumed: no invoice of the account shows it"
                log.info("%s: line taxes taken as rounded to %s (%s)", self.name, chosen, how)
                self._roundings = (chosen,)
            return self._roundings

    def _rounding_shown(self) -> str | None:
        params = {"sort": "id", "direction": "DESC", "recursive": 1, "page": 1}
        try:
            answer = self.connection.get(
                "invoices.json", {**params, "limit": self.options["page_size"]}
            )
        except PermissionDenied:
            return None  # a key that may not list invoices: nothing shown
        rows = answer.get("data") if isinstance(answer, Mapping) else None
        records = [
            self.mapper.record("invoice", row)
            for row in rows or ()
            if isinstance(row, Mapping) and self.mapper.is_standard_invoice(row)
        ]
        return rounding_shown(records, self.taxes.read()) if records else None

    def update_invoice(self, invoice: Invoice) -> Invoice:
        """Read, modify, write the whole record (a PUT replaces it); return it as stored.

        Payments are not touched (record them with :meth:`record_payment`).
        Raises NotFound, InvalidRequest, MappingError.
        """
        if not invoice.id:
            raise MappingError("an update needs the invoice's id", backend=self.name, field="id")
        current = self.mapper.record("invoice", self._read_invoice(invoice.id))
        neutral = self.mapper.dump("invoice", invoice)
        amounts = (invoice.discount_total, invoice.adjustment)
        body = self.mapper.run(
            lambda s: merge_invoice_update(current, neutral, s.context.dates, amounts=amounts)
        )
        self.connection.send("PUT", f"invoices/{path_id(invoice.id)}.json", body)
        return self._due_as_sent(self.get_invoice(invoice.id), body)

    def _due_as_sent(self, stored: Invoice, body: Mapping[str, Any]) -> Invoice:
        """``stored`` with the due date just written when its GET carries no ``due_after``
        (the documented v1 GET Single Invoice has none: api-notes "Findings", Due date); the
        date is then marked ``extra["due_date_as_sent"]``. A later read has no due date."""
        record = self.mapper.record("invoice", stored.raw or {})
        if stored.due_date is not None or "due_after" in record:
            return stored
        header = body.get("Invoice")
        days = header.get("due_after") if isinstance(header, Mapping) else None
        if isinstance(days, int) and days >= 0:
            stored.due_date = stored.issue_date + dt.timedelta(days=days)
            stored.extra["due_date_as_sent"] = True
        return stored

    def delete_invoice(self, id: str) -> None:
        """Raises NotFound."""
        self.connection.send("DELETE", f"invoices/{path_id(id)}.json", None)

    # ----------------------------------------------------------------- clients

    def iter_clients(self) -> Iterator[Client]:
        for rows in self.connection.pages("clients.json", ORDER):
            for row in rows:
                client: Client = self.mapper.load("client", row)
                yield client

    def get_client(self, id: str) -> Client:
        """Raises NotFound."""
        client: Client = self.mapper.load(
            "client", self.connection.record(f"clients/{path_id(id)}.json")
        )
        return client

    def find_client(
        self,
        *,
        email: str | None = None,
        tax_number: str | None = None,
        name: str | None = None,
    ) -> Client | None:
        """The first client matching every criterion, compared by the core's
        :func:`~invoicing_bridge.models.identity_key`. Daftra documents no client search
        filter, so the client list is read and compared here."""
        wanted = identity_criteria(email=email, tax_number=tax_number, name=name)
        if not wanted:
            return None
        return next(clients_matching(self.iter_clients(), wanted), None)

    def create_client(self, client: Client) -> Client:
        """Raises InvalidRequest (Daftra's validation_errors)."""
        body = create_body(self.mapper.dump("client", client))
        return self.get_client(self.connection.create("clients.json", body))

    def update_client(self, client: Client) -> Client:
        """Read, modify, write the whole client record. Raises NotFound, InvalidRequest."""
        if not client.id:
            raise MappingError("an update needs the client's id", backend=self.name, field="id")
        path = f"clients/{path_id(client.id)}.json"
        current = self.mapper.record("client", self.connection.record(path))
        body = merge_client_update(current, self.mapper.dump("client", client))
        self.connection.send("PUT", path, body)
        return self.get_client(client.id)

    # ----------------------------------------------------------------- payments

    #: Kinds a migration does not move, and the listing of each (api-notes §3, §5).
    #: Client-credit payments on invoices are invoice payments, migrated as such.
    UNMIGRATED_LISTINGS = (
        ("estimate", "estimates.json"),
        ("credit_note", "credit_notes.json"),
        ("client_payment", "client_payments.json"),
        ("product", "products.json"),
    )

    def unmigrated_counts(self) -> dict[str, int] | None:
        """Estimates, credit notes, account-level client payments and products, each
        counted by one request (a page of one row: ``pagination.total_results``); a kind
        the account cannot list (404) is left out."""
        counts: dict[str, int] = {}
        for kind, path in self.UNMIGRATED_LISTINGS:
            try:
                answer = self.connection.get(path, {"page": 1, "limit": 1})
            except NotFound:
                continue
            pagination = answer.get("pagination") if isinstance(answer, Mapping) else None
            total = pagination.get("total_results") if isinstance(pagination, Mapping) else None
            if total is None or not str(total).strip().isdigit():
                raise MappingError(
                    f"GET {path}: the answer has no pagination.total_results",
                    backend=self.name,
                    field="pagination.total_results",
                )
            counts[kind] = int(str(total).strip())
        return counts

    def iter_payments(self, *, invoice_id: str | None = None) -> Iterator[Payment]:
        """Invoice payments, client-credit ones included (``include_client_credit=1``)."""
        if invoice_id is not None:
            yield from self.get_invoice(invoice_id).payments
            return
        params = {**ORDER, "include_client_credit": 1}
        for rows in self.connection.pages("invoice_payments.json", params):
            for row in rows:
                payment: Payment = self.mapper.load("payment", row)
                yield payment

    def get_payment(self, id: str) -> Payment:
        """Raises NotFound."""
        payment: Payment = self.mapper.load(
            "payment", self.connection.record(f"invoice_payments/{path_id(id)}.json")
        )
        return payment

    def record_payment(self, payment: Payment) -> Payment:
        """POST ``{"InvoicePayment": {...}}`` (amount with four decimals); return it as
        stored. Raises InvalidRequest, MappingError (no ``invoice_id``)."""
        self.check_amounts(payment)
        body = self.mapper.dump("payment", payment)
        return self.get_payment(self.connection.create("invoice_payments.json", body))
