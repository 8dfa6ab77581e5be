"""Acme Books over HTTP: a WSGI app on the core's router that answers like the real API,
quirks included (a bad key is answered 200 with an error body)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.wrappers import Request, Response

from invoicing_bridge.emulation.router import Router

from .seed import seed
from .state import AcmeState


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _error(status: int, code: str, message: str, **fields: str) -> Response:
    return _json({"error": {"code": code, "message": message, "fields": fields}}, status)


class AcmeApp:
    """Acme Books in memory, as a WSGI app. ``api_key`` is the only key it accepts; the
    API lives under ``/v1``."""

    routes = Router()

    def __init__(self, api_key: str = "acme-test-key", *, invoices: int = 0) -> None:
        self.api_key = api_key
        self.state = AcmeState()
        seed(self.state, invoices)
        self.router = self.routes.bind(self, not_found=self.no_route)

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        request = Request(environ)
        if request.headers.get("X-Acme-Key") != self.api_key:
            # The real API's quirk: a bad key gets a 200 with an error body.
            response = _error(200, "unauthorized", "invalid API key")
        else:
            with self.state.lock:
                response = self.router.dispatch(request)
        result: Iterable[bytes] = response(environ, start_response)
        return result

    def no_route(self, request: Request) -> Response:
        return _error(404, "not_found", "no such route")

    # ------------------------------------------------------------------ handlers

    @routes.route("GET", "/v1/me")
    def me(self, request: Request) -> Response:
        return _json({"account": {"name": "Acme Test", "currency": "USD"}})

    @routes.route("POST", "/v1/customers")
    def add_customer(self, request: Request) -> Response:
        body = request.get_json()
        if not body.get("name"):
            return _error(422, "invalid", "name is required", name="required")
        return _json({"customer": self.state.add_customer(body)}, 201)

    @routes.route("GET", "/v1/customers/<int:id>")
    def customer(self, request: Request, id: int) -> Response:
        if id not in self.state.customers:
            return _error(404, "not_found", f"customer {id} not found")
        return _json({"customer": self.state.customers[id]})

    @routes.route("GET", "/v1/invoices")
    def list_invoices(self, request: Request) -> Response:
        page = int(request.args.get("page", 1))
        per_page = int(request.args.get("per_page", 20))
        rows = sorted(self.state.invoices.values(), key=lambda i: i["id"])
        if "issued_after" in request.args:
            rows = [r for r in rows if r["issued"] >= request.args["issued_after"]]
        if "customer_id" in request.args:
            rows = [r for r in rows if str(r["customer"]["id"]) == request.args["customer_id"]]
        chunk = rows[(page - 1) * per_page : page * per_page]
        more = page * per_page < len(rows)
        return _json({"invoices": chunk, "next_page": page + 1 if more else None})

    @routes.route("GET", "/v1/invoices/<int:id>")
    def invoice(self, request: Request, id: int) -> Response:
        if id not in self.state.invoices:
            return _error(404, "not_found", f"invoice {id} not found")
        return _json({"invoice": self.state.invoices[id]})

    @routes.route("POST", "/v1/invoices")
    def add_invoice(self, request: Request) -> Response:
        body = request.get_json()
        customer = self.state.customers.get(int(body.get("customer_id") or 0))
        if customer is None:
            return _error(422, "invalid", "unknown customer", customer_id="unknown")
        return _json({"invoice": self.state.add_invoice(customer, body)}, 201)

    @routes.route("POST", "/v1/invoices/<int:id>/payments")
    def add_payment(self, request: Request, id: int) -> Response:
        invoice = self.state.invoices.get(id)
        if invoice is None:
            return _error(404, "not_found", f"invoice {id} not found")
        return _json({"payment": self.state.add_payment(invoice, request.get_json())}, 201)
