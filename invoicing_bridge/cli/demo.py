"""``invoicing-bridge demo``: the main job end to end, with no account and no config file.

Starts the Daftra emulator (seeded) and an empty Perfex emulator on free loopback ports,
migrates every Daftra invoice to Perfex, compares the two sides through the migration
ledger and prints both reports. The emulators are found through the
``invoicing_bridge.emulators`` entry points (the core imports no plugin by name).

``--target NAME`` migrates into another backend: one with an emulator, or one whose
class offers ``ex_local_server()`` (a real server run locally, such as Tryton's
``trytond`` on a copy of a cached database): a context manager whose value has
``options()`` (the backend's options), ``base_url`` and optionally ``max_workers``.
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
from ..registry import backend_class, emulator_class, get_backend
from . import echo_unmasked
from .logs import quiet_migration
from .migrate import progress_reporter, render_report
from .output import console

__all__ = ["demo"]

SOURCE, TARGET = "daftra", "perfex"
CENT = Decimal("0.01")


def _requests(emulator: Any) -> int | None:
    """Requests the emulator answered so far (None: a real server, not counted)."""
    stats = getattr(emulator, "stats", None)
    return None if stats is None else int(stats.snapshot()["requests"])


def _title(name: str) -> str:
    return name[:1].upper() + name[1:]


def _check_totals(
    source: InvoicingBackend, target: InvoicingBackend, ledger_path: Path, target_name: str
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
                problems.append(f"{left.number}: {name} {a} in {SOURCE}, {b} in {target_name}")
    return not problems, problems


def _compare(
    source: InvoicingBackend,
    target: InvoicingBackend,
    ledger_path: Path,
    quiet: bool,
    target_name: str = TARGET,
) -> bool:
    out = console()
    try:
        compare_module = importlib.import_module("invoicing_bridge.comparison")
    except ModuleNotFoundError:  # the compare job is not installed: check the totals
        ok, problems = _check_totals(source, target, ledger_path, target_name)
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


def _emulator_classes(target: str = TARGET) -> tuple[type[Emulator], type[Emulator] | None]:
    """The source's emulator class and the target's (None: the target has none)."""
    try:
        source = emulator_class(SOURCE)
        if target == TARGET:
            return source, emulator_class(TARGET)
    except BackendNotFound as exc:
        raise ConfigurationError(
            f"the demo needs the {SOURCE} and {TARGET} plugins: {exc}; "
            "pip install -e plugins/daftra -e plugins/perfex"
        ) from None
    try:
        return source, emulator_class(target)
    except BackendNotFound:
        return source, None


def _local_server(target: str) -> Any:
    """The target backend's local server, not started yet (``ex_local_server()``).
    Raises ConfigurationError: no such backend, no local server, or its server is not
    installed (the plugin says how to install it)."""
    try:
        cls = backend_class(target)
    except BackendNotFound as exc:
        raise ConfigurationError(f"demo --target {target}: {exc}") from None
    starter = getattr(cls, "ex_local_server", None)
    if starter is None:
        raise ConfigurationError(
            f"demo --target {target}: the {target} backend has no emulator and no local "
            "server to migrate into"
        )
    return starter()


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
@click.option(
    "--target",
    default=TARGET,
    show_default=True,
    metavar="BACKEND",
    help="The backend to migrate into: one with an emulator (perfex), or tryton: a real "
    "trytond started locally on a copy of a cached database (it needs the server: "
    'pip install -e "plugins/tryton[test]"; the first run builds the database).',
)
@click.option("--quiet", "-q", is_flag=True, help="Only the final line.")
def demo(
    invoices: int,
    seed: int,
    workers: int,
    keep_running: bool,
    portable: bool,
    quirks: bool,
    target: str,
    quiet: bool,
) -> None:
    """Migrate a seeded Daftra emulator into an empty Perfex (or Tryton), then compare them.

    No account, no config file: both emulators run on free loopback ports and stop when
    the demo ends. Exit status 0 when every invoice went through and both sides agree.

    With --target tryton, a real Tryton server (trytond) is started on a free loopback
    port with a temporary copy of a cached database and stopped at the end; without
    trytond installed the demo says how to install it and exits with status 2.
    """
    out = console()
    started = time.perf_counter()
    source_cls, target_cls = _emulator_classes(target)
    # Refused before anything starts when the target's server is not installed.
    server: Any = None if target_cls is not None else _local_server(target)
    name = _title(target)
    with contextlib.ExitStack() as stack:
        seeding: dict[str, Any] = {"invoices": invoices, "seed": seed}
        if "portable" in source_cls.knob_names():
            # Realistic by default; only what another system can store when asked for.
            seeding["portable"] = portable and not quirks
        daftra_emulator = stack.enter_context(source_cls(**seeding))
        perfex_emulator: Any
        if target_cls is not None:
            perfex_emulator = stack.enter_context(target_cls(invoices=0, seed=seed))
            described = f"[bold]{name} emulator[/bold] at {perfex_emulator.base_url} (empty)"
        else:
            if not quiet:
                out.print(f"Starting {target} locally (the first run builds its database)...")
            perfex_emulator = stack.enter_context(server)
            described = f"[bold]{name}[/bold] (a real server) at {perfex_emulator.base_url}"
            workers = min(workers, int(getattr(perfex_emulator, "max_workers", workers)))
        if not quiet:
            out.print(
                f"[bold]Daftra emulator[/bold] at {daftra_emulator.base_url} "
                f"({invoices} invoices, seed {seed})\n{described}\n"
            )
        daftra = stack.enter_context(daftra_emulator.open_backend())
        perfex = stack.enter_context(
            perfex_emulator.open_backend()
            if target_cls is not None
            else get_backend(target, **perfex_emulator.options())
        )
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="invoicing-bridge-demo-"))
        ledger_path = Path(tmp) / "ledger.sqlite"
        daftra_before, perfex_before = _requests(daftra_emulator), _requests(perfex_emulator)
        with progress_reporter(quiet=quiet) as progress, quiet_migration(quiet):
            report = run_migration(
                daftra, perfex, ledger=ledger_path, workers=workers, progress=progress
            )
        daftra_after, perfex_after = _requests(daftra_emulator), _requests(perfex_emulator)
        sent = (
            None if daftra_after is None or daftra_before is None else daftra_after - daftra_before,
            None if perfex_after is None or perfex_before is None else perfex_after - perfex_before,
        )
        if not quiet:
            render_report(report, out)
            _print_requests(report, sent, name)
            out.print()
        agree = _compare(daftra, perfex, ledger_path, quiet, target)
        elapsed = time.perf_counter() - started
        ok = report.ok and agree
        verdict = "[green]demo ok[/green]" if ok else "[red]demo found problems[/red]"
        out.print(
            f"{verdict}: {_migrated(report)} of {invoices} invoices migrated from Daftra to "
            f"{name}, {'both sides agree' if agree else 'the two sides differ'}, "
            f"in {elapsed:.1f}s"
        )
        if keep_running:
            _keep_running(daftra_emulator, perfex_emulator, target)
    if not ok:
        raise SystemExit(1)


def _migrated(report: MigrationReport) -> int:
    counts = report.counts["invoice"]
    return counts.created + counts.transformed + counts.matched + counts.updated + counts.skipped


def _print_requests(
    report: MigrationReport, sent: tuple[int | None, int | None], target: str = "Perfex"
) -> None:
    migrated = max(1, _migrated(report))
    if sent[0] is None or sent[1] is None:
        console().print(
            f"HTTP requests: {sent[0]} to Daftra "
            f"({(sent[0] or 0) / migrated:.1f} per invoice migrated; {target}'s not counted)"
        )
        return
    console().print(
        f"HTTP requests: {sent[0]} to Daftra, {sent[1]} to {target} "
        f"({(sent[0] + sent[1]) / migrated:.1f} per invoice migrated)"
    )


def _profile(running: Any, backend: str) -> dict[str, Any]:
    profile = getattr(running, "profile", None)
    return dict(profile()) if profile is not None else {"backend": backend, **running.options()}


def _keep_running(source: Any, target: Any, target_name: str = TARGET) -> None:
    click.echo("\nBoth sides keep running; paste these profiles into invoicing-bridge.toml:")
    for name, running, backend in (
        ("demo-daftra", source, SOURCE),
        (f"demo-{target_name}", target, target_name),
    ):
        # The emulators' own keys, made for this run: the profile is for pasting.
        echo_unmasked(dumps_profile(name, _profile(running, backend)))
    click.echo("Ctrl-C to stop.")
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            time.sleep(3600)
