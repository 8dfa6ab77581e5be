"""The data a seeded emulator starts with: one customer and ``invoices`` invoices,
numbered ``A-0001`` and up, the n-th for n * 100.00 USD."""

from __future__ import annotations

from .state import AcmeState


def seed(state: AcmeState, invoices: int) -> None:
    if not invoices:
        return
    customer = state.add_customer({"name": "Seed Customer"})
    for n in range(1, invoices + 1):
        line = {"title": "Service", "qty": "1", "price": f"{100 * n}.00"}
        state.add_invoice(
            customer,
            {"ref": f"A-{n:04d}", "issued": "2026-01-05", "currency": "USD", "lines": [line]},
        )
