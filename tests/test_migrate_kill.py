"""A migration killed with SIGKILL at any point, then resumed, migrates every invoice
exactly once.

The backends must outlive the killed process, so this test uses a memory backend that
keeps its state in a JSON file (written atomically after every write, as a server commits
before it answers). The killed process is a real subprocess running ``migrate()``; kill
points are either exact (right after the "server" saved the Nth create, before the
migration heard of it: the worst moment) or at a random time.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

SCRIPT = textwrap.dedent(
    '''
    import datetime as dt, json, os, signal, sys, threading, time
    from decimal import Decimal
    from pathlib import Path

    from invoicing_bridge import Client, Invoice, LineItem, Payment, TaxRate, migrate
    from invoicing_bridge.backends.memory import MemoryBackend

    class FileBackend(MemoryBackend):
        """A memory backend persisted to a JSON file after every write."""

        def __init__(self, path, **options):
            super().__init__(**options)
            self.path = Path(path)
            self.writes = 0
            if self.path.exists():
                data = json.loads(self.path.read_text())
                self._clients = {k: Client.from_dict(v) for k, v in data["clients"].items()}
                self._invoices = {k: Invoice.from_dict(v) for k, v in data["invoices"].items()}
                self._payments = {k: Payment.from_dict(v) for k, v in data["payments"].items()}
                import itertools
                self._ids = itertools.count(data["next_id"])

        def _save(self, verb):
            with self._lock:
                nxt = next(self._ids)
                import itertools
                self._ids = itertools.count(nxt)
                data = {
                    "next_id": nxt,
                    "clients": {k: v.to_dict(include_raw=True) for k, v in self._clients.items()},
                    "invoices": {k: v.to_dict(include_raw=True) for k, v in self._invoices.items()},
                    "payments": {k: v.to_dict(include_raw=True) for k, v in self._payments.items()},
                }
                tmp = self.path.with_suffix(".tmp")
                tmp.write_text(json.dumps(data))
                os.replace(tmp, self.path)
                self.writes += 1
                kill = os.environ.get("KILL_AT", "")
                if kill and self.options["label"] == "target":
                    want_verb, _, count = kill.partition(":")
                    self.calls_done = getattr(self, "calls_done", {})
                    self.calls_done[verb] = self.calls_done.get(verb, 0) + 1
                    if verb == want_verb and self.calls_done[verb] == int(count):
                        os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(float(os.environ.get("WRITE_LATENCY", "0")))

        def create_client(self, client):
            out = super().create_client(client); self._save("create_client"); return out

        def create_invoice(self, invoice):
            out = super().create_invoice(invoice); self._save("create_invoice"); return out

        def update_invoice(self, invoice):
            out = super().update_invoice(invoice); self._save("update_invoice"); return out

        def record_payment(self, payment):
            out = super().record_payment(payment); self._save("record_payment"); return out

    def seed(source, count):
        clients = [
            source.create_client(Client(name=f"Client {i}", email=f"c{i}@example.test"))
            for i in range(5)
        ]
        for i in range(count):
            invoice = Invoice.build(
                number=f"INV-{i + 1:04d}",
                issue_date=dt.date(2024, 1, 1) + dt.timedelta(days=i),
                currency="EGP",
                client=clients[i % 5],
                items=[
                    LineItem(
                        name=f"Item {i}",
                        quantity=Decimal("1.5"),
                        unit_price=Decimal("99.99") + i,
                        taxes=[TaxRate("VAT", Decimal("14"))],
                    )
                ],
            )
            stored = source.create_invoice(invoice)
            if i % 2 == 0:
                source.record_payment(
                    Payment(amount=Decimal("10.00"), date=dt.date(2024, 2, 1), method="cash",
                            invoice_id=stored.id)
                )
            if i % 4 == 0:
                source.record_payment(
                    Payment(amount=Decimal("5.55"), date=dt.date(2024, 2, 2), method="card",
                            invoice_id=stored.id)
                )

    state = Path(sys.argv[1])
    if sys.argv[2] == "seed":
        source = FileBackend(state / "source.json", label="source")
        seed(source, int(sys.argv[3]))
        source._save("seed")
        sys.exit(0)
    source = FileBackend(state / "source.json", label="source")
    target = FileBackend(state / "target.json", label="target")
    report = migrate(source, target, ledger=state / "ledger.sqlite", workers=int(sys.argv[3]))
    print(json.dumps(report.to_dict(records=False)))
    sys.exit(0 if report.ok else 1)
    '''
)

INVOICES = 24


def _script(tmp_path: Path) -> Path:
    path = tmp_path / "kill_migration.py"
    path.write_text(SCRIPT)
    return path


def _run(
    script: Path, state: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script), str(state), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def _target_state(state: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((state / "target.json").read_text())
    return data


def _assert_complete_and_unique(state: Path) -> None:
    source = json.loads((state / "source.json").read_text())
    target = _target_state(state)
    numbers = Counter(str(i["number"]) for i in target["invoices"].values())
    duplicates = {n: c for n, c in numbers.items() if c > 1}
    assert not duplicates, f"invoices created twice: {duplicates}"
    assert len(numbers) == INVOICES
    emails = Counter(str(c["email"]) for c in target["clients"].values())
    assert set(emails.values()) == {1} and len(emails) == 5
    want = {i["number"]: i for i in source["invoices"].values()}
    for invoice in target["invoices"].values():
        original = want[invoice["number"]]
        assert invoice["total"] == original["total"]
        assert invoice["amount_paid"] == original["amount_paid"], invoice["number"]
        assert len(invoice["payments"]) == len(original["payments"]), invoice["number"]
    assert len(target["payments"]) == len(source["payments"])


@pytest.fixture
def state(tmp_path: Path) -> tuple[Path, Path]:
    script = _script(tmp_path)
    state = tmp_path / "state"
    state.mkdir()
    seeded = _run(script, state, "seed", str(INVOICES))
    assert seeded.returncode == 0, seeded.stderr
    return script, state


@pytest.mark.slow
@pytest.mark.parametrize(
    "kill_points",
    [
        ["create_client:1"],
        ["create_invoice:1", "create_invoice:3"],
        ["record_payment:2", "create_invoice:7", "record_payment:5"],
        ["create_invoice:12", "record_payment:9"],
    ],
    ids=["client", "two-creates", "payments-and-create", "late"],
)
def test_killed_right_after_a_saved_write_then_resumed(
    state: tuple[Path, Path], kill_points: list[str]
) -> None:
    script, path = state
    for point in kill_points:
        killed = _run(script, path, "run", "4", env={"KILL_AT": point})
        assert killed.returncode == -signal.SIGKILL, (point, killed.stdout, killed.stderr)
    resumed = _run(script, path, "run", "4")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    _assert_complete_and_unique(path)
    # And a run after that creates nothing.
    again = _run(script, path, "run", "4")
    counts = json.loads(again.stdout)["counts"]
    assert counts["invoice"]["skipped"] == INVOICES
    assert sum(c["created"] for c in counts.values()) == 0


@pytest.mark.slow
def test_killed_at_random_times_then_resumed(state: tuple[Path, Path]) -> None:
    script, path = state
    rng = random.Random(5)
    env = {**os.environ, "WRITE_LATENCY": "0.05"}
    kills = 0
    for _ in range(4):
        process = subprocess.Popen(
            [sys.executable, str(script), str(path), "run", "3"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        time.sleep(rng.uniform(0.35, 1.0))  # start-up ~0.3 s, a whole run ~1.1 s
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait(timeout=60)
    assert kills >= 1
    resumed = _run(script, path, "run", "3")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    _assert_complete_and_unique(path)
