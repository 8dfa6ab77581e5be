"""A local emulator of the Perfex CRM REST API module (2.x by default, 3.x on request).

It keeps an install's tables in memory and answers like the module does, quirks included
(the notes' sections in brackets): a 404 with ``Token is not defined.`` for a missing
token [§3]; 404 ``No data were found`` for empty lists and unknown ids [§3]; form-encoded
POSTs with PHP bracket keys and raw-JSON-only PUTs in 2.x [§2]; no id on create in 2.x,
``record_id`` in 3.x [§4.4]; ``paymentmode`` as the payment result flag [§6]; every value a
string [§2]; no per-line tax on reads [§4.1]; ``subtotal``/``total`` stored as sent and
``total_tax`` recomputed [§4.4]. ``api_version=3`` adds ``{data, meta}`` pages, ``record_id``,
``Authorization: Bearer`` and ``Idempotency-Key`` replay.

Python API::

    with PerfexEmulator(invoices=25, seed=1) as emulator:
        backend = get_backend(**emulator.profile())   # profile() includes "backend"

Command line: ``invoicing-bridge emulate perfex [--api-version 3] ...`` prints a profile.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import random
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from werkzeug.wrappers import Request

from invoicing_bridge.emulation import Emulator, Knob

from .phpforms import decode_form, php_serialize, php_values

__all__ = ["PerfexApp", "PerfexEmulator", "PerfexState", "cli", "make_token", "seed_install"]

ZERO = Decimal("0")
CENT = Decimal("0.01")
DRAFT_NUMBER = 1000000000
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


def _money(value: Decimal) -> str:
    return format(value.quantize(CENT, rounding=ROUND_HALF_UP), "f")


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _now() -> str:
    return dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S")


def _s(value: Any) -> str | None:
    """Every column comes back as a string (or null), as MySQL through CodeIgniter does."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return _money(value)
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
    deleted_customer_name: str | None = None


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
        invoice.total_tax = _cents(total_tax)

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

    def add_payment(self, record: PaymentRecord) -> None:
        self.payments[record.id] = record
        self.payments_by_invoice.setdefault(record.invoiceid, []).append(record.id)
        invoice = self.invoices.get(record.invoiceid)
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
                "subtotal": _money(invoice.subtotal),
                "total_tax": _money(invoice.total_tax),
                "total": _money(invoice.total),
                "adjustment": _money(invoice.adjustment),
                "addedfrom": _s(invoice.addedfrom),
                "hash": invoice.hash,
                "status": _s(invoice.status),
                "clientnote": invoice.clientnote,
                "adminnote": invoice.adminnote,
                "last_overdue_reminder": None,
                "cancel_overdue_reminders": _s(invoice.cancel_overdue_reminders),
                "allowed_payment_modes": invoice.allowed_payment_modes,
                "token": None,
                "discount_percent": _money(invoice.discount_percent),
                "discount_total": _money(invoice.discount_total),
                "discount_type": invoice.discount_type,
                "recurring": "0",
                "recurring_type": None,
                "custom_recurring": "0",
                "cycles": "0",
                "total_cycles": "0",
                "is_recurring_from": None,
                "last_recurring_date": None,
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
                "show_shipping_on_invoice": "1",
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
            "amount": _money(payment.amount),
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
        row["total_left_to_pay"] = _money(self.left_to_pay(invoice))
        row["items"] = [
            {
                "id": _s(item.id),
                "rel_id": _s(invoice.id),
                "rel_type": "invoice",
                "description": item.description,
                "long_description": item.long_description,
                "qty": _money(item.qty),
                "rate": _money(item.rate),
                "unit": item.unit,
                "item_order": _s(item.item_order),
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
        needle = term.strip().casefold()
        found = []
        for userid, client in self.clients.items():
            texts = [
                client.get(c)
                for c in ("company", "vat", "phonenumber", "city", "zip", "state", "address")
            ]
            texts += [client.get("website")]
            for contact in self.contacts.values():
                if contact.get("userid") == str(userid):
                    texts += [
                        contact.get("firstname"),
                        contact.get("lastname"),
                        contact.get("email"),
                    ]
            if any(needle in (t or "").casefold() for t in texts):
                found.append(client)
        return found


# --------------------------------------------------------------------------- HTTP


class _Answer(Exception):
    """Stop handling and answer this (the module's ``$this->response(...)`` exits)."""

    def __init__(self, status: int, body: Any, headers: Sequence[tuple[str, str]] = ()):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = list(headers)


_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    422: "Unprocessable Entity",
    500: "Internal Server Error",
}


def php_json(data: Any) -> bytes:
    """``json_encode`` with PHP's default flags: ``\\/`` and ``\\uXXXX`` escapes."""
    return json.dumps(data, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/").encode()


def _validation(errors: dict[str, str], *, flag: str = "status") -> dict[str, Any]:
    """CodeIgniter's ``form_validation`` failure: ``error_array()`` + ``validation_errors()``."""
    return {
        flag: False,
        "error": errors,
        "message": "".join(f"<p>{message}</p>\n" for message in errors.values()),
    }


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None


_CI_DECIMAL = re.compile(r"^[\-+]?[0-9]+\.[0-9]+$")


class _Rules:
    """The bits of CodeIgniter ``form_validation`` the module's controllers use."""

    def __init__(self, data: Mapping[str, Any]):
        self.data = data
        self.errors: dict[str, str] = {}

    def _value(self, key: str) -> Any:
        name = key[:-2] if key.endswith("[]") else key
        value = self.data.get(name)
        return value.strip() if isinstance(value, str) else value

    def required(self, key: str, label: str) -> bool:
        value = self._value(key)
        if value in (None, "", {}, []):
            self.errors.setdefault(key, f"The {label} field is required.")
            return False
        return True

    def decimal_above_zero(self, key: str, label: str) -> None:
        if not self.required(key, label):
            return
        value = str(self._value(key))
        if not _CI_DECIMAL.match(value):
            self.errors.setdefault(key, f"The {label} field must contain a decimal number.")
        elif Decimal(value) <= 0:
            self.errors.setdefault(key, f"The {label} field must contain a number greater than 0.")

    @property
    def ok(self) -> bool:
        return not self.errors


class PerfexApp:
    """The WSGI app: routing, authentication and the module's controllers."""

    def __init__(self, state: PerfexState):
        self.state = state

    # ----------------------------------------------------------------- WSGI

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        request = Request(environ)
        try:
            self._route(request, _path(environ))
            raise _Answer(500, {"status": False, "message": "no answer"})
        except _Answer as answer:
            status, body, headers = answer.status, answer.body, answer.headers
        except Exception as exc:  # a bug here: answer like PHP does, with an HTML page
            status, headers = 500, []
            body = (
                "<html><head><title>Error</title></head><body><h1>A PHP Error was "
                f"encountered</h1><p>Message: {type(exc).__name__}</p></body></html>"
            ).encode()
        if isinstance(body, bytes):
            payload = body
            content_type = "text/html; charset=UTF-8"
        elif body is None:
            payload = b""
            content_type = "text/html; charset=UTF-8"
        else:
            payload = php_json(body)
            content_type = "application/json; charset=utf-8"
        reason = _REASONS.get(status, "OK")
        start_response(
            f"{status} {reason}",
            [
                ("Content-Type", content_type),
                ("Content-Length", str(len(payload))),
                *headers,
            ],
        )
        return [payload]

    def _route(self, request: Request, path: str) -> None:
        if not path.startswith("/api/"):
            raise _Answer(404, HTML_404)
        parts = [p for p in path[len("/api/") :].split("/")]
        while parts and parts[-1] == "":
            parts.pop()
        if not parts:
            raise _Answer(404, HTML_404)
        controller, args = parts[0], parts[1:]
        if controller == "delete" and args:
            # api/delete/<res>/<id> is the alternative delete route.
            controller, args = args[0], args[1:]
            if request.method != "DELETE":
                raise _Answer(405, {"status": False, "error": "Unknown method"})
        handlers: dict[str, Callable[[Request, list[str]], None]] = {
            "invoices": self._invoices,
            "customers": self._customers,
            "contacts": self._contacts,
            "payments": self._payments,
            "common": self._common,
        }
        handler = handlers.get(controller)
        if handler is None:
            raise _Answer(404, HTML_404)
        self._authenticate(request)
        capability = self._capability(request, args)
        if f"{controller}:{capability}" in self.state.denied:
            raise _Answer(403, {"status": False, "message": PERMISSION_MESSAGE})
        with self.state.lock:
            handler(request, args)

    @staticmethod
    def _capability(request: Request, args: list[str]) -> str:
        method = request.method.lower()
        if args and args[0] == "search" and method == "get":
            return "search_get"
        return method

    def _authenticate(self, request: Request) -> None:
        """The module's token check (``REST_Controller`` + ``Authorization_Token``): a
        missing or bad token answers **404**, not 401."""
        state = self.state
        token = request.headers.get("authtoken")
        if token is None and state.api_version == 3:
            auth = request.headers.get("Authorization")
            if auth:
                token = auth[7:].strip() if auth.lower().startswith("bearer ") else auth.strip()
            else:
                token = next(
                    (
                        request.args[k]
                        for k in ("authtoken", "Authtoken", "api_key")
                        if k in request.args
                    ),
                    None,
                )
        if not token:
            raise _Answer(404, {"status": False, "message": "Token is not defined."})
        if hmac.compare_digest(token.encode(), state.token.encode()):
            return
        parts = token.split(".")
        if len(parts) != 3:
            raise _Answer(404, {"status": False, "message": "Wrong number of segments"})
        try:
            json.loads(_unb64(parts[0]))
            json.loads(_unb64(parts[1]))
            signature = _unb64(parts[2])
        except (ValueError, UnicodeDecodeError):
            raise _Answer(
                404, {"status": False, "message": "Syntax error, malformed JSON"}
            ) from None
        expected = hmac.new(
            state.jwt_key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256
        ).digest()
        if not hmac.compare_digest(signature, expected):
            raise _Answer(404, {"status": False, "message": "Signature verification failed"})
        # A valid JWT that is not in tbluser_api: the module's message is null.
        raise _Answer(404, {"status": False, "message": None})

    # ----------------------------------------------------------------- helpers

    def _post_data(self, request: Request) -> dict[str, Any]:
        """``$this->input->post()``: form fields (PHP bracket keys rebuilt). 2.x ignores a
        JSON body on POST; 3.x parses it."""
        content_type = (request.content_type or "").split(";")[0].strip().lower()
        if content_type == "application/json":
            if self.state.api_version == 3:
                return self._json_body(request) or {}
            return {}
        return decode_form(request.form.items(multi=True))

    @staticmethod
    def _json_body(request: Request) -> dict[str, Any] | None:
        try:
            data = json.loads(request.get_data(cache=True) or b"null")
        except ValueError:
            return None
        return data if isinstance(data, dict) and data else None

    def _put_data(self, request: Request) -> dict[str, Any]:
        """2.x ``data_put``: ``json_decode(php://input)``; empty or not JSON → 406. 3.x also
        reads form fields."""
        data = self._json_body(request)
        if data is None and self.state.api_version == 3:
            raw = request.get_data(cache=True, as_text=True)
            data = decode_form(parse_qsl(raw, keep_blank_values=True)) or None
            if data is None and request.form:
                data = decode_form(request.form.items(multi=True))
        if not data:
            raise _Answer(406, {"status": False, "message": "Data Not Acceptable OR Not Provided"})
        return data

    def _idempotent(self, request: Request, create: Callable[[], tuple[int, Any]]) -> None:
        """3.x ``Idempotency-Key``: a repeated POST gets the stored answer again."""
        key = request.headers.get("Idempotency-Key") if self.state.api_version == 3 else None
        if key and key in self.state.idempotency:
            status, body = self.state.idempotency[key]
            raise _Answer(status, body, [("Idempotency-Replayed", "true")])
        status, body = create()
        if key and status == 200:
            self.state.idempotency[key] = (status, body)
        raise _Answer(status, body)

    def _created(self, message: str, record_id: int, *, flag: str = "status") -> dict[str, Any]:
        body: dict[str, Any] = {flag: True, "message": message}
        if self.state.api_version == 3:
            body = {"status": True, "message": message, "record_id": record_id}
        return body

    def _listing(
        self,
        request: Request,
        rows: Sequence[Any],
        render: Callable[[Any], Any] = lambda row: row,
        *,
        flag: str = "status",
    ) -> None:
        """A list answer: 404 when empty; a bare array (2.x, and 3.x without page
        parameters) or a ``{data, meta}`` page (3.x with ``page``/``per_page``). Only the
        rows answered are rendered, so pages of a big table stay cheap."""
        if not rows:
            raise _Answer(404, {flag: False, "message": NO_DATA})
        args = request.args
        paged = self.state.api_version == 3 and (
            "page" in args or "per_page" in args or self.state.always_envelope
        )
        if not paged:
            raise _Answer(200, [render(row) for row in rows])
        try:
            page = max(1, int(args.get("page", "1")))
            per_page = int(args.get("per_page") or args.get("limit") or 25)
        except ValueError:
            raise _Answer(
                422,
                {
                    "status": False,
                    "error": "validation_failed",
                    "message": "Invalid pagination parameters",
                    "errors": {"page": "must be an integer"},
                },
            ) from None
        per_page = min(max(per_page, 1), 100)
        total = len(rows)
        pages = max(1, -(-total // per_page))
        chunk = [render(row) for row in rows[(page - 1) * per_page : page * per_page]]
        meta = {
            "page": page,
            "per_page": per_page,
            "total": total,
            "total_pages": pages,
            "has_more": page < pages,
            "current_page": page,
            "last_page": pages,
        }
        raise _Answer(200, {"data": chunk, "meta": meta})

    def _search_term(self, request: Request, args: list[str]) -> str:
        term = "/".join(args[1:])
        if not term and self.state.api_version == 3:
            term = request.args.get("q", "")
            if not term:
                raise _Answer(
                    400,
                    {
                        "status": False,
                        "message": "Search term is required. Use /api/invoices/search/{term} "
                        "or /api/invoices/search?q={term}",
                    },
                )
        return term

    @staticmethod
    def _unknown_method() -> _Answer:
        return _Answer(405, {"status": False, "error": "Unknown method"})

    @staticmethod
    def _int_id(text: str) -> int | None:
        return int(text) if text.isdigit() else None

    # ----------------------------------------------------------------- invoices

    def _invoices(self, request: Request, args: list[str]) -> None:
        state = self.state
        method = request.method
        if method == "GET":
            if args and args[0] == "search":
                term = self._search_term(request, args)
                self._listing(request, state.search_invoices(term), state.invoice_search_row)
            if args:
                invoice = state.invoices.get(self._int_id(args[0]) or -1)
                if invoice is None:
                    raise _Answer(404, {"status": False, "message": NO_DATA})
                raise _Answer(200, state.invoice_detail(invoice))
            self._listing(request, self._invoice_list(request), state.invoice_list_row)
        if method == "POST" and not args:
            data = self._post_data(request)
            self._idempotent(request, lambda: self._create_invoice(data))
        if method == "PUT" and args:
            self._update_invoice(args[0], self._put_data(request))
        if method == "DELETE" and args:
            invoice = state.invoices.get(self._int_id(args[0]) or -1)
            if invoice is None:
                raise _Answer(404, {"status": False, "message": "Invalid Invoice ID"})
            state.delete_invoice(invoice.id)
            raise _Answer(200, {"status": True, "message": "Invoice Deleted Successfully"})
        raise self._unknown_method()

    def _invoice_list(self, request: Request) -> list[InvoiceRecord]:
        state = self.state
        invoices = list(state.invoices.values())
        sort = request.args.get("sort") if state.api_version == 3 else None
        if sort:
            keys = {
                "id": lambda i: i.id,
                "date": lambda i: (i.date, i.id),
                "number": lambda i: (i.number, i.id),
                "total": lambda i: (i.total, i.id),
                "datecreated": lambda i: (i.datecreated, i.id),
            }
            for column in reversed([c.strip() for c in sort.split(",") if c.strip()]):
                name = column.lstrip("-")
                if name not in keys:
                    raise _Answer(
                        422,
                        {
                            "status": False,
                            "error": "validation_failed",
                            "message": f"Cannot sort by {name}",
                            "errors": {"sort": f"unknown column {name}"},
                        },
                    )
                invoices.sort(key=keys[name], reverse=column.startswith("-"))
        return invoices

    def _invoice_fields(
        self, data: Mapping[str, Any], rules: _Rules, *, items_key: str, edit_id: int | None
    ) -> None:
        rules.required("number", "Invoice number")
        rules.required("date", "Invoice date")
        rules.required("currency", "Currency")
        rules.required(f"{items_key}[]", "Items")
        rules.required("allowed_payment_modes[]", "Allow Payment Mode")
        rules.required("billing_street", "Billing Street")
        rules.decimal_above_zero("subtotal", "Sub Total")
        rules.decimal_above_zero("total", "Total")
        if "number" not in rules.errors and "date" not in rules.errors:
            number = str(data["number"]).strip().lstrip("0")
            date = _parse_date(data.get("date"))
            original = self.state.invoices.get(edit_id) if edit_id is not None else None
            same = original is not None and number == str(original.number)
            if date is None and original is not None:
                date = original.date
            if (
                not same
                and number.isdigit()
                and date is not None
                and self.state.number_taken(int(number), date.year, edit_id)
            ):
                rules.errors["number"] = "The Invoice number is already in use"

    def _create_invoice(self, data: Mapping[str, Any]) -> tuple[int, Any]:
        state = self.state
        rules = _Rules(data)
        rules.required("clientid", "Customer")
        self._invoice_fields(data, rules, items_key="newitems", edit_id=None)
        if not rules.ok:
            return 404, _validation(rules.errors)
        date = _parse_date(data.get("date"))
        number_text = str(data["number"]).strip().lstrip("0") or "0"
        currency = self._int_id(str(data.get("currency")).strip())
        clientid = self._int_id(str(data.get("clientid")).strip())
        if date is None or not number_text.isdigit() or currency is None or clientid is None:
            return 404, {"status": False, "message": "Invoice Add Fail"}
        draft = "save_as_draft" in data
        invoice_id = state.next_id("invoice")
        invoice = InvoiceRecord(
            id=invoice_id,
            clientid=clientid,
            number=DRAFT_NUMBER if draft else int(number_text),
            prefix=state.prefix,
            number_format=state.number_format,
            datecreated=_now(),
            date=date,
            duedate=_parse_date(data.get("duedate")),
            currency=currency,
            subtotal=_cents(Decimal(str(data["subtotal"]))),
            total_tax=ZERO,
            total=_cents(Decimal(str(data["total"]))),
            adjustment=_cents(_decimal(data.get("adjustment")) or ZERO),
            discount_percent=_cents(_decimal(data.get("discount_percent")) or ZERO),
            discount_total=_cents(_decimal(data.get("discount_total")) or ZERO),
            discount_type="",
            status=STATUS_DRAFT if draft else STATUS_UNPAID,
            hash=secrets.token_hex(16),
            allowed_payment_modes=php_serialize(
                [str(v) for v in php_values(data.get("allowed_payment_modes"))]
            ),
            items=[],
            clientnote=_opt(data.get("clientnote")),
            adminnote=_opt(data.get("adminnote")),
            terms=_opt(data.get("terms")),
            billing=_address_fields(data, "billing"),
            shipping=_address_fields(data, "shipping", empty=None),
            sale_agent=_int_field(data, "sale_agent", 0),
            cancel_overdue_reminders=1 if "cancel_overdue_reminders" in data else 0,
            show_quantity_as=_int_field(data, "show_quantity_as", 1),
        )
        if invoice.discount_total != 0 or invoice.discount_percent != 0:
            invoice.discount_type = str(data.get("discount_type") or "")
        for order, line in enumerate(php_values(data.get("newitems")), start=1):
            if isinstance(line, Mapping):
                invoice.items.append(self._item(line, order))
        state.invoices[invoice_id] = invoice
        # total_tax is recomputed; subtotal and total stay as sent. The status stays
        # unpaid (overdue is set by Perfex's cron, not on create).
        state.recompute_tax(invoice)
        return 200, self._created("Invoice Added Successfully", invoice_id)

    def _item(self, line: Mapping[str, Any], order: int, item_id: int | None = None) -> Item:
        taxes = []
        for text in php_values(line.get("taxname")):
            name, sep, rate = str(text).partition("|")
            value = _decimal(rate)
            if sep and name.strip() and value is not None:
                taxes.append((name.strip(), _cents(value)))
        order_text = str(line.get("order") or order)
        return Item(
            id=item_id or self.state.next_id("item"),
            description=str(line.get("description") or ""),
            long_description=_nl2br(str(line.get("long_description") or "")),
            qty=_cents(_decimal(line.get("qty")) or ZERO),
            rate=_cents(_decimal(line.get("rate")) or ZERO),
            unit=str(line.get("unit") or ""),
            item_order=int(order_text) if order_text.isdigit() else order,
            taxes=taxes,
        )

    def _update_invoice(self, id_text: str, data: dict[str, Any]) -> None:
        state = self.state
        invoice_id = self._int_id(id_text)
        rules = _Rules(data)
        self._invoice_fields(data, rules, items_key="items", edit_id=invoice_id)
        if not rules.ok:
            raise _Answer(409, _validation(rules.errors))
        invoice = state.invoices.get(invoice_id or -1)
        if invoice is None:
            raise _Answer(409, {"status": False, "message": "Invoice ID Doesn't Not Exist."})
        before = repr(invoice)
        date = _parse_date(data.get("date")) or invoice.date
        invoice.date = date
        if "duedate" in data:
            invoice.duedate = _parse_date(data.get("duedate"))
        number_text = str(data["number"]).strip().lstrip("0")
        if invoice.status != STATUS_DRAFT and number_text.isdigit():
            invoice.number = int(number_text)
        for key in ("clientid", "currency"):
            value = self._int_id(str(data.get(key) or "").strip())
            if value is not None:
                setattr(invoice, key, value)
        invoice.subtotal = _cents(Decimal(str(data["subtotal"])))
        invoice.total = _cents(Decimal(str(data["total"])))
        for key in ("adjustment", "discount_percent", "discount_total"):
            if key in data:
                setattr(invoice, key, _cents(_decimal(data.get(key)) or ZERO))
        if "discount_type" in data:
            invoice.discount_type = str(data.get("discount_type") or "")
        if invoice.discount_total == 0 and invoice.discount_percent == 0:
            invoice.discount_type = ""
        for key in ("clientnote", "adminnote", "terms"):
            if key in data:
                setattr(invoice, key, _opt(data.get(key)))
        invoice.billing = _address_fields(data, "billing", current=invoice.billing)
        invoice.allowed_payment_modes = php_serialize(
            [str(v) for v in php_values(data.get("allowed_payment_modes"))]
        )
        removed = {str(v) for v in php_values(data.get("removed_items"))}
        invoice.items = [i for i in invoice.items if str(i.id) not in removed]
        by_id = {str(i.id): i for i in invoice.items}
        for line in php_values(data.get("items")):
            if not isinstance(line, Mapping):
                continue
            existing = by_id.get(str(line.get("itemid")))
            if existing is None:
                continue
            updated = self._item(line, existing.item_order, item_id=existing.id)
            # update_sales_item_post + the item's taxes (none sent: its taxes are deleted)
            index = invoice.items.index(existing)
            invoice.items[index] = updated
        count = len(invoice.items)
        for offset, line in enumerate(php_values(data.get("newitems")), start=1):
            if isinstance(line, Mapping):
                invoice.items.append(self._item(line, count + offset))
        state.recompute_tax(invoice)
        if repr(invoice) == before:
            # Invoices_model::update returns false when no row changed.
            raise _Answer(404, {"status": False, "message": "Invoice Update Fail"})
        state.refresh_status(invoice)
        raise _Answer(200, {"status": True, "message": "Invoice Updated Successfully"})

    # ----------------------------------------------------------------- customers

    def _customers(self, request: Request, args: list[str]) -> None:
        state = self.state
        method = request.method
        if method == "GET":
            if args and args[0] == "search":
                term = self._search_term(request, args)
                self._listing(request, state.search_clients(term), state.client_row)
            if args:
                client = state.clients.get(self._int_id(args[0]) or -1)
                if client is None:
                    raise _Answer(404, {"status": False, "message": NO_DATA})
                raise _Answer(200, state.client_row(client, single=True))
            clients = sorted(
                state.clients.values(), key=lambda c: (c.get("company") or "").casefold()
            )
            self._listing(request, clients, state.client_row)
        if method == "POST" and not args:
            data = self._post_data(request)
            self._idempotent(request, lambda: self._create_client(data))
        if method == "PUT" and args:
            data = self._put_data(request)
            client = state.clients.get(self._int_id(args[0]) or -1)
            if client is None:
                raise _Answer(404, {"status": False, "message": "Customers Update Fail."})
            before = dict(client)
            for key in CLIENT_COLUMNS:
                if key in data and key not in ("userid", "datecreated", "addedfrom"):
                    client[key] = _opt(data[key]) if key != "company" else str(data[key])
            if client == before:
                raise _Answer(404, {"status": False, "message": "Customers Update Fail."})
            raise _Answer(200, {"status": True, "message": "Customers Update Successful."})
        if method == "DELETE" and args:
            userid = self._int_id(args[0])
            if userid is None or userid not in state.clients:
                raise _Answer(404, {"status": False, "message": "Customer Delete Fail."})
            del state.clients[userid]
            for cid in [c for c, row in state.contacts.items() if row["userid"] == str(userid)]:
                del state.contacts[cid]
            raise _Answer(200, {"status": True, "message": "Customer Delete Successful."})
        raise self._unknown_method()

    def _create_client(self, data: Mapping[str, Any]) -> tuple[int, Any]:
        rules = _Rules(data)
        rules.required("company", "Company")
        if not rules.ok:
            return 404, _validation(rules.errors)
        userid = self.state.next_id("client")
        row: dict[str, str | None] = dict.fromkeys(CLIENT_COLUMNS)
        row.update(
            {
                "userid": str(userid),
                "company": str(data["company"]).strip(),
                "datecreated": _now(),
                "active": "1",
                "country": "0",
                "billing_country": "0",
                "shipping_country": "0",
                "default_language": "",
                "default_currency": "0",
                "show_primary_contact": "0",
                "registration_confirmed": "1",
                "addedfrom": "0",
            }
        )
        for key in CLIENT_COLUMNS:
            if key in data and key not in ("userid", "company", "datecreated", "addedfrom"):
                value = _opt(data[key])
                if value is not None:
                    row[key] = value
        self.state.clients[userid] = row
        return 200, self._created("Client add successful.", userid)

    # ----------------------------------------------------------------- contacts

    def _contacts(self, request: Request, args: list[str]) -> None:
        state = self.state
        method = request.method
        if method == "GET":
            if args and args[0] == "search":
                term = self._search_term(request, args).casefold()
                rows = []
                for contact in state.contacts.values():
                    client = state.clients.get(int(contact["userid"] or 0)) or {}
                    texts = [
                        contact.get(k) for k in ("firstname", "lastname", "email", "phonenumber")
                    ]
                    texts.append(client.get("company"))
                    if any(term in (t or "").casefold() for t in texts):
                        row = {**contact}
                        for key, value in state.client_row(client).items():
                            row.setdefault(key, value)
                        rows.append(row)
                self._listing(request, rows)
            if not args:
                raise _Answer(404, {"status": False, "message": NO_DATA})
            rows = [
                dict(c)
                for c in state.contacts.values()
                if c["userid"] == args[0] and (len(args) < 2 or c["id"] == args[1])
            ]
            if len(args) >= 2:
                if not rows:
                    raise _Answer(404, {"status": False, "message": NO_DATA})
                raise _Answer(200, rows[0])
            self._listing(request, rows)
        if method == "POST" and not args:
            data = self._post_data(request)
            self._idempotent(request, lambda: self._create_contact(data))
        if method == "PUT" and args:
            data = self._put_data(request)
            target = state.contacts.get(self._int_id(args[0]) or -1)
            rules = _Rules(data)
            rules.required("firstname", "First Name")
            rules.required("lastname", "Last Name")
            rules.required("email", "Email")
            if rules.ok and any(
                c["email"] == str(data["email"]).strip() and c is not target
                for c in state.contacts.values()
            ):
                rules.errors["email"] = "This Email is already exists"
            if not rules.ok:
                raise _Answer(409, _validation(rules.errors))
            if target is None:
                raise _Answer(404, {"status": False, "message": "Contact Update Fail."})
            for key in ("firstname", "lastname", "email", "phonenumber", "title"):
                if key in data:
                    target[key] = _opt(data[key])
            raise _Answer(200, {"status": True, "message": "Contact Updated Successfully."})
        if method == "DELETE" and args:
            contact_id = self._int_id(args[0])
            if contact_id is None or contact_id not in state.contacts:
                raise _Answer(404, {"status": False, "message": "Invalid Contact ID"})
            del state.contacts[contact_id]
            raise _Answer(200, {"status": True, "message": "Contact Deleted Successfuly."})
        raise self._unknown_method()

    def _create_contact(self, data: Mapping[str, Any]) -> tuple[int, Any]:
        state = self.state
        rules = _Rules(data)
        rules.required("firstname", "First Name")
        rules.required("lastname", "Last Name")
        if rules.required("email", "Email") and any(
            c["email"] == str(data["email"]).strip() for c in state.contacts.values()
        ):
            rules.errors["email"] = "This Email is already exists"
        if "send_set_password_email" not in data:
            rules.required("password", "Password")
        if rules.required("customer_id", "Customer Id"):
            userid = self._int_id(str(data["customer_id"]).strip())
            if userid is None or userid not in state.clients:
                rules.errors["customer_id"] = "The Customer Id is not found"
        if not rules.ok:
            return 409, _validation(rules.errors)
        contact_id = state.next_id("contact")
        userid_text = str(data["customer_id"]).strip()
        primary = "is_primary" in data or not any(
            c["userid"] == userid_text for c in state.contacts.values()
        )
        state.contacts[contact_id] = _contact_row(
            contact_id,
            userid_text,
            str(data["firstname"]).strip(),
            str(data["lastname"]).strip(),
            str(data["email"]).strip(),
            _opt(data.get("phonenumber")) or "",
            primary=primary,
        )
        state.contact_passwords[contact_id] = "set" if data.get("password") else "link"
        return 200, self._created("Contact added successfully.", contact_id)

    # ----------------------------------------------------------------- payments

    def _payments(self, request: Request, args: list[str]) -> None:
        state = self.state
        method = request.method
        if method == "GET":
            if args and args[0] == "search":
                term = self._search_term(request, args).casefold()
                matches = []
                for payment in state.payments.values():
                    mode = state.payment_modes.get(payment.paymentmode) or {}
                    texts = [mode.get("name"), payment.paymentmode, _money(payment.amount)]
                    if any(term in (t or "").casefold() for t in texts):
                        matches.append(payment)
                self._listing(request, matches, state.payment_row, flag="paymentmode")
            if args:
                found = state.payments.get(self._int_id(args[0]) or -1)
                if found is None:
                    raise _Answer(404, {"paymentmode": False, "message": NO_DATA})
                raise _Answer(200, state.payment_row(found))
            payments = list(state.payments.values())
            self._listing(request, payments, state.payment_row, flag="paymentmode")
        if method == "POST" and not args:
            data = self._post_data(request)
            self._idempotent(request, lambda: self._create_payment(data))
        raise self._unknown_method()

    def _create_payment(self, data: Mapping[str, Any]) -> tuple[int, Any]:
        state = self.state
        rules = _Rules(data)
        # The labels are the module's own (Payments::data_post).
        rules.required("invoiceid", "Payment Name")
        rules.required("amount", "Source")
        rules.required("paymentmode", "Status")
        if not rules.ok:
            return 404, _validation(rules.errors, flag="paymentmode")
        invoice = state.invoices.get(self._int_id(str(data["invoiceid"]).strip()) or -1)
        amount = _decimal(data["amount"])
        if invoice is None or amount is None:
            return 404, {"paymentmode": False, "message": "Payment add fail."}
        now = _now()
        payment_id = state.next_id("payment")
        state.add_payment(
            PaymentRecord(
                id=payment_id,
                invoiceid=invoice.id,
                amount=_cents(amount),
                paymentmode=str(data["paymentmode"]).strip(),
                paymentmethod=str(data.get("paymentmethod") or ""),
                date=now[:10],  # the controller forces date = now()
                daterecorded=now,
                note=str(data.get("note") or ""),
                transactionid=str(data.get("transactionid") or ""),
            )
        )
        if state.api_version == 3:
            return 200, {
                "status": True,
                "message": "Payment add successful.",
                "record_id": payment_id,
            }
        if state.empty_payment_answer:
            # 2.0.8: `return $this->db->insert_id();` before responding: an empty 200.
            return 200, None
        return 200, {"paymentmode": True, "message": "Payment add successful."}

    # ----------------------------------------------------------------- common

    def _common(self, request: Request, args: list[str]) -> None:
        if request.method != "GET":
            raise self._unknown_method()
        kind = args[0] if args else ""
        state = self.state
        if kind == "payment_mode":
            rows: list[Any] = [
                dict(m) for m in state.payment_modes.values() if m.get("invoices_only") != "1"
            ]
        elif kind == "tax_data":
            rows = [dict(t) for t in state.taxes]
        elif kind == "expense_category":
            rows = [dict(c) for c in state.expense_categories]
        else:
            raise _Answer(404, {"status": False, "message": "Not valid data"})
        self._listing(request, rows)


def _path(environ: Mapping[str, Any]) -> str:
    """PATH_INFO as text. The emulator server hands it over already decoded (Arabic
    search terms included); a WSGI server gives latin-1 bytes-as-text."""
    raw = str(environ.get("PATH_INFO") or "/")
    try:
        return raw.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return raw


def _int_field(data: Mapping[str, Any], key: str, default: int) -> int:
    text = str(data.get(key) or "").strip()
    return int(text) if text.isdigit() else default


def _opt(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if text != "" else None


def _nl2br(text: str) -> str:
    return text.replace("\r\n", "<br />\r\n").replace("\n", "<br />\n") if text else text


def _parse_date(value: Any) -> dt.date | None:
    """``to_sql_date``: ``YYYY-MM-DD`` as is (the emulated install's date format too)."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        return None


def _address_fields(
    data: Mapping[str, Any],
    kind: str,
    *,
    empty: str | None = "",
    current: tuple[str | None, ...] | None = None,
) -> tuple[str | None, ...]:
    values = []
    for index, suffix in enumerate(("street", "city", "state", "zip", "country")):
        key = f"{kind}_{suffix}"
        if key in data:
            value = _opt(data[key])
            if suffix == "street" and value is not None:
                value = _nl2br(value.strip())
            if suffix == "country" and value is not None and not value.isdigit():
                value = None
            values.append(value if value is not None else empty)
        elif current is not None:
            values.append(current[index])
        else:
            values.append(empty if suffix != "country" else None)
    return tuple(values)


def _contact_row(
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
    }


# --------------------------------------------------------------------------- seed data

# (company, ISO country, Perfex country id, city, state, zip, street, currency id)
_COMPANIES = (
    ("شركة النيل للتجارة والتوزيع", "66", "القاهرة", "القاهرة", "11511", "15 شارع طلعت حرب", 3),
    ("Delta Textiles S.A.E.", "66", "Mansoura", "Dakahlia", "35511", "12 El Gomhoreya St.", 3),
    ("مؤسسة الأهرام للمقاولات", "66", "الجيزة", "الجيزة", "12511", "4 شارع الهرم", 3),
    ("Alexandria Marine Supplies", "66", "Alexandria", "Alexandria", "21519", "7 Corniche Rd.", 3),
    (
        "شركة القاهرة للبرمجيات",
        "66",
        "القاهرة الجديدة",
        "القاهرة",
        "11835",
        "مبنى 3، التجمع الخامس",
        3,
    ),
    (
        "Sinai Solar Energy",
        "66",
        "Sharm El Sheikh",
        "South Sinai",
        "46619",
        "Naama Bay, Block 9",
        3,
    ),
    ("مؤسسة الرياض للتجارة", "194", "الرياض", "منطقة الرياض", "12211", "طريق الملك فهد", 4),
    ("Jeddah Logistics Co.", "194", "Jeddah", "Makkah Region", "23521", "Al Tahlia St. 44", 4),
    (
        "شركة الخليج للتقنية",
        "194",
        "الدمام",
        "المنطقة الشرقية",
        "32241",
        "شارع الأمير محمد بن فهد",
        4,
    ),
    ("Al Noor Medical Supplies", "194", "Riyadh", "Riyadh Region", "11564", "Olaya St. 210", 4),
    ("مصنع مكة للأغذية", "194", "مكة المكرمة", "منطقة مكة", "24231", "حي العزيزية", 4),
    ("Hudson Analytics LLC", "236", "New York", "NY", "10001", "350 5th Ave, Suite 4100", 1),
    ("Bluebonnet Design Studio", "236", "Austin", "TX", "78701", "600 Congress Ave", 1),
    ("Pacific Crest Imports", "236", "Seattle", "WA", "98101", "1201 3rd Ave", 1),
    ("Müller & Söhne GmbH", "83", "Berlin", "Berlin", "10115", "Invalidenstraße 116", 2),
    (
        "Atelier Lumière SARL",
        "76",
        "Lyon",
        "Auvergne-Rhône-Alpes",
        "69002",
        "12 Rue de la République",
        2,
    ),
)
_PEOPLE = (
    ("Ahmed", "Hassan"),
    ("Mona", "Adel"),
    ("Omar", "Farouk"),
    ("Fatima", "Al-Qahtani"),
    ("Khalid", "Al-Harbi"),
    ("Sara", "Mahmoud"),
    ("Youssef", "Nabil"),
    ("Noura", "Al-Otaibi"),
    ("John", "Miller"),
    ("Emily", "Carter"),
    ("Hans", "Becker"),
    ("Claire", "Dubois"),
)
# (description, long description, unit, price in USD)
_PRODUCTS = (
    ("Website maintenance", "Monthly maintenance and security updates", "month", "180.00"),
    ("استشارات تقنية", "ساعات استشارية لفريق التطوير", "hour", "45.00"),
    ("Cloud hosting", "Managed VPS, 4 vCPU / 8 GB RAM", "month", "60.00"),
    ("تصميم هوية بصرية", "شعار ودليل استخدام العلامة التجارية", "project", "900.00"),
    ("Office chair", "Ergonomic chair, black mesh", "pcs", "140.00"),
    ("Laptop Dell Latitude 5440", "", "pcs", "950.00"),
    ("تدريب الموظفين", "ورشة عمل لمدة يوم كامل", "day", "320.00"),
    ("Network installation", "Cabling and switch configuration", "job", "1250.00"),
    ("Printer toner", "HP 26A compatible", "pcs", "38.50"),
    ("ترجمة مستندات", "ترجمة معتمدة عربي - إنجليزي", "page", "12.00"),
)
_RATES = {1: Decimal("1"), 2: Decimal("0.92"), 3: Decimal("48.5"), 4: Decimal("3.75")}
_TAX_BY_CURRENCY: dict[int, tuple[str, Decimal] | None] = {
    1: None,
    2: None,
    3: ("VAT EG", Decimal("14.00")),
    4: ("VAT", Decimal("15.00")),
}
_SEEDED_MODES = php_serialize(["1", "2"])
_EMAIL_DOMAINS = ("example.com", "example.net", "example.org")


def seed_install(state: PerfexState, invoices: int, seed: int) -> None:
    """Fill an install with deterministic, realistic data: customers (Arabic and Latin
    names) with a primary contact, invoices in USD/EUR/EGP/SAR with 14% and 15% VAT,
    paid, partly paid, overdue, cancelled and draft, and their payments.

    ``invoices=0`` leaves the install empty (currencies, taxes and payment modes set up).
    """
    if invoices <= 0:
        return
    rng = random.Random(seed)
    client_count = max(4, min(len(_COMPANIES) * 25, invoices // 6 + 4))
    client_ids: list[int] = []
    for index in range(client_count):
        company, country, city, state_name, zip_code, street, currency = _COMPANIES[
            index % len(_COMPANIES)
        ]
        branch = index // len(_COMPANIES)
        if branch:
            company = f"{company} ({branch + 1})"
        userid = state.next_id("client")
        vat = _vat_number(rng, country)
        created = dt.datetime(2023, 6, 1) + dt.timedelta(
            days=rng.randrange(0, 200), seconds=rng.randrange(86400)
        )
        row: dict[str, str | None] = dict.fromkeys(CLIENT_COLUMNS)
        row.update(
            {
                "userid": str(userid),
                "company": company,
                "vat": vat,
                "phonenumber": _phone(rng, country),
                "country": country,
                "city": city,
                "zip": zip_code,
                "state": state_name,
                "address": street,
                "website": "",
                "datecreated": created.strftime("%Y-%m-%d %H:%M:%S"),
                "active": "1",
                "billing_street": street,
                "billing_city": city,
                "billing_state": state_name,
                "billing_zip": zip_code,
                "billing_country": country,
                "shipping_street": "",
                "shipping_city": "",
                "shipping_state": "",
                "shipping_zip": "",
                "shipping_country": "0",
                "default_language": "arabic" if country in ("66", "194") else "english",
                "default_currency": str(currency),
                "show_primary_contact": "0",
                "registration_confirmed": "1",
                "addedfrom": "1",
            }
        )
        state.clients[userid] = row
        first, last = _PEOPLE[rng.randrange(len(_PEOPLE))]
        contact_id = state.next_id("contact")
        email = (
            f"{first.lower()}.{last.lower().replace('-', '')}{userid}"
            f"@{_EMAIL_DOMAINS[userid % len(_EMAIL_DOMAINS)]}"
        )
        state.contacts[contact_id] = _contact_row(
            contact_id, str(userid), first, last, email, row["phonenumber"] or "", primary=True
        )
        client_ids.append(userid)

    start = dt.date(2024, 1, 2)
    span = (SEED_TODAY - dt.timedelta(days=5) - start).days
    number = 0
    for index in range(invoices):
        userid = client_ids[rng.randrange(len(client_ids))]
        client = state.clients[userid]
        currency = int(client["default_currency"] or 1)
        date = start + dt.timedelta(days=span * index // max(invoices, 1))
        age = (SEED_TODAY - date).days
        roll = rng.random()
        if age > 120:
            kind = (
                "paid"
                if roll < 0.72
                else "partial"
                if roll < 0.82
                else "unpaid"
                if roll < 0.95
                else "cancelled"
            )
        else:
            kind = (
                "paid"
                if roll < 0.3
                else "partial"
                if roll < 0.45
                else "unpaid"
                if roll < 0.94
                else "draft"
            )
        items = []
        for order in range(1, rng.randint(1, 4) + 1):
            description, long_description, unit, usd = _PRODUCTS[rng.randrange(len(_PRODUCTS))]
            rate = _cents(Decimal(usd) * _RATES[currency])
            qty = Decimal(rng.choice(("1", "1", "2", "3", "5", "10", "0.5", "1.5")))
            tax = _TAX_BY_CURRENCY[currency]
            items.append(
                Item(
                    id=state.next_id("item"),
                    description=description,
                    long_description=long_description,
                    qty=_cents(qty),
                    rate=rate,
                    unit=unit,
                    item_order=order,
                    taxes=[tax] if tax else [],
                )
            )
        subtotal = _cents(sum((i.qty * i.rate for i in items), ZERO))
        discount = ZERO
        if rng.random() < 0.15:
            discount = _cents(subtotal * Decimal(rng.choice(("0.05", "0.10"))))
        adjustment = Decimal(rng.choice(("-0.50", "0.25"))) if rng.random() < 0.05 else ZERO
        if kind != "draft":
            number += 1
        invoice = InvoiceRecord(
            id=state.next_id("invoice"),
            clientid=userid,
            number=number if kind != "draft" else DRAFT_NUMBER,
            prefix=state.prefix,
            number_format=state.number_format,
            datecreated=f"{date:%Y-%m-%d} {_clock(rng)}",
            date=date,
            duedate=date + dt.timedelta(days=rng.choice((15, 30, 30, 45))),
            currency=currency,
            subtotal=subtotal,
            total_tax=ZERO,
            total=ZERO,
            adjustment=adjustment,
            discount_percent=ZERO,
            discount_total=discount,
            discount_type="before_tax" if discount else "",
            status=STATUS_UNPAID,
            hash=f"{rng.getrandbits(128):032x}",
            allowed_payment_modes=_SEEDED_MODES,
            items=items,
            clientnote=rng.choice((None, "شكراً لتعاملكم معنا", "Thank you for your business.")),
            terms=rng.choice((None, "Payment within 30 days.", "الدفع خلال 30 يوماً")),
            billing=(
                client["billing_street"],
                client["billing_city"],
                client["billing_state"],
                client["billing_zip"],
                client["billing_country"],
            ),
            sent=1 if kind != "draft" else 0,
        )
        state.recompute_tax(invoice)
        invoice.total = _cents(subtotal - discount + invoice.total_tax + adjustment)
        state.invoices[invoice.id] = invoice
        if kind == "cancelled":
            invoice.status = STATUS_CANCELLED
            continue
        if kind == "draft":
            invoice.status = STATUS_DRAFT
            continue
        amounts: list[Decimal] = []
        if kind == "paid":
            if rng.random() < 0.25 and invoice.total > 10:
                first_part = _cents(invoice.total * Decimal(rng.choice(("0.3", "0.5"))))
                amounts = [first_part, invoice.total - first_part]
            else:
                amounts = [invoice.total]
        elif kind == "partial":
            amounts = [_cents(invoice.total * Decimal(rng.choice(("0.2", "0.4", "0.6"))))]
        for amount in amounts:
            if amount <= 0:
                continue
            paid_on = min(date + dt.timedelta(days=rng.randrange(0, 40)), SEED_TODAY)
            payment_id = state.next_id("payment")
            mode = rng.choice(("1", "1", "2", "3", "4"))
            record = PaymentRecord(
                id=payment_id,
                invoiceid=invoice.id,
                amount=amount,
                paymentmode=mode,
                paymentmethod="",
                date=paid_on.isoformat(),
                daterecorded=f"{paid_on:%Y-%m-%d} {_clock(rng)}",
                note="",
                transactionid=f"TRX{rng.randrange(10**9):09d}" if mode in ("1", "4") else "",
            )
            state.payments[payment_id] = record
            state.payments_by_invoice.setdefault(invoice.id, []).append(payment_id)
        state.refresh_status(invoice, today=SEED_TODAY)
        overdue = invoice.duedate is not None and invoice.duedate < SEED_TODAY
        if kind == "partial" and overdue and rng.random() < 0.5:
            invoice.status = STATUS_OVERDUE  # the overdue cron also marks part-paid ones


def _clock(rng: random.Random) -> str:
    return f"{rng.randrange(8, 18):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}"


def _vat_number(rng: random.Random, country: str) -> str:
    if country == "66":
        return f"{rng.randrange(100, 999)}-{rng.randrange(100, 999)}-{rng.randrange(100, 999)}"
    if country == "194":
        return f"3{rng.randrange(10**12, 10**13)}3"
    if country == "236":
        return f"{rng.randrange(10, 99)}-{rng.randrange(10**6, 10**7)}"
    return (
        f"DE{rng.randrange(10**8, 10**9)}"
        if country == "83"
        else f"FR{rng.randrange(10**10, 10**11)}"
    )


def _phone(rng: random.Random, country: str) -> str:
    if country == "66":
        return f"+20 10{rng.randrange(10**7, 10**8)}"
    if country == "194":
        return f"+966 5{rng.randrange(10**7, 10**8)}"
    if country == "236":
        return f"+1 {rng.randrange(200, 999)} {rng.randrange(200, 999)} {rng.randrange(1000, 9999)}"
    return (
        f"+49 30 {rng.randrange(10**6, 10**7)}"
        if country == "83"
        else f"+33 4 {rng.randrange(10**7, 10**8)}"
    )


# --------------------------------------------------------------------------- the emulator


class PerfexEmulator(Emulator):
    """A running emulated Perfex install: seeded tables behind a local HTTP server.

    ``PerfexEmulator(invoices=25, seed=1, token=None, api_version=2, latency_ms=0,
    fault_rate=0.0, fault_kinds=FAULT_KINDS, host="127.0.0.1", port=0, **install)``;
    ``install`` options: ``prefix`` (``"INV-"``), ``number_format`` (1-4), ``padding`` (6),
    ``formatted_number`` (Perfex ≥ 3.2.0 column), ``empty_payment_answer`` (2.0.8's empty
    payment answer), ``always_envelope`` (3.x pages even without page parameters),
    ``company_requires_vat``.

    Use as a context manager (or :meth:`start`/:meth:`stop`). Attributes: ``base_url``,
    ``token``, ``stats`` (request and connection counters), ``faults`` (the
    :class:`~invoicing_bridge.emulation.FaultInjector`: ``faults.scheduled.append
    ("503")``), ``state`` (the tables), ``server``; :meth:`profile` gives backend options.
    """

    name = "perfex"
    api_path = "/api"
    command_help = (
        "Run a local Perfex CRM REST API module (seeded data) and print a config profile."
    )
    knobs = (
        Knob("token", None, "The API token to accept (default: a random JWT)."),
        Knob(
            "api_version",
            2,
            "Module version to behave like: 2 (bare arrays, no ids on create) or 3.",
            choices=["2", "3"],
        ),
        # The install's settings (see PerfexState), for Python callers.
        Knob("prefix", "INV-", cli=False),
        Knob("number_format", 1, cli=False),
        Knob("padding", 6, cli=False),
        Knob("formatted_number", False, cli=False),
        Knob("empty_payment_answer", False, cli=False),
        Knob("always_envelope", False, cli=False),
        Knob("company_requires_vat", True, cli=False),
    )

    def create_app(self, knobs: Mapping[str, Any]) -> PerfexApp:
        install = dict(knobs)
        self.api_version = int(install.pop("api_version"))
        self.state = PerfexState(api_version=self.api_version, seed=self.seed, **install)
        seed_install(self.state, self.invoices, self.seed)
        return PerfexApp(self.state)

    @property
    def token(self) -> str:
        return self.state.token

    def __repr__(self) -> str:
        return f"PerfexEmulator(base_url={self.base_url!r}, api_version={self.api_version})"

    def profile(self) -> dict[str, Any]:
        """Backend options for this install (``backend`` included): base URL, token, API
        version, the currency ids and payment modes it has, its number padding."""
        return {
            "backend": "perfex",
            "base_url": self.base_url,
            "token": self.token,
            "api_version": str(self.api_version),
            "currencies": self.state.currency_ids(),
            "payment_modes": list(self.state.payment_modes),
            "number_padding": self.state.padding,
        }


#: ``invoicing-bridge emulate perfex``.
cli = PerfexEmulator.click_command()
