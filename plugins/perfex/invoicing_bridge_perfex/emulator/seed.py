"""Deterministic, realistic seed data for an emulated Perfex install: Egyptian and Saudi
customers (Arabic and Latin names) with primary contacts, invoices in USD/EUR/EGP/SAR with
14% and 15% VAT in every status, and their payments.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ..cents import ZERO, round_cents
from ..phpforms import php_serialize
from .state import (
    CLIENT_COLUMNS,
    DRAFT_NUMBER,
    SEED_TODAY,
    STATUS_CANCELLED,
    STATUS_DRAFT,
    STATUS_OVERDUE,
    STATUS_UNPAID,
    InvoiceRecord,
    Item,
    PaymentRecord,
    PerfexState,
    contact_row,
)

__all__ = ["seed_install"]

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
        state.contacts[contact_id] = contact_row(
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
            rate = round_cents(Decimal(usd) * _RATES[currency])
            qty = Decimal(rng.choice(("1", "1", "2", "3", "5", "10", "0.5", "1.5")))
            tax = _TAX_BY_CURRENCY[currency]
            items.append(
                Item(
                    id=state.next_id("item"),
                    description=description,
                    long_description=long_description,
                    qty=round_cents(qty),
                    rate=rate,
                    unit=unit,
                    item_order=order,
                    taxes=[tax] if tax else [],
                )
            )
        subtotal = round_cents(sum((i.qty * i.rate for i in items), ZERO))
        discount = ZERO
        if rng.random() < 0.15:
            discount = round_cents(subtotal * Decimal(rng.choice(("0.05", "0.10"))))
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
        _settings(invoice, client)
        state.recompute_tax(invoice)
        invoice.total = round_cents(subtotal - discount + invoice.total_tax + adjustment)
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
                first_part = round_cents(invoice.total * Decimal(rng.choice(("0.3", "0.5"))))
                amounts = [first_part, invoice.total - first_part]
            else:
                amounts = [invoice.total]
        elif kind == "partial":
            amounts = [round_cents(invoice.total * Decimal(rng.choice(("0.2", "0.4", "0.6"))))]
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


def seed_unmigrated(state: PerfexState, invoices: int, seed: int) -> None:
    """The records a migration does not move: the items (products) the invoices' lines
    come from, a few estimates and credit notes (with its own generator, so that the
    invoices stay as they were). Rows carry the columns the module's examples show."""
    rng = random.Random(seed * 7919 + 17)
    for item_id, (description, long_description, unit, usd) in enumerate(_PRODUCTS, 1):
        state.items.append(
            {
                "itemid": str(item_id),
                "id": str(item_id),
                "description": description,
                "long_description": long_description,
                "rate": usd,
                "unit": unit,
                "group_id": "0",
                "taxrate": None,
                "taxid": None,
                "taxname": None,
            }
        )
    clients = sorted(state.clients)
    if not clients:
        return
    for rows, prefix, count in (
        (state.estimates, "EST-", invoices // 8 + rng.randrange(3)),
        (state.credit_notes, "CN-", invoices // 20 + rng.randrange(2)),
    ):
        for number in range(1, count + 1):
            total = Decimal(rng.randrange(10_000, 500_000)) / 100
            rows.append(
                {
                    "id": str(number),
                    "clientid": str(rng.choice(clients)),
                    "number": str(number),
                    "prefix": prefix,
                    "date": (SEED_TODAY - dt.timedelta(days=rng.randrange(400))).isoformat(),
                    "currency": "1",
                    "subtotal": f"{total:.2f}",
                    "total_tax": "0.00",
                    "total": f"{total:.2f}",
                    "status": str(rng.randrange(1, 5)),
                }
            )


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


def _settings(invoice: InvoiceRecord, client: Mapping[str, Any]) -> None:
    """Settings an update must not lose (by id, so the random draws stay as they were):
    monthly recurring invoices, printed shipping addresses, hours, stopped reminders."""
    if invoice.id % 5 == 0:
        invoice.recurring, invoice.cycles, invoice.total_cycles = 1, 12, 2
        invoice.last_recurring_date = f"{invoice.date:%Y-%m-%d}"
    if invoice.id % 7 == 0:
        invoice.recurring, invoice.custom_recurring, invoice.recurring_type = 2, 1, "week"
    if invoice.id % 4 == 0:
        invoice.include_shipping, invoice.show_shipping_on_invoice = 1, 1
        invoice.shipping = (
            client.get("shipping_street") or client.get("billing_street"),
            client.get("shipping_city") or client.get("billing_city"),
            client.get("shipping_state") or client.get("billing_state"),
            client.get("shipping_zip") or client.get("billing_zip"),
            client.get("shipping_country") or client.get("billing_country"),
        )
    if invoice.id % 6 == 0:
        invoice.cancel_overdue_reminders, invoice.show_quantity_as = 1, 2
