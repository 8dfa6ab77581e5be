"""What an ``acme`` profile may say: ``base_url`` and ``api_key`` (a secret), ``page_size``
and the core's HTTP options (timeouts, retries, rate limit)."""

from __future__ import annotations

from marshmallow import fields

from invoicing_bridge.backends.http import HTTPOptions


class AcmeOptions(HTTPOptions):
    """``base_url`` (from HTTPOptions) is required here; the key is a secret: masked in
    ``repr()``, errors and logs."""

    base_url = fields.Url(require_tld=False, schemes={"http", "https"}, required=True)
    api_key = fields.String(required=True, metadata={"secret": True})
    page_size = fields.Integer(load_default=50)
