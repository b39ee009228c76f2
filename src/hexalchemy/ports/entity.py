"""What hexalchemy needs to know about an aggregate class: its key, its version field and its columns' declared options."""

from __future__ import annotations

import operator
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar, cast, overload

import attrs

from hexalchemy.ports.columns import COLUMN_OPTIONS_KEY, ColumnOptions, split_optional, strip_newtype
from hexalchemy.ports.errors import InvalidValueError, MappingError

__all__ = ["EntitySpec", "field_types"]

T = TypeVar("T")
K = TypeVar("K")


def field_types(cls: type[object]) -> dict[str, Any]:
    """Return the resolved type of every attrs field of ``cls``, in field order.

    String annotations (``from __future__ import annotations``) are resolved; an
    annotation that cannot be resolved raises :class:`MappingError`.
    """
    if not attrs.has(cls):
        raise MappingError(cls, "not an attrs class (decorate it with @attrs.define or @attrs.frozen)")
    try:
        hints = typing.get_type_hints(cls, include_extras=False)
    except Exception as exc:
        raise MappingError(cls, f"cannot resolve the type annotations: {exc}") from exc
    result: dict[str, Any] = {}
    for field in attrs.fields(cls):
        annotation = hints.get(field.name, field.type)
        if annotation is None:
            raise MappingError(cls, "the field has no type annotation", field=field.name)
        result[field.name] = annotation
    return result


def _check_events_field(
    cls: type[object], events: str | None, key_fields: tuple[str, ...], version: str | None
) -> str | None:
    if events is None:
        return None
    fields = {field.name: field for field in attrs.fields(typing.cast(Any, cls))}
    if events not in fields:
        raise MappingError(cls, "the events names a field the class does not have", field=events)
    if events in key_fields or events == version:
        raise MappingError(cls, "the events field cannot be the key or the version", field=events)
    if fields[events].default is attrs.NOTHING:
        raise MappingError(
            cls,
            "the events field needs a default (an empty tuple): loaded aggregates carry none",
            field=events,
        )
    return events


def _key_fields(cls: type[object], key: object) -> tuple[str, ...]:
    """The key's field names: ``key`` is a field name or a tuple of them (validated: user input)."""
    if isinstance(key, str):
        return (key,)
    if isinstance(key, tuple):
        names: tuple[object, ...] = tuple(cast("tuple[object, ...]", key))
        if all(isinstance(name, str) for name in names):
            return tuple(str(name) for name in names)
    raise MappingError(cls, f"the key must name a field (a str) or fields (a tuple of str), not {key!r}")


def _check_field_name(cls: type[object], option: str, name: object) -> None:
    if name is not None and not isinstance(name, str):
        raise MappingError(cls, f"the {option} must name a field (a str) or be None, not {name!r}")


def _evolve(aggregate: T, **changes: object) -> T:
    """``attrs.evolve`` of an aggregate whose class the spec has checked is an attrs class."""
    evolve = cast("Callable[..., T]", attrs.evolve)
    return evolve(aggregate, **changes)


def _check_columns(cls: type[object], columns: object) -> None:
    if columns is not None and not isinstance(columns, Mapping):
        raise MappingError(
            cls, f"the columns must be a mapping of field paths to ColumnOptions, not {columns!r}"
        )


def _same_type(given: object, declared: object) -> bool:
    """Whether ``given`` (a ``key_type``) names the same type as a field's annotation."""
    if given == declared:
        return True
    origin = typing.get_origin(given)
    return (
        origin is not None
        and origin is typing.get_origin(declared)
        and typing.get_args(given) == typing.get_args(declared)
    )


def _type_name(tp: object) -> str:
    if isinstance(tp, typing.NewType):
        return tp.__name__
    if isinstance(tp, type) and not typing.get_args(tp):
        return tp.__qualname__
    return repr(tp)


def _check_key_type(
    cls: type[object], key_fields: tuple[str, ...], types: Mapping[str, object], key_type: object
) -> None:
    """Refuse a ``key_type`` that is not the type of the key field (the tuple of them for a composite key).

    ``key_type`` is what the type checkers take as the key type of every repository built
    from the spec, so it must say what the key fields hold.
    """
    declared = [types[name] for name in key_fields]
    if len(key_fields) == 1:
        if _same_type(key_type, declared[0]):
            return
        expected = _type_name(declared[0])
    else:
        if (
            typing.get_origin(key_type) is tuple
            and all(
                _same_type(given, field)
                for given, field in zip(typing.get_args(key_type), declared, strict=False)
            )
            and len(typing.get_args(key_type)) == len(declared)
        ):
            return
        expected = f"tuple[{', '.join(_type_name(tp) for tp in declared)}]"
    raise MappingError(
        cls,
        f"the key_type {_type_name(key_type)} is not the type of the key {', '.join(key_fields)}: "
        f"pass key_type={expected}",
    )


class EntitySpec(Generic[T, K]):
    """Identity of an aggregate class: which field(s) form its key and which field is its version.

    ``EntitySpec(User, key="id", version="version")``; a composite key is a tuple of field
    names, and the key value is then the tuple of those fields' values. The version field,
    if any, must be an ``int``: a new aggregate has version 0 and every save increments it.
    Both the SQL and the in-memory adapters are built from the same spec.

    ``events`` names a field holding domain events raised but not yet recorded (a tuple,
    with an empty default): it is never stored, and a repository wrapped in
    :class:`~hexalchemy.outbox.EventRecordingRepository` writes those events to the outbox
    in the same transaction as the aggregate.

    The key type ``K`` is static only: give it as ``key_type`` (``key_type=UUID``,
    ``key_type=tuple[str, int]`` for a composite key), or by the declared type of the
    variable (``ORDERS: EntitySpec[Order, OrderId] = EntitySpec(Order, key="id")``), which
    is what a ``NewType`` key needs under pyright and a type alias under mypy (those
    checkers cannot read a key type from such a value). With neither, ``K`` is not
    inferred: mypy asks for an annotation and pyright strict reports an unknown type,
    instead of a silent ``Any``. A ``key_type`` that is not the key field's type (the
    tuple of the key fields' types) is a :class:`MappingError`.

    ``columns`` declares :class:`~hexalchemy.ports.ColumnOptions` by dotted field path
    (``{"note": ColumnOptions(max_length=100), "ship_to.street": ColumnOptions(max_length=80)}``),
    as ``attrs.field(metadata=column(...))`` does on the class; a path that names no field, or
    a field declared both ways, is a :class:`MappingError`.

    ``indexes`` and ``unique`` declare indexes and unique constraints over one or more
    fields (``unique=[("customer", "number")]``; a str is one field), beside those
    ``ColumnOptions(index=True)`` and ``ColumnOptions(unique=True)`` declare on one field:
    a derived table creates them, and every adapter refuses an aggregate whose values of a
    unique set another aggregate already holds (:class:`ConstraintViolationError`; a set
    holding a None never collides). They are listed, the spec's first, in :attr:`indexes`
    and :attr:`unique`.
    """

    __slots__ = (
        "_key_getter",
        "cls",
        "column_options",
        "events_field",
        "indexes",
        "key_fields",
        "unique",
        "version_field",
    )

    cls: type[T]
    key_fields: tuple[str, ...]
    version_field: str | None
    column_options: Mapping[str, ColumnOptions]
    indexes: tuple[tuple[str, ...], ...]
    unique: tuple[tuple[str, ...], ...]
    events_field: str | None
    _key_getter: Callable[[T], K]

    @overload
    def __init__(
        self,
        cls: type[T],
        *,
        key: str | tuple[str, ...],
        version: str | None = None,
        events: str | None = None,
        columns: Mapping[str, ColumnOptions] | None = None,
        indexes: Iterable[str | tuple[str, ...]] = (),
        unique: Iterable[str | tuple[str, ...]] = (),
        key_type: type[K],
    ) -> None: ...

    @overload
    def __init__(
        self,
        cls: type[T],
        *,
        key: str | tuple[str, ...],
        version: str | None = None,
        events: str | None = None,
        columns: Mapping[str, ColumnOptions] | None = None,
        indexes: Iterable[str | tuple[str, ...]] = (),
        unique: Iterable[str | tuple[str, ...]] = (),
        key_type: object = None,
    ) -> None: ...

    def __init__(
        self,
        cls: type[T],
        *,
        key: str | tuple[str, ...],
        version: str | None = None,
        events: str | None = None,
        columns: Mapping[str, ColumnOptions] | None = None,
        indexes: Iterable[str | tuple[str, ...]] = (),
        unique: Iterable[str | tuple[str, ...]] = (),
        key_type: object = None,
    ) -> None:
        types = field_types(cls)
        key_fields = _key_fields(cls, key)
        _check_field_name(cls, "version", version)
        _check_field_name(cls, "events", events)
        _check_columns(cls, columns)
        if not key_fields:
            raise MappingError(cls, "the key names no field")
        if len(set(key_fields)) != len(key_fields):
            raise MappingError(cls, f"the key names a field twice: {key_fields!r}")
        for name in key_fields:
            if name not in types:
                raise MappingError(cls, "the key names a field the class does not have", field=name)
        if version is not None:
            if version not in types:
                raise MappingError(cls, "the version names a field the class does not have", field=version)
            if version in key_fields:
                raise MappingError(cls, "the version field cannot be part of the key", field=version)
            if types[version] is not int:
                raise MappingError(
                    cls, f"the version field must be an int, not {types[version]!r}", field=version
                )
        if key_type is not None:
            _check_key_type(cls, key_fields, types, key_type)
        self.cls = cls
        self.key_fields = key_fields
        self.version_field = version
        self.events_field = _check_events_field(cls, events, key_fields, version)
        self.column_options = _declared_options(cls, columns)
        self.indexes = _column_sets(cls, "indexes", indexes, self.column_options, "index")
        self.unique = _column_sets(cls, "unique", unique, self.column_options, "unique")
        self._key_getter = cast("Callable[[T], K]", operator.attrgetter(*key_fields))

    @property
    def is_composite(self) -> bool:
        """True when the key is made of more than one field (key values are tuples)."""
        return len(self.key_fields) > 1

    @property
    def is_versioned(self) -> bool:
        """True when saves and deletes are checked against a version field."""
        return self.version_field is not None

    def key_of(self, aggregate: T) -> K:
        """Return the key of ``aggregate`` (a tuple for a composite key)."""
        return self._key_getter(aggregate)

    def version_of(self, aggregate: T) -> int:
        """Return the version of ``aggregate`` (0 for a new one); 0 when unversioned."""
        if self.version_field is None:
            return 0
        version: int = getattr(aggregate, self.version_field)
        return version

    @property
    def persisted_fields(self) -> tuple[str, ...]:
        """The fields that are stored: every attrs field but the events field."""
        return tuple(
            field.name
            for field in attrs.fields(typing.cast(Any, self.cls))
            if field.name != self.events_field
        )

    def pending_events(self, aggregate: T) -> tuple[object, ...]:
        """The domain events ``aggregate`` carries (empty without an events field)."""
        if self.events_field is None:
            return ()
        return tuple(getattr(aggregate, self.events_field))

    def without_events(self, aggregate: T) -> T:
        """Return ``aggregate`` with no pending events (itself when it carries none)."""
        if self.events_field is None or not getattr(aggregate, self.events_field):
            return aggregate
        return _evolve(aggregate, **{self.events_field: ()})

    def with_version(self, aggregate: T, version: int) -> T:
        """Return a copy of ``aggregate`` carrying ``version`` (works for frozen classes)."""
        if self.version_field is None:
            return aggregate
        return _evolve(aggregate, **{self.version_field: version})

    def key_from_values(self, values: tuple[object, ...]) -> K:
        """Build a key from the values of the key fields, in ``key_fields`` order."""
        key: Any = values if self.is_composite else values[0]
        return typing.cast(K, key)

    def key_values(self, key: K) -> tuple[object, ...]:
        """Split a key into the values of the key fields, in ``key_fields`` order."""
        if self.is_composite:
            given: object = key
            if isinstance(given, tuple | list):
                values = tuple(cast("tuple[object, ...] | list[object]", given))
                if len(values) == len(self.key_fields):
                    return values
            raise InvalidValueError(
                self.cls,
                "key",
                key,
                f"a key is a tuple of the {len(self.key_fields)} fields {self.key_fields!r}",
            )
        return (key,)

    def __repr__(self) -> str:
        return f"EntitySpec({self.cls.__qualname__}, key={self.key_fields!r}, version={self.version_field!r})"


# --- the column options the spec gathers -------------------------------------------------------


def _value_object(tp: Any) -> type[object] | None:
    tp = strip_newtype(split_optional(tp)[0])
    return tp if isinstance(tp, type) and attrs.has(tp) else None


def _fields_of(cls: type[object]) -> dict[str, tuple[attrs.Attribute[Any], Any]]:
    hints = field_types(cls)
    return {field.name: (field, hints[field.name]) for field in attrs.fields(typing.cast(Any, cls))}


def _walk_metadata(
    cls: type[object], prefix: str, found: dict[str, ColumnOptions], seen: tuple[type[object], ...]
) -> None:
    for name, (field, tp) in _fields_of(cls).items():
        path = f"{prefix}{name}"
        options = field.metadata.get(COLUMN_OPTIONS_KEY)
        if options is not None:
            if not isinstance(options, ColumnOptions):
                raise MappingError(cls, f"metadata {COLUMN_OPTIONS_KEY!r} must be ColumnOptions", field=path)
            found[path] = options
        inner = _value_object(tp)
        if inner is not None and inner not in seen:
            _walk_metadata(inner, f"{path}.", found, (*seen, inner))


def _check_path(root: type[object], path: str) -> None:
    cls: type[object] | None = root
    for part in path.split("."):
        fields = _fields_of(cls) if cls is not None else {}
        if part not in fields:
            raise MappingError(root, "the columns name a field the class does not have", field=path)
        cls = _value_object(fields[part][1])


def _declared_options(
    cls: type[object], columns: Mapping[str, ColumnOptions] | None
) -> dict[str, ColumnOptions]:
    """Every field's declared :class:`ColumnOptions`, by dotted path: attrs metadata and ``columns`` merged.

    Raise :class:`MappingError` for a path that names no field, a value that is not
    ``ColumnOptions``, or a field declared in both places.
    """
    found: dict[str, ColumnOptions] = {}
    _walk_metadata(cls, "", found, (cls,))
    declared = cast("Mapping[object, object]", columns or {})  # what an untyped caller passed
    for path, options in declared.items():
        if not isinstance(path, str):
            raise MappingError(cls, f"the columns are keyed by dotted field paths, not {path!r}")
        _check_path(cls, path)
        if not isinstance(options, ColumnOptions):
            raise MappingError(cls, f"expected ColumnOptions, got {options!r}", field=path)
        if path in found:
            raise MappingError(
                cls,
                "the column options are declared both on the attrs field and in EntitySpec(columns=...); "
                "keep one",
                field=path,
            )
        found[path] = options
    return found


def _field_type(root: type[object], path: str) -> Any:
    """The declared type of the field at dotted ``path`` (``_check_path`` has passed)."""
    cls: type[object] | None = root
    tp: Any = None
    for part in path.split("."):
        assert cls is not None  # _check_path has passed: each part but the last is a value object
        tp = _fields_of(cls)[part][1]
        cls = _value_object(tp)
    return tp


def _field_paths(fields: object) -> tuple[str, ...] | None:
    """``fields`` as a tuple of paths when it is a non-empty tuple or list of str; None otherwise."""
    if not isinstance(fields, tuple | list):
        return None
    items = typing.cast(tuple[object, ...] | list[object], fields)
    paths = tuple(item for item in items if isinstance(item, str))
    return paths if paths and len(paths) == len(items) else None


def _column_sets(
    cls: type[object],
    option: str,
    declared: object,
    options: Mapping[str, ColumnOptions],
    flag: str,
) -> tuple[tuple[str, ...], ...]:
    """The field sets of ``EntitySpec(indexes=...)`` or ``(unique=...)``, then the fields whose options set ``flag``.

    Each set names one or more stored scalar fields by dotted path (a str is a set of one);
    ``MappingError`` for anything else: a path naming no field, a value object, a collection
    or a JSON field, a field named twice in a set, a set declared twice.
    """
    if isinstance(declared, str) or not isinstance(declared, typing.Iterable):
        raise MappingError(
            cls,
            f"the {option} must be a list of field sets (a tuple of dotted field paths), not {declared!r}",
        )
    sets: list[tuple[str, ...]] = []
    for item in typing.cast(typing.Iterable[object], declared):
        fields: object = (item,) if isinstance(item, str) else item
        paths = _field_paths(fields)
        if paths is None:
            raise MappingError(
                cls, f"each of the {option} is a field path or a non-empty tuple of them, not {item!r}"
            )
        for path in paths:
            _check_path(cls, path)
        if len(set(paths)) != len(paths):
            raise MappingError(cls, f"the {option} name a field twice in {paths!r}", field=paths[0])
        sets.append(paths)
    sets.extend((path,) for path, declared in options.items() if getattr(declared, flag))
    for paths in sets:
        for path in paths:
            tp = strip_newtype(split_optional(_field_type(cls, path))[0])
            field_options = options.get(path)
            if (
                _value_object(tp) is not None
                or typing.get_origin(tp) is not None
                or (field_options is not None and field_options.json)
            ):
                raise MappingError(
                    cls,
                    f"the {option} name a field not stored in a column of its own (a value object, "
                    "a collection or a JSON value): name the fields of a value object",
                    field=path,
                )
    if len(set(sets)) != len(sets):
        twice = next(paths for paths in sets if sets.count(paths) > 1)
        raise MappingError(cls, f"the {option} declare {twice!r} twice", field=twice[0])
    return tuple(sets)
