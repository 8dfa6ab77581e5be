"""Mapping speed (figure 1): raw Daftra and Perfex invoice payloads, each with 5 line items
and 2 payments, mapped to the neutral model by the backends' ``parse_payload``, against a
hand-written dict-to-dataclass mapping of the same fields, timed in alternation.

The payloads are what the emulators answer to ``GET`` one invoice (parsed the way the
HTTP layer parses them: JSON numbers as Decimal): one invoice is made in a Daftra
emulator, migrated into a Perfex emulator, and read raw from both.

    python benchmarks/bench_mapping.py [--count 200] [--repeat 7]
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import tempfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests
from _common import figure, paired
from invoicing_bridge_daftra.backend import DaftraBackend
from invoicing_bridge_perfex.backend import PerfexBackend

from invoicing_bridge.migration import migrate
from invoicing_bridge.registry import get_backend

ITEMS = 5
PAYMENTS = 2

# --------------------------------------------------------------------------- payloads


def payloads() -> dict[str, Any]:
    """``{"daftra": {...}, "perfex": {...}, "perfex_options": {...}}``: one invoice with 5
    lines (VAT on each) and 2 payments, as each emulator answers ``GET`` for it."""
    from invoicing_bridge_daftra.emulator import DaftraEmulator
    from invoicing_bridge_perfex.emulator import PerfexEmulator

    with DaftraEmulator(invoices=60, seed=1) as daftra, PerfexEmulator(invoices=0) as perfex:
        state = daftra.state
        chosen = next(
            i
            for i in state.invoice_ids
            if len(state.invoice(i)["payments"]) == PAYMENTS  # type: ignore[index]
            and state.invoice(i)["currency_code"] == "SAR"  # type: ignore[index]
        )
        with state.lock:
            record = state.materialise(chosen)
            template = record["items"][0]
            record["discount"] = Decimal(0)
            record["items"] = []
            for k in range(ITEMS):
                item = copy.deepcopy(template)
                item.update(
                    id=10 * chosen + k,
                    item=f"Line {k + 1}",
                    description=f"Service line {k + 1}",
                    unit_price=Decimal(100 * (k + 1)),
                    quantity=Decimal(k % 3 + 1),
                    discount=Decimal(0),
                    discount_type=2,
                    tax1=template["tax1"] or 1,
                    tax2=None,
                )
                record["items"].append(item)
            total = state.totals(record)["total"]
            first = (total * Decimal("0.4")).quantize(Decimal("0.01"))
            for payment, amount, method in zip(
                record["payments"], (first, total - first), ("cash", "bank_transfer"), strict=True
            ):
                payment.update(amount=amount, payment_method=method)
            for i in list(state.invoice_ids):
                if i != chosen:
                    state.delete_invoice(i)
            state.touch()
        options = {k: v for k, v in daftra.profile().items() if k != "backend"}
        perfex_options = {k: v for k, v in perfex.profile().items() if k != "backend"}
        with (
            get_backend("daftra", **options) as source,
            get_backend("perfex", **perfex_options) as target,
            tempfile.TemporaryDirectory() as tmp,
        ):
            report = migrate(source, target, ledger=Path(tmp) / "ledger.sqlite", workers=1)
            if not report.ok:
                raise RuntimeError(f"could not make the Perfex payload: {report.failures}")
            target_id = next(r.target_id for r in report.records if r.kind == "invoice")
        daftra_text = requests.get(
            f"{daftra.base_url}/invoices/{chosen}.json", headers={"apikey": daftra.api_key}
        ).text
        perfex_text = requests.get(
            f"{perfex.base_url}/invoices/{target_id}", headers={"authtoken": perfex.token}
        ).text
    return {
        "daftra": json.loads(daftra_text, parse_float=Decimal),
        "perfex": json.loads(perfex_text, parse_float=Decimal),
        "daftra_options": {"date_format": "%d/%m/%Y"},
        "perfex_options": {
            k: perfex_options[k] for k in ("currencies", "payment_modes", "number_padding")
        },
    }


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


def run(*, count: int = 200, repeat: int = 7) -> dict[str, Any]:
    """Figure 1: invoices per second through ``parse_payload`` and by hand, per backend,
    and the ratio of the two (how many times the hand-written mapping's time)."""
    data = payloads()
    daftra = DaftraBackend.for_parsing(**data["daftra_options"])
    perfex = PerfexBackend.for_parsing(**data["perfex_options"])
    currencies = {v: k for k, v in data["perfex_options"]["currencies"].items()}
    figures: dict[str, Any] = {}
    checks: dict[str, Any] = {}
    cases = {
        "daftra": (
            lambda p: daftra.parse_payload("invoice", p),
            hand_daftra,
        ),
        "perfex": (
            lambda p: perfex.parse_payload("invoice", p),
            lambda p: hand_perfex(p, currencies),
        ),
    }
    for name, (library, hand) in cases.items():
        payload = data[name]
        mapped = library(payload)[0]
        by_hand = hand(payload)
        checks[name] = {
            "items": len(mapped.items),
            "payments": len(mapped.payments),
            "total_agrees": mapped.total == by_hand.total,
        }
        if len(mapped.items) != ITEMS or len(mapped.payments) != PAYMENTS:
            raise RuntimeError(f"{name}: the payload has {checks[name]}")
        batch = [copy.deepcopy(payload) for _ in range(count)]

        def run_library(batch: list[Any] = batch, fn: Any = library) -> None:
            for p in batch:
                fn(p)

        def run_hand(batch: list[Any] = batch, fn: Any = hand) -> None:
            for p in batch:
                fn(p)

        run_library()  # warm up (schemas, caches)
        lib_s, hand_s = paired(repeat, run_library, run_hand)
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
        "settings": {"count": count, "repeat": repeat, "items": ITEMS, "payments": PAYMENTS},
        "figures": figures,
        "checks": checks,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print(json.dumps(run(count=args.count, repeat=args.repeat), indent=2, default=str))


if __name__ == "__main__":
    main()
