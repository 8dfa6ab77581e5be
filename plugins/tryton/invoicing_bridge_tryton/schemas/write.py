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

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from types import MappingProxyType
from typing import Any

from invoicing_bridge.exceptions import InvalidRequest
from invoicing_bridge.models import Client, Invoice, LineItem, TaxRate, identity_key

from .read import MARKER

__all__ = ["WriteContext", "client_values", "invoice_values", "line_values", "tax_id"]

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


def _tax_total(bases: dict[TaxRate, Decimal]) -> Decimal:
    # Tryton's default: tax computed per invoice and tax on the summed base, rounded
    # half-even by the currency.
    return sum(
        ((base * tax.rate / 100).quantize(CENT, ROUND_HALF_EVEN) for tax, base in bases.items()),
        Decimal(0),
    )


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
    bases: dict[TaxRate, Decimal] = {}
    for key, net in sets.items():
        for tax in key:
            bases[tax] = bases.get(tax, Decimal(0)) + net
    shares: dict[tuple[TaxRate, ...], Decimal] = {}
    for key, net in sets.items():
        if key:
            shares[key] = (discount * net / subtotal).quantize(CENT, ROUND_HALF_UP)
    rest = discount - sum(shares.values(), Decimal(0))
    spread_bases = dict(bases)
    for key, share in shares.items():
        for tax in key:
            spread_bases[tax] -= share
    if abs(_tax_total(spread_bases) - invoice.tax_total) >= abs(
        _tax_total(bases) - invoice.tax_total
    ):
        return untaxed
    lines = [
        _extra_line("discount_total", "Discount", -share, context, key)
        for key, share in shares.items()
        if share
    ]
    if rest:
        lines.append(_extra_line("discount_total", "Discount", -rest, context))
    return lines


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
