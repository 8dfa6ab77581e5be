"""``TrytonBackend``: customer invoices, parties and invoice payments of a Tryton server
over JSON-RPC.

Every read is one ``search_read`` with nested field paths (an invoice page brings its
lines, taxes, party and payments in one request), paged with ``offset``/``limit`` in
``id`` order. Writes are ``create``/``write`` and the invoice's workflow buttons
(``post``, ``cancel``); a payment is the "Pay" wizard (``account.invoice.pay``), run as
the desktop client runs it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from invoicing_bridge.backends.base import Feature
from invoicing_bridge.backends.http import HTTPBackend
from invoicing_bridge.exceptions import (
    BackendError,
    Conflict,
    Expected,
    InvalidRequest,
    MappingError,
    NotFound,
    UnsupportedOperation,
)
from invoicing_bridge.models import (
    Client,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentStatus,
    identity_key,
)

from .connection import TrytonConnection, TrytonRestConnection
from .errors import parse_error
from .mapper import TrytonMapper
from .options import TrytonOptions

if TYPE_CHECKING:
    from .server import TrytonServer
from .schemas.read import CLIENT_FIELDS, INVOICE_FIELDS
from .schemas.write import (
    WriteContext,
    address_values,
    client_values,
    invoice_lines,
    invoice_values,
    tryton_tax_total,
)

__all__ = ["TrytonBackend"]

ZERO = Decimal("0")
CENT = Decimal("0.01")
_OUT = ("type", "=", "out")
_ORDER = [["id", "ASC"]]
#: Tryton states a neutral status filter asks for (the exact status is checked after).
_STATES: dict[InvoiceStatus, tuple[str, ...]] = {
    InvoiceStatus.DRAFT: ("draft",),
    InvoiceStatus.OPEN: ("validated", "posted"),
    InvoiceStatus.PARTIALLY_PAID: ("posted",),
    InvoiceStatus.PAID: ("paid", "posted"),
    InvoiceStatus.OVERPAID: ("paid", "posted"),
    InvoiceStatus.VOID: ("cancelled",),
    InvoiceStatus.REFUNDED: ("cancelled",),
}


@dataclass(frozen=True)
class _Lookups:
    write: WriteContext
    methods: tuple[tuple[int, str, int], ...]  # id, name, journal id

    def journal_methods(self) -> dict[int, str]:
        out: dict[int, str] = {}
        for _, name, journal in self.methods:
            out.setdefault(journal, name)
        return out


def tax_number_pattern(tax_number: str) -> str:
    """An ``ilike`` pattern matching every code with the tax number's letters and digits in
    order, whatever spaces or punctuation a stored code has between them
    (``"EG 100-2"`` gives ``"%E%G%1%0%0%2%"``, matching ``"eg1002"`` and ``"EG.100.2"``).
    The server narrows with it; the whole normalised identifier is compared after."""
    return "%" + "".join(f"{ch}%" for ch in tax_number if ch.isalnum())


def is_credit_note(row: dict[str, Any]) -> bool:
    """Whether an ``account.invoice`` row is a credit note: Tryton has no credit-note type,
    a credit note is an invoice whose total is negative (the *Credit* wizard writes the
    credited lines with negative quantities; it is numbered from the credit-note
    sequence). The neutral model has no credit notes: they are not read as invoices."""
    total = row.get("total_amount")
    return isinstance(total, Decimal | int) and total < 0


def _id(value: str, what: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise NotFound(f"no {what} {value!r}", backend="tryton", status_code=None) from None
    if number <= 0:
        raise NotFound(f"no {what} {value!r}", backend="tryton", status_code=None)
    return number


class TrytonBackend(HTTPBackend):
    """A Tryton 8.x server's customer invoices (``account.invoice``, type ``out``).

    Options: see :class:`~.options.TrytonOptions`. Raises the core's error tree:
    Tryton's user errors and warnings become InvalidRequest (with the field when the
    message names one), a refused login AuthenticationError, a concurrent edit Conflict.
    """

    name: ClassVar[str] = "tryton"
    Options = TrytonOptions
    #: find_client narrows on the server (an ``ilike`` domain), one query per call: a
    #: migration asks it per client instead of listing every party.
    searches_clients: ClassVar[bool] = True
    features: ClassVar[frozenset[str]] = frozenset(
        {
            Feature.LIST_INVOICES,
            Feature.GET_INVOICE,
            Feature.FIND_INVOICE,
            Feature.CREATE_INVOICE,
            Feature.UPDATE_INVOICE,
            Feature.LIST_CLIENTS,
            Feature.GET_CLIENT,
            Feature.FIND_CLIENT,
            Feature.CREATE_CLIENT,
            Feature.UPDATE_CLIENT,
            Feature.LIST_PAYMENTS,
            Feature.GET_PAYMENT,
            Feature.RECORD_PAYMENT,
            Feature.DRAFT_INVOICES,
            Feature.VOID_INVOICES,
            Feature.ITEM_TAX_DETAIL,
            Feature.PAYMENT_DATES,
            Feature.PARSE,
        }
    )

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        o = self.options
        self.http = self._make_http(base_url=o["base_url"], error_parser=parse_error)
        self.rpc: TrytonConnection | TrytonRestConnection
        if o.get("application_key"):
            self.rpc = TrytonRestConnection(
                self.http,
                database=o["database"],
                application_key=o["application_key"],
                accept_warnings=o["accept_warnings"],
            )
            # Tryton's REST API runs no wizard, and a payment is the Pay wizard.
            vars(self)["features"] = self.features - {Feature.RECORD_PAYMENT}
        else:
            self.rpc = TrytonConnection(
                self.http,
                database=o["database"],
                login=o["login"],
                password=o["password"],
                accept_warnings=o["accept_warnings"],
            )
        self._lock = threading.Lock()
        self._lookups: _Lookups | None = None
        self.mapper = TrytonMapper(self.name)

    @classmethod
    def ex_local_server(cls) -> TrytonServer:
        """A local trytond on a temporary copy of a cached database (built on first use;
        see :mod:`.server`), not started yet: ``with`` starts and stops it; its
        ``options()`` are this backend's. What ``invoicing-bridge demo --target tryton``
        migrates into. Raises TrytonNotInstalled (a ConfigurationError saying how to
        install the server)."""
        from .server import INSTALL_HINT, TrytonNotInstalled, TrytonServer, tryton_versions

        if tryton_versions() is None:
            raise TrytonNotInstalled(
                f"a local Tryton needs the server (trytond 8.2 and its invoicing modules, "
                f"GPL-3.0) installed: {INSTALL_HINT}"
            )
        return TrytonServer()

    def _init_offline(self) -> None:
        self.mapper = TrytonMapper(self.name)

    @property
    def label(self) -> str:
        return f"{super().label}/{self.options.get('database')}"

    def close(self) -> None:
        try:
            self.rpc.close()
        finally:
            super().close()

    # ----------------------------------------------------------------- plumbing

    def _call(self, model: str, method: str, *params: Any, read: bool = False) -> Any:
        return self.rpc.call(f"model.{model}.{method}", *params, retry=read)

    def _search_read(
        self,
        model: str,
        domain: list[Any],
        fields: Sequence[str],
        *,
        offset: int = 0,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        rows = self._call(
            model, "search_read", domain, offset, limit, _ORDER, list(fields), read=True
        )
        return list(rows or [])

    def _pages(
        self, model: str, domain: list[Any], fields: Sequence[str]
    ) -> Iterator[dict[str, Any]]:
        size = self.options["page_size"]
        offset = 0
        while True:
            rows = self._search_read(model, domain, fields, offset=offset, limit=size)
            yield from rows
            if len(rows) < size:
                return
            offset += size

    def lookups(self) -> _Lookups:
        """What writes need (currencies, taxes, accounts, journals, countries, payment
        methods), read once per backend instance."""
        with self._lock:
            if self._lookups is not None:
                return self._lookups
        currency_rows = self._search_read("currency.currency", [], ["code", "rounding"])
        currencies = {str(r["code"]).upper(): int(r["id"]) for r in currency_rows}
        units = {
            str(r["code"]).upper(): Decimal(r["rounding"])
            for r in currency_rows
            if isinstance(r.get("rounding"), Decimal | int) and r["rounding"] > 0
        }
        taxes = {
            int(r["id"]): (str(r["name"]), (Decimal(r["rate"]) * 100).normalize())
            for r in self._search_read(
                "account.tax", [("type", "=", "percentage")], ["name", "rate"]
            )
        }
        countries = {
            str(r["code"]).upper(): int(r["id"])
            for r in self._search_read("country.country", [], ["code"])
            if r.get("code")
        }
        accounts = self._search_read(
            "account.account", [("type.revenue", "=", True), ("closed", "!=", True)], ["code"]
        )
        wanted = self.options.get("revenue_account")
        if wanted:
            accounts = [a for a in accounts if a.get("code") == wanted]
        if not accounts:
            raise InvalidRequest(
                "Tryton has no revenue account" + (f" {wanted}" if wanted else ""),
                backend=self.name,
                field_errors={"revenue_account": "not found"},
            )
        revenue = int(sorted(accounts, key=lambda a: str(a.get("code") or ""))[0]["id"])
        config = self._search_read(
            "account.configuration", [], ["default_account_receivable", "tax_rounding"], limit=1
        )
        receivable = config[0].get("default_account_receivable") if config else None
        if not receivable:
            rows = self._search_read(
                "account.account",
                [("type.receivable", "=", True), ("party_required", "=", True)],
                ["code"],
                limit=1,
            )
            receivable = rows[0]["id"] if rows else None
        journals = self._search_read("account.journal", [("type", "=", "revenue")], ["code"])
        if not receivable or not journals:
            raise InvalidRequest(
                "Tryton's chart of accounts is not set up (no receivable account or revenue "
                "journal)",
                backend=self.name,
            )
        methods = tuple(
            (int(r["id"]), str(r["name"]), int(r["journal"]))
            for r in sorted(
                self._search_read("account.invoice.payment.method", [], ["name", "journal"]),
                key=lambda r: str(r["name"]),
            )
        )
        found = _Lookups(
            write=WriteContext(
                currencies=MappingProxyType(currencies),
                taxes=MappingProxyType(taxes),
                countries=MappingProxyType(countries),
                revenue_account=revenue,
                receivable_account=int(receivable),
                journal=int(journals[0]["id"]),
                currency_units=MappingProxyType(units),
                tax_rounding=str((config[0].get("tax_rounding") if config else None) or "document"),
            ),
            methods=methods,
        )
        with self._lock:
            self._lookups = found
            self.mapper = TrytonMapper(self.name, found.journal_methods())
        return found

    def _mapper(self) -> TrytonMapper:
        self.lookups()
        return self.mapper

    def check_connection(self) -> dict[str, Any]:
        self.rpc.open(stale=self.rpc.generation)  # a login now, whatever was open
        lookups = self.lookups()
        return {
            "database": self.options["database"],
            "user_id": self.rpc.user_id,
            "company": self.rpc.context.get("company"),
            "currencies": sorted(lookups.write.currencies),
            "payment_methods": [name for _, name, _ in lookups.methods],
        }

    # ----------------------------------------------------------------- invoices

    def _invoice_rows(self, domain: list[Any]) -> Iterator[Invoice]:
        mapper = self._mapper()
        for row in self._pages("account.invoice", [_OUT, *domain], INVOICE_FIELDS):
            # Filtered here, not in the domain: Tryton's total_amount searcher sums a
            # draft's lines with UNION (duplicate amounts counted once), and misses
            # drafts without lines; the total read on the row is exact.
            if not is_credit_note(row):
                yield mapper.invoice(row)

    def iter_invoices(
        self,
        *,
        since: dt.date | None = None,
        status: InvoiceStatus | str | None = None,
        client_id: str | None = None,
    ) -> Iterator[Invoice]:
        """Every customer invoice in id order, page by page, credit notes left out (see
        :func:`is_credit_note`; :meth:`unmigrated_counts` counts them). ``since``:
        issued (invoice date) on or after it."""
        status = InvoiceStatus.coerce(status)  # "open" too; a typo is refused
        domain: list[Any] = []
        if since is not None:
            domain.append(("invoice_date", ">=", since))
        if client_id is not None:
            domain.append(("party", "=", _id(client_id, "client")))
        if status is not None:
            states = _STATES.get(status)
            if states is None:
                return
            domain.append(("state", "in", list(states)))
        for invoice in self._invoice_rows(domain):
            if status is None or invoice.status is status:
                yield invoice

    def get_invoice(self, id: str) -> Invoice:
        """Raises NotFound (also for a supplier invoice's or a credit note's id)."""
        rows = self._search_read(
            "account.invoice", [_OUT, ("id", "=", _id(id, "invoice"))], INVOICE_FIELDS
        )
        if not rows:
            raise NotFound(f"invoice {id} not found", backend=self.name, status_code=None)
        if is_credit_note(rows[0]):
            raise NotFound(
                f"invoice {id} is a credit note (the neutral model has none)",
                backend=self.name,
                status_code=None,
            )
        return self._mapper().invoice(rows[0])

    def find_invoice(self, number: str) -> Invoice | None:
        """The invoice written with this number (``reference``), else the one Tryton
        numbered so."""
        for field in ("reference", "number"):
            rows = self._search_read(
                "account.invoice", [_OUT, (field, "=", number)], INVOICE_FIELDS, limit=10
            )
            for row in rows:
                if not is_credit_note(row):
                    return self._mapper().invoice(row)
        return None

    def unmigrated_counts(self) -> dict[str, int]:
        """Customer credit notes (``credit_note``) and supplier invoices and credit notes
        (``supplier_invoice``): what the neutral model has no room for. Counted on the
        server (``total_amount`` < 0; a draft credit note without a cached total is
        summed from its lines)."""
        credit = self._call(
            "account.invoice", "search_count", [_OUT, ("total_amount", "<", 0)], read=True
        )
        supplier = self._call("account.invoice", "search_count", [("type", "=", "in")], read=True)
        return {"credit_note": int(credit), "supplier_invoice": int(supplier)}

    def full_invoice(self, invoice: Invoice) -> Invoice:
        # A listed invoice is complete: the listing reads lines and payments too.
        return invoice

    def _party_address(self, client_id: str | None) -> tuple[int, int]:
        if not client_id:
            raise InvalidRequest(
                "the invoice's client has no Tryton id (create the client first)",
                backend=self.name,
                field_errors={"client.id": "missing"},
            )
        party = _id(client_id, "client")
        rows = self._search_read("party.party", [("id", "=", party)], ["addresses"])
        if not rows:
            raise InvalidRequest(
                f"no Tryton party {client_id}",
                backend=self.name,
                field_errors={"client.id": "not found"},
            )
        addresses = rows[0].get("addresses") or []
        if not addresses:
            (address,) = self._call("party.address", "create", [{"party": party}])
            return party, int(address)
        return party, int(addresses[0])

    def validate_invoice(self, invoice: Invoice) -> None:
        """Checks the currency, taxes and discounts map (no write), and that Tryton will
        compute the invoice's tax (:func:`~.schemas.write.tryton_tax_total`: Tryton
        computes the tax itself; its rounding may differ from the source's by a cent).
        Raises InvalidRequest: ``tax_total`` names the tax Tryton computes."""
        self.check_amounts(invoice)
        context = self.lookups().write
        values = invoice_values(invoice, context, party=0, address=0)
        self._check_payments(invoice)
        lines = values["lines"][0][1]
        unit = context.currency_units.get(invoice.currency.upper(), CENT)
        computed = tryton_tax_total(lines, context, unit)
        stated = (invoice.tax_total / unit).quantize(Decimal(1), ROUND_HALF_UP) * unit
        if computed != stated:
            message = f"Tryton computes tax_total {computed}, not {invoice.tax_total}"
            raise InvalidRequest(
                f"invoice {invoice.number}: {message}",
                backend=self.name,
                field_errors={"tax_total": message},
                # The figure a migration's plan takes the tax from (rule tax_rounding):
                # without it the plan cannot transform, and the invoice failed.
                expected=[Expected("tax_total", computed, invoice.tax_total)],
            )

    def _check_payments(self, invoice: Invoice) -> list[Payment]:
        completed = [p for p in invoice.payments if p.status is PaymentStatus.COMPLETED]
        if completed and Feature.RECORD_PAYMENT not in self.features:
            raise UnsupportedOperation(
                self.name,
                "record_payment",
                "an invoice's payments are recorded with Tryton's Pay wizard, which its REST "
                "API (application_key) cannot run: use login and password",
            )
        for payment in completed:
            if payment.currency and payment.currency.upper() != invoice.currency.upper():
                raise InvalidRequest(
                    f"a payment in {payment.currency} on an invoice in {invoice.currency}",
                    backend=self.name,
                    field_errors={"payments.currency": payment.currency},
                )
        if completed and invoice.status in (InvoiceStatus.DRAFT, InvoiceStatus.VOID):
            raise InvalidRequest(
                f"Tryton pays posted invoices only, not a {invoice.status.value} one",
                backend=self.name,
                field_errors={"payments": "the invoice is not posted"},
            )
        return completed

    def create_invoice(self, invoice: Invoice) -> Invoice:
        """Create the invoice as a draft, then post it (number, accounting move) unless it
        is a draft, or cancel it when void; then record its completed payments with the
        Pay wizard. A failure before posting deletes the draft: nothing is left.

        Raises InvalidRequest, MappingError."""
        self.check_amounts(invoice)
        context = self.lookups().write
        completed = self._check_payments(invoice)
        party, address = self._party_address(invoice.client.id)
        values = invoice_values(invoice, context, party=party, address=address)
        (created,) = self._call("account.invoice", "create", [values])
        invoice_id = int(created)
        try:
            if invoice.status is InvoiceStatus.VOID:
                self._call("account.invoice", "cancel", [invoice_id])
            elif invoice.status is not InvoiceStatus.DRAFT:
                self._call("account.invoice", "post", [invoice_id])
        except BackendError:
            self._discard_draft(invoice_id)
            raise
        # One wizard run per payment and one read at the end (record_payment reads the
        # invoice before and after each: two nested reads a payment saved here).
        for payment in completed:
            self._pay(invoice_id, payment)
        created_invoice = self.get_invoice(str(invoice_id))
        if len(created_invoice.payments) < len(completed):
            raise InvalidRequest(
                f"Tryton recorded {len(created_invoice.payments)} of the {len(completed)} "
                f"payments of invoice {invoice_id}",
                backend=self.name,
            )
        return created_invoice

    def _discard_draft(self, invoice_id: int) -> None:
        # The original error says what went wrong; this one would hide it.
        with contextlib.suppress(BackendError):
            self._call("account.invoice", "delete", [invoice_id])

    def update_invoice(self, invoice: Invoice) -> Invoice:
        """A draft is rewritten whole (its lines replaced). A posted, paid or cancelled
        invoice keeps its lines and amounts (Tryton forbids changing them): only its
        number (``reference``), notes and terms change; other differences raise
        Conflict. Raises NotFound, InvalidRequest, Conflict."""
        if invoice.id is None:
            raise NotFound("an invoice without id", backend=self.name, status_code=None)
        current = self.get_invoice(invoice.id)
        invoice_id = _id(invoice.id, "invoice")
        header = {
            "reference": invoice.number,
            "comment": invoice.notes,
            "description": invoice.terms,
        }
        if current.status is InvoiceStatus.DRAFT:
            context = self.lookups().write
            party, address = self._party_address(invoice.client.id)
            values = invoice_values(invoice, context, party=party, address=address)
            values.pop("lines")
            old_rows = self._search_read(
                "account.invoice.line", [("invoice", "=", invoice_id)], ["id"]
            )
            old = [int(r["id"]) for r in old_rows]
            values["lines"] = [["delete", old], ["create", invoice_lines(invoice, context)]]
            self._call("account.invoice", "write", [invoice_id], values)
            return self.get_invoice(invoice.id)
        if (
            abs(current.total - invoice.total) > CENT
            or len(current.items) != len(invoice.items)
            or current.currency != invoice.currency
        ):
            raise Conflict(
                f"Tryton invoice {invoice.id} is {current.status.value}: its lines and "
                "amounts cannot change",
                backend=self.name,
                status_code=None,
            )
        # Only what changed: Tryton refuses a write to a posted invoice's reference even
        # when the value is the same.
        stored = {
            "reference": current.number,
            "comment": current.notes,
            "description": current.terms,
        }
        changed = {k: v for k, v in header.items() if stored[k] != v}
        if changed:
            self._call("account.invoice", "write", [invoice_id], changed)
        return self.get_invoice(invoice.id)

    def delete_invoice(self, id: str) -> None:
        """Unsupported: Tryton never deletes a numbered invoice (and numbers every one it
        posts); ``ex_cancel_invoice`` voids one."""
        raise UnsupportedOperation(
            self.name, "delete_invoice", "Tryton deletes no numbered invoice; cancel it"
        )

    def ex_cancel_invoice(self, id: str) -> Invoice:
        """Cancel (void) an invoice: a draft is cancelled, a posted one gets a cancelling
        move (the company must allow cancelling customer invoices). Raises NotFound,
        InvalidRequest."""
        self.get_invoice(id)
        self._call("account.invoice", "cancel", [_id(id, "invoice")])
        return self.get_invoice(id)

    # ----------------------------------------------------------------- clients

    def iter_clients(self) -> Iterator[Client]:
        """Every party (Tryton has no customer flag on a party; the company's own party
        is one of them)."""
        mapper = self._mapper()
        for row in self._pages("party.party", [], CLIENT_FIELDS):
            yield mapper.client(row)

    def get_client(self, id: str) -> Client:
        """Raises NotFound."""
        rows = self._search_read("party.party", [("id", "=", _id(id, "client"))], CLIENT_FIELDS)
        if not rows:
            raise NotFound(f"client {id} not found", backend=self.name, status_code=None)
        return self._mapper().client(rows[0])

    def find_client(
        self,
        *,
        email: str | None = None,
        tax_number: str | None = None,
        name: str | None = None,
    ) -> Client | None:
        """Narrowed on the server (``ilike``: a tax number by its letters and digits in
        order, see :func:`tax_number_pattern`), then compared whole by the identity rule
        (a tax number without spaces or punctuation, case-folded, against the party's
        first identifier: the one read as ``tax_number``)."""
        wanted = {
            field: identity_key(field, value)
            for field, value in (("email", email), ("tax_number", tax_number), ("name", name))
            if value and identity_key(field, value)
        }
        if not wanted:
            return None
        if "email" in wanted:
            domain: list[Any] = [
                ("contact_mechanisms.value", "ilike", (email or "").strip()),
                ("contact_mechanisms.type", "=", "email"),
            ]
        elif "tax_number" in wanted:
            domain = [("identifiers.code", "ilike", tax_number_pattern(tax_number or ""))]
        else:
            domain = [("name", "ilike", f"%{' '.join((name or '').split())}%")]
        mapper = self._mapper()
        for row in self._pages("party.party", domain, CLIENT_FIELDS):
            client = mapper.client(row)
            if all(identity_key(f, getattr(client, f)) == key for f, key in wanted.items()):
                return client
        return None

    def create_client(self, client: Client) -> Client:
        """Raises InvalidRequest (an unknown country, a refused tax identifier)."""
        values = client_values(client, self.lookups().write)
        (created,) = self._call("party.party", "create", [values])
        return self.get_client(str(created))

    def update_client(self, client: Client) -> Client:
        """Writes the name, the first address, the tax identifier and the email and phone
        mechanisms (replacing the first of each type). Raises NotFound, InvalidRequest."""
        if client.id is None:
            raise NotFound("a client without id", backend=self.name, status_code=None)
        party = _id(client.id, "client")
        rows = self._search_read(
            "party.party",
            [("id", "=", party)],
            ["addresses", "identifiers", "contact_mechanisms.type", "contact_mechanisms.id"],
        )
        if not rows:
            raise NotFound(f"client {client.id} not found", backend=self.name, status_code=None)
        row = rows[0]
        context = self.lookups().write
        values: dict[str, Any] = {"name": client.name}
        address = address_values(client, context)
        if address:
            if row.get("addresses"):
                values["addresses"] = [["write", [row["addresses"][0]], address]]
            else:
                values["addresses"] = [["create", [address]]]
        identifiers = row.get("identifiers") or []
        if client.tax_number:
            if identifiers:
                values["identifiers"] = [["write", [identifiers[0]], {"code": client.tax_number}]]
            else:
                values["identifiers"] = [["create", [{"code": client.tax_number}]]]
        actions: list[Any] = []
        existing: dict[str, Any] = {}
        for mechanism in row.get("contact_mechanisms.") or []:
            existing.setdefault(mechanism.get("type"), mechanism.get("id"))
        for kind, value in (("email", client.email), ("phone", client.phone)):
            if not value:
                continue
            if existing.get(kind):
                actions.append(["write", [existing[kind]], {"value": value}])
            else:
                actions.append(["create", [{"type": kind, "value": value}]])
        if actions:
            values["contact_mechanisms"] = actions
        self._call("party.party", "write", [party], values)
        return self.get_client(client.id)

    # ----------------------------------------------------------------- payments

    def iter_payments(self, *, invoice_id: str | None = None) -> Iterator[Payment]:
        """The payment lines of customer invoices (of one invoice with ``invoice_id``)."""
        if invoice_id is not None:
            yield from self.get_invoice(invoice_id).payments
            return
        for invoice in self._invoice_rows([("payment_lines", "!=", None)]):
            yield from invoice.payments

    def get_payment(self, id: str) -> Payment:
        """Raises NotFound."""
        line = _id(id, "payment")
        rows = self._search_read(
            "account.invoice", [_OUT, ("payment_lines", "in", [line])], INVOICE_FIELDS, limit=1
        )
        if rows and is_credit_note(rows[0]):
            rows = []  # a refund paid out on a credit note is no payment
        for payment in self._mapper().invoice(rows[0]).payments if rows else []:
            if payment.id == str(line):
                return payment
        raise NotFound(f"payment {id} not found", backend=self.name, status_code=None)

    def _method(self, name: str) -> int:
        methods = self.lookups().methods
        if not methods:
            raise InvalidRequest(
                "Tryton has no invoice payment method",
                backend=self.name,
                field_errors={"method": "none configured"},
            )

        def key(text: str) -> str:  # "bank_transfer" and "Bank transfer" are one
            return identity_key("name", text.replace("_", " ").replace("-", " "))

        for method_id, method_name, _ in methods:
            if key(method_name) == key(name):
                return method_id
        default = self.options.get("default_payment_method")
        for method_id, method_name, _ in methods:
            if default is None or method_name == default:
                return method_id
        raise InvalidRequest(
            f"no Tryton payment method {default!r}",
            backend=self.name,
            field_errors={"default_payment_method": default},
        )

    def record_payment(self, payment: Payment) -> Payment:
        """Pay the invoice with Tryton's Pay wizard: the amount in the invoice's currency,
        the payment method named like ``payment.method`` (case-insensitively; else
        ``default_payment_method``), the date, ``reference`` as the move's description.
        Less than what is due is a partial payment, more an overpayment.

        Raises NotFound, InvalidRequest (a draft or void invoice: Tryton pays posted
        invoices only)."""
        self.check_amounts(payment)
        if Feature.RECORD_PAYMENT not in self.features:
            raise UnsupportedOperation(
                self.name,
                "record_payment",
                "Tryton pays an invoice with its Pay wizard, which its REST API "
                "(application_key) cannot run: use login and password",
            )
        if payment.invoice_id is None:
            raise InvalidRequest(
                "a payment without invoice_id",
                backend=self.name,
                field_errors={"invoice_id": "missing"},
            )
        invoice = self.get_invoice(payment.invoice_id)
        if payment.currency and payment.currency.upper() != invoice.currency.upper():
            raise InvalidRequest(
                f"a payment in {payment.currency} on an invoice in {invoice.currency}",
                backend=self.name,
                field_errors={"currency": payment.currency},
            )
        before = {p.id for p in invoice.payments}
        self._pay(_id(payment.invoice_id, "invoice"), payment)
        after = self.get_invoice(payment.invoice_id).payments
        new = [p for p in after if p.id not in before]
        if not new:
            raise InvalidRequest(
                f"Tryton recorded no payment on invoice {payment.invoice_id}",
                backend=self.name,
            )
        return new[-1]

    def _pay(self, invoice_id: int, payment: Payment) -> None:
        """Run the Pay wizard for ``payment`` on a posted invoice (no read before or
        after: the callers read the invoice)."""
        method = self._method(payment.method)
        wizard = "wizard.account.invoice.pay"
        active = {
            "active_model": "account.invoice",
            "active_id": invoice_id,
            "active_ids": [invoice_id],
        }
        session, start, _ = self.rpc.call(f"{wizard}.create")
        try:
            view = self._wizard_step(wizard, session, {}, start, active)
            defaults = view.get("defaults") or {}
            data: dict[str, Any] = {
                "start": {
                    "amount": payment.amount,
                    "currency": defaults.get("currency"),
                    "payment_method": method,
                    "date": payment.date,
                    "description": payment.reference or "",
                    "payee": defaults.get("payee"),
                    "company": defaults.get("company"),
                    "invoice_account": defaults.get("invoice_account"),
                }
            }
            asked = self._wizard_step(wizard, session, data, "choice", active)
            if asked.get("state") == "ask":
                ask = asked.get("defaults") or {}
                data["ask"] = {
                    "type": "partial" if ask.get("type") == "partial" else "overpayment",
                    "amount": ask.get("amount"),
                    "currency": ask.get("currency"),
                    "company": ask.get("company"),
                    "invoice": ask.get("invoice"),
                    "lines": [],
                    "payment_lines": [],
                }
                self._wizard_step(wizard, session, data, "pay", active)
        finally:
            # A wizard session left behind expires on the server.
            with contextlib.suppress(BackendError):
                self.rpc.call(f"{wizard}.delete", session)

    def _wizard_step(
        self, wizard: str, session: int, data: dict[str, Any], state: str, context: dict[str, Any]
    ) -> dict[str, Any]:
        """One ``execute`` of a wizard; the view it shows next (``{}`` when it ended)."""
        params = [session, data, state]
        result = self.rpc.call_with_context(f"{wizard}.execute", params, context)
        view = (result or {}).get("view") if isinstance(result, dict) else None
        if not isinstance(view, dict):
            return {}
        return {"state": view.get("state"), "defaults": view.get("defaults") or {}}

    # ----------------------------------------------------------------- offline

    def parse_payload(self, kind: str, payload: Any) -> list[Invoice | Client | Payment]:
        """A saved ``search_read`` answer (a list of rows, one row, or a JSON-RPC answer
        ``{"result": [...]}``) of ``account.invoice`` or ``party.party`` rows read with
        :data:`INVOICE_FIELDS` / :data:`CLIENT_FIELDS`; ``payment``: invoice rows, their
        payments. Raises MappingError."""
        from .connection import from_wire

        if isinstance(payload, dict) and "result" in payload:
            payload = payload["result"]
        try:
            rows = from_wire(payload if isinstance(payload, list) else [payload])
        except RecursionError:
            raise MappingError("the payload is nested too deeply", backend=self.name) from None
        mapper = self.mapper
        if kind == "invoice":
            return [mapper.invoice(r) for r in rows]
        if kind == "client":
            return [mapper.client(r) for r in rows]
        if kind == "payment":
            return [p for r in rows for p in mapper.invoice(r).payments]
        raise UnsupportedOperation(self.name, "parse_payload", f"unknown kind {kind!r}")
