"""The README's install line, run in a fresh virtual environment, installs what its test
command needs (pytest and every plugin the tests import), issue 17. (That users' type
checkers see the packages is tests/test_typed_install.py, run in CI's own fresh install.)

It takes minutes (it installs everything), so it runs where ``INVOICING_BRIDGE_FRESH_INSTALL``
is set: ``.ci/run`` sets it, and CI runs it on every build.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def _section_line(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]
    [block] = re.findall(r"```sh\n(.*?)```", section, re.S)[:1]
    [line] = [line for line in block.splitlines() if line.strip()]
    return line


@pytest.mark.slow
@pytest.mark.timeout(3000)  # the install alone takes minutes
@pytest.mark.skipif(
    not os.environ.get("INVOICING_BRIDGE_FRESH_INSTALL"),
    reason="installs everything into a new virtual environment (minutes): .ci/run sets "
    "INVOICING_BRIDGE_FRESH_INSTALL=1 to run it",
)
def test_readme_install_line_in_a_fresh_venv(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    env.pop("PYTHONPATH", None)
    install = subprocess.run(
        ["bash", "-c", _section_line("Install")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert install.returncode == 0, install.stdout + install.stderr

    # The test command works with what was installed: every test module imports.
    test_line = _section_line("Test").split()
    assert test_line[:3] == ["python", "-m", "pytest"]
    collected = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pytest", "--collect-only", "-q", *test_line[3:]],
        cwd=ROOT,
        env={**env, "INVOICING_BRIDGE_FRESH_INSTALL": ""},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert collected.returncode == 0, collected.stdout[-3000:] + collected.stderr[-3000:]
    assert re.search(r"\d+ tests collected", collected.stdout), collected.stdout[-2000:]
