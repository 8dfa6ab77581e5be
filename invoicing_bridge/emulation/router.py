"""A small router for emulators: routes by method and path pattern, typed path parameters,
and the vendor's own 404 and 405 answers.

::

    router = Router(not_found=..., method_not_allowed=..., suffix=".json")

    @router.route("GET", "/api2/invoices/<int:id>")
    def get_invoice(request: Request, id: int) -> Response: ...

    response = router.dispatch(request)     # or serve the router itself: it is a WSGI app

A pattern is a path with ``<name>`` (one segment, as text), ``<int:name>`` (digits, as an
``int``) and ``<path:name>`` (the rest, slashes included) parameters; they reach the
handler as keyword arguments after the request. A path that no route matches gets the
``not_found`` answer; a path some route matches, but not for this method, gets the
``method_not_allowed`` answer (with the methods that are allowed). Both are hooks, so every
emulator answers in its vendor's error shape. Routes are tried in the order they were added.

Routes may be declared on a class, with methods as handlers, and bound to an instance::

    class App:
        routes = Router()

        @routes.route("GET", "/v1/customers/<int:id>")
        def customer(self, request: Request, id: int) -> Response: ...

        def __init__(self) -> None:
            self.router = self.routes.bind(self, not_found=self.no_route)

A handler may also raise :class:`Answer` from deep inside to answer at once (an error).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from werkzeug.wrappers import Request, Response

__all__ = ["Answer", "Handler", "Route", "RouteMatch", "Router"]

Handler = Callable[..., Response]
H = TypeVar("H", bound=Callable[..., Any])
NotFoundHook = Callable[[Request], Response]
NotAllowedHook = Callable[[Request, tuple[str, ...]], Response]

_PARAM = re.compile(r"<(?:(?P<kind>[a-z]+):)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)>")
_KINDS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "str": (r"[^/]+?", str),
    "int": (r"[0-9]+", int),
    "path": (r".+?", str),
}


class Answer(Exception):
    """Raised by a handler (or a hook) to answer with ``response`` at once."""

    def __init__(self, response: Response):
        super().__init__(response.status)
        self.response = response


@dataclass(frozen=True)
class Route:
    """One route: its methods (``"*"``: any), pattern, handler and free-form ``meta``
    (say ``auth=False``) that the ``before`` hook can read."""

    methods: frozenset[str]
    pattern: str
    handler: Callable[..., Any]
    regex: re.Pattern[str] = field(repr=False)
    converters: Mapping[str, Callable[[str], Any]] = field(repr=False)
    meta: Mapping[str, Any] = field(default_factory=dict)

    def allows(self, method: str) -> bool:
        return "*" in self.methods or method.upper() in self.methods


@dataclass(frozen=True)
class RouteMatch:
    """What :meth:`Router.match` found: the route for the method (None when only other
    methods are allowed on the path), its typed parameters, and the allowed methods."""

    route: Route | None
    params: dict[str, Any]
    allowed: tuple[str, ...]


def _compile(
    pattern: str, suffix: str, trailing_slash: bool
) -> tuple[re.Pattern[str], dict[str, Any]]:
    if not pattern.startswith("/"):
        raise ValueError(f"a route pattern starts with '/': {pattern!r}")
    parts: list[str] = []
    converters: dict[str, Callable[[str], Any]] = {}
    position = 0
    for found in _PARAM.finditer(pattern):
        kind, name = found.group("kind") or "str", found.group("name")
        if kind not in _KINDS:
            raise ValueError(f"unknown parameter kind {kind!r} in {pattern!r}")
        if name in converters:
            raise ValueError(f"parameter {name!r} twice in {pattern!r}")
        regex, convert = _KINDS[kind]
        parts.append(re.escape(pattern[position : found.start()]))
        parts.append(f"(?P<{name}>{regex})")
        converters[name] = convert
        position = found.end()
    parts.append(
        re.escape(pattern[position:].rstrip("/") if trailing_slash else pattern[position:])
    )
    tail = f"(?:{re.escape(suffix)})?" if suffix else ""
    tail += "/?" if trailing_slash else ""
    return re.compile("".join(parts) + tail), converters


def _methods(methods: str | Iterable[str]) -> frozenset[str]:
    names = [methods] if isinstance(methods, str) else list(methods)
    if not names:
        raise ValueError("a route needs at least one method")
    return frozenset(name.upper() for name in names)


class Router:
    """Routes by method and path pattern; see the module's text.

    ``not_found(request)`` and ``method_not_allowed(request, allowed)`` make the answers
    for a path no route matches and for a method the path does not allow (when
    ``method_not_allowed`` is not given, such a request gets the ``not_found`` answer);
    ``before(request, route)`` runs once a route is found, before its handler (check
    credentials there, and raise :class:`Answer` to refuse). ``suffix`` is an optional
    ending every path may carry (Daftra's ``.json``); ``trailing_slash`` lets every path
    end with ``/`` too.
    """

    def __init__(
        self,
        *,
        not_found: NotFoundHook | None = None,
        method_not_allowed: NotAllowedHook | None = None,
        before: Callable[[Request, Route], None] | None = None,
        suffix: str = "",
        trailing_slash: bool = True,
    ) -> None:
        self.not_found = not_found
        self.method_not_allowed = method_not_allowed
        self.before = before
        self.suffix = suffix
        self.trailing_slash = trailing_slash
        self.routes: list[Route] = []

    # ------------------------------------------------------------------ declaring

    def add(
        self, methods: str | Iterable[str], pattern: str, handler: Callable[..., Any], **meta: Any
    ) -> Route:
        """Add a route: ``methods`` one name or several (``"*"`` for any)."""
        regex, converters = _compile(pattern, self.suffix, self.trailing_slash)
        route = Route(_methods(methods), pattern, handler, regex, converters, meta)
        self.routes.append(route)
        return route

    def route(self, methods: str | Iterable[str], pattern: str, **meta: Any) -> Callable[[H], H]:
        """Decorator form of :meth:`add`; gives the handler back unchanged."""

        def register(handler: H) -> H:
            self.add(methods, pattern, handler, **meta)
            return handler

        return register

    def bind(
        self,
        owner: object,
        *,
        not_found: NotFoundHook | None = None,
        method_not_allowed: NotAllowedHook | None = None,
        before: Callable[[Request, Route], None] | None = None,
    ) -> Router:
        """A copy whose handlers are bound to ``owner`` (routes declared on a class with
        methods as handlers); the hooks given replace this router's."""
        bound = Router(
            not_found=not_found or self.not_found,
            method_not_allowed=method_not_allowed or self.method_not_allowed,
            before=before or self.before,
            suffix=self.suffix,
            trailing_slash=self.trailing_slash,
        )
        bound.routes = [
            replace(route, handler=route.handler.__get__(owner, type(owner)))
            for route in self.routes
        ]
        return bound

    # ------------------------------------------------------------------ answering

    def match(self, method: str, path: str) -> RouteMatch | None:
        """The route for ``method`` and ``path``; None when no route matches the path."""
        allowed: list[str] = []
        for route in self.routes:
            found = route.regex.fullmatch(path)
            if found is None:
                continue
            if route.allows(method):
                params = {
                    name: route.converters[name](text) for name, text in found.groupdict().items()
                }
                return RouteMatch(route, params, tuple(sorted(route.methods)))
            allowed += [m for m in sorted(route.methods) if m not in allowed]
        if not allowed:
            return None
        return RouteMatch(None, {}, tuple(allowed))

    def dispatch(self, request: Request, path: str | None = None) -> Response:
        """The answer to ``request`` (at ``path``, ``request.path`` by default). An
        :class:`Answer` raised by a hook or handler is answered."""
        try:
            return self._dispatch(request, request.path if path is None else path)
        except Answer as answer:
            return answer.response

    def _dispatch(self, request: Request, path: str) -> Response:
        found = self.match(request.method, path)
        if found is None or (found.route is None and self.method_not_allowed is None):
            if self.not_found is None:
                return Response("Not Found", status=404, mimetype="text/plain")
            return self.not_found(request)
        if found.route is None:
            assert self.method_not_allowed is not None
            return self.method_not_allowed(request, found.allowed)
        if self.before is not None:
            self.before(request, found.route)
        response: Response = found.route.handler(request, **found.params)
        return response

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """The router as a WSGI app."""
        result: Iterable[bytes] = self.dispatch(Request(environ))(environ, start_response)
        return result
