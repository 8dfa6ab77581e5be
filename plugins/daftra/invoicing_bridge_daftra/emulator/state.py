"""The account an emulator serves (site, taxes, clients, invoices, payments, tokens), the
records' shapes, what Daftra computes (``summary_*``, ``payment_status``), and the value
helpers the emulator reads requests and writes answers with.

The emulator reads requests with its own helpers, not the backend's schemas: a server and
a client sharing one parser would agree with each other even when both were wrong.
"""

from __future__ import annotations

import bisect
import copy
import datetime as dt
import functools
import re
import secrets
import threading
import time
from array import array
from collections.abc import Callable, Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

ANCHOR = dt.date(2026, 9, 30)  # the seeded invoices are dated over the two years before
SPAN_DAYS = 730

_INVOICE_SORTS = frozenset({"id", "date", "no", "created"})

__all__ = ["ANCHOR", "CLIENT_CREDIT", "DATE_FORMATS", "SPAN_DAYS", "DaftraState"]

ANCHOR = dt.date(2026, 9, 30)  # the seeded invoices are dated over the two years before
SPAN_DAYS = 730

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
CLIENT_CREDIT = "client_credit"
TWO_PLACES = Decimal("0.01")
FOUR_PLACES = Decimal("0.0001")
ZERO = Decimal(0)
INVOICE_DEFAULTS: dict[str, Any] = {
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
    "adjustment_label": None,
    "adjustment_value": None,
    "due_after": 0,
    "follow_up_status": None,
    "work_order_id": None,
    "requisition_delivery_status": None,
    "pos_shift_id": None,
    "source_type": None,
    "source_id": None,
    "sales_person_id": None,
}
SNAPSHOT = (
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
CLIENT_TEXTS = (
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


# --------------------------------------------------------------------------- values


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


def _iso_date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def new_item(
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


def new_payment(
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


# --------------------------------------------------------------------------- state


def _no_seeded_invoices(i: int) -> dict[str, Any]:
    raise KeyError(i)


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
        #: Line taxes kept to four places instead of rounded to the cent (api-notes
        #: "Findings": Precision; no source says which one an account does).
        self.unrounded_tax = False
        #: Whether invoice GETs carry ``due_after``. The documented v1 GET Single Invoice
        #: has none (api-notes "Findings": Due date); the v2 record and request bodies do.
        self.due_after_in_get = True
        #: Whether the invoices' ``adjustment_label``/``adjustment_value`` columns are
        #: read and written through ``/api2`` (api-notes "Findings": Adjustment: the table
        #: has them, that v1 serves them is inference). The value counts in the total.
        self.adjustment_columns = False
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
        self.clients: dict[int, dict[str, Any]] = {}
        #: The clients as seeded (seeded invoices keep the snapshot of these).
        self.seed_clients: dict[int, dict[str, Any]] = {}
        self._next_client = 1
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
        self.client_of = array("I", [0])
        self.day_of = array("I", [0])
        self.plan_of = array("B", [0])
        self.payment_ids: list[int] = []
        self.hidden_payments: set[int] = set()
        self._payment_invoice: dict[int, int] = {}
        self._generate: Callable[[int], dict[str, Any]] = _no_seeded_invoices
        #: What a migration does not move, each listed by its own endpoint (api-notes
        #: §3, §5): estimates, credit notes, account-level client payments, products.
        self.estimates: list[dict[str, Any]] = []
        self.credit_notes: list[dict[str, Any]] = []
        self.client_payments: list[dict[str, Any]] = []
        self.products: list[dict[str, Any]] = []
        from .seed import seed_account  # seed.py builds on this module

        seed_account(self, clients=clients)
        self._generated = functools.lru_cache(maxsize=2048)(self._generate)

    def reserve_client_ids(self, count: int) -> None:
        """Client ids up to ``count`` are taken (by the seed): new clients come after."""
        self._next_client = max(self._next_client, count + 1)

    def set_generator(self, generate: Callable[[int], dict[str, Any]]) -> None:
        """How seeded invoice ``i`` is made (the seed's generator; called once per id
        while it stays in the cache)."""
        self._generate = generate

    @staticmethod
    def snapshot(client: Mapping[str, Any]) -> dict[str, Any]:
        return {field: client.get(source) for field, source in SNAPSHOT}

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
        day = ANCHOR - dt.timedelta(days=SPAN_DAYS) + dt.timedelta(days=self.day_of[i])
        return self.client_of[i], day, f"{i:06d}"

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
            included = self.included_rate(item)
            if included:
                # A tax with included 1: the price holds it, the net is price ÷ (1 + rate)
                # (api-notes "Findings": Tax-inclusive taxes), kept to four places.
                net = (net * 100 / (100 + included)).quantize(FOUR_PLACES, ROUND_HALF_UP)
            subtotal += net
            lines.append((item, net, discount))
        discount_total = record["discount_amount"] or ZERO
        if not discount_total and record["discount"]:
            discount_total = (subtotal * record["discount"] / 100).quantize(
                TWO_PLACES, ROUND_HALF_UP
            )
        shipping = record["shipping_amount"] or ZERO
        shipping += record.get("adjustment_value") or ZERO  # untaxed, signed
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
                # With unrounded_tax, kept to four places, not rounded to the cent per
                # line: Daftra keeps sub-cent amounts and no source says it rounds a
                # line's tax (api-notes "Findings": Precision).
                places = FOUR_PLACES if self.unrounded_tax else TWO_PLACES
                amount = (base * rate / 100).quantize(places, ROUND_HALF_UP)
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

    def included_rate(self, item: Mapping[str, Any]) -> Decimal:
        """The rates of ``item``'s tax-inclusive taxes (``included`` 1), summed."""
        rate = ZERO
        for slot in ("tax1", "tax2"):
            tax = self.taxes.get(item[slot]) if item[slot] is not None else None
            if tax is not None and _flag(tax.get("included")):
                rate += tax["value"]
        return rate

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
