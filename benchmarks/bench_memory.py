"""Streaming memory (figure 4): ``iter_invoices`` over an emulator holding 1,000 and
then 50,000 invoices (items and payments included), for every backend and API version
with an emulator: Daftra (100 a page), Perfex module 2.x (one bare array holding every
row, then one ``GET`` per invoice for its lines and payments) and Perfex 3.x (``{data,
meta}`` pages of 100, then one ``GET`` per invoice). Each walk runs in a fresh process
whose peak RSS is read at the end. The emulators run in a process of their own, so
their memory is not counted. Growth = peak(large) - peak(small): a listing that streams
stays flat; one that keeps what it read grows with the account.

Tryton is left out: its backend has no emulator, and its walk would first need 50,000
invoices created and posted through a real ``trytond`` (one RPC at least per record), far
longer than every other benchmark together.

Peak RSS: Linux carries ``ru_maxrss`` over ``fork``/``exec``, so a child of the (larger)
benchmark runner starts with the runner's RSS as its "peak" (54 MB instead of 38 MB),
which would hide up to that much growth. The child therefore resets its high-water mark
first thing (``/proc/self/clear_refs``) and the peak is ``VmHWM`` read at the end, the
counter ``ru_maxrss`` reads, without the inherited part. ``ru_maxrss`` is kept in
``detail``; where ``/proc`` is missing, it is the figure.

    python benchmarks/bench_memory.py [--sizes 1000 50000] [--backends daftra perfex2]
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

#: name -> (emulator, Perfex module version)
BACKENDS: dict[str, tuple[str, int | None]] = {
    "daftra": ("daftra", None),
    "perfex2": ("perfex", 2),
    "perfex3": ("perfex", 3),
}


def _child(options: dict[str, Any]) -> None:
    """In the measured process: walk every invoice, then report the peak RSS."""
    from invoicing_bridge.registry import get_backend

    name = options.pop("backend")
    started = time.perf_counter()
    count = items = payments = 0
    with get_backend(name, **options) as backend:
        startup_kb = _status().get("VmHWM")  # the peak of the imports and the set-up
        reset = _reset_peak()  # from here on, VmHWM is the walk's own peak
        for invoice in backend.iter_invoices():
            count += 1
            items += len(invoice.items)
            payments += len(invoice.payments)
    ru_maxrss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    status = _status()
    walk_peak_kb = status.get("VmHWM") if reset else None
    peak_kb = ru_maxrss_kb
    if _PEAK_RESET and startup_kb is not None and walk_peak_kb is not None:
        peak_kb = max(startup_kb, walk_peak_kb)  # this process's own peak
    print(
        json.dumps(
            {
                "invoices": count,
                "items": items,
                "payments": payments,
                "seconds": round(time.perf_counter() - started, 3),
                "peak_kb": peak_kb,
                "ru_maxrss_kb": ru_maxrss_kb,
                "startup_peak_kb": startup_kb,
                "walk_peak_kb": walk_peak_kb,
                "end_kb": status.get("VmRSS"),
            }
        )
    )


def _status() -> dict[str, int]:
    """VmRSS, VmHWM... from /proc/self/status, in kB ({} where there is none)."""
    try:
        lines = Path("/proc/self/status").read_text().splitlines()
    except OSError:
        return {}
    return {
        key: int(rest.split()[0])
        for key, _, rest in (line.partition(":") for line in lines)
        if key.startswith("Vm") and rest.strip().endswith("kB")
    }


#: Whether the child reset its peak RSS when it started (then VmHWM is its own peak).
_PEAK_RESET = False


def _reset_peak() -> bool:
    """Reset this process's peak RSS (VmHWM) to its current RSS (Linux 4.0+)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def walk(backend: str, size: int) -> dict[str, Any]:
    """Serve ``size`` invoices of ``backend`` and walk them from a fresh process; its
    measurements."""
    kind, version = BACKENDS[backend]
    with EmulatorHost() as host:
        profile = host.start(kind, kind, invoices=size, api_version=version)
        name, options = backend_options(profile)
        out = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--child"],
            input=json.dumps({"backend": name, **options}),
            capture_output=True,
            text=True,
        )
        stats = host.stats(kind)
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"{backend}: the walk of {size} invoices failed: {last}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    result["requests"] = stats["requests"]
    if result["invoices"] != size:
        raise RuntimeError(f"{backend}: walked {result['invoices']} of {size} invoices")
    return result


def _mb(kb: int | None) -> float | None:
    return None if kb is None else round(kb / 1024, 1)


def run(
    *, sizes: Sequence[int] = (1_000, 50_000), backends: Sequence[str] = tuple(BACKENDS)
) -> dict[str, Any]:
    small, large = sizes
    figures: dict[str, Any] = {}
    growths: dict[str, float] = {}
    errors: dict[str, str] = {}
    for backend in backends:
        try:
            walks = {size: walk(backend, size) for size in (small, large)}
        except RuntimeError as exc:  # reported; the other backends still run
            errors[backend] = str(exc)
            continue
        for label, size in (("small", small), ("large", large)):
            w = walks[size]
            figures[f"memory_peak_rss_{label}_{backend}"] = figure(
                round(w["peak_kb"] / 1024, 1),
                "MB",
                invoices=w["invoices"],
                seconds=w["seconds"],
                invoices_per_s=round(w["invoices"] / w["seconds"]),
                requests=w["requests"],
                ru_maxrss_mb=round(w["ru_maxrss_kb"] / 1024, 1),
                startup_peak_mb=_mb(w["startup_peak_kb"]),
                walk_peak_mb=_mb(w["walk_peak_kb"]),
                rss_at_end_mb=_mb(w["end_kb"]),
            )
        growth = (walks[large]["peak_kb"] - walks[small]["peak_kb"]) / 1024
        growths[backend] = growth
        walk_peaks = [walks[size]["walk_peak_kb"] for size in (small, large)]
        figures[f"memory_growth_{backend}"] = figure(
            round(growth, 1),
            "MB",
            aim=f"< {AIM_MB:g} MB",
            met=growth < AIM_MB,
            sizes=[small, large],
            walk_peak_growth_mb=(
                None if None in walk_peaks else round((walk_peaks[1] - walk_peaks[0]) / 1024, 1)
            ),
        )
    if growths:
        worst = max(growths, key=lambda b: growths[b])
        figures["memory_growth"] = figure(
            round(growths[worst], 1),
            "MB",
            aim=f"< {AIM_MB:g} MB on every backend",
            met=not errors and all(g < AIM_MB for g in growths.values()),
            worst=worst,
            by_backend={b: round(g, 1) for b, g in growths.items()},
            failed=errors or None,
        )
    result: dict[str, Any] = {
        "settings": {"sizes": [small, large], "backends": list(backends)},
        "figures": figures,
    }
    if errors:
        result["error"] = "; ".join(errors.values())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[1_000, 50_000])
    parser.add_argument("--backends", nargs="+", choices=list(BACKENDS), default=list(BACKENDS))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        global _PEAK_RESET
        _PEAK_RESET = _reset_peak()
        _child(json.loads(sys.stdin.read()))
        return
    print(json.dumps(run(sizes=args.sizes, backends=args.backends), indent=2))


if __name__ == "__main__":
    main()
