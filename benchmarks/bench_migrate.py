"""Migration throughput and requests per migrated invoice (figures 3 and 6).

Each route migrates an emulator's **realistic** seed (line discounts, four-place and
client-credit payments, void and draft invoices, as real accounts hold them) into an
empty emulator: Daftra -> Perfex (module 2.x) and Perfex (module 2.x) -> Daftra, both
sides with ``latency_ms`` added to every request and served by a process of their own.
What the target cannot store as it is, the migration transforms (or skips: void and
draft invoices); the outcome counts are reported beside the throughput.

For each route and worker count: invoices per second, the requests each side counted,
and the ratio to the ideal bound ``workers / (requests per invoice x latency)``: what the
run would reach if every request cost exactly the latency and the workers never waited
for anything else. The ratio equals ``requests x latency / (workers x seconds)``, the
share of the workers' time spent waiting on a request, whichever invoices are counted.

    python benchmarks/bench_migrate.py                       # 200 invoices, 100 ms, 1/4/16
    python benchmarks/bench_migrate.py --invoices 100 --workers 16 --routes perfex2_to_daftra
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _common import (
    EmulatorHost,
    RequestTimer,
    backend_options,
    cpu_pressure,
    figure,
    own_cpu_seconds,
    routes_per,
)

from invoicing_bridge.migration import migrate
from invoicing_bridge.registry import get_backend

#: The issue's aim: at least this share of the ideal bound.
AIM_RATIO = 0.8

#: route -> (source emulator, its Perfex module version, target emulator, its version).
#: The emulators are named after their system ("daftra", "perfex") in every direction.
ROUTES: dict[str, tuple[str, int | None, str, int | None]] = {
    "daftra_to_perfex2": ("daftra", None, "perfex", 2),
    "perfex2_to_daftra": ("perfex", 2, "daftra", None),
    "perfex3_to_daftra": ("perfex", 3, "daftra", None),
    "daftra_to_perfex3": ("daftra", None, "perfex", 3),
}
DEFAULT_ROUTES = ("daftra_to_perfex2", "perfex2_to_daftra")
#: Invoice outcomes reported beside the throughput.
OUTCOMES = ("created", "transformed", "matched", "skipped", "failed")


def migrate_once(
    route: str, invoices: int, workers: int, latency_ms: float, seed: int = 1
) -> dict[str, Any]:
    """One migration along ``route`` of ``invoices`` seeded invoices with ``workers``
    workers; its measurements."""
    source_kind, source_version, target_kind, target_version = ROUTES[route]
    with EmulatorHost() as host:
        source_profile = host.start(
            source_kind,
            source_kind,
            invoices=invoices,
            latency_ms=latency_ms,
            seed=seed,
            api_version=source_version,
        )
        target_profile = host.start(
            target_kind, target_kind, latency_ms=latency_ms, seed=seed, api_version=target_version
        )
        source_name, source_options = backend_options(source_profile)
        target_name, target_options = backend_options(target_profile)
        with (
            get_backend(source_name, **source_options) as source,
            get_backend(target_name, **target_options) as target,
            tempfile.TemporaryDirectory(prefix="bench-migrate-") as tmp,
        ):
            host_cpu, own_cpu = host.cpu_seconds(), own_cpu_seconds()
            pressure = cpu_pressure()
            with RequestTimer() as timer:
                started = time.perf_counter()
                report = migrate(
                    source, target, ledger=Path(tmp) / "ledger.sqlite", workers=workers
                )
                seconds = time.perf_counter() - started
            own_cpu = own_cpu_seconds() - own_cpu
            host_after = host.cpu_seconds()
            server_cpu = None if host_cpu is None or host_after is None else host_after - host_cpu
        daftra, perfex = host.stats("daftra"), host.stats("perfex")
    counts = report.counts["invoice"]
    outcomes = {name: getattr(counts, name) for name in OUTCOMES}
    # Migrated: what the target now holds for a source invoice (as it is, or transformed).
    migrated = counts.created + counts.transformed + counts.matched
    requests = daftra["requests"] + perfex["requests"]
    per_invoice = requests / max(migrated, 1)
    rate = migrated / seconds
    bound = workers / (per_invoice * latency_ms / 1000) if latency_ms else None
    # The workers' threads: the pool's, or the calling thread when there is no pool.
    in_requests = timer.seconds_by_thread()
    worker_seconds = in_requests.get("migrate" if workers > 1 else "MainThread", 0.0)
    mean_ms = timer.mean_ms()
    return {
        "route": route,
        "invoices": sum(outcomes.values()),
        "outcomes": outcomes,
        "workers": workers,
        "latency_ms": latency_ms,
        "seconds": round(seconds, 3),
        "migrated": migrated,
        "failed": {kind: c.failed for kind, c in report.counts.items()},
        "ok": report.ok,
        "failures": [r.to_dict() for r in report.failures[:5]],
        "clients": report.counts["client"].created + report.counts["client"].matched,
        "payments": report.counts["payment"].created + report.counts["payment"].transformed,
        "invoices_per_second": round(rate, 3),
        # Where the time went: CPU seconds of this process (the library) and of the
        # emulators' process, against the run's wall-clock seconds (2 cores: at most 2x).
        "client_cpu_s": round(own_cpu, 2),
        "server_cpu_s": None if server_cpu is None else round(server_cpu, 2),
        # How long the requests really took (the latency added, plus both sides' own
        # time, plus any wait for a CPU), and the share of the workers' time spent in one.
        "request_ms_mean": None if mean_ms is None else round(mean_ms, 1),
        "workers_in_request_share": round(worker_seconds / (workers * seconds), 3),
        "seconds_in_requests_by_thread": {k: round(v, 1) for k, v in in_requests.items()},
        "machine_load": pressure,
        "requests": {"daftra": daftra["requests"], "perfex": perfex["requests"]},
        "connections": {"daftra": daftra["connections"], "perfex": perfex["connections"]},
        "requests_per_invoice": round(per_invoice, 3),
        "ideal_bound": None if bound is None else round(bound, 3),
        "ratio_to_bound": None if bound is None else round(rate / bound, 3),
        "by_route": {
            "daftra": routes_per(daftra["by_route"], migrated),
            "perfex": routes_per(perfex["by_route"], migrated),
        },
    }


def run(
    *,
    invoices: int = 200,
    workers: Sequence[int] = (1, 4, 16),
    latency_ms: float = 100,
    routes: Sequence[str] = DEFAULT_ROUTES,
) -> dict[str, Any]:
    """Figures 3 (throughput per route and worker count, ratio to the bound) and 6
    (requests per migrated invoice, by route, of the first route at the most workers)."""
    runs = [migrate_once(route, invoices, w, latency_ms) for route in routes for w in workers]
    figures: dict[str, Any] = {}
    for r in runs:
        ratio = r["ratio_to_bound"]
        key = f"migrate_{r['route']}_{r['workers']}w"
        figures[f"{key}_invoices_per_s"] = figure(
            r["invoices_per_second"],
            "invoices/s",
            migrated=r["migrated"],
            seconds=r["seconds"],
            ideal_bound=r["ideal_bound"],
            outcomes=r["outcomes"],
        )
        figures[f"{key}_ratio_to_bound"] = figure(
            ratio,
            "ratio",
            aim=f">= {AIM_RATIO}",
            met=None if ratio is None else (ratio >= AIM_RATIO and r["ok"]),
            requests_per_invoice=r["requests_per_invoice"],
            request_ms_mean=r["request_ms_mean"],
            workers_in_request_share=r["workers_in_request_share"],
            machine_load=r["machine_load"],
            client_cpu_s=r["client_cpu_s"],
            server_cpu_s=r["server_cpu_s"],
            seconds=r["seconds"],
        )
    last = [r for r in runs if r["route"] == routes[0]][-1]
    figures["requests_per_invoice"] = figure(
        last["requests_per_invoice"],
        "requests/invoice",
        aim="no request that is not needed",
        route=last["route"],
        daftra=round(last["requests"]["daftra"] / max(last["migrated"], 1), 3),
        perfex=round(last["requests"]["perfex"] / max(last["migrated"], 1), 3),
        by_route=last["by_route"],
    )
    return {
        "settings": {
            "invoices": invoices,
            "workers": list(workers),
            "latency_ms": latency_ms,
            "routes": list(routes),
        },
        "figures": figures,
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=200)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--latency-ms", type=float, default=100)
    parser.add_argument("--routes", nargs="+", choices=list(ROUTES), default=list(DEFAULT_ROUTES))
    args = parser.parse_args()
    result = run(
        invoices=args.invoices,
        workers=args.workers,
        latency_ms=args.latency_ms,
        routes=args.routes,
    )
    print(json.dumps(result["runs"], indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
