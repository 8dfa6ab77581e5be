"""Requests per migrated invoice, per route, against the floor the APIs allow (issue 16).

Not a timing: a count. Each route migrates an emulator's **realistic** seed (line
discounts, four-place and client-credit payments, drafts, void invoices: what real
accounts hold, nothing dropped to suit the tool) into an empty emulator over real HTTP,
at no added latency, and counts the requests each side answered (``EmulatorStats``), by
route, per migrated invoice. The same counts give the **floor**: the fewest requests the
two APIs allow for what this run moved (see :func:`floor` and docs/performance.md,
"Requests per migrated invoice"). The figure is the ratio of the two.

Requests are put in three groups: ``invoice`` (invoices and payments, read and written),
``client`` (client matching and creation: counted apart, since client matching is its
own piece of work) and ``setup`` (the lookups a backend makes once: site info, taxes,
payment modes, date formats).

A ``memory`` source is an in-memory backend filled, before counting, with the Daftra
emulator's realistic seed (the same clients, invoices and payments).

    python benchmarks/bench_requests.py                 # 60 invoices a route, seed 1
    python benchmarks/bench_requests.py --quick         # 12 invoices, four routes
    python benchmarks/bench_requests.py --routes daftra->perfex2 --invoices 100 --seed 3
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from _common import figure, route_pattern  # noqa: E402

from invoicing_bridge.backends.base import InvoicingBackend  # noqa: E402
from invoicing_bridge.backends.memory import MemoryBackend  # noqa: E402
from invoicing_bridge.migration import migrate  # noqa: E402
from invoicing_bridge.models import PaymentStatus  # noqa: E402
from invoicing_bridge.registry import get_backend  # noqa: E402

#: route name -> (source kind, its emulator options, target kind, its emulator options)
ROUTES: dict[str, tuple[str, dict[str, Any], str, dict[str, Any]]] = {
    "daftra->perfex2": ("daftra", {}, "perfex", {"api_version": 2}),
    "daftra->perfex3": ("daftra", {}, "perfex", {"api_version": 3}),
    "perfex2->daftra": ("perfex", {"api_version": 2}, "daftra", {}),
    "perfex3->daftra": ("perfex", {"api_version": 3}, "daftra", {}),
    "memory->daftra": ("memory", {}, "daftra", {}),
    "memory->perfex2": ("memory", {}, "perfex", {"api_version": 2}),
    "daftra->daftra": ("daftra", {}, "daftra", {}),
    "perfex2->perfex3": ("perfex", {"api_version": 2}, "perfex", {"api_version": 3}),
}
QUICK_ROUTES = ("daftra->perfex2", "perfex2->daftra", "memory->daftra", "memory->perfex2")

#: The issue's aim: requests per migrated invoice at most this many times the floor.
AIM = 1.1

_CLIENT_WORDS = ("/clients", "/customers", "/contacts")
#: Once-a-run lookups, and the listings that count what a run does not move (the report
#: accounts for every source record: estimates, credit notes, client payments, products).
_SETUP_WORDS = (
    "/site_info",
    "/taxes",
    "/listing/",
    "/common/",
    "/estimates",
    "/credit_notes",
    "/client_payments",
    "/products",
    "/items",
)


def group(pattern: str) -> str:
    """``invoice``, ``client`` or ``setup`` for a route pattern (``GET /api/customers``)."""
    path = pattern.partition(" ")[2]
    if any(word in path for word in _SETUP_WORDS):
        return "setup"
    if any(word in path for word in _CLIENT_WORDS):
        return "client"
    return "invoice"


def by_pattern(by_route: Mapping[str, int]) -> Counter[str]:
    patterns: Counter[str] = Counter()
    for route, n in by_route.items():
        patterns[route_pattern(route.split("?", 1)[0])] += n
    return patterns


# --------------------------------------------------------------------------- the floor


def _pages(rows: int, size: int) -> int:
    """Requests to list ``rows`` rows ``size`` a page (an empty list still costs one)."""
    return max(1, math.ceil(rows / size))


def floor(
    source: str,
    target: str,
    *,
    listed: int,
    migrated: int,
    payments: int,
    source_clients: int,
    new_clients: int,
    new_clients_with_email: int,
    setup: Mapping[str, int],
    page_size: int = 100,
) -> dict[str, int]:
    """The fewest requests the two APIs allow for what one run moved, by group.

    ``source``/``target``: ``daftra``, ``perfex2``, ``perfex3`` or ``memory``. ``listed``:
    invoices the source listing gave (each must be read, migrated or not); ``migrated``:
    invoices created in the target; ``payments``: payments recorded with them;
    ``source_clients``: clients the source listing gave (a run without ``since`` moves
    every client); ``new_clients``: clients created in the target (``_with_email``: those
    Perfex gives a primary contact); ``setup``: the distinct lookup routes each side
    needed (``{"source": n, "target": n}``), each counted once.

    The rules, from the API notes (``api-notes/daftra.md``, ``api-notes/perfex.md``):

    - **Reading the source.** Daftra: the invoice list with ``recursive=1`` carries lines
      and payments, ``page_size`` a page; the client list likewise. Perfex: the invoice
      list lacks lines and payments (§4.2), so one ``GET /api/invoices/{id}`` per invoice;
      2.x lists everything in one answer, 3.x ``page_size`` a page; a customer's email is
      on its contacts, one ``GET /api/contacts/{id}`` per client (no list of all contacts).
    - **Clients in the target.** One listing of the target's clients per run to match
      against (the target is empty here: one request), then per new client: Daftra one
      ``POST`` (the answer is the id only) and one read to verify it; Perfex 3.x one
      ``POST`` (``record_id``), 2.x a ``POST`` and a search for its id (§4.4: no id on
      create), and one read to verify it; for one with an email, a ``POST
      /api/contacts`` and one read of its contacts to verify the email (Perfex keeps it
      on the primary contact; the answer carries nothing).
    - **The invoice in the target.** Daftra: one ``POST`` carrying the payments
      (``Payment[]`` beside ``Invoice``, §3), then one read to verify it (the answer is an
      id only). Perfex 3.x: one ``POST`` (``record_id``), one ``POST /api/payments`` per
      payment, one read after the last write to verify it (and, in 2.x, to learn the
      payments' ids, which 2.x never answers); 2.x also one search by number for the
      invoice's id.
    - **Setup.** Each lookup (site info, taxes, payment modes, date formats) once a run;
      one listing of each kind of record the run does not move (estimates, credit
      notes, client payments, products), counted for the report; into Daftra, one page
      of the account's latest invoices, to learn how it rounds line taxes.

    Verification is counted at one read per invoice: a record is claimed done only once
    it is verified, and that read is the verification (or, in Perfex 2.x, also what
    tells the payments' ids). A paged re-listing of the target after the run could verify
    up to ``page_size`` invoices a request on Daftra; ``floor(...)["verify_listed"]`` is
    that variant's verification cost, for comparison.
    """
    out = Counter[str]()
    if source == "daftra":
        out["invoice"] += _pages(listed, page_size)
        out["client"] += _pages(source_clients, page_size)
    elif source in ("perfex2", "perfex3"):
        out["invoice"] += 1 if source == "perfex2" else _pages(listed, page_size)
        out["invoice"] += listed
        out["client"] += 1 if source == "perfex2" else _pages(source_clients, page_size)
        out["client"] += source_clients
    out["client"] += 1  # the target's clients, listed once to match against
    if target == "daftra":
        out["client"] += 2 * new_clients  # POST, one read to verify
        out["invoice"] += 2 * migrated  # POST with the payments, one read to verify
        # The account's latest invoices, read once a run to learn how it rounds line
        # taxes (no source says; the plan must compute the tax the target will store).
        out["invoice"] += 1 if migrated else 0
    else:
        per_client = 2 if target == "perfex3" else 3  # POST (2.x: the search), one read
        out["client"] += per_client * new_clients + 2 * new_clients_with_email
        out["invoice"] += 2 * migrated + payments  # POST, payments, one read
        if target == "perfex2":
            out["invoice"] += migrated  # the search that finds the new invoice's id
    out["setup"] += sum(setup.values())
    result = dict(out)
    result["total"] = sum(out.values())
    result["verify_listed"] = _pages(migrated, page_size) if target == "daftra" else migrated
    return result


# --------------------------------------------------------------------------- running


def _emulator(kind: str, invoices: int, seed: int, options: Mapping[str, Any]) -> Any:
    if kind == "daftra":
        from invoicing_bridge_daftra.emulator import DaftraEmulator

        return DaftraEmulator(invoices=invoices, seed=seed, **options)
    from invoicing_bridge_perfex.emulator import PerfexEmulator

    return PerfexEmulator(invoices=invoices, seed=seed, **options)


@contextmanager
def _backend(emulator: Any) -> Iterator[InvoicingBackend]:
    options = dict(emulator.profile())
    name = options.pop("backend")
    with get_backend(name, **options) as backend:
        yield backend


def memory_copy(invoices: int, seed: int) -> MemoryBackend:
    """A memory backend holding the Daftra emulator's realistic seed: its clients, and
    its invoices with their payments (read through the Daftra backend, not counted)."""
    memory = MemoryBackend(label="seeded")
    with _emulator("daftra", invoices, seed, {}) as emulator, _backend(emulator) as daftra:
        ids: dict[str, str] = {}
        for client in daftra.iter_clients():
            stored = memory.create_client(dataclasses.replace(client, id=None, source=None))
            ids[str(client.id)] = str(stored.id)
        for invoice in daftra.iter_invoices():
            invoice = daftra.full_invoice(invoice)
            client = dataclasses.replace(invoice.client, id=ids[str(invoice.client.id)])
            payments = [
                dataclasses.replace(p, id=None, invoice_id=None, source=None)
                for p in invoice.payments
                if p.status is PaymentStatus.COMPLETED
            ]
            memory.create_invoice(
                invoice.copy(id=None, source=None, client=client, payments=payments)
            )
    return memory


def _kind(name: str, options: Mapping[str, Any]) -> str:
    return f"perfex{options.get('api_version', 2)}" if name == "perfex" else name


def run_route(route: str, *, invoices: int, seed: int, workers: int = 4) -> dict[str, Any]:
    """Migrate ``route``'s realistic seed; the requests each side answered, by group and
    route, per migrated invoice, and the floor."""
    src, src_opts, dst, dst_opts = ROUTES[route]
    with ExitStack() as stack:
        source_emulator = None
        if src == "memory":
            source: InvoicingBackend = memory_copy(invoices, seed)
        else:
            source_emulator = stack.enter_context(_emulator(src, invoices, seed, src_opts))
            source = stack.enter_context(_backend(source_emulator))
        target_emulator = stack.enter_context(_emulator(dst, 0, seed, dst_opts))
        target = stack.enter_context(_backend(target_emulator))
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-requests-"))
        for emulator in (source_emulator, target_emulator):
            if emulator is not None:
                emulator.stats.reset()
        report = migrate(source, target, ledger=Path(tmp) / "ledger.sqlite", workers=workers)
        sides = {"target": by_pattern(target_emulator.stats.snapshot()["by_route"])}
        if source_emulator is not None:
            sides["source"] = by_pattern(source_emulator.stats.snapshot()["by_route"])
        else:
            sides["source"] = Counter()
        counts = report.counts
        migrated = counts["invoice"].created + counts["invoice"].transformed
        listed = sum(
            getattr(counts["invoice"], outcome)
            for outcome in ("created", "transformed", "failed", "skipped", "needs_attention")
        )
        payments = counts["payment"].created + counts["payment"].transformed
        client_records = [r for r in report.records if r.kind == "client"]
        new_client_ids = {
            r.target_id for r in client_records if r.outcome in ("created", "transformed")
        }
        new_clients = len(new_client_ids)
        with_email = sum(
            1
            for client in (target.iter_clients() if new_clients and dst == "perfex" else ())
            if client.id in new_client_ids and client.email
        )
    setup = {
        side: sum(1 for pattern in patterns if group(pattern) == "setup")
        for side, patterns in sides.items()
    }
    low = floor(
        _kind(src, src_opts),
        _kind(dst, dst_opts),
        listed=listed,
        migrated=migrated,
        payments=payments,
        source_clients=len(client_records),
        new_clients=new_clients,
        new_clients_with_email=with_email,
        setup=setup,
    )
    measured: Counter[str] = Counter()
    for patterns in sides.values():
        for pattern, n in patterns.items():
            measured[group(pattern)] += n
    total = sum(measured.values())
    per = max(migrated, 1)
    without_clients = total - measured["client"]
    floor_without_clients = low["total"] - low["client"]
    return {
        "route": route,
        "seed": seed,
        "listed": listed,
        "migrated": migrated,
        "payments": payments,
        "clients": {
            "source": len(client_records),
            "created": new_clients,
            "with_email": with_email,
        },
        "outcomes": {k: v for k, v in counts["invoice"].to_dict().items() if v},
        "requests": dict(measured, total=total),
        "floor": low,
        "per_invoice": round(total / per, 3),
        "floor_per_invoice": round(low["total"] / per, 3),
        "ratio": round(total / max(low["total"], 1), 3),
        "per_invoice_without_clients": round(without_clients / per, 3),
        "floor_per_invoice_without_clients": round(floor_without_clients / per, 3),
        "ratio_without_clients": round(without_clients / max(floor_without_clients, 1), 3),
        "by_route": {
            side: {p: round(n / per, 3) for p, n in patterns.most_common()}
            for side, patterns in sides.items()
        },
        "ok": not [r for r in report.failures if r.kind == "payment"],
    }


def run(
    *, invoices: int = 60, seed: int = 1, routes: Sequence[str] = tuple(ROUTES)
) -> dict[str, Any]:
    """Requests per migrated invoice and their ratio to the floor, per route."""
    runs = [run_route(r, invoices=invoices, seed=seed) for r in routes]
    figures: dict[str, Any] = {}
    for r in runs:
        key = "requests_" + r["route"].replace("->", "_to_")
        figures[key] = figure(
            r["ratio"],
            "x the floor",
            aim=f"<= {AIM}",
            met=r["ratio"] <= AIM,
            per_invoice=r["per_invoice"],
            floor_per_invoice=r["floor_per_invoice"],
            ratio_without_clients=r["ratio_without_clients"],
            migrated=r["migrated"],
        )
        figures[key + "_without_clients"] = figure(
            r["ratio_without_clients"],
            "x the floor",
            aim=f"<= {AIM}",
            met=r["ratio_without_clients"] <= AIM,
            per_invoice=r["per_invoice_without_clients"],
            floor_per_invoice=r["floor_per_invoice_without_clients"],
        )
    return {"settings": {"invoices": invoices, "seed": seed}, "figures": figures, "runs": runs}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=60, help="seeded invoices a route")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--routes", nargs="+", choices=list(ROUTES), default=list(ROUTES))
    parser.add_argument("--quick", action="store_true", help="12 invoices, four routes")
    args = parser.parse_args(argv)
    if args.quick:
        result = run(invoices=12, seed=args.seed, routes=QUICK_ROUTES)
    else:
        result = run(invoices=args.invoices, seed=args.seed, routes=args.routes)
    print(json.dumps(result["runs"], indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
