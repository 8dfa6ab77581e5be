"""A local emulator of Daftra's ``/api2``, quirks included, for tests, demos and benchmarks.

It answers like the real API as recorded in ``api-notes/daftra.md``:

- ``{"code": 200, "result": "successful", "data": ...}`` envelopes; list rows wrapped in
  their model key with ``pagination`` ``{prev, next, page, page_count, total_results}``;
  a single invoice with ``Client``, ``InvoiceItem``, ``InvoicePayment`` and ``InvoiceTax``
  nested inside ``Invoice``, a list row (``recursive=1``) with them beside it;
- ids, quantities, prices and flags as strings, computed totals as JSON numbers, the
  invoice ``date`` in the account's display format (``25/09/2026``), timestamps as
  ``YYYY-MM-DD HH:MM:SS``;
- creates answer 202 ``{"code": 202, "result": "successful", "id": "2415"}``; a PUT
  replaces the whole record (omitted header fields fall back to their defaults);
  ``summary_*`` and ``payment_status`` are recomputed from items, taxes and payments;
- ``/invoice_payments`` hides client-credit payments unless ``include_client_credit=1``;
  lists ignore filters they do not know; invoices default to newest first, clients to a
  stable but arbitrary order;
- errors: 401 without a valid ``apikey`` (or with a stale ``Authorization`` header next to
  a good key), 404 ``Invoice not found``, 400 ``validation_errors`` (a missing
  ``client_id``, an unknown tax, a duplicate number...);
- OAuth: the password grant at ``/v2/oauth/token`` on the site root, tokens that expire.

Seeded data is deterministic for a seed: Arabic and Latin names, EGP/SAR/USD, 14% and
15% VAT, drafts, unpaid, partly paid and paid invoices, four-decimal payments, ZATCA QR
codes on Saudi invoices. Seeded invoices are generated on demand, so 50,000 of them cost
little memory and list pages stay fast.

Python::

    with DaftraEmulator(invoices=25, seed=1) as emulator:
        backend = get_backend("daftra", **options_of(emulator.profile()))

Command line: ``invoicing-bridge emulate daftra [--port N] [--invoices N] ...``.
"""

from __future__ import annotations

import bisect
import copy
import datetime as dt
import functools
import hashlib
import hmac
import math
import re
import secrets
import threading
import time
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from werkzeug.wrappers import Request, Response

from invoicing_bridge.emulation import Emulator, Knob

from . import _json
from .qr import encode_qr_url

__all__ = ["DATE_FORMATS", "EMULATOR", "DaftraApp", "DaftraEmulator", "DaftraState", "cli"]

#: The emulator's ``/listing/dateFormats`` table: id → (title, strptime pattern). The real
#: ids are not documented (api-notes §6.2, GUESS); a client must read the listing.
DATE_FORMATS: dict[str, tuple[str, str]] = {
    "1": ("dd/mm/yyyy", "%d/%m/%Y"),
    "2": ("mm/dd/yyyy", "%m/%d/%Y"),
    "3": ("yyyy-mm-dd", "%Y-%m-%d"),
    "4": ("dd-mm-yyyy", "%d-%m-%Y"),
    "5": ("dd.mm.yyyy", "%d.%m.%Y"),
    "6": ("yyyy/mm/dd", "%Y/%m/%d"),
    "7": ("mm-dd-yyyy", "%m-%d-%Y"),
}
PAYMENT_METHODS = frozenset(
    {"cash", "bank_transfer", "cheque", "credit_card", "paypal", "stripe", "client_credit"}
)
CLIENT_CREDIT = "client_credit"
ANCHOR = dt.date(2026, 9, 30)  # the seeded invoices are dated over the two years before
SPAN_DAYS = 730
TWO_PLACES = Decimal("0.01")
FOUR_PLACES = Decimal("0.0001")
ZERO = Decimal(0)

_TAXES = (
    (1, "VAT", Decimal(15)),
    (2, "ضريبة القيمة المضافة", Decimal(14)),
    (3, "Stamp duty", Decimal("0.4")),
)
_TAX_OF_CURRENCY = {"SAR": 1, "EGP": 2, "USD": None}
_METHODS = ("cash", "bank_transfer", "cheque", "credit_card")
_PORTABLE_METHODS = ("cash", "bank_transfer", "cheque", "bank_transfer")
_BUSINESSES = (
    ("شركة النور للتجارة", "SAR", "SA", "الرياض", "310122393500003"),
    ("Nile Valley Trading Co.", "EGP", "EG", "Cairo", "204-567-891"),
    ("مؤسسة الفجر للمقاولات", "SAR", "SA", "جدة", "300456789100003"),
    ("Gulf Horizon Logistics", "USD", "AE", "Dubai", None),
    ("مكتبة المعرفة", "EGP", "EG", "الإسكندرية", "318-222-410"),
    ("Red Sea Foods", "SAR", "SA", "Jeddah", "302233445500003"),
)
_PEOPLE = (
    ("Ahmed", "Hassan", "EGP", "EG", "Giza"),
    ("محمد", "العتيبي", "SAR", "SA", "الدمام"),
    ("Sara", "Mahmoud", "EGP", "EG", "Cairo"),
    ("فاطمة", "الزهراني", "SAR", "SA", "مكة"),
    ("John", "Carter", "USD", "US", "Austin"),
    ("Layla", "Nasser", "USD", "JO", "Amman"),
)
_PRODUCTS = (
    ("Consulting hours", "Senior consultant, on site", Decimal("350")),
    ("استشارات فنية", "ساعات عمل", Decimal("425.50")),
    ("Laptop Dell Latitude 5440", None, Decimal("35000")),
    ("صيانة سنوية", "عقد صيانة لمدة سنة", Decimal("12000")),
    ("Web hosting (annual)", "Business plan", Decimal("1899.99")),
    ("Printer paper A4", "Box of 5 reams", Decimal("89.75")),
    ("تركيب شبكة", None, Decimal("2750")),
    ("Training workshop", "One day, up to 10 people", Decimal("5400")),
)
_INVOICE_DEFAULTS: dict[str, Any] = {
    "type": 0,
    "staff_id": 0,
    "subscription_id": None,
    "store_id": 1,
    "po_number": None,
    "name": None,
    "branch_id": 1,
    "is_offline": False,
    "draft": False,
    "discount": ZERO,
    "discount_amount": ZERO,
    "deposit": ZERO,
    "deposit_type": 0,
    "notes": None,
    "terms": None,
    "html_notes": None,
    "invoice_layout_id": 1,
    "estimate_id": None,
    "shipping_options": "",
    "shipping_amount": None,
    "due_after": 0,
    "follow_up_status": None,
    "work_order_id": None,
    "requisition_delivery_status": None,
    "pos_shift_id": None,
    "source_type": None,
    "source_id": None,
    "sales_person_id": None,
}
_INVOICE_INTEGERS = frozenset(
    {
        "type",
        "staff_id",
        "subscription_id",
        "store_id",
        "branch_id",
        "deposit_type",
        "invoice_layout_id",
        "estimate_id",
        "due_after",
        "follow_up_status",
        "work_order_id",
        "requisition_delivery_status",
        "pos_shift_id",
        "source_type",
        "source_id",
        "sales_person_id",
    }
)
_INVOICE_NUMBERS = frozenset({"discount", "discount_amount", "deposit", "shipping_amount"})
_INVOICE_FLAGS = frozenset({"is_offline", "draft"})
_INVOICE_TEXTS = frozenset(
    {"po_number", "name", "notes", "terms", "html_notes", "shipping_options"}
)
_SNAPSHOT = (
    ("client_business_name", "business_name"),
    ("client_first_name", "first_name"),
    ("client_last_name", "last_name"),
    ("client_email", "email"),
    ("client_address1", "address1"),
    ("client_address2", "address2"),
    ("client_city", "city"),
    ("client_state", "state"),
    ("client_postal_code", "postal_code"),
    ("client_country_code", "country_code"),
)
_CLIENT_TEXTS = (
    "business_name",
    "first_name",
    "last_name",
    "email",
    "phone1",
    "phone2",
    "address1",
    "address2",
    "city",
    "state",
    "postal_code",
    "country_code",
    "default_currency_code",
    "notes",
    "bn1",
    "bn1_label",
    "bn2",
    "bn2_label",
    "category",
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ROUTE = re.compile(r"^/api2/(?P<resource>[a-z_]+)(?:/(?P<id>[^/]+?))?(?:\.json)?/?$")
_INVOICE_SORTS = frozenset({"id", "date", "no", "created"})


# --------------------------------------------------------------------------- small helpers
# The emulator reads requests with its own helpers, not the backend's schemas: a server
# and a client sharing one parser would agree with each other even when both were wrong.


def _mix(*values: int) -> int:
    """splitmix64 over the values: cheap, repeatable pseudo-randomness per record."""
    h = 0x9E3779B97F4A7C15
    for value in values:
        h = (h ^ (value & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        h = (h ^ (h >> 27)) * 0x94D049BB133111EB & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 31
    return h


def _text(value: Decimal) -> str:
    """A stored number as Daftra prints it: ``35000``, ``32999.9961`` (no exponent)."""
    if value == value.to_integral_value():
        return str(value.quantize(Decimal(1)))
    return format(value.normalize(), "f")


def _number(value: Decimal) -> Decimal:
    """A computed number for a JSON number (digits tidied, exact)."""
    return Decimal(_text(value))


def _stamp(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal | int):
        return Decimal(value)
    if isinstance(value, str) and value.strip():
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None


def _integer(value: Any) -> int | None:
    number = _decimal(value)
    if number is None or number != number.to_integral_value():
        return None
    return int(number)


def _flag(value: Any) -> bool | None:
    if value in (None, False, 0, "0", "", "false"):
        return False
    if value in (True, 1, "1", "true"):
        return True
    return None


def _str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return _text(value)
    return str(value)


def _wire(value: Any) -> str | None:
    """A stored value as CakePHP returns a column: a string, or null."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, Decimal):
        return _text(value)
    if isinstance(value, dt.datetime):
        return _stamp(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


class _Answer(Exception):
    """An early answer (an error) from deep inside a handler."""

    def __init__(self, response: Response):
        self.response = response


def _respond(payload: Any, status: int = 200) -> Response:
    return Response(
        _json.dumps(payload), status=status, content_type="application/json; charset=UTF-8"
    )


def _failed(code: int, message: str, validation_errors: Mapping[str, str] | None = None) -> _Answer:
    body: dict[str, Any] = {"result": "failed", "code": code, "message": message}
    if validation_errors:
        body["validation_errors"] = dict(validation_errors)
    return _Answer(_respond(body, code))


def _oauth_error(error: str, message: str, status: int) -> Response:
    """A refusal of the token endpoint, shaped like Laravel Passport's (GUESS, api-notes §1)."""
    return _respond({"error": error, "error_description": message, "message": message}, status)


def _pagination(resource: str, page: int, limit: int, total: int) -> dict[str, Any]:
    page_count = max(1, math.ceil(total / limit))
    return {
        "prev": f"/api2/{resource}/?page={page - 1}" if page > 1 else None,
        "next": f"/api2/{resource}/?page={page + 1}" if page < page_count else None,
        "page": page,
        "page_count": page_count,
        "total_results": total,
    }


# --------------------------------------------------------------------------- state


class DaftraState:
    """The account an emulator serves: site, taxes, clients, invoices, payments, tokens.

    Thread-safe. Seeded invoices (ids ``1..invoices``) are generated on demand from the
    seed and materialised only when written to; invoice ``i``'s payments have the ids
    ``2i-1`` and ``2i``, recorded payments come after ``2 * invoices``. ``portable``: see
    :class:`DaftraEmulator`.
    """

    def __init__(
        self,
        *,
        invoices: int = 25,
        seed: int = 1,
        clients: int | None = None,
        api_key: str,
        date_format: str = "%d/%m/%Y",
        oauth_client_id: str = "1",
        oauth_client_secret: str,
        username: str = "owner@example.com",
        password: str,
        token_ttl: float = 3600.0,
        portable: bool = False,
    ):
        pattern_ids = {pattern: id for id, (_title, pattern) in DATE_FORMATS.items()}
        if date_format not in pattern_ids:
            known = ", ".join(sorted(pattern_ids))
            raise ValueError(f"date_format {date_format!r} is not one of {known}")
        self.lock = threading.RLock()
        self.seed = seed
        self.seeded = invoices
        self.portable = portable
        self.api_key = api_key
        self.date_format = date_format
        self.oauth_client_id = oauth_client_id
        self.oauth_client_secret = oauth_client_secret
        self.username = username
        self.password = password
        self.token_ttl = token_ttl
        self.tokens: dict[str, float] = {}
        self.site: dict[str, Any] = {
            "id": 4410 + seed % 1000,
            "business_name": "مؤسسة الريادة للتقنية",
            "first_name": "Khaled",
            "last_name": "Al-Harbi",
            "subdomain": "emulated",
            "country_code": "SA",
            "timezone": "13",
            "date_format": pattern_ids[date_format],
            "currency_code": "SAR",
            "language_code": 41,
            "email": username,
            "staff_id": -1,
            "currencyFormat": "%s ر.س",
            "numberFormat": [2, ".", ","],
            "vat_number": "310987654300003",
        }
        self.taxes: dict[int, dict[str, Any]] = {}
        for tax_id, name, rate in _TAXES:
            self.taxes[tax_id] = {
                "id": tax_id,
                "name": name,
                "value": rate,
                "description": None,
                "included": 0,
                "created": dt.datetime(2024, 1, 2, 9, 0, 0),
                "modified": dt.datetime(2024, 1, 2, 9, 0, 0),
            }
        count = clients if clients is not None else max(6, min(300, invoices // 8 + 6))
        self.clients: dict[int, dict[str, Any]] = {}
        for client_id in range(1, count + 1):
            self.clients[client_id] = self._seed_client(client_id)
        self._seed_clients = copy.deepcopy(self.clients)
        self._next_client = count + 1
        self._invoices: dict[int, dict[str, Any]] = {}  # materialised and new invoices
        self._deleted: set[int] = set()
        self._numbers: dict[str, int] = {}  # number → id of materialised/new invoices
        self.invoice_ids: list[int] = list(range(1, invoices + 1))
        self._next_invoice = invoices + 1
        self._next_number = invoices + 1
        self._next_item = 10 * (invoices + 1)
        self._next_payment = 2 * invoices + 1
        self._version = 0
        self._cache: dict[Any, list[int]] = {}
        # Cheap per-invoice facts, so filters and sorts never generate whole invoices.
        self._client_of = array("I", [0])
        self._day_of = array("I", [0])
        self._plan_of = array("B", [0])
        self.payment_ids: list[int] = []
        self.hidden_payments: set[int] = set()
        self._payment_invoice: dict[int, int] = {}
        for i in range(1, invoices + 1):
            h = _mix(seed, i)
            self._client_of.append(1 + h % count)
            self._day_of.append((i - 1) * SPAN_DAYS // max(invoices, 1))
            plan = (h >> 16) % 20
            self._plan_of.append(plan)
            for k in range(self._payment_count(plan, h)):
                pid = 2 * i - 1 + k
                self.payment_ids.append(pid)
                if (h >> (40 + 3 * k)) % 5 < 2 and not portable:
                    self.hidden_payments.add(pid)
        self._generated = functools.lru_cache(maxsize=2048)(self._generate)

    # ------------------------------------------------------------------ seeding

    def _seed_client(self, client_id: int) -> dict[str, Any]:
        h = _mix(self.seed, 7919, client_id)
        created = dt.datetime(2024, 1, 1, 8, 0) + dt.timedelta(hours=client_id * 7 + h % 5)
        record: dict[str, Any] = dict.fromkeys(_CLIENT_TEXTS)
        record.update(
            id=client_id,
            client_number=f"{client_id:07d}",
            staff_id=0,
            type=3,
            is_offline=False,
            group_price_id=0,
            credit_limit=ZERO,
            credit_period=0,
            created=created,
            modified=created,
            extra={},
        )
        if client_id % 3 == 0:
            first, last, currency, country, city = _PEOPLE[(h >> 8) % len(_PEOPLE)]
            record.update(
                first_name=first,
                last_name=last,
                type=2,
                email=f"{_ascii(first)}.{_ascii(last)}{client_id}@example.com",
            )
        else:
            name, currency, country, city, vat = _BUSINESSES[(h >> 8) % len(_BUSINESSES)]
            if (h >> 20) % 2:
                name = f"{name} #{client_id}"
            record.update(
                business_name=name,
                email=f"accounts{client_id}@example.com",
                bn1=vat,
                bn1_label="الرقم الضريبي" if country == "SA" else ("Tax ID" if vat else None),
            )
        record.update(
            default_currency_code=currency,
            country_code=country,
            city=city,
            address1=f"{10 + h % 90} King Fahd Rd" if country == "SA" else f"{h % 200} Main St",
            phone1=f"+{966 if country == 'SA' else 20} 5{h % 100000000:08d}",
        )
        return record

    @staticmethod
    def _payment_count(plan: int, h: int) -> int:
        if plan < 8:  # drafts and unpaid invoices
            return 0
        if plan < 13:  # partly paid
            return 1
        return 1 + (h >> 32) % 2  # paid, in one or two payments

    def _generate(self, i: int) -> dict[str, Any]:
        """Seeded invoice ``i`` (do not mutate: materialise first)."""
        h = _mix(self.seed, i)
        rng = _Rng(h)
        plan = self._plan_of[i]
        client = self._seed_clients[self._client_of[i]]
        currency = client["default_currency_code"]
        issued = ANCHOR - dt.timedelta(days=SPAN_DAYS) + dt.timedelta(days=self._day_of[i])
        created = dt.datetime.combine(issued, dt.time(9, 0)) + dt.timedelta(minutes=rng.below(480))
        record = dict(_INVOICE_DEFAULTS)
        record.update(
            id=i,
            no=f"{i:06d}",
            client_id=client["id"],
            currency_code=currency,
            date=issued,
            due_after=(0, 15, 30, 30, 60)[rng.below(5)],
            draft=plan < 2,
            notes="شكراً لتعاملكم معنا" if currency == "SAR" else "Thank you for your business.",
            terms="Payment due within the agreed period.",
            created=created,
            modified=created,
            extra={},
            custom={},
        )
        # Portable seeds make the same draws as the others (so each seed keeps its data)
        # and drop what another system could not store.
        portable = self.portable
        if rng.below(10) == 0:
            percent = Decimal(5 * (1 + rng.below(3)))
            if not portable:
                record["discount"] = percent
        record.update(self.snapshot(client))
        tax_id = _TAX_OF_CURRENCY[currency]
        items = []
        for k in range(1 + (h >> 24) % 3):
            name, description, price = _PRODUCTS[rng.below(len(_PRODUCTS))]
            if portable:  # whole prices: every line tax is exact, however it is rounded
                price = price.to_integral_value(ROUND_HALF_UP)
            quantity = Decimal(1 + rng.below(5))
            if rng.below(6) == 0 and not portable:
                quantity += Decimal("0.5")
            item = _new_item(10 * i + k, name, description, price, quantity)
            item["tax1"] = tax_id if tax_id is not None and rng.below(8) else None
            if currency == "EGP" and rng.below(10) == 0 and not portable:
                item["tax2"] = 3
            if rng.below(12) == 0 and not portable:
                item.update(discount=Decimal(10), discount_type=1)
            items.append(item)
        record["items"] = items
        record["payments"] = []
        total = self.totals(record)["total"]
        count = self._payment_count(plan, h)
        amounts: list[Decimal] = []
        places = TWO_PLACES if portable else FOUR_PLACES
        if count == 1 and plan < 13:
            share = Decimal(20 + rng.below(60)) / 100
            amounts = [(total * share).quantize(places)]
        elif count == 1:
            amounts = [total]
        elif count == 2:
            # Tax-split rounding leaves four-place payments (api-notes §6.1).
            split = Decimal(0) if portable else Decimal("0.0039")
            first = (total * Decimal("0.4") - split).quantize(places)
            amounts = [first, total - first]
        methods = _PORTABLE_METHODS if portable else _METHODS
        for k, amount in enumerate(amounts):
            pid = 2 * i - 1 + k
            method = CLIENT_CREDIT if pid in self.hidden_payments else methods[rng.below(4)]
            paid_at = created + dt.timedelta(days=3 + 9 * k, hours=rng.below(8))
            record["payments"].append(
                _new_payment(pid, method, amount, currency, paid_at, f"TRX-{i}-{k + 1}")
            )
        return record

    @staticmethod
    def snapshot(client: Mapping[str, Any]) -> dict[str, Any]:
        return {field: client.get(source) for field, source in _SNAPSHOT}

    # ------------------------------------------------------------------ reading

    def invoice(self, i: int) -> dict[str, Any] | None:
        """The stored invoice ``i`` (read only), or None."""
        with self.lock:
            if i in self._deleted:
                return None
            stored = self._invoices.get(i)
        if stored is not None:
            return stored
        if 1 <= i <= self.seeded:
            return self._generated(i)
        return None

    def materialise(self, i: int) -> dict[str, Any]:
        """Invoice ``i`` as a record this state owns and may change (caller holds lock)."""
        stored = self._invoices.get(i)
        if stored is None:
            seeded = self.invoice(i)
            if seeded is None:
                raise KeyError(i)
            stored = copy.deepcopy(seeded)
            self._invoices[i] = stored
            self._numbers[stored["no"]] = i
        return stored

    def _facts(self, i: int) -> tuple[int, dt.date, str]:
        """(client id, date, number) without generating a seeded invoice."""
        stored = self._invoices.get(i)
        if stored is not None:
            return stored["client_id"], stored["date"], stored["no"]
        day = ANCHOR - dt.timedelta(days=SPAN_DAYS) + dt.timedelta(days=self._day_of[i])
        return self._client_of[i], day, f"{i:06d}"

    def number_owner(self, number: str) -> int | None:
        with self.lock:
            owner = self._numbers.get(number)
            if owner is not None:
                return owner
            if re.fullmatch(r"\d{6}", number):
                i = int(number)
                if 1 <= i <= self.seeded and i not in self._invoices and i not in self._deleted:
                    return i
        return None

    def totals(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """What Daftra computes: line nets and taxes, ``summary_*``, ``payment_status``."""
        lines = []
        subtotal = ZERO
        for item in record["items"]:
            gross = item["quantity"] * item["unit_price"]
            discount = item["discount"] or ZERO
            if item["discount_type"] == 1:  # a percentage, rounded like every amount shown
                discount = (gross * discount / 100).quantize(TWO_PLACES, ROUND_HALF_UP)
            net = gross - discount
            subtotal += net
            lines.append((item, net, discount))
        discount_total = record["discount_amount"] or ZERO
        if not discount_total and record["discount"]:
            discount_total = (subtotal * record["discount"] / 100).quantize(
                TWO_PLACES, ROUND_HALF_UP
            )
        shipping = record["shipping_amount"] or ZERO
        taxes: dict[int, Decimal] = {}
        computed_lines = []
        tax_total = ZERO
        for item, net, discount in lines:
            base = net - (discount_total * net / subtotal if subtotal else ZERO)
            amounts: dict[str, Decimal | None] = {}
            for slot in ("tax1", "tax2"):
                tax_id = item[slot]
                if tax_id is None:
                    amounts[slot] = None
                    continue
                rate = self.taxes[tax_id]["value"] if tax_id in self.taxes else ZERO
                amount = (base * rate / 100).quantize(TWO_PLACES, ROUND_HALF_UP)
                amounts[slot] = amount
                taxes[tax_id] = taxes.get(tax_id, ZERO) + amount
                tax_total += amount
            computed_lines.append({"net": net, "discount": discount, **amounts})
        total = subtotal - discount_total + tax_total + shipping
        paid = sum((p["amount"] for p in record["payments"] if p["status"] == 1), ZERO)
        if record["draft"]:
            status = -1
        elif paid <= 0:
            status = 0
        elif paid < total:
            status = 1
        elif paid == total:
            status = 2
        else:
            status = 4
        return {
            "lines": computed_lines,
            "taxes": taxes,
            "subtotal": subtotal,
            "discount": discount_total,
            "tax": tax_total,
            "total": total,
            "paid": paid,
            "unpaid": total - paid,
            "payment_status": status,
        }

    def list_invoice_ids(self, query: Mapping[str, str]) -> list[int]:
        """Ids of the invoices a list request selects, in its order (cached per version)."""
        key = tuple(sorted((k, v) for k, v in query.items() if k not in ("page", "limit")))
        with self.lock:
            cached = self._cache.get(key)
            if cached is not None:
                return cached
            ids = list(self.invoice_ids)
            version = self._version
        client_id = _integer(query.get("client_id"))
        if client_id is not None:
            ids = [i for i in ids if self._facts(i)[0] == client_id]
        since = _iso_date(query.get("date_from"))
        if since is not None:  # date filters are inclusive (AIZEN)
            ids = [i for i in ids if self._facts(i)[1] >= since]
        until = _iso_date(query.get("date_to"))
        if until is not None:
            ids = [i for i in ids if self._facts(i)[1] <= until]
        number = query.get("no")
        if number:
            ids = [i for i in ids if number in self._facts(i)[2]]
        status = _integer(query.get("payment_status"))
        if status is not None:
            ids = [i for i in ids if self._status_of(i) == status]
        if _flag(query.get("draft")):
            ids = [i for i in ids if self._status_of(i) == -1]
        currency = query.get("currency_code")
        if currency:
            ids = [i for i in ids if (self.invoice(i) or {}).get("currency_code") == currency]
        sort = query.get("sort") if query.get("sort") in _INVOICE_SORTS else "date"
        descending = str(query.get("direction") or "DESC").upper() != "ASC"
        if sort != "id":
            position = {"date": 1, "no": 2, "created": 1}[str(sort)]
            ids.sort(key=lambda i: (self._facts(i)[position], i))
        if descending:
            ids.reverse()
        with self.lock:
            if self._version == version:  # no write came in between
                if len(self._cache) >= 64:
                    self._cache.clear()
                self._cache[key] = ids
        return ids

    def _status_of(self, i: int) -> int:
        record = self.invoice(i)
        return -2 if record is None else int(self.totals(record)["payment_status"])

    def payment(self, pid: int) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """(payment, its invoice) for a payment id, or None."""
        with self.lock:
            invoice_id = self._payment_invoice.get(pid)
        if invoice_id is None and 1 <= pid <= 2 * self.seeded:
            invoice_id = (pid + 1) // 2
        record = None if invoice_id is None else self.invoice(invoice_id)
        if record is None:
            return None
        for payment in record["payments"]:
            if payment["id"] == pid:
                return payment, record
        return None

    # ------------------------------------------------------------------ writing

    def touch(self) -> None:
        """Note a write (list caches are dropped)."""
        self._version += 1
        self._cache.clear()

    def add_invoice(self, record: dict[str, Any]) -> int:
        with self.lock:
            i = self._next_invoice
            self._next_invoice += 1
            record["id"] = i
            for payment in record["payments"]:
                self._add_payment_id(payment, i)
            self._invoices[i] = record
            self._numbers[record["no"]] = i
            self.invoice_ids.append(i)
            self.touch()
            return i

    def replace_invoice(self, i: int, record: dict[str, Any]) -> None:
        with self.lock:
            old = self.materialise(i)
            if self._numbers.get(old["no"]) == i:
                del self._numbers[old["no"]]
            old_ids = {p["id"] for p in old["payments"]}
            new_ids = {p["id"] for p in record["payments"]}
            for pid in old_ids - new_ids:
                self._drop_payment_id(pid)
            for payment in record["payments"]:
                if payment["id"] not in old_ids:
                    self._add_payment_id(payment, i)
            self._invoices[i] = record
            self._numbers[record["no"]] = i
            self.touch()

    def delete_invoice(self, i: int) -> bool:
        with self.lock:
            record = self.invoice(i)
            if record is None:
                return False
            for payment in record["payments"]:
                self._drop_payment_id(payment["id"])
            self._invoices.pop(i, None)
            if self._numbers.get(record["no"]) == i:
                del self._numbers[record["no"]]
            self._deleted.add(i)
            self.invoice_ids.remove(i)
            self.touch()
            return True

    def add_payment(self, invoice_id: int, payment: dict[str, Any]) -> int:
        with self.lock:
            record = self.materialise(invoice_id)
            payment["id"] = self.new_payment_id()
            record["payments"].append(payment)
            record["modified"] = dt.datetime.now().replace(microsecond=0)
            self._add_payment_id(payment, invoice_id)
            self.touch()
            return int(payment["id"])

    def new_payment_id(self) -> int:
        with self.lock:
            pid = self._next_payment
            self._next_payment += 1
            return pid

    def new_item_id(self) -> int:
        with self.lock:
            item_id = self._next_item
            self._next_item += 1
            return item_id

    def new_number(self) -> str:
        with self.lock:
            while True:
                number = f"{self._next_number:06d}"
                self._next_number += 1
                if self.number_owner(number) is None:
                    return number

    def _add_payment_id(self, payment: Mapping[str, Any], invoice_id: int) -> None:
        pid = int(payment["id"])
        self._payment_invoice[pid] = invoice_id
        bisect.insort(self.payment_ids, pid)
        if payment["payment_method"] == CLIENT_CREDIT:
            self.hidden_payments.add(pid)

    def _drop_payment_id(self, pid: int) -> None:
        index = bisect.bisect_left(self.payment_ids, pid)
        if index < len(self.payment_ids) and self.payment_ids[index] == pid:
            del self.payment_ids[index]
        self.hidden_payments.discard(pid)
        self._payment_invoice.pop(pid, None)

    def add_client(self, record: dict[str, Any]) -> int:
        with self.lock:
            client_id = self._next_client
            self._next_client += 1
            record["id"] = client_id
            if not record.get("client_number"):
                record["client_number"] = f"{client_id:07d}"
            self.clients[client_id] = record
            self.touch()
            return client_id

    # ------------------------------------------------------------------ OAuth

    def issue_token(self) -> str:
        token = secrets.token_urlsafe(32)
        with self.lock:
            self.tokens[token] = time.monotonic() + self.token_ttl
        return token

    def token_valid(self, token: str) -> bool:
        with self.lock:
            expires = self.tokens.get(token)
        return expires is not None and time.monotonic() < expires

    def revoke_tokens(self) -> None:
        """Make every issued token invalid (a test of the backend's renewal)."""
        with self.lock:
            self.tokens.clear()


class _Rng:
    """A tiny deterministic generator (faster than random.Random for a few draws)."""

    def __init__(self, seed: int):
        self._state = seed or 1

    def below(self, n: int) -> int:
        self._state = _mix(self._state, n)
        return self._state % n


def _ascii(text: str) -> str:
    cleaned = re.sub(r"[^a-z]", "", text.lower())
    return cleaned or "client"


def _iso_date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _new_item(
    item_id: int, name: str, description: str | None, price: Decimal, quantity: Decimal
) -> dict[str, Any]:
    return {
        "id": item_id,
        "item": name,
        "description": description,
        "unit_price": price,
        "quantity": quantity,
        "tax1": None,
        "tax2": None,
        "discount": ZERO,
        "discount_type": 2,
        "product_id": None,
        "store_id": 1,
        "col_3": None,
        "col_4": None,
        "col_5": None,
        "extra": {},
    }


def _new_payment(
    pid: int,
    method: str,
    amount: Decimal,
    currency: str,
    when: dt.datetime,
    reference: str | None,
    *,
    status: int = 1,
    notes: str | None = None,
) -> dict[str, Any]:
    return {
        "id": pid,
        "payment_method": method,
        "amount": amount,
        "transaction_id": reference,
        "treasury_id": 1,
        "date": when,
        "status": status,
        "notes": notes,
        "receipt_notes": None,
        "currency_code": currency,
        "created": when,
        "modified": when,
        "staff_id": 0,
    }


# --------------------------------------------------------------------------- the WSGI app


class DaftraApp:
    """The WSGI application answering like ``https://{subdomain}.daftra.com``."""

    def __init__(self, state: DaftraState):
        self.state = state

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        request = Request(environ)
        try:
            response = self.dispatch(request)
        except _Answer as answer:
            response = answer.response
        result: Iterable[bytes] = response(environ, start_response)
        return result

    # ------------------------------------------------------------------ routing

    def dispatch(self, request: Request) -> Response:
        if request.path.rstrip("/") == "/v2/oauth/token":
            return self.oauth_token(request)
        match = _ROUTE.match(request.path)
        if match is None:
            raise _failed(404, "Not Found")
        self.authenticate(request)
        resource, record_id = match.group("resource"), match.group("id")
        method = request.method
        handlers: dict[tuple[str, bool], Callable[..., Response]] = {
            ("site_info", False): self.site_info,
            ("listing", True): self.listing,
            ("taxes", False): self.list_taxes,
            ("taxes", True): self.get_tax,
            ("invoices", False): self.list_invoices if method == "GET" else self.add_invoice,
            ("invoices", True): {
                "GET": self.get_invoice,
                "PUT": self.edit_invoice,
                "POST": self.edit_invoice,
                "DELETE": self.delete_invoice,
            }.get(method, self.not_allowed),
            ("clients", False): self.list_clients if method == "GET" else self.add_client,
            ("clients", True): {
                "GET": self.get_client,
                "PUT": self.edit_client,
                "POST": self.edit_client,
            }.get(method, self.not_allowed),
            ("invoice_payments", False): (
                self.list_payments if method == "GET" else self.add_payment
            ),
            ("invoice_payments", True): self.get_payment,
        }
        handler = handlers.get((resource, record_id is not None))
        if handler is None:
            raise _failed(404, "Not Found")
        if record_id is None:
            return handler(request)
        return handler(request, record_id)

    def not_allowed(self, request: Request, record_id: str) -> Response:
        raise _failed(405, "Method Not Allowed")

    def authenticate(self, request: Request) -> None:
        authorization = request.headers.get("Authorization")
        if authorization is not None:
            # A Bearer header is checked even next to a good apikey (api-notes §1).
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() == "bearer" and self.state.token_valid(token.strip()):
                return
            raise _failed(401, "Unauthorized")
        key = request.headers.get("apikey")
        if key is not None and hmac.compare_digest(key.encode(), self.state.api_key.encode()):
            return
        raise _failed(401, "Unauthorized")

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _root(request: Request) -> str:
        return f"{request.scheme}://{request.host}"

    @staticmethod
    def _body(request: Request) -> Mapping[str, Any]:
        raw = request.get_data(cache=False)
        try:
            data = _json.loads(raw) if raw.strip() else {}
        except (ValueError, UnicodeDecodeError):
            raise _failed(400, "Bad Request", {"body": "The request body is not JSON"}) from None
        if not isinstance(data, Mapping):
            raise _failed(400, "Bad Request", {"body": "Expected a JSON object"})
        return data

    @staticmethod
    def _page(request: Request) -> tuple[int, int]:
        page = _integer(request.args.get("page")) or 1
        limit = _integer(request.args.get("limit")) or 20
        return max(page, 1), max(limit, 1)

    @staticmethod
    def _id(record_id: str) -> int:
        value = _integer(record_id)
        return value if value is not None else -1

    def _list(self, request: Request, resource: str, rows: Sequence[Any]) -> Response:
        page, limit = self._page(request)
        start = (page - 1) * limit
        return _respond(
            {
                "code": 200,
                "result": "successful",
                "data": list(rows[start : start + limit]),
                "pagination": _pagination(resource, page, limit, len(rows)),
            }
        )

    @staticmethod
    def _single(key: str, record: Any) -> Response:
        return _respond({"code": 200, "result": "successful", "data": {key: record}})

    @staticmethod
    def _created(record_id: int) -> Response:
        return _respond({"code": 202, "result": "successful", "id": str(record_id)}, 202)

    @staticmethod
    def _done() -> Response:
        return _respond({"code": 200, "result": "successful"})

    # ------------------------------------------------------------------ site, taxes, OAuth

    def site_info(self, request: Request) -> Response:
        site = {k: v for k, v in self.state.site.items() if k != "vat_number"}
        return self._single("Site", site)

    def listing(self, request: Request, model: str) -> Response:
        if model != "dateFormats":
            raise _failed(404, "Item not found")
        titles = {id: title for id, (title, _pattern) in DATE_FORMATS.items()}
        return self._single("Listing", titles)

    def _tax(self, tax: Mapping[str, Any]) -> dict[str, Any]:
        return {key: _wire(value) for key, value in tax.items()}

    def list_taxes(self, request: Request) -> Response:
        with self.state.lock:
            rows = [{"Tax": self._tax(t)} for _id, t in sorted(self.state.taxes.items())]
        return self._list(request, "taxes", rows)

    def get_tax(self, request: Request, record_id: str) -> Response:
        tax = self.state.taxes.get(self._id(record_id))
        if tax is None:
            raise _failed(404, "Item not found")
        return self._single("Tax", self._tax(tax))

    def oauth_token(self, request: Request) -> Response:
        if request.method != "POST":
            raise _failed(405, "Method Not Allowed")
        form = request.form
        state = self.state
        if form.get("grant_type") != "password":
            return _oauth_error(
                "unsupported_grant_type", "The authorization grant type is not supported.", 400
            )
        client_ok = form.get("client_id") == state.oauth_client_id and hmac.compare_digest(
            str(form.get("client_secret", "")).encode(), state.oauth_client_secret.encode()
        )
        if not client_ok:
            return _oauth_error("invalid_client", "Client authentication failed", 401)
        user_ok = form.get("username") == state.username and hmac.compare_digest(
            str(form.get("password", "")).encode(), state.password.encode()
        )
        if not user_ok:
            return _oauth_error("invalid_grant", "The user credentials were incorrect.", 400)
        return _respond(
            {
                "token_type": "Bearer",
                "expires_in": int(state.token_ttl),
                "access_token": state.issue_token(),
                "refresh_token": secrets.token_urlsafe(32),
            }
        )

    # ------------------------------------------------------------------ invoices: reading

    def _client_wire(self, client: Mapping[str, Any]) -> dict[str, Any]:
        out = {k: _wire(v) for k, v in client.items() if k != "extra"}
        out.update(client.get("extra") or {})
        return out

    def _invoice_parts(self, record: Mapping[str, Any], root: str) -> dict[str, Any]:
        """Header, Client, InvoiceItem, InvoicePayment and InvoiceTax of one invoice."""
        state = self.state
        totals = state.totals(record)
        i = record["id"]
        digest = hashlib.md5(f"{state.seed}:{i}".encode()).hexdigest()
        header: dict[str, Any] = {}
        for key, value in record.items():
            if key in ("items", "payments", "extra", "custom"):
                continue
            header[key] = _wire(value)
        header["date"] = record["date"].strftime(state.date_format)
        header.update(
            payment_status=totals["payment_status"],
            summary_subtotal=_number(totals["subtotal"]),
            summary_discount=_number(totals["discount"]),
            summary_total=_number(totals["total"]),
            summary_paid=_number(totals["paid"]),
            summary_unpaid=_number(totals["unpaid"]),
            summary_deposit=0,
            summary_refund=0,
            summary_tax1=None,  # null even with taxes (VISTA, api-notes §6.4)
            invoice_html_url=f"{root}/invoices/preview/{i}?hash={digest}",
            invoice_pdf_url=f"{root}/invoices/view/{i}.pdf?hash={digest}",
            qr_code_url=None,
        )
        if record["currency_code"] == "SAR" and not record["draft"]:
            header["qr_code_url"] = encode_qr_url(
                root,
                {
                    "seller_name": state.site["business_name"],
                    "vat_number": state.site["vat_number"],
                    "timestamp": record["created"].strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "total": f"{totals['total']:.2f}",
                    "vat_total": f"{totals['tax']:.2f}",
                },
            )
        header.update(record.get("extra") or {})
        items = []
        for item, line in zip(record["items"], totals["lines"], strict=True):
            row: dict[str, Any] = {
                key: _wire(value) for key, value in item.items() if key != "extra"
            }
            row.update(
                invoice_id=str(i),
                subtotal=_number(line["net"]),
                calculated_discount=_number(line["discount"]),
                summary_tax1=None if line["tax1"] is None else _number(line["tax1"]),
                summary_tax2=None if line["tax2"] is None else _number(line["tax2"]),
            )
            row.update(item.get("extra") or {})
            items.append(row)
        payments = [self._payment_wire(p, i) for p in record["payments"]]
        invoice_taxes = []
        for n, (tax_id, amount) in enumerate(sorted(totals["taxes"].items()), start=1):
            tax = state.taxes.get(tax_id, {})
            invoice_taxes.append(
                {
                    "id": str(n),
                    "invoice_id": str(i),
                    "tax_id": str(tax_id),
                    "name": tax.get("name"),
                    "value": _wire(tax.get("value")),
                    "included": "0",
                    "invoice_value": _number(amount),
                }
            )
        client = state.clients.get(record["client_id"])
        return {
            "Invoice": header,
            "Client": self._client_wire(client) if client else {},
            "InvoiceItem": items,
            "InvoicePayment": payments,
            "InvoiceTax": invoice_taxes,
            "InvoiceCustomField": dict(record.get("custom") or {}),
        }

    @staticmethod
    def _payment_wire(payment: Mapping[str, Any], invoice_id: int) -> dict[str, Any]:
        row = {key: _wire(value) for key, value in payment.items()}
        row["invoice_id"] = str(invoice_id)
        return row

    def list_invoices(self, request: Request) -> Response:
        state = self.state
        ids = state.list_invoice_ids(request.args)
        page, limit = self._page(request)
        recursive = _integer(request.args.get("recursive"))
        recursive = 0 if recursive is None else recursive
        root = self._root(request)
        rows = []
        for i in ids[(page - 1) * limit : page * limit]:
            record = state.invoice(i)
            if record is None:
                continue
            parts = self._invoice_parts(record, root)
            row: dict[str, Any] = {"Invoice": parts["Invoice"]}
            if recursive >= 0:
                row["Client"] = parts["Client"]
            if recursive >= 1:  # CakePHP rows: the associations beside the model
                for key in ("InvoiceItem", "InvoicePayment", "InvoiceTax"):
                    row[key] = parts[key]
            rows.append(row)
        return _respond(
            {
                "code": 200,
                "result": "successful",
                "data": rows,
                "pagination": _pagination("invoices", page, limit, len(ids)),
            }
        )

    def get_invoice(self, request: Request, record_id: str) -> Response:
        record = self.state.invoice(self._id(record_id))
        if record is None or record.get("type", 0) != 0:
            raise _failed(404, "Invoice not found")
        parts = self._invoice_parts(record, self._root(request))
        invoice = parts.pop("Invoice")
        invoice.update(parts)  # a single invoice nests its associations
        invoice.update(Deposit={}, InvoiceReminder={}, Document={}, DocumentTitle={})
        return self._single("Invoice", invoice)

    # ------------------------------------------------------------------ invoices: writing

    def _invoice_from_body(
        self, body: Mapping[str, Any], existing: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        state = self.state
        header = body.get("Invoice")
        if not isinstance(header, Mapping):
            raise _failed(400, "Bad Request", {"Invoice": "Invoice data is required"})
        errors: dict[str, str] = {}
        now = dt.datetime.now().replace(microsecond=0)
        # A PUT replaces the record: what is not sent falls back to the defaults.
        record: dict[str, Any] = dict(_INVOICE_DEFAULTS)
        record.update(extra={}, custom={}, created=now, modified=now)
        if existing is not None:
            record.update(
                id=existing["id"],
                no=existing["no"],
                created=existing["created"],
                items=copy.deepcopy(existing["items"]),
                payments=copy.deepcopy(existing["payments"]),
            )
        else:
            record.update(items=[], payments=[])
        client_id = _integer(header.get("client_id"))
        client = state.clients.get(client_id) if client_id is not None else None
        if header.get("client_id") in (None, ""):
            errors["client_id"] = "Client is required"
        elif client is None:
            errors["client_id"] = "Client not found"
        record["client_id"] = client_id
        date_text = header.get("date")
        if date_text in (None, ""):
            record["date"] = now.date()
        else:
            parsed = _iso_date(date_text)
            if parsed is None:
                errors["date"] = "Invalid date, expected YYYY-MM-DD"
            record["date"] = parsed or now.date()
        number = header.get("no")
        if isinstance(number, str | int) and str(number).strip():
            number = str(number).strip()
            owner = state.number_owner(number)
            if owner is not None and (existing is None or owner != existing["id"]):
                errors["no"] = "This number is already used by another invoice"
            record["no"] = number
        elif existing is None:
            record["no"] = None  # numbered when stored
        currency = header.get("currency_code")
        record["currency_code"] = (
            currency
            if isinstance(currency, str) and currency
            else (client or {}).get("default_currency_code") or state.site["currency_code"]
        )
        for key, value in header.items():
            if key in ("client_id", "date", "no", "currency_code", "id") or key.startswith(
                "summary_"
            ):
                continue
            if key in _INVOICE_INTEGERS:
                number_value = _integer(value)
                if value not in (None, "") and number_value is None:
                    errors[key] = "Must be a whole number"
                record[key] = number_value
            elif key in _INVOICE_NUMBERS:
                decimal_value = _decimal(value)
                if value not in (None, "") and decimal_value is None:
                    errors[key] = "Must be a number"
                record[key] = decimal_value
            elif key in _INVOICE_FLAGS:
                flag = _flag(value)
                if flag is None:
                    errors[key] = "Must be 0 or 1"
                record[key] = bool(flag)
            elif key in _INVOICE_TEXTS or key.startswith("client_"):
                record[key] = _str(value)
            else:
                record["extra"][key] = value  # kept as sent, returned as sent
        if (record["discount"] or ZERO) and (record["discount_amount"] or ZERO):
            errors["discount"] = "Use either discount or discount_amount"
        if not ZERO <= (record["discount"] or ZERO) <= 100:
            errors["discount"] = "The discount is a percentage between 0 and 100"
        snapshot = state.snapshot(client or {})
        for field, value in snapshot.items():
            if record.get(field) in (None, ""):
                record[field] = value
        if "InvoiceItem" in body:
            record["items"] = self._items(body["InvoiceItem"], errors)
        if "Payment" in body:
            record["payments"] = self._payments(body["Payment"], record, errors)
        if "InvoiceCustomField" in body and isinstance(body["InvoiceCustomField"], Mapping):
            record["custom"] = dict(body["InvoiceCustomField"])
        if errors:
            raise _failed(400, "Bad Request", errors)
        return record

    def _items(self, rows: Any, errors: dict[str, str]) -> list[dict[str, Any]]:
        if isinstance(rows, Mapping):
            rows = list(rows.values())
        if not isinstance(rows, list):
            errors["InvoiceItem"] = "Expected a list of items"
            return []
        items = []
        for index, row in enumerate(rows):
            where = f"InvoiceItem.{index}"
            if not isinstance(row, Mapping):
                errors[where] = "Expected an object"
                continue
            name = _str(row.get("item"))
            if not name:
                errors[f"{where}.item"] = "Item name is required"
            price = _decimal(row.get("unit_price"))
            if price is None:
                errors[f"{where}.unit_price"] = "Unit price must be a number"
            quantity = _decimal(row.get("quantity", 1))
            if quantity is None:
                errors[f"{where}.quantity"] = "Quantity must be a number"
            item = _new_item(
                self.state.new_item_id(),
                name or "",
                _str(row.get("description")),
                price or ZERO,
                quantity or ZERO,
            )
            for slot in ("tax1", "tax2"):
                value = row.get(slot)
                tax_id = _integer(value)
                if tax_id in (None, 0):
                    if value not in (None, "", 0, "0"):
                        errors[f"{where}.{slot}"] = "Invalid tax"
                    continue
                if tax_id not in self.state.taxes:
                    errors[f"{where}.{slot}"] = "Invalid tax"
                item[slot] = tax_id
            discount = _decimal(row.get("discount"))
            item["discount"] = discount or ZERO
            kind = _integer(row.get("discount_type"))
            if kind not in (None, 1, 2):
                errors[f"{where}.discount_type"] = "1 (percentage) or 2 (amount)"
            item["discount_type"] = kind or 1
            for key, value in row.items():
                if key in ("product_id", "store_id"):
                    item[key] = _integer(value)
                elif key in ("col_3", "col_4", "col_5"):
                    item[key] = _str(value)
                elif key not in item and key not in ("id", "invoice_id", "subtotal"):
                    item["extra"][key] = value
            items.append(item)
        return items

    def _payments(
        self, rows: Any, record: Mapping[str, Any], errors: dict[str, str]
    ) -> list[dict[str, Any]]:
        if isinstance(rows, Mapping):
            rows = [rows]  # the advance-payment example sends one object
        if not isinstance(rows, list):
            errors["Payment"] = "Expected a list of payments"
            return []
        payments = []
        for index, row in enumerate(rows):
            payment = self._payment_from(row, f"Payment.{index}", record, errors)
            if payment is not None:
                payment["id"] = self.state.new_payment_id()
                payments.append(payment)
        return payments

    def _payment_from(
        self, row: Any, where: str, invoice: Mapping[str, Any], errors: dict[str, str]
    ) -> dict[str, Any] | None:
        if not isinstance(row, Mapping):
            errors[where] = "Expected an object"
            return None
        method = row.get("payment_method")
        if not method:
            errors[f"{where}.payment_method"] = "Payment method is required"
        elif method not in PAYMENT_METHODS:
            errors[f"{where}.payment_method"] = "This payment method is not active"
        amount = _decimal(row.get("amount"))
        if amount is None or amount <= 0:
            errors[f"{where}.amount"] = "The amount must be a positive number"
        when = dt.datetime.now().replace(microsecond=0)
        if row.get("date") not in (None, ""):
            try:
                when = dt.datetime.fromisoformat(str(row["date"]))
            except ValueError:
                errors[f"{where}.date"] = "Invalid date"
        status = _integer(row.get("status"))
        return _new_payment(
            0,
            str(method or ""),
            amount or ZERO,
            str(invoice.get("currency_code") or self.state.site["currency_code"]),
            when,
            _str(row.get("transaction_id")),
            status=1 if status is None else status,
            notes=_str(row.get("notes")),
        )

    def add_invoice(self, request: Request) -> Response:
        record = self._invoice_from_body(self._body(request), None)
        with self.state.lock:
            if record["no"] is None:
                record["no"] = self.state.new_number()
            return self._created(self.state.add_invoice(record))

    def edit_invoice(self, request: Request, record_id: str) -> Response:
        i = self._id(record_id)
        existing = self.state.invoice(i)
        if existing is None or existing.get("type", 0) != 0:
            raise _failed(404, "Invoice not found")
        record = self._invoice_from_body(self._body(request), existing)
        self.state.replace_invoice(i, record)
        return self._done()

    def delete_invoice(self, request: Request, record_id: str) -> Response:
        if not self.state.delete_invoice(self._id(record_id)):
            raise _failed(404, "Invoice not found")
        return self._done()

    # ------------------------------------------------------------------ clients

    def _client_order(self, request: Request) -> list[int]:
        ids = sorted(self.state.clients)
        sort = request.args.get("sort")
        descending = str(request.args.get("direction") or "").upper() == "DESC"
        if sort == "id":
            pass
        elif sort == "created":
            ids.sort(key=lambda c: (self.state.clients[c]["created"], c))
        else:
            # No sort: stable but arbitrary (AIZEN saw ids [5,1,2,6,4,3]); direction ignored.
            return sorted(ids, key=lambda c: _mix(self.state.seed, 104729, c))
        return ids[::-1] if descending else ids

    def list_clients(self, request: Request) -> Response:
        with self.state.lock:
            order = self._client_order(request)
            page, limit = self._page(request)
            chosen = order[(page - 1) * limit : page * limit]
            rows = [{"Client": self._client_wire(self.state.clients[c])} for c in chosen]
        return _respond(
            {
                "code": 200,
                "result": "successful",
                "data": rows,
                "pagination": _pagination("clients", page, limit, len(order)),
            }
        )

    def get_client(self, request: Request, record_id: str) -> Response:
        client = self.state.clients.get(self._id(record_id))
        if client is None:
            raise _failed(404, "Item not found")
        return self._single("Client", self._client_wire(client))

    def _client_from_body(
        self, body: Mapping[str, Any], existing: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        data = body.get("Client")
        if not isinstance(data, Mapping):
            raise _failed(400, "Bad Request", {"Client": "Client data is required"})
        now = dt.datetime.now().replace(microsecond=0)
        record: dict[str, Any] = dict.fromkeys(_CLIENT_TEXTS)
        record.update(
            client_number=None,
            staff_id=0,
            type=2,
            is_offline=False,
            group_price_id=0,
            credit_limit=ZERO,
            credit_period=0,
            created=now,
            modified=now,
            extra={},
        )
        if existing is not None:
            record.update(
                id=existing["id"],
                client_number=existing["client_number"],
                created=existing["created"],
            )
        errors: dict[str, str] = {}
        for key, value in data.items():
            if key in _CLIENT_TEXTS or key == "client_number":
                record[key] = _str(value) if value not in ("",) else None
            elif key in ("type", "staff_id", "group_price_id", "credit_period"):
                record[key] = _integer(value)
            elif key in ("id", "created", "modified"):
                continue
            else:
                record["extra"][key] = value
        if not (record["business_name"] or record["first_name"] or record["last_name"]):
            errors["business_name"] = "Business name or first and last name are required"
        if record["email"] and not _EMAIL.match(record["email"]):
            errors["email"] = "Invalid email"
        if record["type"] not in (2, 3):
            errors["type"] = "2 (individual) or 3 (business)"
        if errors:
            raise _failed(400, "Bad Request", errors)
        return record

    def add_client(self, request: Request) -> Response:
        record = self._client_from_body(self._body(request), None)
        return self._created(self.state.add_client(record))

    def edit_client(self, request: Request, record_id: str) -> Response:
        client_id = self._id(record_id)
        existing = self.state.clients.get(client_id)
        if existing is None:
            raise _failed(404, "Item not found")
        record = self._client_from_body(self._body(request), existing)
        with self.state.lock:
            self.state.clients[client_id] = record
            self.state.touch()
        return self._done()

    # ------------------------------------------------------------------ invoice payments

    def list_payments(self, request: Request) -> Response:
        state = self.state
        with state.lock:
            ids = list(state.payment_ids)
            hidden = set(state.hidden_payments)
        if not _flag(request.args.get("include_client_credit")):
            # Client-credit payments are left out unless asked for (api-notes §5).
            ids = [pid for pid in ids if pid not in hidden]
        wanted = _integer(request.args.get("status"))
        direction = str(request.args.get("direction") or "DESC").upper()
        if direction != "ASC":  # newest first by default
            ids.reverse()
        page, limit = self._page(request)
        rows = []
        found = []
        for pid in ids:
            if wanted is not None:
                hit = state.payment(pid)
                if hit is None or hit[0]["status"] != wanted:
                    continue
            found.append(pid)
        for pid in found[(page - 1) * limit : page * limit]:
            hit = state.payment(pid)
            if hit is not None:
                rows.append({"InvoicePayment": self._payment_wire(hit[0], hit[1]["id"])})
        return _respond(
            {
                "code": 200,
                "result": "successful",
                "data": rows,
                "pagination": _pagination("invoice_payments", page, limit, len(found)),
            }
        )

    def get_payment(self, request: Request, record_id: str) -> Response:
        if request.method != "GET":
            raise _failed(405, "Method Not Allowed")
        hit = self.state.payment(self._id(record_id))
        if hit is None:
            raise _failed(404, "Item not found")
        return self._single("InvoicePayment", self._payment_wire(hit[0], hit[1]["id"]))

    def add_payment(self, request: Request) -> Response:
        body = self._body(request)
        data = body.get("InvoicePayment")
        if not isinstance(data, Mapping):
            raise _failed(400, "Bad Request", {"InvoicePayment": "Payment data is required"})
        errors: dict[str, str] = {}
        invoice_id = _integer(data.get("invoice_id"))
        invoice = self.state.invoice(invoice_id) if invoice_id is not None else None
        if invoice is None:
            errors["invoice_id"] = "Invoice not found"
        payment = self._payment_from(data, "InvoicePayment", invoice or {}, errors)
        if errors or payment is None or invoice_id is None:
            raise _failed(400, "Bad Request", errors)
        return self._created(self.state.add_payment(invoice_id, payment))


# --------------------------------------------------------------------------- the emulator


class DaftraEmulator(Emulator):
    """A Daftra ``/api2`` on a loopback port: state, WSGI app and server together.

    ``invoices`` seeded invoices (0: an empty account) from ``seed``; ``api_key`` is
    random unless given; ``latency_ms``, ``fault_rate`` and ``fault_kinds`` are the shared
    fault knobs (see :class:`~invoicing_bridge.emulation.FaultInjector`);
    ``date_format`` is the account's display format (a key of :data:`DATE_FORMATS`'
    patterns). OAuth: ``oauth_client_id``, ``oauth_client_secret`` (random unless given),
    ``username``, ``password`` (random unless given), tokens valid ``token_ttl`` seconds.
    ``portable`` seeds only what any other backend can store as it is: no line or
    invoice discounts, whole prices, payments to the cent by cash, bank transfer or
    cheque, no client-credit payments (the default seed has all of those, as Daftra
    accounts do, and Perfex, for one, refuses them).

    Not listening until :meth:`start` (or ``with``). Attributes: ``base_url``,
    ``root_url``, ``api_key``, ``stats``, ``faults``, ``state``, ``app``, ``server``.
    """

    name = "daftra"
    api_path = "/api2"
    command_help = "Run a local Daftra /api2 emulator in the foreground and print a config profile."
    knobs = (
        Knob("api_key", None, "The apikey to accept (random when not given)."),
        Knob(
            "date_format",
            "%d/%m/%Y",
            "The account's display date format.",
            choices=[pattern for _title, pattern in DATE_FORMATS.values()],
        ),
        Knob(
            "portable",
            False,
            "Seed only invoices another system can store as they are (no discounts, "
            "no client credit, cents only).",
        ),
        Knob("clients", None, cli=False),
        Knob("oauth_client_id", "1", cli=False),
        Knob("oauth_client_secret", None, cli=False),
        Knob("username", "owner@example.com", cli=False),
        Knob("password", None, cli=False),
        Knob("token_ttl", 3600.0, cli=False),
    )

    def create_app(self, knobs: Mapping[str, Any]) -> DaftraApp:
        self.api_key = knobs["api_key"] or secrets.token_hex(16)
        self.state = DaftraState(
            invoices=self.invoices,
            seed=self.seed,
            clients=knobs["clients"],
            api_key=self.api_key,
            date_format=knobs["date_format"],
            oauth_client_id=knobs["oauth_client_id"],
            oauth_client_secret=knobs["oauth_client_secret"] or secrets.token_hex(20),
            username=knobs["username"],
            password=knobs["password"] or secrets.token_urlsafe(12),
            token_ttl=knobs["token_ttl"],
            portable=knobs["portable"],
        )
        return DaftraApp(self.state)

    def __repr__(self) -> str:
        return f"DaftraEmulator(base_url={self.base_url!r}, invoices={self.state.seeded})"

    def profile(self) -> dict[str, Any]:
        """Backend options for this emulator: ``{"backend", "base_url", "api_key"}``."""
        return {"backend": "daftra", "base_url": self.base_url, "api_key": self.api_key}

    def oauth_profile(self) -> dict[str, Any]:
        """Backend options using OAuth instead of the API key."""
        state = self.state
        return {
            "backend": "daftra",
            "base_url": self.base_url,
            "client_id": state.oauth_client_id,
            "client_secret": state.oauth_client_secret,
            "username": state.username,
            "password": state.password,
        }


#: ``invoicing-bridge emulate daftra``.
cli = DaftraEmulator.click_command()

#: The emulator class (the ``daftra`` emulators entry point names it).
EMULATOR = DaftraEmulator
