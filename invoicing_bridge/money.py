"""Decimal helpers for money: each currency's precision (ISO 4217 minor units) and rounding
to it. Money is :class:`~decimal.Decimal` end to end; a float is refused."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

__all__ = ["DEFAULT_PRECISION", "format_amount", "minor_unit", "precision", "round_money"]

#: Decimal places of a currency ISO 4217 does not list otherwise (most have two).
DEFAULT_PRECISION = 2


def _codes(text: str) -> list[str]:
    return text.split()


# ISO 4217 minor units other than two (the 2024 list; funds and metals left out).
_PRECISION: dict[str, int] = {
    **dict.fromkeys(
        _codes("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"), 0
    ),
    **dict.fromkeys(_codes("BHD IQD JOD KWD LYD OMR TND"), 3),
    **dict.fromkeys(_codes("CLF UYW"), 4),
}


def precision(currency: str | None) -> int:
    """The decimal places of ``currency`` (an ISO 4217 code, any case): ``2`` for ``"EGP"``,
    ``0`` for ``"JPY"``, ``3`` for ``"KWD"``; :data:`DEFAULT_PRECISION` for an unknown or
    missing code."""
    if not currency:
        return DEFAULT_PRECISION
    return _PRECISION.get(currency.strip().upper(), DEFAULT_PRECISION)


def minor_unit(currency: str | None) -> Decimal:
    """The smallest amount of ``currency``: ``Decimal("0.01")`` for EGP, ``Decimal("1")``
    for JPY."""
    return Decimal(1).scaleb(-precision(currency))


def round_money(amount: Decimal, currency: str | None) -> Decimal:
    """``amount`` rounded half up (away from zero on a tie, as invoices round) to the
    precision of ``currency``: ``Decimal("8329.875")`` in SAR gives ``Decimal("8329.88")``.

    Raises ``TypeError`` for a float (money is never a float)."""
    if isinstance(amount, float):
        raise TypeError("money is a Decimal, not a float")
    return Decimal(amount).quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


def format_amount(amount: Decimal, currency: str | None = None) -> str:
    """``amount`` written for people (tables, reports): plain digits with the precision of
    ``currency`` (``53135`` USD is ``"53135.00"``, ``0`` is ``"0.00"``, ``1.5`` KWD is
    ``"1.500"``). Digits beyond it are kept (``12.3456`` USD stays ``"12.3456"``): the
    display rounds nothing away. Never an exponent, never ``-0``."""
    if amount == 0:
        amount = Decimal(0)
    exponent = amount.normalize().as_tuple().exponent
    needed = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    places = max(precision(currency), needed)
    return format(amount.quantize(Decimal(1).scaleb(-places)), "f")
