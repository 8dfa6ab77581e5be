"""What mapping needs and the API does not say, as a read-only, typed schema context.

The backend fetches the install's tables once (:mod:`..lookups`) and hands the schemas a
frozen snapshot of them, :class:`PerfexContext`: a load reads it and never writes it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType

from invoicing_bridge.models import TaxRate
from invoicing_bridge.schemas.base import SchemaContext
from invoicing_bridge.schemas.fields import slugify

from ..cents import round_cents

__all__ = ["PerfexContext", "method_slug"]


def _empty() -> Mapping[str, str]:
    return MappingProxyType({})


_SLUGS = {
    "bank": "bank_transfer",
    "bank_transfer": "bank_transfer",
    "bank_deposit": "bank_transfer",
    "wire": "bank_transfer",
    "wire_transfer": "bank_transfer",
    "cash": "cash",
    "cheque": "cheque",
    "check": "cheque",
    "card": "card",
    "credit_card": "card",
    "debit_card": "card",
    "visa": "card",
    "mastercard": "card",
}


def method_slug(name: str) -> str:
    """The neutral payment ``method`` of a Perfex mode name or online-gateway id."""
    slug = slugify(name)
    if slug in _SLUGS:
        return _SLUGS[slug]
    for gateway in ("paypal", "stripe"):
        if slug.startswith(gateway):
            return gateway
    return slug


@dataclass(frozen=True, kw_only=True)
class PerfexContext(SchemaContext):
    """The install's tables as the schemas see them.

    ``currencies``: currency code → Perfex currency id (from the options, plus every id
    learned from invoices read); ``payment_modes``: mode id → name (from
    ``/api/common/payment_mode`` when fetched); ``taxes``: ``(name, rate)`` pairs from
    ``/api/common/tax_data``; ``padding``: the install's number padding;
    ``infer_taxes``: whether line taxes are inferred on reads.
    """

    backend: str = "perfex"
    currencies: Mapping[str, str] = field(default_factory=_empty)
    payment_modes: Mapping[str, str] = field(default_factory=_empty)
    taxes: tuple[tuple[str, Decimal], ...] = ()
    padding: int = 6
    infer_taxes: bool = True

    def currency_code(self, currency_id: str | None) -> str | None:
        if currency_id is None:
            return None
        for code, known in self.currencies.items():
            if known == currency_id:
                return code
        return None

    def currency_id(self, code: str) -> str | None:
        return self.currencies.get(code.upper())

    def method_of(self, mode_id: str | None, name: str | None = None) -> str:
        """The neutral method of a payment's ``paymentmode`` (an id or a gateway id)."""
        if name is None and mode_id is not None:
            name = self.payment_modes.get(mode_id)
        if name:
            return method_slug(name)
        if mode_id and not mode_id.isdigit():
            return method_slug(mode_id)  # an online gateway: "stripe", "paypal"
        return f"perfex_mode_{mode_id}" if mode_id else "unknown"

    def mode_for(self, method: str) -> str | None:
        """The Perfex payment mode id for a neutral method, or None when none matches."""
        wanted = method_slug(method)
        for mode_id, name in self.payment_modes.items():
            if method_slug(name) == wanted:
                return mode_id
        match = re.fullmatch(r"perfex_mode_(\d+)", method)
        if match:
            return match.group(1)
        if wanted in ("paypal", "stripe"):
            return wanted  # Perfex accepts an online gateway id as the mode
        return None

    def tax_for(self, tax: TaxRate) -> tuple[str, Decimal]:
        """The ``(name, rate)`` to send for a neutral tax: the install's own tax with this
        name and rate, else its tax with this rate, else the neutral name as it is."""
        rate = round_cents(tax.rate)
        for name, known_rate in self.taxes:
            if name.casefold() == tax.name.casefold() and known_rate == rate:
                return name, rate
        for name, known_rate in self.taxes:
            if known_rate == rate:
                return name, rate
        return tax.name.replace("|", "/").strip() or "Tax", rate
