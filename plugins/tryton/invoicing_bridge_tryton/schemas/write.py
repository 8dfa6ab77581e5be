"""The neutral model → Tryton ``create``/``write`` values.

Pure functions of the record and a :class:`WriteContext` (the ids the backend looked up
beforehand: currencies, taxes, accounts, countries). What Tryton has no field for is
written where it reads back losslessly:

- the invoice's own number goes to ``reference`` (Tryton's ``number`` is read-only: its
  sequence numbers the invoice when it is posted);
- an invoice discount (``discount_total``) and an ``adjustment`` become lines of their
  own, marked in their note: the adjustment untaxed, the discount untaxed or spread over
  the lines' taxes, whichever reproduces the invoice's tax;
- a line discount is folded into the price when ``net / quantity`` is exact at Tryton's
  4 price digits, the price and discount kept in the line's note; otherwise it is
  refused (InvalidRequest), never rounded away.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from types import MappingProxyType
from typing import Any

from invoicing_bridge.exceptions import InvalidRequest
from invoicing_bridge.models import Client, Invoice, LineItem, TaxRate, identity_key

from .read import MARKER

__all__ = [
    "WriteContext",
    "client_values",
    "invoice_values",
    "line_values",
    "tax_id",
    "tryton_tax_total",
]

PRICE_DIGITS = Decimal("0.0001")
CENT = Decimal("0.01")
BACKEND = "tryton"


@dataclass(frozen=True, kw_only=True)
class WriteContext:
    """Ids the writes need, looked up by the backend before dumping."""

    currencies: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    #: (name, rate in percent) of every percentage tax, by id.
    taxes: Mapping[int, tuple[str, Decimal]] = field(default_factory=lambda: MappingProxyType({}))
    countries: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    revenue_account: int = 0
    receivable_account: int = 0
    journal: int = 0
    #: The smallest unit of each currency (``rounding``: 0.01, 1 for JPY).
    currency_units: Mapping[str, Decimal] = field(default_factory=lambda: MappingProxyType({}))
    #: The company's tax rounding (``account.configuration``): ``document`` or ``line``.
    tax_rounding: str = "document"


def _invalid(message: str, field_name: str) -> InvalidRequest:
    return InvalidRequest(
        message, backend=BACKEND, status_code=None, field_errors={field_name: message}
    )


def tax_id(tax: TaxRate, context: WriteContext, where: str) -> int:
    """The Tryton tax for ``tax``: same rate and name (compared case- and
    space-insensitively), else the only tax with that rate. Raises InvalidRequest."""
    same_rate = [tid for tid, (_, rate) in context.taxes.items() if rate == tax.rate]
    named = [
        tid
        for tid in same_rate
        if identity_key("name", context.taxes[tid][0]) == identity_key("name", tax.name)
    ]
    if named:
        return named[0]
    if len(same_rate) == 1:
        return same_rate[0]
    known = ", ".join(f"{n} {r}%" for n, r in context.taxes.values()) or "none"
    reason = "several" if same_rate else "no"
    raise _invalid(
        f"{reason} Tryton tax with rate {tax.rate}% for {tax.name!r} (known: {known})", where
    )


def line_values(item: LineItem, index: int, context: WriteContext) -> dict[str, Any]:
    """One ``account.invoice.line`` (type ``line``, booked to the revenue account)."""
    where = f"items[{index}]"
    if item.quantity == 0:
        raise _invalid("Tryton cannot price a line of quantity 0", f"{where}.quantity")
    price = item.unit_price
    note = None
    if item.discount:
        price = (item.net / item.quantity).quantize(PRICE_DIGITS)
        if price * item.quantity != item.net:
            raise _invalid(
                f"Tryton has no line discount and {item.net} / {item.quantity} is not exact "
                "at 4 price digits",
                f"{where}.discount",
            )
        note = f"{MARKER} unit_price={item.unit_price}; discount={item.discount}"
    description = item.name if not item.description else f"{item.name}\n{item.description}"
    return {
        "type": "line",
        "description": description,
        # Tryton's quantity is a Float field: written as its digits, read back exactly.
        "quantity": item.quantity,
        "unit_price": price,
        "account": context.revenue_account,
        "note": note,
        "taxes": [
            ["add", [tax_id(t, context, f"{where}.taxes[{j}]") for j, t in enumerate(item.taxes)]]
        ],
    }


def _extra_line(
    role: str,
    name: str,
    amount: Decimal,
    context: WriteContext,
    taxes: tuple[TaxRate, ...] = (),
) -> dict[str, Any]:
    where = "discount_total" if role == "discount_total" else "adjustment"
    return {
        "type": "line",
        "description": name,
        "quantity": Decimal(1),
        "unit_price": amount,
        "account": context.revenue_account,
        "note": f"{MARKER} role={role}",
        "taxes": [["add", [tax_id(t, context, where) for t in taxes]]],
    }


def _round_taxes(amounts: dict[Any, Decimal], unit: Decimal) -> None:
    """Tryton's ``TaxableMixin._round_taxes`` (account/tax.py): each tax rounded half-even
    to the currency's unit, then the rounding remainders' sum, rounded, taken back a unit
    at a time from the taxes in turn (so their sum is the unrounded sum, rounded)."""
    remainder = Decimal(0)
    for key, amount in amounts.items():
        rounded = (amount / unit).quantize(Decimal(1), ROUND_HALF_EVEN) * unit
        remainder += rounded - amount
        amounts[key] = rounded
    remainder = (remainder / unit).quantize(Decimal(1), ROUND_HALF_EVEN) * unit
    if abs(remainder) < unit or not any(amounts.values()):
        return
    offset = unit.copy_sign(remainder)
    for key in itertools.cycle(list(amounts)):
        if amounts[key]:
            amounts[key] -= offset
            remainder -= offset
            if abs(remainder) < unit:
                return


def tryton_tax_total(
    lines: Sequence[Mapping[str, Any]], context: WriteContext, unit: Decimal = CENT
) -> Decimal:
    """The tax Tryton computes for these invoice lines (:func:`line_values` dicts), as
    ``TaxableMixin._get_taxes`` does: lines grouped by their taxes and the sign of
    their amount; in each group, per tax (and sign), ``unit_price * rate * quantity``
    summed unrounded, then rounded together (``document`` rounding, the default) or per
    line (``line``); the groups' rounded taxes added up."""
    groups: dict[tuple[tuple[int, ...], bool], list[Mapping[str, Any]]] = {}
    for line in lines:
        ids = tuple(i for action in line.get("taxes") or [] for i in action[1])
        base = Decimal(line["unit_price"]) * Decimal(line["quantity"])
        groups.setdefault((ids, base >= 0), []).append(line)
    total = Decimal(0)
    for (ids, _), members in groups.items():
        taxes: dict[int, Decimal] = {}
        for line in members:
            price, quantity = Decimal(line["unit_price"]), Decimal(line["quantity"])
            current = {i: price * (context.taxes[i][1] / 100) * quantity for i in ids}
            if context.tax_rounding == "line":
                _round_taxes(current, unit)
            for i, amount in current.items():
                taxes[i] = taxes.get(i, Decimal(0)) + amount
        if context.tax_rounding == "document":
            _round_taxes(taxes, unit)
        total += sum(taxes.values(), Decimal(0))
    return total


def _discount_lines(invoice: Invoice, context: WriteContext) -> list[dict[str, Any]]:
    """The invoice discount as lines. Untaxed when that gives the invoice's tax; spread
    over the lines' tax sets in proportion to their amounts when that gives it (the
    discount was taken before tax, as Daftra does)."""
    discount = invoice.discount_total
    untaxed = [_extra_line("discount_total", "Discount", -discount, context)]
    sets: dict[tuple[TaxRate, ...], Decimal] = {}
    for item in invoice.items:
        key = tuple(item.taxes)
        sets[key] = sets.get(key, Decimal(0)) + item.net
    subtotal = sum(sets.values(), Decimal(0))
    if not subtotal or not any(sets):
        return untaxed
    shares: dict[tuple[TaxRate, ...], Decimal] = {}
    for key, net in sets.items():
        if key:
            shares[key] = (discount * net / subtotal).quantize(CENT, ROUND_HALF_UP)
    rest = discount - sum(shares.values(), Decimal(0))
    spread = [
        _extra_line("discount_total", "Discount", -share, context, key)
        for key, share in shares.items()
        if share
    ]
    if rest:
        spread.append(_extra_line("discount_total", "Discount", -rest, context))
    items = [line_values(item, i, context) for i, item in enumerate(invoice.items)]
    unit = context.currency_units.get(invoice.currency.upper(), CENT)
    if abs(tryton_tax_total(items + spread, context, unit) - invoice.tax_total) >= abs(
        tryton_tax_total(items + untaxed, context, unit) - invoice.tax_total
    ):
        return untaxed
    return spread


def _currency(invoice: Invoice, context: WriteContext) -> int:
    currency = context.currencies.get(invoice.currency.upper())
    if currency is None:
        known = ", ".join(sorted(context.currencies)) or "none"
        raise _invalid(f"Tryton has no currency {invoice.currency} (known: {known})", "currency")
    return currency


def invoice_lines(invoice: Invoice, context: WriteContext) -> list[dict[str, Any]]:
    """The lines of ``invoice``, each in its currency (a line's currency defaults to the
    company's, and the invoice's lines must share the invoice's)."""
    lines = [line_values(item, i, context) for i, item in enumerate(invoice.items)]
    if invoice.discount_total:
        lines.extend(_discount_lines(invoice, context))
    if invoice.adjustment:
        lines.append(_extra_line("adjustment", "Adjustment", invoice.adjustment, context))
    currency = _currency(invoice, context)
    return [{**line, "currency": currency} for line in lines]


def invoice_values(
    invoice: Invoice, context: WriteContext, *, party: int, address: int
) -> dict[str, Any]:
    """A draft customer invoice with its lines. Raises InvalidRequest."""
    currency = _currency(invoice, context)
    return {
        "type": "out",
        "party": party,
        "invoice_address": address,
        "currency": currency,
        "invoice_date": invoice.issue_date,
        # With no payment term, the one line to pay falls due on this date.
        "payment_term_date": invoice.due_date,
        "account": context.receivable_account,
        "journal": context.journal,
        "reference": invoice.number,
        "comment": invoice.notes,
        "description": invoice.terms,
        "lines": [["create", invoice_lines(invoice, context)]],
    }


def client_values(client: Client, context: WriteContext) -> dict[str, Any]:
    """A ``party.party`` with its first address, tax identifier and contact mechanisms
    (the parts a create writes; updates write them one by one)."""
    values: dict[str, Any] = {"name": client.name or client.company_name}
    if not values["name"]:
        raise _invalid("a Tryton party needs a name", "name")
    values["addresses"] = [["create", [address_values(client, context)]]]
    mechanisms = []
    if client.email:
        mechanisms.append({"type": "email", "value": client.email})
    if client.phone:
        mechanisms.append({"type": "phone", "value": client.phone})
    if mechanisms:
        values["contact_mechanisms"] = [["create", mechanisms]]
    if client.tax_number:
        values["identifiers"] = [["create", [{"code": client.tax_number}]]]
    return values


def address_values(client: Client, context: WriteContext) -> dict[str, Any]:
    address = client.address
    if address is None:
        return {}
    street = "\n".join(part for part in (address.line1, address.line2) if part)
    values: dict[str, Any] = {
        "street": street or None,
        "city": address.city,
        "postal_code": address.postal_code,
    }
    if address.country:
        country = context.countries.get(address.country.upper())
        if country is None:
            raise _invalid(
                f"Tryton has no country {address.country} (load them with "
                "trytond_import_countries)",
                "address.country",
            )
        values["country"] = country
    return values
