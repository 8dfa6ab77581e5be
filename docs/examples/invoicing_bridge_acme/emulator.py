"""A local emulator of the Acme Books API: a WSGI app that answers like the real one.

``AcmeEmulator`` serves it with the core's ``EmulatorServer`` on a free loopback port (the
tests use it), and ``invoicing-bridge emulate acme`` runs it in the foreground.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from werkzeug.wrappers import Request, Response

from invoicing_bridge.emulation import Emulator, Knob

CENT = Decimal("0.01")


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _error(status: int, code: str, message: str, **fields: str) -> Response:
    return _json({"error": {"code": code, "message": message, "fields": fields}}, status)


class AcmeApp:
    """Acme Books in memory, as a WSGI app. ``api_key`` is the only key it accepts."""

    def __init__(self, api_key: str = "acme-test-key", *, invoices: int = 0) -> None:
        self.api_key = api_key
        self.customers: dict[int, dict[str, Any]] = {}
        self.invoices: dict[int, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.routes = [
            ("GET", r"/me", self.me),
            ("POST", r"/customers", self.add_customer),
            ("GET", r"/customers/(\d+)", self.customer),
            ("GET", r"/invoices", self.list_invoices),
            ("POST", r"/invoices", self.add_invoice),
            ("GET", r"/invoices/(\d+)", self.invoice),
            ("POST", r"/invoices/(\d+)/payments", self.add_payment),
        ]
        if invoices:
            customer = self._store_customer({"name": "Seed Customer"})
            for n in range(1, invoices + 1):
                line = {"title": "Service", "qty": "1", "price": f"{100 * n}.00"}
                self._store_invoice(
                    customer,
                    {
                        "ref": f"A-{n:04d}",
                        "issued": "2026-01-05",
                        "currency": "USD",
                        "lines": [line],
                    },
                )

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        path = request.path.removeprefix("/v1")
        if request.headers.get("X-Acme-Key") != self.api_key:
            # The real API's quirk: a bad key gets a 200 with an error body.
            response = _error(200, "unauthorized", "invalid API key")
            return response(environ, start_response)
        for method, pattern, handler in self.routes:
            match = re.fullmatch(pattern, path)
            if match and request.method == method:
                with self._lock:
                    response = handler(request, *(int(g) for g in match.groups()))
                return response(environ, start_response)
        return _error(404, "not_found", "no such route")(environ, start_response)

    # ------------------------------------------------------------------ storage

    def _store_customer(self, body: dict[str, Any]) -> dict[str, Any]:
        id = next(self._ids)
        self.customers[id] = {
            "id": id,
            "name": body["name"],
            "email": body.get("email") or "",
            "vat": body.get("vat") or "",
        }
        return self.customers[id]

    def _store_invoice(self, customer: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        lines = []
        for line in body.get("lines", []):
            net = Decimal(line["qty"]) * Decimal(line["price"])
            rate = line.get("tax_rate")
            tax = (net * Decimal(rate) / 100).quantize(CENT) if rate else Decimal("0")
            lines.append({**line, "tax": str(tax), "net": net})
        subtotal = sum((line.pop("net") for line in lines), Decimal("0"))
        tax_total = sum((Decimal(line["tax"]) for line in lines), Decimal("0"))
        id = next(self._ids)
        self.invoices[id] = {
            "id": id,
            "ref": body["ref"],
            "state": body.get("state", 1),
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

    # ------------------------------------------------------------------ handlers

    def me(self, request: Request) -> Response:
        return _json({"account": {"name": "Acme Test", "currency": "USD"}})

    def add_customer(self, request: Request) -> Response:
        body = request.get_json()
        if not body.get("name"):
            return _error(422, "invalid", "name is required", name="required")
        return _json({"customer": self._store_customer(body)}, 201)

    def customer(self, request: Request, id: int) -> Response:
        if id not in self.customers:
            return _error(404, "not_found", f"customer {id} not found")
        return _json({"customer": self.customers[id]})

    def list_invoices(self, request: Request) -> Response:
        page = int(request.args.get("page", 1))
        per_page = int(request.args.get("per_page", 20))
        rows = sorted(self.invoices.values(), key=lambda i: i["id"])
        if "issued_after" in request.args:
            rows = [r for r in rows if r["issued"] >= request.args["issued_after"]]
        if "customer_id" in request.args:
            rows = [r for r in rows if str(r["customer"]["id"]) == request.args["customer_id"]]
        chunk = rows[(page - 1) * per_page : page * per_page]
        more = page * per_page < len(rows)
        return _json({"invoices": chunk, "next_page": page + 1 if more else None})

    def invoice(self, request: Request, id: int) -> Response:
        if id not in self.invoices:
            return _error(404, "not_found", f"invoice {id} not found")
        return _json({"invoice": self.invoices[id]})

    def add_invoice(self, request: Request) -> Response:
        body = request.get_json()
        customer = self.customers.get(int(body.get("customer_id") or 0))
        if customer is None:
            return _error(422, "invalid", "unknown customer", customer_id="unknown")
        return _json({"invoice": self._store_invoice(customer, body)}, 201)

    def add_payment(self, request: Request, id: int) -> Response:
        invoice = self.invoices.get(id)
        if invoice is None:
            return _error(404, "not_found", f"invoice {id} not found")
        body = request.get_json()
        payment = {
            "id": next(self._ids),
            "invoice_id": id,
            "amount": body["amount"],
            "date": body["date"],
            "method": body.get("method") or "other",
            "ref": body.get("ref") or "",
        }
        invoice["payments"].append(payment)
        paid = sum((Decimal(p["amount"]) for p in invoice["payments"]), Decimal("0"))
        invoice["paid"] = str(paid)
        invoice["state"] = 2 if paid >= Decimal(invoice["total"]) else 1
        return _json({"payment": payment}, 201)


class AcmeEmulator(Emulator):
    """The app on a loopback port: ``with AcmeEmulator() as emulator: emulator.base_url``.

    The :class:`~invoicing_bridge.emulation.Emulator` base gives the lifecycle
    (``start``/``stop``, context manager) and the shared server's ``base_url``, ``stats``
    and ``faults``; ``profile()`` gives the backend options (``"backend"`` included), as
    every bundled emulator does.
    """

    name = "acme"
    api_path = "/v1"
    default_invoices = 0
    knobs = (Knob("api_key", "acme-test-key", "The API key to accept."),)

    def create_app(self, knobs: Mapping[str, Any]) -> AcmeApp:
        self.api_key = knobs["api_key"]
        return AcmeApp(self.api_key, invoices=self.invoices)

    def profile(self) -> dict[str, Any]:
        return {"backend": "acme", "base_url": self.base_url, "api_key": self.api_key}


#: The emulator class (the ``acme`` emulators entry point names it).
EMULATOR = AcmeEmulator


#: ``invoicing-bridge emulate acme``.
main = AcmeEmulator.click_command()
