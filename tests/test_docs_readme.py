"""The README's install and test lines are what CI runs, and they install what the tests,
the lint and the docs build need: a newcomer's two commands work because CI runs them."""

from __future__ import annotations

import configparser
import glob
import re
import shlex
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CI = ROOT / ".ci" / "run"


def _section_commands(title: str) -> list[str]:
    """The lines of the ```sh blocks of the README section ``## title``."""
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title)}\n(?P<body>.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"README has no '## {title}' section"
    blocks = re.findall(r"```sh\n(.*?)```", match["body"], re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def _ci_lines() -> list[str]:
    return [line.strip() for line in CI.read_text(encoding="utf-8").splitlines()]


def test_readme_install_is_one_line_and_ci_runs_it_verbatim() -> None:
    [install] = _section_commands("Install")
    assert install.startswith("pip install ")
    assert install in _ci_lines()


def test_readme_test_command_is_what_ci_runs() -> None:
    [test] = _section_commands("Test")
    assert test in _ci_lines()
    ci = _ci_lines()
    # CI installs before it tests, and the test command is its last step.
    assert ci.index(_section_commands("Install")[0]) < ci.index(test)
    assert [line for line in ci if line and not line.startswith("#")][-1] == test


def _install_targets(install: str) -> tuple[set[str], list[Path]]:
    """The extras of the core and the plugin directories the install line installs (its
    ``$(printf ...)`` glob expanded as the shell would, from the repository root)."""
    globbed = re.search(r"\$\(printf -- \"-e %s(\[\w+\])? \" (?P<globs>[^)]*)\)", install)
    words = shlex.split(install[: globbed.start()] if globbed else install)
    core = next(w for w in words if w.startswith(".["))
    extras = set(core[2:-1].split(","))
    dirs = [ROOT / w for w in words[words.index(core) + 1 :] if w != "-e"]
    if globbed:
        for pattern in globbed["globs"].split():
            dirs += [Path(p) for p in sorted(glob.glob(str(ROOT / pattern)))]
    return extras, dirs


def test_readme_install_installs_the_test_lint_and_docs_tools() -> None:
    [install] = _section_commands("Install")
    extras, _ = _install_targets(install)
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    declared = config["options.extras_require"]
    assert {"test", "dev", "docs"} <= extras
    assert "pytest" in declared["test"] and "mkdocs" in declared["docs"]
    assert "ruff" in declared["dev"] and "mypy" in declared["dev"]


def test_readme_install_installs_every_plugin_of_the_repository() -> None:
    """Every directory the tests collect from (pytest's testpaths) is installed."""
    [install] = _section_commands("Install")
    _, dirs = _install_targets(install)
    installed = {d.resolve() for d in dirs}
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    testpaths = pyproject["tool"]["pytest"]["ini_options"]["testpaths"]
    plugin_tests = [Path(p) for t in testpaths if t != "tests" for p in glob.glob(str(ROOT / t))]
    assert {"plugins/*/tests", "docs/examples/*/tests"} <= set(testpaths)
    assert len(plugin_tests) >= 3  # daftra, perfex, the guide's acme
    for tests in plugin_tests:
        assert tests.parent.resolve() in installed, f"{tests.parent} is not installed"
    for plugin in installed:
        assert (plugin / "pyproject.toml").exists(), f"{plugin} is no distribution"


def test_readme_says_how_to_build_and_serve_the_docs() -> None:
    text = README.read_text(encoding="utf-8")
    assert "mkdocs serve" in text and "mkdocs build" in text
