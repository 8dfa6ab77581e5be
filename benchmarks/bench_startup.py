"""Start-up of the command line: ``invoicing-bridge --help`` against bare Python.

    python benchmarks/bench_startup.py              # best of 15 each, alternating
    python benchmarks/bench_startup.py --repeat 5

Each run is a fresh process: the installed ``invoicing-bridge --help`` script (where it is
not installed, the same import through ``python -c``) and ``python -c pass``, alternated
so that a noisy neighbour slows both alike. The figures are the best of each, their
difference (the command line's own cost; the aim is under 150 ms) with the same in CPU
time (user + system, which a busy machine disturbs less than the wall time), and their
ratio. It also counts the modules ``--help`` imports beyond bare Python's, and names any
heavy one (requests, marshmallow, rich's tables, lxml, saxonche, stevedore, werkzeug, the
plugins) that it should not need: counts, not times, that hold on any machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from _common import figure  # noqa: E402

#: The aim of issue 16: ``--help`` costs at most this much more than bare Python.
AIM_MS = 150.0

#: Top-level packages ``--help`` must not import (what it prints needs none of them).
HEAVY = (
    "requests",
    "urllib3",
    "marshmallow",
    "stevedore",
    "lxml",
    "saxonche",
    "werkzeug",
    "invoicing_bridge_daftra",
    "invoicing_bridge_perfex",
    "invoicing_bridge_tryton",
)
#: rich modules that build tables and progress bars (click's help does not use rich).
HEAVY_RICH = ("rich.table", "rich.progress", "rich.console")

_MODULES = "import json, sys; print(json.dumps(sorted(sys.modules)))"


def _modules(code: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\n{_MODULES}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def help_imports() -> dict[str, Any]:
    """The modules ``invoicing-bridge --help`` imports beyond what bare Python has (each
    in a fresh process)."""
    bare = _modules("pass")
    cli = _modules(
        "from invoicing_bridge.cli import main\n"
        "main(['--help'], prog_name='invoicing-bridge', standalone_mode=False)"
    )
    modules = sorted(cli - bare)
    heavy = sorted(
        m
        for m in modules
        if m.split(".")[0] in HEAVY or any(m == r or m.startswith(r + ".") for r in HEAVY_RICH)
    )
    ours = sorted(m for m in modules if m.split(".")[0] == "invoicing_bridge")
    return {"count": len(modules), "heavy": heavy, "ours": ours}


def _run(args: list[str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one run of ``args``, in seconds; the CPU
    time is the child's own, which a busy machine disturbs less than the wall time."""
    start = time.perf_counter()
    child = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise subprocess.CalledProcessError(child.returncode, args)
    return wall, usage.ru_utime + usage.ru_stime


def _command() -> list[str]:
    script = Path(sys.executable).with_name("invoicing-bridge")
    if script.exists():
        return [str(script), "--help"]
    return [
        sys.executable,
        "-c",
        "from invoicing_bridge.cli import main; main(['--help'], prog_name='invoicing-bridge')",
    ]


def run(repeat: int = 15) -> dict[str, Any]:
    python = [sys.executable, "-c", "pass"]
    cli = _command()
    _run(cli)  # warm the file cache and the bytecode
    bare = best = bare_cpu = best_cpu = float("inf")
    for _ in range(repeat):
        wall, cpu = _run(python)
        bare, bare_cpu = min(bare, wall), min(bare_cpu, cpu)
        wall, cpu = _run(cli)
        best, best_cpu = min(best, wall), min(best_cpu, cpu)
    extra_ms = (best - bare) * 1000
    imports = help_imports()
    figures = {
        "startup_help_extra_ms": figure(
            round(extra_ms, 1),
            "ms more than python -c pass",
            aim=f"< {AIM_MS:g} ms",
            met=extra_ms < AIM_MS,
            help_ms=round(best * 1000, 1),
            python_ms=round(bare * 1000, 1),
            cpu_extra_ms=round((best_cpu - bare_cpu) * 1000, 1),
            command=" ".join(Path(cli[0]).name if i == 0 else a for i, a in enumerate(cli)),
        ),
        "startup_help_ratio": figure(round(best / bare, 2), "x python -c pass"),
        "startup_help_modules": figure(
            imports["count"],
            "modules imported by --help beyond bare Python's",
            ours=imports["ours"],
        ),
        "startup_help_heavy_modules": figure(
            len(imports["heavy"]),
            "heavy modules imported by --help",
            aim="0",
            met=not imports["heavy"],
            names=imports["heavy"][:20],
        ),
    }
    return {"settings": {"repeat": repeat}, "figures": figures}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="runs of each (best kept)")
    args = parser.parse_args(argv)
    result = run(repeat=args.repeat)
    for key, fig in result["figures"].items():
        detail = fig.get("detail", {})
        extra = ", ".join(f"{k}={v}" for k, v in detail.items())
        print(f"{key}: {fig['value']} {fig['unit']}" + (f" ({extra})" if extra else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
