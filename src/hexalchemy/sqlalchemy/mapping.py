"""Mapping attrs classes to table rows with functions generated once per class.

A :class:`RowMapping` knows, for one attrs class, which column holds each field (nested
attrs value objects are flattened into prefixed columns, collections go to JSON) and owns
two generated functions: ``to_row`` (object -> ``{column key: value}``) and ``from_row``
(result row -> object). Leaf values that need more than the driver gives are converted by
hooks taken once from a cattrs converter when the mapping is built.

Every problem is found when the mapping is built and raised as :class:`MappingError`.
"""

from __future__ import annotations

import collections.abc
import datetime as dt
import enum
import types
import typing
import uuid
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Generic, Literal, NoReturn, TypeVar

import attrs
import cattrs
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Double,
    Select,
    String,
    Table,
    Uuid,
    select,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeEngine

from hexalchemy.ports import EntitySpec, InvalidValueError, MappingError, field_types
from hexalchemy.rules import encodes_as_utf8, holds_unencodable_text
from hexalchemy.sqlalchemy._codegen import compile_function
from hexalchemy.sqlalchemy.types import ExactDecimal, UtcDateTime

__all__ = ["Leaf", "RowMapping", "TableMapping", "make_converter"]

T = TypeVar("T")
K = TypeVar("K")

LeafKind = Literal["plain", "datetime", "enum", "hook"]

_PLAIN_TYPES: dict[type[object], Callable[[], TypeEngine[Any]]] = {
    str: String,
    int: BigInteger,
    float: Double,
    bool: Boolean,
    Decimal: ExactDecimal,
    uuid.UUID: Uuid,
    dt.date: Date,
}
_COLLECTION_ORIGINS: frozenset[object] = frozenset(
    {
        list,
        tuple,
        set,
        frozenset,
        dict,
        collections.abc.Sequence,
        collections.abc.MutableSequence,
        collections.abc.Set,
        collections.abc.MutableSet,
        collections.abc.Mapping,
        collections.abc.MutableMapping,
    }
)
_MAPPING_ORIGINS: frozenset[object] = frozenset(
    {dict, collections.abc.Mapping, collections.abc.MutableMapping}
)


def make_converter() -> cattrs.Converter:
    """Return a new cattrs converter set up for JSON columns.

    It is cattrs' JSON preconfigured converter with ``Decimal`` kept exact (as a string).
    A :class:`~hexalchemy.sqlalchemy.Schema` owns one; register hooks for your own types on it.
    """
    from cattrs.preconf.json import make_converter as make_json_converter

    converter = make_json_converter()
    converter.register_unstructure_hook(Decimal, str)
    converter.register_structure_hook(Decimal, lambda value, _: Decimal(str(value)))
    return converter


@attrs.frozen
class Leaf:
    """One column of a mapping: the attribute path that leads to it and how it converts."""

    path: tuple[str, ...]
    column_name: str
    kind: LeafKind
    python_type: Any
    nullable: bool
    column_type: TypeEngine[Any] | None

    @property
    def dotted_path(self) -> str:
        """The attribute path as ``address.street``."""
        return ".".join(self.path)


@attrs.frozen
class _Node:
    cls: type[object]
    path: tuple[str, ...]
    optional: bool
    children: tuple[tuple[str, str, Leaf | _Node], ...]  # (attribute name, init name, child)


def _split_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        args = typing.get_args(tp)
        rest = [arg for arg in args if arg is not type(None)]
        if len(rest) == 1 and len(args) == 2:
            return rest[0], True
        return tp, False
    return tp, False


def _strip_newtype(tp: Any) -> Any:
    while hasattr(tp, "__supertype__"):
        tp = tp.__supertype__
    return tp


class _Planner:
    """Walks an attrs class and plans its columns; raises MappingError on anything unsupported."""

    def __init__(
        self, root: type[object], converter: cattrs.Converter, custom_types: Mapping[Any, TypeEngine[Any]]
    ) -> None:
        self.root = root
        self.converter = converter
        self.custom_types = custom_types

    def plan(
        self, cls: type[object], path: tuple[str, ...], prefix: str, optional: bool, skip: str | None = None
    ) -> _Node:
        children: list[tuple[str, str, Leaf | _Node]] = []
        hints = field_types(cls)
        for field in attrs.fields(typing.cast(Any, cls)):
            if field.name == skip:
                continue  # the events field: never stored; loaded aggregates get its default
            field_path = (*path, field.name)
            dotted = ".".join(field_path)
            if not field.init:
                raise MappingError(self.root, "fields with init=False cannot be mapped", field=dotted)
            name = field.alias or field.name
            column_name = f"{prefix}{name}"
            tp, is_optional = _split_optional(hints[field.name])
            tp = _strip_newtype(tp)
            nullable = optional or is_optional
            if attrs.has(tp) and tp not in self.custom_types:
                child: Leaf | _Node = self.plan(tp, field_path, f"{column_name}_", nullable)
                if is_optional and self._presence_leaf(child) is None:
                    raise MappingError(
                        self.root,
                        "an optional value object needs at least one non-optional field "
                        "(it tells a missing object from one whose fields are all None)",
                        field=dotted,
                    )
            else:
                child = self.leaf(tp, field_path, column_name, nullable)
            children.append((field.name, name, child))
        return _Node(cls=cls, path=path, optional=optional, children=tuple(children))

    def leaf(self, tp: Any, path: tuple[str, ...], column_name: str, nullable: bool) -> Leaf:
        dotted = ".".join(path)
        if tp in self.custom_types:
            return Leaf(path, column_name, "hook", tp, nullable, self.custom_types[tp])
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return Leaf(path, column_name, "enum", tp, nullable, self._enum_column_type(tp, dotted))
        if tp is dt.datetime:
            return Leaf(path, column_name, "datetime", tp, nullable, UtcDateTime())
        if tp in _PLAIN_TYPES:
            return Leaf(path, column_name, "plain", tp, nullable, _PLAIN_TYPES[tp]())
        if typing.get_origin(tp) in _COLLECTION_ORIGINS:
            reason = self._json_problem(tp)
            if reason is not None:
                raise MappingError(self.root, f"cannot store {tp!r} as JSON: {reason}", field=dotted)
            return Leaf(
                path, column_name, "hook", tp, nullable, JSON().with_variant(postgresql.JSONB(), "postgresql")
            )
        raise MappingError(
            self.root,
            f"unsupported type {tp!r}; register it with Schema.register_type(...)",
            field=dotted,
        )

    def _enum_column_type(self, tp: type[enum.Enum], dotted: str) -> TypeEngine[Any]:
        values = [member.value for member in tp]
        if values and all(isinstance(value, str) for value in values):
            return String(max(len(value) for value in values))
        if values and all(isinstance(value, int) and not isinstance(value, bool) for value in values):
            return BigInteger()
        raise MappingError(
            self.root,
            f"enum {tp.__qualname__} must have all-str or all-int values (stored by value)",
            field=dotted,
        )

    def _json_problem(self, tp: Any) -> str | None:
        tp, _ = _split_optional(tp)
        tp = _strip_newtype(tp)
        if tp in _PLAIN_TYPES or tp is dt.datetime or tp in self.custom_types:
            return None
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return None
        if attrs.has(tp):
            for inner in field_types(tp).values():
                problem = self._json_problem(inner)
                if problem is not None:
                    return problem
            return None
        origin = typing.get_origin(tp)
        if origin in _COLLECTION_ORIGINS:
            args = [arg for arg in typing.get_args(tp) if arg is not Ellipsis]
            if not args:
                return f"{tp!r} needs element types"
            if origin in _MAPPING_ORIGINS and _strip_newtype(args[0]) is not str:
                return "JSON object keys must be str"
            for arg in args:
                problem = self._json_problem(arg)
                if problem is not None:
                    return problem
            return None
        return f"unsupported element type {tp!r}"

    def _presence_leaf(self, node: Leaf | _Node) -> Leaf | None:
        return _presence_leaf(node) if isinstance(node, _Node) else node


def _leaves(node: _Node) -> list[Leaf]:
    result: list[Leaf] = []
    for _, _, child in node.children:
        if isinstance(child, Leaf):
            result.append(child)
        else:
            result.extend(_leaves(child))
    return result


class _Generator:
    """Writes the source of to_row/to_values/from_row for a planned class."""

    def __init__(
        self, root: _Node, leaves: Sequence[Leaf], column_keys: Sequence[str], converter: cattrs.Converter
    ):
        self.root = root
        self.leaves = list(leaves)
        self.column_keys = list(column_keys)
        self.converter = converter
        self.globals: dict[str, Any] = {
            "_InvalidValueError": InvalidValueError,
            "_root": root.cls,
            "_encodes": encodes_as_utf8,
            "_unencodable": holds_unencodable_text,
        }
        self.leaf_index = {leaf.path: index for index, leaf in enumerate(self.leaves)}
        self.aware_leaves: set[tuple[str, ...]] = set()

    # --- writing: object -> values -------------------------------------------------------
    def write_lines(self) -> list[str]:
        lines: list[str] = []
        self._write_node(self.root, "o", lines)
        return lines

    def _write_node(self, node: _Node, var: str, lines: list[str]) -> None:
        for attribute, _, child in node.children:
            access = f"{var}.{attribute}"
            if node.optional and node is not self.root:
                access = f"(None if {var} is None else {access})"
            if isinstance(child, _Node):
                child_var = f"n{len(lines)}"
                lines.append(f"    {child_var} = {access}")
                self._write_node(child, child_var, lines)
            else:
                index = self.leaf_index[child.path]
                lines.append(f"    v{index} = {access}")
                converted = self._to_db(child, index)
                refuse = f"t{index}(v{index})"
                if converted is not None:
                    lines.append(f"    if v{index} is not None:")
                    lines.append(f"        v{index} = {converted}")
                    if child.kind == "hook":  # JSON, or a registered type: any str inside it
                        self.globals[f"t{index}"] = _text_refuser(self.root.cls, child.dotted_path)
                        lines.append(f"        if _unencodable(v{index}):")
                        lines.append(f"            {refuse}")
                elif child.kind == "plain" and child.python_type is str:
                    # isascii() is O(1) for CPython's str: only other text pays for the check.
                    self.globals[f"t{index}"] = _text_refuser(self.root.cls, child.dotted_path)
                    lines.append(
                        f"    if isinstance(v{index}, str) and not v{index}.isascii() and not _encodes(v{index}):"
                    )
                    lines.append(f"        {refuse}")

    def _to_db(self, leaf: Leaf, index: int) -> str | None:
        if leaf.kind == "enum":
            return f"v{index}.value"
        if leaf.kind == "hook":
            self.globals[f"u{index}"] = self.converter.get_unstructure_hook(leaf.python_type)
            return f"u{index}(v{index})"
        if leaf.kind == "datetime":
            self.globals[f"d{index}"] = _aware_checker(self.root.cls, leaf.dotted_path)
            return f"d{index}(v{index})"
        return None

    # --- reading: row -> object ----------------------------------------------------------
    def read_expression(self, accessor: Callable[[int, Leaf], str]) -> str:
        return self._read_node(self.root, accessor)

    def _read_node(self, node: _Node, accessor: Callable[[int, Leaf], str]) -> str:
        name = f"C{len(self.globals)}"
        self.globals[name] = node.cls
        args = []
        hints = field_types(node.cls)
        for attribute, init_name, child in node.children:
            if isinstance(child, _Node):
                expression = self._read_node(child, accessor)
                if _split_optional(hints[attribute])[1]:
                    presence = _first_presence(child)
                    expression = f"(None if {accessor(self.leaf_index[presence.path], presence)} is None else {expression})"
            else:
                expression = self._from_db(child, accessor)
            args.append(f"{init_name}={expression}")
        return f"{name}({', '.join(args)})"

    def _from_db(self, leaf: Leaf, accessor: Callable[[int, Leaf], str]) -> str:
        index = self.leaf_index[leaf.path]
        raw = accessor(index, leaf)
        if leaf.kind == "enum":
            self.globals[f"E{index}"] = leaf.python_type
            converted = f"E{index}({raw})"
        elif leaf.kind == "hook":
            self.globals[f"s{index}"] = self.converter.get_structure_hook(leaf.python_type)
            self.globals[f"S{index}"] = leaf.python_type
            converted = f"s{index}({raw}, S{index})"
        elif leaf.kind == "datetime" and leaf.path in self.aware_leaves:
            self.globals["_aware"] = _assume_utc
            converted = f"_aware({raw})"
        else:
            return raw
        if leaf.nullable:
            return f"(None if {raw} is None else {converted})"
        return converted


def _presence_leaf(node: _Node) -> Leaf | None:
    """A leaf that is NULL exactly when the optional value object ``node`` is missing.

    It is a field of the value object (or of a value object nested in it) whose own type
    is not Optional.
    """
    hints = field_types(node.cls)
    for attribute, _, child in node.children:
        _, optional = _split_optional(hints[attribute])
        if optional:
            continue
        if isinstance(child, Leaf):
            return child
        found = _presence_leaf(child)
        if found is not None:
            return found
    return None


def _first_presence(node: _Node) -> Leaf:
    leaf = _presence_leaf(node)
    if leaf is None:  # pragma: no cover - the planner refuses such value objects
        raise AssertionError("an optional value object without a presence column")
    return leaf


def _with_version_function(spec: EntitySpec[T, Any]) -> Callable[[T, int], T]:
    """Generate ``(aggregate, version) -> copy carrying version`` (what ``attrs.evolve`` does, faster)."""
    if spec.version_field is None:
        return spec.with_version
    arguments = []
    for field in attrs.fields(typing.cast(Any, spec.cls)):
        name = field.alias or field.name
        arguments.append(f"{name}=v" if field.name == spec.version_field else f"{name}=o.{field.name}")
    source = f"def with_version(o, v):\n    return C({', '.join(arguments)})\n"
    function: Callable[[T, int], T] = compile_function(
        "with_version", source, {"C": spec.cls}, f"{spec.cls.__qualname__}.with_version"
    )
    return function


def _aware_checker(cls: type[object], field: str) -> Callable[[dt.datetime], dt.datetime]:
    def check(value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidValueError(cls, field, value, "datetimes must be timezone-aware")
        # Columns that drop the offset (SQLite's DateTime) then still keep the instant.
        return value.astimezone(dt.UTC)

    return check


def _text_refuser(cls: type[object], field: str) -> Callable[[object], NoReturn]:
    def refuse(value: object) -> NoReturn:
        raise InvalidValueError(cls, field, value, "text must be valid Unicode (it holds a lone surrogate)")

    return refuse


def _assume_utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


class RowMapping(Generic[T]):
    """Turns result rows into objects of an attrs class, by column label.

    Build one once (``schema.row_mapping(OrderSummary)``) and reuse it for hand-written
    queries whose selected labels match the class's fields (nested value objects as
    ``field_subfield``). ``from_row`` accepts any SQLAlchemy ``Row``.
    """

    def __init__(
        self,
        cls: type[T],
        *,
        converter: cattrs.Converter | None = None,
        custom_types: Mapping[Any, TypeEngine[Any]] | None = None,
    ) -> None:
        converter = converter or make_converter()
        planner = _Planner(cls, converter, custom_types or {})
        root = planner.plan(cls, (), "", False)
        self.cls = cls
        self.leaves: tuple[Leaf, ...] = tuple(_leaves(root))
        generator = _Generator(root, self.leaves, [leaf.column_name for leaf in self.leaves], converter)
        generator.aware_leaves = {leaf.path for leaf in self.leaves if leaf.kind == "datetime"}
        expression = generator.read_expression(lambda _, leaf: f"m[{leaf.column_name!r}]")
        source = f"def from_row(r):\n    m = r._mapping\n    return {expression}\n"
        self.from_row: Callable[[Any], T] = compile_function(
            "from_row", source, generator.globals, f"{cls.__qualname__}.from_row"
        )
        self.source = source

    @property
    def column_names(self) -> tuple[str, ...]:
        """The labels a query must select, in field order."""
        return tuple(leaf.column_name for leaf in self.leaves)

    def from_rows(self, rows: collections.abc.Iterable[Any]) -> list[T]:
        """Convert many rows."""
        convert = self.from_row
        return [convert(row) for row in rows]


class TableMapping(Generic[T, K]):
    """How one aggregate class maps to one table; built by :class:`~hexalchemy.sqlalchemy.Schema`.

    Public for hand-written queries: ``columns`` (in mapping order) with ``select()``,
    ``from_row`` for rows of ``select()``, and ``to_row`` for the column values of an object.
    """

    def __init__(
        self,
        spec: EntitySpec[T, K],
        table: Table,
        *,
        converter: cattrs.Converter,
        custom_types: Mapping[Any, TypeEngine[Any]],
        derived: bool,
    ) -> None:
        cls = spec.cls
        planner = _Planner(cls, converter, custom_types)
        root = planner.plan(cls, (), "", False, skip=spec.events_field)
        leaves = _leaves(root)
        self.spec = spec
        self.table = table
        self.converter = converter
        self.leaves: tuple[Leaf, ...] = tuple(leaves)
        self.columns: tuple[Column[Any], ...] = tuple(_match_columns(cls, table, leaves, derived))
        by_path = {leaf.path: column for leaf, column in zip(leaves, self.columns, strict=True)}
        self.key_columns: tuple[Column[Any], ...] = tuple(by_path[(name,)] for name in spec.key_fields)
        self.version_column: Column[Any] | None = (
            by_path[(spec.version_field,)] if spec.version_field is not None else None
        )
        _check_primary_key(cls, table, self.key_columns)
        if self.version_column is not None:
            _check_version_column(cls, spec.version_field or "", self.version_column)
        self.column_keys: tuple[str, ...] = tuple(column.key for column in self.columns)

        generator = _Generator(root, leaves, self.column_keys, converter)
        generator.aware_leaves = {
            leaf.path
            for leaf, column in zip(leaves, self.columns, strict=True)
            if leaf.kind == "datetime" and not isinstance(column.type, UtcDateTime)
        }
        write = generator.write_lines()
        values = ", ".join(f"v{index}" for index in range(len(leaves)))
        row = ", ".join(f"{key!r}: v{index}" for index, key in enumerate(self.column_keys))
        label = cls.__qualname__
        to_row_source = "def to_row(o):\n" + "\n".join(write) + f"\n    return {{{row}}}\n"
        to_values_source = "def to_values(o):\n" + "\n".join(write) + f"\n    return ({values},)\n"
        expression = generator.read_expression(lambda index, _: f"r[{index}]")
        from_row_source = f"def from_row(r):\n    return {expression}\n"
        self.to_row: Callable[[T], dict[str, Any]] = compile_function(
            "to_row", to_row_source, generator.globals, f"{label}.to_row"
        )
        self.to_values: Callable[[T], tuple[Any, ...]] = compile_function(
            "to_values", to_values_source, generator.globals, f"{label}.to_values"
        )
        self.from_row: Callable[[Sequence[Any]], T] = compile_function(
            "from_row", from_row_source, generator.globals, f"{label}.from_row"
        )
        self.source = "\n".join([to_row_source, to_values_source, from_row_source])
        self.with_version: Callable[[T, int], T] = _with_version_function(spec)

    @property
    def entity_type(self) -> type[T]:
        """The mapped aggregate class."""
        return self.spec.cls

    def select(self) -> Select[Any]:
        """Return ``select(*columns)``: rows of it convert with :meth:`from_row`."""
        return select(*self.columns)

    def from_rows(self, rows: collections.abc.Iterable[Sequence[Any]]) -> list[T]:
        """Convert many rows of :meth:`select`."""
        convert = self.from_row
        return [convert(row) for row in rows]

    def __repr__(self) -> str:
        return f"TableMapping({self.spec.cls.__qualname__} -> {self.table.name})"


def _derive_columns(
    spec: EntitySpec[Any, Any], converter: cattrs.Converter, custom_types: Mapping[Any, TypeEngine[Any]]
) -> list[Column[Any]]:
    """Plan the columns of a table derived from ``spec``'s class."""
    planner = _Planner(spec.cls, converter, custom_types)
    leaves = _leaves(planner.plan(spec.cls, (), "", False, skip=spec.events_field))
    _check_unique_names(spec.cls, leaves)
    key_paths = {(name,) for name in spec.key_fields}
    columns: list[Column[Any]] = []
    for leaf in leaves:
        if leaf.path in key_paths and len(leaf.path) == 1 and leaf.nullable:
            raise MappingError(spec.cls, "a key field cannot be Optional", field=leaf.dotted_path)
        primary = leaf.path in key_paths
        column_type = leaf.column_type
        if column_type is None:  # pragma: no cover - every planned leaf has a type
            raise MappingError(spec.cls, "no column type", field=leaf.dotted_path)
        columns.append(
            Column(leaf.column_name, column_type, primary_key=primary, nullable=leaf.nullable and not primary)
        )
    for name in spec.key_fields:
        if not any(leaf.path == (name,) for leaf in leaves):
            raise MappingError(spec.cls, "a key field must be a scalar, not a value object", field=name)
    return columns


def _check_unique_names(cls: type[object], leaves: Sequence[Leaf]) -> None:
    seen: dict[str, Leaf] = {}
    for leaf in leaves:
        if leaf.column_name in seen:
            raise MappingError(
                cls,
                f"fields {seen[leaf.column_name].dotted_path!r} and {leaf.dotted_path!r} both map to one column",
                column=leaf.column_name,
            )
        seen[leaf.column_name] = leaf


def _match_columns(
    cls: type[object], table: Table, leaves: Sequence[Leaf], derived: bool
) -> list[Column[Any]]:
    _check_unique_names(cls, leaves)
    by_name = {column.name: column for column in table.columns}
    matched: list[Column[Any]] = []
    for leaf in leaves:
        column = by_name.get(leaf.column_name)
        if column is None:
            raise MappingError(
                cls,
                f"the field has no column in table {table.name!r}",
                field=leaf.dotted_path,
                column=leaf.column_name,
            )
        if not derived:
            _check_column_type(cls, leaf, column)
        matched.append(column)
    mapped = {leaf.column_name for leaf in leaves}
    for column in table.columns:
        if column.name not in mapped and column.server_default is None and column.default is None:
            raise MappingError(
                cls,
                f"column of table {table.name!r} has no field and no default",
                column=column.name,
            )
    return matched


def _check_primary_key(cls: type[object], table: Table, key_columns: Sequence[Column[Any]]) -> None:
    primary = list(table.primary_key.columns)
    if not primary:
        raise MappingError(cls, f"table {table.name!r} has no primary key")
    if {column.name for column in primary} != {column.name for column in key_columns}:
        raise MappingError(
            cls,
            f"the key fields map to columns {[c.name for c in key_columns]} but the primary key of "
            f"table {table.name!r} is {[c.name for c in primary]}",
        )


def _check_version_column(cls: type[object], field: str, column: Column[Any]) -> None:
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        return
    if python_type is not int and python_type is not object:
        raise MappingError(
            cls,
            f"the version column must be an integer column, not {column.type!r}",
            field=field,
            column=column.name,
        )


def _expected_storage_type(leaf: Leaf) -> Any:
    if leaf.kind == "enum":
        first = next(iter(leaf.python_type)).value
        return type(first)
    if leaf.kind == "hook":
        return "json" if typing.get_origin(leaf.python_type) is not None else None
    return leaf.python_type


def _check_column_type(cls: type[object], leaf: Leaf, column: Column[Any]) -> None:
    expected = _expected_storage_type(leaf)
    if expected is None:
        return
    if expected == "json":
        if isinstance(column.type, JSON) or isinstance(getattr(column.type, "impl", None), JSON):
            return
        raise MappingError(
            cls,
            f"a collection field needs a JSON column, not {column.type!r}",
            field=leaf.dotted_path,
            column=column.name,
        )
    if isinstance(column.type, DateTime) and leaf.kind == "datetime" and not column.type.timezone:
        raise MappingError(
            cls,
            "a datetime field needs DateTime(timezone=True) or hexalchemy's UtcDateTime",
            field=leaf.dotted_path,
            column=column.name,
        )
    try:
        actual = column.type.python_type
    except NotImplementedError:
        return
    if actual is object or actual is expected:  # object: the type does not say (SQLAlchemy >= 2.1)
        return
    if isinstance(actual, type) and isinstance(expected, type) and issubclass(actual, enum.Enum):
        raise MappingError(
            cls,
            "enums are stored by value: use a String or Integer column, not sqlalchemy.Enum",
            field=leaf.dotted_path,
            column=column.name,
        )
    raise MappingError(
        cls,
        f"a {getattr(expected, '__name__', expected)} field cannot use a column of type {column.type!r}",
        field=leaf.dotted_path,
        column=column.name,
    )
