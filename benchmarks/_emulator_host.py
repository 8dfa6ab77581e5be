"""Run emulators in a process of their own, driven over stdin/stdout (one JSON line per
command and per answer), so that the benchmarked process pays for none of their work
and none of their memory: like a real API, the server is somebody else's CPU.

Commands (``{"op": ..., ...}``):

``start``  ``name``, ``kind`` (``daftra`` or ``perfex``), ``invoices``, ``seed``,
           ``latency_ms``, ``fault_rate`` (every fault kind), ``portable`` (Daftra only:
           make every invoice one Perfex can store, see :func:`make_portable`),
           ``clients`` (Daftra only: how many seeded clients, by default one per eight
           invoices, 6 to 300),
           ``api_version`` (Perfex only: the REST module's 2 or 3, default 2); answers
           ``{"profile": {...}}``.
``stats``  ``name``: the emulator's :class:`EmulatorStats` snapshot.
``reset``  ``name``: zero the counters.
``quit``   stop every emulator and exit.

Started by :class:`_common.EmulatorHost`; not meant to be run by hand.
"""

from __future__ import annotations

import json
import sys
import traceback
from decimal import ROUND_DOWN, Decimal
from typing import Any

from invoicing_bridge.exceptions import InvoicingBridgeError
from invoicing_bridge.registry import get_backend

CENT = Decimal("0.01")
#: Methods the seeded Perfex install has a payment mode for.
PERFEX_METHODS = frozenset({"cash", "bank_transfer", "cheque"})


def make_portable(emulator: Any, wanted: int) -> dict[str, int]:
    """Leave ``wanted`` seeded Daftra invoices that Perfex can store as they are.

    The seeded account is deliberately varied, and some of it has no Perfex equivalent:
    line discounts, four-decimal payments, client-credit and card payments, and totals
    rounded per line where Perfex rounds once. Those invoices fail a migration by design
    (and cost fewer requests), which would blur a throughput figure. Here line discounts
    are dropped, payments rounded down to the cent and paid by cash or bank transfer, and
    what the Perfex backend would still refuse (``validate_invoice``) is deleted, as are the
    invoices past ``wanted``. Returns what was done.
    """
    from invoicing_bridge_perfex.emulator import PerfexEmulator

    state = emulator.state
    with state.lock:
        for i in list(state.invoice_ids):
            record = state.materialise(i)
            for item in record["items"]:
                item["discount"] = Decimal(0)
                item["discount_type"] = 2
            for payment in record["payments"]:
                payment["amount"] = Decimal(payment["amount"]).quantize(CENT, ROUND_DOWN)
                if payment["payment_method"] not in PERFEX_METHODS:
                    payment["payment_method"] = "bank_transfer"
        state.touch()
    install = PerfexEmulator(invoices=0)  # never started: its currency ids and padding
    install.stop()
    options = {k: v for k, v in install.profile().items() if k != "backend"}
    perfex = get_backend("perfex", **options)
    options = {k: v for k, v in emulator.profile().items() if k != "backend"}
    refused: list[int] = []
    kept: list[int] = []
    with get_backend("daftra", **options) as daftra:
        for invoice in daftra.iter_invoices():
            try:
                perfex.validate_invoice(invoice)
            except InvoicingBridgeError:
                refused.append(int(str(invoice.id)))
                continue
            kept.append(int(str(invoice.id)))
    surplus = kept[wanted:]
    for i in refused + surplus:
        state.delete_invoice(i)
    return {"seeded": len(refused) + len(kept), "refused": len(refused), "kept": len(kept[:wanted])}


def _start(emulators: dict[str, Any], command: dict[str, Any]) -> dict[str, Any]:
    kind = command["kind"]
    invoices = int(command.get("invoices", 0))
    latency = float(command.get("latency_ms", 0))
    seed = int(command.get("seed", 1))
    portable = bool(command.get("portable"))
    prepared: dict[str, int] | None = None
    if kind == "daftra":
        from invoicing_bridge_daftra.emulator import DaftraEmulator

        # Twice as many seeded as wanted (about 1 in 20 is refused), with the number of
        # clients the wanted count would have had.
        seeded = invoices * 2 + 20 if portable else invoices
        clients = command.get("clients")
        if clients is None:
            clients = max(6, min(300, invoices // 8 + 6))
        emulator: Any = DaftraEmulator(invoices=seeded, seed=seed, clients=clients).start()
        if portable:
            prepared = make_portable(emulator, invoices)
    elif kind == "perfex":
        from invoicing_bridge_perfex.emulator import PerfexEmulator

        version = int(command.get("api_version") or 2)
        emulator = PerfexEmulator(invoices=invoices, seed=seed, api_version=version).start()
    else:
        raise ValueError(f"unknown emulator kind {kind!r}")
    emulator.faults.latency_ms = latency  # set after any preparation, which is not timed
    emulator.faults.fault_rate = float(command.get("fault_rate", 0.0))
    emulator.stats.reset()
    emulators[command["name"]] = emulator
    return {"profile": emulator.profile(), "prepared": prepared}


def main() -> None:
    emulators: dict[str, Any] = {}
    for line in sys.stdin:
        if not line.strip():
            continue
        command = json.loads(line)
        op = command.get("op")
        try:
            if op == "quit":
                break
            if op == "start":
                answer = _start(emulators, command)
            elif op == "stats":
                answer = {"stats": emulators[command["name"]].stats.snapshot()}
            elif op == "reset":
                emulators[command["name"]].stats.reset()
                answer = {}
            else:
                raise ValueError(f"unknown op {op!r}")
        except Exception as exc:  # report it to the driver, keep serving
            answer = {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()}
        sys.stdout.write(json.dumps(answer, default=str) + "\n")
        sys.stdout.flush()
    for emulator in emulators.values():
        emulator.stop()


if __name__ == "__main__":
    main()
