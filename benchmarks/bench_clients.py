"""Client matching: the requests a migration sends the target to match and create clients.

A Daftra emulator seeded with ``N`` clients (its realistic seed: people and businesses,
Arabic and Latin names, each with an email of its own) and no invoices is migrated into a
Daftra emulator and into a Perfex emulator (module 2.x), each seeded (another seed) with a
few invoices and clients of its own. Every source client is new to the target, so each
one is matched (found absent) and created. The target's requests are counted by route:
listing pages of its clients, searches, creates, reads of one record. A count, not a
time: it holds on any machine.

The aim (issue 16): client matching requests linear in clients, at most one listing of
the target's clients per run (its pages) plus one create per new client.

    python benchmarks/bench_clients.py                  # N = 100, 1,000 and 2,500
    python benchmarks/bench_clients.py --sizes 100 --targets perfex
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from _common import EmulatorHost, backend_options, figure, route_pattern

from invoicing_bridge.migration import migrate
from invoicing_bridge.registry import get_backend

#: Invoices seeded in the target: its existing clients (Perfex: 8 customers; Daftra: 9).
TARGET_INVOICES = 24

#: The target's client routes by what they do (route patterns, see ``route_pattern``).
KINDS: dict[str, dict[str, str]] = {
    "daftra": {
        "GET /api2/clients.json": "listing",
        "POST /api2/clients.json": "create",
        "GET /api2/clients/{id}.json": "read",
    },
    "perfex": {
        "GET /api/customers": "listing",
        "GET /api/customers/search/{term}": "search",
        "GET /api/contacts/search/{term}": "search",
        "POST /api/customers": "create",
        "POST /api/contacts": "create",
        "GET /api/customers/{id}": "read",
        "GET /api/contacts/{id}": "read",
    },
}


def by_kind(target: str, by_route: Mapping[str, int]) -> dict[str, int]:
    """Requests by what they do (``listing``, ``search``, ``create``, ``read``, ``other``)."""
    kinds: Counter[str] = Counter({"listing": 0, "search": 0, "create": 0, "read": 0})
    for route, n in by_route.items():
        kinds[KINDS[target].get(route_pattern(route), "other")] += n
    return dict(kinds)


def migrate_clients(
    target: str, clients: int, *, workers: int = 4, seed: int = 1
) -> dict[str, Any]:
    """Migrate ``clients`` new clients into a ``target`` emulator; what the target saw."""
    with EmulatorHost() as host:
        source_profile = host.start("source", "daftra", clients=clients, seed=seed)
        # The target holds clients of its own already (its seed's: Daftra's few, a Perfex
        # install's customers of TARGET_INVOICES invoices, each with a primary contact).
        target_profile = host.start("target", target, seed=seed + 1, invoices=TARGET_INVOICES)
        host.reset("target")
        before = len(_clients(target_profile))
        # What one walk of the target's clients costs (the aim's "one listing").
        one_walk = by_kind(target, host.stats("target")["by_route"])
        host.reset("target")
        source_name, source_options = backend_options(source_profile)
        target_name, target_options = backend_options(target_profile)
        with (
            get_backend(source_name, **source_options) as source,
            get_backend(target_name, **target_options) as backend,
            tempfile.TemporaryDirectory(prefix="bench-clients-") as tmp,
        ):
            started = time.perf_counter()
            report = migrate(source, backend, ledger=Path(tmp) / "ledger.sqlite", workers=workers)
            seconds = time.perf_counter() - started
        stats = host.stats("target")
    counts = report.counts["client"]
    routes: Counter[str] = Counter()
    for route, n in stats["by_route"].items():
        routes[route_pattern(route)] += n
    return {
        "target": target,
        "clients": clients,
        "target_clients_before": before,
        "one_walk_listing_requests": one_walk["listing"],
        "workers": workers,
        "created": counts.created,
        "matched": counts.matched,
        "failed": counts.failed,
        "ok": report.ok,
        "seconds": round(seconds, 2),
        "requests": stats["requests"],
        "by_kind": by_kind(target, stats["by_route"]),
        "by_route": dict(routes.most_common()),
    }


def _clients(profile: Mapping[str, Any]) -> list[Any]:
    name, options = backend_options(profile)
    with get_backend(name, **options) as backend:
        return list(backend.iter_clients())


def run(
    *,
    sizes: Sequence[int] = (100, 1_000, 2_500),
    targets: Sequence[str] = ("daftra", "perfex"),
    largest: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Each target at each size (up to ``largest[target]`` where given)."""
    limits = largest or {}
    runs = [
        migrate_clients(target, n)
        for target in targets
        for n in sizes
        if n <= limits.get(target, n)
    ]
    figures: dict[str, Any] = {}
    for r in runs:
        target, n, kinds, created = r["target"], r["clients"], r["by_kind"], r["created"]
        # Listing pages and searches: what finding (or not finding) a client costs. The
        # aim allows one walk of the target's clients per run plus one per create (Perfex
        # 2.x answers a create with no id: the new customer is searched by name).
        lookups = kinds["listing"] + kinds["search"]
        allowed = r["one_walk_listing_requests"] + created
        figures[f"clients_{target}_{n}_lookup_requests"] = figure(
            lookups,
            "client listing + search requests",
            aim=f"<= one listing walk + 1 per create ({allowed})",
            met=lookups <= allowed and r["ok"] and created == n,
            per_client=round(lookups / max(n, 1), 3),
            listing=kinds["listing"],
            search=kinds["search"],
            one_walk=r["one_walk_listing_requests"],
            target_clients_before=r["target_clients_before"],
            created=created,
            matched=r["matched"],
            failed=r["failed"],
        )
        figures[f"clients_{target}_{n}_requests_per_client"] = figure(
            round(r["requests"] / max(n, 1), 3),
            "target requests per new client",
            by_kind=kinds,
            by_route=r["by_route"],
            seconds=r["seconds"],
        )
    return {"settings": {"sizes": list(sizes), "targets": list(targets)}, "figures": figures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1_000, 2_500])
    parser.add_argument("--targets", nargs="+", default=["daftra", "perfex"])
    args = parser.parse_args()
    for target in args.targets:
        for n in args.sizes:
            print(json.dumps(migrate_clients(target, n)), flush=True)


if __name__ == "__main__":
    main()
