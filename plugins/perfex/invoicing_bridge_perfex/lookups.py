"""The install's lookup tables, fetched once: payment modes (``/api/common/payment_mode``),
taxes (``/api/common/tax_data``) and currency ids (no endpoint lists them: the
``currencies`` option, plus every id learned from invoices read).

:class:`PerfexLookups` is owned by the backend. It fetches through the ``fetch`` function
it is given (the connection's row iterator), learns from records already loaded, and
hands the schemas a frozen snapshot of itself (:meth:`PerfexLookups.context`): schema
loads never write into it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from invoicing_bridge.exceptions import (
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerError,
    TransportError,
)
from invoicing_bridge.models import Invoice, Payment, TaxRate

from .cents import round_cents
from .schemas.context import PerfexContext, method_slug
from .schemas.fields import text_of

__all__ = ["PerfexLookups", "method_slug"]

log = logging.getLogger("invoicing_bridge.perfex")

#: Fetches every row of a list endpoint (``"common/tax_data"``).
Fetch = Callable[[str], Iterable[Any]]


@dataclass
class PerfexLookups:
    """What mapping needs and the API does not say.

    ``currencies``: currency code → Perfex currency id; ``payment_modes``: mode id →
    name; ``taxes``: ``(name, rate)`` pairs; ``padding``: the install's number padding
    (``number_padding_prefixes``, not exposed by the API); ``infer_taxes``: infer line
    taxes on reads; ``fetch``: how to read a list endpoint (None: offline, nothing is
    fetched). ``active_modes``: the ids of the modes new invoices may allow.
    """

    currencies: dict[str, str] = field(default_factory=dict)
    payment_modes: dict[str, str] = field(default_factory=dict)
    taxes: list[tuple[str, Decimal]] = field(default_factory=list)
    padding: int = 6
    infer_taxes: bool = True
    fetch: Fetch | None = field(default=None, repr=False)
    active_modes: list[str] = field(default_factory=list)
    _modes_loaded: bool = field(default=False, repr=False)
    _taxes_loaded: bool = field(default=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    #: Held while the payment modes or the taxes are fetched: concurrent workers used
    #: to fetch them once each (10 times with 16 workers).
    _fetch_lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    # ----------------------------------------------------------------- the snapshot

    def context(self) -> PerfexContext:
        """A frozen snapshot of the tables, for the schemas."""
        with self._lock:
            return PerfexContext(
                backend="perfex",
                currencies=MappingProxyType(dict(self.currencies)),
                payment_modes=MappingProxyType(dict(self.payment_modes)),
                taxes=tuple(self.taxes),
                padding=self.padding,
                infer_taxes=self.infer_taxes,
            )

    def currency_code(self, currency_id: str | None) -> str | None:
        return self.context().currency_code(currency_id)

    def currency_id(self, code: str) -> str | None:
        return self.context().currency_id(code)

    def method_of(self, mode_id: str | None, name: str | None = None) -> str:
        return self.context().method_of(mode_id, name)

    def mode_for(self, method: str) -> str | None:
        return self.context().mode_for(method)

    def tax_for(self, tax: TaxRate) -> tuple[str, Decimal]:
        return self.context().tax_for(tax)

    # ----------------------------------------------------------------- learning

    def learn_currency(self, currency_id: str | None, code: str | None) -> None:
        if not currency_id or not code:
            return
        with self._lock:
            self.currencies.setdefault(code.upper(), currency_id)

    def learn_payment_mode(self, mode_id: str | None, name: str | None) -> None:
        if mode_id and name:
            with self._lock:
                self.payment_modes.setdefault(mode_id, name)

    def learn_from(self, records: Iterable[Any]) -> None:
        """Learn what loaded records teach: the currency id an invoice row named with its
        code, the payment-mode names joined into payment rows."""
        for record in records:
            if isinstance(record, Invoice):
                currency_id = record.extra.get("currency_id")
                if currency_id and not record.extra.get("currency_unresolved"):
                    self.learn_currency(str(currency_id), record.currency)
                self.learn_from(record.payments)
            elif isinstance(record, Payment):
                mode = record.extra.get("paymentmode")
                self.learn_payment_mode(mode, text_of(record.raw.get("name")))

    # ----------------------------------------------------------------- fetching

    def ensure_modes(self, *, again: bool = False) -> dict[str, str]:
        """Payment modes of the install (``/api/common/payment_mode``), fetched once (one
        thread fetches, the others wait for it); ``again`` fetches them anew."""
        if again:
            with self._lock:
                self._modes_loaded = False
        if self._modes_loaded or self.fetch is None:
            return dict(self.payment_modes)
        with self._fetch_lock:
            if self._modes_loaded:
                return dict(self.payment_modes)
            try:
                rows = list(self.fetch("common/payment_mode"))
            except (NotFound, PermissionDenied) as exc:
                log.warning("perfex: payment modes not readable (%s)", exc.message)
                rows = []
            for row in rows:
                if isinstance(row, Mapping) and row.get("id") is not None:
                    self.learn_payment_mode(str(row["id"]), str(row.get("name") or ""))
            with self._lock:
                self._modes_loaded = True
                self.active_modes = [
                    str(r["id"])
                    for r in rows
                    if isinstance(r, Mapping)
                    and r.get("id") is not None
                    and str(r.get("active", "1")) == "1"
                    and str(r.get("expenses_only", "0")) != "1"
                ]
        return dict(self.payment_modes)

    def ensure_taxes(self) -> None:
        """The install's taxes (``/api/common/tax_data``), fetched once; used to send a
        neutral tax under the name Perfex knows it by and to infer line taxes (one thread
        fetches, the others wait for it)."""
        if self._taxes_loaded or self.fetch is None:
            return
        with self._fetch_lock:
            if self._taxes_loaded:
                return
            try:
                rows = list(self.fetch("common/tax_data"))
            except (NotFound, PermissionDenied) as exc:
                log.warning("perfex: taxes not readable (%s)", exc.message)
                rows = []
            except (TransportError, ServerError, RateLimited) as exc:
                # Only names and inference depend on them: try again next time.
                log.warning("perfex: taxes not read this time (%s)", exc.message)
                return
            taxes = []
            for row in rows:
                if isinstance(row, Mapping) and row.get("name") is not None:
                    try:
                        taxes.append((str(row["name"]), round_cents(Decimal(str(row["taxrate"])))))
                    except (ArithmeticError, KeyError, ValueError):
                        continue
            with self._lock:
                self.taxes = taxes
                self._taxes_loaded = True
