"""The Daftra backend: Daftra's ``/api2`` (v1) REST API over HTTP.

Options (``get_backend("daftra", ...)`` or a config profile):

``subdomain`` or ``base_url``
    The account (``myshop`` → ``https://myshop.daftra.com/api2``) or the API root itself.
``api_key``
    The ``apikey`` header (Settings → API in Daftra). Secret.
``client_id``, ``client_secret``, ``username``, ``password``
    Instead of ``api_key``: OAuth's password grant at ``{site}/v2/oauth/token`` (on the
    site root, not under ``/api2``). The token is cached for the backend's life, renewed
    when it expires and once when an answer says 401. ``client_secret`` and ``password``
    are secret. Exactly one of the two kinds of authentication is sent: Daftra refuses a
    request with a stale ``Authorization`` header even when the ``apikey`` is right.
``date_format``
    A strptime pattern for the account's display dates (``%d/%m/%Y``). Without it the
    backend asks the account (``site_info``); ISO dates are always accepted.
``page_size``
    Records per list request (``limit``), 100 by default.

plus the HTTP options of every backend (timeouts, retries, rate limit, pool size).

Facts about the API are from ``api-notes/daftra.md`` (quoted as "api-notes §n").
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import threading
import time
from collections.abc import Iterator, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import quote, urlsplit

import urllib3
from marshmallow import Schema, ValidationError, fields, validate

from invoicing_bridge.backends.base import RECORD_KINDS, Feature
from invoicing_bridge.backends.http import ErrorInfo, HTTPBackend, HTTPOptions, HTTPResponse
from invoicing_bridge.exceptions import (
    AuthenticationError,
    BackendError,
    ConfigurationError,
    InvalidRequest,
    MappingError,
    NotFound,
)
from invoicing_bridge.models import (
    Client,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentStatus,
    TaxRate,
)
from invoicing_bridge.schemas.fields import to_id

from . import _json
from .dates import DateReader, pattern_from_daftra, valid_pattern
from .schemas import (
    DaftraClientBodySchema,
    DaftraClientPaymentSchema,
    DaftraClientSchema,
    DaftraInvoiceBodySchema,
    DaftraInvoiceSchema,
    DaftraPaymentBodySchema,
    DaftraPaymentSchema,
    DaftraTaxSchema,
    MappingContext,
    TaxInfo,
    create_body,
    merge_client_update,
    merge_invoice_update,
    to_int_or_none,
    unwrap_row,
    using,
)

__all__ = ["DaftraBackend", "DaftraOptions", "parse_error"]

log = logging.getLogger("invoicing_bridge.daftra")

_OAUTH_OPTIONS = ("client_id", "client_secret", "username", "password")
#: Every list is read in a fixed, explicit order: Daftra's defaults differ per endpoint
#: (invoices newest first, clients in a stable but arbitrary order; api-notes §5, §6.9).
_ORDER = {"sort": "id", "direction": "ASC"}
_CATEGORY_BY_CODE = {
    400: "invalid",
    401: "authentication",
    403: "permission",
    404: "not_found",
    409: "conflict",
    422: "invalid",
    429: "rate_limited",
}

_INVOICE = DaftraInvoiceSchema()
_CLIENT = DaftraClientSchema()
_PAYMENT = DaftraPaymentSchema()
_CLIENT_PAYMENT = DaftraClientPaymentSchema()
_TAX = DaftraTaxSchema()
_INVOICE_BODY = DaftraInvoiceBodySchema()
_CLIENT_BODY = DaftraClientBodySchema()
_PAYMENT_BODY = DaftraPaymentBodySchema()


def _check_date_format(value: str) -> None:
    if not valid_pattern(value):
        raise ValidationError(
            f"{value!r} is not a strptime pattern for a whole date (try %d/%m/%Y)"
        )


class _Identifier(fields.String):
    """A string option that may be written as a number in a config file (``client_id = 1``)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        return super()._deserialize(value, attr, data, **kwargs)


class DaftraOptions(HTTPOptions):
    """The options of :class:`DaftraBackend` (see the module docstring)."""

    subdomain = fields.String(
        load_default=None,
        validate=validate.Regexp(
            r"^[A-Za-z0-9][A-Za-z0-9-]*$",
            error="a Daftra subdomain such as 'myshop', not a host name or URL",
        ),
    )
    api_key = fields.String(load_default=None, metadata={"secret": True})
    client_id = _Identifier(load_default=None)
    client_secret = fields.String(load_default=None, metadata={"secret": True})
    username = fields.String(load_default=None)
    password = fields.String(load_default=None, metadata={"secret": True})
    date_format = fields.String(load_default=None, validate=_check_date_format)
    page_size = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


def _flatten_errors(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(_flatten_errors(inner, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return {prefix or "_": "; ".join(value)}
    return {prefix or "_": value}


def _category(code: int | None) -> str | None:
    if code is None or code < 400:
        return None
    if code >= 500:
        return "server"
    return _CATEGORY_BY_CODE.get(code, "invalid")


def parse_error(status: int, data: Any, text: str) -> ErrorInfo | None:
    """Daftra's error bodies for the core's HTTP layer.

    - ``{"result": "failed", "code": .., "message": ..}`` (v1), with
      ``validation_errors`` on a 400 (api-notes §2);
    - a 2xx whose ``result`` is anything but ``successful``/``success``: an error too, of
      the class its own ``code`` names (AIZEN treats it so);
    - Laravel's ``{"message": "Unauthenticated."}`` and Passport's token errors
      (``invalid_client``/``invalid_grant``: bad OAuth credentials).

    Non-JSON bodies are left to the core (a 2xx HTML page is a TransportError).
    """
    if not isinstance(data, Mapping):
        return None
    ok = 200 <= status < 300
    result = data.get("result")
    failed = result is False or (
        isinstance(result, str) and result.strip().lower() not in ("successful", "success")
    )
    if ok and not failed:
        return None
    message = next(
        (
            data[key]
            for key in ("message", "error_description", "error")
            if isinstance(data.get(key), str) and data[key]
        ),
        None,
    )
    raw_errors = data.get("validation_errors") or data.get("errors")
    field_errors = _flatten_errors(raw_errors) if raw_errors else {}
    category: str | None = None
    if ok:
        category = _category(to_int_or_none(data.get("code")))
        if category is None and field_errors:
            category = "invalid"
        message = message or "Daftra answered result: failed"
    elif data.get("error") in ("invalid_client", "invalid_grant"):
        category = "authentication"
    return ErrorInfo(
        message=message, field_errors=field_errors, category=category, code=data.get("code")
    )


def _norm(text: str | None) -> str:
    return " ".join((text or "").split()).casefold()


def _path_id(id: str) -> str:
    return quote(str(id).strip(), safe="")


CENT = Decimal("0.01")


def daftra_tax_total(invoice: Invoice) -> Decimal:
    """The tax Daftra stores for ``invoice``: per line and tax, the line's net less its
    share of the invoice discount, times the rate, rounded half up to the cent. A negative
    adjustment is written as discount too (Daftra has no other place for it), so it
    counts."""
    subtotal = sum((item.net for item in invoice.items), Decimal(0))
    discount = invoice.discount_total - min(invoice.adjustment, Decimal(0))
    total = Decimal(0)
    for item in invoice.items:
        share = discount * item.net / subtotal if subtotal else Decimal(0)
        base = item.net - share
        for tax in item.taxes:
            total += (base * tax.rate / 100).quantize(CENT, ROUND_HALF_UP)
    return total


class DaftraBackend(HTTPBackend):
    """Invoices, clients and invoice payments of a Daftra account through ``/api2``.

    - Lists read every page until ``page >= page_count``, in an explicit order
      (``sort=id&direction=ASC``), with no page cap; filters Daftra might ignore are
      checked again on each row (api-notes §3: unknown filters are silently ignored).
    - ``iter_invoices(since=...)`` filters on the **invoice date** (``date_from``):
      Daftra has no modified-since filter. Debit notes and advance payments, which share
      the invoice list but not ``/invoices/{id}``, are skipped.
    - Creates answer 202 with an id; the record is then read back as stored.
    - Updates read the record, lay the neutral fields over it and PUT the whole of it:
      a PUT replaces every field, so what the neutral model does not carry is kept.
    - Line taxes are tax ids; they are resolved through ``/taxes`` (cached per instance),
      and on write a rate maps to an existing exclusive tax of that rate (the one of the
      same name when several) or raises MappingError naming the rate.
    - ``iter_payments()`` sends ``include_client_credit=1``: without it Daftra hides
      client-credit payments (api-notes §5). ``iter_payments(invoice_id=...)`` reads the
      payments embedded in the invoice.

    Raises the core's exceptions: ``AuthenticationError`` (401), ``NotFound`` (404),
    ``InvalidRequest`` with ``field_errors`` (400 ``validation_errors``), ``ServerError``,
    ``RateLimited``, ``TransportError`` (connection, HTML instead of JSON), and
    ``MappingError`` for a payload or a neutral record that cannot be mapped.
    """

    name = "daftra"
    features = frozenset(
        {
            Feature.LIST_INVOICES,
            Feature.GET_INVOICE,
            Feature.FIND_INVOICE,
            Feature.CREATE_INVOICE,
            Feature.UPDATE_INVOICE,
            Feature.DELETE_INVOICE,
            Feature.LIST_CLIENTS,
            Feature.GET_CLIENT,
            Feature.FIND_CLIENT,
            Feature.CREATE_CLIENT,
            Feature.UPDATE_CLIENT,
            Feature.LIST_PAYMENTS,
            Feature.GET_PAYMENT,
            Feature.RECORD_PAYMENT,
            Feature.DRAFT_INVOICES,  # draft=1 is stored as a draft
            Feature.PARSE,
            Feature.ITEM_TAX_DETAIL,  # reads carry each line's tax1/tax2
            Feature.PAYMENT_DATES,  # a recorded payment keeps the date it is given
        }
    )
    Options = DaftraOptions
    location_options = ("base_url", "subdomain")  # a failed check() names the one set

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        o = self.options
        self.base_url = _api_root(o)
        self.site_root = _site_root(self.base_url)
        self.auth = _auth_mode(o)
        headers = {"Content-Type": "application/json"}
        if self.auth == "api_key":
            headers["apikey"] = o["api_key"]
        self.http = self._make_http(
            base_url=self.base_url, headers=headers, error_parser=parse_error
        )
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = threading.Lock()
        self._taxes: dict[str, TaxInfo] | None = None
        self._taxes_refreshed = False
        self._tax_lock = threading.RLock()
        self._site: Mapping[str, Any] | None = None
        self._setup_mapping(online=True)

    def _init_offline(self) -> None:
        self._setup_mapping(online=False)

    def _setup_mapping(self, *, online: bool) -> None:
        self._dates = DateReader(
            self.options.get("date_format"),
            resolve=self._account_date_pattern if online else None,
            backend=self.name,
        )
        self._context = MappingContext(
            backend=self.name,
            dates=self._dates,
            tax_by_id=self._tax_by_id if online else None,
            tax_id_for=self._tax_id_for if online else None,
        )

    # ----------------------------------------------------------------- transport

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> HTTPResponse:
        data = None if body is None else _json.dumps(body).encode("utf-8")
        token = self._ensure_token() if self.auth == "oauth" else None
        try:
            return self.http.request(method, path, params=params, data=data)
        except AuthenticationError:
            if self.auth != "oauth":
                raise
            # The token may have been revoked or expired early: renew it once, try again.
            log.info("%s: 401 with an OAuth token; renewing the token once", self.name)
            self._fetch_token(stale=token)
            return self.http.request(method, path, params=params, data=data)

    def _get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return _json.loads(self._call("GET", path, params=params).text)

    def _send(self, method: str, path: str, body: Any) -> Any:
        response = self._call(method, path, body=body)
        return _json.loads(response.text) if response.text.strip() else None

    def _create(self, path: str, body: Any) -> str:
        """POST a create; Daftra answers 202 ``{"id": "2415"}`` (api-notes §2)."""
        answer = self._send("POST", path, body)
        new_id = to_id(answer.get("id")) if isinstance(answer, Mapping) else None
        if new_id is None:
            raise BackendError(
                "the create was accepted but the answer carries no id",
                backend=self.name,
                method="POST",
                path=path,
                details=answer,
            )
        return new_id

    def _record(self, path: str) -> Mapping[str, Any]:
        """The ``data`` member of a single-record answer (``{"Invoice": {...}}``)."""
        answer = self._get(path)
        data = answer.get("data") if isinstance(answer, Mapping) else None
        if not isinstance(data, Mapping):
            raise MappingError(f"GET {path}: the answer has no data object", backend=self.name)
        return data

    def _pages(self, path: str, params: Mapping[str, Any]) -> Iterator[list[Any]]:
        """Every page of a list, until ``page >= page_count``; never a page cap."""
        limit = self.options["page_size"]
        page = 1
        while True:
            answer = self._get(path, {**params, "page": page, "limit": limit})
            rows = answer.get("data") if isinstance(answer, Mapping) else None
            if rows is None:
                rows = []
            if not isinstance(rows, list):
                raise MappingError(f"GET {path}: data is not a list", backend=self.name)
            yield rows
            pagination = answer.get("pagination") if isinstance(answer, Mapping) else None
            page_count = (
                to_int_or_none(pagination.get("page_count"))
                if isinstance(pagination, Mapping)
                else None
            )
            if page_count is None:
                if len(rows) < limit:  # no pagination object: a short page is the last
                    return
            elif page >= page_count:
                return
            page += 1

    # ----------------------------------------------------------------- OAuth

    def _ensure_token(self) -> str:
        with self._token_lock:
            if self._token is not None and time.monotonic() < self._token_expires:
                return self._token
        return self._fetch_token(stale=self._token)

    def _fetch_token(self, *, stale: str | None) -> str:
        """The password grant (api-notes §1): multipart form data at the site root."""
        with self._token_lock:
            if self._token is not None and self._token != stale:
                return self._token  # another thread renewed it meanwhile
            o = self.options
            form = {name: str(o[name]) for name in _OAUTH_OPTIONS}
            form["grant_type"] = "password"
            body, content_type = urllib3.encode_multipart_formdata(form)
            # A stale Bearer header must not ride along (Daftra refuses it).
            self.http.set_header("Authorization", None)
            self._token = None
            response = self.http.request(
                "POST",
                f"{self.site_root}/v2/oauth/token",
                data=body,
                headers={"Content-Type": content_type},
                retry=True,  # asking for a token twice does no harm
            )
            answer = response.data if isinstance(response.data, Mapping) else {}
            token = answer.get("access_token")
            if not isinstance(token, str) or not token:
                raise AuthenticationError(
                    "the token endpoint answered without an access_token",
                    backend=self.name,
                    method="POST",
                    path="/v2/oauth/token",
                    status_code=response.status_code,
                )
            self.http.add_secret(token)
            refresh = answer.get("refresh_token")
            if isinstance(refresh, str):
                self.http.add_secret(refresh)
            kind = str(answer.get("token_type") or "Bearer").strip()
            kind = "Bearer" if kind.lower() == "bearer" else kind
            self.http.set_header("Authorization", f"{kind} {token}")
            lifetime = to_int_or_none(answer.get("expires_in"))
            self._token_expires = (
                math.inf if not lifetime else time.monotonic() + max(0.0, lifetime - 30.0)
            )
            self._token = token
            log.debug("%s: obtained an OAuth token (expires in %s s)", self.name, lifetime)
            return token

    # ----------------------------------------------------------------- mapping

    def _load(self, schema: Schema, row: Any, what: str) -> Any:
        with using(self._context):
            try:
                return schema.load(row)
            except ValidationError as exc:
                messages: Any = exc.messages
                flat = _flatten_errors(messages)
                raise MappingError(
                    f"cannot map this Daftra {what}: "
                    + "; ".join(f"{k}: {v}" for k, v in flat.items()),
                    backend=self.name,
                    field=next(iter(flat), None),
                    errors=messages if isinstance(messages, Mapping) else {"_": messages},
                ) from None

    def _dump(self, schema: Schema, record: Any) -> dict[str, Any]:
        with using(self._context):
            dumped: dict[str, Any] = schema.dump(record)
            return dumped

    def parse_payload(self, kind: str, payload: Any) -> list[Invoice | Client | Payment]:
        """Map a saved Daftra payload offline: a whole answer (single or list), a bare
        record, a list row (``{"Invoice": {...}, "Client": {...}}``) or a JSON array of
        those. ``kind`` ``payment`` reads invoice payments and client payments.

        Raises MappingError.
        """
        if kind not in RECORD_KINDS:
            raise MappingError(
                f"unknown record kind {kind!r}; expected one of {', '.join(RECORD_KINDS)}",
                backend=self.name,
            )
        if isinstance(payload, str | bytes):
            try:
                payload = _json.loads(payload)
            except ValueError as exc:
                raise MappingError(f"not JSON: {exc}", backend=self.name) from None
        records: list[Invoice | Client | Payment] = []
        for row in _payload_rows(payload, self.name):
            if kind == "invoice":
                records.append(self._load(_INVOICE, row, "invoice"))
            elif kind == "client":
                records.append(self._load(_CLIENT, row, "client"))
            elif _is_client_payment(row):
                records.append(self._load(_CLIENT_PAYMENT, row, "client payment"))
            else:
                records.append(self._load(_PAYMENT, row, "invoice payment"))
        return records

    # ----------------------------------------------------------------- account

    def _site_info(self) -> Mapping[str, Any]:
        if self._site is None:
            site = unwrap_row(self._record("site_info.json"), "Site")
            self._site = site
        return self._site

    def _account_date_pattern(self) -> str | None:
        """The account's display format: ``site_info.date_format``, an id whose title
        ``/listing/dateFormats`` gives (api-notes §6.2), or a pattern itself."""
        value = self._site_info().get("date_format")
        text = str(value).strip() if value is not None else ""
        if not text:
            return None
        title: Any = text
        if text.isdigit():
            try:
                listing = self._record("listing/dateFormats.json").get("Listing")
            except (NotFound, InvalidRequest):
                listing = None
            title = listing.get(text) if isinstance(listing, Mapping) else None
            if isinstance(title, Mapping):
                title = title.get("title")
        pattern = pattern_from_daftra(title)
        if pattern is None:
            log.warning(
                "%s: the account's date format %r (%r) is not understood; ambiguous dates "
                "will fail until the date_format option is set",
                self.name,
                text,
                title,
            )
        return pattern

    def check_connection(self) -> dict[str, Any]:
        """``GET site_info``: who the key belongs to. Raises AuthenticationError."""
        site = self._site_info()
        return {
            "backend": self.name,
            "auth": self.auth,
            "site_id": site.get("id"),
            "business_name": site.get("business_name"),
            "subdomain": site.get("subdomain"),
            "currency": site.get("currency_code"),
            "country": site.get("country_code"),
            "date_format": self._dates.pattern,
        }

    # ----------------------------------------------------------------- taxes

    def _tax_table(self, *, refresh: bool = False) -> dict[str, TaxInfo]:
        with self._tax_lock:
            if self._taxes is None or refresh:
                taxes: dict[str, TaxInfo] = {}
                for rows in self._pages("taxes.json", _ORDER):
                    for row in rows:
                        info: TaxInfo = self._load(_TAX, row, "tax")
                        taxes[info.id] = info
                self._taxes = taxes
            return self._taxes

    def _tax_by_id(self, tax_id: str) -> TaxInfo | None:
        with self._tax_lock:
            taxes = self._tax_table()
            if tax_id not in taxes and not self._taxes_refreshed:
                self._taxes_refreshed = True  # a tax added since: read the list once more
                taxes = self._tax_table(refresh=True)
            return taxes.get(tax_id)

    def _tax_id_for(self, tax: TaxRate, field: str) -> str:
        taxes = list(self._tax_table().values())
        fitting = [t for t in taxes if t.rate == tax.rate and not t.included]
        if not fitting:
            available = ", ".join(
                f"{t.name} {t.rate}%{' (inclusive)' if t.included else ''}" for t in taxes
            )
            raise MappingError(
                f"no Daftra tax with the rate {tax.rate}% ({tax.name}) exists in this "
                f"account; create it in Daftra first. Taxes found: {available or 'none'}",
                backend=self.name,
                field=field,
            )
        named = [t for t in fitting if _norm(t.name) == _norm(tax.name)]
        return (named or fitting)[0].id

    # ----------------------------------------------------------------- invoices

    def iter_invoices(
        self,
        *,
        since: dt.date | None = None,
        status: InvoiceStatus | str | None = None,
        client_id: str | None = None,
    ) -> Iterator[Invoice]:
        """Every invoice, page by page. ``since`` keeps invoices *dated* on or after it
        (``date_from``): Daftra has no modified-since filter."""
        status = InvoiceStatus.coerce(status)  # "open" too; a typo is refused
        params: dict[str, Any] = {**_ORDER, "recursive": 1}
        if client_id:
            params["client_id"] = client_id
        if since is not None:
            params["date_from"] = since.isoformat()
        for rows in self._pages("invoices.json", params):
            for row in rows:
                if not _is_standard_invoice(row):
                    continue
                invoice: Invoice = self._load(_INVOICE, row, "invoice")
                if client_id and invoice.client.id != client_id:
                    continue
                if since is not None and invoice.issue_date < since:
                    continue
                if status is not None and invoice.status is not status:
                    continue
                yield invoice

    def _read_invoice(self, id: str) -> Mapping[str, Any]:
        return self._record(f"invoices/{_path_id(id)}.json")

    def get_invoice(self, id: str) -> Invoice:
        """Raises NotFound (Daftra: 404 "Invoice not found")."""
        invoice: Invoice = self._load(_INVOICE, self._read_invoice(id), "invoice")
        return invoice

    def _invoice_ids_by_number(self, query: str, keep: Any) -> list[str]:
        ids: list[str] = []
        for rows in self._pages("invoices.json", {**_ORDER, "no": query, "recursive": -1}):
            for row in rows:
                record = unwrap_row(row, "Invoice") if isinstance(row, Mapping) else {}
                number = record.get("no")
                if _is_standard_invoice(row) and isinstance(number, str) and keep(number):
                    new = to_id(record.get("id"))
                    if new is not None:
                        ids.append(new)
        return ids

    def find_invoice(self, number: str) -> Invoice | None:
        """The invoice numbered exactly ``number``; else the one invoice whose number
        normalises the same (``"INV-000002"`` finds ``"000002"``); None when there is none
        or several.

        Searches with Daftra's ``no`` filter (a partial match) and compares each number
        itself, so a filter the server ignores costs time, not correctness.
        """
        exact = self._invoice_ids_by_number(number, lambda found: found == number)
        if exact:
            return self.get_invoice(exact[0])
        wanted = self.normalize_number(number)
        query = wanted if wanted.isdigit() else number
        close = self._invoice_ids_by_number(
            query, lambda found: self.normalize_number(found) == wanted
        )
        if len(close) == 1:
            return self.get_invoice(close[0])
        if close:
            log.warning(
                "%s: %d invoices have a number like %r; none matches exactly",
                self.name,
                len(close),
                number,
            )
        return None

    def create_invoice(self, invoice: Invoice) -> Invoice:
        """POST the v1 body (``Invoice``, ``InvoiceItem``, ``Payment`` as siblings), then
        read the stored invoice back. Raises InvalidRequest, MappingError."""
        body = create_body(self._dump(_INVOICE_BODY, invoice))
        return self.get_invoice(self._create("invoices.json", body))

    def validate_invoice(self, invoice: Invoice) -> None:
        """What :meth:`create_invoice` would refuse, found without writing: the body must
        map (no void status, at most two taxes a line, each rate an existing tax of the
        account, which reads ``/taxes``; a due date not before the issue date) and what
        Daftra validates (payment amounts above zero, a payment method on each).
        ``invoice.client.id`` may be None. Raises MappingError, InvalidRequest."""
        probe = invoice
        if not invoice.client.id:
            probe = dataclasses.replace(invoice, client=dataclasses.replace(invoice.client, id="0"))
        self._dump(_INVOICE_BODY, probe)
        problems: dict[str, str] = {}
        for index, payment in enumerate(invoice.payments):
            if payment.status is not PaymentStatus.COMPLETED:
                continue
            if payment.amount <= 0:
                problems[f"payments[{index}].amount"] = "must be above zero"
            if not payment.method or payment.method == "unknown":
                problems[f"payments[{index}].method"] = "a payment method is required"
        expected = daftra_tax_total(invoice)
        if abs(expected - invoice.tax_total) >= CENT:
            # Daftra computes tax itself, on each line after its share of the invoice
            # discount (Perfex taxes before it): refuse now rather than store other totals.
            problems["tax_total"] = (
                f"Daftra would compute {expected} (each line taxed after its share of the "
                f"invoice discount and any negative adjustment, rounded to the cent), "
                f"not {invoice.tax_total}"
            )
        if problems:
            raise InvalidRequest(
                "Daftra would refuse this invoice", backend=self.name, field_errors=problems
            )

    def update_invoice(self, invoice: Invoice) -> Invoice:
        """Read, modify, write the whole record (a PUT replaces it); return it as stored.

        Payments are not touched (record them with :meth:`record_payment`).
        Raises NotFound, InvalidRequest, MappingError.
        """
        if not invoice.id:
            raise MappingError("an update needs the invoice's id", backend=self.name, field="id")
        current = self._read_invoice(invoice.id)
        body = merge_invoice_update(current, self._dump(_INVOICE_BODY, invoice), self._dates)
        self._send("PUT", f"invoices/{_path_id(invoice.id)}.json", body)
        return self.get_invoice(invoice.id)

    def delete_invoice(self, id: str) -> None:
        """Raises NotFound."""
        self._send("DELETE", f"invoices/{_path_id(id)}.json", None)

    # ----------------------------------------------------------------- clients

    def iter_clients(self) -> Iterator[Client]:
        for rows in self._pages("clients.json", _ORDER):
            for row in rows:
                client: Client = self._load(_CLIENT, row, "client")
                yield client

    def get_client(self, id: str) -> Client:
        """Raises NotFound."""
        client: Client = self._load(_CLIENT, self._record(f"clients/{_path_id(id)}.json"), "client")
        return client

    def find_client(
        self,
        *,
        email: str | None = None,
        tax_number: str | None = None,
        name: str | None = None,
    ) -> Client | None:
        """The first client matching every criterion. Daftra documents no client search
        filter, so the client list is read and compared here."""
        if email is None and tax_number is None and name is None:
            return None
        for client in self.iter_clients():
            if email is not None and _norm(client.email) != _norm(email):
                continue
            if tax_number is not None and (client.tax_number or "").strip() != tax_number.strip():
                continue
            if name is not None and _norm(client.name) != _norm(name):
                continue
            return client
        return None

    def create_client(self, client: Client) -> Client:
        """Raises InvalidRequest (Daftra's validation_errors)."""
        body = create_body(self._dump(_CLIENT_BODY, client))
        return self.get_client(self._create("clients.json", body))

    def update_client(self, client: Client) -> Client:
        """Read, modify, write the whole client record. Raises NotFound, InvalidRequest."""
        if not client.id:
            raise MappingError("an update needs the client's id", backend=self.name, field="id")
        path = f"clients/{_path_id(client.id)}.json"
        body = merge_client_update(self._record(path), self._dump(_CLIENT_BODY, client))
        self._send("PUT", path, body)
        return self.get_client(client.id)

    # ----------------------------------------------------------------- payments

    def iter_payments(self, *, invoice_id: str | None = None) -> Iterator[Payment]:
        """Invoice payments, client-credit ones included (``include_client_credit=1``)."""
        if invoice_id is not None:
            yield from self.get_invoice(invoice_id).payments
            return
        params = {**_ORDER, "include_client_credit": 1}
        for rows in self._pages("invoice_payments.json", params):
            for row in rows:
                payment: Payment = self._load(_PAYMENT, row, "invoice payment")
                yield payment

    def get_payment(self, id: str) -> Payment:
        """Raises NotFound."""
        payment: Payment = self._load(
            _PAYMENT, self._record(f"invoice_payments/{_path_id(id)}.json"), "invoice payment"
        )
        return payment

    def record_payment(self, payment: Payment) -> Payment:
        """POST ``{"InvoicePayment": {...}}`` (amount with four decimals); return it as
        stored. Raises InvalidRequest, MappingError (no ``invoice_id``)."""
        body = self._dump(_PAYMENT_BODY, payment)
        return self.get_payment(self._create("invoice_payments.json", body))


# --------------------------------------------------------------------------- helpers


def _api_root(options: Mapping[str, Any]) -> str:
    base_url, subdomain = options.get("base_url"), options.get("subdomain")
    if base_url and subdomain:
        raise ConfigurationError("daftra: set subdomain or base_url, not both", option="base_url")
    if base_url:
        return str(base_url).rstrip("/")
    if subdomain:
        return f"https://{subdomain}.daftra.com/api2"
    raise ConfigurationError(
        "daftra: set subdomain (e.g. 'myshop') or base_url (the API root, ending in /api2)",
        option="subdomain",
    )


def _site_root(base_url: str) -> str:
    """The site root (where ``/v2/oauth/token`` lives): the API root without ``/api2``."""
    if base_url.endswith("/api2"):
        return base_url[: -len("/api2")]
    parts = urlsplit(base_url)
    return f"{parts.scheme}://{parts.netloc}"


def _auth_mode(options: Mapping[str, Any]) -> str:
    given = [name for name in _OAUTH_OPTIONS if options.get(name)]
    if options.get("api_key"):
        if given:
            raise ConfigurationError(
                "daftra: use api_key or OAuth (client_id, client_secret, username, "
                "password), not both: a request carrying both headers is refused",
                option="api_key",
            )
        return "api_key"
    if len(given) == len(_OAUTH_OPTIONS):
        return "oauth"
    if given:
        missing = next(name for name in _OAUTH_OPTIONS if name not in given)
        raise ConfigurationError(
            "daftra: OAuth needs client_id, client_secret, username and password",
            option=missing,
        )
    raise ConfigurationError(
        "daftra: set api_key, or client_id, client_secret, username and password (OAuth)",
        option="api_key",
    )


def _is_standard_invoice(row: Any) -> bool:
    """Type 0 (or unset): the list also carries debit notes (16) and advance payments (19)."""
    if not isinstance(row, Mapping):
        return True  # let the mapping say what is wrong with it
    kind = unwrap_row(row, "Invoice").get("type")
    return to_int_or_none(kind) in (None, 0)


def _is_client_payment(row: Any) -> bool:
    if not isinstance(row, Mapping):
        return False
    if isinstance(row.get("ClientPayment"), Mapping):
        return True
    if isinstance(row.get("InvoicePayment"), Mapping):
        return False
    try:
        linked = to_id(row.get("invoice_id"))
    except ValidationError:
        linked = None
    return linked is None and "client_id" in row


def _payload_rows(payload: Any, backend: str) -> list[Any]:
    if isinstance(payload, list):
        return payload
    if not isinstance(payload, Mapping):
        raise MappingError(
            f"expected a JSON object or array, got {type(payload).__name__}", backend=backend
        )
    result = payload.get("result")
    if isinstance(result, str) and result.lower() == "failed":
        raise MappingError(
            f"this payload is a Daftra error answer: {payload.get('message')!r}",
            backend=backend,
        )
    if "data" in payload:
        data = payload["data"]
        if isinstance(data, list):
            return data
        if isinstance(data, Mapping):
            return [data]
    return [payload]
