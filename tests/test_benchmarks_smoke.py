"""The benchmark runner works end to end on tiny sizes and writes every figure.

No timing is asserted (speed is not a test): only that each figure is there, with sane
types, and that the machine the figures ran on is recorded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FIGURES = {
    "mapping": {
        "mapping_daftra_invoices_per_s",
        "mapping_daftra_by_hand_invoices_per_s",
        "mapping_daftra_ratio_to_hand",
        "mapping_perfex_invoices_per_s",
        "mapping_perfex_by_hand_invoices_per_s",
        "mapping_perfex_ratio_to_hand",
        "mapping_perfex3_invoices_per_s",
        "mapping_perfex3_by_hand_invoices_per_s",
        "mapping_perfex3_ratio_to_hand",
    },
    "overhead": {
        "overhead_daftra_get_invoice_ratio",
        "overhead_daftra_http_layer_ratio",
        "overhead_perfex_get_invoice_ratio",
        "overhead_perfex_http_layer_ratio",
        "overhead_perfex3_get_invoice_ratio",
        "overhead_perfex3_http_layer_ratio",
        *(f"overhead_{name}_cpu_ratio" for name in ("daftra", "perfex", "perfex3")),
    },
    "migrate": {
        *(
            f"migrate_{route}_{w}w_{what}"
            for route in ("daftra_to_perfex2", "perfex2_to_daftra")
            for w in (1, 4, 16)
            for what in ("invoices_per_s", "ratio_to_bound")
        ),
        "requests_per_invoice",
    },
    "memory": {
        *(
            f"memory_{what}_{backend}"
            for backend in ("daftra", "perfex2", "perfex3")
            for what in ("peak_rss_small", "peak_rss_large", "growth")
        ),
        "memory_growth",
    },
    "e2e": {
        "e2e_migrate_invoices_per_s",
        "e2e_rerun_created",
        "e2e_compare_invoices_per_s",
        "e2e_faults_duplicates",
    },
    "requests": {
        f"requests_{route}{part}"
        for route in (
            "daftra_to_perfex2",
            "perfex2_to_daftra",
            "memory_to_daftra",
            "memory_to_perfex2",
        )
        for part in ("", "_without_clients")
    },
    "compare": {"compare_small_s", "compare_large_s", "compare_scaling_ratio"},
    "startup": {
        "startup_help_extra_ms",
        "startup_help_ratio",
        "startup_help_modules",
        "startup_help_heavy_modules",
    },
    "clients": {
        f"clients_{target}_20_{name}"
        for target in ("daftra", "perfex")
        for name in ("lookup_requests", "requests_per_client")
    },
}


@pytest.mark.slow
def test_quick_run_writes_every_figure(tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "requests_per_invoice" in done.stdout  # the table was printed
    data = json.loads(output.read_text())

    assert data["quick"] is True
    machine = data["machine"]
    assert isinstance(machine["cpu"], str) and machine["cpu"]
    assert isinstance(machine["cores"], int) and machine["cores"] >= 1
    assert machine["python"].startswith("3.")
    assert isinstance(machine["date"], str)

    assert set(data["benchmarks"]) == set(FIGURES)
    for name, expected in FIGURES.items():
        result = data["benchmarks"][name]
        assert "error" not in result, result.get("error")
        assert set(result["figures"]) == expected, name
        for key, fig in result["figures"].items():
            assert isinstance(fig["value"], int | float) and not isinstance(fig["value"], bool)
            # A difference of two noisy times, or of two peak RSS a few hundred kB
            # apart (memory growth on tiny sizes), may come out below zero.
            if not key.endswith("_extra_ms") and not key.startswith("memory_growth"):
                assert fig["value"] >= 0, (name, key, fig["value"])
            assert isinstance(fig["unit"], str) and fig["unit"], key
            assert fig["aim"] is None or isinstance(fig["aim"], str), key
            assert fig["met"] is None or isinstance(fig["met"], bool), key

    migrate = data["benchmarks"]["migrate"]
    for run in migrate["runs"]:
        # The realistic seeds as they are: every invoice migrated (as it is or
        # transformed) or skipped by design (void, draft), none failed.
        assert run["ok"], run["failures"]
        outcomes = run["outcomes"]
        assert outcomes["failed"] == 0
        assert run["migrated"] == outcomes["created"] + outcomes["transformed"] > 0
        assert sum(outcomes.values()) == run["invoices"] > 0
        assert run["requests_per_invoice"] > 0
    e2e = data["benchmarks"]["e2e"]["figures"]
    assert e2e["e2e_rerun_created"]["value"] == 0  # counts, not timings: these must hold
    assert e2e["e2e_faults_duplicates"]["value"] == 0
    clients = data["benchmarks"]["clients"]["figures"]
    for target in ("daftra", "perfex"):  # a count: one listing walk + 1 per create
        assert clients[f"clients_{target}_20_lookup_requests"]["met"] is True, target
    by_route = migrate["figures"]["requests_per_invoice"]["detail"]["by_route"]
    assert any(route.startswith("POST ") for route in by_route["perfex"])
    assert all(isinstance(n, int | float) for n in by_route["daftra"].values())


def test_only_runs_the_named_benchmarks(tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "run.py"),
            "--quick",
            "--only",
            "compare",
            "--output",
            str(output),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(output.read_text())
    assert list(data["benchmarks"]) == ["compare"]
    assert data["command"].endswith(f"--only compare --output {output}")
