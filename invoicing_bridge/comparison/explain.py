"""Differences a migration explains: a field the migration reported changing on purpose
(the ledger's ``transformed`` outcome: field, old and new value, rule) and that differs by
exactly that change is shown as explained, not as a difference."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from .report import FieldDifference, text

__all__ = ["explain"]

_RIGHT_INDEX = re.compile(r"\[right:(\d+)\]")
_WHOLE_LINE = re.compile(r"items\[\d+\]")


def _same(value: Any, reported: Any) -> bool:
    """A value of the report and a value the migration reported, as text or as amounts."""
    if reported is None:
        return True  # the migration could not say what the target holds instead
    shown = text(value)
    if shown == str(reported):
        return True
    try:
        amount = Decimal(str(reported))
        if isinstance(value, Decimal):
            # The report's amounts are rounded to the currency: so is the reported one
            # (the migration sent 0.0050, the comparison shows 0.01).
            amount = amount.quantize(value, rounding=ROUND_HALF_UP)
        return Decimal(shown) == amount
    except (InvalidOperation, ValueError):
        return False


def _reason(change: Mapping[str, Any]) -> str:
    reason = f"migration: {change.get('rule') or 'transformed'}"
    note = change.get("note")
    return f"{reason} ({note})" if note else reason


def explain(
    rows: list[FieldDifference], changes: Iterable[Mapping[str, Any]]
) -> list[FieldDifference]:
    """``rows`` with each one a reported change accounts for marked ``explained`` (its
    derived totals with it). A row matches a change on its path (a line or payment only on
    the right, ``items[right:3]``, as ``items[3]``) when its left value is the change's
    ``old`` and its right value its ``new``."""
    by_field: dict[str, list[Mapping[str, Any]]] = {}
    for change in changes:
        by_field.setdefault(str(change.get("field")), []).append(change)
    if not by_field:
        return rows
    out: list[FieldDifference] = []
    for row in rows:
        path = _RIGHT_INDEX.sub(r"[\1]", row.path)
        whole_line = _WHOLE_LINE.fullmatch(path) is not None
        match = next(
            (
                c
                for c in by_field.get(path, ())
                # A line the migration added or dropped is named by its position only.
                if whole_line or (_same(row.left, c.get("old")) and _same(row.right, c.get("new")))
            ),
            None,
        )
        out.append(row if match is None else replace(row, explained=_reason(match)))
    return out
