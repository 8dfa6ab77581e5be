"""Every example in the documentation runs, so the docs cannot rot.

- Each ```python block of ``docs/**/*.md`` and ``README.md`` is executed in a fresh namespace.
  Lines ``--8<-- "path"`` (pymdownx.snippets) are replaced by the file under ``docs/``, as
  the site build does.
- Examples that need an account run against the emulators instead: the blocks run in a
  directory whose ``invoicing-bridge.toml`` has the profiles the docs use, ``shop`` (Daftra)
  and ``crm`` (Perfex), pointing at emulators started for the test. The README's example,
  which names a real Daftra subdomain, gets the same treatment (see ``_daftra_standin``).
- The plugin guide's example plugin (``docs/examples/acme``) is installed, as the README's
  install line does, so its blocks import it and ``get_backend("acme")`` finds it.
- Each ```toml block is parsed, and each ``[profiles.NAME]`` in it is validated against the
  backend's options schema, so option names in the docs match the code.
- Each ``invoicing-bridge ...`` line of a ```sh block is checked against the click commands
  (command names, options, choices, argument counts). The read-only ones (``backends``,
  ``check``, ``get``, ``list``, ``--help``) are also run against the emulators.

A block is skipped only when it is marked ``<!-- docs-test: skip REASON -->`` on the line
before it (meant for illustrative config only), or while a module it needs has not been
written yet (see ``PENDING``): in CI, where everything is installed, nothing should skip.
"""

from __future__ import annotations

import contextlib
import re
import shlex
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

import invoicing_bridge
from invoicing_bridge import BackendNotFound
from invoicing_bridge.cli import main
from invoicing_bridge.config import dumps_profiles, profile_from_table

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SOURCES = [*sorted(DOCS.rglob("*.md")), ROOT / "README.md"]

#: Modules that other work is still adding; a block that needs one is skipped, loudly.
PENDING = {
    "invoicing_bridge.migration",
    "invoicing_bridge.comparison",
    "invoicing_bridge.migration.ledger",
    "invoicing_bridge.cli.migrate",
    "invoicing_bridge.cli.compare",
    "invoicing_bridge.cli.demo",
    "invoicing_bridge_daftra",
    "invoicing_bridge_perfex",
}

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+-]*)")
SKIP = re.compile(r"<!--\s*docs-test:\s*skip\b(?P<reason>.*?)-->")
INCLUDE = re.compile(r'^[ \t]*--8<--[ \t]+"(?P<path>[^"]+)"[ \t]*$')


@dataclass(frozen=True)
class Block:
    path: Path
    number: int  # 1-based among the blocks of its language in the file
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    skip: str | None
    #: For a block that shows one module of an example plugin (``--8<--
    #: "examples/acme/invoicing_bridge_acme/backend.py"``): its package, so that the
    #: module's relative imports work when it runs.
    package: str | None = None

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)} {self.lang} block {self.number} (line {self.line})"


EXAMPLE_MODULE = re.compile(r"^examples/[^/]+/(?P<module>[\w/]+)\.py$")


def _package_of(code: str) -> str | None:
    """The package of the example plugin module a block consists of, or None."""
    lines = [line for line in code.splitlines() if line.strip()]
    include = INCLUDE.match(lines[0]) if len(lines) == 1 else None
    module = EXAMPLE_MODULE.match(include["path"]) if include else None
    if module is None:
        return None
    parts = module["module"].split("/")[:-1]  # a module's package; __init__'s is its own
    return ".".join(parts)


def _expand(code: str) -> str:
    out = []
    for line in code.splitlines():
        match = INCLUDE.match(line)
        if match:
            out.append((DOCS / match["path"]).read_text(encoding="utf-8"))
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def blocks(path: Path) -> Iterator[Block]:
    """The fenced code blocks of a markdown file, dedented, includes expanded."""
    lines = path.read_text(encoding="utf-8").splitlines()
    counts: dict[str, int] = {}
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, fence, lang = match["indent"], match["fence"], match["lang"].lower()
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines) and not (
            lines[i].strip().startswith(fence) and lines[i].strip().strip(fence[0]) == ""
        ):
            line = lines[i]
            body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
            i += 1
        i += 1
        lang = {"py": "python", "bash": "sh", "shell": "sh", "console": "sh"}.get(lang, lang)
        counts[lang] = counts.get(lang, 0) + 1
        previous = lines[start - 1] if start else ""
        marker = SKIP.search(previous)
        yield Block(
            path=path,
            number=counts[lang],
            line=start + 1,
            lang=lang,
            code=_expand("\n".join(body)),
            skip=(marker["reason"].strip() or "no reason given") if marker else None,
            package=_package_of("\n".join(body)),
        )


ALL_BLOCKS = [block for source in SOURCES for block in blocks(source)]


def _ids(kind: str) -> list[Any]:
    return [
        pytest.param(b, id=f"{b.path.relative_to(ROOT)}:{b.number}")
        for b in ALL_BLOCKS
        if b.lang == kind
    ]


# --------------------------------------------------------------------------- the harness


@dataclass
class Harness:
    """Emulators standing in for real accounts, and a config file naming them."""

    directory: Path
    profiles: dict[str, dict[str, Any]]
    env: dict[str, str]


def _start_emulators(stack: contextlib.ExitStack) -> tuple[dict[str, Any], dict[str, str]]:
    """Profiles ``shop`` (Daftra) and ``crm`` (Perfex) on emulators of the installed plugins."""
    profiles: dict[str, dict[str, Any]] = {}
    env: dict[str, str] = {}
    for profile, start in (("shop", _daftra_profile), ("crm", _perfex_profile)):
        started = start(stack)
        if started is not None:
            profiles[profile], more_env = started
            env.update(more_env)
    return profiles, env


Started = tuple[dict[str, Any], dict[str, str]] | None


#: Invoices seeded in each emulator: enough for every example, few enough to be fast.
SEEDED = 8


def _daftra_profile(stack: contextlib.ExitStack) -> Started:
    try:
        from invoicing_bridge_daftra.emulator import DaftraEmulator
    except ModuleNotFoundError as exc:
        if _pending(exc):
            return None
        raise
    emulator = stack.enter_context(DaftraEmulator(invoices=SEEDED, seed=1))
    env = {"DAFTRA_URL": emulator.base_url, "DAFTRA_API_KEY": emulator.api_key}
    return emulator.profile(), env


def _perfex_profile(stack: contextlib.ExitStack) -> Started:
    try:
        from invoicing_bridge_perfex.emulator import PerfexEmulator
    except ModuleNotFoundError as exc:
        if _pending(exc):
            return None
        raise
    emulator = stack.enter_context(PerfexEmulator(invoices=0, seed=1))
    env = {"PERFEX_URL": emulator.base_url, "PERFEX_TOKEN": emulator.token}
    return emulator.profile(), env


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    directory = tmp_path_factory.mktemp("docs")
    with contextlib.ExitStack() as stack:
        profiles, env = _start_emulators(stack)
        # The profile names `emulate` prints, which the quickstart's walkthrough uses.
        for alias, name in (("daftra-emulator", "shop"), ("perfex-emulator", "crm")):
            if name in profiles:
                profiles[alias] = profiles[name]
        (directory / "invoicing-bridge.toml").write_text(dumps_profiles(profiles), encoding="utf-8")
        yield Harness(directory=directory, profiles=profiles, env=env)


@pytest.fixture
def in_harness(harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Harness:
    """A fresh working directory (ledger files do not leak between blocks) holding the
    harness's config file, and the environment variables its profiles read."""
    config = (harness.directory / "invoicing-bridge.toml").read_text(encoding="utf-8")
    (tmp_path / "invoicing-bridge.toml").write_text(config, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("INVOICING_BRIDGE_CONFIG", raising=False)
    for key, value in harness.env.items():
        monkeypatch.setenv(key, value)
    return harness


def _pending(exc: BaseException | None) -> str | None:
    """The not-yet-written module behind ``exc`` (or its cause), if that is what failed."""
    while exc is not None:
        name = exc.name if isinstance(exc, ModuleNotFoundError) else None
        if name and any(name == p or name.startswith(p + ".") for p in PENDING):
            return name
        exc = exc.__cause__
    return None


def _skip_if_pending(block: Block, exc: BaseException, harness: Harness | None = None) -> None:
    """Skip (not pass) while the module or plugin a block needs has not landed."""
    missing = _pending(exc)
    if missing:
        pytest.skip(f"{block.where} needs {missing}, which is not written yet")
    if isinstance(exc, BackendNotFound) and exc.name not in exc.installed:
        pytest.skip(f"{block.where} needs the {exc.name!r} backend, which is not installed")
    needs = {"shop": "daftra", "crm": "perfex"}
    for profile, backend in needs.items():
        missing = harness is not None and profile not in harness.profiles
        env_var = isinstance(exc, KeyError) and str(exc).strip("'").startswith(backend.upper())
        if missing and (env_var or f"unknown profile {profile!r}" in str(exc)):
            pytest.skip(f"{block.where} needs the {backend!r} emulator, which is not written yet")


# --------------------------------------------------------------------------- python


@pytest.mark.parametrize("block", _ids("python"))
def test_python_block_runs(block: Block, in_harness: Harness) -> None:
    if block.skip:
        pytest.skip(f"{block.where} is marked to skip: {block.skip}")
    code = compile(block.code, block.where, "exec")
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    if block.package:
        namespace.update(__name__=f"{block.package}.__docs__", __package__=block.package)
    with _daftra_standin(block, in_harness):
        try:
            exec(code, namespace)
        except Exception as exc:
            _skip_if_pending(block, exc, in_harness)
            pytest.fail(
                f"{block.where} failed: {type(exc).__name__}: {exc}\n\n{block.code}",
                pytrace=True,
            )


@contextlib.contextmanager
def _daftra_standin(block: Block, harness: Harness) -> Iterator[None]:
    """The README names a real Daftra account: run its example against the emulator, by
    giving ``get_backend("daftra", ...)`` the emulator's URL and key instead."""
    if block.path.name != "README.md":
        yield
        return
    if "shop" not in harness.profiles:
        pytest.skip(f"{block.where} needs the Daftra emulator, which is not written yet")
    real = invoicing_bridge.get_backend
    shop = dict(harness.profiles["shop"])
    shop.pop("backend")

    def standin(name: str, **options: Any) -> Any:
        if name == "daftra":
            options = {k: v for k, v in options.items() if k not in ("subdomain", "api_key")}
            options.update({k: _env(v, harness.env) for k, v in shop.items()})
        return real(name, **options)

    invoicing_bridge.get_backend = standin  # type: ignore[assignment]
    try:
        yield
    finally:
        invoicing_bridge.get_backend = real


def _env(value: Any, env: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return re.sub(r"\$\{(\w+)\}", lambda m: env[m[1]], value)
    return value


# --------------------------------------------------------------------------- toml


class _AnyEnv(dict[str, str]):
    """Every ${VAR} is set (to a placeholder) while checking option names."""

    def __contains__(self, key: object) -> bool:
        return True

    def __getitem__(self, key: str) -> str:
        return "placeholder-value"


@pytest.mark.parametrize("block", _ids("toml"))
def test_toml_block_profiles_match_the_options_schemas(block: Block) -> None:
    if block.skip:
        pytest.skip(f"{block.where} is marked to skip: {block.skip}")
    try:
        data = tomllib.loads(block.code)
    except tomllib.TOMLDecodeError as exc:
        pytest.fail(f"{block.where} is not valid TOML: {exc}\n\n{block.code}")
    profiles = data.get("profiles", {})
    for name, table in profiles.items():
        try:
            profile_from_table(name, table, env=_AnyEnv())
        except BackendNotFound as exc:
            _skip_if_pending(block, exc)
            raise
        except invoicing_bridge.ConfigurationError as exc:
            pytest.fail(f"{block.where}: profile {name!r} is refused: {exc}")


# --------------------------------------------------------------------------- shell

#: Commands that only read, and that the harness can run against the emulators.
RUNNABLE = {"backends", "check", "get", "list"}


def _commands(block: Block) -> Iterator[list[str]]:
    for raw in block.code.splitlines():
        line = raw.strip().removeprefix("$ ")
        if not line.startswith("invoicing-bridge"):
            continue
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        words = []
        for word in lexer:  # the command, up to a redirection, pipe or `&`
            if word and set(word) <= set("();<>|&"):
                break
            words.append(word)
        if words and words[0] == "invoicing-bridge":
            yield words[1:]


def _check_against_click(words: list[str], where: str) -> tuple[click.Command, list[str]]:
    """Walk the click tree as the parser would; fail on any name the commands do not have.

    Returns the command reached and the words given to it.
    """
    command: click.Command = main
    ctx = click.Context(main, info_name="invoicing-bridge")
    args = list(words)
    while True:
        positional: list[str] = []
        params = {opt: p for p in command.params for opt in (*p.opts, *p.secondary_opts)}
        if command is main or isinstance(command, click.Group):
            params.update({opt: click.Option([opt], is_flag=True) for opt in ("-h", "--help")})
        if command is main:
            params["--version"] = click.Option(["--version"], is_flag=True)
        rest = list(args)
        while rest:
            word = rest.pop(0)
            if word.startswith("-") and word != "-":
                name, _, inline = word.partition("=")
                param = params.get(name)
                assert param is not None, f"{where}: {command.name} has no option {name}"
                if isinstance(param, click.Option) and not (param.is_flag or param.count):
                    value = inline or (rest.pop(0) if rest else None)
                    assert value is not None, f"{where}: {name} needs a value"
                    _check_choice(param, value, where)
                continue
            positional.append(word)
            if isinstance(command, click.Group):
                break
        if isinstance(command, click.Group):
            if not positional:
                return command, args
            name = positional[0]
            try:
                sub = command.get_command(ctx, name)
            except BackendNotFound as exc:
                if _pending(exc):
                    pytest.skip(f"{where}: needs {_pending(exc)}, which is not written yet")
                pytest.fail(f"{where}: {exc}")
            if sub is None:
                pending = f"invoicing_bridge.cli.{name}" in PENDING or (
                    command.name == "emulate" and f"invoicing_bridge_{name}" in PENDING
                )
                if pending:
                    pytest.skip(f"{where}: `{name}` is not written yet")
                pytest.fail(f"{where}: no command {name!r} under {command.name}")
            command, args = sub, rest
            continue
        arguments = [p for p in command.params if isinstance(p, click.Argument)]
        assert len(positional) <= sum(max(a.nargs, 1) for a in arguments), (
            f"{where}: too many arguments for {command.name}: {positional}"
        )
        for argument, value in zip(arguments, positional, strict=False):
            _check_choice(argument, value, where)
        return command, args


def _check_choice(param: click.Parameter, value: str, where: str) -> None:
    if isinstance(param.type, click.Choice) and not value.startswith("$"):
        assert value in param.type.choices, (
            f"{where}: {value!r} is not one of {list(param.type.choices)} for {param.name}"
        )


@pytest.mark.parametrize("block", _ids("sh"))
def test_shell_block_commands_exist_and_read_only_ones_run(
    block: Block, in_harness: Harness
) -> None:
    if block.skip:
        pytest.skip(f"{block.where} is marked to skip: {block.skip}")
    runner = CliRunner()
    for words in _commands(block):
        where = f"{block.where}: invoicing-bridge {shlex.join(words)}"
        command, _ = _check_against_click(words, where)
        help_only = "--help" in words or "-h" in words or words == ["--version"]
        profiles = [w for w in words if w in in_harness.profiles]
        needs = {"shop", "crm"} & set(words)
        runnable = command.name in RUNNABLE and set(profiles) >= needs
        if not (help_only or runnable):
            continue
        result = runner.invoke(main, words, catch_exceptions=False)
        assert result.exit_code == 0, f"{where} exited {result.exit_code}:\n{result.output}"


# --------------------------------------------------------------------------- the parser


def test_blocks_are_found_with_their_languages() -> None:
    langs = {b.lang for b in ALL_BLOCKS}
    assert {"python", "toml", "sh"} <= langs, langs
    assert sum(b.lang == "python" for b in ALL_BLOCKS) >= 10


def test_skip_markers_are_rare_and_give_a_reason() -> None:
    skipped = [b for b in ALL_BLOCKS if b.skip]
    for block in skipped:
        assert block.skip != "no reason given", f"{block.where}: say why it is skipped"
    assert len(skipped) <= 3, [b.where for b in skipped]


# --------------------------------------------------------------------------- options tables


def _documented_options(page: Path) -> set[str]:
    """The option names in the first column of the table under ``## Options``."""
    text = page.read_text(encoding="utf-8")
    section = text.split("\n## Options\n", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([a-z_]+)`", line.split("|")[1]))
    return names


@pytest.mark.parametrize("name", ["daftra", "perfex", "memory"])
def test_backend_page_documents_exactly_the_options_of_its_schema(name: str) -> None:
    from invoicing_bridge.backends.http import HTTPOptions
    from invoicing_bridge.registry import backend_class

    try:
        cls = backend_class(name)
    except BackendNotFound as exc:
        if exc.name not in exc.installed:
            pytest.skip(f"the {name!r} backend is not installed")
        raise
    shared = set(HTTPOptions().fields) - {"base_url"}
    own = set(cls.Options().fields) - shared
    documented = _documented_options(DOCS / "backends" / f"{name}.md")
    assert documented == own, (
        f"docs/backends/{name}.md options table: missing {sorted(own - documented)}, "
        f"not in the schema {sorted(documented - own)}"
    )
