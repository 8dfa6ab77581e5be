"""The Perfex CRM backend: the Themesic "REST API for Perfex CRM" module, 2.x and 3.x.

This module holds the verbs. The backend owns its parts (the notes' sections in brackets):

- :mod:`.options`: the options; :mod:`.errors`: Perfex's error bodies (a bad or missing
  token is a **404**, not a 401 [§3]);
- :mod:`.connection`: the token header [§1], paging (2.x bare arrays, 3.x ``{data,
  meta}`` pages [§4.2]) and version detection;
- :mod:`.lookups`: payment modes, taxes and currency ids, fetched once;
- :mod:`.mapper` and :mod:`.schemas`: payloads ↔ the neutral model (reads carry no
  per-line tax [§4.1]);
- :mod:`.plan`: what Perfex would store for an invoice, computed offline (Perfex stores
  ``subtotal``/``total`` as sent [§4.4]).

What the API forces on the verbs: creates are form fields with PHP bracket keys and 2.x
reads PUT bodies as raw JSON only [§2]; 2.x returns no id on create, so the new record
is found by its number (invoices) or company (customers), while 3.x adds ``record_id``
[§4.4]; payments answer with ``paymentmode`` as the result flag and 2.0.8 answers nothing
at all, so every payment is confirmed by reading the invoice back [§6].
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from decimal import Decimal
from typing import Any, TypeVar

from invoicing_bridge.backends.base import Feature, has_identity, identity_criteria
from invoicing_bridge.backends.http import HTTPBackend
from invoicing_bridge.exceptions import (
    APIError,
    ConfigurationError,
    MappingError,
    NotFound,
    PermissionDenied,
    ServerError,
)
from invoicing_bridge.models import (
    Client,
    Invoice,
    InvoiceStatus,
    LineItem,
    Payment,
    PaymentStatus,
    TaxRate,
    identity_key,
)

from .cents import round_cents
from .connection import PerfexConnection, auth_headers, chunks, record_id
from .errors import is_no_data, message_of, parse_error
from .lookups import PerfexLookups, method_slug
from .mapper import PerfexMapper, lacks_line_taxes, row_may_match
from .numbers import DRAFT_NUMBER, as_int, parse_number
from .options import PerfexOptions
from .phpforms import encode_form
from .plan import (
    billing_fields,
    check_invoice,
    created_invoice_id,
    gateway_id,
    kept_settings,
    new_payment,
    optional_flags,
    person_names,
    primary_contact,
    with_customer_address,
)
from .schemas.write import InvoicePlan

__all__ = ["PerfexBackend", "PerfexOptions"]


def _is_usort_page(exc: ServerError) -> bool:
    """Whether a 500 (still there after the HTTP layer's retries) is a PHP error page
    rather than JSON: what module 2.0.8's ``usort()`` on one invoice gives on PHP 8
    (production installs hide the message, so the page's text is not relied on)."""
    details = exc.details if isinstance(exc.details, Mapping) else {}
    return exc.status_code == 500 and set(details) == {"body"}


log = logging.getLogger("invoicing_bridge.perfex")

T = TypeVar("T")

#: How many invoices' after-write state is kept, and for how long (seconds).
_AFTER_WRITE_KEPT = 256
_AFTER_WRITE_TTL = 60.0
#: Detail reads in flight when neither ``detail_workers`` nor a job's hint says more.
_DETAIL_WORKERS = 4
#: ... and at most this many (the option's own bound).
_MAX_DETAIL_WORKERS = 32


class PerfexBackend(HTTPBackend):
    """Perfex CRM through its REST API module (2.x and 3.x).

    Options: ``base_url`` (the API root, ``https://crm.example.com/api``), ``token``,
    ``api_version`` (``2``/``3``/``auto``), ``auth_header``, ``page_size``,
    ``currencies`` (code → Perfex currency id), ``payment_modes`` (ids for new invoices),
    ``number_padding`` (6), ``list_details``, ``detail_workers``, ``primary_contacts``,
    ``infer_line_taxes``, and the shared HTTP options.

    Numbers: the neutral ``number`` is the display number (``formatted_number`` when the
    install has it, else prefix + format + padding). :meth:`normalize_number` and
    :meth:`find_invoice` reduce any number to the integer Perfex stores.
    """

    name = "perfex"
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
            Feature.FIND_CLIENT_BY_TAX_NUMBER,  # by listing: the search never matches it
            Feature.CREATE_CLIENT,
            Feature.UPDATE_CLIENT,
            Feature.LIST_PAYMENTS,
            Feature.GET_PAYMENT,
            Feature.RECORD_PAYMENT,
            Feature.PAYMENTS_EMAIL_CUSTOMER,  # a receipt per payment, not switchable [core]
            Feature.DRAFT_INVOICES,  # save_as_draft → status 6
            Feature.PARSE,
            Feature.CREATE_WITH_PAYMENTS,  # no read between the create and its payments
        }
    )
    Options = PerfexOptions

    connection: PerfexConnection
    lookups: PerfexLookups
    mapper: PerfexMapper

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        o = self.options
        if not o.get("base_url"):
            raise ConfigurationError(
                "perfex: base_url is required (the API root, e.g. https://crm.example.com/api)",
                option="base_url",
            )
        self._init_offline()
        token: str = o["token"]
        self.http = self._make_http(
            base_url=o["base_url"],
            headers=auth_headers(token, o["auth_header"]),
            secrets=[token],
            error_parser=parse_error,
        )
        self.connection = PerfexConnection(
            self.http, api_version=o["api_version"], page_size=int(o["page_size"])
        )
        self.lookups.fetch = self.connection.rows
        self._state_lock = threading.Lock()
        #: What this backend read back right after its own write to an invoice (create,
        #: update, payment): the payment ids and the currency, by invoice id, with when.
        #: The next payment on that invoice starts from it instead of reading the invoice
        #: again (bench_migrate: one GET fewer per payment).
        self._after_write: OrderedDict[str, tuple[float, frozenset[str | None], str]] = (
            OrderedDict()
        )
        #: Set once the single-invoice GET answered module 2.0.8's HTML 500 page.
        self._single_get_broken = False

    def _init_offline(self) -> None:
        o = self.options
        self.lookups = PerfexLookups(
            currencies=dict(o.get("currencies") or {}),
            padding=int(o.get("number_padding", 6)),
            infer_taxes=bool(o.get("infer_line_taxes", True)),
        )
        self.mapper = PerfexMapper(self.lookups)

    @property
    def detected_version(self) -> str | None:
        """The module version the answers showed ("2" bare arrays, "3" pages), if seen."""
        return self.connection.detected_version

    def reading_with(self, workers: int) -> None:
        """Keep up to ``workers`` detail reads in flight while a job hands the listed
        invoices to that many threads (unless ``detail_workers`` is set): see
        :meth:`~invoicing_bridge.backends.base.InvoicingBackend.reading_with`."""
        self._read_workers = max(1, int(workers))

    def _detail_workers(self) -> int:
        """Concurrent detail reads: ``detail_workers`` when set; else 4, or the workers
        of the job reading the list when more (at most 32)."""
        configured = self.options.get("detail_workers")
        if configured is not None:
            return int(configured)
        hinted = getattr(self, "_read_workers", 0)
        return min(_MAX_DETAIL_WORKERS, max(_DETAIL_WORKERS, hinted))

    def _ahead(self, func: Callable[[Any], T], items: Iterable[Any]) -> Iterator[T]:
        """``func`` of each item, in order, computed ahead on up to ``detail_workers``
        threads: the next reads are in flight while the caller works on one (and while
        the list itself is read), with at most twice that many results waiting, so memory
        does not grow with the list. An error is raised where its item comes."""
        workers = self._detail_workers()
        if workers <= 1:
            for item in items:
                yield func(item)
            return
        window = 2 * workers
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="perfex")
        pending: deque[Future[T]] = deque()
        try:
            for item in items:
                pending.append(pool.submit(func, item))
                if len(pending) >= window:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
            pool.shutdown(wait=True)

    def check_connection(self) -> dict[str, Any]:
        """Authenticate by reading the payment modes (a small answer on every install).

        Strict, unlike the lookups (which read an unreadable list as none): an answer
        that is not the module's fails, such as the web server's 404 page for a
        ``base_url`` without ``/api``. A token without the permission has still proved
        itself. Raises AuthenticationError (Perfex's 404 for a bad token), NotFound,
        TransportError.
        """
        with contextlib.suppress(PermissionDenied):
            self.connection.records("common/payment_mode")  # "No data were found" is []
        modes = self.lookups.ensure_modes(again=True)
        return {
            "backend": self.name,
            "api_version": self.detected_version or self.options["api_version"],
            "payment_modes": len(modes),
            "currencies": ", ".join(sorted(self.lookups.currencies)) or None,
        }

    # ----------------------------------------------------------------- invoices

    def get_invoice(self, id: str) -> Invoice:
        """One invoice with items, payments and customer. Raises NotFound.

        Perfex returns no line taxes; they are inferred from ``total_tax`` and the
        install's taxes when exactly one assignment reproduces it (see
        :func:`~invoicing_bridge_perfex.schemas.read.infer_line_taxes`).

        Module ≤ 2.0.8 on PHP 8 answers this GET with an HTML 500 page (it sorts
        the one object). Then, and for the rest of the run, the invoice is read from its
        list row and the payments list instead: its lines are unknown
        (``items == []``, ``extra["items_known"] is False``), and a warning says so once.
        """
        if not self._single_get_broken:
            try:
                data = self.connection.one(self.connection.path("invoices", id))
            except ServerError as exc:
                if not _is_usort_page(exc):
                    raise
                self._single_get_failed()
            else:
                if self.lookups.infer_taxes and lacks_line_taxes(data):
                    self.lookups.ensure_taxes()
                return self.mapper.invoice(data)
        row = next(
            (r for r in self.connection.records("invoices") if str(r.get("id")) == str(id)),
            None,
        )
        if row is None:
            raise NotFound(f"invoice {id} not found", backend=self.name, status_code=404)
        return self._from_list_row(row, self._payment_rows())

    def _single_get_failed(self) -> None:
        with self._state_lock:
            if self._single_get_broken:
                return
            self._single_get_broken = True
        log.warning(
            "perfex: GET /api/invoices/{id} answers an HTML 500 page (API module <= 2.0.8 "
            "on PHP 8); invoices are read from list rows for the rest of this run: their "
            "lines are unknown. Upgrade the API module to 3.x to read them."
        )

    def _payment_rows(self) -> list[Mapping[str, Any]]:
        return self.connection.records("payments")

    def _from_list_row(self, row: Mapping[str, Any], payments: list[Mapping[str, Any]]) -> Invoice:
        """An invoice from its list row and the payment rows (what is left when the
        single-invoice GET fails): no lines, the customer by id only."""
        invoice_id = str(row.get("id"))
        data = dict(row)
        data["payments"] = [p for p in payments if str(p.get("invoiceid")) == invoice_id]
        invoice = self.mapper.invoice(data)
        invoice.extra["items_known"] = False
        return invoice

    def _detail_or_none(
        self, row: Mapping[str, Any], payments: Callable[[], list[Mapping[str, Any]]]
    ) -> Invoice | None:
        invoice_id = row.get("invoiceid") or row.get("id")
        if self._single_get_broken:
            return self._from_list_row(row, payments())
        try:
            return self.get_invoice(str(invoice_id))
        except NotFound:
            return None  # deleted while we were listing

    def iter_invoices(
        self,
        *,
        since: dt.date | None = None,
        status: InvoiceStatus | str | None = None,
        client_id: str | None = None,
    ) -> Iterator[Invoice]:
        """Every invoice, as the list is read. ``since`` keeps invoices issued on or after
        it.

        Filters are applied to the list rows first (issue date, customer, the statuses a
        Perfex status can mean), then each remaining invoice is fetched in full unless
        ``list_details`` is off (then items, customer and partial payments are absent):
        the list rows carry no lines, payments or customer [§4.2]. The full reads run
        ahead of the caller on ``detail_workers`` threads (see :meth:`reading_with`), in
        the list's order. A 2.x list, one array of every row, is decoded row by row.
        """
        status = InvoiceStatus.coerce(status)  # "open" too; a typo is refused
        detailed = bool(self.options.get("list_details", True))
        payment_rows: list[list[Mapping[str, Any]]] = []
        payments_lock = threading.Lock()

        def payments() -> list[Mapping[str, Any]]:
            # Read once per listing, and only when the single-invoice GET fails.
            with payments_lock:
                if not payment_rows:
                    payment_rows.append(self._payment_rows())
                return payment_rows[0]

        rows = (
            row
            for row in self.connection.rows("invoices")
            if row_may_match(row, since, status, client_id)
        )
        invoices: Iterable[Invoice | None]
        if detailed:
            invoices = self._ahead(lambda r: self._detail_or_none(r, payments), rows)
        else:
            invoices = (
                invoice
                for chunk in chunks(rows, self.connection.page_size)
                for invoice in self.mapper.load("invoice", chunk)
            )
        for invoice in invoices:
            if invoice is not None and (status is None or invoice.status is status):
                yield invoice

    def _search_invoices(self, term: str) -> list[Mapping[str, Any]]:
        return self.connection.records(self.connection.path("invoices", "search", term))

    def find_invoice(self, number: str) -> Invoice | None:
        """The invoice with this number, or None.

        Accepts the display number (any of the four formats) and another system's number:
        the integer Perfex stores is parsed out (``"INV-000017"``, ``"000017"`` and ``"17"``
        all mean 17) and searched (``/api/invoices/search/17``); rows whose ``number`` is
        that integer are candidates. An exact display-number match wins; else the one
        candidate; else the candidate of the year the number names (formats 2-4); else the
        most recent (numbers are unique per year in Perfex). Drafts (placeholder number)
        are never found by number.
        """
        parsed = parse_number(number)
        if parsed is None or parsed.number == DRAFT_NUMBER:
            return None
        rows = [
            r
            for r in self._search_invoices(str(parsed.number))
            if as_int(r.get("number")) == parsed.number
        ]
        if not rows:
            return None
        candidates = [self.mapper.invoice(r) for r in rows]
        wanted = " ".join(number.split()).casefold()
        exact = [c for c in candidates if c.number.casefold() == wanted]
        if exact:
            chosen = exact[0]
        elif len(candidates) == 1:
            chosen = candidates[0]
        else:
            same_year = [c for c in candidates if c.issue_date.year == parsed.year]
            pool = same_year or candidates
            chosen = max(pool, key=lambda c: (c.issue_date, as_int(c.id)))
        assert chosen.id is not None
        return self.get_invoice(chosen.id)

    def _payment_modes_for_new(self) -> list[str]:
        configured = list(self.options.get("payment_modes") or [])
        if configured:
            return configured
        self.lookups.ensure_modes()
        modes = list(self.lookups.active_modes)
        if not modes:
            raise MappingError(
                "Perfex requires allowed payment modes on an invoice and none could be read "
                "from /api/common/payment_mode; set the payment_modes option",
                backend=self.name,
                field="payment_modes",
            )
        return modes

    def _billing(self, invoice: Invoice, current: Invoice | None) -> dict[str, str]:
        billing = billing_fields(invoice, current)
        customer = None
        if not billing["billing_street"] and invoice.client.id:
            # Perfex requires a billing street; the Perfex UI fills it from the customer.
            try:
                customer = self.get_client(str(invoice.client.id), with_contact=False)
            except NotFound:
                customer = None
        return with_customer_address(billing, customer)

    def validate_invoice(self, invoice: Invoice) -> None:
        """Check, without writing, that :meth:`create_invoice` would accept ``invoice``:
        a known currency id, lines Perfex can hold (no line discounts, 2 decimals), totals
        that agree with Perfex's own computation and are above zero, a number with digits,
        not void. Raises MappingError."""
        self.check_amounts(invoice)
        check_invoice(invoice, self.lookups.context(), creating=True)

    def _plan(self, invoice: Invoice, current: Invoice | None = None) -> InvoicePlan:
        """Resolve what Perfex needs for a write; MappingError for what it cannot take."""
        if not invoice.client.id:
            raise MappingError(
                "the invoice's client has no Perfex customer id (create the client first)",
                backend=self.name,
                field="client.id",
            )
        creating = current is None
        check_invoice(invoice, self.lookups.context(), creating=creating)  # before any request
        self.lookups.ensure_taxes()  # then send each tax under the name the install knows
        currency_id, lines, totals, number = check_invoice(
            invoice, self.lookups.context(), creating=creating
        )
        if current is not None:
            modes = list(current.extra.get("allowed_payment_modes") or [])
            modes = modes or self._payment_modes_for_new()
            item_ids = [str(i.extra["item_id"]) for i in current.items if i.extra.get("item_id")]
            item_flags = optional_flags(current)
        else:
            modes = self._payment_modes_for_new()
            item_ids = []
            item_flags = {}
        return InvoicePlan(
            client_id=str(invoice.client.id),
            currency_id=currency_id,
            number=number,
            lines=lines,
            totals=totals,
            payment_modes=modes,
            billing=self._billing(invoice, current),
            draft=creating and invoice.status is InvoiceStatus.DRAFT,
            item_ids=item_ids,
            kept=kept_settings(current.raw) if current is not None and current.raw else {},
            item_flags=item_flags,
        )

    def _locate_invoice(self, plan: InvoicePlan, invoice: Invoice) -> str | None:
        """The id of the invoice just created (2.x answers none): search its number and keep
        the row of the same customer and year (numbers are unique per year)."""
        number = DRAFT_NUMBER if plan.draft else plan.number
        return created_invoice_id(self._search_invoices(str(number)), plan, invoice)

    def _written(self, invoice_id: str, plan: InvoicePlan) -> Invoice:
        """Read back what was stored; the lines get the taxes we sent (reads carry none)."""
        stored = self.get_invoice(invoice_id)
        self._remember(stored)
        return self._as_sent(stored, plan)

    def _as_sent(self, stored: Invoice, plan: InvoicePlan) -> Invoice:
        """``stored`` (just read back) with the taxes we sent on its lines."""
        if stored.extra.get("items_known") is False:
            # Read from its list row (module 2.0.8 on PHP 8): the lines are what was sent.
            stored.items = [
                LineItem(
                    name=line.description,
                    description=line.long_description or None,
                    quantity=line.qty,
                    unit_price=line.rate,
                    unit=line.unit or None,
                    taxes=[TaxRate(name, rate) for name, rate in line.taxes],
                    extra={"taxes_known": True, "as_sent": True},
                )
                for line in plan.lines
            ]
        elif len(stored.items) == len(plan.lines):
            for item, line in zip(stored.items, plan.lines, strict=True):
                item.taxes = [TaxRate(name, rate) for name, rate in line.taxes]
                item.extra["taxes_known"] = True
            stored.extra.pop("item_taxes", None)
        return stored

    def create_invoice(self, invoice: Invoice) -> Invoice:
        """Create the invoice (form fields, PHP bracket keys) and return it as stored.

        The number is the integer in ``invoice.number`` (another system's ``"000017"``
        becomes 17); a draft is saved as a Perfex draft; the invoice's completed payments
        are then recorded one by one (:meth:`record_payment`), pending ones are not. 2.x
        answers no id: the new invoice is found by number, customer and year (the API
        forces this lookup; a lost answer is not looked up here: the error says
        ``may_have_landed`` and the migration job, which holds the ledger, looks it up).

        Raises MappingError (unknown currency, line discounts, zero totals, void status),
        InvalidRequest (Perfex's validation, e.g. a number already used this year),
        TransportError or ServerError when the answer is lost.
        """
        self.check_amounts(invoice)
        plan = self._plan(invoice)
        done = [p for p in invoice.payments if p.status is PaymentStatus.COMPLETED]
        for payment in done:
            self.check_amounts(payment)
            self._payment_mode(payment.method)  # MappingError before anything is written
        answer = self.connection.create("invoices", self.mapper.invoice_form(invoice, plan))
        new_id = record_id(answer)  # 3.x
        if new_id is None:
            new_id = self._locate_invoice(plan, invoice)
        if new_id is None:
            raise APIError(
                f"Perfex accepted invoice {plan.number} but it cannot be found by its number",
                backend=self.name,
                method="POST",
                path="invoices",
                status_code=answer.status_code,
            )
        if not done:
            return self._written(new_id, plan)
        return self._with_payments(new_id, plan, invoice, done)

    def _with_payments(
        self, new_id: str, plan: InvoicePlan, invoice: Invoice, done: list[Payment]
    ) -> Invoice:
        """Record the completed payments ``done`` on the invoice ``new_id`` just created
        and return it as it stands after them (the create contract: completed payments
        are recorded, pending ones are not).

        Every payment is posted, then the invoice is read once: that read shows each new
        payment (by 3.x's ``record_id``; in 2.x, which answers none, as the payments the
        new invoice did not have, by amount and reference, the newest for the last
        posted) and is the invoice returned. No read before the first payment: a new
        invoice has none. Raises APIError when a payment is not on the invoice after."""
        posted: list[tuple[Payment, Decimal, str | None, int | None]] = []
        for payment in done:
            body = dataclasses.replace(payment, id=None, invoice_id=new_id)
            amount = round_cents(body.amount)
            form = self.mapper.payment_form(
                body, mode=self._payment_mode(body.method), amount=amount
            )
            answer = self.connection.post("payments", form, allow_empty=True)
            posted.append((body, amount, record_id(answer), answer.status_code))
        after = self.get_invoice(new_id)
        taken: set[str | None] = {r for _, _, r, _ in posted if r is not None}
        for body, amount, named, status in reversed(posted):
            if named is not None and any(p.id == named for p in after.payments):
                continue
            found = new_payment(frozenset(taken), after, amount, body.reference)
            if found is None:
                raise APIError(
                    f"Perfex accepted the payment of {amount} but it is not on invoice {new_id}",
                    backend=self.name,
                    method="POST",
                    path="payments",
                    status_code=status,
                )
            taken.add(found.id)
        self._remember(after)
        return self._as_sent(after, plan)

    def update_invoice(self, invoice: Invoice) -> Invoice:
        """Replace invoice ``invoice.id`` with this one (2.x: a raw JSON body, the whole
        document). Existing lines are reused in order, extra lines added, surplus ones
        removed. Raises NotFound, MappingError (see :meth:`create_invoice`; also a line
        whose taxes were never known on an invoice that has tax, since Perfex would drop
        them), InvalidRequest.
        """
        if not invoice.id:
            raise NotFound("the invoice has no id", backend=self.name, status_code=None)
        current = self.get_invoice(invoice.id)
        if current.extra.get("items_known") is False:
            raise MappingError(
                "this Perfex API module cannot read one invoice (HTML 500 on "
                "GET /api/invoices/{id}, module <= 2.0.8 on PHP 8), so the stored lines are "
                "unknown and an update would duplicate them; upgrade the module to 3.x",
                backend=self.name,
                field="items",
            )
        if current.tax_total:
            for index, item in enumerate(invoice.items):
                unknown = item.extra.get("taxes_known") is False
                if not item.taxes and unknown and not item.extra.get("taxes_inferred"):
                    raise MappingError(
                        "Perfex does not return line taxes and this line's are unknown; "
                        "set the line's taxes before updating (Perfex would drop them)",
                        backend=self.name,
                        field=f"items[{index}].taxes",
                    )
        plan = self._plan(invoice, current)
        try:
            self.connection.put(
                self.connection.path("invoices", invoice.id),
                self.mapper.invoice_body(invoice, plan),
            )
        except APIError as exc:
            message = message_of(exc)
            # The model reports "Invoice Update Fail" when no row changed; the published
            # success example says {"status": false, "message": "Invoice Updated
            # Successfully"}. Either way, what is stored is read back below.
            unchanged = message.startswith("invoice update fail")
            published = exc.status_code == 200 and "updated successfully" in message
            if not (unchanged or published):
                raise
        return self._written(invoice.id, plan)

    def delete_invoice(self, id: str) -> None:
        """Delete an invoice. Raises NotFound (``Invalid Invoice ID``)."""
        self.connection.delete(self.connection.path("invoices", id))

    # ----------------------------------------------------------------- clients

    def _contacts(self, client_id: str) -> list[Mapping[str, Any]]:
        try:
            return self.connection.records(self.connection.path("contacts", client_id))
        except NotFound:
            return []

    def _with_contact(self, client: Client) -> Client:
        if not self.options.get("primary_contacts", True) or not client.id:
            return client
        contact = primary_contact(self._contacts(client.id))
        if contact is not None:
            client.email = str(contact.get("email") or "") or None
            client.first_name = client.first_name or (str(contact.get("firstname") or "") or None)
            client.last_name = client.last_name or (str(contact.get("lastname") or "") or None)
            client.extra["contact_id"] = str(contact.get("id"))
        return client

    def get_client(self, id: str, *, with_contact: bool = True) -> Client:
        """A customer (and its primary contact's email). Raises NotFound."""
        client = self.mapper.client(self.connection.one(self.connection.path("customers", id)))
        return self._with_contact(client) if with_contact else client

    def iter_clients(self) -> Iterator[Client]:
        clients: Iterator[Client] = (
            client
            for chunk in chunks(self.connection.rows("customers"), self.connection.page_size)
            for client in self.mapper.load("client", chunk)
        )
        yield from self._ahead(self._with_contact, clients)

    def find_client(
        self,
        *,
        email: str | None = None,
        tax_number: str | None = None,
        name: str | None = None,
    ) -> Client | None:
        """The first customer matching every criterion by the core's
        :func:`~invoicing_bridge.models.identity_key`, or None.

        Perfex's customer search matches company names, contacts' names and emails, of
        active customers only, and never the VAT number (M208 ``Api_model.php:711-737``).
        So: by email through the contacts search (customers carry no email), else by name
        through the customer search; when that finds no match (a tax number, an inactive
        customer), the customer list is read and compared row by row."""
        wanted = identity_criteria(email=email, tax_number=tax_number, name=name)
        if not wanted:
            return None
        contact_emails: dict[str, str] = {}
        ids: list[str] = []
        if email is not None:
            path = self.connection.path("contacts", "search", email.strip())
            for row in self.connection.records(path):
                if identity_key("email", str(row.get("email") or "")) == wanted["email"]:
                    contact_emails[str(row.get("userid"))] = str(row["email"])
            ids = list(contact_emails)
        elif name is not None:
            path = self.connection.path("customers", "search", name.strip())
            ids = [str(r.get("userid")) for r in self.connection.records(path) if r.get("userid")]
        found = self._first_matching(ids, wanted, contact_emails)
        if found is not None or email is not None:
            return found
        # No email to search by: the list, compared on what its rows carry.
        row_keys = {"name": "company", "tax_number": "vat"}
        listed = [
            str(row.get("userid"))
            for row in self.connection.records("customers")
            if row.get("userid")
            and str(row.get("userid")) not in ids
            and all(
                identity_key(field, str(row.get(row_keys[field]) or "")) == key
                for field, key in wanted.items()
            )
        ]
        return self._first_matching(listed, wanted, contact_emails)

    def _first_matching(
        self, ids: list[str], wanted: Mapping[str, str], contact_emails: Mapping[str, str]
    ) -> Client | None:
        for client_id in dict.fromkeys(ids):
            try:
                client = self.get_client(client_id)
            except NotFound:
                continue
            if client.email is None and contact_emails.get(client_id):
                client.email = contact_emails[client_id]
            if has_identity(client, wanted):
                return client
        return None

    def _locate_client(self, company: str) -> str | None:
        """The id of the customer just created (2.x answers none): the newest customer
        of this company name, searched, else listed."""
        wanted = identity_key("name", company)
        rows: list[Mapping[str, Any]] = []
        try:
            rows = self.connection.records(
                self.connection.path("customers", "search", company.strip())
            )
        except APIError:
            rows = []
        matches = [r for r in rows if identity_key("name", str(r.get("company") or "")) == wanted]
        if not matches:
            matches = [
                r
                for r in self.connection.records("customers")
                if identity_key("name", str(r.get("company") or "")) == wanted
            ]
        if not matches:
            return None
        return str(max(matches, key=lambda r: as_int(r.get("userid"))).get("userid"))

    def create_client(self, client: Client) -> Client:
        """Create a customer (2.x answers no id: found again by company name) and, when
        ``primary_contacts`` is on and the client has an email, its primary contact (with a
        random password and no welcome email). Raises InvalidRequest."""
        fields_ = self.mapper.client_fields(client)
        if not fields_["company"]:
            raise MappingError(
                "Perfex customers need a company name", backend=self.name, field="name"
            )
        answer = self.connection.post("customers", encode_form(fields_))
        new_id = record_id(answer)
        if new_id is None:
            new_id = self._locate_client(fields_["company"])
        if new_id is None:
            raise APIError(
                f"Perfex accepted customer {fields_['company']!r} but it cannot be found",
                backend=self.name,
                method="POST",
                path="customers",
                status_code=answer.status_code,
            )
        created = self.get_client(new_id, with_contact=False)
        if self.options.get("primary_contacts", True) and client.email:
            self._add_contact(new_id, client, created)
        return self._with_contact(created)

    def _add_contact(self, client_id: str, client: Client, created: Client) -> None:
        first, last = person_names(client)
        form = {
            "customer_id": client_id,
            "firstname": first,
            "lastname": last,
            "email": client.email or "",
            "phonenumber": client.phone or "",
            "is_primary": "on",
            "donotsendwelcomeemail": "on",
            # A contact needs a password unless Perfex emails a set-password link; this
            # one is random and never kept (the contact resets it to log in).
            "password": secrets.token_urlsafe(24),
        }
        try:
            self.connection.post("contacts", encode_form(form))
        except APIError as exc:
            log.warning("perfex: customer %s created, its contact was refused", client_id)
            created.extra["contact_error"] = exc.message

    def update_client(self, client: Client) -> Client:
        """Update a customer (raw JSON body) and its primary contact's email and phone.
        Raises NotFound."""
        if not client.id:
            raise NotFound("the client has no id", backend=self.name, status_code=None)
        self.get_client(client.id, with_contact=False)  # NotFound before writing
        body = self.mapper.client_fields(client)
        try:
            self.connection.put(self.connection.path("customers", client.id), body)
        except APIError as exc:
            # "Customers Update Fail." is also what an update that changes nothing gets.
            if not message_of(exc).startswith("customers update fail"):
                raise
        if self.options.get("primary_contacts", True) and client.email:
            contact = primary_contact(self._contacts(client.id))
            if contact is None:
                self._add_contact(client.id, client, client)
            elif (str(contact.get("email") or ""), str(contact.get("phonenumber") or "")) != (
                client.email,
                client.phone or "",
            ):
                first = str(contact.get("firstname") or "") or person_names(client)[0]
                last = str(contact.get("lastname") or "") or person_names(client)[1]
                contact_body = {
                    "firstname": first,
                    "lastname": last,
                    "email": client.email,
                    "phonenumber": client.phone or "",
                }
                try:
                    self.connection.put(
                        self.connection.path("contacts", contact.get("id")), contact_body
                    )
                except APIError as exc:
                    log.warning("perfex: contact of customer %s not updated", client.id)
                    client.extra["contact_error"] = exc.message
        return self.get_client(client.id)

    # ----------------------------------------------------------------- payments

    #: Kinds a migration does not move, and the module's listing of each: estimates and
    #: credit notes (``Estimates``, ``Credit_notes`` controllers); items (products) are
    #: listed by 3.x only (2.x reads one by id or a search, api-notes §7). Every payment
    #: in Perfex belongs to an invoice: there are no account-level payments to count.
    UNMIGRATED_LISTINGS = (("estimate", "estimates"), ("credit_note", "credit_notes"))

    def unmigrated_counts(self) -> dict[str, int] | None:
        """Estimates, credit notes and (3.x) items, counted from one listing each (a
        3.x page of one row gives the total); a kind this install cannot list (a module
        without that controller: an HTML 404) is left out."""
        listings = list(self.UNMIGRATED_LISTINGS)
        if self.connection.api_version == "3" or self.connection.detected_version == "3":
            listings.append(("product", "items"))
        counts: dict[str, int] = {}
        for kind, path in listings:
            try:
                counts[kind] = self._count_rows(path)
            except NotFound:
                continue
        return counts

    def _count_rows(self, path: str) -> int:
        """How many rows a listing holds: a 2.x bare array at once, a 3.x page's
        ``meta.total``; ``No data were found`` is none."""
        params = {"page": 1, "per_page": 1} if self.connection.v3_requests else None
        try:
            data = self.connection.http.get(path, params=params).data
        except NotFound as exc:
            if is_no_data(exc):
                return 0
            raise
        if isinstance(data, list):
            return len(data)
        meta = data.get("meta") if isinstance(data, Mapping) else None
        if isinstance(meta, Mapping) and meta.get("total") is not None:
            return as_int(meta["total"])
        raise MappingError(f"GET {path}: the answer is no list", backend=self.name, field=path)

    def iter_payments(self, *, invoice_id: str | None = None) -> Iterator[Payment]:
        """Every payment, or one invoice's (read from the invoice, with its currency)."""
        self.lookups.ensure_modes()
        if invoice_id is not None:
            try:
                yield from self.get_invoice(invoice_id).payments
            except NotFound:
                return
            return
        for chunk in chunks(self.connection.rows("payments"), self.connection.page_size):
            yield from self.mapper.load("payment", chunk)

    def get_payment(self, id: str) -> Payment:
        """One payment (by ``paymentid``). Raises NotFound."""
        self.lookups.ensure_modes()
        data = self.http.get(self.connection.path("payments", id)).data
        rows = data if isinstance(data, list) else [data]
        rows = [r for r in rows if isinstance(r, Mapping)]
        row = next((r for r in rows if str(r.get("paymentid") or r.get("id")) == str(id)), None)
        if row is None:
            if len(rows) == 1 and "paymentid" not in rows[0]:
                row = rows[0]
            else:
                raise NotFound(f"payment {id} not found", backend=self.name, status_code=404)
        return self.mapper.payment(row)

    def _remember(self, invoice: Invoice) -> None:
        """Keep what a payment needs to know of ``invoice``, just read after our write."""
        if invoice.id is None:
            return
        key = str(invoice.id)
        seen = (time.monotonic(), frozenset(p.id for p in invoice.payments), invoice.currency)
        with self._state_lock:
            self._after_write[key] = seen
            self._after_write.move_to_end(key)
            while len(self._after_write) > _AFTER_WRITE_KEPT:
                self._after_write.popitem(last=False)

    def _before_payment(self, invoice_id: str) -> tuple[frozenset[str | None], str]:
        """The invoice's payment ids and currency before a payment: as this backend read
        them back after its own last write to the invoice (used once, and only when
        recent), else read now (NotFound when there is no such invoice)."""
        with self._state_lock:
            seen = self._after_write.pop(invoice_id, None)
        if seen is not None and time.monotonic() - seen[0] < _AFTER_WRITE_TTL:
            return seen[1], seen[2]
        before = self.get_invoice(invoice_id)
        return frozenset(p.id for p in before.payments), before.currency

    def record_payment(self, payment: Payment) -> Payment:
        """Record a payment on ``payment.invoice_id`` (form fields ``invoiceid``, ``amount``,
        ``paymentmode``...). Perfex dates it today (server time) whatever ``date`` says;
        the asked date is kept in ``extra["requested_date"]`` when it differs.

        The answer's flag is ``paymentmode``, and 2.0.8 answers an empty body: the payment
        is confirmed by reading the invoice back (3.x's ``record_id`` is used when given).
        Raises NotFound (no such invoice), MappingError (no payment mode for the method),
        InvalidRequest, APIError when the payment cannot be confirmed, TransportError or
        ServerError when the answer is lost (the migration job looks it up).
        """
        return self._record(payment)

    def _payment_mode(self, method: str) -> str:
        """The ``paymentmode`` for a neutral method. Raises MappingError."""
        self.lookups.ensure_modes()
        mode = self.lookups.mode_for(method)
        if mode is None:
            mode = gateway_id(method)
            known = ", ".join(sorted({method_slug(n) for n in self.lookups.payment_modes.values()}))
            if mode is None:
                raise MappingError(
                    f"no Perfex payment mode for method {method!r} (the install has: "
                    f"{known or 'none'})",
                    backend=self.name,
                    field="method",
                )
            # Perfex keeps online-gateway payments as the gateway's id in paymentmode; a
            # method the install has no mode for is kept the same way, so it reads back.
            log.info("perfex: no payment mode for %r (has: %s): stored as is", mode, known)
        return mode

    def _record(self, payment: Payment) -> Payment:
        """:meth:`record_payment`; the invoice read back after it is kept (``_remember``)."""
        self.check_amounts(payment)
        if not payment.invoice_id:
            raise NotFound("the payment has no invoice id", backend=self.name, status_code=None)
        known_ids, currency = self._before_payment(str(payment.invoice_id))
        mode = self._payment_mode(payment.method)
        # Perfex stores cents (DECIMAL(15,2)); what it cannot hold is kept in extra.
        amount = round_cents(payment.amount)
        form = self.mapper.payment_form(payment, mode=mode, amount=amount)
        answer = self.connection.post("payments", form, allow_empty=True)
        after = self.get_invoice(payment.invoice_id)
        named = record_id(answer)  # 3.x
        recorded = next((p for p in after.payments if p.id == named), None) if named else None
        if recorded is None:
            # 2.x answers no id (2.0.8 nothing at all): the new payment is the one on the
            # invoice that was not there before.
            recorded = new_payment(known_ids, after, amount, payment.reference)
        if recorded is None:
            what = "an empty answer" if answer.data is None else "its answer"
            raise APIError(
                f"Perfex gave {what} to the payment but it is not on invoice {payment.invoice_id}",
                backend=self.name,
                method="POST",
                path="payments",
                status_code=answer.status_code,
            )
        self._remember(after)
        recorded.currency = recorded.currency or currency
        if amount != payment.amount:
            recorded.extra["requested_amount"] = str(payment.amount)
        if recorded.date != payment.date:
            recorded.extra["requested_date"] = payment.date.isoformat()
        return recorded

    # ----------------------------------------------------------------- numbers

    def normalize_number(self, number: str) -> str:
        """The integer Perfex stores, as text: ``"INV-000002"``, ``"000002"``, ``"2"``,
        ``"INV-2026/000002"``, ``"INV-000002-26"`` and ``"INV-000002/09/2026"`` all give
        ``"2"``. A number without digits (``"INV-DRAFT"``) is compared case-folded."""
        parsed = parse_number(number)
        if parsed is None:
            return " ".join(number.split()).casefold()
        return str(parsed.number)

    # ----------------------------------------------------------------- parsing

    def parse_payload(self, kind: str, payload: Any) -> list[Invoice | Client | Payment]:
        """Map a saved Perfex payload offline: a single GET, a list (2.x array or 3.x page)
        or a search answer, or one row of them. Raises MappingError."""
        records: list[Invoice | Client | Payment] = self.mapper.load(kind, payload)
        return records
