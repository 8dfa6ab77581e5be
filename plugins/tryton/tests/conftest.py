"""A real ``trytond`` for the Tryton plugin's tests (no ``__init__.py``: pytest runs with
``--import-mode=importlib``).

The database is built once per set of versions (``trytond-admin --all`` with the
invoicing modules, then ``tryton_setup.py``: company, chart, fiscal years, taxes,
payment methods) and cached under ``~/.cache/invoicing-bridge/`` (or
``$INVOICING_BRIDGE_TRYTON_CACHE``); each test session copies it, starts ``trytond`` on a
free 127.0.0.1 port and stops it at the end. Without trytond installed the tests that
need it are skipped, saying so.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

HERE = Path(__file__).parent
SETUP = HERE / "tryton_setup.py"
DATABASE = "bridge"
PASSWORD = "admin"
MODULES = ["account_invoice", "account_payment"]
DISTRIBUTIONS = [
    "trytond",
    "trytond-account",
    "trytond-account-invoice",
    "trytond-account-payment",
    "trytond-party",
    "trytond-company",
    "trytond-currency",
    "trytond-product",
]


def tryton_versions() -> dict[str, str] | None:
    """The installed server distributions' versions, or None when trytond is absent."""
    try:
        return {name: importlib.metadata.version(name) for name in DISTRIBUTIONS}
    except importlib.metadata.PackageNotFoundError:
        return None


def _bin(name: str) -> str:
    found = Path(sys.executable).parent / name
    return str(found) if found.exists() else name


def _config(directory: Path, port: int = 0) -> Path:
    config = directory / "trytond.conf"
    lines = ["[database]", "uri = sqlite://", f"path = {directory}"]
    if port:
        lines += ["[web]", f"listen = 127.0.0.1:{port}"]
    lines += ["[session]", "timeout = 36000", "max_attempt = 1000"]
    # Tasks go to the queue (ir.queue) instead of running inside the request, as on a
    # production server with workers; no worker runs here. Posting a customer invoice
    # queues the rendering of its report, which took 9 of the 10 seconds of a post in
    # the request; a payment in full queues the move to the "paid" state, so the
    # invoices the tests pay stay "posted" with nothing left to pay (read as paid).
    lines += ["[queue]", "worker = True"]
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


def _run(args: list[str], log: Path, env: dict[str, str]) -> None:
    with log.open("ab") as out:
        result = subprocess.run(args, stdout=out, stderr=subprocess.STDOUT, env=env, check=False)
    if result.returncode:
        tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise RuntimeError(f"{' '.join(args[:2])} failed ({result.returncode}):\n{tail}")


def _cache_root() -> Path:
    return Path(
        os.environ.get("INVOICING_BRIDGE_TRYTON_CACHE")
        or Path.home() / ".cache" / "invoicing-bridge"
    )


def _cached(name: str, key: Any, build: Any) -> Path:
    """``<cache>/<name>-<hash of key>/<name>.sqlite``, made by ``build(work_dir) -> file``
    under a lock the first time."""
    digest = hashlib.sha256(repr(key).encode()).hexdigest()[:16]
    cache = _cache_root() / f"{name}-{digest}"
    target = cache / f"{name}.sqlite"
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time
        if target.exists():
            return target
        work = Path(tempfile.mkdtemp(prefix="build-", dir=cache))
        try:
            os.replace(build(work), target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return target


def build_template(versions: dict[str, str]) -> Path:
    """The cached database file for these versions, built on first use: the modules
    installed (``trytond-admin``, minutes; cached on the versions alone), then filled by
    ``tryton_setup.py`` (cached on the versions and that script)."""
    env_base = dict(os.environ)

    def install(work: Path) -> Path:
        config = _config(work)
        (work / f"{DATABASE}.sqlite").touch()
        (work / "pass").write_text(PASSWORD + "\n", encoding="utf-8")
        env = {**env_base, "TRYTONPASSFILE": str(work / "pass")}
        _run(
            [
                _bin("trytond-admin"),
                "-c",
                str(config),
                "-d",
                DATABASE,
                "--all",
                "-u",
                *MODULES,
                "--activate-dependencies",
                "--email",
                "admin@example.com",
            ],
            work / "build.log",
            env,
        )
        return work / f"{DATABASE}.sqlite"

    modules_key = (sorted(versions.items()), MODULES, PASSWORD)
    installed = _cached("tryton-modules", modules_key, install)

    def fill(work: Path) -> Path:
        config = _config(work)
        shutil.copyfile(installed, work / f"{DATABASE}.sqlite")
        _run([sys.executable, str(SETUP), str(config), DATABASE], work / "build.log", env_base)
        return work / f"{DATABASE}.sqlite"

    return _cached("tryton-template", (modules_key, SETUP.read_bytes()), fill)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_login(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    body = {"id": 0, "method": "common.db.login", "params": ["admin", {"password": PASSWORD}]}
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"trytond exited: {log.read_text(errors='replace')[-2000:]}")
        with contextlib.suppress(requests.RequestException):
            answer = requests.post(url, json=body, timeout=5).json()
            if "result" in answer:
                return
        time.sleep(0.3)
    raise RuntimeError("trytond did not accept a login within 120 s")


@pytest.fixture(scope="session")
def tryton_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A running trytond on a copy of the cached database: the backend's options."""
    versions = tryton_versions()
    if versions is None:
        pytest.skip("trytond is not installed: pip install -e 'plugins/tryton[test]'")
    template = build_template(versions)
    directory = tmp_path_factory.mktemp("tryton")
    shutil.copyfile(template, directory / f"{DATABASE}.sqlite")
    port = _free_port()
    config = _config(directory, port)
    log = directory / "trytond.log"
    env = {**os.environ, "TRYTOND_DATABASE_NAMES": DATABASE}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [_bin("trytond"), "-c", str(config)], stdout=out, stderr=subprocess.STDOUT, env=env
        )
    try:
        base_url = f"http://127.0.0.1:{port}"
        _wait_for_login(f"{base_url}/{DATABASE}/rpc/", process, log)
        yield {
            "base_url": base_url,
            "database": DATABASE,
            "login": "admin",
            "password": PASSWORD,
        }
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
