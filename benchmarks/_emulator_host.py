"""Run emulators in a process of their own, driven over stdin/stdout (one JSON line per
command and per answer), so that the benchmarked process pays for none of their work
and none of their memory: like a real API, the server is somebody else's CPU.

Commands (``{"op": ..., ...}``):

``start``  ``name``, ``kind`` (``daftra`` or ``perfex``), ``invoices``, ``seed``,
           ``latency_ms``, ``fault_rate`` (every fault kind), ``clients`` (Daftra only:
           how many seeded clients, by default one per eight invoices, 6 to 300),
           ``api_version`` (Perfex only: 2 or 3); answers ``{"profile": {...}}``. Every
           emulator holds its realistic seed as it is (line discounts, four-place and
           client-credit payments, void and draft invoices): the migration transforms or
           skips what its target cannot store, and the benchmarks count those outcomes.
``stats``  ``name``: the emulator's :class:`EmulatorStats` snapshot.
``reset``  ``name``: zero the counters.
``quit``   stop every emulator and exit.

Started by :class:`_common.EmulatorHost`; not meant to be run by hand.
"""

from __future__ import annotations

import json
import sys
import traceback
from typing import Any


def _start(emulators: dict[str, Any], command: dict[str, Any]) -> dict[str, Any]:
    kind = command["kind"]
    invoices = int(command.get("invoices", 0))
    latency = float(command.get("latency_ms", 0))
    seed = int(command.get("seed", 1))
    if kind == "daftra":
        from invoicing_bridge_daftra.emulator import DaftraEmulator

        clients = command.get("clients")
        if clients is None:
            clients = max(6, min(300, invoices // 8 + 6))
        emulator: Any = DaftraEmulator(invoices=invoices, seed=seed, clients=clients).start()
    elif kind == "perfex":
        from invoicing_bridge_perfex.emulator import PerfexEmulator

        version = int(command.get("api_version") or 2)
        emulator = PerfexEmulator(invoices=invoices, seed=seed, api_version=version).start()
    else:
        raise ValueError(f"unknown emulator kind {kind!r}")
    emulator.faults.latency_ms = latency  # set after seeding, which is not timed
    emulator.faults.fault_rate = float(command.get("fault_rate", 0.0))
    emulator.stats.reset()
    emulators[command["name"]] = emulator
    return {"profile": emulator.profile()}


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
