"""Named backend profiles from a TOML file.

Where the file is looked for: ``--config PATH``, else ``./invoicing-bridge.toml``, else
``invoicing-bridge/config.toml`` in the user config dir (platformdirs). Form::

    [profiles.shop]
    backend = "daftra"
    subdomain = "myshop"          # or base_url = "http://127.0.0.1:8001/api2"
    api_key = "${DAFTRA_API_KEY}" # ${VAR} is read from the environment

    [profiles.shop.seller]        # optional: who issues the invoices, for e-invoices
    name = "My Shop LLC"          # (see invoicing_bridge.einvoice.Seller)
    vat_id = "SA300000000000003"
    country = "SA"

Tables in :data:`PROFILE_SECTIONS` are the profile's, not the backend's: they are kept
in :attr:`Profile.sections` and never passed to the backend.

Trust: the file in use is logged (``--debug`` shows it; ``check`` prints it). A file that
someone else could have written (owned by another user, or writable by group or others)
may not pull values from the environment: its ``${VAR}`` references are refused, since a
file planted in the working directory would otherwise receive the user's secrets. A
secret written in a file that group or others can read, and a plain ``http://``
``base_url`` to a host other than this machine, are warnings (logged on
``invoicing_bridge.config``, and kept in :attr:`Profile.warnings`).

Every problem raises :class:`~invoicing_bridge.exceptions.ConfigurationError` naming the
profile and the option. :func:`dumps_profile` is the one TOML writer: it gives a profile's
table, ready to paste (the emulators print theirs with it).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import math
import os
import re
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import platformdirs

from .backends.base import InvoicingBackend
from .exceptions import ConfigurationError, UnsupportedOperation
from .registry import backend_class

__all__ = [
    "Profile",
    "config_paths",
    "dumps_profile",
    "dumps_profiles",
    "find_config",
    "load_config",
    "load_profile",
    "open_profile",
]

log = logging.getLogger("invoicing_bridge.config")

LOCAL_NAME = "invoicing-bridge.toml"
#: Sub-tables of a profile that belong to the profile, not to its backend's options.
PROFILE_SECTIONS = frozenset({"seller"})
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Profile:
    """A named backend configuration: the backend's name and its (validated) options."""

    name: str
    backend: str
    options: dict[str, Any] = field(repr=False)
    path: Path | None = None
    #: The profile's own tables (:data:`PROFILE_SECTIONS`), e.g. ``sections["seller"]``.
    sections: dict[str, Any] = field(default_factory=dict, repr=False)
    #: What is unsafe but allowed about this profile (each also logged as a warning).
    warnings: tuple[str, ...] = ()

    def open(self, *, check: bool = False) -> InvoicingBackend:
        """The backend instance, its errors naming this profile. With ``check``, it has
        proved it reaches the real API with working credentials
        (:meth:`~invoicing_bridge.backends.base.InvoicingBackend.check`) before it is
        handed back (a backend without ``check_connection`` is not checked). Raises
        ConfigurationError naming this profile, and with ``check`` what the check raises."""
        cls = backend_class(self.backend)
        try:
            backend = cls(**self.options)
        except ConfigurationError as exc:
            if exc.profile is None:
                raise ConfigurationError(str(exc), profile=self.name, option=exc.option) from None
            raise
        backend.profile = self.name
        if check:
            try:
                backend.check()
            except UnsupportedOperation:
                pass  # a backend that has no way to check is used unchecked
            except BaseException:
                backend.close()
                raise
        return backend


def config_paths(explicit: str | os.PathLike[str] | None = None) -> list[Path]:
    """Where a config file is looked for, in order."""
    if explicit is not None:
        return [Path(explicit)]
    user_dir = Path(platformdirs.user_config_dir("invoicing-bridge"))
    return [Path.cwd() / LOCAL_NAME, user_dir / "config.toml"]


def find_config(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The config file in use, or None. An explicit path that does not exist is an error."""
    paths = config_paths(explicit)
    if explicit is not None:
        if not paths[0].is_file():
            raise ConfigurationError(f"config file {str(paths[0])!r} does not exist")
        return paths[0]
    return next((p for p in paths if p.is_file()), None)


def load_config(
    explicit: str | os.PathLike[str] | None = None,
) -> tuple[Path | None, dict[str, Any]]:
    """The profiles table of the config file in use (empty when there is no file)."""
    path = find_config(explicit)
    if path is None:
        log.debug("no config file (looked in %s)", ", ".join(map(str, config_paths(explicit))))
        return None, {}
    log.debug("config file: %s", path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot be read: {exc.strerror}") from None
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigurationError(f"{path}: [profiles] must be a table")
    return path, profiles


def _expand(value: Any, profile: str, option: str, env: Mapping[str, str]) -> Any:
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            var = match.group(1)
            if var not in env:
                raise ConfigurationError(
                    f"environment variable ${{{var}}} is not set", profile=profile, option=option
                )
            return env[var]

        return _VAR.sub(replace, value)
    if isinstance(value, dict):
        return {k: _expand(v, profile, f"{option}.{k}", env) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, profile, option, env) for v in value]
    return value


def profile_from_table(
    name: str,
    table: Mapping[str, Any],
    *,
    path: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Profile:
    """Build and validate a profile from its TOML table."""
    if not isinstance(table, Mapping):
        raise ConfigurationError("must be a table", profile=name)
    env = os.environ if env is None else env
    backend = table.get("backend")
    if not backend or not isinstance(backend, str):
        raise ConfigurationError("the backend name is required", profile=name, option="backend")
    untrusted = _untrusted(path) if path is not None else None
    if untrusted is not None:
        for key, value in table.items():
            if _uses_vars(value):
                raise ConfigurationError(
                    f"{path} is {untrusted}, so its ${{VAR}} references are not filled from "
                    "the environment (it may not be yours); make the file your own and "
                    "writable by you alone (chmod go-w), or pass --config",
                    profile=name,
                    option=key,
                )
    options = {
        key: _expand(value, name, key, env)
        for key, value in table.items()
        if key != "backend" and key not in PROFILE_SECTIONS
    }
    sections = {
        key: _expand(value, name, key, env)
        for key, value in table.items()
        if key in PROFILE_SECTIONS
    }
    cls = backend_class(backend)
    options = cls.load_options(options, profile=name)
    warnings = _warnings(name, table, options, cls.secret_options(), path)
    for warning in warnings:
        log.warning("%s", warning)
    return Profile(
        name=name,
        backend=backend,
        options=options,
        path=path,
        sections=sections,
        warnings=warnings,
    )


def _uses_vars(value: Any) -> bool:
    if isinstance(value, str):
        return _VAR.search(value) is not None
    if isinstance(value, dict):
        return any(_uses_vars(v) for v in value.values())
    if isinstance(value, list):
        return any(_uses_vars(v) for v in value)
    return False


def _untrusted(path: Path) -> str | None:
    """Why ``path`` may have been written by someone else, or None when only we can."""
    if os.name != "posix":
        return None
    try:
        info = path.stat()
    except OSError:
        return None
    if info.st_uid != os.geteuid():
        return f"owned by another user (uid {info.st_uid})"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"writable by group or others (mode {stat.filemode(info.st_mode)})"
    return None


def _readable_by_others(path: Path) -> bool:
    if os.name != "posix":
        return False
    try:
        return bool(path.stat().st_mode & (stat.S_IRGRP | stat.S_IROTH))
    except OSError:
        return False


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _warnings(
    name: str,
    table: Mapping[str, Any],
    options: Mapping[str, Any],
    secrets: frozenset[str],
    path: Path | None,
) -> tuple[str, ...]:
    out: list[str] = []
    written = sorted(
        key for key in secrets if isinstance(table.get(key), str) and not _uses_vars(table[key])
    )
    if written and path is not None and _readable_by_others(path):
        out.append(
            f"profile {name!r}: {', '.join(written)} written in {path}, which group or others "
            f"can read; chmod 600 {path}, or use ${{VAR}}"
        )
    base_url = options.get("base_url")
    if isinstance(base_url, str) and base_url.lower().startswith("http://"):
        host = urlsplit(base_url).hostname
        if not _is_loopback(host):
            out.append(
                f"profile {name!r}: base_url is plain http:// to {host}: credentials and "
                "invoices travel unencrypted; use https://"
            )
    return tuple(out)


def load_profile(
    name: str,
    config: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> Profile:
    """The named profile, validated. Raises ConfigurationError (or BackendNotFound)."""
    path, profiles = load_config(config)
    if name not in profiles:
        if path is None:
            looked = ", ".join(str(p) for p in config_paths(config))
            raise ConfigurationError(
                f"unknown profile {name!r}: no config file found (looked in {looked}); "
                "`invoicing-bridge emulate daftra` prints a ready-to-paste profile"
            )
        known = ", ".join(sorted(profiles)) or "none"
        raise ConfigurationError(f"unknown profile {name!r} in {path}; profiles: {known}")
    return profile_from_table(name, profiles[name], path=path, env=env)


def open_profile(name: str, config: str | os.PathLike[str] | None = None) -> InvoicingBackend:
    """The backend of the named profile, ready to use."""
    return load_profile(name, config).open()


# --------------------------------------------------------------------------- writing

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def _toml_string(text: str) -> str:
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _toml_key(key: Any, *, bare: bool) -> str:
    text = str(key)
    return text if bare and _BARE_KEY.match(text) else _toml_string(text)


def _toml_number(value: float | Decimal) -> str:
    if isinstance(value, Decimal):
        if value.is_nan():
            return "nan"
        if value.is_infinite():
            return "-inf" if value < 0 else "inf"
        return format(value, "f")  # its own digits: no exponent, no float on the way
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "-inf" if value < 0 else "inf"
    return repr(value)


def _toml_value(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        return _toml_number(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Mapping):
        # Keys of an inline table are data (currency codes, ids): always quoted.
        inner = ", ".join(
            f"{_toml_key(k, bare=False)} = {_toml_value(v, f'{where}.{k}')}"
            for k, v in value.items()
            if v is not None
        )
        return "{ " + inner + " }" if inner else "{}"
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return "[" + ", ".join(_toml_value(v, where) for v in items) + "]"
    if value is None:
        raise ValueError(f"{where}: TOML has no null")
    raise TypeError(f"{where}: cannot write a {type(value).__name__} as TOML")


def dumps_profile(name: str, options: Mapping[str, Any]) -> str:
    """The TOML of one profile, ``[profiles.NAME]`` and one ``key = value`` line per option
    (None values left out: the option keeps its default), ending with a newline.

    Strings are TOML basic strings (quotes, backslashes and control characters escaped);
    ints and floats as numbers; a Decimal as a number with exactly its digits; bools,
    dates, lists and inline tables (mappings) as TOML has them.
    """
    lines = [f"[profiles.{_toml_key(name, bare=True)}]"]
    lines += [
        f"{_toml_key(key, bare=True)} = {_toml_value(value, f'{name}.{key}')}"
        for key, value in options.items()
        if value is not None
    ]
    return "\n".join(lines) + "\n"


def dumps_profiles(profiles: Mapping[str, Mapping[str, Any]]) -> str:
    """A config file's text holding ``profiles`` (name → options), one table each."""
    return "\n".join(dumps_profile(name, options) for name, options in profiles.items())
