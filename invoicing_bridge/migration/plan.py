"""The planning stage: each source invoice mapped to what the target will be asked to
store, transformed where the target cannot hold it as it is, and validated by the target's
own rules (:meth:`~invoicing_bridge.backends.base.InvoicingBackend.validate_invoice`)
before anything is written. A dry run is exactly this stage.

Every transformation keeps the invoice's total and amount paid to the cent and is
reported as a :class:`~invoicing_bridge.migration.report.Change` (field, old value, new
value, rule). Each has a policy (:data:`POLICIES`): ``transform`` (the default) or
``fail`` (the record fails, nothing is written); void invoices a target cannot store are
``skip`` (reported as ``skipped``) or ``fail``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from ..backends.base import Feature, InvoicingBackend
from ..exceptions import InvalidRequest, InvoicingBridgeError, MappingError
from ..models import Invoice, InvoiceStatus, LineItem, Payment, TaxRate
from .job import RecordFailed, reason
from .payloads import completed, source_id, target_client, target_invoice, target_payment
from .report import Change

__all__ = ["DEFAULT_POLICY", "POLICIES", "InvoicePlan", "Planner", "largest_remainder"]

ZERO = Decimal(0)
CENT = Decimal("0.01")
#: A source id's digits as letters, for a draft's reference ("120" -> "BCA").
_LETTERS = str.maketrans("0123456789", "ABCDEFGHIJ")

#: Each case a plan may transform: the choices, the default first.
POLICIES: Mapping[str, tuple[str, ...]] = {
    # per-line discounts into a target without them: folded into the unit price where
    # exact, else a negative discount line with the same taxes (residual cent: adjustment)
    "line_discounts": ("transform", "fail"),
    # the target computes the tax otherwise (rounding, discount order): its tax, and a
    # labelled adjustment that keeps the total
    "tax_rounding": ("transform", "fail"),
    # amounts with more decimals than the target stores: rounded, payments by largest
    # remainder so they add up to the rounded amount paid
    "amount_rounding": ("transform", "fail"),
    # a source that does not report each line's taxes (Perfex, when its backend cannot
    # tell them): one rate over every line, inferred where it gives the invoice's tax
    "line_taxes": ("transform", "fail"),
    # void invoices a target cannot store: reported as skipped, or failed
    "void": ("skip", "fail"),
    # the invoices' payments: recorded, or left out (a target that emails a receipt for
    # each payment recorded, like Perfex, would mail customers about old payments)
    "payments": ("record", "skip"),
}
DEFAULT_POLICY: Mapping[str, str] = {name: choices[0] for name, choices in POLICIES.items()}

#: Rounds of validate-and-transform before a plan gives up.
_ROUNDS = 6
_DISCOUNT_FIELD = re.compile(r"items\[(\d+)\]\.discount|line discount", re.IGNORECASE)


def check_policy(policy: Mapping[str, str] | None) -> dict[str, str]:
    """``policy`` completed with the defaults; ValueError for an unknown case or choice."""
    merged = dict(DEFAULT_POLICY)
    for name, choice in (policy or {}).items():
        if name not in POLICIES:
            raise ValueError(f"policy: unknown case {name!r}; known: {', '.join(POLICIES)}")
        if choice not in POLICIES[name]:
            raise ValueError(f"policy {name}: {choice!r} is not one of {', '.join(POLICIES[name])}")
        merged[name] = choice
    return merged


def places_of(value: Decimal) -> int:
    """Decimal places ``value`` needs (trailing zeros do not count)."""
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def quantum(places: int) -> Decimal:
    return Decimal(1).scaleb(-places)


def largest_remainder(amounts: list[Decimal], total: Decimal, places: int) -> list[Decimal]:
    """``amounts`` rounded to ``places`` so that they add up to ``total`` (itself at
    ``places``): each rounded down, then the missing units go to the largest remainders
    (the first of equal ones)."""
    step = quantum(places)
    sign = Decimal(-1) if total < 0 else Decimal(1)
    floors = [(a * sign).quantize(step, rounding=ROUND_DOWN) for a in amounts]
    remainders = [a * sign - f for a, f in zip(amounts, floors, strict=True)]
    missing = int(((total * sign) - sum(floors, ZERO)) / step)
    order = sorted(range(len(amounts)), key=lambda i: (-remainders[i], i))
    for index in order[: max(0, missing)]:
        floors[index] += step
    return [f * sign for f in floors]


def _text(value: object) -> str | None:
    return None if value is None else str(value)


@dataclass
class InvoicePlan:
    """What the target will be asked to store for one source invoice.

    ``invoice``: the invoice as it will be sent (client without a target id yet, no
    payments); ``payments``: the payments to record after it, in the source's order
    (``sources``: the source payment each one comes from); ``changes``: every field
    changed on the way; ``skip``: why the invoice is not migrated on purpose (void).
    """

    invoice: Invoice
    payments: list[Payment] = field(default_factory=list)
    sources: list[Payment] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    skip: str | None = None

    @property
    def amount_paid(self) -> Decimal:
        return sum((p.amount for p in self.payments), ZERO)


class Planner:
    """Plans invoices from ``source`` for ``target`` under ``policy``."""

    def __init__(
        self, source: InvoicingBackend, target: InvoicingBackend, policy: Mapping[str, str]
    ) -> None:
        self.source = source
        self.target = target
        self.policy = check_policy(policy)
        self.places: int | None = target.money_places

    # ----------------------------------------------------------------- entry

    def plan(self, invoice: Invoice) -> InvoicePlan:
        """The plan for ``invoice``; raises :class:`RecordFailed` when the target cannot
        take it under the policy (nothing is written then)."""
        skip = self._unrepresentable(invoice)
        sent = target_invoice(invoice, target_client(invoice.client))
        plan = InvoicePlan(invoice=sent, sources=completed(invoice))
        if skip is not None:
            plan.skip = skip
            return plan
        if self.policy["payments"] == "skip" and plan.sources:
            plan.changes.append(
                Change("payments", str(len(plan.sources)), "0", "payments", "not recorded (policy)")
            )
            plan.sources = []
        plan.payments = [target_payment(p, None, invoice.currency) for p in plan.sources]
        if invoice.status is InvoiceStatus.DRAFT and not any(c.isdigit() for c in invoice.number):
            # A draft's placeholder (Perfex's "INV-DRAFT", the same for every draft) is no
            # number: the draft gets a reference of its own, without digits, that no real
            # number normalises to and no later invoice of the source can take.
            sent.number = "DRAFT-" + source_ref(invoice).translate(_LETTERS)
            plan.changes.append(
                Change(
                    "number",
                    invoice.number,
                    sent.number,
                    "draft_number",
                    "a draft's placeholder is not a number: a reference of its own",
                )
            )
        if (
            invoice.tax_total
            and Feature.ITEM_TAX_DETAIL not in self.source.features
            and not any(item.taxes for item in invoice.items)
        ):
            self._infer_taxes(invoice, plan)
        self._round_amounts(invoice, plan)
        self._lost(invoice, plan)
        self._fit(invoice, plan)
        return plan

    # ----------------------------------------------------------------- refusals

    def _unrepresentable(self, invoice: Invoice) -> str | None:
        """Why the invoice is skipped on purpose (None: it is planned). Raises
        RecordFailed for what no transformation can carry."""
        source, target = self.source, self.target
        features = target.features
        name = target.name
        if invoice.status is InvoiceStatus.VOID and Feature.VOID_INVOICES not in features:
            why = f"void: {name} cannot store void (cancelled) invoices"
            if self.policy["void"] == "skip":
                return why
            raise RecordFailed(f"{why} (policy void=fail)")
        if invoice.status is InvoiceStatus.DRAFT and Feature.DRAFT_INVOICES not in features:
            raise RecordFailed(f"draft invoice: {name} cannot store drafts")
        if completed(invoice) and Feature.RECORD_PAYMENT not in features:
            raise RecordFailed(f"invoice has payments: {name} cannot record payments")
        if invoice.amount_paid > 0 and not completed(invoice):
            raise RecordFailed(
                f"{source.name} says {invoice.amount_paid} was paid but lists no completed payment"
            )
        return None

    def _infer_taxes(self, invoice: Invoice, plan: InvoicePlan) -> None:
        """Perfex's API returns no per-line taxes, and its backend could not tell them for
        this invoice: one rate over every line, when it gives the invoice's tax (to a cent
        a line), is carried as each line's tax; else the invoice cannot be carried."""
        why = (
            f"{self.source.name} does not report the taxes of each line, so the tax "
            f"total {invoice.tax_total} cannot be carried over"
        )
        base = invoice.subtotal - invoice.discount_total
        if self.policy["line_taxes"] != "transform":
            raise RecordFailed(f"{why} (policy line_taxes=fail)")
        if base <= 0:
            raise RecordFailed(why)
        rate = (invoice.tax_total * 100 / base).quantize(CENT, rounding=ROUND_HALF_UP)
        if abs(base * rate / 100 - invoice.tax_total) > CENT * max(1, len(invoice.items)):
            raise RecordFailed(f"{why} (no single rate gives it)")
        tax = TaxRate(f"Tax {rate.normalize():f}%", rate)
        for index, item in enumerate(plan.invoice.items):
            item.taxes = [tax]
            plan.changes.append(
                Change(
                    f"items[{index}].taxes",
                    None,
                    f"{rate.normalize():f}%",
                    "line_taxes",
                    f"inferred: {rate}% of {base} is the invoice's tax {invoice.tax_total}",
                )
            )

    # ----------------------------------------------------------------- amounts

    def _round_amounts(self, invoice: Invoice, plan: InvoicePlan) -> None:
        """Amounts with more decimals than the target stores, rounded; payments by
        largest remainder to the rounded total less the source's balance due rounded (the
        rounded total when paid in full), so that the balance due stays the source's to
        the cent and what was paid in full stays paid in full."""
        places = self.places
        if places is None:
            return
        step = quantum(places)
        sent = plan.invoice
        money = [sent.total, sent.subtotal, sent.tax_total, sent.discount_total, sent.adjustment]
        amounts = [p.amount for p in plan.payments]
        if all(places_of(v) <= places for v in [*money, *amounts]):
            return
        if self.policy["amount_rounding"] != "transform":
            raise RecordFailed(
                f"amounts with more than {places} decimals, which {self.target.name} does "
                "not store (policy amount_rounding=fail)"
            )
        for name in ("subtotal", "discount_total", "tax_total", "adjustment", "total"):
            old = getattr(sent, name)
            new = old.quantize(step, rounding=ROUND_HALF_UP)
            if new != old:
                setattr(sent, name, new)
                plan.changes.append(Change(name, str(old), str(new), "amount_rounding"))
        # The rounded parts must still add up to the rounded total: the difference goes to
        # the adjustment, said.
        gap = sent.total - (sent.subtotal - sent.discount_total + sent.tax_total + sent.adjustment)
        if gap:
            old_adj = sent.adjustment
            sent.adjustment += gap
            plan.changes.append(
                Change(
                    "adjustment",
                    str(old_adj),
                    str(sent.adjustment),
                    "amount_rounding",
                    "the rounded parts add up to the rounded total",
                )
            )
        sent.balance_due = sent.total
        if amounts and any(places_of(a) > places for a in amounts):
            # The balance due is what the customer still owes: it stays the source's,
            # rounded, and the payments make up the rest of the rounded total (rounding
            # the amount paid on its own lost a cent where the total and the payment
            # both round: 6267.475 less 2945.7132 owes 3321.76, not 6267.48 - 2945.71).
            exact = sum(amounts, ZERO)
            balance = (invoice.total - exact).quantize(step, ROUND_HALF_UP)
            paid = sent.total - balance  # an overpayment: balance below zero
            if paid <= 0:
                paid = exact.quantize(step, ROUND_HALF_UP)
            rounded = largest_remainder(amounts, paid, places)
            for index, (payment, new) in enumerate(zip(plan.payments, rounded, strict=True)):
                if new != payment.amount:
                    plan.changes.append(
                        Change(
                            f"payments[{index}].amount",
                            str(payment.amount),
                            str(new),
                            "amount_rounding",
                            "largest remainder: the payments add up to the rounded total "
                            "less the rounded balance due",
                        )
                    )
                    payment.amount = new

    # ----------------------------------------------------------------- what is lost

    def _lost(self, invoice: Invoice, plan: InvoicePlan) -> None:
        """Values the target cannot hold at all, listed (and kept in ``extra``)."""
        if Feature.PAYMENT_DATES not in self.target.features:
            for index, payment in enumerate(plan.payments):
                payment.extra.setdefault("source_date", payment.date.isoformat())
                plan.changes.append(
                    Change(
                        f"payments[{index}].date",
                        payment.date.isoformat(),
                        None,
                        "lost",
                        f"{self.target.name} dates a payment when it is recorded",
                    )
                )

    # ----------------------------------------------------------------- fitting

    def _fit(self, invoice: Invoice, plan: InvoicePlan) -> None:
        """Validate with the target; transform what it refuses (by policy), again."""
        self._close_gap(plan)
        folded = False
        on_line = False
        base_tax, base_adjustment = plan.invoice.tax_total, plan.invoice.adjustment
        tax_tried: set[Decimal] = set()
        for _ in range(_ROUNDS):
            try:
                self.target.validate_invoice(self._probe(plan))
                return
            except (MappingError, InvalidRequest) as exc:
                if not folded and _is_line_discount(exc):
                    if self.policy["line_discounts"] != "transform":
                        raise RecordFailed(f"{reason(exc)} (policy line_discounts=fail)") from exc
                    self._fold_discounts(plan)
                    folded = True
                    base_tax, base_adjustment = plan.invoice.tax_total, plan.invoice.adjustment
                    continue
                figure = _tax_figure(exc)
                if figure is None:
                    raise RecordFailed(reason(exc)) from exc
                if self.policy["tax_rounding"] != "transform":
                    raise RecordFailed(f"{reason(exc)} (policy tax_rounding=fail)") from exc
                if figure in tax_tried:
                    if on_line:
                        if self._split_adjustment(plan, base_tax, base_adjustment):
                            return
                        raise RecordFailed(reason(exc)) from exc
                    # The adjustment itself changes the target's tax (a negative one is a
                    # discount in Daftra): carry the difference on an untaxed line instead.
                    on_line = True
                    tax_tried.clear()
                tax_tried.add(figure)
                self._retax(plan, base_tax, base_adjustment, figure, on_line=on_line)
        raise RecordFailed(
            f"{self.target.name} still refuses the invoice after {_ROUNDS} transformations"
        )

    def _close_gap(self, plan: InvoicePlan) -> None:
        """A source whose subtotal is its lines' sum rounded (Perfex: ``0.5 x 1867.25``)
        into a target that sums the lines with more places (Daftra): the fraction of a
        cent goes to the adjustment, so that the target's own total is the source's."""
        self._balance(
            plan,
            "amount_rounding",
            f"the source rounds its subtotal; {self.target.name} sums the lines",
        )

    def _balance(self, plan: InvoicePlan, rule: str, note: str) -> None:
        """Set the adjustment so that the lines as the target sums them (rounded to its
        places), less the discount, plus the tax and the adjustment make the planned
        total; only for rounding gaps (at most a cent a line), reported."""
        sent = plan.invoice
        if not sent.items:
            return
        lines = sum((i.net for i in sent.items), ZERO)
        if self.places is not None:
            lines = lines.quantize(quantum(self.places), rounding=ROUND_HALF_UP)
        wanted = sent.total - (lines - sent.discount_total + sent.tax_total)
        gap = wanted - sent.adjustment
        if not gap or abs(gap) > Decimal("0.01") * max(1, len(sent.items)):
            return  # none, or not a rounding: the target's validation will say
        old = sent.adjustment
        sent.adjustment = wanted
        sent.subtotal = lines
        plan.changes.append(Change("adjustment", str(old), str(wanted), rule, note))

    def _probe(self, plan: InvoicePlan) -> Invoice:
        probe = plan.invoice.copy()
        probe.payments = [Payment.from_dict(p.to_dict()) for p in plan.payments]
        return probe

    def _fold_discounts(self, plan: InvoicePlan) -> None:
        """Each line discount folded into the unit price where that is exact at the
        target's places, else a negative discount line with the line's taxes (after the
        source's lines, which keep their places); the cents a rounded discount line
        leaves go to the adjustment."""
        sent = plan.invoice
        step = quantum(2 if self.places is None else self.places)
        items: list[LineItem] = []
        added: list[LineItem] = []  # after the source's lines, which keep their places
        for index, item in enumerate(sent.items):
            if not item.discount:
                items.append(item)
                continue
            prefix = f"items[{index}]"
            net = item.quantity * item.unit_price - item.discount
            price = net / item.quantity if item.quantity else None
            if price is not None and price == price.quantize(step):
                plan.changes.append(
                    Change(
                        f"{prefix}.unit_price",
                        str(item.unit_price),
                        str(price.quantize(step)),
                        "line_discount",
                        f"discount {item.discount} folded into the unit price",
                    )
                )
                plan.changes.append(
                    Change(f"{prefix}.discount", str(item.discount), "0", "line_discount")
                )
                item.unit_price = price.quantize(step)
                item.discount = ZERO
                item.net_amount = item.quantity * item.unit_price
                items.append(item)
                continue
            rounded = item.discount.quantize(step, rounding=ROUND_HALF_UP)
            plan.changes.append(
                Change(
                    f"{prefix}.discount",
                    str(item.discount),
                    "0",
                    "line_discount",
                    f"moved to a discount line of -{rounded} with the same taxes",
                )
            )
            item.discount = ZERO
            item.net_amount = item.quantity * item.unit_price
            items.append(item)
            added.append(
                LineItem(
                    name=f"Discount: {item.name}",
                    quantity=Decimal(1),
                    unit_price=-rounded,
                    taxes=list(item.taxes),
                    extra={"migration": "line_discount"},
                )
            )
            plan.changes.append(
                Change(
                    f"items[{len(sent.items) + len(added) - 1}]",
                    None,
                    None,
                    "line_discount",
                    f"added: 'Discount: {item.name}', 1 x -{rounded}, with the taxes of "
                    f"line {index + 1}",
                )
            )
        sent.items = items + added
        self._balance(plan, "line_discount", "the cents the rounded discount lines leave")
        sent.subtotal = sum((i.net for i in sent.items), ZERO)

    def _retax(
        self,
        plan: InvoicePlan,
        base_tax: Decimal,
        base_adjustment: Decimal,
        figure: Decimal,
        *,
        on_line: bool = False,
    ) -> None:
        """The target's tax ``figure``; the difference goes to the adjustment (or, with
        ``on_line``, to an untaxed line labelled as such), so the total stays the
        source's to the cent."""
        sent = plan.invoice
        plan.changes = [c for c in plan.changes if c.rule != "tax_rounding"]
        sent.items = [i for i in sent.items if i.extra.get("migration") != "tax_rounding"]
        delta = base_tax - figure
        sent.tax_total = figure
        sent.adjustment = base_adjustment
        label = f"tax rounding adjustment of {delta}: the total stays {sent.total}"
        plan.changes.append(
            Change(
                "tax_total",
                str(base_tax),
                str(figure),
                "tax_rounding",
                f"{self.target.name} computes the tax itself",
            )
        )
        if on_line:
            sent.items.append(
                LineItem(
                    name="Tax rounding adjustment",
                    quantity=Decimal(1),
                    unit_price=delta,
                    extra={"migration": "tax_rounding"},
                )
            )
            sent.subtotal = sum((i.net for i in sent.items), ZERO)
            plan.changes.append(
                Change(
                    f"items[{len(sent.items) - 1}]",
                    None,
                    None,
                    "tax_rounding",
                    f"added: 'Tax rounding adjustment', 1 x {delta}, untaxed; {label}",
                )
            )
            return
        sent.subtotal = sum((i.net for i in sent.items), ZERO)
        sent.adjustment = base_adjustment + delta
        plan.changes.append(
            Change("adjustment", str(base_adjustment), str(sent.adjustment), "tax_rounding", label)
        )

    def _split_adjustment(
        self, plan: InvoicePlan, base_tax: Decimal, base_adjustment: Decimal
    ) -> bool:
        """Last resort when the target's tax moves with the adjustment itself (Daftra
        writes a negative adjustment as discount): a few cents more invoice discount and
        a positive charge, the target's tax for that discount, the total unchanged."""
        sent = plan.invoice
        sent.items = [i for i in sent.items if i.extra.get("migration") != "tax_rounding"]
        sent.subtotal = sum((i.net for i in sent.items), ZERO)
        base_discount = sent.discount_total
        plan.changes = [c for c in plan.changes if c.rule != "tax_rounding"]
        for cents_more in range(1, 6):
            extra = Decimal(cents_more) / 100
            sent.discount_total = base_discount + extra
            sent.tax_total, sent.adjustment = base_tax, base_adjustment
            try:
                self.target.validate_invoice(self._probe(plan))
                figure = base_tax
            except (MappingError, InvalidRequest) as exc:
                found = _tax_figure(exc)
                if found is None:
                    continue
                figure = found
            adjustment = base_adjustment + extra + (base_tax - figure)
            if adjustment < 0:
                continue
            sent.tax_total, sent.adjustment = figure, adjustment
            try:
                self.target.validate_invoice(self._probe(plan))
            except (MappingError, InvalidRequest):
                continue
            label = (
                f"{self.target.name} computes the tax itself and turns a negative adjustment "
                f"into discount: {extra} more discount and a charge keep the total {sent.total}"
            )
            plan.changes += [
                Change(
                    "discount_total",
                    str(base_discount),
                    str(sent.discount_total),
                    "tax_rounding",
                    label,
                ),
                Change("tax_total", str(base_tax), str(figure), "tax_rounding", label),
                Change("adjustment", str(base_adjustment), str(adjustment), "tax_rounding", label),
            ]
            return True
        sent.discount_total, sent.tax_total, sent.adjustment = (
            base_discount,
            base_tax,
            base_adjustment,
        )
        return False


def source_ref(invoice: Invoice) -> str:
    """The invoice's source id (its number when it has none), upper case."""
    return (source_id(invoice) or invoice.number).upper()


def _is_line_discount(exc: InvoicingBridgeError) -> bool:
    fields = [getattr(exc, "field", None) or "", *getattr(exc, "field_errors", {}).keys()]
    return any(_DISCOUNT_FIELD.search(f) for f in fields) or bool(_DISCOUNT_FIELD.search(str(exc)))


def _tax_figure(exc: InvoicingBridgeError) -> Decimal | None:
    """The tax the target says it would compute, from its refusal: the error's structured
    :class:`~invoicing_bridge.exceptions.Expected` for ``tax_total`` (its text is never
    parsed); None when the refusal does not say."""
    if not isinstance(exc, (MappingError, InvalidRequest)):
        return None
    figure = exc.expected_value("tax_total")
    if figure is None:
        return None
    return figure if isinstance(figure, Decimal) else Decimal(str(figure))
