"""The emulators' router: patterns with typed parameters, 404 and 405 through the vendor's
hooks, routes declared on a class, the ``before`` hook, early answers, and WSGI use."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from invoicing_bridge.emulation import Answer, EmulatorServer, Route, Router


def request(method: str, path: str, **kwargs: Any) -> Request:
    return Request(EnvironBuilder(method=method, path=path, **kwargs).get_environ())


def answer(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def body(response: Response) -> Any:
    return json.loads(response.get_data())


def vendor_router(**options: Any) -> Router:
    """A router whose 404 and 405 answers are shaped like an invented vendor's."""
    return Router(
        not_found=lambda req: answer({"error": "no route", "path": req.path}, 404),
        method_not_allowed=lambda req, allowed: answer(
            {"error": "method", "allowed": list(allowed)}, 405
        ),
        **options,
    )


def test_int_parameter_reaches_the_handler_as_an_int() -> None:
    router = vendor_router()

    @router.route("GET", "/invoices/<int:id>")
    def get_invoice(req: Request, id: int) -> Response:
        return answer({"id": id, "type": type(id).__name__})

    assert body(router.dispatch(request("GET", "/invoices/42"))) == {"id": 42, "type": "int"}


def test_text_parameter_is_one_segment() -> None:
    router = vendor_router()
    router.add("GET", "/clients/<id>", lambda req, id: answer({"id": id}))
    assert body(router.dispatch(request("GET", "/clients/ab-1"))) == {"id": "ab-1"}
    assert router.dispatch(request("GET", "/clients/ab/1")).status_code == 404


def test_path_parameter_takes_the_rest_slashes_included() -> None:
    router = vendor_router()
    router.add("GET", "/search/<path:term>", lambda req, term: answer({"term": term}))
    assert body(router.dispatch(request("GET", "/search/a/b c"))) == {"term": "a/b c"}


def test_int_parameter_does_not_match_letters() -> None:
    router = vendor_router()
    router.add("GET", "/invoices/<int:id>", lambda req, id: answer({"id": id}))
    response = router.dispatch(request("GET", "/invoices/abc"))
    assert response.status_code == 404
    assert body(response) == {"error": "no route", "path": "/invoices/abc"}


def test_unknown_path_gets_the_not_found_hook_answer() -> None:
    router = vendor_router()
    router.add("GET", "/invoices", lambda req: answer([]))
    response = router.dispatch(request("GET", "/nowhere"))
    assert response.status_code == 404
    assert body(response)["error"] == "no route"


def test_known_path_with_another_method_gets_405_with_the_allowed_methods() -> None:
    router = vendor_router()
    router.add("GET", "/invoices/<int:id>", lambda req, id: answer({}))
    router.add(["PUT", "post"], "/invoices/<int:id>", lambda req, id: answer({}))
    response = router.dispatch(request("DELETE", "/invoices/3"))
    assert response.status_code == 405
    assert body(response) == {"error": "method", "allowed": ["GET", "POST", "PUT"]}


def test_without_a_405_hook_a_wrong_method_is_not_found() -> None:
    router = Router(not_found=lambda req: answer({"nope": True}, 404))
    router.add("GET", "/invoices", lambda req: answer([]))
    response = router.dispatch(request("POST", "/invoices"))
    assert response.status_code == 404
    assert body(response) == {"nope": True}


def test_without_hooks_unknown_paths_get_a_plain_404() -> None:
    response = Router().dispatch(request("GET", "/x"))
    assert response.status_code == 404


def test_routes_are_tried_in_order_and_methods_pick_the_handler() -> None:
    router = vendor_router()
    router.add("GET", "/invoices/search", lambda req: answer("search"))
    router.add("GET", "/invoices/<id>", lambda req, id: answer(f"get {id}"))
    router.add("POST", "/invoices", lambda req: answer("add", 201))
    router.add("GET", "/invoices", lambda req: answer("list"))
    assert body(router.dispatch(request("GET", "/invoices/search"))) == "search"
    assert body(router.dispatch(request("GET", "/invoices/7"))) == "get 7"
    created = router.dispatch(request("POST", "/invoices"))
    assert (created.status_code, body(created)) == (201, "add")
    assert body(router.dispatch(request("GET", "/invoices"))) == "list"


def test_any_method_route() -> None:
    router = vendor_router()
    router.add("*", "/echo", lambda req: answer(req.method))
    assert body(router.dispatch(request("PATCH", "/echo"))) == "PATCH"


def test_optional_suffix_and_trailing_slash() -> None:
    router = vendor_router(suffix=".json")
    router.add("GET", "/api2/invoices/<id>", lambda req, id: answer({"id": id}))
    router.add("GET", "/api2/invoices", lambda req: answer("list"))
    for path in ("/api2/invoices/5", "/api2/invoices/5.json", "/api2/invoices/5/"):
        assert body(router.dispatch(request("GET", path))) == {"id": "5"}, path
    for path in ("/api2/invoices", "/api2/invoices.json", "/api2/invoices/"):
        assert body(router.dispatch(request("GET", path))) == "list", path


def test_trailing_slash_can_be_refused() -> None:
    router = vendor_router(trailing_slash=False)
    router.add("GET", "/v1/me", lambda req: answer("me"))
    assert router.dispatch(request("GET", "/v1/me")).status_code == 200
    assert router.dispatch(request("GET", "/v1/me/")).status_code == 404


def test_answer_raised_deep_inside_a_handler_is_the_response() -> None:
    router = vendor_router()

    def refuse(req: Request) -> Response:
        raise Answer(answer({"validation_errors": {"client_id": "required"}}, 400))

    router.add("POST", "/invoices", refuse)
    response = router.dispatch(request("POST", "/invoices"))
    assert response.status_code == 400
    assert body(response) == {"validation_errors": {"client_id": "required"}}


def test_before_hook_runs_after_matching_and_sees_the_route_meta() -> None:
    seen: list[tuple[str, bool]] = []

    def authenticate(req: Request, route: Route) -> None:
        seen.append((route.pattern, route.meta.get("auth", True)))
        if route.meta.get("auth", True) and req.headers.get("apikey") != "k":
            raise Answer(answer({"message": "Unauthorized"}, 401))

    router = vendor_router(before=authenticate)
    router.add("POST", "/v2/oauth/token", lambda req: answer("token"), auth=False)
    router.add("GET", "/api2/invoices", lambda req: answer("list"))
    assert body(router.dispatch(request("POST", "/v2/oauth/token"))) == "token"
    assert router.dispatch(request("GET", "/api2/invoices")).status_code == 401
    assert (
        router.dispatch(request("GET", "/api2/invoices", headers={"apikey": "k"})).status_code
        == 200
    )
    # No route, no credentials check: unknown paths are 404 whoever asks.
    assert router.dispatch(request("GET", "/api2/nothing")).status_code == 404
    assert seen == [
        ("/v2/oauth/token", False),
        ("/api2/invoices", True),
        ("/api2/invoices", True),
    ]


def test_dispatch_at_another_path_than_the_requests() -> None:
    router = vendor_router()
    router.add("GET", "/invoices/search/<path:term>", lambda req, term: answer(term))
    req = request("GET", "/ignored")
    assert body(router.dispatch(req, "/invoices/search/مصر")) == "مصر"


class VendorApp:
    """Routes declared on the class with methods as handlers, bound per instance."""

    routes = Router(suffix=".json")

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.router = self.routes.bind(self, not_found=self.no_route)

    def no_route(self, req: Request) -> Response:
        return answer({"code": 404, "owner": self.prefix}, 404)

    @routes.route("GET", "/items/<int:id>")
    def item(self, req: Request, id: int) -> Response:
        return answer(f"{self.prefix}-{id}")


def test_routes_declared_on_a_class_are_bound_to_each_instance() -> None:
    first, second = VendorApp("a"), VendorApp("b")
    assert body(first.router.dispatch(request("GET", "/items/1.json"))) == "a-1"
    assert body(second.router.dispatch(request("GET", "/items/2"))) == "b-2"
    assert body(second.router.dispatch(request("GET", "/other"))) == {"code": 404, "owner": "b"}
    # The class's own router keeps its unbound handlers.
    assert VendorApp.routes.routes[0].handler is VendorApp.__dict__["item"]


def test_router_is_a_wsgi_app_behind_the_emulator_server() -> None:
    router = vendor_router()
    router.add("GET", "/api/ping/<int:n>", lambda req, n: answer({"pong": n + 1}))
    with EmulatorServer(router, api_path="/api") as server:
        assert requests.get(server.base_url + "/ping/1", timeout=5).json() == {"pong": 2}
        missing = requests.put(server.base_url + "/ping/1", timeout=5)
        assert missing.status_code == 405
        assert missing.json() == {"error": "method", "allowed": ["GET"]}


@pytest.mark.parametrize(
    "pattern", ["no-slash", "/a/<float:x>", "/a/<x>/<x>"], ids=["relative", "kind", "twice"]
)
def test_bad_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(ValueError):
        Router().add("GET", pattern, lambda req: answer(None))


def test_a_route_needs_a_method() -> None:
    with pytest.raises(ValueError):
        Router().add([], "/x", lambda req: answer(None))
