"""The ``perfex`` backend's options: parsed and validated once, when the backend is built."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError, fields, validate

from invoicing_bridge.backends.http import HTTPOptions

__all__ = ["PerfexOptions"]


class _ApiVersion(fields.Field[str]):
    """``2``, ``3`` or ``auto`` (an integer from TOML is fine)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = str(value).strip().lower()
        if text in ("2", "3", "auto"):
            return text
        raise ValidationError("must be 2, 3 or auto")


class _CurrencyMap(fields.Field[dict[str, str]]):
    """``{"USD": "1", "EGP": 3}``: currency code → Perfex currency id."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> dict[str, str]:
        if not isinstance(value, Mapping):
            raise ValidationError("must be a table of currency code = Perfex currency id")
        result: dict[str, str] = {}
        for code, currency_id in value.items():
            code_text = str(code).strip().upper()
            id_text = str(currency_id).strip()
            if not re.fullmatch(r"[A-Z]{3}", code_text):
                raise ValidationError(f"{code!r} is not a 3-letter currency code")
            if isinstance(currency_id, bool) or not id_text.isdigit() or int(id_text) <= 0:
                raise ValidationError(f"{code_text}: {currency_id!r} is not a Perfex currency id")
            result[code_text] = id_text
        return result


class _IdList(fields.Field[list[str]]):
    """A list of Perfex ids (payment modes): ``[1, "2"]``; gateway ids like ``stripe`` too."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[str]:
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            raise ValidationError("must be a list of payment mode ids")
        result = []
        for item in value:
            text = str(item).strip()
            if isinstance(item, bool) or not re.fullmatch(r"[A-Za-z0-9_]+", text):
                raise ValidationError(f"{item!r} is not a payment mode id")
            result.append(text)
        return result


class PerfexOptions(HTTPOptions):
    """Options of the ``perfex`` backend (on top of the shared HTTP options)."""

    #: The API token (a JWT made under Setup → API → API Management).
    token = fields.String(required=True, validate=validate.Length(min=1), metadata={"secret": True})
    #: ``2`` (plain 2.x requests), ``3`` or ``auto``: 3.x extras (page parameters,
    #: Idempotency-Key) that 2.x ignores. Answers are read in both shapes always.
    api_version = _ApiVersion(load_default="auto")
    #: Where the token goes: ``authtoken`` (read by 2.x and 3.x), ``authorization``
    #: (``Authorization: Bearer``, 3.x only) or ``both``.
    auth_header = fields.String(
        load_default="authtoken", validate=validate.OneOf(["authtoken", "authorization", "both"])
    )
    #: Rows per page on 3.x lists (the module caps it at 100).
    page_size = fields.Integer(load_default=100, validate=validate.Range(min=1, max=100))
    #: Currency code → Perfex currency id (no endpoint lists currencies); ids seen on
    #: invoices read are learned as well.
    currencies = _CurrencyMap(load_default=dict)
    #: Payment mode ids allowed on new invoices (default: every active mode of the install).
    payment_modes = _IdList(load_default=list)
    #: The install's number padding (``number_padding_prefixes``, not exposed by the API).
    number_padding = fields.Integer(load_default=6, validate=validate.Range(min=0, max=20))
    #: Lists return summary rows: fetch each invoice in full (items, payments, customer).
    list_details = fields.Boolean(load_default=True)
    #: Concurrent requests reading listed invoices or clients in full, ahead of the
    #: caller. Unset: 4, or the workers of the job reading the list when more (migrate's
    #: ``--workers``, at most 32), so that the source keeps up with the workers.
    detail_workers = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(min=1, max=32)
    )
    #: Customers carry no email in Perfex: keep it on the customer's primary contact.
    primary_contacts = fields.Boolean(load_default=True)
    #: Reads carry no line taxes: infer them from ``total_tax`` and the install's taxes
    #: when exactly one assignment reproduces it.
    infer_line_taxes = fields.Boolean(load_default=True)
