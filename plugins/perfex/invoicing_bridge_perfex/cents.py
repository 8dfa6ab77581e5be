"""Perfex's money rounding: every amount column is ``DECIMAL(15,2)``, which MySQL rounds
half away from zero. Used by the mapping, the write planning and the emulator alike."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

__all__ = ["CENT", "ZERO", "money_text", "round_cents"]

ZERO = Decimal("0")
CENT = Decimal("0.01")


def round_cents(value: Decimal) -> Decimal:
    """MySQL ``DECIMAL(15,2)`` rounding: half away from zero."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def money_text(value: Decimal) -> str:
    """An amount as Perfex stores and answers it: ``"5.00"``."""
    return format(round_cents(value), "f")
