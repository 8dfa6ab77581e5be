"""Client overhead (figure 2): N single-invoice GETs through a backend's ``get_invoice``
against an emulator with no latency, versus the same N GETs with a bare
``requests.Session`` (same URLs, same auth header, ``response.json()``), timed in
alternation. The emulators run in a process of their own.

Per backend (Daftra, Perfex with the REST module 2.x and 3.x), on the emulators' seeded
invoices: the wall-time ratio of ``get_invoice`` (HTTP layer, error checks and mapping to
the neutral model: what a user calls) and of the HTTP layer alone (``backend.http.get``)
to the bare loop, and the same ratio in this process's CPU time (``time.process_time``:
the client's own work, the server's excluded), with the CPU per request and the steady
rate one core could sustain on it.

    python benchmarks/bench_overhead.py [--requests 200] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import requests
from _common import EmulatorHost, backend_options, figure, paired_chunks

from invoicing_bridge.registry import get_backend

AIM = 1.2
#: The backends measured: (figure name, emulator kind, emulator options).
BACKENDS = (
    ("daftra", "daftra", {}),
    ("perfex", "perfex", {"api_version": 2}),
    ("perfex3", "perfex", {"api_version": 3}),
)


def _measure(
    host: EmulatorHost, name: str, profile: dict[str, Any], count: int, repeat: int
) -> dict[str, Any]:
    backend_name, options = backend_options(profile)
    if backend_name == "daftra":
        auth = {"apikey": options["api_key"]}
        suffix = ".json"
    else:
        auth = {"authtoken": options["token"]}
        suffix = ""
    base = options["base_url"].rstrip("/")
    ids = [str(i) for i in range(1, count + 1)]
    with get_backend(backend_name, **options) as backend, requests.Session() as session:
        session.headers.update(auth)

        def bare(id: str) -> None:
            response = session.get(f"{base}/invoices/{id}{suffix}")
            response.raise_for_status()
            response.json()

        def layer(id: str) -> None:
            backend.http.get(f"invoices/{id}{suffix}")

        for id in ids:  # warm up: connections, the account's date format, taxes...
            backend.get_invoice(id)
            bare(id)
        host.reset(name)
        backend_s, bare_s = paired_chunks(ids, backend.get_invoice, bare, repeat=repeat)
        requests_per_get = host.stats(name)["requests"] / (2 * count * repeat)
        layer_s, bare2_s = paired_chunks(ids, layer, bare, repeat=repeat)
        cpu = time.process_time
        backend_cpu, bare_cpu = paired_chunks(
            ids, backend.get_invoice, bare, repeat=repeat, clock=cpu
        )
    return {
        "backend_cpu": backend_cpu,
        "bare_cpu": bare_cpu,
        "cpu_ratio": backend_cpu / bare_cpu,
        "backend_s": backend_s,
        "bare_s": bare_s,
        "layer_s": layer_s,
        "bare2_s": bare2_s,
        "ratio": backend_s / bare_s,
        "layer_ratio": layer_s / bare2_s,
        "requests_per_get": requests_per_get,
    }


def run(*, count: int = 200, repeat: int = 5) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    with EmulatorHost() as host:
        profiles = {
            name: host.start(name, kind, invoices=count, **extra)  # type: ignore[arg-type]
            for name, kind, extra in BACKENDS
        }
        for name, profile in profiles.items():
            m = _measure(host, name, profile, count, repeat)
            figures[f"overhead_{name}_get_invoice_ratio"] = figure(
                round(m["ratio"], 3),
                "x bare time",
                aim=f"<= {AIM}",
                met=m["ratio"] <= AIM,
                us_per_get_backend=round(m["backend_s"] / count * 1e6),
                us_per_get_bare=round(m["bare_s"] / count * 1e6),
                requests_per_get=round(m["requests_per_get"], 3),
            )
            figures[f"overhead_{name}_http_layer_ratio"] = figure(
                round(m["layer_ratio"], 3),
                "x bare time",
                aim=f"<= {AIM}",
                met=m["layer_ratio"] <= AIM,
                us_per_get_http_layer=round(m["layer_s"] / count * 1e6),
                us_per_get_bare=round(m["bare2_s"] / count * 1e6),
            )
            figures[f"overhead_{name}_cpu_ratio"] = figure(
                round(m["cpu_ratio"], 3),
                "x bare CPU time",
                cpu_us_per_get_backend=round(m["backend_cpu"] / count * 1e6),
                cpu_us_per_get_bare=round(m["bare_cpu"] / count * 1e6),
                # One thread's steady rate if the client's CPU were all that mattered.
                invoices_per_cpu_s=round(count / m["backend_cpu"]),
            )
    return {"settings": {"requests": count, "repeat": repeat}, "figures": figures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(run(count=args.requests, repeat=args.repeat), indent=2))


if __name__ == "__main__":
    main()
