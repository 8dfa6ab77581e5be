"""Mapping speed (figure 1): the emulators' seeded invoices, as each answers ``GET`` for
one (Daftra; Perfex with the REST module 2.x and 3.x), mapped to the neutral model by the
backends' ``parse_payload``, against a hand-written dict-to-dataclass mapping of the same
fields, timed in alternation.

The payloads are the realistic seeds (discounts, several taxes, partial payments, notes),
read raw from each emulator and parsed the way the HTTP layer parses them (JSON numbers as
Decimal): nothing is shaped to fit the mapping. Timed in this process's CPU time
(``time.process_time``): the mapping is all CPU.

    python benchmarks/bench_mapping.py [--count 200] [--repeat 7] [--invoices 40]
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import requests
from _common import figure, paired
from invoicing_bridge_daftra.backend import DaftraBackend
from invoicing_bridge_perfex.backend import PerfexBackend

#: Seeded invoices read from each emulator (the mapping runs over them in turn).
INVOICES = 40
#: Perfex module versions read (their single GETs differ: 3.x adds fields).
PERFEX_VERSIONS = (2, 3)

# --------------------------------------------------------------------------- payloads


def _get(url: str, headers: dict[str, str]) -> Any:
    response = requests.get(url, headers=headers, timeout=30)
    response.raise_for_status()
    return json.loads(response.text, parse_float=Decimal)


def payloads(invoices: int = INVOICES) -> dict[str, Any]:
    """``{"daftra": [...], "perfex": [...], "perfex3": [...], "<name>_options": {...}}``:
    the first ``invoices`` seeded invoices of each emulator (seed 1), as it answers ``GET``
    for each."""
    from invoicing_bridge_daftra.emulator import DaftraEmulator
    from invoicing_bridge_perfex.emulator import PerfexEmulator

    data: dict[str, Any] = {}
    with DaftraEmulator(invoices=invoices, seed=1) as daftra:
        ids = list(daftra.state.invoice_ids)[:invoices]
        auth = {"apikey": daftra.api_key}
        data["daftra"] = [_get(f"{daftra.base_url}/invoices/{i}.json", auth) for i in ids]
        data["daftra_options"] = {"date_format": "%d/%m/%Y"}
    for version in PERFEX_VERSIONS:
        name = "perfex" if version == 2 else f"perfex{version}"
        with PerfexEmulator(invoices=invoices, seed=1, api_version=version) as perfex:
            profile = perfex.profile()
            auth = {"authtoken": perfex.token}
            rows = _get(f"{perfex.base_url}/invoices", auth)
            rows = rows["data"] if isinstance(rows, dict) else rows
            data[name] = [_get(f"{perfex.base_url}/invoices/{r['id']}", auth) for r in rows]
            data[name] = data[name][:invoices]
            data[f"{name}_options"] = {
                k: profile[k] for k in ("currencies", "payment_modes", "number_padding")
            }
    return data


# --------------------------------------------------------------------------- by hand


@dataclass
class HandClient:
    id: str
    name: str
    email: str | None


@dataclass
class HandLine:
    description: str
    quantity: Decimal
    unit_price: Decimal
    tax_rate: Decimal | None


@dataclass
class HandPayment:
    id: str
    amount: Decimal
    date: dt.date
    method: str


@dataclass
class HandInvoice:
    id: str
    number: str
    issue_date: dt.date
    due_date: dt.date | None
    currency: str
    client: HandClient
    subtotal: Decimal
    total: Decimal
    amount_paid: Decimal
    items: list[HandLine] = field(default_factory=list)
    payments: list[HandPayment] = field(default_factory=list)


def _dec(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def hand_daftra(payload: dict[str, Any]) -> HandInvoice:
    """The same fields as the library maps, with nothing checked: what one would write
    for one account whose payloads one trusts."""
    inv = payload["data"]["Invoice"]
    client = inv["Client"]
    rates = {t["tax_id"]: _dec(t["value"]) for t in inv.get("InvoiceTax") or ()}
    issued = dt.datetime.strptime(inv["date"], "%d/%m/%Y").date()
    name = client["business_name"] or f"{client['first_name']} {client['last_name']}"
    return HandInvoice(
        id=inv["id"],
        number=inv["no"],
        issue_date=issued,
        due_date=issued + dt.timedelta(days=int(inv["due_after"] or 0)),
        currency=inv["currency_code"],
        client=HandClient(client["id"], name, client["email"]),
        subtotal=_dec(inv["summary_subtotal"]),
        total=_dec(inv["summary_total"]),
        amount_paid=_dec(inv["summary_paid"]),
        items=[
            HandLine(
                item["item"],
                _dec(item["quantity"]),
                _dec(item["unit_price"]),
                rates.get(item["tax1"]) if item["tax1"] else None,
            )
            for item in inv["InvoiceItem"]
        ],
        payments=[
            HandPayment(
                p["id"],
                _dec(p["amount"]),
                dt.datetime.strptime(p["date"], "%Y-%m-%d %H:%M:%S").date(),
                p["payment_method"],
            )
            for p in inv["InvoicePayment"]
        ],
    )


def hand_perfex(payload: dict[str, Any], currencies: dict[str, str]) -> HandInvoice:
    client = payload.get("client") or {}
    paid = [_dec(p["amount"]) for p in payload["payments"]]
    return HandInvoice(
        id=payload["id"],
        number=f"{payload['prefix']}{int(payload['number']):06d}",
        issue_date=dt.date.fromisoformat(payload["date"]),
        due_date=dt.date.fromisoformat(payload["duedate"]) if payload["duedate"] else None,
        currency=currencies.get(payload["currency"], payload["currency"]),
        client=HandClient(payload["clientid"], client.get("company") or "", None),
        subtotal=_dec(payload["subtotal"]),
        total=_dec(payload["total"]),
        amount_paid=sum(paid, Decimal(0)),
        items=[
            HandLine(item["description"], _dec(item["qty"]), _dec(item["rate"]), None)
            for item in payload["items"]
        ],
        payments=[
            HandPayment(
                p["paymentid"],
                _dec(p["amount"]),
                dt.date.fromisoformat(p["date"]),
                p.get("name") or p["paymentmode"],
            )
            for p in payload["payments"]
        ],
    )


# --------------------------------------------------------------------------- benchmark


def run(*, count: int = 200, repeat: int = 7, invoices: int = INVOICES) -> dict[str, Any]:
    """Figure 1: invoices per second through ``parse_payload`` and by hand, per backend,
    and the ratio of the two (how many times the hand-written mapping's time)."""
    data = payloads(invoices)
    daftra = DaftraBackend.for_parsing(**data["daftra_options"])
    cases: dict[str, Any] = {"daftra": (lambda p: daftra.parse_payload("invoice", p), hand_daftra)}
    for version in PERFEX_VERSIONS:
        name = "perfex" if version == 2 else f"perfex{version}"
        options = data[f"{name}_options"]
        backend = PerfexBackend.for_parsing(**options)
        currencies = {v: k for k, v in options["currencies"].items()}
        cases[name] = (
            lambda p, b=backend: b.parse_payload("invoice", p),
            lambda p, c=currencies: hand_perfex(p, c),
        )
    figures: dict[str, Any] = {}
    checks: dict[str, Any] = {}
    for name, (library, hand) in cases.items():
        seeded = data[name]
        agree = 0
        for payload in seeded:
            mapped = library(payload)[0]
            by_hand = hand(payload)
            agree += mapped.total == by_hand.total and len(mapped.items) == len(by_hand.items)
        checks[name] = {
            "invoices": len(seeded),
            "items": sum(len(hand(p).items) for p in seeded),
            "payments": sum(len(hand(p).payments) for p in seeded),
            "agree": agree,
        }
        if agree != len(seeded):
            raise RuntimeError(f"{name}: the two mappings disagree: {checks[name]}")
        batch = list(itertools.islice(itertools.cycle(seeded), count))

        def run_library(batch: list[Any] = batch, fn: Any = library) -> None:
            for p in batch:
                fn(p)

        def run_hand(batch: list[Any] = batch, fn: Any = hand) -> None:
            for p in batch:
                fn(p)

        run_library()  # warm up (schemas, caches)
        # CPU time: the mapping is all CPU, and this counts none of a neighbour's.
        lib_s, hand_s = paired(repeat, run_library, run_hand, clock=time.process_time)
        lib_rate, hand_rate = count / lib_s, count / hand_s
        figures[f"mapping_{name}_invoices_per_s"] = figure(
            round(lib_rate),
            "invoices/s",
            us_per_invoice=round(lib_s / count * 1e6, 1),
        )
        figures[f"mapping_{name}_by_hand_invoices_per_s"] = figure(
            round(hand_rate),
            "invoices/s",
            us_per_invoice=round(hand_s / count * 1e6, 1),
        )
        figures[f"mapping_{name}_ratio_to_hand"] = figure(
            round(lib_s / hand_s, 2),
            "x hand time",
            aim="report (no aim set)",
            share_of_50ms_request=f"{lib_s / count / 0.05:.2%}",
        )
    return {
        "settings": {"count": count, "repeat": repeat, "invoices": invoices},
        "figures": figures,
        "checks": checks,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--invoices", type=int, default=INVOICES)
    args = parser.parse_args()
    result = run(count=args.count, repeat=args.repeat, invoices=args.invoices)
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
