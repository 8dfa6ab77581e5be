"""The ``tryton`` backend's options: parsed and validated once, when the backend is built."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from invoicing_bridge.backends.http import HTTPOptions

__all__ = ["TrytonOptions"]


class TrytonOptions(HTTPOptions):
    """``base_url`` is the server root (``http://erp.example.com:8000``); ``database``
    the database name on it; then either ``login`` and ``password``, a Tryton user's
    credentials (JSON-RPC session, ``common.db.login``: every feature), or
    ``application_key``, a user application key (``res.user.application`` of
    application ``rest``: Tryton's REST API, which runs no wizard, so no payments are
    recorded with it)."""

    base_url = fields.Url(require_tld=False, schemes={"http", "https"}, required=True)
    database = fields.String(required=True, validate=validate.Length(min=1))
    login = fields.String(load_default=None, validate=validate.Length(min=1))
    password = fields.String(
        load_default=None, validate=validate.Length(min=1), metadata={"secret": True}
    )
    application_key = fields.String(
        load_default=None, validate=validate.Length(min=1), metadata={"secret": True}
    )
    #: Records per ``search_read`` page.
    page_size = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    #: Tryton asks the user to confirm some actions with a warning (an invoice whose
    #: payment date is in the past: every migrated invoice). True: the backend confirms
    #: them as the desktop client's "Yes" would; False: they raise InvalidRequest.
    accept_warnings = fields.Boolean(load_default=True)
    #: Code of the revenue account invoice lines are booked to (default: the first
    #: revenue account of the company's chart, by code).
    revenue_account = fields.String(load_default=None, allow_none=True)
    #: Name of the invoice payment method used when a payment's method matches none
    #: (default: the first by name).
    default_payment_method = fields.String(load_default=None, allow_none=True)

    @validates_schema
    def _one_way_in(self, data: dict[str, Any], **kwargs: Any) -> None:
        if kwargs.get("partial"):
            return  # offline parsing, or options checked one by one
        key, login, password = (data.get(k) for k in ("application_key", "login", "password"))
        if key and (login or password):
            raise ValidationError(
                "give either application_key or login and password, not both",
                "application_key",
            )
        if not key:
            for name, value in (("login", login), ("password", password)):
                if not value:
                    raise ValidationError(
                        "required (or an application_key instead of login and password)",
                        name,
                    )
