"""A local ``trytond`` for the plugin's tests and ``invoicing-bridge demo --target
tryton``: nothing the backend itself needs (it only speaks HTTP).

The database is built once per set of installed versions (``trytond-admin --all`` with
the invoicing modules, then :mod:`.setup_db`: company, chart, fiscal years, taxes,
payment methods) and cached under ``~/.cache/invoicing-bridge/`` (or
``$INVOICING_BRIDGE_TRYTON_CACHE``). :class:`TrytonServer` copies it into a temporary
directory, starts ``trytond`` on a free 127.0.0.1 port and stops it on exit.

trytond (GPL-3.0) is a test dependency: it runs in its own processes, never imported
here (``pip install -e "plugins/tryton[test]"``).
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
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

import requests

from invoicing_bridge.emulation.server import Running
from invoicing_bridge.exceptions import ConfigurationError

__all__ = [
    "DATABASE",
    "INSTALL_HINT",
    "PASSWORD",
    "TrytonNotInstalled",
    "TrytonServer",
    "build_template",
    "tryton_versions",
]

SETUP = Path(__file__).with_name("setup_db.py")
DATABASE = "bridge"
LOGIN = "admin"
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
INSTALL_HINT = 'pip install -e "plugins/tryton[test]"'


class TrytonNotInstalled(ConfigurationError):
    """trytond (or one of the invoicing modules) is not installed."""


def tryton_versions() -> dict[str, str] | None:
    """The installed server distributions' versions, or None when one is missing."""
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
    # invoices paid here stay "posted" with nothing left to pay (read as paid).
    lines += ["[queue]", "worker = True"]
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


def _run(args: list[str], log: Path, env: dict[str, str]) -> None:
    with log.open("ab") as out:
        result = subprocess.run(args, stdout=out, stderr=subprocess.STDOUT, env=env, check=False)
    if result.returncode:
        tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise RuntimeError(f"{' '.join(args[:2])} failed ({result.returncode}):\n{tail}")


def cache_root() -> Path:
    return Path(
        os.environ.get("INVOICING_BRIDGE_TRYTON_CACHE")
        or Path.home() / ".cache" / "invoicing-bridge"
    )


def _cached(name: str, key: Any, build: Callable[[Path], Path]) -> Path:
    """``<cache>/<name>-<hash of key>/<name>.sqlite``, made by ``build(work_dir) -> file``
    under a lock the first time."""
    digest = hashlib.sha256(repr(key).encode()).hexdigest()[:16]
    cache = cache_root() / f"{name}-{digest}"
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


def build_template(versions: dict[str, str] | None = None) -> Path:
    """The cached database file for the installed versions, built on first use: the
    modules installed (``trytond-admin``; cached on the versions alone), then filled by
    :mod:`.setup_db` (cached on the versions and that script). Raises
    TrytonNotInstalled."""
    versions = versions or tryton_versions()
    if versions is None:
        raise TrytonNotInstalled(f"trytond is not installed: {INSTALL_HINT}")
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


class TrytonServer(Running):
    """``trytond`` on a copy of the cached database, on a free 127.0.0.1 port.

    ``with TrytonServer() as server: get_backend("tryton", **server.options())``. The
    copy lives in ``directory`` (a temporary directory, removed on exit, when None).
    Raises TrytonNotInstalled; RuntimeError when the server does not start."""

    #: Concurrent writers this server takes: SQLite's sequences (party codes) can be
    #: handed out twice to concurrent transactions.
    max_workers = 1

    def __init__(self, directory: Path | None = None, *, start_timeout: float = 120) -> None:
        self._given = directory
        self.directory: Path | None = None
        self.start_timeout = start_timeout
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def options(self) -> dict[str, Any]:
        """The ``tryton`` backend's options for this server (its admin user)."""
        return {
            "base_url": self.base_url,
            "database": DATABASE,
            "login": LOGIN,
            "password": PASSWORD,
        }

    def start(self) -> Self:
        template = build_template()
        if self._given is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="invoicing-bridge-tryton-")
            self.directory = Path(self._tmp.name)
        else:
            self.directory = self._given
            self.directory.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template, self.directory / f"{DATABASE}.sqlite")
        self.port = _free_port()
        config = _config(self.directory, self.port)
        log = self.directory / "trytond.log"
        env = {**os.environ, "TRYTOND_DATABASE_NAMES": DATABASE}
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [_bin("trytond"), "-c", str(config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        try:
            self._wait_for_login(log)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_for_login(self, log: Path) -> None:
        assert self.process is not None
        url = f"{self.base_url}/{DATABASE}/rpc/"
        deadline = time.monotonic() + self.start_timeout
        body = {"id": 0, "method": "common.db.login", "params": [LOGIN, {"password": PASSWORD}]}
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"trytond exited: {log.read_text(errors='replace')[-2000:]}")
            with contextlib.suppress(requests.RequestException, ValueError):
                answer = requests.post(url, json=body, timeout=5).json()
                if "result" in answer:
                    return
            time.sleep(0.3)
        raise RuntimeError(f"trytond did not accept a login within {self.start_timeout:.0f} s")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
