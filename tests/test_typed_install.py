"""After the README's install line, users' type checkers see the packages (PEP 561:
``py.typed`` and an editable install mypy can follow). CI runs this in the fresh virtual
environment it builds with exactly that line (``.ci/run``; ``tests/test_docs_readme.py``
checks the two lines agree), so a fresh install is proved by CI itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_user_code_type_checks_against_the_installed_packages(tmp_path: Path) -> None:
    user_code = tmp_path / "app.py"
    user_code.write_text(
        "from invoicing_bridge import get_backend\n"
        "from invoicing_bridge_acme.backend import AcmeBackend\n"
        "from invoicing_bridge_daftra.backend import DaftraBackend\n"
        "from invoicing_bridge_perfex.backend import PerfexBackend\n"
        "backend = get_backend('memory')\n"
        "reveal_type(backend)\n"
        "wrong: int = DaftraBackend\n",
        encoding="utf-8",
    )
    typed = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(user_code)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    # The packages resolve (no import-not-found / missing stubs), the backend is typed...
    assert "import-not-found" not in typed.stdout and "import-untyped" not in typed.stdout, (
        typed.stdout
    )
    assert "InvoicingBackend" in typed.stdout, typed.stdout
    # ...and types are really checked: the one planted error is found, nothing else.
    assert "app.py:7: error: Incompatible types in assignment" in typed.stdout, typed.stdout
    assert "Found 1 error" in typed.stdout, typed.stdout
