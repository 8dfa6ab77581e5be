"""The WSGI app answering like ``https://{subdomain}.daftra.com``: the core's
:class:`~invoicing_bridge.emulation.Router` with Daftra's error shapes, the ``/api2``
handlers, and the OAuth token endpoint on the site root."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import hmac
import math
import re
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from werkzeug.wrappers import Request, Response

from invoicing_bridge.backends.http import dumps_json, loads_json
from invoicing_bridge.emulation import Answer, Route, Router

from ..qr import encode_qr_url
from .seed import mix
from .state import (
    CLIENT_TEXTS,
    DATE_FORMATS,
    INVOICE_DEFAULTS,
    ZERO,
    DaftraState,
    _decimal,
    _flag,
    _integer,
    _iso_date,
    _number,
    _str,
    _wire,
    new_item,
    new_payment,
)

__all__ = ["PAYMENT_METHODS", "DaftraApp"]

PAYMENT_METHODS = frozenset(
    {"cash", "bank_transfer", "cheque", "credit_card", "paypal", "stripe", "client_credit"}
)
#: Methods whose ``Payment[]`` row in an invoice create needs ``email`` (api-notes §3).
EMAIL_METHODS = frozenset({"paypal", "stripe"})
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
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _respond(payload: Any, status: int = 200) -> Response:
    return Response(
        dumps_json(payload), status=status, content_type="application/json; charset=UTF-8"
    )


def _failed(code: int, message: str, validation_errors: Mapping[str, str] | None = None) -> Answer:
    body: dict[str, Any] = {"result": "failed", "code": code, "message": message}
    if validation_errors:
        body["validation_errors"] = dict(validation_errors)
    return Answer(_respond(body, code))


def _oauth_error(error: str, message: str, status: int) -> Response:
    """A refusal of the token endpoint, shaped like Laravel Passport's (GUESS, api-notes §1)."""
    return _respond({"error": error, "error_description": message, "message": message}, status)


def _list_answer(rows: list[Any], resource: str, page: int, limit: int, total: int) -> Response:
    """One page of a list: the rows and Daftra's ``pagination`` object."""
    return _respond(
        {
            "code": 200,
            "result": "successful",
            "data": rows,
            "pagination": _pagination(resource, page, limit, total),
        }
    )


def _pagination(resource: str, page: int, limit: int, total: int) -> dict[str, Any]:
    page_count = max(1, math.ceil(total / limit))
    return {
        "prev": f"/api2/{resource}/?page={page - 1}" if page > 1 else None,
        "next": f"/api2/{resource}/?page={page + 1}" if page < page_count else None,
        "page": page,
        "page_count": page_count,
        "total_results": total,
    }


# --------------------------------------------------------------------------- the WSGI app


class DaftraApp:
    """The WSGI application answering like ``https://{subdomain}.daftra.com``."""

    #: The routes, declared on the handlers below; bound to each instance.
    routes = Router(suffix=".json")

    def __init__(self, state: DaftraState):
        self.state = state
        self.router = self.routes.bind(
            self,
            not_found=self._not_found,
            method_not_allowed=self._not_allowed,
            before=self._before,
        )

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        return self.router(environ, start_response)

    # ------------------------------------------------------------------ routing

    def _not_found(self, request: Request) -> Response:
        if re.match(r"^/api2/[a-z_]+(?:/[^/]+?)?(?:\.json)?/?$", request.path):
            self.authenticate(request)  # an unknown resource: 401 before 404
        raise _failed(404, "Not Found")

    def _not_allowed(self, request: Request, allowed: tuple[str, ...]) -> Response:
        self.authenticate(request)
        raise _failed(405, "Method Not Allowed")

    def _before(self, request: Request, route: Route) -> None:
        if route.meta.get("auth", True):
            self.authenticate(request)

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
            data = loads_json(raw) if raw.strip() else {}
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
        return _list_answer(list(rows[start : start + limit]), resource, page, limit, len(rows))

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

    @routes.route("*", "/api2/site_info")
    def site_info(self, request: Request) -> Response:
        site = {k: v for k, v in self.state.site.items() if k != "vat_number"}
        return self._single("Site", site)

    @routes.route("*", "/api2/listing/<model>")
    def listing(self, request: Request, model: str) -> Response:
        if model != "dateFormats":
            raise _failed(404, "Item not found")
        titles = {id: title for id, (title, _pattern) in DATE_FORMATS.items()}
        return self._single("Listing", titles)

    def _tax(self, tax: Mapping[str, Any]) -> dict[str, Any]:
        return {key: _wire(value) for key, value in tax.items()}

    @routes.route("*", "/api2/taxes")
    def list_taxes(self, request: Request) -> Response:
        with self.state.lock:
            rows = [{"Tax": self._tax(t)} for _id, t in sorted(self.state.taxes.items())]
        return self._list(request, "taxes", rows)

    @routes.route("*", "/api2/taxes/<record_id>")
    def get_tax(self, request: Request, record_id: str) -> Response:
        tax = self.state.taxes.get(self._id(record_id))
        if tax is None:
            raise _failed(404, "Item not found")
        return self._single("Tax", self._tax(tax))

    # ------------------------------------------------------------------ not migrated
    # Estimates, credit notes, client payments and products: listed and read, never
    # written by a migration (api-notes §3, §5; data keys Estimate (GUESS), CreditNote,
    # ClientPayment, Product).

    _UNMIGRATED = {
        "estimates": "Estimate",
        "credit_notes": "CreditNote",
        "client_payments": "ClientPayment",
        "products": "Product",
    }

    def _unmigrated(self, request: Request, resource: str, record_id: str | None) -> Response:
        key = self._UNMIGRATED[resource]
        with self.state.lock:
            rows = [{k: _wire(v) for k, v in r.items()} for r in getattr(self.state, resource)]
        if record_id is None:
            return self._list(request, resource, [{key: r} for r in rows])
        wanted = self._id(record_id)
        found = next((r for r in rows if _integer(r["id"]) == wanted), None)
        if found is None:
            raise _failed(404, "Item not found")
        return self._single(key, found)

    @routes.route("GET", "/api2/estimates")
    def list_estimates(self, request: Request) -> Response:
        return self._unmigrated(request, "estimates", None)

    @routes.route("GET", "/api2/estimates/<record_id>")
    def get_estimates(self, request: Request, record_id: str) -> Response:
        return self._unmigrated(request, "estimates", record_id)

    @routes.route("GET", "/api2/credit_notes")
    def list_credit_notes(self, request: Request) -> Response:
        return self._unmigrated(request, "credit_notes", None)

    @routes.route("GET", "/api2/credit_notes/<record_id>")
    def get_credit_notes(self, request: Request, record_id: str) -> Response:
        return self._unmigrated(request, "credit_notes", record_id)

    @routes.route("GET", "/api2/client_payments")
    def list_client_payments(self, request: Request) -> Response:
        return self._unmigrated(request, "client_payments", None)

    @routes.route("GET", "/api2/client_payments/<record_id>")
    def get_client_payments(self, request: Request, record_id: str) -> Response:
        return self._unmigrated(request, "client_payments", record_id)

    @routes.route("GET", "/api2/products")
    def list_products(self, request: Request) -> Response:
        return self._unmigrated(request, "products", None)

    @routes.route("GET", "/api2/products/<record_id>")
    def get_products(self, request: Request, record_id: str) -> Response:
        return self._unmigrated(request, "products", record_id)

    @routes.route("*", "/v2/oauth/token", auth=False)
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
        if not state.due_after_in_get:
            header.pop("due_after", None)  # the documented v1 GET has none
        if not state.adjustment_columns:
            header.pop("adjustment_label", None)
            header.pop("adjustment_value", None)
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
                    "included": "1" if _flag(tax.get("included")) else "0",
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

    @routes.route("GET", "/api2/invoices")
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
        return _list_answer(rows, "invoices", page, limit, len(ids))

    @routes.route("GET", "/api2/invoices/<record_id>")
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
        record: dict[str, Any] = dict(INVOICE_DEFAULTS)
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
            elif key == "adjustment_value" and state.adjustment_columns:
                decimal_value = _decimal(value)
                if value not in (None, "") and decimal_value is None:
                    errors[key] = "Must be a number"
                record[key] = decimal_value
            elif key == "adjustment_label" and state.adjustment_columns:
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
            item = new_item(
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
            if (
                isinstance(row, Mapping)
                and row.get("payment_method") in EMAIL_METHODS
                and not _str(row.get("email"))
            ):
                # api-notes §3: a Payment[] row of the invoice create needs the payer's
                # email for paypal and stripe.
                errors[f"Payment.{index}.email"] = "Email is required for this payment method"
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
        return new_payment(
            0,
            str(method or ""),
            amount or ZERO,
            str(invoice.get("currency_code") or self.state.site["currency_code"]),
            when,
            _str(row.get("transaction_id")),
            status=1 if status is None else status,
            notes=_str(row.get("notes")),
        )

    @routes.route("*", "/api2/invoices")
    def add_invoice(self, request: Request) -> Response:
        record = self._invoice_from_body(self._body(request), None)
        with self.state.lock:
            if record["no"] is None:
                record["no"] = self.state.new_number()
            return self._created(self.state.add_invoice(record))

    @routes.route(("PUT", "POST"), "/api2/invoices/<record_id>")
    def edit_invoice(self, request: Request, record_id: str) -> Response:
        i = self._id(record_id)
        existing = self.state.invoice(i)
        if existing is None or existing.get("type", 0) != 0:
            raise _failed(404, "Invoice not found")
        record = self._invoice_from_body(self._body(request), existing)
        self.state.replace_invoice(i, record)
        return self._done()

    @routes.route("DELETE", "/api2/invoices/<record_id>")
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
            return sorted(ids, key=lambda c: mix(self.state.seed, 104729, c))
        return ids[::-1] if descending else ids

    @routes.route("GET", "/api2/clients")
    def list_clients(self, request: Request) -> Response:
        with self.state.lock:
            order = self._client_order(request)
            page, limit = self._page(request)
            chosen = order[(page - 1) * limit : page * limit]
            rows = [{"Client": self._client_wire(self.state.clients[c])} for c in chosen]
        return _list_answer(rows, "clients", page, limit, len(order))

    @routes.route("GET", "/api2/clients/<record_id>")
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
        record: dict[str, Any] = dict.fromkeys(CLIENT_TEXTS)
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
            if key in CLIENT_TEXTS or key == "client_number":
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

    @routes.route("*", "/api2/clients")
    def add_client(self, request: Request) -> Response:
        record = self._client_from_body(self._body(request), None)
        return self._created(self.state.add_client(record))

    @routes.route(("PUT", "POST"), "/api2/clients/<record_id>")
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

    @routes.route("GET", "/api2/invoice_payments")
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
        return _list_answer(rows, "invoice_payments", page, limit, len(found))

    @routes.route("*", "/api2/invoice_payments/<record_id>")
    def get_payment(self, request: Request, record_id: str) -> Response:
        if request.method != "GET":
            raise _failed(405, "Method Not Allowed")
        hit = self.state.payment(self._id(record_id))
        if hit is None:
            raise _failed(404, "Item not found")
        return self._single("InvoicePayment", self._payment_wire(hit[0], hit[1]["id"]))

    @routes.route("*", "/api2/invoice_payments")
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
