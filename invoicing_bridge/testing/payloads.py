"""Hypothesis strategies for hostile payloads, and the one property every mapping keeps:
a payload becomes records, or a :class:`~invoicing_bridge.exceptions.MappingError`
(an :class:`~invoicing_bridge.exceptions.InvoicingBridgeError`), never another exception.

Needs ``hypothesis`` (the ``test`` extra). A plugin's tests use it with their own saved
answers::

    from hypothesis import given
    from invoicing_bridge.testing.payloads import assert_maps_or_refuses, hostile_variants

    @given(hostile_variants(FIXTURE_PAYLOADS))
    def test_parse_never_raises_anything_else(payload):
        assert_maps_or_refuses(lambda: backend.parse_payload("invoice", payload))

or subclass :class:`HostilePayloadSuite`, which runs the whole set over a plugin's saved
answers (its read schemas, ``parse_payload``, the ``parse`` command) given a few specifics.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ..backends.http import loads_json
from ..exceptions import InvoicingBridgeError

__all__ = [
    "NASTY_VALUES",
    "HostilePayloadSuite",
    "assert_maps_or_refuses",
    "hostile_json_texts",
    "hostile_values",
    "hostile_variants",
    "nested",
    "with_each_value_replaced",
]

#: Values seen to break mappings: non-numbers in number fields, absurd exponents, MySQL
#: zero dates, impossible dates, absent-value spellings, lone surrogates, structures where
#: scalars belong, and the reverse.
NASTY_VALUES: tuple[Any, ...] = (
    None,
    True,
    False,
    0,
    -1,
    10**30,
    2**63,
    -(2**63),
    10**400,
    1.5,
    float("nan"),
    float("inf"),
    Decimal("NaN"),
    Decimal("Infinity"),
    Decimal("-Infinity"),
    Decimal("1E+400"),
    Decimal("1E+999999"),
    Decimal("-0"),
    "1e999999",
    "-1E+400",
    "1e-999999",
    "NaN",
    "Infinity",
    "9" * 5000,
    "12.5.3",
    "1,234.50",
    "٣٤",
    "0000-00-00",
    "0000-00-00 00:00:00",
    "2024-13-45",
    "2024-02-30",
    "9999-99-99 99:99:99",
    "",
    " ",
    "None",
    "null",
    "0",
    "\udcff",
    "\x00",
    "abc",
    [],
    {},
    {"data": []},
    [None],
    {"id": "1"},
    ["1"],
)


def nested(depth: int, leaf: Any = 1) -> Any:
    """``leaf`` inside ``depth`` lists (built without recursion)."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def hostile_values(*, deep: bool = True) -> st.SearchStrategy[Any]:
    """One hostile value: a known-bad one, any JSON-ish scalar, a small structure, or
    (with ``deep``) a structure nested a hundred levels and more. (Nesting past
    Python's recursion limit is for :func:`with_each_value_replaced`: hypothesis cannot
    print such an example.)"""
    scalars = st.one_of(
        st.sampled_from(NASTY_VALUES),
        st.text(max_size=20),
        st.integers(),
        st.decimals(),
        st.floats(),
        st.booleans(),
        st.none(),
    )
    small = st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
        ),
        max_leaves=6,
    )
    if not deep:
        return st.one_of(scalars, small)
    return st.one_of(scalars, small, st.integers(min_value=50, max_value=150).map(nested))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if len(prefix) >= 12:  # real answers are shallow; an inserted deep value is not walked
        return out
    if isinstance(value, dict):
        for key, item in value.items():
            out.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out.extend(_paths(item, (*prefix, index)))
    return out


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy: Any = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replace(copy[path[0]], path[1:], new)
    return copy


def hostile_variants(
    payloads: Sequence[Any], *, max_changes: int = 3, deep: bool = True
) -> st.SearchStrategy[Any]:
    """A payload from ``payloads`` (real answers) with one to ``max_changes`` of its
    values, or the whole of it, replaced by :func:`hostile_values` (``deep``: nested
    ones too)."""

    @st.composite
    def variant(draw: st.DrawFn) -> Any:
        payload = draw(st.sampled_from(list(payloads)))
        for _ in range(draw(st.integers(min_value=1, max_value=max_changes))):
            paths = _paths(payload)
            path = paths[draw(st.integers(min_value=0, max_value=len(paths) - 1))]
            payload = _replace(payload, path, draw(hostile_values(deep=deep)))
        return payload

    return variant()


def with_each_value_replaced(payload: Any, value: Any) -> list[Any]:
    """``payload`` once per value in it (and once whole), with that value replaced by
    ``value``: ``with_each_value_replaced(answer, nested(5000))`` tries a structure
    nested past the recursion limit in every place of a real answer."""
    return [_replace(payload, path, value) for path in _paths(payload)]


def hostile_json_texts(payloads: Sequence[Any]) -> st.SearchStrategy[bytes]:
    """Answers as bytes: a variant written as JSON (NaN and Infinity spelled as Python
    writes them), cut short, with invalid UTF-8 spliced in, or deeply nested."""

    def text_of(value: Any) -> str:
        return json.dumps(value, default=str, allow_nan=True)

    written = hostile_variants(payloads, deep=False).map(
        lambda v: text_of(v).encode("utf-8", "replace")
    )
    cut = st.tuples(written, st.floats(min_value=0, max_value=1)).map(
        lambda pair: pair[0][: int(len(pair[0]) * pair[1])]
    )
    spliced = st.tuples(written, st.binary(min_size=1, max_size=4)).map(
        lambda pair: (
            pair[0][: len(pair[0]) // 2] + b"\xff\xfe" + pair[1] + pair[0][len(pair[0]) // 2 :]
        )
    )
    deep = st.integers(min_value=90, max_value=20_000).map(lambda n: b"[" * n + b"1" + b"]" * n)
    return st.one_of(written, cut, spliced, deep, st.just(b'{"data": []}'))


def _splice(pair: tuple[bytes, bytes]) -> bytes:
    text, junk = pair
    middle = len(text) // 2
    return text[:middle] + b"\xff\xfe" + junk + text[middle:]


def assert_maps_or_refuses(call: Callable[[], Any]) -> Any:
    """Run ``call`` (a parse of a hostile payload): it returns, or raises an
    InvoicingBridgeError whose message is one line; any other exception fails."""
    try:
        return call()
    except InvoicingBridgeError as exc:
        text = str(exc)
        assert "\n" not in text, f"a multi-line error: {text!r}"
        assert len(text) < 2000, f"an error of {len(text)} characters"
        return None


def decode_answer(raw: bytes) -> Any:
    """What the HTTP layer makes of an answer's bytes: invalid UTF-8 replaced (as
    requests decodes), then :func:`~invoicing_bridge.backends.http.loads_json`. Raises
    ValueError for what is not JSON."""
    return loads_json(raw.decode("utf-8", "replace"))


# --------------------------------------------------------------------------- the suite

#: Examples per hypothesis test of the suite: enough to meet each nasty value, quick to run.
HOSTILE = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _objects(value: Any, out: list[Any]) -> list[Any]:
    """Every JSON object inside ``value``: rows and nested rows for the direct loads."""
    if isinstance(value, dict):
        out.append(value)
        for item in value.values():
            _objects(item, out)
    elif isinstance(value, list):
        for item in value:
            _objects(item, out)
    return out


class HostilePayloadSuite:
    """Hostile payloads through every read schema of a backend and its ``parse_payload``:
    a result, or one MappingError line naming the backend, the record and the field;
    never another exception (hypothesis variants of the saved answers, plus nesting past
    the recursion limit in every place of each answer), and the ``parse`` command ending
    bad input in one line.

    Subclass it in a plugin's tests (the class name must start with ``Test``) and set::

        class TestAcmeHostilePayloads(HostilePayloadSuite):
            backend = "acme"
            fixtures = Path(__file__).parent / "fixtures"  # saved answers, *.json
            kinds = {"invoices": ("invoice",), "clients": ("client",)}  # folder: kinds
            read_schemas = acme.schemas.read  # the module of the read schemas

            def parser(self): return AcmeBackend.for_parsing()
            def out_of_range_invoice(self): ...  # a saved invoice, its total 1e999999

    Override :meth:`schema` where a read schema is not built as ``cls(context=...)`` from
    ``parser().mapper.context``.
    """

    #: The backend's name, as errors and the ``parse`` command spell it.
    backend: ClassVar[str]
    #: The folder of saved answers (``*.json``, in sub-folders named as in ``kinds``).
    fixtures: ClassVar[Path]
    #: Sub-folder of ``fixtures`` -> the record kinds its answers hold.
    kinds: ClassVar[Mapping[str, Sequence[str]]]
    #: The module whose BackendSchema subclasses are the read schemas.
    read_schemas: ClassVar[ModuleType]
    #: At least this many read schemas must be found (a renamed module finds none).
    min_schemas: ClassVar[int] = 4

    # ----------------------------------------------------------- plugin specifics

    def parser(self) -> Any:
        """A backend that parses offline (``for_parsing``)."""
        raise NotImplementedError

    def schema(self, backend: Any, schema_class: type[Any]) -> Any:
        """An instance of a read schema, as the backend's mapper builds it."""
        return schema_class(context=backend.mapper.context)

    def out_of_range_invoice(self) -> Any:
        """A saved invoice payload (as ``parse_payload`` takes it) with its total set to
        ``"1e999999"``."""
        raise NotImplementedError

    # ----------------------------------------------------------- helpers

    def answer(self, name: str) -> Any:
        """One saved answer, by its path under ``fixtures``."""
        return json.loads((self.fixtures / name).read_text(encoding="utf-8"), parse_float=Decimal)

    def answers(self, kind: str | None = None) -> list[Any]:
        """The saved answers that hold ``kind`` records (all with None)."""
        return [
            json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
            for path in sorted(self.fixtures.rglob("*.json"))
            if kind is None or kind in self.kinds.get(path.parent.name, ())
        ]

    def rows(self) -> list[Any]:
        """Every JSON object of every saved answer (the first 300): rows for the schemas."""
        return [row for answer in self.answers() for row in _objects(answer, [])][:300]

    @classmethod
    def schema_classes(cls) -> list[type[Any]]:
        from ..schemas.base import BackendSchema

        module = cls.read_schemas
        return sorted(
            (
                value
                for value in vars(module).values()
                if isinstance(value, type)
                and issubclass(value, BackendSchema)
                and value.__module__ == module.__name__
            ),
            key=lambda value: value.__name__,
        )

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "schema_class" in metafunc.fixturenames:
            classes = type(self).schema_classes()
            metafunc.parametrize("schema_class", classes, ids=[c.__name__ for c in classes])

    # ----------------------------------------------------------- the tests

    def test_the_read_schemas_are_found(self) -> None:
        assert len(self.schema_classes()) >= self.min_schemas
        assert all(self.answers(kind) for kind in ("invoice", "client", "payment"))

    @pytest.mark.parametrize("kind", ["invoice", "client", "payment"])
    def test_parse_payload_refuses_deep_nesting_in_every_place(self, kind: str) -> None:
        backend = self.parser()
        for answer in self.answers(kind):
            for payload in with_each_value_replaced(answer, nested(3000)):
                assert_maps_or_refuses(functools.partial(backend.parse_payload, kind, payload))

    @pytest.mark.parametrize("kind", ["invoice", "client", "payment"])
    def test_parse_payload_maps_or_refuses_hostile_answers(self, kind: str) -> None:
        backend = self.parser()

        @given(hostile_variants(self.answers(kind)))
        @HOSTILE
        def check(payload: Any) -> None:
            assert_maps_or_refuses(lambda: backend.parse_payload(kind, payload))

        check()

    def test_every_read_schema_maps_or_refuses_hostile_rows(self, schema_class: type[Any]) -> None:
        from ..schemas.base import load_record

        schema = self.schema(self.parser(), schema_class)

        @given(hostile_variants(self.rows(), max_changes=2))
        @HOSTILE
        def check(payload: Any) -> None:
            assert_maps_or_refuses(
                lambda: load_record(
                    schema, payload, backend=self.backend, what=schema_class.__name__
                )
            )

        check()

    @pytest.mark.parametrize(
        ("text", "words"),
        [
            ('{"id": NaN}', ["field 'id'"]),
            ('{"id": "1", "total": 1e999999, "summary_total": 1e999999}', []),
            ("[" * 50_000 + "]" * 50_000, ["nested deeper"]),
            ('{"data": []}', []),
            (b'{"id": "1", "subject": "\xff\xfe"}', []),
        ],
    )
    def test_the_parse_command_ends_bad_input_in_one_line_exit_2_or_a_parse(
        self, tmp_path: Path, text: str | bytes, words: list[str]
    ) -> None:
        from click.testing import CliRunner

        from ..cli import main

        path = tmp_path / "answer.json"
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        result = CliRunner().invoke(main, ["parse", self.backend, "invoice", str(path)])
        assert "Traceback" not in result.output
        assert result.exit_code in (0, 2), result.output
        if result.exit_code == 2:
            errors = [line for line in result.output.splitlines() if line.startswith("error:")]
            assert len(errors) == 1, result.output
            assert f"error: {self.backend}" in errors[0] or "is not JSON" in errors[0]
            for word in words:
                assert word in errors[0]
        else:
            assert not words

    def test_a_mapping_error_names_backend_record_and_field(self) -> None:
        from ..exceptions import MappingError

        with pytest.raises(MappingError) as info:
            self.parser().parse_payload("invoice", self.out_of_range_invoice())
        error = info.value
        assert error.backend == self.backend
        assert error.field is not None and "total" in error.field
        assert "out of range" in str(error)
        assert "\n" not in str(error)
