"""Run every benchmark, write the figures to a JSON file and print them as a table.

    python benchmarks/run.py                        # the full run (a few minutes)
    python benchmarks/run.py --quick                # tiny sizes, well under a minute
    python benchmarks/run.py --only mapping migrate # some of them
    python benchmarks/run.py --output results.json  # default: benchmarks/results.json

Every figure is a ratio of two things measured in the same run (or a count), so that it
holds on a noisy machine. Benchmarks: mapping, overhead, migrate (throughput and requests
per invoice), memory, e2e (migrate, re-run, compare and faults at no latency), requests
(requests per migrated invoice against the APIs' floor, per route), compare, startup
(``invoicing-bridge --help`` against bare Python), clients (client matching requests into
Daftra and Perfex).
See benchmarks/README.md for what each one measures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import logging
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # also when imported from elsewhere (the smoke test)
    sys.path.insert(0, str(HERE))

import bench_clients  # noqa: E402
import bench_compare  # noqa: E402
import bench_e2e  # noqa: E402
import bench_mapping  # noqa: E402
import bench_memory  # noqa: E402
import bench_migrate  # noqa: E402
import bench_overhead  # noqa: E402
import bench_requests  # noqa: E402
import bench_startup  # noqa: E402
from _common import best_of, figure, machine  # noqa: E402

#: The compare job's aim: 10x the pairs in at most this many times the time (10 is
#: linear, 100 all-pairs); the slack covers cache and allocator effects at 10k.
COMPARE_AIM = 13.0


def _frozen(count: int, repeat: int) -> float:
    """The compare job's time with the pairs built before timing moved out of the cyclic
    garbage collector's sight (``gc.freeze``): the algorithm's own cost, without the
    collector re-scanning a heap that grows with the pairs."""
    left = bench_compare.filled("left", count, "INV-{:06d}")
    right = bench_compare.filled("right", count, "{}")
    gc.collect()
    gc.freeze()
    try:
        return best_of(repeat, lambda: bench_compare.compare(left, right))
    finally:
        gc.unfreeze()


def compare(*, small: int = 1_000, large: int = 10_000, repeat: int = 3) -> dict[str, Any]:
    """Figure 5, with the compare engineer's ``bench_compare.timed`` (best of ``repeat``)."""
    gc.collect()  # what earlier benchmarks left behind is not this one's to scan
    small_s, _ = bench_compare.timed(small, repeat)
    large_s, _ = bench_compare.timed(large, repeat)
    ratio = large_s / small_s
    frozen_ratio = _frozen(large, repeat) / _frozen(small, repeat)
    size = large / small
    figures = {
        "compare_small_s": figure(round(small_s, 4), "s", pairs=small),
        "compare_large_s": figure(round(large_s, 4), "s", pairs=large),
        "compare_scaling_ratio": figure(
            round(ratio, 2),
            f"x time for {size:g}x pairs",
            aim=f"about {size:g} (linear), <= {COMPARE_AIM * size / 10:g}",
            met=ratio <= COMPARE_AIM * size / 10,
            us_per_pair_small=round(small_s / small * 1e6, 1),
            us_per_pair_large=round(large_s / large * 1e6, 1),
            ratio_without_gc_rescans=round(frozen_ratio, 2),
        ),
    }
    return {"settings": {"small": small, "large": large, "repeat": repeat}, "figures": figures}


#: name -> (full run, quick run)
BENCHMARKS: dict[str, tuple[Callable[[], dict[str, Any]], Callable[[], dict[str, Any]]]] = {
    "mapping": (
        lambda: bench_mapping.run(count=300, repeat=7),
        lambda: bench_mapping.run(count=20, repeat=2, invoices=5),
    ),
    "overhead": (
        lambda: bench_overhead.run(count=300, repeat=5),
        lambda: bench_overhead.run(count=20, repeat=2),
    ),
    "migrate": (
        lambda: bench_migrate.run(invoices=150, workers=(1, 4, 16), latency_ms=100),
        lambda: bench_migrate.run(invoices=16, workers=(1, 4, 16), latency_ms=5),
    ),
    "memory": (
        lambda: bench_memory.run(sizes=(1_000, 50_000)),
        lambda: bench_memory.run(sizes=(50, 200)),
    ),
    "e2e": (
        lambda: bench_e2e.run(invoices=200, fault_rate=0.05),
        lambda: bench_e2e.run(invoices=20, fault_rate=0.05),
    ),
    "requests": (
        lambda: bench_requests.run(invoices=60, seed=1),
        lambda: bench_requests.run(invoices=12, seed=1, routes=bench_requests.QUICK_ROUTES),
    ),
    "compare": (
        lambda: compare(small=1_000, large=10_000, repeat=3),
        lambda: compare(small=100, large=1_000, repeat=1),
    ),
    "startup": (
        lambda: bench_startup.run(repeat=15),
        lambda: bench_startup.run(repeat=2),
    ),
    "clients": (
        # Perfex to 1,000: at 2,500 the emulator's name search (one per create, answering
        # every namesake of the seed's repeated company names) takes some 18 minutes of
        # its CPU; bench_clients.py --sizes 2500 --targets perfex measures it alone.
        lambda: bench_clients.run(sizes=(100, 1_000, 2_500), largest={"perfex": 1_000}),
        lambda: bench_clients.run(sizes=(20,)),
    ),
}


def run(names: list[str], *, quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    started = time.perf_counter()
    results: dict[str, Any] = {}
    for name in names:
        full, small = BENCHMARKS[name]
        log(f"running {name}{' (quick)' if quick else ''}...")
        t0 = time.perf_counter()
        try:
            results[name] = (small if quick else full)()
        except Exception as exc:  # one broken benchmark must not hide the others
            results[name] = {"error": f"{type(exc).__name__}: {exc}", "figures": {}}
            log(traceback.format_exc())
        results[name]["seconds"] = round(time.perf_counter() - t0, 1)
    return {
        "command": " ".join(["python", "benchmarks/run.py", *sys.argv[1:]]),
        "quick": quick,
        "machine": machine(),
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 1),
        "benchmarks": results,
    }


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "—" if value is None else str(value)


def print_table(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="invoicing-bridge benchmarks" + (" (quick)" if data["quick"] else ""))
    for column in ("benchmark", "figure", "value", "unit", "aim", "met?"):
        table.add_column(column, justify="right" if column == "value" else "left")
    for name, result in data["benchmarks"].items():
        if "error" in result:
            table.add_row(name, "[red]error[/red]", "", "", "", result["error"][:60])
        for key, fig in result["figures"].items():
            met = fig["met"]
            mark = "—" if met is None else ("[green]yes[/green]" if met else "[red]no[/red]")
            table.add_row(name, key, _show(fig["value"]), fig["unit"], fig["aim"] or "", mark)
    console = Console() if sys.stdout.isatty() else Console(width=150)
    console.print(table)
    m = data["machine"]
    console.print(
        f"{m['cpu']}, {m['cores']} cores, Python {m['python']}, {m['date']}; "
        f"{data['seconds']} s in all"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Run the invoicing-bridge benchmarks; write JSON, print a table."
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    parser.add_argument(
        "--only", nargs="+", choices=list(BENCHMARKS), metavar="NAME", help="run only these"
    )
    parser.add_argument(
        "--output", type=Path, default=HERE / "results.json", help="where to write the JSON"
    )
    args = parser.parse_args(argv)
    names = args.only or list(BENCHMARKS)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    # The faults benchmark makes the library log every retry; its figures count them.
    logging.getLogger("invoicing_bridge").setLevel(logging.ERROR)
    data = run(names, quick=args.quick, log=log)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
    print_table(data)
    print(f"results written to {args.output}")
    return 1 if any("error" in r for r in data["benchmarks"].values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
