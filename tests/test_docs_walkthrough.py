"""The quickstart's walkthrough runs as written, in a shell, from two emulators to
``migrate`` and ``compare`` (issue 17): only its two ports are swapped for free ones, so
that the test never collides with a running emulator."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "docs" / "quickstart.md"
HEADING = "## The walkthrough: two emulators, a migration, a comparison"


def _walkthrough() -> str:
    text = QUICKSTART.read_text(encoding="utf-8")
    assert HEADING in text, f"the quickstart has no {HEADING!r} section"
    section = text.split(HEADING, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "the walkthrough is one block, copied in one go"
    return str(blocks[0])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_walkthrough_uses_the_profile_names_emulate_prints() -> None:
    script = _walkthrough()
    for name in ("daftra", "perfex"):
        assert f"invoicing-bridge emulate {name} " in script
        assert f"check {name}-emulator" in script
    assert "migrate daftra-emulator perfex-emulator\n" in script
    assert "compare daftra-emulator perfex-emulator\n" in script


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None, reason="the walkthrough is a shell script")
def test_walkthrough_runs_as_written(tmp_path: Path) -> None:
    script = _walkthrough().replace("8001", str(_free_port())).replace("8002", str(_free_port()))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("INVOICING_BRIDGE_CONFIG", None)
    env["COLUMNS"] = "100"
    shell = subprocess.Popen(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: nothing outlives the test
    )
    try:
        out, _ = shell.communicate(timeout=280)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(shell.pid, signal.SIGTERM)
    config = (tmp_path / "bridge-walkthrough" / "invoicing-bridge.toml").read_text()
    assert "[profiles.daftra-emulator]" in config and "[profiles.perfex-emulator]" in config
    assert "Traceback" not in out and "error:" not in out, out
    # The file holding the emulators' keys is private: no warning on every command.
    assert "group or others can read" not in out, out
    assert "ok: daftra-emulator (daftra:" in out, out
    assert "ok: perfex-emulator (perfex:" in out, out
    assert "Migration: daftra:" in out, out
    # compare read both sides and paired what migrate created.
    paired = re.search(r"equal (\d+)", out)
    assert paired and int(paired[1]) >= 5, out
    assert (tmp_path / "bridge-walkthrough" / "invoicing-bridge-ledger.sqlite").exists()
