"""Acme Books' data and its rules, in memory: what the API stores and computes."""

from __future__ import annotations

import itertools
import threading
from decimal import Decimal
from typing import Any

CENT = Decimal("0.01")
#: Invoice ``state`` codes, as the API sends them.
SENT, PAID = 1, 2


class AcmeState:
    """Customers and invoices (payments inside their invoice), one id sequence for all,
    as Acme numbers them. ``lock`` is held by the app around each request."""

    def __init__(self) -> None:
        self.customers: dict[int, dict[str, Any]] = {}
        self.invoices: dict[int, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self.lock = threading.Lock()

    def add_customer(self, body: dict[str, Any]) -> dict[str, Any]:
        id = next(self._ids)
        self.customers[id] = {
            "id": id,
            "name": body["name"],
            "email": body.get("email") or "",
            "vat": body.get("vat") or "",
        }
        return self.customers[id]

    def add_invoice(self, customer: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        """Acme computes each line's tax (rounded to the cent) and the totals; money is
        sent back as strings."""
        lines = []
        subtotal = tax_total = Decimal("0")
        for line in body.get("lines", []):
            net = Decimal(line["qty"]) * Decimal(line["price"])
            rate = line.get("tax_rate")
            tax = (net * Decimal(rate) / 100).quantize(CENT) if rate else Decimal("0")
            lines.append({**line, "tax": str(tax)})
            subtotal += net
            tax_total += tax
        id = next(self._ids)
        self.invoices[id] = {
            "id": id,
            "ref": body["ref"],
            "state": body.get("state", SENT),
            "issued": body["issued"],
            "due": body.get("due") or "",
            "currency": body["currency"],
            "customer": customer,
            "lines": lines,
            "payments": [],
            "subtotal": str(subtotal),
            "tax": str(tax_total),
            "total": str(subtotal + tax_total),
            "paid": "0.00",
            "notes": body.get("notes") or "",
            "terms": body.get("terms") or "",
            "url": f"https://acme.example/i/{id}",
        }
        return self.invoices[id]

    def add_payment(self, invoice: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        """A payment; the invoice's ``paid`` and ``state`` follow (``paid`` once covered)."""
        payment = {
            "id": next(self._ids),
            "invoice_id": invoice["id"],
            "amount": body["amount"],
            "date": body["date"],
            "method": body.get("method") or "other",
            "ref": body.get("ref") or "",
        }
        invoice["payments"].append(payment)
        paid = sum((Decimal(p["amount"]) for p in invoice["payments"]), Decimal("0"))
        invoice["paid"] = str(paid)
        invoice["state"] = PAID if paid >= Decimal(invoice["total"]) else SENT
        return payment
