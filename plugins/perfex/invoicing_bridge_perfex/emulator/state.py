"""The in-memory tables of one emulated Perfex install, and Perfex's rules on them.

:class:`PerfexState` holds ``tblinvoices``, ``tblclients``, ``tblcontacts``,
``tblinvoicepaymentrecords`` and the install's setup (currencies, taxes, payment modes),
and renders rows the way the module answers them (every value a string). No HTTP here:
:mod:`.app` answers requests from it, :mod:`.seed` fills it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import random
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..cents import ZERO, money_text, round_cents
from ..numbers import DRAFT_NUMBER

__all__ = [
    "CLIENT_COLUMNS",
    "CONTACT_COLUMNS",
    "DRAFT_NUMBER",
    "InvoiceRecord",
    "Item",
    "PaymentRecord",
    "PerfexState",
    "contact_row",
    "make_token",
]


STATUS_UNPAID, STATUS_PAID, STATUS_PARTIALLY, STATUS_OVERDUE, STATUS_CANCELLED, STATUS_DRAFT = (
    1,
    2,
    3,
    4,
    5,
    6,
)
#: The day seeded data is "as of" (statuses, overdue): fixed so seeds are repeatable.
SEED_TODAY = dt.date(2026, 9, 30)

NO_DATA = "No data were found"
PERMISSION_MESSAGE = (
    "Your API token does not have the necessay permissions for the requested operation"
)
HTML_404 = (
    b'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>404 Page Not Found'
    b'</title></head><body><div id="container"><h1>404 Page Not Found</h1><p>The page you '
    b"requested was not found.</p></div></body></html>"
)
#: What CodeIgniter prints when module ≤ 2.0.8's ``Invoices::data_get`` calls ``usort()``
#: on the single invoice (an object) under PHP 8 (core 3.x requires PHP 8.1).
HTML_500_USORT = (
    b'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Error</title>'
    b'</head><body><div id="container"><h1>An uncaught Exception was encountered</h1>'
    b"<p>Type: TypeError</p><p>Message: usort(): Argument #1 ($array) must be of type "
    b"array, stdClass given</p><p>Filename: /var/www/html/modules/api/controllers/"
    b"Invoices.php</p><p>Line Number: 172</p></div></body></html>"
)


def _now() -> str:
    return dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S")


def _s(value: Any) -> str | None:
    """Every column comes back as a string (or null), as MySQL through CodeIgniter does."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return money_text(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


# --------------------------------------------------------------------------- tokens


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_token(key: bytes, *, user: str = "invoicing-bridge", issued: int = 1767225600) -> str:
    """A token like the module's: an HS256 JWT of ``{user, name, API_TIME}``."""
    header = _b64(json.dumps({"typ": "JWT", "alg": "HS256"}, separators=(",", ":")).encode())
    body = {"user": user, "name": "Emulated API user", "API_TIME": issued}
    payload = _b64(json.dumps(body, separators=(",", ":")).encode())
    signature = hmac.new(key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


# --------------------------------------------------------------------------- tables


@dataclass(slots=True)
class Item:
    """A ``tblitemable`` row and its ``tblitem_tax`` rows."""

    id: int
    description: str
    long_description: str
    qty: Decimal
    rate: Decimal
    unit: str
    item_order: int
    taxes: list[tuple[str, Decimal]] = field(default_factory=list)
    # Core ≥ 3.4 (migration Version_340): optional lines, left out of the totals unless
    # the customer selected them.
    is_optional: bool = False
    is_selected: bool = True

    @property
    def counted(self) -> bool:
        return self.is_selected or not self.is_optional


@dataclass(slots=True)
class InvoiceRecord:
    """A ``tblinvoices`` row with its lines."""

    id: int
    clientid: int
    number: int
    prefix: str
    number_format: int
    datecreated: str
    date: dt.date
    duedate: dt.date | None
    currency: int
    subtotal: Decimal
    total_tax: Decimal
    total: Decimal
    adjustment: Decimal
    discount_percent: Decimal
    discount_total: Decimal
    discount_type: str
    status: int
    hash: str
    allowed_payment_modes: str
    items: list[Item]
    clientnote: str | None = None
    adminnote: str | None = None
    terms: str | None = None
    billing: tuple[str | None, ...] = ("", "", "", "", None)
    shipping: tuple[str | None, ...] = (None, None, None, None, None)
    sent: int = 0
    sale_agent: int = 0
    addedfrom: int = 1
    cancel_overdue_reminders: int = 0
    show_quantity_as: int = 1
    include_shipping: int = 0
    show_shipping_on_invoice: int = 1
    deleted_customer_name: str | None = None
    # Recurring settings (recurring = months, or the custom count with custom_recurring).
    recurring: int = 0
    recurring_type: str | None = None
    custom_recurring: int = 0
    cycles: int = 0
    total_cycles: int = 0
    last_recurring_date: str | None = None


@dataclass(slots=True)
class PaymentRecord:
    """An ``invoicepaymentrecords`` row."""

    id: int
    invoiceid: int
    amount: Decimal
    paymentmode: str
    paymentmethod: str
    date: str
    daterecorded: str
    note: str
    transactionid: str


CLIENT_COLUMNS = [
    "userid",
    "company",
    "vat",
    "phonenumber",
    "country",
    "city",
    "zip",
    "state",
    "address",
    "website",
    "datecreated",
    "active",
    "leadid",
    "billing_street",
    "billing_city",
    "billing_state",
    "billing_zip",
    "billing_country",
    "shipping_street",
    "shipping_city",
    "shipping_state",
    "shipping_zip",
    "shipping_country",
    "longitude",
    "latitude",
    "default_language",
    "default_currency",
    "show_primary_contact",
    "stripe_id",
    "registration_confirmed",
    "addedfrom",
]
CONTACT_COLUMNS = [
    "id",
    "userid",
    "is_primary",
    "firstname",
    "lastname",
    "email",
    "phonenumber",
    "title",
    "datecreated",
    "active",
    "direction",
    "invoice_emails",
    "estimate_emails",
    "credit_note_emails",
    "contract_emails",
    "task_emails",
    "project_emails",
    "ticket_emails",
]


class PerfexState:
    """The in-memory tables of one emulated install, and Perfex's rules on them.

    Tests may read and change the tables directly (``invoices``, ``clients``,
    ``contacts``, ``payments``, ``currencies``, ``taxes``, ``payment_modes``) under
    ``lock``; ``denied`` holds ``"controller:capability"`` pairs the token may not use
    (``"invoices:delete"``, ``"payments:post"``) to provoke 403s.
    """

    def __init__(
        self,
        *,
        api_version: int = 2,
        token: str | None = None,
        prefix: str = "INV-",
        number_format: int = 1,
        padding: int = 6,
        formatted_number: bool = False,
        empty_payment_answer: bool = False,
        always_envelope: bool = False,
        company_requires_vat: bool = True,
        usort_single_invoice: bool = False,
        core_version: str = "3.2",
        delete_only_on_last_invoice: bool = True,
        seed: int = 1,
    ):
        if api_version not in (2, 3):
            raise ValueError("api_version must be 2 or 3")
        if number_format not in (1, 2, 3, 4):
            raise ValueError("number_format must be 1, 2, 3 or 4")
        self.api_version = api_version
        self.jwt_key = secrets.token_bytes(32)
        self.token = token or make_token(self.jwt_key)
        self.prefix = prefix
        self.number_format = number_format
        self.padding = padding
        self.formatted_number = formatted_number
        self.empty_payment_answer = empty_payment_answer
        self.always_envelope = always_envelope
        self.company_requires_vat = company_requires_vat
        #: Module ≤ 2.0.8 on PHP 8: ``GET /api/invoices/{id}`` answers an HTML 500 page
        #: (``usort()`` on one object); lists and search are unaffected. 2.x only.
        self.usort_single_invoice = usort_single_invoice
        #: Perfex core version: from "3.4" invoice items carry ``taxes`` (``taxname``
        #: as ``NAME|RATE``), ``is_optional`` and ``is_selected``.
        self.core_version = core_version
        #: Core option (1 by default, migration 102): only the last invoice (highest id)
        #: can be deleted; any other answers 404 "Invoice Delete Fail".
        self.delete_only_on_last_invoice = delete_only_on_last_invoice
        #: Module 3.x's rate limit (``api_version`` 3): at most ``limit`` requests per
        #: ``window`` seconds, then 429 with ``X-RateLimit-Limit/Remaining/Reset`` (Reset
        #: = a unix time) and no ``Retry-After`` (api-notes "Findings": v3 rate limit).
        #: None: no limit (2.x has none). Set it as ``(limit, window)``.
        self.rate_limit: tuple[int, float] | None = None
        self.rate_window: tuple[float, int] = (0.0, 0)  # (window start, requests in it)
        self.lock = threading.RLock()
        self.rng = random.Random(seed)
        self.denied: set[str] = set()
        self.currencies: dict[int, dict[str, str]] = {}
        self.taxes: list[dict[str, str]] = []
        self.payment_modes: dict[str, dict[str, str | None]] = {}
        self.expense_categories: list[dict[str, str | None]] = []
        self.clients: dict[int, dict[str, str | None]] = {}
        self.contacts: dict[int, dict[str, str | None]] = {}
        self.contact_passwords: dict[int, str] = {}
        self.invoices: dict[int, InvoiceRecord] = {}
        self.payments: dict[int, PaymentRecord] = {}
        self.payments_by_invoice: dict[int, list[int]] = {}
        self.idempotency: dict[str, tuple[int, Any]] = {}
        #: What a migration does not move, listed by the module's own controllers
        #: (``Estimates``, ``Credit_notes``; ``Items`` lists in 3.x only): seeded rows.
        self.estimates: list[dict[str, str | None]] = []
        self.credit_notes: list[dict[str, str | None]] = []
        self.items: list[dict[str, str | None]] = []
        #: Payment receipts Perfex would have emailed: (payment id, contact email).
        self.receipts_sent: list[tuple[int, str]] = []
        self._ids = {"invoice": 0, "item": 0, "client": 0, "contact": 0, "payment": 0}
        self._configure()

    # ----------------------------------------------------------------- setup

    def _configure(self) -> None:
        for cid, symbol, code, dec, thou, place, default in (
            (1, "$", "USD", ".", ",", "before", "1"),
            (2, "€", "EUR", ",", ".", "after", "0"),
            (3, "E£", "EGP", ".", ",", "after", "0"),
            (4, "﷼", "SAR", ".", ",", "after", "0"),
        ):
            self.currencies[cid] = {
                "id": str(cid),
                "symbol": symbol,
                "name": code,
                "decimal_separator": dec,
                "thousand_separator": thou,
                "placement": place,
                "isdefault": default,
            }
        self.taxes = [
            {"id": "1", "name": "VAT", "taxrate": "15.00"},
            {"id": "2", "name": "VAT EG", "taxrate": "14.00"},
        ]
        for mid, name, default in (
            ("1", "Bank", "1"),
            ("2", "Cash", "0"),
            ("3", "Cheque", "0"),
            ("4", "Credit Card", "0"),
        ):
            self.payment_modes[mid] = {
                "id": mid,
                "name": name,
                "description": None,
                "show_on_pdf": "0",
                "invoices_only": "0",
                "expenses_only": "0",
                "selected_by_default": default,
                "active": "1",
            }
        self.expense_categories = [
            {"id": "1", "name": "Office", "description": None},
            {"id": "2", "name": "Travel", "description": None},
        ]

    def next_id(self, table: str) -> int:
        with self.lock:
            self._ids[table] += 1
            return self._ids[table]

    def currency_ids(self) -> dict[str, str]:
        return {row["name"]: str(cid) for cid, row in self.currencies.items()}

    # ----------------------------------------------------------------- rules

    def display_number(self, invoice: InvoiceRecord) -> str:
        """``format_invoice_number`` (core ``invoices_helper.php``/``sales_helper.php``)."""
        if invoice.status == STATUS_DRAFT or invoice.number == DRAFT_NUMBER:
            return f"{invoice.prefix}DRAFT"
        padded = str(invoice.number).rjust(self.padding, "0")
        fmt, date, prefix = invoice.number_format, invoice.date, invoice.prefix
        if fmt == 2:
            return f"{prefix}{date:%Y}/{padded}"
        if fmt == 3:
            return f"{prefix}{padded}-{date:%y}"
        if fmt == 4:
            return f"{prefix}{padded}/{date:%m}/{date:%Y}"
        return f"{prefix}{padded}"

    def recompute_tax(self, invoice: InvoiceRecord) -> None:
        """``update_sales_total_tax_column``: tax per tax name over the lines, reduced by a
        before-tax discount; ``subtotal`` and ``total`` stay as sent."""
        groups: dict[str, Decimal] = {}
        for item in invoice.items:
            if not item.counted:
                continue
            for name, rate in item.taxes:
                groups[name] = groups.get(name, ZERO) + item.qty * item.rate / 100 * rate
        total_tax = ZERO
        for amount in groups.values():
            if invoice.discount_percent != 0 and invoice.discount_type == "before_tax":
                amount -= amount * invoice.discount_percent / 100
            elif (
                invoice.discount_total != 0
                and invoice.discount_type == "before_tax"
                and invoice.subtotal != 0
            ):
                share = invoice.discount_total / invoice.subtotal * 100
                amount -= amount * share / 100
            total_tax += amount
        invoice.total_tax = round_cents(total_tax)

    def paid(self, invoice_id: int) -> Decimal:
        return sum(
            (self.payments[p].amount for p in self.payments_by_invoice.get(invoice_id, [])),
            ZERO,
        )

    def left_to_pay(self, invoice: InvoiceRecord) -> Decimal:
        return invoice.total - self.paid(invoice.id)

    def refresh_status(self, invoice: InvoiceRecord, today: dt.date | None = None) -> None:
        """``update_invoice_status``: paid, partially paid, unpaid or overdue by the payments
        and the due date; cancelled and draft invoices keep their status."""
        if invoice.status in (STATUS_CANCELLED, STATUS_DRAFT):
            return
        today = today or dt.date.today()
        paid = self.paid(invoice.id)
        left = invoice.total - paid
        if paid > 0 and left <= 0:
            invoice.status = STATUS_PAID
        elif paid > 0:
            invoice.status = STATUS_PARTIALLY
        elif invoice.duedate is not None and invoice.duedate < today:
            invoice.status = STATUS_OVERDUE
        else:
            invoice.status = STATUS_UNPAID

    def next_number(self) -> int:
        used = [i.number for i in self.invoices.values() if i.number != DRAFT_NUMBER]
        return max(used, default=0) + 1

    def number_taken(self, number: int, year: int, except_id: int | None = None) -> bool:
        return any(
            i.number == number and i.date.year == year and i.id != except_id
            for i in self.invoices.values()
        )

    def add_payment(self, record: PaymentRecord, *, email: bool = False) -> None:
        """Store a payment. ``email``: the API's way (``Payments_model::add`` without
        ``do_not_send_email_template``): a receipt to every active contact of the customer
        with ``invoice_emails`` on, kept in ``receipts_sent`` as (payment id, address)."""
        self.payments[record.id] = record
        self.payments_by_invoice.setdefault(record.invoiceid, []).append(record.id)
        invoice = self.invoices.get(record.invoiceid)
        if invoice is not None and email:
            for contact in self.contacts.values():
                if (
                    contact.get("userid") == str(invoice.clientid)
                    and contact.get("active") == "1"
                    and contact.get("invoice_emails") == "1"
                ):
                    self.receipts_sent.append((record.id, str(contact.get("email"))))
        if invoice is not None:
            if invoice.status == STATUS_DRAFT:
                # A payment on a draft gives it its real number (Payments_model::add).
                invoice.number = self.next_number()
                invoice.status = STATUS_UNPAID
            self.refresh_status(invoice)

    def delete_invoice(self, invoice_id: int) -> None:
        self.invoices.pop(invoice_id, None)
        for pid in self.payments_by_invoice.pop(invoice_id, []):
            self.payments.pop(pid, None)

    # ----------------------------------------------------------------- rows

    def currency_columns(self, currency_id: int) -> dict[str, str | None]:
        row = self.currencies.get(currency_id)
        if row is None:
            return dict.fromkeys(
                (
                    "symbol",
                    "name",
                    "decimal_separator",
                    "thousand_separator",
                    "placement",
                    "isdefault",
                    "currencyid",
                    "currency_name",
                )
            )
        return {
            "symbol": row["symbol"],
            "name": row["name"],
            "decimal_separator": row["decimal_separator"],
            "thousand_separator": row["thousand_separator"],
            "placement": row["placement"],
            "isdefault": row["isdefault"],
            "currencyid": row["id"],
            "currency_name": row["name"],
        }

    def invoice_columns(self, invoice: InvoiceRecord) -> dict[str, Any]:
        """Every ``tblinvoices`` column, as strings."""
        b_street, b_city, b_state, b_zip, b_country = invoice.billing
        s_street, s_city, s_state, s_zip, s_country = invoice.shipping
        row: dict[str, Any] = {
            "id": _s(invoice.id),
            "sent": _s(invoice.sent),
            "datesend": None,
            "clientid": _s(invoice.clientid),
            "deleted_customer_name": invoice.deleted_customer_name,
            "number": _s(invoice.number),
            "prefix": invoice.prefix,
            "number_format": _s(invoice.number_format),
        }
        if self.formatted_number:
            row["formatted_number"] = self.display_number(invoice)
        row.update(
            {
                "datecreated": invoice.datecreated,
                "date": _s(invoice.date),
                "duedate": _s(invoice.duedate),
                "currency": _s(invoice.currency),
                "subtotal": money_text(invoice.subtotal),
                "total_tax": money_text(invoice.total_tax),
                "total": money_text(invoice.total),
                "adjustment": money_text(invoice.adjustment),
                "addedfrom": _s(invoice.addedfrom),
                "hash": invoice.hash,
                "status": _s(invoice.status),
                "clientnote": invoice.clientnote,
                "adminnote": invoice.adminnote,
                "last_overdue_reminder": None,
                "cancel_overdue_reminders": _s(invoice.cancel_overdue_reminders),
                "allowed_payment_modes": invoice.allowed_payment_modes,
                "token": None,
                "discount_percent": money_text(invoice.discount_percent),
                "discount_total": money_text(invoice.discount_total),
                "discount_type": invoice.discount_type,
                "recurring": _s(invoice.recurring),
                "recurring_type": invoice.recurring_type,
                "custom_recurring": _s(invoice.custom_recurring),
                "cycles": _s(invoice.cycles),
                "total_cycles": _s(invoice.total_cycles),
                "is_recurring_from": None,
                "last_recurring_date": invoice.last_recurring_date,
                "terms": invoice.terms,
                "sale_agent": _s(invoice.sale_agent),
                "billing_street": b_street,
                "billing_city": b_city,
                "billing_state": b_state,
                "billing_zip": b_zip,
                "billing_country": b_country,
                "shipping_street": s_street,
                "shipping_city": s_city,
                "shipping_state": s_state,
                "shipping_zip": s_zip,
                "shipping_country": s_country,
                "include_shipping": _s(invoice.include_shipping),
                "show_shipping_on_invoice": _s(invoice.show_shipping_on_invoice),
                "show_quantity_as": _s(invoice.show_quantity_as),
                "project_id": "0",
                "subscription_id": "0",
            }
        )
        return row

    def invoice_list_row(self, invoice: InvoiceRecord) -> dict[str, Any]:
        """A row of ``GET /api/invoices``: invoice columns + currency columns."""
        row = self.invoice_columns(invoice)
        row.update(self.currency_columns(invoice.currency))
        row["customfields"] = []
        return row

    def client_row(self, client: Mapping[str, Any], *, single: bool = False) -> dict[str, Any]:
        row = {column: client.get(column) for column in CLIENT_COLUMNS}
        if single and not self.company_requires_vat:
            row["vat"] = None  # Clients_model nulls it when VAT is not required
        return row

    def payment_row(self, payment: PaymentRecord, *, joined: bool = False) -> dict[str, Any]:
        """``invoicepaymentrecords.*`` + ``paymentid``; ``joined`` adds the payment mode's
        columns the way ``get_invoice_payments`` does, which overwrites ``id``."""
        row: dict[str, Any] = {
            "id": _s(payment.id),
            "invoiceid": _s(payment.invoiceid),
            "amount": money_text(payment.amount),
            "paymentmode": payment.paymentmode,
            "paymentmethod": payment.paymentmethod,
            "date": payment.date,
            "daterecorded": payment.daterecorded,
            "note": payment.note,
            "transactionid": payment.transactionid,
        }
        if joined:
            mode = self.payment_modes.get(payment.paymentmode)
            row.update(
                {
                    "id": mode["id"] if mode else None,
                    "name": mode["name"] if mode else None,
                    "description": mode["description"] if mode else None,
                    "show_on_pdf": mode["show_on_pdf"] if mode else None,
                    "invoices_only": mode["invoices_only"] if mode else None,
                    "expenses_only": mode["expenses_only"] if mode else None,
                    "selected_by_default": mode["selected_by_default"] if mode else None,
                    "active": mode["active"] if mode else None,
                }
            )
        row["paymentid"] = _s(payment.id)
        return row

    def invoice_detail(self, invoice: InvoiceRecord) -> dict[str, Any]:
        """``GET /api/invoices/{id}``: ``Invoices_model::get`` with everything it adds."""
        row = self.invoice_list_row(invoice)
        del row["customfields"]
        row["total_left_to_pay"] = money_text(self.left_to_pay(invoice))
        row["items"] = [
            {
                "id": _s(item.id),
                "rel_id": _s(invoice.id),
                "rel_type": "invoice",
                "description": item.description,
                "long_description": item.long_description,
                "qty": money_text(item.qty),
                "rate": money_text(item.rate),
                "unit": item.unit,
                "item_order": _s(item.item_order),
                **(self._item_34(invoice, item) if self.core_at_least(3, 4) else {}),
            }
            for item in sorted(invoice.items, key=lambda i: (i.item_order, i.id))
        ]
        row["attachments"] = []
        row["visible_attachments_to_customer_found"] = False
        client = self.clients.get(invoice.clientid)
        row["client"] = (
            self.client_row(client)
            if client is not None
            else {"company": invoice.deleted_customer_name}
        )
        row["payments"] = [
            self.payment_row(self.payments[p], joined=True)
            for p in self.payments_by_invoice.get(invoice.id, [])
        ]
        row["scheduled_email"] = None
        row["customfields"] = []
        return row

    def core_at_least(self, major: int, minor: int) -> bool:
        parts = [int(p) for p in self.core_version.split(".")[:2] if p.isdigit()]
        return tuple(parts + [0] * (2 - len(parts))) >= (major, minor)

    def _item_34(self, invoice: InvoiceRecord, item: Item) -> dict[str, Any]:
        """Core ≥ 3.4 ``get_items_by_type``: the line's ``get_invoice_item_taxes()`` rows
        (``taxname`` rewritten to ``NAME|RATE``) and the optional-line flags."""
        return {
            "taxes": [
                {
                    "id": _s(item.id * 10 + n),
                    "itemid": _s(item.id),
                    "rel_id": _s(invoice.id),
                    "rel_type": "invoice",
                    "taxrate": money_text(rate),
                    "taxname": f"{name}|{money_text(rate)}",
                }
                for n, (name, rate) in enumerate(item.taxes)
            ],
            "is_optional": item.is_optional,
            "is_selected": item.is_selected,
        }

    def invoice_search_row(self, invoice: InvoiceRecord) -> dict[str, Any]:
        """``Api_model::_search_invoices``: invoice columns, then the customer's (same
        names overwrite), then ``invoiceid`` and ``company``; no currency columns."""
        row = self.invoice_columns(invoice)
        client = self.clients.get(invoice.clientid)
        if client is not None:
            row.update(self.client_row(client))
        row["invoiceid"] = _s(invoice.id)
        row["company"] = client.get("company") if client else invoice.deleted_customer_name
        row["customfields"] = []
        return row

    def search_invoices(self, term: str) -> list[InvoiceRecord]:
        q = term.strip()
        if q.isdigit():
            q = q.lstrip("0")
        elif q.startswith(self.prefix):
            q = q[len(self.prefix) :].strip().lstrip("0")
        needle = q.casefold()
        found = []
        for invoice in self.invoices.values():
            client = self.clients.get(invoice.clientid) or {}
            texts = [
                invoice.clientnote,
                invoice.adminnote,
                *invoice.billing[:4],
                client.get("company"),
                client.get("vat"),
                client.get("phonenumber"),
                client.get("city"),
                client.get("state"),
                client.get("zip"),
                client.get("address"),
            ]
            if str(invoice.number) == q or any(needle in (t or "").casefold() for t in texts):
                found.append(invoice)
        # order_by('number,YEAR(date)', 'desc')
        found.sort(key=lambda i: (i.number, i.date.year), reverse=True)
        return found

    def search_clients(self, term: str) -> list[dict[str, Any]]:
        """``customers/search/{q}``: ``company``, a contact's full name or email (and
        custom fields, which this install has none of), of **active** customers only;
        never ``vat``, phone or address (M208 ``Api_model.php:711-737``)."""
        needle = term.strip().casefold()
        found = []
        for userid, client in self.clients.items():
            if client.get("active") != "1":
                continue
            texts = [client.get("company")]
            for contact in self.contacts.values():
                if contact.get("userid") == str(userid):
                    full_name = f"{contact.get('firstname') or ''} {contact.get('lastname') or ''}"
                    texts += [full_name, contact.get("email")]
            if any(needle in (t or "").casefold() for t in texts):
                found.append(client)
        return found


# --------------------------------------------------------------------------- HTTP


def _opt(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if text != "" else None


def _nl2br(text: str) -> str:
    return text.replace("\r\n", "<br />\r\n").replace("\n", "<br />\n") if text else text


def contact_row(
    contact_id: int,
    userid: str,
    first: str,
    last: str,
    email: str,
    phone: str,
    *,
    primary: bool,
) -> dict[str, str | None]:
    return {
        "id": str(contact_id),
        "userid": userid,
        "is_primary": "1" if primary else "0",
        "firstname": first,
        "lastname": last,
        "email": email,
        "phonenumber": phone,
        "title": None,
        "datecreated": _now(),
        "active": "1",
        "direction": None,
        "invoice_emails": "1",
        "estimate_emails": "1",
        "credit_note_emails": "1",
        "contract_emails": "1",
        "task_emails": "1",
        "project_emails": "1",
        "ticket_emails": "1",
        # contacts.* carries the login columns too (M208 Api_model.php:752).
        "password": "$2y$10$" + secrets.token_hex(26)[:53],
        "new_pass_key": None,
        "new_pass_key_requested": None,
        "last_ip": "10.0.0.7",
        "last_login": None,
        "last_password_change": None,
    }
