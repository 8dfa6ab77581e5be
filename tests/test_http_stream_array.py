"""A JSON array answer read one element at a time (``stream_array``): every element, with
the same decoding as any answer, none lost, and never the whole list at once."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from invoicing_bridge.backends.http import HTTPClient, RetryPolicy
from invoicing_bridge.backends.streaming import JSONArrayStream, iter_json_array
from invoicing_bridge.exceptions import NotFound, TransportError
from invoicing_bridge.testing.hostile import HostileServer, answer, endless_body


class Broken(Exception):
    pass


def reader(text: str, size: int) -> tuple[Callable[[int], str], list[int]]:
    """``read(n)`` over ``text`` handing out at most ``size`` characters a call, and the
    running count of characters handed out."""
    handed = [0]

    def read(n: int) -> str:
        piece = text[handed[0] : handed[0] + min(n, size)]
        handed[0] += len(piece)
        return piece

    return read, handed


def elements(text: str, size: int = 3, **kw: Any) -> list[Any]:
    read, _ = reader(text, size)
    return list(iter_json_array(read, fail=Broken, **kw))


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1 << 16])
def test_every_element_whatever_the_reads_cut(size: int) -> None:
    text = ' \n[{"id": "1", "total": 10.50, "lines": [1, 2]}, 12345, -0.5e3, "a,]b", [], {},'
    text += ' null, true, false, NaN, "\\u00e9\\"" ]\n '
    got = elements(text, size)
    assert got == [
        {"id": "1", "total": Decimal("10.50"), "lines": [1, 2]},
        12345,
        Decimal("-0.5e3"),
        "a,]b",
        [],
        {},
        None,
        True,
        False,
        got[9],
        'é"',
    ]
    assert isinstance(got[0]["total"], Decimal) and str(got[0]["total"]) == "10.50"
    assert isinstance(got[9], Decimal) and got[9].is_nan()


@pytest.mark.parametrize("text", ["[]", " [ ] ", "[\n]\n"])
def test_an_empty_array_has_no_elements(text: str) -> None:
    assert elements(text) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[{"id": 1}, {"id": 2}', "ends after 2 elements without its ']'"),
        ('[{"id": 1}, {"id": 2', "element 2 of the JSON array"),
        ("[1, 2,", "ends after 2 elements"),
        ("[1, 2] 3", "text after the end"),
        ("[1 2]", "expected ',' or ']' after element 1"),
        ("[1,]", "element 2 of the JSON array"),
        ('{"data": []}', "not a JSON array"),
        ("", "not a JSON array"),
    ],
)
def test_anything_but_one_whole_array_fails(text: str, message: str) -> None:
    with pytest.raises(Broken, match=message.replace("[", r"\[").replace("]", r"\]")):
        elements(text)


def test_a_number_cut_by_a_read_is_not_taken_for_a_shorter_one() -> None:
    # "[1" then "23]": 1 must not be yielded as a whole element.
    assert elements("[123,45678]", size=2) == [123, 45678]


def test_an_element_longer_than_the_cap_fails() -> None:
    text = "[" + json.dumps({"note": "x" * 5000}) + "]"
    with pytest.raises(Broken, match="longer than 1000 characters"):
        list(iter_json_array(reader(text, 100)[0], fail=Broken, max_item_chars=1000))
    assert len(elements(text, size=100, max_item_chars=10_000)) == 1


def test_an_element_nested_too_deep_fails() -> None:
    deep = "[" * 101 + "]" * 101
    with pytest.raises(Broken, match="nested deeper than 100"):
        elements("[" + deep + "]", size=1 << 16)
    assert len(elements("[" + "[" * 98 + "]" * 98 + "]", size=1 << 16)) == 1


def test_the_first_element_comes_before_the_text_is_read_through() -> None:
    rows = [{"id": str(i), "note": "n" * 200} for i in range(5000)]
    text = json.dumps(rows)
    read, handed = reader(text, 1 << 20)
    walk = iter_json_array(read, fail=Broken)
    assert next(walk) == rows[0]
    assert handed[0] <= 2 * 64 * 1024 < len(text) // 4  # one read ahead, not the list
    assert sum(1 for _ in walk) == len(rows) - 1
    assert handed[0] == len(text)


# --------------------------------------------------------------------------- HTTP


def client(server: HostileServer, **kw: Any) -> HTTPClient:
    kw.setdefault("retry", RetryPolicy(max_retries=0))
    return HTTPClient(backend="acme", base_url=server.base_url, **kw)


def test_an_array_answer_is_a_stream_of_its_rows() -> None:
    rows = [{"id": str(i), "total": "1.50"} for i in range(3000)]
    body = json.dumps(rows).encode()
    with HostileServer(answer(body)) as server:
        # Each row is far below the cap, the list far above it: the cap is per row.
        http = client(server, max_response_bytes=len(body) // 10)
        response = http.get("/invoices", stream_array=True)
        assert isinstance(response.data, JSONArrayStream)
        assert response.data.size == len(body)
        assert list(response.data) == rows
        with pytest.raises(RuntimeError):
            list(response.data)  # read once


def test_without_the_flag_the_same_answer_is_bounded_as_a_whole() -> None:
    body = json.dumps([{"id": str(i)} for i in range(3000)]).encode()
    limit = len(body) // 10
    with (
        HostileServer(answer(body)) as server,
        pytest.raises(TransportError, match="max_response_bytes"),
    ):
        client(server, max_response_bytes=limit).get("/invoices")


def test_an_answer_that_is_no_array_is_read_as_usual() -> None:
    body = b'{"data": [{"id": "1", "total": 2.5}], "meta": {"has_more": false}}'
    with HostileServer(answer(body)) as server:
        data = client(server).get("/invoices", stream_array=True).data
    assert data == {"data": [{"id": "1", "total": Decimal("2.5")}], "meta": {"has_more": False}}


def test_an_error_answer_is_an_error_as_usual() -> None:
    body = b'{"status": false, "message": "No data were found"}'
    with HostileServer(answer(body, status="404 Not Found")) as server, pytest.raises(NotFound):
        client(server).get("/invoices", stream_array=True)


def test_an_object_over_the_cap_is_refused_even_when_spooled() -> None:
    body = json.dumps({"data": ["x" * 100] * 100}).encode()
    with (
        HostileServer(answer(body)) as server,
        pytest.raises(TransportError, match="max_response_bytes"),
    ):
        client(server, max_response_bytes=1000).get("/invoices", stream_array=True)


def test_a_spooled_answer_is_bounded_too() -> None:
    with HostileServer(endless_body(b"[1," * 20000)) as server:
        http = client(server, max_spooled_bytes=1 << 20)
        with pytest.raises(TransportError, match="max_spooled_bytes") as info:
            http.get("/invoices", stream_array=True)
    assert info.value.transient is False


def test_a_cut_array_fails_while_it_is_read_naming_backend_and_path() -> None:
    body = json.dumps([{"id": str(i)} for i in range(50)]).encode()[:-40]
    with HostileServer(answer(body)) as server:
        stream = client(server).get("/invoices", stream_array=True).data
    got: list[Any] = []
    with pytest.raises(TransportError) as info:
        got.extend(stream)
    assert 0 < len(got) < 50
    assert info.value.backend == "acme" and info.value.path == "/invoices"
    assert "expected JSON" in info.value.message
