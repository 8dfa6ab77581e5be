"""The options of the Daftra backend, checked when the backend is built.

``subdomain`` or ``base_url``
    The account (``myshop`` → ``https://myshop.daftra.com/api2``) or the API root itself.
``api_key``
    The ``apikey`` header (Settings → API in Daftra). Secret.
``client_id``, ``client_secret``, ``username``, ``password``
    Instead of ``api_key``: OAuth's password grant at ``{site}/v2/oauth/token`` (on the
    site root, not under ``/api2``). ``client_secret`` and ``password`` are secret.
    Exactly one of the two kinds of authentication is sent: Daftra refuses a request with
    a stale ``Authorization`` header even when the ``apikey`` is right.
``date_format``
    A strptime pattern for the account's display dates (``%d/%m/%Y``). Without it the
    backend asks the account (``site_info``); ISO dates are always accepted.
``page_size``
    Records per list request (``limit``), 100 by default.
``tax_rounding``
    How the account rounds each line's tax: ``cent`` or ``four`` (kept to four places).
    Without it the backend reads the account's latest invoices once and takes the
    rounding they show; when none shows it, ``cent``.

plus the HTTP options of every backend (timeouts, retries, rate limit, pool size).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from marshmallow import ValidationError, fields, validate

from invoicing_bridge.backends.http import HTTPOptions
from invoicing_bridge.exceptions import ConfigurationError

from .dates import valid_pattern

__all__ = ["OAUTH_OPTIONS", "DaftraOptions", "api_root", "auth_mode", "site_root"]

OAUTH_OPTIONS = ("client_id", "client_secret", "username", "password")


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
    tax_rounding = fields.String(load_default=None, validate=validate.OneOf(("cent", "four")))


def api_root(options: Mapping[str, Any]) -> str:
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


def site_root(base_url: str) -> str:
    """The site root (where ``/v2/oauth/token`` lives): the API root without ``/api2``."""
    if base_url.endswith("/api2"):
        return base_url[: -len("/api2")]
    parts = urlsplit(base_url)
    return f"{parts.scheme}://{parts.netloc}"


def auth_mode(options: Mapping[str, Any]) -> str:
    given = [name for name in OAUTH_OPTIONS if options.get(name)]
    if options.get("api_key"):
        if given:
            raise ConfigurationError(
                "daftra: use api_key or OAuth (client_id, client_secret, username, "
                "password), not both: a request carrying both headers is refused",
                option="api_key",
            )
        return "api_key"
    if len(given) == len(OAUTH_OPTIONS):
        return "oauth"
    if given:
        missing = next(name for name in OAUTH_OPTIONS if name not in given)
        raise ConfigurationError(
            "daftra: OAuth needs client_id, client_secret, username and password",
            option=missing,
        )
    raise ConfigurationError(
        "daftra: set api_key, or client_id, client_secret, username and password (OAuth)",
        option="api_key",
    )
