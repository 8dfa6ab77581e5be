"""Outcomes of migrations of the emulators' realistic seeds, per route (issue 12).

Not a timing: a count. Each route migrates a seeded emulator (the realistic seed, as real
accounts are: line discounts, four-place and client-credit payments, void and draft
invoices) into an empty one and counts the invoices per outcome, the failures per reason
(the reason's first words, numbers left out) and what the transformations changed.

    python benchmarks/bench_migrate_outcomes.py                  # 100 invoices, seeds 1-5
    python benchmarks/bench_migrate_outcomes.py --invoices 40 --seeds 1 2
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from invoicing_bridge.backends.base import InvoicingBackend
from invoicing_bridge.migration import migrate
from invoicing_bridge.registry import get_backend

#: (name, source emulator, its options, target emulator, its options)
ROUTES: tuple[tuple[str, str, dict[str, Any], str, dict[str, Any]], ...] = (
    ("daftra->perfex2", "daftra", {}, "perfex", {"api_version": 2}),
    ("daftra->perfex3", "daftra", {}, "perfex", {"api_version": 3}),
    ("perfex2->daftra", "perfex", {"api_version": 2}, "daftra", {}),
    ("perfex3->daftra", "perfex", {"api_version": 3}, "daftra", {}),
    ("daftra->daftra", "daftra", {}, "daftra", {}),
    ("perfex2->perfex3", "perfex", {"api_version": 2}, "perfex", {"api_version": 3}),
)


def _emulator_class(name: str) -> Any:
    if name == "daftra":
        from invoicing_bridge_daftra.emulator import DaftraEmulator

        return DaftraEmulator
    from invoicing_bridge_perfex.emulator import PerfexEmulator

    return PerfexEmulator


@contextmanager
def _backend(emulator: Any) -> Iterator[InvoicingBackend]:
    options = dict(emulator.profile())
    name = options.pop("backend")
    with get_backend(name, **options) as backend:
        yield backend


def reason_kind(text: str | None) -> str:
    """A failure's reason without its numbers and ids: what groups alike failures."""
    text = re.sub(r"[-+]?\d[\d.,]*", "N", text or "")
    text = re.sub(r"'[^']*'", "'…'", text)
    return text[:140]


def run_route(route: str, invoices: int, seed: int) -> dict[str, Any]:
    """One migration of a realistic seed along ``route``: outcomes and reasons."""
    _name, src, src_opts, dst, dst_opts = next(r for r in ROUTES if r[0] == route)
    with (
        _emulator_class(src)(invoices=invoices, seed=seed, **src_opts) as source_emulator,
        _emulator_class(dst)(invoices=0, seed=seed, **dst_opts) as target_emulator,
        _backend(source_emulator) as source,
        _backend(target_emulator) as target,
        tempfile.TemporaryDirectory(prefix="bench-outcomes-") as tmp,
    ):
        report = migrate(source, target, ledger=Path(tmp) / "ledger.sqlite", workers=4)
    data = report.to_dict()
    invoice_records = [r for r in data["records"] if r["kind"] == "invoice"]
    outcomes = Counter(r["outcome"] for r in invoice_records)
    reasons = Counter(reason_kind(r["reason"]) for r in invoice_records if r["outcome"] == "failed")
    changes: Counter[str] = Counter()
    for record in invoice_records:
        for change in record.get("changes") or ():
            changes[str(change.get("rule") or change.get("field"))] += 1
    return {
        "route": route,
        "seed": seed,
        "invoices": len(invoice_records),
        "outcomes": dict(outcomes),
        "failure_reasons": dict(reasons.most_common()),
        "transformations": dict(changes.most_common()),
        "counts": data["counts"],
        "ok": data["ok"],
    }


def summarise(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per route: invoices, outcome shares, failure reasons summed over the seeds."""
    out: dict[str, Any] = {}
    for run in runs:
        route = out.setdefault(
            run["route"],
            {
                "invoices": 0,
                "outcomes": Counter(),
                "failure_reasons": Counter(),
                "changes": Counter(),
            },
        )
        route["invoices"] += run["invoices"]
        route["outcomes"].update(run["outcomes"])
        route["failure_reasons"].update(run["failure_reasons"])
        route["changes"].update(run["transformations"])
    for route in out.values():
        total = max(route["invoices"], 1)
        route["shares"] = {k: round(v / total, 4) for k, v in sorted(route["outcomes"].items())}
        # Issue 12's bar: created or transformed, of the invoices the target can hold (a
        # fresh target skips only what it cannot store: void invoices).
        counted = route["outcomes"]
        movable = max(route["invoices"] - counted.get("skipped", 0), 1)
        done = counted.get("created", 0) + counted.get("transformed", 0)
        route["created_or_transformed_of_movable"] = round(done / movable, 4)
        route["outcomes"] = dict(route["outcomes"])
        route["failure_reasons"] = dict(route["failure_reasons"].most_common())
        route["changes"] = dict(route["changes"].most_common())
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=100)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--routes", nargs="+", default=[r[0] for r in ROUTES])
    args = parser.parse_args(argv)
    runs = [run_route(r, args.invoices, s) for r in args.routes for s in args.seeds]
    print(json.dumps(summarise(runs), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
