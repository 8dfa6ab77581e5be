"""Finding backends (``invoicing_bridge.backends``) and their emulators
(``invoicing_bridge.emulators``, which name Emulator classes): only through entry points.

The core knows no backend by name; plugins register themselves in their own
distribution's metadata and are loaded with stevedore. Importing this module imports
neither stevedore nor a backend's base class (nor marshmallow through it): the command
line lists commands and names backends without them.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any, TypeVar

from .exceptions import BackendNotFound

if TYPE_CHECKING:
    import click

    from .backends.base import InvoicingBackend
    from .emulation.base import Emulator

__all__ = [
    "NAMESPACE",
    "available_backends",
    "available_emulators",
    "backend_class",
    "emulator_class",
    "emulator_command",
    "get_backend",
]

T = TypeVar("T")

NAMESPACE = "invoicing_bridge.backends"
EMULATOR_NAMESPACE = "invoicing_bridge.emulators"


def _entry_points(namespace: str) -> list[EntryPoint]:
    """The group's entry points, read afresh from the installed distributions' metadata
    (the first distribution on ``sys.path`` wins a name).

    Not through stevedore's cache: it keeps one list per group for the whole process
    (``ExtensionManager.ENTRY_POINT_CACHE``) and an on-disk copy keyed by path mtimes
    packed as 32-bit floats (about two minutes' resolution), so a plugin installed after
    the first lookup was listed by ``available_backends()`` yet "not found" by
    ``get_backend()``.
    """
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=namespace):
        found.setdefault(ep.name, ep)
    return list(found.values())


def _manager_class() -> type[Any]:
    """stevedore's loader (load failures reported to our callback), fed fresh entry points
    (imported on the first load: listing names needs no stevedore)."""
    from stevedore import NamedExtensionManager

    class _FreshManager(NamedExtensionManager[Any]):
        def list_entry_points(self) -> list[EntryPoint]:
            return _entry_points(self.namespace)

    return _FreshManager


def _names(namespace: str) -> list[str]:
    return sorted(ep.name for ep in _entry_points(namespace))


def available_backends() -> list[str]:
    """Names of the installed backends (whether or not they import cleanly)."""
    return _names(NAMESPACE)


def _load(namespace: str, name: str, what: str) -> Any:
    installed = _names(namespace)
    failures: list[tuple[str, BaseException]] = []

    def on_failure(_manager: Any, entrypoint: Any, exc: BaseException) -> None:
        failures.append((entrypoint.name, exc))

    manager = _manager_class()(
        namespace,
        names=[name],
        invoke_on_load=False,
        on_load_failure_callback=on_failure,
        on_missing_entrypoints_callback=None,  # we raise BackendNotFound instead of a log line
    )
    for failed, exc in failures:
        if failed == name:
            raise BackendNotFound(
                f"{what} {name!r} is installed but failed to load: {type(exc).__name__}: {exc}",
                name=name,
                installed=installed,
            ) from exc
    if name in manager.names():
        return manager[name].plugin
    listing = ", ".join(installed) if installed else "none"
    raise BackendNotFound(
        f"no {what} named {name!r}; installed: {listing}", name=name, installed=installed
    )


def _load_class(namespace: str, name: str, what: str, base: type[T]) -> type[T]:
    """The ``base`` subclass registered under ``name``, else :class:`BackendNotFound`."""
    cls = _load(namespace, name, what)
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise BackendNotFound(
            f"{what} {name!r} does not point at an {base.__name__} subclass ({cls!r})",
            name=name,
            installed=_names(namespace),
        )
    return cls


def backend_class(name: str) -> type[InvoicingBackend]:
    """The backend class registered under ``name``. Raises :class:`BackendNotFound`."""
    from .backends.base import InvoicingBackend

    return _load_class(NAMESPACE, name, "backend", InvoicingBackend)


def get_backend(name: str, **options: Any) -> InvoicingBackend:
    """An instance of the backend ``name`` built with ``options``.

    Raises :class:`BackendNotFound` (unknown name, or a plugin that fails to import) and
    :class:`~invoicing_bridge.exceptions.ConfigurationError` (bad options).
    """
    return backend_class(name)(**options)


def available_emulators() -> list[str]:
    """Names of the installed emulators (whether or not they import cleanly)."""
    return _names(EMULATOR_NAMESPACE)


def emulator_class(name: str) -> type[Emulator]:
    """The emulator class registered under ``name`` in ``invoicing_bridge.emulators``.

    Raises :class:`BackendNotFound` (with the installed emulators) when there is no such
    emulator, it fails to import, or the entry point names no Emulator subclass.
    """
    from .emulation.base import Emulator

    return _load_class(EMULATOR_NAMESPACE, name, "emulator", Emulator)


def emulator_command(name: str) -> click.Command:
    """The ``emulate NAME`` command, built from the registered class."""
    return emulator_class(name).click_command(name)
