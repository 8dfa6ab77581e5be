"""The emulated module's HTTP side: routing (on the core's :class:`Router`), the token
check, and the controllers (``Invoices``, ``Customers``, ``Contacts``, ``Payments``,
``Common``) answering from a :class:`~.state.PerfexState`, quirks included.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import math
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from werkzeug.wrappers import Request, Response

from invoicing_bridge.emulation import Answer, Router

from ..cents import ZERO, money_text, round_cents
from ..phpforms import decode_form, php_serialize, php_values
from .state import (
    CLIENT_COLUMNS,
    DRAFT_NUMBER,
    HTML_404,
    HTML_500_USORT,
    NO_DATA,
    PERMISSION_MESSAGE,
    STATUS_DRAFT,
    STATUS_UNPAID,
    InvoiceRecord,
    Item,
    PaymentRecord,
    PerfexState,
    _nl2br,
    _now,
    _opt,
    _unb64,
    contact_row,
)

__all__ = ["PerfexApp", "php_json"]

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    422: "Unprocessable Entity",
    500: "Internal Server Error",
}


def php_json(data: Any) -> bytes:
    """``json_encode`` with PHP's default flags: ``\\/`` and ``\\uXXXX`` escapes."""
    return json.dumps(data, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/").encode()


def respond(status: int, body: Any, headers: Sequence[tuple[str, str]] = ()) -> Response:
    """The module's ``$this->response(body, status)``: PHP's JSON, or HTML given as bytes
    (or nothing, for ``None``)."""
    if isinstance(body, bytes):
        payload, content_type = body, "text/html; charset=UTF-8"
    elif body is None:
        payload, content_type = b"", "text/html; charset=UTF-8"
    else:
        payload, content_type = php_json(body), "application/json; charset=utf-8"
    response = Response(
        payload, status=f"{status} {_REASONS.get(status, 'OK')}", content_type=content_type
    )
    for name, value in headers:
        response.headers.add(name, value)
    return response


def refuse(status: int, body: Any, headers: Sequence[tuple[str, str]] = ()) -> Answer:
    """Stop handling and answer this (the module's ``$this->response(...)`` exits)."""
    return Answer(respond(status, body, headers))


def _validation(errors: dict[str, str], *, flag: str = "status") -> dict[str, Any]:
    """CodeIgniter's ``form_validation`` failure: ``error_array()`` + ``validation_errors()``."""
    return {
        flag: False,
        "error": errors,
        "message": "".join(f"<p>{message}</p>\n" for message in errors.values()),
    }


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None


_CI_DECIMAL = re.compile(r"^[\-+]?[0-9]+\.[0-9]+$")


class _Rules:
    """The bits of CodeIgniter ``form_validation`` the module's controllers use."""

    def __init__(self, data: Mapping[str, Any]):
        self.data = data
        self.errors: dict[str, str] = {}

    def _value(self, key: str) -> Any:
        name = key[:-2] if key.endswith("[]") else key
        value = self.data.get(name)
        return value.strip() if isinstance(value, str) else value

    def required(self, key: str, label: str) -> bool:
        value = self._value(key)
        if value in (None, "", {}, []):
            self.errors.setdefault(key, f"The {label} field is required.")
            return False
        return True

    def decimal_above_zero(self, key: str, label: str) -> None:
        if not self.required(key, label):
            return
        value = str(self._value(key))
        if not _CI_DECIMAL.match(value):
            self.errors.setdefault(key, f"The {label} field must contain a decimal number.")
        elif Decimal(value) <= 0:
            self.errors.setdefault(key, f"The {label} field must contain a number greater than 0.")

    @property
    def ok(self) -> bool:
        return not self.errors


class PerfexApp:
    """The WSGI app: routing, authentication and the module's controllers."""

    def __init__(self, state: PerfexState):
        self.state = state
        handlers: dict[str, Callable[[Request, list[str]], None]] = {
            "invoices": self._invoices,
            "customers": self._customers,
            "contacts": self._contacts,
            "payments": self._payments,
            "common": self._common,
            "estimates": self._estimates,
            "credit_notes": self._credit_notes,
            "items": self._items,
        }
        # CodeIgniter's routing: api/<controller>/<args...>; any other path gets its HTML
        # 404 page (the controllers answer an unknown method themselves).
        self.router = Router(not_found=lambda request: respond(404, HTML_404))
        self.controllers = {name: self._controller(name, h) for name, h in handlers.items()}
        for name, serve in self.controllers.items():
            self.router.add("*", f"/api/{name}", serve)
            self.router.add("*", f"/api/{name}/<path:rest>", serve)
        self.router.add("*", "/api/delete/<controller>", self._alternative_delete)
        self.router.add("*", "/api/delete/<controller>/<path:rest>", self._alternative_delete)

    # ----------------------------------------------------------------- WSGI

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        request = Request(environ)
        try:
            response = self.router.dispatch(request)
        except Exception as exc:  # a bug here: answer like PHP does, with an HTML page
            response = respond(
                500,
                (
                    "<html><head><title>Error</title></head><body><h1>A PHP Error was "
                    f"encountered</h1><p>Message: {type(exc).__name__}</p></body></html>"
                ).encode(),
            )
        result: Iterable[bytes] = response(environ, start_response)
        return result

    def _controller(
        self, name: str, handler: Callable[[Request, list[str]], None]
    ) -> Callable[..., Response]:
        """The route handler of one controller: the token check, the token's permissions,
        then ``handler`` with the path's segments (it answers by raising: the module's
        ``$this->response(...)`` exits)."""

        def serve(request: Request, rest: str = "") -> Response:
            args = rest.split("/") if rest else []
            while args and args[-1] == "":
                args.pop()
            self._authenticate(request)
            self._rate_limit()
            if f"{name}:{self._capability(request, args)}" in self.state.denied:
                raise refuse(403, {"status": False, "message": PERMISSION_MESSAGE})
            with self.state.lock:
                handler(request, args)
            raise refuse(500, {"status": False, "message": "no answer"})

        return serve

    def _rate_limit(self) -> None:
        """Module 3.x's limit (``state.rate_limit``): a 429 with the ``X-RateLimit-*``
        headers, Reset a unix time, and no ``Retry-After`` once the window is used up."""
        state = self.state
        if state.rate_limit is None or state.api_version != 3:
            return
        limit, window = state.rate_limit
        now = time.time()
        with state.lock:
            start, used = state.rate_window
            if now - start >= window:
                start, used = now, 0
            used += 1
            state.rate_window = (start, used)
        reset = math.ceil(start + window)
        headers = [
            ("X-RateLimit-Limit", str(limit)),
            ("X-RateLimit-Remaining", str(max(0, limit - used))),
            ("X-RateLimit-Reset", str(reset)),
        ]
        if used > limit:
            raise refuse(
                429, {"status": False, "message": "Rate limit exceeded. Try again later."}, headers
            )

    def _alternative_delete(self, request: Request, controller: str, rest: str = "") -> Response:
        """``api/delete/<controller>/<id>``: DELETE only, checked before the controller."""
        if request.method != "DELETE":
            raise refuse(405, {"status": False, "error": "Unknown method"})
        if controller not in self.controllers:
            raise refuse(404, HTML_404)
        return self.controllers[controller](request, rest)

    @staticmethod
    def _capability(request: Request, args: list[str]) -> str:
        method = request.method.lower()
        if args and args[0] == "search" and method == "get":
            return "search_get"
        return method

    def _authenticate(self, request: Request) -> None:
        """The module's token check (``REST_Controller`` + ``Authorization_Token``): a
        missing or bad token answers **404**, not 401."""
        state = self.state
        token = request.headers.get("authtoken")
        if token is None and state.api_version == 3:
            auth = request.headers.get("Authorization")
            if auth:
                token = auth[7:].strip() if auth.lower().startswith("bearer ") else auth.strip()
            else:
                token = next(
                    (
                        request.args[k]
                        for k in ("authtoken", "Authtoken", "api_key")
                        if k in request.args
                    ),
                    None,
                )
        if not token:
            raise refuse(404, {"status": False, "message": "Token is not defined."})
        if hmac.compare_digest(token.encode(), state.token.encode()):
            return
        parts = token.split(".")
        if len(parts) != 3:
            raise refuse(404, {"status": False, "message": "Wrong number of segments"})
        try:
            json.loads(_unb64(parts[0]))
            json.loads(_unb64(parts[1]))
            signature = _unb64(parts[2])
        except (ValueError, UnicodeDecodeError):
            raise refuse(
                404, {"status": False, "message": "Syntax error, malformed JSON"}
            ) from None
        expected = hmac.new(
            state.jwt_key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256
        ).digest()
        if not hmac.compare_digest(signature, expected):
            raise refuse(404, {"status": False, "message": "Signature verification failed"})
        # A valid JWT that is not in tbluser_api: the module's message is null.
        raise refuse(404, {"status": False, "message": None})

    # ----------------------------------------------------------------- helpers

    def _post_data(self, request: Request) -> dict[str, Any]:
        """``$this->input->post()``: form fields (PHP bracket keys rebuilt). 2.x ignores a
        JSON body on POST; 3.x parses it."""
        content_type = (request.content_type or "").split(";")[0].strip().lower()
        if content_type == "application/json":
            if self.state.api_version == 3:
                return self._json_body(request) or {}
            return {}
        return decode_form(request.form.items(multi=True))

    @staticmethod
    def _json_body(request: Request) -> dict[str, Any] | None:
        try:
            data = json.loads(request.get_data(cache=True) or b"null")
        except ValueError:
            return None
        return data if isinstance(data, dict) and data else None

    def _put_data(self, request: Request) -> dict[str, Any]:
        """2.x ``data_put``: ``json_decode(php://input)``; empty or not JSON → 406. 3.x also
        reads form fields."""
        data = self._json_body(request)
        if data is None and self.state.api_version == 3:
            raw = request.get_data(cache=True, as_text=True)
            data = decode_form(parse_qsl(raw, keep_blank_values=True)) or None
            if data is None and request.form:
                data = decode_form(request.form.items(multi=True))
        if not data:
            raise refuse(406, {"status": False, "message": "Data Not Acceptable OR Not Provided"})
        return data

    def _idempotent(self, request: Request, create: Callable[[], tuple[int, Any]]) -> None:
        """3.x ``Idempotency-Key``: a repeated POST gets the stored answer again."""
        key = request.headers.get("Idempotency-Key") if self.state.api_version == 3 else None
        if key and key in self.state.idempotency:
            status, body = self.state.idempotency[key]
            raise refuse(status, body, [("Idempotency-Replayed", "true")])
        status, body = create()
        if key and status == 200:
            self.state.idempotency[key] = (status, body)
        raise refuse(status, body)

    def _created(self, message: str, record_id: int, *, flag: str = "status") -> dict[str, Any]:
        body: dict[str, Any] = {flag: True, "message": message}
        if self.state.api_version == 3:
            body = {"status": True, "message": message, "record_id": record_id}
        return body

    def _listing(
        self,
        request: Request,
        rows: Sequence[Any],
        render: Callable[[Any], Any] = lambda row: row,
        *,
        flag: str = "status",
    ) -> None:
        """A list answer: 404 when empty; a bare array (2.x, and 3.x without page
        parameters) or a ``{data, meta}`` page (3.x with ``page``/``per_page``). Only the
        rows answered are rendered, so pages of a big table stay cheap."""
        if not rows:
            raise refuse(404, {flag: False, "message": NO_DATA})
        args = request.args
        paged = self.state.api_version == 3 and (
            "page" in args or "per_page" in args or self.state.always_envelope
        )
        if not paged:
            raise refuse(200, [render(row) for row in rows])
        try:
            page = max(1, int(args.get("page", "1")))
            per_page = int(args.get("per_page") or args.get("limit") or 25)
        except ValueError:
            raise refuse(
                422,
                {
                    "status": False,
                    "error": "validation_failed",
                    "message": "Invalid pagination parameters",
                    "errors": {"page": "must be an integer"},
                },
            ) from None
        per_page = min(max(per_page, 1), 100)
        total = len(rows)
        pages = max(1, -(-total // per_page))
        chunk = [render(row) for row in rows[(page - 1) * per_page : page * per_page]]
        meta = {
            "page": page,
            "per_page": per_page,
            "total": total,
            "total_pages": pages,
            "has_more": page < pages,
            "current_page": page,
            "last_page": pages,
        }
        raise refuse(200, {"data": chunk, "meta": meta})

    def _search_term(self, request: Request, args: list[str]) -> str:
        term = "/".join(args[1:])
        if not term and self.state.api_version == 3:
            term = request.args.get("q", "")
            if not term:
                raise refuse(
                    400,
                    {
                        "status": False,
                        "message": "Search term is required. Use /api/invoices/search/{term} "
                        "or /api/invoices/search?q={term}",
                    },
                )
        return term

    @staticmethod
    def _unknown_method() -> Answer:
        return refuse(405, {"status": False, "error": "Unknown method"})

    @staticmethod
    def _int_id(text: str) -> int | None:
        return int(text) if text.isdigit() else None

    # ----------------------------------------------------------------- invoices

    def _invoices(self, request: Request, args: list[str]) -> None:
        state = self.state
        method = request.method
        if method == "GET":
            if args and args[0] == "search":
                term = self._search_term(request, args)
                self._listing(request, state.search_invoices(term), state.invoice_search_row)
            if args:
                invoice = state.invoices.get(self._int_id(args[0]) or -1)
                if invoice is None:
                    raise refuse(404, {"status": False, "message": NO_DATA})
                if state.usort_single_invoice and state.api_version == 2:
                    # usort($data, ...) on the one object: a TypeError on PHP 8.
                    raise refuse(500, HTML_500_USORT)
                raise refuse(200, state.invoice_detail(invoice))
            self._listing(request, self._invoice_list(request), state.invoice_list_row)
        if method == "POST" and not args:
            data = self._post_data(request)
            self._idempotent(request, lambda: self._create_invoice(data))
        if method == "PUT" and args:
            self._update_invoice(args[0], self._put_data(request))
        if method == "DELETE" and args:
            invoice = state.invoices.get(self._int_id(args[0]) or -1)
            if invoice is None:
                raise refuse(404, {"status": False, "message": "Invalid Invoice ID"})
            if state.delete_only_on_last_invoice and invoice.id != max(state.invoices):
                # Invoices_model::delete: option delete_only_on_last_invoice (1 by default).
                raise refuse(404, {"status": False, "message": "Invoice Delete Fail"})
            state.delete_invoice(invoice.id)
            raise refuse(200, {"status": True, "message": "Invoice Deleted Successfully"})
        raise self._unknown_method()

    def _invoice_list(self, request: Request) -> list[InvoiceRecord]:
        state = self.state
        invoices = list(state.invoices.values())
        sort = request.args.get("sort") if state.api_version == 3 else None
        if sort:
            keys = {
                "id": lambda i: i.id,
                "date": lambda i: (i.date, i.id),
                "number": lambda i: (i.number, i.id),
                "total": lambda i: (i.total, i.id),
                "datecreated": lambda i: (i.datecreated, i.id),
            }
            for column in reversed([c.strip() for c in sort.split(",") if c.strip()]):
                name = column.lstrip("-")
                if name not in keys:
                    raise refuse(
                        422,
                        {
                            "status": False,
                            "error": "validation_failed",
                            "message": f"Cannot sort by {name}",
                            "errors": {"sort": f"unknown column {name}"},
                        },
                    )
                invoices.sort(key=keys[name], reverse=column.startswith("-"))
        return invoices

    def _invoice_fields(
        self, data: Mapping[str, Any], rules: _Rules, *, items_key: str, edit_id: int | None
    ) -> None:
        rules.required("number", "Invoice number")
        rules.required("date", "Invoice date")
        rules.required("currency", "Currency")
        rules.required(f"{items_key}[]", "Items")
        rules.required("allowed_payment_modes[]", "Allow Payment Mode")
        rules.required("billing_street", "Billing Street")
        rules.decimal_above_zero("subtotal", "Sub Total")
        rules.decimal_above_zero("total", "Total")
        if "number" not in rules.errors and "date" not in rules.errors:
            number = str(data["number"]).strip().lstrip("0")
            date = _parse_date(data.get("date"))
            original = self.state.invoices.get(edit_id) if edit_id is not None else None
            same = original is not None and number == str(original.number)
            if date is None and original is not None:
                date = original.date
            if (
                not same
                and number.isdigit()
                and date is not None
                and self.state.number_taken(int(number), date.year, edit_id)
            ):
                rules.errors["number"] = "The Invoice number is already in use"

    def _create_invoice(self, data: Mapping[str, Any]) -> tuple[int, Any]:
        state = self.state
        rules = _Rules(data)
        rules.required("clientid", "Customer")
        self._invoice_fields(data, rules, items_key="newitems", edit_id=None)
        if not rules.ok:
            return 404, _validation(rules.errors)
        date = _parse_date(data.get("date"))
        number_text = str(data["number"]).strip().lstrip("0") or "0"
        currency = self._int_id(str(data.get("currency")).strip())
        clientid = self._int_id(str(data.get("clientid")).strip())
        if date is None or not number_text.isdigit() or currency is None or clientid is None:
            return 404, {"status": False, "message": "Invoice Add Fail"}
        draft = "save_as_draft" in data
        invoice_id = state.next_id("invoice")
        invoice = InvoiceRecord(
            id=invoice_id,
            clientid=clientid,
            number=DRAFT_NUMBER if draft else int(number_text),
            prefix=state.prefix,
            number_format=state.number_format,
            datecreated=_now(),
            date=date,
            duedate=_parse_date(data.get("duedate")),
            currency=currency,
            subtotal=round_cents(Decimal(str(data["subtotal"]))),
            total_tax=ZERO,
            total=round_cents(Decimal(str(data["total"]))),
            adjustment=round_cents(_decimal(data.get("adjustment")) or ZERO),
            discount_percent=round_cents(_decimal(data.get("discount_percent")) or ZERO),
            discount_total=round_cents(_decimal(data.get("discount_total")) or ZERO),
            discount_type="",
            status=STATUS_DRAFT if draft else STATUS_UNPAID,
            hash=secrets.token_hex(16),
            allowed_payment_modes=php_serialize(
                [str(v) for v in php_values(data.get("allowed_payment_modes"))]
            ),
            items=[],
            clientnote=_opt(_nl2br(str(data.get("clientnote") or ""))),
            adminnote=_opt(data.get("adminnote")),
            terms=_opt(_nl2br(str(data.get("terms") or ""))),
            billing=_address_fields(data, "billing"),
            shipping=_address_fields(data, "shipping", empty=None),
            sale_agent=_int_field(data, "sale_agent", 0),
            show_quantity_as=_int_field(data, "show_quantity_as", 1),
        )
        _apply_settings(invoice, data)
        if invoice.discount_total != 0 or invoice.discount_percent != 0:
            invoice.discount_type = str(data.get("discount_type") or "")
        for order, line in enumerate(php_values(data.get("newitems")), start=1):
            if isinstance(line, Mapping):
                invoice.items.append(self._item(line, order))
        state.invoices[invoice_id] = invoice
        # total_tax is recomputed; subtotal and total stay as sent. The status stays
        # unpaid (overdue is set by Perfex's cron, not on create).
        state.recompute_tax(invoice)
        return 200, self._created("Invoice Added Successfully", invoice_id)

    def _item(self, line: Mapping[str, Any], order: int, item_id: int | None = None) -> Item:
        taxes = []
        for text in php_values(line.get("taxname")):
            name, sep, rate = str(text).partition("|")
            value = _decimal(rate)
            if sep and name.strip() and value is not None:
                taxes.append((name.strip(), round_cents(value)))
        order_text = str(line.get("order") or order)
        item = Item(
            id=item_id or self.state.next_id("item"),
            description=str(line.get("description") or ""),
            long_description=_nl2br(str(line.get("long_description") or "")),
            qty=round_cents(_decimal(line.get("qty")) or ZERO),
            rate=round_cents(_decimal(line.get("rate")) or ZERO),
            unit=str(line.get("unit") or ""),
            item_order=int(order_text) if order_text.isdigit() else order,
            taxes=taxes,
        )
        if self.state.core_at_least(3, 4):
            item.is_optional = str(line.get("is_optional") or "") in ("1", "on", "true")
            item.is_selected = str(line.get("is_selected", "1")) in ("1", "on", "true")
        return item

    def _update_invoice(self, id_text: str, data: dict[str, Any]) -> None:
        state = self.state
        invoice_id = self._int_id(id_text)
        rules = _Rules(data)
        self._invoice_fields(data, rules, items_key="items", edit_id=invoice_id)
        if not rules.ok:
            raise refuse(409, _validation(rules.errors))
        invoice = state.invoices.get(invoice_id or -1)
        if invoice is None:
            raise refuse(409, {"status": False, "message": "Invoice ID Doesn't Not Exist."})
        before = repr(invoice)
        date = _parse_date(data.get("date")) or invoice.date
        invoice.date = date
        if "duedate" in data:
            invoice.duedate = _parse_date(data.get("duedate"))
        number_text = str(data["number"]).strip().lstrip("0")
        if invoice.status != STATUS_DRAFT and number_text.isdigit():
            invoice.number = int(number_text)
        for key in ("clientid", "currency"):
            value = self._int_id(str(data.get(key) or "").strip())
            if value is not None:
                setattr(invoice, key, value)
        invoice.subtotal = round_cents(Decimal(str(data["subtotal"])))
        invoice.total = round_cents(Decimal(str(data["total"])))
        for key in ("adjustment", "discount_percent", "discount_total"):
            if key in data:
                setattr(invoice, key, round_cents(_decimal(data.get(key)) or ZERO))
        if "discount_type" in data:
            invoice.discount_type = str(data.get("discount_type") or "")
        if invoice.discount_total == 0 and invoice.discount_percent == 0:
            invoice.discount_type = ""
        if "adminnote" in data:
            invoice.adminnote = _opt(data.get("adminnote"))
        for key in ("clientnote", "terms"):
            if key in data:
                # nl2br_save_html before update (core pre_query_data_formatters_helper).
                setattr(invoice, key, _opt(_nl2br(str(data.get(key) or ""))))
        invoice.billing = _address_fields(data, "billing", current=invoice.billing)
        if "show_quantity_as" in data:
            invoice.show_quantity_as = _int_field(data, "show_quantity_as", 1)
        # Invoices_model::update resets what the body omits (core 3.2 :746-774).
        _apply_settings(invoice, data)
        invoice.allowed_payment_modes = php_serialize(
            [str(v) for v in php_values(data.get("allowed_payment_modes"))]
        )
        removed = {str(v) for v in php_values(data.get("removed_items"))}
        invoice.items = [i for i in invoice.items if str(i.id) not in removed]
        by_id = {str(i.id): i for i in invoice.items}
        for line in php_values(data.get("items")):
            if not isinstance(line, Mapping):
                continue
            existing = by_id.get(str(line.get("itemid")))
            if existing is None:
                continue
            updated = self._item(line, existing.item_order, item_id=existing.id)
            # update_sales_item_post + the item's taxes (none sent: its taxes are deleted)
            index = invoice.items.index(existing)
            invoice.items[index] = updated
        count = len(invoice.items)
        for offset, line in enumerate(php_values(data.get("newitems")), start=1):
            if isinstance(line, Mapping):
                invoice.items.append(self._item(line, count + offset))
        state.recompute_tax(invoice)
        if repr(invoice) == before:
            # Invoices_model::update returns false when no row changed.
            raise refuse(404, {"status": False, "message": "Invoice Update Fail"})
        state.refresh_status(invoice)
        raise refuse(200, {"status": True, "message": "Invoice Updated Successfully"})

    # ----------------------------------------------------------------- customers

    def _customers(self, request: Request, args: list[str]) -> None:
        state = self.state
        method = request.method
        if method == "GET":
            if args and args[0] == "search":
                term = self._search_term(request, args)
                self._listing(request, state.search_clients(term), state.client_row)
            if args:
                client = state.clients.get(self._int_id(args[0]) or -1)
                if client is None:
                    raise refuse(404, {"status": False, "message": NO_DATA})
                raise refuse(200, state.client_row(client, single=True))
            clients = sorted(
                state.clients.values(), key=lambda c: (c.get("company") or "").casefold()
            )
            self._listing(request, clients, state.client_row)
        if method == "POST" and not args:
            data = self._post_data(request)
            self._idempotent(request, lambda: self._create_client(data))
        if method == "PUT" and args:
            data = self._put_data(request)
            client = state.clients.get(self._int_id(args[0]) or -1)
            if client is None:
                raise refuse(404, {"status": False, "message": "Customers Update Fail."})
            before = dict(client)
            for key in CLIENT_COLUMNS:
                if key in data and key not in ("userid", "datecreated", "addedfrom"):
                    client[key] = _opt(data[key]) if key != "company" else str(data[key])
            if client == before:
                raise refuse(404, {"status": False, "message": "Customers Update Fail."})
            raise refuse(200, {"status": True, "message": "Customers Update Successful."})
        if method == "DELETE" and args:
            userid = self._int_id(args[0])
            if userid is None or userid not in state.clients:
                raise refuse(404, {"status": False, "message": "Customer Delete Fail."})
            del state.clients[userid]
            for cid in [c for c, row in state.contacts.items() if row["userid"] == str(userid)]:
                del state.contacts[cid]
            raise refuse(200, {"status": True, "message": "Customer Delete Successful."})
        raise self._unknown_method()

    def _create_client(self, data: Mapping[str, Any]) -> tuple[int, Any]:
        rules = _Rules(data)
        rules.required("company", "Company")
        if not rules.ok:
            return 404, _validation(rules.errors)
        userid = self.state.next_id("client")
        row: dict[str, str | None] = dict.fromkeys(CLIENT_COLUMNS)
        row.update(
            {
                "userid": str(userid),
                "company": str(data["company"]).strip(),
                "datecreated": _now(),
                "active": "1",
                "country": "0",
                "billing_country": "0",
                "shipping_country": "0",
                "default_language": "",
                "default_currency": "0",
                "show_primary_contact": "0",
                "registration_confirmed": "1",
                "addedfrom": "0",
            }
        )
        for key in CLIENT_COLUMNS:
            if key in data and key not in ("userid", "company", "datecreated", "addedfrom"):
                value = _opt(data[key])
                if value is not None:
                    row[key] = value
        self.state.clients[userid] = row
        return 200, self._created("Client add successful.", userid)

    # ----------------------------------------------------------------- contacts

    def _contacts(self, request: Request, args: list[str]) -> None:
        state = self.state
        method = request.method
        if method == "GET":
            if args and args[0] == "search":
                term = self._search_term(request, args).casefold()
                rows = []
                for contact in state.contacts.values():
                    client = state.clients.get(int(contact["userid"] or 0)) or {}
                    texts = [
                        contact.get(k) for k in ("firstname", "lastname", "email", "phonenumber")
                    ]
                    texts.append(client.get("company"))
                    if any(term in (t or "").casefold() for t in texts):
                        row = {**contact}
                        for key, value in state.client_row(client).items():
                            row.setdefault(key, value)
                        rows.append(row)
                self._listing(request, rows)
            if not args:
                raise refuse(404, {"status": False, "message": NO_DATA})
            rows = [
                dict(c)
                for c in state.contacts.values()
                if c["userid"] == args[0] and (len(args) < 2 or c["id"] == args[1])
            ]
            if len(args) >= 2:
                if not rows:
                    raise refuse(404, {"status": False, "message": NO_DATA})
                raise refuse(200, rows[0])
            self._listing(request, rows)
        if method == "POST" and not args:
            data = self._post_data(request)
            self._idempotent(request, lambda: self._create_contact(data))
        if method == "PUT" and args:
            data = self._put_data(request)
            target = state.contacts.get(self._int_id(args[0]) or -1)
            rules = _Rules(data)
            rules.required("firstname", "First Name")
            rules.required("lastname", "Last Name")
            rules.required("email", "Email")
            if rules.ok and any(
                c["email"] == str(data["email"]).strip() and c is not target
                for c in state.contacts.values()
            ):
                rules.errors["email"] = "This Email is already exists"
            if not rules.ok:
                raise refuse(409, _validation(rules.errors))
            if target is None:
                raise refuse(404, {"status": False, "message": "Contact Update Fail."})
            for key in ("firstname", "lastname", "email", "phonenumber", "title"):
                if key in data:
                    target[key] = _opt(data[key])
            raise refuse(200, {"status": True, "message": "Contact Updated Successfully."})
        if method == "DELETE" and args:
            contact_id = self._int_id(args[0])
            if contact_id is None or contact_id not in state.contacts:
                raise refuse(404, {"status": False, "message": "Invalid Contact ID"})
            del state.contacts[contact_id]
            raise refuse(200, {"status": True, "message": "Contact Deleted Successfuly."})
        raise self._unknown_method()

    def _create_contact(self, data: Mapping[str, Any]) -> tuple[int, Any]:
        state = self.state
        rules = _Rules(data)
        rules.required("firstname", "First Name")
        rules.required("lastname", "Last Name")
        if rules.required("email", "Email") and any(
            c["email"] == str(data["email"]).strip() for c in state.contacts.values()
        ):
            rules.errors["email"] = "This Email is already exists"
        if "send_set_password_email" not in data:
            rules.required("password", "Password")
        if rules.required("customer_id", "Customer Id"):
            userid = self._int_id(str(data["customer_id"]).strip())
            if userid is None or userid not in state.clients:
                rules.errors["customer_id"] = "The Customer Id is not found"
        if not rules.ok:
            return 409, _validation(rules.errors)
        contact_id = state.next_id("contact")
        userid_text = str(data["customer_id"]).strip()
        primary = "is_primary" in data or not any(
            c["userid"] == userid_text for c in state.contacts.values()
        )
        state.contacts[contact_id] = contact_row(
            contact_id,
            userid_text,
            str(data["firstname"]).strip(),
            str(data["lastname"]).strip(),
            str(data["email"]).strip(),
            _opt(data.get("phonenumber")) or "",
            primary=primary,
        )
        state.contact_passwords[contact_id] = "set" if data.get("password") else "link"
        return 200, self._created("Contact added successfully.", contact_id)

    # ----------------------------------------------------------------- payments

    def _payments(self, request: Request, args: list[str]) -> None:
        state = self.state
        method = request.method
        if method == "GET":
            if args and args[0] == "search":
                term = self._search_term(request, args).casefold()
                matches = []
                for payment in state.payments.values():
                    mode = state.payment_modes.get(payment.paymentmode) or {}
                    texts = [mode.get("name"), payment.paymentmode, money_text(payment.amount)]
                    if any(term in (t or "").casefold() for t in texts):
                        matches.append(payment)
                self._listing(request, matches, state.payment_row, flag="paymentmode")
            if args:
                found = state.payments.get(self._int_id(args[0]) or -1)
                if found is None:
                    raise refuse(404, {"paymentmode": False, "message": NO_DATA})
                raise refuse(200, state.payment_row(found))
            payments = list(state.payments.values())
            self._listing(request, payments, state.payment_row, flag="paymentmode")
        if method == "POST" and not args:
            data = self._post_data(request)
            self._idempotent(request, lambda: self._create_payment(data))
        raise self._unknown_method()

    def _create_payment(self, data: Mapping[str, Any]) -> tuple[int, Any]:
        state = self.state
        rules = _Rules(data)
        # The labels are the module's own (Payments::data_post).
        rules.required("invoiceid", "Payment Name")
        rules.required("amount", "Source")
        rules.required("paymentmode", "Status")
        if not rules.ok:
            return 404, _validation(rules.errors, flag="paymentmode")
        invoice = state.invoices.get(self._int_id(str(data["invoiceid"]).strip()) or -1)
        amount = _decimal(data["amount"])
        if invoice is None or amount is None:
            return 404, {"paymentmode": False, "message": "Payment add fail."}
        now = _now()
        payment_id = state.next_id("payment")
        state.add_payment(
            PaymentRecord(
                id=payment_id,
                invoiceid=invoice.id,
                amount=round_cents(amount),
                paymentmode=str(data["paymentmode"]).strip(),
                paymentmethod=str(data.get("paymentmethod") or ""),
                date=now[:10],  # the controller forces date = now()
                daterecorded=now,
                note=str(data.get("note") or ""),
                transactionid=str(data.get("transactionid") or ""),
            ),
            email=True,  # the API cannot set do_not_send_email_template
        )
        if state.api_version == 3:
            return 200, {
                "status": True,
                "message": "Payment add successful.",
                "record_id": payment_id,
            }
        if state.empty_payment_answer:
            # 2.0.8: `return $this->db->insert_id();` before responding: an empty 200.
            return 200, None
        return 200, {"paymentmode": True, "message": "Payment add successful."}

    # ----------------------------------------------------------------- not migrated

    def _read_only(self, request: Request, args: list[str], rows: list[Any]) -> None:
        """``Estimates::data_get`` / ``Credit_notes::data_get``: every row, or one by id;
        404 ``No data were found`` when there is none (the controllers of the module)."""
        if request.method != "GET":
            raise self._unknown_method()
        if args and args[0] != "search":
            found = next((r for r in rows if r.get("id") == args[0]), None)
            if found is None:
                raise refuse(404, {"status": False, "message": NO_DATA})
            raise refuse(200, dict(found))
        self._listing(request, [dict(r) for r in rows])

    def _estimates(self, request: Request, args: list[str]) -> None:
        self._read_only(request, args, self.state.estimates)

    def _credit_notes(self, request: Request, args: list[str]) -> None:
        self._read_only(request, args, self.state.credit_notes)

    def _items(self, request: Request, args: list[str]) -> None:
        """2.x ``Items``: one item by id (``GET /api/items/{id}``) or a search, no list
        (api-notes §7); 3.x lists them too."""
        state = self.state
        if request.method != "GET":
            raise self._unknown_method()
        if not args and state.api_version != 3:
            raise self._unknown_method()
        if args and args[0] == "search":
            term = self._search_term(request, args).casefold()
            self._listing(
                request,
                [dict(i) for i in state.items if term in (i["description"] or "").casefold()],
            )
        self._read_only(request, args, [{**i, "id": i["itemid"]} for i in state.items])

    # ----------------------------------------------------------------- common

    def _common(self, request: Request, args: list[str]) -> None:
        if request.method != "GET":
            raise self._unknown_method()
        kind = args[0] if args else ""
        state = self.state
        if kind == "payment_mode":
            rows: list[Any] = [
                dict(m) for m in state.payment_modes.values() if m.get("invoices_only") != "1"
            ]
        elif kind == "tax_data":
            rows = [dict(t) for t in state.taxes]
        elif kind == "expense_category":
            rows = [dict(c) for c in state.expense_categories]
        else:
            raise refuse(404, {"status": False, "message": "Not valid data"})
        self._listing(request, rows)


def _int_field(data: Mapping[str, Any], key: str, default: int) -> int:
    text = str(data.get(key) or "").strip()
    return int(text) if text.isdigit() else default


def _parse_date(value: Any) -> dt.date | None:
    """``to_sql_date``: ``YYYY-MM-DD`` as is (the emulated install's date format too)."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        return None


def _address_fields(
    data: Mapping[str, Any],
    kind: str,
    *,
    empty: str | None = "",
    current: tuple[str | None, ...] | None = None,
) -> tuple[str | None, ...]:
    values = []
    for index, suffix in enumerate(("street", "city", "state", "zip", "country")):
        key = f"{kind}_{suffix}"
        if key in data:
            value = _opt(data[key])
            if suffix == "street" and value is not None:
                value = _nl2br(value.strip())
            if suffix == "country" and value is not None and not value.isdigit():
                value = None
            values.append(value if value is not None else empty)
        elif current is not None:
            values.append(current[index])
        else:
            values.append(empty if suffix != "country" else None)
    return tuple(values)


def _apply_settings(invoice: InvoiceRecord, data: Mapping[str, Any]) -> None:
    """The settings ``Invoices_model::add``/``update`` derive from what the body has and
    has not (core 3.2 ``Invoices_model.php:746-774``, ``map_shipping_columns``): an absent
    key is not "unchanged" but reset.

    - ``cancel_overdue_reminders``: set (any value) → 1, absent → 0.
    - ``cycles``: absent → 0.
    - ``recurring``: absent → not recurring (``recurring=0``, ``custom_recurring=0``,
      ``recurring_type=null``; a recurring invoice also loses ``cycles``,
      ``total_cycles`` and ``last_recurring_date``); ``"custom"`` → every
      ``repeat_every_custom`` ``repeat_type_custom``; a number → every that many months.
    - ``include_shipping``: set (any value, even ``"0"``) → 1 and
      ``show_shipping_on_invoice`` = 1 only when sent as 1/``on``; absent → 0, the
      shipping columns sent are cleared and ``show_shipping_on_invoice`` = 1.
    """
    invoice.cancel_overdue_reminders = 1 if "cancel_overdue_reminders" in data else 0
    invoice.cycles = _int_field(data, "cycles", 0) if "cycles" in data else 0
    was_recurring = invoice.recurring > 0
    recurring = str(data.get("recurring") or "").strip()
    if recurring == "custom":
        invoice.recurring = _int_field(data, "repeat_every_custom", 0)
        invoice.recurring_type = str(data.get("repeat_type_custom") or "") or None
        invoice.custom_recurring = 1
    elif recurring.isdigit() and int(recurring) > 0:
        invoice.recurring = int(recurring)
        invoice.recurring_type = None
        invoice.custom_recurring = 0
    else:
        invoice.recurring = 0
        invoice.recurring_type = None
        invoice.custom_recurring = 0
        if was_recurring:
            invoice.cycles = 0
            invoice.total_cycles = 0
            invoice.last_recurring_date = None
    if "include_shipping" in data:
        invoice.include_shipping = 1
        shown = str(data.get("show_shipping_on_invoice") or "").strip()
        invoice.show_shipping_on_invoice = 1 if shown in ("1", "on") else 0
        invoice.shipping = _address_fields(data, "shipping", empty=None, current=invoice.shipping)
    else:
        invoice.include_shipping = 0
        invoice.show_shipping_on_invoice = 1
        cleared = {f"shipping_{s}": None for s in ("street", "city", "state", "zip", "country")}
        sent = {k: v for k, v in cleared.items() if k in data}
        invoice.shipping = _address_fields(sent, "shipping", empty=None, current=invoice.shipping)
