"""What the benchmarks share: emulators in a process of their own, figures, machine facts."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

HERE = Path(__file__).resolve().parent
T = TypeVar("T")


# --------------------------------------------------------------------------- figures


def figure(
    value: Any,
    unit: str,
    *,
    aim: str | None = None,
    met: bool | None = None,
    **detail: Any,
) -> dict[str, Any]:
    """One reported figure: its value and unit, the aim (as text) and whether it is met
    (None where the issue sets no aim), and whatever else explains it."""
    out: dict[str, Any] = {"value": value, "unit": unit, "aim": aim, "met": met}
    if detail:
        out["detail"] = detail
    return out


def rounded(value: float, places: int = 3) -> float:
    return float(f"{value:.{places}g}") if abs(value) < 1 else round(value, places)


# --------------------------------------------------------------------------- timing


def best_of(repeat: int, fn: Callable[[], Any]) -> float:
    """The fastest of ``repeat`` runs of ``fn``, in seconds (the least disturbed one)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def paired(
    repeat: int,
    a: Callable[[], Any],
    b: Callable[[], Any],
    *,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[float, float]:
    """Best times of ``a`` and ``b`` run in alternation (a, b, a, b...), so that a noisy
    neighbour slows both alike rather than one of them. ``clock``: wall-clock time by
    default; ``time.process_time`` counts this process's CPU time only, for work that
    is all CPU (a neighbour then costs it its cache, not its turn)."""
    best_a = best_b = float("inf")
    for _ in range(repeat):
        start = clock()
        a()
        best_a = min(best_a, clock() - start)
        start = clock()
        b()
        best_b = min(best_b, clock() - start)
    return best_a, best_b


def paired_chunks(
    items: Sequence[T],
    a: Callable[[T], Any],
    b: Callable[[T], Any],
    *,
    chunk: int = 20,
    repeat: int = 5,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[float, float]:
    """Total times of ``a`` and ``b`` over ``items``: each chunk of ``chunk`` items is run
    ``repeat`` times by ``a`` and by ``b`` in alternation and the fastest run of each is
    kept. A burst of noise then spoils one run of one chunk, not the whole figure.
    ``clock``: wall-clock time by default; ``time.process_time`` counts this process's
    CPU time only (every thread), not the time spent waiting for the server."""
    total_a = total_b = 0.0
    for start in range(0, len(items), chunk):
        part = items[start : start + chunk]
        best_a = best_b = float("inf")
        for _ in range(repeat):
            t0 = clock()
            for item in part:
                a(item)
            t1 = clock()
            for item in part:
                b(item)
            t2 = clock()
            best_a, best_b = min(best_a, t1 - t0), min(best_b, t2 - t1)
        total_a += best_a
        total_b += best_b
    return total_a, total_b


# --------------------------------------------------------------------------- routes

_SEARCH = re.compile(r"/search/.*$")
_ID = re.compile(r"/\d+(\.json)?$")


def route_pattern(route: str) -> str:
    """``GET /api/invoices/17`` → ``GET /api/invoices/{id}``; search terms → ``{term}``."""
    method, _, path = route.partition(" ")
    path = _SEARCH.sub("/search/{term}", path)
    path = _ID.sub(lambda m: "/{id}" + (m.group(1) or ""), path)
    return f"{method} {path}"


def routes_per(by_route: Mapping[str, int], count: int) -> dict[str, float]:
    """Requests per record by route pattern, most frequent first."""
    patterns: Counter[str] = Counter()
    for route, n in by_route.items():
        patterns[route_pattern(route)] += n
    return {route: round(n / max(count, 1), 3) for route, n in patterns.most_common()}


# --------------------------------------------------------------------------- emulators


class EmulatorHost:
    """Emulators served by a child process (``_emulator_host.py``)::

    with EmulatorHost() as host:
        profile = host.start("source", "daftra", invoices=500, latency_ms=50)
        ...
        host.stats("source")["by_route"]
    """

    def __init__(self) -> None:
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> Self:
        self._proc = subprocess.Popen(
            [sys.executable, str(HERE / "_emulator_host.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        proc = self._proc
        if proc is None:
            return
        try:
            assert proc.stdin is not None
            proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
            proc.stdin.flush()
            proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        self._proc = None

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def cpu_seconds(self) -> float | None:
        """User + system CPU time the host process has used so far (Linux), else None."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime

    def _ask(self, **command: Any) -> dict[str, Any]:
        proc = self._proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps(command) + "\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the emulator host died (exit {proc.poll()})")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"emulator host: {answer['error']}\n{answer.get('trace', '')}")
        return answer

    def start(
        self,
        name: str,
        kind: str,
        *,
        invoices: int = 0,
        latency_ms: float = 0,
        fault_rate: float = 0.0,
        seed: int = 1,
        clients: int | None = None,
        api_version: int | None = None,
    ) -> dict[str, Any]:
        """Start an emulator (its realistic seed of ``invoices``; ``api_version``: Perfex
        module 2 or 3); return its backend options, ``backend`` included."""
        answer = self._ask(
            op="start",
            name=name,
            kind=kind,
            invoices=invoices,
            latency_ms=latency_ms,
            fault_rate=fault_rate,
            seed=seed,
            clients=clients,
            api_version=api_version,
        )
        profile: dict[str, Any] = dict(answer["profile"])
        return profile

    def stats(self, name: str) -> dict[str, Any]:
        stats: dict[str, Any] = self._ask(op="stats", name=name)["stats"]
        return stats

    def reset(self, name: str) -> None:
        self._ask(op="reset", name=name)


class RequestTimer:
    """Times every request this process sends through the HTTP layer while it is active,
    by the kind of thread that sent it (``migrate`` workers, ``perfex`` detail readers,
    ``MainThread``): how long requests really took against the latency the emulators
    add, and how much of its time each kind of thread spent in one::

        with RequestTimer() as timer:
            migrate(...)
        timer.seconds_by_thread()
    """

    def __init__(self) -> None:
        self.durations: list[tuple[str, float]] = []
        self._lock = threading.Lock()
        self._real: Any = None

    def __enter__(self) -> Self:
        from invoicing_bridge.backends.http import HTTPClient

        real = self._real = HTTPClient.request
        timer = self

        def request(client: Any, method: str, path: str, **kw: Any) -> Any:
            started = time.perf_counter()
            try:
                return real(client, method, path, **kw)
            finally:
                took = time.perf_counter() - started
                kind = threading.current_thread().name.split("_")[0]
                with timer._lock:
                    timer.durations.append((kind, took))

        HTTPClient.request = request  # type: ignore[method-assign]
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        from invoicing_bridge.backends.http import HTTPClient

        HTTPClient.request = self._real  # type: ignore[method-assign]

    def mean_ms(self) -> float | None:
        if not self.durations:
            return None
        return sum(d for _, d in self.durations) / len(self.durations) * 1000

    def seconds_by_thread(self) -> dict[str, float]:
        out: Counter[str] = Counter()
        for kind, took in self.durations:
            out[kind] += took
        return dict(out)


def cpu_pressure() -> dict[str, float | None]:
    """How contended the machine's CPUs are now: the load average over a minute and the
    share of the last 10 s some task waited for a CPU (Linux PSI), None where unknown."""
    load: float | None
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    waiting: float | None = None
    try:
        for line in Path("/proc/pressure/cpu").read_text().splitlines():
            if line.startswith("some"):
                waiting = float(line.split("avg10=")[1].split()[0]) / 100
    except (OSError, IndexError, ValueError):
        pass
    return {"load_1min": load, "cpu_wait_share": waiting}


def own_cpu_seconds() -> float:
    """User + system CPU time of this process so far, every thread included."""
    times = os.times()
    return times.user + times.system


def backend_options(profile: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """``(backend name, options)`` from an emulator profile."""
    options = {k: v for k, v in profile.items() if k != "backend"}
    return str(profile["backend"]), options


# --------------------------------------------------------------------------- machine


def machine() -> dict[str, Any]:
    """What the figures ran on: CPU model, cores, memory, OS, Python, date."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    import invoicing_bridge

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": memory_gb,
        "os": platform.platform(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "invoicing_bridge": invoicing_bridge.__version__,
        "git_commit": _git_commit(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=HERE,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None
