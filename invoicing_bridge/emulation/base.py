"""The base of every backend emulator: one constructor contract, and the ``emulate NAME``
command built from what the emulator declares.

A plugin's emulator subclasses :class:`Emulator`, names itself, declares its knobs and
builds its WSGI app::

    class AcmeEmulator(Emulator):
        name = "acme"                      # the entry-point name and the profile's backend
        api_path = "/v1"                   # the API root under the server
        default_invoices = 0               # seeded invoices when the caller says nothing
        knobs = (
            Knob("api_key", "acme-test-key", "The API key to accept."),
            Knob("token_ttl", 3600.0, cli=False),        # Python only
        )

        def create_app(self, knobs: Mapping[str, Any]) -> WSGIApp:
            self.api_key = knobs["api_key"]
            return AcmeApp(self.api_key, invoices=self.invoices, seed=self.seed)

        def profile(self) -> dict[str, Any]:
            return {"backend": "acme", "base_url": self.base_url, "api_key": self.api_key}

Every emulator is built the same way: ``AcmeEmulator(invoices=3, seed=1, port=0,
latency_ms=0, fault_rate=0.0, fault_kinds=FAULT_KINDS, host="127.0.0.1", **knobs)``, all
keywords; a knob it does not declare is a ``TypeError``. ``AcmeEmulator.click_command()``
is its ``invoicing-bridge emulate acme`` command: the shared options (``--host``,
``--port``, ``--invoices``, ``--seed``, ``--latency-ms``, ``--fault-rate``) and one option
per knob with ``cli=True``; it prints a ready-to-paste profile and serves until Ctrl-C.
The ``invoicing_bridge.emulators`` entry point names the class.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Self

import click

from ..config import dumps_profile
from .server import FAULT_KINDS, EmulatorServer, EmulatorStats, FaultInjector, Running, WSGIApp

if TYPE_CHECKING:
    from ..backends.base import InvoicingBackend

__all__ = ["Emulator", "Knob", "print_profile_and_serve"]

#: The constructor's own keywords, which no knob may take.
_COMMON = frozenset({"invoices", "seed", "host", "port", "latency_ms", "fault_rate", "fault_kinds"})


@dataclass(frozen=True)
class Knob:
    """A setting of one emulator beyond the shared ones.

    ``name`` is the constructor keyword (``api_key``; the option is ``--api-key``);
    ``default`` its value when not given (a bool default makes a flag); ``help`` the
    option's text; ``choices`` limits the command line to these texts (the emulator
    converts them if it wants something else); ``type`` the click type when the default's
    type is not the right one (an ``int`` knob whose default is None); ``cli=False`` keeps
    the knob to Python callers.
    """

    name: str
    default: Any = None
    help: str = ""
    choices: Sequence[str] | None = None
    type: Any = None
    cli: bool = True

    def option(self) -> click.Option:
        """The knob as a click option."""
        flag = "--" + self.name.replace("_", "-")
        if isinstance(self.default, bool):
            return click.Option(
                [flag, self.name], is_flag=True, default=self.default, help=self.help
            )
        kind: Any = self.type
        default = self.default
        if self.choices is not None:
            kind = click.Choice(list(self.choices))
            default = None if default is None else str(default)
        return click.Option(
            [flag, self.name],
            type=kind,
            default=default,
            show_default=default is not None,
            help=self.help,
        )


def _shared_options(default_invoices: int) -> list[click.Option]:
    return [
        click.Option(["--host"], default="127.0.0.1", show_default=True, help="Address to bind."),
        click.Option(
            ["--port"], type=click.IntRange(0, 65535), default=0, help="Port (0: a free one)."
        ),
        click.Option(
            ["--invoices"],
            type=click.IntRange(min=0),
            default=default_invoices,
            show_default=True,
            help="How many seeded invoices (0 for an empty account).",
        ),
        click.Option(
            ["--seed"], type=int, default=1, show_default=True, help="Random seed of the data."
        ),
        click.Option(
            ["--latency-ms"],
            type=click.FloatRange(min=0),
            default=0,
            help="Added latency per request, in milliseconds.",
        ),
        click.Option(
            ["--fault-rate"],
            type=click.FloatRange(0, 1),
            default=0.0,
            help="Share of requests answered with a fault (5xx, 429, drop, HTML).",
        ),
    ]


class Emulator(Running):
    """Base of a backend's emulator: an in-memory app behind an :class:`EmulatorServer`.

    Subclasses set :attr:`name`, :attr:`api_path`, :attr:`knobs` (and
    :attr:`default_invoices`, :attr:`command_help` if they like) and implement
    :meth:`create_app` and :meth:`profile`. The instance has ``invoices`` and ``seed``,
    the ``app`` and ``server``, and the server's ``base_url``, ``root_url``, ``port``,
    ``stats`` and ``faults``; it is not listening until :meth:`start` (or ``with``).
    """

    #: The emulator's name: its ``emulate`` subcommand and its profile's name.
    name: ClassVar[str] = ""
    #: The API root under the server (``/api2``); ``base_url`` ends with it.
    api_path: ClassVar[str] = ""
    #: The emulator's own settings (see :class:`Knob`).
    knobs: ClassVar[Sequence[Knob]] = ()
    #: Seeded invoices when the caller does not say (the command line's default too).
    default_invoices: ClassVar[int] = 25
    #: The ``emulate NAME --help`` text (default: "Run the NAME emulator ...").
    command_help: ClassVar[str] = ""

    app: WSGIApp
    server: EmulatorServer

    def __init__(
        self,
        *,
        invoices: int | None = None,
        seed: int = 1,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_ms: float = 0,
        fault_rate: float = 0.0,
        fault_kinds: Sequence[str] = FAULT_KINDS,
        **knobs: Any,
    ) -> None:
        self.invoices = self.default_invoices if invoices is None else invoices
        if self.invoices < 0:
            raise ValueError("invoices must be 0 or more")
        self.seed = seed
        self.app = self.create_app(self.knob_values(knobs))
        self.server = EmulatorServer(
            self.app,
            api_path=self.api_path,
            host=host,
            port=port,
            latency_ms=latency_ms,
            fault_rate=fault_rate,
            fault_kinds=fault_kinds,
            seed=seed,
        )

    @classmethod
    def knob_names(cls) -> tuple[str, ...]:
        """The names of the declared knobs, in order."""
        return tuple(knob.name for knob in cls.knobs)

    @classmethod
    def knob_values(cls, given: Mapping[str, Any]) -> dict[str, Any]:
        """Every declared knob's value: ``given``'s, else the default. Raises TypeError
        for a name that is not a knob of this emulator."""
        unknown = sorted(set(given) - set(cls.knob_names()))
        if unknown:
            raise TypeError(
                f"{cls.__name__}() got unexpected keyword arguments: {', '.join(unknown)}"
                f" (its knobs: {', '.join(cls.knob_names()) or 'none'})"
            )
        return {knob.name: given.get(knob.name, knob.default) for knob in cls.knobs}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        names = [knob.name for knob in cls.knobs]
        clashes = sorted((set(names) & _COMMON) | {n for n in names if names.count(n) > 1})
        if clashes:
            raise TypeError(f"{cls.__name__}: knobs clash: {', '.join(clashes)}")

    # ------------------------------------------------------------------ subclasses

    def create_app(self, knobs: Mapping[str, Any]) -> WSGIApp:
        """The WSGI app answering like the API, seeded with ``self.invoices`` invoices
        from ``self.seed``; ``knobs`` holds every declared knob's value."""
        raise NotImplementedError

    def profile(self) -> dict[str, Any]:
        """Backend options reaching this emulator, ``backend`` included."""
        raise NotImplementedError

    def open_backend(self, **overrides: Any) -> InvoicingBackend:
        """The backend of :meth:`profile` (its plugin loaded through the registry), with
        ``overrides`` replacing or adding options (``max_retries=0``). Close it, or use it
        in a ``with`` block."""
        from ..registry import get_backend

        options = dict(self.profile())
        name = options.pop("backend")
        return get_backend(name, **{**options, **overrides})

    # ------------------------------------------------------------------ the command

    @classmethod
    def click_command(cls, name: str | None = None) -> click.Command:
        """The ``emulate NAME`` command: build the emulator from the options, print a
        ready-to-paste profile, serve until Ctrl-C."""
        command_name = name or cls.name

        def run(**params: Any) -> None:
            emulator = cls(**params)
            print_profile_and_serve(emulator.server, f"{command_name}-emulator", emulator.profile())

        return click.Command(
            command_name,
            callback=run,
            params=[
                *_shared_options(cls.default_invoices),
                *(knob.option() for knob in cls.knobs if knob.cli),
            ],
            help=cls.command_help
            or f"Run a local {command_name} emulator in the foreground and print a config profile.",
        )

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def root_url(self) -> str:
        return self.server.root_url

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def stats(self) -> EmulatorStats:
        return self.server.stats

    @property
    def faults(self) -> FaultInjector:
        return self.server.faults

    def start(self) -> Self:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def serve_forever(self) -> None:
        self.server.serve_forever()


def print_profile_and_serve(
    server: EmulatorServer, profile_name: str, profile: Mapping[str, Any]
) -> None:
    """Print a ready-to-paste config profile, then serve in the foreground until Ctrl-C.

    The profile alone goes to stdout, the rest to stderr, so that
    ``invoicing-bridge emulate daftra >> invoicing-bridge.toml &`` adds the profile to a
    config file as it is.
    """
    options = dict(profile)
    options = {"backend": options.pop("backend"), "base_url": server.base_url, **options}
    click.echo(f"Emulator listening on {server.root_url} (Ctrl-C to stop).", err=True)
    click.echo("Paste this profile into invoicing-bridge.toml:\n", err=True)
    click.echo(dumps_profile(profile_name, options))
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    click.echo(f"stopped; served {server.stats.requests} requests", err=True)
