"""``invoicing-bridge demo``: the main job end to end, with no account and no config file.

Starts the Daftra emulator (seeded) and an empty Perfex emulator on free loopback ports,
migrates every Daftra invoice to Perfex, compares the two sides through the migration
ledger and prints both reports. The emulators are found through the
``invoicing_bridge.emulators`` entry points (the core imports no plugin by name).
"""

from __future__ import annotations

import contextlib
import importlib
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import click

from ..backends.base import InvoicingBackend
from ..config import dumps_profile
from ..emulation.base import Emulator
from ..exceptions import BackendNotFound, ConfigurationError
from ..migration import Ledger, MigrationReport
from ..migration import migrate as run_migration
from ..registry import emulator_class, get_backend
from .migrate import progress_reporter, render_report
from .output import console

__all__ = ["demo"]

SOURCE, TARGET = "daftra", "perfex"
CENT = Decimal("0.01")


def _backend(emulator: Any) -> InvoicingBackend:
    options = dict(emulator.profile())
    name = options.pop("backend")
    return get_backend(name, **options)


def _requests(emulator: Any) -> int:
    return int(emulator.stats.snapshot()["requests"])


def _check_totals(
    source: InvoicingBackend, target: InvoicingBackend, ledger_path: Path
) -> tuple[bool, list[str]]:
    """Without the compare job: read both sides of every ledger pair back and check that
    the totals agree to the cent."""
    problems: list[str] = []
    with Ledger(ledger_path) as ledger:
        pairs = list(ledger.pairs("invoice"))
    for source_id, target_id in pairs:
        left, right = source.get_invoice(source_id), target.get_invoice(target_id)
        for name in ("total", "amount_paid", "balance_due"):
            a, b = getattr(left, name), getattr(right, name)
            if abs(a - b) >= CENT:
                problems.append(f"{left.number}: {name} {a} in {SOURCE}, {b} in {TARGET}")
    return not problems, problems


def _compare(
    source: InvoicingBackend, target: InvoicingBackend, ledger_path: Path, quiet: bool
) -> bool:
    out = console()
    try:
        compare_module = importlib.import_module("invoicing_bridge.comparison")
    except ModuleNotFoundError:  # the compare job is not installed: check the totals
        ok, problems = _check_totals(source, target, ledger_path)
        if not quiet:
            for line in problems:
                out.print(f"[red]{line}[/red]")
            out.print(
                "read back: every total agrees to the cent"
                if ok
                else f"[red]{len(problems)} totals disagree[/red]"
            )
        return ok
    comparison = compare_module.compare(source, target, match="ledger", ledger=ledger_path)
    if not quiet:
        from .compare import render

        render(comparison, out)
    return bool(comparison.ok)


def _emulator_classes() -> tuple[type[Emulator], type[Emulator]]:
    try:
        return emulator_class(SOURCE), emulator_class(TARGET)
    except BackendNotFound as exc:
        raise ConfigurationError(
            f"the demo needs the {SOURCE} and {TARGET} plugins: {exc}; "
            "pip install -e plugins/daftra -e plugins/perfex"
        ) from None


@click.command()
@click.option(
    "--invoices",
    type=click.IntRange(min=1, max=5000),
    default=25,
    show_default=True,
    help="How many invoices the Daftra emulator is seeded with.",
)
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed of the data.")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Worker threads for the migration.",
)
@click.option(
    "--keep-running",
    is_flag=True,
    help="Afterwards, keep both emulators up (with profiles to paste) until Ctrl-C.",
)
@click.option(
    "--portable",
    is_flag=True,
    help="Seed Daftra with only what Perfex can store as it is (no line discounts, cents "
    "only, no client credit). By default the seed is realistic, as Daftra accounts are, and "
    "the migration transforms what Perfex cannot store, listing each change.",
)
@click.option("--quirks", is_flag=True, hidden=True, help="The default now (realistic seed).")
@click.option("--quiet", "-q", is_flag=True, help="Only the final line.")
def demo(
    invoices: int,
    seed: int,
    workers: int,
    keep_running: bool,
    portable: bool,
    quirks: bool,
    quiet: bool,
) -> None:
    """Migrate a seeded Daftra emulator into an empty Perfex emulator, then compare them.

    No account, no config file: both emulators run on free loopback ports and stop when
    the demo ends. Exit status 0 when every invoice went through and both sides agree.
    """
    out = console()
    started = time.perf_counter()
    source_cls, target_cls = _emulator_classes()
    with contextlib.ExitStack() as stack:
        seeding: dict[str, Any] = {"invoices": invoices, "seed": seed}
        if "portable" in source_cls.knob_names():
            # Realistic by default; only what another system can store when asked for.
            seeding["portable"] = portable and not quirks
        daftra_emulator = stack.enter_context(source_cls(**seeding))
        perfex_emulator = stack.enter_context(target_cls(invoices=0, seed=seed))
        if not quiet:
            out.print(
                f"[bold]Daftra emulator[/bold] at {daftra_emulator.base_url} "
                f"({invoices} invoices, seed {seed})\n"
                f"[bold]Perfex emulator[/bold] at {perfex_emulator.base_url} (empty)\n"
            )
        daftra = stack.enter_context(_backend(daftra_emulator))
        perfex = stack.enter_context(_backend(perfex_emulator))
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="invoicing-bridge-demo-"))
        ledger_path = Path(tmp) / "ledger.sqlite"
        daftra_before, perfex_before = _requests(daftra_emulator), _requests(perfex_emulator)
        with progress_reporter(quiet=quiet) as progress:
            report = run_migration(
                daftra, perfex, ledger=ledger_path, workers=workers, progress=progress
            )
        sent = (
            _requests(daftra_emulator) - daftra_before,
            _requests(perfex_emulator) - perfex_before,
        )
        if not quiet:
            render_report(report, out)
            _print_requests(report, sent)
            out.print()
        agree = _compare(daftra, perfex, ledger_path, quiet)
        elapsed = time.perf_counter() - started
        ok = report.ok and agree
        verdict = "[green]demo ok[/green]" if ok else "[red]demo found problems[/red]"
        out.print(
            f"{verdict}: {_migrated(report)} of {invoices} invoices migrated from Daftra to "
            f"Perfex, {'both sides agree' if agree else 'the two sides differ'}, "
            f"in {elapsed:.1f}s"
        )
        if keep_running:
            _keep_running(daftra_emulator, perfex_emulator)
    if not ok:
        raise SystemExit(1)


def _migrated(report: MigrationReport) -> int:
    counts = report.counts["invoice"]
    return counts.created + counts.transformed + counts.matched + counts.updated + counts.skipped


def _print_requests(report: MigrationReport, sent: tuple[int, int]) -> None:
    migrated = max(1, _migrated(report))
    console().print(
        f"HTTP requests: {sent[0]} to Daftra, {sent[1]} to Perfex "
        f"({(sent[0] + sent[1]) / migrated:.1f} per invoice migrated)"
    )


def _keep_running(source: Any, target: Any) -> None:
    click.echo("\nBoth emulators keep running; paste these profiles into invoicing-bridge.toml:")
    for name, emulator in (("demo-daftra", source), ("demo-perfex", target)):
        click.echo(dumps_profile(name, emulator.profile()))
    click.echo("Ctrl-C to stop.")
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            time.sleep(3600)
