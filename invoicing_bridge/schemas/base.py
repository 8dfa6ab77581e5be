"""The base of every backend's schemas, and the one ValidationError → MappingError wrapper.

A backend's read schema is a :class:`BackendSchema`: unknown keys are excluded, the record
is unwrapped from its envelope (``{"Invoice": {...}}``) in the one ``pre_load``, the
payload is kept read-only as ``raw``, and a ``post_load`` builds the neutral model::

    @dataclass(frozen=True)
    class AcmeContext(SchemaContext):
        currencies: Mapping[str, str]  # currency id -> code, fetched beforehand

    class AcmeInvoiceSchema(BackendSchema[AcmeContext]):
        envelope = "invoice"

        id = RemoteId()
        total = Money()
        issued = Date(data_key="date")

        @post_load
        def make(self, data: dict[str, Any], **kwargs: Any) -> Invoice:
            return Invoice(..., source=self.ref(data["id"]), raw=data["raw"])

    context = AcmeContext(backend="acme", currencies=MappingProxyType({"1": "USD"}))
    schema = AcmeInvoiceSchema(context=context)  # once per context, not per record
    invoice = load_record(schema, body, backend="acme", what="invoice")

**No schema load performs I/O or writes into a backend's caches.** Everything a load
needs (a tax table, the account's date pattern, currency ids, payment-mode names) is
fetched by the backend *before* the load and handed to the schema's constructor as its
context; a load that discovers something (a currency id an invoice names) leaves it in
the model (``extra``) and the backend learns it from there after the load. So a load is
a pure function of the payload and the context: safe in any thread, offline, and
repeatable on a saved payload.

The context is a **frozen dataclass** (a subclass of :class:`SchemaContext`), not a
:class:`~types.MappingProxyType`: its attributes are typed (mypy checks
``self.context.taxes``), it cannot be rebound after construction, and a schema that
cannot work without some value says so by giving the field no default. Give its fields
read-only types (``Mapping`` filled with a ``MappingProxyType``, ``tuple``,
``frozenset``) so nothing can be written through it either. A schema keeps its context
for its lifetime: when the backend learns something new it builds new schema instances
with a new context (:meth:`BackendSchema.nested` builds nested ones with the same).

Raw capture: the payload is frozen once (:func:`~invoicing_bridge.models.freeze_raw`, a
single walk with an exact-type check per value) by the outermost schema, and the fields
read that frozen tree, so nested records loaded through :meth:`BackendSchema.nested`,
:meth:`BackendSchema.load_nested` or :class:`Nested` get their ``raw`` without another
copy (``freeze_raw`` hands a frozen mapping back as it is). A consequence worth knowing:
a ``fields.Raw`` value that was a JSON object is a read-only mapping, and a JSON array
is a tuple. ``raw`` is what the schema was given (envelope included), read-only all the
way down.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar, cast, get_args, get_origin

from marshmallow import EXCLUDE, Schema, ValidationError, fields, missing, pre_load
from marshmallow.decorators import POST_LOAD, PRE_LOAD, VALIDATES, VALIDATES_SCHEMA
from marshmallow.error_store import ErrorStore

from invoicing_bridge.exceptions import MappingError
from invoicing_bridge.models import RecordRef, freeze_raw

from .fields import to_id

__all__ = [
    "RAW_KEY",
    "BackendSchema",
    "Nested",
    "SchemaContext",
    "as_rows",
    "dump_record",
    "error_path",
    "flatten_errors",
    "load_record",
]

#: The key under which the pre_load hands the frozen payload to the ``raw`` field.
RAW_KEY = "__raw__"
_SCHEMA_KEY = "_schema"  # marshmallow's key for errors that belong to no field


@dataclass(frozen=True, kw_only=True)
class SchemaContext:
    """What a schema may use besides the payload: read-only, built by the backend.

    ``backend``: the backend's name, used in the records' ``source`` refs
    (:meth:`BackendSchema.ref`). Subclass it (``@dataclass(frozen=True)``) to add what
    your schemas need; use read-only types for its fields (a mapping default is
    ``field(default_factory=lambda: MappingProxyType({}))``). ``backend`` is
    keyword-only, so a subclass may add fields without defaults.
    """

    backend: str = ""


C = TypeVar("C", bound=SchemaContext)
S = TypeVar("S", bound="BackendSchema[Any]")


class BackendSchema(Schema, Generic[C]):
    """Base of a backend's read (and write) schemas. See the module docstring.

    Class attributes:

    - ``context_type``: the context class built (with no arguments) when none is given;
      taken from the type argument (``BackendSchema[AcmeContext]``) unless set. A
      context class with a field without a default makes the context mandatory.
    - ``envelope``: the key a record may be wrapped in (``"Invoice"`` for
      ``{"Invoice": {...}}``, ``"data"`` for ``{"data": {...}}``); a payload without it
      is read as the bare record.
    - ``siblings``: keys found beside the envelope that belong to the record (Daftra's
      list rows put ``Client`` and ``InvoiceItem`` next to ``Invoice``); they are folded
      into the record unless it has them already.
    - ``id_key``: where the record's id is, to name it in a MappingError.

    The loaded ``data`` in a ``post_load`` has ``data["raw"]``: the payload as given,
    read-only. Override :meth:`unwrap` (rather than adding a second ``pre_load``, whose
    order relative to this one marshmallow does not promise) to refuse or reshape a
    payload. Raises nothing itself but marshmallow's ValidationError; wrap loads in
    :func:`load_record`.
    """

    class Meta:
        unknown = EXCLUDE

    context_type: ClassVar[type[SchemaContext]] = SchemaContext
    envelope: ClassVar[str | None] = None
    siblings: ClassVar[tuple[str, ...]] = ()
    id_key: ClassVar[str | None] = "id"

    raw = fields.Raw(data_key=RAW_KEY, load_only=True, load_default=None)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "context_type" in cls.__dict__:
            return
        for base in cls.__dict__.get("__orig_bases__", ()):
            origin, args = get_origin(base), get_args(base)
            if not (isinstance(origin, type) and issubclass(origin, BackendSchema) and args):
                continue
            if isinstance(args[0], type) and issubclass(args[0], SchemaContext):
                cls.context_type = args[0]

    def __init__(self, *, context: C | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if context is None:
            context = cast(C, self.context_type())
        self._context: C = context
        self._steps = _load_steps(self)
        self._hooks_plan = _load_hooks(self)

    def load(
        self,
        data: Any,
        *,
        many: bool | None = None,
        partial: Any = None,
        unknown: Any = None,
    ) -> Any:
        """marshmallow's ``load``; a single record with the schema's own options is loaded
        without marshmallow's per-record dispatch (see :func:`_load_hooks`). A load that
        fails is done again by marshmallow's own ``load``, so a failure raises exactly the
        error it raised before (a load is a pure function of the payload and the context)."""
        plan = self._hooks_plan
        if plan is None or many is not None or partial is not None or unknown is not None:
            return super().load(data, many=many, partial=partial, unknown=unknown)
        pre, post = plan
        try:
            processed = data
            for hook in pre:
                processed = hook(processed, many=False, partial=self.partial, unknown=self.unknown)
            error_store = ErrorStore()  # type: ignore[no-untyped-call]
            result = self._deserialize(
                processed,
                error_store=error_store,
                many=False,
                partial=self.partial,
                unknown=self.unknown,
            )
            if error_store.errors:
                raise ValidationError(error_store.errors)
            for hook in post:
                result = hook(result, many=False, partial=self.partial, unknown=self.unknown)
        except ValidationError:
            return super().load(data)
        return result

    def _deserialize(
        self,
        data: Any,
        *,
        error_store: ErrorStore,
        many: bool = False,
        partial: Any = None,
        unknown: Any = EXCLUDE,
        index: int | None = None,
    ) -> Any:
        """marshmallow's field loop, without its per-value overhead (see :func:`_load_steps`):
        the same fields, values, defaults and errors. Loads with ``many``, ``partial`` or
        unknown keys kept or refused take marshmallow's own loop."""
        steps = self._steps
        if many or partial or unknown != EXCLUDE or steps is None or not isinstance(data, Mapping):
            return super()._deserialize(
                data,
                error_store=error_store,
                many=many,
                partial=partial,
                unknown=unknown,
                index=index,
            )
        index = index if self.opts.index_errors else None
        out: dict[str, Any] = {}
        get = data.get
        for key, target, field, direct, default in steps:
            value = get(key, missing)
            try:
                if value is missing and default is not None:
                    value = default()
                elif direct is None or value is missing:
                    value = field.deserialize(value, key, data)
                elif value is None:
                    if not field.allow_none:
                        raise field.make_error("null")
                else:
                    value = direct(value, key, data)
            except ValidationError as error:
                error_store.store_error(error.messages, key, index=index)  # type: ignore[no-untyped-call]
                value = error.valid_data or missing
            if value is not missing:
                out[target] = value
        return out

    @property
    def context(self) -> C:
        """The read-only context given to the constructor."""
        return self._context

    # ------------------------------------------------------------------ loading

    def unwrap(self, payload: Mapping[str, Any]) -> Mapping[str, Any]:
        """The record inside ``payload`` (already frozen): ``payload[envelope]`` with the
        ``siblings`` folded in, or ``payload`` itself. Raises ValidationError to refuse."""
        key = self.envelope
        inner = payload.get(key) if key else None
        if not isinstance(inner, Mapping):
            return payload
        if not self.siblings:
            return inner
        record = dict(inner)
        for name in self.siblings:
            if name not in record and name in payload:
                record[name] = payload[name]
        return record

    @pre_load
    def _prepare_record(self, data: Any, **kwargs: Any) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            raise ValidationError(f"a record is a JSON object, not {type(data).__name__}")
        frozen = freeze_raw(data)
        record = dict(self.unwrap(frozen))
        record[RAW_KEY] = frozen
        return record

    def record_id(self, payload: Any) -> str | None:
        """The id of the record in ``payload`` when it can be told without loading it."""
        if self.id_key is None or not isinstance(payload, Mapping):
            return None
        try:
            record = self.unwrap(payload)
            return to_id(record.get(self.id_key))
        except (ValidationError, TypeError, ValueError, AttributeError):
            return None

    def ref(self, id: str | None) -> RecordRef | None:
        """``RecordRef(context.backend, id)``, or None without an id."""
        return None if id is None else RecordRef(self.context.backend, id)

    # ------------------------------------------------------------------ nesting

    def nested(self, schema: type[S]) -> S:
        """One instance of ``schema`` with this schema's context, made once per instance
        (building a schema deep-copies its fields: do not build one per record)."""
        cache: dict[type[Any], Any] = self.__dict__.setdefault("_nested_schemas", {})
        instance = cache.get(schema)
        if instance is None:
            instance = cache.setdefault(schema, schema(context=self.context))
        return cast(S, instance)

    def load_nested(self, schema: type[BackendSchema[Any]], row: Any, *, key: str) -> Any:
        """Load one nested record; its errors are reported under ``key``."""
        try:
            return self.nested(schema).load(row)
        except ValidationError as exc:
            raise ValidationError({key: exc.messages}) from None

    def load_nested_many(
        self, schema: type[BackendSchema[Any]], rows: Any, *, key: str
    ) -> list[Any]:
        """Load nested rows (a sequence; a single object is one row; None or ``""`` is
        none); errors are reported as ``key.<index>.<field>``."""
        instance = self.nested(schema)
        out: list[Any] = []
        for index, row in enumerate(as_rows(rows)):
            try:
                out.append(instance.load(row))
            except ValidationError as exc:
                raise ValidationError({key: {index: exc.messages}}) from None
        return out


#: One field of a compiled load: (key in the payload, key in the loaded dict, the field,
#: its ``_deserialize`` when it can be called directly, else None; what gives its
#: ``load_default`` for a missing value when that needs no check, else None).
_Step = tuple[str, str, fields.Field[Any], Any, Any]


def _plain(field: fields.Field[Any]) -> bool:
    """Whether ``field.deserialize`` is marshmallow's, with nothing around ``_deserialize``."""
    return (
        type(field).deserialize is fields.Field.deserialize
        and not field.validators
        and not field.pre_load
        and not field.post_load
    )


def _load_steps(schema: Schema) -> tuple[_Step, ...] | None:
    """The schema's load fields compiled once, when the schema is built.

    marshmallow's ``Field.deserialize`` checks for a missing value and for None, calls
    ``_deserialize``, then runs the validators through a ``validate.And`` it builds anew
    for every value, even when there are none; its schema loop wraps every field in a
    closure and an error handler. For a field with no validators and no pre- or
    post-load functions of its own whose class keeps ``Field.deserialize``, the same
    result comes from calling ``_deserialize`` directly (None and a missing value
    handled as marshmallow handles them: a missing value of a field that is not
    required is its ``load_default``, called when callable); any other field goes
    through its own ``deserialize``. A ``List`` of plain ``Raw`` values takes a JSON
    array as a list of its elements without a call per element. None when a field
    loads into a dotted attribute (marshmallow's loop then builds nested dicts).
    """
    steps: list[_Step] = []
    for name, field in schema.load_fields.items():
        key = field.data_key if field.data_key is not None else name
        target = field.attribute or name
        if "." in target:
            return None
        plain = _plain(field)
        direct = None
        if plain:
            direct = _raw_list(field) if _is_raw_list(field) else field._deserialize
        default = None
        if plain and not field.required:
            value = field.load_default
            default = value if callable(value) else _constant(value)
        steps.append((key, target, field, direct, default))
    return tuple(steps)


def _constant(value: Any) -> Any:
    return lambda: value


def _is_raw_list(field: fields.Field[Any]) -> bool:
    inner = getattr(field, "inner", None)
    return type(field) is fields.List and type(inner) is fields.Raw and _plain(inner)


def _raw_list(field: fields.Field[Any]) -> Any:
    """``List(Raw())._deserialize``: a JSON array (a tuple once frozen) without None in it
    is a list of its elements, as the inner field would give them one by one; anything
    else takes the field's own loop (and its errors)."""
    fallback = field._deserialize

    def load(value: Any, attr: str | None, data: Any) -> Any:
        if (type(value) is tuple or type(value) is list) and None not in value:
            return list(value)
        return fallback(value, attr, data)

    return load


def _load_hooks(schema: Schema) -> tuple[tuple[Any, ...], tuple[Any, ...]] | None:
    """The schema's ``pre_load`` and ``post_load`` hooks, bound, in marshmallow's order,
    when a single record's load can call them directly: the schema loads one record
    (not ``many``), not ``partial``, excluding unknown keys, its fields are compiled
    (:func:`_load_steps`), it has no ``validates``/``validates_schema`` hooks and every
    load hook takes one record without the original data. None otherwise (marshmallow's
    ``load`` then does it all)."""
    hooks: dict[str, Any] = schema._hooks
    if (
        schema.many
        or schema.partial
        or schema.unknown != EXCLUDE
        or getattr(schema, "_steps", None) is None
        or hooks[VALIDATES]
        or hooks[VALIDATES_SCHEMA]
    ):
        return None
    plan: list[tuple[Any, ...]] = []
    for tag in (PRE_LOAD, POST_LOAD):
        bound = []
        for attr_name, pass_collection, options in hooks[tag]:
            if pass_collection or options.get("pass_original"):
                return None
            bound.append(getattr(schema, attr_name))
        plan.append(tuple(bound))
    return plan[0], plan[1]


def as_rows(value: Any) -> list[Any]:
    """Rows of a nested value: a sequence as a list, one object as one row, else none."""
    if isinstance(value, Mapping):
        return [value] if value else []
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return list(value)
    return []


class Nested(fields.Nested):
    """``fields.Nested`` that builds a :class:`BackendSchema` with its parent's context
    (marshmallow 4 passes no context to nested schemas)."""

    @property
    def schema(self) -> Schema:
        if not self._schema:
            nested = self.nested
            parent = _schema_of(self)
            if (
                isinstance(nested, type)
                and issubclass(nested, BackendSchema)
                and isinstance(parent, BackendSchema)
            ):
                self._schema = nested(
                    context=parent.context,
                    many=bool(self.many),
                    only=self.only,
                    exclude=self.exclude,
                    load_only=self._nested_normalized_option("load_only"),
                    dump_only=self._nested_normalized_option("dump_only"),
                )
        return super().schema


def _schema_of(field: Any) -> Schema | None:
    node = getattr(field, "parent", None)
    while node is not None and not isinstance(node, Schema):
        node = getattr(node, "parent", None)
    return node


# ---------------------------------------------------------------------- errors


def flatten_errors(messages: Any, prefix: str = "") -> dict[str, str]:
    """marshmallow's nested messages as ``{"items.0.qty": "Not a valid number."}``, in
    the order marshmallow reported them; errors of no field are under ``""``."""
    out: dict[str, str] = {}
    if isinstance(messages, Mapping):
        for key, inner in messages.items():
            name = str(key)
            path = prefix if name == _SCHEMA_KEY else f"{prefix}.{name}" if prefix else name
            for sub, text in flatten_errors(inner, path).items():
                out[sub] = f"{out[sub]}; {text}" if sub in out else text
        return out
    if isinstance(messages, list | tuple):
        texts = [m for m in messages if not isinstance(m, Mapping | list | tuple)]
        if texts:
            out[prefix] = "; ".join(str(m) for m in texts)
        for index, inner in enumerate(messages):
            if isinstance(inner, Mapping | list | tuple):
                out.update(flatten_errors(inner, f"{prefix}.{index}" if prefix else str(index)))
        return out
    out[prefix] = str(messages)
    return out


def error_path(messages: Any) -> str | None:
    """The dotted path of the first failing field (``"InvoiceItem.1.unit_price"``), or
    None when the first error belongs to no field."""
    return next(iter(flatten_errors(messages)), None) or None


def _mapping_error(
    exc: ValidationError, *, backend: str, what: str, record_id: str | None, row: int | None
) -> MappingError:
    messages: Any = exc.normalized_messages()  # type: ignore[no-untyped-call]
    flat = flatten_errors(messages)
    detail = "; ".join(f"{path}: {text}" if path else text for path, text in flat.items())
    return MappingError(
        f"cannot map {_record(what, record_id, row)}: {detail or 'invalid'}",
        backend=backend,
        field=error_path(messages),
        errors=messages if isinstance(messages, Mapping) else {_SCHEMA_KEY: messages},
    )


def load_record(
    schema: BackendSchema[Any], data: Any, *, backend: str, what: str, many: bool = False
) -> Any:
    """Load one record (or, with ``many``, each row of a list) through ``schema``.

    ``backend`` names the backend and ``what`` the kind of record (``"invoice"``) in
    errors. Raises MappingError naming the backend, the record (``what``, its id when
    the payload shows one, the row with ``many``) and the first failing field as a
    dotted path (``field``), with marshmallow's messages in ``errors``. A MappingError
    raised inside the schema passes through as it is.

    Whatever a hostile payload makes a schema raise ends here as a MappingError too: a
    structure nested past Python's recursion limit, or a value a ``post_load`` could not
    use (a ``KeyError``, ``TypeError``, ``ValueError``, ``ArithmeticError``...); the
    original exception is chained for ``--debug``.
    """
    if not many:
        return _load_one(schema, data, backend=backend, what=what, row=None)
    if isinstance(data, Mapping) or not isinstance(data, Sequence) or isinstance(data, str):
        raise MappingError(
            f"expected a list of {what} records, got {type(data).__name__}", backend=backend
        )
    return [
        _load_one(schema, row, backend=backend, what=what, row=index)
        for index, row in enumerate(data)
    ]


#: What a schema's own code may raise on a payload it did not expect.
_BROKEN_BY_PAYLOAD = (
    TypeError,
    ValueError,
    KeyError,
    IndexError,
    AttributeError,
    ArithmeticError,
    UnicodeError,
)


def _load_one(
    schema: BackendSchema[Any], data: Any, *, backend: str, what: str, row: int | None
) -> Any:
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise _mapping_error(
            exc, backend=backend, what=what, record_id=_safe_id(schema, data), row=row
        ) from None
    except MappingError:
        raise
    except RecursionError:
        raise MappingError(
            f"cannot map {_record(what, _safe_id(schema, data), row)}: "
            "the payload is nested too deeply",
            backend=backend,
        ) from None
    except _BROKEN_BY_PAYLOAD as exc:
        field = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else None
        text = str(exc).splitlines()[0][:120] if str(exc) else ""
        raise MappingError(
            f"cannot map {_record(what, _safe_id(schema, data), row)}: "
            f"unexpected value ({type(exc).__name__}{': ' + text if text else ''})",
            backend=backend,
            field=field,
        ) from exc


def _safe_id(schema: BackendSchema[Any], data: Any) -> str | None:
    try:
        found = schema.record_id(data)
    except (RecursionError, *_BROKEN_BY_PAYLOAD):
        return None
    if found is None:
        return None
    # An id is named in one short line, never a wall of text or a line break.
    if not found.isprintable():
        found = repr(found)
    return found if len(found) <= 40 else f"{found[:37]}..."


def _record(what: str, record_id: str | None, row: int | None) -> str:
    record = what if record_id is None else f"{what} {record_id}"
    return record if row is None else f"{record} (row {row})"


def dump_record(schema: Schema, obj: Any, *, backend: str, what: str) -> dict[str, Any]:
    """``schema.dump(obj)`` as a dict; a ValidationError raised while dumping (marshmallow
    does not collect them: raise ``ValidationError(message, field_name)``) becomes a
    MappingError naming the backend, ``what`` and that field."""
    try:
        dumped: dict[str, Any] = schema.dump(obj)
    except ValidationError as exc:
        raise _mapping_error(exc, backend=backend, what=what, record_id=None, row=None) from None
    return dumped
