"""Streaming memory (figure 4): ``iter_invoices`` over a Daftra emulator holding 1,000
and then 50,000 invoices (100 a page, items and payments included), each walk in a fresh
process whose peak RSS (``ru_maxrss``) is read at the end. The emulators run in a process
of their own, so their memory is not counted. Growth = peak(large) - peak(small): a
listing that streams stays flat; one that keeps what it read grows with the account.

    python benchmarks/bench_memory.py [--sizes 1000 50000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _common import EmulatorHost, backend_options, figure

#: The issue's aim: the larger walk's peak stays within this of the smaller one's.
AIM_MB = 10.0


def _child(options: dict[str, Any]) -> None:
    """In the measured process: walk every invoice, then report the peak RSS."""
    from invoicing_bridge.registry import get_backend

    name = options.pop("backend")
    started = time.perf_counter()
    count = items = payments = 0
    with get_backend(name, **options) as backend:
        baseline_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for invoice in backend.iter_invoices():
            count += 1
            items += len(invoice.items)
            payments += len(invoice.payments)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    print(
        json.dumps(
            {
                "invoices": count,
                "items": items,
                "payments": payments,
                "seconds": round(time.perf_counter() - started, 3),
                "baseline_kb": baseline_kb,
                "peak_kb": peak_kb,
            }
        )
    )


def walk(size: int) -> dict[str, Any]:
    """Serve ``size`` invoices and walk them from a fresh process; its measurements."""
    with EmulatorHost() as host:
        profile = host.start("daftra", "daftra", invoices=size)
        name, options = backend_options(profile)
        out = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--child"],
            input=json.dumps({"backend": name, **options}),
            capture_output=True,
            text=True,
            check=True,
        )
        stats = host.stats("daftra")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    result["requests"] = stats["requests"]
    if result["invoices"] != size:
        raise RuntimeError(f"walked {result['invoices']} of {size} invoices")
    return result


def run(*, sizes: Sequence[int] = (1_000, 50_000)) -> dict[str, Any]:
    small, large = sizes
    walks = {size: walk(size) for size in (small, large)}
    figures: dict[str, Any] = {}
    for label, size in (("small", small), ("large", large)):
        w = walks[size]
        figures[f"memory_peak_rss_{label}"] = figure(
            round(w["peak_kb"] / 1024, 1),
            "MB",
            invoices=w["invoices"],
            seconds=w["seconds"],
            invoices_per_s=round(w["invoices"] / w["seconds"]),
            requests=w["requests"],
            rss_before_walk_mb=round(w["baseline_kb"] / 1024, 1),
        )
    growth = (walks[large]["peak_kb"] - walks[small]["peak_kb"]) / 1024
    figures["memory_growth"] = figure(
        round(growth, 1),
        "MB",
        aim=f"< {AIM_MB:g} MB",
        met=growth < AIM_MB,
        sizes=[small, large],
    )
    return {"settings": {"sizes": [small, large], "backend": "daftra"}, "figures": figures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[1_000, 50_000])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(json.loads(sys.stdin.read()))
        return
    print(json.dumps(run(sizes=args.sizes), indent=2))


if __name__ == "__main__":
    main()
