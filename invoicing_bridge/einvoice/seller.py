"""Who issues the invoices: the seller's name, VAT id and address, read from a profile.

Backends do not all expose the account's own details, so an e-invoice export reads them
from the profile's ``seller`` table::

    [profiles.shop.seller]
    name = "Nile Valley Trading Co."
    vat_id = "EG204567891"          # a country prefix is added when missing
    country = "EG"                  # ISO 3166-1 alpha-2
    line1 = "12 Talaat Harb St."
    city = "Cairo"
    postal_code = "11511"
    iban = "EG380019000500000000263180002"   # payment means 30 (credit transfer)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..exceptions import ConfigurationError
from ..models import Address

if TYPE_CHECKING:
    from ..config import Profile

__all__ = ["UNTAXED_CATEGORIES", "Seller"]

#: VAT category codes (UNCL5305) an untaxed line may be given: exempt, zero rated, not
#: subject to VAT, export outside the EU, intra-community supply, reverse charge.
UNTAXED_CATEGORIES = frozenset({"E", "Z", "O", "G", "K", "AE"})
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_TEXT_OPTIONS = (
    "name",
    "vat_id",
    "registration_id",
    "line1",
    "line2",
    "city",
    "state",
    "postal_code",
    "country",
    "email",
    "phone",
    "iban",
    "bic",
    "payment_means",
    "untaxed_category",
    "exemption_reason",
)
_LIST_OPTIONS = ("other_taxes",)


@dataclass(frozen=True)
class Seller:
    """The issuer of e-invoices (EN 16931 BG-4).

    ``untaxed_category`` and ``exemption_reason`` describe lines without VAT, and the
    charges that carry no VAT (other taxes, adjustments); ``other_taxes`` names line taxes
    that are not VAT (Egypt's stamp duty), written as document-level charges.
    ``payment_means`` is a UNCL4461 code; default ``30`` (credit transfer) when ``iban``
    is set, else ``1`` (not defined).
    """

    name: str
    vat_id: str
    address: Address
    registration_id: str | None = None
    email: str | None = None
    phone: str | None = None
    iban: str | None = None
    bic: str | None = None
    payment_means: str | None = None
    untaxed_category: str = "E"
    exemption_reason: str = "Exempt from VAT"
    other_taxes: tuple[str, ...] = field(default=())

    @property
    def country(self) -> str:
        assert self.address.country is not None
        return self.address.country

    @property
    def payment_means_code(self) -> str:
        if self.payment_means:
            return self.payment_means
        return "30" if self.iban else "1"

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, profile: str | None = None) -> Seller:
        """Read a ``seller`` table. Raises :class:`ConfigurationError` naming the option."""

        def fail(message: str, option: str) -> ConfigurationError:
            return ConfigurationError(message, profile=profile, option=f"seller.{option}")

        if not isinstance(data, Mapping):
            raise ConfigurationError("must be a table", profile=profile, option="seller")
        for key in data:
            if key not in _TEXT_OPTIONS and key not in _LIST_OPTIONS:
                known = ", ".join(_TEXT_OPTIONS + _LIST_OPTIONS)
                raise fail(f"unknown option (known: {known})", str(key))
        values: dict[str, str | None] = {}
        for key in _TEXT_OPTIONS:
            value = data.get(key)
            if value is not None and not isinstance(value, str):
                raise fail("must be a string", key)
            values[key] = value.strip() or None if value is not None else None
        for required in ("name", "vat_id", "country"):
            if not values[required]:
                raise fail("is required for e-invoices", required)
        country = (values["country"] or "").upper()
        if not _COUNTRY.match(country):
            raise fail(f"{values['country']!r} is not an ISO 3166-1 alpha-2 code", "country")
        category = (values["untaxed_category"] or "E").upper()
        if category not in UNTAXED_CATEGORIES:
            allowed = ", ".join(sorted(UNTAXED_CATEGORIES))
            raise fail(f"{category!r} is not one of {allowed}", "untaxed_category")
        other = data.get("other_taxes", [])
        if not isinstance(other, list) or not all(isinstance(t, str) for t in other):
            raise fail("must be a list of tax names", "other_taxes")
        return cls(
            name=values["name"] or "",
            vat_id=values["vat_id"] or "",
            address=Address(
                line1=values["line1"],
                line2=values["line2"],
                city=values["city"],
                state=values["state"],
                postal_code=values["postal_code"],
                country=country,
            ),
            registration_id=values["registration_id"],
            email=values["email"],
            phone=values["phone"],
            iban=values["iban"],
            bic=values["bic"],
            payment_means=values["payment_means"],
            untaxed_category=category,
            exemption_reason=values["exemption_reason"] or "Exempt from VAT",
            other_taxes=tuple(other),
        )

    @classmethod
    def from_profile(cls, profile: Profile) -> Seller:
        """The seller of a profile's ``[profiles.NAME.seller]`` table.

        Raises :class:`ConfigurationError` when the table is missing or invalid.
        """
        table = profile.sections.get("seller")
        if table is None:
            raise ConfigurationError(
                f"no [profiles.{profile.name}.seller] table: e-invoices need the seller's "
                "name, vat_id and country",
                profile=profile.name,
                option="seller",
            )
        return cls.from_mapping(table, profile=profile.name)
