"""How the compare job's cost grows: 1,000 and then 10,000 matched pairs of invoices in
two memory backends, compared in the same run. A hash join costs about 10x more for 10x
the invoices; an all-pairs match would cost about 100x.

    python benchmarks/bench_compare.py                 # 1000 and 10000, best of 3
    python benchmarks/bench_compare.py 2000 20000 --repeat 1

Prints the time of each run, the time per pair, and the ratio of the two. Not a test:
nothing is asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from decimal import Decimal

from invoicing_bridge.backends.memory import MemoryBackend
from invoicing_bridge.comparison import ComparisonReport, compare
from invoicing_bridge.models import Client, Invoice, LineItem, Payment, RecordRef, TaxRate

D = Decimal
VAT = TaxRate("VAT", D("15"))


def _invoice(n: int, number: str, client: Client) -> Invoice:
    return Invoice.build(
        number=number,
        issue_date=dt.date(2024, 1, 1) + dt.timedelta(days=n % 365),
        due_date=dt.date(2024, 3, 1),
        currency="SAR",
        client=client,
        items=[
            LineItem("Widget", D(n % 7 + 1), D("10.00"), taxes=[VAT]),
            LineItem("Gadget", D("1"), D("99.50"), taxes=[VAT]),
            LineItem("Support hours", D("2"), D("45.00")),
        ],
        payments=[Payment(D("25.00"), dt.date(2024, 2, 1), "bank_transfer")],
        amount_paid=D("25.00"),
    )


def filled(label: str, count: int, number_format: str) -> MemoryBackend:
    """A memory backend holding ``count`` invoices, stored directly: ``create_invoice``
    checks every number against every stored invoice, quadratic for a bulk load."""
    backend = MemoryBackend(label=label)
    client = backend.create_client(Client(name="Acme Trading LLC", email="ap@acme.example"))
    with backend._lock:
        for n in range(1, count + 1):
            id = backend._next_id()
            invoice = _invoice(n, number_format.format(n), client)
            invoice.id = id
            invoice.source = RecordRef(label, id)
            backend._invoices[id] = invoice
    return backend


def timed(count: int, repeat: int) -> tuple[float, ComparisonReport]:
    # Prefixed and padded on one side, bare on the other: normalisation is on the path.
    left = filled("left", count, "INV-{:06d}")
    right = filled("right", count, "{}")
    best = float("inf")
    report: ComparisonReport | None = None
    for _ in range(repeat):
        start = time.perf_counter()
        report = compare(left, right)
        best = min(best, time.perf_counter() - start)
    assert report is not None
    if report.equal != count or not report.ok:
        raise SystemExit(f"unexpected report for {count} pairs: {report.summary()}")
    return best, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("small", nargs="?", type=int, default=1_000)
    parser.add_argument("large", nargs="?", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()

    small, _ = timed(args.small, args.repeat)
    large, _ = timed(args.large, args.repeat)
    size_ratio = args.large / args.small
    for count, seconds in ((args.small, small), (args.large, large)):
        print(
            f"compare {count:>7,} pairs: {seconds:8.3f} s  "
            f"({seconds / count * 1e6:7.1f} µs per pair, best of {args.repeat})"
        )
    print(
        f"ratio {large / small:.2f} for {size_ratio:g}x the invoices "
        f"(linear ≈ {size_ratio:g}, all-pairs ≈ {size_ratio**2:g})"
    )


if __name__ == "__main__":
    main()
