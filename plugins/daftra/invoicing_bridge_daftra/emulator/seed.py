"""The seeded account: deterministic clients and invoices for a seed (Arabic and Latin
names, EGP/SAR/USD, 14% and 15% VAT, drafts, unpaid, partly paid and paid invoices,
four-decimal payments). Invoices are generated on demand from ``(seed, id)``, so 50,000 of
them cost little memory."""

from __future__ import annotations

import copy
import datetime as dt
import functools
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .state import (
    ANCHOR,
    CLIENT_CREDIT,
    CLIENT_TEXTS,
    FOUR_PLACES,
    INVOICE_DEFAULTS,
    SPAN_DAYS,
    TWO_PLACES,
    ZERO,
    DaftraState,
    new_item,
    new_payment,
)

__all__ = ["TAXES", "generate_invoice", "mix", "payment_count", "seed_account", "seed_client"]

TAXES = (
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


def mix(*values: int) -> int:
    """splitmix64 over the values: cheap, repeatable pseudo-randomness per record."""
    h = 0x9E3779B97F4A7C15
    for value in values:
        h = (h ^ (value & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        h = (h ^ (h >> 27)) * 0x94D049BB133111EB & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 31
    return h


class _Rng:
    """A tiny deterministic generator (faster than random.Random for a few draws)."""

    def __init__(self, seed: int):
        self._state = seed or 1

    def below(self, n: int) -> int:
        self._state = mix(self._state, n)
        return self._state % n


def _ascii(text: str) -> str:
    cleaned = re.sub(r"[^a-z]", "", text.lower())
    return cleaned or "client"


def seed_client(seed: int, client_id: int) -> dict[str, Any]:
    """Seeded client ``client_id``."""
    h = mix(seed, 7919, client_id)
    created = dt.datetime(2024, 1, 1, 8, 0) + dt.timedelta(hours=client_id * 7 + h % 5)
    record: dict[str, Any] = dict.fromkeys(CLIENT_TEXTS)
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


def payment_count(plan: int, h: int) -> int:
    """How many payments a seeded invoice of this plan has."""
    if plan < 8:  # drafts and unpaid invoices
        return 0
    if plan < 13:  # partly paid
        return 1
    return 1 + (h >> 32) % 2  # paid, in one or two payments


def generate_invoice(state: DaftraState, i: int) -> dict[str, Any]:
    """Seeded invoice ``i`` of ``state`` (do not mutate: the state materialises it first)."""
    h = mix(state.seed, i)
    rng = _Rng(h)
    plan = state.plan_of[i]
    client = state.seed_clients[state.client_of[i]]
    currency = client["default_currency_code"]
    issued = ANCHOR - dt.timedelta(days=SPAN_DAYS) + dt.timedelta(days=state.day_of[i])
    created = dt.datetime.combine(issued, dt.time(9, 0)) + dt.timedelta(minutes=rng.below(480))
    record = dict(INVOICE_DEFAULTS)
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
    portable = state.portable
    if rng.below(10) == 0:
        percent = Decimal(5 * (1 + rng.below(3)))
        if not portable:
            record["discount"] = percent
    record.update(state.snapshot(client))
    tax_id = _TAX_OF_CURRENCY[currency]
    items = []
    for k in range(1 + (h >> 24) % 3):
        name, description, price = _PRODUCTS[rng.below(len(_PRODUCTS))]
        if portable:  # whole prices: every line tax is exact, however it is rounded
            price = price.to_integral_value(ROUND_HALF_UP)
        quantity = Decimal(1 + rng.below(5))
        if rng.below(6) == 0 and not portable:
            quantity += Decimal("0.5")
        item = new_item(10 * i + k, name, description, price, quantity)
        item["tax1"] = tax_id if tax_id is not None and rng.below(8) else None
        if currency == "EGP" and rng.below(10) == 0 and not portable:
            item["tax2"] = 3
        if rng.below(12) == 0 and not portable:
            item.update(discount=Decimal(10), discount_type=1)
        items.append(item)
    record["items"] = items
    record["payments"] = []
    total = state.totals(record)["total"]
    count = payment_count(plan, h)
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
        method = CLIENT_CREDIT if pid in state.hidden_payments else methods[rng.below(4)]
        paid_at = created + dt.timedelta(days=3 + 9 * k, hours=rng.below(8))
        record["payments"].append(
            new_payment(pid, method, amount, currency, paid_at, f"TRX-{i}-{k + 1}")
        )
    return record


def seed_account(state: DaftraState, *, clients: int | None = None) -> None:
    """Fill ``state`` with its seeded account: taxes, ``clients`` clients (by default one
    per eight invoices, 6 to 300) and the facts of ``state.seeded`` invoices, generated
    on demand from ``state.seed``."""
    seed, invoices = state.seed, state.seeded
    for tax_id, name, rate in TAXES:
        state.taxes[tax_id] = {
            "id": tax_id,
            "name": name,
            "value": rate,
            "description": None,
            "included": 0,
            "created": dt.datetime(2024, 1, 2, 9, 0, 0),
            "modified": dt.datetime(2024, 1, 2, 9, 0, 0),
        }
    count = clients if clients is not None else max(6, min(300, invoices // 8 + 6))
    for client_id in range(1, count + 1):
        state.clients[client_id] = seed_client(seed, client_id)
    state.seed_clients = copy.deepcopy(state.clients)
    state.reserve_client_ids(count)
    for i in range(1, invoices + 1):
        h = mix(seed, i)
        state.client_of.append(1 + h % count)
        state.day_of.append((i - 1) * SPAN_DAYS // max(invoices, 1))
        plan = (h >> 16) % 20
        state.plan_of.append(plan)
        for k in range(payment_count(plan, h)):
            pid = 2 * i - 1 + k
            state.payment_ids.append(pid)
            if (h >> (40 + 3 * k)) % 5 < 2 and not state.portable:
                state.hidden_payments.add(pid)
    state.set_generator(functools.partial(generate_invoice, state))
    if invoices:
        seed_unmigrated(state, count)


def seed_unmigrated(state: DaftraState, clients: int) -> None:
    """The records a migration does not move (api-notes §3, §5): the product catalogue
    the invoices' lines come from, a few estimates and credit notes (InvoiceBase rows,
    ``type`` 3 and 5) and account-level client payments (``invoice_id`` null). Drawn
    with their own hashes, so that the invoices stay as they were."""
    seed, invoices = state.seed, state.seeded
    for product_id, (name, description, price) in enumerate(_PRODUCTS, 1):
        state.products.append(
            {
                "id": product_id,
                "name": name,
                "description": description,
                "unit_price": price,
                "buy_price": None,
                "tax1": None,
                "tax2": None,
                "product_code": f"P{product_id:04d}",
                "barcode": None,
                "type": 2 if "hours" in name or "consult" in name.lower() else 1,
                "status": 0,
                "track_stock": 0,
                "stock_balance": None,
            }
        )
    counts = {
        "estimates": invoices // 8 + mix(seed, 3, 1) % 3,
        "credit_notes": invoices // 20 + mix(seed, 5, 1) % 2,
        "client_payments": invoices // 25 + mix(seed, 7, 1) % 3,
    }
    for kind, count in counts.items():
        rows = getattr(state, kind)
        for n in range(1, count + 1):
            h = mix(seed, 104729, len(kind), n)
            client_id = 1 + h % clients
            amount = Decimal(100 + (h >> 8) % 50_000) + Decimal((h >> 24) % 100) / 100
            day = dt.datetime(2025, 1, 1, 10, 0) + dt.timedelta(days=(h >> 32) % 500)
            currency = state.clients[client_id]["default_currency_code"]
            if kind == "client_payments":
                rows.append(
                    {
                        "id": n,
                        "client_id": client_id,
                        "invoice_id": None,
                        "status": 1,
                        "payment_method": "bank_transfer",
                        "amount": amount,
                        "currency_code": currency,
                        "transaction_id": f"ADV-{h % 100000:05d}",
                        "date": day,
                        "notes": "Advance payment",
                        "created": day,
                        "modified": day,
                    }
                )
                continue
            rows.append(
                {
                    "id": n,
                    "type": 3 if kind == "estimates" else 5,
                    "no": f"{n:06d}",
                    "client_id": client_id,
                    "date": day.date(),
                    "currency_code": currency,
                    "summary_subtotal": amount,
                    "summary_total": amount,
                    "created": day,
                    "modified": day,
                }
            )
