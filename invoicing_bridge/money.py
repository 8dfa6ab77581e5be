"""Decimal helpers for money: a currency's decimals and amounts as text.

Amounts are :class:`~decimal.Decimal` end to end; these helpers only decide how one is
written for people (tables, reports): with its currency's decimals (ISO 4217 minor units:
``2`` for most, ``3`` for KWD and its neighbours, ``0`` for JPY), never fewer digits than
the amount has, so nothing a backend stored is hidden by the display.
"""

from __future__ import annotations

from decimal import Decimal

__all__ = ["DEFAULT_PLACES", "MINOR_UNITS", "currency_places", "format_amount"]

#: Decimals of a currency the table below does not list (ISO 4217's usual two).
DEFAULT_PLACES = 2

#: ISO 4217 minor units of the currencies whose number is not two.
MINOR_UNITS: dict[str, int] = {
    # three decimals
    "BHD": 3,
    "IQD": 3,
    "JOD": 3,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "TND": 3,
    # none
    "BIF": 0,
    "CLP": 0,
    "DJF": 0,
    "GNF": 0,
    "ISK": 0,
    "JPY": 0,
    "KMF": 0,
    "KRW": 0,
    "PYG": 0,
    "RWF": 0,
    "UGX": 0,
    "UYI": 0,
    "VND": 0,
    "VUV": 0,
    "XAF": 0,
    "XOF": 0,
    "XPF": 0,
    # four
    "CLF": 4,
    "UYW": 4,
}


def currency_places(currency: str | None) -> int:
    """The decimals an amount in ``currency`` is written with (2 when unknown or None)."""
    if not currency:
        return DEFAULT_PLACES
    return MINOR_UNITS.get(currency.strip().upper(), DEFAULT_PLACES)


def format_amount(amount: Decimal, currency: str | None = None) -> str:
    """``amount`` as plain digits with the currency's decimals: ``53135`` USD is
    ``"53135.00"``, ``0`` is ``"0.00"``, ``1.5`` KWD is ``"1.500"``. Digits beyond them
    are kept (``12.3456`` USD stays ``"12.3456"``): nothing is rounded away. Never an
    exponent, never ``-0``."""
    if amount == 0:
        amount = Decimal(0)
    exponent = amount.normalize().as_tuple().exponent
    needed = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    places = max(currency_places(currency), needed)
    return format(amount.quantize(Decimal(1).scaleb(-places)), "f")
